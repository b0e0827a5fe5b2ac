"""Line charts written straight to SVG, in the house style of :mod:`.figures`, without matplotlib.

The pages written on a training run's path (``optimlab train --html``, the page MLflow keeps with a run,
``optimlab report RUN...``) are curves only, and matplotlib costs them about 2 s of a short command:
its import, then ~0.2 s an axes drawn (``benchmarks/tracker_cli_overhead.py``). Here a chart is a few
hundred SVG elements formatted directly, in milliseconds. The style is the house style: axis labels
with their units, a legend when there is more than one series (beside the axes, never over a curve), a
log axis with plain tick labels (``0.5``, not ``5x10^-1``) where the values span decades, reference
lines drawn and named (at the end of the axes where no curve passes), sparse curves marked at each
point, gaps where values are not finite, long series thinned to the minimum and maximum of each bucket
(:func:`thinned`), matplotlib's colours.

This module is also the one home of those matplotlib-free pieces (:func:`thinned`,
:func:`spans_decades`, :func:`plain`, :func:`level_label_side`, :func:`within_reach`,
:func:`shortened`, :func:`shortened_apart`), which :mod:`.figures` uses for its own plots.
"""

from __future__ import annotations

import html
import math
import os
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy

from optimlab.atomic import write_atomically
from optimlab.errors import InvalidValueError

__all__ = [
    "COLOURS",
    "DASHES",
    "MAX_POINTS",
    "SPARSE",
    "LineChart",
    "level_label_side",
    "line_chart",
    "plain",
    "scale_said",
    "shortened",
    "shortened_apart",
    "spans_decades",
    "thinned",
    "within_reach",
]

MAX_POINTS = 1000  # per series: 500 buckets of (min, max) keep every spike of a long run visible
SPARSE = 25  # a series with fewer points is marked at each one (a curve of 2 evaluations is 1 segment)
# matplotlib's default colour cycle ("tab10"), so that these charts match the other figures of a report
COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
# SVG stroke-dasharray of each round of the colours: solid, dashed, dotted, dash-dot (the 11th line is the
# 1st's colour, dashed)
DASHES = ("", "6 3", "1.5 2.5", "8 3 2 3")
_WIDTH, _HEIGHT = 700, 400  # pixels: matplotlib's 7 x 4 inches at 100 dpi
_PAD = 6  # pixels between the outermost text and the edge
_TICK = 10  # font sizes in pixels: tick labels and legend
_LABEL = 11  # axis labels
_TITLE = 13
_EM = 0.6  # a character's mean width in ems (DejaVu Sans and system-ui digits are 0.55-0.64)
# a reference line's name: grey on a white halo, legible where a curve passes under it
_HALO = {"fill": "dimgray", "stroke": "white", "stroke_width": "3", "paint_order": "stroke"}
_LEGEND_CHARACTERS = 40  # a longer label is cut in its middle, shown whole when hovered


def spans_decades(values: Sequence[float], decades: float = 1.0) -> bool:
    """Whether the finite ``values`` are all positive and span more than ``decades`` powers of ten (a log
    axis helps). One at or below 0 (a negative log-likelihood's) has no place on a log axis: there the
    curve would end without a word."""
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) > min(finite) * 10**decades


def thinned(count: int, ys: Sequence[float], limit: int = MAX_POINTS) -> list[int]:
    """Indices to draw of a series of ``count`` points: all, or the first, the last and each bucket's
    minimum and maximum (in order), so a long curve keeps its shape and its spikes. A bucket of NaN
    keeps NaN: a gap stays a gap. Vectorized: 10 series of 10,000 points take ms, not s."""
    if count <= limit:
        return list(range(count))
    buckets = limit // 2
    values = numpy.asarray(ys[:count], dtype=float)
    finite = numpy.isfinite(values)
    bucket = numpy.arange(count) * buckets // count  # non-decreasing, every bucket non-empty
    # Sorted by bucket, then by value (non-finite values last for the minimum, first for the maximum).
    by_low = numpy.lexsort((numpy.where(finite, values, numpy.inf), bucket))
    by_high = numpy.lexsort((numpy.where(finite, values, -numpy.inf), bucket))
    starts = numpy.searchsorted(bucket, numpy.arange(buckets))
    ends = numpy.append(starts[1:], count) - 1
    return sorted({0, count - 1, *by_low[starts].tolist(), *by_high[ends].tolist()})


