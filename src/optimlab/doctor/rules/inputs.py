"""Rules on the data as the model sees it: inputs far from unit scale, features on different scales,
a regression's targets far from unit scale, batches that each hold a narrow slice of the data."""

from __future__ import annotations

import math
import statistics

import torch
from torch import Tensor

from optimlab.doctor.findings import INPUTS_ONLY_NOTE, Finding, Severity
from optimlab.doctor.instruments import FeatureStats, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import _ABOVE_ONE, _g, _label, _register, _score
from optimlab.registry import POSITIVE, POSITIVE_INT, UNIT_OPEN

__all__ = ["input_scale", "target_scale", "unshuffled_data"]


@_register(
    "input_scale",
    "Inputs far from unit scale, or features on wildly different scales.",
    "LeCun et al. 1998, Efficient BackProp, sec. 4.3 (normalizing the inputs)",
    accepts={
        "info_scale": POSITIVE,
        "warn_scale": POSITIVE,
        "error_scale": POSITIVE,
        "warn_spread": _ABOVE_ONE,
        "tiny_scale": POSITIVE,
    },
)
def input_scale(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    info_scale: float = 4.0,
    warn_scale: float = 20.0,
    error_scale: float = 100.0,
    warn_spread: float = 100.0,
    tiny_scale: float = 1e-2,
) -> Finding | None:
    """Per-feature RMS (sqrt(mean^2 + std^2)) of the first layer's inputs against unit scale, and the
    ratio of the widest feature range to the narrowest (``spread``); likewise the inputs of each further
    layer reading the batch (a model's second input), the worst of them reported.

    Where a batch norm on its batch's statistics normalizes the reading layer's outputs
    (:func:`_batch_normalized`: a ResNet's conv1 and bn1), the inputs' common scale and offset are
    no problem: scaled by c, the layer's outputs scale by c, which the batch norm divides out, and its
    weight's gradient (inputs times the outputs' gradient, c times 1/c) is the same, so training is
    step for step the one on standardized inputs (digits as 100 x + 300 under Linear, BatchNorm1d,
    ReLU, Linear, 300 steps of Adam: validation loss 0.340, standardized 0.339; without the batch
    norm 2.06). The features' spread still counts there (0.756 vs 0.339), and tiny inputs do (the
    batch norm's eps then outweighs their variance)."""
    readers = [(stats.input_reader, stats.input_features), *stats.branch_inputs.items()]
    thresholds = (info_scale, warn_scale, error_scale, warn_spread, tiny_scale)
    judged = [
        (reader, features, _judged(features, *thresholds, scale_free=_batch_normalized(stats, reader)))
        for reader, features in readers
        if features
    ]
    judged = [(reader, features, verdict) for reader, features, verdict in judged if verdict is not None]
    if not judged:
        return None
    order: tuple[Severity, ...] = ("error", "warning", "info")
    reader, features, (severity, score, largest, spread, rms, varying) = min(
        judged, key=lambda j: (order.index(j[2][0]), -j[2][1])
    )
    scale_free = _batch_normalized(stats, reader)
    description = _describe_features(features.minimum, features.maximum, rms, varying, features.unit)
    if reader != stats.input_reader:  # a branch from the data: say which input it is
        description = f"{_label(stats, reader)}'s inputs: {description}"
    if largest < tiny_scale:
        problem = f"the inputs are tiny (largest {features.unit} RMS {_g(largest)})"
    elif spread > warn_spread and (largest <= warn_scale or scale_free):
        problem = f"{features.unit}s differ in scale by {_g(spread)}x"
    else:
        problem = f"the inputs are far from unit scale (largest {features.unit} RMS {_g(largest)})"
    return Finding(
        rule="input_scale",
        severity=severity,
        title=f"Unnormalized inputs: {description}",
        explanation=(
            f"Over {features.count} training {'rows' if features.unit == 'feature' else 'values per channel'} "
            f"seen by {'the first layer' if reader == stats.input_reader else _label(stats, reader)}, {problem}: {description}. "
            "Large or unequal input scales make the first layer's gradients huge along some "
            "directions and tiny along others, so one learning rate fits none of them."
        ),
        # the what is in the title and explanation: repeated here, it filled the table's fix column twice
        recommendation=f"data: {{scaling: standardize}} (each {features.unit} to mean 0 and std 1)",
        recipe_changes={"data.scaling": "standardize"},
        evidence={
            "largest_feature_rms": largest,
            "scale_spread": spread,
            "rows": features.count,
            "feature_min": features.minimum.tolist(),
            "feature_max": features.maximum.tolist(),
            "read_by": "the first layer" if reader == stats.input_reader else reader,
        },
        score=_score(score),
        explains=(
            "exploding_gradients",
            "vanishing_gradients",
            "nan_inf",
            "lr_too_high",
            "lr_too_low",
            "saturation",
            "dead_units",
            "init_scale",
            "plateau",
            "no_learning",
        ),
    )


