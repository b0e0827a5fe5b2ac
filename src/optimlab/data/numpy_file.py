"""User data from NumPy files: ``.npz`` archives of named inputs and targets, or one ``.npy`` table.

Files are read with ``allow_pickle=False``: a data file cannot run code.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optimlab.data.examples import DatasetInfo, Examples, Task, reject_non_finite
from optimlab.data.splits import SPLIT_NAMES, Splits, untrained_classes
from optimlab.data.tables import column_position, target_field
from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError

__all__ = ["ARRAY_PAIRS", "IMAGE_CHANNELS", "channels_last", "image_shape_of", "load_numpy"]

IMAGE_CHANNELS = (1, 3, 4)  # gray, colour, colour and alpha: the channels of an image array


def channels_last(shape: tuple[int, ...]) -> bool:
    """Whether inputs of ``shape`` are images kept channels last (N, H, W, C), as Keras and TensorFlow
    keep them: four dimensions, the last 1, 3 or 4 channels and the second not."""
    return len(shape) == 4 and shape[3] in IMAGE_CHANNELS and shape[1] not in IMAGE_CHANNELS


def image_shape_of(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The image shape (C, H, W) of inputs of ``shape`` that are images channels first, (N, C, H, W): four
    dimensions, the second 1, 3 or 4 channels; None for other inputs."""
    return tuple(shape[1:]) if len(shape) == 4 and shape[1] in IMAGE_CHANNELS else None


# (inputs, targets) names an .npz is read by when none are given, the first pair it holds
ARRAY_PAIRS = (
    ("x", "y"),
    ("X", "y"),
    ("inputs", "targets"),
    ("features", "labels"),
    ("features", "targets"),
    ("images", "labels"),
    ("data", "target"),
    ("data", "labels"),
    ("arr_0", "arr_1"),  # numpy.savez(file, x, y) without names
)


