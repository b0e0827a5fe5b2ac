"""What the verbs that run studies (compare, bench) show: one progress display (a bar of finished trials,
and under it, when given, a table of the results so far), a study whose every trial (or every seed
rerun) failed, and the command that continues one stopped by Ctrl-C."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from optimlab import terminal
from optimlab.cli._errors import Interrupted, stopping
from optimlab.cli._output import Output, rich_table

if TYPE_CHECKING:
    from optimlab.study import StudyResult

ALL_FAILED = 1  # exit code when a study has no trial, or no seed rerun, that finished well: no result


def exit_if_all_failed(output: Output, results: Sequence[StudyResult]) -> None:
    """A study whose every trial failed, or every seed rerun (no method has a result: its leaderboard is
    empty), says so and why (its first error), and the verb exits 1."""
    from optimlab.study.run import all_failed

    for result in results:
        if said := all_failed(result):
            output.error(said)
            sys.exit(ALL_FAILED)


@contextlib.contextmanager
def resumable(
    output: Output,
    resume_command: Callable[[], str | None],
    kept: str = "the finished trials are kept",
    report_command: Callable[[], str | None] = lambda: None,
) -> Iterator[None]:
    """Ctrl-C in the block ends the verb saying what is ``kept`` and how to continue: ``resume_command()``,
    once the work is kept somewhere (None before: a plain interruption), and how to see it so far:
    ``report_command()`` (None: not said). With ``--format json``, stdout still gets its one document:
    the status and the commands (it was empty, which no JSON reader takes)."""
    try:
        yield
    except KeyboardInterrupt:
        stopping()
        command = resume_command()
        if command is None:
            raise
        report = report_command()
        if not output.human:  # for people, the line below says it all (an empty line on stdout did not)
            output.result(
                "", {"status": "interrupted", "resume": command, **({"report": report} if report else {})}
            )
        seen = f"; `{report}` shows them so far" if report else ""
        raise Interrupted(f"{kept}{seen}; continue with `{command}`") from None


class StudyProgress:
    """A bar counting finished trials over several keys (studies, workloads); a no-op when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled  # on stderr, beside a JSON document on stdout too
        self.done: dict[str, int] = {}
        self.live: Any = None

    def start(self, description: str, total: int) -> None:
        if not self.enabled:
            return
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )
        self.task = self.bar.add_task(description, total=total)
        # stderr, as every progress display: stdout holds the results alone
        self.live = Live(self.bar, console=terminal.console(stderr=True), refresh_per_second=4)
        self.live.start()

    def update(
        self, key: str, finished: int, table: tuple[str, Sequence[str], Sequence[Sequence[Any]]] | None = None
    ) -> None:
        """``key`` has ``finished`` trials now (the bar names it); ``table`` (title, columns, rows) replaces
        the table shown, folded where the display is too narrow for it whole (as :meth:`Output.table`)."""
        if self.live is None:
            return
        self.done[key] = finished
        self.bar.update(self.task, completed=sum(self.done.values()), description=key)
        if table is not None:
            from rich.console import Group

            shown = rich_table(*table, width=self.live.console.width)
            self.live.update(Group(self.bar, shown))

    def storing(self, key: str, stored: int, total: int) -> None:
        """``key``'s plan has ``stored`` of its ``total`` trials stored (an fsync each, before the first
        runs: a minute for 10^4, the bar at 0 meanwhile); its next :meth:`update` names it again."""
        if self.live is not None:
            self.bar.update(self.task, description=f"{key}: storing the plan: {stored}/{total}")

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            if not self.live.console.is_terminal:  # rich ends only a terminal's display with a newline: in
                self.live.console.line()  # a log, the next line ('interrupted: ...') went on the bar's
            self.live = None

    def __enter__(self) -> StudyProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
