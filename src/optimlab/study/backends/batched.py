"""Batched execution: trials of one architecture that differ only in numbers train as one model.

K recipes that differ only in the optimizer's numbers (lr, weight decay, betas, momentum, eps) and the
seed train together: their models are stacked (``torch.func.stack_module_state``); each step is one
forward of the K members (:func:`~optimlab.models.stacked.stacked_forward`: batched matrix products, or
``vmap`` of ``functional_call``), the gradient of the summed member losses, and one step of the batched
optimizer shell (per-member hyperparameters as ``(K,)`` tensors; torch's fused kernel where it applies).
Member k sees its own split, initial weights and batch order (all from its seed, as in a one-at-a-time
run) and is evaluated as :func:`~optimlab.train.run.evaluate` evaluates one model, so its curve equals
recipe k's one-at-a-time curve within float rounding (1e-5, tested). The loop mirrors
:func:`optimlab.train.loop.fit`: the same order of loss, clipping, step, schedule, divergence check and
evaluation. A member that diverges is recorded as such at the step it did; the others go on. A group
that raises fails its trials with the reason; the study goes on.

Why: K small models are K times the Python and kernel-launch overhead that dominates small-model
training on a CPU or a GPU; one vectorized model pays it once, and its larger operations use every core
(``docs/benchmarks.md``: 64 lr trials of an MLP on digits). Recipes that cannot be batched (an optimizer
whose math is not elementwise, bf16, dropout, batch norm's running statistics, early stopping, a
metric-driven schedule) run one at a time.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
import torch
from optuna.storages import BaseStorage
from torch import Tensor, nn
from torch.func import stack_module_state

from optimlab.build import build_data, build_loss, build_model, resolve_device, total_steps
from optimlab.models.stacked import stacked_forward, stacked_loss
from optimlab.optim.shells.batched import BATCHABLE, BatchedOptimizer
from optimlab.recipe import Recipe
from optimlab.registry import Capability, get_registry
from optimlab.study.protocols import Method, StudySpec
from optimlab.study.storage import deferred_writes, heartbeat, pop_waiting
from optimlab.study.trial import CurveRecorder, load_method_study, record_outcome, run_trial, trial_recipe
from optimlab.techniques.choice import name_of
from optimlab.train.heap import retained_heap
from optimlab.train.loop import TrainState, epoch_permutation
from optimlab.train.run import TrainResult, evaluate_members

__all__ = ["batch_key", "not_batchable", "run_waiting_batched", "train_members"]


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
    """Why ``recipe`` must train alone, or None if it can train in a batch."""
    entry = get_registry("optimizer").get(recipe.optimizer.name)
    schedule = get_registry("schedule").get(recipe.schedule.name)
    reasons = {
        f"optimizer {entry.name!r} is not elementwise": BATCHABLE not in entry.capabilities,
        "bf16 autocast": recipe.training.precision != "fp32",
        "sequential batches or drop_last": not recipe.training.shuffle or recipe.training.drop_last,
        "dropout draws differ from a one-at-a-time run": recipe.model.dropout > 0,
        "batch norm's running statistics": name_of(recipe.model.norm) == "batch",
        "early stopping stops members at different steps": recipe.training.early_stopping_patience
        is not None,
        f"schedule {schedule.name!r} is driven by a metric": Capability.METRIC_DRIVEN
        in schedule.capabilities,
    }
    return next((reason for reason, applies in reasons.items() if applies), None)


def _member_values(recipes: Sequence[Recipe]) -> dict[str, list[Any]]:
    """Each optimizer keyword set by any member (and lr) as K values; unset ones get the default."""
    entry = get_registry("optimizer").get(recipes[0].optimizer.name)
    defaults = {**{h.name: h.default for h in entry.hyperparameters}, **entry.defaults}
    keywords = [r.optimizer.keywords() for r in recipes]
    names = sorted({"lr", *(k for kw in keywords for k in kw)})
    return {
        n: [list(v) if isinstance(v, tuple) else v for v in (kw.get(n, defaults[n]) for kw in keywords)]
        for n in names
    }


def _clip_per_member(grads: list[Tensor], max_norm: float) -> None:
    """``clip_grad_norm_`` of each member over its own gradients: ``g * min(1, max / (norm + 1e-6))``."""
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)  # (K,)
    coefficient = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    torch._foreach_mul_(grads, [coefficient.view(-1, *(1,) * (g.ndim - 1)) for g in grads])


MIN_STACK = 8  # members: below, a stack of its own is not worth a thread


def train_members(
    recipes: Sequence[Recipe], recorders: Sequence[CurveRecorder], *, stacks: int | None = None
) -> list[TrainResult]:
    """Train K batchable recipes (one :func:`batch_key`) at once; one result and curve per recipe.

    The members train as ``stacks`` stacks, each in its own Python thread on one torch thread; by
    default one stack per torch thread of this process, with at least :data:`MIN_STACK` members a
    stack. A stack's Python and small operations then overlap another's arithmetic, where one stack on
    T threads leaves cores idle between its large operations (64 MLPs 64-128-128-10, 300 steps on 2
    cores: 1.08 s as 2 stacks on a thread each, 1.5 s as one on 2 threads). Members are independent,
    so how they are stacked changes no result beyond float rounding (tested).
    """
    threads = torch.get_num_threads()
    count = stacks or max(1, min(threads, len(recipes) // MIN_STACK))
    # Splits and initial models are functions of the seed (batched recipes share everything else):
    # one each, built here, before any thread, since a model's init draws from torch's global generator.
    first_of: dict[int, Recipe] = {}  # the first recipe of each seed
    for recipe in recipes:
        first_of.setdefault(recipe.training.seed, recipe)
    device = resolve_device(recipes[0].training.device)
    splits = {seed: build_data(recipe) for seed, recipe in first_of.items()}
    models = {seed: build_model(recipe, splits[seed]).to(device) for seed, recipe in first_of.items()}
    bounds = [round(i * len(recipes) / count) for i in range(count + 1)]
    parts = [slice(a, b) for a, b in itertools.pairwise(bounds)]
    results: list[list[TrainResult] | BaseException | None] = [None] * count

    def train_part(i: int) -> None:
        try:
            results[i] = _train_stack(recipes[parts[i]], recorders[parts[i]], splits, models)
        except BaseException as error:
            results[i] = error

    with retained_heap():
        if count == 1:
            return _train_stack(recipes, recorders, splits, models)
        torch.set_num_threads(1)
        try:
            workers = [threading.Thread(target=train_part, args=(i,)) for i in range(count)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        finally:
            torch.set_num_threads(threads)
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if failed is not None:
        raise failed
    return [result for part in results for result in part]  # type: ignore[union-attr]


def _train_stack(
    recipes: Sequence[Recipe],
    recorders: Sequence[CurveRecorder],
    all_splits: Mapping[int, Any],
    initial_models: Mapping[int, nn.Module],
) -> list[TrainResult]:
    """Train K members as one stack in this thread (:func:`train_members`); splits and models by seed."""
    from optimlab.schedules import create as create_schedule

    first, members = recipes[0], len(recipes)
    device = resolve_device(first.training.device)
    seeds = [r.training.seed for r in recipes]
    splits = {s: all_splits[s] for s in dict.fromkeys(seeds)}
    # One model per seed, stacked as many times as members use it (stacking copies its tensors).
    models = [initial_models[s] for s in seeds]
    task, loss_fn = splits[seeds[0]].task, build_loss(first, splits[seeds[0]])
    stacked_params, stacked_buffers = stack_module_state(models)  # name -> (K, *shape)
    # Leaves that autograd differentiates and the optimizer updates in place.
    params = {n: p.detach().requires_grad_() for n, p in stacked_params.items()}
    buffers = {n: b.detach() for n, b in stacked_buffers.items()}
    names = list(params)

    # One seed: one split and one batch order, so every member takes the same batch (not copied K
    # times). Several seeds: each member its own split and batches.
    shared = len(splits) == 1
    # A template of the stack's own: vmap's functional_call swaps a module's tensors while it runs.
    forward = stacked_forward(copy.deepcopy(models[0]), members, shared_input=shared)
    member_losses = stacked_loss(loss_fn, shared_targets=shared)

    def split_of(name: str) -> tuple[Tensor, Tensor]:
        pairs = [getattr(splits[s], name) for s in (seeds[:1] if shared else seeds)]
        if shared:
            return pairs[0].x.to(device), pairs[0].y.to(device)
        return torch.stack([p.x for p in pairs]).to(device), torch.stack([p.y for p in pairs]).to(device)

    held_out = {name: split_of(name) for name in ("val", "test")}  # stacked once, not every evaluation

    def evaluate_all(name: str) -> list[dict[str, float]]:
        x_split, y_split = held_out[name]
        return evaluate_members(
            lambda xb: forward(params, buffers, xb), member_losses, x_split, y_split,
            members=members, task=task, prefix=name, shared=shared,
        )  # fmt: skip

    x, y = split_of("train")
    n, batch_size = x.shape[1 - shared], first.training.batch_size
    steps_per_epoch, steps = math.ceil(n / batch_size), total_steps(first, n)
    eval_every = first.training.eval_every or steps_per_epoch
    spec = first.schedule
    schedule = create_schedule(spec.name, total_steps=steps, warmup_steps=spec.warmup_steps, **spec.options)
    values = _member_values(recipes)
    optimizer = BatchedOptimizer(
        [params[n] for n in names], first.optimizer.name, members=members, schedule=schedule, **values
    )
    lrs = values["lr"]
    member_index = torch.arange(members, device=device)[:, None]

    states = [TrainState(steps_per_epoch=steps_per_epoch, total_steps=steps) for _ in recipes]
    for state, recorder in zip(states, recorders):
        recorder.on_train_start(state)
    started = time.perf_counter()
    optimizer.train()
    orders: dict[int, Tensor] = {}
    # Each step's losses, read by the states (a sync) only every few steps and at evaluations.
    history, seen = torch.empty(steps, members, device=device), 0
    last_val: list[dict[str, float]] = [{} for _ in recipes]
    for step in range(steps):
        epoch, offset = divmod(step, steps_per_epoch)
        if offset == 0 or not orders:
            orders = {s: epoch_permutation(s, epoch, n, device) for s in dict.fromkeys(seeds)}
        batch = slice(offset * batch_size, (offset + 1) * batch_size)
        if shared:
            rows = orders[seeds[0]][batch]
            xb, yb = x[rows], y[rows]
        else:
            rows = torch.stack([orders[s][batch] for s in seeds])  # (K, B)
            xb, yb = x[member_index, rows], y[member_index, rows]
        losses = member_losses(forward(params, buffers, xb), yb)  # (K,)
        grads = list(torch.autograd.grad(losses.sum(), [params[n] for n in names]))
        if first.training.grad_clip_norm is not None:
            _clip_per_member(grads, first.training.grad_clip_norm)
        optimizer.step(grads)
        history[step] = losses.detach()
        evaluating = (step + 1) % eval_every == 0 or step + 1 == steps
        if not (evaluating or (step + 1) % _CHECK_EVERY == 0):
            continue
        _advance(states, history[seen : step + 1], seen, lrs, schedule)
        seen = step + 1
        if evaluating:
            optimizer.eval()
            last_val = evaluate_all("val")
            for state, recorder, metrics in zip(states, recorders, last_val):
                if not state.diverged:
                    state.last_metrics = metrics
                    recorder.on_evaluate(state, metrics)
            optimizer.train()
        if all(state.diverged for state in states):
            break
    seconds = time.perf_counter() - started
    optimizer.eval()
    final = [{**val, **test} for val, test in zip(last_val, evaluate_all("test"))]  # val: the last step's
    return [
        TrainResult(
            recipe_id=recipe.id,
            status="diverged" if state.diverged else "completed",
            message=state.stop_reason,
            steps=state.step,
            seconds=seconds,
            metrics={} if state.diverged else metrics,
            out_dir=None,
        )
        for recipe, state, metrics in zip(recipes, states, final)
    ]


_CHECK_EVERY = 32  # steps between reads of the losses when no evaluation comes sooner


def _advance(
    states: Sequence[TrainState],
    losses: Tensor,
    first_step: int,
    lrs: list[float],
    schedule: Callable[[int], float],
) -> None:
    """Bring the live members' states through steps ``first_step + i`` whose losses are ``losses[i]``,
    ``(steps, K)``: to the last one, or to the first whose loss was not finite (the member diverged)."""
    finite = torch.isfinite(losses)
    first_bad = torch.where(finite.all(0), len(losses), (~finite).int().argmax(0))  # (K,)
    for state, lr, bad, column in zip(states, lrs, first_bad.tolist(), losses.T.tolist()):
        if state.diverged:
            continue
        at = min(bad, len(column) - 1)
        step = first_step + at
        state.step, state.epoch, state.train_loss = step + 1, step // state.steps_per_epoch, column[at]
        state.lr = lr * schedule(step)
        if bad < len(column):
            state.diverged = True
            state.stop_reason = (
                f"training diverged: the loss became {state.train_loss} at step {state.step} "
                f"(lr {state.lr:.3g}); lower the learning rate, clip gradients, or check the data scale"
            )


def run_waiting_batched(
    storage: BaseStorage,
    targets: Sequence[tuple[StudySpec, Method]],
    *,
    members: int = 64,
    after_each: Callable[[], None] | None = None,
) -> int:
    """Run the waiting trials of each study ``members`` at a time; returns how many ran.

    The trials taken together are grouped by :func:`batch_key`; a group of one, or of recipes that
    :func:`not_batchable` refuses, runs one trial at a time. Pruning does not apply to batched trials.
    """
    ran = 0
    for spec, method in targets:
        while True:
            study = load_method_study(storage, spec, method)
            popped = [p for p in (pop_waiting(study, storage) for _ in range(members)) if p is not None]
            if not popped:
                break
            ran += _run_popped(storage, study, spec, method, popped)
            if after_each is not None:
                after_each()
    return ran


def _run_popped(
    storage: BaseStorage,
    study: optuna.Study,
    spec: StudySpec,
    method: Method,
    popped: list[tuple[optuna.Trial, int]],
) -> int:
    groups: dict[str, list[tuple[optuna.Trial, int, Recipe]]] = {}
    with heartbeat(storage, [trial_id for _, trial_id in popped]):
        for trial, trial_id in popped:
            try:
                recipe = trial_recipe(trial, spec, method)
            except Exception:
                run_trial(study, trial, spec, method)
                continue
            key = batch_key(recipe) if not_batchable(recipe) is None else f"alone/{trial_id}"
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
                    )
    return len(popped)
