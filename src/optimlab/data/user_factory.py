"""The user's own data set by import path: ``data: {name: "mypkg.data:load", options: {...}}``.

The factory gets the recipe's data options as keywords (and ``seed`` when its signature names it) and
returns one of:

* ``(x, y)``: inputs (images channels first, (N, C, H, W)) and targets (tensors or arrays; beside one,
  the other may be a list of numbers, read as ``np.asarray`` reads it), split by the recipe's fractions
  like a built-in set
  (integer targets are classes, one float target per example a regression's; under a regression loss,
  mse, every number is a regression target: :func:`optimlab.build.task_of_loss`);
* ``(train, val)`` or ``(train, val, test)``: each a pair ``(x, y)``, a ``Dataset`` or a ``DataLoader``,
  kept as the user's fixed splits (no test split: an empty one), so the recipe's fractions stay at
  their defaults;
* a ``Dataset`` or ``DataLoader`` of ``(input, target)`` items, read once into memory and split;
* optimlab's own :class:`~optimlab.data.Examples` or :class:`~optimlab.data.Splits`;
* the user's **dict batches** (Hugging Face style, ``{"input_ids": ..., "labels": ...}``): a map-style
  ``Dataset`` of dict items or a dict of equal-length columns (its rows those items:
  :class:`~optimlab.data.user_batches.ColumnRows`) (split by the recipe's fractions and seed, unstratified), or
  ``(train, val[, test])`` each a ``Dataset`` of dict items, a ``DataLoader`` or a list of dict batches.

``(input, target)`` data is materialised into tensors, as every optimlab data set is (fast, and the
batched backend stacks it). Dict batches are kept as they are (:class:`BatchSplits`): a trial trains and
evaluates on them as :func:`optimlab.train.fit` does (:mod:`optimlab.data.user_batches`), with the
model's own loss unless the recipe names one. Registered on first lookup (:mod:`optimlab.user_code`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, RandomSampler, Subset, SubsetRandomSampler

from optimlab.data.examples import (
    ONE_HOT,
    DatasetInfo,
    Examples,
    label_ignored,
    labels_as_given,
    one_hot_rows,
    shared_tensor,
    zero_one,
)
from optimlab.data.global_rng import global_generators_given_back, seed_numpy_and_python
from optimlab.data.numpy_file import channels_last
from optimlab.data.splits import (
    Splits,
    check_fractions,
    no_training_rows,
    rounded,
    say_empty,
    untrained_classes,
)
from optimlab.data.torch_dataset import MORE_THAN_PAIRS, Pairs, finite, in_one_mode, read_pairs
from optimlab.data.user_batches import (
    ColumnRows,
    describe,
    examples_not_batches,
    is_columns,
    is_map_dataset,
    is_pandas,
    is_split_dict,
    loader_batch_size,
    loader_shuffles,
    one_example_each,
    pandas_values,
    target_key,
)
from optimlab.errors import InvalidValueError, a_type
from optimlab.user_code import call_user, check_required, defined_at, factory_signature, positional_only

__all__ = ["ACCEPTED_RETURNS", "BatchDataset", "BatchSplits", "adapt_dataset", "as_data", "batch_keys"]

ACCEPTED_RETURNS = (
    "(x, y) tensors or arrays, (train, val[, test]) splits each a pair, Dataset or DataLoader, "
    "a Dataset or DataLoader of (input, target) items, optimlab Examples or Splits, "
    "or dict batches: a Dataset of dict items, or (train, val[, test]) of them"
)


def _first(data: Any) -> Any:
    """The first item of a Dataset, or the first batch of a DataLoader or a list of batches; None for
    anything else (or nothing in it)."""
    if isinstance(data, (Tensor, np.ndarray, str, bytes, Mapping, tuple)):
        return None
    if is_map_dataset(data):
        return data[0] if len(data) else None
    if isinstance(data, (DataLoader, IterableDataset, list)):
        return next(iter(data), None)
    return None


def _holds_dicts(data: Any) -> bool:
    return isinstance(_first(data), Mapping)


def batch_keys(data: Any) -> frozenset[str]:
    """The keys of ``data``'s first dict item or batch (:func:`_first`); none where it holds no dict."""
    first = _first(data)
    return frozenset(first) if isinstance(first, Mapping) else frozenset()


