"""A study on sequential batches with drop_last (MNIST-1D's and DeepOBS's protocols), local against batched.

Until 6d9ea01 the batched backend trained such recipes one trial at a time, with a warning; it now stacks
them, drawing the batches ``fit`` draws. Each round runs the same comparison on both backends, in
alternating order, and checks that every trial's validation loss agrees.

    OMP_NUM_THREADS=1 python benchmarks/batched_sequential.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from paired import alternating_rounds, paired_ratio, round_count

import optimlab

ORDER = {"training.shuffle": False, "training.drop_last": True, "training.batch_size": 100}


def timed(backend: str, folder: Path) -> tuple[float, dict[tuple, float]]:
    """Seconds of one comparison on ``backend``, and each trial's final validation loss by its setup."""
    started = time.perf_counter()
    done = optimlab.compare(
        ["sgd", "adam"],
        workload="digits_mlp",
        recipe=ORDER,
        budget=3,
        seeds=2,
        epochs=2,
        backend=backend,
        out=folder / backend,
    )
    seconds = time.perf_counter() - started
    losses = {
        (r.method, r.params.get("optimizer.lr"), r.seed, r.phase): r.metrics["val_loss"]
        for result in done.results
        for r in result.records
    }
    return seconds, losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=round_count, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    losses: dict[str, list[dict]] = {"local": [], "batched": []}

    def seconds_of(backend: str) -> Callable[[], float]:
        def run() -> float:
            with tempfile.TemporaryDirectory() as folder:
                seconds, values = timed(backend, Path(folder))
            losses[backend].append(values)
            return seconds

        return run

    local, batched = alternating_rounds(seconds_of("local"), seconds_of("batched"), args.rounds)
    gaps = [
        max(abs(sequential[k] - v) for k, v in together.items())
        for sequential, together in zip(losses["local"], losses["batched"], strict=True)
    ]
    ratio, low, high = paired_ratio(local, batched)
    print(f"local   median {statistics.median(local):.2f} s")
    print(f"batched median {statistics.median(batched):.2f} s")
    print(f"local / batched {ratio:.2f}x (95% CI {low:.2f} to {high:.2f}), {args.rounds} paired rounds")
    print(f"largest val_loss difference between the backends: {max(gaps):.2e}")


if __name__ == "__main__":
    main()
