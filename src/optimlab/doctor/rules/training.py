"""Rules on the course of the loss: non-finite values (and where they began), plateaus, and a setup
that no learning rate trains."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from optimlab.doctor.findings import DOCTOR_OPTIONS, Finding
from optimlab.doctor.instruments import FLOAT16_EPS, RunStatistics
from optimlab.doctor.lr_check import longer_check
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.nan_origin import NonFiniteOrigin
from optimlab.doctor.rules._readings import (
    _SCORE_CAP,
    FITTED_LOSS_SCATTER,
    _advised_lr,
    _classes,
    _clip_in_force,
    _finite,
    _g,
    _label,
    _loss_floor,
    _loss_levels,
    _progress,
    _register,
    _score,
    _set_lr,
)
from optimlab.doctor.rules.optimizer import ADAM_EPS
from optimlab.registry import POSITIVE_INT, UNIT_OPEN

__all__ = ["nan_inf", "no_learning", "plateau"]

LEARNING_FALL = 0.1  # a fall of the loss by this fraction of its start counts as learning
FALL_ERRORS = 2.0  # standard errors of the two levels' difference a fall must pass, not to be batch noise
_WATCH_LONGER = DOCTOR_OPTIONS["doctor.steps"][0]  # said as each door sets its steps (advised_as)


@_register(
    "nan_inf",
    "A NaN or Inf appeared: where it was born, and at which step.",
    "Goodfellow et al. 2016, Deep Learning, sec. 4.1 (overflow and underflow)",
)
def nan_inf(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """Reports the origin found by :func:`optimlab.doctor.nan_origin.locate_non_finite`."""
    origin = stats.non_finite
    if origin is None:
        return None
    finite_before = _finite(stats.losses[: max(0, origin.step - 1)])
    history = ""
    if finite_before:
        history = f" The loss went from {_g(finite_before[0])} to {_g(finite_before[-1])} before it."
    module = ""
    if origin.module is not None:
        module = (
            f"{origin.module} ({origin.module_type})" if origin.module_type else _label(stats, origin.module)
        )
    titles = {
        "input": "in the input batch",
        "target": "in the batch's targets",
        "weights": f"a weight of {module} is already non-finite",
        "forward": f"first output by {module}",
        "loss": "in the loss, from finite outputs",
        "backward": f"born in the backward pass, just after {module}",
    }
    clipped = _clip_in_force(stats)  # advice to clip at 1.0 where the run does: none
    eps_lost = stats.eps_lost if origin.kind == "weights" else None
    first_watched = stats.steps[0] if stats.steps else 1
    before_any_step = origin.step <= first_watched  # no update watched yet
    # Before the run's first update (step 1), not a resumed run's first watched one: there, the
    # first_watched - 1 updates before the doctor came may have made them.
    given = before_any_step and origin.step <= 1
    if before_any_step and not given and origin.kind == "weights":
        history += (
            f" The doctor began watching at step {first_watched}: the {first_watched - 1} updates before "
            "it may have made them."
        )
    advice: dict[str, tuple[str, dict[str, Any]]] = {
        "input": ("remove or impute the non-finite values in the inputs", {}),
        "target": ("remove the rows whose targets are not finite, or impute them", {}),
        "weights": _weight_advice(origin, stats.adam_eps, clipped, eps_lost=eps_lost, given=given),
        "forward": _guard(origin, module, finite_before, clipped),
        "loss": (
            (
                "check the targets (in range, finite) and compute the loss from logits "
                "(cross_entropy), not from probabilities (log of 0)"
            ),
            {},
        ),
        "backward": (
            f"guard the operation after {origin.module} (add an eps inside sqrt/log/division)",
            {},
        ),
    }
    recommendation, changes = advice[origin.kind]
    blew_up = (len(finite_before) >= 2 and finite_before[-1] > 10 * finite_before[0]) or (
        origin.largest_output is not None and origin.largest_output > 1e4
    )
    overflowed = origin.cause == "overflow" and not eps_lost and not (origin.kind == "weights" and given)
    if blew_up and (origin.kind in ("forward", "loss") or overflowed):
        if clipped:
            recommendation, changes = f"lr: lower it (the loss or the outputs blew up first; {clipped})", {}
        else:
            recommendation = (
                "lr: lower it, and training: {grad_clip_norm: 1.0} (the loss or the outputs blew up first)"
            )
            changes = {"training.grad_clip_norm": 1.0}
    return Finding(
        rule="nan_inf",
        severity="error",
        title=f"NaN/Inf at step {origin.step}: {titles[origin.kind]}",
        explanation=f"At step {origin.step}: {origin.detail}.{history}",
        recommendation=recommendation,
        recipe_changes=changes,
        evidence=origin.to_dict(),
        score=_SCORE_CAP / 2,
        # At the first step every other statistic was read through the NaN (a NaN unit never fires).
        explains=("dead_units", "saturation", "vanishing_gradients", "exploding_gradients")
        if before_any_step
        else (),
    )


def _weight_advice(
    origin: NonFiniteOrigin,
    adam_eps: float | None,
    clipped: str | None,
    *,
    eps_lost: float | None = None,
    given: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The advice for a weight found non-finite: an Inf is an update that overflowed (a lower lr and
    clipping); a NaN with no Inf, an invalid operation on finite numbers, which no lower lr prevents:
    with eps 0, Adam's update m / (sqrt(v) + eps) is 0/0 wherever a weight's gradient has been 0 (Kingma
    & Ba 2015, eps 1e-8). tests/doctor/test_nan_origin.py: an embedding's unused rows under Adam eps 0
    turn NaN at its first step at lr 1e-2 and 1e-3 with clipping alike; at eps 1e-8 none does. ``clipped``:
    the clip already in force (:func:`_clip_in_force`), then the lr alone is advised. ``eps_lost``: the
    optimizer's eps that rounds to 0 in the weights' dtype (Adam's or RMSprop's 1e-8 in float16): where v
    underflows too, m / (sqrt(v) + eps) is Inf or 0/0 at any lr (float16 weights under Adam at lr 1e-3
    overflow at step 1). ``given``: the weight was non-finite at the run's first step, before any
    update: built or loaded so, which no lr, clip nor eps made."""
    if given:
        return (
            # no recipe field sets them: said alike to every door, in no recipe section's words
            f"the weights of {origin.module} ({origin.module_type}) were non-finite before any update, "
            "as built or loaded (a "
            "checkpoint or pretrained file holding NaN/Inf, an init or a copy that divided by 0): reload or "
            "re-initialize them (torch.isfinite(p).all() for each parameter finds them); no lr, clip or eps "
            "made them",
            {},
        )
    if eps_lost is not None:
        return (
            f"optimizer: {{eps: {_g(FLOAT16_EPS)}}}, which float16 holds (its eps {_g(eps_lost)} rounds to 0 "
            "in the weights' dtype, and where v underflows m / (sqrt(v) + eps) overflows at any lr), or keep "
            "the weights in float32 and train under torch.autocast",
            {"optimizer.eps": FLOAT16_EPS},
        )
    if origin.cause == "overflow" and clipped:
        return f"lr: lower it (a step already overflowed a weight; {clipped})", {}
    if origin.cause == "overflow":
        return (
            "lr: lower it, and training: {grad_clip_norm: 1.0} (a step already overflowed a weight)",
            {"training.grad_clip_norm": 1.0},
        )
    if adam_eps == 0:
        return (
            f"optimizer: {{eps: {_g(ADAM_EPS)}}}: with eps 0 the update m / (sqrt(v) + eps) is 0/0 wherever a "
            "weight's gradient has been 0 (a lower lr does not prevent it)",
            {"optimizer.eps": ADAM_EPS},
        )
    return (
        "guard the division that made it: the weight holds NaN and no Inf, so no "
        "update overflowed; a 0/0 did (an optimizer's eps of 0, a norm of 0 that the weights or the "
        "update are divided by)",
        {},
    )


