"""How much of the lr check fits a time budget: which candidates, how many steps, how many checks.

The whole check (:mod:`optimlab.doctor.lr_check`) trains every candidate over the recipe's run, several
times where cross-fitted; on a model whose step costs milliseconds one at a time (a Transformer on
CPU: 9 runs of 940 steps, over a minute) that is more than a diagnosis should take. Given a budget in
seconds, the evidence given up is, in the order that costs the suggestion least: the cross-fitted
checks beyond the first, left out as the check runs when the ones done say the next would overrun
(:func:`another_fold_fits`); then, where :func:`plan_check` estimates one check over the budget, every
other candidate (a coarser ladder, down to half decades), then the end of the run (down to
:data:`MIN_STEPS_FRACTION` of it: a shorter check favours large lrs, so this comes last). Where even
that is over the budget there is no check: the suggestion is the curve's own reading, and the result
says why. Every cut is said in the result: the same command can check less on a slower or busier
machine.

A check costs its training steps and its held-out evaluations, which are about as many whatever its
length (:func:`evaluations`: the last :data:`LEVEL_FRACTION` of the run, every 1/:data:`EVALUATIONS`
of it), so a check cut to fewer steps keeps them all. The first plan is sized from the seconds a
step of the range test and one evaluation of the model took; the check's own first steps and one
evaluation are then timed (a candidate trained one at a time costs more than a range-test step:
copies, the loop, another machine load; stacked members share a step's work unevenly), and the check
is planned again from them where it would overrun the time left.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = [
    "EVALUATIONS",
    "LEVEL_FRACTION",
    "MAX_CHECK_STEPS",
    "MAX_STRIDE",
    "MIN_STEPS_FRACTION",
    "CheckPlan",
    "another_fold_fits",
    "evaluated_after",
    "evaluations",
    "no_check_fits",
    "plan_check",
]

EVALUATIONS = 20  # held-out evaluations over a check's run: 6 in its last quarter (module docstring)
LEVEL_FRACTION = 0.25  # the end of the run whose evaluations give a candidate's level
MAX_STRIDE = 4  # every 4th candidate of the range test's eighth-decade ladder: half decades
MIN_STEPS_FRACTION = 0.25  # of the run: a check shorter than this measures another regime
# Steps of a recipe's candidate checks at most: its whole run up to this (18 candidates of an MLP on
# digits, stacked, 680 steps: about 10 s of one core), since a shorter check favours large lrs
# (docs/benchmarks.md).
MAX_CHECK_STEPS = 1000


@dataclasses.dataclass(frozen=True)
class CheckPlan:
    """Every ``stride``-th candidate checked over ``steps`` steps (0: not even the smallest check fits
    the budget); ``cuts``: what the budget left out, in words (empty where nothing), for the result's
    description."""

    stride: int
    steps: int
    cuts: tuple[str, ...] = ()


def plan_check(
    candidates: int,
    steps: int,
    *,
    stride: int,
    seconds_per_step: float,
    seconds_per_evaluation: float = 0.0,
    budget: float | None,
) -> CheckPlan:
    """One check of ``candidates`` (every ``stride``-th checked) over ``steps`` steps, cut to an
    estimated ``budget`` seconds (module docstring); as it is where ``budget`` is None.
    ``seconds_per_step``, ``seconds_per_evaluation``: a training step and a held-out evaluation of one
    model, all candidates costed alike."""

    def seconds(plan: CheckPlan) -> float:
        one = plan.steps * seconds_per_step + evaluations(plan.steps) * seconds_per_evaluation
        return math.ceil(candidates / plan.stride) * one

    plan = CheckPlan(stride, steps)
    if budget is None or seconds(plan) <= budget:
        return plan
    whole = f"the whole check estimated at {seconds(plan):.3g} s"
    while plan.stride < MAX_STRIDE and seconds(plan) > budget:
        plan = dataclasses.replace(plan, stride=plan.stride * 2)
    checked = math.ceil(candidates / plan.stride)
    if seconds(plan) > budget:
        shortest = dataclasses.replace(plan, steps=math.ceil(MIN_STEPS_FRACTION * steps))
        if seconds(shortest) > budget:
            smallest = f"{checked} candidates over {shortest.steps} of the run's {steps} steps"
            left = f"over the {budget:.3g} s left" if budget > 0 else "with no time left"
            estimate = f"estimated at {seconds(shortest):.3g} s, {left}"
            return CheckPlan(plan.stride, 0, (f"the smallest, {smallest}, {estimate}",))
        fits, over = shortest.steps, plan.steps  # the most steps that fit: bisected
        while over - fits > 1:
            middle = (fits + over) // 2
            fits, over = (
                (middle, over)
                if seconds(dataclasses.replace(plan, steps=middle)) <= budget
                else (fits, middle)
            )
        plan = dataclasses.replace(plan, steps=fits)
    cuts = []
    if plan.stride > stride:
        every = "other" if plan.stride == 2 else "fourth"  # doubled up to MAX_STRIDE
        cuts.append(f"{checked} of the curve's {candidates} candidates (every {every})")
    if plan.steps < steps:
        cuts.append(f"{plan.steps} of the run's {steps} steps")
    return dataclasses.replace(plan, cuts=(*cuts, whole))


def no_check_fits(steps: int, seconds_per_step: float, budget: float | None) -> CheckPlan | None:
    """The plan of no check where one model trained over the shortest check (:data:`MIN_STEPS_FRACTION`
    of ``steps``), ``seconds_per_step`` a step, overruns ``budget``: no check is cheaper (a stacked step
    of K members costs at least the model's own), so none is tried; None where one may fit."""
    shortest = math.ceil(MIN_STEPS_FRACTION * steps)
    if budget is None or shortest * seconds_per_step <= budget:
        return None
    estimate = f"estimated at {shortest * seconds_per_step:.3g} s"
    return CheckPlan(1, 0, (f"even one model over {shortest} of the run's {steps} steps, {estimate}",))


def another_fold_fits(elapsed: float, done: int, budget: float | None) -> bool:
    """Whether a further cross-fitted check fits ``budget`` seconds, ``done`` checks having taken
    ``elapsed`` seconds: at their mean time, the next one ends within it."""
    return budget is None or elapsed * (done + 1) / done <= budget


def evaluations(steps: int) -> int:
    """How many held-out evaluations a check of ``steps`` steps records (:func:`evaluated_after`)."""
    return sum(evaluated_after(step, steps) for step in range(1, steps + 1))


def evaluated_after(step: int, steps: int) -> bool:
    """Whether a check of ``steps`` steps records a held-out evaluation after ``step``: every
    ``steps // EVALUATIONS`` steps and at the end, within the last :data:`LEVEL_FRACTION` of the run."""
    every = max(1, steps // EVALUATIONS)
    return (step % every == 0 or step == steps) and step >= (1 - LEVEL_FRACTION) * steps
