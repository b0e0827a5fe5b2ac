"""Figures: each kind draws what it is given, and files get the format of their suffix."""

from __future__ import annotations

import itertools
import math
import re

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


def test_a_series_a_log_axis_cannot_show_at_all_says_why_in_the_legend():
    """An arm whose gradient is 0 at every layer (a dead ReLU network's), drawn on the gallery's log axis of
    gradient norms, kept its legend entry and drew nothing, as if its line were hidden behind another.
    Truth: 0 has no place on a log axis; the legend says so (a series of NaN is named by its caller: every
    trial failed)."""
    figure = figures.lines(
        [1, 2, 3],
        {
            "tanh": [1e-3, 1e-5, 1e-9],
            "dead": [0.0, 0.0, 0.0],
            "diverged": [math.nan] * 3,
            "mixed": [1.0, 0.0, -1.0],
        },
        log_y=True,
    )
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == [
        "tanh",
        "dead (no value above 0: none on a log axis)",
        "diverged",
        "mixed",
    ]


def test_a_legend_of_very_long_names_is_cut_in_their_middle_not_drawn_wider_than_the_figure():
    """`optimlab report A B` of two studies in folders of long names (180 characters) ended in a traceback,
    'left cannot be >= right': the legend of the interval figure was wider than the figure. Truth: the
    SVG charts' rule (line_chart), a label over 40 characters cut in its middle, keeps start and end."""
    long = "b" * 180
    for figure in (
        figures.lines([1, 2], {"short": [1.0, 2.0], f"{long}/x": [2.0, 1.0]}),
        figures.intervals({"adam": {"st1": (0.6, 0.5, 0.7), f"{long}/x": (0.5, 0.4, 0.6)}}),
    ):
        legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
        assert legend[1] == "b" * 19 + "..." + "b" * 16 + "/x", legend
        assert figures.to_svg(figure)


def test_heatmap_has_one_row_per_label_in_order():
    figure = figures.heatmap([[1.0, 10.0], [100.0, 0.0]], row_labels=["first", "second"], columns=[1, 2])
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["first", "second"]
    data = numpy.ma.filled(axes.images[0].get_array().astype(float), numpy.nan)
    assert data[0, 1] == 10.0 and math.isnan(data[1, 1])  # zero has no log: left blank


def test_heatmap_limits_set_the_colour_scale_on_either_scale():
    for log_scale in (False, True):
        figure = figures.heatmap(
            [[2.0, 4.0]], row_labels=["a"], columns=[1, 2], log_scale=log_scale, limits=(1.0, 8.0)
        )
        assert figure.axes[0].images[0].get_clim() == (1.0, 8.0)
    alone = figures.heatmap([[2.0, 4.0]], row_labels=["a"], columns=[1, 2], log_scale=False)
    assert alone.axes[0].images[0].get_clim() == (2.0, 4.0)


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


def tick_labels(axes, which="y"):
    axes.figure.canvas.draw()
    axis = axes.yaxis if which == "y" else axes.xaxis
    return [t.get_text() for t in axis.get_majorticklabels() + axis.get_minorticklabels() if t.get_text()]


def test_a_log_axis_within_a_decade_has_plain_labels():
    figure = figures.lines([1, 2, 3], {"loss": [2.5, 2.36, 2.2]}, log_y=True)
    labels = tick_labels(figure.axes[0])
    assert labels and all("10^" not in t and "times" not in t for t in labels)  # not 2.36x10^0
    shown = [float(t) for t in labels if 2.0 <= float(t) <= 2.6]  # inside the data's range
    assert len(shown) >= 2  # more than the 0 to 1 labels a short log axis gets by default


def test_spans_decades_says_when_a_log_axis_helps():
    assert figures.spans_decades([2.3, 0.05]) and not figures.spans_decades([2.3, 0.5, math.nan, -1.0])


