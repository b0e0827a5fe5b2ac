"""Diagnose a training setup: run it briefly with the instruments on, then apply the rules.

>>> import torch
>>> from torch import nn
>>> from optimlab.doctor import diagnose
>>> x, y = torch.rand(256, 8) * 255, torch.randint(0, 3, (256,))       # pixels, not standardized
>>> model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
>>> found = diagnose(model, (x, y), nn.CrossEntropyLoss(), steps=60, lr_find=False)
>>> found.findings[0].rule, found.findings[0].recipe_changes
('input_scale', {})
>>> found.findings[0].recommendation
'standardize the inputs (each feature to mean 0 and std 1)'

Three doors lead here: :func:`diagnose` (Python), :class:`DoctorCallback` (inside
:func:`optimlab.train.fit`), and ``optimlab doctor`` (:func:`diagnose_recipe`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from optimlab.compiled import uncompiled
from optimlab.data.global_rng import global_generators_given_back
from optimlab.data.user_batches import UserBatches, batch_parts, describe
from optimlab.data.user_factory import BatchSplits
from optimlab.doctor.check_plan import MAX_CHECK_STEPS
from optimlab.doctor.findings import (
    FIT_ARGUMENTS,
    TORCH_CALLS,
    Finding,
    Setting,
    advised_as,
    checked_settings,
)
from optimlab.doctor.instruments import INSTRUMENTS, Instruments, InstrumentSchedule, RunStatistics
from optimlab.doctor.lr_check import find_lr, validate_check
from optimlab.doctor.lr_find import (
    LRRangeResult,
    check_argument_order,
    examined_optimizer,
    json_ready,
    lr_range_test,
    sweep_batches,
    with_notes,
)
from optimlab.doctor.rules import checked_options, run_rules
from optimlab.doctor.snapshot import preserved
from optimlab.doctor.watch import watch
from optimlab.errors import InvalidValueError, keywords_checked
from optimlab.models import recipe_fields
from optimlab.optim.learning_rate import restore_given_lrs
from optimlab.registry import POSITIVE, POSITIVE_INT, boolean, real_number, whole_number
from optimlab.train.loop import Callback, TrainState, check_optimizer, check_short_batch

if TYPE_CHECKING:
    from optimlab.recipe import Recipe

__all__ = [
    "MAX_CHECK_STEPS",
    "Diagnosis",
    "DoctorCallback",
    "diagnose",
    "diagnose_recipe",
    "find_lr_recipe",
    "lr_range_test_recipe",
]

# A watched step costs this many range-test steps (the instruments' hooks; 1.5 measured on a
# Transformer): what the lr check leaves the watched run of a time budget.
WATCH_STEP_COST = 1.5
# The watched run a time budget keeps at least: a plateau (its rule's min_steps) shows within it.
MIN_WATCHED_STEPS = 60

# Findings the range test's suggestion itself answers: of the lr, or of its course (a plateau's fix is a
# schedule), not of the setup the lr was measured on.
_ANSWERED_BY_THE_LR = frozenset({"lr_too_high", "lr_too_low", "plateau"})


@dataclasses.dataclass
class Diagnosis:
    """Ranked findings (root cause first), the statistics behind them, and the LR range test's curve."""

    findings: list[Finding]
    statistics: RunStatistics
    lr_range: LRRangeResult | None = None
    # What a time budget left out of the watched run, in words (None where nothing).
    watch_cut: str | None = None

    @property
    def healthy(self) -> bool:
        """No error and no warning (info findings allowed)."""
        return not self.problems

    @property
    def problems(self) -> list[Finding]:
        """The errors and warnings, ranked."""
        return [f for f in self.findings if f.severity in ("error", "warning")]

    @property
    def lr_measured_with(self) -> list[Finding]:
        """The root causes other than the lr that the range test's suggestion was measured with: it fits
        the setup as it is, and the best lr moves once they are fixed (wine's raw inputs: 0.105 for
        AdamW; standardized: 0.0099)."""
        if self.lr_range is None or self.lr_range.suggestion is None:
            return []
        return [f for f in self.problems if not f.consequence_of and f.rule not in _ANSWERED_BY_THE_LR]

    def to_dict(self) -> dict[str, Any]:
        """Everything a reader needs as strict JSON (non-finite numbers become None): findings, per-layer
        summary, NaN origin, LR curve, instruments."""
        stats = self.statistics
        grads = stats.layer_grad_norms()
        _, ratios = stats.update_to_weight_ratios()
        layers = []
        for i, layer in enumerate(stats.layers):
            column = grads[:, i][torch.isfinite(grads[:, i])] if grads.numel() else grads
            ratio = ratios[:, i][torch.isfinite(ratios[:, i])] if ratios.numel() else ratios
            layers.append(
                {
                    **{f.name: getattr(layer, f.name) for f in dataclasses.fields(layer) if f.name != "bias"},
                    "median_grad_norm": column.median().item() if column.numel() else None,
                    "median_update_to_weight_ratio": ratio.median().item() if ratio.numel() else None,
                }
            )
        return json_ready(
            {
                "healthy": self.healthy,
                "steps": len(stats.steps),
                "watch_cut": self.watch_cut,
                "findings": [f.to_dict() for f in self.findings],
                "layers": layers,
                "non_finite": stats.non_finite.to_dict() if stats.non_finite else None,
                "lr_range": self.lr_range.to_dict() if self.lr_range else None,
                "lr_measured_with": [f.rule for f in self.lr_measured_with],
                "instruments": [dataclasses.asdict(i) for i in INSTRUMENTS],
            }
        )


