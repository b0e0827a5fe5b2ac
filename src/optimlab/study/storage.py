"""Studies in an Optuna storage: a journal file in the output folder by default, any RDB URL to scale.

Optuna's own tools (``optuna-dashboard``, ``optuna.load_study``) read everything optimlab writes:
each method is an Optuna study named ``<study>/<method>`` whose user attribute ``optimlab.spec`` holds
the :class:`~optimlab.study.protocols.StudySpec`; each trial's parameters are the searched recipe
fields, its intermediate values the tuned metric at each evaluation, and its user attributes the
recipe, the per-evaluation curve, the final metrics, the wall time and, for a failed trial, the reason.

Default storage: Optuna's journal file (``study.journal``), an append-only log of operations under a
file lock, safe for several processes on one machine (SQLite is not, with parallel writers). Beyond one
machine: a PostgreSQL URL shared by workers (``optimlab worker URL``).

Liveness: Optuna's heartbeat exists only for RDB storages, so optimlab keeps its own, the same on
every storage: a running trial's system attribute ``optimlab:owner`` holds the host and pid of its
process and the time of its last beat (every :data:`HEARTBEAT_SECONDS`). A running trial whose process
is gone (same host) or whose beat is older than the grace period is *stale*: :func:`reclaim_stale`
fails it as ``interrupted``, and the planner runs its key again.

Claims: creating an Optuna study is not atomic with storing its settings, so a study without settings
is either one a comparison is creating now or one left by a comparison killed as it began (which a
resume takes over); and a study stored is run by one comparison at a time (two resumes from two folders
on one shared storage both planned and ran it). Each comparison adds its claim on a study it creates,
takes over or resumes as a system attribute of its own key (:func:`claim_study`: host, pid, pid space
and the process's start time), then reads the others' (:func:`live_claims`): added, never overwritten,
so of two that claim at once the later reads the earlier's, and neither goes on while the other lives
(one not seen from here, another host's or another container's, while it beats: :func:`claims_held`). A comparison withdraws its
claims as it ends, and one that stops before storing the settings at once (:func:`withdraw_claim`). A
study holding no claim (its creator killed between the two writes, or an optimlab of before 2026-12-07)
is taken over on that read alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import fcntl
import functools
import heapq
import importlib.util
import json
import math
import os
import re
import shutil
import socket
import threading
import time
import urllib.parse
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages.journal._storage import (  # to check a journal whole; to store a plan at once
    JournalOperation,
    JournalStorageReplayResult,
)
from optuna.trial import FrozenTrial, TrialState

from optimlab.atomic import named_after
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning, user_stacklevel
from optimlab.registry import NON_NEGATIVE_INT, whole_number
from optimlab.user_paths import expand_home

__all__ = [
    "GRACE_SECONDS",
    "HEARTBEAT_SECONDS",
    "JOURNAL_NAME",
    "TrialRecord",
    "claim_study",
    "claims_held",
    "deferred_writes",
    "heartbeat",
    "held_claim",
    "is_url",
    "live_claims",
    "live_trials",
    "load_records",
    "open_storage",
    "optimlab_studies",
    "pop_waiting",
    "reclaim_stale",
    "store_waiting",
    "withdraw_claim",
    "without_passwords",
]

JOURNAL_NAME = "study.journal"
SPEC_ATTR = "optimlab.spec"
IMPORT_FROM_ATTR = "optimlab.import_from"  # folders its driver found the user's code in (user_code)
# The names of every study of the comparison that created this one (several workloads: one each): a
# plain resume of a comparison killed before it created them all names those it never stored.
COMPARISON_ATTR = "optimlab.comparison"
METHOD_ATTR = "optimlab.method"
DONE_ATTR = "optimlab.done"
# A method's search space as its study started (the default one, by its optimizer's lr range): a report
# reads it where the optimizer is the user's object of another session, which it cannot measure.
SPACE_ATTR = "optimlab.space"
# The sha256 of the data a method's study started on (optimlab.data.digest), which a resume checks.
DATA_ATTR = "optimlab.data"
# {data name: sha256 of the user's data object as held, before its split}: what optimlab.compare on
# Python objects stored instead, from 2026-12-05 00:52 until DATA_ATTR (19:38); a resume checks by it
# the studies that hold only it.
OBJECT_DATA_ATTR = "optimlab.data_digest"
OWNER_ATTR = "optimlab:owner"
CLAIM_PREFIX = "optimlab:claim:"  # + a token per claim: a study system attribute (claim_study)
HEARTBEAT_SECONDS = 5.0  # a beat is one journal line; trials last seconds to minutes
GRACE_SECONDS = 60.0  # 12 missed beats: a process that paused (swap, GC) is not declared dead
# A comparison's claim on a study beats less often (4 beats a grace): one journal line per study a beat,
# for the whole comparison, where a trial's beats last as long as the trial
CLAIM_BEAT_SECONDS = GRACE_SECONDS / 4
INTERRUPTED = "interrupted"
DUPLICATE = "duplicate"  # a second trial of a key that two drivers planned at once: never trained
# A trial whose loss diverged is told to Optuna as pruned, worse than every completed one, where TPE
# reads it: TPE ignores failed trials, and went on drawing lrs that diverge (sgd spent 4 of its 6 trials
# there). To optimlab it is a failure still: its record's state is "fail" (TrialRecord.from_frozen).
DIVERGED = "diverged"
UNCOUNTED = (INTERRUPTED, DUPLICATE)  # statuses of ended trials that do not count for their key

optuna.logging.set_verbosity(optuna.logging.WARNING)  # library code never prints; Optuna logs each trial


def is_url(location: str | Path) -> bool:
    return "://" in str(location)


# A scheme and a colon, as a URL starts: "postgresql:/host" (one slash short) is a mistyped URL, not a
# folder to create. A folder whose name has a colon is still reachable as "./name:with:colons".
_LOOKS_LIKE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


_LIST_CHOICES_WARNING = "Choices for a categorical distribution should be a tuple of None, bool"


def _quiet_about_list_choices() -> None:
    """Ignore Optuna's warning that a categorical choice that is a list or a mapping (a space file's
    ``optimizer.betas: [[0.9, 0.99], [0.8, 0.9]]``) does not persist: each storage opened here keeps the
    choices as JSON, read back as written (test_storage), and the warning came once per choice as each
    trial asked and each journal replayed, ten lines of a two-trial comparison. The filter is the
    process's, not a ``warnings.catch_warnings`` block around the calls that warn: every storage read
    replays the journal (the claims' beat threads too), and that block is not thread-safe. Put just
    before the first filter of every warning but ``error`` (``-W default``, ``simplefilter("always")``),
    where not there already: a user's filter aimed at this warning and an ``error`` of every warning
    (``-W error``) are matched first and win, and an opening that finds it leaves the filters as they
    are (each ``filterwarnings`` call reset the once-per-location records of every warning). Checked at
    each opening, not set at import: a ``catch_warnings`` block around the import would drop it."""
    catch_all = next(
        (
            index
            for index, (action, message, category, module, line) in enumerate(warnings.filters)
            if action != "error"
            and getattr(message, "pattern", message) in (None, "")  # a str where a C filter set it
            and getattr(module, "pattern", module) in (None, "")
            and issubclass(UserWarning, category)
            and line == 0
        ),
        len(warnings.filters),
    )
    if any(
        action == "ignore" and message is not None and message.pattern == _LIST_CHOICES_WARNING
        for action, message, *_ in warnings.filters[:catch_all]
    ):
        return
    warnings.filterwarnings("ignore", _LIST_CHOICES_WARNING, UserWarning)  # first, the records reset
    warnings.filters.insert(catch_all, warnings.filters.pop(0))  # then moved to its place


# Where a comparison's studies are, in the words of both its callers: the CLI's flags, the API's arguments.
_WHERE_STORED = "(--out, out=), or its database URL (--storage, storage=)"


def mistyped_url(url: str) -> str | None:
    """The URL meant where ``url`` holds a common typo that SQLAlchemy refuses in words of its own ("Can't
    load plugin: sqlalchemy.dialects:postgres", 'Invalid SQLite URL'): ``postgres://`` (Heroku's spelling)
    for ``postgresql://``, a SQLite file after two slashes (``sqlite://runs.db``) for three; else None.
    Made from ``url`` as messages show it, its password hidden: ``sqlite://u:s3cret@/x.db`` meant
    ``sqlite:///u:***@/x.db``, where the password, part of a file name, no longer reads as one."""
    url = _shown(url)
    scheme, separator, rest = url.partition("://")
    if separator and scheme.split("+")[0].lower() == "postgres":
        return "postgresql" + url[len("postgres") :]
    if separator and scheme.lower().startswith("sqlite") and rest and not rest.startswith("/"):
        return f"{scheme}:///{rest}"
    return None


def open_storage(location: str | Path | None, *, create: bool = True) -> BaseStorage:
    """A folder (holding ``study.journal``), an RDB URL (``postgresql://...``, ``sqlite:///...``), or None:
    a new, empty storage in this process's memory (Optuna's), for a study that no other process reads and
    nothing resumes (no file, no fsync per write).

    ``create`` False refuses a folder without a journal instead of starting one (a worker pointed at
    the wrong folder), and None, as a new storage in memory holds no study. A journal whose last record a
    crash cut short is repaired (see :class:`_JournalFile`); one damaged elsewhere is refused.
    """
    _quiet_about_list_choices()
    if location is None:
        if not create:
            raise OptimlabError(
                "no study in memory (location None): a new storage in memory holds none; give the folder of "
                f"a comparison {_WHERE_STORED}"
            )
        return optuna.storages.InMemoryStorage()
    if is_url(location):
        if (meant := mistyped_url(str(location))) is not None:
            raise InvalidValueError(
                "study storage",
                _shown(str(location)),
                f"{meant}, the URL SQLAlchemy reads",
            )
        if refused := sqlite_folder_refused(str(location)):
            raise OptimlabError(refused)
        if not create and (missing := _sqlite_file_not_there(str(location))):
            raise OptimlabError(
                f"no study at {_shown(str(location))!r}: no SQLite file {missing!r} there; give the folder of "
                f"a comparison {_WHERE_STORED}"
            )
        storage = _open_rdb(str(location))
        _SHOWN[storage] = _shown(str(location))
        return storage
    if _LOOKS_LIKE_URL.match(str(location)):
        raise InvalidValueError(
            "study storage", str(location), "a folder, or a database URL such as postgresql://user@host/db"
        )
    folder = Path(location)
    if folder.exists() and not folder.is_dir():
        raise OptimlabError(f"study location {str(folder)!r} is a file: give a folder or a database URL")
    journal = folder / JOURNAL_NAME
    lock = folder / f"{JOURNAL_NAME}.flock"
    # said 'it holds no study.journal', or 'cannot write the study journal ...: Is a directory'
    lock_made_again = "its journal cannot be locked: remove it (the lock file is made again at the opening)"
    for held, so in (
        (journal, f"no journal: give the folder of a comparison {_WHERE_STORED}"),
        (lock, lock_made_again),
    ):
        if held.exists() and not held.is_file():
            raise OptimlabError(
                f"study location {str(folder)!r}: its {held.name} is not a file (a folder?), so {so}"
            )
    if not create and not journal.is_file():
        raise OptimlabError(
            f"no study at {str(folder)!r}: it holds no {JOURNAL_NAME}; give the folder of a comparison "
            f"{_WHERE_STORED}"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        backend = _JournalFile(str(journal), lock_obj=_FlockLock(str(lock)))
    except OSError as error:
        raise OptimlabError(
            f"cannot write the study journal in {str(folder)!r}: {error.strerror or error}"
        ) from None
    storage = optuna.storages.JournalStorage(backend)
    _JOURNALS[storage] = backend
    _SHOWN[storage] = str(journal)
    return storage


@dataclasses.dataclass(frozen=True)
class _Driver:
    """A database driver as SQLAlchemy names it in a URL (``mysql+pymysql://``), the module it
    imports, and what installs it."""

    name: str
    module: str
    install: str


# Each database's drivers, in the order a URL that names none takes the first installed: SQLAlchemy 2.1
# reads a bare postgresql:// as psycopg (3) alone, while optimlab[postgres] installs psycopg2, so the URL
# --help shows failed there; mysql:// reads as mysqlclient alone, though PyMySQL serves it as well.
_MYSQL = (_Driver("mysqldb", "MySQLdb", "mysqlclient"), _Driver("pymysql", "pymysql", "PyMySQL"))
_DRIVERS = {  # database -> (its name, its drivers)
    "postgresql": (
        "PostgreSQL",
        (_Driver("psycopg", "psycopg", "psycopg"), _Driver("psycopg2", "psycopg2", "optimlab[postgres]")),
    ),
    "mysql": ("MySQL", _MYSQL),
    "mariadb": ("MariaDB", (*_MYSQL, _Driver("mariadbconnector", "mariadb", "mariadb"))),
}


def _url_opened(url: str) -> str:
    """``url`` as SQLAlchemy is to open it: naming the first installed driver of its database where it
    names none, and a SQLite file's ``~`` read as the home, as the checks read it (SQLite opens it
    literally: a folder '~' in the current one)."""
    url = _home_expanded(url)
    scheme, separator, rest = url.partition("://")
    for driver in _DRIVERS.get(scheme.lower(), ("", ()))[1]:
        if importlib.util.find_spec(driver.module) is not None:
            return f"{scheme}+{driver.name}{separator}{rest}"
    return url


def _missing_driver(url: str) -> str:
    """Why ``url`` cannot be opened: its database's driver is not installed, and what installs it."""
    import sqlalchemy.engine

    database, _, named = url.partition("://")[0].lower().partition("+")
    label, drivers = _DRIVERS.get(database, (database, ()))
    if not named:  # any of its drivers would do (see _url_opened)
        if drivers:
            options = ", or ".join(f"pip install '{d.install}'" for d in drivers)
            return f"needs a {label} driver, and none is installed: {options}"
        named = sqlalchemy.engine.make_url(url).get_dialect().driver  # SQLAlchemy's default for it
    known = [d for d in drivers if d.name == named]
    install = f": pip install '{known[0].install}'" if known else " (install the package that provides it)"
    return f"needs the {label} driver {named!r}, which is not installed{install}"


# Opening an empty database creates Optuna's tables, its version row and alembic's stamp, each checked
# first: processes opening it at once (workers started together) collide on each, all but one refused
# ('duplicate key value violates unique constraint', 'already exists', or a deadlock between their
# DDL); after the first to commit, the others find them there. SQLite commits each CREATE on its own, so
# there a process may collide once per table (Optuna's 12 and alembic's), each time on one the other made
# since its check: one attempt per table, the version row and the stamp, and one more.
_CREATE_ATTEMPTS = 16
# SQLite's refusal of a CREATE whose table or index another connection has just made
_SQLITE_EXISTS = re.compile(r"(table|index) (\S+) already exists")


def _collided(error: Exception, url: str) -> bool:
    """Whether ``error`` is what a process creating the tables beside another one gets: an integrity
    violation, an object that exists already (SQLite's 'table studies already exists' too), or a
    transaction rolled back (SQLSTATE class 40: a deadlock, a serialization failure)."""
    import sqlalchemy.exc

    if isinstance(error, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)):
        return True
    if _SQLITE_EXISTS.fullmatch(str(getattr(error, "orig", ""))):  # SQLite raises it as an OperationalError
        return _foreign_object(error, url) is None
    cause = getattr(error, "orig", None)
    state = getattr(cause, "pgcode", None) or getattr(cause, "sqlstate", None) or ""
    return str(state).startswith("40")


def _foreign_object(error: Exception, url: str) -> str | None:
    """Why SQLite's 'table/index X already exists' is no collision: X is another application's (a table
    without Optuna's columns, an index not on Optuna's table and columns); None where X is Optuna's own,
    as another process creating the tables beside this one made it."""
    import sqlalchemy
    from optuna.storages._rdb import models

    kind, name = _SQLITE_EXISTS.fullmatch(str(error.orig)).groups()  # type: ignore[union-attr]
    tables = models.BaseModel.metadata.tables
    engine = sqlalchemy.create_engine(_url_opened(url))
    try:
        found = sqlalchemy.inspect(engine)
        if kind == "table":
            columns = {table: {column.name for column in tables[table].columns} for table in tables}
            columns["alembic_version"] = {"version_num"}  # alembic's stamp, made beside Optuna's tables
            ours = columns.get(name)
            theirs = {column["name"] for column in found.get_columns(name)}
            return None if ours == theirs else f"its table {name!r} is another application's"
        ours_on = [
            (table.name, [column.name for column in index.columns])
            for table in tables.values()
            for index in table.indexes
            if index.name == name
        ]
        theirs_on = [
            (table_name, index["column_names"])
            for table_name in found.get_table_names()
            for index in found.get_indexes(table_name)
            if index["name"] == name
        ]
        return None if ours_on == theirs_on else f"its index {name!r} is another application's"
    finally:
        engine.dispose()


def _sqlite_file_not_there(url: str) -> str | None:
    """The file a SQLite ``url`` names where it is not there (opening the URL creates it, empty); None for
    any other URL, or a file there."""
    database = sqlite_database(url)
    return None if database is None or expand_home(database, "storage").is_file() else database


def sqlite_folder_refused(url: str) -> str | None:
    """Why the SQLite ``url`` opens no study where it names a folder (``sqlite:///runs``), naming a file
    in it: SQLite said only 'unable to open database file'. None for any other URL. The rule of
    :func:`open_storage` and of the command line's ``--storage`` check."""
    database = sqlite_database(url)
    if database is None or not expand_home(database, "storage").is_dir():
        return None
    scheme = url.partition("://")[0]
    return (
        f"{_shown(url)!r}: {database!r} is a folder: give a SQLite file in it, "
        f"{scheme}:///{Path(database) / 'studies.db'}"
    )


def sqlite_database(url: str) -> str | None:
    """The file path a SQLite ``url`` opens (``sqlite:///file:PATH?uri=true``'s PATH); None for any other
    URL, or a database in memory."""
    import sqlalchemy.exc
    import sqlalchemy.util

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:  # not a URL SQLAlchemy reads: opening it says so
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    # sqlite:///file:PATH?uri=true, the flag read as SQLAlchemy reads it (true, True, 1, yes, on)
    if sqlalchemy.util.asbool(parsed.query.get("uri", False)) and database.startswith("file:"):
        uri = urllib.parse.urlsplit(database)
        if uri.path in ("", ":memory:") or "memory" in (
            parsed.query.get("mode"),
            *uri.query.split("mode=")[1:2],
        ):
            return None
        database = urllib.parse.unquote(uri.path)
    return database


def _home_expanded(url: str) -> str:
    """The SQLite ``url`` whose file path starts with ``~`` naming it from the home instead (its URI
    form's too); any other URL as it is."""
    import sqlalchemy.engine

    database = sqlite_database(url)
    if database is None or not database.startswith("~"):
        return url
    expanded = str(expand_home(database, "storage"))
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.database.startswith("file:"):  # sqlite:///file:PATH?uri=true: PATH within the URI
        uri = urllib.parse.urlsplit(parsed.database)
        expanded = urllib.parse.urlunsplit(uri._replace(path=urllib.parse.quote(expanded)))
    return parsed.set(database=expanded).render_as_string(hide_password=False)


def _open_rdb(url: str) -> BaseStorage:
    import sqlalchemy.exc

    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            rdb = optuna.storages.RDBStorage(_url_opened(url), engine_kwargs={"pool_pre_ping": True})
            break
        except ImportError:
            raise OptimlabError(f"storage {_shown(url)!r} {_missing_driver(url)}") from None
        except sqlalchemy.exc.SQLAlchemyError as error:
            if _collided(error, url) and attempt < _CREATE_ATTEMPTS:
                continue
            cause = str(getattr(error, "orig", None) or error).splitlines()[0]
            if _SQLITE_EXISTS.fullmatch(cause) and (foreign := _foreign_object(error, url)):
                cause = f"{cause}: {foreign}; use a database that holds only Optuna's studies"
            raise OptimlabError(f"cannot open storage {_shown(url)!r}: {cause}") from None
        except RuntimeError as error:  # tables set up by another Optuna: its message says what to run
            if "table schema" not in str(error):
                raise
            cause = str(error).replace("$STORAGE_URL", repr(_shown(url)))
            raise OptimlabError(f"cannot open storage {_shown(url)!r}: {cause}") from None
    # Optuna wraps an RDB storage in a cache inside every Study; wrap it once here, so that the
    # trials taken through this storage and the studies loaded over it share that one cache.
    return optuna.storages.get_storage(rdb)


def location_shown(location: str | None) -> str:
    """Where a study is kept, as pages show it: its location without passwords, or (None) not kept."""
    return "in memory, not kept" if location is None else without_passwords(location)


_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]*://"
# A URL in a command line as shlex.join writes it: one quoted whole (after an optional --flag=, with a
# quote inside as '"'"'), or a bare word (alone, or after a --flag=).
_URL_IN_COMMAND = re.compile(rf"'((?:-[\w-]+=)?)({_SCHEME}[^']*(?:'\"'\"'[^']*)*)'|(?<![^\s=])({_SCHEME}\S*)")


def without_passwords(text: str) -> str:
    """``text`` (a storage location, or a command line naming one) as pages show it: each URL's password
    hidden, as errors hide it."""
    if re.match(_SCHEME, text):  # a location: the whole of it one URL, spaces and all
        return _shown(text)
    return _URL_IN_COMMAND.sub(
        lambda url: _shown(url[3]) if url[3] else f"'{url[1]}{_shown(url[2])}'",
        text,
    )


# A password given in a URL's query string: libpq's ``password``, MySQL drivers' ``passwd``.
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd)=)[^&]*", re.IGNORECASE)


