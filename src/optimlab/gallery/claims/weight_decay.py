"""Loshchilov & Hutter 2019: decoupled weight decay (AdamW) vs an L2 penalty in Adam.

Adding ``lambda * p`` to the gradient (L2) lets Adam divide it by the root of the second moment, so weights
with large gradients are decayed less, and the decay's strength is tied to the learning rate. Decoupling
it, ``p <- p - eta_t (alpha * adam_step + lambda * p)`` with ``eta_t`` the schedule's multiplier, is the
paper's fix (Decoupled Weight Decay Regularization, ICLR 2019, https://arxiv.org/abs/1711.05101), with two
claims: AdamW generalizes better than Adam with L2, and its best weight decay depends less on the learning
rate (Figure 2: the good region of the learning rate x weight decay plane is a diagonal band with L2 and
closer to a rectangle with AdamW).

torch's AdamW (and optimlab's) multiplies the decay by the learning rate, ``p <- p (1 - lr * wd)``: the
paper's lambda is ``lr * wd``. So the grid here is in the paper's coordinates, alpha x lambda, with the
recipe's ``weight_decay = lambda / lr`` for AdamW and ``lambda`` itself for L2. The study engine searches
recipe fields independently, so this grid is run here (:func:`.runs.train_run`), on three tuning seeds
averaged to quiet the noise; each method's best cell then reruns on fresh seeds.

How much the best learning rate moves with the weight decay is read off each tuning seed's grid: among the
weight decays whose best accuracy is within :data:`USEFUL_WITHIN` of the method's best, the range (in
decades) of the learning rates that are best at each; the two methods' ranges pair up by tuning seed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.experiment import Evidence, Experiment, device_for, register
from optimlab.gallery.runs import Run, RunResult, by_arm, train_run
from optimlab.gallery.verdict import ACCURACY, Verdict, decide, paired_check
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.registry import Capability
from optimlab.report import figures
from optimlab.report.metric_labels import axis_label

__all__ = ["best_lr_range", "weight_decay"]

METHODS = {"adam": "Adam + L2", "adamw": "AdamW"}
USEFUL_WITHIN = 0.02  # validation accuracy: the weight decays worth choosing among
SOURCE = (
    "Loshchilov & Hutter, Decoupled Weight Decay Regularization, ICLR 2019, https://arxiv.org/abs/1711.05101"
)


@dataclasses.dataclass(frozen=True)
class _Scale:
    seeds: int
    lrs: tuple[float, ...]
    lambdas: tuple[float, ...]
    width: int
    epochs: int
    tuning_seeds: int = 3  # the grid's seeds: "moves less" is a paired interval over them


# alpha: 1e-4 .. 1e-2 by half decades. On whole decades the spreads could only be 0, 1 or 2 and tied
# between the methods ([1, 0, 1] against [1, 0, 1] on 2026-12-04), which read as a contradiction.
_HALF_DECADES = tuple(10 ** (e / 2) for e in range(-8, -3))
_LAMBDAS = tuple(10.0**e for e in range(-6, -1))  # lambda: 1e-6 .. 1e-2
# 270 training rows, 9 steps an epoch: ~0.4 s a run of 60 epochs; 2 methods x (25 cells x 3 seeds + 5 reruns).
_SIZES = {
    "tiny": _Scale(seeds=2, lrs=(1e-3, 1e-2), lambdas=(1e-4, 1e-2), width=16, epochs=2, tuning_seeds=2),
    "small": _Scale(seeds=5, lrs=_HALF_DECADES, lambdas=_LAMBDAS, width=128, epochs=60),
    "large": _Scale(seeds=10, lrs=_HALF_DECADES, lambdas=_LAMBDAS, width=512, epochs=200),
}


def best_lr_range(grid: Mapping[str, Any], within: float = USEFUL_WITHIN) -> float:
    """Decades spanned by the best learning rate of each useful weight decay (rows within ``within`` of the
    grid's best accuracy): 0 when one learning rate is best whatever the weight decay."""
    rows = grid["val_accuracy"]
    best = max((v for row in rows for v in row if math.isfinite(v)), default=math.nan)
    chosen = []
    for row in rows:
        finite = [(v, j) for j, v in enumerate(row) if math.isfinite(v)]
        if finite and max(finite)[0] >= best - within:
            chosen.append(math.log10(grid["lr"][max(finite)[1]]))
    return max(chosen) - min(chosen) if chosen else math.nan


def measure(size: str) -> Evidence:
    scale = _SIZES[size]
    base = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize", "data_fraction": 0.25},
            "model": {"name": "mlp", "width": scale.width, "depth": 2},
            "training": {"epochs": scale.epochs, "batch_size": 32, "device": device_for(size)},
        }
    )

    def run(method: str, lr: float, lam: float, seed: int) -> RunResult:
        wd = lam / lr if method == "adamw" else lam  # the paper's lambda in torch's convention
        return train_run(
            Run(
                METHODS[method],
                base.with_updates(
                    {
                        "optimizer.name": method,
                        "optimizer.lr": lr,
                        "optimizer.weight_decay": wd,
                        "training.seed": seed,
                    }
                ),
            )
        )

    tuning_seeds = (0, *range(scale.seeds + 1, scale.seeds + scale.tuning_seeds))  # none is a rerun seed
    grids, spreads, tuning, reruns = {}, {}, [], []
    for method, label in METHODS.items():
        cells = {
            (lam, lr): [run(method, lr, lam, seed) for seed in tuning_seeds]
            for lam in scale.lambdas
            for lr in scale.lrs
        }
        tuning += [r for runs in cells.values() for r in runs]
        mean = {key: sum(r.metric("val_accuracy") for r in runs) / len(runs) for key, runs in cells.items()}
        grids[label] = {
            "lr": list(scale.lrs),
            "lambda": list(scale.lambdas),
            "val_accuracy": [[mean[(lam, lr)] for lr in scale.lrs] for lam in scale.lambdas],
        }
        spreads[label] = [
            best_lr_range(
                {
                    "lr": list(scale.lrs),
                    "val_accuracy": [
                        [cells[(lam, lr)][k].metric("val_accuracy") for lr in scale.lrs]
                        for lam in scale.lambdas
                    ],
                }
            )
            for k in range(len(tuning_seeds))
        ]
        lam, lr = max(
            mean, key=lambda key: (math.isfinite(mean[key]), mean[key] if math.isfinite(mean[key]) else 0)
        )
        reruns += [run(method, lr, lam, seed) for seed in range(1, scale.seeds + 1)]
    numbers = {
        "arms": list(METHODS.values()),
        "test_accuracy": by_arm(reruns, lambda r: r.metric("test_accuracy")),
        "best_lr_range_decades": spreads,  # per tuning seed
    }
    setup = (
        "The digits with a quarter of the training split (270 rows), standardized; an MLP of 2 hidden "
        "layers of "
        f"{scale.width}, {count_of(scale.epochs, 'epoch')} of batch 32, constant learning rate. Adam with "
        "an L2 term "
        "lambda * p in the gradient, and AdamW with the decoupled decay lambda * p per step, on the same "
        "grid: "
        f"alpha in {', '.join(f'{v:g}' for v in scale.lrs)} x lambda in "
        f"{', '.join(f'{v:g}' for v in scale.lambdas)}, each cell on seeds "
        f"{', '.join(map(str, tuning_seeds))}; each method's best cell by the mean validation accuracy "
        f"reruns on seeds 1..{scale.seeds}, and each seed's grid says how far the best learning rate moves."
    )
    runs = [
        r.record("val_accuracy" if i < len(tuning) else "test_accuracy")
        for i, r in enumerate([*tuning, *reruns])
    ]
    return Evidence(numbers=numbers, series={"grids": grids}, runs=runs, setup=setup)


