"""Unnormalized inputs: "large-valued features dominate and destabilize training".

The classic advice (LeCun et al., Efficient BackProp, 1998, Section 4.3,
http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf) is to shift each input feature to zero mean and scale
it to a common variance: a first layer fed features of very different sizes sees a badly conditioned
problem, where the large features take over the pre-activations and the step size that suits them is far
too small for the others.

Here: the breast-cancer data (30 features measured in units from 0.001 to 4,000), an MLP trained on raw,
min-max and standardized features, with the learning rate tuned for each (the study engine's equal
budget), with momentum SGD and with Adam.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from matplotlib.figure import Figure

from optimlab.data import load
from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import interval_figure, sensitivity_figures
from optimlab.gallery.tuned import run_tuned, seed_values, sensitivity_curves, trial_records
from optimlab.gallery.verdict import ACCURACY, Verdict, decide, interval_check, paired_check, summarize
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report.metric_labels import axis_label
from optimlab.study import StudySpec, methods_from

__all__ = ["input_scale"]

SCALINGS = ("none", "minmax", "standardize")
OPTIMIZERS = ("momentum", "adam")
DATASET = "breast_cancer"
TOP_FRACTION = 0.1  # "dominate": the largest tenth of the features carries ...
DOMINANT_SHARE = 0.5  # ... more than half of the inputs' energy (sum of squares)
SOURCE = (
    "LeCun, Bottou, Orr & Mueller, Efficient BackProp, in Neural Networks: Tricks of the Trade, 1998, "
    "Section 4.3, http://yann.lecun.com/exdb/publis/pdf/lecun-98b.pdf"
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    budget: int
    width: int
    epochs: int


# 343 training rows, 11 steps an epoch: a trial takes ~0.3 s; 2 optimizers x 3 scalings x (7 + 5) trials.
_SIZES = {
    "tiny": _Scale(seeds=2, budget=2, width=8, epochs=2),
    "small": _Scale(seeds=5, budget=7, width=64, epochs=30),
    "large": _Scale(seeds=10, budget=13, width=256, epochs=100),
}


def top_feature_share(x: torch.Tensor, fraction: float = TOP_FRACTION) -> float:
    """Share of the inputs' sum of squares carried by the ``fraction`` of features with the largest."""
    energy = x.double().square().sum(0)
    top = max(1, round(fraction * energy.numel()))
    return (energy.topk(top).values.sum() / energy.sum()).item()


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    results = {}
    for optimizer in OPTIMIZERS:
        recipe = Recipe.from_dict(
            {
                "data": {"name": DATASET},
                "model": {"name": "mlp", "width": scale.width, "depth": 2},
                "optimizer": {"name": optimizer},
                "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
            }
        )
        results[optimizer] = run_tuned(
            StudySpec(
                name=f"input_scale_{optimizer}",
                recipe=recipe,
                methods=methods_from("data.scaling", SCALINGS),
                budget=scale.budget,
                seeds=scale.seeds,
            )
        )
    seeds = range(1, scale.seeds + 1)  # the study's rerun seeds: the splits the test accuracies come from
    numbers = {
        "top_feature_share": {"none": [top_feature_share(load(DATASET, seed=s).train.x) for s in seeds]},
        "test_accuracy": {o: {m: seed_values(r, m) for m in SCALINGS} for o, r in results.items()},
    }
    setup = (
        f"The breast-cancer data ({DATASET}: 30 features, 343 training rows, 2 classes) with an MLP of 2 "
        "hidden "
        f"ReLU layers of {count_of(scale.width, 'unit')}, trained {count_of(scale.epochs, 'epoch')} (batch "
        "32) on raw features "
        "(scaling none), on features min-max scaled to [0, 1], and on standardized features. For each "
        "optimizer (momentum SGD, Adam) and scaling, the study engine tunes the learning rate "
        f"({scale.budget} "
        "values on a log grid of 4 decades, best validation accuracy), then reruns the best on "
        f"{count_of(scale.seeds, 'fresh seed')} (seed = data split and initialization), paired across "
        "scalings."
    )
    series = {"sensitivity": {o: sensitivity_curves(r) for o, r in results.items()}}
    runs = [record for o, r in results.items() for record in trial_records(r, prefix=f"{o}, scaling ")]
    return Evidence(numbers=numbers, series=series, runs=runs, setup=setup)


def _deviations(values: list[float]) -> list[float]:
    """Absolute deviation of each value from the mean of the finite ones (Levene's spread measure)."""
    center = summarize(values).mean
    return [abs(v - center) for v in values]


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    accuracy = numbers["test_accuracy"]
    raw_spread = [d for per in accuracy.values() for d in _deviations(per["none"])]
    scaled_spread = [d for per in accuracy.values() for d in _deviations(per["standardize"])]
    checks = [
        dataclasses.replace(  # a property of the chosen data (0.99 for every split), not of training
            interval_check(
                f"Large-valued features dominate the raw input: the top {TOP_FRACTION:.0%} of features carry "
                f"more than {DOMINANT_SHARE:.0%} of its sum of squares",
                numbers["top_feature_share"]["none"],
                above=DOMINANT_SHARE,
                measure="share of the raw training inputs' sum of squares",
            ),
            premise=True,
        ),
        *(
            paired_check(
                f"With {optimizer}, raw features give a lower tuned test accuracy than standardized ones",
                per["none"],
                per["standardize"],
                names=("raw", "standardized"),
                below=0,
                measure="test accuracy",
                bounds=ACCURACY,
            )
            for optimizer, per in accuracy.items()
        ),
        paired_check(
            "Raw features destabilize training: the test accuracy varies more from seed to seed",
            raw_spread,
            scaled_spread,
            names=("raw", "standardized"),
            above=0,
            measure="absolute deviation of a seed's test accuracy from its arm's mean, both optimizers",
            bounds=ACCURACY,
        ),
    ]
    return decide(checks)


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    bars = interval_figure(
        evidence.numbers["test_accuracy"],
        title="Tuned test accuracy by input scaling",
        ylabel=axis_label("test_accuracy"),
        bounds=ACCURACY,
    )
    return [
        (bars, "Test accuracy of each scaling at its tuned learning rate: mean and 95% CI over the seeds."),
        *sensitivity_figures(
            evidence.series["sensitivity"],
            xlabel="learning rate",
            ylabel=axis_label("val_accuracy"),
            caption="Tuning trials of {group} (tuning seed); a gap is a trial that diverged.",
        ),
    ]


input_scale = register(
    Experiment(
        name="input_scale",
        kind=Capability.TUTORIAL_CLAIM,
        title="Unnormalized inputs: do large features dominate and destabilize training?",
        claim="Unnormalized inputs let large-valued features dominate and destabilize training.",
        sources=(SOURCE,),
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="Raw vs min-max vs standardized features (breast cancer), lr tuned for momentum SGD and Adam.",
    paper="LeCun et al. 1998, Efficient BackProp",
)
