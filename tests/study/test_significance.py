"""Welch's t-test and Holm's adjustment against published numbers and scipy; what they say of a ranking."""

import math
import re
import statistics

import pytest
from scipy import stats

from optimlab.study import significance
from optimlab.study.significance import compare_seeds, holm, ranking_note

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


# compare digits_mlp, 3 seeds: adam, lion and sgd ranked 1, 2, 3, their 95% intervals overlapping
ADAM, LION, SGD = [0.8914, 0.9443, 0.8914], [0.8552, 0.9248, 0.8914], [0.7799, 0.9109, 0.9359]


def test_a_ranking_within_the_noise_of_the_seeds_is_said_to_be_so():
    """The leaderboard ranked adam, lion, sgd 1, 2, 3 with nothing to say that no rank was significant."""
    note = ranking_note([("adam", ADAM), ("lion", LION), ("sgd", SGD)])
    assert "adam's lead over lion, sgd is within the noise of the seeds (not significant)" in note
    assert "significantly" not in note
    raw = [stats.ttest_ind(ADAM, other, equal_var=False).pvalue for other in (LION, SGD)]
    by_hand = [min(1.0, 2 * min(raw)), max(min(1.0, 2 * min(raw)), min(1.0, max(raw)))]  # Holm, 2 tests
    order = sorted(range(2), key=raw.__getitem__)
    adjusted = [0.0, 0.0]
    adjusted[order[0]], adjusted[order[1]] = by_hand
    shown = [float(p) for p in re.findall(r"p=([\d.e-]+)", note)]
    assert shown == pytest.approx(adjusted, rel=0.05)


def test_a_lead_the_seeds_establish_is_said_to_be_significant():
    note = ranking_note([("adam", [0.95, 0.96, 0.97]), ("sgd", [0.50, 0.51, 0.52]), ("lion", [0.9])])
    assert note.startswith("Ranking: adam ranks above sgd significantly")
    assert "adam's order against lion is untested (fewer than two seed results a side" in note
    alone = ranking_note([("sgd", [0.78]), ("adam", [0.57])])  # one seed each: no test at all
    assert alone == (
        "Ranking: sgd first; sgd's order against adam is untested (fewer than two seed results a side, "
        "or no spread) and may be chance."
    )
    assert ranking_note([("adam", [0.9, 0.91]), ("sgd", [])]) == ""  # nothing to rank against


def test_a_method_that_failed_on_more_seeds_is_said_to_rank_below_for_it_and_is_not_tested():
    """A method whose seed runs diverged was compared by Welch's t-test on its survivors alone: ranked
    first on 2 runs of 4, the page called its lead over a method that completed all 4 significant."""
    note = ranking_note(
        [("sgd", [0.66, 0.7, 0.72, 0.76]), ("adam", [0.93, 0.91]), ("lion", [0.69, 0.71, 0.7, 0.73])],
        failed={"sgd": 0, "adam": 2, "lion": 0},
    )
    assert "adam ranks below sgd for failing on a larger share of its seed runs (adam 2 of 4 diverged" in note
    assert "sgd's lead over lion is within the noise of the seeds" in note
    p = stats.ttest_ind([0.66, 0.7, 0.72, 0.76], [0.69, 0.71, 0.7, 0.73], equal_var=False).pvalue
    assert re.findall(r"(\w+) [+-][\d.e-]+, p=([\d.e-]+)", note) == [("lion", f"{p:.2g}")]  # one test
    assert "over 1 test," in note  # count_of: one home for agreement (no "test(s)")


def test_seeds_that_all_gave_one_value_a_side_are_not_tested():
    """A model and data that ignore the seed gave 0.91 on each of 3 seeds against 0.9 on each of 3: scipy's
    means are off in the last bit, its t-test then found p = 0, and the page called the order significant."""
    assert not math.isfinite(compare_seeds([0.9] * 3, [0.91] * 3).p_value)
    note = ranking_note([("sgd", [0.91] * 3), ("adam", [0.9] * 3)])
    assert "significant" not in note.replace("not significant", "")
    assert "sgd's order against adam is untested (fewer than two seed results a side, or no spread)" in note
    spread = compare_seeds([0.9] * 3, [0.91, 0.92, 0.93])  # one side varies: Welch's test stands
    assert spread.p_value == pytest.approx(
        stats.ttest_ind([0.91, 0.92, 0.93], [0.9] * 3, equal_var=False).pvalue
    )


def test_the_note_judges_failures_by_the_leaderboards_share(monkeypatch):
    """ranking_note computed the share of failed seed runs by a formula of its own beside the one the
    leaderboard ranks by (optimlab.study.analysis.failed_share): one home, so the two cannot drift apart."""
    asked = []
    real = significance.failed_share
    monkeypatch.setattr(significance, "failed_share", lambda f, c: asked.append((f, c)) or real(f, c))
    note = ranking_note([("sgd", [0.7, 0.72]), ("adam", [0.93])], failed={"sgd": 0, "adam": 3})
    assert (3, 1) in asked and (0, 2) in asked
    assert "adam ranks below sgd for failing on a larger share of its seed runs (adam 3 of 4" in note


def test_seeds_that_average_to_one_value_tie_to_the_last_bit():
    """232 of 240 test rows right a side (2.9 / 3): the floats' means differ by 1.11e-16, a 'lead'."""
    first, later = [0.9625, 0.9875, 0.95], [0.9875, 0.925, 0.9875]
    assert math.fsum(later) / 3 != math.fsum(first) / 3
    assert compare_seeds(first, later).difference == 0.0
    assert compare_seeds(first, [0.97, 0.98, 0.99]).difference == pytest.approx(0.98 - 2.9 / 3)
    note = ranking_note([("sgd", first), ("adam", later)])
    assert "sgd ties with adam (the same mean over the seeds: one rank)" in note and "lead" not in note


def test_a_side_without_spread_is_tested_as_welch_says_without_a_warning(recwarn):
    """Two seeds at 0.421 against 0.579 and 0.421: scipy's p is Welch's, but it warned of 'catastrophic
    cancellation' on the user's stderr."""
    flat, spread = [8 / 19, 8 / 19], [11 / 19, 8 / 19]
    comparison = compare_seeds(flat, spread)
    t = (sum(spread) / 2 - 8 / 19) / math.sqrt(statistics.variance(spread) / 2)
    assert comparison.p_value == pytest.approx(2 * stats.t.sf(t, df=1))  # Welch's df: (s2/n)^2 ... = n - 1
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
