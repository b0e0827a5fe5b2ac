"""In-process execution: take waiting trials one at a time and train them here.

This loop is also what every worker process runs (``optimlab worker``, the ``workers`` and ``ray``
backends): execution differs only in how many processes run it, and where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from optuna.storages import BaseStorage

from optimlab.study.backends import BackendOptions, Targets
from optimlab.study.protocols import Method, StudySpec
from optimlab.study.storage import heartbeat, pop_waiting
from optimlab.study.trial import counted_trials, load_method_study, run_trial

__all__ = ["execute", "run_waiting"]


def run_waiting(
    storage: BaseStorage,
    targets: Sequence[tuple[StudySpec, Method]],
    *,
    after_each: Callable[[], None] | None = None,
) -> int:
    """Run waiting trials of the ``targets`` studies, one from each in turn, until none waits.

    Returns how many trials this process ran; ``after_each`` is called after each (progress, reclaim).
    """
    ran, active = 0, list(targets)
    while active:
        still_waiting = []
        for spec, method in active:
            study_id = storage.get_study_id_from_name(spec.study_name(method))
            study = load_method_study(storage, spec, method, finished=counted_trials(storage, study_id))
            popped = pop_waiting(study, storage)
            if popped is None:
                continue
            trial, trial_id = popped
            with heartbeat(storage, [trial_id]):
                run_trial(study, trial, spec, method)
            ran += 1
            still_waiting.append((spec, method))
            if after_each is not None:
                after_each()
        active = still_waiting
    return ran


def execute(
    storage: BaseStorage,
    location: str | None,
    targets: Targets,
    options: BackendOptions,
    poll: Callable[[], None],
) -> bool:
    """The ``local`` backend: every waiting trial, here (see :func:`optimlab.study.backends.execute`)."""
    run_waiting(storage, targets, after_each=poll)
    return False
