"""The bench report: every workload's section, the profiles, the recipes, the machine; figures as files."""

import dataclasses
import html
import math
import re

import pytest

from optimlab.bench import BenchResult, score, write_bench_report
from optimlab.study import StudySpec, methods_from
from optimlab.study.run import StudyResult
from optimlab.study.storage import TrialRecord
from optimlab.workloads import get_workload

RECIPE = get_workload("digits_mlp", epochs=1).recipe.with_updates(
    {"optimizer.name": "sgd", "training.seed": 1}
)
CURVE = {"step": [10, 20], "seconds": [0.5, 1.0], "val_accuracy": [0.9, 0.97]}


def record(method, key, lr, value=0.95, state="complete"):
    return TrialRecord(
        study=f"w/{method}",
        number=0,
        method=method,
        phase=key.split("/")[0],
        key=key,
        seed=1,
        state=state,
        status="completed" if state == "complete" else "diverged",
        message=None if state == "complete" else "training diverged: the loss became nan",
        params={"optimizer.lr": lr},
        value=value,
        metrics={"test_accuracy": 0.95},
        seconds=1.0,
        steps=20,
        curve=CURVE,
        recipe=RECIPE.to_dict(),
    )


def bench_result(names=("w1", "w2")):
    results = []
    for name in names:
        spec = StudySpec.for_workload(
            name, get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"])
        )
        records = [
            record(m, f"tune/{i}", lr) for m in ("sgd", "adam") for i, lr in enumerate((1e-3, 1e-2, 1e-1))
        ]
        records += [record(m, f"seeds/{i}", 1e-2) for m in ("sgd", "adam") for i in range(2)]
        records.append(record("adam", "tune/3", 1.0, value=math.nan, state="fail"))
        results.append(StudyResult(spec, "", records))
    settings = {
        "methods": ["sgd", "adam"],
        "workloads": list(names),
        "protocol": "grid",
        "budget": 3,
        "seeds": 2,
        "backend": "batched",
        "cost": "steps",
        "location": "runs/x",
    }
    return BenchResult(results=results, scores=score(results), seconds=12.0, settings=settings)


def test_the_report_holds_every_section_figure_recipe_and_the_machine(tmp_path):
    path, files = write_bench_report(
        bench_result(), tmp_path / "report.html", command="optimlab bench --suite small"
    )
    page = path.read_text()
    assert files == [] and page.count("<h2>") == 4  # across workloads, w1, w2, how this was run
    assert "<h2>w1</h2>" in page and "<h2>w2</h2>" in page and "AlgoPerf-style score" in page
    assert page.count("<svg") == 1 + 2 * 2  # profiles; curves and lr sensitivity per workload
    assert (
        page.count("<details>") == 2 * 2 and "optimizer:\n  name: sgd" in page
    )  # each method's recipe, as YAML
    assert "training diverged: the loss became nan" in page  # the failed trial and its reason
    assert (
        "optimlab bench --suite small" in re.sub(r"<[^>]+>", "", page)  # '--suite' is a span.word (1d423de8)
        and "<td>torch</td>" in page
        and "<td>processor</td>" in page
    )
    assert "<script" not in page and "src=" not in page and "<link" not in page  # self-contained


def test_a_bench_under_half_a_second_says_its_wall_time(tmp_path):
    """Whole seconds said '0 s' of it; in two digits as train says a run's (number_text.seconds_text)."""
    quick = dataclasses.replace(bench_result(), seconds=0.3)
    page = write_bench_report(quick, tmp_path / "report.html")[0].read_text()
    assert "<td>wall time</td><td>0.3 s</td>" in page


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_figures_are_also_written_as_files_for_papers(tmp_path, fmt):
    _, files = write_bench_report(bench_result(("w1",)), tmp_path / "report.html", figure_format=fmt)
    assert [f.name for f in files] == [
        f"01-performance-profiles.{fmt}",
        f"02-w1-curves.{fmt}",
        f"03-w1-lr-sensitivity.{fmt}",
    ]
    assert all(f.parent == tmp_path / "figures" and f.stat().st_size > 1000 for f in files)


