"""The one object verbs print through: human tables on a terminal, or JSON with ``--format json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


class Output:
    """Prints results as rich tables (human) or JSON lines (machines); errors go to stderr."""

    def __init__(self, fmt: str = "human") -> None:
        self.format = fmt
        self.console = Console(highlight=False)
        self.errors = Console(stderr=True, highlight=False)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.format == "json":
            for row in rows:
                print(json.dumps(dict(zip(columns, row, strict=True))))
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(value) for value in row))
        self.console.print(table)

    def result(self, message: str, data: dict[str, Any] | None = None) -> None:
        if self.format == "json":
            print(json.dumps(data if data is not None else {"message": message}))
        else:
            self.console.print(message)

    def error(self, message: str) -> None:
        self.errors.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)


def _cell(value: Any) -> Text:
    """Plain text: a summary such as 'uniform on [a, b]' must not be read as rich markup."""
    return Text(f"{value:.4g}" if isinstance(value, float) else str(value))


def is_terminal() -> bool:
    return sys.stdout.isatty()
