"""What logging to a tracker costs: a training run with TensorBoard or MLflow logging against the same run
without it.

Claim (issue 16): sending every metric of ``metrics.jsonl`` (each step's loss and lr, each evaluation) to
a tracker costs at most 1.05x the run without it. Each round trains the same recipe three times, in a
rotating order: plain ``train(recipe, out)``, and with a :class:`~optimlab.integrations.Tracker` callback
for TensorBoard and for MLflow (a local SQLite store). Timed: the ``train`` call (build, loop, evaluations,
final write and close of the tracker). Opening the tracker (MLflow: creating the run, logging the recipe
as parameters) is a fixed cost per run, timed and printed apart. Printed: the median over rounds of the
ratio within each round, with its 95% bootstrap interval (benchmarks/paired.py).

Recipe: MLP on digits (hidden width ``--width``), Adam, batch 32, 1 torch thread, ``--epochs`` epochs
(34 steps each), evaluation every epoch.

Run: python benchmarks/tracker_overhead.py [--rounds 11] [--epochs 10] [--width 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired import paired_ratio

from optimlab.integrations import open_tracker
from optimlab.recipe import Recipe
from optimlab.train import train

ARMS = ("plain", "tensorboard", "mlflow")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--width", type=int, default=128, help="hidden width of the MLP (its step's cost)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits"},
            "optimizer": {"name": "adam", "lr": 1e-3},
            "training": {"epochs": args.epochs},
        }
    )
    work = Path(tempfile.mkdtemp(prefix="tracker-overhead-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
    os.chdir(work)  # MLflow's artifacts folder
    train(recipe)  # warm-up: imports, data, allocator
    open_tracker(
        "mlflow", folder=work, run_name="warm-up", params=recipe.to_dict()
    ).finish()  # creates the store
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    opening: dict[str, list[float]] = {arm: [] for arm in ARMS[1:]}
    for round_ in range(args.rounds):
        for arm in ARMS[round_ % 3 :] + ARMS[: round_ % 3]:
            out = work / f"{arm}-{round_}"
            callbacks = []
            if arm != "plain":
                started = time.perf_counter()
                callbacks = [open_tracker(arm, folder=out, run_name=out.name, params=recipe.to_dict())]
                opening[arm].append(time.perf_counter() - started)
            started = time.perf_counter()
            train(recipe, out, callbacks=callbacks)
            times[arm].append(time.perf_counter() - started)
    steps = args.epochs * 34
    print(
        f"{args.rounds} rounds, {steps} steps a run, width {args.width}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("| run | median s | ratio to plain [95% CI] | opening the tracker, median s |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| plain | {statistics.median(times['plain']):.3f} | 1 | |")
    for arm in ARMS[1:]:
        ratio, low, high = paired_ratio(times[arm], times["plain"])
        print(
            f"| {arm} | {statistics.median(times[arm]):.3f} | {ratio:.3f} [{low:.3f}, {high:.3f}] "
            f"| {statistics.median(opening[arm]):.3f} |"
        )


if __name__ == "__main__":
    main()
