"""K members of one architecture trained at once, as one stacked model: :func:`fit` for K recipes.

K recipes that differ only in the optimizer's numbers (lr, weight decay, betas, momentum, eps) and the
seed train together: their models are stacked (``torch.func.stack_module_state``); each step is one
forward of the K members (:func:`~optimlab.models.stacked.stacked_forward`: batched matrix products, or
``vmap`` of ``functional_call``), the gradient of the summed member losses, and one step of the batched
optimizer shell (per-member hyperparameters as ``(K,)`` tensors; torch's fused kernel where it applies).
Member k sees its own split, initial weights and batch order (all from its seed, as in a one-at-a-time
run) and is evaluated as :func:`~optimlab.train.run.evaluate` evaluates one model, so its curve equals
recipe k's one-at-a-time curve within float rounding (1e-5, tested). Not so for a parameter whose true
gradient is 0, as a bias right before a norm: its computed one is rounding noise (about 1e-8) that
differs with the stacked forward's order of sums, and Adam's first step, lr * g / (|g| + eps), turns
that noise into moves of up to lr (0.055 at lr 0.1, a Conv1d's bias before a BatchNorm1d), which
the eval-mode running mean does not cancel: curves then differ by about 1e-3 (bias=False matches).
A step means what it means in :func:`~optimlab.train.loop.fit`: the same order of loss, clipping, step
and schedule, and the same clipping, divergence check and evaluation cadence (the loop's own
functions). A member that diverges stops at the step it did; the others go on.

The model may be anyone's, the user's own by import path among them: its buffers are stacked like its
parameters, so batch norm keeps each member's running statistics, updated at each of its training
steps and read when it is evaluated (the stacked template switches between ``train()`` and ``eval()``
where :func:`~optimlab.train.loop.fit` switches the model). Before anything trains, the built model is
judged (:func:`~optimlab.models.stacked.unstackable`: dropout, an operation ``vmap`` cannot run...);
a model that cannot stack raises :class:`Unstackable` with the reason, for the caller to train the
recipes one at a time.

Why: K small models are K times the Python and kernel-launch overhead that dominates small-model
training on a CPU or a GPU; one vectorized model pays it once, and its larger operations use every core
(``docs/benchmarks.md``: 64 lr trials of an MLP on digits). Which recipes may train together is the
caller's choice (``optimlab.study.backends.batched``: ``batch_key``, ``not_batchable``).
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import stack_module_state

from optimlab.build import (
    build_data,
    build_loss,
    build_model,
    build_momentum,
    build_schedule,
    optimizer_keywords,
    resolve_device,
    total_steps,
)
from optimlab.data.batches import RECIPE_BATCHING, epoch_order, steps_per_epoch
from optimlab.data.global_rng import global_generators_given_back
from optimlab.data.splits import Splits
from optimlab.data.user_factory import BatchSplits
from optimlab.errors import OptimlabError
from optimlab.models.stacked import PROBE_ROWS, stacked_forward, stacked_loss, unstackable
from optimlab.models.structure import structure
from optimlab.optim.shells.batched import BATCHABLE, BatchedOptimizer
from optimlab.recipe import Recipe
from optimlab.registry import get_registry
from optimlab.techniques.losses import leaves_out_some
from optimlab.train.heap import retained_heap
from optimlab.train.loop import Callback, TrainState, clip_grad_norm_, evaluates_after
from optimlab.train.run import TrainResult, evaluate_members

__all__ = ["MIN_STACK", "Unstackable", "train_members"]

MIN_STACK = 8  # members: below, a stack of its own is not worth a thread


class Unstackable(OptimlabError):
    """The recipes' model cannot train as one stacked model; ``reason`` says why (nothing was trained)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"these trials cannot train as one stacked model: {reason}")
        self.reason = reason


