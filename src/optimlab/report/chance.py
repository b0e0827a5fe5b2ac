"""Chance level: what a model that has learnt nothing scores, drawn as a reference line on curves.

A classifier that learns nothing from its inputs can still learn the class frequencies p_c of the
training split: its accuracy is then the majority class's share, max p_c, and its cross-entropy the
entropy of the frequencies, -sum p_c ln p_c (Bishop, Pattern Recognition and Machine Learning, 2006,
section 1.6). On C balanced classes these are 1/C and ln C (2.303 nats for 10); on 90% of one class of
two, 0.9 and 0.325, where 1/C and ln C read 0.5 and 0.693: a model predicting the majority class drew
far above chance accuracy and below chance loss, as if it had learnt. Under label smoothing eps (Szegedy
et al., Rethinking the Inception Architecture, 2016, section 7, arXiv:1512.00567) every target is
(1 - eps) one-hot + eps / C, whose mean over the rows is q_c = (1 - eps) p_c + eps / C: the best constant
prediction is q and its loss the entropy of q, above that of p where the classes are imbalanced. A loss curve that never drops
below the line has learnt nothing beyond the class frequencies; one that starts far above it was
initialized overconfident.

>>> import math
>>> round(math.log(10), 3), round(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), 3)
(2.303, 0.325)
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from optimlab.data.user_factory import BatchSplits
from optimlab.errors import OptimlabError, OptimlabWarning

__all__ = ["chance_levels", "no_better_than_chance"]


def chance_levels(recipe: Any) -> dict[str, float]:
    """``{"loss": entropy of the class frequencies (smoothed as the loss smooths its targets), "accuracy":
    the majority class's share}`` of the training split, for a classification recipe with the cross-entropy loss (ln C and 1/C on balanced
    classes); the accuracy alone for the user's dict batches of one class label each (their class count is
    their model's); {} for any other, or when its data can no longer be loaded (a user file moved since
    the run)."""
    splits = _splits_under(recipe, "cross_entropy", "classification")
    if isinstance(splits, BatchSplits):  # the user's dict batches: their labels, read from training
        labels = splits.training_labels()
        labels = None if labels is None else labels[labels >= 0]  # -100: the label the loss ignores
        if labels is None or not len(labels):
            return {}
        # their classes are the model's outputs, unknown here: the loss's level is left out
        return {"accuracy": float(torch.bincount(labels).max() / len(labels))}
    classes = getattr(splits, "num_classes", None)
    if classes is None or classes < 2:
        return {}
    targets = splits.train.y.flatten().long()
    counts = torch.bincount(targets[(targets >= 0) & (targets < classes)], minlength=classes).double()
    smoothing = float(recipe.training.loss_options.get("label_smoothing", 0.0))
    shares = (1 - smoothing) * counts / counts.sum() + smoothing / classes
    shares = shares[shares > 0]
    return {"loss": float(-(shares * shares.log()).sum()), "accuracy": float(counts.max() / counts.sum())}


def _splits_under(recipe: Any, loss: str, task: str) -> Any | None:
    """The recipe's data, where it trains under ``loss`` (named, or the task's default) on a ``task``
    with no loss of its own; None otherwise, or when its data can no longer be loaded (a user file moved
    since the run)."""
    from optimlab.build import build_data

    if recipe.training.loss not in (None, loss) or recipe.training.compute_loss is not None:
        return None
    try:
        with warnings.catch_warnings():  # the data's notes were said when the run built it
            warnings.simplefilter("ignore", OptimlabWarning)
            splits = build_data(recipe)
    except (OptimlabError, OSError):
        return None
    return splits if splits.task == task and getattr(splits, "loss", None) is None else None


def no_better_than_chance(recipe: Any, metrics: dict[str, float]) -> str | None:
    """Says so where a run learnt nothing from its inputs, else None: its final accuracy (validation's,
    else test's) no better than always predicting the training split's majority class, however its loss
    reads; or, for a regression under the mean squared error, its loss no lower than always predicting the
    training targets' mean."""
    split = "val" if "val_loss" in metrics else "test"
    accuracy = metrics.get(f"{split}_accuracy")
    if accuracy is not None:
        if not (chance := chance_levels(recipe)) or accuracy > chance["accuracy"]:
            return None
        return (
            f"{split}_accuracy {accuracy:.4g} is no better than always predicting the majority class "
            f"({chance['accuracy']:.4g} of the training rows): the model learnt nothing from its inputs"
        )
    loss = metrics.get(f"{split}_loss")
    if loss is None or (mean_loss := _mean_prediction_loss(recipe, split)) is None or loss < mean_loss:
        return None
    return (
        f"{split}_loss {loss:.4g} is no lower than always predicting the training targets' mean "
        f"({mean_loss:.4g} on the {split} rows): the model learnt nothing from its inputs"
    )


def _mean_prediction_loss(recipe: Any, split: str) -> float | None:
    """The mean squared error on ``split`` of predicting the training targets' mean (their variance, on
    the training rows), for a regression recipe under that loss; None for any other."""
    splits = _splits_under(recipe, "mse", "regression")
    if splits is None or not len(rows := getattr(splits, split).y):
        return None
    return float(((rows.double() - splits.train.y.double().mean(0)) ** 2).mean())
