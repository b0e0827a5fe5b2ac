"""Rules: small functions that turn the instruments' statistics into findings.

Each rule is registered in the ``doctor_rule`` registry with its paper; its thresholds are keyword
defaults of its signature, so ``optimlab.doctor.run_rules(stats, options={"dead_units":
{"warn_fraction": 0.5}})`` can change them and an out-of-range value is rejected by name. A rule
returns one :class:`~optimlab.doctor.findings.Finding` (or None): the worst layer it saw, the others in
its evidence. Its recommendation is written in optimlab's vocabulary (``init: kaiming_normal for relu
layers``) and repeated as dotted recipe fields (``{"model.init": "kaiming_normal"}``).

A rule states which other findings it *explains* (``explains``), when its evidence shows it is their
cause; :func:`~optimlab.doctor.findings.rank` uses this to put the root cause first.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from optimlab.doctor.findings import Finding, Severity, rank
from optimlab.doctor.instruments import LayerInfo, RunStatistics
from optimlab.doctor.lr_range import LRRangeResult
from optimlab.registry import POSITIVE, POSITIVE_INT, UNIT_OPEN, Interval, new_registry

__all__ = ["recommended_init", "rule_names", "run_rules"]

_REGISTRY = new_registry("doctor_rule")
_ABOVE_ONE = Interval(1.0, None, open_low=True)
_SCORE_CAP = 20.0  # log10 units; an exact zero or an inf would otherwise rank by accident


def _g(x: float) -> str:
    return f"{x:.3g}"


def _score(ratio: float) -> float:
    """How many decades past its threshold a measurement lies (ratio >= 1 means past it)."""
    if ratio <= 0 or math.isnan(ratio):
        return 0.0
    return min(_SCORE_CAP, math.log10(ratio)) if math.isfinite(ratio) else _SCORE_CAP


def _label(stats: RunStatistics, module: str) -> str:
    """``net.0 (Linear)``: the module's name with its kind, which bare Sequential indices need."""
    kind = next((layer.kind for layer in stats.layers if layer.name == module), None)
    if kind is None and module in stats.activations:
        kind = stats.activations[module]
    return f"{module} ({kind})" if kind else module