def load_numpy(
    path: str | os.PathLike[str],
    x_key: str | None = None,
    y_key: str | None = None,
    *,
    target: int | None = None,
    task: Task | None = None,
) -> Examples:
    """Examples from ``path``: arrays ``x_key`` (N, ...) and ``y_key`` (N,) of an ``.npz`` (by default
    the first of :data:`ARRAY_PAIRS` it holds: ``x``/``y``, ``features``/``labels``, unnamed
    ``arr_0``/``arr_1``, ...), or a 2-d ``.npy`` table whose column ``target`` (by default the last)
    holds the targets, like a CSV; an archive's targets are named by ``y_key``, not by ``target``.

    Inputs of four dimensions whose last is 1, 3 or 4 channels and whose second is not are images kept
    channels last (N, H, W, C), as Keras and TensorFlow keep them: they are read as torch's layers take
    images, (N, C, H, W), and the reading says so; (N, C, H, W) inputs are images as they are.

    Integer targets are class labels, and so are whole floats (a float table's label column) but for
    amounts of over ten distinct values (:meth:`~optimlab.data.Examples.from_arrays`); others are
    regression targets; ``task`` overrides the guess.

    >>> import tempfile, pathlib, numpy as np
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "toy.npz"
    >>> np.savez(file, x=np.zeros((4, 3)), y=np.array([0, 1, 1, 0]))
    >>> data = load_numpy(file)
    >>> data.input_shape, data.num_classes
    ((3,), 2)
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            if target is not None:
                raise InvalidValueError(
                    target_field(path),
                    target,
                    "none for an .npz archive: its arrays are named, the targets by y_key (data.options.y_key)",
                )
            with np.load(path, allow_pickle=False) as archive:
                parts = _split_keys(archive.files, path) if x_key is None and y_key is None else None
                if parts is None:
                    parts = {"": _keys(archive.files, x_key, y_key, path)}
                arrays = {part: _pair(archive, x, y, path) for part, (x, y) in parts.items()}
            return _archive_examples(arrays, parts, path, task)
        table = np.load(path, allow_pickle=False)
    except OSError as error:
        raise InvalidValueError(
            "NumPy file", str(path), f"a readable file ({error.strerror or error})"
        ) from None
    except OptimlabError:
        raise
    except (ValueError, EOFError, zipfile.BadZipFile) as error:
        raise InvalidValueError(f"NumPy file {path.name}", _problem(path, error), _ACCEPTED) from None
    if isinstance(table, np.ndarray):
        _check_kind(table, f"array in {path.name}", "biuf")
    if not isinstance(table, np.ndarray) or table.ndim != 2 or table.shape[1] < 2:
        raise InvalidValueError(
            f"array in {path.name}",
            f"shape {getattr(table, 'shape', None)}",
            "a 2-d table (examples x columns, one of them the target), or an .npz of x and y",
        )
    column = column_position(-1 if target is None else target, None, table.shape[1], path)
    reject_non_finite(table, path.name, row_name="row {}".format)
    x, y = np.delete(table, column, axis=1), table[:, column]
    return Examples.from_arrays(x, y, name=path.stem, task=task, reading=f"target column {column}")


_KINDS = {"b": "bool", "i": "integer", "u": "unsigned integer", "f": "float", "U": "text", "S": "bytes"}


def _check_kind(array: np.ndarray, what: str, kinds: str) -> None:
    """Refuse an array whose dtype is none of ``kinds`` (NumPy's kind codes): complex numbers would
    lose their imaginary part, text inputs and records cannot be cast to a tensor."""
    if array.dtype.kind in kinds:
        return
    found = f"a structured array of fields {', '.join(array.dtype.names)}" if array.dtype.names else None
    raise InvalidValueError(
        what,
        found or f"dtype {array.dtype}",
        "an array of "
        + ", ".join(_KINDS[kind] for kind in kinds)
        + " values"
        + (" (numpy.lib.recfunctions.structured_to_unstructured makes it a 2-d table)" if found else ""),
    )


def _keys(files: list[str], x_key: str | None, y_key: str | None, path: Path) -> tuple[str, str]:
    """The names of the inputs and the targets in an archive holding ``files``."""
    if x_key is None and y_key is None:
        pair = next((pair for pair in ARRAY_PAIRS if set(pair) <= set(files)), None)
        if pair is None:
            raise InvalidValueError(
                f"arrays of {path.name}",
                ", ".join(files) or "none",
                "a pair of inputs and targets named "
                + ", ".join("/".join(pair) for pair in ARRAY_PAIRS)
                + "; or name them in the recipe's data.options: x_key, y_key",
            )
        return pair
    x_key, y_key = x_key or "x", y_key or "y"
    for key in (x_key, y_key):
        if key not in files:
            raise UnknownNameError(f"array in {path.name}", key, files)
    return x_key, y_key


_ACCEPTED = (
    "an array of numbers written by numpy.save (.npy) or numpy.savez (.npz); arrays of Python "
    "objects are refused, since reading them could run code"
)


def _problem(path: Path, error: Exception) -> str:
    """NumPy's reason, in words that fit a data file (never its advice to load a pickle)."""
    with path.open("rb") as handle:
        magic = handle.read(6)
    if not magic:  # "first bytes b''" said nothing of a file cut off or never written
        return "an empty file (0 bytes)"
    if magic == b"\x93NUMPY":
        if "pickle" in str(error) or "Object arrays" in str(error):
            return "it holds Python objects (an object array)"
        return f"a damaged .npy file ({error or type(error).__name__})"
    if magic[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip's first entry, or an empty zip
        if "pickle" in str(error) or "Object arrays" in str(error):
            return "it holds Python objects (an object array)"
        return f"a damaged .npz archive ({error or type(error).__name__})"
    return f"not a NumPy file: it does not start with NumPy's magic bytes (first bytes {magic!r})"


# The (inputs, targets) of each split of an archive saved split, as keras.datasets' files are (mnist.npz:
# x_train, y_train, x_test, y_test): read so before :data:`ARRAY_PAIRS` when no keys are given.


def _split_keys(files: list[str], path: Path) -> dict[str, tuple[str, str]] | None:
    """The inputs and targets of each split, by split, of an archive of ``x_train``/``y_train`` (or
    ``X_train``) with ``x_test``/``y_test`` and/or ``x_val``/``y_val``; None without ``x_train``."""
    prefix = next((p for p in ("x", "X") if f"{p}_train" in files and "y_train" in files), None)
    if prefix is None:
        return None
    parts = {}
    for part, names in SPLIT_NAMES.items():
        for name in names:
            x, y = f"{prefix}_{name}", f"y_{name}"
            if (x in files) != (y in files):
                raise InvalidValueError(
                    f"arrays of {path.name}",
                    ", ".join(files),
                    f"{x} with {y}: the inputs and targets of each split of an archive saved split",
                )
            if x in files:
                parts[part] = (x, y)
                break
    known = {name for names in SPLIT_NAMES.values() for name in names}
    # x_tst with y_tst beside x_train: a split of a name not read, its rows dropped without a word
    named = (f.removeprefix(f"{prefix}_") for f in files if f.startswith(f"{prefix}_"))
    unread = [name for name in named if f"y_{name}" in files and name not in known]
    if unread:
        raise InvalidValueError(
            f"arrays of {path.name}",
            ", ".join(f"{prefix}_{name} with y_{name}" for name in unread),
            "splits named "
            + ", ".join(" or ".join(names) for names in SPLIT_NAMES.values())
            + f" ({prefix}_test with y_test...): rename the split's arrays, or drop them",
        )
    return parts


def _pair(archive: Any, x_key: str, y_key: str, path: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """Inputs ``x_key`` and targets ``y_key`` of an archive, checked (numbers, as many targets as rows,
    finite), images stored channels last read as (N, C, H, W); and a note on how they were read."""
    x, y = archive[x_key], archive[y_key]
    _check_kind(x, f"array {x_key!r} of {path.name}", "biuf")
    _check_kind(y, f"array {y_key!r} of {path.name}", "biufUS")
    if x.ndim == 0:
        raise InvalidValueError(
            f"array {x_key!r} of {path.name}", f"shape {x.shape}", "an array of one row per example"
        )
    if y.ndim == 0 or len(y) != len(x):
        raise InvalidValueError(
            f"array {y_key!r} of {path.name}",
            f"shape {y.shape}",
            f"one target per row of {x_key!r}, whose shape is {x.shape}",
        )
    reject_non_finite(x, f"array {x_key!r} of {path.name}")
    reject_non_finite(y, f"array {y_key!r} of {path.name}")
    if not channels_last(x.shape):
        return x, y, ""
    # Keras and TensorFlow keep images channels last (N, H, W, C); read so, a CNN took the rows of each
    # image for its channels
    x = x.transpose(0, 3, 1, 2)
    return x, y, f", images stored channels last ({'x'.join(map(str, x.shape[2:] + x.shape[1:2]))})"


def _uint8_as_stored(inputs: list[np.ndarray]) -> str:
    """A note on unsigned 8-bit inputs (pixels 0..255), which reach the model as the numbers stored, where
    an image folder's are read / 255, in [0, 1]: their range, and the scalings that make them small;
    nothing for other dtypes (token ids, counts and flags are meant as stored)."""
    if not all(x.dtype == np.uint8 and x.size for x in inputs):
        return ""
    low, high = min(x.min() for x in inputs), max(x.max() for x in inputs)
    return (
        f", inputs uint8 {low} to {high} given to the model as stored, unscaled (an image folder's pixels "
        "are read / 255, in [0, 1]: divide the arrays by 255 before saving, or data.scaling / --scaling "
        "minmax, which scales each feature by its own training range)"
    )


def _archive_examples(
    arrays: dict[str, tuple[np.ndarray, np.ndarray, str]],
    parts: dict[str, tuple[str, str]],
    path: Path,
    task: Task | None,
) -> Examples | Splits:
    """The examples of an archive's arrays: of one pair (part ``""``), or of its splits, kept as stored
    (the classes numbered over them all, so that a label means one class in every split)."""
    for which, what in ((0, "inputs"), (1, "targets")):  # np.concatenate refuses them, as a damaged file
        if len({array[which].shape[1:] for array in arrays.values()}) > 1:
            raise InvalidValueError(
                f"arrays of {path.name}",
                ", ".join(f"{parts[p][which]} of shape {arrays[p][which].shape}" for p in arrays),
                f"{what} of one shape in every split",
            )
    reading = ", ".join(
        f"inputs {parts[p][0]!r}, targets {parts[p][1]!r}" + (f" ({len(arrays[p][0]):,} rows)" if p else "")
        for p in arrays
    )
    reading = ("splits as stored: " if len(arrays) > 1 else "") + reading
    reading += next(note for _, _, note in arrays.values())
    reading += _uint8_as_stored([x for x, _, _ in arrays.values()])
    if "train" in arrays and "val" not in arrays:
        reading += ", validation drawn from the training rows" + ("" if "test" in arrays else " as test is")
    x = np.concatenate([x for x, _, _ in arrays.values()])
    y = np.concatenate([y for _, y, _ in arrays.values()])
    data = Examples.from_arrays(
        x, y, name=path.stem, task=task, image_shape=image_shape_of(x.shape), reading=reading
    )
    if "train" not in arrays:
        return data
    held_out = {repr(parts[p][1]): arrays[p][1] for p in ("val", "test") if p in arrays}
    untrained = untrained_classes(arrays["train"][1], repr(parts["train"][1]), held_out, data.ignored_label)
    if data.task == "classification" and untrained:
        data = dataclasses.replace(data, reading=f"{data.reading}; {untrained}")
    rows, start, split = data.examples, 0, {}
    for part, (x_part, _, _) in arrays.items():
        split[part] = rows.subset(torch.arange(start, start + len(x_part)))
        start += len(x_part)
    if "val" in split:  # fixed splits: none is drawn
        info = {f.name: getattr(data, f.name) for f in dataclasses.fields(DatasetInfo)}
        test = split.get("test", rows.subset(torch.arange(0)))
        return Splits(**info, train=split["train"], val=split["val"], test=test)
    return dataclasses.replace(data, examples=split["train"], test=split.get("test"))
