"""CIFAR-10 from the files a user already has: the "python version" batches (``cifar-10-batches-py``).

Krizhevsky, Learning Multiple Layers of Features from Tiny Images, 2009,
https://www.cs.toronto.edu/~kriz/learning-features-2009-TR.pdf. The folder holds ``data_batch_1`` ..
``data_batch_5`` and ``test_batch``, each a pickled dict with ``b"data"``, a uint8 array (10000, 3072)
of images stored channel by channel (1024 red, 1024 green, 1024 blue values, each row-major 32x32), and
``b"labels"``, a list of 10000 class ids. Every batch found is read. The split is Krizhevsky's: the
data batches (50,000 images) are the training set, from which the load's validation share is drawn,
and ``test_batch`` (10,000) is the test set, kept whole (``test_fraction`` does not apply), so a
test accuracy is the one papers report. A folder of data batches alone, or of ``test_batch`` alone,
is split by optimlab's stratified split, as every data set without a test set of its own. Such a folder
given as the data (``--dataset ~/data/cifar-10-batches-py``) is read so too.

Pickles can run code when loaded, so the batches are read by an unpickler that builds only what the
format needs (dicts, lists, bytes, NumPy arrays) and refuses anything else.

>>> import optimlab.data  # doctest: +SKIP
>>> optimlab.data.load("cifar10", path="~/data/cifar-10-batches-py").image_shape  # doctest: +SKIP
(3, 32, 32)
"""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optimlab.data.examples import Examples
from optimlab.errors import InvalidValueError
from optimlab.registry import Capability, new_registry
from optimlab.user_paths import expand_home

__all__ = [
    "BATCH_NAMES",
    "cifar10",
    "is_cifar10_folder",
    "load_cifar10_folder",
    "not_a_cifar10_folder",
    "read_batch",
]

_REGISTRY = new_registry("dataset")

BATCH_NAMES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
IMAGE_SHAPE = (3, 32, 32)
# The globals a NumPy array's pickle refers to (NumPy 1 and 2 name the module differently), and the
# codec call by which Python 3 pickles bytes at protocol 2 (the original batches are Python 2 pickles).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and NumPy arrays; any other class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"CIFAR-10 batches hold only arrays and lists, not {module}.{name}")


def read_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR-10 python batch file."""
    path = Path(path)
    try:
        batch = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise InvalidValueError(
            f"CIFAR-10 batch {path.name}", str(path), f"a python-version batch file ({error})"
        ) from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise InvalidValueError(
            f"contents of CIFAR-10 batch {path.name}", keys, "a dict with b'data' and b'labels'"
        )
    data, labels = np.asarray(batch[b"data"]), _class_ids(batch[b"labels"], path)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise InvalidValueError(
            f"arrays of CIFAR-10 batch {path.name}",
            f"data {data.shape}, labels {labels.shape}",
            "data (N, 3072) and N labels",
        )
    return data.reshape(len(data), *IMAGE_SHAPE), labels


def _class_ids(labels: Any, path: Path) -> np.ndarray:
    """The ``labels`` of the batch at ``path`` as int64 class ids; a label that is no whole number (a
    class name, which int64 refused with a traceback; 1.7, which it truncated to 1) is refused, naming
    the first."""
    accepted = "whole-number class ids, one per image"
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise InvalidValueError(f"labels of CIFAR-10 batch {path.name}", labels, accepted)
    for position, label in enumerate(np.asarray(labels, dtype=object).reshape(-1).tolist()):
        number = isinstance(label, (int, float, np.integer, np.floating)) and not isinstance(label, bool)
        if not number or not float(label).is_integer():
            raise InvalidValueError(f"label {position} of CIFAR-10 batch {path.name}", label, accepted)
    return np.asarray(labels, dtype=np.int64)


@_REGISTRY.register(
    "cifar10",
    summary="CIFAR-10 from your own python-version batch files (pass path=FOLDER): 32x32 colour images, 10 classes.",
    paper="Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images",
    aliases=("cifar_10",),
    capabilities=(Capability.CLASSIFICATION, Capability.IMAGES, Capability.USER_FILES),
    left_out={"path": "refused: the folder of the batch files is needed (or --dataset FOLDER)"},
)
def cifar10(seed: int, *, path: str | None = None) -> Examples:
    """Every batch file in the folder ``path`` (``~`` expanded), images (3, 32, 32) with raw values 0..255;
    ``test_batch`` as the test set where data batches are there too (module docstring)."""
    del seed  # fixed data: the seed only decides the split
    if path is None:
        raise InvalidValueError(
            "data.options.path",
            None,
            "the folder of the python-version batches (data_batch_1 ... test_batch): data.options.path "
            "in a recipe, or the folder itself as the data set (--dataset FOLDER)",
        )
    return load_cifar10_folder(Path(path))


def is_cifar10_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding CIFAR-10 python-version batches (any of :data:`BATCH_NAMES`)."""
    return path.is_dir() and any((path / name).is_file() for name in BATCH_NAMES)


def not_a_cifar10_folder(field: str, path: object) -> InvalidValueError:
    """The refusal of ``path``, named ``field``, as no folder :func:`is_cifar10_folder` reads."""
    return InvalidValueError(
        field,
        str(path),
        f"a folder holding one or more of {', '.join(BATCH_NAMES)} (CIFAR-10 python version)",
    )


def load_cifar10_folder(path: Path) -> Examples:
    """The batches in the folder ``path`` (``~`` expanded), as :func:`cifar10` reads them."""
    folder = expand_home(path, "data.options.path")
    found = [folder / name for name in BATCH_NAMES if (folder / name).is_file()]
    if not found:
        raise not_a_cifar10_folder("data.options.path", path)
    images, labels = zip(*(read_batch(file) for file in found))
    data = Examples.from_arrays(
        np.concatenate(images),
        np.concatenate(labels),
        name="cifar10",
        task="classification",
        image_shape=IMAGE_SHAPE,
    )
    training = sum(len(y) for file, y in zip(found, labels) if file.name != "test_batch")
    if found[-1].name != "test_batch" or training == 0:  # no test set of its own, or nothing else
        return data
    rows = data.examples  # the data batches first, test_batch last (BATCH_NAMES' order)
    return dataclasses.replace(
        data,
        examples=rows.subset(torch.arange(training)),
        test=rows.subset(torch.arange(training, len(rows))),
    )
