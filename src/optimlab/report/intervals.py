"""A mean and its confidence interval as a reader reads them: the three numbers to the same decimal place,
the one where the interval's half-width has its second significant digit.

Each number printed on its own with 4 significant digits gave ``0.8454 [0.01366, 1]``: one bound to five
decimals beside the other to none, and a mean stated far more precisely than its interval knows it. The
rule is the usual one for a measured value (Taylor, An Introduction to Error Analysis, 2nd ed. 1997,
section 2.2: the uncertainty to one or two significant figures, the value to the same decimal place as it).

>>> mean_and_interval(0.8454, 0.01366, 1.0)
'0.85 [0.01, 1.00]'
>>> mean_and_interval(0.5641, 0.511, 0.6172)
'0.564 [0.511, 0.617]'
>>> mean_and_interval(1234.5, 1190.0, 1279.0)
'1234 [1190, 1279]'
>>> mean_and_interval(0.9512, math.nan, math.nan)
'0.9512'
>>> interval(0.01366, 1.0)
'[0.01, 1.00]'

Down a leaderboard's column every row takes the decimals of the narrowest interval: written each to its
own, 0.9568 [0.76, 1.16] (two seeds) read ``0.96`` above 0.9582 [0.852, 1.06]'s ``0.958``, the second
of the ranking shown above the first.

>>> means_and_intervals([(0.9582, 0.852, 1.0), (0.9568, 0.76, 1.0)])
['0.958 [0.852, 1.000]', '0.957 [0.760, 1.000]']
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["interval", "mean_and_interval", "means_and_intervals", "rounded", "significant"]

_MOST_DECIMALS = 6  # a narrower interval (a loss of 1e-7) is written in 3 significant digits each, 1.23e-07


def mean_and_interval(mean: float, low: float, high: float) -> str:
    """``mean [low, high]`` to the decimals the interval supports; the mean alone (4 significant digits)
    without an interval (one seed: NaN bounds)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return significant(mean, 4)
    return "{} [{}, {}]".format(*rounded(mean, low, high))


def interval(low: float, high: float) -> str:
    """``[low, high]`` to the decimals it supports, as :func:`mean_and_interval` writes it; empty without
    one (NaN bounds)."""
    return "[{1}, {2}]".format(*rounded(low, low, high)) if math.isfinite(low) and math.isfinite(high) else ""


def means_and_intervals(rows: Sequence[tuple[float, float, float]]) -> list[str]:
    """Each ``(mean, low, high)`` as :func:`mean_and_interval` writes it, all to one decimal place: the
    one the narrowest interval supports, so that a column read down orders its rows as their means do.
    A row without an interval is its mean alone at that place (4 significant digits in a column without
    any); a NaN mean is ``no result``."""
    finite = [(mean, low, high) for mean, low, high in rows if math.isfinite(low) and math.isfinite(high)]
    # an interval of no width (seeds all alike) supports any decimals: it sets them only when every one is
    # so, to 3 significant digits of the largest mean (each to its own, 0.91 [0.91, 0.91] stood above
    # 0.9 [0.9, 0.9])
    widths = [_decimals(low, high) for _, low, high in finite if high > low]
    largest = max((abs(mean) for mean, _, _ in finite), default=0.0)
    if widths:
        decimals: int | None = max(widths)
    elif largest > 0:
        decimals = 2 - math.floor(math.log10(largest))
    else:
        decimals = _MOST_DECIMALS + 1 if finite else None
    texts = []
    for mean, low, high in rows:
        if math.isnan(mean):
            texts.append("no result")
        elif decimals is None:
            texts.append(significant(mean, 4))
        else:
            bounds = (
                f" [{_written(low, decimals)}, {_written(high, decimals)}]"
                if math.isfinite(low) and math.isfinite(high)
                else ""
            )
            texts.append(f"{_written(mean, decimals)}{bounds}")
    return texts


def rounded(mean: float, low: float, high: float) -> tuple[str, str, str]:
    """The three numbers as text, to the decimal place of the half-width's second significant digit (3
    significant digits each where that is past :data:`_MOST_DECIMALS`, or the interval has no width)."""
    decimals = _decimals(low, high)
    return _written(mean, decimals), _written(low, decimals), _written(high, decimals)


def _decimals(low: float, high: float) -> int:
    """The decimal place of the half-width's second significant digit; past :data:`_MOST_DECIMALS` for
    an interval of no width."""
    half = (high - low) / 2
    return 1 - math.floor(math.log10(half)) if half > 0 else _MOST_DECIMALS + 1


def significant(value: float, digits: int) -> str:
    """``value`` alone, no interval to round it by, to ``digits`` significant digits, a zero without a sign
    (:func:`_unsigned`): -0.0 is ``0``."""
    return _unsigned(f"{value:.{digits}g}")


def _written(value: float, decimals: int) -> str:
    """``value`` to ``decimals`` (3 significant digits past :data:`_MOST_DECIMALS`), a zero without a sign
    (:func:`_unsigned`)."""
    return _unsigned(f"{value:{'.3g' if decimals > _MOST_DECIMALS else f'.{max(0, decimals)}f'}}")


def _unsigned(text: str) -> str:
    """``text`` (a number written) without the sign of a zero: -0.001 to one decimal is ``0.0``, not ``-0.0``."""
    return text.removeprefix("-") if float(text) == 0 else text