def _target_key(data: Any) -> str | None:
    """The key of ``data``'s targets in its first item or batch, the first of
    :data:`~optimlab.data.user_batches.TARGET_KEYS` there; None where it holds none."""
    first = _first(data)
    return target_key(first)


def _one_class_each(data: Any) -> bool:
    """Whether ``data``'s targets (:func:`_target_key`) are one class index per example: an int per item,
    an integer vector per batch."""
    key = _target_key(data)
    labels = None if key is None else _first(data)[key]
    batched = isinstance(data, (DataLoader, list))  # a Dataset gives items, a loader or list batches
    if isinstance(labels, int) and not isinstance(labels, bool):
        return not batched
    return (
        isinstance(labels, Tensor)
        and not (labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool)
        and labels.ndim == int(batched)
    )


@dataclasses.dataclass(frozen=True)
class BatchSplits:
    """The user's own dict batches, kept as given (not read into memory): ``train``, ``val`` and ``test``
    (None: no test split), each a Dataset of dict items, a DataLoader or a list of dict batches.

    ``task`` is ``"classification"`` when the validation targets are one class index per example (a
    study then tunes on ``val_accuracy``), else ``"batches"`` (tuned on ``val_loss``); ``target`` is the
    key of the training batches' targets (``labels``...), None where they hold none.
    """

    name: str
    train: Any
    val: Any
    test: Any = None
    task: str = "batches"
    target: str | None = None
    loss: None = None  # a data set's own loss (DatasetInfo.loss): the user's batches bring none

    @property
    def train_comes_batched(self) -> bool:
        """Whether the training split comes batched (a DataLoader, a list of batches), keeping its own
        batch size, order and drop_last; else it is a Dataset of dict items, which the recipe batches."""
        return not is_map_dataset(self.train)

    def training_labels(self) -> Tensor | None:
        """The training split's class labels, one per example, read item by item (a Dataset) or batch by
        batch (a DataLoader, a list); None unless the task is classification. Torch's, NumPy's and
        Python's global generators are given back after it (a shuffling DataLoader draws from torch's)."""
        if self.task != "classification" or self.target is None:
            return None
        data = self.train
        parts = (data[i] for i in range(len(data))) if is_map_dataset(data) else data
        with global_generators_given_back():
            labels = [torch.as_tensor(part[self.target]).reshape(-1) for part in parts]
        return torch.cat(labels).long() if labels else None


@dataclasses.dataclass(frozen=True)
class BatchDataset:
    """A Dataset of dict items, to split by the recipe's fractions (:meth:`split`)."""

    name: str
    dataset: Any

    def split(
        self, *, seed: int, val_fraction: float, test_fraction: float, data_fraction: float
    ) -> BatchSplits:
        """Items shuffled from ``seed`` (not stratified: the labels are not read), the first
        ``test_fraction`` to test, the next ``val_fraction`` to validation, a ``data_fraction`` of the rest
        (at least one) to training, as :func:`optimlab.data.split` does for tensors."""
        val_fraction, test_fraction, data_fraction = check_fractions(
            val_fraction, test_fraction, data_fraction
        )
        n = len(self.dataset)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
        n_test, n_val = rounded(n, test_fraction), rounded(n, val_fraction)
        rest = order[n_test + n_val :]
        train = rest[: max(1, rounded(len(rest), data_fraction))]
        if not train:
            raise no_training_rows(self.name, n, val_fraction, test_fraction)
        say_empty(self.name, n, {"val": val_fraction, "test": test_fraction}, {"val": n_val, "test": n_test})
        parts = [Subset(self.dataset, rows) for rows in (train, order[n_test : n_test + n_val])]
        test = Subset(self.dataset, order[:n_test]) if n_test else None
        task = _task(parts[1] if len(parts[1]) else parts[0])
        return BatchSplits(self.name, *parts, test=test, task=task, target=_target_key(parts[0]))


