"""A table file's target column, one rule for CSV and .npy tables: Python's indexing of a row."""

from pathlib import Path

import pytest

from optimlab.data.tables import target_field, target_position
from optimlab.errors import InvalidValueError


@pytest.mark.parametrize("width", [1, 2, 5])
def test_a_position_names_the_column_python_indexing_gives(width):
    columns = list(range(width))
    for target in range(-width, width):
        assert target_position(target, width, Path("rows.csv")) == columns[target]


@pytest.mark.parametrize("target", [5, -6, True, 1.0, "2", None])
def test_anything_else_is_refused_naming_the_field_and_the_range(target):
    with pytest.raises(InvalidValueError) as refused:
        target_position(target, 5, Path("rows.npy"))
    assert str(refused.value) == (
        f"invalid value {target!r} for {target_field(Path('rows.npy'))}: accepted a column index in [-5, 5)."
    )
    assert target_field(Path("rows.npy")) == "target of rows.npy (data.options.target)"
