"""The tensors inside a nested Python value: a module's arguments or output (an LSTM's ``(output, (h, c))``,
a Hugging Face ModelOutput), an optimizer's state (named tuples, lists and dicts of tensors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor

__all__ = ["tensors_in"]


def tensors_in(value: Any) -> list[Tensor]:
    """Every tensor of ``value``: itself, or those in its tuples, lists and dicts (values), depth first."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in tensors_in(item)]
    return []
