"""optimlab's MaxPool1d against torch's, forward and backward, on the shapes its CNNs pool.

Claim (models/layers.py): where the windows tile the sequence, optimlab's MaxPool1d (a max over the
last dimension reshaped into windows) takes 0.6x the time of torch's ``nn.MaxPool1d``, forward and
backward, on the lr check's 17 stacked members, 0.85x on one model, for the same outputs and
gradients. Each round times a forward and backward of both
on the same input, in turn, so load from other processes hits both alike; printed is the median of
the per-round ratios with its 95% bootstrap interval (``paired.py``), and the medians in ms. Shapes:
the MNIST-1D CNN's two pools, as one model (batch 32) and as 17 stacked members (the lr check's).

Run: python benchmarks/max_pool.py [--rounds 30] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from paired import paired_ratio
from torch import nn

from optimlab.models.layers import MaxPool1d

SHAPES = {  # (rows, channels, length) at each pool of the MNIST-1D CNN (32 then 64 channels)
    "one model, first pool": (32, 32, 40),
    "one model, second pool": (32, 64, 20),
    "17 members, first pool": (17 * 32, 32, 40),
    "17 members, second pool": (17 * 32, 64, 20),
}


def forward_backward_ms(pool: nn.Module, x: torch.Tensor, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        pool(x).sum().backward()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds")
    print("| shape | torch ms | optimlab ms | optimlab / torch (95% CI) |")
    print("| --- | ---: | ---: | ---: |")
    for name, shape in SHAPES.items():
        x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).requires_grad_()
        ours, theirs = MaxPool1d(2), nn.MaxPool1d(2)
        assert torch.equal(ours(x), theirs(x))
        repeats = max(1, 2000 // shape[0])
        for pool in (ours, theirs):  # warm-up
            forward_backward_ms(pool, x, repeats)
        times: dict[str, list[float]] = {"ours": [], "theirs": []}
        for _ in range(args.rounds):
            times["theirs"].append(forward_backward_ms(theirs, x, repeats))
            times["ours"].append(forward_backward_ms(ours, x, repeats))
        ratio, low, high = paired_ratio(times["ours"], times["theirs"])
        print(
            f"| {name} {shape} | {statistics.median(times['theirs']):.3f} | "
            f"{statistics.median(times['ours']):.3f} | {ratio:.2f} ({low:.2f}-{high:.2f}) |"
        )


if __name__ == "__main__":
    main()
