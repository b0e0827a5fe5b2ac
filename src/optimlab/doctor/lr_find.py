"""The learning-rate range test: sweep the lr exponentially over a short run and read off a good one.

Smith, Cyclical Learning Rates for Training Neural Networks, WACV 2017, https://arxiv.org/abs/1506.01186
(section 3.3, the "LR range test").

The sweep trains for ``steps`` minibatches while the lr grows geometrically from ``start_lr`` to
``end_lr``, and stops early once the loss exceeds ``diverge_factor`` times its lowest value. Weights,
optimizer state and the random state are restored afterwards (:func:`~optimlab.doctor.snapshot.preserved`): the test leaves the model as it found it.

How the suggestion is read (:func:`suggest_lr`), and why:

1. **Robust, centred smoothing.** A running median over 5 points removes isolated spikes, then a
   centred moving average over 5 removes noise. Common finders smooth with an exponential moving
   average (fastai: beta 0.98), which *lags*: over a 100-step sweep of 8 decades a lag of ~50 steps
   shifts the curve by four decades towards larger lrs. A centred filter has no lag.
2. **Only real descent counts.** Let L0 be the level of the first tenth of the curve and Lmin its
   minimum (at lr_min). Candidates are lrs left of lr_min whose loss is already below
   L0 - 10% (L0 - Lmin). The recovery from an early spike only returns the loss to L0, so it cannot
   pass for descent: the weakness of "steepest slope" finders (which pick such a recovery) is gone.
3. **Steepest descent in log-lr space.** Among the candidates, the lr where the least-squares slope
   of the smoothed loss against log10(lr), over a window of ~0.6 decades, is most negative.
4. **A margin below the minimum.** The lr at the minimum is already at the edge of instability (the
   loss turns up right after), so the suggestion is the smaller of the steepest-descent lr and
   lr_min / ``margin`` (10, Smith's "an order of magnitude below").

When the loss never falls by 5% over the sweep there is no suggestion (``None``), with the reason.
A hard task can still train over a whole run where a 100-step sweep shows no progress (two spirals of
two turns with a 4-layer tanh MLP: flat to within 5%, yet Adam at 2e-3..5e-3 reaches 97-99% test
accuracy in 1,000 steps); the candidates are then proposed around the stable edge, the largest lr
whose smoothed loss is still at most its starting level, since the minimum of a flat curve is noise.

That reading is a rule of thumb, and off its home workload it can be a decade too low (MNIST-1D's MLP
with Adam: it reads 1.5e-3 where 1e-2 trains best). So the sweep also proposes candidates
(:func:`lr_candidates`) for :func:`optimlab.doctor.lr_check.find_lr` to decide among by a check.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.data.user_batches import UserBatches, describe, first_loss
from optimlab.doctor.instruments import FLOAT16_EPS, check_shaped, eps_lost
from optimlab.doctor.nan_origin import batch_fault, finite_filled
from optimlab.doctor.progress import report
from optimlab.doctor.snapshot import preserved
from optimlab.errors import InvalidValueError, keywords_checked
from optimlab.models.user import check_model
from optimlab.optim.learning_rate import given_lr, lr_group
from optimlab.registry import POSITIVE, SWEEP_STEPS, Interval, real_number, whole_number
from optimlab.train.evaluation import batch_weight
from optimlab.train.loop import (
    at_training_point,
    check_optimizer,
    check_short_batch,
    clip_stepped_gradients,
    may_score_nothing,
    one_row_refused,
    raise_refusal,
    refuse_unread,
    step_with,
    train_mode,
    training_batches,
)

__all__ = [
    "PER_DECADE",
    "Candidate",
    "LRRangeResult",
    "SkippedBatch",
    "check_argument_order",
    "examined_optimizer",
    "lr_candidates",
    "lr_range_test",
    "lr_ratios",
    "smooth",
    "suggest_lr",
    "sweep_batches",
    "with_notes",
]

_FACTOR = Interval(1.0, None, open_low=True)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """An lr the sweep proposes, where on the curve it comes from, and (once checked) its short-run score."""

    lr: float
    source: str  # "steepest descent", "lowest loss / 3.2", ...
    # Held-out accuracy (classification) or loss at the end of the check's run (lr_check.end_level);
    # None: unchecked or diverged.
    score: float | None = None
    held_out_loss: float | None = None


@dataclasses.dataclass(frozen=True)
class LRRangeResult:
    """The whole curve of a range test and the lr it suggests.

    ``losses[i]`` is the training loss measured right after a step at ``lrs[i]``.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None  # the checked candidate's lr when ``check`` ran, else the curve's reading
    min_loss_lr: float | None  # lr at the lowest smoothed loss
    steepest_lr: float | None  # lr of steepest descent of the smoothed loss in log-lr space
    stopped_at: float | None  # lr at which the sweep stopped because the loss diverged; None: it ran out
    reason: str  # how the suggestion was chosen, or why there is none
    candidates: list[Candidate] = dataclasses.field(default_factory=list)
    check: str | None = None  # how the candidates were checked (steps, metric); None: not checked
    # What the check found of the setup: False where no candidate learned (every one diverged, none
    # beat the trivial predictor, or the loss cannot compare outputs with targets); True where one
    # did; None where nothing was checked, or where the held-out labels are too few for any accuracy to
    # beat the most frequent class's (the reason says so).
    trains: bool | None = None
    # Where some candidate learned (trains True or None): False where the check told none of them from
    # the best (every one tied, :func:`~optimlab.doctor.lr_check.find_lr`): the suggestion is then the
    # ladder's lower middle, no measured best, and no lr is too high or too low by it.
    told_apart: bool | None = None
    # Where no candidate learned (trains False): what the check saw, in words.
    verdict: str | None = None
    # The trivial predictor's held-out score, which no candidate beat (trains False): the most
    # frequent class's accuracy, or the loss of predicting the targets' mean.
    chance: float | None = None
    # What each candidate's score is, where checked: "accuracy" (higher is better) or "loss" (lower).
    metric: str | None = None
    # Where checked: the steps each candidate trained, and the run's steps it was given (find_lr's
    # check_steps), more where the time budget cut the check (:mod:`optimlab.doctor.check_plan`).
    check_steps: int | None = None
    run_steps: int | None = None
    # Where checked: the words that set the run's steps for the caller (find_lr's check_steps, lr-find's
    # --check-steps, the doctor's recipe run), said where no candidate learned within them.
    check_steps_named: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return json_ready(dataclasses.asdict(self))


