"""Each experiment's verdict follows its numbers: made-up numbers where the claim holds give "supported",
numbers where it fails give "contradicted", and a mix gives "partly supported".

Every registered experiment must have both made-up sets below: a new experiment fails here until it does.
"""

import math
import random
import re
import statistics

import pytest

from optimlab.gallery import LABELS, experiment_names, get_experiment
from optimlab.gallery.claims.tuning_protocol import FULL, LR_ONLY

N = 5


def seeds(mean, spread=0.01):
    """Five per-seed values around ``mean``, as a run over five seeds would give."""
    return [mean + spread * k for k in (-2, -1, 0, 1, 2)]


def small_init(holds):
    tiny, proper = "tiny", "proper"
    return {
        "arms": [tiny, proper],
        "backprop_first_to_last_log10": {tiny: seeds(-5 if holds else 0), proper: seeds(0)},
        "weight_grad_first_to_last_log10": {tiny: seeds(-3 if holds else 0), proper: seeds(0)},
        "weight_grad_log10": {tiny: seeds(-7 if holds else 0), proper: seeds(0)},
        "test_accuracy": {tiny: seeds(0.1 if holds else 0.95), proper: seeds(0.95)},
    }


def large_init(holds):
    arms = ["1x", "2x", "4x"]
    return {
        "arms": arms,
        "output_std_log10": {"1x": seeds(0), "2x": seeds(3), "4x": seeds(6 if holds else 0)},
        "first_layer_backprop_log10": {"1x": seeds(-1), "2x": seeds(2), "4x": seeds(5 if holds else -1)},
        "diverged": {o: {"1x": 0, "2x": 0, "4x": N if holds else 0} for o in ("momentum", "adam")},
        "runs_per_arm": N,
        "test_accuracy": {o: {a: seeds(0.9) for a in arms} for o in ("momentum", "adam")},
    }


def glorot_bengio(holds):
    standard, normalized = "standard", "normalized"
    return {
        "arms": [standard, normalized],
        "backprop_first_to_last_log10": {
            standard: seeds(-1 if holds else 0),
            normalized: seeds(-0.2 if holds else -2),
        },
        "weight_grad_first_to_last_log10": {standard: seeds(-0.3 if holds else -2), normalized: seeds(0)},
        "test_accuracy": {
            standard: seeds(0.94 if holds else 0.97),
            normalized: seeds(0.97 if holds else 0.9),
        },
        "sigmoid_top_layer_drop": seeds(0.4 if holds else 0.0),
        "sigmoid_first_layer_drop": seeds(0.01),
        "sigmoid_test_accuracy": seeds(0.1),
    }


def he_init(holds):
    return {
        "arms": ["xavier", "he"],
        "chance": 0.1,
        "output_std_log10": {"xavier": seeds(-4.6 if holds else 0), "he": seeds(0)},
        "test_accuracy": {"xavier": seeds(0.1 if holds else 0.9), "he": seeds(0.9 if holds else 0.1)},
    }


def no_nonlinearity(holds):
    return {
        "arms": ["deep linear", "logistic", "relu"],
        "collapse_error_log10": seeds(-7 if holds else -1),
        "test_accuracy": {
            "deep linear": seeds(0.65 if holds else 0.9),
            "logistic": seeds(0.65, 0.012),
            "relu": seeds(0.99 if holds else 0.9),
        },
    }


def input_scale(holds):
    raw = [0.80, 0.95, 0.85, 0.93, 0.82] if holds else seeds(0.98, 0.002)
    return {
        "top_feature_share": {"none": seeds(0.99 if holds else 0.2, 0.001)},
        "test_accuracy": {
            o: {"none": raw, "minmax": seeds(0.97, 0.002), "standardize": seeds(0.98, 0.002)}
            for o in ("momentum", "adam")
        },
    }


def sgd_stuck(holds):
    clean, noisy = "clean", "noisy"
    return {
        "problems": [clean, noisy],
        "test_loss_log10": {
            clean: {"sgd": seeds(-1 if holds else -5), "momentum": seeds(-4), "adam": seeds(-3)},
            noisy: {"sgd": seeds(2.0 if holds else 1.0), "momentum": seeds(1.95), "adam": seeds(1.9)},
        },
        "sgd_second_half_log10": {clean: seeds(-0.001 if holds else -0.5, 0.001), noisy: seeds(0)},
    }


