"""Ioffe & Szegedy 2015, Section 4.1: batch normalization on a sigmoid MLP.

The paper (Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift,
https://arxiv.org/abs/1502.03167, Figure 1) trains an MLP of 3 hidden layers of 100 sigmoid units,
initialized with small random Gaussian weights, on MNIST with minibatches of 60, with and without batch
normalization: the normalized network reaches a higher test accuracy sooner, and the distribution of
the inputs to a sigmoid of the last hidden layer ({15, 50, 85}th percentiles, Figure 1(b, c)) stays stable
during training, where without normalization it shifts.

Here: the same network on the digits (standardized), weights N(0, 0.01^2), SGD on minibatches of 60 for
50 epochs (the paper's 50,000 steps are ~50 epochs of MNIST), the learning rate tuned for each arm on a
shared grid, then several seeds with a hook recording the percentiles of the last sigmoid's inputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from optimlab.build import Built
from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, sensitivity_figure
from optimlab.gallery.probes import log10
from optimlab.gallery.runs import Run, RunResult, by_arm, mean_curve, tune_then_rerun
from optimlab.gallery.verdict import ACCURACY, Check, Verdict, decide, paired_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report import figures
from optimlab.report.metric_labels import axis_label
from optimlab.study.analysis import time_to_target
from optimlab.train.loop import Callback, TrainState

__all__ = ["batch_norm"]

ARMS = {"none": "no normalization", "batch": "batch normalization"}
TARGET = 0.9  # validation accuracy for "reaches a good accuracy sooner"
NEAR_BEST = 0.05  # validation accuracy: a learning rate this close to its arm's best trains it
STABLE_FACTOR = 2.0  # "stable": the sigmoid's input percentiles move at least 2x less than without
PERCENTILES = (0.15, 0.5, 0.85)  # of the last sigmoid's inputs, as the paper's Figure 1(b, c) draws them
SOURCE = (
    "Ioffe & Szegedy, Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate "
    "Shift, 2015, https://arxiv.org/abs/1502.03167"
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    grid: tuple[float, ...]
    epochs: int
    # steps between evaluations (None: once an epoch); the drift is a range over the evaluations, so a run
    # evaluated once has none: tiny's single epoch is evaluated three times
    eval_every: int | None = None


_HALF_DECADES = tuple(10 ** (-2 + 0.5 * i) for i in range(7))  # 0.01 .. 10: sigmoid nets need large steps
# 18 steps an epoch at batch 60: a 50-epoch run is ~0.5 s on one thread.
_SIZES = {
    "tiny": _Scale(seeds=2, grid=(0.1, 1.0), epochs=1, eval_every=6),
    "small": _Scale(seeds=5, grid=_HALF_DECADES, epochs=50),
    "large": _Scale(seeds=10, grid=_HALF_DECADES, epochs=200),
}


def steps_to_target(result: RunResult) -> float:
    """Steps until the validation accuracy first reaches :data:`TARGET`; a run that never does counts as
    one step longer than it was (censored: it needs at least that), one that diverged first as failed (NaN:
    its length is where it stopped, not what it needs)."""
    hit = time_to_target(result.curve, "val_accuracy", TARGET)
    if hit is not None:
        return float(hit[0])
    return math.nan if result.diverged else float(result.steps + 1)


def _censored(check: Check, reached: Mapping[str, Sequence[float]], slower: str, faster: str) -> Check:
    """``check`` of "``faster`` reaches the target sooner than ``slower``" (``slower`` minus ``faster``
    above a threshold) where runs that never reached it count their length + 1, a lower bound of their
    time: a ``faster`` run cut short makes the difference an upper bound, which cannot show that it holds,
    and a ``slower`` one a lower bound, which cannot refute it. ``reached``: 1 or 0 per run, by arm."""
    missed = {arm: sum(v == 0 for v in reached[arm]) for arm in (slower, faster)}
    if not any(missed.values()):
        return check
    return dataclasses.replace(
        check,
        holds=check.holds and not missed[faster],
        refuted=check.refuted and not missed[slower],
        evidence=f"{check.evidence}; runs that never reached it, their time a lower bound: "
        + ", ".join(f"{arm} {n} of {len(reached[arm])}" for arm, n in missed.items()),
    )


class SigmoidInputs(Callback):
    """At each evaluation, the :data:`PERCENTILES` of the inputs of the model's last sigmoid over the latest
    training batch (its units and rows): the paper's Figure 1(b, c), read during training, not after."""

    writes_checkpoints = False

    def __init__(self, built: Built) -> None:
        last = [m for m in built.model.modules() if isinstance(m, nn.Sigmoid)][-1]
        last.register_forward_pre_hook(self._keep)
        self.latest: torch.Tensor | None = None
        self.steps: list[int] = []
        self.percentiles: list[list[float]] = []  # per evaluation, one value per percentile

    def _keep(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if module.training:  # a training batch, not the evaluation's pass over the validation rows
            self.latest = args[0].detach()

    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None:
        if self.latest is not None:
            q = torch.quantile(
                self.latest.float().flatten(), torch.tensor(PERCENTILES, device=self.latest.device)
            )
            self.steps.append(state.step)
            self.percentiles.append(q.tolist())


def input_drift(result: RunResult) -> float:
    """How far the last sigmoid's input distribution moves over training: the largest range, over the
    evaluations, of any of its :data:`PERCENTILES`; NaN for a run that diverged, and for one with fewer than
    two finite evaluations (no range measured: a range of one value, 0, read as perfectly stable)."""
    rows = [p for p in result.watched.percentiles if all(map(math.isfinite, p))]
    if result.diverged or len(rows) < 2:
        return math.nan
    return max(max(column) - min(column) for column in zip(*rows))


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    base = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 100, "depth": 3, "activation": "sigmoid", "init": "normal"},
            "optimizer": {"name": "sgd"},
            "training": {
                "epochs": scale.epochs,
                "batch_size": 60,
                "eval_every": scale.eval_every,
                "device": device_for(size),
            },
        }
    )

    def make(norm: str) -> Callable[[float, int], Run]:
        return lambda lr, seed: Run(
            ARMS[norm], base.with_updates({"model.norm": norm, "optimizer.lr": lr, "training.seed": seed})
        )

    tuning, reruns = [], []
    for norm in ARMS:
        tried, again = tune_then_rerun(
            make(norm), scale.grid, seeds=scale.seeds, metric="val_accuracy", watch=SigmoidInputs
        )
        tuning, reruns = tuning + tried, reruns + again
    arms = list(ARMS.values())
    numbers = {
        "arms": arms,
        "best_lr": {r.run.arm: r.run.recipe.optimizer.lr for r in reruns},
        "test_accuracy": by_arm(reruns, lambda r: r.metric("test_accuracy")),
        "steps_to_target_log10": by_arm(reruns, lambda r: log10(steps_to_target(r))),
        "reached_target": by_arm(
            reruns, lambda r: time_to_target(r.curve, "val_accuracy", TARGET) is not None
        ),
        "sigmoid_input_drift_log10": by_arm(reruns, lambda r: log10(input_drift(r))),
    }
    last_layer = {}
    for arm in arms:
        first = next(r for r in reruns if r.run.arm == arm).watched
        last_layer[arm] = {
            "step": first.steps,
            **{f"{q:.0%}": [p[i] for p in first.percentiles] for i, q in enumerate(PERCENTILES)},
        }
    series = {
        "val_accuracy": {
            arm: mean_curve([r for r in reruns if r.run.arm == arm], "val_accuracy") for arm in arms
        },
        "sensitivity": {
            arm: {"x": list(scale.grid), "y": [r.metric("val_accuracy") for r in tuning if r.run.arm == arm]}
            for arm in arms
        },
        "last_hidden": last_layer,
    }
    evaluations = "at each epoch's end" if scale.eval_every is None else f"every {scale.eval_every} steps"
    setup = (
        "An MLP with 3 hidden layers of 100 sigmoid units (as in the paper) on the digits (standardized), "
        "weights N(0, 0.01^2) and biases zero, without and with batch normalization before each sigmoid; SGD "
        f"on minibatches of 60 for {count_of(scale.epochs, 'epoch')}. Each arm's learning rate is the best "
        "of "
        f"{len(scale.grid)} values from {scale.grid[0]:g} to {scale.grid[-1]:g} by final validation accuracy "
        f"on seed 0; then seeds 1..{scale.seeds}, recording {evaluations} the 15th, 50th and 85th "
        "percentiles of the last sigmoid's inputs over the latest training batch (the paper's Figure 1(b, c))."
    )
    runs = [r.record("test_accuracy") for r in [*tuning, *reruns]]
    return Evidence(numbers=numbers, series=series, runs=runs, setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    plain, normalized = numbers["arms"]
    names = (normalized, plain)
    return decide(
        [
            paired_check(
                "Batch normalization reaches a higher test accuracy",
                numbers["test_accuracy"][normalized],
                numbers["test_accuracy"][plain],
                names=names,
                above=0,
                measure="test accuracy at the tuned lr",
                bounds=ACCURACY,
            ),
            _censored(
                paired_check(
                    f"Batch normalization reaches {TARGET:g} validation accuracy in fewer steps",
                    numbers["steps_to_target_log10"][plain],
                    numbers["steps_to_target_log10"][normalized],
                    names=(plain, normalized),
                    above=0,
                    measure="log10 steps to the target (a run that never reaches it: its length + 1)",
                ),
                numbers["reached_target"],
                slower=plain,
                faster=normalized,
            ),
            paired_check(
                f"The distribution of the last sigmoid's inputs shifts at least {STABLE_FACTOR:g}x less during "
                "training with batch normalization",
                numbers["sigmoid_input_drift_log10"][plain],
                numbers["sigmoid_input_drift_log10"][normalized],
                names=(plain, normalized),
                above=math.log10(STABLE_FACTOR),
                measure="log10 of the largest range over training of the 15th, 50th or 85th percentile of "
                "the last sigmoid's inputs",
                inclusive=True,
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    series = evidence.series
    near_best = []  # per arm: how many of the tuned learning rates train it to near its best
    for arm, curve in series["sensitivity"].items():
        best = max((y for y in curve["y"] if math.isfinite(y)), default=math.nan)
        near_best.append(f"{arm} {sum(y >= best - NEAR_BEST for y in curve['y'])} of {len(curve['y'])}")
    drift = figures.lines(
        next(iter(series["last_hidden"].values()))["step"],
        {f"{arm}: {k}": v[k] for arm, v in series["last_hidden"].items() for k in v if k != "step"},
        title="Inputs of the last hidden layer's sigmoids during training (seed 1)",
        xlabel="step",
        ylabel="15th, 50th, 85th percentile",
    )
    return [
        curve_figure(series["val_accuracy"], "Sigmoid MLP with and without batch normalization"),
        (drift, "The paper's Figure 1(b, c): the percentiles of the last sigmoid's inputs as training goes."),
        (
            sensitivity_figure(
                series["sensitivity"],
                title="Final validation accuracy against learning rate (seed 0)",
                xlabel="learning rate",
                ylabel=axis_label("val_accuracy"),
            ),
            f"Tuning of each arm; learning rates within {NEAR_BEST:g} of the arm's best validation accuracy: "
            f"{', '.join(near_best)} (a gap is a run that diverged).",
        ),
    ]


batch_norm = register(
    Experiment(
        name="batch_norm",
        kind=Capability.PAPER_RESULT,
        title="Ioffe & Szegedy 2015: batch normalization on a sigmoid MLP",
        claim="Batch normalization lets a sigmoid network train faster and reach a higher accuracy, with the "
        "distribution of the inputs to its last hidden layer's sigmoids stable during training.",
        sources=(SOURCE,),
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="3 x 100 sigmoid MLP with small Gaussian init, with and without batch norm, lr tuned for each.",
    paper="Ioffe & Szegedy 2015, arXiv:1502.03167",
)