def _guard(
    origin: NonFiniteOrigin, module: str, finite_before: list[float], clipped: str | None
) -> tuple[str, dict[str, Any]]:
    """The advice for a non-finite forward output, by the cause of the operation that made it
    (:attr:`NonFiniteOrigin.cause`): a log or sqrt of a negative and a division by 0 are fixed in the
    model, whatever the lr; an overflow mid-run, by a lower lr and clipping (Goodfellow et al. 2016,
    sec. 4.1), the lr alone where the clip is already in force (``clipped``); before any update, by a
    smaller init or inputs."""
    op = f"{origin.op} " if origin.op else ""
    if origin.step == 1:
        when = " before any update"
    elif len(finite_before) >= 2:
        # a lower lr delays it only: a ReLU layer's sum as divisor reached 0 at step 8, 64 and 238 of
        # SGD at lr 2, 0.2 and 0.05 (tests/doctor/test_nan_origin.py's SumOfReLUs), the loss falling
        when = (
            f" at step {origin.step}, the loss at {_g(finite_before[-1])} from {_g(finite_before[0])} "
            "(no blow-up: a lower lr would only delay it)"
        )
    else:
        when = f" at step {origin.step}"
    if origin.cause == "domain":
        return (
            f"guard the operation in {module}: the input of {op}left its domain{when}; clamp it "
            "into the domain (x.clamp_min(1e-6) before a log or sqrt) or keep it there by construction "
            "(softplus)"
        ), {}
    if origin.cause == "division":
        return (
            f"guard the operation in {module}: a divisor {f'of {op}' if op else ''}reached 0{when}; "
            "add an eps to it "
            "(x / (d + 1e-6)) or clamp it (d.clamp_min(1e-6))"
        ), {}
    if origin.step == 1:
        return (
            f"guard the operation in {module}: its finite inputs gave NaN/Inf{when}"
            + (
                f" ({op.strip()} overflowed): scale its input down (the init, the inputs) or clamp it"
                if origin.cause == "overflow"
                else " (log or sqrt of a negative, a division by 0): clamp its input or add an eps"
            )
        ), {}
    if clipped:
        return f"lr: lower it, so that {op}in {module} cannot overflow ({clipped})", {}
    return (
        f"training: {{grad_clip_norm: 1.0}} and a lower lr, so that {op}in {module} cannot overflow",
        {"training.grad_clip_norm": 1.0},
    )


