"""Verdicts from numbers: the statistics against closed forms, and how checks add up to a label."""

import math
import re
import statistics

import pytest

from optimlab.gallery import verdict
from optimlab.gallery.verdict import (
    ACCURACY,
    CONTRADICTED,
    INCONCLUSIVE,
    PARTLY,
    SUPPORTED,
    Check,
    Proportion,
    decide,
    describe,
    interval_check,
    paired_check,
    paired_difference,
    proportion,
    ranked,
    ranking_text,
    rate_check,
    summarize,
)
from optimlab.study.analysis import Summary

HOLDS, UNDECIDED, REFUTED = (True, False), (False, False), (False, True)
SAID = {HOLDS: "holds", UNDECIDED: "is not decided", REFUTED: "is refuted"}


@pytest.mark.parametrize(
    "checks, label",
    [
        ((HOLDS, HOLDS, HOLDS), SUPPORTED),
        ((HOLDS, UNDECIDED, HOLDS), PARTLY),
        ((HOLDS, REFUTED), PARTLY),
        ((UNDECIDED, REFUTED), CONTRADICTED),
        ((REFUTED, REFUTED), CONTRADICTED),
        ((UNDECIDED, UNDECIDED), INCONCLUSIVE),  # too few runs to tell is not a contradiction
        ((HOLDS,), SUPPORTED),
    ],
)
def test_label_follows_the_checks(checks, label):
    verdict = decide([Check(f"prediction {i}", h, f"numbers {i}", r) for i, (h, r) in enumerate(checks)])
    assert verdict.label == label
    for i, check in enumerate(checks):  # every check is stated in the paragraph with its numbers
        assert f"prediction {i}: {SAID[check]} (numbers {i})" in verdict.paragraph


def test_contradicted_and_inconclusive_are_said_plainly():
    assert decide([Check("a", False, "x", refuted=True)]).paragraph.startswith("Contradicted:")
    assert decide([Check("a", False, "x")]).paragraph.startswith("Inconclusive:")


def test_partly_supported_counts_the_predictions_that_hold_in_agreement():
    """'1 of the claim's 2 predictions hold' read the number wrong: one holds, two hold."""
    one = decide([Check("a", True, "x"), Check("b", False, "y")]).paragraph
    two = decide([Check("a", True, "x"), Check("b", True, "y"), Check("c", False, "z")]).paragraph
    assert one.startswith("Partly supported: 1 of the claim's 2 predictions holds.")
    assert two.startswith("Partly supported: 2 of the claim's 3 predictions hold.")


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ([0.95, 0.96, 0.97, 0.95], [0.90, 0.91, 0.92, 0.90], HOLDS),  # a ahead by 5 points, every seed
        ([0.90, 0.91, 0.92, 0.90], [0.95, 0.96, 0.97, 0.95], REFUTED),  # b ahead: the interval below 0
        ([0.93, 0.90, 0.95, 0.91], [0.92, 0.93, 0.91, 0.92], UNDECIDED),  # within noise
    ],
)
def test_a_check_is_refuted_only_by_an_interval_wholly_on_the_other_side(a, b, expected):
    check = paired_check("a beats b", a, b, names=("a", "b"), measure="accuracy", above=0.0)
    assert (check.holds, check.refuted) == expected
    reversed_rates = rate_check("a diverges more often", (0, 10), (9, 10), names=("a", "b"), event="diverged")
    assert (reversed_rates.holds, reversed_rates.refuted) == REFUTED
    inside = interval_check("about equal", [0.01, -0.02, 0.0], measure="gap", above=-0.1, below=0.1)
    outside = interval_check("about equal", [0.5, 0.52, 0.51], measure="gap", above=-0.1, below=0.1)
    assert (inside.holds, inside.refuted, outside.holds, outside.refuted) == (True, False, False, True)


def test_no_checks_is_an_error():
    with pytest.raises(ValueError):
        decide([])
    with pytest.raises(ValueError, match="not a premise"):
        decide([Check("setup", True, "x", premise=True)])


