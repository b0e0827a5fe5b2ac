"""Figures for reports: line plots, heat maps and histograms drawn with matplotlib's object API.

No pyplot and no global backend: each figure owns an Agg canvas, so drawing is thread-safe and needs
no display. :func:`to_svg` gives inline SVG for an HTML page, :func:`save` a PNG or SVG file.
Figures are small multiples of one kind each; callers choose what to draw, this module how.

One house style for every figure: axis labels with their units, a legend beside the axes whenever there
is more than one series, a log axis where the values span decades (:func:`spans_decades`) with plain tick labels
(``0.5``, not ``5x10^-1``), reference lines (chance, target) drawn and named where no curve passes,
the spread over seeds shaded (and never below zero for a quantity that cannot be), titles wrapped to
the figure's width, and sparse curves marked at each point. Series longer than :data:`MAX_POINTS` are
thinned to the minimum and maximum of each bucket, so that a 10,000-step run draws as it looks, in a
page of a few hundred kB.
"""

from __future__ import annotations

import io
import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patheffects import withStroke
from matplotlib.text import Annotation, Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from optimlab.atomic import atomic_path
from optimlab.errors import InvalidValueError
from optimlab.number_text import count_of
from optimlab.report.line_chart import (
    MAX_POINTS,
    SPARSE,
    level_label_side,
    plain,
    scale_said,
    shortened,
    shortened_apart,
    spans_decades,
    thinned,
    within_reach,
)

__all__ = [
    "MAX_POINTS",
    "heatmap",
    "histograms",
    "intervals",
    "lines",
    "new_figure",
    "save",
    "spans_decades",
    "to_svg",
    "unsaid",
]

_FORMATS = (".png", ".svg")
_CHARACTERS_PER_INCH = 11  # of an 11-point title: wrap before the right edge clips it
# of a 9-point panel title over a histogram's 3-inch panel: a module's name of 80 characters ran over the
# next panels' and off the figure; 32 of a layer's name take ~1.9 in (capitals as wide as W, 3.8 in)
_PANEL_CHARACTERS = 32


def _log_axis(axes: Axes, which: str) -> None:
    """A log axis with plain labels on the powers of ten, and on 2 and 5 times them within a decade."""
    axis = axes.yaxis if which == "y" else axes.xaxis
    (axes.set_yscale if which == "y" else axes.set_xscale)("log")
    low, high = axes.get_ylim() if which == "y" else axes.get_xlim()
    # one notation down the axis, as line_chart's: 1e-06 ... 1e+00 where a label needs an exponent
    label = FuncFormatter(lambda v, _: f"{v:.0e}") if low < 1e-4 or high >= 1e6 else FuncFormatter(plain)
    axis.set_major_formatter(label)
    if high < low * 100:  # under two decades: label the 2s and 5s too, else there are 0 to 2 labels
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(label)
    else:
        axis.set_minor_formatter(NullFormatter())


def _title(figure: Figure, title: str) -> str:
    """``title`` wrapped to the figure's width, less the inch that the axes' title, centred over the axes
    (which the y labels push right), loses at the right edge: a 77-character line of a 7-inch figure
    was clipped at its 75th (a study named after the user's model, mypkg.models.build_a_very_...)."""
    width = int((figure.get_figwidth() - 1) * _CHARACTERS_PER_INCH)
    return textwrap.fill(title, width) if title else ""


def new_figure(width: float = 7.0, height: float = 4.0, *, constrained: bool = True) -> Figure:
    """An empty figure with its own Agg canvas and, unless told otherwise, a constrained layout (a figure
    of one axes without one is placed by :func:`_place_axes`)."""
    figure = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    FigureCanvasAgg(figure)
    return figure


_PAD = 4 / 72  # inches between the outermost text and the figure's edge (constrained layout's default)
_LEGEND_PAD = 0.6  # font sizes (of 8 points) between the axes and a legend beside them
_LEGEND_GAP = _LEGEND_PAD * 8 / 72  # the same in inches


