"""MLflow: a run's metrics (with step and timestamp), its recipe as parameters, its report as an artifact.

Into MLflow's SQLite store straight (:mod:`.mlflow_sqlite`, where it knows the store: MLflow's import
is 4 s of CPU), else through MLflow's own client, at any tracking URI: ``MLFLOW_TRACKING_URI`` when
set, else MLflow's default, a local database file (``mlflow.db`` in the working folder; MLflow 3
refuses the old ``./mlruns`` file store unless ``MLFLOW_ALLOW_FILE_STORE=true``). ``mlflow ui`` shows
the runs of experiment ``optimlab`` (or ``MLFLOW_EXPERIMENT_NAME``'s, else
``MLFLOW_EXPERIMENT_ID``'s, where set, as for ``mlflow.start_run()``); a tracker opened inside ``mlflow.start_run()`` makes its run a child
of that run, in its experiment, as ``mlflow.start_run(nested=True)`` would.
``pip install 'optimlab[trackers]'``.

While a model trains, the client calls are made by a writer process (:mod:`.mlflow_writer`), one per
training process, shared by its runs: training pickles its records into a pipe once a second
and never imports MLflow. Closing a run does not wait for the writer: :meth:`MLflowTracker.wait` does,
and so does the interpreter's exit. Runs sent after the fact (``background=False``) make the calls in
this process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import math
import os
import socket
import sqlite3
import sys
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from optimlab.atomic import blocker
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning, user_stacklevel
from optimlab.integrations.mlflow_sqlite import (
    SqliteRun,
    experiments,
    mlflow_name,
    param_entries,
    sqlite_path,
)
from optimlab.integrations.mlflow_writer import (
    EXPERIMENT,
    INCOMPLETE_TAG,
    RUN_FILE,
    WAIT_SECONDS,
    MLflowRun,
    end_run,
    environment_experiment,
    kept_run,
    open_run,
    writer_process,
)
from optimlab.integrations.store_failure import PartlyWritten
from optimlab.integrations.tracking import Record, Tracker, ended_sessions, plain_values, resumed_records
from optimlab.train.loop import TrainState

__all__ = ["EXPERIMENT", "INCOMPLETE_TAG", "MLflowTracker"]

# A pickled batch costs ~30 us; the writer pays ~10 ms of CPU per batch it logs, whatever its size.
_SEND_SECONDS = 1.0


def _tracking_uri(given: str | None) -> str | None:
    """The URI this process's MLflow would use: a given one, else ``mlflow.set_tracking_uri``'s where
    MLflow is loaded here; else the writer resolves it from this process's environment and folder."""
    if given is None and "mlflow" in sys.modules:
        return sys.modules["mlflow"].get_tracking_uri()
    return given


# A TCP handshake takes milliseconds on a LAN, a few hundred across continents; one not answered in this
# long is a server that is down or a firewall that drops the packets.
_CONNECT_SECONDS = 10.0


