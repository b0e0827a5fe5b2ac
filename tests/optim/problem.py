"""A small full-batch problem with real, non-quadratic gradients, shared by the optim tests.

The problem is a tanh MLP (8-6-3) on fixed data plus a quartic penalty: gradients change direction and
size along the run, so a wrong eps placement, decay coupling or bias correction shows up as a parameter
difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

SHAPES = [(6, 8), (6,), (3, 6), (3,)]  # weight, bias, weight, bias


def initial_parameters(dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [
        (0.5 * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype) for shape in SHAPES
    ]


def loss(params: Sequence[torch.Tensor]) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 8, generator=generator, dtype=torch.float64).to(params[0].dtype)
    y = torch.randn(32, 3, generator=generator, dtype=torch.float64).to(params[0].dtype)
    w1, b1, w2, b2 = params
    out = torch.tanh(x @ w1.T + b1) @ w2.T + b2
    return ((out - y) ** 2).mean() + 0.01 * sum((p**4).sum() for p in params)


def train(
    make_optimizer: Callable[[list[Any]], torch.optim.Optimizer],
    steps: int = 100,
    *,
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    groups: bool = False,
    params: list[torch.nn.Parameter] | None = None,
    skipping: bool = False,
    objective: Callable[[Sequence[torch.Tensor]], torch.Tensor] = loss,
) -> list[torch.Tensor]:
    """Run ``steps`` full-batch steps of ``objective`` from the fixed start; ``groups`` splits weights
    and biases.

    ``skipping`` leaves parameters without a gradient on some steps, as a frozen or unused layer:
    the first weight on every third step, the last bias on the first ten.
    """
    params = params if params is not None else [torch.nn.Parameter(p) for p in initial_parameters()]
    spec = (
        [{"params": params[0::2]}, {"params": params[1::2], "lr": 0.02, "weight_decay": 0.3}]
        if groups
        else params
    )
    optimizer = make_optimizer(spec)
    schedule = scheduler(optimizer) if scheduler else None
    for step in range(steps):
        optimizer.zero_grad()
        objective(params).backward()
        if skipping and step % 3 == 1:
            params[0].grad = None
        if skipping and step < 10:
            params[-1].grad = None
        optimizer.step()
        if schedule is not None:
            schedule.step()
    return [p.detach().clone() for p in params]


def max_difference(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b))