class DoctorCallback(Callback):
    """Instruments a :func:`optimlab.train.fit` run; :meth:`diagnosis` turns what they saw into findings.
    A callback that freezes or unfreezes parameters mid-run ends the record before that step, said in one
    warning (:class:`~optimlab.doctor.instruments.ParametersChanged`)::

    doctor = DoctorCallback(model, optimizer)
    fit(model, optimizer, x, y, loss_fn=loss_fn, total_steps=300, batch_size=32, callbacks=[doctor])
    for finding in doctor.diagnosis().findings:
        print(finding.title, "->", finding.recommendation)
    """

    writes_checkpoints = False

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        schedule: InstrumentSchedule | None = None,
    ) -> None:
        check_optimizer(optimizer)  # the one the loop steps: no default here
        self.instruments = Instruments(model, examined_optimizer(model, optimizer), schedule)

    def on_train_start(self, state: TrainState) -> None:
        self.statistics.grad_clip_norm = state.grad_clip_norm  # fit's clip, which no advice may repeat
        self.instruments.start(state.step)

    def on_before_optimizer_step(self, state: TrainState) -> None:
        # The gradients before clipping (a clipped norm hides an explosion); at the step, where the
        # loss is scaled: float16's scaler skips the steps whose gradients overflowed, as intended.
        if not state.scales_loss:
            self.instruments.gradients_ready()

    def on_train_batch(self, state: TrainState, batch: Any, targets: Any) -> None:
        # the targets fit's loss compares with: how its batches mix the data (labels sorted, unshuffled),
        # a regression's scale; beside the batch's other parts, whether they are its inputs again
        self.instruments.record_targets(state.step + 1, targets, batch_parts(batch)[0])

    def on_step_end(self, state: TrainState) -> None:
        if not state.skipped:  # no loss, no update: its batches held no target the loss scores
            self.instruments.record_step(state.step, state.train_loss, state.lr)

    def on_train_end(self, state: TrainState) -> None:
        self.instruments.stop()

    def on_exception(self, state: TrainState, error: BaseException) -> None:
        self.instruments.stop()  # its hooks come off the user's model, stopped by Ctrl-C or an error

    @property
    def statistics(self) -> RunStatistics:
        return self.instruments.statistics

    def diagnosis(
        self,
        lr_range: LRRangeResult | None = None,
        *,
        rule_options: Mapping[str, Mapping[str, Any]] | None = None,
        settings: Mapping[str, str | Setting] | None = None,
    ) -> Diagnosis:
        """Apply every rule to what was recorded so far (``rule_options``: thresholds by rule name);
        ``settings``: what sets each recipe field the advice changes (:func:`advised_as`), by default
        :func:`optimlab.train.fit`'s keywords and torch's calls (:data:`FIT_ARGUMENTS`: fit runs the loop
        this callback watches), ``{}`` where a recipe runs the training."""
        settings = checked_settings(settings)
        return self._advised(lr_range, rule_options, FIT_ARGUMENTS if settings is None else settings)

    def _advised(
        self,
        lr_range: LRRangeResult | None,
        rule_options: Mapping[str, Mapping[str, Any]] | None,
        settings: Mapping[str, str | Setting],
    ) -> Diagnosis:
        """The rules' findings said as ``settings`` (a door's whole table, the doctor's options with it)."""
        findings = [
            advised_as(f, settings) for f in run_rules(self.statistics, lr_range, options=rule_options)
        ]
        return Diagnosis(findings=findings, statistics=self.statistics, lr_range=lr_range)


