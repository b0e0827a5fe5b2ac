"""The user's own architecture by import path: ``model: {name: "mypkg.nets:build", options: {...}}``.

The factory gets the recipe's model options as keywords (its keywords with defaults are the entry's
hyperparameters, checked like a built-in's), and the data's ``input_shape`` and ``num_outputs`` too
when its signature names them; it returns an ``nn.Module``. A class that is an ``nn.Module`` is its own
factory. Registered on first lookup (:mod:`optimlab.user_code`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from optimlab.errors import InvalidValueError

__all__ = ["DATA_KEYWORDS", "adapt_model"]

DATA_KEYWORDS = ("input_shape", "num_outputs")  # what the factory may ask of the data, by name


def adapt_model(path: str, target: Any) -> Callable[..., nn.Module]:
    """``target`` as a model factory ``fn(input_shape, num_outputs, **options) -> nn.Module``."""
    if not callable(target):
        raise InvalidValueError(
            f"model {path!r}", type(target).__name__, "a function or class returning an nn.Module"
        )
    signature = inspect.signature(target)
    wanted = [name for name in DATA_KEYWORDS if name in signature.parameters]

    def factory(input_shape: tuple[int, ...], num_outputs: int, **options: Any) -> nn.Module:
        given = dict(zip(DATA_KEYWORDS, (tuple(input_shape), num_outputs)))
        built = target(**{name: given[name] for name in wanted}, **options)
        if not isinstance(built, nn.Module):
            raise InvalidValueError(f"what model {path!r} returned", type(built).__name__, "an nn.Module")
        return built

    factory.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name not in DATA_KEYWORDS]
    )
    factory.__doc__ = target.__doc__
    return factory
