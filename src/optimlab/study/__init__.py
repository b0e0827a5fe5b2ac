"""Studies: fair, tuned, multi-seed comparisons of training choices, kept in an Optuna storage.

>>> from optimlab.study import StudySpec, methods_from, run_study
>>> from optimlab.workloads import get_workload
>>> spec = StudySpec.for_workload("opt", get_workload("digits_mlp"),
...                               methods_from("optimizer.name", ["sgd", "adam"]))  # doctest: +SKIP
>>> result = run_study(spec, "runs/opt")  # doctest: +SKIP
>>> leaderboard(spec, result.records)[0].method  # doctest: +SKIP
'adam'

Each name is imported on first use (optuna, torch and matplotlib load with the modules that need them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optimlab.study.analysis import (
        LeaderboardRow,
        confidence_interval,
        leaderboard,
        performance_profiles,
    )
    from optimlab.study.protocols import Method, StudySpec, methods_from
    from optimlab.study.report import write_report
    from optimlab.study.run import StudyResult, load_specs, run_study
    from optimlab.study.space import Dimension, SearchSpace
    from optimlab.study.storage import TrialRecord, open_storage
    from optimlab.study.worker import work

# Where each public name lives. They load on first use, so that the light parts of the package (the
# backends table, read by the command line to check ``--backend``) cost no optuna or torch import.
_HOMES = {
    "Dimension": "space",
    "LeaderboardRow": "analysis",
    "Method": "protocols",
    "SearchSpace": "space",
    "StudyResult": "run",
    "StudySpec": "protocols",
    "TrialRecord": "storage",
    "confidence_interval": "analysis",
    "leaderboard": "analysis",
    "load_specs": "run",
    "methods_from": "protocols",
    "open_storage": "storage",
    "performance_profiles": "analysis",
    "run_study": "run",
    "work": "worker",
    "write_report": "report",
}

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
    if name not in _HOMES:
        raise AttributeError(f"module 'optimlab.study' has no attribute {name!r}")
    return getattr(importlib.import_module(f"optimlab.study.{_HOMES[name]}"), name)
