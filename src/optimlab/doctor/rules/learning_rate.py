"""Rules on the learning rate: too high (divergence, spikes, collapse, huge steps) and too low (no progress)."""

from __future__ import annotations

import math

import torch

from optimlab.doctor.findings import DOCTOR_OPTIONS, Finding, Severity
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import Candidate, LRRangeResult
from optimlab.doctor.rules._readings import (
    _ABOVE_ONE,
    FITTED_LOSS_SCATTER,
    TINY_WEIGHTS,
    Consult,
    _advised_lr,
    _classes,
    _consulted,
    _dead_fractions,
    _finite,
    _g,
    _label,
    _loss_levels,
    _lr_words,
    _peak_lr,
    _progress,
    _register,
    _saturated_fractions,
    _score,
    _set_lr,
)
from optimlab.registry import POSITIVE, UNIT_OPEN

__all__ = ["lr_too_high", "lr_too_low"]

# A held-out cross-entropy of -ln 0.99 nats: the true class at 99% (geometric mean), a fitted model.
# Below it a ratio of losses is a ratio of near-zeros: _checked_worse reads a smaller one as this.
_FITTED_LOSS = -math.log(0.99)


@_register(
    "lr_too_high",
    "The learning rate diverges, oscillates, lies far above the range test's suggestion, or sits where "
    "the lr check scored the lrs beside it clearly worse than the suggestion.",
    "Smith 2017, Cyclical Learning Rates for Training Neural Networks, arXiv:1506.01186",
    accepts={
        "range_factor": _ABOVE_ONE,
        "rise_factor": _ABOVE_ONE,
        "spike_factor": _ABOVE_ONE,
        "update_ratio": POSITIVE,
        "collapse": UNIT_OPEN,
        "checked_drop": UNIT_OPEN,
        "checked_factor": _ABOVE_ONE,
    },
)
def lr_too_high(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    consult: Consult | None = None,
    *,
    range_factor: float = 10.0,
    rise_factor: float = 1.25,
    spike_factor: float = 4.0,
    update_ratio: float = 0.3,
    collapse: float = 0.5,
    checked_drop: float = 0.05,
    checked_factor: float = 2.0,
) -> Finding | None:
    """Evidence that the steps are too large, strongest first:

    * divergence: the loss ends ``rise_factor`` x above its first value, or turns NaN/Inf after finite steps;
      for a classifier, rises and spikes by under a tenth of chance (ln C) are a fitted model's noise;
    * the lr is ``range_factor`` x the range test's suggestion and past the lr of its lowest loss;
    * the lr check trained the candidates on either side of the lr, both above the suggestion, and
      each scored clearly worse held out than the suggestion: ``checked_drop`` less accuracy, or
      ``checked_factor`` x its held-out loss (a classifier's too), or diverged (:func:`_checked_worse`);
    * a spike: the loss jumps to ``spike_factor`` x its first value, or its level goes back above it
      once it had halved (:func:`_relapse`);
    * collapse during training: a ``collapse`` fraction of units die or saturate that were fine at first;
    * steps that move a layer's weights by ``update_ratio`` of their norm (median over detailed steps).

    It reads the init_scale and vanishing_gradients findings of the same diagnosis (``consult``, at the
    thresholds the user gave them); called alone, those rules at their defaults.

    Under a schedule "the lr" is its peak: the lr the user sets (a decay from 0.1 to 0 has median 0.05,
    whose tenth set as the peak would be a twentieth), at which the largest steps ran; the range test's
    and the check's constant lrs are read against it; where the median is 0 (a schedule that ended
    before the run) the lr read is 0, and lr_too_low tells its peak (:func:`_set_lr`).
    """
    lr = _set_lr(stats)
    start, end = _loss_levels(stats)
    if not lr > 0 or math.isnan(start):  # an lr of 0 (NaN too) takes no step too large: no lower lr to give
        return None
    losses = _finite(stats.losses)
    classes = _classes(stats)
    # A fitted classifier's batch losses scatter 3x about their level (one missed digit in a batch of
    # 0.006 makes 0.02): a rise or a spike must also be a tenth of chance's ln C; any other loss's, more
    # than a fitted model's scatter.
    noise = 0.1 * math.log(classes) if classes is not None else FITTED_LOSS_SCATTER
    # Rises and spikes are read as multiples of the start: a loss at or below 0 there (a log-likelihood
    # of a density, a loss offset by a constant, which changes no gradient) has none to read.
    positive = start > 0
    seen: list[str] = []
    errors = 0
    origin = stats.non_finite
    blew_up = origin is not None and (
        origin.kind == "forward"
        or (origin.kind == "weights" and origin.cause == "overflow")  # a NaN with no Inf: a 0/0
        or (origin.kind == "loss" and (origin.largest_output is None or origin.largest_output > 1e4))
    )  # not a log(0) on sane outputs
    grew_to_nan = blew_up and len(losses) >= 2
    if grew_to_nan and origin is not None:
        seen.append(f"the loss went from {_g(start)} to NaN/Inf at step {origin.step}")
        errors += 1
    elif positive and end > rise_factor * start and end - start > noise:
        seen.append(f"the loss rose from {_g(start)} to {_g(end)}")
        errors += 1
    suggestion = _advised_lr(lr_range)
    lowest = lr_range.min_loss_lr if lr_range is not None else None
    beyond = suggestion is not None and lr > range_factor * suggestion and (lowest is None or lr > lowest)
    if beyond and suggestion is not None:
        seen.append(
            f"lr {_g(lr)} is {_g(lr / suggestion)}x the range test's suggestion {_g(suggestion)}"
            + (f" and above its lowest-loss lr {_g(lowest)}" if lowest is not None else "")
        )
    worse = (
        _checked_worse(lr, lr_range, checked_drop, checked_factor)
        if not beyond and suggestion is not None
        else None
    )
    if worse is not None and lr_range is not None:
        pair, best = worse
        seen.append(
            f"the lr check trained lr {' and '.join(_g(c.lr) for c in pair)} beside it to held-out "
            f"{lr_range.metric} {' and '.join(_scored(c) for c in pair)}, against {_scored(best)} at its "
            f"suggestion {_g(best.lr)}"
            + (
                f" (held-out loss {' and '.join(_scored(c, loss=True) for c in pair)}, against "
                f"{_scored(best, loss=True)})"
                if lr_range.metric == "accuracy" and best.held_out_loss is not None
                else ""
            )
        )
    peak = max(losses)
    relapse = _relapse(losses, start) if positive else None
    if positive and peak > spike_factor * start and peak - start > noise and not grew_to_nan:
        seen.append(f"the loss jumped to {_g(peak)} at step {stats.steps[stats.losses.index(peak)]}")
    elif relapse is not None and not grew_to_nan:
        low, high, at = relapse
        seen.append(
            f"after falling to {_g(low)}, the loss went back to {_g(high)} by step {stats.steps[at]} "
            "(median of 3 batches), above its start"
        )
    # An init off that shows in the signal (init_scale's finding), not weights merely off He's scale:
    # BERT's std 0.02 is 0.07x it, its LayerNorms keep the signal, and Adam 0.5 collapsed it alone.
    init_finding = _consulted(consult, "init_scale", stats, lr_range)
    init_off = init_finding is not None
    vanishing = _consulted(consult, "vanishing_gradients", stats, lr_range)
    # Gradients that vanished from the first steps, before any lr could act: units collapsing later are
    # the layers that still learn pushed alone (a deep sigmoid net at std 0.01), the init's doing too.
    starved = vanishing is not None and not vanishing.evidence["set_in_during_training"]
    collapsed = {
        m: w
        for m, w in {**_dead_fractions(stats), **_saturated_fractions(stats)}.items()
        if w.end - w.start >= collapse
    }
    if collapsed and not init_off and not starved:
        seen.append(
            "units that worked at first died or saturated during training ("
            + ", ".join(f"{_label(stats, m)} {w.start:.0%} -> {w.end:.0%}" for m, w in collapsed.items())
            + ")"
        )
    big_update = _largest_update_ratio(stats)
    # Weights drawn too small are moved by a large fraction of their norm at any lr: Adam's steps are
    # about the lr whatever the weights' size (a TransformerEncoder drawn at 0.01x its init, Adam 1e-3:
    # 0.37 a step), so the init is what to fix. Under TINY_WEIGHTS of their scale only: at 0.6x (a signal
    # init_scale found changed) a step moves them under twice what it would at their scale, the lr's doing
    drawn_small = init_finding is not None and init_finding.evidence.get("init_ratio", 1.0) < TINY_WEIGHTS
    if big_update > update_ratio and not drawn_small:
        seen.append(f"each step moves the weights by {_g(big_update)} of their norm (median, worst layer)")
    if not seen:
        return None
    if not errors and lr_range is not None and lr_range.check is not None and (suggestion or 0.0) >= lr:
        return None  # the check trained larger lrs and found them better held out: no divergence outweighs it
    severity: Severity = "error" if errors or (beyond and end > 0.9 * start) else "warning"
    suggested = suggestion is not None and suggestion < lr
    target = suggestion if suggested and suggestion is not None else lr / 10
    source = "from the range test" if suggested else "a tenth of now"
    if lr_range is None:  # the lr check, not run here, estimates it better
        source += f" (the lr check gives a better estimate: {DOCTOR_OPTIONS['doctor.lr_find'][0]})"
    strength = max(
        (end / (rise_factor * start) if positive else 0.0) if math.isfinite(end) else 10.0,
        lr / target / range_factor,
        peak / (spike_factor * start) if positive else 0.0,
        relapse[1] / start if relapse is not None else 0.0,
        big_update / update_ratio,
        10.0 if grew_to_nan else 0.0,
    )
    explains: tuple[str, ...] = ("nan_inf", "plateau")
    if not init_off:  # a bad init explains these better
        explains += ("exploding_gradients", "dead_units", "saturation")
        if collapsed or (vanishing is not None and vanishing.evidence["set_in_during_training"]):
            # units the steps killed pass no gradient back: the early layers' starve
            explains += ("vanishing_gradients",)
    return Finding(
        rule="lr_too_high",
        severity=severity,
        title=f"Learning rate too high: {_lr_words(stats)}",
        explanation="; ".join(seen) + ".",
        recommendation=f"lr: {_g(target)}, {source}",
        recipe_changes={"optimizer.lr": float(_g(target))},  # the number the recommendation shows
        evidence={
            "lr": lr,
            "loss_start": start,
            "loss_end": end,
            "loss_peak": peak,
            "update_to_weight_ratio": big_update,
            "suggestion": target,
            "collapsed_units": {m: [w.start, w.end] for m, w in collapsed.items()},
        },
        score=_score(strength) + len(seen),
        explains=explains,
    )