def test_a_premise_is_stated_but_counts_for_no_label():
    premise = Check("the data has large features", True, "share 0.99", premise=True)
    failed = Check("raw features hurt", False, "difference 0", refuted=True)
    verdict = decide([premise, failed])
    assert verdict.label == "contradicted" and verdict.checks == (premise, failed)
    assert "Premise, not counted: the data has large features: holds (share 0.99)." in verdict.paragraph
    assert (
        decide([Check("p", False, "x", refuted=True, premise=True), Check("a", True, "y")]).label
        == "supported"
    )


def test_paired_difference_is_the_t_interval_of_the_differences():
    a, b = [0.91, 0.93, 0.95, 0.90], [0.85, 0.86, 0.90, 0.88]
    d = [x - y for x, y in zip(a, b)]
    half = 3.1824463053 * statistics.stdev(d) / math.sqrt(4)  # t_{0.975, 3}
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


def test_a_checks_difference_interval_says_it_is_paired_by_seed():
    """The gallery wrote 'difference 0.05 (95% CI 0.04 to 0.06, 3 runs)' beside each arm's mean and interval,
    never saying the runs were paired by seed: a reader recomputing it from the arms as independent samples
    (Welch) got other bounds. Truth: scipy's t interval of the per-seed differences, which is written after
    'paired by seed', and Welch's interval on the same values, which is not."""
    from scipy import stats

    a, b = [0.90, 0.80, 0.70], [0.85, 0.74, 0.66]  # seeds share most of their spread: pairing narrows it
    check = paired_check("a beats b", a, b, names=("a", "b"), measure="acc", above=0)
    low, high = map(
        float, re.search(r"difference paired by seed \S+ \(95% CI (\S+) to (\S+),", check.evidence).groups()
    )
    d = [x - y for x, y in zip(a, b)]
    paired = stats.t.interval(0.95, len(d) - 1, loc=statistics.fmean(d), scale=stats.sem(d))
    welch = stats.ttest_ind(a, b, equal_var=False).confidence_interval()
    assert (low, high) == pytest.approx(paired, abs=0.006), check.evidence
    assert abs(low - welch.low) > 0.1, (welch, check.evidence)


@pytest.mark.parametrize(("end", "threshold"), [(-0.012, -0.01), (-0.0004, 0.0), (0.0004, 0.0)])
def test_a_checks_interval_end_is_shown_on_the_side_of_its_threshold(end, threshold):
    """A difference whose 95% upper end is -0.012 was shown '... to -0.01' beside 'required entirely below
    -0.01', the check holding: the shown numbers said it did not. Truth: scipy's t interval, made to end there."""
    from scipy import stats

    mean = end - stats.t.ppf(0.975, 2) * statistics.stdev([-0.02, 0.0, 0.02]) / math.sqrt(3)
    a = [0.5 + mean - 0.02, 0.5 + mean, 0.5 + mean + 0.02]
    check = paired_check("worse", a, [0.5] * 3, names=("a", "b"), measure="acc", below=threshold)
    assert check.holds == (end < threshold), check.evidence
    shown = float(re.search(r"difference paired by seed \S+ \(95% CI \S+ to (\S+),", check.evidence)[1])
    assert (shown < threshold) == check.holds and shown != threshold, check.evidence


