"""Verdicts computed from numbers: a claim split into checks, each decided by an effect and its interval.

A claim makes several predictions (gradients shrink, training suffers, ...). Each becomes a
:class:`Check`: a statement, whether the measured numbers bear it out, and those numbers in words (effect
size, 95% confidence interval, number of runs). :func:`decide` turns the checks into a :class:`Verdict`:

* **supported**: every check holds;
* **partly supported**: some hold and some do not;
* **contradicted**: none holds, and the numbers show the opposite of at least one;
* **inconclusive**: none holds, and none is shown wrong either: the runs cannot tell.

A check marked ``premise`` states what the setup holds for the claim to be about (the raw data's features
differ in scale; the identity network's layers multiply out): it is stated with its numbers but counts for
no label, as one that holds by the choice of data or by algebra would otherwise keep a claim whose
predictions all fail from ever reading "contradicted".

A check holds only when the interval, not just the point estimate, lies wholly inside the region its
claim states (:func:`inside_claim`), so too few seeds never support a claim by luck; it is refuted only when
the interval lies wholly outside that region (:func:`outside_claim`), so too few seeds never contradict one
either. Whether the threshold itself is in the region follows the claim's words (:data:`RULE`): not for a
strict claim ("above 0", "beats", "more often"), so seeds all tied at 0 refute a difference above 0; yes
for an inclusive one ("at least 10x", "no worse than", "within"), so an exact 10x on every seed holds "at
least 10x". A run that failed (NaN: diverged) is left
out of the interval and named in the evidence, and a check with a run left out does not hold: the
survivors of an arm are not the arm ("He converges" on the 2 runs of 5 that did not diverge). The intervals are Student-t intervals of a
mean over seeds (as the optimizer benchmarks report them: Schmidt et al., Descending through a Crowded
Valley, 2021, https://arxiv.org/abs/2007.01547) and Wilson score intervals of a proportion (Wilson,
Probable Inference, the Law of Succession, and Statistical Inference, JASA 1927,
doi:10.1080/01621459.1927.10502953). An
interval stays within the ``bounds`` its values can take (an accuracy's, :data:`ACCURACY`, within
[0, 1]; a difference of two accuracies within [-1, 1]), as on a study's leaderboard.

>>> d = paired_difference([0.9, 0.92, 0.95], [0.8, 0.83, 0.84])
>>> round(d.mean, 3), d.low > 0
(0.1, True)
>>> decide([Check("a", True, "x"), Check("b", False, "y")]).label
'partly supported'
>>> decide([Check("a", False, "x"), Check("b", False, "y", refuted=True)]).label
'contradicted'
>>> decide([Check("a", False, "x")]).label
'inconclusive'
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence

from optimlab.number_text import count_of
from optimlab.report.intervals import rounded, significant
from optimlab.study.analysis import (
    ACCURACY,
    UNBOUNDED,
    Summary,
    confidence_interval,
    difference_bounds,
    same_mean,
)

__all__ = [
    "ACCURACY",
    "CONTRADICTED",
    "INCONCLUSIVE",
    "LABELS",
    "PARTLY",
    "RULE",
    "SUPPORTED",
    "Check",
    "Proportion",
    "Verdict",
    "decide",
    "describe",
    "inside_claim",
    "interval_check",
    "outside_claim",
    "paired_check",
    "paired_difference",
    "proportion",
    "ranked",
    "ranking_text",
    "rate_check",
    "summarize",
]

# The rule every check keeps (inside_claim, outside_claim), as the pages state it beside the checks.
RULE = (
    "A prediction holds where its confidence interval lies wholly inside the region the claim states, is "
    "refuted where the interval lies wholly outside it, and is not decided where it has ends on both sides. "
    "The threshold belongs to the region of an inclusive claim ('at least', 'no worse than', 'within') and "
    "not to that of a strict one ('above', 'below', 'beats', 'more often'): a difference of exactly 0 on "
    "every seed refutes 'above 0', and a ratio of exactly 10x on every seed holds 'at least 10x'."
)
SUPPORTED, PARTLY, CONTRADICTED = "supported", "partly supported", "contradicted"
INCONCLUSIVE = "inconclusive"
LABELS = (SUPPORTED, PARTLY, CONTRADICTED, INCONCLUSIVE)
_Z_975 = 1.959963984540054
_SURVIVORS = "; it cannot hold on the runs that did not fail"


@dataclasses.dataclass(frozen=True)
class Check:
    """One prediction of a claim and what the numbers say about it."""

    statement: str  # the prediction, e.g. "early layers get smaller gradients than the last one"
    holds: bool
    evidence: str  # the numbers it rests on, in words: effect, 95% CI, runs
    refuted: bool = (
        False  # the numbers show the opposite: the interval lies wholly outside the claim's region
    )
    premise: bool = False  # what the setup holds for the claim to apply, stated but not counted in the label

    @property
    def outcome(self) -> str:
        return "holds" if self.holds else "is refuted" if self.refuted else "is not decided"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The label, a paragraph that states every check with its numbers, and the checks themselves."""

    label: str  # one of LABELS
    paragraph: str
    checks: tuple[Check, ...]


