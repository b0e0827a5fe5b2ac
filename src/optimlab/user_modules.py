"""The user's ``nn.Module`` factory by import path, a model's or a loss's: a class or function called with
the recipe's options (and, for a model, what it asks of the data by name), what it returns checked.

One home for both kinds, below the layers that register them (``models/user.py`` adapts a model,
``techniques/losses.py`` a loss), so that neither imports the other's layer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from optimlab.errors import InvalidValueError, a_type
from optimlab.user_code import call_user, check_required, defined_at, factory_signature, positional_only

__all__ = ["module_factory"]


def module_factory(
    path: str,
    target: Any,
    what: str,
    data_keywords: tuple[str, ...] = (),
    check: Callable[[nn.Module], None] | None = None,
) -> Callable[..., nn.Module]:
    """``target`` as ``fn(*data, **options) -> nn.Module``: ``data`` (values of ``data_keywords``) go to
    it by name when its signature names them; what it returns must be an ``nn.Module``, then passes
    ``check``."""
    if not callable(target):
        raise InvalidValueError(
            f"{what} {path!r}", type(target).__name__, "a function or class returning an nn.Module"
        )
    signature = factory_signature(path, what, target)
    wanted = [name for name in data_keywords if name in signature.parameters]
    check_required(path, what, target, signature, set(wanted), data_keywords)

    def factory(*data: Any, **options: Any) -> nn.Module:
        given = dict(zip(data_keywords, data))
        keywords = {**{name: given[name] for name in wanted}, **options}
        positional = positional_only(signature, keywords)
        built = call_user(what, path, target, *positional, **keywords)
        if not isinstance(built, nn.Module):
            # a class or function it meant to call is named (shown); another value (a callable object
            # too, whose repr may run over lines) by its type alone
            shown_as = built if isinstance(built, type) or inspect.isroutine(built) else a_type(built)
            raise InvalidValueError(
                f"what {what} {path!r} returned{defined_at(target)}", shown_as, "an nn.Module"
            )
        if check is not None:
            check(built)
        return built

    factory.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name not in data_keywords]
    )
    factory.__doc__ = target.__doc__
    factory.data_keywords = tuple(wanted)  # type: ignore[attr-defined]  # what it asks of the data
    return factory