@pytest.mark.parametrize(
    ("high", "threshold", "shown"),
    [
        (0.3 - (0.1 + 0.2), 0.0, "-5.6e-17"),  # paired differences of float noise
        (-4e-20, 0.0, "-4e-20"),
        (4e-20, 0.0, "4e-20"),
        (0.1 + 0.2, 0.3, "0.30000000000000004"),  # past 0.3 by one float: 17 digits, the float itself
        (-0.0004, 0.0, "-0.0004"),
    ],
)
def test_an_interval_end_a_hair_from_its_threshold_is_shown_short_and_on_its_side(high, threshold, shown):
    """An upper end of -5.6e-17 against 0 was shown '-0.00000000000000006', -4e-20 '-0.00000000000000000'
    (reading as 0 beside 'entirely below 0'): past six more decimals an end is written in scientific
    notation. Truth: the float itself, and its side of the threshold."""
    summary = Summary(n=3, mean=high - 0.02, std=0.01, low=high - 0.04, high=high)
    text = re.search(r"to (\S+), 3 runs", describe(summary, thresholds=[threshold]))[1]
    assert text == shown
    assert (float(text) > threshold) - (float(text) < threshold) == (high > threshold) - (high < threshold)


@pytest.mark.parametrize("mean, low, high", [(-0.001, -2.0, 2.0), (0.5, -0.004, 1.0)])
def test_a_check_writes_no_zero_with_a_sign(mean, low, high):
    """A difference of -0.001 over [-2, 2] read '-0.0 (95% CI -2.0 to 2.0, 3 runs)'; an end of -0.004
    beside a threshold of 0.5, '-0.0'. Truth: each text's float within the rounding, and no zero signed."""
    texts = re.fullmatch(
        r"(\S+) \(95% CI (\S+) to (\S+), 3 runs\)",
        describe(Summary(3, mean, 1.0, low, high), thresholds=[0.5]),
    ).groups()
    assert not any(t.startswith("-") and float(t) == 0 for t in texts), texts
    assert all(abs(float(t) - v) <= 0.05 for t, v in zip(texts, (mean, low, high), strict=True)), texts
    one_run = describe(Summary(1, -0.0, math.nan, math.nan, math.nan))  # a mean alone was still '-0'
    assert one_run == "0 (1 run, no interval)", one_run


def test_one_of_several_comparisons_holds_only_past_bonferronis_interval():
    """lr_schedule's four schedule-against-constant checks each at 95%: one holding by chance was a 19%
    risk, and 'partly supported' rested on it. At 1 - 0.05/4 each, scipy's t interval decides."""
    from scipy import stats

    a, b = [0.90, 0.82, 0.85, 0.88, 0.83], [0.80, 0.80, 0.80, 0.80, 0.80]
    differences = [x - y for x, y in zip(a, b)]
    mean, sem = statistics.fmean(differences), statistics.stdev(differences) / math.sqrt(len(a))
    alone, among_four = (stats.t.interval(level, len(a) - 1, mean, sem) for level in (0.95, 1 - 0.05 / 4))
    assert alone[0] > 0 > among_four[0]  # this example sits between the two
    one = paired_check("better", a, b, names=("a", "b"), measure="acc", above=0)
    four = paired_check("better", a, b, names=("a", "b"), measure="acc", above=0, comparisons=4)
    assert one.holds and not four.holds and not four.refuted
    assert "98.75% CI" in four.evidence and "over the claim's 4 comparisons" in four.evidence
    d = paired_difference(a, b, level=1 - 0.05 / 4)
    assert (d.low, d.high) == pytest.approx(among_four, abs=1e-12)


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


def test_ranking_text_writes_equal_means_as_a_tie_and_names_failures():
    # 0.9, 0.8 and 0.8, 0.9 have one mean, 0.85 (by hand): neither ranks above the other. c's two seeds
    # that failed are left out of its mean 0.8, and said
    values = {"a": [0.9, 0.8], "b": [0.8, 0.9], "c": [0.8, math.nan, math.nan, 0.8], "d": [math.nan]}
    assert ranking_text(values) == "a = b > c (2 of 4 failed) > d (1 of 1 failed)"
    assert ranking_text({"a": [math.nan], "b": [math.nan]}) == "a (1 of 1 failed) = b (1 of 1 failed)"


