"""What a tracker's store failed to take, in words: the same sentence from a training process's tracker
(:class:`~.tracking.Tracker`) and from MLflow's writer process (:mod:`.mlflow_writer`, which imports no
torch), for the warning, the ``tracker_failures`` of a fit and MLflow's tag ``optimlab.incomplete``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["failure_reason", "lost_from"]


def failure_reason(error: Exception) -> str:
    """Why a tracker's write failed, in words: an OSError's own reason (a full disk); any other error
    (a store's refusal, a bug in the tracker's code) named by its type, so a bug does not read as storage."""
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def lost_from(unwritten: Sequence[tuple[int, float, dict[str, Any]]]) -> str:
    """What the store lacks where the write of ``unwritten`` (records in step order) failed: from its first
    record on; where there were none, only the run's end."""
    if not unwritten:
        return "every record written, but not the run's end"
    step, _, metrics = unwritten[0]
    return f"records from the one of step {step} ({', '.join(metrics)}) on not written"
