"""The ``optimlab`` application: verbs registered here, known errors turned into short messages.

Set ``OPTIMLAB_DEBUG=1`` to see the full traceback of an error.
"""

from __future__ import annotations

import os
import sys

import click
import typer

from optimlab.cli import list_cmd, plot_schedule, train_cmd
from optimlab.cli._output import Output
from optimlab.errors import OptimlabError, close_matches

app = typer.Typer(name="optimlab", no_args_is_help=True, rich_markup_mode=None, add_completion=False,
                  help="Optimization of deep-learning training: every technique by name.")
app.command("list", epilog=list_cmd.EXAMPLES)(list_cmd.list_techniques)
app.command("train", epilog=train_cmd.EXAMPLES)(train_cmd.train)
app.command("plot-schedule", epilog=plot_schedule.EXAMPLES)(plot_schedule.plot_schedule)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; an OptimlabError prints one line and exits 2."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="optimlab", standalone_mode=False)
    except click.exceptions.UsageError as error:
        message = error.format_message()
        if "No such command" in message:
            name = message.split("'")[1] if "'" in message else ""
            matches = close_matches(name, command.commands)  # type: ignore[attr-defined]
            if matches:
                message += f" Did you mean {' or '.join(repr(m) for m in matches)}?"
        Output().error(message)
        sys.exit(2)
    except click.exceptions.Abort:
        Output().error("aborted")
        sys.exit(130)
    except click.exceptions.Exit as exit_:
        sys.exit(exit_.exit_code)
    except OptimlabError as error:
        if os.environ.get("OPTIMLAB_DEBUG"):
            raise
        Output().error(f"{error}\n(set OPTIMLAB_DEBUG=1 to see the traceback)")
        sys.exit(2)


if __name__ == "__main__":
    main()
