"""Multiply updates by a constant or scheduled factor; the learning rate is such a factor, negated."""

from __future__ import annotations

from typing import NamedTuple

from optimlab.optim.base import (
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    scaled,
    value_at,
)

__all__ = ["ScaleState", "scale", "scale_by_learning_rate"]


class ScaleState(NamedTuple):
    count: int  # updates applied so far: the step a scheduled factor is evaluated at


def scale(factor: Hyperparameter) -> GradientTransformation:
    """``u <- factor_t * u``, with ``factor`` a float, a schedule ``step -> float`` or a ``(K,)`` tensor."""

    def init(params: Params) -> ScaleState:
        return ScaleState(count=0)

    def update(updates: Updates, state: ScaleState, params: Params) -> tuple[Updates, ScaleState]:
        return scaled(updates, value_at(factor, state.count)), ScaleState(state.count + 1)

    return GradientTransformation(init, update)


def scale_by_learning_rate(learning_rate: Hyperparameter) -> GradientTransformation:
    """``u <- -lr_t * u``: the last transform of most optimizers; the minus sign makes it descent."""
    if callable(learning_rate):
        return scale(lambda step: -learning_rate(step))
    return scale(-learning_rate)
