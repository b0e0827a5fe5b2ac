"""A table file's target column, one rule for CSV and .npy tables: Python's indexing of a row."""

from pathlib import Path

import numpy as np
import pytest

from optimlab.data.tables import column_position, target_field
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.number_text import read_number


@pytest.mark.parametrize("width", [1, 2, 5])
def test_a_position_names_the_column_python_indexing_gives(width):
    columns = list(range(width))
    for target in range(-width, width):
        assert column_position(target, None, width, Path("rows.csv")) == columns[target]


@pytest.mark.parametrize("target", [5, -6, True, 1.0, "5", None])
def test_anything_else_is_refused_naming_the_field_and_the_range(target):
    with pytest.raises(InvalidValueError) as refused:
        column_position(target, None, 5, Path("rows.npy"))
    shown = 5 if target == "5" else target  # a position given as text is refused as the number it reads as
    assert str(refused.value) == (
        f"invalid value {shown!r} for {target_field(Path('rows.npy'))}: "
        "accepted a 0-based column position in [-5, 5)."
    )
    assert target_field(Path("rows.npy")) == "target of rows.npy (data.options.target)"


@pytest.mark.parametrize("option", ["target", "one_hot"])
def test_a_column_is_named_by_its_header_else_by_its_position_the_same_for_every_option(option):
    header, path = ["i", "a", "b", "2", "a"], Path("rows.csv")
    assert column_position("b", header, 5, path, option=option) == 2
    assert column_position("2", header, 5, path, option=option) == 3  # the header '2', not position 2
    assert column_position("-4", header, 5, path, option=option) == 1 == column_position(1, None, 5, path)
    with pytest.raises(InvalidValueError, match=rf"'a' for {option} of rows.csv.*heads columns \[1, 4\]"):
        column_position("a", header, 5, path, option=option)
    with pytest.raises(
        UnknownNameError, match=rf"column of rows.csv \(data.options.{option}\) 'bb'.*mean 'b'"
    ):
        column_position("bb", header, 5, path, index=1, option=option)
    with pytest.raises(
        InvalidValueError,
        match=r"'bb' for .*: accepted a 0-based column position in \[-5, 5\): the file has no",
    ):
        column_position("bb", None, 5, path, option=option)
    with pytest.raises(
        InvalidValueError, match=r"5 for .*: accepted a column name or a 0-based position in \[-5"
    ):
        column_position("5", header, 5, path, option=option)


@pytest.mark.parametrize("text", ["1_0", "\u0661", " 1_0 "])
@pytest.mark.parametrize("header", [list("abcdefghijk"), None])
def test_a_position_in_text_is_plain_ascii_digits_as_text_number_reads_numbers(text, header):
    """int() read '1_0' as 10 and '\\u0661' (an Arabic-Indic digit) as 1, so --target 1_0 chose a column
    that no CSV reader (pandas, numpy) calls 10; text_number refuses such text for numbers, and a
    position is refused the same way, as a name that heads no column (or, with no header, no position)."""
    path = Path("rows.csv")
    if header is None:
        with pytest.raises(InvalidValueError, match=r"accepted a 0-based column position .*no header row"):
            column_position(text, None, 11, path)
    else:
        with pytest.raises(UnknownNameError, match=r"column of rows.csv \(data.options.target\)"):
            column_position(text, header, 11, path)
    assert column_position(" -1 ", header, 11, path) == 10  # plain digits, spaces around as int() allows


@pytest.mark.parametrize("header", [list("abcd"), None])
def test_a_position_is_read_as_every_typed_number_is(header):
    """A position is typed by a person (--target, data.options.target) and read as the command line reads
    its other numbers (optimlab.number_text): '+2' was refused as a name heading no column, where
    --steps +2 trains 2 steps. Truth: Python's int() of the typed forms; read_number agrees with it."""
    path = Path("rows.csv")
    for text in ("+2", " +2 ", "2", "-2", "+0"):
        assert column_position(text, header, 4, path) == int(text) % 4 == read_number(text, integer=True) % 4


@pytest.mark.parametrize("kind", [np.int64, np.int32, np.uint8])
def test_a_numpy_integer_position_names_the_column_its_value_does(kind):
    """np.int64(-1) (np.where's, np.argmax's positions) was refused as 'invalid value np.int64(-1) ...:
    accepted ... a 0-based position in [-5, 5)', a range that holds it. Truth: Python's indexing of a row
    by the number, as for an int; the refusal of 1.0 and True stands."""
    columns, path = list(range(5)), Path("rows.npy")
    for target in range(0 if kind is np.uint8 else -5, 5):
        position = column_position(kind(target), None, 5, path)
        assert type(position) is int and position == columns[target]
        assert column_position(kind(target), ["a", "b", "c", "d", "e"], 5, path) == columns[target]
    with pytest.raises(InvalidValueError, match=r"np.int64\(5\) for target"):
        column_position(np.int64(5), None, 5, path)
