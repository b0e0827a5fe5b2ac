"""Where the doctor is in its long phases (the LR range test, each check of the lr candidates, the
watched run), for whoever shows it: the CLI's spinner listens (:func:`listening`), the phases call
:func:`report`, which costs one lookup when nobody listens.

>>> seen = []
>>> with listening(lambda phase, done, total: seen.append((phase, done, total))):
...     report("LR range test", 1, 100)
>>> report("LR range test", 2, 100)  # nobody listens
>>> seen
[('LR range test', 1, 100)]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

__all__ = ["Listener", "listening", "report"]

Listener = Callable[[str, int, int], None]  # (phase, steps done, steps in the phase)

_LISTENER: ContextVar[Listener | None] = ContextVar("optimlab_doctor_listener", default=None)


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every :func:`report` made inside the block (in this thread) to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def report(phase: str, done: int, total: int) -> None:
    """``phase`` has taken ``done`` of its ``total`` steps."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(phase, done, total)
