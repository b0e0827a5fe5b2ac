"""Text as a number, as typed: what Python and YAML read, less what no one types as a number."""

import math
from decimal import Decimal

import pytest
import yaml

from optimlab.number_text import (
    below_smallest_float,
    count_of,
    named_and_more,
    plural,
    read_number,
    read_whole_number,
    seconds_text,
    untyped_number,
)


def untyped_in(text: str) -> str | None:
    """:func:`untyped_number` of ``text`` composed by PyYAML's own safe loader (YAML 1.1's tags): its text."""
    found = untyped_where(text)
    return None if found is None else found.text


def untyped_where(text: str):
    loader = yaml.SafeLoader(text)
    try:
        return untyped_number(loader.get_single_node(), loader.construct_object)
    finally:
        loader.dispose()


@pytest.mark.parametrize("text", ["3", " -1", "+2", "1e-3", "1E5", ".5", "5.", "-0.25", "2.5e+2", "007"])
def test_a_typed_number_reads_as_python_reads_it(text):
    assert read_number(text) == float(text)
    if "." not in text and "e" not in text.lower():
        assert read_number(text, integer=True) == int(text)


@pytest.mark.parametrize("text", ["1.5", "1e3", ".5"])
def test_a_whole_number_is_digits_alone(text):
    assert read_number(text) == float(text) and read_number(text, integer=True) is None


@pytest.mark.parametrize(
    "text",
    [
        "1_0",
        "1_000.5",
        "\u0661\u0660",
        "\uff11",
        "0x10",
        "0b11",
        "1e1_0",
        "inf",
        "nan",
        "",
        " ",
        "1,000",
        "e5",
    ],
)
def test_what_python_reads_beyond_typing_is_no_number(text):
    """int() and float() read '1_0' as 10 and Arabic-Indic or fullwidth digits as theirs."""
    assert read_number(text) is None and read_number(text, integer=True) is None


@pytest.mark.parametrize(
    "text, untyped",
    [
        ("1_0", "1_0"),  # YAML 1.1: 10
        ("010", "010"),  # YAML 1.1: octal 8
        ("0x10", "0x10"),  # 16
        ("0b11", "0b11"),  # 3
        ("1:30", "1:30"),  # sexagesimal 90
        ("[0.9, 0_99]", "0_99"),
        ("{gain: \u0662}", "\u0662"),  # Python's float() reads it: 2.0
        ("1.0e-400", "1.0e-400"),  # 0.0: below the smallest float
        ("[0.9, -3e-999]", "-3e-999"),
    ],
)
def test_a_yaml_value_that_would_read_as_another_number_is_named(text, untyped):
    value = yaml.safe_load(text)
    assert untyped_in(text) == untyped, value


@pytest.mark.parametrize(
    "text",
    [
        "10",
        "1e-3",
        "-0.5",
        "[0.9, 0.95]",
        "{gain: 2}",
        "relu",
        "'1_0'",
        "null",
        ".inf",
        "-.inf",
        "99999999999999999999",  # an int past a float's 53 bits: read_number's int, not its float 1e20
        "[-12345678901234567891, 007]",
        ".nan",
        "inf",
        "",
    ],
)
def test_a_yaml_value_read_as_written_passes(text):
    assert untyped_in(text) is None


@pytest.mark.parametrize(
    "text, below",
    [("1e-400", True), ("-2e-324", True), ("0.000e-400", False), ("0", False), ("5e-324", False)],
)
def test_a_number_below_the_smallest_float_is_told_from_zero(text, below):
    """Truth: Decimal says the number is not 0, float() reads 1e-400 and 2e-324 as 0.0 (5e-324 is its smallest)."""
    assert below_smallest_float(text) is (Decimal(text) != 0 and float(text) == 0) is below


def test_a_number_read_otherwise_says_where_it_is_and_why():
    """YAML read weight_decay: 1e-400 as 0.0 without a word: no weight decay."""
    found = untyped_where("optimizer: {name: adamw, weight_decay: 1.0e-400}\nbetas: [0.9, 0_99]")
    assert found == ("1.0e-400", "optimizer.weight_decay") and yaml.safe_load("1.0e-400") == 0.0
    assert found.accepted.endswith(
        "at optimizer.weight_decay, '1.0e-400' is below the smallest float and would read as 0"
    )
    assert untyped_where("betas: [0.9, 0_99]").accepted.endswith(
        "at betas[1], '0_99' would read otherwise (quote it for text)"
    )


