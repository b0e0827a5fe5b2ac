"""Sign-based steps: Lion."""

from __future__ import annotations

from optimlab.optim.base import GradientTransformation, Hyperparameter
from optimlab.optim.optimizers._descent import COMMON, descend
from optimlab.optim.transforms import scale_by_lion
from optimlab.registry import UNIT_OPEN, Capability, new_registry

__all__ = ["lion"]

_REGISTRY = new_registry("optimizer")


@_REGISTRY.register(
    "lion",
    summary="Sign of an interpolated momentum; uniform step size, less memory than Adam.",
    paper="Chen et al. 2023, arXiv:2302.06675",
    # betas in [0, 1), as the authors' code (google/automl lion/lion_pytorch.py) checks them
    accepts={**COMMON, "betas": UNIT_OPEN},
    capabilities=(Capability.ELEMENTWISE, Capability.HAS_BETAS, Capability.HAS_MOMENTUM),
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
    return descend(scale_by_lion(b1, b2), lr, weight_decay, decoupled=True)
