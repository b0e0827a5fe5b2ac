"""Reports: self-contained HTML pages (:class:`Page`) and the figures they hold (:mod:`.figures`).

Used by ``optimlab doctor --html``, and meant for studies and benchmarks: a page is built from
sections, tables and figures in order, and written as one file that needs no network to view.
"""

from optimlab.report import figures
from optimlab.report.environment import machine_and_versions
from optimlab.report.html import Page

__all__ = ["Page", "figures", "machine_and_versions"]