def _table(best_first, workloads):
    """Test accuracies per workload in which ``best_first`` ranks the optimizers, 5 points apart."""
    return {
        w: {o: seeds(0.95 - 0.05 * i) for i, o in enumerate(order)} for w, order in zip(workloads, best_first)
    }


WORKLOADS = ["digits, MLP", "digits, CNN", "MNIST-1D, MLP", "MNIST-1D, CNN"]
OPTIMIZERS = ["adam", "rmsprop", "momentum", "adagrad", "sgd"]


def adam_best(holds):
    order = OPTIMIZERS if holds else [*OPTIMIZERS[1:], "adam"]
    return {"test_accuracy": _table([order] * 4, WORKLOADS)}


def workload_dependence(holds):
    reversed_ = list(reversed(OPTIMIZERS))
    orders = [OPTIMIZERS, reversed_, reversed_, OPTIMIZERS] if holds else [OPTIMIZERS] * 4
    return {"test_accuracy": _table(orders, WORKLOADS)}


def lr_schedule(holds):
    order = ["cosine", "wsd", "constant"] if holds else ["constant", "cosine", "wsd"]
    return {"test_accuracy": _table([order] * 2, ["digits", "MNIST-1D"])}


def adam_logistic(holds):
    adam, nesterov, adagrad = "adam", "nesterov", "adagrad"
    return {
        "arms": [adam, nesterov, adagrad],
        "curve_mean_val_loss_log10": {
            adam: seeds(-0.85 if holds else -0.5),
            nesterov: seeds(-0.84 if holds else -0.9),
            adagrad: seeds(-0.7 if holds else -1.0),
        },
    }


def batch_norm(holds):
    plain, normalized = "plain", "normalized"
    return {
        "arms": [plain, normalized],
        "best_lr": {plain: 1.0, normalized: 1.0},
        "test_accuracy": {normalized: seeds(0.97 if holds else 0.5), plain: seeds(0.5 if holds else 0.97)},
        "steps_to_target_log10": {
            plain: seeds(3.0 if holds else 2.0),
            normalized: seeds(2.0 if holds else 3.0),
        },
        "sigmoid_input_drift_log10": {plain: seeds(0.5), normalized: seeds(-0.5 if holds else 0.5)},
        "reached_target": {plain: [1.0] * N, normalized: [1.0] * N},
    }


def weight_decay(holds):
    l2, decoupled = "l2", "adamw"
    return {
        "arms": [l2, decoupled],
        "test_accuracy": {decoupled: seeds(0.95 if holds else 0.90), l2: seeds(0.93 if holds else 0.95)},
        "best_lr_range_decades": {decoupled: seeds(0.0 if holds else 2.0), l2: seeds(2.0 if holds else 0.0)},
    }


def tuning_protocol(holds):
    lr_only = ["momentum", "rmsprop", "adam"]
    full = ["adam", "rmsprop", "momentum"] if holds else lr_only
    return {"test_accuracy": {LR_ONLY: _table([lr_only], ["x"])["x"], FULL: _table([full], ["x"])["x"]}}


LAST = _table([OPTIMIZERS], WORKLOADS[3:])[WORKLOADS[3]]
# Where no single swap splits the checks (tables of rankings), a mixed table made up for the purpose.
PARTLY = {
    # Adam significantly first on three workloads, level with RMSprop on the fourth: never worse, not best.
    "adam_best": {
        "test_accuracy": {
            **_table([OPTIMIZERS] * 3, WORKLOADS[:3]),
            WORKLOADS[3]: {**LAST, "adam": LAST["rmsprop"]},
        }
    },
    # A reversal across data sets, none across architectures.
    "workload_dependence": {
        "test_accuracy": _table(
            [OPTIMIZERS, OPTIMIZERS, list(reversed(OPTIMIZERS)), list(reversed(OPTIMIZERS))], WORKLOADS
        )
    },
    # The identity network matches logistic regression, but ReLU gains only 5 points, not 10.
    "no_nonlinearity": {
        **no_nonlinearity(True),
        "test_accuracy": {**no_nonlinearity(True)["test_accuracy"], "relu": seeds(0.7)},
    },
    # The ranking changes and momentum vs rmsprop reverses, but Adam stays far below momentum.
    "tuning_protocol": {
        "test_accuracy": {
            LR_ONLY: _table([["momentum", "rmsprop", "adam"]], ["x"])["x"],
            FULL: _table([["rmsprop", "momentum", "adam"]], ["x"])["x"],
        }
    },
}


