"""Glorot & Bengio 2010: standard vs normalized initialization, gradients across layers, sigmoid saturation.

The paper (Understanding the difficulty of training deep feedforward neural networks, AISTATS 2010,
https://proceedings.mlr.press/v9/glorot10a.html) compares the *standard* initialization
``W ~ U[-1/sqrt(n), 1/sqrt(n)]`` (n the fan-in), biases 0, with its *normalized* one
``W ~ U[-sqrt(6 / (n_in + n_out)), +sqrt(6 / (n_in + n_out))]`` (Xavier uniform, gain 1), biases 0, and
reports:

1. with standard init, back-propagated gradients get smaller from the output toward the input; with
   normalized init they keep about the same scale in every layer (Section 4.2.2, Figure 7);
2. the weight gradients, though, stay at about the same scale across layers even with standard init
   (Section 4.2.2): the forward signal shrinks the other way and compensates;
3. normalized init trains deep tanh networks to a lower test error (Table 1);
4. with sigmoid units, the top hidden layer is driven toward 0 (saturation) early in training while the
   lower layers stay near 0.5 (Section 3.1, Figure 2).

Here: tanh MLPs with 5 hidden layers and a sigmoid MLP with 4 (the paper's depths) on the digits, trained
with plain SGD on minibatches of 10 as in the paper.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, layer_profile_figures
from optimlab.gallery.probes import geometric_mean_profile, log10
from optimlab.gallery.runs import Run, RunResult, by_arm, mean_curve, train_run
from optimlab.gallery.verdict import ACCURACY, Verdict, decide, interval_check, paired_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report import figures

__all__ = ["glorot_bengio"]

STANDARD, NORMALIZED, SIGMOID = "standard init (tanh)", "normalized init (tanh)", "standard init (sigmoid)"
TANH_DEPTH, SIGMOID_DEPTH = 5, 4  # hidden layers, as in the paper's figures
CONSTANT_WITHIN = 0.5  # log10 units: "about the same scale" = within a factor ~3 between first and last layer
# The paper's standard init: He's uniform, bound gain * sqrt(3 / fan_in), at gain 1/sqrt(3) is U(-1/sqrt(n),
# 1/sqrt(n)) with zero biases. PyTorch's own default draws its weights so too, but its biases from the same
# interval, where the paper's are 0 (the sentence of its eq. 1: "We initialized the biases to be 0").
STANDARD_INIT = {"name": "kaiming_uniform", "gain": 1 / math.sqrt(3)}
TOP_LAYER_DROP = 0.25  # the top sigmoid layer's mean falls at least halfway from 0.5 to 0 ...
SOURCE = (
    "Glorot & Bengio, Understanding the difficulty of training deep feedforward neural networks, "
    "AISTATS 2010, https://proceedings.mlr.press/v9/glorot10a.html"
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    width: int
    epochs: int


# Minibatches of 10 as in the paper: 108 steps an epoch on the digits; a small run takes 3-5 s.
_SIZES = {
    "tiny": _Scale(seeds=2, width=16, epochs=1),
    "small": _Scale(seeds=5, width=256, epochs=10),
    "large": _Scale(seeds=10, width=1000, epochs=30),  # the paper's width
}


def _recipe(
    scale: _Scale, size: str, activation: str, depth: int, init: str | dict[str, Any], lr: float
) -> Recipe:
    return Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {
                "name": "mlp",
                "width": scale.width,
                "depth": depth,
                "activation": activation,
                "init": init,
            },
            "optimizer": {"name": "sgd", "lr": lr},
            "training": {"epochs": scale.epochs, "batch_size": 10, "device": device_for(size)},
        }
    )


def _mean_activations(result: RunResult) -> tuple[list[int], list[list[float]]]:
    """Detailed steps, and per hidden layer (input side first) the mean activation at each of them."""
    stats = result.statistics
    layers = stats.activation_modules()
    steps = sorted(stats.outputs[layers[0]])
    return steps, [[stats.outputs[layer][step].mean for step in steps] for layer in layers]


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    tanh_arms = {
        STANDARD: Run(STANDARD, _recipe(scale, size, "tanh", TANH_DEPTH, STANDARD_INIT, 0.05)),
        # The paper's formula: xavier_uniform by name is gain 1, with no gain for tanh.
        NORMALIZED: Run(NORMALIZED, _recipe(scale, size, "tanh", TANH_DEPTH, "xavier_uniform", 0.05)),
    }
    tanh = [
        train_run(
            dataclasses.replace(run, recipe=run.recipe.with_updates({"training.seed": seed})), probe=True
        )
        for seed in range(scale.seeds)
        for run in tanh_arms.values()
    ]
    sigmoid_recipe = _recipe(scale, size, "sigmoid", SIGMOID_DEPTH, STANDARD_INIT, 0.1)
    sigmoid = [
        train_run(Run(SIGMOID, sigmoid_recipe.with_updates({"training.seed": seed})), instrumented=True)
        for seed in range(scale.seeds)
    ]

    def first_to_last_hidden(field: str) -> Any:
        return lambda r: log10(getattr(r.at_init, field)[0]) - log10(getattr(r.at_init, field)[-2])

    profiles = [_mean_activations(r) for r in sigmoid]
    steps = profiles[0][0]
    hidden = len(profiles[0][1])
    mean_by_layer = [
        [sum(p[1][layer][i] for p in profiles) / len(profiles) for i in range(len(steps))]
        for layer in range(hidden)
    ]
    numbers = {
        "arms": [STANDARD, NORMALIZED],
        "backprop_first_to_last_log10": by_arm(tanh, first_to_last_hidden("backprop")),
        "weight_grad_first_to_last_log10": by_arm(tanh, first_to_last_hidden("weight_grad")),
        "test_accuracy": by_arm(tanh, lambda r: r.metric("test_accuracy")),
        "sigmoid_top_layer_drop": [p[1][-1][0] - min(p[1][-1]) for p in profiles],
        "sigmoid_first_layer_drop": [p[1][0][0] - min(p[1][0]) for p in profiles],
        "sigmoid_test_accuracy": [r.metric("test_accuracy") for r in sigmoid],
    }
    grouped = {arm: [r for r in tanh if r.run.arm == arm] for arm in tanh_arms}
    series = {
        "layers": list(range(1, TANH_DEPTH + 2)),
        **{
            field: {
                arm: geometric_mean_profile([r.at_init for r in rs], field) for arm, rs in grouped.items()
            }
            for field in ("backprop", "weight_grad", "output_std")
        },
        "sigmoid_steps": steps,
        "sigmoid_mean_activation": {f"hidden layer {i + 1}": m for i, m in enumerate(mean_by_layer)},
        "val_accuracy": {
            **{arm: mean_curve(rs, "val_accuracy") for arm, rs in grouped.items()},
            SIGMOID: mean_curve(sigmoid, "val_accuracy"),
        },
    }
    setup = (
        f"Tanh MLPs with {TANH_DEPTH} hidden layers of {count_of(scale.width, 'unit')}, with the standard "
        "init "
        "(U(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights, biases zero: kaiming_uniform with gain 1/sqrt(3)) or "
        "the normalized init (Xavier uniform with gain 1, biases zero), as in the paper, and "
        "a "
        f"sigmoid MLP with {SIGMOID_DEPTH} hidden layers and the standard init, on the digits "
        f"(standardized); {scale.seeds} "
        "seeds each. Gradients are measured at initialization on 256 training rows; then each network "
        "trains "
        f"{count_of(scale.epochs, 'epoch')} of plain SGD on minibatches of 10 (lr 0.05 for tanh, 0.1 for "
        "sigmoid), the "
        "sigmoid network with the doctor's instruments recording each hidden layer's mean activation."
    )
    runs = [r.record("test_accuracy") for r in [*tanh, *sigmoid]]
    return Evidence(numbers=numbers, series=series, runs=runs, setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    standard, normalized = numbers["arms"]
    names = (standard, normalized)
    backprop, weight_grad = (
        numbers["backprop_first_to_last_log10"],
        numbers["weight_grad_first_to_last_log10"],
    )
    return decide(
        [
            paired_check(
                "With standard init, back-propagated gradients shrink more from the last hidden layer to the "
                "first than with normalized init",
                backprop[standard],
                backprop[normalized],
                names=names,
                below=0,
                measure="log10 of the first-to-last hidden layer ratio of back-propagated gradients",
            ),
            interval_check(
                "With normalized init, back-propagated gradients keep about the same scale across layers "
                "(within a factor 3)",
                backprop[normalized],
                above=-CONSTANT_WITHIN,
                below=CONSTANT_WITHIN,
                measure=f"{normalized}: log10 first-to-last hidden layer ratio of back-propagated gradients",
                inclusive=True,
            ),
            interval_check(
                "Even with standard init, weight gradients keep about the same scale across layers (within a "
                "factor 3)",
                weight_grad[standard],
                above=-CONSTANT_WITHIN,
                below=CONSTANT_WITHIN,
                measure=f"{standard}: log10 first-to-last hidden layer ratio of weight gradients",
                inclusive=True,
            ),
            paired_check(
                "Normalized init trains the deep tanh network to a higher test accuracy",
                numbers["test_accuracy"][normalized],
                numbers["test_accuracy"][standard],
                names=(normalized, standard),
                above=0,
                measure="test accuracy",
                bounds=ACCURACY,
            ),
            paired_check(
                "With sigmoid units, the top hidden layer is driven toward 0 during training while the first "
                f"stays near 0.5: its mean activation falls at least {TOP_LAYER_DROP} more than the first's",
                numbers["sigmoid_top_layer_drop"],
                numbers["sigmoid_first_layer_drop"],
                names=("top hidden layer", "first hidden layer"),
                above=TOP_LAYER_DROP,
                measure="largest fall of the mean activation from its value at the start of training",
                inclusive=True,
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    series = evidence.series
    saturation = figures.lines(
        series["sigmoid_steps"],
        series["sigmoid_mean_activation"],
        title="Sigmoid MLP, standard init: mean activation of each hidden layer",
        xlabel="step",
        ylabel="mean activation",
    )
    return [
        *layer_profile_figures(series, "Tanh MLP"),
        (
            saturation,
            (
                "The paper's Figure 2: mean over units and seeds of each sigmoid hidden layer's output; a "
                "top layer falling toward 0 is the saturation the paper describes."
            ),
        ),
        curve_figure(series["val_accuracy"], "Training with SGD, minibatches of 10"),
    ]


glorot_bengio = register(
    Experiment(
        name="glorot_bengio",
        kind=Capability.PAPER_RESULT,
        title="Glorot & Bengio 2010: standard vs normalized initialization",
        claim="With the standard initialization, back-propagated gradients vanish toward the input and "
        "sigmoid "
        "networks saturate; the normalized initialization keeps gradients even across layers and trains "
        "deep tanh networks better.",
        sources=(SOURCE,),
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="Standard vs normalized (Xavier) init of deep tanh MLPs; sigmoid top-layer saturation.",
    paper="Glorot & Bengio 2010, AISTATS",
)
