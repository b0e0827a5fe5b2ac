"""Chance level: what a model that has learnt nothing scores, drawn as a reference line on curves.

For a classifier trained with cross-entropy on C classes, predicting the uniform distribution gives a loss
of ln C (2.303 nats for 10 classes) and an accuracy of 1/C; a loss curve that never drops below ln C has
learnt nothing beyond the class frequencies, one that starts far above it was initialized overconfident.

>>> import math
>>> round(math.log(10), 3)
2.303
"""

from __future__ import annotations

import math
from typing import Any

from optimlab.errors import OptimlabError

__all__ = ["chance_levels"]


def chance_levels(recipe: Any) -> dict[str, float]:
    """``{"loss": ln C, "accuracy": 1/C}`` for a classification recipe with the cross-entropy loss; {} for
    any other (the user's dict batches among them), or when its data can no longer be loaded (a user
    file moved since the run)."""
    from optimlab.build import build_data

    if recipe.training.loss not in (None, "cross_entropy") or recipe.training.compute_loss is not None:
        return {}
    try:
        splits = build_data(recipe)
    except (OptimlabError, OSError):
        return {}
    # The user's dict batches (BatchSplits) keep no class count: their model's own loss says none.
    classes = getattr(splits, "num_classes", None)
    if splits.task != "classification" or splits.loss is not None or classes is None or classes < 2:
        return {}
    return {"loss": math.log(classes), "accuracy": 1.0 / classes}
