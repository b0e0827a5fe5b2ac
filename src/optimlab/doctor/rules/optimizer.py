"""Rules on the optimizer's hyperparameters beside the learning rate: an eps that sets Adam's step."""

from __future__ import annotations

import math

import torch

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import _g, _loss_levels, _register, _score
from optimlab.registry import UNIT_OPEN

__all__ = ["adaptive_eps"]

ADAM_EPS = 1e-8  # torch's and the paper's default (Kingma & Ba 2015)


@_register(
    "adaptive_eps",
    "Adam's eps larger than the gradients: each step is lr x gradient / eps, a small fraction of Adam's.",
    "Kingma & Ba 2015, Adam, arXiv:1412.6980 (the update m / (sqrt(v) + eps), eps = 1e-8)",
    accepts={"warn_fraction": UNIT_OPEN, "min_progress": UNIT_OPEN},
)
def adaptive_eps(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    warn_fraction: float = 0.1,
    min_progress: float = 0.2,
) -> Finding | None:
    """An Adam-family optimizer divides its momentum by sqrt(v) + eps, sqrt(v) being about the RMS
    gradient per weight; where eps dwarfs it, the step is lr x gradient / eps, a fraction
    rms / (rms + eps) of the step Adam takes, and Adam turns into SGD at lr / eps. Flagged where, over
    most of the weights (the weighted median), that fraction is under ``warn_fraction`` and the loss
    moved by less than ``min_progress`` of its start: an eps as large on purpose (TensorFlow's advice of
    1.0 for Inception) comes with an lr raised to match, and that run learns."""
    eps = stats.adam_eps
    grads = stats.layer_grad_norms()
    grads = grads[torch.isfinite(grads).all(1)] if grads.numel() else grads
    # The default eps is never the cause: gradients it dwarfs vanish (vanishing_gradients, dead_units).
    if eps is None or eps <= ADAM_EPS or grads.shape[0] == 0:
        return None
    start, end = _loss_levels(stats)
    if not (math.isfinite(end) and start > 0) or abs(1 - end / start) >= min_progress:
        return None
    sizes = torch.tensor([float(layer.num_params) for layer in stats.layers], dtype=torch.float64)
    rms = (grads / sizes.sqrt()).median(0).values
    # A layer without gradient (its units dead) takes no step whatever eps is: it is no evidence.
    graded = rms > 0
    if not graded.any():
        return None
    names = [layer.name for layer, kept in zip(stats.layers, graded.tolist(), strict=True) if kept]
    sizes, rms = sizes[graded], rms[graded]
    fraction = rms / (rms + eps)
    order = torch.argsort(fraction)
    weights = sizes[order].cumsum(0)
    median = fraction[order][int(torch.searchsorted(weights, weights[-1] / 2))].item()
    if median >= warn_fraction:
        return None
    typical = rms[order][int(torch.searchsorted(weights, weights[-1] / 2))].item()
    return Finding(
        rule="adaptive_eps",
        severity="warning",
        title=f"Adam's eps {_g(eps)} dwarfs the gradients: each step is {_g(median)} of Adam's",
        explanation=(
            f"The optimizer divides by sqrt(v) + eps, with eps {_g(eps)} against an RMS gradient per "
            f"weight of {_g(typical)} (median over the weights): its steps are lr x gradient / eps, "
            f"{_g(median)} of the step Adam would take, and the loss went from {_g(start)} to {_g(end)}."
        ),
        recommendation=f"optimizer: eps {_g(ADAM_EPS)} (the default), or raise the lr to make up for eps",
        recipe_changes={"optimizer.eps": ADAM_EPS},
        evidence={
            "eps": eps,
            "rms_gradient": typical,
            "step_fraction": median,
            "step_fraction_by_layer": dict(zip(names, fraction.tolist(), strict=True)),
            "loss_start": start,
            "loss_end": end,
        },
        score=_score(warn_fraction / max(median, 1e-30)),
        explains=("lr_too_low", "plateau", "no_learning"),
    )
