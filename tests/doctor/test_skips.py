"""Residual connections found by what a module computes, not by its class name."""

import collections
import collections.abc
import operator
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from optimlab.doctor.skips import read_skips, residual_blocks
from optimlab.errors import InvalidValueError
from optimlab.models import create


class LinearBlock(nn.Module):  # named like a residual block, computes none
    def __init__(self) -> None:
        super().__init__()
        self.linear, self.norm = nn.Linear(8, 8), nn.BatchNorm1d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.linear(x)))


class Layer(LinearBlock):  # named like nothing in particular, adds its input back
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)


class FunctionalSkip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + F.linear(torch.tanh(x), self.weight).view(x.size())


class SkipInForward(nn.Module):  # the skip in the model's own forward, around a child
    def __init__(self) -> None:
        super().__init__()
        self.first, self.second = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.first(x)
        return h + self.second(h)


class BiasAdded(nn.Module):  # a parameter added, not a value added back to itself
    def __init__(self) -> None:
        super().__init__()
        self.linear, self.shift = nn.Linear(8, 8, bias=False), nn.Parameter(torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.shift


class NoParameters(nn.Module):  # x + relu(x): nothing learnt on the branch
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(x)


class Guarded(nn.Module):  # adds its input back only where the values blow up, which they never do here
    def __init__(self) -> None:
        super().__init__()
        self.block = LinearBlock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        if y.abs().max() > 1e30:
            return x + y
        return y


class WidthMatched(nn.Module):  # adds its input back where the widths agree, which in 8 -> 16 -> 8 never
    def __init__(self, width_in: int, width_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width_in, width_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.linear(x))
        if x.shape[-1] == y.shape[-1]:
            return x + y
        return y


def _passes_input_with_parameters_zero(module: nn.Module) -> bool:
    """The independent truth: x + f(x) with every parameter of f at 0 (f(x) = 0) is x."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
        x = torch.rand(4, 8) + 0.5
        return torch.equal(module.eval()(x), x)


@pytest.mark.parametrize(
    ("module", "blocks"),
    [
        (nn.Sequential(LinearBlock(), LinearBlock()), {}),
        (nn.Sequential(Layer(), LinearBlock(), Layer()), {"0": "Layer", "2": "Layer"}),
        (nn.Sequential(nn.Linear(8, 8), FunctionalSkip()), {"1": "FunctionalSkip"}),
        (SkipInForward(), {"": "SkipInForward"}),
        (BiasAdded(), {}),
        (NoParameters(), {}),
        (nn.Sequential(Guarded(), Guarded(), Guarded()), {}),
        (nn.Sequential(WidthMatched(8, 16), WidthMatched(16, 8)), {}),
    ],
    ids=[
        "blocks-without-skips",
        "skips-under-any-name",
        "functional",
        "in-own-forward",
        "bias",
        "no-parameters",
        "skip-on-a-branch-never-taken",
        "skip-on-widths-that-never-agree",
    ],
)
def test_a_skip_is_found_by_what_the_module_computes(module, blocks):
    """A 'LinearBlock' of Linear, BatchNorm and ReLU counted as residual for its name (so a deep stack of
    them was not told to add skips), and a 'Layer' returning x + f(x) did not. A skip on a branch the
    forward never takes is none (2b54d2e4 counted it, and a deep stack of them was told to clip, not to
    add skips)."""
    assert residual_blocks(module) == blocks
    for name, _ in blocks.items():
        block = module.get_submodule(name)
        if not isinstance(block, SkipInForward):  # h + second(h) passes h, computed from x, not x
            assert _passes_input_with_parameters_zero(block)
    if not blocks and not isinstance(module, NoParameters):
        assert not _passes_input_with_parameters_zero(module)


class Subtracted(LinearBlock):  # a residual written as a subtraction: x - f(x)
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - super().forward(x)


class SubtractedOnRows(nn.Module):  # x - relu(linear(x)) on (batch, rows, 8), by torch.sub
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sub(x, torch.relu(self.linear(x)))


def test_a_residual_written_as_a_subtraction_is_read_by_fx_and_off_a_forward():
    """x - f(x) was no residual block to either reading (they looked for additions alone), so a deep
    stack of them read as a plain one. Truth: with f's parameters at 0, x - f(x) passes x. Beside torch's
    TransformerEncoderLayer, which fx does not enter, the model is read off a forward (autograd's
    SubBackward0)."""
    model = nn.Sequential(Subtracted(), LinearBlock(), Subtracted())
    assert residual_blocks(model) == {"0": "Subtracted", "2": "Subtracted"}
    assert _passes_input_with_parameters_zero(model[0])
    watched = nn.Sequential(
        SubtractedOnRows(), nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), SubtractedOnRows()
    )
    assert read_skips(watched).watched  # fx cannot read it whole
    found = residual_blocks(watched, torch.randn(2, 3, 8))
    assert found == {"0": "SubtractedOnRows", "1": "TransformerEncoderLayer", "2": "SubtractedOnRows"}


def test_untraceable_models_are_read_off_a_forward():
    """Hugging Face's layers branch on their arguments, which fx cannot trace, and fx does not enter
    torch's own Transformer layers: they are read off a forward on given inputs (an addition in the
    autograd graph, x + f(x)); optimlab's ResNet off fx's graph by its identity shortcuts. The first
    encoder layer reads the data, which carry no graph: it was left unread; the inputs of the copy read
    now require grad, and so does a frozen layer's (GPT-2's embeddings frozen left its first block unread).
    Without inputs, a model fx cannot read whole is left unread, with a warning."""
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

    bert = BertModel(
        BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=32)
    )
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2))
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 3)
    ids = torch.randint(0, 100, (2, 5))
    layers = {f"encoder.layer.{i}": "BertLayer" for i in range(2)}
    attentions = {f"encoder.layer.{i}.attention": "BertAttention" for i in range(2)}
    assert residual_blocks(bert, ids) == {**layers, **attentions}
    with pytest.warns(UserWarning, match="fx cannot read BertModel whole; .* pass its inputs"):
        assert residual_blocks(bert) == {}  # no forward, nothing fx can read
    assert set(residual_blocks(gpt2, ids)) == {"transformer.h.0", "transformer.h.1"}
    gpt2.transformer.wte.requires_grad_(False)
    gpt2.transformer.wpe.requires_grad_(False)
    gpt2.transformer.h[0].mlp.requires_grad_(False)
    assert set(residual_blocks(gpt2, ids)) == {"transformer.h.0", "transformer.h.1"}
    found = residual_blocks(encoder, torch.randn(2, 3, 8))
    assert found == {f"layers.{i}": "TransformerEncoderLayer" for i in range(3)}
    assert set(residual_blocks(create("resnet", input_shape=(1, 8, 8), num_outputs=10)).values()) == {
        "BasicBlock"
    }
    assert residual_blocks(create("cnn", input_shape=(1, 8, 8), num_outputs=10)) == {}
    # Its norm layers read a sum (x + attention(x)), added before they ran: no skip of theirs.
    transformer = create("transformer", input_shape=(16,), num_outputs=10)
    found = residual_blocks(transformer, torch.randn(4, 16))
    assert found == {f"blocks.{i}": "TransformerBlock" for i in range(2)}


def test_swins_layers_are_found_though_no_residual_name_is_theirs():
    """Swin's SwinLayer matched none of the class names the search went by: a Swin model was found no
    residual block. Truth: each SwinLayer with its parameters at 0 returns its input."""
    import transformers

    config = transformers.SwinConfig(
        image_size=16, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[1, 2], window_size=2
    )
    swin = transformers.SwinModel(config)
    found = residual_blocks(swin, torch.randn(2, 3, 16, 16))
    assert found == {f"encoder.layers.{i}.blocks.0": "SwinLayer" for i in range(2)}, found
    layer = swin.encoder.layers[0].blocks[0]
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.zero_()
        x = torch.rand(2, 16, 8) + 0.5
        assert torch.equal(layer.eval()(x, (4, 4))[0], x)


def test_hugging_face_encoder_layers_named_after_their_model_are_found():
    """Small ViT and GPT-NeoX models (layers fx cannot trace) were found no residual block: their
    ViTLayer and GPTNeoXLayer were not among the names read. Truth: each layer with its parameters at 0
    returns its input (x + f(x), f(x) = 0)."""
    import transformers

    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    vit = transformers.ViTModel(transformers.ViTConfig(**small, image_size=16, patch_size=8))
    neox = transformers.GPTNeoXModel(transformers.GPTNeoXConfig(**small, vocab_size=50))
    x = torch.rand(2, 5, 32) + 0.5
    rotary = neox.rotary_emb(x, torch.arange(5).expand(2, 5))
    model_inputs = (torch.randn(2, 3, 16, 16), torch.randint(0, 50, (2, 5)))
    for model, keywords, data in (
        (vit, {}, model_inputs[0]),
        (neox, {"position_embeddings": rotary}, model_inputs[1]),
    ):
        found = residual_blocks(model, data)
        assert set(found) == {"layers.0", "layers.1"}, found
        with torch.no_grad():
            for parameter in model.layers[0].parameters():
                parameter.zero_()
            output = model.layers[0].eval()(x, **keywords)
        assert torch.equal(output[0] if isinstance(output, tuple) else output, x)


class Counting(Layer):
    """Counts its calls and keeps a running mean of its inputs, in its forward."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.register_buffer("mean", torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.mean.mul_(0.9).add_(0.1 * x.mean(0))
        return super().forward(x)