def _task(data: Any) -> str:
    return "classification" if _one_class_each(data) else "batches"


def _dict_batches(value: Any, name: str, returned: str) -> BatchSplits | BatchDataset | None:
    """``value`` as the user's dict batches, or None when it holds none; ``returned`` names ``value`` in a
    refusal (:func:`as_data`)."""
    if _holds_dicts(value):
        if not is_map_dataset(value):
            raise InvalidValueError(
                returned,
                f"{describe(value)} of dict batches, to split",
                "a Dataset of dict items (split by the recipe's fractions), or your own splits "
                "(train, val[, test]) each a Dataset, DataLoader or list of dict batches",
            )
        return BatchDataset(name, value)
    if isinstance(value, (tuple, list)) and len(value) in (2, 3) and any(map(_holds_dicts, value)):
        for i, part in enumerate(value):
            if not _holds_dicts(part):  # read as (x, y) splits, the dict items were named 'not a pair'
                empty = _first(part) is None and isinstance(part, (Dataset, DataLoader, list))
                raise InvalidValueError(
                    f"split {i} of {name}",
                    "an empty " + type(part).__name__ if empty else describe(part),
                    "dict items or batches, as the other splits hold"
                    + (", at least one" if empty else ": every split of one kind"),
                )
        train, val, *test = value
        test = test[0] if test else None
        return BatchSplits(name, train, val, test, task=_task(val), target=_target_key(train))
    return None


def _is_array(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray))


