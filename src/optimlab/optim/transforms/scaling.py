"""Multiply updates by a constant or scheduled factor; the learning rate is such a factor, negated."""

from __future__ import annotations

from typing import NamedTuple

import torch

from optimlab.optim.base import (
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    half_on_cpu,
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
    """``u <- -lr_t * u``: the last transform of most optimizers; the minus sign makes it descent.

    A float16/bfloat16 update on CPU comes out in float32, the lr rounded to its dtype: the shell's
    ``p += u`` then rounds once, as torch.optim's CPU step ``p.add_(u, alpha=-lr)`` does (alpha in the
    tensor's dtype, the sum in float32), where a product rounded to the dtype and then added rounded twice.
    """
    negated = (lambda step: -learning_rate(step)) if callable(learning_rate) else -learning_rate
    by_factor = scale(negated)

    def update(updates: Updates, state: ScaleState, params: Params) -> tuple[Updates, ScaleState]:
        factor = value_at(negated, state.count)
        if not (isinstance(factor, (int, float)) and any(half_on_cpu(u) for u in updates)):
            return by_factor.update(updates, state, params)
        exact = [  # a float16/bfloat16 number times one: exact in float32
            u.float().mul_(torch.tensor(factor, dtype=u.dtype).item()) if half_on_cpu(u) else u * factor
            for u in updates
        ]
        return exact, ScaleState(state.count + 1)

    return GradientTransformation(by_factor.init, update)