def mnist1d_baselines(holds):
    arms = ["logistic regression", "MLP", "CNN"]
    paper = dict(zip(arms, (0.32, 0.68, 0.94)))
    # Contradicted: every model far from the paper's number, and the ranking reversed.
    measured = paper if holds else dict(zip(arms, (0.6, 0.5, 0.4)))
    return {"arms": arms, "paper": paper, "test_accuracy": {arm: seeds(measured[arm]) for arm in arms}}


SYNTHETIC = {
    f.__name__: f
    for f in (
        small_init,
        large_init,
        glorot_bengio,
        he_init,
        no_nonlinearity,
        input_scale,
        sgd_stuck,
        adam_best,
        workload_dependence,
        lr_schedule,
        adam_logistic,
        batch_norm,
        weight_decay,
        tuning_protocol,
        mnist1d_baselines,
    )
}


def test_every_experiment_has_made_up_numbers():
    assert sorted(SYNTHETIC) == sorted(experiment_names())


@pytest.mark.parametrize("name", experiment_names())
def test_verdict_follows_the_numbers(name):
    verdict = get_experiment(name).verdict
    supported, contradicted = verdict(SYNTHETIC[name](True)), verdict(SYNTHETIC[name](False))
    assert supported.label == "supported", supported.paragraph
    assert contradicted.label == "contradicted", contradicted.paragraph
    assert len(supported.checks) >= 2 and len(supported.checks) == len(contradicted.checks)


@pytest.mark.parametrize("name", experiment_names())
def test_mixed_numbers_give_partly_supported(name):
    """Swap one part of the supporting numbers (a key, or one arm under a key) for the contradicting one's:
    some swap breaks some checks and not others (or, for tables of rankings, a mixed table)."""
    verdict = get_experiment(name).verdict
    good, bad = SYNTHETIC[name](True), SYNTHETIC[name](False)
    mixes = [PARTLY[name]] if name in PARTLY else []
    for key, value in good.items():
        mixes.append({**good, key: bad[key]})
        if isinstance(value, dict):
            mixes += [{**good, key: {**value, part: bad[key][part]}} for part in value]
    labels = {verdict(mix).label for mix in mixes}
    assert labels <= set(LABELS) and "partly supported" in labels


def _near_one(numbers):
    """``numbers`` with every list of accuracies set to 1 but its last seed's 0.5: mean 0.9, and over 5 seeds
    a t interval of 0.9 +- 2.776 * 0.2236 / sqrt(5) = 0.9 +- 0.278, whose upper end 1.178 an accuracy
    cannot reach."""
    if isinstance(numbers, dict):
        return {k: _near_one(v) for k, v in numbers.items()}
    if isinstance(numbers, list) and len(numbers) > 1 and all(isinstance(v, float) for v in numbers):
        return [1.0] * (len(numbers) - 1) + [0.5]
    return numbers


@pytest.mark.parametrize("name", experiment_names())
def test_an_accuracy_interval_stays_within_its_bounds(name):
    """A mean accuracy of 0.9 over 5 seeds read '95% CI 0.622 to 1.18' in a verdict: every interval of an
    accuracy (or of a difference of two) now ends at 1 at most."""
    verdict = get_experiment(name).verdict
    for holds in (True, False):
        numbers = SYNTHETIC[name](holds)
        near_one = {k: _near_one(v) if "accuracy" in k else v for k, v in numbers.items()}
        for check in verdict(near_one).checks:
            if "accuracy" not in check.evidence.split("(")[0]:
                continue
            for low, high in re.findall(r"95% CI (\S+) to ([-\d.e+]+)", check.evidence):
                assert -1 <= float(low) <= float(high) <= 1, (name, check.evidence)


