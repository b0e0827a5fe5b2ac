"""The HTML page: well-formed, escaped, self-contained (no script, no network), figures inline."""

from __future__ import annotations

import html.parser
from xml.etree import ElementTree

from optimlab.report import Page, figures
from optimlab.report.line_chart import line_chart


class Outline(html.parser.HTMLParser):
    """Collects tags, attributes and text; checks that every opened element is closed in order."""

    VOID = frozenset({"meta", "br", "img", "hr", "input", "link"})

    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.attributes, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (
            f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        )
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def outline(text: str) -> Outline:
    parser = Outline()
    parser.feed(text)
    parser.close()
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def test_a_page_with_every_kind_of_block_is_well_formed_and_self_contained(tmp_path):
    figure = figures.lines([1, 2, 3], {"loss": [3.0, 2.0, 1.0]}, title="curve")
    page = (
        Page("Report <1>", "a & b")
        .section("Numbers", "some <b>text</b>")
        .table(
            ["name", "value"],
            [["accuracy", 0.97312], ["steps", 340], ["missing", None]],
            row_classes=["error", "warning", "info"],
            caption="metrics",
        )
        .figure(figure, "a curve")
        .paragraph("small print", note=True)
    )
    path = page.write(tmp_path / "deep" / "page.html")
    text = path.read_text(encoding="utf-8")
    parsed = outline(text)
    assert (
        text.startswith("<!DOCTYPE html>") and parsed.tags.count("svg") == 1 and "script" not in parsed.tags
    )
    links = [value for name, value in parsed.attributes if name in ("src", "href") and value]
    assert all(not value.startswith(("http:", "https:", "//")) and "#" in value for value in links), links
    words = " ".join(parsed.text)
    assert (
        "Report <1>" in words and "some <b>text</b>" in words and "a & b" in words
    )  # escaped, shown as text
    assert "0.9731" in words and "340" in words and "b" not in parsed.tags


def test_numbers_are_right_aligned_and_rows_carry_their_class():
    text = Page("t").table(["a", "b"], [["x", 1.5]], row_classes=["error"]).render()
    assert '<tr class="error"><td>x</td><td class="number">1.5</td></tr>' in text


def test_links_are_escaped_and_point_where_they_say():
    text = Page("t").links([("he init.html?a=1&b=2", "He <init>", "supported & measured")]).render()
    parsed = outline(text)
    assert ("href", "he init.html?a=1&b=2") in parsed.attributes  # the parser unescapes the attribute
    assert "He <init>" in parsed.text and " supported & measured" in parsed.text
    assert '<a href="he init.html?a=1&amp;b=2">He &lt;init&gt;</a>' in text


def test_save_figures_writes_each_figure_in_page_order_a_line_chart_as_svg(tmp_path):
    """A PNG asked of a page with a line chart (SVG only) writes that chart as SVG, the rest as PNG."""
    chart = line_chart({"loss": [1, 2, 3]}, {"loss": [3.0, 2.0, 1.0]}, title="run")
    page = Page("t").figure(figures.lines([1, 2], {"a": [1.0, 2.0]}), "first").figure(chart, name="curves")
    paths = page.save_figures(tmp_path / "figures")
    assert [p.name for p in paths] == ["01-first.png", "02-curves.svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert ElementTree.parse(paths[1]).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_a_cell_wraps_between_its_words_only_each_word_kept_whole():
    """A cell of several words wraps between them (kept on one line, a leaderboard's short cells made it
    wider than the page) but not inside a word at its hyphen or slash; the text stays escaped."""
    page = (
        Page("t").table(["lr_max"], [["is back-propagated, a<b&c-d", "adam-3e-3", "failed trials"]]).render()
    )
    assert (
        '<td>is <span class="word">back-propagated,</span> <span class="word">a&lt;b&amp;c-d</span></td>'
        '<td><span class="word">adam-3e-3</span></td><td>failed trials</td>' in page
    )
    assert "<th>lr_<wbr>max</th>" in page and page.count("white-space:nowrap") == 1  # for .word only


def test_a_page_without_its_drawings_reads_as_its_render_without_them():
    """--resume compares a kept page's words without drawing its figures: the page as written, its drawings
    taken out, must read as the page rendered undrawn, or every kept page is written again. Truth: the
    drawn page's own text, each <svg> element (matplotlib's, a line chart's) removed."""
    from optimlab.report.html import without_drawings

    chart = line_chart({"a": [1, 2]}, {"a": [1.0, 2.0]}, title="t", xlabel="x", ylabel="y")
    page = Page("t").figure(figures.lines([1, 2], {"a": [1.0, 2.0]}), "drawn by matplotlib").figure(chart)
    drawn = page.render()
    assert drawn.count("<svg") == 2 and "<svg" not in page.render(drawn=False)
    assert without_drawings(drawn) == page.render(drawn=False)
