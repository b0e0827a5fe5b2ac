"""--format json: every verb that takes it prints one JSON document on stdout, holding what its human
output shows; bench and gallery printed JSON Lines (a line per table row, then the result)."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import typer

from optimlab.cli.app import app
from optimlab.registry import get_registry

TINY_STUDY = ["--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--no-progress"]


def _verbs_taking_format(command: Any, path: tuple[str, ...] = ()) -> set[str]:
    """Every verb's name as typed (``gallery run``) whose options include --format."""
    found = {" ".join(path)} if any("--format" in p.opts for p in command.params) else set()
    for name, sub in getattr(command, "commands", {}).items():
        found |= _verbs_taking_format(sub, (*path, name))
    return found


def _strict(text: str) -> dict:
    """``text`` as ``json.load`` and a strict parser (JavaScript's: no NaN, no Infinity) read it."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def run_json(cli):
    def run(*argv: str) -> dict:
        code, out, err = cli(*argv, "--format", "json")
        assert code == 0, err
        return _strict(out)

    return run


def test_every_verb_prints_one_json_document_holding_what_people_see(run_json, tmp_path, monkeypatch):
    import optimlab.gallery.publish

    checked = set()

    def check(verb: str, *flags: str) -> dict:
        checked.add(verb)
        return run_json(*verb.split(), *flags)

    listed = check("list", "optimizer")
    assert [row["name"] for row in listed["optimizer"]] == [e.name for e in get_registry("optimizer")]

    from optimlab.gallery import experiments

    shown = check("gallery")["experiments"]
    assert [(row["name"], row["source"]) for row in shown] == [(e.name, e.paper) for e in experiments()]
    assert check("gallery list")["experiments"] == shown

    plotted = check("plot-schedule", "cosine", "--steps", "10", "--out", str(tmp_path / "lr.png"))
    assert plotted == {"path": str(tmp_path / "lr.png")} and (tmp_path / "lr.png").is_file()

    run = tmp_path / "run"
    trained = check("train", "--dataset", "iris", "--steps", "3", "--no-progress", "--out", str(run))
    assert (
        trained["status"] == "completed" and trained["steps"] == 3 and "test_accuracy" in trained["metrics"]
    )
    assert check("report", str(run)) == {"report": str(run / "report.html"), "trackers": {}}

    examined = check("doctor", "--dataset", "iris", "--steps", "5", "--no-lr-find")
    assert {"findings", "recipe_id"} <= set(examined) and examined["lr_range"] is None

    found = check("lr-find", "--dataset", "iris", "--sweep-steps", "10", "--check-steps", "5")
    assert found["candidates"] and found["reason"]

    study = tmp_path / "compare"
    compared = check(
        "compare", "--workload", "two_spirals_mlp", *TINY_STUDY, "--epochs", "1", "--out", str(study)
    )
    (board,) = compared["studies"]
    assert [row["method"] for row in board["leaderboard"]] == ["sgd"]
    assert check("worker", str(study)) == {"trials": 0, "storage": compared["storage"]}

    bench = tmp_path / "bench"
    benched = check(
        "bench", "--workloads", "two_spirals_mlp", *TINY_STUDY, "--backend", "local", "--out", str(bench)
    )
    assert [row["method"] for row in benched["scores"]] == ["sgd"]
    assert [(row["workload"], row["method"], row["seeds"]) for row in benched["workloads"]] == [
        ("two_spirals_mlp", "sgd", 1)
    ]
    assert benched["report"] == str(bench / "report.html") and Path(benched["report"]).is_file()

    # 'all' over its fastest experiment: the document is the same for fifteen (tests/gallery runs every
    # one), which took most of this test's time (12 s of its 29 s on 2 cores; 140 s of 160 s on a busy one)
    few = ["no_nonlinearity"]
    monkeypatch.setattr(optimlab.gallery.publish, "experiment_names", lambda: few)
    ran = check("gallery run", "all", "--size", "tiny", "--out", str(tmp_path / "gallery"))
    assert [row["name"] for row in ran["experiments"]] == few
    assert ran["index"] == str(tmp_path / "gallery" / "index.html")
    assert _verbs_taking_format(typer.main.get_command(app)) == checked


def test_a_columns_of_zero_prints_every_result(cli, monkeypatch):
    """COLUMNS=0, which rich read as a width of 0, printed every line empty: `optimlab list` gave nothing,
    exit 0 (each console, the progress bar's too: tests/test_terminal.py). Truth: what the terminal's
    width prints (80 off one), as COLUMNS=0 says nothing of it. The gallery's listing, which loads no
    optimizer's registry: 0.5 s where the optimizers' took 2.6-3.4 s."""
    import shutil

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("COLUMNS", str(shutil.get_terminal_size().columns))
    shown = cli("list", "experiment", "--filter", "batch_norm")
    monkeypatch.setenv("COLUMNS", "0")
    assert cli("list", "experiment", "--filter", "batch_norm") == shown and "batch_norm" in shown[1]


def test_results_are_whole_lines_on_stdout_and_the_progress_is_on_stderr(cli, tmp_path, monkeypatch):
    """A result longer than the terminal is one line (rich wrapped it, splitting the storage's path in two),
    and the studies' progress bar is drawn on stderr (it was among the results on stdout)."""
    monkeypatch.setenv("COLUMNS", "40")
    study = tmp_path / "a-folder-whose-name-is-longer-than-forty-columns"
    code, out, err = cli(
        "compare", "--workload", "two_spirals_mlp", *TINY_STUDY[:-1], "--epochs", "1", "--out", str(study)
    )
    assert code == 0, err
    assert f"storage: {study}" in out.splitlines()
    assert "━" in err and "━" not in out


def test_a_huge_members_count_asks_the_storage_only_for_the_trials_there_are(cli, tmp_path, monkeypatch):
    """--members 1000000 took a minute for two trials: the batched backend asked for a waiting trial a
    million times per group, after the storage had said none waits."""
    from optimlab.study.backends import batched

    asked = []

    def pop_waiting(*args: Any) -> Any:
        asked.append(args)
        return real(*args)

    real = batched.pop_waiting
    monkeypatch.setattr(batched, "pop_waiting", pop_waiting)
    study = ["--workload", "two_spirals_mlp", *TINY_STUDY, "--epochs", "1", "--out", str(tmp_path / "s")]
    code, _, err = cli("compare", *study, "--backend", "batched", "--members", "1000000")
    assert code == 0, err
    assert len(asked) <= 6  # per phase (tuning, seeds): a trial, then None once, then None again to stop


def test_a_runs_progress_bar_is_on_stderr(cli, tmp_path):
    """train's bar is progress, as the studies' is: its last frame was the first line of stdout."""
    code, out, err = cli("train", "--dataset", "iris", "--steps", "3", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert "mlp on iris" in err and "━" in err
    assert "━" not in out and out.startswith("completed after 3 steps")


def test_a_count_of_one_reads_in_the_singular(cli, tmp_path):
    """train --steps 1 said 'completed after 1 steps', the doctor 'Findings after 1 steps'."""
    code, out, err = cli("train", "--dataset", "iris", "--steps", "1", "--out", str(tmp_path / "run"))
    assert code == 0 and out.startswith("completed after 1 step in"), err
    # its seconds as result.json keeps them, read back off the line: a run of 5 ms said 'in 0.0 s'
    seconds = json.loads((tmp_path / "run" / "result.json").read_text())["seconds"]
    said = re.search(r" in ([0-9.,]+) s;", out)
    assert said and float(said[1].replace(",", "")) == pytest.approx(seconds, rel=0.05), (seconds, out)
    code, out, err = cli("doctor", "--dataset", "iris", "--steps", "1", "--no-lr-find")
    assert code == 0 and ("Findings after 1 step," in out or "No findings after 1 step:" in out), err


def test_a_table_to_a_pipe_keeps_every_column_whole(capsys):
    """Piped (no terminal: rich assumes 80 columns), a table whose unbroken columns passed the 80th was cut
    there: a long --optimizer-path name pushed the seeds, failures and scores off the line. The table is
    as wide as it needs; one that fits keeps 80 columns, and a column of words still wraps there."""
    from optimlab.cli._output import Output

    method = "a_long_package.optimizers.experimental:DecoupledAdaptiveMomentumClass"
    Output().table(
        "bench",
        ["method", "workload", "seeds", "failed", "score"],
        [[method, "digits_mlp", 3, 1, 0.9712]],
        unbroken=["method", "workload"],
    )
    Output().table("techniques", ["name", "about"], [["adam", " ".join(["moment"] * 30)]])
    lines = capsys.readouterr().out.splitlines()
    [row] = [line for line in lines if method in line]
    assert row.split() == [method, "digits_mlp", "3", "1", "0.9712"]
    words = [line for line in lines if "moment" in line]
    assert len(words) > 1 and all(len(line.rstrip()) <= 80 for line in words)
    assert " ".join(" ".join(line.split()) for line in words).split() == ["adam", *["moment"] * 30]


LEADERBOARD = [
    "rank",
    "method",
    "test_accuracy mean [95% CI]",
    "std",
    "seeds",
    "failed trials",
    "best config",
    "steps to target",
]


def test_a_tables_header_keeps_its_words_whole(capsys, monkeypatch):
    """A column's least width was its cells' longest word alone: compare's leaderboard at 80 columns
    printed its header 'test_accuracy mean [95% CI]' as 'test_accurac' over 'y mean [95%'."""
    from optimlab.cli._output import Output

    monkeypatch.setenv("COLUMNS", "80")
    row = [1, "adam", "0.96 [0.69, 1.00]", 0.02954, 2, 0, "lr=0.01076 momentum=0.9"]
    Output().table("leaderboard", LEADERBOARD[:-1], [row])  # no target: no steps to it
    words = capsys.readouterr().out.split()
    assert {"test_accuracy", "[95%", "CI]"} <= set(words), words


LEADER = [1, "adam", "0.973 [0.945, 1.000]", 0.01126, 3, 0, "lr=0.004642", "102 (3 reached)"]


def _characters(title: str) -> Counter:
    """Every character but spaces of the leaderboard titled ``title`` with its row :data:`LEADER`."""
    return Counter("".join([title, *LEADERBOARD, *map(str, LEADER)]).replace(" ", ""))


def test_a_table_loses_no_cell_to_a_pipe_or_a_terminal(capsys, monkeypatch):
    """compare's leaderboard with its 'steps to target' column lost that column's end: rich lays out the
    columns' least widths past the width their measure gives (85), and the console cut off what passed
    it: piped, '102 (3 reached)' read '102 (3' over 'reache'; on an 80-column terminal 'ste', 'tar',
    '102', 'rea'. Truth: the table's own text, every character of it printed (the terminal's words fold)."""
    import io

    from rich.console import Console

    from optimlab.cli._output import Output

    text = _characters("leaderboard")
    monkeypatch.setenv("COLUMNS", "80")
    Output().table("leaderboard", LEADERBOARD, [LEADER])
    piped = capsys.readouterr().out
    assert not text - Counter(piped) and {"reached)", "test_accuracy", "[95%"} <= set(piped.split()), piped
    terminal = Output()
    terminal.console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    terminal.table("leaderboard", LEADERBOARD, [LEADER])
    shown = terminal.console.file.getvalue()
    assert not text - Counter(shown) and max(map(len, shown.splitlines())) <= 80, shown


@pytest.mark.parametrize("seed", range(3))
def test_whether_a_table_fits_is_read_off_two_rows_as_off_the_whole_table(seed):
    """The fit of a long table is decided on a stand-in of at most two rows (per column its cell of the
    longest line and of the longest word), not by laying out every row. Truth: rich's own layout of the
    whole table, as wide as the stand-in's at every width from 10 to 130."""
    import random

    from optimlab.cli._output import _cell, _columns, _laid_out_width, _stand_in

    draw = random.Random(seed)
    words = ["a", "lr=0.004642", "0.973", "[0.945,", "1.000]", "reached)", "(3"]
    rows = [[" ".join(draw.choices(words, k=draw.randint(0, 2))) for _ in range(5)] for _ in range(20)]
    for _ in range(6):  # a few cells, anywhere, of a long line or a long word (past MAX_WORD too)
        long = [draw.choice(words), "y" * draw.randint(12, 40)] if draw.random() < 0.5 else words * 2
        rows[draw.randrange(20)][draw.randrange(5)] = " ".join(long)
    columns, unbroken = ["rank", "method", "test_accuracy mean [95% CI]", "best config", "steps"], {"method"}
    cells = [[_cell(value) for value in row] for row in rows]
    whole = _columns("leaderboard", columns, cells, unbroken)
    for row in cells:
        whole.add_row(*row)
    stand_in = _stand_in("leaderboard", columns, cells, unbroken)
    assert stand_in.row_count == 2
    for width in range(10, 131):
        assert _laid_out_width(stand_in, width) == _laid_out_width(whole, width), width


def test_the_live_leaderboard_loses_no_cell_to_an_80_column_terminal(monkeypatch):
    """compare's live 'leaderboard so far' under its progress bar was built whole, never folded: at 80
    columns the display cut off 'steps to target' to 'ste', 'tar', '102', 'rea'. Truth: the lines the
    live display draws (rich's render_lines at its console's width, as its LiveRender does) hold every
    character of the table, none past column 80."""
    from optimlab.cli._progress import StudyProgress

    monkeypatch.setenv("COLUMNS", "80")
    with StudyProgress(True) as shown:
        shown.start("1 method", 4)
        shown.update("digits", 4, ("leaderboard so far", LEADERBOARD, [LEADER]))
        console = shown.live.console
        lines = console.render_lines(shown.live.renderable, console.options, pad=False)
    drawn = ["".join(segment.text for segment in line) for line in lines]
    assert console.width == 80 and max(map(len, drawn)) <= 80, drawn
    assert not _characters("leaderboardsofar") - Counter("".join(drawn)), drawn


def _on_a_terminal(*argv: str, **env: str) -> str:
    """What ``optimlab ARGV`` prints to a real terminal (a pseudo-terminal), ``env`` added."""
    leader, follower = pty.openpty()
    command = [sys.executable, "-c", "from optimlab.cli.app import main; main()", *argv]
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(COLUMNS="100", **env)
    done = subprocess.run(command, stdout=follower, stderr=subprocess.PIPE, env=environment, timeout=300)
    os.close(follower)
    printed = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: all read
            break
        if not chunk:
            break
        printed += chunk
    os.close(leader)
    assert done.returncode == 0, done.stderr
    return printed.decode()


def test_no_color_prints_a_table_to_a_terminal_without_escape_codes():
    """NO_COLOR (no-color.org) set: plain text. rich's reading of it dropped the colours alone, and the
    table's bold header and italic title still reached the terminal as escape codes."""
    styled = _on_a_terminal("list", "optimizer", "--filter", "adamw")
    plain = _on_a_terminal("list", "optimizer", "--filter", "adamw", NO_COLOR="1")
    assert "\x1b[" in styled  # the terminal is one: without NO_COLOR the header is bold
    assert "\x1b" not in plain and "adamw" in plain and "optimizer (1)" in plain


@pytest.mark.parametrize("width", [20, 40])
def test_a_terminal_too_narrow_for_the_columns_gets_every_row_stacked(width):
    """compare's leaderboard on a 20-column terminal printed its title and rule and no row: rich gave each
    of its 8 columns a width of 0. Under MIN_FOLDED characters a column, each row is a block of
    'column: value' lines. Truth: the table's own text, every character of it printed, none past the
    terminal's edge, and each value on the line of its column's name."""
    import io

    from rich.console import Console

    from optimlab.cli._output import Output

    terminal = Output()
    terminal.console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    terminal.table("leaderboard", LEADERBOARD, [LEADER, LEADER])
    shown = terminal.console.file.getvalue()
    assert not _characters("leaderboard") - Counter(shown) and max(map(len, shown.splitlines())) <= width, (
        shown
    )
    flat = " ".join(shown.split())
    assert flat.count("method: adam") == flat.count("rank: 1") == 2, shown


def _printed(table: Any, width: int) -> str:
    """What a ``width``-column terminal shows of ``table``."""
    import io

    from rich.console import Console

    terminal = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    terminal.print(table)
    return terminal.file.getvalue()


def test_a_table_that_fits_a_narrow_terminal_whole_is_not_stacked():
    """Eight columns of one character each on a 60-column terminal were stacked, a block of 8 lines a
    row: the rule counted columns (8 x (MIN_FOLDED + 2) = 64 > 60) instead of laying the table out, which
    fits whole in 38. Truth: the terminal shows it as the same table laid out without a bound."""
    from optimlab.cli._output import rich_table

    columns, rows = list("abcdefgh"), [list(range(1, 9)), list(range(9, 17))]
    assert _printed(rich_table("t", columns, rows, width=60), 60) == _printed(
        rich_table("t", columns, rows), 60
    )


def test_a_table_of_no_rows_stacked_keeps_its_columns_names():
    """compare's leaderboard of no rows on a 20-column terminal, stacked, showed its title alone: the
    columns' names went with the rows. Truth: every character of each column's name printed, no line past
    the edge."""
    from optimlab.cli._output import rich_table

    shown = _printed(rich_table("leaderboard", LEADERBOARD, [], width=20), 20)
    names = Counter("".join(LEADERBOARD).replace(" ", ""))
    assert not names - Counter(shown) and max(map(len, shown.splitlines())) <= 20, shown