def _noise(arms, groups, n=3):
    """``{group: {arm: n accuracies}}``, every arm drawn from the same distribution: no arm is better."""
    rng = random.Random(1)  # a draw whose ranks by the mean differ between the groups
    return {g: {a: [rng.gauss(0.9, 0.02) for _ in range(n)] for a in arms} for g in groups}


# Tables of rankings, where ranks by the mean alone differ on noise: the rankings had such checks.
NOISE = {
    "adam_best": {"test_accuracy": _noise(OPTIMIZERS, WORKLOADS)},
    "workload_dependence": {"test_accuracy": _noise(OPTIMIZERS, WORKLOADS)},
    "tuning_protocol": {"test_accuracy": _noise(["momentum", "rmsprop", "adam"], [LR_ONLY, FULL])},
}


@pytest.mark.parametrize("name", sorted(NOISE))
def test_noise_supports_no_prediction(name):
    """Three seeds of arms that differ only by noise: the winners by the mean differ from workload to
    workload and from protocol to protocol (workload_dependence and tuning_protocol read that as
    'partly supported'), and nothing beats Adam significantly (adam_best read that as a prediction that
    holds). With every check on a paired interval, none holds; nor is any refuted: three seeds of noise
    cannot tell, which the label says (it read 'contradicted')."""
    verdict = get_experiment(name).verdict(NOISE[name])
    assert [c.holds for c in verdict.checks] == [False] * len(verdict.checks), verdict.paragraph
    assert not any(c.refuted for c in verdict.checks) and verdict.label == "inconclusive"


def _speed_check(numbers):
    return get_experiment("batch_norm").verdict(numbers).checks[1]


def test_batch_norm_reads_runs_that_never_reached_the_target_as_lower_bounds():
    """A run that never reaches the target counts its length + 1 steps: a lower bound of its time. Both arms
    cut short at the same length read as a difference of exactly 0, which refuted "batch normalization is
    faster"; a normalized arm cut short early read as faster, which supported it."""
    both_missed = batch_norm(True)
    both_missed["steps_to_target_log10"] = {"plain": [3.0] * N, "normalized": [3.0] * N}
    both_missed["reached_target"] = {"plain": [0.0] * N, "normalized": [0.0] * N}
    check = _speed_check(both_missed)
    assert not check.holds and not check.refuted and "plain 5 of 5, normalized 5 of 5" in check.evidence
    normalized_missed = batch_norm(True)
    normalized_missed["reached_target"]["normalized"] = [0.0] + [1.0] * (N - 1)
    assert not _speed_check(normalized_missed).holds
    plain_missed = batch_norm(True)  # the plain arm's times only grow: "faster" still holds
    plain_missed["reached_target"]["plain"] = [0.0] * N
    assert _speed_check(plain_missed).holds
    plain_missed["steps_to_target_log10"] = {"plain": seeds(2.0), "normalized": seeds(3.0)}
    assert not _speed_check(plain_missed).refuted
    normalized_missed["steps_to_target_log10"] = {"plain": seeds(2.0), "normalized": seeds(3.0)}
    assert _speed_check(normalized_missed).refuted


@pytest.mark.parametrize(
    "name, premise, value",
    [
        ("input_scale", "top_feature_share", {"none": seeds(0.99, 0.0001)}),
        ("no_nonlinearity", "collapse_error_log10", seeds(-7)),
        # ReLU(c x) = c ReLU(x), zero biases, one seed's draws in both arms: every seed's output ratio is
        # the product of the layers' weight ratios (test_gallery checks it on the runs)
        ("he_init", "output_std_log10", {"xavier": seeds(-4.62), "he": seeds(0)}),
        ("large_init", "output_std_log10", {"1x": seeds(0), "2x": seeds(3.31), "4x": seeds(6.62)}),
    ],
)
def test_a_premise_that_always_holds_does_not_keep_a_failed_claim_from_contradicted(name, premise, value):
    """The breast-cancer data's top features carry 99% of its energy on every split, a network without
    a non-linearity multiplies out by algebra, and a ReLU network's output at init scales with its
    weights' multiple by algebra: those checks held whatever training did, so the claims read "partly
    supported" with every prediction about training refuted (he_init: He stalls, Xavier trains),
    never "contradicted"."""
    numbers = {**SYNTHETIC[name](False), premise: value}
    verdict = get_experiment(name).verdict(numbers)
    assert verdict.label == "contradicted", verdict.paragraph
    assert "Premise, not counted: " in verdict.paragraph