def _legend(axes: Axes, notes: Mapping[str, str] | None = None) -> None:
    """A legend beside the axes, at their top right, never over a curve or a reference line's name
    (inside them, matplotlib's 'best' place covered the chance line's name). Its names are cut in their
    middle (:func:`~.line_chart.shortened_apart`): a study's folder of 180 characters made it wider than the
    figure, whose axes could then not be placed. ``notes``, ``{name: text}``, follow a name uncut."""
    handles, labels = axes.get_legend_handles_labels()
    cut = shortened_apart(labels)
    names = [cut[label] + (notes or {}).get(label, "") for label in labels]
    axes.legend(
        handles, names, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=_LEGEND_PAD
    )


def _two_lines(text: str) -> str:
    """``text`` broken at the space nearest its middle outside ``$...$`` math (unchanged where it has none):
    mathtext cut by the break has an odd ``$`` on each line, and both lines were drawn as raw TeX."""
    spaces, in_math = [], False
    for i, c in enumerate(text):
        if c == "$" and text[i - 1 : i] != "\\":  # an escaped \$ is a dollar sign
            in_math = not in_math
        elif c == " " and not in_math:
            spaces.append(i)
    if not spaces:
        return text
    middle = min(spaces, key=lambda i: abs(2 * i - len(text)))
    return f"{text[:middle]}\n{text[middle + 1 :]}"


def _place_axes(figure: Figure, axes: Axes) -> None:
    """Margins that just fit the title, the axis labels and the tick labels, measured once.

    Constrained layout measures every tick label of the figure on two passes and draws it twice: 2/3 of
    the time of a figure of 10 long lines (1.0 s against 0.38 s on a loaded 2-core machine), and a page
    of 10 runs overlaid has 7 such figures (benchmarks/report_overlay.py). Here the few strings that
    decide the margins are measured with the renderer, and the axes placed once.
    """
    renderer = figure.canvas.get_renderer()

    def size(text: str, fontsize: Any) -> tuple[float, float]:
        """Width and height of ``text`` in inches."""
        if not text:
            return 0.0, 0.0
        if "\n" in text:  # matplotlib's own layout of the lines: a line of math is taller than the others
            box = Text(text=text, fontsize=fontsize, figure=figure).get_window_extent(renderer)
            return box.width / figure.dpi, box.height / figure.dpi
        width, height, _ = renderer.get_text_width_height_descent(
            text, FontProperties(size=fontsize), ismath=text.count("$") >= 2
        )
        return width / figure.dpi, height / figure.dpi

    def tick_labels(axis: Any) -> tuple[list[str], str]:
        """The labels of the ticks drawn, and the offset or scale written beside them ("1e6", "+1e3")."""
        low, high = sorted(axis.get_view_interval())
        labels = []
        for ticker in (axis.minor, axis.major):  # the major last: its offset is the one drawn
            labels += ticker.formatter.format_ticks([x for x in ticker.locator() if low <= x <= high])
        return [label for label in labels if label], axis.major.formatter.get_offset()

    style = matplotlib.rcParams
    x_labels, x_offset = tick_labels(axes.xaxis)
    y_labels, y_offset = tick_labels(axes.yaxis)
    x_ticks = [size(label, style["xtick.labelsize"]) for label in x_labels]
    y_ticks = [size(label, style["ytick.labelsize"]) for label in y_labels]
    tick_gap = (style["xtick.major.size"] + style["xtick.major.pad"]) / 72
    label_gap = style["axes.labelpad"] / 72
    title = size(axes.get_title(), style["axes.titlesize"])[1]
    # The y offset sits above the axes, under the title; the x offset under the tick labels, at the right.
    above = size(y_offset, style["ytick.labelsize"])[1]
    below = size(x_offset, style["xtick.labelsize"])[1]

    def margin(label: str, ticks: float) -> float:
        """From the figure's edge to the axes: the axis label, its gap, the tick labels, the ticks."""
        return _PAD + size(label, style["axes.labelsize"])[1] + label_gap + ticks + tick_gap

    x_tick_height = max((h for _, h in x_ticks), default=0.0) + below
    bottom = margin(axes.get_xlabel(), x_tick_height)
    # Without a title, the top y tick label still reaches half its height above the axes.
    top = (
        _PAD
        + above
        + (title + style["axes.titlepad"] / 72 if title else max((h for _, h in y_ticks), default=0.0) / 2)
    )
    width, height = figure.get_size_inches()

    def on_two_lines(label: Text, room: float) -> bool:
        """Write ``label`` on two lines where it is longer than its axis' ``room`` and they hold it: a
        study's 'test accuracy (fraction correct): mean, 95% CI' read 'test accuracy (fracti...orrect): ...'
        on a 4-inch figure; the same for an x label."""
        text = label.get_text()
        if "\n" in text or size(text, style["axes.labelsize"])[0] <= room:
            return False
        two = _two_lines(text)
        if two == text or size(two, style["axes.labelsize"])[0] > room:
            return False
        label.set_text(two)
        return True

    def left_margin() -> float:
        """The left margin, the y label on two lines first where its axis' room asks for it."""
        on_two_lines(axes.yaxis.label, height - top - bottom)
        return margin(axes.get_ylabel(), max((w for w, _ in y_ticks), default=0.0))

    left = left_margin()
    right = _PAD + max((w for w, _ in x_ticks), default=0.0) / 2  # a label may be centred on the right edge
    if (legend := axes.get_legend()) is not None:  # beside the axes (_legend): its width, and a gap
        right = max(right, _PAD + legend.get_window_extent(renderer).width / figure.dpi + _LEGEND_GAP)
    if on_two_lines(axes.xaxis.label, width - left - right):
        # The y label's room shrinks by the x label's second line: one that fitted on one line may now
        # need two ('test accuracy (fraction correct): mean, 95% CI' was cut on a 4-inch figure).
        bottom = margin(axes.get_xlabel(), x_tick_height)
        left = left_margin()
    # A label longer than its axis is cut in its middle to what the axis holds, as the SVG charts' are
    # (line_chart._axis_label): a metric named in 150 characters ran from -220 to 645 px of a 400 px figure.
    for label, room in ((axes.xaxis.label, width - left - right), (axes.yaxis.label, height - top - bottom)):
        text = shown = label.get_text()
        limit = len(text)
        while limit > 10 and (drawn := size(shown, style["axes.labelsize"])[0]) > room:
            limit = max(10, min(limit - 1, int(limit * room / drawn)))
            shown = shortened(text, limit)
        label.set_text(shown)
    figure.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height
    )


