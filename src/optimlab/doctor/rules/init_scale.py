"""Rules on the initial weights: a scale off for the activation, seen in the signal through the layers."""

from __future__ import annotations

import dataclasses
import itertools

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import OutputStats, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import (
    _ABOVE_ONE,
    _RECURRENT_INIT,
    DROWNED_SPREAD,
    LARGE_EMBEDDING_STD,
    LARGE_RECURRENT_SCALE,
    TINY_WEIGHTS,
    _dead_fractions,
    _drowned_norms,
    _embedding_init,
    _g,
    _has_fit,
    _init_problem,
    _label,
    _large_embedding,
    _large_recurrent,
    _loss_levels,
    _negative_bias,
    _register,
    _saturated_fractions,
    _score,
    _weight_layers,
    init_advice,
    recommended_init,
)
from optimlab.doctor.rules.activations import SATURATED_FRACTION

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
        "recurrent_scale": _ABOVE_ONE,
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
    recurrent_scale: float = LARGE_RECURRENT_SCALE,
) -> Finding | None:
    """Weight gain off by ``off_by`` x (or by less, where it compounds over the layers to ``warn_change``
    x) AND the signal shrinking (weights too small) or growing (too large) ``warn_change`` x through
    the layers.

    The signal is the spread across examples of each activation's output at the first step; a shallow
    net with PyTorch's default init (0.41x He's scale for ReLU) keeps it and is not flagged. Norm layers
    reset the signal's scale, whatever the init, and a shallow net compounds too few layers to change it
    ``warn_change`` x; there, weights far too small are found in the norms' outputs, the same for every
    example (:func:`_drowned_by_biases`), and weights too large in the output layer's scores, their
    std at least ``output_std`` at the first step (:func:`_scores_too_large`). An embedding's vectors
    drawn too large are read apart (:func:`_embedding_too_large`): no fan-in sets their scale; so are an
    RNN's recurrent weights, over ``recurrent_scale`` x the scale of orthogonal ones
    (:func:`_recurrent_too_large`).
    """
    first = stats.detailed_steps[0] if stats.detailed_steps else None
    if first is None:
        return None
    found = (
        _weights_constant(stats)
        or _signal_changed(stats, first, off_by, warn_change, error_change)
        or _drowned_by_biases(stats, first)
    )
    if found is None:
        found = _scores_too_large(stats, first, off_by, output_std)
    return (
        found
        or _embedding_too_large(stats, first, output_std)
        or _recurrent_too_large(stats, recurrent_scale)
    )


def _embedding_too_large(stats: RunStatistics, first: int, output_std: float) -> Finding | None:
    """An embedding whose vectors have a std over :data:`LARGE_EMBEDDING_STD` at the first step, in a run
    that did not fit its data or whose output layer's scores vary across examples by a std of
    ``output_std`` or more at the first step (their spread, which the vectors set and an output bias,
    such as log class priors, does not), driving no sigmoid or tanh onto its tails (there the
    saturation rule names it). The layers it feeds are drawn for inputs of unit scale, and each step of
    Adam moves a vector by about the lr, a small fraction of its size: measured here, a bag of 20 of
    500 tokens (embedding 8, mean-pooled, ReLU MLP, 300 steps of Adam 1e-3) ends at a loss of 0.68
    (chance 0.69) at std 30, 10 or 3, 0.65 at torch's std 1, 0.32 at 0.1 and 0.29 at BERT's and
    GPT-2's 0.02; with a LayerNorm after the embedding, 0.68 at std 3 or more, 0.16 at 0.1 or 0.02. A
    net that fits its rows all the same does so on vectors that barely moved, its scores' scale set by
    them: digits' 64 grey levels as tokens (embedding 16, flattened, ReLU MLP;
    tests/doctor/test_user_models.py), 300 steps of Adam 1e-3, end at a held-out loss of 1.20 at std
    100 (scores' spread 13.8 at the first step), 0.54 at 30 (4.1), 0.35 at 10 (1.4), 0.29 at 3 (0.41),
    0.27 at torch's 1, 0.11 at 0.02."""
    embedding = _large_embedding(stats)
    start, end = _loss_levels(stats)
    record = _first_scores(stats, first)
    # the spread across examples, which the vectors set and an output bias (log class priors) cannot
    spread, scores = (record.spread, record.std) if record is not None else (float("nan"),) * 2
    fits = _has_fit(stats)
    if embedding is None or (fits and not spread >= output_std):
        return None
    saturating = [  # a tanh behind norm layers (BERT's pooler) may not saturate: then it is named here
        feeding
        for module, windows in _saturated_fractions(stats).items()
        if windows.worst >= SATURATED_FRACTION and (feeding := stats.feeding_layer(module)) is not None
    ]
    if any(_large_embedding(stats, layer.name) == embedding for layer in saturating):
        return None  # vectors driving a sigmoid or tanh onto its tails: the saturation rule names them
    name, std = embedding
    return Finding(
        rule="init_scale",
        severity="warning",
        title=f"Init scale off: {_label(stats, name)}'s vectors have std {_g(std)}, "
        f"{_g(std)}x torch's default for an embedding",
        explanation=(
            f"At step {first} the vectors {_label(stats, name)} gives have std {_g(std)}. The layers "
            f"reading them are drawn for inputs of unit scale, and each step moves a vector by about the "
            f"lr, a small fraction of its size: the embedding barely learns. The loss went from "
            f"{_g(start)} to {_g(end)}"
            + (
                f" on the rows it trained on, fitted on vectors that barely moved, which set the "
                f"spread of the first step's scores across examples (std {_g(spread)}): what it learned of "
                "them does not carry to rows it has not seen."
                if fits
                else "."
            )
        ),
        recommendation=_embedding_init(stats, name),
        evidence={
            "embedding": name,
            "embedding_std": std,
            "step": first,
            "loss": [start, end],
            "output_std": scores,
            "output_spread": spread,
        },
        score=_score(std / LARGE_EMBEDDING_STD),
        # scores of a scale set by the vectors (a tied output layer's weights are them) give gradients
        # of that scale, as _scores_too_large's do; scores of a small spread do not, nor explain them
        explains=("plateau", "no_learning", "lr_too_low", "saturation", "dead_units")
        + (("exploding_gradients",) if spread >= output_std else ()),
    )


