"""Studies over time: Welch's t-test and Holm's adjustment against published numbers, and the page."""

import math

import pytest

from optimlab.report.study_history import compare_seeds, holm

# Welch's t-test, worked example 1 of Wikipedia's "Welch's t-test" (t = -2.46, df = 24.9, p = 0.021)
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_matches_the_published_example():
    comparison = compare_seeds(A1, A2)
    assert comparison.p_value == pytest.approx(0.021, abs=0.0015)
    assert comparison.difference == pytest.approx(sum(A2) / 15 - sum(A1) / 15)


def test_too_few_seeds_are_not_tested():
    assert math.isnan(compare_seeds([0.9], [0.8, 0.85]).p_value)
    assert math.isnan(compare_seeds([0.9, 0.9], [0.9, 0.9]).p_value)  # no variance: no test


def test_holm_adjusts_step_down_and_keeps_order():
    # Holm 1979: sorted p times (m - rank), running maximum, capped at 1; NaN (no test) not counted
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0]
