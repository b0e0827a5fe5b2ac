"""Line charts written straight to SVG: valid SVG, points where the axes' ticks say, gaps, log axes, the
house style's legend and reference lines, thinning; no matplotlib."""

import itertools
import math
import re
import xml.etree.ElementTree as ElementTree

import pytest

from optimlab.errors import InvalidValueError
from optimlab.report.line_chart import MAX_POINTS, line_chart, shortened_apart

SVG = "{http://www.w3.org/2000/svg}"


def _parsed(chart):
    return ElementTree.fromstring(chart.svg)


def _ticks(root, anchor):
    """(label, x, y) of the tick labels anchored ``middle`` (the x axis) or ``end`` (the y axis)."""
    return [
        (t.text, float(t.get("x")), float(t.get("y")))
        for t in root.iter(f"{SVG}text")
        if t.get("text-anchor") == anchor and t.get("font-size") == "10"
    ]


def _curves(root):
    """Each curve's list of pieces (a gap starts a new one), each piece a list of (x, y) pixels."""
    curves = []
    for path in root.iter(f"{SVG}path"):
        if path.find(f"{SVG}title") is None:
            continue
        pieces = []
        for command, x, y in re.findall(r"([ML])([-\d.]+) ([-\d.]+)", path.get("d")):
            if command == "M":
                pieces.append([])
            pieces[-1].append((float(x), float(y)))
        curves.append(pieces)
    return curves


def test_points_lie_where_the_ticks_say():
    xs, ys = [0, 1, 2, 3, 4], [0.0, 10.0, 20.0, 30.0, 40.0]
    root = _parsed(line_chart({"a": xs}, {"a": ys}, xlabel="step", ylabel="loss"))
    x_ticks = {float(label): x for label, x, _ in _ticks(root, "middle")}
    y_ticks = {float(label): y for label, _, y in _ticks(root, "end")}
    assert len(x_ticks) >= 4 and len(y_ticks) >= 4
    # Pixels per unit from two ticks, then every point placed by that map (labels sit 0.35 em low).
    (u0, p0), (u1, p1) = sorted(x_ticks.items())[:2]
    (v0, q0), (v1, q1) = sorted(y_ticks.items())[:2]
    [[points]] = _curves(root)
    for (x, y), (u, v) in zip(points, zip(xs, ys)):
        assert x == pytest.approx(p0 + (u - u0) * (p1 - p0) / (u1 - u0), abs=0.3)
        assert y == pytest.approx(q0 - 3.5 + (v - v0) * (q1 - q0) / (v1 - v0), abs=0.3)
    # Ticks on round numbers, with the data inside the axis.
    assert all(v % 10 == 0 for v in y_ticks) or all((v * 2) % 10 == 0 for v in y_ticks)
    assert min(y_ticks) <= 0.0 and max(y_ticks) >= 40.0 - 10


def test_a_log_axis_has_plain_labels_spaced_by_decades():
    ys = [10.0**-k for k in range(5)]  # 1 .. 1e-4
    root = _parsed(line_chart({"a": range(5)}, {"a": ys}, log_y=True))
    ticks = {label: y for label, _, y in _ticks(root, "end")}
    assert {"1", "0.1", "0.01", "0.001", "0.0001"} <= set(ticks)
    gaps = [ticks["0.1"] - ticks["1"], ticks["0.01"] - ticks["0.1"], ticks["0.001"] - ticks["0.01"]]
    assert max(gaps) - min(gaps) < 0.2 and min(gaps) > 0
    [[points]] = _curves(root)
    steps = [b[1] - a[1] for a, b in itertools.pairwise(points)]
    assert max(steps) - min(steps) < 0.2  # a geometric series is a straight line on a log axis


def test_under_two_decades_the_twos_and_fives_are_labelled_too():
    root = _parsed(line_chart({"a": [0, 1]}, {"a": [0.3, 2.0]}, log_y=True))
    assert {"0.5", "1", "2"} <= {label for label, _, _ in _ticks(root, "end")}


def test_a_loss_over_thirty_decades_labels_at_most_eight_powers_of_ten():
    root = _parsed(line_chart({"a": [1, 2, 3]}, {"a": [1.14, 3.8e29, math.nan]}, log_y=True))
    labels = [float(label) for label, _, _ in _ticks(root, "end")]
    assert 2 <= len(labels) <= 8 and min(labels) <= 1.14 and max(labels) >= 1e25
    assert all(math.log10(v) == round(math.log10(v)) for v in labels)


@pytest.mark.parametrize("last", [1, 3, 9, 12, 13, 14, 15, 40])
def test_a_step_axis_has_whole_numbers_only_spread_over_the_run(last):
    """12 steps (iris for 4 epochs) were ticked every 2.5: 2.5, 5.0, 7.5, 10.0, 12.5 optimizer steps; then
    (9b3bb849) at 5 and 10 only, for 12 to 14 steps, the last ones unlabelled. Truth: whole labels, evenly
    spaced, at least 3 where the run has 3 steps, the first in its first half and the last within one
    spacing of its last step."""
    steps = list(range(1, last + 1))
    root = _parsed(line_chart({"a": steps}, {"a": [1.0] * len(steps)}, whole_x=True))
    labels = [label for label, _, _ in _ticks(root, "middle")]
    assert labels and all(label.isdigit() for label in labels)
    values = [int(label) for label in labels]
    assert len(values) >= min(3, last)
    spacing = {b - a for a, b in itertools.pairwise(values)}
    assert len(spacing) <= 1 and values[0] <= max(1, last / 2)
    assert last - values[-1] < (spacing.pop() if spacing else 1)