def _training_tensors(data: Any) -> tuple[Tensor, Tensor]:
    """(x, y) from a pair of tensors, a split with ``.x``/``.y``, or splits with ``.train``."""
    pair = UserBatches(data).tensors
    if pair is None:
        raise InvalidValueError(
            "data", type(data).__name__, "a pair of tensors (x, y), or splits with .train"
        )
    return pair


def _held_out(data: Any, device: torch.device) -> tuple[Tensor, Tensor] | None:
    """The validation split of ``data`` (splits from :func:`optimlab.data.load`), if it has rows."""
    split = getattr(data, "val", None)
    x, y = getattr(split, "x", None), getattr(split, "y", None)
    if isinstance(x, Tensor) and isinstance(y, Tensor) and x.shape[0] > 0:
        return x.to(device), y.to(device)
    return None


@keywords_checked
def diagnose(
    model: nn.Module,
    data: Any,
    loss_fn: Any = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    compute_loss: Any = None,
    val_data: Any = None,
    steps: int = 200,
    batch_size: int | None = None,
    lr_find: bool = True,
    check_steps: int = 200,
    check_steps_named: str = "check_steps",
    check_budget: float | None = None,
    time_budget: float | None = None,
    seed: int = 0,
    grad_clip_norm: float | None = None,
    schedule: InstrumentSchedule | None = None,
    rule_options: Mapping[str, Mapping[str, Any]] | None = None,
    settings: Mapping[str, str | Setting] | None = None,
) -> Diagnosis:
    """Train ``model`` for ``steps`` steps with the instruments on, and report what went wrong.

    The model and optimizer are examined, not treated: their state (weights, buffers, optimizer
    moments, random state) is restored afterwards.

    Args:
        model: any ``nn.Module``.
        data: the training data in any shape a PyTorch user has it (:mod:`optimlab.data.user_batches`):
            ``(x, y)`` tensors, splits from :func:`optimlab.data.load` (their training split), a
            ``Dataset``, a ``DataLoader`` or a list of batches; batches as tuples, lists or dicts.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``; None when the model returns its own loss
            (Hugging Face: ``model(**batch).loss``).
        optimizer: over ``model``'s parameters; default optimlab's ``adam`` at its default lr.
        compute_loss: ``compute_loss(model, batch) -> scalar``, instead of ``loss_fn``, for anything else.
        steps: training steps to watch; a run that diverges stops earlier.
        batch_size: rows per step, for tensors and Datasets (None: 64); refused beside a DataLoader,
            which batches itself.
        val_data: held-out data in any shape ``data`` takes, on which the lr check scores its
            candidates; default the validation split of splits, else a fifth of ``data`` held out.
        lr_find: find an lr first: the LR range test, then a check of its candidates on ``val_data``
            (:func:`optimlab.doctor.find_lr`), so that the learning-rate rules can compare the lr
            with its suggestion.
        check_steps: steps of each candidate's check run: best the length of the real run (a shorter
            check favours large lrs; ``docs/benchmarks.md``). 17 candidates train at once as one
            stacked model where they can (tensors, an ``nn.Module`` loss, optimlab's elementwise
            optimizers); otherwise 9 train one after another, costing 9 runs of ``check_steps``
            (:mod:`optimlab.doctor.lr_check`).
        check_steps_named: the words that set ``check_steps`` for the caller, said where no candidate
            learned within them (:func:`optimlab.doctor.find_lr`).
        check_budget: seconds the check may take, as estimated from the range test, then from the
            check's own first steps; over it, it leaves out cross-fitted checks, then candidates, then
            steps (to a quarter of the run; below, no check), and says so
            (:mod:`optimlab.doctor.check_plan`); None: no limit.
        time_budget: seconds the whole diagnosis may take: the check's budget is cut to what is left
            once the watched run is set aside (``steps`` at :data:`WATCH_STEP_COST` range-test steps
            each), and the watched run stops where its next step would overrun (never before
            :data:`MIN_WATCHED_STEPS`), which ``watch_cut`` says; None: no limit.
        seed: batch order and every random draw (dropout) during the diagnosis.
        grad_clip_norm: the global norm the watched run clips the gradients to before each step, as
            :func:`optimlab.train.fit` does (None: unclipped); the rules read the gradients before it,
            and advise no clip already in force. The lr range test and its check clip their steps so too.
        schedule: when the costlier instruments run (default :class:`InstrumentSchedule`).
        rule_options: thresholds by rule name, e.g. ``{"dead_units": {"warn_fraction": 0.5}}``.
        settings: what sets each recipe field the advice changes (the lr, the clip, the data's scaling):
            None, the user's own PyTorch code, which the advice names (``lr=0.003 in the optimizer``, no
            recipe_changes); a trainer's arguments (``{"optimizer.lr": "TrainingArguments.learning_rate"}``);
            ``{}`` where a recipe runs the training (:func:`diagnose_recipe`): its fields. A key that names
            no field the rules advise, or a value that is no str nor :class:`Setting`, is refused before
            the run (:func:`~optimlab.doctor.findings.checked_settings`).
    """
    steps = whole_number(steps, "steps", POSITIVE_INT)  # numpy's integers too
    boolean(lr_find, "lr_find")  # lr_find='no' ran the range test
    validate_check(check_steps, check_budget)  # even where lr_find is off: a bad value is not ignored
    if time_budget is not None and not POSITIVE.contains(time_budget):
        raise InvalidValueError("time_budget", time_budget, f"seconds, {POSITIVE}, or None for no limit")
    deadline = None if time_budget is None else time.perf_counter() + time_budget
    if grad_clip_norm is not None:
        grad_clip_norm = real_number(grad_clip_norm, "grad_clip_norm", POSITIVE, also=", or None")
    checked_options(rule_options)  # before the run, not after it
    settings = checked_settings(settings)
    # torch.compile's wrapper: the doctor examines the module it compiled (the same parameters), whose
    # hooks and structure it reads; through the wrapper the first batch failed ('Cannot copy out of meta tensor')
    model = uncompiled(model)
    optimizer = examined_optimizer(model, optimizer)
    check_argument_order(loss_fn, data, "diagnose")
    batches = sweep_batches(  # the seed draws dropout too
        data, None, loss_fn, compute_loss=compute_loss, batch_size=batch_size, seed=seed, also_reads=("seed",)
    )
    check_short_batch(model, batches)  # as fit: an epoch's last batch of one row under batch norm
    doctor = DoctorCallback(model, optimizer, schedule=schedule)  # its schedule checked before the lr check
    lr_range = None
    if lr_find:
        held_out = (
            UserBatches(
                val_data,
                loss_fn,
                compute_loss=compute_loss,
                batch_size=batches.batch_size,
                shuffle=False,
                field="val_data",
            )
            if val_data is not None
            else _held_out(data, next(model.parameters()).device)
        )
        lr_range = find_lr(
            model,
            None,
            batches,
            optimizer=optimizer,
            held_out=held_out,
            cross_fit=val_data is None,  # the given rows as they are; splits' validation drawn at random
            check_steps=check_steps,
            check_steps_named=check_steps_named,
            check_budget=check_budget,
            budget_for=None if deadline is None else _check_budget_within(deadline, steps, check_budget),
            seed=seed,
            grad_clip_norm=grad_clip_norm,
        )
    with preserved(model, optimizer):
        # A scheduler made beside the optimizer set its first value (a warmup's 0), which the watched run,
        # stepping no scheduler, would keep for every step: it runs at the lrs given, as the range test
        # sweeps and diagnose_recipe watches (the lrs the scheduler set come back on exit).
        restore_given_lrs(optimizer)
        torch.manual_seed(seed)
        taken = watch(
            model,
            optimizer,
            batches,
            doctor.instruments,
            steps=steps,
            deadline=deadline,
            min_steps=MIN_WATCHED_STEPS,
            grad_clip_norm=grad_clip_norm,
        )
    doctor.statistics.grad_clip_norm = grad_clip_norm
    diagnosis = doctor._advised(lr_range, rule_options, TORCH_CALLS if settings is None else settings)
    finite = not doctor.statistics.losses or math.isfinite(doctor.statistics.losses[-1])
    if taken < steps and finite:
        diagnosis.watch_cut = (
            f"watched {taken} of the {steps} steps asked, to end within the {time_budget:.3g} s budget"
        )
    return diagnosis