# The same figure gives the same SVG: its element ids hashed with a fixed salt, not a random one (the
# date is left out as savefig's metadata), so identical runs write identical pages.
_SAME_SVG = {"svg.hashsalt": "optimlab"}


def to_svg(figure: Figure) -> str:
    """The figure as an ``<svg>`` element, without the XML prolog, to sit inside an HTML page."""
    buffer = io.StringIO()
    # Text stays text (not outlines): searchable, selectable, and the file is a third smaller.
    with matplotlib.rc_context({"svg.fonttype": "none", **_SAME_SVG}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def save(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``figure`` to ``path``; the format follows its suffix (.png or .svg)."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise InvalidValueError("figure path suffix", path.suffix or path.name, " or ".join(_FORMATS))
    svg = path.suffix.lower() == ".svg"
    with atomic_path(path) as partial, matplotlib.rc_context(_SAME_SVG):
        figure.savefig(
            partial, dpi=120, format=path.suffix[1:].lower(), **({"metadata": {"Date": None}} if svg else {})
        )
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
    colours: Mapping[str, str] | None = None,
    linestyles: Mapping[str, str] | None = None,
    legend: bool = False,
    bounds: tuple[float, float] | None = None,
) -> Figure:
    """One line per series over ``x`` (shared, or one sequence per series).

    ``markers`` draws labelled vertical lines (e.g. a suggested lr), ``levels`` horizontal ones (a
    target, chance); ``bands`` shades ``y +- band`` around a series (mean +- std over seeds; error bars
    on a sparse series), cut at zero when the series is never negative (a loss, an accuracy); ``steps`` draws step functions
    (performance profiles), ``points`` marks each value (as do series of few points). Non-finite values
    leave gaps; a log axis skips values that are not positive. Long series are thinned (:data:`MAX_POINTS`).
    ``colours`` gives a series its colour (a method keeps one in every figure of a page, whichever series
    a figure lacks), else matplotlib's cycle in turn; ``linestyles`` its line style (``"--"``), else solid.
    ``legend``: beside the axes even for one series, whose name the title does not say (a performance
    profile of methods sharing one line); else only where there are several. ``bounds``: the values the
    series can take (an accuracy's [0, 1]), where the bands are cut; else at zero for a series never negative.
    """
    figure = new_figure(constrained=False)
    axes = figure.subplots()
    notes: dict[str, str] = {}  # why a series has no line, beside its name in the legend
    for label, ys in series.items():
        xs = (x[label] if isinstance(x, Mapping) else x)[: len(ys)]
        keep = thinned(len(ys), ys)
        shown = [_plottable(ys[i], log_y) for i in keep]
        xs = [xs[i] for i in keep]
        notes[label] = _not_drawn(ys, log_y)
        (line,) = axes.plot(
            xs,
            shown,
            label=label,
            drawstyle="steps-post" if steps else "default",
            marker="o" if points or len(keep) < SPARSE else None,
            markersize=4 if points else 3,
            linestyle=(linestyles or {}).get(label, "-"),
            **({"color": colours[label]} if colours and label in colours else {}),
        )
        if bands is not None and label in bands:
            floor = 0.0 if all(v >= 0 for v in ys if math.isfinite(v)) else -math.inf
            lowest, ceiling = bounds or (-math.inf, math.inf)  # a metric's own bounds, else none
            floor = max(floor, lowest)
            spread = [(ys[i], bands[label][i]) for i in keep]
            low = [_plottable(max(floor, v - b), log_y) for v, b in spread]
            high = [_plottable(min(ceiling, v + b), log_y) for v, b in spread]
            if len(keep) < SPARSE:  # a band between a few points hides them; bars show each one's spread
                below = [v - lo if math.isfinite(lo) else 0.0 for (v, _), lo in zip(spread, low)]
                above = [hi - v if math.isfinite(hi) else 0.0 for (v, _), hi in zip(spread, high)]
                axes.errorbar(xs, shown, yerr=[below, above], fmt="none", ecolor=line.get_color(), capsize=3)
            else:
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
    curves = [((x[label] if isinstance(x, Mapping) else x)[: len(ys)], ys) for label, ys in series.items()]
    values = [v for _, ys in curves for v in ys if math.isfinite(v) and (v > 0 or not log_y)]
    halo = [withStroke(linewidth=3, foreground="white")]
    for label, at in (levels or {}).items():
        if not within_reach(values, at, log=log_y):  # named at the edge it lies beyond, the curves readable
            below = bool(values) and at < min(values)
            axes.annotate(
                f"{label} ({'below' if below else 'above'} the axis)",
                (1.0, 0.0 if below else 1.0),
                xycoords="axes fraction",
                xytext=(-3, 3 if below else -3),
                textcoords="offset points",
                va="bottom" if below else "top",
                ha="right",
                fontsize=8,
                color="dimgray",
                zorder=5,
                path_effects=halo,
            )
            continue
        axes.axhline(at, color="gray", linestyle=":", linewidth=1)
        side = level_label_side(curves, at, log=log_y)  # where no curve passes, over them, on a halo
        axes.annotate(
            label,
            (0.0 if side == "left" else 1.0, at),
            xycoords=("axes fraction", "data"),
            va="bottom",
            ha=side,
            fontsize=8,
            color="dimgray",
            zorder=5,
            path_effects=halo,
        )
    if log_x:
        _log_axis(axes, "x")
    if log_y:
        _log_axis(axes, "y")
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.set(title=_title(figure, title), xlabel=scale_said(xlabel, log_x), ylabel=scale_said(ylabel, log_y))
    axes.grid(alpha=0.3)
    if legend or len(series) > 1:
        _legend(axes, notes)
    _place_axes(figure, axes)
    return figure


def _plottable(value: float, log: bool) -> float:
    return value if math.isfinite(value) and (value > 0 or not log) else math.nan


def _not_drawn(values: Sequence[float], log: bool) -> str:
    """Why a series with finite values has no line at all on a log axis, to say beside its name in the
    legend: none is above 0 (a gradient 0 at every layer); '' where it has a line, or no finite value
    (which its caller says in its own words: every trial failed, every run diverged)."""
    finite = [v for v in values if math.isfinite(v)]
    return " (no value above 0: none on a log axis)" if log and finite and max(finite) <= 0 else ""


def heatmap(
    values: Sequence[Sequence[float]],
    *,
    row_labels: Sequence[str],
    columns: Sequence[float],
    title: str = "",
    xlabel: str = "",
    colorbar: str = "",
    log_scale: bool = True,
    limits: tuple[float, float] | None = None,
) -> Figure:
    """A heat map of ``values`` (rows x columns): one row per label, columns at the given x positions.

    With ``log_scale`` the colours follow log10 of the values (norms spanning decades stay readable);
    zeros and non-finite cells are left blank. ``limits``: the values at the colour scale's ends, for maps
    compared side by side (one colour, one value in each); default this map's least and greatest.
    """
    rows = [[_plottable(v, log_scale) for v in row] for row in values]
    finite = [v for row in rows for v in row if math.isfinite(v)]
    low, high = limits or ((min(finite), max(finite)) if finite else (None, None))
    figure = new_figure(7.0, max(2.5, 0.3 * len(row_labels) + 1.5))
    axes = figure.subplots()
    norm = LogNorm(vmin=low, vmax=high) if log_scale and finite and low < high else None
    image = axes.imshow(
        rows,
        aspect="auto",
        interpolation="nearest",
        norm=norm,
        **({} if norm is not None or limits is None else {"vmin": low, "vmax": high}),
        cmap="viridis",
        extent=(columns[0] - 0.5, columns[-1] + 0.5, len(rows) - 0.5, -0.5) if columns else None,
    )
    names = shortened_apart(row_labels)  # a layer's name of 150 characters ran off the figure
    axes.set_yticks(range(len(row_labels)), labels=[names[label] for label in row_labels], fontsize=8)
    axes.set(title=_title(figure, title), xlabel=xlabel)
    bar = figure.colorbar(image, ax=axes, label=colorbar)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(plain))
    if norm is not None and norm.vmax < norm.vmin * 100:  # as on a log axis: the 2s and 5s labelled too
        bar.ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        bar.ax.yaxis.set_minor_formatter(FuncFormatter(plain))
    else:
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return figure