def _shown(url: str) -> str:
    """``url`` as errors may print it: without its password (after the user name, or in the query
    string), else as typed (SQLAlchemy's rendering quotes a ``sqlite:///file:...?uri=true`` into
    ``file%3A``)."""
    import sqlalchemy.engine

    try:
        parsed = sqlalchemy.engine.make_url(url)
        if parsed.password is not None:
            url = parsed.render_as_string(hide_password=True)
    except Exception:  # not even parseable: no password sqlalchemy could find after a user name
        pass
    return _QUERY_PASSWORD.sub(r"\1***", url)


class _JournalFile(optuna.storages.journal.JournalFileBackend):
    """Optuna's journal file, repaired after a crash, whose appends :func:`deferred_writes` can hold.

    A process killed while appending leaves the last record cut mid-line. Optuna's reader skips such a
    line, but its next append lands on the end of it, and from then on every read fails. Here, under
    the journal's lock, a cut last record is set aside before any append (at open, and again before
    each append since another process may have crashed meanwhile): the journal is copied to
    ``study.journal.bak-<time>``, truncated after its last complete record, and a warning says so. A
    record damaged anywhere else is refused with an error, and nothing is ever appended after it.
    """

    def __init__(self, file_path: str, lock_obj: Any) -> None:
        super().__init__(file_path, lock_obj=lock_obj)
        # Each thread holds its own writes: a heartbeat thread's beat appends its beat alone, and an append
        # the disk refuses is raised in the thread whose writes it held.
        self._holding = threading.local()
        self._damage: str | None = None  # set once a read failed: no append after that
        with self._locked():
            self._check_whole()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock.acquire()
        try:
            yield
        finally:
            self._lock.release()

    def _check_whole(self) -> None:
        """Every complete record must parse and replay; a cut last one (no newline) is set aside.

        Replayed as no worker's (Optuna raises for a record of the replaying worker only, on the
        storage's API: a trial updated after it finished), a record fails only where it is malformed: an
        operation Optuna does not know, a field missing or of another type (an edit by hand).
        """
        with open(self._file_path, "rb") as handle:
            *complete, cut = handle.read().split(b"\n")  # cut: what follows the last newline
        # The replay adds 0.2 s to the 0.8 s of parsing a 3.2 MB journal (13,720 records; measured by
        # timing json.loads and apply_logs over them, 2 CPU cores).
        replay = JournalStorageReplayResult(worker_id_prefix="optimlab-check-")
        for number, line in enumerate(complete, start=1):
            try:
                log = json.loads(line)
            except ValueError:
                self._refuse(f"record {number} does not parse")
            try:
                replay.apply_logs([log])
            except Exception as error:  # whatever Optuna's replay trips on: the record is malformed
                self._refuse(f"record {number} cannot be replayed: {type(error).__name__}: {error}")
            # Optuna skips a record of no worker of its own on a trial not created, and numbers trials by
            # their creation: with a trial's creation removed by hand, the next trial's record took the
            # removed one's results (a seed rerun holding a tuning trial's metrics) in silence.
            if isinstance(log, dict) and isinstance(log.get("trial_id"), int):
                try:
                    trial = replay.get_trial(log["trial_id"])
                except KeyError:
                    self._refuse(
                        f"record {number} updates trial {log['trial_id']}, which no record before it creates: "
                        "a record removed?"
                    )
                # Where later trials were created after it (a plan's waiting trials), each record on the
                # removed one's number lands on the next trial: the claim that takes a trial names its key.
                claim = (
                    log.get("system_attr", {}).get(OWNER_ATTR)
                    if isinstance(log.get("system_attr"), dict)
                    else None
                )
                if isinstance(claim, dict) and "key" in claim and claim["key"] != trial.user_attrs.get("key"):
                    self._refuse(
                        f"record {number} takes trial {log['trial_id']} as key {claim['key']!r}, but the trial "
                        f"of that number holds key {trial.user_attrs.get('key')!r}: a record removed?"
                    )
        if cut:
            self._say(self._set_aside_tail())

    def _refuse(self, problem: str) -> None:
        self._damage = (
            f"the study journal {self._file_path!r} is damaged ({problem}); nothing was written to it. "
            "Restore it from a copy, or cut it before that record by hand"
        )
        raise OptimlabError(self._damage)

    def _set_aside_tail(self) -> str:
        """Truncate the journal after its last complete, parseable record, keeping a backup; returns the
        warning to say."""
        with open(self._file_path, "rb") as handle:
            data = handle.read()
        keep = data.rfind(b"\n") + 1
        backup = f"{self._file_path}.bak-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        shutil.copyfile(self._file_path, backup)
        os.truncate(self._file_path, keep)
        return (
            f"the study journal {self._file_path!r} ended in a record cut short (a crash while writing): "
            f"set aside its last {len(data) - keep} bytes and resumed from the record before; the "
            f"journal as it was is kept in {backup!r}"
        )

    def _tail_is_cut(self) -> bool:
        with open(self._file_path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return False
            handle.seek(size - 1)
            return handle.read(1) != b"\n"

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        try:
            yield from super().read_logs(log_number_from)
        except ValueError as error:  # Optuna's reader: a line that does not parse, or has no newline
            self._refuse(f"{error}")

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if getattr(self._holding, "depth", 0):
            self._holding.held.extend(logs)
        elif getattr(self._holding, "held", None):  # a refused append left them: they go first
            self._holding.held.extend(logs)
            self._append_held()
        else:
            self._say(self._append(logs))

    def _append_held(self) -> None:
        """Append this thread's held writes; an append the disk refuses keeps them held for the next."""
        set_aside = self._append(self._holding.held)
        self._holding.held = []
        self._say(set_aside)

    @staticmethod
    def _say(set_aside: str | None) -> None:
        """Warn of a cut record set aside, once the append is done (a filter may make it an error)."""
        if set_aside is not None:
            warnings.warn(set_aside, OptimlabWarning, stacklevel=user_stacklevel())

    def _append(self, logs: list[dict[str, Any]]) -> str | None:
        """Optuna's append (JSON lines under the lock, fsync), after setting aside a cut last record;
        returns the warning to say of that, if any."""
        if self._damage is not None:
            raise OptimlabError(self._damage)
        text = "".join(json.dumps(log, separators=(",", ":")) + "\n" for log in logs)
        set_aside = None
        with self._locked():
            if self._tail_is_cut():
                set_aside = self._set_aside_tail()
            try:
                with open(self._file_path, "ab") as handle:
                    handle.write(text.encode("utf-8"))
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as error:  # a full disk: the cut record is set aside before the next append
                raise named_after(error, self._file_path) from None
        return set_aside

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold this thread's writes until its outermost hold ends, then append them at once."""
        if not hasattr(self._holding, "held"):  # kept across holds: those of a refused append
            self._holding.depth, self._holding.held = 0, []
        self._holding.depth += 1
        try:
            yield
        finally:
            self._holding.depth -= 1
            if self._holding.depth == 0 and self._holding.held:
                self._append_held()


_JOURNALS: weakref.WeakKeyDictionary[BaseStorage, _JournalFile] = weakref.WeakKeyDictionary()
# Each storage :func:`open_storage` opened, as errors name it: its journal's path, or its URL without the
# password (a database storage is Optuna's cache over it, which names neither).
_SHOWN: weakref.WeakKeyDictionary[BaseStorage, str] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def deferred_writes(storage: BaseStorage) -> Iterator[None]:
    """Within the block, this thread's writes to a journal file are held, then appended at once as its
    outermost block ends (an append the disk refuses raises there, in the thread whose writes it held, and
    keeps them for that thread's next append).

    One locked append and one ``fsync`` instead of one per write: recording 64 batched trials (their
    intermediate values and outcomes, ~1,100 writes) took 0.35 s, most of it in ``fsync``. Reads in the
    block do not see the held writes, so use it only to write (results of trials this process owns).
    A process killed in the block loses them: its trials stay running, and are reclaimed as stale and
    run again. Other storages write as usual.
    """
    journal = _JOURNALS.get(storage)
    if journal is None:
        yield
        return
    with journal.hold():
        yield


# Planned trials written by one append (one lock, one fsync) where a plan is stored to a journal file: the
# plan of 10^4 waiting trials took 53 s a trial at a time, an fsync each, and 0.8 s in appends of 500
# (benchmarks/study_journal.py, docs/benchmarks.md). 500, not the whole plan in one: progress is told after
# each append (20 at 10^4, some 40 ms apart) and a kill keeps the appends written, for 20 fsyncs, not 1.
_PLAN_APPEND = 500
# The Optuna majors whose journal records store_waiting writes (JournalOperation.CREATE_TRIAL's fields as
# enqueue_trial writes them): 4, pyproject's floor, and 5 (5.1.0 installed, 2026-12-07: test_storage reads
# the appends back equal to enqueue_trial's). The format is Optuna's private one: under any other major
# the plan is stored through enqueue_trial, a trial at a time.
_JOURNAL_RECORDS_OF_OPTUNA = (4, 5)


def store_waiting(
    storage: BaseStorage,
    planned: Sequence[tuple[optuna.Study, Mapping[str, Any], Mapping[str, Any]]],
    *,
    on_storing: Callable[[int, int], None] | None = None,
) -> None:
    """Store ``planned`` trials (each its study, fixed parameters and user attributes) as waiting ones, in
    order, as ``Study.enqueue_trial`` stores each, calling ``on_storing`` with the trials stored and their
    number as they are written.

    To a journal file, as Optuna's records of those trials' creation, :data:`_PLAN_APPEND` of them to an
    append: Optuna's ``create_new_trial`` reads the journal back after its one record to learn the
    trial's number, so its writes can be neither batched nor held (:func:`deferred_writes`). A process
    killed while storing leaves a plan's first appends, whose keys a resume finds stored. Other storages,
    and a journal under an Optuna major not in :data:`_JOURNAL_RECORDS_OF_OPTUNA` (whose private record
    format may differ), store each trial through Optuna.
    """
    journal = _JOURNALS.get(storage)
    if journal is None or int(optuna.__version__.split(".")[0]) not in _JOURNAL_RECORDS_OF_OPTUNA:
        for stored, (study, params, user_attrs) in enumerate(planned, start=1):
            study.enqueue_trial(dict(params), user_attrs=dict(user_attrs))
            if on_storing is not None:
                on_storing(stored, len(planned))
        return
    # No process's own worker: Optuna's replay takes a trial created by its own worker as its last created
    worker_id = f"optimlab-plan-{uuid.uuid4()}"
    study_ids: dict[str, int] = {}
    for start in range(0, len(planned), _PLAN_APPEND):
        records = []
        for study, params, user_attrs in planned[start : start + _PLAN_APPEND]:
            if study.study_name not in study_ids:
                study_ids[study.study_name] = storage.get_study_id_from_name(study.study_name)
            records.append(
                {
                    "op_code": JournalOperation.CREATE_TRIAL,
                    "worker_id": worker_id,
                    "study_id": study_ids[study.study_name],
                    "datetime_start": None,
                    "state": TrialState.WAITING,
                    "value": None,
                    "values": None,
                    "distributions": {},
                    "params": {},
                    "user_attrs": dict(user_attrs),
                    "system_attrs": {"fixed_params": dict(params)},
                    "intermediate_values": {},
                }
            )
        journal.append_logs(records)
        if on_storing is not None:
            on_storing(start + len(records), len(planned))


class _FlockLock:
    """The journal's lock as ``fcntl.flock``, which the kernel releases when its holder dies.

    Optuna's default lock is a symlink: a process killed while holding it (a SIGKILL'd study, an OOM'd
    worker) leaves it behind, and every other process waits out a 30 s grace period before breaking
    it (measured: 30.1 s to create a study after such a kill; a resumed study stalled 30-70 s in our
    SIGKILL test). Here the next process goes on at once, and a waiting one sleeps in the kernel until
    the release. Local file systems, and NFS on Linux (which maps flock to fcntl locks).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._handle: Any = None

    def acquire(self) -> bool:
        handle = open(self._path, "a")  # noqa: SIM115  (held open until release: the fd is the lock)
        fcntl.flock(handle, fcntl.LOCK_EX)
        self._handle = handle
        return True

    def release(self) -> None:
        handle, self._handle = self._handle, None
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial as optimlab reads it back: plan, outcome and curve."""

    study: str
    number: int
    method: str
    phase: str
    key: str
    seed: int
    state: str  # Optuna's: complete, fail, pruned, running, waiting
    status: str  # optimlab's: completed, stopped, diverged, pruned, error, interrupted; "" before the end
    message: str | None
    params: dict[str, Any]
    value: float  # the tuned metric (NaN unless complete)
    metrics: dict[str, float]
    seconds: float
    steps: int
    curve: dict[str, list[float]]
    recipe: dict[str, Any] | None
    # the trained model's structure (optimlab.models.structure); None before 2026-12-05 or untrained
    model: dict[str, Any] | None = None

    @property
    def place(self) -> int:
        """Its place in its phase's plan: 3 for ``tune/3`` (``seeds/10`` after ``seeds/2``, as text is not)."""
        return int(self.key.split("/")[1])

    @property
    def finished(self) -> bool:
        """Finished and counted: interrupted trials are replaced by a rerun of their key, duplicates were
        never trained."""
        return self.state in ("complete", "fail", "pruned") and self.status not in UNCOUNTED

    @classmethod
    def from_frozen(cls, study: str, trial: FrozenTrial) -> TrialRecord:
        attrs = trial.user_attrs

        def held(name: str, read: Callable[[Any], Any], default: Any, shape: str) -> Any:
            """The user attribute ``name`` read as a record holds it; one of another shape (a journal
            edited by hand: metrics 'garbage', steps null) is refused naming it, where each reader of the
            study (report, resume, export) ended in a traceback."""
            value = attrs.get(name, default)
            try:
                return read(value)
            except (TypeError, ValueError, InvalidValueError):
                raise OptimlabError(
                    f"trial {trial.number} of study {study!r} holds {name} = {value!r}, not {shape}: its record "
                    "was edited by hand; restore it"
                ) from None

        value = trial.value if trial.state == TrialState.COMPLETE and trial.value is not None else math.nan
        return cls(
            study=study,
            number=trial.number,
            method=attrs.get("method", ""),
            phase=attrs.get("phase", ""),
            key=attrs.get("key", ""),
            seed=held("seed", _count, 0, "a whole number"),
            state="fail" if attrs.get("status") == DIVERGED else trial.state.name.lower(),
            status=attrs.get("status", ""),
            message=attrs.get("message"),
            params=dict(trial.params),
            value=float(value),
            metrics=held("metrics", _metrics, {}, "a mapping of metric names to numbers"),
            seconds=held("seconds", float, math.nan, "a number"),
            steps=held("steps", _count, 0, "a whole number"),
            curve=held("curve", _mapping, {}, "a mapping of columns to lists"),
            recipe=attrs.get("recipe"),
            model=attrs.get("model"),
        )


def _mapping(value: Any) -> dict[str, Any]:
    """``value`` as a dict, where it is a mapping (``dict()`` took a list of pairs too)."""
    if not isinstance(value, Mapping):
        raise TypeError(value)
    return dict(value)


def _metrics(value: Any) -> dict[str, float | None]:
    """``value`` as a trial's metrics: a mapping of names to numbers (None where one was not finite); a
    text there ended the report in a traceback."""
    metrics = _mapping(value)
    if any(
        v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))) for v in metrics.values()
    ):
        raise TypeError(value)
    return metrics