def _check_budget_within(deadline: float, steps: int, check_budget: float | None) -> Callable[[float], float]:
    """The lr check's budget from the seconds a range-test step took: the time left before ``deadline``
    once ``steps`` watched steps are set aside, within ``check_budget`` where given (at least a
    second: then no check)."""

    def budget(seconds_per_step: float) -> float:
        left = deadline - time.perf_counter() - steps * WATCH_STEP_COST * seconds_per_step
        return round(max(min(left, check_budget or left), 1.0), 1)

    return budget


def _built_at_peak_lr(recipe: Any) -> Any:
    """Build ``recipe`` with every group at its peak lr: the scheduler's step 0 (0 under a warmup) undone."""
    from optimlab.build import build

    built = build(recipe)
    restore_given_lrs(built.optimizer)
    return built


def _step_rows(recipe: Any, splits: Any) -> int | None:
    """The batch size the doctor reads ``recipe``'s training with: an optimizer step's rows, its batch
    size times the batches it accumulates, taken as one batch (the same gradient, batch norm aside);
    None where the user's training batches come batched (a DataLoader, a list of batches: their own)."""
    if isinstance(splits, BatchSplits) and splits.train_comes_batched:
        return None
    return recipe.training.batch_size * recipe.training.accumulate_grad_batches


