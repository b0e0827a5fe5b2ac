"""The data of one comparison loaded once per process: its planning, checks and in-process trials each
built every workload's splits anew (10 loads for two optimizers, one tuning trial and one seed each).

Inside :func:`data_built_once`, :func:`built_once` builds the data of each key once and hands the same
splits again while they hold the same tensors, none written since: a caller that changed them in place
gets them built anew. Writes are told by torch's version counters, not by hashing the data again at
each hand-out (a digest of CIFAR-10's 614 MB takes ~1.2 s; a comparison hands its splits out ~7
times): that sees every in-place torch operation on a tensor or on a view of it (``add_``,
``x[i] = v``, ``copy_``) and a tensor replaced; it misses writes that bypass the counter (through
``tensor.data``, ``tensor.numpy()``, or a raw pointer). It keeps one key's splits per slot (a
workload's data: the key of the seed it built last), so a comparison's fresh seeds hold one copy of a
workload's data, not one a seed (CIFAR-10's 0.7 GB at --seeds 10 held 7 GB). Splits of no tensors (a
user's loaders, which keep a shuffle's state) are built each time. Outside it nothing is kept, so a
process keeps no data it no longer uses; nor does another thread (a fresh context). :func:`digest_of`
reads the digest it took of the splits it handed out, so that a study opened on them
(:func:`optimlab.study.run.open_studies`, which records its data's digest; training reads none) hashes
them once, not twice.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import torch

from optimlab.data.digest import data_digest, held_tensors

__all__ = ["built_once", "data_built_once", "digest_of"]

# slot -> (key, splits, their digest when built, their writes then), inside data_built_once
_BUILT: contextvars.ContextVar[dict[str, tuple[str, Any, str, list[tuple[torch.Tensor, int]]]] | None] = (
    contextvars.ContextVar("optimlab_built_data", default=None)
)


@contextlib.contextmanager
def data_built_once() -> Iterator[None]:
    """Keep the data :func:`built_once` builds until the block (or the decorated call) ends."""
    token = _BUILT.set({})
    try:
        yield
    finally:
        _BUILT.reset(token)


def built_once(slot: str, key: str, build: Callable[[], Any]) -> Any:
    """``build()``, or inside :func:`data_built_once` the splits it built for ``key`` before, if none of
    their tensors was written since (:func:`_writes`); built splits replace those kept in ``slot``."""
    built = _BUILT.get()
    if built is None:
        return build()
    if slot in built:
        kept_key, splits, digest, writes = built.pop(slot)  # dropped before another build: one copy held
        now = _writes(splits)
        unwritten = len(now) == len(writes) and all(
            t is was and version == then for (t, version), (was, then) in zip(now, writes)
        )
        if kept_key == key and unwritten:
            built[slot] = (key, splits, digest, writes)
            return splits
        del splits, writes, now  # their tensors freed before the build
    splits = build()
    digest = data_digest(splits)
    if digest is not None:
        built[slot] = (key, splits, digest, _writes(splits))
    return splits


def _writes(splits: Any) -> list[tuple[torch.Tensor, int]]:
    """Each tensor of ``splits`` with its in-place write count (torch's version counter): equal lists
    (tensors compared by identity) mean the same tensors, none written since."""
    return [(t, t._version) for t in held_tensors(splits)]


def digest_of(splits: Any) -> str | None:
    """``data_digest(splits)``: inside :func:`data_built_once`, of splits :func:`built_once` handed out,
    the digest it took as it built them, else computed.

    Contract: the splits are known by identity (``is``), and the digest is of them as they were at their
    last hand-out; call it right after :func:`built_once` gives them, before anything writes them in
    place (a later in-place write is not seen: the digest read is stale). study.run's opening of a
    study is its one caller, once a study: hashed again, CIFAR-10's 614 MB took 1.2 s more
    (``benchmarks/compare_data_loads.py``)."""
    for _, kept, digest, _ in (_BUILT.get() or {}).values():
        if kept is splits:
            return digest
    return data_digest(splits)
