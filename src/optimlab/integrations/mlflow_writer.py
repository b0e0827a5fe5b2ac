"""The MLflow side of a tracker: MLflow runs, and the writer process that owns them during training.

:class:`MLflowRun` makes the client calls: the run created with the recipe as parameters, metrics in
batches of :data:`BATCH` (into a database store, as one multi-row insert: ``log_batch`` spends about
0.2 ms of CPU per point, as much as a small model's step), the run ended with a status, files attached.
A training process does not make them itself (:class:`~optimlab.integrations.mlflow.MLflowTracker`):
even so, MLflow's calls cost it CPU and the interpreter, and MLflow's own
asynchronous mode runs in a thread that competes with training for the interpreter. So its runs hand
their records to one writer process, ``python -m optimlab.integrations.mlflow_writer``, started by its
first run (or earlier, :func:`writer_process`) and shared by the later ones. It:

- writes each run straight into MLflow's SQLite store where :mod:`.mlflow_sqlite` knows that store
  (MLflow's default; no MLflow import at all), else imports MLflow as it starts, so that the import
  (4 s of CPU) overlaps the trainer's own start-up, and opens the default store ahead of the first run;
- reads pickled messages ``(key, kind, payload)`` from its standard input, ``key`` naming the run:
  ``open`` (the run's settings), ``metrics`` (records), ``end`` (a status), ``artifact`` (a path)
  and ``sync`` (a count, answered once every
  earlier message of the run is done). A reader thread drains the pipe, so the trainer never waits on a
  full pipe while the store is busy;
- logs the records that have arrived in one transaction per run, at most every :data:`WRITE_SECONDS`
  while the run trains (each write wakes this process, and on 2 cores a process woken beside
  training's two threads stalls them: 1.07x at 1,700 steps when it wrote on each arrival, once a
  second, against 0.96x), and at once for a run's end and for a ``sync``;
- answers on its standard output, one JSON object a line: ``{"key", "run_id", "warnings"}`` once a run
  exists (what opening it warned of: a resumed run's steps shown twice, its run not found),
  ``{"key", "points"}`` once it has ended, ``{"key", "synced"}``, or ``{"key", "error"}`` when a call
  failed (that run logs nothing more, tagged ``optimlab.incomplete``, and is ended by its end; the others
  go on). MLflow's own prints go to standard error;
- at the end of its input (the trainer exited, died, or called :meth:`WriterProcess.end`), logs what it
  has and ends every run left open as ``KILLED``: a run is never lost.

:class:`WriterProcess` is the trainer's end of the pipe. This module imports neither torch nor
optimlab's training code, so the writer is ready as soon as MLflow is imported, and ``optimlab train``
starts it before it imports torch (``benchmarks/tracker_overhead.py`` times it).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import json
import math
import os
import pickle
import queue
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import optimlab
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning, user_stacklevel
from optimlab.integrations.mlflow_sqlite import (
    PARENT_TAG,
    RunNotFound,
    SqliteRun,
    metric_rows,
    missing_records,
    param_entries,
    sqlite_path,
    sqlite_store,
)
from optimlab.integrations.store_failure import PartlyWritten, failure_reason, lost_from

__all__ = [
    "BATCH",
    "EXPERIMENT",
    "INCOMPLETE_TAG",
    "RUN_FILE",
    "MLflowRun",
    "WriterProcess",
    "end_run",
    "end_writer",
    "environment_experiment",
    "kept_run",
    "main",
    "open_run",
    "writer_process",
]

EXPERIMENT = "optimlab"
BATCH = 1000  # MLflow's limit of metrics per log_batch call
_PARAMS = 100  # and of parameters
WRITE_SECONDS = 10.0  # between a run's transactions while it trains (its end and a sync write at once)
WAIT_SECONDS = 120.0  # for the writer to answer, or to finish its work at exit
# The tag of a run whose tracker stopped during training: what it lacks (from which record on) and why. Its
# status stays the training's (FINISHED where the model trained to its end): MLflow has no status for a run
# that trained whole but holds part of it, and FAILED would tell a reader its training failed.
INCOMPLETE_TAG = "optimlab.incomplete"
RUN_FILE = "mlflow.json"  # in a training run's folder: the id and tracking URI of the MLflow run logging it
Record = tuple[int, float, dict[str, float]]  # (step, wall time as Unix seconds, metrics), as tracking.Record


_clients: dict[tuple[str, str], Any] = {}  # (working folder, tracking URI) -> its MlflowClient


def _client(tracking_uri: str | None) -> Any:
    """An ``MlflowClient`` of ``tracking_uri`` (None: MLflow's default here), one per store: opening a
    database store checks its schema with alembic (0.3-2 s), which the runs of one process pay once."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or mlflow.get_tracking_uri()
    key = (os.getcwd(), uri)
    if key not in _clients:
        path = sqlite_path(uri)
        if path is None:
            _clients[key] = MlflowClient(tracking_uri=uri)
        else:
            # MLflow makes a new SQLite store's tables as its client first opens it: two trainers started
            # at once on a new store both ran its migrations, and one or both failed ('duplicate column
            # name: step', alembic's 'expected to match one row'), their runs lost (3 races of 3). The
            # first opens it alone, under flock, which SQLite's own (POSIX) locks do not see.
            path.parent.mkdir(parents=True, exist_ok=True)  # as MLflow would
            with open(path, "ab") as store:
                fcntl.flock(store, fcntl.LOCK_EX)
                _clients[key] = MlflowClient(tracking_uri=uri)
                _clients[key].search_experiments(max_results=1)
    return _clients[key]


def _open_default_store() -> None:
    """Open, ahead of the first run, the store a trainer's runs go to by default (its environment and
    working folder are this process's at the start) where it is a server or a database other than
    SQLite: a SQLite file is written straight, or created by the first run, and the file store (refused
    by MLflow 3 unless allowed) opens in no time."""
    import mlflow

    uri = mlflow.get_tracking_uri()
    if ":" in uri and uri.partition(":")[0] not in ("file", "sqlite"):
        _client(uri)


class MLflowRun:
    """A new MLflow run of ``experiment`` (created if need be), or of the existing ``experiment_id``, at ``tracking_uri`` (None: MLflow's
    default), through MLflow's own client, with ``params`` (flat ``field -> value``) as parameters, a
    child of run ``parent_run_id`` where given; or run ``run_id`` reopened (:class:`~.mlflow_sqlite.RunNotFound` where it is not there, or deleted)."""

    def __init__(
        self,
        *,
        run_name: str = "",
        params: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        experiment: str = EXPERIMENT,
        experiment_id: str | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        start_time: float | None = None,
    ) -> None:
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        self.client = _client(tracking_uri)
        self.tracking_uri = self.client.tracking_uri
        if run_id is not None:
            try:
                kept = self.client.get_run(run_id)
            except MlflowException:  # no such run here
                kept = None
            if kept is None or kept.info.lifecycle_stage != "active":
                raise RunNotFound(self.tracking_uri)
            self.run_id, self.experiment_id = run_id, kept.info.experiment_id
            self._parent = kept.data.tags.get(PARENT_TAG)
            return
        self._parent = parent_run_id
        tags = {PARENT_TAG: parent_run_id} if parent_run_id is not None else None
        if experiment_id is not None:  # MLflow refuses an id it does not have, naming it
            experiment_id = self.client.get_experiment(experiment_id).experiment_id
        self.experiment_id = experiment_id or self._experiment_id(experiment)
        self.run_id = self.client.create_run(
            self.experiment_id,
            run_name=run_name,
            tags=tags,
            start_time=None if start_time is None else int(start_time * 1000),
        ).info.run_id
        entries = [Param(k, v) for k, v in param_entries(params or {})]
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

    def log_records(self, records: Sequence[Record]) -> int:
        """Log every metric of ``records`` at its step and wall time; returns the number of points. A store
        that takes them in several calls (not SQL) and refuses a later one raises :class:`PartlyWritten`."""
        from mlflow.entities import Metric

        rows, latest = metric_rows(self.run_id, records)
        if not self._insert_rows(rows, latest):
            metrics = [
                Metric(r["key"], math.nan if r["is_nan"] else r["value"], r["timestamp"], r["step"])
                for r in rows
            ]
            for start in range(0, len(metrics), BATCH):
                try:
                    self.client.log_batch(self.run_id, metrics=metrics[start : start + BATCH])
                except Exception as error:
                    if not start:
                        raise
                    logged = {(row["key"], row["step"]) for row in rows[:start]}
                    raise PartlyWritten(error, missing_records(records, logged), start) from error
        return len(rows)

    def _insert_rows(self, rows: list[dict[str, Any]], latest: list[dict[str, Any]]) -> bool:
        """Into a database store, ``rows`` (:func:`~.mlflow_sqlite.metric_rows`) inserted into MLflow's own
        ``metrics`` table in one transaction, and the ``latest`` of each key as ``log_batch`` keeps it;
        False where that cannot be (another store, or the insert refused: a point logged twice), and
        ``log_batch`` then logs them.

        ``log_batch`` builds an ORM object per point, about 0.2 ms of CPU each, as much as a small
        model's step; a plain insert of the same rows costs about 13 us (benchmarks/tracker_overhead.py).
        """
        from mlflow.store.tracking.dbmodels.models import SqlMetric
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from sqlalchemy import insert

        # MLflow's store and its helpers are not public API: anything missing means log_batch.
        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if not isinstance(store, SqlAlchemyStore) or not rows:
            return False
        try:
            with store.ManagedSessionMaker(read_only=False) as session:
                store._check_run_is_active(store._get_run(run_uuid=self.run_id, session=session))
                session.execute(
                    insert(SqlMetric.__table__), [r | {"is_nan": bool(r["is_nan"])} for r in rows]
                )
                newest = [SqlMetric(**r | {"is_nan": bool(r["is_nan"])}) for r in latest]
                store._update_latest_metrics_if_necessary(newest, session)
        except Exception:  # rolled back whole: log_batch logs the batch (and deduplicates it)
            return False
        return True

    def resume(self, step: int, records: Iterable[Record]) -> None:
        """Continue the run at ``step`` (``RUNNING`` again), adding those of ``records`` (the run folder's
        lines up to ``step``) that it lacks. MLflow's client deletes no point: steps logged past ``step`` (by
        a session killed after its checkpoint) are logged again, and shown twice, as a warning says."""
        self.client.update_run(self.run_id, status="RUNNING")
        logged = {
            (key, point.step)
            for key in self.client.get_run(self.run_id).data.metrics
            for point in self.client.get_metric_history(self.run_id, key)
        }
        past = sorted({logged_step for _, logged_step in logged if logged_step > step})
        if past:
            warnings.warn(
                f"MLflow run {self.run_id} at {self.tracking_uri} holds steps {past[0]} to {past[-1]} from "
                f"before training stopped; they are trained again from the checkpoint at step {step} and "
                "show twice, as MLflow's client deletes no metric (a SQLite store is written straight, "
                "those steps replaced)",
                OptimlabWarning,
                stacklevel=user_stacklevel(),
            )
        self.log_records(missing_records(records, logged))

    def update_params(self, params: Mapping[str, Any]) -> None:
        """The reopened run's parameters become ``params`` (a run resumed with ``--epochs`` changed trains
        by that recipe, its folder's recipe.yaml): those it lacks are logged, and those changed rewritten in
        a database store, as MLflow's client changes no parameter (elsewhere a warning names them)."""
        from mlflow.entities import Param

        logged = self.client.get_run(self.run_id).data.params
        entries = param_entries(params)
        new = [Param(k, v) for k, v in entries if k not in logged]
        for start in range(0, len(new), _PARAMS):
            self.client.log_batch(self.run_id, params=new[start : start + _PARAMS])
        changed = {k: v for k, v in entries if k in logged and logged[k] != v}
        if changed and not self._rewrite_params(changed):
            warnings.warn(
                f"MLflow run {self.run_id} at {self.tracking_uri} keeps the parameters it started with, as "
                "MLflow's client changes none: "
                + ", ".join(f"{k} {logged[k]} (resumed with {v})" for k, v in changed.items()),
                OptimlabWarning,
                stacklevel=user_stacklevel(),
            )

    def _rewrite_params(self, changed: Mapping[str, str]) -> bool:
        """In a database store, the values of the run's parameters ``changed`` (key -> value) rewritten in
        MLflow's own ``params`` table; False where that cannot be (another store)."""
        from mlflow.store.tracking.dbmodels.models import SqlParam
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = getattr(getattr(self.client, "_tracking_client", None), "store", None)
        if not isinstance(store, SqlAlchemyStore):
            return False
        try:
            with store.ManagedSessionMaker(read_only=False) as session:
                for key, value in changed.items():
                    session.query(SqlParam).filter_by(run_uuid=self.run_id, key=key).update({"value": value})
        except Exception:  # MLflow's store internals are not public API: the warning says what stays
            return False
        return True

    def set_parent(self, parent_run_id: str) -> None:
        """Make the run a child of run ``parent_run_id`` (tag ``mlflow.parentRunId``) where it has no parent:
        a run kept with one keeps it."""
        if self._parent is None:
            self.set_tag(PARENT_TAG, parent_run_id)
            self._parent = parent_run_id

    def set_tag(self, key: str, value: str) -> None:
        self.client.set_tag(self.run_id, key, value)

    def end(self, status: str, end_time: float | None = None) -> None:
        """End the run: ``FINISHED``, ``FAILED`` (it diverged) or ``KILLED`` (its trainer died), at
        ``end_time`` (Unix seconds; now)."""
        self.client.set_terminated(
            self.run_id, status=status, end_time=None if end_time is None else int(end_time * 1000)
        )

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)


