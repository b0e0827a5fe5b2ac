"""The training loop: as lean as a hand-written one, extended through callbacks.

It takes the user's data as it comes (:class:`~optimlab.data.user_batches.UserBatches`: tensors, a
Dataset, a DataLoader, batches as tuples or dicts, a loss function or the model's own loss). In-memory
tensors and Datasets are drawn by a permutation that depends only on (seed, epoch), or in the rows' own
order (``shuffle=False``, the sequential batches of DeepOBS's and MNIST-1D's protocols), so a run
resumed at any step sees exactly the batches an uninterrupted run would have seen; two tensors with a
``loss_fn`` take the fast path, indexed directly with no checks a step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from optimlab.data.batches import epoch_order, epoch_permutation, steps_per_epoch
from optimlab.data.examples import zero_one
from optimlab.data.user_batches import TARGET_KEYS, UserBatches, describe, own_pairs
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.models.user import LossFunction
from optimlab.registry import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT
from optimlab.schedules.torch_adapter import PlateauLR

_Out = TypeVar("_Out")

__all__ = [
    "EVAL_BATCH",
    "Callback",
    "TrainState",
    "at_training_point",
    "class_dim",
    "clip_grad_norm_",
    "epoch_order",
    "epoch_permutation",
    "evaluate_batches",
    "evaluates_after",
    "first_loss",
    "fit",
    "hits",
    "step_with",
    "steps_per_epoch",
    "switches_modes",
]

EVAL_BATCH = 4096  # rows per forward pass at evaluation; the built-in sets fit in one or two


@dataclasses.dataclass
class TrainState:
    """What the loop knows about the run so far; callbacks read it and may set ``stop_reason``."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    train_loss: float = math.nan  # loss of the last batch
    lr: float = math.nan  # learning rate of the first param group used by the last step
    seconds: float = 0.0  # wall time spent in fit up to the last step, summed over resumed segments
    stop_reason: str | None = None  # set to stop the loop after the current step
    diverged: bool = False  # a non-finite loss stopped the run
    interrupted: bool = False  # a signal (Ctrl-C, SIGTERM) stopped the run, to resume later
    last_metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # of the last evaluation

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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


