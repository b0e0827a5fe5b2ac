"""``optimlab list``: every registered technique, with its paper and hyperparameters."""

from __future__ import annotations

from typing import Annotated

import typer

from optimlab.cli._options import FormatOpt
from optimlab.cli._output import Output
from optimlab.registry import categories, get_registry

EXAMPLES = """Examples:
  optimlab list
  optimlab list optimizer
  optimlab list init --filter 'kaiming*'
  optimlab list activation --format json
"""


def list_techniques(
    category: Annotated[str | None, typer.Argument(help="One category: " + ", ".join(categories()))] = None,
    filter: Annotated[
        str | None, typer.Option("--filter", help="Shell wildcard on names, e.g. 'adam*'.")
    ] = None,
    fmt: FormatOpt = "human",
) -> None:
    """List techniques by category: name, aliases, summary, hyperparameters and paper."""
    out = Output(fmt)
    for name in [category] if category else categories():
        registry = get_registry(name)
        rows = [
            (
                registry.category,
                entry.name,
                ", ".join(entry.aliases),
                entry.summary,
                ", ".join(f"{h.name}={h.default!r}" for h in entry.hyperparameters),
                entry.paper,
            )
            for entry in registry
            if entry.name in registry.names(filter)
        ]
        out.table(
            f"{registry.category} ({len(rows)})",
            ("category", "name", "aliases", "summary", "hyperparameters", "paper"),
            rows,
        )
