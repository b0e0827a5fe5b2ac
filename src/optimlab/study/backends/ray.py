"""Ray tasks as workers, for clusters (``--backend ray``; ``pip install 'optimlab[ray]'``).

Each task runs :func:`optimlab.study.worker.work` on one CPU: the same loop as every other worker, so
Ray only places processes. Every task must reach the storage: on one machine the journal file does;
on a cluster, give the study an RDB URL (PostgreSQL) that every node can reach.

Moritz et al., Ray: A Distributed Framework for Emerging AI Applications, OSDI 2018,
https://arxiv.org/abs/1712.05889.
"""

from __future__ import annotations

from collections.abc import Callable

from optuna.storages import BaseStorage

from optimlab.errors import OptimlabError
from optimlab.study.backends import POLL_SECONDS, BackendOptions, Targets
from optimlab.study.worker import work
from optimlab.user_code import code_folders

__all__ = ["execute"]


def execute(
    storage: BaseStorage, location: str, targets: Targets, options: BackendOptions, poll: Callable[[], None]
) -> bool:
    """Run the waiting trials of ``targets`` in ``options.workers`` Ray tasks; return when all have ended.

    ``options.ray_address`` joins a running cluster (``auto``, ``ray://host:10001``); None starts a local
    Ray with that many CPUs (and leaves one already started in this process as it is).
    """
    tasks, address = options.workers, options.ray_address
    try:
        import ray
    except ImportError:
        raise OptimlabError("the ray backend needs Ray: pip install 'optimlab[ray]'") from None
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=tasks, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    names = sorted({spec.name for spec, _ in targets})
    methods = sorted({method.name for _, method in targets})
    remote_work = ray.remote(num_cpus=1, max_retries=0)(work)
    pending = [
        remote_work.remote(
            location,
            name=names[0] if len(names) == 1 else None,
            methods=methods,
            import_from=code_folders(),  # the user's code by import path, found where this process finds it
        )
        for _ in range(tasks)
    ]
    while pending:
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_SECONDS)
        ray.get(ready)  # a task's exception surfaces here
        poll()
    return False
