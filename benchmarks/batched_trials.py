"""64 learning-rate trials, one at a time in a plain Optuna loop against batched as one vectorized model.

Claim (issue 5): batched execution runs 64 lr trials x 300 steps of an MLP 64-128-128-10 on digits at
least 5x faster than the same 64 trials as a plain sequential Optuna loop. Every row runs the same
trials: Adam, a log grid of 64 learning rates from 1e-4 to 1e-1, batch 32, 300 steps, the validation
split evaluated every epoch (34 steps) and at the end, each trial recorded in an Optuna study:

- ``plain loop``: what a user writes without optimlab: ``study.optimize`` over an objective with a
  hand-written PyTorch loop (in-memory tensors indexed by a permutation, torch.optim.Adam), in-memory
  Optuna storage. The speed-ups are ratios to this row, the fastest sequential one;
- ``plain DataLoader``: the same with the batches from a ``DataLoader`` over a ``TensorDataset``, as
  PyTorch's tutorials write it (``--no-dataloader`` leaves it out);
- ``optimlab local``: ``run_study(backend="local")``, one trial at a time, journal file storage;
- ``optimlab batched``: ``run_study(backend="batched", options=BackendOptions(members=64))``: the 64
  trials as one model.

Each measurement is a fresh process that runs its row once to warm up (imports, first kernels) and
once timed, so that no row inherits another's state (allocator settings, caches); the rows alternate
round after round. Every row gets the same torch threads (default: every core). The script prints
each row's median and minimum, their ratios to the plain loop's, the largest difference between the
batched and the local trials' validation accuracy, and ``uptime`` (the machine is shared).

Run: python benchmarks/batched_trials.py [--repeats 5] [--threads N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import optuna
import torch
from paired import paired_ratio
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from optimlab.build import build_data
from optimlab.recipe import Recipe
from optimlab.study import Dimension, SearchSpace, StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.train.loop import epoch_permutation

TRIALS, STEPS, BATCH = 64, 300, 32
LRS = [10 ** (-4 + 3 * i / (TRIALS - 1)) for i in range(TRIALS)]


def recipe(device: str) -> Recipe:
    return Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 128, "depth": 2},
            "optimizer": {"name": "adam"},
            "training": {"steps": STEPS, "batch_size": BATCH, "device": device},
        }
    )


def plain_loop(device: str, *, dataloader: bool = False) -> Callable[[], float]:
    """A hand-written PyTorch loop in an Optuna objective, over the same split (standardized inputs);
    batches from a permutation of in-memory tensors, or from a ``DataLoader``."""
    splits = build_data(recipe(device))
    x, y = splits.train.x.to(device), splits.train.y.to(device)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)
    x, val_x, val_y = (x - mean) / std, (splits.val.x.to(device) - mean) / std, splits.val.y.to(device)
    per_epoch = math.ceil(x.shape[0] / BATCH)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if dataloader:
            loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
            while True:
                yield from loader
        for epoch in itertools.count():
            order = epoch_permutation(0, epoch, x.shape[0], device)
            for offset in range(per_epoch):
                rows = order[offset * BATCH : (offset + 1) * BATCH]
                yield x[rows], y[rows]

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        ).to(device)
        optimizer, loss_fn = torch.optim.Adam(model.parameters(), lr=lr), nn.CrossEntropyLoss()
        accuracy = 0.0
        for step, (xb, yb) in zip(range(STEPS), batches()):
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if (step + 1) % per_epoch == 0 or step + 1 == STEPS:
                with torch.no_grad():
                    accuracy = (model(val_x).argmax(1) == val_y).float().mean().item()
                trial.report(accuracy, step + 1)
        return accuracy

    def run() -> float:
        study = optuna.create_study(direction="maximize")
        for lr in LRS:
            study.enqueue_trial({"lr": lr})
        started = time.perf_counter()
        study.optimize(objective, n_trials=TRIALS)
        return time.perf_counter() - started

    return run


def optimlab_run(device: str, backend: str, results: dict[str, list[float]]) -> Callable[[], float]:
    """``run_study`` over the same 64 trials; each trial's value lands in ``results[backend]``."""
    space = SearchSpace((Dimension("optimizer.lr", choices=tuple(LRS)),))  # the same 64 values, in order
    spec = StudySpec(
        name="bench",
        recipe=recipe(device),
        methods=methods_from("optimizer.name", ["adam"]),
        space=space,
        budget=TRIALS,
        seeds=0,
    )

    def run() -> float:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = run_study(spec, folder, backend=backend, options=BackendOptions(members=TRIALS))
            elapsed = time.perf_counter() - started
        assert len(result.records) == TRIALS and all(r.steps == STEPS for r in result.records)
        results[backend] = [r.value for r in result.records]
        return elapsed

    return run


