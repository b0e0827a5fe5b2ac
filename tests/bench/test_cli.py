"""The bench verb: a tiny benchmark prints its scores and writes the report (and figures); bad calls."""

import html
import json
import re
import shutil

import pytest
import typer
from typer.testing import CliRunner

from optimlab.cli import bench_cmd
from tests.study.test_cli import two_at_once  # noqa: F401 (a fixture: the race's two forking parents)

app = typer.Typer()
app.command("bench", epilog=bench_cmd.EXAMPLES)(bench_cmd.bench)
app.command("other")(lambda: None)  # two verbs: typer keeps "bench" as a subcommand
runner = CliRunner()
TINY = [
    "--workloads",
    "two_spirals_mlp",
    "--optimizers",
    "sgd,adam",
    "--budget",
    "2",
    "--seeds",
    "2",
    "--no-progress",
]


def test_bench_prints_scores_and_writes_the_report_and_png_figures(tmp_path, monkeypatch):
    import dataclasses

    import optimlab.bench.runner

    ran = optimlab.bench.runner.run_bench  # a bench of 0.3 s: its wall time was said "0 s"
    monkeypatch.setattr(
        optimlab.bench.runner, "run_bench", lambda *a, **k: dataclasses.replace(ran(*a, **k), seconds=0.3)
    )
    result = runner.invoke(
        app, ["bench", *TINY, "--out", str(tmp_path), "--figure-format", "png"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "area score" in result.output and "two_spirals_mlp" in result.output and "report:" in result.output
    page = (tmp_path / "report.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)  # a cell's words a browser would break inside are spans (1d423de8)
    assert "<h2>two_spirals_mlp</h2>" in page and "optimlab bench --workloads two_spirals_mlp" in text
    assert "wall time: 0.3 s" in result.output and "<td>wall time</td><td>0.3 s</td>" in page
    assert sorted(p.suffix for p in (tmp_path / "figures").iterdir()) == [".png"] * 3
    # the ranks said with what the seeds tell of them, as the page says it: the area score's untested
    # medians, and each workload's test metric by Welch's t-test (the ranking said before alone)
    untested = (
        "Ranking: the area score ranks by each method's median time to target over 2 seed runs a workload"
    )
    assert untested in result.output and untested in html.unescape(text)
    (tested,) = [line for line in result.output.splitlines() if line.startswith("two_spirals_mlp: Ranking: ")]
    assert tested.removeprefix("two_spirals_mlp: ") in html.unescape(text)

    again = runner.invoke(app, ["bench", "--resume", str(tmp_path), "--no-progress", "--format", "json"])
    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert {row["method"] for row in document["scores"]} == {"sgd", "adam"}
    assert document["report"].endswith("report.html")
    # budget 2 tries two lrs: the page's note of them was said neither on the terminal nor in the JSON
    (few,) = [line for line in result.output.splitlines() if line.startswith("two_spirals_mlp: Two values")]
    note = few.removeprefix("two_spirals_mlp: ")
    assert "optimizer.lr; " in note and note in html.unescape(text)  # of both methods, board order
    assert document["tuning_notes"] == [{"workload": "two_spirals_mlp", "tuning_note": note}]


def test_bench_refuses_calls_it_cannot_run_and_says_how_to_fix_them(tmp_path):
    cases = [
        ([], "--suite small|full or --workloads"),
        (["--suite", "small", "--workloads", "digits_mlp"], "one of them"),
        (["--workloads", "digits_mlp", "--figure-format", "jpg"], "html, png, svg"),
        (["--workloads", "digits_mlp", "--resume", str(tmp_path)], "drop --workloads"),
        (["--suite", "smal"], "Did you mean 'small'?"),
    ]
    for flags, message in cases:
        out = [] if "--resume" in flags else ["--out", str(tmp_path / "x")]
        result = runner.invoke(app, ["bench", *flags, *out], env={"COLUMNS": "300"})  # no wrapped message
        said = str(result.exception) + result.output  # a value refused while parsing is a usage error
        assert result.exit_code != 0 and message in said, (flags, said)
    assert "optimlab bench --suite small" in runner.invoke(app, ["bench", "--help"]).output


def _completed_trials(journal):
    """(study, key, trial number) of each COMPLETE trial in the bench's ``journal``."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    return sorted(
        (s.study_name, t.user_attrs["key"], t.number)
        for s in optuna.get_all_study_summaries(storage)
        for t in optuna.load_study(study_name=s.study_name, storage=storage).get_trials()
        if t.state == optuna.trial.TrialState.COMPLETE
    )


def test_ctrl_c_says_how_to_resume_and_the_resumed_bench_runs_each_trial_once(tmp_path, forked_parents):
    """Ctrl-C on a bench exited 130 in silence (typer turns KeyboardInterrupt into that code). The signal
    comes once a trial is COMPLETE in the journal (a second after the journal appeared, none was: a resume
    that ran finished trials again passed), and the resume must keep that trial, running each key once."""
    from tests.study.test_cli import interrupted_once

    out = tmp_path / "b"
    journal = out / "study.journal"
    flags = [*TINY[:2], "--optimizers", "sgd,adam", "--budget", "1", "--seeds", "1", "--no-progress"]
    flags += ["--backend", "local", "--threads", "1", "--out", str(out)]

    def finished() -> bool:
        return journal.exists() and bool(_completed_trials(journal))

    code, _, err = interrupted_once(forked_parents(), tmp_path, ["bench", *flags], finished)
    assert code == 130 and not (out / "report.html").exists()
    assert err.startswith("interrupted") and f"optimlab bench --resume {out}" in err, err
    before = _completed_trials(journal)
    assert 1 <= len(before) < 4, before  # some finished before the resume, not all
    # resumed in this process: a third interpreter's start (torch's import, ~3 s) tested nothing more
    again = runner.invoke(app, ["bench", "--resume", str(out), "--no-progress"])
    assert again.exit_code == 0, again.output
    after = _completed_trials(journal)
    assert set(before) <= set(after)  # the finished trials kept, as they were numbered
    assert sorted(key[:2] for key in after) == sorted(  # each key once: none lost, none run twice
        (f"two_spirals_mlp/{m}", k) for m in ("sgd", "adam") for k in ("tune/0", "seeds/0")
    )


def _strict(text):
    """``text`` as a strict JSON parser (JavaScript's, RFC 8259) reads it: no NaN, no Infinity."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_json_a_missed_target_null(tmp_path):
    """A method that never reached the target printed "time to target (steps)": Infinity, which
    JavaScript's JSON.parse refuses and jq reads as 1.7976931348623157e+308 steps."""
    args = ["bench", *TINY[:-3], "--seeds", "1", "--no-progress", "--out", str(tmp_path), "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    per_workload = _strict(result.stdout)["workloads"]
    assert {row["method"] for row in per_workload} == {"sgd", "adam"}
    assert any(row["reached"] == "0/1" for row in per_workload)  # sgd misses at this budget
    for row in per_workload:
        assert (row["time to target (steps)"] is None) == (row["reached"] == "0/1")
    # The terminal's table said "inf" steps, where the report says "not reached".
    human = runner.invoke(app, ["bench", "--resume", str(tmp_path), "--no-progress"], env={"COLUMNS": "200"})
    assert human.exit_code == 0, human.output
    missed = [line for line in human.stdout.splitlines() if "0/1" in line]
    assert missed and all("not reached" in line and "inf" not in line for line in missed)


def test_on_other_data_without_a_target_the_area_score_is_said_to_be_none(tmp_path):
    """bench --dataset rows.csv drops the workloads' targets (levels of their own data): the terminal
    showed an empty area-score table; it now says there is none, and the JSON's scores are empty."""
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,y\n" + "".join(f"{i % 5},{i % 3},{(i * 7) % 2}\n" for i in range(60)))
    args = ["bench", *TINY[:-3], "--seeds", "1", "--no-progress", "--dataset", str(rows)]
    human = runner.invoke(app, [*args, "--out", str(tmp_path / "human")], env={"COLUMNS": "200"})
    assert human.exit_code == 0, human.output
    assert "area score: none, no workload has a target here" in human.stdout
    # each method's time to target and seed runs reached, in the report's words (the terminal said "-")
    rows = [line for line in human.stdout.splitlines() if line.split()[1:2] in (["sgd"], ["adam"])]
    assert len(rows) == 2 and all(line.count("no target") == 2 for line in rows), human.stdout
    document = runner.invoke(app, [*args, "--out", str(tmp_path / "json"), "--format", "json"])
    assert document.exit_code == 0 and _strict(document.stdout)["scores"] == []
    per_workload = _strict(document.stdout)["workloads"]
    assert [(row["time to target (steps)"], row["reached"]) for row in per_workload] == [
        (None, "no target")
    ] * 2


ONE_RUN = ["--budget", "1", "--seeds", "1", "--backend", "local", "--no-progress"]  # one run a method


@pytest.fixture(scope="module")
def one_bench(tmp_path_factory):
    """The folder of a finished `bench --workloads two_spirals_mlp --optimizers sgd` (ONE_RUN), run once for
    the two tests that refuse a command over such a folder: each gets its own copy."""
    folder = tmp_path_factory.mktemp("one_bench")
    flags = ["--workloads", "two_spirals_mlp", "--optimizers", "sgd", *ONE_RUN, "--out", str(folder)]
    result = runner.invoke(app, ["bench", *flags])
    assert result.exit_code == 0, result.output
    return folder


def test_each_verb_refuses_to_resume_the_others_folder_and_names_the_verb_that_does(cli, tmp_path, one_bench):
    """compare --resume on a bench's folder resumed the workloads begun alone and wrote its report over the
    bench's, so the folder looked finished; bench --resume on a comparison's said only 'no bench.json'."""
    bench, comparison = tmp_path / "bench", tmp_path / "compare"
    shutil.copytree(one_bench, bench)
    flags = ["--workload", "two_spirals_mlp", "--optimizers", "sgd", *ONE_RUN, "--out", str(comparison)]
    assert cli("compare", *flags)[0] == 0
    before = {p.name: p.read_bytes() for p in bench.iterdir()}

    code, out, err = cli("compare", "--resume", str(bench), "--no-progress")
    assert (code, out) == (2, "") and err == (
        f"error: --resume '{bench}' is a bench's folder: resume it with `optimlab bench --resume {bench}`\n"
    )
    assert {p.name: p.read_bytes() for p in bench.iterdir()} == before  # no compare report over the bench's
    code, out, err = cli("bench", "--resume", str(comparison), "--no-progress")
    assert (code, out) == (2, "") and err == (
        f"error: --resume '{comparison}' is a comparison's folder (no bench.json): "
        f"resume it with `optimlab compare --resume {comparison}`\n"
    )


def test_the_tables_recompute_by_hand_from_the_trials_in_the_folder(tmp_path):
    """Every number of the scores, the per-workload rows and the report's final-metric intervals, recomputed
    from the seed runs in the folder's journal (read with optuna, not optimlab): Student-t intervals from
    scipy, cut at the metric's bounds; the median time to target (a failed or missing run: never); ratios to
    the fastest, area scores and ranks, where equal scores share a rank (two methods at 0 were ranked 2
    and 3 by their names); and the page names the range each method's learning rate was tuned over."""
    import html
    import math

    import numpy as np
    import optuna
    from optuna.storages.journal import JournalFileBackend
    from scipy import stats

    from optimlab.report.intervals import means_and_intervals

    flags = ["--workloads", "noisy_quadratic,two_spirals_mlp", "--optimizers", "sgd,momentum,adam"]
    flags += ["--budget", "2", "--seeds", "3", "--no-progress", "--format", "json", "--out", str(tmp_path)]
    result = runner.invoke(app, ["bench", *flags])
    assert result.exit_code == 0, result.output
    shown = _strict(result.stdout)
    rows = {(r["workload"], r["method"]): r for r in shown["workloads"]}
    assert shown["compared"] == {  # the summary says what was compared, as the journal's specs hold it
        "methods": ["sgd", "momentum", "adam"],
        "workloads": ["noisy_quadratic", "two_spirals_mlp"],
        "protocol": "grid",
        "budget": 2,
        "seeds": 3,
    }
    page = (tmp_path / "report.html").read_text()
    # the table's intervals said per metric: the loss's no accuracy's (the first workload's words said for all)
    for metric, words in (("test_loss", "(at least 0)"), ("test_accuracy", "([0, 1])")):
        assert (
            f"{metric}: Student-t 95% interval over the seeds, clipped to the metric's range {words}"
            in html.unescape(page)
        )

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "study.journal")))
    costs: dict[str, dict[str, float]] = {}
    intervals: dict[str, dict[str, tuple[float, float, float]]] = {}
    for study in storage.get_all_studies():
        workload, method = study.study_name.split("/")
        spec = study.user_attrs["optimlab.spec"]
        runs = [
            t
            for t in storage.get_all_trials(study._study_id)
            if t.user_attrs.get("phase") == "seeds"
            and t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
        ]
        assert len(runs) == 3 and spec["budget"] == 2 and spec["seeds"] == 3  # the same for every method
        # the page says what each method's tuning searched: a grid of 2 is the ends of its range
        lrs = [
            t.params["optimizer.lr"]
            for t in storage.get_all_trials(study._study_id)
            if "tune" in t.user_attrs["phase"]
        ]
        assert len(lrs) == 2 and f"{method}: optimizer.lr {min(lrs):g} to {max(lrs):g} (log)" in page
        done = [t for t in runs if t.state == optuna.trial.TrialState.COMPLETE]
        values = np.array([t.user_attrs["metrics"][spec["test_metric"]] for t in done])
        half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
        low, high = (0.0, 1.0) if spec["test_metric"].endswith("accuracy") else (0.0, math.inf)
        row = rows[(workload, method)]
        assert row["seeds"] == len(values) and row["test mean"] == pytest.approx(values.mean())
        # a workload's table writes its column to the decimals of its narrowest interval
        intervals.setdefault(workload, {})[method] = (
            values.mean(),
            max(values.mean() - half, low),
            min(values.mean() + half, high),
        )

        better = np.greater_equal if spec["goal"] == "max" else np.less_equal
        hits = []
        for t in runs:
            curve = t.user_attrs["curve"] if t.state == optuna.trial.TrialState.COMPLETE else {}
            met = [
                s
                for s, v in zip(curve.get("step", []), curve.get(spec["metric"], []))
                if better(v, spec["target"])
            ]
            hits.append(float(met[0]) if met else math.inf)
        cost = float(np.median(hits))
        costs.setdefault(workload, {})[method] = cost
        assert row["reached"] == f"{sum(map(math.isfinite, hits))}/3"
        assert row["time to target (steps)"] == (cost if math.isfinite(cost) else None)

    for workload, by_method in intervals.items():
        for method, text in zip(by_method, means_and_intervals(list(by_method.values()))):
            assert text in page, (workload, method, text)

    area = {}
    for method in ("sgd", "momentum", "adam"):
        ratios = [per[method] / min(per.values()) for per in costs.values()]
        area[method] = float(
            np.mean([max(0.0, 4 - max(1.0, r)) / 3 if math.isfinite(r) else 0.0 for r in ratios])
        )
    expected = sorted(
        (
            {
                "rank": 1 + sum(a > area[m] for a in area.values()),
                "method": m,
                "area score": pytest.approx(area[m]),
            }
            for m in area
        ),
        key=lambda r: (r["rank"], r["method"]),
    )
    assert sorted(shown["scores"], key=lambda r: (r["rank"], r["method"])) == expected


def test_a_bench_into_a_folder_that_holds_one_is_refused_with_its_settings_kept(cli, tmp_path, one_bench):
    """bench --out on an earlier bench's folder (no --resume) wrote its own flags over the folder's
    bench.json, then refused ('the storage already holds study ...'): a --resume after that continued the
    earlier trials under the later flags."""
    shutil.copytree(one_bench, tmp_path, dirs_exist_ok=True)  # the earlier bench: sgd's
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    adam = ["--workloads", "two_spirals_mlp", "--optimizers", "adam", *ONE_RUN, "--out", str(tmp_path)]
    code, out, err = cli("bench", *adam)
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert f"continue it with `optimlab bench --resume {tmp_path}`" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


FLAKY = '''
import torch


class FlakySGD(torch.optim.SGD):
    """SGD whose run seeded 2 (the second fresh seed) turns its weights to NaN: that seed run diverges."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, lr=lr)
        self.blows = torch.initial_seed() == 2

    @torch.no_grad()
    def step(self, closure=None):
        super().step(closure)
        for group in self.param_groups if self.blows else ():
            for p in group["params"]:
                p.fill_(float("nan"))
'''


def test_the_per_workload_rows_count_the_seed_runs_that_failed(tmp_path, monkeypatch):
    """A method whose mean is over 2 of its 3 seeds showed "seeds 2" and nothing of the third, which
    diverged; the row says so, as the report's leaderboard does."""
    (tmp_path / "flaky_opt.py").write_text(FLAKY)
    monkeypatch.syspath_prepend(str(tmp_path))
    flags = [
        "--workloads",
        "two_spirals_mlp",
        "--optimizers",
        "sgd",
        "--optimizer-path",
        "flaky_opt:FlakySGD",
    ]
    flags += ["--budget", "1", "--seeds", "3", "--backend", "local", "--no-progress", "--format", "json"]
    result = runner.invoke(app, ["bench", *flags, "--out", str(tmp_path / "bench")])
    assert result.exit_code == 0, result.output
    rows = {row["method"]: row for row in json.loads(result.stdout)["workloads"]}
    assert (rows["flaky_opt:FlakySGD"]["seeds"], rows["flaky_opt:FlakySGD"]["failed"]) == (2, 1)
    assert (rows["sgd"]["seeds"], rows["sgd"]["failed"]) == (3, 0)


def test_the_costs_the_flag_accepts_are_those_the_scores_measure():
    """--cost's choices are written in the CLI (refused before torch loads); they must stay the scores'."""
    from optimlab.bench.scoring import COSTS

    assert bench_cmd.COSTS == COSTS


def test_two_benches_started_at_once_into_one_folder_run_one_and_refuse_the_other(
    tmp_path,
    two_at_once,  # noqa: F811 (the fixture imported above)
):
    """bench never held its folder (98c2cf3 held compare's and train's): two `bench --out X` started
    together both passed the --out check and ran into one journal. Truth: two real processes released
    together after that check (tests.study.test_cli.raced, at check_bench): exactly one runs, the other
    exits 2 with one line naming the folder and bench; the journal reads back whole."""
    from tests.study.test_cli import raced

    flags = [
        "bench",
        "--workloads",
        "two_spirals_mlp",
        "--optimizers",
        "sgd",
        "--budget",
        "1",
        "--seeds",
        "1",
    ]
    args = [*flags, "--no-progress", "--threads", "1"]
    refused = raced(tmp_path, "optimlab.bench:check_bench", args, tmp_path / "b", two_at_once)
    assert "optimlab bench cannot use" in refused, refused


@pytest.mark.parametrize("workloads", ["", " , "])
def test_an_empty_list_of_workloads_is_refused_as_given(workloads, cli, tmp_path):
    """bench --workloads '' was read as no --workloads: 'say what to run: --suite ... (one of them)'. It is
    refused as given, in one line naming the flag and the value."""
    code, out, err = cli("bench", "--workloads", workloads, "--out", str(tmp_path / "b"))
    assert code == 2 and out == "", err
    assert err.strip().splitlines() == [
        f"error: invalid value {workloads!r} for --workloads: accepted one name or more, comma-separated (a,b,c)."
    ]
    assert not (tmp_path / "b").exists()


def test_a_bench_planning_too_many_trials_is_refused_before_its_folder_is_written(cli, tmp_path, monkeypatch):
    """bench --budget 60000 --seeds 60000 over two optimizers (240,000 trials a workload, past the bound
    each study holds) wrote bench.json, then the study refused the plan: the folder looked resumable and
    resumed into the same refusal. Then the bound counted one workload's studies, where one journal holds
    every workload's: --suite small --budget 100000 --seeds 100000 was taken (0/1800000). The journal's plan
    is refused first, naming it; no folder, no first step taken."""
    monkeypatch.setattr("optimlab.bench.check_bench", lambda *a, **k: pytest.fail("a first step was taken"))
    # each study 3000 + 2500 trials, within the bound; the journal's two, past it
    argv = [
        "--workloads",
        "digits_mlp,two_spirals_mlp",
        "--optimizers",
        "sgd",
        "--budget",
        "3000",
        "--seeds",
        "2500",
    ]
    code, out, err = cli("bench", *argv, "--out", str(tmp_path / "b"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "invalid value '2 x 1 x (3000 + 2500) = 11000' for the trials planned in one journal" in err
    assert "a smaller --budget, fewer --seeds, methods or workloads" in err  # the bench's flags, not keywords
    assert not (tmp_path / "b").exists()


def test_a_report_the_disk_refuses_names_the_resume_that_writes_it(cli, tmp_path, monkeypatch):
    """bench on a full disk as it wrote report.html exited 5 on "once there is room, run the command
    again", which runs no bench: its folder, holding one, is refused. The page's write refusing as a full
    disk does (ENOSPC naming the file, as optimlab.atomic raises it): one line names the page, the reason
    and `optimlab bench --resume FOLDER`, as train names its --resume; truth: that command, the disk
    freed, writes the page from the trials kept."""
    import errno
    import os
    import shlex

    import optimlab.report.html

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    out = tmp_path / "bench dir"  # a space: the command is quoted as a shell reads it
    with monkeypatch.context() as patched:
        patched.setattr(optimlab.report.html, "write_atomically", full_disk)
        code, _, err = cli(
            "bench", "--workloads", "two_spirals_mlp", "--optimizers", "sgd", *ONE_RUN, "--out", str(out)
        )
    page = out / "report.html"
    command = shlex.join(["optimlab", "bench", "--resume", str(out)])
    assert (code, err) == (
        5,
        f"error: cannot write '{page}': No space left on device; the finished trials are kept: once there "
        f"is room, `{command}` writes the report\n",
    )
    assert not page.exists()
    code, _, err = cli(*shlex.split(command)[1:], "--no-progress")
    assert (code, err) == (0, "")
    assert "<h2>two_spirals_mlp</h2>" in page.read_text()
