"""What a tracker's store failed to take, in words: the same sentence from a training process's tracker
(:class:`~.tracking.Tracker`) and from MLflow's writer process (:mod:`.mlflow_writer`, which imports no
torch), for the warning, the ``tracker_failures`` of a fit and MLflow's tag ``optimlab.incomplete``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PartlyWritten", "failure_reason", "lost_from"]

Record = tuple[int, float, dict[str, Any]]  # (step, wall time as Unix seconds, metrics), as tracking.Record


class PartlyWritten(Exception):
    """A store's refusal, ``error``, of a write it had taken part of (MLflow's ``log_batch`` calls of 1000
    points each, the first ones logged): ``unwritten``, the records it lacks, each with only the metrics
    not taken, in step order; ``written``, the points it took."""

    def __init__(self, error: Exception, unwritten: Sequence[Record], written: int) -> None:
        super().__init__(str(error))
        self.error, self.unwritten, self.written = error, list(unwritten), written


def failure_reason(error: Exception) -> str:
    """Why a tracker's write failed, in words: an OSError's own reason (a full disk); any other error
    (a store's refusal, a bug in the tracker's code) named by its type, so a bug does not read as storage."""
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def lost_from(unwritten: Sequence[Record]) -> str:
    """What the store lacks where the write of ``unwritten`` (records in step order) failed: from its first
    record on; where there were none, only the run's end."""
    if not unwritten:
        return "every record written, but not the run's end"
    step, _, metrics = unwritten[0]
    return f"records from the one of step {step} ({', '.join(metrics)}) on not written"
