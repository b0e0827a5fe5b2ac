"""The study's HTML report: leaderboard, curves with seed bands, LR sensitivity, performance profiles.

One self-contained :class:`~optimlab.report.Page` (inline SVG, no script, no network). With several
studies (one per workload), the report adds AlgoPerf-style performance profiles over time to target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from optimlab.report import Page
from optimlab.report.figures import new_figure
from optimlab.study.analysis import LeaderboardRow, leaderboard, performance_profiles, seed_band, sensitivity
from optimlab.study.export import leaderboard_rows
from optimlab.study.run import StudyResult

__all__ = ["PROFILE_TAUS", "write_report"]

PROFILE_TAUS = [1 + 0.05 * i for i in range(61)]  # ratios 1..4, AlgoPerf's range of interest
_COLUMNS = (
    "rank",
    "method",
    "test_mean",
    "test_std",
    "ci95_low",
    "ci95_high",
    "seeds",
    "seeds_failed",
    "tuned_value",
    "tuning_failed",
    "best_config",
    "steps_to_target",
    "seconds_to_target",
)


def _curves_figure(result: StudyResult) -> Figure:
    spec = result.spec
    figure = new_figure()
    axes = figure.subplots()
    for method in spec.methods:
        steps, means, stds = seed_band(result.records, method.name, spec.metric)
        if not steps:
            continue
        (line,) = axes.plot(steps, means, label=method.name)
        axes.fill_between(
            steps,
            [m - s for m, s in zip(means, stds)],
            [m + s for m, s in zip(means, stds)],
            color=line.get_color(),
            alpha=0.2,
        )
    if spec.target is not None:
        axes.axhline(spec.target, color="gray", linestyle=":", label=f"target {spec.target:g}")
    axes.set(
        xlabel="step", ylabel=spec.metric, title="Best configuration of each method: mean +- std over seeds"
    )
    axes.legend(fontsize=8)
    return figure


def _sensitivity_figure(result: StudyResult, field: str) -> Figure:
    figure = new_figure()
    axes = figure.subplots()
    for method in result.spec.methods:
        points = sensitivity(result.records, method.name, field)
        if points:  # a NaN (failed trial) leaves a gap in the line
            axes.plot([x for x, _ in points], [y for _, y in points], marker="o", label=method.name)
    axes.set_xscale("log")
    axes.set(xlabel=field, ylabel=result.spec.metric, title=f"Tuning: {result.spec.metric} against {field}")
    axes.legend(fontsize=8)
    return figure


def _profiles_figure(costs: Mapping[str, Mapping[str, float]]) -> Figure:
    figure = new_figure()
    axes = figure.subplots()
    for method, rho in performance_profiles(costs, PROFILE_TAUS).items():
        axes.step(PROFILE_TAUS, rho, where="post", label=method)
    axes.set(
        xlabel="tau (time to target / fastest method's)",
        ylabel="fraction of workloads",
        ylim=(-0.02, 1.02),
        title="Performance profiles (time to target)",
    )
    axes.legend(fontsize=8)
    return figure


def _flat(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A nested recipe as ``(dotted field, value)`` rows."""
    rows = []
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", str(value) if isinstance(value, (dict, list)) else value))
    return rows


def _add_study(page: Page, result: StudyResult, board: Sequence[LeaderboardRow]) -> None:
    spec = result.spec
    page.section(
        spec.name,
        f"Protocol {spec.protocol}: {spec.budget} tuning trials per method, then the best "
        f"configuration on {spec.seeds} fresh seeds; tuned on {spec.metric} ({spec.goal}), reported on "
        f"{spec.test_metric} with Student-t 95% confidence intervals over the seeds.",
    )
    rows = leaderboard_rows(board)
    page.table(_COLUMNS, [[row[c] for c in _COLUMNS] for row in rows], caption="Leaderboard")
    edges = [f"{row.method}: {', '.join(row.at_edge)}" for row in board if row.at_edge]
    if edges:
        page.paragraph(
            f"Best value at the edge of the tuned range ({'; '.join(edges)}): widen the range to be sure "
            "the method, not the range, decided."
        )
    page.figure(_curves_figure(result), f"{spec.metric} during training, best configuration of each method.")
    if any("optimizer.lr" in r.params for r in result.records):
        page.figure(
            _sensitivity_figure(result, "optimizer.lr"),
            "Learning-rate sensitivity in tuning (a gap: the trial failed).",
        )
    failed = [r for r in result.records if r.state != "complete"]
    if failed:
        page.table(
            ("method", "trial", "status", "reason"),
            [(r.method, r.key, r.status, r.message or "") for r in failed],
            caption=f"Failed, diverged or pruned trials ({len(failed)})",
        )
    page.table(
        ("field", "value"), _flat(spec.recipe.to_dict()), caption="Base recipe (what every trial shares)"
    )
    page.paragraph(f"Storage: {result.location} (an Optuna storage: optuna-dashboard reads it).", note=True)


def write_report(results: Sequence[StudyResult], path: str | Path) -> Path:
    """Write the HTML report of one study, or of several (one per workload, with profiles)."""
    boards = [leaderboard(r.spec, r.records) for r in results]
    page = Page(
        "optimlab compare: " + ", ".join(r.spec.name for r in results),
        "Each method gets the same tuning budget; its best configuration reruns on fresh seeds.",
    )
    for result, board in zip(results, boards):
        _add_study(page, result, board)
    if len(results) > 1:
        costs = {
            r.spec.name: {row.method: row.seconds_to_target if row.reached else math.inf for row in board}
            for r, board in zip(results, boards)
        }
        page.section("Across workloads")
        page.figure(
            _profiles_figure(costs),
            "Fraction of workloads on which each method reaches the target within "
            "tau times the fastest method's time.",
        )
    return page.write(path)
