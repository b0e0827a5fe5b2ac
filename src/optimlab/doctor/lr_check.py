"""The check that decides among the LR range test's candidates: train each, score it held out.

A range-test curve says where the loss falls fastest and where it turns up, not which lr trains best,
and where the best lr lies relative to its minimum varies with the model and the optimizer (the best
of a 10-point grid: 3x the minimum for momentum on a teacher-student regression, a twentieth of it
for Adam on two spirals; ``benchmarks/lr_suggestion.py``). So :func:`find_lr` lets evidence decide.
The sweep proposes lrs a factor 1.33 apart over the plausible region
(:func:`~optimlab.doctor.lr_find.lr_candidates`); :func:`find_lr` trains each from the model's
current weights, best over the real run's length (a short check favours large lrs, whose head start
fades), with the optimizer's other hyperparameters, and scores it on held-out data (accuracy for
classification, the loss otherwise): the validation data given, else a :data:`HELD_OUT_FRACTION` of
the training data that the check does not train on (rows of tensors, of a Dataset or of a
DataLoader's Dataset, rebatched as the loader batches; the last batches of a list of batches).

How a candidate is scored and chosen, and why:

1. **The level its run ends at, not its last evaluation** (:func:`end_level`). A run at a constant lr
   ends jittering: each minibatch step moves the weights, and the held-out metric with them, so one
   evaluation is one draw of that jitter, and with many candidates the best draw wins rather than the
   best lr. The held-out data is evaluated every twentieth of the run; the score is the
   least-squares line through the evaluations of the last quarter, read at the last step (a mean of
   them would lag a metric still moving; a loss: fitted to its logarithm, its noise being relative).
2. **The lower middle of the candidates tied with the best** (:func:`_tied`). Candidates a factor 1.33
   apart often differ by less than the held-out data can tell; among those tied, the larger lrs are the
   riskier (their end-of-run jitter, their divergence on another draw), the smallest may be too slow:
   the lower middle by lr is chosen. A loss: tied when the *paired* difference to the lowest is within
   one standard error: every held-out unit (a row of tensors, where the rows' losses make the batch's,
   :func:`_scored_by_row`; else a batch) has its own loss level (the same line, per unit), and two
   candidates' units are the same rows, so the mean of their per-unit differences has far less noise
   than either loss (the row-to-row spread cancels); the lowest alone where units are not known. Or
   within :data:`TIE_FRACTION` of the lowest's level whatever the paired error (lrs too small to train
   move every row alike: a paired error far below any difference a run would show). Where every candidate ties,
   the check told none apart: the lower middle is no measured best (``told_apart`` False); a diverged
   candidate ties with none, so a check whose other candidates all tie told those from it.
   Measured: on teacher-student regression (200 validation rows) the lowest validation loss missed the
   grid's best by more than 2% on 4 of 9 seeds (Adam and AdamW: +2.3 to +7.7%); the paired
   one-standard-error tie on 1 (AdamW, +2.3%). An unpaired band (one standard error of the best's own
   loss) missed 4, being as wide as the row-to-row spread. A loss's tie is then kept to the run of tied
   candidates next to the best by lr: a paired standard error is the candidate's own, so a jagged large
   lr whose rows scatter widely ties by its own noise, beyond clearly worse candidates, and pulled the
   middle towards it. The units' levels are taken alike for every candidate (:func:`_unit_levels`): a
   level through the logarithms is near a geometric mean, below the raw line's for a jittering row, so a
   candidate with a row's loss at exactly 0 (confident classifications underflow) must not be taken raw
   beside others taken through logarithms. Accuracy: tied within one standard error sqrt(p (1 - p) / n)
   of the best p (the best's standard error, as wide for every candidate, so a noisy candidate cannot
   tie by its own noise), and **among those the held-out loss decides** as for a regression (the paired
   tie over the same rows, its run, then the lower middle). Accuracy is quantized and saturates where
   rows are few: on a breast-cancer MLP (569 rows) it tied all 17 candidates, whose lower middle, the
   ladder's middle, was 6-16x the grid's best lr and 2-3 of 114 test rows worse; the loss of the same
   rows, a proper score with more information per row, rises with the lr there (the larger lrs
   over-fit), and chose within a row.
3. **More held-out evidence where the held-out rows are few** (:func:`_cross_folds`, cross-fitting).
   One standard error of an accuracy near 1/2 is 1/(2 sqrt n): 1.6 points at 1,000 held-out rows,
   3.5 at 200, more than the differences the check is to resolve. Below :data:`CROSS_FIT_ROWS`
   held-out rows, where the stacked check is cheap, it runs again on disjoint folds of as many
   training rows, each held out in its turn with the held-out rows training in its place, as many
   folds as bring the held-out rows to :data:`CROSS_FIT_ROWS` (at most all the training rows); each
   candidate's levels are the checks' means weighted by rows, its units those of all: the standard
   error shrinks by the square root of the folds, and the level is averaged over as many training
   runs (draws of a chaotic run's end). It costs a check per fold, so not where the check runs one
   candidate at a time, and it needs held-out rows exchangeable with the training rows: by default
   only a held-out part drawn by :func:`find_lr` itself, or a validation split drawn at random
   (``cross_fit=True``, as the doctor passes for a recipe's or splits' validation split). Measured on
   teacher-student (200 validation rows, 3 optimizers x 3 seeds): the run of the tie alone missed 1
   seed of 9 (AdamW, +2.3%), one cross-fitted fold alone 2, both none; on 13 workloads (docs), folds
   up to 1,000 rows rather than one passed 1 more row of 39.
4. **Below the ladder's floor where the check chose it** (:func:`_below_lowest`). Nothing below the
   lowest candidate was trained, so a choice there may not be the best: :data:`BELOW_LOWEST` more
   candidates at the ladder's spacing below it train the same way, on the same folds (a second
   round), and the choice is made again among all. Only at the floor, so no other choice moves: the
   ladder's top, 3.2x the lowest-loss lr, is a guard (docs/benchmarks.md).

Where no candidate's held-out accuracy beats answering the most frequent class (by the one-sided
binomial exact test of the best's count of right answers against that class's share, at the level of
:data:`CHANCE_ERRORS` standard errors, :data:`CHANCE_LEVEL`: the best of ~17 candidates at chance lies
up to ~2 above it; exact, since the normal approximation fails where the share is near 1 and the rows
are few: a tiny BERT's 0.87 of a few dozen held-out rows put 3 standard errors at 1.044, above any
accuracy), nor its held-out cross-entropy the labels' entropy (by as many; the plain cross-entropy
only, for imbalanced classes, where accuracy barely moves), and where no candidate's held-out squared error
lies as far below that of predicting the targets' mean (a regression with the plain mean squared
error), there is no suggestion: the best of candidates that learn nothing is noise, and no lr trains
that setup within the check's steps (a vanishing signal, labels or targets unrelated to the inputs, or
a run too short: the reason names the steps, which more may train). Where the held-out labels
are too few for even every one of them right to pass that test (the share to the power of their
count at or above :data:`CHANCE_LEVEL`), the check says so, with the count needed, and does not say
that no lr trains (``trains`` None); the held-out loss still chooses among the candidates.

Measured by ``benchmarks/lr_suggestion.py`` (docs/benchmarks.md, "LR suggestion against a 10-point
grid"): scoring the last evaluation alone missed the grid's best by more than a point on 5 of 27
classification seeds, the level with quarter-decade candidates on 2, with eighth-decade ones on none.
On workloads held out from that design ("Held-out workloads" there) many rows miss on some seed: runs
so chaotic that one run's spread at a fixed lr exceeds the slack, test sets so small that one row is
3 points; a one-off analysis of the candidates' own runs found that even knowing the test results and
taking the third best of the ~17 candidates passes fewer rows than the check.

The candidates train at once where they can (:func:`stackable`, tensors with an ``nn.Module`` loss):
K copies of the model stacked into one (:func:`~optimlab.models.stacked.stacked_forward`) and stepped
by the batched optimizer shell (:class:`~optimlab.optim.shells.batched.BatchedOptimizer`), members
differing only in lr. Any other model, optimizer or data (a DataLoader, a Dataset, dict batches, a
model returning its own loss) trains them one at a time, each from a copy, through
:func:`optimlab.train.fit`; both follow the same steps, batch order and evaluations
(``tests/doctor/test_lr_check.py``). One at a time, a candidate costs a whole run, so only every
other candidate is checked (quarter decades, 9 runs instead of 17): the price is the resolution that
missed 2 of 27 classification seeds instead of none; the length of the run is kept, since a shorter
check favours large lrs. Given a time budget (``check_budget``; the CLI's ``--check-budget``), a
check estimated over it gives up evidence in a stated order (:mod:`optimlab.doctor.check_plan`); and
where a stacked member's step, as measured, costs more than a range-test step of the model alone
(torch runs some operations member by member under ``vmap``: CPU flash attention), it runs one at a
time (a Transformer on MNIST-1D within 30 s: 5 candidates over 510 of the run's 940 steps stacked,
over 783 one at a time).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import stack_module_state
from torch.utils.data import DataLoader, Subset

from optimlab.data.user_batches import (
    Forward,
    UserBatches,
    batch_target,
    broadcast_mix_up,
    first_loss,
    loader_batch_size,
    loader_shuffles,
    prediction,
)
from optimlab.doctor.check_plan import (
    EVALUATIONS,
    CheckPlan,
    another_fold_fits,
    evaluated_after,
    evaluations,
    no_check_fits,
    plan_check,
)
from optimlab.doctor.instruments import targets_are_numbers
from optimlab.doctor.lr_find import (
    PER_DECADE,
    Candidate,
    LRRangeResult,
    check_argument_order,
    examined_optimizer,
    lr_range_test,
    lr_ratios,
    sweep_batches,
)
from optimlab.doctor.progress import report
from optimlab.doctor.snapshot import preserved, random_state_kept
from optimlab.errors import InvalidValueError, keywords_checked
from optimlab.models.stacked import PROBE_ROWS, random_dropout, stacked_forward, stacked_loss, unstackable
from optimlab.number_text import count_of
from optimlab.optim.shells.batched import BATCHABLE, BatchedOptimizer
from optimlab.optim.shells.torch_optim import Optimizer as OptimlabOptimizer
from optimlab.registry import POSITIVE, POSITIVE_INT, real_number, whole_number
from optimlab.techniques.losses import PointwiseLoss, ignored_label, leaves_out_some
from optimlab.train.evaluation import evaluate_batches
from optimlab.train.loop import Callback, TrainState, clip_grad_norm_, epoch_permutation, fit
from optimlab.train.run import evaluate_members

__all__ = [
    "HELD_OUT_FRACTION",
    "end_level",
    "find_lr",
    "hold_out",
    "longer_check",
    "score_lrs",
    "stackable",
    "validate_check",
]

HELD_OUT_FRACTION = 0.2  # of the training data, held out for the check when no held-out data is given
CROSS_FIT_ROWS = 1000  # fewer held-out rows than this: cross-fitted checks up to it (module docstring)
PROBE_STEPS = 5  # a check's steps timed to tell whether it fits its budget (:class:`_Probe`)
# Seconds a check may run past its budget before it says so: about what one held-out evaluation and a
# candidate's setup (a copy of the model) take on the models it is made for, beyond the plan's estimate.
OVERRUN_SLACK = 1.0
REPLANS = 2  # checks planned again from their own probe, the last one then run as planned
# The sweep's lrs at most this many decades apart for a check: its candidates lie 1/8 decade apart
# around a minimum read off the curve, which a coarser sweep does not place (iris swept from 1e-320 to
# 1e300, 6.2 decades a step: every candidate diverged or stalled, 'no lr trains this setup', where
# 1e-3 trains). The default sweep's are 0.08 apart.
COARSEST_SWEEP = 0.5
# Candidates checked below the ladder's floor where the check chose the floor (:func:`_below_lowest`):
# half a decade at the ladder's spacing, as far as Lion's best grid lr on the digits MLP lay below it.
BELOW_LOWEST = 4
# A regression's loss at the range test's start below this share of predicting the targets' mean (R^2
# above 1 - 1e-6, predictions within 0.1% of the targets' spread): the model already fits, said so.
ALREADY_FITS = 1e-6
# Held-out levels within this fraction of the best's are tied whatever their paired standard error:
# lrs so small that every row moves alike (a ladder of 1e-7 to 1e-5, held-out losses 0.8028 to 0.8024)
# differ by many paired errors and by nothing a run would show; the check resolves 2% (module docstring).
TIE_FRACTION = 1e-3
CHANCE_ERRORS = 3.0  # standard errors above the most frequent class's share: a candidate beats chance
# The one-sided level of CHANCE_ERRORS standard errors, P(Z >= 3) = 0.00135: the chance test's level.
CHANCE_LEVEL = 0.5 * math.erfc(CHANCE_ERRORS / math.sqrt(2))


@functools.partial(keywords_checked, forwards_to=lr_range_test)
def find_lr(
    model: nn.Module,
    loss_fn: Callable[[Any, Any], Tensor] | None,
    data: Any,
    y: Tensor | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    compute_loss: Callable[[nn.Module, Any], Tensor] | None = None,
    held_out: Any = None,
    cross_fit: bool | None = None,
    check_steps: int = 200,
    check_steps_named: str = "check_steps",
    check_budget: float | None = None,
    budget_for: Callable[[float], float | None] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    grad_clip_norm: float | None = None,
    **sweep: Any,
) -> LRRangeResult:
    """The LR range test of ``model``, then a ``check_steps`` run of each candidate scored on ``held_out``.

    ``data``, ``loss_fn`` and ``compute_loss`` are the data in any shape and its loss, as
    :func:`~optimlab.doctor.lr_find.lr_range_test` takes them (``find_lr(model, loss_fn, x, y,
    optimizer)`` for tensors); ``held_out`` is data of the same shape (a validation set), by default a
    :data:`HELD_OUT_FRACTION` of ``data`` drawn with ``seed``, which the check then does not train on
    (module docstring). ``cross_fit``: whether the held-out rows may train in further checks, folds of
    the training rows held out in their place (module docstring, point 3); by default only where
    ``held_out`` is drawn here, since rows given apart may be meant to differ from the training data
    (True for a validation split drawn at random from the same data). Returns the range test's result
    with its candidates scored (the held-out metric's level at the end of the run) and ``suggestion``
    the chosen one; the curve's own reading when the sweep proposes none or no held-out data can be
    had. ``check_steps_named``: the words that set ``check_steps`` for the caller (lr-find's
    ``--check-steps``), said where no candidate learned within them. ``check_budget``: seconds the
    check may take, as estimated from the range test's steps, then from its own first steps; over it,
    the check gives up cross-fitted checks, then candidates, then steps, and says so in ``check``,
    or where even its smallest form is over there is none (the curve's reading, ``reason`` says why;
    :mod:`optimlab.doctor.check_plan`); None: the whole check. ``budget_for``: instead, the budget from
    the seconds a step of the range test took (a caller with more to run in a time of its own keeps
    that time; :func:`optimlab.doctor.diagnose`), positive or None. ``grad_clip_norm``: the global norm
    the sweep's and every candidate's steps clip the gradients to, as the run to be trained clips them
    (:func:`~optimlab.train.loop.clip_stepped_gradients`); None: unclipped. ``sweep`` goes to the range
    test (``start_lr``, ``end_lr``, ``steps``). Model, optimizer and torch's random state are left as
    they were.
    """
    # The checks seed torch (their dropout draws): the caller's random stream is left as it was.
    with random_state_kept(model):
        validate_check(check_steps, check_budget)
        if cross_fit is not None and not isinstance(cross_fit, bool):  # "no", truthy, would cross-fit
            raise InvalidValueError("cross_fit", cross_fit, "None, True or False")
        optimizer = examined_optimizer(model, optimizer)
        check_argument_order(loss_fn, data, "find_lr")
        train = sweep_batches(  # the check holds rows out, and draws its dropout, by the seed
            data,
            y,
            loss_fn,
            compute_loss=compute_loss,
            batch_size=batch_size,
            seed=seed,
            also_reads=("seed",),
        )
        if held_out is not None and not isinstance(held_out, UserBatches):  # refused before the sweep
            held_out = UserBatches(
                held_out,
                train.loss_fn,
                compute_loss=train._custom_loss,  # the training data's loss, however it was given
                batch_size=train.batch_size,
                shuffle=False,
                field="held_out",
            )
        # what the model makes of held-out data given: one of another shape refused before the sweep
        given = None if held_out is None else _first_held_out_batch(model, optimizer, held_out)
        started = time.perf_counter()
        result = lr_range_test(
            model, None, train, optimizer=optimizer, seed=seed, grad_clip_norm=grad_clip_norm, **sweep
        )
        seconds = time.perf_counter() - started
        if not result.candidates:
            return result
        if (coarse := _too_coarse(result.lrs)) is not None:
            return dataclasses.replace(result, reason=f"{coarse}; {result.reason}")
        if held_out is None:
            cross_fit = cross_fit is not False
            split = hold_out(train, seed)
            if split is None:
                return dataclasses.replace(
                    result,
                    reason=f"no held-out data for the check (give a validation set); {result.reason}",
                )
            train, held_out = split
        first, by_row = given or _first_held_out_batch(model, optimizer, held_out)
        if held_out.loss_fn is not None and (mix_up := _broadcast(first, held_out.loss_fn)) is not None:
            return dataclasses.replace(
                result,
                suggestion=None,
                trains=False,
                verdict=mix_up,
                reason=f"{mix_up}: no lr trains this setup; {result.reason}",
            )
        stacked = _stacks(model, optimizer, train, held_out, by_row)
        runs = [(train, held_out), *(_cross_folds(train, held_out, seed) if stacked and cross_fit else [])]
        # The first plan costs a candidate's step as a range test's step, its held-out evaluations as one
        # of the model's; the check's first steps are then timed (:class:`_OverBudget`), and the check
        # planned again where it would overrun the time left (stacked, measured again: K members share
        # a step's work, so fewer cost more each). The time a probe took is spent.
        n = len(result.candidates)
        one_step = seconds / max(1, len(result.lrs))
        if budget_for is not None:
            check_budget = budget_for(one_step)
            validate_check(check_steps, check_budget)
        ends = None if check_budget is None else time.perf_counter() + check_budget
        checking = functools.partial(
            _checked_within,
            model,
            optimizer,
            result,
            by_row,
            seed=seed,
            budget=check_budget,
            ends=ends,
            run_steps=check_steps,
            check_steps_named=check_steps_named,
            grad_clip_norm=grad_clip_norm,
        )
        if (none := no_check_fits(check_steps, one_step, check_budget)) is not None:
            return checking(runs, plan=none)  # no time to time a check

        def planned(stride: int, step: float, evaluation: float) -> CheckPlan:
            left = None if ends is None else ends - time.perf_counter()
            return plan_check(
                n,
                check_steps,
                stride=stride,
                seconds_per_step=step,
                seconds_per_evaluation=evaluation,
                budget=left,
            )

        def probe(plan: CheckPlan, evaluation: float = 0.0, *, stacked: bool = False) -> _Probe | None:
            if ends is None:
                return None
            checked = len(result.candidates[:: plan.stride])
            if stacked:  # one run of them all, sharing its time
                return _Probe(ends, plan.steps, evaluation, members=checked)
            return _Probe(ends, plan.steps, evaluation, runs=checked)

        def one_at_a_time() -> LRRangeResult:
            # one evaluation of the model timed (a stacked check times its own)
            evaluation = 0.0 if ends is None else _evaluation_seconds(model, optimizer, held_out)
            plan = planned(2, one_step, evaluation)
            # each plan probed, the last run as planned; a machine slowed later is timed again
            # between candidates (:meth:`_Probe.runs_left`)
            for probed in (True,) * REPLANS + (False,):
                try:
                    return checking(runs[:1], plan=plan, probe=probe(plan, evaluation) if probed else None)
                except _OverBudget as over:
                    plan = planned(2, over.seconds_per_step, over.seconds_per_evaluation)
            raise AssertionError("the last plan is not probed")  # pragma: no cover

        if not stacked:
            return one_at_a_time()
        plan = CheckPlan(1, check_steps)
        for probed in (True,) * REPLANS + (False,):  # fewer members share less: each plan probed again
            try:
                return checking(
                    runs, plan=plan, stacked=True, probe=probe(plan, stacked=True) if probed else None
                )
            except _OverBudget as over:
                if over.seconds_per_step > one_step:  # stacking shares nothing (module docstring)
                    return one_at_a_time()
                plan = planned(1, over.seconds_per_step, over.seconds_per_evaluation)
        raise AssertionError("the last plan is not probed")  # pragma: no cover


def _too_coarse(lrs: Sequence[float]) -> str | None:
    """Why the candidates of a sweep whose ``lrs`` lie over :data:`COARSEST_SWEEP` decades apart (on
    average) are not checked; None for a sweep fine enough."""
    apart = (math.log10(lrs[-1]) - math.log10(lrs[0])) / max(1, len(lrs) - 1)
    if apart <= COARSEST_SWEEP:
        return None
    return (
        f"not checked: the sweep's lrs lie {apart:.2g} decades apart, too coarse to place its candidates "
        f"(at most {COARSEST_SWEEP:g}: more steps, lr-find's --sweep-steps, or nearer ends)"
    )


def validate_check(check_steps: int, check_budget: float | None) -> None:
    """Raise :class:`~optimlab.errors.InvalidValueError` for a check's steps or budget out of range."""
    whole_number(check_steps, "check_steps", POSITIVE_INT)  # numpy's integers are counts too
    if check_budget is not None and not POSITIVE.contains(check_budget):
        raise InvalidValueError("check_budget", check_budget, f"seconds, {POSITIVE}, or None for no limit")


def _evaluation_seconds(model: nn.Module, optimizer: torch.optim.Optimizer, held_out: UserBatches) -> float:
    """Seconds one evaluation of ``model`` on ``held_out`` takes (model and optimizer left as they were)."""
    with preserved(model, optimizer):  # evaluate_batches runs in inference mode itself
        started = time.perf_counter()
        evaluate_batches(model, held_out, prefix="val")
        return time.perf_counter() - started


def _first_held_out_batch(
    model: nn.Module, optimizer: torch.optim.Optimizer, held_out: UserBatches
) -> tuple[Forward, bool]:
    """What the model makes of the first held-out batch, and whether the check scores held-out rows
    apart (tensors with a loss, :func:`_scored_by_row`); data the model or its loss cannot take
    (another number of features, a label out of range) is named in one line before the check trains
    on it (:func:`~optimlab.data.user_batches.first_loss`)."""
    with preserved(model, optimizer), torch.no_grad():
        model.eval()
        batch = next(held_out.one_pass(next(model.parameters()).device))
        made = first_loss(
            functools.partial(held_out.forward, model, batch), batch, "the first batch of the held-out data"
        )
        loss_fn = held_out.loss_fn
        return made, held_out.tensors is not None and loss_fn is not None and _scored_by_row(made, loss_fn)


def _broadcast(made: Forward, loss_fn: Any) -> str | None:
    """Outputs and targets of numbers (:func:`~optimlab.doctor.instruments.targets_are_numbers` under
    ``loss_fn``) that the loss broadcasts into more pairs than either holds
    (:func:`~optimlab.data.user_batches.broadcast_mix_up`), said; None where they pair one to one."""
    outputs, targets = made.prediction, made.target
    if not (isinstance(outputs, Tensor) and isinstance(targets, Tensor)):
        return None
    if not targets_are_numbers(targets, loss_fn):
        return None
    compared = broadcast_mix_up(tuple(outputs.shape), tuple(targets.shape))
    if compared is None:
        return None
    shapes = f"outputs {tuple(outputs.shape)} with targets {tuple(targets.shape)}"
    return f"the loss compares {shapes}, broadcast to {compared}"


def _stacks(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train: UserBatches,
    held_out: UserBatches,
    by_row: bool,
) -> bool:
    """Whether the candidates train as one stacked model: tensors, an ``nn.Module`` loss,
    :func:`stackable`, held-out rows scored apart (``by_row``: :func:`_scored_by_row`), and two members tried on a
    few training rows run as the model does (:func:`~optimlab.models.stacked.unstackable`:
    data-dependent control flow, say, cannot be stacked)."""
    if train.tensors is None or held_out.tensors is None or not isinstance(train.loss_fn, nn.Module):
        return False
    if not by_row or stackable(model, optimizer) is not None:
        return False
    x, y = train.tensors
    if leaves_out_some(train.loss_fn, y):  # a batch of them only: a step one run skips, a stack cannot
        return False
    device = next(model.parameters()).device
    rows = x[:PROBE_ROWS].to(device), y[:PROBE_ROWS].to(device)
    with preserved(model, optimizer):
        return unstackable(model, train.loss_fn, *rows, shared_input=True) is None


class _OverBudget(Exception):
    """A check's first steps say it would overrun its budget: planned again at ``seconds_per_step`` and
    ``seconds_per_evaluation``, each member's share where stacked (:mod:`optimlab.doctor.check_plan`)."""

    def __init__(self, seconds_per_step: float, seconds_per_evaluation: float) -> None:
        super().__init__(seconds_per_step, seconds_per_evaluation)
        self.seconds_per_step, self.seconds_per_evaluation = seconds_per_step, seconds_per_evaluation


def _checked_within(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    result: LRRangeResult,
    by_row: bool,
    runs: Sequence[tuple[UserBatches, UserBatches]],
    *,
    seed: int,
    budget: float | None,
    ends: float | None,
    run_steps: int,
    check_steps_named: str,
    plan: CheckPlan,
    stacked: bool = False,
    probe: _Probe | None = None,
    grad_clip_norm: float | None = None,
) -> LRRangeResult:
    """``result`` decided by the check ``plan`` sets out (every ``plan.stride``-th candidate, ``plan.steps``
    steps) on ``runs`` (the training and held-out data, then the cross-fitted folds; ``by_row``: their
    held-out rows scored apart), as many of them as end by ``ends`` (a :func:`time.perf_counter` time;
    ``budget``: the seconds given, said in the result; ``run_steps``: the run's steps it was given, which
    ``plan.steps`` may cut, and ``check_steps_named`` the words that set them); ``probe``: times the
    first check's first steps (:class:`_Probe`); ``grad_clip_norm``: the norm each step clips the gradients to (None: unclipped)."""
    if not plan.steps:
        return dataclasses.replace(
            result, reason=f"not checked within the {budget:g} s budget ({plan.cuts[0]}); {result.reason}"
        )
    candidates = result.candidates[:: plan.stride]
    lrs = [c.lr for c in candidates]
    check = functools.partial(_check, model, optimizer, grad_clip_norm=grad_clip_norm)
    checks: list[list[_Checked]] = []
    started = time.perf_counter()
    left = None if ends is None else ends - started
    for k, (fold_train, fold) in enumerate(runs, 1):
        if checks and not another_fold_fits(time.perf_counter() - started, len(checks), left):
            break
        phase = f"check {k} of {len(runs)}" if len(runs) > 1 else ""
        timed = None if checks else probe
        checks.append(check(lrs, fold_train, fold, plan.steps, seed, stacked, by_row, phase, timed))
    cuts = plan.cuts
    if len(checks) < len(runs):
        cuts = (f"{len(checks)} of {len(runs)} cross-fitted checks", *cuts)
    folds = [fold for _, fold in runs[: len(checks)]]  # beyond the first: cross-fitted (point 3)
    pooled = _pooled(checks, folds)
    decided = _decided(result, candidates, pooled, plan.steps, folds, check_steps_named)
    below = _below_lowest(decided.suggestion, candidates, plan.stride)
    spent = time.perf_counter() - started
    # One more round, on the same folds: stacked, about a round's time whatever its members; one at a
    # time, its candidates' share of it.
    cost = spent if stacked else spent * len(below) / len(candidates)
    extended = ""
    if below and (left is None or spent + cost <= left):
        more = [
            check([c.lr for c in below], fold_train, fold, plan.steps, seed, stacked, by_row,
                  f"{len(below)} below the lowest" + (f", check {k}" if len(checks) > 1 else ""))
            for k, (fold_train, fold) in enumerate(runs[: len(checks)], 1)
        ]  # fmt: skip
        more_pooled = _pooled(more, folds) + pooled
        decided = _decided(result, below + candidates, more_pooled, plan.steps, folds, check_steps_named)
        extended = f"; the lowest lr chosen, {len(below)} more below it checked and chosen among all"
    elif below:
        cuts = (*cuts, f"the {len(below)} candidates below the lowest chosen")
    check = decided.check + extended
    if cuts:
        check = f"{check}; to keep within the {budget:g} s budget: {'; '.join(cuts)}"
    spent = time.perf_counter() - started
    if left is not None and spent > left + OVERRUN_SLACK:
        # Its first steps were timed, then the machine slowed (another process on the core): a check
        # planned at 20 s ran 37 s one candidate after another, and said nothing of it.
        check = (
            f"{check}; it ran {spent:.3g} s where {max(left, 0.0):.3g} s of the {budget:g} s budget "
            "were left: its steps slowed after they were timed (another load on the machine?)"
        )
    return dataclasses.replace(
        decided, check=check, check_steps=plan.steps, run_steps=run_steps, check_steps_named=check_steps_named
    )


def _below_lowest(chosen: float | None, candidates: Sequence[Candidate], stride: int) -> list[Candidate]:
    """Where the check ``chosen`` the lowest of ``candidates`` (every ``stride``-th of the ladder, by
    increasing lr), :data:`BELOW_LOWEST` more below it at the ladder's spacing, by increasing lr, below
    the sweep's start_lr too (it bounds what is swept, not what is checked; only end_lr caps the check,
    :func:`~optimlab.doctor.lr_find.lr_range_test`); else none.
    Nothing below was measured, so the best may lie there: Lion on the digits MLP chose the
    ladder's floor on 3 of 3 seeds, the best of a half-decade grid 3.2x below it (2026-12-06). Not
    above the highest: the ladder's top, 3.2x the range test's lowest-loss lr, is a guard (trained
    past it, teacher-student with momentum moved 1.3-1.8x past the top and missed the grid's best by
    +8.2% and +6.0% on 2 of 3 seeds; docs/benchmarks.md)."""
    lrs = [c.lr for c in candidates]
    if chosen is None or len(lrs) < 2 or chosen != lrs[0]:
        return []
    factors = [10 ** (-stride * j / PER_DECADE) for j in range(BELOW_LOWEST, 0, -1)]
    return [Candidate(lrs[0] * f, f"{candidates[0].source} x {f:.2g}") for f in factors]


def _cross_folds(
    train: UserBatches, held_out: UserBatches, seed: int
) -> list[tuple[UserBatches, UserBatches]]:
    """The cross-fitting folds of tensors (module docstring, point 3): disjoint draws of as many
    training rows as are held out (a permutation drawn with ``seed + 1``, another draw than
    :func:`hold_out`'s), each held out in its turn with the held-out rows training in its place (the
    same number of training rows, hence the same epochs); as many as bring the held-out rows to
    :data:`CROSS_FIT_ROWS`, at most as many as the training rows hold; none where the held-out rows
    are that many already."""
    if train.tensors is None or held_out.tensors is None:
        return []
    (x, y), (hx, hy) = train.tensors, held_out.tensors
    n, size = x.shape[0], hx.shape[0]
    if size >= CROSS_FIT_ROWS:
        return []
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1)).to(x.device)
    hx, hy = hx.to(x.device), hy.to(x.device)
    batching = {"compute_loss": train._custom_loss, "batch_size": train.batch_size}
    folds = []
    for k in range(min(math.ceil(CROSS_FIT_ROWS / size) - 1, n // size)):
        out = order[k * size : (k + 1) * size]
        kept = torch.cat([order[: k * size], order[(k + 1) * size :]])
        fold_train = UserBatches(
            (torch.cat([x[kept], hx]), torch.cat([y[kept], hy])),
            train.loss_fn,
            **batching,
            seed=train.seed,
            drop_last=train.drop_last,
            shuffle=train.shuffle,
        )
        folds.append((fold_train, UserBatches((x[out], y[out]), train.loss_fn, **batching, shuffle=False)))
    return folds


def _pooled(checks: Sequence[list[_Checked]], folds: Sequence[UserBatches]) -> list[_Checked]:
    """Each candidate's cross-fitted checks (one list per fold) as one: each metric's level the mean
    over the folds weighted by held-out rows, the held-out units of all; diverged where any diverged."""
    if len(checks) == 1:
        return checks[0]
    rows = [fold.tensors[0].shape[0] for fold in folds]  # type: ignore[index]
    pooled = []
    for per_fold in zip(*checks, strict=True):
        if not all(c.levels for c in per_fold):
            pooled.append(_Checked({}))
            continue
        levels = {
            k: sum(n * c.levels[k] for n, c in zip(rows, per_fold)) / sum(rows) for k in per_fold[0].levels
        }
        losses = [c.unit_losses for c in per_fold]
        joined = None if any(u is None for u in losses) else torch.cat(losses, dim=1)  # type: ignore[arg-type]
        pooled.append(_Checked(levels, joined, per_fold[0].steps))
    return pooled


def hold_out(data: UserBatches, seed: int) -> tuple[UserBatches, UserBatches] | None:
    """``data`` split into what the check trains on and a :data:`HELD_OUT_FRACTION` it scores on:
    rows drawn with ``seed`` of tensors, a Dataset or a DataLoader's Dataset (rebatched as the loader
    batches), the last batches of a list of batches; None for data that cannot be split (an
    iterable of unknown length, fewer than 2 batches, fewer than 10 rows of tensors or of a Dataset:
    the range test's reading then stands, where a refusal after it lost it, and 2 rows held out none)."""
    source = data._data  # the user's data, to split as it is
    rebatch = {
        "compute_loss": data._custom_loss,
        "batch_size": data.batch_size,
        "seed": data.seed,
        "drop_last": data.drop_last,
    }
    if data.tensors is not None:
        x, y = data.tensors
        source, n = None, x.shape[0]
    elif isinstance(source, DataLoader) and _is_sized(source.dataset) and loader_batch_size(source):
        n = len(source.dataset)
    elif isinstance(source, (list, tuple)) or (_is_sized(source) and not isinstance(source, DataLoader)):
        n = len(source)
    else:
        return None
    if n < 2 or (not isinstance(source, (list, tuple)) and n < 10):
        return None
    if isinstance(source, (list, tuple)):  # batches: the last ones, in their order
        cut = min(n - 1, max(1, round(n * (1 - HELD_OUT_FRACTION))))
        return (
            UserBatches(list(source[:cut]), data.loss_fn, **rebatch, shuffle=data.shuffle),
            UserBatches(list(source[cut:]), data.loss_fn, **rebatch, shuffle=False),
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = round(n * (1 - HELD_OUT_FRACTION))
    kept, out = order[:cut], order[cut:]
    if source is None:
        kept, out = kept.to(x.device), out.to(x.device)
        parts = ((x[kept], y[kept]), (x[out], y[out]))
    elif isinstance(source, DataLoader):
        parts = tuple(
            DataLoader(
                Subset(source.dataset, rows.tolist()),
                batch_size=loader_batch_size(source),
                shuffle=shuffle and loader_shuffles(source),
                collate_fn=source.collate_fn,
                drop_last=source.drop_last and shuffle,
            )
            for rows, shuffle in ((kept, True), (out, False))
        )
    else:
        parts = (Subset(source, kept.tolist()), Subset(source, out.tolist()))
    return (
        UserBatches(parts[0], data.loss_fn, **rebatch, shuffle=data.shuffle),
        UserBatches(parts[1], data.loss_fn, **rebatch, shuffle=False),
    )


def _is_sized(data: Any) -> bool:
    return hasattr(data, "__len__") and hasattr(data, "__getitem__")


def longer_check(check_steps: int, named: str) -> str:
    """What a check in which no candidate learned leaves to try, ``named`` the words that set its steps
    for the caller (``check_steps``, ``--check-steps``): a check sees only its own steps (a GRU on
    MNIST-1D learns nothing in 30 steps that 100 train), so never that no lr trains the setup at all."""
    return (
        f"no candidate learned within the check's {count_of(check_steps, 'step')}; more steps ({named}, "
        f"{check_steps} here) may train it, and where they do not, the cause lies elsewhere than the lr"
    )


def _decided(
    result: LRRangeResult,
    candidates: list[Candidate],
    checks: list[_Checked],
    check_steps: int,
    folds: Sequence[UserBatches],
    named: str = "check_steps",
) -> LRRangeResult:
    """``result`` with ``candidates`` scored by their ``checks`` and the suggestion chosen among them,
    ``folds`` the held-out data they were scored on (several where cross-fitted), ``named`` the words
    that set ``check_steps`` for the caller."""
    metric = next(
        ("val_accuracy" if "val_accuracy" in c.levels else "val_loss" for c in checks if c.levels), "val_loss"
    )
    if metric == "val_accuracy" and _multi_label(folds):  # exact match of rows: no class to answer always
        metric = "val_loss"
    scored = [
        dataclasses.replace(c, score=k.levels.get(metric), held_out_loss=k.levels.get("val_loss"))
        for c, k in zip(candidates, checks, strict=True)
    ]
    alive = [(c, k) for c, k in zip(scored, checks) if c.score is not None and math.isfinite(c.score)]
    check = f"{check_steps} steps each, scored by held-out {metric[4:]} at the end of the run"
    if len(folds) > 1:
        check += f" ({len(folds)} cross-fitted checks, pooled)"

    def unsuggested(verdict: str, chance: float | None = None) -> LRRangeResult:
        reason = (
            f"{verdict}; {result.reason}"
            if chance is None
            else f"{verdict}: {longer_check(check_steps, named)}; the curve alone: {result.reason}"
        )
        return dataclasses.replace(
            result,
            candidates=scored,
            suggestion=None,
            check=check,
            metric=metric.removeprefix("val_"),
            reason=reason,
            trains=False,
            verdict=verdict,
            chance=chance,
        )

    if not alive:
        return unsuggested(f"every candidate diverged within {count_of(check_steps, 'step')}")
    living = [c for c, _ in alive]
    labels = None
    undecided = None  # why the held-out labels cannot tell whether any candidate beat chance
    spread = None
    if metric == "val_accuracy":
        counts = _label_counts(folds)
        labels = max(1, counts.total())
        top, majority = max(c.score for c in living), max(counts.values(), default=0) / labels  # type: ignore[type-var]
        right = min(labels, max(0, round(top * labels)))  # the best's right answers, nearest count
        if counts and _binomial_tail(labels, labels, majority) >= CHANCE_LEVEL:
            # The cross-entropy can show what accuracy cannot (:func:`_below_entropy`).
            undecided = None if _below_entropy(alive, counts, folds) else _too_few(labels, majority)
        elif (
            counts
            and (p := _binomial_tail(right, labels, majority)) >= CHANCE_LEVEL
            and not _below_entropy(alive, counts, folds)
        ):
            return unsuggested(
                f"no candidate's held-out accuracy beat answering the most frequent class after "
                f"{count_of(check_steps, 'step')} (at best {top:.4g}; that class alone: {majority:.4g}, "
                f"{CHANCE_ERRORS:g} standard errors on {labels} held-out labels reaching "
                f"{_chance_bound(majority, labels):.4g}); one-sided binomial exact test of {right} "
                f"of {labels} right against that share: p {p:.3g}, not below {CHANCE_LEVEL:.3g}",
                majority,
            )
    elif (spread := _spread_about_mean(folds)) is not None and _beats(alive, spread) is False:
        top = min(c.score for c in living)  # type: ignore[type-var]
        return unsuggested(
            f"no candidate's held-out loss beat predicting the targets' mean after "
            f"{count_of(check_steps, 'step')} (at best {top:.4g}; the mean alone: {spread.mean().item():.4g})",
            spread.mean().item(),
        )
    fits = ""  # where the model fits the targets all but exactly already, said before the choice
    if spread is not None and result.losses and result.losses[0] < ALREADY_FITS * spread.mean().item():
        fits = (
            "the model already fits: its training loss after the sweep's first step, "
            f"{result.losses[0]:.3g}, is below {ALREADY_FITS:g} of predicting the targets' mean "
            f"({spread.mean().item():.4g}): little is left to learn; "
        )
    tied = _tied(living, accuracy_of=labels, units=_unit_levels([k for _, k in alive]))
    best = _lower_middle(living, tied)
    # How much the check told apart: where every candidate ties, the choice is the middle of the
    # ladder the curve proposed, not a measured best. Diverged candidates are told apart from the rest.
    n, t = len(living), sum(tied)
    diverged = [c.lr for c in scored if c not in living]
    none_told = t == len(scored) > 1  # every candidate checked, diverged ones too, tied
    if labels is not None and t < (by_accuracy := len(_accuracy_tied(living, labels))):
        among = f"among the {by_accuracy} of {n} candidates tied with the best by accuracy"
        evidence = (
            f"the lowest held-out loss {among}"
            if t == 1
            else f"the lower middle of the {t} tied with the lowest held-out loss {among}"
        )
    elif none_told:
        evidence = f"the lower middle of all {n} candidates, tied (the check told none apart),"
    elif t == n > 1:
        evidence = (
            f"the lower middle of the {n} of {len(scored)} candidates that did not diverge, tied "
            f"(lr {', '.join(f'{lr:.3g}' for lr in diverged)} diverged),"
        )
    elif t == 1:
        evidence = f"the best of {n} candidates (none tied with it)"
    else:
        evidence = f"the lower middle of {t} of {n} candidates tied with the best"
    return dataclasses.replace(
        result,
        candidates=scored,
        suggestion=best.lr,
        check=check,
        metric=metric.removeprefix("val_"),
        trains=True if undecided is None else None,
        told_apart=not none_told,
        reason=(
            ("" if undecided is None else f"{undecided}; ")
            + fits
            + f"{evidence} after {check_steps} steps each: lr {best.lr:.3g} ({best.source}"
            f"{_at_edge(best, scored)}), held-out {metric[4:]} {best.score:.4g}; the curve alone: {result.reason}"
        ),
    )


def _at_edge(best: Candidate, candidates: Sequence[Candidate]) -> str:
    """Where ``best`` is the lowest or the highest lr checked (a diverged one counts), said: nothing beyond
    it was measured, so a better lr may lie there. Lion on the digits MLP of benchmarks/lr_suggestion.py
    (its defaults, 680 steps): the floor, lowest loss x 0.032, chosen on 3 of 3 seeds, the best of a
    7-point half-decade grid (3 seeds, same budget) 3.2x below it (2026-12-06). Nothing otherwise."""
    lrs = [c.lr for c in candidates]
    if len(lrs) < 2:
        return ""
    if best.lr == min(lrs):
        return "; the lowest lr checked: a lower one may do better"
    if best.lr == max(lrs):
        return "; the highest lr checked: a higher one may do better"
    return ""


def _lower_middle(candidates: Sequence[Candidate], tied: Sequence[bool]) -> Candidate:
    """The lower middle (by lr) of the ``tied`` candidates (module docstring, point 2)."""
    run = sorted((c for c, t in zip(candidates, tied, strict=True) if t), key=lambda c: c.lr)
    return run[(len(run) - 1) // 2]


def _alike(difference: Tensor, alike: float) -> bool:
    """Whether a candidate's per-unit ``difference`` to the lowest is a tie: its mean within ``alike``
    (:data:`TIE_FRACTION` of the lowest's level), or within one paired standard error."""
    return difference.double().mean().item() <= alike or _within_one_se(difference)


def _tied(
    candidates: Sequence[Candidate],
    *,
    accuracy_of: int | None,
    units: Sequence[Tensor | None] | None = None,
) -> list[bool]:
    """Which candidates are tied with the best (module docstring, point 2).

    A loss: its paired difference to the lowest, over the held-out ``units`` (each row's or batch's
    loss level), within one standard error of that difference, and in the run of such candidates
    next to the lowest by lr, or within :data:`TIE_FRACTION` of the lowest's level (its units' mean, or
    its level where units are not known, then that alone). Accuracy (``accuracy_of`` =
    n held-out labels): within one standard error sqrt(p (1 - p) / n) of the best p, and among those
    the held-out loss decides the same way (all of them where units are not known).
    """
    ids = list(range(len(candidates)))
    loss = [c.score for c in candidates]
    if accuracy_of is not None:
        ids = _accuracy_tied(candidates, accuracy_of)
        loss = [c.held_out_loss for c in candidates]
        if not units or any(units[i] is None or loss[i] is None for i in ids):
            return [i in ids for i in range(len(candidates))]
    order = sorted(ids, key=lambda i: candidates[i].lr)
    best = min(order, key=lambda i: loss[i])  # type: ignore[arg-type, return-value]
    base = units[best] if units else None
    if base is not None and base.numel() >= 2:
        alike = TIE_FRACTION * abs(base.double().mean().item())
        tied = {i: units[i] is not None and _alike(units[i] - base, alike) for i in order}  # type: ignore[index, operator]
    else:  # the levels alone: within TIE_FRACTION
        tied = {i: loss[i] - loss[best] <= TIE_FRACTION * abs(loss[best]) for i in order}  # type: ignore[operator]
    # Only the run next to the best: a candidate's own scatter widens its own paired tie.
    low = high = order.index(best)
    while low > 0 and tied[order[low - 1]]:
        low -= 1
    while high < len(order) - 1 and tied[order[high + 1]]:
        high += 1
    return [i in order[low : high + 1] for i in range(len(candidates))]


def _accuracy_tied(candidates: Sequence[Candidate], labels: int) -> list[int]:
    """The candidates whose held-out accuracy is within one standard error of the best's, by index."""
    top = max(c.score for c in candidates)  # type: ignore[type-var]
    tolerance = math.sqrt(max(top * (1 - top), 1 / labels) / labels)
    return [i for i, c in enumerate(candidates) if c.score >= top - tolerance]  # type: ignore[operator]


def _chance_bound(majority: float, labels: int) -> float:
    """:data:`CHANCE_ERRORS` standard errors above the ``majority`` class's share of ``labels`` rows:
    the normal approximation's bar of the chance test (which is exact, :func:`_binomial_tail`)."""
    return majority + CHANCE_ERRORS * math.sqrt(majority * (1 - majority) / labels)


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p): the p-value of the one-sided binomial exact test of k
    successes in n trials against a success probability p (the binomial test: Conover 1999, Practical
    Nonparametric Statistics, 3.1). Each tail is summed from its end nearer the mode outwards, where
    its terms shrink, until they no longer add."""
    if k <= 0 or p >= 1:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)

    def pmf(i: int) -> float:
        return math.exp(
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        )

    upper = k > n * p  # summed upward from k; else 1 - P(X <= k - 1), summed downward from k - 1
    steps = range(k, n + 1) if upper else range(k - 1, -1, -1)
    total = 0.0
    for i in steps:
        term = pmf(i)
        total += term
        if term <= total * 1e-17:
            break
    return total if upper else max(0.0, 1.0 - total)


def _too_few(labels: int, majority: float) -> str:
    """Why ``labels`` held-out labels, a ``majority`` share of one class, cannot show any candidate
    beating that class: even all right, P = majority ** labels is not below :data:`CHANCE_LEVEL`."""
    unknown = "too few held-out labels to tell whether any lr beats answering the most frequent class"
    if majority >= 1:
        return f"{unknown}: all {labels} are of that class, and no count of them would tell"
    needed = math.floor(math.log(CHANCE_LEVEL) / math.log(majority)) + 1
    return (
        f"{unknown}: {labels} held-out labels, {majority:.4g} of them of that class, so even all of them "
        f"right has p {majority**labels:.3g} (one-sided binomial exact test), not below {CHANCE_LEVEL:.3g}; "
        f"at that share {needed} held-out labels would be needed"
    )


def _below_entropy(
    alive: Sequence[tuple[Candidate, _Checked]], counts: Counter[int], folds: Sequence[UserBatches]
) -> bool:
    """Whether some candidate's held-out cross-entropy at its last evaluation lies :data:`CHANCE_ERRORS`
    standard errors below that of answering the labels' frequencies (the labels' entropy), paired row
    by row: it learned what its accuracy cannot show, as on imbalanced classes, where a rare class made
    likelier where it occurs seldom turns an answer. Only for the plain mean cross-entropy, whose scale
    that is, and rows of tensors."""
    loss = folds[0].loss_fn
    plain = isinstance(loss, nn.CrossEntropyLoss) and loss.weight is None and loss.label_smoothing == 0
    if not plain or loss.reduction != "mean" or any(fold.tensors is None for fold in folds):
        return False
    total = counts.total()
    surprise = torch.zeros(max(counts) + 1, dtype=torch.float64)  # -log of each class's frequency
    for label, n in counts.items():
        surprise[label] = -math.log(n / total)
    prior = torch.cat([_mean_per_row(surprise, fold.tensors[1], loss.ignore_index) for fold in folds])  # type: ignore[index]
    return _beats(alive, prior) is True


def _spread_about_mean(folds: Sequence[UserBatches]) -> Tensor | None:
    """Each held-out row's squared error about the held-out targets' mean (over its entries): the
    loss of a model that learned only that mean. Only for the plain mean squared error, whose scale
    that is, and rows of tensors; None otherwise."""
    loss = _unwrapped(folds[0].loss_fn)
    if not isinstance(loss, nn.MSELoss) or loss.reduction != "mean":
        return None
    if any(fold.tensors is None for fold in folds):
        return None
    targets = torch.cat([fold.tensors[1].detach().cpu().double() for fold in folds])  # type: ignore[index]
    if targets.shape[0] < 2:
        return None
    rows = (targets - targets.mean(0)).reshape(targets.shape[0], -1)
    return rows.square().mean(1)


def _unwrapped(loss: Any) -> Any:
    """The torch loss inside optimlab's :class:`~optimlab.techniques.losses.PointwiseLoss`, else
    ``loss`` itself."""
    return loss.loss if isinstance(loss, PointwiseLoss) else loss


def _beats(alive: Sequence[tuple[Candidate, _Checked]], prior: Tensor) -> bool | None:
    """Whether some candidate's held-out loss of each row at its last evaluation lies
    :data:`CHANCE_ERRORS` paired standard errors below the ``prior`` loss of the same rows: it learned
    more than the targets' distribution alone. None where no candidate's rows are known."""
    known = [c for _, c in alive if c.unit_losses is not None and c.unit_losses.shape[-1] == prior.numel()]
    if not known or prior.numel() < 2:
        return None
    for check in known:
        gain = prior - check.unit_losses[-1].double().cpu()  # type: ignore[index]
        if gain.mean() > CHANCE_ERRORS * gain.std() / math.sqrt(gain.numel()):
            return True
    return False


def _mean_per_row(surprise: Tensor, targets: Tensor, ignored: int) -> Tensor:
    """Each row's mean ``surprise`` of its labels (a row of per-position labels: over its positions), the
    label the loss ignores (``ignored``, its ``ignore_index``: padding, whatever its value) and negative
    ones left out, as cross-entropy's mean of the row leaves them out."""
    y = targets.detach().cpu().long().reshape(targets.shape[0], -1)
    kept = (y >= 0) & (y != ignored)
    values = surprise[y.where(kept, 0)] * kept
    return values.sum(1) / kept.sum(1).clamp_min(1)


def _within_one_se(differences: Tensor) -> bool:
    """Whether the mean of paired ``differences`` is at most one standard error of it above zero."""
    d = differences.double()
    return d.mean().item() <= (d.std() / math.sqrt(d.numel())).item()


def stackable(model: nn.Module, optimizer: torch.optim.Optimizer) -> str | None:
    """Why K lr copies of ``model`` and ``optimizer`` cannot train as one stacked model, or None if they can."""
    entry = getattr(optimizer, "_entry", None) if isinstance(optimizer, OptimlabOptimizer) else None
    group = optimizer.param_groups[0]
    reasons = {
        "the optimizer is not one of optimlab's registered optimizers": entry is None,
        "the optimizer's math is not elementwise": entry is not None and BATCHABLE not in entry.capabilities,
        "the optimizer has several param groups": len(optimizer.param_groups) > 1,
        "the optimizer has state already": bool(optimizer.state_dict()["state"]),
        "a hyperparameter is a schedule": any(callable(v) for k, v in group.items() if k != "params"),
        "the model has batch norm": any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()
        ),
        "the model has dropout": random_dropout(model) is not None,
        "the model's parameters are not all in the optimizer": sum(
            len(g["params"]) for g in optimizer.param_groups
        )
        != len(list(model.parameters())),
    }
    return next((reason for reason, applies in reasons.items() if applies), None)


def score_lrs(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    train: tuple[Tensor, Tensor],
    held_out: tuple[Tensor, Tensor],
    optimizer: torch.optim.Optimizer,
    lrs: Sequence[float],
    *,
    steps: int,
    batch_size: int,
    seed: int = 0,
    grad_clip_norm: float | None = None,
) -> list[dict[str, float]]:
    """Train a copy of ``model`` at each lr for ``steps`` steps, as :func:`optimlab.train.fit` would;
    return each one's held-out metrics (``val_loss``, ``val_accuracy`` for classification, ``val_rmse``
    for regression) at the end of its run (:func:`end_level` of its late evaluations), or ``{}`` where
    it diverged. The lr is the swept param group's; other groups keep their ratio to it
    (:func:`~optimlab.doctor.lr_find.lr_ratios`). ``grad_clip_norm``: the global norm each step clips the
    gradients to (None: unclipped)."""
    if grad_clip_norm is not None:  # the stacked check clips by it unchecked: -1 reversed the gradients
        grad_clip_norm = real_number(grad_clip_norm, "grad_clip_norm", POSITIVE, also=", or None")
    batches = UserBatches(train, loss_fn, batch_size=batch_size, seed=seed)
    validation = UserBatches(held_out, loss_fn, batch_size=batch_size, shuffle=False)
    _, by_row = _first_held_out_batch(model, optimizer, validation)
    stacked = _stacks(model, optimizer, batches, validation, by_row)
    clip = {"grad_clip_norm": grad_clip_norm}
    checks = _check(model, optimizer, lrs, batches, validation, steps, seed, stacked, by_row, **clip)
    return [c.levels for c in checks]


def end_level(steps: Sequence[int], values: Sequence[float], *, log: bool = False) -> float:
    """The level a run's metric ends at: the least-squares line through ``(steps, values)`` read at the
    last step; ``log``: fitted to the logarithms (a loss, whose noise is relative). One evaluation is
    one draw of the run's end-of-run jitter; a mean of several lags a metric still moving."""
    v = torch.tensor(values, dtype=torch.float64)
    level = (_line_weights(steps) * (v.log() if log else v)).sum()
    return level.exp().item() if log else level.item()


def _line_weights(steps: Sequence[int]) -> Tensor:
    """w with sum(w * values) the least-squares line through ``(steps, values)`` read at the last step."""
    t = torch.tensor(steps, dtype=torch.float64)
    dt = t - t.mean()
    return 1 / len(steps) + dt * dt[-1] / dt.square().sum().clamp_min(1e-12)


@dataclasses.dataclass(frozen=True)
class _Checked:
    """One candidate's check: each metric's level (``{}``: diverged), and where known each held-out
    unit's (row's or batch's) loss at each of its ``steps`` (evaluations x units)."""

    levels: dict[str, float]
    unit_losses: Tensor | None = None
    steps: tuple[int, ...] = ()


def _checked(records: Sequence[tuple[int, dict[str, float], Tensor | None]]) -> _Checked:
    """Each metric's :func:`end_level` over ``(step, metrics, unit losses)`` records, and the unit
    losses; empty if any metric is not finite."""
    if not records or not all(math.isfinite(v) for _, m, _ in records for v in m.values()):
        return _Checked({})
    steps = tuple(step for step, _, _ in records)
    levels = {}
    for name in records[-1][1]:
        values = [m[name] for _, m, _ in records]
        if name.endswith("accuracy"):
            levels[name] = min(1.0, max(0.0, end_level(steps, values)))
        else:
            level = end_level(steps, values, log=all(v > 0 for v in values))
            # Losses of exactly 0 among them (a fit below float precision: Lion on wine) are fitted raw,
            # and the line can read below 0 (a cross-entropy of -0.99): held at 0, as accuracy in [0, 1].
            levels[name] = max(0.0, level) if min(values) >= 0 else level
    if not all(u is not None for _, _, u in records):
        return _Checked(levels)
    return _Checked(levels, torch.stack([u.double() for _, _, u in records]), steps)  # type: ignore[union-attr]


def _unit_levels(checks: Sequence[_Checked]) -> list[Tensor | None]:
    """Each unit's loss level in each of ``checks`` (the line of :func:`end_level`, per unit), all
    alike so that paired differences compare like with like: through the logarithms (a loss's noise
    is relative) where no loss is negative, a loss of exactly 0 (below float precision) counting as
    the smallest positive one of any check; else on the raw losses. None for all where a check's
    units are not known."""
    if any(c.unit_losses is None for c in checks):
        return [None] * len(checks)
    losses = [c.unit_losses for c in checks]
    every = torch.cat([u.flatten() for u in losses])  # type: ignore[union-attr]
    log = bool((every >= 0).all() and (every > 0).any())
    floor = every[every > 0].min() if log else None
    levels: list[Tensor | None] = []
    for check, u in zip(checks, losses, strict=True):
        weights = _line_weights(check.steps)[:, None]
        levels.append((weights * u.clamp_min(floor).log()).sum(0).exp() if log else (weights * u).sum(0))  # type: ignore[union-attr]
    return levels


def _held_out_scores(
    forward: Callable[[Tensor], Tensor],
    member_losses: Callable[[Tensor, Tensor], Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    held_out: tuple[Tensor, Tensor],
    *,
    members: int,
    task: str,
) -> tuple[list[dict[str, float]], Tensor]:
    """The ``members``' held-out metrics (:func:`~optimlab.train.run.evaluate_members`) and each one's
    loss of each held-out row, ``(K, N)``, from one forward pass of each batch."""
    x, y = held_out
    rows: list[Tensor] = []

    def forward_keeping_rows(xb: Tensor) -> Tensor:
        outputs = forward(xb)
        start = sum(r.shape[1] for r in rows)  # evaluate_members goes through the rows in order
        rows.append(_row_losses(loss_fn, outputs, y[start : start + xb.shape[0]]))
        return outputs

    metrics = evaluate_members(
        forward_keeping_rows, member_losses, x, y, members=members, task=task, prefix="val", loss_fn=loss_fn
    )
    return metrics, torch.cat(rows, dim=1)


def _row_losses(loss_fn: Callable[[Tensor, Tensor], Tensor], outputs: Tensor, y: Tensor) -> Tensor:
    """Each member's loss of each row, ``(K, B)``, of outputs ``(K, B, ...)`` against targets ``(B, ...)``:
    every row a member of its own (:func:`~optimlab.models.stacked.stacked_loss`)."""
    members, rows = outputs.shape[:2]
    targets = y.expand(members, *y.shape).reshape(members * rows, 1, *y.shape[1:])
    per_row = stacked_loss(loss_fn, shared_targets=False)  # type: ignore[arg-type]
    return per_row(outputs.reshape(members * rows, 1, *outputs.shape[2:]), targets).view(members, rows)


class _Recorder(Callback):
    """Keeps the evaluations of :func:`fit` that :func:`~optimlab.doctor.check_plan.evaluated_after` selects, with their steps and
    the unit losses the evaluation left in ``units``."""

    writes_checkpoints = False

    def __init__(self, steps: int, units: list[Tensor | None]) -> None:
        self.steps, self.units, self.records = steps, units, []

    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None:
        if evaluated_after(state.step, self.steps):
            self.records.append((state.step, metrics, self.units[-1]))


class _Progress(Callback):
    """Reports each step of :func:`fit` as ``phase`` (:mod:`optimlab.doctor.progress`)."""

    writes_checkpoints = False

    def __init__(self, phase: str, steps: int) -> None:
        self.phase, self.steps = phase, steps

    def on_step_end(self, state: TrainState) -> None:
        report(self.phase, state.step, self.steps)


class _Probe(Callback):
    """Times a check's first steps (:class:`_OverBudget`): from the second (the first warms up) to the
    :data:`PROBE_STEPS`-th after it, raises where ``runs`` checks of ``steps`` steps at their mean time,
    and their held-out evaluations of ``evaluation`` seconds each, would end after ``ends`` (a
    :func:`time.perf_counter` time); ``members``: the models of a stacked step, which share its time."""

    writes_checkpoints = False

    def __init__(
        self, ends: float, steps: int, evaluation: float = 0.0, *, runs: int = 1, members: int = 1
    ) -> None:
        self.ends, self.steps, self.evaluation, self.runs, self.members = (
            ends,
            steps,
            evaluation,
            runs,
            members,
        )
        self.clock, self.step = 0.0, 0.0

    def on_step_end(self, state: TrainState) -> None:
        self.after(state.step)

    def after(self, step: int) -> bool:
        """Time ``step``; whether it is the probe's last (its steps within the time left)."""
        if step == 1:
            self.clock = time.perf_counter()
        if not 1 < step <= 1 + PROBE_STEPS:
            return False
        self.step = (time.perf_counter() - self.clock) / (step - 1)
        self.overruns(self.evaluation)
        return step == 1 + PROBE_STEPS

    def overruns(self, evaluation: float) -> None:
        """Raise :class:`_OverBudget` where the check, its evaluations taking ``evaluation`` seconds,
        would end after ``ends``."""
        one = self.steps * self.step + evaluations(self.steps) * evaluation
        if time.perf_counter() + self.runs * one > self.ends:
            raise _OverBudget(self.step / self.members, evaluation / self.members)

    def runs_left(self, runs: int, seconds_per_run: float) -> None:
        """Raise :class:`_OverBudget` where ``runs`` more checks at ``seconds_per_run`` each (the last
        one's, its evaluations included) would end after ``ends``: the machine slowed after the
        first steps were timed (a second process on a core: a check planned at 20 s ran 37 s)."""
        if time.perf_counter() + runs * seconds_per_run > self.ends:
            raise _OverBudget(seconds_per_run / self.steps, 0.0)


def _check(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    lrs: Sequence[float],
    train: UserBatches,
    held_out: UserBatches,
    steps: int,
    seed: int,
    stacked: bool,
    by_row: bool,
    fold: str = "",
    probe: _Probe | None = None,
    *,
    grad_clip_norm: float | None = None,
) -> list[_Checked]:
    """Each lr's check (module docstring): ``stacked`` (tensors, an ``nn.Module`` loss,
    :func:`stackable`) or one at a time; ``by_row``: held-out rows scored apart, else batches
    (:func:`_scored_by_row`); ``fold``: which of the cross-fitted checks this is, for the
    progress it reports; ``probe``: times its first steps (:class:`_Probe`); ``grad_clip_norm``: the norm
    each step clips the gradients to (None: unclipped)."""
    fold = f", {fold}" if fold else ""
    if held_out.tensors is not None:  # moved once, as the training tensors are
        device = next(model.parameters()).device
        held_out.tensors = (held_out.tensors[0].to(device), held_out.tensors[1].to(device))
    if stacked:
        phase = f"lr check: {len(lrs)} candidates at once{fold}"
        return _check_stacked(
            model, train.loss_fn, optimizer, lrs, train, held_out.tensors, steps, seed, phase, probe,
            grad_clip_norm=grad_clip_norm,
        )  # fmt: skip
    checked: list[_Checked] = []
    _, ratios = lr_ratios(optimizer)
    last = 0.0  # seconds the last candidate took: the machine's speed now
    for i, lr in enumerate(lrs, 1):
        if probe is not None and checked:  # the machine may slow after the first steps were timed
            probe.runs_left(len(lrs) - len(checked), last)
        started = time.perf_counter()
        phase = f"lr check: candidate {i} of {len(lrs)} (lr {lr:.3g}){fold}"
        checked.append(  # the first one's steps time them all
            _check_one(
                model,
                optimizer,
                lr,
                ratios,
                train,
                held_out,
                steps,
                seed,
                by_row,
                phase,
                probe if i == 1 else None,
                grad_clip_norm=grad_clip_norm,
            )
        )
        last = time.perf_counter() - started
    return checked


def _check_one(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    lr: float,
    ratios: Sequence[float],
    train: UserBatches,
    held_out: UserBatches,
    steps: int,
    seed: int,
    by_row: bool,
    phase: str,
    probe: _Probe | None = None,
    *,
    grad_clip_norm: float | None = None,
) -> _Checked:
    """One candidate's check, trained alone from a copy, each param group at ``lr`` times its ratio
    (:func:`~optimlab.doctor.lr_find.lr_ratios`); ``probe``: times its first steps (:class:`_Probe`)."""
    with preserved(model, optimizer):  # the random state: dropout draws
        # One deepcopy of both keeps the optimizer's references to the copied parameters.
        member, member_optimizer = copy.deepcopy((model, optimizer))
    # An lr scheduler wraps its optimizer's step in an instance attribute, which deepcopy keeps as it is
    # (functions are not copied): the copy's step would step the original. The class's step it is.
    vars(member_optimizer).pop("step", None)
    for group, ratio in zip(member_optimizer.param_groups, ratios, strict=True):
        group["lr"] = lr * ratio
    torch.manual_seed(seed)
    units: list[Tensor | None] = []
    loss_fn, pair = train.loss_fn, held_out.tensors
    task = "regression" if pair is not None and targets_are_numbers(pair[1], loss_fn) else "classification"

    def evaluation() -> dict[str, float]:
        if by_row:  # every held-out row a unit
            member.eval()
            [metrics], rows = _held_out_scores(
                lambda xb: prediction(member(xb)).unsqueeze(0),
                lambda out, yb: loss_fn(out[0], yb).reshape(1),
                loss_fn,
                pair,
                members=1,
                task=task,
            )
            units.append(rows[0])
            return metrics
        per_batch: list[float] = []
        metrics = evaluate_batches(member, held_out, prefix="val", per_batch=per_batch)
        units.append(torch.tensor(per_batch))
        return metrics

    recorder, progress = _Recorder(steps, units), _Progress(phase, steps)
    # Up to the last quarter without evaluations (the loop's batch order follows the step), then with.
    first = next(step for step in range(1, steps + 1) if evaluated_after(step, steps))
    timing = [progress] if probe is None else [progress, probe]
    clipped = {"grad_clip_norm": grad_clip_norm}
    state = None  # the first evaluation after step 1: no steps before it (fit refuses 0 steps)
    if first > 1:
        state = fit(member, member_optimizer, train, total_steps=first - 1, callbacks=timing, **clipped)
    if state is None or not state.diverged:
        state = fit(
            member,
            member_optimizer,
            train,
            total_steps=steps,
            state=state,
            evaluate=evaluation,
            eval_every=max(1, steps // EVALUATIONS),
            callbacks=[recorder, *timing],
            **clipped,
        )
    return _Checked({}) if state.diverged else _checked(recorder.records)


def _scored_by_row(made: Forward, loss_fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
    """Whether the check can score each held-out row apart, as a few rows of a held-out batch's
    forward ``made`` tell: the model's prediction is one tensor (not a tuple or a dict of outputs), and
    ``loss_fn`` run row by row under ``vmap`` gives losses whose mean (or sum) is its loss of the rows
    together. Not so: a loss calling ``.item()``, cross-entropy with class weights and label smoothing
    (which torch cannot ``vmap``), class weights alone (a weighted mean), a term over the batch (a
    spread across rows). Then the check's units are the held-out batches."""
    if not (isinstance(made.prediction, Tensor) and isinstance(made.target, Tensor)):
        return False
    outputs, targets = made.prediction[:PROBE_ROWS], made.target[:PROBE_ROWS]
    try:
        rows = _row_losses(loss_fn, outputs.unsqueeze(0), targets)[0]
        together = float(loss_fn(outputs, targets))
    except (RuntimeError, ValueError, TypeError, IndexError):  # vmap's refusal; a loss of several values
        return False
    return any(
        math.isclose(together, float(of_rows), rel_tol=1e-4, abs_tol=1e-6)
        for of_rows in (rows.mean(), rows.sum())
    )


def _multi_label(folds: Sequence[UserBatches]) -> bool:
    """Whether the held-out targets are 0/1 matrices, several labels a row (multi-label, whose accuracy is
    the exact match of a row: :func:`~optimlab.train.evaluation.subset_hits`): no most frequent class
    gives its chance level, and the check scores them by their loss."""
    held_out = folds[0]
    if held_out.tensors is not None:
        target = held_out.tensors[1]
    else:
        batch = next(iter(held_out.one_pass("cpu")), None)
        target = batch_target(batch)
    return (
        isinstance(target, Tensor) and target.is_floating_point() and target.ndim == 2 and target.shape[1] > 1
    )


def _label_counts(folds: Sequence[UserBatches]) -> Counter[int]:
    """How often each class is the target in one pass of the held-out ``folds`` (integer targets; a
    negative one is a label the loss ignores, as cross-entropy's ``ignore_index``, but for -1 where the
    labels are -1/+1, a margin loss's negative class, as :func:`~optimlab.train.evaluation.hits` counts
    it): their total is the n of an accuracy's standard error, the most frequent one's share the
    accuracy of answering it always. The label the loss ignores (its ``ignore_index``, whatever its value:
    :func:`~optimlab.techniques.losses.ignored_label`) is left out first, as the accuracy leaves it out.
    Whether the labels are -1/+1 is decided once, over every fold's batches: a batch (or fold) of +1
    labels alone beside one holding -100 would otherwise follow another rule."""
    targets = []
    for held_out in folds:
        if held_out.tensors is not None:
            targets.append(held_out.tensors[1])
            continue
        for batch in held_out.one_pass("cpu"):
            target = batch_target(batch)
            if isinstance(target, Tensor) and not target.is_floating_point():
                targets.append(target)
    if not targets:
        return Counter()
    every = torch.cat([t.detach().cpu().flatten() for t in targets])
    ignored = ignored_label(folds[0].loss_fn)
    every = every if ignored is None else every[every != ignored]
    signs = set(every.unique().tolist()) <= {-1, 1}
    labels, times = every[every >= (-1 if signs else 0)].unique(return_counts=True)
    return Counter(dict(zip(labels.tolist(), times.tolist())))


def _check_stacked(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    lrs: Sequence[float],
    train: UserBatches,
    held_out: tuple[Tensor, Tensor],
    steps: int,
    seed: int,
    phase: str,
    probe: _Probe | None = None,
    *,
    grad_clip_norm: float | None = None,
) -> list[_Checked]:
    """:func:`_check` with the K lrs as members of one stacked model (module docstring); ``probe``
    times its first steps and, where they fit, one held-out evaluation (:class:`_Probe`)."""
    members = len(lrs)
    entry = optimizer._entry  # type: ignore[attr-defined]
    group = optimizer.param_groups[0]
    shared = {k: group[k] for k in entry.hyperparameter_names if k in group and k != "lr"}
    stacked_params, stacked_buffers = stack_module_state([model] * members)
    params = [p.detach().clone().requires_grad_() for p in stacked_params.values()]
    named = dict(zip(stacked_params, params))
    buffers = {n: b.detach().clone() for n, b in stacked_buffers.items()}
    forward = stacked_forward(copy.deepcopy(model), members, shared_input=True)
    member_losses = stacked_loss(loss_fn, shared_targets=True)
    stepper = BatchedOptimizer(params, entry.name, members=members, lr=list(lrs), **shared)
    stepper.train()
    (x, y), batch_size = train.tensors, train.batch_size  # type: ignore[misc]
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    task = "regression" if targets_are_numbers(held_out[1], loss_fn) else "classification"
    n = x.shape[0]
    per_epoch = math.ceil(n / batch_size)
    alive = torch.ones(members, dtype=torch.bool)
    records: list[tuple[int, list[dict[str, float]], Tensor]] = []

    def evaluate() -> tuple[list[dict[str, float]], Tensor]:
        stepper.eval()  # schedule-free optimizers evaluate at another point than they train at
        try:
            scores = _held_out_scores(
                lambda xb: forward(named, buffers, xb),
                member_losses,
                loss_fn,
                held_out,
                members=members,
                task=task,
            )
        finally:
            stepper.train()
        return scores

    for step in range(steps):
        epoch, offset = divmod(step, per_epoch)
        if offset == 0:
            order = epoch_permutation(seed, epoch, n, x.device)
        rows = order[offset * batch_size : (offset + 1) * batch_size]
        losses = member_losses(forward(named, buffers, x[rows]), y[rows])
        alive &= torch.isfinite(losses.detach()).cpu()
        if not alive.any():
            break
        grads = list(torch.autograd.grad(losses.sum(), params))
        if grad_clip_norm is not None:  # each member by its own norm, as fit clips a model alone
            clip_grad_norm_(grads, grad_clip_norm, stacked=True)
        stepper.step(grads)
        report(phase, step + 1, steps)
        if probe is not None and probe.after(step + 1):  # and with the held-out evaluations?
            clock = time.perf_counter()
            evaluate()
            probe.overruns(time.perf_counter() - clock)
        if evaluated_after(step + 1, steps):
            records.append((step + 1, *evaluate()))
    return [
        _checked([(step, metrics[k], units[k]) for step, metrics, units in records]) if ok else _Checked({})
        for k, ok in enumerate(alive.tolist())
    ]
