"""Any torch ``Dataset`` of (input, target) pairs, materialized into two in-memory tensors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from optimlab.data.examples import Examples, Task, float_task
from optimlab.errors import InvalidValueError

__all__ = ["from_torch_dataset"]


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.as_tensor(np.asarray(value))


def from_torch_dataset(
    dataset: Iterable[Any], *, name: str = "torch_dataset", task: Task | None = None
) -> Examples:
    """Read every (input, target) pair of ``dataset`` once and stack them.

    Map-style datasets are read by index 0..len-1, iterable ones by iteration. Inputs may be tensors,
    arrays or anything NumPy converts (PIL images); integer targets are class labels, float ones
    regression targets but for 0/1 labels (:func:`~optimlab.data.examples.float_task`), unless ``task``
    says otherwise. Split it with :func:`optimlab.data.split`.

    >>> ds = torch.utils.data.TensorDataset(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]))
    >>> from_torch_dataset(ds).num_classes
    3
    """
    map_style = not isinstance(dataset, IterableDataset) and hasattr(dataset, "__len__")
    items = (dataset[i] for i in range(len(dataset))) if map_style else iter(dataset)
    inputs, targets = [], []
    for position, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidValueError(
                f"item {position} of {name}", type(item).__name__, "an (input, target) pair"
            )
        inputs.append(_as_tensor(item[0]))
        targets.append(_as_tensor(item[1]))
    if not inputs:
        raise InvalidValueError(name, "an empty dataset", "at least one (input, target) pair")
    y = torch.stack(targets)
    return Examples.from_arrays(torch.stack(inputs), y, name=name, task=task or float_task(y))
