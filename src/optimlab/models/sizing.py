"""A model's size, known before it is built: a depth of 99999999999 (or a width times depth past any
memory) built layer after layer for minutes before torch refused it, or never ended.

The architecture is built on torch's ``meta`` device, which gives every tensor its shape and no memory;
a depth past :data:`DEPTH_BUILT` is counted at depths 2 and 3 and extrapolated, which is exact for the
architectures whose layers repeat (MLP, ResNet, Transformer) and a lower bound for those that grow
faster (a CNN's channels double per block). A depth past :data:`MAX_DEPTH` is refused by each
architecture's range, whatever its weights: its build alone would take hours.

>>> parameter_bytes("mlp", (64,), 10, width=32, depth=2) == 4 * ((64 + 1) * 32 + (32 + 1) * 32 + (32 + 1) * 10)
True
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from optimlab.errors import OptimlabError
from optimlab.nested_tensors import tensors_in
from optimlab.registry import Capability, Interval, get_registry

__all__ = [
    "DEPTH",
    "DEPTH_BUILT",
    "DEPTH_SIZED",
    "HIDDEN_DEPTH",
    "MAX_DEPTH",
    "SIZED_PAST",
    "WIDTH_SIZED",
    "check_fits",
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
# float32 weights (64 Transformer blocks of width 1024), which builds in seconds. A Transformer's MLP
# ratio (4 in Vaswani et al.) and vocabulary (GPT-2's 50257, Llama 2's 32000) grow it as much.
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
    optimizer's. None where unknown: the user's optimizer (by import path, torch.optim:Adam), whose state
    comes at its first step (a step on meta would import torch's compiler, seconds), a base given
    otherwise than by name, a transform with no meta kernel."""
    registry = get_registry("optimizer")
    entry = registry.get(name)
    if Capability.WRAPPER in entry.capabilities:
        base = options.get("base") or entry.obj.default_base
        own = {*entry.hyperparameter_names, "base"}
        rest = {k: v for k, v in options.items() if k not in own}
        return optimizer_state_bytes(base, rest, parameters) if isinstance(base, str) else None
    if Capability.USER in entry.capabilities:
        return None
    try:
        with _ContiguousLikes():
            state = entry.create(**options).init(parameters)
    except Exception:  # a transform with no meta kernel: the real build decides
        return None
    return _bytes(tensors_in(state))


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
    """Bytes of memory ``device`` has: a GPU's own, else the machine's."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


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
    the batch's activations. One within :data:`SIZED_PAST` is not sized."""
    if not any(
        isinstance(hyperparameters.get(key), int) and hyperparameters[key] > past
        for key, past in SIZED_PAST.items()
    ):
        return
    sizes = training_bytes(name, input_shape, num_outputs, optimizer, optimizer_options, **hyperparameters)
    if sizes is None:
        return
    weights, state = sizes
    needed = weights + (weights + (state or 0.0) if optimizer else 0.0)
    memory = device_memory(device)
    if needed <= memory:
        return
    shown = ", ".join(f"{key} {hyperparameters[key]}" for key in SIZED_PAST if key in hyperparameters)
    knobs = ", ".join(
        ["--width", "--depth", *(f"model.{k}" for k in ("mlp_ratio", "vocab_size") if k in hyperparameters)]
    )
    asked = "more than 2^63 bytes" if math.isinf(needed) else f"{_gib(needed)} asked for"
    model = f"the {name} model ({shown or 'its defaults'})"
    if optimizer is None:
        need = f"{model} has more weights than"
    else:
        held = (
            f"{optimizer}'s state unknown (counted as 0)"
            if state is None
            else f"{_gib(state)} of {optimizer}'s state"
        )
        parts = f"{_gib(weights)} of weights, as much of gradients, {held}"
        asked = f"{asked}: {parts}" if not math.isinf(needed) else asked
        need = f"{model} trained with {optimizer} needs more than"
    raise OptimlabError(
        f"out of memory ({asked}): {need} the {_gib(memory)} of {device.type}: make the model ({knobs}) "
        "smaller"
    )


def _gib(size: float) -> str:
    return f"{size / 2**30:,.1f} GiB"
