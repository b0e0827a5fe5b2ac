"""MLflow: a run's metrics (with step and timestamp), its recipe as parameters, its report as an artifact.

Into MLflow's SQLite store straight (:mod:`.mlflow_sqlite`, where it knows the store: MLflow's import
is 4 s of CPU), else through MLflow's own client, at any tracking URI: ``MLFLOW_TRACKING_URI`` when
set, else MLflow's default, a local database file (``mlflow.db`` in the working folder; MLflow 3
refuses the old ``./mlruns`` file store unless ``MLFLOW_ALLOW_FILE_STORE=true``). ``mlflow ui`` shows
the runs of experiment ``optimlab``.
``pip install 'optimlab[trackers]'``.

While a model trains, the client calls are made by a writer process (:mod:`.mlflow_writer`), one per
training process, shared by its runs: training pickles its records into a pipe once a second
and never imports MLflow. Closing a run does not wait for the writer: :meth:`MLflowTracker.wait` does,
and so does the interpreter's exit. Runs sent after the fact (``background=False``) make the calls in
this process.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from optimlab.errors import OptimlabError, OptimlabWarning
from optimlab.integrations.mlflow_sqlite import SqliteRun
from optimlab.integrations.mlflow_writer import (
    EXPERIMENT,
    WAIT_SECONDS,
    MLflowRun,
    open_run,
    writer_process,
)
from optimlab.integrations.tracking import Record, Tracker

__all__ = ["EXPERIMENT", "MLflowTracker"]

# A pickled batch costs ~30 us; the writer pays ~10 ms of CPU per batch it logs, whatever its size.
_SEND_SECONDS = 1.0


def _tracking_uri(given: str | None) -> str | None:
    """The URI this process's MLflow would use: a given one, else ``mlflow.set_tracking_uri``'s where
    MLflow is loaded here; else the writer resolves it from this process's environment and folder."""
    if given is None and "mlflow" in sys.modules:
        return sys.modules["mlflow"].get_tracking_uri()
    return given


class MLflowTracker(Tracker):
    """One MLflow run in ``experiment``; ``params`` (flat ``field -> value``) logged when it opens.

    ``background`` (the default): the calls are made by this process's writer process, so training
    pays a pickle and a pipe write per batch of records (``benchmarks/tracker_overhead.py``).
    :meth:`close` hands over the end of the run and returns: :meth:`wait` returns once the writer has
    done everything sent so far (call it before reading the run back in this process), and raises if
    MLflow refused a call; at interpreter exit the writer is waited for, and a refusal nobody was told
    of is a warning. A refusal never stops training: the records are no longer sent, and :meth:`wait`
    raises. A trainer that dies leaves its run ``KILLED`` with every record it sent.
    ``background=False``: the calls are made here (runs and trials sent after training).
    """

    def __init__(
        self,
        *,
        run_name: str,
        params: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        experiment: str = EXPERIMENT,
        every: int = 1,
        background: bool = True,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        super().__init__(every=every, flush_seconds=_SEND_SECONDS if background else None)
        if importlib.util.find_spec("mlflow") is None:
            raise OptimlabError(
                "logging to MLflow needs the mlflow package: pip install 'optimlab[trackers]'"
            )
        self.run_name, self.wait_seconds = run_name, wait_seconds
        settings = {
            "run_name": run_name,
            "params": dict(params or {}),
            "experiment": experiment,
            "tracking_uri": _tracking_uri(tracking_uri),
        }
        self._run: MLflowRun | SqliteRun | None = None
        if background:
            self._writer = writer_process()
            self._key = next(self._writer.keys)
            self._writer.names[self._key] = run_name
            self._syncs = 0
            environment = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
            self._send("open", {**settings, "cwd": os.getcwd(), "environment": environment})
        else:
            self._run = open_run(**settings)

    @property
    def run_id(self) -> str:
        """The MLflow run's id (a background run's: waits for its writer to create it)."""
        if self._run is not None:
            return self._run.run_id
        answers = self._answer(lambda answers: "run_id" in answers)
        if "run_id" not in answers:
            raise OptimlabError(f"MLflow's writer has not created run {self.run_name!r} yet")
        return answers["run_id"]

    def write(self, records: list[Record]) -> None:
        if self._run is not None:
            self._run.log_records(records)
        else:
            self._send("metrics", records)

    def close(self, *, failed: bool) -> None:
        status = "FAILED" if failed else "FINISHED"
        if self._run is not None:
            self._run.end(status)
        else:
            # Not waited for: the end's store transaction and fsync (20-26 ms) were a tenth of a
            # quarter-second run (benchmarks/tracker_overhead.py, docs/benchmarks.md).
            self._send("end", status)

    def log_artifact(self, path: str | Path) -> None:
        """Attach ``path`` (absolute, or from the working folder) to the run, even once it has ended."""
        path = Path(path).resolve()
        if self._run is not None:
            self._run.log_artifact(path)
        else:
            self._send("artifact", str(path))

    def wait(self) -> None:
        """Return once the writer has done everything sent for this run so far (its records logged, its
        end, its files attached); raise if MLflow refused a call."""
        if self._run is None:
            self._syncs += 1
            self._send("sync", self._syncs)
            self._answer(lambda answers, count=self._syncs: answers.get("synced", 0) >= count)

    def _send(self, kind: str, payload: Any) -> None:
        """Hand a message to the writer. Once MLflow refused this run, or the writer stopped, nothing more
        is sent and nothing is raised here: training goes on to its end (its folder whole), and
        :meth:`wait` raises why."""
        if self._writer.error(self._key) is not None or not self._writer.alive():
            return
        try:
            self._writer.send(self._key, kind, payload)
        except OptimlabError:
            if self._writer.alive():  # ended by end_writer: it takes no more
                raise

    def _answer(self, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The writer's answers once ``done`` holds of them; raises on its error or its exit."""
        answers = self._writer.wait(self._key, done, self.wait_seconds)
        if answers is None:
            warnings.warn(
                f"MLflow's writer (process {self._writer.process.pid}) is still logging run "
                f"{self.run_name!r} after {self.wait_seconds:g} s; it has every record, and ends the run "
                "before it exits",
                OptimlabWarning,
                stacklevel=3,
            )
            return {}
        if "error" in answers:
            raise self._refused(answers["error"])
        if not done(answers):
            raise self._writer.stopped()
        return answers

    def _refused(self, error: str) -> OptimlabError:
        self._writer.told.add(self._key)  # not repeated as a warning at exit
        return OptimlabError(f"MLflow did not record run {self.run_name!r}: {error}")
