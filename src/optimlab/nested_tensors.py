"""The tensors inside a nested Python value: a module's arguments or output (an LSTM's ``(output, (h, c))``,
a Hugging Face ModelOutput), an optimizer's state (named tuples, lists and dicts of tensors), a user's
batch (tuples, named tuples, lists, dicts, a BatchEncoding)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from torch import Tensor

__all__ = ["map_tensors", "tensors_in"]


def tensors_in(value: Any) -> list[Tensor]:
    """Every tensor of ``value``: itself, or those in its tuples, lists and dicts (values), depth first."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    return []


def _is_tensor(value: Any) -> bool:
    return isinstance(value, Tensor)


def map_tensors(value: Any, fn: Callable[[Any], Any], *, is_leaf: Callable[[Any], bool] = _is_tensor) -> Any:
    """``value`` with each tensor ``t`` in it (each value ``is_leaf`` takes, one not walked into) replaced
    by ``fn(t)``, every container rebuilt as its own type: a named tuple from its fields, a tuple or list,
    a mutable mapping (an OrderedDict, a Hugging Face BatchEncoding or ModelOutput) as a copy of its own
    (:func:`_mapped_mapping`; a dict where it refuses a copy or writes), another mapping as a dict.
    Anything else is kept as it is; ``value`` is left holding the items it held (a copy that writes into
    it, sharing its items, has them put back)."""
    if is_leaf(value):
        return fn(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple takes its fields one by one
        return type(value)(*(map_tensors(item, fn, is_leaf=is_leaf) for item in value))
    if isinstance(value, (tuple, list)):
        return type(value)([map_tensors(item, fn, is_leaf=is_leaf) for item in value])
    if type(value) is dict or (isinstance(value, Mapping) and not isinstance(value, MutableMapping)):
        return {key: map_tensors(item, fn, is_leaf=is_leaf) for key, item in value.items()}
    if isinstance(value, MutableMapping):
        return _mapped_mapping(
            value, {key: map_tensors(item, fn, is_leaf=is_leaf) for key, item in value.items()}
        )
    return value


def _mapped_mapping(value: MutableMapping, mapped: dict) -> MutableMapping:
    """A copy of ``value`` of its own type and attributes (BatchEncoding's encodings) holding ``mapped``;
    ``mapped`` itself (a dict) where ``value`` refuses a copy or the copy refuses writes (a read-only
    mapping's ``__setitem__``). A mapping keeping its items in an attribute (a dict) shares it with its
    shallow copy, so the copy is given its own; where the copy still writes into ``value`` (its items
    kept elsewhere), ``value``'s own items are put back and ``mapped`` is given as a dict."""
    items = dict(value.items())
    try:
        copied = copy.copy(value)
        state = getattr(copied, "__dict__", {})
        for name, attribute in state.items():
            if isinstance(attribute, (MutableMapping, list, set)):
                state[name] = copy.copy(attribute)
        for key, item in mapped.items():
            copied[key] = item
    except Exception:  # whatever a user's mapping raises to refuse it: its items given as a dict
        copied = mapped
    if any(value[key] is not item for key, item in items.items()):
        for key, item in items.items():
            value[key] = item
        return mapped
    return copied
