"""``optimlab list``: every registered technique, with its paper and hyperparameters."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import typer

from optimlab.cli import _checks as checks
from optimlab.cli._options import FormatOpt
from optimlab.cli._output import Output
from optimlab.errors import close_matches, did_you_mean
from optimlab.registry import categories, normalize_name

EXAMPLES = """Examples:
  optimlab list
  optimlab list optimizer
  optimlab list init --filter 'kaiming*'
  optimlab list activation --format json
"""


def _about(row: dict[str, Any]) -> str:
    """Everything but the name in one column that wraps between words: it reads at 80 columns."""
    lines = [row["summary"]]
    if row["defaults"]:
        lines.append(f"hyperparameters: {row['defaults']}")
    lines.extend(f"{name} left out: {words}" for name, words in row["left_out"].items())
    if row["paper"]:
        lines.append(f"paper: {row['paper']}")
    if row["aliases"]:
        lines.append("aliases: " + ", ".join(row["aliases"]))
    return "\n".join(lines)


# ``--filter``: a pattern with something in it; an empty one (``--filter ''``, an unset shell variable)
# matched no name and exited 0, as a pattern that matches nothing does
wildcard = partial(checks.given, what="a shell wildcard, e.g. 'adam*', or leave --filter out")


def list_techniques(
    category: Annotated[
        str | None, typer.Argument(metavar="CATEGORY", help="One category: " + ", ".join(categories()))
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter", parser=wildcard, help="Shell wildcard on names and aliases, any case, e.g. 'adam*'."
        ),
    ] = None,
    fmt: FormatOpt = "human",
) -> None:
    """List the techniques by category.

    Each with its aliases, summary, hyperparameters and paper.
    """
    from optimlab.cli._catalog import COLUMNS, listing

    out = Output(fmt)
    found = listing(category, filter)
    shown = dict.fromkeys(row["category"] for row in listing(category))
    if not out.human:  # a key per category, as the tables; a field per column, the aliases a list
        fields = COLUMNS[1:]
        out.result(
            "", {name: [{f: r[f] for f in fields} for r in found if r["category"] == name] for name in shown}
        )
        return
    if filter is not None:  # only the categories it matched in; where it matched nothing, that line alone
        shown = dict.fromkeys(row["category"] for row in found)
        if not shown:
            every = " ".join(["optimlab list", *([category] if category else [])])
            names = [n for row in listing(category) for n in (row["name"], *row["aliases"])]
            near = close_matches(normalize_name(filter), names)  # a name typed one letter off: 'adamm'
            hint = did_you_mean(near)
            out.result(f"no {category or 'technique'} name matches {filter!r}{hint}; {every} shows them all")
            return
    for name in shown:
        rows = [(row["name"], _about(row)) for row in found if row["category"] == name]
        out.table(f"{name} ({len(rows)})", ("name", "about"), rows, unbroken=("name",))
