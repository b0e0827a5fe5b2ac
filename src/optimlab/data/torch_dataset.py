"""Any torch ``Dataset`` of (input, target) pairs, materialized into two in-memory tensors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import IterableDataset

from optimlab.data.examples import Examples, Task, float_task, shared_tensor
from optimlab.data.image_folder import image_pixels, images_array, images_in_mode, modes_read, richest_mode
from optimlab.data.numpy_file import image_shape_of
from optimlab.data.user_batches import describe
from optimlab.errors import InvalidValueError

__all__ = ["MORE_THAN_PAIRS", "MOST_STREAMED", "Pairs", "finite", "from_torch_dataset", "read_pairs"]

T = TypeVar("T")

# What holds more than (input, target) rows, for the messages that refuse it.
MORE_THAN_PAIRS = (
    "several inputs, or weights or masks beside the target, train as dict batches: a Dataset of "
    "{'<forward's argument>': x, ..., 'labels': y} items, the inputs given by name to a model whose "
    "logits and the labels go to the loss you name (training.loss: cross_entropy, or loss= in Python), "
    "or each batch given whole to a model that returns its own loss"
)

# Rows of a stream (an IterableDataset, a DataLoader over one) read into memory at most: an endless one
# hung the verb reading it. Items of 4 floats and a class: 100,000 read in 1.2 s; `optimlab train` on an
# endless stream of them is refused after 20 s (the 2-core CPU box, shared).
MOST_STREAMED = 1_000_000


def finite(items: Iterable[T], name: str, rows: Callable[[T], int] = lambda _: 1) -> Iterator[T]:
    """``items`` as they come, refused once they hold over :data:`MOST_STREAMED` rows (``rows`` of each;
    one by default): read into memory, an endless stream never ends."""
    read = 0
    for item in items:
        read += rows(item)
        if read > MOST_STREAMED:
            raise InvalidValueError(
                name,
                f"a stream still yielding after {MOST_STREAMED:,} rows (endless?)",
                f"a finite stream of at most {MOST_STREAMED:,} rows, read into memory once: end its "
                "__iter__ where the data ends (itertools.islice(rows, n)), or give a map-style Dataset",
            )
        yield item


def _as_tensor(value: Any, where: str) -> torch.Tensor:
    """``value`` (``where`` names it) as a tensor; what holds no numbers (None, text, objects) is refused
    in one line, where torch raised "can't convert np.ndarray of type numpy.object_"."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    array = np.array(value)  # a copy: a Dataset may fill one buffer anew for each item it hands out
    if array.dtype.kind not in "biufc":
        raise InvalidValueError(where, describe(value), "a tensor, an array or numbers")
    return shared_tensor(array)


def _is_image(value: Any) -> bool:
    """Whether ``value`` is a Pillow image (checked without importing Pillow)."""
    return type(value).__module__.partition(".")[0] == "PIL" and hasattr(value, "getbands")


def _class_names(targets: list[Any], name: str) -> np.ndarray:
    """Targets that are class names as an array of strings, which
    :meth:`~optimlab.data.Examples.from_arrays` maps to class ids in sorted order (as for the targets of
    an (x, y) pair); a number (a tensor by now) among them is refused, naming its item."""
    odd = next((i for i, t in enumerate(targets) if not isinstance(t, str)), None)
    if odd is not None:
        raise InvalidValueError(
            f"target of item {odd} of {name}",
            f"{targets[odd].tolist()!r} among class names",
            "targets of one kind: every one a class name (str), or every one a number",
        )
    return np.array(targets)


_RESIZE = "or resize them in the Dataset (torchvision.transforms.Resize)"


def from_torch_dataset(
    dataset: Iterable[Any], *, name: str = "torch_dataset", task: Task | None = None
) -> Examples:
    """Read every (input, target) pair of ``dataset`` once and stack them.

    Map-style datasets are read by index 0..len-1, iterable ones by iteration. Inputs may be tensors,
    arrays or anything NumPy converts; Pillow images (a torchvision data set without transforms) are
    read as a folder of image files is (:func:`~optimlab.data.image_folder.images_array`: (C, H, W) in
    [0, 1], as torchvision's ``ToTensor``; read as arrays, they were (H, W, C) of 0..255, and a CNN took
    their rows for channels). Integer targets and class names (strings) are class labels, float ones
    regression targets but for 0/1 labels (:func:`~optimlab.data.examples.float_task`), unless ``task``
    says otherwise. Split it with :func:`optimlab.data.split`.

    >>> ds = torch.utils.data.TensorDataset(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]))
    >>> from_torch_dataset(ds).num_classes
    3
    """
    return read_pairs(dataset, name).examples(name, task)