def _batch_normalized(stats: RunStatistics, reader: str | None) -> bool:
    """Whether the next module to run after layer ``reader`` is a batch norm on its batch's statistics."""
    order = stats.forward_order
    if reader not in order or order.index(reader) + 1 == len(order):
        return False
    return order[order.index(reader) + 1] in stats.batch_norm_rows


def _judged(
    features: FeatureStats,
    info_scale: float,
    warn_scale: float,
    error_scale: float,
    warn_spread: float,
    tiny_scale: float,
    *,
    scale_free: bool,
) -> tuple[Severity, float, float, float, Tensor, Tensor] | None:
    """(severity, score, largest RMS, spread, RMS per feature, which vary) of inputs badly scaled, the
    score how far past its thresholds the worst of the three readings is; None if well scaled.
    ``scale_free``: a large scale is none (a batch norm divides it out), the spread and a tiny one are."""
    rms = (features.mean.square() + features.std.square()).sqrt()
    ranges = features.maximum - features.minimum
    # A constant is judged against its own magnitude (float32 rounding, about 1e-7 of it), not against
    # the widest feature: beside features of range 6e3, ones of range 6e-3 (the scales 1e3 and 1e-3)
    # fell under 1e-6 of it and were called constants, left out of the spread they make.
    magnitude = torch.maximum(features.minimum.abs(), features.maximum.abs())
    varying = ranges > 1e-6 * magnitude.clamp_min(1e-30)
    if not varying.any():
        return None
    largest = rms.max().item()
    # Spread compares ranges, not RMS: a sparse feature (a corner pixel, mostly 0) has a tiny RMS but
    # the same range as its neighbours, and is not badly scaled.
    spread = ranges.max().item() / ranges[varying].min().item()
    large = 0.0 if scale_free else largest
    score = max(large / warn_scale, spread / warn_spread, tiny_scale / max(largest, 1e-30))
    if large > error_scale:
        return "error", score, largest, spread, rms, varying
    if large > warn_scale or spread > warn_spread or largest < tiny_scale:
        return "warning", score, largest, spread, rms, varying
    if large > info_scale:
        return "info", score, largest, spread, rms, varying
    return None


def _describe_features(low: Tensor, high: Tensor, rms: Tensor, varying: Tensor, unit: str) -> str:
    """ "feature 3 ranges 0..255, others -1.2..1.3", or a summary when many features are large;
    ``unit``: what a column of ``low`` is, a feature or a channel."""
    if low.numel() == 1:
        return f"the one {unit} ranges {_g(low.item())}..{_g(high.item())}"

    def span(i: int) -> str:  # a constant feature is said to be one, not to range from its value to it
        if not varying[i]:
            return f"{unit} {i} is {_g(low[i].item())} in every row, a constant"
        return f"{unit} {i} ranges {_g(low[i].item())}..{_g(high[i].item())}"

    typical = rms[varying].median().item()
    outliers = [int(i) for i in torch.argsort(rms, descending=True) if rms[i] > 10 * typical]
    if 0 < len(outliers) <= 3:
        named = ", ".join(span(i) for i in outliers)
        rest = torch.ones_like(varying)
        rest[outliers] = False
        if rest.any():
            named += f", others {_g(low[rest].min().item())}..{_g(high[rest].max().item())}"
        return named
    widest = int(rms.argmax())
    return (
        f"{int(varying.sum())} varying {unit}s range {_g(low[varying].min().item())}.."
        f"{_g(high[varying].max().item())} (largest: {span(widest)})"
    )


