"""The HTML report: leaderboard, figures, failures, the base recipe; profiles across workloads."""

import dataclasses
import math

import pytest

from optimlab.study import StudySpec, leaderboard, methods_from, write_report
from optimlab.study.run import StudyResult
from optimlab.study.significance import board_seeds, ranking_note
from optimlab.study.storage import TrialRecord
from optimlab.workloads import get_workload

SPEC = StudySpec.for_workload(
    "w1", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"])
)
CURVE = {"step": [5, 10], "seconds": [0.5, 1.0], "val_accuracy": [0.9, 0.97]}


def record(method, key, value=math.nan, state="complete", lr=1e-3, message=None, test=0.95):
    return TrialRecord(
        study=f"w1/{method}",
        number=0,
        method=method,
        phase=key.split("/")[0],
        key=key,
        seed=0,
        state=state,
        status="completed" if state == "complete" else "diverged",
        message=message,
        params={"optimizer.lr": lr},
        value=value,
        metrics={"test_accuracy": test},
        seconds=1.0,
        steps=10,
        curve=CURVE,
        recipe=None,
    )


RECORDS = [
    record("sgd", "tune/0", 0.9, lr=1e-3),
    record("sgd", "tune/1", 0.95, lr=1e-2),
    record("sgd", "tune/2", 0.96, lr=1e-1),
    record("sgd", "seeds/0", 0.96, lr=1e-1),
    record("adam", "tune/0", state="fail", lr=1e-2, message="training diverged: the loss became nan"),
    record("adam", "tune/1", 0.9, lr=1e-3),
    record("adam", "seeds/0", 0.9, lr=1e-3),
]


def test_report_of_one_study(tmp_path):
    page = write_report(
        [StudyResult(SPEC, str(tmp_path), RECORDS)], tmp_path / "report.html", command="optimlab compare"
    ).read_text()
    assert page.count("<svg") == 2 and "<h2>w1</h2>" in page and "Across workloads" not in page
    assert "Best value at the edge of the tuned range (sgd: optimizer.lr)" in page
    assert "training diverged: the loss became nan" in page  # the failed trial and its reason
    assert (
        "<td>data.scaling</td><td>standardize</td>" in page
        and "<td>0.95 (one seed: no interval)</td>" in page
    )
    # the leaderboard speaks words, not CSV columns, and shows no 'nan'; the command and machine are stated
    assert (
        "<th>test_<wbr>accuracy mean [95% CI]</th>" in page
        and "test_mean" not in page
        and ">nan<" not in page
    )
    assert "<h2>How this was run</h2>" in page and "<td>torch</td>" in page
    assert "<script" not in page and "src=" not in page and "<link" not in page  # self-contained


def test_report_across_workloads_adds_performance_profiles(tmp_path):
    other = StudyResult(dataclasses.replace(SPEC, name="w2"), str(tmp_path), RECORDS)
    page = write_report([StudyResult(SPEC, str(tmp_path), RECORDS), other], tmp_path / "r.html").read_text()
    assert "<h2>w2</h2>" in page and "Across workloads" in page and page.count("<svg") == 5


def test_a_storage_password_stays_off_the_page(tmp_path):
    """The page is shared (and sent to MLflow): a PostgreSQL password in --storage was shown three times,
    as the storage and within the command, while errors already hid it."""
    url = "postgresql://probe:s3cret@db-host/studies"
    page = write_report(
        [StudyResult(SPEC, url, RECORDS)],
        tmp_path / "report.html",
        command=f"optimlab compare --optimizers sgd,adam --storage {url} --backend workers",
    ).read_text()
    assert "s3cret" not in page
    assert page.count("postgresql://probe:***@db-host/studies") == 3


def test_a_study_in_memory_is_said_not_kept(tmp_path):
    """A study run in memory (location None) was shown as kept at "this process's memory", an Optuna storage
    optuna-dashboard reads."""
    page = write_report([StudyResult(SPEC, None, RECORDS)], tmp_path / "report.html").read_text()
    assert "Storage: in memory, not kept." in page and "optuna-dashboard" not in page
    assert "<td>storage</td><td>in memory, not kept</td>" in page


def test_the_base_recipe_says_which_fields_the_methods_set_and_tuning_searches(tmp_path):
    """'Base recipe (what every trial shares)' listed optimizer.name: adam and a blank optimizer.lr, where
    half the trials ran sgd and every trial had its own lr."""
    page = write_report([StudyResult(SPEC, str(tmp_path), RECORDS)], tmp_path / "report.html").read_text()
    base = page.split("Base recipe (what every trial shares)")[1].split("</table>")[0]
    assert "<td>optimizer.name</td><td>set by each method (sgd: sgd, adam: adam)</td>" in base
    assert "<td>optimizer.lr</td><td>tuned (best value per method in the leaderboard)</td>" in base
    assert "<td>optimizer.weight_decay</td><td>(default)</td>" in base and "<td></td>" not in base


