"""A self-contained HTML page: a title, sections of text, tables and figures, in one file.

Figures are inline SVG (vector, searchable text, no image files); there is no script and no link to
the network, so a report opens offline, from an e-mail or an issue attachment, exactly as written.
Every piece of text is escaped; numbers in tables are shown with 4 significant digits. For papers, the
same figures can also be written as PNG or SVG files (:meth:`Page.save_figures`).

>>> from optimlab.report import Page
>>> page = Page("Run 42").section("Metrics").table(["metric", "value"], [["accuracy", 0.9731]])
>>> '<td class="number">0.9731</td>' in page.render()
True
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimlab.atomic import write_atomically
from optimlab.report.line_chart import LineChart

if TYPE_CHECKING:  # matplotlib is imported only by a page that holds one of its figures
    from matplotlib.figure import Figure

__all__ = ["Page", "without_drawings"]

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
.subtitle{color:#555;margin-top:0}table{border-collapse:collapse;margin:1em 0;font-size:.93em}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.number{text-align:right;font-variant-numeric:tabular-nums}.word{white-space:nowrap}
figure{margin:1.5em 0}figcaption{color:#444;font-size:.9em}
figure svg{max-width:100%;height:auto}tr.error td:first-child{border-left:4px solid #c0392b}
tr.warning td:first-child{border-left:4px solid #e67e22}tr.info td:first-child{border-left:4px solid #2980b9}
.note{color:#666;font-size:.9em}code{background:#f6f6f6;padding:0 .2em}.table{overflow-x:auto}
h1,h2,p,caption,figcaption,li,summary,.long{overflow-wrap:anywhere}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}summary{cursor:pointer;color:#333}
"""


def _file_stem(text: str) -> str:
    """``Learning-rate sensitivity (adam)`` -> ``learning-rate-sensitivity-adam``, at most 60 characters."""
    words = re.findall(r"[a-z0-9]+(?:[-.][a-z0-9]+)*", text.lower())
    return "-".join(words)[:60].strip("-.") or "figure"


_LONG_WORD = 30  # characters: a cell holding a longer word (a run folder's name, a URL) may break it anywhere
# A word a browser would break inside, after a hyphen, a slash or a dash (a run named adam-3e-3)
_BREAKABLE_WORD = re.compile(r"(\S*[-/\u2010-\u2014]\S*)")


def _css(text: str) -> str:
    """`` class="long"`` for a cell holding a word too long for a column, which may break it anywhere; every
    other cell wraps between its words only (:func:`_words_whole`). Cells breakable anywhere let the browser
    shrink every column below its words: beside a run named ``a_very_long_run_name_...``, 'completed' was
    written 'complet' / 'ed'. Cells of several words keep wrapping between them: kept on one line, a study's
    leaderboard ('failed trials', 'best config') was wider than a window of 800 px."""
    return ' class="long"' if any(len(word) > _LONG_WORD for word in text.split()) else ""


def _words_whole(text: str) -> str:
    """``text`` escaped, each word a browser would break inside (at a hyphen or a slash) kept on one line
    unless the cell is long (:func:`_css`): a squeezed table broke a run named adam-3e-3, and a gallery
    check's 'back-propagated', there."""
    if _css(text):
        return html.escape(text)
    pieces = _BREAKABLE_WORD.split(text)  # every odd piece is such a word
    return "".join(
        f'<span class="word">{html.escape(piece)}</span>' if i % 2 else html.escape(piece)
        for i, piece in enumerate(pieces)
    )


def _header(text: str) -> str:
    """A column's name, escaped, its words whole (:func:`_words_whole`) but free to break after an
    underscore: metric names hold no space (``val_accuracy``), and a run's results table of 9 such columns
    was 801 px wide, past a window of 800."""
    return _words_whole(text).replace("_", "_<wbr>")


def _cell(value: Any) -> tuple[str, bool]:
    """(HTML of the cell's text, is a number)."""
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else f"{value:.4g}"), True
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), True
    return _words_whole("" if value is None else str(value)), False


class _Drawing:
    """A figure of a page and its caption (HTML), drawn as SVG once, when the page is first rendered: a
    gallery page kept by --resume is compared in words first (:func:`without_drawings`), and drawing its
    figures took 16.5 of the 26 s of resuming 15 kept pages at size tiny."""

    def __init__(self, figure: Figure | LineChart, caption: str) -> None:
        self.figure, self.caption, self._svg = figure, caption, ""

    def html(self, drawn: bool) -> str:
        if drawn and not self._svg:
            if isinstance(self.figure, LineChart):
                self._svg = self.figure.svg
            else:
                from optimlab.report.figures import to_svg

                self._svg = to_svg(self.figure)
        return f"<figure>{self._svg if drawn else ''}{self.caption}</figure>"


def without_drawings(document: str) -> str:
    """A rendered page's HTML ``document`` without its figures' drawings, as ``render(drawn=False)`` gives
    it."""
    return re.sub(r"<figure><svg.*?</svg>\s*", "<figure>", document, flags=re.DOTALL)


