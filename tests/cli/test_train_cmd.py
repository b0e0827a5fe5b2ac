"""``optimlab train``: what the verb says around the library's run (tests of the run itself: tests/train)."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

import pytest

from optimlab.cli import _errors


def test_a_stopped_run_says_one_resume_command_with_the_flags_it_ran_with(cli, monkeypatch, tmp_path):
    """A run started with --html --log tensorboard and stopped by a signal said 'Resume with: optimlab
    train --resume DIR', where a signal after its last step said the command with its flags: two
    commands for one run. Both now say the one the verb's own interruption line says."""
    import optimlab.train
    from optimlab.train.loop import Callback

    class StopAtFirstStep(Callback):
        def __init__(self, *args: object) -> None:
            pass

        def on_step_end(self, state: object) -> None:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(optimlab.train, "ProgressBar", StopAtFirstStep)
    run = tmp_path / "a run"  # a space: the command quoted as a shell reads it
    flags = ("--html", "--log", "tensorboard")
    code, out, err = cli(
        "train", "--dataset", "iris", "--steps", "50", "--out", str(run), *flags, "--format", "json"
    )
    again = shlex.join(["optimlab", "train", "--resume", str(run), *flags])
    assert code == _errors.INTERRUPTED
    assert err.strip().endswith(f"checkpoint saved. Resume with: {again}")
    assert json.loads(out)["message"].endswith(f"Resume with: {again}")


def test_a_warning_is_said_once_a_command_and_a_refusal_alone(cli, monkeypatch, tmp_path):
    """A comparison's 8 trials each said 'batch_size 100 is more than the 24 training rows': a warning
    repeated within one command is now said once, and again by the next command; drop_last past the split
    said that warning, then its refusal named 'batch_size': the refusal alone, naming the flag typed."""
    import warnings

    import optimlab.train
    from optimlab.errors import OptimlabWarning
    from optimlab.train.loop import Callback

    code, out, err = cli(
        "train",
        "--dataset",
        "iris",
        "--steps",
        "1",
        "--set",
        "training.drop_last=true",
        "--batch-size",
        "200",
    )
    assert (code, out, err) == (
        2,
        "",
        "error: invalid value 200 for --batch-size: accepted at most the 90 training rows when "
        "training.drop_last drops smaller batches.\n",
    )

    class WarnEachStep(Callback):  # as each trial's build warns of its batch
        def __init__(self, *args: object) -> None:
            pass

        def on_step_end(self, state: object) -> None:
            warnings.warn("the same words", OptimlabWarning, stacklevel=1)

    monkeypatch.setattr(optimlab.train, "ProgressBar", WarnEachStep)
    for run in ("one", "two"):
        code, _, err = cli("train", "--dataset", "iris", "--steps", "3", "--out", str(tmp_path / run))
        assert code == 0 and [line for line in err.splitlines() if line.startswith("warning:")] == [
            "warning: the same words"
        ], err


COUNTED_DATA = """
import torch

calls = []


def load():
    calls.append(1)
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(0))
    return x, (x[:, 0] > 0).long()
"""


@pytest.mark.parametrize("page", [[], ["--html"]], ids=["", "html"])
def test_a_run_builds_its_data_once_for_its_training_and_its_chance_note(cli, write_modules, tmp_path, page):
    """The note of a run no better than chance (read after the run) built the data again: a user's
    factory ran twice for one ``train`` (three times with ``--html``, whose page draws chance lines).
    Counted by the factory itself."""
    write_modules(optimlab_counted_data=COUNTED_DATA)
    import optimlab_counted_data

    optimlab_counted_data.calls.clear()
    code, _, err = cli(
        "train", "--dataset", "optimlab_counted_data:load", "--steps", "1", "--no-progress",
        "--out", str(tmp_path / "run"), *page,
    )  # fmt: skip
    assert code == 0, err
    assert optimlab_counted_data.calls == [1]
    assert not page or (tmp_path / "run" / "report.html").is_file()


