"""Analysis against hand-computed numbers: t intervals, time-to-target, leaderboards, profiles."""

import dataclasses
import math
import statistics
import warnings

import numpy as np
import pytest

from optimlab.report.metric_labels import metric_bounds
from optimlab.study.analysis import (
    confidence_interval,
    failed_share,
    interval_words,
    leaderboard,
    performance_profiles,
    seed_band,
    sensitivity,
    t_quantile_975,
    time_to_target,
)
from optimlab.study.protocols import StudySpec, methods_from
from optimlab.study.storage import TrialRecord
from optimlab.workloads import get_workload

SPEC = StudySpec.for_workload(
    "t", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"])
)


def record(method, key, value=math.nan, state="complete", test=None, lr=1e-3, curve=None):
    phase = key.split("/")[0]
    return TrialRecord(
        study=f"t/{method}",
        number=0,
        method=method,
        phase=phase,
        key=key,
        seed=0,
        state=state,
        status="completed" if state == "complete" else "diverged",
        message=None,
        params={"optimizer.lr": lr},
        value=value,
        metrics={} if test is None else {"test_accuracy": test},
        seconds=1.0,
        steps=10,
        curve=curve or {},
        recipe=None,
    )


def test_confidence_interval_of_a_known_sample():
    s = confidence_interval([0.9, 0.92, 0.94])
    assert (s.n, s.mean, s.std) == (3, pytest.approx(0.92), pytest.approx(0.02))
    assert s.half_width == pytest.approx(4.3026527297 * 0.02 / math.sqrt(3))  # t_{0.975, 2}
    assert (s.low, s.high) == (pytest.approx(0.92 - s.half_width), pytest.approx(0.92 + s.half_width))
    one = confidence_interval([0.5])
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sample_std = float(np.std([0.5], ddof=1))  # one value: no sample std
    assert one.mean == 0.5 and math.isnan(one.std) and math.isnan(sample_std)
    assert math.isnan(one.low) and math.isnan(one.high)
    assert math.isnan(confidence_interval([]).mean)


def test_an_accuracy_interval_stays_within_zero_and_one():
    """Two seeds, 0.5 and 1.0: t_{0.975, 1} = 12.706 makes mean +- 3.18, an interval no accuracy has."""
    loose = confidence_interval([0.5, 1.0])
    assert loose.low == pytest.approx(0.75 - 12.706 * 0.25, abs=1e-3)
    bounded = confidence_interval([0.5, 1.0], metric_bounds("test_accuracy"))
    assert (bounded.low, bounded.high, bounded.mean) == (0.0, 1.0, 0.75)
    assert metric_bounds("val_loss") == (0.0, math.inf) and metric_bounds("score") == (-math.inf, math.inf)


def test_time_to_target_is_the_median_with_misses_as_never():
    """As bench scores it: 2 of 3 seed runs at steps 10 and 30 -> 30; 1 of 3 -> never (inf)."""
    reach = lambda step: {"step": [step], "seconds": [step / 10], "val_accuracy": [0.97]}  # noqa: E731
    miss = {"step": [50], "seconds": [5.0], "val_accuracy": [0.5]}
    for curves, expected in (([reach(10), reach(30), miss], 30), ([reach(10), miss, miss], math.inf)):
        records = [record("sgd", "tune/0", 0.9, lr=1e-2)] + [
            record("sgd", f"seeds/{i}", 0.9, test=0.9, lr=1e-2, curve=c) for i, c in enumerate(curves)
        ]
        [row] = [r for r in leaderboard(SPEC, records) if r.method == "sgd"]
        assert row.steps_to_target == expected and row.reached == sum(c is not miss for c in curves)


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 40), 50, 100, 1000]:
        # the table to 10 decimals (it had 4: intervals off by up to 5e-5 of their width), the expansion within 1e-7
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-7)


def test_t_quantiles_known_values_without_scipy():
    assert t_quantile_975(1) == pytest.approx(12.7062, abs=1e-4) and t_quantile_975(9) == pytest.approx(
        2.2622, abs=1e-4
    )
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=1e-4) and t_quantile_975(10**6) == pytest.approx(
        1.96, abs=1e-4
    )
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_time_to_target_is_the_first_evaluation_meeting_it():
    curve = {
        "step": [10, 20, 30],
        "seconds": [0.1, 0.2, 0.3],
        "val_accuracy": [0.5, None, 0.97],
        "val_loss": [2.0, 0.5, 0.4],
    }
    assert time_to_target(curve, "val_accuracy", 0.96) == (30, 0.3)
    assert time_to_target(curve, "val_loss", 0.5, goal="min") == (20, 0.2)
    assert time_to_target(curve, "val_accuracy", 0.99) is None


