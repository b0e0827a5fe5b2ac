"""A technique chosen by name with its hyperparameters: ``"relu"`` or ``{"name": "leaky_relu", ...}``.

Recipes and model factories take their activation, norm and init in either form, e.g.
``{"name": "xavier_normal", "gain": 1.0}``, ``{"name": "batch", "momentum": 0.01}``,
``{"name": "leaky_relu", "negative_slope": 0.1}``. :func:`resolve` checks a choice against its
registry entry (an unknown name or keyword answers with the accepted ones) and returns the canonical
name with the hyperparameters that differ from the entry's defaults (or from what one of default None
gives when left out, beside the others given); :func:`canonical` is the form a
recipe stores: the plain name when nothing differs, so a recipe that sets no hyperparameter serialises,
and hashes, exactly as it did before techniques took any.

>>> canonical("activation", {"name": "Leaky-ReLU", "negative_slope": 0.01})
'leaky_relu'
>>> canonical("init", {"name": "he", "gain": 2.0})
{'name': 'kaiming_normal', 'gain': 2.0}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimlab.errors import InvalidValueError, close_matches, did_you_mean, with_article
from optimlab.registry import get_registry

__all__ = ["Choice", "canonical", "name_of", "resolve"]

Choice = str | Mapping[str, Any]


def resolve(category: str, choice: Choice) -> tuple[str, dict[str, Any]]:
    """(canonical name, hyperparameters that differ from their defaults) of a ``category`` choice."""
    if isinstance(choice, Mapping):
        _refuse_keys_without_a_space(category, choice)
    if isinstance(choice, str):
        name, hyperparameters = choice, {}
    elif isinstance(choice, Mapping) and isinstance(choice.get("name"), str):
        name, hyperparameters = choice["name"], {k: v for k, v in choice.items() if k != "name"}
    elif isinstance(choice, Mapping) and "name" in choice:  # {name: 5}: the key is right, its value is not
        names = ", ".join(sorted(get_registry(category).names()))
        raise InvalidValueError(
            f"{category} 'name'",
            choice["name"],
            f"{with_article(category)}'s name (a string), one of {names}",
        )
    else:
        # a key typed for name ({nmae: he}) is named, where the refusal said only what a mapping holds
        keys = choice if isinstance(choice, Mapping) else ()
        misspelt = [key for key in keys if isinstance(key, str) and close_matches(key.lower(), ["name"])]
        raise InvalidValueError(
            category,
            choice,
            f"{with_article(category)} name, or a mapping of its name and "
            "hyperparameters ({name: ..., <hyperparameter>: <value>})"
            + (f"; the key {misspelt[0]!r} names nothing{did_you_mean(['name'])}" if misspelt else ""),
        )
    entry = get_registry(category).get(name)
    entry.validate(hyperparameters)
    hyperparameters = entry.typed(hyperparameters)  # negative_slope: 0 stored as the 0.0 it equals
    defaults = {h.name: h.default for h in entry.hyperparameters}
    if entry.left_out_gives is not None:  # kaiming's gain: sqrt(2) alone is He's, as left out
        defaults.update(entry.left_out_gives(hyperparameters))
    return entry.name, {k: v for k, v in hyperparameters.items() if not _same(v, defaults[k])}


def _refuse_keys_without_a_space(category: str, choice: Mapping[Any, Any]) -> None:
    """``{name:he}``, a key and its value typed without the space YAML needs after the colon, which YAML
    reads as one key ``'name:he'`` holding null: it was told "the key 'name:he' names nothing (did you
    mean 'name'?)", of a key typed right."""
    for key, value in choice.items():
        field, colon, given = key.partition(":") if isinstance(key, str) else ("", "", "")
        if value is None and colon and field.strip() and given and not given[0].isspace():
            raise InvalidValueError(
                category,
                choice,
                f"a mapping of its name and hyperparameters; YAML read {key!r} as one key: it needs a space "
                f"after the colon, {{{field}: {given}}}",
            )


def _same(value: Any, default: Any) -> bool:
    """Equal, a list equal to a tuple of the same items included (YAML's [0, 1] is the default (0, 1))."""
    if isinstance(value, (tuple, list)) and isinstance(default, (tuple, list)):
        return list(value) == list(default)
    return value == default


def canonical(category: str, choice: Choice) -> str | dict[str, Any]:
    """The stored form of a choice: its canonical name, with its non-default hyperparameters if any."""
    name, hyperparameters = resolve(category, choice)
    return {"name": name, **dict(sorted(hyperparameters.items()))} if hyperparameters else name


def name_of(choice: Choice) -> str:
    """The name in a canonical choice (what :func:`canonical` returned)."""
    return choice if isinstance(choice, str) else choice["name"]