def _weights_constant(stats: RunStatistics) -> Finding | None:
    """Hidden layers whose weights are all equal (std 0: a zeros, ones or constant init) and whose next
    layer's are too. Their units compute one function and the next layer hands each the same gradient,
    so no step makes them differ (the symmetry a random init is there to break; Goodfellow et al. 2016,
    Deep Learning, 8.4); all zero, nothing before the last layer gets a gradient at all. A layer drawn
    at random after a constant one breaks it (a zero-initialized residual branch's last layer is not
    named)."""
    layers = [layer for _, layer in _weight_layers(stats)]
    constant = [
        layer
        for layer, after in itertools.pairwise(layers)
        if layer.activation is not None and layer.weight_std == 0 and after.weight_std == 0
    ]
    if not constant:
        return None
    activation = constant[0].activation
    scheme = recommended_init(activation)
    names = ", ".join(_label(stats, layer.name) for layer in constant)
    advice = init_advice(stats, scheme, activation, [layer.name for layer in constant])
    start, end = _loss_levels(stats)
    return Finding(
        rule="init_scale",
        severity="error",
        title=f"Constant init: the weights of {names} are all equal, so its units never differ",
        explanation=(
            f"At the first step every weight of {names} has one value (std 0), and so has the layer "
            "after it: the units compute one function and get one gradient, so no step can make them "
            f"differ, and a layer of them is worth one unit. The loss went from {_g(start)} to {_g(end)}."
        ),
        recommendation=f"{advice.words} (a random draw breaks the symmetry)",
        recipe_changes=advice.recipe_changes,
        evidence={"layers": advice.layers, "loss": [start, end]},
        score=_score(10.0),
        explains=("plateau", "no_learning", "lr_too_low", "dead_units", "vanishing_gradients", "saturation"),
    )


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
    mean, activation, scheme = problem
    # Weights too large do not shrink the signal, nor too small grow it: there the activation changes it
    # (20 sigmoid layers at 4x Glorot's scale shrink it 1e4x, at Glorot's 2e7x), and the init advised
    # would move it the wrong way.
    if strength < warn_change or (change > 1) != (mean > 1):
        return None
    direction = "shrinks" if change < 1 else "grows"
    advice = init_advice(stats, scheme, activation)
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
        recommendation=advice.words,
        recipe_changes=advice.recipe_changes,
        evidence={
            "init_ratio": mean,
            "signal_change": change,
            "step": first,
            "activation_spread": {module: s.spread for module, s in signal},
            "layers": advice.layers,
        },
        score=_score(strength / warn_change),
        # A shrinking signal leaves the biases in charge, and units whose bias is negative go silent.
        explains=("plateau", "no_learning", "lr_too_low") + (("dead_units",) if change < 1 else ()),
    )