@pytest.mark.parametrize("bounds", [None, (-math.inf, math.inf)], ids=["none given", "unbounded"])
def test_a_band_around_a_quantity_that_is_never_negative_stops_at_zero(bounds):
    """Given unbounded bounds (a val_mae, a user's metric: metric_bounds' UNBOUNDED), the band of a
    series that is never negative dipped below 0 (-0.4). Truth: a quantity never negative has no spread
    below 0 to show."""
    figure = figures.lines(list(range(40)), {"loss": [0.1] * 40}, bands={"loss": [0.5] * 40}, bounds=bounds)
    (band,) = figure.axes[0].collections
    assert min(v[1] for path in band.get_paths() for v in path.vertices) == 0.0  # not 0.1 - 0.5


def test_a_sparse_series_is_marked_with_error_bars_and_a_long_one_thinned():
    figure = figures.lines([10, 20], {"acc": [0.5, 0.7]}, bands={"acc": [0.1, 0.1]})
    axes = figure.axes[0]
    assert axes.lines[0].get_marker() == "o" and len(axes.containers) == 1  # the error bars
    long = figures.lines(list(range(50_000)), {"loss": [1.0] * 50_000})
    assert len(long.axes[0].lines[0].get_xdata()) <= figures.MAX_POINTS + 2


def test_long_titles_wrap_and_histograms_name_their_axes():
    figure = figures.lines([0, 1], {"x": [0.0, 1.0]}, title="a very long title " * 8)
    assert "\n" in figure.axes[0].get_title()
    panels = figures.histograms({"a": {"s": [0.0, 1.0]}}, xlabel="activation value", ylabel="density")
    assert panels.get_supxlabel() == "activation value" and panels.get_supylabel() == "density"


def test_intervals_draw_each_mean_with_its_interval():
    figure = figures.intervals({"sgd": {"week 1": (0.5, 0.4, 0.6), "week 2": (0.7, math.nan, math.nan)}})
    axes = figure.axes[0]
    (first, second) = axes.containers
    assert list(first.lines[0].get_ydata()) == [0.5] and list(second.lines[0].get_ydata()) == [0.7]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["sgd"]