def _checked_worse(
    lr: float, lr_range: LRRangeResult | None, drop: float, factor: float
) -> tuple[list[Candidate], Candidate] | None:
    """(the two checked candidates nearest ``lr``, the suggested one) where both, above the suggestion
    (the last at or below ``lr`` and the first above it, else the last two), scored clearly worse held
    out than the suggestion: ``drop`` less accuracy, ``factor`` x its held-out loss, or diverged; else
    None. Two, so that one candidate's noisy score is no verdict (iris's ladder dips 3 points beside
    its best). A classifier's held-out loss counts too, where its accuracy is lower: Adam on digits at
    6x its best lr keeps its accuracy within 5 points, its held-out cross-entropy 11-18x the best's
    (its confident mistakes; measured in tests/doctor/test_rules.py, the too-high Adam case); a best
    loss under ``_FITTED_LOSS`` counts as that much."""
    if lr_range is None or lr_range.check is None or lr_range.metric not in ("accuracy", "loss"):
        return None
    best = next((c for c in lr_range.candidates if c.lr == lr_range.suggestion), None)
    if best is None or best.score is None or best.score <= 0:  # a loss of 0: no ratio to it
        return None
    above = sorted((c for c in lr_range.candidates if c.lr > best.lr), key=lambda c: c.lr)
    below = [c for c in above if c.lr <= lr]
    nearest = below[-1:] + [c for c in above if c.lr > lr][:1]
    pair = nearest if len(nearest) == 2 else below[-2:]

    def worse(c: Candidate) -> bool:
        if c.score is None or not math.isfinite(c.score):
            return True  # diverged
        if lr_range.metric == "loss":
            return c.score >= factor * best.score  # type: ignore[operator]
        if best.score - c.score >= drop:  # type: ignore[operator]
            return True
        # the loss counts only beside lost accuracy: a neighbour as accurate or more is no worse, and two
        # near-perfect fits' losses (9e-6 against 0.0053 on 95/5 data, both accuracy 1) are a ratio of zeros
        lost = best.held_out_loss is not None and c.held_out_loss is not None and c.score < best.score  # type: ignore[operator]
        return lost and c.held_out_loss >= factor * max(best.held_out_loss, _FITTED_LOSS)  # type: ignore[operator]

    return (pair, best) if below and len(pair) == 2 and all(map(worse, pair)) else None


