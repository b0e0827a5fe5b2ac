"""Muon's step: the nearest semi-orthogonal matrix to the update, by a quintic Newton-Schulz iteration.

Jordan et al., Muon: An optimizer for hidden layers in neural networks, 2024,
https://kellerjordan.github.io/posts/muon/; the RMS-matching scale from Liu et al., Muon is Scalable
for LLM Training, 2025, https://arxiv.org/abs/2502.16982. Written in the op order of
``torch.optim.Muon`` (pytorch/pytorch#160213), so that in bfloat16 both give the same bits.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError
from optimlab.optim.base import EmptyState, GradientTransformation, Params, Updates

__all__ = ["ADJUST_LR_FNS", "adjusted_lr_ratio", "newton_schulz", "orthogonalize_by_newton_schulz"]

AdjustLrFn = Literal["original", "match_rms_adamw"]
ADJUST_LR_FNS: tuple[str, ...] = ("original", "match_rms_adamw")


def newton_schulz(
    g: Tensor,
    coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
    steps: int = 5,
    eps: float = 1e-7,
    dtype: torch.dtype = torch.bfloat16,
) -> Tensor:
    """``X <- a X + (b A + c A^2) X`` with ``A = X X^T``, ``steps`` times, from ``X = G / ||G||_F``.

    For ``G = U S V^T`` this maps every singular value ``s`` through the odd quintic
    ``a s + b s^3 + c s^5`` repeatedly; the default coefficients maximise the slope at 0, so after 5
    steps the singular values land roughly in [0.7, 1.2] rather than at exactly 1 (enough for Muon).
    The iteration runs on the wide orientation (``X X^T`` is the smaller Gram matrix) and in
    ``dtype``; the result is returned in ``dtype``. Cost: ``steps * (4 m^2 n + 2 m^3)`` flops, ``m <= n``.

    >>> newton_schulz(torch.tensor([[3.0, 0.0], [0.0, 4.0]]), dtype=torch.float64)  # s / ||G|| = 0.6, 0.8
    tensor([[0.7229, 0.0000],
            [0.0000, 1.1192]], dtype=torch.float64)
    """
    a, b, c = coefficients
    x = g.to(dtype)
    tall = g.size(0) > g.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)  # ||X||_2 <= ||X||_F = 1: inside the region the quintic maps to ~1
    for _ in range(steps):
        gram = x @ x.T
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = torch.addmm(x, poly, x, beta=a)
    return x.T if tall else x


def adjusted_lr_ratio(shape: torch.Size, adjust_lr_fn: AdjustLrFn) -> float:
    """The factor on Muon's lr for an ``A x B`` matrix: ``sqrt(max(1, A / B))`` (Jordan, "original") or
    ``0.2 sqrt(max(A, B))`` (Liu et al., "match_rms_adamw": the update's RMS then matches AdamW's ~0.2)."""
    rows, cols = shape[:2]
    if adjust_lr_fn == "original":
        # an empty matrix (A x 0) has no update to scale; torch.optim.Muon divides by its 0 columns
        return math.sqrt(max(1, rows / cols)) if cols else 1.0
    return 0.2 * math.sqrt(max(rows, cols))


def orthogonalize_by_newton_schulz(
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
    ns_steps: int = 5,
    eps: float = 1e-7,
    *,
    adjust_lr_fn: AdjustLrFn = "original",
    ns_dtype: torch.dtype = torch.bfloat16,
) -> GradientTransformation:
    """``u <- s(shape) * NS(u)`` for each 2-D update: :func:`newton_schulz` times :func:`adjusted_lr_ratio`.

    The result is cast back to the update's dtype (exact from bfloat16). ``ns_dtype=torch.bfloat16`` is
    what ``torch.optim.Muon`` computes in; ``torch.float64`` gives a reproducible iteration for tests.

    Args:
        ns_coefficients: ``(a, b, c)`` of the quintic.
        ns_steps: iterations, 5 by default.
        eps: floor of ``||u||_F`` in the normalisation, so a zero update stays zero.
        adjust_lr_fn: "original" or "match_rms_adamw", see :func:`adjusted_lr_ratio`.
        ns_dtype: the dtype the iteration runs in.
    """
    if adjust_lr_fn not in ADJUST_LR_FNS:
        raise InvalidValueError("adjust_lr_fn", adjust_lr_fn, "one of " + ", ".join(map(repr, ADJUST_LR_FNS)))

    def init(params: Params) -> EmptyState:
        for p in params:
            if p.ndim != 2:
                raise InvalidValueError("parameter shape for Newton-Schulz", tuple(p.shape), "2-D matrices")
        return EmptyState()

    def update(updates: Updates, state: EmptyState, params: Params) -> tuple[Updates, EmptyState]:
        out = []
        for u in updates:
            o = newton_schulz(u, ns_coefficients, ns_steps, eps, ns_dtype).to(u.dtype)
            out.append(o.mul_(adjusted_lr_ratio(u.shape, adjust_lr_fn)))
        return out, state

    return GradientTransformation(init, update)