def _arrays_of_pair(value: Any) -> tuple[Any, Any] | None:
    """``value``'s (x, y) as tensors or arrays: each given so, or one given so beside a list of numbers (or
    of rows of them) as ``np.asarray`` makes it, exactly (ints stay ints), as scikit-learn takes
    ``(X, [0, 1, 0, 1])``; None where ``value`` is no such pair."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and any(map(_is_array, value))):
        return None
    x, y = (part if _is_array(part) else _numbers_array(part) for part in value)
    return None if x is None or y is None else (x, y)


def _numbers_array(part: Any) -> np.ndarray | None:
    """``part``, a list or tuple of numbers (or of rows of them), as ``np.asarray`` makes it: bools, ints
    or floats; None for anything else (rows of several lengths, text, numbers no dtype holds)."""
    if not _listed(part, numbers.Number):
        return None
    try:
        array = np.asarray(part)
    except (ValueError, OverflowError):  # rows of several lengths; an int past int64
        return None
    return array if array.dtype.kind in "biuf" else None


def _listed(value: Any, *kinds: type) -> bool:
    """Whether ``value`` is a non-empty list or tuple whose first item, followed down through lists and
    tuples, is one of ``kinds``."""
    if not (isinstance(value, (tuple, list)) and value):
        return False
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return isinstance(value, kinds)


_ROWS = (numbers.Number, str, Tensor, np.ndarray)  # what a list of a pair's rows holds


def _listed_pair(value: Any) -> bool:
    """Whether ``value`` is an (x, y) pair with a list for a part (of numbers, text, or rows, which
    :func:`_arrays_of_pair` did not take), the other a list or a tensor or array: not two lists of numbers
    (two rows of features) nor a pair of pairs ((train, val) splits)."""
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        return False
    parts_fit = all(_is_array(part) or _listed(part, *_ROWS) for part in value)
    two_rows = all(
        isinstance(part, (tuple, list)) and all(isinstance(v, (numbers.Number, str)) for v in part)
        for part in value
    )
    lists = not all(map(_is_array, value))
    return parts_fit and lists and not two_rows and not any(map(_listed_pair, value))


def _listed_pair_refused(given: Any, field: str) -> InvalidValueError:
    """The refusal of ``given``, a pair of :func:`_listed_pair` as the user gave it (pandas kept), naming
    each part and how to make each list one array or tensor."""
    lists = [part for part in given if isinstance(part, (tuple, list))]
    advice = {
        "each list of tensors one tensor (torch.stack)"
        if _listed(part, Tensor)
        else "each list an array (np.asarray)"
        for part in lists
    }
    return InvalidValueError(
        field,
        f"({', '.join(map(_part_named, given))})",
        "(x, y) of tensors or arrays (NumPy, pandas) alike, one row per example: make "
        + ", ".join(sorted(advice)),
    )


def _part_named(part: Any) -> str:
    """A part of a pair in words, of the type given: ``ndarray of shape (4, 3)``, ``DataFrame of shape
    (4, 1)``, ``list of 4``, ``list of 4 ndarray``."""
    if hasattr(part, "shape"):
        return f"{type(part).__name__} of shape {tuple(part.shape)}"
    rows = "" if _listed(part, numbers.Number, str) else f" {type(part[0]).__name__}"
    return f"{type(part).__name__} of {len(part)}{rows}"


_NUMBERS = "numbers (bool, integer or float): encode text, categories and dates as numbers in the factory"


def _inputs(x: Tensor | np.ndarray, name: str) -> Tensor:
    """Inputs as a tensor; an array of anything but numbers (text, dates, Python objects), which torch
    cannot hold, is refused by its dtype."""
    if isinstance(x, np.ndarray) and x.dtype.kind not in "biufc":  # complex: refused by Examples
        raise InvalidValueError(f"inputs of {name}", f"an array of dtype {x.dtype}", _NUMBERS)
    return shared_tensor(x) if isinstance(x, np.ndarray) else torch.as_tensor(x)


def _targets(y: Tensor | np.ndarray) -> Any:
    """Targets as a tensor; class names (an array of strings) stay an array, which
    :meth:`~optimlab.data.Examples.from_arrays` maps to class ids, over every split at once."""
    if isinstance(y, np.ndarray):
        return y if y.dtype.kind in "USO" else shared_tensor(y)
    return torch.as_tensor(y)


def _pair(value: Any, name: str) -> Pairs | None:
    """``value`` as two tensors (and how its Pillow images were read), or None when it is not a pair
    (:func:`_arrays_of_pair`), a Dataset or a DataLoader."""
    arrays = _arrays_of_pair(value)
    if arrays is not None:
        x, y = _inputs(arrays[0], name), _targets(arrays[1])
        if x.ndim == 0:
            raise InvalidValueError(f"inputs of {name}", "shape ()", "one row per example, shape (N, ...)")
        if y.ndim == 0 or len(y) != len(x):  # refused later, neither the data nor x was named
            raise InvalidValueError(
                f"targets of {name}",
                f"shape {tuple(y.shape)}",
                f"one target per row of the inputs, whose shape is {tuple(x.shape)}",
            )
        return Pairs(x, y)
    if isinstance(value, DataLoader):
        batched = loader_batch_size(value)  # None: it yields rows
        batches = list(finite(_every_row(value, name), name, _rows if batched else lambda _: 1))
        if not batches:
            raise InvalidValueError(f"batches of {name}", "an empty DataLoader", "at least one batch")
        odd = next(
            (i for i, b in enumerate(batches) if not (isinstance(b, (tuple, list)) and len(b) == 2)), None
        )
        if odd is not None:
            several = isinstance(batches[odd], (tuple, list)) and len(batches[odd]) > 2
            raise InvalidValueError(
                f"batch {odd} of {name}",
                describe(batches[odd]),
                "an (input, target) pair" + (f"; {MORE_THAN_PAIRS}" if several else ""),
            )
        pieces = [(batch[0], batch[1]) for batch in batches]
        join = torch.cat if batched else torch.stack
        return Pairs(join([x for x, _ in pieces]), join([y for _, y in pieces]))
    if isinstance(value, (Dataset, IterableDataset)):
        return read_pairs(value, name)
    return None


def _rows(batch: Any) -> int:
    """The rows of a batch ``(inputs, target)``: its inputs' first dimension; one for anything else."""
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else None
    return len(first) if isinstance(first, Tensor) and first.ndim else 1


