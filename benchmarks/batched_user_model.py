"""Trials of the user's own CNN with batch norm, one at a time against batched as one stacked model.

Claim (issue 12): batched trials of a small CNN with batch norm, a user model named by import path
(``user_cnn:BatchNormCNN``, ``benchmarks/user_cnn.py``: conv3 8 -> BN -> ReLU -> max-pool -> conv3 16 ->
BN -> ReLU -> global average -> linear), run at least 3x faster than the same trials one at a time on 2
CPU cores, with the same curves. Both rows run the same K trials through ``run_study`` (journal file
storage): Adam, a log grid of K learning rates from 1e-4 to 3e-3, batch 32 on digits (standardized),
the validation split evaluated every epoch (34 steps) and at the end.

- ``optimlab local``: ``run_study(backend="local")``, one trial at a time, what the user has without
  batching;
- ``optimlab batched``: ``run_study(backend="batched", options=BackendOptions(members=K))``: the K
  members stacked, each with its own batch-norm running statistics.

Each measurement is a fresh process that runs its row once on the same trials for a few steps to warm
up (imports, first kernels at the measured shapes), then once timed; the rows alternate round after
round, and the speed-up is the median over rounds of the ratio within a round (``paired.py``). Every
row gets the same torch threads. The script prints each row's times, the paired speed-up, the largest
difference between the batched and the local trials' validation loss and accuracy at every
evaluation, and ``uptime`` (the machine may be shared).

Run: python benchmarks/batched_user_model.py [--repeats 5] [--trials 16] [--steps 170] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import optuna
import torch
from paired import paired_ratio

from optimlab.recipe import Recipe
from optimlab.study import Dimension, SearchSpace, StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions

MODEL = "user_cnn:BatchNormCNN"  # found on sys.path: this script's folder
WARMUP_STEPS = 10
ROWS = ("optimlab local", "optimlab batched")


def spec(trials: int, steps: int) -> StudySpec:
    # Up to 3e-3: above, Adam on this model is chaotic (at 7e-3 the two paths' roundings part the
    # curves by 1e-2 within 170 steps), and the comparison of curves would measure the chaos.
    lrs = tuple(1e-4 * 30 ** (i / (trials - 1)) for i in range(trials))
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": MODEL},
            "optimizer": {"name": "adam"},
            "training": {"steps": steps, "batch_size": 32},
        }
    )
    return StudySpec(
        name="bench",
        recipe=recipe,
        methods=methods_from("optimizer.name", ["adam"]),
        space=SearchSpace((Dimension("optimizer.lr", choices=lrs),)),  # the K values, in order
        budget=trials,
        seeds=0,
    )


def run_row(row: str, trials: int, steps: int) -> dict[str, object]:
    """In this process: the row on a few steps to warm up, then timed; its seconds and trials' curves."""
    backend = row.split()[-1]

    def run(steps: int) -> tuple[float, list[dict[str, list[float]]]]:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = run_study(
                spec(trials, steps), folder, backend=backend, options=BackendOptions(members=trials)
            )
            seconds = time.perf_counter() - started
        assert len(result.records) == trials and all(r.steps == steps for r in result.records)
        return seconds, [r.curve for r in result.records]

    run(WARMUP_STEPS)
    seconds, curves = run(steps)
    return {"seconds": seconds, "curves": curves}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--steps", type=int, default=170, help="per trial (34 steps: an epoch of digits)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)  # one measurement, in a child
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.row:
        print(json.dumps(run_row(args.row, args.trials, args.steps)))
        return
    times: dict[str, list[float]] = {row: [] for row in ROWS}
    curves: dict[str, list[dict[str, list[float]]]] = {}
    for _ in range(args.repeats):
        for row in ROWS:
            child = [sys.executable, __file__, "--row", row, "--threads", str(args.threads)]
            child += ["--trials", str(args.trials), "--steps", str(args.steps)]
            measured = json.loads(
                subprocess.run(child, check=True, capture_output=True, text=True)
                .stdout.strip()
                .splitlines()[-1]
            )
            times[row].append(measured["seconds"])
            curves[row] = measured["curves"]
    print(
        f"{args.trials} Adam lr trials x {args.steps} steps of {MODEL} (batch norm) on digits, "
        f"{args.threads} torch threads, {args.repeats} rounds"
    )
    local = times["optimlab local"]
    for row, measured in times.items():
        paired, low, high = paired_ratio(local, measured)
        print(
            f"{row:<18} median {statistics.median(measured):6.2f} s  min {min(measured):6.2f} s  "
            f"speed-up over local, paired: {paired:.2f}x [{low:.2f}, {high:.2f}]   "
            f"all s: {' '.join(f'{t:.2f}' for t in measured)}"
        )
    gaps = {
        name: max(
            abs(b - s)
            for one, other in zip(curves["optimlab batched"], curves["optimlab local"])
            for b, s in zip(one[name], other[name])
        )
        for name in ("val_loss", "val_accuracy")
    }
    print(
        "largest |batched - local| over every evaluation of every trial: "
        + ", ".join(f"{name} {gap:.2e}" for name, gap in gaps.items())
    )
    print(subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
