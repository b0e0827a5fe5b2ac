"""Adafactor's step: a factored second moment, update clipping and a relative step size.

Shazeer & Stern, Adafactor: Adaptive Learning Rates with Sublinear Memory Cost, 2018,
https://arxiv.org/abs/1804.04235, in the form of ``torch.optim.Adafactor`` (eps1 applied to the
variance estimate, not to ``u^2``; means instead of sums).

For a tensor of 2 or more dimensions, only the EMA of the row means ``R`` and of the column means
``C`` of ``u^2`` over the last two dimensions are kept (``n + m`` numbers for ``n x m``; leading
dimensions are a batch), and ``u^2`` is estimated by the rank-1 ``V = R C / mean(R)``. Vectors and
scalars keep the full EMA. Row and column reductions and two RMS norms per tensor: not elementwise.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimlab.optim.base import GradientTransformation, Hyperparameter, Params, Updates, value_at

__all__ = ["ScaleByFactoredRmsState", "scale_by_factored_rms"]


class ScaleByFactoredRmsState(NamedTuple):
    count: int
    row: list[Tensor | None]  # R, EMA of the row means of u^2, shape (..., n, 1); None below 2-D
    col: list[Tensor | None]  # C, EMA of the column means of u^2, shape (..., 1, m); None below 2-D
    nu: list[Tensor | None]  # V, EMA of u^2 for vectors and scalars; None from 2-D up


def _mean_square(u: Tensor, dim: int) -> Tensor:
    """``mean(u^2)`` along ``dim`` (kept), as a squared norm: no temporary of ``u``'s size. 0 along an
    empty ``dim`` (an ``n x 0`` matrix), where a mean is 0/0: a NaN kept in the state for good."""
    return torch.linalg.vector_norm(u, dim=dim, keepdim=True).square_().div_(max(u.size(dim), 1))


def scale_by_factored_rms(
    learning_rate: Hyperparameter = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
) -> GradientTransformation:
    """``u <- alpha_t * U / max(1, RMS(U) / d)``, ``U = u / sqrt(max(V, eps1^2))``.

    With ``t`` the step (1-based):

    - ``V`` is an EMA of ``u^2`` with weight ``1 - beta2_t = t^beta2_decay`` on the new value (so the
      first step takes ``u^2`` whole), factored as ``R C / max(mean(R), eps1)`` from 2-D up.
    - Update clipping divides ``U`` by ``max(1, RMS(U) / d)``.
    - The relative step ``alpha_t = max(eps2, RMS(p)) * min(learning_rate, 1 / sqrt(t))`` scales the
      step by the size of the weights, RMS taken before this step's weight decay.

    The result is the step to subtract; chain ``add_decayed_weights(lr * wd)`` and ``scale(-1)`` after
    it for ``torch.optim.Adafactor``, whose decay ``p <- p (1 - lr wd)`` uses lr, not ``alpha_t``.

    Args:
        learning_rate: the cap of the relative step; lr >= 0.1 lets ``1 / sqrt(t)`` bind from step 100.
        beta2_decay: ``c <= 0`` in ``1 - beta2_t = t^c``; the paper's -0.8.
        eps: ``(eps1, eps2)``: eps1 floors the variance estimate (``finfo(dtype).eps`` when None);
            eps2 floors the RMS of the weights, so zero-initialised weights still move.
        d: the clipping threshold on ``RMS(U)``, >= 1.
    """
    eps1, eps2 = eps

    def init(params: Params) -> ScaleByFactoredRmsState:
        factored = [p.ndim >= 2 for p in params]
        return ScaleByFactoredRmsState(
            count=0,
            row=[p.new_zeros((*p.shape[:-1], 1)) if f else None for p, f in zip(params, factored)],
            col=[
                p.new_zeros((*p.shape[:-2], 1, p.shape[-1])) if f else None for p, f in zip(params, factored)
            ],
            nu=[None if f else torch.zeros_like(p) for p, f in zip(params, factored)],
        )

    def update(
        updates: Updates, state: ScaleByFactoredRmsState, params: Params
    ) -> tuple[Updates, ScaleByFactoredRmsState]:
        t = state.count + 1
        new_weight = t**beta2_decay
        relative_step = min(value_at(learning_rate, state.count), t**-0.5)
        out = []
        for u, p, row, col, nu in zip(updates, params, state.row, state.col, state.nu):
            floor = torch.finfo(p.dtype).eps if eps1 is None else eps1
            if row is not None:
                row.lerp_(_mean_square(u, -1), new_weight)
                col.lerp_(_mean_square(u, -2), new_weight)
                variance = row @ col
                variance.div_(row.mean(dim=-2, keepdim=True).clamp_(min=floor))
            else:
                nu.lerp_(u * u, new_weight)
                variance = nu.clone()
            step = variance.clamp_(min=floor * floor).rsqrt_().mul_(u)
            clip = (torch.linalg.vector_norm(step) / (step.numel() ** 0.5 * d)).clamp_(min=1.0)
            alpha = (torch.linalg.vector_norm(p) / p.numel() ** 0.5).clamp_(min=eps2) * relative_step
            out.append(step.mul_(alpha / clip))
        return out, ScaleByFactoredRmsState(t, state.row, state.col, state.nu)

    return GradientTransformation(init, update)
