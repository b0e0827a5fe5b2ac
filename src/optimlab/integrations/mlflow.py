"""MLflow: a run's metrics (with step and timestamp), its recipe as parameters, its report as an artifact.

Through MLflow's own client, at any tracking URI: ``MLFLOW_TRACKING_URI`` when set, else MLflow's default,
a local database file (``mlflow.db`` in the working folder; MLflow 3 refuses the old ``./mlruns`` file
store unless ``MLFLOW_ALLOW_FILE_STORE=true``). ``mlflow ui`` shows the runs of experiment ``optimlab``.
``pip install 'optimlab[trackers]'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from optimlab.integrations.tracking import Record, Tracker

__all__ = ["EXPERIMENT", "MLflowTracker"]

EXPERIMENT = "optimlab"
_BATCH = 1000  # MLflow's limit of metrics per log_batch call
_PARAMS = 100  # and of parameters
_PARAM_LENGTH = 6000  # characters of a parameter value


class MLflowTracker(Tracker):
    """One MLflow run in ``experiment``; ``params`` (flat ``field -> value``) logged when it opens."""

    def __init__(
        self,
        *,
        run_name: str,
        params: Mapping[str, Any] | None = None,
        tracking_uri: str | None = None,
        experiment: str = EXPERIMENT,
        every: int = 1,
    ) -> None:
        super().__init__(every=every)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        entries = [Param(k, str(v)[:_PARAM_LENGTH]) for k, v in (params or {}).items()]
        for start in range(0, len(entries), _PARAMS):
            self.client.log_batch(self.run_id, params=entries[start : start + _PARAMS])

    def write(self, records: list[Record]) -> None:
        metrics = [
            Metric(name, float("nan") if value is None else float(value), int(wall_time * 1000), step)
            for step, wall_time, values in records
            for name, value in values.items()
        ]
        # Synchronous: MLflow's asynchronous batches (synchronous=False) made a 100-step run 2.5x slower
        # instead of 1.9x on a loaded 2-core machine (their thread competes for the interpreter);
        # the store's cost is ~0.5 ms of CPU per metric point either way (benchmarks/tracker_overhead.py).
        for start in range(0, len(metrics), _BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + _BATCH])

    def close(self, *, failed: bool) -> None:
        status = RunStatus.to_string(RunStatus.FAILED if failed else RunStatus.FINISHED)
        self.client.set_terminated(self.run_id, status=status)

    def log_artifact(self, path: str | Path) -> None:
        self.client.log_artifact(self.run_id, str(path))
