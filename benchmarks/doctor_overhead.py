"""What the doctor costs: per-step overhead of its instruments, and a whole `optimlab doctor` run.

Claims (issue 4):
1. With the every-step instruments on (loss, per-layer gradient norms, NaN/Inf check), a training step
   of an MLP on digits costs at most 1.10x the plain step. Three copies of the model train in lockstep,
   step by step on the same batches: plain, with the every-step instruments only, and with the default
   schedule (the costlier instruments on the first 3 steps and every 20th). Interleaving single steps
   makes load from other processes on this shared machine hit the three alike. Each step is timed
   (forward, backward, optimizer step, loss read, instruments); printed are the median step (the
   every-step claim) and the mean step (which spreads the detailed steps' cost over the run).
   MLP 64-128-128-10, torch.optim.Adam lr 1e-3, digits (1,078 training rows), batch 32, 1 torch thread.
2. `optimlab doctor` on the built-in example (the default recipe: MLP on digits with Adam) finishes in
   under 60 s, LR range test included, and the lr it suggests trains to within 1% of the best
   validation accuracy of a 10-point lr grid (1e-4 .. 1e-1, geometric), each trained with the recipe.

Run: python benchmarks/doctor_overhead.py [--epochs 200] [--threads 1] [--skip-grid]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
from sklearn.datasets import load_digits
from torch import nn

from optimlab.doctor import Instruments, InstrumentSchedule
from optimlab.train.loop import epoch_permutation

BATCH = 32
EVERY_STEP_ONLY = InstrumentSchedule(first=0, every=10**9)  # never a detailed step
# The `optimlab doctor` verb in a fresh process, whether or not the installed app registers it yet.
DOCTOR_VERB = (
    "import sys, typer; from optimlab.cli.doctor_cmd import doctor; app = typer.Typer(); "
    "app.command()(doctor); app(sys.argv[1:])"
)


def data() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    return torch.tensor(x, dtype=torch.float32)[:1078] / 16, torch.tensor(y)[:1078]


def overhead(epochs: int) -> None:
    x, y = data()
    loss_fn = nn.CrossEntropyLoss()
    runs = {
        "plain step": None,
        "+ every-step instruments": EVERY_STEP_ONLY,
        "+ default schedule": InstrumentSchedule(),
    }
    trainers = {}
    for name, schedule in runs.items():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        instruments = Instruments(model, optimizer, schedule) if schedule is not None else None
        if instruments is not None:
            instruments.start(0)
        trainers[name] = (model, optimizer, instruments)
    times: dict[str, list[int]] = {name: [] for name in runs}
    per_epoch = -(-x.shape[0] // BATCH)
    step = 0
    for epoch in range(epochs):
        order = epoch_permutation(0, epoch, x.shape[0])
        for offset in range(per_epoch):
            rows = order[offset * BATCH : (offset + 1) * BATCH]
            xb, yb = x[rows], y[rows]
            step += 1
            for name, (model, optimizer, instruments) in trainers.items():
                started = time.perf_counter_ns()
                loss = loss_fn(model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                value = loss.item()
                if instruments is not None:
                    instruments.record_step(step, value, 1e-3)
                times[name].append(time.perf_counter_ns() - started)
    warm = per_epoch  # the first epoch warms the allocator and the kernels up
    base_median = statistics.median(times["plain step"][warm:])
    base_mean = statistics.fmean(times["plain step"][warm:])
    print(
        f"MLP 64-128-128-10, Adam, digits, batch {BATCH}, {step - warm} timed steps each, lockstep, "
        f"{torch.get_num_threads()} thread(s); torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'step':<28} {'median us':>10} {'ratio':>7} {'mean us':>9} {'ratio':>7}")
    for name, values in times.items():
        median, mean = statistics.median(values[warm:]), statistics.fmean(values[warm:])
        print(
            f"{name:<28} {median / 1e3:>10.1f} {median / base_median:>7.3f} {mean / 1e3:>9.1f} "
            f"{mean / base_mean:>7.3f}"
        )


def doctor_end_to_end(skip_grid: bool) -> None:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", DOCTOR_VERB, "--dataset", "digits", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout)
    suggestion = report["lr_range"]["suggestion"]
    print(
        f"\noptimlab doctor --dataset digits: {seconds:.1f} s (process start and imports included), "
        f"{report['steps']} steps + LR range test; suggested lr {suggestion:.3g}; "
        f"findings: {[f['rule'] for f in report['findings']] or 'none'}; load average {os.getloadavg()[0]:.2f}"
    )
    if skip_grid:
        return
    from optimlab.recipe import Recipe
    from optimlab.train import train

    recipe = Recipe()
    grid = [10 ** (-4 + 3 * i / 9) for i in range(10)]
    accuracy = {lr: train(recipe.with_updates({"optimizer.lr": lr})).metrics["val_accuracy"] for lr in grid}
    suggested = train(recipe.with_updates({"optimizer.lr": suggestion})).metrics["val_accuracy"]
    best_lr = max(accuracy, key=accuracy.__getitem__)
    print("lr grid (val accuracy): " + ", ".join(f"{lr:.2g}: {a:.4f}" for lr, a in accuracy.items()))
    print(
        f"suggested lr {suggestion:.3g}: {suggested:.4f}; best of grid {accuracy[best_lr]:.4f} at lr {best_lr:.2g}; "
        f"gap {accuracy[best_lr] - suggested:+.4f} (claim: <= 0.01)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200, help="Lockstep epochs of 34 steps (default 200).")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-grid", action="store_true", help="Skip the 10-point lr grid (about 20 s).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    overhead(args.epochs)
    doctor_end_to_end(args.skip_grid)


if __name__ == "__main__":
    main()
