"""A run stopped as Ctrl-C stops it, at a given step: by the signal itself, or with the checkpoint it resumes
from."""

import os
import signal
from pathlib import Path
from typing import Any

from torch import nn

from optimlab.train import Callback
from optimlab.train.checkpoint import save_checkpoint


class CheckpointAt(Callback):
    """Save the checkpoint of ``model``, ``optimizer`` and ``scheduler`` into ``folder`` after step
    ``step``, and stop the run there, interrupted."""

    def __init__(self, step: int, folder: Path, model: nn.Module, optimizer: Any, scheduler: Any = None):
        self.step, self.folder = step, folder
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def on_step_end(self, state: Any) -> None:
        if state.step == self.step:
            save_checkpoint(
                self.folder, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler, state=state
            )
            state.stop_reason = "interrupted"


class SignalAt(Callback):
    """Sends this process ``signal`` at the end of step ``step``, as a user's Ctrl-C or a scheduler would."""

    def __init__(self, step: int, number: int = signal.SIGTERM):
        self.step, self.number = step, number

    def on_step_end(self, state: Any) -> None:
        if state.step == self.step:
            os.kill(os.getpid(), self.number)