def _every_row(loader: DataLoader, name: str) -> DataLoader:
    """``loader`` with its last, smaller batch kept: read into memory once, ``drop_last`` would lose
    those rows for good (from training, and from the validation or test score); its sampler's rows, in
    the order of the dataset, and its collate function stay its own. Read in a shuffling sampler's order,
    the rows in memory (so each trial's batches and the split) would follow torch's global random state
    at the call, and the same seed would not give the same numbers; the recipe's seed orders them. A
    sampler that draws rows with replacement (weighted) is refused: read once, its repeated rows would
    be split into validation and test beside their copies in training."""
    for sampler in (loader.sampler, getattr(loader.batch_sampler, "sampler", None)):
        if getattr(sampler, "replacement", False):
            raise InvalidValueError(
                f"the sampler of {name}",
                f"{a_type(sampler)} drawing rows with replacement",
                "a DataLoader that reads each row once: read into memory and split, repeated rows would "
                "reach validation and test beside their copies in training; give its Dataset (a weighted "
                "draw does not carry over: each trial trains on every row, in the recipe's order)",
            )
    shuffles = isinstance(loader.sampler, (RandomSampler, SubsetRandomSampler))
    own_batches = loader.batch_size is None and loader.batch_sampler is not None  # read as they come
    if not (loader.drop_last or shuffles) or own_batches:
        return loader
    kept = {"batch_size": loader.batch_size, "collate_fn": loader.collate_fn}
    if isinstance(loader.dataset, IterableDataset):  # it takes no sampler
        return DataLoader(loader.dataset, **kept)
    return DataLoader(loader.dataset, sampler=sorted(loader.sampler) if shuffles else loader.sampler, **kept)


def _examples(pairs: Pairs, name: str) -> Examples:
    """The user's rows as :class:`~optimlab.data.Examples`; several class labels per example, which rows
    of (x, y) cannot hold, are refused naming the shape that holds them: dict batches. The label -100,
    cross-entropy's ``ignore_index``, is kept out of the classes where the loss ignores it
    (:func:`~optimlab.data.examples.label_ignored`) and refused under one that does not: mapped to a class
    id of its own for optimlab's loss, or counted as a class under the user's own, the rows meant to be
    ignored were trained and scored as one. Images kept channels last (N, H, W, C) are refused too, naming
    the transpose: a CNN took their rows for channels, and read as an .npz file's are (transposed), they
    would train a model written for them on (N, C, H, W) without a word; the user's Examples keep them.
    Pillow images keep their image shape and the reading of their modes, and (N, C, H, W) inputs are
    images as an .npz file's are (:meth:`Pairs.examples`)."""
    x, y = pairs.x, pairs.y
    if channels_last(tuple(x.shape)):
        raise InvalidValueError(
            f"inputs of {name}",
            f"images kept channels last, shape {tuple(x.shape)}",
            "images channels first (N, C, H, W), as torch's layers take them: return x.permute(0, 3, 1, 2) "
            "(numpy: x.transpose(0, 3, 1, 2)); inputs that are no images (joints x coordinates), kept as they "
            "are: return optimlab.data.Examples.from_arrays(x, y, name=...)",
        )
    one_each = isinstance(y, Tensor) and not y.is_floating_point() and y.numel() == len(y)
    ignored = int((y == -100).sum()) if one_each and label_ignored() != -100 else 0  # several: refused below
    if ignored:
        own = (
            "it has no ignore_index" if label_ignored() is None else f"its ignore_index is {label_ignored()}"
        )
        read = "would reach it as given" if labels_as_given() else "would be mapped to a class of its own"
        raise InvalidValueError(
            f"class labels of {name}",
            f"-100 in {ignored} rows",
            f"labels of classes only: the loss does not ignore -100 ({own}), so those rows {read}, trained "
            "and scored as a class; drop them, or train with a loss that ignores them, as torch's "
            "CrossEntropyLoss() does",
        )
    try:
        return pairs.examples(name)
    except InvalidValueError as error:
        if error.field != f"class labels of {name}":
            raise
        several = (
            "several per example (a class per position, multi-label 0/1 columns) train as dict batches: a "
            "Dataset of {'<forward's argument>': x, 'labels': y} items, kept as they are, with your loss"
        )  # after one-hot's advice too: multi-label rows of one tag each look the same
        raise InvalidValueError(
            error.field,
            error.value,
            "one label per example, shape (N,) or (N, 1), in (x, y) rows; "
            + (f"{ONE_HOT}; {several}" if one_hot_rows(y) else several),
        ) from None


