"""The tuned baseline behind each workload's target, and the check that it still reaches it.

A target is only as good as the run that sets it (AlgoPerf sets its targets from tuned baselines: Dahl
et al., Benchmarking Neural Network Training Algorithms, 2023, https://arxiv.org/abs/2306.07179). Each
baseline here is the best configuration found by ``optimlab bench`` under the default protocol (the
optimizer's learning rate on a 7-point log grid, seed 0), recorded as the recipe fields it sets on the
workload. :func:`check_target` reruns it on fresh seeds; ``benchmarks/workload_targets.py`` does so for
every workload on 5 seeds and ``docs/workloads.md`` records the result: each reaches its target on at
least 4 of 5.

>>> BASELINES["digits_resnet"]
{'optimizer.name': 'adam', 'optimizer.lr': 0.001}
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

from optimlab.errors import InvalidValueError
from optimlab.study.analysis import time_to_target
from optimlab.study.trial import CurveRecorder
from optimlab.workloads import Workload

__all__ = ["BASELINES", "TargetCheck", "check_target"]

# workload -> the recipe fields of its tuned baseline (the best of sgd, momentum and adam where tuned)
BASELINES: dict[str, Mapping[str, Any]] = {
    "noisy_quadratic": {"optimizer.name": "momentum", "optimizer.lr": 0.01},
    "quadratic_deep": {"optimizer.name": "sgd", "optimizer.lr": 0.01},  # DeepOBS's tuned SGD (tests/bench)
    "digits_logistic": {"optimizer.name": "adam", "optimizer.lr": 0.02154},
    "digits_mlp": {"optimizer.name": "adam", "optimizer.lr": 0.004642},
    "digits_deep_mlp": {"optimizer.name": "adam", "optimizer.lr": 0.001},
    "digits_resnet": {"optimizer.name": "adam", "optimizer.lr": 0.001},
    "mnist1d_mlp": {"optimizer.name": "adam", "optimizer.lr": 0.02154},
    "mnist1d_cnn": {"optimizer.name": "adam", "optimizer.lr": 0.02154},
    "two_spirals_mlp": {"optimizer.name": "adam", "optimizer.lr": 0.02154},
    "teacher_student": {"optimizer.name": "adam", "optimizer.lr": 0.004642},
    "python_lm": {"optimizer.name": "adam", "optimizer.lr": 0.004642},
}


@dataclasses.dataclass(frozen=True)
class TargetCheck:
    """A baseline rerun on several seeds: the best value each seed reached and when it met the target."""

    workload: str
    baseline: Mapping[str, Any]
    target: float
    seeds: tuple[int, ...]
    best: tuple[float, ...]  # best value of the tuned metric over each run's evaluations
    steps_to_target: tuple[float, ...]  # inf where a run never met the target
    seconds: float  # wall time of all the runs

    @property
    def reached(self) -> int:
        return sum(math.isfinite(s) for s in self.steps_to_target)

    @property
    def median_steps(self) -> float:
        return statistics.median(self.steps_to_target)


def check_target(
    workload: Workload, seeds: Sequence[int] = (1, 2, 3, 4, 5), baseline: Mapping[str, Any] | None = None
) -> TargetCheck:
    """Train ``workload``'s baseline on each seed; how many met the target, and when."""
    from optimlab.train.run import train

    if workload.target is None:
        raise InvalidValueError(
            f"target of workload {workload.name!r}", None, "a number: this workload has none yet"
        )
    if baseline is None and workload.name not in BASELINES:
        raise InvalidValueError(
            f"baseline of workload {workload.name!r}",
            None,
            "the recipe fields of a tuned run, e.g. baseline={'optimizer.name': 'adam', 'optimizer.lr': 1e-3}:"
            f" only {', '.join(BASELINES)} have one recorded",
        )
    given = seeds
    try:
        seeds = tuple(seeds)  # read once: the runs and the check record the same seeds
    except TypeError:  # seeds=5, meant as five seeds
        seeds = ()
    if not seeds:
        raise InvalidValueError("seeds", given, "at least one seed, e.g. (1, 2, 3, 4, 5)")
    baseline = dict(BASELINES[workload.name] if baseline is None else baseline)
    started = time.perf_counter()
    best, steps = [], []
    for seed in seeds:
        recorder = CurveRecorder(None, workload.metric)
        train(workload.recipe.with_updates({**baseline, "training.seed": seed}), callbacks=[recorder])
        values = [v for v in recorder.curve.get(workload.metric, []) if v is not None]
        best.append(math.nan if not values else max(values) if workload.goal == "max" else min(values))
        hit = time_to_target(recorder.curve, workload.metric, workload.target, workload.goal)
        steps.append(math.inf if hit is None else float(hit[0]))
    return TargetCheck(
        workload=workload.name,
        baseline=baseline,
        target=workload.target,
        seeds=seeds,
        best=tuple(best),
        steps_to_target=tuple(steps),
        seconds=time.perf_counter() - started,
    )