def kept_run(text: bytes) -> dict[str, Any]:
    """What a run folder's :data:`RUN_FILE` holds: its MLflow run's ``run_id`` and ``tracking_uri``;
    {} where it is empty, or torn by a kill."""
    with contextlib.suppress(ValueError):
        kept = json.loads(text)
        if isinstance(kept, dict) and isinstance(kept.get("run_id"), str):
            return kept
    return {}


def open_run(
    *,
    run_folder: str | Path | None = None,
    step: int = 0,
    records: Iterable[Record] = (),
    seen: str | None = None,
    seen_at: float | None = None,
    **settings: Any,
) -> MLflowRun | SqliteRun:
    """A new run: written straight into MLflow's SQLite store where that store is one
    :mod:`.mlflow_sqlite` knows (no MLflow import: 4 s of CPU saved), else through MLflow's client.

    With ``run_folder`` (a training run's), the MLflow run kept in its :data:`RUN_FILE` is reopened where
    there is one (else, or where the tracking URI no longer has that run, a new one, with a warning), its
    id kept there, and the run resumed at ``step`` with ``records``, the folder's metrics up to it
    (``resume`` of :class:`MLflowRun` or :class:`~.mlflow_sqlite.SqliteRun`). The file stays locked
    until :func:`end_run`, so a writer left ending the run of a trainer that died ends it first.
    ``seen``: the run id the trainer read there as it started, at ``seen_at`` (Unix time, kept in the
    file with the run's id); a file that names another by now was written by a later session of the
    training run (this writer lagged behind its dead trainer), and this open is refused, or by an earlier
    one whose writer lagged behind its dead trainer as this session read the file (a run resumed at
    once), and this session goes on in that run.
    """
    if settings.get("experiment") is None and settings.get("experiment_id") is None:
        settings.update(environment_experiment())
    if run_folder is None:
        return SqliteRun.open(**settings) or MLflowRun(**settings)
    path = Path(run_folder, RUN_FILE)
    held = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # released by end_run, or by the kernel when its holder dies
        kept = kept_run(os.pread(held, 1 << 16, 0))
        if kept.get("run_id", seen) != seen:
            if seen_at is None or (kept.get("seen_at") or -math.inf) > seen_at:
                raise OptimlabError(
                    f"{path} names MLflow run {kept['run_id']} now: a later session logs there"
                )
            seen = kept["run_id"]  # an earlier session's, named after this one read the file
        run = None
        if seen is not None:
            try:
                run = SqliteRun.open(**settings, run_id=seen) or MLflowRun(**settings, run_id=seen)
            except RunNotFound as missing:
                warnings.warn(
                    f"MLflow run {seen} (kept in {path}, at {kept.get('tracking_uri')}) is not at "
                    f"{missing}: the training goes on in a new MLflow run there",
                    OptimlabWarning,
                    stacklevel=user_stacklevel(),
                )
        reopened = run is not None
        run = run or SqliteRun.open(**settings) or MLflowRun(**settings)
        if reopened:
            run.update_params(settings.get("params") or {})
            # a study's trial kept without a parent (by an earlier version) is given it; a run kept with its
            # parent keeps it (one trained inside mlflow.start_run() and resumed inside another's)
            if settings.get("parent_run_id") is not None:
                run.set_parent(settings["parent_run_id"])
        if reopened or step > 0:
            run.resume(step, records)
        os.ftruncate(held, 0)
        kept = {"run_id": run.run_id, "tracking_uri": run.tracking_uri, "seen_at": seen_at}
        os.pwrite(held, json.dumps(kept).encode(), 0)
        os.fsync(held)
    except BaseException:
        os.close(held)
        raise
    _held[run.run_id] = held
    return run


