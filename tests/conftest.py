"""Shared test setup: one torch thread per test process (the suite runs under xdist on 2 cores)."""

import dataclasses
import html.parser
import importlib
import os
import random
import signal
import textwrap
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

# Two processes with 2 torch threads each made a training loop 100x slower on this 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch

if TYPE_CHECKING:
    from tests.cli.forked_command import ForkedCommand

torch.set_num_threads(1)

# The suite runs as from a terminal, with Python's Ctrl-C handler, even started as a shell's background job
# (`pytest &` ignores SIGINT): StopOnSignal leaves an ignored SIGINT ignored, so the Ctrl-C tests, and the
# children they start (which inherit it), would run on unstopped.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def seeded_random():
    """Every test starts from the same global random state, whichever worker runs it and in what order:
    a test drawing ``torch.randn`` unseeded sees the same draws in CI as here."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def write_modules(tmp_path_factory):
    """``write_modules(name=source, ...)`` writes the user's modules into a folder on ``sys.path`` (for
    tests that name code by import path, ``mod:attr``) and returns that folder."""
    folder = tmp_path_factory.mktemp("importable")

    def write(**sources: str):
        for name, source in sources.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return folder

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        yield write


USER_PACKAGE_FOLDER = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture
def user_package(monkeypatch):
    """``tests/fixtures`` on ``sys.path`` and ``PYTHONPATH``: the package ``optimlab_userpkg`` (a stable
    MLP, data factories) imports by path here and in every process started from here (workers, Ray)."""
    monkeypatch.syspath_prepend(USER_PACKAGE_FOLDER)
    paths = [USER_PACKAGE_FOLDER, *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return USER_PACKAGE_FOLDER


@pytest.fixture(scope="session")
def forked_parents() -> Iterator[Callable[..., "ForkedCommand"]]:
    """``forked_parents(pythonpath=None, slot=0)``: a parent (tests/cli/forked_command.py) that imported
    the command line once and forks a fresh process per run, started on first use with PYTHONPATH
    ``pythonpath`` (None: the session's) and shared by every test of the session: it runs nothing
    itself, so no run sees another's. Each start costs 4-5 s of CPU (its imports); a parent runs one
    child at a time, so two at once take two ``slot``s."""
    from tests.cli.forked_command import ForkedCommand  # the tests' package: found from the repository root

    session_env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started: dict[tuple[str | None, int], ForkedCommand] = {}

    def parent(pythonpath: str | None = None, slot: int = 0) -> ForkedCommand:
        if (pythonpath, slot) not in started:
            env = session_env if pythonpath is None else {**session_env, "PYTHONPATH": pythonpath}
            started[pythonpath, slot] = ForkedCommand(env)
        return started[pythonpath, slot]

    yield parent
    for each in started.values():
        each.close()


@pytest.fixture
def cli(capsys):
    """The command line run in this process: ``cli("train", "--lr", "inf")`` -> (exit code, stdout, stderr)."""
    from optimlab.cli.app import main

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(list(argv))
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


# Reading a written page as its reader does: its tables (caption, header, rows of cell text, each row's
# class), section headings and the hover text of each figure's ringed points, through the standard
# library's HTML parser.
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
    """The tables, the section headings, the paragraphs, and the hover text of each figure's ringed
    points."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self.headings: list[str] = []
        self.paragraphs: list[str] = []
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
        if tag in ("td", "th", "caption", "h2", "p") or (tag == "title" and self._in_ring):
            self._text = []

    def handle_endtag(self, tag):
        if tag in ("thead", "circle"):
            self._in_head = self._in_ring = False
        if self._text is None or tag not in ("td", "th", "caption", "h2", "p", "title"):
            return
        text, self._text = "".join(self._text).strip(), None
        if tag == "h2":
            self.headings.append(text)
        elif tag == "p":
            self.paragraphs.append(text)
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
