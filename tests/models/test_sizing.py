"""A model's size before it is built: exact for every depth built, extrapolated past DEPTH_BUILT, and a
model whose weights (or, to train it, weights, gradients and optimizer state) exceed the memory refused
in one line, before any layer is made."""

import importlib.abc
import math
import os
import re
import resource
import sys

import pytest
import torch
from torch.utils.checkpoint import checkpoint

import optimlab.models
import optimlab.optim
from optimlab.build import build_model
from optimlab.data import load
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.models import sizing
from optimlab.models.sizing import (
    DEPTH_BUILT,
    DEPTH_SIZED,
    MAX_DEPTH,
    WIDTH_SIZED,
    activation_bytes,
    cgroup_memory_limit,
    check_fits,
    check_step_fits,
    device_memory,
    optimizer_state_bytes,
    parameter_bytes,
    training_bytes,
)
from optimlab.recipe import Recipe
from optimlab.registry import get_registry

SHAPES = {
    "mlp": (64,),
    "cnn": (1, 8, 8),
    "resnet": (1, 8, 8),
    "transformer": (16,),
    "mnist1d_baseline_mlp": (40,),
}


def real_bytes(name: str, **hyperparameters) -> int:
    net = optimlab.models.create(name, SHAPES[name], 10, **hyperparameters)
    return sum(p.numel() * p.element_size() for p in net.parameters())


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_size_is_the_built_models(name):
    assert parameter_bytes(name, SHAPES[name], 10, width=8) == real_bytes(name, width=8)


@pytest.mark.parametrize("name", ["mlp", "resnet", "transformer"])
def test_a_depth_past_those_built_is_extrapolated_exactly_for_repeated_layers(name):
    depth = DEPTH_BUILT + 3
    assert parameter_bytes(name, SHAPES[name], 10, width=8, depth=depth) == real_bytes(
        name, width=8, depth=depth
    )


def test_sizes_past_torchs_integers_are_infinite():
    assert parameter_bytes("mlp", (64,), 10, width=10**12) == float("inf")


@pytest.mark.parametrize(
    "sizes", [{"width": 10**7}, {"depth": 99_999_999_999}, {"width": 100_000, "depth": 10_000}], ids=str
)
def test_a_model_past_the_memory_is_refused_before_it_is_built(sizes):
    with pytest.raises(
        OptimlabError, match=r"^out of memory .* make the model \(--width, --depth\) smaller$"
    ):
        check_fits("mlp", (64,), 10, torch.device("cpu"), **sizes)


def test_build_model_refuses_a_model_past_the_memory():
    recipe = Recipe.from_dict({"data": {"name": "iris"}, "model": {"name": "mlp", "width": 10**7}})
    with pytest.raises(OptimlabError, match="out of memory"):
        build_model(recipe, load("iris"))


def test_a_realistic_model_passes():
    check_fits("mlp", (784,), 10, torch.device("cpu"), width=4096, depth=8)  # sized: 0.5 GB


def test_a_model_within_the_sized_widths_and_depths_is_not_built_twice(monkeypatch):
    monkeypatch.setattr("optimlab.models.sizing.training_bytes", lambda *args, **kwargs: (math.inf, math.inf))
    check_fits("transformer", (16,), 10, torch.device("cpu"), width=WIDTH_SIZED, depth=DEPTH_SIZED)
    with pytest.raises(OptimlabError, match="out of memory"):
        check_fits("transformer", (16,), 10, torch.device("cpu"), width=WIDTH_SIZED + 1)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_sizing_draws_nothing_from_the_random_generator(name):
    """The model built after it gets the weights it got before sizing existed."""
    torch.manual_seed(0)
    parameter_bytes(name, SHAPES[name], 10, width=8)
    drawn = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(drawn, torch.rand(3))


@pytest.mark.parametrize("name", [e.name for e in get_registry("model") if "depth" in e.hyperparameter_names])
def test_a_depth_past_the_deepest_trained_is_refused_before_any_layer_is_built(name):
    """create('mlp', (4,), 3, width=1, depth=10**7) built layer after layer and never returned (its
    weights fit the memory); 10,001 layers built in 5 s. Truth: the range, checked before the factory."""
    with pytest.raises(InvalidValueError, match=rf"^invalid value {MAX_DEPTH + 1} for .*'depth': accepted "):
        optimlab.models.create(name, SHAPES.get(name, (40,)), 3, width=4, depth=MAX_DEPTH + 1)
    optimlab.models.create(name, SHAPES.get(name, (40,)), 3, width=4, depth=1)


