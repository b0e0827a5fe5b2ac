"""Checks of the values that name things outside the process (files, folders, devices, storages), run
while the command line is parsed: a run never trains for minutes to fail at the end on a target it
cannot write, and a flag typed wrong answers before torch loads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import typer

from optimlab.atomic import blocker
from optimlab.errors import InvalidValueError, OptimlabError, did_you_mean, unprintable
from optimlab.registry import DEVICE, DEVICES
from optimlab.runs_folder import RECIPE_NAME, is_run_folder, others_shown, room_below
from optimlab.user_code import refuse_file_path
from optimlab.user_paths import expand_home

DATABASES = ("sqlite", "postgresql", "mysql", "mariadb", "oracle", "mssql")  # SQLAlchemy's dialects
STORAGE_EXAMPLE = "a database URL such as sqlite:///runs/studies.db or postgresql://user@host/db"


def given(text: str, what: str = "a path") -> str:
    """``text`` unless empty: ``--out ""`` was the current folder (``Path("")``), ``--name ""`` the default.
    (click passes an option's default through the parser too: a Path.)"""
    if not os.fspath(text).strip():
        raise typer.BadParameter(f"{text!r} is empty: give {what}")
    return text


def name(text: str) -> str:
    """A name (a study's, a technique's): ``compare --name $'a\\nb'`` stored the newline in the study's
    name, and its leaderboard.csv's rows, and the command that resumes it, broke in two."""
    return _printable(given(text, "a name"), "a name")


def dataset(text: str) -> str:
    """A data set's name, file or import path; a Python file's path (``./mydata.py:load``) is refused with
    the import path to write, as ``--model``'s is (:func:`optimlab.user_code.refuse_file_path`), and a path
    past the file system's lengths as every path flag's is."""
    try:
        refuse_file_path(name(text), "dataset")
    except OptimlabError as error:  # one line naming the flag, as typer's other refusals do
        raise typer.BadParameter(str(error)) from None
    _path(text)  # a file's length (a name never passes NAME_MAX)
    return text


def _path(text: str, *, written_into: bool = False) -> Path:
    """``text`` as a path, ``~user`` read as that user's home (a user unknown here was a RuntimeError),
    within the file system's lengths: each name's (NAME_MAX) and the whole path's, as the process reaches it
    from the root (PATH_MAX). ``--out`` of 300 letters, or of 25 names of 200, was refused by the OS's
    'File name too long', naming no flag, past the checks. A folder ``written_into`` leaves room for the
    deepest path written below it (:func:`~optimlab.runs_folder.room_below`): an --out right at PATH_MAX
    passed, and the run failed at its end on the checkpoint, or the TensorBoard event file, it wrote."""
    try:
        path = expand_home(given(text), "path")
    except InvalidValueError as error:  # ~user of no user here
        raise typer.BadParameter(f"{text!r}: accepted {error.accepted}") from None
    head = _nearest_existing(path)
    longest = max(path.parts, key=lambda part: len(os.fsencode(part)), default="")  # ".": none
    name_max = _limit(head, "PC_NAME_MAX", 255)
    if len(os.fsencode(longest)) > name_max:
        raise typer.BadParameter(
            f"{text!r} holds a name of {len(os.fsencode(longest))} bytes: accepted names of at most {name_max} "
            "bytes, the file system's limit"
        )
    full, path_max = len(os.fsencode(path.absolute())), _limit(head, "PC_PATH_MAX", 4096)
    inside = room_below(path) if written_into else 0  # the deepest path written below it
    if full + inside >= path_max:  # PATH_MAX counts the C string's closing NUL
        limit = f"{path_max - 1} less {inside} for the paths written inside" if inside else "limit"
        raise typer.BadParameter(
            f"{text!r} is a path of {full} bytes from the root: accepted paths of at most "
            f"{path_max - 1 - inside} bytes, the file system's {limit}"
        )
    return path


def _nearest_existing(path: Path) -> Path:
    """The nearest folder that exists at or above ``path``, made absolute: the file system that would
    hold it."""
    head = path.absolute()
    while head != head.parent:
        with contextlib.suppress(OSError):  # a name too long for exists() itself: its parent is asked
            if head.exists():
                break
        head = head.parent
    return head


def _limit(folder: Path, name: str, usual: int) -> int:
    """The file system's limit ``name`` of POSIX's pathconf (PC_NAME_MAX, PC_PATH_MAX) at ``folder``;
    ``usual`` where none is said (Windows has no pathconf)."""
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):
        return usual


def readable_file(text: str) -> Path:
    path = _path(text)
    if not path.exists():
        raise typer.BadParameter(f"{text!r} does not exist")
    if not path.is_file():
        raise typer.BadParameter(f"{text!r} is not a file")
    if not os.access(path, os.R_OK):
        raise typer.BadParameter(f"{text!r} is not readable")
    return path


def recipe_file(text: str) -> Path:
    """A recipe's YAML file; a run's folder, which holds one, is answered with that file's path."""
    path = _path(text)
    if path.is_dir() and (path / RECIPE_NAME).is_file():
        raise typer.BadParameter(
            f"{text!r} is not a file but a run's folder: give its recipe, {str(path / RECIPE_NAME)!r}"
        )
    return readable_file(text)


