"""Kingma & Ba 2014, Section 6.1: Adam, SGD with Nesterov momentum and AdaGrad on L2-regularized logistic
regression.

The Adam paper (Adam: A Method for Stochastic Optimization, https://arxiv.org/abs/1412.6980, Figure 1)
trains multiclass logistic regression on MNIST with minibatches of 128, a step size decayed as
``alpha / sqrt(t)``, and finds that "Adam yields similar convergence as SGD with momentum and both
converge faster than Adagrad".

Here: logistic regression on the digits (standardized), the same three optimizers with the same 1/sqrt(t)
decay and L2 penalty, each with its learning rate tuned on a shared grid (best final validation loss on
the tuning seed), then rerun on fresh seeds. Speed of convergence is the mean validation loss over the
run (the area under the loss curve, divided by its length): lower is faster.

Logistic regression is a single Linear layer, which optimlab's ``mlp`` (one hidden layer at least) cannot
express yet; the runs apply it after building the recipe (:class:`optimlab.gallery.runs.Run` ``linear``),
so they are tuned here rather than by the study engine, which runs recipes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, sensitivity_figure
from optimlab.gallery.probes import log10
from optimlab.gallery.runs import Run, RunResult, by_arm, mean_curve, tune_then_rerun
from optimlab.gallery.verdict import Verdict, decide, interval_check, paired_check
from optimlab.recipe import Recipe

__all__ = ["adam_logistic"]

OPTIMIZERS = {"adam": "Adam", "nesterov": "SGD with Nesterov momentum", "adagrad": "AdaGrad"}
SIMILAR_WITHIN = 0.1  # log10 units: "similar convergence" = mean validation loss within a factor 1.26
SOURCE = "Kingma & Ba, Adam: A Method for Stochastic Optimization, 2014, https://arxiv.org/abs/1412.6980"


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    grid: tuple[float, ...]
    epochs: int
    batch_size: int


_HALF_DECADES = tuple(10 ** (-4 + 0.5 * i) for i in range(9))  # 1e-4 .. 1
# Digits: 1,079 training rows; a run of logistic regression for 30 epochs of batch 32 takes ~0.3 s.
_SIZES = {
    "tiny": _Scale(seeds=2, grid=(1e-2, 1e-1), epochs=1, batch_size=32),
    "small": _Scale(seeds=10, grid=_HALF_DECADES, epochs=30, batch_size=32),  # an equivalence needs a narrow CI
    "large": _Scale(seeds=20, grid=_HALF_DECADES, epochs=100, batch_size=32),
}


def curve_mean_loss(result: RunResult) -> float:
    """Mean validation loss over the run's evaluations: the normalized area under its loss curve."""
    losses = [v for v in result.curve.get("val_loss", []) if v is not None]
    return sum(losses) / len(losses) if losses and not result.diverged else math.nan


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    base = Recipe.from_dict({
        "data": {"name": "digits", "scaling": "standardize"},
        "schedule": {"name": "inverse_sqrt"},
        "training": {"epochs": scale.epochs, "batch_size": scale.batch_size, "device": device_for(size)},
    })

    def make(optimizer: str) -> Callable[[float, int], Run]:
        def run(lr: float, seed: int) -> Run:
            return Run(OPTIMIZERS[optimizer], base.with_updates({
                "optimizer.name": optimizer, "optimizer.lr": lr, "optimizer.weight_decay": 1e-4,
                "training.seed": seed}), linear=True)

        return run

    tuning, reruns, best_lr = [], [], {}
    for optimizer in OPTIMIZERS:
        tried, again = tune_then_rerun(make(optimizer), scale.grid, seeds=scale.seeds, metric="val_loss", goal="min")
        tuning, reruns = tuning + tried, reruns + again
        best_lr[optimizer] = again[0].run.recipe.optimizer.lr
    arms = list(OPTIMIZERS.values())
    numbers = {
        "arms": arms,
        "best_lr": {OPTIMIZERS[o]: lr for o, lr in best_lr.items()},
        "curve_mean_val_loss_log10": by_arm(reruns, lambda r: log10(curve_mean_loss(r))),
        "final_val_loss": by_arm(reruns, lambda r: r.metric("val_loss")),
        "test_accuracy": by_arm(reruns, lambda r: r.metric("test_accuracy")),
    }
    series = {
        "val_loss": {arm: mean_curve([r for r in reruns if r.run.arm == arm], "val_loss") for arm in arms},
        "sensitivity": {arm: {"x": list(scale.grid), "y": [r.metric("val_loss") for r in tuning if r.run.arm == arm]}
                        for arm in arms},
    }
    setup = ("Multiclass logistic regression (one Linear layer; softmax cross-entropy) on the digits, standardized, "
             f"L2 penalty 1e-4, minibatches of {scale.batch_size}, {scale.epochs} epochs, step size decayed as "
             "alpha / sqrt(t) (schedule inverse_sqrt), as in the paper. Each optimizer's alpha is the best of "
             f"{len(scale.grid)} values from {scale.grid[0]:g} to {scale.grid[-1]:g} by final validation loss on "
             f"seed 0, then reruns on seeds 1..{scale.seeds}.")
    runs = [r.record("val_loss") for r in [*tuning, *reruns]]
    return Evidence(numbers=numbers, series=series, runs=runs, setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    adam, nesterov, adagrad = numbers["arms"]
    speed = numbers["curve_mean_val_loss_log10"]
    gap = [a - b for a, b in zip(speed[adam], speed[nesterov])]
    measure_ = "log10 of the mean validation loss over the run (lower: faster)"
    return decide([
        interval_check(f"{adam} converges about as fast as {nesterov} (within a factor 10^{SIMILAR_WITHIN:g})", gap,
                       above=-SIMILAR_WITHIN, below=SIMILAR_WITHIN,
                       measure=f"{measure_}, {adam} minus {nesterov} (paired by seed)"),
        paired_check(f"{adam} converges faster than {adagrad}", speed[adagrad], speed[adam], names=(adagrad, adam),
                     above=0, measure=measure_),
        paired_check(f"{nesterov} converges faster than {adagrad}", speed[adagrad], speed[nesterov],
                     names=(adagrad, nesterov), above=0, measure=measure_),
    ])


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    series = evidence.series
    return [
        curve_figure(series["val_loss"], "Logistic regression on the digits", ylabel="validation loss", log_y=True),
        (sensitivity_figure(series["sensitivity"], title="Final validation loss against alpha (tuning seed)",
                            xlabel="alpha", ylabel="validation loss", log_y=True),
         "Tuning: each optimizer's final validation loss at each alpha; a gap is a run that diverged."),
    ]


adam_logistic = register(Experiment(
    name="adam_logistic",
    kind="paper_result",
    title="Kingma & Ba 2014: Adam vs SGD-Nesterov vs AdaGrad on logistic regression",
    claim="On logistic regression, Adam yields similar convergence as SGD with momentum and both converge faster "
          "than AdaGrad.",
    sources=(SOURCE,),
    measure=measure, verdict=verdict, figures=figures_,
), summary="L2-regularized logistic regression on digits: Adam, Nesterov SGD, AdaGrad, alpha/sqrt(t), alpha tuned.",
    paper="Kingma & Ba 2014, arXiv:1412.6980")
