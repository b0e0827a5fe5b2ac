"""The one object verbs print through: human tables, or one JSON document with ``--format json``."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from optimlab import terminal
from optimlab.number_text import count_of

MAX_WORD = 24  # a column keeps at least its longest word, up to this many characters
# A folded column keeps at least this many characters (or its widest text, where narrower): a terminal
# narrower than the table as laid out so gets each row as a block of 'column: value' lines. rich gave
# compare's 8 columns at COLUMNS=20 a width of 0 each, and printed the title and the rule, no row.
MIN_FOLDED = 6
REDRAW_SECONDS = 0.2  # a long step's counter is redrawn at most this often


class Update(Protocol):
    """What :meth:`Output.working` yields: replace the message, with how far its step is."""

    def __call__(self, message: str, done: int | None = None, total: int | None = None) -> None: ...


def typed_command() -> str:
    """The command line as typed, for a page to keep: ``optimlab VERB ...`` (not the executable's path),
    quoted for a POSIX shell so that a space or ``&`` in an argument (an --out) pastes back as typed. A byte
    that is not UTF-8 (a file named ``rec\\xff.yaml``, which Python holds as a lone surrogate no page or
    JSON file can encode: a traceback after training) is written as its escape, the four characters
    ``\\xff``, which the shell reads back as those characters, not the byte: such a command names the file
    for the reader, and does not paste back whole."""
    typed = [os.fsencode(argument).decode("utf-8", "backslashreplace") for argument in sys.argv[1:]]
    return shlex.join(["optimlab", *typed])


def _finite(value: Any) -> Any:
    """``value`` with every float that is not finite as None (a missed target, a mean of no seeds)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _strict_json(data: dict[str, Any]) -> str:
    """Strict JSON (RFC 8259): Python's NaN and Infinity, which JavaScript's JSON.parse refuses and jq
    reads as 1.8e308, are null; the row's other columns (``reached 0/3``) say why."""
    return json.dumps(_finite(data), allow_nan=False)


class Output:
    """Prints results as rich tables (human), or as one JSON document that ``json.load`` and ``jq`` read
    (``--format json``): tables given a key are gathered, and the verb's result prints them with its data.
    Messages to stderr are plain text."""

    def __init__(self, fmt: str = "human") -> None:
        self.format = fmt
        # NO_COLOR (no-color.org) set: plain text. rich's own reading of it drops the colours alone, so a
        # terminal still got the tables' bold headers and italic titles as escape codes
        plain = os.environ.get("NO_COLOR", "") != ""
        self.console = terminal.console(highlight=False, color_system=None if plain else "auto")
        self.gathered: dict[str, list[Any]] = {}  # JSON: what the result prints beside its data

    @property
    def human(self) -> bool:
        return self.format != "json"

    def table(
        self,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        key: str | None = None,
        unbroken: Iterable[str] = (),
    ) -> None:
        """``key``: the table's name in the JSON document, a list of rows keyed by ``columns`` (None: a
        table for people only, its data in the result). ``unbroken`` columns (names) are never wrapped;
        the others wrap between words; on a terminal too narrow for that, every column folds."""
        if self.human:
            width = self.console.width
            if self.console.is_terminal:  # too narrow for every word whole: words fold, none is cut off
                table = rich_table(title, columns, rows, unbroken=unbroken, width=width)
            else:  # a file or a pipe (rich assumes 80 columns): as wide as the table needs whole
                table = rich_table(title, columns, rows, unbroken=unbroken)
                self.console.width = _whole_width(title, columns, rows, unbroken=unbroken, width=width)
            self.console.print(table)
            self.console.width = width
        elif key is not None:
            self.gathered[key] = [dict(zip(columns, row, strict=True)) for row in rows]

    def result(self, message: str, data: dict[str, Any] | None = None, *, under: str | None = None) -> None:
        """``message`` for people; in JSON, ``data`` and the tables gathered, printed as the one document
        (``data`` None: the message is for people only). With ``under``, ``data`` is gathered in that
        key's list instead, for the verb's last result to print (one per experiment of a gallery)."""
        if self.human:  # never wrapped: a path or a command split over two lines is no longer one
            self.console.print(message, markup=False, soft_wrap=True)
        elif under is not None:
            self.gathered.setdefault(under, []).append(data)
        elif data is not None:
            from optimlab.atomic import signals_deferred

            # whole or not at all: a signal while a pipe's slow reader takes the document waits for its end
            # (then ends the verb, 130); it left half a document, which no JSON reader takes
            with signals_deferred():
                print(_strict_json({**self.gathered, **data}), flush=True)

    def note(self, message: str) -> None:
        """A line for the person watching (progress, a waiting state): stderr, so JSON stays clean."""
        print(message, file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def working(self, message: str, *, lazy: bool = False, shown: bool = True) -> Iterator[Update]:
        """Show that a long step runs: a spinner on a terminal, else a line on stderr. Yields
        ``update(message, done=None, total=None)``, which replaces the message (the step now running)
        and, on a terminal, shows how far it is (``done`` of ``total`` steps, redrawn at most
        :data:`REDRAW_SECONDS` apart); elsewhere each new message is one line (with its ``total``).
        ``lazy``: off a terminal, the first line waits for the first update, so that input refused
        before the work begins (a data file that does not load) stays one line on stderr.
        ``shown`` False (``--no-progress``): nothing is shown."""
        if not shown:
            yield lambda message, done=None, total=None: None
            return
        if not sys.stderr.isatty():
            shown = [message]
            waiting = [lazy]
            if not lazy:
                self.note(message)

            def note_new(message: str, done: int | None = None, total: int | None = None) -> None:
                if waiting[0]:
                    waiting[0] = False
                    self.note(shown[0])
                if message != shown[0]:
                    shown[0] = message
                    self.note(message if total is None else f"{message} ({count_of(total, 'step')})")

            yield note_new
            return
        with terminal.console(stderr=True).status(message) as status:
            drawn = [message, 0.0]

            def redraw(message: str, done: int | None = None, total: int | None = None) -> None:
                now = time.monotonic()
                if message == drawn[0] and now - drawn[1] < REDRAW_SECONDS and done != total:
                    return
                drawn[:] = message, now
                status.update(message if done is None else f"{message}: step {done:,} of {total:,}")

            yield redraw

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)


def rich_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    unbroken: Iterable[str] = (),
    width: int | None = None,
) -> Any:
    """The human table (a ``rich.table.Table``), for :meth:`Output.table` and live displays. ``unbroken``
    columns (names) are never wrapped; the others wrap between words. ``width`` (a terminal's): where the
    table laid out in it passes its edge, which the terminal cuts off, every column folds at its width
    instead, no word nor ``unbroken`` cell kept whole; where that would leave a column under
    :data:`MIN_FOLDED` characters (:func:`_least_width`), the rows are stacked instead (:func:`_stacked`)."""
    cells = [[_cell(value) for value in row] for row in rows]
    if width is not None and _least_width(columns, cells) > width:
        return _stacked(title, columns, cells)
    fits = width is None or _laid_out_width(_stand_in(title, columns, cells, unbroken), width) <= width
    table = _columns(title, columns, cells, set(unbroken) if fits else None)
    for row in cells:
        table.add_row(*row)
    return table


