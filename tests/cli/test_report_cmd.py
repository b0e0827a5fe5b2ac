"""`optimlab report`: a run's page where the run is, studies and runs not mixed, trackers checked first."""

import json
import shlex
from pathlib import Path

import pytest
from report.test_run_page import fake_run


def test_report_of_one_run_lands_in_its_folder(cli, tmp_path):
    folder = fake_run(tmp_path / "r")
    code, out, err = cli("report", str(folder), "--format", "json")
    assert code == 0, err
    assert json.loads(out)["report"] == str(folder / "report.html")
    assert "<h1>optimlab run: r</h1>" in (folder / "report.html").read_text()


def test_runs_and_studies_are_not_mixed_and_unknown_trackers_are_named(cli, tmp_path):
    folder = fake_run(tmp_path / "r")
    code, _, err = cli("report", str(folder), str(tmp_path))
    assert code == 2 and "not a run folder" in err and "Traceback" not in err
    code, _, err = cli("report", str(tmp_path / "typo"))
    assert code == 2 and "typo' does not exist" in err and not (tmp_path / "typo").exists()
    stopped = tmp_path / "bench"  # a bench stopped before its first study: its settings alone
    stopped.mkdir()
    (stopped / "bench.json").write_text("{}")
    code, _, err = cli("report", str(stopped))
    assert code == 2 and f"run it with `optimlab bench --resume {stopped}`" in err
    code, _, err = cli("report", str(folder), "--log", "tensorbord")
    assert code == 2 and "tensorboard" in err and not (folder / "report.html").exists()


def test_report_log_tensorboard_replays_every_line(cli, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    folder = fake_run(tmp_path / "r", steps=50, eval_every=10)
    code, _, err = cli("report", str(folder), "--log", "tensorboard")
    assert code == 0, err
    board = EventAccumulator(str(folder / "tensorboard" / "r"), size_guidance={SCALARS: 0})
    board.Reload()
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 51))
    assert [e.step for e in board.Scalars("val_accuracy")] == [10, 20, 30, 40, 50]


@pytest.mark.parametrize("verb", ["train", "report"])
def test_the_page_keeps_the_command_as_typed_and_quoted_to_paste_back(
    cli, tmp_path, monkeypatch, page_reader, verb
):
    """`train --html` kept '/usr/.../bin/optimlab train ... --out runs/a b&c', the executable's path and
    an unquoted folder that a shell splits at the space and runs in the background at the '&'; the
    row read 'command' under 'How this was run', also for the `report` that wrote the page alone."""
    import shlex
    import sys

    folder = tmp_path / "a b&c"
    typed = (
        ["train", "--dataset", "iris", "--epochs", "1", "--out", str(folder), "--html", "--no-progress"]
        if verb == "train"
        else ["report", str(fake_run(folder))]
    )
    monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/optimlab", *typed])
    code, _, err = cli(*typed)
    assert code == 0, err
    tables = page_reader((folder / "report.html").read_text()).tables
    rows = dict(next(t for t in tables if t.header == ["setting", "value"]).rows)
    assert shlex.split(rows["command that wrote this page"]) == ["optimlab", *typed]