def test_a_reversal_among_many_comparisons_needs_bonferronis_intervals():
    """workload_dependence looks at every pair of optimizers on every pair of workloads, and any one
    reversal counted: a difference significant at 95% alone on each side read as one. Here Adam leads SGD
    on the digits MLP and trails it on the MNIST-1D MLP by seeds apart at 95% (scipy's t interval), not at
    1 - 0.05/6 over the six comparisons across data sets."""
    from scipy import stats

    ahead = [0.10, 0.02, 0.05, 0.08, 0.03]  # per seed: Adam minus SGD
    mean, sem = statistics.fmean(ahead), statistics.stdev(ahead) / math.sqrt(len(ahead))
    assert stats.t.interval(0.95, 4, mean, sem)[0] > 0 > stats.t.interval(1 - 0.05 / 6, 4, mean, sem)[0]
    level = [0.8] * 5

    def workload(adam_minus_sgd):
        return {"adam": [v + d for v, d in zip(level, adam_minus_sgd)], "sgd": level, "momentum": level}

    table = {w: workload([0.0] * 5) for w in WORKLOADS}
    table["digits, MLP"], table["MNIST-1D, MLP"] = workload(ahead), workload([-d for d in ahead])
    checks = get_experiment("workload_dependence").verdict({"test_accuracy": table}).checks
    across_data = next(c for c in checks if c.statement.startswith("Changing the data set"))
    assert not across_data.holds and "over the 6 comparisons looked at" in across_data.evidence


def test_a_change_of_ranking_between_tuning_protocols_needs_bonferronis_intervals():
    """tuning_protocol counted a swap of any of its 3 pairs of optimizers with each difference significant
    at 95% alone. Here Adam leads momentum with the learning rate alone tuned and trails it with all tuned,
    by seeds apart at 95% (scipy's t interval) but not at 1 - 0.05/3."""
    from scipy import stats

    ahead = [0.10, 0.02, 0.05, 0.08, 0.03]  # per seed: Adam minus momentum
    mean, sem = statistics.fmean(ahead), statistics.stdev(ahead) / math.sqrt(len(ahead))
    assert stats.t.interval(0.95, 4, mean, sem)[0] > 0 > stats.t.interval(1 - 0.05 / 3, 4, mean, sem)[0]
    level = [0.8] * 5

    def protocol(adam_minus_momentum):
        adam = [v + d for v, d in zip(level, adam_minus_momentum)]
        return {"momentum": level, "rmsprop": level, "adam": adam}

    numbers = {"test_accuracy": {LR_ONLY: protocol(ahead), FULL: protocol([-d for d in ahead])}}
    checks = get_experiment("tuning_protocol").verdict(numbers).checks
    changes = next(c for c in checks if c.statement.startswith("The ranking of the optimizers changes"))
    assert not changes.holds and "over the 3 pairs looked at" in changes.evidence
    further = [d + 0.05 for d in ahead]  # the same spread about a larger mean: significant at 1 - 0.05/3
    numbers = {"test_accuracy": {LR_ONLY: protocol(further), FULL: protocol([-d for d in further])}}
    checks = get_experiment("tuning_protocol").verdict(numbers).checks
    assert next(c for c in checks if c.statement.startswith("The ranking of the optimizers changes")).holds


