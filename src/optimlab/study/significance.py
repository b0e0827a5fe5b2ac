"""Which differences between seed results are significant: Welch's t-test, Holm's adjustment, and what
they say of a leaderboard's ranking.

Two methods' test metrics over their seeds are compared by Welch's t-test (two-sided, unequal variances:
Welch, The generalization of Student's problem when several different population variances are
involved, Biometrika 1947, doi:10.2307/2332510), as scipy computes it. The p-values of one table are
adjusted for the number of comparisons by Holm's step-down method (Holm, A simple sequentially
rejective multiple test procedure, Scand. J. Statist. 1979), and a difference is called significant at
adjusted p < 0.05. Fewer than two seeds on either side, or no spread on both (seeds the setup ignores):
no test.

>>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from optimlab.number_text import count_of
from optimlab.study.analysis import LeaderboardRow, failed_share, same_mean, seed_results

if TYPE_CHECKING:
    from optimlab.study.protocols import StudySpec
    from optimlab.study.storage import TrialRecord

__all__ = [
    "ALPHA",
    "Comparison",
    "board_ranking_note",
    "board_seeds",
    "compare_seeds",
    "holm",
    "ranking_note",
    "versus_first",
]

ALPHA = 0.05


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One side's values against another's (a later study's against the first's, a method's against the
    leader's)."""

    difference: float  # mean(later) - mean(first)
    p_value: float  # Welch's two-sided p; NaN when a side has fewer than 2 values
    adjusted: float = math.nan  # Holm-adjusted over the table's comparisons

    @property
    def significant(self) -> bool:
        return self.adjusted < ALPHA


def compare_seeds(first: Sequence[float], later: Sequence[float]) -> Comparison:
    """Welch's t-test of ``later`` against ``first`` (scipy's ``ttest_ind(equal_var=False)``)."""
    from scipy import stats  # scikit-learn's dependency: always installed with optimlab

    if not (first and later):
        difference = math.nan
    else:  # one mean written twice differs by 0, not by its floats' last bit (same_mean)
        means = math.fsum(later) / len(later), math.fsum(first) / len(first)
        difference = 0.0 if same_mean(*means) else means[0] - means[1]
    if len(first) < 2 or len(later) < 2:
        return Comparison(difference, math.nan)
    if len(set(first)) == 1 and len(set(later)) == 1:
        # no spread on either side (seeds the setup ignores): no test. scipy's mean of three 0.91 is not
        # 0.91 to the last bit, and 0.91 x 3 against 0.9 x 3 gave p = 0, 'significant'
        return Comparison(difference, math.nan)
    with warnings.catch_warnings():
        # one side without spread (two seeds at 0.421): scipy's p is right, but it warns of 'catastrophic
        # cancellation' on the user's stderr, about the variance of equal values
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(later, first, equal_var=False).pvalue)
    return Comparison(difference, p)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def board_seeds(
    spec: StudySpec, records: Sequence[TrialRecord], board: Sequence[LeaderboardRow]
) -> tuple[list[tuple[str, list[float]]], dict[str, int]]:
    """What :func:`ranking_note` and :func:`versus_first` read of a leaderboard, ``board`` (best first): each
    method with its completed seed reruns' test metrics, and each one's seed reruns that failed."""
    ranked = [(row.method, seed_results(spec, records, row.method)) for row in board]
    return ranked, {row.method: row.seeds_failed for row in board}


def versus_first(
    ranked: Sequence[tuple[str, Sequence[float]]], failed: Mapping[str, int] | None = None
) -> dict[str, Comparison]:
    """Each method :func:`ranking_note` tests against the first of ``ranked`` (best first, as ``(method,
    seed values)``; ``failed``: each one's seed runs that diverged or failed), Holm-adjusted over those
    tests, in their order; its p NaN where untested (fewer than two values a side, or no spread). Neither
    the first, nor a method without a value, nor one that failed on a larger share of its seed runs than
    the first (ranked below it for that) is tested."""
    failed = failed or {}
    with_values = [(method, values) for method, values in ranked if values]
    if len(with_values) < 2:
        return {}
    (leader, first), rest = with_values[0], with_values[1:]
    others = [(m, v) for m, v in rest if _share(failed, m, v) <= _share(failed, leader, first)]
    tests = [compare_seeds(values, first) for _, values in others]
    adjusted = holm([c.p_value for c in tests])
    return {m: dataclasses.replace(c, adjusted=a) for (m, _), c, a in zip(others, tests, adjusted)}


