"""Layer-wise adaptive rate scaling for large batches: LARS (momentum SGD) and LAMB (Adam).

Both multiply each tensor's step by a trust ratio ``||p|| / ||step||``, so every layer moves by a
similar fraction of its weights whatever its gradient scale
(:mod:`optimlab.optim.transforms.trust_ratio`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError
from optimlab.optim.base import (
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    addcmul_,
    chain,
    lerp_,
    per_tensor,
    scale_,
    value_at,
)
from optimlab.optim.optimizers._descent import EPS, FLAG, off
from optimlab.optim.transforms.decay import add_decayed_weights
from optimlab.optim.transforms.momentum import scale_by_momentum
from optimlab.optim.transforms.scaling import scale, scale_by_learning_rate
from optimlab.optim.transforms.trust_ratio import scale_by_trust_ratio
from optimlab.registry import NON_NEGATIVE, POSITIVE, UNIT, UNIT_OPEN, Capability, new_registry

__all__ = ["lamb", "lars"]

_REGISTRY = new_registry("optimizer")


@_REGISTRY.register(
    "lars",
    summary="Momentum SGD with a per-layer trust ratio eta ||w|| / (||g|| + wd ||w||); 1-D params excluded.",
    paper="You, Gitman & Ginsburg 2017, arXiv:1708.03888",
    accepts={
        "lr": NON_NEGATIVE,
        "weight_decay": NON_NEGATIVE,
        "momentum": UNIT_OPEN,
        "dampening": UNIT,
        "trust_coefficient": NON_NEGATIVE,
        "nesterov": FLAG,
    },
    capabilities=(Capability.LAYERWISE, Capability.HAS_MOMENTUM, Capability.SKIPS_1D),
)
def lars(
    *,
    lr: Hyperparameter = 1e-3,
    weight_decay: Hyperparameter = 0.0,
    momentum: Hyperparameter = 0.9,
    dampening: Hyperparameter = 0.0,
    trust_coefficient: Hyperparameter = 1e-3,
    nesterov: bool = False,
) -> GradientTransformation:
    """LARS, as ``pytorch_optimizer.LARS`` 4.1.0 (the Barlow Twins / VICReg convention).

    For each tensor with 2 or more dimensions: ``r = eta ||p|| / (||g|| + wd ||p||)`` (1 if ``||p|| = 0``
    or the denominator is 0), ``g <- (g + wd p) r``; vectors and scalars (biases, norm gains) keep
    ``g`` with no decay. Then ``b <- mu b + (1 - tau) g`` from ``b = 0``, ``d = g + mu b`` (Nesterov) or
    ``b``, and ``p <- p - lr d``. The paper puts the global lr inside the buffer; the two agree for a
    constant lr.

    Args:
        lr: global step size; a layer's step is about ``lr * eta * ||p||``.
        weight_decay: coupled L2, inside the trust ratio's denominator.
        momentum: ``mu``; 0 for none.
        dampening: ``tau``; the buffer starts at 0, so step 1 takes ``(1 - tau) g``.
        trust_coefficient: ``eta``, the fraction of ``||p||`` a layer moves per unit lr.
        nesterov: use ``g + mu b``; needs ``dampening = 0``.

    Example:
        >>> p = [torch.ones(2, 2)]; tx = lars(lr=1.0, momentum=0.0, trust_coefficient=0.1)
        >>> delta, state = tx.update([torch.full((2, 2), 5.0)], tx.init(p), p)
        >>> delta[0]  # 0.1 * ||p|| / ||g|| * g
        tensor([[-0.1000, -0.1000],
                [-0.1000, -0.1000]])

    References:
        You, Gitman & Ginsburg, Large Batch Training of Convolutional Networks, 2017,
        https://arxiv.org/abs/1708.03888.
    """
    if nesterov and not off(dampening):
        raise InvalidValueError(
            "optimizer 'lars' hyperparameter 'nesterov'", nesterov, "True only with dampening 0"
        )
    steps = [scale_by_trust_ratio(trust_coefficient, weight_decay, min_ndim=2)]
    if not off(momentum):
        # A buffer from 0 is SGD's first-step copy over (1 - tau) g (without dampening after it).
        if not off(dampening):
            steps.append(
                scale((lambda s: 1 - value_at(dampening, s)) if callable(dampening) else 1 - dampening)
            )
        steps.append(scale_by_momentum(momentum, nesterov=nesterov))
    return chain(*steps, scale_by_learning_rate(lr))


class _UncorrectedAdamState(NamedTuple):
    # pytorch_optimizer's Lamb, the reference, counts group['step'] at every step: the debiasing of a
    # parameter that missed some gradients goes by the group's t (torch_optim shell, counts_per_group)
    counts_per_group = True

    count: int
    mu: list[Tensor]  # m, EMA of u
    nu: list[Tensor]  # v, EMA of u^2


def _scale_by_uncorrected_adam(
    b1: Hyperparameter, b2: Hyperparameter, eps: Hyperparameter
) -> GradientTransformation:
    """``u <- m / (sqrt(v) + eps)`` with Adam's moments and no bias correction (LAMB's ``r``).

    ``scale_by_adam`` corrects both moments before eps; a flag there could replace this.
    """

    def init(params: Params) -> _UncorrectedAdamState:
        return _UncorrectedAdamState(
            0, [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
        )

    def update(
        updates: Updates, state: _UncorrectedAdamState, params: Params
    ) -> tuple[Updates, _UncorrectedAdamState]:
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        lerp_(state.mu, updates, 1 - beta1)
        scale_(state.nu, beta2)
        addcmul_(state.nu, updates, updates, 1 - beta2)
        den = torch._foreach_sqrt(state.nu)
        torch._foreach_add_(den, per_tensor(value_at(eps, state.count), den))
        return torch._foreach_div(state.mu, den), _UncorrectedAdamState(state.count + 1, state.mu, state.nu)

    return GradientTransformation(init, update)


@_REGISTRY.register(
    "lamb",
    summary="Adam steps rescaled per layer by min(||w||, 10) / ||step||, for large-batch training "
    "(pytorch_optimizer's Lamb variant: no moment bias correction inside the ratio, not the paper's "
    "Algorithm 2).",
    paper="You et al. 2019, arXiv:1904.00962",
    accepts={
        "lr": NON_NEGATIVE,
        "betas": UNIT_OPEN,
        "eps": EPS,
        "weight_decay": NON_NEGATIVE,
        "max_weight_norm": POSITIVE,
        "decoupled_weight_decay": FLAG,
    },
    capabilities=(Capability.LAYERWISE, Capability.HAS_BETAS, Capability.HAS_MOMENTUM),
)
def lamb(
    *,
    lr: Hyperparameter = 1e-3,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    eps: Hyperparameter = 1e-6,
    weight_decay: Hyperparameter = 0.0,
    max_weight_norm: float = 10.0,
    decoupled_weight_decay: bool = True,
) -> GradientTransformation:
    """LAMB, as ``pytorch_optimizer.Lamb`` 4.1.0 with its defaults (one of three common variants).

    ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g^2``; ``p <- p (1 - lr wd)``;
    ``r = m / (sqrt(v) + eps)`` (no bias correction inside); ``w = min(||p||, max_weight_norm)`` of the
    decayed weights; trust ``= w / (||r|| + eps)``, or 1 if ``w = 0`` or ``||r|| = 0`` (a zero bias
    takes the plain step); ``p <- p - lr / (1 - b1^t) * trust * r``. The ``1 / (1 - b1^t)`` outside
    the ratio makes step 1 ten times larger than without it (pytorch_optimizer's docstring says
    "without bias correction" but divides the step size by it). The paper's final version bias-corrects
    both moments inside ``r`` and adds ``wd p`` to ``r``; torch-optimizer's Lamb has no eps in the
    ratio: the three differ by more than 0.5 after 100 steps.

    Args:
        lr: step size; a layer moves by about ``lr * ||p||`` per step.
        betas: ``(b1, b2)``, the moment decays.
        eps: added to ``sqrt(v)`` and to the ratio's denominator ``||r||``.
        weight_decay: decoupled, ``p (1 - lr wd)`` before the norms; coupled (``r + wd p``, inside the
            ratio as in the paper) with ``decoupled_weight_decay=False``.
        max_weight_norm: the clamp ``phi`` of ``||p||`` in the ratio.
        decoupled_weight_decay: see ``weight_decay``.

    Example:
        >>> p = [torch.ones(2, 2)]; tx = lamb(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2, 2)], tx.init(p), p)
        >>> delta[0]  # lr / 0.1 * ||p|| / ||r|| * r, r ~ 1
        tensor([[-1.0000, -1.0000],
                [-1.0000, -1.0000]])

    References:
        You et al., Large Batch Optimization for Deep Learning: Training BERT in 76 minutes, 2019,
        https://arxiv.org/abs/1904.00962.
    """
    b1, b2 = betas

    def debias(step: int) -> Hyperparameter:
        return 1 / (1 - value_at(b1, step) ** (step + 1))

    def decay_before_norm(step: int) -> Hyperparameter:
        return value_at(lr, step) * value_at(weight_decay, step)

    decay = add_decayed_weights(weight_decay)
    if decoupled_weight_decay:
        ratio = scale_by_trust_ratio(
            eps=eps, max_weight_norm=max_weight_norm, decayed_first=decay_before_norm
        )
        return chain(
            _scale_by_uncorrected_adam(b1, b2, eps), ratio, scale(debias), decay, scale_by_learning_rate(lr)
        )
    ratio = scale_by_trust_ratio(eps=eps, max_weight_norm=max_weight_norm)
    return chain(
        _scale_by_uncorrected_adam(b1, b2, eps), decay, ratio, scale(debias), scale_by_learning_rate(lr)
    )
