"""A comparison's data loaded once per process (``data/built_once.py``) against loaded at every use, the
whole ``compare`` of one optimizer (planning, checks, one tuning trial, one seed rerun, the report).

Claim: compare built a workload's splits about 6 times before its first trial, and once more in each
trial; within ``data_built_once`` it builds them once a seed (the report's chance levels are read
before the trials, while the tuning seed's are held: one seed's splits are kept a workload). Each
round runs both in turn (load from other processes hits both alike); printed are the loads and the
sha256 digests of data (``optimlab.data.digest``: the cache's check of kept splits, a study's record)
of each, the median of the per-round ratios with its 95% bootstrap interval (``paired.py``) and the
medians in s. "Before" swaps build_data's cache for a plain call (``optimlab.build.built_once``).

Run: python benchmarks/compare_data_loads.py [--rounds 3] [--workloads digits_mlp,mnist1d_mlp]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import statistics
import tempfile
import time
from unittest import mock

import torch
from paired import paired_ratio

import optimlab.build
import optimlab.data
import optimlab.data.digest
from optimlab.study.compare import compare


def compare_seconds(workload: str, before: bool) -> tuple[float, int, int]:
    """Seconds of one small comparison on ``workload``, the loads and the data digests it made."""
    loads, load, digests = [], optimlab.data.load, []

    def counted(*args, **kwargs):
        loads.append(args)
        return load(*args, **kwargs)

    def counted_sha256() -> hashlib._Hash:
        digests.append(1)
        return hashlib.sha256()

    plain = (
        mock.patch.object(optimlab.build, "built_once", lambda slot, key, build: build())
        if before
        else contextlib.nullcontext()
    )
    digest = mock.patch.object(optimlab.data.digest, "hashlib", mock.Mock(sha256=counted_sha256))
    with (
        tempfile.TemporaryDirectory() as out,
        mock.patch.object(optimlab.data, "load", counted),
        plain,
        digest,
    ):
        start = time.perf_counter()
        compare(["adam"], workloads=[workload], budget=1, seeds=1, epochs=1, out=out)
        return time.perf_counter() - start, len(loads), len(digests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default="digits_mlp,mnist1d_mlp")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, {args.rounds} rounds")
    print(
        "| workload | loads before | loads now | digests before | digests now | before s | now s | now / before (95% CI) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload in args.workloads.split(","):
        compare_seconds(workload, before=False)  # warm-up: imports, the data's disk cache
        times: dict[bool, list[float]] = {True: [], False: []}
        loads, digests = {}, {}
        for _ in range(args.rounds):
            for before in (True, False):
                seconds, loads[before], digests[before] = compare_seconds(workload, before)
                times[before].append(seconds)
        ratio, low, high = paired_ratio(times[False], times[True])
        print(
            f"| {workload} | {loads[True]} | {loads[False]} | {digests[True]} | {digests[False]} "
            f"| {statistics.median(times[True]):.2f} | {statistics.median(times[False]):.2f} "
            f"| {ratio:.2f} ({low:.2f}-{high:.2f}) |"
        )


if __name__ == "__main__":
    main()