def _impurity(counts: Tensor) -> float:
    """Gini impurity of labels counted ``counts``: the chance that two drawn with replacement differ."""
    return 1 - (counts / counts.sum()).square().sum().item()


def _random_batches_mix(shares: Tensor, batches: list[Tensor], enough: int) -> bool:
    """Whether batches drawn at random, as many and as large as ``batches``, would hold ``enough`` that
    mix (are not all of one value): a value in ``shares`` of the pool fills a batch of n rows alone with
    chance share^n. Too few (a rare value in a few rows of the pool) and a batch of one value is no
    evidence of an order."""
    return sum(1 - (shares ** len(t)).sum().item() for t in batches) >= enough


@_register(
    "unshuffled_data",
    "Batches that each hold a narrow slice of the data: ordered by label or target, not shuffled.",
    "Bottou 2012, Stochastic Gradient Descent Tricks (shuffle the examples); LeCun et al. 1998, "
    "Efficient BackProp, sec. 4.2",
    accepts={"narrow": UNIT_OPEN, "min_batches": POSITIVE_INT},
)
def unshuffled_data(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    narrow: float = 0.5,
    min_batches: int = 5,
) -> Finding | None:
    """The targets of the first batches (:attr:`RunStatistics.batch_targets`) against batches drawn at
    random from the same rows. Labels: the mean Gini impurity of a batch's labels, 1 - sum_c q_c^2 (the
    spread of one-hot labels), against that expected of a random batch of its n rows, (n - 1) / n of
    the pool's (Simpson 1949, Measurement of Diversity, Nature 163: the index of a sample of n);
    flagged at ``narrow`` or below. Unlike the count of classes a batch holds, it tells two sorted classes (a
    random batch holds both, a sorted one one: a count ratio of 1/2 at best) and is not fooled by a
    rare class that random batches miss too. Numbers (a regression's targets, or float 0/1 and
    multi-label ones): the same index for values, a batch's variance (summed over a row's values)
    against (n - 1) / n of the pool's, its square root (a spread) flagged at ``narrow`` or below. Either
    way the batches random draws would mix (not all of one label, or of one target row) must number
    ``min_batches``: a few rows of a rare value leave most random batches unmixed too."""
    # Numbers as (rows, values); labels as one row each (per-position labels: every position one).
    batches = [t.reshape(len(t), -1) if t.is_floating_point() else t.flatten() for t in stats.batch_targets]
    batches = [t for t in batches if len(t) > 1]
    if len(batches) < min_batches:
        return None
    if all(not t.is_floating_point() for t in batches):
        # a negative label is one the loss ignores
        batches = [kept for t in batches if len(kept := t[t >= 0]) > 1]
        if len(batches) < min_batches:
            return None
        counts = torch.unique(torch.cat(batches), return_counts=True)[1].double()
        shares = counts / counts.sum()
        if not _random_batches_mix(shares, batches, min_batches):
            return None
        pool = _impurity(counts)
        ratio = sum(_impurity(torch.unique(t, return_counts=True)[1].double()) for t in batches) / sum(
            pool * (len(t) - 1) / len(t) for t in batches
        )
        rows = statistics.median(len(t) for t in batches)
        expected = (1 - (1 - shares) ** rows).sum().item()
        held = statistics.median(len(t.unique()) for t in batches)
        classes = len(shares)
        title = f"each batch holds {held:g} of {classes} classes"
        problem = (
            f"each batch of {rows:g} rows holds {held:g} of the {classes} classes seen, where batches "
            f"drawn at random would hold {expected:.1f}"
        )
        evidence = {
            "classes_per_batch": held,
            "expected_at_random": expected,
            "classes": classes,
            "impurity_within_batches": ratio,
        }
    elif all(t.is_floating_point() for t in batches):
        pooled = torch.cat(batches).double()
        pool = pooled.var(0, correction=0).sum().item()
        shares = torch.unique(pooled, dim=0, return_counts=True)[1].double() / len(pooled)
        if not pool > 0 or not _random_batches_mix(shares, batches, min_batches):
            return None
        within = sum(t.double().var(0, correction=0).sum().item() for t in batches)
        ratio = math.sqrt(within / sum(pool * (len(t) - 1) / len(t) for t in batches))
        title = f"each batch's targets spread over {ratio:.0%} of a random batch's"
        problem = (
            f"the targets of each batch spread over {ratio:.0%} of what batches drawn at random would "
            "(standard deviation)"
        )
        evidence = {"spread_within_batches": ratio}
    else:
        return None
    if ratio > narrow:
        return None
    return Finding(
        rule="unshuffled_data",
        severity="warning",
        title=f"Unshuffled batches: {title}",
        explanation=(
            f"Over the first {len(batches)} batches, {problem}: the data comes ordered (by label or "
            "target) and is not shuffled, so the steps pull the weights towards one slice of the data "
            "after another instead of following the gradient of the whole."
        ),
        recommendation="training: {shuffle: True} (the batches in a new random order each epoch)",
        recipe_changes={"training.shuffle": True},
        evidence=evidence,
        score=_score(narrow / max(ratio, 1e-6)),
        explains=("plateau", "no_learning", "lr_too_high", "lr_too_low"),
    )


