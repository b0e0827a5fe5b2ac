"""A learning-rate schedule improves results: constant vs cosine vs warmup-stable-decay, each tuned.

Decaying the learning rate toward the end of training lets SGD-type methods settle where the noise of a
large step kept them bouncing; cosine annealing (Loshchilov & Hutter, SGDR, 2016,
https://arxiv.org/abs/1608.03983) and warmup-stable-decay (Hu et al., MiniCPM, 2024,
https://arxiv.org/abs/2404.06395; Haegele et al., 2024, https://arxiv.org/abs/2405.18392) are today's
common choices. A fair test tunes the peak learning rate of each schedule separately (a decaying schedule
tolerates a larger peak) and compares over seeds.

Here: two workloads, the digits with momentum SGD (easy: every method gets close to its ceiling) and
MNIST-1D with Adam (harder), each schedule with its own tuned learning rate, then fresh seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import interval_figure, sensitivity_figures
from optimlab.gallery.tuned import run_tuned, seed_values, sensitivity_curves, trial_records
from optimlab.gallery.verdict import ACCURACY, Verdict, decide, paired_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report.metric_labels import axis_label
from optimlab.study import StudySpec, methods_from

__all__ = ["lr_schedule"]

SCHEDULES = ("constant", "cosine", "wsd")
SOURCES = (
    (
        "Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, 2016, "
        "https://arxiv.org/abs/1608.03983"
    ),
    (
        "Hu et al., MiniCPM: Unveiling the Potential of Small Language Models with Scalable Training "
        "Strategies, "
        "2024, https://arxiv.org/abs/2404.06395"
    ),
    (
        "Haegele et al., Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations, 2024, "
        "https://arxiv.org/abs/2405.18392"
    ),
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    budget: int
    width: int
    epochs: int
    mnist1d_rows: int = 5000  # generating MNIST-1D takes ~1 s per 5,000 rows, at every trial


# digits: 34 steps an epoch (~0.4 s a trial of 20 epochs); MNIST-1D: 94 (~1.6 s a trial of 10).
_SIZES = {
    # tiny MNIST-1D: 400 rows make 8 steps an epoch, the fewest whose wsd decay (20%) lowers a step's lr
    "tiny": _Scale(seeds=2, budget=2, width=16, epochs=1, mnist1d_rows=400),
    "small": _Scale(seeds=5, budget=5, width=128, epochs=10),
    "large": _Scale(seeds=10, budget=9, width=512, epochs=40),
}


def _workloads(scale: _Scale, size: str) -> dict[str, Recipe]:
    def recipe(data: str, optimizer: str, epochs: int, **options: int) -> Recipe:
        return Recipe.from_dict(
            {
                "data": {"name": data, "scaling": "standardize", "options": options},
                "model": {"name": "mlp", "width": scale.width, "depth": 2},
                "optimizer": {"name": optimizer},
                "training": {"epochs": epochs, "batch_size": 32, "device": device_for(size)},
            }
        )

    return {
        "digits, momentum SGD": recipe("digits", "momentum", 2 * scale.epochs),
        "MNIST-1D, Adam": recipe("mnist1d", "adam", scale.epochs, n=scale.mnist1d_rows),
    }


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    results = {
        workload: run_tuned(
            StudySpec(
                name=f"lr_schedule_{i}",
                recipe=recipe,
                methods=methods_from("schedule.name", SCHEDULES),
                budget=scale.budget,
                seeds=scale.seeds,
            )
        )
        for i, (workload, recipe) in enumerate(_workloads(scale, size).items())
    }
    numbers = {"test_accuracy": {w: {s: seed_values(r, s) for s in SCHEDULES} for w, r in results.items()}}
    series = {"sensitivity": {w: sensitivity_curves(r) for w, r in results.items()}}
    setup = (
        f"Two workloads: the digits (MLP 2 x {scale.width}, momentum SGD, {2 * scale.epochs} epochs) and "
        "MNIST-1D "
        f"(MLP 2 x {scale.width}, Adam, {count_of(scale.epochs, 'epoch')}), batch 32, standardized inputs. "
        "Schedules: "
        "constant, cosine to 0, and warmup-stable-decay (constant, then a 1-sqrt decay to 0 over the last "
        "20% of "
        f"the steps), all without warmup. For each schedule the study engine tunes the peak learning rate "
        f"({count_of(scale.budget, 'value')} on a log grid of 4 decades), then reruns the best on "
        f"{scale.seeds} fresh "
        "seeds, "
        "paired across schedules."
    )
    runs = [record for w, r in results.items() for record in trial_records(r, prefix=f"{w}: schedule ")]
    return Evidence(numbers=numbers, series=series, runs=runs, setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    """Each schedule against constant on each workload: any one of them holding supports the claim in
    part, so their intervals are Bonferroni's over all of them."""
    pairs = [
        (workload, schedule)
        for workload, per in numbers["test_accuracy"].items()
        for schedule in per
        if schedule != "constant"
    ]
    return decide(
        [
            paired_check(
                f"On {workload}, {schedule} beats a constant learning rate",
                numbers["test_accuracy"][workload][schedule],
                numbers["test_accuracy"][workload]["constant"],
                names=(schedule, "constant"),
                above=0,
                measure="tuned test accuracy",
                bounds=ACCURACY,
                comparisons=len(pairs),
            )
            for workload, schedule in pairs
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    bars = interval_figure(
        evidence.numbers["test_accuracy"],
        title="Tuned test accuracy by schedule",
        ylabel=axis_label("test_accuracy"),
        bounds=ACCURACY,
    )
    return [
        (bars, "Each schedule at its own tuned peak learning rate: mean and 95% CI over the seeds."),
        *sensitivity_figures(
            evidence.series["sensitivity"],
            xlabel="peak learning rate",
            ylabel=axis_label("val_accuracy"),
            caption="Tuning trials of each schedule (tuning seed); a gap is a trial that diverged.",
        ),
    ]


lr_schedule = register(
    Experiment(
        name="lr_schedule",
        kind=Capability.TUTORIAL_CLAIM,
        title="Does a learning-rate schedule improve results?",
        claim="A learning-rate schedule improves results.",
        sources=SOURCES,
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="Constant vs cosine vs warmup-stable-decay, each with a tuned peak lr, on digits and MNIST-1D.",
    paper="Loshchilov & Hutter 2016, arXiv:1608.03983",
)
