"""What several rules read from the statistics, and how a rule registers and scores.

Loss levels and the lr, weight layers and their RMS gradients, init ratios, dead and saturated
fractions over the first and last windows. A rule's module imports what it reads from here.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import LayerInfo, OutputStats, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.number_text import named_and_more
from optimlab.registry import Interval, new_registry
from optimlab.techniques.init import truncated_normal
from optimlab.train.evaluation import class_dim

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


# A run whose loss ends at or below this fraction of its start has fit its training data.
FIT_FRACTION = 0.1

# A loss under this is a fitted model's, and a rise or spike of a regression's loss by less is its
# scatter, no divergence: an MSE fit to 1e-6 drifting to 2.9e-6 was told 'Learning rate too high' as an
# error, and 'No progress'. An absolute floor (a loss's scale is its own): the mean squared error of
# targets fit to 0.3% of a unit scale.
FITTED_LOSS_SCATTER = 1e-5


def _loss_levels(stats: RunStatistics) -> tuple[float, float]:
    """The loss at the start (the first finite one: measured before any update, so a too-high lr cannot
    have spoiled it) and at the end (median of the last 10%)."""
    losses = _finite(stats.losses)
    if not losses:
        return math.nan, math.nan
    tail = max(3, len(losses) // 10)
    return losses[0], _median(losses[-tail:])


def _progress(stats: RunStatistics) -> float | None:
    """The fraction of its start the loss fell by, 1 - end / start (:func:`_loss_levels`; below 0 where it
    rose); None where there is none to read: no finite end, or a start at or below 0 (a loss at 0 from
    step 1 has no progress to make, a log-likelihood's below 0 no fraction)."""
    start, end = _loss_levels(stats)
    if not (math.isfinite(end) and start > 0):
        return None
    return 1 - end / start


def _has_fit(stats: RunStatistics) -> bool:
    """Whether the loss ended at or below :data:`FIT_FRACTION` of its start (:func:`_loss_levels`): the
    model fit its training data. Never where the start is at or below 0 (a density's log-likelihood, a
    loss offset by a constant, which moves no gradient): a fraction of it reads nothing, and MSE - 100,
    falling from -81 to -76, read as fit silenced the findings of the MSE itself."""
    start, end = _loss_levels(stats)
    return start > 0 and end <= FIT_FRACTION * start


# The global gradient norm the rules advise clipping at (training.grad_clip_norm): Pascanu et al. 2013,
# On the difficulty of training recurrent neural networks (arXiv:1211.5063), rescale the gradient to a
# threshold of its usual size; 1.0 is the Hugging Face Trainer's max_grad_norm.
CLIP_NORM = 1.0


def _clip_in_force(stats: RunStatistics) -> str | None:
    """Where the run already clips the gradients' norm at :data:`CLIP_NORM` or below (a Trainer's default
    max_grad_norm=1.0), the words that say so: advice to clip at CLIP_NORM would change nothing there,
    and the lr is what sets the steps' length (under SGD a step is at most lr x the clip; Adam's divides
    the clipped gradient by its own scale). None where the run clips above it, or not at all
    (:attr:`RunStatistics.grad_clip_norm`)."""
    clip = stats.grad_clip_norm
    if clip is None or clip > CLIP_NORM:
        return None
    return f"the run already clips the gradients' norm at {_g(clip)}: the lr sets the steps' length"


def _classes(stats: RunStatistics) -> int | None:
    """The number of classes a cross-entropy loss scored, where the loss was seen apart from the model."""
    seen = stats.loss_inputs
    if seen is None or seen.numeric_targets or seen.loss not in ("CrossEntropyLoss", "NLLLoss"):
        return None
    dim = class_dim(seen.outputs, seen.targets)
    return seen.outputs[dim] if dim is not None else None


def _loss_floor(stats: RunStatistics) -> float:
    """The least loss a perfect model reaches: 0, but under a cross-entropy's label smoothing eps over
    C classes the entropy of its targets, -(1 - eps + eps/C) ln(1 - eps + eps/C) - (C - 1) eps/C
    ln(eps/C) (Szegedy et al. 2016, arXiv:1512.00567): 2.27 at eps 0.9 over 10 classes, near chance's
    2.30."""
    seen, classes = stats.loss_inputs, _classes(stats)
    eps = seen.label_smoothing if seen is not None else 0.0
    if not 0 < eps <= 1 or classes is None or classes < 2:
        return 0.0
    true, other = 1 - eps + eps / classes, eps / classes
    return -(true * math.log(true) if true > 0 else 0.0) - (classes - 1) * other * math.log(other)


def _lr(stats: RunStatistics) -> float:
    """The median of the steps' lrs: the lr the steps ran at, a decaying schedule's middle (NaN if none)."""
    return _median(_finite(stats.lrs))


def _peak_lr(stats: RunStatistics) -> float:
    """The lr the user sets (NaN if none): a torch scheduler's (``initial_lr``, OneCycleLR's ``max_lr``,
    transformers' ``learning_rate``, :attr:`RunStatistics.scheduled_lr`), which a run that ended in its
    warmup never reached, else the largest finite lr of the run: a schedule's peak, which a warmup rises
    to and a decay falls from, a constant lr's own."""
    known = [] if stats.scheduled_lr is None else [stats.scheduled_lr]
    return max(_finite([*stats.lrs, *known]), default=math.nan)


def _advised_lr(lr_range: LRRangeResult | None) -> float | None:
    """The range test's suggestion as evidence of an lr too high or too low: None where there is none,
    or where its check told none of the candidates apart (``told_apart`` False: every one scored alike,
    so the suggestion, the ladder's lower middle, is no measured best)."""
    if lr_range is None or lr_range.told_apart is False:
        return None
    return lr_range.suggestion


def _set_lr(stats: RunStatistics) -> float:
    """The lr the lr rules read: the one the user sets (:func:`_peak_lr`), but where the median is 0 (a
    schedule that ended before the run: the steps ran at 0) that 0, so that no rule reads a peak the
    run did not train at (NaN if none)."""
    median = _lr(stats)
    return _peak_lr(stats) if median > 0 else median


def _lr_words(stats: RunStatistics) -> str:
    """The lr the user set, in words: '0.1' where it held, '0.1 at its peak, decaying to 0 (median 0.05)'
    where a schedule moved it ('warming up from 0.01' where it ended at its peak); '0.1 set, the run
    ended in its warmup at 0.005' where a known schedule was still rising to it; 'the largest lr reached'
    where the lr rose to the run's end and what it was led to is not known."""
    lrs = _finite(stats.lrs)
    peak = _peak_lr(stats)
    if not lrs or min(lrs) == peak:
        return _g(peak)
    median = f"(median {_g(_lr(stats))})"
    if lrs[-1] < max(lrs):
        return f"{_g(peak)} at its peak, decaying to {_g(lrs[-1])} {median}"
    if lrs[-1] < peak:  # still rising, or held, below the lr a known scheduler leads to
        ended = "in its warmup" if lrs[-1] > lrs[0] else "below it"
        return f"{_g(peak)} set, the run ended {ended} at {_g(lrs[-1])} {median}"
    reached = " at its peak" if stats.scheduled_lr is not None else ", the largest lr reached"
    return f"{_g(peak)}{reached}, warming up from {_g(lrs[0])} {median}"


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


# truncated_normal's std, BERT's (Devlin et al. 2018)
_BERT_STD: float = inspect.signature(truncated_normal).parameters["std"].default


# The schemes the rules advise, as the torch.nn.init call that draws the same weights on a layer of a
# user's own model (optimlab.techniques.init: kaiming_normal is torch's kaiming_normal_ with its
# defaults, gain sqrt(2) on fan_in; xavier_normal gain 1; truncated_normal BERT's, cut at 2 std).
TORCH_INITS: dict[str, str] = {
    "kaiming_normal": "nn.init.kaiming_normal_(weight)",
    "xavier_normal": "nn.init.xavier_normal_(weight)",
    "truncated_normal": f"nn.init.trunc_normal_(weight, std={_BERT_STD:g}, a={-2 * _BERT_STD:g}, b={2 * _BERT_STD:g})",
}


# Embeddings and recurrent layers are drawn by no recipe's init (optimlab.techniques.init.apply leaves
# them as they are): their fix is torch's call, on any model.
def _embedding_init(stats: RunStatistics, name: str) -> str:
    """torch's call that draws embedding ``name``'s vectors at BERT's and GPT-2's scale, and sets its
    padding row (``padding_idx``, which nn.Embedding's own init keeps at 0) back to 0."""
    return (
        f"nn.init.normal_(weight, std=0.02) on {_label(stats, name)}'s vectors, std 1 or less (torch's "
        "nn.Embedding draws N(0, 1), BERT and GPT-2 N(0, 0.02)), then weight[padding_idx].zero_() where "
        "it has a padding_idx, as nn.Embedding's reset_parameters does"
    )


_RECURRENT_INIT = "nn.init.orthogonal_ on each weight_hh"


@dataclasses.dataclass(frozen=True)
class InitAdvice:
    """A change of init in the words of who built the model, its recipe_changes and every layer it is
    about (a finding's ``evidence["layers"]``, which its words may cut short)."""

    words: str
    recipe_changes: dict[str, Any]
    layers: list[str]


def init_advice(
    stats: RunStatistics,
    scheme: str,
    activation: str | None,
    layers: list[str] | None = None,
    *,
    zero_biases: bool = False,
) -> InitAdvice:
    """The change of init to ``scheme`` (for ``activation`` layers, with biases at 0 where
    ``zero_biases``), in the words of who built the model: the recipe's ``init:`` where its model.init
    draws the model (one of optimlab's architectures, a command line's factory); else the torch.nn.init
    call on the weights of ``layers`` by their paths in the user's model, which no recipe field reaches.
    By default those are the layers :func:`_init_groups` names (each with its own scheme), so that the
    advice run as said leaves no layer off, and the input projections of each nn.MultiheadAttention
    whose out_proj they name, under its scheme (no Linear holds them: 'each third (query, key, value)
    of the in_proj_weight', or its q/k/v_proj_weight)."""
    groups = _init_groups(stats, scheme, activation) if layers is None else [(scheme, layers)]
    attentions = _advised_attentions(stats, groups) if layers is None else {}
    every = [name for _, names in groups for name in names]
    every += [name for names in attentions.values() for name in names]  # in the recipe's words too
    if "model.init" in stats.recipe_fields:
        return InitAdvice(
            f"init: {scheme}"
            + (f" for {activation} layers" if activation else "")
            + (", which starts biases at 0" if zero_biases else ""),
            {"model.init": scheme},
            every,
        )
    calls = []
    for each, names in groups:
        weights, biases = ("weight", "its bias") if len(names) == 1 else ("weights", "their biases")
        shown = named_and_more([_label(stats, name) for name in names])
        zeros = f", with nn.init.zeros_(bias) on {biases}" if zero_biases else ""
        calls.append(f"{TORCH_INITS[each]} on the {weights} of {shown}{zeros}")
    for (each, projections), names in attentions.items():
        tensors = (
            "each third (query, key, value) of the in_proj_weight"
            if projections == ("in_proj_weight",)
            else "the " + named_and_more(list(projections))
        )
        calls.append(
            f"{TORCH_INITS[each]} on {tensors} of {named_and_more([_label(stats, n) for n in names])}"
        )
    return InitAdvice("; ".join(calls), {}, every)


def _draws_attention(scheme: str, activation: str | None) -> bool:
    """An init advice of ``scheme`` for ``activation`` layers is about every attention's projections: a
    Transformer's (BERT's truncated normal), or one for layers no activation follows, as an attention's
    query, key, value and output projections are (Glorot's)."""
    return scheme == "truncated_normal" or activation in (None, "identity")


def _attentions(stats: RunStatistics) -> list[LayerInfo]:
    """The model's nn.MultiheadAttention modules: their input projections are no Linear layer."""
    return [layer for layer in stats.layers if layer.attention_projections]


def _attention_outputs(stats: RunStatistics) -> list[LayerInfo]:
    """The output projections (a Linear each, ``out_proj``) of the model's nn.MultiheadAttention modules:
    torch runs them by their weight, not as a module, so no forward of theirs is seen."""
    names = {f"{attention.name}.out_proj" for attention in _attentions(stats)}
    return [layer for layer in stats.layers if layer.name in names and layer.has_weight_matrix]


def _advised_attentions(
    stats: RunStatistics, groups: list[tuple[str, list[str]]]
) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """(scheme, input projections) -> the nn.MultiheadAttention modules whose out_proj ``groups`` names
    under that scheme: torch draws the input projections at Glorot's scale and out_proj near it, and
    their scale, which no Linear holds, is read off out_proj's."""
    scheme_of = {name: each for each, names in groups for name in names}
    advised: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for attention in _attentions(stats):
        each = scheme_of.get(f"{attention.name}.out_proj")
        if each is not None:
            advised.setdefault((each, attention.attention_projections), []).append(attention.name)
    return advised


def _init_groups(stats: RunStatistics, scheme: str, activation: str | None) -> list[tuple[str, list[str]]]:
    """(scheme, layer names) for :func:`init_advice`'s default layers: ``scheme`` on the layers feeding
    ``activation`` (every one for a Transformer's truncated_normal, the hidden ones for a linear layer's,
    with each attention's out_proj for both). Where ``scheme`` is that activation's own
    (:func:`recommended_init`), also each other activation's own scheme on the layers feeding it where
    their weights are off for it (:func:`_init_problem`; a net of tanh and ReLU layers: Glorot's for the
    tanh layers, He's for the ReLU ones), and Glorot's on each layer feeding no activation (an output
    layer, a gate, an attention's out_proj) whose weights are off for a linear layer."""
    weights = [layer for _, layer in _weight_layers(stats)]
    outputs = _attention_outputs(stats)
    drawn = [layer.name for layer in outputs] if _draws_attention(scheme, activation) else []
    if scheme == "truncated_normal":
        return [(scheme, [*(layer.name for layer in weights), *drawn])]
    feeding = [layer.name for layer in weights if layer.activation == activation] or [
        layer.name for layer in weights[:-1] or weights
    ]
    groups = {scheme: feeding + drawn}
    if activation is None or recommended_init(activation) != scheme:
        return list(groups.items())
    others: dict[str, list[LayerInfo]] = {}
    for layer in weights:
        if layer.activation not in (None, "identity", activation):
            others.setdefault(layer.activation, []).append(layer)
    for other, layers in others.items():
        if _init_problem(layers) is not None:
            groups.setdefault(recommended_init(other), []).extend(layer.name for layer in layers)
    named = {name for names in groups.values() for name in names}
    linear = [
        layer.name
        for layer in [*weights, *outputs]
        if layer.activation in (None, "identity")
        and layer.name not in named
        and _init_problem([dataclasses.replace(layer, activation="identity")]) is not None
    ]
    if linear:
        groups.setdefault(recommended_init(None), []).extend(linear)
    order = [*(layer.name for layer in weights), *(layer.name for layer in outputs)]
    return [(each, sorted(names, key=order.index)) for each, names in groups.items()]


def _geometric_mean(values: list[float]) -> float:
    """Of positive ``values``, at least one."""
    return math.exp(sum(map(math.log, values)) / len(values))


def _init_problem(layers: list[LayerInfo], off_by: float = 3.0) -> tuple[float, str, str] | None:
    """(geometric-mean init ratio, activation, scheme) when the weights are ``off_by`` x off.

    The scheme is the activation's (:func:`recommended_init`), or in a Transformer (three layers or
    more reading one tensor, or one projecting to all three: an attention's query, key and value)
    BERT's truncated normal of std 0.02 (Devlin et al. 2018), about 0.1x He's scale, whose LayerNorms
    keep the signal: a BERT drawn at std 1 trains 150 steps of AdamW 1e-3 to 3.36 where He's init
    reaches 1.18 and std 0.02 0.57."""
    pairs = [
        (r, a)
        for layer in layers
        if (a := layer.activation) is not None and (r := _init_ratio(layer)) is not None and r > 0
    ]
    if not pairs:
        return None
    mean = _geometric_mean([r for r, _ in pairs])
    readers = Counter(layer.shares_input_with for layer in layers if layer.shares_input_with is not None)
    # the first reader and two beside it, or q, k and v fused in one layer
    attention = any(count >= 2 for count in readers.values()) or any(layer.projects_qkv for layer in layers)
    # A Transformer is judged against the scale it is advised, BERT's std: a 6-block BERT drawn at its
    # own std 0.02 (0.15x He's scale at width 64) that fit its data was told 'init: truncated_normal'.
    stds = [layer.weight_std / _BERT_STD for layer in layers if layer.weight_std]
    off = _geometric_mean(stds) if attention and stds else mean
    if 1 / off_by <= off <= off_by:
        return None
    activation = max({a for _, a in pairs}, key=[a for _, a in pairs].count)
    return mean, activation, "truncated_normal" if attention else recommended_init(activation)


# Vectors of an embedding over this std (torch's nn.Embedding draws N(0, 1)) drive the layer they feed
# past the unit scale its init is made for.
LARGE_EMBEDDING_STD = 2.0


def _large_embedding(stats: RunStatistics, before: str | None = None) -> tuple[str, float] | None:
    """The embedding (running before layer ``before``, where given) whose vectors, at the first
    detailed step, have the largest std, where it is over :data:`LARGE_EMBEDDING_STD`: (its name, that
    std)."""
    found = []
    for layer in stats.layers:
        if layer.name == before:
            break
        outputs = stats.outputs.get(layer.name)
        if layer.kind in ("Embedding", "EmbeddingBag") and outputs:
            found.append((layer.name, outputs[min(outputs)].std))
    largest = max(found, key=lambda item: item[1], default=None)
    return largest if largest is not None and largest[1] > LARGE_EMBEDDING_STD else None


# An RNN's recurrent weights of a spectral radius over this (1 for orthogonal ones) fail to train it:
# measured in :func:`~optimlab.doctor.rules.init_scale._recurrent_too_large`, 1.17 trains as well as
# torch's init, 1.76 is left at chance.
LARGE_RECURRENT_SCALE = 1.5


# An LSTM's or GRU's gates bound what its recurrent weights pass on, up to a spectral radius of about
# this: LastStep of tests/doctor/test_rules_advice.py (hidden 32, Adam 1e-3, 300 steps), held-out loss
# at torch's init 0.21 (GRU), at 2.3 0.24 and 0.24 (GRU, LSTM), 2.9 0.26 and 0.35, 3.4 0.58 and 0.66,
# 4.6 0.66 and 0.69 (chance 0.69).
LARGE_GATED_RECURRENT_SCALE = 3.0


def _large_recurrent(
    stats: RunStatistics,
    over: float = LARGE_RECURRENT_SCALE,
    *,
    gated_over: float = LARGE_GATED_RECURRENT_SCALE,
) -> LayerInfo | None:
    """The recurrent layer whose weights have the largest spectral radius (:attr:`LayerInfo.recurrent_scale`),
    where it is over ``over`` for an RNN, over ``gated_over`` for an LSTM or GRU."""
    found = [
        layer
        for layer in stats.layers
        if layer.recurrent_scale is not None
        and layer.recurrent_scale > (over if layer.kind == "RNN" else gated_over)
    ]
    return max(found, key=lambda layer: layer.recurrent_scale or 0.0, default=None)


def _negative_bias(stats: RunStatistics, layer: LayerInfo) -> bool:
    """The layer's biases are set negative on purpose, not by chance: their mean lies below minus both
    their own spread and the spread of the signal at the first step, so they silence what follows."""
    if layer.bias_mean is None or not stats.detailed_steps:
        return False
    pre = stats.outputs.get(layer.name, {}).get(stats.detailed_steps[0])
    if pre is None:
        return False
    return layer.bias_mean < -max(pre.spread, layer.bias_std or 0.0, 1e-12)


# Weights under this fraction of the scale their activation needs (std(W) sqrt(fan_in) / gain) leave a
# layer's biases in charge of its units, and those whose bias is negative never fire: a CNN drawn at
# std 1e-3 (0.004x) starts with 56% of its first ReLU's channels dead. torch's default (0.41x He's
# scale) and Xavier's (0.71x) stay well above it.
TINY_WEIGHTS = 0.1


# A norm layer whose outputs vary across examples by under this fraction of their size (their spread
# over their std) at the first step gives every example nearly one vector: what the layer before it
# adds to each example is lost under its biases. Measured on digits' Linear + LayerNorm + ReLU MLPs:
# 0.66 to 0.96 at torch's init, 0.135 to 0.6 drawn at 0.1x it, 0.08 down to 0 at 0.01x; a torch
# TransformerEncoder at 0.01x, 0.028 (at its init, 0.8). A batch norm sets the spread itself: never.
DROWNED_SPREAD = 0.05


def _drowned_norms(stats: RunStatistics, step: int) -> dict[str, float]:
    """The norm layers whose outputs at ``step`` vary across examples by under :data:`DROWNED_SPREAD` of
    their std, with that fraction, in forward order: at each place (``OutputStats.example_spread``), for
    what varies between a sequence's positions is no example's (a Perceiver's latents). Not one whose
    outputs vary by nothing at all: its input is the same for every example by design (a Perceiver's
    learned latents, a query Parameter), not an example's drowned under biases: what weights reading the
    example add leaves a spread, a millionth of the std four blocks down at 0.01x
    (tests/doctor/test_rules_drowned_norms.py)."""
    drowned = {}
    for name in stats.norms:
        seen = stats.outputs.get(name, {}).get(step)
        fraction = seen.example_spread / seen.std if seen is not None and seen.std > 0 else float("nan")
        if 0 < fraction < DROWNED_SPREAD:
            drowned[name] = fraction
    return drowned


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
    each one's RMS gradient; not those that never had one (a layer whose output is detached before the
    loss: no gradient at all is no small one, and the unused_parameters rule names it)."""
    never = stats.never_graded or set()
    graded = {layer for i, layer in enumerate(stats.param_layer) if i not in never}
    indexed = [(i, layer) for i, layer in _weight_layers(stats) if i in graded]
    grads = stats.layer_grad_norms()
    grads = grads[torch.isfinite(grads).all(1)][:first] if grads.numel() else grads
    if len(indexed) < 2 or grads.shape[0] == 0:
        return None
    index = torch.tensor([i for i, _ in indexed])
    sizes = torch.tensor([float(layer.num_params) for _, layer in indexed], dtype=torch.float64)
    rms = (grads[:, index] / sizes.sqrt()).median(0).values
    return [layer for _, layer in indexed], rms


# Another rule's finding in the same diagnosis, at the thresholds the user gave that rule, computed once:
# run_rules passes it to a rule that takes ``consult`` (one whose verdict reads another's).
Consult = Callable[[str], Finding | None]


def _register(name: str, summary: str, paper: str, **options: Any) -> Any:
    skip = ("stats", "lr_range", "consult")
    return _REGISTRY.register(name, summary=summary, paper=paper, skip=skip, **options)


def _consulted(
    consult: Consult | None, name: str, stats: RunStatistics, lr_range: LRRangeResult | None
) -> Finding | None:
    """Rule ``name``'s finding: the diagnosis's own (``consult``), else that rule's alone at its defaults."""
    return consult(name) if consult is not None else _REGISTRY.get(name).create(stats, lr_range)


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
    """Median saturated fraction of each saturating activation over its first and last windows.

    Saturation is read where it stops learning, not where it is the answer: the model's output
    activation (no weight layer after it: a sigmoid before a binary loss) is left out, its tails being
    confident predictions; and where the run has fit (its loss down to :data:`FIT_FRACTION` of its
    start), the last window counts as the first, since a net that fits grows confident and its hidden
    units saturate as it does (a tanh MLP on separable data: 60% by the end of a run whose loss fell
    from 0.67 to 0.0025)."""
    fit = _has_fit(stats)
    found = {}
    for module in stats.activation_modules():
        records = stats.outputs.get(module, {})
        if _is_output(stats, module):
            continue
        if records and next(iter(records.values())).saturated_fraction is not None:
            first, last = _windows(stats, module)
            start, end = (
                _median([f for s in steps if (f := records[s].saturated_fraction) is not None])
                for steps in (first, last)
            )
            found[module] = _Windows(start, start if fit else end, first, last)
    return found