def test_a_page_built_later_shows_the_commands_that_trained_and_resumed_the_run(
    cli, monkeypatch, tmp_path, page_reader
):
    """A run trained without --html kept no record of its command: `optimlab report RUN` built later showed
    only its own command, the flags typed to train lost. Truth: the command lines typed (sys.argv), the
    training one and the resume's, each in its row of the page built after both."""
    import sys

    folder = tmp_path / "r"
    trained = ["train", "--dataset", "iris", "--epochs", "1", "--grad-clip", "0.5", "--out", str(folder)]
    resumed = ["train", "--resume", str(folder), "--epochs", "2"]
    for typed in (trained, resumed, ["report", str(folder)]):
        monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/optimlab", *typed])
        code, _, err = cli(*typed, *(["--no-progress"] if typed[0] == "train" else []))
        assert code == 0, err
    tables = page_reader((folder / "report.html").read_text()).tables
    rows = dict(next(t for t in tables if t.header == ["setting", "value"]).rows)
    assert shlex.split(rows["command that wrote this page"]) == ["optimlab", "report", str(folder)]
    assert shlex.split(rows["command that trained r"]) == ["optimlab", *trained]
    assert shlex.split(rows["command that resumed r"]) == ["optimlab", *resumed]


def test_a_resume_whose_page_cannot_be_written_is_refused_before_it_trains(cli, monkeypatch, tmp_path):
    """`train --resume RUN --html` over a folder at RUN/report.html trained, then failed on the page
    naming a temporary file ("'RUN/.report.html.<hex>.partial' -> 'RUN/report.html': Is a directory"), its
    result line never said. Refused first, in one line naming the flag that asked for the page: with
    --log mlflow it named --html, not typed, and started MLflow's writer first (15.9 s to refuse, 7.0 s
    without). Truth: the run's result.json as the first session left it (no step taken), the writer never
    called."""
    from optimlab.integrations import mlflow_writer

    started = []
    monkeypatch.setattr(mlflow_writer, "writer_process", lambda: started.append(True))
    run = tmp_path / "r"
    code, _, err = cli("train", "--dataset", "iris", "--epochs", "1", "--out", str(run), "--no-progress")
    assert code == 0, err
    before = (run / "result.json").read_text()
    (run / "report.html").mkdir()
    page = str(run / "report.html")
    for flags, named in ((["--html"], "--html"), (["--log", "mlflow"], "--log")):
        code, _, err = cli("train", "--resume", str(run), "--epochs", "2", *flags, "--no-progress")
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"'{named}': {page!r} is a folder, where the run's page goes: move that folder away" in err, (
            err
        )
        assert (run / "result.json").read_text() == before and started == []


def test_a_damaged_commands_log_blocks_no_session_page_nor_tracker(cli, tmp_path, page_reader):
    """commands.jsonl, an optional record, holding bytes that are not UTF-8 (a disk fault) failed the
    resume that had just trained on its page ("is not a commands log: 'utf-8' codec can't decode", exit 2,
    no result line); a line that is not a session's command refused a resume with --log tensorboard before
    it trained (the tracker reads the run), and `optimlab report` refused the run. Each goes on, the
    session's line added after the bytes kept, and the page names the line in a row. Truth: the result
    lines, exit 0, the bytes written, and the line numbers of the lines damaged."""
    run = tmp_path / "r"
    code, _, err = cli(
        "train", "--dataset", "iris", "--steps", "2", "--out", str(run), "--html", "--no-progress"
    )
    assert code == 0, err
    (run / "commands.jsonl").write_bytes((run / "commands.jsonl").read_bytes() + b"\xff\xfe junk\n")
    code, out, err = cli("train", "--resume", str(run), "--steps", "4", "--no-progress")
    assert code == 0 and out.startswith("completed after 4 steps"), (out, err)
    kept = (run / "commands.jsonl").read_bytes().split(b"\n")
    assert kept[1] == b"\xff\xfe junk" and json.loads(kept[2])["resumed"] is True
    code, out, err = cli("report", str(run))
    assert code == 0, err
    rows = dict(
        next(
            t
            for t in page_reader((run / "report.html").read_text()).tables
            if t.header == ["setting", "value"]
        ).rows
    )
    assert rows["commands of r not read"] == "commands.jsonl line 2 is not UTF-8 text"
    (run / "commands.jsonl").write_text('{"command": 3}\n')
    code, out, err = cli(
        "train", "--resume", str(run), "--steps", "6", "--log", "tensorboard", "--no-progress"
    )
    assert code == 0 and out.startswith("completed after 6 steps"), (out, err)
    rows = dict(
        next(
            t
            for t in page_reader((run / "report.html").read_text()).tables
            if t.header == ["setting", "value"]
        ).rows
    )
    assert rows["commands of r not read"].startswith("commands.jsonl line 1 holds command 3 and resumed null")


