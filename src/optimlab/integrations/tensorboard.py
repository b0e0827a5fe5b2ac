"""TensorBoard: a run's metrics as scalars in an event file, its recipe as a text summary.

Written with the ``tensorboard`` package's own event writer and protocol buffers (no TensorFlow, no
torch SummaryWriter): ``tensorboard --logdir runs/NAME/tensorboard`` shows the curves, with steps and
wall times as logged. ``pip install 'optimlab[trackers]'``.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.text.summary_v2 import text_pb
from tensorboard.summary.writer.record_writer import RecordWriter

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
        # The file name and first event TensorBoard's reader expects of an event file. Events are written
        # here, a batch at each evaluation (about 30 us an event, its CRC in pure Python), rather than by
        # tensorboard's writer thread, whose queue and GIL hand-offs cost 4x that (benchmarks/tracker_overhead.py).
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{id(self)}"
        self.path = self.log_dir / name
        self._records = RecordWriter(open(self.path, "wb"))  # noqa: SIM115  (closed by close())
        self._write_event(Event(wall_time=time.time(), file_version="brain.Event:2"))
        if params:
            table = "| field | value |\n| --- | --- |\n" + "".join(
                f"| {k} | {v} |\n" for k, v in params.items()
            )
            self._write_event(Event(step=0, summary=text_pb("recipe", table)))
        self._records.flush()

    def _write_event(self, event: Event) -> None:
        self._records.write(event.SerializeToString())

    def write(self, records: list[Record]) -> None:
        for step, wall_time, metrics in records:
            values = [
                Summary.Value(tag=name, simple_value=value if value is not None else math.nan)
                for name, value in metrics.items()
            ]
            self._write_event(Event(wall_time=wall_time, step=step, summary=Summary(value=values)))
        self._records.flush()  # readers (TensorBoard itself) see each batch as it is written

    def close(self, *, failed: bool) -> None:
        self._records.close()
