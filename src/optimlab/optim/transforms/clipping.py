"""Clip updates by their global L2 norm or elementwise by value.

Global-norm clipping: Pascanu, Mikolov & Bengio, On the difficulty of training recurrent neural
networks, 2012, https://arxiv.org/abs/1211.5063.
"""

from __future__ import annotations

import torch

from optimlab.optim.base import EmptyState, GradientTransformation, Params, Updates

__all__ = ["clip_by_global_norm", "clip_by_value"]


def clip_by_global_norm(max_norm: float, *, eps: float = 1e-6) -> GradientTransformation:
    """``u <- u * min(1, max_norm / (||u|| + eps))``, ``||u||`` the L2 norm over all tensors at once.

    ``eps`` guards a zero norm; 1e-6 is ``torch.nn.utils.clip_grad_norm_``'s. The factor stays a tensor,
    so nothing waits for the device.
    """

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def update(updates: Updates, state: EmptyState, params: Params) -> tuple[Updates, EmptyState]:
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(updates)))
        factor = torch.clamp(max_norm / (norm + eps), max=1.0)
        return torch._foreach_mul(updates, factor), state

    return GradientTransformation(init, update)


def clip_by_value(max_delta: float) -> GradientTransformation:
    """``u <- clamp(u, -max_delta, max_delta)`` elementwise."""

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def update(updates: Updates, state: EmptyState, params: Params) -> tuple[Updates, EmptyState]:
        clipped = torch._foreach_clamp_min(updates, -max_delta)
        torch._foreach_clamp_max_(clipped, max_delta)
        return clipped, state

    return GradientTransformation(init, update)
