"""One entry point for every source of data: a registered name, a file or a folder, split by the seed.

Whoever shows what was read listens (:func:`noting_files`): each user file or folder, or the (input,
target) data of the user's factory, loaded inside the block is described in one line (:func:`describe`),
at the cost of one lookup when nobody listens.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from optimlab.data.cifar10 import BATCH_NAMES, is_cifar10_folder, load_cifar10_folder
from optimlab.data.csv_file import load_csv
from optimlab.data.examples import DatasetInfo, Examples, label_ignored
from optimlab.data.idx_file import labels_file_of, load_idx
from optimlab.data.image_folder import is_image_folder, load_image_folder
from optimlab.data.numpy_file import load_numpy
from optimlab.data.splits import Splits, check_fractions, split
from optimlab.data.user_batches import is_map_dataset, length_or_none
from optimlab.data.user_factory import BatchDataset, BatchSplits, batch_keys
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.number_text import count_of, plural
from optimlab.registry import SEED, new_registry, whole_number
from optimlab.user_code import is_import_path, refuse_file_path
from optimlab.user_paths import expand_home

__all__ = [
    "FILE_KINDS",
    "TARGET_KINDS",
    "check_data_path",
    "describe",
    "file_options",
    "load",
    "noting_files",
    "takes_target",
]

_REGISTRY = new_registry("dataset")

FILE_KINDS = (
    ".csv, .tsv (optionally .gz), .npy, .npz, IDX (*-ubyte, *.idx*, optionally .gz), a folder of class "
    "folders of images, a folder of CIFAR-10 python-version batches"
)
TARGET_KINDS = ".csv, .tsv (optionally .gz) and .npy"  # the files whose target is one of their columns
_TABLES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")  # read by load_csv

_LISTENER: ContextVar[Callable[[str], None] | None] = ContextVar("optimlab_data_listener", default=None)


@contextlib.contextmanager
def noting_files(listener: Callable[[str], None]) -> Iterator[None]:
    """Send the description of every user file or folder :func:`load` reads inside the block (in this
    thread) to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def takes_target(name: str | os.PathLike[str]) -> bool:
    """Whether the data named ``name`` is a file whose target is a column: :data:`TARGET_KINDS`."""
    return os.fspath(name).lower().endswith((*_TABLES, ".npy"))


def file_options(name: str | os.PathLike[str]) -> list[str] | None:
    """The options (``data.options``) that the file or folder named ``name`` is read with
    (``delimiter``, ``target``... for a CSV file); None where the name says no known kind."""
    reader = _reader(expand_home(name, "data.name"))
    return None if reader is None else list(inspect.signature(reader).parameters)[1:]  # the path first


def describe(source: str, data: DatasetInfo | BatchSplits) -> str:
    """``rows.csv, 1,000 rows x 9 features, target column 'price' (regression)``: what was read from
    ``source``, all splits together, and how; the user's dict batches by their keys and each split's
    length (:func:`_describe_batches`)."""
    if isinstance(data, BatchSplits):
        return _describe_batches(source, data)
    parts = [data.train, data.val, data.test] if hasattr(data, "train") else [data.examples, data.test]
    rows = sum(len(part) for part in parts if part is not None)
    shape = data.image_shape or data.input_shape
    if data.image_shape:
        size = f"{count_of(rows, 'image')} of {'x'.join(map(str, shape))}"
    elif len(shape) == 1:
        size = f"{count_of(rows, 'row')} x {count_of(shape[0], 'feature')}"
    else:
        size = f"{count_of(rows, 'row')} of {'x'.join(map(str, shape))} values"
    if data.task == "classification":
        task = f"classification, {count_of(data.num_classes, 'class')}"
    else:
        task = "regression" + (f", {data.num_outputs} targets" if data.num_outputs > 1 else "")
    return f"{source}, {size}" + (f", {data.reading}" if data.reading else "") + f" ({task})"


def _describe_batches(source: str, data: BatchSplits) -> str:
    """``mydata:load, dict items of labels, x: train 360 items, val 120 items (classification on 'labels')``:
    the user's dict batches, kept as given, by their keys and each split's items (a Dataset) or batches."""
    lengths = []
    for name, part in (("train", data.train), ("val", data.val), ("test", data.test)):
        if part is not None:
            size = length_or_none(part)
            unit = "item" if is_map_dataset(part) else "batch"
            lengths.append(f"{name} {count_of(size, unit) if size is not None else plural(unit)}")
    kind = "batches" if data.train_comes_batched else "items"
    if data.target is None:
        task = "no target: the model's own loss"
    else:
        task = f"{'classification on' if data.task == 'classification' else 'target'} {data.target!r}"
    return (
        f"{source}, dict {kind} of {', '.join(sorted(batch_keys(data.train)))}: {', '.join(lengths)} ({task})"
    )