def _check_store(tracking_uri: str | None) -> None:
    """Refuse, in one line naming it, a tracking URI whose store cannot be opened, before any training:
    an ``http(s)`` server that accepts no connection (down, a wrong port, a host not found), a
    ``sqlite:///`` file that is no database, or that cannot be made; a database URI SQLAlchemy cannot
    read, or whose driver is not installed; a file store (a path, ``file://``)
    that MLflow refuses (MLflow 3 without ``MLFLOW_ALLOW_FILE_STORE``), or that cannot be made. MLflow's client retried for minutes
    (a closed port: the command exited 0 after 120 s saying the run would be ended, its writer retrying
    on beside the shell; an SQLite file in a read-only folder: 1 min 47 s), after training. Another
    scheme, or a server reached through a proxy, is left to MLflow."""
    url = urllib.parse.urlsplit(tracking_uri or "")
    if url.scheme in ("http", "https") and url.hostname:
        proxy = urllib.request.getproxies().get(url.scheme)
        if proxy and not urllib.request.proxy_bypass(url.hostname):
            return
        try:
            port = url.port or (443 if url.scheme == "https" else 80)
            socket.create_connection((url.hostname, port), timeout=_CONNECT_SECONDS).close()
        except (OSError, ValueError) as error:  # ValueError: a port out of range
            reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
            raise OptimlabError(
                f"MLflow's tracking URI {tracking_uri!r} cannot be reached ({reason}): start its server "
                "(mlflow server), or set MLFLOW_TRACKING_URI to one that runs"
            ) from None
    elif (path := sqlite_path(tracking_uri or "")) is not None:  # opened here, as the writer opens it
        if reason := _unopenable(path):
            raise OptimlabError(
                f"MLflow's tracking URI {tracking_uri!r} cannot be opened ({reason}): set MLFLOW_TRACKING_URI "
                "to an MLflow SQLite file, or to a new one in a folder you can write (sqlite:////abs/path.db)"
            )
    elif reason := _database_refusal(tracking_uri or ""):
        raise OptimlabError(
            f"MLflow's tracking URI {tracking_uri!r} cannot be opened ({reason}): write it as SQLAlchemy reads it, "
            "its database's driver installed, or set MLFLOW_TRACKING_URI to sqlite:////abs/path.db"
        )
    elif reason := _file_store_refusal(tracking_uri or ""):
        raise OptimlabError(
            f"MLflow's tracking URI {tracking_uri!r} cannot be opened ({reason}): set MLFLOW_TRACKING_URI "
            "to a SQLite file (sqlite:////abs/path.db), or to a folder you can write with "
            "MLFLOW_ALLOW_FILE_STORE=true"
        )
    elif (schemes := _unknown_scheme(tracking_uri or "")) is not None:
        raise OptimlabError(
            f"MLflow's tracking URI {tracking_uri!r} has scheme {url.scheme!r}, for which MLflow has no "
            f"store: set MLFLOW_TRACKING_URI to a path or to a URI of scheme {schemes}"
        )


# MLflow 2-3's own tracking stores; a URI whose scheme is not among them (nor a plugin's) is refused by
# MLflow's client, after training, where MLflow is first imported.
_MLFLOW_SCHEMES = ("", "file", "databricks", "databricks-uc", "uc", "http", "https")
_DATABASE_SCHEMES = ("postgresql", "mysql", "sqlite", "mssql")  # each with an optional +driver


def _unknown_scheme(tracking_uri: str) -> str | None:
    """The schemes MLflow accepts, listed, where ``tracking_uri``'s scheme is not one of them, else None.

    Told from the built-in schemes and the ``mlflow.tracking_store`` plugins without importing MLflow;
    an unlisted scheme is confirmed by MLflow's own store registry (4 s), so a scheme a later MLflow
    adds is never refused here."""
    scheme = urllib.parse.urlsplit(tracking_uri).scheme.lower()
    if len(scheme) == 1 or scheme in _MLFLOW_SCHEMES or scheme.startswith(_DATABASE_SCHEMES):
        return None  # a one-letter scheme is a Windows drive: a path
    plugins = importlib.metadata.entry_points(group="mlflow.tracking_store")
    if scheme in {plugin.name for plugin in plugins} or importlib.util.find_spec("mlflow") is None:
        return None
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        _tracking_store_registry.get_store_builder(tracking_uri)
    except Exception as error:  # MLflow's UnsupportedModelRegistryStoreURIException names its schemes
        known = getattr(error, "supported_uri_schemes", None)
        return ", ".join(repr(scheme) for scheme in sorted(known) if scheme) if known else None
    return None


def _database_refusal(tracking_uri: str) -> str | None:
    """Why SQLAlchemy, which MLflow's database store opens ``tracking_uri`` with, refuses it before any
    connection (a URL it cannot read, ``sqlite://m.db``; a driver not installed, ``mysql://``), or None
    (another store, or one it takes). A ``sqlite:///`` file :func:`~.mlflow_sqlite.sqlite_path` reads
    is not asked here (:func:`_check_store` opens it itself); a server that does not answer is left to
    MLflow."""
    scheme = urllib.parse.urlsplit(tracking_uri).scheme.lower()
    if not scheme.startswith(_DATABASE_SCHEMES) or importlib.util.find_spec("sqlalchemy") is None:
        return None
    import sqlalchemy

    try:
        sqlalchemy.create_engine(tracking_uri).dispose()  # reads the URL, imports the driver: no connection
    except (sqlalchemy.exc.ArgumentError, ImportError) as error:
        return str(error).splitlines()[0]
    return None