@global_generators_given_back()  # building a seed's model seeds them; the caller's draws go on after
def train_members(
    recipes: Sequence[Recipe], callbacks: Sequence[Callback], *, stacks: int | None = None
) -> list[TrainResult]:
    """Train K recipes that differ only in optimizer numbers and seed at once; one result each.

    ``callbacks[k]`` follows member k (``on_train_start`` and ``on_evaluate``). The members train as
    ``stacks`` stacks, each in its own Python thread on one torch thread; by default one stack per
    torch thread of this process, with at least :data:`MIN_STACK` members a stack. A stack's Python and
    small operations then overlap another's arithmetic, where one stack on T threads leaves cores idle
    between its large operations (64 MLPs 64-128-128-10, 300 steps on 2 cores: 1.08 s as 2 stacks on a
    thread each, 1.5 s as one on 2 threads). Members are independent, so how they are stacked changes
    no result beyond float rounding (tested).

    Raises :class:`Unstackable`, before any training, if the optimizer's step is not elementwise (a
    wrapper: lookahead's slow weights, SAM's second gradient) or the built model cannot stack.
    """
    entry = get_registry("optimizer").get(recipes[0].optimizer.name)
    if BATCHABLE not in entry.capabilities:  # a wrapper (lookahead, sam): its step is not per element
        raise Unstackable(f"optimizer {entry.name!r} is not elementwise")  # as not_batchable says it
    threads = torch.get_num_threads()
    count = stacks or max(1, min(threads, len(recipes) // MIN_STACK))
    # Initial models and batch orders are functions of the training seed, splits of the split seed
    # (build.split_seed: data.split_seed, else the training seed); batched recipes share everything else.
    # One split and model per training seed, built here, before any thread, since a model's init draws
    # from torch's global generator; seeds of one split seed hold equal splits.
    first_of: dict[int, Recipe] = {}  # the first recipe of each training seed
    for recipe in recipes:
        first_of.setdefault(recipe.training.seed, recipe)
    device = resolve_device(recipes[0].training.device)
    if (accumulate := recipes[0].training.accumulate_grad_batches) != 1:
        raise Unstackable(f"a step accumulates {accumulate} batches (training.accumulate_grad_batches)")
    splits = {seed: build_data(recipe) for seed, recipe in first_of.items()}
    if any(isinstance(split, BatchSplits) for split in splits.values()):
        raise Unstackable("the data are the user's dict batches, not (input, target) tensors")
    (a, first), *others = ((seed, _split_shapes(split)) for seed, split in splits.items())
    b, other = next(((seed, shapes) for seed, shapes in others if shapes != first), (None, None))
    if other is not None:  # the user's data drawn from the seed: one stack holds tensors of one shape
        part = next(name for name in first if first[name] != other[name])
        raise Unstackable(
            f"the seeds' splits differ in shape ({part} of seed {a}: {first[part]}, of seed {b}: {other[part]})"
        )
    models = {seed: build_model(recipe, splits[seed]).to(device) for seed, recipe in first_of.items()}
    seed, split = next(iter(splits.items()))
    loss_fn = build_loss(recipes[0], split).to(device)
    if any(leaves_out_some(loss_fn, s.train.y) for s in splits.values()):
        raise Unstackable(
            "targets the loss leaves out (its ignore_index): a batch of them only has no loss, a step one "
            "run skips and the stacked members cannot"
        )
    reason = unstackable(
        models[seed], loss_fn,
        split.train.x[:PROBE_ROWS].to(device), split.train.y[:PROBE_ROWS].to(device),
        shared_input=len(splits) == 1,
    )  # fmt: skip
    if reason is not None:
        raise Unstackable(reason)
    bounds = [round(i * len(recipes) / count) for i in range(count + 1)]
    parts = [slice(a, b) for a, b in itertools.pairwise(bounds)]
    results: list[list[TrainResult] | BaseException | None] = [None] * count

    def train_part(i: int) -> None:
        try:
            results[i] = _train_stack(recipes[parts[i]], callbacks[parts[i]], splits, models)
        except BaseException as error:
            results[i] = error

    with retained_heap():
        if count == 1:
            return _train_stack(recipes, callbacks, splits, models)
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


def _member_values(recipes: Sequence[Recipe], steps: int) -> dict[str, list[Any]]:
    """Each optimizer keyword set by any member (and lr) as K values; unset ones get the default. A
    cycled momentum is one schedule for all (the schedule is shared), so it stays one hyperparameter."""
    entry = get_registry("optimizer").get(recipes[0].optimizer.name)
    defaults = {**{h.name: h.default for h in entry.hyperparameters}, **entry.defaults}
    momentum = build_momentum(recipes[0], steps)
    keywords = [optimizer_keywords(r, momentum) for r in recipes]
    names = sorted({"lr", *(k for kw in keywords for k in kw)})
    return {
        n: [list(v) if isinstance(v, tuple) else v for v in (kw.get(n, defaults[n]) for kw in keywords)]
        for n in names
    }


def _train_stack(
    recipes: Sequence[Recipe],
    callbacks: Sequence[Callback],
    all_splits: Mapping[int, Any],
    initial_models: Mapping[int, nn.Module],
) -> list[TrainResult]:
    """Train K members as one stack in this thread (:func:`train_members`); splits and models by seed."""
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
    template = copy.deepcopy(models[0]).train()
    forward = stacked_forward(template, members, shared_input=shared)
    member_losses = stacked_loss(loss_fn, shared_targets=shared)

    def split_of(name: str) -> tuple[Tensor, Tensor]:
        pairs = [getattr(splits[s], name) for s in (seeds[:1] if shared else seeds)]
        if shared:
            return pairs[0].x.to(device), pairs[0].y.to(device)
        return torch.stack([p.x for p in pairs]).to(device), torch.stack([p.y for p in pairs]).to(device)

    held_out = {name: split_of(name) for name in ("val", "test")}  # stacked once, not every evaluation

    def evaluate_all(name: str) -> list[dict[str, float]]:
        x_split, y_split = held_out[name]
        template.eval()  # as evaluate() and fit() switch one model: batch norm's running statistics
        metrics = evaluate_members(
            lambda xb: forward(params, buffers, xb), member_losses, x_split, y_split,
            members=members, task=task, prefix=name, shared=shared, loss_fn=loss_fn,
        )  # fmt: skip
        template.train()
        return metrics

    x, y = split_of("train")
    n, spec = x.shape[1 - shared], first.training
    # the batches fit draws: rows shuffled or in order, an epoch's short last batch kept or dropped
    batch_size = spec.batch_size
    epoch_steps = steps_per_epoch(n, spec.batch_size, spec.drop_last, names=RECIPE_BATCHING)
    steps = total_steps(first, n)
    optimizer = BatchedOptimizer(
        [params[n] for n in names],
        first.optimizer.name,
        members=members,
        schedule=build_schedule(first, steps),
        **_member_values(recipes, steps),
    )
    member_index = torch.arange(members, device=device)[:, None]

    states = [
        TrainState(
            steps_per_epoch=epoch_steps, total_steps=steps, grad_clip_norm=first.training.grad_clip_norm
        )
        for _ in recipes
    ]
    for state, callback in zip(states, callbacks):
        callback.on_train_start(state)
    started = time.perf_counter()
    optimizer.train()
    orders: dict[int, Tensor] = {}
    # Each step's losses, read by the states (a sync) only every few steps and at evaluations.
    history, seen = torch.empty(steps, members, device=device), 0
    last_val: list[dict[str, float]] = [{} for _ in recipes]
    for step in range(steps):
        epoch, offset = divmod(step, epoch_steps)
        if offset == 0 or not orders:
            orders = {s: epoch_order(s, epoch, n, device, shuffle=spec.shuffle) for s in dict.fromkeys(seeds)}
        batch = slice(offset * batch_size, (offset + 1) * batch_size)
        if shared:
            rows = orders[seeds[0]][batch]
            xb, yb = x[rows], y[rows]
        else:
            rows = torch.stack([orders[s][batch] for s in seeds])  # (K, B)
            xb, yb = x[member_index, rows], y[member_index, rows]
        losses = member_losses(forward(params, buffers, xb), yb)  # (K,)
        # Dense gradients: under vmap a Linear's weight gradient comes out strided, and the optimizer's
        # fused kernel, which takes dense ones only, would give way to the chain of foreach ops.
        grads = [g.contiguous() for g in torch.autograd.grad(losses.sum(), [params[n] for n in names])]
        if first.training.grad_clip_norm is not None:
            clip_grad_norm_(grads, first.training.grad_clip_norm, stacked=True)
        optimizer.step(grads)
        history[step] = losses.detach()
        evaluating = evaluates_after(
            step + 1, eval_every=spec.eval_every, epoch_ended=(step + 1) % epoch_steps == 0, total_steps=steps
        )
        if not (evaluating or (step + 1) % _CHECK_EVERY == 0):
            continue
        _advance(states, history[seen : step + 1], seen, optimizer)
        seen = step + 1
        if seen == steps:  # no next loss tells whether the last update left every weight finite (fit's check)
            _stop_if_weights_diverged(states, list(params.values()))
        if evaluating:
            optimizer.eval()
            last_val = evaluate_all("val")
            for state, callback, metrics in zip(states, callbacks, last_val):
                if not state.diverged:
                    state.last_metrics = metrics
                    callback.on_evaluate(state, metrics)
            optimizer.train()
        if all(state.diverged for state in states):
            break
    seconds = time.perf_counter() - started
    optimizer.eval()
    final = [{**val, **test} for val, test in zip(last_val, evaluate_all("test"))]  # val: the last step's
    trained = structure(template)  # every member's: the stack is one architecture
    return [
        TrainResult(
            recipe_id=recipe.id,
            status="diverged" if state.diverged else "completed",
            message=state.stop_reason,
            steps=state.step,
            seconds=seconds,
            metrics={} if state.diverged else metrics,
            out_dir=None,
            model=trained,
        )
        for recipe, state, metrics in zip(recipes, states, final)
    ]


_CHECK_EVERY = 32  # steps between reads of the losses when no evaluation comes sooner


def _advance(
    states: Sequence[TrainState], losses: Tensor, first_step: int, optimizer: BatchedOptimizer
) -> None:
    """Bring the live members' states through steps ``first_step + i`` whose losses are ``losses[i]``,
    ``(steps, K)``: to the last one, or to the first whose loss was not finite (the member diverged)."""
    finite = torch.isfinite(losses)
    first_bad = torch.where(finite.all(0), len(losses), (~finite).int().argmax(0))  # (K,)
    lrs: dict[int, list[float]] = {}  # by step: every member's lr there, read once
    for k, (state, bad, column) in enumerate(zip(states, first_bad.tolist(), losses.T.tolist())):
        if state.diverged:
            continue
        at = min(bad, len(column) - 1)
        step = first_step + at
        state.step, state.epoch, state.train_loss = step + 1, step // state.steps_per_epoch, column[at]
        if step not in lrs:
            lrs[step] = optimizer.lrs(step)
        state.lr = lrs[step][k]
        state.stop_if_diverged()


def _stop_if_weights_diverged(states: Sequence[TrainState], params: Sequence[Tensor]) -> None:
    """Stop as diverged each live member whose weights in the stacked ``params`` are not all finite."""
    rows = [p.detach().reshape(p.shape[0], -1).isfinite().all(1) for p in params]  # (K,) each
    finite = torch.stack(rows).all(0)  # (K,), one read
    for state, ok in zip(states, finite.tolist()):
        if not (ok or state.diverged):
            state.stop_as_weights_diverged()


def _split_shapes(split: Splits) -> dict[str, tuple[int, ...]]:
    """The shapes of ``split``'s inputs and targets, by name: ``train x``, ``train y``, ..."""
    return {
        f"{name} {axis}": tuple(getattr(getattr(split, name), axis).shape)
        for name in ("train", "val", "test")
        for axis in ("x", "y")
    }