def test_performance_profiles_by_hand():
    costs = {"w1": {"A": 10.0, "B": 20.0}, "w2": {"A": 30.0, "B": 15.0}, "w3": {"A": math.inf, "B": 5.0}}
    rho = performance_profiles(costs, [1.0, 1.5, 2.0, 4.0])
    # ratios to the best of each workload: A = 1, 2, inf; B = 2, 1, 1
    assert rho["A"] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert rho["B"] == pytest.approx([2 / 3, 2 / 3, 1.0, 1.0])
    assert performance_profiles({"w": {"A": math.nan, "B": math.inf}}, [1.0, 100.0]) == {
        "A": [0, 0],
        "B": [0, 0],
    }


def test_leaderboard_ranks_by_failed_seeds_then_mean_test_metric_and_flags_edges():
    curve = {"step": [5, 10], "seconds": [0.5, 1.0], "val_accuracy": [0.9, 0.97]}
    records = [
        record("sgd", "tune/0", 0.90, lr=1e-3),
        record("sgd", "tune/1", 0.95, lr=1e-2),
        record("sgd", "tune/2", lr=1e-1, state="fail"),
        *(
            record("sgd", f"seeds/{i}", 0.9, test=t, lr=1e-2, curve=curve)
            for i, t in enumerate([0.9, 0.92, 0.94])
        ),
        record("adam", "tune/0", 0.80, lr=1e-3),
        record("adam", "tune/1", 0.85, lr=1e-2),
        record("adam", "tune/2", 0.9, lr=1e-1),
        record("adam", "seeds/0", 0.9, test=0.96, lr=1e-1),
        record("adam", "seeds/1", 0.9, test=0.96, lr=1e-1),
        record("adam", "seeds/2", state="fail", lr=1e-1),
    ]
    sgd, adam = leaderboard(SPEC, records)  # adam's higher mean is of 2 runs of 3: it ranks below
    assert adam.method == "adam" and adam.test.mean == pytest.approx(0.96) and adam.seeds_failed == 1
    assert adam.params == {"optimizer.lr": 1e-1} and adam.at_edge == ("optimizer.lr",)
    assert sgd.params == {"optimizer.lr": 1e-2} and sgd.at_edge == () and sgd.tuning_failed == 1
    assert sgd.test.half_width == pytest.approx(4.3026527297 * 0.02 / math.sqrt(3))
    assert (sgd.reached, sgd.steps_to_target, sgd.seconds_to_target) == (3, 10, 1.0)  # target 0.96
    assert adam.reached == 0 and adam.steps_to_target == math.inf  # no seed run got there


def test_a_method_that_diverged_on_fresh_seeds_ranks_below_one_that_completed_them_all():
    """Ranked by the mean of its completed seed runs alone, a configuration that diverged on 2 of 4 fresh
    seeds ranked first on its 2 survivors (0.92), above one that completed all 4 (0.71)."""
    records = [
        record("sgd", "tune/0", 0.7),
        *(record("sgd", f"seeds/{i}", 0.7, test=t) for i, t in enumerate([0.66, 0.7, 0.72, 0.76])),
        record("adam", "tune/0", 0.9),
        record("adam", "seeds/0", 0.9, test=0.93),
        record("adam", "seeds/1", state="fail"),
        record("adam", "seeds/2", state="fail"),
        record("adam", "seeds/3", 0.9, test=0.91),
        record("lion", "tune/0", 0.9),
        record("lion", "seeds/0", 0.9, test=0.5),
        record("lion", "seeds/1", state="fail"),
        record("lion", "seeds/2", 0.9, test=0.52),
        record("lion", "seeds/3", 0.9, test=0.54),
    ]
    three = dataclasses.replace(SPEC, methods=methods_from("optimizer.name", ["sgd", "adam", "lion"]))
    board = leaderboard(three, records)
    assert [(row.method, row.test.n, row.seeds_failed) for row in board] == [
        ("sgd", 4, 0),
        ("lion", 3, 1),  # 1 of 4 failed: above adam's 2 of 4, whatever the means
        ("adam", 2, 2),
    ]
    assert [failed_share(row.seeds_failed, row.test.n) for row in board] == [0.0, 0.25, 0.5]
    assert failed_share(0, 0) == 0.0  # no seed run yet: nothing failed