def test_reading_the_graph_leaves_the_model_as_it_was():
    """fx runs forward to trace it: the call counted, the mean moved and the hooks ran in the model itself."""
    model, hooked = Counting(), []
    model.linear.register_forward_hook(lambda *call: hooked.append(call))  # a user's hook: not run
    weight, mean = model.linear.weight.detach().clone(), model.mean.clone()
    assert residual_blocks(model) == {"": "Counting"}
    assert model.calls == 0 and torch.equal(model.mean, mean) and torch.equal(model.linear.weight, weight)
    assert not hooked and model(torch.ones(2, 8)).shape == (2, 8) and len(hooked) == 1


def test_a_compiled_model_is_read_as_the_module_it_compiled_and_left_intact():
    """``Instruments(torch.compile(model), ...)`` replaced the user's model's modules with ``_orig_mod``
    alone (the structural copy of the wrapper wrote its modules through the wrapper's ``__setattr__``,
    onto the model it wraps): its next forward failed. Truth: the model's own modules and output before
    the reading, and the reading of the model itself (its compiled forward is never run: slow on CPU)."""
    from optimlab.doctor import Instruments

    model = nn.Sequential(nn.Linear(8, 8), Layer())
    x = torch.randn(2, 8)
    modules, output = dict(model.named_modules()), model(x)
    compiled = torch.compile(model, backend="eager")
    assert residual_blocks(compiled) == residual_blocks(model) == {"1": "Layer"}
    blocks = Instruments(compiled, torch.optim.SGD(model.parameters(), lr=0.1)).statistics.residual_blocks
    assert blocks == {"1": "Layer"}
    assert dict(model.named_modules()) == modules and torch.equal(model(x), output)


