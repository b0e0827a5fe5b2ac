"""The module under ``torch.compile``'s wrapper (``OptimizedModule``), which trains the same parameters.
What is read of a model's structure (its modules, hooks, a copy of it) is read there: the wrapper passes
the attributes set on it on to the module it holds."""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["uncompiled"]


def uncompiled(model: Any) -> Any:
    """The module ``torch.compile`` wrapped in ``model`` (its ``_orig_mod``, through each wrapper);
    ``model`` itself where it is no wrapper."""
    while isinstance(inner := getattr(model, "_orig_mod", None), nn.Module):
        model = inner
    return model