def test_optimlab_train_past_the_deepest_trained_is_one_line_and_exit_2(cli):
    code, out, err = cli("train", "--set", "model.depth=10000000", "--set", "model.width=1", "--steps", "1")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "error: invalid recipe: model: invalid value 10000000 for model 'mlp' hyperparameter 'depth': "
        f"accepted an integer in [0, {MAX_DEPTH}]."
    ]


def test_create_refuses_a_model_past_the_memory_before_it_is_built():
    """create('mlp', (4,), 3, width=10**9) allocated its first layer (16 GB) and died on the next in the
    allocator (a traceback), where build_model refused it in one line. Truth: 10**14 weights of a
    10**7-wide hidden layer, more than any machine's memory; built on meta, nothing allocated."""
    with pytest.raises(OptimlabError, match=r"^out of memory .*the mlp model \(width 10000000\)"):
        optimlab.models.create("mlp", (4,), 3, width=10**7)


@pytest.mark.parametrize("size", [{"mlp_ratio": 10**9}, {"vocab_size": 10**11}], ids=str)
def test_a_transformer_past_the_memory_by_its_mlp_ratio_or_vocabulary_is_refused_naming_it(size):
    """Only width and depth were sized: mlp_ratio 10**9 or a vocabulary of 10**11 reached torch's
    allocator (a traceback from create; the CLI's guess named --width, --depth). Truth: 2 x 64 x 64 x
    10**9 (or 64 x 10**11) float32 weights, past any machine's memory."""
    [(key, value)] = size.items()
    with pytest.raises(
        OptimlabError,
        match=rf"^out of memory .*the transformer model \({key} {value}\).*, model.{key}\) smaller$",
    ):
        optimlab.models.create("transformer", (16,), 10, **size)


class _Refused(importlib.abc.MetaPathFinder):
    """A finder that refuses one module, as if it were not installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == self.name:
            raise ImportError(f"{name} refused by the test")
        return None


SYMBOLIC_SHAPES = "torch.fx.experimental.symbolic_shapes"


@pytest.mark.parametrize("name", [e.name for e in get_registry("optimizer")])
def test_the_optimizer_state_sized_on_meta_is_the_one_a_real_step_keeps(name, monkeypatch):
    """Truth: the tensors in the optimizer's state after one real step of a small net (a wrapper's: its
    base's, exactly). Sized without torch.fx's symbolic shapes: torch.zeros_like on meta imported them
    (and sympy), 0.4 s of CPU at the start of every `optimlab train` whose model is sized."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    optimizer = optimlab.optim.create(name, net.parameters())
    getattr(optimizer, "train", lambda: None)()  # schedule-free steps in train mode

    def closure():
        optimizer.zero_grad()
        loss = net(torch.randn(4, 5)).pow(2).mean()
        loss.backward()
        return loss

    closure()
    optimizer.step(closure)
    base = getattr(optimizer, "base_optimizer", optimizer)  # a wrapper's slow weights or e(w) not counted
    kept = {id(t): t for state in base.state.values() for t in state.values()}
    real = sum(t.numel() * t.element_size() for t in kept.values() if isinstance(t, torch.Tensor))
    with monkeypatch.context() as without:
        without.delitem(sys.modules, SYMBOLIC_SHAPES, raising=False)
        without.setattr(sys, "meta_path", [_Refused(SYMBOLIC_SHAPES), *sys.meta_path])
        sized = optimizer_state_bytes(name, {}, [p.detach().to("meta") for p in net.parameters()])
    assert sized == real


def _iris_mlp_bytes(width: int) -> int:
    """float32 weights of an MLP of one hidden layer on iris's 4 features and 3 classes."""
    return 4 * ((4 + 1) * width + (width + 1) * 3)