class Checkpointed(nn.Module):
    """Its blocks' forwards run again in the backward (``torch.utils.checkpoint``); fx cannot trace it."""

    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        self.stem, self.blocks, self.reentrant = nn.Linear(8, 8), nn.ModuleList([Layer(), Layer()]), reentrant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = checkpoint(block, h, use_reentrant=self.reentrant) if h.sum() > -1e30 else h
        return h


def test_blocks_under_reentrant_checkpointing_are_read_as_without_it():
    """Under ``checkpoint(..., use_reentrant=True)`` a block's forward runs without graph, and again in
    the backward on inputs detached to leaves that require grad; the watch followed inputs from what
    computed them alone: no block was found (residual_blocks, and the doctor's watched step). Truth: the
    reading of the same model checkpointed without reentrance, whose inputs keep their graph."""
    from optimlab.doctor import Instruments

    blocks = {"blocks.0": "Layer", "blocks.1": "Layer"}
    x = torch.randn(4, 8)
    assert residual_blocks(Checkpointed(reentrant=False), x) == blocks
    assert residual_blocks(Checkpointed(reentrant=True), x) == blocks
    model = Checkpointed(reentrant=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    instruments = Instruments(model, optimizer)
    instruments.start()
    model(x).square().mean().backward()
    optimizer.step()
    instruments.record_step(1, 1.0, 0.01)
    instruments.stop()
    assert instruments.statistics.residual_blocks == blocks


class SkipOnTheData(nn.Module):
    """One residual block of two, x + block(x) on the data, which carry no graph; fx cannot trace it (a
    branch on a value)."""

    def __init__(self) -> None:
        super().__init__()
        self.block, self.head = nn.Sequential(LinearBlock(), LinearBlock()), nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x + self.block(x) if x.abs().sum() > 0 else x)


