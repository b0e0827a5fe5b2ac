"""Figures the gallery's pages share: per-layer profiles at initialization, curves over training, bars of
means with their confidence intervals. Drawn with :mod:`optimlab.report.figures`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from optimlab.gallery.verdict import summarize
from optimlab.report import figures
from optimlab.report.metric_labels import UNBOUNDED, axis_label

__all__ = ["curve_figure", "interval_figure", "layer_profile_figures", "sensitivity_figure"]

_LAYER_AXIS = "layer (1 = first, last = output)"


def layer_profile_figures(series: Mapping[str, Any], title: str) -> list[tuple[Figure, str]]:
    """Back-propagated gradient, weight gradient and forward signal by layer: ``series`` holds ``layers``
    and, for each of ``backprop``, ``weight_grad`` and ``output_std``, a profile per arm."""
    layers = series["layers"]
    return [
        (
            figures.lines(
                layers,
                series["backprop"],
                title=f"{title}: back-propagated gradient at initialization",
                xlabel=_LAYER_AXIS,
                ylabel="||dL/dz||",
                log_y=True,
            ),
            "Norm of the gradient reaching each layer's output, geometric mean over seeds.",
        ),
        (
            figures.lines(
                layers,
                series["weight_grad"],
                title=f"{title}: weight gradient at initialization",
                xlabel=_LAYER_AXIS,
                ylabel="||dL/dW||",
                log_y=True,
            ),
            "Norm of each layer's weight gradient (what the optimizer steps on), geometric mean over seeds.",
        ),
        (
            figures.lines(
                layers,
                series["output_std"],
                title=f"{title}: forward signal at initialization",
                xlabel=_LAYER_AXIS,
                ylabel="std of the layer's output",
                log_y=True,
            ),
            "Standard deviation of each layer's output z = W h + b, geometric mean over seeds.",
        ),
    ]


def curve_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    title: str,
    ylabel: str = axis_label("val_accuracy"),
    *,
    log_y: bool = False,
) -> tuple[Figure, str]:
    """One line per arm from ``{arm: {"step": [...], "mean": [...], "std": [...]}}`` (see
    :func:`.runs.mean_curve`), shaded +- one std over seeds where ``std`` is given; an arm without a curve
    (every run diverged) is named in the caption, not left out of the figure without a word."""
    drawn = {arm: c for arm, c in curves.items() if c["step"]}
    none = [arm for arm in curves if arm not in drawn]
    figure = figures.lines(
        {arm: c["step"] for arm, c in drawn.items()},
        {arm: c["mean"] for arm, c in drawn.items()},
        bands={arm: c["std"] for arm, c in drawn.items() if "std" in c},
        title=title,
        xlabel="step (optimizer steps)",
        ylabel=ylabel,
        log_y=log_y,
    )
    return (
        figure,
        f"{ylabel.capitalize()} during training, mean over seeds +- one standard deviation "
        "(runs that diverged are left out)."
        + (f" No curve for {', '.join(none)}: every run of it diverged." if none else ""),
    )


def interval_figure(
    groups: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    title: str,
    ylabel: str,
    bounds: tuple[float, float] = UNBOUNDED,
) -> Figure:
    """Means with 95% intervals of ``{group: {arm: values over seeds}}``, arms side by side in each group;
    ``bounds`` are the values they can take (:data:`~optimlab.gallery.verdict.ACCURACY`). An arm's failed
    runs (NaN) are left out of its interval and said beside it, ``2 of 5 runs failed``: an interval over
    the survivors does not read as one over every seed, nor an arm whose runs all failed as one not run;
    a single run, whose bar of no width would read as seeds that agree, is said to have no interval."""
    summaries = {
        group: {arm: summarize(v, bounds) for arm, v in per.items()} for group, per in groups.items()
    }
    notes = {
        group: {
            arm: figures.unsaid(len(v), s.n) for (arm, v), s in zip(per.items(), summaries[group].values())
        }
        for group, per in groups.items()
    }
    return figures.intervals(
        {group: {arm: (s.mean, s.low, s.high) for arm, s in per.items()} for group, per in summaries.items()},
        title=title,
        ylabel=ylabel,
        notes=notes,
    )


def sensitivity_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
) -> Figure:
    """One line per method over its own x values (log scale): ``{method: {"x": [...], "y": [...]}}``, as
    :func:`.tuned.sensitivity_curves` gives them; a NaN (failed trial) leaves a gap."""
    drawn = {method: c for method, c in curves.items() if c["x"]}
    return figures.lines(
        {m: c["x"] for m, c in drawn.items()},
        {m: c["y"] for m, c in drawn.items()},
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        log_x=True,
        log_y=log_y,
        points=True,
    )


def sensitivity_figures(
    by_group: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
    *,
    xlabel: str,
    ylabel: str,
    caption: str,
    log_y: bool = False,
) -> list[tuple[Figure, str]]:
    """One :func:`sensitivity_figure` per group, titled "group: ylabel against xlabel"; ``caption`` may
    name the group as ``{group}``."""
    return [
        (
            sensitivity_figure(
                curves, title=f"{group}: {ylabel} against {xlabel}", xlabel=xlabel, ylabel=ylabel, log_y=log_y
            ),
            caption.format(group=group),
        )
        for group, curves in by_group.items()
    ]
