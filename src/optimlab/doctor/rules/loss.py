"""Rules on the loss: what it compares the model's outputs with."""

from __future__ import annotations

import math

import torch

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
    if outputs == targets:
        return None
    try:
        compared = tuple(torch.broadcast_shapes(outputs, targets))
    except RuntimeError:  # not broadcastable: the loss itself refused it, or it reshaped them
        return None
    if math.prod(compared) <= max(math.prod(outputs), math.prod(targets)):
        return None  # one side repeated along the other (a target per row for several outputs): no mix-up
    fix = (
        "squeeze the model's last dimension"
        if outputs[-1:] == (1,) and outputs[:-1] == targets
        else "reshape the targets to the outputs' shape"
    )
    return Finding(
        rule="loss_broadcast",
        severity="error",
        title=f"The loss compares outputs {_shape(outputs)} with targets {_shape(targets)}: broadcast to {_shape(compared)}",
        explanation=(
            f"At the first step the model's outputs were {_shape(outputs)} and the targets {_shape(targets)}; "
            f"the loss broadcast them to {_shape(compared)}, so every output was scored against every "
            "target of its batch. The best such a model can do is predict the batch's mean: whatever "
            "the optimizer and the learning rate, it learns nothing of the inputs."
        ),
        recommendation=f"model or data: give outputs and targets one shape ({fix})",
        evidence={"outputs": list(outputs), "targets": list(targets), "compared": list(compared)},
        score=math.log10(math.prod(compared) / max(math.prod(outputs), math.prod(targets))),
        explains=("plateau", "lr_too_low", "lr_too_high"),
    )


def _shape(dims: tuple[int, ...]) -> str:
    """A shape as Python writes a tuple: ``(64, 1)``, ``(64,)``."""
    return f"({', '.join(map(str, dims))}{',' if len(dims) == 1 else ''})"
