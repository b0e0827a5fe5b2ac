"""An MLflow run written straight into MLflow's own SQLite store, with the standard library's sqlite3.

MLflow's import costs about 4.4 s of CPU: ``mlflow/__init__`` pulls in pandas, fastapi and
``mlflow.genai``, and its SQLAlchemy store alembic. On 2 cores that CPU either competes with training's
threads or is waited for: it was all but 0.1 s of what ``optimlab train --log mlflow`` added to a
command (+1.8-2.0 s, ``benchmarks/tracker_cli_overhead.py``). A run is five tables of MLflow's schema
(``runs``, ``tags``, ``params``, ``metrics``, ``latest_metrics``) and files copied under the run's
artifact folder. :class:`SqliteRun` writes them as MLflow's ``SqlAlchemyStore`` does: the run created
``RUNNING`` with its ``mlflow.runName`` tag and its artifact folder under the experiment's, a NaN
stored as 0 flagged ``is_nan``, an infinity as the largest float, the latest value of each key the
greatest by (step, timestamp, value), the end a status and an end time. MLflow's client reads such a
run back exactly as one it wrote itself (``tests/integrations/test_mlflow_sqlite.py``).
A resumed training run (:meth:`SqliteRun.resume`) is ``RUNNING`` again with the points a killed session
logged past its checkpoint deleted, and each key's latest value found again among the points left: MLflow's
client has no call that deletes a metric.

Only where that is known to hold (:meth:`SqliteRun.open` returns None otherwise, and MLflow's client
makes the run): a SQLite store that exists, whose tables have the columns written here and fill any
other themselves (:data:`COLUMNS`: MLflow's schema of these tables has kept them through MLflow 2 and 3,
while its other tables grew), workspaces off, its experiment there and active, with a local artifact
folder.

A run's parameters meet MLflow's limits the same way on both paths (:func:`param_entries`): a value
over :data:`PARAM_LENGTH` characters is cut there, as MLflow's client cuts it; a key over
:data:`KEY_LENGTH` characters, which MLflow's client refuses, is logged under its first characters and a
hash of the whole (the same key, the same name in every run); a warning names each key affected.
A metric's name or a parameter's key that MLflow's client refuses (``f1@5``) is logged under the name
:func:`mlflow_name` gives it (``f1_5-<hash>``, from the key alone) on both paths, with a warning naming
both, so the run goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import posixpath
import re
import shutil
import sqlite3
import time
import uuid
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from optimlab.errors import OptimlabWarning, user_stacklevel

__all__ = [
    "COLUMNS",
    "KEY_LENGTH",
    "PARAM_LENGTH",
    "PARENT_TAG",
    "RunNotFound",
    "SqliteRun",
    "metric_key",
    "metric_rows",
    "mlflow_name",
    "param_entries",
    "sqlite_path",
    "sqlite_store",
]

# The columns written (and read) here, per table of MLflow's tracking schema. These tables have kept
# these columns through MLflow 2 and 3; a store is written straight only where they are all there and
# every other column of theirs fills itself (a default, or NULL allowed).
COLUMNS = {
    "experiments": ("experiment_id", "name", "artifact_location", "lifecycle_stage"),
    "runs": (
        "run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id", "status",
        "start_time", "end_time", "source_version", "lifecycle_stage", "artifact_uri", "experiment_id",
        "deleted_time",
    ),
    "tags": ("key", "value", "run_uuid"),
    "params": ("key", "value", "run_uuid"),
    "metrics": ("key", "value", "timestamp", "run_uuid", "step", "is_nan"),
    "latest_metrics": ("key", "value", "timestamp", "step", "is_nan", "run_uuid"),
}  # fmt: skip
_LARGEST = 1.7976931348623157e308  # what MLflow stores for an infinity
PARAM_LENGTH = 6000  # MLflow's limit on a parameter value's characters (MAX_PARAM_VAL_LENGTH)
KEY_LENGTH = 250  # and on a parameter key's (MAX_ENTITY_KEY_LENGTH)
_HASH_LENGTH = 8  # hex digits of a shortened key's hash
_REFUSED = re.compile(r"[^/\w.\- :]")  # a character MLflow refuses in a metric's name (off Windows)
PARENT_TAG = "mlflow.parentRunId"  # a nested run's tag naming its parent, as mlflow.start_run(nested=True)
Record = tuple[int, float, dict[str, float]]  # (step, wall time as Unix seconds, metrics), as tracking.Record


class RunNotFound(LookupError):
    """A run to reopen is not at the tracking URI (its message); it was deleted, or kept elsewhere."""


def sqlite_store(tracking_uri: str | None) -> Path | None:
    """The SQLite file of ``tracking_uri`` (None: ``MLFLOW_TRACKING_URI``, else MLflow's default here,
    ``mlflow.db``, unless ``mlruns`` holds a file store, which MLflow then keeps); None for any other
    store, or a file that does not exist yet (MLflow creates it, with its tables)."""
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    path = sqlite_path(uri) if uri is not None else None if _file_store_here() else Path("mlflow.db")
    return path.resolve() if path is not None and path.is_file() else None


def experiments(tracking_uri: str | None) -> dict[str, tuple[str, bool]] | None:
    """``id -> (name, active)`` of the experiments of the SQLite store at ``tracking_uri`` (None: the one
    :func:`sqlite_store` finds), read straight (MLflow's import: 4 s); None for any other store, or a
    file that holds no MLflow tables yet."""
    path = sqlite_store(tracking_uri)
    if path is None:
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            rows = connection.execute(
                "SELECT experiment_id, name, lifecycle_stage FROM experiments"
            ).fetchall()
    except sqlite3.Error:
        return None
    return {str(experiment_id): (name, stage == "active") for experiment_id, name, stage in rows}


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file a ``sqlite:///PATH`` tracking URI names (four slashes: an absolute path); None for any
    other URI, or one with a query."""
    if tracking_uri.startswith("sqlite:///") and "?" not in tracking_uri:
        return Path(unquote(tracking_uri.removeprefix("sqlite:///")))
    return None


def _file_store_here() -> bool:
    """Whether ``./mlruns`` holds an old file store's experiments (a numbered folder with its
    ``meta.yaml``): MLflow 3 then stays on the file store by default. (The SQLite store keeps its
    artifacts in ``./mlruns`` too, without ``meta.yaml``.)"""
    try:
        entries = list(os.scandir("mlruns"))
    except OSError:
        return False
    return any(
        e.is_dir() and e.name.isdigit() and os.path.lexists(Path(e.path, "meta.yaml")) for e in entries
    )


def _schema_known(connection: sqlite3.Connection) -> bool:
    """Whether the store's tables have the columns written here, fill any other column themselves, and
    key the latest values by (run, metric), as :data:`COLUMNS` requires."""
    for table, written in COLUMNS.items():
        # PRAGMA table_info: (position, name, type, not null, default, position in the primary key)
        columns = connection.execute(f"PRAGMA table_info({table})").fetchall()
        names = {column[1] for column in columns}
        if not set(written) <= names or any(
            required and default is None and name not in written
            for _, name, _, required, default, _ in columns
        ):
            return False
        if table == "latest_metrics" and {c[1] for c in columns if c[5]} != {"key", "run_uuid"}:
            return False
    return True


def _artifact_folder(location: str) -> str | None:
    """An experiment's artifact location as a local folder (a path, or a ``file:`` URI); else None."""
    if location.startswith("file:"):
        return unquote(urlparse(location).path)
    return location if location.startswith("/") else None


def _stored(value: float | None) -> tuple[float, int]:
    """(value, is_nan) as MLflow stores a metric's value."""
    value = math.nan if value is None else float(value)
    if math.isnan(value):
        return 0.0, 1
    if math.isinf(value):
        return math.copysign(_LARGEST, value), 0
    return value, 0


def _shortened(key: str) -> str:
    """A key over :data:`KEY_LENGTH` characters as its first ones, ``-`` and :data:`_HASH_LENGTH` hex
    digits of its SHA-256 (distinct keys stay distinct); a shorter one as it is."""
    return key if len(key) <= KEY_LENGTH else _hashed(key, key)


def _hashed(name: str, key: str) -> str:
    """``name`` (within :data:`KEY_LENGTH` characters) told apart by ``-`` and :data:`_HASH_LENGTH` hex
    digits of ``key``'s SHA-256."""
    return (
        f"{name[: KEY_LENGTH - _HASH_LENGTH - 1]}-{hashlib.sha256(key.encode()).hexdigest()[:_HASH_LENGTH]}"
    )


def metric_key(key: str) -> str:
    """``key`` as a metric name MLflow takes (``mlflow.utils.validation._validate_metric_name``): each
    character it refuses (any but letters, digits, ``_ - . / :`` and space) as ``_``, and in a name that
    would not read as a plain path (``/a``, ``a/``, ``a//b``, ``./a``, ``..a``) every ``/`` and ``.`` too;
    a name over :data:`KEY_LENGTH` characters shortened as a parameter key: ``f1@5`` as ``f1_5``."""
    name = _REFUSED.sub("_", key)
    if posixpath.normpath(name) != name or name == "." or name.startswith(("..", "/")):
        name = name.replace("/", "_").replace(".", "_") or "_"
    return _shortened(name)


def mlflow_name(key: str) -> str:
    """The name MLflow takes for ``key``, a function of the key alone (the same in every process, run and
    resume, whatever other keys are seen): a key MLflow takes as it is; any other as :func:`metric_key`
    makes of it, ``-`` and a hash of ``key`` (:func:`_hashed`), so ``f1@5`` (``f1_5-<hash>``) and
    ``f1#5`` stay apart from each other and from ``f1_5``."""
    name = metric_key(key)
    return key if name == key else _hashed(name, key)


def param_entries(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, value)`` of each parameter within MLflow's limits, with a warning naming the keys changed.

    A value over :data:`PARAM_LENGTH` characters keeps its first ones (MLflow's client does the same,
    ``MLFLOW_TRUNCATE_LONG_VALUES``); a key over :data:`KEY_LENGTH`, which MLflow's client refuses,
    becomes its first characters, ``-`` and :data:`_HASH_LENGTH` hex digits of its SHA-256: distinct keys
    stay distinct, and a key has the same name in every run; a key of characters MLflow refuses
    (``f1@5``, ``/a``), which MLflow's client refuses (the run lost), becomes :func:`mlflow_name`'s
    name for it (``f1_5-<hash>``)."""
    entries, shortened, renamed, cut = [], [], [], []
    for key, value in params.items():
        key, value = str(key), str(value)
        name = mlflow_name(key)  # MLflow names parameters by its metrics' rules
        if name != key:
            (shortened if len(key) > KEY_LENGTH else renamed).append(f"{key!r} as {name!r}")
            key = name
        if len(value) > PARAM_LENGTH:
            cut.append(f"{key!r} ({len(value)} characters)")
            value = value[:PARAM_LENGTH]
        entries.append((key, value))
    if shortened:
        warnings.warn(
            f"MLflow takes parameter keys of at most {KEY_LENGTH} characters: logged " + "; ".join(shortened),
            OptimlabWarning,
            stacklevel=user_stacklevel(),
        )
    if renamed:
        warnings.warn(
            "MLflow refuses these parameter keys (letters, digits, _ - . / : and space, as a plain "
            "path): logged " + "; ".join(renamed),
            OptimlabWarning,
            stacklevel=user_stacklevel(),
        )
    if cut:
        warnings.warn(
            f"MLflow keeps parameter values of at most {PARAM_LENGTH} characters: the values of "
            + ", ".join(cut)
            + " are cut there",
            OptimlabWarning,
            stacklevel=user_stacklevel(),
        )
    return entries


def metric_rows(run_id: str, records: Iterable[Record]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of MLflow's ``metrics`` table for every metric of ``records`` (a NaN as 0 flagged
    ``is_nan``, an infinity as the largest float, the time in ms), and each key's latest row, the
    greatest by (step, timestamp, value), as MLflow keeps it in ``latest_metrics``."""
    rows, latest = [], {}
    for step, wall_time, values in records:
        for key, value in values.items():
            stored, is_nan = _stored(value)
            row = {"key": key, "value": stored, "timestamp": int(wall_time * 1000), "run_uuid": run_id,
                   "step": int(step), "is_nan": is_nan}  # fmt: skip
            rows.append(row)
            if key not in latest or _order(row) > _order(latest[key]):
                latest[key] = row
    return rows, list(latest.values())


def missing_records(records: Iterable[Record], have: set[tuple[str, int]]) -> list[Record]:
    """``records`` less the metrics a run holds already, ``have`` as (key, step) pairs."""
    kept = [
        (step, wall, {k: v for k, v in values.items() if (k, step) not in have})
        for step, wall, values in records
    ]
    return [record for record in kept if record[2]]


def _order(row: Mapping[str, Any]) -> tuple[int, int, float]:
    return row["step"], row["timestamp"], row["value"]


class SqliteRun:
    """A run in an MLflow SQLite store, made by :meth:`open`; the interface of
    :class:`~optimlab.integrations.mlflow_writer.MLflowRun`."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        run_id: str,
        artifacts: Path,
        tracking_uri: str,
        experiment_id: str,
    ) -> None:
        self.connection, self.run_id, self.artifacts = connection, run_id, artifacts
        self.tracking_uri, self.experiment_id = tracking_uri, str(experiment_id)

    @classmethod
    def open(
        cls,
        *,
        run_name: str = "",
        params: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        experiment: str,
        experiment_id: str | None = None,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        start_time: float | None = None,
    ) -> SqliteRun | None:
        """A new run of ``experiment`` (of ``experiment_id`` where given; a child of run ``parent_run_id`` where given), or run ``run_id`` reopened (:class:`RunNotFound` where the store
        has no such active run); None where this store is not one written here (module doc)."""
        path = sqlite_store(tracking_uri)
        if path is None or os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").lower() in ("1", "true"):
            return None
        store = f"sqlite:///{path}"
        connection = sqlite3.connect(path, timeout=60.0)
        # The experiment's artifact location for a new run, the run's own for a run reopened.
        if run_id is not None:
            query, key = "SELECT experiment_id, artifact_uri FROM runs WHERE run_uuid = ?", run_id
        else:
            column, key = ("name", experiment) if experiment_id is None else ("experiment_id", experiment_id)
            query = f"SELECT experiment_id, artifact_location FROM experiments WHERE {column} = ?"
        try:
            known = _schema_known(connection)
            found = connection.execute(query + " AND lifecycle_stage = 'active'", (key,)).fetchall()
        except sqlite3.Error:  # not MLflow's store, or not yet
            connection.close()
            return None
        folder = _artifact_folder(found[0][1]) if len(found) == 1 else None
        if not known or folder is None or not run_name:
            connection.close()
            if known and run_id is not None and not found:
                raise RunNotFound(store)
            return None
        if run_id is not None:
            return cls(connection, run_id, Path(folder), store, found[0][0])
        run_id, started = uuid.uuid4().hex, int((time.time() if start_time is None else start_time) * 1000)
        artifacts = f"{folder.rstrip('/')}/{run_id}/artifacts"
        with connection:  # one transaction: the run, its name and its parameters
            connection.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
                "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
                "experiment_id, deleted_time) VALUES (?, ?, 'UNKNOWN', '', '', 'unknown', 'RUNNING', ?, "
                "NULL, '', 'active', ?, ?, NULL)",
                (run_id, run_name, started, artifacts, found[0][0]),
            )
            tags = [("mlflow.runName", run_name)] + ([(PARENT_TAG, parent_run_id)] if parent_run_id else [])
            connection.executemany(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", [(*tag, run_id) for tag in tags]
            )
            connection.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(k, v, run_id) for k, v in param_entries(params or {})],
            )
        return cls(connection, run_id, Path(artifacts), store, found[0][0])

    def resume(self, step: int, records: Iterable[Record]) -> None:
        """Continue the run at ``step`` (``RUNNING`` again): the points logged past ``step`` (by a session
        killed after its checkpoint) are deleted, those of ``records`` (the run folder's lines up to
        ``step``) that it lacks are added, and each key's latest value is found again among the rest."""
        run = self.run_id
        with self.connection:  # the run as it was at its checkpoint, in one transaction
            self.connection.execute("DELETE FROM metrics WHERE run_uuid = ? AND step > ?", (run, step))
            have = set(self.connection.execute("SELECT key, step FROM metrics WHERE run_uuid = ?", (run,)))
            self.connection.execute("DELETE FROM latest_metrics WHERE run_uuid = ?", (run,))
            # Each key's greatest by (step, timestamp, value), as MLflow's store keeps it.
            self.connection.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "SELECT key, value, timestamp, step, is_nan, run_uuid FROM (SELECT *, ROW_NUMBER() OVER "
                "(PARTITION BY key ORDER BY step DESC, timestamp DESC, value DESC) AS rank "
                "FROM metrics WHERE run_uuid = ?) WHERE rank = 1",
                (run,),
            )
            self.connection.execute(
                "UPDATE runs SET status = 'RUNNING', end_time = NULL WHERE run_uuid = ?", (run,)
            )
        self.log_records(missing_records(records, have))

    def update_params(self, params: Mapping[str, Any]) -> None:
        """The reopened run's parameters become ``params`` (a run resumed with ``--epochs`` changed trains
        by that recipe, its folder's recipe.yaml); keys it holds that ``params`` lacks stay."""
        entries = param_entries(params)
        with self.connection:
            self.connection.executemany(
                "DELETE FROM params WHERE key = ? AND run_uuid = ?", [(k, self.run_id) for k, _ in entries]
            )
            self.connection.executemany(
                "INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)",
                [(k, v, self.run_id) for k, v in entries],
            )

    def log_records(self, records: Iterable[Record]) -> int:
        """Log every metric of ``records`` at its step and wall time; returns the number of points."""
        rows, latest = metric_rows(self.run_id, records)
        with self.connection:
            self.connection.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                "VALUES (:key, :value, :timestamp, :run_uuid, :step, :is_nan)",
                rows,
            )
            for row in latest:
                before = self.connection.execute(
                    "SELECT step, timestamp, value FROM latest_metrics WHERE run_uuid = ? AND key = ?",
                    (row["run_uuid"], row["key"]),
                ).fetchone()
                if before is None or _order(row) > tuple(before):
                    self.connection.execute(
                        "INSERT OR REPLACE INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                        "VALUES (:key, :value, :timestamp, :step, :is_nan, :run_uuid)",
                        row,
                    )
        return len(rows)

    def set_parent(self, parent_run_id: str) -> None:
        """Make the run a child of run ``parent_run_id`` (tag :data:`PARENT_TAG`) where it has no parent: a
        run kept with one keeps it."""
        with self.connection:
            self.connection.execute(  # the tags' key is (key, run_uuid)
                "INSERT OR IGNORE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                (PARENT_TAG, parent_run_id, self.run_id),
            )

    def set_tag(self, key: str, value: str) -> None:
        with self.connection:
            self.connection.execute(
                "INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                (key, value, self.run_id),
            )

    def end(self, status: str, end_time: float | None = None) -> None:
        """End the run: ``FINISHED``, ``FAILED`` or ``KILLED``, at ``end_time`` (Unix seconds; now)."""
        with self.connection:
            self.connection.execute(
                "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                (status, int((time.time() if end_time is None else end_time) * 1000), self.run_id),
            )

    def log_artifact(self, path: str | Path) -> None:
        """Copy the file ``path`` into the run's artifact folder, as MLflow's local repository does."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, self.artifacts / Path(path).name)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Write ``text`` as the run's artifact ``artifact_file``, as MLflow's ``log_text`` does."""
        self.artifacts.mkdir(parents=True, exist_ok=True)
        (self.artifacts / artifact_file).write_text(text, encoding="utf-8")
