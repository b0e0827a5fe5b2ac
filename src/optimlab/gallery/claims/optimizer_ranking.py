"""Optimizer rankings across workloads: "Adam is the best optimizer" and "performance varies with the data set
and architecture".

Both claims are about one table: the tuned test accuracy of each optimizer on each workload. The table
comes from the study engine: every optimizer gets the same learning-rate tuning budget on every workload,
then its best configuration reruns on fresh seeds, paired across optimizers (the protocol of Schneider et
al., DeepOBS, 2019, https://arxiv.org/abs/1903.05499 and Schmidt et al., Descending through a Crowded
Valley, 2021, https://arxiv.org/abs/2007.01547). Workloads cross two data sets (digits, MNIST-1D) with two
architectures (MLP, CNN), so a change of data set and a change of architecture can each be read off.

A comparison "A beats B on workload w" counts only when the 95% interval of the paired difference over
seeds excludes zero; a *reversal* is A significantly beating B on one workload and B significantly beating
A on another. Where any one of m such comparisons would count for a check (a reversal among all pairs,
an optimizer beaten on some workload), the intervals are Bonferroni's, at 1 - 0.05/m. The tuned studies run
once per process and size, and serve both experiments.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import interval_figure
from optimlab.gallery.tuned import at_edge, run_tuned, seed_values, trial_records
from optimlab.gallery.verdict import (
    ACCURACY,
    Check,
    Verdict,
    decide,
    describe,
    inside_claim,
    outside_claim,
    paired_difference,
    ranked,
    ranking_text,
)
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report.metric_labels import axis_label
from optimlab.study import StudySpec, methods_from
from optimlab.study.analysis import Summary

__all__ = ["adam_best", "kendall_tau", "workload_dependence"]

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adagrad", "adam")
DATASETS = {"digits": "digits", "MNIST-1D": "mnist1d"}  # label on the page: registered name
ARCHITECTURES = ("mlp", "cnn")
SOURCES = (
    (
        "Schmidt, Schneider & Hennig, Descending through a Crowded Valley: Benchmarking Deep Learning "
        "Optimizers, 2021, https://arxiv.org/abs/2007.01547"
    ),
    (
        "Wilson et al., The Marginal Value of Adaptive Gradient Methods in Machine Learning, 2017, "
        "https://arxiv.org/abs/1705.08292"
    ),
    (
        "Schneider, Balles & Hennig, DeepOBS: A Deep Learning Optimizer Benchmark Suite, 2019, "
        "https://arxiv.org/abs/1903.05499"
    ),
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    budget: int
    epochs: int
    mnist1d_rows: int


# Per workload: 5 optimizers x (5 tuning + 3 seed) trials of 0.3-1 s each on one thread.
_SIZES = {
    "tiny": _Scale(seeds=2, budget=1, epochs=1, mnist1d_rows=200),
    "small": _Scale(seeds=3, budget=5, epochs=10, mnist1d_rows=2000),
    "large": _Scale(seeds=8, budget=9, epochs=40, mnist1d_rows=10000),
}


def _workload(dataset: str, architecture: str) -> str:
    return f"{dataset}, {architecture.upper()}"


@functools.cache
def tuned_table(size: str) -> tuple[dict[str, dict[str, list[float]]], list[Any], list[str]]:
    """``{workload: {optimizer: test accuracy per seed}}``, every trial's record and the optimizers tuned to
    the edge of their range (on which workload), run once per size."""
    scale = _SIZES[size]
    table, records, edges = {}, [], []
    for dataset, architecture in itertools.product(DATASETS, ARCHITECTURES):
        # MNIST-1D is generated at every trial: ~1 s per 5,000 rows, so fewer rows keep trials short.
        options = {"n": scale.mnist1d_rows} if DATASETS[dataset] == "mnist1d" else {}
        data = {"name": DATASETS[dataset], "scaling": "standardize", "options": options}
        recipe = Recipe.from_dict(
            {
                "data": data,
                "model": {"name": architecture},
                "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
            }
        )
        name = _workload(dataset, architecture)
        result = run_tuned(
            StudySpec(
                name=f"ranking_{dataset}_{architecture}".replace("-", ""),
                recipe=recipe,
                methods=methods_from("optimizer.name", OPTIMIZERS),
                budget=scale.budget,
                seeds=scale.seeds,
            )
        )
        table[name] = {o: seed_values(result, o) for o in OPTIMIZERS}
        records += trial_records(result, prefix=f"{name}: ")
        edges += [f"{method} on {name}" for method in at_edge(result)]
    return table, records, edges


def _evidence(size: str, experiment: str) -> Evidence:
    scale = _SIZES[size]
    table, records, edges = tuned_table(size)
    setup = (
        f"Four workloads: the digits and MNIST-1D ({scale.mnist1d_rows} sequences), each with optimlab's "
        "default "
        f"MLP and CNN, {count_of(scale.epochs, 'epoch')} of batch 32, standardized inputs. For each "
        "workload, "
        f"{', '.join(OPTIMIZERS)} get the same tuning budget: {count_of(scale.budget, 'learning rate')} on "
        "a log grid of "
        "4 "
        f"decades around each optimizer's scale; the best by validation accuracy reruns on {scale.seeds} "
        "fresh "
        "seeds (data split, initialization, batch order), the same seeds for every optimizer. The studies "
        "are "
        f"shared by the experiments adam_best and workload_dependence (this page: {experiment})."
    )
    if edges:
        setup += (
            f" Best learning rate at the edge of the grid: {'; '.join(edges)}; a wider grid may have "
            "done better there."
        )
    return Evidence(numbers={"test_accuracy": table}, series={}, runs=list(records), setup=setup)


def _significant(a: Sequence[float], b: Sequence[float], comparisons: int = 1) -> int:
    """+1 if a beats b (paired 95% interval above 0; Bonferroni's over ``comparisons``), -1 if b beats a,
    0 if the interval holds 0 or a pair was left out (a failed run: the survivors do not tell, as in
    :func:`~optimlab.gallery.verdict.paired_check`)."""
    d = paired_difference(a, b, ACCURACY, level=1 - 0.05 / comparisons)
    if d.n < 2 or d.n < len(a):
        return 0
    return 1 if inside_claim(d.low, d.high, above=0) else -1 if inside_claim(d.low, d.high, below=0) else 0


def _never_beaten(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether the paired 95% interval of ``a - b`` refutes "b beats a" (a strict claim, :data:`RULE`): it
    lies wholly at or above 0, ties on every seed included; False where a pair was left out."""
    d = paired_difference(a, b, ACCURACY)
    return d.n >= 2 and d.n == len(a) and outside_claim(-d.high, -d.low, above=0)


def kendall_tau(first: Sequence[str], second: Sequence[str]) -> float:
    """Kendall's tau-a between two orderings of the same items: 1 same order, -1 reversed."""
    position = {item: i for i, item in enumerate(second)}
    pairs = list(itertools.combinations(first, 2))
    concordant = sum(1 if position[a] < position[b] else -1 for a, b in pairs)
    return concordant / len(pairs) if pairs else math.nan


def _rank_table(table: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    return "; ".join(f"{w}: {ranking_text(per)}" for w, per in table.items())


# --- "Adam is the best optimizer" -------------------------------------------------------------------

NO_WORSE_BY = 0.01  # test accuracy: "Adam is never worse" = never more than 1 point below another optimizer


def verdict_adam_best(numbers: Mapping[str, Any]) -> Verdict:
    """Both readings of "best" need a paired interval over seeds: a rank by the mean alone, or "nobody beats
    Adam significantly", would hold on noise or on too few seeds."""
    table = numbers["test_accuracy"]
    not_ahead, worse, beaten, far_worse = [], [], False, False
    # Holding takes every comparison, each at 95%; one comparison the other way refutes, so refuting is
    # read on Bonferroni's intervals over all of them, and the nearest of those is shown with the verdict:
    # a 95% interval below 0 beside "not decided" read as a verdict the numbers did not give. Either side
    # needs every pair: the survivors of a failed run do not tell.
    comparisons = sum(len(per) - 1 for per in table.values())
    nearest: tuple[float, float, str, Summary] | None = None  # the lowest upper end (then mean) of those
    for w, per in table.items():
        for o in per:
            if o == "adam":
                continue
            of = len(per["adam"])
            d = paired_difference(per["adam"], per[o], ACCURACY)
            complete = d.n >= 2 and d.n == of
            if not (complete and inside_claim(d.low, d.high, above=0)):
                not_ahead.append(f"{o} on {w} ({describe(d, of=of, thresholds=[0])})")
            if not (complete and inside_claim(d.low, d.high, above=-NO_WORSE_BY, inclusive=True)):
                worse.append(f"{o} on {w} ({describe(d, of=of, thresholds=[-NO_WORSE_BY])})")
            # refuted (RULE): "beats" by Adam never ahead, tied included; "never worse" by more than the margin
            wide = paired_difference(per["adam"], per[o], ACCURACY, level=1 - 0.05 / comparisons)
            if wide.n >= 2 and wide.n == of:
                beaten |= outside_claim(wide.low, wide.high, above=0)
                far_worse |= outside_claim(wide.low, wide.high, above=-NO_WORSE_BY, inclusive=True)
                if nearest is None or (wide.high, wide.mean) < nearest[:2]:
                    nearest = (wide.high, wide.mean, f"{o} on {w}", wide)

    def refuting(below: float, inclusive: bool) -> str:
        if nearest is None:
            return ""
        where, wide = nearest[2:]
        return (
            f"; refuted where Bonferroni's interval over the {comparisons} comparisons, on every seed's pair "
            f"(a failed run's survivors do not tell), lies entirely {'below' if inclusive else 'at or below'} "
            f"{below:g}, the nearest: {where} "
            f"({describe(wide, thresholds=[below])})"
        )

    return decide(
        [
            Check(
                "Adam ranks first on every workload: it beats every other optimizer significantly",
                not not_ahead,
                "test accuracy, Adam minus the other (paired by seed), required entirely above 0; not met "
                f"for: {'; '.join(not_ahead) or 'none'}{refuting(0, inclusive=False)} (rankings by mean: {_rank_table(table)})",
                refuted=beaten,
            ),
            Check(
                f"Adam is never worse: on every workload, no more than {NO_WORSE_BY:g} below any other "
                "optimizer",
                not worse,
                f"test accuracy, Adam minus the other (paired by seed), required entirely at least "
                f"{-NO_WORSE_BY:g}; not met for: {'; '.join(worse) or 'none'}"
                f"{refuting(-NO_WORSE_BY, inclusive=True)}",
                refuted=far_worse,
            ),
        ]
    )


def _figures(evidence: Evidence) -> list[tuple[Figure, str]]:
    table = evidence.numbers["test_accuracy"]
    return [
        (
            interval_figure(
                table,
                title="Tuned test accuracy by optimizer and workload",
                ylabel=axis_label("test_accuracy"),
                bounds=ACCURACY,
            ),
            (
                "Each optimizer at its tuned learning rate: mean and 95% CI over the seeds (paired across "
                "optimizers)."
            ),
        )
    ]


adam_best = register(
    Experiment(
        name="adam_best",
        kind=Capability.TUTORIAL_CLAIM,
        title="Is Adam the best optimizer?",
        claim="Adam is considered the best performing optimizer.",
        sources=SOURCES,
        measure=lambda size: _evidence(size, "adam_best"),
        verdict=verdict_adam_best,
        figures=_figures,
    ),
    summary="Five optimizers, each with a tuned lr, on four workloads: does Adam win everywhere?",
    paper="Schmidt et al. 2021, arXiv:2007.01547",
)


# --- "performance varies with the data set and architecture" -----------------------------------------


def _reversals(
    table: Mapping[str, Mapping[str, Sequence[float]]], pairs: Sequence[tuple[str, str]]
) -> tuple[list[str], int]:
    """Significant reversals between the workloads of each pair, "adam > sgd on w1 but sgd > adam on w2",
    and how many pairs of optimizers were looked at: each comparison's interval is Bonferroni's over them."""
    looked = [(w1, w2, a, b) for w1, w2 in pairs for a, b in itertools.combinations(table[w1], 2)]
    found = []
    for w1, w2, a, b in looked:
        s1 = _significant(table[w1][a], table[w1][b], len(looked))
        s2 = _significant(table[w2][a], table[w2][b], len(looked))
        if s1 * s2 < 0:
            winner1, loser1 = (a, b) if s1 > 0 else (b, a)
            found.append(f"{winner1} > {loser1} on {w1} but {loser1} > {winner1} on {w2}")
    return found, len(looked)


def _reversal_evidence(found: Sequence[str], looked: int) -> str:
    said = "; ".join(found) or "no pair of optimizers swaps with both differences significant"
    paired = "Bonferroni's intervals of the differences paired by seed"
    return f"{said} ({paired}, over the {looked} comparisons looked at)"


def verdict_workload_dependence(numbers: Mapping[str, Any]) -> Verdict:
    table = numbers["test_accuracy"]
    rankings = {w: ranked(per) for w, per in table.items()}
    taus = [
        f"{w1} vs {w2} {kendall_tau(rankings[w1], rankings[w2]):.2g}"
        for w1, w2 in itertools.combinations(rankings, 2)
    ]
    workloads = list(table)

    def pairs(same: int) -> list[tuple[str, str]]:  # workload names are "<dataset>, <ARCHITECTURE>"
        return [
            (w1, w2)
            for w1, w2 in itertools.combinations(workloads, 2)
            if w1.split(", ")[same] == w2.split(", ")[same]
        ]

    (across_data, data_pairs), (across_architecture, architecture_pairs) = (
        _reversals(table, pairs(1)),
        _reversals(table, pairs(0)),
    )
    # Different winners by the mean alone would hold on noise: an optimizer counts as beaten on a workload
    # only when another beats it with a paired interval above 0, Bonferroni's over the comparisons of it.
    optimizers = list(dict.fromkeys(o for per in table.values() for o in per))
    against = {o: sum(len(per) - 1 for per in table.values() if o in per) for o in optimizers}
    unbeaten = [
        o
        for o in optimizers
        if not any(
            _significant(per[other], per[o], against[o]) > 0
            for per in table.values()
            if o in per
            for other in per
            if other != o
        )
    ]
    # refuted: one optimizer that no other beats on any workload, its 95% intervals at or above each other's
    dominant = [
        o
        for o in unbeaten
        if all(
            o in per and all(_never_beaten(per[o], per[x]) for x in per if x != o) for per in table.values()
        )
    ]
    return decide(
        [
            Check(
                "No optimizer is the best on every workload: each one is significantly beaten on some "
                "workload",
                not unbeaten,
                "never significantly beaten (Bonferroni's intervals of the differences paired by seed, over "
                f"each optimizer's {max(against.values(), default=0)} comparisons): "
                f"{', '.join(unbeaten) or 'none'}; "
                "never behind any other on any workload (refuting it: each 95% interval of it minus another, "
                "paired by seed, wholly at or above 0): "
                f"{', '.join(dominant) or 'none'}; rankings "
                f"by mean tuned test accuracy: {_rank_table(table)}; Kendall's tau between rankings: "
                + ", ".join(taus),
                refuted=bool(dominant),
            ),
            Check(
                "Changing the data set (same architecture) reverses a significant comparison",
                bool(across_data),
                _reversal_evidence(across_data, data_pairs),
            ),
            Check(
                "Changing the architecture (same data set) reverses a significant comparison",
                bool(across_architecture),
                _reversal_evidence(across_architecture, architecture_pairs),
            ),
        ]
    )


workload_dependence = register(
    Experiment(
        name="workload_dependence",
        kind=Capability.TUTORIAL_CLAIM,
        title="Does optimizer performance vary with the data set and architecture?",
        claim="The performance of an optimizer varies with the dataset and the architecture.",
        sources=SOURCES,
        measure=lambda size: _evidence(size, "workload_dependence"),
        verdict=verdict_workload_dependence,
        figures=_figures,
    ),
    summary="Five tuned optimizers on data sets x architectures (digits, MNIST-1D x MLP, CNN): do rankings "
    "change?",
    paper="Schmidt et al. 2021, arXiv:2007.01547",
)
