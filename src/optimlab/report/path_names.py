"""Names that tell paths apart on a page: each path's last part, or as many of its last parts as it takes.

A page keys its lines, columns and comparisons by name; two run folders or study folders of one name
(``a/x/run`` and ``b/x/run``) named alike were one line, one column, a study compared with itself.

>>> names_apart(["/r/a/x/run", "/r/b/x/run", "/r/y/other"])
['a/x/run', 'b/x/run', 'other']
>>> names_apart(["/r/run", "/r/run"])
['run (1)', 'run (2)']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["names_apart"]


def names_apart(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Each path's last part, or its last parts, as few as tell it from every other path's; a path given
    twice is numbered (its place in ``paths``, from 1). The root (``/``, ``C:\\``) is no part of a name, and
    a path whose parts all end another path is named whole."""
    parts = [Path(path).relative_to(Path(path).anchor).parts for path in paths]
    names = []
    for number, own in enumerate(parts, 1):
        k = next((k for k in range(1, len(own) + 2) if sum(p[-k:] == own[-k:] for p in parts) == 1), 0)
        names.append("/".join(own[-k:]) if k else f"{'/'.join(own[-1:])} ({number})")
    return names