def test_a_seed_run_that_failed_counts_as_never_reaching_the_target_as_bench_scores_it():
    """Time to target was the median over the completed seed runs alone: with 2 of 3 runs diverged, the
    one survivor's 5 steps were the method's time, and '1/1 reached' hid the others; bench (and the
    performance profiles across workloads) count a failed run as never."""
    curve = {"step": [5, 10], "seconds": [0.5, 1.0], "val_accuracy": [0.97, 0.98]}  # target 0.96
    records = [
        record("sgd", "tune/0", 0.9),
        record("sgd", "seeds/0", 0.9, test=0.9, curve=curve),
        record("sgd", "seeds/1", state="fail", curve=curve),  # met it, then diverged
        record("sgd", "seeds/2", state="fail"),
    ]
    [sgd] = [row for row in leaderboard(SPEC, records) if row.method == "sgd"]
    assert (sgd.reached, sgd.seed_runs) == (1, 3)
    assert sgd.steps_to_target == math.inf and sgd.seconds_to_target == math.inf  # median of 5, inf, inf


def test_a_best_value_below_one_that_diverged_is_not_at_the_edge_of_the_range():
    """sgd's grid to lr 1 diverged there: its best, 0.22, the largest that completed, was flagged '(edge):
    widen the range', where the range had been wider and failed."""
    records = [
        record("sgd", "tune/0", 0.4, lr=1e-3),
        record("sgd", "tune/1", 0.5, lr=1e-2),
        record("sgd", "tune/2", 0.9, lr=0.22),
        record("sgd", "tune/3", state="fail", lr=1.0),
        record("adam", "tune/0", 0.5, lr=1e-4),
        record("adam", "tune/1", 0.8, lr=1e-3),
        record("adam", "tune/2", 0.9, lr=1e-2),
    ]
    at_edge = {row.method: row.at_edge for row in leaderboard(SPEC, records)}
    assert at_edge == {"sgd": (), "adam": ("optimizer.lr",)}


def test_a_search_of_fewer_than_3_values_is_told_with_how_many_it_tried():
    """--budget 1 reported one untuned lr as the best config with no note: only a search of exactly two
    values was told. Now each searched field tried at fewer than 3 values is, with the count. Truth: the
    values each method's finished tuning trials hold, counted by hand (one; two, one of them diverged,
    which still bounds the search; three)."""
    from optimlab.study.report import few_tried_note

    records = [
        record("sgd", "tune/0", 0.4, lr=1e-2),  # budget 1: the middle of the range
        record("adam", "tune/0", 0.5, lr=1e-4),  # budget 2: the two ends, the upper one diverged
        record("adam", "tune/1", state="fail", lr=1.0),
    ]
    few = {row.method: row.few_tried for row in leaderboard(SPEC, records)}
    assert few == {"sgd": {"optimizer.lr": 1}, "adam": {"optimizer.lr": 2}}
    note = few_tried_note(leaderboard(SPEC, records))
    assert note.startswith("No tuning: one value tried (sgd: optimizer.lr):")
    assert "Two values tried of the tuned range (adam: optimizer.lr):" in note
    three = [*records, record("adam", "tune/2", 0.6, lr=1e-2)]
    assert {row.method: dict(row.few_tried) for row in leaderboard(SPEC, three)}["adam"] == {}


def test_a_method_whose_tuning_all_failed_ranks_last():
    records = [
        record("sgd", "tune/0", state="fail"),
        record("adam", "tune/0", 0.9),
        record("adam", "seeds/0", 0.9, test=0.5),
    ]
    board = leaderboard(SPEC, records)
    assert [row.method for row in board] == ["adam", "sgd"]
    assert board[1].params == {} and math.isnan(board[1].tuned) and board[1].test.n == 0


def test_sensitivity_and_seed_bands():
    records = [
        record("sgd", "tune/1", 0.95, lr=1e-2),
        record("sgd", "tune/0", 0.9, lr=1e-3),
        record("sgd", "tune/2", lr=1e-1, state="fail"),
        record("sgd", "seeds/0", 0.9, test=0.9, curve={"step": [1, 2, 3], "val_accuracy": [0.1, 0.5, 0.9]}),
        record("sgd", "seeds/1", 0.9, test=0.9, curve={"step": [1, 2], "val_accuracy": [0.3, 0.7]}),
    ]
    points = sensitivity(records, "sgd")
    assert points[:2] == [(1e-3, 0.9), (1e-2, 0.95)] and points[2][0] == 1e-1 and math.isnan(points[2][1])
    # an lr choice of null (a study stored before 447b35fa refused it when read): no point, not a TypeError
    assert sensitivity([*records, record("sgd", "tune/3", 0.5, lr=None)], "sgd") == points
    steps, means, stds = seed_band(records, "sgd", "val_accuracy")
    assert (
        steps == [1, 2]
        and means == pytest.approx([0.2, 0.6])
        and stds == pytest.approx([0.1414214, 0.1414214])
    )


