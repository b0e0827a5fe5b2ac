"""optimlab's entry points that build a recipe leave the caller's NumPy and Python global generators as
they found them: building seeds them from training.seed (a Dataset's np.random augmentations then read
the same at every run of one seed), and a caller's loop drawing its next settings from np.random drew
the same numbers after each call (as train's f9b669e and train_members' 3b28e63)."""

import random

import numpy as np
import pytest
import torch

from optimlab.doctor import find_lr_recipe, lr_range_test_recipe
from optimlab.doctor.diagnose import diagnose_recipe
from optimlab.recipe import Recipe
from optimlab.study.compare import compare
from optimlab.train import train

IRIS = Recipe.from_dict({"data": {"name": "iris"}, "training": {"steps": 6, "batch_size": 30}})


def _draws(call) -> list[tuple[float, float, float]]:
    """Two rounds of a caller's loop: draw from NumPy, Python and torch, then ``call``."""
    np.random.seed(1), random.seed(1), torch.manual_seed(1)
    drawn = []
    for _ in range(2):
        drawn.append((np.random.uniform(), random.random(), torch.rand(()).item()))
        call()
    return drawn


@pytest.mark.parametrize(
    "call",
    [
        lambda tmp: train(IRIS),
        lambda tmp: diagnose_recipe(IRIS, steps=4, lr_find=False),
        lambda tmp: find_lr_recipe(IRIS, steps=10, check_steps=2),
        lambda tmp: lr_range_test_recipe(IRIS, steps=10),
        lambda tmp: compare(["sgd"], dataset="iris", epochs=1, budget=1, seeds=1, out=tmp / "c"),
    ],
    ids=["train", "diagnose_recipe", "find_lr_recipe", "lr_range_test_recipe", "compare"],
)
def test_an_entry_point_that_builds_a_recipe_gives_the_callers_generators_back(tmp_path, call):
    rounds = iter(range(2))
    assert _draws(lambda: call(tmp_path / str(next(rounds)))) == _draws(lambda: None)