def _load_idx_images(path: Path, labels_path: str | os.PathLike[str] | None = None) -> Examples:
    """IDX inputs; the labels file defaults to MNIST's naming (train-images-idx3 -> train-labels-idx1)."""
    if labels_path is None:
        images = path.name.replace("labels-idx1", "images-idx3").replace("labels.idx1", "images.idx3")
        if images != path.name:  # MNIST's labels file given as the data
            raise InvalidValueError(
                "data file",
                path.name,
                f"the IDX images file ({images}), whose labels are read from {path.name} beside it",
            )
        guess = labels_file_of(path)
        if guess == path or not guess.is_file():
            raise InvalidValueError(
                "labels_path",
                None,
                f"the IDX labels file that goes with {path.name} (labels_path=...; data.options.labels_path "
                "in a recipe)",
            )
        labels_path = guess
    labels = expand_home(labels_path, "labels_path")  # as the data's own path (load), named as typed
    if not labels.is_file():
        raise InvalidValueError("labels_path", str(labels_path), "an existing file")
    return load_idx(path, labels)


def _reader(path: Path) -> Callable[..., Examples] | None:
    """The loader for ``path`` by its name (a folder: of images), or None when the name says no known
    format."""
    if path.is_dir():
        if is_cifar10_folder(path):
            return load_cifar10_folder
        return load_image_folder if is_image_folder(path) else None
    name = path.name.lower()
    if name.endswith(_TABLES):  # before IDX, whose files may end in .gz too
        return load_csv
    if name.endswith((".npy", ".npz")):
        return load_numpy
    if name.endswith((".gz", "ubyte")) or ".idx" in name or "-idx" in name:
        return _load_idx_images
    return None


def check_data_path(text: str, argument: str = "data.name") -> None:
    """Refuse data named by a path that no loader reads, naming ``argument`` (``--dataset``): a Python
    file's (the import path to write instead), a missing one (where it was looked for), a named pipe or
    device (whose read waited for ever), a folder of neither class folders nor CIFAR-10 batches (empty:
    the image folder reader refused it once the run had begun), a file of no known kind. The one wording
    of these refusals, the command line's check before any work and :func:`load`'s."""
    refuse_file_path(text, argument)  # ./mydata.py:load
    path = expand_home(text, argument)
    if not path.exists():
        accepted = (
            f"a built-in data set or an existing file or folder; there is none at {str(path.resolve())!r}"
        )
        raise InvalidValueError(argument, text, accepted)
    if not (path.is_file() or path.is_dir()):
        raise InvalidValueError(argument, text, "a regular file or a folder, not a named pipe or a device")
    if path.is_dir() and _reader(path) is None:  # empty, or CIFAR-10's batches.meta without its batches
        accepted = (
            f"a folder of class folders of images or of CIFAR-10 python-version batches ({', '.join(BATCH_NAMES)}); "
            "it holds neither"
        )
        raise InvalidValueError(argument, text, accepted)
    if _reader(path) is None:
        raise InvalidValueError(argument, text, f"a file of a known kind: {FILE_KINDS}")


@contextlib.contextmanager
def _named_as_typed(text: str, path: Path) -> Iterator[None]:
    """A reader's refusal in the block names the file or folder ``text`` as the user typed it
    (``~/data/cats/dog``), as the CLI's checks do, not ``~`` expanded (``path``: /home/me/data/cats/dog)."""
    try:
        yield
    except InvalidValueError as error:
        # the expanded path only where it begins a path and is whole (followed by a separator or the end):
        # with HOME=/, "PPM/PGM" and the folder '/dog' of '~' are no spelling of it
        expanded = re.compile(rf"(?<![^\s'\"(]){re.escape(str(path))}(?=[/\\]|(?![^\s'\")]))")
        typed = str(Path(text))
        parts = (error.field, error.value, error.accepted)
        respelt = [expanded.sub(lambda _: typed, part) if isinstance(part, str) else part for part in parts]
        if respelt == list(parts):
            raise
        raise InvalidValueError(*respelt) from None


def _read_file(text: str, path: Path, reader: Callable[..., Examples], options: dict[str, Any]) -> Examples:
    """The file or folder ``text`` (``path``, ``~`` expanded) read by ``reader`` with ``options``."""
    check_data_path(text)
    keywords = file_options(path) or []
    for key in options:
        if key not in keywords:
            raise UnknownNameError(f"option for {path.name}", key, keywords)
    with _named_as_typed(text, path):
        data = reader(path, **options)
    if data.task == "classification" and data.num_classes < 2:  # nothing to learn: the loss is 0 from step 0
        raise InvalidValueError(
            f"targets of {path.name}",
            f"one class in all {len(data.examples)} rows",
            "at least two classes; a target of numbers to regress: task='regression' "
            "(data.options.task in a recipe)",
        )
    return data


