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
"""

from __future__ import annotations

import math

__all__ = ["interval", "mean_and_interval", "rounded"]

_MOST_DECIMALS = 6  # a narrower interval (a loss of 1e-7) is written in 3 significant digits each, 1.23e-07


def mean_and_interval(mean: float, low: float, high: float) -> str:
    """``mean [low, high]`` to the decimals the interval supports; the mean alone (4 significant digits)
    without an interval (one seed: NaN bounds)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.4g}"
    return "{} [{}, {}]".format(*rounded(mean, low, high))


def interval(low: float, high: float) -> str:
    """``[low, high]`` to the decimals it supports, as :func:`mean_and_interval` writes it; empty without
    one (NaN bounds)."""
    return "[{1}, {2}]".format(*rounded(low, low, high)) if math.isfinite(low) and math.isfinite(high) else ""


def rounded(mean: float, low: float, high: float) -> tuple[str, str, str]:
    """The three numbers as text, to the decimal place of the half-width's second significant digit (3
    significant digits each where that is past :data:`_MOST_DECIMALS`, or the interval has no width)."""
    half = (high - low) / 2
    decimals = 1 - math.floor(math.log10(half)) if half > 0 else _MOST_DECIMALS + 1
    style = ".3g" if decimals > _MOST_DECIMALS else f".{max(0, decimals)}f"
    return f"{mean:{style}}", f"{low:{style}}", f"{high:{style}}"
