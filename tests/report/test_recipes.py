"""Recipes as tables: a null field and an absent one both show as the default, and are not a difference."""

from optimlab.report.recipes import DEFAULT, differing_fields, flat_fields


def test_a_null_or_absent_field_shows_as_the_default():
    a = {"optimizer": {"name": "adam", "lr": None}}
    b = {"optimizer": {"name": "adam", "lr": 0.01, "options": {"beta1": 0.8}}}
    assert flat_fields(a, null=DEFAULT) == [("optimizer.name", "adam"), ("optimizer.lr", DEFAULT)]
    assert differing_fields([a, b], null=DEFAULT) == {
        "optimizer.lr": [DEFAULT, 0.01],
        "optimizer.options.beta1": [DEFAULT, 0.8],
    }
    assert differing_fields([a, {"optimizer": {"name": "adam"}}], null=DEFAULT) == {}
