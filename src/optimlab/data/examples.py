"""In-memory labelled examples: every data set optimlab trains on fits in memory as two tensors.

``x`` is float32 of shape (N, *input_shape), token ids too (whole numbers; the user's model that embeds
them gets them as int64: :func:`optimlab.models.user.embeds_ids`). ``y`` is int64 class ids in
[0, num_classes) of shape (N,) for classification (or the label the loss ignores, :func:`label_ignored`),
and float32 of shape (N, num_targets) for regression; read for the user's own loss (:func:`targets_for`),
the labels and targets as given, in their own shape.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import mmap
import os
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from optimlab.errors import InvalidValueError
from optimlab.number_text import count_of, read_number

__all__ = [
    "MISSING",
    "ONE_HOT",
    "TASKS",
    "DatasetInfo",
    "Examples",
    "Task",
    "TensorPair",
    "float_task",
    "int64_labels",
    "label_ignored",
    "listed_label",
    "missing_cell",
    "one_hot_rows",
    "reject_non_finite",
    "shareable_by_torch",
    "shared_tensor",
    "targets_for",
    "text_number",
    "zero_one",
]

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")


# The task the loss chose for targets of numbers read meanwhile (:func:`targets_for`); None: their values.
_LOSS_TASK: ContextVar[Task | None] = ContextVar("loss_task", default=None)
# Whether targets of numbers read meanwhile reach the loss as given (:func:`targets_for`).
_AS_GIVEN: ContextVar[bool] = ContextVar("as_given", default=False)
# The class label the loss leaves out (its ignore_index), for labels read meanwhile; None: it scores all.
_IGNORED: ContextVar[int | None] = ContextVar("ignored", default=None)


@contextlib.contextmanager
def targets_for(task: Task | None, *, as_given: bool = False, ignored: int | None = None) -> Iterator[None]:
    """Targets of numbers read inside take ``task`` where their reader leaves it open: the loss the user
    chose decides it (integers under mse are numbers to regress; read as classes, an output above 0
    counted as class 1 and the accuracy meant nothing). None: their values decide. ``as_given``: the
    loss is the user's own, so targets of numbers reach it as given: class labels not mapped to 0..K-1
    (-1/+1 under ``SoftMarginLoss``, ids 1..K indexing the user's table), a regression's in their own
    shape ((N,), not (N, 1), which a loss of ``outputs.squeeze(-1) - targets`` broadcasts to (N, N)).
    ``ignored``: the class label the loss leaves out (its ``ignore_index``, -100 for torch's
    cross-entropy), kept as it is in the targets and counted in no class (:func:`label_ignored`)."""
    tokens = _LOSS_TASK.set(task), _AS_GIVEN.set(as_given), _IGNORED.set(ignored)
    try:
        yield
    finally:
        _LOSS_TASK.reset(tokens[0])
        _AS_GIVEN.reset(tokens[1])
        _IGNORED.reset(tokens[2])


def labels_as_given() -> bool:
    """Whether class labels read now reach the user's own loss as given (:func:`targets_for`), not as ids
    0..K-1."""
    return _AS_GIVEN.get()


def label_ignored() -> int | None:
    """The class label the loss leaves out, for labels read now (:func:`targets_for`): rows of it stay in
    the data, as the loss's ``ignore_index``, in no class (nor the model's outputs, nor the accuracy)."""
    return _IGNORED.get()


# Tensor dtypes numpy has no type for: np.asarray raises "Got unsupported ScalarType BFloat16".
_NOT_IN_NUMPY = (torch.bfloat16, *(getattr(torch, n) for n in dir(torch) if n.startswith("float8_")))


@dataclasses.dataclass(frozen=True)
class TensorPair:
    """Inputs ``x`` and targets ``y`` with the same number of rows."""

    x: Tensor
    y: Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise InvalidValueError(
                "targets", f"{self.y.shape[0]} rows", f"one per input row ({self.x.shape[0]})"
            )

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index: Tensor) -> TensorPair:
        """The rows at ``index`` (a long tensor of row numbers)."""
        return TensorPair(self.x[index], self.y[index])


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """What a model and a loss need to know about a data set, besides its tensors.

    ``image_shape`` is set when each example (whatever its stored shape) can be viewed as an image
    (C, H, W), e.g. digits: 64 features, image shape (1, 8, 8); pass it to CNNs. ``loss`` is set when
    the data set defines its own loss (the noisy quadratic); otherwise the task's usual one applies
    (cross-entropy for classification, mean squared error for regression). ``vocab_size`` is set when
    the inputs are token ids in [0, vocab_size) (stored as floats), and ``next_token`` when each
    position's target is the next position's input (a language model's): the model must then give one
    output per position and look only at earlier positions. ``reading`` says, in words, how a user's file
    was read where that was a choice (``target column 'price'``), for the line a verb shows on loading it;
    ``relabelled`` how class labels were mapped to ids 0..K-1 (``labels -1, 1 as classes 0-1``), where
    they were, for the Python API to say as that line does. ``ignored_label`` is the class label the loss
    leaves out (its ``ignore_index``, :func:`label_ignored`), kept in the targets and counted in no class.
    """

    name: str
    task: Task
    input_shape: tuple[int, ...]
    num_classes: int | None = None
    image_shape: tuple[int, ...] | None = None
    loss: nn.Module | None = None
    vocab_size: int | None = None
    next_token: bool = False
    reading: str | None = None
    relabelled: str | None = None
    ignored_label: int | None = None

    @property
    def num_outputs(self) -> int:
        """Model outputs: a score per class id up to the largest label (labels 1..K kept as given for the
        user's loss: K + 1), the label the loss ignores left out (255 of a segmentation mask: no 256th
        class), or per regression target (one for targets (N,))."""
        targets = self._targets()
        if self.task == "classification":
            labels = targets if self.ignored_label is None else targets[targets != self.ignored_label]
            return max(int(self.num_classes), int(labels.max()) + 1 if labels.numel() else 0)
        return math.prod(targets.shape[1:])

    def _targets(self) -> Tensor:
        """Targets of any split, for their width; :class:`Examples` and ``Splits`` say which."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True)
class Examples(DatasetInfo):
    """All examples of a data set, before it is split.

    ``test`` is a test set that comes with the data set (MNIST-1D's own 1000 examples): :func:`split`
    then keeps it as the test split and draws validation and training from ``examples`` alone.
    """

    examples: TensorPair
    test: TensorPair | None = None

    def _targets(self) -> Tensor:
        return self.examples.y

    @classmethod
    def from_arrays(
        cls,
        x: np.ndarray | Tensor,
        y: np.ndarray | Tensor,
        *,
        name: str,
        task: Task | None = None,
        image_shape: tuple[int, ...] | None = None,
        reading: str | None = None,
    ) -> Examples:
        """Labelled examples from arrays; ``task`` None takes the loss's (:func:`targets_for`) for targets
        of numbers, else infers it from the targets.

        Targets that are not numbers, or integers (in any dtype), are class labels; anything else is a
        regression target, and so are whole floats of over ten distinct values, most rows' values
        distinct (:data:`MOST_CLASSES_GUESSED`). Class labels are mapped to 0..K-1 in sorted order, said in
        ``relabelled``, and regression targets shaped (N, K), unless they are numbers read for the user's
        own loss (:func:`targets_for`), which gets them as given.
        """
        for what, values in (("inputs", x), ("targets", y)):
            if isinstance(values, Tensor) and values.dtype in _NOT_IN_NUMPY:
                raise InvalidValueError(
                    f"{what} of {name}",
                    f"a {str(values.dtype).removeprefix('torch.')} tensor of shape {tuple(values.shape)}",
                    "tensors of a dtype numpy holds, as rows read into memory are (float16, float32, float64, "
                    "integers): give .float(), and train in bfloat16 with recipe={'training.precision': 'bf16'}",
                )
        x_array, y_array = _as_array(x), _as_array(y)
        relabelled = None
        for what, values in (("inputs", x_array), ("targets", y_array)):
            if values.dtype.kind == "c":  # cast to float, the imaginary parts were dropped with a warning
                raise InvalidValueError(
                    f"{what} of {name}",
                    f"complex numbers ({values.dtype})",
                    "real numbers: give the real and imaginary parts as features of their own "
                    "(torch.view_as_real(x), or numpy.stack([x.real, x.imag], axis=-1))",
                )
        if x_array.ndim < 1 or x_array.shape[0] == 0:
            raise InvalidValueError(f"inputs of {name}", f"shape {x_array.shape}", "at least one example")
        if 0 in x_array.shape[1:]:  # else refused later as the model's input_shape, a field never written
            raise InvalidValueError(
                f"inputs of {name}", f"shape {x_array.shape}", "at least one value (feature) per example"
            )
        if task is None and y_array.dtype.kind in "biuf":
            task = _LOSS_TASK.get()
        guessed = task is None
        if guessed:
            task = "classification" if _looks_like_labels(y_array) else "regression"
        elif task not in TASKS:
            raise InvalidValueError("task", task, "one of " + ", ".join(map(repr, TASKS)))
        reject_non_finite(x_array, f"inputs of {name}")
        _reject_inexact_integers(x_array, f"inputs of {name}")
        _reject_flattened(x_array, f"inputs of {name}")
        features = shared_tensor(
            x_array.reshape(len(x_array), -1) if x_array.ndim == 1 else x_array, dtype=torch.float32
        )
        if task == "classification":
            if y_array.ndim > 1 and y_array.size != len(y_array):
                raise InvalidValueError(
                    f"class labels of {name}",
                    f"shape {y_array.shape}",
                    "one label per example, shape (N,) or (N, 1): "
                    + (
                        ONE_HOT
                        if one_hot_rows(y_array)
                        else "several per example (multi-label 0/1 columns) are not supported"
                    ),
                )
            flat = y_array.reshape(len(y_array))
            ignored = label_ignored() if flat.dtype.kind in "biuf" else None
            left_out = flat == ignored if ignored is not None else np.zeros(len(flat), dtype=bool)
            classes, kept = _classes(flat[~left_out], name)  # the ignored label: in no class, kept as is
            _reject_missing_names(classes, kept, name)
            ids = np.full(len(flat), 0 if ignored is None else ignored, dtype=np.int64)
            ids[~left_out] = kept
            num_classes, shape, labels = len(classes), (-1,), None
            shown = ", ".join(listed_label(c) for c in classes[:_SHOWN_LABELS]) + (
                ", ..." if num_classes > _SHOWN_LABELS else ""
            )
            already_ids = np.array_equal(classes, np.arange(num_classes))
            if labels_as_given() and y_array.dtype.kind in "biuf":  # whole numbers: classification
                ids, shape = int64_labels(y_array, f"class labels of {name}"), y_array.shape  # (N, 1) too
                labels = None if already_ids else f"labels {shown} as given to the loss"
            elif not already_ids:  # said: -1 may mean "unlabelled"
                relabelled = labels = f"labels {shown} as classes 0-{num_classes - 1}"
                if guessed and y_array.dtype.kind in "biuf" and num_classes > MOST_CLASSES_GUESSED:
                    labels += ", training.loss: mse would regress them as amounts"  # the guess's way out
            skipped = (
                left_out.any()
                and f"label {ignored} in {count_of(int(left_out.sum()), 'row')} ignored by the loss"
            )
            reading = ", ".join(filter(None, [reading, labels, skipped])) or None
            targets = torch.as_tensor(ids.reshape(shape), dtype=torch.long)
            ignored_label = ignored
        else:
            values = _numbers_to_regress(y_array, name)
            reject_non_finite(values, f"targets of {name}")
            shape = values.shape if labels_as_given() else (len(values), -1)
            targets = shared_tensor(values.reshape(shape), dtype=torch.float32)
            num_classes = ignored_label = None
        return cls(
            name=name,
            task=task,
            input_shape=tuple(features.shape[1:]),
            num_classes=num_classes,
            image_shape=image_shape,
            reading=reading,
            relabelled=relabelled,
            ignored_label=ignored_label,
            examples=TensorPair(features, targets),
        )


# pandas.read_csv's default missing values that float() reads as NaN; its infinities (pandas 3.1.1)
_NAN_CELLS = frozenset(("nan", "NaN", "-nan", "-NaN"))
_INFINITY_CELL = re.compile(r"[-+]?inf(?:inity)?", re.IGNORECASE)
# what spreadsheets, R and pandas write for a missing value (pandas' defaults), and UCI's "?"
MISSING = _NAN_CELLS | frozenset(("", "?", "NA", "N/A", "n/a", "null", "NULL", "None", "#N/A", "#NA", "<NA>"))


def missing_cell(field: str) -> bool:
    """Whether ``field`` marks a missing value: one of :data:`MISSING`, or NaN as another tool spells it
    ('NAN', '+nan'), which pandas reads as text and float() as NaN."""
    text = field.strip()
    return text in MISSING or text.lstrip("+-").lower() == "nan"


def text_number(text: str) -> float:
    """``text``, a cell of data, as a number as ``pandas.read_csv`` reads one: digits as a person types
    them (:func:`~optimlab.number_text.read_number`, spaces around allowed), not :func:`float`'s digit
    separators ('2024_01' is no 202401) nor other scripts' digits ('١٢' is no 12); infinity signed, in
    any case, with no spaces around; NaN only as pandas' missing values spell it, not 'NAN' or '+nan'.
    Raises ValueError for other text (pandas reads its column as text)."""
    if text in _NAN_CELLS:
        return math.nan
    if _INFINITY_CELL.fullmatch(text):
        return float(text)
    number = read_number(text) if text.isascii() else None
    if number is None:
        raise ValueError(f"not a number: {text!r}")
    return number


def _numbers_to_regress(targets: np.ndarray, name: str) -> np.ndarray:
    """``targets`` as float64 numbers, text as :func:`text_number` reads it ('1.5'); text that is no number
    (a class name, under task 'regression') is refused, naming the first."""
    if targets.dtype.kind in "biuf":
        return targets.astype(np.float64)
    numbers = []
    for value in targets.reshape(-1).tolist():
        try:
            text = value.decode() if isinstance(value, bytes) else str(value)
            numbers.append(math.nan if missing_cell(text) else text_number(text))  # NaN: refused as missing
        except (UnicodeDecodeError, ValueError):
            raise InvalidValueError(
                f"targets of {name}",
                value,
                "numbers to regress (task 'regression'); targets of text are class labels: task "
                "'classification' (data.options.task in a recipe)",
            ) from None
    return np.array(numbers).reshape(targets.shape)


def _as_array(values: np.ndarray | Tensor) -> np.ndarray:
    """``values`` as an array: a tensor that requires grad, lives on a GPU or is sparse, read as its
    values (numpy raised "Can't call numpy() on Tensor that requires grad" and the like)."""
    if isinstance(values, Tensor):
        values = values.detach().cpu()
        values = values if values.layout == torch.strided else values.to_dense()
    return shareable_by_torch(np.asarray(values))


def shareable_by_torch(array: np.ndarray) -> np.ndarray:
    """``array`` as torch can share it: in this machine's byte order (torch refused a big-endian array,
    dtype ``'>f8'`` as ``numpy.save`` writes on such a machine or MATLAB's and Java's exports, with "byte
    order different from the native byte order") and its strides positive whole elements (torch refused
    ``np.flip``'s and ``x[::-1]``'s: "At least one stride in the given numpy array is negative"). The
    array itself where it is both already, read-only or not."""
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if array.itemsize and any(stride < 0 or stride % array.itemsize for stride in array.strides):
        array = np.ascontiguousarray(array)
    return array


def shared_tensor(array: np.ndarray, dtype: torch.dtype | None = None) -> Tensor:
    """``array`` (:func:`shareable_by_torch`) as a tensor of ``dtype`` (its own when None), sharing its
    memory where the dtype is its own. A read-only array is first made writable (:func:`_writable`):
    optimlab writes no data tensor in place, but the user's model may (``x.div_(255)`` in its forward),
    and a write into ``np.load(mmap_mode='r')``'s read-only pages killed the process (SIGSEGV)."""
    array = shareable_by_torch(array)
    return torch.as_tensor(array if array.flags.writeable else _writable(array), dtype=dtype)


def _writable(array: np.ndarray) -> np.ndarray:
    """Read-only ``array``'s numbers in writable memory. A view of a file mapped read-only (an
    ``np.memmap``, ``np.load(mmap_mode='r')``'s) is mapped again copy-on-write (``mode='c'``), its
    offset and strides kept: pages stay the file's, shared and read on demand, until written, and a write
    goes to private pages, never to the file (a copy of a 390 MB memmap raised the peak memory from 720 to
    1113 MB). Any other read-only array (pandas' ``to_numpy()``, ``np.frombuffer`` of bytes) is copied:
    its memory is the user's, and as large again; so is a mapping whose file was replaced since (a new
    file by the same name, whose numbers are not the array's) or that this system cannot check
    (:func:`_maps_file`)."""
    mapped = _file_mapping(array)
    if mapped is None or mapped.filename is None or array.size == 0:
        return array.copy()
    address = array.__array_interface__["data"][0]
    start = address - mapped.__array_interface__["data"][0]
    extent = sum((n - 1) * stride for n, stride in zip(array.shape, array.strides)) + array.itemsize
    try:
        with open(mapped.filename, "rb") as file:  # checked and mapped through one descriptor: no race
            if not _maps_file(address, os.fstat(file.fileno())):
                return array.copy()
            pages = np.memmap(file, np.uint8, mode="c", offset=mapped.offset + start, shape=(extent,))
    except (OSError, ValueError):  # the file gone or cut shorter since it was mapped
        return array.copy()
    return np.ndarray(array.shape, array.dtype, buffer=pages, strides=array.strides)


def _maps_file(address: int, file: os.stat_result) -> bool:
    """Whether this process's mapping holding ``address`` is of ``file`` (the same device and inode, as
    Linux lists them in /proc/self/maps). False where it is not, and where the system lists no maps or
    lists another device than ``stat`` gives (overlayfs may): the caller then copies, never reads
    another file's numbers."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                span, _, _, device, inode = line.split(maxsplit=5)[:5]
                low, high = (int(bound, 16) for bound in span.split("-"))
                if low <= address < high:
                    major, minor = (int(number, 16) for number in device.split(":"))
                    return (major, minor, int(inode)) == (
                        os.major(file.st_dev),
                        os.minor(file.st_dev),
                        file.st_ino,
                    )
    except OSError:  # no /proc: not Linux
        return False
    return False


def _file_mapping(array: np.ndarray) -> np.memmap | None:
    """The ``np.memmap`` whose file mapping holds ``array``'s memory (``array`` itself or an array it is
    a view of), or None."""
    base: Any = array
    while isinstance(base, np.ndarray):
        if isinstance(base, np.memmap) and isinstance(base.base, mmap.mmap):
            return base
        base = base.base
    return None


_SHOWN_LABELS = 6  # of a remapping said in the data's note


def _label_text(label: Any) -> str:
    """A class label as the note shows it: text as it is (bytes decoded), a whole number in full (1000001,
    where ``:g`` showed 1e+06 for it and for 1000002 alike), another number short."""
    if isinstance(label, str):
        return str(label)  # numpy.str_ shown as text: repr gave np.str_('cat')
    if isinstance(label, bytes):  # text kept as bytes (dtype S): float() refused b'cat'
        return label.decode(errors="backslashreplace")
    return str(int(label)) if float(label).is_integer() else f"{label:g}"


def listed_label(label: Any) -> str:
    """A class label as a list of them, joined by ', ', shows it (:func:`_label_text`): text holding a
    comma or spaces at an end quoted, which read as two labels ('labels cat, big, dog as classes 0-1') or
    as another label."""
    text = _label_text(label)
    return repr(text) if isinstance(label, (str, bytes)) and ("," in text or text != text.strip()) else text


def int64_labels(labels: np.ndarray, field: str) -> np.ndarray:
    """Whole-number ``labels`` as int64, the dtype torch's losses take class ids in (torch has no
    arithmetic for uint64), exactly: unsigned ones past int64's largest, which a cast wraps to negative
    ones, are refused naming the first and ``field``."""
    if labels.dtype.kind == "u" and (past := labels > np.iinfo(np.int64).max).any():
        raise InvalidValueError(
            field,
            int(labels[past].flat[0]),
            f"labels up to {np.iinfo(np.int64).max} (2**63 - 1), int64's largest: class ids as torch's "
            "losses take them",
        )
    return labels.astype(np.int64)


def _reject_missing_names(classes: np.ndarray, kept: np.ndarray, name: str) -> None:
    """Refuse distinct class names ``classes`` (text, or bytes; ``kept``: each example's index among
    them) of which one is what numpy makes of a missing value: '' or 'nan' (``numpy.array(["cat",
    numpy.nan])`` holds 'nan'), which became a class of its own. Other cells that ``pandas.read_csv``
    reads as missing ('NA', 'None', '?') are names in an array (pandas' ``isna`` is False on them)."""
    if classes.dtype.kind not in "US":
        return
    for i, label in enumerate(classes):
        text = _label_text(label)
        if text == "" or text.strip().lstrip("+-").lower() == "nan":
            raise InvalidValueError(
                f"class label of example {int(np.argmax(kept == i))} in {name}",
                text,
                "a label in every example: missing ones ('' or 'nan', as numpy writes a NaN) are not "
                "guessed; fill or drop those examples",
            )


def _classes(labels: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``labels``, sorted, and each label's index among them; labels of mixed types (a name
    beside a number or a missing value's NaN), which sort in no order, are refused naming the types."""
    try:
        return np.unique(labels, return_inverse=True)
    except TypeError:  # numpy: "'<' not supported between instances of 'str' and 'int'"
        kinds = sorted({type(label).__name__ for label in labels})
        raise InvalidValueError(
            f"targets of {name}",
            f"labels of mixed types ({', '.join(kinds)})",
            "labels of one type: every one a number, or every one a name (str); fill or drop missing ones",
        ) from None


def float_task(targets: Tensor | np.ndarray) -> Task | None:
    """``"regression"`` for a float target per example (rows first) that is not a 0/1 label: a count or
    a rating is what its dtype says (torch's classification losses take integer class ids), however
    whole its values; float 0/1 targets are binary labels, as ``BCEWithLogitsLoss`` takes them (two
    classes, with an accuracy). None otherwise: the values decide
    (:meth:`~optimlab.data.Examples.from_arrays`, as for files, where every column is a number)."""
    floating = targets.is_floating_point() if isinstance(targets, Tensor) else targets.dtype.kind == "f"
    one_each = len(targets) > 0 and math.prod(targets.shape) == len(targets)
    if not (floating and one_each):
        return None
    return None if zero_one(targets) else "regression"


# why one-hot labels are refused as (N, K) class labels, and how to give them
ONE_HOT = (
    "these are one-hot rows, one label each (one 1 per row, as keras.utils.to_categorical writes them); give "
    "their class ids, y.argmax(1)"
)


def one_hot_rows(targets: Tensor | np.ndarray) -> bool:
    """Whether ``targets`` (N, K) are one-hot rows: 0/1 values, a single 1 in each row."""
    return (
        targets.ndim == 2 and targets.shape[1] > 1 and zero_one(targets) and bool((targets.sum(1) == 1).all())
    )


def zero_one(targets: Tensor | np.ndarray) -> bool:
    """Whether every target is 0 or 1: binary labels, as ``BCEWithLogitsLoss`` takes them."""
    return bool(((targets == 0) | (targets == 1)).all())


FLOAT32_EXACT = 2**24  # every integer up to this in magnitude is a float32 exactly; not all above it


def _reject_inexact_integers(values: np.ndarray, what: str) -> None:
    """Refuse integers that float32 cannot hold exactly (ids past 16,777,216 would merge silently)."""
    if values.dtype.kind in "iu" and values.size and (largest := int(np.abs(values).max())) > FLOAT32_EXACT:
        raise InvalidValueError(
            what,
            f"integers up to {largest:,}",
            f"integers within ±{FLOAT32_EXACT:,}, which float32 holds exactly",
        )


def _reject_flattened(values: np.ndarray, what: str) -> None:
    """Refuse a feature whose values differ but are one float32 (timestamps 1700000001 and 1700000002,
    128 apart from one float32 to the next there): the float32 tensors a model trains on would hold it
    as a constant, its information gone without a word."""
    if values.dtype.kind != "f" or values.dtype.itemsize <= 4 or values.size == 0:
        return
    table = values.reshape(len(values), -1)
    low, high = table.min(0), table.max(0)  # rounding is monotone: the ends one float32, all between too
    flattened = (high > low) & (low.astype(np.float32) == high.astype(np.float32))
    if flattened.any():
        j = int(np.argmax(flattened))
        # per-row values of more than one axis are named as values[:, 7, 2] reaches them, as reject_non_finite does
        place = (
            f"feature {j}"
            if values.ndim <= 2
            else f"position {tuple(int(i) for i in np.unravel_index(j, values.shape[1:]))}"
        )
        raise InvalidValueError(
            f"{place} of the {what}",
            f"values {table[:, j].min():.17g} to {table[:, j].max():.17g}",
            "values that float32, what the model trains on, tells apart (here all one float32): subtract "
            "an offset first (ts - ts.min()), or give their differences",
        )


def reject_non_finite(
    values: np.ndarray,
    what: str,
    *,
    row_name: Callable[[int], str] = "example {}".format,
    column_name: Callable[[int], str] = "column {}".format,
    written: Callable[[tuple[int, ...]], str] | None = None,
) -> None:
    """Refuse NaN and infinite values (also those past float32's range, which training turns into
    infinities), naming the first one's row and column: with one NaN input every loss is NaN, and the
    run looks like a learning rate that is too high. ``written`` gives the text a position was read from,
    which the refusal quotes (a CSV cell '1e400', read as inf, a value the file does not hold)."""
    if values.dtype.kind not in "fc" or values.size == 0:
        return
    with np.errstate(over="ignore"):
        bad = ~np.isfinite(values.astype(np.float32, copy=False))
    if not bad.any():
        return
    position = tuple(int(i) for i in np.argwhere(bad)[0])
    place = [row_name(position[0])]
    if values.ndim == 2:
        place.append(column_name(position[1]))
    elif values.ndim > 2:
        place.append(f"position {position[1:]}")
    raise InvalidValueError(
        f"{what} at {', '.join(place)}",
        values[position].item() if written is None else written(position),
        f"finite numbers within float32's range ({int(bad.sum())} found that are not); fill or drop "
        "the missing or infinite values before training",
    )


# Whole floats (every number of a CSV) of more distinct values than this, most of them distinct, are
# amounts, not labels: prices in whole dollars, 300 of them in 300 rows, were 300 classes of one row
# each, which left the stratified split nothing to hold out (0 validation and 0 test rows).
MOST_CLASSES_GUESSED = 10


def _looks_like_labels(y: np.ndarray) -> bool:
    """Text and integers are labels; whole floats too, unless :data:`MOST_CLASSES_GUESSED` says they
    are amounts."""
    if y.dtype.kind in "biuUSO":
        return True
    if y.dtype.kind != "f" or not (np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        return False
    distinct = len(np.unique(y))
    return distinct <= MOST_CLASSES_GUESSED or distinct <= len(y) / 2