def _scored(candidate: Candidate, *, loss: bool = False) -> str:
    """A candidate's held-out score (``loss``: its held-out loss) in words: the number, or that it diverged."""
    value = candidate.held_out_loss if loss else candidate.score
    return "diverged" if value is None else f"{value:.4g}"


def _relapse(losses: list[float], start: float) -> tuple[float, float, int] | None:
    """(lowest level before, highest level after, its index) where the loss's level (the median of 3
    batches in a row, so that one hard batch is no level) once down to half its start or less goes
    back above its start: a level the untrained model had, which a learning run's batches do not
    reach again (the HEALTHY setups' highest: 0.7x their start, an MSE regression's heavy-tailed
    batches), and steps too large for the basin do (Lion at 10x its lr: 1.4x)."""
    if len(losses) < 3:
        return None
    levels = torch.tensor(losses, dtype=torch.float64).unfold(0, 3, 1).median(1).values
    fallen = levels <= start / 2
    if not fallen.any():
        return None
    first = int(fallen.nonzero()[0])
    peak = first + int(levels[first:].argmax())
    if levels[peak] <= start:
        return None
    return levels[:peak].min().item(), levels[peak].item(), peak + 2  # the window's last batch


def _largest_update_ratio(stats: RunStatistics) -> float:
    """The median over detailed steps of the largest |w_after - w_before| / |w_before| of a layer (NaN
    where none was measured). A layer that starts at zero (a positional embedding, a zero-initialized
    gain) is left out: its norm is its first updates', so each step moves it by about 1 / step
    whatever the lr."""
    _, ratios = stats.update_to_weight_ratios()
    if not ratios.numel():
        return math.nan
    _, norms = stats.layer_weight_norms()
    ratios = ratios[:, norms[0] > 1e-12]
    finite = ratios[torch.isfinite(ratios).all(1)] if ratios.numel() else ratios
    return finite.max(1).values.median().item() if finite.numel() else math.nan


