"""Any torch Dataset, map-style or iterable, materialized into two tensors."""

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, IterableDataset, TensorDataset

from optimlab.data import from_torch_dataset, split
from optimlab.errors import InvalidValueError


def test_tensor_dataset_round_trips():
    x, y = torch.randn(8, 2, 3), torch.tensor([1, 0, 1, 1, 0, 0, 1, 0])
    data = from_torch_dataset(TensorDataset(x, y), name="mine")
    assert torch.equal(data.examples.x, x) and torch.equal(data.examples.y, y)
    assert (data.name, data.input_shape, data.num_classes) == ("mine", (2, 3), 2)
    assert len(split(data, val_fraction=0.25, test_fraction=0.25).train) == 4


class Squares(Dataset):
    """Map-style, NumPy inputs and float targets: a regression."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return np.array([i, 1.0]), float(i * i) + 0.5


class Counting(IterableDataset):
    def __iter__(self):
        return iter([(torch.tensor([float(i)]), i % 2) for i in range(4)])


def test_map_style_numpy_items_with_float_targets_are_a_regression():
    data = from_torch_dataset(Squares())
    assert data.task == "regression" and data.examples.y[:, 0].tolist() == [0.5, 1.5, 4.5, 9.5, 16.5]
    assert data.examples.x[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_iterable_datasets_are_read_by_iteration():
    data = from_torch_dataset(Counting())
    assert data.examples.x[:, 0].tolist() == [0, 1, 2, 3] and data.examples.y.tolist() == [0, 1, 0, 1]


def test_items_must_be_pairs_and_the_dataset_not_empty():
    with pytest.raises(InvalidValueError, match="item 0 of torch_dataset.*an \\(input, target\\) pair"):
        from_torch_dataset(TensorDataset(torch.zeros(3, 2)))
    with pytest.raises(InvalidValueError, match="at least one"):
        from_torch_dataset(TensorDataset(torch.zeros(0, 2), torch.zeros(0)))