def _is_output(stats: RunStatistics, module: str) -> bool:
    """Whether ``module`` ran after every weight layer of the forward pass: the model's output."""
    layers = {layer.name for layer in stats.layers}
    after = (
        stats.forward_order[stats.forward_order.index(module) + 1 :] if module in stats.forward_order else []
    )
    return module in stats.forward_order and not any(name in layers for name in after)


def _silent_units(records: dict[int, OutputStats], steps: list[int]) -> Tensor:
    """Per unit, whether it output 0 on every example of every one of ``steps``."""
    active = [u for s in steps if (u := records[s].active_units) is not None]
    return ~torch.stack(active).any(0).cpu()


def _silent_fraction(records: dict[int, OutputStats], steps: list[int]) -> float:
    """Fraction of units that output 0 on every example of every one of ``steps``."""
    return _silent_units(records, steps).float().mean().item()


@dataclasses.dataclass(frozen=True)
class _BiasHold:
    """The dead units of an activation that their own bias holds under 0."""

    held: int  # dead units whose bias lies below minus the spread of the layer's outputs
    dead: int
    bias_mean: float  # of the held units' biases
    spread: float  # of the layer's outputs across examples at the first step, averaged over units


def _bias_hold(stats: RunStatistics, layer: LayerInfo, module: str, steps: list[int]) -> _BiasHold | None:
    """Of activation ``module``'s units silent over ``steps``, those whose own bias in ``layer`` (a norm's
    shift) lies below minus the spread across examples of ``layer``'s outputs at the first step: what
    the inputs add moves them by about that spread, so the bias alone keeps them under 0. None where the
    bias or the outputs are unknown, or the bias is not one per unit."""
    if layer.bias is None or not stats.detailed_steps:
        return None
    pre = stats.outputs.get(layer.name, {}).get(stats.detailed_steps[0])
    records = stats.outputs.get(module, {})
    if pre is None or not records or any(records[s].active_units is None for s in steps):
        return None
    dead = _silent_units(records, steps)  # on the CPU, as the bias
    if dead.shape != layer.bias.shape:
        return None
    held = dead & (layer.bias < -max(pre.spread, 1e-12))
    mean = layer.bias[held].mean().item() if held.any() else float("nan")
    return _BiasHold(int(held.sum()), int(dead.sum()), mean, pre.spread)


def _dead_fractions(stats: RunStatistics) -> dict[str, _Windows]:
    """Fraction of each ReLU-family activation's units silent on every example of its first and last
    windows."""
    found = {}
    for module in stats.activation_modules():
        records = stats.outputs.get(module, {})
        if records and next(iter(records.values())).active_units is not None:
            first, last = _windows(stats, module)
            start, end = (_silent_fraction(records, steps) for steps in (first, last))
            found[module] = _Windows(start, end, first, last)
    return found
