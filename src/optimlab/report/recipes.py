"""Recipes as tables: a nested recipe as ``(dotted field, value)`` rows, and the fields where recipes differ.

>>> flat_fields({"optimizer": {"name": "adam", "lr": 0.001}, "seed": 0})
[('optimizer.name', 'adam'), ('optimizer.lr', 0.001), ('seed', 0)]
>>> differing_fields([{"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}])
{'a.c': [2, 3]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["DEFAULT", "differing_fields", "flat_fields"]


DEFAULT = "(default)"  # what a page shows for a null field: the component's own default, not a blank


def flat_fields(data: Mapping[str, Any], prefix: str = "", *, null: Any = None) -> list[tuple[str, Any]]:
    """A nested recipe as ``(dotted field, value)`` rows; lists and empty mappings shown as text, a null
    value as ``null``."""
    rows = []
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            rows += flat_fields(value, f"{prefix}{key}.", null=null)
        else:
            shown = null if value is None else str(value) if isinstance(value, (dict, list)) else value
            rows.append((f"{prefix}{key}", shown))
    return rows


def differing_fields(recipes: Sequence[Mapping[str, Any]], *, null: Any = None) -> dict[str, list[Any]]:
    """``{field: [value in each recipe]}`` for the fields whose values are not all equal; a field null or
    absent in a recipe (its default) shows as ``null``."""
    flats = [dict(flat_fields(recipe, null=null)) for recipe in recipes]
    fields = list(dict.fromkeys(field for flat in flats for field in flat))
    values = {field: [flat.get(field, null) for flat in flats] for field in fields}
    return {field: row for field, row in values.items() if any(v != row[0] for v in row)}