def test_a_model_whose_weights_fit_but_not_its_training_is_refused_naming_the_sizes(monkeypatch):
    """The check compared the weights alone with the memory: a model whose weights fit, and Adam's two
    moments and the gradients not, was built and died in the allocator at its first step. Truth: weights
    of (4 + 1) x w + (w + 1) x 3 floats, their gradients as many, Adam's moments twice as many."""
    width, memory = 2**22, 2**28  # weights 0.125 GiB; memory 0.25 GiB: SGD's 2 x weights fit, Adam's 4 x not
    monkeypatch.setattr("optimlab.models.sizing.device_memory", lambda device: memory)
    weights = _iris_mlp_bytes(width)
    recipe = Recipe.from_dict(
        {
            "data": {"name": "iris"},
            "model": {"name": "mlp", "width": width, "depth": 1},
            "optimizer": {"name": "adam"},
        }
    )
    with pytest.raises(OptimlabError) as refused:
        build_model(recipe, load("iris"))
    gib = [f"{size / 2**30:,.1f} GiB" for size in (4 * weights, weights, 2 * weights, memory)]
    assert str(refused.value) == (
        f"out of memory ({gib[0]} asked for: {gib[1]} of weights, as much of gradients, {gib[2]} of adam's "
        f"state): the mlp model (width {width}, depth 1) trained with adam needs more than the {gib[3]} of "
        "cpu: make the model (--width, --depth) smaller"
    )
    memory = 2 * weights  # read by the patched device_memory: SGD's weights and gradients just fit
    check_fits("mlp", (4,), 3, torch.device("cpu"), "sgd", {}, width=width, depth=1)
    with pytest.raises(OptimlabError, match="out of memory"):
        check_fits("mlp", (4,), 3, torch.device("cpu"), "sgd", {"momentum": 0.9}, width=width, depth=1)


class OwnSGD(torch.optim.SGD):
    """A user's own subclass: what its step keeps is not read before it runs."""


@pytest.mark.parametrize(
    ("name", "options"),
    [("torch.optim:Adam", {}), ("torch.optim:SGD", {"momentum": 0.9}), ("torch.optim:Adagrad", {})],
    ids=str,
)
def test_a_torch_optim_class_by_path_is_sized_as_its_real_step_keeps(name, options):
    """torch's Adam by path was sized 0 ('state unknown (counted as 0)'), where optimlab steps a copy of
    the weights and Adam keeps two moments beside it. Truth: torch's own optimizer after a real step on
    the real model: the bytes of its state's tensors, plus the weights optimlab's copy holds; a user's
    own subclass stays unknown."""
    from optimlab.optim.user import load_optimizer
    from optimlab.user_code import import_object

    net = optimlab.models.create("mlp", (5,), 3, width=7, depth=2)
    parameters = list(net.parameters())
    real = import_object(name, "optimizer")(parameters, **options)
    for parameter in parameters:
        parameter.grad = torch.ones_like(parameter)
    real.step()
    kept = [t for state in real.state.values() for t in state.values() if isinstance(t, torch.Tensor)]
    truth = sum(t.numel() * t.element_size() for t in [*kept, *parameters])
    meta = [p.detach().to("meta") for p in parameters]
    assert optimizer_state_bytes(load_optimizer(name), options, meta) == truth
    assert optimizer_state_bytes(load_optimizer(f"{__name__}:OwnSGD"), options, meta) is None


@pytest.mark.parametrize(
    "optimizer",
    [{"name": f"{__name__}:OwnSGD"}, {"name": "lookahead", "base": f"{__name__}:OwnSGD"}],
    ids=str,
)
def test_an_optimizer_state_not_known_before_its_first_step_is_said_unknown_not_zero(monkeypatch, optimizer):
    """torch's Adam by path was refused with '0.0 GiB of torch.optim:Adam's state', where its two moments
    hold twice the weights: a user's own optimizer, whose state is built only at its first step, is said
    unknown. Truth: the weights of (4 + 1) x w + (w + 1) x 3 floats, gradients as many."""
    width, memory = 2**22, 2**28
    monkeypatch.setattr("optimlab.models.sizing.device_memory", lambda device: memory)
    weights = _iris_mlp_bytes(width)
    name, options = optimizer["name"], {k: v for k, v in optimizer.items() if k != "name"}
    with pytest.raises(OptimlabError) as refused:
        check_fits("mlp", (4,), 3, torch.device("cpu"), name, options, width=width, depth=1)
    gib = [f"{size / 2**30:,.1f} GiB" for size in (2 * weights, weights)]
    assert str(refused.value).startswith(
        f"out of memory ({gib[0]} asked for: {gib[1]} of weights, as much of gradients, {name}'s state "
        "unknown (counted as 0)): "
    )


def test_a_wrapper_counts_its_base_state_exactly_at_any_depth():
    """lookahead around adam counts adam's two moments, 2 x the weights, past DEPTH_BUILT too, where the
    depth is extrapolated. Truth: the parameter bytes of the same model, sized alone."""
    sizes = {"width": 8, "depth": DEPTH_BUILT + 3}
    weights, state = training_bytes("mlp", (64,), 10, "lookahead", {"base": "adam"}, **sizes)
    assert weights == real_bytes("mlp", **sizes) and state == 2 * weights
    assert training_bytes("mlp", (64,), 10, f"{__name__}:OwnSGD", {}, **sizes) == (weights, None)


