"""The ``optimlab`` application: verbs registered here; every expected failure is one line (``_errors``).

Verb modules import only typer and the CLI's own light modules at start-up; torch, optuna and
matplotlib load inside the verb that needs them, so ``--help``, ``list`` and a rejected flag answer fast.
Set ``OPTIMLAB_DEBUG=1`` to see the full traceback of an error.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import io
import os
import re
import signal
import sys
import warnings
from types import FrameType
from typing import Annotated

import typer

from optimlab import __version__
from optimlab.cli import (
    bench_cmd,
    compare_cmd,
    doctor_cmd,
    gallery_cmd,
    list_cmd,
    lr_find_cmd,
    plot_schedule,
    report_cmd,
    train_cmd,
    worker_cmd,
)
from optimlab.cli._errors import (
    DEBUG_VARIABLE,
    FILE_NOT_WRITTEN,
    INTERRUPTED,
    USAGE_ERROR,
    report,
    stopping,
)
from optimlab.cli._options import CONTEXT, epilog, show_defaults
from optimlab.cli._verb import Verb, VerbGroup
from optimlab.errors import InvalidValueError, OptimlabWarning

EXIT_STATUS = f"""Exit status ('optimlab VERB -h' shows each verb's options and examples):
  0    done
  {doctor_cmd.FINDINGS_FOUND:<3}  the job failed: doctor --fail-on found findings that severe, or
       every trial, or every seed rerun, of a study failed (compare,
       bench: no result)
  {USAGE_ERROR:<3}  a bad call or input, named on one line of stderr
       ({DEBUG_VARIABLE}=1 adds the traceback)
  {train_cmd.DIVERGED:<3}  train: the run diverged (its results are kept)
  {train_cmd.TRACKER_FAILED:<3}  train: the run completed, but a tracker (--log) lacks part of
       it (stderr says why; 'optimlab report RUN --log NAME' sends
       it again)
  {FILE_NOT_WRITTEN:<3}  a file could not be written (a full disk): doctor --html,
       lr-find --plot, gallery run print their results whole first;
       for any verb, one line of stderr names the file, the reason,
       what is kept and how to go on (train: its --resume; compare:
       the 'optimlab report' that writes its page)
  {INTERRUPTED:<3}  interrupted (Ctrl-C, SIGTERM); where work is kept, a line says how
       to continue it
"""
app = typer.Typer(
    name="optimlab",
    cls=VerbGroup,
    rich_markup_mode=None,
    context_settings=CONTEXT,
    help="Optimization of deep-learning training: every technique by name.",
    epilog=epilog(EXIT_STATUS),
)


def _show_version(value: bool) -> None:
    if value:
        print(f"optimlab {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Optimization of deep-learning training: every technique by name."""
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())


app.command("list", cls=Verb, epilog=epilog(list_cmd.EXAMPLES))(list_cmd.list_techniques)
app.command("train", cls=Verb, epilog=epilog(train_cmd.EXAMPLES))(train_cmd.train)
app.command("doctor", cls=Verb, epilog=epilog(doctor_cmd.EXAMPLES))(doctor_cmd.doctor)
app.command("lr-find", cls=Verb, epilog=epilog(lr_find_cmd.EXAMPLES))(lr_find_cmd.lr_find)
app.command("compare", cls=Verb, epilog=epilog(compare_cmd.EXAMPLES))(compare_cmd.compare)
app.command("worker", cls=Verb, epilog=epilog(worker_cmd.EXAMPLES))(worker_cmd.worker)
app.command("bench", cls=Verb, epilog=epilog(bench_cmd.EXAMPLES))(bench_cmd.bench)
app.add_typer(gallery_cmd.app, name="gallery")
app.command("plot-schedule", cls=Verb, epilog=epilog(plot_schedule.EXAMPLES))(plot_schedule.plot_schedule)
app.command("report", cls=Verb, epilog=epilog(report_cmd.EXAMPLES))(report_cmd.report)

HELP_EXAMPLES = """Examples:
  optimlab help train
  optimlab help gallery run
"""


