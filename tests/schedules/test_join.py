"""join: which piece rules each step, and what step each piece sees."""

from __future__ import annotations

import numpy as np
import pytest

from optimlab.errors import InvalidValueError
from optimlab.schedules import create, join, linear_warmup


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


@pytest.mark.parametrize("boundaries", [[3.0], np.array([3.0]), [np.float64(3.0)], np.array([3])])
def test_whole_number_boundaries_are_read_as_create_reads_steps(boundaries) -> None:
    """join([...], np.array([3.0])) (and [3.0]) was refused as 'non-decreasing non-negative integers',
    where create('cosine', total_steps=np.float64(3.0)) and 3.0 are taken as whole numbers: the same
    reading (step_count's) gives the join of the boundary 3 (the truth: join's own [3])."""
    joined = join([recorder("a"), recorder("b")], boundaries)
    whole = join([recorder("a"), recorder("b")], [3])
    assert [joined(t) for t in range(6)] == [whole(t) for t in range(6)]
    assert all(type(step) is int for _, step in (joined(t) for t in range(6)))


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (lambda: join([recorder("a"), recorder("b")], [np.True_]), r"\[np.True_\] for join boundaries"),
        (lambda: create("cosine", total_steps=np.True_), "np.True_ for total_steps"),
        (lambda: create("cosine", total_steps=10, warmup_steps=np.True_), "np.True_ for warmup_steps"),
        (lambda: linear_warmup(create("constant"), 2, start=np.True_), "np.True_ for warmup start"),
    ],
    ids=["join", "total_steps", "warmup_steps", "warmup_start"],
)
def test_numpys_bool_is_refused_named_as_numpy_writes_it(call, shown: str) -> None:
    """np.True_ given for a step count was refused as 'invalid value True', a value the caller never wrote:
    the refusal names it as NumPy's repr does (the truth: repr(np.True_))."""
    assert repr(np.True_) == "np.True_"
    with pytest.raises(InvalidValueError, match=shown):
        call()