def test_the_metric_axes_say_what_the_metric_is_and_its_unit(tmp_path):
    """The curves and the lr sensitivity were labelled 'val_accuracy', where the run page says
    'validation accuracy (fraction correct)'."""
    from optimlab.study.report import curves_figure, sensitivity_figure

    result = StudyResult(SPEC, str(tmp_path), RECORDS)
    for figure in (curves_figure(result), sensitivity_figure(result)):
        assert figure.axes[0].get_ylabel() == "validation accuracy (fraction correct)"


def test_the_leaderboard_interval_is_students_with_the_decimals_it_supports(tmp_path, page_reader):
    """The cell read '0.8454 [0.01366, 1]': each number to 4 significant digits, a bound to five decimals
    beside one to none. Checked against scipy's Student-t interval of the seeds' test accuracies."""
    from scipy import stats

    accuracies = [0.91, 0.95, 0.972]
    seeds = [
        dataclasses.replace(record("sgd", f"seeds/{i}", 0.96, lr=1e-1), metrics={"test_accuracy": a})
        for i, a in enumerate(accuracies)
    ]
    page = write_report([StudyResult(SPEC, str(tmp_path), [*RECORDS[:3], *seeds])], tmp_path / "r.html")
    (board,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboard"]
    cell = next(r for r in board.records() if r["method"] == "sgd")["test_accuracy mean [95% CI]"]
    mean = sum(accuracies) / 3
    low, high = stats.t.interval(0.95, 2, loc=mean, scale=stats.sem(accuracies))
    assert cell == f"{mean:.3f} [{low:.3f}, {min(high, 1.0):.3f}]" == "0.944 [0.866, 1.000]"  # <= 1


def _page_of_seeds(tmp_path, accuracies: dict[str, list[float]]):
    """A study's page whose methods' seeds end at ``accuracies`` (test accuracy, one per seed)."""
    seeds = [
        dataclasses.replace(record(m, f"seeds/{i}", 0.96), metrics={"test_accuracy": a})
        for m, values in accuracies.items()
        for i, a in enumerate(values)
    ]
    records = [*RECORDS[:3], RECORDS[5], *seeds]
    return write_report([StudyResult(SPEC, str(tmp_path), records)], tmp_path / "r.html")


def test_the_leaderboard_column_reads_in_the_order_of_the_ranking(tmp_path, page_reader):
    """bench's two seeds gave adam 0.9582 [0.852, 1.000] and sgd 0.9568 [0.76, 1.00]: each mean to the
    decimals of its own interval, the column read 0.958 above 0.96, the second shown above the first."""
    page = _page_of_seeds(tmp_path, {"adam": [0.9499, 0.9666], "sgd": [0.9415, 0.9721]})
    (board,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboard"]
    cells = [r["test_accuracy mean [95% CI]"] for r in board.records()]
    means = [float(cell.split()[0]) for cell in cells]
    assert [r["method"] for r in board.records()] == ["adam", "sgd"] and means[0] > means[1], cells
    assert len({len(cell.split()[0]) for cell in cells}) == 1, cells


def test_a_method_keeps_its_colour_in_every_figure_where_another_has_no_line(tmp_path):
    """sgd's tuning all diverged: the curves figure drew adam in sgd's blue, the sensitivity figure in
    orange, so the page's two figures named different lines by one colour."""
    from optimlab.study.report import curves_figure, sensitivity_figure

    records = [
        record("sgd", "tune/0", lr=1e3),
        record("sgd", "tune/1", state="fail", lr=1e4),
        record("adam", "tune/0", 0.9, lr=1e-3),
        record("adam", "seeds/0", 0.9, lr=1e-3),
    ]
    result = StudyResult(SPEC, str(tmp_path), records)
    colour = {
        figure_name: {line.get_label(): line.get_color() for line in figure.axes[0].lines}
        for figure_name, figure in (
            ("curves", curves_figure(result)),
            ("sensitivity", sensitivity_figure(result)),
        )
    }
    assert "sgd" not in colour["curves"] and colour["curves"]["adam"] == colour["sensitivity"]["adam"]


def test_the_leaderboard_says_which_ranks_the_seeds_tell_apart(tmp_path, page_reader):
    """Ranks 1 and 2 were given with overlapping intervals and no word that the seeds could not tell
    the two methods apart."""
    page = _page_of_seeds(tmp_path, {"adam": [0.8914, 0.9443, 0.8914], "sgd": [0.7799, 0.9109, 0.9359]})
    (note,) = [p for p in page_reader(page.read_text()).paragraphs if p.startswith("Ranking:")]
    assert "adam's lead over sgd is within the noise of the seeds (not significant)" in note


def test_the_page_says_what_each_method_searched(tmp_path, page_reader):
    """compare's page said '3 tuning trials per method' and 'optimizer.lr: tuned', never over what range:
    a study of lr in 10..1000 read like one of the defaults."""
    from optimlab.study.space import Dimension, SearchSpace

    space = SearchSpace((Dimension("optimizer.lr", low=10.0, high=1000.0, log=True),))
    spec = dataclasses.replace(SPEC, space=space)
    page = write_report([StudyResult(spec, str(tmp_path), RECORDS)], tmp_path / "r.html")
    (said,) = [p for p in page_reader(page.read_text()).paragraphs if p.startswith("Protocol grid")]
    assert "over sgd: optimizer.lr 10 to 1000 (log); adam: optimizer.lr 10 to 1000 (log), then" in said


def test_seeds_that_all_gave_one_value_are_said_to_be_one_measurement(tmp_path, page_reader):
    """The user's model built from a fixed generator, on fixed splits read in order: each method's 3 seeds
    gave one value, and the page showed '0.91 [0.91, 0.91]' as a certain result. It then said 'the setup
    ignores the seed' of any such seeds, also of two data splits whose 60 test rows both scored 59."""
    records = [
        record("sgd", "tune/0", 0.9),
        *(
            dataclasses.replace(record("sgd", f"seeds/{i}", 0.9), metrics={"test_accuracy": 0.91})
            for i in range(3)
        ),
        record("adam", "tune/0", 0.9),
        *(record("adam", f"seeds/{i}", 0.9) for i in range(3)),  # test_accuracy 0.95, each
    ]
    page = write_report([StudyResult(SPEC, str(tmp_path), records)], tmp_path / "r.html")
    (board,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboard"]
    assert [r["test_accuracy mean [95% CI]"] for r in board.records()] == [
        "0.950 [0.950, 0.950] (its 3 seeds gave one value: the setup ignores the seed, or the metric is "
        "too coarse to tell them apart)",
        "0.910 [0.910, 0.910] (its 3 seeds gave one value: the setup ignores the seed, or the metric is "
        "too coarse to tell them apart)",
    ]


def test_a_seed_rerun_without_a_test_metric_is_listed_with_the_failed_trials(tmp_path, page_reader):
    """A user's metric that was NaN on a seed's test split (an F1 of a class the split lacks) left that
    run out of the mean and counted it in 'failed', but the table of failed trials did not list it: 3
    failed a method, 1 listed, no reason for the others."""
    records = [
        record("sgd", "tune/0", 0.9),
        record("sgd", "seeds/0", 0.9),
        dataclasses.replace(record("sgd", "seeds/1", 0.9), metrics={"test_accuracy": None}),
        record("sgd", "seeds/2", state="fail", message="training diverged"),
    ]
    page = write_report([StudyResult(SPEC, str(tmp_path), records)], tmp_path / "r.html")
    tables = page_reader(page.read_text()).tables
    (board,) = [t for t in tables if t.caption == "Leaderboard"]
    sgd = board.records()[0]
    assert (sgd["method"], sgd["seeds"], sgd["failed trials"]) == ("sgd", "1 of 3", "2")
    (failed,) = [t for t in tables if t.caption == "Failed, diverged or pruned trials (2)"]
    assert [(r["trial"], r["status"], r["reason"]) for r in failed.records()] == [
        ("seeds/1", "completed", "no finite test_accuracy on the test split"),
        ("seeds/2", "diverged", "training diverged"),
    ]


def test_optimizers_compared_at_their_default_lr_are_said_not_to_be_tuned(tmp_path, page_reader):
    """A space of weight decay alone left each optimizer at its own default lr (SGD's 1e-3, a placeholder:
    sgd 0.25, adam 0.41 on the user's data), and the page read as a tuned comparison."""
    from optimlab.study.space import SearchSpace

    decay = SearchSpace.from_dict({"optimizer.weight_decay": [0.0, 1e-4]})
    spec = dataclasses.replace(SPEC, space=decay)
    page = write_report([StudyResult(spec, str(tmp_path), RECORDS)], tmp_path / "r.html")
    said = [p for p in page_reader(page.read_text()).paragraphs if p.startswith("Not a comparison")]
    assert said == [
        "Not a comparison of tuned optimizers: optimizer.lr is neither searched nor set: each optimizer "
        "trains at its default (sgd 0.001, adam 0.001), not a tuned one; search optimizer.lr too (--space), "
        "or set it, to compare tuned optimizers."
    ]
    with_lr = SearchSpace.from_dict({"optimizer.weight_decay": [0.0], "optimizer.lr": [0.1]})
    set_lr = dataclasses.replace(spec, recipe=spec.recipe.with_updates({"optimizer.lr": 0.01}))
    for tuned in (SPEC, dataclasses.replace(SPEC, space=with_lr), set_lr):
        assert tuned.untuned_lr() is None


def test_results_on_the_validation_split_that_tuned_them_are_said_to_be(tmp_path, page_reader):
    """Without a test split ((train, val) of the user's), the page reported the validation metric of the
    split that had chosen each configuration as it reports a test metric, its optimism unsaid."""
    spec = dataclasses.replace(SPEC, test_metric="val_accuracy")
    records = [dataclasses.replace(r, metrics={"val_accuracy": 0.95}) for r in RECORDS]
    page = write_report([StudyResult(spec, str(tmp_path), records)], tmp_path / "r.html")
    paragraphs = page_reader(page.read_text()).paragraphs
    assert any(
        p.startswith("No test split: val_accuracy is of the validation split that chose") for p in paragraphs
    )
    page = write_report([StudyResult(SPEC, str(tmp_path), RECORDS)], tmp_path / "r.html")
    assert not any(p.startswith("No test split") for p in page_reader(page.read_text()).paragraphs)


def test_the_page_counts_the_tuning_trials_a_grid_within_the_budget_plans(tmp_path, page_reader):
    """A grid over two ranges fills the budget where a grid can (8 = 4 x 2; it planned 2 x 2, 4 trials a
    method, which the page called '8 tuning trials per method'), and says what grid it ran."""
    from optimlab.study.space import SearchSpace

    ranges = {"optimizer.lr": {"low": 1e-4, "high": 1.0, "log": True}}
    ranges["optimizer.weight_decay"] = {"low": 1e-6, "high": 1e-2, "log": True}
    for budget, planned, said in (
        (
            8,
            8,
            "Protocol grid: 8 tuning trials (a grid of 4 x 2 over optimizer.lr x optimizer.weight_decay) ",
        ),
        (
            7,
            6,
            "Protocol grid: 6 tuning trials (a grid of 3 x 2 over optimizer.lr x optimizer.weight_decay, the "
            "largest grid within the budget of 7) per method",
        ),
        (
            9,
            9,
            "Protocol grid: 9 tuning trials (a grid of 3 x 3 over optimizer.lr x optimizer.weight_decay) ",
        ),
    ):
        spec = dataclasses.replace(SPEC, space=SearchSpace.from_dict(ranges), budget=budget)
        assert [len(spec.tune_plan(m)) for m in spec.methods] == [planned, planned]
        page = write_report([StudyResult(spec, str(tmp_path), RECORDS)], tmp_path / "r.html")
        (paragraph,) = [p for p in page_reader(page.read_text()).paragraphs if p.startswith("Protocol grid")]
        assert paragraph.startswith(said)


def test_one_seed_has_no_interval_and_no_standard_deviation_and_says_so(tmp_path, page_reader):
    """One seed each: the leaderboard showed std 0 and a bare mean under '95% CI', and the page called the
    order of two single runs a ranking without a word."""
    records = [*RECORDS[:-1], record("adam", "seeds/0", 0.9, lr=1e-3, test=0.93)]
    page = write_report([StudyResult(SPEC, str(tmp_path), records)], tmp_path / "r.html")
    reader = page_reader(page.read_text())
    (board,) = [t for t in reader.tables if t.caption == "Leaderboard"]
    for row in board.records():
        assert row["std"] == "" and row["test_accuracy mean [95% CI]"].endswith(" (one seed: no interval)")
    assert [row["rank"] for row in board.records()] == ["1", "2"]
    assert any(p.startswith("Ranking: sgd first") and "untested" in p for p in reader.paragraphs)


def test_methods_that_tie_share_a_rank_and_the_page_says_they_tie(tmp_path, page_reader):
    """Two methods with the same mean over their seeds (a model and data that ignore the compared field)
    were ranked 1 and 2 by the order they were listed in, and the note called that order chance."""
    from optimlab.study.analysis import leaderboard
    from optimlab.study.export import leaderboard_rows

    records = [
        record(m, k, 0.9, test=0.72) for m in ("sgd", "adam") for k in ("tune/0", "seeds/0", "seeds/1")
    ]
    result = StudyResult(SPEC, str(tmp_path), records)
    reader = page_reader(write_report([result], tmp_path / "r.html").read_text())
    (board,) = [t for t in reader.tables if t.caption == "Leaderboard"]
    assert [(row["method"], row["rank"]) for row in board.records()] == [("sgd", "1"), ("adam", "1")]
    assert [row["rank"] for row in leaderboard_rows(leaderboard(SPEC, records))] == [1, 1]
    assert "Ranking: sgd ties with adam (the same mean over the seeds: one rank)." in reader.paragraphs


def test_a_method_whose_every_seed_run_failed_is_said_to_have_no_result(tmp_path, page_reader):
    """adam's 3 seed runs all diverged: its row read 'no result' with no word in the ranking's note (which
    needs two methods with results) and no entry in the curves' legend."""
    from optimlab.study.report import curves_figure

    records = [record("sgd", "tune/0", 0.9), *(record("sgd", f"seeds/{i}", 0.9) for i in range(3))]
    records += [
        record("adam", "tune/0", 0.9),
        *(record("adam", f"seeds/{i}", state="fail") for i in range(3)),
    ]
    result = StudyResult(SPEC, str(tmp_path), records)
    reader = page_reader(write_report([result], tmp_path / "r.html").read_text())
    (board,) = [t for t in reader.tables if t.caption == "Leaderboard"]
    assert [(row["rank"], row["method"], row["seeds"]) for row in board.records()] == [
        ("1", "sgd", "3"),
        ("", "adam", "0 of 3"),
    ]
    assert "Ranking: adam (3 of 3) has no result: every seed run diverged or failed." in reader.paragraphs
    legend = curves_figure(result).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["sgd", "adam (3 of 3 seed runs failed)"]


def test_the_failed_column_counts_trials_not_seed_runs(tmp_path, page_reader):
    """sgd's 3 seed runs completed and one tuning trial diverged: 'seeds 3, failed 1' read as one of its
    seeds failing."""
    records = [record("sgd", "tune/0", 0.9), record("sgd", "tune/1", state="fail", lr=1.0)]
    records += [record("sgd", f"seeds/{i}", 0.9, test=0.9 + i / 100) for i in range(3)]
    reader = page_reader(
        write_report([StudyResult(SPEC, str(tmp_path), records)], tmp_path / "r.html").read_text()
    )
    (board,) = [t for t in reader.tables if t.caption == "Leaderboard"]
    sgd = board.records()[0]
    assert (sgd["seeds"], sgd["failed trials"]) == ("3", "1")


def test_a_method_whose_every_trial_failed_says_so_in_the_sensitivity_legend(tmp_path):
    """sgd's three trials all diverged: the legend named 'sgd' beside no point at all."""
    from optimlab.study.report import sensitivity_figure

    records = [record("sgd", f"tune/{i}", state="fail", lr=lr) for i, lr in enumerate((10.0, 100.0))]
    records += [record("adam", "tune/0", 0.9, lr=1e-3), record("adam", "tune/1", 0.8, lr=1e-2)]
    axes = sensitivity_figure(StudyResult(SPEC, str(tmp_path), records)).axes[0]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["sgd (every trial failed)", "adam"]


def test_the_legends_and_the_leaderboard_name_the_failed_seed_runs_and_lrs(tmp_path, page_reader):
    """The curves drew a method's mean over its completed seed runs alone, and the sensitivity figure's
    'gap' of a failed trial at the end of a line did not show: nothing in either figure said that 2 of
    3 seed runs diverged, or that lr 1 did."""
    from optimlab.study.report import curves_figure, sensitivity_figure

    records = [
        record("sgd", "tune/0", 0.9, lr=1e-2),
        record("sgd", "tune/1", state="fail", lr=1.0),
        record("sgd", "seeds/0", 0.9, lr=1e-2),
        record("sgd", "seeds/1", state="fail", lr=1e-2),
        record("sgd", "seeds/2", state="fail", lr=1e-2),
        record("adam", "tune/0", 0.9, lr=1e-3),
        record("adam", "seeds/0", 0.9, lr=1e-3),
    ]
    result = StudyResult(SPEC, str(tmp_path), records)
    page = write_report([result], tmp_path / "r.html")
    (board,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboard"]
    # the leaderboard's seeds say why sgd ranks below: 1 of 3 completed (was '1', as adam's)
    assert [(r["method"], r["seeds"], r["failed trials"]) for r in board.records()] == [
        ("adam", "1", "0"),
        ("sgd", "1 of 3", "3"),
    ]
    curves, tuning = (figure(result).axes[0].get_legend() for figure in (curves_figure, sensitivity_figure))
    assert [t.get_text() for t in curves.get_texts()][:2] == ["sgd (2 of 3 seed runs failed)", "adam"]
    assert [t.get_text() for t in tuning.get_texts()] == ["sgd (failed at 1)", "adam"]


def test_a_study_without_a_finished_seed_rerun_ranks_nothing(tmp_path, page_reader):
    """A study stopped before its first trial ranked sgd 1 and adam 2, both 'no result', above empty axes."""
    page = write_report([StudyResult(SPEC, str(tmp_path), [])], tmp_path / "r.html")
    reader = page_reader(page.read_text())
    (board,) = [t for t in reader.tables if t.caption == "Leaderboard"]
    assert [r["rank"] for r in board.records()] == ["", ""]
    assert "<figure>" not in page.read_text()
    assert "No seed rerun finished: no result to rank, no curve to draw (0 trials)." in reader.paragraphs


def test_the_page_names_the_seeds_of_tuning_and_of_the_reruns(tmp_path, page_reader):
    """The page said '3 fresh seeds' but not which: a rerun could not be repeated seed for seed."""
    seeds = [dataclasses.replace(record("sgd", f"seeds/{i}", 0.96), seed=s) for i, s in enumerate((1, 2, 3))]
    page = write_report([StudyResult(SPEC, str(tmp_path), [*RECORDS[:3], *seeds])], tmp_path / "r.html")
    (said,) = [p for p in page_reader(page.read_text()).paragraphs if p.startswith("Protocol grid")]
    assert "tuning trials per method (seed 0) over" in said and "fresh seeds (1, 2, 3);" in said


def test_one_tuning_trial_on_one_seed_reads_in_the_singular(tmp_path, page_reader):
    """'Protocol grid: 1 tuning trials per method ... on 1 fresh seeds'."""
    from optimlab.study.space import SearchSpace

    spec = dataclasses.replace(SPEC, space=SearchSpace.from_flags(["optimizer.lr=0.1"]), budget=1, seeds=1)
    page = write_report([StudyResult(spec, str(tmp_path), RECORDS)], tmp_path / "r.html")
    (said,) = [p for p in page_reader(page.read_text()).paragraphs if p.startswith("Protocol grid")]
    assert said.startswith("Protocol grid: 1 tuning trial per method") and " on 1 fresh seed (" in said


def test_sensitivity_over_a_grid_of_two_fields_shows_the_best_at_each_learning_rate(tmp_path):
    """A grid of lr x weight decay: the line zigzagged through both decays at each lr, a sensitivity no
    reader can take from the figure; each lr now shows its best over the decays, and the caption says so."""
    from optimlab.study.report import sensitivity_figure
    from optimlab.study.space import SearchSpace

    space = SearchSpace.from_flags(["optimizer.lr=1e-3:1e-1:log", "optimizer.weight_decay=0:1e-3"])
    spec = dataclasses.replace(SPEC, space=space, budget=4)
    records = []
    for i, (lr, decay, value) in enumerate(
        [(1e-3, 0, 0.5), (1e-3, 1e-3, 0.6), (1e-1, 0, 0.9), (1e-1, 1e-3, 0.8)]
    ):
        for method in ("sgd", "adam"):
            records.append(record(method, f"tune/{i}", value, lr=lr))
            records[-1].params["optimizer.weight_decay"] = decay
    result = StudyResult(spec, str(tmp_path), records)
    line = sensitivity_figure(result).axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [1e-3, 1e-1] and list(line.get_ydata()) == [0.6, 0.9]
    page = write_report([result], tmp_path / "r.html").read_text()
    assert (
        "<figcaption>Learning-rate sensitivity in tuning (a gap: the trial failed); at each learning rate, "
        "the best over optimizer.weight_decay.</figcaption>" in page
    )


def test_the_base_recipe_says_which_model_fields_the_users_model_does_not_take(user_package):
    """On the user's model (a factory naming only width), the base recipe read 'model.activation relu',
    'model.norm none', as if the model's own units were replaced; a built-in model takes every field."""
    from optimlab.study.report import base_recipe_rows

    path = "optimlab_userpkg.nets:build"
    recipe = SPEC.recipe.with_updates({"model.name": path})
    rows = dict(base_recipe_rows(dataclasses.replace(SPEC, recipe=recipe)))
    assert rows["model.width"] == recipe.model.width  # build(input_shape, num_outputs, width=16)
    for field in ("model.depth", "model.activation", "model.norm", "model.init", "model.dropout"):
        assert rows[field] == f"not taken by {path}"
    built_in = dict(base_recipe_rows(SPEC))
    assert built_in["model.activation"] == SPEC.recipe.model.activation


def test_the_base_recipe_says_which_methods_do_not_take_an_option():
    """A recipe of adam with betas, compared with sgd: sgd's recipe drops them (sgd takes no betas), yet
    the base recipe, 'what every trial shares', read 'optimizer.options.betas [0.9, 0.99]'."""
    from optimlab.study.report import base_recipe_rows

    recipe = SPEC.recipe.with_updates({"optimizer.name": "adam", "optimizer.options.betas": [0.9, 0.99]})
    spec = dataclasses.replace(SPEC, recipe=recipe)
    assert "betas" not in spec.method_recipe(spec.methods[0]).optimizer.options  # sgd trains without
    rows = dict(base_recipe_rows(spec))
    assert rows["optimizer.options.betas"] == "[0.9, 0.99] (not taken by sgd)"
    assert rows["training.batch_size"] == recipe.training.batch_size  # shared by both: as it is


def test_more_methods_than_colours_are_each_drawn_their_own_way(tmp_path):
    """13 optimizers compared: the 11th to 13th were drawn in the 1st to 3rd's colours and solid lines, two
    methods one line style in the legend and on the curves."""
    from optimlab.study.report import curves_figure, profiles_figure, sensitivity_figure

    names = ["sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adadelta", "adam", "adamw", "amsgrad"]
    names += ["nadam", "radam", "adamax", "lion"]
    spec = StudySpec.for_workload(
        "w1", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", names)
    )
    records = [record(m, key, 0.9) for m in names for key in ("tune/0", "seeds/0")]
    result = StudyResult(spec, str(tmp_path), records)
    profiles = profiles_figure([1.0, 2.0], {m: [0.5, i / 13] for i, m in enumerate(names)}, "steps")
    for figure in (curves_figure(result), sensitivity_figure(result), profiles):
        lines = figure.axes[0].lines  # and the target's: not a method's
        drawn = {
            line.get_label(): (line.get_color(), line.get_linestyle())
            for line in lines
            if line.get_label() in names
        }
        assert len(drawn) == len(names) and len(set(drawn.values())) == len(names)


def test_methods_of_one_performance_profile_share_a_line_that_names_them_all():
    """Two methods of identical profiles were two lines, the second drawn over the first: sgd was nowhere
    on the figure, its legend entry pointing at adam's line."""
    from optimlab.study.report import profiles_figure

    figure = profiles_figure(
        [1.0, 2.0, 4.0], {"adam": [0.5, 1, 1], "lion": [0, 0.5, 1], "sgd": [0.5, 1, 1]}, "s"
    )
    drawn = {line.get_label(): list(line.get_ydata()) for line in figure.axes[0].lines}
    assert drawn == {"adam, sgd (the same profile)": [0.5, 1, 1], "lion": [0, 0.5, 1]}


def test_a_budget_of_one_trial_over_a_range_is_said_to_tune_nothing(tmp_path, page_reader):
    """--budget 1: the page said '1 tuning trial per method over sgd: optimizer.lr 0.0001 to 1', as if the
    lr had been tuned over four decades; each method ran the grid's one point, the middle of its range."""

    def protocol(spec):
        page = write_report([StudyResult(spec, str(tmp_path), RECORDS)], tmp_path / "r.html")
        return next(p for p in page_reader(page.read_text()).paragraphs if p.startswith("Protocol"))

    one = dataclasses.replace(SPEC, budget=1)
    middle = [{"optimizer.lr": pytest.approx(1e-2)}]  # of sgd's 1e-4..1
    assert [p.params for p in one.tune_plan(one.methods[0])] == middle
    assert "0.1 (log) (nothing tuned: each method ran the middle of its range), then" in protocol(one)
    assert "(nothing tuned: each method ran one random draw of its range)" in protocol(
        dataclasses.replace(one, protocol="random")
    )
    assert "nothing tuned" not in protocol(dataclasses.replace(one, budget=2))


def test_workloads_where_no_method_reached_the_target_have_no_profile_drawn(tmp_path, page_reader):
    """No method reached its target on either workload: the page drew every profile flat at 0, lines on
    the axis, a figure that says nothing."""
    low = {"step": [5, 10], "seconds": [0.5, 1.0], "val_accuracy": [0.5, 0.6]}  # the target is 0.96
    records = [dataclasses.replace(r, curve=low) for r in RECORDS]
    other = StudyResult(dataclasses.replace(SPEC, name="w2"), str(tmp_path), records)
    page = write_report([StudyResult(SPEC, str(tmp_path), records), other], tmp_path / "r.html").read_text()
    said = page_reader(page).paragraphs
    assert "No method reached the target on any workload (in the median of its seed runs): no " in " ".join(
        said
    )
    assert page.count("<svg") == 4  # the curves and the sensitivity of each workload, no profile
    untargeted = [
        StudyResult(dataclasses.replace(SPEC, name=n, target=None), str(tmp_path), RECORDS) for n in "ab"
    ]
    said = page_reader(write_report(untargeted, tmp_path / "u.html").read_text()).paragraphs
    assert "The workloads set no target: no time to target, no performance profile to draw." in said


def test_a_comparison_of_model_sizes_says_each_methods_parameters(cli, tmp_path, page_reader):
    """A comparison of widths ranked the methods with no word that they train models of other sizes;
    the trials record their model's parameters (an MLP 4-w-w-3: (4 + 1) w + (w + 1) w + (w + 1) 3)."""
    code, _, err = cli(
        "compare", "--dataset", "iris", "--model", "mlp", "--compare", "model.width=4,8", "--budget", "1",
        "--seeds", "1", "--epochs", "1", "--out", str(tmp_path / "c"), "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    paragraphs = page_reader((tmp_path / "c" / "report.html").read_text()).paragraphs
    (said,) = [p for p in paragraphs if p.startswith("The methods train models of different sizes")]
    counts = {w: 5 * w + (w + 1) * w + (w + 1) * 3 for w in (4, 8)}
    assert said.endswith(f"4: {counts[4]} parameters; 8: {counts[8]} parameters.")


def test_methods_of_one_model_size_say_nothing_of_it(tmp_path, page_reader):
    model = {"parameters": 1234, "digest": "d"}
    records = [dataclasses.replace(r, model=model) for r in RECORDS]
    page = write_report([StudyResult(SPEC, str(tmp_path), records)], tmp_path / "r.html")
    assert not any("different sizes" in p for p in page_reader(page.read_text()).paragraphs)
    records[-1] = dataclasses.replace(records[-1], model={"parameters": 12345, "digest": "e"})
    page = write_report([StudyResult(SPEC, str(tmp_path), records)], tmp_path / "r.html")
    (said,) = [p for p in page_reader(page.read_text()).paragraphs if "different sizes" in p]
    assert "sgd: 1,234 parameters; adam: 1,234 or 12,345 parameters" in said


def test_the_leaderboard_has_a_steps_to_target_column_only_where_the_study_has_a_target(
    tmp_path, page_reader
):
    """On the user's data (no target), the column read "no target" on every row, in the terminal and on
    the page."""
    from optimlab.cli.compare_cmd import leaderboard_table

    assert SPEC.target == 0.96  # digits_mlp's
    for spec, has_column in ((SPEC, True), (dataclasses.replace(SPEC, target=None), False)):
        page = write_report([StudyResult(spec, str(tmp_path), RECORDS)], tmp_path / "r.html")
        (board,) = [t for t in page_reader(page.read_text()).tables if t.caption == "Leaderboard"]
        assert any(h.startswith("steps to target") for h in board.header) == has_column
        assert all(len(row) == len(board.header) for row in board.rows)
        columns, rows = leaderboard_table(spec, leaderboard(spec, RECORDS))
        assert ("steps to target" in columns) == has_column and all(len(r) == len(columns) for r in rows)


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_a_finished_comparison_builds_each_studys_leaderboard_and_its_tests_once(monkeypatch, capsys, fmt):
    """compare built a finished study's leaderboard (a CI and paired tests per method) five times: for its
    table, its ranking note, its note of two values tried, its JSON document and that document's ranking;
    then ran its Holm-adjusted Welch tests against the first three times (the ranking printed, the
    document's p-values, its ranking). Now each once, and what it prints and returns is what each reader
    made of its own. Truth: the calls counted; the text printed and the document returned against those
    of each reader given a leaderboard and tests of its own, as compare printed them before (329da017^)."""
    import optimlab.study
    from optimlab.cli import compare_cmd
    from optimlab.cli._output import Output
    from optimlab.study import significance
    from optimlab.study.analysis import interval_words
    from optimlab.study.report import few_tried_note, fresh_seeds

    output = Output(fmt)
    if output.human:
        output.table(
            f"{SPEC.name}: {SPEC.test_metric} of each method's best configuration over {fresh_seeds(SPEC)}",
            *compare_cmd.leaderboard_table(SPEC, leaderboard(SPEC, RECORDS)),
        )
        output.result(f"95% CI: {interval_words(SPEC.test_metric)}")
        if note := ranking_note(*board_seeds(SPEC, RECORDS, leaderboard(SPEC, RECORDS))):
            output.result(note)
        if note := few_tried_note(leaderboard(SPEC, RECORDS)):
            output.result(note)
    each_its_own = compare_cmd._study_document(
        SPEC,
        leaderboard(SPEC, RECORDS),
        significance.versus_first(*board_seeds(SPEC, RECORDS, leaderboard(SPEC, RECORDS))),
        ranking_note(*board_seeds(SPEC, RECORDS, leaderboard(SPEC, RECORDS))),
    )
    printed = capsys.readouterr().out
    board = leaderboard(SPEC, RECORDS)
    assert [row["method"] for row in each_its_own["leaderboard"]] == [row.method for row in board]
    assert each_its_own["ranking"] == ranking_note(*board_seeds(SPEC, RECORDS, board))

    built, tested = [], []

    def counted(spec, records):
        built.append(spec.name)
        return leaderboard(spec, records)

    def tests_counted(ranked, failed=None):
        tested.append([method for method, _ in ranked])
        return versus_first(ranked, failed)

    versus_first = significance.versus_first
    monkeypatch.setattr(optimlab.study, "leaderboard", counted)
    monkeypatch.setattr(significance, "versus_first", tests_counted)
    assert compare_cmd._said(Output(fmt), SPEC, RECORDS) == each_its_own and built == [SPEC.name]
    assert tested == [[row.method for row in board]]
    assert capsys.readouterr().out == printed