@_register(
    "target_scale",
    "A regression's targets far from unit scale: the output layer must reach them before learning.",
    "LeCun et al. 1998, Efficient BackProp, sec. 4.3 and 4.5 (normalized inputs, targets within the "
    "outputs' range)",
    accepts={
        "warn_scale": POSITIVE,
        "error_scale": POSITIVE,
        "tiny_scale": POSITIVE,
        "warn_spread": _ABOVE_ONE,
    },
)
def target_scale(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    warn_scale: float = 20.0,
    error_scale: float = 100.0,
    tiny_scale: float = 1e-2,
    warn_spread: float = 10.0,
) -> Finding | None:
    """RMS (sqrt(mean^2 + std^2)) of each value of a regression's targets over the first batches
    (:attr:`RunStatistics.batch_targets`), against unit scale: a network starts with outputs of about
    unit scale, so targets in the thousands make the first steps' loss and gradients huge (and Adam's
    lr-sized steps take forever to reach them), and targets of a hundredth leave the outputs' own
    initial scale and the steps' noise larger than the signal. And, for targets of a few values a row
    (``(N, k)``), the ratio of their widest range to their narrowest (``spread``): a squared error sums
    the values' errors as they are, so the narrow one's hardly counts and is not learnt (sin(2 x0) + x1
    and x2 x3 from 8 features, 200 steps of Adam 1e-3: the second's held-out R^2 0.92 beside the
    first, 0.76 at a tenth of its scale, 0.15 at a thirtieth, below 0 at a hundredth; standardized,
    0.92 at each). Not for a binary or soft-label loss, whose targets are probabilities."""
    seen = stats.loss_inputs
    if seen is not None and seen.loss is not None and seen.loss.startswith("BCE"):
        return None
    kept = [t for t in stats.number_targets() if len(t)]
    targets = [t.reshape(len(t), -1) for t in kept]
    if not targets:
        return None
    pooled = torch.cat(targets).double()
    rms = pooled.square().mean(0).sqrt()
    largest, smallest = rms.max().item(), rms.min().item()
    # an autoencoder's targets are its inputs, whose scales input_scale judges: its pixels are one quantity
    rows = not stats.reconstructs_inputs and all(t.ndim == 2 for t in kept)
    wide, narrow, ratio = _value_ranges(pooled) if rows else (0, 0, 1.0)
    mixed = ratio > warn_spread
    if largest > error_scale:
        severity: Severity = "error"
    elif largest > warn_scale or 0 < largest < tiny_scale or mixed:
        severity = "warning"
    else:
        return None
    mean, spread = pooled.mean(0), pooled.std(0)
    worst = int(rms.argmax())
    describe = f"mean {_g(mean[worst].item())}, standard deviation {_g(spread[worst].item())}" + (
        f" (value {worst} of {len(rms)})" if len(rms) > 1 else ""
    )
    size = "large" if largest > warn_scale else "tiny" if largest < tiny_scale else "unequal"
    scales = f"value {wide}'s range is {_g(ratio)}x value {narrow}'s"
    title = f"the regression's targets are {size} (RMS {_g(largest)}; {describe})"
    if size == "unequal":
        title = f"the regression's target values differ in scale ({scales})"
    sentences = [
        f"Over the first {len(targets)} training batches ({pooled.shape[0]} rows seen) the targets have "
        f"RMS {_g(largest)}"
        + (f" (smallest value's {_g(smallest)})" if len(rms) > 1 else "")
        + f": {describe}"
        + (f"; {scales}" if mixed else "")
        + "."
    ]
    if size == "large":
        sentences.append(
            "A network's outputs start at about unit scale, so the loss and its gradients start huge, and "
            "the output layer spends the run reaching the targets' scale instead of learning their shape."
        )
    elif size == "tiny":
        sentences.append(
            "A network's outputs start at about unit scale, so their initial size and each step's noise "
            "are larger than the targets' signal."
        )
    if mixed:
        sentences.append(
            f"The loss sums the values' errors as they are, so value {narrow}'s hardly counts and the "
            "model barely learns it."
        )
    return Finding(
        rule="target_scale",
        severity=severity,
        title=f"Unscaled targets: {title}",
        explanation=" ".join(sentences),
        recommendation=(
            "standardize the targets, fitted on the training targets y_train: scaler = "
            "optimlab.techniques.scaling.create('standardize').fit(y_train); train on "
            "loss_fn(model(x), scaler(y)) and predict scaler.inverse(model(x))"
            + (
                f" (over the rows seen, (y - {_g(mean[0].item())}) / {_g(spread[0].item())})"
                if len(rms) == 1
                else ""
            )
            + INPUTS_ONLY_NOTE
        ),
        evidence={"rms": rms.tolist(), "mean": mean.tolist(), "std": spread.tolist(), "scale_spread": ratio},
        score=_score(
            max(
                largest / warn_scale if size == "large" else tiny_scale / largest if size == "tiny" else 0.0,
                ratio / warn_spread,
            )
        ),
        explains=(
            "exploding_gradients",
            "lr_too_high",
            "lr_too_low",
            "plateau",
            "no_learning",
            "nan_inf",
            "vanishing_gradients",
        ),
    )


def _value_ranges(pooled: Tensor) -> tuple[int, int, float]:
    """(the widest value, the narrowest, the ratio of their ranges, max - min over the rows seen) of
    the pooled targets of a few values a row, ``(N, k)``; a constant value (no range) is left out. The
    caller passes only such rows: an image's pixels or a sequence's steps are one quantity. The range,
    not the RMS, so that a value mostly 0 (a pixel seldom on, an event's indicator) keeps the scale it
    has when on."""
    ranges = pooled.amax(0) - pooled.amin(0)
    varying = (ranges > 1e-6 * pooled.abs().amax(0)).nonzero().flatten()
    if len(varying) < 2:
        return 0, 0, 1.0
    wide, narrow = int(varying[ranges[varying].argmax()]), int(varying[ranges[varying].argmin()])
    return wide, narrow, (ranges[wide] / ranges[narrow]).item()
