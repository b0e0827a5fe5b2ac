"""``optimlab plot-schedule``: draw one or more learning-rate schedules to an image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimlab.cli._options import FormatOpt
from optimlab.cli._output import Output
from optimlab.errors import OptimlabError

EXAMPLES = """Examples:
  optimlab plot-schedule cosine --steps 1000 --warmup-steps 100
  optimlab plot-schedule cosine wsd one_cycle --steps 500 --lr 3e-3 --out schedules.svg
  optimlab plot-schedule step --option step_size=100 --option gamma=0.5
"""


def _parse_option(text: str) -> tuple[str, object]:
    import yaml

    if "=" not in text:
        raise OptimlabError(f"invalid --option {text!r}: write NAME=VALUE, e.g. gamma=0.5")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def plot_schedule(
    names: Annotated[list[str], typer.Argument(help="Schedule names (see 'optimlab list schedule').")],
    steps: Annotated[int, typer.Option("--steps", help="Total training steps.")] = 1000,
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", help="Linear warmup steps.")] = 0,
    lr: Annotated[float, typer.Option("--lr", help="Base (peak) learning rate.")] = 1.0,
    option: Annotated[list[str] | None, typer.Option("--option", help="Schedule keyword NAME=VALUE.")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Image file (.png or .svg).")] = Path(
        "schedule.png"
    ),
    fmt: FormatOpt = "human",
) -> None:
    """Plot learning rate against step for each schedule named."""
    from optimlab.schedules import create, plot

    options = dict(_parse_option(text) for text in option or [])
    schedules = {
        name: create(name, total_steps=steps, warmup_steps=warmup_steps, **options) for name in names
    }
    path = plot(schedules, steps, out_path, base_lr=lr)
    Output(fmt).result(f"wrote {path}", {"path": str(path)})