def _watched_with_first_gradient_scaled(model: nn.Module, scale: float) -> Any:
    """The doctor's statistics of 3 steps of ``model`` whose first layer's gradient is ``scale`` times its own."""
    from optimlab.doctor import Instruments

    torch.manual_seed(0)
    x, y = torch.randn(16, 8), torch.randint(0, 4, (16,))
    handle = model.block[0].linear.weight.register_hook(lambda grad: grad * scale)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-12)
    instruments = Instruments(model, optimizer)
    instruments.start()
    for step in (1, 2, 3):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        instruments.record_step(step, loss.item(), 1e-12)
    instruments.stop()
    handle.remove()
    return instruments.statistics


def test_a_skip_the_watch_cannot_follow_is_not_told_to_be_added():
    """A skip on the data (nn.TransformerEncoder of one layer on float inputs) was not seen by the watch:
    no residual block, and gradients exploding or vanishing through the norm layers were told to add the
    residual connections the model has. The watch notes the addition it could not read; the advice is
    then the clip, or the findings before. Truth: residual_blocks reads the skip (its inputs followed),
    and with the block's parameters at 0 the model's head reads the data itself."""
    from optimlab.doctor.rules.gradients import exploding_gradients, vanishing_gradients

    torch.manual_seed(0)
    model, x = SkipOnTheData(), torch.randn(16, 8)
    assert residual_blocks(model, x) == {"": "SkipOnTheData"}
    exploding_stats = _watched_with_first_gradient_scaled(model, 1e6)
    vanishing_stats = _watched_with_first_gradient_scaled(model, 1e-9)
    for stats in (exploding_stats, vanishing_stats):
        assert stats.residual_blocks == {} and stats.residual_unread == {"": "SkipOnTheData"}
    exploding = exploding_gradients(exploding_stats)
    assert exploding.evidence["depth_ratio"] > 1e3 and "residual connections" not in exploding.recommendation
    assert "grad_clip_norm" in exploding.recommendation
    vanishing = vanishing_gradients(vanishing_stats)
    assert "residual connections" not in vanishing.recommendation
    assert vanishing.recommendation.startswith(
        "the norm layers and residual blocks (perhaps in SkipOnTheData"
    )
    with torch.no_grad():
        for parameter in model.block.parameters():
            parameter.zero_()
        assert torch.equal(model.eval()(x), model.head(x))


class SkipOnAField(SkipOnTheData):
    """SkipOnTheData on the tensor ``read`` takes from the batch it is given (a container of the data)."""

    def __init__(self, read: Callable[[Any], torch.Tensor]) -> None:
        super().__init__()
        self.read = read

    def forward(self, batch: Any) -> torch.Tensor:
        return super().forward(self.read(batch))


Pair = collections.namedtuple("Pair", "x y")


@pytest.mark.parametrize(
    "container",
    ["OrderedDict", "namedtuple", "BatchEncoding", "ModelOutput"],
)
def test_a_skip_on_data_held_in_a_container_is_followed(container):
    """A model given its batch in an OrderedDict, a namedtuple or Hugging Face's BatchEncoding or
    ModelOutput: the data in it were given the model as they were, without graph, and its skip on them
    was not found (residual_blocks read {}). Truth: the same model given the tensor bare, whose skip is
    found (and, with its block's parameters at 0, reads the data itself: the test above)."""
    from transformers import BatchEncoding
    from transformers.modeling_outputs import BaseModelOutput

    torch.manual_seed(0)
    x = torch.randn(16, 8)
    batch, read = {
        "OrderedDict": (collections.OrderedDict(x=x), operator.itemgetter("x")),
        "namedtuple": (Pair(x, torch.zeros(16)), operator.attrgetter("x")),
        "BatchEncoding": (BatchEncoding({"x": x}), operator.itemgetter("x")),
        "ModelOutput": (BaseModelOutput(last_hidden_state=x), operator.attrgetter("last_hidden_state")),
    }[container]
    assert residual_blocks(SkipOnTheData(), x) == {"": "SkipOnTheData"}
    assert residual_blocks(SkipOnAField(read), batch) == {"": "SkipOnAField"}
    assert residual_blocks(SkipOnAField(read), batch=batch) == {"": "SkipOnAField"}
    assert batch[0] is x if container in ("namedtuple", "ModelOutput") else batch["x"] is x  # left as given


