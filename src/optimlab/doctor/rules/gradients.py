"""Rules on the gradients' sizes across layers: vanishing and exploding.

Vanishing *through time* (Bengio et al. 1994; Pascanu et al. 2013) has no rule, for want of a
reading that tells a failing RNN from a healthy one. Measured by the input gradient of each step of
a last-step classifier (hidden 32, Adam, batch 32, one feature), the steps back over which it stays
above 1% of its largest: at PyTorch's init a tanh RNN reaches 12, an LSTM 9, a GRU 6 (gates at 0.5
halve the cell's gradient each step). On a task needing all 200 steps (the sign of their sum) each
grows to the whole sequence as it learns, the RNN slowest (25 at step 200, the LSTM and GRU 200; on
100 steps all three reach 100 by step 300); on one needing the last step only, all three keep 2-7,
as they should; on one needing the first step, none learns (200 steps of 200, 600 of 100) and their
horizons stay 8-23, the RNN's the longest. Yet at 20x the lr (2e-2) the RNN learns the first-step
task of 200 in 200 steps (loss 0.69 to 0.24) with a horizon of 5 at the end: the lr_too_low finding
it gets is right. A short horizon with a stuck loss is as true of an LSTM as of an RNN, and says no
more than that the loss is stuck; what sets the RNN apart is how slowly its horizon grows, which
needs a gated model beside it to compare with, not one run. An LSTM's forget-gate bias sets its
horizon (Gers et al. 2000): biases 0, 1 and 3 give 6-8, 20-29 and 100 steps on the first-step task
of 100, where only 3 learns it in 300 steps (loss 0.18); on that of 200 it does not in 200 steps,
and a stuck loss over long sequences does not say the task needs them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import torch
from torch import Tensor

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import LayerInfo, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import (
    _ABOVE_ONE,
    _RECURRENT_INIT,
    LARGE_RECURRENT_SCALE,
    Consult,
    _clip_in_force,
    _consulted,
    _finite,
    _g,
    _has_fit,
    _init_problem,
    _label,
    _large_recurrent,
    _layer_rms_gradients,
    _loss_levels,
    _median,
    _register,
    _score,
    _weight_layers,
    init_advice,
)
from optimlab.doctor.rules.training import LEARNING_FALL
from optimlab.number_text import named_and_more
from optimlab.registry import POSITIVE, POSITIVE_INT, UNIT_OPEN

__all__ = ["exploding_gradients", "unstepped_parameters", "unused_parameters", "vanishing_gradients"]

# A layer repeated through depth whose first copy (nearest the input) gets less than this fraction of
# its last copy's gradient falls with depth; at or above it, its small gradient is not a vanishing one.
DEPTH_FALL = 0.1

_WHOLE_RUN = "the whole run"  # vanishing_gradients' second window, beside its first steps


@_register(
    "vanishing_gradients",
    "Early layers get a vanishing fraction of the best-fed hidden layer's gradient.",
    "Hochreiter 1991; Glorot & Bengio 2010, AISTATS",
    accepts={"warn_ratio": UNIT_OPEN, "error_ratio": UNIT_OPEN, "early_steps": POSITIVE_INT},
)
def vanishing_gradients(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    consult: Consult | None = None,
    *,
    warn_ratio: float = 1e-3,
    error_ratio: float = 1e-6,
    early_steps: int = 5,
) -> Finding | None:
    """RMS gradient per parameter (weights and biases) of each Linear/Conv layer over the best-fed hidden
    layer's: medians over the first ``early_steps`` steps and over the whole run, whichever is worse.
    The early window matters because adaptive optimizers (Adam) rescale tiny gradients into full-size
    steps and hide the problem later. Per parameter, not per weight: in a tanh MLP drawn at std 0.01
    the weight matrices' own gradients stay alike through depth (the first layer's RMS 5x the output
    layer's), the signals shrinking forward as the errors shrink backward; the biases' carry the fall.

    Vanishing is a fall *with depth*: a layer repeated in every block (:func:`_held_through_depth`)
    whose first and last copies get alike fractions is not counted, however small the fraction. A
    Transformer at its usual init (BERT's weights of std 0.02) gets 1e-6..1e-3 of its classifier's
    gradient in every block alike: a constant offset through a small head, and in the attention's
    query and key a product of two small weights (Noci et al. 2022, arXiv:2206.03126), not a signal
    that dies on its way back. Nor is a layer the signal got past alive (:func:`_reached_alive`): one
    block's query and key beside its value projection. Nor are shares that were healthy over the first
    steps and fell only as the loss fell under :data:`FIT_FRACTION` of its start: a tiny BERT that fit
    its data (0.69 to 0.002) gave its encoder 3e-5 of its classifier's gradient over the whole run. Nor,
    in any run whose loss fell under that fraction: a 6-block BERT (width 64, Adam 1e-3) gave its first
    block 2e-6 from the first steps (its last 1e-4, a fall with depth of post-LN blocks: Xiong et al.
    2020, arXiv:2002.04745) and fit its data in 150 steps (0.69 to 0.002); it was told to change its
    init, then its pooler's tanh. The hidden layers are judged past what a small output layer passes on
    to all of them alike, and past the head's width (:func:`_best_fed`): a one-block BERT regressor
    that halved its loss was told its query starved, and the same body under a 1000-class head got
    10x the fractions it got under a 10-class one.

    The init is their cause where its weights are 3x off their activation's scale, or where the
    init_scale finding of the same diagnosis (``consult``) saw the signal shrink through the layers (off
    by 2x, or less compounded through depth) of no sigmoid or tanh: the backward pass compounds the same
    gains, and the two findings then give one fix. A sigmoid's or tanh's slope shrinks the gradient at
    any init (20 sigmoid layers at Glorot's stay at chance: the test of that ranking), so there the
    fix is the activation. 20 ReLU layers of 64 at 0.5x and 0.6x He's scale (digits, 300 steps,
    held-out loss): Adam 1e-3 1.76 and 1.90, SGD 0.05 with momentum 0.9 2.31 (chance); at He's 0.82
    and 1.76; they were told 'norm: batch' here and 'init: kaiming_normal' by init_scale.
    """
    windows = []
    for first, where in ((early_steps, f"the first {early_steps} steps"), (None, _WHOLE_RUN)):
        found = _layer_rms_gradients(stats, first)
        if found is not None and found[1][-1] > 0:
            ratios = found[1] / found[1][-1]
            body = ratios / _best_fed(ratios)  # the hidden layers' shares of the best-fed one's
            held = _held_through_depth(found[0], ratios) | _reached_alive(found[0], body, warn_ratio)
            judged = body[:-1].masked_fill(held, float("inf"))
            windows.append((found[0], ratios, judged, found[1], where, body))
    if not windows:
        return None
    layers, ratios, judged, rms, where, body = min(windows, key=lambda w: w[2].min().item())
    worst = int(judged.argmin())
    if judged[worst] >= warn_ratio:
        return None
    weak = {layer.name: judged[i].item() for i, layer in enumerate(layers[:-1]) if judged[i] < warn_ratio}
    set_in = _set_in_during_training(windows, where, weak, warn_ratio)
    if _has_fit(stats):  # the model fit its data: its small shares kept nothing from learning
        return None
    worst_layer, worst_ratio = layers[worst], judged[worst].item()
    init, told = _init_problem(layers[:-1]), False
    saturating = sorted({layer.activation for layer in layers if layer.activation in ("sigmoid", "tanh")})
    shrunk = None if init is not None or saturating else _consulted(consult, "init_scale", stats, lr_range)
    if shrunk is not None and shrunk.evidence.get("signal_change", 1.0) < 1:
        # off by less, compounded through depth: init_scale found it, and explains these gradients
        init, told = _init_problem(layers[:-1], off_by=1.0), True
    normalized, residual = _normalized_throughout(stats, layers[:-1]), stats.residual_blocks
    may_have_skips = _may_have_skips(stats)
    explains: tuple[str, ...] = ("plateau", "no_learning", "lr_too_low")
    advised: list[str] = []  # the layers an init advice is about
    if init is not None and init[0] < 1:
        mean, activation, scheme = init
        advice = init_advice(stats, scheme, activation)
        changes, advised = advice.recipe_changes, advice.layers
        recommendation = f"{advice.words} (the weights are {_g(mean)}x the scale {activation} needs)"
        if activation in ("sigmoid", "tanh") and len(layers) > 5:
            relu = (
                "activation: relu"
                if "model.activation" in stats.recipe_fields
                else f"nn.ReLU in place of each {activation},"
            )
            he = (
                "init: kaiming_normal"
                if "model.init" in stats.recipe_fields
                else init_advice(stats, "kaiming_normal", activation).words
            )
            recommendation += f"; this deep, prefer {relu} with {he}"
        explains += () if told else ("init_scale",)
    elif saturating:
        add_norms = "or norm: batch" if "model.norm" in stats.recipe_fields else f"or {_NORM_AFTER_EACH}"
        besides = add_norms if not normalized else "" if may_have_skips else _residual(stats)
        named = ", ".join(saturating)
        if "model.activation" in stats.recipe_fields:  # the init in the recipe's words where it reaches it
            he = (
                "init: kaiming_normal"
                if "model.init" in stats.recipe_fields
                else "nn.init.kaiming_normal_ on the weights"
            )
            relu = f"activation: relu with {he} instead of {named}"
        elif "model.init" in stats.recipe_fields:  # a user's factory on the command line: the build draws it
            relu = f"nn.ReLU in place of each {named}, with init: kaiming_normal"
        else:
            relu = f"nn.ReLU with nn.init.kaiming_normal_ on the weights in place of each {named}"
        recommendation = (
            f"{relu} (their derivative is at most 1/4 or 1 and shrinks the gradient at every layer)"
            + (f", {besides}" if besides else "")
        )
        changes = {
            field: value
            for field, value in (("model.activation", "relu"), ("model.init", "kaiming_normal"))
            if field in stats.recipe_fields
        }
        # an init for a sigmoid or tanh leaves a deep net of them at chance (20 sigmoid layers, digits:
        # xavier_normal's held-out loss 2.31, ln 10); this change replaces the init too
        explains += ("init_scale",)
    elif normalized and may_have_skips:
        blocks = ", ".join(sorted(set(residual.values()))) or (
            f"perhaps in {', '.join(sorted(set(stats.residual_unread.values())))}, whose skips were not read"
        )
        recommendation = (
            f"the norm layers and residual blocks ({blocks}) already "
            "there do not carry the gradient: "
            "fix the findings ranked before this one (units dead or saturated), or lower the lr where "
            "units died during training"
        )
        changes = {}
    elif normalized:
        recommendation = (
            f"{_residual(stats).removeprefix('or ')}: the norm layers already there do not carry the gradient"
        )
        changes = {}
    elif "model.norm" in stats.recipe_fields:
        recommendation = "norm: batch (or layer) after each Linear/Conv" + (
            "" if may_have_skips else ", or a residual architecture (model: resnet)"
        )
        changes = {"model.norm": "batch"}
    else:
        recommendation = _NORM_AFTER_EACH + ("" if may_have_skips else f", {_residual(stats)}")
        changes = {}
    return Finding(
        rule="vanishing_gradients",
        severity="error" if worst_ratio < error_ratio else "warning",
        title=(
            f"Vanishing gradients: {_label(stats, worst_layer.name)} gets {_g(worst_ratio)} of the "
            f"best-fed hidden layer's gradient per parameter"
        ),
        explanation=(
            f"Median over {where} of the RMS gradient per parameter (weights and biases), relative to the "
            f"hidden layer that gets the most, {_label(stats, layers[int(ratios[:-1].argmax())].name)}: "
            + ", ".join(
                f"{_label(stats, layer.name)} {_g(judged[i].item())} ({_g(ratios[i].item())} of the output "
                "layer's)"
                for i, layer in enumerate(layers[:-1])
                if layer.name in weak
            )
            + ". These layers barely learn."
        ),
        recommendation=recommendation,
        recipe_changes=changes,
        evidence={
            "window": where,
            "set_in_during_training": set_in,
            # of the output layer's (whose per-parameter size falls as 1/sqrt(its outputs))
            "relative_gradient": {layer.name: ratios[i].item() for i, layer in enumerate(layers)},
            # of the best-fed hidden layer's: what the rule judges
            "hidden_fraction": {layer.name: body[i].item() for i, layer in enumerate(layers[:-1])},
            "rms_gradient": {layer.name: rms[i].item() for i, layer in enumerate(layers)},
        }
        | ({"layers": advised} if advised else {}),
        score=_score(warn_ratio / max(worst_ratio, 1e-300)),
        explains=explains,
    )


def _set_in_during_training(
    windows: list[tuple[Any, ...]], where: str, weak: dict[str, float], warn_ratio: float
) -> bool:
    """Whether the layers starved over the whole run (``where``, the worse window) got their share
    (``warn_ratio`` of the best-fed hidden layer's gradient or more) over the first steps: the steps starved
    them, not the setup. lr_too_high reads it: ReLUs called in forward code (torch.relu) die unseen by
    the activation instruments."""
    early = [window for window in windows if window[4] != _WHOLE_RUN]
    if where != _WHOLE_RUN or not early or not weak:
        return False
    layers, judged = early[0][0], early[0][2]
    at_start = dict(zip((layer.name for layer in layers[:-1]), judged.tolist(), strict=True))
    return all(at_start.get(name, 0.0) >= warn_ratio for name in weak)


# The norm layers a user's model adds, in torch's names.
_NORM_AFTER_EACH = "a norm layer (nn.BatchNorm1d/2d, or nn.LayerNorm) after each Linear/Conv"


def _may_have_skips(stats: RunStatistics) -> bool:
    """Residual connections were found, or may be where the watch could not read the forward (a skip
    around a first block on the data): no advice to add them fits."""
    return bool(stats.residual_blocks or stats.residual_unread)


def _residual(stats: RunStatistics) -> str:
    """The fix for a deep net whose norm layers are already there; optimlab's resnet for images where
    the recipe's model.name builds the model (one of optimlab's architectures)."""
    resnet = "; model: resnet for images" if "model.name" in stats.recipe_fields else ""
    return (
        f"or residual connections, x + block(x) around each block (He et al. 2016, arXiv:1512.03385{resnet})"
    )


def _normalized_throughout(stats: RunStatistics, hidden: list[LayerInfo]) -> bool:
    """Whether a norm layer follows every one of the ``hidden`` layers, or as many norm layers ran as
    there are of them (before each, as in a pre-norm net), a stem layer before the stack aside: adding
    norms is no fix there. Measured on digits (Adam 1e-3, 300 steps), 20 blocks of Linear, LayerNorm,
    sigmoid stay at chance (held-out loss 2.30); ReLU in place of sigmoid reaches 0.67, the same blocks
    as x + block(x) 0.36. A Linear stem to the stack's width before 50 blocks of Linear, BatchNorm1d,
    ReLU: the exploding gradient was told to clip, the stack not being normalized 'throughout'."""
    ran = set(stats.forward_order)
    stem = 1 if len(hidden) > 2 else 0
    return bool(hidden) and (
        sum(layer.normalized for layer in hidden) >= len(hidden) - stem
        or sum(norm in ran for norm in stats.norms) >= len(hidden) - stem
    )


def _best_fed(ratios: Tensor) -> float:
    """The largest of the hidden layers' gradient fractions ``ratios`` (all but the output layer's, the
    last), 1 where none is positive: the reference the hidden layers are judged against, as Glorot &
    Bengio (2010, sec. 4.2) compare the layers' gradients with each other.

    Not the output layer's own RMS gradient per parameter, which scales with the head's width k: for
    softmax cross-entropy the error at the logits, delta = p - y, has norm about 1 whatever k, so the
    head's gradient delta h^T keeps its norm spread over k x width parameters (RMS falling as
    1/sqrt(k)), while the error it sends down, W^T delta, about sigma_W^2 ||delta||^2 per hidden unit,
    does not depend on k (measured on digits' inputs, labels from a random linear teacher: a 4-layer
    ReLU MLP's first layer 0.28 of a 10-class head's, 2.85 of a 1000-class head's; of its best-fed
    hidden layer 0.95 and 0.89). Nor is a small head's offset, passed to all alike, a fall with depth
    (BERT's std-0.02 head with one output passes its pooler 0.08 of its own gradient per parameter: the
    one-block regressor's value projection got 7.6e-4 of it and halved its loss in 60 steps of Adam
    1e-3)."""
    best = ratios[:-1].max().item() if len(ratios) > 1 else 1.0
    return best if best > 0 else 1.0


def _reached_alive(layers: list[LayerInfo], ratios: Tensor, warn_ratio: float) -> Tensor:
    """Which hidden layers the backward signal reaches alive, judged by their fractions ``ratios`` of
    the best-fed hidden layer's gradient (:func:`_best_fed`): a layer at least ``warn_ratio`` runs at
    or before its depth, nearer the input in forward order, or reads the very input it reads
    (:attr:`LayerInfo.shares_input_with`). The signal got past such a layer, so its own small gradient
    comes from its own path: an attention's query and key get little through a near-uniform softmax
    (Noci et al. 2022, arXiv:2206.03126), a Transformer block's wide layer sits after its value
    projection.

    Where several layers read the data, each starts a branch of its own, and one that runs first is
    no layer the others' signal got past: a wide-and-deep model's wide layer (Cheng et al. 2016,
    arXiv:1606.07792), alive beside its output, would excuse a deep tower whose first layer gets
    1e-14 of it. Such a layer excuses itself only."""
    hidden, root = layers[:-1], {layer.name: layer.shares_input_with or layer.name for layer in layers}
    best: dict[str, float] = defaultdict(float)
    for layer, ratio in zip(hidden, ratios[:-1].tolist(), strict=True):
        best[root[layer.name]] = max(best[root[layer.name]], ratio)
    at_depth = torch.tensor([best[root[layer.name]] for layer in hidden], dtype=torch.float64)
    branches = torch.tensor([layer.reads_data for layer in hidden])
    if int(branches.sum()) > 1:
        own = at_depth >= warn_ratio
        return own | (at_depth.masked_fill(branches, 0.0).cummax(0).values >= warn_ratio)
    return at_depth.cummax(0).values >= warn_ratio


def _held_through_depth(layers: list[LayerInfo], ratios: Tensor) -> Tensor:
    """Which hidden layers (all of ``layers`` but the output one) belong to a layer repeated through
    depth, blocks apart (its name up to block numbers, its kind and size alike), whose first copy
    gets at least :data:`DEPTH_FALL` of the last one's gradient fraction ``ratios``: no fall with depth."""
    families: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, layer in enumerate(layers[:-1]):
        families[(re.sub(r"\d+", "#", layer.name), layer.kind, layer.num_params, layer.fan_in)].append(i)
    held = torch.zeros(len(layers) - 1, dtype=torch.bool)
    for members in families.values():
        first, last = ratios[members[0]].item(), ratios[members[-1]].item()
        if len(members) > 1 and first > 0 and last > 0 and first >= DEPTH_FALL * last:
            held[members] = True
    return held


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
    consult: Consult | None = None,
    *,
    warn_norm: float = 1e3,
    error_norm: float = 1e5,
    warn_growth: float = 1e2,
    error_growth: float = 1e4,
    warn_depth_ratio: float = 1e3,
) -> Finding | None:
    """Global gradient norm against absolute bounds (not where steady on targets in the thousands:
    their scale) and against its first steps (in a run that did not fit its data); early vs output layer.

    The init is their cause where its weights are 3x off their activation's scale, or where the
    init_scale finding of the same diagnosis (``consult``) saw the signal grow through the layers: the
    backward pass compounds the same gains (12 ReLU layers at gain 3, 2.12x He's: held-out loss 324
    clipped at 1, about 1 at He's gain)."""
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
    start = _loss_levels(stats)[0]
    if stats.non_finite is None and (_has_fit(stats) or _learning_at(stats, peak_step, start)):
        # Growth from a small start in a run that fit its data, or whose loss was well under its start
        # where the norm peaked, is learning, not an explosion (an explosion throws the loss up: Pascanu
        # et al. 2013): a BERT at its own init (std 0.02) starts at norm 0.13 and peaks at 15 (114x) as
        # its loss falls from 0.69 to 0.004 (tests/doctor/test_foreign_models.py); one of intermediate
        # size 128 counting tokens starts at 0.32 and peaks at 47.7 (148x, step 110) with its loss at
        # 0.09 there, 0.15 at the end, from 0.69.
        signals["growth"] = 0.0
    if stats.non_finite is None and growth < warn_growth and _large_targets(stats, lr_range, consult):
        # A norm large from the first steps and steady, on targets in the thousands, is their scale
        # (MSE's gradient grows with the targets), not an explosion through the layers; steps too large
        # for it show as the loss rising (lr_too_high). Told "grad_clip_norm 1.0, and lower the lr"
        # beside lr_too_low's raise: SGD 1e-5 there reaches held-out R^2 0.98 unclipped, 0.003
        # clipped at 1; Adam 1e-3 0.005, 0.1 0.985 (200 steps). A norm large from the start through
        # layers drawn too large (an init gain of 3, recurrent weights at radius 12) is still found.
        signals["norm"] = 0.0
    if max(signals.values()) < 1:
        return None
    error = peak > error_norm or growth > error_growth or stats.non_finite is not None
    layers = [layer for _, layer in _weight_layers(stats)]
    hidden = layers[:-1] if len(layers) > 1 else layers
    init = _init_problem(hidden)
    grown = _consulted(consult, "init_scale", stats, lr_range)
    if init is None and grown is not None and grown.evidence.get("signal_change", 0.0) > 1:
        init = _init_problem(hidden, off_by=1.0)  # off by less, compounded through depth
    seen = [f"the gradient norm reaches {_g(peak)} at step {peak_step}"]
    if growth >= warn_growth:
        seen.append(f"{_g(growth)}x its first steps' {_g(early)}")
    if depth >= warn_depth_ratio:
        seen.append(f"early layers get {_g(depth)}x the output layer's gradient per parameter")
    clipped = _clip_in_force(stats)  # advice to clip at 1.0 where the run does: none
    advised: list[str] = []  # the layers an init advice is about
    if init is not None and init[0] > 1:
        mean, activation, scheme = init
        advice = init_advice(stats, scheme, activation)
        changes, advised = advice.recipe_changes, advice.layers
        recommendation = f"{advice.words} (the weights are {_g(mean)}x the scale {activation} needs)"
        explains: tuple[str, ...] = (
            "nan_inf",
            "init_scale",
            "lr_too_high",
            "saturation",
            "dead_units",
            "no_learning",
        )
    elif recurrent := _large_recurrent(stats, gated_over=LARGE_RECURRENT_SCALE):
        # Gated too, once the gradients explode: a GRU's weight_hh at spectral radius 6 (hidden 16, the
        # sign of the last 5 of 50 steps, 300 steps) ends at held-out loss 0.68 (SGD 0.1) and 0.68
        # (Adam 1e-3), clipped at 1 at 0.38 and 0.69, orthogonal at 0.23 and 0.23 (torch's init 0.25
        # and 0.23); an LSTM's 0.44 and 0.69, clipped 0.63 and 0.70, orthogonal 0.27 and 0.23.
        recommendation = (
            f"{_RECURRENT_INIT} of {_label(stats, recurrent.name)}, its recurrent weights (their "
            f"spectral radius is about {_g(recurrent.recurrent_scale or 0.0)}; Saxe et al. 2014), then "
            + (
                f"a lower lr if they still explode ({clipped})"
                if clipped
                else "training: {grad_clip_norm: 1.0} if they still explode"
            )
        )
        changes = {} if clipped else {"training.grad_clip_norm": 1.0}  # said as who runs the training sets it
        explains = ("nan_inf", "no_learning", "lr_too_high", "plateau")
    elif depth > 1 and _normalized_throughout(stats, layers[:-1]) and not _may_have_skips(stats):
        # Batch norm stacked without skips makes the gradient grow toward the input (Yang et al. 2019,
        # arXiv:1902.08129). Digits, 10/20/50 blocks of Linear, BatchNorm1d, ReLU, Adam 1e-3, 300
        # steps: held-out loss 0.20/0.43/2.30 plain, 0.19/0.25/2.29 clipped at 1, 0.10/0.09/0.11 as
        # x + block(x).
        recommendation = (
            f"{_residual(stats).removeprefix('or ')}: stacked without them, norm layers make the gradient grow "
            "toward the input (Yang et al. 2019, arXiv:1902.08129), and clipping bounds the steps, not that"
        )
        changes = {}
        explains = ("nan_inf", "no_learning")
    else:
        recommendation = (
            f"lr: lower it ({clipped})" if clipped else "training: {grad_clip_norm: 1.0}, and lower the lr"
        )
        changes = {} if clipped else {"training.grad_clip_norm": 1.0}
        explains = ("nan_inf", "no_learning")
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
        }
        | ({"layers": advised} if advised else {}),
        score=_score(max(signals.values())),
        explains=explains,
    )