def environment_experiment() -> dict[str, str]:
    """The experiment ``mlflow.start_run()`` would use, by this process's environment:
    ``MLFLOW_EXPERIMENT_NAME`` (created if need be), else ``MLFLOW_EXPERIMENT_ID`` (one that exists),
    else :data:`EXPERIMENT`. An empty name is refused, as MLflow refuses it (``Invalid experiment name: ''``:
    mlflow.environment_variables reads a variable that is set, empty or not); it was read as unset."""
    name, experiment_id = os.environ.get("MLFLOW_EXPERIMENT_NAME"), os.environ.get("MLFLOW_EXPERIMENT_ID")
    if name == "":
        raise InvalidValueError(
            "MLFLOW_EXPERIMENT_NAME",
            name,
            "an experiment's name (MLflow refuses an empty one), or the variable unset",
        )
    if name is not None:
        return {"experiment": name}
    if experiment_id:
        return {"experiment": EXPERIMENT, "experiment_id": experiment_id}
    return {"experiment": EXPERIMENT}


_held: dict[str, int] = {}  # run id -> its run folder's RUN_FILE, locked while the run is open here


def end_run(run: MLflowRun | SqliteRun, status: str, end_time: float | None = None) -> None:
    """End ``run`` with ``status`` at ``end_time`` (Unix seconds; now), and unlock its run folder's
    :data:`RUN_FILE`, where it has one."""
    run.end(status, end_time)
    if run.run_id in _held:
        os.close(_held.pop(run.run_id))


