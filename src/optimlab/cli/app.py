"""The ``optimlab`` application: verbs registered here, known errors turned into short messages.

Set ``OPTIMLAB_DEBUG=1`` to see the full traceback of an error.
"""

from __future__ import annotations

import os
import sys

import typer

from optimlab.cli import (
    bench_cmd,
    compare_cmd,
    doctor_cmd,
    gallery_cmd,
    list_cmd,
    lr_find_cmd,
    plot_schedule,
    report_cmd,
    train_cmd,
    worker_cmd,
)
from optimlab.cli._output import Output
from optimlab.errors import OptimlabError

app = typer.Typer(
    name="optimlab",
    no_args_is_help=True,
    rich_markup_mode=None,
    add_completion=False,
    help="Optimization of deep-learning training: every technique by name.",
)
app.command("list", epilog=list_cmd.EXAMPLES)(list_cmd.list_techniques)
app.command("train", epilog=train_cmd.EXAMPLES)(train_cmd.train)
app.command("doctor", epilog=doctor_cmd.EXAMPLES)(doctor_cmd.doctor)
app.command("lr-find", epilog=lr_find_cmd.EXAMPLES)(lr_find_cmd.lr_find)
app.command("compare", epilog=compare_cmd.EXAMPLES)(compare_cmd.compare)
app.command("worker", epilog=worker_cmd.EXAMPLES)(worker_cmd.worker)
app.command("bench", epilog=bench_cmd.EXAMPLES)(bench_cmd.bench)
app.add_typer(gallery_cmd.app, name="gallery")
app.command("plot-schedule", epilog=plot_schedule.EXAMPLES)(plot_schedule.plot_schedule)
app.command("report", epilog=report_cmd.EXAMPLES)(report_cmd.report)


def main(argv: list[str] | None = None) -> None:
    """Entry point. Usage errors (unknown verbs and flags get close matches) exit 2 through typer;
    an OptimlabError prints one line naming the bad value and exits 2."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="optimlab")
    except OptimlabError as error:
        if os.environ.get("OPTIMLAB_DEBUG"):
            raise
        Output().error(f"{error}\n(set OPTIMLAB_DEBUG=1 to see the traceback)")
        sys.exit(2)


if __name__ == "__main__":
    main()
