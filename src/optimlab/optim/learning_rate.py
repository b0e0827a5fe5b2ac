"""The learning rate of a torch optimizer whose param groups may hold different ones.

A model fine-tuned with its backbone frozen at lr 0 in param group 0 and its head in group 1 trains at
the head's lr: torch steps a group at lr 0 by nothing. The training loop's logged lr, the LR range test's
swept lr and the doctor's recorded lr all read the same group, :func:`lr_group`'s.
"""

from __future__ import annotations

from typing import Any

import torch

from optimlab.optim.base import value_at
from optimlab.optim.shells.torch_optim import current

__all__ = ["lr_group", "optimizer_lr"]


def lr_group(optimizer: torch.optim.Optimizer) -> int:
    """The index of the param group whose lr is the optimizer's lr: the first whose lr is not 0, since a
    group at lr 0 is frozen; group 0 where all are at 0."""
    return next((i for i, group in enumerate(optimizer.param_groups) if group["lr"]), 0)


def optimizer_lr(optimizer: torch.optim.Optimizer, step: int) -> Any:
    """The lr of the optimizer's next update, ``step`` updates already applied: :func:`lr_group`'s, a
    number where the group holds it as a one-element tensor (torch's optimizers take one), which a
    scheduler then fills in place (the tensor itself, kept, would read as a later step's lr), or a
    schedule's value at ``step`` where it is one (optimlab's optimizers take one:
    :func:`~optimlab.optim.base.value_at`, as their update reads it)."""
    return current(value_at(optimizer.param_groups[lr_group(optimizer)]["lr"], step))
