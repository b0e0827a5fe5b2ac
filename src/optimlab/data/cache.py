"""Generated data kept on disk, so that a data set that is slow to generate is generated once per machine.

MNIST-1D takes ~4 s to generate, as long as the rest of a short run; every process that loads it (a
training run, each study worker) would pay it again. :func:`cached_arrays` keeps what a generator made
under the cache folder (:func:`optimlab.user_paths.cache_folder`), named by a hash of everything the
arrays depend on. A file that cannot be read, or holds other arrays than the generator makes (another
writer's, a file cut short), is generated again; a folder that cannot be written, or none (no home),
only costs the time.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from optimlab.atomic import atomic_path
from optimlab.user_paths import cache_folder

__all__ = ["cached_arrays"]


def cached_arrays(
    name: str,
    key: Mapping[str, Any],
    make: Callable[[], Mapping[str, np.ndarray]],
    shapes: Mapping[str, tuple[int | None, ...]],
) -> dict[str, np.ndarray]:
    """The arrays ``make()`` returns for ``key`` (JSON-able: every input of the generator, its version
    included), read from the cache folder where an earlier call kept them, else made and kept there.
    ``shapes`` names the arrays, each with its shape (None: any length): a kept file lacking one, or
    holding it in another shape, is made again (it raised KeyError)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder = cache_folder()
    if folder is None:  # no home to keep it in: made each time
        return {k: np.asarray(v) for k, v in make().items()}
    path = folder / f"{name}-{digest}.npz"
    try:
        with np.load(path, allow_pickle=False) as kept:
            arrays = {k: kept[k] for k in shapes}
        if all(_has_shape(arrays[k], shape) for k, shape in shapes.items()):
            return arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # absent, or cut short: again
        pass
    arrays = {k: np.asarray(v) for k, v in make().items()}
    try:
        with atomic_path(path) as partial, open(partial, "wb") as handle:  # whichever process writes last
            np.savez(handle, **arrays)  # a handle: given a path not ending in .npz, savez adds it
    except OSError:
        pass
    return arrays


def _has_shape(array: np.ndarray, shape: tuple[int | None, ...]) -> bool:
    return array.ndim == len(shape) and all(want in (None, got) for got, want in zip(array.shape, shape))
