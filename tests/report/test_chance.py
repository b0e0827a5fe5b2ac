"""The chance line: what a classifier that learnt nothing but the class frequencies scores."""

import math

import pytest

from optimlab.recipe import Recipe
from optimlab.report.chance import chance_levels

IMBALANCED = '''
import torch


def load(n=200, seed=0):
    """9 in 10 rows of class 0: the majority class scores 0.9 accuracy."""
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
    return x, (torch.arange(n) % 10 == 0).long()
'''


def test_imbalanced_classes_have_the_chance_of_their_frequencies(tmp_path, monkeypatch):
    """90% of one class of two: the line read accuracy 1/2 and loss ln 2 = 0.693, so a model predicting
    the majority class drew at 0.9 accuracy and 0.325 loss, far above and below 'chance', as if it had
    learnt. The majority's share and the entropy of the frequencies are what such a model scores."""
    (tmp_path / "chance_imbalanced.py").write_text(IMBALANCED)
    monkeypatch.syspath_prepend(str(tmp_path))
    from optimlab.build import build_data

    recipe = Recipe.from_dict({"data": {"name": "chance_imbalanced:load"}})
    shares = build_data(recipe).train.y.bincount().double() / len(build_data(recipe).train.y)
    levels = chance_levels(recipe)
    assert levels["accuracy"] == pytest.approx(float(shares.max())) and levels["accuracy"] > 0.85
    entropy = -sum(p * math.log(p) for p in shares.tolist())  # the cross-entropy of predicting them
    assert levels["loss"] == pytest.approx(entropy) and levels["loss"] < 0.4 < math.log(2)


def test_balanced_classes_keep_one_over_c_and_ln_c():
    levels = chance_levels(Recipe.from_dict({"data": {"name": "mnist1d"}}))  # 400 training rows a class
    assert levels == {"loss": pytest.approx(math.log(10)), "accuracy": pytest.approx(0.1)}
