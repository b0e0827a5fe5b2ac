"""What the doctor costs: per-step overhead of its instruments, and a whole `optimlab doctor` run.

Claims (issue 4):
1. With the every-step instruments on (loss, per-layer gradient norms, NaN/Inf check), a training step
   of an MLP on digits costs at most 1.10x the plain step. Measured here side by side: fit() alone, fit()
   with the every-step instruments only, and fit() with the default schedule (costlier instruments on
   the first 3 steps and every 20th). MLP 64-128-128-10, Adam, digits (1,078 training rows, batch 32,
   340 steps = 10 epochs); the three runs alternate after a warm-up; medians and ratios are printed.
2. `optimlab doctor` on the built-in example (the default recipe: MLP on digits with Adam) finishes in
   under 60 s, LR range test included, and the lr it suggests trains to within 1% of the best
   validation accuracy of a 10-point lr grid (1e-4 .. 1e-1, geometric), each trained with the recipe.

Run: python benchmarks/doctor_overhead.py [--repeats 15] [--threads 1] [--skip-grid]
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

from optimlab.doctor import DoctorCallback, InstrumentSchedule
from optimlab.train import fit

BATCH, EPOCHS = 32, 10
EVERY_STEP_ONLY = InstrumentSchedule(first=0, every=10**9)  # never a detailed step
# The `optimlab doctor` verb in a fresh process, whether or not the installed app registers it yet.
DOCTOR_VERB = ("import sys, typer; from optimlab.cli.doctor_cmd import doctor; app = typer.Typer(); "
               "app.command()(doctor); app(sys.argv[1:])")


def data() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits(return_X_y=True)
    return torch.tensor(x, dtype=torch.float32)[:1078] / 16, torch.tensor(y)[:1078]


def timed_fit(x: torch.Tensor, y: torch.Tensor, steps: int, schedule: InstrumentSchedule | None,
              instrumented: bool) -> float:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    callbacks = [DoctorCallback(model, optimizer, schedule=schedule)] if instrumented else []
    started = time.perf_counter()
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=steps, batch_size=BATCH,
        callbacks=callbacks)
    return time.perf_counter() - started


def overhead(repeats: int) -> None:
    x, y = data()
    steps = EPOCHS * -(-x.shape[0] // BATCH)
    variants = {"fit (plain)": (None, False), "fit + every-step instruments": (EVERY_STEP_ONLY, True),
                "fit + default schedule": (None, True)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(2):  # warm-up: allocator, kernels, lazy imports
        for schedule, instrumented in variants.values():
            timed_fit(x, y, steps, schedule, instrumented)
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits all alike
        for name, (schedule, instrumented) in variants.items():
            times[name].append(timed_fit(x, y, steps, schedule, instrumented))
    base = statistics.median(times["fit (plain)"])
    print(f"MLP 64-128-128-10, Adam, digits, batch {BATCH}, {steps} steps, {torch.get_num_threads()} thread(s), "
          f"{repeats} repeats; torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'run':<30} {'median s':>9} {'us/step':>8} {'ratio':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<30} {median:>9.4f} {1e6 * median / steps:>8.1f} {median / base:>7.3f}")


def doctor_end_to_end(skip_grid: bool) -> None:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", DOCTOR_VERB, "--dataset", "digits", "--format", "json"],
                          capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout)
    suggestion = report["lr_range"]["suggestion"]
    print(f"\noptimlab doctor --dataset digits: {seconds:.1f} s (process start and imports included), "
          f"{report['steps']} steps + LR range test; suggested lr {suggestion:.3g}; "
          f"findings: {[f['rule'] for f in report['findings']] or 'none'}; load average {os.getloadavg()[0]:.2f}")
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
    print(f"suggested lr {suggestion:.3g}: {suggested:.4f}; best of grid {accuracy[best_lr]:.4f} at lr {best_lr:.2g}; "
          f"gap {accuracy[best_lr] - suggested:+.4f} (claim: <= 0.01)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-grid", action="store_true", help="Skip the 10-point lr grid (about 20 s).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    overhead(args.repeats)
    doctor_end_to_end(args.skip_grid)


if __name__ == "__main__":
    main()
