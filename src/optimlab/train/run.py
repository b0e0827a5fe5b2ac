"""Train a recipe end to end: build, fit with logging and checkpoints, evaluate, write results.

An output folder holds ``recipe.yaml``, ``metrics.jsonl`` (a line per step and per evaluation),
``checkpoint.pt`` and ``checkpoint.prev.pt`` (to resume), ``model.pt`` (final weights, scaler
included), ``result.json`` and, once resumed, ``sessions.jsonl`` (the result.json of each earlier session).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optimlab.atomic import NO_ROOM, atomic_path, write_atomically
from optimlab.build import Built, build, build_schedule, training_steps
from optimlab.data.digest import data_digest
from optimlab.data.examples import TASKS
from optimlab.data.global_rng import global_generators_given_back
from optimlab.data.user_batches import UserBatches, prediction
from optimlab.data.user_factory import BatchSplits
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.models.structure import structure
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability, boolean, get_registry
from optimlab.runs_folder import (
    METRICS_NAME,
    MODEL_NAME,
    RECIPE_NAME,
    RESULT_NAME,
    RESUME_WITH,
    SESSIONS_NAME,
    add_json_line,
    hold_folder,
    is_run_folder,
    others_shown,
    resume_command,
)
from optimlab.train.callbacks import Checkpointing, EarlyStopping, MetricsLog, StopOnSignal
from optimlab.train.checkpoint import (
    CHECKPOINT_NAME,
    has_checkpoint,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    torch_save_file,
)
from optimlab.train.evaluation import (
    EVAL_BATCH,
    OWN_METRICS,
    evaluate_batches,
    hits,
    targets_scored,
    user_metric,
    warns_once,
)
from optimlab.train.loop import Callback, TrainState, fit, modes_kept, try_metrics
from optimlab.user_code import import_object

__all__ = [
    "RESUMABLE_FIELDS",
    "TrainResult",
    "evaluate",
    "evaluate_members",
    "fit_built",
    "metric_name",
    "split_evaluator",
    "train",
    "user_metrics",
]


@dataclasses.dataclass
class TrainResult:
    """How a run ended and what it reached."""

    recipe_id: str
    status: str  # "completed", "diverged", "stopped" (early stopping) or "interrupted" (a signal)
    message: str | None
    steps: int
    seconds: float
    metrics: dict[str, float]  # final val_* and test_* metrics
    out_dir: str | None
    recipe_changes: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # made on resume
    # the trained model's modules and tensor shapes (optimlab.models.structure), None if none was built
    model: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loss_fn: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    task: str,
    prefix: str,
    metrics: Mapping[str, Callable[[torch.Tensor, torch.Tensor], Any]] | None = None,
) -> dict[str, float]:
    """Mean loss and accuracy (classification) or RMSE (regression) of ``model`` on ``(x, y)``, and each
    of the user's ``metrics`` (:func:`user_metrics`) of the outputs of every row as ``{prefix}_{name}``.
    The model is evaluated in eval mode, and each module gets its own mode back afterwards."""
    if task not in TASKS:
        raise InvalidValueError("task", task, " or ".join(TASKS))
    with modes_kept(model):
        model.eval()
        [found] = evaluate_members(
            lambda xb: prediction(model(xb)).unsqueeze(0),
            lambda out, yb: loss_fn(out[0], yb).reshape(1),
            x,
            y,
            members=1,
            task=task,
            prefix=prefix,
            loss_fn=loss_fn,
        )
        if metrics and len(x):
            with torch.no_grad():
                outputs = torch.cat(
                    [prediction(model(x[i : i + EVAL_BATCH])) for i in range(0, len(x), EVAL_BATCH)]
                )
            found.update({f"{prefix}_{name}": float(metric(outputs, y)) for name, metric in metrics.items()})
    return found


def user_metrics(recipe: Recipe) -> dict[str, Callable[[torch.Tensor, torch.Tensor], float]]:
    """The recipe's ``training.metrics`` by the name they are reported under: ``mypkg.metrics:f1`` is
    ``f1`` (``val_f1``, ``test_f1``), called as ``f1(outputs, targets)`` on a whole split. A name the
    evaluation reports itself (``loss``) or another metric's is refused: its value would replace
    theirs. An exception in the metric, or a value that is no number, is said in one line."""
    metrics: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {}
    for path in recipe.training.metrics:
        name = metric_name(path)
        if name in OWN_METRICS or name in metrics:
            taken = f"val_{name}, the evaluation's own" if name in OWN_METRICS else f"val_{name}, another's"
            raise InvalidValueError(
                "training.metrics", path, f"a metric under a name of its own (its attribute's, {taken})"
            )
        metrics[name] = functools.partial(user_metric, path, import_object(path, "metric"))
    return metrics


def metric_name(path: str) -> str:
    """The name a metric given by import path is reported under, its attribute's: ``f1`` for
    ``mypkg.metrics:f1``."""
    return path.rpartition(":")[2].rpartition(".")[2]


@torch.inference_mode()
def evaluate_members(
    forward: Callable[[torch.Tensor], torch.Tensor],
    member_losses: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    members: int,
    task: str,
    prefix: str,
    shared: bool = True,
    loss_fn: Any = None,
) -> list[dict[str, float]]:
    """:func:`evaluate` for K members at once, one dict each.

    Args:
        forward: ``x`` rows to the members' outputs, ``(K, B, ...)``.
        member_losses: ``(outputs, targets)`` to each member's mean loss, ``(K,)``.
        x, y: one split for every member, ``(N, ...)``, or one each (``shared=False``), ``(K, N, ...)``.
        loss_fn: the loss ``member_losses`` stacks, which says what each batch's mean divides by
            (:func:`~optimlab.train.evaluation.targets_scored`: a cross-entropy's targets not ignored,
            unequal from batch to batch under -100 padding), so that the split's loss is its mean over
            the whole split; a batch of nothing scored (0/0) weighs nothing. None: each batch's rows.
    """
    n = x.shape[0 if shared else 1]
    if n == 0:
        return [{} for _ in range(members)]
    totals = torch.zeros(4, members, dtype=torch.float64, device=x.device)  # loss, correct, squared, labels
    scored = torch.zeros(members, dtype=torch.float64, device=x.device)  # what the means divide by
    for start in range(0, n, EVAL_BATCH):
        rows = slice(start, start + EVAL_BATCH)
        xb, yb = (x[rows], y[rows]) if shared else (x[:, rows], y[:, rows])
        out = forward(xb)
        targets = yb.shape if shared else yb.shape[1:]  # (B, ...): one label per example or position
        counted = targets_scored(loss_fn, yb, lead=0 if shared else 1)  # (K,), or () shared by all
        weight = scored.new_full((members,), targets[0]) if counted is None else counted.expand(members)
        totals[0] += torch.where(weight > 0, member_losses(out, yb).double() * weight, 0.0)
        scored += weight
        if task == "classification":  # outputs that are no class scores of the targets: no accuracy
            if (found := hits(out, yb, lead=1)) is not None:
                totals[1] += found[0].reshape(members, -1).sum(1)
                totals[3] += found[1].reshape(members, -1).sum(1)
        else:
            errors = out.reshape(members, *targets) - yb
            totals[2] += errors.double().pow(2).reshape(members, -1).sum(1) / max(1, math.prod(targets[1:]))
    results = []
    for loss, correct, squared, labels, count in torch.cat([totals, scored[None]]).T.tolist():  # one read
        metrics = {f"{prefix}_loss": loss / count if count else math.nan}
        if task == "classification":
            if labels:
                metrics[f"{prefix}_accuracy"] = correct / labels
        else:
            metrics[f"{prefix}_rmse"] = math.sqrt(squared / n)
        results.append(metrics)
    return results


def train(
    recipe: Recipe,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
) -> TrainResult:
    """Train ``recipe``; with ``out_dir``, log metrics and checkpoint there (``resume`` continues).

    With ``out_dir``, a checkpoint is written once an epoch (or every ``training.checkpoint_every``
    steps) and every :data:`~optimlab.train.callbacks.CHECKPOINT_SECONDS`, and SIGINT/SIGTERM stop
    the run cleanly: the step ends, a checkpoint is saved, and the result has status "interrupted" and
    a message with the command that resumes it. ``resume`` continues from the latest checkpoint (a run
    stopped before its first one starts again); the recipe must be the checkpoint's, except for
    :data:`RESUMABLE_FIELDS`, whose changes are applied and recorded in ``recipe_changes``.
    """
    resume = boolean(resume, "resume")  # "no" was truthy: it resumed
    # The run draws from the recipe's seed (build seeds torch, NumPy and Python: a Dataset's np.random); the
    # caller's own draws after it (a loop of trials drawing lrs) go on from where they were.
    with global_generators_given_back():
        if out_dir is None:
            return _train(recipe, None, None, None, [], callbacks)
        out = Path(out_dir)
        if resume and not out.is_dir():
            raise OptimlabError(f"cannot resume: there is no folder {str(out)!r}")
        with hold_folder(out, "optimlab train"):
            checkpoint, trained, changes = _prepare_out_dir(out, recipe, resume)
            return _train(recipe, out, checkpoint, trained, changes, callbacks)


def _train(
    recipe: Recipe,
    out: Path | None,
    checkpoint: dict[str, Any] | None,
    trained: Recipe | None,
    changes: list[dict[str, Any]],
    callbacks: Sequence[Callback],
) -> TrainResult:
    built = build(recipe)
    splits, device = built.splits, built.device
    metrics = user_metrics(recipe)
    if isinstance(splits, BatchSplits):  # the user's dict batches, trained on as they are
        x, y = built.batches(splits.train, train=True), None
    else:
        x, y = splits.train.x.to(device), splits.train.y.to(device)
    # built once a run: the val data on the device, the user's batches read as the recipe says
    validate = split_evaluator(built, splits.val, prefix="val", metrics=metrics)
    if metrics:  # one that raises is said now, not after the first epoch (as is val data making the loss NaN)
        try_metrics(built.model, validate, most=None)
    if isinstance(splits, BatchSplits):  # rows of tensors hold no NaN or inf: refused as they were read
        # NaN or inf in val data making its loss not finite, met mid-training or at the end: said in one
        # warning a run, as fit says it, where a refusal lost every step since the last checkpoint
        validate = functools.partial(validate, non_finite=warns_once("val"))
    if isinstance(splits, BatchSplits) and splits.test is not None:  # refused now, not after training
        split_evaluator(built, splits.test, prefix="test", metrics=metrics)

    resumable: list[Callback] = []
    if out is not None:
        log = MetricsLog(out / METRICS_NAME)
        resumable.append(log)
    if recipe.training.early_stopping_patience is not None:
        if not isinstance(splits, BatchSplits) and not len(splits.val.x):  # it had no val_loss to watch
            raise InvalidValueError(
                "training.early_stopping_patience",
                recipe.training.early_stopping_patience,
                "None where the validation split holds no rows (data.val_fraction 0, or too few examples): "
                "early stopping watches val_loss",
            )
        resumable.append(EarlyStopping("val_loss", patience=recipe.training.early_stopping_patience))

    state = TrainState()
    stop = StopOnSignal()
    if out is not None:
        data = data_digest(splits)
        if checkpoint is not None:
            _check_same_data(checkpoint, data, recipe)
            state = load_checkpoint(
                checkpoint,
                model=built.model,
                optimizer=built.optimizer,
                scheduler=built.scheduler,
                callbacks=resumable,
            )
            if state.step > built.total_steps:
                raise OptimlabError(
                    f"cannot resume: the run has taken {state.step} steps, more than the "
                    f"{built.total_steps} the recipe now asks for (training.epochs/steps)"
                )
            _respan_schedule(trained, built, state.step, changes)
            changes = [*checkpoint.get("recipe_changes", []), *({**c, "step": state.step} for c in changes)]

        def save(state: TrainState) -> None:  # after Checkpointing's check of the weights
            save_checkpoint(
                out,
                model=built.model,
                optimizer=built.optimizer,
                scheduler=built.scheduler,
                state=state,
                callbacks=resumable,
                recipe=recipe.to_dict(),
                recipe_changes=changes,
                data=data,
            )

        checkpointing = Checkpointing(save, every=recipe.training.checkpoint_every, before_save=[log])
        resumable_and_saving = [*resumable, checkpointing]
    else:
        resumable_and_saving = resumable

    # Signals stop only a run that can resume (one with an output folder); elsewhere Ctrl-C raises.
    callbacks = [
        _ScoredBeforeEnd(c) if callable(getattr(c, "on_final_scores", None)) else c for c in callbacks
    ]
    scored = [c for c in callbacks if isinstance(c, _ScoredBeforeEnd)]
    with (
        _resumable_once_there_is_room(out) if out is not None else contextlib.nullcontext(),
        _removed_unless_trained(out, state) if out is not None else contextlib.nullcontext(),
        stop if out is not None else contextlib.nullcontext(),
    ):
        if out is not None:
            _begin_writing(out, recipe, afresh=not state.step)
        state = fit_built(
            built,
            x,
            y,
            evaluate=validate,
            # The stop last: a signal that arrives during this step's callbacks stops after it.
            callbacks=[*resumable_and_saving, *callbacks, *([stop] if out is not None else [])],
            state=state,
        )
    try:
        with _resumable_once_there_is_room(out) if out is not None else contextlib.nullcontext():
            result = _finish(
                built, state, out, interrupted=state.interrupted, changes=changes, validate=validate
            )
    except BaseException:  # the caller's callbacks end all the same (a tracker's run is closed)
        for callback in scored:
            callback.end(state, {})
        raise
    for callback in scored:
        callback.end(state, result.metrics)
    return result


class _ScoredBeforeEnd:
    """A caller's callback with an ``on_final_scores(state, metrics)`` hook (a tracker), whose
    ``on_train_end`` waits for the run's final scores: those its last evaluation did not hold
    (``test_*``) reach that hook first."""

    def __init__(self, callback: Callback) -> None:
        self.callback = callback

    def __getattr__(self, name: str) -> Any:
        return getattr(self.callback, name)

    def on_train_end(self, state: TrainState) -> None:
        """Held until :meth:`end`."""

    def end(self, state: TrainState, final: dict[str, float]) -> None:
        new = {name: value for name, value in final.items() if name not in state.last_metrics}
        if new:
            self.callback.on_final_scores(state, new)
        self.callback.on_train_end(state)


def split_evaluator(
    built: Built,
    split: Any,
    *,
    prefix: str,
    metrics: Mapping[str, Callable[[torch.Tensor, torch.Tensor], Any]],
    non_finite: Callable[[InvalidValueError], None] | None = None,
) -> Callable[[], dict[str, float]]:
    """A function evaluating ``built``'s model on ``split`` (``{prefix}_loss``...): rows of tensors
    (:func:`evaluate`, moved to the device once, here) or the user's dict batches
    (:func:`~optimlab.train.evaluation.evaluate_batches`, whose batch making the loss not finite by its
    NaN or inf is refused, or handed to ``non_finite``); ``most=N``: its first N batches alone."""
    if isinstance(built.splits, BatchSplits):
        batches = built.batches(split)
        if batches.steps_per_epoch is None:  # an endless stream hung the evaluation, after training
            raise InvalidValueError(
                f"the {prefix} split",
                f"{batches.source}, whose length is not known",
                "a split an evaluation can read to its end: a Dataset, or a DataLoader over an "
                "IterableDataset with __len__ (an endless stream never ends its pass)",
            )
        return functools.partial(
            evaluate_batches, built.model, batches, prefix=prefix, metrics=metrics, non_finite=non_finite
        )
    x, y = split.x.to(built.device), split.y.to(built.device)
    task = built.splits.task

    def evaluated(most: int | None = None) -> dict[str, float]:
        rows = slice(None if most is None else most * EVAL_BATCH)  # evaluate's batches: EVAL_BATCH rows
        return evaluate(
            built.model, built.loss_fn, x[rows], y[rows], task=task, prefix=prefix, metrics=metrics
        )

    return evaluated


def fit_built(
    built: Built,
    x: torch.Tensor | UserBatches,
    y: torch.Tensor | None,
    *,
    evaluate: Callable[[], dict[str, float]] | None,
    callbacks: Sequence[Callback] = (),
    state: TrainState | None = None,
) -> TrainState:
    """:func:`~optimlab.train.loop.fit` of ``built`` on ``(x, y)``, or on the user's batches ``x`` (y
    None: :meth:`~optimlab.build.Built.batches`, which hold their loss and order), with everything its
    recipe's training section decides: batch size and order, seed, clipping, evaluation cadence,
    precision."""
    spec = built.recipe.training
    batching = (
        {}
        if y is None
        else {
            "loss_fn": built.loss_fn,
            "batch_size": spec.batch_size,
            "seed": spec.seed,
            "shuffle": spec.shuffle,
            "drop_last": spec.drop_last,
        }
    )
    return fit(
        built.model,
        built.optimizer,
        x,
        y,
        **batching,
        total_steps=built.total_steps,
        scheduler=built.scheduler,
        grad_clip_norm=spec.grad_clip_norm,
        accumulate_grad_batches=spec.accumulate_grad_batches,
        evaluate=evaluate,
        eval_every=spec.eval_every,
        callbacks=callbacks,
        state=state,
        autocast_dtype=torch.bfloat16 if spec.precision == "bf16" else None,
    )


# Fields that may differ from the checkpoint's recipe on resume: how long to train and how often to
# save. The schedule follows the new length from the resumed step on. Every other field decides the
# numbers already trained, so a change to it is refused.
RESUMABLE_FIELDS = ("training.epochs", "training.steps", "training.checkpoint_every")


def _respan_schedule(trained: Recipe, built: Built, step: int, changes: list[dict[str, Any]]) -> None:
    """Where a resume changes the run's length under a schedule that spans the run (cosine, wsd,
    one_cycle...), the schedule is drawn anew over the new length: the lr follows it from the resumed
    step on (the first resumed step took the lr the checkpoint stored, the trained schedule's), and a
    warning says where the lr jumps (a finished 10-epoch cosine resumed for 12: 0, then 2.4e-4)."""
    if not any(c["field"] in ("training.epochs", "training.steps") for c in changes):
        return
    recipe = built.recipe
    if Capability.NEEDS_TOTAL_STEPS not in get_registry("schedule").get(recipe.schedule.name).capabilities:
        return
    before = training_steps(trained, built.splits)
    if before == built.total_steps:
        return
    was, now = build_schedule(trained, before)(step), build_schedule(recipe, built.total_steps)(step)
    for group, base in zip(built.optimizer.param_groups, built.scheduler.base_lrs, strict=True):
        group["lr"] = base * now
    warnings.warn(
        f"resumed after step {step} for {count_of(built.total_steps, 'step')} in place of {before:,}: the "
        f"{recipe.schedule.name} schedule spans the run, so it is drawn anew over the new length, its lr "
        f"multiplier {now:.3g} at step {step + 1} where the trained run's was {was:.3g} (the lr jumps "
        "there; resume with the trained length to keep its schedule)",
        OptimlabWarning,
        stacklevel=2,
    )


def _recipe_changes(trained: Recipe, given: Recipe) -> list[dict[str, Any]]:
    """The fields where ``given`` differs from the checkpoint's recipe ``trained``; raises unless each
    is one of :data:`RESUMABLE_FIELDS`."""
    before, after = _flatten(trained.to_dict()), _flatten(given.to_dict())
    changed = [
        {"field": field, "from": before.get(field), "to": after.get(field)}
        for field in sorted(before.keys() | after.keys())
        if before.get(field) != after.get(field)
    ]
    refused = [c for c in changed if c["field"] not in RESUMABLE_FIELDS]
    if refused:
        listed = "; ".join(
            f"{c['field']}: {_as_set(c['from'])} in the checkpoint, {_as_set(c['to'])} now" for c in refused
        )
        raise OptimlabError(
            f"cannot resume: the recipe differs from the one the run was trained with ({listed}). "
            f"Only {', '.join(RESUMABLE_FIELDS)} may change on resume; restore the recipe, or start a "
            "new run in another folder"
        )
    return changed


def _as_set(value: Any) -> str:
    """A recipe field's value as a refusal names it: None is a field left unset, its default."""
    return "unset (its default)" if value is None else repr(value)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value and prefix.count(".") < 1:  # sections, not free-form options
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_same_data(checkpoint: dict[str, Any], data: str | None, recipe: Recipe) -> None:
    """Refuse to resume from ``checkpoint`` where the recipe's data now read as other values (``data``,
    their sha256) than the run trained on: a CSV file edited, a data factory's code changed, and the run
    would go on training its weights on other data. Checkpoints written before they kept it, and dict
    batches, are not checked."""
    trained = checkpoint.get("data")
    if trained is not None and data is not None and data != trained:
        raise OptimlabError(
            f"cannot resume: the recipe's data {recipe.data.name!r} now read as other values than the run "
            "trained on (another sha256 of their tensors): the file or the code that makes them changed "
            "since the checkpoint was written; restore them to resume, or train a new run"
        )


def _prepare_out_dir(
    out: Path, recipe: Recipe, resume: bool
) -> tuple[dict[str, Any] | None, Recipe | None, list[dict[str, Any]]]:
    """Check ``out`` against ``resume`` before any work, writing nothing; returns the checkpoint to
    resume from (None: start at step 0), the recipe it trained (read once) and this recipe's changes
    against it."""
    checkpoint, trained, changes = None, None, []
    if resume:
        if has_checkpoint(out):
            checkpoint = read_checkpoint(out)
            if checkpoint.get("recipe") is None:
                raise OptimlabError(
                    f"cannot resume: the checkpoint in {str(out)!r} holds no recipe to check this one against"
                )
            trained = Recipe.from_dict(checkpoint["recipe"])
            changes = _recipe_changes(trained, recipe)
        elif not (out / RECIPE_NAME).is_file():
            raise OptimlabError(
                f"cannot resume: {str(out)!r} holds no run (no {CHECKPOINT_NAME}, no {RECIPE_NAME})"
            )
        # else: stopped before its first checkpoint, nothing trained: it starts again at step 0
    elif has_checkpoint(out) or (out / RESULT_NAME).exists():
        raise OptimlabError(
            f"{str(out)!r} already holds a run: continue it ({resume_command(out)}, or resume=True in "
            "Python), or choose another output folder"
        )
    elif (others := others_shown(out, is_run_folder)) is not None:  # the user's, or a study's: kept
        raise OptimlabError(
            f"out_dir {str(out)!r} holds other files ({others}): give a new or empty folder (--out on the "
            "command line), or a run's folder to continue it with resume=True in Python (optimlab train "
            "--resume FOLDER)"
        )
    return checkpoint, trained, changes


@contextlib.contextmanager
def _resumable_once_there_is_room(out: Path) -> Iterator[None]:
    """A file of the run in ``out`` that the disk has no room for (its checkpoint, log, weights, result),
    said in one line with the command that continues the run from its last checkpoint once there is:
    torch's checkpoint writer raised a 70-line traceback, the log's named no file."""
    try:
        yield
    except OSError as error:
        if error.errno not in NO_ROOM or error.filename is None:
            raise
        raise OptimlabError(
            f"cannot write {os.fsdecode(error.filename)!r}: {error.strerror}; once there is room for it, "
            f"{resume_command(out)} (resume=True in Python) continues the run from its last checkpoint"
        ) from None


@contextlib.contextmanager
def _removed_unless_trained(out: Path, state: TrainState) -> Iterator[None]:
    """Remove the files the block adds to ``out`` when it fails before taking a step from ``state``: a
    run refused at its first batch left ``recipe.yaml`` and an empty ``metrics.jsonl``. A resumed run's
    own files stay."""
    added = [out / name for name in (RECIPE_NAME, METRICS_NAME) if not (out / name).exists()]
    start = state.step
    try:
        yield
    except BaseException:
        if state.step == start:
            for path in added:
                path.unlink(missing_ok=True)
        raise


def _begin_writing(out: Path, recipe: Recipe, *, afresh: bool) -> None:
    """Once every check passed: the folder's recipe is this one, and a continued run is not finished
    (no final weights or result) until it ends again. The ended session's result is kept in
    sessions.jsonl: its final scores (``test_*``) are nowhere else, and a tracker added later sends them.
    A run begun ``afresh`` (at step 0: resumed before its first checkpoint) drops its log, whose lines
    its steps write again (MetricsLog refuses a log of lines for a run at step 0): emptied, not removed,
    so that a run failing before its first step still leaves a run folder."""
    _keep_session(out)
    for stale in (MODEL_NAME, RESULT_NAME):
        (out / stale).unlink(missing_ok=True)
    if afresh and (out / METRICS_NAME).is_file():
        write_atomically(out / METRICS_NAME, "")
    write_atomically(out / RECIPE_NAME, recipe.to_yaml())


def _keep_session(out: Path) -> None:
    """Add ``out``'s result.json, as one line, to its sessions.jsonl, unless its last line is that one
    already (a kill after the write, before result.json was removed). A result.json that does not parse
    (cut short) holds nothing to keep."""
    try:
        result = json.loads((out / RESULT_NAME).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return
    sessions = out / SESSIONS_NAME
    kept = sessions.read_bytes().splitlines() if sessions.is_file() else []
    if kept[-1:] != [json.dumps(result).encode("utf-8")]:
        add_json_line(sessions, result)


def _finish(
    built: Built,
    state: TrainState,
    out: Path | None,
    *,
    interrupted: bool,
    changes: list[dict[str, Any]],
    validate: Callable[[], dict[str, float]],
) -> TrainResult:
    """The run's result, its splits scored once more: val by the run's ``validate`` (val data making the
    loss not finite said in the run's one warning), test data making it so in one of its own: training
    is over, its result kept."""
    splits = built.splits
    metrics: dict[str, float] = {}
    message = state.stop_reason
    if interrupted:
        status = "interrupted"
        message = f"{state.stop_reason}; checkpoint saved. {RESUME_WITH}{resume_command(out)}"
    else:
        status = "diverged" if state.diverged else "stopped" if state.stop_reason else "completed"
    if status in ("completed", "stopped"):
        metrics.update(validate())
        if splits.test is not None:  # the user's dict batches: no test split unless they gave one
            test = split_evaluator(
                built,
                splits.test,
                prefix="test",
                metrics=user_metrics(built.recipe),
                non_finite=warns_once("test"),
            )
            metrics.update(test())
        if not metrics:
            message = (
                "nothing held out to score: the validation and test splits hold no rows (too few examples "
                "for data.val_fraction and data.test_fraction)"
            )
    if state.skipped_steps and not interrupted:  # said, not hidden: those steps trained on nothing
        skipped = (
            f"{state.skipped_steps} of {state.step} steps skipped: their batches held no target the loss "
            "scores (every label ignored), so no loss and no update"
        )
        message = f"{message}; {skipped}" if message else skipped
    result = TrainResult(
        recipe_id=built.recipe.id,
        status=status,
        message=message,
        steps=state.step,
        seconds=state.seconds,
        metrics=metrics,
        out_dir=str(out) if out is not None else None,
        recipe_changes=changes,
        model=structure(built.model),
    )
    if out is not None:
        if not interrupted:
            with atomic_path(out / MODEL_NAME) as partial:  # a kill mid-save leaves no cut model.pt
                payload = {"model": built.model.state_dict(), "recipe": built.recipe.to_dict()}
                torch_save_file(payload, partial)
        write_atomically(out / RESULT_NAME, json.dumps(result.to_dict(), indent=2) + "\n")
    return result
