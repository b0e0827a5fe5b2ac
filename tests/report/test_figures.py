"""Figures: each kind draws what it is given, and files get the format of their suffix."""

from __future__ import annotations

import math

import numpy
import pytest

from optimlab.errors import InvalidValueError
from optimlab.report import figures


def test_lines_skip_values_a_log_axis_cannot_show_and_mark_positions():
    figure = figures.lines(
        [1, 10, 100],
        {"a": [1.0, math.nan, 3.0], "b": [0.0, 2.0, 1.0]},
        log_x=True,
        log_y=True,
        markers={"here": 10},
    )
    axes = figure.axes[0]
    a, b = axes.lines[0].get_ydata(), axes.lines[1].get_ydata()
    assert math.isnan(a[1]) and math.isnan(b[0]) and list(b[1:]) == [2.0, 1.0]
    assert axes.get_xscale() == "log" and len(axes.lines) == 3  # two series and the marker


def test_heatmap_has_one_row_per_label_in_order():
    figure = figures.heatmap([[1.0, 10.0], [100.0, 0.0]], row_labels=["first", "second"], columns=[1, 2])
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["first", "second"]
    data = numpy.ma.filled(axes.images[0].get_array().astype(float), numpy.nan)
    assert data[0, 1] == 10.0 and math.isnan(data[1, 1])  # zero has no log: left blank


def test_histograms_draw_a_panel_per_key():
    figure = figures.histograms(
        {"a": {"start": [0.0, 1.0, 1.0]}, "b": {"start": [2.0], "end": [3.0]}}, columns=3
    )
    visible = [axes for axes in figure.axes if axes.get_visible()]
    assert [axes.get_title() for axes in visible] == ["a", "b"]


def test_save_writes_png_and_svg_and_rejects_other_suffixes(tmp_path):
    figure = figures.lines([0, 1], {"x": [0.0, 1.0]})
    assert figures.save(figure, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in figures.save(figure, tmp_path / "f.svg").read_text()
    assert figures.to_svg(figure).startswith("<svg")
    with pytest.raises(InvalidValueError, match=".png or .svg"):
        figures.save(figure, tmp_path / "f.jpg")
