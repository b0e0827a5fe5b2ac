"""``optimlab lr-find``: the LR range test of a recipe, its candidates checked by runs: a suggested
lr, the curve and the candidates' held-out scores behind it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._errors import FileAsked
from optimlab.cli._output import Output
from optimlab.errors import InvalidValueError
from optimlab.number_text import count_of
from optimlab.registry import POSITIVE, POSITIVE_INT, SWEEP_STEPS

if TYPE_CHECKING:  # torch is imported when the verb runs, not at start-up
    from optimlab.doctor.lr_find import LRRangeResult
    from optimlab.recipe import Recipe

EXAMPLES = """Examples:
  optimlab lr-find --dataset digits --optimizer adam
  optimlab lr-find recipe.yaml --plot lr.png
  optimlab lr-find --dataset mnist1d --model cnn --optimizer sgd --start-lr 1e-5 --end-lr 10 --sweep-steps 200
  optimlab lr-find recipe.yaml --format json
"""


def lr_find(
    ctx: typer.Context,
    recipe_path: o.RecipeArg = None,
    dataset: o.DatasetOpt = None,
    target: o.TargetOpt = None,
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
    epochs: o.EpochsOpt = None,  # the candidates' check runs the recipe's run (at most --check-steps)
    batch_size: o.BatchOpt = None,
    grad_clip: o.ClipOpt = None,  # the sweep and the check clip as the recipe does
    seed: o.SeedOpt = None,
    device: o.DeviceOpt = None,
    precision: o.PrecisionOpt = None,
    set_fields: o.SetOpt = None,
    threads: o.ThreadsOpt = None,
    start_lr: Annotated[
        float, typer.Option("--start-lr", parser=o.number(POSITIVE), help="Smallest lr of the sweep.")
    ] = 1e-7,
    end_lr: Annotated[
        float, typer.Option("--end-lr", parser=o.number(POSITIVE), help="Largest lr of the sweep.")
    ] = 10.0,
    sweep_steps: Annotated[
        int,
        typer.Option("--sweep-steps", parser=o.number(SWEEP_STEPS), help="Steps of the sweep."),
    ] = 100,
    check_steps: Annotated[
        int | None,
        typer.Option(
            "--check-steps",
            parser=o.number(POSITIVE_INT),
            help="Steps of each candidate's check.",
        ),
    ] = None,
    check_budget: o.CheckBudgetOpt = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", parser=checks.writable_file(".png", ".svg"), help="Draw the curve to this .png or .svg."
        ),
    ] = None,
    progress: o.ProgressOpt = True,
    fmt: o.FormatOpt = "human",
) -> None:
    """Find a learning rate: a range test, its candidates tried.

    Sweeps the lr exponentially over a short run (Smith 2017), trains each candidate lr over the
    recipe's run (at most --check-steps), and suggests the one that scores best on the validation split.
    """
    if end_lr <= start_lr:  # the flag typed is named, the other end said where it is its default
        typed = {name: ctx.get_parameter_source(name).name != "DEFAULT" for name in ("start_lr", "end_lr")}
        if not typed["end_lr"]:
            raise InvalidValueError(
                "--start-lr",
                start_lr,
                f"a learning rate in (0, {end_lr:g}): below --end-lr (its default {end_lr:g})",
            )
        start = f"--start-lr {start_lr:g}" + ("" if typed["start_lr"] else " (its default)")
        raise InvalidValueError("--end-lr", end_lr, f"a learning rate above {start}")
    if ctx.params.get("lr") is not None:  # it changed nothing: the sweep sets every lr
        raise InvalidValueError("--lr", ctx.params["lr"], "none: lr-find sweeps from --start-lr to --end-lr")
    recipe = o.recipe_from_options(recipe_path, ctx.params)
    o.use_threads(threads)
    from optimlab.doctor import find_lr_recipe
    from optimlab.doctor.progress import listening

    output = Output(fmt)
    checked: dict[str, Any] = {
        "check_budget": o.check_budget(check_budget),
        "check_steps_named": "--check-steps",
    }
    if check_steps is not None:
        checked["check_steps"] = check_steps
    doing = (
        f"LR range test: {count_of(sweep_steps, 'step')} of {recipe.optimizer.name}, "
        f"{start_lr:g} to {end_lr:g}, "
        "then a run of each candidate"
    )
    with (
        o.noting_data(output),
        o.flags_named(ctx.params),
        output.working(doing, lazy=True, shown=progress) as update,
        listening(update),
    ):
        result = find_lr_recipe(recipe, start_lr=start_lr, end_lr=end_lr, steps=sweep_steps, **checked)
    drawn = FileAsked("--plot", plot)
    if plot is not None:
        from optimlab.doctor.report import plot_lr_range

        drawn.write(lambda path: plot_lr_range(result, path))
    written = drawn.written
    if not output.human:
        output.result(
            "", {**result.to_dict(), "recipe_id": recipe.id, "plot": str(written) if written else None}
        )
    else:
        _print_result(output, recipe, result, written)
    drawn.end(output)


def _print_result(output: Output, recipe: Recipe, result: LRRangeResult, plot: Path | None) -> None:
    """The suggestion, the curve's points and each candidate's check, as tables; the plot written."""
    rows = [
        ("suggested lr", result.suggestion if result.suggestion is not None else "none"),
        ("steepest descent at", result.steepest_lr if result.steepest_lr is not None else "-"),
        ("lowest loss at", result.min_loss_lr if result.min_loss_lr is not None else "-"),
        ("diverged at", result.stopped_at if result.stopped_at is not None else "did not diverge"),
    ]
    output.table(f"LR range test of {recipe.optimizer.name} on {recipe.data.name}", ("", "lr"), rows)
    if result.check is not None:
        # Accuracy's ties are decided by the held-out loss (lr_check, point 2): shown beside it, else a
        # candidate of lower accuracy was chosen on evidence the table did not show.
        losses = result.metric == "accuracy"
        evidence = [
            (
                c.lr,
                c.source,
                "diverged" if c.score is None else c.score,
                *(
                    ("-" if c.score is None or c.held_out_loss is None else c.held_out_loss,)
                    if losses
                    else ()
                ),
                "<- suggested" if c.lr == result.suggestion else "",
            )
            for c in result.candidates
        ]
        # "held-out" over each metric's name: on one line the rows wrapped at 80 columns
        columns = (
            "lr",
            "from the curve",
            f"held-out\n{result.metric}",
            *(("held-out\nloss",) if losses else ()),
            "",
        )
        output.table(f"Candidates, {result.check}", columns, evidence)
    output.result(result.reason)
    if plot is not None:
        output.result(f"wrote {plot}")