def _file_store_refusal(tracking_uri: str) -> str | None:
    """Why MLflow's own file store cannot open ``tracking_uri`` (a path, or a ``file:`` URI), or None
    (another store, or none given). MLflow 3 refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE``
    is true; a path under a file cannot hold one. Asked of MLflow's own store (its import: 4 s), as
    only that knows what its version refuses: a refusal told after training lost the run's tracking
    (``train --log mlflow`` trained, then exited 2)."""
    scheme = urllib.parse.urlsplit(tracking_uri).scheme.lower()
    if not tracking_uri or scheme not in ("", "file") or importlib.util.find_spec("mlflow") is None:
        return None
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    try:
        _tracking_store_registry.get_store_builder(tracking_uri)(store_uri=tracking_uri)
    except MlflowException as error:
        if "MLFLOW_ALLOW_FILE_STORE" in error.message:
            return "MLflow refuses its file store unless MLFLOW_ALLOW_FILE_STORE=true"
        return error.message.splitlines()[0]
    except OSError as error:
        return f"{error.strerror or error}: {error.filename}" if error.filename else str(error)
    return None


def _unopenable(path: Path) -> str | None:
    """Why SQLite cannot open ``path`` as MLflow would (read an existing file's tables, or make one where
    its nearest existing folder is), or None."""
    if path.is_dir():
        return "a folder"
    if path.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
                connection.execute("SELECT name FROM sqlite_master").fetchall()
        except sqlite3.Error as error:
            return str(error)
        return None
    blocked = blocker(path.absolute().parent)  # MLflow makes the folders below
    if blocked is None:
        return None
    if blocked.path.is_dir():
        return f"no file can be made in {blocked.path}: {blocked.reason}"  # the OS's reason ('Permission denied')
    said = f"{blocked.path} is {blocked.what}"  # a link to nothing: its reason is what it is
    return said if blocked.path.is_symlink() else f"{said}: {blocked.reason}"


def _check_experiment(tracking_uri: str | None, experiment: str | None) -> None:
    """Refuse, in one line naming it, the experiment a new run goes to where a SQLite store has it
    deleted (``experiment``, else ``MLFLOW_EXPERIMENT_NAME``, else :data:`EXPERIMENT`), or lacks an
    ``MLFLOW_EXPERIMENT_ID`` (listing the ids it has), before any training: MLflow refused either as the
    run opened, in the writer process, said after training (the run lost). An empty
    ``MLFLOW_EXPERIMENT_NAME`` is refused at any store (:func:`~.mlflow_writer.environment_experiment`);
    another store's experiments are left to MLflow."""
    chosen = {"experiment": experiment} if experiment else environment_experiment()  # as the writer's
    known = experiments(tracking_uri)
    if known is None:
        return
    where = f"{tracking_uri!r}" if tracking_uri else "MLflow's default store (mlflow.db here)"
    name, experiment_id = chosen["experiment"], chosen.get("experiment_id")
    if experiment_id:
        if not known.get(experiment_id, ("", False))[1]:
            ids = ", ".join(
                f"{key} ({named})"
                for key, (named, active) in sorted(known.items(), key=lambda item: (len(item[0]), item[0]))
                if active
            )
            raise InvalidValueError(
                "MLFLOW_EXPERIMENT_ID",
                experiment_id,
                f"the id of an active experiment at {where}: {ids or 'none'}; or set MLFLOW_EXPERIMENT_NAME "
                "(created if need be)",
            )
        return
    deleted = [key for key, (named, active) in known.items() if named == name and not active]
    if deleted and not any(named == name and active for named, active in known.values()):
        field = (
            "experiment"
            if experiment
            else "MLFLOW_EXPERIMENT_NAME"
            if name != EXPERIMENT
            else "MLflow's experiment (MLFLOW_EXPERIMENT_NAME unset)"
        )
        raise InvalidValueError(
            field,
            name,
            f"an active experiment, or a new name: {name!r} is deleted at {where} (restore it: mlflow "
            f"experiments restore --experiment-id {deleted[0]}, or name another)",
        )


def _active_run() -> tuple[str, str] | None:
    """(run id, experiment name) of the run ``mlflow.start_run()`` made active in this process, if any."""
    mlflow = sys.modules.get("mlflow")
    active = mlflow.active_run() if mlflow is not None else None
    if active is None:
        return None
    return active.info.run_id, mlflow.get_experiment(active.info.experiment_id).name


