"""Targets are reproducible: the documented baseline of each workload reaches its target on fresh seeds.

The full claim (5 seeds, every workload) is benchmarks/workload_targets.py, recorded in docs/workloads.md;
here, the two fastest workloads on two seeds each, and the bookkeeping for all.
"""

import math

import pytest

from optimlab.bench.baselines import BASELINES, check_target
from optimlab.errors import InvalidValueError
from optimlab.registry import get_registry
from optimlab.workloads import Workload, get_workload

WORKLOADS = get_registry("workload")


@pytest.mark.parametrize("name", [e.name for e in WORKLOADS if "user_files" not in e.capabilities])
def test_every_built_in_workload_has_a_baseline_whose_fields_fit_its_recipe(name):
    assert name in BASELINES
    assert BASELINES[name]["optimizer.name"] in get_registry("optimizer")
    if name not in ("digits_logistic",):  # needs mlp of depth 0 (docs/workloads.md)
        recipe = get_workload(name).recipe.with_updates(BASELINES[name])
        assert recipe.optimizer.lr == BASELINES[name]["optimizer.lr"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["noisy_quadratic", "teacher_student"])
def test_the_baseline_reaches_the_target_on_fresh_seeds(name):
    check = check_target(get_workload(name), seeds=(1, 2))
    assert check.reached == 2 and math.isfinite(check.median_steps), check
    workload = get_workload(name)
    assert all(workload.goal == "min" and b <= workload.target for b in check.best)


def test_a_poorly_tuned_run_misses_the_target_and_no_target_is_refused():
    check = check_target(
        get_workload("noisy_quadratic"), seeds=(1,), baseline={"optimizer.name": "sgd", "optimizer.lr": 1e-4}
    )
    assert check.reached == 0 and check.median_steps == math.inf and check.best[0] > 100
    with pytest.raises(InvalidValueError, match="has none yet"):
        check_target(Workload(name="digits_mlp", recipe=get_workload("digits_mlp").recipe, target=None))


def test_a_workload_without_a_recorded_baseline_is_refused_naming_the_argument():
    """A user's workload with a target but no entry in BASELINES raised a bare KeyError."""
    mine = Workload(name="my_workload", recipe=get_workload("digits_mlp").recipe, target=0.9)
    with pytest.raises(InvalidValueError, match="baseline of workload 'my_workload'.*noisy_quadratic"):
        check_target(mine)


def test_no_seeds_or_seeds_given_as_an_iterator_are_read_as_given():
    """seeds=[] trained nothing and returned a check whose median_steps raised StatisticsError ('no
    median for empty data'); seeds as a generator were used up by the runs and recorded as ()."""
    workload = get_workload("teacher_student", epochs=1)
    with pytest.raises(InvalidValueError, match=r"invalid value \[\] for seeds"):
        check_target(workload, seeds=[])
    check = check_target(workload, seeds=(s for s in (1,)))
    assert check.seeds == (1,) and len(check.steps_to_target) == 1


@pytest.mark.parametrize("seeds, shown", [(5, "5"), ((), r"\(\)"), (None, "None")])
def test_seeds_that_are_not_a_collection_of_seeds_are_refused_as_given(seeds, shown):
    """seeds=5 (meant as 5 seeds) raised TypeError "'int' object is not iterable", and seeds=() was
    refused as '[]', a value not given."""
    with pytest.raises(
        InvalidValueError, match=rf"^invalid value {shown} for seeds: accepted at least one seed"
    ):
        check_target(get_workload("teacher_student", epochs=1), seeds=seeds)
