"""A technique chosen by name, or by a mapping of its name and hyperparameters (techniques/choice.py)."""

from __future__ import annotations

import pytest

from optimlab.errors import InvalidValueError, with_article
from optimlab.registry import get_registry
from optimlab.techniques import choice


@pytest.mark.parametrize("category", ["activation", "init", "norm"])
@pytest.mark.parametrize("name", [5, None, ["he"]])
def test_a_name_that_is_no_string_is_refused_as_the_name_it_should_be(category, name):
    """``{name: 5}`` was told "the key 'name' names nothing (did you mean 'name'?)": the key is right, its
    value is no technique's name. Truth: the registry's own names, each of which resolves."""
    names = sorted(get_registry(category).names())
    assert all(choice.resolve(category, {"name": n})[0] == n for n in names)
    with pytest.raises(InvalidValueError) as refused:
        choice.resolve(category, {"name": name})
    assert str(refused.value) == (
        f"invalid value {name!r} for {category} 'name': accepted {with_article(category)}'s name (a string), "
        f"one of {', '.join(names)}."
    )
