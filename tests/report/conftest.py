"""Reading a written page as its reader does: its tables (caption, header, rows of cell text, each row's
class) and the rings of its figures, through the standard library's HTML parser."""

from __future__ import annotations

import dataclasses
import html.parser

import pytest


@dataclasses.dataclass
class Table:
    caption: str = ""
    header: list[str] = dataclasses.field(default_factory=list)
    rows: list[list[str]] = dataclasses.field(default_factory=list)
    classes: list[str] = dataclasses.field(default_factory=list)

    def records(self) -> list[dict[str, str]]:
        """Each row as ``{column: text}``; a repeated column name gets its number: ``at step 2``."""
        names = [h if self.header.index(h) == i else f"{h} {i}" for i, h in enumerate(self.header)]
        return [dict(zip(names, row, strict=True)) for row in self.rows]


class PageReader(html.parser.HTMLParser):
    """The tables, the section headings, and the hover text of each figure's ringed points."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.headings: list[str] = []
        self.rings: list[str] = []
        self._text: list[str] | None = None  # the text being collected: of a cell, caption, heading, title
        self._in_head = self._in_ring = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(Table())
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self.tables[-1].rows.append([])
            self.tables[-1].classes.append(dict(attrs).get("class") or "")
        elif tag == "circle":
            self._in_ring = True
        if tag in ("td", "th", "caption", "h2") or (tag == "title" and self._in_ring):
            self._text = []

    def handle_endtag(self, tag):
        if tag in ("thead", "circle"):
            self._in_head = self._in_ring = False
        if self._text is None or tag not in ("td", "th", "caption", "h2", "title"):
            return
        text, self._text = "".join(self._text).strip(), None
        if tag == "h2":
            self.headings.append(text)
        elif tag == "title":
            self.rings.append(text)
        elif tag == "caption":
            self.tables[-1].caption = text
        elif tag == "th":
            self.tables[-1].header.append(text)
        else:
            self.tables[-1].rows[-1].append(text)

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def read_page(text: str) -> PageReader:
    reader = PageReader()
    reader.feed(text)
    reader.close()
    return reader


@pytest.fixture
def page_reader():
    return read_page