def decide(checks: Sequence[Check]) -> Verdict:
    """Supported if every prediction (a check not a premise) holds, partly supported if some do; where none
    does, contradicted if the numbers refute one, inconclusive if they refute none (too few runs to tell)."""
    predictions = [c for c in checks if not c.premise]
    if not predictions:
        raise ValueError("a verdict needs at least one check that is not a premise")
    held, refuted = sum(c.holds for c in predictions), sum(c.refuted for c in predictions)
    if held == len(predictions):
        label, opening = SUPPORTED, "Supported: every prediction of the claim holds in the measured numbers."
    elif held:
        label, opening = (
            PARTLY,
            f"Partly supported: {held} of the claim's {len(predictions)} predictions "
            f"{'holds' if held == 1 else 'hold'}.",
        )
    elif refuted:
        label = CONTRADICTED
        opening = f"Contradicted: no prediction of the claim holds, and the numbers refute {refuted}."
    else:
        label = INCONCLUSIVE
        opening = "Inconclusive: no prediction of the claim holds, nor is any refuted: the runs cannot tell."
    sentences = [
        f"{'Premise, not counted: ' if c.premise else ''}{c.statement}: {c.outcome} ({c.evidence})."
        for c in checks
    ]
    return Verdict(label=label, paragraph=" ".join([opening, *sentences]), checks=tuple(checks))


def summarize(
    values: Sequence[float], bounds: tuple[float, float] = UNBOUNDED, *, level: float = 0.95
) -> Summary:
    """Mean and Student-t interval (at ``level``) of the finite ``values`` (NaN marks a failed run, left
    out), within the ``bounds`` they can take."""
    return confidence_interval([v for v in values if math.isfinite(v)], bounds, level=level)


def paired_difference(
    a: Sequence[float], b: Sequence[float], bounds: tuple[float, float] = UNBOUNDED, *, level: float = 0.95
) -> Summary:
    """Mean and interval (at ``level``) of ``a[i] - b[i]``: runs paired by seed, pairs with a NaN left out;
    ``bounds`` are those of ``a`` and ``b`` (a difference of two accuracies lies within [-1, 1]).

    Pairing removes what both arms of a seed share (the data split, the batch order), so the interval is
    narrower than that of two independent means.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    differences = [x - y for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
    return summarize(differences, difference_bounds(bounds), level=level)


@dataclasses.dataclass(frozen=True)
class Proportion:
    """``k`` of ``n`` runs, with the Wilson score 95% interval of the rate."""

    k: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else math.nan

    def describe(self) -> str:
        """``5 of 5 runs (95% CI 0.57 to 1)``."""
        return f"{self.k} of {count_of(self.n, 'run')} (95% CI {self.low:.2g} to {self.high:.2g})"


def proportion(k: int, n: int) -> Proportion:
    """Wilson's interval: good at 0 of 5 and 5 of 5, where the normal approximation gives width 0."""
    if n == 0:
        return Proportion(0, 0, math.nan, math.nan)
    p, z2 = k / n, _Z_975**2
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z_975 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Proportion(k, n, max(0.0, center - half), min(1.0, center + half))


def describe(
    summary: Summary, unit: str = "", of: int | None = None, *, thresholds: Sequence[float] = ()
) -> str:
    """``0.12 (95% CI 0.08 to 0.16, 5 runs)``, to the decimals the interval supports
    (:func:`optimlab.report.intervals.rounded`); one run has no interval, none is ``no finite runs``.
    ``of`` is how many runs (or pairs) there were: those the summary left out are named, ``5 runs, 2 failed
    and left out``, so that an interval over the survivors does not read as one over every seed. An end is
    written to more decimals where fewer would not show its side of one of the ``thresholds`` a rule reads
    it against: -0.012 against -0.01 is ``-0.012``, not ``-0.01``."""
    failed = 0 if of is None else of - summary.n
    left_out = f", {failed} failed and left out" if failed else ""
    if summary.n == 0:
        return f"no finite runs{f' (all {failed} failed)' if failed else ''}"
    if summary.n == 1 or not math.isfinite(summary.low):
        return f"{significant(summary.mean, 3)}{unit} (1 run, no interval{left_out})"
    mean, low, high = rounded(summary.mean, summary.low, summary.high)
    low, high = (_sided(text, end, thresholds) for text, end in ((low, summary.low), (high, summary.high)))
    return f"{mean}{unit} ({100 * summary.level:.4g}% CI {low} to {high}{unit}, {summary.n} runs{left_out})"


