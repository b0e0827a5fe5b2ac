"""Scores of a benchmark: per workload, time to target and final metric; across workloads, profiles.

As AlgoPerf scores training algorithms (Dahl et al., Benchmarking Neural Network Training Algorithms,
2023, https://arxiv.org/abs/2306.07179), after the study engine's protocol has tuned every method with
the same budget and rerun its best configuration on fresh seeds:

- **time to target** of a method on a workload is the median, over its seed runs, of the first
  evaluation that meets the workload's target, in optimizer steps (default) or wall seconds; a run that
  never meets it (or failed, or never ran) counts as infinite, so a method that misses on half its seeds or more has
  no finite time;
- its **performance ratio** r on the workload is that time over the fastest method's (1 for the
  fastest, infinite when it never got there);
- its **performance profile** rho(tau) is the fraction of workloads with r <= tau (Dolan & More,
  Benchmarking optimization software with performance profiles, 2002,
  https://arxiv.org/abs/cs/0102001);
- its **area score** is the area under rho from tau = 1 to ``tau_max`` (4, as AlgoPerf) over
  ``tau_max - 1``: 1 when it is the fastest everywhere, 0 when it is never within ``tau_max`` times
  the fastest. As rho is a step function, the area is exact: the mean over workloads of
  ``max(0, tau_max - r) / (tau_max - 1)``.

Steps are the default cost: on a shared machine, or with the batched backend (whose members share one
clock), wall seconds measure the machine as much as the method. Steps ignore what a step costs (SAM
computes two gradients per step): use ``cost="seconds"`` on dedicated hardware with one trial per process.

>>> round(area_score([1.0, 2.5, math.inf], tau_max=4.0), 4)  # (3/3 + 1.5/3 + 0) / 3
0.5
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

from optimlab.errors import InvalidValueError
from optimlab.registry import Interval, real_number, whole_number
from optimlab.study.analysis import (
    LeaderboardRow,
    leaderboard,
    performance_profiles,
    performance_ratios,
    same_mean,
    time_to_target,
)
from optimlab.study.protocols import SEEDS
from optimlab.study.run import StudyResult

__all__ = [
    "COSTS",
    "NO_TARGET",
    "BenchScores",
    "MethodScore",
    "area_ranking_note",
    "area_score",
    "check_cost",
    "run_costs",
    "score",
    "taus",
]

COSTS = ("steps", "seconds")
NO_TARGET = "no target"  # a workload's time to target where it has no target (other data: --dataset)
TAU_MAX = 4.0  # AlgoPerf's upper limit of the profile: slower than 4x the fastest scores nothing
_TAU_MAXES = Interval(1, None, open_low=True)  # finite, above 1: the profile's span tau_max - 1 divides


@dataclasses.dataclass(frozen=True)
class MethodScore:
    """One method on one workload: its leaderboard row and its time to target over the seed runs."""

    board: LeaderboardRow  # best configuration, final test metric with CI, failures
    costs: tuple[float, ...]  # time to target of each seed run (inf: missed or failed)
    cost: float  # their median: the method's time to target (inf: not reached on most seeds)

    @property
    def method(self) -> str:
        return self.board.method

    @property
    def time_cell(self) -> float | str:
        """The time to target as a table shows it: the median, or in words where there is none, ``not
        reached`` (missed on most seed runs) or ``no target`` (the workload has none)."""
        if not self.costs:
            return NO_TARGET
        return self.cost if math.isfinite(self.cost) else "not reached"

    @property
    def reached_cell(self) -> str:
        """``2/3``: the seed runs that reached the target, of all; ``no target`` where the workload has none."""
        return f"{sum(map(math.isfinite, self.costs))}/{len(self.costs)}" if self.costs else NO_TARGET


@dataclasses.dataclass(frozen=True)
class BenchScores:
    """Scores of every method on every workload, and across workloads."""

    cost: str  # "steps" or "seconds"
    workloads: dict[str, list[MethodScore]]  # workload -> its methods, best final metric first
    ratios: dict[str, dict[str, float]]  # method -> workload -> performance ratio (targeted workloads only)
    taus: list[float]
    profiles: dict[str, list[float]]  # method -> rho at each tau
    area: dict[str, float]  # method -> area score

    def ranking(self) -> list[tuple[str, float]]:
        """Methods by area score, best first."""
        return sorted(self.area.items(), key=lambda item: -item[1])

    def ranks(self) -> list[tuple[int, str, float]]:
        """``(rank, method, area score)``, best first; equal scores share a rank (1, 2, 2, 4), where the
        order of the names would have ranked one above the other."""
        return [
            (1 + sum(a > area and not same_mean(a, area) for a in self.area.values()), m, area)
            for m, area in self.ranking()
        ]


def area_ranking_note(seeds: int) -> str:
    """What the area score's ranking cannot say: it ranks by medians of ``seeds`` seed runs a workload, of
    which no uncertainty is measured (no interval, no test), where a leaderboard's ranks are tested
    (:func:`optimlab.study.significance.ranking_note`)."""
    return (
        f"Ranking: the area score ranks by each method's median time to target over {seeds} seed "
        f"run{'' if seeds == 1 else 's'} a workload, without a measure of its uncertainty (no interval, no "
        "test): a rank may be chance."
    )


def run_costs(result: StudyResult, method: str, cost: str = "steps") -> list[float]:
    """Time to target of each of ``method``'s planned seed runs; inf where it missed, failed or never ran
    (every tuning trial failed, so no configuration reran)."""
    check_cost(cost)
    spec = result.spec
    names = [m.name for m in spec.methods]
    if method not in names:
        raise InvalidValueError("method", method, f"one of the study's: {', '.join(names)}")
    index = COSTS.index(cost)
    runs = {r.key: r for r in result.records if r.method == method and r.phase == SEEDS and r.finished}
    costs = []
    for planned in spec.seed_plan({}):
        run = runs.get(planned.key)
        hit = (
            time_to_target(run.curve, spec.metric, spec.target, spec.goal)
            if run is not None and run.state == "complete"
            else None
        )
        costs.append(math.inf if hit is None else float(hit[index]))
    return costs


def area_score(ratios: Sequence[float], tau_max: float = TAU_MAX) -> float:
    """Area under the profile of these ratios (one per workload) from 1 to ``tau_max``, over ``tau_max - 1``."""
    tau_max = real_number(tau_max, "tau_max", _TAU_MAXES)
    if not ratios:
        return math.nan
    # One division of the exact sum: divided term by term, equal areas (ratios 4 and 2, 3.75 and 2.25:
    # both 2/6) came out a bit apart and ranked apart.
    # A NaN ratio is a miss, as the profile counts it (for no tau), not max(1, nan) = 1, the fastest.
    areas = (tau_max - max(1.0, r) if r < tau_max else 0.0 for r in ratios)
    return math.fsum(areas) / (len(ratios) * (tau_max - 1))


def taus(tau_max: float = TAU_MAX, points: int = 61) -> list[float]:
    """``points`` values of tau evenly spaced from 1 to ``tau_max``: where profiles are drawn."""
    tau_max = real_number(tau_max, "tau_max", _TAU_MAXES)
    points = whole_number(points, "points", Interval(2, None, integer=True))
    return [1 + (tau_max - 1) * i / (points - 1) for i in range(points)]


def check_cost(cost: str) -> None:
    """Refuse a ``cost`` that is not one of :data:`COSTS`."""
    if cost not in COSTS:
        raise InvalidValueError("cost", cost, "one of " + ", ".join(COSTS))


def score(results: Sequence[StudyResult], cost: str = "steps", tau_max: float = TAU_MAX) -> BenchScores:
    """Score every study (one per workload); workloads without a target get final metrics only."""
    check_cost(cost)
    workloads: dict[str, list[MethodScore]] = {}
    costs: dict[str, dict[str, float]] = {}
    for result in results:
        spec = result.spec
        rows = []
        for row in leaderboard(spec, result.records):
            per_run = run_costs(result, row.method, cost) if spec.target is not None else []
            median = statistics.median(per_run) if per_run else math.inf
            rows.append(MethodScore(board=row, costs=tuple(per_run), cost=median))
        workloads[spec.name] = rows
        if spec.target is not None:
            costs[spec.name] = {row.method: row.cost for row in rows}
    ratios = performance_ratios(costs)
    grid = taus(tau_max)
    profiles = performance_profiles(costs, grid) if costs else {}
    area = {m: area_score(list(per.values()), tau_max) for m, per in ratios.items()}
    return BenchScores(cost=cost, workloads=workloads, ratios=ratios, taus=grid, profiles=profiles, area=area)