def _as_created(path: Path) -> Path:
    """``path`` as creating it ends: a ``..`` after a folder still to be made steps back out of it, as
    ``mkdir -p`` does, so ``a/x/../../out`` is ``out``, where the checks passed its missing ``a`` and the
    run, past its work, made ``a/x`` and failed on an ``out`` that was a file. Only the missing folders are
    read so: no link can lead elsewhere from a folder that does not exist."""
    head, tail = path, []
    while not head.exists() and head != head.parent:
        tail.append(head.name)
        head = head.parent
    made: list[str] = []
    for part in reversed(tail):
        if part == ".." and made:
            made.pop()
        else:
            made.append(part)
    return head.joinpath(*made)


def _writable_place(path: Path, text: str) -> None:
    """The nearest folder that exists above ``path`` is a folder this user may write into."""
    blocked = blocker(path.parent)
    if blocked is None:
        return
    parent = str(blocked.path)
    if not blocked.path.is_dir():
        raise typer.BadParameter(f"cannot create {text!r}: {parent!r} is {blocked.what}")
    # sentences, as click's "(see ... -h)" follows
    raise typer.BadParameter(f"cannot create {text!r}: {parent!r} is not writable: {blocked.reason}.")


def existing(text: str) -> bool:
    """Whether the path ``text`` (``~user`` read as that user's home, refused where unknown) is there."""
    return _path(text).exists()


def _printable(text: str | os.PathLike[str], what: str = "a path") -> str:
    """``text``, an output path or a name (``what``), as the user types it, unless it holds a control
    character (:func:`~optimlab.errors.unprintable`). click passes an option's default through its parser:
    a ``Path("schedule.png")`` was said as ``PosixPath('schedule.png')`` in every refusal of it."""
    text = os.fspath(text)
    if (refusal := unprintable(text, what)) is not None:
        raise typer.BadParameter(refusal)
    return text


def writable_folder(text: str) -> Path:
    """An output folder: one that exists and may be written, or one that can be created."""
    text = _printable(text)
    path = _as_created(_path(text, written_into=True))
    if path.exists():
        if not path.is_dir():
            raise typer.BadParameter(f"{text!r} is a file; give a folder")
        _refuse_unwritable(path, text)
        return path
    if path.is_symlink():  # to nothing, or in a loop: making it said 'File exists'
        raise typer.BadParameter(f"{text!r} is {blocker(path).what}; give a folder")
    _writable_place(path, text)
    return path


def _refuse_unwritable(folder: Path, text: str) -> None:
    blocked = blocker(folder)
    if blocked is not None:
        raise typer.BadParameter(f"cannot write into {text!r}: the folder is not writable: {blocked.reason}.")


def existing_folder(text: str) -> Path:
    """An input folder, which must exist."""
    path = _path(text)
    if not path.is_dir():
        raise typer.BadParameter(f"{text!r} is not a folder" + (": it is a file." if path.exists() else "."))
    return path


def resumed_folder(text: str) -> Path:
    """The folder of stopped work that --resume continues: it must exist and be writable. Read as an output
    folder (mkdir -p), a missing one passed: a typo reached each verb's own words, ``nd/x/../..`` (nd
    missing) resumed the folder above nd, and ``/proc/nope/x`` was one that could not be created. A name of a
    control character (a folder made before the output paths refused them) broke the resume command it
    prints in two: refused as an output path's."""
    text = _printable(text)
    path = existing_folder(text)
    _path(text, written_into=True)
    _refuse_unwritable(path, text)
    return path


def studies_held(folder: Path) -> str | None:
    """Whose studies ``folder`` holds: ``"bench"`` (its settings; a bench holds a journal too, so this is
    asked first), ``"study"`` (compare's journal), or None."""
    from optimlab.bench import is_bench
    from optimlab.study.storage import JOURNAL_NAME  # loads optuna: only for a folder that exists

    if is_bench(folder):
        return "bench"
    return "study" if (folder / JOURNAL_NAME).is_file() else None


def _holds_study(folder: Path) -> bool:
    """Whether ``folder`` holds any study (:func:`studies_held`): the predicate the output folders pass."""
    return studies_held(folder) is not None


def _own_folder(text: str, holds: Callable[[Path], bool], what: str, own: Callable[[Path], bool]) -> Path:
    """An output folder to write that holds no ``what``: a run and a study in one folder each wrote their
    page as report.html over the other's, and ``optimlab report`` read the folder as one of them. A folder
    of other files, not the verb's ``own`` work, is refused too: a user's model.pt or report.html there
    was written over without a word."""
    path = writable_folder(text)
    if path.is_dir() and holds(path):
        raise typer.BadParameter(f"{text!r} holds {what}: give a folder of its own")
    if (shown := others_shown(path, own)) is not None:
        raise typer.BadParameter(f"{text!r} holds other files ({shown}): give a new or empty folder")
    return path


