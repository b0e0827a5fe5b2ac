"""The MLflow side of a tracker: MLflow runs, and the writer process that owns them during training.

:class:`MLflowRun` makes the client calls: the run created with the recipe as parameters, metrics in
batches of :data:`BATCH` (into a database store, as one multi-row insert: ``log_batch`` spends about
0.2 ms of CPU per point, as much as a small model's step), the run ended with a status, files attached.
A training process does not make them itself (:class:`~optimlab.integrations.mlflow.MLflowTracker`):
even so, MLflow's calls cost it CPU and the interpreter, and MLflow's own
asynchronous mode runs in a thread that competes with training for the interpreter. So its runs hand
their records to one writer process, ``python -m optimlab.integrations.mlflow_writer``, started by its
first run and shared by the later ones (MLflow is imported once, as it would be in the trainer). It:

- reads pickled messages ``(key, kind, payload)`` from its standard input, ``key`` naming the run:
  ``open`` (the run's settings), ``metrics`` (records), ``end`` (a status) and ``artifact`` (a path).
  A reader thread drains the pipe, so the trainer never waits on a full pipe while the store is busy;
- logs the records that have arrived in one ``log_batch`` call per run;
- answers on its standard output, one JSON object a line: ``{"key", "run_id"}`` once a run exists,
  ``{"key", "points"}`` once it has ended, ``{"key", "artifact"}``, or ``{"key", "error"}`` when a call
  failed (that run is dropped, the others go on). MLflow's own prints go to standard error;
- at the end of its input (the trainer exited, or died), logs what it has and ends every run left
  open as ``KILLED``: a run is never lost.

This module imports neither torch nor optimlab's training code, so the process is ready as soon as
MLflow is imported (``benchmarks/tracker_overhead.py`` times it).
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import queue
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, TextIO

__all__ = ["BATCH", "EXPERIMENT", "MLflowRun", "main"]

EXPERIMENT = "optimlab"
BATCH = 1000  # MLflow's limit of metrics per log_batch call
_PARAMS = 100  # and of parameters
_PARAM_LENGTH = 6000  # characters of a parameter value
Record = tuple[int, float, dict[str, float]]  # (step, wall time as Unix seconds, metrics), as tracking.Record


class MLflowRun:
    """A new MLflow run of ``experiment`` (created if need be) at ``tracking_uri`` (None: MLflow's
    default), through MLflow's own client, with ``params`` (flat ``field -> value``) as parameters."""

    def __init__(
        self,
        *,
        run_name: str = "",
        params: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        experiment: str = EXPERIMENT,
    ) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.run_id = self.client.create_run(self._experiment_id(experiment), run_name=run_name).info.run_id
        entries = [Param(k, str(v)[:_PARAM_LENGTH]) for k, v in (params or {}).items()]
        for start in range(0, len(entries), _PARAMS):
            self.client.log_batch(self.run_id, params=entries[start : start + _PARAMS])

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name)
        except MlflowException:  # another process created it meanwhile
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def log_records(self, records: Iterable[Record]) -> int:
        """Log every metric of ``records`` at its step and wall time; returns the number of points."""
        from mlflow.entities import Metric

        metrics = [
            Metric(name, float("nan") if value is None else float(value), int(wall_time * 1000), step)
            for step, wall_time, values in records
            for name, value in values.items()
        ]
        for start in range(0, len(metrics), BATCH):
            batch = metrics[start : start + BATCH]
            if not self._insert_rows(batch):
                self.client.log_batch(self.run_id, metrics=batch)
        return len(metrics)

    def _insert_rows(self, metrics: list[Any]) -> bool:
        """Into a database store, ``metrics`` as one multi-row insert into MLflow's own ``metrics``
        table, and the latest value of each key as ``log_batch`` keeps it; False where that cannot be
        (another store, or the insert refused: a point logged twice), and ``log_batch`` then logs them.

        ``log_batch`` builds an ORM object per point, about 0.2 ms of CPU each, as much as a small
        model's step; a plain insert of the same rows costs about 13 us (benchmarks/tracker_overhead.py).
        """
        from mlflow.store.tracking.dbmodels.models import SqlMetric
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from sqlalchemy import insert

        # MLflow's store and its helpers are not public API: anything missing means log_batch.
        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if not isinstance(store, SqlAlchemyStore):
            return False
        rows, latest = [], {}
        for metric in metrics:
            is_nan, value = store.sanitize_metric_value(metric.value)
            row = {"run_uuid": self.run_id, "key": metric.key, "value": value}
            rows.append(row | {"timestamp": metric.timestamp, "step": metric.step, "is_nan": is_nan})
            order = (metric.step, metric.timestamp, value)
            if metric.key not in latest or order > latest[metric.key][0]:
                latest[metric.key] = (order, rows[-1])
        try:
            with store.ManagedSessionMaker(read_only=False) as session:
                store._check_run_is_active(store._get_run(run_uuid=self.run_id, session=session))
                session.execute(insert(SqlMetric.__table__), rows)
                newest = [SqlMetric(**row) for _, row in latest.values()]
                store._update_latest_metrics_if_necessary(newest, session)
        except Exception:  # rolled back whole: log_batch logs the batch (and deduplicates it)
            return False
        return True

    def end(self, status: str) -> None:
        """End the run: ``FINISHED``, ``FAILED`` (it diverged) or ``KILLED`` (its trainer died)."""
        self.client.set_terminated(self.run_id, status=status)

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))


