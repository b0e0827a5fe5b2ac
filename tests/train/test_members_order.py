"""The members' loop draws the batches fit draws: rows in order (``shuffle: false``) and an epoch's short
last batch dropped (``drop_last: true``), as a one-at-a-time run of each recipe does."""

import pytest

from optimlab.study.trial import CurveRecorder
from optimlab.train.members import train_members
from tests.train.test_members import BASE, assert_same_run, one_at_a_time


@pytest.mark.parametrize(
    "order",
    [
        {"training.shuffle": False},
        {"training.drop_last": True},
        {"training.shuffle": False, "training.drop_last": True},
    ],
)
def test_members_take_sequential_batches_and_drop_the_short_one_as_alone(order):
    """digits' 1,079 training rows in batches of 100: 10 full batches and one of 79 an epoch. The stack
    shuffled every epoch and kept the 79 rows (val loss 1e-3 to 3e-3 off each recipe's own run)."""
    recipes = [
        BASE.with_updates(
            {
                "optimizer.name": "momentum",
                "optimizer.lr": 0.05,
                "training.batch_size": 100,
                "training.seed": seed,
                **order,
            }
        )
        for seed in (1, 2)
    ]
    recorders = [CurveRecorder(None, "val_accuracy") for _ in recipes]
    results = train_members(recipes, recorders)
    for result, recorder, recipe in zip(results, recorders, recipes):
        assert_same_run((result, recorder.curve), one_at_a_time(recipe))
