"""Per-coordinate step sizes from a running second moment of the updates: RMS, AdaGrad, AdaDelta.

Each divides the update by a root of accumulated squares; they differ in how the squares accumulate
(an EMA, a sum, an EMA paired with an EMA of the steps themselves).
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
    addcmul_,
    lerp_,
    per_tensor,
    scale_,
    value_at,
)

__all__ = [
    "ScaleByAdadeltaState",
    "ScaleByAdagradState",
    "ScaleByRmsState",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_rms",
]


class ScaleByRmsState(NamedTuple):
    count: int
    nu: list[Tensor]  # v, EMA of u^2
    mu: list[Tensor] | None  # EMA of u, only when centered


def scale_by_rms(
    decay: Hyperparameter = 0.99,
    eps: Hyperparameter = 1e-8,
    *,
    centered: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """``v <- a * v + (1 - a) * u^2``; ``u <- u / (sqrt(v) + eps)`` (RMSprop's preconditioner).

    Hinton, Neural Networks for Machine Learning, lecture 6e, 2012. ``centered`` divides by the
    standard deviation ``sqrt(v - m^2)`` with ``m`` an EMA of ``u`` (Graves, Generating Sequences With
    Recurrent Neural Networks, 2013, https://arxiv.org/abs/1308.0850). ``bias_correction`` uses
    ``v / (1 - a^t)`` (schedule-free AdamW). eps sits outside the square root.
    """

    def init(params: Params) -> ScaleByRmsState:
        return ScaleByRmsState(
            count=0,
            nu=[torch.zeros_like(p) for p in params],
            mu=[torch.zeros_like(p) for p in params] if centered else None,
        )

    def update(updates: Updates, state: ScaleByRmsState, params: Params) -> tuple[Updates, ScaleByRmsState]:
        t = state.count + 1
        a = value_at(decay, state.count)
        scale_(state.nu, a)
        addcmul_(state.nu, updates, updates, 1 - a)
        if centered:
            lerp_(state.mu, updates, 1 - a)
            den = torch._foreach_addcmul(state.nu, state.mu, state.mu, value=-1)
            torch._foreach_sqrt_(den)
        else:
            den = torch._foreach_sqrt(state.nu)
        if bias_correction:
            scale_(den, (1 - a**t) ** -0.5)
        torch._foreach_add_(den, per_tensor(value_at(eps, state.count), den))
        return torch._foreach_div(updates, den), ScaleByRmsState(t, state.nu, state.mu)

    return GradientTransformation(init, update)


class ScaleByAdagradState(NamedTuple):
    count: int
    sum_of_squares: list[Tensor]  # G, the running sum of u^2


def scale_by_adagrad(
    initial_accumulator_value: float = 0.0, eps: Hyperparameter = 1e-10
) -> GradientTransformation:
    """``G <- G + u^2``; ``u <- u / (sqrt(G) + eps)``, ``G`` starting at ``initial_accumulator_value``.

    Duchi, Hazan & Singer, Adaptive Subgradient Methods for Online Learning and Stochastic
    Optimization, JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html.
    """

    def init(params: Params) -> ScaleByAdagradState:
        return ScaleByAdagradState(0, [torch.full_like(p, initial_accumulator_value) for p in params])

    def update(
        updates: Updates, state: ScaleByAdagradState, params: Params
    ) -> tuple[Updates, ScaleByAdagradState]:
        torch._foreach_addcmul_(state.sum_of_squares, updates, updates)
        den = torch._foreach_sqrt(state.sum_of_squares)
        torch._foreach_add_(den, per_tensor(value_at(eps, state.count), den))
        return torch._foreach_div(updates, den), ScaleByAdagradState(state.count + 1, state.sum_of_squares)

    return GradientTransformation(init, update)


class ScaleByAdadeltaState(NamedTuple):
    count: int
    nu: list[Tensor]  # v, EMA of u^2
    delta_nu: list[Tensor]  # EMA of the squared (unscaled) steps


def scale_by_adadelta(rho: Hyperparameter = 0.9, eps: Hyperparameter = 1e-6) -> GradientTransformation:
    """``v <- rho v + (1-rho) u^2``; ``d = sqrt(D + eps) / sqrt(v + eps) * u``; ``D <- rho D + (1-rho) d^2``.

    Zeiler, ADADELTA: An Adaptive Learning Rate Method, 2012, https://arxiv.org/abs/1212.5701. eps sits
    inside both roots. ``D`` accumulates ``d`` before any learning rate, as torch does.
    """

    def init(params: Params) -> ScaleByAdadeltaState:
        return ScaleByAdadeltaState(
            count=0, nu=[torch.zeros_like(p) for p in params], delta_nu=[torch.zeros_like(p) for p in params]
        )

    def update(
        updates: Updates, state: ScaleByAdadeltaState, params: Params
    ) -> tuple[Updates, ScaleByAdadeltaState]:
        r, e = value_at(rho, state.count), value_at(eps, state.count)
        scale_(state.nu, r)
        addcmul_(state.nu, updates, updates, 1 - r)
        std = torch._foreach_add(state.nu, per_tensor(e, state.nu))
        torch._foreach_sqrt_(std)
        delta = torch._foreach_add(state.delta_nu, per_tensor(e, state.delta_nu))
        torch._foreach_sqrt_(delta)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, updates)
        scale_(state.delta_nu, r)
        addcmul_(state.delta_nu, delta, delta, 1 - r)
        return delta, ScaleByAdadeltaState(state.count + 1, state.nu, state.delta_nu)

    return GradientTransformation(init, update)
