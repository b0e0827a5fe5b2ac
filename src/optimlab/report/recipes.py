"""Recipes as tables: a nested recipe as ``(dotted field, value)`` rows, and the fields where recipes differ.

>>> flat_fields({"optimizer": {"name": "adam", "lr": 0.001}, "seed": 0})
[('optimizer.name', 'adam'), ('optimizer.lr', 0.001), ('seed', 0)]
>>> differing_fields([{"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}])
{'a.c': [2, 3]}
>>> differing_fields([{"init": "he"}, {"init": {"name": "orthogonal", "gain": 2}}])
{'init': ['he', '{name: orthogonal, gain: 2}']}
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import yaml

from optimlab.recipe import OWN_DEFAULT, ModelSpec, Recipe
from optimlab.registry import get_registry

__all__ = ["DEFAULT", "default_values", "defaults_named", "differing_fields", "flat_fields", "not_taken"]


DEFAULT = "(default)"  # what a page shows for a null field: the component's own default, not a blank


def flat_fields(
    data: Mapping[str, Any], prefix: str = "", *, null: Any = None, whole: Collection[str] = ()
) -> list[tuple[str, Any]]:
    """A nested recipe as ``(dotted field, value)`` rows; lists, empty mappings and the fields in
    ``whole`` shown as inline YAML, a null value as ``null``."""
    rows = []
    for key, value in data.items():
        field = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and field not in whole:
            rows += flat_fields(value, f"{field}.", null=null, whole=whole)
        else:
            rows.append(
                (field, null if value is None else _text(value) if isinstance(value, (dict, list)) else value)
            )
    return rows


def _text(value: dict[str, Any] | list[Any]) -> str:
    """A mapping or a list as a recipe's YAML writes it inline: ``{name: orthogonal, gain: 2.0}``."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=math.inf).strip()


def differing_fields(recipes: Sequence[Mapping[str, Any]], *, null: Any = None) -> dict[str, list[Any]]:
    """``{field: [value in each recipe]}`` for the fields whose values are not all equal; a field null or
    absent in a recipe (its default) shows as ``null``. A field that is a value in one recipe and a
    mapping in another (``model.init: he`` beside ``{name: orthogonal, gain: 2}``, ``options: {}`` beside
    ``{betas: ...}``) is compared whole: flattened, each recipe showed ``null`` where the other had a
    value, ``model.init: (default)`` for an orthogonal init."""
    flats = [dict(flat_fields(recipe, null=null)) for recipe in recipes]
    leaves = {field for flat in flats for field in flat}
    whole = {field for field in leaves if any(other.startswith(f"{field}.") for other in leaves)}
    if whole:
        flats = [dict(flat_fields(recipe, null=null, whole=whole)) for recipe in recipes]
    fields = list(dict.fromkeys(field for flat in flats for field in flat))
    values = {field: [flat.get(field, null) for flat in flats] for field in fields}
    return {field: row for field, row in values.items() if any(v != row[0] for v in row)}


def not_taken(recipe: Recipe) -> dict[str, str]:
    """``{field: note}`` of the model fields the model in ``recipe`` does not take (the user's factory that
    names no ``activation``, a logistic regression): none goes to it, so their values are placeholders."""
    name = recipe.model.name
    takes = get_registry("model").get(name).hyperparameter_names
    fields = (*ModelSpec.TECHNIQUES, "width", "depth")
    return {f"model.{k}": f"not taken by {name}" for k in fields if k not in takes}


def default_values(recipe: Recipe, sections: Collection[str] = ("model", "optimizer")) -> dict[str, Any]:
    """``{field: value}`` of the null fields of ``recipe``'s ``sections`` whose component states its
    default (``model.width: 128`` for the MLP, ``optimizer.lr: 0.001`` for Adam): what trained; of a
    technique at :data:`~optimlab.recipe.OWN_DEFAULT`, the model's own default by name (``LayerNorm``)."""
    values = {}
    for section in sections:
        spec = getattr(recipe, section)
        entry = get_registry(section).get(spec.name)
        for hyperparameter in entry.hyperparameters:
            held, default = getattr(spec, hyperparameter.name, 0), hyperparameter.default
            if section == "model" and hyperparameter.name in ModelSpec.TECHNIQUES and held == OWN_DEFAULT:
                values[f"{section}.{hyperparameter.name}"] = getattr(default, "__name__", repr(default))
            elif held is None and default is not None:
                values[f"{section}.{hyperparameter.name}"] = default
    return values


def defaults_named(recipe: Recipe, sections: Collection[str] = ("model", "optimizer")) -> dict[str, str]:
    """``{field: "(default: VALUE)"}`` of :func:`default_values`, ``"(mod:Net's own: LayerNorm)"`` of a
    technique at the model's own: a page says what trained, not only that a default did."""
    own = {f"model.{k}" for k in ModelSpec.TECHNIQUES if getattr(recipe.model, k) == OWN_DEFAULT}
    return {
        field: f"({recipe.model.name}'s own: {value})" if field in own else f"{DEFAULT[:-1]}: {value})"
        for field, value in default_values(recipe, sections).items()
    }
