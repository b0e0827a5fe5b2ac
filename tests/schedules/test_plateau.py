"""ReduceOnPlateau takes torch's ReduceLROnPlateau decisions over synthetic metric sequences."""

from __future__ import annotations

import math
import random

import pytest
import torch

from optimlab.errors import InvalidValueError
from optimlab.schedules import ReduceOnPlateau


def metric_sequence(mode: str, length: int = 80, seed: int = 0) -> list[float]:
    """A noisy curve that improves, stalls for a while, improves again, and stalls for good."""
    rng = random.Random(seed)
    values, level = [], 1.0
    for i in range(length):
        if i < 20 or 40 <= i < 50:
            level *= 0.9
        values.append(level * (1 + 0.02 * rng.uniform(-1, 1)))
    return values if mode == "min" else [1 - v for v in values]


CONFIGS = {
    # Few enough reductions that torch's eps (it ignores decays under 1e-8 of the lr, we have no
    # such rule) never acts: its lr stays above 1e-7.
    "defaults": dict(),
    "patience_4": dict(patience=4, factor=0.5),
    "abs_threshold_cooldown": dict(threshold=0.01, threshold_mode="abs", cooldown=3, patience=1, factor=0.5),
    "max_mode_floor": dict(mode="max", patience=0, factor=0.5, min_factor=0.05),
    "max_abs": dict(mode="max", threshold=0.005, threshold_mode="abs", patience=3, factor=0.3),
    "rel_large_threshold": dict(threshold=0.1, patience=1, cooldown=1, factor=0.7, min_factor=0.2),
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_decisions_match_torch(config: str) -> None:
    options = CONFIGS[config]
    metrics = metric_sequence(options.get("mode", "min"))
    base_lr = 0.1
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    torch_options = {k: v for k, v in options.items() if k != "min_factor"}
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, min_lr=options.get("min_factor", 0.0) * base_lr, **torch_options
    )
    plateau = ReduceOnPlateau(**options)
    ours, theirs = [], []
    for metric in metrics:
        reference.step(metric)
        theirs.append(optimizer.param_groups[0]["lr"])
        ours.append(base_lr * plateau.step(metric))
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert len(set(theirs)) >= 3, "the sequence should make torch reduce at least twice"


def test_call_ignores_the_step_count() -> None:
    plateau = ReduceOnPlateau(patience=0, factor=0.5)
    for loss in (1.0, 2.0):
        plateau.step(loss)
    assert plateau(0) == plateau(10**6) == 0.5


def test_tensor_metric_and_nan_count_as_evaluations() -> None:
    plateau = ReduceOnPlateau(patience=0, factor=0.5)
    plateau.step(torch.tensor(1.0))
    assert plateau.step(math.nan) == 0.5  # NaN never improves, like torch


@pytest.mark.parametrize(
    "options",
    [
        dict(mode="minimum"),
        dict(factor=1.0),
        dict(factor=0.0),
        dict(patience=-1),
        dict(threshold_mode="relative"),
        dict(min_factor=2.0),
    ],
)
def test_bad_options_are_rejected(options: dict) -> None:
    with pytest.raises(InvalidValueError, match=next(iter(options))):
        ReduceOnPlateau(**options)