def test_non_finite_values_and_non_positive_ones_on_a_log_axis_leave_gaps():
    ys = [1.0, 0.5, math.nan, 0.25, 0.0, 0.1, math.inf, 0.05]
    [pieces] = _curves(_parsed(line_chart({"a": range(8)}, {"a": ys}, log_y=True)))
    assert [len(piece) for piece in pieces] == [2, 1, 1, 1]


def test_a_legend_names_every_series_when_there_are_several_and_levels_are_named():
    one = line_chart({"loss": [1, 2, 3]}, {"loss": [3.0, 2.0, 1.0]}, levels={"chance 2.3": 2.3})
    assert "chance 2.3" in one.svg and "stroke-dasharray" in one.svg
    assert len(_curves(_parsed(one))) == 1
    assert all(t.find(f"{SVG}title") is None for t in _parsed(one).iter(f"{SVG}text"))  # no legend
    two = line_chart({"train": [1, 2], "val": [1, 2]}, {"train": [2.0, 1.0], "val": [2.5, 1.5]})
    legend = [t for t in _parsed(two).iter(f"{SVG}text") if t.find(f"{SVG}title") is not None]
    assert [t.find(f"{SVG}title").text for t in legend] == ["train", "val"]


def test_a_few_points_are_marked_and_a_long_series_is_thinned():
    sparse = line_chart({"a": [1, 2, 3]}, {"a": [1.0, 2.0, 3.0]})
    assert sparse.svg.count("a3 3 0 1 0 6 0") == 3  # a dot (two half circles) at each point
    count = 10_000
    ys = [math.sin(i / 100) for i in range(count)]
    ys[4321] = 50.0
    [[points]] = _curves(_parsed(line_chart({"a": range(count)}, {"a": ys})))
    assert len(points) <= MAX_POINTS + 2
    ys_shown = sorted(y for _, y in points)  # SVG's y grows downwards: the spike is the smallest
    assert ys_shown[1] - ys_shown[0] > 200  # kept, alone, far above a curve in [-1, 1]


def test_a_chart_saves_as_svg_only(tmp_path):
    chart = line_chart({"a": [0, 1]}, {"a": [1.0, 2.0]}, title="t")
    saved = chart.save(tmp_path / "c.svg")
    assert ElementTree.parse(saved).getroot().tag == f"{SVG}svg"
    with pytest.raises(InvalidValueError, match=r"\.png.*\.svg"):
        chart.save(tmp_path / "c.png")


def test_long_legend_labels_keep_their_start_and_end_so_runs_stay_apart():
    stem = "a_very_long_run_name_typed_for_an_experiment_with_adamw_and_cosine_warmup"
    labels = [f"{stem}_seed1", f"{stem}_seed2", "plain"]
    chart = line_chart({n: [1, 2] for n in labels}, {n: [2.0, 1.0] for n in labels})
    legend = [t for t in _parsed(chart).iter(f"{SVG}text") if t.find(f"{SVG}title") is not None]
    shown = {t.find(f"{SVG}title").text: t.find(f"{SVG}title").tail for t in legend}  # hovered: shown
    assert shown["plain"] == "plain"
    assert shown[labels[0]] != shown[labels[1]]  # the seed at the end tells them apart
    for label in labels[:2]:
        assert len(shown[label]) <= 40 and shown[label].startswith("a_very_long")
        assert shown[label].endswith(label[-5:])


@pytest.mark.parametrize(
    ("ys", "level"),
    [
        ([2.3 * 0.9**i for i in range(40)], 2.3),  # a loss that starts at chance (ln 10)
        ([0.1 + 0.02 * i for i in range(40)], 0.1),  # an accuracy that starts at chance (1/10)
        ([0.5 + 0.0115 * i for i in range(40)], 0.95),  # an accuracy that ends at its target
    ],
    ids=["loss-from-chance", "accuracy-from-chance", "accuracy-to-target"],
)
def test_a_reference_line_is_named_where_no_curve_passes(ys, level):
    root = _parsed(line_chart({"a": range(40)}, {"a": ys}, levels={"reference": level}))
    [label] = [t for t in root.iter(f"{SVG}text") if t.text == "reference"]
    x, y, width = float(label.get("x")), float(label.get("y")), len("reference") * 8 * 0.6
    left = x - width if label.get("text-anchor") == "end" else x
    [[points]] = _curves(root)
    inside = [(u, v) for u, v in points if left - 2 <= u <= left + width + 2 and y - 10 <= v <= y + 2]
    assert not inside, f"the curve passes under the name at {inside[:3]}"
    assert label.get("stroke") == "white"  # a halo keeps it legible over a curve that comes close


