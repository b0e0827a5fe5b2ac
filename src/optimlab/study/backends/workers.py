"""Worker processes on this machine, sharing the study's storage (the journal file, or an RDB).

Processes are *spawned* (a fresh interpreter each), not forked: a forked child inherits the parent's
torch thread pools and locks in whatever state they were, and may hang. Each runs
:func:`optimlab.study.worker.work` with one torch thread.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence

from optimlab.study.protocols import Method, StudySpec
from optimlab.study.worker import work

__all__ = ["run_in_processes"]

POLL_SECONDS = 0.5


def run_in_processes(location: str, targets: Sequence[tuple[StudySpec, Method]], *, processes: int,
                     poll: Callable[[], None]) -> None:
    """Run the waiting trials of ``targets`` in ``processes`` worker processes; return when all exit.

    ``poll`` runs every half second meanwhile (progress, and reclaiming the trials of a dead worker).
    """
    context = multiprocessing.get_context("spawn")
    names = sorted({spec.name for spec, _ in targets})
    methods = sorted({method.name for _, method in targets})
    workers = [
        context.Process(target=work, args=(location,), kwargs={"name": names[0] if len(names) == 1 else None,
                                                               "methods": methods}, daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        while any(worker.is_alive() for worker in workers):  # is_alive also reaps a dead worker
            time.sleep(POLL_SECONDS)
            poll()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
