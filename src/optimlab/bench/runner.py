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

from optimlab.bench.scoring import BenchScores, check_cost, score
from optimlab.errors import InvalidValueError
from optimlab.optim.user import load_optimizer
from optimlab.registry import POSITIVE_INT, STUDY_TRIALS, get_registry, whole_number
from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.study.compare import check_trains, stored_settings
from optimlab.study.protocols import check_planned_together
from optimlab.study.run import StudyResult, check_backend
from optimlab.study.storage import TrialRecord, open_storage, optimlab_studies
from optimlab.user_code import is_import_path
from optimlab.workloads import Workload, check_workloads

__all__ = ["BenchResult", "check_bench", "resolve_methods", "run_bench"]


@dataclasses.dataclass
class BenchResult:
    """A finished benchmark: one study per workload, their scores, and how it was run."""

    results: list[StudyResult]
    scores: BenchScores
    seconds: float  # wall time of this run (of the resumed part, when resumed)
    settings: dict[str, Any]  # methods, protocol, budget, seeds, backend, cost


def resolve_methods(names: Sequence[str], *, field: str = "methods") -> list[str]:
    """Registry names of the methods: built-in names (aliases resolved) or imported ``package.module:Name``,
    each method once (``sgd`` and ``SGD``, or ``momentum`` and its alias ``heavy_ball``, are one method);
    ``field`` names them in an error (the CLI's flag)."""
    if not names:
        raise InvalidValueError(field, list(names), "at least one optimizer name or import path")
    registry = get_registry("optimizer")
    resolved = [load_optimizer(n) if is_import_path(n) else registry.resolve(n) for n in names]
    given: dict[str, list[str]] = {}
    for name, method in zip(names, resolved):
        given.setdefault(method, []).append(repr(name))
    twice = [f"{' and '.join(n)} name one method, {m}" for m, n in given.items() if len(n) > 1]
    if twice:
        raise InvalidValueError(field, ",".join(names), f"each method once ({'; '.join(twice)})")
    return resolved


def _on_device(workload: Workload, device: str | None) -> Workload:
    if device is None:
        return workload
    return dataclasses.replace(workload, recipe=workload.recipe.with_updates({"training.device": device}))


def check_bench(
    workloads: Sequence[Workload],
    methods: Sequence[str],
    *,
    device: str | None = None,
    fields: tuple[str, str] = ("workloads", "methods"),
) -> list[str]:
    """Refuse, in one line and before anything is written, a benchmark that cannot run: no workload or
    method, one given twice, or a first training step that fails on a workload: the first method's (the
    user's model or data) and each user optimizer's (its own code: LBFGS wants a closure). ``fields``
    name the workloads and the methods in an error (the CLI's flags). Returns the methods' registry
    names. Measured on the small suite: 1.8 s, 1.3 of them generating MNIST-1D."""
    names = resolve_methods(methods, field=fields[1])
    check_workloads(workloads, field=fields[0])
    for workload in workloads:
        spec = StudySpec.for_workload(
            workload.name, _on_device(workload, device), methods_from("optimizer.name", names)
        )
        users = [m for m in spec.methods[1:] if is_import_path(m.name)]
        for method in (spec.methods[0], *users):  # check_trains steps the first method of a spec
            check_trains(dataclasses.replace(spec, methods=(method,)))
    return names


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
    on_storing: Callable[[str, int, int], None] | None = None,
    checked: bool = False,
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
        on_storing: called with the workload's name, its plan's trials stored so far and their number, as
            they are stored before its first trial.
        checked: the caller ran :func:`check_bench` on these workloads and methods (the CLI does, before
            it writes its settings), so their first steps are not taken again.
    """
    check_cost(cost)  # read by the scores, after the last study: refused before the first
    # A bench scores each method by its seed runs: with none, every method "never reached the target".
    # A bench stored before STUDY_TRIALS' bound resumes as it ran (StudySpec.stored).
    seeds = whole_number(seeds, "seeds", POSITIVE_INT if resume else STUDY_TRIALS)
    if resume or checked:
        names = resolve_methods(methods)
        check_workloads(workloads)
    else:  # the user's code fails here, in one line, before anything is written
        names = check_bench(workloads, methods, device=device)
    started = time.perf_counter()
    specs = [
        StudySpec.for_workload(
            workload.name,
            _on_device(workload, device),
            methods_from("optimizer.name", names),
            protocol=protocol,
            budget=budget,
            seeds=seeds,
            stored=stored_settings(location) if resume else (),
        )
        for workload in workloads
    ]
    check_planned_together(specs)  # one journal holds them all
    for spec in specs:  # before the storage is opened (run_study checks it only there)
        check_backend(spec, backend)
    storage = open_storage(location)
    stored = {spec.name: resume and bool(optimlab_studies(storage, spec.name)) for spec in specs}
    results = []
    for spec in specs:
        progress = (
            None if on_progress is None else (lambda records, name=spec.name: on_progress(name, records))
        )
        storing = (
            None
            if on_storing is None
            else (lambda done, total, name=spec.name: on_storing(name, done, total))
        )
        results.append(
            run_study(
                spec,
                location,
                backend=backend,
                resume=stored[spec.name],
                options=options,
                on_progress=progress,
                on_storing=storing,
            )
        )
    settings = {
        "methods": names,
        "workloads": [w.name for w in workloads],
        "protocol": protocol,
        "budget": specs[0].budget,  # the int StudySpec read (np.int64 as given is no JSON)
        "seeds": seeds,
        "backend": backend,
        "cost": cost,
        "location": str(location),
    }
    return BenchResult(
        results=results, scores=score(results, cost), seconds=time.perf_counter() - started, settings=settings
    )
