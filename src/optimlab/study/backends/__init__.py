"""Where trials run, in one table: this process (``local``), many at once as one vectorized model
(``batched``), worker processes (``workers``), or Ray tasks (``ray``).

Each backend is a module of this package with one function, ``execute(storage, location, targets,
options, poll)``: run the waiting trials of ``targets``; it returns True when it leaves them to processes
started elsewhere. A module is imported only when its backend is chosen (Ray is an optional extra).
Adding a backend: its module, and its row in :data:`BACKENDS`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from optimlab.errors import InvalidValueError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from optimlab.study.protocols import Method, StudySpec

__all__ = ["BACKENDS", "POLL_SECONDS", "Backend", "BackendOptions", "Targets", "execute"]

Targets = Sequence[tuple["StudySpec", "Method"]]

# Seconds between reads of the storage while other processes run the trials (progress, and reclaiming
# a dead worker's trial): a trial of a built-in workload takes a second or more.
POLL_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class BackendOptions:
    """How a backend runs; each backend reads the fields it needs."""

    # Worker processes (``workers``) or Ray tasks (``ray``): one per core of a 2-core laptop. With
    # ``workers``, 0 only plans: ``optimlab worker`` processes started anywhere take the trials.
    workers: int = 2
    # Trials the ``batched`` backend trains at once: the size its speed is measured at (64 lr trials of
    # an MLP, 5.1x a hand-written sequential loop on 2 cores, docs/benchmarks.md).
    members: int = 64
    ray_address: str | None = None  # a Ray cluster to join (``auto``, ``ray://host:10001``); None: local

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or self.workers < 0:
            raise InvalidValueError("workers", self.workers, "an integer >= 0")
        if not isinstance(self.members, int) or self.members < 1:
            raise InvalidValueError("members", self.members, "an integer >= 1")

    @classmethod
    def given(cls, **values: Any) -> BackendOptions:
        """The options with the values given; None keeps a default (a flag the user left out)."""
        return cls(**{k: v for k, v in values.items() if v is not None})


@dataclasses.dataclass(frozen=True)
class Backend:
    """A row of the table: a name, the module that runs it, and what callers need to know of it."""

    name: str
    module: str  # holds ``execute``; imported when the backend is chosen
    summary: str
    in_process: bool  # trials run in this process, so an optimizer registered here is known to them
    options: tuple[str, ...] = ()  # the fields of BackendOptions it reads; the CLI refuses the others


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("local", "optimlab.study.backends.local", "this process, one trial at a time", True),
        Backend(
            "batched",
            "optimlab.study.backends.batched",
            "this process, trials that differ only in optimizer numbers as one stacked model",
            True,
            ("members",),
        ),
        Backend(
            "workers",
            "optimlab.study.backends.workers",
            "worker processes on this machine",
            False,
            ("workers",),
        ),
        Backend(
            "ray",
            "optimlab.study.backends.ray",
            "Ray tasks, on this machine or a cluster",
            False,
            ("workers", "ray_address"),
        ),
    )
}


def execute(
    name: str,
    storage: BaseStorage,
    location: str | None,
    targets: Targets,
    options: BackendOptions,
    poll: Callable[[], None],
) -> bool:
    """Run the waiting trials of ``targets`` on backend ``name`` (a key of :data:`BACKENDS`, checked by
    the caller); True if processes started elsewhere take them. ``poll`` (progress, reclaiming dead
    workers' trials) runs after each trial or poll."""
    module = importlib.import_module(BACKENDS[name].module)
    return bool(module.execute(storage, location, targets, options, poll))
