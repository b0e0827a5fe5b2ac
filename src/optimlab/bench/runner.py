"""Run a benchmark: every method on every workload through the study engine, then score it.

Each workload is one study (named after the workload) in one storage: the same protocol for every
method (``budget`` tuning trials over its learning rate, then its best configuration on ``seeds`` fresh
seeds), as the optimizer benchmarks compare (Schmidt et al., Descending through a Crowded Valley, 2021,
https://arxiv.org/abs/2007.01547; Dahl et al., AlgoPerf, 2023, https://arxiv.org/abs/2306.07179). A
method is a registered optimizer name or the import path of the user's own
(``package.module:Name``, see :mod:`optimlab.optim.user`). A benchmark stopped at any point
resumes with ``resume=True``: finished workloads and trials are kept.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from optimlab.bench.scoring import BenchScores, score
from optimlab.errors import InvalidValueError
from optimlab.optim.user import load_optimizer
from optimlab.registry import get_registry
from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.study.compare import check_trains
from optimlab.study.run import StudyResult
from optimlab.study.storage import TrialRecord, open_storage, optimlab_studies
from optimlab.user_code import is_import_path
from optimlab.workloads import Workload

__all__ = ["BenchResult", "check_workloads", "resolve_methods", "run_bench"]


@dataclasses.dataclass
class BenchResult:
    """A finished benchmark: one study per workload, their scores, and how it was run."""

    results: list[StudyResult]
    scores: BenchScores
    seconds: float  # wall time of this run (of the resumed part, when resumed)
    settings: dict[str, Any]  # methods, protocol, budget, seeds, backend, cost


def resolve_methods(names: Sequence[str]) -> list[str]:
    """Registry names of the methods: built-in names (aliases resolved) or imported ``package.module:Name``."""
    if not names:
        raise InvalidValueError("methods", list(names), "at least one optimizer name or import path")
    registry = get_registry("optimizer")
    return [load_optimizer(n) if is_import_path(n) else registry.resolve(n) for n in names]


def check_workloads(workloads: Sequence[Workload]) -> None:
    """At least one workload, each once (one study per workload name)."""
    names = [w.name for w in workloads]
    if not workloads or len(set(names)) != len(names):
        raise InvalidValueError("workloads", names, "at least one, each once")


def _on_device(workload: Workload, device: str | None) -> Workload:
    if device is None:
        return workload
    return dataclasses.replace(workload, recipe=workload.recipe.with_updates({"training.device": device}))


def run_bench(
    workloads: Sequence[Workload],
    methods: Sequence[str],
    location: str | Path,
    *,
    protocol: str = "grid",
    budget: int = 7,
    seeds: int = 3,
    backend: str = "batched",
    options: BackendOptions | None = None,
    resume: bool = False,
    device: str | None = None,
    cost: str = "steps",
    on_progress: Callable[[str, list[TrialRecord]], None] | None = None,
) -> BenchResult:
    """Run ``methods`` on ``workloads`` with the study engine at ``location``; return results and scores.

    Args:
        methods: registered optimizer names or import paths ``package.module:Name``.
        location: a folder (its ``study.journal`` holds every workload's study) or an RDB URL.
        protocol, budget, seeds: the tuning protocol, the same for every method (see
            :class:`~optimlab.study.StudySpec`).
        backend: ``batched`` (default: trials that differ only in optimizer numbers train as one
            vectorized model, the rest one at a time, all in this process), ``local``, ``workers`` or
            ``ray`` (whose processes import the user's optimizer by its path, as a recipe names it).
        options: how the backend runs (workers, members; their defaults when None).
        resume: keep what an interrupted run at ``location`` finished, run the rest.
        device: ``cpu``, ``cuda``, ``auto``: overrides every workload's device (None keeps theirs).
        cost: ``steps`` or ``seconds``, what time to target is measured in (see :mod:`.scoring`).
        on_progress: called with the workload's name and its trial records after each trial or poll.
    """
    names = resolve_methods(methods)
    check_workloads(workloads)
    started = time.perf_counter()
    specs = [
        StudySpec.for_workload(
            workload.name,
            _on_device(workload, device),
            methods_from("optimizer.name", names),
            protocol=protocol,
            budget=budget,
            seeds=seeds,
        )
        for workload in workloads
    ]
    if not resume:  # the user's code fails here, in one line, before anything is written
        for spec in specs:
            check_trains(spec)
    storage = open_storage(location)
    stored = {spec.name: resume and bool(optimlab_studies(storage, spec.name)) for spec in specs}
    results = []
    for spec in specs:
        progress = (
            None if on_progress is None else (lambda records, name=spec.name: on_progress(name, records))
        )
        results.append(
            run_study(
                spec,
                location,
                backend=backend,
                resume=stored[spec.name],
                options=options,
                on_progress=progress,
            )
        )
    settings = {
        "methods": names,
        "workloads": [w.name for w in workloads],
        "protocol": protocol,
        "budget": budget,
        "seeds": seeds,
        "backend": backend,
        "cost": cost,
        "location": str(location),
    }
    return BenchResult(
        results=results, scores=score(results, cost), seconds=time.perf_counter() - started, settings=settings
    )