def _large_targets(stats: RunStatistics, lr_range: LRRangeResult | None, consult: Consult | None) -> bool:
    """Whether the target_scale finding of the same diagnosis saw a regression's targets above unit scale."""
    found = _consulted(consult, "target_scale", stats, lr_range)
    return found is not None and max(found.evidence["rms"]) > 1


def _learning_at(stats: RunStatistics, step: int, start: float) -> bool:
    """Whether the loss around ``step`` (the median of the 11 steps centred on it) lies under its start by
    :data:`~optimlab.doctor.rules.training.LEARNING_FALL` or more: the model was learning there (never
    read where the start is at or below 0, :func:`_has_fit`)."""
    at = stats.steps.index(step)
    near = _finite(stats.losses[max(0, at - 5) : at + 6])
    return bool(near) and start > 0 and _median(near) <= (1 - LEARNING_FALL) * start


@_register(
    "unused_parameters",
    "Parameters the optimizer steps never got a gradient: the loss does not depend on them.",
    "Paszke et al. 2019, NeurIPS (PyTorch: a parameter outside the autograd graph keeps grad None)",
)
def unused_parameters(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """Reports trainable parameters whose ``grad`` stayed None at every step watched: a layer built and
    never called in ``forward``, or an output detached before the loss (``.detach()``, ``.item()``,
    ``torch.no_grad``). They keep their initial values, which is a bug unless they are meant to be frozen."""
    never = sorted(stats.never_graded or ())
    if not never or not stats.steps:
        return None
    by_layer: dict[str, int] = defaultdict(int)
    for index in never:
        by_layer[stats.layers[stats.param_layer[index]].name] += 1
    values = sum(layer.num_params for layer in stats.layers if layer.name in by_layer)
    names = named_and_more([_label(stats, name) for name in by_layer], 5)
    return Finding(
        rule="unused_parameters",
        severity="warning",
        title=f"No gradient in {len(stats.steps)} steps: {names}",
        explanation=(
            f"{len(never)} parameter tensors, in {len(by_layer)} modules of {values} values, are stepped by "
            f"the optimizer but had no gradient at any of the {len(stats.steps)} steps watched: the loss "
            "does not depend on them, so they stay as initialized."
        ),
        recommendation=(
            "call these modules in forward (or stop detaching their output before the loss); if "
            "they are frozen on purpose, set requires_grad False or leave them out of the optimizer"
        ),
        evidence={
            "modules": dict(by_layer),
            "tensors": len(never),
            "values": values,
            "steps": len(stats.steps),
        },
        score=_score(values),
    )


@_register(
    "unstepped_parameters",
    "Parameters with a gradient that no optimizer steps: left out of the optimizer.",
    "Paszke et al. 2019, NeurIPS (torch.optim steps only the parameters it was given)",
)
def unstepped_parameters(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """Reports trainable parameters outside the optimizer that got a gradient and kept their values
    over the steps watched: a layer added or replaced after the optimizer was built (a new head), or
    a part frozen by leaving it out while autograd still computes its gradient. Parameters another
    optimizer steps (a GAN's other half) change, and are not reported."""
    if not stats.unstepped or not stats.steps:
        return None
    modules = list(stats.unstepped)
    values = sum(stats.unstepped.values())
    return Finding(
        rule="unstepped_parameters",
        severity="warning",
        title=f"Not in the optimizer: {named_and_more(modules, 5)} get gradients but never change",
        explanation=(
            f"{values} trainable values in {len(modules)} modules had a gradient, but the optimizer was "
            f"not given them and no other stepped them: over the {len(stats.steps)} steps watched they "
            "kept their initial values, and the backward pass computed their gradient for nothing."
        ),
        recommendation=(
            "build the optimizer after the model is complete, from model.parameters() (a layer replaced "
            "afterwards is not in it); if these are frozen on purpose, call requires_grad_(False) on them"
        ),
        evidence={"modules": dict(stats.unstepped), "values": values, "steps": len(stats.steps)},
        score=_score(values),
    )
