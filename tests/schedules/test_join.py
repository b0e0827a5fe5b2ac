"""join: which piece rules each step, and what step each piece sees."""

from __future__ import annotations

import pytest

from optimlab.errors import InvalidValueError
from optimlab.schedules import join


def recorder(tag: str):
    return lambda step: (tag, step)


def test_each_piece_sees_steps_from_its_boundary() -> None:
    joined = join([recorder("a"), recorder("b"), recorder("c")], [3, 5])
    assert [joined(t) for t in range(8)] == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("b", 0),
        ("b", 1),
        ("c", 0),
        ("c", 1),
        ("c", 2),
    ]


def test_equal_boundaries_skip_the_empty_piece() -> None:
    joined = join([recorder("a"), recorder("empty"), recorder("c")], [2, 2])
    assert [joined(t) for t in range(4)] == [("a", 0), ("a", 1), ("c", 0), ("c", 1)]


def test_zero_boundary_starts_with_the_second_piece() -> None:
    assert join([recorder("a"), recorder("b")], [0])(0) == ("b", 0)


@pytest.mark.parametrize(
    "boundaries",
    [[], [1, 2], [5, 3], [-1], [2.5], [True]],
    ids=["too_few", "too_many", "decreasing", "negative", "fractional", "bool"],
)
def test_bad_boundaries_are_rejected(boundaries: list) -> None:
    with pytest.raises(InvalidValueError, match="join boundaries"):
        join([recorder("a"), recorder("b")], boundaries)
