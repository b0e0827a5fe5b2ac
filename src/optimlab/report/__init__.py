"""Reports: self-contained HTML pages (:class:`Page`) and the figures they hold (:mod:`.figures`, drawn
with matplotlib, imported on first use; :mod:`.line_chart`, written straight to SVG).

Used by ``optimlab doctor --html``, and meant for studies and benchmarks: a page is built from
sections, tables and figures in order, and written as one file that needs no network to view.
"""

import importlib
from typing import Any

from optimlab.report.environment import machine_and_versions
from optimlab.report.html import Page

__all__ = ["Page", "figures", "machine_and_versions"]


def __getattr__(name: str) -> Any:
    """``report.figures`` on first use: matplotlib's import costs a second that a page of line charts,
    or a tracker reading run folders, need not pay."""
    if name == "figures":
        return importlib.import_module("optimlab.report.figures")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