def inside_claim(
    low: float,
    high: float,
    *,
    above: float | None = None,
    below: float | None = None,
    inclusive: bool = False,
) -> bool:
    """Whether the interval from ``low`` to ``high`` lies wholly inside the region a claim states, past
    ``above`` and/or short of ``below`` (:data:`RULE`): the threshold itself is inside only for an
    ``inclusive`` claim ("at least", "no worse than", "within"), not for a strict one ("above", "beats")."""
    if inclusive:
        return (above is None or low >= above) and (below is None or high <= below)
    return (above is None or low > above) and (below is None or high < below)


def outside_claim(
    low: float,
    high: float,
    *,
    above: float | None = None,
    below: float | None = None,
    inclusive: bool = False,
) -> bool:
    """Whether the interval from ``low`` to ``high`` lies wholly outside the region of :func:`inside_claim`,
    short of ``above`` or past ``below``: the numbers refute the claim (:data:`RULE`). For a strict claim the
    threshold is outside (ties on every seed refute "above 0"); for an ``inclusive`` one it is inside."""
    if inclusive:
        return (above is not None and high < above) or (below is not None and low > below)
    return (above is not None and high <= above) or (below is not None and low >= below)


def _required(above: float | None, below: float | None, inclusive: bool) -> str:
    """The region a check requires its interval in, in words: ``above 0``, ``at least -0.01 and at most 0.01``."""
    sides = (("at least", "at most") if inclusive else ("above", "below"), (above, below))
    return " and ".join(f"{side} {bound:.3g}" for side, bound in zip(*sides) if bound is not None)


def _side(value: float, threshold: float) -> int:
    return (value > threshold) - (value < threshold)


# More decimals than this past an end's rounding read as a row of zeros ('-0.00000000000000006', float noise
# of 0.1 + 0.2 - 0.3): past them an end is written in scientific notation, '-5.6e-17'.
_MOST_EXTRA_DECIMALS = 6


def _sided(text: str, value: float, thresholds: Sequence[float]) -> str:
    """``text`` (``value`` rounded), or ``value`` to the fewest more decimals (up to
    ``_MOST_EXTRA_DECIMALS``, then the fewest significant digits in scientific notation) that put it on the
    side of each threshold that ``value`` lies on (equal only where equal): 17 significant digits are the
    float itself."""
    decimals = len(text.partition(".")[2])
    texts = itertools.chain(
        [text],
        (f"{value:.{more}f}" for more in range(decimals + 1, decimals + _MOST_EXTRA_DECIMALS + 1)),
        (f"{value:.{digits}g}" for digits in range(2, 18)),
    )
    return next(t for t in texts if all(_side(float(t), th) == _side(value, th) for th in thresholds))


def paired_check(
    statement: str,
    a: Sequence[float],
    b: Sequence[float],
    *,
    names: tuple[str, str],
    measure: str,
    below: float | None = None,
    above: float | None = None,
    unit: str = "",
    bounds: tuple[float, float] = UNBOUNDED,
    comparisons: int = 1,
    inclusive: bool = False,
) -> Check:
    """The check that ``a - b`` (paired by seed) lies entirely ``below`` or entirely ``above`` a threshold,
    the threshold itself allowed where the claim is ``inclusive`` ("at least 10x": :func:`inside_claim`);
    ``bounds`` are the values ``a`` and ``b`` can take (:data:`ACCURACY`), which the intervals keep.
    ``comparisons``: how many such checks the claim makes at once, any one of which holding would count
    for it; the difference's interval is then Bonferroni's, at 1 - 0.05 / comparisons, so that one of
    them holding by chance stays a 5% risk (four at 95% each: 19%).

    The evidence names both arms' means and the difference with its interval, e.g. "test accuracy: tiny
    init 0.11 (...), Xavier 0.95 (...); difference paired by seed -0.84 (95% CI ...)": a reader recomputing
    it from the arms' values as independent samples (Welch) gets other bounds.
    """
    if (below is None) == (above is None):
        raise ValueError("give exactly one of below and above")
    d = paired_difference(a, b, bounds, level=1 - 0.05 / comparisons)
    complete = d.n == len(a)  # a pair left out is a failed run: survivors do not hold a check
    region = {"above": above, "below": below, "inclusive": inclusive}
    holds = complete and d.n >= 2 and inside_claim(d.low, d.high, **region)
    refuted = d.n >= 2 and outside_claim(d.low, d.high, **region)
    arms = [f"{name} {describe(summarize(v, bounds), unit, len(v))}" for name, v in zip(names, (a, b))]
    family = f", Bonferroni's interval over the claim's {comparisons} comparisons" if comparisons > 1 else ""
    threshold = [t for t in (below, above) if t is not None]
    evidence = (
        f"{measure}: {', '.join(arms)}; difference paired by seed {describe(d, unit, len(a), thresholds=threshold)}, "
        "required entirely "
        f"{_required(above, below, inclusive)}{family}{'' if complete else _SURVIVORS}"
    )
    return Check(statement, holds, evidence, refuted)


