"""Rules on the activations' units: saturated (sigmoid, tanh) and dead (ReLU family), and the signal
they lose (a ReLU outside any module that zeroes it)."""

from __future__ import annotations

import math
from typing import Any

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import LayerInfo, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import (
    TINY_WEIGHTS,
    _bias_hold,
    _BiasHold,
    _dead_fractions,
    _embedding_init,
    _g,
    _init_problem,
    _init_ratio,
    _label,
    _large_embedding,
    _loss_levels,
    _negative_bias,
    _register,
    _saturated_fractions,
    _score,
    _weight_layers,
    init_advice,
    recommended_init,
)
from optimlab.registry import POSITIVE, UNIT_OPEN

__all__ = ["CONSTANT_SPREAD", "SATURATED_FRACTION", "dead_units", "lost_signal", "saturation"]


# The share of a sigmoid's or tanh's outputs on its flat tails from which the saturation rule warns.
SATURATED_FRACTION = 0.4


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
    warn_fraction: float = SATURATED_FRACTION,
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
    embedding = _large_embedding(stats, feeding.name) if feeding is not None else None
    changes: dict[str, Any] = {}
    advised: list[str] = []  # the layers an init advice is about
    if feeding is not None and ratio is not None and ratio > 2:
        advice = init_advice(stats, "xavier_normal", activation)
        changes, advised = advice.recipe_changes, advice.layers
        # against the advice's own scale on this layer, Glorot's sqrt(2 / (fan_in + fan_out)) (gain 1),
        # not the ratio's gain(tanh) 5/3 / sqrt(fan_in): a 64->256 layer at 4/sqrt(fan_in) is 6.3x it
        xavier = math.sqrt(2 / (feeding.fan_in + feeding.fan_out))  # type: ignore[operator]  # ratio has them
        recommendation = (
            f"{advice.words} ({_label(stats, feeding.name)}'s weights are "
            f"{_g(feeding.weight_std / xavier)}x the std {_g(xavier)} it draws there)"  # type: ignore[operator]
        )
    elif embedding is not None:
        recommendation = f"{_embedding_init(stats, embedding[0])}; they have std {_g(embedding[1])}"
    elif "model.norm" in stats.recipe_fields:  # each other field named only where the recipe reaches it
        relu = (
            "activation: relu"
            if "model.activation" in stats.recipe_fields
            else f"nn.ReLU in place of that {activation}"
        )
        he = (
            "init: kaiming_normal"
            if "model.init" in stats.recipe_fields
            else "nn.init.kaiming_normal_ on the weight that feeds it"
        )
        recommendation = f"norm: batch before the {activation}, or {relu} with {he}"
        changes = {"model.norm": "batch"}
    else:
        recommendation = _norm_or_relu(stats, module, feeding)
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
        evidence={
            "saturated_fraction": per_layer,
            "steps": steps,
            "init_ratio": ratio,
            "embedding_std": None if embedding is None else embedding[1],
        }
        | ({"layers": advised} if advised else {}),
        score=_score(fraction / warn_fraction) * 10,
        # Units that saturate only later cannot have starved the first steps of gradient.
        explains=("plateau", "no_learning", "lr_too_low")
        + (("vanishing_gradients",) if windows.start >= warn_fraction else ()),
    )


def _norm_or_relu(stats: RunStatistics, module: str, feeding: LayerInfo | None) -> str:
    """The saturation fix for a user's model, in its layers' names and torch calls: a norm layer
    before the activation ``module``, or a ReLU in its place with He's init."""
    activation, reads = stats.activations[module], f"{feeding.name}'s outputs" if feeding else "its inputs"
    return (
        f"a norm layer on {reads}, before the {activation} at {module} ({_torch_norms(feeding)}), or "
        f"nn.ReLU in place of that {activation} with nn.init.kaiming_normal_ on the weight that feeds it"
    )