@global_generators_given_back()  # building seeds them for the run; the caller's draws go on after
def diagnose_recipe(
    recipe: Any,
    *,
    steps: int | None = None,
    lr_find: bool = True,
    max_steps: int = 300,
    check_budget: float | None = None,
    time_budget: float | None = None,
) -> Diagnosis:
    """Build ``recipe`` (:func:`optimlab.build.build`) and diagnose it at its peak lr, on its training
    split with its seed and the rows of its optimizer steps (:func:`_step_rows`), for ``steps`` steps
    (default: its run, at most ``max_steps``); the lr candidates are checked over the recipe's run (at
    most :data:`MAX_CHECK_STEPS` steps), within ``check_budget`` seconds where given, the whole diagnosis
    within ``time_budget`` (:func:`diagnose`).

    The schedule is left out on purpose: a warmup would hide what the peak lr does.
    """
    built = _built_at_peak_lr(recipe)
    length = steps if steps is not None else min(built.total_steps, max_steps)
    batches = isinstance(built.splits, BatchSplits)  # the user's dict batches: the check on their val
    diagnosis = diagnose(
        built.model,
        built.splits,
        built.loss_fn,
        built.optimizer,
        compute_loss=built.compute_loss,
        val_data=built.splits.val if batches else None,
        steps=length,
        batch_size=_step_rows(recipe, built.splits),
        lr_find=lr_find,
        check_steps=min(built.total_steps, MAX_CHECK_STEPS),
        check_steps_named=f"the recipe's run, --epochs or training.steps, at most {MAX_CHECK_STEPS}",
        check_budget=check_budget,
        time_budget=time_budget,
        seed=recipe.training.seed,
        grad_clip_norm=recipe.training.grad_clip_norm,
        settings={},  # the recipe's own fields
    )
    if diagnosis.lr_range is not None:
        diagnosis.lr_range = with_notes(diagnosis.lr_range, recipe_trained_otherwise(recipe))
    wrapper = [name for name, _ in built.model.named_children()]
    if (
        "model.name" not in recipe_fields(built.model)
        and wrapper[:1] == ["scaling"]
        and wrapper[-1:] == ["net"]
    ):
        diagnosis.findings = [_in_the_factorys_names(finding) for finding in diagnosis.findings]
    return diagnosis


# A layer path inside the build's wrapper, Sequential(scaling, net): "net.0" is the factory's "0".
_WRAPPED = re.compile(r"(?<![\w.])net\.(?=\w)")


def _in_the_factorys_names(finding: Finding) -> Finding:
    """``finding`` with the layer paths in its words as the user's factory names them (the build puts the
    model it returns behind the input scaler as ``net``); its evidence keeps the built model's paths."""
    return dataclasses.replace(
        finding,
        **{
            words: _WRAPPED.sub("", getattr(finding, words))
            for words in ("title", "explanation", "recommendation")
        },
    )