def _read(source: BinaryIO, inbox: queue.SimpleQueue) -> None:
    """Put each message of ``source`` in ``inbox``, then None at its end (or at a torn last message)."""
    while True:
        try:
            inbox.put(pickle.load(source))
        except (EOFError, pickle.UnpicklingError):  # the trainer exited, or died mid-message
            inbox.put(None)
            return


def _open(settings: dict[str, Any]) -> MLflowRun | SqliteRun:
    """A new run, created as the trainer would have created it: in its working folder (where MLflow's
    default store and artifacts go) and with its ``MLFLOW_*`` environment at the time."""
    os.chdir(settings.pop("cwd"))
    for name in [name for name in os.environ if name.startswith("MLFLOW_")]:
        del os.environ[name]
    os.environ.update(settings.pop("environment"))
    return open_run(**settings)


class _Writer:
    """The runs of one trainer, each under the key the trainer gave it; answers on ``answers``."""

    def __init__(self, answers: TextIO) -> None:
        self.answers = answers
        self.runs: dict[int, MLflowRun | SqliteRun] = {}
        self.points: dict[int, int] = {}
        self.pending: dict[int, list[Record]] = {}  # arrived, not yet logged
        self.ended: set[int] = set()
        self.refused: set[int] = set()  # runs a call failed for: they take only their end

    def answer(self, key: int, **fields: Any) -> None:
        with contextlib.suppress(BrokenPipeError):  # the trainer has exited: nobody waits for it
            self.answers.write(json.dumps({"key": key, **fields}) + "\n")

    def handle(self, key: int, kind: str, payload: Any) -> None:
        """One message; a run whose calls fail is dropped, its error the answer (the others go on)."""
        try:
            if kind == "open":
                with warnings.catch_warnings(record=True) as caught:  # the trainer's to show
                    warnings.simplefilter("always", OptimlabWarning)
                    self.runs[key], self.points[key] = _open(payload), 0
                said = [str(w.message) for w in caught if issubclass(w.category, OptimlabWarning)]
                self.answer(key, run_id=self.runs[key].run_id, warnings=said)
            elif key not in self.runs or (key in self.refused and kind != "end"):
                return  # its opening or a call failed, and its trainer was told
            elif kind == "metrics":
                self.pending.setdefault(key, []).extend(payload)
            elif kind == "end":
                self.log_or_drop(key)  # a refused write still ends the run
                end_run(self.runs[key], payload)
                self.ended.add(key)
                self.answer(key, points=self.points[key])
            elif kind == "artifact":
                self.runs[key].log_artifact(payload)
            elif kind == "text":
                self.runs[key].log_text(*payload)
            elif kind == "sync":
                self.log(key)
                self.answer(key, synced=payload)
        except Exception as error:
            file = Path(payload).name if kind == "artifact" else payload[1] if kind == "text" else None
            lost = None if file is None else f"the file {file!r} and what followed it not written"
            self.drop(key, error, lost=lost, ended=kind == "end")

    def log(self, key: int) -> None:
        records = self.pending.get(key)  # kept until written: a failed write names its first record
        if records:
            try:
                self.points[key] += self.runs[key].log_records(records)
            except PartlyWritten as partly:
                self.pending[key], self.points[key] = partly.unwritten, self.points[key] + partly.written
                raise partly.error from None
        self.pending.pop(key, None)

    def log_or_drop(self, key: int) -> None:
        try:
            self.log(key)
        except Exception as error:
            self.drop(key, error)

    def log_all(self) -> None:
        for key in list(self.pending):
            self.log_or_drop(key)

    def drop(self, key: int, error: Exception, *, lost: str | None = None, ended: bool = False) -> None:
        """MLflow refused a call for run ``key``: the trainer is told, and the run logs nothing more. It is
        tagged :data:`INCOMPLETE_TAG` with what it lacks (``lost``; else from its first record unwritten
        on), as a run its trainer writes is, and its end (still sent) ends it with the training's status,
        or :meth:`kill_the_rest` ``KILLED``: it stayed ``RUNNING``, untagged. ``ended``: the refused call
        was the end, not made again."""
        unwritten = self.pending.pop(key, [])
        self.answer(key, error=f"{type(error).__name__}: {error}")
        run = self.runs.pop(key, None) if ended else self.runs.get(key)
        if run is None or key in self.refused:  # not opened, or tagged already
            return
        self.refused.add(key)
        with contextlib.suppress(Exception):  # best effort: the store may refuse this too
            run.set_tag(INCOMPLETE_TAG, f"{lost or lost_from(unwritten)}: {failure_reason(error)}")

    def kill_the_rest(self) -> None:
        """End, as ``KILLED``, each run its trainer left without an end (it died), after logging it."""
        for key in sorted(self.runs.keys() - self.ended):
            self.handle(key, "end", "KILLED")


