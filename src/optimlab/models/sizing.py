"""A model's size, known before it is built: a depth of 99999999999 (or a width times depth past any
memory) built layer after layer for minutes before torch refused it, or never ended.

The architecture is built on torch's ``meta`` device, which gives every tensor its shape and no memory;
a depth past :data:`DEPTH_BUILT` is counted at depths 2 and 3 and extrapolated, which is exact for the
architectures whose layers repeat (MLP, ResNet, Transformer) and a lower bound for those that grow
faster (a CNN's channels double per block). A depth past :data:`MAX_DEPTH` is refused by each
architecture's range, whatever its weights: its build alone would take hours. Built, a model is checked
whole before it trains (:func:`check_step_fits`): its weights, gradients, optimizer state and a batch's
activations, which the sizes on meta leave out.

>>> parameter_bytes("mlp", (64,), 10, width=32, depth=2) == 4 * ((64 + 1) * 32 + (32 + 1) * 32 + (32 + 1) * 10)
True
"""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from optimlab.errors import OptimlabError
from optimlab.models.modes import modes_kept
from optimlab.nested_tensors import tensors_in
from optimlab.registry import Capability, Entry, Interval, get_registry
from optimlab.user_code import import_object, is_import_path

__all__ = [
    "DEPTH",
    "DEPTH_BUILT",
    "DEPTH_SIZED",
    "HIDDEN_DEPTH",
    "MAX_DEPTH",
    "SIZED_PAST",
    "WIDTH_SIZED",
    "activation_bytes",
    "cgroup_memory_limit",
    "check_fits",
    "check_step_fits",
    "device_memory",
    "optimizer_state_bytes",
    "parameter_bytes",
    "training_bytes",
]

# The deepest nets trained in the literature have 10,000 layers (vanilla CNNs: Xiao et al. 2018,
# arXiv:1806.05393). Deeper only takes time to build, about 0.5 ms a layer however narrow (an MLP of width
# 1: 10,000 layers built in 5 s, 100,000 not in 60 s, 10**7 never; measured on CPU), on meta as well.
MAX_DEPTH = 10_000
DEPTH = Interval(1, MAX_DEPTH, integer=True)
HIDDEN_DEPTH = Interval(0, MAX_DEPTH, integer=True)  # an MLP's: 0 hidden layers is a linear model

DEPTH_BUILT = 64  # deeper: extrapolated from depths 2 and 3 (a meta build of 64 layers takes milliseconds)
# Sized only past these: the first meta build of some layers (a Transformer's) imports torch's reference
# kernels, 1.2 s of a 1.4 s digits run (measured on CPU); a model within them holds at most 3.2 GB of
# float32 weights (64 Transformer blocks of width 1024), which builds in seconds and is checked once built
# (check_step_fits). A Transformer's MLP ratio (4 in Vaswani et al.) and vocabulary (GPT-2's 50257, Llama
# 2's 32000) grow it as much.
WIDTH_SIZED, DEPTH_SIZED = 1024, DEPTH_BUILT
SIZED_PAST = {"width": WIDTH_SIZED, "depth": DEPTH_SIZED, "mlp_ratio": 16, "vocab_size": 2**17}


def parameter_bytes(
    name: str, input_shape: tuple[int, ...], num_outputs: int, **hyperparameters: Any
) -> float | None:
    """Bytes of the parameters of ``optimlab.models.create(name, ...)``, built on the meta device; inf
    for sizes past torch's 64-bit integers, None when the architecture cannot be built there."""
    sizes = training_bytes(name, input_shape, num_outputs, **hyperparameters)
    return None if sizes is None else sizes[0]


def training_bytes(
    name: str,
    input_shape: tuple[int, ...],
    num_outputs: int,
    optimizer: str | None = None,
    optimizer_options: Mapping[str, Any] | None = None,
    **hyperparameters: Any,
) -> tuple[float, float | None] | None:
    """Bytes of the parameters of ``optimlab.models.create(name, ...)`` and of the state ``optimizer``
    keeps for them (:func:`optimizer_state_bytes`; 0 for none, None where unknown), built on the meta
    device; inf for sizes past torch's 64-bit integers, None when the architecture cannot be built there."""
    from optimlab.models import create

    def size(depth: int | None) -> tuple[float, float | None] | None:
        keywords = hyperparameters if depth is None else {**hyperparameters, "depth": depth}
        try:
            with torch.device("meta"):
                net = create(name, input_shape, num_outputs, **keywords)
        except (RuntimeError, TypeError, OverflowError) as error:
            return (math.inf, math.inf) if "overflow" in str(error).lower() else None
        except Exception:  # an init or layer with no meta kernel: size unknown, the real build decides
            return None
        parameters = list(net.parameters())
        state = optimizer_state_bytes(optimizer, optimizer_options or {}, parameters) if optimizer else 0.0
        return _bytes(parameters), state

    depth = hyperparameters.get("depth")
    if not isinstance(depth, int) or depth <= DEPTH_BUILT:
        return size(None)
    two, three = size(2), size(3)
    if two is None or three is None:
        return None

    def extrapolated(at_two: float, at_three: float) -> float:
        return at_three + (depth - 3) * max(0.0, at_three - at_two)

    (weights_two, state_two), (weights_three, state_three) = two, three
    state = None if state_two is None or state_three is None else extrapolated(state_two, state_three)
    return extrapolated(weights_two, weights_three), state


