"""DeepOBS's quadratic_deep baselines reproduced (Schneider et al. 2019, arXiv:1903.05499): tuned SGD and
Adam end near 87.0-87.5 test loss; ``benchmarks/deepobs_quadratic_deep.py`` tunes the lrs used here."""

import statistics

import pytest

from optimlab.study.backends.batched import train_members
from optimlab.study.trial import CurveRecorder
from optimlab.workloads.quadratic import quadratic_deep

# The grid's best lrs (25-point log grids, mean final test loss over 5 seeds).
TUNED = {"sgd": 0.01, "adam": 0.0316}


@pytest.mark.parametrize("optimizer", sorted(TUNED))
def test_tuned_sgd_and_adam_reach_deepobs_final_test_loss(optimizer):
    workload = quadratic_deep()
    recipes = [
        workload.recipe.with_updates(
            {"optimizer.name": optimizer, "optimizer.lr": TUNED[optimizer], "training.seed": seed}
        )
        for seed in range(5)
    ]
    results = train_members(recipes, [CurveRecorder(None, "test_loss") for _ in recipes])
    final = statistics.mean(r.metrics["test_loss"] for r in results)
    assert 86.8 <= final <= 88.5
    assert all(r.metrics["val_loss"] <= workload.target for r in results)
