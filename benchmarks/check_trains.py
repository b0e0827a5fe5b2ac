"""What ``check_trains`` adds to a comparison or a benchmark: one build and one training step of each
study's first recipe before any trial (study/compare.py).

Claim: tens of milliseconds a study on the built-in workloads, once the first study has paid for the
imports that its trials need anyway. Printed per workload: the first call (imports included) and the
median of the following rounds, in ms.

Run: python benchmarks/check_trains.py [--rounds 7] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from optimlab.study.compare import check_trains, plan_comparison

WORKLOADS = ("digits_mlp", "two_spirals_mlp", "teacher_student", "mnist1d_mlp", "mnist1d_cnn", "python_lm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'workload':<18} {'first ms':>9} {'median ms':>10}")
    for name in WORKLOADS:
        (spec,) = plan_comparison(["adam", "sgd"], workloads=[name])
        times = []
        for _ in range(args.rounds + 1):
            start = time.perf_counter()
            check_trains(spec)
            times.append((time.perf_counter() - start) * 1e3)
        print(f"{name:<18} {times[0]:>9.1f} {statistics.median(times[1:]):>10.1f}")


if __name__ == "__main__":
    main()
