"""Per-coordinate step sizes from accumulated squared gradients: AdaGrad, RMSprop, AdaDelta."""

from __future__ import annotations

from optimlab.optim.base import GradientTransformation, Hyperparameter, chain, value_at
from optimlab.optim.optimizers._descent import COMMON, EPS, FLAG, descend, off
from optimlab.optim.transforms import scale_by_adadelta, scale_by_adagrad, scale_by_momentum, scale_by_rms
from optimlab.registry import NON_NEGATIVE, UNIT, UNIT_OPEN, Capability, new_registry

__all__ = ["adadelta", "adagrad", "rmsprop"]

_REGISTRY = new_registry("optimizer")


@_REGISTRY.register(
    "adagrad",
    summary="Per-coordinate steps scaled by the root of the summed squared gradients.",
    paper="Duchi, Hazan & Singer 2011, JMLR 12:2121",
    accepts={
        **COMMON,
        "lr_decay": NON_NEGATIVE,
        "initial_accumulator_value": NON_NEGATIVE,
        "eps": EPS,
    },
    # torch.optim.Adagrad takes sparse gradients (without weight decay): its update is the dense one's
    capabilities=(Capability.ELEMENTWISE, Capability.TORCH_REFERENCE, Capability.SPARSE_GRADIENTS),
)
def adagrad(
    *,
    lr: Hyperparameter = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: Hyperparameter = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: Hyperparameter = 1e-10,
) -> GradientTransformation:
    """AdaGrad, as ``torch.optim.Adagrad``.

    ``g <- g + wd * p``; ``G <- G + g^2``; ``p <- p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(G) + eps)``.

    Args:
        lr: base step size.
        lr_decay: inverse-time decay of lr per step already taken.
        weight_decay: coupled L2 coefficient.
        initial_accumulator_value: starting value of ``G`` (0.1 in the paper's experiments). A param
            group's own value is its ``G``'s start; torch's Adagrad fills every group's ``G`` with the
            constructor's value, ignoring a group's (torch 2.13).
        eps: added to ``sqrt(G)``, outside the root.

    Example:
        >>> p = [torch.ones(2)]; tx = adagrad(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.1000, -0.1000])

    References:
        Duchi, Hazan & Singer, Adaptive Subgradient Methods for Online Learning and Stochastic
        Optimization, JMLR 2011, https://jmlr.org/papers/v12/duchi11a.html.
    """

    def decayed_lr(step: int) -> Hyperparameter:
        return value_at(lr, step) / (1 + step * lr_decay)

    direction = scale_by_adagrad(initial_accumulator_value, eps)
    return descend(direction, lr if off(lr_decay) else decayed_lr, weight_decay, decoupled=False)


@_REGISTRY.register(
    "rmsprop",
    summary="Steps scaled by the root of an EMA of squared gradients; optional centering and momentum.",
    paper="Hinton 2012, Coursera lecture 6e; centered: Graves 2013, arXiv:1308.0850",
    # alpha < 1, as Adam's b2 (torch takes any alpha >= 0): at 1, v stays 0 and each step is lr g / eps,
    # 1e8 lr g (torch 2.13, lr 0.01: [1, -2] went to [-8e18, 1.6e19] in 3 steps).
    accepts={**COMMON, "alpha": UNIT_OPEN, "eps": EPS, "momentum": UNIT_OPEN, "centered": FLAG},
    capabilities=(Capability.ELEMENTWISE, Capability.TORCH_REFERENCE, Capability.HAS_MOMENTUM),
)
def rmsprop(
    *,
    lr: Hyperparameter = 1e-2,
    alpha: Hyperparameter = 0.99,
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
    momentum: Hyperparameter = 0.0,
    centered: bool = False,
) -> GradientTransformation:
    """RMSprop, as ``torch.optim.RMSprop``.

    ``g <- g + wd * p``; ``v <- alpha v + (1 - alpha) g^2``; ``den = sqrt(v) + eps`` (centered:
    ``sqrt(v - gbar^2) + eps`` with ``gbar`` an EMA of g); ``d = g / den``, or with momentum
    ``b <- mu b + g / den``; ``p <- p - lr d``. No bias correction: the first steps are large.

    Args:
        lr: step size.
        alpha: decay of the squared-gradient EMA.
        eps: added outside the square root.
        weight_decay: coupled L2 coefficient.
        momentum: ``mu`` of a buffer over the normalised gradient; 0 for none.
        centered: normalise by an estimate of the variance instead of the second moment.

    Example:
        >>> p = [torch.ones(2)]; tx = rmsprop(lr=0.1, alpha=0.75)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.2000, -0.2000])

    References:
        Hinton, Neural Networks for Machine Learning, lecture 6e, 2012.
        Graves, Generating Sequences With Recurrent Neural Networks, 2013, https://arxiv.org/abs/1308.0850.
    """
    direction = scale_by_rms(alpha, eps, centered=centered)
    if not off(momentum):
        direction = chain(direction, scale_by_momentum(momentum))
    # torch adds the momentum buffer with alpha=-lr, and g / den with addcdiv's value=-lr
    return descend(direction, lr, weight_decay, decoupled=False, adds_with_alpha=not off(momentum))


@_REGISTRY.register(
    "adadelta",
    summary="Steps from the ratio of RMS of past updates to RMS of gradients; lr 1 needs no tuning.",
    paper="Zeiler 2012, arXiv:1212.5701",
    accepts={**COMMON, "rho": UNIT, "eps": EPS},
    capabilities=(Capability.ELEMENTWISE, Capability.TORCH_REFERENCE),
)
def adadelta(
    *,
    lr: Hyperparameter = 1.0,
    rho: Hyperparameter = 0.9,
    eps: Hyperparameter = 1e-6,
    weight_decay: Hyperparameter = 0.0,
) -> GradientTransformation:
    """AdaDelta, as ``torch.optim.Adadelta``.

    ``g <- g + wd * p``; ``v <- rho v + (1 - rho) g^2``; ``d = sqrt(D + eps) / sqrt(v + eps) * g``;
    ``D <- rho D + (1 - rho) d^2``; ``p <- p - lr * d``.

    Args:
        lr: a multiplier the paper does not have (1 recovers it); ``D`` accumulates ``d`` before it.
        rho: decay of both EMAs.
        eps: added inside both square roots; it sets the size of the first steps (``sqrt(eps)``).
        weight_decay: coupled L2 coefficient.

    Example:
        >>> p = [torch.ones(2)]; tx = adadelta(lr=1.0, rho=0.0, eps=1.0)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.7071, -0.7071])

    References:
        Zeiler, ADADELTA: An Adaptive Learning Rate Method, 2012, https://arxiv.org/abs/1212.5701.
    """
    return descend(scale_by_adadelta(rho, eps), lr, weight_decay, decoupled=False, adds_with_alpha=True)