def optimizer_state_bytes(
    name: str, options: Mapping[str, Any], parameters: list[torch.Tensor]
) -> float | None:
    """Bytes of the state the optimizer ``name`` (with ``options``, a recipe's keywords) keeps for
    ``parameters`` (meta tensors): its transform's state built on them, as its first step builds it
    (Adam's two moments: twice the weights; SGD without momentum: none). A wrapper counts its base
    optimizer's; a torch.optim class by import path (``torch.optim:Adam``), the copy of the weights it
    steps and its state after one step on meta copies (:func:`_torch_optim_state_bytes`). None where
    unknown: the user's own optimizer, a base given otherwise than by name, a transform with no meta
    kernel."""
    registry = get_registry("optimizer")
    entry = registry.get(name)
    if Capability.WRAPPER in entry.capabilities:
        base = options.get("base") or entry.obj.default_base
        own = {*entry.hyperparameter_names, "base"}
        rest = {k: v for k, v in options.items() if k not in own}
        return optimizer_state_bytes(base, rest, parameters) if isinstance(base, str) else None
    if Capability.USER in entry.capabilities:
        return _torch_optim_state_bytes(entry, options, parameters)
    try:
        with _ContiguousLikes():
            state = entry.create(**options).init(parameters)
    except Exception:  # a transform with no meta kernel: the real build decides
        return None
    return _bytes(tensors_in(state))


def _torch_optim_state_bytes(
    entry: Entry[Any], options: Mapping[str, Any], parameters: list[torch.Tensor]
) -> float | None:
    """Bytes of the state of torch.optim's own class named by ``entry`` (``torch.optim:Adam``): the copy
    of the parameters it steps (:func:`optimlab.optim.user.torch_optimizer_transform`) and the torch
    optimizer's state after one step on the meta ``parameters``, built at the step as torch builds it
    (2 ms for Adam where a real step has imported torch's compiler already, as it does). None for
    another class (a user's subclass may not step on meta, or keep state no step shows), a factory, or
    one whose step fails on meta (LBFGS wants a closure), or the user's object held in this process
    (``optimlab.compare(optimizers={"mine": MomentumSGD})``: no path to read its class by)."""
    if not is_import_path(entry.name):
        return None
    target = import_object(entry.name, "optimizer")
    if not (isinstance(target, type) and target.__module__.startswith("torch.optim.")):
        return None
    try:
        transform = entry.create(**options)
        state = transform.init(parameters)
        _, state = transform.update([torch.zeros_like(p) for p in parameters], state, parameters)
    except Exception:  # no meta kernel, a step that needs a closure: the real run decides
        return None
    optimizers = dict.fromkeys(o for o in state.optimizer if o is not None)
    return _bytes(tensors_in(state.shadows)) + _bytes(tensors_in([o.state for o in optimizers]))


class _ContiguousLikes(TorchFunctionMode):
    """``torch.zeros_like`` and its siblings made contiguous, as bytes go the same: their default,
    ``preserve_format``, on meta tensors imports torch.fx's symbolic shapes (and sympy) to lay out the
    strides: `optimlab train --dataset iris --epochs 1 --width 2048` took 4.05 s of CPU, 3.59 s without
    (medians of 6 paired rounds, 2 loaded cores)."""

    LIKES = frozenset({torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like, torch.rand_like})

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func in self.LIKES and kwargs.get("memory_format", torch.preserve_format) is torch.preserve_format:
            kwargs = {**kwargs, "memory_format": torch.contiguous_format}
        return func(*args, **kwargs)


def _bytes(tensors: list[torch.Tensor]) -> float:
    return float(sum(t.numel() * t.element_size() for t in tensors))


