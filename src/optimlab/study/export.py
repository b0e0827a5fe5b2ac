"""A study's trials and leaderboard as flat tables: CSV always, Parquet when pyarrow is installed.

One row per trial (``trials.csv``: plan, outcome, searched fields as ``param.<field>``, final metrics as
``metric.<name>``) and one per method (``leaderboard.csv``: ``metric`` names the test metric of its
``test_mean``; ``ci95_low`` and ``ci95_high`` are the Student-t 95% interval of that mean over the seeds
clipped to the metric's range, an accuracy's ``ci95_high`` of 1.0 no t interval's end:
:func:`~optimlab.study.analysis.interval_words`), for pandas, spreadsheets and notebooks.
Curves stay in the Optuna storage (user attribute ``curve``), where they are one query away. Each file is
written whole or not at all (:mod:`optimlab.atomic`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from optimlab.atomic import atomic_path
from optimlab.study.analysis import LeaderboardRow, leaderboard, ranks
from optimlab.study.protocols import TUNE
from optimlab.study.run import StudyResult
from optimlab.study.significance import Comparison, board_seeds, versus_first
from optimlab.study.storage import TrialRecord

__all__ = ["leaderboard_rows", "trial_rows", "write_tables"]


def trial_rows(records: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    """One row per trial, each study's in the order of its plan: tuning then seed reruns, by key. In the
    storage's order, a killed and resumed study listed a seed rerun that ran again after those that had
    finished, and its table read otherwise than the uninterrupted run's of the same numbers."""
    first = {}  # each study where it first appears: the studies keep their order
    for i, r in enumerate(records):
        first.setdefault(r.study, i)
    planned = sorted(records, key=lambda r: (first[r.study], r.phase != TUNE, r.place))
    rows = []
    for r in planned:
        row: dict[str, Any] = {
            "study": r.study,
            "method": r.method,
            "phase": r.phase,
            "key": r.key,
            "trial": r.number,
            "seed": r.seed,
            "state": r.state,
            "status": r.status,
            "value": r.value,
            "steps": r.steps,
            "seconds": r.seconds,
            "message": r.message or "",
        }
        row.update({f"param.{k}": v for k, v in r.params.items()})
        row.update({f"metric.{k}": math.nan if v is None else v for k, v in r.metrics.items()})
        rows.append(row)
    return rows


def leaderboard_rows(
    rows: Sequence[LeaderboardRow], study: str = "", versus: Mapping[str, Comparison] | None = None
) -> list[dict[str, Any]]:
    """One row per method, best first, as the report's leaderboard: a method without a seed result has no
    rank, and one seed result no standard deviation (it wrote rank 2 and std 0 where the page had none);
    methods that tie share a rank (:func:`~optimlab.study.analysis.ranks`). ``versus``: each method's test
    against the first (:func:`~optimlab.study.significance.versus_first`), as ``p_vs_first`` (Holm-adjusted
    Welch p; NaN for the first and those untested) and ``significant_vs_first`` (empty where untested): a
    rank whose difference is not significant is within the noise of the seeds, as the report says."""
    versus = versus or {}

    def tested(method: str) -> Comparison | None:
        comparison = versus.get(method)
        return comparison if comparison is not None and math.isfinite(comparison.p_value) else None

    return [
        {
            "study": study,
            "rank": rank,
            "method": row.method,
            "test_mean": row.test.mean,
            "test_std": row.test.std,  # NaN of one value, as the interval
            "ci95_low": row.test.low,
            "ci95_high": row.test.high,
            "seeds": row.test.n,
            "seeds_failed": row.seeds_failed,
            "p_vs_first": c.adjusted if (c := tested(row.method)) else math.nan,
            "significant_vs_first": c.significant if c else None,
            "tuned_value": row.tuned,
            "tuning_failed": row.tuning_failed,
            "best_config": " ".join(f"{k}={v}" for k, v in row.params.items()),
            "at_edge": " ".join(row.at_edge),
            "steps_to_target": row.steps_to_target,
            "seconds_to_target": row.seconds_to_target,
            "reached_target": row.reached,
        }
        for row, rank in zip(rows, ranks(rows))
    ]


def _write(rows: Sequence[dict[str, Any]], stem: Path) -> list[Path]:
    columns = list(dict.fromkeys(k for row in rows for k in row))  # union, first-seen order
    paths = [stem.with_suffix(".csv")]
    with atomic_path(paths[0]) as partial, open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # Parquet is optional: pip install 'optimlab[parquet]'
        return paths
    table = pa.table({c: _one_type([row.get(c) for row in rows]) for c in columns})
    paths.append(stem.with_suffix(".parquet"))
    with atomic_path(paths[1]) as partial:
        pq.write_table(table, partial)
    return paths


def _one_type(values: list[Any]) -> list[Any]:
    """A Parquet column has one type: a column mixing text with numbers (choices) becomes text."""
    kinds = {type(v) for v in values if v is not None}
    if (str in kinds and len(kinds) > 1) or not kinds <= {int, float, str, bool}:
        return [None if v is None else str(v) for v in values]
    return values


def write_tables(results: Sequence[StudyResult], out: Path) -> list[Path]:
    """Write the ``trials`` and ``leaderboard`` tables of every study into ``out``; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    trials = [row for result in results for row in trial_rows(result.records)]
    boards = [
        {"study": result.spec.name, "metric": result.spec.test_metric} | row  # whose test_mean it is
        for result in results
        for row in _leaderboard_of(result)
    ]
    return _write(trials, out / "trials") + _write(boards, out / "leaderboard")


def _leaderboard_of(result: StudyResult) -> list[dict[str, Any]]:
    """``result``'s leaderboard rows, each with its test against the first."""
    board = leaderboard(result.spec, result.records)
    versus = versus_first(*board_seeds(result.spec, result.records, board))
    return leaderboard_rows(board, result.spec.name, versus)
