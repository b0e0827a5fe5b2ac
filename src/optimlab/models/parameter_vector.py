"""A model that is only its parameters: the same learned vector theta for every input.

The model of stochastic quadratic problems (Schneider et al., DeepOBS: A Deep Learning Optimizer
Benchmark Suite, 2019, https://arxiv.org/abs/1903.05499): with the ``noisy_quadratic`` data set's loss
0.5 (theta - x)^T H (theta - x), it runs through the same loop as any regression. DeepOBS starts theta
at ones.

>>> import torch, optimlab.models
>>> optimlab.models.create("parameter_vector", (100,), 100)(torch.randn(3, 100)).shape
torch.Size([3, 100])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from optimlab.models.layers import check_shapes
from optimlab.registry import REAL, Capability, new_registry

__all__ = ["ParameterVector", "parameter_vector"]

_REGISTRY = new_registry("model")


class ParameterVector(nn.Module):
    """forward(x) = theta repeated for each of the N examples of x: (N, size)."""

    def __init__(self, size: int, init_value: float) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.full((size,), float(init_value)))

    def forward(self, x: Tensor) -> Tensor:
        return self.theta.expand(x.shape[0], -1)


@_REGISTRY.register(
    "parameter_vector",
    summary="Bias-only model theta (its output ignores the input), for quadratic test problems.",
    paper="Schneider et al. 2019, DeepOBS, arXiv:1903.05499",
    accepts={"init_value": REAL},
    capabilities=(Capability.FEATURES,),
)
def parameter_vector(
    input_shape: tuple[int, ...], num_outputs: int, *, init_value: float = 1.0
) -> ParameterVector:
    """theta of ``num_outputs`` entries, all ``init_value`` at the start; ``input_shape`` only checked."""
    check_shapes("parameter_vector", input_shape, num_outputs, ndims=(1, 2, 3))
    return ParameterVector(num_outputs, init_value)
