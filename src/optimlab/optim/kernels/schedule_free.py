"""Schedule-free SGD and AdamW as one traceable step, for the compiled path.

Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682. The transform
:func:`~optimlab.optim.transforms.schedule_free.schedule_free` keeps its running weight sum and largest
lr as Python floats and branches on them (``c = w / sum if sum else 0``): traced with those floats as
tensors, the branch breaks the graph, and traced with them as constants, every step recompiles. This
step computes the same update with the bookkeeping written in tensor ops (``torch.where`` for the
branch, ``clamp`` for the max), so the whole step is one graph and one pass per tensor. The transforms
before it in the chain (AdamW's RMS normalisation, the decay at y) are the chain's own, built as
:mod:`optimlab.optim.optimizers.schedule_free` builds them; ``tests/optim/test_fused.py`` proves the
step equal to the eager chain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import GradientTransformation, State, add_scaled_, chain, scale_
from optimlab.optim.optimizers.schedule_free import schedule_free_adamw, schedule_free_sgd
from optimlab.optim.transforms import add_decayed_weights, scale_by_rms
from optimlab.optim.transforms.schedule_free import ScheduleFreeState

__all__ = ["STEPS", "schedule_free_step"]


def _direction(factory: Callable[..., Any], hp: Mapping[str, Any]) -> tuple[GradientTransformation, Any]:
    """The chain before :func:`schedule_free` and the interpolation ``beta``, as the optimizer builds them."""
    if getattr(factory, "func", factory) is schedule_free_adamw:
        b1, b2 = hp["betas"]
        return chain(
            scale_by_rms(b2, hp["eps"], bias_correction=True), add_decayed_weights(hp["weight_decay"])
        ), b1
    return chain(add_decayed_weights(hp["weight_decay"])), hp["momentum"]


def schedule_free_step(
    factory: Callable[..., Any],
    constants: Mapping[str, Any],
    inputs: Mapping[str, Any],
    params: list[Tensor],
    grads: list[Tensor],
    state: State,
) -> State:
    """One step of a schedule-free chain, ``p <- p + delta``; same arguments as the generic compiled step.

    ``state`` is the chain's: the direction's states, then a :class:`ScheduleFreeState` whose float
    fields arrive as 0-d tensors.
    """
    hp = {**constants, **inputs}
    direction, beta = _direction(factory, hp)
    *inner, sf = state
    updates, inner = direction.update(grads, tuple(inner), params)
    t = sf.count + 1
    warmup_steps = hp["warmup_steps"]
    lr = hp["lr"] * (t / warmup_steps if sf.count < warmup_steps else 1.0)
    lr_max = torch.clamp(sf.lr_max, min=lr)
    weight = t ** hp["r"] * lr_max ** hp["weight_lr_power"]
    weight_sum = sf.weight_sum + weight
    c = torch.where(weight_sum > 0, weight / weight_sum, 0.0)
    step = torch._foreach_sub(sf.z, params)
    scale_(step, c)
    add_scaled_(step, updates, lr * (beta * (1 - c) - 1))
    add_scaled_(sf.z, updates, -lr)
    torch._foreach_add_(params, step)
    return (*inner, ScheduleFreeState(t, sf.z, sf.y, weight_sum, lr_max))


# The named optimizers whose compiled step is :func:`schedule_free_step` instead of the chain's own.
STEPS: dict[Callable[..., Any], Callable[..., State]] = {
    schedule_free_sgd: schedule_free_step,
    schedule_free_adamw: schedule_free_step,
}