def level_label_side(
    curves: Sequence[tuple[Sequence[float], Sequence[float]]], level: float, *, log: bool = False
) -> Literal["left", "right"]:
    """Where a reference line's name stays clear of the curves ``(xs, ys)``: at the end of the axes (the
    first or last 30% of x) where the curves pass farthest from ``level`` (in decades on a log axis).
    A loss starts at chance and a validation accuracy ends near its target: a name always written at the
    left sat under the curve there."""

    def height(value: float) -> float:
        return math.log10(value) if log else value

    points = [
        (u, height(v))
        for xs, ys in curves
        for u, v in zip(xs, ys)
        if math.isfinite(u) and math.isfinite(v) and (v > 0 or not log)
    ]
    if not points or not (math.isfinite(level) and (level > 0 or not log)):
        return "left"
    low, high = min(u for u, _ in points), max(u for u, _ in points)
    edge = 0.3 * (high - low)
    gaps = {
        side: min((abs(v - height(level)) for u, v in points if inside(u)), default=math.inf)
        for side, inside in (("left", lambda u: u <= low + edge), ("right", lambda u: u >= high - edge))
    }
    return "right" if gaps["right"] > gaps["left"] else "left"


def within_reach(values: Sequence[float], level: float, *, log: bool) -> bool:
    """Whether a reference line at ``level`` lies within the span of ``values`` beyond their range (in
    decades on a log axis): drawn farther off, it squeezed the curves into a strip (validation accuracies
    of 0.89 to 0.98 in the top tenth of an axis stretched down to chance, 0.1)."""
    if not values:
        return True
    scale = (lambda v: math.log10(v)) if log else (lambda v: v)
    low, high = scale(min(values)), scale(max(values))
    # at least half a decade, or half the values' size: a loss flat at chance keeps its chance line
    span = max(high - low, 0.5 if log else 0.5 * max(abs(low), abs(high)))
    return low - span <= scale(level) <= high + span


def plain(value: float, _position: float | None = None) -> str:
    """A tick label as a person writes the number: 0.5, 2, 1e-05 (``:g``), not 5x10^-1."""
    return f"{value:g}"