_TWO_CELLS = re.compile(r"<tr><td>(.*?)</td><td[^>]*>(.*?)</td></tr>")


def label_value_rows(path: str | Path) -> list[tuple[str, str]]:
    """The (label, value) rows of the two-column tables of the page written at ``path``, as text (tags
    dropped, entities read); [] where no page can be read there."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    return [
        (html.unescape(re.sub(r"<[^>]+>", "", label)), html.unescape(re.sub(r"<[^>]+>", "", value)))
        for label, value in _TWO_CELLS.findall(text)
    ]


class Page:
    """Blocks appended in order, rendered to one HTML document. Each method returns the page."""

    def __init__(self, title: str, subtitle: str | None = None) -> None:
        self.title = title
        self._blocks: list[str | _Drawing] = [f"<h1>{html.escape(title)}</h1>"]
        self._figures: list[tuple[str, Figure | LineChart]] = []  # (file stem, figure), for save_figures
        if subtitle:
            self._blocks.append(f'<p class="subtitle">{html.escape(subtitle)}</p>')

    def section(self, heading: str, text: str | None = None) -> Page:
        """A new section heading, optionally followed by a paragraph."""
        self._blocks.append(f"<h2>{html.escape(heading)}</h2>")
        return self.paragraph(text) if text else self

    def paragraph(self, text: str, *, note: bool = False) -> Page:
        """A paragraph of plain text (escaped); ``note`` sets it in small grey type."""
        css = ' class="note"' if note else ""
        self._blocks.append(f"<p{css}>{html.escape(text)}</p>")
        return self

    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        row_classes: Sequence[str] | None = None,
        caption: str | None = None,
    ) -> Page:
        """A table; ``row_classes`` tags rows (``error``/``warning``/``info`` get a coloured edge). A table
        wider than the page (many metrics, long numbers) scrolls within its own box; the page keeps its
        width."""
        head = "".join(f"<th{_css(str(c))}>{_header(str(c))}</th>" for c in columns)
        body = []
        for i, row in enumerate(rows):
            cells = []
            for value in row:
                text, number = _cell(value)
                cells.append(
                    f'<td class="number">{text}</td>' if number else f"<td{_css(str(value))}>{text}</td>"
                )
            css = f' class="{html.escape(row_classes[i])}"' if row_classes else ""
            body.append(f"<tr{css}>{''.join(cells)}</tr>")
        title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._blocks.append(
            f'<div class="table"><table>{title}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table></div>"
        )
        return self

    def figure(
        self, figure: Figure | LineChart, caption: str | None = None, *, name: str | None = None
    ) -> Page:
        """A matplotlib figure or a :class:`~optimlab.report.line_chart.LineChart`, inlined as SVG (drawn
        when the page is first rendered); ``name`` is its file stem in :meth:`save_figures`."""
        self._blocks.append(
            _Drawing(figure, f"<figcaption>{html.escape(caption)}</figcaption>" if caption else "")
        )
        number = len(self._figures) + 1
        self._figures.append((f"{number:02d}-{_file_stem(name or caption or 'figure')}", figure))
        return self

    def links(self, items: Sequence[tuple[str, str, str]]) -> Page:
        """A list of ``(href, link text, text after the link)``, every piece escaped."""
        entries = "".join(
            f'<li><a href="{html.escape(href, quote=True)}">{html.escape(text)}</a> {html.escape(after)}</li>'
            for href, text, after in items
        )
        self._blocks.append(f"<ul>{entries}</ul>")
        return self

    def code(self, text: str, *, summary: str | None = None) -> Page:
        """Preformatted text (a recipe's YAML); with ``summary``, folded under it until clicked."""
        block = f"<pre>{html.escape(text)}</pre>"
        if summary:
            block = f"<details><summary>{html.escape(summary)}</summary>{block}</details>"
        self._blocks.append(block)
        return self

    def save_figures(self, folder: str | os.PathLike[str], fmt: str = "png") -> list[Path]:
        """Write every figure of the page to ``folder`` as ``NN-name.png`` (or ``.svg``), in page order;
        a line chart is drawn as SVG only, so it is written as ``NN-name.svg`` whatever ``fmt``."""
        from optimlab.report.figures import save

        folder = Path(folder)
        return [
            figure.save(folder / f"{stem}.svg")
            if isinstance(figure, LineChart)
            else save(figure, folder / f"{stem}.{fmt}")
            for stem, figure in self._figures
        ]

    def render(self, *, drawn: bool = True) -> str:
        """The HTML document; not ``drawn``, its figures without their drawings (captions kept), as
        :func:`without_drawings` reads a page: its words, compared without drawing a figure."""
        body = "\n".join(block if isinstance(block, str) else block.html(drawn) for block in self._blocks)
        return (
            f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(self.title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}\n"
            f"</body>\n</html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` (folders created), whole or not at all; returns the path."""
        path = Path(path)
        return write_atomically(path, self.render())
