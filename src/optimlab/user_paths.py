"""A path as the user typed it, ``~`` and ``~user`` read as a home folder.

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

__all__ = ["expand_home"]


def expand_home(text: str | os.PathLike[str], field: str) -> Path:
    """``text`` as a path with a leading ``~`` (your home) or ``~user`` (that user's) expanded; refused
    naming ``field`` where the user is unknown here."""
    try:
        return Path(text).expanduser()
    except RuntimeError:  # no home for the user named: pathlib gives no other reason
        user = os.fspath(text).replace("\\", "/").partition("/")[0]
        reason = "HOME is not set here" if user == "~" else f"{user} names no user of this machine"
        raise InvalidValueError(field, os.fspath(text), f"a path, ~ alone for your home: {reason}") from None
