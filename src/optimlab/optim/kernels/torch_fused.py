"""torch's fused optimizer kernels, substituted for the chains whose update they compute exactly.

``torch._fused_adam_``, ``_fused_adamw_``, ``_fused_sgd_`` and ``_fused_adagrad_`` (the kernels behind
``torch.optim.Adam(fused=True)`` and friends) read each parameter, gradient and state tensor once and
write each once: 28 bytes per float32 parameter for Adam, the minimum. They compute the same update as
the chains of :mod:`optimlab.optim.optimizers` (eps after bias correction, coupled or decoupled decay,
AMSGrad's max of the raw ``v``, SGD's undampened first step, AdaGrad's ``lr / (1 + (t - 1) lr_decay)``),
in another order of rounding; ``tests/optim/test_fused.py`` proves the agreement to 1e-6 in float32 and
1e-12 in float64 over runs with a changing lr.

A kernel mutates the same state tensors the chain keeps (the layout does not change, so a run can
switch between paths at any step) and returns the chain's next state: every ``count`` advanced by one.
A kernel takes plain-number hyperparameters (not schedules, not per-member tensors) and dense,
contiguous tensors on one device, each gradient laid out like its parameter (a fused kernel indexes
parameter, gradient and state with one linear offset; the state is ``zeros_like(p)``): the shell
checks both before it calls one.

Whether weight decay is decoupled is decided here, once, for both shells: :func:`decoupled_decay`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import State
from optimlab.optim.optimizers.adam import adam, adamw
from optimlab.optim.optimizers.adaptive import adagrad
from optimlab.optim.optimizers.sgd import sgd
from optimlab.optim.transforms.adam import ScaleByAdamState
from optimlab.optim.transforms.adaptive import ScaleByAdagradState
from optimlab.optim.transforms.momentum import ScaleByMomentumState

__all__ = ["Kernel", "advance", "decoupled_decay", "kernel_for", "kernel_runs_on"]

Factory = Callable[..., Any]  # a named optimizer's function (or a partial of one)
Tensors = Sequence[Tensor]
# (hyperparameters, params, grads, state) -> the chain's next state; params and state updated in place.
Kernel = Callable[[Mapping[str, Any], Tensors, Tensors, State], State]


def advance(state: State) -> State:
    """The chain's state after one more update: each transform's ``count`` plus one, tensors as they are."""
    if not isinstance(state, tuple):
        return state
    children = [advance(child) for child in state]
    fields = getattr(state, "_fields", None)
    if fields is None:
        return tuple(children)
    if "count" in fields:
        children[fields.index("count")] += 1
    return type(state)(*children)


def _find(state: State, kind: type) -> Any:
    """The one node of type ``kind`` in a chain's state tree."""
    if isinstance(state, kind):
        return state
    if isinstance(state, tuple):
        for child in state:
            found = _find(child, kind)
            if found is not None:
                return found
    return None


def _steps(count: int, like: Tensor, n: int) -> list[Tensor]:
    """The 1-based step the kernel reads, one (shared) scalar tensor per parameter, as torch keeps it."""
    return [torch.full((), float(count + 1), dtype=torch.float32, device=like.device)] * n


def decoupled_decay(factory: Factory, hyperparameters: Mapping[str, Any]) -> bool:
    """Whether the chain ``factory`` builds from ``hyperparameters`` decays the weights beside its
    direction, ``p <- p (1 - lr wd)`` (Loshchilov & Hutter 2017, arXiv:1711.05101), rather than through
    it as L2 on the gradient: the ``decoupled_weight_decay`` keyword where the factory has one; AdamW has
    none, being decoupled by definition, and the other factories with a kernel (SGD, AdaGrad) couple it."""
    return bool(hyperparameters.get("decoupled_weight_decay", getattr(factory, "func", factory) is adamw))


def _adam(factory: Factory, hp: Mapping[str, Any], params: Tensors, grads: Tensors, state: State) -> State:
    moments = _find(state, ScaleByAdamState)
    kernel = torch._fused_adamw_ if decoupled_decay(factory, hp) else torch._fused_adam_
    b1, b2 = hp["betas"]
    steps = _steps(moments.count, params[0], len(params))
    kernel(
        list(params), list(grads), moments.mu, moments.nu, moments.nu_max or [], steps,
        lr=float(hp["lr"]), beta1=float(b1), beta2=float(b2), weight_decay=float(hp["weight_decay"]),
        eps=float(hp["eps"]), amsgrad=bool(hp["amsgrad"]), maximize=False,
    )  # fmt: skip
    return advance(state)


def _sgd(factory: Factory, hp: Mapping[str, Any], params: Tensors, grads: Tensors, state: State) -> State:
    momentum = _find(state, ScaleByMomentumState)  # None when momentum is 0: the chain has no buffer
    torch._fused_sgd_(
        list(params), list(grads), momentum.trace if momentum else [],
        weight_decay=float(hp["weight_decay"]), momentum=float(hp["momentum"]), lr=float(hp["lr"]),
        dampening=float(hp["dampening"]), nesterov=bool(hp["nesterov"]), maximize=False,
        is_first_step=momentum is not None and momentum.count == 0,
    )  # fmt: skip
    return advance(state)


def _adagrad(factory: Factory, hp: Mapping[str, Any], params: Tensors, grads: Tensors, state: State) -> State:
    sums = _find(state, ScaleByAdagradState)
    torch._fused_adagrad_(
        list(params), list(grads), sums.sum_of_squares, _steps(sums.count, params[0], len(params)),
        lr=float(hp["lr"]), lr_decay=float(hp["lr_decay"]), weight_decay=float(hp["weight_decay"]),
        eps=float(hp["eps"]), maximize=False,
    )  # fmt: skip
    return advance(state)


# The named optimizers (their functions; momentum, nesterov and amsgrad are partials of these) whose
# chains torch computes in one fused kernel; each kernel is called with the factory first.
_KERNELS: dict[Callable[..., Any], Callable[..., State]] = {
    adam: _adam,
    adamw: _adam,
    sgd: _sgd,
    adagrad: _adagrad,
}


# The aten ops each kernel may call. Each has its own devices (torch 2.13's native_functions.yaml:
# _fused_adam_, _fused_adamw_ and _fused_sgd_ on CPU, CUDA and MPS; _fused_adagrad_ on CPU and CUDA), not
# every type of torch's _get_fused_kernels_supported_devices (AdaGrad on MPS: NotImplementedError).
_OPS: dict[Callable[..., State], tuple[str, ...]] = {
    _adam: ("_fused_adam_", "_fused_adamw_"),
    _sgd: ("_fused_sgd_",),
    _adagrad: ("_fused_adagrad_",),
}


def kernel_for(factory: Factory) -> Kernel | None:
    """torch's fused kernel for the chains ``factory`` builds, or None if torch has none."""
    kernel = _KERNELS.get(getattr(factory, "func", factory))
    return None if kernel is None else functools.partial(kernel, factory)


def kernel_runs_on(factory: Factory, device: torch.device) -> bool:
    """Whether torch registers the ops of ``factory``'s kernel (:func:`kernel_for`) for ``device``'s type."""
    kernel = _KERNELS.get(getattr(factory, "func", factory))
    return kernel is not None and all(_registered(op, device.type) for op in _OPS[kernel])


@functools.cache
def _registered(op: str, device_type: str) -> bool:
    """Whether ``aten::op`` has a kernel for the dispatch key of ``device_type`` ("cpu": CPU, "mps": MPS)."""
    try:
        key = torch._C._dispatch_key_for_device(device_type)
    except RuntimeError:  # a type torch names no key for
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::{op}", key)