def test_a_log_axis_writes_its_labels_in_one_notation():
    """A diverged loss's axis read 1, 100000, 1e+10, 1e+15: two notations down one axis."""
    root = _parsed(line_chart({"a": [1, 2, 3]}, {"a": [1.14, 3.8e29, math.nan]}, log_y=True))
    labels = [label for label, _, _ in _ticks(root, "end")]
    assert all(re.fullmatch(r"\d(\.\d+)?e[+-]\d\d", label) for label in labels), labels
    assert [float(label) for label in labels] == sorted(float(label) for label in labels)


@pytest.mark.parametrize(
    ("ys", "drawn"),
    [
        ([0.89, 0.95, 0.97, 0.975, 0.98], False),  # accuracies far above chance: the axis stays on them
        ([0.1, 0.5, 0.9, 0.95, 0.97], True),  # a run that learns from chance
        ([2.302, 2.301, 2.3025, 2.3024, 2.3022], True),  # a loss stuck at chance (ln 10)
    ],
    ids=["far", "from-chance", "stuck-at-chance"],
)
def test_a_reference_line_far_from_the_curves_is_named_at_the_edge_not_drawn(ys, drawn):
    """Validation accuracies of 0.89 to 0.98 filled the top tenth of an axis stretched down to chance (0.1)."""
    level = 2.302585 if ys[0] > 2 else 0.1
    root = _parsed(line_chart({"a": range(5)}, {"a": ys}, levels={"chance": level}))
    y_ticks = [float(label) for label, _, _ in _ticks(root, "end")]
    names = [t.text for t in root.iter(f"{SVG}text") if t.text and t.text.startswith("chance")]
    dashed = [p for p in root.iter(f"{SVG}path") if p.get("stroke-dasharray") == "1.5 2.5"]
    if drawn:
        assert names == ["chance"] and len(dashed) == 1
    else:
        assert names == ["chance (below the axis)"] and not dashed and min(y_ticks) > 0.5


def test_an_axis_label_longer_than_its_axis_is_cut_in_its_middle_and_whole_when_hovered():
    """A user's metric named in 150 characters (val_fff...) was written whole as the y label, some 1,000
    pixels of text along an axis of about 350 in a chart of 400, its ends off the chart. Truth: at 11 px
    and 0.6 em a character, about 50 characters fit; the label keeps its start and end, and its whole as
    a tooltip."""
    name = "val_" + "f" * 146
    svg = line_chart({"a": [1, 2]}, {"a": [0.5, 0.6]}, xlabel="step", ylabel=name).svg
    texts = re.findall(r"<text[^>]*>(?:<title>[^<]*</title>)?([^<]*)</text>", svg)
    (shown,) = [t for t in texts if t.startswith("val_")]
    assert len(shown) * 11 * 0.6 < 400 and shown.startswith("val_f") and "..." in shown, shown
    assert f"<title>{name}</title>" in svg


def test_long_legend_labels_that_cut_alike_are_cut_where_they_differ():
    """A LoRA model's layers (doctor's update ratio by layer) all read 'base_model.model.mo...A.default
    (Linear)': their start and end are alike, the layer's number is in their middle. Truth: each name shown
    is a piece of its own label, within 40 characters, and no two read alike."""
    labels = [
        f"base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.default (Linear)" for i in (1, 2, 10)
    ]
    chart = line_chart({n: [1, 2] for n in labels}, {n: [2.0, 1.0] for n in labels})
    legend = [t for t in _parsed(chart).iter(f"{SVG}text") if t.find(f"{SVG}title") is not None]
    shown = {t.find(f"{SVG}title").text: t.find(f"{SVG}title").tail for t in legend}
    assert len(set(shown.values())) == 3, shown
    for label, name in shown.items():
        assert len(name) <= 40 and all(piece in label for piece in name.split("...") if piece), name


@pytest.mark.parametrize(
    ("labels", "limit"),
    [
        ([f"base_model.model.model.layers.{i}.self_attn.{m}_proj.lora_{ab}.default (Linear)"
          for i in (0, 1) for m in "qkv" for ab in "AB"], 32),
        ([f"runs/2024/{w}/very/long/common/middle/part/{s}/metric" for w in "ab" for s in "xy"], 16),
        ([f"mypkg.optimizers:AdamVersion{v}ExperimentalFinalBuild" for v in (1, 2)], 16),  # one long word
        (["/x/a_xbb8bbxa", "/x/a_x2b_bbxa"], 12),  # no room around the stretch
    ],
)  # fmt: skip
def test_names_that_differ_in_two_places_are_cut_apart(labels, limit):
    """Look-alikes were cut from where they first differ, so names differing again further on read alike:
    a LoRA model's 12 modules (q/k/v x lora_A/B x 2 layers) gave 6 names at 32 characters (a histogram
    panel's title), and runs differing in two folders 2 names of 4 at 16. Truth: the labels are distinct; each name is within
    ``limit`` and pieces of its own label."""
    names = shortened_apart(labels, limit)
    assert len(set(names.values())) == len(labels), names
    for label, name in names.items():
        assert len(name) <= limit and all(piece in label for piece in name.split("...") if piece), name
