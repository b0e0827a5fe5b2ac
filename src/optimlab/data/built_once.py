"""The data of one comparison loaded once per process: its planning, checks and in-process trials each
built every workload's splits anew (10 loads for two optimizers, one tuning trial and one seed each).

Inside :func:`data_built_once`, :func:`built_once` builds the data of each key once and hands the same
splits again while their digest (:func:`~optimlab.data.digest.data_digest`) is the one they were built
with: a caller that changed them in place gets them built anew. Splits of no tensors (a user's loaders,
which keep a shuffle's state) are built each time. Outside it nothing is kept, so a process keeps no data
it no longer uses; nor does another thread (a fresh context).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["built_once", "data_built_once"]

# key -> (splits, their digest when built), inside data_built_once
_BUILT: contextvars.ContextVar[dict[str, tuple[Any, str]] | None] = contextvars.ContextVar(
    "optimlab_built_data", default=None
)


@contextlib.contextmanager
def data_built_once() -> Iterator[None]:
    """Keep the data :func:`built_once` builds until the block (or the decorated call) ends."""
    token = _BUILT.set({})
    try:
        yield
    finally:
        _BUILT.reset(token)


def built_once(key: str, build: Callable[[], Any]) -> Any:
    """``build()``, or inside :func:`data_built_once` the splits it built for ``key`` before, if their
    digest is still the one they were built with."""
    built = _BUILT.get()
    if built is None:
        return build()
    from optimlab.data.digest import data_digest

    if key in built:
        splits, digest = built[key]
        if data_digest(splits) == digest:
            return splits
    splits = build()
    digest = data_digest(splits)
    if digest is not None:
        built[key] = (splits, digest)
    return splits
