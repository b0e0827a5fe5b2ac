"""`optimlab gallery run all` (size tiny) opened in headless Chromium: the index and every page render, every
figure drawn, no script error, each link of the index leading to a page that does the same.

Uses the in-page check of the report tests (tests/report/test_browser.py); needs Debian's chromium
(``apt-get install -y chromium``) and is skipped, saying so, where it is missing.
"""

import re

import pytest
from report.test_browser import CHROMIUM, assert_every_figure_rendered, rendered, screenshot

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)"
    ),
    pytest.mark.slow,
]


def test_index_renders_and_links_every_experiment(tiny_gallery, tmp_path):
    seen = rendered(tiny_gallery.index, tmp_path)
    assert seen["errors"] == [] and seen["figures"] == [] and seen["headings"] >= 3 and seen["tables"] == 1
    links = re.findall(r'<a href="([^"]+)">', tiny_gallery.index.read_text(encoding="utf-8"))
    assert sorted(links) == sorted(f"{name}.html" for name in tiny_gallery.outcomes)
    assert screenshot(tiny_gallery.index, tmp_path).name == "index.png"


def test_every_experiment_page_renders_every_figure(tiny_gallery, tmp_path):
    for name, page in tiny_gallery.pages.items():
        seen = rendered(page, tmp_path)
        assert_every_figure_rendered(seen, page)
        assert seen["headings"] >= 6 and seen["tables"] >= 3, name
        # no word of a cell broken inside (a squeezed column broke 'back-propagated' at its hyphen)
        assert seen["overflow"] == 0 and seen["broken"] == [], (name, seen["overflow"], seen["broken"])