def test_adam_best_evidence_ranks_equal_means_as_a_tie():
    from optimlab.gallery.claims.optimizer_ranking import verdict_adam_best

    table = {"digits, MLP": {"adam": [0.95, 0.96, 0.97], "sgd": [0.9, 0.91, 0.92], "lion": [0.92, 0.91, 0.9]}}
    evidence = verdict_adam_best({"test_accuracy": table}).checks[0].evidence
    assert "rankings by mean: digits, MLP: adam > sgd = lion)" in evidence


def test_describe_says_when_there_is_no_interval():
    assert "1 run, no interval" in describe(summarize([0.5]))
    assert describe(summarize([])) == "no finite runs"
    assert "3 runs" in describe(summarize([1.0, 2.0, 3.0]))


def test_the_evidence_names_the_failed_runs_an_interval_left_out():
    """An interval over the seeds that survived read like one over every seed: "He converges" held on 2 runs
    of 5, the 3 that diverged left out without a word. Named, they still held it: the 2 survivors' interval
    (0.78 to 1.04) clears 0.5, but an arm 3 of whose 5 runs diverged did not converge. A check with a run
    left out does not hold; with every run there, the same values hold it."""
    nan = math.nan
    check = interval_check("converges", [0.9, nan, 0.92, nan, nan], above=0.5, measure="test accuracy")
    assert not check.holds and not check.refuted and "2 runs, 3 failed and left out)" in check.evidence
    assert check.evidence.endswith("; it cannot hold on the runs that did not fail")
    assert interval_check("converges", [0.9, 0.92], above=0.5, measure="test accuracy").holds
    paired = paired_check(
        "a above b", [0.9, 0.8, 0.95], [0.5, nan, 0.6], names=("a", "b"), above=0, measure="m"
    )
    # by hand: t(0.975, 2) = 4.303, t(0.975, 1) = 12.706; the pairs left are (0.9, 0.5) and (0.95, 0.6)
    assert "a 0.88 (95% CI 0.69 to 1.07, 3 runs)" in paired.evidence  # every run of a finished
    assert "b 0.55 (95% CI -0.09 to 1.19, 2 runs, 1 failed and left out)" in paired.evidence
    assert (
        "difference paired by seed 0.38 (95% CI 0.06 to 0.69, 2 runs, 1 failed and left out)"
        in paired.evidence
    )
    assert not paired.holds and not paired.refuted  # 0.06 to 0.69 clears 0, on the pairs that survived
    assert paired_check("a above b", [0.9, 0.95], [0.5, 0.6], names=("a", "b"), above=0, measure="m").holds
    assert describe(summarize([nan, nan]), of=2) == "no finite runs (all 2 failed)"
    assert describe(summarize([0.5, nan]), of=2) == "0.5 (1 run, no interval, 1 failed and left out)"


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
    assert below.holds and "95% CI 0.62 to 1.00," in below.evidence  # half-width 0.19: two decimals
    check = paired_check("a above b", high, low, names=("a", "b"), above=0, measure="acc", bounds=ACCURACY)
    assert "a 0.90 (95% CI 0.62 to 1.00, 5 runs)" in check.evidence
    assert (
        "difference paired by seed 0.80 (95% CI 0.24 to 1.00, 5 runs)" in check.evidence
    )  # half-width 0.38: 0.01s
    drawn = {}
    monkeypatch.setattr(plots.figures, "intervals", lambda summaries, **_: drawn.update(summaries))
    plots.interval_figure({"g": {"a": high}}, title="t", ylabel="test accuracy", bounds=ACCURACY)
    assert drawn["g"]["a"] == pytest.approx((0.9, 0.62236, 1.0), abs=1e-5)