def _least_width(columns: Sequence[str], cells: list[list[Any]]) -> int:
    """The width of the table of ``columns`` and ``cells`` as rich lays it out with each column folded at
    :data:`MIN_FOLDED` characters, or at its widest text where that is narrower: the least width in which
    it folds no column narrower."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD)
    for i, column in enumerate(columns):
        texts = [column, *(row[i].plain for row in cells)]
        widest = max((cell_len(line) for text in texts for line in text.splitlines()), default=0)
        table.add_column(column, width=min(widest, MIN_FOLDED), overflow="fold")
    return _laid_out_width(table, 1 << 16)


def _stacked(title: str, columns: Sequence[str], cells: list[list[Any]]) -> Any:
    """The table as blocks, one a row: a ``column: value`` line for each cell (a long value wraps, a long
    word folds), a blank line before each block; no row, a line of the columns' names."""
    from rich.console import Group
    from rich.text import Text

    names = [
        " ".join(column.split()) for column in columns
    ]  # a header of two lines ('held-out\nloss') on one
    lines = [Text(title, overflow="fold")]
    if not cells:
        lines.append(Text.assemble(("columns: ", "bold"), ", ".join(names), " (no rows)", overflow="fold"))
    for row in cells:
        lines.append(Text(""))
        for name, cell in zip(names, row, strict=True):
            lines.append(Text.assemble((f"{name}: ", "bold"), cell, overflow="fold"))
    return Group(*lines)


