"""Adafactor: Adam-like steps from a factored second moment, sized relative to the weights.

Shazeer & Stern, Adafactor: Adaptive Learning Rates with Sublinear Memory Cost, 2018,
https://arxiv.org/abs/1804.04235.
"""

from __future__ import annotations

from optimlab.optim.base import GradientTransformation, Hyperparameter, chain, value_at
from optimlab.optim.optimizers._descent import EPS
from optimlab.optim.transforms.decay import add_decayed_weights
from optimlab.optim.transforms.factored_rms import scale_by_factored_rms
from optimlab.optim.transforms.scaling import scale
from optimlab.registry import NON_NEGATIVE, Capability, Interval, new_registry

__all__ = ["adafactor"]

_REGISTRY = new_registry("optimizer")


@_REGISTRY.register(
    "adafactor",
    summary="Factored second moment (row and column statistics), relative step size, update clipping.",
    paper="Shazeer & Stern 2018, arXiv:1804.04235",
    accepts={
        "lr": NON_NEGATIVE,
        "beta2_decay": Interval(None, 0),
        "eps1": EPS,
        "eps2": EPS,
        "d": Interval(1, None),
        "weight_decay": NON_NEGATIVE,
    },
    left_out={"eps1": "the machine epsilon of the parameter's dtype (torch's Adafactor)"},
    capabilities=(Capability.FACTORED, Capability.RELATIVE_STEP),
)
def adafactor(
    *,
    lr: Hyperparameter = 1e-2,
    beta2_decay: float = -0.8,
    eps1: float | None = None,
    eps2: float = 1e-3,
    d: float = 1.0,
    weight_decay: Hyperparameter = 0.0,
) -> GradientTransformation:
    """Adafactor, as ``torch.optim.Adafactor`` (same defaults; torch's ``eps=(eps1, eps2)`` is split).

    With ``t`` the step: ``1 - beta2_t = t^beta2_decay``; for a tensor of 2 or more dimensions
    ``R <- lerp(R, mean_cols(g^2), 1 - beta2_t)``, ``C <- lerp(C, mean_rows(g^2), 1 - beta2_t)``,
    ``V = R C / max(mean(R), eps1)`` (vectors keep the full EMA of ``g^2``);
    ``U = g / sqrt(max(V, eps1^2))``, clipped to ``U / max(1, RMS(U) / d)``;
    ``alpha_t = max(eps2, RMS(p)) * min(lr, 1 / sqrt(t))``; ``p <- p (1 - lr wd) - alpha_t U``.
    There is no first moment: memory is ``n + m`` numbers per ``n x m`` matrix.

    Args:
        lr: the cap of the relative step ``min(lr, 1 / sqrt(t))``; from ``t > 1 / lr^2`` on the step
            decays as ``1 / sqrt(t)``, so a separate schedule is rarely needed.
        beta2_decay: ``c <= 0`` in ``1 - beta2_t = t^c``; -0.8 as in the paper (0 would be a plain mean).
        eps1: floor of the variance estimate; None uses the dtype's machine epsilon (torch's default).
        eps2: floor of ``RMS(p)`` in the relative step, so zero-initialised weights still move.
        d: clipping threshold on the RMS of the normalised update.
        weight_decay: decoupled, multiplied by lr (not by ``alpha_t``, unlike Hugging Face's Adafactor).

    Example:
        >>> p = [torch.full((2, 3), 0.5)]; tx = adafactor(lr=0.1)
        >>> delta, state = tx.update([torch.ones(2, 3)], tx.init(p), p)
        >>> delta[0]  # -max(eps2, RMS(p)) * min(lr, 1) * sign(g)
        tensor([[-0.0500, -0.0500, -0.0500],
                [-0.0500, -0.0500, -0.0500]])

    References:
        Shazeer & Stern, Adafactor: Adaptive Learning Rates with Sublinear Memory Cost, 2018,
        https://arxiv.org/abs/1804.04235. ``torch.optim.Adafactor``, pytorch/pytorch#129905.
    """

    def decay(step: int) -> Hyperparameter:
        return value_at(lr, step) * value_at(weight_decay, step)

    return chain(
        scale_by_factored_rms(lr, beta2_decay, (eps1, eps2), d),
        add_decayed_weights(decay if callable(lr) or callable(weight_decay) else lr * weight_decay),
        scale(-1.0),
    )
