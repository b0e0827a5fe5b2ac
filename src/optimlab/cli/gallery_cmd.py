"""``optimlab gallery``: list the evidence gallery's experiments; ``optimlab gallery run NAME|all`` runs them
and writes their pages (figures, verdict from the numbers, every run's recipe) and, for ``all``, an index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimlab.cli import _options as o
from optimlab.cli._output import Output

ALL = "all"
EXAMPLES = """Examples:
  optimlab gallery
  optimlab gallery run small_init
  optimlab gallery run all --out gallery
  optimlab gallery run adam_best --size large --out gallery-gpu
  optimlab gallery --format json
"""

app = typer.Typer(
    name="gallery",
    rich_markup_mode=None,
    add_completion=False,
    epilog=EXAMPLES,
    help="Tutorial claims and classic results, each tested by runs and judged by its numbers.",
)


@app.callback(invoke_without_command=True, epilog=EXAMPLES)
def gallery(ctx: typer.Context, fmt: o.FormatOpt = "human") -> None:
    """List the experiments: name, what it tests, and its source. Run one with 'optimlab gallery run NAME'."""
    if ctx.invoked_subcommand is not None:
        return
    from optimlab.gallery import experiments

    rows = [(e.name, e.obj.kind.replace("_", " "), e.summary, e.paper) for e in experiments()]
    Output(fmt).table(
        "Experiments (optimlab gallery run NAME, or all)", ("name", "kind", "summary", "source"), rows
    )


@app.command("run", epilog=EXAMPLES)
def run(
    name: Annotated[str, typer.Argument(help="An experiment (see 'optimlab gallery'), or 'all'.")],
    size: Annotated[
        str, typer.Option("--size", help="small (CPU, minutes), large (a GPU), or tiny (a smoke test).")
    ] = "small",
    out: Annotated[Path, typer.Option("--out", help="Folder for the pages and their numbers.")] = Path(
        "gallery"
    ),
    fmt: o.FormatOpt = "human",
) -> None:
    """Run an experiment (or all of them) and write its page: figures, the verdict computed from the numbers,
    every run's recipe, and the source it tests."""
    from optimlab.gallery import Outcome, run_experiment, run_gallery

    output = Output(fmt)

    def started(experiment: str, i: int, count: int) -> None:
        if fmt == "human":
            output.result(f"[{i + 1}/{count}] {experiment} ({size}) ...")

    def done(outcome: Outcome, page: Path) -> None:
        output.result(
            f"  {outcome.verdict.label} in {outcome.seconds:.0f} s: {page}",
            {
                "name": outcome.name,
                "verdict": outcome.verdict.label,
                "seconds": round(outcome.seconds, 1),
                "page": str(page),
            },
        )

    if name != ALL:
        started(name, 0, 1)
        done(*run_experiment(name, size=size, out=out))
        return
    index = run_gallery(size=size, out=out, on_start=started, on_done=done)
    output.result(f"index: {index}", {"index": str(index)})
