"""Rules on the layers that compute otherwise in training than at evaluation (batch norm, dropout):
batch norm whose batches hold too few examples for their statistics, a model trained in eval mode,
dropout that drops most of what it reads."""

from __future__ import annotations

import statistics

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import _g, _label, _loss_levels, _register, _score
from optimlab.number_text import named_and_more
from optimlab.registry import POSITIVE_INT, UNIT_OPEN

__all__ = ["batch_norm_batch", "dropout_too_high", "eval_mode_training"]


@_register(
    "batch_norm_batch",
    "Batch norm over batches of a few examples: each is normalized by its own noisy mean and variance.",
    "Wu & He 2018, Group Normalization, arXiv:1803.08494 (Fig. 1: batch norm degrades below 8 images)",
    accepts={"min_rows": POSITIVE_INT},
)
def batch_norm_batch(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    min_rows: int = 8,
) -> Finding | None:
    """A batch norm that took its batch's statistics over fewer than ``min_rows`` examples (the median
    over the detailed steps: an epoch's short last batch does not count). Its mean and variance are
    noise (two examples normalize to -1 and +1 whatever they are), so the training outputs depend on
    which examples share the batch and differ from the running statistics used at evaluation.
    ResNet-50's ImageNet error with batch norm: 23.6% at 32 images a batch, 24.8% at 8, 27.3% at 4,
    34.7% at 2; with group norm 24.1% at every size (Wu & He 2018, Fig. 1)."""
    rows = {name: statistics.median(seen) for name, seen in stats.batch_norm_rows.items() if seen}
    small = {name: n for name, n in rows.items() if n < min_rows}
    if not small:
        return None
    fewest = min(small.values())
    names = named_and_more([_label(stats, name) for name in small], 3)
    return Finding(
        rule="batch_norm_batch",
        severity="warning",
        title=f"Batch norm over {fewest:g} examples a batch: {names}",
        explanation=(
            f"{len(small)} batch norm layers normalize each batch by its own mean and variance over "
            f"{fewest:g} examples (median over the detailed steps): statistics that noisy make each "
            "example's output depend on the others in its batch, and evaluation (with the running "
            "statistics) sees another model. Batch norm needs 16 or more examples a batch (Wu & He 2018)."
        ),
        recommendation=(
            "norm: group for conv layers, or layer (their statistics are per example), or training: "
            f"{{batch_size: 32}} (now {fewest:g})"
            if "model.norm" in stats.recipe_fields
            else f"nn.GroupNorm for conv layers, or nn.LayerNorm, in place of {names} (their statistics are "
            f"per example), or batches of 32 examples or more (now {fewest:g})"
        ),
        recipe_changes=(
            {"model.norm": "group" if all(_is_conv_norm(stats, n) for n in small) else "layer"}
            if "model.norm" in stats.recipe_fields
            else {}
        ),
        evidence={"rows": rows, "min_rows": min_rows},
        score=_score(min_rows / fewest),
        explains=("exploding_gradients", "lr_too_high", "lr_too_low", "plateau", "no_learning", "nan_inf"),
    )


def _is_conv_norm(stats: RunStatistics, name: str) -> bool:
    return any(layer.name == name and layer.kind in ("BatchNorm2d", "BatchNorm3d") for layer in stats.layers)


@_register(
    "eval_mode_training",
    "Training steps run with the model in eval mode: dropout off, batch norm on its running statistics.",
    "PyTorch documentation, nn.Module.train and eval (modes of Dropout and BatchNorm)",
    accepts={"min_share": UNIT_OPEN},
)
def eval_mode_training(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    min_share: float = 0.5,
) -> Finding | None:
    """At least ``min_share`` of the steps took their gradient from a forward pass with the model in
    eval mode (``model.eval()`` left on after an evaluation, or called before training), while it
    holds dropout or batch norm layers that then compute as at evaluation: dropout passes everything,
    and batch norm divides by running statistics it no longer updates (at their start, mean 0 and
    variance 1, it passes its inputs unnormalized). Layers set to eval on purpose while the model
    trains (a frozen batch norm) are not reported: the model itself is then in training mode."""
    steps = len(stats.steps)
    if not steps or stats.eval_mode_steps < min_share * steps or not stats.eval_mode_layers:
        return None
    layers = stats.eval_mode_layers
    names = named_and_more([f"{name} ({kind})" for name, kind in layers.items()])
    return Finding(
        rule="eval_mode_training",
        severity="warning",
        title=f"Trained in eval mode: {stats.eval_mode_steps} of {steps} steps ran after model.eval()",
        explanation=(
            f"{stats.eval_mode_steps} of the {steps} steps watched took their gradient from a forward "
            f"pass with the model in eval mode, where {names} compute as at evaluation: dropout passes "
            "everything, batch norm divides by running statistics it no longer updates. The "
            "instruments read training passes only, so they saw nothing else of these steps."
        ),
        recommendation=(
            "call model.train() before the training steps (and again after each evaluation, "
            "which calls model.eval())"
        ),
        evidence={"eval_mode_steps": stats.eval_mode_steps, "steps": steps, "layers": dict(layers)},
        score=_score(10 * stats.eval_mode_steps / steps),
        explains=("plateau", "no_learning", "lr_too_low", "lr_too_high", "exploding_gradients", "nan_inf"),
    )


@_register(
    "dropout_too_high",
    "Dropout that drops most of what it reads, in a run whose loss stays high.",
    "Srivastava et al. 2014, Dropout, JMLR 15 (p = 0.5 for hidden units, 0.2 for inputs)",
    accepts={"max_p": UNIT_OPEN, "progress": UNIT_OPEN},
)
def dropout_too_high(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    max_p: float = 0.8,
    progress: float = 0.5,
) -> Finding | None:
    """A dropout layer whose p is at least ``max_p``, in a run whose loss ended above ``progress`` of
    its start: each step trains a thinned net of the units the dropout keeps, whose gradient is mostly
    noise. Measured on digits (a ReLU MLP 64-128-128-10 with dropout after each hidden layer, Adam 1e-3,
    200 steps), the held-out loss is 0.14 at p 0 or 0.1, 0.16 at 0.5, 0.55 at 0.8, 2.05 at 0.9 and 2.29
    at 0.95 (chance 2.30); the training loss ends at 0.03, 0.05, 0.22, 1.19, 2.15 and 2.43."""
    start, end = _loss_levels(stats)
    high = {name: p for name, p in stats.dropouts.items() if p >= max_p}
    if not high or not end > progress * start:
        return None
    name = max(high, key=high.__getitem__)
    p = high[name]
    return Finding(
        rule="dropout_too_high",
        severity="warning",
        title=f"Dropout too high: the dropout {name} drops {p:.0%} of its inputs",
        explanation=(
            f"Dropout {', '.join(f'{n} p={_g(q)}' for n, q in high.items())}: each step trains a "
            f"thinned net of the {1 - p:.0%} of units kept, and the loss went only from {_g(start)} to "
            f"{_g(end)}."
        ),
        recommendation=(
            "model: {dropout: 0.5} at most for hidden units, 0.2 for inputs (Srivastava et al. 2014)"
            if "model.dropout" in stats.recipe_fields
            else f"nn.Dropout(p=0.5) at most at {name} for hidden units, 0.2 for inputs (Srivastava et al. 2014)"
        ),
        recipe_changes={"model.dropout": 0.5} if "model.dropout" in stats.recipe_fields else {},
        evidence={"dropout": high, "loss": [start, end]},
        score=_score(p / max_p) * 10,
        explains=("plateau", "no_learning", "lr_too_low"),
    )