def test_a_command_line_holding_bytes_not_utf8_is_kept_with_their_escapes(
    cli, monkeypatch, tmp_path, page_reader
):
    """`optimlab train $'rec\\xff.yaml' --html` trained, then failed on its page, and `optimlab report` of a
    run trained so ended in a UnicodeEncodeError's traceback, rc 1: Python holds the byte as a lone
    surrogate, which no page or JSON file encodes. The byte is kept as its escape, \\xff. Truth: the name
    typed with the byte written as those four characters, in the page's row; the run completed."""
    import sys

    recipe = tmp_path / "rec\udcff.yaml"  # the file named with the byte 0xff, as a shell passes it
    recipe.write_text("data: {name: iris}\ntraining: {steps: 2}\n")
    run = tmp_path / "r5"
    typed = ["train", str(recipe), "--out", str(run), "--html", "--no-progress"]
    monkeypatch.setattr(sys, "argv", ["optimlab", *typed])
    code, out, err = cli(*typed)
    assert code == 0 and out.startswith("completed after 2 steps"), (out, err)
    monkeypatch.setattr(sys, "argv", ["optimlab", "report", str(run)])
    code, _, err = cli("report", str(run))
    assert code == 0, err
    rows = dict(
        next(
            t for t in page_reader((run / "report.html").read_text()).tables if t.header[0] == "setting"
        ).rows
    )
    shown = f"{tmp_path}/rec\\xff.yaml"  # the byte as its four characters of escape
    assert shlex.split(rows["command that trained r5"]) == ["optimlab", "train", shown, *typed[2:]]


def test_a_session_whose_command_line_cannot_be_kept_says_its_result_then_why(cli, monkeypatch, tmp_path):
    """A folder at RUN/commands.jsonl (or a full disk) failed the session after its run: "'.commands.jsonl.
    <hex>.partial' -> ...: Is a directory", exit 2, no result line. The result is said, then a note naming
    commands.jsonl and the OS's reason. Truth: the result line, exit 0, and the OS's own strerror."""
    import errno

    from optimlab import runs_folder

    run = tmp_path / "r3"
    code, _, err = cli("train", "--dataset", "iris", "--steps", "2", "--out", str(run), "--no-progress")
    assert code == 0, err
    (run / "commands.jsonl").unlink()
    (run / "commands.jsonl").mkdir()
    code, out, err = cli("train", "--resume", str(run), "--steps", "4", "--no-progress")
    assert code == 0 and out.startswith("completed after 4 steps"), (out, err)
    said = f"the command line is not kept in {str(run / 'commands.jsonl')!r}: {os.strerror(errno.EISDIR)}"
    assert said in err.splitlines(), err
    (run / "commands.jsonl").rmdir()

    real = runs_folder.write_atomically

    def full_disk(path, data):  # at commands.jsonl alone: sessions.jsonl goes through the same helper
        if Path(path).name == "commands.jsonl":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, data)

    monkeypatch.setattr(runs_folder, "write_atomically", full_disk)
    code, out, err = cli("train", "--resume", str(run), "--steps", "6", "--no-progress")
    assert code == 0 and out.startswith("completed after 6 steps"), (out, err)
    assert f"{str(run / 'commands.jsonl')!r}: {os.strerror(errno.ENOSPC)}" in err, err


