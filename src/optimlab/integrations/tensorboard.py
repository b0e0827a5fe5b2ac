"""TensorBoard: a run's metrics as scalars in an event file, its recipe as a text summary.

Written with the ``tensorboard`` package's own event writer and protocol buffers (no TensorFlow, no
torch SummaryWriter): ``tensorboard --logdir runs/NAME/tensorboard`` shows the curves, with steps and
wall times as logged. ``pip install 'optimlab[trackers]'``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from optimlab.integrations.tracking import Record, Tracker

__all__ = ["TensorBoardTracker"]


class TensorBoardTracker(Tracker):
    """Scalars (one tag per metric) in an event file in ``log_dir``; ``params`` as a text table."""

    def __init__(
        self, log_dir: str | Path, *, params: Mapping[str, Any] | None = None, every: int = 1
    ) -> None:
        super().__init__(every=every)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # A queue of 1,000 events before the writer thread must catch up; flushed at every batch anyway.
        self._writer = EventFileWriter(str(self.log_dir), max_queue_size=1000)
        if params:
            table = "| field | value |\n| --- | --- |\n" + "".join(
                f"| {k} | {v} |\n" for k, v in params.items()
            )
            self._writer.add_event(Event(step=0, summary=text_pb("recipe", table)))

    def write(self, records: list[Record]) -> None:
        for step, wall_time, metrics in records:
            values = [
                Summary.Value(tag=name, simple_value=value if value is not None else math.nan)
                for name, value in metrics.items()
            ]
            # The writer's thread writes the file; a flush here would wait for it (2% of a 100-step run).
            self._writer.add_event(Event(wall_time=wall_time, step=step, summary=Summary(value=values)))

    def close(self, *, failed: bool) -> None:
        self._writer.close()  # flushes every event to the file