def histograms(
    samples: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    bins: int = 40,
    title: str = "",
    columns: int = 3,
    xlabel: str = "value",
    ylabel: str = "density",
) -> Figure:
    """Small multiples: one panel per outer key, one overlaid histogram per inner key (e.g. per step);
    ``xlabel`` and ``ylabel`` name the axes of every panel."""
    panels = list(samples.items())
    count = max(1, len(panels))
    ncols = min(columns, count)
    nrows = math.ceil(count / ncols)
    figure = new_figure(3.0 * ncols + 1, 2.4 * nrows + 0.6)
    grid = figure.subplots(nrows, ncols, squeeze=False)
    names = shortened_apart([panel for panel, _ in panels], _PANEL_CHARACTERS)
    for axes, (panel, groups) in zip(grid.flat, panels):
        for label, values in groups.items():
            finite = [v for v in values if math.isfinite(v)]
            if finite:
                axes.hist(finite, bins=bins, alpha=0.55, label=label, density=True)
        axes.set_title(names[panel], fontsize=9)
        axes.tick_params(labelsize=7)
        if len(groups) > 1:
            axes.legend(fontsize=7)
    for axes in list(grid.flat)[count:]:
        axes.set_visible(False)
    figure.supxlabel(xlabel, fontsize=9)
    figure.supylabel(ylabel, fontsize=9)
    if title:
        figure.suptitle(_title(figure, title))
    return figure


