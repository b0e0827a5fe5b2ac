"""Rules on the loss: what it compares the model's outputs with."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from optimlab.data.user_batches import broadcast_mix_up
from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import LossInputs, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import (
    FIT_FRACTION,
    _g,
    _is_output,
    _label,
    _loss_levels,
    _progress,
    _register,
    _score,
)
from optimlab.registry import UNIT_OPEN
from optimlab.train.evaluation import class_dim

__all__ = [
    "loss_broadcast",
    "output_range",
    "outputs_for_loss",
    "padding_in_loss",
    "targets_for_loss",
    "unshifted_targets",
]

# Outputs within this of a probability distribution (sums of 1) or of log-probabilities (log-sum-exps
# of 0) over the classes are read as such; a Linear layer's logits are nowhere near either.
SCORE_TOLERANCE = 1e-3


@_register(
    "loss_broadcast",
    "Outputs and targets of different shapes that the loss broadcasts: every output meets every target.",
    "PyTorch documentation, Broadcasting semantics (and MSELoss's warning on differing sizes)",
)
def loss_broadcast(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """Outputs ``(N, 1)`` against targets ``(N,)`` (or the reverse) broadcast to ``(N, N)`` in an
    elementwise loss: each output is scored against every target of its batch, so the best the model
    can do is predict the batch's mean, and it learns nothing of the inputs."""
    seen = stats.loss_inputs
    if seen is None or not seen.numeric_targets:
        return None
    outputs, targets = seen.outputs, seen.targets
    compared = broadcast_mix_up(outputs, targets)
    if compared is None:
        return None
    fix = (
        "squeeze the model's last dimension"
        if outputs[-1:] == (1,) and outputs[:-1] == targets
        else "reshape the targets to the outputs' shape"
    )
    return Finding(
        rule="loss_broadcast",
        severity="error",
        title=f"The loss compares outputs {outputs} with targets {targets}: broadcast to {compared}",
        explanation=(
            f"At the first step the model's outputs were {outputs} and the targets {targets}; "
            f"the loss broadcast them to {compared}, so every output was scored against every "
            "target of its batch. The best such a model can do is predict the batch's mean: whatever "
            "the optimizer and the learning rate, it learns nothing of the inputs."
        ),
        recommendation=f"give outputs and targets one shape ({fix})",
        evidence={"outputs": list(outputs), "targets": list(targets), "compared": list(compared)},
        score=math.log10(math.prod(compared) / max(math.prod(outputs), math.prod(targets))),
        explains=("plateau", "no_learning", "lr_too_low", "lr_too_high"),
    )