class Callback:
    """Hooks into :func:`fit`. Every hook is optional; a callback with state to resume keeps it in
    ``state_dict``/``load_state_dict``."""

    def on_train_start(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def evaluates_after(step: int, *, eval_every: int | None, steps_per_epoch: int, total_steps: int) -> bool:
    """Whether a loop evaluates after its ``step``-th step: every ``eval_every`` steps (default: once an
    epoch) and after the last."""
    return step % (eval_every or steps_per_epoch) == 0 or step >= total_steps


def clip_grad_norm_(grads: Sequence[torch.Tensor], max_norm: float, *, stacked: bool = False) -> None:
    """Scale ``grads`` in place by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` their global 2-norm, as
    :func:`torch.nn.utils.clip_grad_norm_` does (Pascanu et al. 2013, https://arxiv.org/abs/1211.5063).

    ``stacked``: the gradients of K members, ``(K, ...)`` each, every member clipped by its own norm.
    """
    if stacked:
        norms = [torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]  # (K,) each
    else:
        norms = list(torch._foreach_norm(list(grads)))
    coefficient = (max_norm / (torch.linalg.vector_norm(torch.stack(norms), dim=0) + 1e-6)).clamp(max=1.0)
    if stacked:
        torch._foreach_mul_(list(grads), [coefficient.view(-1, *(1,) * (g.ndim - 1)) for g in grads])
    else:
        torch._foreach_mul_(list(grads), coefficient)


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
    batch_size: int = 32,
    seed: int = 0,
    scheduler: Any | None = None,
    grad_clip_norm: float | None = None,
    val_data: Any | None = None,
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_every: int | None = None,
    callbacks: Sequence[Callback] = (),
    state: TrainState | None = None,
    autocast_dtype: torch.dtype | None = None,
    plateau_metric: str = "val_loss",
    drop_last: bool = False,
    shuffle: bool = True,
) -> TrainState:
    """Train ``model`` on ``data`` for ``total_steps`` optimizer steps, or ``epochs`` passes over it
    (continuing ``state``).

    Args:
        data: the training data as a PyTorch user has it (:class:`~optimlab.data.user_batches.UserBatches`
            takes it: tensors ``x`` with their targets ``y``, a pair ``(x, y)``, a Dataset, a DataLoader or
            any re-iterable of batches, tuples, lists or dicts; or a ``UserBatches`` itself).
        loss_fn: ``loss_fn(outputs, targets)``; None when the model returns its own loss
            (``model(**batch).loss``) or ``compute_loss(model, batch)`` is given.
        total_steps, epochs: how long to train, one of the two (epochs: a known number of batches
            each, so not for data whose length is unknown).
        batch_size, seed, shuffle, drop_last: the batches of tensors and Datasets (a DataLoader keeps
            its own): rows permuted from (seed, epoch), or in order unless ``shuffle``, and an epoch's
            last, smaller batch kept or dropped, as a DataLoader means them.
        val_data: validation data in any of the same shapes, evaluated to ``val_loss`` (and
            ``val_accuracy`` where predictions are class scores of integer targets, ``val_rmse`` where
            they are a regression's values: :func:`evaluate_batches`); or ``evaluate``, any
            ``() -> metrics``.
        eval_every: evaluate every this many steps (default: once an epoch) and at the end; the metrics
            reach callbacks.

    ``scheduler`` is stepped once per optimizer step (any torch LRScheduler); a reduce-on-plateau
    scheduler (torch's ``ReduceLROnPlateau``, or :class:`~optimlab.schedules.PlateauLR`) sees
    ``plateau_metric`` of each evaluation instead, so it needs ``val_data`` or ``evaluate``. A
    non-finite loss stops the run with ``state.diverged`` and a message in ``state.stop_reason``. A
    first batch the model or the loss cannot use raises :class:`~optimlab.errors.InvalidValueError`
    naming it.

    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    >>> model = nn.Linear(3, 2)
    >>> state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), DataLoader(TensorDataset(x, y), batch_size=16),
    ...             loss_fn=nn.CrossEntropyLoss(), total_steps=8, val_data=(x, y))
    >>> state.step, state.steps_per_epoch, sorted(state.last_metrics)
    (8, 4, ['val_accuracy', 'val_loss'])
    """
    check_optimizer(optimizer, model)
    if (total_steps is None) == (epochs is None):
        raise InvalidValueError(
            "total_steps and epochs", f"{total_steps} and {epochs}", "one of them, the other None"
        )
    for name, value in (("total_steps", total_steps), ("epochs", epochs)):
        if value is not None and not NON_NEGATIVE_INT.contains(value):
            raise InvalidValueError(name, value, str(NON_NEGATIVE_INT))
    # The recipe's ranges (TrainingSpec): a norm of 0 zeroes every gradient and a negative one turns
    # descent into ascent; an interval of 0 would evaluate once an epoch, a negative one every step.
    for name, value, allowed in (
        ("grad_clip_norm", grad_clip_norm, POSITIVE),
        ("eval_every", eval_every, POSITIVE_INT),
    ):
        if value is not None and not allowed.contains(value):
            raise InvalidValueError(name, value, f"{allowed}, or None")
    batches = _training_batches(
        data, y, loss_fn, compute_loss, batch_size=batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last
    )
    if val_data is not None:
        if evaluate is not None:
            raise InvalidValueError("evaluate", "both val_data and evaluate", "one of them")
        validation = UserBatches(
            val_data, loss_fn, compute_loss=compute_loss, batch_size=EVAL_BATCH, shuffle=False
        )
        evaluate = lambda: evaluate_batches(model, validation, prefix="val")  # noqa: E731
    # A PlateauLR also counts optimizer steps; torch's ReduceLROnPlateau steps on evaluations only.
    on_evaluations = isinstance(scheduler, (PlateauLR, ReduceLROnPlateau))
    each_step = scheduler is not None and not isinstance(scheduler, ReduceLROnPlateau)
    if on_evaluations and evaluate is None:
        raise InvalidValueError(
            "scheduler",
            f"a {type(scheduler).__name__} with no evaluation to read {plateau_metric} from",
            "a reduce-on-plateau scheduler together with val_data (or evaluate), or any other scheduler",
        )
    if epochs is not None:
        if not batches.steps_per_epoch:
            raise InvalidValueError(
                "epochs", epochs, f"None for {batches.source}, whose length is not known: total_steps"
            )
        total_steps = epochs * batches.steps_per_epoch
    assert total_steps is not None  # checked above: exactly one of the two was given
    device = next(model.parameters()).device
    state = state or TrainState()
    state.steps_per_epoch = batches.steps_per_epoch or 0  # 0: not known until an epoch has been read
    state.total_steps, state.stop_reason, state.interrupted = total_steps, None, False
    amp = (
        torch.autocast(device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    for callback in callbacks:
        callback.on_train_start(state)

    started, earlier = time.perf_counter(), state.seconds
    model.train()
    two_points = switches_modes(optimizer)
    if two_points:
        optimizer.train()
    # The first batch takes the checked path, so that a loss of the wrong shape is named as the loss.
    loss_of, checked = batches.loss_function(model), functools.partial(batches.compute_loss, model)
    stream = batches.from_step(state.step, device)
    first = True
    while state.step < total_steps and state.stop_reason is None:
        state.epoch, batch = next(stream)
        state.steps_per_epoch = batches.steps_per_epoch or 0

        def closure() -> torch.Tensor:
            with amp:
                loss = (checked if first else loss_of)(batch)  # noqa: B023  (called within this iteration only)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip_norm is not None:
                clip_grad_norm_([p.grad for p in model.parameters() if p.grad is not None], grad_clip_norm)
            return loss

        loss = first_loss(closure, batch) if first else closure()
        first = False
        state.lr = optimizer.param_groups[0]["lr"]
        step_with(optimizer, closure)
        if each_step:
            scheduler.step()
        state.step += 1
        # Kept current, not added at the end: the last step's checkpoint, taken in on_step_end, must
        # hold this segment's time too, or a resumed run's clock starts again from the earlier ones.
        state.seconds = earlier + time.perf_counter() - started
        state.train_loss = loss.item()

        state.stop_if_diverged()
        if state.steps_per_epoch:
            due = evaluates_after(
                state.step,
                eval_every=eval_every,
                steps_per_epoch=state.steps_per_epoch,
                total_steps=total_steps,
            )
        else:  # the epoch's length is not known yet: it has not ended
            due = (bool(eval_every) and state.step % eval_every == 0) or state.step >= total_steps
        if evaluate is not None and not state.diverged and (due or state.stop_reason is not None):
            if two_points:
                optimizer.eval()
            state.last_metrics = evaluate()
            if two_points:
                optimizer.train()
            if on_evaluations:
                _step_on_plateau(scheduler, state.last_metrics, plateau_metric)
            model.train()
            for callback in callbacks:
                callback.on_evaluate(state, state.last_metrics)
        # After the evaluation, so that a checkpoint taken here holds everything about this step.
        for callback in callbacks:
            callback.on_step_end(state)

    state.seconds = earlier + time.perf_counter() - started
    if two_points:  # leave the weights at the point the optimizer evaluates at
        optimizer.eval()
    for callback in callbacks:
        callback.on_train_end(state)
    return state


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


def _training_batches(
    data: Any,
    y: torch.Tensor | None,
    loss_fn: Callable[[Any, Any], torch.Tensor] | None,
    compute_loss: Callable[[nn.Module, Any], torch.Tensor] | None,
    **batching: Any,
) -> UserBatches:
    """``data`` (with ``y``: the inputs beside their targets) as :class:`UserBatches`."""
    if isinstance(data, UserBatches):
        if y is not None or loss_fn is not None or compute_loss is not None:
            raise InvalidValueError(
                "data", "UserBatches with y, loss_fn or compute_loss", "UserBatches alone (it holds its loss)"
            )
        return data
    if y is not None:
        if not isinstance(data, (torch.Tensor, np.ndarray)) or not isinstance(y, (torch.Tensor, np.ndarray)):
            raise InvalidValueError(
                "y",
                describe(y),
                f"targets beside input tensors or arrays x (got data {describe(data)}); "
                "a Dataset or DataLoader holds its own targets",
            )
        data = (data, y)
    return UserBatches(data, loss_fn, compute_loss=compute_loss, **batching)


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
    second gradient at a perturbed point), else ``optimizer.step()`` on the gradients already taken."""
    if getattr(optimizer, "needs_closure", False):
        optimizer.step(closure)
    else:
        optimizer.step()


OPTIMIZER_EXAMPLE = "torch.optim.SGD(model.parameters(), lr=0.1)"


def check_optimizer(optimizer: Any, model: nn.Module | None = None, *, accepted: str = "") -> None:
    """Refuse in one line anything but an optimizer instance (its class, a name) where one is stepped,
    and, given ``model``, one that steps none of its trainable parameters (built over another model:
    training would change nothing); ``accepted``: what else the caller takes."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        got = f"the class {optimizer.__name__}" if isinstance(optimizer, type) else describe(optimizer)
        what = f"a torch.optim.Optimizer over the model's parameters ({OPTIMIZER_EXAMPLE}){accepted}"
        raise InvalidValueError("optimizer", got, what)
    trainable = {id(p) for p in model.parameters() if p.requires_grad} if model is not None else set()
    if trainable and not any(id(p) in trainable for group in optimizer.param_groups for p in group["params"]):
        raise InvalidValueError(
            "optimizer",
            f"a {type(optimizer).__name__} over none of the model's trainable parameters",
            f"an optimizer over the model's parameters ({OPTIMIZER_EXAMPLE})",
        )


def first_loss(closure: Callable[[], _Out], batch: Any, field: str = "the first batch") -> _Out:
    """The first step's loss (or a first evaluation's outputs); a batch that the model or the loss
    cannot take is named in one line, as bad input, ``field`` saying which, rather than surfacing as a
    traceback from deep inside the user's model."""
    try:
        return closure()
    except (RuntimeError, TypeError, ValueError, IndexError, KeyError, AttributeError) as error:
        if isinstance(error, OptimlabError):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise InvalidValueError(
            field,
            describe(batch),
            f"a batch the model and the loss can use ({type(error).__name__}: {reason})",
        ) from error


@torch.inference_mode()
def evaluate_batches(
    model: nn.Module,
    batches: UserBatches,
    *,
    prefix: str,
    metrics: Mapping[str, Callable[[torch.Tensor, torch.Tensor], Any]] | None = None,
    per_batch: list[float] | None = None,
) -> dict[str, float]:
    """Mean loss over one pass of ``batches`` (each batch weighted by what its mean averaged over: its
    rows, or the targets a cross-entropy did not ignore: :func:`_averaged_over`), accuracy where
    predictions are class scores of integer targets (positions the loss ignores skipped), and RMSE over
    every value where they are a regression's under torch's MSE, L1, smooth L1 or Huber loss: a dict
    batch's targets are
    under ``labels`` (:data:`~optimlab.data.user_batches.TARGET_KEYS`), its predictions the outputs'
    ``.logits``. Each of the user's ``metrics`` (``f1(outputs, targets)``) gets the predictions and
    targets of the whole pass, as ``{prefix}_{name}``; each batch's loss is also appended to
    ``per_batch`` if given (the lr check pairs candidates batch by batch)."""
    model.eval()
    device = next(model.parameters()).device
    total = rows = correct = labels = 0.0  # rows: what the batches' mean losses averaged over
    squared = values = 0.0  # of a regression: squared errors and how many values they cover
    kept: list[tuple[Any, Any]] = []  # (prediction, target) of each batch, for the user's metrics
    for i, batch in enumerate(batches.one_pass(device)):
        if i:
            out = batches.forward(model, batch)
        else:  # validation data the model or its loss cannot take: named in one line
            field = f"the first batch of the {prefix} data"
            out = first_loss(functools.partial(batches.forward, model, batch), batch, field)
        if per_batch is not None:
            per_batch.append(out.loss.item())
        predicted, target = out.prediction, out.target
        paired = own_pairs(out) if batches.loss_fn is None else _as_labels(batches.loss_fn, predicted, target)
        if paired is not None:  # the model's own loss: its scores and labels as it paired them
            predicted, target = paired
        n = _rows(batch)
        weight = n if paired is None else _averaged_over(batches.loss_fn, predicted, target, n)
        if weight:  # a batch of padding alone: its mean is 0 / 0, and it weighs nothing
            total, rows = total + out.loss.item() * weight, rows + weight
        found = (
            hits(predicted, target, **_class_reading(batches.loss_fn, predicted, target))
            if paired is not None and isinstance(predicted, torch.Tensor) and isinstance(target, torch.Tensor)
            and predicted.is_floating_point()
            else None
        )  # fmt: skip
        if found is not None:
            correct += found[0].sum().item()
            labels += found[1].sum().item()
        elif _regresses(batches.loss_fn, predicted, target):
            squared += (predicted.double() - target.double()).pow(2).sum().item()
            values += target.numel()
        if metrics:
            if not (isinstance(predicted, torch.Tensor) and isinstance(target, torch.Tensor)):
                raise InvalidValueError(
                    f"batches for the metrics {', '.join(metrics)}",
                    describe(batch),
                    f"batches holding their targets (under {TARGET_KEYS[0]!r}) and outputs a tensor or "
                    ".logits",
                )
            kept.append((predicted, target))
    if not rows:  # an empty split (data.val_fraction 0): nothing to score, as for tensors
        return {}
    found = {f"{prefix}_loss": total / rows}
    if labels:
        found[f"{prefix}_accuracy"] = correct / labels
    if values:
        found[f"{prefix}_rmse"] = math.sqrt(squared / values)
    if metrics and kept:
        outputs, targets = (torch.cat(parts) for parts in zip(*kept))
        found.update(
            {f"{prefix}_{name}": float(metric(outputs, targets)) for name, metric in metrics.items()}
        )
    return found


_REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)


