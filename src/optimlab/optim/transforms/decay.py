"""Weight decay ``u <- u + lambda * p``: coupled L2 or decoupled, depending on where it sits in a chain.

Placed *before* a preconditioner (``chain(add_decayed_weights(wd), scale_by_adam())``), the decay goes
through the moments: the L2 penalty ``lambda/2 * ||p||^2`` of ``torch.optim.Adam(weight_decay=...)``.
Placed *after* it and before :func:`~optimlab.optim.transforms.scaling.scale_by_learning_rate`, it is
the decoupled decay of Loshchilov & Hutter (Decoupled Weight Decay Regularization, 2017,
https://arxiv.org/abs/1711.05101): ``p <- p - lr * (update + lambda * p)``, i.e. ``p * (1 - lr * lambda)``
as in ``torch.optim.AdamW``. The math is one line, so there is one transform for both; the chain says
which one it is.

A known gap in float16/bfloat16: torch's CPU step first rounds ``p * (1 - lr * lambda)`` to the dtype
(``p.mul_``), then adds the step, rounding twice; here the decay joins the update, which the lr scales in
float32 and the shell adds rounding once. So decoupled decay differs from torch's in most entries, while
1.4-5x closer to the float64 run (lr * lambda = 1e-3 is about an ulp at 1 in float16: torch loses the decay
or rounds it to a whole ulp); matching torch would take a decay applied to the parameters before the step
(tests/optim/test_optimizers.py, HALF_PRECISION_ROUNDING["adamw"]). float32/float64 are torch's to 1e-6.
"""

from __future__ import annotations

from typing import NamedTuple

from optimlab.optim.base import (
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    add_scaled,
    value_at,
)

__all__ = ["AddDecayedWeightsState", "add_decayed_weights"]


class AddDecayedWeightsState(NamedTuple):
    count: int  # the step a scheduled weight decay is evaluated at


def add_decayed_weights(weight_decay: Hyperparameter = 0.0) -> GradientTransformation:
    """``u <- u + weight_decay_t * p`` (a no-op for a weight decay of exactly 0)."""
    inactive = isinstance(weight_decay, (int, float)) and weight_decay == 0

    def init(params: Params) -> AddDecayedWeightsState:
        return AddDecayedWeightsState(count=0)

    def update(
        updates: Updates, state: AddDecayedWeightsState, params: Params
    ) -> tuple[Updates, AddDecayedWeightsState]:
        if not inactive:
            updates = add_scaled(updates, params, value_at(weight_decay, state.count))
        return updates, AddDecayedWeightsState(state.count + 1)

    return GradientTransformation(init, update)