def _torch_norms(feeding: LayerInfo | None) -> str:
    """The torch norm layers that take the outputs of ``feeding``: a conv layer's (N, C, ...) by channel
    (nn.LayerNorm(C) takes only a last dimension of C, nn.BatchNorm1d only (N, C) or (N, C, L))."""
    if feeding is None or not feeding.convolutional:
        return "nn.LayerNorm, or nn.BatchNorm1d over features"
    dims = feeding.kind[-2] if feeding.kind[-2:-1].isdigit() else "2"
    return f"nn.BatchNorm{dims}d over channels, or nn.GroupNorm"


def _leaky(stats: RunStatistics, module: str) -> str:
    """The dead-units fix of a leaky ReLU for activation ``module``: the recipe field on optimlab's
    architectures, the torch module in place of the user's own."""
    if "model.activation" in stats.recipe_fields:
        return "activation: leaky_relu"
    return f"nn.LeakyReLU in place of the {stats.activations[module]} at {module}"


def _holds(hold: _BiasHold, activation: str, what: str) -> str:
    """``holds 14 of the 14 dead units under the relu's 0 (their biases average -10, ...)``."""
    return (
        f"holds {hold.held} of the {hold.dead} dead units under the {activation}'s 0 (their {what} average "
        f"{_g(hold.bias_mean)}, below minus the spread of its outputs across examples, {_g(hold.spread)})"
    )