# What the recipe gives the sweep and the check; given again, Python's TypeError "got multiple values",
# or (held_out, cross_fit) silently replaced.
_RECIPES_OWN = {
    **dict.fromkeys(
        ("model", "loss_fn", "data", "y", "optimizer", "compute_loss"), "none: the recipe builds it"
    ),
    "batch_size": "none: the recipe's training.batch_size (times its accumulate_grad_batches)",
    "seed": "none: the recipe's training.seed",
    "grad_clip_norm": "none: the recipe's training.grad_clip_norm",
    "held_out": "none: the recipe's validation split",
    "cross_fit": "none: the recipe's validation split says whether it is drawn at random",
}


@global_generators_given_back()  # building seeds them for the run; the caller's draws go on after
def _on_recipe(recipe: Any, sweep: Any, **options: Any) -> LRRangeResult:
    """``sweep`` (:func:`find_lr` or :func:`lr_range_test`) of ``recipe``'s model and optimizer at its
    peak lr, on its training split, with its batch size, seed and clip; ``options`` refused where the
    recipe sets them (:data:`_RECIPES_OWN`)."""
    for name, value in options.items():  # an unknown name is the sweep's to refuse
        if name in _RECIPES_OWN:
            raise InvalidValueError(f"{name} of {sweep.__name__}_recipe", describe(value), _RECIPES_OWN[name])
    built = _built_at_peak_lr(recipe)
    if isinstance(built.splits, BatchSplits):  # the user's dict batches: their training split read
        data, y, held_out = built.splits, None, built.splits.val
    else:
        x, y = _training_tensors(built.splits)
        data, y, held_out = x.to(built.device), y.to(built.device), _held_out(built.splits, built.device)
    if sweep is find_lr:
        options["held_out"] = held_out
        # a validation split drawn at random, as the training split is (the user's may be apart)
        options["cross_fit"] = not isinstance(built.splits, BatchSplits)
        options.setdefault("check_steps", min(built.total_steps, MAX_CHECK_STEPS))
    result = sweep(
        built.model,
        built.loss_fn,
        data,
        y,
        built.optimizer,
        compute_loss=built.compute_loss,
        batch_size=_step_rows(recipe, built.splits),
        seed=recipe.training.seed,
        grad_clip_norm=recipe.training.grad_clip_norm,
        **options,
    )
    return with_notes(result, recipe_trained_otherwise(recipe))


def recipe_trained_otherwise(recipe: Recipe) -> list[str]:
    """What of ``recipe``'s training the range test and its check do otherwise, for :func:`with_notes`
    (as the Lightning and Hugging Face range tests say their Trainer's): a candidate trains at its lr
    throughout (the check's premise, :mod:`optimlab.doctor.lr_check`), in float32; it clips as the
    recipe does."""
    notes = []
    schedule, training = recipe.schedule, recipe.training
    if schedule.name != "constant" or schedule.warmup_steps:
        warmup = f" with {schedule.warmup_steps} warmup steps" if schedule.warmup_steps else ""
        notes.append(
            f"at a constant lr: the recipe's schedule {schedule.name!r}{warmup} is not taken, "
            "the lr here is its peak"
        )
    if schedule.cycle_momentum:
        notes.append("at a fixed momentum: the recipe's schedule.cycle_momentum is not taken")
    if training.precision != "fp32":
        notes.append(f"in float32: the recipe's training.precision {training.precision!r} is not taken")
    return notes


def find_lr_recipe(recipe: Any, **options: Any) -> LRRangeResult:
    """:func:`optimlab.doctor.find_lr` of ``recipe``'s model and optimizer: the range test on its
    training split, its candidates checked on its validation split, with its batch size and seed;
    ``options``: ``check_steps`` (default: the recipe's run, at most :data:`MAX_CHECK_STEPS`),
    ``check_budget`` and the sweep's (``start_lr``, ``end_lr``, ``steps``)."""
    return _on_recipe(recipe, find_lr, **options)


def lr_range_test_recipe(recipe: Any, **options: Any) -> LRRangeResult:
    """The LR range test alone (no check) of ``recipe``'s model and optimizer on its training split,
    with its batch size and seed; ``options`` go to :func:`optimlab.doctor.lr_range_test`."""
    return _on_recipe(recipe, lr_range_test, **options)
