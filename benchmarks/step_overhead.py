"""The optimizer shell's own cost per step: optimlab's fused path against torch's fused=True, tiny tensors.

With 24 tensors of 16 floats the kernels do almost nothing, so a step's time is the shell around them:
Python, hyperparameter handling, checks. Both sides run torch's same fused kernel (SGD, Nesterov,
AdaGrad, Adam), so this is what separates them on a large model's step too (docs/benchmarks.md,
"Optimizer step"). The two alternate in blocks of steps; medians of per-step times.

Optimizers torch does not have (Adan, Schedule-Free) run their default path (eager below a million
parameters) against torch's fused Adam as a yardstick: not a race, but a ratio from which the load of
a shared machine cancels, so that runs before and after a change of the shell compare.

Run: python benchmarks/step_overhead.py [--steps 3000] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from paired import paired_ratio

from optimlab.optim import create

TORCH = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=1e-3, fused=True),
    "nesterov": lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, nesterov=True, fused=True),
    "adagrad": lambda ps: torch.optim.Adagrad(ps, lr=1e-2, fused=True),
    "adam": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
}
WITHOUT_TWIN = ("adan", "schedule_free_sgd", "schedule_free_adamw")


def ours_default(name: str, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    optimizer = create(name, params)
    optimizer.train()  # schedule-free steps in train mode; a no-op for the others
    return optimizer


def stepper(make: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]) -> Callable[[], float]:
    params = [torch.nn.Parameter(torch.randn(16)) for _ in range(24)]
    for p in params:
        p.grad = torch.randn(16)
    optimizer = make(params)
    for _ in range(50):  # warm-up: state allocation, first calls
        optimizer.step()

    def step() -> float:
        started = time.perf_counter()
        optimizer.step()
        return time.perf_counter() - started

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"24 tensors of 16 floats, {args.steps} steps each, {args.threads} threads; medians, us a step")
    print(f"{'optimizer':<20}{'optimlab':>10}{'torch':>8}  torch / optimlab, per block [95%]")
    rows = [(name, lambda ps, name=name: create(name, ps, fused=True), make) for name, make in TORCH.items()]
    rows += [(name, lambda ps, name=name: ours_default(name, ps), TORCH["adam"]) for name in WITHOUT_TWIN]
    for name, make_ours, make in rows:
        if name == WITHOUT_TWIN[0]:
            print("against torch's fused Adam as a yardstick:")
        ours, theirs = stepper(make_ours), stepper(make)
        blocks: dict[str, list[float]] = {"ours": [], "theirs": []}
        for _ in range(args.steps // 100):  # alternate in blocks of 100 steps
            blocks["ours"].append(statistics.median(ours() for _ in range(100)))
            blocks["theirs"].append(statistics.median(theirs() for _ in range(100)))
        ratio, low, high = paired_ratio(blocks["theirs"], blocks["ours"])
        print(
            f"{name:<20}{1e6 * statistics.median(blocks['ours']):>10.1f}"
            f"{1e6 * statistics.median(blocks['theirs']):>8.1f}  {ratio:.2f} [{low:.2f}, {high:.2f}]"
        )


if __name__ == "__main__":
    main()
