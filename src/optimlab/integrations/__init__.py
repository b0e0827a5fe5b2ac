"""Integrations with the tools practitioners already use; optional extras, on top of every other layer.

- Trackers (:mod:`.tracking`): the metrics of ``train``, ``fit`` and study trials to TensorBoard event
  files (:mod:`.tensorboard`, ``pip install 'optimlab[trackers]'``) and to MLflow (:mod:`.mlflow`).
  A doctor's findings too (:func:`.tracking.log_findings`). A tracker whose own writing fails during a
  fit stops and training goes on (:class:`.tracking.TrackerStopped`: a warning, ``tracker.wait()`` raising,
  the state's ``tracker_failures``).
- Trainers: the doctor, the LR range test and optimlab's optimizers inside a Lightning ``Trainer``
  (:mod:`.lightning`, ``pip install 'optimlab[lightning]'``) and a Hugging Face ``Trainer``
  (:mod:`.huggingface`, ``pip install 'optimlab[transformers]'``).
- optuna-dashboard reads a study's storage as it is (``optuna-dashboard runs/compare-.../study.journal``).

Nothing below this package imports it; each tracker imports its library only when opened. The names
below load :mod:`.tracking` (and torch) on first use, so that MLflow's writer process
(:mod:`.mlflow_writer`), started as a module of this package, starts without torch.
"""

from typing import Any

__all__ = [
    "TRACKERS",
    "Tracker",
    "TrackerStopped",
    "check_trackers",
    "log_findings",
    "log_run",
    "log_study",
    "open_tracker",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from optimlab.integrations import tracking

        return getattr(tracking, name)
    raise AttributeError(f"module 'optimlab.integrations' has no attribute {name!r}")
