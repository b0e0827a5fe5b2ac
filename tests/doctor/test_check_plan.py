"""plan_check: what the lr check gives up to fit its time budget, in the stated order, against arithmetic."""

import pytest

from optimlab.doctor.check_plan import (
    CheckPlan,
    another_fold_fits,
    evaluated_after,
    evaluations,
    no_check_fits,
    plan_check,
)


def test_evaluations_cover_the_last_quarter_of_the_run():
    assert [s for s in range(1, 681) if evaluated_after(s, 680)] == [510, 544, 578, 612, 646, 680]
    assert [s for s in range(1, 11) if evaluated_after(s, 10)] == [8, 9, 10]
    assert [s for s in range(1, 1001) if evaluated_after(s, 1000)] == list(range(750, 1001, 50))
    assert [evaluations(s) for s in (10, 99, 320, 1000)] == [3, 7, 6, 6]  # about as many at any length


def test_a_check_cut_to_fewer_steps_keeps_its_evaluations():
    """The held-out evaluations are costed per check, not per step: 5 candidates of 1000 steps at 1 ms
    and 6 evaluations of 1 s each take 5 x (1 + 6) = 35 s; 5 x (0.25 + 6) = 31.25 s at a quarter of the
    run; a 33 s budget keeps the most steps that fit: 5 x (s ms + 6 s) <= 33 s, s = 600. Taken per step at
    the run's length (6 s / 1000 steps), the 250-step check was costed 5 x 0.25 x 7 = 8.75 s."""
    costs = {"stride": 4, "seconds_per_step": 0.001, "seconds_per_evaluation": 1.0}
    assert plan_check(17, 1000, budget=35.0, **costs) == CheckPlan(4, 1000)
    assert plan_check(17, 1000, budget=31.0, **costs).steps == 0
    cut = plan_check(17, 1000, budget=33.0, **costs)
    assert cut.steps == 600 and evaluations(600) == 6
    assert cut.cuts == ("600 of the run's 1000 steps", "the whole check estimated at 35 s")


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
        4,
        0,
        (
            "the smallest, 5 candidates over 250 of the run's 1000 steps, estimated at 12.5 s, over the 12 s left",
        ),
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


def test_no_check_is_tried_where_one_model_over_a_quarter_of_the_run_overruns():
    """A stacked step costs at least the model's own: 250 steps of 10 ms (2.5 s) over 2 s is no check
    at all, whatever the candidates; within 2.5 s one may fit; a budget spent says so."""
    assert no_check_fits(1000, 0.01, 2.5) is None and no_check_fits(1000, 0.01, None) is None
    assert no_check_fits(1000, 0.01, 2.0) == CheckPlan(
        1, 0, ("even one model over 250 of the run's 1000 steps, estimated at 2.5 s",)
    )
    spent = plan_check(17, 1000, stride=2, seconds_per_step=0.01, budget=-3.0)
    assert spent.steps == 0 and spent.cuts[0].endswith("estimated at 12.5 s, with no time left")
