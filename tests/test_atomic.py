"""Files written whole or not at all: a write the disk refuses part way (a file-size limit, as a full disk
cuts it) leaves the former content, and a page, a chart and a figure are written that way."""

import doctest
import errno
import os
import resource
import stat
from pathlib import Path

import pytest
import typer

import optimlab.atomic
from optimlab.atomic import Blocked, atomic_path, blocker, write_atomically
from optimlab.recipe import Recipe
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
            # Its first thousand characters: an SVG of 24x LIMIT (the whole text, 5.5 MB, took 6.7 s to draw)
            figure.add_subplot().set_title(text[:1000])
            figures.save(figure, path)

    write("former")
    former = path.read_bytes()
    assert in_a_full_disk(lambda: write(big)) == 3
    assert path.read_bytes() == former
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


@pytest.mark.parametrize("writer", ["write_atomically", "recipe"])
def test_a_file_written_into_folders_not_yet_made_makes_them(tmp_path, writer):
    """Recipe.save('nosuch/r.yaml'), write_run_report and every other atomic write into a folder not yet made
    raised FileNotFoundError naming a hidden '.r.yaml.<hex>.partial' the user never chose. Truth: the
    file reads back as written, and the folders hold it alone."""
    path = tmp_path / "nosuch" / "deeper" / "file"
    if writer == "write_atomically":
        write_atomically(path, "text")
        assert path.read_text() == "text"
    else:
        recipe = Recipe.from_dict({})
        recipe.save(path)
        assert Recipe.load(path) == recipe
    assert [p.name for p in path.parent.iterdir()] == ["file"]


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


@pytest.fixture
def locked(tmp_path):
    """A folder this user cannot make a file in: a mode-555 one, or, for root (who writes there anyway),
    /proc/sys, which the kernel keeps unwritable to root too."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield folder if not os.access(folder, os.W_OK) else Path("/proc/sys")
    finally:
        folder.chmod(0o755)


def mkdir_says(path: Path) -> str:
    """The truth: the strerror the file system gives making the folder ``path``."""
    with pytest.raises(OSError) as refused:
        path.mkdir()
    return refused.value.strerror


def test_blocker_names_the_path_in_the_way_and_the_reason_the_os_gives(tmp_path, locked):
    """blocker gave the path alone, and each caller that wanted the OS's reason tried again
    (unwritable_because; its ': None' where the second try succeeded), or gave none ('is not writable').
    It gives both, from one try: the reason is the strerror of making a folder there."""
    note = tmp_path / "notes.txt"
    note.write_text("a file")
    assert blocker(note / "a" / "b") == Blocked(note, mkdir_says(note / "a"))
    assert blocker(locked / "a" / "b") == Blocked(locked, mkdir_says(locked / "a"))
    assert blocker(tmp_path / "a" / "b") is None


def test_every_refusal_of_a_folder_no_file_can_be_made_in_says_the_os_reason(locked):
    """The CLI's check of an output folder ('is not writable'), the runs folder's hold ('a folder no file
    can be made in') and MLflow's SQLite store say the reason blocker has (truth: mkdir's strerror there);
    TensorBoard's: test_an_event_folder_that_cannot_be_written_is_refused_as_the_tracker_opens."""
    from optimlab.cli._checks import writable_folder
    from optimlab.errors import OptimlabError
    from optimlab.integrations.mlflow import _unopenable
    from optimlab.runs_folder import hold_folder

    reason = mkdir_says(locked / "out")
    with pytest.raises(typer.BadParameter) as checked:
        writable_folder(str(locked / "out"))
    assert str(checked.value) == (f"cannot create '{locked / 'out'}': '{locked}' is not writable: {reason}.")
    with pytest.raises(typer.BadParameter) as checked:  # the folder itself, there already
        writable_folder(str(locked))
    assert str(checked.value) == f"cannot write into '{locked}': the folder is not writable: {reason}."
    with pytest.raises(OptimlabError) as held, hold_folder(locked / "out", "optimlab train"):
        pass
    assert str(held.value) == (
        f"cannot write to the output folder '{locked / 'out'}': '{locked}' is a folder no file can be "
        f"made in ({reason}); choose a folder you can write"
    )
    assert _unopenable(locked / "out" / "mlflow.db") == f"no file can be made in {locked}: {reason}"


def test_blocker_names_a_symbolic_link_that_leads_nowhere(tmp_path):
    """A link in a loop or to nothing exists not, so blocker looked past it and found its folder fine; the
    mkdir that followed said 'File exists'. Truth: the OS's stat of the loop, the link's own target."""
    loop, dangling = tmp_path / "loop", tmp_path / "dangling"
    loop.symlink_to(loop)
    dangling.symlink_to(tmp_path / "gone")
    with pytest.raises(OSError) as stat_says:
        os.stat(loop)
    assert blocker(loop / "x") == Blocked(loop, f"a symbolic link in a loop ({stat_says.value.strerror})")
    assert blocker(dangling) == Blocked(
        dangling, f"a symbolic link to {str(tmp_path / 'gone')!r}, which does not exist"
    )
    assert blocker(dangling).what == blocker(dangling).reason and blocker(tmp_path / "a") is None


def test_a_refused_write_is_said_naming_the_file_replaced_not_its_temporary_file(tmp_path):
    """write_refusal_said named the file the OS named: a folder where the page goes fails the rename of
    atomic_path's temporary file, and the line named '.report.html.1a2b3c4d.partial', a file the user
    never asked for and that is gone. Truth: the OS's own refusal (a real folder at the path), and the
    path the caller wrote."""
    from optimlab.errors import OptimlabError

    page = tmp_path / "report.html"
    page.mkdir()
    with (
        pytest.raises(OptimlabError) as raised,
        optimlab.atomic.write_refusal_said(page, "the trials are kept", "rerun it", room_only=False),
    ):
        write_atomically(page, "<p>page</p>")
    assert str(raised.value) == (
        f"cannot write {str(page)!r}: {os.strerror(errno.EISDIR)}; the trials are kept: once it can be written, rerun it"
    )


def test_a_folder_at_the_path_is_refused_naming_the_path_not_the_temporary_file(tmp_path):
    """write_atomically(FOLDER, ...) raised "Is a directory: '.../.report.html.4e23fedf.partial' ->
    '.../report.html'": the rename of atomic_path's temporary file fails, naming it, a file the caller
    never asked for and that is gone. Truth: the OS's own refusal (a real folder at the path) and the path
    the caller wrote; the folder left as it was, no temporary file beside it."""
    page = tmp_path / "report.html"
    page.mkdir()
    with pytest.raises(OSError) as raised:
        write_atomically(page, "<p>page</p>")
    assert (raised.value.errno, raised.value.filename) == (errno.EISDIR, str(page))
    assert ".partial" not in str(raised.value), raised.value
    assert os.listdir(tmp_path) == ["report.html"] and page.is_dir() and os.listdir(page) == []
