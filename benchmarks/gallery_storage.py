"""The gallery's tuned experiments with their studies in memory (as run_tuned keeps them) against a journal file
in a temporary folder (as it kept them before), paired round by round.

Claim (docs/benchmarks.md, "Gallery studies in memory"): the journal's fsync on every write and its reads of
the file cost the tiny gallery's tuned experiments a large share of their time, for studies nothing resumes.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/gallery_storage.py --rounds 5

Each round runs every experiment both ways (the order alternating), in this process; the seeds are the
gallery's, so both ways train the same runs (their numbers are checked equal). The table: the median seconds
of each way, the journal's fsyncs per run, and the median of the per-round ratios with its 95% interval.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from paired import paired_ratio

import optimlab.gallery.tuned
from optimlab.gallery import get_experiment
from optimlab.study import run_study

TUNED = ["adam_logistic", "input_scale", "tuning_protocol"]  # 3-7 s each at size tiny, both ways
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


def timed(name: str, journal: bool) -> tuple[float, int, dict]:
    """Seconds of experiment ``name`` at size tiny, the fsyncs it made, and its numbers."""
    global _fsyncs
    optimlab.gallery.tuned.run_study = _in_journal if journal else run_study
    _fsyncs = 0
    started = time.perf_counter()
    outcome = get_experiment(name)("tiny")
    return time.perf_counter() - started, _fsyncs, outcome.evidence.numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--experiments", nargs="+", default=TUNED)
    args = parser.parse_args()
    os.fsync = _counted_fsync
    for name in args.experiments:  # warm-up: imports, data sets read once, the numbers compared
        _, _, in_memory = timed(name, journal=False)
        _, _, in_journal = timed(name, journal=True)
        assert repr(in_memory) == repr(in_journal), f"{name}: the numbers differ between the storages"
    memory = {name: [] for name in args.experiments}
    journal = {name: [] for name in args.experiments}
    fsyncs = {}
    for i in range(args.rounds):
        for name in args.experiments:
            for in_journal in (i % 2 == 0, i % 2 == 1):
                seconds, count, _ = timed(name, journal=in_journal)
                (journal if in_journal else memory)[name].append(seconds)
                if in_journal:
                    fsyncs[name] = count
    total_memory = [sum(memory[n][i] for n in args.experiments) for i in range(args.rounds)]
    total_journal = [sum(journal[n][i] for n in args.experiments) for i in range(args.rounds)]
    print(f"{args.rounds} rounds, load average {os.getloadavg()[0]:.1f}")
    print(
        "| experiment (tiny) | in memory, median s | journal, median s | journal fsyncs | memory / journal [95%] |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [(n, memory[n], journal[n], fsyncs[n]) for n in args.experiments]
    rows.append(("all of them", total_memory, total_journal, sum(fsyncs.values())))
    for name, in_memory, in_journal, count in rows:
        ratio, low, high = paired_ratio(in_memory, in_journal)
        print(
            f"| {name} | {statistics.median(in_memory):.2f} | {statistics.median(in_journal):.2f} | {count} "
            f"| {ratio:.2f} [{low:.2f}, {high:.2f}] |"
        )


if __name__ == "__main__":
    main()