@dataclass(frozen=True)
class LineChart:
    """A chart as an ``<svg>`` element (:attr:`svg`), to sit inside an HTML page or be saved as .svg."""

    svg: str

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the chart to ``path``, an .svg file (a PNG needs a matplotlib figure: :mod:`.figures`)."""
        path = Path(path)
        if path.suffix.lower() != ".svg":
            raise InvalidValueError("chart path suffix", path.suffix or path.name, ".svg")
        return write_atomically(path, '<?xml version="1.0" encoding="utf-8"?>\n' + self.svg)


@dataclass(frozen=True)
class _Axis:
    """A value axis: its limits, scale and ticks (value, label)."""

    low: float
    high: float
    log: bool
    ticks: list[tuple[float, str]]

    def fraction(self, value: float) -> float:
        """Where ``value`` lies between the limits, 0 to 1 (on the log scale for a log axis)."""
        if self.log:
            return (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        return (value - self.low) / (self.high - self.low)


def _linear_axis(values: Sequence[float], *, margin: float = 0.05, whole: bool = False) -> _Axis:
    """Limits 5% beyond the data (matplotlib's margins), ticks on 1, 2, 2.5 or 5 times a power of ten;
    ``whole``: ticks on whole numbers only (a count of steps has no step 1.5), 2 in place of 2.5."""
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:  # a flat series: one unit around it, or 10% of its size
        half = abs(low) * 0.1 or 0.5
        low, high = low - half, high + half
    span = high - low
    low, high = low - margin * span, high + margin * span
    raw = max((high - low) / 6, 1.0 if whole else 0.0)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if whole and step == 2.5:  # no whole tick on steps of 2.5: steps of 2, a tick more (12 steps: 2..12)
        step = 2.0
    decimals = max(0, -math.floor(math.log10(step)) + (1 if step / power == 2.5 else 0))
    first = math.ceil(low / step - 1e-9)
    ticks = []
    for k in range(first, first + 20):
        value = k * step
        if value > high + 1e-9 * step:
            break
        big = abs(value) >= 1e6 or 0 < step < 1e-4
        ticks.append((value, plain(float(f"{value:.6g}")) if big else f"{value:.{decimals}f}"))
    return _Axis(low, high, False, ticks)


def _log_axis(values: Sequence[float], *, margin: float = 0.05) -> _Axis:
    """A log axis 5% (of its decades) beyond the positive data; plain labels on the powers of ten, and on 2
    and 5 times them when the axis spans under two decades."""
    positive = [v for v in values if v > 0] or [1.0]
    low, high = math.log10(min(positive)), math.log10(max(positive))
    if high == low:
        low, high = low - 0.5, high + 0.5
    span = high - low
    low, high = 10 ** (low - margin * span), 10 ** (high + margin * span)
    multiples = (1, 2, 5) if high < low * 100 else (1,)
    # At most 8 powers labelled: 30 decades (a diverged run's loss) labelled one by one overlap.
    every = next(k for k in (1, 2, 3, 5, 10, 20, 50, 100) if span / k <= 8)
    ticks = [
        (m * 10.0**power, plain(float(f"{m * 10.0**power:.6g}")))
        for power in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
        for m in multiples
        if low <= m * 10.0**power <= high and power % every == 0
    ]
    if len(ticks) < 2:  # within a decade and between its 1, 2 and 5: linear ticks, as matplotlib's minor ones
        ticks = [(v, t) for v, t in _linear_axis([low, high], margin=0.0).ticks if low <= v <= high and v > 0]
    if any("e" in t for _, t in ticks):  # one notation down the axis: 1e+00 ... 1e+25, not 1, 100000, 1e+10
        ticks = [(v, f"{v:.0e}") for v, _ in ticks]
    return _Axis(low, high, True, ticks)


def shortened(label: str, limit: int = _LEGEND_CHARACTERS) -> str:
    """``label`` cut in its middle to ``limit`` characters: its start and its end (a run's number, the
    metric after ``run: ``) tell runs apart; textwrap.shorten cut whole words from the end, and wrote
    a run folder's name of one long word as ``...``."""
    if len(label) <= limit:
        return label
    keep = limit - 3
    return f"{label[: (keep + 1) // 2]}...{label[len(label) - keep // 2 :]}"


def shortened_apart(labels: Sequence[str], limit: int = _LEGEND_CHARACTERS) -> dict[str, str]:
    """Each label :func:`shortened`; labels whose cuts read alike are instead shown by the stretch where
    they differ, from the word of their first difference to that of their last (or from those characters
    where the words do not fit), with what room is left of the words around it: a LoRA model's modules, ``base_model.model.model.layers.{i}.self_attn.
    {q,k,v}_proj.lora_{A,B}...``, all read ``base_model.model.mo...A.default (Linear)``. They read apart
    wherever that stretch fits in ``limit``; a longer one keeps its start and its end."""
    names = {label: shortened(label, limit) for label in labels}
    alike: dict[str, list[str]] = {}
    for label, name in names.items():
        alike.setdefault(name, []).append(label)
    for group in (group for group in alike.values() if len(group) > 1):
        names.update(_where_they_differ(group, limit))
    together: set[str] = set()  # labels whose groups' stretches read alike: shown apart as one group
    while True:
        shown = Counter(names.values())
        alike_still = {label for label, name in names.items() if shown[name] > 1} - together
        if not alike_still:
            return names
        together |= alike_still
        names.update(_where_they_differ([label for label in names if label in together], limit))


_BREAKS = "./_:- "  # where a word of a name ends: a shown stretch starts after one and ends before one


def _where_they_differ(group: Sequence[str], limit: int) -> dict[str, str]:
    """Each of ``group`` (labels alike where cut) as its stretch between the start and end all share."""
    shortest = min(map(len, group))
    same = [len(set(chars)) == 1 for chars in zip(*group)]
    first = same.index(False) if False in same else shortest
    ends = [len(set(chars)) == 1 for chars in zip(*(label[::-1] for label in group))]
    last = min(ends.index(False) if False in ends else shortest, shortest - first)  # the end all share
    sample = group[0]  # its first ``first`` and last ``last`` characters are every label's
    words_first, words_last = first, last  # the words of the first and last difference whole, where they fit
    while words_first and sample[words_first - 1] not in _BREAKS:
        words_first -= 1
    while words_last and sample[len(sample) - words_last] not in _BREAKS:
        words_last -= 1
    widest = max(map(len, group))
    if widest - words_first - words_last <= limit - 6:  # 6: '...' on either side
        first, last = words_first, words_last
    stretches = {label: label[first : len(label) - last] for label in group}
    room = limit - 6 - max(map(len, stretches.values()))
    if room < 0:  # too long to show whole: its start and its end, where it first and last differs
        head, tail = "..." if first else "", "..." if last else ""
        inner = max(4, limit - len(head) - len(tail))
        return {label: head + shortened(stretch, inner) + tail for label, stretch in stretches.items()}
    before = min(first, room)  # the words before it (a layer's 'layers.'), then those after it
    while 0 < before < first and sample[first - before - 1] not in _BREAKS:
        before -= 1
    if not before and first and sample[first - 1] not in _BREAKS:  # mid-word, whose end takes half the room
        before = min(first, room // 2)
    after = min(last, room - before)
    while 0 < after < last and sample[len(sample) - last + after] not in _BREAKS:
        after -= 1
    if not after and last and sample[len(sample) - last] not in _BREAKS:
        after = min(last, room - before)
    head = "..." if first - before else ""
    tail = "..." if last - after else ""
    return {label: head + label[first - before : len(label) - last + after] + tail for label in group}


def _width(text: str, size: float) -> float:
    return len(text) * size * _EM


def _text(x: float, y: float, text: str, size: float, title: str = "", **attributes: str) -> str:
    """A ``<text>`` element; ``title``, where given, shown when it is hovered (a cut label's whole)."""
    extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attributes.items())
    hovered = f"<title>{html.escape(title)}</title>" if title else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{extra}>{hovered}{html.escape(text)}</text>'


def _axis_label(x: float, y: float, label: str, room: float, **attributes: str) -> str:
    """An axis label centred at ``(x, y)``, cut in its middle (:func:`shortened`) to the ``room`` of its
    axis in pixels, whole when hovered: a user's metric named in 150 characters ran off the chart."""
    shown = shortened(label, max(10, int(room / (_LABEL * _EM))))
    return _text(x, y, shown, _LABEL, "" if shown == label else label, text_anchor="middle", **attributes)


def _path(points: Sequence[tuple[float, float] | None]) -> str:
    """An SVG path through ``points``; a None breaks it (a gap)."""
    parts, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{point[0]:.1f} {point[1]:.1f}")
        pen_down = True
    return "".join(parts)


def scale_said(label: str, log: bool) -> str:
    """An axis' ``label`` with ``(log)`` where the axis is logarithmic: its plain tick labels (0.5, 1, 2)
    do not tell it, and a run page's loss read as linear halved what the log axis showed as a drop."""
    return f"{label} (log)".strip() if log else label


def line_chart(
    x: Mapping[str, Sequence[float]],
    series: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    log_y: bool = False,
    whole_x: bool = False,
    levels: Mapping[str, float] | None = None,
    colours: Mapping[str, str] | None = None,
    dashes: Mapping[str, str] | None = None,
    marks: Mapping[str, tuple[float, float]] | None = None,
    stops: Mapping[str, float] | None = None,
    x_range: tuple[float, float] | None = None,
) -> LineChart:
    """One line per series over its own ``x``; ``levels`` draws named horizontal lines (a target, chance);
    ``whole_x``: x is a count (steps), its ticks whole numbers; ``colours`` gives a series its colour (one
    run one colour in every chart of a page, whichever series a chart lacks), else :data:`COLOURS` in turn;
    ``dashes`` its dash pattern (:data:`DASHES`), else each round of the colours the next one;
    ``marks`` rings one point ``(x, y)`` of a series in its colour (its best value), named when hovered;
    ``stops`` draws, at the ``x`` from which a series is no longer finite (a loss gone NaN), a dashed line
    in its colour named ``not finite``: its curve ends there, not at the axis' edge; ``x_range`` is
    the span the x axis covers at least (the whole run, so that a page's charts line up by step).

    Non-finite values leave gaps; on a log axis values that are not positive do too. Series longer than
    :data:`MAX_POINTS` are thinned (:func:`thinned`), series shorter than :data:`SPARSE` marked at each point.
    """
    ylabel = scale_said(ylabel, log_y)
    colour_of = {label: COLOURS[number % len(COLOURS)] for number, label in enumerate(series)}
    colour_of.update(colours or {})
    dash_of = {label: DASHES[number // len(COLOURS) % len(DASHES)] for number, label in enumerate(series)}
    dash_of.update(dashes or {})
    shown: dict[str, list[tuple[float, float | None]]] = {}
    for label, ys in series.items():
        xs = x[label]
        count = min(len(xs), len(ys))
        shown[label] = [
            (xs[i], ys[i] if math.isfinite(ys[i]) and (ys[i] > 0 or not log_y) else None)
            for i in thinned(count, ys[:count])
        ]
    x_values = [px for points in shown.values() for px, _ in points if math.isfinite(px)]
    x_values += [u for u in x_range or () if math.isfinite(u)]
    y_values = [py for points in shown.values() for _, py in points if py is not None]
    drawable = {k: v for k, v in (levels or {}).items() if math.isfinite(v) and (v > 0 or not log_y)}
    drawn_levels = {k: v for k, v in drawable.items() if within_reach(y_values, v, log=log_y)}
    y_values += list(drawn_levels.values())
    x_axis = _linear_axis(x_values, margin=0.05, whole=whole_x)
    y_axis = _log_axis(y_values) if log_y else _linear_axis(y_values)

    # Margins that just fit the text: title, axis labels, tick labels, the legend at the right.
    title_lines = textwrap.wrap(title, int((_WIDTH - 2 * _PAD) / (_TITLE * _EM))) if title else []
    legend = len(series) > 1
    names = shortened_apart(list(series))
    legend_width = (max(_width(n, _TICK) for n in names.values()) + 34) if legend else 0.0
    left = (
        _PAD
        + (_LABEL * 1.3 if ylabel else 0)
        + max((_width(t, _TICK) for _, t in y_axis.ticks), default=0)
        + 8
    )
    right = _PAD + max(_width(x_axis.ticks[-1][1], _TICK) / 2 if x_axis.ticks else 0, legend_width)
    top = _PAD + (len(title_lines) * _TITLE * 1.25 + 6 if title_lines else _TICK / 2)
    bottom = _PAD + (_LABEL * 1.3 if xlabel else 0) + _TICK * 1.2 + 8
    x0, x1, y0, y1 = left, _WIDTH - right, _HEIGHT - bottom, top

    def px(value: float) -> float:
        return x0 + x_axis.fraction(value) * (x1 - x0)

    def py(value: float) -> float:
        return y0 - y_axis.fraction(value) * (y0 - y1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{html.escape(title, quote=True)}" '
        'font-family="DejaVu Sans, system-ui, sans-serif" fill="#222">',
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="white"/>',
    ]
    for i, line in enumerate(title_lines):
        parts.append(_text((x0 + x1) / 2, _PAD + _TITLE * (1 + 1.25 * i), line, _TITLE, text_anchor="middle"))
    grid, ticks = [], []
    for value, label in x_axis.ticks:
        at = px(value)
        grid.append(f"M{at:.1f} {y1:.1f}V{y0:.1f}")
        ticks.append(f"M{at:.1f} {y0:.1f}v4")
        parts.append(_text(at, y0 + 6 + _TICK, label, _TICK, text_anchor="middle"))
    for value, label in y_axis.ticks:
        at = py(value)
        grid.append(f"M{x0:.1f} {at:.1f}H{x1:.1f}")
        ticks.append(f"M{x0:.1f} {at:.1f}h-4")
        parts.append(_text(x0 - 6, at + _TICK * 0.35, label, _TICK, text_anchor="end"))
    parts.append(f'<path d="{"".join(grid)}" stroke="#b0b0b0" stroke-opacity="0.5" stroke-width="0.8"/>')
    parts.append(f'<path d="{"".join(ticks)}" stroke="#222" stroke-width="0.8"/>')
    if xlabel:
        parts.append(_axis_label((x0 + x1) / 2, _HEIGHT - _PAD - 2, xlabel, x1 - x0))
    if ylabel:
        middle = (y0 + y1) / 2
        parts.append(
            _axis_label(_PAD + _LABEL, middle, ylabel, y0 - y1,
                        transform=f"rotate(-90 {_PAD + _LABEL:.1f} {middle:.1f})")
        )  # fmt: skip
    for value in drawn_levels.values():
        at = py(value)
        parts.append(
            f'<path d="M{x0:.1f} {at:.1f}H{x1:.1f}" stroke="gray" stroke-width="1" stroke-dasharray="1.5 2.5"/>'
        )
    for label, points in shown.items():
        colour = colour_of[label]
        xy = [None if v is None or not math.isfinite(u) else (px(u), py(v)) for u, v in points]
        parts.append(
            f'<path d="{_path(xy)}" fill="none" stroke="{colour}" stroke-width="1.5"{_dash(dash_of[label])} '
            f'stroke-linejoin="round"><title>{html.escape(label)}</title></path>'
        )
        if len(points) < SPARSE:
            dots = "".join(
                f"M{p[0] - 3:.1f} {p[1]:.1f}a3 3 0 1 0 6 0a3 3 0 1 0 -6 0" for p in xy if p is not None
            )
            parts.append(f'<path d="{dots}" fill="{colour}"/>')
    for label, (u, v) in (marks or {}).items():
        if math.isfinite(u) and math.isfinite(v) and (v > 0 or not log_y):
            parts.append(
                f'<circle cx="{px(u):.1f}" cy="{py(v):.1f}" r="5" fill="white" stroke="{colour_of[label]}" '
                f'stroke-width="2"><title>{html.escape(f"{label}: best {v:.4g} at {u:g}")}</title></circle>'
            )
    for label, u in (stops or {}).items():
        if math.isfinite(u):
            at, colour = px(u), colour_of[label]
            name = html.escape(f"{label}: not finite from {u:g}")
            parts.append(
                f'<path d="M{at:.1f} {y1:.1f}V{y0:.1f}" stroke="{colour}" stroke-width="1" '
                f'stroke-dasharray="4 3"><title>{name}</title></path>'
            )
            parts.append(
                _text(at - 3, y1 + 4, "not finite", 8, fill=colour, text_anchor="end",
                      transform=f"rotate(-90 {at - 3:.1f} {y1 + 4:.1f})")
            )  # fmt: skip
    curves = [
        ([u for u, _ in points], [math.nan if v is None else v for _, v in points])
        for points in shown.values()
    ]
    for label, value in drawn_levels.items():  # over the curves, on a white halo, where none passes
        right = level_label_side(curves, value, log=log_y) == "right"
        at, anchor = (x1 - 3, "end") if right else (x0 + 3, "start")
        parts.append(_text(at, py(value) - 3, label, 8, text_anchor=anchor, **_HALO))
    for label, value in drawable.items():  # named at the edge it lies beyond, the curves kept readable
        if label not in drawn_levels:
            below = value < y_axis.low
            name = f"{label} ({'below' if below else 'above'} the axis)"
            parts.append(_text(x1 - 3, y0 - 4 if below else y1 + 10, name, 8, text_anchor="end", **_HALO))
    parts.append(
        f'<path d="M{x0:.1f} {y1:.1f}H{x1:.1f}V{y0:.1f}H{x0:.1f}Z" fill="none" stroke="#222" stroke-width="0.8"/>'
    )
    if legend:
        lx, spacing = x1 + 12, min(_TICK + 5, (y0 - y1 - 8) / len(series))
        for number, label in enumerate(series):
            at = y1 + 8 + number * spacing
            colour = colour_of[label]
            parts.append(
                f'<path d="M{lx:.1f} {at:.1f}h16" stroke="{colour}" stroke-width="2"{_dash(dash_of[label])}/>'
            )
            parts.append(_text(lx + 20, at + _TICK * 0.35, names[label], _TICK, label))
    parts.append("</svg>")
    return LineChart("".join(parts))


def _dash(pattern: str) -> str:
    """The ``stroke-dasharray`` attribute of ``pattern``; none for a solid line."""
    return f' stroke-dasharray="{pattern}"' if pattern else ""
