"""User data in IDX, the format of MNIST and Fashion-MNIST (``train-images-idx3-ubyte[.gz]``).

LeCun et al., The MNIST database of handwritten digits, http://yann.lecun.com/exdb/mnist/. An IDX file is
a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one big-endian uint32
per dimension, then the values, big-endian, in C order. Gzipped files are recognised by their first
two bytes, whatever their name.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np

from optimlab.data.compressed import file_bytes
from optimlab.data.examples import Examples
from optimlab.errors import InvalidValueError

__all__ = ["IDX_TYPES", "labels_file_of", "load_idx", "read_idx"]

# IDX type code -> big-endian NumPy dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in the IDX file at ``path`` (gzipped or not), in native byte order."""
    path = Path(path)
    raw = file_bytes(path)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in IDX_TYPES:
        raise InvalidValueError(
            f"IDX magic number of {path.name}",
            raw[:4].hex(),
            "00 00, a type code in " + ", ".join(f"{c:02x}" for c in IDX_TYPES) + ", ndims",
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InvalidValueError(
            f"size of {path.name}", f"{len(raw)} bytes", f"a header of {header} bytes for {ndim} dimensions"
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise InvalidValueError(
            f"size of {path.name}",
            f"{len(raw)} bytes",
            f"{expected} bytes for shape {shape} of {dtype.name} (truncated or not IDX?)",
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def labels_file_of(images: Path) -> Path:
    """The labels file MNIST's naming puts beside the IDX images file ``images``
    (``train-images-idx3-ubyte`` -> ``train-labels-idx1-ubyte``, ``.gz`` kept); ``images`` itself where
    its name is not of that naming."""
    return images.with_name(
        images.name.replace("images-idx3", "labels-idx1").replace("images.idx3", "labels.idx1")
    )


def load_idx(images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str]) -> Examples:
    """Classification examples from an IDX file of inputs (N, ...) and one of labels (N,).

    Inputs keep their shape ((N, 28, 28) for MNIST: input_shape (28, 28)) and their raw values (0..255).
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim == 0:  # one number: no rows to count
        raise InvalidValueError(
            f"inputs in {Path(images_path).name}", "shape ()", "an array of one row per example"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise InvalidValueError(
            f"labels in {Path(labels_path).name}",
            f"shape {labels.shape}",
            f"one label per input of {Path(images_path).name}: shape ({len(images)},)",
        )
    return Examples.from_arrays(
        images,
        labels,
        name=Path(images_path).name.split(".")[0],
        task="classification",
        reading=f"labels from {Path(labels_path).name}",  # the file beside it, guessed by name or given
    )
