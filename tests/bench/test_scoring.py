"""Scoring: time to target per seed run, performance ratios, profiles and the area score."""

import math

import pytest

from optimlab.bench.report import _time_cell
from optimlab.bench.scoring import BenchScores, area_score, run_costs, score, taus
from optimlab.errors import InvalidValueError
from optimlab.study import StudySpec, methods_from
from optimlab.study.analysis import performance_profiles, performance_ratios
from optimlab.study.run import StudyResult
from optimlab.study.storage import TrialRecord
from optimlab.workloads import get_workload

SPEC = StudySpec.for_workload(
    "w", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"])
)


def record(method, key, curve, state="complete", test=0.9):
    return TrialRecord(
        study=f"w/{method}",
        number=0,
        method=method,
        phase=key.split("/")[0],
        key=key,
        seed=1,
        state=state,
        status="completed" if state == "complete" else "diverged",
        message=None,
        params={"optimizer.lr": 0.1},
        value=0.9,
        metrics={"test_accuracy": test},
        seconds=1.0,
        steps=30,
        curve=curve,
        recipe=None,
    )


def curve(*accuracies):
    n = len(accuracies)
    return {
        "step": [10 * (i + 1) for i in range(n)],
        "seconds": [0.5 * (i + 1) for i in range(n)],
        "val_accuracy": list(accuracies),
    }


def test_area_score_is_the_integral_of_the_step_profile():
    ratios = {"a": [1.0, 1.0, 2.0, math.inf], "b": [1.7, 3.9, 1.0, 5.0], "c": [1.0, 1.0, 1.0, 1.0]}
    costs = {
        f"w{i}": {m: r[i] for m, r in ratios.items()} for i in range(4)
    }  # c makes each workload's best 1
    grid = [1 + 3 * i / 30000 for i in range(30001)]
    profiles = performance_profiles(costs, grid)
    for method, rho in profiles.items():  # trapezoid rule on a fine grid of tau in [1, 4]
        numeric = sum((rho[i] + rho[i + 1]) / 2 * (grid[i + 1] - grid[i]) for i in range(len(grid) - 1)) / 3
        assert area_score(ratios[method]) == pytest.approx(numeric, abs=1e-3)
    assert area_score([1.0, 1.0]) == 1.0 and area_score([4.0, math.inf]) == 0.0
    with pytest.raises(InvalidValueError, match="tau_max"):
        area_score([1.0], tau_max=1.0)


def test_performance_ratios_divide_by_the_fastest_and_keep_misses_infinite():
    ratios = performance_ratios(
        {
            "w1": {"a": 100.0, "b": 250.0},
            "w2": {"a": math.inf, "b": 40.0},
            "w3": {"a": math.inf, "b": math.inf},
        }
    )
    assert ratios == {
        "a": {"w1": 1.0, "w2": math.inf, "w3": math.inf},
        "b": {"w1": 2.5, "w2": 1.0, "w3": math.inf},
    }
    assert taus(4.0, 4) == [1.0, 2.0, 3.0, 4.0]


def test_a_cost_that_is_not_positive_is_refused_and_nan_is_a_miss():
    """Dolan & More's ratios divide by the fastest time: a zero one raised ZeroDivisionError, a negative one
    gave negative ratios, which every tau counted."""
    with pytest.raises(InvalidValueError, match="time to target of 'a' on 'w1'"):
        performance_ratios({"w1": {"a": 0.0, "b": 5.0}})
    with pytest.raises(InvalidValueError, match="-2"):
        performance_ratios({"w1": {"a": -2.0, "b": 5.0}})
    assert performance_ratios({"w1": {"a": math.nan, "b": 5.0}}) == {"a": {"w1": math.inf}, "b": {"w1": 1.0}}


