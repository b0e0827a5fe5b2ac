"""Muon for the matrices of a model, AdamW for everything else, in one optimizer.

Jordan et al., Muon: An optimizer for hidden layers in neural networks, 2024,
https://kellerjordan.github.io/posts/muon/; Liu et al., Muon is Scalable for LLM Training, 2025,
https://arxiv.org/abs/2502.16982.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from optimlab.optim.base import GradientTransformation, Hyperparameter, chain, value_at
from optimlab.optim.optimizers._descent import EPS
from optimlab.optim.optimizers.adam import adamw
from optimlab.optim.transforms.decay import add_decayed_weights
from optimlab.optim.transforms.momentum import scale_by_momentum
from optimlab.optim.transforms.orthogonal import ADJUST_LR_FNS, AdjustLrFn, orthogonalize_by_newton_schulz
from optimlab.optim.transforms.partition import partition
from optimlab.optim.transforms.scaling import scale, scale_by_learning_rate
from optimlab.registry import NON_NEGATIVE, UNIT_OPEN, Capability, Interval, new_registry

__all__ = ["muon"]

_REGISTRY = new_registry("optimizer")

# The dtypes of the iteration by name, as a recipe writes them (a torch.dtype is taken too).
NS_DTYPES = ("bfloat16", "float32", "float64")
# Newton-Schulz iterations: the reference runs 5; torch.optim.Muon refuses 100 or more at its first step.
# int64's bound alone let ns_steps=10**18 build an optimizer whose first step never returned.
NS_STEPS = Interval(0, 99, integer=True)


def _ema_momentum(momentum: Hyperparameter, nesterov: bool) -> GradientTransformation:
    """torch.optim.Muon's momentum ``B <- mu B + (1 - mu) g`` from ``B = 0``, and ``(1 - mu) g + mu B``.

    It is SGD momentum (which copies its first input) over ``(1 - mu) g``: both buffers are then
    ``(1 - mu) g`` after step 1, and SGD's Nesterov direction ``u + mu b`` is Muon's.
    """
    keep = (lambda step: 1 - value_at(momentum, step)) if callable(momentum) else 1 - momentum
    return chain(scale(keep), scale_by_momentum(momentum, nesterov=nesterov))


@_REGISTRY.register(
    "muon",
    summary="Orthogonalized momentum (Newton-Schulz) for 2-D weights, AdamW for the other parameters.",
    paper="Jordan et al. 2024 (kellerjordan.github.io/posts/muon); Liu et al. 2025, arXiv:2502.16982",
    accepts={
        "lr": NON_NEGATIVE,
        "weight_decay": NON_NEGATIVE,
        "momentum": UNIT_OPEN,
        "nesterov": (True, False),
        "ns_coefficients": Interval(),
        "eps": EPS,
        "ns_steps": NS_STEPS,
        "adjust_lr_fn": ADJUST_LR_FNS,
        "ns_dtype": (*NS_DTYPES, *(getattr(torch, name) for name in NS_DTYPES)),
        "use_muon": (True, False),
        "adamw_lr": NON_NEGATIVE,
        "adamw_betas": UNIT_OPEN,
        "adamw_eps": EPS,
        "adamw_weight_decay": NON_NEGATIVE,
    },
    left_out={"adamw_lr": "lr, Muon's own", "adamw_weight_decay": "weight_decay, Muon's own"},
    capabilities=(
        Capability.MATRIX,
        Capability.HAS_MOMENTUM,
    ),  # torch parity: tests/optim/test_muon.py (2-D only)
)
def muon(
    *,
    lr: Hyperparameter = 1e-3,
    weight_decay: Hyperparameter = 0.1,
    momentum: Hyperparameter = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: AdjustLrFn = "original",
    ns_dtype: str | torch.dtype = "bfloat16",
    use_muon: bool | Callable[[Tensor], bool] = True,
    adamw_lr: Hyperparameter | None = None,
    adamw_betas: tuple[Hyperparameter, Hyperparameter] = (0.9, 0.999),
    adamw_eps: Hyperparameter = 1e-8,
    adamw_weight_decay: Hyperparameter | None = None,
) -> GradientTransformation:
    """Muon, as ``torch.optim.Muon`` on every 2-D parameter, and AdamW on the rest.

    For a matrix ``W`` (``A x B``) with gradient ``g``: ``M <- mu M + (1 - mu) g``;
    ``U = (1 - mu) g + mu M`` (Nesterov) or ``M``; ``O = NS(U)``, the quintic Newton-Schulz iteration
    that maps the singular values of ``U / ||U||_F`` to about 1 (see
    :mod:`optimlab.optim.transforms.orthogonal`); ``W <- W (1 - lr wd) - lr s O``, with
    ``s = sqrt(max(1, A / B))`` ("original") or ``0.2 sqrt(max(A, B))`` ("match_rms_adamw", so that the
    update's RMS matches AdamW's and AdamW's lr and weight decay carry over). Every other parameter
    (biases, norm gains, scalars, and convolution kernels: 4-D, which torch's Muon refuses and Keller
    Jordan's flattens to ``out x (in kh kw)``) takes :func:`~optimlab.optim.optimizers.adam.adamw`
    steps, so ``create("muon", model.parameters())`` works on any model. Embeddings and the output layer are
    2-D but are better left to AdamW (Jordan et al.): give them a param group with ``use_muon=False``.

    Args:
        lr: Muon's step size, before the shape factor ``s``; weight decay uses it unadjusted.
        weight_decay: decoupled, ``W <- W (1 - lr wd)``.
        momentum: ``mu``, the EMA weight of the momentum.
        nesterov: orthogonalize the look-ahead ``(1 - mu) g + mu M`` instead of ``M``.
        ns_coefficients: ``(a, b, c)`` of the quintic ``a x + b x^3 + c x^5``.
        eps: floor of ``||U||_F`` in the normalisation.
        ns_steps: Newton-Schulz iterations.
        adjust_lr_fn: "original" (Jordan) or "match_rms_adamw" (Liu et al.), the factor ``s``.
        ns_dtype: dtype of the iteration, by name or as a ``torch.dtype``: bfloat16 as torch (fast, not
            reproducible across op orders), float64 for an exact reference.
        use_muon: True: Muon for every 2-D parameter of the group; False: AdamW for all of them; a
            predicate ``p -> bool``: Muon for the 2-D parameters where it holds.
        adamw_lr: AdamW's lr; None uses ``lr`` (right for "match_rms_adamw"; with "original" and a Muon
            lr near 0.02, give AdamW about 3e-4). A number here is not scaled by an lr scheduler, which
            writes only ``group["lr"]``: to schedule both, give AdamW's parameters a group of their own,
            ``{"params": ..., "use_muon": False, "lr": 3e-4}``, as Jordan's ``MuonWithAuxAdam`` does.
        adamw_betas, adamw_eps: AdamW's.
        adamw_weight_decay: AdamW's decoupled decay; None uses ``weight_decay``.

    Example:
        >>> from optimlab.optim.shells.torch_optim import Optimizer
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        >>> opt = Optimizer(model.parameters(), muon, lr=0.02, adamw_lr=3e-4)
        >>> model(torch.ones(2, 4)).sum().backward(); opt.step()

    References:
        Jordan et al., Muon: An optimizer for hidden layers in neural networks, 2024,
        https://kellerjordan.github.io/posts/muon/.
        Liu et al., Muon is Scalable for LLM Training, 2025, https://arxiv.org/abs/2502.16982.
        ``torch.optim.Muon``, pytorch/pytorch#160213.
    """
    orthogonalized = chain(
        _ema_momentum(momentum, nesterov),
        orthogonalize_by_newton_schulz(
            ns_coefficients,
            ns_steps,
            eps,
            adjust_lr_fn=adjust_lr_fn,
            ns_dtype=getattr(torch, ns_dtype) if isinstance(ns_dtype, str) else ns_dtype,
        ),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(lr),
    )
    fallback = adamw(
        lr=lr if adamw_lr is None else adamw_lr,
        betas=adamw_betas,
        eps=adamw_eps,
        weight_decay=weight_decay if adamw_weight_decay is None else adamw_weight_decay,
    )

    def is_muon_matrix(p: Tensor) -> bool:
        return p.ndim == 2 and (use_muon(p) if callable(use_muon) else use_muon)

    return partition(is_muon_matrix, orthogonalized, fallback)
