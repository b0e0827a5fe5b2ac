"""SGD "uses only first-order information and may get stuck".

Two readings of the claim meet here. First, momentum and Adam use only first-order information too (the
gradient; Adam its running squares), so "first-order" cannot be what separates them from SGD. Second,
what does hold for plain gradient steps is slowness on ill-conditioned problems: the step size must stay
below 2 / (largest curvature), so directions of small curvature converge at a rate set by the condition
number, which momentum improves to its square root (Polyak, Some methods of speeding up the convergence of
iteration methods, 1964, doi:10.1016/0041-5553(64)90137-5). Slow is not stuck: the loss keeps falling.

Here: DeepOBS's quadratic with a deep-learning-like spectrum (eigenvalues 0..1 and 30..60; Schneider et
al., DeepOBS, 2019, https://arxiv.org/abs/1903.05499), without sampling noise (plain ill-conditioning) and
with DeepOBS's noise, SGD vs momentum vs Adam, each with its learning rate tuned (equal budget), several
seeds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.plots import curve_figure, sensitivity_figures
from optimlab.gallery.probes import log10
from optimlab.gallery.tuned import run_tuned, seed_values, sensitivity_curves, trial_records
from optimlab.gallery.verdict import Verdict, decide, interval_check, paired_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report.metric_labels import axis_label
from optimlab.study import Dimension, SearchSpace, StudySpec, methods_from
from optimlab.study.analysis import seed_band

__all__ = ["sgd_stuck"]

OPTIMIZERS = ("sgd", "momentum", "adam")
PROBLEMS = {"ill-conditioned quadratic": 0.0, "noisy quadratic (DeepOBS)": 0.6}  # noise of the samples
STUCK_RATIO = 0.9  # "stuck": the loss falls by less than 10% over the second half of training
SOURCES = (
    (
        "Schneider, Balles & Hennig, DeepOBS: A Deep Learning Optimizer Benchmark Suite, 2019, "
        "https://arxiv.org/abs/1903.05499"
    ),
    (
        "Polyak, Some methods of speeding up the convergence of iteration methods, USSR Computational "
        "Mathematics and Mathematical Physics 4(5), 1964, doi:10.1016/0041-5553(64)90137-5"
    ),
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    budget: int
    steps: int


# One step of the 100-d quadratic is ~0.1 ms: a trial is mostly its evaluations (every 50 steps).
_SIZES = {
    "tiny": _Scale(seeds=2, budget=2, steps=100),
    "small": _Scale(seeds=5, budget=9, steps=1000),
    "large": _Scale(seeds=10, budget=13, steps=5000),
}


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    space = SearchSpace((Dimension("optimizer.lr", low=1e-4, high=1.0, log=True),))  # the same for all three
    results = {}
    for problem, noise in PROBLEMS.items():
        recipe = Recipe.from_dict(
            {
                "data": {"name": "noisy_quadratic", "options": {"noise": noise}},
                "model": {"name": "parameter_vector"},
                "training": {
                    "steps": scale.steps,
                    "batch_size": 32,
                    "eval_every": max(1, scale.steps // 20),
                    "device": device_for(size),
                },
            }
        )
        results[problem] = run_tuned(
            StudySpec(
                name=f"sgd_stuck_{int(noise * 10)}",
                recipe=recipe,
                methods=methods_from("optimizer.name", OPTIMIZERS),
                space=space,
                budget=scale.budget,
                seeds=scale.seeds,
                metric="val_loss",
                goal="min",
                test_metric="test_loss",
            )
        )

    def second_half_log10(result: Any, method: str) -> list[float]:
        """Per seed, log10 of the validation loss at the end over the loss halfway."""
        reruns = sorted(
            (r for r in result.records if r.method == method and r.phase == "seeds"), key=lambda r: r.seed
        )
        ratios = []
        for r in reruns:
            losses = r.curve.get("val_loss", [])
            ok = r.state == "complete" and len(losses) >= 2 and all(v is not None for v in losses)
            ratios.append(log10(losses[-1] / losses[len(losses) // 2 - 1]) if ok else math.nan)
        return ratios

    numbers = {
        "problems": list(PROBLEMS),
        "test_loss_log10": {
            # a loss of exactly 0 (float32 underflow) is the floor, as probes.log10 reads it, not a failed run
            p: {m: [log10(v) for v in seed_values(r, m)] for m in OPTIMIZERS}
            for p, r in results.items()
        },
        "sgd_second_half_log10": {p: second_half_log10(r, "sgd") for p, r in results.items()},
    }
    series = {
        "curves": {
            p: {m: dict(zip(("step", "mean"), seed_band(r.records, m, "val_loss")[:2])) for m in OPTIMIZERS}
            for p, r in results.items()
        },
        "sensitivity": {p: sensitivity_curves(r) for p, r in results.items()},
    }
    setup = (
        "DeepOBS's 100-dimensional quadratic 0.5 (theta - x)^T H (theta - x), H with 90 eigenvalues in [0, "
        "1] "
        "and 10 in [30, 60], theta starting at ones; samples x ~ N(0, noise^2 I), noise 0 (a deterministic, "
        "ill-conditioned problem: every step sees the exact gradient) and 0.6 (DeepOBS). SGD, momentum SGD "
        f"(0.9) and Adam each get {count_of(scale.budget, 'learning rate')} on a log grid from 1e-4 to 1 "
        "(the best by "
        f"validation loss), then rerun on {count_of(scale.seeds, 'seed')}; {count_of(scale.steps, 'step')} "
        "of batch 32."
    )
    runs = [record for p, r in results.items() for record in trial_records(r, prefix=f"{p}: ")]
    return Evidence(numbers=numbers, series=series, runs=runs, setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    clean, noisy = numbers["problems"]
    losses = numbers["test_loss_log10"]
    return decide(
        [
            *(
                paired_check(
                    f"On the {clean}, tuned SGD ends at a higher loss than {other} (also a first-order "
                    "method)",
                    losses[clean]["sgd"],
                    losses[clean][other],
                    names=("sgd", other),
                    above=0,
                    measure="log10 test loss",
                )
                for other in ("momentum", "adam")
            ),
            paired_check(
                f"On the {noisy}, tuned SGD ends at a higher loss than Adam",
                losses[noisy]["sgd"],
                losses[noisy]["adam"],
                names=("sgd", "adam"),
                above=0,
                measure="log10 test loss",
            ),
            interval_check(
                f"SGD gets stuck on the {clean}: its loss falls by less than {1 - STUCK_RATIO:.0%} over the "
                "second half of training",
                numbers["sgd_second_half_log10"][clean],
                above=math.log10(STUCK_RATIO),
                measure="log10 of the validation loss at the end over the loss halfway",
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    found = []
    for problem, curves in evidence.series["curves"].items():
        found.append(curve_figure(curves, problem, ylabel=axis_label("val_loss"), log_y=True))
    return found + sensitivity_figures(
        evidence.series["sensitivity"],
        xlabel="learning rate",
        ylabel=axis_label("val_loss"),
        caption="Tuning trials (tuning seed); a gap is a trial that diverged.",
        log_y=True,
    )


sgd_stuck = register(
    Experiment(
        name="sgd_stuck",
        kind=Capability.TUTORIAL_CLAIM,
        title="Does SGD, using only first-order information, get stuck?",
        claim="SGD uses only first-order information and may get stuck.",
        sources=SOURCES,
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="SGD vs momentum vs Adam, tuned, on an ill-conditioned and a noisy quadratic: slower, or stuck?",
    paper="Schneider et al. 2019, arXiv:1903.05499",
)