@pytest.mark.parametrize("claim", ["workload_dependence", "tuning_protocol"])
def test_the_ranking_claims_say_their_intervals_are_paired_by_seed(claim):
    """workload_dependence's reversals and tuning_protocol's change of ranking counted a swap on intervals
    of differences paired by seed but wrote only "Bonferroni's intervals", so a reader recomputing them from
    the arms as independent samples (Welch) found none. Here Adam leads by 0.15..0.23 on each seed of
    arms whose levels vary by seed from 0.3 to 0.7: the paired difference is significant at 1 - 0.05/6
    (scipy's t interval of the per-seed differences), Welch's on the same arms holds 0; the swap counts, and
    the evidence says the intervals are paired by seed."""
    from scipy import stats

    ahead = [0.15, 0.23, 0.18, 0.21, 0.16]  # per seed: Adam minus the other
    level = [0.3, 0.7, 0.4, 0.6, 0.5]  # per seed: the other's accuracy
    adam = [v + d for v, d in zip(level, ahead)]
    mean, sem = statistics.fmean(ahead), statistics.stdev(ahead) / math.sqrt(len(ahead))
    assert stats.t.interval(1 - 0.05 / 6, 4, mean, sem)[0] > 0
    welch = stats.ttest_ind(adam, level, equal_var=False).confidence_interval(0.95)
    assert welch.low < 0 < welch.high

    def arms(lead):
        return {"momentum": level, "sgd": level, "adam": [v + d for v, d in zip(level, lead)]}

    behind = [-d for d in ahead]
    if claim == "workload_dependence":
        table = {w: arms([0.0] * 5) for w in WORKLOADS}
        table["digits, MLP"], table["MNIST-1D, MLP"] = arms(ahead), arms(behind)
        numbers, opens = {"test_accuracy": table}, "Changing the data set"
    else:
        numbers = {"test_accuracy": {LR_ONLY: arms(ahead), FULL: arms(behind)}}
        opens = "The ranking of the optimizers changes"
    check = next(c for c in get_experiment(claim).verdict(numbers).checks if c.statement.startswith(opens))
    assert check.holds, check.evidence
    assert "(Bonferroni's intervals of the differences paired by seed, over the " in check.evidence


@pytest.mark.parametrize(
    "name, groups",
    [
        ("adam_best", WORKLOADS[:1]),
        ("workload_dependence", [WORKLOADS[0], WORKLOADS[3]]),  # one of each pair compared
        ("tuning_protocol", [LR_ONLY]),
    ],
)
def test_a_ranking_does_not_rest_on_the_runs_that_did_not_fail(name, groups):
    """The tables' comparisons left a failed run's pair out and read the survivors: an arm whose first seed
    diverged beat the others on its 4 remaining seeds (paired_check's rule: a check with a run left out
    does not hold). The supporting tables with every arm's first seed failed there hold no ranking."""
    verdict = get_experiment(name).verdict
    numbers = SYNTHETIC[name](True)
    assert verdict(numbers).checks[0].holds
    for group in groups:
        for values in numbers["test_accuracy"][group].values():
            values[0] = math.nan
    assert not verdict(numbers).checks[0].holds, verdict(numbers).paragraph


def test_he_inits_stall_check_is_within_its_margin_of_chance_on_both_sides():
    """ "The Xavier-initialized network stalls: test accuracy within 0.05 of chance" held on Xavier arms at
    0.0 of 10 classes (chance 0.1): the rule asked only for an interval below chance + 0.05. Truth: 0.0 is
    0.1 from chance, outside the margin the check states (a net that avoids the right class has learned)."""
    numbers = he_init(True)
    numbers["test_accuracy"]["xavier"] = seeds(0.0, spread=0.0)
    (stall,) = [c for c in get_experiment("he_init").verdict(numbers).checks if "stalls" in c.statement]
    assert not stall.holds and stall.refuted, stall.evidence
    numbers["test_accuracy"]["xavier"] = seeds(0.08)  # 0.06 to 0.10: within 0.05 of 0.1
    (stall,) = [c for c in get_experiment("he_init").verdict(numbers).checks if "stalls" in c.statement]
    assert stall.holds, stall.evidence