def _pandas_as_arrays(value: Any, name: str, returned: str) -> Any:
    """``(frame[features], frame[target])``, or splits of such pairs, with each pandas frame and Series as
    its array, read as numpy pairs are. A whole frame, which does not say which column is the target
    (read by index, ``frame[0]`` was a KeyError), is refused, ``returned`` naming it (:func:`as_data`)."""
    whole = f"its inputs and target apart, (frame[features], frame[target]), or {ACCEPTED_RETURNS}"
    if is_pandas(value):
        raise InvalidValueError(returned, f"{a_type(value)} alone", whole)
    if not isinstance(value, (tuple, list)):
        return value
    if len(value) == 2 and any(map(is_pandas, value)):
        target = value[1]
        if is_pandas(target) and target.ndim == 2 and target.shape[1] > 1:  # two whole frames
            raise InvalidValueError(
                returned,
                f"a pair of frames, the second of {target.shape[1]} columns (no target)",
                whole,
            )
        features = value[0]
        if is_pandas(features):
            kinds = features.dtypes if features.ndim == 2 else {features.name: features.dtype}
            odd = [f"{column!r} ({kind})" for column, kind in kinds.items() if kind.kind not in "biuf"]
            if odd:
                raise InvalidValueError(f"feature columns of {name}", ", ".join(odd), _NUMBERS)
        return tuple(pandas_values(v) if is_pandas(v) else v for v in value)
    return type(value)(
        _pandas_as_arrays(part, name, returned) if isinstance(part, (tuple, list)) else part for part in value
    )


def _kind(values: Tensor | np.ndarray) -> str:
    """``names``, ``floats`` or ``integers``: what a split's targets are, which every split shares."""
    if isinstance(values, np.ndarray):
        return "names"
    return "floats" if values.is_floating_point() else "integers"


def _check_alike(parts: list[Pairs], name: str) -> None:
    """Refuse splits whose examples differ from the first split's: inputs or targets of another shape
    per row (``torch.cat`` raised 'Sizes of tensors must match'), or targets of another kind (integer
    classes beside floats were joined as floats, a regression; but for 0/1 labels, binary either way)."""
    first = parts[0]
    for i, part in enumerate(parts[1:], 1):
        for what, ours, theirs in (("inputs", first.x, part.x), ("targets", first.y, part.y)):
            if ours.shape[1:] != theirs.shape[1:]:
                raise InvalidValueError(
                    f"{what} of {name} split {i}",
                    f"rows of shape {tuple(theirs.shape[1:])}",
                    f"rows of split 0's shape, {tuple(ours.shape[1:])}: every split holds the same examples",
                )
        numbers = "names" not in (_kind(first.y), _kind(part.y))
        if _kind(first.y) != _kind(part.y) and not (numbers and zero_one(first.y) and zero_one(part.y)):
            raise InvalidValueError(
                f"targets of {name} split {i}",
                f"{_kind(part.y)} ({describe(part.y) if isinstance(part.y, Tensor) else part.y.dtype})",
                f"{_kind(first.y)}, as split 0's: every split's targets of one kind",
            )