def test_the_activations_of_an_mlp_are_its_layers_inputs_by_formula():
    """What autograd keeps of an MLP's forward for the backward: each Linear's input (the rows, then
    each hidden layer's ReLU output, which ReLU saves too: one storage), its weights left out. Truth:
    4 bytes x batch x (inputs + depth x width), at a batch larger than the rows it was measured on."""
    width, depth, batch = 7, 2, 32
    net = optimlab.models.create("mlp", (5,), 3, width=width, depth=depth, activation="relu", norm="none")
    assert activation_bytes(net, torch.randn(20, 5), batch) == 4 * batch * (5 + depth * width)


def test_measuring_the_activations_changes_neither_the_model_nor_the_random_state():
    """Batch norm's running statistics, each module's own mode (a batch norm frozen in a training model)
    and the global generator's draws (training-mode dropout's) are the model's and the run's: left as they
    were. Truth: the state dict, the modes and the generator's state before the check, and a forward in
    training mode that draws (the generator moves without fork_rng)."""
    net = optimlab.models.create("mlp", (5,), 3, width=8, depth=2, norm="batch", dropout=0.5)
    frozen = next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)).eval()
    modes = [m.training for m in net.modules()]
    rows = torch.randn(20, 5)
    before, rng = {k: v.clone() for k, v in net.state_dict().items()}, torch.get_rng_state()
    assert activation_bytes(net, rows, 16) > 0
    assert [m.training for m in net.modules()] == modes and not frozen.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    net(rows)
    assert not torch.equal(torch.get_rng_state(), rng)  # the forward draws: the check above could fail


