"""Named optimizers: each a short chain of transforms plus its registry entry (category ``optimizer``).

Every factory returns a :class:`~optimlab.optim.base.GradientTransformation` whose update is the final
delta ``p <- p + delta``. Keyword names and defaults are those of ``torch.optim`` where torch has the
optimizer (``lr``, ``betas``, ``weight_decay`` ...), so a torch user finds them where expected; any of
them may be a float, a schedule ``step -> float`` or a ``(K,)`` tensor. Use them through
:func:`optimlab.optim.create` (a ``torch.optim.Optimizer``) or functionally:

>>> import torch
>>> p = [torch.ones(2)]
>>> tx = adamw(lr=0.1, weight_decay=0.5)
>>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
>>> delta[0]  # -lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)
tensor([-0.1500, -0.1500])

Weight decay is coupled (L2, added to the gradient before the preconditioner) or decoupled (added to
the direction after it, then multiplied by lr); see :mod:`optimlab.optim.transforms.decay`.
"""

from __future__ import annotations

import functools

from optimlab.errors import InvalidValueError
from optimlab.optim.base import GradientTransformation, Hyperparameter, chain, identity, value_at
from optimlab.optim.transforms import (
    add_decayed_weights,
    clip_by_global_norm,
    scale,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_adan,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_momentum,
    scale_by_nadam,
    scale_by_radam,
    scale_by_rms,
    schedule_free,
)
from optimlab.registry import NON_NEGATIVE, NON_NEGATIVE_INT, UNIT, UNIT_OPEN, Interval, new_registry

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "adan",
    "amsgrad",
    "lion",
    "momentum",
    "nadam",
    "nesterov",
    "radam",
    "rmsprop",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "sgd",
]

_REGISTRY = new_registry("optimizer")

# Ranges as torch.optim checks them (lr = 0 is allowed: it freezes a param group).
_COMMON = {"lr": NON_NEGATIVE, "weight_decay": NON_NEGATIVE}
_ADAM_LIKE = {**_COMMON, "betas": UNIT_OPEN, "eps": NON_NEGATIVE}
_FLAG = (True, False)
_OPEN_UNIT = Interval(0, 1, open_low=True, open_high=True)
_TORCH_ADAM = ("elementwise", "torch_reference", "has_betas")


def _off(hyperparameter: Hyperparameter) -> bool:
    """A hyperparameter fixed at exactly 0 switches its transform off (a schedule never does)."""
    return isinstance(hyperparameter, (int, float)) and hyperparameter == 0


def _descend(
    direction: GradientTransformation,
    lr: Hyperparameter,
    weight_decay: Hyperparameter,
    *,
    decoupled: bool,
) -> GradientTransformation:
    """``-lr * direction`` with weight decay coupled (through ``direction``) or decoupled (beside it)."""
    decay = add_decayed_weights(weight_decay)
    steps = (direction, decay) if decoupled else (decay, direction)
    return chain(*steps, scale_by_learning_rate(lr))


