"""Benchmarks of training methods: a suite of workloads, time to target, performance profiles, a report.

>>> from optimlab.bench import run_bench, suite  # doctest: +SKIP
>>> result = run_bench(suite("small"), ["sgd", "momentum", "adam", "mypkg.opt:MyOpt"], "runs/bench")  # doctest: +SKIP
>>> result.scores.ranking()[0]  # doctest: +SKIP
('adam', 0.83)

Importing the package loads nothing heavy: :data:`SETTINGS_FILE` and :data:`REPORT_FILE` are read by the
CLI before torch loads and by the study history page; every other name imports its module (torch, optuna, matplotlib for the
report) on first use.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optimlab.bench.report import write_bench_report
    from optimlab.bench.runner import BenchResult, check_bench, resolve_methods, run_bench
    from optimlab.bench.scoring import BenchScores, MethodScore, area_score, score
    from optimlab.bench.settings import (
        is_bench,
        planned_workloads,
        read_settings,
        resume_command,
        write_settings,
    )
    from optimlab.bench.suites import SUITES, suite
    from optimlab.optim.user import load_optimizer

__all__ = [
    "REPORT_FILE",
    "SETTINGS_FILE",
    "SUITES",
    "BenchResult",
    "BenchScores",
    "MethodScore",
    "area_score",
    "check_bench",
    "is_bench",
    "load_optimizer",
    "planned_workloads",
    "read_settings",
    "resolve_methods",
    "resume_command",
    "run_bench",
    "score",
    "suite",
    "write_bench_report",
    "write_settings",
]

SETTINGS_FILE = "bench.json"  # the settings `optimlab bench` ran with, kept in its folder for --resume
REPORT_FILE = "report.html"  # the bench's report, written in its folder once every workload has run

_MODULES = {  # each public name and the module that defines it
    "BenchResult": "optimlab.bench.runner",
    "check_bench": "optimlab.bench.runner",
    "resolve_methods": "optimlab.bench.runner",
    "run_bench": "optimlab.bench.runner",
    "BenchScores": "optimlab.bench.scoring",
    "MethodScore": "optimlab.bench.scoring",
    "area_score": "optimlab.bench.scoring",
    "score": "optimlab.bench.scoring",
    "is_bench": "optimlab.bench.settings",
    "planned_workloads": "optimlab.bench.settings",
    "read_settings": "optimlab.bench.settings",
    "resume_command": "optimlab.bench.settings",
    "write_settings": "optimlab.bench.settings",
    "SUITES": "optimlab.bench.suites",
    "suite": "optimlab.bench.suites",
    "load_optimizer": "optimlab.optim.user",
    "write_bench_report": "optimlab.bench.report",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'optimlab.bench' has no attribute {name!r}")