FIGURES = {
    "log loss with a chance line": lambda: figures.lines(
        list(range(1, 200)), {"loss": [2.3 / s for s in range(1, 200)]}, log_y=True, levels={"chance": 2.3},
        title="Training loss by step", xlabel="step (optimizer steps)", ylabel="training loss (last batch)",
    ),
    "a two-line title, big numbers, a legend": lambda: figures.lines(
        [0, 50_000, 100_000], {"a": [1e6, 2e6, 3e6], "b": [-1e6, 0.0, 1e6]}, title="a very long title " * 5,
        xlabel="wall time (s)", ylabel="count",
    ),
    "a learning rate on log axes, marked": lambda: figures.lines(
        [1e-6, 1e-4, 1e-2, 1.0], {"loss": [2.0, 1.0, 0.5, 9.0]}, log_x=True, log_y=True,
        markers={"suggestion 1e-4": 1e-4}, xlabel="learning rate", ylabel="training loss",
    ),
    "a small offset range, no title": lambda: figures.lines(
        [1000.0001, 1000.0002, 1000.0003], {"x": [0.123456, 0.123457, 0.123458]}, xlabel="x", ylabel="y"
    ),
    "intervals": lambda: figures.intervals(
        {"sgd": {"week 1": (0.5, 0.4, 0.6)}, "adam": {"week 1": (0.7, 0.65, 0.75)}},
        title="Test accuracy", ylabel="test accuracy (fraction correct)",
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", FIGURES)
def test_every_text_of_a_figure_lies_within_it_and_the_axes_fill_most_of_it(kind):
    figure = FIGURES[kind]()
    figure.canvas.draw()
    drawn = figure.get_tightbbox()  # inches: every artist drawn, tick labels, title and legend included
    width, height = figure.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01, drawn
    assert drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01, drawn
    axes = figure.axes[0].get_position()  # figure fractions
    assert axes.width > 0.7 and axes.height > 0.6, axes


@pytest.mark.parametrize(
    ("ys", "level"),
    [([2.3 * 0.9**i for i in range(40)], 2.3), ([0.5 + 0.0115 * i for i in range(40)], 0.95)],
    ids=["loss-from-chance", "accuracy-to-target"],
)
def test_a_reference_line_is_named_where_no_curve_passes(ys, level):
    figure = figures.lines(list(range(40)), {"a": ys}, levels={"reference": level})
    axes = figure.axes[0]
    [name] = [t for t in axes.texts if t.get_text() == "reference"]
    renderer = figure.canvas.get_renderer()
    box = name.get_window_extent(renderer)
    pixels = axes.transData.transform(numpy.column_stack([range(40), ys]))
    assert not any(box.contains(u, v) for u, v in pixels)


def test_a_log_axis_writes_its_labels_in_one_notation():
    """The lr axis of a sensitivity figure read 1e-06, 1e-05, 0.0001, 0.001: two notations on one axis."""
    figure = figures.lines([1e-6, 1e-4, 1e-2, 1.0], {"a": [0.1, 0.5, 0.9, 0.2]}, log_x=True)
    figure.canvas.draw()
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels() if t.get_text()]
    assert len(labels) >= 4 and all(re.fullmatch(r"\de[+-]\d\d", label) for label in labels), labels


@pytest.mark.parametrize("which", ["x", "y"])
def test_an_axis_drawn_logarithmic_says_so_on_its_label(which):
    """A log x axis (the lr of an LR range test, a sensitivity figure) was labelled 'learning rate' alone,
    where a3370ab5 labelled log y axes '(log)'. Truth: matplotlib's own scale of each axis, and its label."""
    log = {f"log_{which}": True}
    figure = figures.lines(
        [1e-4, 1e-2, 1.0], {"a": [3.0, 0.3, 0.03]}, xlabel="learning rate", ylabel="loss", **log
    )
    axes = figure.axes[0]
    for axis, label in ((axes.xaxis, "learning rate"), (axes.yaxis, "loss")):
        logarithmic = axis.get_scale() == "log"
        assert logarithmic == (axis.axis_name == which)
        assert axis.get_label_text() == (f"{label} (log)" if logarithmic else label)


def test_a_reference_line_far_from_the_curves_is_named_at_the_edge_not_drawn():
    """compare's curves of 0.89 to 0.98 accuracy were squeezed into the top of an axis down to chance, 0.1."""
    figure = figures.lines(
        [1, 2, 3, 4], {"a": [0.89, 0.95, 0.97, 0.98]}, levels={"chance 0.1": 0.1, "target 0.96": 0.96}
    )
    axes = figure.axes[0]
    assert axes.get_ylim()[0] > 0.5 and len(axes.lines) == 2  # the curve and the target's line
    assert {t.get_text() for t in axes.texts} == {"chance 0.1 (below the axis)", "target 0.96"}


@pytest.mark.parametrize("kind", ["lines", "intervals"])
def test_a_legend_sits_beside_the_axes_within_the_figure(kind):
    """matplotlib's 'best' place put compare's legend inside the axes, over the chance line's name."""
    names = ["adam", "a-much-longer-method-name"]
    if kind == "lines":
        figure = figures.lines([1, 2, 3], {n: [0.2, 0.15, 0.1] for n in names}, levels={"chance 0.1": 0.1})
    else:
        figure = figures.intervals({"w": {n: (0.5, 0.4, 0.6) for n in names}})
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    legend, frame = axes.get_legend().get_window_extent(renderer), axes.get_window_extent(renderer)
    assert legend.x0 >= frame.x1 and legend.x1 <= figure.bbox.x1  # beside the axes, not cut off


def test_the_same_figure_gives_the_same_svg_in_a_page_and_in_a_file(tmp_path):
    """Pages of identical runs differed byte for byte: matplotlib wrote the date and ids hashed with a
    random salt into each SVG."""
    made = [figures.lines([1, 2, 3], {"loss": [3.0, 2.0, 1.5]}, title="t") for _ in range(2)]
    first, second = (figures.to_svg(figure) for figure in made)
    assert first == second and "<dc:date>" not in first and 'clip-path="url(#' in first
    files = [figures.save(figure, tmp_path / f"{i}.svg").read_text() for i, figure in enumerate(made)]
    assert files[0] == files[1] and "<dc:date>" not in files[0]


@pytest.mark.parametrize("profiles", [{"adam": [0, 0], "sgd": [0, 0]}, {"adam": [0.5, 1]}])
def test_a_performance_profile_of_one_line_names_its_methods(profiles):
    """A bench where no method reached the target gave every method the same profile, drawn as one line
    'adam, sgd (the same profile)' with no legend: the figure named no method. Likewise a bench of one."""
    from optimlab.study.report import profiles_figure

    legend = profiles_figure([1.0, 2.0], profiles, "steps").axes[0].get_legend()
    names = ", ".join(profiles) + (" (the same profile)" if len(profiles) > 1 else "")
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == [names]


def test_a_band_stops_at_the_bounds_its_series_can_take():
    """A bench's accuracy curves drew mean + std bars to 1.03 (two_spirals_mlp, adam, 2 seeds): an
    accuracy is at most 1, as the leaderboard's intervals already keep it. Truth: [0, 1]."""
    figure = figures.lines(
        [1, 2, 3], {"adam": [0.9, 0.95, 0.5]}, bands={"adam": [0.2, 0.1, 0.1]}, bounds=(0.0, 1.0)
    )
    (bars,) = [c for c in figure.axes[0].collections if len(c.get_segments()) == 3]
    tops = [max(y for _, y in segment) for segment in bars.get_segments()]
    assert tops == pytest.approx([1.0, 1.0, 0.6])


@pytest.mark.parametrize("kind", ["lines", "intervals"])
def test_a_long_axis_label_is_cut_in_its_middle_to_what_its_axis_holds(kind):
    """The history page's y label for a user's metric named in 150 characters ran from -220 to 645 px on a
    400 px figure, both ends cut off; the SVG charts cut it (line_chart). Truth: matplotlib's renderer
    puts each label's drawn extent within the figure, and the label keeps its start and its end."""
    xlabel, ylabel = "x" * 40 + "steps of a very long run" * 10 + "END", "y" * 60 + "metric" * 15 + "END"
    if kind == "lines":
        figure = figures.lines([1, 2, 3], {"a": [0.2, 0.15, 0.1]}, xlabel=xlabel, ylabel=ylabel)
    else:
        figure = figures.intervals({"w": {"a": (0.5, 0.4, 0.6)}}, xlabel=xlabel, ylabel=ylabel)
    figure.canvas.draw()  # places the labels beside their tick labels
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    for label, whole in ((axes.xaxis.label, xlabel), (axes.yaxis.label, ylabel)):
        box = label.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= figure.bbox.x1 and box.y1 <= figure.bbox.y1, box
        shown = label.get_text()
        start, end = shown.split("...")
        assert whole.startswith(start) and whole.endswith(end) and len(start) >= 10, shown
    frame = axes.get_window_extent(renderer)  # cut to what its axis holds, no shorter than it need be
    assert axes.xaxis.label.get_window_extent(renderer).width > 0.8 * frame.width
    assert axes.yaxis.label.get_window_extent(renderer).height > 0.8 * frame.height


def test_a_short_axis_label_is_written_whole():
    figure = figures.lines([1, 2], {"a": [1.0, 2.0]}, xlabel="step (optimizer steps)", ylabel="loss")
    assert (figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()) == ("step (optimizer steps)", "loss")


def test_a_long_name_a_log_axis_cannot_show_is_cut_and_says_why_in_full():
    """The legend cuts a name to 40 characters; the note why it has no line is not part of the name."""
    long = "d" * 30 + "/a-run-folder-named-at-length/dead-relu"
    figure = figures.lines([1, 2], {"tanh": [1e-3, 1e-5], long: [0.0, 0.0]}, log_y=True)
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend[1] == long[:19] + "..." + long[-18:] + " (no value above 0: none on a log axis)"


def test_long_legend_names_that_cut_alike_are_cut_where_they_differ():
    """As the SVG charts' legends (line_chart.shortened_apart): a LoRA model's layers read alike when cut."""
    names = [
        f"base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.default (Linear)" for i in (1, 2, 10)
    ]
    figure = figures.lines([1, 2], {n: [1.0, 2.0] for n in names})
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert len(set(legend)) == 3, legend
    for name, shown in zip(names, legend, strict=True):
        assert len(shown) <= 40 and all(piece in name for piece in shown.split("...") if piece), shown


def test_a_heatmap_of_long_layer_names_lies_within_its_figure_and_tells_its_rows_apart():
    """doctor's gradient map of a model whose layers are named at length (a LoRA model's, with their kind)
    drew its row labels from -7.9 inches on a 7-inch figure, or squeezed the map into its last quarter.
    Truth: matplotlib's drawn extent of every text lies within the figure; the rows' names differ and are
    pieces of their own layer's name."""
    names = [
        f"base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.default (Linear)" * 2 for i in range(3)
    ]
    figure = figures.heatmap(
        [[1.0, 2.0]] * 3, row_labels=names, columns=[1, 2], xlabel="step", colorbar="norm"
    )
    figure.canvas.draw()
    drawn, (width, height) = figure.get_tightbbox(), figure.get_size_inches()
    assert drawn.x0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y0 >= -0.01 and drawn.y1 <= height + 0.01
    assert figure.axes[0].get_position().width > 0.4
    shown = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert len(set(shown)) == 3
    for name, label in zip(names, shown, strict=True):
        assert all(piece in name for piece in label.split("...") if piece), label


def test_histogram_panels_of_long_layer_names_keep_their_titles_apart_and_within_the_figure():
    """doctor's activation histograms of a LoRA model: each panel's title, its module's name of 80
    characters, ran over its neighbours' and off the figure (from -80 to 1118 px of 1000). Truth: the
    titles' drawn extents (matplotlib's renderer) lie within the figure and do not overlap; they differ."""
    names = [
        f"model.base_model.model.decoder.layers.{i}.self_attn.out_proj.lora_B.default (Linear)"
        for i in range(3)
    ]
    figure = figures.histograms({n: {"step 1": [1.0, 2.0, 3.0], "step 9": [2.0, 3.0, 4.0]} for n in names})
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [axes.title.get_window_extent(renderer) for axes in figure.axes]
    assert all(box.x0 >= 0 and box.x1 <= figure.bbox.x1 for box in boxes), boxes
    assert all(left.x1 < right.x0 for left, right in itertools.pairwise(boxes)), boxes
    titles = [axes.get_title() for axes in figure.axes]
    assert len(set(titles)) == 3
    for name, title in zip(names, titles, strict=True):
        assert all(piece in name for piece in title.split("...") if piece), title


def test_intervals_of_long_method_names_keep_their_labels_apart_and_within_the_figure():
    """A study history of user optimizers named by import path ('mypkg.optimizers.experimental:build_lion_
    optimizer'): the x tick labels ran over each other and off the figure (-45 px). Truth: their drawn
    extents (matplotlib's renderer) lie within the figure and do not overlap; they differ."""
    methods = [
        f"mypkg.optimizers.experimental:build_{n}_optimizer" for n in ("lion", "sophia", "adamw", "muon")
    ]
    figure = figures.intervals({m: {"s1": (0.5, 0.4, 0.6), "s2": (0.6, 0.5, 0.7)} for m in methods})
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    ticks = figure.axes[0].get_xticklabels()
    boxes = [t.get_window_extent(renderer) for t in ticks]
    assert all(box.x0 >= 0 and box.x1 <= figure.bbox.x1 for box in boxes), boxes
    assert all(left.x1 < right.x0 for left, right in itertools.pairwise(boxes)), boxes
    shown = [t.get_text() for t in ticks]
    assert len(set(shown)) == 4
    for name, label in zip(methods, shown, strict=True):
        assert all(piece in name for piece in label.split("...") if piece), label


def test_histogram_panels_of_a_lora_models_twelve_modules_have_twelve_titles():
    """A LoRA model's 12 modules (q/k/v x lora_A/B x 2 layers) had 6 panel titles: the names were cut from
    their first difference (the layer) and the q/k/v and A/B past the panel's 32 characters were lost.
    Truth: the modules' names are distinct, and each title is pieces of its own module's name."""
    names = [
        f"base_model.model.model.layers.{i}.self_attn.{m}_proj.lora_{ab}.default (Linear)"
        for i in (0, 1)
        for m in "qkv"
        for ab in "AB"
    ]
    figure = figures.histograms({n: {"step 1": [1.0, 2.0, 3.0]} for n in names})
    titles = [axes.get_title() for axes in figure.axes if axes.get_title()]
    assert len(set(titles)) == 12, titles
    for name, title in zip(names, titles, strict=True):
        assert all(piece in name for piece in title.split("...") if piece), title


def test_an_arm_without_a_mean_keeps_its_places_and_its_notes_within_the_axes():
    """`optimlab report st2 st1`, an interrupted study (no seed result yet) beside a finished one: the axes
    spanned the finished study's markers alone, so the interrupted one's places lay outside them, its note
    at the first method cut off past the axes' left edge, its note at the second drawn between the methods.
    A note beside the last group's marker (5 methods) ended past the right edge: it is written left of it.
    Truth: matplotlib's drawn extents: each note within the axes, on its own method's side of the midpoint."""
    methods = ("adam", "sgd")
    figure = figures.intervals(
        {m: {"st2": (math.nan, math.nan, math.nan), "st1": (0.9, 0.8, 1.0)} for m in methods},
        notes={m: {"st2": "no seed result yet"} for m in methods},
    )
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    box = axes.get_window_extent(renderer)
    drawn = [t.get_window_extent(renderer) for t in axes.texts if t.get_text() == "no seed result yet"]
    assert len(drawn) == 2 and all(box.x0 <= note.x0 and note.x1 <= box.x1 for note in drawn), (box, drawn)
    midpoint = axes.transData.transform((0.5, 0))[0]
    assert drawn[0].x1 < midpoint < drawn[1].x0
    methods = tuple(f"method{i}" for i in range(5))  # a note beside the last marker ended 55 px past the axes
    figure = figures.intervals(
        {m: {"st1": (0.9, 0.8, 1.0), "st2": (0.7, math.nan, math.nan)} for m in methods},
        notes={m: {"st2": "1 run: no interval"} for m in methods},
    )
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    box = axes.get_window_extent(renderer)
    drawn = [t.get_window_extent(renderer) for t in axes.texts]
    markers = axes.transData.transform([(i + 0.2, 0.7) for i in range(len(methods))])[:, 0]  # st2's
    assert len(drawn) == 5 and all(box.x0 <= note.x0 and note.x1 <= box.x1 for note in drawn), (box, drawn)
    assert all(note.x0 > x or note.x1 < x for note, x in zip(drawn, markers, strict=True))  # beside it


def test_a_y_label_of_math_is_broken_on_two_lines_outside_the_math():
    """The break of a long y label fell inside its $...$ math, each line then holding one '$': both drawn as
    raw TeX. Truth: matplotlib's own test of mathtext (cbook.is_math_text) on the line holding the math,
    which stays whole; the label is the one given, one space made a line break."""
    from matplotlib import cbook

    math = r"$\| \Delta w \|_2 \, / \, \| w \|_2$"
    ylabel = f"size of each step, mean {math} over seeds, 95% CI"
    groups = {"adam": {"a": (0.8, 0.7, 0.9)}, "sgd": {"a": (0.2, 0.1, 0.3)}}
    figure = figures.intervals(groups, title="t", xlabel="method", ylabel=ylabel)
    figure.canvas.draw()
    lines = figure.axes[0].get_ylabel().split("\n")
    assert len(lines) == 2 and " ".join(lines) == ylabel, lines
    assert [cbook.is_math_text(line) for line in lines].count(True) == 1
    assert any(math in line for line in lines), lines


def test_a_y_label_a_little_longer_than_its_axis_is_written_whole_on_two_lines():
    """A study's interval figure read 'test accuracy (fracti...orrect): mean, 95% CI': the label, one line
    longer than the axis, was cut in its middle where two lines hold it whole. Truth: matplotlib's renderer
    puts the drawn label within the figure and beside the axes' height."""
    ylabel = "test accuracy (fraction correct): mean, 95% CI"
    groups = {"adam": {"a": (0.8, 0.7, 0.9)}, "sgd": {"a": (0.2, 0.1, 0.3)}}
    title = "digits / mlp (test_accuracy): each study's result per method"
    figure = figures.intervals(groups, title=title, xlabel="method", ylabel=ylabel)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    label = axes.yaxis.label
    assert label.get_text().replace("\n", " ") == ylabel and label.get_text().count("\n") == 1
    box, frame = label.get_window_extent(renderer), axes.get_window_extent(renderer)
    assert box.x0 >= 0 and frame.y0 <= box.y0 and box.y1 <= frame.y1, (box, frame)


def test_an_x_label_a_little_longer_than_its_axis_is_written_whole_on_two_lines_outside_the_math():
    """An x label one line longer than its axis was cut in its middle ('...' and the whole only when
    hovered) where the y label was written on two lines: the same rule now, the break outside $...$ math.
    Its second line shortens the y axis: a y label that fitted it on one line then read 'test accuracy
    (fracti...orrect): mean, 95% CI' where two lines hold it. Truth: matplotlib's renderer puts both
    lines within the figure, under the tick labels and beside the axes' width, the y label whole beside
    the axes' height, and its cbook.is_math_text finds the math whole on one line."""
    from matplotlib import cbook

    math = r"$\| \Delta w \|_2$"
    xlabel = f"weight decay of the optimizer's decoupled term, scaled by {math} at the start, per layer"
    ylabel = "test accuracy (fraction correct): mean, 95% CI"  # on one line, its axis' height but for the x label's line
    figure = figures.lines(
        [1e-4, 1e-3, 1e-2], {"adam": [0.5, 0.4, 0.6]}, xlabel=xlabel, ylabel=ylabel, log_x=True
    )
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axes = figure.axes[0]
    label = axes.xaxis.label
    lines = label.get_text().split("\n")
    assert len(lines) == 2 and " ".join(lines) == f"{xlabel} (log)", lines  # its axis is log
    assert [cbook.is_math_text(line) for line in lines].count(True) == 1
    box, frame = label.get_window_extent(renderer), axes.get_window_extent(renderer)
    ticks = [t.get_window_extent(renderer) for t in axes.get_xticklabels() if t.get_text()]
    assert box.y0 >= 0 and frame.x0 <= box.x0 and box.x1 <= frame.x1, (box, frame)
    assert ticks and all(box.y1 <= tick.y0 for tick in ticks), (box, ticks)
    y_label = axes.yaxis.label
    assert y_label.get_text().replace("\n", " ") == ylabel, y_label.get_text()
    y_box = y_label.get_window_extent(renderer)
    assert y_box.x0 >= 0 and frame.y0 <= y_box.y0 and y_box.y1 <= frame.y1, (y_box, frame)
