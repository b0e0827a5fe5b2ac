"""What a study's trials say: leaderboard with confidence intervals, time-to-target, sensitivity, profiles.

- **Leaderboard**: per method, the best tuning configuration and the test metric over its seed reruns:
  mean, sample standard deviation and the 95% confidence interval of the mean from Student's t
  (``mean +- t_{0.975, n-1} * std / sqrt(n)``), as the optimizer benchmarks report them (Schmidt et al.,
  Descending through a Crowded Valley, 2021, https://arxiv.org/abs/2007.01547). A best value on the
  edge of its tuned range is flagged: the tuning range, not the method, may have decided it. Methods
  rank by the share of their seed reruns that diverged or failed, then by the mean of the others.
- **Time-to-target**: the first evaluation whose tuned metric meets the workload's target, in steps
  and in seconds; a method's is the median over its seed runs, a run that never met it or failed
  counting as infinite (as ``bench`` scores it). An interval of a bounded metric (accuracy) stays
  within its bounds.
- **Sensitivity**: the tuned metric against one searched field (the learning rate) in tuning.
- **Performance profiles** across workloads (Dolan & More, Benchmarking optimization software with
  performance profiles, 2002, https://arxiv.org/abs/cs/0102001, as AlgoPerf uses them: Dahl et al.,
  Benchmarking Neural Network Training Algorithms, 2023, https://arxiv.org/abs/2306.07179):
  ``rho_m(tau)`` is the fraction of workloads on which method m's time to target is within a factor
  ``tau`` of the fastest method's.

>>> round(confidence_interval([0.9, 0.92, 0.94]).half_width, 4)  # 2.0 * 4.3027 * 0.02 / sqrt(3) / 2
0.0497
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from optimlab.errors import InvalidValueError
from optimlab.report.metric_labels import ACCURACY, UNBOUNDED, metric_bounds
from optimlab.study.protocols import SEEDS, TUNE, Method, StudySpec
from optimlab.study.space import Dimension
from optimlab.study.storage import TrialRecord

__all__ = [
    "ACCURACY",
    "UNBOUNDED",
    "LeaderboardRow",
    "Summary",
    "best_tuning_trial",
    "confidence_interval",
    "difference_bounds",
    "failed_share",
    "interval_words",
    "leaderboard",
    "performance_profiles",
    "performance_ratios",
    "ranks",
    "same_mean",
    "scored",
    "seed_band",
    "seed_results",
    "sensitivity",
    "t_quantile",
    "t_quantile_975",
    "time_to_target",
]

# Student's t 0.975 quantiles for 1..30 degrees of freedom (scipy.stats.t.ppf(0.975, df), 10 decimals).
_T_975 = (
    12.7062047362,
    4.3026527297,
    3.1824463053,
    2.7764451052,
    2.5705818356,
    2.4469118511,
    2.3646242516,
    2.3060041352,
    2.2621571628,
    2.2281388520,
    2.2009851601,
    2.1788128297,
    2.1603686565,
    2.1447866879,
    2.1314495456,
    2.1199052992,
    2.1098155778,
    2.1009220402,
    2.0930240544,
    2.0859634473,
    2.0796138447,
    2.0738730679,
    2.0686576104,
    2.0638985616,
    2.0595385528,
    2.0555294386,
    2.0518305165,
    2.0484071418,
    2.0452296421,
    2.0422724563,
)
_Z_975 = 1.959963984540054


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom.

    A table up to 30; beyond, the Cornish-Fisher expansion in ``1/df`` (Abramowitz & Stegun 26.7.5),
    within 1e-7 of the exact value there.
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z, nu = _Z_975, float(df)
    return (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * nu**4)
    )


def t_quantile(level: float, df: int) -> float:
    """The half-width, in standard errors, of Student's t interval at ``level`` with ``df`` degrees of
    freedom: :func:`t_quantile_975` at 95%, scipy's quantile at any other level."""
    if level == 0.95:
        return t_quantile_975(df)
    from scipy import stats  # scikit-learn's dependency: always installed with optimlab

    return float(stats.t.ppf(0.5 + level / 2, df))


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation and confidence interval (at ``level``) of the mean of ``n`` values."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def interval_words(metric: str) -> str:
    """How the 95% interval of ``metric``'s mean is made, as each place that shows one says it: Student's t
    over the seeds, cut at the metric's range where it has one (:func:`confidence_interval`), so an
    accuracy's upper end of 1.000 is no t interval's (scipy's reaches past 1)."""
    low, high = metric_bounds(metric)
    if (low, high) == UNBOUNDED:
        return "Student-t 95% interval over the seeds"
    shown = f"[{low:g}, {high:g}]" if math.isfinite(high) else f"at least {low:g}"
    return f"Student-t 95% interval over the seeds, clipped to the metric's range ({shown})"