@_REGISTRY.register(
    "sgd",
    summary="Stochastic gradient descent, optionally with momentum, dampening and Nesterov.",
    paper="Robbins & Monro 1951, doi:10.1214/aoms/1177729586",
    accepts={**_COMMON, "momentum": UNIT_OPEN, "dampening": UNIT, "nesterov": _FLAG},
    capabilities=("elementwise", "torch_reference", "has_momentum"),
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
    if nesterov and (_off(momentum) or not _off(dampening)):
        raise InvalidValueError(
            "optimizer 'sgd' hyperparameter 'nesterov'",
            nesterov,
            "True only with momentum > 0 and dampening 0",
        )
    direction = identity() if _off(momentum) else scale_by_momentum(momentum, dampening, nesterov=nesterov)
    return _descend(direction, lr, weight_decay, decoupled=False)


momentum = functools.partial(sgd, momentum=0.9)
momentum.__doc__ = "Heavy-ball momentum: :func:`sgd` with ``momentum=0.9`` (torch: SGD(momentum=0.9))."
_REGISTRY.register(
    "momentum",
    obj=momentum,
    summary="SGD with heavy-ball momentum (default 0.9).",
    paper="Polyak 1964, doi:10.1016/0041-5553(64)90137-5",
    accepts={**_COMMON, "momentum": UNIT_OPEN, "dampening": UNIT, "nesterov": _FLAG},
    aliases=("heavy_ball", "sgd_momentum"),
    capabilities=("elementwise", "torch_reference", "has_momentum"),
)

nesterov = functools.partial(sgd, momentum=0.9, nesterov=True)
nesterov.__doc__ = "Nesterov momentum: :func:`sgd` with ``momentum=0.9, nesterov=True``."
_REGISTRY.register(
    "nesterov",
    obj=nesterov,
    summary="SGD with Nesterov momentum in the reparameterised (look-ahead) form of torch.",
    paper="Sutskever et al. 2013 (ICML); Bengio et al. 2012, arXiv:1212.0901",
    accepts={**_COMMON, "momentum": _OPEN_UNIT},
    aliases=("nag", "sgd_nesterov"),
    defaults={"nesterov": True, "dampening": 0.0},
    capabilities=("elementwise", "torch_reference", "has_momentum"),
)


@_REGISTRY.register(
    "adagrad",
    summary="Per-coordinate steps scaled by the root of the summed squared gradients.",
    paper="Duchi, Hazan & Singer 2011, JMLR 12:2121",
    accepts={
        **_COMMON,
        "lr_decay": NON_NEGATIVE,
        "initial_accumulator_value": NON_NEGATIVE,
        "eps": NON_NEGATIVE,
    },
    capabilities=("elementwise", "torch_reference"),
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
        initial_accumulator_value: starting value of ``G`` (0.1 in the paper's experiments).
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
    return _descend(direction, lr if lr_decay == 0 else decayed_lr, weight_decay, decoupled=False)


@_REGISTRY.register(
    "rmsprop",
    summary="Steps scaled by the root of an EMA of squared gradients; optional centering and momentum.",
    paper="Hinton 2012, Coursera lecture 6e; centered: Graves 2013, arXiv:1308.0850",
    accepts={**_COMMON, "alpha": UNIT, "eps": NON_NEGATIVE, "momentum": UNIT_OPEN, "centered": _FLAG},
    capabilities=("elementwise", "torch_reference", "has_momentum"),
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
    if not _off(momentum):
        direction = chain(direction, scale_by_momentum(momentum))
    return _descend(direction, lr, weight_decay, decoupled=False)


@_REGISTRY.register(
    "adadelta",
    summary="Steps from the ratio of RMS of past updates to RMS of gradients; lr 1 needs no tuning.",
    paper="Zeiler 2012, arXiv:1212.5701",
    accepts={**_COMMON, "rho": UNIT, "eps": NON_NEGATIVE},
    capabilities=("elementwise", "torch_reference"),
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
    return _descend(scale_by_adadelta(rho, eps), lr, weight_decay, decoupled=False)


@_REGISTRY.register(
    "adam",
    summary="Adaptive moments: bias-corrected EMAs of the gradient and its square.",
    paper="Kingma & Ba 2014, arXiv:1412.6980",
    accepts={**_ADAM_LIKE, "amsgrad": _FLAG, "decoupled_weight_decay": _FLAG},
    capabilities=_TORCH_ADAM,
)
def adam(
    *,
    lr: Hyperparameter = 1e-3,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
    amsgrad: bool = False,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    """Adam, as ``torch.optim.Adam``.

    ``m <- b1 m + (1 - b1) g``; ``v <- b2 v + (1 - b2) g^2``;
    ``p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)``.

    Args:
        lr: step size; the first step moves each coordinate by about lr.
        betas: ``(b1, b2)``, decays of the first and second moment EMAs.
        eps: added after bias correction, outside the root (the paper's form differs by
            ``sqrt(1 - b2^t)``).
        weight_decay: L2 coefficient added to the gradient, or decoupled (AdamW) if
            ``decoupled_weight_decay``.
        amsgrad: divide by the running max of ``v`` (see :func:`amsgrad`).
        decoupled_weight_decay: ``p <- p (1 - lr wd)`` beside the Adam step instead of through it.

    Example:
        >>> p = [torch.ones(2)]; tx = adam(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.1000, -0.1000])

    References:
        Kingma & Ba, Adam: A Method for Stochastic Optimization, 2014, https://arxiv.org/abs/1412.6980.
    """
    b1, b2 = betas
    return _descend(
        scale_by_adam(b1, b2, eps, amsgrad=amsgrad), lr, weight_decay, decoupled=decoupled_weight_decay
    )


@_REGISTRY.register(
    "adamw",
    summary="Adam with decoupled weight decay p <- p (1 - lr wd).",
    paper="Loshchilov & Hutter 2017, arXiv:1711.05101",
    accepts={**_ADAM_LIKE, "amsgrad": _FLAG},
    capabilities=_TORCH_ADAM,
)
def adamw(
    *,
    lr: Hyperparameter = 1e-3,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 1e-2,
    amsgrad: bool = False,
) -> GradientTransformation:
    """AdamW, as ``torch.optim.AdamW``: :func:`adam` with decoupled weight decay.

    ``p <- p - lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)``. The decay is multiplied by lr, as in
    torch; the paper multiplies it by the schedule multiplier only, so its lambda is ``wd * lr`` here.
    Arguments as :func:`adam`.

    References:
        Loshchilov & Hutter, Decoupled Weight Decay Regularization, 2017, https://arxiv.org/abs/1711.05101.
    """
    return adam(
        lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, decoupled_weight_decay=True
    )


amsgrad = functools.partial(adam, amsgrad=True)
amsgrad.__doc__ = (
    "AMSGrad: :func:`adam` with ``amsgrad=True`` (max of the raw v, both bias corrections kept)."
)
_REGISTRY.register(
    "amsgrad",
    obj=amsgrad,
    summary="Adam dividing by the running maximum of the second moment.",
    paper="Reddi, Kale & Kumar 2018, arXiv:1904.09237",
    accepts={**_ADAM_LIKE, "decoupled_weight_decay": _FLAG},
    defaults={"amsgrad": True},
    capabilities=_TORCH_ADAM,
)


@_REGISTRY.register(
    "nadam",
    summary="Adam with Nesterov momentum and a slowly rising momentum schedule.",
    paper="Dozat 2016, ICLR workshop",
    accepts={**_ADAM_LIKE, "momentum_decay": NON_NEGATIVE, "decoupled_weight_decay": _FLAG},
    capabilities=_TORCH_ADAM,
)
def nadam(
    *,
    lr: Hyperparameter = 2e-3,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    """NAdam, as ``torch.optim.NAdam``.

    ``mu_t = b1 (1 - 0.5 * 0.96^(t psi))``, ``P_t = mu_1 ... mu_t``; with ``den = sqrt(v_hat) + eps``:
    ``p <- p - lr (1 - mu_t) / (1 - P_t) g / den - lr mu_{t+1} / (1 - P_t mu_{t+1}) m / den``.

    Args:
        lr: step size.
        betas: ``(b1, b2)``; b1 caps the momentum schedule, which starts near ``b1 / 2``.
        eps: added after bias correction, outside the root.
        weight_decay: coupled L2, or decoupled with ``decoupled_weight_decay``.
        momentum_decay: ``psi``, how fast ``mu_t`` rises towards ``b1``.
        decoupled_weight_decay: ``p <- p (1 - lr wd)`` beside the step.

    Example:
        >>> p = [torch.ones(2)]; tx = nadam(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]  # -lr * (1 + mu_2 / (1 - mu_1 mu_2)): the Nesterov look-ahead
        tensor([-0.1056, -0.1056])

    References:
        Dozat, Incorporating Nesterov Momentum into Adam, ICLR workshop 2016,
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ.
    """
    b1, b2 = betas
    direction = scale_by_nadam(b1, b2, eps, momentum_decay)
    return _descend(direction, lr, weight_decay, decoupled=decoupled_weight_decay)


@_REGISTRY.register(
    "radam",
    summary="Rectified Adam: momentum SGD until the second-moment estimate's variance is tractable.",
    paper="Liu et al. 2019, arXiv:1908.03265",
    accepts={**_ADAM_LIKE, "decoupled_weight_decay": _FLAG},
    capabilities=_TORCH_ADAM,
)
def radam(
    *,
    lr: Hyperparameter = 1e-3,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
    decoupled_weight_decay: bool = False,
) -> GradientTransformation:
    """RAdam, as ``torch.optim.RAdam``.

    ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``; if ``rho_t > 5``:
    ``p <- p - lr r_t m_hat sqrt(1 - b2^t) / (sqrt(v) + eps)``, else ``p <- p - lr m_hat``.

    Args:
        lr: step size.
        betas: ``(b1, b2)``; for b2 = 0.999 the first 5 steps are bias-corrected momentum SGD.
        eps: added to the *uncorrected* ``sqrt(v)``, unlike Adam.
        weight_decay: coupled L2, or decoupled with ``decoupled_weight_decay`` (the authors' choice).
        decoupled_weight_decay: ``p <- p (1 - lr wd)`` beside the step.

    Example:
        >>> p = [torch.ones(2)]; tx = radam(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.1000, -0.1000])

    References:
        Liu et al., On the Variance of the Adaptive Learning Rate and Beyond, 2019,
        https://arxiv.org/abs/1908.03265.
    """
    b1, b2 = betas
    return _descend(scale_by_radam(b1, b2, eps), lr, weight_decay, decoupled=decoupled_weight_decay)


@_REGISTRY.register(
    "adamax",
    summary="Adam under the infinity norm: steps scaled by a decaying max of |g|.",
    paper="Kingma & Ba 2014, arXiv:1412.6980 (section 7)",
    accepts=_ADAM_LIKE,
    capabilities=_TORCH_ADAM,
)
def adamax(
    *,
    lr: Hyperparameter = 2e-3,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
) -> GradientTransformation:
    """Adamax, as ``torch.optim.Adamax``.

    ``g <- g + wd p``; ``m <- b1 m + (1 - b1) g``; ``w <- max(b2 w, |g| + eps)``;
    ``p <- p - lr / (1 - b1^t) * m / w``.

    Args:
        lr: step size.
        betas: ``(b1, b2)``, decays of the first moment and of the max.
        eps: added to ``|g|`` inside the max (the paper has none).
        weight_decay: coupled L2 coefficient.

    Example:
        >>> p = [torch.ones(2)]; tx = adamax(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.1000, -0.1000])

    References:
        Kingma & Ba, Adam: A Method for Stochastic Optimization, 2014, section 7.1,
        https://arxiv.org/abs/1412.6980.
    """
    b1, b2 = betas
    return _descend(scale_by_adamax(b1, b2, eps), lr, weight_decay, decoupled=False)


@_REGISTRY.register(
    "lion",
    summary="Sign of an interpolated momentum; uniform step size, less memory than Adam.",
    paper="Chen et al. 2023, arXiv:2302.06675",
    accepts={**_COMMON, "betas": UNIT},
    capabilities=("elementwise", "has_betas", "has_momentum"),
)
def lion(
    *,
    lr: Hyperparameter = 1e-4,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.99),
    weight_decay: Hyperparameter = 0.0,
) -> GradientTransformation:
    """Lion (EvoLved Sign Momentum), as the authors' PyTorch code and ``lion_pytorch``.

    ``p <- p (1 - lr wd)``; ``p <- p - lr sign(b1 m + (1 - b1) g)``; ``m <- b2 m + (1 - b2) g``.

    Args:
        lr: the size of every coordinate's step (the sign is +-1); use 3-10x less than for AdamW.
        betas: ``(b1, b2)``: b1 mixes the gradient into the step, b2 is the momentum's own decay.
        weight_decay: decoupled, multiplied by lr; use 3-10x more than for AdamW.

    Example:
        >>> p = [torch.ones(2)]; tx = lion(lr=0.1)
        >>> delta, state = tx.update([torch.tensor([2.0, -3.0])], tx.init(p), p)
        >>> delta[0]
        tensor([-0.1000,  0.1000])

    References:
        Chen et al., Symbolic Discovery of Optimization Algorithms, 2023, https://arxiv.org/abs/2302.06675.
    """
    b1, b2 = betas
    return _descend(scale_by_lion(b1, b2), lr, weight_decay, decoupled=True)


@_REGISTRY.register(
    "adan",
    summary="Adaptive Nesterov momentum from moments of the gradient and its first difference.",
    paper="Xie et al. 2022, arXiv:2208.06677",
    accepts={**_ADAM_LIKE, "max_grad_norm": NON_NEGATIVE, "no_prox": _FLAG},
    capabilities=("elementwise", "has_betas", "has_momentum"),
)
def adan(
    *,
    lr: Hyperparameter = 1e-3,
    betas: tuple[Hyperparameter, Hyperparameter, Hyperparameter] = (0.98, 0.92, 0.99),
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
    max_grad_norm: float = 0.0,
    no_prox: bool = False,
) -> GradientTransformation:
    """Adan, as the authors' code (sail-sg/Adan ``adan.py``).

    With ``D = g_t - g_{t-1}`` (0 at t = 1) and ``den = sqrt(n / (1 - b3^t)) + eps``:
    ``s = m / (1 - b1^t) / den + b2 d / (1 - b2^t) / den``; ``p <- (p - lr s) / (1 + lr wd)``, or with
    ``no_prox`` ``p <- p (1 - lr wd) - lr s``.

    Args:
        lr: step size.
        betas: ``(b1, b2, b3)`` in torch's convention, 1 minus the paper's (0.02, 0.08, 0.01).
        eps: added after bias correction, outside the root.
        weight_decay: decoupled decay, applied as a proximal step unless ``no_prox``.
        max_grad_norm: clip the gradients to this global norm first (``/(norm + eps)``); 0 is off.
        no_prox: decay multiplicatively like AdamW instead of the proximal division.

    Example:
        >>> p = [torch.ones(2)]; tx = adan(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.1000, -0.1000])

    References:
        Xie et al., Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep Models, 2022,
        https://arxiv.org/abs/2208.06677.
    """
    b1, b2, b3 = betas
    direction = scale_by_adan(b1, b2, b3, eps)
    if max_grad_norm > 0:
        direction = chain(clip_by_global_norm(max_grad_norm, eps=eps), direction)
    descent = _descend(direction, lr, weight_decay, decoupled=True)
    if no_prox or _off(weight_decay):
        return descent

    def proximal(step: int) -> Hyperparameter:  # (p - lr (s + wd p)) / (1 + lr wd) - p, as a factor
        return 1 / (1 + value_at(lr, step) * value_at(weight_decay, step))

    return chain(descent, scale(proximal))


@_REGISTRY.register(
    "schedule_free_sgd",
    summary="Schedule-free SGD: momentum by interpolating iterates with their average; no lr schedule.",
    paper="Defazio et al. 2024, arXiv:2405.15682",
    accepts={
        **_COMMON,
        "momentum": _OPEN_UNIT,
        "warmup_steps": NON_NEGATIVE_INT,
        "r": NON_NEGATIVE,
        "weight_lr_power": NON_NEGATIVE,
    },
    aliases=("sgd_schedule_free",),
    capabilities=("elementwise", "has_momentum", "train_eval_modes"),
)
def schedule_free_sgd(
    *,
    lr: Hyperparameter = 1.0,
    momentum: Hyperparameter = 0.9,
    weight_decay: Hyperparameter = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> GradientTransformation:
    """Schedule-free SGD, as ``schedulefree.SGDScheduleFree``.

    ``u = g(y) + wd y``; ``z <- z - g_t u``; ``x <- (1 - c) x + c z``; ``y = (1 - beta) z + beta x``
    (see :mod:`optimlab.optim.transforms.schedule_free`). Call ``train()`` before stepping and
    ``eval()`` before evaluating: the parameters hold ``y`` in one mode and ``x`` in the other.

    Args:
        lr: step size of ``z``; no schedule is needed beyond ``warmup_steps``.
        momentum: ``beta``, the interpolation between ``z`` and the average ``x`` at which the gradient
            is taken.
        weight_decay: L2 coefficient evaluated at ``y``.
        warmup_steps: linear warmup of lr over this many steps.
        r: polynomial weighting ``t^r`` of the average.
        weight_lr_power: the average weights each ``z`` by ``max lr so far ^ weight_lr_power``.

    Example:
        >>> p = [torch.ones(2)]; tx = schedule_free_sgd(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]  # c = 1 on step 1: y = x = z = p - lr * g
        tensor([-0.1000, -0.1000])

    References:
        Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682.
    """
    return chain(
        add_decayed_weights(weight_decay),
        schedule_free(lr, momentum, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power),
    )


@_REGISTRY.register(
    "schedule_free_adamw",
    summary="Schedule-free AdamW: RMS-normalised steps with iterate averaging; no lr schedule.",
    paper="Defazio et al. 2024, arXiv:2405.15682",
    accepts={
        **_ADAM_LIKE,
        "warmup_steps": NON_NEGATIVE_INT,
        "r": NON_NEGATIVE,
        "weight_lr_power": NON_NEGATIVE,
    },
    aliases=("adamw_schedule_free",),
    capabilities=("elementwise", "has_betas", "has_momentum", "train_eval_modes"),
)
def schedule_free_adamw(
    *,
    lr: Hyperparameter = 0.0025,
    betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    eps: Hyperparameter = 1e-8,
    weight_decay: Hyperparameter = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> GradientTransformation:
    """Schedule-free AdamW, as ``schedulefree.AdamWScheduleFree`` (1.3 and later).

    ``v <- b2 v + (1 - b2) g^2``; ``u = g / (sqrt(v / (1 - b2^t)) + eps) + wd y``; then the
    schedule-free update of :func:`schedule_free_sgd` with ``beta = b1``. Needs ``train()``/``eval()``.

    Args:
        lr: step size of ``z``.
        betas: ``(b1, b2)``: b1 is the interpolation ``beta`` (there is no first-moment EMA), b2 the
            decay of the second moment.
        eps: added after bias correction, outside the root.
        weight_decay: added to the normalised direction at ``y`` (not normalised itself).
        warmup_steps, r, weight_lr_power: as :func:`schedule_free_sgd`.

    Example:
        >>> p = [torch.ones(2)]; tx = schedule_free_adamw(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
        >>> delta[0]
        tensor([-0.1000, -0.1000])

    References:
        Defazio et al., The Road Less Scheduled, 2024, https://arxiv.org/abs/2405.15682.
    """
    b1, b2 = betas
    return chain(
        scale_by_rms(b2, eps, bias_correction=True),
        add_decayed_weights(weight_decay),
        schedule_free(lr, b1, warmup_steps=warmup_steps, r=r, weight_lr_power=weight_lr_power),
    )
