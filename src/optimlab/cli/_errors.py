"""The CLI's one error path: every expected failure becomes one plain line on stderr and exit code 2
(5 for a file the disk had no room for).

Expected failures are the user's to fix: a bad flag or value (click's usage errors, optimlab's errors),
a file or folder that cannot be read or written, a file that is not what it claims to be, a storage
that cannot be reached, a model or run too large for the memory. Anything else is a bug in optimlab and
keeps its traceback. Set ``OPTIMLAB_DEBUG=1`` to see the traceback of an expected failure too. A file
that a flag asks for beside the results (--html, --plot) and that cannot be written is said after them
(:class:`FileAsked`), exit code 5; so is any write the disk has no room for (:func:`room_refused`).
"""

from __future__ import annotations

import os
import pickle
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from optimlab.atomic import NO_ROOM
from optimlab.errors import OptimlabError

if TYPE_CHECKING:
    from optimlab.cli._output import Output

DEBUG_VARIABLE = "OPTIMLAB_DEBUG"
USAGE_ERROR = 2  # click's code for a bad call; every expected failure shares it
# torch's messages for a CPU allocation refused: too large a tensor, or too many of them
CPU_ALLOCATION_FAILED = ("DefaultCPUAllocator: can't allocate memory", "std::bad_alloc")
# torch's message for a size past its 64-bit integers (a width of 1e23): more than any memory holds
SIZE_OVERFLOW = "Overflow when unpacking long"
ALLOCATION = re.compile(r"tried to allocate ([\d.]+) ?(\w+)", re.IGNORECASE)
INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C (128 + SIGINT)
# a file of the verb's results is not written (a full disk): the page its flag asked for (--html, --plot),
# its results printed whole (a full disk after a doctor's examination was 2, a bad call, with the findings
# thrown away), or a run's or a comparison's own file, the line saying what is kept and how to continue
FILE_NOT_WRITTEN = 5


def stopping() -> None:
    """The verb is ending on an interruption: a further Ctrl-C or SIGTERM (pressed twice, sent twice) is
    ignored from here, where it cut the line that says what is kept with a KeyboardInterrupt traceback."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


class Interrupted(Exception):
    """Ctrl-C while a verb's work is kept on disk: the message says how to continue it."""


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def one_line(text: str) -> str:
    """Multi-line messages (a recipe's list of bad fields) joined into one line."""
    head, *rest = [line.strip() for line in str(text).splitlines() if line.strip()] or [""]
    if not rest:
        return head
    return head + (" " if head.endswith(":") else "; ") + "; ".join(rest)


def _where(error: OSError) -> str:
    """The file (or the two files, a rename's) the OS named in ``error``; empty where it named none."""
    names = [name for name in (error.filename, error.filename2) if name is not None]
    return " -> ".join(repr(os.fsdecode(name)) for name in names)


