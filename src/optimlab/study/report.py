"""The study's HTML report: leaderboard, curves with seed bands, LR sensitivity, performance profiles.

One self-contained file (figures are inline SVG, no script, no network), readable offline and safe to
attach to an issue. Figures are drawn with matplotlib's object API (no pyplot, no global backend).
With several studies (one per workload), the report adds AlgoPerf-style performance profiles over
time-to-target.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from optimlab.study.analysis import LeaderboardRow, leaderboard, performance_profiles, seed_band, sensitivity
from optimlab.study.export import leaderboard_rows
from optimlab.study.run import StudyResult

__all__ = ["PROFILE_TAUS", "write_report"]

PROFILE_TAUS = [1 + 0.05 * i for i in range(61)]  # ratios 1..4, AlgoPerf's range of interest

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:nth-child(2){text-align:left}.note{color:#666;font-size:90%}
figure{margin:1.5em 0}figcaption{color:#444}.warn{color:#a60}"""


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog: the SVG sits inside HTML


def _curves_figure(result: StudyResult) -> Figure:
    spec = result.spec
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    for method in spec.methods:
        steps, means, stds = seed_band(result.records, method.name, spec.metric)
        if not steps:
            continue
        line, = axes.plot(steps, means, label=method.name)
        axes.fill_between(steps, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                          color=line.get_color(), alpha=0.2)
    if spec.target is not None:
        axes.axhline(spec.target, color="gray", linestyle=":", label=f"target {spec.target:g}")
    axes.set(xlabel="step", ylabel=spec.metric, title="Best configuration of each method: mean +- std over seeds")
    axes.legend()
    return figure


def _sensitivity_figure(result: StudyResult, field: str) -> Figure:
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    for method in result.spec.methods:
        points = sensitivity(result.records, method.name, field)
        if points:
            xs = [x for x, _ in points]
            axes.plot(xs, [y for _, y in points], marker="o", label=method.name)  # NaN (failed) breaks the line
    axes.set_xscale("log")
    axes.set(xlabel=field, ylabel=result.spec.metric, title=f"Tuning: {result.spec.metric} against {field}")
    axes.legend()
    return figure


def _profiles_figure(results: Sequence[StudyResult], boards: Sequence[Sequence[LeaderboardRow]]) -> Figure:
    costs = {r.spec.name: {row.method: row.seconds_to_target if row.reached else math.inf for row in board}
             for r, board in zip(results, boards)}
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    for method, rho in performance_profiles(costs, PROFILE_TAUS).items():
        axes.step(PROFILE_TAUS, rho, where="post", label=method)
    axes.set(xlabel="tau (time to target / fastest method's)", ylabel="fraction of workloads", ylim=(-0.02, 1.02),
             title="Performance profiles (time to target)")
    axes.legend()
    return figure


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def _leaderboard_html(board: Sequence[LeaderboardRow]) -> str:
    rows = leaderboard_rows(board)
    columns = ["rank", "method", "test_mean", "test_std", "ci95_low", "ci95_high", "seeds", "seeds_failed",
               "tuned_value", "tuning_failed", "best_config", "steps_to_target", "seconds_to_target"]
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row[c])}</td>" for c in columns) + "</tr>" for row in rows)
    edges = [f"{row.method}: {', '.join(row.at_edge)}" for row in board if row.at_edge]
    warning = (f'<p class="warn">Best value at the edge of the tuned range ({html.escape("; ".join(edges))}): '
               "widen the range to be sure the method, not the range, decided.</p>") if edges else ""
    return f"<table><tr>{head}</tr>{body}</table>{warning}"


def _section(result: StudyResult, board: Sequence[LeaderboardRow]) -> str:
    spec = result.spec
    failed = [r for r in result.records if r.state != "complete"]
    failures = "".join(f"<li>{html.escape(r.method)} {html.escape(r.key)}: {html.escape(r.status)} - "
                       f"{html.escape(r.message or '')}</li>" for r in failed)
    fields = sorted({f for r in result.records for f, v in r.params.items() if isinstance(v, float)})
    figures = [("curves", _curves_figure(result), f"{spec.metric} during training, best configuration per method.")]
    if "optimizer.lr" in fields:
        figures.append(("sensitivity", _sensitivity_figure(result, "optimizer.lr"),
                        "Learning-rate sensitivity in tuning (a gap: the trial failed)."))
    parts = [
        f"<h2>{html.escape(spec.name)}</h2>",
        (f'<p class="note">Protocol {spec.protocol}: {spec.budget} tuning trials per method, then the best '
         f"configuration on {spec.seeds} fresh seeds; tuned on {spec.metric} ({spec.goal}), reported on "
         f"{spec.test_metric} with Student-t 95% confidence intervals. Storage: {html.escape(result.location)}.</p>"),
        _leaderboard_html(board),
        *(f'<figure id="{name}">{_svg(figure)}<figcaption>{caption}</figcaption></figure>'
          for name, figure, caption in figures),
    ]
    if failures:
        parts.append(f"<h3>Failed, diverged or pruned trials ({len(failed)})</h3><ul>{failures}</ul>")
    parts.append(f"<details><summary>Base recipe</summary><pre>{html.escape(spec.recipe.to_yaml())}</pre></details>")
    return "\n".join(parts)


def write_report(results: Sequence[StudyResult], path: str | Path) -> Path:
    """Write the HTML report of one study, or of several (one per workload, with profiles)."""
    path = Path(path)
    boards = [leaderboard(r.spec, r.records) for r in results]
    sections = [_section(r, b) for r, b in zip(results, boards)]
    if len(results) > 1:
        sections.append(f'<h2>Across workloads</h2><figure id="profiles">{_svg(_profiles_figure(results, boards))}'
                        "<figcaption>Fraction of workloads on which each method reaches the target within "
                        "tau times the fastest method's time.</figcaption></figure>")
    title = "optimlab compare: " + ", ".join(r.spec.name for r in results)
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style><body><h1>{html.escape(title)}</h1>{''.join(sections)}</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
