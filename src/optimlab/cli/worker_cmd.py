"""``optimlab worker``: a process that trains the waiting trials of the studies in a shared storage."""

from __future__ import annotations

from typing import Annotated

import typer

from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._output import Output
from optimlab.number_text import count_of

EXAMPLES = """Examples:
  optimlab worker runs/compare-digits_mlp-20260101-120000
  optimlab worker postgresql://optimlab@db-host/studies --wait
  optimlab worker runs/sweep --name digits_mlp --methods adam,lion
"""


def worker(
    location: Annotated[
        str,
        typer.Argument(
            parser=checks.location,
            metavar="LOCATION",
            help="The study's output folder (journal file) or an RDB URL.",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", parser=checks.name, help="Only this study."),
    ] = None,
    methods: Annotated[
        str | None, typer.Option("--methods", help="Only these methods, comma-separated.")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Keep polling until the driver marks the studies done (start before `optimlab compare`).",
        ),
    ] = False,
    threads: o.StudyThreadsOpt = None,
    progress: o.ProgressOpt = True,
    fmt: o.FormatOpt = "human",
) -> None:
    """Train the waiting trials of a study storage.

    Takes them one at a time until none waits (or, with --wait, until the studies are done).
    """
    o.check_names(methods, "--methods")
    if not wait:  # a worker started before the driver (--wait) finds its study later
        o.checked(checks.study_location, location, "LOCATION")
    from optimlab.study import work
    from optimlab.study.storage import without_passwords
    from optimlab.study.worker import open_storage_checked

    output = Output(fmt)
    chosen = o.split_names(methods) or None
    # A study, name or method refused before the line that says work begins; work() takes the storage
    # so checked rather than opening it again (a journal replayed, or an engine connected, twice).
    checked = open_storage_checked(location, name, chosen) if not wait else None
    until = "the studies are done" if wait else "none waits"
    shown = without_passwords(location)  # a URL's password never reaches a terminal or a CI log
    doing = f"worker: training the waiting trials of {shown} until {until} (Ctrl-C stops)"
    with output.working(doing, shown=progress):
        given = {} if threads is None else {"threads": threads}  # else work's own default, 1
        ran = work(location, name=name, methods=chosen, wait=wait, storage=checked, **given)
    output.result(f"worker ran {count_of(ran, 'trial')} from {shown}", {"trials": ran, "storage": shown})
