"""Studies: fair, tuned, multi-seed comparisons of training choices, kept in an Optuna storage.

>>> from optimlab.study import StudySpec, methods_from, run_study
>>> from optimlab.workloads import get_workload
>>> spec = StudySpec.for_workload("opt", get_workload("digits_mlp"),
...                               methods_from("optimizer.name", ["sgd", "adam"]))  # doctest: +SKIP
>>> result = run_study(spec, "runs/opt")  # doctest: +SKIP
>>> leaderboard(spec, result.records)[0].method  # doctest: +SKIP
'adam'

``write_report`` (matplotlib) is imported on first use.
"""

from typing import Any

from optimlab.study.analysis import LeaderboardRow, confidence_interval, leaderboard, performance_profiles
from optimlab.study.protocols import Method, StudySpec, methods_from
from optimlab.study.run import StudyResult, load_specs, run_study
from optimlab.study.space import Dimension, SearchSpace
from optimlab.study.storage import TrialRecord, open_storage
from optimlab.study.worker import work

__all__ = [
    "Dimension",
    "LeaderboardRow",
    "Method",
    "SearchSpace",
    "StudyResult",
    "StudySpec",
    "TrialRecord",
    "confidence_interval",
    "leaderboard",
    "load_specs",
    "methods_from",
    "open_storage",
    "performance_profiles",
    "run_study",
    "work",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name == "write_report":
        from optimlab.study.report import write_report

        return write_report
    raise AttributeError(f"module 'optimlab.study' has no attribute {name!r}")
