"""Rules on the optimizer's hyperparameters beside the learning rate: an eps that sets Adam's step, and a
weight decay that outpulls the gradient."""

from __future__ import annotations

import math

import torch

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import (
    _finite,
    _g,
    _has_fit,
    _label,
    _loss_levels,
    _lr,
    _median,
    _progress,
    _register,
    _score,
)
from optimlab.registry import UNIT_OPEN

__all__ = ["adaptive_eps", "weight_decay_too_high"]

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
    progress = _progress(stats)
    if progress is None or abs(progress) >= min_progress:
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
        recommendation=f"optimizer: {{eps: {_g(ADAM_EPS)}}} (the default), or raise the lr to make up for eps",
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


@_register(
    "weight_decay_too_high",
    "Weight decay that outpulls the gradient: the weights shrink toward 0 while the loss stays high.",
    "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization, arXiv:1711.05101",
    accepts={"shrink": UNIT_OPEN, "min_decay": UNIT_OPEN},
)
def weight_decay_too_high(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    shrink: float = 0.8,
    min_decay: float = 0.05,
) -> Finding | None:
    """Weight decay takes ``lr wd w`` off the weights each step (decoupled, as AdamW and Lion do; SGD's
    L2 likewise, through the gradient), and a gradient that learns holds them up: in a learning run
    the weights grow from their init. Flagged where most decayed weights (by count) end below
    ``shrink`` of their norm at the first step, decay alone would have taken at least ``min_decay`` of
    them over the steps watched (``sum(lr) wd``), and the loss has not fit (above
    :data:`FIT_FRACTION` of its start). The evidence adds the decay's pull against the rest of the
    step (:meth:`~optimlab.doctor.instruments.RunStatistics.decay_pulls`).

    Measured on digits, 200 steps (the MLP of ``tests/doctor/setups.py``): AdamW 1e-3 with wd 10, SGD
    0.5 with wd 0.1, Lion 3e-4 with wd 30 leave their hidden layers at 0.39-0.76x their first norms
    and their loss at 0.42, 0.74, 1.66 (0.32, 0.70, 1.32 after 1,000 steps, where without the decay
    it reaches 0.002-0.05), the decay taking 0.78-1.2x as much off them as the rest of the step moves
    them under AdamW and Lion, 0.46-0.72x under plain SGD (0.26-0.38 with momentum, which spreads the
    decay; 0.04-0.06 under Adam's L2, which normalizes it); an LSTM and a Transformer of std 0.02
    under AdamW with wd 10 shrink to 0.75-0.83x and 0.23-0.5x (digits' rows). AdamW 1e-3 to 1e-2 with
    wd 0.01-1 and SGD with wd 5e-4 (momentum or not, batch norm or not, a conv net) grow theirs to
    1.0-2.3x, the decay's pull 0.002-0.29. The pull alone is no trigger: weights drawn N(0, 1) under
    AdamW 1e-2 with wd 0.1 get one of 0.9, the decay trimming an init too large.
    """
    decays = stats.weight_decays
    _, norms = stats.layer_weight_norms()
    start, end = _loss_levels(stats)
    fit = not math.isfinite(end) or _has_fit(stats)
    if not decays or norms.shape[0] < 2 or fit:
        return None
    layer_decay = [0.0] * len(stats.layers)
    for index, decay in zip(stats.param_layer, decays, strict=True):
        layer_decay[index] = max(layer_decay[index], decay)
    budget = sum(_finite(stats.lrs))
    # A layer without gradient (never called) is stepped by nothing, its decay included: no evidence.
    graded = {index for p, index in enumerate(stats.param_layer) if p not in (stats.never_graded or ())}
    decayed = [
        (i, layer)
        for i, layer in enumerate(stats.layers)
        if i in graded and budget * layer_decay[i] >= min_decay and norms[0, i] > 0
    ]
    sizes = {layer.name: layer.num_params for _, layer in decayed}
    kept = {layer.name: (norms[-1, i] / norms[0, i]).item() for i, layer in decayed}
    shrunk = {name: ratio for name, ratio in kept.items() if ratio < shrink}
    if not decayed or sum(sizes[name] for name in shrunk) < sum(sizes.values()) / 2:
        return None
    _, table = stats.decay_pulls()
    columns = table[:, [i for i, _ in decayed]].T
    pull = {
        name: _median(column[torch.isfinite(column)]) for name, column in zip(sizes, columns, strict=True)
    }
    decay = max(layer_decay[i] for i, _ in decayed)
    # the median, not the peak: the decay per step reads the steps as they ran (as budget sums them), and
    # the advice changes weight_decay, not the lr
    lr = _lr(stats)
    per_step = lr * decay
    alone = math.exp(-budget * decay)
    worst = min(shrunk, key=shrunk.__getitem__)
    target = float(f"{decay / 100:.2g}")
    return Finding(
        rule="weight_decay_too_high",
        severity="error" if end > 0.9 * start else "warning",
        title=(
            f"Weight decay too high: {_g(decay)} at lr {_g(lr)} shrinks {_label(stats, worst)}'s weights "
            f"to {_g(shrunk[worst])}x in {len(stats.steps)} steps"
        ),
        explanation=(
            f"Each step multiplies the weights by 1 - lr x wd = {_g(1 - per_step)} (they forget what they "
            f"learnt within {_g(1 / per_step)} steps; over the {len(stats.steps)} steps watched decay alone "
            f"leaves {_g(alone)} of them), and the gradient did not hold them up: "
            + ", ".join(
                f"{_label(stats, name)} ended at {_g(r)}x its first norm, the decay taking {_g(pull[name])}x "
                "as much off it as the rest of each step moved it"
                for name, r in shrunk.items()
            )
            + f". The loss went from {_g(start)} to {_g(end)}: the decay outpulls the gradient and holds it up."
        ),
        recommendation=(
            f"optimizer: {{weight_decay: {_g(target)}}}, a hundredth of now (AdamW's usual 0.01-0.1, "
            "Loshchilov & Hutter 2019; SGD's 5e-4)"
        ),
        recipe_changes={"optimizer.weight_decay": target},
        evidence={
            "weight_decay": decay,
            "lr": lr,
            "decay_per_step": per_step,
            "decay_alone": alone,
            "weight_norm_ratio": kept,
            "decay_pull": pull,
            "loss_start": start,
            "loss_end": end,
            "steps": len(stats.steps),
        },
        score=_score(shrink / max(shrunk[worst], 1e-30)),
        explains=("plateau", "lr_too_low", "no_learning"),
    )
