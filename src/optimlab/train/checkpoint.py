"""Checkpoints that a killed run resumes from: written atomically, holding every piece of state.

A checkpoint holds the model, optimizer and scheduler state, the loop's :class:`TrainState`, the
global RNG state (dropout draws from it) and each callback's state. Batch order needs no saved state:
it is a function of (seed, epoch) (see :func:`optimlab.train.loop.epoch_permutation`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optimlab.errors import OptimlabError
from optimlab.train.loop import Callback, TrainState

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    state: TrainState,
    callbacks: Sequence[Callback] = (),
) -> Path:
    """Write the checkpoint to a temporary file, then rename it: a kill never leaves half a file."""
    path = Path(path)
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "state": state.to_dict(),
        "torch_rng": torch.get_rng_state(),
        "callbacks": [callback.state_dict() for callback in callbacks],
    }
    partial = path.with_suffix(".partial")
    with open(partial, "wb") as handle:
        torch.save(payload, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return path


def load_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any | None,
    callbacks: Sequence[Callback] = (),
) -> TrainState:
    """Restore everything :func:`save_checkpoint` wrote; returns the loop state to continue from."""
    path = Path(path)
    if not path.is_file():
        raise OptimlabError(f"no checkpoint at {str(path)!r} to resume from")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["torch_rng"])
    for callback, callback_state in zip(callbacks, payload["callbacks"], strict=True):
        callback.load_state_dict(callback_state)
    fields = {f.name for f in dataclasses.fields(TrainState)}
    return TrainState(**{k: v for k, v in payload["state"].items() if k in fields})
