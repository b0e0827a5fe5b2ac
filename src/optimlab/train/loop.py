"""The training loop: as lean as a hand-written one, extended through callbacks.

It takes the user's data as it comes (:class:`~optimlab.data.user_batches.UserBatches`: tensors, a
Dataset, a DataLoader, batches as tuples or dicts, a loss function or the model's own loss). In-memory
tensors and Datasets are drawn by a permutation that depends only on (seed, epoch), or in the rows' own
order (``shuffle=False``, the sequential batches of MNIST-1D's protocol), so a run
resumed at any step sees exactly the batches an uninterrupted run would have seen; two tensors with a
``loss_fn`` take the fast path, indexed directly with no checks a step.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau
from torch.utils.data import DataLoader

from optimlab.data.batches import epoch_order, epoch_permutation, steps_per_epoch
from optimlab.data.global_rng import global_generators_given_back
from optimlab.data.user_batches import (
    UNUSABLE_BATCH,
    UserBatches,
    batch_refused,
    batch_target,
    describe,
    first_loss,
    is_pandas,
)
from optimlab.errors import InvalidValueError, OptimlabError, a_type, keywords_checked
from optimlab.models.modes import modes_kept
from optimlab.models.user import check_model
from optimlab.nested_tensors import tensors_in
from optimlab.optim.learning_rate import LoggedGroup
from optimlab.optim.user import needs_closure
from optimlab.registry import POSITIVE, POSITIVE_INT, boolean, real_number, whole_number
from optimlab.schedules.torch_adapter import PlateauLR
from optimlab.techniques.losses import cross_entropy_reading, ignored_label, leaves_out_some
from optimlab.train.evaluation import (
    EVAL_BATCH,
    OWN_METRICS,
    batch_rows,
    batch_weighs,
    batch_weight,
    batches_read,
    check_paired,
    evaluate_batches,
    of_predictions_alone,
    user_metric,
    warns_once,
)

__all__ = [
    "Callback",
    "TrainState",
    "at_training_point",
    "check_model",
    "check_scheduler",
    "check_short_batch",
    "clip_grad_norm_",
    "clip_stepped_gradients",
    "epoch_order",
    "epoch_permutation",
    "evaluates_after",
    "fit",
    "may_score_nothing",
    "modes_kept",
    "one_row_refused",
    "raise_refusal",
    "refuse_unread",
    "step_with",
    "steps_per_epoch",
    "switches_modes",
    "train_mode",
    "training_batches",
    "try_metrics",
]


@dataclasses.dataclass
class TrainState:
    """What the loop knows about the run so far; callbacks read it and may set ``stop_reason``."""

    step: int = 0  # optimizer steps taken (the last one's update skipped where its loss was not finite)
    # of those, steps whose batches held no target the loss scores (each one its ignore_index): no loss
    # (train_loss NaN), no update, not divergence
    skipped_steps: int = 0
    # of those, steps whose float16 gradients overflowed: torch's GradScaler skipped their update (and
    # lowered its scale), their place kept in the steps and the schedule
    overflowed_steps: int = 0
    epoch: int = 0
    epoch_ended: bool = False  # whether the last step ended its epoch (took the last batch of its pass)
    # batches of the epoch taken up to the last step: a resumed run's place in a pass of data whose passes
    # differ in length (None: a checkpoint of before it was kept)
    epoch_batches: int | None = None
    steps_per_epoch: int = 0  # optimizer steps an epoch takes (0: not known, or passes differ in length)
    # batches an epoch holds: steps_per_epoch x accumulate_grad_batches, its last group maybe shorter
    batches_per_epoch: int = 0
    total_steps: int = 0
    train_loss: float = math.nan  # loss of the last step's batch (its group's, weighted by rows)
    # learning rate of the last step: its optimizer's (optim.learning_rate.LoggedGroup: the first param
    # group not frozen at lr 0, a fine-tuned head's beside a frozen backbone, kept for the run)
    lr: float = math.nan
    # wall time spent in fit up to the last step and its evaluation, summed over resumed segments; the
    # callbacks' start-up (on_train_start: a tracker's) left out
    seconds: float = 0.0
    stop_reason: str | None = None  # set to stop the loop after the current step
    diverged: bool = False  # a non-finite loss stopped the run
    interrupted: bool = False  # a signal (Ctrl-C, SIGTERM) stopped the run, to resume later
    last_metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # of the last evaluation
    # the RNG states a DataLoader drew this epoch's order from, and the global RNGs' (torch's, NumPy's,
    # Python's) before the data's last read (UserBatches.drawn), to draw and read them again on resume
    data_drawn: dict[str, Any] | None = None
    # float16's loss scaling as of the last step (torch's GradScaler.state_dict()), to resume it
    grad_scaler: dict[str, Any] | None = None
    # the global norm fit clips the gradients to after the gradient readers saw them (None: unclipped):
    # the doctor's advice to clip reads it
    grad_clip_norm: float | None = None
    # why each tracker callback of this fit that stopped sending stopped, training going on without it (one
    # line each, naming the first record its store lacks: optimlab.integrations.TrackerStopped); a fit
    # resumed from a state starts it empty, and a checkpoint does not keep it: the earlier session's
    # trackers are not this one's
    tracker_failures: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The state a checkpoint keeps: every field but this fit's ``tracker_failures``."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "tracker_failures"}

    @classmethod
    def from_dict(cls, kept: Mapping[str, Any]) -> TrainState:
        """The state :meth:`to_dict` kept; a key it does not keep (an older checkpoint's
        ``tracker_failures``, a field since removed) is left out."""
        fields = {f.name for f in dataclasses.fields(cls)} - {"tracker_failures"}
        return cls(**{k: v for k, v in kept.items() if k in fields})

    @property
    def scales_loss(self) -> bool:
        """Whether the run scales its loss (float16's GradScaler), from its first step on: a callback
        that reads gradients at the step finds them unscaled, and a step whose gradients overflowed
        skipped."""
        return self.grad_scaler is not None

    @property
    def skipped(self) -> bool:
        """Whether the last step was skipped, its batches holding no target the loss scores: its NaN
        ``train_loss`` is no loss rather than a divergence (fit calls every other NaN loss one)."""
        return self.skipped_steps > 0 and math.isnan(self.train_loss) and not self.diverged

    @property
    def updates(self) -> int:
        """The optimizer's updates applied: the steps less those skipped (no target scored) and those whose
        float16 gradients overflowed."""
        return self.step - self.skipped_steps - self.overflowed_steps

    def stop_if_diverged(self) -> None:
        """Stop the run, saying why and what to try, if the last loss is not finite."""
        if not math.isfinite(self.train_loss):
            self.diverged = True
            self.stop_reason = (
                f"training diverged: the loss was {self.train_loss} at step 1, before any update, which no "
                "learning rate makes; check the model's outputs and the data for NaN or infinite values"
                if self.step == 1
                else f"training diverged: the loss became {self.train_loss} at step {self.step} "
                f"(lr {self.lr:.3g}); lower the learning rate, clip gradients, or check the data scale"
            )

    def stop_if_weights_diverged(self, optimizer: torch.optim.Optimizer) -> None:
        """Stop the run as diverged if the last update left a weight ``optimizer`` steps not finite
        (its loss was finite, read before the update: the run's last step, which no later loss checks)."""
        if not _all_finite([p for group in optimizer.param_groups for p in group["params"]]):
            self.stop_as_weights_diverged()

    def stop_as_weights_diverged(self) -> None:
        """Stop the run as diverged: the last update left weights that are not finite."""
        self.diverged = True
        self.stop_reason = (
            f"training diverged: the update of step {self.step} (lr {self.lr:.3g}) left weights that "
            "are not finite; lower the learning rate, clip gradients, or check the data scale"
        )


class Callback:
    """Hooks into :func:`fit`. Every hook is optional; a callback with state to resume keeps it in
    ``state_dict``/``load_state_dict``. ``metrics_read``: the metrics its ``on_evaluate`` reads, each as
    (the field that names it, its name), checked against the evaluation's before training.
    ``writes_checkpoints``: whether it may save the state to resume from (a user's may); where no
    callback may, fit keeps torch's RNG alone before each read of a Dataset or a DataLoader, not NumPy's
    and Python's beside it (:meth:`~optimlab.data.user_batches.UserBatches.from_step`)."""

    metrics_read: Sequence[tuple[str, str]] = ()
    writes_checkpoints: bool = True

    def on_train_start(self, state: TrainState) -> None: ...
    # The step's gradients are whole (unscaled under float16) and not yet clipped; called each time its
    # loss is evaluated: twice a step for SAM, and for LBFGS once an evaluation of its closure, up to its
    # max_eval a step (25 by default: 1.25 x max_iter). The one hook a callback that is no subclass may
    # leave out.
    def on_before_optimizer_step(self, state: TrainState) -> None: ...
    # Each training batch after its forward and backward pass (``state.step`` the steps taken before
    # this one; as the hook above, once each time the loss is evaluated: up to 25 a step for LBFGS), with
    # ``targets``: what the loss compares the outputs with (a tuple batch's last element, a dict's
    # ``labels``), None where the batch shows none (a model's own loss of a tuple, compute_loss's).
    # Optional to a callback that is no subclass.
    def on_train_batch(self, state: TrainState, batch: Any, targets: Any) -> None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...
    # Training stopped by an exception (Ctrl-C without StopOnSignal, a refusal mid-training), re-raised
    # after this hook: close what is held (a file, a progress bar); no checkpoint, its step may be torn.
    # Optional to a callback that is no subclass.
    def on_exception(self, state: TrainState, error: BaseException) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def evaluates_after(step: int, *, eval_every: int | None, epoch_ended: bool, total_steps: float) -> bool:
    """Whether a loop evaluates after its ``step``-th step: every ``eval_every`` steps (default: at each
    epoch's end, ``epoch_ended`` telling whether the step ended its pass, however long) and after the
    last."""
    due = step % eval_every == 0 if eval_every else epoch_ended
    return due or step >= total_steps


def clip_stepped_gradients(optimizer: torch.optim.Optimizer, max_norm: float) -> None:
    """Clip the gradients ``optimizer`` steps to global norm ``max_norm`` (:func:`clip_grad_norm_`): not
    those of a parameter left out of it, which its zero_grad never clears (nor a GradScaler's unscale_
    unscales), piling up step by step."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
    clip_grad_norm_([g for g in grads if g is not None], max_norm)


def clip_grad_norm_(grads: Sequence[torch.Tensor], max_norm: float, *, stacked: bool = False) -> None:
    """Scale ``grads`` in place by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` their global 2-norm, as
    :func:`torch.nn.utils.clip_grad_norm_` does (Pascanu et al. 2013, https://arxiv.org/abs/1211.5063).

    ``stacked``: the gradients of K members, ``(K, ...)`` each, every member clipped by its own norm.
    A sparse gradient (``nn.Embedding(sparse=True)``) counts with the norm of its dense equal, which
    torch's own function cannot take (its NotImplementedError for 'aten::linalg_vector_norm').
    """
    if stacked:
        norms = [torch.linalg.vector_norm(g.reshape(g.shape[0], -1), dim=1) for g in grads]  # (K,) each
    else:
        dense = [g for g in grads if not g.is_sparse]
        sparse = [g for g in grads if g.is_sparse]
        norms = [
            *(torch._foreach_norm(dense) if dense else ()),
            *(g.coalesce().values().norm() for g in sparse),
        ]
    coefficient = (max_norm / (torch.linalg.vector_norm(torch.stack(norms), dim=0) + 1e-6)).clamp(max=1.0)
    if stacked:
        torch._foreach_mul_(list(grads), [coefficient.view(-1, *(1,) * (g.ndim - 1)) for g in grads])
    else:
        if dense:
            torch._foreach_mul_(dense, coefficient)
        for g in sparse:
            g.mul_(coefficient)


@keywords_checked
def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Any,
    y: torch.Tensor | None = None,
    *,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
    compute_loss: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    total_steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    scheduler: Any | None = None,
    scheduler_interval: str = "step",
    grad_clip_norm: float | None = None,
    accumulate_grad_batches: int = 1,
    val_data: Any | None = None,
    val_steps: int | None = None,
    metrics: Mapping[str, Callable[[Any, Any], Any]] | None = None,
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_every: int | None = None,
    callbacks: Sequence[Callback] = (),
    state: TrainState | None = None,
    autocast_dtype: torch.dtype | None = None,
    plateau_metric: str = "val_loss",
    drop_last: bool | None = None,
    shuffle: bool | None = None,
) -> TrainState:
    """Train ``model`` on ``data`` for ``total_steps`` optimizer steps, or ``epochs`` passes over it
    (continuing ``state``).

    Args:
        data: the training data as a PyTorch user has it (:class:`~optimlab.data.user_batches.UserBatches`
            takes it: tensors ``x`` with their targets ``y``, a pair ``(x, y)``, several inputs and a
            target ``(x1, x2, y)`` beside a ``loss_fn``, a Dataset, a DataLoader or any re-iterable of
            batches, tuples, lists or dicts; or a ``UserBatches`` itself). A run resumed from a
            checkpoint of its ``state`` takes the batches an uninterrupted one would, a DataLoader's
            shuffled order and its Dataset's draws from torch's, NumPy's and Python's global generators
            included (in its workers too), except a DataLoader's with ``persistent_workers``, whose
            workers' generators go on from epoch to epoch in processes a checkpoint cannot read: resumed
            past its first epoch, its workers draw from a new seed. NumPy's and Python's draws as a
            batch is read are kept where a callback may write that checkpoint (``writes_checkpoints``,
            as :class:`~optimlab.train.callbacks.Checkpointing` and a user's own callback); a state
            saved after a fit without one resumes them from the states at its end.
        loss_fn: ``loss_fn(outputs, targets)``; None when the model returns its own loss
            (``model(**batch).loss``) or ``compute_loss(model, batch)`` is given.
        total_steps, epochs: how long to train, one of the two. ``epochs`` passes over data whose length
            is not known (an IterableDataset without ``__len__``) iterate it again each epoch, as a torch
            loop would, each pass trained as it comes however many batches it yields (a stream filtered
            at random, a shard reader), its end the epoch's (``state.epoch_ended``: evaluation, an
            epoch's scheduler step, a checkpoint); ``state.total_steps`` is the first pass's count times
            ``epochs`` while the passes agree, 0 before and once they differ. A OneCycleLR, whose total
            must be known before its first step, is refused beside them.
        accumulate_grad_batches: batches whose gradients one optimizer step takes (Lightning's name;
            Hugging Face's ``gradient_accumulation_steps``). Each batch's loss is weighted by what its
            mean averages over, its rows (or a cross-entropy's targets not ignored, by their class
            weights: :func:`~optimlab.train.evaluation.batch_weight`), over the group's, so that the
            step follows the gradient of one batch of all of them (a model's own loss over padded
            tokens is weighted by rows; batch norm still sees each batch apart). Groups never span an
            epoch's end: an epoch of 10 batches in groups of 4 takes 3 steps, the last of 2 batches.
            ``total_steps``, ``eval_every`` and the scheduler count optimizer steps; gradient clipping
            applies to the group's gradient.
        batch_size, seed, shuffle, drop_last: the batches of tensors and Datasets (default 32 rows,
            shuffled, the last smaller batch kept): rows permuted from (seed, epoch), or in order unless
            ``shuffle``, and an epoch's last, smaller batch kept or dropped, as a DataLoader means them.
            A DataLoader batches its data itself: ``batch_size``, ``shuffle``, ``drop_last`` and a
            ``seed`` other than 0 beside one are refused, never silently dropped (its ``generator``
            seeds its order).
        val_data: validation data in any of the same shapes, evaluated to ``val_loss`` (and
            ``val_accuracy`` where predictions are class scores of integer targets, ``val_rmse`` where
            they are a regression's values: :func:`evaluate_batches`); or ``evaluate``, any
            ``() -> metrics``. A bfloat16 or float16 model's ``val_loss`` under torch's own loss is made
            again in float32 of the same outputs (not rounded to 8 or 11 bits), unless that loss holds
            weights of its own in their precision (``CrossEntropyLoss(weight=...)`` cast with the model),
            which float32 outputs do not fit: then, as for a model that returns its own loss and a loss
            of the user's own, the loss is called once a batch, as written, and its value kept in the
            precision it computes in: called again in float32 it might compute another thing (a loss
            reading more than the predictions, keeping state, drawing at random), so it casts
            (``outputs.float()``) itself for float32 numbers. NaN or inf in it that makes a batch's loss
            not finite (a loss masking missing targets keeps it finite, and is left alone) is named by
            its row and column (:func:`~optimlab.train.evaluation.refuse_non_finite`): refused before
            any step where the first val batch is evaluated then (:func:`try_metrics`), else said in
            one warning at the evaluation that reads it, training going on with ``val_loss`` not
            finite.
        val_steps: the batches of ``val_data`` each evaluation reads at most, from its start
            (Lightning's ``limit_val_batches`` as a count); None: all of them, so val data whose length
            is not known (an IterableDataset without ``__len__``, which may never end) is refused
            without it.
        metrics: the user's own metrics of ``val_data``, ``{"f1": f1}`` reported as ``val_f1``, each
            called as ``f1(outputs, targets)`` on the predictions and targets of the whole split; tried
            once before training (:func:`try_metrics`), so that one that raises is said before any step.
        eval_every: evaluate every this many steps (default: once an epoch) and at the end; the metrics
            reach callbacks.
        autocast_dtype: the forward passes under ``torch.autocast`` to it: ``torch.bfloat16``, or
            ``torch.float16`` with its loss scaled by torch's ``GradScaler`` (torch's AMP recipe: the
            gradients unscaled before clipping, a step whose gradients overflowed skipped).

    ``scheduler`` is stepped once per optimizer step (any torch LRScheduler), or once at each epoch's end
    under ``scheduler_interval="epoch"`` (Lightning's ``interval``; a ``StepLR(step_size=30)`` written for
    epochs, as torch's examples step it), after that epoch's evaluation; a reduce-on-plateau
    scheduler (torch's ``ReduceLROnPlateau``, or :class:`~optimlab.schedules.PlateauLR`) sees
    ``plateau_metric`` of each evaluation instead, so it needs ``val_data`` or ``evaluate``.
    ``scheduler_interval="epoch"`` without a scheduler or beside a ``ReduceLROnPlateau`` (stepped at
    evaluations), and a ``plateau_metric`` other than ``val_loss`` without a reduce-on-plateau scheduler,
    are refused: they would time and feed nothing. A
    non-finite loss stops the run before its update (the weights stay those of the last finite step)
    with ``state.diverged`` and a message in ``state.stop_reason``. A step whose batches hold no target
    the loss scores (every one a cross-entropy's ``ignore_index``: its mean is 0/0) is no divergence: it
    is skipped, with no forward pass, update or optimizer state moved, and counted in
    ``state.skipped_steps``; it keeps its place in the steps, the schedule and the batch stream, so a
    resumed run takes the same batches; data of which a whole epoch is such steps is refused. A
    first batch the model or the loss cannot use raises :class:`~optimlab.errors.InvalidValueError`
    naming it; so does a batch the data cannot make, at any step (a DataLoader whose collate cannot
    stack items of unequal shapes: torch's message names them).

    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    >>> model = nn.Linear(3, 2)
    >>> state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), DataLoader(TensorDataset(x, y), batch_size=16),
    ...             loss_fn=nn.CrossEntropyLoss(), total_steps=8, val_data=(x, y))
    >>> state.step, state.steps_per_epoch, sorted(state.last_metrics)
    (8, 4, ['val_accuracy', 'val_loss'])
    """
    check_model(model)
    check_optimizer(optimizer, model)
    check_scheduler(scheduler, optimizer)
    _check_callbacks(callbacks)
    if state is not None and not isinstance(state, TrainState):  # a dict failed at state.step, {} ignored
        raise InvalidValueError(
            "state", describe(state), "a TrainState (what fit or load_checkpoint returned), or None to start"
        )
    accumulate = whole_number(accumulate_grad_batches, "accumulate_grad_batches", POSITIVE_INT)
    if (total_steps is None) == (epochs is None):
        raise InvalidValueError(
            "total_steps and epochs", f"{total_steps} and {epochs}", "one of them, the other None"
        )
    # numpy's integers (np.int64(2), a count computed with numpy) are integers too
    # 0 trained nothing and said nothing, where compare(epochs=0) and the recipe refuse it
    total_steps = None if total_steps is None else whole_number(total_steps, "total_steps", POSITIVE_INT)
    epochs = None if epochs is None else whole_number(epochs, "epochs", POSITIVE_INT)
    # The recipe's ranges (TrainingSpec): a norm of 0 zeroes every gradient and a negative one turns
    # descent into ascent; an interval of 0 would evaluate once an epoch, a negative one every step.
    if grad_clip_norm is not None:
        grad_clip_norm = real_number(grad_clip_norm, "grad_clip_norm", POSITIVE, also=", or None")
    if eval_every is not None:
        eval_every = whole_number(eval_every, "eval_every", POSITIVE_INT, also=", or None")
    if autocast_dtype not in (None, *AUTOCAST_DTYPES):  # torch warns, then trains in float32
        raise InvalidValueError("autocast_dtype", autocast_dtype, "torch.bfloat16, torch.float16, or None")
    if autocast_dtype == torch.float16 and needs_closure(optimizer):
        raise InvalidValueError(
            "autocast_dtype",
            f"torch.float16 beside a {type(optimizer).__name__}",
            "torch.bfloat16 or None for an optimizer whose step evaluates the loss again, which torch's "
            "GradScaler (float16's loss scaling) cannot step",
        )
    # GradScaler unscales float32 gradients only; the parameters are scanned under float16 alone
    halves = (n for n, p in model.named_parameters() if p.requires_grad and p.dtype == torch.float16)
    if autocast_dtype == torch.float16 and (half := next(halves, None)) is not None:
        raise InvalidValueError(
            "autocast_dtype",
            f"torch.float16 beside a model whose parameters are float16 ({half})",
            "None for a model already in float16, or the model in float32 (model.float()) under float16 "
            "autocast: torch's GradScaler keeps float32 weights and cannot unscale float16 gradients",
        )
    for name, value in (("shuffle", shuffle), ("drop_last", drop_last)):
        if value is not None:
            boolean(value, name)
    given = {"batch_size": batch_size, "shuffle": shuffle, "drop_last": drop_last}
    defaults = {"batch_size": 32, "shuffle": True, "drop_last": False}
    batching = {k: defaults[k] if v is None else v for k, v in given.items()}
    batches = training_batches(data, y, loss_fn, compute_loss, seed=seed, **batching)
    # a seed's default 0 cannot be told from a given 0
    refuse_unread({**given, "seed": seed or None}, batches.settings, data, batches.source)
    _check_metrics(metrics, val_data)
    check_short_batch(model, batches)
    if val_data is not None:
        if evaluate is not None:
            raise InvalidValueError("evaluate", "both val_data and evaluate", "one of them")
        validation = UserBatches(
            val_data,
            loss_fn,
            compute_loss=compute_loss,
            batch_size=EVAL_BATCH,
            shuffle=False,
            field="val_data",
        )
        if validation.steps_per_epoch == 0:  # else every evaluation would give no metric, without a word
            raise validation.no_batch()
        if val_steps is not None:
            val_steps = whole_number(val_steps, "val_steps", POSITIVE_INT)
        elif validation.steps_per_epoch is None:  # an endless stream hung the first evaluation
            raise InvalidValueError(
                "val_data",
                f"{validation.source}, whose length is not known, without val_steps",
                "val_steps=N beside it, the batches each evaluation reads (an endless stream never ends "
                "its pass), or val data with a length (a Dataset, or an IterableDataset with __len__)",
            )
        # each said in one line where it raises or gives no number, as a recipe's metric by import path
        scored = {
            name: functools.partial(user_metric, name, metric) for name, metric in (metrics or {}).items()
        }
        evaluate_val = functools.partial(evaluate_batches, model, validation, prefix="val", metrics=scored)
        # NaN or inf in val data making its loss not finite: refused before any step where its first batch
        # is evaluated then (try_metrics, below), said in one warning mid-training, where a refusal lost
        # every step since the last checkpoint
        evaluate = functools.partial(evaluate_val, most=val_steps, non_finite=warns_once("val"))
    elif val_steps is not None:
        raise InvalidValueError("val_steps", val_steps, "None without val_data, the data it limits")
    # the metrics the callbacks read (EarlyStopping's), each with the field that names it
    metrics_read = [named for callback in callbacks for named in getattr(callback, "metrics_read", ())]
    if evaluate is None:  # no evaluation: eval_every scheduled none, and EarlyStopping never stopped
        if eval_every is not None:
            raise InvalidValueError(
                "eval_every", eval_every, "None without val_data or evaluate, the evaluation it schedules"
            )
        if metrics_read:
            field, name = metrics_read[0]
            raise InvalidValueError(field, name, "a metric of an evaluation: val_data or evaluate beside it")
    # A PlateauLR also counts optimizer steps; torch's ReduceLROnPlateau steps on evaluations only.
    on_evaluations = isinstance(scheduler, (PlateauLR, ReduceLROnPlateau))
    if scheduler_interval not in SCHEDULER_INTERVALS:
        raise InvalidValueError(
            "scheduler_interval", scheduler_interval, " or ".join(map(repr, SCHEDULER_INTERVALS))
        )
    if scheduler_interval != "step" and scheduler is None:
        raise InvalidValueError(
            "scheduler_interval",
            scheduler_interval,
            "'step' (the default) without a scheduler, whose steps it times",
        )
    if scheduler_interval != "step" and isinstance(scheduler, ReduceLROnPlateau):
        raise InvalidValueError(
            "scheduler_interval",
            scheduler_interval,
            "'step' (the default) beside a ReduceLROnPlateau, which steps at each evaluation instead "
            "(eval_every times them)",
        )
    if plateau_metric != "val_loss" and not on_evaluations:
        raise InvalidValueError(
            "plateau_metric",
            plateau_metric,
            f"'val_loss' (the default) with {'no scheduler' if scheduler is None else a_type(scheduler)}: "
            "only a reduce-on-plateau scheduler (ReduceLROnPlateau, PlateauLR) reads it",
        )
    counted = scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau)
    each_step, each_epoch = (
        counted and scheduler_interval == "step",
        counted and scheduler_interval == "epoch",
    )
    if on_evaluations and evaluate is None:
        raise InvalidValueError(
            "scheduler",
            f"{a_type(scheduler)} with no evaluation to read {plateau_metric} from",
            "a reduce-on-plateau scheduler together with val_data (or evaluate), or any other scheduler",
        )
    if epochs is not None and batches.steps_per_epoch == 0:
        raise batches.no_batch()
    if epochs is not None:  # None where the data's length is not known: its passes end the epochs
        total_steps = _epochs_steps(epochs, batches, accumulate)
        if total_steps is None and isinstance(scheduler, OneCycleLR):
            raise InvalidValueError(
                "epochs",
                f"{epochs} over {batches.source}, whose length is not known, beside a OneCycleLR",
                "total_steps=N instead (a OneCycleLR's total must be known before its first step), or "
                "data with a length (a Dataset, or an IterableDataset with __len__)",
            )
    device = next(model.parameters()).device
    state = TrainState() if state is None else state
    if batches.steps_per_epoch is None:  # read by the session that stopped
        # (a checkpoint written before batches_per_epoch was kept took one batch a step)
        batches.steps_per_epoch = state.batches_per_epoch or state.steps_per_epoch or None
        # past its first pass with no count kept: its passes differed, none is counted from here
        batches.passes_differ = batches.steps_per_epoch is None and (state.epoch > 0 or state.epoch_ended)
    _count_epoch(state, batches, accumulate)
    if each_epoch and not state.steps_per_epoch and epochs is None:  # an endless stream ends no epoch
        raise InvalidValueError(
            "scheduler_interval",
            f"epoch, over {batches.source} whose length is not known",
            "'step', or data with a length (a Dataset, a DataLoader over one, tensors)",
        )
    # the scheduler's steps left: the epochs' ends still to come, or the optimizer steps
    if total_steps is not None and (state.steps_per_epoch or not each_epoch):  # a OneCycleLR's
        steps_left = (
            total_steps // state.steps_per_epoch - state.step // state.steps_per_epoch
            if each_epoch
            else total_steps - state.step
        )
        _check_schedule_length(scheduler, steps_left)
    state.total_steps, state.stop_reason, state.interrupted = total_steps or 0, None, False
    if total_steps is None:  # until the last pass ends (state.total_steps 0: not known yet)
        total_steps = state.step if _last_pass_ended(state, epochs) else math.inf
    state.tracker_failures = []
    state.grad_clip_norm = grad_clip_norm
    amp = (
        torch.autocast(device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    # float16's narrow range flushes small gradients to zero (a whole layer's, silently) unless the loss
    # is scaled up before backward, as torch's AMP recipe does; bfloat16 has float32's range.
    scaler = torch.amp.GradScaler(device.type) if autocast_dtype == torch.float16 else None
    if scaler is not None:
        if state.grad_scaler:
            scaler.load_state_dict(state.grad_scaler)
        state.grad_scaler = scaler.state_dict()  # set from the start: state.scales_loss, and resumable
    # The metrics a reduce-on-plateau scheduler or a callback reads (EarlyStopping's), each with the
    # field that names it: one the evaluation does not give is said before training, not after an epoch;
    # so is val data the model or a loss of torch's cannot take (labels past its classes, of another
    # dtype): such a loss is pure, called once more to no effect, where a user's may count its calls.
    # It opens the val data once more: +0.39 s a one-step fit with a DataLoader of 2 workers (their start
    # and prefetched batches; 1.04 s against 0.57), +0.003 s with tensors (median of 7, load ~8 on the
    # shared 2-core CPU box, 2026-12-07: benchmarks/val_check_cost.py --rounds 7 --workers 2); paid once
    # a fit, against an epoch of training lost to val data refused at its first evaluation
    read = [*([("plateau_metric", plateau_metric)] if on_evaluations else []), *metrics_read]
    if val_data is not None and (metrics or read or of_predictions_alone(loss_fn)):
        try:
            given = try_metrics(model, evaluate_val, most=val_steps)
        except InvalidValueError as refusal:  # the training data's own, where they share the fault
            raise _training_data_refused(model, batches, device) or refusal from None
        for field, name in read:
            if name not in given:
                raise InvalidValueError(
                    field, name, f"a metric the evaluation gives: {', '.join(sorted(given))}"
                )
    # A finite loss whose gradient is not (a norm's at 0) leaves weights NaN, which the next loss would
    # tell only after the step's checkpoint: a Checkpointing checks them before it saves (check_weights)
    # (lent for this fit only: a user's Checkpointing kept after it holds no closure over the optimizer)
    from optimlab.train.callbacks import Checkpointing  # callbacks imports this module

    check_weights = _weights_check(optimizer)
    # NumPy's and Python's states before each read serve a checkpoint alone: 45 us a batch on an idle
    # core (np.random.get_state 33, random.getstate 8.6; torch's 0.9), kept where one may be written
    every_rng = any(getattr(callback, "writes_checkpoints", True) for callback in callbacks)
    checkpoints = [callback for callback in callbacks if isinstance(callback, Checkpointing)]
    for checkpoint in checkpoints:
        checkpoint.check_weights = check_weights
    begun: list[Callback] = []  # told of an exception: each callback started, or starting
    try:  # from the first callback's start: a refusal or Ctrl-C anywhere stops the progress bar
        for callback in callbacks:
            begun.append(callback)
            callback.on_train_start(state)
        started, earlier = time.perf_counter(), state.seconds

        def elapsed() -> float:  # this segment's time and the earlier ones', the callbacks' start left out
            return earlier + time.perf_counter() - started

        train_mode(model)
        # schedule-free's two points: stepped at its training point, left at the one it evaluates at
        with at_training_point(optimizer):
            stepper = _Stepper(
                model,
                optimizer,
                batches,
                amp=amp,
                scaler=scaler,
                grad_clip_norm=grad_clip_norm,
                scheduler=scheduler if each_step else None,
                gradient_readers=_overriding(callbacks, "on_before_optimizer_step"),
                batch_readers=_overriding(callbacks, "on_train_batch"),
            )
            epoch, position = _resume_point(state, accumulate)
            # The refusal's wrapper costs 0.2 us a batch (9.2 -> 9.4 us drawing batches of 32 rows of a tensor
            # pair, median of 5 x 20,000 on the shared 2-core CPU box, 2026-12-05), against ~23 us a step.
            stream = batches_read(
                batches.from_step(
                    position,
                    device,
                    drawn=state.data_drawn,
                    every_rng=every_rng,
                    epoch=epoch,
                    passes_may_differ=True,
                ),
                batches,
                "data",
                lambda: f", read after {state.step} steps",  # a refusal names where in training it came
            )
            groups = _groups(batches, stream, accumulate)
            taken = position  # the batches of pass ``epoch`` read before
            skipped_in_epoch, epoch_counted = 0, None
            weighs = batch_weighs(batches) if may_score_nothing(batches) else None
            while state.step < total_steps and state.stop_reason is None:
                state.epoch, group = next(groups)
                state.epoch_ended = batches.pass_ends
                taken = len(group) + (taken if state.epoch == epoch else 0)  # of this epoch's batches
                epoch, state.epoch_batches = state.epoch, taken
                state.data_drawn = batches.drawn
                _count_epoch(state, batches, accumulate)
                if total_steps == math.inf and epochs is not None:  # the passes end the run
                    # the estimate a progress bar shows while the passes agree (0 once they differ)
                    state.total_steps = epochs * state.steps_per_epoch
                    if _last_pass_ended(state, epochs):
                        total_steps = state.total_steps = state.step + 1
                if state.epoch != epoch_counted:
                    skipped_in_epoch, epoch_counted = 0, state.epoch
                weights = _weights(batches, group, weighs=weighs)
                if weights is None:  # nothing to learn from: no forward pass, no update, its place kept
                    stepper.skip(state)
                    skipped_in_epoch += 1
                    state.seconds = elapsed()
                    if state.steps_per_epoch and skipped_in_epoch >= state.steps_per_epoch:
                        raise _nothing_scored(batches, state.steps_per_epoch)
                else:
                    stepper.step(state, group, weights)
                    # Kept current, not added at the end: the last step's checkpoint, taken in on_step_end, must
                    # hold this segment's time too, or a resumed run's clock starts again from the earlier ones.
                    state.seconds = elapsed()
                    _stop_if_diverged(state, group)
                if not state.diverged and (state.step >= total_steps or state.stop_reason is not None):
                    check_weights(state)  # no next loss will tell (nor a skipped step)
                due = evaluates_after(
                    state.step, eval_every=eval_every, epoch_ended=state.epoch_ended, total_steps=total_steps
                )
                if evaluate is not None and not state.diverged and (due or state.stop_reason is not None):
                    state.last_metrics = _evaluated(model, optimizer, evaluate)
                    # with the evaluation's time: the lines logged of this step and a checkpoint taken at it
                    state.seconds = elapsed()
                    if on_evaluations:
                        _step_on_plateau(scheduler, state.last_metrics, plateau_metric)
                    for callback in callbacks:
                        callback.on_evaluate(state, state.last_metrics)
                if each_epoch and not state.diverged and state.epoch_ended:
                    scheduler.step()  # the epoch's end, after its evaluation, before a checkpoint of the step
                # After the evaluation, so that a checkpoint taken here holds everything about this step.
                for callback in callbacks:
                    callback.on_step_end(state)
            # The last checkpoint (a stop's) at the training point, as every other, before the block leaves it:
            # there schedule-free's state holds no copy of y, which optimlab's eval() keeps (the authors' code
            # keeps none: it makes y again from x)
            for checkpoint in checkpoints:  # their on_train_end below, called once, finds it saved
                checkpoint.save_last(state)
    except BaseException as error:  # Ctrl-C, or a refusal mid-training: each callback closes what it holds
        for callback in begun:
            told = getattr(callback, "on_exception", None)
            if told is not None:
                told(state, error)
        _lent_back(checkpoints)
        raise

    state.seconds = elapsed()
    for callback in callbacks:
        callback.on_train_end(state)
    _lent_back(checkpoints)
    return state


def _lent_back(checkpoints: list[Any]) -> None:
    """The weights check fit lent its ``checkpoints`` (:class:`~optimlab.train.callbacks.Checkpointing`)
    taken back once their last save is done."""
    for checkpoint in checkpoints:
        checkpoint.check_weights = None


def _weights_check(optimizer: torch.optim.Optimizer) -> Callable[[TrainState], None]:
    """``state.stop_if_weights_diverged(optimizer)`` once a step: the last step's weights, checked by
    fit, are not read again by that step's checkpoint."""
    checked = -1

    def check(state: TrainState) -> None:
        nonlocal checked
        if state.step != checked:
            state.stop_if_weights_diverged(optimizer)
            checked = state.step

    return check


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether every element of ``tensors`` is finite, read back once a device, not once a tensor (each
    read waits for the device to finish its queued work)."""
    flags: dict[torch.device, list[torch.Tensor]] = {}
    for tensor in tensors:
        flags.setdefault(tensor.device, []).append(torch.isfinite(tensor).all())
    return all(bool(torch.stack(each).all()) for each in flags.values())


def _evaluated(
    model: nn.Module, optimizer: torch.optim.Optimizer, evaluate: Callable[[], dict[str, float]]
) -> dict[str, float]:
    """``evaluate()`` of ``model`` in eval mode, at the point ``optimizer`` evaluates at (schedule-free's
    x: :func:`switches_modes`), each module's mode and the training point back after it."""
    two_points = switches_modes(optimizer)
    if two_points:
        optimizer.eval()
    with modes_kept(model):  # evaluation puts every layer in eval mode
        metrics = evaluate()
    if two_points:
        optimizer.train()
    return metrics


class _Stepper:
    """One optimizer step of :func:`fit` over a group of accumulated batches: forward and backward of each
    (its loss weighted in the group's, under autocast and float16's loss scaling), the gradient readers,
    clipping, the optimizer's step (undone where the loss is not finite) and a scheduler stepped per step.
    The first step's batch takes the checked path, so that a loss of the wrong shape is named as the loss.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        batches: UserBatches,
        *,
        amp: contextlib.AbstractContextManager[Any],
        scaler: torch.amp.GradScaler | None,
        grad_clip_norm: float | None,
        scheduler: Any | None,  # stepped after each optimizer step; None: not per step
        gradient_readers: Sequence[Callback],
        batch_readers: Sequence[Callback],
    ) -> None:
        self.model, self.optimizer = model, optimizer
        self.amp, self.scaler, self.grad_clip_norm = amp, scaler, grad_clip_norm
        self.scheduler, self.gradient_readers = scheduler, gradient_readers
        self.batch_readers, self.batches = batch_readers, batches
        self.loss_of = batches.loss_function(model)
        self.checked = functools.partial(_graphed_loss, batches, model)
        self.first = True  # no step taken yet: the first batch's loss is checked, its refusal named so
        self.logged = LoggedGroup()  # the param group whose lr the run logs, chosen once for the run
        self.hook_error: BaseException | None = None  # the last a callback raised: its own, no batch's

    def skip(self, state: TrainState) -> None:
        """A step whose batches hold no target the loss scores: no forward pass nor update, its place kept
        in the steps and the schedule (as on float16's skipped overflow)."""
        state.lr, state.train_loss = self.logged.read(self.optimizer, state.updates), math.nan
        if self.scheduler is not None:
            with warnings.catch_warnings():  # torch's "before optimizer.step()": skipped on purpose
                warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
                self.scheduler.step()
        state.step += 1
        state.skipped_steps += 1

    def step(self, state: TrainState, group: list[Any], weights: list[float]) -> None:
        """Take the optimizer step of ``group`` (each batch's loss weighted by ``weights``), setting
        ``state``'s step, lr and train_loss."""
        closure = functools.partial(self._gradients, state, group, weights)
        try:
            loss = closure()
        except UNUSABLE_BATCH as error:
            if error is self.hook_error:  # a callback's bug: raised unchanged, no refusal of the batch
                raise
            raise_refusal(error, self._refused(error, group, state.step + 1))
        self.first = False
        # Read before the update, which a loss that is not finite undoes: the run stops with the weights
        # of its last finite step, not NaN (torch's GradScaler also reads its check before stepping).
        state.train_loss = loss.item()
        # after the loss's read: a tensor lr's then waits for nothing; a schedule's at the updates applied
        state.lr = self.logged.read(self.optimizer, state.updates)
        if not math.isfinite(state.train_loss):
            _step_undone(self.optimizer, closure)
        else:
            if self.scaler is None:
                step_with(self.optimizer, closure)
            else:  # skips the update where a gradient overflowed, and lowers the scale
                scale = state.grad_scaler["scale"]
                self.scaler.step(self.optimizer)
                self.scaler.update()
                state.grad_scaler = self.scaler.state_dict()
                if state.grad_scaler["scale"] < scale:  # lowered (backoff_factor) only on an overflow
                    state.overflowed_steps += 1
            if self.scheduler is not None:
                self.scheduler.step()
        state.step += 1

    def _gradients(self, state: TrainState, group: list[Any], weights: list[float]) -> torch.Tensor:
        """The closure of a step: the group's gradients, whole (unscaled), shown to the gradient readers,
        then clipped; returns the group's loss (each batch's weighted by rows, or targets scored)."""
        self.optimizer.zero_grad(set_to_none=True)
        losses = []  # (weight, loss) of each batch
        for batch, weight in zip(group, weights):
            if not weight:  # its mean averages over nothing (every target ignored): 0/0, left out
                continue
            with self.amp:
                loss = (self.checked if self.first else self.loss_of)(batch)
            part = loss if weight == 1.0 else loss * weight
            (part if self.scaler is None else self.scaler.scale(part)).backward()
            losses.append((weight, loss.detach()))
            if self.batch_readers:
                targets = _batch_targets(self.batches, batch)
                for reader in self.batch_readers:
                    self._hook(reader.on_train_batch, state, batch, targets)
        if self.scaler is not None:  # the true gradients, for the callbacks and clipping
            self.scaler.unscale_(self.optimizer)
        for reader in self.gradient_readers:
            self._hook(reader.on_before_optimizer_step, state)
        if self.grad_clip_norm is not None:
            clip_stepped_gradients(self.optimizer, self.grad_clip_norm)
        return losses[0][1] if len(group) == 1 else sum(weight * loss for weight, loss in losses)

    def _hook(self, hook: Callable[..., None], *args: Any) -> None:
        """Call a callback's ``hook`` (inside the step's closure), keeping what it raises as its own, so
        that :meth:`step` lets it through unchanged rather than refuse the batch for it."""
        try:
            hook(*args)
        except BaseException as error:
            self.hook_error = error
            raise

    def _refused(self, error: BaseException, group: list[Any], step: int) -> BaseException:
        """``error``, raised by step ``step``'s batches, as the refusal that names its batch (one the model
        or the loss cannot take: another shape than the first's, a label past the model's classes), as
        :func:`~optimlab.data.user_batches.first_loss` names the first, then told more where known."""
        field = "the first batch" if self.first else f"the batch of step {step}"
        refused = batch_refused(error, field, group[0]) or error
        if isinstance(refused, ValueError):
            better = one_row_refused(refused, self.model, group, step)
            refused = _dtypes_refused(refused, self.model, group) if better is refused else better
        return refused


def _overriding(callbacks: Sequence[Callback], hook: str) -> list[Callback]:
    """The callbacks whose ``hook`` does something (Callback's own does nothing; one that is no subclass
    may lack it): no call a step for the others."""
    nothing = getattr(Callback, hook)
    return [c for c in callbacks if getattr(type(c), hook, nothing) is not nothing]


def _batch_targets(batches: UserBatches, batch: Any) -> Any:
    """The targets of a training ``batch`` that :meth:`Callback.on_train_batch` is given: those the
    ``loss_fn`` takes, or a dict batch's ``labels`` where the model or compute_loss makes the loss."""
    if batches.loss_fn is not None:
        return batches.split_target(batch)[1]
    return batch_target(batch) if isinstance(batch, Mapping) else None


def _stop_if_diverged(state: TrainState, group: list[Any]) -> None:
    """Stop the run as diverged if the last step's loss is not finite, blaming the data where the
    group's batches themselves hold NaN or inf, else the learning rate."""
    state.stop_if_diverged()
    found = _not_finite(group) if state.diverged else None
    if found:
        state.stop_reason = (
            f"training diverged: the loss was {state.train_loss} at step {state.step}"
            f"{', before any update' if state.step == 1 else ''}, whose batch holds {found}: clean "
            "the data (drop those rows, or torch.nan_to_num)"
        )


def _last_pass_ended(state: TrainState, epochs: int | None) -> bool:
    """Whether the batch ``state`` read last ended the last of ``epochs`` passes, or was read in a pass
    past them (a run resumed with fewer epochs than its checkpoint's, over data whose length is not
    known: it ends at once, as over data of a known length, whose steps are then all taken)."""
    if epochs is None:
        return False
    return state.epoch + 1 > epochs or (state.epoch_ended and state.epoch + 1 == epochs)


def _epochs_steps(epochs: int, batches: UserBatches, accumulate: int) -> int | None:
    """The optimizer steps ``epochs`` passes over ``batches`` take, in groups of ``accumulate`` batches
    (groups never span an epoch's end); None while the data's length is not known."""
    if batches.steps_per_epoch is None:
        return None
    return epochs * math.ceil(batches.steps_per_epoch / accumulate)


_HOOKS = ("on_train_start", "on_step_end", "on_evaluate", "on_train_end")


def _resume_point(state: TrainState, accumulate: int) -> tuple[int, int]:
    """``(epoch, batch)``: the pass and the index in it of the first batch that the step after ``state``'s
    takes, in groups of ``accumulate`` batches (:func:`_groups`). Where an epoch's length is not counted
    (data of no ``__len__``: its first pass, or passes of different lengths), the state's place in its
    pass says it (a checkpoint of before it was kept: in the first pass)."""
    if state.batches_per_epoch:
        epoch, group = divmod(state.step, state.steps_per_epoch)
        return epoch, group * accumulate
    if state.epoch_ended:
        return state.epoch + 1, 0
    if state.epoch_batches is None or not state.step:
        return 0, state.step * accumulate
    return state.epoch, state.epoch_batches


def _groups(
    batches: UserBatches, stream: Iterator[tuple[int, Any]], accumulate: int
) -> Iterator[tuple[int, list[Any]]]:
    """``(epoch, batches)`` of each optimizer step of ``stream``: ``accumulate`` batches, fewer where the
    pass ends first (:attr:`~optimlab.data.user_batches.UserBatches.pass_ends`, told by its last batch)."""
    group: list[Any] = []
    for epoch, batch in stream:
        group.append(batch)
        if len(group) == accumulate or batches.pass_ends:
            yield epoch, group
            group = []


def _count_epoch(state: TrainState, batches: UserBatches, accumulate: int) -> None:
    """Set ``state``'s batches and optimizer steps an epoch (0: not known until an epoch has been read)."""
    state.batches_per_epoch = batches.steps_per_epoch or 0
    state.steps_per_epoch = math.ceil(state.batches_per_epoch / accumulate)


def _weights(
    batches: UserBatches, group: list[Any], *, weighs: Callable[[Any], bool] | None
) -> list[float] | None:
    """The weight of each batch's loss in the group's: what its mean averages over (its rows, or a
    cross-entropy's targets not ignored: :func:`~optimlab.train.evaluation.batch_weight`) over the
    group's, so that mean losses add up to the mean over the whole group (one batch: its loss as it is).
    None where the group averages over nothing (every target ignored): torch's mean is 0/0, NaN, a batch
    with nothing to learn from rather than a divergence. A single batch is only asked whether it
    ``weighs`` anything (:func:`~optimlab.train.evaluation.batch_weighs`), and not at all where its loss
    may not average over nothing (None: :func:`may_score_nothing`), the per-step cost of the hot path."""
    if len(group) == 1:
        return [1.0] if weighs is None or weighs(group[0]) else None
    counts = [batch_weight(batches, batch) for batch in group]
    total = sum(counts)
    if not total:
        return None
    return [count / total for count in counts]


def may_score_nothing(batches: UserBatches) -> bool:
    """Whether a batch's loss may average over nothing (a cross-entropy's, the model's own over -100s), so
    that :func:`_weights` reads each single batch's targets before its step. Decided once a run: where
    the data are a pair of tensors, only if some target is one the loss leaves out (its ignore_index, a
    class of weight 0), since that read (:func:`~optimlab.train.evaluation.batch_weighs`) is paid at
    every step: 5 us a batch of 32 (batch_weight's 23 us where it falls back on it) beside a small model's
    step of about 0.75 ms (timeit, one thread, 2026-12-06; docs/benchmarks.md, train_loop_dataloader)."""
    if batches.loss_fn is None:  # the model's own loss, over labels all -100 (Hugging Face's)
        return True
    if cross_entropy_reading(batches.loss_fn) is None:  # batch_weight counts its rows: never none
        return False
    return batches.tensors is None or leaves_out_some(batches.loss_fn, batches.tensors[1])


def _nothing_scored(batches: UserBatches, steps: int) -> InvalidValueError:
    """The refusal of data whose every step of a whole epoch (``steps``) held no target the loss scores:
    no update would ever be made."""
    ignored = ignored_label(batches.loss_fn)
    return InvalidValueError(
        batches.field,
        f"{batches.source} whose {steps} steps of an epoch hold no target the loss scores"
        + ("" if ignored is None else f" (every one its ignore_index {ignored})"),
        "data with targets the loss scores in some batch: labels other than the ignored one",
    )


def _check_callbacks(callbacks: Any) -> None:
    """Refuse in one line ``callbacks`` that are not a list of callbacks (one given alone, a function),
    which failed only once training had begun, at their first hook."""
    if not isinstance(callbacks, Sequence) or isinstance(callbacks, str):
        raise InvalidValueError(
            "callbacks", describe(callbacks), "a list of them, even of one: [MetricsLog(...)]"
        )
    for callback in callbacks:
        missing = [hook for hook in _HOOKS if not callable(getattr(callback, hook, None))]
        if missing:
            raise InvalidValueError(
                "callbacks",
                f"{describe(callback)} without {', '.join(missing)}",
                "optimlab.train.Callback objects (subclass it; every hook is optional)",
            )


def _check_schedule_length(scheduler: Any, steps: int) -> None:
    """Refuse a ``OneCycleLR`` with fewer steps left than fit takes: its step past the last raised its
    ValueError ('Tried to step 6 times') in the middle of training."""
    if isinstance(scheduler, OneCycleLR) and scheduler.last_epoch + steps > scheduler.total_steps:
        raise InvalidValueError(
            "scheduler",
            f"a OneCycleLR of total_steps={scheduler.total_steps} with {steps} steps to take",
            f"a OneCycleLR of total_steps={scheduler.last_epoch + steps} or more: one step each optimizer "
            "step fit takes (total_steps, or epochs x batches an epoch)",
        )


def _step_undone(optimizer: torch.optim.Optimizer, closure: Callable[[], torch.Tensor]) -> None:
    """Step ``optimizer`` and put its parameters and state back as they were: its step hooks see the
    step's gradients (the doctor traces a NaN to its origin from them), and the update is undone."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    weights = [p.detach().clone() for p in params]
    kept = copy.deepcopy(optimizer.state_dict())
    step_with(optimizer, closure)
    with torch.no_grad():
        torch._foreach_copy_(params, weights)
    optimizer.load_state_dict(kept)


def refuse_unread(
    given: Mapping[str, Any], reads: Sequence[str], data: Any, source: str, also_reads: Sequence[str] = ()
) -> None:
    """Refuse a batching argument of ``given`` (None: not given) that ``data`` (``source``, in words)
    does not read, ``reads`` naming those it does (a DataLoader batches itself: none), in one line
    saying where to set it instead, rather than dropping it silently. Batches already made (a
    UserBatches) read none; a ``seed`` is read where ``shuffle`` is (it draws the rows' order), and where
    the caller's ``also_reads`` names it (a seed that also holds rows out or draws dropout)."""
    reads = () if isinstance(data, UserBatches) else reads
    read = (*reads, *(("seed",) if "shuffle" in reads else ()), *also_reads)
    unread = [(k, v) for k, v in given.items() if v is not None and k not in read]
    if not unread:
        return
    (name, value), *_ = unread
    does = "reads its items in their own order" if reads else "batches the data itself"
    where = "generator=torch.Generator().manual_seed(...)" if name == "seed" else f"{name}=..."
    how = f": DataLoader(..., {where})" if isinstance(data, DataLoader) else ""
    raise InvalidValueError(name, value, f"left unset beside {source}, which {does}{how}")


def check_short_batch(model: nn.Module, batches: UserBatches) -> None:
    """Refuse, before any step, data whose epochs end in a batch of one row where the model normalizes
    by batch statistics in training: torch's batch norm cannot, and raised its ValueError ('Expected
    more than 1 value per channel') at the end of the first epoch, after it had trained."""
    short = batches.short_batch()
    norms = [
        m for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or not model.training)
    ]  # fmt: skip
    if short is None or short[0] != 1 or not norms:
        return
    raise InvalidValueError(
        "batch_size" if "batch_size" in batches.settings else "the DataLoader's batch_size",
        short[1],
        f"a batch size that leaves no batch of one row: with {batches.source}, each epoch's last batch holds "
        f"one, which the model's {type(norms[0]).__name__} cannot normalize in training (drop_last=True, or "
        "another batch size)",
    )


def _not_finite(group: list[Any]) -> str | None:
    """The NaN and infinite values the floating tensors of ``group``'s batches hold, in words ('2 NaN
    values and 1 infinite value'); None where there are none."""
    tensors = [t for batch in group for t in tensors_in(batch) if t.is_floating_point()]
    nan = sum(int(t.isnan().sum()) for t in tensors)
    inf = sum(int(t.isinf().sum()) for t in tensors)
    counted = [
        f"{n} {what} value{'s' if n > 1 else ''}" for n, what in ((nan, "NaN"), (inf, "infinite")) if n
    ]
    return " and ".join(counted) or None


def _dtypes_refused(error: ValueError, model: nn.Module, group: list[Any]) -> ValueError:
    """``error``, or, where the first batch failed in the model on a dtype (torch's 'mat1 and mat2 must
    have the same dtype, but got Float and Double') and the model's floating parameters are of another
    dtype than the batch's floating tensors (a float64 model on float32 data), the refusal saying which
    and how to cast one to the other."""
    cause = error.__cause__
    if not (isinstance(error, InvalidValueError) and isinstance(cause, RuntimeError)):
        return error
    if not any(words in str(cause) for words in ("dtype", "scalar type", "weight type", "bias type")):
        return error
    weights = {p.dtype for p in model.parameters() if p.is_floating_point()}
    inputs = {t.dtype for batch in group for t in tensors_in(batch) if t.is_floating_point()}
    if len(weights) != 1 or not inputs or weights <= inputs:  # some tensor of the model's dtype: not it
        return error
    (weight,) = weights
    given = ", ".join(sorted(str(dtype) for dtype in inputs))
    return InvalidValueError(
        error.field,
        error.value,
        f"{error.accepted}: the model's parameters are {weight}, the batch's tensors {given}; cast one to "
        f"the other (model.to({given.split(',')[0]}), or the data's tensors .to({weight}))",
    )


def one_row_refused(error: ValueError, model: nn.Module, group: list[Any], step: int) -> ValueError:
    """``error``, or, where torch's batch norm could not normalize a batch of one row (its ValueError
    'Expected more than 1 value per channel when training', raised mid-training by a stream or a list
    of batches whose last holds one row, which :func:`check_short_batch` cannot see beforehand), a
    refusal in one line naming the step and the batch."""
    if "Expected more than 1 value per channel" not in str(error):
        return error
    norm = next((m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)), None)
    return InvalidValueError(
        "the first batch" if step == 1 else f"the batch of step {step}",
        describe(next((b for b in group if batch_rows(b) == 1), group[0])),
        f"batches of more than one row, which the model's {type(norm).__name__ if norm else 'batch norm'} "
        "normalizes by their statistics in training (drop the last, short batch: drop_last=True)",
    )


def raise_refusal(error: BaseException, refusal: BaseException) -> NoReturn:
    """Raise ``refusal`` (the one line naming a batch, as :func:`one_row_refused` gives it) from
    ``error``, its cause; ``error`` itself where ``refusal`` is it: nothing names the batch better."""
    if refusal is error:
        raise error
    raise refusal from error


def _check_metrics(metrics: Any, val_data: Any) -> None:
    """Refuse in one line ``metrics`` that are no mapping of names to functions, or that have no
    ``val_data`` to be computed on (an ``evaluate`` computes its own)."""
    if metrics is None:
        return
    if not isinstance(metrics, Mapping) or not all(
        isinstance(name, str) and callable(metric) for name, metric in metrics.items()
    ):
        raise InvalidValueError(
            "metrics", describe(metrics), "a dict of name -> metric(outputs, targets): {'f1': f1}"
        )
    if val_data is None:
        raise InvalidValueError(
            "metrics",
            f"{', '.join(metrics)} without val_data",
            "metrics beside val_data, the split they score",
        )
    taken = [name for name in metrics if name in OWN_METRICS]
    if taken:  # its value would replace the evaluation's own
        raise InvalidValueError(
            "metrics", f"a metric named {taken[0]!r}", f"names other than {', '.join(OWN_METRICS)}"
        )


def _graphed_loss(batches: UserBatches, model: nn.Module, batch: Any) -> torch.Tensor:
    """The loss of ``batch`` (:meth:`UserBatches.compute_loss`), refused in one line where it has no graph
    back to the model's parameters (check_model saw some that train), so that backward would fail with
    torch's 'element 0 of tensors does not require grad', blamed on the batch; or where torch's
    elementwise loss broadcasts outputs and targets of two shapes (:func:`check_paired`)."""
    made = batches.forward(model, batch)
    check_paired(batches.loss_fn, made.prediction, made.target)
    loss = made.loss
    if not loss.requires_grad:
        raise InvalidValueError(
            "the loss",
            f"{describe(loss)} that does not require grad",
            "a loss computed from the model's outputs with autograd on: not under torch.no_grad() or "
            "inference_mode, nor through .item(), .detach() or numpy",
        )
    return loss


def _step_on_plateau(
    scheduler: PlateauLR | ReduceLROnPlateau, metrics: Mapping[str, float], plateau_metric: str
) -> None:
    """Give a reduce-on-plateau ``scheduler`` the evaluation's ``plateau_metric`` (a PlateauLR counts
    steps apart, once per optimizer step; torch's ReduceLROnPlateau counts only evaluations)."""
    if plateau_metric not in metrics:
        raise InvalidValueError(
            "plateau_metric", plateau_metric, f"a metric the evaluation gives: {', '.join(sorted(metrics))}"
        )
    if isinstance(scheduler, PlateauLR):
        scheduler.plateau.step(metrics[plateau_metric])
    else:
        scheduler.step(metrics[plateau_metric])


def training_batches(
    data: Any,
    y: torch.Tensor | None,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None,
    compute_loss: Callable[[nn.Module, Any], torch.Tensor] | None,
    **batching: Any,
) -> UserBatches:
    """``data`` (with ``y``: the inputs beside their targets) as :class:`UserBatches`; batches already
    made as they are, a ``y``, ``loss_fn`` or ``compute_loss`` beside them refused, never dropped."""
    if isinstance(data, UserBatches):
        for name, value in (("y", y), ("loss_fn", loss_fn), ("compute_loss", compute_loss)):
            if value is not None:
                raise InvalidValueError(
                    name,
                    describe(value),
                    f"None beside batches already made ({data.source}), which hold their own targets and "
                    "loss (UserBatches' loss_fn or compute_loss)",
                )
        return data
    if y is not None:
        arrays = (torch.Tensor, np.ndarray)
        if not (isinstance(data, arrays) or is_pandas(data)) or not (isinstance(y, arrays) or is_pandas(y)):
            raise InvalidValueError(
                "y",
                describe(y),
                f"targets beside input tensors or arrays x (got data {describe(data)}); "
                "a Dataset or DataLoader holds its own targets",
            )
        data = (data, y)
    return UserBatches(data, loss_fn, compute_loss=compute_loss, **batching)


def try_metrics(
    model: nn.Module, evaluate: Callable[..., dict[str, float]], *, most: int | None
) -> dict[str, float]:
    """Run an evaluation with the user's metrics once before training, so that a metric that raises (or
    gives no number) is said in seconds, not after the first epoch: ``evaluate(most=1)``, its first
    batch, else, where that alone fails (a metric of both classes on a batch of one class), the pass of
    ``most`` batches each evaluation reads, which fails as the first evaluation would. The model's
    modes and the global generators (:func:`global_generators_given_back`: torch's, from which a
    DataLoader draws its workers' seed, and NumPy's and Python's, which a Dataset's augmentation may
    draw from) are left as they were, so training draws as it would without val data; the first batch's
    warnings are not shown (sklearn's roc_auc_score warns of a batch of one class).
    Returns the metrics it gave."""
    with modes_kept(model), global_generators_given_back():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return evaluate(most=1)
        except OptimlabError:
            return evaluate(most=most)


def _training_data_refused(
    model: nn.Module, batches: UserBatches, device: torch.device
) -> InvalidValueError | None:
    """The refusal of the training data's first batch (``batches``), where the model or the loss cannot
    take it: val data refused before training (float targets of a cross-entropy) was named alone,
    "the first batch of the val data", where the training data, read first by the run, had the same
    fault. None where it takes it. Read without a gradient, the model's modes and the global generators
    given back (as :func:`try_metrics` reads): the run is refused either way."""
    field = "the first batch of the training data"
    with modes_kept(model), global_generators_given_back(), torch.no_grad():
        try:
            batch = next(batches_read(batches.one_pass(device), batches, "the training data"), None)
            if batch is not None:
                first_loss(functools.partial(batches.forward, model, batch), batch, field)
        except InvalidValueError as refusal:
            return refusal
    return None


def train_mode(model: nn.Module) -> None:
    """Put ``model`` in training mode as its own training would: a model handed over in eval mode (as
    Hugging Face's ``from_pretrained`` returns it) goes wholly to ``train()``; one already in training
    mode keeps the layers its user set to eval (a frozen batch norm, whose running statistics stay)."""
    if not model.training:
        model.train()


def switches_modes(optimizer: Any) -> bool:
    """Whether ``optimizer`` keeps two points, as schedule-free ones do (Defazio et al. 2024,
    arXiv:2405.15682): ``optimizer.train()`` before its steps, ``optimizer.eval()`` before evaluating."""
    return hasattr(optimizer, "train") and hasattr(optimizer, "eval")


@contextlib.contextmanager
def at_training_point(optimizer: Any) -> Iterator[None]:
    """The block steps ``optimizer`` at its training point (:func:`switches_modes`), and leaves it at the
    point it evaluates at, even when the block raises; optimizers with one point are left alone."""
    two_points = switches_modes(optimizer)
    if two_points:
        optimizer.train()
    try:
        yield
    finally:
        if two_points:
            optimizer.eval()


def step_with(optimizer: torch.optim.Optimizer, closure: Callable[[], torch.Tensor]) -> None:
    """``optimizer.step(closure)`` where the optimizer evaluates the loss again in its step (SAM: a
    second gradient at a perturbed point; torch's LBFGS: a line search), else ``optimizer.step()`` on
    the gradients already taken."""
    if needs_closure(optimizer):
        optimizer.step(closure)
    else:
        optimizer.step()


OPTIMIZER_EXAMPLE = "torch.optim.SGD(model.parameters(), lr=0.1)"
AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)  # what torch.autocast casts to (on CPU as on GPU)
SCHEDULER_INTERVALS = ("step", "epoch")  # when a scheduler steps: Lightning's lr_scheduler "interval"


def check_scheduler(scheduler: Any, optimizer: torch.optim.Optimizer) -> None:
    """Refuse in one line a ``scheduler`` that is no scheduler instance (a schedule function, a class),
    or one over another optimizer than ``optimizer``: stepped, it would change no lr fit uses."""
    if scheduler is None:
        return
    if isinstance(scheduler, type) or not callable(getattr(scheduler, "step", None)):
        got = f"the class {scheduler.__name__}" if isinstance(scheduler, type) else describe(scheduler)
        raise InvalidValueError(
            "scheduler",
            got,
            "a torch LR scheduler over the optimizer (StepLR(optimizer, ...)); an optimlab schedule as one: "
            "optimlab.schedules.as_lr_scheduler(optimizer, schedule)",
        )
    if getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise InvalidValueError(
            "scheduler",
            f"{a_type(scheduler)} over another optimizer",
            "a scheduler over the optimizer fit steps",
        )


def check_optimizer(optimizer: Any, model: nn.Module | None = None, *, accepted: str = "") -> None:
    """Refuse in one line anything but an optimizer instance (its class, a name) where one is stepped,
    and, given ``model``, one that steps none of its trainable parameters (built over another model:
    training would change nothing), or whose hyperparameters hold a NaN (or an lr not finite: torch's
    SGD takes them); ``accepted``: what else the caller takes."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        got = f"the class {optimizer.__name__}" if isinstance(optimizer, type) else describe(optimizer)
        what = f"a torch.optim.Optimizer over the model's parameters ({OPTIMIZER_EXAMPLE}){accepted}"
        raise InvalidValueError("optimizer", got, what)
    trainable = {id(p) for p in model.parameters() if p.requires_grad} if model is not None else set()
    if trainable and not any(id(p) in trainable for group in optimizer.param_groups for p in group["params"]):
        raise InvalidValueError(
            "optimizer",
            f"{a_type(optimizer)} over none of the model's trainable parameters",
            f"an optimizer over the model's parameters ({OPTIMIZER_EXAMPLE})",
        )
    for index, group in enumerate(optimizer.param_groups):
        for name, value in group.items():
            # SGD takes lr=nan, and its NaN weights were blamed on the lr being too high
            if name != "params" and not _finite(value, infinite=name != "lr"):
                raise InvalidValueError(
                    f"the optimizer's {name} (param group {index})",
                    value,
                    "a finite number" if name == "lr" else "a number, not NaN",
                )


def _finite(value: Any, *, infinite: bool) -> bool:
    """Whether ``value``, a group's hyperparameter (a number, a one-element tensor, or a tuple of them:
    Adam's betas), holds no NaN (nor an infinity unless ``infinite``); anything else (a flag, None)
    passes."""
    if isinstance(value, (tuple, list)):
        return all(_finite(v, infinite=infinite) for v in value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        value = value.item()
    return not isinstance(value, float) or not (math.isnan(value) or (math.isinf(value) and not infinite))
