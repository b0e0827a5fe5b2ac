"""The batched backend: trials of one architecture that differ only in numbers train as one model.

The waiting trials taken together are grouped by :func:`batch_key` (everything but the optimizer's
numbers and the seed); a group trains at once with :func:`optimlab.train.members.train_members`, whose
curves equal the one-at-a-time ones within float rounding (1e-5, tested), and its trials' curves and
outcomes are written to the storage in one append. Recipes that cannot be batched run one at a time,
as the ``local`` backend runs them, and a warning (:class:`~optimlab.errors.OptimlabWarning`) says why,
once a study and reason: what the recipe asks (:func:`not_batchable`: an optimizer whose math is not
elementwise, bf16, sequential batches, early stopping, a metric-driven schedule), or what the built
model is (:class:`~optimlab.train.members.Unstackable`: dropout, an operation ``vmap`` cannot run, ...;
any model, the user's own by import path among them, is judged). A group that raises while training
fails its trials with the reason; the study goes on.
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import optuna
from optuna.storages import BaseStorage

from optimlab.errors import OptimlabWarning
from optimlab.optim.shells.batched import BATCHABLE
from optimlab.recipe import Recipe
from optimlab.registry import Capability, get_registry
from optimlab.study.backends import BackendOptions, Targets
from optimlab.study.protocols import Method, StudySpec
from optimlab.study.storage import deferred_writes, heartbeat, pop_waiting
from optimlab.study.trial import CurveRecorder, load_method_study, record_outcome, run_trial, trial_recipe
from optimlab.train.members import Unstackable, train_members
from optimlab.train.run import TrainResult

__all__ = ["batch_key", "execute", "not_batchable"]


def _is_number(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_number(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def batch_key(recipe: Recipe) -> str:
    """What K recipes must share to train together: everything but the optimizer's numbers and the seed."""
    data = recipe.to_dict()
    optimizer = data["optimizer"]
    optimizer["lr"] = optimizer["weight_decay"] = None
    optimizer["options"] = {k: v for k, v in optimizer["options"].items() if not _is_number(v)}
    data["training"]["seed"] = None
    return json.dumps(data, sort_keys=True)


def not_batchable(recipe: Recipe) -> str | None:
    """Why ``recipe`` must train alone, or None if it can train in a batch, from the recipe alone (the
    built model is judged when its group trains: :func:`optimlab.train.members.train_members`)."""
    entry = get_registry("optimizer").get(recipe.optimizer.name)
    schedule = get_registry("schedule").get(recipe.schedule.name)
    reasons = {
        f"optimizer {entry.name!r} is not elementwise": BATCHABLE not in entry.capabilities,
        "bf16 autocast": recipe.training.precision != "fp32",
        "early stopping stops members at different steps": recipe.training.early_stopping_patience
        is not None,
        f"schedule {schedule.name!r} is driven by a metric": Capability.METRIC_DRIVEN
        in schedule.capabilities,
        "the user's metrics": bool(recipe.training.metrics),
    }
    return next((reason for reason, applies in reasons.items() if applies), None)


def execute(
    storage: BaseStorage,
    location: str | None,
    targets: Targets,
    options: BackendOptions,
    poll: Callable[[], None],
) -> bool:
    """Run the waiting trials of each study ``options.members`` at a time, here.

    The trials taken together are grouped by :func:`batch_key`; a group of one, of recipes that
    :func:`not_batchable` refuses, or of a model that cannot stack runs one trial at a time (the reason
    said once, module docstring). Pruning does not apply to batched trials.
    """
    for spec, method in targets:
        while True:
            study = load_method_study(storage, spec, method)
            # up to the first None: --members 1000000 asked the storage a million times for one trial
            taking = (pop_waiting(study, storage) for _ in range(options.members))
            popped = list(itertools.takewhile(lambda p: p is not None, taking))
            if not popped:
                break
            _run_popped(storage, location, study, spec, method, popped, poll)
            poll()
    return False


# What this process has said (:func:`_say_once`): each storage's (study name, reason). By the storage, not
# its location: two studies in memory share none, and the second's warning was swallowed.
_SAID: weakref.WeakKeyDictionary[BaseStorage, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def _say_once(storage: BaseStorage, spec: StudySpec, reason: str) -> None:
    """Warn that trials of study ``spec`` run one at a time and why: once a study and reason, not once
    a trial or a group (a study of 50 trials would repeat the same line 50 times)."""
    said = _SAID.setdefault(storage, set())
    if (spec.name, reason) in said:
        return
    said.add((spec.name, reason))
    warnings.warn(
        f"study {spec.name!r}: trials run one at a time, not batched: {reason}", OptimlabWarning, stacklevel=2
    )


def _run_popped(
    storage: BaseStorage,
    location: str,
    study: optuna.Study,
    spec: StudySpec,
    method: Method,
    popped: list[tuple[optuna.Trial, int]],
    poll: Callable[[], None],
) -> None:
    groups: dict[str, list[tuple[optuna.Trial, int, Recipe]]] = {}
    with heartbeat(storage, [trial_id for _, trial_id in popped]):
        for trial, trial_id in popped:
            try:
                recipe = trial_recipe(trial, spec, method)
            except Exception:
                run_trial(study, trial, spec, method)
                continue
            reason = not_batchable(recipe)
            if reason is not None:
                _say_once(storage, spec, reason)
            key = batch_key(recipe) if reason is None else f"alone/{trial_id}"
            groups.setdefault(key, []).append((trial, trial_id, recipe))
        for group in groups.values():
            if len(group) == 1:
                run_trial(study, group[0][0], spec, method)
                continue
            # Curves are kept during training and written after it, all at once: a trial's
            # intermediate values and outcome in one append to the journal.
            recorders = [CurveRecorder(None, spec.metric) for _ in group]
            started = time.perf_counter()
            try:
                results = train_members([recipe for _, _, recipe in group], recorders)
            except Unstackable as refused:  # raised before any training: the trials run as local runs them
                _say_once(storage, spec, refused.reason)
                for trial, _, _ in group:
                    run_trial(study, trial, spec, method)
                    poll()  # progress after each trial, as the local backend reports it
                continue
            except Exception as error:
                message = f"{type(error).__name__} in a batch of {len(group)} trials: {error}"
                results = [
                    TrainResult(recipe.id, "error", message, 0, time.perf_counter() - started, {}, None)
                    for _, _, recipe in group
                ]
            seconds = time.perf_counter() - started
            with deferred_writes(storage):
                for (trial, _, recipe), result, recorder in zip(group, results, recorders):
                    trial.set_user_attr("batched_with", len(group))
                    recorder.report_to(trial)
                    record_outcome(
                        study,
                        trial,
                        spec,
                        recipe=recipe,
                        status=result.status,
                        message=result.message,
                        metrics=result.metrics,
                        steps=result.steps,
                        seconds=seconds,
                        curve=recorder.compact(),
                        model=result.model,
                    )
