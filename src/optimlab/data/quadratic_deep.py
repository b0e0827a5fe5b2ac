"""DeepOBS's ``quadratic_deep`` test problem, rebuilt draw for draw: its Hessian, training and test sets.

Schneider, Balles & Hennig, DeepOBS: A Deep Learning Optimizer Benchmark Suite, ICLR 2019,
https://arxiv.org/abs/1903.05499. The loss of theta (100 values, starting at ones) on a sample x is
0.5 (theta - x)^T H (theta - x), as in :mod:`optimlab.data.noisy_quadratic`, but every number is
DeepOBS's own, so that its published baselines apply (initial test loss 353.9; tuned SGD and Adam
end near 87):

- **H** = R^T diag(lambda) R, all drawn from one NumPy ``RandomState(42)`` in this order: 90
  eigenvalues ~ U(0, 1), 10 ~ U(30, 60), then the rotation R by the subgroup algorithm of Diaconis &
  Shahshahani (The subgroup algorithm for generating uniform random variables, Probability in the
  Engineering and Informational Sciences 1, 1987): from a uniform 2-d rotation, each step embeds R in
  one more dimension and reflects it by the Householder reflection that takes e1 to a uniform point v
  of the sphere; the result is negated (DeepOBS's sign convention). 0.5 1^T H 1 = 267.5.
- **training set**: 1,000 draws of N(0, 0.6^2 I) from ``RandomState(42)``, as float32.
- **test set**: 1,000 draws from ``RandomState(43)``. The published initial test loss, 353.9, is
  the mean over all of them (353.93 here); DeepOBS's PyTorch loader, which drops the last partial
  batch of 128, would evaluate only the first 896 (353.45). The noise floor 0.5 E[x^T H x] =
  0.18 tr(H) is 86.0; on these 1,000 draws, with theta = 0, the test loss is 87.0.
- **validation**: DeepOBS has none; it evaluates the training set again ("train eval"). The
  validation split here is that same training set, so tuning on it is DeepOBS's tuning on train loss.

The data are fixed: the seed of :func:`optimlab.data.load` draws nothing here (it still orders the
batches in training). ``noisy_quadratic`` is the older, freely drawn variant of the same problem.
"""

from __future__ import annotations

import numpy as np
import torch

from optimlab.data.examples import TensorPair
from optimlab.data.noisy_quadratic import DIM, QuadraticLoss
from optimlab.data.splits import Splits
from optimlab.registry import Capability, new_registry

__all__ = ["deepobs_hessian", "quadratic_deep", "random_rotation"]

_REGISTRY = new_registry("dataset")

NOISE = 0.6
ROWS = 1000  # per set
_PROBLEM_SEED, _TRAIN_SEED, _TEST_SEED = 42, 42, 43


def random_rotation(dim: int, rng: np.random.RandomState) -> np.ndarray:
    """A Haar-random rotation of ``dim`` dimensions by the subgroup algorithm (module docstring), drawing
    from ``rng`` exactly as DeepOBS does, then negated as DeepOBS returns it."""
    angle = 2 * np.pi * rng.uniform()
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    for d in range(2, dim):
        v = rng.normal(size=d + 1)
        v /= np.sqrt(v @ v)  # uniform on the sphere S^d
        e1 = np.zeros(d + 1)
        e1[0] = 1.0
        u = (e1 - v) / np.sqrt((e1 - v) @ (e1 - v))  # the reflection I - 2 u u^T maps e1 to v
        embedded = np.eye(d + 1)
        embedded[1:, 1:] = rotation
        rotation = embedded - 2 * np.outer(u, u @ embedded)
    return -rotation


def deepobs_hessian() -> np.ndarray:
    """DeepOBS's 100 x 100 Hessian R^T diag(lambda) R, in float64, from ``RandomState(42)``."""
    rng = np.random.RandomState(_PROBLEM_SEED)
    eigenvalues = np.concatenate([rng.uniform(0.0, 1.0, 90), rng.uniform(30.0, 60.0, 10)])
    rotation = random_rotation(DIM, rng)
    return rotation.T @ np.diag(eigenvalues) @ rotation


def _draws(seed: int) -> torch.Tensor:
    """DeepOBS's samples: ``RandomState(seed).normal(0, 0.6, (1000, 100))`` as float32."""
    return torch.from_numpy(np.float32(np.random.RandomState(seed).normal(0.0, NOISE, (ROWS, DIM))))


@_REGISTRY.register(
    "quadratic_deep",
    summary="DeepOBS quadratic_deep exactly: its Hessian, its 1,000 training and 1,000 test draws; "
    "use the parameter_vector model and the data set's loss.",
    paper="Schneider et al. 2019, DeepOBS: A Deep Learning Optimizer Benchmark Suite, arXiv:1903.05499",
    capabilities=(Capability.REGRESSION, Capability.CUSTOM_LOSS, Capability.FIXED_SPLITS),
)
def quadratic_deep(seed: int) -> Splits:
    """DeepOBS's splits (module docstring); ``seed`` draws nothing, the data are the problem's."""
    train = _draws(_TRAIN_SEED)
    test = _draws(_TEST_SEED)
    hessian = torch.from_numpy(deepobs_hessian()).float()
    return Splits(
        name="quadratic_deep",
        task="regression",
        input_shape=(DIM,),
        loss=QuadraticLoss((hessian + hessian.T) / 2),
        train=TensorPair(train, train),
        val=TensorPair(train, train),
        test=TensorPair(test, test),
    )