def _share(failed: Mapping[str, int], method: str, values: Sequence[float]) -> float:
    return failed_share(failed.get(method, 0), len(values))


def ranking_note(
    ranked: Sequence[tuple[str, Sequence[float]]],
    failed: Mapping[str, int] | None = None,
    versus: Mapping[str, Comparison] | None = None,
) -> str:
    """What the seeds say of a leaderboard's ranking, ``ranked`` best first as ``(method, seed values)``
    (the completed seed runs'; ``failed``: each method's seed runs that diverged or failed): the first
    against each other by Welch's t-test, Holm-adjusted over those tests (:func:`versus_first`). A rank
    is a claim only where its difference is significant; with 3 seeds a 95% interval is 2.5 standard
    deviations wide on each side, and most ranks are not. A method that failed on a larger share of its
    seeds than the first ranks below it for that (:func:`optimlab.study.analysis.failed_share`), and is
    not tested: its completed runs' mean leaves its failures out. ``versus``: :func:`versus_first` of
    ``ranked`` and ``failed`` where the caller has it already (its tests are run once, not again)."""
    failed = failed or {}
    with_values = [(method, values) for method, values in ranked if values]
    lost = [f"{m} ({failed[m]} of {failed[m]})" for m, values in ranked if not values and failed.get(m)]
    none = (
        f"{', '.join(lost)} {'has' if len(lost) == 1 else 'have'} no result: every seed run diverged or failed"
        if lost
        else ""
    )
    if len(with_values) < 2:
        return f"Ranking: {none}." if none else ""
    leader = with_values[0][0]
    compared = versus_first(ranked, failed) if versus is None else versus
    less_reliable = [(m, v) for m, v in with_values[1:] if m not in compared]
    tied = [m for m, c in compared.items() if c.difference == 0]
    apart = [m for m, c in compared.items() if c.significant and m not in tied]
    close = [
        m for m, c in compared.items() if math.isfinite(c.p_value) and not c.significant and m not in tied
    ]
    untested = [m for m, c in compared.items() if not math.isfinite(c.p_value) and m not in tied]
    said = [f"{leader} ranks above {', '.join(apart)} significantly"] if apart else []
    if tied:
        said.append(f"{leader} ties with {', '.join(tied)} (the same mean over the seeds: one rank)")
    if close:
        said.append(
            f"{leader}'s lead over {', '.join(close)} is within the noise of the seeds (not significant)"
        )
    if untested:
        said.append(
            f"{leader}'s order against {', '.join(untested)} is untested (fewer than two seed results a "
            "side, or no spread) and may be chance"
        )
    if less_reliable:
        counts = ", ".join(f"{m} {failed[m]} of {len(v) + failed[m]}" for m, v in less_reliable)
        verb, its = ("ranks", "its") if len(less_reliable) == 1 else ("rank", "their")
        said.append(
            f"{', '.join(m for m, _ in less_reliable)} {verb} below {leader} for failing on a larger share "
            f"of {its} seed runs ({counts} diverged or failed), whatever {its} completed runs' mean"
        )
    if none:
        said.append(none)
    tested = sum(math.isfinite(c.p_value) for c in compared.values())
    details = "; ".join(
        f"{m} {c.difference:+.3g}, p={c.adjusted:.2g}"
        for m, c in compared.items()
        if math.isfinite(c.p_value)
    )
    if not tested:
        return f"Ranking: {'' if tied else f'{leader} first; '}{'; '.join(said)}."
    return (
        f"Ranking: {'; '.join(said)}. Welch's t-test of the first against each other, two-sided, "
        f"Holm-adjusted over {count_of(tested, 'test')}, at {ALPHA:g} (the first's mean minus each other's: {details})."
    )


def board_ranking_note(
    spec: StudySpec, records: Sequence[TrialRecord], board: Sequence[LeaderboardRow]
) -> str:
    """:func:`ranking_note` of the leaderboard ``board`` (best first) of ``spec``'s ``records``, as a study's
    page, a bench's and the CLI say it under the table."""
    return ranking_note(*board_seeds(spec, records, board))