def _regresses(loss_fn: Any, predicted: Any, target: Any) -> bool:
    """Whether ``predicted`` are a regression's values of ``target``, one each, under one of torch's
    regression losses: their RMSE over every value is then a metric (as for a recipe's regression)."""
    return (
        isinstance(loss_fn, _REGRESSION_LOSSES) and isinstance(predicted, torch.Tensor)
        and isinstance(target, torch.Tensor) and predicted.shape == target.shape
        and predicted.is_floating_point() and target.is_floating_point()
    )  # fmt: skip


def _averaged_over(loss_fn: Any, scores: Any, target: Any, rows: int) -> float:
    """What a batch's mean loss divides by, so that batches weighted by it give the split's mean: for
    a cross-entropy of class ids (:func:`_cross_entropy`), the targets not ignored (each by its
    class's ``weight``, as the loss divides by their sum), which padded sequences hold in unequal numbers
    from batch to batch; for the model's own loss over a sequence's positions (scores ``(..., T, C)``
    that :func:`~optimlab.data.user_batches.own_pairs` found paired with the labels as that loss pairs
    them), the labels that are not Hugging Face's ignored -100; else the batch's rows."""
    if (
        loss_fn is None and isinstance(scores, torch.Tensor) and isinstance(target, torch.Tensor)
        and target.dim() >= 2 and scores.shape[:-1] == target.shape and not target.is_floating_point()
    ):  # fmt: skip
        return float((target != -100).sum())
    reading = _cross_entropy(loss_fn)
    if not (
        reading is not None and reading.reduction == "mean"
        and isinstance(target, torch.Tensor) and not target.is_floating_point()
    ):  # fmt: skip
        return rows
    counted = target[target != reading.ignore_index]
    return float(counted.numel() if reading.weight is None else reading.weight[counted].sum())


