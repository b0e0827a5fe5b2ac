"""How much of the lr check fits a time budget: which candidates, how many steps, how many checks.

The whole check (:mod:`optimlab.doctor.lr_check`) trains every candidate over the recipe's run, several
times where cross-fitted; on a model whose step costs milliseconds one at a time (a Transformer on
CPU: 9 runs of 940 steps, over a minute) that is more than a diagnosis should take. Given a budget in
seconds, the evidence given up is, in the order that costs the suggestion least: the cross-fitted
checks beyond the first, left out as the check runs when the ones done say the next would overrun
(:func:`another_fold_fits`); then, where :func:`plan_check` estimates one check over the budget (one
at a time, from the seconds a step of the range test took; stacked, from the check's own first steps
and one held-out evaluation, measured again on the smaller check, since stacking shares the work of
its K members unevenly), every other candidate (a coarser ladder,
down to half decades), then the end of the run (down to :data:`MIN_STEPS_FRACTION` of it: a shorter
check favours large lrs, so this comes last). Where even that is over the budget there is no check:
the suggestion is the curve's own reading, and the result says why. Every cut is said in the result:
the same command can check less on a slower or busier machine.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["MAX_STRIDE", "MIN_STEPS_FRACTION", "CheckPlan", "another_fold_fits", "plan_check"]

MAX_STRIDE = 4  # every 4th candidate of the range test's eighth-decade ladder: half decades
MIN_STEPS_FRACTION = 0.25  # of the run: a check shorter than this measures another regime


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
    budget: float | None,
) -> CheckPlan:
    """One check of ``candidates`` (every ``stride``-th checked) over ``steps`` steps, cut to an
    estimated ``budget`` seconds (module docstring); as it is where ``budget`` is None.
    ``seconds_per_step``: one training step of one model, all candidates' steps costed alike."""

    def seconds(plan: CheckPlan) -> float:
        return math.ceil(candidates / plan.stride) * plan.steps * seconds_per_step

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
            return CheckPlan(
                plan.stride, 0, (f"the smallest, {smallest}, estimated at {seconds(shortest):.3g} s",)
            )
        plan = dataclasses.replace(plan, steps=int(budget / (seconds(plan) / plan.steps)))
    cuts = []
    if plan.stride > stride:
        every = "other" if plan.stride == 2 else "fourth"  # doubled up to MAX_STRIDE
        cuts.append(f"{checked} of the curve's {candidates} candidates (every {every})")
    if plan.steps < steps:
        cuts.append(f"{plan.steps} of the run's {steps} steps")
    return dataclasses.replace(plan, cuts=(*cuts, whole))


def another_fold_fits(elapsed: float, done: int, budget: float | None) -> bool:
    """Whether a further cross-fitted check fits ``budget`` seconds, ``done`` checks having taken
    ``elapsed`` seconds: at their mean time, the next one ends within it."""
    return budget is None or elapsed * (done + 1) / done <= budget
