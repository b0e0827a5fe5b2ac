"""Rules on the loss: what it compares the model's outputs with."""

from __future__ import annotations

import math

from optimlab.data.user_batches import broadcast_mix_up
from optimlab.doctor.findings import Finding
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import _register

__all__ = ["loss_broadcast"]


@_register(
    "loss_broadcast",
    "Outputs and targets of different shapes that the loss broadcasts: every output meets every target.",
    "PyTorch documentation, Broadcasting semantics (and MSELoss's warning on differing sizes)",
)
def loss_broadcast(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """Outputs ``(N, 1)`` against targets ``(N,)`` (or the reverse) broadcast to ``(N, N)`` in an
    elementwise loss: each output is scored against every target of its batch, so the best the model
    can do is predict the batch's mean, and it learns nothing of the inputs."""
    if stats.loss_shapes is None:
        return None
    outputs, targets = stats.loss_shapes
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
        explains=("plateau", "lr_too_low", "lr_too_high"),
    )