class MLflowTracker(Tracker):
    """One MLflow run in ``experiment``; ``params`` (flat ``field -> value``) logged when it opens.

    Opened inside ``mlflow.start_run()``, the run is a child of the active run (its
    ``mlflow.parentRunId`` tag), in the active run's experiment unless ``experiment`` is given; else in
    the experiment ``mlflow.start_run()`` would use: ``MLFLOW_EXPERIMENT_NAME`` (created if need be),
    else ``MLFLOW_EXPERIMENT_ID`` (one a SQLite store lacks refused as the tracker opens), else ``optimlab``.

    ``background`` (the default): the calls are made by this process's writer process, so training
    pays a pickle and a pipe write per batch of records (``benchmarks/tracker_overhead.py``).
    :meth:`close` hands over the end of the run and returns: :meth:`wait` returns once the writer has
    done everything sent so far (call it before reading the run back in this process), and raises if
    MLflow refused a call; at interpreter exit the writer is waited for, and a refusal nobody was told
    of is a warning. A refusal never stops training: the records are no longer sent, and :meth:`wait`
    raises. A run stopped by a signal (Ctrl-C, SIGTERM) ends ``KILLED``; so does one whose trainer dies
    (SIGKILL), with every record it sent, ended by the writer (were the writer killed too, MLflow would
    show it ``RUNNING`` until it resumes). ``background=False``: the calls are made here (runs and trials
    sent after training). A metric name MLflow refuses (``f1@5``) is logged as
    :func:`~.mlflow_sqlite.mlflow_name` renames it (``f1_5-<hash>``), with a warning, on either path;
    so is a parameter key, and a parameter value past MLflow's length is cut, said as the tracker opens.

    ``run_folder`` (a training run's output folder): the run opens as training starts there, its id kept
    in the folder's ``mlflow.json``, and a run resumed there (``train --resume``) continues that MLflow
    run: ``RUNNING`` again, holding the folder's metrics.jsonl up to the checkpoint (the lines a killed
    trainer had not yet sent are added), its parameters the recipe it resumes with (``--epochs``
    changed: :meth:`~.mlflow_writer.MLflowRun.update_params`). What the killed session logged past the checkpoint is deleted
    from a SQLite store written straight (:mod:`.mlflow_sqlite`); MLflow's client deletes no metric, so
    in any other store those steps show twice, as a warning says. Where the tracking URI no longer has
    the run (another URI, or the run deleted), a new run takes over, with a warning naming both.
    """

    kind = "MLflow"

    def __init__(
        self,
        *,
        run_name: str,
        params: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        experiment: str | None = None,
        every: int = 1,
        background: bool = True,
        wait_seconds: float = WAIT_SECONDS,
        run_folder: str | Path | None = None,
    ) -> None:
        super().__init__(every=every, flush_seconds=_SEND_SECONDS if background else None)
        if importlib.util.find_spec("mlflow") is None:
            raise OptimlabError(
                "logging to MLflow needs the mlflow package: pip install 'optimlab[trackers]'"
            )
        store = _tracking_uri(tracking_uri) or os.environ.get("MLFLOW_TRACKING_URI")
        _check_store(store)
        self.run_name, self.wait_seconds = run_name, wait_seconds
        self.run_folder = None if run_folder is None else Path(run_folder).resolve()
        self._ended = ended_sessions(run_folder) if run_folder is not None else []  # before a resume's start
        parent = _active_run() if tracking_uri is None else None  # at the active run's URI
        if parent is None:
            _check_experiment(store, experiment)
        self._settings = {
            "run_name": run_name,
            # Within MLflow's limits here, where a renamed key or a cut value is said (a writer process's
            # warning stayed in that process): the writer's run is given them as they are logged.
            "params": dict(param_entries(plain_values(params or {}))),
            "experiment": experiment or (parent[1] if parent else None),  # None: MLFLOW_EXPERIMENT_*
            "parent_run_id": parent[0] if parent else None,
            "tracking_uri": _tracking_uri(tracking_uri),
        }
        self._run: MLflowRun | SqliteRun | None = None
        self._keys: dict[str, str] = {}  # each metric's key -> its name in MLflow
        self._last: float | None = None  # the wall time of the last record sent (background=False)
        # with a run folder: its first session (training from step 0, no run kept there), whose run a failed
        # start leaves nowhere; a resumed one holds the folder's records, in a run its mlflow.json names
        self._fresh = False
        self._sent_any = False  # whether a record was sent
        if background:
            self._writer = writer_process()
            self._key = next(self._writer.keys)
            self._writer.names[self._key] = run_name
            self._syncs = 0
        self.background = background
        if self.run_folder is None:
            self._open({})

    def on_train_start(self, state: TrainState) -> None:
        """With a run folder, the run opens as training starts: the folder's own MLflow run where it keeps
        one (a resumed run), continued at ``state.step`` (:func:`~.mlflow_writer.open_run`)."""
        super().on_train_start(state)  # a fit from step 0 once the run ended is refused
        if self.run_folder is None:
            return
        self._fresh = state.step == 0 and not (self.run_folder / RUN_FILE).exists()
        records = resumed_records(self.run_folder, state.step, self._ended) if state.step > 0 else []
        seen = self._reopen(state.step, records)
        if seen is not None and self.background:  # what reopening warns of is said before training goes on
            answers = self._writer.wait(self._key, lambda answers: "run_id" in answers, self.wait_seconds)
            for message in (answers or {}).get("warnings", []):
                warnings.warn(message, OptimlabWarning, stacklevel=user_stacklevel())

    def _nest_in(self, parent: MLflowTracker) -> None:
        """Make the run a child of ``parent``'s (tag ``mlflow.parentRunId``), as a study's trials are of
        its run: with a run folder, the run opens in ``parent``'s experiment, and a run kept there before
        is given the tag; else the run, opened here (``background=False``), is."""
        if self.run_folder is not None:
            self._settings.update(
                parent_run_id=parent.run_id, experiment=None, experiment_id=parent._run.experiment_id
            )
        else:
            self._run.set_parent(parent.run_id)

    def on_exception(self, state: TrainState, error: BaseException) -> None:
        """The run ended (:meth:`Tracker.on_exception`); a training run's first session that failed before
        its first step (the loop's check of the first batch refused it), having sent no record, keeps no
        run in its folder: its MLflow run ends ``FAILED`` and the folder's :data:`RUN_FILE` is removed once
        the writer has written it, as :func:`~optimlab.train.train` removes its own files, so the corrected
        command into the same ``--out`` is not refused as holding other files."""
        sent = self._sent_any  # before the records pending are sent as it ends
        super().on_exception(state, error)
        # Ctrl-C ends the run KILLED without waiting for its writer (up to wait_seconds)
        if self._fresh and state.step == 0 and not sent and not isinstance(error, KeyboardInterrupt):
            with contextlib.suppress(OptimlabError):  # MLflow's refusal: the error said is the fit's
                self.wait()
            (self.run_folder / RUN_FILE).unlink(missing_ok=True)

    def send(self, records: list[Record]) -> None:
        """A finished run's records: with a run folder, into the MLflow run it keeps (or a new one, then
        kept there), only those it lacks, so ``optimlab report --log mlflow`` after ``train --log mlflow``,
        or twice, leaves one run holding metrics.jsonl once; else as any tracker sends them."""
        if self.run_folder is None:
            super().send(records)
        else:
            self._reopen(records[-1][0] if records else 0, records)

    def _reopen(self, step: int, records: list[Record]) -> str | None:
        """Open the run folder's own MLflow run at ``step``, holding ``records``; the id it kept, if any."""
        seen, path = None, self.run_folder / RUN_FILE  # type: ignore[operator]
        seen_at = time.time()  # a session that writes the file from now on started after this one
        with contextlib.suppress(FileNotFoundError):
            text = path.read_bytes()
            seen = kept_run(text).get("run_id")
            if seen is None and text.strip():
                warnings.warn(
                    f"{path} names no MLflow run (torn by a kill?): a new MLflow run takes over from it",
                    OptimlabWarning,
                    stacklevel=user_stacklevel(),
                )
        resumed = {"run_folder": str(self.run_folder), "step": step, "records": self._named(records)}
        self._open({**resumed, "seen": seen, "seen_at": seen_at})
        return seen

    def _named(self, records: list[Record]) -> list[Record]:
        """``records`` with each metric under the name MLflow takes (:func:`~.mlflow_sqlite.mlflow_name`),
        on either path alike; a warning names each key renamed, once."""
        renamed = []
        for key in {key for _, _, metrics in records for key in metrics} - self._keys.keys():
            name = self._keys[key] = mlflow_name(key)
            if name != key:
                renamed.append(f"{key!r} as {name!r}")
        if renamed:
            warnings.warn(
                f"MLflow refuses these metric names in run {self.run_name!r}: logged "
                + "; ".join(sorted(renamed)),
                OptimlabWarning,
                stacklevel=user_stacklevel(),  # the user's fit(...) or flush(), however deep the call
            )
        return [
            (step, wall, {self._keys[k]: v for k, v in metrics.items()}) for step, wall, metrics in records
        ]

    def _open(self, resumed: dict[str, Any]) -> None:
        # A new run starts now, or at its first record sent after the fact: the writer made it after its
        # MLflow import and a new store's tables (9.9 s after the first metric's time stamp, a run sent
        # from its folder as long after as it was sent), the metrics before the run's start.
        walls = [wall for _, wall, _ in resumed.get("records", ())]
        started = min([time.time(), *walls])
        settings = {**self._settings, "start_time": started, **resumed}
        self._last = max(walls, default=None)
        if self.background:
            environment = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
            self._send("open", {**settings, "cwd": os.getcwd(), "environment": environment})
        else:
            self._run = open_run(**settings)

    @property
    def where(self) -> str:
        return f"MLflow run {self.run_id}"

    @property
    def run_id(self) -> str:
        """The MLflow run's id (a background run's: waits for its writer to create it)."""
        if not self.background:
            return self._run.run_id
        answers = self._answer(lambda answers: "run_id" in answers)
        if "run_id" not in answers:
            raise OptimlabError(f"MLflow's writer has not created run {self.run_name!r} yet")
        return answers["run_id"]

    def write(self, records: list[Record]) -> None:
        self._sent_any = self._sent_any or bool(records)
        records = self._named(records)
        if not self.background:
            try:
                self._run.log_records(records)
            except PartlyWritten as partly:  # the store took the first part: the rest is what it lacks
                self._unwritten = partly.unwritten
                raise partly.error from None
            self._last = max([self._last or -math.inf, *(wall for _, wall, _ in records)])
        else:
            self._send("metrics", records)

    def close(self, *, failed: bool = False, interrupted: bool = False) -> None:
        if self.closed:
            return
        try:
            super().close(failed=failed, interrupted=interrupted)
        finally:  # ended even where its last records could not be sent
            status = "FAILED" if failed else "KILLED" if interrupted else "FINISHED"
            if not self.background:  # sent after the fact: it ended at its last record, not now
                end_run(self._run, status, self._last)
            else:
                # Not waited for: the end's store transaction and fsync (20-26 ms) were a tenth of a
                # quarter-second run (benchmarks/tracker_overhead.py, docs/benchmarks.md).
                self._send("end", status)

    def mark_incomplete(self, lost: str) -> None:
        """Tag the run :data:`INCOMPLETE_TAG` with ``lost`` (a run made here: a background run's hand-overs
        to its writer do not fail so; its writer tags a run whose call MLflow refused itself)."""
        if not self.background:
            self._run.set_tag(INCOMPLETE_TAG, lost)

    def log_artifact(self, path: str | Path) -> None:
        """Attach ``path`` (absolute, or from the working folder) to the run, even once it has ended."""
        path = Path(path).resolve()
        if not self.background:
            self._run.log_artifact(path)
        else:
            self._send("artifact", str(path))

    def log_text(self, name: str, text: str, *, step: int = 0) -> None:
        """Attach ``text`` to the run as its artifact ``name.md`` (MLflow's files have no step)."""
        if not self.background:
            self._run.log_text(text, f"{name}.md")
        else:
            self._send("text", (text, f"{name}.md"))

    def wait(self) -> None:
        """Return once the writer has done everything sent for this run so far (its records logged, its
        end, its files attached); raise if MLflow refused a call."""
        super().wait()  # a hand-over the OS refused while training
        if self.background:
            self._syncs += 1
            self._send("sync", self._syncs)
            self._answer(lambda answers, count=self._syncs: answers.get("synced", 0) >= count)

    def _send(self, kind: str, payload: Any) -> None:
        """Hand a message to the writer. Once MLflow refused this run, only its end is sent (the writer
        tagged it :data:`INCOMPLETE_TAG`), and once the writer stopped nothing: nothing is raised here,
        training goes on to its end (its folder whole), and :meth:`wait` raises why."""
        refused = self._writer.error(self._key) is not None
        if (refused and kind != "end") or not self._writer.alive():
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
                stacklevel=user_stacklevel(),
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