def load(
    name_or_path: str | os.PathLike[str],
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    data_fraction: float = 1.0,
    **options: Any,
) -> Splits | BatchSplits:
    """Load a registered data set or a file, and split it deterministically from ``seed``.

    Args:
        name_or_path: a name in the ``dataset`` registry (``digits``, ``mnist1d``, ``two_spirals``...),
            a path to a .csv or .tsv (gzipped or not), .npy, .npz or IDX file (``*-ubyte``, ``*.idx*``, gzipped or not), a
            folder of images in one sub-folder per class (:mod:`optimlab.data.image_folder`), a folder
            of CIFAR-10 python-version batches (:mod:`optimlab.data.cifar10`), or the
            user's factory by import path (``mypkg.data:load``, :mod:`optimlab.data.user_factory`).
        seed: draws synthetic data and decides the split (and nothing else).
        val_fraction, test_fraction: shares held out for validation and test, per class for
            classification; each in [0, 1), together below 1.
        data_fraction: share of the remaining training examples kept, in (0, 1]; val and test are
            unchanged, and smaller subsamples are nested in larger ones.
        options: the data set's hyperparameters (``noise=0.2`` for two_spirals), or the file loader's
            keywords (``target="label"`` for a CSV, ``labels_path=...`` for IDX images).

    >>> splits = load("iris", seed=0)
    >>> len(splits.train), len(splits.val), len(splits.test), splits.num_classes
    (90, 30, 30, 3)
    """
    val_fraction, test_fraction, data_fraction = check_fractions(val_fraction, test_fraction, data_fraction)
    seed = whole_number(seed, "seed", SEED)  # before a file is read
    text = os.fspath(name_or_path)
    path = expand_home(text, "data.name")  # "~/rows.csv", as pandas.read_csv and the CLI's checks read it
    reader = _reader(path)
    listener = None  # told what a user's file or factory held, once split
    if text in _REGISTRY or is_import_path(text):  # the user's factory is imported on this lookup
        entry = _REGISTRY.get(text)
        data = entry.create(seed, **options)  # checked, and a whole float for a count (n: 100.0) an int
        if is_import_path(text) and isinstance(data, (DatasetInfo, BatchDataset, BatchSplits)):
            listener = _LISTENER.get()  # (x, y) data: its task was a guess; dict batches: their keys
    elif reader is not None:
        data = _read_file(text, path, reader, options)
        listener = _LISTENER.get()
    elif path.exists() or any(separator in text for separator in "/\\"):
        check_data_path(text)  # refused: no loader reads it
    else:
        raise UnknownNameError("dataset", text, [name for e in _REGISTRY for name in (e.name, *e.aliases)])
    if listener is not None and not isinstance(data, (Examples, BatchDataset)):  # said once split, below
        listener(describe(text, data))
    if isinstance(data, BatchDataset):  # the user's dict items: split by index, not read into memory
        batches = data.split(
            seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, data_fraction=data_fraction
        )
        if listener is not None:
            listener(describe(text, batches))
        return batches
    if isinstance(data, (Splits, BatchSplits)):  # its own fixed splits (DeepOBS's quadratic_deep, the user's)
        given = {"val_fraction": val_fraction, "test_fraction": test_fraction, "data_fraction": data_fraction}
        for field, value in given.items():
            if value != (default := load.__kwdefaults__[field]):
                raise InvalidValueError(
                    f"{field} (data.{field} in a recipe)",
                    value,
                    f"its default {default:g}: {text} has fixed splits of its own",
                )
        return data
    splits = split(
        data, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, data_fraction=data_fraction
    )
    if listener is not None:
        listener(describe(text, data) + _classes_held_out(splits))
    return splits


def _classes_held_out(splits: Splits) -> str:
    """``"; test lacks 2 of the 5 classes"`` where a held-out split has rows but none of some class (split
    per class, rounded: a class of one or two rows gives none), else ``""``. The label the loss ignores
    (:func:`~optimlab.data.examples.label_ignored`) is no class."""
    if splits.task != "classification" or splits.train.y.numel() != len(splits.train):  # per position
        return ""
    lacking = [
        f"{name} lacks {missing} of the {splits.num_classes} classes"
        for name, part in (("val", splits.val), ("test", splits.test))
        if len(part)
        and (missing := splits.num_classes - len(set(part.y.unique().tolist()) - {label_ignored()}))
    ]
    return "".join(f"; {gap}" for gap in lacking)