def _drowned_by_biases(stats: RunStatistics, first: int) -> Finding | None:
    """Weights under :data:`TINY_WEIGHTS` of their scale (geometric mean) before norm layers that give
    every example nearly one vector at the first step (:func:`_drowned_norms`), in a run that did not
    fit its data. The norm rescales what it reads, but that is the biases: what the weights add for
    each example is a small part of it, and through each block a smaller one. Measured on digits (200
    steps, 3 seeds, held-out accuracy at the drawn scale / at torch's init): Linear + LayerNorm + ReLU,
    4 blocks of 128, Adam 1e-3: 0.79 / 0.95 (norms' spread 0.08 down to 0); a TransformerEncoder (2
    layers, width 32) over the rows, Adam 1e-3: 0.45 / 0.75, 3e-3: 0.65 / 0.83 (spread 0.028). Two such
    blocks under Adam fit all the same (0.95 / 0.95): a fitted run is not told."""
    drowned = _drowned_norms(stats, first)
    if not drowned or _has_fit(stats):
        return None
    layers = [layer for _, layer in _weight_layers(stats)]
    # A Transformer's hidden layers feed F.relu, no module: read as linear ones, as _scores_too_large does
    problem = _init_problem(layers) or _init_problem(
        [dataclasses.replace(layer, activation=layer.activation or "identity") for layer in layers[:-1]]
    )
    if problem is None or problem[0] >= TINY_WEIGHTS:
        return None
    mean, activation, scheme = problem
    advice = init_advice(stats, scheme, None if activation == "identity" else activation)
    start, end = _loss_levels(stats)
    norms = ", ".join(f"{_label(stats, name)} {_g(fraction)}" for name, fraction in drowned.items())
    worst = min(drowned.values())
    return Finding(
        rule="init_scale",
        severity="warning",
        title=f"Init scale off: weights are {_g(mean)}x their scale; the norm layers see the biases, "
        "the same for every example",
        explanation=(
            f"std(W) sqrt(fan_in) / gain averages {_g(mean)} over the layers (1 keeps the signal's scale). "
            f"At step {first} the outputs of the norm layers vary across examples by this fraction of their "
            f"std: {norms}. Weights this small add little to their biases, which are the same for every "
            "example; the norms rescale that, not the example. The loss went from "
            f"{_g(start)} to {_g(end)}."
        ),
        recommendation=f"{advice.words} (the weights are {_g(mean)}x their scale)",
        recipe_changes=advice.recipe_changes,
        evidence={
            "init_ratio": mean,
            "step": first,
            "norm_spread_fraction": drowned,
            "loss": [start, end],
            "layers": advice.layers,
        },
        score=_score(DROWNED_SPREAD / max(worst, 1e-6)),
        # units under 0 on the one vector are so on every example; steps of an lr size moves weights this
        # small by a large fraction of their norm; the one vector gives one output for every example
        explains=("plateau", "no_learning", "lr_too_low", "dead_units", "lr_too_high", "lost_signal"),
    )


def _scores_too_large(stats: RunStatistics, first: int, off_by: float, output_std: float) -> Finding | None:
    """Weights too large in a net whose norm layers keep the signal's scale, or too shallow for it to grow
    ``warn_change`` x: the layers multiply it by their gain all the same, into an attention's softmax
    and into the output layer's scores. Without norms: a 64-64-64-10 ReLU MLP on digits drawn at 10x
    torch's init (4.1x He's scale) starts at a cross-entropy of 148 and ends 200 steps of Adam 1e-3 at
    9.3, where torch's init reaches 0.082 and He's 0.12 (tests/doctor/test_rules_planted.py). Logits of
    std 2 start a cross-entropy 0.9 (3 classes) to 1.9 (100 classes) nats above chance, std 8 6 to 16
    (measured on normal draws): confident guesses the steps must first unlearn. A GPT-2 drawn at std 1
    (scores' std 8) trains 150 steps of AdamW 1e-3 to 7.9 nats where HF's std 0.02 reaches 0.34, a ViT
    (3.7) to 0.78 where std 0.02 reaches 0.03. Weights too small are left alone: the norms bring
    them back to scale (BERT's and GPT-2's own init is 0.1x He's)."""
    layers = [layer for _, layer in _weight_layers(stats)]  # all: an attention's readers pick the scheme
    # Where no activation is a module (torch's TransformerEncoderLayer calls F.relu), the hidden layers
    # are read as linear ones: gain 1.
    problem = _init_problem(layers, off_by) or _init_problem(
        [dataclasses.replace(layer, activation="identity") for layer in layers[:-1]], off_by
    )
    record = _first_scores(stats, first)
    std = record.std if record is not None else float("nan")
    if problem is None or problem[0] < 1 or not std >= output_std:
        return None  # too small: the norms bring the signal back to scale
    output = layers[-1]
    mean, activation, scheme = problem
    if not stats.norms and activation in ("sigmoid", "tanh"):
        return None  # their units saturate first: the saturation rule names these weights, same advice
    needs = "a linear layer" if activation == "identity" else activation
    advice = init_advice(stats, scheme, None if activation == "identity" else activation)
    scores = f"the scores of {_label(stats, output.name)} (std {_g(std)})"
    hidden, why = (
        (
            f"norm layers hide it from the signal, not from {scores}",
            "Norm layers reset the signal, but each layer reading them scales it by its weights again",
        )
        if stats.norms
        else (f"it shows in {scores}", "Each layer scales the signal by its weights")
    )
    return Finding(
        rule="init_scale",
        severity="warning",
        title=f"Init scale off: weights are {_g(mean)}x the scale {needs} needs; {hidden}",
        explanation=(
            f"std(W) sqrt(fan_in) / gain({activation}) averages {_g(mean)} over the layers (1 keeps the "
            f"signal's scale). {why}: at step {first} the output layer's scores have std {_g(std)}, "
            f"confident guesses the steps must first unlearn (a cross-entropy far above chance), with "
            f"softmaxes (attention) saturated on the way; and each step moves weights this large by a "
            f"small fraction of their size."
        ),
        recommendation=advice.words,
        recipe_changes=advice.recipe_changes,
        evidence={
            "init_ratio": mean,
            "output_layer": output.name,
            "output_std": std,
            "step": first,
            "layers": advice.layers,
        },
        score=_score(std / output_std),
        explains=("plateau", "no_learning", "lr_too_low", "saturation", "exploding_gradients"),
    )


