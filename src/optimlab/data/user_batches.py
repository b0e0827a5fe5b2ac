"""The user's data in whatever shape a PyTorch user has it: one stream of batches, and the loss of a batch.

Data (what :class:`UserBatches` accepts):

* **two tensors** ``(x, y)`` with the same number of rows, or numpy arrays (tensors of their own
  dtype, as ``torch.from_numpy`` makes them), or splits with ``.train.x``/``.train.y`` (as
  :func:`optimlab.data.load` returns; splits of dict batches give their ``.train``, read as below):
  batches of ``batch_size`` rows in the order of :func:`~optimlab.data.batches.epoch_order`, the order
  :func:`optimlab.train.fit` draws; beside a ``loss_fn``, several inputs and their target ``(x1, x2, y)``,
  of one number of rows, are read as ``TensorDataset(x1, x2, y)`` (below), the model given ``(x1, x2)``;
* a **dict of columns** of equal length (Hugging Face's ``{"input_ids": (N, L), "label": (N,)}``, a
  ``datasets`` batch or ``to_dict()``: tensors, numpy arrays or lists): read as its rows, each a dict,
  batched as a Dataset's; beside a ``loss_fn`` its target is the one column named as a target
  (:func:`~optimlab.data.tables.target_named`, as a CSV file's);
* a map-style **Dataset** (``torch.utils.data.Dataset``, or anything with ``__getitem__`` and
  ``__len__`` that is not a list): the same order, items collated by torch's ``default_collate``;
* an **IterableDataset**: batched in reading order;
* a **DataLoader**, or any other re-iterable of batches (a list of batches): read as it is, epoch
  after epoch. A one-shot iterator (a generator) is refused: training reads the data more than once, and
  so is a list of examples one each, ``[(x_i, y_i), ...]`` (a 0-dim target, or one of shape (1,) beside 1-dim
  inputs of several: :func:`one_example_each`),
  which read as batches trained each example unbatched, a step of its own.

Batches: a tuple or list ``(inputs..., target)``, a dict of named inputs (Hugging Face style), or a
lone tensor. The loss of a batch (:meth:`UserBatches.compute_loss`) is one of:

* ``loss_fn(outputs, targets)``: the target is a tuple's last element or a dict's ``labels`` (or
  ``label``, ``targets``, ``target``, ``y``, ``class``, in any case); the model gets the rest, ``model(*inputs)`` or
  ``model(**inputs)`` (or the dict whole, where the forward takes one argument named by none of its
  keys: ``def forward(self, batch)``); outputs with ``.logits`` (Hugging Face's) give their logits to a ``loss_fn``
  that cannot take them whole (``nn.CrossEntropyLoss``), and come whole to one that can (a loss of
  torchvision's Inception's ``.aux_logits`` beside its ``.logits``), as a hand-written loop gives them;
* nothing: the model returns its own loss from the whole batch, ``model(**batch).loss`` (Hugging
  Face), a mapping's ``"loss"``, a tuple's first element (``(loss, logits, ...)``: Hugging Face's
  ``return_dict=False``), or a scalar tensor;
* ``compute_loss(model, batch)``: anything else.

>>> import torch
>>> from torch import nn
>>> data = UserBatches((torch.randn(10, 3), torch.randint(0, 2, (10,))), nn.CrossEntropyLoss(), batch_size=4)
>>> model = nn.Linear(3, 2)
>>> [tuple(x.shape) for x, _ in data.epoch(0)], data.steps_per_epoch
([(4, 3), (4, 3), (2, 3)], 3)
>>> data.compute_loss(model, next(data.stream("cpu"))).ndim
0
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import itertools
import math
import numbers
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
    default_collate,
)

from optimlab.data.batches import epoch_order, steps_per_epoch
from optimlab.data.examples import int64_labels, shared_tensor
from optimlab.data.global_rng import global_states, kept_states, set_global_states, torch_state
from optimlab.data.tables import TARGET_NAMES, target_named
from optimlab.errors import InvalidValueError, OptimlabError, a_type, with_article
from optimlab.nested_tensors import map_tensors
from optimlab.registry import BATCH_ROWS, SEED, whole_number

__all__ = [
    "ACCEPTED_DATA",
    "TARGET_KEYS",
    "ColumnRows",
    "Forward",
    "UserBatches",
    "batch_parts",
    "batch_target",
    "broadcast_mix_up",
    "describe",
    "examples_not_batches",
    "first_loss",
    "is_columns",
    "is_map_dataset",
    "is_pandas",
    "is_split_dict",
    "loader_batch_size",
    "loader_shuffles",
    "one_example_each",
    "own_pairs",
    "pandas_values",
    "prediction",
    "relative_gap",
    "takes_dict_whole",
    "target_key",
]

ACCEPTED_DATA = (
    "a pair of tensors or numpy arrays (x, y) with the same number of rows, splits with .train.x and "
    ".train.y (optimlab.data.load), a Dataset, a DataLoader or a list of batches (tuples, lists or dicts)"
)
# Where a dict batch keeps its target when a loss_fn is given; Hugging Face's own name first.
TARGET_KEYS = TARGET_NAMES
_BATCHES = "a tuple or list (inputs..., target), a dict of named inputs, or a tensor"
_NOTHING = object()  # no batch read ahead yet
# torch keeps them but has no arithmetic for them; targets of them are taken as int64 (int64_labels)
_WIDE_UNSIGNED = (torch.uint16, torch.uint32, torch.uint64)
_Out = TypeVar("_Out")


SHOWN_ITEMS = 4  # the items of a list or tuple a message names: a list of 100 pairs named each of them


def describe(value: Any) -> Any:
    """A value as messages name it: a tensor by its dtype and shape, a container by its items (a dict's
    under their keys; tensors by dtype and shape, the rest by type; a list's or tuple's first
    :data:`SHOWN_ITEMS`), a number or string as itself, anything else by its type."""
    if value is None or isinstance(value, (str, bytes, int, float)):
        return value
    if isinstance(value, Tensor):
        return f"{with_article(_dtype(value))} tensor of shape {tuple(value.shape)}"
    if isinstance(value, Mapping):
        keys = sorted(value, key=str)
        items = (f"{key!r}: {_item(value[key])}" for key in keys)
        return f"{a_type(value)} of {{{', '.join(items)}}}"
    if isinstance(value, (tuple, list)):
        items = [_item(item) for item in value[:SHOWN_ITEMS]]
        more = len(value) - len(items)
        return f"{a_type(value)} of {len(value)} ({', '.join(items)}{f', ... {more} more' if more else ''})"
    return a_type(value)


# What a model or its loss raises on a batch it cannot take (another number of features, a label past
# its classes, a dtype it does not take).
UNUSABLE_BATCH = (RuntimeError, TypeError, ValueError, IndexError, KeyError, AttributeError)


def first_loss(closure: Callable[[], _Out], batch: Any, field: str = "the first batch") -> _Out:
    """The first step's loss (or an evaluation's outputs); a batch that the model or the loss cannot
    take is named in one line, as bad input, ``field`` saying which (:func:`batch_refused`), rather than
    surfacing as a traceback from deep inside the user's model."""
    try:
        return closure()
    except UNUSABLE_BATCH as error:
        refused = batch_refused(error, field, batch)
        if refused is None:
            raise
        raise refused from error