@dataclasses.dataclass(frozen=True)
class _CrossEntropy:
    """How a cross-entropy loss reads class ids: the one it ignores, its class weights, its reduction."""

    ignore_index: int = -100
    weight: torch.Tensor | None = None
    reduction: str = "mean"


_CROSS_ENTROPY_FUNCTIONS = (nn.functional.cross_entropy, nn.functional.nll_loss)


def _cross_entropy(loss_fn: Any) -> _CrossEntropy | None:
    """``loss_fn`` as a cross-entropy of class ids (torch's ``CrossEntropyLoss`` or ``NLLLoss``, their
    functions, a ``functools.partial`` of these, or a recipe's :class:`~optimlab.models.user.LossFunction`
    of them), with the keywords it was given; None for any other loss."""
    if isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return _CrossEntropy(loss_fn.ignore_index, loss_fn.weight, loss_fn.reduction)
    fn, options = loss_fn, {}
    if isinstance(loss_fn, functools.partial) and not loss_fn.args:
        fn, options = loss_fn.func, loss_fn.keywords
    elif isinstance(loss_fn, LossFunction):
        fn, options = loss_fn.fn, loss_fn.options
    if fn not in _CROSS_ENTROPY_FUNCTIONS:
        return None
    known = {k: v for k, v in options.items() if k in ("ignore_index", "weight", "reduction")}
    return _CrossEntropy(**known)


