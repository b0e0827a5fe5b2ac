"""A norm layer's spread across examples, as the doctor's detailed steps read it, against torch's std.

Claim (doctor/instruments.py, ``_example_spread``): the std across a batch's examples at each place,
averaged, written out as the mean of squared deviations takes a fraction of the time of
``y.std(0, correction=0).mean()`` (4b3f16f8's form) on a norm layer's output, for the same number. Each
round times both on the same output, the one that goes first alternating (``paired.py``); printed are
the medians in ms and the median of the per-round ratios with its 95% bootstrap interval. Shapes: a
sequence model's LayerNorm at batch 32 (32, 64, 256) and a BERT-base's at batch 8 (8, 128, 768).

Run: OMP_NUM_THREADS=1 python benchmarks/example_spread.py [--rounds 15] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from paired import alternating_rounds, at_least_one, paired_ratio, round_count

from optimlab.doctor.instruments import _example_spread

SHAPES = {"sequence model, batch 32": (32, 64, 256), "BERT-base, batch 8": (8, 128, 768)}


def spread(y: torch.Tensor) -> float:
    """The instruments' reading of a batch-first output."""
    return _example_spread(y, y.shape[0])


def torch_std_spread(y: torch.Tensor) -> float:
    """4b3f16f8's form."""
    return y.std(0, correction=0).mean().item()


def seconds(spread: Callable[[torch.Tensor], float], y: torch.Tensor, repeats: int) -> Callable[[], float]:
    def timed() -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            spread(y)
        return (time.perf_counter() - start) / repeats

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=round_count, default=15)
    parser.add_argument("--repeats", type=at_least_one("repeats"), default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds")
    print("| output | std ms | written out ms | written out / std [95% CI] | difference |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, shape in SHAPES.items():
        y = torch.randn(shape, generator=torch.Generator().manual_seed(0)) * 3 + 1
        difference = abs(spread(y) - torch_std_spread(y))
        now, before = alternating_rounds(
            seconds(spread, y, args.repeats), seconds(torch_std_spread, y, args.repeats), args.rounds
        )
        ratio, low, high = paired_ratio(now, before)
        print(
            f"| {name} {shape} | {statistics.median(before) * 1e3:.2f} | {statistics.median(now) * 1e3:.2f} | "
            f"{ratio:.3f} [{low:.3f}, {high:.3f}] | {difference:.1e} |"
        )


if __name__ == "__main__":
    main()
