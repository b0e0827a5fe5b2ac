"""plan_check: what the lr check gives up to fit its time budget, in the stated order, against arithmetic."""

import pytest

from optimlab.doctor.check_plan import CheckPlan, another_fold_fits, plan_check


def test_a_check_within_its_budget_or_without_one_is_whole():
    # 9 candidates x 100 steps x 10 ms = 9 s
    whole = {"stride": 2, "seconds_per_step": 0.01}
    assert plan_check(17, 100, budget=9.0, **whole) == CheckPlan(2, 100)
    assert plan_check(17, 100, budget=None, **whole) == CheckPlan(2, 100)


def test_candidates_go_before_steps():
    # 9 x 100 x 10 ms = 9 s; every fourth: 5 x 100 x 10 ms = 5 s fits 6 s with every step.
    plan = plan_check(17, 100, stride=2, seconds_per_step=0.01, budget=6.0)
    assert (plan.stride, plan.steps) == (4, 100)
    assert plan.cuts == ("5 of the curve's 17 candidates (every fourth)", "the whole check estimated at 9 s")


def test_then_steps_down_to_what_fits():
    # Stacked: 17 x 1000 x 1 ms = 17 s; every other (9): 9 s; every fourth (5): 5 s; 2 s: 400 steps.
    plan = plan_check(17, 1000, stride=1, seconds_per_step=0.001, budget=2.0)
    assert (plan.stride, plan.steps) == (4, 400)
    assert plan.cuts[1] == "400 of the run's 1000 steps"


def test_no_check_where_even_a_quarter_of_the_run_is_over():
    # every fourth (5) over 250 steps x 10 ms = 12.5 s: over 12 s, no check; within 12.5 s, that one.
    over = plan_check(17, 1000, stride=2, seconds_per_step=0.01, budget=12.0)
    assert over == CheckPlan(
        4, 0, ("the smallest, 5 candidates over 250 of the run's 1000 steps, estimated at 12.5 s",)
    )
    assert plan_check(17, 1000, stride=2, seconds_per_step=0.01, budget=12.5).steps == 250


@pytest.mark.parametrize(
    ("elapsed", "done", "budget", "fits"),
    [
        (10.0, 1, 30.0, True),
        (10.0, 1, 19.9, False),
        (20.0, 2, 30.0, True),
        (20.0, 2, 29.0, False),
        (1e6, 1, None, True),
    ],
)
def test_a_further_fold_runs_where_its_mean_time_still_fits(elapsed, done, budget, fits):
    assert another_fold_fits(elapsed, done, budget) is fits