def test_run_costs_take_the_first_evaluation_at_target_and_inf_for_misses_and_failures():
    spec = StudySpec.for_workload("w", get_workload("digits_mlp", epochs=1), SPEC.methods)
    records = [
        record("sgd", "seeds/0", curve(0.5, 0.97, 0.99)),
        record("sgd", "seeds/1", curve(0.5, 0.9, 0.95)),
        record("sgd", "seeds/2", curve(0.97), state="fail"),
        record("sgd", "tune/0", curve(0.99)),
    ]
    result = StudyResult(spec, "", records)
    assert run_costs(result, "sgd") == [
        20.0,
        math.inf,
        math.inf,
    ]  # target 0.96; the tuning trial does not count
    assert run_costs(result, "sgd", "seconds") == [1.0, math.inf, math.inf]


def test_score_takes_the_median_over_seeds_and_scores_across_workloads():
    fast, slow = curve(0.97, 0.98), curve(0.5, 0.6, 0.97)
    records = [
        record("sgd", "seeds/0", fast),
        record("sgd", "seeds/1", fast),
        record("sgd", "seeds/2", slow),
        record("adam", "seeds/0", slow, test=0.8),
        record("adam", "seeds/1", curve(0.5), test=0.8),
        record("adam", "seeds/2", curve(0.5), test=0.8),
    ]
    other = StudySpec.for_workload("v", get_workload("digits_mlp", epochs=1), SPEC.methods)
    scores = score(
        [StudyResult(SPEC, "", records), StudyResult(other, "", [r for r in records if r.method == "sgd"])]
    )
    sgd, adam = scores.workloads["w"]
    assert (sgd.method, sgd.costs, sgd.cost) == ("sgd", (10.0, 10.0, 30.0), 10.0)
    assert adam.cost == math.inf  # reached on 1 of 3 seeds: the median misses
    assert scores.ratios == {"adam": {"w": math.inf, "v": math.inf}, "sgd": {"w": 1.0, "v": 1.0}}
    assert scores.area == {"adam": 0.0, "sgd": 1.0} and scores.ranking()[0] == ("sgd", 1.0)
    assert scores.profiles["sgd"][0] == 1.0 and scores.profiles["adam"][-1] == 0.0
    with pytest.raises(InvalidValueError, match="cost"):
        score([], cost="flops")


def test_workloads_without_a_target_get_final_metrics_but_no_profile():
    import dataclasses

    spec = dataclasses.replace(SPEC, target=None)
    scores = score([StudyResult(spec, "", [record("sgd", "seeds/0", curve(0.99))])])
    assert scores.profiles == {} and scores.area == {}
    assert scores.workloads["w"][0].board.test.mean == 0.9 and scores.workloads["w"][0].costs == ()


def test_a_seed_run_that_never_ran_counts_as_a_miss_not_dropped():
    """A method whose every tuning trial diverged has no seed runs: it misses on each planned seed (its
    report cell said "no target", on a workload with one); a missing seed run is a miss too, where the
    median over the runs present gave a method 1 run of 3 at the target a finite time."""
    records = [
        record("sgd", "seeds/0", curve(0.97)),
        record("adam", "tune/0", curve(0.5), state="fail"),
    ]
    sgd, adam = sorted(
        score([StudyResult(SPEC, "", records)]).workloads["w"], key=lambda r: r.method != "sgd"
    )
    assert (sgd.costs, sgd.cost) == ((10.0, math.inf, math.inf), math.inf)
    assert (adam.costs, adam.cost) == ((math.inf,) * 3, math.inf)
    assert _time_cell(adam, "steps") == "not reached (0/3)"


def test_methods_whose_areas_are_equal_share_a_rank():
    """The area is the mean of (4 - r) / 3 over workloads: sgd (ratios 4 and 2, 80 and 40 steps against
    momentum's 20) and adam (3.75 and 2.25) both score (0 + 2) / 6 = (0.25 + 1.75) / 6 = 1/3 exactly.
    Divided term by term, their floats came out 0.3333333333333333 and ...37: adam ranked 2, sgd 3."""
    steps = {"sgd": (80, 40), "adam": (75, 45), "momentum": (20, 20)}
    specs = [
        StudySpec.for_workload(
            w, get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", list(steps))
        )
        for w in ("w1", "w2")
    ]
    results = []
    for i, spec in enumerate(specs):
        records = []
        for method, at in steps.items():
            reached = {"step": [at[i]], "seconds": [1.0], "val_accuracy": [0.99]}
            records += [record(method, f"seeds/{s}", reached) for s in range(3)]
        results.append(StudyResult(spec, "", records))
    scores = score(results)
    assert scores.ratios["sgd"] == {"w1": 4.0, "w2": 2.0}
    assert scores.ratios["adam"] == {"w1": 3.75, "w2": 2.25}
    assert scores.area["sgd"] == scores.area["adam"] == pytest.approx(1 / 3, rel=1e-15)
    assert [(rank, m) for rank, m, _ in scores.ranks()] == [(1, "momentum"), (2, "adam"), (2, "sgd")]