def with_notes(result: LRRangeResult, notes: Sequence[str]) -> LRRangeResult:
    """``result`` with each of ``notes`` in parentheses after its reason: what a caller's training does
    otherwise than the range test (a Trainer's precision, its clipping), said beside the suggestion."""
    return dataclasses.replace(result, reason=result.reason + "".join(f" ({note})" for note in notes))


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinity (in nested dicts, lists and tuples) replaced by None: strict
    JSON has no such numbers, and a diverged loss is common in the doctor's data."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def smooth(values: Sequence[float], width: int = 5) -> list[float]:
    """Running median over ``width`` points, then a centred moving average over ``width``.

    Both windows shrink at the ends of the curve, so no value is lost and nothing is shifted.
    """
    x = torch.tensor(values, dtype=torch.float64)
    n, half = x.numel(), width // 2
    if n == 0:
        return []
    median = torch.stack([x[max(0, i - half) : i + half + 1].median() for i in range(n)])
    return [median[max(0, i - half) : i + half + 1].mean().item() for i in range(n)]


def _slopes(log_lrs: Tensor, values: Tensor, half: int) -> Tensor:
    """Least-squares slope d value / d log10(lr) over a centred window of 2 * half + 1 points."""
    out = torch.empty_like(values)
    for i in range(values.numel()):
        lo, hi = max(0, i - half), min(values.numel(), i + half + 1)
        x, y = log_lrs[lo:hi], values[lo:hi]
        dx = x - x.mean()
        out[i] = (dx * (y - y.mean())).sum() / dx.square().sum().clamp_min(1e-12)
    return out


