"""Integrations with the tools practitioners already use; optional extras, on top of every other layer.

- Trackers (:mod:`.tracking`): the metrics of ``train``, ``fit`` and study trials to TensorBoard event
  files (:mod:`.tensorboard`, ``pip install 'optimlab[trackers]'``) and to MLflow (:mod:`.mlflow`).
- Trainers: the doctor, the LR range test and optimlab's optimizers inside a Lightning ``Trainer``
  (:mod:`.lightning`, ``pip install 'optimlab[lightning]'``) and a Hugging Face ``Trainer``
  (:mod:`.huggingface`, ``pip install 'optimlab[transformers]'``).
- optuna-dashboard reads a study's storage as it is (``optuna-dashboard runs/compare-.../study.journal``).

Nothing below this package imports it; each tracker imports its library only when opened.
"""

from optimlab.integrations.tracking import TRACKERS, Tracker, check_trackers, log_run, log_study, open_tracker

__all__ = ["TRACKERS", "Tracker", "check_trackers", "log_run", "log_study", "open_tracker"]
