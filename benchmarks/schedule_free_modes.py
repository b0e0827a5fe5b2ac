"""What schedule-free's exact eval()/train() round trip costs against the authors' lossy one.

Defazio et al. 2024 (arXiv:2405.15682): the parameters hold y to train and x to evaluate. The authors'
``schedulefree`` moves them y -> x -> y by two lerps, y again only up to rounding; optimlab's eval()
keeps a copy of y and train() checks the parameters still hold the x it left (one pass and one
temporary per tensor) and copies y back. Timed here, side by side round after round, on the same
parameters after the same steps: ``schedulefree.AdamWScheduleFree`` and optimlab's ``schedule_free_adamw``
(the drop-in shell), eval() then train(). Each also reports how far its y moved over the rounds.

    OMP_NUM_THREADS=1 python benchmarks/schedule_free_modes.py --rounds 21
"""

from __future__ import annotations

import argparse
import statistics
import time

import schedulefree
import torch
from paired import paired_ratio

from optimlab.optim import create


def _trained(make: object, tensors: int, side: int) -> tuple[list[torch.nn.Parameter], object]:
    """``tensors`` parameters of ``side`` x ``side`` float32 after 3 steps, at y (train mode)."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(side, side, generator=generator)) for _ in range(tensors)]
    optimizer = make(params)
    optimizer.train()
    for _ in range(3):
        for p in params:
            p.grad = torch.randn(side, side, generator=generator)
        optimizer.step()
    return params, optimizer


def _round_trip(optimizer: object) -> float:
    start = time.perf_counter()
    optimizer.eval()
    optimizer.train()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--tensors", type=int, default=24)
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()
    print(
        "| parameters (MB) | schedulefree (ms) | optimlab (ms) | ratio [95% CI] | y moved: schedulefree | optimlab |"
    )
    print("| ---: | ---: | ---: | --- | ---: | ---: |")
    for side in args.sides:
        theirs, their_optimizer = _trained(
            lambda p: schedulefree.AdamWScheduleFree(p, lr=1e-2), args.tensors, side
        )
        ours, our_optimizer = _trained(
            lambda p: create("schedule_free_adamw", p, lr=1e-2), args.tensors, side
        )
        their_y, our_y = [p.detach().clone() for p in theirs], [p.detach().clone() for p in ours]
        their_times, our_times = [], []
        for _ in range(args.rounds):
            their_times.append(_round_trip(their_optimizer))
            our_times.append(_round_trip(our_optimizer))
        ratio, low, high = paired_ratio(our_times, their_times)
        moved = [
            max((p - y).abs().max().item() for p, y in zip(ps, ys))
            for ps, ys in ((theirs, their_y), (ours, our_y))
        ]
        megabytes = args.tensors * side * side * 4 / 1e6
        print(
            f"| {megabytes:.1f} | {1e3 * statistics.median(their_times):.2f} | {1e3 * statistics.median(our_times):.2f} "
            f"| {ratio:.2f} [{low:.2f}, {high:.2f}] | {moved[0]:.1e} | {moved[1]:.1e} |"
        )


if __name__ == "__main__":
    main()
