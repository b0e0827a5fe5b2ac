"""Noisy quadratic with a deep-learning-like spectrum: DeepOBS's ``quadratic_deep`` problem, freely drawn.

Schneider et al., DeepOBS: A Deep Learning Optimizer Benchmark Suite, 2019, https://arxiv.org/abs/1903.05499.

Formulation. The loss of parameters theta (100 of them) on a sample x is

    l(theta; x) = 0.5 (theta - x)^T H (theta - x),   x ~ N(0, noise^2 I),

so the expected loss 0.5 theta^T H theta + 0.5 noise^2 tr(H) is minimal at theta = 0, and mini-batches
give noisy gradients H (theta - mean(x)). H = Q diag(lambda) Q^T has 90 eigenvalues ~ U(0, 1) and 10 ~
U(30, 60) (the bulk-and-outliers spectrum reported for neural networks, Chaudhari et al. 2016,
arXiv:1611.01838), rotated by a Haar-random orthogonal Q. As in DeepOBS, H is a fixed property of the
problem (drawn from its own constant seed); the seed of :func:`optimlab.data.load` draws the samples.

To run it through the ordinary loop as a regression: the examples are x (inputs and targets alike),
the model is ``parameter_vector`` (its output is theta for every example; DeepOBS starts it at ones),
and the loss is this data set's ``Splits.loss``, a :class:`QuadraticLoss` holding H.

Not DeepOBS's instance: H here is drawn by torch (0.5 1^T H 1 = 193.7, against DeepOBS's 267.5), the
samples come from the seed and are split 600/200/200, so DeepOBS's published numbers do not apply.
:mod:`optimlab.data.quadratic_deep` rebuilds DeepOBS's instance draw for draw.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from optimlab.data.examples import Examples, TensorPair
from optimlab.registry import NON_NEGATIVE, POSITIVE_INT, Capability, new_registry

__all__ = ["QuadraticLoss", "deep_learning_hessian"]

_REGISTRY = new_registry("dataset")

DIM = 100
_HESSIAN_SEED = 42  # H is part of the problem's definition, the same for every run


class QuadraticLoss(nn.Module):
    """Mean over the batch of 0.5 (output - target)^T H (output - target)."""

    def __init__(self, hessian: Tensor) -> None:
        super().__init__()
        self.register_buffer("hessian", hessian)

    def forward(self, output: Tensor, target: Tensor) -> Tensor:
        q = output - target  # (N, dim)
        return 0.5 * ((q @ self.hessian) * q).sum(dim=-1).mean()


def deep_learning_hessian(seed: int = _HESSIAN_SEED) -> Tensor:
    """The 100 x 100 Hessian: 90 eigenvalues ~ U(0, 1), 10 ~ U(30, 60), Haar-random eigenvectors.

    Q comes from the QR factorisation of a Gaussian matrix with R's diagonal made positive, which makes
    it Haar-distributed (Mezzadri, How to generate random matrices from the classical compact groups,
    2007, arXiv:math-ph/0609050).
    """
    generator = torch.Generator().manual_seed(seed)
    eigenvalues = torch.cat(
        [
            torch.rand(90, generator=generator, dtype=torch.float64),
            30 + 30 * torch.rand(10, generator=generator, dtype=torch.float64),
        ]
    )
    q, r = torch.linalg.qr(torch.randn(DIM, DIM, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    hessian = (q * eigenvalues) @ q.T
    return ((hessian + hessian.T) / 2).float()  # exactly symmetric after rounding


@_REGISTRY.register(
    "noisy_quadratic",
    summary="DeepOBS-like noisy quadratic, its own draws: 0.5 (theta - x)^T H (theta - x), 100-d, "
    "x ~ N(0, noise^2 I); use the parameter_vector model and the data set's loss.",
    paper="Schneider et al. 2019, DeepOBS: A Deep Learning Optimizer Benchmark Suite, arXiv:1903.05499",
    accepts={"n": POSITIVE_INT, "noise": NON_NEGATIVE},
    capabilities=(Capability.REGRESSION, Capability.CUSTOM_LOSS),
)
def noisy_quadratic(seed: int, *, n: int = 1000, noise: float = 0.6) -> Examples:
    """``n`` samples x of N(0, noise^2 I) in 100 dimensions (DeepOBS: 1,000 per split, noise 0.6)."""
    generator = torch.Generator().manual_seed(seed)
    samples = noise * torch.randn(n, DIM, generator=generator)
    return Examples(
        name="noisy_quadratic",
        task="regression",
        input_shape=(DIM,),
        examples=TensorPair(samples, samples),
        loss=QuadraticLoss(deep_learning_hessian()),
    )