def test_a_resume_of_a_finished_run_that_trains_nothing_keeps_no_command(cli, monkeypatch, tmp_path):
    """`train --resume RUN` of a finished run trained nothing, yet kept a 'resumed' command that the run's
    page then showed as a session. It is said instead, and only a resume that trains is kept. Truth: the
    steps each session reached (2, still 2, then 4) and the command lines typed that trained."""
    import sys

    from optimlab.report.run_folder import SessionCommand, read_run

    run = tmp_path / "r"
    trained = ["train", "--dataset", "iris", "--steps", "2", "--out", str(run), "--no-progress"]
    again = ["train", "--resume", str(run), "--no-progress"]
    longer = ["train", "--resume", str(run), "--steps", "4", "--no-progress"]
    said = []
    for typed in (trained, again, longer):
        monkeypatch.setattr(sys, "argv", ["optimlab", *typed])
        code, out, err = cli(*typed)
        assert code == 0, err
        said.append((out.splitlines()[0], err))
    reached = [line.partition(" in ")[0] for line, _ in said]
    assert reached == ["completed after 2 steps", "completed after 2 steps", "completed after 4 steps"]
    assert "resumed, nothing left to train: the run had taken its 2 steps" in said[1][1], said[1][1]
    assert read_run(run).commands == [
        SessionCommand(shlex.join(["optimlab", *trained]), False),
        SessionCommand(shlex.join(["optimlab", *longer]), True),
    ]


def test_a_resume_that_changes_the_recipe_of_an_early_stopped_run_keeps_its_command(
    cli, monkeypatch, tmp_path
):
    """A resume with a longer --epochs of a run its early stop ended stops again at the same step: it was
    said 'nothing left to train ... (a longer --epochs or --steps continues it)', untrue, and its command
    was not kept though it changed the run's recipe (recipe.yaml's epochs, its id). A resume is one of
    nothing only where the steps and the recipe are both as before, and an early-stopped run is told its
    stop. Truth: the commands kept, the recipe's epochs, what each session said."""
    import sys

    from optimlab.report.run_folder import read_run

    run = tmp_path / "r"
    first = ["train", "--dataset", "iris", "--epochs", "60", "--set", "training.early_stopping_patience=1",
             "--out", str(run), "--no-progress"]  # fmt: skip
    longer = ["train", "--resume", str(run), "--epochs", "120", "--no-progress"]
    said = []
    for typed in (first, longer, longer):
        monkeypatch.setattr(sys, "argv", ["optimlab", *typed])
        code, out, err = cli(*typed)
        assert code == 0 and out.startswith("stopped after"), (out, err)
        said.append(err)
    assert "nothing left" not in said[1], said[1]
    assert "resumed, nothing left to train" in said[2] and "(early stop: " in said[2], said[2]
    assert [c.command for c in read_run(run).commands] == [
        shlex.join(["optimlab", *t]) for t in (first, longer)
    ]
    assert read_run(run).recipe["training"]["epochs"] == 120


def test_a_resume_with_a_page_refuses_a_damaged_sessions_log_before_it_trains(cli, tmp_path):
    """`train --resume RUN` of a run with a page (--html, or its report.html) trained, then failed writing
    the page on a sessions.jsonl damaged by hand ("not a sessions log: line 1 is not UTF-8 text"), exit 2
    and no result line. The log is read before the run: one line, nothing trained. Truth: the steps in
    result.json, unchanged."""
    run = tmp_path / "r"
    code, _, err = cli(
        "train", "--dataset", "iris", "--steps", "2", "--out", str(run), "--html", "--no-progress"
    )
    assert code == 0, err
    (run / "sessions.jsonl").write_bytes(b"\xff\n")
    code, out, err = cli("train", "--resume", str(run), "--steps", "4", "--no-progress")
    assert (code, out, len(err.splitlines())) == (2, "", 1), (out, err)
    assert "sessions.jsonl' is not a sessions log: line 1 is not UTF-8 text" in err, err
    assert json.loads((run / "result.json").read_text())["steps"] == 2
