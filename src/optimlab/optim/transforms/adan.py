"""Adan: adaptive Nesterov momentum from moments of the gradient and of its first difference.

Xie et al., Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models, 2022,
https://arxiv.org/abs/2208.06677. Betas in torch's convention (the authors' code): the paper's
(0.02, 0.08, 0.01) are (0.98, 0.92, 0.99) here (sail-sg/Adan#4).

As in the authors' code (sail-sg/Adan ``adan.py``), the step ``t`` of the bias corrections is the param
group's (``group['step']``), while the previous gradient is each parameter's own: the last one it had,
and on its first gradient the gradient itself (a difference of 0), whenever that comes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimlab.optim.base import (
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    add_scaled_,
    addcmul_,
    per_tensor,
    scale_,
    scaled,
    value_at,
)

__all__ = ["ScaleByAdanState", "scale_by_adan"]


class ScaleByAdanState(NamedTuple):
    counts_per_group = True  # the authors' code counts group['step']

    count: int
    mu: list[Tensor]  # m, EMA of u
    delta: list[Tensor]  # d, EMA of the difference u_t - u_{t-1}
    nu: list[Tensor]  # n, EMA of (u_t + b2 (u_t - u_{t-1}))^2
    previous: list[Tensor | None]  # u_{t-1}; None until the parameter's first update


def scale_by_adan(
    b1: Hyperparameter = 0.98,
    b2: Hyperparameter = 0.92,
    b3: Hyperparameter = 0.99,
    eps: Hyperparameter = 1e-8,
) -> GradientTransformation:
    """``u <- [m / (1 - b1^t) + b2 d / (1 - b2^t)] / (sqrt(n / (1 - b3^t)) + eps)``.

    With ``D = u_t - u_{t-1}`` (0 on the first step): ``m <- b1 m + (1-b1) u``,
    ``d <- b2 d + (1-b2) D``, ``n <- b3 n + (1-b3) (u + b2 D)^2``.
    """

    def init(params: Params) -> ScaleByAdanState:
        def zeros() -> list[Tensor]:
            return [torch.zeros_like(p) for p in params]

        return ScaleByAdanState(0, zeros(), zeros(), zeros(), [None] * len(params))

    def update(updates: Updates, state: ScaleByAdanState, params: Params) -> tuple[Updates, ScaleByAdanState]:
        t = state.count + 1
        beta1, beta2, beta3 = (value_at(b, state.count) for b in (b1, b2, b3))
        previous = state.previous
        if any(u is None for u in previous):  # a parameter's first update: its difference is 0
            previous = [u.clone() if v is None else v for u, v in zip(updates, previous)]
        difference = torch._foreach_sub(updates, previous)
        scale_(state.mu, beta1)
        add_scaled_(state.mu, updates, 1 - beta1)
        scale_(state.delta, beta2)
        add_scaled_(state.delta, difference, 1 - beta2)
        scale_(difference, beta2)
        torch._foreach_add_(difference, updates)  # now u + b2 D
        scale_(state.nu, beta3)
        addcmul_(state.nu, difference, difference, 1 - beta3)
        torch._foreach_copy_(previous, updates)
        den = torch._foreach_sqrt(state.nu)
        scale_(den, (1 - beta3**t) ** -0.5)
        torch._foreach_add_(den, per_tensor(value_at(eps, state.count), den))
        direction = scaled(state.mu, 1 / (1 - beta1**t))
        add_scaled_(direction, state.delta, beta2 / (1 - beta2**t))
        torch._foreach_div_(direction, den)
        return direction, ScaleByAdanState(t, state.mu, state.delta, state.nu, previous)

    return GradientTransformation(init, update)
