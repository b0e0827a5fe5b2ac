"""Rules on the loss: what it compares the model's outputs with."""

from __future__ import annotations

import math

from optimlab.data.user_batches import broadcast_mix_up
from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import LossInputs, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import _is_output, _register

__all__ = ["loss_broadcast", "outputs_for_loss"]

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
        recommendation=f"model or data: give outputs and targets one shape ({fix})",
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
    are squashed twice, every logit within [0, 1], and its gradients shrink to a fraction.
    ``BCEWithLogitsLoss`` applies the sigmoid itself: outputs all within [0, 1] (a final ``Sigmoid``)
    cannot go below a loss of log(1 + e^-1) = 0.31 for a positive label. ``NLLLoss`` takes
    log-probabilities: outputs whose log-sum-exp over the classes is not 0 (no final ``LogSoftmax``)
    are not a distribution, and the loss falls without end by inflating the target's score."""
    seen = stats.loss_inputs
    if seen is None or seen.loss is None:
        return None
    probabilities = seen.sum_gap is not None and seen.sum_gap < SCORE_TOLERANCE and seen.low >= 0
    if seen.loss == "CrossEntropyLoss" and probabilities:
        title = "Softmax outputs into CrossEntropyLoss, which applies log-softmax itself"
        what = "probabilities (each row sums to 1)"
        fix = "remove the model's final Softmax (or, to keep it, take its log and use NLLLoss)"
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
        ),
        recommendation=f"model: {fix}",
        evidence={
            "loss": seen.loss,
            "outputs": list(seen.outputs),
            "low": seen.low,
            "high": seen.high,
            "sum_gap": seen.sum_gap,
            "logsumexp_gap": seen.logsumexp_gap,
        },
        score=3.0,
        explains=("plateau", "no_learning", "lr_too_low", "lr_too_high", "vanishing_gradients", "saturation"),
    )


def _sigmoid_like(stats: RunStatistics, seen: LossInputs) -> bool:
    """Outputs all within [0, 1] that a sigmoid gave: the model's output module is one, or they spread
    over a tenth of the interval (a zero-initialized or tiny last layer gives near-constant logits)."""
    if not (seen.low >= 0 and seen.high <= 1):
        return False
    last = [m for m in stats.activation_modules() if _is_output(stats, m)]
    return any(stats.activations[m] == "sigmoid" for m in last) or seen.high - seen.low > 0.1
