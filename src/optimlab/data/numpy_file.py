"""User data from NumPy files: ``.npz`` archives of named inputs and targets, or one ``.npy`` table.

Files are read with ``allow_pickle=False``: a data file cannot run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from optimlab.data.examples import Examples, Task
from optimlab.errors import InvalidValueError, UnknownNameError

__all__ = ["load_numpy"]


def load_numpy(
    path: str | os.PathLike[str],
    x_key: str = "x",
    y_key: str = "y",
    *,
    target: int = -1,
    task: Task | None = None,
) -> Examples:
    """Examples from ``path``: arrays ``x_key`` (N, ...) and ``y_key`` (N,) of an ``.npz``, or a 2-d
    ``.npy`` table whose column ``target`` holds the targets (like a CSV).

    Integer targets are class labels, others regression targets; ``task`` overrides the guess.

    >>> import tempfile, pathlib, numpy as np
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "toy.npz"
    >>> np.savez(file, x=np.zeros((4, 3)), y=np.array([0, 1, 1, 0]))
    >>> data = load_numpy(file)
    >>> data.input_shape, data.num_classes
    ((3,), 2)
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            for key in (x_key, y_key):
                if key not in archive.files:
                    raise UnknownNameError(f"array in {path.name}", key, archive.files)
            x, y = archive[x_key], archive[y_key]
    else:
        table = np.load(path, allow_pickle=False)
        if table.ndim != 2 or table.shape[1] < 2:
            raise InvalidValueError(
                f"array in {path.name}",
                f"shape {table.shape}",
                "a 2-d table (examples x columns, one of them the target), or an .npz of x and y",
            )
        if (
            isinstance(target, bool)
            or not isinstance(target, int)
            or not -table.shape[1] <= target < table.shape[1]
        ):
            raise InvalidValueError(
                f"target of {path.name}", target, f"a column index in [{-table.shape[1]}, {table.shape[1]})"
            )
        column = target % table.shape[1]
        x, y = np.delete(table, column, axis=1), table[:, column]
    return Examples.from_arrays(x, y, name=path.stem, task=task)