def _norm_before(stats: RunStatistics, module: str) -> LayerInfo | None:
    """The norm layer with parameters that ran just before activation ``module``, if one did: what the
    activation reads, between it and its feeding layer."""
    order = stats.forward_order
    if module not in order or order.index(module) == 0 or order[order.index(module) - 1] not in stats.norms:
        return None
    return next((layer for layer in stats.layers if layer.name == order[order.index(module) - 1]), None)


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
    before = _norm_before(stats, module) or feeding  # what the activation reads
    first_step = stats.detailed_steps[0] if stats.detailed_steps else None
    pre = (
        stats.outputs.get(before.name, {}).get(first_step)
        if before is not None and first_step is not None
        else None
    )
    evidence: dict[str, Any] = {
        "dead_fraction": {m: w.worst for m, w in found.items()},
        "dead_at_start": at_start,
        "dead_at_end": at_end,
        "windows": {"start": windows.start_steps, "end": windows.end_steps},
    }
    explains: tuple[str, ...] = (
        "vanishing_gradients",
        "plateau",
        "no_learning",
        "lr_too_low",
        "exploding_gradients",
    )
    detail = ""
    if before is not None and pre is not None:
        evidence.update(
            {
                "layer": before.name,
                "bias_mean": before.bias_mean,
                "pre_activation_mean": pre.mean,
                "pre_activation_spread": pre.spread,
            }
        )
        detail = (
            f" Its inputs from {_label(stats, before.name)} average {_g(pre.mean)} (spread across "
            f"examples {_g(pre.spread)})"
        )
        detail += f", its bias averages {_g(before.bias_mean)}." if before.bias_mean is not None else "."
    # the dead units that their own bias (a norm's shift) holds under 0, whatever their inputs add
    hold = _bias_hold(stats, before, module, windows.start_steps) if before is not None else None
    if hold is not None:
        evidence.update(
            {"bias_held_units": hold.held, "held_bias_mean": hold.bias_mean if hold.held else None}
        )
    held = hold if hold is not None and hold.held > 0 and 2 * hold.held >= hold.dead else None  # most of them
    tiny = feeding is not None and (_init_ratio(feeding) or 1.0) < TINY_WEIGHTS
    if before is not None and before is not feeding and (held or _negative_bias(stats, before)):
        recommendation = (
            # no recipe field sets a norm's shift (model.norm picks the layer): torch's words for every model
            f"nn.init.zeros_(bias) on {_label(stats, before.name)}, its shift, where torch starts it: "
            + (
                f"it {_holds(held, activation, 'shifts')}"
                if held
                else f"it averages {_g(before.bias_mean)}, below the normalized outputs' spread, and holds them "
                f"under the {activation}'s 0"
            )
        )
        changes: dict[str, Any] = {}
    elif (
        feeding is not None
        and not feeding.normalized  # a norm between them takes the bias out
        and feeding.bias_mean is not None
        and (_negative_bias(stats, feeding) or (held and not tiny))  # tiny weights: the init's, below
    ):
        advice = init_advice(
            stats,
            recommended_init(activation),
            activation,
            _dead_feeders(stats, feeding, found, activation, warn_fraction),
            zero_biases=True,
        )
        changes, evidence["layers"] = advice.recipe_changes, advice.layers
        recommendation = advice.words + (
            f": {_label(stats, feeding.name)}'s bias {_holds(held, activation, 'biases')}"
            if held
            else f" ({_label(stats, feeding.name)}'s biases average {_g(feeding.bias_mean)})"
        )
    elif (
        feeding is not None
        # a norm between them rescales what they output, mostly their biases: the same for every example
        # (Linear + LayerNorm + ReLU drawn at 0.01x torch's init, SGD 0.1: 43% dead from the start, held-out
        # accuracy 0.92 against 0.96 at torch's init over 3 seeds)
        and at_start >= warn_fraction
        and (ratio := _init_ratio(feeding)) is not None
        and ratio < TINY_WEIGHTS
    ):
        advice = init_advice(stats, recommended_init(activation), activation)
        changes, evidence["layers"] = advice.recipe_changes, advice.layers
        recommendation = (
            f"{advice.words} ({_label(stats, feeding.name)}'s weights are {_g(ratio)}x the scale {activation} "
            "needs: its biases, not its inputs, decide which units fire)"
        )
        evidence["init_ratio"] = ratio
    elif feeding is None and at_start >= warn_fraction:
        # Nothing trained feeds them (a frozen layer, requires_grad=False, or the data): their inputs stay
        # under 0, and leaky_relu's slope of 0.01 passes too little of them to learn from (a frozen Linear
        # biased -10 under a ReLU, 200 steps of Adam 1e-3: loss 1.14 to 1.07 with either; a BatchNorm1d
        # before the ReLU: 1.12 to 0.46, as unfrozen and unbiased).
        recommendation = (
            "norm: batch before the activation"
            if "model.norm" in stats.recipe_fields
            else f"a norm layer (nn.BatchNorm1d/2d over features or channels) before the {activation} at {module}"
        ) + (
            ": what feeds it is not trained (a frozen layer, requires_grad=False, or the data itself), so "
            "its inputs stay where they are; a norm centres them (leaky_relu's slope of 0.01 passes too "
            "little of them)"
        )
        changes = {"model.norm": "batch"} if "model.norm" in stats.recipe_fields else {}
    elif at_end > at_start + 0.2:
        recommendation = f"lr: lower it (units died during training), or {_leaky(stats, module)}"
        changes = {"model.activation": "leaky_relu"} if "model.activation" in stats.recipe_fields else {}
        explains = ("vanishing_gradients", "plateau", "no_learning", "lr_too_low")
    else:
        norm = (
            "norm: batch before the activation"
            if "model.norm" in stats.recipe_fields
            else f"a norm layer before it ({_torch_norms(feeding)})"
        )
        recommendation = _leaky(stats, module) + (
            "" if feeding is not None and feeding.normalized else f", or {norm}"
        )
        changes = {"model.activation": "leaky_relu"} if "model.activation" in stats.recipe_fields else {}
    when = (
        f"from the start (steps {windows.start_steps[0]}..{windows.start_steps[-1]})"
        if at_start >= at_end
        else f"by steps {windows.end_steps[0]}..{windows.end_steps[-1]} ({at_start:.0%} at the start)"
    )
    others = {m: w.worst for m, w in found.items() if m != module and w.worst >= warn_fraction}
    also = ("; also " + ", ".join(f"{_label(stats, m)} {f:.0%}" for m, f in others.items())) if others else ""
    # A conv layer's unit is a channel, dead where it is 0 at every position of every example.
    conv = feeding is not None and feeding.convolutional
    units, where = (
        ("channels", "at every position of every example") if conv else ("units", "on every example")
    )
    return Finding(
        rule="dead_units",
        severity="error" if fraction >= error_fraction else "warning",
        title=f"Dead units: {fraction:.0%} of {_label(stats, module)}'s {units} never activate",
        explanation=(
            f"{fraction:.0%} of the {units} of {_label(stats, module)} output 0 {where} {when}{also}. "
            f"A dead unit passes no gradient, so it cannot recover.{detail}"
        ),
        recommendation=recommendation,
        recipe_changes=changes,
        evidence=evidence,
        score=_score(fraction / warn_fraction) * 10,
        explains=explains,
    )