@pytest.mark.parametrize("behind", [0.04, 0.3], ids=["below_at_95_only", "below_at_bonferroni"])
def test_adam_best_shows_the_interval_its_refutation_reads(behind):
    """adam_best refutes on Bonferroni's intervals over its 16 comparisons but showed only the 95% ones:
    'adagrad on digits, MLP (-0.075 (95% CI -0.146 to -0.004))', required above -0.01, read 'is not
    decided' with no number that says why. The nearest Bonferroni interval is now shown, and the outcome
    follows from it. Truth: scipy's t interval at 1 - 0.05/16."""
    from scipy import stats

    behind_by = [-behind - 0.01, -behind + 0.01, -behind]  # per seed: Adam minus AdaGrad on the digits MLP
    table = {w: {o: [0.6 if o == "adam" else 0.4] * 3 for o in OPTIMIZERS} for w in WORKLOADS}
    table["digits, MLP"]["adagrad"] = [0.6 - d for d in behind_by]
    mean, sem = statistics.fmean(behind_by), statistics.stdev(behind_by) / math.sqrt(3)
    assert stats.t.interval(0.95, 2, mean, sem)[1] < -0.01  # a 95% interval alone would refute
    high = stats.t.interval(1 - 0.05 / 16, 2, mean, sem)[1]
    checks = get_experiment("adam_best").verdict({"test_accuracy": table}).checks
    for check, below in zip(checks, (0, -0.01)):
        shown = re.search(
            r"the nearest: adagrad on digits, MLP \((\S+) \(99\.69% CI (\S+) to (\S+), 3 runs", check.evidence
        )
        assert shown is not None, check.evidence
        decimals = len(shown[3].partition(".")[2])
        assert float(shown[3]) == pytest.approx(high, abs=0.5 * 10**-decimals)  # rounded to what it shows
        assert check.refuted == (high < below) == (float(shown[3]) < below), check.evidence
        assert check.outcome == ("is refuted" if behind == 0.3 else "is not decided")


@pytest.mark.parametrize("high", [-0.012, -0.0004])
def test_adam_best_shows_the_end_its_rule_reads_on_the_side_of_the_threshold_it_lies(high):
    """Bonferroni's upper end at -0.012 was shown '-0.01' beside "is refuted ... lies entirely below -0.01",
    and at -0.0004 '-0.00' beside "lies entirely below 0": a reader of the shown interval derives "not
    below". Truth: scipy's t interval at 1 - 0.05/16 of the differences, made to end at ``high``."""
    from scipy import stats

    sem = statistics.stdev([-0.02, 0.0, 0.02]) / math.sqrt(3)
    mean = high - stats.t.ppf(1 - 0.05 / 16 / 2, 2) * sem
    behind_by = [mean - 0.02, mean, mean + 0.02]  # per seed: Adam minus AdaGrad on the digits MLP
    table = {w: {o: [0.6 if o == "adam" else 0.4] * 3 for o in OPTIMIZERS} for w in WORKLOADS}
    table["digits, MLP"]["adagrad"] = [0.6 - d for d in behind_by]
    assert stats.t.interval(1 - 0.05 / 16, 2, mean, sem)[1] == pytest.approx(high, abs=1e-12)
    for check, below in zip(get_experiment("adam_best").verdict({"test_accuracy": table}).checks, (0, -0.01)):
        shown = re.search(
            r"the nearest: adagrad on digits, MLP \(\S+ \(99\.69% CI \S+ to (\S+),", check.evidence
        )
        assert shown is not None, check.evidence
        assert (float(shown[1]) < below) == (high < below) == check.refuted, check.evidence


@pytest.mark.parametrize("failed", [False, True])
def test_adam_best_is_refuted_on_every_seeds_pair_only(failed):
    """AdaGrad 0.2 ahead of Adam on 3 seeds of 4, Adam's 4th run failed (NaN), read "is refuted ... (3 runs,
    1 failed and left out)": the survivors of a failed run refuted what they could not hold. Truth: the
    same 3 pairs refute where they are every pair (3 seeds), and the rule says it needs every pair."""
    n = 3 if not failed else 4
    table = {w: {o: [0.6 if o == "adam" else 0.4] * n for o in OPTIMIZERS} for w in WORKLOADS}
    table["digits, MLP"]["adagrad"] = [0.8, 0.81, 0.79, 0.8][:n]
    table["digits, MLP"]["adam"] = [0.6, 0.6, 0.6, math.nan][:n]
    verdict = get_experiment("adam_best").verdict({"test_accuracy": table})
    for check in verdict.checks:
        assert check.refuted == (not failed) and "on every seed's pair" in check.evidence, check.evidence
    assert verdict.label == ("inconclusive" if failed else "contradicted")


