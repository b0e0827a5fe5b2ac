"""Initial weight scale: "too small and gradients vanish in early layers, too large and they explode to NaN".

Both claims are about the per-layer factor by which a signal grows or shrinks at initialization: a layer
of width n with weights of standard deviation s scales a signal by about ``s sqrt(n)`` (times the
activation's slope), so depth turns a factor below or above one into a vanishing or an exploding
signal. Variance-preserving schemes pick ``s`` so that the factor is one: Glorot & Bengio 2010 for tanh,
He et al. 2015 for ReLU (``kaiming_normal``, Var(w) = 2 / fan_in).

The runs measure, per seed, the gradients at initialization layer by layer (:mod:`.probes`) and then
train both arms with the same optimizer and learning rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, layer_profile_figures
from optimlab.gallery.probes import geometric_mean_profile, log10
from optimlab.gallery.runs import PROBE_ROWS, NetSize, Run, RunResult, by_arm, mean_curve, train_run
from optimlab.gallery.verdict import ACCURACY, Check, Verdict, decide, paired_check, rate_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability

__all__ = ["large_init", "small_init"]

TINY_INIT, XAVIER = "N(0, 0.01^2)", "Xavier normal, gain 5/3"  # tanh's gain (calculate_gain), not 1
GLOROT_BENGIO = (
    "Glorot & Bengio, Understanding the difficulty of training deep feedforward neural networks, "
    "AISTATS 2010, https://proceedings.mlr.press/v9/glorot10a.html"
)
HE = (
    "He et al., Delving Deep into Rectifiers: Surpassing Human-Level Performance on ImageNet Classification, "
    "2015, https://arxiv.org/abs/1502.01852"
)


# Digits (1,079 training rows, 34 steps an epoch at batch 32): a small run is ~0.5 s on one thread.
_SMALL_INIT_SIZES = {
    "tiny": NetSize(seeds=2, depth=3, width=16, epochs=1),
    "small": NetSize(seeds=5, depth=8, width=128, epochs=10),
    "large": NetSize(seeds=10, depth=16, width=512, epochs=30),
}
# Deeper, so that 2x and 4x per layer compound: 4^10 is a million.
_LARGE_INIT_SIZES = {
    "tiny": NetSize(seeds=2, depth=5, width=16, epochs=1),
    "small": NetSize(seeds=5, depth=10, width=128, epochs=10),
    "large": NetSize(seeds=10, depth=18, width=512, epochs=30),
}


def _recipe(scale: NetSize, size: str, activation: str, optimizer: str, lr: float) -> Recipe:
    return Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": scale.width, "depth": scale.depth, "activation": activation},
            "optimizer": {"name": optimizer, "lr": lr},
            "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
        }
    )


def _per_layer_mean(results: Sequence[RunResult], field: str) -> list[float]:
    return geometric_mean_profile([r.at_init for r in results], field)


# --- too small --------------------------------------------------------------------------------------


def measure_small_init(size: str) -> Evidence:
    scale = _SMALL_INIT_SIZES[size]
    base = _recipe(scale, size, "tanh", "momentum", 0.01)
    # Xavier with the tanh's gain 5/3 (torch's calculate_gain), the variance-preserving choice for tanh.
    arms = {TINY_INIT: "normal", XAVIER: {"name": "xavier_normal", "gain": "auto"}}
    results = [
        train_run(Run(arm, base.with_updates({"model.init": init, "training.seed": seed})), probe=True)
        for seed in range(scale.seeds)
        for arm, init in arms.items()
    ]

    def first_to_last(field: str) -> Any:
        return lambda r: log10(getattr(r.at_init, field)[0]) - log10(getattr(r.at_init, field)[-1])

    numbers = {
        "arms": list(arms),
        "backprop_first_to_last_log10": by_arm(results, first_to_last("backprop")),
        "weight_grad_first_to_last_log10": by_arm(results, first_to_last("weight_grad")),
        "weight_grad_log10": by_arm(
            results, lambda r: sum(map(log10, r.at_init.weight_grad)) / (scale.depth + 1)
        ),
        "test_accuracy": by_arm(results, lambda r: r.metric("test_accuracy")),
    }
    grouped = {arm: [r for r in results if r.run.arm == arm] for arm in arms}
    series = {
        "layers": list(range(1, scale.depth + 2)),
        **{
            field: {arm: _per_layer_mean(rs, field) for arm, rs in grouped.items()}
            for field in ("backprop", "weight_grad", "output_std")
        },
        "val_accuracy": {arm: mean_curve(rs, "val_accuracy") for arm, rs in grouped.items()},
    }
    setup = (
        f"A tanh MLP with {count_of(scale.depth, 'hidden layer')} of {count_of(scale.width, 'unit')} on the "
        "digits (standardized), "
        f"initialized with N(0, 0.01^2) weights (a common 'small random numbers' choice) or with Xavier "
        "normal with the tanh's gain 5/3 (variance-preserving for tanh), biases zero. Per seed "
        f"({count_of(scale.seeds, 'seed')}), the gradients "
        f"are measured at initialization on {PROBE_ROWS} training rows, then each network trains "
        f"{count_of(scale.epochs, 'epoch')} with SGD, momentum 0.9, lr 0.01 (the same for both arms)."
    )
    return Evidence(
        numbers=numbers, series=series, runs=[r.record("test_accuracy") for r in results], setup=setup
    )


# Each gradient check: its claim, the number it reads, and that number in words; each must fall 10x
# (1 in log10) below the proper init's.
GRADIENT_CHECKS = (
    (
        "Back-propagated gradients shrink toward the input: the first-to-last layer ratio is at least 10x "
        "below the proper init's",
        "backprop_first_to_last_log10",
        "log10 of the first-to-last layer ratio of back-propagated gradient norms",
    ),
    (
        "The weight gradients of early layers are smaller than the last layer's: ratio at least 10x below "
        "the proper init's",
        "weight_grad_first_to_last_log10",
        "log10 of the first-to-last layer ratio of weight-gradient norms",
    ),
    (
        "Weight gradients vanish: at least 10x smaller than with the proper init, averaged over layers",
        "weight_grad_log10",
        "mean over layers of log10 weight-gradient norm",
    ),
)


def verdict_small_init(numbers: Mapping[str, Any]) -> Verdict:
    tiny, proper = numbers["arms"]
    names = (tiny, proper)
    return decide(
        [
            *(
                paired_check(
                    claim,
                    numbers[key][tiny],
                    numbers[key][proper],
                    names=names,
                    below=-1,
                    measure=measure,
                    inclusive=True,
                )
                for claim, key, measure in GRADIENT_CHECKS
            ),
            paired_check(
                "Training suffers: lower test accuracy than with the proper init",
                numbers["test_accuracy"][tiny],
                numbers["test_accuracy"][proper],
                names=names,
                below=0,
                measure="test accuracy",
                bounds=ACCURACY,
            ),
        ]
    )


def figures_small_init(evidence: Evidence) -> list[tuple[Figure, str]]:
    return [
        *layer_profile_figures(evidence.series, "Too-small init"),
        curve_figure(evidence.series["val_accuracy"], "Training with momentum SGD, lr 0.01"),
    ]


small_init = register(
    Experiment(
        name="small_init",
        kind=Capability.TUTORIAL_CLAIM,
        title="Too-small initial weights: do gradients vanish in the early layers?",
        claim="Weights set too small make gradients vanish in early layers.",
        sources=(GLOROT_BENGIO,),
        measure=measure_small_init,
        verdict=verdict_small_init,
        figures=figures_small_init,
    ),
    summary="Tiny N(0, 0.01^2) vs Xavier init with tanh's gain 5/3 of a deep tanh MLP: per-layer gradients "
    "at init, then training.",
    paper="Glorot & Bengio 2010, AISTATS",
)


# --- too large --------------------------------------------------------------------------------------

MULTIPLIERS = (1, 2, 4)  # of He's standard deviation sqrt(2 / fan_in)
OPTIMIZERS = {"momentum": 0.01, "adam": 1e-3}  # each at a learning rate that trains the He-initialized net


def _multiplier_arm(multiplier: int) -> str:
    return f"{multiplier}x He std"


def measure_large_init(size: str) -> Evidence:
    scale = _LARGE_INIT_SIZES[size]
    results: dict[str, list[RunResult]] = {}
    for optimizer, lr in OPTIMIZERS.items():
        base = _recipe(scale, size, "relu", optimizer, lr)
        results[optimizer] = [
            train_run(
                Run(
                    _multiplier_arm(m),
                    base.with_updates(
                        {
                            "model.init": {"name": "kaiming_normal", "gain": m * math.sqrt(2.0)},
                            "training.seed": seed,
                        }
                    ),
                ),
                probe=True,
            )
            for seed in range(scale.seeds)
            for m in MULTIPLIERS
        ]
    at_init = results["momentum"]  # the same networks at initialization under either optimizer
    numbers = {
        "arms": [_multiplier_arm(m) for m in MULTIPLIERS],
        "output_std_log10": by_arm(at_init, lambda r: log10(r.at_init.output_std[-1])),
        "first_layer_backprop_log10": by_arm(at_init, lambda r: log10(r.at_init.backprop[0])),
        "diverged": {
            o: {arm: int(sum(v)) for arm, v in by_arm(rs, lambda r: r.diverged).items()}
            for o, rs in results.items()
        },
        "runs_per_arm": scale.seeds,
        "test_accuracy": {o: by_arm(rs, lambda r: r.metric("test_accuracy")) for o, rs in results.items()},
    }
    series = {
        "layers": list(range(1, scale.depth + 2)),
        **{
            field: {
                arm: _per_layer_mean([r for r in at_init if r.run.arm == arm], field)
                for arm in numbers["arms"]
            }
            for field in ("backprop", "weight_grad", "output_std")
        },
        "val_accuracy": {
            f"{o}, {arm}": mean_curve([r for r in rs if r.run.arm == arm], "val_accuracy")
            for o, rs in results.items()
            for arm in numbers["arms"]
        },
    }
    setup = (
        f"A ReLU MLP with {count_of(scale.depth, 'hidden layer')} of {count_of(scale.width, 'unit')} on the "
        "digits (standardized), "
        f"initialized with He normal weights (std sqrt(2 / fan_in)) times {', '.join(map(str, MULTIPLIERS))} "
        f"(the init's gain: model.init: {{name: kaiming_normal, gain: ...}}), biases zero. Per seed "
        f"({count_of(scale.seeds, 'seed')}) the gradients are measured at initialization, then each network "
        "trains "
        f"{count_of(scale.epochs, 'epoch')} with momentum SGD (lr 0.01) and, separately, with Adam (lr "
        "1e-3): learning "
        "rates that train the He-initialized network well. A run whose loss becomes NaN or infinite stops "
        "there and counts as diverged."
    )
    records = [r.record("test_accuracy") for rs in results.values() for r in rs]
    return Evidence(numbers=numbers, series=series, runs=records, setup=setup)


def verdict_large_init(numbers: Mapping[str, Any]) -> Verdict:
    proper, large = numbers["arms"][0], numbers["arms"][-1]
    names, n = (large, proper), numbers["runs_per_arm"]
    checks: list[Check] = [
        # Algebra, not a result: one seed draws the same normals for every multiple, and with zero biases
        # ReLU(c x) = c ReLU(x) for c > 0, so the output is multiplier^(layers) times He's on every seed
        # (4^11, 10^6.62, at size small). The setup the claim is about, not a prediction of it.
        dataclasses.replace(
            paired_check(
                "The forward signal explodes: the output's scale at initialization is at least 10x the He "
                "init's",
                numbers["output_std_log10"][large],
                numbers["output_std_log10"][proper],
                names=names,
                above=1,
                measure="log10 std of the network's output",
                inclusive=True,
            ),
            premise=True,
        ),
        paired_check(
            "Gradients explode in the early layers: the first layer's back-propagated gradient is at least "
            "10x the He init's",
            numbers["first_layer_backprop_log10"][large],
            numbers["first_layer_backprop_log10"][proper],
            names=names,
            above=1,
            measure="log10 norm of the first layer's back-propagated gradient",
            inclusive=True,
        ),
    ]
    for optimizer, diverged in numbers["diverged"].items():
        accuracy = numbers["test_accuracy"][optimizer]
        finite = [v for v in accuracy[large] if math.isfinite(v)]
        reached = (
            f"; the {len(finite)} {large} runs that did not diverge reached mean test accuracy "
            f"{sum(finite) / len(finite):.3g}"
            if finite
            else ""
        )
        check = rate_check(
            f"Training with {optimizer} explodes to NaN or inf more often than with He init",
            (diverged[large], n),
            (diverged[proper], n),
            names=names,
            event=f"{optimizer} runs whose loss became NaN or inf",
        )
        checks.append(dataclasses.replace(check, evidence=check.evidence + reached))
    return decide(checks)


def figures_large_init(evidence: Evidence) -> list[tuple[Figure, str]]:
    return [
        *layer_profile_figures(evidence.series, "Too-large init"),
        curve_figure(evidence.series["val_accuracy"], "Training after a too-large init"),
    ]


large_init = register(
    Experiment(
        name="large_init",
        kind=Capability.TUTORIAL_CLAIM,
        title="Too-large initial weights: do they explode to NaN?",
        claim="Weights set too large make gradients explode to NaN.",
        sources=(HE, GLOROT_BENGIO),
        measure=measure_large_init,
        verdict=verdict_large_init,
        figures=figures_large_init,
    ),
    summary="A deep ReLU MLP at 1x, 2x and 4x He's weight scale: signal and gradients at init, NaN in "
    "training.",
    paper="He et al. 2015, arXiv:1502.01852",
)