def _finite(values: list[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def _median(values: list[float] | Tensor) -> float:
    t = torch.as_tensor(values, dtype=torch.float64)
    return t.median().item() if t.numel() else math.nan


def _loss_levels(stats: RunStatistics) -> tuple[float, float]:
    """The loss at the start (the first finite one: measured before any update, so a too-high lr cannot
    have spoiled it) and at the end (median of the last 10%)."""
    losses = _finite(stats.losses)
    if not losses:
        return math.nan, math.nan
    tail = max(3, len(losses) // 10)
    return losses[0], _median(losses[-tail:])


def _lr(stats: RunStatistics) -> float:
    return _median(_finite(stats.lrs))


def recommended_init(activation: str | None) -> str:
    """The init scheme for layers feeding ``activation``: Glorot's for sigmoid/tanh and linear layers,
    He's for the ReLU family and the other rectifier-like ones (He et al. 2015, arXiv:1502.01852).

    By name they carry their own gains (1 and sqrt(2)), not the activation's; on square layers that puts
    every registered activation within 0.6x (tanh, gain 5/3) to 1.9x (selu) of the scale
    :func:`_init_ratio` measures against, well inside the 3x that :func:`_init_problem` flags."""
    if activation in (None, "identity", "sigmoid", "tanh"):
        return "xavier_normal"
    return "kaiming_normal"


def _init_ratio(layer: LayerInfo) -> float | None:
    """Weight scale over the scale its activation asks for: std(W) sqrt(fan_in) / gain(activation)."""
    from optimlab.techniques.activations import gain

    if layer.weight_std is None or layer.fan_in is None or layer.activation is None:
        return None
    return layer.weight_std * math.sqrt(layer.fan_in) / gain(layer.activation)


def _init_problem(layers: list[LayerInfo], off_by: float = 3.0) -> tuple[float, str, str] | None:
    """(geometric-mean init ratio, activation, scheme) when the weights are ``off_by`` x off."""
    pairs = [(r, layer.activation) for layer in layers if (r := _init_ratio(layer)) is not None and r > 0]
    if not pairs:
        return None
    mean = math.exp(sum(math.log(r) for r, _ in pairs) / len(pairs))
    if 1 / off_by <= mean <= off_by:
        return None
    activation = max({a for _, a in pairs}, key=[a for _, a in pairs].count)
    return mean, activation, recommended_init(activation)


def _negative_bias(stats: RunStatistics, layer: LayerInfo) -> bool:
    """The layer's biases are set negative on purpose, not by chance: their mean lies below minus both
    their own spread and the spread of the signal at the first step, so they silence what follows."""
    first = stats.detailed_steps[0] if stats.detailed_steps else None
    pre = stats.outputs.get(layer.name, {}).get(first)
    if layer.bias_mean is None or pre is None:
        return False
    return layer.bias_mean < -max(pre.spread, layer.bias_std or 0.0, 1e-12)


def _weight_layers(stats: RunStatistics) -> list[tuple[int, LayerInfo]]:
    """Linear/Conv layers in forward order, leaving out any that never ran (no gradient to judge)."""
    ran = set(stats.forward_order)
    return [
        (i, layer)
        for i, layer in enumerate(stats.layers)
        if layer.has_weight_matrix and (not ran or layer.name in ran)
    ]


def _layer_rms_gradients(
    stats: RunStatistics, first: int | None = None
) -> tuple[list[LayerInfo], Tensor] | None:
    """Weight layers in forward order and the median over finite steps (the ``first`` ones, or all) of
    each one's RMS gradient."""
    indexed = _weight_layers(stats)
    grads = stats.layer_grad_norms()
    grads = grads[torch.isfinite(grads).all(1)][:first] if grads.numel() else grads
    if len(indexed) < 2 or grads.shape[0] == 0:
        return None
    index = torch.tensor([i for i, _ in indexed])
    sizes = torch.tensor([float(layer.num_params) for _, layer in indexed], dtype=torch.float64)
    rms = (grads[:, index] / sizes.sqrt()).median(0).values
    return [layer for _, layer in indexed], rms


def _register(name: str, summary: str, paper: str, **options: Any) -> Any:
    return _REGISTRY.register(name, summary=summary, paper=paper, skip=("stats", "lr_range"), **options)


# --- the rules, roughly from input to output ----------------------------------------------------


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
    ratio of the widest feature range to the narrowest (``spread``)."""
    features = stats.input_features
    if features is None:
        return None
    rms = (features.mean.square() + features.std.square()).sqrt()
    ranges = features.maximum - features.minimum
    varying = ranges > 1e-6 * max(ranges.max().item(), 1e-30)
    if not varying.any():
        return None
    largest = rms.max().item()
    # Spread compares ranges, not RMS: a sparse feature (a corner pixel, mostly 0) has a tiny RMS but
    # the same range as its neighbours, and is not badly scaled.
    spread = ranges.max().item() / ranges[varying].min().item()
    if largest > error_scale:
        severity: Severity | None = "error"
    elif largest > warn_scale or spread > warn_spread or largest < tiny_scale:
        severity = "warning"
    elif largest > info_scale:
        severity = "info"
    else:
        return None
    description = _describe_features(features.minimum, features.maximum, rms, varying)
    if largest < tiny_scale:
        problem = f"the inputs are tiny (largest feature RMS {_g(largest)})"
    elif spread > warn_spread and largest <= warn_scale:
        problem = f"features differ in scale by {_g(spread)}x"
    else:
        problem = f"the inputs are far from unit scale (largest feature RMS {_g(largest)})"
    return Finding(
        rule="input_scale",
        severity=severity,
        title=f"Unnormalized inputs: {description}",
        explanation=(
            f"Over {features.count} training rows seen by the first layer, {problem}: {description}. "
            "Large or unequal input scales make the first layer's gradients huge along some "
            "directions and tiny along others, so one learning rate fits none of them."
        ),
        recommendation=f"data: standardize inputs ({description})",
        recipe_changes={"data.scaling": "standardize"},
        evidence={
            "largest_feature_rms": largest,
            "scale_spread": spread,
            "rows": features.count,
            "feature_min": features.minimum.tolist(),
            "feature_max": features.maximum.tolist(),
        },
        score=_score(max(largest / warn_scale, spread / warn_spread, tiny_scale / max(largest, 1e-30))),
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
        ),
    )


def _describe_features(low: Tensor, high: Tensor, rms: Tensor, varying: Tensor) -> str:
    """ "feature 3 ranges 0..255, others -1.2..1.3", or a summary when many features are large."""
    typical = rms[varying].median().item()
    outliers = [int(i) for i in torch.argsort(rms, descending=True) if rms[i] > 10 * typical]
    if 0 < len(outliers) <= 3:
        named = ", ".join(f"feature {i} ranges {_g(low[i].item())}..{_g(high[i].item())}" for i in outliers)
        rest = torch.ones_like(varying)
        rest[outliers] = False
        if rest.any():
            named += f", others {_g(low[rest].min().item())}..{_g(high[rest].max().item())}"
        return named
    widest = int(rms.argmax())
    return (
        f"{int(varying.sum())} varying features range {_g(low.min().item())}..{_g(high.max().item())} "
        f"(largest in feature {widest}: {_g(low[widest].item())}..{_g(high[widest].item())})"
    )


@_register(
    "init_scale",
    "Weights initialized too small or too large for the activation that follows them.",
    "He et al. 2015, arXiv:1502.01852; Glorot & Bengio 2010, AISTATS",
    accepts={"off_by": _ABOVE_ONE, "warn_change": _ABOVE_ONE, "error_change": _ABOVE_ONE},
)
def init_scale(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    off_by: float = 2.0,
    warn_change: float = 30.0,
    error_change: float = 1000.0,
) -> Finding | None:
    """Weight gain off by ``off_by`` x AND the signal shrinking or growing ``warn_change`` x through the layers.

    The signal is the spread across examples of each activation's output at the first step; a shallow
    net with PyTorch's default init (0.41x He's scale for ReLU) keeps it and is not flagged, nor is a net
    whose norm layers reset the scale.
    """
    layers = [layer for _, layer in _weight_layers(stats) if layer.activation is not None]
    problem = _init_problem(layers, off_by)
    first = stats.detailed_steps[0] if stats.detailed_steps else None
    if problem is None or first is None or len(layers) < 2 or any(layer.normalized for layer in layers):
        return None  # norm layers set the signal's scale, whatever the init
    if any(_negative_bias(stats, layer) for layer in layers):
        return None  # negative biases cut the signal, not the weights: dead_units reports them
    # The signal is what the activations pass on; in a residual net it is the stream after each block.
    records = [stats.outputs.get(layer.activation_module, {}).get(first) for layer in layers]  # type: ignore[arg-type]
    if any(r is None for r in records):
        return None
    # The chain ends where the spread is exactly 0 (nothing varies below: an underflow), and after a
    # layer whose units are mostly dead from the start: dead units cut the signal, the weights do not.
    dead = _dead_fractions(stats)
    alive = next((i for i, r in enumerate(records) if not r.spread > 0), len(records))  # type: ignore[union-attr]
    cut = next(
        (
            i + 1
            for i, layer in enumerate(layers)
            if layer.activation_module in dead and dead[layer.activation_module].start >= 0.5
        ),
        len(layers),
    )
    layers, spreads = layers[: min(alive, cut)], records[: min(alive, cut)]
    if len(layers) < 2:
        return None
    change = spreads[-1].spread / spreads[0].spread  # type: ignore[union-attr]
    strength = max(change, 1 / change)
    if strength < warn_change:
        return None
    mean, activation, scheme = problem
    direction = "shrinks" if change < 1 else "grows"
    chain = ", ".join(
        f"{_label(stats, layer.activation_module)} {_g(s.spread)}"  # type: ignore[arg-type]
        for layer, s in zip(layers, spreads)
    )
    return Finding(
        rule="init_scale",
        severity="error" if strength >= error_change else "warning",
        title=f"Init scale off: weights are {_g(mean)}x the scale {activation} needs; the signal {direction} "
        f"{_g(strength)}x through {len(layers)} layers",
        explanation=(
            f"std(W) sqrt(fan_in) / gain({activation}) averages {_g(mean)} over the layers (1 keeps "
            f"the signal's scale). At step {first} the spread across examples of each activation's "
            f"output is: {chain}."
        ),
        recommendation=f"init: {scheme} for {activation} layers",
        recipe_changes={"model.init": scheme},
        evidence={
            "init_ratio": mean,
            "signal_change": change,
            "step": first,
            "activation_spread": {layer.activation_module: s.spread for layer, s in zip(layers, spreads)},
        },  # type: ignore[union-attr]
        score=_score(strength / warn_change),
        # A shrinking signal leaves the biases in charge, and units whose bias is negative go silent.
        explains=("plateau", "lr_too_low") + (("dead_units",) if change < 1 else ()),
    )


@_register(
    "vanishing_gradients",
    "Early layers get a vanishing fraction of the output layer's gradient.",
    "Hochreiter 1991; Glorot & Bengio 2010, AISTATS",
    accepts={"warn_ratio": UNIT_OPEN, "error_ratio": UNIT_OPEN, "early_steps": POSITIVE_INT},
)
def vanishing_gradients(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    warn_ratio: float = 1e-3,
    error_ratio: float = 1e-6,
    early_steps: int = 5,
) -> Finding | None:
    """RMS gradient per weight of each Linear/Conv layer over the output layer's: medians over the first
    ``early_steps`` steps and over the whole run, whichever is worse. The early window matters because
    adaptive optimizers (Adam) rescale tiny gradients into full-size steps and hide the problem later."""
    windows = []
    for first, where in ((early_steps, f"the first {early_steps} steps"), (None, "the whole run")):
        found = _layer_rms_gradients(stats, first)
        if found is not None and found[1][-1] > 0:
            windows.append((found[0], found[1] / found[1][-1], found[1], where))
    if not windows:
        return None
    layers, ratios, rms, where = min(windows, key=lambda w: w[1][:-1].min().item())
    worst = int(ratios[:-1].argmin())
    if ratios[worst] >= warn_ratio:
        return None
    weak = {layer.name: ratios[i].item() for i, layer in enumerate(layers[:-1]) if ratios[i] < warn_ratio}
    worst_layer, worst_ratio = layers[worst], ratios[worst].item()
    init = _init_problem(layers[:-1])
    saturating = sorted({layer.activation for layer in layers if layer.activation in ("sigmoid", "tanh")})
    explains: tuple[str, ...] = ("plateau", "lr_too_low")
    if init is not None and init[0] < 1:
        mean, activation, scheme = init
        recommendation = f"init: {scheme} for {activation} layers (the weights are {_g(mean)}x that scale)"
        if activation in ("sigmoid", "tanh") and len(layers) > 5:
            recommendation += "; this deep, prefer activation: relu with init: kaiming_normal"
        changes: dict[str, Any] = {"model.init": scheme}
        explains += ("init_scale",)
    elif saturating:
        recommendation = (
            f"activation: relu with init: kaiming_normal instead of {', '.join(saturating)} "
            "(their derivative is at most 1/4 or 1 and shrinks the gradient at every layer), "
            "or norm: batch"
        )
        changes = {"model.activation": "relu", "model.init": "kaiming_normal"}
    else:
        recommendation = (
            "norm: batch (or layer) after each Linear/Conv, or a residual architecture (model: resnet)"
        )
        changes = {"model.norm": "batch"}
    return Finding(
        rule="vanishing_gradients",
        severity="error" if worst_ratio < error_ratio else "warning",
        title=(
            f"Vanishing gradients: {_label(stats, worst_layer.name)} gets {_g(worst_ratio)} of the output "
            "layer's gradient per weight"
        ),
        explanation=(
            f"Median over {where} of the RMS gradient per weight, relative to the output layer "
            f"{_label(stats, layers[-1].name)}: "
            + ", ".join(f"{_label(stats, name)} {_g(r)}" for name, r in weak.items())
            + ". These layers barely learn."
        ),
        recommendation=recommendation,
        recipe_changes=changes,
        evidence={
            "window": where,
            "relative_gradient": {layer.name: ratios[i].item() for i, layer in enumerate(layers)},
            "rms_gradient": {layer.name: rms[i].item() for i, layer in enumerate(layers)},
        },
        score=_score(warn_ratio / max(worst_ratio, 1e-300)),
        explains=explains,
    )


@_register(
    "exploding_gradients",
    "Gradient norms that are huge, or grow by orders of magnitude during the run.",
    "Pascanu et al. 2013, On the difficulty of training recurrent neural networks, arXiv:1211.5063",
    accepts={
        "warn_norm": POSITIVE,
        "error_norm": POSITIVE,
        "warn_growth": _ABOVE_ONE,
        "error_growth": _ABOVE_ONE,
        "warn_depth_ratio": _ABOVE_ONE,
    },
)
def exploding_gradients(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    warn_norm: float = 1e3,
    error_norm: float = 1e5,
    warn_growth: float = 1e2,
    error_growth: float = 1e4,
    warn_depth_ratio: float = 1e3,
) -> Finding | None:
    """Global gradient norm against absolute bounds and against its first steps; early vs output layer."""
    norms = stats.global_grad_norms()
    finite = norms[torch.isfinite(norms)]
    if finite.numel() == 0:
        return None
    peak, peak_step = (
        finite.max().item(),
        stats.steps[int(torch.where(torch.isfinite(norms), norms, -1).argmax())],
    )
    early = finite[:3].median().item()
    growth = peak / max(early, 1e-30)
    rms = _layer_rms_gradients(stats)
    depth = (rms[1][:-1].max() / rms[1][-1]).item() if rms is not None and rms[1][-1] > 0 else 0.0
    signals = {"norm": peak / warn_norm, "growth": growth / warn_growth, "depth": depth / warn_depth_ratio}
    if max(signals.values()) < 1:
        return None
    error = peak > error_norm or growth > error_growth or stats.non_finite is not None
    layers = [layer for _, layer in _weight_layers(stats)]
    init = _init_problem(layers[:-1] if len(layers) > 1 else layers)
    seen = [f"the gradient norm reaches {_g(peak)} at step {peak_step}"]
    if growth >= warn_growth:
        seen.append(f"{_g(growth)}x its first steps' {_g(early)}")
    if depth >= warn_depth_ratio:
        seen.append(f"early layers get {_g(depth)}x the output layer's gradient per weight")
    if init is not None and init[0] > 1:
        mean, activation, scheme = init
        recommendation = f"init: {scheme} for {activation} layers (the weights are {_g(mean)}x that scale)"
        changes: dict[str, Any] = {"model.init": scheme}
        explains: tuple[str, ...] = ("nan_inf", "init_scale", "lr_too_high", "saturation", "dead_units")
    else:
        recommendation = "training: grad_clip_norm 1.0, and lower the lr"
        changes = {"training.grad_clip_norm": 1.0}
        explains = ("nan_inf",)
    return Finding(
        rule="exploding_gradients",
        severity="error" if error else "warning",
        title=f"Exploding gradients: norm {_g(peak)} at step {peak_step}",
        explanation="; ".join(seen)
        + ". Steps this large throw the weights far from where the gradient was measured.",
        recommendation=recommendation,
        recipe_changes=changes,
        evidence={
            "peak_norm": peak,
            "peak_step": peak_step,
            "first_steps_norm": early,
            "growth": growth,
            "depth_ratio": depth,
        },
        score=_score(max(signals.values())),
        explains=explains,
    )


@_register(
    "nan_inf",
    "A NaN or Inf appeared: where it was born, and at which step.",
    "Goodfellow et al. 2016, Deep Learning, sec. 4.1 (overflow and underflow)",
)
def nan_inf(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """Reports the origin found by :func:`optimlab.doctor.nan_origin.locate_non_finite`."""
    origin = stats.non_finite
    if origin is None:
        return None
    finite_before = _finite(stats.losses[: max(0, origin.step - 1)])
    history = ""
    if finite_before:
        history = f" The loss went from {_g(finite_before[0])} to {_g(finite_before[-1])} before it."
    module = ""
    if origin.module is not None:
        module = (
            f"{origin.module} ({origin.module_type})" if origin.module_type else _label(stats, origin.module)
        )
    titles = {
        "input": "in the input batch",
        "weights": f"a weight of {module} is already non-finite",
        "forward": f"first output by {module}",
        "loss": "in the loss, from finite outputs",
        "backward": f"born in the backward pass, just after {module}",
    }
    advice: dict[str, tuple[str, dict[str, Any]]] = {
        "input": ("data: remove or impute the non-finite values in the inputs", {}),
        "weights": (
            "lr: lower it, and training: grad_clip_norm 1.0 (a step already overflowed a weight)",
            {"training.grad_clip_norm": 1.0},
        ),
        "forward": (
            f"training: grad_clip_norm 1.0 and a lower lr, so that {origin.module} cannot overflow",
            {"training.grad_clip_norm": 1.0},
        ),
        "loss": (
            (
                "loss: check the targets (in range, finite) and compute the loss from logits "
                "(cross_entropy), not from probabilities (log of 0)"
            ),
            {},
        ),
        "backward": (
            f"model: guard the operation after {origin.module} (add an eps inside sqrt/log/division)",
            {},
        ),
    }
    recommendation, changes = advice[origin.kind]
    blew_up = (len(finite_before) >= 2 and finite_before[-1] > 10 * finite_before[0]) or (
        origin.largest_output is not None and origin.largest_output > 1e4
    )
    if blew_up and origin.kind in ("forward", "loss", "weights"):
        recommendation = (
            "lr: lower it, and training: grad_clip_norm 1.0 (the loss or the outputs blew up first)"
        )
        changes = {"training.grad_clip_norm": 1.0}
    return Finding(
        rule="nan_inf",
        severity="error",
        title=f"NaN/Inf at step {origin.step}: {titles[origin.kind]}",
        explanation=f"At step {origin.step}: {origin.detail}.{history}",
        recommendation=recommendation,
        recipe_changes=changes,
        evidence=origin.to_dict(),
        score=_SCORE_CAP / 2,
    )


@dataclasses.dataclass(frozen=True)
class _Windows:
    """A per-unit fraction (saturated, or dead) of one activation module at the start and at the end."""

    start: float
    end: float
    start_steps: list[int]
    end_steps: list[int]

    @property
    def worst(self) -> float:
        return max(self.start, self.end)


def _windows(stats: RunStatistics, module: str) -> tuple[list[int], list[int]]:
    """The detailed steps of the first window and of the last window that recorded ``module``."""
    steps = sorted(stats.outputs.get(module, {}))
    size = stats.schedule.window
    return steps[: max(1, min(size, stats.schedule.first))], steps[-size:]


def _saturated_fractions(stats: RunStatistics) -> dict[str, _Windows]:
    """Median saturated fraction of each saturating activation over its first and last windows."""
    found = {}
    for module in stats.activation_modules():
        records = stats.outputs.get(module, {})
        if records and next(iter(records.values())).saturated_fraction is not None:
            first, last = _windows(stats, module)
            start, end = (_median([records[s].saturated_fraction for s in steps]) for steps in (first, last))
            found[module] = _Windows(start, end, first, last)
    return found


def _dead_fractions(stats: RunStatistics) -> dict[str, _Windows]:
    """Fraction of each ReLU-family activation's units silent on every example of its first and last windows."""
    found = {}
    for module in stats.activation_modules():
        records = stats.outputs.get(module, {})
        if records and next(iter(records.values())).active_units is not None:
            first, last = _windows(stats, module)
            start, end = (
                1.0 - torch.stack([records[s].active_units for s in steps]).any(0).float().mean().item()  # type: ignore[misc]
                for steps in (first, last)
            )
            found[module] = _Windows(start, end, first, last)
    return found


@_register(
    "saturation",
    "Sigmoid/tanh units stuck near their asymptotes, where they pass almost no gradient.",
    "Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks, AISTATS",
    accepts={"warn_fraction": UNIT_OPEN, "error_fraction": UNIT_OPEN},
)
def saturation(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    warn_fraction: float = 0.4,
    error_fraction: float = 0.8,
) -> Finding | None:
    """Fraction of a saturating activation's outputs whose derivative is under 5% of its peak, over the
    first and the last window of detailed steps."""
    found = _saturated_fractions(stats)
    if not found:
        return None
    module = max(found, key=lambda m: found[m].worst)
    windows = found[module]
    fraction = windows.worst
    if fraction < warn_fraction:
        return None
    steps = windows.start_steps if windows.start >= windows.end else windows.end_steps
    per_layer = {m: w.worst for m, w in found.items()}
    activation = stats.activations[module]
    feeding = stats.feeding_layer(module)
    ratio = _init_ratio(feeding) if feeding is not None else None
    if ratio is not None and ratio > 2:
        recommendation = (
            f"init: xavier_normal for {activation} layers ({_label(stats, feeding.name)} "  # type: ignore[union-attr]
            f"is {_g(ratio)}x that scale)"
        )
        changes: dict[str, Any] = {"model.init": "xavier_normal"}
    else:
        recommendation = f"norm: batch before the {activation}, or activation: relu with init: kaiming_normal"
        changes = {"model.norm": "batch"}
    bad = {m: f for m, f in per_layer.items() if f >= warn_fraction}
    return Finding(
        rule="saturation",
        severity="error" if fraction >= error_fraction else "warning",
        title=f"Saturated {activation}: {fraction:.0%} of {_label(stats, module)}'s outputs sit on its flat tails",
        explanation=(
            f"At steps {steps[0]}..{steps[-1]}, {fraction:.0%} of {_label(stats, module)}'s outputs have a "
            f"derivative under 5% of its peak ("
            + ", ".join(f"{_label(stats, m)} {f:.0%}" for m, f in bad.items())
            + "); the gradient through them nearly vanishes."
        ),
        recommendation=recommendation,
        recipe_changes=changes,
        evidence={"saturated_fraction": per_layer, "steps": steps, "init_ratio": ratio},
        score=_score(fraction / warn_fraction) * 10,
        # Units that saturate only later cannot have starved the first steps of gradient.
        explains=("plateau", "lr_too_low")
        + (("vanishing_gradients",) if windows.start >= warn_fraction else ()),
    )


@_register(
    "dead_units",
    "ReLU-family units that never activate over a window of steps (dying ReLU).",
    "Lu et al. 2019, Dying ReLU and Initialization: Theory and Numerical Examples, arXiv:1903.06733",
    accepts={"warn_fraction": UNIT_OPEN, "error_fraction": UNIT_OPEN},
)
def dead_units(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    warn_fraction: float = 0.4,
    error_fraction: float = 0.7,
) -> Finding | None:
    """Units whose output is never positive on any example of the first, or of the last, window."""
    found = _dead_fractions(stats)
    if not found:
        return None
    module = max(found, key=lambda m: found[m].worst)
    windows = found[module]
    at_start, at_end, fraction = windows.start, windows.end, windows.worst
    if fraction < warn_fraction:
        return None
    activation = stats.activations[module]
    feeding = stats.feeding_layer(module)
    first_step = stats.detailed_steps[0] if stats.detailed_steps else None
    pre = stats.outputs.get(feeding.name, {}).get(first_step) if feeding is not None else None
    evidence: dict[str, Any] = {
        "dead_fraction": {m: w.worst for m, w in found.items()},
        "dead_at_start": at_start,
        "dead_at_end": at_end,
        "windows": {"start": windows.start_steps, "end": windows.end_steps},
    }
    explains: tuple[str, ...] = ("vanishing_gradients", "plateau", "lr_too_low", "exploding_gradients")
    detail = ""
    if feeding is not None and pre is not None:
        evidence.update(
            {
                "layer": feeding.name,
                "bias_mean": feeding.bias_mean,
                "pre_activation_mean": pre.mean,
                "pre_activation_spread": pre.spread,
            }
        )
        detail = (
            f" Its inputs from {_label(stats, feeding.name)} average {_g(pre.mean)} (spread across "
            f"examples {_g(pre.spread)})"
        )
        detail += f", its bias averages {_g(feeding.bias_mean)}." if feeding.bias_mean is not None else "."
    if feeding is not None and _negative_bias(stats, feeding):
        scheme = recommended_init(activation)
        recommendation = (
            f"init: {scheme} for {activation} layers, which starts biases at 0 "
            f"({_label(stats, feeding.name)}'s biases average {_g(feeding.bias_mean)})"
        )  # type: ignore[union-attr]
        changes: dict[str, Any] = {"model.init": scheme}
    elif at_end > at_start + 0.2:
        recommendation = "lr: lower it (units died during training), or activation: leaky_relu"
        changes = {"model.activation": "leaky_relu"}
        explains = ("vanishing_gradients", "plateau", "lr_too_low")
    else:
        recommendation = "activation: leaky_relu, or norm: batch before the activation"
        changes = {"model.activation": "leaky_relu"}
    when = (
        f"from the start (steps {windows.start_steps[0]}..{windows.start_steps[-1]})"
        if at_start >= at_end
        else f"by steps {windows.end_steps[0]}..{windows.end_steps[-1]} ({at_start:.0%} at the start)"
    )
    others = {m: w.worst for m, w in found.items() if m != module and w.worst >= warn_fraction}
    also = ("; also " + ", ".join(f"{_label(stats, m)} {f:.0%}" for m, f in others.items())) if others else ""
    return Finding(
        rule="dead_units",
        severity="error" if fraction >= error_fraction else "warning",
        title=f"Dead units: {fraction:.0%} of {_label(stats, module)}'s units never activate",
        explanation=(
            f"{fraction:.0%} of the units of {_label(stats, module)} output 0 on every example {when}{also}. "
            f"A dead unit passes no gradient, so it cannot recover.{detail}"
        ),
        recommendation=recommendation,
        recipe_changes=changes,
        evidence=evidence,
        score=_score(fraction / warn_fraction) * 10,
        explains=explains,
    )


@_register(
    "lr_too_high",
    "The learning rate diverges, oscillates, or lies far above the range test's suggestion.",
    "Smith 2017, Cyclical Learning Rates for Training Neural Networks, arXiv:1506.01186",
    accepts={
        "range_factor": _ABOVE_ONE,
        "rise_factor": _ABOVE_ONE,
        "spike_factor": _ABOVE_ONE,
        "update_ratio": POSITIVE,
        "collapse": UNIT_OPEN,
    },
)
def lr_too_high(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    range_factor: float = 10.0,
    rise_factor: float = 1.25,
    spike_factor: float = 4.0,
    update_ratio: float = 0.3,
    collapse: float = 0.5,
) -> Finding | None:
    """Evidence that the steps are too large, strongest first:

    * divergence: the loss ends ``rise_factor`` x above its first value, or turns NaN/Inf after finite steps;
    * the lr is ``range_factor`` x the range test's suggestion and past the lr of its lowest loss;
    * a spike: the loss jumps to ``spike_factor`` x its first value;
    * collapse during training: a ``collapse`` fraction of units die or saturate that were fine at first;
    * steps that move a layer's weights by ``update_ratio`` of their norm (median over detailed steps).
    """
    lr = _lr(stats)
    start, end = _loss_levels(stats)
    if math.isnan(lr) or math.isnan(start):
        return None
    losses = _finite(stats.losses)
    seen: list[str] = []
    errors = 0
    origin = stats.non_finite
    blew_up = origin is not None and (
        origin.kind in ("forward", "weights")
        or (origin.kind == "loss" and (origin.largest_output is None or origin.largest_output > 1e4))
    )  # not a log(0) on sane outputs
    grew_to_nan = blew_up and len(losses) >= 2
    if grew_to_nan:
        seen.append(f"the loss went from {_g(start)} to NaN/Inf at step {stats.non_finite.step}")  # type: ignore[union-attr]
        errors += 1
    elif end > rise_factor * start:
        seen.append(f"the loss rose from {_g(start)} to {_g(end)}")
        errors += 1
    beyond = (
        lr_range is not None
        and lr_range.suggestion is not None
        and lr > range_factor * lr_range.suggestion
        and (lr_range.min_loss_lr is None or lr > lr_range.min_loss_lr)
    )
    if beyond:
        seen.append(
            f"lr {_g(lr)} is {_g(lr / lr_range.suggestion)}x the range test's suggestion "  # type: ignore[union-attr]
            f"{_g(lr_range.suggestion)} and above its lowest-loss lr {_g(lr_range.min_loss_lr)}"
        )  # type: ignore[union-attr, arg-type]
    peak = max(losses)
    if peak > spike_factor * start and not grew_to_nan:
        seen.append(f"the loss jumped to {_g(peak)} at step {stats.steps[stats.losses.index(peak)]}")
    init_off = _init_problem([layer for _, layer in _weight_layers(stats)]) is not None
    collapsed = {
        m: w
        for m, w in {**_dead_fractions(stats), **_saturated_fractions(stats)}.items()
        if w.end - w.start >= collapse
    }
    if collapsed and not init_off:
        seen.append(
            "units that worked at first died or saturated during training ("
            + ", ".join(f"{_label(stats, m)} {w.start:.0%} -> {w.end:.0%}" for m, w in collapsed.items())
            + ")"
        )
    _, ratios = stats.update_to_weight_ratios()
    finite_ratios = ratios[torch.isfinite(ratios).all(1)] if ratios.numel() else ratios
    big_update = finite_ratios.max(1).values.median().item() if finite_ratios.numel() else 0.0
    if big_update > update_ratio:
        seen.append(f"each step moves the weights by {_g(big_update)} of their norm (median, worst layer)")
    if not seen:
        return None
    severity: Severity = "error" if errors or (beyond and end > 0.9 * start) else "warning"
    suggested = lr_range is not None and lr_range.suggestion is not None and lr_range.suggestion < lr
    target = lr_range.suggestion if suggested else lr / 10  # type: ignore[union-attr]
    source = (
        "from the range test" if suggested else "a tenth of now (optimlab lr-find gives a better estimate)"
    )
    strength = max(
        end / (rise_factor * start) if math.isfinite(end) else 10.0,
        lr / target / range_factor,  # type: ignore[operator]
        peak / (spike_factor * start),
        big_update / update_ratio,
        10.0 if grew_to_nan else 0.0,
    )
    explains: tuple[str, ...] = ("nan_inf", "plateau")
    if not init_off:  # a bad init explains these better
        explains += ("exploding_gradients", "dead_units", "saturation")
    return Finding(
        rule="lr_too_high",
        severity=severity,
        title=f"Learning rate too high: {_g(lr)}",
        explanation="; ".join(seen) + ".",
        recommendation=f"lr: {_g(target)}, {source}",  # type: ignore[arg-type]
        recipe_changes={"optimizer.lr": float(f"{target:.2g}")},
        evidence={
            "lr": lr,
            "loss_start": start,
            "loss_end": end,
            "loss_peak": peak,
            "update_to_weight_ratio": big_update,
            "suggestion": target,
            "collapsed_units": {m: [w.start, w.end] for m, w in collapsed.items()},
        },
        score=_score(strength) + len(seen),
        explains=explains,
    )


@_register(
    "lr_too_low",
    "No progress: the loss barely moves while the lr sits far below what the data allows.",
    "Smith 2017, Cyclical Learning Rates for Training Neural Networks, arXiv:1506.01186",
    accepts={"range_factor": _ABOVE_ONE, "min_progress": UNIT_OPEN, "tiny_update": POSITIVE},
)
def lr_too_low(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    range_factor: float = 10.0,
    min_progress: float = 0.2,
    tiny_update: float = 1e-4,
) -> Finding | None:
    """The loss fell by less than ``min_progress`` of its start, and either the range test suggests
    ``range_factor`` x more or the weights move by under ``tiny_update`` of their norm a step."""
    lr = _lr(stats)
    start, end = _loss_levels(stats)
    if math.isnan(lr) or not math.isfinite(end):
        return None
    progress = 1 - end / start if start > 0 else 0.0
    if progress >= min_progress:
        return None
    _, ratios = stats.update_to_weight_ratios()
    finite_ratios = ratios[torch.isfinite(ratios).all(1)] if ratios.numel() else ratios
    update = finite_ratios.max(1).values.median().item() if finite_ratios.numel() else math.nan
    below = (
        lr_range is not None and lr_range.suggestion is not None and lr * range_factor < lr_range.suggestion
    )
    if not (below or update < tiny_update):
        return None
    seen = [f"the loss went from {_g(start)} to {_g(end)} ({progress:.0%} progress)"]
    if below:
        seen.append(
            f"the range test suggests {_g(lr_range.suggestion)}, {_g(lr_range.suggestion / lr)}x the lr "  # type: ignore[union-attr, operator]
            f"{_g(lr)}"
        )
    if update < tiny_update:
        seen.append(f"each step moves the weights by {_g(update)} of their norm")
    target = lr_range.suggestion if below else lr * 10  # type: ignore[union-attr]
    source = "from the range test" if below else "ten times now"
    return Finding(
        rule="lr_too_low",
        severity="warning",
        title=f"Learning rate too low: {_g(lr)} makes {progress:.0%} progress",
        explanation="; ".join(seen) + ".",
        recommendation=f"lr: {_g(target)}, {source}",  # type: ignore[arg-type]
        recipe_changes={"optimizer.lr": float(f"{target:.2g}")},
        evidence={
            "lr": lr,
            "loss_start": start,
            "loss_end": end,
            "progress": progress,
            "update_to_weight_ratio": update,
            "suggestion": target,
        },
        score=_score(max(target / lr / range_factor, min_progress / max(progress, 1e-3))),  # type: ignore[operator]
    )


@_register(
    "plateau",
    "The loss made progress, then its best level stopped improving while still far from zero.",
    "Dauphin et al. 2014, Identifying and attacking the saddle point problem, arXiv:1406.2572",
    accepts={"min_improvement": UNIT_OPEN, "min_steps": POSITIVE_INT, "high_level": UNIT_OPEN},
)
def plateau(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    min_improvement: float = 0.02,
    min_steps: int = 60,
    high_level: float = 0.3,
) -> Finding | None:
    """The best moving average (over a tenth of the run) of the last third beats the best before it by
    under ``min_improvement``, after the loss fell by 10%, while still above ``high_level`` x its start.

    Comparing *best* levels, not consecutive medians, keeps minibatch noise from passing for progress.
    Severity: a warning when the loss stalls above 70% of its start (it barely learned), else info.
    """
    losses = _finite(stats.losses)
    if len(losses) < min_steps or len(losses) < len(stats.losses):
        return None
    width = max(5, len(losses) // 10)
    averages = (
        torch.tensor(losses, dtype=torch.float64).unfold(0, width, 1).mean(1)
    )  # window ending at i + width
    split = len(losses) - len(losses) // 3 - width + 1  # the first window that ends inside the last third
    before, after = averages[:split].min().item(), averages[split:].min().item()
    start = losses[0]
    improvement = (before - after) / max(abs(before), 1e-12)
    if improvement >= min_improvement or before > 0.9 * start or after < high_level * start:
        return None
    steps = len(losses) // 3
    return Finding(
        rule="plateau",
        severity="warning" if after > 0.7 * start else "info",
        title=f"Plateau: the loss stays near {_g(after)} over the last {steps} steps",
        explanation=(
            f"The loss fell from {_g(start)} to {_g(before)}, then its best level improved by only "
            f"{improvement:.1%} over the last {steps} steps, at {after / start:.0%} of where it began."
        ),
        recommendation="schedule: cosine (decay the lr to settle into the basin); if the loss is the data's "
        "noise floor, a larger model or more features, not optimization, will help",
        recipe_changes={"schedule.name": "cosine"},
        evidence={
            "loss_start": start,
            "best_before": before,
            "best_last_third": after,
            "improvement": improvement,
            "steps": steps,
        },
        score=_score(min_improvement / max(improvement, 1e-4)),
    )


def rule_names() -> list[str]:
    return _REGISTRY.names()


def run_rules(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """Every registered rule over ``stats``, the findings ranked root cause first.

    ``options`` maps a rule's name to threshold keywords, checked against the rule's accepted ranges.
    """
    options = {_REGISTRY.resolve(name): keywords for name, keywords in (options or {}).items()}
    findings = []
    for entry in _REGISTRY:
        finding = entry.create(stats, lr_range, **options.get(entry.name, {}))
        if finding is not None:
            findings.append(finding)
    return rank(findings)
