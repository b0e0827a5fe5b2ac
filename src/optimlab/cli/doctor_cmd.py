"""``optimlab doctor``: run a recipe briefly with the instruments on; print ranked findings and fixes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimlab.cli import _options as o
from optimlab.cli._output import Output

EXAMPLES = """Examples:
  optimlab doctor --dataset digits
  optimlab doctor recipe.yaml --html doctor.html
  optimlab doctor --dataset digits --act sigmoid --depth 8 --init normal --steps 200
  optimlab doctor --dataset digits --optimizer sgd --lr 10 --no-lr-find
  optimlab doctor recipe.yaml --format json > findings.json
"""


def doctor(
    recipe_path: o.RecipeArg = None,
    dataset: o.DatasetOpt = None,
    scaling: o.ScalingOpt = None,
    model: o.ModelOpt = None,
    width: o.WidthOpt = None,
    depth: o.DepthOpt = None,
    init: o.InitOpt = None,
    act: o.ActOpt = None,
    norm: o.NormOpt = None,
    optimizer: o.OptimizerOpt = None,
    lr: o.LrOpt = None,
    weight_decay: o.WeightDecayOpt = None,
    schedule: o.ScheduleOpt = None,
    warmup_steps: o.WarmupOpt = None,
    epochs: o.EpochsOpt = None,
    batch_size: o.BatchOpt = None,
    grad_clip: o.ClipOpt = None,
    seed: o.SeedOpt = None,
    device: o.DeviceOpt = None,
    precision: o.PrecisionOpt = None,
    steps: Annotated[
        int | None,
        typer.Option("--steps", help="Training steps to watch (default: the recipe's run, at most 300)."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Write a report with per-layer plots here.")
    ] = None,
    lr_find: Annotated[
        bool, typer.Option("--lr-find/--no-lr-find", help="Run the LR range test first.")
    ] = True,
    fmt: o.FormatOpt = "human",
) -> None:
    """Diagnose a training setup: vanishing/exploding gradients, NaN origin, saturation, dead units,
    input scale, init scale, learning rate, plateau; each finding with its evidence and fix."""
    from optimlab.doctor import diagnose_recipe

    flags = {k: v for k, v in locals().items() if k in o.RECIPE_FLAGS and k != "steps"}
    recipe = o.recipe_from_options(recipe_path, flags)
    output = Output(fmt)
    if fmt == "human":
        with output.console.status(f"examining {recipe.model.name} on {recipe.data.name}"):
            diagnosis = diagnose_recipe(recipe, steps=steps, lr_find=lr_find)
    else:
        diagnosis = diagnose_recipe(recipe, steps=steps, lr_find=lr_find)
    if html is not None:
        from optimlab.doctor.report import write_html

        write_html(
            diagnosis,
            html,
            subtitle=f"recipe {recipe.id}: {recipe.model.name} on {recipe.data.name}, "
            f"{recipe.optimizer.name} lr {recipe.optimizer.lr or 'default'}",
        )
    if fmt == "json":
        output.result(
            "", {**diagnosis.to_dict(), "recipe_id": recipe.id, "html": str(html) if html else None}
        )
        return
    steps_seen = len(diagnosis.statistics.steps)
    if diagnosis.findings:
        rows = [(i + 1, f.severity, f.title, f.recommendation) for i, f in enumerate(diagnosis.findings)]
        output.table(
            f"Findings after {steps_seen} steps, root cause first", ("#", "severity", "finding", "fix"), rows
        )
    else:
        output.result(f"No findings after {steps_seen} steps: the run looks healthy.")
    if diagnosis.lr_range is not None:
        found = diagnosis.lr_range
        suggestion = f"lr {found.suggestion:.3g}" if found.suggestion is not None else "no lr"
        output.result(f"LR range test: {suggestion} ({found.reason})")
        if found.check is not None:
            scores = ", ".join(
                f"{c.lr:.3g}: {'diverged' if c.score is None else f'{c.score:.4g}'}" for c in found.candidates
            )
            output.result(f"Candidates ({found.check}): {scores}")
    if html is not None:
        output.result(f"wrote {html}")