ROWS = ("plain loop", "plain DataLoader", "optimlab local", "optimlab batched")


def run_row(name: str, device: str) -> dict[str, object]:
    """In this process: the row once to warm up, then once timed; its seconds and trial values."""
    values: dict[str, list[float]] = {}
    run = {
        "plain loop": lambda: plain_loop(device),
        "plain DataLoader": lambda: plain_loop(device, dataloader=True),
        "optimlab local": lambda: optimlab_run(device, "local", values),
        "optimlab batched": lambda: optimlab_run(device, "batched", values),
    }[name]()
    run()
    return {"seconds": run(), "values": next(iter(values.values()), [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-dataloader", action="store_true", help="leave out the DataLoader row")
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)  # one measurement, in a child
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.row:
        print(json.dumps(run_row(args.row, args.device)))
        return
    rows = [r for r in ROWS if not (args.no_dataloader and r == "plain DataLoader")]
    times: dict[str, list[float]] = {name: [] for name in rows}
    values: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name in rows:
            child = [sys.executable, __file__, "--row", name, "--threads", str(args.threads)]
            result = json.loads(
                subprocess.run([*child, "--device", args.device], check=True, capture_output=True, text=True)
                .stdout.strip().splitlines()[-1]
            )  # fmt: skip
            times[name].append(result["seconds"])
            values[name] = result["values"]
    base, fastest = statistics.median(times["plain loop"]), min(times["plain loop"])
    print(
        f"{TRIALS} Adam lr trials x {STEPS} steps, MLP 64-128-128-10 on digits, device {args.device}, "
        f"{args.threads} torch threads, {args.repeats} repeats"
    )
    # Speed-ups over the plain loop three ways: the ratio within each round (median, 95% interval),
    # which cancels the drift of a shared machine between rounds; of the medians; of the minimums
    # (the runs least disturbed by other processes).
    print(
        f"{'row':<18}{'median s':>9}{'min s':>7}  {'speed-up, paired [95%]':<24}{'of medians':>11}{'of mins':>9}"
    )
    for name, measured in times.items():
        median, least = statistics.median(measured), min(measured)
        paired, low, high = paired_ratio(times["plain loop"], measured)
        print(
            f"{name:<18}{median:>9.2f}{least:>7.2f}  {f'{paired:.1f}x [{low:.1f}, {high:.1f}]':<24}"
            f"{base / median:>10.1f}x{fastest / least:>8.1f}x   all s: {' '.join(f'{t:.2f}' for t in measured)}"
        )
    # Above lr 5e-3, Adam here is chaotic: a relative change of 1e-6 in lr moves the final accuracy by
    # 1e-2, and so do rounding differences between a batched and a plain matmul.
    stable = [i for i, lr in enumerate(LRS) if lr <= 5e-3]
    gap = max(abs(values["optimlab batched"][i] - values["optimlab local"][i]) for i in stable)
    print(
        f"largest |batched - local| validation accuracy over the {len(stable)} trials with lr <= 5e-3: "
        f"{gap:.2e}"
    )
    print(subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
