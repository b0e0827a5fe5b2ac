"""Without a non-linear activation, a deep network is a linear model.

Stacked affine maps compose into one: ``W_L (... (W_1 x + b_1) ...) + b_L = W x + b`` with
``W = W_L ... W_1``. So a deep MLP with the identity activation can represent nothing a single Linear
layer cannot: on a classification task, logistic regression (its parameterization differs, and with it
the training dynamics: Saxe et al., Exact solutions to the nonlinear dynamics of learning in deep linear
neural networks, 2013, https://arxiv.org/abs/1312.6120).

Here, on two interleaved spirals (not linearly separable), the same MLP trains with the identity and with
ReLU, beside logistic regression; after training, the deep linear network's layers are multiplied out and
the single matrix is checked to give the network's outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, interval_figure
from optimlab.gallery.probes import log10
from optimlab.gallery.runs import NetSize, Run, RunResult, by_arm, mean_curve, train_run
from optimlab.gallery.verdict import ACCURACY, Verdict, decide, interval_check, paired_check, summarize
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report.metric_labels import axis_label
from optimlab.study.analysis import difference_bounds

__all__ = ["collapsed", "no_nonlinearity"]

DEEP_LINEAR, LOGISTIC, RELU = "deep MLP, identity activation", "logistic regression", "deep MLP, ReLU"
SAME_WITHIN = 0.03  # test accuracy: "no better than a linear model" = within 3 points of it
BETTER_BY = 0.1  # ... and the non-linear network at least 10 points better
COLLAPSE_BELOW = -4  # log10 relative error of the multiplied-out matrix: float32 rounding, not a model gap
SOURCES = (
    (
        "Saxe et al., Exact solutions to the nonlinear dynamics of learning in deep linear neural networks, "
        "2013, https://arxiv.org/abs/1312.6120"
    ),
    (
        "Goodfellow, Bengio & Courville, Deep Learning, 2016, Section 6.1 (a linear model cannot learn XOR), "
        "https://www.deeplearningbook.org/contents/mlp.html"
    ),
)


# two_spirals: 600 training points, 19 steps an epoch; 100 epochs take ~1 s a run.
_SIZES = {
    "tiny": NetSize(seeds=2, depth=2, width=8, epochs=2),
    "small": NetSize(seeds=5, depth=4, width=64, epochs=100),
    "large": NetSize(seeds=10, depth=8, width=256, epochs=300),
}


def collapsed(net: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W, b)`` with ``W = W_L ... W_1`` and the biases carried along: the network's function if every
    module between its Linear layers is the identity (the caller checks that it is), on the net's device."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    device = linears[0].weight.device
    weight = torch.eye(linears[0].in_features, dtype=torch.float64, device=device)
    bias = torch.zeros(linears[0].in_features, dtype=torch.float64, device=device)
    for layer in linears:
        w = layer.weight.detach().double()
        weight, bias = (
            w @ weight,
            w @ bias + (layer.bias.detach().double() if layer.bias is not None else 0.0),
        )
    return weight, bias


@torch.no_grad()
def _collapse_error_log10(result: RunResult) -> float:
    """log10 of max |net(x) - (W x + b)| / max |net(x)| on the test inputs, after training."""
    model, splits = result.built.model, result.built.splits
    model.eval()
    x = model.scaling(splits.test.x.to(result.built.device))
    outputs = model.net(x).double()
    weight, bias = collapsed(model.net)
    linear = x.double().flatten(1) @ weight.T + bias
    return log10((outputs - linear).abs().max().item() / outputs.abs().max().item())


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    base = Recipe.from_dict(
        {
            "data": {"name": "two_spirals", "scaling": "standardize"},
            "model": {"name": "mlp", "width": scale.width, "depth": scale.depth},
            "optimizer": {"name": "adam", "lr": 3e-3},
            "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
        }
    )
    arms = {DEEP_LINEAR: {"model.activation": "identity"}, LOGISTIC: {"model.depth": 0}, RELU: {}}
    results = [
        train_run(Run(arm, base.with_updates({**updates, "training.seed": seed})), keep=arm == DEEP_LINEAR)
        for seed in range(scale.seeds)
        for arm, updates in arms.items()
    ]
    numbers = {
        "arms": list(arms),
        "test_accuracy": by_arm(results, lambda r: r.metric("test_accuracy")),
        "collapse_error_log10": [_collapse_error_log10(r) for r in results if r.run.arm == DEEP_LINEAR],
    }
    for result in results:
        result.built = None  # the models were needed for the collapse only
    series = {
        "val_accuracy": {
            arm: mean_curve([r for r in results if r.run.arm == arm], "val_accuracy") for arm in arms
        }
    }
    setup = (
        f"Two interleaved spirals (600 training points, 2 features, standardized). An MLP with {scale.depth} "
        f"hidden layers of {count_of(scale.width, 'unit')}, with the identity activation and with ReLU, and "
        "logistic "
        f"regression (the mlp with depth 0: one Linear layer); {count_of(scale.seeds, 'seed')} each, "
        f"{scale.epochs} "
        "epochs of Adam (lr 3e-3, batch 32). After "
        "training, the identity network's Linear layers are multiplied into one matrix and bias, and their "
        "output on the test points is compared with the network's."
    )
    return Evidence(
        numbers=numbers, series=series, runs=[r.record("test_accuracy") for r in results], setup=setup
    )


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    deep_linear, logistic, relu = numbers["arms"]
    accuracy = numbers["test_accuracy"]
    gap = [a - b for a, b in zip(accuracy[deep_linear], accuracy[logistic])]
    return decide(
        [
            dataclasses.replace(  # algebra, checked on the trained network: the premise of the other two
                interval_check(
                    "The network without a non-linearity computes a linear function: its layers multiply out "
                    "to one matrix that gives the same outputs",
                    numbers["collapse_error_log10"],
                    below=COLLAPSE_BELOW,
                    measure="log10 of the largest output difference, relative to the largest output",
                ),
                premise=True,
            ),
            interval_check(
                f"So it is no better than a linear model: its test accuracy is within {SAME_WITHIN:g} of "
                "logistic regression's",
                gap,
                above=-SAME_WITHIN,
                below=SAME_WITHIN,
                measure=f"test accuracy, {deep_linear} minus {logistic} (paired by seed; {logistic} "
                f"{summarize(accuracy[logistic]).mean:.3g})",
                bounds=difference_bounds(ACCURACY),
                inclusive=True,
            ),
            paired_check(
                f"A non-linearity makes the difference: the same network with ReLU is at least {BETTER_BY:g} "
                "more accurate",
                accuracy[relu],
                accuracy[deep_linear],
                names=(relu, deep_linear),
                above=BETTER_BY,
                measure="test accuracy",
                bounds=ACCURACY,
                inclusive=True,
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    bars = interval_figure(
        {"test accuracy": evidence.numbers["test_accuracy"]},
        title="Two spirals: test accuracy (mean and 95% CI over seeds)",
        ylabel=axis_label("test_accuracy"),
        bounds=ACCURACY,
    )
    return [
        (bars, "Test accuracy of each model, mean over seeds with its 95% confidence interval."),
        curve_figure(evidence.series["val_accuracy"], "Training with Adam, lr 3e-3"),
    ]


no_nonlinearity = register(
    Experiment(
        name="no_nonlinearity",
        kind=Capability.TUTORIAL_CLAIM,
        title="Without a non-linear activation, is a deep network just a linear model?",
        claim="Without a non-linear activation function, a neural network is just linear regression.",
        sources=SOURCES,
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="Deep identity-activation MLP vs logistic regression vs ReLU MLP on two spirals; the layers "
    "multiplied "
    "out.",
    paper="Saxe et al. 2013, arXiv:1312.6120",
)
