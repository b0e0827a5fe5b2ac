"""The learning rate of a torch optimizer whose param groups may hold different ones.

A model fine-tuned with its backbone frozen at lr 0 in param group 0 and its head in group 1 trains at
the head's lr: torch steps a group at lr 0 by nothing. The training loop's logged lr, the LR range test's
swept lr and the doctor's recorded lr all read the same group, :func:`lr_group`'s, chosen by the lrs the
groups were given (a scheduler's moves aside: a backbone unfrozen mid-run keeps its group the run's) and
kept for the optimizer's life (an lr set by hand, with no scheduler to keep the one given, aside too).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from optimlab.optim.base import value_at
from optimlab.optim.shells.torch_optim import current

__all__ = ["given_lr", "lr_group", "optimizer_lr", "restore_given_lrs", "scheduled_lr"]


def given_lr(group: dict[str, Any]) -> Any:
    """The lr a param group was given: torch's LRScheduler keeps it as ``initial_lr`` when it first sets
    the group's lr (a warmup's 0, gradual unfreezing's), else the group's lr."""
    return group.get("initial_lr", group["lr"])


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


# The group lr_group chose for each optimizer. An lr set by hand (``group["lr"] = ...`` in a callback)
# leaves no initial_lr, so a backbone unfrozen so mid-run would otherwise become the first group above 0
# and its lr be logged in place of the head's.
_CHOSEN: weakref.WeakKeyDictionary[torch.optim.Optimizer, int] = weakref.WeakKeyDictionary()


def lr_group(optimizer: torch.optim.Optimizer) -> int:
    """The index of the param group whose lr is the optimizer's lr: the first whose given lr
    (:func:`given_lr`) is not 0, since a group given lr 0 is frozen for good; group 0 while all are.
    Read from the lrs given, not those a scheduler has set, and kept once found, the group stays one for
    the whole run (a backbone given its lr, held at 0 by a scheduler for its first steps, is group 0's
    from step 1; one given lr 0 and unfrozen by hand leaves the head's the run's) and is the one
    :func:`restore_given_lrs` leaves a sweep."""
    chosen = _CHOSEN.get(optimizer)
    if chosen is not None:
        return chosen
    found = next((i for i, group in enumerate(optimizer.param_groups) if given_lr(group)), None)
    if found is None:  # every group at 0 so far (a warmup by hand): chosen once one is given an lr
        return 0
    _CHOSEN[optimizer] = found
    return found


def optimizer_lr(optimizer: torch.optim.Optimizer, step: int) -> Any:
    """The lr of the optimizer's next update, ``step`` updates already applied: :func:`lr_group`'s, a
    number where the group holds it as a one-element tensor (torch's optimizers take one), which a
    scheduler then fills in place (the tensor itself, kept, would read as a later step's lr), or a
    schedule's value at ``step`` where it is one (optimlab's optimizers take one:
    :func:`~optimlab.optim.base.value_at`, as their update reads it)."""
    return current(value_at(optimizer.param_groups[lr_group(optimizer)]["lr"], step))


def scheduled_lr(optimizer: torch.optim.Optimizer) -> float | None:
    """The lr a torch scheduler leads :func:`lr_group`'s group to, the one the user set: OneCycleLR keeps
    it as ``max_lr`` (its ``initial_lr`` is the cycle's start), every other (LinearLR's or LambdaLR's
    warmup, transformers' get_scheduler, :func:`optimlab.schedules.as_lr_scheduler`) as ``initial_lr``.
    None where no scheduler set the group's lr (an lr set by hand) or the lr is a schedule (optimlab's
    optimizers take one): the lr it leads to is not known."""
    group = optimizer.param_groups[lr_group(optimizer)]
    lr = group.get("max_lr", group.get("initial_lr"))
    return None if lr is None or callable(lr) else float(lr)