def test_a_benchmark_without_targets_says_so_instead_of_drawing_profiles(tmp_path):
    result = bench_result(("w1",))
    spec = dataclasses.replace(result.results[0].spec, target=None)
    results = [StudyResult(spec, "", result.results[0].records)]
    page = write_bench_report(
        dataclasses.replace(result, results=results, scores=score(results)), tmp_path / "r.html"
    )[0].read_text()
    assert "No workload has a target" in page and "no target" in page and page.count("<svg") == 2


def test_each_workload_says_which_ranks_the_seeds_tell_apart(tmp_path):
    """bench ranked adam over sgd on two seeds each, each method's equal, without a word that nothing
    was tested (and methods of one mean tie: :func:`test_methods_of_one_mean_tie_in_one_rank`)."""
    result = bench_result(("w1",))
    study = result.results[0]
    records = [
        dataclasses.replace(r, metrics={"test_accuracy": 0.97 if r.method == "adam" else 0.95})
        if r.phase == "seeds"
        else r
        for r in study.records
    ]
    results = [StudyResult(study.spec, "", records)]
    result = dataclasses.replace(result, results=results, scores=score(results))
    path, _ = write_bench_report(result, tmp_path / "report.html")
    assert (
        "order against" in path.read_text()
        and "is untested (fewer than two seed results a side, or no spread)" in (path.read_text())
    )


def test_methods_of_one_mean_tie_in_one_rank(tmp_path):
    path, _ = write_bench_report(bench_result(("w1",)), tmp_path / "report.html")
    assert "sgd ties with adam (the same mean over the seeds: one rank)" in path.read_text()


def test_a_method_that_failed_on_more_seeds_ranks_below_for_it_untested(tmp_path):
    """bench tested the leader against a method that diverged on 1 of its 3 seeds as if its 2 survivors
    were all its runs (the study page already said why it ranks below and left it untested)."""
    result = bench_result(("w1",))
    study = result.results[0]
    seeds = [r for r in study.records if r.phase != "seeds"]
    for i, (sgd, adam) in enumerate(((0.90, 0.99), (0.91, 0.98), (0.92, None))):
        seeds.append(dataclasses.replace(record("sgd", f"seeds/{i}", 1e-2), metrics={"test_accuracy": sgd}))
        failed = record("adam", f"seeds/{i}", 1e-2, value=math.nan, state="fail")
        ok = dataclasses.replace(record("adam", f"seeds/{i}", 1e-2), metrics={"test_accuracy": adam})
        seeds.append(failed if adam is None else ok)
    results = [StudyResult(study.spec, "", seeds)]
    page = write_bench_report(
        dataclasses.replace(result, results=results, scores=score(results)), tmp_path / "r.html"
    )[0].read_text()
    assert "adam ranks below sgd for failing on a larger share of its seed runs (adam 1 of 3" in page
    assert "sgd ranks above adam significantly" not in page


def test_the_workload_counts_the_tuning_trials_a_grid_within_the_budget_plans(tmp_path):
    """A grid over two ranges with a budget of 7 plans 3 x 2 trials (no grid of two axes makes 7); the
    bench page said '7 tuning trials per method'."""
    from optimlab.study.space import SearchSpace

    result = bench_result(("w1",))
    ranges = {"optimizer.lr": {"low": 1e-4, "high": 1.0, "log": True}}
    ranges["optimizer.weight_decay"] = {"low": 1e-6, "high": 1e-2, "log": True}
    spec = dataclasses.replace(result.results[0].spec, space=SearchSpace.from_dict(ranges), budget=7)
    results = [StudyResult(spec, "", result.results[0].records)]
    page = write_bench_report(
        dataclasses.replace(result, results=results, scores=score(results)), tmp_path / "r.html"
    )[0].read_text()
    assert (
        "6 tuning trials (a grid of 3 x 2 over optimizer.lr x optimizer.weight_decay, the largest grid "
        "within the budget of 7) per method"
    ) in page


