"""Figures for reports: line plots, heat maps and histograms drawn with matplotlib's object API.

No pyplot and no global backend: each figure owns an Agg canvas, so drawing is thread-safe and needs
no display. :func:`to_svg` gives inline SVG for an HTML page, :func:`save` a PNG or SVG file.
Figures are small multiples of one kind each; callers choose what to draw, this module how.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from optimlab.errors import InvalidValueError

__all__ = ["heatmap", "histograms", "lines", "new_figure", "save", "to_svg"]

_FORMATS = (".png", ".svg")


def new_figure(width: float = 7.0, height: float = 4.0) -> Figure:
    """An empty figure with its own Agg canvas and a constrained layout."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def to_svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element, without the XML prolog, to sit inside an HTML page."""
    buffer = io.StringIO()
    # Text stays text (not outlines): searchable, selectable, and the file is a third smaller.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def save(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` to ``path``; the format follows its suffix (.png or .svg)."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise InvalidValueError("figure path suffix", path.suffix or path.name, " or ".join(_FORMATS))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def lines(
    x: Sequence[float] | Mapping[str, Sequence[float]],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    log_x: bool = False,
    log_y: bool = False,
    markers: Mapping[str, float] | None = None,
    levels: Mapping[str, float] | None = None,
    bands: Mapping[str, Sequence[float]] | None = None,
    steps: bool = False,
    points: bool = False,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """One line per series over ``x`` (shared, or one sequence per series).

    ``markers`` draws labelled vertical lines (e.g. a suggested lr), ``levels`` horizontal ones (a
    target); ``bands`` shades ``y +- band`` around a series (mean +- std over seeds); ``steps`` draws
    step functions (performance profiles), ``points`` marks each value. Non-finite values leave gaps;
    a log axis skips values that are not positive.
    """
    figure = new_figure()
    axes = figure.subplots()
    for label, ys in series.items():
        xs = (x[label] if isinstance(x, Mapping) else x)[: len(ys)]
        shown = [_plottable(v, log_y) for v in ys]
        (line,) = axes.plot(
            xs,
            shown,
            label=label,
            drawstyle="steps-post" if steps else "default",
            marker="o" if points else None,
            markersize=4,
        )
        if bands is not None and label in bands:
            low = [_plottable(v - b, log_y) for v, b in zip(ys, bands[label])]
            high = [_plottable(v + b, log_y) for v, b in zip(ys, bands[label])]
            axes.fill_between(xs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    for label, at in (markers or {}).items():
        axes.axvline(at, color="gray", linestyle="--", linewidth=1)
        axes.annotate(
            label,
            (at, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
            color="dimgray",
        )
    for label, at in (levels or {}).items():
        axes.axhline(at, color="gray", linestyle=":", linewidth=1)
        axes.annotate(
            label,
            (0.0, at),
            xycoords=("axes fraction", "data"),
            va="bottom",
            ha="left",
            fontsize=8,
            color="dimgray",
        )
    if ylim is not None:
        axes.set_ylim(*ylim)
    if log_x:
        axes.set_xscale("log")
    if log_y:
        axes.set_yscale("log")
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.grid(alpha=0.3)
    if len(series) > 1:
        axes.legend(fontsize=8)
    return figure


def _plottable(value: float, log: bool) -> float:
    return value if math.isfinite(value) and (value > 0 or not log) else math.nan


def heatmap(
    values: Sequence[Sequence[float]],
    *,
    row_labels: Sequence[str],
    columns: Sequence[float],
    title: str = "",
    xlabel: str = "",
    colorbar: str = "",
    log_scale: bool = True,
) -> Figure:
    """A heat map of ``values`` (rows x columns): one row per label, columns at the given x positions.

    With ``log_scale`` the colours follow log10 of the values (norms spanning decades stay readable);
    zeros and non-finite cells are left blank.
    """
    rows = [[_plottable(v, log_scale) for v in row] for row in values]
    finite = [v for row in rows for v in row if math.isfinite(v)]
    figure = new_figure(7.0, max(2.5, 0.3 * len(row_labels) + 1.5))
    axes = figure.subplots()
    norm = (
        LogNorm(vmin=min(finite), vmax=max(finite))
        if log_scale and finite and min(finite) < max(finite)
        else None
    )
    image = axes.imshow(
        rows,
        aspect="auto",
        interpolation="nearest",
        norm=norm,
        cmap="viridis",
        extent=(columns[0] - 0.5, columns[-1] + 0.5, len(rows) - 0.5, -0.5) if columns else None,
    )
    axes.set_yticks(range(len(row_labels)), labels=row_labels, fontsize=8)
    axes.set(title=title, xlabel=xlabel)
    figure.colorbar(image, ax=axes, label=colorbar)
    return figure


def histograms(
    samples: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    bins: int = 40,
    title: str = "",
    columns: int = 3,
) -> Figure:
    """Small multiples: one panel per outer key, one overlaid histogram per inner key (e.g. per step)."""
    panels = list(samples.items())
    count = max(1, len(panels))
    ncols = min(columns, count)
    nrows = math.ceil(count / ncols)
    figure = new_figure(3.0 * ncols + 1, 2.4 * nrows + 0.6)
    grid = figure.subplots(nrows, ncols, squeeze=False)
    for axes, (panel, groups) in zip(grid.flat, panels):
        for label, values in groups.items():
            finite = [v for v in values if math.isfinite(v)]
            if finite:
                axes.hist(finite, bins=bins, alpha=0.55, label=label, density=True)
        axes.set_title(panel, fontsize=9)
        axes.tick_params(labelsize=7)
        if len(groups) > 1:
            axes.legend(fontsize=7)
    for axes in list(grid.flat)[count:]:
        axes.set_visible(False)
    if title:
        figure.suptitle(title)
    return figure