def class_dim(scores: Sequence[int], targets: Sequence[int]) -> int | None:
    """The dimension of class scores shaped ``scores`` that holds the classes of integer targets shaped
    ``targets``: the last, ``(..., C)`` against ``(...)``, or torch's losses' second, ``(N, C, d1, ...)``
    against ``(N, d1, ...)``; None where neither fits, or where both do (``(N, 5, 5)`` against ``(N,
    5)``: the shapes alone cannot tell the classes from the positions)."""
    scores, targets = tuple(scores), tuple(targets)
    last = scores[:-1] == targets
    second = len(scores) > 2 and scores[:1] + scores[2:] == targets
    if last and second:
        return None
    return len(scores) - 1 if last else 1 if second else None


def _class_reading(loss_fn: Any, scores: torch.Tensor, targets: torch.Tensor) -> dict[str, int | None]:
    """How ``loss_fn`` reads class scores, as :func:`hits` takes it: a cross-entropy (:func:`_cross_entropy`)
    holds the classes in dimension 1 (0 for one example's ``(C,)``) and skips targets equal to its
    ``ignore_index``; the model's own loss (None) pairs them over the last dimension where that
    fits (:func:`~optimlab.data.user_batches.own_pairs` checked it); anything else is left to the
    shapes."""
    reading = _cross_entropy(loss_fn)
    if reading is not None:
        return {"dim": min(1, scores.dim() - 1), "ignore_index": reading.ignore_index}
    last = loss_fn is None and scores.dim() > 0 and scores.shape[:-1] == targets.shape
    return {"dim": scores.dim() - 1 if last else None, "ignore_index": None}