@app.command("help", cls=Verb, epilog=epilog(HELP_EXAMPLES))
def _help(
    verb: Annotated[
        list[str] | None, typer.Argument(metavar="VERB", help="A verb, e.g. train, or gallery run.")
    ] = None,
) -> None:
    """Show the help of optimlab or of a verb, as -h does."""
    command = _command()
    words = verb or []
    commands = command.commands
    for depth, word in enumerate(words):  # `help train doctor` showed train's and dropped doctor unsaid
        if not commands:
            named = " ".join(words[:depth])
            raise InvalidValueError(
                "VERB",
                " ".join(words),
                f"one verb, e.g. train or gallery run ({named!r} has none under it: ask one help at a time)",
            )
        if word not in commands:
            break  # click refuses it, with the close matches
        commands = getattr(commands[word], "commands", {})
    command.main(args=[*words, "-h"], prog_name="optimlab", standalone_mode=False)


_WARNINGS_SAID: set[str] = set()  # by the verb running: a comparison's trials built one batch size 8 times


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """optimlab's own warnings (a damaged checkpoint or journal record set aside) as one ``warning:``
    line on stderr, like errors, each said once a command; other libraries' warnings keep Python's format."""
    if issubclass(category, OptimlabWarning):
        if str(message) not in _WARNINGS_SAID:
            _WARNINGS_SAID.add(str(message))
            print(f"warning: {message}", file=file or sys.stderr)
    else:
        _python_warning(message, category, filename, lineno, file, line)


_python_warning = warnings.showwarning


def _command() -> typer.core.TyperGroup:
    """The click command of :data:`app`, each option's default said in its help (``show_defaults``)."""
    command = typer.main.get_command(app)
    show_defaults(command)
    return command


def _verb(command: typer.core.TyperGroup, argv: list[str]) -> str:
    """``optimlab gallery run``: the verb that ``argv`` names, its groups' words followed down the tree."""
    words, commands = ["optimlab"], command.commands
    for word in argv:
        if word in commands:
            words.append(word)
            commands = getattr(commands[word], "commands", {})
    return " ".join(words)


_INTERRUPTED_IMPORTS: list[int] = []  # the signals that reached an import of this verb


def _terminated(number: int, frame: FrameType | None) -> None:
    """SIGTERM (``kill``, a job scheduler's stop) ends a verb as Ctrl-C does: the work kept, the command
    that continues it printed, exit 130; Python's default ended the process at once, saying nothing. Either
    signal, arriving in an import, is kept (:data:`_INTERRUPTED_IMPORTS`): a module's code there may
    swallow the KeyboardInterrupt (a Ctrl-C in matplotlib's import left numpy half imported), and the error
    that follows (AttributeError: module 'matplotlib' has no attribute ...) is the interruption's, not a
    bug's traceback."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            _INTERRUPTED_IMPORTS.append(number)
            break
        frame = frame.f_back
    raise KeyboardInterrupt


class _DiscardedOnceUnread(io.FileIO):
    """A standard stream's file whose reader may leave early (``optimlab list | head -1``): from then on
    what is written goes to /dev/null, as nobody reads it, and the verb ends with its own exit code, as
    ruff's does (0 under ``set -o pipefail`` for a run that succeeded, where git's SIGPIPE gives 141; a
    diverged run's 3 kept). The BrokenPipeError reached click and rich, which exit 1 whatever the run
    did, or Python's exit, which printed 'Exception ignored ... BrokenPipeError' and exited 120."""

    def write(self, data: bytes) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.fileno())
            os.close(devnull)
            return memoryview(data).nbytes


def _discard_once_unread() -> None:
    """stdout and stderr (both ``2>&1 | head``) written through :class:`_DiscardedOnceUnread`, their
    settings kept (encoding, buffering, a terminal still seen as one)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            descriptor = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file: an IDE's or a test's stream
            continue
        stream.flush()
        raw = _DiscardedOnceUnread(descriptor, "w", closefd=False)
        buffered = isinstance(getattr(stream, "buffer", None), io.BufferedIOBase)  # not PYTHONUNBUFFERED
        setattr(
            sys,
            name,
            io.TextIOWrapper(
                io.BufferedWriter(raw) if buffered else raw,
                encoding=stream.encoding,
                errors=stream.errors,
                line_buffering=stream.line_buffering,
                write_through=stream.write_through,
            ),
        )


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the verb; an expected failure prints one line and exits 2 (see ``_errors``)."""
    if argv is None:  # the command's own process, its output perhaps piped to a reader that leaves early
        _discard_once_unread()
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    # a process started ignoring SIGTERM (trap '' TERM) keeps ignoring it, as StopOnSignal leaves it
    if previous[signal.SIGTERM] is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, _terminated)
    if previous[signal.SIGINT] is signal.default_int_handler:  # Python's own: a KeyboardInterrupt alike
        signal.signal(signal.SIGINT, _terminated)
    try:
        code = _run(argv)
        if argv is None:  # the command's own process: what is left is the interpreter's exit
            _exit_on_signal(code)
        sys.exit(code)
    finally:
        if argv is not None:  # main called in a process that goes on (tests): its handlers back; the
            for number, handler in previous.items():  # command's own keeps ignoring a late signal
                signal.signal(number, handler)  # to its exit (see ``stopping``)