class WriterProcess:
    """The trainer's end of a writer process: a pipe of messages to it, its answers gathered by a thread.

    At interpreter exit (``atexit``) it is ended and waited for, unless :meth:`end` let it finish alone;
    a refusal that no caller was told of is then a warning.
    """

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
        self.names: dict[int, str] = {}  # run names, for the messages
        self.told: set[int] = set()  # runs whose refusal a caller was told of
        self.answers: dict[int, dict[str, Any]] = {}
        self.changed = threading.Condition()
        self.sending = threading.Lock()
        self.detached = False  # ended with wait=False: left to finish alone, even at exit
        self.gatherer = threading.Thread(target=self._gather, daemon=True)
        self.gatherer.start()
        atexit.register(self._at_exit)

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
        if self.process.stdin.closed:
            raise OptimlabError(f"MLflow's writer (process {self.process.pid}) was ended: it takes no more")
        message = pickle.dumps((key, kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self.sending:
                self.process.stdin.write(message)
                self.process.stdin.flush()
        except BrokenPipeError:
            self.process.wait()
            raise self.stopped() from None

    def wait(self, key: int, done: Callable[[dict[str, Any]], bool], seconds: float) -> dict[str, Any] | None:
        """The answers about run ``key`` once ``done`` holds of them, or they hold an error, or the writer
        exited; None after ``seconds``."""

        def settled() -> bool:
            answers = self.answers.get(key, {})
            return done(answers) or "error" in answers or not self.alive()

        with self.changed:
            return dict(self.answers.get(key, {})) if self.changed.wait_for(settled, seconds) else None

    def error(self, key: int) -> str | None:
        return self.answers.get(key, {}).get("error")

    def alive(self) -> bool:
        return self.process.poll() is None

    def open(self) -> bool:
        """Whether it takes messages: alive, not ended, and this process's own (not a forked parent's)."""
        return self.pid == os.getpid() and self.alive() and not self.process.stdin.closed

    def stopped(self) -> OptimlabError:
        self.errors.seek(0)
        lines = [line for line in self.errors.read().decode(errors="replace").splitlines() if line.strip()]
        return OptimlabError(
            f"MLflow's writer process stopped (exit status {self.process.returncode}): "
            + (lines[-1] if lines else "no message")
        )

    def _at_exit(self) -> None:
        if not self.detached:
            self.end(wait=True)

    def end(self, *, wait: bool) -> None:
        """No more messages: the writer logs what it has, ends the runs left open as ``KILLED``, writes
        the pages asked for, and exits. ``wait``: until it has (up to :data:`WAIT_SECONDS`), then warn of
        each refusal that no caller was told of; else it finishes alone, after this process if need be."""
        if self.pid != os.getpid():
            return
        if not self.process.stdin.closed:
            with self.sending, contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
            self.detached = not wait
        if not wait:
            return
        self.gatherer.join(WAIT_SECONDS)  # until the writer exited and every answer is in
        if self.gatherer.is_alive():
            warnings.warn(
                f"MLflow's writer (process {self.process.pid}) is still logging after {WAIT_SECONDS:g} s; "
                "it has every record, and ends its runs before it exits",
                OptimlabWarning,
                stacklevel=user_stacklevel(),
            )
        with self.changed:
            errors = sorted((key, answers) for key, answers in self.answers.items() if "error" in answers)
        for key, answers in errors:
            if key not in self.told:
                self.told.add(key)
                message = f"MLflow did not record run {self.names.get(key)!r}: {answers['error']}"
                warnings.warn(message, OptimlabWarning, stacklevel=user_stacklevel())


_writer: WriterProcess | None = None


def writer_process() -> WriterProcess:
    """This process's writer, started on first use (again once it ended or stopped, or in a forked
    child). ``optimlab train --log mlflow`` calls it first thing, so MLflow's import overlaps torch's."""
    global _writer
    if _writer is None or not _writer.open():
        _writer = WriterProcess()
    return _writer


def end_writer(*, wait: bool) -> None:
    """End this process's writer, where it has one (:meth:`WriterProcess.end`)."""
    if _writer is not None:
        _writer.end(wait=wait)


def main() -> None:
    """The writer process (see the module's docstring)."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # MLflow's own prints must not mix with answers
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_read, args=(sys.stdin.buffer, inbox), daemon=True).start()
    # Now, beside the trainer's start: MLflow's import and its default store (else each run says why),
    # unless the runs go straight into a SQLite store.
    if sqlite_store(None) is None:
        with contextlib.suppress(Exception):
            _open_default_store()
    writer, written = _Writer(answers), time.monotonic()
    while (message := inbox.get()) is not None:
        writer.handle(*message)
        # Everything that has arrived is in: one transaction per run, at most every WRITE_SECONDS while
        # training (a store's transaction wakes this process, which on 2 cores stalls training's threads).
        if inbox.empty() and time.monotonic() >= written + WRITE_SECONDS:
            writer.log_all()
            written = time.monotonic()
    writer.log_all()
    writer.kill_the_rest()


if __name__ == "__main__":
    main()