def unsaid(runs: int, kept: int) -> str:
    """What a marker over ``kept`` of ``runs`` runs does not show, to write beside it in
    :func:`intervals`: the failed runs (``2 of 5 runs failed``, ``all 5 runs failed``), or that a single
    run has no interval (its bar of no width would read as seeds that agree); '' where nothing."""
    if kept < runs:
        return (
            f"{runs - kept} of {count_of(runs, 'run')} failed"
            if kept or runs == 1
            else f"all {runs} runs failed"
        )
    return "1 run: no interval" if kept == 1 else ""


def intervals(
    groups: Mapping[str, Mapping[str, tuple[float, float, float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    notes: Mapping[str, Mapping[str, str]] | None = None,
) -> Figure:
    """Means with their intervals, ``{group: {arm: (mean, low, high)}}``: one marker and error bar per
    arm, arms side by side within each group; a NaN bound (a single run) draws the mean alone.
    ``notes``, ``{group: {arm: text}}``, are written beside an arm's marker, or at the foot of its place
    where it has no mean (every run failed)."""
    notes = notes or {}
    figure = new_figure(constrained=False)
    axes = figure.subplots()
    arms = list(dict.fromkeys(arm for per in groups.values() for arm in per))
    width = 0.8 / max(1, len(arms))
    beside: list[Annotation] = []  # the notes right of their marker
    for j, arm in enumerate(arms):
        xs, means, errors = [], [], [[], []]
        for i, (group, per) in enumerate(groups.items()):
            if arm not in per:
                continue
            mean, low, high = per[arm]
            xs.append(i + (j - (len(arms) - 1) / 2) * width)
            means.append(mean)
            errors[0].append(max(0.0, mean - low) if math.isfinite(low) else 0.0)
            errors[1].append(max(0.0, high - mean) if math.isfinite(high) else 0.0)
            if note := notes.get(group, {}).get(arm):
                if math.isfinite(mean):
                    beside.append(
                        axes.annotate(
                            note,
                            (xs[-1], mean),
                            xytext=(_NOTE_OFFSET, 0),
                            textcoords="offset points",
                            fontsize=7,
                            va="center",
                        )
                    )
                else:  # no marker to stand beside: upright from the axes' foot
                    axes.annotate(
                        note,
                        (xs[-1], 0.02),
                        xycoords=axes.get_xaxis_transform(),
                        fontsize=7,
                        rotation=90,
                        ha="center",
                        va="bottom",
                    )
        axes.errorbar(xs, means, yerr=errors, fmt="o", capsize=3, label=arm)
    # a group's name cut to its share of the axes (~0.7 of the figure; 8-point text, ~0.6 em a character):
    # four optimizers named by import path ran over each other and off the figure
    room = int(figure.get_figwidth() * 0.7 * 72 / (8 * 0.6) / max(1, len(groups)))
    names = shortened_apart(list(groups), max(10, room))
    axes.set_xticks(range(len(groups)), labels=[names[group] for group in groups], fontsize=8)
    # each group's whole place, not the markers' span: an arm without a mean anywhere (an interrupted
    # study) had its places, and its notes there, outside the axes or between two groups
    axes.set_xlim(-0.5, len(groups) - 0.5)
    axes.set(title=_title(figure, title), xlabel=xlabel, ylabel=ylabel)
    axes.grid(alpha=0.3)
    if len(arms) > 1:
        _legend(axes)
    _place_axes(figure, axes)
    _left_where_past_the_right_edge(axes, beside)
    return figure


_NOTE_OFFSET = 4  # points between a marker and the note beside it


def _left_where_past_the_right_edge(axes: Axes, notes: list[Annotation]) -> None:
    """Each of ``notes``, written right of its marker, that would end past the axes' right edge written left
    of it instead: beside the last of 5 methods, '1 run: no interval' ended 55 px past the axes."""
    renderer = axes.figure.canvas.get_renderer()
    right = axes.get_window_extent(renderer).x1
    for note in notes:
        if note.get_window_extent(renderer).x1 > right:
            note.set_horizontalalignment("right")
            note.xyann = (-_NOTE_OFFSET, 0)