def _dead_feeders(
    stats: RunStatistics, feeding: LayerInfo, found: dict[str, Any], activation: str, warn_fraction: float
) -> list[str] | None:
    """The layers whose init and biases the dead units of ``feeding``'s activation ask to redraw: every
    one feeding ``activation`` (None: :func:`init_advice`'s default) where their weights are too small
    as well (:func:`_init_problem`), else ``feeding`` and each other layer, with no norm before its
    activation, that feeds units dead over ``warn_fraction``. Six Conv2d + ReLU layers drawn at std
    0.02 (0.07x to 0.12x He's scale), told one layer at a time, kept the others at that scale."""
    small = _init_problem([x for _, x in _weight_layers(stats) if x.activation == activation])
    if small is not None and small[0] < 1:
        return None
    dead = {m for m, w in found.items() if w.worst >= warn_fraction}
    return [feeding.name] + [
        x.name
        for _, x in _weight_layers(stats)
        if x is not feeding and x.activation_module in dead and not x.normalized
    ]


# A layer's outputs are the same for every example where their spread across examples is under this
# fraction of their size: float32's rounding of a constant input leaves ~1e-7 of it (a Conv1d reading
# zeros: 1e-8 against 0.08); a layer reading data varies by a unit's share of its std.
CONSTANT_SPREAD = 1e-4


