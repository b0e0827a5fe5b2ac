"""The layer-wise trust ratio of LARS and LAMB: each tensor's step rescaled by ``||p|| / ||u||``.

You, Gitman & Ginsburg, Large Batch Training of Convolutional Networks (LARS), 2017,
https://arxiv.org/abs/1708.03888; You et al., Large Batch Optimization for Deep Learning: Training
BERT in 76 minutes (LAMB), 2019, https://arxiv.org/abs/1904.00962.

The ratio is one number per tensor (a layer), so the transform needs two norms per tensor: it is not
elementwise. The norms stay tensors, so nothing waits for the device.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from optimlab.optim.base import (
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    add_scaled,
    scaled,
    value_at,
)

__all__ = ["ScaleByTrustRatioState", "scale_by_trust_ratio"]


class ScaleByTrustRatioState(NamedTuple):
    count: int  # the step scheduled coefficients are evaluated at


def scale_by_trust_ratio(
    trust_coefficient: Hyperparameter = 1.0,
    weight_decay: Hyperparameter = 0.0,
    eps: Hyperparameter = 0.0,
    *,
    max_weight_norm: float | None = None,
    decayed_first: Hyperparameter = 0.0,
    min_ndim: int = 0,
) -> GradientTransformation:
    """``u <- (u + wd p) * eta * w / (||u|| + wd ||p|| + eps)``, per tensor, with the zero-norm rule.

    ``w = min(||p'||, max_weight_norm)`` is the norm of the weights, taken at ``p' = (1 - c) p`` where
    ``c = decayed_first`` (pytorch_optimizer's Lamb applies its decoupled decay ``p <- p (1 - lr wd)``
    before it takes the norm; pass ``lr * wd`` there, 0 otherwise). ``weight_decay`` is LARS's coupled
    decay, whose local learning rate ``eta ||p|| / (||g|| + wd ||p||)`` bounds ``||g + wd p||`` by the
    triangle inequality. Zero-norm rule: the ratio is 1 when ``w = 0`` (a zero-initialised bias) or
    when the denominator is 0, so such a tensor takes the plain step. Tensors with fewer than
    ``min_ndim`` dimensions pass unchanged, without decay (LARS's exclusion of biases and norm gains).

    Args:
        trust_coefficient: ``eta``, LARS's 1e-3; 1 for LAMB.
        weight_decay: ``wd``, added to the update and to the ratio's denominator (LARS); 0 for LAMB,
            whose decay is chained separately.
        eps: added to the denominator (LAMB's 1e-6); 0 for LARS.
        max_weight_norm: the clamp of ``||p||`` (LAMB's 10), or None.
        decayed_first: ``c`` above.
        min_ndim: 2 excludes vectors and scalars (LARS); 0 scales every tensor (LAMB).
    """

    def init(params: Params) -> ScaleByTrustRatioState:
        return ScaleByTrustRatioState(count=0)

    def update(
        updates: Updates, state: ScaleByTrustRatioState, params: Params
    ) -> tuple[Updates, ScaleByTrustRatioState]:
        step = state.count
        chosen = [i for i, p in enumerate(params) if p.ndim >= min_ndim]
        out = list(updates)
        if chosen:
            ps, us = [params[i] for i in chosen], [updates[i] for i in chosen]
            eta, wd = value_at(trust_coefficient, step), value_at(weight_decay, step)
            c = value_at(decayed_first, step)
            weighted = ps if isinstance(c, (int, float)) and c == 0 else scaled(ps, 1 - c)
            w = torch.stack(torch._foreach_norm(weighted))
            if max_weight_norm is not None:
                w = w.clamp(max=max_weight_norm)
            denominator = torch.stack(torch._foreach_norm(us))
            if not (isinstance(wd, (int, float)) and wd == 0):
                denominator = denominator + wd * torch.stack(torch._foreach_norm(ps))
                us = add_scaled(us, ps, wd)
            ratio = torch.where(
                (w > 0) & (denominator > 0), eta * w / (denominator + value_at(eps, step)), 1.0
            )
            for i, scaled_update in zip(chosen, torch._foreach_mul(us, list(ratio.unbind()))):
                out[i] = scaled_update
        return out, ScaleByTrustRatioState(step + 1)

    return GradientTransformation(init, update)
