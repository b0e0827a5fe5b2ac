"""``optimlab.study.compare``: the comparison behind ``optimlab compare``, planned without training."""

import pytest

from optimlab.errors import OptimlabError
from optimlab.study.compare import compare, plan_comparison


def test_a_plan_has_one_study_per_workload_with_the_given_budget():
    specs = plan_comparison(
        ["sgd", "adam"], workloads=["digits-mlp", "two-spirals-mlp"], epochs=1, budget=2, seeds=1, name="s"
    )
    assert [s.name for s in specs] == ["s-digits_mlp", "s-two_spirals_mlp"]
    assert all(s.budget == 2 and s.seeds == 1 and s.recipe.training.epochs == 1 for s in specs)
    assert [m.name for m in specs[0].methods] == ["sgd", "adam"]
    one = plan_comparison(["relu", "tanh"], field="model.activation", name="acts")
    assert [s.name for s in one] == ["acts"] and one[0].method_recipe(
        one[0].methods[1]
    ).model.activation == "tanh"


def test_a_resumed_comparison_takes_no_new_plan_and_needs_its_place(tmp_path):
    with pytest.raises(OptimlabError, match="drop budget"):
        compare(resume=True, out=tmp_path, budget=3)
    with pytest.raises(OptimlabError, match="folder"):
        compare(resume=True)
    with pytest.raises(OptimlabError, match="nothing to compare"):
        compare([], out=tmp_path)
