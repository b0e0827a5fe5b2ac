"""Signals through a network at initialization: forward scale, back-propagated and weight gradients per layer.

Glorot & Bengio (Understanding the difficulty of training deep feedforward neural networks, AISTATS 2010,
https://proceedings.mlr.press/v9/glorot10a.html) distinguish two gradients of a layer ``z = W h + b``:

* the **back-propagated gradient** ``dL/dz``, the signal that travels down the network; it shrinks or
  grows by a factor per layer when the weights are too small or too large;
* the **weight gradient** ``dL/dW = dL/dz h^T``, what the optimizer steps on; it multiplies the
  back-propagated signal by the forward one, so with small weights both shrink with depth from opposite
  ends, and the weight gradients can stay equal across layers while every one of them is tiny.

:func:`layer_gradients` measures both, and the forward signal's scale, on one batch, with one backward
pass and a forward hook per Linear layer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

__all__ = ["LayerGradients", "geometric_mean_profile", "layer_gradients", "log10"]


@dataclasses.dataclass(frozen=True)
class LayerGradients:
    """One value per Linear layer, in the order the forward pass runs them (the output layer last)."""

    weight_grad: list[float]  # Frobenius norm of dL/dW
    backprop: list[float]  # Frobenius norm of dL/dz over the batch, z the layer's output
    output_std: list[float]  # standard deviation of z over the batch and units

    def to_dict(self) -> dict[str, list[float]]:
        return dataclasses.asdict(self)


def layer_gradients(
    model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor
) -> LayerGradients:
    """Gradients of ``loss_fn(model(x), y)`` at each Linear layer; the model's gradients are cleared after."""
    outputs: list[tuple[nn.Linear, Tensor]] = []

    def keep(module: nn.Module, _: object, output: Tensor) -> None:
        output.retain_grad()
        outputs.append((module, output))

    hooks = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
    finally:
        for hook in hooks:
            hook.remove()
    with torch.no_grad():
        profile = LayerGradients(
            weight_grad=[layer.weight.grad.norm().item() for layer, _ in outputs],
            backprop=[z.grad.norm().item() for _, z in outputs],
            output_std=[z.std().item() for _, z in outputs],
        )
    model.zero_grad(set_to_none=True)
    return profile


# log10 of the least positive float32, 2**-149: a float32 quantity that is exactly 0 lies below it.
FLOAT32_FLOOR_LOG10 = math.log10(2.0**-149)


def log10(value: float) -> float:
    """log10, with :data:`FLOAT32_FLOOR_LOG10` for 0 (a gradient that vanished entirely, below any float32
    it could be); -inf there read as a failed run, as in the verdicts and the stored numbers every
    non-finite value does, and the strongest evidence of vanishing counted against it. NaN (a network
    whose numbers are not numbers) stays NaN: a failed run."""
    return FLOAT32_FLOOR_LOG10 if value == 0 else math.log10(value)


def geometric_mean_profile(profiles: Sequence[LayerGradients], field: str) -> list[float]:
    """Layer by layer, the geometric mean over ``profiles`` (seeds) of ``field``: the right average of
    quantities that span decades."""
    rows = [getattr(p, field) for p in profiles]
    return [10 ** (sum(log10(row[i]) for row in rows) / len(rows)) for i in range(len(rows[0]))]