def batch_refused(error: BaseException, field: str, batch: Any) -> InvalidValueError | None:
    """The refusal of ``batch``, named ``field``, on which the model or its loss raised ``error``
    (:data:`UNUSABLE_BATCH`), torch's reason beside it; where torch's cross-entropy found a label the
    model has no class score for (its 'Target 6 is out of bounds.', which names neither the model nor a
    fix), what that label needs. None for optimlab's own refusals, a GPU out of memory (no fault of the
    batch: the command line says to make the model, the batch or the run smaller) and other errors."""
    misread = error if isinstance(error, _MisreadBatchError) else None
    if misread is not None:  # what the model or the loss raised, the hint for the situation added below
        error = misread.__cause__
    if not _of_the_batch(error):
        return None
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    found = re.search(r"Target (-?\d+) is out of bounds", reason) if isinstance(error, IndexError) else None
    needs = ""
    if found is not None:
        label = int(found.group(1))
        needs = (
            f": a label of {label}: class ids count from 0 (cross-entropy skips -100 alone, its ignore_index)"
            if label < 0
            else f": a label of {label} is class {label}, which needs {label + 1} or more class scores a row: "
            "the model gives fewer (its last layer's outputs), or the labels are no class ids 0..C-1 (remap them)"
        )
    low = _lowest_label(batch)
    if not needs and low is not None and low < 0 and any(words in reason for words in _LABEL_ERRORS):
        # a loss with no ignore_index (MultiMarginLoss, one_hot in a focal loss) indexed by a label of -100
        needs = (
            f": a label of {low}, which the loss takes as a class id (they count from 0): it has no "
            "ignore_index to skip it (nn.CrossEntropyLoss skips -100); drop or remap those labels, or use a "
            "loss that ignores them"
        )
    if isinstance(error, IndexError) and reason == "index out of range in self":  # nn.Embedding's words
        held = "; ".join(_id_ranges(batch))
        needs = (
            ": an embedding (nn.Embedding) was given an id outside its rows, which count from 0 to its "
            "num_embeddings - 1 (a Hugging Face model's config.vocab_size - 1)"
            + (f"; the batch's ids run {held}" if held else "")
        )
    given = (
        re.search(r"positional arguments? but (\d+) were given", reason)
        if isinstance(error, TypeError)
        else None
    )
    if given and isinstance(batch, (tuple, list)) and len(batch) >= 3 and int(given[1]) == len(batch):
        # self and all parts but the last: a loss_fn's inputs, read as (x1, x2, y), of (x, y, weight) items
        needs = _last_is_the_target(len(batch))
    elif not needs and isinstance(misread, _WeightsAsTargetError):
        # a model of two inputs took (x, y) of (x, y, weight) items, the loss the weights as its target
        needs = _last_is_the_target(len(batch))
    unbound = misread if isinstance(misread, _UnboundForwardError) else None
    if unbound is not None and unbound.own_loss:
        needs = (
            ": with no loss_fn (nor compute_loss) the model is called on the whole batch, model(*batch) (a "
            "dict's as model(**batch)), and must return its loss, but its forward does not take the batch's "
            "items; give a loss (a recipe's training.loss, e.g. cross_entropy; loss_fn in Python, e.g. "
            "nn.CrossEntropyLoss()), which gives the model all but the target"
        )
    if unbound is not None and unbound.missing:  # a forward(x, *, mask) given x alone
        names, one = unbound.missing, len(unbound.missing) == 1
        needs = (
            f": the forward's {' and '.join(map(repr, names))} {'has' if one else 'have'} no default, and the "
            f"batch gives the model no value for {'it' if one else 'them'}: give {'it' if one else 'each'} in "
            f"the batch, as dict items {unbound.items(batch)} (each key an argument of the forward), or "
            f"{'a default' if one else 'defaults'} in the forward"
        )
        if unbound.extra:  # {'x': ...} for forward(self, inputs): a key to rename
            keys = ", ".join(map(repr, unbound.extra))
            needs += f"; the batch's {keys} {'is' if len(unbound.extra) == 1 else 'are'} no argument of the forward"
    elif unbound is not None and unbound.extra:  # the forward takes the others: leaving the key out does
        extra = unbound.extra[0]
        needs = (
            f": the batch's key {extra!r} is given to the forward as a keyword argument, which it does not "
            f"take: leave {extra!r} out of the items (or of the collate_fn's batches), or take it in the "
            f"forward ({extra}=None); no key is dropped unasked (a weight left out would change the loss unseen)"
        )
    if isinstance(misread, _GivenTheDictWholeError) and isinstance(batch, Mapping):  # whatever it said
        held = target_key(batch)
        keys = [key for key in batch if key != held]
        items, named = ", ".join(map(repr, keys)), f"def forward(self, {keys[0] if keys else 'x'})"
        fix = (  # with no loss_fn, the model was to return its loss
            f", and with no loss is to return its loss; for a model of scores of one of its items ({items}), "
            "give a loss (a recipe's training.loss, e.g. cross_entropy; loss_fn in Python) and name its "
            f"argument as that key ({named})"
            if misread.own_loss
            else f"; to be given one of its items ({items}), name its argument as that key ({named})"
        )
        needs += (
            ": a forward of one argument that names none of the dict's keys is given the dict whole, "
            f"model(batch){fix}, or give compute_loss, a function of (model, batch) that calls the model "
            "as it takes them"
        )
    if not needs:  # the others told first: a weight taken as the target is no cast to make
        needs = _target_dtype_needs(reason, batch_target(batch))
    if "target with class probabilities" in reason:  # outputs of the labels' shape: (N,) against (N,)
        needs = (
            ": cross-entropy read the labels as class probabilities, the model's outputs having their shape; "
            "it takes a float score per class and row, (N, C) logits, not class ids (an argmax in forward) "
            "nor one score a row"
        )
    refused = InvalidValueError(
        field,
        describe(batch),
        f"a batch the model and the loss can use ({type(error).__name__}: {reason}){needs}",
    )
    refused.__cause__ = error  # read by refinements of it (fit's: dtypes), before it is raised from error
    return refused


# torch's words where a loss indexed classes by a label out of range: multi_margin_loss, one_hot, gather
_LABEL_ERRORS = ("target out of range", "Class values must be non-negative", "is out of bounds for dimension")


def _target_dtype_needs(reason: str, target: Any) -> str:
    """What a loss that refused ``target`` for its dtype (torch's 'expected target dtype to be Long or Byte,
    but got Float', 'expected scalar type Long but found Float', 'result type Float can't be cast to the
    desired output type Long', 'Subtraction ... with two bool tensors', which name neither the targets nor
    a fix) needs of them: class ids as int64, or floats; '' for other errors."""
    if not isinstance(target, Tensor):
        return ""
    # cross-entropy's and NLL's words, then multi_margin_loss's
    if "expected target dtype to be Long" in reason or (
        "expected scalar type Long but found" in reason and target.dtype != torch.int64
    ):
        whole = not target.is_floating_point() or bool((target == target.round()).all())
        return (
            f": the targets are {str(target.dtype).removeprefix('torch.')}, where the loss takes class ids as "
            "int64 (y.long())"
            + (
                ""
                if whole
                else ", but they are not whole numbers: no class ids; for values, a regression loss (nn.MSELoss)"
            )
        )
    # BCE's of integer targets, then of bool ones (1 - target)
    cast = "can't be cast to the desired output type" in reason or "with two bool tensors" in reason
    if cast and not target.is_floating_point():
        return (
            f": the targets are {str(target.dtype).removeprefix('torch.')}, where the loss takes them as floats "
            "(0/1 or probabilities: y.float())"
        )
    return ""


def _last_is_the_target(parts: int) -> str:
    """What a refusal of a batch of ``parts`` parts (``(x, y, weight)``) beside a loss_fn says it needs."""
    return (
        f": its last part is read as the target and the other {parts - 1} as the model's inputs; for a "
        "weight or a mask beside the target, give compute_loss=lambda model, batch: ... (the batch whole) "
        "instead of loss_fn"
    )


def _labels_before_weights(batch: Any) -> bool:
    """Whether ``batch`` reads as ``(inputs..., labels, weights)``: three parts or more, the last of floats
    and one before it (not the first) of class ids."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 3:
        return False
    ids = [
        isinstance(part, Tensor) and not part.is_floating_point() and part.dtype != torch.bool
        for part in batch
    ]
    return isinstance(batch[-1], Tensor) and batch[-1].is_floating_point() and any(ids[1:-1])


def _lowest_label(batch: Any) -> int | None:
    """The smallest of ``batch``'s integer targets (a dict's under :data:`TARGET_KEYS`, a tuple's last
    element); None where it has none."""
    target = batch_target(batch)
    usable = isinstance(target, Tensor) and target.numel() and not target.is_floating_point()
    usable = usable and target.dtype not in (torch.bool, *_WIDE_UNSIGNED) and not target.is_complex()
    return int(target.min()) if usable else None  # uint64 has no min in torch: never below 0 anyway


def _id_ranges(batch: Any) -> list[str]:
    """The smallest and largest value of each tensor of whole numbers among ``batch``'s inputs (a
    dict's, its targets left out; a tuple's, its last element left out): what an embedding looks up,
    integers or the float32 ids of optimlab's data (cast for the embedding: models.user.InputsAs)."""
    if isinstance(batch, Mapping):
        held = target_key(batch)
        inputs = [(repr(key), value) for key, value in batch.items() if key != held]
    elif isinstance(batch, (tuple, list)):
        inputs = [(f"input {i}", value) for i, value in enumerate(batch[:-1] if len(batch) > 1 else batch)]
    else:
        inputs = [("input", batch)]
    return [
        f"{name} from {int(value.min())} to {int(value.max())}"
        for name, value in inputs
        if isinstance(value, Tensor) and value.numel() and not value.is_complex()
        and value.dtype not in (torch.bool, *_WIDE_UNSIGNED)
        and (not value.is_floating_point() or bool((value == value.round()).all()))
    ]  # fmt: skip


def _item(value: Any) -> str:
    """An item of a container as :func:`describe` names it: a tensor by dtype and shape, else its type."""
    return _tensor(value) if isinstance(value, Tensor) else type(value).__name__


def _tensor(value: Tensor) -> str:
    """``float32 (32, 64)``: what a batch's tensor is, as a shape or dtype mismatch needs it told."""
    return f"{_dtype(value)} {tuple(value.shape)}"


def _dtype(value: Tensor) -> str:
    return str(value.dtype).removeprefix("torch.")


def _to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it (nested tuples, lists, mappings) on ``device``; an object with a
    ``to`` method (Hugging Face's ``BatchEncoding``, a batch class of one's own) moves itself and stays
    what it is, as Lightning moves it (``move_data_to_device``). ``device`` is a torch.device, not a
    string: a tensor's device never equals its name (``torch.device("cpu") == "cpu"`` is False)."""
    return map_tensors(batch, lambda value: _moved(value, device), is_leaf=_moves_itself)


def _moves_itself(value: Any) -> bool:
    return callable(getattr(value, "to", None))  # a tensor too


def _moved(value: Any, device: torch.device) -> Any:
    if isinstance(value, Tensor):  # one already there is kept without a call: 0.3 us against to()'s 1.3
        return value if value.device == device else value.to(device, non_blocking=True)
    moved = value.to(device)
    return value if moved is None else moved  # a to() that moves in place returns nothing


