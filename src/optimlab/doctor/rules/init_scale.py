"""Rules on the initial weights: a scale off for the activation, seen in the signal through the layers."""

from __future__ import annotations

import dataclasses

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import (
    _ABOVE_ONE,
    _dead_fractions,
    _g,
    _init_problem,
    _label,
    _negative_bias,
    _register,
    _score,
    _weight_layers,
)

__all__ = ["init_scale"]


@_register(
    "init_scale",
    "Weights initialized too small or too large for the activation that follows them.",
    "He et al. 2015, arXiv:1502.01852; Glorot & Bengio 2010, AISTATS",
    accepts={
        "off_by": _ABOVE_ONE,
        "warn_change": _ABOVE_ONE,
        "error_change": _ABOVE_ONE,
        "output_std": _ABOVE_ONE,
    },
)
def init_scale(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    off_by: float = 2.0,
    warn_change: float = 30.0,
    error_change: float = 1000.0,
    output_std: float = 2.0,
) -> Finding | None:
    """Weight gain off by ``off_by`` x (or by less, where it compounds over the layers to ``warn_change``
    x) AND the signal shrinking or growing ``warn_change`` x through the layers.

    The signal is the spread across examples of each activation's output at the first step; a shallow
    net with PyTorch's default init (0.41x He's scale for ReLU) keeps it and is not flagged. Norm layers
    reset the signal's scale, whatever the init; in a net with them, weights too large are found in the
    output layer's scores instead, their std at least ``output_std`` at the first step
    (:func:`_scores_too_large`).
    """
    first = stats.detailed_steps[0] if stats.detailed_steps else None
    if first is None:
        return None
    found = _signal_changed(stats, first, off_by, warn_change, error_change)
    if found is None and stats.norms:
        return _scores_too_large(stats, first, off_by, output_std)
    return found


def _signal_changed(
    stats: RunStatistics, first: int, off_by: float, warn_change: float, error_change: float
) -> Finding | None:
    """Weights off for their activation, seen in the signal shrinking or growing through the layers."""
    layers = [layer for _, layer in _weight_layers(stats) if layer.activation is not None]
    # Deep enough, a gain off by less compounds to as large a change (Xavier's before 30 ReLU layers:
    # 0.71x He's scale, 0.71^30 = 3e-5).
    problem = _init_problem(layers, min(off_by, warn_change ** (1 / max(len(layers), 1))))
    if problem is None or len(layers) < 2 or any(layer.normalized for layer in layers):
        return None  # norm layers set the signal's scale, whatever the init
    if any(_negative_bias(stats, layer) for layer in layers):
        return None  # negative biases cut the signal, not the weights: dead_units reports them
    # The signal is what the activations pass on; in a residual net it is the stream after each block.
    signal = [
        (module, record)
        for layer in layers
        if (module := layer.activation_module) is not None
        and (record := stats.outputs.get(module, {}).get(first)) is not None
    ]
    if len(signal) < len(layers):
        return None
    # The chain ends where the spread is exactly 0 (nothing varies below: an underflow), and after a
    # layer whose units are mostly dead from the start: dead units cut the signal, the weights do not.
    dead = _dead_fractions(stats)
    alive = next((i for i, (_, r) in enumerate(signal) if not r.spread > 0), len(signal))
    cut = next(
        (i + 1 for i, (module, _) in enumerate(signal) if module in dead and dead[module].start >= 0.5),
        len(signal),
    )
    layers, signal = layers[: min(alive, cut)], signal[: min(alive, cut)]
    if len(layers) < 2:
        return None
    change = signal[-1][1].spread / signal[0][1].spread
    strength = max(change, 1 / change)
    if strength < warn_change:
        return None
    mean, activation, scheme = problem
    direction = "shrinks" if change < 1 else "grows"
    chain = ", ".join(f"{_label(stats, module)} {_g(s.spread)}" for module, s in signal)
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
            "activation_spread": {module: s.spread for module, s in signal},
        },
        score=_score(strength / warn_change),
        # A shrinking signal leaves the biases in charge, and units whose bias is negative go silent.
        explains=("plateau", "no_learning", "lr_too_low") + (("dead_units",) if change < 1 else ()),
    )


def _scores_too_large(stats: RunStatistics, first: int, off_by: float, output_std: float) -> Finding | None:
    """Weights too large in a net whose norm layers keep the signal's scale: the layers reading a norm's
    output multiply it by their gain all the same, into an attention's softmax and into the output
    layer's scores. Logits of std 2 start a cross-entropy 0.9 (3 classes) to 1.9 (100 classes) nats
    above chance, std 8 6 to 16 (measured on normal draws): confident guesses the steps must first
    unlearn. A GPT-2 drawn at std 1 (scores' std 8) trains 150 steps of AdamW 1e-3 to 7.9 nats where HF's std 0.02 reaches 0.34, a
    ViT (3.7) to 0.78 where std 0.02 reaches 0.03. Weights too small are left alone: the norms bring
    them back to scale (BERT's and GPT-2's own init is 0.1x He's)."""
    layers = [layer for _, layer in _weight_layers(stats)]  # all: an attention's readers pick the scheme
    # Where no activation is a module (torch's TransformerEncoderLayer calls F.relu), the hidden layers
    # are read as linear ones: gain 1.
    problem = _init_problem(layers, off_by) or _init_problem(
        [dataclasses.replace(layer, activation="identity") for layer in layers[:-1]], off_by
    )
    output = layers[-1] if layers else None
    record = stats.outputs.get(output.name, {}).get(first) if output is not None else None
    if problem is None or problem[0] < 1 or record is None or output.activation is not None:
        return None  # too small: the norms bring the signal back to scale
    if not record.std >= output_std:
        return None
    mean, activation, scheme = problem
    needs, layers_of = (
        ("a linear layer", "") if activation == "identity" else (activation, f" for {activation} layers")
    )
    return Finding(
        rule="init_scale",
        severity="warning",
        title=f"Init scale off: weights are {_g(mean)}x the scale {needs} needs; norm layers hide it "
        f"from the signal, not from the scores of {_label(stats, output.name)} (std {_g(record.std)})",
        explanation=(
            f"std(W) sqrt(fan_in) / gain({activation}) averages {_g(mean)} over the layers (1 keeps the "
            f"signal's scale). Norm layers reset the signal, but each layer reading them scales it by its "
            f"weights again: at step {first} the output layer's scores have std {_g(record.std)}, "
            f"confident guesses the steps must first unlearn (a cross-entropy far above chance), with "
            f"softmaxes (attention) saturated on the way; and each step moves weights this large by a "
            f"small fraction of their size."
        ),
        recommendation=f"init: {scheme}{layers_of}",
        recipe_changes={"model.init": scheme},
        evidence={
            "init_ratio": mean,
            "output_layer": output.name,
            "output_std": record.std,
            "step": first,
        },
        score=_score(record.std / output_std),
        explains=("plateau", "no_learning", "lr_too_low", "saturation", "exploding_gradients"),
    )
