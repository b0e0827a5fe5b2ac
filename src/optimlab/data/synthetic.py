"""Synthetic problems drawn from the seed: two spirals (classification), teacher-student (regression).

Both are generated with a ``torch.Generator`` seeded by the seed of :func:`optimlab.data.load`, so the
same seed gives the same examples on any machine.
"""

from __future__ import annotations

import math

import torch

from optimlab.data.examples import Examples
from optimlab.registry import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Capability, Interval, new_registry

__all__ = ["teacher_student", "two_spirals"]

_REGISTRY = new_registry("dataset")


@_REGISTRY.register(
    "two_spirals",
    summary="Two interleaved 2-d spirals, one per class, with Gaussian noise; balanced classes.",
    paper="Lang & Witbrock 1988, Learning to Tell Two Spirals Apart, Connectionist Models Summer School",
    accepts={"n": Interval(2, None, integer=True), "noise": NON_NEGATIVE, "turns": POSITIVE},
    aliases=("spirals",),
    capabilities=(Capability.CLASSIFICATION,),
)
def two_spirals(seed: int, *, n: int = 1000, noise: float = 0.05, turns: float = 1.5) -> Examples:
    """``n`` points (rounded down to even), half on each spiral, inside the unit disc before noise.

    Spiral 0 is r (cos t, sin t) with t = 2 pi turns r and r = sqrt(u), u ~ U(0, 1) (so points are spread
    evenly along the arm); spiral 1 is spiral 0 rotated by pi. Each coordinate gets noise * N(0, 1).
    Arms of the two classes are 1 / (2 turns) apart along a radius.
    """
    generator = torch.Generator().manual_seed(seed)
    per_class = n // 2
    radius = torch.rand(2, per_class, generator=generator, dtype=torch.float64).sqrt()
    angle = 2 * math.pi * turns * radius + torch.tensor([[0.0], [math.pi]], dtype=torch.float64)
    x = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=-1).reshape(2 * per_class, 2)
    x = x + noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    y = torch.arange(2).repeat_interleave(per_class)
    return Examples.from_arrays(x, y, name="two_spirals", task="classification")


@_REGISTRY.register(
    "teacher_student",
    summary="Regression on the outputs of a random one-hidden-layer tanh teacher network, plus noise.",
    paper="Goldt et al. 2019, Dynamics of stochastic gradient descent for two-layer neural networks in the "
    "teacher-student setup, arXiv:1906.08632",
    accepts={
        "in_features": POSITIVE_INT,
        "n": POSITIVE_INT,
        "noise": NON_NEGATIVE,
        "teacher_width": POSITIVE_INT,
    },
    capabilities=(Capability.REGRESSION,),
)
def teacher_student(
    seed: int, *, in_features: int = 10, n: int = 1000, noise: float = 0.1, teacher_width: int = 16
) -> Examples:
    """x ~ N(0, I), y = v^T tanh(W x) + noise * N(0, 1), targets of shape (n, 1).

    W (teacher_width x in_features) and v have N(0, 1 / fan_in) entries, so pre-activations and targets
    are of order one whatever the sizes; a student of enough capacity can reach the noise floor,
    a mean squared error of noise**2.
    """
    generator = torch.Generator().manual_seed(seed)
    w = torch.randn(teacher_width, in_features, generator=generator, dtype=torch.float64) / math.sqrt(
        in_features
    )
    v = torch.randn(teacher_width, 1, generator=generator, dtype=torch.float64) / math.sqrt(teacher_width)
    x = torch.randn(n, in_features, generator=generator, dtype=torch.float64)
    y = torch.tanh(x @ w.T) @ v + noise * torch.randn(n, 1, generator=generator, dtype=torch.float64)
    return Examples.from_arrays(x, y, name="teacher_student", task="regression")
