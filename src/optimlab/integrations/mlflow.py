"""MLflow: a run's metrics (with step and timestamp), its recipe as parameters, its report as an artifact.

Through MLflow's own client, at any tracking URI: ``MLFLOW_TRACKING_URI`` when set, else MLflow's default,
a local database file (``mlflow.db`` in the working folder; MLflow 3 refuses the old ``./mlruns`` file
store unless ``MLFLOW_ALLOW_FILE_STORE=true``). ``mlflow ui`` shows the runs of experiment ``optimlab``.
``pip install 'optimlab[trackers]'``.

While a model trains, the client calls are made by a writer process (:mod:`.mlflow_writer`), one per
training process, shared by its runs: training pickles its records into a pipe once a second
and never imports MLflow. Runs sent after the fact (``background=False``) make the calls in this process.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optimlab
from optimlab.errors import OptimlabError, OptimlabWarning
from optimlab.integrations.mlflow_writer import EXPERIMENT, MLflowRun
from optimlab.integrations.tracking import Record, Tracker

__all__ = ["EXPERIMENT", "MLflowTracker"]

# A pickled batch costs ~30 us; the writer pays ~10 ms of CPU per batch it logs, whatever its size.
_SEND_SECONDS = 1.0
_WAIT_SECONDS = 120.0  # at close, for the writer to log what is left and end the run


class _WriterProcess:
    """This process's MLflow writer: a pipe of messages to it, and its answers gathered by a thread."""

    def __init__(self) -> None:
        # The writer imports the optimlab this process runs, wherever that one was found.
        path = [str(Path(optimlab.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115  (its stderr for its lifetime: read when it stops)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "optimlab.integrations.mlflow_writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path))},
            start_new_session=True,  # a Ctrl-C in the terminal stops the trainer, which ends its runs
        )
        self.pid = os.getpid()  # a forked child starts its own writer rather than share this pipe
        self.keys = itertools.count()
        self.answers: dict[int, dict[str, Any]] = {}
        self.changed = threading.Condition()
        self.sending = threading.Lock()
        threading.Thread(target=self._gather, daemon=True).start()

    def _gather(self) -> None:
        for line in self.process.stdout:
            answer = json.loads(line)
            with self.changed:
                self.answers.setdefault(answer.pop("key"), {}).update(answer)
                self.changed.notify_all()
        self.process.wait()
        with self.changed:
            self.changed.notify_all()  # it exited: nobody waits for an answer that cannot come

    def send(self, key: int, kind: str, payload: Any) -> None:
        message = pickle.dumps((key, kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self.sending:
                self.process.stdin.write(message)
                self.process.stdin.flush()
        except BrokenPipeError:
            self.process.wait()
            raise self.stopped() from None

    def wait(self, key: int, field: str, seconds: float) -> dict[str, Any] | None:
        """The answers about run ``key`` once one holds ``field`` or an error; None after ``seconds``."""
        with self.changed:
            self.changed.wait_for(
                lambda: field in (a := self.answers.get(key, {})) or "error" in a or not self.alive(), seconds
            )
            answers = self.answers.get(key, {})
        return answers if field in answers or "error" in answers or not self.alive() else None

    def error(self, key: int) -> str | None:
        return self.answers.get(key, {}).get("error")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stopped(self) -> OptimlabError:
        self.errors.seek(0)
        lines = [line for line in self.errors.read().decode(errors="replace").splitlines() if line.strip()]
        return OptimlabError(
            f"MLflow's writer process stopped (exit status {self.process.returncode}): "
            + (lines[-1] if lines else "no message")
        )


_writer: _WriterProcess | None = None


def _writer_process() -> _WriterProcess:
    """This process's writer, started on first use (again if it stopped, or in a forked child)."""
    global _writer
    if _writer is None or _writer.pid != os.getpid() or not _writer.alive():
        _writer = _WriterProcess()
    return _writer


def _tracking_uri(given: str | None) -> str | None:
    """The URI this process's MLflow would use: a given one, else ``mlflow.set_tracking_uri``'s where
    MLflow is loaded here; else the writer resolves it from this process's environment and folder."""
    if given is None and "mlflow" in sys.modules:
        return sys.modules["mlflow"].get_tracking_uri()
    return given


class MLflowTracker(Tracker):
    """One MLflow run in ``experiment``; ``params`` (flat ``field -> value``) logged when it opens.

    ``background`` (the default): the calls are made by this process's writer process, so training
    pays a pickle and a pipe write per batch of records (``benchmarks/tracker_overhead.py``);
    :meth:`close` waits up to ``wait_seconds`` for the writer to log the rest and end the run, and
    raises if MLflow refused a call. A trainer that dies leaves its run ``KILLED`` with every record it
    sent. ``background=False``: the calls are made here (runs and trials sent after training).
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
        wait_seconds: float = _WAIT_SECONDS,
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
        self._run: MLflowRun | None = None
        self._writer: _WriterProcess | None = None
        if background:
            self._writer = _writer_process()
            self._key = next(self._writer.keys)
            environment = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
            self._writer.send(self._key, "open", {**settings, "cwd": os.getcwd(), "environment": environment})
        else:
            self._run = MLflowRun(**settings)

    @property
    def run_id(self) -> str:
        """The MLflow run's id (a background run's: waits for its writer to create it)."""
        if self._run is not None:
            return self._run.run_id
        answers = self._answer("run_id")
        if "run_id" not in answers:
            raise OptimlabError(f"MLflow's writer has not created run {self.run_name!r} yet")
        return answers["run_id"]

    def write(self, records: list[Record]) -> None:
        if self._writer is None:
            self._run.log_records(records)
            return
        if self._writer.error(self._key):  # refused already (the opening): stop, rather than train unseen
            self._answer("points")
        self._writer.send(self._key, "metrics", records)

    def close(self, *, failed: bool) -> None:
        status = "FAILED" if failed else "FINISHED"
        if self._writer is None:
            self._run.end(status)
            return
        self._writer.send(self._key, "end", status)
        self._answer("points")

    def log_artifact(self, path: str | Path) -> None:
        """Attach ``path`` (absolute, or from the working folder) to the run, even once it has ended."""
        path = Path(path).resolve()
        if self._writer is None:
            self._run.log_artifact(path)
            return
        self._writer.send(self._key, "artifact", str(path))
        self._answer("artifact")

    def _answer(self, field: str) -> dict[str, Any]:
        """The writer's answers once they hold ``field``; raises on its error or its exit."""
        answers = self._writer.wait(self._key, field, self.wait_seconds)
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
            raise OptimlabError(f"MLflow did not record run {self.run_name!r}: {answers['error']}")
        if field not in answers:
            raise self._writer.stopped()
        return answers
