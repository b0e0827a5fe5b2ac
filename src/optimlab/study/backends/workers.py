"""Worker processes on this machine, sharing the study's storage (the journal file, or an RDB).

Each worker is a fresh interpreter running :func:`optimlab.study.worker.work` with one torch thread.
A subprocess rather than ``multiprocessing``: a forked child inherits torch's thread pools and locks
in whatever state they were (and may hang), and a spawned one re-imports the caller's main script,
which breaks any script without an ``if __name__ == "__main__"`` guard.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from optuna.storages import BaseStorage
from optuna.trial import TrialState

from optimlab.errors import OptimlabError
from optimlab.study.backends import POLL_SECONDS, BackendOptions, Targets
from optimlab.user_code import code_folders

__all__ = ["execute"]

_WORKER = (
    "import json, sys; from optimlab.study.worker import work; work(sys.argv[1], **json.loads(sys.argv[2]))"
)


def execute(
    storage: BaseStorage, location: str, targets: Targets, options: BackendOptions, poll: Callable[[], None]
) -> bool:
    """Run the waiting trials of ``targets`` in ``options.workers`` worker processes; return when all
    exit, ``poll`` running every :data:`POLL_SECONDS` meanwhile (progress, and reclaiming the trials of
    a dead worker). With 0 workers it returns True at once: workers started elsewhere take the trials.
    """
    # No more processes than trials wait: a worker with none to take starts torch for nothing (--workers
    # 10**8 ended in 'Too many open files', one log file each).
    processes = min(options.workers, max(1, _waiting(storage, targets)))
    names = sorted({spec.name for spec, _ in targets})
    scope = {
        "name": names[0] if len(names) == 1 else None,
        "methods": sorted({m.name for _, m in targets}),
        "import_from": code_folders(),  # the user's code by import path, found where this process finds it
    }
    # One thread per worker: with one worker per core, more threads oversubscribe the cores.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with contextlib.ExitStack() as stack:
        # stderr to files, not pipes: a worker that warns a lot would block on a full pipe nobody reads.
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in range(processes)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _WORKER, location, json.dumps(scope)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            for log in logs
        ]
        try:
            while any(worker.poll() is None for worker in workers):  # poll() also reaps a dead worker
                time.sleep(POLL_SECONDS)
                poll()
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                worker.wait()
        # A killed worker (SIGKILL: out of memory, or a user) is no error: its trial is reclaimed and rerun.
        if workers and all(worker.returncode not in (0, -signal.SIGKILL) for worker in workers):
            logs[0].seek(0)
            lines = logs[0].read().decode(errors="replace").strip().splitlines()
            raise OptimlabError(
                f"every worker process failed; the last lines of one: {' | '.join(lines[-3:])}"
            )
    return processes == 0


def _waiting(storage: BaseStorage, targets: Targets) -> int:
    """How many trials of the ``targets`` studies wait to be taken."""
    return sum(
        len(storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)))
        for study_id in {storage.get_study_id_from_name(spec.study_name(method)) for spec, method in targets}
    )