class HeldItems(collections.abc.MutableMapping):
    """A user's batch that keeps its items in a dict, ``items_held``, which its shallow copy shares."""

    __slots__ = ()
    items_held: dict[str, torch.Tensor]

    def __init__(self, **items: torch.Tensor) -> None:
        self.items_held = dict(items)

    def __getitem__(self, key: str) -> torch.Tensor:
        return self.items_held[key]

    def __setitem__(self, key: str, item: torch.Tensor) -> None:
        self.items_held[key] = item

    def __delitem__(self, key: str) -> None:
        del self.items_held[key]

    def __iter__(self) -> Any:
        return iter(self.items_held)

    def __len__(self) -> int:
        return len(self.items_held)


class ItemsInAnAttribute(HeldItems):  # in its __dict__
    pass


class ItemsInASlot(HeldItems):  # in a slot, no __dict__
    __slots__ = ("items_held",)


@pytest.mark.parametrize("mapping", [ItemsInAnAttribute, ItemsInASlot])
def test_a_batch_read_off_a_forward_is_left_holding_the_users_tensors(mapping):
    """f4c253d6 copied a MutableMapping batch with copy.copy, which shares a dict attribute holding its
    items: residual_blocks wrote into the user's batch, its tensors replaced with clones requiring grad.
    Truth: the batch holds the very tensors it was given, without graph, and the skip is found as on the
    bare tensor; the model is given a batch of the user's type where a copy can hold its own items (in
    its __dict__), a dict where it cannot (a slot the copy shares)."""
    torch.manual_seed(0)
    x, given = torch.randn(16, 8), []
    batch = mapping(x=x)
    read = SkipOnAField(lambda batch: given.append(type(batch)) or batch["x"])
    assert residual_blocks(read, batch) == {"": "SkipOnAField"}
    assert batch["x"] is x and batch["x"].grad_fn is None and not batch["x"].requires_grad
    assert given[-1] is (ItemsInAnAttribute if mapping is ItemsInAnAttribute else dict)  # after fx's try


def test_a_model_that_is_no_module_is_refused_in_one_line():
    """residual_blocks('abc') ended in AttributeError: 'str' object has no attribute 'named_modules'."""
    with pytest.raises(
        InvalidValueError, match=r"^invalid value 'abc' for residual_blocks's model: accepted "
    ):
        residual_blocks("abc")
    with pytest.raises(InvalidValueError, match=r"^invalid value None for read_skips's model: accepted "):
        read_skips(None)


class BiasFree(nn.Module):
    """x + W x, W without bias (as Llama's projections are), on a branch fx cannot trace."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 8, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear(x) if x.abs().sum() > 0 else x


@pytest.mark.parametrize("shape", [(4, 8), (2, 4, 8)])
def test_a_skip_around_a_bias_free_linear_is_read_off_a_forward(shape):
    """Read off a forward, a skip around a Linear without bias was none: the product reads its weight
    through the weight's transpose, which the reading did not take for reading parameters. Truth: fx's
    reading of the same addition (x + W x, traced where the branch on a value is gone), and the block
    with its weight at 0 returns its input."""

    class Traceable(BiasFree):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.linear(x)

    assert residual_blocks(nn.Sequential(nn.Linear(8, 8), Traceable())) == {"1": "Traceable"}
    found = residual_blocks(nn.Sequential(nn.Linear(8, 8), BiasFree()), torch.randn(*shape))
    assert found == {"1": "BiasFree"}
    block = BiasFree()
    with torch.no_grad():
        block.linear.weight.zero_()
        x = torch.rand(*shape) + 0.5
        assert torch.equal(block(x), x)


class Projected(nn.Module):
    """He et al.'s block with a projection shortcut (option B, torchvision's downsample): relu(branch(x) +
    shortcut(x)), the shortcut a 1x1 conv and its norm where the width changes. ``guarded``: a branch on
    a value around it, which fx cannot trace (read off a forward)."""

    def __init__(self, guarded: bool = False) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Conv2d(4, 4, 3, padding=1),
            nn.BatchNorm2d(4),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(2, 4, 1, bias=False), nn.BatchNorm2d(4))
        self.guarded = guarded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.guarded and x.abs().sum() == 0:
            return self.shortcut(x)
        return torch.relu(self.branch(x) + self.shortcut(x))


class ConvLayer(nn.Module):  # x + f(x) on Projected's output: the blocks of a stage past its first
    def __init__(self) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.branch(x))


class WideAndDeep(nn.Module):
    """Cheng et al., Wide & Deep Learning for Recommender Systems, 2016 (https://arxiv.org/abs/1606.07792):
    a linear model's logits summed with a deep network's, no residual connection. ``guarded`` as
    Projected's."""

    def __init__(self, guarded: bool = False) -> None:
        super().__init__()
        self.wide, self.guarded = nn.Linear(8, 4), guarded
        self.deep = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.wide(x) + self.deep(x)
        return logits if not self.guarded or x.abs().sum() > 0 else -logits


class TwoBranches(nn.Module):  # a(x) + b(x), as deep each: no shortcut
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


class Recurrent(nn.Module):
    """h_t = tanh(W x_t + U h_(t-1)): W x_t is one linear map of the input, U h_(t-1) a deeper one of
    the input too (of its earlier steps), and no residual connection. ``guarded`` as Projected's."""

    def __init__(self, guarded: bool = False) -> None:
        super().__init__()
        self.w, self.u, self.guarded = nn.Linear(8, 8), nn.Linear(8, 8), guarded

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 4 steps, 8)
        h = torch.tanh(self.w(x[:, 0]))
        for step in range(1, 4):
            h = torch.tanh(self.w(x[:, step]) + self.u(h))
        return h if not self.guarded or x.abs().sum() > 0 else -h


