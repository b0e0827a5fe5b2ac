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
from pathlib import Path

import torch
from paired import paired_ratio

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
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    local, batched, gaps = [], [], []
    for round_ in range(args.rounds):
        times = {}
        for backend in ("local", "batched") if round_ % 2 == 0 else ("batched", "local"):
            with tempfile.TemporaryDirectory() as folder:
                times[backend] = timed(backend, Path(folder))
        local.append(times["local"][0])
        batched.append(times["batched"][0])
        gaps.append(max(abs(times["local"][1][k] - v) for k, v in times["batched"][1].items()))
    ratio, low, high = paired_ratio(local, batched)
    print(f"local   median {statistics.median(local):.2f} s")
    print(f"batched median {statistics.median(batched):.2f} s")
    print(f"local / batched {ratio:.2f}x (95% CI {low:.2f} to {high:.2f}), {args.rounds} paired rounds")
    print(f"largest val_loss difference between the backends: {max(gaps):.2e}")


if __name__ == "__main__":
    main()
