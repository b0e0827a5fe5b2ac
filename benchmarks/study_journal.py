"""What one study journal (a compare or bench output folder's ``study.journal``) holds and runs, by the
trials its studies plan: the time to store the plan (each planned trial appended and fsynced before the first
one runs, ``run._enqueue_missing`` of a random search's plan) and the local backend's bookkeeping around one
trial whose training costs nothing (counting its study's trials, taking the next waiting one, finishing it,
reclaiming stale ones, reading the records back), with that many trials in the journal; and of it, taking
the next waiting trial (``storage.pop_waiting``) alone.

Claim: the bookkeeping grows with the trials the journal holds (each step reads all of them), which
bounds the trials one journal may plan (``study.protocols.TRIALS_PLANNED``).

    cd benchmarks && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python study_journal.py --trials 1000 4000 10000
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time

import optuna

from optimlab.recipe import Recipe
from optimlab.study.protocols import TUNE, StudySpec, methods_from
from optimlab.study.run import _enqueue_missing, open_studies
from optimlab.study.storage import load_records, pop_waiting, reclaim_stale
from optimlab.study.trial import counted_trials


def measure(trials: int, steps: int) -> tuple[float, float, float, float]:
    """Seconds to store a random plan of ``trials``, then seconds of bookkeeping per trial, and of taking
    the next waiting trial in it, wall and CPU (its fsyncs wait on the disk: the CPU time is what grows
    with the trials; medians of ``steps``)."""
    sgd = methods_from("optimizer.name", ["sgd"])
    # stored=True: planned past the bounds, as a study stored before them loads, to measure them
    spec = StudySpec("s", Recipe(), sgd, protocol="random", budget=trials, seeds=1, stored=True)
    with tempfile.TemporaryDirectory() as folder:
        storage = open_studies(spec, folder)
        started = time.perf_counter()
        _enqueue_missing(storage, spec, TUNE, collections.Counter())
        stored = time.perf_counter() - started
        name = spec.study_name(spec.methods[0])
        study = optuna.load_study(study_name=name, storage=storage)
        study_id = storage.get_study_id_from_name(name)
        each, taking, taking_cpu = [], [], []
        for _ in range(steps):
            started = time.perf_counter()
            counted_trials(storage, study_id)
            took, took_cpu = time.perf_counter(), time.process_time()
            _, trial_id = pop_waiting(study, storage)
            taking.append(time.perf_counter() - took)
            taking_cpu.append(time.process_time() - took_cpu)
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [0.5])
            reclaim_stale(storage, name)
            load_records(storage, [name])
            each.append(time.perf_counter() - started)
    return stored, *(sorted(times)[steps // 2] for times in (each, taking, taking_cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 4000, 10000])
    parser.add_argument("--steps", type=int, default=9, help="trials run at each size (the median is shown)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(
        "| trials planned | storing the plan s | ms a trial stored | bookkeeping ms a trial "
        "| of it, taking ms | taking CPU ms |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for trials in args.trials:
        stored, each, taking, taking_cpu = measure(trials, args.steps)
        print(
            f"| {trials} | {stored:.1f} | {stored / trials * 1e3:.2f} | {each * 1e3:.0f} | {taking * 1e3:.1f} "
            f"| {taking_cpu * 1e3:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
