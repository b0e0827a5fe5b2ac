"""Benchmarks of training methods: a suite of workloads, time to target, performance profiles, a report.

>>> from optimlab.bench import run_bench, suite  # doctest: +SKIP
>>> result = run_bench(suite("small"), ["sgd", "momentum", "adam", "mypkg.opt:MyOpt"], "runs/bench")  # doctest: +SKIP
>>> result.scores.ranking()[0]  # doctest: +SKIP
('adam', 0.83)

``write_bench_report`` (matplotlib) is imported on first use.
"""

from typing import Any

from optimlab.bench.runner import BenchResult, check_workloads, resolve_methods, run_bench
from optimlab.bench.scoring import BenchScores, MethodScore, area_score, score
from optimlab.bench.suites import SUITES, suite
from optimlab.optim.user import load_optimizer

__all__ = [
    "SUITES",
    "BenchResult",
    "BenchScores",
    "MethodScore",
    "area_score",
    "check_workloads",
    "load_optimizer",
    "resolve_methods",
    "run_bench",
    "score",
    "suite",
    "write_bench_report",
]


def __getattr__(name: str) -> Any:
    if name == "write_bench_report":
        from optimlab.bench.report import write_bench_report

        return write_bench_report
    raise AttributeError(f"module 'optimlab.bench' has no attribute {name!r}")
