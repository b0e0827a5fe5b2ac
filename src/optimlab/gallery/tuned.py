"""Tuned comparisons for the gallery, run by the study engine (:mod:`optimlab.study`).

Every method gets the same tuning budget; its best configuration then reruns on fresh seeds 1..N, the same
seeds for every method, so the methods' test metrics pair up by seed (:func:`seed_values`). The study's
storage lives in this process's memory: the page keeps every trial's recipe and result, and nothing resumes
a gallery study.
"""

from __future__ import annotations

import math

from optimlab.gallery.experiment import RunRecord
from optimlab.study import StudyResult, StudySpec, run_study
from optimlab.study.analysis import leaderboard, sensitivity
from optimlab.study.protocols import SEEDS
from optimlab.study.storage import TrialRecord

__all__ = ["at_edge", "reruns", "run_tuned", "seed_values", "sensitivity_curves", "trial_records"]


def run_tuned(spec: StudySpec) -> StudyResult:
    """Run ``spec`` in this process, in a storage in memory; the result holds every trial's record.

    In memory, not in a journal file in a temporary folder: the journal's fsync on each of its writes and
    its reads of the file kept nothing and took a fifth of the tiny tuned experiments' time (1.29x theirs
    now, 95% interval [1.15, 1.65]; benchmarks/gallery_speed.py, docs/benchmarks.md, "The gallery's studies
    in memory, its data loaded once")."""
    return run_study(spec, None)


def reruns(result: StudyResult, method: str) -> list[TrialRecord | None]:
    """``method``'s seed reruns, one per planned seed in seed order: None where it has none (every tuning
    trial failed, so no configuration reran), which keeps the methods paired by seed."""
    found = {r.key: r for r in result.records if r.method == method and r.phase == SEEDS}
    return [found.get(planned.key) for planned in result.spec.seed_plan({})]


def seed_values(result: StudyResult, method: str, metric: str | None = None) -> list[float]:
    """``metric`` (default: the spec's test metric) of ``method``'s seed reruns, in seed order; NaN for a
    rerun that failed, diverged or never ran."""
    metric = metric or result.spec.test_metric
    return [
        r.metrics[metric]
        if r is not None and r.state == "complete" and r.metrics.get(metric) is not None
        else math.nan
        for r in reruns(result, method)
    ]


def at_edge(result: StudyResult) -> list[str]:
    """The methods whose best configuration is the smallest or largest value tuning tried of a field, as
    ``sgd (optimizer.lr 1)``: there the range searched, not the method, may have decided a comparison."""
    return [
        f"{row.method} ({', '.join(f'{field} {row.params[field]:g}' for field in row.at_edge)})"
        for row in leaderboard(result.spec, result.records)
        if row.at_edge
    ]


def sensitivity_curves(result: StudyResult, field: str = "optimizer.lr") -> dict[str, dict[str, list[float]]]:
    """Per method, the tuned metric of each tuning trial against ``field``: ``{"x": [...], "y": [...]}``."""
    curves = {}
    for method in result.spec.methods:
        points = sensitivity(result.records, method.name, field)
        curves[method.name] = {"x": [x for x, _ in points], "y": [y for _, y in points]}
    return curves


def trial_records(result: StudyResult, prefix: str = "") -> list[RunRecord]:
    """Every trial of the study as the page lists it: ``prefix`` + method as the arm, its recipe, its "
    "outcome."""
    spec = result.spec
    records = []
    for r in sorted(result.records, key=lambda r: (r.method, r.phase != "tune", r.place)):
        metric = spec.metric if r.phase == "tune" else spec.test_metric
        value = r.metrics.get(metric)
        outcome = (
            f"{metric} {value:.4g}"
            if r.state == "complete" and value is not None
            else (r.message or r.status)
        )
        records.append(
            RunRecord(
                arm=f"{prefix}{r.method}", spec=r.recipe or {}, status=r.status, result=f"{r.key}: {outcome}"
            )
        )
    return records