def _first_scores(stats: RunStatistics, first: int) -> OutputStats | None:
    """The output layer's scores at step ``first`` (the last weight layer's, with no activation after
    it); None where unknown."""
    layers = [layer for _, layer in _weight_layers(stats)]
    record = stats.outputs.get(layers[-1].name, {}).get(first) if layers else None
    return record if layers and layers[-1].activation is None else None


def _recurrent_too_large(stats: RunStatistics, recurrent_scale: float) -> Finding | None:
    """An RNN (tanh or ReLU) whose recurrent weights have a spectral radius over ``recurrent_scale``,
    or an LSTM or GRU over :data:`LARGE_GATED_RECURRENT_SCALE` (read as std(W) sqrt(hidden):
    :attr:`LayerInfo.recurrent_scale`), in a run that
    did not fit its data. Past 1 the hidden state and its gradient grow at each step back in time until
    the tanh saturates (Pascanu et al. 2013), and clipping only bounds the steps. Measured on the sign of
    the last 5 of 50 steps' inputs (hidden 32, 300 steps): torch's init (0.58) ends at a held-out loss
    of 0.31 (SGD 0.1, momentum 0.9) and 0.18 (Adam 1e-3), 1.17 at 0.26 and 0.18, 1.76 at 0.78 and 0.66,
    2.34 at 0.63 and 0.68; orthogonal weights (1) at 0.19 and 0.18. An LSTM's or GRU's gates bound
    what the weights pass on: at 2.34 they end at 0.29 and 0.24 (LSTM), 0.36 and 0.24 (GRU), where
    torch's init gives 0.34 and 0.20, 0.29 and 0.21; past 3 they fail as well (at 3.4 Adam leaves a
    GRU at 0.58 and an LSTM at 0.66, near chance)."""
    layer = _large_recurrent(stats, recurrent_scale)
    start, end = _loss_levels(stats)
    if layer is None or _has_fit(stats):
        return None
    scale = layer.recurrent_scale or 0.0
    return Finding(
        rule="init_scale",
        severity="warning",
        title=f"Init scale off: {_label(stats, layer.name)}'s recurrent weights have a spectral radius "
        f"of about {_g(scale)}",
        explanation=(
            f"std(weight_hh) sqrt(hidden) is {_g(scale)} (1 for orthogonal weights, 0.58 at torch's "
            f"init): the hidden state's gradient grows about {_g(scale)}x at each step back in time "
            f"until the tanh saturates, and the loss went from {_g(start)} to {_g(end)}. Clipping "
            f"bounds the steps, not this growth."
        ),
        recommendation=(
            f"{_RECURRENT_INIT} of {_label(stats, layer.name)}, its recurrent weights (Saxe et al. 2014)"
            # the identity suits a plain ReLU RNN, not a gated cell's stacked gates
            + (
                ", or nn.init.eye_ for a ReLU RNN (the identity; Le et al. 2015)"
                if layer.kind == "RNN"
                else ""
            )
        ),
        evidence={"layer": layer.name, "recurrent_scale": scale, "loss": [start, end]},
        score=_score(scale / recurrent_scale),
        explains=("exploding_gradients", "lr_too_high", "plateau", "no_learning", "saturation"),
    )