def _os_message(error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"{_where(error)}: {reason}" if _where(error) else reason


def room_refused(error: BaseException) -> bool:
    """``error`` is the OS's refusal of a write for want of room (a full disk, a quota, a file-size limit),
    or optimlab's line said in its place (train's, with the command that resumes the run; compare's, with
    the one that writes its page): the results are computed, a file of them is not written."""
    behind = (error.__cause__ or error.__context__) if isinstance(error, OptimlabError) else error
    return isinstance(behind, OSError) and behind.errno in NO_ROOM


def _storage_error(error: BaseException) -> bool:
    """Optuna's and SQLAlchemy's errors, looked up only when those libraries are already loaded."""
    optuna = sys.modules.get("optuna.exceptions")
    sqlalchemy = sys.modules.get("sqlalchemy.exc")
    return (optuna is not None and isinstance(error, optuna.OptunaError)) or (
        sqlalchemy is not None and isinstance(error, sqlalchemy.SQLAlchemyError)
    )


def _yaml_error(error: BaseException) -> bool:
    yaml = sys.modules.get("yaml")
    return yaml is not None and isinstance(error, yaml.YAMLError)


def _out_of_memory(error: BaseException) -> bool:
    """Python's MemoryError, or torch's: a GPU's OutOfMemoryError, a CPU allocation refused (RuntimeError),
    a tensor size past 2^63 (TypeError)."""
    torch = sys.modules.get("torch")
    return (
        isinstance(error, MemoryError)
        or (torch is not None and isinstance(error, torch.OutOfMemoryError))
        or (isinstance(error, RuntimeError) and any(s in str(error) for s in CPU_ALLOCATION_FAILED))
        or (isinstance(error, TypeError) and SIZE_OVERFLOW in str(error))
    )


def _asked(message: str) -> str:
    """`` (1,490,116 GiB asked for)`` from torch's "tried to allocate N bytes" (CPU) or "Tried to allocate
    2.00 GiB" (GPU); empty when the message does not say."""
    found = ALLOCATION.search(message)
    if found is None:
        return ""
    size, unit = found.groups()
    return (
        f" ({float(size) / 2**30:,.1f} GiB asked for)" if unit == "bytes" else f" ({size} {unit} asked for)"
    )


def expected_message(error: BaseException, verb: str = "optimlab") -> str | None:
    """The one line that explains an expected failure, or None for a bug (which keeps its traceback).
    ``verb``: the command typed, for an error of click's that carries no context ("requires an argument")."""
    if isinstance(error, typer.TyperException):  # a bad call: unknown verb or flag, a value rejected
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else verb
        return f"{one_line(error.format_message())} (see '{command} -h')"
    if isinstance(error, OptimlabError):
        return one_line(str(error))
    if isinstance(error, OSError) and room_refused(error):
        named = f" {_where(error)}" if _where(error) else ""
        return f"cannot write{named}: {error.strerror or error}; once there is room, run the command again"
    if isinstance(error, OSError):
        return _os_message(error)
    if isinstance(error, UnicodeDecodeError):
        return f"a file expected to be text is binary or not UTF-8 ({error.reason} at byte {error.start})"
    if _yaml_error(error):
        from optimlab.recipe import yaml_problem

        return f"a file is not valid YAML: {yaml_problem(error)}"
    if _out_of_memory(error):
        return f"out of memory{_asked(str(error))}: make the model (--width, --depth), the batch or the run smaller"
    if isinstance(error, EOFError):
        return "a file ended early: it is truncated or empty"
    if isinstance(error, pickle.UnpicklingError):
        return f"a file expected to be a PyTorch checkpoint is corrupted or not one: {one_line(str(error))}"
    if _storage_error(error):
        return f"storage error: {one_line(str(error))}"
    return None


class FileAsked:
    """The file ``flag`` asks for at ``path`` (None: not given) beside a verb's results (doctor --html,
    lr-find --plot, a gallery's --out page): :meth:`write` keeps the OS's refusal, the verb prints its results
    whole (``written`` None where refused), then :meth:`end` says the refusal in one line, with what is
    ``kept``, and exits :data:`FILE_NOT_WRITTEN`."""

    def __init__(self, flag: str, path: Path | None, kept: str = "the results printed are whole") -> None:
        self.flag = flag
        self.path = path
        self.kept = kept
        self.refused: str | None = None  # the line that says why the file is not written

    def write(self, write: Callable[[Path], object]) -> None:
        """``write(path)``, where the flag was given; an OS refusal (a full disk) is kept for :meth:`end`."""
        if self.path is None:
            return
        try:
            write(self.path)
        except OSError as error:
            self.refuse(error)

    def refuse(self, error: OSError, path: Path | None = None) -> None:
        """Keep the OS's refusal of the file (``path``: the one refused, where it is not :attr:`path` itself,
        a page's numbers beside it) for :meth:`end`."""
        refused = os.fspath(path or self.path)
        self.refused = f"cannot write {self.flag} {refused!r}: {error.strerror or error}; {self.kept}"

    @property
    def written(self) -> Path | None:
        """The file's path, where it was written."""
        return self.path if self.refused is None else None

    def end(self, output: Output, verdict: int | None = None) -> None:
        """After the results: the refusal said, and the verb's exit: ``verdict`` (a code the user asked for,
        doctor's --fail-on) over :data:`FILE_NOT_WRITTEN`; a file written and no verdict, none."""
        if self.refused is not None:
            output.error(self.refused)
        code = verdict or (FILE_NOT_WRITTEN if self.refused is not None else None)
        if code is not None:
            sys.exit(code)


def report(error: BaseException, verb: str = "optimlab") -> int:
    """Print the line for ``error`` on stderr and return the exit code; re-raise a bug."""
    if isinstance(error, typer.Abort) and isinstance(error.__cause__, EOFError):
        error = error.__cause__  # typer turns every EOFError (a truncated file, too) into Abort
    if isinstance(error, (KeyboardInterrupt, typer.Abort, Interrupted)):
        # stdout stays empty, as on every failure, unless work is kept (``_progress.resumable``: a document
        # with the command that continues it): a {"status": "interrupted"} of doctor read as no findings
        # (`jq '.findings | length'` says 0), where an empty stdout and exit 130 tell a pipeline it failed
        stopping()
        print("interrupted" + (f": {error}" if isinstance(error, Interrupted) else ""), file=sys.stderr)
        return INTERRUPTED
    message = expected_message(error, verb)
    if message is None or debugging():
        raise error
    validated = isinstance(error, (typer.TyperException, OptimlabError))  # the message is the whole story
    hint = "" if validated else f" (set {DEBUG_VARIABLE}=1 to see the traceback)"
    print(f"error: {message}{hint}", file=sys.stderr)
    return FILE_NOT_WRITTEN if room_refused(error) else USAGE_ERROR