def _exit_on_signal(code: int) -> None:
    """A signal once the verb has ended (its output whole; torch's and the trackers' exit handlers run)
    ends the process at once with the verb's code: it printed a KeyboardInterrupt traceback from an
    exit handler, after a verb that had succeeded."""

    def ended(number: int, frame: object) -> None:
        with contextlib.suppress(OSError, ValueError):  # stdout closed early (a pipe to head)
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)

    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not signal.SIG_IGN:  # an interruption's stop ignores them already
            signal.signal(number, ended)


THREADS_VARIABLE = "OMP_NUM_THREADS"
# What OpenMP (libgomp, torch's on Linux) takes, per nesting level (4,2): a whole number in ASCII digits
# (strtoul's), of at least 1 and at most a C long's largest (strtoul's value read as a long: 2**63 - 1)
OPENMP_COUNT = re.compile(r"\s*\+?[0-9]+\s*", re.ASCII)
OPENMP_MOST_THREADS = 2**63 - 1


def openmp_reads(value: str) -> bool:
    """Whether OpenMP reads ``value`` of ``OMP_NUM_THREADS`` as thread counts, as libgomp does."""
    return all(
        OPENMP_COUNT.fullmatch(count) and 1 <= int(count) <= OPENMP_MOST_THREADS for count in value.split(",")
    )


def _threads_variable_checked() -> None:
    """An ``OMP_NUM_THREADS`` that OpenMP cannot read (abc, 0, -1) is said in one ``warning:`` line and unset
    before torch loads: libgomp printed only 'Invalid value for environment variable OMP_NUM_THREADS' (no
    value, no accepted one) and went on with every core. A warning, not a refusal: the variable is torch's
    and OpenMP's, every verb's results are the same at any count, and ``-h`` or ``list`` failing on it
    would help nobody."""
    value = os.environ.get(THREADS_VARIABLE)
    if value is None or openmp_reads(value):
        return
    del os.environ[THREADS_VARIABLE]
    print(
        f"warning: {THREADS_VARIABLE}={value!r} is not a thread count: accepted a whole number from 1 to "
        f"{OPENMP_MOST_THREADS} (or one per nesting level, 4,2); optimlab goes on with torch's own count "
        "(a verb's --threads N sets one)",
        file=sys.stderr,
    )


def _run(argv: list[str] | None) -> int:
    warnings.showwarning = _one_line_warning
    _WARNINGS_SAID.clear()
    _INTERRUPTED_IMPORTS.clear()
    _threads_variable_checked()
    # Interpreter exit runs a last garbage collection over every object alive, torch's thousands of
    # functions and tables included: about 0.4-0.8 s of a command's wall time (benchmarks/cli_startup.py).
    # Freezing them at exit skips it. A verb closes what it writes itself, exit handlers (the MLflow
    # writer's) still run, and Python promises no finalizers of objects alive at exit anyway.
    atexit.unregister(gc.freeze)  # once, however often main runs in one process
    atexit.register(gc.freeze)
    try:  # reads every verb's options, 0.07 s of each start, where a Ctrl-C printed a traceback
        command = _command()
    except KeyboardInterrupt as error:
        return report(error)
    try:
        code = command.main(args=argv, prog_name="optimlab", standalone_mode=False)
        if code == INTERRUPTED:  # typer turns a KeyboardInterrupt into this code alone
            code = report(KeyboardInterrupt())
    except Exception as error:
        if _INTERRUPTED_IMPORTS and isinstance(error, (ImportError, AttributeError)):
            error = KeyboardInterrupt()  # an import the signal cut short, read again
        code = report(error, _verb(command, sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt as error:
        stopping()
        code = report(error)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    main()