def verdict(numbers: Mapping[str, Any]) -> Verdict:
    l2, decoupled = numbers["arms"]
    spread = numbers["best_lr_range_decades"]
    return decide(
        [
            paired_check(
                f"{decoupled} generalizes better: a higher tuned test accuracy than {l2}",
                numbers["test_accuracy"][decoupled],
                numbers["test_accuracy"][l2],
                names=(decoupled, l2),
                above=0,
                measure="test accuracy at each one's best grid cell",
                bounds=ACCURACY,
            ),
            paired_check(
                f"With {decoupled}, the best learning rate moves less with the weight decay",
                spread[decoupled],
                spread[l2],
                names=(decoupled, l2),
                below=0,
                measure="decades spanned by the best learning rate over the weight decays within "
                f"{USEFUL_WITHIN:g} of the best, one grid per tuning seed",
            ),
        ]
    )


def figures_(evidence: Evidence) -> list[tuple[Figure, str]]:
    found = []
    grids = evidence.series["grids"]
    cells = [v for grid in grids.values() for row in grid["val_accuracy"] for v in row if math.isfinite(v)]
    shared = (min(cells), max(cells)) if cells else None  # one colour, one accuracy in both maps
    for label, grid in grids.items():
        heat = figures.heatmap(
            grid["val_accuracy"],
            row_labels=[f"lambda {v:.2g}" for v in grid["lambda"]],
            columns=[math.log10(lr) for lr in grid["lr"]],
            log_scale=False,
            limits=shared,
            title=f"{label}: {axis_label('val_accuracy')}",
            colorbar=axis_label("val_accuracy"),
            xlabel="log10 alpha (learning rate)",
        )
        found.append(
            (
                heat,
                (
                    f"{label}: the grid in the paper's coordinates (its Figure 2), mean of the tuning seeds; a "
                    "blank cell diverged; both maps on one colour scale."
                ),
            )
        )
    return found


weight_decay = register(
    Experiment(
        name="weight_decay",
        kind=Capability.PAPER_RESULT,
        title="Loshchilov & Hutter 2019: decoupled weight decay (AdamW) vs L2 in Adam",
        claim="Decoupled weight decay (AdamW) generalizes better than an L2 penalty in Adam, and decouples "
        "the best "
        "weight decay from the learning rate.",
        sources=(SOURCE,),
        measure=measure,
        verdict=verdict,
        figures=figures_,
    ),
    summary="Adam + L2 vs AdamW on the same lr x weight-decay grid (small-data digits); rerun on seeds.",
    paper="Loshchilov & Hutter 2019, arXiv:1711.05101",
)
