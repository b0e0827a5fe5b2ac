"""Schedule-free averaging: interpolate between a fast iterate and its running average, no schedule.

Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682. The gradient is taken
at ``y``; the base direction ``u`` (the incoming update: a gradient plus decay for SGD, an
RMS-normalised gradient for AdamW) moves ``z``, and ``x`` is a weighted average of the ``z``:

    z_{t+1} = z_t - g_t u_t,    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},
    y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1},

with ``g_t = lr * min(1, t / warmup_steps)``, weights ``w_t = t^r * max_{i<=t}(g_i)^weight_lr_power`` and
``c_{t+1} = w_t / sum_{i<=t} w_i``. Like the authors' efficient implementation (``schedulefree``), the
parameters hold ``y`` while training and ``x`` to evaluate, and ``set_mode`` moves them between the
two in place. Unlike it, ``eval()`` keeps ``y`` and ``train()`` puts it back bit for bit: ``y`` made
again from ``x`` (``y = x + (1 - beta)(z - x)``) is ``y`` only up to rounding, so that a run's weights
depended on how often it was evaluated. Memory: ``z`` always (one copy of the parameters), and ``y``
while in eval mode (a second copy, freed by ``train()``, and saved in a state dict taken in eval mode
only: a train-mode one holds ``z`` alone, as before).
Time, once per evaluation: ``eval()`` allocates that copy, ``train()`` makes ``x`` again from it into a
temporary per tensor to see that the parameters still hold it, then copies ``y`` back: 4-29x the
authors' two lerps on one CPU thread, mostly page faults (``benchmarks/schedule_free_modes.py``).

Its counters (``k``, the weight sum, the largest lr) are those of a param group, as in ``schedulefree``:
in the ``torch.optim`` shell every step advances them, and a parameter without a gradient on a step
keeps its ``z`` and ``y`` while the average's weights move on.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimlab.optim.base import (
    Coefficient,
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    add_scaled_,
    lerp_,
    per_tensor,
    scale_,
    value_at,
)

__all__ = ["ScheduleFreeState", "schedule_free"]


class ScheduleFreeState(NamedTuple):
    counts_per_group = True  # the authors' code counts k and the weight sums per param group
    unsaved_when_none = ("y",)  # a train-mode state dict holds z alone, as before y was kept

    count: int
    z: list[Tensor]  # the base sequence z_t
    y: list[Tensor | None]  # the training point, kept while the parameters hold x (eval mode); else None
    weight_sum: Coefficient  # sum of the averaging weights w_i so far
    lr_max: Coefficient  # largest (warmed-up) learning rate so far


def _maximum(a: Coefficient, b: Coefficient) -> Coefficient:
    """``max`` of floats or of per-member ``(K,)`` tensors."""
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return torch.maximum(torch.as_tensor(a), torch.as_tensor(b))
    return max(a, b)


def _ratio(weight: Coefficient, weight_sum: Coefficient) -> Coefficient:
    """``weight / weight_sum``, 0 where nothing has been weighted yet (a zero lr)."""
    if isinstance(weight_sum, Tensor):
        return torch.where(
            weight_sum > 0, weight / weight_sum.clamp_min(torch.finfo(weight_sum.dtype).tiny), 0.0
        )
    return weight / weight_sum if weight_sum else 0.0


def _evaluation_point(y: Tensor, z: Tensor, beta: Coefficient) -> Tensor:
    """``x = y + (1 - 1/beta)(z - y)`` in a new tensor, by the op ``eval()`` computes it with in place."""
    return torch._foreach_lerp([y], [z], per_tensor(1 - 1 / beta, [y]))[0]


def schedule_free(
    learning_rate: Hyperparameter,
    beta: Hyperparameter = 0.9,
    *,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> GradientTransformation:
    """Turn a direction ``u`` into the schedule-free step ``y_{t+1} - y_t`` (the last transform of a chain).

    ``y_{t+1} - y_t = c (z_t - y_t) + g (beta (1 - c) - 1) u``, then ``z <- z - g u``.
    """

    def init(params: Params) -> ScheduleFreeState:
        return ScheduleFreeState(0, [p.detach().clone() for p in params], [None] * len(params), 0.0, 0.0)

    def update(
        updates: Updates, state: ScheduleFreeState, params: Params
    ) -> tuple[Updates, ScheduleFreeState]:
        t = state.count + 1
        warmup = t / warmup_steps if state.count < warmup_steps else 1.0
        lr = value_at(learning_rate, state.count) * warmup
        lr_max = _maximum(lr, state.lr_max)
        weight = t**r * lr_max**weight_lr_power
        weight_sum = state.weight_sum + weight
        c = _ratio(weight, weight_sum)
        step = torch._foreach_sub(state.z, params)
        scale_(step, c)
        add_scaled_(step, updates, lr * (value_at(beta, state.count) * (1 - c) - 1))
        add_scaled_(state.z, updates, -lr)
        return step, ScheduleFreeState(t, state.z, state.y, weight_sum, lr_max)

    def set_mode(params: Params, state: ScheduleFreeState, train: bool) -> ScheduleFreeState:
        b = value_at(beta, state.count)
        if not train:
            kept = [p.detach().clone() for p in params]
            lerp_(params, state.z, 1 - 1 / b)  # y -> x
            return state._replace(y=kept)
        # y back bit for bit, unless none was kept or x was written since eval() (weights loaded into
        # the model): then y is made from that x, as the authors' code makes it from every x
        for p, z, y in zip(params, state.z, state.y):
            if y is not None and torch.equal(p, _evaluation_point(y, z, b)):
                p.copy_(y)
            else:
                lerp_([p], [z], 1 - b)  # x -> y
        return state._replace(y=[None] * len(params))

    return GradientTransformation(init, update, set_mode)
