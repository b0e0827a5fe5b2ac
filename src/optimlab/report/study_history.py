"""Studies over time: the leaderboards of one workload from several studies side by side (last week's
and this week's), and which differences are significant.

Each method's test metric over its seed reruns in a later study is compared with the first study's by
Welch's t-test (two-sided, unequal variances: Welch, The generalization of Student's problem when several
different population variances are involved, Biometrika 1947, doi:10.2307/2332510), as scipy computes it.
The p-values of one workload's table are adjusted for the number of comparisons by Holm's step-down
method (Holm, A simple sequentially rejective multiple test procedure, Scand. J. Statist. 1979), and a
difference is called significant at adjusted p < 0.05. Fewer than two seeds on either side: no test.

>>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

from optimlab.report import figures
from optimlab.report.environment import machine_and_versions
from optimlab.report.html import Page
from optimlab.report.recipes import differing_fields
from optimlab.study.analysis import confidence_interval, metric_bounds
from optimlab.study.protocols import SEEDS
from optimlab.study.run import StudyResult, counted, load_specs
from optimlab.study.storage import load_records, open_storage, without_passwords

__all__ = ["ALPHA", "Comparison", "compare_seeds", "holm", "load_results", "write_history_report"]

ALPHA = 0.05


def load_results(location: str | Path) -> list[StudyResult]:
    """Every optimlab study kept at ``location`` (a folder or an RDB URL), with its counted trials."""
    storage = open_storage(location)
    results = []
    for spec in load_specs(location):
        names = [spec.study_name(m) for m in spec.methods]
        results.append(StudyResult(spec, str(location), counted(load_records(storage, names))))
    return results


def seed_values(result: StudyResult, method: str) -> list[float]:
    """The test metric of each completed seed rerun of ``method``'s best configuration."""
    metric = result.spec.test_metric
    return [
        r.metrics[metric]
        for r in result.records
        if r.method == method
        and r.phase == SEEDS
        and r.state == "complete"
        and r.metrics.get(metric) is not None
    ]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A later study's values against the first study's, for one method."""

    difference: float  # mean(later) - mean(first)
    p_value: float  # Welch's two-sided p; NaN when a side has fewer than 2 values
    adjusted: float = math.nan  # Holm-adjusted over the table's comparisons

    @property
    def significant(self) -> bool:
        return self.adjusted < ALPHA


def compare_seeds(first: Sequence[float], later: Sequence[float]) -> Comparison:
    """Welch's t-test of ``later`` against ``first`` (scipy's ``ttest_ind(equal_var=False)``)."""
    from scipy import stats  # scikit-learn's dependency: always installed with optimlab

    difference = (
        math.fsum(later) / len(later) - math.fsum(first) / len(first) if first and later else math.nan
    )
    if len(first) < 2 or len(later) < 2:
        return Comparison(difference, math.nan)
    p = float(stats.ttest_ind(later, first, equal_var=False).pvalue)
    return Comparison(difference, p)  # NaN when both sides are constant: no variance, no test


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted)."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def _workload(result: StudyResult) -> str:
    recipe = result.spec.recipe
    return f"{recipe.data.name} / {recipe.model.name} ({result.spec.test_metric})"


def _cell(values: Sequence[float], bounds: tuple[float, float]) -> str:
    if not values:
        return "no result"
    summary = confidence_interval(values, bounds)
    interval = "" if math.isnan(summary.low) else f" [{summary.low:.4g}, {summary.high:.4g}]"
    return f"{summary.mean:.4g}{interval} (n={summary.n})"


def _change(comparison: Comparison) -> str:
    if math.isnan(comparison.difference):
        return "no result"
    if math.isnan(comparison.p_value):
        return f"{comparison.difference:+.4g} (too few seeds to test)"
    verdict = "significant" if comparison.significant else "not significant"
    return f"{comparison.difference:+.4g}, p={comparison.adjusted:.3g} ({verdict})"


def _add_workload(page: Page, label: str, studies: Sequence[tuple[str, StudyResult]]) -> None:
    (first_name, first), later = studies[0], studies[1:]
    methods = list(dict.fromkeys(m.name for _, r in studies for m in r.spec.methods))
    values = {(name, m): seed_values(r, m) for name, r in studies for m in methods}
    comparisons = {
        (name, m): compare_seeds(values[(first_name, m)], values[(name, m)])
        for name, _ in later
        for m in methods
    }
    adjusted = holm([c.p_value for c in comparisons.values()])
    comparisons = {
        key: dataclasses.replace(c, adjusted=a) for (key, c), a in zip(comparisons.items(), adjusted)
    }
    metric = first.spec.test_metric
    bounds = metric_bounds(metric)  # an accuracy's interval stays within [0, 1], as on the leaderboard
    page.section(
        label,
        f"{metric}: mean [95% CI] over the seed reruns of each method's best configuration, in each study; "
        f"then each later study against {first_name}.",
    )
    rows = [
        (
            m,
            *(_cell(values[(name, m)], bounds) for name, _ in studies),
            *(_change(comparisons[(name, m)]) for name, _ in later),
        )
        for m in methods
    ]
    page.table(
        (
            "method",
            *(f"{name}: {metric}" for name, _ in studies),
            *(f"{name} - {first_name}" for name, _ in later),
        ),
        rows,
        caption="Leaderboards side by side",
    )
    significant = [f"{m} in {name}" for (name, m), c in comparisons.items() if c.significant]
    page.paragraph(
        ("Significant changes: " + ", ".join(significant) + "." if significant else "No significant change.")
        + f" Welch's t-test, two-sided, Holm-adjusted over the {sum(math.isfinite(c.p_value) for c in comparisons.values())} "
        f"tests of this table, at {ALPHA:g}.",
    )
    groups = {
        m: {
            name: (s.mean, s.low, s.high)
            for name, _ in studies
            if (s := confidence_interval(values[(name, m)], bounds)).n
        }
        for m in methods
    }
    page.figure(
        figures.intervals(
            groups,
            title=f"{label}: each study's result per method",
            xlabel="method",
            ylabel=f"{metric} (mean, 95% CI)",
        ),
        "Markers: the mean over seeds; bars: its 95% Student-t confidence interval (none with one seed).",
        name=f"{label}-intervals",
    )
    differing = differing_fields([r.spec.recipe.to_dict() for _, r in studies])
    settings = {
        "budget": [r.spec.budget for _, r in studies],
        "seeds": [r.spec.seeds for _, r in studies],
        "protocol": [r.spec.protocol for _, r in studies],
    }
    differing.update({k: v for k, v in settings.items() if any(x != v[0] for x in v)})
    if differing:
        page.table(
            ("field", *(name for name, _ in studies)),
            [(k, *v) for k, v in differing.items()],
            caption="What differs between the studies' setups (a change may explain a difference)",
        )
    else:
        page.paragraph("The studies share the same base recipe, budget, seeds and protocol.", note=True)


def write_history_report(
    locations: Sequence[str | Path], path: str | Path, *, command: str | None = None
) -> Path:
    """Write the page comparing the studies kept at ``locations`` (oldest first), workload by workload."""
    studies: dict[str, list[tuple[str, StudyResult]]] = {}
    for location in locations:
        for result in load_results(location):
            label = f"{Path(str(location)).name}/{result.spec.name}"
            studies.setdefault(_workload(result), []).append((label, result))
    page = Page(
        "optimlab report: studies over time",
        f"{len(locations)} storage(s); the first study of each workload is the baseline.",
    )
    for label, group in studies.items():
        if len(group) == 1:
            page.section(label, f"Only {group[0][0]} ran this workload: nothing to compare it with.")
        else:
            _add_workload(page, label, group)
    page.section("How this was run")
    page.table(
        ("setting", "value"),
        [
            ("command", without_passwords(command or "")),
            *(("storage", without_passwords(str(location))) for location in locations),
        ],
    )
    page.table(("machine and libraries (of this report)", "value"), machine_and_versions())
    return page.write(path)