@_register(
    "lr_too_low",
    "No progress: the loss barely moves while the lr sits far below what the data allows.",
    "Smith 2017, Cyclical Learning Rates for Training Neural Networks, arXiv:1506.01186",
    accepts={"range_factor": _ABOVE_ONE, "min_progress": UNIT_OPEN, "tiny_update": POSITIVE},
)
def lr_too_low(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    consult: Consult | None = None,
    *,
    range_factor: float = 10.0,
    min_progress: float = 0.2,
    tiny_update: float = 1e-4,
) -> Finding | None:
    """The loss moved by less than ``min_progress`` of its start (either way), and either the range test
    suggests ``range_factor`` x more or the weights move by under ``tiny_update`` of their norm a step.

    Under a schedule "the lr" is its peak, the lr the user sets: ten times it is the advice (ten times
    a decay's median, set as the peak, would be five), and a peak 10x under the suggestion is too low.
    Where the median is 0 (a schedule that ended before the run) the steps ran at 0: that is the lr read
    (:func:`_set_lr`, as lr_too_high reads it)."""
    peak, lr = _peak_lr(stats), _set_lr(stats)
    start, end = _loss_levels(stats)
    # none where the loss has no fraction to read (_progress): a loss at 0 from step 1 (targets a
    # zero-initialized head already outputs: every gradient 0) has none to make, and no lr moves it
    progress = _progress(stats)
    if math.isnan(lr) or progress is None or stats.non_finite is not None:
        return None
    # A loss that rose is no sign of too small a step: lr_too_high reads it, and the two must never
    # both advise (``optimlab doctor --optimizer sgd --lr 10`` once said "lr: 1" and "lr: 100"). A rise
    # within ``min_progress`` is a stuck loss's noise (the start is one batch's loss): a tanh RNN over
    # 200 steps at chance, 0.676 at step 1 and 0.69 at the end, whose check trained at 20x its lr.
    suggestion = _advised_lr(lr_range)
    if progress < -min_progress or (suggestion is not None and suggestion < lr):
        return None
    if progress >= min_progress:
        return None
    # Nor where lr_too_high found the lr too high (its verdict in this diagnosis, ``consult``): a loss
    # thrown up to 5e9 by SGD at lr 3 on digits' MLP killed its ReLUs and fell back to chance, 5% under
    # its start, with steps of 2e-8 of the weights: "lr: 30" stood beside lr_too_high's "lr: 0.3".
    if _consulted(consult, "lr_too_high", stats, lr_range) is not None:
        return None
    shown = max(progress, 0.0)  # a rise within the noise reads as none
    update = _largest_update_ratio(stats)
    below = suggestion is not None and lr * range_factor < suggestion
    if not (below or update < tiny_update):
        return None
    seen = [f"the loss went from {_g(start)} to {_g(end)} ({shown:.0%} progress)"]
    if below and suggestion is not None:
        seen.append(f"the range test suggests {_g(suggestion)}, {_g(suggestion / lr)}x the lr {_g(lr)}")
    if update < tiny_update:
        seen.append(f"each step moves the weights by {_g(update)} of their norm")
    # An lr of 0 over most of the run: a schedule that ended before it (its total_steps shorter than the
    # run's) stops every later step; ten times 0 is no advice, its peak is.
    if not peak > 0:  # every group at lr 0 all run: the optimizer trains nothing, and no lr scales 0
        return None
    if not lr > 0:
        seen.append(
            f"the lr is 0 over most of the run, after a peak of {_g(peak)}: a schedule shorter than the run"
        )
    if below and suggestion is not None:
        target, source = suggestion, "from the range test"
    elif lr > 0:
        target, source = lr * 10, "ten times now"
    else:
        target, source = peak, "its peak, over the whole run"
    return Finding(
        rule="lr_too_low",
        severity="warning",
        title=f"Learning rate too low: {_lr_words(stats) if lr > 0 else _g(lr)} makes {shown:.0%} progress",
        explanation="; ".join(seen) + ".",
        recommendation=f"lr: {_g(target)}, {source}",
        recipe_changes={"optimizer.lr": float(_g(target))},  # the number the recommendation shows
        evidence={
            "lr": lr,
            "loss_start": start,
            "loss_end": end,
            "progress": progress,
            "update_to_weight_ratio": update,
            "suggestion": target,
        },
        score=_score(max(target / lr / range_factor if lr > 0 else 10.0, min_progress / max(progress, 1e-3))),
        explains=("plateau",),
    )
