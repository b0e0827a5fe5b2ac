"""Residual connections found by what a module computes, not by its class name."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from optimlab.doctor.skips import residual_blocks
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


def test_untraceable_models_are_read_by_their_blocks_names():
    """Hugging Face's layers branch on their arguments, which fx cannot trace: their names decide, as do
    torch's own Transformer layers, which fx does not enter; optimlab's ResNet by its identity shortcuts."""
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

    bert = BertModel(
        BertConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=32)
    )
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2))
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 2)
    assert set(residual_blocks(bert).values()) == {"BertLayer"} and len(residual_blocks(bert)) == 2
    assert set(residual_blocks(gpt2)) == {"transformer.h.0", "transformer.h.1"}
    assert residual_blocks(encoder) == {f"layers.{i}": "TransformerEncoderLayer" for i in range(2)}
    assert set(residual_blocks(create("resnet", input_shape=(1, 8, 8), num_outputs=10)).values()) == {
        "BasicBlock"
    }
    assert residual_blocks(create("cnn", input_shape=(1, 8, 8), num_outputs=10)) == {}


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
    for model, keywords in ((vit, {}), (neox, {"position_embeddings": rotary})):
        found = residual_blocks(model)
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
    found = residual_blocks(model)
    sublayers = {
        "encoder.block.0.layer.0": "T5LayerSelfAttention",
        "encoder.block.0.layer.1": "T5LayerFF",
        "decoder.block.0.layer.0": "T5LayerSelfAttention",
        "decoder.block.0.layer.1": "T5LayerCrossAttention",
        "decoder.block.0.layer.2": "T5LayerFF",
    }
    assert found == {"encoder.block.0": "T5Block", "decoder.block.0": "T5Block", **sublayers}
    x, memory = torch.rand(2, 3, 16) + 0.5, torch.rand(2, 4, 16)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.eval()
        for name, kind in sublayers.items():
            layer = model.get_submodule(name)
            output = layer(x, key_value_states=memory) if kind == "T5LayerCrossAttention" else layer(x)
            assert torch.equal(output[0] if isinstance(output, tuple) else output, x), name
