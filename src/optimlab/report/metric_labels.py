"""Axis labels of metrics, with their units, for every page that plots one.

>>> axis_label("val_accuracy")
'validation accuracy (fraction correct)'
>>> axis_label("test_rmse")
'test RMSE (units of the target)'
>>> axis_label("val_f1")
'val_f1'
"""

from __future__ import annotations

__all__ = ["axis_label"]

_NAMED = {
    "train_loss": "training loss (last batch)",
    "lr": "learning rate",
    "grad_norm": "gradient norm (global L2)",
}
_SPLITS = {"train": "training", "val": "validation", "test": "test"}
_KINDS = {"loss": "loss", "accuracy": "accuracy (fraction correct)", "rmse": "RMSE (units of the target)"}


def axis_label(metric: str) -> str:
    """``metric`` (a name in metrics.jsonl or a study's metric) in words with its unit; an unknown one as
    it is named."""
    if metric in _NAMED:
        return _NAMED[metric]
    split, _, kind = metric.partition("_")
    return f"{_SPLITS[split]} {_KINDS[kind]}" if split in _SPLITS and kind in _KINDS else metric
