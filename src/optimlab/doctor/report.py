"""The doctor's pictures and report page: ranked findings, per-layer heat maps, activation histograms,
the LR range curve, and what each instrument costs.

Imported on demand (``optimlab doctor --html``, ``optimlab lr-find --plot``): it pulls in matplotlib.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from matplotlib.figure import Figure

from optimlab.doctor.diagnose import Diagnosis
from optimlab.doctor.instruments import INSTRUMENTS, RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.recipe import Recipe
from optimlab.report import Page, figures
from optimlab.report.chance import chance_levels
from optimlab.report.metric_labels import log_axis

__all__ = ["lr_range_figure", "plot_lr_range", "write_html"]


def lr_range_figure(result: LRRangeResult) -> Figure:
    """Loss against lr (log axis): raw and smoothed, with the suggestion and the lowest-loss lr marked.

    The y axis stops at 1.5x the highest smoothed loss before its minimum, so that the divergence at the
    end of the sweep (often 10-1000x the starting loss) does not flatten the part that chooses the lr.
    """
    markers = {}
    if result.suggestion is not None:
        markers[f"suggestion {result.suggestion:.2g}"] = result.suggestion
    if result.min_loss_lr is not None:
        markers[f"lowest loss {result.min_loss_lr:.2g}"] = result.min_loss_lr
    finite = [(v, i) for i, v in enumerate(result.smoothed) if math.isfinite(v)]
    ylim = None
    if finite:
        lowest, at = min(finite)
        top = 1.5 * max(v for v, i in finite if i <= at)
        shown = [v for v in result.losses if math.isfinite(v)]
        if shown and max(shown) > top:  # only cut when something is cut
            ylim = (min(0.0, lowest), top)
    return figures.lines(
        result.lrs,
        {"loss": result.losses, "smoothed": result.smoothed},
        log_x=True,
        title="LR range test" + (" (divergence above the top edge)" if ylim else ""),
        xlabel="learning rate",
        ylabel="training loss",
        markers=markers,
        ylim=ylim,
    )


def plot_lr_range(result: LRRangeResult, path: str | os.PathLike[str]) -> Path:
    """Write the LR range curve to ``path`` (.png or .svg)."""
    return figures.save(lr_range_figure(result), path)


def _layer_labels(stats: RunStatistics) -> list[str]:
    return [f"{layer.name} ({layer.kind})" for layer in stats.layers]


def _gradient_heatmap(stats: RunStatistics) -> Figure:
    grads = stats.layer_grad_norms()
    return figures.heatmap(
        grads.T.tolist(),
        row_labels=_layer_labels(stats),
        columns=stats.steps,
        title="Gradient norm by layer and step",
        xlabel="step",
        colorbar="gradient norm (log)",
    )


def _update_ratios(stats: RunStatistics) -> Figure:
    steps, ratios = stats.update_to_weight_ratios()
    series = {label: ratios[:, i].tolist() for i, label in enumerate(_layer_labels(stats))}
    return figures.lines(
        steps,
        series,
        log_y=True,
        title="Update / weight ratio per layer (detailed steps)",
        xlabel="step",
        ylabel="|update| / |weight|",
    )


def _loss_curve(stats: RunStatistics, chance: dict[str, float]) -> Figure:
    return figures.lines(
        stats.steps,
        {"training loss": stats.losses},
        log_y=log_axis("train_loss", stats.losses),
        title="Training loss",
        xlabel="step (optimizer steps)",
        ylabel="training loss (last batch)",
        levels={f"chance: ln C = {chance['loss']:.3g}": chance["loss"]} if "loss" in chance else None,
    )


def _activation_histograms(stats: RunStatistics) -> Figure | None:
    panels = {}
    for module in stats.activation_modules():
        records = stats.outputs.get(module, {})
        steps = sorted(s for s, r in records.items() if r.sample is not None)
        if steps:
            chosen = sorted({steps[0], steps[-1]})
            panels[f"{module} ({stats.activations[module]})"] = {
                f"step {s}": records[s].sample.tolist() for s in chosen
            }  # type: ignore[union-attr]
    if not panels:
        return None
    return figures.histograms(
        panels,
        title="Activations at the first and last detailed step",
        xlabel="activation value (unit's output)",
        ylabel="density (fraction per unit of value)",
    )


def write_html(
    diagnosis: Diagnosis,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    subtitle: str | None = None,
    recipe: Recipe | None = None,
) -> Path:
    """A self-contained report of ``diagnosis`` at ``path``; with the ``recipe`` it examined, the title
    names its model and data (unless ``title`` is given) and the loss curve shows the chance level (ln C
    for C classes). A ``subtitle`` comes before the steps examined and the verdict, which stay."""
    if title is None:
        title = "optimlab doctor" + (f": {recipe.model.name} on {recipe.data.name}" if recipe else "")
    stats = diagnosis.statistics
    verdict = (
        "Healthy: no error or warning."
        if diagnosis.healthy
        else f"{len(diagnosis.problems)} problem(s) found; the root cause is listed first."
    )
    page = Page(
        title,
        (f"{subtitle}. " if subtitle else "") + f"{len(stats.steps)} training steps examined. {verdict}",
    )

    page.section("Findings")
    if diagnosis.findings:
        rows = [
            (
                i + 1,
                f.severity,
                f.rule,
                f.title,
                f.recommendation,
                ", ".join(f"{k}: {v}" for k, v in f.recipe_changes.items()),
            )
            for i, f in enumerate(diagnosis.findings)
        ]
        page.table(
            ("#", "severity", "rule", "finding", "recommendation", "recipe change"),
            rows,
            row_classes=[f.severity for f in diagnosis.findings],
        )
        for i, finding in enumerate(diagnosis.findings):
            cause = (
                f" (a consequence of {', '.join(finding.consequence_of)})" if finding.consequence_of else ""
            )
            page.paragraph(f"{i + 1}. {finding.title}{cause}. {finding.explanation}")
    else:
        page.paragraph("No finding: the instruments saw nothing wrong.")

    found = diagnosis.lr_range
    if found is not None:
        page.section("Learning-rate range test", found.reason)
        if diagnosis.lr_measured_with:
            causes = ", ".join(f.title for f in diagnosis.lr_measured_with)
            page.paragraph(
                f"Measured with the setup as it is ({causes}): the best lr moves once that is fixed, so "
                "fix it first and run the doctor again for the lr."
            )
        page.figure(
            lr_range_figure(found),
            "Loss after each step of an exponential lr sweep (Smith 2017); weights restored afterwards.",
        )
        if found.check is not None:
            page.paragraph(f"The candidates the curve proposes, each trained briefly: {found.check}.")
            # accuracy's ties are decided by the held-out loss (lr_check, point 2): shown beside it
            losses = found.metric == "accuracy"
            page.table(
                (
                    "lr",
                    "from the curve",
                    f"held-out {found.metric or 'score'}",
                    *(("held-out loss",) * losses),
                    "",
                ),
                [
                    (
                        c.lr,
                        c.source,
                        "diverged" if c.score is None else c.score,
                        *(("-" if c.score is None or c.held_out_loss is None else c.held_out_loss,) * losses),
                        "suggested" if c.lr == found.suggestion else "",
                    )
                    for c in found.candidates
                ],
            )

    page.section("Training")
    page.figure(_loss_curve(stats, chance_levels(recipe) if recipe is not None else {}))
    if stats.grad_norms:
        page.figure(_gradient_heatmap(stats), "Each cell: the norm of one layer's gradient at one step.")
    if stats.update_norms:
        page.figure(
            _update_ratios(stats),
            "Around 1e-3 is typical; far above, steps overshoot; far below, the layer barely moves.",
        )
    histograms = _activation_histograms(stats)
    if histograms is not None:
        page.figure(histograms)

    page.section("Layers")
    grads = stats.layer_grad_norms()
    rows = []
    for i, layer in enumerate(stats.layers):
        column = grads[:, i][torch.isfinite(grads[:, i])] if grads.numel() else grads
        rows.append(
            (
                layer.name,
                layer.kind,
                layer.num_params,
                layer.activation or "",
                layer.weight_std if layer.weight_std is not None else "",
                column.median().item() if column.numel() else "",
            )
        )
    page.table(("layer", "kind", "parameters", "feeds", "initial weight std", "median gradient norm"), rows)

    page.section("Instruments", "What was measured, when, and at what cost.")
    page.table(("instrument", "when", "cost"), [(i.name, i.when, i.cost) for i in INSTRUMENTS])
    return page.write(path)
