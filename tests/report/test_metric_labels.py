"""Axis labels of metrics: words and units for the known kinds, the name itself for others."""

import pytest

from optimlab.report.metric_labels import axis_label


@pytest.mark.parametrize(
    ("metric", "label"),
    [
        ("train_loss", "training loss (last batch)"),
        ("val_loss", "validation loss"),
        ("val_accuracy", "validation accuracy (fraction correct)"),
        ("test_accuracy", "test accuracy (fraction correct)"),
        ("val_rmse", "validation RMSE (units of the target)"),
        ("lr", "learning rate"),
        ("val_f1", "val_f1"),
        ("perplexity", "perplexity"),
    ],
)
def test_axis_label(metric, label):
    assert axis_label(metric) == label