# Two methods' test accuracies on 80 test rows, 232 of 240 right each (2.9 / 3): their floats' means differ in
# the last bit, and compare ranked the one listed second first, 1 and 2, its lead +1.11e-16.
TIED_SGD, TIED_ADAM = [0.9625, 0.9875, 0.95], [0.9875, 0.925, 0.9875]


def test_methods_whose_seeds_average_to_one_value_share_a_rank_in_their_listed_order():
    from optimlab.study.analysis import ranks

    assert statistics.fmean(TIED_ADAM) > statistics.fmean(TIED_SGD)  # 0.9666666666666668 > ...667
    records = [
        *(record(m, "tune/0", 0.9) for m in ("sgd", "adam")),
        *(record("sgd", f"seeds/{i}", 0.9, test=t) for i, t in enumerate(TIED_SGD)),
        *(record("adam", f"seeds/{i}", 0.9, test=t) for i, t in enumerate(TIED_ADAM)),
    ]
    board = leaderboard(SPEC, records)
    assert [row.method for row in board] == ["sgd", "adam"] and ranks(board) == [1, 1]


def test_a_loss_below_zero_keeps_its_whole_t_interval():
    """A Poisson negative log-likelihood is a loss that goes below 0: cut at 0 as a loss's bound, its
    seeds -0.3, -0.25 and -0.28 read '-0.28 [0, -0.21]', an interval above its mean and inverted."""
    from scipy import stats

    values = [-0.3, -0.25, -0.28]
    summary = confidence_interval(values, metric_bounds("test_loss"))
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert (summary.low, summary.high) == (pytest.approx(low), pytest.approx(high))
    assert summary.low < summary.mean < summary.high
    assert confidence_interval([0.1, 0.5], metric_bounds("test_loss")).low == 0.0  # a loss's bound holds


def test_a_value_not_finite_or_a_level_outside_0_1_is_refused_naming_it():
    """confidence_interval([0.9, nan, 0.8]) (a failed seed's NaN kept in) raised statistics' AttributeError
    ('float' object has no attribute 'numerator'); level=1.5 gave NaN bounds, which read as one seed's
    missing interval. Each is now one error naming the argument and the value."""
    from optimlab.errors import InvalidValueError

    for bad in (math.nan, math.inf):
        with pytest.raises(InvalidValueError, match=r"invalid value (nan|inf) for values: accepted finite"):
            confidence_interval([0.9, bad, 0.8])
    for level in (1.5, 0.0, 1.0):
        with pytest.raises(InvalidValueError, match=rf"invalid value {level} for level"):
            confidence_interval([0.9, 0.8], level=level)
    assert confidence_interval([0.9, 0.8], level=0.9).n == 2


@pytest.mark.parametrize("seeds", [2, 3, 5])
def test_the_interval_of_2_3_and_5_seeds_is_scipys_t_interval_cut_at_the_metrics_bounds(seeds):
    """The leaderboard's 95% interval is Student's t interval of the mean (as documented), the table of
    quantiles within 1e-10 of scipy's: truth scipy.stats.t.interval, then cut at an accuracy's 0 and 1."""
    stats = pytest.importorskip("scipy.stats")
    values = [0.62, 0.9, 0.71, 0.55, 0.97][:seeds]
    low, high = stats.t.interval(0.95, seeds - 1, loc=np.mean(values), scale=stats.sem(values))
    free = confidence_interval(values)
    assert (free.low, free.high) == pytest.approx((low, high), abs=1e-9)
    assert free.std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    cut = confidence_interval(values, metric_bounds("test_accuracy"))
    assert (cut.low, cut.high) == pytest.approx((max(low, 0.0), min(high, 1.0)), abs=1e-9)


def test_an_interval_cut_at_the_metrics_range_is_said_clipped():
    """A Student-t interval of accuracies is cut at 1 where scipy's passes it: the words that label it say
    so (the page, the terminal and leaderboard.csv's doc called it 'Student-t 95%' alone)."""
    values = [0.9, 1.0, 1.0]
    half = 4.302652729911275 * statistics.stdev(values) / math.sqrt(3)  # scipy.stats.t.ppf(0.975, 2)
    raw = (statistics.fmean(values) - half, statistics.fmean(values) + half)
    summary = confidence_interval(values, metric_bounds("test_accuracy"))
    assert raw[1] > 1 and summary.high == 1.0 and summary.low == pytest.approx(raw[0])
    assert interval_words("test_accuracy").endswith("clipped to the metric's range ([0, 1])")
    assert interval_words("val_loss").endswith("clipped to the metric's range (at least 0)")
    assert interval_words("test_r2") == "Student-t 95% interval over the seeds"