def _tensor_pair(data: Any, field: str = "data") -> tuple[Tensor, Tensor] | None:
    """(x, y) from a pair of tensors, an object with ``.x``/``.y``, or splits with ``.train``; None if
    ``data`` is none of these. ``field`` names the data in errors. A Dataset that keeps its rows as
    ``.x``/``.y`` is read through its items: they may be transformed (augmented, scaled) on the way."""
    split = data if _reads_its_items(data) else getattr(data, "train", data)
    if hasattr(split, "x") and hasattr(split, "y") and not _reads_its_items(split):
        pair = (split.x, split.y)
    elif isinstance(split, (tuple, list)) and len(split) == 2 and all(isinstance(v, Tensor) for v in split):
        pair = tuple(split)
    elif (
        isinstance(split, (tuple, list))
        and len(split) == 2
        and any(isinstance(v, np.ndarray) or is_pandas(v) for v in split)
    ):
        pair = tuple(_from_numpy(v, field) for v in split)
    else:
        return None
    x, y = pair
    if not (isinstance(x, Tensor) and isinstance(y, Tensor) and x.ndim and x.shape[:1] == y.shape[:1]):
        raise InvalidValueError(field, describe(pair), ACCEPTED_DATA)
    if not len(x):
        raise InvalidValueError(field, f"{describe(pair)}, no rows", "tensors of at least one row")
    if y.dtype in _WIDE_UNSIGNED:  # torch has no arithmetic for them: a loss raised NotImplementedError
        y = torch.from_numpy(int64_labels(y.cpu().numpy(), f"targets of {field}")).to(y.device)
    return x, y


def _inputs_and_target(data: Any) -> bool:
    """Whether ``data`` is several inputs and a target as rows, ``(x1, x2, y)``: three or more tensors
    or arrays of the same number of rows (beside a ``loss_fn``, which lone-tensor batches cannot take)."""
    if not (isinstance(data, (tuple, list)) and len(data) >= 3):
        return False
    if not all((isinstance(v, (Tensor, np.ndarray)) or is_pandas(v)) and v.ndim for v in data):
        return False
    return len({len(v) for v in data}) == 1


def _reads_its_items(data: Any) -> bool:
    """Whether ``data`` gives its examples item by item (a Dataset, an IterableDataset, a DataLoader),
    rather than being a pair of tensors or splits."""
    return is_map_dataset(data) or (
        isinstance(data, Iterable) and not isinstance(data, (tuple, list, Tensor))
    )