def study_folder(text: str) -> Path:
    """compare's and bench's output folder, which holds no run and no study yet: a second comparison's
    report and tables were written over the first's (a bench's settings over the first's), while
    --resume continued both."""
    path = _own_folder(text, is_run_folder, "a training run", _holds_study)
    if path.is_dir() and _holds_study(path):
        from optimlab.bench.settings import resume_command

        raise typer.BadParameter(
            f"{text!r} already holds a study: continue it with `{resume_command(path)}`, or give a folder "
            "of its own"
        )
    return path


def run_folder(text: str) -> Path:
    """train's output folder: new, empty, or a run's (which train goes on with or refuses)."""
    return _own_folder(text, _holds_study, "a study (of compare or bench)", is_run_folder)


def writable_file(*suffixes: str) -> Callable[[str], Path]:
    """An output file with one of ``suffixes``, in a place that may be written."""

    def parse(text: str) -> Path:
        text = _printable(text)
        path = _as_created(_path(text))
        if path.suffix.lower() not in suffixes:
            raise typer.BadParameter(f"{text!r}: accepted a file ending in {' or '.join(suffixes)}")
        if path.is_dir():
            raise typer.BadParameter(f"{text!r} is a folder; give a file")
        if path.exists() and not os.access(path, os.W_OK):
            raise typer.BadParameter(f"cannot write {text!r}: permission denied")
        _writable_place(path, text)
        return path

    return parse


def device(text: str) -> str:
    """A device this machine has: torch is imported only to check a GPU that was asked for."""
    name = text.strip().lower()
    if not DEVICE.match(name):
        raise typer.BadParameter(f"{text!r} is not a device: accepted {DEVICES}")
    if name in ("auto", "cpu"):
        return name
    from optimlab.build import resolve_device

    try:
        resolve_device(name)
    except InvalidValueError as error:
        raise typer.BadParameter(f"{text!r}: accepted {error.accepted}") from None
    return name


def storage_url(text: str) -> str:
    """An RDB URL whose database kind SQLAlchemy knows; a SQLite file's folder must exist."""
    # loads optuna: only for a URL given
    from optimlab.study.storage import mistyped_url, sqlite_database, sqlite_folder_refused, without_passwords

    shown = without_passwords(text)  # in every message: a password stays off the terminal
    scheme, separator, rest = text.partition("://")
    if scheme.lower().startswith("sqlite") and rest.lstrip("/") in ("", ":memory:"):  # not sqlite:///:memory:
        raise typer.BadParameter(f"{shown!r}: a study needs a SQLite file, e.g. sqlite:///runs/studies.db")
    if (meant := mistyped_url(text)) is not None:
        raise typer.BadParameter(f"{shown!r} is not a storage{did_you_mean([meant])}")
    if not separator or scheme.split("+")[0].lower() not in DATABASES or not rest:
        raise typer.BadParameter(f"{shown!r} is not a storage: accepted {STORAGE_EXAMPLE}")
    database = sqlite_database(text)  # the file a URI form (sqlite:///file:PATH?uri=true) names too
    if database is not None:
        path = _path(database)
        if refused := sqlite_folder_refused(text):
            raise typer.BadParameter(refused)
        if not path.parent.is_dir():
            raise typer.BadParameter(
                f"{shown!r}: the folder {str(path.parent)!r} of the SQLite file does not exist"
            )
    return text


def _url_like(text: str) -> bool:
    """``notaurl:::`` or ``postgresql:/host``: meant as a URL, never as a folder to create."""
    return ":" in text and not Path(text).exists()


def existing_location(text: str) -> str:
    """A storage URL (checked where it is opened), or a folder or file that exists."""
    if "://" in text or _url_like(text):
        return text
    if not _path(text).exists():
        raise typer.BadParameter(f"{text!r} does not exist")
    return text


def location(text: str) -> str:
    """A storage URL (checked) or a folder (written into)."""
    return storage_url(text) if "://" in text or _url_like(text) else str(writable_folder(text))


def study_location(text: str) -> str:
    """Where studies already are: a storage URL, or a folder that holds a study journal."""
    if "://" in text or _url_like(text):
        url = storage_url(text)
        from optimlab.study.storage import sqlite_database

        database = sqlite_database(url)
        if database is not None and not _path(database).is_file():
            raise typer.BadParameter(f"{text!r}: no SQLite file there, so no study")
        return url
    folder = _path(text)
    if not folder.is_dir():
        raise typer.BadParameter(f"{text!r} is not a folder: give the --out folder of `optimlab compare`")
    from optimlab.study.storage import JOURNAL_NAME  # loads optuna: only for a folder that exists

    if not (folder / JOURNAL_NAME).is_file():
        # a folder of that name was said to be missing
        why = (
            f"its {JOURNAL_NAME} is not a file" if (folder / JOURNAL_NAME).exists() else f"no {JOURNAL_NAME}"
        )
        raise typer.BadParameter(
            f"{text!r} holds no study ({why}): give the --out folder of `optimlab compare` "
            f"or {STORAGE_EXAMPLE}"
        )
    return text
