"""Verdicts from numbers: the statistics against closed forms, and how checks add up to a label."""

import math
import statistics

import pytest

from optimlab.gallery.verdict import (
    ACCURACY,
    CONTRADICTED,
    PARTLY,
    SUPPORTED,
    Check,
    decide,
    describe,
    interval_check,
    paired_check,
    paired_difference,
    proportion,
    ranked,
    rate_check,
    summarize,
)


@pytest.mark.parametrize(
    "holds, label",
    [
        ((True, True, True), SUPPORTED),
        ((True, False, True), PARTLY),
        ((False, False), CONTRADICTED),
        ((True,), SUPPORTED),
    ],
)
def test_label_follows_the_checks(holds, label):
    verdict = decide([Check(f"prediction {i}", h, f"numbers {i}") for i, h in enumerate(holds)])
    assert verdict.label == label
    for i, h in enumerate(holds):  # every check is stated in the paragraph with its numbers
        assert f"prediction {i}: {'holds' if h else 'does not hold'} (numbers {i})" in verdict.paragraph


def test_contradicted_is_said_plainly():
    assert decide([Check("a", False, "x")]).paragraph.startswith("Contradicted:")


def test_no_checks_is_an_error():
    with pytest.raises(ValueError):
        decide([])


def test_paired_difference_is_the_t_interval_of_the_differences():
    a, b = [0.91, 0.93, 0.95, 0.90], [0.85, 0.86, 0.90, 0.88]
    d = [x - y for x, y in zip(a, b)]
    half = 3.1824 * statistics.stdev(d) / math.sqrt(4)  # t_{0.975, 3}
    found = paired_difference(a, b)
    assert found.mean == pytest.approx(statistics.fmean(d))
    assert (found.low, found.high) == pytest.approx((statistics.fmean(d) - half, statistics.fmean(d) + half))


def test_pairs_with_a_failed_run_are_left_out():
    assert paired_difference([1.0, math.nan, 3.0], [0.0, 1.0, 1.0]).n == 2
    with pytest.raises(ValueError):
        paired_difference([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        (0, 5, 0.0, 0.4345),
        (5, 5, 0.5655, 1.0),
        (5, 10, 0.2366, 0.7634),  # Wilson 1927, z = 1.96
    ],
)
def test_wilson_interval(k, n, low, high):
    found = proportion(k, n)
    assert (found.low, found.high) == pytest.approx((low, high), abs=1e-4)
    assert found.rate == k / n


def test_paired_check_needs_the_whole_interval_past_the_threshold():
    clear = paired_check(
        "better", [0.9, 0.91, 0.92], [0.8, 0.8, 0.81], names=("a", "b"), measure="acc", above=0
    )
    noisy = paired_check(
        "better", [0.9, 0.7, 0.95], [0.8, 0.85, 0.81], names=("a", "b"), measure="acc", above=0
    )
    one_seed = paired_check("better", [0.9], [0.1], names=("a", "b"), measure="acc", above=0)
    assert clear.holds and not noisy.holds and not one_seed.holds
    assert "difference" in clear.evidence and "95% CI" in clear.evidence
    with pytest.raises(ValueError):
        paired_check("x", [1.0], [1.0], names=("a", "b"), measure="m")


def test_interval_check_bounds():
    values = [0.02, 0.0, -0.02]
    assert interval_check("flat", values, above=-0.5, below=0.5, measure="m").holds
    assert not interval_check("above", values, above=0, measure="m").holds
    assert not interval_check("below", [-0.6, -0.4, -0.5], below=-0.45, measure="m").holds


def test_rate_check_wants_the_intervals_apart():
    assert rate_check("more", (5, 5), (0, 5), names=("a", "b"), event="diverged").holds
    assert not rate_check("more", (3, 5), (1, 5), names=("a", "b"), event="diverged").holds


def test_ranked_puts_failures_last():
    assert ranked({"a": [0.5, 0.6], "b": [0.9, 0.8], "c": [math.nan]}) == ["b", "a", "c"]


def test_describe_says_when_there_is_no_interval():
    assert "1 run, no interval" in describe(summarize([0.5]))
    assert describe(summarize([])) == "no finite runs"
    assert "3 runs" in describe(summarize([1.0, 2.0, 3.0]))


def test_an_accuracy_interval_stays_within_its_bounds_worked_by_hand(monkeypatch):
    """Five seeds 1, 1, 1, 1, 0.5: mean 0.9, std sqrt(0.05) = 0.2236, half width 2.7764 * 0.2236 / sqrt(5)
    = 0.2776, so the t interval is 0.6224..1.1776; an accuracy cannot pass 1, so it ends there. Their
    differences from 0, 0, 0, 0, 0.5 are 1, 1, 1, 1, 0: mean 0.8, half width 2.7764 * sqrt(0.2) / sqrt(5)
    = 0.5553, so 0.2447..1.3553, ending at 1 (two accuracies differ by 1 at most)."""
    from optimlab.gallery import plots

    high, low = [1.0, 1.0, 1.0, 1.0, 0.5], [0.0, 0.0, 0.0, 0.0, 0.5]
    s = summarize(high, ACCURACY)
    assert (s.mean, s.low, s.high) == pytest.approx((0.9, 0.9 - 0.27764, 1.0), abs=1e-5)
    assert summarize(high).high == pytest.approx(0.9 + 0.27764, abs=1e-5)  # unbounded: the t interval
    d = paired_difference(high, low, ACCURACY)
    assert (d.mean, d.low, d.high) == pytest.approx((0.8, 0.8 - 0.55528, 1.0), abs=1e-5)
    below = interval_check("at most 1.05", high, below=1.05, measure="test accuracy", bounds=ACCURACY)
    assert below.holds and "95% CI 0.622 to 1," in below.evidence
    check = paired_check("a above b", high, low, names=("a", "b"), above=0, measure="acc", bounds=ACCURACY)
    assert "a 0.9 (95% CI 0.622 to 1, 5 runs)" in check.evidence
    assert "difference 0.8 (95% CI 0.245 to 1, 5 runs)" in check.evidence
    drawn = {}
    monkeypatch.setattr(plots.figures, "intervals", lambda summaries, **_: drawn.update(summaries))
    plots.interval_figure({"g": {"a": high}}, title="t", ylabel="test accuracy", bounds=ACCURACY)
    assert drawn["g"]["a"] == pytest.approx((0.9, 0.62236, 1.0), abs=1e-5)