def is_pandas(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame or Series: read through ``to_numpy()``, never by index
    (``frame[4]`` is a column), and checked without importing pandas."""
    return type(value).__module__.partition(".")[0] == "pandas" and hasattr(value, "to_numpy")


def pandas_values(value: Any) -> np.ndarray:
    """A pandas frame's or Series' values as an array torch shares without a warning: pandas'
    copy-on-write views are read-only, and torch warns of sharing those ('The given NumPy array is not
    writable'), so they are copied. Columns of numbers that share no numpy dtype (bool beside float,
    pandas' nullable Int64) are read as float64, missing values NaN: as one object array, torch took none."""
    array = value.to_numpy()
    kinds = value.dtypes if value.ndim == 2 else [value.dtype]
    if array.dtype.kind == "O" and all(kind.kind in "biuf" for kind in kinds):
        array = value.to_numpy(dtype=np.float64, na_value=np.nan)
    return array if array.flags.writeable else array.copy()


def _from_numpy(value: Any, field: str) -> Any:
    """A numpy array (or a pandas frame's) as a tensor of its own dtype, sharing its memory
    (``torch.from_numpy``: float64 stays float64, as a DataLoader's ``default_collate`` keeps it);
    anything else as it is."""
    if is_pandas(value):
        value = pandas_values(value)
    if not isinstance(value, np.ndarray):
        return value
    try:
        return shared_tensor(value)
    except TypeError:
        raise InvalidValueError(
            field, f"an array of dtype {value.dtype}", "arrays of numbers (bool, integer or float)"
        ) from None


def _is_splits(data: Any) -> bool:
    """Whether ``data`` is splits (``.train``, ``.val``) rather than data itself (a Dataset or batches
    that happen to have such attributes)."""
    return (
        hasattr(data, "train")
        and hasattr(data, "val")
        and not is_map_dataset(data)
        and not isinstance(data, (Iterable, Tensor))
    )


def is_columns(data: Any) -> bool:
    """Whether ``data`` is a dict of columns: a mapping whose every value has rows (a tensor or array of
    one dimension or more, a list, a tuple), and not a dict of splits (:func:`is_split_dict`)."""
    return (
        isinstance(data, Mapping)
        and bool(data)
        and all(
            isinstance(v, (list, tuple)) or (isinstance(v, (Tensor, np.ndarray)) and v.ndim)
            for v in data.values()
        )
        and not is_split_dict(data)
    )


def is_split_dict(data: Any) -> bool:
    """Whether ``data`` is a dict of splits (Hugging Face's ``DatasetDict``, ``{'train': (x, y), 'val':
    (x, y)}``): a mapping holding ``'train'`` whose every value is a split, a Dataset, a DataLoader, or a
    tuple or list of tensors, arrays or batches (or none); a column (a tensor, an array, a list of values, such as
    a boolean column named ``train``) makes it a dict of columns."""

    def split(value: Any) -> bool:
        if isinstance(value, (Dataset, DataLoader)) or is_map_dataset(value):
            return True
        arrays = (Tensor, np.ndarray)
        return isinstance(value, (tuple, list)) and all(
            isinstance(part, (*arrays, Mapping))
            or (isinstance(part, (tuple, list)) and any(isinstance(p, arrays) for p in part))
            for part in value
        )

    return isinstance(data, Mapping) and "train" in data and all(map(split, data.values()))


class ColumnRows(Dataset):
    """The rows of a dict of equal-length ``columns``, each a dict of its values (numpy arrays and lists
    of numbers as tensors, other lists as they are). Columns of unequal lengths are refused naming each;
    ``with_target`` (a ``loss_fn`` reads one), so are columns of which none, or several, are named as a
    target (:func:`~optimlab.data.tables.target_named`, as a CSV file's headings)."""

    def __init__(self, columns: Mapping[str, Any], field: str, *, with_target: bool) -> None:
        lengths = {name: len(column) for name, column in columns.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidValueError(
                field,
                "a dict of columns of unequal lengths: "
                + ", ".join(f"{name!r} {length}" for name, length in lengths.items()),
                "columns of one length each, a row of each column an example",
            )
        names = list(columns)
        named = target_named(names)
        # several: the others hold the target as inputs (a label leak), whether a loss_fn reads one or not
        if len(named) > 1 or (with_target and not named):
            listed = ", ".join(repr(names[j]) for j in named) if named else ", ".join(map(repr, names))
            raise InvalidValueError(
                field,
                f"a dict of columns {'with no target column: ' if not named else 'with several named as a target: '}"
                + listed,
                f"one column named {' or '.join(map(repr, TARGET_NAMES))} (any case), the targets the loss_fn "
                "compares with"
                + (": drop or rename the others, or they are read as inputs" if named else ""),
            )
        self.columns = {name: _as_column(column, field) for name, column in columns.items()}
        if named and not isinstance(target := self.columns[names[named[0]]], Tensor):
            names_of_classes = sorted({str(label) for label in target})
            raise InvalidValueError(
                field,
                f"a dict of columns whose target column {names[named[0]]!r} holds names, not numbers "
                f"({', '.join(map(repr, names_of_classes[:3]))}{', ...' * (len(names_of_classes) > 3)})",
                "targets of numbers: class names mapped to ids 0..K-1, one map for every split (e.g. "
                "classes = sorted(set(labels)); [classes.index(c) for c in labels]), as a CSV file's are",
            )
        self.rows = next(iter(lengths.values()))
        self.described = f"a dict of {len(names)} columns of {self.rows} rows ({', '.join(map(repr, names))})"

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {name: column[index] for name, column in self.columns.items()}

    def batch(self, rows: Tensor) -> dict[str, Any] | None:
        """The ``rows`` (indices) as ``default_collate`` collates their items, made a column at a time: a
        tensor column indexed by them, another's values collated (a list of strings as that list); None
        where ``default_collate`` cannot stack a column's values (token ids of unequal lengths), which
        the rows' collation then refuses naming the items. Each batch of a 10,000-row dict no longer
        reads and stacks its items one by one (see benchmarks/column_batches.py)."""
        listed = rows.tolist()
        made: dict[str, Any] = {}
        for name, column in self.columns.items():
            if isinstance(column, Tensor):
                made[name] = column[rows]
                continue
            try:
                made[name] = default_collate([column[j] for j in listed])
            except (RuntimeError, TypeError):  # default_collate's: unequal lengths, a type it cannot stack
                return None
        return made


def _as_column(column: Any, field: str) -> Any:
    """A column of :class:`ColumnRows` as a tensor where it holds numbers (numpy's of their own dtype),
    else as it is (a list of strings)."""
    if isinstance(column, (list, tuple)):
        try:
            return torch.as_tensor(column)
        except (TypeError, ValueError, RuntimeError):
            return column
    return _from_numpy(column, field)


def is_map_dataset(data: Any) -> bool:
    """Whether ``data`` is read by index (a map-style ``Dataset``, or anything with ``__getitem__`` and
    ``__len__`` that is not a list, a tuple, a mapping, a string or a tensor)."""
    if isinstance(data, Dataset):
        return not isinstance(data, IterableDataset)
    return (
        hasattr(data, "__getitem__")
        and hasattr(data, "__len__")
        and not isinstance(data, (list, tuple, Mapping, str, bytes, Tensor))
    )


def length_or_none(data: Any) -> int | None:
    """``len(data)``, or None for data that does not know it (a loader over an IterableDataset)."""
    try:
        return len(data)
    except TypeError:
        return None


@dataclasses.dataclass(frozen=True)
class Forward:
    """What a model made of one batch: the loss, and, where the batch shows them, the prediction
    (outputs, or their logits) and the target it was compared with (for metrics such as accuracy)."""

    loss: Tensor
    prediction: Any = None
    target: Any = None


class UserBatches:
    """The user's data as epochs of batches, with the loss the model makes of one batch.

    Args:
        data: see the module docstring.
        loss_fn: ``loss_fn(outputs, targets) -> scalar``; None when the model returns its loss or
            ``compute_loss`` is given.
        compute_loss: ``compute_loss(model, batch) -> scalar``, for any other way to get the loss.
        batch_size: rows per batch of tensors and Datasets (a DataLoader keeps its own).
        seed: the order of tensors' and Datasets' rows in each epoch.
        shuffle, drop_last: for tensors and Datasets, what they mean to a DataLoader: each epoch's rows
            permuted from (seed, epoch) or taken in order, and an epoch's last, smaller batch kept or
            dropped (a DataLoader keeps its own).
        field: the argument that gave ``data``, as errors name it (``val_data``).

    ``settings`` names the batching arguments the data reads (tensors and Datasets all three, an
    IterableDataset ``batch_size`` and ``drop_last``, batches already made none). ``tensors`` holds
    ``(x, y)`` when the data came as two tensors (loops that index in-memory
    tensors directly can use them); ``source`` says what the data was, for messages;
    ``steps_per_epoch`` is the number of batches in an epoch (0 for data known to hold none; None until
    an epoch of data that does not know its length has been read); ``declared`` is that number where
    the data itself says it (a DataLoader's or an iterable's ``__len__``, which may be wrong: an
    epoch that yields another number is refused, :meth:`miscounted`), None where this batches it.
    """

    # what a reader counting epochs by the first pass accepts of data of no __len__ (:meth:`pass_miscounted`)
    passes_accepted = (
        "data of as many batches at every pass (the first pass's count ends each epoch), or a stream "
        "without end read for total_steps"
    )
    # whether :meth:`stream`'s passes may differ in length: its readers (an lr sweep, the doctor's watch)
    # count no epochs; one that counts them by the first pass (Lightning's batch_idx) says False
    stream_passes_may_differ = True

    def __init__(
        self,
        data: Any,
        loss_fn: Callable[[Any, Any], Tensor] | None = None,
        *,
        compute_loss: Callable[[nn.Module, Any], Tensor] | None = None,
        batch_size: int = 64,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        field: str = "data",
    ) -> None:
        batch_size = whole_number(batch_size, "batch_size", BATCH_ROWS)
        seed = whole_number(seed, "seed", SEED)  # else a TypeError from torch's generator at the first batch
        if loss_fn is not None and compute_loss is not None:
            raise InvalidValueError(
                "loss",
                "both loss_fn and compute_loss",
                "one of them, or neither when the model returns its loss",
            )
        for name, value in (("loss_fn", loss_fn), ("compute_loss", compute_loss)):
            if isinstance(value, type):  # called with the outputs, a class makes a module of them
                raise InvalidValueError(
                    name, f"the class {value.__name__}", f"an instance, {value.__name__}(), or a function"
                )
            if value is not None and not callable(value):
                raise InvalidValueError(name, describe(value), "a callable")
        self.loss_fn, self._custom_loss = loss_fn, compute_loss
        self.batch_size, self.seed, self.shuffle, self.drop_last = batch_size, seed, shuffle, drop_last
        self.field = field
        if is_pandas(data):  # else read by index, frame[4] a column: a KeyError at the first batch
            raise InvalidValueError(
                field,
                f"{a_type(data)} alone",
                "its inputs and targets apart, (frame[features], frame[target]), or a Dataset",
            )
        if loss_fn is not None and _inputs_and_target(data):  # read as their rows, as TensorDataset's
            data = TensorDataset(*(_from_numpy(v, field) for v in data))
        self.tensors = _tensor_pair(data, field)
        if self.tensors is None and _is_splits(
            data
        ):  # a recipe's splits of dict batches: their training part
            data = data.train
        if is_split_dict(data):
            raise InvalidValueError(
                field,
                f"{a_type(data)} of the splits {', '.join(map(repr, data))}",
                f"the training split as data and the val split as val_data: fit(model, optimizer, d['train'], "
                f"val_data=d[{next((k for k in data if k != 'train'), 'val')!r}], ...)",
            )
        if is_columns(data):
            data = ColumnRows(data, field, with_target=loss_fn is not None)
        self._data = data
        # A DataLoader draws each epoch's order (and worker seeds) as it starts, from torch's RNG and its
        # own generators; ``drawn`` keeps their states then, so that a resumed run draws the same epoch.
        self._loader: DataLoader | None = None  # the loader that batches the data, where one does
        self.drawn: dict[str, Any] | None = None
        # the global RNGs (global_rng.global_states) to read a resumed run's first batch with
        self._batch_rng: dict[str, Any] | None = None
        # the RNG states drawn keeps (from_step's every_rng): all three, or torch's alone
        self._rng_states: Callable[[], dict[str, Any]] = global_states
        # whether loss_fn takes outputs holding logits whole (None: not yet seen; _loss_of)
        self._whole_outputs: bool | None = None
        self._epoch: Callable[[int, int, bool], Iterable[Any]]
        self.steps_per_epoch: int | None
        self.settings: tuple[str, ...] = ("batch_size", "shuffle", "drop_last")
        self.declared: int | None = None
        # data of no __len__ whose passes yielded different numbers of batches (from_step's
        # passes_may_differ): no count ends an epoch, pass_ends does
        self.passes_differ = False
        self.pass_ends = False  # whether the batch from_step yielded last ends its pass
        if self.tensors is not None:
            self.source = f"a pair of tensors ({len(self.tensors[0])} rows)"
            self._epoch = self._tensor_epoch
            self.steps_per_epoch = steps_per_epoch(len(self.tensors[0]), batch_size, drop_last)
        elif one_example_each(data):
            raise examples_not_batches(data, field)
        elif isinstance(data, (str, bytes, Tensor, Mapping)) or not (
            is_map_dataset(data) or isinstance(data, Iterable)
        ):
            raise InvalidValueError(field, describe(data), ACCEPTED_DATA)
        elif is_map_dataset(data):
            self.source = (
                f"{a_type(data)} of {len(data)} examples"
                if not isinstance(data, ColumnRows)
                else data.described
            )
            self._epoch = self._dataset_epoch
            self.steps_per_epoch = steps_per_epoch(len(data), batch_size, drop_last) if len(data) else 0
        elif isinstance(data, IterableDataset):
            self.source = f"an iterable {type(data).__name__}"
            self.settings = ("batch_size", "drop_last")
            loader = DataLoader(data, batch_size=batch_size, drop_last=drop_last)
            self._epoch = self._loader_epoch
            self.steps_per_epoch = self.declared = length_or_none(loader)
            self._loader = loader
        elif isinstance(
            data, Iterator
        ):  # not iter(data) is data: a DataLoader's iter() draws from torch's RNG
            raise InvalidValueError(
                field,
                f"a one-shot {type(data).__name__} (it can be read only once)",
                f"{ACCEPTED_DATA}: something that can be read again, epoch after epoch",
            )
        else:
            self.source, self.settings = a_type(data), ()
            self._loader = data if isinstance(data, DataLoader) else None
            self._epoch = self._loader_epoch if self._loader is not None else self._iterable_epoch
            self.steps_per_epoch = self.declared = length_or_none(data)

    @property
    def in_data_order(self) -> bool:
        """Whether a pass reads the data's rows in the data's own order, its n-th row read the data's row
        n: tensors and a Dataset unshuffled, a stream as it yields them, a DataLoader over a Dataset whose
        sampler is torch's SequentialSampler (not one that shuffles, weighs or picks rows of its own),
        batched by torch's own BatchSampler (a batch sampler of the user's, one that buckets by length,
        may read its sampler's rows in an order of its own)."""
        loader = self._loader if isinstance(self._data, DataLoader) else None
        if loader is None:
            return not self.shuffle or not (self.tensors is not None or is_map_dataset(self._data))
        if not is_map_dataset(loader.dataset):  # an IterableDataset's rows, as it yields them
            return True
        if loader.batch_sampler is None:
            return type(loader.sampler) is SequentialSampler
        return (
            type(loader.batch_sampler) is BatchSampler
            and type(loader.batch_sampler.sampler) is SequentialSampler
        )

    # --- batches --------------------------------------------------------------------------------

    def _tensor_epoch(self, epoch: int, start: int, training: bool) -> Iterator[tuple[Tensor, Tensor]]:
        x, y = self.tensors  # type: ignore[misc]
        order = epoch_order(self.seed, epoch, len(x), x.device, shuffle=self.shuffle)
        size = self.batch_size
        for i in range(start, self.steps_per_epoch):  # type: ignore[arg-type]
            rows = order[i * size : (i + 1) * size]
            yield x[rows], y[rows]

    def _dataset_epoch(self, epoch: int, start: int, training: bool) -> Iterator[Any]:
        if training:
            _start_epoch(self._data, epoch)
        order = epoch_order(self.seed, epoch, len(self._data), shuffle=self.shuffle)
        size = self.batch_size
        batches = (
            self._batch_of(order[i * size : (i + 1) * size]) for i in range(start, self.steps_per_epoch or 0)
        )
        return self._recorded(batches)

    def _batch_of(self, rows: Tensor) -> Any:
        """The items ``rows`` of a Dataset collated; a dict of columns' sliced a column at a time, the
        same batch (:meth:`ColumnRows.batch`), but for items that do not stack, refused as their rows."""
        if isinstance(self._data, ColumnRows) and (made := self._data.batch(rows)) is not None:
            return made
        return _collate([self._data[j] for j in rows.tolist()], self.source)

    def _loader_epoch(self, epoch: int, start: int, training: bool) -> Iterator[Any]:
        """A DataLoader's batches of one epoch from its ``start``-th on (those before it read and dropped,
        as its order is drawn when it starts)."""
        if training:
            _start_epoch(self._loader, epoch)
        batches = iter(self._loader)  # type: ignore[arg-type]
        collections.deque(itertools.islice(batches, start), maxlen=0)
        return self._recorded(batches)

    def _iterable_epoch(self, epoch: int, start: int, training: bool) -> Iterator[Any]:
        """An iterable's batches of one epoch from its ``start``-th on."""
        if training:
            _start_epoch(self._data, epoch)
        return itertools.islice(self._data, start, None)

    def _recorded(self, batches: Iterator[Any]) -> Iterator[Any]:
        """``batches``, with the global RNGs (torch's, NumPy's, Python's) kept in :attr:`drawn` before
        each is read: a Dataset drawing from them as it reads (a random crop, as torchvision's transforms
        draw; ``np.random`` noise) makes a resumed run's first batch as the stopped run made it
        (:meth:`_draw_again`), though it was read ahead, before the step that the checkpoint ends."""
        while True:
            if self._batch_rng is not None:
                set_global_states(self._batch_rng)
                self._batch_rng = None
            if self.drawn is not None:  # all three: 46 us a batch on an idle core, torch's alone 1 us
                self.drawn = {**self.drawn, "batch_rng": self._rng_states()}
            batch = next(batches, _NOTHING)
            if batch is _NOTHING:
                return
            yield batch

    def epoch(self, epoch: int, start: int = 0, *, training: bool = True) -> Iterable[Any]:
        """The batches of one epoch from its ``start``-th on, where the data keeps them; a training epoch
        is announced to the data's ``set_epoch`` (:func:`_start_epoch`), an evaluation's pass is not, as
        Hugging Face's Trainer: a random_split's validation Subset shares its dataset with the training
        one, whose steps after an evaluation read items under epoch 0."""
        return self._epoch(epoch, start, training)

    def from_step(
        self,
        step: int,
        device: torch.device | str,
        *,
        drawn: dict[str, Any] | None = None,
        every_rng: bool = True,
        epoch: int | None = None,
        passes_may_differ: bool = False,
    ) -> Iterator[tuple[int, Any]]:
        """``(epoch, batch)`` of every step from ``step`` on, on ``device``, without end: the batches an
        uninterrupted run takes at those steps; ``epoch`` given, ``step`` counts the batches of that pass
        (data whose passes differ in length, whose place no count of steps tells). :attr:`pass_ends` says
        whether the batch last yielded ends its pass.

        A DataLoader that shuffles itself draws its order as each epoch starts; ``drawn`` (its
        :attr:`drawn` when the run stopped, kept with the checkpoint) draws the same order again, with
        torch's RNG left as it was at ``step`` (where dropout goes on drawing). :attr:`drawn` keeps
        torch's, NumPy's and Python's global states (``every_rng``), or torch's alone, where no checkpoint
        can be written (:func:`~optimlab.train.fit` decides): a run continued from those reads again
        with NumPy's and Python's states as they are. The first batch is checked
        (:meth:`check_batch`); an epoch without a batch is an error, and so is one of another
        number of batches than the data's ``__len__`` says (:meth:`miscounted`: its count decides where
        an epoch ends, where a resumed run starts and how many steps ``epochs`` take), or, data of no
        ``__len__``, than its first pass yielded (:meth:`pass_miscounted`), unless ``passes_may_differ``
        (a loop that ends each epoch at :attr:`pass_ends`): then ``steps_per_epoch`` is None again and
        :attr:`passes_differ` set. Data that does not know its length has ``steps_per_epoch`` set before
        the last batch of its first epoch is yielded (one batch is read ahead), so a loop knows that
        batch ends the epoch.
        """
        device = torch.device(device)  # a name ("cpu") as _to_device compares it
        if self.tensors is not None:  # move once, not every batch
            self.tensors = (self.tensors[0].to(device), self.tensors[1].to(device))
        known = self.steps_per_epoch
        # a length not known: the first epoch (a resumed run past it knows the length), its batches
        # before ``step`` read and dropped as a known epoch's before ``start``
        if epoch is not None:
            start = step
        else:
            epoch, start = divmod(step, known) if known else (0, step)
        checked = False
        self._rng_states = global_states if every_rng else torch_state
        at_step = self._draw_again(drawn, epoch)
        while True:
            ahead, taken = _NOTHING, start
            # a loader draws its order as the epoch starts: from torch's RNG, or a sampler of the user's
            # from NumPy's or Python's
            self.drawn = self._drawn(epoch, self._rng_states() if self._loader is not None else None)
            for batch in self.epoch(epoch, start):
                if at_step is not None:  # the epoch's order is drawn: the RNGs go on from the step's
                    set_global_states(at_step)
                    at_step = None
                taken += 1
                if self.declared is not None and taken > self.declared:  # perhaps without end
                    raise self.miscounted(
                        taken, more=True, instead="no __len__ (then total_steps, not epochs)"
                    )
                if self.declared is None and self.steps_per_epoch and taken > self.steps_per_epoch:
                    self._pass_of_another_length(epoch, taken, passes_may_differ, more=True)
                if not checked:
                    self.check_batch(batch)
                    checked = True
                if ahead is not _NOTHING:
                    self.pass_ends = False
                    yield epoch, ahead
                ahead = batch if self.tensors is not None else _to_device(batch, device)
            if taken == 0:
                raise self.no_batch()
            if self.declared is not None and taken < self.declared:
                raise self.miscounted(taken, more=False, instead="no __len__ (then total_steps, not epochs)")
            if self.declared is None and self.steps_per_epoch and taken < self.steps_per_epoch:
                self._pass_of_another_length(epoch, taken, passes_may_differ, more=False)
            if self.steps_per_epoch is None and not self.passes_differ:
                self.steps_per_epoch = taken
            # the next epoch draws from here; a loader's from torch's RNG as at its first step
            self.drawn = self._drawn(epoch + 1, None)
            if ahead is not _NOTHING:
                self.pass_ends = True
                yield epoch, ahead
            epoch, start = epoch + 1, 0

    def _drawn(self, epoch: int, rng: dict[str, Any] | None) -> dict[str, Any] | None:
        """What :attr:`drawn` keeps as ``epoch`` starts: for a DataLoader, the global RNGs' states
        ``rng`` (None: as the run leaves them at the epoch's first step) and the loader's own generators;
        for a Dataset batched here, the epoch alone (its order is (seed, epoch)'s; its reads may draw);
        None for data that draws nothing."""
        if self._loader is not None:
            return {"epoch": epoch, "rng": rng, "generators": _states(_loader_generators(self._loader))}
        return {"epoch": epoch} if self._epoch == self._dataset_epoch else None

    def _draw_again(self, drawn: dict[str, Any] | None, epoch: int) -> Tensor | None:
        """Set the RNGs to read ``epoch``'s batches as the run that recorded ``drawn`` did: a DataLoader's
        own generators as they were, and, for a run stopped within the epoch, the global RNGs as at the
        epoch's start (a DataLoader's order drawn) and as before the stopped run read the
        first batch the resumed one takes (:meth:`_recorded`). Returns the global RNGs' states now, to be
        set again once that batch is read; None where nothing is to be set."""
        loader = self._loader
        if drawn is None or drawn["epoch"] != epoch:
            return None
        at_step = global_states()
        if loader is not None:
            generators = _loader_generators(loader)
            # another loader than the one that drew, or none drew (a Dataset batched here)
            if "generators" not in drawn or len(drawn["generators"]) != len(generators):
                return None
            if epoch and loader.persistent_workers and loader.num_workers:
                # its workers' seed was drawn once, at the first epoch: drawn now, it must not take this one's
                iter(loader)
            for generator, state in zip(generators, drawn["generators"]):
                generator.set_state(state)
            if drawn["rng"] is None:  # stopped at the epoch's start: the RNGs are as the run left them
                set_global_states(at_step)
                return None
            set_global_states(kept_states(drawn["rng"]))
        self._batch_rng = kept_states(drawn.get("batch_rng"))  # absent from checkpoints of before it
        return at_step if loader is not None or self._batch_rng is not None else None

    def short_batch(self) -> tuple[int, int] | None:
        """``(rows, batch_size)`` of an epoch's last batch where it is kept and smaller than the others:
        tensors and Datasets as this batches them, a DataLoader over a Dataset read whole by its
        ``batch_size`` (its sampler in order or shuffled); None where there is none, or it is not known."""
        if self.tensors is not None or is_map_dataset(self._data):
            rows = len(self.tensors[0]) if self.tensors is not None else len(self._data)
            size, dropped = self.batch_size, self.drop_last
        elif isinstance(self._data, DataLoader) and is_map_dataset(self._data.dataset):
            loader = self._data
            whole = isinstance(loader.sampler, SequentialSampler) or (
                isinstance(loader.sampler, RandomSampler) and not loader.sampler.replacement
                and loader.sampler.num_samples == len(loader.dataset)
            )  # fmt: skip
            if loader.batch_size is None or not whole:
                return None
            rows, size, dropped = len(loader.dataset), loader.batch_size, loader.drop_last
        else:
            return None
        left = rows % size
        return (left, size) if left and not dropped else None

    def no_batch(self) -> InvalidValueError:
        """The error for data that holds no batch (empty, or whose only batch ``drop_last`` drops): a
        DataLoader's rows and batch size said where it has them (it yields nothing, which names neither)."""
        loader = self._data
        here = (
            f": here {len(loader.sampler)} rows sampled, batch_size={loader.batch_size}"
            if isinstance(loader, DataLoader) and loader.drop_last and is_map_dataset(loader.dataset)
            else ""
        )
        return InvalidValueError(
            self.field,
            f"{self.source} with no batch",
            f"{ACCEPTED_DATA}, of at least one batch (drop_last drops a last batch smaller than batch_size{here})",
        )

    def miscounted(
        self, yielded: int, *, more: bool, instead: str, field: str | None = None
    ) -> InvalidValueError:
        """The error for data whose ``__len__`` (:attr:`declared`) is not the number of batches it
        yields: ``yielded``, ``more`` than it says (a stream that may never end) or fewer; ``instead``:
        what the reader also accepts; ``field``: the data as the reader names it (default: :attr:`field`).
        Where a DataLoader's workers each read an IterableDataset (a share of it, each ending in a
        short batch, or all of it), the loader's ``__len__``, its rows over the batch size, counts the
        batches of one reader: said."""
        loader = self._loader
        workers = loader.num_workers if isinstance(loader, DataLoader) else 0
        shares = (
            f" (the DataLoader's {workers} workers each read the IterableDataset and batch what they "
            "read apart, where its __len__ counts the batches of one reader)"
            if workers > 1 and isinstance(loader.dataset, IterableDataset)
            else ""
        )
        return InvalidValueError(
            field or self.field,
            f"{self.source} whose __len__ says {self.declared} batch{'es' * (self.declared != 1)}, but "
            f"which yielded {'at least' if more else 'only'} {yielded}",
            f"a __len__ that counts the batches it yields{shares}, or {instead}",
        )

    def _pass_of_another_length(self, epoch: int, yielded: int, may_differ: bool, *, more: bool) -> None:
        """Take pass ``epoch``, of another number of batches than the first (``yielded``, ``more`` than
        it: at least), as the lengths of passes that differ where a loop ``may_differ`` (each epoch
        ended by :attr:`pass_ends`, none counted); else refuse it (:meth:`pass_miscounted`)."""
        if not may_differ:
            raise self.pass_miscounted(epoch, yielded, more=more)
        self.steps_per_epoch, self.passes_differ = None, True

    def pass_miscounted(self, epoch: int, yielded: int, *, more: bool) -> InvalidValueError:
        """The error for data of no ``__len__`` whose pass ``epoch`` (from 0) yielded another number of
        batches, ``yielded`` (``more`` than that: at least), than its first: the first's count decides
        where each epoch ends, where a resumed run starts and how many steps ``epochs`` take."""
        return InvalidValueError(
            self.field,
            f"{self.source} whose pass {epoch + 1} yielded {'at least' if more else 'only'} {yielded} "
            f"batch{'es' * (yielded != 1)}, where its first yielded {self.steps_per_epoch}",
            self.passes_accepted,
        )

    def one_pass(self, device: torch.device | str) -> Iterator[Any]:
        """Every batch once (the first epoch), on ``device``: what an evaluation reads."""
        device = torch.device(device)  # a name ("cpu") as _to_device compares it
        for batch in self.epoch(0, training=False):
            yield _to_device(batch, device)

    def stream(self, device: torch.device | str) -> Iterator[Any]:
        """Batches on ``device``, pass after pass, without end (:meth:`from_step` from the start). Where
        :attr:`stream_passes_may_differ` (here: its readers, an lr sweep and the doctor's watch, count no
        epochs), a stream whose passes differ in length is read as it comes; a subclass whose readers
        count by the first pass sets it False (Lightning's ``_Accumulated``), and a later pass of another
        count is refused (:meth:`pass_miscounted`)."""
        return (
            batch for _, batch in self.from_step(0, device, passes_may_differ=self.stream_passes_may_differ)
        )

    def check_batch(self, batch: Any) -> None:
        """Raise, naming the batch, when the loss cannot be computed from batches like it."""
        if self._custom_loss is not None:
            return
        if not isinstance(batch, (tuple, list, Mapping, Tensor)):
            raise InvalidValueError("batch", describe(batch), _BATCHES)
        if self.loss_fn is not None:
            self.split_target(batch)

    # --- the loss of a batch ----------------------------------------------------------------------

    def split_target(self, batch: Any) -> tuple[Any, Any]:
        """(inputs, target): a tuple's last element, or a dict's target key."""
        if isinstance(batch, Mapping):
            key = target_key(batch)
            if key is None:
                raise InvalidValueError(
                    "batch",
                    describe(batch),
                    f"with loss_fn, a dict holding the target under one of {', '.join(TARGET_KEYS)} "
                    "(or no loss_fn, when the model returns its loss)",
                )
            return {k: v for k, v in batch.items() if k != key}, batch[key]
        if isinstance(batch, (tuple, list)) and len(batch) >= 2:
            return batch[:-1], batch[-1]
        raise InvalidValueError(
            "batch",
            describe(batch),
            "with loss_fn, (inputs..., target) or a dict with the target under 'labels' "
            "(or no loss_fn, when the model returns its loss)",
        )

    def forward(self, model: nn.Module, batch: Any) -> Forward:
        """The loss ``model`` makes of ``batch`` (see the module docstring), with its prediction and
        target where the batch shows them."""
        predicted = target = None
        if self._custom_loss is not None:
            loss = self._custom_loss(model, batch)
        elif self.loss_fn is not None:
            inputs, target = self.split_target(batch)
            outputs = _call_on(model, inputs, own_loss=False)
            predicted = prediction(outputs)
            try:
                loss = self._loss_of(outputs, predicted, target)
            except UNUSABLE_BATCH as error:
                if _labels_before_weights(batch) and _of_the_batch(error):
                    # a model of two inputs took (x, y) of (x, y, weight), the loss the weights as target
                    raise _WeightsAsTargetError(str(error)) from error
                # a forward returning (logits, aux) or a dict without logits: the batch is not at fault
                if not isinstance(predicted, (tuple, list, Mapping)) or not _of_their_form(error, predicted):
                    raise
                raise InvalidValueError(
                    f"the model's output on {self.field}",
                    describe(predicted),
                    f"what loss_fn takes ({type(error).__name__}: {str(error).strip().splitlines()[0]}); a "
                    "forward that returns more than its scores (logits, aux) returns a dict naming them "
                    "'logits', {'logits': logits, 'aux': aux}, which loss_fn gets and val_accuracy reads "
                    "(a tuple does not say which part is the scores), or give compute_loss=lambda model, "
                    "batch: ... that picks them (val_loss alone is then reported)",
                ) from error
        else:
            outputs = _call_on(
                model, batch if isinstance(batch, (tuple, list, Mapping)) else (batch,), own_loss=True
            )
            loss, predicted = _own_loss(outputs, batch, self.field)
            if isinstance(batch, Mapping):
                target = batch_target(batch)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise InvalidValueError(
                "the loss", describe(loss), "a tensor with one element (reduce it: .mean())"
            )
        return Forward(loss, predicted, target)

    def compute_loss(self, model: nn.Module, batch: Any) -> Tensor:
        """The scalar loss ``model`` makes of ``batch`` (see the module docstring)."""
        return self.forward(model, batch).loss

    def loss_function(self, model: nn.Module) -> Callable[[Any], Tensor]:
        """``batch -> loss`` of ``model``: :meth:`compute_loss`, or for two tensors and a ``loss_fn``,
        the same in one call (the fast path of a loop over in-memory tensors: no checks a step)."""
        if self.tensors is not None and self.loss_fn is not None:
            return lambda batch: self._loss_of(outputs := model(batch[0]), prediction(outputs), batch[1])
        return lambda batch: self.compute_loss(model, batch)

    def _loss_of(self, outputs: Any, predicted: Any, target: Any) -> Tensor:
        """``loss_fn`` of ``outputs`` whole, as a hand-written loop gives them, or of their logits
        ``predicted`` where they hold some (:func:`prediction`) and the loss cannot take them whole (raises
        one of :data:`UNUSABLE_BATCH`): a Hugging Face output to ``nn.CrossEntropyLoss``. Decided at the
        first batch, kept after. Where both raise (a label past the classes), the error raised is the one
        not of the outputs' form (:func:`_of_their_form`): the whole's, but where the loss cannot take them
        whole and their logits' names another fault."""
        assert self.loss_fn is not None
        if predicted is outputs or self._whole_outputs is False:
            return self.loss_fn(predicted, target)
        if self._whole_outputs:
            return self.loss_fn(outputs, target)
        try:
            loss = self.loss_fn(outputs, target)
        except UNUSABLE_BATCH as whole:
            try:
                loss = self.loss_fn(predicted, target)
            except UNUSABLE_BATCH as of_logits:
                if _of_their_form(whole, outputs) and not _of_their_form(of_logits, predicted):
                    raise
                raise whole from None
            self._whole_outputs = False
        else:
            self._whole_outputs = True
        return loss


_ARGS, _KEYWORDS = inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD


def _of_the_batch(error: BaseException) -> bool:
    """Whether ``error`` is one a batch may cause (:data:`UNUSABLE_BATCH`), not optimlab's own refusal nor
    a GPU out of memory (no fault of the batch)."""
    return isinstance(error, UNUSABLE_BATCH) and not isinstance(
        error, (OptimlabError, torch.OutOfMemoryError)
    )


class _MisreadBatchError(TypeError):
    """What the model or the loss raised (its ``__cause__``) where the batch was read in a way its user
    may not have meant: :func:`batch_refused` says how, whatever torch's words."""


class _WeightsAsTargetError(_MisreadBatchError):
    """Raised by ``loss_fn`` on the last part of ``(x, y, weight)`` batches as its target, a model of two
    inputs having taken ``(x, y)``: 'expected scalar type Long but found Float' names no part."""


class _GivenTheDictWholeError(_MisreadBatchError):
    """Raised by a forward given a dict whole (``x * 2.0``'s 'unsupported operand type(s)', ``x[:, :1]``'s
    KeyError): the refusal says how the forward is given an item instead. ``own_loss``: called with no
    loss_fn, to return its loss."""

    def __init__(self, message: str, *, own_loss: bool) -> None:
        super().__init__(message)
        self.own_loss = own_loss


class _UnboundForwardError(_MisreadBatchError):
    """Python's refusal to call the model's forward on the batch's inputs (``missing 1 required
    keyword-only argument: 'mask'``, ``unexpected keyword argument 'id'``): they do not bind to its
    signature, where a TypeError raised inside the forward (a layer or a loss called wrongly) does.
    ``missing``: its parameters of no default given nothing; ``extra``: the keys it takes no argument
    for; ``own_loss``: called with no loss_fn, to return its loss."""

    def __init__(
        self,
        message: str,
        *,
        arguments: list[tuple[str, str]],
        missing: list[str],
        extra: list[str],
        own_loss: bool,
    ) -> None:
        super().__init__(message)
        self.arguments, self.missing, self.extra, self.own_loss = arguments, missing, extra, own_loss

    @classmethod
    def of(
        cls,
        model: nn.Module,
        args: tuple[Any, ...],
        keywords: dict[str, Any],
        error: TypeError,
        *,
        own_loss: bool,
    ) -> _UnboundForwardError | None:
        """The refusal of ``model(*args, **keywords)``, which raised ``error``, where its forward's
        signature binds them not; None where it does (the error was raised inside) or cannot be read."""
        signature = forward_signature(model)
        if signature is None:
            return None
        try:
            signature.bind(*args, **keywords)
        except TypeError:
            pass
        else:
            return None
        parameters = signature.parameters.values()
        takes_any = any(p.kind is _KEYWORDS for p in parameters)
        by_name = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        extra = [] if takes_any else [key for key in keywords if key not in by_name]
        try:
            given = signature.bind_partial(*args, **{k: v for k, v in keywords.items() if k not in extra})
        except TypeError:  # more positional arguments than it takes
            return cls(str(error), arguments=[], missing=[], extra=extra, own_loss=own_loss)
        parts = ["x"] if len(args) == 1 else [f"x{i}" for i in range(1, len(args) + 1)]
        if own_loss and len(args) > 1:  # the whole batch: its last part is the target
            parts[-1] = "y"
        named = dict(zip(list(given.arguments)[: len(args)], parts, strict=False))
        arguments, missing = [], []
        for p in parameters:
            if p.name in given.arguments and p.kind not in (_ARGS, _KEYWORDS):
                arguments.append((p.name, named.get(p.name, p.name)))
            elif p.default is p.empty and p.kind not in (_ARGS, _KEYWORDS):
                arguments.append((p.name, "..."))
                missing.append(p.name)
        return cls(str(error), arguments=arguments, missing=missing, extra=extra, own_loss=own_loss)

    def items(self, batch: Any) -> str:
        """Dict items that give the forward each argument, in its own names, and the target under its
        key where a loss takes it apart: ``{'inputs': x, 'mask': ..., 'labels': y}``."""
        items = [f"{name!r}: {value}" for name, value in self.arguments]
        if not self.own_loss:
            key = target_key(batch) if isinstance(batch, Mapping) else None
            items.append(f"{key!r}: {key}" if key else "'labels': y")
        return "{" + ", ".join(items) + "}"


def _call_on(model: nn.Module, inputs: Any, *, own_loss: bool) -> Any:
    """``model`` called on ``inputs`` as a hand-written loop calls it: a tuple's or list's items as its
    arguments, a dict's as keywords (``model(**batch)``, Hugging Face's), or the dict whole where the
    forward takes it so (:func:`takes_dict_whole`: ``def forward(self, batch)``), what it raises of a
    batch (:data:`UNUSABLE_BATCH`) then marked so (:class:`_GivenTheDictWholeError`); inputs its forward's
    signature does not bind are marked so (:class:`_UnboundForwardError`); ``own_loss``: called with no
    loss_fn."""
    if isinstance(inputs, Mapping) and takes_dict_whole(model, inputs):
        try:
            return model(inputs)
        except UNUSABLE_BATCH as error:
            if not _of_the_batch(error):
                raise
            raise _GivenTheDictWholeError(str(error), own_loss=own_loss) from error
    args, keywords = ((), dict(inputs)) if isinstance(inputs, Mapping) else (tuple(inputs), {})
    try:
        return model(*args, **keywords)
    except TypeError as error:
        unbound = _UnboundForwardError.of(model, args, keywords, error, own_loss=own_loss)
        if unbound is None:  # raised inside the forward: torch's words say it
            raise
        raise unbound from error


def forward_signature(model: nn.Module) -> inspect.Signature | None:
    """The signature of ``model``'s forward; of the module a wrapper passing all it is given holds
    (torch.compile's ``_orig_mod``, DataParallel's and DDP's ``module``); None where it cannot be read."""
    try:
        signature = inspect.signature(model.forward)
        wrapped = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        kinds = {p.kind for p in signature.parameters.values()}
        while isinstance(wrapped, nn.Module) and kinds == {_ARGS, _KEYWORDS}:
            model, signature = wrapped, inspect.signature(wrapped.forward)
            wrapped = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
            kinds = {p.kind for p in signature.parameters.values()}
    except (TypeError, ValueError):
        return None
    return signature


def takes_dict_whole(model: nn.Module, keys: Collection[str]) -> bool:
    """Whether ``model``'s forward (:func:`forward_signature`) takes a dict of ``keys`` as one argument:
    it requires one positional argument and nothing else, names none of the keys, and takes no
    ``**kwargs`` (which ``model(**inputs)`` fills); False where its signature cannot be read."""
    signature = forward_signature(model)
    if signature is None:
        return False
    parameters = signature.parameters.values()
    required = [p for p in parameters if p.default is p.empty and p.kind not in (_ARGS, _KEYWORDS)]
    return (
        len(required) == 1
        and required[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and not any(p.kind is _KEYWORDS or p.name in keys for p in parameters)
    )


def _of_their_form(error: BaseException, outputs: Any) -> bool:
    """Whether ``error``, raised by a loss given ``outputs``, is of their form rather than of the batch:
    a TypeError or AttributeError (cross-entropy of a dict: 'must be Tensor, not dict'; ``.aux_logits``
    of a tensor), or one naming their type ('Tensor' object ...)."""
    return isinstance(error, (TypeError, AttributeError)) or type(outputs).__name__ in str(error)


def target_key(batch: Mapping[str, Any]) -> str | None:
    """The key a dict batch holds its target under: the first of :data:`TARGET_KEYS` it has, in any
    case; None."""
    keys = list(batch)
    named = {keys[j].lower(): keys[j] for j in reversed(target_named(keys))}
    return next((named[name] for name in TARGET_KEYS if name in named), None)


def batch_parts(batch: Any) -> tuple[list[Any], Any]:
    """(its other parts, its target) of ``batch``, where :meth:`UserBatches.split_target` reads them: a
    dict's target under :data:`TARGET_KEYS` (:func:`target_key`), a tuple's or list's last element
    beside its inputs; ``([], None)`` where it shows none (a tensor alone, a dict of inputs alone, a
    tuple of one)."""
    if isinstance(batch, Mapping):
        key = target_key(batch)
        return ([], None) if key is None else ([v for k, v in batch.items() if k != key], batch[key])
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return list(batch[:-1]), batch[-1]
    return [], None


def batch_target(batch: Any) -> Any:
    """The target ``batch`` shows (:func:`batch_parts`); None where it shows none."""
    return batch_parts(batch)[1]


def one_example_each(data: Any) -> bool:
    """Whether ``data``, a list or tuple (read as batches), holds examples one each instead: its first
    item's target (:func:`batch_target`) is a number or a 0-dim tensor or array, which no batch holds (a
    batch's targets have a row per example, even a batch of one); or its target is one row, a 1-dim
    tensor or array of length 1, beside inputs each 1-dim of several, ``(x_i of 8 features, y_i of
    shape (1,))`` or ``{'x': x_i, 'labels': y_i}``: read as a batch, a 1-dim input is rows of one feature,
    as many as its targets, and several rows beside one target are no batch's. Read as batches, each
    example was a step of its own, unbatched: 256 steps for 256 rows, without a word. What a batch can
    have is read as batches: a 1-dim input beside several targets (flattened token bags a model
    reshapes, ``(tokens of 4 * 5, labels of 4)``), or of as many, inputs of 2 dimensions or more (a
    sequence-first batch's first dimension is not its rows), an input of one row (EmbeddingBag's offsets
    of one bag). A row of numbers alone (``[0.1, 0.2]`` of a list of feature rows) is no (input, target)
    item."""
    if not isinstance(data, (list, tuple)) or not data:
        return False
    first = data[0]
    if isinstance(first, (tuple, list)) and all(isinstance(v, numbers.Number) for v in first):
        return False
    inputs, target = batch_parts(first)
    if not isinstance(target, (numbers.Number, Tensor, np.ndarray)):
        return False
    if isinstance(target, numbers.Number) or target.ndim == 0:
        return True
    return (
        target.ndim == 1
        and len(target) == 1
        and bool(inputs)
        and all(isinstance(v, (Tensor, np.ndarray)) and v.ndim == 1 and len(v) > 1 for v in inputs)
    )


def examples_not_batches(data: list[Any] | tuple[Any, ...], field: str) -> InvalidValueError:
    """The refusal of ``data``, examples one each where batches are read (:func:`one_example_each`), saying
    how to batch them."""
    dicts = isinstance(data[0], Mapping)
    stack = "" if dicts else ", or stack them into tensors: (torch.stack(xs), torch.stack(ys))"
    return InvalidValueError(
        field,
        f"{a_type(data)} of {len(data)} {'dict' if dicts else '(input, target)'} items, one example each",
        f"batches (a list is read as batches): DataLoader(items, batch_size=32) batches the items{stack}",
    )


def _start_epoch(data: Any, epoch: int) -> None:
    """Tell ``data`` (a DataLoader, a Dataset, any iterable fit reads), its dataset and its samplers which
    epoch starts, each that has ``set_epoch``, as a hand-written loop, Lightning and Hugging Face's Trainer
    do: a DistributedSampler's order is (seed, epoch)'s, a streaming dataset's shuffle (Hugging Face
    datasets' IterableDataset, webdataset) its epoch's; without it every epoch repeated the first one's."""
    batch_sampler = getattr(data, "batch_sampler", None)
    readers = (
        data,
        getattr(data, "dataset", None),
        getattr(data, "sampler", None),
        batch_sampler,
        getattr(batch_sampler, "sampler", None),
    )
    for reader in {id(reader): reader for reader in readers if reader is not None}.values():
        if callable(getattr(reader, "set_epoch", None)):
            reader.set_epoch(epoch)


def _loader_generators(loader: DataLoader) -> list[torch.Generator]:
    """The generators ``loader`` draws from besides torch's global one: its own (worker seeds), its
    sampler's and its batch sampler's sampler's (the order), each once."""
    holders = (loader, loader.sampler, getattr(loader.batch_sampler, "sampler", None))
    found = {
        id(g): g for g in (getattr(h, "generator", None) for h in holders) if isinstance(g, torch.Generator)
    }
    return list(found.values())


def _states(generators: list[torch.Generator]) -> list[Tensor]:
    return [generator.get_state() for generator in generators]


def loader_batch_size(loader: DataLoader) -> int | None:
    """Rows per batch of ``loader``: its own, or its batch sampler's (Hugging Face's prepared loaders)."""
    return loader.batch_size or getattr(loader.batch_sampler, "batch_size", None)


def loader_shuffles(loader: DataLoader) -> bool:
    """Whether ``loader`` draws its rows at random (its sampler, or its batch sampler's)."""
    samplers = (loader.sampler, getattr(loader.batch_sampler, "sampler", None))
    return any(isinstance(sampler, RandomSampler) for sampler in samplers)


def _collate(items: list[Any], source: str) -> Any:
    """``default_collate`` of a batch's items; items it cannot stack (token ids of unequal lengths, left
    unpadded) are refused naming the keys that differ and the two ways to pad them."""
    try:
        return default_collate(items)
    except (RuntimeError, TypeError) as error:
        first = items[0]
        uneven = [
            f"{key!r} of shapes {', '.join(map(str, sorted({tuple(item[key].shape) for item in items})[:3]))}"
            for key, value in (first.items() if isinstance(first, Mapping) else ())
            if isinstance(value, Tensor) and any(item[key].shape != value.shape for item in items)
        ]
        reason = (str(error).strip().splitlines() or [""])[0]
        raise InvalidValueError(
            f"the items of a batch of {source}",
            "; ".join(uneven) or f"{type(error).__name__}: {reason}",
            "items that torch's default_collate stacks, each tensor of one shape: pad them in the Dataset "
            "(with attention_mask, and labels of -100 where padded), or give your splits as DataLoaders "
            "whose collate_fn pads (transformers' DataCollatorWithPadding)",
        ) from error


def prediction(outputs: Any) -> Any:
    """What a loss or a metric compares with the target: the logits of a Hugging Face output (``.logits``,
    ``["logits"]``), else the output itself."""
    if isinstance(outputs, Tensor):  # the common case first: one check per step
        return outputs
    logits = outputs.get("logits") if isinstance(outputs, Mapping) else getattr(outputs, "logits", None)
    return outputs if logits is None else logits


def broadcast_mix_up(outputs: tuple[int, ...], targets: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape an elementwise loss compares where outputs and targets of numbers (a regression's),
    shaped ``outputs`` and ``targets``, broadcast to more values than either holds: ``(64, 1)`` against
    ``(64,)`` is ``(64, 64)``, every output scored against every target of its batch. None where they
    pair one to one (or one is repeated along the other, or they do not broadcast at all)."""
    if outputs == targets:
        return None
    try:
        compared = tuple(torch.broadcast_shapes(outputs, targets))
    except RuntimeError:
        return None
    return compared if math.prod(compared) > max(math.prod(outputs), math.prod(targets)) else None


def own_pairs(forward: Forward) -> tuple[Any, Any] | None:
    """The class scores and integer labels of a model's own loss (``forward``: no ``loss_fn``), paired
    as that loss paired them, for an accuracy; None where the pairing is unknown.

    A causal language model (Hugging Face's ``...ForCausalLM``) takes its inputs as its labels and
    shifts them inside: the scores at position t predict label t + 1. So for scores ``(..., T, C)`` of
    labels ``(..., T)``, the pairing whose cross-entropy (labels of -100 ignored, as Hugging Face's)
    comes nearest the model's own loss, within a relative 1e-3, is taken: as they are, or shifted by
    one; neither (another loss, label smoothing): none, since an accuracy of pairs the model never
    compared is no evidence. Scores ``(N, C)`` of labels ``(N,)`` are paired as they are, but for one
    score a label (``C = 1``): a binary logit only where the model's loss is its binary cross-entropy;
    else none (Hugging Face's sequence classification with ``num_labels=1`` is a regression, its loss
    the mean squared error of that score, whatever the labels' dtype).
    """
    scores, labels = forward.prediction, forward.target
    if not (isinstance(scores, Tensor) and isinstance(labels, Tensor)) or labels.is_floating_point():
        return scores, labels
    own = forward.loss.detach().float()
    if scores.shape == (*labels.shape, 1):
        with torch.no_grad():
            binary = torch.nn.functional.binary_cross_entropy_with_logits(
                scores.squeeze(-1).float(), labels.float()
            )
        return (scores, labels) if relative_gap(binary, own) <= 1e-3 else None
    if scores.ndim < 3 or scores.shape[:-1] != labels.shape or labels.shape[-1] < 2:
        return scores, labels
    pairings = {
        "as they are": (scores, labels),
        "shifted": (scores[..., :-1, :], labels[..., 1:]),
    }
    gaps = {}
    with torch.no_grad():
        for name, (s, t) in pairings.items():
            loss = torch.nn.functional.cross_entropy(
                s.reshape(-1, s.shape[-1]).float(), t.reshape(-1), ignore_index=-100
            )
            gaps[name] = relative_gap(loss, own)
    nearest = min(gaps, key=gaps.__getitem__)
    return pairings[nearest] if gaps[nearest] <= 1e-3 else None


def relative_gap(loss: Tensor, own: Tensor) -> float:
    """How far ``loss`` lies from the model's ``own``, relative to it."""
    return ((loss - own).abs() / own.abs().clamp_min(1e-12)).item()


def _own_loss(outputs: Any, batch: Any, field: str) -> tuple[Tensor, Any]:
    """The loss a model returned itself from ``batch``, with its prediction (:func:`prediction`):
    ``outputs.loss`` or ``outputs["loss"]``; a tuple's first element where it is a scalar, its second the
    prediction (a Hugging Face model under ``return_dict=False`` returns ``(loss, logits, ...)`` given
    labels, and its Trainer trains on ``outputs[0]``); or a scalar tensor. ``field`` names the data
    (``val_data``) in a refusal."""
    if (
        isinstance(outputs, (tuple, list))
        and outputs
        and isinstance(outputs[0], Tensor)
        and outputs[0].ndim == 0
    ):
        return outputs[0], outputs[1] if len(outputs) > 1 else None
    loss = outputs.get("loss") if isinstance(outputs, Mapping) else getattr(outputs, "loss", None)
    if loss is None and isinstance(outputs, Tensor) and outputs.numel() == 1:
        loss = outputs
    if loss is None:
        held = target_key(batch) if isinstance(batch, Mapping) else None
        renamed = (
            f" (this batch holds {held!r}, the target fit reads beside a loss_fn: Hugging Face models take "
            "'labels')"
            if held not in (None, "labels")
            else ""
        )
        raise InvalidValueError(
            f"the model's output on {field}",
            describe(outputs),
            "a loss (a scalar tensor, .loss, ['loss'], or a tuple's first element) when no loss_fn is given: "
            f"pass loss_fn, the labels in the batch (Hugging Face){renamed}, or compute_loss(model, batch)",
        )
    return loss, prediction(outputs)