def test_interval_figure_says_an_arms_failed_runs_beside_it():
    # 2 of 5 seeds diverged (NaN): the marker is the 3 survivors' mean, by hand 0.85; an arm whose runs all
    # failed has no marker, and its place says why instead of standing empty
    from optimlab.gallery import plots

    figure = plots.interval_figure(
        {
            "digits": {
                "adam": [0.9, math.nan, 0.8, 0.85, math.nan],
                "sgd": [math.nan] * 5,
                "lion": [0.7, 0.8],
            },
            "wine": {"adam": [0.9]},  # one seed: a bar of no width read as seeds that agree
        },
        title="t",
        ylabel="test accuracy",
        bounds=ACCURACY,
    )
    axes = figure.axes[0]
    adam = axes.containers[0].lines[0].get_ydata()
    assert list(adam) == pytest.approx([0.85, 0.9])
    notes = {t.get_text(): t.xy for t in axes.texts}
    assert set(notes) == {"2 of 5 runs failed", "all 5 runs failed", "1 run: no interval"}  # lion: nothing
    assert notes["2 of 5 runs failed"][1] == pytest.approx(0.85)  # beside adam's marker


def test_workload_dependence_names_no_single_best_where_means_tie():
    # on digits sgd and lion share the mean 0.95 (by hand): 'best by mean: digits, MLP sgd' called the tie
    # a win for the one listed first
    from optimlab.gallery.claims.optimizer_ranking import verdict_workload_dependence

    table = {
        "digits, MLP": {"sgd": [0.94, 0.95, 0.96], "lion": [0.96, 0.95, 0.94], "adam": [0.9, 0.91, 0.92]},
        "wine, MLP": {"sgd": [0.8, 0.81, 0.82], "lion": [0.9, 0.91, 0.92], "adam": [0.95, 0.96, 0.97]},
    }
    evidence = verdict_workload_dependence({"test_accuracy": table}).checks[0].evidence
    assert "digits, MLP: sgd = lion > adam; wine, MLP: adam > lion > sgd" in evidence


def test_curve_figure_names_an_arm_whose_runs_all_diverged():
    # large_init's arm that explodes in every run has no mean curve (runs.mean_curve's empty one): its
    # line was missing from the figure and the caption spoke only of runs "left out"
    from optimlab.gallery import plots

    curves = {
        "He": {"step": [10, 20], "mean": [0.5, 0.8], "std": [0.1, 0.05]},
        "large": {"step": [], "mean": [], "std": []},
    }
    figure, caption = plots.curve_figure(curves, "Training after a too-large init")
    assert [
        line.get_label() for line in figure.axes[0].get_lines() if not line.get_label().startswith("_")
    ] == ["He"]
    assert caption.endswith("No curve for large: every run of it diverged.")


@pytest.mark.parametrize(
    "values, region, inclusive, expected",
    [
        ([0.0, 0.0, 0.0], {"above": 0.0}, False, REFUTED),  # tied on every seed: [0, 0] is not above 0
        ([0.0, 0.0, 0.0], {"below": 0.0}, False, REFUTED),
        ([0.0, 0.0, 0.0], {"above": 0.0}, True, HOLDS),  # ... and is at least 0
        ([-1.0, -1.0, -1.0], {"below": -1.0}, True, HOLDS),  # exactly 10x below (log10) is at least 10x
        ([0.25, 0.25, 0.25], {"above": -0.25, "below": 0.25}, True, HOLDS),  # within 0.25, at its edge
        ([0.25, 0.25, 0.25], {"above": -0.25, "below": 0.25}, False, REFUTED),
        ([0.0, 0.5, 1.0], {"above": "low"}, False, UNDECIDED),  # its low end on the threshold
        ([0.0, 0.5, 1.0], {"above": "low"}, True, HOLDS),
        ([0.0, 0.5, 1.0], {"above": "high"}, False, REFUTED),  # its high end on the threshold
        ([0.0, 0.5, 1.0], {"above": "high"}, True, UNDECIDED),
        ([0.2, 0.2, 0.2], {"above": 0.1}, False, HOLDS),
    ],
)
def test_an_interval_touching_its_threshold_is_decided_by_the_claims_words(
    values, region, inclusive, expected
):
    """RULE said an end touching the threshold counts as on it, while "at least 10x" read an exact 10x on
    every seed as refuted, its words including equality. The threshold belongs to an inclusive claim's
    region, not to a strict one's; both checks follow that. Truth: the interval by hand (t at 2 degrees of
    freedom, 4.303, for [0, 0.5, 1]: 0.5 -+ 1.242, its ends the threshold as the floats they are)."""
    ends = {"low": summarize(values).low, "high": summarize(values).high}
    region = {side: ends.get(bound, bound) for side, bound in region.items()}
    single = interval_check("x", values, measure="m", inclusive=inclusive, **region)
    assert (single.holds, single.refuted) == expected
    if len(region) == 1:  # a paired check has one side
        zeros = [0.0] * len(values)
        paired = paired_check(
            "x", values, zeros, names=("a", "b"), measure="m", inclusive=inclusive, **region
        )
        assert (paired.holds, paired.refuted) == expected