def as_data(
    value: Any, name: str, *, returned: str | None = None
) -> Examples | Splits | BatchSplits | BatchDataset:
    """What the user's factory returned, as optimlab's examples to split or fixed splits, or as the user's
    dict batches (kept as they are). ``returned`` names ``value`` in a refusal (default: what dataset
    ``name`` returned; a factory's adds where it is defined, :func:`~optimlab.user_code.defined_at`)."""
    if isinstance(value, (Examples, Splits, BatchSplits, BatchDataset)):
        return value
    returned = returned or f"what dataset {name!r} returned"
    given = value  # its pandas parts named as given in a refusal
    value = _pandas_as_arrays(value, name, returned)
    # a dict of columns (a Hugging Face dataset's to_dict()), its rows as dict items; not one of splits
    if is_columns(value):
        value = ColumnRows(value, returned, with_target=False)
    _refuse_examples_one_each(value, returned, name)
    batches = _dict_batches(value, name, returned)
    if batches is not None:
        return batches
    whole = _pair(value, name)
    if whole is not None:
        return _read_from(_loader_reading(value), _examples(whole, name))
    if isinstance(value, (tuple, list)) and len(value) in (2, 3):
        parts = [_pair(part, f"{name} split {i}") for i, part in enumerate(value)]
        if all(part is not None for part in parts):
            parts = in_one_mode(parts)
            _check_alike(parts, name)
            # Labels of all splits are mapped together, so a class has one id in each.
            ys = [p.y for p in parts]
            y = np.concatenate(ys) if isinstance(ys[0], np.ndarray) else torch.cat(ys)
            modes = (  # of every split's images (in_one_mode), else of the image splits, named so
                parts[0].reading
                if all(p.modes for p in parts)
                else "; ".join(
                    f"split {i} ({split}): {p.reading}"
                    for i, (split, p) in enumerate(zip(("train", "val", "test"), parts))
                    if p.reading
                )
            )
            joined = _examples(Pairs(torch.cat([p.x for p in parts]), y, parts[0].image_shape, modes), name)
            ends = np.cumsum([0, *(len(p.x) for p in parts)])
            train, val, *test = (
                joined.examples.subset(torch.arange(a, b)) for a, b in itertools.pairwise(ends)
            )
            info = {f.name: getattr(joined, f.name) for f in dataclasses.fields(DatasetInfo)}
            info["reading"] = _read_from(_loader_reading(value[0]), joined).reading
            held_out = {
                f"split {i} ({split})": p.y for i, (split, p) in enumerate(zip(("val", "test"), parts[1:]), 1)
            }
            untrained = untrained_classes(parts[0].y, "split 0 (train)", held_out, joined.ignored_label)
            if joined.task == "classification" and untrained:
                info["reading"] = "; ".join(filter(None, [info["reading"], untrained]))
            return Splits(**info, train=train, val=val, test=test[0] if test else val.subset(torch.arange(0)))
        for i, (part, read) in enumerate(zip(value, parts)):
            if read is None and _listed_pair(part):
                raise _listed_pair_refused(given[i], f"split {i} of {name}")
    if _listed_pair(value):
        raise _listed_pair_refused(given, returned)
    if _rows_apart(value):
        raise InvalidValueError(
            returned,
            describe(value),
            f"(x, y): inputs and targets of one row per example; {MORE_THAN_PAIRS}",
        )
    if is_split_dict(value):  # Hugging Face's DatasetDict, or a dict like it
        val = next((key for key in ("validation", "val", "valid", "dev") if key in value), None)
        order = ["d['train']", f"d[{val!r}]" if val else "a val split", *(["d['test']"] * ("test" in value))]
        raise InvalidValueError(
            returned,
            f"{a_type(value)} of the splits {', '.join(map(repr, value))}",
            f"the splits in order, (train, val) or (train, val, test), told apart by their place, not their "
            f"names: return ({', '.join(order)})",
        )
    raise InvalidValueError(returned, describe(value), ACCEPTED_RETURNS)


