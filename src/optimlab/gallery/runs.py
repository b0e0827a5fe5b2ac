"""The gallery's training runs: a plain recipe, trained and measured.

Most experiments compare arms that differ in one recipe field and run each arm on several seeds; a
technique's own hyperparameters (a gain of 4x He's) are recipe fields too (``model.init: {name:
kaiming_normal, gain: 5.66}``), so every run is a recipe that ``optimlab train`` reads as it is.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

from optimlab.build import Built, build
from optimlab.data.global_rng import global_generators_given_back
from optimlab.gallery.experiment import RunRecord
from optimlab.gallery.probes import LayerGradients, layer_gradients
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.study.trial import CurveRecorder
from optimlab.train.loop import Callback
from optimlab.train.run import evaluate, fit_built

__all__ = ["PROBE_ROWS", "Run", "RunResult", "by_arm", "mean_curve", "train_run", "tune_then_rerun"]

PROBE_ROWS = 256  # training rows the gradients at initialization are measured on


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run: the arm it belongs to, its recipe, and the init options applied after building it."""

    arm: str
    recipe: Recipe

    @property
    def seed(self) -> int:
        return self.recipe.training.seed

    def spec(self) -> dict[str, Any]:
        """The recipe as a mapping."""
        return self.recipe.to_dict()


@dataclasses.dataclass
class RunResult:
    """How a run ended and what it measured."""

    run: Run
    status: str  # "completed" or "diverged"
    steps: int
    seconds: float
    metrics: dict[str, float]  # final val_* and test_*; empty when the run diverged
    curve: dict[str, list[float | None]]  # per evaluation: step, seconds, train_loss, val_*
    at_init: LayerGradients | None = None
    statistics: Any = None  # optimlab.doctor.RunStatistics, for instrumented runs
    built: Built | None = None  # the trained model, data and optimizer, when asked to keep them
    watched: Callback | None = None  # the callback ``watch`` made, with what it recorded

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    def metric(self, name: str) -> float:
        """A final metric, NaN when the run diverged."""
        return self.metrics.get(name, math.nan)

    def record(self, metric: str) -> RunRecord:
        """The run as the page lists it, with its final ``metric``."""
        result = (
            f"diverged at step {self.steps}"
            if self.diverged
            else f"{metric} {self.metric(metric):.4g} after {count_of(self.steps, 'step')}"
        )
        return RunRecord(arm=self.run.arm, spec=self.run.spec(), status=self.status, result=result)


@global_generators_given_back()  # building seeds them for the run; the caller's draws go on after
def train_run(
    run: Run,
    *,
    probe: bool = False,
    instrumented: bool = False,
    keep: bool = False,
    callbacks: Sequence[Callback] = (),
    watch: Callable[[Built], Callback] | None = None,
) -> RunResult:
    """Build and train ``run``; ``probe`` measures the gradients at initialization first (on the first
    :data:`PROBE_ROWS` training rows), ``instrumented`` records the doctor's statistics during training,
    ``keep`` keeps the trained model with its data in ``RunResult.built``, ``watch(built)`` makes one more
    callback from the built model (hooks on a layer), returned in ``RunResult.watched``."""
    built = build(run.recipe)
    splits, device = built.splits, built.device
    x, y = splits.train.x.to(device), splits.train.y.to(device)
    at_init = layer_gradients(built.model, built.loss_fn, x[:PROBE_ROWS], y[:PROBE_ROWS]) if probe else None

    def validate() -> dict[str, float]:
        return evaluate(
            built.model,
            built.loss_fn,
            splits.val.x.to(device),
            splits.val.y.to(device),
            task=splits.task,
            prefix="val",
        )

    recorder = CurveRecorder(None, "")
    watched = None if watch is None else watch(built)
    extra: list[Callback] = [recorder, *callbacks, *([] if watched is None else [watched])]
    doctor = None
    if instrumented:
        from optimlab.doctor import DoctorCallback

        doctor = DoctorCallback(built.model, built.optimizer)
        extra.append(doctor)
    state = fit_built(built, x, y, evaluate=validate, callbacks=extra)
    metrics: dict[str, float] = {}
    if not state.diverged:
        for prefix, pair in (("val", splits.val), ("test", splits.test)):
            metrics.update(
                evaluate(
                    built.model,
                    built.loss_fn,
                    pair.x.to(device),
                    pair.y.to(device),
                    task=splits.task,
                    prefix=prefix,
                )
            )
    return RunResult(
        run=run,
        status="diverged" if state.diverged else "completed",
        steps=state.step,
        seconds=state.seconds,
        metrics=metrics,
        curve=recorder.compact(),
        at_init=at_init,
        statistics=None if doctor is None else doctor.statistics,
        built=built if keep else None,
        watched=watched,
    )


def by_arm(results: Sequence[RunResult], value: Any) -> dict[str, list[float]]:
    """``value(result)`` of each result, grouped by arm in the order arms first appear, seeds in run order."""
    grouped: dict[str, list[float]] = {}
    for result in results:
        grouped.setdefault(result.run.arm, []).append(float(value(result)))
    return grouped


def mean_curve(results: Sequence[RunResult], metric: str) -> dict[str, list[float]]:
    """``{"step": [...], "mean": [...], "std": [...]}``: ``metric`` per evaluation, mean and sample standard
    deviation over the runs that completed (std 0 for one run), up to the evaluations they all reached
    (runs of one recipe evaluate at the same steps)."""
    curves = [r.curve for r in results if not r.diverged and r.curve.get(metric)]
    if not curves:
        return {"step": [], "mean": [], "std": []}
    length = min(len(c["step"]) for c in curves)
    means, stds = [], []
    for i in range(length):
        values = [c[metric][i] for c in curves if c[metric][i] is not None]
        means.append(statistics.fmean(values) if values else math.nan)
        stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return {"step": [int(s) for s in curves[0]["step"][:length]], "mean": means, "std": stds}


def tune_then_rerun(
    make: Callable[[float, int], Run],
    grid: Sequence[float],
    *,
    seeds: int,
    metric: str,
    goal: str = "max",
    **options: Any,
) -> tuple[list[RunResult], list[RunResult]]:
    """The study engine's protocol (:mod:`optimlab.study.protocols`) for runs it cannot express, those with
    gallery extras: ``make(lr, seed)`` for each lr of ``grid`` on seed 0, the best by the final ``metric``
    (a diverged run never wins), then reruns of that lr on seeds 1..``seeds``. ``options`` go to
    :func:`train_run` for the reruns. Returns (tuning runs, reruns)."""
    tuning = [train_run(make(lr, 0)) for lr in grid]
    sign = -1.0 if goal == "max" else 1.0
    best = min(tuning, key=lambda r: (math.isnan(r.metric(metric)), sign * r.metric(metric)))
    lr = best.run.recipe.optimizer.lr
    return tuning, [train_run(make(lr, seed), **options) for seed in range(1, seeds + 1)]


@dataclasses.dataclass(frozen=True)
class NetSize:
    """How big an experiment on an MLP of ``depth`` x ``width`` is: seeds and epochs per run."""

    seeds: int
    depth: int
    width: int
    epochs: int
