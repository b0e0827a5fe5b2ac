"""The chance line: what a classifier that learnt nothing but the class frequencies scores."""

import math
import warnings

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


def test_label_smoothing_raises_the_chance_loss_to_what_a_constant_prediction_reaches(tmp_path, monkeypatch):
    """Under label_smoothing 0.2 the best a model that learnt nothing but the frequencies does is torch's
    CrossEntropyLoss(label_smoothing=0.2) at its best constant logits: found here by L-BFGS on that loss
    over the training split's labels, 0.47 on the 9-to-1 classes, above the unsmoothed line's 0.33."""
    import torch

    (tmp_path / "chance_imbalanced.py").write_text(IMBALANCED)
    monkeypatch.syspath_prepend(str(tmp_path))
    from optimlab.build import build_data

    recipe = Recipe.from_dict(
        {"data": {"name": "chance_imbalanced:load"}, "training": {"loss_options": {"label_smoothing": 0.2}}}
    )
    y = build_data(recipe).train.y
    logits = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    loss = torch.nn.CrossEntropyLoss(label_smoothing=0.2)
    search = torch.optim.LBFGS([logits], max_iter=200, tolerance_grad=1e-12, line_search_fn="strong_wolfe")

    def closure():
        search.zero_grad()
        value = loss(logits.expand(len(y), 2), y)
        value.backward()
        return value

    search.step(closure)
    best = float(loss(logits.detach().expand(len(y), 2), y))
    levels = chance_levels(recipe)
    assert (
        levels["loss"] == pytest.approx(best, abs=1e-9)
        and best > chance_levels(Recipe.from_dict({"data": {"name": "chance_imbalanced:load"}}))["loss"] + 0.1
    )
    assert levels["accuracy"] == pytest.approx(float(y.bincount().max()) / len(y))  # smoothing moves no label


def test_the_data_notes_said_when_the_run_built_its_data_are_not_said_again():
    """`optimlab train --dataset iris --set data.val_fraction=0.001` said 'gives validation no row' twice:
    at the start, and again when the chance line built the data anew after the run."""
    recipe = Recipe.from_dict({"data": {"name": "iris", "val_fraction": 0.001}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        levels = chance_levels(recipe)
    assert levels["accuracy"] == pytest.approx(1 / 3, abs=0.02)  # iris's three classes of 50 rows


DICT_ITEMS = '''
import torch
from torch.utils.data import DataLoader


class Items(torch.utils.data.Dataset):
    """Dict items, 9 in 10 of class 0 among those not ignored (-100 on every 7th)."""

    def __init__(self, n):
        self.x = torch.randn(n, 4, generator=torch.Generator().manual_seed(n))
        self.y = (torch.arange(n) % 10 == 0).long()
        self.y[::7] = -100

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def items():
    return Items(70), Items(20)


def loaders():
    return DataLoader(Items(70), batch_size=16, shuffle=True), DataLoader(Items(20), batch_size=8)
'''


@pytest.mark.parametrize("factory", ["items", "loaders"])
def test_dict_batches_have_the_chance_accuracy_of_their_training_labels(tmp_path, monkeypatch, factory):
    """A data factory of dict items (a Dataset, or DataLoaders) gave no chance level, so `optimlab train`
    said nothing of a val_accuracy below the majority class's share where (x, y) data were told. Truth:
    the share of class 0 among the training labels the loss does not ignore, counted here by hand."""
    import torch

    from optimlab.report.chance import no_better_than_chance

    (tmp_path / "chance_dicts.py").write_text(DICT_ITEMS)
    monkeypatch.syspath_prepend(str(tmp_path))
    y = (torch.arange(70) % 10 == 0).long()
    kept = y[torch.arange(70) % 7 != 0]
    share = float((kept == 0).sum()) / len(kept)
    recipe = Recipe.from_dict(
        {"data": {"name": f"chance_dicts:{factory}"}, "training": {"loss": "cross_entropy"}}
    )
    assert chance_levels(recipe) == {"accuracy": pytest.approx(share)} and share > 0.85
    said = no_better_than_chance(recipe, {"val_loss": 0.5, "val_accuracy": 0.85})
    assert said is not None and f"({share:.4g} of the training rows)" in said
    assert no_better_than_chance(recipe, {"val_loss": 0.5, "val_accuracy": 0.95}) is None
