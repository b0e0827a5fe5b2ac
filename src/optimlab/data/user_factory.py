"""The user's own data set by import path: ``data: {name: "mypkg.data:load", options: {...}}``.

The factory gets the recipe's data options as keywords (and ``seed`` when its signature names it) and
returns one of:

* ``(x, y)``: inputs and targets (tensors or arrays), split by the recipe's fractions like a built-in set;
* ``(train, val)`` or ``(train, val, test)``: each a pair ``(x, y)``, a ``Dataset`` or a ``DataLoader``,
  kept as the user's fixed splits (no test split: an empty one), so the recipe's fractions stay at
  their defaults;
* a ``Dataset`` or ``DataLoader`` of ``(input, target)`` items, read once into memory and split;
* optimlab's own :class:`~optimlab.data.Examples` or :class:`~optimlab.data.Splits`.

Everything is materialised into tensors, as every optimlab data set is: fine for data that fits in
memory; for larger data give the doctor and the LR range test the loader itself
(:mod:`optimlab.data.user_batches`). Registered on first lookup (:mod:`optimlab.user_code`).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset

from optimlab.data.examples import DatasetInfo, Examples, TensorPair
from optimlab.data.splits import Splits
from optimlab.data.torch_dataset import from_torch_dataset
from optimlab.data.user_batches import describe
from optimlab.errors import InvalidValueError

__all__ = ["ACCEPTED_RETURNS", "adapt_dataset", "as_data"]

ACCEPTED_RETURNS = (
    "(x, y) tensors or arrays, (train, val[, test]) splits each a pair, Dataset or DataLoader, "
    "a Dataset or DataLoader of (input, target) items, or optimlab Examples or Splits"
)


def _is_array(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray))


def _pair(value: Any, name: str) -> TensorPair | None:
    """``value`` as two tensors, or None when it is not a pair, a Dataset or a DataLoader."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_array, value)):
        return TensorPair(torch.as_tensor(value[0]), torch.as_tensor(value[1]))
    if isinstance(value, DataLoader):
        pieces = [
            (batch[0], batch[1]) for batch in value if isinstance(batch, (tuple, list)) and len(batch) == 2
        ]
        if not pieces or len(pieces) != len(value):
            raise InvalidValueError(
                f"batches of {name}", describe(next(iter(value), None)), "(input, target) pairs"
            )
        return TensorPair(torch.cat([x for x, _ in pieces]), torch.cat([y for _, y in pieces]))
    if isinstance(value, (Dataset, IterableDataset)):
        data = from_torch_dataset(value, name=name)
        return data.examples
    return None


def as_data(value: Any, name: str) -> Examples | Splits:
    """What the user's factory returned, as optimlab's examples to split or fixed splits."""
    if isinstance(value, (Examples, Splits)):
        return value
    whole = _pair(value, name)
    if whole is not None:
        return Examples.from_arrays(whole.x, whole.y, name=name)
    if isinstance(value, (tuple, list)) and len(value) in (2, 3):
        parts = [_pair(part, f"{name} split {i}") for i, part in enumerate(value)]
        if all(part is not None for part in parts):
            # Labels of all splits are mapped together, so a class has one id in each.
            joined = Examples.from_arrays(
                torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]), name=name
            )
            ends = np.cumsum([0, *(len(p) for p in parts)])
            train, val, *test = (
                joined.examples.subset(torch.arange(a, b)) for a, b in itertools.pairwise(ends)
            )
            info = {f.name: getattr(joined, f.name) for f in dataclasses.fields(DatasetInfo)}
            return Splits(**info, train=train, val=val, test=test[0] if test else val.subset(torch.arange(0)))
    raise InvalidValueError(f"what dataset {name!r} returned", describe(value), ACCEPTED_RETURNS)


def adapt_dataset(path: str, target: Any) -> Callable[..., Examples | Splits]:
    """``target`` as a data set entry ``fn(seed, **options) -> Examples | Splits``."""
    if not callable(target):
        raise InvalidValueError(f"dataset {path!r}", type(target).__name__, "a function returning data")
    signature = inspect.signature(target)
    takes_seed = "seed" in signature.parameters

    def factory(seed: int, **options: Any) -> Examples | Splits:
        return as_data(target(**({"seed": seed} if takes_seed else {}), **options), path)

    factory.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name != "seed"]
    )
    factory.__doc__ = target.__doc__
    return factory