def _read(source: BinaryIO, inbox: queue.SimpleQueue) -> None:
    """Put each message of ``source`` in ``inbox``, then None at its end (or at a torn last message)."""
    while True:
        try:
            inbox.put(pickle.load(source))
        except (EOFError, pickle.UnpicklingError):  # the trainer exited, or died mid-message
            inbox.put(None)
            return


def _open(settings: dict[str, Any]) -> MLflowRun:
    """A new run, created as the trainer would have created it: in its working folder (where MLflow's
    default store and artifacts go) and with its ``MLFLOW_*`` environment at the time."""
    os.chdir(settings.pop("cwd"))
    for name in [name for name in os.environ if name.startswith("MLFLOW_")]:
        del os.environ[name]
    os.environ.update(settings.pop("environment"))
    return MLflowRun(**settings)


class _Writer:
    """The runs of one trainer, each under the key the trainer gave it; answers on ``answers``."""

    def __init__(self, answers: TextIO) -> None:
        self.answers = answers
        self.runs: dict[int, MLflowRun] = {}
        self.points: dict[int, int] = {}
        self.pending: dict[int, list[Record]] = {}  # arrived, not yet logged
        self.ended: set[int] = set()

    def answer(self, key: int, **fields: Any) -> None:
        with contextlib.suppress(BrokenPipeError):  # the trainer has exited: nobody waits for it
            self.answers.write(json.dumps({"key": key, **fields}) + "\n")

    def handle(self, key: int, kind: str, payload: Any) -> None:
        """One message; a run whose calls fail is dropped, its error the answer (the others go on)."""
        try:
            if kind == "open":
                self.runs[key], self.points[key] = _open(payload), 0
                self.answer(key, run_id=self.runs[key].run_id)
            elif key not in self.runs:
                return  # its opening failed, and its trainer was told
            elif kind == "metrics":
                self.pending.setdefault(key, []).extend(payload)
                if len(self.pending[key]) >= BATCH:
                    self.log(key)
            elif kind == "end":
                self.log(key)
                self.runs[key].end(payload)
                self.ended.add(key)
                self.answer(key, points=self.points[key])
            elif kind == "artifact":
                self.runs[key].log_artifact(payload)
                self.answer(key, artifact=str(payload))
        except Exception as error:
            self.drop(key, error)

    def log(self, key: int) -> None:
        records = self.pending.pop(key, [])
        if records:
            self.points[key] += self.runs[key].log_records(records)

    def log_all(self) -> None:
        for key in list(self.pending):
            try:
                self.log(key)
            except Exception as error:
                self.drop(key, error)

    def drop(self, key: int, error: Exception) -> None:
        self.runs.pop(key, None)
        self.pending.pop(key, None)
        self.answer(key, error=f"{type(error).__name__}: {error}")

    def kill_the_rest(self) -> None:
        """End, as ``KILLED``, each run its trainer left without an end (it died), after logging it."""
        for key in sorted(self.runs.keys() - self.ended):
            self.handle(key, "end", "KILLED")


def main() -> None:
    """The writer process (see the module's docstring)."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # MLflow's own prints must not mix with answers
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read, args=(sys.stdin.buffer, inbox), daemon=True).start()
    writer = _Writer(answers)
    while (message := inbox.get()) is not None:
        writer.handle(*message)
        if inbox.empty():  # everything that has arrived is in: one log_batch (one transaction) per run
            writer.log_all()
    writer.log_all()
    writer.kill_the_rest()


if __name__ == "__main__":
    main()