def _whole_width(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    unbroken: Iterable[str] = (),
    width: int,
) -> int:
    """The width a file or a pipe gets for :func:`rich_table`'s table: ``width``, or where rich lays the table
    out past it (the console would cut off what passes), the least width it lays the table out in whole.
    The table's measured minimum is a bound only: rich's layout narrows the widest columns first and widens
    those it took under their least width after, past the edge."""
    from rich.measure import Measurement

    stand_in = _stand_in(title, columns, [[_cell(value) for value in row] for row in rows], unbroken)
    if _laid_out_width(stand_in, width) <= width:
        return width
    width = Measurement.get(_measurer(), _measurer().options.update_width(1 << 16), stand_in).minimum
    while (laid_out := _laid_out_width(stand_in, width)) > width:
        width = laid_out  # at most the table's natural width, where nothing is narrowed
    return width


def _columns(title: str, columns: Sequence[str], cells: list[list[Any]], unbroken: set[str] | None) -> Any:
    """A table of ``columns`` and no row, each column as wide as its ``cells`` need whole (``unbroken``
    None: every column folds at its width)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for i, column in enumerate(columns):
        texts = [row[i].plain for row in cells]
        if unbroken is None:
            table.add_column(column, overflow="fold")
        elif column in unbroken:
            table.add_column(column, no_wrap=True, min_width=max(map(len, [column, *texts])))
        else:  # rich wraps at spaces; a column narrower than its longest word (its header's too) would
            # split that word: 'test_accurac' over 'y mean [95%' in compare's leaderboard at 80 columns
            longest_word = max((len(word) for text in [column, *texts] for word in text.split()), default=0)
            table.add_column(column, overflow="fold", min_width=min(longest_word, MAX_WORD))
    return table


def _stand_in(title: str, columns: Sequence[str], cells: list[list[Any]], unbroken: Iterable[str]) -> Any:
    """The table of ``cells`` in at most two rows that rich lays out as wide as the whole, in any width:
    per column, its cell of the longest line and its cell of the longest word. A column's width comes from
    its cells' measures alone, and a text measures its longest word and its longest line; so a render of
    this, not of a leaderboard's 2,000 rows, tells whether the table fits. Piped at 80 columns, a 300-row
    leaderboard printed in 0.47 s, against 3.3 s laying out the whole table until it fit; 2,000 rows in
    3.7 s against 24.8 s (a throwaway timing of Output.table, on a shared 2-core machine)."""
    from rich.measure import Measurement

    console = _measurer()
    options = console.options.update_width(1 << 16)
    table = _columns(title, columns, cells, set(unbroken))
    if cells:
        measured = [
            [(Measurement.get(console, options, cell), cell) for cell in column] for column in zip(*cells)
        ]
        table.add_row(*(max(column, key=lambda m: m[0].maximum)[1] for column in measured))
        table.add_row(*(max(column, key=lambda m: m[0].minimum)[1] for column in measured))
    return table


def _laid_out_width(table: Any, width: int) -> int:
    """The width of ``table`` as rich lays it out in ``width`` columns, before a console cuts off what
    passes the edge."""
    from rich.segment import Segment

    console = _measurer()
    lines = Segment.split_lines(console.render(table, console.options.update_width(width)))
    return max((Segment.get_line_length(line) for line in lines), default=0)


@functools.cache
def _measurer() -> Any:
    """A console that lays tables out to measure them and prints nothing."""
    return terminal.console(file=io.StringIO(), color_system=None)


def _cell(value: Any) -> Any:
    """Plain text: a summary such as 'uniform on [a, b]' must not be read as rich markup."""
    from rich.text import Text

    return Text(f"{value:.4g}" if isinstance(value, float) else str(value))
