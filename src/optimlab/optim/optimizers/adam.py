"""Adaptive moments: Adam, AdamW, AMSGrad, NAdam, RAdam and Adamax, as ``torch.optim`` has them.

>>> import torch
>>> p = [torch.ones(2)]
>>> tx = adamw(lr=0.1, weight_decay=0.5)
>>> delta, state = tx.update([torch.ones(2)], tx.init(p), p)
>>> delta[0]  # -lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)
tensor([-0.1500, -0.1500])
"""

from __future__ import annotations

import functools

from optimlab.optim.base import GradientTransformation, Hyperparameter
from optimlab.optim.optimizers._descent import ADAM_LIKE, FLAG, descend
from optimlab.optim.transforms import scale_by_adam, scale_by_adamax, scale_by_nadam, scale_by_radam
from optimlab.registry import NON_NEGATIVE, Capability, new_registry

__all__ = ["adam", "adamax", "adamw", "amsgrad", "nadam", "radam"]

_REGISTRY = new_registry("optimizer")
_TORCH_ADAM = (Capability.ELEMENTWISE, Capability.TORCH_REFERENCE, Capability.HAS_BETAS)


@_REGISTRY.register(
    "adam",
    summary="Adaptive moments: bias-corrected EMAs of the gradient and its square.",
    paper="Kingma & Ba 2014, arXiv:1412.6980",
    accepts={**ADAM_LIKE, "amsgrad": FLAG, "decoupled_weight_decay": FLAG},
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
    return descend(
        scale_by_adam(b1, b2, eps, amsgrad=amsgrad), lr, weight_decay, decoupled=decoupled_weight_decay
    )


@_REGISTRY.register(
    "adamw",
    summary="Adam with decoupled weight decay p <- p (1 - lr wd).",
    paper="Loshchilov & Hutter 2017, arXiv:1711.05101",
    accepts={**ADAM_LIKE, "amsgrad": FLAG},
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
    accepts={**ADAM_LIKE, "decoupled_weight_decay": FLAG},
    defaults={"amsgrad": True},
    capabilities=_TORCH_ADAM,
)


@_REGISTRY.register(
    "nadam",
    summary="Adam with Nesterov momentum and a slowly rising momentum schedule.",
    paper="Dozat 2016, ICLR workshop",
    accepts={**ADAM_LIKE, "momentum_decay": NON_NEGATIVE, "decoupled_weight_decay": FLAG},
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
    return descend(direction, lr, weight_decay, decoupled=decoupled_weight_decay)


@_REGISTRY.register(
    "radam",
    summary="Rectified Adam: momentum SGD until the second-moment estimate's variance is tractable.",
    paper="Liu et al. 2019, arXiv:1908.03265",
    accepts={**ADAM_LIKE, "decoupled_weight_decay": FLAG},
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
    # torch's step rounds lr * m_hat * ... to a float16/bfloat16 parameter's dtype before adding it
    radam_step = scale_by_radam(b1, b2, eps)
    return descend(radam_step, lr, weight_decay, decoupled=decoupled_weight_decay, round_product=True)


@_REGISTRY.register(
    "adamax",
    summary="Adam under the infinity norm: steps scaled by a decaying max of |g|.",
    paper="Kingma & Ba 2014, arXiv:1412.6980 (section 7)",
    accepts=ADAM_LIKE,
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
    return descend(scale_by_adamax(b1, b2, eps), lr, weight_decay, decoupled=False)