def _count(value: Any) -> int:
    """``value`` as a record's seed or steps: a whole number (int() read 1.7 as 1, true as 1, '3' as 3)."""
    return whole_number(value, "count", NON_NEGATIVE_INT)


def optimlab_studies(storage: BaseStorage, name: str | None = None) -> list[optuna.study.FrozenStudy]:
    """The studies optimlab made in ``storage`` (of the study ``name``, or all), in creation order. A
    stored spec without its study's name as a string (a journal edited by hand) is refused naming the
    storage, the field and the value found, where each reader indexed it and ended in a KeyError."""
    studies = [s for s in storage.get_all_studies() if SPEC_ATTR in s.user_attrs]
    for study in studies:
        spec = study.user_attrs[SPEC_ATTR]
        if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
            continue
        if not isinstance(spec, Mapping):
            problem = f"is {spec!r}, not a study spec (a mapping of its fields)"
        elif "name" not in spec:
            problem = "lacks the field 'name' (the study's name, a string)"
        else:
            problem = f"has the field 'name' {spec['name']!r}, not the study's name (a string)"
        where = f" in {_SHOWN[storage]!r}" if storage in _SHOWN else ""  # a storage open_storage opened
        raise OptimlabError(
            f"the study spec stored{where} for Optuna study {study.study_name!r} {problem}: it was "
            "edited by hand; restore the field"
        )
    return [s for s in studies if name is None or s.user_attrs[SPEC_ATTR]["name"] == name]


