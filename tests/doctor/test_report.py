"""The doctor's report page and the LR range plot."""

from __future__ import annotations

import html.parser
import math

import pytest

from doctor.setups import Setup, mlp, pixels
from optimlab.doctor.report import plot_lr_range, write_html


class Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.words, self.svgs = [], 0

    def handle_starttag(self, tag, attrs):
        self.svgs += tag == "svg"

    def handle_data(self, data):
        self.words.append(data)


def test_the_report_shows_the_ranked_findings_and_every_figure(tmp_path):
    # lr candidates checked 50 steps: the same five findings and suggestion as at 200, 2.0 -> 0.8 s CPU
    diagnosis = Setup(mlp, pixels, "sgd", 0.1).diagnose(steps=60, check_steps=50)
    path = write_html(diagnosis, tmp_path / "doctor.html")
    parser = Text()
    parser.feed(path.read_text(encoding="utf-8"))
    text = " ".join(parser.words)
    first = diagnosis.findings[0]
    assert first.rule == "input_scale" and first.title in text and first.recommendation in text
    assert len(diagnosis.findings) > 2 and text.index(first.title) < text.index(diagnosis.findings[-1].title)
    # LR curve, loss, gradient heat map, update ratios, activation histograms
    assert parser.svgs == 5 and "Learning-rate range test" in text and "gradient_norm" in text
    assert "Gradient norm by layer and step" in text  # figure text stays text


@pytest.fixture(scope="module")
def adam_on_pixels():
    """One short diagnosis (its lr candidates checked 50 steps) read by the plot and the title tests."""
    return Setup(mlp, pixels, "adam", 1e-3).diagnose(steps=5, check_steps=50)


def test_the_lr_range_plot_is_written_in_the_format_asked(tmp_path, adam_on_pixels):
    diagnosis = adam_on_pixels
    assert plot_lr_range(diagnosis.lr_range, tmp_path / "lr.svg").read_text().count("<svg") == 1


def test_the_lr_range_figure_is_not_flattened_by_the_divergence():
    from optimlab.doctor.lr_find import LRRangeResult
    from optimlab.doctor.report import lr_range_figure

    lrs = [10 ** (-6 + i / 10) for i in range(50)]
    losses = [2.3 - 1.5 * i / 40 for i in range(40)] + [1e3 * (i + 1) for i in range(10)]
    result = LRRangeResult(lrs, losses, losses, 1e-3, lrs[39], 1e-3, lrs[-1], "test")
    low, high = lr_range_figure(result).axes[0].get_ylim()
    assert math.isclose(high, 1.5 * 2.3) and low == 0.0  # the part that chooses the lr fills the axes


def test_the_title_names_the_model_and_data_examined(tmp_path, adam_on_pixels):
    """`optimlab doctor --html` pages were all titled 'optimlab doctor', whatever they examined."""
    from optimlab.recipe import Recipe

    diagnosis = adam_on_pixels
    recipe = Recipe.from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"}})
    page = write_html(diagnosis, tmp_path / "doctor.html", recipe=recipe).read_text(encoding="utf-8")
    assert "<title>optimlab doctor: mlp on digits</title>" in page
    assert "<title>optimlab doctor</title>" in write_html(diagnosis, tmp_path / "bare.html").read_text()


def test_a_subtitle_given_keeps_the_steps_examined_and_the_verdict(tmp_path, page_reader):
    """`optimlab doctor --html` passed its recipe line as the subtitle, which replaced '60 training steps
    examined. 2 problem(s) found...': the CLI's page never said how many steps it read, nor its verdict."""
    # lr candidates checked 50 steps: the same three findings and suggestion as at 200, 2.2 -> 0.7 s CPU
    diagnosis = Setup(mlp, pixels, "sgd", 0.1).diagnose(steps=12, check_steps=50)
    path = write_html(diagnosis, tmp_path / "doctor.html", subtitle="recipe 52db6f36ec6c: mlp on digits")
    (subtitle,) = page_reader(path.read_text(encoding="utf-8")).paragraphs[:1]
    problems = [f for f in diagnosis.findings if f.severity in ("error", "warning")]
    assert subtitle.startswith("recipe 52db6f36ec6c: mlp on digits. 12 training steps examined. ")
    assert (
        subtitle.endswith(f"{len(problems)} problem(s) found; the root cause is listed first.") and problems
    )


def test_the_candidates_table_shows_the_held_out_loss_that_decides_among_accuracies(tmp_path, page_reader):
    """The page's paragraph cites the loss tie-break among equal accuracies (lr_check, point 2), and its
    table showed a 'held-out score' alone: the chosen candidate of lower accuracy stood on evidence not
    shown. The table names the metric and shows the held-out loss, as lr-find's does."""
    import torch
    from torch import nn

    from optimlab.doctor import diagnose
    from optimlab.doctor.lr_find import Candidate, LRRangeResult

    data = (torch.randn(32, 4), torch.randint(0, 3, (32,)))
    diagnosis = diagnose(nn.Linear(4, 3), data, nn.CrossEntropyLoss(), steps=3, lr_find=False)
    checked = [Candidate(1e-3, "lowest loss", 0.9, 0.5), Candidate(2e-3, "steepest descent", 0.85, 0.25),
               Candidate(4e-3, "lowest loss x 2", None, None)]  # fmt: skip
    lrs = [10 ** (k / 4 - 5) for k in range(12)]
    diagnosis.lr_range = LRRangeResult(
        lrs, [1.0] * 12, [1.0] * 12, 2e-3, 1e-3, 2e-3, None, "the check's choice", checked, "100 steps each",
        metric="accuracy",
    )  # fmt: skip
    page = page_reader(write_html(diagnosis, tmp_path / "doctor.html").read_text(encoding="utf-8"))
    (table,) = [t for t in page.tables if "from the curve" in t.header]
    assert table.header == ["lr", "from the curve", "held-out accuracy", "held-out loss", ""]
    assert table.rows == [
        ["0.001", "lowest loss", "0.9", "0.5", ""],
        ["0.002", "steepest descent", "0.85", "0.25", "suggested"],
        ["0.004", "lowest loss x 2", "diverged", "-", ""],
    ]