def rate_check(
    statement: str, a: tuple[int, int], b: tuple[int, int], *, names: tuple[str, str], event: str
) -> Check:
    """The check that ``a = (k, n)`` events happen more often than ``b`` (a strict claim: :data:`RULE`):
    holds where their Wilson intervals lie apart, ``a``'s above, and is refuted where ``a``'s lies wholly
    at or below ``b``'s (all of ``a``'s rates no higher than any of ``b``'s)."""
    pa, pb = proportion(*a), proportion(*b)
    # the rates' difference a - b lies between these ends
    ends = (pa.low - pb.high, pa.high - pb.low)
    holds = pa.n > 0 and pb.n > 0 and inside_claim(*ends, above=0)
    refuted = pa.n > 0 and pb.n > 0 and outside_claim(*ends, above=0)
    evidence = f"{event}: {names[0]} {pa.describe()}, {names[1]} {pb.describe()}; required: intervals apart"
    return Check(statement, holds, evidence, refuted)


def interval_check(
    statement: str,
    values: Sequence[float],
    *,
    measure: str,
    above: float | None = None,
    below: float | None = None,
    unit: str = "",
    bounds: tuple[float, float] = UNBOUNDED,
    inclusive: bool = False,
) -> Check:
    """The check that the 95% interval of the mean of ``values`` lies entirely ``above`` and/or ``below``,
    the thresholds themselves allowed where the claim is ``inclusive`` ("within 0.05": :func:`inside_claim`);
    ``bounds`` are the values they can take (:data:`ACCURACY`), which the interval keeps."""
    if above is None and below is None:
        raise ValueError("give above, below or both")
    s = summarize(values, bounds)
    complete = s.n == len(values)  # a run left out failed: survivors do not hold a check
    region = {"above": above, "below": below, "inclusive": inclusive}
    holds = complete and s.n >= 2 and inside_claim(s.low, s.high, **region)
    refuted = s.n >= 2 and outside_claim(s.low, s.high, **region)
    return Check(
        statement,
        holds,
        f"{measure}: {describe(s, unit, len(values), thresholds=[t for t in (above, below) if t is not None])}, "
        f"required entirely {_required(above, below, inclusive)}"
        f"{'' if complete else _SURVIVORS}",
        refuted,
    )


def ranked(values: Mapping[str, Sequence[float]]) -> list[str]:
    """Names best (highest mean) first; a name without a finite value last."""
    means = {name: summarize(v).mean for name, v in values.items()}
    return sorted(
        means, key=lambda name: (math.isnan(means[name]), 0.0 if math.isnan(means[name]) else -means[name])
    )


def ranking_text(values: Mapping[str, Sequence[float]]) -> str:
    """The order of :func:`ranked` in words, ``b > a = c (2 of 5 failed)``: ``=`` between equal means
    (:func:`~optimlab.study.analysis.same_mean`) or two names without a result, ``>`` else; a name's failed
    runs (NaN), which its mean leaves out, beside it."""
    order = ranked(values)
    means = {name: summarize(values[name]).mean for name in order}
    words = []
    for i, name in enumerate(order):
        if i:
            above, mean = means[order[i - 1]], means[name]
            tie = (math.isnan(above) and math.isnan(mean)) or (
                math.isfinite(above) and math.isfinite(mean) and same_mean(above, mean)
            )
            words.append("=" if tie else ">")
        failed = sum(not math.isfinite(v) for v in values[name])
        words.append(f"{name} ({failed} of {len(values[name])} failed)" if failed else name)
    return " ".join(words)
