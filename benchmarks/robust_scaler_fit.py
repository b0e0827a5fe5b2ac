"""The robust scaler's fit (median and percentiles of each feature) by partial selection, against the
full sort it replaced, on the same data, with the same statistics bit for bit.

Claim (techniques/scaling.py, ``_order_statistics``): numpy's introselect places only the six ranks the
two percentiles and the median read, where the sort ordered every row: 2^24 rows took 3.5 s to sort.
Each round fits both on the same data, in turn (load from other processes hits both alike); printed is
the median of the per-round ratios with its 95% bootstrap interval (``paired.py``), and the medians in s.
"Before" is the old code's own operation: ``x.sort(dim=0).values.gather(0, ranks)``.

Run: python benchmarks/robust_scaler_fit.py [--rounds 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch
from paired import paired_ratio

from optimlab.techniques import scaling

SHAPES = {  # rows x features, and every how many rows a value is missing (NaN), 0 for none
    "2^24 x 1, 0.1% NaN": ((2**24, 1), 1000),
    "2^22 x 4": ((2**22, 4), 0),
    "60000 x 784 (MNIST's size)": ((60000, 784), 0),
}


def sorted_order_statistics(x: torch.Tensor, ranks: torch.Tensor) -> torch.Tensor:
    return x.sort(dim=0).values.gather(0, ranks)


def fit_seconds(x: torch.Tensor, before: bool) -> tuple[float, scaling.Scaler]:
    chosen = sorted_order_statistics if before else scaling._order_statistics
    with mock.patch.object(scaling, "_order_statistics", chosen):
        start = time.perf_counter()
        fitted = scaling.create("robust").fit(x)
        return time.perf_counter() - start, fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds")
    print("| data | sort s | partial selection s | selection / sort (95% CI) |")
    print("| --- | ---: | ---: | ---: |")
    for name, (shape, every) in SHAPES.items():
        x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        if every:
            x[::every] = torch.nan
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.rounds):
            fitted = {}
            for before in (True, False):
                seconds, fitted[before] = fit_seconds(x, before)
                times[before].append(seconds)
            for buffer in ("shift", "scale"):  # the same statistics, bit for bit
                assert torch.equal(getattr(fitted[True], buffer), getattr(fitted[False], buffer)), name
        ratio, low, high = paired_ratio(times[False], times[True])
        print(
            f"| {name} | {statistics.median(times[True]):.3f} | {statistics.median(times[False]):.3f} "
            f"| {ratio:.2f} ({low:.2f}-{high:.2f}) |"
        )


if __name__ == "__main__":
    main()