def test_projection_shortcuts_are_residual_blocks():
    """A ResNet's block whose shortcut is a projection (a 1x1 conv and its norm, where the width or the
    resolution changes: torchvision's and Hugging Face's downsample) was not counted: only blocks with an
    identity shortcut were, so the first block of each stage was left out. Truth: Hugging Face's own
    ResNet says which layers hold a ResNetShortCut, and each block with its branch's parameters at 0
    returns relu(shortcut(x)); two branches of one layer each, and a recurrence (W x_t + U h_(t-1),
    both from the input), add no shortcut (with their parameters at 0 they return no input)."""
    import transformers

    config = transformers.ResNetConfig(
        num_channels=1, embedding_size=4, hidden_sizes=[4, 8], depths=[1, 1], layer_type="basic"
    )
    resnet = transformers.ResNetModel(config)
    layers = {f"encoder.stages.{i}.layers.0": "ResNetBasicLayer" for i in range(2)}
    assert isinstance(
        resnet.get_submodule("encoder.stages.1.layers.0.shortcut"),
        transformers.models.resnet.modeling_resnet.ResNetShortCut,
    )
    assert residual_blocks(resnet, torch.randn(2, 1, 16, 16)) == layers  # read off a forward
    images = torch.randn(2, 2, 6, 6)
    stage = {"0": "Projected", "1": "ConvLayer"}
    assert residual_blocks(nn.Sequential(Projected(), ConvLayer())) == stage  # off fx's graph
    assert residual_blocks(nn.Sequential(Projected(guarded=True), ConvLayer()), images) == stage
    hugging_face = resnet.encoder.stages[1].layers[0]
    for block, branch, x in (
        (hugging_face, hugging_face.layer, torch.randn(2, 4, 6, 6)),
        (Projected(), None, images),
    ):
        with torch.no_grad():
            for parameter in (branch or block.branch).parameters():
                parameter.zero_()
            assert torch.equal(block.eval()(x), torch.relu(block.shortcut(x)))
    sequences = torch.randn(2, 4, 8)
    assert residual_blocks(TwoBranches()) == {}
    assert residual_blocks(Recurrent()) == {}
    assert residual_blocks(Recurrent(guarded=True), sequences) == {}
    for module, x in ((TwoBranches(), torch.rand(4, 8) + 0.5), (Recurrent(), sequences)):
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.zero_()
            assert not torch.equal(module(x), x if isinstance(module, TwoBranches) else x[:, -1])


