"""Adan: adaptive Nesterov momentum from the gradient and its first difference."""

from __future__ import annotations

from optimlab.optim.base import GradientTransformation, Hyperparameter, chain, value_at
from optimlab.optim.optimizers._descent import ADAM_LIKE, FLAG, descend, off
from optimlab.optim.transforms import clip_by_global_norm, scale, scale_by_adan
from optimlab.registry import NON_NEGATIVE, Capability, new_registry

__all__ = ["adan"]

_REGISTRY = new_registry("optimizer")


@_REGISTRY.register(
    "adan",
    summary="Adaptive Nesterov momentum from moments of the gradient and its first difference.",
    paper="Xie et al. 2022, arXiv:2208.06677",
    accepts={**ADAM_LIKE, "max_grad_norm": NON_NEGATIVE, "no_prox": FLAG},
    capabilities=(Capability.ELEMENTWISE, Capability.HAS_BETAS, Capability.HAS_MOMENTUM),
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
            The norm is that of the param group's gradients: the authors' code takes one norm over
            every group, so with several groups the two differ (by 4e-2 after 100 steps of the optim
            tests' problem in two groups); to clip over all groups, leave this 0 and call
            ``torch.nn.utils.clip_grad_norm_`` before ``step()``.
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
    descent = descend(direction, lr, weight_decay, decoupled=True)
    if no_prox or off(weight_decay):
        return descent

    def proximal(step: int) -> Hyperparameter:  # (p - lr (s + wd p)) / (1 + lr wd) - p, as a factor
        return 1 / (1 + value_at(lr, step) * value_at(weight_decay, step))

    return chain(descent, scale(proximal))