def _loader_reading(train: Any) -> str | None:
    """How the rows of ``train``, a ``DataLoader`` of its own batches, are trained: read into memory, they
    are batched as the recipe says (its fields, which ``optimlab.compare`` takes from the loader given
    as an object), so a factory's loader of 8 rows a batch was trained in batches of 32 without a word."""
    size = loader_batch_size(train) if isinstance(train, DataLoader) else None
    if size is None:
        return None
    own = ", ".join(
        [f"batch_size {size}"] + ["shuffle"] * loader_shuffles(train) + ["drop_last"] * train.drop_last
    )
    return (
        f"read as rows from its DataLoader ({own}): trained in the recipe's batches (training.batch_size, "
        "shuffle, drop_last)"
    )


def _read_from(loader: str | None, data: Examples) -> Examples:
    """``data`` whose reading says, first, how its ``loader``'s rows are trained (:func:`_loader_reading`)."""
    return dataclasses.replace(data, reading=", ".join(filter(None, [loader, data.reading])) or None)


def _refuse_examples_one_each(value: Any, returned: str, name: str) -> None:
    """Refuse ``value``, or one of its splits, that is a list of examples one each, (input, target) items
    read neither as rows nor as batches (:func:`~optimlab.data.user_batches.one_example_each`), saying
    how to batch them, rather than naming every shape of data accepted."""
    if one_example_each(value):
        raise examples_not_batches(value, returned)
    if isinstance(value, (tuple, list)) and len(value) in (2, 3):
        for i, part in enumerate(value):
            if one_example_each(part):
                raise examples_not_batches(part, f"split {i} of {name}")


def _rows_apart(value: Any) -> bool:
    """Whether ``value`` is three or more arrays of one number of rows: (inputs, targets, weights), not
    (train, val, test) splits."""
    arrays = isinstance(value, (tuple, list)) and len(value) >= 3 and all(map(_is_array, value))
    return arrays and all(v.ndim for v in value) and len({len(v) for v in value}) == 1


@contextlib.contextmanager
def _global_generators_seeded(seed: int) -> Iterator[None]:
    """torch's CPU, NumPy's and Python's global random generators seeded with ``seed`` for the block, then
    given back: a factory drawing from them without a seed of its own (``torch.randn``, ``np.random``)
    returned other data at each call, so two identical ``optimlab train`` commands, or one study's seed
    reruns of two optimizers, trained on different data; now the seed decides them, and the caller's
    own draws (the model's initial weights) are not shifted by the factory's."""
    with global_generators_given_back():
        torch.default_generator.manual_seed(seed)  # the CPU one, which the block gives back: not the GPUs'
        seed_numpy_and_python(seed)
        yield


def adapt_dataset(path: str, target: Any) -> Callable[..., Any]:
    """``target`` as a data set entry ``fn(seed, **options)`` returning what :func:`as_data` returns."""
    if not callable(target):
        raise InvalidValueError(f"dataset {path!r}", type(target).__name__, "a function returning data")
    signature = factory_signature(path, "dataset", target)
    takes_seed = "seed" in signature.parameters
    check_required(path, "dataset", target, signature, {"seed"})  # at lookup, as a model factory's
    said = f"what dataset {path!r} returned{defined_at(target)}"  # a refusal of what it returned

    def factory(seed: int, **options: Any) -> Any:
        with _global_generators_seeded(seed):
            keywords = {**({"seed": seed} if takes_seed else {}), **options}
            positional = positional_only(signature, keywords)  # def load(seed, /): by position alone
            returned = call_user("dataset", path, target, *positional, **keywords)
            # Reading what it returned runs the user's code too (a Dataset's __getitem__, a DataLoader's
            # collate): what that raises is said in one line as well, not as a traceback.
            return call_user("reading dataset", path, as_data, returned, path, returned=said)

    factory.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name != "seed"]
    )
    factory.__doc__ = target.__doc__
    return factory
