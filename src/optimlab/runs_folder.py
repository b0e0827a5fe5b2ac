"""Where work is kept when no output is named: ``runs/KIND-LABEL-TIME``, a name of its own.

Two commands started within the same second (a script's second ``optimlab.compare``, two ``optimlab
train`` of one recipe) got the same name: the second was refused ("the storage already holds study
..."), or, for a report page, written over the first. The later one now takes ``-2``, ``-3``...
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["fresh_path"]


def fresh_path(stem: str, suffix: str = "", *, root: str | Path = "runs") -> Path:
    """``root/STEM-TIME{suffix}`` (the local time to the second), else ``...-TIME-2{suffix}``, ``-3``...
    where that is taken."""
    stem = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = Path(root) / f"{stem}{suffix}", 2
    while path.exists():
        path, n = Path(root) / f"{stem}-{n}{suffix}", n + 1
    return path
