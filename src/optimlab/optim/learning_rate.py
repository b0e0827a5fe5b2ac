"""The learning rate of a torch optimizer whose param groups may hold different ones.

A model fine-tuned with its backbone frozen at lr 0 in param group 0 and its head in group 1 trains at
the head's lr: torch steps a group at lr 0 by nothing. The training loop's logged lr, the LR range test's
swept lr and the doctor's recorded lr all read the same group, :func:`lr_group`'s, chosen by the lrs the
groups were given (a scheduler's moves aside: a backbone unfrozen mid-run keeps its group the run's); a
run that logs its lr keeps its choice across lrs set by hand in a :class:`LoggedGroup`.
"""

from __future__ import annotations

from typing import Any

import torch

from optimlab.optim.base import value_at
from optimlab.optim.shells.torch_optim import current

__all__ = ["LoggedGroup", "given_lr", "lr_group", "optimizer_lr", "restore_given_lrs", "scheduled_lr"]


def given_lr(group: dict[str, Any]) -> Any:
    """The lr a param group was given, the one the user set: torch's LRScheduler keeps it as
    ``initial_lr`` when it first sets the group's lr (a warmup's 0, gradual unfreezing's), OneCycleLR as
    ``max_lr`` (its ``initial_lr`` is the cycle's start, max_lr / div_factor); else the group's lr."""
    return group.get("max_lr", group.get("initial_lr", group["lr"]))


def restore_given_lrs(optimizer: torch.optim.Optimizer) -> None:
    """Set every param group's lr back to the one it was given (:func:`given_lr`): a scheduler's first
    value undone, so that a sweep reads the groups' ratios from the lrs given. A tensor lr is filled in
    place, as torch's schedulers fill it: set to initial_lr's tensor itself, their next step would fill
    the lr given too."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(given_lr(group))
        else:
            group["lr"] = given_lr(group)


def lr_group(optimizer: torch.optim.Optimizer) -> int:
    """The index of the param group whose lr is the optimizer's lr: the first whose given lr
    (:func:`given_lr`) is not 0, since a group given lr 0 is frozen for good; group 0 where all are.
    Read from the lrs given, not those a scheduler has set, the group stays one for the whole run (a
    backbone held at lr 0 by a scheduler for its first steps is group 0's from step 1) and is the one
    :func:`restore_given_lrs` leaves a sweep. Read afresh at each call: a run that sets lrs by hand keeps
    its choice in a :class:`LoggedGroup`."""
    return next((i for i, group in enumerate(optimizer.param_groups) if given_lr(group)), 0)


class LoggedGroup:
    """The param group a run logs the lr of, chosen once for the run: :func:`lr_group`'s once a group's
    given lr is above 0, chosen again only where the chosen group's falls to 0 while another's is above
    0. An lr set by hand (``group["lr"] = ...`` in a callback) leaves no initial_lr, so a backbone
    unfrozen so beside a head keeps the head's lr the run's, and one frozen so hands it to the head."""

    def __init__(self) -> None:
        self.index: int | None = None  # none chosen while every group's lr is 0

    def read(self, optimizer: torch.optim.Optimizer, step: int) -> Any:
        """The lr of the optimizer's next update, ``step`` updates applied, in the chosen group
        (:func:`optimizer_lr`'s reading)."""
        groups = optimizer.param_groups
        if self.index is None or self.index >= len(groups) or not given_lr(groups[self.index]):
            found = lr_group(optimizer)
            if given_lr(groups[found]):
                self.index = found
        return _lr_at(groups[0 if self.index is None else self.index], step)


def optimizer_lr(optimizer: torch.optim.Optimizer, step: int) -> Any:
    """The lr of the optimizer's next update, ``step`` updates already applied: :func:`lr_group`'s, a
    number where the group holds it as a one-element tensor (torch's optimizers take one), which a
    scheduler then fills in place (the tensor itself, kept, would read as a later step's lr), or a
    schedule's value at ``step`` where it is one (optimlab's optimizers take one:
    :func:`~optimlab.optim.base.value_at`, as their update reads it)."""
    return _lr_at(optimizer.param_groups[lr_group(optimizer)], step)


def _lr_at(group: dict[str, Any], step: int) -> Any:
    """The group's lr at its next update, ``step`` updates applied (:func:`optimizer_lr`)."""
    return current(value_at(group["lr"], step))


def scheduled_lr(optimizer: torch.optim.Optimizer) -> float | None:
    """The lr a torch scheduler leads :func:`lr_group`'s group to, the one the user set (:func:`given_lr`:
    OneCycleLR's ``max_lr``, every other's ``initial_lr``: LinearLR's or LambdaLR's warmup, transformers'
    get_scheduler, :func:`optimlab.schedules.as_lr_scheduler`). None where no scheduler set the group's
    lr (an lr set by hand) or the lr is a schedule (optimlab's optimizers take one): the lr it leads to is
    not known."""
    group = optimizer.param_groups[lr_group(optimizer)]
    if "initial_lr" not in group and "max_lr" not in group:
        return None
    lr = given_lr(group)
    return None if callable(lr) else float(lr)
