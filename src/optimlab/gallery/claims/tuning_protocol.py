"""Choi et al. 2019: optimizer rankings depend on the tuning protocol.

On Empirical Comparisons of Optimizers for Deep Learning (https://arxiv.org/abs/1910.05446) argues that
comparisons are sensitive to which hyperparameters are tuned: tuning the learning rate alone can rank
adaptive methods below momentum SGD, while tuning every hyperparameter (Adam's epsilon, the momentum) lets
the more general optimizers match or beat their special cases, as the inclusion relations (momentum is
Adam's limit of a large epsilon with a scaled learning rate) predict.

Here: momentum SGD, RMSprop and Adam on the digits MLP under two protocols with the study engine:
*learning rate only* (a log grid around each optimizer's scale, DeepOBS's protocol) and *all but Adam's
betas* (random search over the learning rate on a wider range and epsilon and/or momentum), each followed
by reruns of the best configuration on the same fresh seeds. Choi et al. tune Adam's 1 - beta1 and
1 - beta2 too; a search dimension draws one number, not the pair ``betas``, so Adam keeps (0.9, 0.999):
it can then stand in for momentum 0.9 only, while momentum's own arm tunes it, a handicap for Adam in the
check that it does no worse.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import interval_figure
from optimlab.gallery.tuned import run_tuned, seed_values, trial_records
from optimlab.gallery.verdict import (
    ACCURACY,
    Check,
    Verdict,
    decide,
    interval_check,
    paired_difference,
    ranking_text,
)
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report.metric_labels import axis_label
from optimlab.study import Dimension, Method, SearchSpace, StudySpec, methods_from
from optimlab.study.analysis import difference_bounds

__all__ = ["tuning_protocol"]

LR_ONLY, FULL = "learning rate only", "all but Adam's betas"
NO_WORSE_BY = 0.01  # test accuracy: "Adam does no worse than momentum" = never more than 1 point below
# Protocol B's search spaces, after Choi et al.'s Appendix D: wide log ranges, epsilon up to large values.
FULL_SPACES = {
    "momentum": (
        Dimension("optimizer.lr", low=1e-4, high=1.0, log=True),
        Dimension("optimizer.options.momentum", low=0.5, high=0.999),
    ),
    "rmsprop": (
        Dimension("optimizer.lr", low=1e-5, high=1.0, log=True),
        Dimension("optimizer.options.eps", low=1e-10, high=1.0, log=True),
        Dimension("optimizer.options.momentum", low=0.0, high=0.99),
    ),
    "adam": (
        Dimension("optimizer.lr", low=1e-5, high=10.0, log=True),
        Dimension("optimizer.options.eps", low=1e-10, high=10.0, log=True),
    ),
}
OPTIMIZERS = tuple(FULL_SPACES)
SOURCE = (
    "Choi et al., On Empirical Comparisons of Optimizers for Deep Learning, 2019, "
    "https://arxiv.org/abs/1910.05446"
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    lr_budget: int
    full_budget: int
    epochs: int


# The digits MLP: ~0.3 s a trial of 10 epochs; 3 x (6 + 16 + 2 x 5) trials.
_SIZES = {
    "tiny": _Scale(seeds=2, lr_budget=1, full_budget=2, epochs=1),
    "small": _Scale(seeds=5, lr_budget=6, full_budget=16, epochs=10),
    "large": _Scale(seeds=10, lr_budget=9, full_budget=50, epochs=30),
}


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 128, "depth": 2},
            "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
        }
    )
    lr_only = run_tuned(
        StudySpec(
            name="protocol_lr",
            recipe=recipe,
            methods=methods_from("optimizer.name", OPTIMIZERS),
            budget=scale.lr_budget,
            seeds=scale.seeds,
        )
    )
    full = {
        o: run_tuned(
            StudySpec(
                name=f"protocol_full_{o}",
                recipe=recipe,
                methods=(Method(o, {"optimizer.name": o}),),
                space=SearchSpace(space),
                protocol="random",
                budget=scale.full_budget,
                seeds=scale.seeds,
            )
        )
        for o, space in FULL_SPACES.items()
    }
    numbers = {
        "test_accuracy": {
            LR_ONLY: {o: seed_values(lr_only, o) for o in OPTIMIZERS},
            FULL: {o: seed_values(full[o], o) for o in OPTIMIZERS},
        }
    }
    spaces = "; ".join(
        f"{o}: "
        + ", ".join(
            f"{d.field.removeprefix('optimizer.')} {d.low:g}..{d.high:g}{' (log)' if d.log else ''}"
            for d in space
        )
        for o, space in FULL_SPACES.items()
    )
    setup = (
        f"The digits with an MLP of 2 x 128 (standardized inputs, {count_of(scale.epochs, 'epoch')}, batch "
        "32). Protocol "
        f"'{LR_ONLY}': {count_of(scale.lr_budget, 'learning rate')} on a log grid of 4 decades around each "
        "optimizer's "
        "scale, "
        f"other hyperparameters at their defaults. Protocol '{FULL}': "
        f"{count_of(scale.full_budget, 'random draw')} from "
        f"{spaces}; Adam's betas stay at (0.9, 0.999), which Choi et al. tune too (a search dimension "
        "draws one number, not the pair). Each protocol's best configuration by validation accuracy reruns "
        f"on the same {count_of(scale.seeds, 'fresh seed')}."
    )
    runs = [
        *trial_records(lr_only, prefix=f"{LR_ONLY}: "),
        *(record for r in full.values() for record in trial_records(r, prefix=f"{FULL}: ")),
    ]
    return Evidence(numbers=numbers, series={}, runs=runs, setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    table = numbers["test_accuracy"]
    first, second = table[LR_ONLY], table[FULL]
    # Any one pair's swap would count: each interval is Bonferroni's over the pairs looked at.
    pairs = list(itertools.combinations(first, 2))
    level = 1 - 0.05 / len(pairs)
    reversals = []
    for a, b in pairs:
        d1, d2 = (
            paired_difference(first[a], first[b], ACCURACY, level=level),
            paired_difference(second[a], second[b], ACCURACY, level=level),
        )
        complete = d1.n == len(first[a]) and d2.n == len(second[a])  # a failed run: survivors do not tell
        if complete and ((d1.low > 0 and d2.high < 0) or (d1.high < 0 and d2.low > 0)):
            reversals.append(f"{a} vs {b}: {d1.mean:+.3g} with {LR_ONLY}, {d2.mean:+.3g} with {FULL}")
    gap = [a - b for a, b in zip(second["adam"], second["momentum"])]
    return decide(
        [
            # A ranking by the means alone changes on noise: a change counts when a pair swaps significantly.
            Check(
                "The ranking of the optimizers changes with the tuning protocol: some comparison reverses, "
                "with both differences significant",
                bool(reversals),
                ("; ".join(reversals) or "no pair swaps with both paired intervals excluding 0")
                + " (Bonferroni's intervals of the differences paired by seed, over the "
                f"{len(pairs)} pairs looked at) (by mean test accuracy, {LR_ONLY}: {ranking_text(first)}; "
                f"{FULL}: "
                f"{ranking_text(second)})",
            ),
            interval_check(
                f"With {FULL} tuned, Adam does no worse than momentum SGD, its special case (never more "
                f"than {NO_WORSE_BY:g} below)",
                gap,
                above=-NO_WORSE_BY,
                measure=f"test accuracy, adam minus momentum, {FULL} (paired by seed)",
                bounds=difference_bounds(ACCURACY),
                inclusive=True,
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    return [
        (
            interval_figure(
                evidence.numbers["test_accuracy"],
                title="Tuned test accuracy by tuning protocol",
                ylabel=axis_label("test_accuracy"),
                bounds=ACCURACY,
            ),
            "Each optimizer's best configuration under each protocol: mean and 95% CI over the same seeds.",
        )
    ]


tuning_protocol = register(
    Experiment(
        name="tuning_protocol",
        kind=Capability.PAPER_RESULT,
        title="Choi et al. 2019: do optimizer rankings depend on the tuning protocol?",
        claim="Optimizer rankings change with the tuning protocol; tuned over all their hyperparameters, "
        "general "
        "optimizers such as Adam never underperform their special cases such as momentum.",
        sources=(SOURCE,),
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="Momentum, RMSprop, Adam tuned on the learning rate only vs on all but Adam's betas (digits "
    "MLP).",
    paper="Choi et al. 2019, arXiv:1910.05446",
)
