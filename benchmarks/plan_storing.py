"""Seconds to store a plan of waiting trials (``storage.store_waiting``, what a comparison does before its
first trial) in a SQLite database, where Optuna's ``enqueue_trial`` commits each trial in a transaction of
its own, against a journal file, where the plan goes in appends of 500 records; paired rounds in one
process (``paired.alternating_rounds``), each on a fresh storage in a temporary folder.

Claim: the plan costs SQLite a commit (a wait on the disk) a trial; the journal an append of hundreds.

    cd benchmarks && OMP_NUM_THREADS=1 python plan_storing.py --trials 200 --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import optuna
from paired import alternating_rounds, at_least_one, paired_ratio, round_count

from optimlab.study.storage import open_storage, store_waiting


def storing(trials: int, sqlite: bool) -> Callable[[], float]:
    """A timer of storing a plan of ``trials`` lr values of one study, in SQLite or a journal."""

    def seconds() -> float:
        with tempfile.TemporaryDirectory() as folder:
            storage = open_storage(f"sqlite:///{folder}/study.db" if sqlite else folder)
            study = optuna.create_study(study_name="plan", storage=storage)
            planned = [(study, {"optimizer.lr": 10 ** (-i / trials)}, {"key": i}) for i in range(trials)]
            started = time.perf_counter()
            store_waiting(storage, planned)
            return time.perf_counter() - started

    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=at_least_one("trials"), default=200)
    parser.add_argument("--rounds", type=round_count, default=7)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sqlite, journal = alternating_rounds(storing(args.trials, True), storing(args.trials, False), args.rounds)
    ratio, low, high = paired_ratio(sqlite, journal)
    print("| trials | SQLite s (median) | ms a trial | journal s (median) | SQLite / journal (95% CI) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {args.trials} | {statistics.median(sqlite):.2f} | {statistics.median(sqlite) / args.trials * 1e3:.1f} "
        f"| {statistics.median(journal):.3f} | {ratio:.0f} ({low:.0f}-{high:.0f}) |"
    )


if __name__ == "__main__":
    main()