def test_a_methods_seed_runs_are_listed_in_their_order(tmp_path):
    """With 11 seeds the recipe's summary read 'its seed runs: 1, 10, 11, 2, ...': the runs sorted by
    their keys as text (seeds/10 before seeds/2). Truth: the seed plan's order, seeds 1..11."""
    result = bench_result(("w1",))
    (study,) = result.results
    kept = [r for r in study.records if r.phase != "seeds"]
    for i in range(11):
        kept += [dataclasses.replace(record(m, f"seeds/{i}", 1e-2), seed=i + 1) for m in ("sgd", "adam")]
    results = [StudyResult(study.spec, "", kept)]
    one = BenchResult(results=results, scores=score(results), seconds=1.0, settings=result.settings)
    path, _ = write_bench_report(one, tmp_path / "report.html")
    listed = ", ".join(str(s) for s in range(1, 12))
    assert path.read_text().count(f"seed 1; its seed runs: {listed})") == 2


def test_one_seed_and_one_trial_are_said_in_the_singular(tmp_path):
    """A bench of --budget 1 --seeds 1 read '(1 grid trials over the learning rate), then rerun on 1 fresh
    seeds.' Truth: the study report's fresh_seeds, '1 fresh seed'."""
    result = bench_result(("w1",))
    (study,) = result.results
    one = dataclasses.replace(study.spec, budget=1, seeds=1)
    results = [StudyResult(one, "", study.records)]
    settings = {**result.settings, "budget": 1, "seeds": 1}
    single = BenchResult(results=results, scores=score(results), seconds=1.0, settings=settings)
    path, _ = write_bench_report(single, tmp_path / "report.html")
    assert "(1 grid trial over the learning rate), then rerun on 1 fresh seed." in path.read_text()


def test_each_workload_says_its_split_is_fixed_at_the_tuning_seed_or_that_it_resplits(tmp_path):
    """The bench page described the protocol but not which rows the seed reruns are scored on: benches fix
    the split at the tuning seed (StudySpec.fixed_split), and a bench stored before splits each rerun
    anew. Truth: the study page's own sentence (study.report.split_note) for that spec."""
    from optimlab.study.report import split_note

    result = bench_result(("w1",))
    (study,) = result.results
    fixed = dataclasses.replace(study.spec, recipe=study.spec.recipe.with_updates({"training.seed": 5}))
    stored_before = dataclasses.replace(fixed, fixed_split=False)
    for spec, said in ((fixed, "splits the data at the tuning seed (5)"), (stored_before, "splits")):
        results = [StudyResult(spec, "", study.records)]
        one = dataclasses.replace(result, results=results, scores=score(results))
        page = write_bench_report(one, tmp_path / "report.html")[0].read_text()
        text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
        assert split_note(spec) in text and said in split_note(spec)
    assert split_note(fixed) != split_note(stored_before)


@pytest.mark.parametrize("in_a_bench", [True, False], ids=["bench-folder", "other-folder"])
def test_a_report_the_disk_refuses_says_what_writes_it_in_python_too(tmp_path, monkeypatch, in_a_bench):
    """write_bench_report on a full disk raised the bare OSError in Python: only the CLI said that the
    trials are kept and which command writes the page once there is room. Now the library says it: in a
    bench's folder its `optimlab bench --resume`, elsewhere the call again. Truth: the folder made a
    bench's by write_settings, and bench.resume_command's words for it."""
    import errno
    import os

    import optimlab.report.html
    from optimlab.bench import resume_command, write_settings
    from optimlab.errors import OptimlabError

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    result = bench_result(("w1",))
    if in_a_bench:
        write_settings(tmp_path, {"workloads": "w1", "optimizers": "sgd,adam"})
    monkeypatch.setattr(optimlab.report.html, "write_atomically", full_disk)
    page = tmp_path / "report.html"
    with pytest.raises(OptimlabError) as raised:
        write_bench_report(result, page)
    then = f"`{resume_command(tmp_path)}` writes the report" if in_a_bench else "again writes it"
    said = str(raised.value)
    assert said.startswith(f"cannot write {str(page)!r}: {os.strerror(errno.ENOSPC)}; the finished trials")
    assert said.endswith(then) and "once there is room" in said, said
    assert not page.exists()
