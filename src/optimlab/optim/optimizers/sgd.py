"""Stochastic gradient descent and its momentum forms: ``sgd``, ``momentum`` (heavy ball), ``nesterov``."""

from __future__ import annotations

import functools

from optimlab.optim.base import GradientTransformation, Hyperparameter, identity
from optimlab.optim.optimizers._descent import COMMON, FLAG, OPEN_UNIT, descend, off
from optimlab.optim.transforms import scale_by_momentum
from optimlab.registry import UNIT, UNIT_OPEN, Capability, RefusedTogetherError, new_registry

__all__ = ["momentum", "nesterov", "sgd"]

_REGISTRY = new_registry("optimizer")
# torch.optim.SGD takes sparse gradients (without weight decay): its update is the dense one's.
_SGD = (
    Capability.ELEMENTWISE,
    Capability.TORCH_REFERENCE,
    Capability.HAS_MOMENTUM,
    Capability.SPARSE_GRADIENTS,
)


@_REGISTRY.register(
    "sgd",
    summary="Stochastic gradient descent, optionally with momentum, dampening and Nesterov.",
    paper="Robbins & Monro 1951, doi:10.1214/aoms/1177729586",
    accepts={**COMMON, "momentum": UNIT_OPEN, "dampening": UNIT, "nesterov": FLAG},
    capabilities=_SGD,
)
def sgd(
    *,
    lr: Hyperparameter = 1e-3,
    momentum: Hyperparameter = 0.0,
    dampening: Hyperparameter = 0.0,
    weight_decay: Hyperparameter = 0.0,
    nesterov: bool = False,
) -> GradientTransformation:
    """Stochastic gradient descent, as ``torch.optim.SGD``.

    ``g <- g + wd * p``; with momentum ``b <- mu * b + (1 - tau) * g`` (``b <- g`` on step 1) and
    ``d = g + mu * b`` (Nesterov) or ``b``; ``p <- p - lr * d``.

    Args:
        lr: step size; it multiplies the whole direction, outside the momentum buffer.
        momentum: ``mu``, the buffer's decay; 0 is plain SGD.
        dampening: ``tau``, scales the new gradient into the buffer by ``1 - tau`` (not on step 1).
        weight_decay: coupled L2 coefficient, added to the gradient before the momentum.
        nesterov: use the look-ahead direction ``g + mu * b``; needs momentum > 0 and no dampening.

    Example:
        >>> p = [torch.ones(2)]; tx = sgd(lr=0.1, weight_decay=1.0)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.2000, -0.2000])

    References:
        Robbins & Monro, A Stochastic Approximation Method, 1951, doi:10.1214/aoms/1177729586.
        Polyak 1964 and Sutskever et al. 2013 for momentum: :mod:`optimlab.optim.transforms.momentum`.
    """
    if nesterov and (off(momentum) or not off(dampening)):
        conflicting = [f"momentum {momentum}"] if off(momentum) else []
        if not off(dampening):
            conflicting.append(f"dampening {dampening}")
        raise RefusedTogetherError(
            "nesterov",
            nesterov,
            f"True only with momentum > 0 and dampening 0 (here {', '.join(conflicting)})",
        )
    direction = identity() if off(momentum) else scale_by_momentum(momentum, dampening, nesterov=nesterov)
    return descend(direction, lr, weight_decay, decoupled=False, adds_with_alpha=True)


momentum = functools.partial(sgd, momentum=0.9)
momentum.__doc__ = "Heavy-ball momentum: :func:`sgd` with ``momentum=0.9`` (torch: SGD(momentum=0.9))."
_REGISTRY.register(
    "momentum",
    obj=momentum,
    summary="SGD with heavy-ball momentum (default 0.9).",
    paper="Polyak 1964, doi:10.1016/0041-5553(64)90137-5",
    accepts={**COMMON, "momentum": UNIT_OPEN, "dampening": UNIT, "nesterov": FLAG},
    aliases=("heavy_ball", "sgd_momentum"),
    capabilities=_SGD,
)

nesterov = functools.partial(sgd, momentum=0.9, nesterov=True)
nesterov.__doc__ = "Nesterov momentum: :func:`sgd` with ``momentum=0.9, nesterov=True``."
_REGISTRY.register(
    "nesterov",
    obj=nesterov,
    summary="SGD with Nesterov momentum in the reparameterised (look-ahead) form of torch.",
    paper="Sutskever et al. 2013 (ICML); Bengio et al. 2012, arXiv:1212.0901",
    accepts={**COMMON, "momentum": OPEN_UNIT},
    aliases=("nag", "sgd_nesterov"),
    defaults={"nesterov": True, "dampening": 0.0},
    capabilities=_SGD,
)
