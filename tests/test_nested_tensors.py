"""optimlab.nested_tensors: the tensors of a nested value, against torch's own pytree walk."""

from __future__ import annotations

import collections

import torch
from torch import nn
from torch.utils import _pytree

from optimlab.nested_tensors import tensors_in


def _pytree_tensors(value):
    return [leaf for leaf in _pytree.tree_leaves(value) if isinstance(leaf, torch.Tensor)]


def test_the_tensors_of_nested_values_are_torchs_pytree_leaves_in_its_order():
    """An LSTM's (output, (h, c)), a batch of dicts, lists and named tuples beside strings and numbers:
    every tensor once, depth first, as torch's pytree walks them; no tensor gives none."""
    lstm_output = nn.LSTM(3, 4, batch_first=True)(torch.randn(2, 5, 3))
    Pair = collections.namedtuple("Pair", "x y")
    batch = {
        "ids": torch.arange(4),
        "parts": [Pair(torch.ones(2), "label"), (torch.zeros(1), 3.0)],
        "name": "a",
    }
    for value in (lstm_output, batch, torch.ones(3), [], {"a": "text"}):
        found = tensors_in(value)
        assert [id(t) for t in found] == [id(t) for t in _pytree_tensors(value)], value
    assert len(tensors_in(lstm_output)) == 3 and tensors_in(7) == []
