"""Schedule-free SGD and AdamW: iterate averaging in place of a learning-rate schedule."""

from __future__ import annotations

from optimlab.optim.base import GradientTransformation, Hyperparameter, chain
from optimlab.optim.optimizers._descent import ADAM_LIKE, COMMON, OPEN_UNIT
from optimlab.optim.transforms import add_decayed_weights, scale_by_rms, schedule_free
from optimlab.registry import NON_NEGATIVE, NON_NEGATIVE_INT, UNIT_OPEN, Capability, Each, new_registry

__all__ = ["schedule_free_adamw", "schedule_free_sgd"]

_REGISTRY = new_registry("optimizer")


@_REGISTRY.register(
    "schedule_free_sgd",
    summary="Schedule-free SGD: momentum by interpolating iterates with their average; no lr schedule.",
    paper="Defazio et al. 2024, arXiv:2405.15682",
    accepts={
        **COMMON,
        "momentum": OPEN_UNIT,
        "warmup_steps": NON_NEGATIVE_INT,
        "r": NON_NEGATIVE,
        "weight_lr_power": NON_NEGATIVE,
    },
    aliases=("sgd_schedule_free",),
    capabilities=(Capability.ELEMENTWISE, Capability.HAS_MOMENTUM, Capability.TRAIN_EVAL_MODES),
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
    ``eval()`` before evaluating: the parameters hold ``y`` in one mode and ``x`` in the other, and
    ``eval()`` keeps a copy of ``y`` (memory of one more copy of the parameters, until ``train()``)
    so that evaluating leaves the training bit for bit as it was.

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
        **ADAM_LIKE,
        # b1 is the interpolation beta, which eval() divides by (x = y + (1 - 1/b1)(z - y)): at b1 = 0,
        # y = z holds no x, as schedule_free_sgd's momentum; b2 in [0, 1) as Adam's
        # (pytorch_optimizer.ScheduleFreeAdamW checks the same two ranges).
        "betas": Each(OPEN_UNIT, UNIT_OPEN),
        "warmup_steps": NON_NEGATIVE_INT,
        "r": NON_NEGATIVE,
        "weight_lr_power": NON_NEGATIVE,
    },
    aliases=("adamw_schedule_free",),
    capabilities=(
        Capability.ELEMENTWISE,
        Capability.HAS_BETAS,
        Capability.HAS_MOMENTUM,
        Capability.TRAIN_EVAL_MODES,
    ),
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