@_register(
    "lost_signal",
    "The output layer's outputs are the same for every example and the loss does not fall: something "
    "between two layers (a ReLU outside any module, torch.relu or F.relu) zeroes the signal.",
    "Lu et al. 2019, Dying ReLU and Initialization: Theory and Numerical Examples, arXiv:1903.06733",
    accepts={"progress": UNIT_OPEN, "held_below": POSITIVE},
)
def lost_signal(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    progress: float = 0.1,
    held_below: float = 3.0,
) -> Finding | None:
    """At the first detailed step the output layer's outputs do not vary across examples, nor do those
    of an earlier layer whose forward predecessor's do (where the signal was lost), and the loss never
    fell by ``progress`` of its start. A ReLU module there is dead_units' to tell; one the forward pass
    calls as a function is seen only so. The layer before it whose outputs average ``held_below``
    spreads under 0 is named: a ReLU after it outputs 0 for every example; else the weights before it,
    where they are 3x too small for their activation: each layer shrinks the signal until the biases are
    all that is left (ReLU layers at 0.08x He's scale lose it in 3)."""
    first = stats.detailed_steps[0] if stats.detailed_steps else None
    order = [m for m in stats.forward_order if first in stats.outputs.get(m, {})]
    start, end = _loss_levels(stats)
    if len(order) < 2 or not end > (1 - progress) * start or not _constant(stats, order[-1], first):
        return None
    # an embedding's outputs are the same for every example where its ids are (BERT's token types, all 0)
    kinds = {layer.name: layer.kind for layer in stats.layers}
    lost = next(
        (
            i
            for i in range(1, len(order) - 1)
            if _constant(stats, order[i], first) and not kinds.get(order[i], "").startswith("Embedding")
        ),
        None,
    )
    if lost is None or _constant(stats, order[lost - 1], first) or order[lost] in stats.activations:
        return None  # a zero-initialized output layer's, or dead units a ReLU module shows
    seen = [stats.outputs[m][first] for m in order[:lost]]
    depth = [(-s.mean / s.spread if s.spread > 0 else 0.0, m) for s, m in zip(seen, order[:lost])]
    held, culprit = max(depth)
    layer = next((x for x in stats.layers if x.name == culprit), None)
    head, where = _label(stats, order[-1]), _label(stats, order[lost])
    explanation = (
        f"At step {first} {head}'s outputs are the same for every example. The first layer whose outputs are is "
        f"{where}: it reads nothing of the example, while {_label(stats, order[lost - 1])} before it still does. "
        f"The loss went from {_g(start)} to {_g(end)}: what does not reach the output cannot be learnt."
    )
    evidence: dict[str, Any] = {
        "lost_at": order[lost],
        "after": order[lost - 1],
        "loss_start": start,
        "loss_end": end,
    }
    changes: dict[str, Any] = {}
    if held >= held_below and layer is not None and layer.bias_mean is not None and layer.bias_mean < 0:
        advice = init_advice(stats, recommended_init("relu"), "relu", zero_biases=True)
        changes, evidence["layers"] = advice.recipe_changes, advice.layers
        explanation += (
            f" {_label(stats, culprit)}'s outputs average {_g(seen[order.index(culprit)].mean)} against a "
            f"spread of {_g(seen[order.index(culprit)].spread)} across examples (its bias averages "
            f"{_g(layer.bias_mean)}): a ReLU applied to them outside any module (torch.relu, F.relu) "
            "outputs 0 for every example, and passes no gradient back."
        )
        recommendation = f"{advice.words} ({_label(stats, culprit)}'s average {_g(layer.bias_mean)})"
        evidence.update({"held_under_zero": culprit, "held_by_spreads": held, "bias_mean": layer.bias_mean})
    elif shrunk := _shrunk_by_init(stats, order[:lost], first):
        mean, activation, scheme = shrunk
        advice = init_advice(stats, scheme, activation)
        changes, evidence["layers"] = advice.recipe_changes, advice.layers
        explanation += (
            f" The weights before it are {_g(mean)}x the scale {activation} needs: each layer shrinks the "
            "signal, until the biases are all that is left of it."
        )
        recommendation = f"{advice.words} (the weights are {_g(mean)}x the scale {activation} needs)"
        evidence["init_ratio"] = mean
    else:
        recommendation = (
            f"look between {_label(stats, order[lost - 1])} and {where} in the forward pass: a function there "
            "(a ReLU on values below 0, a clamp, a mask, a detach) outputs the same for every example"
        )
    return Finding(
        rule="lost_signal",
        severity="error",
        title=f"Lost signal: {head}'s outputs are the same for every example, lost at {where}",
        explanation=explanation,
        recommendation=recommendation,
        recipe_changes=changes,
        evidence=evidence,
        score=_score(max(held / held_below, 1.0)) + 1.0,
        explains=("dead_units", "vanishing_gradients", "plateau", "no_learning", "lr_too_low", "lr_too_high"),
    )


def _shrunk_by_init(
    stats: RunStatistics, before: list[str], step: int | None
) -> tuple[float, str, str] | None:
    """:func:`_init_problem` of the weight layers among ``before`` where their weights are too small and
    the signal's spread across examples shrinks through them at ``step``; None where a norm layer runs
    between one of them and its activation, which sets the signal's scale whatever the init (Linear +
    LayerNorm blocks drawn at 0.06x He's scale keep it: what loses it is elsewhere)."""
    layers = [x for _, x in _weight_layers(stats) if x.name in before]
    problem = _init_problem(layers)
    if problem is None or problem[0] >= 1 or any(x.normalized for x in layers):
        return None
    spreads = [stats.outputs[x.name][step].spread for x in layers if step in stats.outputs.get(x.name, {})]
    return problem if len(spreads) >= 2 and spreads[-1] < spreads[0] else None


def _constant(stats: RunStatistics, module: str, step: int | None) -> bool:
    """Whether ``module``'s outputs at ``step`` are the same for every example (:data:`CONSTANT_SPREAD`)."""
    seen = stats.outputs[module][step]
    size = max(seen.std, abs(seen.mean))
    return seen.spread == seen.spread and (size == 0 or seen.spread <= CONSTANT_SPREAD * size)