def confidence_interval(
    values: Sequence[float], bounds: tuple[float, float] = UNBOUNDED, *, level: float = 0.95
) -> Summary:
    """Student-t interval of the mean at ``level`` (95%; 1 - 0.05/m for one of m comparisons at once, as
    Bonferroni's correction widens it); one value has no sample std and no interval (NaN, as numpy's
    ``std(ddof=1)``: ``optimlab.compare(...).leaderboard`` gave std 0 for one seed, a spread never measured).

    ``bounds`` are the values the metric can take (an accuracy: 0 and 1): the mean of such values lies
    within them, so the interval is cut there. With few seeds the t interval is wide (2 seeds: 12.7
    standard errors), and an accuracy's interval would otherwise reach below 0 or above 1. A bound that
    a value passes is not the metric's (a Poisson negative log-likelihood is a loss below 0) and cuts
    nothing: cut at 0, losses of -0.3, -0.25 and -0.28 read -0.28 [0, -0.21]."""
    values = [float(v) for v in values]
    bad = next((v for v in values if not math.isfinite(v)), None)
    # statistics.stdev raised AttributeError ('float' object has no attribute 'numerator')
    if bad is not None:
        raise InvalidValueError("values", bad, "finite numbers: leave out the seeds that failed or diverged")
    if not 0 < level < 1:  # scipy's quantile of 1.25 is NaN: an interval of NaN bounds, read as one seed's
        raise InvalidValueError("level", level, "a probability between 0 and 1, e.g. 0.95")
    n = len(values)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, level)
    mean = statistics.fmean(values)
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan, level)
    std = statistics.stdev(values)
    half = t_quantile(level, n - 1) * std / math.sqrt(n)
    low = bounds[0] if min(values) >= bounds[0] else -math.inf
    high = bounds[1] if max(values) <= bounds[1] else math.inf
    return Summary(n, mean, std, max(mean - half, low), min(mean + half, high), level)


def difference_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    """The values a difference of two values within ``bounds`` can take: of two accuracies, [-1, 1]."""
    low, high = bounds
    return low - high, high - low


def time_to_target(
    curve: Mapping[str, Sequence[Any]], metric: str, target: float, goal: str = "max"
) -> tuple[int, float] | None:
    """``(step, seconds)`` of the first evaluation whose ``metric`` meets ``target``; None if none does."""
    for step, seconds, value in zip(curve.get("step", ()), curve.get("seconds", ()), curve.get(metric, ())):
        if value is not None and (value >= target if goal == "max" else value <= target):
            return int(step), float(seconds)
    return None