def test_a_run_folder_whose_page_cannot_be_written_there_is_refused_naming_out(cli, tmp_path):
    """report on a run folder whose report.html could not be written (a folder of that name; a read-only
    disk) did all its work, then failed naming its temporary file ('.report.html.1a2b.partial' -> ...)."""
    folder = fake_run(tmp_path / "r")
    (folder / "report.html").mkdir()
    code, out, err = cli("report", str(folder))
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert f"'--out': {str(folder / 'report.html')!r} is a folder; give a file (the default page" in err
    assert ".partial" not in err and [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
    code, _, err = cli("report", str(folder), "--out", str(tmp_path / "r.html"))
    assert code == 0 and (tmp_path / "r.html").is_file(), err


_FRESH = """
import importlib.metadata, json, sys
from optimlab.cli.app import main
def code(args):
    try:
        main(args)
    except SystemExit as exit:
        return exit.code
refused, page = json.loads(sys.argv[1])
codes = [code(args) for args in refused]
torch_loaded = "torch" in sys.modules
from optimlab.report import Page, machine_and_versions  # the package's public names, torch still unloaded
torch_loaded = torch_loaded or "torch" in sys.modules
rows = dict(machine_and_versions())  # its first import of torch
codes.append(code(page))
print(json.dumps({"codes": codes, "torch loaded": torch_loaded, "matplotlib loaded": "matplotlib" in sys.modules,
                  "torch": rows["torch"] == importlib.metadata.version("torch"), "threads": rows["torch threads"]}))
"""


def test_a_refused_report_imports_no_torch_and_a_run_page_no_matplotlib(tmp_path):
    """In a fresh process, as a user's command starts: `optimlab report EMPTY_FOLDER` imported torch (about
    2 s of CPU) before refusing (report.run_folder's recipe and report.environment, torch at their top);
    machine_and_versions, which now imports torch where it is called, still gives its rows there (truth:
    the installed torch's version); a run's page, drawn in SVG by hand, imports no matplotlib. One process
    for the three (a second interpreter and torch import cost a second or more)."""
    import subprocess
    import sys

    run = fake_run(tmp_path / "r")
    refused = [
        ["report", str(tmp_path / "empty")],  # neither a run nor a study
        ["report", str(tmp_path / "typo")],  # no such path
        ["report", str(run), str(tmp_path / "empty")],  # a run and a folder that is none
    ]
    (tmp_path / "empty").mkdir()
    page = ["report", str(run), "--out", str(tmp_path / "page.html")]
    done = subprocess.run(
        [sys.executable, "-c", _FRESH, json.dumps([refused, page])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    said = json.loads(done.stdout.splitlines()[-1])
    assert int(said.pop("threads")) >= 1, done.stderr
    assert said == {"codes": [2, 2, 2, 0], "torch loaded": False, "matplotlib loaded": False, "torch": True}
    assert (tmp_path / "page.html").stat().st_size > 10_000


def test_a_folder_of_runs_or_a_file_of_one_is_answered_with_the_command_that_reports_them(cli, tmp_path):
    """`optimlab report runs/` (the folder a user keeps runs in) and `report runs/a/metrics.jsonl` said only
    'neither a run folder nor a study'; the line now gives the command with the run folders (a study's
    folder for its journal), and that command reports them."""
    import shlex

    holder = tmp_path / "runs ü"
    for name in ("b", "a"):
        fake_run(holder / name, steps=4, eval_every=2)
    (holder / "notes.txt").write_text("")
    (holder / "scratch").mkdir()
    for given, folders in (
        (holder, [holder / "a", holder / "b"]),
        (holder / "a" / "metrics.jsonl", [holder / "a"]),
    ):
        code, out, err = cli("report", str(given))
        assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
        suggested = shlex.split(err.split("`")[1])
        assert suggested == ["optimlab", "report", *map(str, folders)]
    code, _, err = cli(*suggested[1:], "--out", str(tmp_path / "page.html"))  # the runs' page, as suggested
    assert code == 0, err
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.journal").write_text("")
    code, _, err = cli("report", str(study / "study.journal"))
    assert code == 2 and f"give its folder: `optimlab report {study}`" in err
    many = tmp_path / "many"
    for n in range(10):
        (many / f"r{n}").mkdir(parents=True)
        (many / f"r{n}" / "recipe.yaml").write_text("")
        (many / f"r{n}" / "metrics.jsonl").write_text("")
    code, _, err = cli("report", str(many))
    assert code == 2 and "; it holds 10 run folders (r0, r1, r2 and 7 more): give each as a PATH" in err, err


def test_the_command_suggested_for_several_paths_reports_them_all_as_printed(cli, tmp_path, monkeypatch):
    """The command suggested was built from the first refused path alone: `report runs/a/metrics.jsonl
    runs/b/metrics.jsonl` suggested `optimlab report runs/a` (runs/b dropped), a folder named -runs
    suggested `optimlab report -runs/a -runs/b` ('No such option: -r'), a folder name with a newline a path
    the one-line message changes, and `report runs/a runs` (run folders and others) no command at all.
    Truth: each suggestion is every path given, as its folder or the runs it holds, and it runs."""
    import shlex

    monkeypatch.chdir(tmp_path)
    for name in ("-runs/a", "-runs/b", "n\nl/a", "n\nl/b"):
        fake_run(tmp_path / name, steps=2, eval_every=2)
    both = ["--", "-runs/a", "-runs/b"]
    for given in (
        ["--", "-runs"],
        ["--", "-runs/a/metrics.jsonl", "-runs/b/metrics.jsonl"],
        ["--", "-runs/a", "-runs"],  # a run folder, and a folder of them: 'not both'
        ["--", "-runs/a/metrics.jsonl", "-runs/b"],
    ):
        code, out, err = cli("report", *given)
        assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
        assert shlex.split(err.split("`")[1]) == ["optimlab", "report", *both], err
    code, out, err = cli("report", "n\nl")
    assert (code, out) == (2, "") and err.endswith("; it holds 2 run folders: give each as a PATH\n"), err
    code, _, err = cli("report", "--out", "page.html", *both)  # the runs' page, as suggested
    assert code == 0 and (tmp_path / "page.html").is_file(), err


def test_a_folder_it_may_not_read_is_refused_in_one_line(cli, tmp_path, monkeypatch):
    """A folder of another user's (mode 700) raises PermissionError on listing; the hint looking for the
    runs inside must not turn the refusal into a traceback. As root no mode refuses, so listing that folder
    raises here as the kernel would (EACCES)."""
    import pathlib

    locked = tmp_path / "locked"
    locked.mkdir()
    listing = pathlib.Path.iterdir

    def refused(path):
        if path == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(pathlib.Path, "iterdir", refused)
    code, out, err = cli("report", str(locked))
    assert (code, out) == (2, "") and err.strip().splitlines() == [
        f"error: {str(locked)!r} is neither a run folder (recipe.yaml, metrics.jsonl) nor a study "
        "(a folder with study.journal, or a storage URL)"
    ], err


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A comparison of two optimizers on iris, as `optimlab compare` leaves it (its page among them)."""
    from optimlab.cli.app import main

    folder = tmp_path_factory.mktemp("compare") / "s"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "compare", "--optimizers", "sgd,adam", "--dataset", "iris", "--model", "mlp", "--budget", "2",
                "--seeds", "2", "--epochs", "1", "--out", str(folder), "--no-progress", "--format", "json",
            ]
        )  # fmt: skip
    assert done.value.code in (0, None)
    return folder


def _results(page_reader, text):
    """The page's tables but the one of how it was run and of the machine (the command and the time)."""
    return [
        (t.caption, t.header, t.rows)
        for t in page_reader(text).tables
        if t.header[:1] not in (["setting"], ["machine and libraries"])
    ]


def test_one_study_gets_its_own_page_as_compare_wrote_it(cli, study, tmp_path, page_reader):
    """`optimlab report STUDY` wrote a 'studies over time' page (a mean [CI] per method in study order)
    and none of the study's own page: its leaderboard, ranks, best configurations, curves. Truth: the page
    `optimlab compare` wrote of the same study, table by table; by default the study's page is rewritten."""
    written = (study / "report.html").read_text()
    code, _, err = cli("report", str(study), "--out", str(tmp_path / "again.html"))
    assert code == 0, err
    again = (tmp_path / "again.html").read_text()
    assert "studies over time" not in again
    assert (
        _results(page_reader, again) == _results(page_reader, written)
        and len(_results(page_reader, written)) >= 2
    )
    code, _, err = cli("report", str(study), "--format", "json")
    assert code == 0 and json.loads(_)["report"] == str(study / "report.html"), err
    assert _results(page_reader, (study / "report.html").read_text()) == _results(page_reader, written)


def test_a_rebuilt_study_page_keeps_the_command_that_ran_the_study(
    cli, study, tmp_path, monkeypatch, page_reader
):
    """`optimlab report STUDY` rewrote STUDY/report.html saying the command that ran the study is not
    stored, though the page it replaced held it in its "command" row. Truth: the compare command typed
    (here a resume of the finished study, which writes its page again), kept through two rebuilds, each
    followed by the report's own command."""
    import shutil
    import sys

    copy = tmp_path / "s"
    shutil.copytree(study, copy)
    typed = ["optimlab", "compare", "--resume", str(copy), "--no-progress"]
    monkeypatch.setattr(sys, "argv", typed)
    assert cli(*typed[1:])[0] == 0

    def command_row() -> str:
        tables = page_reader((copy / "report.html").read_text()).tables
        return next(row[1] for table in tables for row in table.rows if row[0] == "command")

    assert command_row() == shlex.join(typed)
    for _ in range(2):
        monkeypatch.setattr(sys, "argv", ["optimlab", "report", str(copy)])
        assert cli("report", str(copy))[0] == 0
        assert command_row() == f"{shlex.join(typed)} (page rebuilt by optimlab report {copy})"


def test_a_study_whose_page_was_never_written_gets_the_command_that_ran_it(
    cli, tmp_path, monkeypatch, page_reader
):
    """A comparison whose page a full disk refused (its line says `optimlab report FOLDER --out PAGE` writes
    it) got a page saying "the command that ran it is not stored": only a page written before kept it.
    compare now stores the command that started it in its studies, which a rebuilt page shows. Truth: the
    command typed (sys.argv), on the page `optimlab report` writes, followed by the report's own."""
    import errno
    import os
    import sys

    import optimlab.study.report

    folder = tmp_path / "s"
    typed = ["optimlab", "compare", "--optimizers", "sgd", "--dataset", "iris", "--model", "mlp"]
    typed += ["--budget", "1", "--seeds", "1", "--epochs", "1", "--out", str(folder), "--no-progress"]

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(sys, "argv", typed)
    with monkeypatch.context() as patched:
        patched.setattr(optimlab.study.report, "write_report", full_disk)
        code, _, err = cli(*typed[1:])
    assert code == 5 and not (folder / "report.html").exists(), err
    monkeypatch.setattr(sys, "argv", ["optimlab", "report", str(folder)])
    assert cli("report", str(folder))[0] == 0
    tables = page_reader((folder / "report.html").read_text()).tables
    row = next(row[1] for table in tables for row in table.rows if row[0] == "command")
    assert row == f"{shlex.join(typed)} (page rebuilt by optimlab report {folder})"


def test_optimlab_report_of_a_bench_leaves_the_benchs_page_as_bench_wrote_it(cli, tmp_path):
    """`optimlab report BENCH` took the bench (which holds a study journal) for a study and wrote its
    studies-over-time page over BENCH/report.html, exit 0. Truth: the bench's page, byte for byte, and the
    over-time page written in runs/ as before."""
    folder = tmp_path / "b"
    flags = ["--workloads", "two_spirals_mlp", "--optimizers", "sgd", "--budget", "1", "--seeds", "1"]
    assert cli("bench", *flags, "--backend", "local", "--no-progress", "--out", str(folder))[0] == 0
    before = (folder / "report.html").read_bytes()
    code, out, err = cli("report", str(folder), "--format", "json")
    assert code == 0, err
    assert (folder / "report.html").read_bytes() == before
    assert Path(json.loads(out)["report"]).parent.name == "runs"


def test_out_may_not_be_the_page_of_another_run_or_study(cli, study, tmp_path):
    """`optimlab report RUN --out STUDY/report.html` replaced the comparison's page with the run's, exit 0;
    so did an overlay of two runs into one's page. Refused in one line naming --out, the page left as it
    was; the run's and the study's own pages are still written there."""
    run, other = fake_run(tmp_path / "r"), fake_run(tmp_path / "o")
    before = (study / "report.html").read_bytes()
    code, _, err = cli("report", str(run), "--out", str(study / "report.html"))
    assert code == 2 and "'--out'" in err and f"is the page of the study {str(study)!r}" in err, err
    assert len(err.strip().splitlines()) == 1 and (study / "report.html").read_bytes() == before
    code, _, err = cli("report", str(run), str(other), "--out", str(run / "report.html"))
    assert (
        code == 2 and f"the page of the run folder {str(run)!r}" in err and not (run / "report.html").exists()
    )
    code, _, err = cli("report", str(run), "--out", str(run / "report.html"))
    assert code == 0 and (run / "report.html").is_file(), err


def test_a_rebuilt_run_page_keeps_the_command_that_trained_the_run(cli, tmp_path, monkeypatch, page_reader):
    """`optimlab report RUN` rewrote RUN/report.html with `optimlab report RUN` where `train --html` had
    written the training command, the only record of the flags typed. Truth: the command typed to train,
    kept in its own row through two rebuilds, beside the report's own command."""
    import shlex
    import sys

    folder = tmp_path / "r"
    trained = [
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "1",
        "--grad-clip",
        "0.5",
        "--out",
        str(folder),
        "--html",
    ]
    for typed in (trained, ["report", str(folder)], ["report", str(folder)]):
        monkeypatch.setattr(sys, "argv", ["/opt/venv/bin/optimlab", *typed])
        code, _, err = cli(*typed, *(["--no-progress"] if typed is trained else []))
        assert code == 0, err
    tables = page_reader((folder / "report.html").read_text()).tables
    rows = dict(next(t for t in tables if t.header == ["setting", "value"]).rows)
    assert shlex.split(rows["command that wrote this page"]) == ["optimlab", "report", str(folder)]
    assert shlex.split(rows["command that trained r"]) == ["optimlab", *trained]