@dataclasses.dataclass(frozen=True)
class Pairs:
    """The (input, target) pairs of a data set, stacked: the targets are class names as an array of
    strings (mapped to ids where every split is known) or a tensor; ``image_shape`` and ``reading`` are
    set for Pillow images, the reading where their modes were mixed (:func:`modes_read`), as a folder of
    image files says it, from each image's ``modes`` as read (:func:`image_pixels`) and its ``own_modes``
    as Pillow opened it."""

    x: torch.Tensor
    y: torch.Tensor | np.ndarray
    image_shape: tuple[int, ...] | None = None
    reading: str | None = None
    modes: tuple[str, ...] = ()
    own_modes: tuple[str, ...] = ()

    def examples(self, name: str, task: Task | None = None) -> Examples:
        """The pairs as :class:`~optimlab.data.Examples` named ``name``, of ``task`` (by default guessed:
        :func:`~optimlab.data.examples.float_task`); inputs (N, C, H, W) are images channels first, as an
        .npz file's are (:func:`~optimlab.data.numpy_file.image_shape_of`)."""
        return Examples.from_arrays(
            self.x,
            self.y,
            name=name,
            task=task or float_task(self.y),
            image_shape=self.image_shape or image_shape_of(tuple(self.x.shape)),
            reading=self.reading,
        )


def in_one_mode(splits: list[Pairs]) -> list[Pairs]:
    """``splits`` of Pillow images, each read in the richest of its own modes, all in the richest of
    every split's (gray and colour splits as colour), their modes said once over all, as a folder's
    train/ and val/ are read; others as they are."""
    if not all(split.modes for split in splits):
        return splits
    modes = [mode for split in splits for mode in split.modes]
    target = richest_mode(modes)
    reading = modes_read(modes, [mode for split in splits for mode in split.own_modes]) or None
    joined = []
    for split in splits:
        x = torch.as_tensor(images_in_mode(split.x.numpy(), split.modes, target))
        joined.append(dataclasses.replace(split, x=x, image_shape=tuple(x.shape[1:]), reading=reading))
    return joined


def read_pairs(dataset: Iterable[Any], name: str) -> Pairs:
    """Every (input, target) pair of ``dataset``, stacked."""
    map_style = not isinstance(dataset, IterableDataset) and hasattr(dataset, "__len__")
    items = (dataset[i] for i in range(len(dataset))) if map_style else finite(dataset, name)
    inputs, images, own_modes, targets = [], [], [], []
    for position, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidValueError(
                f"item {position} of {name}",
                describe(item),
                f"an (input, target) pair; {MORE_THAN_PAIRS}",
            )
        if _is_image(item[0]):
            images.append(image_pixels(item[0], f"item {position} of {name}"))
            own_modes.append(item[0].mode)
        else:
            inputs.append(_as_tensor(item[0], f"input of item {position} of {name}"))
        target = item[1]
        targets.append(
            target if isinstance(target, str) else _as_tensor(target, f"target of item {position} of {name}")
        )
    if not targets:
        raise InvalidValueError(name, "an empty dataset", "at least one (input, target) pair")
    if images and inputs:
        raise InvalidValueError(
            f"inputs of {name}",
            f"{len(images)} Pillow images and {len(inputs)} inputs of another kind",
            "inputs of one kind: every one an image, or every one a tensor or array",
        )
    y = _class_names(targets, name) if any(isinstance(t, str) for t in targets) else _targets(targets, name)
    if images:
        x = images_array(images, [f"item {i} of {name}" for i in range(len(images))], _RESIZE)
        modes = tuple(mode for _, mode in images)
        reading = modes_read(modes, own_modes) or None
        return Pairs(torch.as_tensor(x), y, tuple(x.shape[1:]), reading, modes, tuple(own_modes))
    return Pairs(_stacked(inputs, name), y)


def _stacked(inputs: list[torch.Tensor], name: str) -> torch.Tensor:
    """``inputs`` stacked into one tensor; inputs of another shape than the first item's are refused,
    naming the first such item (``torch.stack`` said only 'stack expects each tensor to be equal size')."""
    shape = inputs[0].shape
    odd = next((i for i, x in enumerate(inputs) if x.shape != shape), None)
    if odd is not None:
        raise InvalidValueError(
            f"input of item {odd} of {name}",
            f"shape {tuple(inputs[odd].shape)}",
            f"the shape of every input, item 0's {tuple(shape)}: crop or pad them to one in the Dataset, or "
            "give sequences of several lengths as dict batches, a DataLoader whose collate_fn pads them",
        )
    return torch.stack(inputs)


def _targets(targets: list[torch.Tensor], name: str) -> torch.Tensor:
    """``targets`` stacked into one tensor; a target of another shape or kind (a float among integer
    class ids, which ``torch.stack`` promoted to floats, turning every label into a regression target) than
    the first item's is refused, naming the first such item."""
    first = targets[0]
    odd = next(
        (
            i
            for i, t in enumerate(targets)
            if t.shape != first.shape or t.is_floating_point() != first.is_floating_point()
        ),
        None,
    )
    if odd is not None:
        raise InvalidValueError(
            f"target of item {odd} of {name}",
            describe(targets[odd]),
            f"a target of item 0's shape {tuple(first.shape)} and kind "
            f"({'float' if first.is_floating_point() else 'integer'}), as every item's: class ids as "
            "integers, regression targets as floats",
        )
    return torch.stack(targets)