def test_a_number_too_large_for_a_float_reads_as_infinity_as_python_reads_it():
    assert read_number("1e999") == float("1e999") and math.isinf(read_number("1e999"))


def test_a_yaml_value_holding_itself_is_read_once():
    """An alias of an enclosing node (``&a [*a]``, which PyYAML builds as a list holding itself) walked
    the same nodes for ever."""
    assert untyped_in("&a [1_0, *a]") == "1_0" and untyped_in("&a [1, *a]") is None


def test_a_count_agrees_with_its_noun():
    """The bench said 'the same 1 fresh seeds': English takes the singular for one alone."""
    assert [count_of(n, "fresh seed") for n in (0, 1, 2)] == [
        "0 fresh seeds",
        "1 fresh seed",
        "2 fresh seeds",
    ]
    assert count_of(1200, "trial") == "1,200 trials" and count_of(-1, "step") == "-1 steps"
    # the data line said '2 classs' would it count classes as it counts rows; English adds -es after a hiss
    assert [count_of(n, "class") for n in (1, 2)] == ["1 class", "2 classes"]
    assert [plural(noun) for noun in ("row", "loss", "batch", "box", "flash", "workload")] == [
        "rows",
        "losses",
        "batches",
        "boxes",
        "flashes",
        "workloads",
    ]


@pytest.mark.parametrize(
    "seconds, text",
    [(0.00507, "0.0051 s"), (2.54, "2.5 s"), (9.99, "10 s"), (625.4, "625 s"), (123456.7, "123,457 s")],
)
def test_a_duration_reads_to_two_digits_at_least_and_whole_seconds_grouped(seconds, text):
    """One decimal said '0.0 s' of a 5 ms run; a day's run is read as a count is (1,200 trials)."""
    assert seconds_text(seconds) == text


@pytest.mark.parametrize(
    "text", ["9007199254740993.0", "9.007199254740993e15", " 1e3 ", "-0", "+3.0e0", "1e39"]
)
def test_whole_number_text_reads_as_its_exact_int(text):
    """Whole-number text with a point or an exponent went through a float (9007199254740993.0 read as
    ...992). Truth: Python's Decimal, exact."""
    read = read_whole_number(text)
    assert type(read) is int and read == int(Decimal(text))


@pytest.mark.parametrize("text", ["2.5", "9007199254740993.5", "1e400", "1e999999999"])
def test_other_number_text_is_no_int(text):
    """Not a whole number (whatever a float rounds 9007199254740993.5 to), or one past any count: a float
    its reader refuses (1e999999999 is not turned into a billion-digit int)."""
    assert type(read_whole_number(text)) is float


@pytest.mark.parametrize("text", ["0x10", "1_000", "", "three", "1e"])
def test_text_of_no_number_as_typed_is_no_whole_number(text):
    assert read_whole_number(text) is None


@pytest.mark.parametrize("count", [0, 1, 3, 4, 5, 9])
def test_names_past_those_shown_are_counted_and_every_name_is_shown_or_counted(count):
    """named_and_more, written by hand in four places before: the first names joined by ', ', then how
    many are left out; serial puts a comma before the 'and' too. Truth: the names shown and the count
    left out add up to every name, in order."""
    names = [f"n{i}" for i in range(count)]
    said = named_and_more(names, 4)
    shown, _, more = said.partition(" and ")
    assert shown.split(", ") == names[:4] if names else said == ""
    assert more == (f"{count - 4} more" if count > 4 else "")
    serial = named_and_more(names, 4, serial=True)
    assert serial == (said.replace(" and ", ", and ") if count > 4 else said)
    assert named_and_more(["'w' (10, 4)", "'v' (3, 3)"], 1, serial=True) == "'w' (10, 4), and 1 more"


def test_a_batch_of_one_row_is_counted_in_the_singular():
    """doctor's note of a batch's non-finite values wrote 'in 1 of its 1 rows' by hand. Truth: English's
    singular of one, its plural of any other count."""
    import torch

    from optimlab.doctor.nan_origin import _where_bad

    assert _where_bad(torch.tensor([[float("nan")]])) == "1 non-finite value in 1 of its 1 row"
    assert _where_bad(torch.tensor([[float("nan"), 0.0], [1.0, float("inf")]])) == (
        "2 non-finite values in 2 of its 2 rows, the first in feature 0"
    )