@_register(
    "outputs_for_loss",
    "Outputs of another kind than the loss takes: probabilities into a loss that applies its own "
    "softmax or sigmoid, or scores that are not log-probabilities into NLLLoss.",
    "PyTorch documentation: CrossEntropyLoss and BCEWithLogitsLoss take logits, NLLLoss log-probabilities",
)
def outputs_for_loss(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """The model's outputs at the first step against what its loss expects. ``CrossEntropyLoss``
    applies log-softmax itself: outputs that already sum to 1 over the classes (a final ``Softmax``)
    are squashed twice, every logit within [0, 1], and its gradients shrink to a fraction; so are a
    final ``Sigmoid``'s, whose loss over C classes cannot go below log(1 + (C - 1)/e) (1.46 for 10:
    the target's score at 1, the others' at 0; more under label smoothing,
    :func:`_bounded_scores_floor`). ``BCEWithLogitsLoss`` applies the sigmoid itself: outputs all
    within [0, 1] (a final ``Sigmoid``) cannot go below a loss of log(1 + e^-1) = 0.31 for a positive
    label. ``NLLLoss`` takes log-probabilities: outputs whose log-sum-exp over the
    classes is not 0 (no final ``LogSoftmax``) are not a distribution, and the loss falls without end
    by inflating the target's score."""
    seen = stats.loss_inputs
    if seen is None or seen.loss is None:
        return None
    if seen.loss == "CrossEntropyLoss" and seen.outputs and seen.outputs[min(1, len(seen.outputs) - 1)] == 1:
        return _one_class_score(stats, seen)
    probabilities = seen.sum_gap is not None and seen.sum_gap < SCORE_TOLERANCE and seen.low >= 0
    dim = class_dim(seen.outputs, seen.targets) if not seen.numeric_targets else None
    classes, floor = (seen.outputs[dim] if dim is not None else None), None
    if seen.loss == "CrossEntropyLoss" and probabilities:
        title = "Softmax outputs into CrossEntropyLoss, which applies log-softmax itself"
        what = "probabilities (each row sums to 1)"
        fix = "remove the model's final Softmax (or, to keep it, take its log and use NLLLoss)"
    elif seen.loss == "CrossEntropyLoss" and classes is not None and _sigmoid_output(stats, seen):
        floor = _bounded_scores_floor(classes, seen.label_smoothing)
        title = "Sigmoid outputs into CrossEntropyLoss, which applies log-softmax itself"
        what = "all within [0, 1], as a sigmoid's"
        fix = "remove the model's final Sigmoid (CrossEntropyLoss takes raw scores)"
    elif seen.loss == "BCEWithLogitsLoss" and seen.numeric_targets and _sigmoid_like(stats, seen):
        title = "Sigmoid outputs into BCEWithLogitsLoss, which applies the sigmoid itself"
        what = "all within [0, 1], as a sigmoid's"
        fix = "remove the model's final Sigmoid (or keep it and use BCELoss)"
    elif seen.loss == "NLLLoss" and seen.logsumexp_gap is not None and seen.logsumexp_gap > SCORE_TOLERANCE:
        title = "Outputs that are not log-probabilities into NLLLoss"
        what = f"not log-probabilities (their log-sum-exp over the classes is {seen.logsumexp_gap:.3g} off 0)"
        fix = "end the model with LogSoftmax, or use CrossEntropyLoss on its raw outputs"
    else:
        return None
    return Finding(
        rule="outputs_for_loss",
        severity="error",
        title=title,
        explanation=(
            f"At the first step the model's outputs {seen.outputs} were {what}, ranging "
            f"{seen.low:.3g}..{seen.high:.3g}: {seen.loss} reads them as another kind of score, so it "
            "does not measure what the outputs say, and its gradients train the model to another end."
            + (
                f" Scores no further apart than 1 put its floor over {classes} classes"
                + (f" at label smoothing {seen.label_smoothing:.3g}" if seen.label_smoothing else "")
                + f" at {floor:.3g}."
                if floor is not None
                else ""
            )
        ),
        recommendation=fix,
        evidence={
            "loss": seen.loss,
            "outputs": list(seen.outputs),
            "low": seen.low,
            "high": seen.high,
            "sum_gap": seen.sum_gap,
            "logsumexp_gap": seen.logsumexp_gap,
        }
        | ({"floor": floor} if floor is not None else {}),
        score=3.0,
        explains=("plateau", "no_learning", "lr_too_low", "lr_too_high", "vanishing_gradients", "saturation"),
    )


def _one_class_score(stats: RunStatistics, seen: LossInputs) -> Finding:
    """One class score a row into ``CrossEntropyLoss`` (classes in dimension 1, as torch reads them): the
    log-softmax of a single score is 0, so the loss is 0 and its gradients are 0 whatever the model
    outputs (a binary label given one logit, a regression's one output)."""
    start, end = _loss_levels(stats)
    return Finding(
        rule="outputs_for_loss",
        severity="error",
        title="One class score a row into CrossEntropyLoss: its loss is 0 whatever the model outputs",
        explanation=(
            f"At the first step the model's outputs {seen.outputs} held one score a row in dimension 1, "
            "where CrossEntropyLoss reads the classes: the log-softmax of a single score is 0, so the loss "
            f"is 0 (it went from {_g(start)} to {_g(end)}) and no gradient reaches the model, which "
            "learns nothing."
        ),
        recommendation="one output per class (2 for a binary label, its targets the "
        "class ids 0 and 1); or keep the one output with BCEWithLogitsLoss (a binary label) or MSELoss "
        "(a number)",
        evidence={"loss": seen.loss, "outputs": list(seen.outputs), "loss_start": start, "loss_end": end},
        score=3.0,
        explains=("plateau", "no_learning", "lr_too_low", "lr_too_high", "vanishing_gradients"),
    )


def _sigmoid_like(stats: RunStatistics, seen: LossInputs) -> bool:
    """Outputs all within [0, 1] that a sigmoid gave: the model's output module is one, or they spread
    over a tenth of the interval (a zero-initialized or tiny last layer gives near-constant logits)."""
    if not (seen.low >= 0 and seen.high <= 1):
        return False
    return _sigmoid_output(stats, seen) or seen.high - seen.low > 0.1


def _bounded_scores_floor(classes: int, label_smoothing: float) -> float:
    """The least cross-entropy over ``classes`` classes of scores within [0, 1], at ``label_smoothing``
    eps (Szegedy et al. 2016, arXiv:1512.00567): the loss is convex in the scores and depends on the
    target's lead d over the others alone, -p d + log(e^d + C - 1) with p = 1 - eps (1 - 1/C) the target's
    weight, least at d = log(p (C - 1) / (1 - p)) or, bounded, at d = 1: log(1 + (C - 1)/e) + eps (1 - 1/C),
    1.461 and 1.551 at eps 0 and 0.1 over 10 classes."""
    p = 1 - label_smoothing * (1 - 1 / classes)
    lead = min(1.0, math.log(p * (classes - 1) / (1 - p))) if p < 1 else 1.0
    return -p * lead + math.log(math.exp(lead) + classes - 1)


def _sigmoid_output(stats: RunStatistics, seen: LossInputs) -> bool:
    """Outputs all within [0, 1] from a ``Sigmoid`` module that ends the model."""
    last = [m for m in stats.activation_modules() if _is_output(stats, m)]
    return seen.low >= 0 and seen.high <= 1 and any(stats.activations[m] == "sigmoid" for m in last)


def _number_targets(stats: RunStatistics) -> Tensor | None:
    """The targets of the first batches that are numbers (:meth:`RunStatistics.number_targets`: integers
    too, under a regression loss), pooled flat."""
    kept = [t.flatten() for t in stats.number_targets() if t.numel()]
    return torch.cat(kept).double() if kept else None


@_register(
    "targets_for_loss",
    "Targets outside [0, 1] into a binary cross-entropy, which reads them as probabilities: the loss "
    "has no lower bound.",
    "PyTorch documentation: BCELoss and BCEWithLogitsLoss take targets between 0 and 1",
)
def targets_for_loss(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """``BCEWithLogitsLoss`` computes ``-[y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))]``: for a
    target y in [0, 1] its least value is at ``sigmoid(z) = y``; for y = -1 (labels in {-1, +1}) or
    y = 3 (a class index) it falls without end as z goes to -inf or +inf, so the model learns to
    inflate its logits and the loss goes negative (digits' two classes as -1/+1: 0.72 to -1275 in
    200 steps, read as exploding gradients)."""
    seen = stats.loss_inputs
    targets = _number_targets(stats)
    if seen is None or seen.loss not in ("BCELoss", "BCEWithLogitsLoss") or targets is None:
        return None
    low, high = targets.min().item(), targets.max().item()
    if low >= 0 and high <= 1:
        return None
    values = torch.unique(targets)
    if set(values.tolist()) <= {-1.0, 1.0}:
        fix = "map labels in {-1, +1} to {0, 1}: (y + 1) / 2"
    elif torch.equal(values, values.round()) and low >= 0:
        fix = (
            f"for {int(high) + 1} classes numbered 0..{int(high)}, use CrossEntropyLoss over as many outputs"
        )
    else:
        fix = "scale the targets into [0, 1], or use a regression loss (MSELoss)"
    outside = ((targets < 0) | (targets > 1)).double().mean().item()
    start, end = _loss_levels(stats)
    return Finding(
        rule="targets_for_loss",
        severity="error",
        title=f"Targets from {_g(low)} to {_g(high)} into {seen.loss}, which takes probabilities in [0, 1]",
        explanation=(
            f"{outside:.0%} of the targets of the first batches lie outside [0, 1] ({_g(low)}..{_g(high)}). "
            f"{seen.loss} reads a target as the probability of the positive class; outside [0, 1] its loss "
            "has no lower bound, and the model learns to push its logits to infinity"
            + (f": the loss went from {_g(start)} to {_g(end)}." if math.isfinite(end) else ".")
        ),
        recommendation=fix,
        evidence={
            "loss": seen.loss,
            "target_low": low,
            "target_high": high,
            "outside_fraction": outside,
            "values": values[:10].tolist(),
            "loss_start": start,
            "loss_end": end,
        },
        score=3.0,
        explains=("exploding_gradients", "lr_too_high", "nan_inf", "plateau", "no_learning", "target_scale"),
    )


# The outputs each bounded activation can give, (low, high).
OUTPUT_RANGES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf),
}
# The least loss an output clamped into the range leaves on each target, for the losses that say it.
_FLOORS = {"MSELoss": lambda gap: gap.square().mean(), "L1Loss": lambda gap: gap.abs().mean()}