def test_area_scores_a_float_rounding_apart_share_a_rank():
    """Areas summed another way (term by term, as before fsum) come out 1/3 and 0.33333333333333337, one
    bit apart: one value as a float writes it (analysis.same_mean), so one rank, not 2 and 3."""
    areas = {"momentum": 0.9, "sgd": 1 / 3, "adam": 0.33333333333333337}
    assert areas["sgd"] != areas["adam"]
    scores = BenchScores(cost="steps", workloads={}, ratios={}, taus=[], profiles={}, area=areas)
    assert [(rank, m) for rank, m, _ in scores.ranks()] == [(1, "momentum"), (2, "adam"), (2, "sgd")]


def test_a_nan_ratio_is_a_miss_as_the_profile_counts_it():
    """performance_ratios and the profiles read NaN as never reached (rho counts it for no tau), but
    area_score took max(1, nan) = 1: a NaN ratio scored as the fastest, 1.0 where the profile's area is 0."""
    grid = taus(4.0, 3001)
    rho = performance_profiles({"w1": {"a": 1.0}, "w2": {"a": math.nan}}, grid)["a"]
    numeric = sum((rho[i] + rho[i + 1]) / 2 * (grid[i + 1] - grid[i]) for i in range(len(grid) - 1)) / 3
    assert area_score([1.0, math.nan]) == pytest.approx(numeric, abs=1e-3) == 0.5
    assert area_score([math.nan]) == 0.0
    with pytest.raises(InvalidValueError, match="tau_max"):  # it gave NaN scores
        area_score([1.0], tau_max=math.nan)


@pytest.mark.parametrize(
    "call",
    [lambda: taus(4.0, 1), lambda: taus(4.0, 0), lambda: taus(4.0, True), lambda: taus(4.0, 2.5),
     lambda: taus(math.inf), lambda: area_score([1.0], tau_max=math.inf)],
)  # fmt: skip
def test_a_profile_grid_it_cannot_draw_is_refused_in_one_line(call):
    """taus(4, 1) raised ZeroDivisionError, taus(4, 0) and taus(4, -3) gave no tau, taus(4, 2.5) a
    TypeError; tau_max inf drew taus [nan, inf, inf] and NaN areas."""
    with pytest.raises(InvalidValueError, match=r"points|tau_max"):
        call()


@pytest.mark.parametrize("call", [lambda: area_score([1.0], tau_max="4"), lambda: taus("4")])
def test_a_tau_max_that_is_not_a_number_is_refused_naming_the_accepted_ones(call):
    """tau_max '4' (read from a config as text) raised TypeError "'<' not supported between 'int' and
    'str'" from the range check itself."""
    with pytest.raises(
        InvalidValueError, match=r"^invalid value '4' for tau_max: accepted a number in \(1, inf\)"
    ):
        call()


def test_run_costs_refuse_a_cost_or_a_method_the_study_does_not_have():
    """run_costs(result, 'sgd', 'flops') measured seconds (any cost but 'steps' did), and a method the
    study never ran ('sdg') missed on every seed: inf, as if it had run and never got there."""
    result = StudyResult(SPEC, "", [record("sgd", "seeds/0", curve(0.97))])
    with pytest.raises(InvalidValueError, match="cost"):
        run_costs(result, "sgd", "flops")
    with pytest.raises(InvalidValueError, match=r"'sdg'.*sgd, adam"):
        run_costs(result, "sdg")