def device_memory(device: torch.device) -> int:
    """Bytes of memory ``device`` has: a GPU's own; else the smallest of the machine's, the address space
    the process may take (RLIMIT_AS) and its cgroup's limit (:func:`cgroup_memory_limit`): in a container of
    8 GiB on a host of 512 the OOM killer ends a run past 8, with no message."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    limits = [os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")]
    address_space = resource.getrlimit(resource.RLIMIT_AS)[0]
    if address_space != resource.RLIM_INFINITY:
        limits.append(address_space)
    cgroup = cgroup_memory_limit()
    return min(limits if cgroup is None else [*limits, cgroup])


def cgroup_memory_limit(
    proc: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")
) -> int | None:
    """The smallest memory limit of this process's cgroup and its ancestors (v2 ``memory.max``, v1
    ``memory/.../memory.limit_in_bytes``) under ``root``, as ``proc`` names the cgroup; None where none
    is set or readable."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    files = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        folders = [
            Path(*Path(path).parts[: depth + 1]).relative_to("/") for depth in range(len(Path(path).parts))
        ]
        if controllers == "":  # v2: one hierarchy
            files += [root / folder / "memory.max" for folder in folders]
        elif "memory" in controllers.split(","):
            files += [root / "memory" / folder / "memory.limit_in_bytes" for folder in folders]
    limits = []
    for file in files:
        try:
            text = file.read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max" (v2) sets none; v1 says none as a number near 2^63, which min() passes by
            limits.append(int(text))
    return min(limits, default=None)


def check_fits(
    name: str,
    input_shape: tuple[int, ...],
    num_outputs: int,
    device: torch.device,
    optimizer: str | None = None,
    optimizer_options: Mapping[str, Any] | None = None,
    **hyperparameters: Any,
) -> None:
    """Refuse, before building it, a model that does not fit ``device``'s memory: its weights alone, or,
    to train it with ``optimizer``, its weights, their gradients (as many bytes) and the optimizer's
    state (:func:`optimizer_state_bytes`, 0 where unknown, said so), at least what a step holds besides
    the batch's activations. One within :data:`SIZED_PAST` is not sized here: built, it is checked whole
    with its activations (:func:`check_step_fits`)."""
    if not any(
        isinstance(hyperparameters.get(key), int) and hyperparameters[key] > past
        for key, past in SIZED_PAST.items()
    ):
        return
    sizes = training_bytes(name, input_shape, num_outputs, optimizer, optimizer_options, **hyperparameters)
    if sizes is None:
        return
    shown = ", ".join(f"{key} {hyperparameters[key]}" for key in SIZED_PAST if key in hyperparameters)
    knobs = [
        "--width",
        "--depth",
        *(f"model.{k}" for k in ("mlp_ratio", "vocab_size") if k in hyperparameters),
    ]
    smaller = f"the model ({', '.join(knobs)})"
    _refuse_past_memory(f"the {name} model ({shown or 'its defaults'})", smaller, device, optimizer, *sizes)


def activation_bytes(
    model: nn.Module, rows: torch.Tensor, batch_size: int, autocast_dtype: torch.dtype | None = None
) -> float | None:
    """Bytes of what autograd keeps from a training forward of ``batch_size`` rows like ``rows`` for the
    backward pass (each storage once, the parameters' left out: they are the weights). Measured on
    forwards of 2 and of 4 rows and extrapolated as ``fixed + per_row * batch_size``, exact where saved
    tensors grow by rows (inputs of linear layers and convolutions, activations, dropout's masks), under
    autocast to ``autocast_dtype`` where training runs so (bfloat16 halves a matmul's saved inputs); in
    training mode, as the step runs (a model that checkpoints its blocks only while training saves 4.5x
    less than in eval mode), with each module's mode, the buffers (batch norm's statistics) and the random
    state left as they were. For a model whose forward is known to have no other effect (optimlab's own:
    a user's may print, count or cache). None where ``rows`` are fewer than 4 or the model fails on them
    (the first step says why). Its cost, two forwards: 0.7 ms for digits' MLP, 32 ms for its Transformer,
    whose build_model takes 17 and 60 ms (medians of 5 calls on the built model, batch_size 32, 2 loaded
    CPU cores)."""
    if len(rows) < 4:
        return None
    try:
        two, four = (_saved_bytes(model, rows[:n].clone(), autocast_dtype) for n in (2, 4))
    except Exception:  # a model that cannot take them: its first training step says why
        return None
    per_row = max(0.0, (four - two) / 2)
    return max(0.0, two - 2 * per_row) + per_row * batch_size