@_register(
    "output_range",
    "A regression whose model ends in a bounded activation (ReLU, sigmoid, tanh) that cannot reach "
    "some of its targets.",
    "LeCun et al. 1998, Efficient BackProp, sec. 4.5 (targets within the range of the output's activation)",
    accepts={"min_fraction": UNIT_OPEN},
)
def output_range(
    stats: RunStatistics, lr_range: LRRangeResult | None = None, *, min_fraction: float = 0.01
) -> Finding | None:
    """The model's output module (no weight layer after it) is a bounded activation, the outputs the
    loss compared at the first step lie within its range (nothing rescaled them after it), and at
    least ``min_fraction`` of the regression's targets lie outside it: no output the model can give
    reaches them, and MSE or L1 keep a floor above 0 (standardized targets under a final ReLU: half
    of them negative, an MSE floor of 0.5; a sigmoid's, 0.6). Not for a binary cross-entropy, whose
    targets are probabilities (:func:`targets_for_loss`)."""
    seen = stats.loss_inputs
    targets = _number_targets(stats)
    if seen is None or not seen.numeric_targets or targets is None or (seen.loss or "").startswith("BCE"):
        return None
    ends = [
        m
        for m in stats.activation_modules()
        if _is_output(stats, m) and stats.activations[m] in OUTPUT_RANGES
    ]
    if not ends:
        return None
    module = ends[-1]
    low, high = OUTPUT_RANGES[stats.activations[module]]
    if not (low <= seen.low and seen.high <= high):
        return None
    gap = targets - targets.clamp(low, high)
    outside = (gap != 0).double().mean().item()
    if outside < min_fraction:
        return None
    floor = _FLOORS[seen.loss](gap).item() if seen.loss in _FLOORS else None
    start, end = _loss_levels(stats)
    shown = f"{_g(low)}..{_g(high)}" if math.isfinite(high) else f"at least {_g(low)}"
    return Finding(
        rule="output_range",
        severity="error",
        title=f"The model's last {_label(stats, module)} cannot reach {outside:.0%} of the targets: it gives {shown}",
        explanation=(
            f"The model ends in {_label(stats, module)}, whose outputs are {shown}, while {outside:.0%} "
            f"of the regression's targets of the first batches lie outside ({_g(targets.min().item())}.."
            f"{_g(targets.max().item())}): no output reaches them"
            + (
                f": those alone cost {seen.loss} {_g(floor)} over them, whatever the model learns (the "
                f"loss went from {_g(start)} to {_g(end)})."
                if floor is not None
                else "."
            )
        ),
        recommendation=(
            f"remove the final {_label(stats, module)} (a regression's output layer is linear), or "
            "scale the targets into its range"
        ),
        evidence={
            "module": module,
            "activation": stats.activations[module],
            "output_low": low,
            "output_high": high,
            "outside_fraction": outside,
            "loss_floor": floor,
            "loss_start": start,
            "loss_end": end,
        },
        score=_score(outside / min_fraction),
        explains=("plateau", "lr_too_low", "no_learning", "dead_units", "saturation", "vanishing_gradients"),
    )


