"""Evaluation of a model on the user's batches (:class:`~optimlab.data.user_batches.UserBatches`): the
mean loss weighted as the loss averages, accuracy where the outputs are class scores, read as the loss
reads them (the class dimension, ``ignore_index``), and RMSE where they are a regression's."""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import torch
from torch import nn

from optimlab.data.examples import reject_non_finite, zero_one
from optimlab.data.user_batches import (
    TARGET_KEYS,
    UserBatches,
    batch_target,
    broadcast_mix_up,
    describe,
    first_loss,
    own_pairs,
    relative_gap,
)
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.nested_tensors import tensors_in
from optimlab.techniques.losses import (
    ClassesLast,
    LossFunction,
    PointwiseLoss,
    cross_entropy_reading,
    ignored_label,
    loss_name,
    regression_loss,
    takes_integer_targets,
)
from optimlab.user_code import call_user

__all__ = [
    "EVAL_BATCH",
    "OWN_METRICS",
    "averaged_over",
    "batch_rows",
    "batch_weighs",
    "batch_weight",
    "batches_read",
    "check_paired",
    "class_dim",
    "evaluate_batches",
    "hits",
    "of_predictions_alone",
    "refuse_non_finite",
    "subset_hits",
    "targets_scored",
    "user_metric",
    "warns_once",
]

EVAL_BATCH = 4096  # rows per forward pass at evaluation; the built-in sets fit in one or two
_Batch = TypeVar("_Batch")
OWN_METRICS = ("loss", "accuracy", "rmse")  # what an evaluation reports itself, as {prefix}_{name}


