"""Rules on the initial weights: a scale off for the activation, seen in the signal through the layers."""

from __future__ import annotations

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
    """Weight gain off by ``off_by`` x (or by less, where it compounds over the layers to ``warn_change``
    x) AND the signal shrinking or growing ``warn_change`` x through the layers.

    The signal is the spread across examples of each activation's output at the first step; a shallow
    net with PyTorch's default init (0.41x He's scale for ReLU) keeps it and is not flagged, nor is a net
    whose norm layers reset the scale.
    """
    layers = [layer for _, layer in _weight_layers(stats) if layer.activation is not None]
    # Deep enough, a gain off by less compounds to as large a change (Xavier's before 30 ReLU layers:
    # 0.71x He's scale, 0.71^30 = 3e-5).
    problem = _init_problem(layers, min(off_by, warn_change ** (1 / max(len(layers), 1))))
    first = stats.detailed_steps[0] if stats.detailed_steps else None
    if problem is None or first is None or len(layers) < 2 or any(layer.normalized for layer in layers):
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