def best_tuning_trial(spec: StudySpec, records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The completed tuning trial with the best metric (ties: the earlier key); None if none completed."""
    best = None
    for record in sorted(records, key=lambda r: r.place):
        if (
            record.phase == TUNE
            and record.state == "complete"
            and (best is None or spec.better(record.value, best.value))
        ):
            best = record
    return best


@dataclasses.dataclass(frozen=True)
class LeaderboardRow:
    """One method: its best tuning configuration and how that configuration does over fresh seeds."""

    method: str
    params: dict[str, Any]  # the best tuning configuration ({} if every tuning trial failed)
    tuned: float  # its validation metric in tuning
    tuning_failed: int  # tuning trials that diverged, errored or were pruned
    test: Summary  # the test metric over the seed reruns that completed
    seeds_failed: int
    at_edge: tuple[str, ...]  # searched fields whose best value is the smallest or largest tried
    # The median over the seed runs, a run that never met the target or failed counting as infinite (so
    # inf when half of them or more missed): what ``bench`` calls a method's time to target. NaN: no target.
    steps_to_target: float
    seconds_to_target: float
    reached: int  # seed runs that reached the target
    # searched fields of which tuning tried fewer than 3 values (of more it could): one value is no tuning,
    # and of two the best is one whichever the method (two points cannot locate an optimum, and the edge,
    # at_edge, needs a third to tell); each field's count of values tried
    few_tried: Mapping[str, int] = dataclasses.field(default_factory=dict)

    @property
    def seed_runs(self) -> int:
        """The seed reruns that finished, completed or failed."""
        return self.test.n + self.seeds_failed


def scored(spec: StudySpec, record: TrialRecord) -> bool:
    """Whether ``record`` completed with a finite test metric: a seed rerun the leaderboard's mean counts
    (the others are its failed ones, a user's metric that was NaN on the test split among them)."""
    return record.state == "complete" and record.metrics.get(spec.test_metric) is not None


def seed_results(spec: StudySpec, records: Sequence[TrialRecord], method: str) -> list[float]:
    """The test metric of each completed seed rerun of ``method``'s best configuration."""
    return [
        r.metrics[spec.test_metric]
        for r in records
        if r.method == method and r.phase == SEEDS and scored(spec, r)
    ]


def _edge_fields(spec: StudySpec, tune: Sequence[TrialRecord], best: Mapping[str, Any]) -> tuple[str, ...]:
    """The searched fields whose best value is the smallest or largest that ``tune`` (every finished
    tuning trial) tried: one beyond it that diverged or failed was tried too, and bounds the range (lr 0.22
    read '(edge): widen the range' beside an lr 1 that diverged)."""
    edges = []
    for field, value in best.items():
        tried = sorted({r.params[field] for r in tune if isinstance(r.params.get(field), (int, float))})
        if len(tried) > 2 and value in (tried[0], tried[-1]):
            edges.append(field)
    return tuple(edges)


def _few_tried(spec: StudySpec, method: Method, tune: Sequence[TrialRecord]) -> dict[str, int]:
    """The fields ``method``'s study searched of which its finished tuning trials (``tune``) tried fewer
    than 3 values, where the field holds more (a choice of two, both tried, is searched whole), with the
    count tried: a budget of 1 tries one value, a grid of budget 2 the two ends."""
    few = {}
    for dimension in spec.space_for(method).dimensions:
        tried = len({repr(r.params[dimension.field]) for r in tune if dimension.field in r.params})
        if tried < min(3, _values_held(dimension)):
            few[dimension.field] = tried
    return few


def _values_held(dimension: Dimension) -> float:
    """How many values ``dimension`` holds: its choices, an integer range's integers, else a float range's
    (one where its ends are one value)."""
    if dimension.choices is not None:
        return len(dimension.choices)
    if dimension.integer:
        return dimension.high - dimension.low + 1
    return 1 if dimension.low == dimension.high else math.inf


def leaderboard(spec: StudySpec, records: Sequence[TrialRecord]) -> list[LeaderboardRow]:
    """One row per method, best first: by the share of its seed reruns that failed (:func:`failed_share`:
    a method that diverges on fresh seeds is not the one to pick, however well its survivors did), then
    by mean test metric; methods without results last."""
    rows = []
    for method in spec.methods:
        mine = [r for r in records if r.method == method.name and r.finished]
        tune = [r for r in mine if r.phase == TUNE]
        done = [r for r in tune if r.state == "complete"]
        best = best_tuning_trial(spec, done)
        seeds = [r for r in mine if r.phase == SEEDS]
        completed = [r for r in seeds if scored(spec, r)]
        hits = []  # per seed run: (steps, seconds) to the target, inf where it never got there or failed
        if spec.target is not None:
            hits = [
                (r.state == "complete" and time_to_target(r.curve, spec.metric, spec.target, spec.goal))
                or (math.inf, math.inf)
                for r in seeds
            ]
        rows.append(
            LeaderboardRow(
                method=method.name,
                params={} if best is None else dict(best.params),
                tuned=math.nan if best is None else best.value,
                tuning_failed=len(tune) - len(done),
                test=confidence_interval(
                    [r.metrics[spec.test_metric] for r in completed], metric_bounds(spec.test_metric)
                ),
                seeds_failed=len(seeds) - len(completed),
                at_edge=() if best is None else _edge_fields(spec, tune, best.params),
                steps_to_target=statistics.median(h[0] for h in hits) if hits else math.nan,
                seconds_to_target=statistics.median(h[1] for h in hits) if hits else math.nan,
                reached=sum(math.isfinite(h[0]) for h in hits),
                few_tried={} if best is None else _few_tried(spec, method, tune),
            )
        )
    sign = -1.0 if spec.goal == "max" else 1.0
    levels: list[float] = []  # one mean per set of rows whose means are the same value (same_mean)

    def level(mean: float) -> float:
        """The first listed mean that is ``mean``'s value: equal means keep the methods' listed order."""
        found = next((other for other in levels if same_mean(mean, other)), None)
        if found is None:
            levels.append(mean)
        return mean if found is None else found

    def rank(row: LeaderboardRow) -> tuple[bool, float, float]:
        missing = math.isnan(row.test.mean)
        return (
            missing,
            failed_share(row.seeds_failed, row.test.n),
            0.0 if missing else sign * level(row.test.mean),
        )

    return sorted(rows, key=rank)


def failed_share(failed: int, completed: int) -> float:
    """The fraction of a method's seed reruns that diverged or failed (``failed`` of ``failed + completed``;
    0 without any): the leaderboard ranks by it before the mean, which is over the completed runs alone.
    Ranked by the mean first, a configuration that diverged on 2 of 4 fresh seeds ranked first on its 2
    survivors, above one that completed all 4."""
    return failed / (failed + completed) if failed + completed else 0.0


def same_mean(a: float, b: float) -> bool:
    """Whether two means are one value as floats write it: within 1e-12 of each other, relatively. Seeds
    at 0.925, 0.9875, 0.9875 and 0.95, 0.9625, 0.9875 are 2.9 / 3 both, but their floats sum to means
    apart in the last bit (0.9666666666666668 and ...667): ranked 1 and 2, one 'leading' by 1.11e-16."""
    return math.isclose(a, b, rel_tol=1e-12)


def ranks(board: Sequence[LeaderboardRow]) -> list[int | None]:
    """Each row's rank in ``board`` (:func:`leaderboard`'s, best first): rows that stand equal, the same
    share of failed seed runs and the same mean, share one (1, 1, 3), where the order the methods were
    listed in ranked one above the other; None without a seed result."""
    given: list[int | None] = []
    for i, row in enumerate(board):
        if not row.test.n:
            given.append(None)
            continue
        above = board[i - 1] if i else None
        tied = (
            above is not None
            and above.test.n > 0
            and same_mean(above.test.mean, row.test.mean)
            and failed_share(above.seeds_failed, above.test.n) == failed_share(row.seeds_failed, row.test.n)
        )
        given.append(given[-1] if tied else i + 1)
    return given


def sensitivity(
    records: Sequence[TrialRecord], method: str, field: str = "optimizer.lr"
) -> list[tuple[float, float]]:
    """``(value of field, tuned metric)`` of ``method``'s tuning trials, sorted; NaN where a trial failed. A
    trial whose value is no number (an lr choice of null, which a study stored before such choices were
    refused may hold: float(None) ended its report in a traceback) has no point to plot."""
    points = [
        (float(value), r.value)
        for r in records
        if r.method == method and r.phase == TUNE and r.finished and field in r.params
        if isinstance(value := r.params[field], (int, float)) and not isinstance(value, bool)
    ]
    return sorted(points)


def seed_band(
    records: Sequence[TrialRecord], method: str, metric: str
) -> tuple[list[int], list[float], list[float]]:
    """Steps, mean and standard deviation of ``metric`` over ``method``'s completed seed runs.

    Only the evaluations every run reached are kept (runs of one recipe evaluate at the same steps).
    """
    curves = [
        r.curve
        for r in records
        if r.method == method and r.phase == SEEDS and r.state == "complete" and metric in r.curve
    ]
    if not curves:
        return [], [], []
    length = min(len(c["step"]) for c in curves)
    steps = [int(s) for s in curves[0]["step"][:length]]
    means, stds = [], []
    for i in range(length):
        values = [c[metric][i] for c in curves if c[metric][i] is not None]
        means.append(statistics.fmean(values) if values else math.nan)
        stds.append(statistics.stdev(values) if len(values) > 1 else 0.0)
    return steps, means, stds


def performance_profiles(
    costs: Mapping[str, Mapping[str, float]], taus: Sequence[float]
) -> dict[str, list[float]]:
    """``rho_m(tau)`` for each method m: the fraction of workloads where ``cost <= tau * best cost``.

    ``costs[workload][method]`` is a positive time (or steps) to target; ``inf`` or NaN when the method
    never reached it (it then counts for no tau). A workload no method solved counts against every method.
    """
    ratios = performance_ratios(costs)
    return {
        m: [sum(r <= tau for r in per.values()) / len(costs) for tau in taus] for m, per in ratios.items()
    }


def performance_ratios(costs: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """``costs[workload][method]`` (positive; inf or NaN: never reached) -> ``ratios[method][workload]``,
    cost over the workload's best (inf: never reached)."""
    methods = sorted({m for per in costs.values() for m in per})
    ratios: dict[str, dict[str, float]] = {m: {} for m in methods}
    for workload, per in costs.items():
        for m, c in per.items():
            if c <= 0:  # a ratio to a zero or negative best means nothing (NaN, a miss, passes)
                raise InvalidValueError(
                    f"time to target of {m!r} on {workload!r}", c, "a positive number or inf"
                )
        best = min((c for c in per.values() if math.isfinite(c)), default=math.inf)
        for m in methods:
            c = per.get(m, math.inf)
            ratios[m][workload] = c / best if math.isfinite(c) else math.inf
    return ratios
