"""Heavy-ball and Nesterov momentum, in the form of ``torch.optim.SGD``.

Polyak, Some methods of speeding up the convergence of iteration methods, 1964,
https://doi.org/10.1016/0041-5553(64)90137-5; Nesterov in the reparameterised form of Sutskever et al.,
On the importance of initialization and momentum in deep learning, ICML 2013, and Bengio et al.,
Advances in optimizing recurrent networks, 2012, https://arxiv.org/abs/1212.0901.
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
    add_scaled,
    add_scaled_,
    scale_,
    value_at,
)

__all__ = ["ScaleByMomentumState", "scale_by_momentum"]


class ScaleByMomentumState(NamedTuple):
    count: int
    trace: list[Tensor]  # b, the momentum buffer


def scale_by_momentum(
    momentum: Hyperparameter = 0.9, dampening: Hyperparameter = 0.0, *, nesterov: bool = False
) -> GradientTransformation:
    """``b <- mu * b + (1 - tau) * u`` (``b <- u`` on the first step); returns ``b``, or ``u + mu * b``.

    The first step copies the update without dampening, as torch does. The learning rate stays outside
    the buffer (it is applied by a later transform), so a changing lr rescales the whole step at once.
    """

    def init(params: Params) -> ScaleByMomentumState:
        return ScaleByMomentumState(count=0, trace=[torch.zeros_like(p) for p in params])

    def update(
        updates: Updates, state: ScaleByMomentumState, params: Params
    ) -> tuple[Updates, ScaleByMomentumState]:
        mu = value_at(momentum, state.count)
        if state.count == 0:
            torch._foreach_copy_(state.trace, updates)
        else:
            scale_(state.trace, mu)
            add_scaled_(state.trace, updates, 1 - value_at(dampening, state.count))
        direction = add_scaled(updates, state.trace, mu) if nesterov else state.trace
        return direction, ScaleByMomentumState(state.count + 1, state.trace)

    return GradientTransformation(init, update)