@_register(
    "unshifted_targets",
    "Token targets that are the model's own inputs, not shifted by one: a model that reads each token "
    "learns to copy it.",
    "Bengio et al. 2003, A Neural Probabilistic Language Model, JMLR (predict the next word from the "
    "ones before it)",
)
def unshifted_targets(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """At the first step the integer targets were, element for element, one of the model's inputs,
    with a score per class at each position, and the loss then fell to :data:`FIT_FRACTION` of its
    start or below: the model predicts each token while reading it, and copies it. Measured on
    sequences of 24 tokens of 32 drawn from a Markov chain, 150 steps of Adam 1e-3: an LSTM and a
    causal Transformer fall from 3.5 to 0.23 and 0.11 on their inputs as targets, and to the chain's
    entropy, 1.9-2.0, on the next tokens. A sequence autoencoder, whose bottleneck hides its inputs,
    takes them as targets by design; it is reported only once it copies them as easily."""
    seen = stats.loss_inputs
    start, end = _loss_levels(stats)
    if seen is None or not seen.targets_are_inputs or seen.logsumexp_gap is None:
        return None
    progress = _progress(stats)
    if progress is None or progress < 1 - FIT_FRACTION:
        return None
    return Finding(
        rule="unshifted_targets",
        severity="error",
        title=f"The targets are the model's inputs {seen.targets}: it learns to copy each token",
        explanation=(
            f"At the first step the targets {seen.targets} were one of the model's inputs, element for "
            f"element, and the model scores {seen.outputs} classes at each position: it predicts each "
            f"token while reading it. The loss fell from {_g(start)} to {_g(end)}, a copy learnt, not "
            "the sequence."
        ),
        recommendation=(
            "shift the targets by one position: inputs tokens[:, :-1], targets tokens[:, 1:] "
            "(the next token of each)"
        ),
        evidence={
            "targets": list(seen.targets),
            "outputs": list(seen.outputs),
            "loss_start": start,
            "loss_end": end,
        },
        score=_score(FIT_FRACTION * start / max(end, 1e-30)),
        explains=("plateau",),
    )


# The label Hugging Face's losses (and torch's cross-entropy by default) leave out: a model's own loss.
OWN_LOSS_IGNORE_INDEX = -100


@_register(
    "padding_in_loss",
    "Token targets padded at the end of each sequence, the padding scored by the loss as tokens.",
    "PyTorch documentation, nn.CrossEntropyLoss(ignore_index=...): targets it leaves out of the loss",
    accepts={"min_share": UNIT_OPEN},
)
def padding_in_loss(
    stats: RunStatistics, lr_range: LRRangeResult | None = None, *, min_share: float = 0.2
) -> Finding | None:
    """Padding the loss scores as tokens, at least ``min_share`` of the targets it scores: the loss is
    mostly the easy prediction of padding after padding, and the gradient of the real tokens a
    fraction of each step's. Where the model read an ``attention_mask`` of the targets' shape (Hugging
    Face), the padding is where it is 0, and the targets there that the loss does not ignore (its
    ``ignore_index``; -100 for a model's own loss, Hugging Face's) are scored padding: labels copied
    from padded ``input_ids``. Without a mask, integer targets (N, L) of a cross-entropy that end, row
    after row, in a run of one token whose length varies (sequences of several lengths padded to one),
    that token not ignored. Measured on sequences of 4 to 11 tokens from a Markov chain padded to 40
    with 0 (84% padding), an LSTM trained 300 steps of Adam 1e-3 reaches a loss on the real tokens of
    2.64 where ignore_index=0 reaches 1.85 (2.00 and 1.86 after 1,000 steps). A token closing every
    sequence (one end-of-sequence token, runs all of length 1) is a target to learn, and so is one
    found inside the rows too (a tagger's 'O', which ends most sentences): neither is reported."""
    seen = stats.loss_inputs
    masked = [(t, m) for t, m in zip(stats.batch_targets, stats.batch_masks, strict=False) if m is not None]
    if seen is None:  # the model's own loss
        return _masked_padding(masked, stats.mask_key, OWN_LOSS_IGNORE_INDEX, None, min_share)
    if seen.numeric_targets or seen.loss not in ("CrossEntropyLoss", "NLLLoss"):
        return None
    if masked:
        return _masked_padding(masked, stats.mask_key, seen.ignore_index, seen.loss, min_share)
    rows = [t for t in stats.batch_targets if t.ndim == 2 and t.shape[1] >= 2 and not t.is_floating_point()]
    if not rows:
        return None
    targets = torch.cat([t for t in rows if t.shape[1] == rows[0].shape[1]])
    last = targets[:, -1]
    pad = int(last.mode().values)
    # the trailing run of ``pad`` in each row: positions from the end until another token
    runs = (targets != pad).flip(1).int().cummax(1).values.eq(0).sum(1)
    share = runs.sum().item() / targets.numel()
    padded = (last == pad).float().mean().item()
    inside = (targets == pad).sum().item() - runs.sum().item()  # a token, not padding, where it is inside
    if pad == seen.ignore_index or padded < 0.9 or share < min_share or runs.unique().numel() < 2:
        return None
    if inside > 0.01 * runs.sum().item():
        return None
    return Finding(
        rule="padding_in_loss",
        severity="warning",
        title=f"Padding counted in the loss: {share:.0%} of the targets are token {pad} at the end of "
        "each sequence",
        explanation=(
            f"{padded:.0%} of the target rows {tuple(targets.shape)} end in a run of token {pad}, of "
            f"{int(runs.min())} to {int(runs.max())} positions: {share:.0%} of the targets, which "
            f"{seen.loss} scores (its ignore_index is {seen.ignore_index}). The loss is then mostly the "
            "prediction of padding after padding, and the real tokens get a fraction of each step."
        ),
        recommendation=f"nn.{seen.loss}(ignore_index={pad}) (or set the padded targets to -100)",
        evidence={"pad": pad, "share": share, "rows_padded": padded, "ignore_index": seen.ignore_index},
        score=_score(share / min_share),
        explains=("plateau", "lr_too_low"),
    )


def _masked_padding(
    batches: list[tuple[Tensor, Tensor]],
    mask_key: str,
    ignore_index: int | None,
    loss: str | None,
    min_share: float,
) -> Finding | None:
    """:func:`padding_in_loss` where the model read a mask (``mask_key``: ``attention_mask``, or an
    encoder-decoder's ``decoder_attention_mask``) beside the integer targets: the scored targets (not
    ``ignore_index``) at its 0s, a share of all scored targets; ``loss`` the loss's class, None for the
    model's own."""
    batches = [(t, m) for t, m in batches if not t.is_floating_point()]
    if not batches:
        return None
    scored = torch.cat([(t != ignore_index).flatten() for t, _ in batches])
    at_pad = torch.cat([(m == 0).flatten() for _, m in batches]) & scored
    share = at_pad.sum().item() / max(scored.sum().item(), 1)
    if not at_pad.any() or share < min_share:
        return None
    labels = torch.cat([t.flatten() for t, _ in batches])
    pad = int(labels[at_pad].mode().values)
    rows = torch.cat([((m == 0) & (t != ignore_index)).reshape(len(t), -1).any(1) for t, m in batches])
    padded = rows.float().mean().item()
    # How such labels come about, and the collator of transformers' that pads them with -100.
    cause, collator = {
        "attention_mask": ("copied from padded input_ids", "DataCollatorForLanguageModeling(mlm=False) does"),
        "decoder_attention_mask": (
            "padded with the pad token",
            "DataCollatorForSeq2Seq pads the labels with it",
        ),
    }[mask_key]
    scorer = (
        f"{loss} (its ignore_index is {ignore_index})"
        if loss
        else f"the model's own loss (it ignores {ignore_index})"
    )
    return Finding(
        rule="padding_in_loss",
        severity="warning",
        title=f"Padding counted in the loss: {share:.0%} of the scored labels are where {mask_key} is 0",
        explanation=(
            f"In {padded:.0%} of the rows the labels at the padding ({mask_key} 0) are tokens, "
            f"mostly {pad}, not {ignore_index}: {share:.0%} of the labels {scorer} scores are padding, "
            f"as when labels are {cause}. The loss is then in part the easy "
            "prediction of padding after padding, and the real tokens get a fraction of each step."
        ),
        recommendation=(  # the loss's own ignore_index: a loss that ignores 0 fails on -100
            f"set the labels to {ignore_index} where {mask_key} is 0: "
            f"labels.masked_fill({mask_key} == 0, {ignore_index})"
            + (f" (transformers' {collator})" if ignore_index == OWN_LOSS_IGNORE_INDEX else "")
        ),
        evidence={"pad": pad, "share": share, "rows_padded": padded, "ignore_index": ignore_index},
        score=_score(share / min_share),
        explains=("plateau", "lr_too_low"),
    )