def _saved_bytes(model: nn.Module, rows: torch.Tensor, autocast_dtype: torch.dtype | None) -> float:
    """Bytes of the storages autograd saves for the backward in one training forward of ``rows``."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    buffers = [(buffer, buffer.clone()) for buffer in model.buffers()]
    hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor)
    autocast = torch.autocast("cpu", autocast_dtype, enabled=autocast_dtype is not None)
    try:
        with modes_kept(model), torch.random.fork_rng(devices=[]), torch.enable_grad(), autocast, hooks:
            model.train()(rows)
    finally:
        with torch.no_grad():
            for buffer, value in buffers:
                buffer.copy_(value)
    return float(sum(saved.values()))


def check_step_fits(
    name: str,
    model: nn.Module,
    rows: torch.Tensor | None,
    batch_size: int,
    device: torch.device,
    optimizer: str | None = None,
    optimizer_options: Mapping[str, Any] | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> None:
    """Refuse, before training, ``model`` built (the ``name`` model, as many of its sizes as
    :func:`check_fits` leaves unsized: a Transformer of width 1024 and depth 64 holds 3.2 GB of weights,
    12.8 GB to train with Adam) when one step on batches of ``batch_size`` of ``rows`` does not fit
    ``device``'s memory: its weights, the gradients and ``optimizer``'s state (:func:`optimizer_state_bytes`)
    of those it trains (requires_grad: a frozen backbone has neither), and the batch's activations
    (:func:`activation_bytes`), all lower bounds of what the step holds. ``rows`` None leaves the
    activations out: a user's forward is not run to size it."""
    parameters = list(model.parameters())
    trained = [p for p in parameters if p.requires_grad]
    weights = _bytes(parameters)
    state = (
        optimizer_state_bytes(optimizer, optimizer_options or {}, [p.to("meta") for p in trained])
        if optimizer
        else 0.0
    )
    if rows is None:
        activations, what, smaller = 0.0, f"the {name} model", "the model"
    else:
        batch = min(batch_size, len(rows))
        activations = activation_bytes(model, rows, batch, autocast_dtype) or 0.0
        what, smaller = f"the {name} model on batches of {batch:,}", "the model or the batch (--batch-size)"
    _refuse_past_memory(what, smaller, device, optimizer, weights, state, activations, _bytes(trained))


def _refuse_past_memory(
    model: str,
    smaller: str,
    device: torch.device,
    optimizer: str | None,
    weights: float,
    state: float | None,
    activations: float = 0.0,
    gradients: float | None = None,
) -> None:
    """Raise where ``weights`` (and, to train with ``optimizer``, the ``gradients``, as many bytes as the
    weights where None, its ``state``, None where unknown, and the batch's ``activations``) exceed
    ``device``'s memory, the sizes said in one line with what to make ``smaller``."""
    gradients = weights if gradients is None else gradients
    needed = weights + (gradients + (state or 0.0) + activations if optimizer else 0.0)
    memory = device_memory(device)
    if needed <= memory:
        return
    decimals = _decimals_apart(needed, memory)

    def gib(size: float) -> str:
        return f"{size / 2**30:,.{decimals}f} GiB"

    asked = "more than 2^63 bytes" if math.isinf(needed) else f"{gib(needed)} asked for"
    if optimizer is None:
        need = f"{model} has more weights than"
    else:
        held = (
            f"{optimizer}'s state unknown (counted as 0)"
            if state is None
            else f"{gib(state)} of {optimizer}'s state"
        )
        of_gradients = "as much" if gradients == weights else gib(gradients)
        parts = f"{gib(weights)} of weights, {of_gradients} of gradients, {held}"
        parts += f", {gib(activations)} of activations" if activations else ""
        asked = f"{asked}: {parts}" if not math.isinf(needed) else asked
        need = f"{model} trained with {optimizer} needs more than"
    raise OptimlabError(
        f"out of memory ({asked}): {need} the {gib(memory)} of {device.type}: make {smaller} smaller"
    )


def _decimals_apart(needed: float, memory: float) -> int:
    """The fewest decimals (at least 1) of GiB that tell ``needed`` from the smaller ``memory``: 0.1 GiB
    asked for read as more than the 0.1 GiB there is. A byte is 2^-30 GiB: 10 decimals tell any two apart."""
    decimals = 1
    while decimals < 10 and f"{needed / 2**30:.{decimals}f}" == f"{memory / 2**30:.{decimals}f}":
        decimals += 1
    return decimals