def test_workload_dependence_names_the_optimizer_that_refutes_it():
    """'No optimizer is the best on every workload' read 'is refuted' naming only the optimizers never
    beaten, not the one ahead of every other everywhere that refuted it. Here Adam leads each other optimizer
    by 0.04, 0.05 and 0.06 on its three seeds, on every workload: ahead at 95% (what refutes), not at
    Bonferroni's level over its 16 comparisons (what counts as beating). Truth: scipy's t intervals."""
    from scipy import stats

    lead = [0.04, 0.05, 0.06]
    mean, sem = statistics.fmean(lead), statistics.stdev(lead) / math.sqrt(3)
    assert stats.t.interval(0.95, 2, mean, sem)[0] > 0 > stats.t.interval(1 - 0.05 / 16, 2, mean, sem)[0]
    per = {o: [0.5 + d for d in lead] if o == "adam" else [0.5] * 3 for o in OPTIMIZERS}
    numbers = {"test_accuracy": dict.fromkeys(WORKLOADS, per)}
    check = get_experiment("workload_dependence").verdict(numbers).checks[0]
    assert check.refuted and not check.holds, check.evidence
    assert (
        "each 95% interval of it minus another, paired by seed, wholly at or above 0): adam;"
        in check.evidence
    )
    unbeaten = ", ".join(OPTIMIZERS)  # none beaten at Bonferroni's level
    assert (
        "never significantly beaten (Bonferroni's intervals of the differences paired by seed, over each "
        f"optimizer's 16 comparisons): {unbeaten};" in check.evidence
    )
    spread = {o: seeds(0.5) for o in OPTIMIZERS}  # all tied on every seed: none beaten anywhere (RULE)
    check = get_experiment("workload_dependence").verdict({"test_accuracy": dict.fromkeys(WORKLOADS, spread)})
    assert f"wholly at or above 0): {unbeaten};" in check.checks[0].evidence
    per = {
        o: [0.5 + 0.01 * k * (i % 2) for k in range(3)] for i, o in enumerate(OPTIMIZERS)
    }  # no tie, none ahead
    check = get_experiment("workload_dependence").verdict({"test_accuracy": dict.fromkeys(WORKLOADS, per)})
    assert "wholly at or above 0): none;" in check.checks[0].evidence, check.checks[0].evidence


def test_the_gallerys_accuracy_axes_say_their_unit():
    """The gallery's accuracy axes read 'test accuracy' and 'validation accuracy' alone, where a run's and
    a study's pages say '(fraction correct)': a value of 0.9 could be read as a percent. Truth: the values
    each figure draws (matplotlib's data limits) lie within [0, 1], and its label says they are fractions."""
    from optimlab.gallery.experiment import Evidence
    from optimlab.gallery.plots import curve_figure

    per = {"momentum": [0.8, 0.9], "rmsprop": [0.7, 0.75], "adam": [0.85, 0.95]}
    evidence = Evidence(numbers={"test_accuracy": {LR_ONLY: per, FULL: per}}, series={}, runs=[], setup="")
    bars = get_experiment("tuning_protocol").figures(evidence)[0][0]
    curve = curve_figure({"adam": {"step": [1, 2, 3], "mean": [0.2, 0.6, 0.9]}}, "t")[0]
    for figure, split in ((bars, "test"), (curve, "validation")):
        axes = figure.axes[0]
        low, high = axes.dataLim.intervaly
        assert low >= 0 and high <= 1
        assert axes.get_ylabel().startswith(f"{split} accuracy (fraction correct)"), axes.get_ylabel()


def test_the_weight_decay_heatmaps_say_their_accuracys_unit():
    """weight_decay's heatmaps said 'validation accuracy' in their title and colour bar, with no unit, where
    every other accuracy axis of the gallery says '(fraction correct)'. Truth: the cells drawn (the colour
    bar's limits) lie within [0, 1], and its label and the title say they are fractions."""
    from optimlab.gallery.experiment import Evidence

    grid = {"val_accuracy": [[0.5, 0.9], [0.6, float("nan")]], "lambda": [1e-4, 1e-3], "lr": [1e-3, 1e-2]}
    evidence = Evidence(numbers={}, series={"grids": {"AdamW": grid}}, runs=[], setup="")
    heat = get_experiment("weight_decay").figures(evidence)[0][0]
    bar = heat.axes[-1]  # the colour bar's axes, added after the map's
    low, high = bar.get_ylim()
    assert low >= 0 and high <= 1
    assert bar.get_ylabel() == "validation accuracy (fraction correct)", bar.get_ylabel()
    assert heat.axes[0].get_title().endswith("validation accuracy (fraction correct)"), heat.axes[
        0
    ].get_title()
