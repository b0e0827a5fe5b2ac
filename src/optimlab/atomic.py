"""Files written whole or not at all: a page, a table, a settings or results file that a kill (SIGKILL,
Ctrl-C, a full disk) interrupts keeps its former content, never a cut one that a resume would read as
finished.

The new content goes to a temporary file beside the target (same folder, so same file system), is
fsynced, then renamed over the target (``os.replace``, atomic on POSIX), and the folder is fsynced so the
rename survives a power cut. Each writer has a temporary file of its own: two processes writing one
page (two ``compare --resume`` of one folder) leave one whole page, the last one written. A write that
fails removes its temporary file; a killed one leaves ``.NAME.*.partial`` behind, which nothing reads.

Whether a file can be made at a path at all is asked before the work that writes it (:func:`blocker`):
a refusal said after training lost what it made.

>>> import pathlib, tempfile
>>> page = pathlib.Path(tempfile.mkdtemp()) / "page.html"
>>> write_atomically(page, "<p>whole</p>").read_text()
'<p>whole</p>'
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from optimlab.errors import OptimlabError

__all__ = [
    "NO_ROOM",
    "Blocked",
    "atomic_path",
    "blocker",
    "can_write_into",
    "named_after",
    "signals_deferred",
    "write_atomically",
    "write_refusal_said",
]

_DEFERRED = (signal.SIGINT, signal.SIGTERM)  # held by :func:`signals_deferred`


def _fsync(path: str | os.PathLike[str]) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


# The OS's refusals of a write for want of room: a full disk, a quota, a file-size limit (ulimit -f)
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def named_after(error: OSError, path: str | os.PathLike[str], stand_in: Path | None = None) -> OSError:
    """``error`` of a write the system refused, naming ``path`` where it named no file (a full disk's
    ENOSPC names none) or named ``stand_in``, the temporary file written for ``path`` (a folder at ``path``
    fails its rename, naming it: a file the caller never asked for, and gone); else ``error`` itself."""
    unnamed = error.filename is None or (stand_in is not None and error.filename == str(stand_in))
    if error.errno is None or not unnamed:
        return error
    return OSError(error.errno, error.strerror, str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A fresh temporary path beside ``path`` for the block to write (by any writer that takes a path:
    ``csv``, pyarrow, ``savefig``; give them the format, as the temporary name ends in ``.partial``); when
    the block ends it replaces ``path`` whole. Its missing folders are made first, as ``mkdir -p`` makes
    them (else the error named the hidden partial file). An exception in the block leaves ``path`` as it
    was; a write the system refused (a full disk, a folder at ``path``) is raised naming ``path``, where it
    named no file or the temporary one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask's permissions
    try:
        yield partial
        _fsync(partial)
        os.replace(partial, path)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        if isinstance(error, OSError) and (named := named_after(error, path, partial)) is not error:
            raise named from None  # a full disk names no file, a failed rename the temporary one
        raise
    _fsync(path.parent)


def write_atomically(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all; returns the path."""
    with atomic_path(path) as partial:
        partial.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


@contextlib.contextmanager
def write_refusal_said(
    path: str | os.PathLike[str], kept: str, then: str, *, room_only: bool = True
) -> Iterator[None]:
    """The OS's refusal of a write in the block for want of room (:data:`NO_ROOM`; any refusal where not
    ``room_only``) said in one line: the file it named (:func:`atomic_path` names the one replaced, not
    its temporary file; else ``path``), its reason, what is ``kept``, and ``then``, what writes the file
    once there is room (or once it can be written). Work finished before a results file (a study's trials
    before its page) is kept, and the bare OS line said none of it."""
    try:
        yield
    except OSError as error:
        room = error.errno in NO_ROOM
        if room_only and not room:
            raise
        written = os.fspath(path) if error.filename is None else os.fsdecode(error.filename)
        raise OptimlabError(
            f"cannot write {written!r}: {error.strerror or error}; {kept}: once "
            f"{'there is room' if room else 'it can be written'}, {then}"
        ) from error


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them as they came: for a write and the
    record that it happened (a checkpoint and the previous one it keeps, a gallery page and its entry in
    the index), which a Ctrl-C must not split. A signal sent twice in the block acts once, as it would.
    Main thread only: elsewhere Python delivers no signal anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {number: signal.signal(number, lambda n, _: held.append(n)) for number in _DEFERRED}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(held):
            signal.raise_signal(number)


def _refused(folder: str | os.PathLike[str]) -> str | None:
    """The OS's reason this user cannot make a file in ``folder`` (its strerror: 'Permission denied',
    'Not a directory'), or None where one can be made. Tried: ``os.access`` says yes to root everywhere,
    read-only mounts and ``/proc`` included."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return None
    except OSError as error:
        return error.strerror or str(error)


def can_write_into(folder: str | os.PathLike[str]) -> bool:
    """Whether this user can make a file in ``folder``."""
    return _refused(folder) is None


def _broken_link(link: Path) -> str:
    """Why the symbolic link ``link`` leads nowhere: a loop (the OS's ELOOP), or a target missing."""
    try:
        link.resolve(strict=True)
    except RuntimeError:  # Python 3.11's resolve says a loop so; later ones raise OSError(ELOOP)
        return f"a symbolic link in a loop ({os.strerror(errno.ELOOP)})"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"a symbolic link in a loop ({os.strerror(errno.ELOOP)})"
    return f"a symbolic link to {os.readlink(link)!r}, which does not exist"


class Blocked(NamedTuple):
    """What stops a path being made: the nearest ``path`` at or above it that exists, and the OS's
    ``reason`` (strerror) no file can be made in it ('Not a directory' for a file)."""

    path: Path
    reason: str

    @property
    def what(self) -> str:
        """``path`` in words, for 'PATH is ...': a file, a symbolic link to nothing, a folder refused."""
        if self.path.is_dir():
            return f"a folder no file can be made in ({self.reason})"
        return self.reason if self.path.is_symlink() else "a file, not a folder"


def blocker(path: Path) -> Blocked | None:
    """What stops ``path`` being made, its missing folders as ``mkdir -p`` makes them: the nearest path at
    or above it that exists, where that is a file (``not .is_dir()``), a symbolic link that leads nowhere
    or a folder this user cannot write into, with the reason; None where nothing does."""
    # a symbolic link to nothing, or a loop of them, exists not, and mkdir on it said 'File exists'
    existing = next(p for p in (path, *path.parents) if p.exists() or p.is_symlink())  # "." or "/" exists
    if not existing.exists():
        return Blocked(existing, _broken_link(existing))
    if not existing.is_dir():
        return Blocked(existing, os.strerror(errno.ENOTDIR))  # what mkdir under a file says
    reason = _refused(existing)
    return None if reason is None else Blocked(existing, reason)
