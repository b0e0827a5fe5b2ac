"""Reduce on plateau: a multiplier that a monitored metric, not the step count, drives down.

The one stateful schedule. Feed it each evaluation with ``step(metric)``; calling it with a step count
returns the multiplier as it stands, so it fits wherever a ``step -> value`` schedule does. Its
decisions are those of ``torch.optim.lr_scheduler.ReduceLROnPlateau`` with ``eps=0``. Torch's default
``eps=1e-8`` skips a reduction that moves the lr itself by 1e-8 or less, so its lr stalls near 1e-8
(with lr 1 and factor 0.1: 1e-8, where this multiplier goes on to 1e-9); a multiplier does not know the
lr it scales, and ``min_factor`` is the floor to set instead.

>>> from optimlab.schedules import ReduceOnPlateau
>>> plateau = ReduceOnPlateau(patience=1, factor=0.5)
>>> [plateau.step(loss) for loss in (3.0, 2.0, 2.0, 2.0, 1.0)]
[1.0, 1.0, 1.0, 0.5, 0.5]
>>> plateau(1000)
0.5
"""

from __future__ import annotations

import math
from typing import SupportsFloat

from optimlab.registry import NON_NEGATIVE, NON_NEGATIVE_INT, UNIT, Capability, Interval, new_registry

__all__ = ["ReduceOnPlateau"]

_REGISTRY = new_registry("schedule")


@_REGISTRY.register(
    "reduce_on_plateau",
    summary="Multiply by factor once the metric stops improving for patience evaluations.",
    aliases=("plateau", "reduce_lr_on_plateau"),
    capabilities=(Capability.METRIC_DRIVEN,),  # create gives it no horizon
    accepts={
        "mode": ("min", "max"),
        "factor": Interval(0, 1, open_low=True, open_high=True),
        "patience": NON_NEGATIVE_INT,
        "threshold": NON_NEGATIVE,
        "threshold_mode": ("rel", "abs"),
        "cooldown": NON_NEGATIVE_INT,
        "min_factor": UNIT,
    },
)
class ReduceOnPlateau:
    """A learning-rate multiplier cut by ``factor`` when the metric plateaus.

    An evaluation improves on the best so far when it beats it by the threshold: for ``mode="min"``,
    ``metric < best * (1 - threshold)`` (``rel``) or ``metric < best - threshold`` (``abs``); ``max``
    mirrors it. After more than ``patience`` evaluations without improvement the multiplier becomes
    ``max(value * factor, min_factor)``; the next ``cooldown`` evaluations count no bad ones.

    Args:
        mode: ``"min"`` for a loss, ``"max"`` for an accuracy.
        factor: the multiplier applied at each reduction.
        patience: evaluations without improvement tolerated before a reduction.
        threshold, threshold_mode: how much better counts as better, relative or absolute.
        cooldown: evaluations after a reduction during which bad ones are not counted.
        min_factor: the floor of the multiplier, torch's ``min_lr / lr``.
    """

    def __init__(
        self,
        *,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_factor: float = 0.0,
    ) -> None:
        _REGISTRY.get("reduce_on_plateau").validate(
            dict(
                mode=mode,
                factor=factor,
                patience=patience,
                threshold=threshold,
                threshold_mode=threshold_mode,
                cooldown=cooldown,
                min_factor=min_factor,
            )
        )
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_factor = cooldown, min_factor
        # Plain attributes only: torch's LambdaLR checkpoints a callable's __dict__, so this state
        # travels in the scheduler's state_dict.
        self.value = 1.0
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_evaluations = 0
        self.cooldown_left = 0

    def improves(self, metric: float) -> bool:
        """Whether ``metric`` beats the best so far by the threshold."""
        relative = self.threshold_mode == "rel"
        if self.mode == "min":
            return metric < (self.best * (1.0 - self.threshold) if relative else self.best - self.threshold)
        return metric > (self.best * (1.0 + self.threshold) if relative else self.best + self.threshold)

    def step(self, metric: SupportsFloat) -> float:
        """Record one evaluation of the metric; return the multiplier from now on."""
        metric = float(metric)  # a 0-dim tensor is fine
        if self.improves(metric):
            self.best, self.bad_evaluations = metric, 0
        else:
            self.bad_evaluations += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_evaluations = 0
        if self.bad_evaluations > self.patience:
            self.value = max(self.value * self.factor, self.min_factor)
            self.cooldown_left, self.bad_evaluations = self.cooldown, 0
        return self.value

    def __call__(self, step: int) -> float:
        """The multiplier as it stands; the step count does not move it."""
        return self.value

    def __repr__(self) -> str:
        return f"ReduceOnPlateau(value={self.value:g}, best={self.best:g}, mode={self.mode!r})"