def user_metric(path: str, metric: Callable[..., Any], outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """The user's ``metric`` (named ``path``: an import path, or its name in ``fit``'s ``metrics``) of
    ``outputs`` and ``targets`` as a float; an exception in it, or a value that is no number, is said in
    one line."""
    value = call_user("metric", path, metric, outputs, targets)
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of several elements
        raise InvalidValueError(
            f"what metric {path!r} returned", describe(value), "a number: a float, or a tensor of one element"
        ) from None


@torch.inference_mode()
def evaluate_batches(
    model: nn.Module,
    batches: UserBatches,
    *,
    prefix: str,
    metrics: Mapping[str, Callable[[torch.Tensor, torch.Tensor], Any]] | None = None,
    per_batch: list[float] | None = None,
    most: int | None = None,
    non_finite: Callable[[InvalidValueError], None] | None = None,
) -> dict[str, float]:
    """Mean loss over one pass of ``batches`` (each batch weighted by what its mean averaged over: its
    rows, or the targets a cross-entropy did not ignore: :func:`averaged_over`), accuracy where
    predictions are class scores of integer targets (positions the loss ignores skipped), and RMSE over
    every value where they are a regression's under torch's MSE, L1, smooth L1 or Huber loss: a dict
    batch's targets are
    under ``labels`` (:data:`~optimlab.data.user_batches.TARGET_KEYS`), its predictions the outputs'
    ``.logits``. Each of the user's ``metrics`` (``f1(outputs, targets)``) gets the predictions and
    targets of the whole pass, as ``{prefix}_{name}``; each batch's loss is also appended to
    ``per_batch`` if given (the lr check pairs candidates batch by batch). ``most``: the pass's first
    this many batches alone (None: all of them, as many as the data's length says: a stream whose
    ``__len__`` says fewer batches than it yields, which may be endless, is refused at the first batch
    past it rather than read on). A batch whose loss is not finite and whose data holds NaN or inf is
    refused (:func:`refuse_non_finite`), or, given ``non_finite``, its refusal is handed to it and the
    pass goes on, its loss NaN or inf as the data makes it (a refusal mid-training lost the run)."""
    model.eval()
    device = next(model.parameters()).device
    total = rows = correct = labels = 0.0  # rows: what the batches' mean losses averaged over
    squared = values = 0.0  # of a regression: squared errors and how many values they cover
    kept: list[tuple[Any, Any]] = []  # (prediction, target) of each batch, for the user's metrics
    read = 0  # rows of the batches before this one, in the pass's order
    passed = batches_read(batches.one_pass(device), batches, f"the {prefix} data")
    declared = batches.declared if most is None else None  # the length the data says it has
    for i, batch in enumerate(itertools.islice(passed, most)):
        if i == declared:  # a stream whose __len__ is wrong, perhaps endless: it hung the evaluation
            raise batches.miscounted(
                i + 1,
                more=True,
                instead="val_steps=N beside fit's val_data, the batches each evaluation reads",
                field=f"the {prefix} data",
            )
        # every batch the model or its loss cannot take named in one line (a later one: another shape than
        # the first's, a label past the model's classes); the wrapper costs 0.48 us a batch (0.05 -> 0.53 us
        # calling a no-op forward, min of 5 x 200,000 on the shared 2-core CPU box, 2026-12-05)
        field = f"batch {i + 1} of the {prefix} data" if i else f"the first batch of the {prefix} data"
        out = first_loss(functools.partial(batches.forward, model, batch), batch, field)
        loss = _in_float32(batches.loss_fn, out.loss, out.prediction, out.target)
        if per_batch is not None:
            per_batch.append(loss)
        predicted, target = out.prediction, out.target
        paired = own_pairs(out) if batches.loss_fn is None else _as_labels(batches.loss_fn, predicted, target)
        if paired is not None:  # the model's own loss: its scores and labels as it paired them
            predicted, target = paired
        n = batch_rows(batch)
        if not math.isfinite(loss):  # NaN or inf data made it so, or the model: each pass said which
            try:
                refuse_non_finite(
                    batch,
                    f"the {prefix} data",
                    first_row=read if batches.in_data_order else None,
                    batch_number=i + 1,
                )
            except InvalidValueError as refusal:
                if non_finite is None:
                    raise
                non_finite(refusal)
        read += n
        weight = n if paired is None else averaged_over(batches.loss_fn, predicted, target, n)
        if weight:  # a batch of padding alone: its mean is 0 / 0, and it weighs nothing
            total, rows = total + loss * weight, rows + weight
        if _regresses(batches.loss_fn, predicted, target):  # the loss says: values, not classes
            squared += (predicted.double() - target.double()).pow(2).sum().item()
            values += target.numel()
        elif found := (
            hits(predicted, target, **_class_reading(batches.loss_fn, predicted, target))
            if paired is not None and isinstance(predicted, torch.Tensor) and isinstance(target, torch.Tensor)
            and predicted.is_floating_point()
            else None
        ) or subset_hits(batches.loss_fn, out.loss, predicted, target):  # fmt: skip
            correct += found[0].sum().item()
            labels += found[1].sum().item()
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
        outputs, targets = (_concatenated(parts) for parts in zip(*kept))
        found.update(
            {f"{prefix}_{name}": float(metric(outputs, targets)) for name, metric in metrics.items()}
        )
    return found


def _in_float32(loss_fn: Any, loss: torch.Tensor, predicted: Any, target: Any) -> float:
    """``loss`` of a batch as a number; where ``loss_fn`` is torch's own (:func:`_of_predictions_alone`) and
    made it of predictions in bfloat16 or float16 (a model cast to them), made again of the same
    predictions in float32: torch's loss in their precision is rounded to their 8 or 11 bits (a val_loss
    of 20.5 where float64 reads 20.4767 of the same outputs, each improvement under 0.4% unseen by early
    stopping). A user's own loss is called once a batch, as fit calls it: it may read more than the
    predictions (``out.logits``), keep state or draw at random."""
    low = (torch.bfloat16, torch.float16)
    if loss.dtype not in low or not isinstance(predicted, torch.Tensor) or not of_predictions_alone(loss_fn):
        return loss.item()
    float32 = target.float() if isinstance(target, torch.Tensor) and target.dtype in low else target
    try:
        return loss_fn(predicted.float(), float32).item()
    except (RuntimeError, TypeError, ValueError):  # a loss module's own weights in bfloat16
        return loss.item()


def of_predictions_alone(loss_fn: Any) -> bool:
    """Whether ``loss_fn`` is one of torch's losses (a module of ``torch.nn.modules.loss``, a function of
    ``torch.nn.functional``, a keyword ``functools.partial`` of one, a recipe's loss by name wrapping
    one): a pure function of the predictions (logits, where the outputs hold more) and the targets."""
    while isinstance(loss_fn, (PointwiseLoss, ClassesLast, LossFunction)):
        loss_fn = loss_fn.fn if isinstance(loss_fn, LossFunction) else loss_fn.loss
    if isinstance(loss_fn, functools.partial) and not loss_fn.args:
        loss_fn = loss_fn.func
    if isinstance(loss_fn, nn.Module):
        return type(loss_fn).__module__ == "torch.nn.modules.loss"
    return getattr(loss_fn, "__module__", None) == "torch.nn.functional"


def _concatenated(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """The batches' ``parts`` as one tensor along the rows. Batches padded each to its own longest
    sequence (a collate that pads, transformers' ``DataCollatorWithPadding``) differ in their second
    dimension: each is padded at its end to the longest with -100 (cross-entropy's ``ignore_index``),
    as the Hugging Face Trainer concatenates predictions and labels for ``compute_metrics``
    (``trainer_pt_utils.torch_pad_and_concatenate``)."""
    longest = max(part.shape[1] if part.ndim > 1 else 0 for part in parts)
    if all(part.ndim < 2 or part.shape[1] == longest for part in parts):
        return torch.cat(parts)
    padded = []
    for part in parts:
        full = part.new_full((len(part), longest, *part.shape[2:]), -100)
        full[:, : part.shape[1]] = part
        padded.append(full)
    return torch.cat(padded)


# What a Dataset, a DataLoader's collate or its sampler raise on a batch they cannot make (torch's
# default_collate of tensors of unequal shapes: RuntimeError 'stack expects each tensor to be equal size').
_READ_ERRORS = (RuntimeError, TypeError, ValueError, IndexError, KeyError)
# torch's words where default_collate cannot stack a batch's items (unequal shapes, lengths or types)
_UNSTACKED = ("stack expects each tensor", "equal size", "resize storage", "default_collate")


def batches_read(
    stream: Iterator[_Batch], batches: UserBatches, field: str, at: Callable[[], str] = str
) -> Iterator[_Batch]:
    """The batches of ``stream`` (``batches``' own), a batch that its data cannot make refused in one
    line naming ``field``, the data, ``at()`` (where in training it was read) and the reason (torch's
    message, where a DataLoader's collate could not stack items of unequal shapes: the shapes), rather
    than a traceback from inside torch's DataLoader in the middle of training."""
    while True:
        try:
            batch = next(stream)
        except StopIteration:
            return
        except _READ_ERRORS as error:
            if isinstance(error, OptimlabError):
                raise
            lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
            # from a worker process: 'Caught RuntimeError in DataLoader worker process 0.', then its
            # traceback, whose last line is the error itself
            reason = (
                lines[-1]
                if lines and lines[0].startswith("Caught ")
                else f"{type(error).__name__}: {lines[0] if lines else ''}"
            )
            fix = (
                "items that torch's default_collate stacks, each tensor of one shape: pad them in the "
                "Dataset, or give the DataLoader a collate_fn that pads them (transformers' "
                "DataCollatorWithPadding)"
                if any(words in reason for words in _UNSTACKED)
                else "data whose every batch can be read (the error is raised inside the Dataset or the "
                "DataLoader)"
            )
            raise InvalidValueError(f"a batch of {field} ({batches.source}){at()}", reason, fix) from error
        yield batch


def check_paired(loss_fn: Any, outputs: Any, targets: Any) -> None:
    """Refuse outputs that one of torch's elementwise losses (:func:`~optimlab.techniques.losses.
    regression_loss`: ``nn.MSELoss()``, ``F.mse_loss`` alike) compares with targets of another shape by
    broadcasting (a model's ``(N, 1)`` against targets ``(N,)``: ``(N, N)``, every output scored against
    every target of its batch), which torch only warns about; and integer targets where its backward
    refuses them (Huber's), which raised torch's 'Found dtype Long but expected Float' mid-step. A function
    of the user's, or a model's own loss, may pair them itself, and is left alone."""
    if not (
        isinstance(outputs, torch.Tensor) and isinstance(targets, torch.Tensor) and regression_loss(loss_fn)
    ):
        return
    if not targets.is_floating_point() and not takes_integer_targets(loss_fn):
        raise InvalidValueError(
            f"the targets of the loss ({loss_name(loss_fn)})",
            f"targets of dtype {targets.dtype}",
            "float targets, as this loss's gradient takes them: cast them with .float()",
        )
    compared = broadcast_mix_up(tuple(outputs.shape), tuple(targets.shape))
    if compared is None:
        return
    fix = (
        "squeeze the model's last dimension" if outputs.shape[:-1] == targets.shape else "reshape the targets"
    )
    raise InvalidValueError(
        f"the loss ({loss_name(loss_fn)})",
        f"outputs {tuple(outputs.shape)} against targets {tuple(targets.shape)}",
        f"outputs and targets of one shape: the loss broadcasts these to {compared}, every output scored "
        f"against every target of its batch ({fix})",
    )


def _regresses(loss_fn: Any, predicted: Any, target: Any) -> bool:
    """Whether ``predicted`` are a regression's values of ``target``, one each, under one of torch's
    regression losses (:func:`~optimlab.techniques.losses.regression_loss`), whatever the targets' dtype
    (integer prices are numbers to it, not classes): their RMSE over every value is then a metric (as
    for a recipe's regression), and no accuracy is."""
    return (
        isinstance(predicted, torch.Tensor) and isinstance(target, torch.Tensor)
        and predicted.shape == target.shape and predicted.is_floating_point() and regression_loss(loss_fn)
    )  # fmt: skip


def averaged_over(loss_fn: Any, scores: Any, target: Any, rows: int) -> float:
    """What a batch's mean loss divides by, so that batches weighted by it give the split's mean: for
    a cross-entropy of class ids (:func:`~optimlab.techniques.losses.cross_entropy_reading`), the targets not ignored (each by its
    class's ``weight``, as the loss divides by their sum), which padded sequences hold in unequal numbers
    from batch to batch; for the model's own loss of class scores (``(N, C)``, or a sequence's positions
    ``(..., T, C)`` that :func:`~optimlab.data.user_batches.own_pairs` found paired with the labels as
    that loss pairs them), the labels that are not Hugging Face's ignored -100 (its cross-entropy's
    mean skips them, examples as positions); else the batch's rows."""
    if (
        loss_fn is None and isinstance(scores, torch.Tensor) and isinstance(target, torch.Tensor)
        and target.dim() >= 1 and scores.shape[:-1] == target.shape and scores.shape[-1] > 1
        and not target.is_floating_point()
    ):  # fmt: skip
        return float((target != -100).sum())
    counted = targets_scored(loss_fn, target) if isinstance(target, torch.Tensor) else None
    return rows if counted is None else float(counted)


def targets_scored(loss_fn: Any, targets: torch.Tensor, *, lead: int = 0) -> torch.Tensor | None:
    """What a cross-entropy of class ids (:func:`~optimlab.techniques.losses.cross_entropy_reading`,
    mean reduction) divides its sum by: its ``targets`` not ignored, each by its class's ``weight``, for
    each index of the ``lead`` leading dimensions at once (K members' own labels ``(K, B, ...)``), in
    float64 on their device, read by nothing: a loop over batches sums them there and reads its totals
    once. None for any other loss, or targets of no class ids (such a mean divides by the rows)."""
    reading = cross_entropy_reading(loss_fn)
    if reading is None or reading.reduction != "mean" or targets.is_floating_point():
        return None
    counted = targets != reading.ignore_index
    dims = tuple(range(lead, targets.dim()))
    if reading.weight is None:
        return counted.sum(dims, dtype=torch.float64)
    weights = reading.weight.to(torch.float64)[torch.where(counted, targets, 0)]
    return torch.where(counted, weights, 0.0).sum(dims)


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
    """How ``loss_fn`` reads class scores, as :func:`hits` takes it: a :class:`ClassesLast` loss holds them
    last; a cross-entropy (:func:`~optimlab.techniques.losses.cross_entropy_reading`) holds the classes in dimension 1 (0 for one example's
    ``(C,)``); each skips the targets the loss ignores (:func:`ignored_label`); the model's own loss
    (None) pairs them over the last dimension where that fits
    (:func:`~optimlab.data.user_batches.own_pairs` checked it); anything else is left to the shapes."""
    ignored = ignored_label(loss_fn)
    if isinstance(loss_fn, ClassesLast):  # every position a row, its classes last
        return {"dim": scores.dim() - 1, "ignore_index": ignored}
    if cross_entropy_reading(loss_fn) is not None:
        return {"dim": min(1, scores.dim() - 1), "ignore_index": ignored}
    last = loss_fn is None and scores.dim() > 0 and scores.shape[:-1] == targets.shape
    return {"dim": scores.dim() - 1 if last else None, "ignore_index": ignored}


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


def subset_hits(
    loss_fn: Any, loss: torch.Tensor, scores: Any, targets: Any
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Multi-label classification's accuracy as scikit-learn's ``accuracy_score`` defines it on a 0/1
    label matrix, exact match (subset accuracy): which rows have every label right, a label predicted
    where its logit is positive (its probability above 0.5), and the rows counted. For logits ``(N, L)``,
    ``L > 1``, of 0/1 float targets of their shape under binary cross-entropy with logits: ``loss_fn``
    torch's ``BCEWithLogitsLoss``, or the model's own ``loss`` equal to its mean within a relative 1e-3
    (Hugging Face's ``problem_type="multi_label_classification"``; its ``"regression"`` of 0/1 targets
    is the mean squared error, and gets none); else None."""
    # the loss and the shapes first: the targets' scan (zero_one) and the BCE only for a candidate
    if loss_fn is not None and not isinstance(loss_fn, nn.BCEWithLogitsLoss):
        return None
    if not (
        isinstance(scores, torch.Tensor) and isinstance(targets, torch.Tensor)
        and scores.is_floating_point() and targets.is_floating_point()
        and scores.ndim == 2 and scores.shape == targets.shape and scores.shape[1] > 1
    ) or not zero_one(targets):  # fmt: skip
        return None
    if loss_fn is None:
        binary = nn.functional.binary_cross_entropy_with_logits(scores.float(), targets.float())
        if relative_gap(binary, loss.detach().float()) > 1e-3:
            return None
    hit = ((scores > 0) == (targets == 1)).all(dim=1)
    return hit, torch.ones_like(hit)


def hits(
    scores: torch.Tensor,
    targets: torch.Tensor,
    *,
    lead: int = 0,
    dim: int | None = None,
    ignore_index: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Which predictions of integer ``targets`` are right, and which targets count (a negative one of
    class scores is ignored, as by cross-entropy's default ``ignore_index``, and so is ``ignore_index``);
    None where ``scores`` are no class scores of them. The classes lie along ``dim`` of ``scores`` (after the
    members), as the loss reads them, else where the shapes say (:func:`class_dim`). ``scores`` may lead
    with ``lead`` dimensions of stacked members, which ``targets`` may share or lack. The prediction is
    the first maximum over the classes, as argmax; a single score (a binary head under a BCE loss, or a
    soft margin's of -1/+1 labels) is the logit of class 1, predicted where positive, its other class
    0 or -1 (the sign of a margin classifier's score: Hastie et al. 2009, sec. 4.5)."""
    if targets.dim() > 1 and targets.shape[-1] == 1 and targets.shape in (scores.shape, scores.shape[lead:]):
        targets = targets.squeeze(-1)  # a label per row in a column (N, 1), against one score each
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
    if scores.shape[dim] == 1:  # the logit of the positive class 1, against 0 (BCE) or -1 (soft margin)
        positive = scores.squeeze(dim) > 0
        hit = torch.where(positive, targets == 1, (targets == 0) | (targets == -1))  # a 2: never right
        counted = targets >= -1
    else:  # max's indices: the first maximum, as argmax, 8x faster than argmax on stacked outputs
        hit = scores.max(dim=dim).indices == targets
        counted = targets >= 0
    if ignore_index is not None:
        counted = counted & (targets != ignore_index)
    counted = counted.expand_as(hit)
    return hit & counted, counted


def batch_weight(batches: UserBatches, batch: Any) -> float:
    """What ``batch``'s mean loss averages over, read from its target before any forward pass
    (:func:`averaged_over`): a cross-entropy's targets not ignored (by their class weights), else its
    rows (:func:`batch_rows`); none for the model's own loss of a dict batch whose every ``labels`` is
    Hugging Face's ignored -100."""
    rows = batch_rows(batch)
    if batches.loss_fn is None:  # the model's own loss, or compute_loss: what they average over is theirs
        labels = batch_target(batch) if isinstance(batch, Mapping) else None
        if isinstance(labels, torch.Tensor) and labels.numel() and not labels.is_floating_point():
            # Hugging Face's ignored label on every one: its loss's mean is 0/0, nothing to learn from
            return 0.0 if bool((labels == -100).all()) else rows
        return rows
    _, target = batches.split_target(batch)
    return averaged_over(batches.loss_fn, None, target, rows)


def batch_weighs(batches: UserBatches) -> Callable[[Any], bool]:
    """``batch -> bool(batch_weight(batches, batch))``: whether a batch's mean loss averages over anything.
    A cross-entropy of class ids without class weights (nn.CrossEntropyLoss()'s default) is read once,
    each batch then asking only whether some target is not its ``ignore_index``: 5 us a batch of 32
    against batch_weight's 23 (timeit, one thread, the shared 2-core CPU box, 2026-12-06), on the path
    of every step of a DataLoader's run."""
    reading = None if batches.loss_fn is None else cross_entropy_reading(batches.loss_fn)
    if reading is None or reading.weight is not None or reading.reduction != "mean":
        return lambda batch: bool(batch_weight(batches, batch))
    ignored = reading.ignore_index

    def weighs(batch: Any) -> bool:
        _, target = batches.split_target(batch)
        if not isinstance(target, torch.Tensor) or target.is_floating_point():  # rows, not class ids
            return bool(batch_weight(batches, batch))
        return bool((target != ignored).any())

    return weighs


def warns_once(prefix: str) -> Callable[[InvalidValueError], None]:
    """A ``non_finite`` for :func:`evaluate_batches` over a run's evaluations: the first refusal said in
    one warning line (:class:`~optimlab.errors.OptimlabWarning`), training going on with its
    ``{prefix}_loss`` not finite, as the data makes it; the later ones (the same batch, read again at
    each evaluation) not said again. A refusal mid-training lost every step since the last checkpoint."""
    said = False

    def warn(refusal: InvalidValueError) -> None:
        nonlocal said
        if not said:
            said = True
            warnings.warn(
                f"{prefix}_loss not finite, training goes on (said once): {refusal}",
                OptimlabWarning,
                stacklevel=2,  # the evaluation that read the batch: deeper lies torch's inference_mode
            )

    return warn


def refuse_non_finite(batch: Any, data: str, *, first_row: int | None, batch_number: int) -> None:
    """Refuse ``batch`` of ``data`` (its rows from ``first_row`` on in the data's order, None where the
    pass reads them in an order of its own, a shuffled DataLoader's; its number among the pass's batches)
    where a floating tensor of it holds NaN or inf, naming the part (inputs, targets, a dict's key), the
    row and the column (:func:`~optimlab.data.examples.reject_non_finite`): one such value makes the
    loss of the whole pass NaN, which read as a model gone wrong. A float64 tensor reaches the model in
    float64, where a value past float32's range (1e39) is finite: only its NaN and inf are refused."""
    if isinstance(batch, Mapping):
        parts: list[tuple[str, Any]] = [(repr(key), part) for key, part in batch.items()]
    elif isinstance(batch, (tuple, list)) and len(batch) > 1:
        inputs = ["inputs"] if len(batch) == 2 else [f"inputs {j}" for j in range(len(batch) - 1)]
        parts = list(zip([*inputs, "targets"], batch, strict=True))
    else:
        parts = [("inputs", batch)]

    def row_name(row: int) -> str:
        in_batch = f"batch {batch_number}'s row {row}"
        if first_row is None:  # the data's own row not known: the batch's alone
            return in_batch
        return f"row {first_row + row} ({in_batch})"

    for name, part in parts:
        for tensor in tensors_in(part):
            if tensor.is_floating_point():  # numpy has no bfloat16: the half floats read as float32
                values = tensor.detach().to("cpu", torch.float32 if tensor.itemsize < 4 else tensor.dtype)
                if values.dtype == torch.float64:  # its finite values fit: 0 keeps NaN and inf alone
                    values = torch.where(values.isfinite(), 0.0, values)
                reject_non_finite(
                    values.numpy(),
                    f"{data}'s {name}",
                    row_name=row_name,
                )


def batch_rows(batch: Any) -> int:
    """Examples in a batch: the length of its first tensor that has a dimension. Tensors come first: a
    list beside them (``default_collate`` makes one of a batch's strings) may hold anything."""
    return next((len(t) for t in tensors_in(batch) if t.ndim), 1)
