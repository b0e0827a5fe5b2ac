"""The compare and worker verbs: a tiny comparison writes its leaderboard, tables and report; resume."""

import csv
import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from optimlab.cli import compare_cmd, worker_cmd
from optimlab.errors import OptimlabError
from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.study.storage import JOURNAL_NAME, open_storage
from optimlab.workloads import get_workload
from tests.cli.forked_command import ForkedCommand

app = typer.Typer()
app.command("compare")(compare_cmd.compare)
app.command("worker")(worker_cmd.worker)
runner = CliRunner()
TINY = ["--optimizers", "sgd,adam", "--budget", "2", "--seeds", "2", "--epochs", "1", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_comparison(tmp_path_factory) -> tuple[str, Path]:
    """``compare TINY`` run once, read by the tests of its terminal output and its files: (its output,
    its folder)."""
    folder = tmp_path_factory.mktemp("tiny")
    result = runner.invoke(app, ["compare", *TINY, "--out", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output, folder


def test_compare_prints_the_leaderboard_and_writes_tables_and_report(tiny_comparison):
    output, folder = tiny_comparison
    assert "test_accuracy mean [95% CI]" in output and "sgd" in output and "adam" in output
    with open(folder / "trials.csv") as handle:
        trials = list(csv.DictReader(handle))
    assert len(trials) == 2 * (2 + 2) and {t["phase"] for t in trials} == {"tune", "seeds"}
    with open(folder / "leaderboard.csv") as handle:
        board = list(csv.DictReader(handle))
    assert [row["rank"] for row in board] == ["1", "2"] and {row["method"] for row in board} == {
        "sgd",
        "adam",
    }
    assert {row["study"] for row in board} == {"digits_mlp"}
    report = (folder / "report.html").read_text()
    assert report.count("<svg") == 2 and "Learning-rate sensitivity" in report and "Leaderboard" in report
    if _has_pyarrow():
        import pyarrow.parquet as pq

        assert pq.read_table(folder / "trials.parquet").num_rows == 8

    again = runner.invoke(app, ["compare", "--resume", str(folder), "--no-progress", "--format", "json"])
    assert again.exit_code == 0, again.output
    # One JSON document (it was JSON Lines: a row per method, then the files, which json.load refused).
    document = json.loads(again.stdout)
    (study,) = document["studies"]
    assert (study["study"], study["test_metric"], study["seeds"]) == ("digits_mlp", "test_accuracy", 2)
    assert [(row["rank"], row["method"]) for row in study["leaderboard"]] == [
        (i + 1, row["method"]) for i, row in enumerate(board)
    ]  # the same leaderboard as leaderboard.csv, nothing rerun
    first = study["leaderboard"][0]
    assert first["test_mean"] == pytest.approx(float(board[0]["test_mean"]))
    assert set(first["best_config"]) == {"optimizer.lr"} and 0 <= first["ci95_high"] <= 1
    assert document["report"] == str(folder / "report.html") and document["storage"] == str(folder)
    # the ranking's significance as the terminal and leaderboard.csv say it (checked below)
    assert study["ranking"] in output.replace("\n", " ") and study["ranking"].startswith("Ranking: ")
    assert [row["p_vs_first"] for row in study["leaderboard"]][1:] == [
        pytest.approx(float(row["p_vs_first"])) for row in board[1:]
    ]


def test_the_rankings_significance_is_said_on_the_terminal_and_in_the_tables_as_on_the_page(
    tiny_comparison,
):
    """The terminal, leaderboard.csv and --format json ranked sgd 1 and adam 2 with a Welch p of 0.75;
    only report.html said the lead was within the noise of the seeds. The terminal prints the page's
    sentence under its table, and the tables carry the test. Truth: scipy's Welch t-test of the seed
    reruns' test metrics read from trials.csv (one test: Holm leaves its p as it is)."""
    import html

    from scipy import stats

    output, folder = tiny_comparison
    with open(folder / "trials.csv") as handle:
        seeds = [row for row in csv.DictReader(handle) if row["phase"] == "seeds"]
    with open(folder / "leaderboard.csv") as handle:
        first, second = csv.DictReader(handle)

    def values(method):
        return [float(row["metric.test_accuracy"]) for row in seeds if row["method"] == method]

    p = stats.ttest_ind(values(second["method"]), values(first["method"]), equal_var=False).pvalue
    assert (first["p_vs_first"], first["significant_vs_first"]) == ("nan", "")
    assert float(second["p_vs_first"]) == pytest.approx(p, rel=1e-9)
    assert second["significant_vs_first"] == str(p < 0.05)
    page = html.unescape((folder / "report.html").read_text())
    (said,) = [line for line in output.splitlines() if line.startswith("Ranking: ")]
    assert said in page and f"p={p:.2g}" in said


def test_a_range_tuned_at_two_values_is_said_to_locate_no_optimum(tiny_comparison):
    """--budget 2 tries the lr range's two ends: the best is always at an edge, and the edge note (which
    needs a third value) said nothing. Terminal and page now say two points cannot locate an optimum.
    Truth: trials.csv, two lrs tried by each method's tuning."""
    import html

    output, folder = tiny_comparison
    with open(folder / "trials.csv") as handle:
        tuned = [row for row in csv.DictReader(handle) if row["phase"] == "tune"]
    tried = {m: {row["param.optimizer.lr"] for row in tuned if row["method"] == m} for m in ("sgd", "adam")}
    assert [len(lrs) for lrs in tried.values()] == [2, 2]
    note_said = next(line for line in output.splitlines() if line.startswith("Two values tried"))
    assert sorted(note_said.partition("(")[2].partition(")")[0].split("; ")) == [
        "adam: optimizer.lr",
        "sgd: optimizer.lr",
    ]
    assert "two points cannot locate an optimum" in note_said
    assert note_said in html.unescape((folder / "report.html").read_text())
    assert output.count("(of 2 tried)") == 2


def test_one_value_tried_is_said_no_tuning_by_the_terminal_the_json_and_the_page(tmp_path):
    """`compare --optimizers sgd --budget 1` reported its one untuned lr as the "best config" with no note,
    and --format json (of any budget) carried the note of few values nowhere: "at_edge": [] and nothing
    else. Terminal, page and JSON now say it: the note (tuning_note) and each field's count (few_tried).
    Truth: trials.csv, one lr in sgd's tuning."""
    import html
    import json

    tiny = [
        "--workload",
        "digits_mlp",
        "--optimizers",
        "sgd",
        "--epochs",
        "1",
        "--budget",
        "1",
        "--seeds",
        "1",
    ]
    human = runner.invoke(app, ["compare", *tiny, "--no-progress", "--out", str(tmp_path / "h")])
    assert human.exit_code == 0, human.output
    with open(tmp_path / "h" / "trials.csv") as handle:
        tuned = {row["param.optimizer.lr"] for row in csv.DictReader(handle) if row["phase"] == "tune"}
    assert len(tuned) == 1
    (note,) = [line for line in human.output.splitlines() if line.startswith("No tuning: one value tried")]
    assert note.startswith("No tuning: one value tried (sgd: optimizer.lr)")
    assert note in html.unescape((tmp_path / "h" / "report.html").read_text())
    document = runner.invoke(app, ["compare", *tiny, "--format", "json", "--out", str(tmp_path / "j")])
    assert document.exit_code == 0, document.output
    (study,) = json.loads(document.stdout)["studies"]
    assert study["tuning_note"] == note
    assert [row["few_tried"] for row in study["leaderboard"]] == [{"optimizer.lr": 1}]


def test_the_interval_is_said_clipped_and_the_reruns_test_rows_are_the_tuning_seeds(tiny_comparison):
    """An accuracy's interval labelled 'Student-t 95%' was cut at 1 (scipy's reaches past it) unsaid. Each
    seed rerun split digits anew by its seed, so some of its test rows were validation rows at the tuning
    seed (64 of 359 at seed 1), which the page could only say: every trial now splits at the tuning seed,
    and the page says so. Truth: the rows each recorded trial recipe's data hold (their test rows those of
    the tuning seed, none of them a training or validation row there)."""
    import html

    from optimlab.build import build_data
    from optimlab.recipe import Recipe

    output, folder = tiny_comparison
    page = html.unescape((folder / "report.html").read_text())
    clipped = "Student-t 95% interval over the seeds, clipped to the metric's range ([0, 1])"
    assert f"95% CI: {clipped}" in output and clipped in page
    with open(folder / "trials.csv") as handle:
        trials = list(csv.DictReader(handle))
    storage = open_storage(folder)
    recipes = {
        (study.study_name, t.user_attrs["key"], t.user_attrs["seed"]): Recipe.from_dict(
            t.user_attrs["recipe"]
        )
        for study in storage.get_all_studies()
        for t in storage.get_all_trials(storage.get_study_id_from_name(study.study_name))
    }
    assert len(recipes) == len(trials)

    def rows(split):
        return {tuple(row.tolist()) for row in split.x}

    tuning = build_data(next(r for (_, key, _), r in recipes.items() if key.startswith("tune/")))
    for (_, key, seed), recipe in recipes.items():
        if key.startswith("seeds/"):
            assert seed in (1, 2) and recipe.data.split_seed == 0
            rerun = build_data(recipe)
            assert rows(rerun.test) == rows(tuning.test)
            assert not rows(rerun.test) & (rows(tuning.val) | rows(tuning.train))
    assert "Every trial splits the data at the tuning seed (0)" in page
    assert "were validation rows at the tuning seed" not in page


def test_several_workloads_get_a_study_each_and_performance_profiles(tmp_path):
    args = [
        "compare",
        "--workload",
        "digits_mlp,two_spirals_mlp",
        "--optimizers",
        "sgd,adam",
        "--budget",
        "2",
        "--seeds",
        "1",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(tmp_path),
        "--format",
        "json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with open(tmp_path / "leaderboard.csv") as handle:
        assert (
            sorted(row["study"] for row in csv.DictReader(handle))
            == ["digits_mlp"] * 2 + ["two_spirals_mlp"] * 2
        )
    report = (tmp_path / "report.html").read_text()
    assert (
        "<h2>digits_mlp</h2>" in report
        and "<h2>two_spirals_mlp</h2>" in report
        and "Across workloads" in report
    )
    again = runner.invoke(app, ["compare", "--resume", str(tmp_path), "--no-progress", "--format", "json"])
    assert again.exit_code == 0, again.output
    studies = json.loads(again.stdout)["studies"]
    assert [(s["study"], len(s["leaderboard"])) for s in studies] == [
        ("digits_mlp", 2),
        ("two_spirals_mlp", 2),
    ]


def test_a_recipe_file_is_the_workload_and_compared_values_are_typed(tmp_path):
    """compare took workloads by name only (train, doctor and lr-find take a recipe file); and a compared
    value went to the recipe as the string '0.9', which an optimizer's option refused as no number."""
    recipe = tmp_path / "spirals-sgd.yaml"
    recipe.write_text(
        "data: {name: two_spirals, scaling: standardize, options: {n: 300}}\n"
        "model: {width: 16}\noptimizer: {name: sgd, momentum: 0.5}\ntraining: {epochs: 3}\n"
    )
    out = tmp_path / "out"
    args = [str(recipe), "--compare", "optimizer.momentum=0.5,0.9", "--budget", "1", "--seeds", "1"]
    result = runner.invoke(app, ["compare", *args, "--epochs", "1", "--no-progress", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with open(out / "trials.csv") as handle:
        trials = list(csv.DictReader(handle))
    assert {t["study"] for t in trials} == {"spirals-sgd/0.5", "spirals-sgd/0.9"} and len(trials) == 4
    (spec,) = run_study_specs(out)
    assert spec.metric == "val_accuracy" and spec.test_metric == "test_accuracy"
    momenta = sorted(m.updates["optimizer.momentum"] for m in spec.methods)
    assert momenta == [0.5, 0.9]
    base = spec.recipe
    assert (base.data.name, base.model.width, base.optimizer.name, base.training.epochs) == (
        "two_spirals",
        16,
        "sgd",
        1,
    )  # the file's recipe, --epochs applied
    both = runner.invoke(app, ["compare", str(recipe), "--workload", "digits_mlp", "--optimizers", "sgd"])
    assert isinstance(both.exception, OptimlabError) and "give one of them" in str(both.exception)


def run_study_specs(folder):
    from optimlab.study.run import load_specs

    return load_specs(str(folder), None)


def _has_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    "args, match",
    [
        (["--optimizers", "sgd", "--compare", "model.activation=relu"], "one of them"),
        (["--budget", "2"], "say what to compare"),
        (["--resume", ".", "--budget", "3"], "drop --budget"),
        ([__file__, "--resume", "."], "drop RECIPE"),  # any readable file: refused first
        (["--compare", "model.activation"], "FIELD=a,b,c"),
    ],
)
def test_bad_calls_say_how_to_fix_them(args, match):
    result = runner.invoke(app, ["compare", *args, "--no-progress"])
    assert isinstance(result.exception, OptimlabError) and match in str(result.exception)


def test_a_worker_started_first_runs_the_trials_a_driver_plans(tmp_path, two_at_once):
    worker = "import typer; from optimlab.cli.worker_cmd import worker; typer.run(worker)"
    (tmp_path / "worker-output").mkdir()
    spec = StudySpec.for_workload(
        "w", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["adam"]), budget=3, seeds=1
    )
    with ThreadPoolExecutor(1) as pool:  # the worker in a process of its own, killed past 60 s
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        args = [str(tmp_path), "--wait"]
        started = pool.submit(
            two_at_once[0].run, args, Path.cwd(), env, tmp_path / "worker-output", 60, worker
        )
        result = run_study(
            spec, tmp_path, backend="workers", options=BackendOptions(workers=0)
        )  # plans, waits for the worker
        code, out, _ = started.result()
    assert code == 0 and "worker ran 4 trials" in out
    assert len(result.records) == 4 and all(r.state == "complete" for r in result.records)


@pytest.mark.parametrize(
    "flags, named",
    [(["--methods", "lion"], "'lion' for methods (--methods)"), (["--name", "v"], "'v' for name (--name)")],
)
def test_a_worker_refused_a_method_or_study_not_there_in_one_line(tmp_path, cli, flags, named):
    """'worker: training the waiting trials of ...' came first, then the refusal: two lines on stderr."""
    spec = StudySpec.for_workload(
        "w", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["adam"]), budget=1, seeds=1
    )
    run_study(spec, tmp_path)
    code, _, err = cli("worker", str(tmp_path), *flags)  # main's own output, in this process
    assert code == 2 and err.splitlines() == [err.strip()], err
    assert named in err


# `optimlab ARGS` as a terminal starts it, in a process forked by a forked_parents parent, its pid written
# to the file named before ARGS: Ctrl-C (SIGINT) raises KeyboardInterrupt in it, as in a fresh interpreter
# (which installs that handler unless started with SIGINT ignored, as the parent may have been).
INTERRUPTIBLE = """
import os, pathlib, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
pathlib.Path(sys.argv.pop(1)).write_text(str(os.getpid()))
from optimlab.cli.app import main
main()
"""


def interrupted_once(
    parent: ForkedCommand, tmp_path: Path, argv: list[str], ready: Callable[[], bool]
) -> tuple[int, str, str]:
    """``optimlab ARGV`` in a process forked by ``parent`` (:data:`INTERRUPTIBLE`), sent SIGINT, as a
    terminal's Ctrl-C, once ``ready()`` holds: its exit code, stdout and stderr."""
    import signal
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    pid, output = tmp_path / f"{argv[0]}.pid", tmp_path / f"{argv[0]}-output"
    output.mkdir()
    with ThreadPoolExecutor(1) as pool:  # the command, a process of its own
        command = pool.submit(parent.run, [str(pid), *argv], tmp_path, env, output, 120, INTERRUPTIBLE)
        deadline = time.monotonic() + 60
        while not ready():
            assert time.monotonic() < deadline and not command.done(), f"{argv[0]} not ready in 60 s"
            time.sleep(0.05)
        os.kill(int(pid.read_text()), signal.SIGINT)
        return command.result()


def test_ctrl_c_says_where_the_comparison_is_kept_and_its_resume_command_finishes_it(
    tmp_path, cli, monkeypatch, forked_parents
):
    """Ctrl-C on a comparison at its default folder (runs/compare-NAME-TIME) exited 130 in silence
    (typer turns KeyboardInterrupt into that code): not even 'interrupted', nor which folder to resume.
    Its stdout then held one empty line (the JSON document's place, printed for people): now nothing."""

    # 8 trials of 5 epochs: the first running when Ctrl-C comes, the exit code says it came mid-way
    flags = ["--optimizers", "sgd,adam", "--budget", "2", "--seeds", "2", "--epochs", "5", "--no-progress"]

    def started() -> bool:
        return any("optimlab:owner" in j.read_text() for j in tmp_path.glob("runs/compare-*/study.journal"))

    code, out, err = interrupted_once(forked_parents(), tmp_path, ["compare", *flags], started)
    (folder,) = tmp_path.glob("runs/compare-digits_mlp-*")
    assert code == 130 and not (folder / "report.html").exists() and out == "", repr(out)
    resume = f"optimlab compare --resume {folder.relative_to(tmp_path)}"
    assert err.startswith("interrupted") and resume in err, err
    monkeypatch.chdir(tmp_path)  # the resume command as printed, run in this process: its start is not tested
    code, _, err = cli(*resume.split()[1:], "--no-progress")
    assert code == 0, err
    with open(folder / "trials.csv") as handle:
        keys = sorted((t["method"], t["key"]) for t in csv.DictReader(handle))
    assert keys == sorted((m, k) for m in ("sgd", "adam") for k in ("tune/0", "tune/1", "seeds/0", "seeds/1"))


def test_the_terminal_leaderboard_writes_its_intervals_to_one_decimal_place(tiny_comparison):
    """Each row's interval was written to its own decimals ('[0.67, 1.00]' above '[0.833, 0.985]'), so a
    column read down did not order its rows as their means do; the pages write one place a column."""
    output, folder = tiny_comparison
    cells = re.findall(r"(-?\d+\.?\d*) \[(-?\d+\.?\d*), (-?\d+\.?\d*)\]", output)
    assert len(cells) == 2, output
    places = {len(number.partition(".")[2]) for cell in cells for number in cell}
    assert len(places) == 1, cells
    with open(folder / "leaderboard.csv") as handle:
        board = {row["method"]: row for row in csv.DictReader(handle)}
    means = sorted(float(m) for m, _, _ in cells)
    csv_means = sorted(float(next(v for k, v in row.items() if k.endswith("mean"))) for row in board.values())
    assert means == pytest.approx(csv_means, abs=0.5 * 10 ** -places.pop())


def test_a_finished_comparison_takes_more_seeds_on_resume_and_one_seed_shows_no_spread(tmp_path):
    """compare --resume refused --seeds ('drop --seeds'), though the comparison can add seed reruns; and
    the terminal leaderboard gave one seed a standard deviation of 0 (the page and leaderboard.csv none)."""
    one = ["--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--epochs", "1", "--no-progress"]
    first = runner.invoke(app, ["compare", *one, "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "best configuration over 1 fresh seed " in first.output  # 'over 1 seeds' before
    (row,) = [line for line in first.output.splitlines() if " sgd " in line]
    assert "(one seed: no interval)" in row and " 0 " not in row.split("(one seed: no interval)")[1][:12], row
    more = runner.invoke(
        app, ["compare", "--resume", str(tmp_path), "--seeds", "2", "--no-progress", "--format", "json"]
    )
    assert more.exit_code == 0, more.output
    (study,) = json.loads(more.stdout)["studies"]
    assert study["seeds"] == 2 and study["leaderboard"][0]["seeds"] == 2
    with open(tmp_path / "trials.csv") as handle:
        assert sum(t["phase"] == "seeds" for t in csv.DictReader(handle)) == 2
    fewer = runner.invoke(app, ["compare", "--resume", str(tmp_path), "--seeds", "1", "--no-progress"])
    assert "resuming adds seed reruns, it never drops those it has" in str(fewer.exception)


def test_the_default_folder_of_a_recipe_file_with_spaces_is_a_shell_word(tmp_path, monkeypatch):
    """A recipe file 'my recipe.yaml' made runs/compare-my recipe-TIME, which the printed resume command
    and any shell script then had to quote; the folder takes '_' for the space, the study keeps its name."""
    recipe = tmp_path / "my recipe.yaml"
    recipe.write_text("data: {name: two_spirals, options: {n: 200}}\nmodel: {width: 8}\n")
    monkeypatch.chdir(tmp_path)
    args = [str(recipe), "--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--epochs", "1"]
    result = runner.invoke(app, ["compare", *args, "--no-progress"])
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"compare-my_recipe-\d{8}-\d{6}", folder.name), folder.name
    with open(folder / "trials.csv") as handle:
        assert {t["study"] for t in csv.DictReader(handle)} == {"my recipe/sgd"}


def test_a_recipe_files_data_replaced_by_dataset_are_not_read(tmp_path):
    """compare RECIPE --dataset D read the recipe's own data first (to choose the metric), so a recipe
    naming a file of another machine failed though --dataset replaced it; the metric is chosen on D."""
    recipe = tmp_path / "elsewhere.yaml"
    recipe.write_text("data: {name: /nowhere/rows.csv}\nmodel: {width: 8}\n")
    out = tmp_path / "out"
    args = [
        str(recipe),
        "--dataset",
        "teacher_student",
        "--optimizers",
        "sgd",
        "--budget",
        "1",
        "--seeds",
        "1",
    ]
    result = runner.invoke(app, ["compare", *args, "--epochs", "1", "--no-progress", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (spec,) = run_study_specs(out)
    assert spec.recipe.data.name == "teacher_student" and spec.metric == "val_loss"  # a regression


def test_a_worker_opens_and_lists_its_storage_once_before_it_trains(tmp_path, monkeypatch):
    """Without --wait the CLI's check opened the storage, then work() opened and checked it again (a
    journal replayed twice, or an RDB engine made twice), and listed its studies five times."""
    import optimlab.study.worker as worker

    spec = StudySpec.for_workload(
        "w", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["adam"]), budget=1, seeds=1
    )
    run_study(spec, tmp_path)
    calls = {"open_storage": 0, "method_targets": 0}

    def counted(name):
        real = getattr(worker, name)

        def call(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(worker, name, call)

    counted("open_storage")
    counted("method_targets")
    result = runner.invoke(app, ["worker", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0 and "worker ran 0 trials" in result.output, result.output
    assert calls == {"open_storage": 1, "method_targets": 2}  # the CLI's check, then the one round of work


def test_a_stored_spec_edited_to_lack_its_name_is_refused_in_one_line(tmp_path, cli):
    """A journal edited by hand, its study's spec without ``name``: compare --resume and worker ended in
    a KeyError's traceback. Each names the journal, the Optuna study and the missing field, exit 2."""
    spec = StudySpec.for_workload(
        "t", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd"]), budget=1, seeds=1
    )
    run_study(
        StudySpec.from_dict({**spec.to_dict(), "seeds": 0}), tmp_path
    )  # seeds 0: stored before the bound
    journal = tmp_path / "study.journal"
    edited = journal.read_text().replace('"optimlab.spec": {"name": "t", ', '"optimlab.spec": {')
    edited = edited.replace('"optimlab.spec":{"name":"t",', '"optimlab.spec":{')
    assert edited != journal.read_text()
    journal.write_text(edited)
    for verb in (["compare", "--resume", str(tmp_path)], ["worker", str(tmp_path)]):
        code, _, err = cli(*verb)  # main's own handling of the error, in this process
        assert code == 2 and "Traceback" not in err, err
        assert err.strip() == (
            f"error: the study spec stored in {str(journal)!r} for Optuna study 't/sgd' lacks the field 'name' "
            "(the study's name, a string): it was edited by hand; restore the field"
        )


# A CLI command started by `python -c` (argv: the module and the name of a function it calls, two arrival
# files, then the command's own): each waits at that function (compare's `check_backend`: after its folder
# was checked as holding no study, before any study is stored) until both are there, so both have passed
# that check at once.
RACING = """
import importlib, pathlib, sys, time
from optimlab.cli.app import main

module, name = importlib.import_module(sys.argv[1]), sys.argv[2]
here, other = (pathlib.Path(arg) for arg in sys.argv[3:5])
del sys.argv[1:5]
waited = getattr(module, name)

def at_the_barrier(*args, **kwargs):
    here.touch()
    deadline = time.monotonic() + 20  # a process refused before it comes leaves the other waiting
    while not other.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    return waited(*args, **kwargs)

setattr(module, name, at_the_barrier)
main()
"""


@pytest.fixture
def two_at_once(forked_parents) -> list[ForkedCommand]:
    """Two parents that imported the command line once (tests/cli/forked_command.py), each forking a
    fresh process per run: two commands at once, without an interpreter and torch start each."""
    return [forked_parents(slot=0), forked_parents(slot=1)]


def race(tmp_path: Path, waited: str, commands: list[list[str]], two_at_once: list[ForkedCommand]) -> str:
    """Two ``optimlab`` processes of ``commands`` released together at ``waited`` ('module:function',
    through :data:`RACING`): exactly one runs, the other is refused in one line; that line."""
    module, function = waited.split(":")
    arrived = [tmp_path / "first", tmp_path / "second"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def racer(parent: ForkedCommand, here: Path, other: Path, args: list[str]) -> tuple[str, int | None]:
        output = tmp_path / f"output-{here.name}"
        output.mkdir()
        argv = [module, function, str(here), str(other), *args]
        code, _, err = parent.run(argv, Path.cwd(), env, output, timeout=300, source=RACING)
        return err, code

    with ThreadPoolExecutor(2) as pool:
        racers = [
            pool.submit(racer, parent, here, other, args)
            for parent, (here, other), args in zip(two_at_once, (arrived, arrived[::-1]), commands)
        ]
        ended = [started.result() for started in racers]
    assert sorted(code for _, code in ended) == [0, 2], ended
    refused = next(err for err, code in ended if code == 2)
    assert refused.splitlines() == [refused.strip()], refused
    return refused


def raced(
    tmp_path: Path, waited: str, args: list[str], folder: Path, two_at_once: list[ForkedCommand]
) -> str:
    """Two ``optimlab ARGS --out FOLDER`` processes :func:`race`: the refusal names ``folder``, and the
    journal reads back in whole records; the refusal's line."""
    refused = race(tmp_path, waited, [[*args, "--out", str(folder)]] * 2, two_at_once)
    assert str(folder) in refused, refused
    with open(folder / JOURNAL_NAME) as journal:
        for line in journal:
            json.loads(line)  # whole records, none cut into by the other's
    return refused


def test_two_comparisons_started_at_once_into_one_folder_run_one_and_refuse_the_other(tmp_path, two_at_once):
    """Both passed the 'already holds a study' check before either stored its study, and both ran
    their trials into the one journal (each trial twice) and wrote one report over the other. Truth: two
    real processes released together: exactly one runs, the other exits 2 with one line naming the
    folder, and the journal reads back with each trial once."""
    from optimlab.study.storage import load_records, open_storage, optimlab_studies

    folder = tmp_path / "cmp"
    folder.mkdir()
    flags = ["compare", "--optimizers", "sgd,adam", "--budget", "1", "--seeds", "1", "--epochs", "1"]
    raced(tmp_path, "optimlab.study.compare:check_backend", [*flags, "--no-progress"], folder, two_at_once)
    storage = open_storage(folder)
    names = [study.study_name for study in optimlab_studies(storage)]
    records = load_records(storage, names)
    keys = sorted((r.study, r.key) for r in records)
    assert keys == sorted((n, k) for n in names for k in ("tune/0", "seeds/0")), keys
    assert all(r.state == "complete" for r in records)


def test_two_comparisons_started_at_once_on_one_storage_run_one_and_refuse_the_other(tmp_path, two_at_once):
    """``--storage URL --name X`` twice at once, each with its own --out (the folder's lock does not
    cover a shared storage): both found no study X, both created and ran it, each trial twice. Truth:
    two real processes released together after that check (at the data digests that follow it):
    exactly one runs, the other exits 2 with the refusal a later start gets, naming the study and the
    storage (a second comparison joins as ``optimlab worker URL``, never by planning the study again),
    and the storage holds each trial once."""
    import optuna

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    flags = ["compare", "--optimizers", "sgd,adam", "--budget", "1", "--seeds", "1", "--epochs", "1"]
    flags += ["--storage", url, "--name", "x", "--no-progress"]
    outs = [[*flags, "--out", str(tmp_path / out)] for out in ("a", "b")]
    refused = race(tmp_path, "optimlab.study.run:_data_digests", outs, two_at_once)
    claimed = (  # the other created and claimed it (study.storage's Claims), its settings not yet stored
        f"error: the storage {re.escape(repr(url))} holds study 'x/adam' with no settings stored, claimed by "
        r"another comparison \(pid \d+ on host [^)]+\), creating it now .*"
    )
    assert re.fullmatch(claimed, refused.strip()) or refused.strip() in (  # its spec stored or not yet
        f"error: the storage {url!r} already holds study 'x': resume it with `optimlab compare --resume OUT "
        f"--storage {url} --name x` (resume=True in Python), or choose another output folder or study name",
        f"error: the storage {url!r} holds study 'x/adam' with no settings stored: a comparison is creating "
        "it now, or one was killed as it began; once none is, take it over: run the command that started it "
        f"with `--resume OUT --storage {url} --name x` in place of --out (its flags give the settings; "
        "in Python, the call that started it with resume=True), or delete it (optuna delete-study --storage URL "
        "--study-name x/adam) and start again",
    )
    storage = optuna.storages.RDBStorage(url)
    trials = {s.study_name: len(storage.get_all_trials(s._study_id)) for s in storage.get_all_studies()}
    assert trials == {"x/sgd": 2, "x/adam": 2}


def test_a_comparison_killed_holds_no_claim_on_its_folder_so_it_resumes(tmp_path, cli, two_at_once):
    """The folder is held by ``flock`` for the run (the claim above), which the kernel drops when its
    holder dies: a SIGKILL'd comparison (a crash, the OOM killer) leaves nothing that refuses --resume.
    (SIGINT: test_ctrl_c_says_where_the_comparison_is_kept_and_its_resume_command_finishes_it.)"""
    import signal
    import time

    folder = tmp_path / "cmp"
    flags = ["--optimizers", "sgd,adam", "--budget", "1", "--seeds", "1", "--epochs", "5", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    (tmp_path / "driver-output").mkdir()
    with ThreadPoolExecutor(1) as pool:  # the driver in a process of its own, forked by two_at_once's first
        args = ["compare", *flags, "--out", str(folder)]
        driver = pool.submit(two_at_once[0].run, args, Path.cwd(), env, tmp_path / "driver-output", 120)
        deadline = time.monotonic() + 60
        journal = folder / "study.journal"
        # a trial running: its owner, the driver's process (the local backend trains in it)
        while (owner := _trial_owner(journal)) is None:
            assert time.monotonic() < deadline and not driver.done(), "no trial started in 60 s"
            time.sleep(0.05)
        os.kill(owner, signal.SIGKILL)
        killed, _, _ = driver.result()
    assert killed == -signal.SIGKILL and not (folder / "report.html").exists()  # mid-way
    code, _, err = cli("compare", "--resume", str(folder), "--no-progress")  # another process than the killed
    assert code == 0 and (folder / "report.html").exists(), err


def _trial_owner(journal: Path) -> int | None:
    """The pid of the process that owns a running trial, from a whole record of the study journal at
    ``journal``; None before any trial started."""
    found = re.search(
        r'"optimlab:owner":\s*\{[^}]*"pid":\s*(\d+)\s*[,}]', journal.read_text() if journal.exists() else ""
    )
    return int(found[1]) if found else None


def test_a_comparison_into_a_file_is_refused_naming_the_file(tmp_path):
    """The folder's claim makes it first: a file there said 'cannot write to the output folder ...: File
    exists', not what is in the way (the storage's own line, before the claim, named it a file)."""
    from optimlab.study.compare import compare

    (tmp_path / "notes").write_text("mine")
    for out in (tmp_path / "notes", tmp_path / "notes" / "cmp"):
        with pytest.raises(OptimlabError, match=f"'{tmp_path / 'notes'}' is a file, not a folder"):
            compare(["sgd"], out=out, budget=1, seeds=1, epochs=1)
    assert (tmp_path / "notes").read_text() == "mine"


def test_a_comparison_killed_as_it_began_is_taken_over_by_its_command_resuming(tmp_path, cli, monkeypatch):
    """A comparison killed between creating its Optuna study and storing its settings left a study that
    `compare --resume FOLDER` refused ('no optimlab study'): it reads stored settings, which that study
    lacks; only run_study(spec, storage, resume=True) took it over. Now the command that started it, with
    --resume FOLDER in place of --out, takes it over (its flags give the settings), and the plain
    --resume says so (a plain Optuna study of that name, holding trials, is never taken: test_run's
    ..._taken_over_by_a_resume_alone_and_a_foreign_one_never, through the same open_studies). Truth: the
    Optuna studies read back from the journal, holding the flags' settings. (Stopped by a Ctrl-C as its
    first trial would start: what runs next is any resume's.)"""
    import optuna

    from optimlab.study import compare
    from optimlab.study.storage import SPEC_ATTR, open_storage

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_study", ctrl_c)
    begun = tmp_path / "begun"
    optuna.create_study(storage=open_storage(begun), study_name="digits_mlp/adam")  # killed here
    flags = ["--optimizers", "adam", "--budget", "1", "--seeds", "1", "--epochs", "1", "--no-progress"]
    code, _, err = cli("compare", "--resume", str(begun), "--no-progress")
    taken_over = (
        "(or one creating it now); if none is creating it now, take it over: run the command that started "
        f"it with `--resume {begun}` in place of --out"
    )
    assert code == 2 and taken_over in err, err
    code, _, err = cli("compare", *flags, "--resume", str(begun))
    assert code == 130 and f"continue with `optimlab compare --resume {begun}`" in err, err
    (study,) = open_storage(begun).get_all_studies()
    spec = study.user_attrs[SPEC_ATTR]
    assert (spec["name"], [m["name"] for m in spec["methods"]], spec["budget"], spec["seeds"]) == (
        "digits_mlp",
        ["adam"],
        1,
        1,
    )
    assert spec["recipe"]["training"]["epochs"] == 1 and study.study_name == "digits_mlp/adam"


def test_a_resume_with_other_settings_names_each_stored_and_given_value(tmp_path, cli, monkeypatch):
    """The refusal said 'its budget, seeds differ from the stored study; resume with the same settings'
    (or 'its recipe differ'), naming no value: which were stored was for the user to dig out of the
    journal. Now each differing setting is named with its flag, the stored value and the given one, a
    recipe by its field. Truth: the settings the study was stored with (its spec, by plan_comparison)."""
    from optimlab.study.compare import plan_comparison
    from optimlab.study.run import open_studies

    monkeypatch.setattr("optimlab.study.compare.check_trains", lambda spec: None)  # not what is tested
    (stored,) = plan_comparison(["adam"], budget=1, seeds=3, epochs=1)
    open_studies(stored, tmp_path)
    flags = ["--optimizers", "adam", "--budget", "2", "--seeds", "2", "--epochs", "2", "--no-progress"]
    code, _, err = cli("compare", *flags, "--resume", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    for said in (
        "budget (--budget): stored 1, given 2",
        "--epochs: stored 1, given 2",
        "seeds (--seeds): stored 3, given 2",
    ):
        assert said in err, err


@pytest.mark.parametrize(
    ("varied", "named"),
    [
        (["--compare", "training.epochs=1,1.5"], "training.epochs (--compare): 1.5 is refused"),
        (
            ["--optimizers", "sgd", "--space", "training.epochs=1,1.5"],
            "(--space, --space-file, space=) does not fit sgd: training.epochs = 1.5 fits no point",
        ),
    ],
)
def test_a_refused_compared_or_searched_value_names_its_flag_not_a_flag_of_the_same_field(
    tmp_path, cli, varied, named
):
    """``--epochs 1 --compare training.epochs=1,1.5`` said '--epochs: 1.5 is refused': the field's value
    typed in --compare (or --space) was named as --epochs, which held 1. Truth: the recipe's own check
    refuses 1.5 for training.epochs."""
    code, _, err = cli("compare", "--epochs", "1", *varied, "--out", str(tmp_path / "out"), "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert named in err and "--epochs" not in err, err


def test_a_resume_from_a_database_takes_a_new_folder_for_its_report(tmp_path, cli, monkeypatch):
    """The hint `optimlab compare --resume OUT --storage URL --name t` (a study in a database) was refused
    with "'OUT' is not a folder": --resume's folder had to exist, though the studies are in the database.
    With --storage the folder is where the report goes, made if new (the library call patched out: what
    the command hands it); without, it is still the study's own, which must be there."""
    from optimlab.study import compare as study_compare

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    (tmp_path / "studies.db").touch()  # an empty SQLite database (Optuna's tables: 2 s), the file checked
    given = {}

    def handed(values, **call):
        given.update(call)
        raise OptimlabError("patched out")

    monkeypatch.setattr(study_compare, "compare", handed)
    out = tmp_path / "new" / "report"
    code, _, err = cli("compare", "--resume", str(out), "--storage", url, "--name", "t", "--no-progress")
    assert code == 2 and err == "error: patched out\n", err
    assert (given["out"], given["storage"], given["resume"], given["name"]) == (out, url, True, "t")
    code, _, err = cli("compare", "--resume", str(tmp_path / "missing"), "--no-progress")
    assert code == 2 and "missing' is not a folder" in err and not (tmp_path / "missing").exists(), err


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("postgres://u@h/db", "postgresql://u@h/db"),
        ("postgres+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite://runs.db", "sqlite:///runs.db"),
    ],
)
def test_a_storage_url_with_a_common_typo_is_refused_naming_the_url_meant(tmp_path, cli, typed, meant):
    """``postgres://`` (a spelling SQLAlchemy refuses) said only 'is not a storage', and in Python "Can't
    load plugin"; ``sqlite://runs.db`` (two slashes) passed the check and failed at the opening as
    'Invalid SQLite URL'. Each names the URL meant, the CLI and the library alike, which SQLAlchemy reads
    (truth: its dialect loads where the typed one's does not)."""
    import sqlalchemy

    from optimlab.errors import InvalidValueError
    from optimlab.study.storage import open_storage

    code, out, err = cli("compare", "--optimizers", "sgd", "--storage", typed, "--out", str(tmp_path / "o"))
    assert (code, out) == (2, "") and err.count("\n") == 1 and f"(did you mean {meant!r}?)" in err, err
    with pytest.raises(InvalidValueError, match=f"for study storage: accepted {re.escape(meant)}, the URL"):
        open_storage(typed)
    with pytest.raises((sqlalchemy.exc.NoSuchModuleError, sqlalchemy.exc.ArgumentError)):
        sqlalchemy.create_engine(typed).connect()
    assert sqlalchemy.engine.make_url(meant).get_dialect().name in ("postgresql", "sqlite")
    assert not (tmp_path / "o").exists()


def test_a_sqlite_url_of_a_folder_is_refused_naming_a_file_in_it(tmp_path, cli):
    """SQLite said 'unable to open database file' of ``sqlite:///FOLDER``, once the verb had begun."""
    code, _, err = cli(
        "compare", "--optimizers", "sgd", "--storage", f"sqlite:///{tmp_path}", "--no-progress"
    )
    said = f"{str(tmp_path)!r} is a folder: give a SQLite file in it, sqlite:///{tmp_path}/studies.db"
    assert code == 2 and said in err
    with pytest.raises(OptimlabError) as refused:  # the library said 'unable to open database file'
        open_storage(f"sqlite:///{tmp_path}")
    assert said in str(refused.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("typed", ["postgresq://u:s3cret@h/db", "mysqll+pymysql://u:s3cret@h/db?x=1"])
def test_a_storage_url_refused_keeps_its_password_off_the_terminal(tmp_path, cli, typed):
    """``--storage 'postgresq://u:s3cret@h/db'`` was refused as "'postgresq://u:s3cret@h/db' is not a
    storage", the password on stderr; only the typo branch hid it."""
    code, out, err = cli("compare", "--optimizers", "sgd", "--storage", typed, "--out", str(tmp_path / "o"))
    assert (code, out) == (2, "") and "is not a storage" in err and err.count("\n") == 1, err
    assert "s3cret" not in err and "u:***@h/db" in err, err


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("sqlite://u:s3cret@/x.db", "sqlite:///u:***@/x.db"),
        ("postgres://u:s3cret@h/db", "postgresql://u:***@h/db"),
    ],
)
def test_a_storage_url_meant_keeps_the_typed_password_off_the_terminal(tmp_path, cli, typed, meant):
    """``--storage 'sqlite://u:s3cret@/x.db'`` was told "did you mean sqlite:///u:s3cret@/x.db?": the typed
    URL's password, hidden in the URL shown, came back in the one suggested (there it is no password to
    SQLAlchemy, but part of a file name). The CLI and the library alike suggest it hidden."""
    from optimlab.errors import InvalidValueError
    from optimlab.study.storage import open_storage

    code, out, err = cli("compare", "--optimizers", "sgd", "--storage", typed, "--out", str(tmp_path / "o"))
    assert (code, out) == (2, "") and err.count("\n") == 1 and f"(did you mean {meant!r}?)" in err, err
    with pytest.raises(InvalidValueError) as refused:
        open_storage(typed)
    assert f"accepted {meant}, the URL" in str(refused.value) and "s3cret" not in str(refused.value)
    assert "s3cret" not in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("typed", ["sqlite://:memory:", "sqlite:///:memory:", "sqlite://"])
def test_a_sqlite_url_of_memory_is_told_a_file(tmp_path, cli, typed):
    """``--storage sqlite://:memory:`` was told "did you mean sqlite:///:memory:?", which is refused in
    turn: "a study needs a SQLite file"."""
    code, _, err = cli("compare", "--optimizers", "sgd", "--storage", typed, "--out", str(tmp_path / "o"))
    assert code == 2 and "a study needs a SQLite file, e.g. sqlite:///runs/studies.db" in err, err
    assert ":memory:?" not in err


def test_a_journal_that_is_a_folder_is_named_as_one_by_resume_and_worker(tmp_path, cli):
    """A folder named study.journal was said to be missing: "holds no study (study.journal)"; report said
    the folder was "neither a run folder ... nor a study (a folder with study.journal ...)"."""
    (tmp_path / "study.journal").mkdir()
    verbs = (["compare", "--resume", str(tmp_path), "--no-progress"], ["worker", str(tmp_path)])
    for verb in (*verbs, ["report", str(tmp_path)]):
        code, _, err = cli(*verb)
        assert code == 2 and f"{str(tmp_path)!r} holds no study (its study.journal is not a file)" in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["study.journal"]


def test_a_sqlite_uri_storage_is_checked_for_the_file_it_names(tmp_path, cli):
    """`report 'sqlite:///file:PATH?uri=true'` (SQLAlchemy's URI form, which open_storage reads) was refused
    by the command line's check: "the folder 'file:...' of the SQLite file does not exist". The check reads
    the file the URI names, as the plain URL's: truth, the same refusal of Optuna's own bare study."""
    import optuna

    optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}", study_name="s")
    said = []
    for url in (f"sqlite:///{tmp_path / 'x.db'}", f"sqlite:///file:{tmp_path / 'x.db'}?uri=true"):
        code, _, err = cli("report", url)
        said.append((code, err.replace(f"'{url}'", "URL").replace(url, "URL")))  # quoted or bare
    assert said[1] == said[0] and "no optimlab study at URL" in said[0][1], said


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["--optimizers", ""], "invalid value '' for --optimizers: accepted one name or more"),
        (["--optimizers", " , "], "invalid value ' , ' for --optimizers: accepted one name or more"),
        (["--compare", ""], "invalid value '' for --compare: accepted FIELD=a,b,c"),
    ],
)
def test_an_empty_list_of_what_to_compare_is_refused_as_given(argv, refused, cli, tmp_path):
    """compare --optimizers '' was read as no --optimizers: 'say what to compare ... (one of them)', the
    value typed unnamed. It is refused as given, in one line naming the flag and the value."""
    code, out, err = cli("compare", *argv, "--out", str(tmp_path / "c"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: {refused}") and not (tmp_path / "c").exists()


@pytest.mark.parametrize("flag", ["--compare", "--space"])
def test_a_whole_field_given_a_float_past_the_exact_integers_is_named_as_typed(flag, cli, tmp_path):
    """--compare/--space training.batch_size=1e300,2e1 was refused naming a 301-digit integer (the float
    1e300 made an int). A float past the integers a float holds exactly is named as YAML reads it."""
    chosen = ["--optimizers", "sgd"] if flag == "--space" else []
    code, out, err = cli(
        "compare", *chosen, flag, "training.batch_size=1e300,2e1", "--out", str(tmp_path / "c")
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "training.batch_size" in err and "1e+300 is refused: accepted an integer in [1, " in err, err
    assert not re.search(r"\d{20}", err), err


def test_a_resume_with_what_to_compare_but_not_its_workload_names_the_stored_studies(
    tmp_path, cli, monkeypatch
):
    """`compare --resume FOLDER --optimizers adam` of a comparison started with --workload two_spirals_mlp
    looked for the default workload's study and said "nothing to resume: no study 'digits_mlp' in this
    storage", naming neither what the folder holds nor what to type. Now one line names the stored study
    and the flags that resume it; typed so, it resumes. Truth: the study stored there by
    plan_comparison and open_studies (the checks and the trials patched out: not what is tested)."""
    from optimlab.study import compare
    from optimlab.study.compare import plan_comparison
    from optimlab.study.run import open_studies

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "check_trains", lambda spec: None)
    monkeypatch.setattr(compare, "run_study", ctrl_c)  # resumed as far as its first trial
    (stored,) = plan_comparison(["adam"], workloads=["two_spirals_mlp"], budget=1, seeds=1, epochs=1)
    open_studies(stored, tmp_path)
    code, _, err = cli("compare", "--optimizers", "adam", "--resume", str(tmp_path), "--no-progress")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "holds 'two_spirals_mlp'" in err and "--workload" in err and "--resume alone" in err, err
    flags = ["--optimizers", "adam", "--workload", "two_spirals_mlp", "--resume", str(tmp_path)]
    code, _, err = cli("compare", *flags, "--no-progress")
    assert code == 130 and f"continue with `optimlab compare --resume {tmp_path}`" in err, err
