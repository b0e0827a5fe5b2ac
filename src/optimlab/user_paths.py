"""A path as the user typed it, ``~`` and ``~user`` read as a home folder, and the folder optimlab
keeps its caches in.

pathlib's ``expanduser`` raises a bare ``RuntimeError("Could not determine home directory.")`` for a
``~user`` of no user of this machine; here that is one line naming the field and the path.
This module imports no torch: the CLI's checks may read paths with it before torch loads.

>>> expand_home("rows.csv", "dataset").name
'rows.csv'
"""

from __future__ import annotations

import os
from pathlib import Path

from optimlab.errors import InvalidValueError

__all__ = ["cache_folder", "expand_home"]


def expand_home(text: str | os.PathLike[str], field: str) -> Path:
    """``text`` as a path with a leading ``~`` (your home) or ``~user`` (that user's) expanded; refused
    naming ``field`` where the user is unknown here."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # no home for the user named: pathlib gives no other reason
        user = os.fspath(text).replace("\\", "/").partition("/")[0]
        reason = "HOME is not set here" if user == "~" else f"{user} names no user of this machine"
        raise InvalidValueError(field, os.fspath(text), f"a path, ~ alone for your home: {reason}") from None


def cache_folder() -> Path | None:
    """Where optimlab keeps what it made once per machine (generated data, the catalog):
    ``$OPTIMLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/optimlab``, else ``~/.cache/optimlab``; None where
    none is set and this user has no home (HOME unset, no password entry): nothing is kept, which costs
    only time."""
    if os.environ.get("OPTIMLAB_CACHE_DIR"):
        return Path(os.environ["OPTIMLAB_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "optimlab"
    try:
        return Path.home() / ".cache" / "optimlab"
    except (RuntimeError, KeyError):  # pathlib's "Could not determine home directory."
        return None