def _as_labels(loss_fn: Any, predicted: Any, target: Any) -> tuple[Any, Any]:
    """``(predicted, target)``, where torch's ``BCEWithLogitsLoss`` pairs one logit per row with float
    0/1 targets: as the logit ``(N, 1)`` and class ids ``(N,)`` that :func:`hits` reads."""
    binary = (
        isinstance(loss_fn, nn.BCEWithLogitsLoss)
        and isinstance(predicted, torch.Tensor) and isinstance(target, torch.Tensor)
        and predicted.numel() == target.numel() == len(target)
        and target.is_floating_point() and zero_one(target)
    )  # fmt: skip
    return (predicted.reshape(-1, 1), target.reshape(-1).long()) if binary else (predicted, target)


def hits(
    scores: torch.Tensor,
    targets: torch.Tensor,
    *,
    lead: int = 0,
    dim: int | None = None,
    ignore_index: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Which predictions of integer ``targets`` are right, and which targets count (a negative one is
    ignored, as by cross-entropy's default ``ignore_index``, and so is ``ignore_index``); None where
    ``scores`` are no class scores of them. The classes lie along ``dim`` of ``scores`` (after the
    members), as the loss reads them, else where the shapes say (:func:`class_dim`). ``scores`` may lead
    with ``lead`` dimensions of stacked members, which ``targets`` may share or lack. The prediction is
    the first maximum over the classes, as argmax; a single score (a binary head under a BCE loss) is
    the logit of class 1, predicted where positive."""
    shape = scores.shape[lead:]
    own = lead and targets.dim() == scores.dim() - 1  # the targets lead with the members' dimensions too
    labels = tuple(targets.shape[lead:] if own else targets.shape)
    if dim is None:
        dim = class_dim(shape, labels)
    elif shape[:dim] + shape[dim + 1 :] != labels:
        dim = None
    if dim is None or targets.is_floating_point():
        return None
    dim += lead
    # max's indices: the first maximum, as argmax, 8x faster than argmax on stacked outputs
    one = scores.shape[dim] == 1
    predicted = (scores.squeeze(dim) > 0).long() if one else scores.max(dim=dim).indices
    hit = predicted == targets
    counted = targets >= 0 if ignore_index is None else (targets >= 0) & (targets != ignore_index)
    counted = counted.expand_as(hit)
    return hit & counted, counted


def _rows(batch: Any) -> int:
    """Examples in a batch: the length of its first tensor that has a dimension. Tensors come first: a
    list beside them (``default_collate`` makes one of a batch's strings) may hold anything."""
    return next((len(t) for t in _tensors(batch) if t.ndim), 1)


def _tensors(batch: Any) -> Iterator[torch.Tensor]:
    """The tensors of a batch, depth first through dicts, tuples and lists."""
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, (Mapping, tuple, list)):
        for value in batch.values() if isinstance(batch, Mapping) else batch:
            yield from _tensors(value)
