"""The sign of an interpolated momentum: Lion.

Chen et al., Symbolic Discovery of Optimization Algorithms, 2023, https://arxiv.org/abs/2302.06675.
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
    scale_,
    scaled,
    value_at,
)

__all__ = ["ScaleByLionState", "scale_by_lion"]


class ScaleByLionState(NamedTuple):
    count: int
    mu: list[Tensor]  # m, EMA of u with rate b2


def scale_by_lion(b1: Hyperparameter = 0.9, b2: Hyperparameter = 0.99) -> GradientTransformation:
    """``u <- sign(b1 m + (1 - b1) u)`` (sign(0) = 0), then ``m <- b2 m + (1 - b2) u``.

    The interpolation is written as the authors' code writes it (a multiply and an add, not a lerp):
    a coordinate whose interpolation is near 0 flips sign under any other rounding.
    """

    def init(params: Params) -> ScaleByLionState:
        return ScaleByLionState(0, [torch.zeros_like(p) for p in params])

    def update(updates: Updates, state: ScaleByLionState, params: Params) -> tuple[Updates, ScaleByLionState]:
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        direction = scaled(state.mu, beta1)
        add_scaled_(direction, updates, 1 - beta1)
        torch._foreach_sign_(direction)
        scale_(state.mu, beta2)
        add_scaled_(state.mu, updates, 1 - beta2)
        return direction, ScaleByLionState(state.count + 1, state.mu)

    return GradientTransformation(init, update)
