"""Kingma & Ba 2014, Section 6.1: Adam, SGD with Nesterov momentum and AdaGrad on L2-regularized logistic
regression.

The Adam paper (Adam: A Method for Stochastic Optimization, https://arxiv.org/abs/1412.6980, Figure 1)
trains multiclass logistic regression on MNIST with minibatches of 128, a step size decayed as
``alpha / sqrt(t)``, and finds that "Adam yields similar convergence as SGD with momentum and both
converge faster than Adagrad".

Here: logistic regression (``mlp`` of depth 0) on the digits (standardized), the same three optimizers
with the same 1/sqrt(t) decay and L2 penalty, each with its learning rate tuned by the study engine on a
shared grid (best final validation loss on the tuning seed), then rerun on fresh seeds. Speed of
convergence is the mean validation loss over the run (the area under the loss curve, divided by its
length): lower is faster. The paper's Figure 1 draws the training cost; a run's curve keeps the loss of
one training batch per evaluation only, so the whole validation set's loss stands in for it (for an
L2-regularized convex model early in training, the two fall together).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, sensitivity_figure
from optimlab.gallery.probes import log10
from optimlab.gallery.tuned import reruns, run_tuned, sensitivity_curves, trial_records
from optimlab.gallery.verdict import Verdict, decide, interval_check, paired_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report.metric_labels import axis_label
from optimlab.study import Dimension, SearchSpace, StudyResult, StudySpec, methods_from
from optimlab.study.analysis import seed_band

__all__ = ["adam_logistic"]

OPTIMIZERS = {"adam": "Adam", "nesterov": "SGD with Nesterov momentum", "adagrad": "AdaGrad"}
SIMILAR_WITHIN = 0.1  # log10 units: "similar convergence" = mean validation loss within a factor 1.26
SOURCE = "Kingma & Ba, Adam: A Method for Stochastic Optimization, 2014, https://arxiv.org/abs/1412.6980"


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    budget: int  # learning rates on the grid from 1e-4 to 1
    epochs: int


# Digits: 1,079 training rows; logistic regression for 30 epochs of batch 32 takes ~0.3 s.
_SIZES = {
    "tiny": _Scale(seeds=2, budget=2, epochs=1),
    "small": _Scale(seeds=10, budget=9, epochs=30),  # ten seeds: an equivalence needs a narrow interval
    "large": _Scale(seeds=20, budget=17, epochs=100),
}


def curve_mean_losses(result: StudyResult, method: str) -> list[float]:
    """Per rerun seed (in order), the mean validation loss over the run's evaluations: the normalized area
    under its loss curve; NaN for a rerun that failed or never ran."""
    means = []
    for r in reruns(result, method):
        curve = r.curve.get("val_loss", []) if r is not None and r.state == "complete" else []
        losses = [v for v in curve if v is not None]
        means.append(sum(losses) / len(losses) if losses else math.nan)
    return means


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "depth": 0},
            "optimizer": {"weight_decay": 1e-4},
            "schedule": {"name": "inverse_sqrt"},
            "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
        }
    )
    result = run_tuned(
        StudySpec(
            name="adam_logistic",
            recipe=recipe,
            methods=methods_from("optimizer.name", OPTIMIZERS),
            space=SearchSpace((Dimension("optimizer.lr", low=1e-4, high=1.0, log=True),)),
            budget=scale.budget,
            seeds=scale.seeds,
            metric="val_loss",
            goal="min",
            test_metric="test_loss",
        )
    )
    numbers = {
        "arms": list(OPTIMIZERS.values()),
        "curve_mean_val_loss_log10": {
            label: [log10(v) for v in curve_mean_losses(result, o)]  # a loss of 0 is the floor, not a failure
            for o, label in OPTIMIZERS.items()
        },
    }
    series = {
        "val_loss": {
            label: dict(zip(("step", "mean"), seed_band(result.records, o, "val_loss")[:2]))
            for o, label in OPTIMIZERS.items()
        },
        "sensitivity": {OPTIMIZERS[o]: curve for o, curve in sensitivity_curves(result).items()},
    }
    setup = (
        "Multiclass logistic regression (optimlab's mlp with depth 0: one Linear layer, softmax "
        "cross-entropy) "
        "on the digits, standardized, L2 penalty 1e-4, minibatches of 32, "
        f"{count_of(scale.epochs, 'epoch')}, step size decayed as alpha / sqrt(t) (schedule inverse_sqrt), "
        "as in the "
        "paper. "
        f"The study engine gives each optimizer the same {count_of(scale.budget, 'value')} of alpha on a "
        "log grid from "
        "1e-4 "
        f"to 1 (best final validation loss on the tuning seed), then reruns the best on {scale.seeds} fresh "
        "seeds, paired across optimizers. Speed is the mean validation loss over the run's evaluations; the "
        "paper draws the training cost, of which a run keeps one batch's loss per evaluation only."
    )
    return Evidence(numbers=numbers, series=series, runs=trial_records(result), setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    adam, nesterov, adagrad = numbers["arms"]
    speed = numbers["curve_mean_val_loss_log10"]
    gap = [a - b for a, b in zip(speed[adam], speed[nesterov])]
    measure_ = "log10 of the mean validation loss over the run (lower: faster)"
    return decide(
        [
            interval_check(
                f"{adam} converges about as fast as {nesterov} (within a factor 10^{SIMILAR_WITHIN:g})",
                gap,
                above=-SIMILAR_WITHIN,
                below=SIMILAR_WITHIN,
                measure=f"{measure_}, {adam} minus {nesterov} (paired by seed)",
                inclusive=True,
            ),
            paired_check(
                f"{adam} converges faster than {adagrad}",
                speed[adagrad],
                speed[adam],
                names=(adagrad, adam),
                above=0,
                measure=measure_,
            ),
            paired_check(
                f"{nesterov} converges faster than {adagrad}",
                speed[adagrad],
                speed[nesterov],
                names=(adagrad, nesterov),
                above=0,
                measure=measure_,
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    series = evidence.series
    return [
        curve_figure(
            series["val_loss"], "Logistic regression on the digits", ylabel=axis_label("val_loss"), log_y=True
        ),
        (
            sensitivity_figure(
                series["sensitivity"],
                title="Final validation loss against alpha (tuning seed)",
                xlabel="alpha",
                ylabel=axis_label("val_loss"),
                log_y=True,
            ),
            "Tuning: each optimizer's final validation loss at each alpha; a gap is a run that diverged.",
        ),
    ]


adam_logistic = register(
    Experiment(
        name="adam_logistic",
        kind=Capability.PAPER_RESULT,
        title="Kingma & Ba 2014: Adam vs SGD-Nesterov vs AdaGrad on logistic regression",
        claim="On logistic regression, Adam yields similar convergence as SGD with momentum and both "
        "converge faster "
        "than AdaGrad.",
        sources=(SOURCE,),
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="L2-regularized logistic regression on digits: Adam, Nesterov SGD, AdaGrad, alpha/sqrt(t), alpha "
    "tuned.",
    paper="Kingma & Ba 2014, arXiv:1412.6980",
)
