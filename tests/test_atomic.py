"""Files written whole or not at all: a write the disk refuses part way (a file-size limit, as a full disk
cuts it) leaves the former content, and a page, a chart and a figure are written that way."""

import doctest
import os
import resource
import stat

import pytest

import optimlab.atomic
from optimlab.atomic import atomic_path, write_atomically
from optimlab.report import Page, figures
from optimlab.report.line_chart import LineChart

LIMIT = 4096  # bytes a file may grow to in the child: the new content is longer


def in_a_full_disk(write) -> int:
    """Run ``write()`` in a forked child whose files cannot grow past :data:`LIMIT` bytes (the kernel
    refuses the write part way, as a full disk does); the child's exit code: 3 when the write raised
    OSError, 0 when it did not."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY))
            write()
        except OSError:
            code = 3
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status)


def test_a_write_the_disk_cuts_short_leaves_the_former_file_whole(tmp_path):
    path = tmp_path / "results.json"
    write_atomically(path, "former")
    assert in_a_full_disk(lambda: write_atomically(path, "x" * (2 * LIMIT))) == 3
    assert path.read_text() == "former" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_write_the_disk_refuses_names_the_file_it_was_for(tmp_path):
    """A full disk was reported as 'error: File too large', naming no file."""
    path = tmp_path / "report.html"

    def write():
        try:
            write_atomically(path, "x" * (2 * LIMIT))
        except OSError as error:
            os._exit(3 if error.filename == str(path) else 4)

    assert in_a_full_disk(write) == 3


@pytest.mark.parametrize("kind", ["page", "line_chart", "figure"])
def test_pages_charts_and_figures_are_written_whole_or_not_at_all(tmp_path, kind):
    """Page.write wrote the page in place: a full disk (or a kill) mid-write left a page cut short, which
    a resumed gallery kept as finished."""
    big = "a long paragraph " * LIMIT
    if kind == "page":
        path = tmp_path / "page.html"

        def write(text):
            Page("title").paragraph(text).write(path)

    elif kind == "line_chart":
        path = tmp_path / "chart.svg"

        def write(text):
            LineChart(f"<svg><text>{text}</text></svg>").save(path)

    else:
        path = tmp_path / "figure.svg"

        def write(text):
            figure = figures.new_figure()
            figure.add_subplot().set_title(text)
            figures.save(figure, path)

    write("former")
    former = path.read_bytes()
    assert in_a_full_disk(lambda: write(big)) == 3
    assert path.read_bytes() == former
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_failed_block_keeps_the_former_file_and_removes_its_partial(tmp_path):
    path = tmp_path / "trials.csv"
    path.write_text("former")
    with pytest.raises(KeyboardInterrupt), atomic_path(path) as partial:
        partial.write_text("half")
        raise KeyboardInterrupt
    assert path.read_text() == "former" and [p.name for p in tmp_path.iterdir()] == ["trials.csv"]


def test_a_file_written_atomically_has_the_permissions_of_one_written_plainly(tmp_path):
    """A temporary file made by tempfile is readable by its owner alone (0600): renamed into place, a
    report would be unreadable by the web server or the colleague it was written for."""
    plain = tmp_path / "plain.html"
    plain.write_text("x")
    written = write_atomically(tmp_path / "page.html", "x")
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_docstring_examples():
    result = doctest.testmod(optimlab.atomic)
    assert result.failed == 0 and result.attempted > 0
