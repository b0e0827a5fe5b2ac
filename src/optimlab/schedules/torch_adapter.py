"""Any schedule as a ``torch.optim.lr_scheduler.LRScheduler``, for torch training loops.

Each parameter group's learning rate becomes its initial learning rate times ``schedule(step)``, where
``step`` counts the scheduler's ``step()`` calls (``torch.optim.lr_scheduler.LambdaLR`` semantics).
A :class:`~optimlab.schedules.ReduceOnPlateau` gets a scheduler whose ``step(metric)`` feeds it.

>>> import torch
>>> from optimlab.schedules import as_lr_scheduler, create
>>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
>>> scheduler = as_lr_scheduler(optimizer, create("step", step_size=2, gamma=0.5))
>>> for _ in range(3):
...     optimizer.step()
...     scheduler.step()
>>> scheduler.get_last_lr()
[0.05]
"""

from __future__ import annotations

from typing import SupportsFloat

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from optimlab.errors import InvalidValueError
from optimlab.schedules.join import Schedule
from optimlab.schedules.plateau import ReduceOnPlateau

__all__ = ["PlateauLR", "as_lr_scheduler"]


class PlateauLR(LambdaLR):
    """LambdaLR over a :class:`ReduceOnPlateau`; ``step(metric)`` records an evaluation.

    ``step()`` without a metric advances the step count and leaves the rate as it is, so a loop that
    steps its scheduler after every optimizer step can drive it too. The plateau's state is saved in
    ``state_dict()`` (LambdaLR keeps a callable object's attributes).
    """

    @property
    def plateau(self) -> ReduceOnPlateau:
        # Not an attribute: LambdaLR's state_dict saves every attribute, and would save the object
        # itself rather than its state (which it saves from lr_lambdas).
        return self.lr_lambdas[0]

    def step(self, metric: SupportsFloat | None = None) -> None:  # type: ignore[override]
        if metric is not None:
            self.plateau.step(metric)
        super().step()


def as_lr_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule) -> LRScheduler:
    """A torch scheduler setting each group's lr to its initial lr times ``schedule(step)``."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise InvalidValueError("optimizer", type(optimizer).__name__, "a torch.optim.Optimizer")
    if not callable(schedule):
        raise InvalidValueError("schedule", schedule, "a callable step -> multiplier, e.g. create('cosine')")
    for index, group in enumerate(optimizer.param_groups):
        # an optimlab optimizer's lr may be a schedule itself, which LambdaLR multiplied: a TypeError
        if callable(group.get("initial_lr", group["lr"])):
            raise InvalidValueError(
                f"lr of param group {index}",
                group["lr"],
                "a number where a scheduler sets the lr: give the optimizer a number lr and the schedule "
                "here, or keep the schedule as its lr and no scheduler",
            )
    if isinstance(schedule, ReduceOnPlateau):
        return PlateauLR(optimizer, schedule)
    return LambdaLR(optimizer, schedule)
