"""A worker: a process that takes waiting trials from a shared storage and trains them.

Start as many as the machines have cores (``optimlab worker runs/study`` on one machine, or
``optimlab worker postgresql://...`` on several): each reads the study specs from the storage, so it
needs nothing else. Each trains with one torch thread: on a machine running one worker per core,
more threads oversubscribe the cores (two processes with two threads each made training 100x slower
on a 2-core machine).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
from optuna.storages import BaseStorage

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.study.backends import POLL_SECONDS
from optimlab.study.backends.local import run_waiting
from optimlab.study.protocols import Method, StudySpec
from optimlab.study.run import stored_spaces, stored_spec
from optimlab.study.storage import (
    DONE_ATTR,
    JOURNAL_NAME,
    METHOD_ATTR,
    SPEC_ATTR,
    is_url,
    open_storage,
    optimlab_studies,
    without_passwords,
)
from optimlab.user_code import extend_sys_path

__all__ = ["method_targets", "open_storage_checked", "work"]


def method_targets(
    storage: BaseStorage, name: str | None = None, methods: list[str] | None = None
) -> list[tuple[StudySpec, Method, bool]]:
    """``(spec, method, done)`` of every method study in ``storage`` (of study ``name``, or all)."""
    targets = []
    for study in optimlab_studies(storage, name):
        spec = stored_spec(study, spaces=stored_spaces([study]))  # the space it started with (TPE's)
        method = next(m for m in spec.methods if m.name == study.user_attrs[METHOD_ATTR])
        targets.append((spec, method, bool(study.user_attrs.get(DONE_ATTR, False))))
    return _of_methods(targets, methods)


def _of_methods(
    targets: list[tuple[StudySpec, Method, bool]], methods: list[str] | None
) -> list[tuple[StudySpec, Method, bool]]:
    """The ``targets`` of ``methods`` (all of them where ``methods`` is None)."""
    return [target for target in targets if methods is None or target[1].name in methods]


def open_storage_checked(
    location: str | Path, name: str | None = None, methods: list[str] | None = None, *, wait: bool = False
) -> BaseStorage:
    """The storage at ``location``, once it holds study ``name`` (or any) with ``methods`` (or any) to
    work on; else :class:`~optimlab.errors.OptimlabError` naming what it holds. With ``wait``, a study
    or method not there yet may come from a driver started later: only a method no study there has is
    refused. The CLI calls it before it says that work begins, so that a refusal is one line."""
    storage = open_storage(location, create=False)  # a worker never starts a journal of its own
    held = sorted({study.user_attrs[SPEC_ATTR]["name"] for study in optimlab_studies(storage)})
    if name is not None and held and name not in held and not wait:
        raise InvalidValueError("name (--name)", name, f"a study there: {', '.join(map(repr, held))}")
    every = method_targets(storage, name)  # read once: a journal's studies are replayed to list them
    known = {method.name for _, method, _ in every}
    if unknown := [m for m in methods or () if known and m not in known]:
        raise InvalidValueError(
            "methods (--methods)",
            ",".join(unknown),
            "methods of the studies there: " + ", ".join(sorted(known)),
        )
    if not wait and not _of_methods(every, methods):
        which = "" if name is None else f" {name!r}"
        raise OptimlabError(f"no optimlab study{which} at {without_passwords(str(location))!r} to work on")
    return storage


def work(
    location: str | Path,
    *,
    name: str | None = None,
    methods: list[str] | None = None,
    wait: bool = False,
    poll_seconds: float = POLL_SECONDS,
    threads: int = 1,
    import_from: Sequence[str] = (),
    storage: BaseStorage | None = None,
) -> int:
    """Run waiting trials at ``location`` until none waits; returns how many this worker ran.

    With ``wait``, keep polling until every study is marked done by its driver (start workers before
    or after ``optimlab compare``, in any order). ``methods`` restricts the worker to those studies.
    ``import_from``: folders searched for the user's code named in the recipes (``mypkg.nets:build``)
    after this process's ``sys.path``; the backends pass their driver's. ``storage``: the one at
    ``location`` already returned by :func:`open_storage_checked` for the same ``name``, ``methods``
    and ``wait`` (the CLI's), so that it is not opened and checked again.
    """
    torch.set_num_threads(threads)
    extend_sys_path(import_from)
    if storage is None:
        while wait and not is_url(location) and not (Path(location) / JOURNAL_NAME).is_file():
            time.sleep(poll_seconds)  # started before the driver: the study does not exist yet
        storage = open_storage_checked(location, name, methods, wait=wait)
    ran = 0
    while True:
        targets = method_targets(storage, name, methods)
        ran_now = run_waiting(storage, [(spec, method) for spec, method, _ in targets])
        ran += ran_now
        finished = bool(targets) and all(done for _, _, done in targets)
        if not wait or finished:
            return ran
        if ran_now == 0:
            time.sleep(poll_seconds)