def test_rates_whose_intervals_only_touch_refute_more_often(monkeypatch):
    """rate_check ("a more often than b", strict) refuted only where a's interval lay strictly below b's.
    Truth: intervals [0, 0.5] and [0.5, 1] by construction (a's rates never above b's; b's not wholly above a's)."""
    ends = {(0, 5): (0.0, 0.5), (5, 5): (0.5, 1.0)}
    monkeypatch.setattr(verdict, "proportion", lambda k, n: Proportion(k, n, *ends[(k, n)]))
    check = rate_check("a more often", (0, 5), (5, 5), names=("a", "b"), event="diverged")
    assert (check.holds, check.refuted) == REFUTED
    reached = rate_check("b more often", (5, 5), (0, 5), names=("b", "a"), event="diverged")
    assert (reached.holds, reached.refuted) == UNDECIDED  # touching from the side of the claim


def test_the_claims_read_exact_ties_by_their_words():
    """Behaviour at exact ties of the claims themselves (made-up numbers, exact in floating point):
    "at least 10x below" with exactly 10x on every seed held nowhere (refuted); "no worse than 0.01 below"
    with exactly 0.01 below was refuted; Adam tied with RMSprop on every seed of every workload did not
    refute "Adam beats every other"; optimizers all tied did not refute "each one is beaten somewhere"."""
    from optimlab.gallery import get_experiment
    from optimlab.gallery.claims.tuning_protocol import FULL, LR_ONLY

    five = lambda value: [value] * 5  # noqa: E731
    small = {
        "arms": ["tiny", "proper"],
        "backprop_first_to_last_log10": {"tiny": five(-1.0), "proper": five(0.0)},
        "weight_grad_first_to_last_log10": {"tiny": five(-1.0), "proper": five(0.0)},
        "weight_grad_log10": {"tiny": five(-7.0), "proper": five(0.0)},
        "test_accuracy": {"tiny": five(0.1), "proper": five(0.9)},
    }
    assert [c.outcome for c in get_experiment("small_init").verdict(small).checks[:2]] == ["holds", "holds"]
    protocol = {
        LR_ONLY: {"momentum": five(0.01), "adam": five(0.0)},
        FULL: {"momentum": five(0.01), "adam": five(0.0)},
    }
    assert get_experiment("tuning_protocol").verdict({"test_accuracy": protocol}).checks[1].outcome == "holds"
    spread = [0.5, 0.6, 0.7, 0.55, 0.65]
    tied = {
        w: {"adam": spread, "rmsprop": spread, "sgd": [v - 0.3 for v in spread]}
        for w in ("w1, MLP", "w2, MLP")
    }
    best = get_experiment("adam_best").verdict({"test_accuracy": tied}).checks
    assert [c.outcome for c in best] == ["is refuted", "holds"]
    level = {w: {"adam": spread, "rmsprop": spread} for w in ("w1, MLP", "w2, MLP")}
    assert (
        get_experiment("workload_dependence").verdict({"test_accuracy": level}).checks[0].outcome
        == "is refuted"
    )
