"""The benchmark's report: one self-contained HTML page, and its figures as PNG or SVG files for papers.

Across workloads: the area scores, the performance profiles, time to target and the final metric of
every method on every workload. Per workload: the leaderboard, the tuned metric during training
(mean +- std over the seed runs of each method's best configuration), learning-rate sensitivity in
tuning, failed trials, and the full recipe behind every number. Last, the machine and library
versions. Built on :class:`optimlab.report.Page` (inline SVG, no script, no network).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import yaml

from optimlab.atomic import write_refusal_said
from optimlab.bench.runner import BenchResult
from optimlab.bench.scoring import NO_TARGET, MethodScore, area_ranking_note
from optimlab.bench.settings import is_bench, resume_command
from optimlab.number_text import seconds_text
from optimlab.recipe import Recipe
from optimlab.report import Page, machine_and_versions
from optimlab.report.chance import chance_levels
from optimlab.study.analysis import interval_words
from optimlab.study.protocols import SEEDS
from optimlab.study.report import (
    curves_figure,
    few_tried_note,
    fresh_seeds,
    leaderboard_table,
    mean_cis,
    profiles_figure,
    searched,
    sensitivity_figure,
    split_note,
    tuning_trials,
)
from optimlab.study.run import StudyResult
from optimlab.study.significance import board_ranking_note

__all__ = ["write_bench_report"]

FIGURE_FORMATS = ("png", "svg")
_LR = "optimizer.lr"


def _time_cell(row: MethodScore, unit: str) -> str:
    """``120 steps (3/3)``: the median time to target and how many seed runs reached it."""
    if not row.costs:
        return NO_TARGET
    time = row.time_cell
    return f"{time if isinstance(time, str) else f'{time:.4g} {unit}'} ({row.reached_cell})"


def _across_workloads(page: Page, result: BenchResult) -> None:
    scores, unit = result.scores, result.scores.cost
    methods = result.settings["methods"]
    page.section(
        "Across workloads",
        f"Time to target is the median over each method's seed runs, in {unit} "
        "(a run that misses the target counts as never). The area score is the area under the "
        "performance profile from tau 1 to 4, over 3: 1 when a method is the fastest on every workload.",
    )
    if scores.profiles:
        rows = [
            (
                rank,
                method,
                area,
                sum(math.isfinite(r) for r in scores.ratios[method].values()),
                len(scores.ratios[method]),
            )
            for rank, method, area in scores.ranks()
        ]
        page.table(
            ("rank", "method", "area score", "workloads reached", "workloads with a target"),
            rows,
            caption="AlgoPerf-style score",
        )
        page.paragraph(area_ranking_note(result.results[0].spec.seeds))
        ordered = {m: scores.profiles[m] for m in methods if m in scores.profiles}  # each method's colour
        page.figure(
            profiles_figure(scores.taus, ordered, scores.cost),
            "Fraction of workloads on which each method reaches the target "
            f"within tau times the fastest method's time ({unit}).",
            name="performance-profiles",
        )
    else:
        page.paragraph("No workload has a target: no time to target, no performance profile.")
    by_method = {w: {row.method: row for row in rows} for w, rows in scores.workloads.items()}
    page.table(
        ("workload", *methods),
        [(w, *(_time_cell(per[m], unit) for m in methods)) for w, per in by_method.items()],
        caption=f"Time to target, {unit} (seed runs that reached it)",
    )
    page.table(
        ("workload", "metric", *methods),
        [
            (w, result.results[i].spec.test_metric, *mean_cis([per[m].board for m in methods]))
            for i, (w, per) in enumerate(by_method.items())
        ],
        caption="Final test metric: mean [95% CI] over the seed runs of the best configuration ("
        f"{_intervals_said([r.spec.test_metric for r in result.results])})",
    )


def _intervals_said(metrics: list[str]) -> str:
    """How the table's intervals are made, each metric's where they differ (a loss beside an accuracy:
    the first's words alone called the loss 'clipped to [0, 1]')."""
    said = {metric: interval_words(metric) for metric in metrics}
    if len(set(said.values())) == 1:
        return next(iter(said.values()))
    return "; ".join(f"{metric}: {words}" for metric, words in said.items())


def _recipes(page: Page, result: StudyResult) -> None:
    for method in result.spec.methods:
        runs = sorted(
            (r for r in result.records if r.method == method.name and r.phase == SEEDS and r.recipe),
            key=lambda r: r.place,
        )
        if runs:
            seeds = ", ".join(str(r.seed) for r in runs)
            page.code(
                yaml.safe_dump(runs[0].recipe, sort_keys=False),
                summary=f"Recipe of {method.name}'s best configuration (recipe id "
                f"{Recipe.from_dict(runs[0].recipe).id}, seed {runs[0].seed}; its seed runs: {seeds})",
            )


def _workload(page: Page, result: StudyResult, rows: Sequence[MethodScore], unit: str) -> None:
    spec = result.spec
    target = (
        NO_TARGET
        if spec.target is None
        else f"target {spec.metric} {'>=' if spec.goal == 'max' else '<='} {spec.target:g}"
    )
    page.section(
        spec.name,
        f"Tuned on {spec.metric} ({'higher' if spec.goal == 'max' else 'lower'} is better), "
        f"{target}; reported on {spec.test_metric}. {tuning_trials(spec)} per method "
        f"({spec.protocol}, on seed {spec.recipe.training.seed}) over {searched(spec)}; then the best "
        f"configuration on {fresh_seeds(spec)}, the same for every method.",
    )
    if spec.test_metric != spec.metric:  # which rows the seed reruns are scored on, as a study's page says
        page.paragraph(split_note(spec))
    page.table(
        *leaderboard_table(
            spec,
            [row.board for row in rows],
            ("time to target (reached)", [_time_cell(r, unit) for r in rows]),
        ),
        caption="Leaderboard",
    )
    if note := board_ranking_note(spec, result.records, [row.board for row in rows]):
        page.paragraph(note)
    edges = [f"{row.method}: {', '.join(row.board.at_edge)}" for row in rows if row.board.at_edge]
    if edges:
        page.paragraph(
            f"Best value at the edge of the tuned range ({'; '.join(edges)}): the range, not the method, "
            "may have decided.",
            note=True,
        )
    if note := few_tried_note([row.board for row in rows]):
        page.paragraph(note, note=True)
    page.figure(
        curves_figure(result, chance_levels(spec.recipe)),
        f"{spec.metric} during training (band, or bars at few evaluations: +- one std over the seeds).",
        name=f"{spec.name}-curves",
    )
    if any(_LR in r.params for r in result.records):
        page.figure(
            sensitivity_figure(result),
            "Learning-rate sensitivity in tuning (a gap: the trial failed).",
            name=f"{spec.name}-lr-sensitivity",
        )
    failed = [r for r in result.records if r.state != "complete"]
    if failed:
        page.table(
            ("method", "trial", "status", "reason"),
            [(r.method, r.key, r.status, r.message or "") for r in failed],
            caption=f"Failed, diverged or pruned trials ({len(failed)})",
        )
    _recipes(page, result)


def write_bench_report(
    result: BenchResult, path: str | Path, *, figure_format: str | None = None, command: str | None = None
) -> tuple[Path, list[Path]]:
    """Write the report to ``path``; with ``figure_format`` (png or svg), every figure also as a file.

    Figures go to a ``figures`` folder beside the report. Returns the report's path and the figure files.
    A file the disk has no room for is said in one line with what writes it once there is: in a bench's
    folder, its ``optimlab bench --resume`` (:func:`~optimlab.atomic.write_refusal_said`; it was said by
    the CLI alone, a bare OSError in Python).
    """
    folder = Path(path).parent
    then = (
        f"`{resume_command(folder)}` writes the report"
        if is_bench(folder)
        else "write_bench_report(result, path) again writes it"
    )
    with write_refusal_said(path, "the finished trials are kept", then):
        return _written(result, path, figure_format, command)


def _written(
    result: BenchResult, path: str | Path, figure_format: str | None, command: str | None
) -> tuple[Path, list[Path]]:
    settings = result.settings
    budget = result.results[0].spec.budget
    page = Page(
        "optimlab bench: " + ", ".join(settings["workloads"]),
        f"Methods {', '.join(settings['methods'])}: each tuned with the same budget ({budget} "
        f"{settings['protocol']} trial{'' if budget == 1 else 's'} over the learning rate), then rerun on "
        f"{fresh_seeds(result.results[0].spec)}.",
    )
    _across_workloads(page, result)
    for study, rows in zip(result.results, result.scores.workloads.values()):
        _workload(page, study, rows, result.scores.cost)
    page.section("How this was run")
    rows = [
        ("command", command or ""),
        ("wall time", seconds_text(result.seconds)),
        *(
            (key, ", ".join(value) if isinstance(value, list) else str(value))
            for key, value in settings.items()
        ),
    ]
    page.table(("setting", "value"), rows)
    page.table(("machine and libraries", "value"), machine_and_versions())
    report = page.write(path)
    files = page.save_figures(Path(path).parent / "figures", figure_format) if figure_format else []
    return report, files
