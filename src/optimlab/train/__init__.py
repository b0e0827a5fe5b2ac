"""Training: the lean loop, its callbacks, checkpoints, and recipe runs."""

from optimlab.train.callbacks import Checkpointing, EarlyStopping, MetricsLog, ProgressBar
from optimlab.train.loop import Callback, TrainState, fit
from optimlab.train.run import TrainResult, evaluate, train

__all__ = [
    "Callback",
    "Checkpointing",
    "EarlyStopping",
    "MetricsLog",
    "ProgressBar",
    "TrainResult",
    "TrainState",
    "evaluate",
    "fit",
    "train",
]