def test_a_sum_of_two_branches_is_no_residual_block_in_a_model_without_identity_shortcuts():
    """6e97f446 counted any a(x) + b(x) whose a takes up to two parametrized steps and b more as a block
    with a projection shortcut: Wide & Deep's sum of a linear model's logits and a deep network's was a
    residual block, and the doctor left out its advice to add residual connections. Truth: Cheng et al.
    (2016) sum two models' logits, no residual connection; a ResNet's projection block, of the same
    shape as a graph, opens a stage whose other blocks add their input back (the test above)."""
    features, images = torch.randn(4, 8), torch.randn(2, 2, 6, 6)
    assert residual_blocks(nn.Sequential(WideAndDeep())) == {}  # off fx's graph
    assert residual_blocks(nn.Sequential(WideAndDeep(guarded=True)), features) == {}  # off a forward
    assert residual_blocks(nn.Sequential(Projected())) == {}
    assert residual_blocks(nn.Sequential(Projected(guarded=True)), images) == {}


class Watching(Layer):
    """Notes and prints a warning on a NaN in its input: a branch never taken on finite values."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.isnan(x).any():
            self.events.append("nan seen")
            print("WARNING: NaN in input")
        return super().forward(x)


def test_reading_the_graph_runs_no_code_the_forward_does_not(capsys):
    """2b54d2e4 traced the untaken side of a branch too: the user's module noted a NaN it never saw and
    printed its warning. Truth: a forward on finite values notes and prints nothing either."""
    model = Watching()
    residual_blocks(nn.Sequential(model))
    assert model.events == [] and capsys.readouterr().out == ""
    model(torch.ones(2, 8))
    assert model.events == [] and capsys.readouterr().out == ""


def test_t5s_sublayers_that_add_their_input_back_are_found():
    """T5 built from a small config (fx cannot trace it): its T5Block was found, the T5LayerFF,
    T5LayerSelfAttention and T5LayerCrossAttention inside it were not. Truth: each with its parameters
    at 0 returns its input."""
    import transformers

    config = transformers.T5Config(
        vocab_size=50, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2
    )
    model = transformers.T5Model(config)
    ids = torch.randint(0, 50, (2, 4))
    found = residual_blocks(model, input_ids=ids, decoder_input_ids=ids[:, :3])
    sublayers = {
        "encoder.block.0.layer.0": "T5LayerSelfAttention",
        "encoder.block.0.layer.1": "T5LayerFF",
        "decoder.block.0.layer.0": "T5LayerSelfAttention",
        "decoder.block.0.layer.1": "T5LayerCrossAttention",
        "decoder.block.0.layer.2": "T5LayerFF",
    }
    assert found == sublayers  # the T5Block around them adds nothing itself
    x, memory = torch.rand(2, 3, 16) + 0.5, torch.rand(2, 4, 16)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.eval()
        for name, kind in sublayers.items():
            layer = model.get_submodule(name)
            output = layer(x, key_value_states=memory) if kind == "T5LayerCrossAttention" else layer(x)
            assert torch.equal(output[0] if isinstance(output, tuple) else output, x), name


def test_the_doctor_reads_what_fx_cannot_off_its_first_watched_step():
    """The instruments found a Swin model no residual block (its class names matched no rule), so the
    gradient rules could advise adding residual connections it has. They are read off the first watched
    step's forward, the hooks gone after it; a traced model's are known before any step."""
    import transformers

    from optimlab.doctor import Instruments

    config = transformers.SwinConfig(
        image_size=16, patch_size=4, embed_dim=8, depths=[2], num_heads=[1], window_size=2, num_labels=3
    )
    swin = transformers.SwinForImageClassification(config)
    optimizer = torch.optim.SGD(swin.parameters(), lr=0.01)
    instruments = Instruments(swin, optimizer)
    assert instruments.statistics.residual_blocks == {}
    instruments.start()
    swin(torch.randn(2, 3, 16, 16), labels=torch.tensor([0, 2])).loss.backward()
    optimizer.step()
    instruments.record_step(1, 1.0, 0.01)
    blocks = {f"swin.encoder.layers.0.blocks.{i}": "SwinLayer" for i in range(2)}
    assert instruments.statistics.residual_blocks == blocks
    assert not instruments._skip_hooks
    instruments.stop()
    resnet = create("resnet", input_shape=(1, 8, 8), num_outputs=10)
    traced = Instruments(resnet, torch.optim.SGD(resnet.parameters(), lr=0.01)).statistics.residual_blocks
    assert set(traced.values()) == {"BasicBlock"}