# Each storage's records of waiting and finished trials, by study name, trial id and state: a finished trial
# never changes (Optuna refuses its updates), nor a waiting one until it is taken; reading a record anew each
# poll, for every trial of the study, was most of a trial's bookkeeping (127 ms of 190 at 3,000 trials).
_RECORDS: weakref.WeakKeyDictionary[BaseStorage, dict[tuple[str, int, TrialState], TrialRecord]] = (
    weakref.WeakKeyDictionary()
)


def load_records(storage: BaseStorage, study_names: Sequence[str]) -> list[TrialRecord]:
    """Every trial of the named Optuna studies, in study then trial order."""
    read = _RECORDS.setdefault(storage, {})
    records = []
    for name in study_names:
        study_id = storage.get_study_id_from_name(name)
        for trial in storage.get_all_trials(study_id, deepcopy=False):
            key = (name, trial._trial_id, trial.state)
            record = read.get(key)
            if record is None:
                record = TrialRecord.from_frozen(name, trial)
                if trial.state != TrialState.RUNNING:
                    read[key] = record
            records.append(record)
    return records


@contextlib.contextmanager
def heartbeat(
    storage: BaseStorage, trial_ids: Sequence[int], interval: float = HEARTBEAT_SECONDS
) -> Iterator[None]:
    """Beat for ``trial_ids`` (this process owns them) from a thread, until the block ends."""
    stop = threading.Event()

    def beat() -> None:
        with deferred_writes(storage):  # one append for all the trials' beats
            for trial_id in trial_ids:
                with contextlib.suppress(UpdateFinishedTrialError, KeyError):
                    _claim(storage, trial_id)

    beat()
    thread = threading.Thread(
        target=_beat_until_stopped, args=(stop, interval, beat, "its trials"), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _beat_until_stopped(stop: threading.Event, interval: float, beat: Callable[[], None], whose: str) -> None:
    """Call ``beat`` every ``interval`` seconds until ``stop`` is set. A beat the storage refuses (a
    database restarting, a full disk) is tried again at the next interval, said once in a warning: the
    thread lives on, where one error ended it and the process's live work read as dead a grace later."""
    warned = False
    while not stop.wait(interval):
        try:
            beat()
        except Exception as error:  # any storage's own errors; the next beat tries again
            if not warned:
                with contextlib.suppress(Exception):  # a filter turning warnings into errors ends no beat
                    warnings.warn(
                        f"this process could not write the beat of {whose} ({type(error).__name__}: {error}); "
                        f"trying again every {interval:g} s (other processes read it as dead "
                        f"{GRACE_SECONDS:.0f} s after its last beat)",
                        OptimlabWarning,
                        stacklevel=1,
                    )
                    warned = True


def _claim(storage: BaseStorage, trial_id: int, key: str | None = None) -> None:
    """Mark ``trial_id`` as this process's, now; taking it, with its ``key``, which the journal's check
    holds against the trial of that number (:meth:`_JournalFile._check_whole`)."""
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "pids": _pid_space(), "beat": time.time()}
    storage.set_trial_system_attr(trial_id, OWNER_ATTR, owner if key is None else {**owner, "key": key})


