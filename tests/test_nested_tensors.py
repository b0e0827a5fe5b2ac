"""optimlab.nested_tensors: the tensors of a nested value, against torch's own pytree walk."""

from __future__ import annotations

import collections
import collections.abc

import torch
from torch import nn
from torch.utils import _pytree

from optimlab.nested_tensors import map_tensors, tensors_in


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


class ItemsInAnAttribute(collections.abc.MutableMapping):
    """A user's batch that keeps its items in a dict attribute, which its shallow copy shares."""

    def __init__(self, **items):
        self.held = dict(items)

    def __getitem__(self, key):
        return self.held[key]

    def __setitem__(self, key, item):
        self.held[key] = item

    def __delitem__(self, key):
        del self.held[key]

    def __iter__(self):
        return iter(self.held)

    def __len__(self):
        return len(self.held)


def test_mapping_tensors_rebuilds_each_container_as_torchs_pytree_does_and_writes_into_none():
    """map_tensors against torch's tree_map: the same leaves mapped, each container its own type (a named
    tuple, an OrderedDict, a list, a tuple); non-tensors kept; a mapping of the user's keeping its items
    in an attribute (shared by its shallow copy) comes back of its own type, the user's left as given."""
    Pair = collections.namedtuple("Pair", "x y")
    batch = collections.OrderedDict(
        a=Pair(torch.ones(2), "label"), b=[torch.zeros(3), (torch.arange(2), 4.0)], c={"d": torch.ones(1)}
    )
    mapped = map_tensors(batch, lambda t: t * 2)
    expected = _pytree.tree_map(lambda v: v * 2 if isinstance(v, torch.Tensor) else v, batch)
    assert _pytree.tree_structure(mapped) == _pytree.tree_structure(expected)
    for got, want in zip(_pytree.tree_leaves(mapped), _pytree.tree_leaves(expected), strict=True):
        assert torch.equal(got, want) if isinstance(want, torch.Tensor) else got == want
    assert type(mapped) is collections.OrderedDict and type(mapped["a"]) is Pair
    x = torch.ones(2)
    held = ItemsInAnAttribute(x=x)
    moved = map_tensors(held, torch.neg)
    assert type(moved) is ItemsInAnAttribute and torch.equal(moved["x"], -x) and held["x"] is x
    assert map_tensors(7, torch.neg) == 7


class ReadOnlyItems(ItemsInAnAttribute):
    """A user's mutable mapping whose ``__setitem__`` refuses writes (a frozen config-like batch)."""

    def __setitem__(self, key, item):
        raise TypeError("read-only")


class RefusesCopies(ItemsInAnAttribute):
    """A user's mutable mapping that cannot be copied (it holds a handle, say)."""

    def __copy__(self):
        raise TypeError("cannot copy")


def test_a_mapping_refusing_writes_or_copies_comes_back_a_dict_of_its_items_mapped():
    """A mutable mapping of the user's whose __setitem__ (or copy) raises came back as a raw TypeError from
    map_tensors (a2d4458f), where it had been a dict: it is a dict again, holding the items mapped as
    torch's own tree_map of the same dict maps them, the user's mapping left holding its own."""
    x, y = torch.ones(2), torch.arange(3)
    for kind in (ReadOnlyItems, RefusesCopies):
        given = kind(x=x, parts=[y, "label"])
        mapped = map_tensors(given, torch.neg)
        expected = _pytree.tree_map(
            lambda v: -v if isinstance(v, torch.Tensor) else v, {"x": x, "parts": [y, "label"]}
        )
        assert type(mapped) is dict and _pytree.tree_structure(mapped) == _pytree.tree_structure(expected)
        for got, want in zip(_pytree.tree_leaves(mapped), _pytree.tree_leaves(expected), strict=True):
            assert torch.equal(got, want) if isinstance(want, torch.Tensor) else got == want
        assert given["x"] is x and given["parts"][0] is y
