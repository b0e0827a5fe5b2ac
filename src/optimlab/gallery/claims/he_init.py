"""He et al. 2015: a 30-layer ReLU network trains from He's initialization and stalls from Xavier's.

He et al. (Delving Deep into Rectifiers, 2015, https://arxiv.org/abs/1502.01852, Section 2.2 and Figure 3)
derive Var(w) = 2 / fan_in for ReLU layers: a ReLU zeroes half of its input, so "Xavier" weights
(Var(w) = 1 / fan_in on square layers) halve the signal's variance at every layer, 2^-30 after thirty.
Their 30-layer network converges with the new init and "completely stalls" with Xavier's.

Here: an MLP with 30 ReLU hidden layers on the digits, Xavier normal (``xavier_normal``: gain 1, the
paper's "Xavier") against He normal (``kaiming_normal``: gain sqrt(2)), same optimizer and learning rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, layer_profile_figures
from optimlab.gallery.probes import geometric_mean_profile, log10
from optimlab.gallery.runs import NetSize, Run, by_arm, mean_curve, train_run
from optimlab.gallery.verdict import ACCURACY, Verdict, decide, interval_check, paired_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability

__all__ = ["he_init"]

XAVIER, HE = "Xavier (gain 1)", "He"
CHANCE = 0.1  # ten balanced classes
TRAINS_ABOVE = 0.5  # test accuracy that counts as "converges" (5x chance)
STALL_MARGIN = 0.05  # ... and within this of chance, as "stalls"
SOURCE = (
    "He et al., Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet "
    "Classification, 2015, https://arxiv.org/abs/1502.01852"
)


# 30 layers of 128 on the digits: ~3 s a run of 20 epochs on one thread.
_SIZES = {
    "tiny": NetSize(seeds=2, depth=30, width=8, epochs=1),
    "small": NetSize(seeds=5, depth=30, width=128, epochs=20),
    "large": NetSize(seeds=10, depth=30, width=512, epochs=40),
}


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    base = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": scale.width, "depth": scale.depth, "activation": "relu"},
            "optimizer": {"name": "momentum", "lr": 0.003},
            "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
        }
    )
    arms = {XAVIER: "xavier_normal", HE: "kaiming_normal"}
    results = [
        train_run(Run(arm, base.with_updates({"model.init": init, "training.seed": seed})), probe=True)
        for seed in range(scale.seeds)
        for arm, init in arms.items()
    ]
    numbers = {
        "arms": list(arms),
        "chance": CHANCE,
        "output_std_log10": by_arm(results, lambda r: log10(r.at_init.output_std[-1])),
        "test_accuracy": by_arm(results, lambda r: r.metric("test_accuracy")),
    }
    grouped = {arm: [r for r in results if r.run.arm == arm] for arm in arms}
    series = {
        "layers": list(range(1, scale.depth + 2)),
        **{
            field: {
                arm: geometric_mean_profile([r.at_init for r in rs], field) for arm, rs in grouped.items()
            }
            for field in ("backprop", "weight_grad", "output_std")
        },
        "val_accuracy": {arm: mean_curve(rs, "val_accuracy") for arm, rs in grouped.items()},
    }
    setup = (
        f"An MLP with {scale.depth} ReLU hidden layers of {count_of(scale.width, 'unit')} on the digits "
        "(standardized), "
        "initialized with Xavier normal (gain 1: Var(w) = 2 / (fan_in + fan_out)) or He normal "
        "(Var(w) = 2 / fan_in), biases zero; "
        f"{count_of(scale.seeds, 'seed')} each. Gradients and signal are measured at initialization on 256 "
        "training "
        "rows, "
        f"then each network trains {count_of(scale.epochs, 'epoch')} with momentum SGD (lr 0.003, momentum "
        "0.9)."
    )
    return Evidence(
        numbers=numbers, series=series, runs=[r.record("test_accuracy") for r in results], setup=setup
    )


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    xavier, he = numbers["arms"]
    accuracy, chance = numbers["test_accuracy"], numbers["chance"]
    return decide(
        [
            # Algebra, not a result: one seed draws the same normals for both arms, so each Xavier layer is
            # sqrt(fan_in / (fan_in + fan_out)) times He's, and with zero biases ReLU(c x) = c ReLU(x) for
            # c > 0 carries the product of those factors to the output on every seed (10^-4.62 at size
            # small). It holds whatever training does: the premise of the two predictions, not one of them.
            dataclasses.replace(
                paired_check(
                    "With Xavier init the signal fades through the ReLU layers: the output's scale at "
                    "initialization is at least 10x below He's",
                    numbers["output_std_log10"][xavier],
                    numbers["output_std_log10"][he],
                    names=(xavier, he),
                    below=-1,
                    measure="log10 std of the network's output",
                    inclusive=True,
                ),
                premise=True,
            ),
            interval_check(
                f"The He-initialized network converges: test accuracy above {TRAINS_ABOVE:g} (chance "
                f"{chance:g})",
                accuracy[he],
                above=TRAINS_ABOVE,
                measure=f"{he}: test accuracy",
                bounds=ACCURACY,
            ),
            interval_check(
                f"The Xavier-initialized network stalls: test accuracy within {STALL_MARGIN:g} of chance",
                accuracy[xavier],
                above=chance - STALL_MARGIN,  # within the margin on both sides, as stated
                below=chance + STALL_MARGIN,
                measure=f"{xavier}: test accuracy",
                bounds=ACCURACY,
                inclusive=True,
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    return [
        *layer_profile_figures(evidence.series, "30-layer ReLU MLP"),
        curve_figure(evidence.series["val_accuracy"], "Training with momentum SGD, lr 0.003"),
    ]


he_init = register(
    Experiment(
        name="he_init",
        kind=Capability.PAPER_RESULT,
        title="He et al. 2015: Xavier vs He initialization of a 30-layer ReLU network",
        claim="A 30-layer ReLU network converges from He initialization and stalls from Xavier "
        "initialization.",
        sources=(SOURCE,),
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="30-layer ReLU MLP: Xavier (gain 1) vs He init; signal at init and whether it trains.",
    paper="He et al. 2015, arXiv:1502.01852",
)