@_register(
    "plateau",
    "The loss made progress, then its best level stopped improving while still far from zero.",
    "Dauphin et al. 2014, Identifying and attacking the saddle point problem, arXiv:1406.2572",
    accepts={"min_improvement": UNIT_OPEN, "min_steps": POSITIVE_INT, "high_level": UNIT_OPEN},
)
def plateau(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    min_improvement: float = 0.02,
    min_steps: int = 60,
    high_level: float = 0.3,
) -> Finding | None:
    """The best moving average (over a tenth of the run) of the last third beats the best before it by
    under ``min_improvement``, after the loss fell by 10% (:func:`_fell`, from the first tenth's mean),
    while still above ``high_level`` x its start (the higher of step 1's loss and the first tenth's mean:
    a loss 20 at step 1 and 2 from step 6 on fell 90%, where its first tenth's mean is 6.6). A loss that
    never fell by 10% is the plateau from the start (:func:`_no_progress`).

    Comparing *best* levels, not consecutive medians, keeps minibatch noise from passing for progress.
    Severity: a warning when the loss stalls above 70% of its start (it barely learned), else info.
    The levels are read above the loss's floor (:func:`_loss_floor`): a label-smoothed cross-entropy
    stops there, fitted (digits at eps 0.5: 1.71, its floor 1.68). A loss exactly 0 with every gradient
    exactly 0 is read at any length (:func:`_standstill`).
    """
    if (still := _standstill(stats)) is not None:
        return still
    floor = _loss_floor(stats)
    losses = [loss - floor for loss in _finite(stats.losses)]
    if len(losses) < min_steps or len(losses) < len(stats.losses):
        return None
    width = max(5, len(losses) // 10)
    windows = torch.tensor(losses, dtype=torch.float64).unfold(0, width, 1)  # window ending at i + width
    averages = windows.mean(1)
    # The levels the run went from and to: the first and last windows' means, where one batch's loss is
    # noise (SGD at lr 1e-4 on a regression: 13.4 at step 1, its first tenth 11.1, its last 11.3).
    start = averages[0].item()
    if not _fell(windows[0], windows[-1]):
        return _no_progress(stats, lr_range, start + floor, averages[-1].item() + floor)
    split = len(losses) - len(losses) // 3 - width + 1  # the first window that ends inside the last third
    before, after = averages[:split].min().item(), averages[split:].min().item()
    if start <= 0:  # at its floor from step 1 (a cross-entropy over one class score: 0): no fraction to read
        return None
    improvement = (before - after) / max(abs(before), 1e-12)
    began = max(losses[0], start)
    if improvement >= min_improvement or before > (1 - LEARNING_FALL) * start or after < high_level * began:
        return None
    steps = len(losses) // 3
    return Finding(
        rule="plateau",
        severity="warning" if after > 0.7 * began else "info",
        title=f"Plateau: the loss stays near {_g(after + floor)} over the last {steps} steps",
        explanation=(
            f"The loss fell from {_g(began + floor)} to {_g(before + floor)}, then its best level "
            + (f"improved by only {improvement:.1%}" if improvement >= 0 else f"rose by {-improvement:.1%}")
            + f" over the last {steps} steps, at {after / began:.0%} of where it began"
            + (f" (above its floor, {_g(floor)}, label smoothing's)." if floor else ".")
        ),
        recommendation="schedule: cosine (decay the lr to settle into the basin); if the loss is the data's "
        "noise floor, a larger model or more features, not optimization, will help",
        recipe_changes={"schedule.name": "cosine"},
        evidence={
            "loss_start": began + floor,
            "best_before": before + floor,
            "best_last_third": after + floor,
            "improvement": improvement,
            "steps": steps,
            "loss_floor": floor,
        },
        score=_score(min_improvement / max(improvement, 1e-4)),
    )


def _standstill(stats: RunStatistics) -> Finding | None:
    """The loss exactly 0 and the whole gradient exactly 0 at every step watched: no step moves a weight
    at any lr. Whatever the loss was given (F.cross_entropy of one score a row, whose log-softmax is 0;
    a loss multiplied by 0), it measures nothing the model can learn from, or the model fits exactly
    from its first step."""
    norms = stats.global_grad_norms()
    if not stats.losses or any(loss != 0 for loss in stats.losses) or not norms.numel() or bool(norms.any()):
        return None
    steps = len(stats.losses)
    return Finding(
        rule="plateau",
        severity="warning",
        title=f"Nothing trains: the loss is 0 and every gradient 0 at each of the {steps} watched steps",
        explanation=(
            f"The loss was exactly 0 at each of the {steps} watched steps and the norm of the whole "
            f"gradient exactly 0 at each of the {norms.numel()} recorded: no step moves a weight, whatever "
            "the lr. A loss that is 0 whatever the model outputs measures nothing (the cross-entropy of one "
            "score a row, whose log-softmax is 0; a loss multiplied by 0 or of detached outputs)."
        ),
        recommendation="check that the loss compares the model's outputs with the targets (one score per "
        "class for a cross-entropy; BCEWithLogitsLoss for one logit, MSELoss for a number), unless the "
        "model already fits its data exactly",
        evidence={"loss_start": 0.0, "loss_end": 0.0, "steps": steps, "largest_gradient_norm": 0.0},
        score=_score(10.0),
    )


def _fell(first: Tensor, last: Tensor) -> bool:
    """Whether the losses of the ``last`` window lie below those of the ``first`` by ``LEARNING_FALL`` of
    the first's mean and by :data:`FALL_ERRORS` standard errors of the means' difference: a fall the
    batches' scatter does not make. The scatter is read from the last window alone: the first one's
    holds the fall itself (20, 5, then 2 +- 1%: a spread of 5.6 where the batches' is 0.02)."""
    fall = (first.mean() - last.mean()).item()
    error = math.sqrt(last.var().item() * (1 / first.numel() + 1 / last.numel()))
    return fall > LEARNING_FALL * first.mean().item() and fall > FALL_ERRORS * error


def _no_progress(
    stats: RunStatistics, lr_range: LRRangeResult | None, start: float, end: float
) -> Finding | None:
    """The loss did not fall by ``LEARNING_FALL`` over the watched steps (an lr 100x too low, labels
    apart from their inputs), from its level ``start`` (the first tenth's mean) to ``end`` (the last
    tenth's). Silent where the start is already a trained model's: a classifier's loss under half of
    chance, ln C."""
    classes, floor = _classes(stats), _loss_floor(stats)
    if start - floor <= FITTED_LOSS_SCATTER or (classes is not None and start < 0.5 * math.log(classes)):
        return None
    steps = len(stats.losses)
    changes: dict[str, Any] = {}
    if lr_range is None:
        recommendation = (
            f"run the lr check ({DOCTOR_OPTIONS['doctor.lr_find'][0]}): it tells an lr too low "
            "from a setup no lr trains (labels that do not follow from their inputs)"
        )
    elif lr_range.trains and (trained := _trained_at(lr_range)):
        # The check trained the setup: its labels follow from the inputs, and its lr is the lead.
        lr, suggestion = _set_lr(stats), _advised_lr(lr_range) or 0.0
        if suggestion > lr:
            recommendation = f"lr: {_g(suggestion)}, the lr check's ({trained}), or {_WATCH_LONGER}"
            changes = {"optimizer.lr": float(_g(suggestion))}
        else:
            recommendation = f"{_WATCH_LONGER}: the lr check trained this setup ({trained})"
    else:
        recommendation = f"{_WATCH_LONGER}, or check that the labels follow from the inputs"
    return Finding(
        rule="plateau",
        severity="warning",
        title=f"No progress: the loss stays near {_g(end)} over the {steps} watched steps",
        explanation=(
            f"The loss went from {_g(start)} to {_g(end)} (the first and last tenths' means) over {steps} "
            f"steps: it never fell by {LEARNING_FALL:.0%} beyond its batches' scatter, so the model has "
            "learned nothing yet."
        ),
        recommendation=recommendation,
        recipe_changes=changes,
        evidence={"loss_start": start, "loss_end": end, "progress": 1 - end / start, "steps": steps},
        score=_score(LEARNING_FALL / max(1 - end / start, 1e-3)),
    )


def _trained_at(lr_range: LRRangeResult) -> str | None:
    """What the lr check's suggested candidate scored held out, in words ('held-out accuracy 0.88 at lr
    0.333 after 80 steps'); None where it has no score."""
    best = next((c for c in lr_range.candidates if c.lr == lr_range.suggestion), None)
    if best is None or best.score is None:
        return None
    return (
        f"held-out {lr_range.metric} {best.score:.4g} at lr {_g(best.lr)} after {lr_range.check_steps} steps"
    )


@_register(
    "no_learning",
    "No learning rate trained the setup in the lr check: its candidates all diverged or none beat chance.",
    "Zhang et al. 2017, Understanding deep learning requires rethinking generalization, arXiv:1611.03530",
)
def no_learning(stats: RunStatistics, lr_range: LRRangeResult | None = None) -> Finding | None:
    """The lr check (:func:`optimlab.doctor.find_lr`) trained every candidate lr and none learned.

    Then the lr is not the cause. Where the training loss still fell, the model fits its training
    batches without generalizing: labels that do not follow from their inputs (shuffled, misaligned),
    which a network memorizes all the same (Zhang et al. 2017).
    """
    if lr_range is None or lr_range.trains is not False:
        return None
    start, end = _loss_levels(stats)
    lrs = sorted(c.lr for c in lr_range.candidates)
    seen = (
        f"The lr check trained {len(lrs)} learning rates from {_g(lrs[0])} to {_g(lrs[-1])}: " if lrs else ""
    )
    seen += (lr_range.verdict or lr_range.reason) + "."
    if (progress := _progress(stats)) is not None and progress > LEARNING_FALL:
        seen += (
            f" Yet the training loss fell from {_g(start)} to {_g(end)}: the model fits its training "
            "batches and learns nothing that holds on other rows."
        )
        recommendation = (
            "check that each label belongs to its input (a shuffled or misaligned label column "
            "is memorized, never learned)"
        )
    else:
        recommendation = (
            "make sure the model can see what decides the target (inputs, labels, "
            "the loss's outputs)" + _check_length(lr_range)
        )
    return Finding(
        rule="no_learning",
        severity="warning",
        title=_no_lr_trained(lr_range),
        explanation=seen,
        recommendation=recommendation,
        evidence={
            "chance": lr_range.chance,
            "candidates": [{"lr": c.lr, "score": c.score} for c in lr_range.candidates],
            "check": lr_range.check,
            "check_steps": lr_range.check_steps,
            "run_steps": lr_range.run_steps,
            "loss_start": start,
            "loss_end": end,
        },
        score=_score(2.0),
        explains=("plateau",),
    )


def _no_lr_trained(lr_range: LRRangeResult) -> str:
    """The finding's title: where no candidate beat chance, what the check saw within its steps (more
    may train the setup); where every one diverged, that no lr trains it."""
    if lr_range.chance is not None and lr_range.check_steps is not None:
        return f"No learning rate trained this setup within the check's {lr_range.check_steps} steps"
    return "No learning rate trains this setup: the cause lies elsewhere than the lr"


def _check_length(lr_range: LRRangeResult) -> str:
    """What the check's length leaves to try where it found no lr to train the setup: more time where the
    budget cut its steps; where it ran all the steps it was given and none beat chance, more steps (in
    the caller's words, :func:`~optimlab.doctor.lr_check.longer_check`); where every lr diverged in
    them, nothing (the model or the data)."""
    ran, run = lr_range.check_steps, lr_range.run_steps
    if ran is None or run is None:  # not checked: the loss cannot compare outputs with targets
        return ""
    named = lr_range.check_steps_named or "check_steps"
    if ran < run:
        return (
            f"; the check trained each lr {ran} of the run's {run} steps, cut to its time budget: if the "
            "model needs longer to start learning, give the check more time (--check-budget SECONDS; "
            "diagnose's check_budget=, or its time_budget= where that cut the check)"
        )
    if lr_range.chance is not None:
        return f"; {longer_check(run, named)}"
    return (
        f"; every lr diverged within the {run} steps the check was given ({named}), so the lr is not "
        "what holds it back"
    )
