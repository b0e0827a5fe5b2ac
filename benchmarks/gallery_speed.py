"""The gallery's experiments as shipped against each of two earlier ways, paired round by round: their tuned
studies in a journal file in a temporary folder (run_tuned before 92f2d5f5, now in memory), and every run
loading its data anew (before the experiments ran inside ``data_built_once``).

Claims (docs/benchmarks.md, "The gallery's studies in memory, its data loaded once"): the journal's fsync on
every write and its reads of the file cost the tiny gallery's tuned experiments a large share of their time,
for studies nothing resumes; and so did loading the same data set for every run.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/gallery_speed.py --rounds 9

Each round runs every experiment each way (the order rotating: the rounds a multiple of the three ways,
so each way comes first, second and third equally often), in this process, as the gallery does
(``publish._outcome``, one torch thread); the seeds are the gallery's, so every way trains the same runs
(their numbers are checked equal first). The table: per experiment and way, the median seconds, the
journal's fsyncs, and the median of the per-round ratios to the shipped way with its 95% interval.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Iterator

from paired import paired_ratio

import optimlab.gallery.publish
import optimlab.gallery.tuned
from optimlab.gallery import get_experiment
from optimlab.study import run_study

EXPERIMENTS = ["adam_logistic", "input_scale", "tuning_protocol"]  # 3-7 s each at size tiny
WAYS = ("shipped", "journal", "data per run")
_fsyncs = 0
_fsync = os.fsync


def _counted_fsync(fd: int) -> None:
    global _fsyncs
    _fsyncs += 1
    _fsync(fd)


def _in_journal(spec, location, **options):
    """run_study as run_tuned called it before: a journal in a temporary folder, for the study's life."""
    assert location is None
    with tempfile.TemporaryDirectory(prefix="optimlab-gallery-") as folder:
        return run_study(spec, folder, **options)


@contextlib.contextmanager
def way(name: str) -> Iterator[None]:
    """The gallery as shipped, or with one earlier way put back for the block."""
    tuned, publish = optimlab.gallery.tuned, optimlab.gallery.publish
    shipped = tuned.run_study, publish.data_built_once
    if name == "journal":
        tuned.run_study = _in_journal
    elif name == "data per run":
        publish.data_built_once = contextlib.nullcontext
    try:
        yield
    finally:
        tuned.run_study, publish.data_built_once = shipped


def timed(experiment: str, how: str) -> tuple[float, int, dict]:
    """Seconds of ``experiment`` at size tiny run ``how``, the fsyncs it made, and its numbers."""
    global _fsyncs
    _fsyncs = 0
    with way(how):
        started = time.perf_counter()
        outcome = optimlab.gallery.publish._outcome(get_experiment(experiment), "tiny")
        return time.perf_counter() - started, _fsyncs, outcome.evidence.numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="a multiple of 3, the ways' rotation")
    parser.add_argument("--experiments", nargs="+", default=EXPERIMENTS)
    args = parser.parse_args()
    if args.rounds < len(WAYS) or args.rounds % len(WAYS):
        parser.error(
            f"--rounds {args.rounds}: accepted a multiple of {len(WAYS)} (each way first equally often)"
        )
    os.fsync = _counted_fsync
    for name in args.experiments:  # warm-up: imports, the numbers compared
        numbers = {repr(timed(name, how)[2]) for how in WAYS}
        assert len(numbers) == 1, f"{name}: the numbers differ between the ways"
    seconds = {(name, how): [] for name in args.experiments for how in WAYS}
    fsyncs = {}
    for i in range(args.rounds):
        for name in args.experiments:
            for how in WAYS[i % len(WAYS) :] + WAYS[: i % len(WAYS)]:
                took, fsyncs[name, how], _ = timed(name, how)
                seconds[name, how].append(took)
    for how in WAYS:
        seconds["all of them", how] = [
            sum(seconds[n, how][i] for n in args.experiments) for i in range(args.rounds)
        ]
        fsyncs["all of them", how] = sum(fsyncs[n, how] for n in args.experiments)
    print(f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    print("| experiment (tiny) | way | median s | fsyncs | / shipped [95%] |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in [*args.experiments, "all of them"]:
        for how in WAYS:
            ratio, low, high = paired_ratio(seconds[name, how], seconds[name, "shipped"])
            print(
                f"| {name} | {how} | {statistics.median(seconds[name, how]):.2f} | {fsyncs[name, how]} "
                f"| {ratio:.2f} [{low:.2f}, {high:.2f}] |"
            )


if __name__ == "__main__":
    main()
