"""A mean and its interval: the same decimals for the three, as many as the interval's width supports."""

import doctest
import itertools
import math
import re

import pytest

from optimlab.report import intervals
from optimlab.report.intervals import interval, mean_and_interval


def test_docstring_examples():
    result = doctest.testmod(intervals)
    assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(
    ("mean", "low", "high"),
    [(0.8454, 0.01366, 1.0), (0.5641, 0.511, 0.6172), (0.97312, 0.97201, 0.97423), (2.318, 1.2, 3.43),
     (1234.5, 1190.0, 1279.0), (-0.0696, -1.07, 0.934), (0.001234, 0.001201, 0.001267)],
)  # fmt: skip
def test_the_three_numbers_share_the_decimals_the_interval_supports(mean, low, high):
    """Each number printed with 4 significant digits gave '0.8454 [0.01366, 1]'."""
    text = mean_and_interval(mean, low, high)
    numbers = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", text).groups()
    decimals = {len(n.partition(".")[2]) for n in numbers}
    assert len(decimals) == 1, text
    unit = 10.0 ** -decimals.pop()
    for shown, true in zip(numbers, (mean, low, high), strict=True):
        assert abs(float(shown) - true) <= unit / 2 * (1 + 1e-9), text
    half = (high - low) / 2
    assert half / 100 < unit <= half / 5 or (unit == 1 and half >= 5), text  # 2 significant digits of it


def test_without_an_interval_the_mean_keeps_four_significant_digits():
    assert mean_and_interval(0.97312, math.nan, math.nan) == "0.9731"
    assert mean_and_interval(1e-7, 1e-7, 1e-7) == "1e-07 [1e-07, 1e-07]"  # seeds all alike: no width


@pytest.mark.parametrize(("low", "high"), [(0.01366, 1.0), (0.511, 0.6172), (1190.0, 1279.0), (1e-7, 1e-7)])
def test_an_interval_alone_is_written_as_beside_its_mean(low, high):
    """compare's terminal table has the mean and the interval in columns of their own: the interval
    read '[0.01366, 1]' there, where the pages wrote '[0.01, 1.00]'."""
    assert mean_and_interval(0.5, low, high).endswith(" " + interval(low, high))
    assert interval(math.nan, math.nan) == ""


@pytest.mark.parametrize(
    "rows",
    [
        [(0.9582, 0.852, 1.0), (0.9568, 0.76, 1.0)],  # bench: two seeds, the second shown above the first
        [
            (0.909, 0.8331, 0.9849),
            (0.8904, 0.8039, 0.977),
            (0.8756, 0.6675, 1.0),
            (0.8751, math.nan, math.nan),
        ],
        [(0.12, 0.1199, 0.1201), (0.1204, 0.05, 0.19), (0.3, 0.3, 0.3)],  # one row's seeds all alike
        # every row's seeds alike: '0.91 [0.91, 0.91]' above '0.9 [0.9, 0.9]', each to its own decimals
        [(0.91, 0.91, 0.91), (0.9, 0.9, 0.9), (0.1234, 0.1234, 0.1234)],
    ],
    ids=["two-seeds", "three-methods-and-one-seed", "no-width", "no-width-anywhere"],
)
def test_a_column_of_intervals_shares_one_decimal_place_and_orders_as_the_means(rows):
    texts = intervals.means_and_intervals(rows)
    shown = [re.fullmatch(r"(\S+)(?: \[(\S+), (\S+)\])?", text).groups() for text in texts]
    places = {len(n.partition(".")[2]) for numbers in shown for n in numbers if n}
    assert len(places) == 1, texts
    unit = 10.0 ** -places.pop()
    for numbers, true in zip(shown, rows, strict=True):
        for number, value in zip(numbers, true):
            assert number is None or abs(float(number) - value) <= unit / 2 * (1 + 1e-9), texts
    means = [float(numbers[0]) for numbers in shown]
    for (a, b), (x, y) in zip(itertools.pairwise(means), itertools.pairwise(r[0] for r in rows)):
        assert (a - b) * (x - y) >= 0, texts  # two means never shown in the reverse of their order
    assert intervals.means_and_intervals([(math.nan, math.nan, math.nan)]) == ["no result"]


@pytest.mark.parametrize(
    "write",
    [
        lambda mean, low, high: intervals.mean_and_interval(mean, low, high),
        lambda mean, low, high: intervals.means_and_intervals([(mean, low, high)])[0],
    ],
    ids=["mean_and_interval", "means_and_intervals"],
)
@pytest.mark.parametrize(
    "mean, low, high",
    [
        (-0.001, -2.0, 2.0),
        (0.5, -0.004, 1.0),
        (-3.0, -6.0, -0.003),
        (-0.0, math.nan, math.nan),  # a mean alone (one seed), in a column with no interval
    ],
)
def test_a_number_that_rounds_to_zero_is_written_without_a_sign(write, mean, low, high):
    """A mean of -0.001 over [-2, 2] was written '-0.0 [-2.0, 2.0]': a minus before a written zero says
    nothing the zero does not; a mean alone, without an interval, was still '-0'. Truth: the float of each
    text, and no text of a zero with a sign."""
    texts = re.findall(r"-?\d+\.?\d*(?:e-?\d+)?", write(mean, low, high))[:3]
    assert not any(t.startswith("-") and float(t) == 0 for t in texts), texts
    for text, value in zip(texts, (mean, low, high)):
        assert abs(float(text) - value) <= 0.05, texts