def suggest_lr(
    lrs: Sequence[float],
    losses: Sequence[float],
    *,
    margin: float = 10.0,
    min_drop: float = 0.05,
    diverged: bool = False,
) -> tuple[float | None, dict[str, Any]]:
    """The suggested lr of a range-test curve (see the module docstring), and how it was found.

    Returns ``(suggestion, details)``; ``details`` holds ``smoothed``, ``min_loss_lr``, ``steepest_lr``
    and ``reason``. Non-finite losses end the usable curve; ``diverged``: the sweep stopped where its
    finite loss rose (:func:`lr_range_test`'s ``diverge_factor``).
    """
    if not _FACTOR.contains(margin):
        raise InvalidValueError("margin", margin, str(_FACTOR))
    finite = next((i for i, v in enumerate(losses) if not math.isfinite(v)), len(losses))
    diverged = diverged or finite < len(losses)
    lrs, losses = list(lrs[:finite]), list(losses[:finite])
    smoothed = smooth(losses)
    details: dict[str, Any] = {"smoothed": smoothed, "min_loss_lr": None, "steepest_lr": None}
    if len(losses) < 8:
        details["reason"] = (
            f"only {len(losses)} finite losses: the sweep diverged almost at once (a smaller start_lr, "
            "lr-find's --start-lr, shows where the loss falls)"
            if diverged
            else f"only {len(losses)} losses: a curve needs a sweep of at least 8 steps"
        )
        return None, details
    values = torch.tensor(smoothed, dtype=torch.float64)
    log_lrs = torch.tensor(lrs, dtype=torch.float64).log10()
    i_min = int(values.argmin())
    start = values[: max(3, len(smoothed) // 10)].median().item()
    drop = start - values[i_min].item()
    details["min_loss_lr"] = lrs[i_min]
    if start == 0.0:
        # A loss of 0 (a model that already fits its targets exactly) gives no gradient: nothing to learn
        # at any lr, and no edge where the loss turns up for candidates around it. What moves it later
        # is no descent (weight decay pulling the fit weights off), so no drop is read from it.
        zero = "is 0 throughout the sweep" if not any(losses) else "starts at 0"
        details["reason"] = (
            f"the loss {zero}: nothing left to learn at any lr (a model that already fits its targets, or a "
            "loss that is 0 whatever the outputs: CrossEntropyLoss over one class score a row)"
        )
        return None, details
    if drop < min_drop * abs(start):
        # The curve's minimum is then noise; where the loss turns up is still known, and a slow task
        # may train there over a whole run (module docstring).
        details["stable_edge_lr"] = lrs[max(i for i in range(len(smoothed)) if values[i] <= start)]
        details["reason"] = (
            f"the loss never fell by {min_drop:.0%} (from {start:.4g} to at best "
            f"{values[i_min].item():.4g}): no lr in the sweep makes progress"
        )
        return None, details
    decades_per_step = (log_lrs[-1] - log_lrs[0]).item() / max(1, len(lrs) - 1)
    half = max(2, round(0.3 / max(decades_per_step, 1e-12)))  # a window of ~0.6 decades
    slopes = _slopes(log_lrs, values, half)
    candidates = [i for i in range(i_min + 1) if values[i] < start - 0.1 * drop]
    i_steep = min(candidates, key=lambda i: slopes[i].item())
    details["steepest_lr"] = lrs[i_steep]
    suggestion = min(lrs[i_steep], lrs[i_min] / margin)
    # Lowest at the last lr swept: the loss never turned up, so that lr is the sweep's end, not a minimum
    # (Adadelta at its default lr 1 still falls at the default end_lr 10).
    minimum = "the sweep's end" if i_min == len(lrs) - 1 else "the minimum"
    chosen = "steepest descent" if suggestion == lrs[i_steep] else f"{minimum} / {margin:g}"
    lowest = (
        f"lowest loss {values[i_min].item():.4g} at lr {lrs[i_min]:.3g}"
        if i_min < len(lrs) - 1
        else f"the loss still falling at the sweep's last lr {lrs[i_min]:.3g} ({values[i_min].item():.4g}): "
        "no turn-up within the sweep (a larger end_lr, lr-find's --end-lr, shows where it lies)"
    )
    details["reason"] = f"{chosen}: steepest descent at lr {lrs[i_steep]:.3g}, {lowest}"
    return suggestion, details


# Candidates around the lowest-loss lr, in eighth decades (a factor 1.33) from 3.2x above it to 1/32 of
# it: the best of a 10-point grid lay at 3x the minimum (momentum, teacher-student) and at a twentieth
# of it (Adam, two spirals). Eighth rather than quarter decades: the check's choice among near-equal
# candidates (lr_check._lower_middle) is the middle of a plateau, which a finer ladder locates more finely;
# on 3 classification workloads x 3 optimizers x 3 seeds it missed none of 27 seeds, quarter decades 2
# (docs/benchmarks.md).
# Above the minimum, a candidate that diverges drops out of the check.
PER_DECADE = 8  # candidates a decade on the ladder: neighbours a factor 10 ** (1 / 8) = 1.33 apart
_FROM_MINIMUM = tuple(10 ** (k / PER_DECADE) for k in range(4, -13, -1))


def lr_candidates(
    min_loss_lr: float | None, steepest_lr: float | None, *, anchor: str = "lowest loss"
) -> list[Candidate]:
    """The lrs worth a check, by increasing lr: the lowest-loss lr times 10^(k/8), k = 4..-12
    (3.2x it down to 1/32 of it), and the steepest descent; lrs within 10% of one listed are dropped.
    ``anchor`` names the lr the ladder is built around (the stable edge of a curve without progress)."""
    proposed = [Candidate(steepest_lr, "steepest descent")] if steepest_lr is not None else []
    if min_loss_lr is not None:
        proposed += [
            Candidate(min_loss_lr * f, anchor + (f" x {f:.2g}" if f != 1 else "")) for f in _FROM_MINIMUM
        ]
    chosen: list[Candidate] = []
    for candidate in proposed:
        if all(abs(math.log(candidate.lr / c.lr)) > math.log(1.1) for c in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda c: c.lr)


def examined_optimizer(model: nn.Module, optimizer: Any) -> torch.optim.Optimizer:
    """The optimizer the doctor examines: ``optimizer``, which must step some of ``model``'s
    parameters, or optimlab's ``adam`` at its default lr over them where it is None; ``model`` must be
    an ``nn.Module`` with parameters to train (:func:`~optimlab.models.user.check_model`), each of a
    known shape (the instruments size their records by it)."""
    check_model(model)
    check_shaped(model)
    if optimizer is None:
        from optimlab.optim import create

        return create("adam", model.parameters())
    check_optimizer(optimizer, model, accepted=", or None for adam")
    return optimizer


# The orders the verbs take their loss and data in: a call in the other's order is told both.
_ORDERS = {"diagnose": "(model, data, loss_fn)", "find_lr": "(model, loss_fn, data)"}


def check_argument_order(loss_fn: Any, data: Any, verb: str) -> None:
    """Refuse in one line a loss where ``verb``'s data goes and data where its loss goes: diagnose takes
    (model, data, loss_fn), find_lr and lr_range_test (model, loss_fn, data), and a call in the other's
    order failed as 'loss_fn: a callable', which says nothing of the order."""
    if loss_fn is not None and not callable(loss_fn) and callable(data):
        other = "find_lr" if verb == "diagnose" else "diagnose"
        own = _ORDERS["diagnose" if verb == "diagnose" else "find_lr"]
        raise InvalidValueError(
            "loss_fn", describe(loss_fn), f"a callable: {verb} takes {own}, {other} {_ORDERS[other]}"
        )


class SkippedBatch(Exception):
    """Raised by a ``compute_loss`` to skip its batch in the sweep: no loss, no step, and the sweep's lr
    goes on to the next batch, as Lightning's Tuner (``lr_find``) goes on past a ``training_step`` that
    returns None (Lightning still counts the batch a step and steps the schedule)."""


def sweep_batches(
    data: Any,
    y: Tensor | None,
    loss_fn: Callable[[Any, Any], Tensor] | None,
    *,
    compute_loss: Callable[[nn.Module, Any], Tensor] | None,
    batch_size: int | None,
    seed: int,
    also_reads: Sequence[str] = (),
) -> UserBatches:
    """The batches of ``data`` (with ``y``: tensors ``x`` and ``y``) that the range test and its check
    read, made as fit makes them (:func:`~optimlab.train.loop.training_batches`), ``batch_size`` rows
    each (None: UserBatches' default), drawn with ``seed``. ``batch_size`` or ``seed`` beside data that
    batches or orders itself (a DataLoader, batches already made) refused in fit's line, ``also_reads``
    naming what the caller reads besides (``("seed",)``: a check's held-out rows or dropout drawn with it)."""
    sized = {} if batch_size is None else {"batch_size": batch_size}
    batches = training_batches(data, y, loss_fn, compute_loss, seed=seed, **sized)
    given = {"batch_size": batch_size, "seed": seed or None}  # a seed of 0 cannot be told from none
    refuse_unread(given, batches.settings, data, batches.source, also_reads)
    return batches


def _not_made_by_the_lr(
    model: nn.Module, data: UserBatches, batch: Any, loss: Tensor, index: int
) -> str | None:
    """Why the sweep's non-finite ``loss`` of its batch ``index`` (0-based) is no lr's doing, in words; None
    where the steps may have made it. The batch's non-finite values are blamed only where they reach
    the loss: with them set to 0 the loss at the same weights is finite (a model reading x[:, :3] of a
    batch whose column 3 is -inf diverges by its lr). Else a loss not finite before any step is the
    model's forward pass or the loss's, at the initial weights."""
    fault = batch_fault(batch)
    if fault is not None:
        with torch.no_grad():
            reached = bool(torch.isfinite(data.compute_loss(model, finite_filled(batch))).all())
        if reached and data.loss_fn is not None and batch_fault(data.split_target(batch)[0]) is None:
            fault = batch_fault(data.split_target(batch)[1], "its targets hold")
        if reached:
            return (
                f"the loss was {loss.item()} at the sweep's batch {index + 1}: {fault}, which no lr makes "
                "(fill or drop the missing or infinite values)"
            )
    if index == 0:
        return (
            f"the loss was {loss.item()} at the sweep's first batch, before any step: the model's forward "
            "pass or its loss makes it at the initial weights, which no lr changes "
            "(optimlab.doctor.diagnose names the operation)"
        )
    return None


@keywords_checked
def lr_range_test(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor] | None,
    data: Any,
    y: Tensor | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    compute_loss: Callable[[nn.Module, Any], Tensor] | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    batch_size: int | None = None,
    seed: int = 0,
    diverge_factor: float = 4.0,
    margin: float = 10.0,
    grad_clip_norm: float | None = None,
) -> LRRangeResult:
    """Sweep the lr of ``optimizer`` geometrically and suggest one; the model and optimizer are restored.

    Every param group's lr follows the sweep, scaled by its ratio to the swept group's lr
    (:func:`lr_ratios`), so groups with lr multipliers keep them and a group at lr 0 stays frozen.
    Tensors are drawn in batches as :func:`optimlab.train.fit` draws them.

    Args:
        loss_fn, data, compute_loss: the data in any shape and the loss, as
            :class:`~optimlab.data.user_batches.UserBatches` takes them (``data`` may be one already);
            ``lr_range_test(model, loss_fn, x, y, optimizer)`` reads the tensors ``x`` and ``y``.
            A ``compute_loss`` raising :class:`SkippedBatch` skips its batch (no step at its lr).
        batch_size, seed: the batches of tensors and Datasets (default 64 rows, drawn from ``seed``); a
            DataLoader or batches already made batch themselves: a ``batch_size`` beside one is refused,
            never silently dropped. Torch's generator is seeded with ``seed`` for the sweep (a shuffling
            DataLoader's order, dropout), so the same call reads the same curve whatever torch's random
            state before it (which is given back).
        optimizer: over ``model``'s parameters; default optimlab's ``adam``.
        start_lr, end_lr: the sweep's ends (the swept group's lr: the first given an lr above 0).
        steps: optimizer steps of the sweep (100 covers 8 decades at 12 steps a decade).
        diverge_factor: stop once the loss (an EMA of it, beta 0.9) exceeds this times its minimum.
        margin: the suggestion stays at least this factor below the lr of the lowest loss.
        grad_clip_norm: the global norm each step's gradients are clipped to, as the run to be trained
            clips them (:func:`~optimlab.train.loop.clip_stepped_gradients`, as :func:`~optimlab.train.fit`
            does); None: unclipped.
    """
    for name, value, accepted in (
        ("start_lr", start_lr, POSITIVE),
        ("end_lr", end_lr, POSITIVE),
        ("diverge_factor", diverge_factor, _FACTOR),
        ("margin", margin, _FACTOR),  # suggest_lr's, checked here before the sweep, not after it
    ):
        if not accepted.contains(value):
            raise InvalidValueError(name, value, str(accepted))
    # counts as range() and the batches take them: numpy's integers too, a float refused; 2 at least,
    # the two ends of the sweep (one range for 0 and 1: 0 was told [1, inf), then 1 "an integer >= 2")
    steps = whole_number(steps, "steps", SWEEP_STEPS)
    if end_lr <= start_lr:
        raise InvalidValueError("end_lr", end_lr, f"a number above start_lr ({start_lr:g})")
    if grad_clip_norm is not None:
        grad_clip_norm = real_number(grad_clip_norm, "grad_clip_norm", POSITIVE, also=", or None")

    check_argument_order(loss_fn, data, "lr_range_test")
    data = sweep_batches(  # the seed draws a DataLoader's order and dropout too
        data, y, loss_fn, compute_loss=compute_loss, batch_size=batch_size, seed=seed, also_reads=("seed",)
    )
    optimizer = examined_optimizer(model, optimizer)
    check_short_batch(model, data)  # as fit: an epoch's last batch of one row under batch norm
    swept, ratios = lr_ratios(optimizer)
    lrs: list[float] = []
    losses: list[float] = []
    stopped_at = None
    ema, best = math.nan, math.inf
    taken: float | None = None  # the lr of the last step taken, until a batch measures the loss after it
    skipped = 0
    not_the_lr = None  # a non-finite loss no lr makes (bad values in the batch, an eps lost to the dtype)
    ignores = may_score_nothing(data)
    with preserved(model, optimizer), at_training_point(optimizer):
        train_mode(model)
        torch.manual_seed(seed)  # as the watched run and each candidate's check: not the caller's state
        stream = data.stream(next(model.parameters()).device)
        for i in range(steps + 1):  # batch i measures the loss after the last step, then steps at sweep[i]
            batch = next(stream)

            def closure() -> Tensor:  # SAM's second gradient, on the same batch
                optimizer.zero_grad(set_to_none=True)
                try:
                    again = data.compute_loss(model, batch)  # noqa: B023  (called within this step only)
                except SkippedBatch:  # no gradient there: the step updates nothing, as under Lightning
                    return loss.detach()  # noqa: B023  (the batch's loss at the weights)
                again.backward()
                if grad_clip_norm is not None:  # fit clips a closure's gradients too
                    clip_stepped_gradients(optimizer, grad_clip_norm)
                return again

            try:
                # every target ignored: no loss (0/0), a skipped batch
                if ignores and not batch_weight(data, batch):
                    raise SkippedBatch
                loss = (
                    data.compute_loss(model, batch)
                    if i
                    else first_loss(lambda: data.compute_loss(model, batch), batch)  # noqa: B023  (called here)
                )
            except SkippedBatch:
                loss, skipped = None, skipped + 1
            except ValueError as error:  # a batch of one row under batch norm, named as fit names it
                raise_refusal(error, one_row_refused(error, model, [batch], i + 1))
            report("LR range test", i, steps)
            if loss is not None and not bool(torch.isfinite(loss.detach()).all()):
                not_the_lr = _not_made_by_the_lr(model, data, batch, loss, i)
                if not_the_lr is not None:
                    break
            if loss is not None and taken is not None:
                value = loss.item()
                lrs.append(taken)
                losses.append(value)
                ema = value if math.isnan(ema) else 0.9 * ema + 0.1 * value
                best = min(best, ema)
                # a best of 0 (a model that fits exactly) is no baseline: any rounding error is x inf of it
                if not math.isfinite(value) or (i > 5 and best > 0 and ema > diverge_factor * best):
                    stopped_at = taken
                    break
                taken = None
            if i == steps:
                break
            if loss is None:  # no step at this lr: the sweep goes on, as Lightning's Tuner's does
                continue
            taken = _geometric(start_lr, end_lr, i / (steps - 1))
            for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
                group["lr"] = taken * ratio
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip_norm is not None:
                clip_stepped_gradients(optimizer, grad_clip_norm)
            step_with(optimizer, closure)
    if skipped and not losses:
        raise InvalidValueError(
            "compute_loss", f"skipped every batch of the sweep ({skipped})", "a loss for some batches"
        )
    suggestion, details = suggest_lr(lrs, losses, margin=margin, diverged=stopped_at is not None)
    lost = eps_lost(optimizer)
    if not_the_lr is None and not any(map(math.isfinite, losses)) and lost is not None:
        not_the_lr = (
            f"the loss was {losses[0] if losses else math.nan} after the first step, at lr {start_lr:g}: "
            f"the optimizer's eps {lost:g} rounds to 0 in the weights' dtype, so where v underflows "
            f"m / (sqrt(v) + eps) overflows at any lr (eps {FLOAT16_EPS:g}, which float16 holds, or float32 "
            "weights under torch.autocast)"
        )
    if not_the_lr is not None:  # the curve up to that batch is no reading of the lr
        suggestion, details["reason"], details["stable_edge_lr"] = None, not_the_lr, None
    if suggestion is not None:
        candidates = lr_candidates(details["min_loss_lr"], details["steepest_lr"])
    else:  # no progress: around the stable edge, for a check to decide (module docstring)
        candidates = lr_candidates(details.get("stable_edge_lr"), None, anchor="stable edge")
    # None above end_lr, the user's cap: the ladder reached past it (3.2x a minimum at the sweep's end)
    # and the check chose there (Adam on digits, lr-find --end-lr 1e-3: 0.00133). Below start_lr they
    # stay: start_lr bounds what is swept, and a sweep started near the stable edge has its safe lrs
    # there (SGD on a regression diverging above lr 1, start_lr 1: 0.589 checked, where a floor at
    # start_lr left one candidate, 1.05).
    candidates = [c for c in candidates if c.lr <= end_lr]
    return LRRangeResult(
        lrs=lrs,
        losses=losses,
        smoothed=details["smoothed"],
        suggestion=suggestion,
        min_loss_lr=details["min_loss_lr"],
        steepest_lr=details["steepest_lr"],
        stopped_at=stopped_at,
        reason=details["reason"] + _groups_note(swept, ratios) + _skipped_note(skipped),
        candidates=candidates,
    )


def _geometric(start: float, end: float, t: float) -> float:
    """The point ``t`` (0..1) of the geometric way from ``start`` to ``end``: ``start * (end / start) ** t``,
    or, where that ratio overflows to inf (ends over 308 decades apart, 1e-300 to 1e10, made every lr
    after the first inf), each end raised apart (equal up to the last bits, so only there)."""
    ratio = end / start
    if math.isfinite(ratio):
        return start * ratio**t
    return start ** (1 - t) * end**t


def _skipped_note(skipped: int) -> str:
    """How many batches the loss skipped (:class:`SkippedBatch`); nothing where it skipped none."""
    return f" ({skipped} batch{'es' * (skipped != 1)} skipped: no step at their lrs)" if skipped else ""


def lr_ratios(optimizer: torch.optim.Optimizer) -> tuple[int, list[float]]:
    """The param group whose lr a sweep or a candidate sets (:func:`~optimlab.optim.learning_rate.lr_group`:
    the first given an lr above 0), and each group's given lr (:func:`~optimlab.optim.learning_rate.given_lr`,
    a scheduler made beside it aside) as a multiple of its: a group given lr 0 stays frozen at x0; every
    group at x1 where all are at 0. An lr that is a schedule (optimlab's optimizers take one) is
    refused: the sweep and the check set the lr themselves, a number."""
    lrs = [given_lr(group) for group in optimizer.param_groups]
    scheduled = next((i for i, lr in enumerate(lrs) if callable(lr)), None)
    if scheduled is not None:
        raise InvalidValueError(
            f"lr of param group {scheduled}",
            lrs[scheduled],
            "a number: the range test sets the lr itself; give the optimizer a number lr and the schedule "
            "to the training after it (optimlab.schedules.as_lr_scheduler)",
        )
    swept = lr_group(optimizer)
    if not lrs[swept]:
        return swept, [1.0] * len(lrs)
    return swept, [lr / lrs[swept] for lr in lrs]


def _groups_note(swept: int, ratios: Sequence[float]) -> str:
    """What an lr means for an optimizer whose param groups' lrs differ (``ratios`` to group ``swept``'s):
    that group's, the others at their ratios; nothing where they share one lr."""
    if all(r == 1.0 for r in ratios):
        return ""
    others = ", ".join(f"group {i} at x{r:.3g}" for i, r in enumerate(ratios) if i != swept)
    return f" (each lr here is param group {swept}'s; {others} of it, as the optimizer had them)"
