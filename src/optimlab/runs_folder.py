"""Where work is kept when no output is named: ``runs/KIND-LABEL-TIME``, a name of its own; and the
files a run folder holds, by name (``optimlab.train.train`` writes them; reports, trackers and the CLI
read them), its files of JSON lines added to and read back (:func:`add_json_line`, :func:`json_lines`);
and a folder held for the one process writing it (:func:`hold_folder`).

Two commands started within the same second (a script's second ``optimlab.compare``, two ``optimlab
train`` of one recipe) got the same name: the second was refused ("the storage already holds study
..."), or, for a report page, written over the first. The later one now takes ``-2``, ``-3``...
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from optimlab.atomic import blocker, write_atomically
from optimlab.errors import OptimlabError
from optimlab.number_text import named_and_more

__all__ = [
    "COMMANDS_NAME",
    "EVENT_NAME_BYTES",
    "LONGEST_NAME_INSIDE",
    "METRICS_NAME",
    "MODEL_NAME",
    "RECIPE_NAME",
    "RESULT_NAME",
    "RESUME_WITH",
    "SESSIONS_NAME",
    "TENSORBOARD_FOLDER",
    "add_json_line",
    "fresh_path",
    "hold_folder",
    "is_run_folder",
    "json_lines",
    "named_folder",
    "others_shown",
    "resume_command",
    "resumed_by",
    "room_below",
]

RECIPE_NAME = "recipe.yaml"  # the recipe trained, as it resumes
METRICS_NAME = "metrics.jsonl"  # a line per step and per evaluation
MODEL_NAME = "model.pt"  # the final weights (and scaler), written at the end of training
RESULT_NAME = "result.json"  # how the run ended, and its final metrics
SESSIONS_NAME = "sessions.jsonl"  # a resumed run's earlier result.json files, one a line, oldest first
COMMANDS_NAME = "commands.jsonl"  # each `optimlab train` session's command line and whether it resumed
RESUME_WITH = "Resume with: "  # in an interrupted run's message, before its resume_command
TENSORBOARD_FOLDER = "tensorboard"  # in a run's folder: the event files of each run logged there

# The longest name optimlab writes into a folder, with room to spare: atomic_path's temporary
# ".NAME.<8 hex>.partial" of its longest file, a gallery page (".workload_dependence.html.<8 hex>.partial"),
# is 42 bytes; checkpoint.pt, leaderboard.parquet and study.journal.flock are under 20. Room for NAME_MAX
# (255) refused a 3939-byte --out that trained, and a run folder of 3840 bytes or more could not resume.
LONGEST_NAME_INSIDE = 64
# A TensorBoard event file's name, a name written inside as any other (its host name cut to fit);
# TensorBoard reads any name holding "tfevents".
EVENT_NAME_BYTES = LONGEST_NAME_INSIDE


def room_below(folder: Path) -> int:
    """The bytes of the deepest path optimlab writes below ``folder``, from the separator after it: the
    file system's PATH_MAX counts the whole path, and a folder that kept room for one name failed at the
    end on a TensorBoard event file in the run of the folder's name, ``/tensorboard/<name>/<event file>``,
    the deepest path (longer than any name written into ``folder`` itself).

    >>> room_below(Path("runs/iris"))
    82
    """
    run = named_folder(folder).name
    return len(os.fsencode(f"/{TENSORBOARD_FOLDER}/{run}/")) + EVENT_NAME_BYTES


def fresh_path(stem: str, suffix: str = "", *, root: str | Path = "runs") -> Path:
    """``root/STEM-TIME{suffix}`` (the local time to the second), else ``...-TIME-2{suffix}``, ``-3``...
    where that is taken."""
    stem = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = Path(root) / f"{stem}{suffix}", 2
    while path.exists():
        path, n = Path(root) / f"{stem}-{n}{suffix}", n + 1
    return path


def named_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` where its last part names a folder, else (``.``, ``..``, a path ending in ``..``) the
    absolute folder it is (``os.path.abspath``: symlinks kept), whose name a run is known by: a run
    folder given as ``.`` is named after the folder it is, not ''. Only the root folder has no name."""
    path = Path(path)
    return path if path.name not in ("", "..") else Path(os.path.abspath(path))


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a training run: its recipe and its metrics log."""
    path = Path(path)
    return (path / RECIPE_NAME).is_file() and (path / METRICS_NAME).is_file()


def add_json_line(file: Path, value: Any) -> None:
    """Add ``value`` to ``file`` (a run's sessions.jsonl, commands.jsonl) as one JSON line, written whole or
    not at all (the file is made if missing). The lines there are kept as bytes: one that is not UTF-8 is
    for the reader to name, not a refusal of the session that ran. A last line without its newline gets one
    first: the new line glued to it made the file 'Extra data' to every reader after."""
    kept = file.read_bytes() if file.is_file() else b""
    if kept and not kept.endswith(b"\n"):
        kept += b"\n"
    write_atomically(file, kept + json.dumps(value).encode("utf-8") + b"\n")


def json_lines(file: Path) -> list[tuple[int, Any]]:
    """The JSON value of each line of ``file`` that is not blank, with its line number (from 1); a line that
    is not UTF-8 or not JSON raises a ValueError naming that number (json's own 'line 1 column 29' counts
    within the line alone)."""
    values = []
    for number, line in enumerate(file.read_bytes().split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            values.append((number, json.loads(line.decode("utf-8"))))
        except UnicodeDecodeError:
            raise ValueError(f"line {number} is not UTF-8 text") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"line {number} is not JSON: {error.msg} at column {error.colno}") from None
    return values


def others_shown(folder: Path, own: Callable[[Path], bool]) -> str | None:
    """The files ``folder`` holds, ``'a, b/, c and 2 more'`` (a folder with its slash), where they are not
    the ``own`` work of the verb writing there (:func:`is_run_folder` for train); None where it holds
    none. Hidden files (.gitkeep keeping an empty results/ in git, .DS_Store) are no one's work."""
    listed = sorted(folder.iterdir()) if folder.is_dir() else []
    files = [p.name + ("/" if p.is_dir() else "") for p in listed if not p.name.startswith(".")]
    if not files or own(folder):
        return None
    return named_and_more(files, 3)


def resume_command(folder: str | Path) -> str:
    """The command that continues the training run kept in ``folder``, quoted as a shell reads it (a
    folder with a space was two words)."""
    return shlex.join(["optimlab", "train", "--resume", str(folder)])


def resumed_by(message: str, command: str) -> str:
    """An interrupted run's ``message`` with its command to resume (after :data:`RESUME_WITH`) replaced
    by ``command``; a message that says none, as it is."""
    before, said, _ = message.partition(RESUME_WITH)
    return f"{before}{said}{command}" if said else message


@contextlib.contextmanager
def hold_folder(out: Path, by: str) -> Iterator[None]:
    """Hold ``out`` (made if new) for this process, ``by`` ('optimlab train'): a second one is refused while
    this one lives, in a line naming the folder and ``by`` (``flock`` on the folder itself: no file added,
    and the kernel releases it when its holder dies, even by SIGKILL, so no stale claim refuses a later
    resume). Where the file system cannot lock a folder (NFS emulates flock with byte-range locks, which
    need a file opened for writing: EBADF), the folder is not held, as before 98c2cf3: the work goes on.
    Work that fails before writing a file removes the folders it created: a refused recipe left an empty
    ``runs/train-ID-TIME`` behind."""
    blocked = blocker(out)  # a file there said 'File exists'
    if blocked is not None:
        raise OptimlabError(
            f"cannot write to the output folder {str(out)!r}: {str(blocked.path)!r} is {blocked.what}; "
            "choose a folder you can write"
        )
    created = [folder for folder in (out, *out.parents) if not folder.exists()]  # deepest first
    handle = None
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
            handle = os.open(out, os.O_RDONLY)
        except OSError as error:
            raise OptimlabError(
                f"cannot write to the output folder {str(out)!r}: {error.strerror or error}; "
                "choose a folder you can write"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            created = []  # its holder's, which may have made it too and not yet written in it
            raise OptimlabError(
                f"{by} cannot use {str(out)!r}: another optimlab process holds it (a train, a compare or a "
                "bench writing there); wait for it to end, or choose another folder"
            ) from None
        except OSError:  # no lock on this file system (NFS: EBADF): unheld
            pass
        yield
    except BaseException:
        with contextlib.suppress(OSError):  # rmdir removes only empty folders: a file written stays
            for folder in created:
                folder.rmdir()
        raise
    finally:
        if handle is not None:
            os.close(handle)
