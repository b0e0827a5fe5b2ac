"""A recipe's batch order, ``training.shuffle`` and ``training.drop_last``, takes true or false alone, as
``fit(shuffle=, drop_last=)`` does."""

import pytest

from optimlab.errors import OptimlabError
from optimlab.recipe import Recipe


@pytest.mark.parametrize("field", ["shuffle", "drop_last"])
@pytest.mark.parametrize("value", ["yes", "no", "false", 1, 0, 1.0])
def test_a_yes_no_field_refuses_what_is_not_true_or_false(field, value):
    """drop_last: "yes" (quoted in YAML), 1 and 1.0 were read as True, "false" and 0 as False."""
    with pytest.raises(OptimlabError, match=rf"training\.{field}: {value!r} is not true or false"):
        Recipe.from_dict({"training": {field: value}})


@pytest.mark.parametrize("field", ["shuffle", "drop_last"])
def test_yaml_true_and_false_are_taken(field):
    """YAML 1.2's true and false are booleans before the recipe sees them (YAML 1.1's yes and no are text
    refused bare: test_yaml_1_1s_yes_and_no_words_are_refused_bare_and_text_quoted)."""
    from optimlab.recipe import load_yaml

    for text, expected in (("true", True), ("false", False)):
        recipe = Recipe.from_dict({"training": {field: load_yaml(text)}})
        assert getattr(recipe.training, field) is expected
