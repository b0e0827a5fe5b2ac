"""Multiply updates by a constant or scheduled factor; the learning rate is such a factor, negated."""

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
    apply_updates,
    half_on_cpu,
    refuse_past_range,
    scaled,
    value_at,
)

__all__ = ["ScaleState", "scale", "scale_by_learning_rate"]


# The dtypes that ``scale_by_learning_rate(adds_with_alpha=True)`` adds to in one rounding, as torch's
# ``p.add_(u, alpha=-lr)``; a float16/bfloat16 step takes the lr as its update says, on any device.
_ONE_ROUNDING = (torch.float32, torch.float64)


class ScaleState(NamedTuple):
    count: int  # updates applied so far: the step a scheduled factor is evaluated at


def scale(factor: Hyperparameter) -> GradientTransformation:
    """``u <- factor_t * u``, with ``factor`` a float, a schedule ``step -> float`` or a ``(K,)`` tensor."""

    def init(params: Params) -> ScaleState:
        return ScaleState(count=0)

    def update(updates: Updates, state: ScaleState, params: Params) -> tuple[Updates, ScaleState]:
        return scaled(updates, value_at(factor, state.count)), ScaleState(state.count + 1)

    return GradientTransformation(init, update)


def scale_by_learning_rate(
    learning_rate: Hyperparameter, *, round_product: bool = False, adds_with_alpha: bool = False
) -> GradientTransformation:
    """``u <- -lr_t * u``: the last transform of most optimizers; the minus sign makes it descent.

    A float16/bfloat16 update on CPU comes out in float32, the lr (a number, or a ``(K,)`` tensor of the
    batched shell) rounded to its dtype: the shell's ``p += u`` then rounds once, as torch.optim's CPU
    step ``p.add_(u, alpha=-lr)`` does (alpha in the tensor's dtype, the sum in float32), where a product
    rounded to the dtype and then added rounded twice. ``round_product`` keeps that product in the dtype,
    for the optimizers whose torch step adds it so (RAdam: ``p.add_(m_hat * lr * ..., alpha=-1)``). An lr
    past the dtype's largest finite value is refused, as torch refuses to convert it.

    ``adds_with_alpha``, for the optimizers whose torch step is ``p.add_(u, alpha=-lr)`` (SGD, AdaDelta,
    RMSprop with momentum), gives it an ``apply`` that adds to each float32/float64 param so, in one
    rounding (a ``(K,)`` lr too, member by member), where ``-lr * u`` rounded before ``p +=`` rounds
    twice (AdaDelta at lr 0.5 an ulp off torch's on a few entries a step). Other dtypes, and the
    optimizers whose torch step is ``p.addcdiv_(..., value=-lr)`` (rounded otherwise), keep ``p += u``.
    """
    negated = (lambda step: -learning_rate(step)) if callable(learning_rate) else -learning_rate
    by_factor = scale(negated)

    def update(updates: Updates, state: ScaleState, params: Params) -> tuple[Updates, ScaleState]:
        factor = value_at(negated, state.count)
        half = [u for u in updates if half_on_cpu(u)]
        if half:  # float16 beside bfloat16: the dtype of the smallest range refuses first
            lr = -factor
            shown = lr.tolist() if isinstance(lr, Tensor) else lr
            refuse_past_range("lr", shown, shown if isinstance(shown, list) else [shown], half)
        if round_product or not half:
            return by_factor.update(updates, state, params)
        exact = [  # a float16/bfloat16 number times one: exact in float32
            u.float().mul_(_in_dtype(factor, u)) if half_on_cpu(u) else scaled([u], factor)[0]
            for u in updates
        ]
        return exact, ScaleState(state.count + 1)

    scaling = GradientTransformation(by_factor.init, update)

    if not adds_with_alpha:
        return scaling

    def apply(updates: Updates, state: ScaleState, params: Params) -> ScaleState:
        in_one = [p.dtype in _ONE_ROUNDING for p in params]
        others = [i for i, one in enumerate(in_one) if not one]
        if others:  # first: an lr past a half dtype's range is refused before any param moves
            apply_updates(scaling, [updates[i] for i in others], state, [params[i] for i in others])
        ones = [i for i, one in enumerate(in_one) if one]
        if ones:
            factor = value_at(negated, state.count)
            add_scaled_([params[i] for i in ones], [updates[i] for i in ones], factor)
        return ScaleState(state.count + 1)

    return scaling._replace(apply=apply)


def _in_dtype(factor: Coefficient, u: Tensor) -> float | Tensor:
    """``factor`` rounded to ``u``'s dtype, as a float32 multiplier of ``u`` (``(K, 1, ..., 1)`` per member)."""
    if not isinstance(factor, Tensor):
        return torch.tensor(factor, dtype=u.dtype).item()
    rounded = factor.to(u.dtype).float()
    return rounded.view(-1, *(1,) * (u.ndim - 1)) if rounded.ndim else rounded