class _CheckpointedWhileTraining(torch.nn.Module):
    """As Hugging Face's gradient_checkpointing: the middle block recomputed in the backward only while
    training, so autograd keeps its input alone, not its 4 x width hidden layer."""

    def __init__(self, width: int):
        super().__init__()
        self.first, self.last = torch.nn.Linear(5, width), torch.nn.Linear(width, 3)
        self.block = torch.nn.Sequential(
            torch.nn.Linear(width, 4 * width), torch.nn.ReLU(), torch.nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.first(x)
        h = checkpoint(self.block, h, use_reentrant=False) if self.training else self.block(h)
        return self.last(h)


def test_the_activations_are_measured_as_training_runs_the_forward():
    """Measured in eval mode, a model that checkpoints while training only was sized at its eval-mode
    activations (4.5x more for 8 blocks) and refused runs that fit. Truth: training keeps the rows for the
    first layer, the block's input to recompute it and its output for the last, 4 bytes x batch x
    (5 + 2 x width), where eval mode keeps the block's hidden layer too, (5 + 6 x width)."""
    width, batch = 6, 32
    net = _CheckpointedWhileTraining(width)
    assert activation_bytes(net, torch.randn(20, 5), batch) == 4 * batch * (5 + 2 * width)


def test_the_gradients_and_state_of_frozen_parameters_are_not_counted(monkeypatch):
    """A fine-tune with a frozen backbone was counted gradients and Adam's state for every weight, and
    refused at 1.5x its weights though it takes less. Truth: the weights, plus the trained head's bytes
    once for its gradients and twice for Adam's moments; a byte less is refused."""
    backbone = torch.nn.Linear(64, 256).requires_grad_(False)
    model = torch.nn.Sequential(backbone, torch.nn.Linear(256, 10))
    weights = 4 * (64 * 256 + 256 + 256 * 10 + 10)
    head = 4 * (256 * 10 + 10)
    memory = weights + 3 * head
    monkeypatch.setattr("optimlab.models.sizing.device_memory", lambda device: memory)
    check_step_fits("user", model, None, 32, torch.device("cpu"), "adam", {})
    memory -= 1
    with pytest.raises(OptimlabError, match=r"weights, 0\.0+\d+ GiB of gradients"):
        check_step_fits("user", model, None, 32, torch.device("cpu"), "adam", {})


def test_a_users_forward_runs_once_at_build_and_keeps_its_modules_modes(write_modules):
    """The size check ran the user's forward twice more at build (its prints three times, a buffer it
    counts rows in read 8 where one check reads 2) and set a batch norm the user froze back to training.
    Truth: the rows the forward saw, counted by the model itself, and the mode its factory left."""
    write_modules(
        counting_net="""
        import math, torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self, input_shape, num_outputs):
                super().__init__()
                self.norm = nn.BatchNorm1d(math.prod(input_shape)).eval()  # frozen, as a fine-tune's
                self.out = nn.Linear(math.prod(input_shape), num_outputs)
                self.register_buffer("seen", torch.zeros((), dtype=torch.long))

            def forward(self, x):
                self.seen += len(x)
                return self.out(self.norm(x.flatten(1)))
        """
    )
    recipe = Recipe.from_dict({"data": {"name": "digits"}, "model": {"name": "counting_net:Net"}})
    model = build_model(recipe, load("digits"))
    assert int(model.net.seen) == 2 and model.training and not model.net.norm.training


def test_the_memory_of_the_cpu_is_the_smallest_limit_that_applies(monkeypatch):
    """The machine's RAM was taken as the CPU's memory: in a container of 8 GiB on a large host the check
    passed and the OOM killer ended the run. Truth: the limits set by hand, RLIMIT_AS and the cgroup's."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpu = torch.device("cpu")
    monkeypatch.setattr(sizing, "cgroup_memory_limit", lambda: physical // 4)
    assert device_memory(cpu) == physical // 4
    monkeypatch.setattr(sizing.resource, "getrlimit", lambda kind: (physical // 8, resource.RLIM_INFINITY))
    assert device_memory(cpu) == physical // 8


def test_a_cgroups_memory_limit_is_the_smallest_of_its_and_its_ancestors(tmp_path):
    """cgroup v2 sets memory.max on each level ('max': none), v1 memory.limit_in_bytes under memory/.
    Truth: the files written."""
    (tmp_path / "proc").write_text("0::/user.slice/run\n")
    for folder, limit in [("", "max"), ("user.slice", "8000"), ("user.slice/run", "max")]:
        (tmp_path / "v2" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "v2" / folder / "memory.max").write_text(limit + "\n")
    assert cgroup_memory_limit(tmp_path / "proc", tmp_path / "v2") == 8000
    (tmp_path / "proc").write_text("12:cpu,cpuacct:/a\n4:memory:/a\n")
    (tmp_path / "v1" / "memory" / "a").mkdir(parents=True)
    (tmp_path / "v1" / "memory" / "a" / "memory.limit_in_bytes").write_text("5000\n")
    assert cgroup_memory_limit(tmp_path / "proc", tmp_path / "v1") == 5000
    assert cgroup_memory_limit(tmp_path / "none", tmp_path / "v1") is None


def test_a_model_whose_step_does_not_fit_for_its_batchs_activations_is_refused_before_training(monkeypatch):
    """The check counted weights, gradients and optimizer state but no activations, and sized no model
    within width 1024 and depth 64: digits on a Transformer of width 1024 and depth 64 at --batch-size 1024
    (256 GiB of activations) ran until the allocator failed, 3.5 minutes in, blaming 'the first batch' (or
    the OOM killer ended it). Truth: the MLP's weights, (64 + 1) x w + (w + 1) x 10 floats, their gradients
    as many, and 4 bytes x batch x (64 + w) of activations: a memory one byte short is refused naming the
    batch, and that memory exactly passes."""
    width, batch = 16, 200
    weights = 4 * ((64 + 1) * width + (width + 1) * 10)
    needed = 2 * weights + 4 * batch * (64 + width)
    memory = needed - 1
    monkeypatch.setattr("optimlab.models.sizing.device_memory", lambda device: memory)
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits"},
            "model": {"name": "mlp", "width": width, "depth": 1, "norm": "none"},
            "optimizer": {"name": "sgd"},
            "training": {"batch_size": batch},
        }
    )
    with pytest.raises(OptimlabError) as refused:
        build_model(recipe, load("digits"))
    said = re.fullmatch(
        r"out of memory \(([\d.]+) GiB asked for: .* GiB of weights, as much of gradients, 0\.0+ GiB of "
        r"sgd's state, .* GiB of activations\): the mlp model on batches of 200 trained with sgd needs more "
        r"than the ([\d.]+) GiB of cpu: make the model or the batch \(--batch-size\) smaller",
        str(refused.value),
    )
    assert said and said[1] != said[2]  # a byte apart, said in as many digits as tell them apart
    memory = needed
    build_model(recipe, load("digits"))
