"""Axis labels of metrics, with their units, and the scale of their axis, for every page that plots one.

>>> axis_label("val_accuracy")
'validation accuracy (fraction correct)'
>>> axis_label("test_rmse")
'test RMSE (units of the target)'
>>> axis_label("val_f1")
'val_f1'
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from optimlab.report.line_chart import spans_decades

__all__ = ["ACCURACY", "UNBOUNDED", "axis_label", "log_axis", "metric_bounds"]

UNBOUNDED = (-math.inf, math.inf)
ACCURACY = (0.0, 1.0)  # the values an accuracy (or any fraction) can take

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


def log_axis(metric: str, values: Sequence[float]) -> bool:
    """Whether ``metric``'s ``values`` are drawn on a log axis: where they span decades
    (:func:`~optimlab.report.line_chart.spans_decades`) and the metric has no upper bound (a loss, an error,
    a gradient norm; :func:`metric_bounds`). An accuracy stays linear: 0.05 to
    0.99 on a log axis spread the first steps at chance over most of the chart and squeezed 0.9 to 0.99,
    where runs differ, into its top."""
    return metric_bounds(metric)[1] == math.inf and spans_decades(values)


def metric_bounds(metric: str) -> tuple[float, float]:
    """The values ``metric`` can take: [0, 1] for an accuracy, [0, inf) for a loss or an error."""
    if metric.endswith("accuracy"):
        return ACCURACY
    if metric.endswith(("loss", "rmse", "error")):
        return 0.0, math.inf
    return UNBOUNDED
