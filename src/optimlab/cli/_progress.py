"""The one progress display of the verbs that run studies (compare, bench): a bar of finished trials, and
under it, when given, a table of the results so far."""

from __future__ import annotations

from typing import Any

from optimlab.cli._output import Output


class StudyProgress:
    """A bar counting finished trials over several keys (studies, workloads); a no-op when disabled."""

    def __init__(self, output: Output, enabled: bool) -> None:
        self.output = output
        self.enabled = enabled and output.human
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
        self.live = Live(self.bar, console=self.output.console, refresh_per_second=4)
        self.live.start()

    def update(self, key: str, finished: int, table: Any = None) -> None:
        """``key`` has ``finished`` trials now (the bar names it); ``table`` (a rich renderable) replaces
        the one shown."""
        if self.live is None:
            return
        self.done[key] = finished
        self.bar.update(self.task, completed=sum(self.done.values()), description=key)
        if table is not None:
            from rich.console import Group

            self.live.update(Group(self.bar, table))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def __enter__(self) -> StudyProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