@functools.cache
def _pid_space() -> str | None:
    """Which processes this one sees by pid: this boot of this machine (its kernel's ``boot_id``) and its
    pid namespace; None where Linux's ``/proc`` does not tell. Two containers sharing a host name (docker
    ``--network host``) do not see each other's pids."""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot} {os.readlink('/proc/self/ns/pid')}"
    return None


def _seen_from_here(host: str, pids: str | None) -> bool:
    """Whether the process of ``host`` in pid space ``pids`` (:func:`_pid_space` where it ran; None: not
    recorded, as before 2026-12-07 08:00) can be seen by pid from this process."""
    return host == socket.gethostname() and pids in (None, _pid_space())


def _process_gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs here: no such process, or a zombie awaiting its parent's wait."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    fields = _stat_fields(pid)
    return fields is not None and fields[0] == "Z"


def _process_start(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot; None where it cannot be read."""
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the process's name (its state first), None where that file
    cannot be read (no such process, or no /proc)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return None


# The keys of this process's claims, until withdrawn (withdraw_claim), each with the claims_held block that
# holds it (None: made outside any block): a block takes up no other block's claim (held_claim).
_HELD_CLAIMS: dict[str, _Holding | None] = {}


@dataclasses.dataclass
class _Holding:
    """One :func:`claims_held` block: the claims it beats and withdraws (storage, study id, key, claim as
    written)."""

    claims: list[tuple[BaseStorage, int, str, dict[str, Any]]] = dataclasses.field(default_factory=list)

    def add(self, storage: BaseStorage, study_id: int, key: str, claim: dict[str, Any]) -> None:
        if all(held[2] != key for held in self.claims):
            self.claims.append((storage, study_id, key, claim))

    def beat(self) -> None:
        """Write the time into each claim still held; a study deleted meanwhile (a refused comparison
        deletes those it created) is skipped."""
        for storage, study_id, key, claim in list(self.claims):
            if key in _HELD_CLAIMS:
                with contextlib.suppress(KeyError):
                    storage.set_study_system_attr(study_id, key, {**claim, "beat": time.time()})
                    if key not in _HELD_CLAIMS:  # withdrawn as this beat was written: not left beating
                        storage.set_study_system_attr(study_id, key, None)

    def withdraw(self) -> None:
        """Withdraw each claim still held. One the storage refuses (a database gone) is said in one warning,
        the others still withdrawn and the block's own outcome (its result, its exception) kept."""
        refused: list[Exception] = []
        for storage, study_id, key, _ in self.claims:
            if key in _HELD_CLAIMS:
                try:
                    withdraw_claim(storage, study_id, key)
                except KeyError:  # the study deleted meanwhile
                    pass
                except Exception as error:  # any storage's own errors
                    refused.append(error)
        if refused:
            with contextlib.suppress(Exception):  # a filter turning warnings into errors replaces no outcome
                warnings.warn(
                    f"{len(refused)} of this comparison's claims could not be withdrawn "
                    f"({type(refused[0]).__name__}: {refused[0]}): other comparisons read them as live while "
                    f"this process runs (from another host: {GRACE_SECONDS:.0f} s after their last beat)",
                    OptimlabWarning,
                    stacklevel=user_stacklevel(),
                )


# The claims_held block open in this thread (or task), if any: each block beats and withdraws its own.
_OPEN_HOLDING: contextvars.ContextVar[_Holding | None] = contextvars.ContextVar("claims_held", default=None)


def claim_study(storage: BaseStorage, study_id: int) -> str:
    """Add this process's claim on ``study_id`` (see the module's Claims); returns its attribute's key."""
    key = f"{CLAIM_PREFIX}{uuid.uuid4().hex}"
    pid = os.getpid()
    claim = {
        "host": socket.gethostname(),
        "pid": pid,
        "started": _process_start(pid),
        "pids": _pid_space(),
        "at": time.time(),
    }
    _HELD_CLAIMS[key] = holding = _OPEN_HOLDING.get()
    if holding is not None:
        holding.add(storage, study_id, key, claim)
    storage.set_study_system_attr(study_id, key, claim)
    return key


def held_claim(storage: BaseStorage, study_id: int) -> str | None:
    """The key of this process's claim on ``study_id`` that it holds still (not withdrawn), from now on
    kept alive by the open :func:`claims_held` block; None where it holds none. A claim another block
    holds (another thread's comparison in this process) is that block's, never taken up."""
    holding = _OPEN_HOLDING.get()
    for key, claim in storage.get_study_system_attrs(study_id).items():
        if key not in _HELD_CLAIMS or claim is None or claim["pid"] != os.getpid():  # not a fork's parent's
            continue
        if (owner := _HELD_CLAIMS[key]) is None or owner is holding:
            if holding is not None:
                holding.add(storage, study_id, key, claim)
                _HELD_CLAIMS[key] = holding
            return key
    return None


def withdraw_claim(storage: BaseStorage, study_id: int, key: str) -> None:
    """Withdraw this process's claim ``key`` on ``study_id`` (its comparison stopped before storing the
    study's settings): set to None, and to this process no claim even where that write fails."""
    _HELD_CLAIMS.pop(key, None)
    storage.set_study_system_attr(study_id, key, None)


@contextlib.contextmanager
def claims_held(interval: float = CLAIM_BEAT_SECONDS) -> Iterator[None]:
    """Keep alive the claims this thread makes or takes up in the block (:func:`claim_study`,
    :func:`held_claim`), and withdraw them as it ends: a thread writes each claim's ``beat`` time every
    ``interval``, by which another host tells a live comparison from a dead one (:func:`_claim_lives`).
    A block inside another of the same thread leaves its claims to the outer one; blocks of two threads
    each hold their own."""
    if _OPEN_HOLDING.get() is not None:
        yield
        return
    holding = _Holding()
    opened = _OPEN_HOLDING.set(holding)
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat_until_stopped, args=(stop, interval, holding.beat, "a comparison's claims"), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        try:
            thread.join()  # its beat in flight written before the withdrawals
        finally:  # a second Ctrl-C in the join still withdraws them and closes the block
            _OPEN_HOLDING.reset(opened)
            holding.withdraw()


def _gone(record: Mapping[str, Any]) -> bool:
    """Whether the process a claim or a trial's owner ``record`` names (host, pid, its ``started`` time
    :func:`_process_start` and ``pids`` space :func:`_pid_space` where recorded) is gone: seen from here,
    its pid no longer runs, or runs a process started since (the pid reused); one not seen from here
    (another host's, another container's) cannot be told gone by its pid."""
    pid, started = int(record["pid"]), record.get("started")
    return _seen_from_here(record["host"], record.get("pids")) and (
        _process_gone(pid) or started not in (None, _process_start(pid))
    )


def _claim_lives(storage: BaseStorage, study_id: int, key: str, claim: Mapping[str, Any]) -> bool:
    """Whether the comparison that made ``claim`` may go on with ``study_id``: this process's while it
    holds it (not withdrawn: an interrupted comparison's is not another's); another process seen from
    here while it runs; one not seen (another host's, or a container's sharing this host name) within
    :data:`GRACE_SECONDS` of its last beat (:func:`claims_held`; of its making, before the first): a
    comparison killed stops beating. A claim of before its time was recorded cannot be told dead: it
    lives while the study has no settings, and never stops a resume of one stored (as none did before
    claims were read there)."""
    if _seen_from_here(claim["host"], claim.get("pids")):
        if _gone(claim):
            return False
        return key in _HELD_CLAIMS if int(claim["pid"]) == os.getpid() else True
    last = claim.get("beat", claim.get("at"))
    if last is None:
        return SPEC_ATTR not in storage.get_study_user_attrs(study_id)
    return time.time() - float(last) <= GRACE_SECONDS


def live_claims(storage: BaseStorage, study_id: int, mine: str | None = None) -> list[dict[str, Any]]:
    """The claims on ``study_id`` but ``mine`` whose comparison may go on with it (:func:`_claim_lives`);
    withdrawn ones (None) skipped."""
    return [
        claim
        for key, claim in storage.get_study_system_attrs(study_id).items()
        if key.startswith(CLAIM_PREFIX)
        and key != mine
        and claim is not None
        and _claim_lives(storage, study_id, key, claim)
    ]


def _stale(trial: FrozenTrial, now: float, grace: float) -> bool:
    owner = trial.system_attrs.get(OWNER_ATTR)
    if owner is None:  # popped, first beat not yet written
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        return now - started > grace
    if _gone(owner):
        return True
    return now - float(owner["beat"]) > grace


def live_trials(storage: BaseStorage, study_name: str, grace: float = GRACE_SECONDS) -> int:
    """How many running trials of ``study_name`` have a live process: a run or workers still at it."""
    study_id = storage.get_study_id_from_name(study_name)
    now = time.time()
    running = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
    return sum(not _stale(trial, now, grace) for trial in running)


def reclaim_stale(storage: BaseStorage, study_name: str, grace: float = GRACE_SECONDS) -> int:
    """Fail the stale running trials of ``study_name`` as interrupted; returns how many."""
    study_id = storage.get_study_id_from_name(study_name)
    now, reclaimed = time.time(), 0
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        if not _stale(trial, now, grace):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        owner = trial.system_attrs.get(OWNER_ATTR, {})
        with contextlib.suppress(UpdateFinishedTrialError):  # its process finished it meanwhile
            storage.set_trial_user_attr(trial_id, "status", INTERRUPTED)
            storage.set_trial_user_attr(
                trial_id,
                "message",
                f"its process ({owner.get('host', '?')} pid "
                f"{owner.get('pid', '?')}) stopped before the trial ended; rerun",
            )
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            reclaimed += 1
    return reclaimed


def _plan_position(trial: FrozenTrial) -> tuple[int, int]:
    """Where ``trial``'s key sits in its phase's plan (``tune/3``: 3), then its number."""
    index = trial.user_attrs.get("key", "").rpartition("/")[2]
    return (int(index) if index.isdigit() else trial.number, trial.number)


@dataclasses.dataclass
class _WaitingOrder:
    """One study's trials as this process has read them, for :func:`pop_waiting`: those waiting when read,
    a heap by :func:`_plan_position` (one another process took since is dropped as it comes up: no trial
    waits again), and each key's trial numbers. Sorting every waiting trial at each take cost 30-45 ms at
    3,000 waiting, and looking for its key among every trial as much; a take now reads the trials created
    since the last one, where there are any, and its own key's."""

    read: int = 0  # the trials numbered below it are read
    waiting: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    numbers: dict[str, list[int]] = dataclasses.field(default_factory=dict)  # key -> its trials' numbers

    def read_new(self, storage: BaseStorage, study_id: int) -> None:
        # Optuna lists a study's trials (and counts them, by that list) in a loop over all: 29 ms at 10^4
        # (benchmarks/study_journal.py), so listed only once the trial numbered next is there
        try:
            storage.get_trial_id_from_study_id_trial_number(study_id, self.read)
        except KeyError:
            return
        for trial in storage.get_all_trials(study_id, deepcopy=False)[self.read :]:
            if trial.state == TrialState.WAITING:
                heapq.heappush(self.waiting, _plan_position(trial))
            if (key := trial.user_attrs.get("key")) is not None:
                self.numbers.setdefault(key, []).append(trial.number)
            self.read = trial.number + 1


# Each storage's studies as this process has read them to take their waiting trials (pop_waiting)
_WAITING_ORDERS: weakref.WeakKeyDictionary[BaseStorage, dict[int, _WaitingOrder]] = (
    weakref.WeakKeyDictionary()
)
_TAKING = threading.Lock()  # one take at a time in this process: its threads share the orders


def pop_waiting(study: optuna.Study, storage: BaseStorage) -> tuple[optuna.Trial, int] | None:
    """Take the waiting (enqueued) trial of ``study`` planned first, atomically across processes.

    Planned first, not enqueued first: a key run again after an interruption (enqueued after the keys
    planned behind it) runs before them, as an uninterrupted study ran it, so a TPE study draws each key
    from the same trials before it and resumes to the same values. Returns the trial and its storage
    id, or None when none waits. Unlike ``Study.ask``, never creates a trial: only the planner decides
    how many trials a study has.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    with _TAKING:
        order = _WAITING_ORDERS.setdefault(storage, {}).setdefault(study_id, _WaitingOrder())
        order.read_new(storage, study_id)
        while order.waiting:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, order.waiting[0][1])
            frozen = storage.get_trial(trial_id)
            taken = False
            if frozen.state == TrialState.WAITING:
                # Claimed before it runs: a process killed right after taking it (before its heartbeat
                # starts) is then seen dead at once, not after the grace period.
                with contextlib.suppress(UpdateFinishedTrialError):
                    _claim(storage, trial_id, frozen.user_attrs.get("key"))
                    taken = storage.set_trial_state_values(trial_id, TrialState.RUNNING)
            heapq.heappop(order.waiting)  # taken here, or no longer waiting: another process took it
            if not taken:
                continue
            if _key_taken(storage, study_id, frozen, order.numbers.get(frozen.user_attrs.get("key"), [])):
                storage.set_trial_user_attr(trial_id, "status", DUPLICATE)
                storage.set_trial_user_attr(
                    trial_id, "message", "its key was planned twice; the other trial ran"
                )
                storage.set_trial_state_values(trial_id, TrialState.FAIL)
                continue
            return optuna.Trial(study, trial_id), trial_id
    return None


def _key_taken(storage: BaseStorage, study_id: int, trial: FrozenTrial, numbers: Sequence[int]) -> bool:
    """Whether a trial of ``trial``'s key (numbered ``numbers``) numbered before it waits, runs or has
    counted: two drivers on one study (two ``compare --resume`` of one folder) may both enqueue a key they
    found missing."""
    for number in numbers:
        if number < trial.number:
            other = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))
            if other.user_attrs.get("status") not in UNCOUNTED:
                return True
    return False
