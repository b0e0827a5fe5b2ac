"""``optimlab train``: train a recipe (a YAML file, flags, or both) and write its results."""

from __future__ import annotations

import json
import shlex
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._errors import INTERRUPTED, stopping
from optimlab.cli._output import Output, typed_command
from optimlab.cli._progress import resumable
from optimlab.errors import OptimlabError
from optimlab.number_text import count_of, seconds_text
from optimlab.registry import POSITIVE_INT
from optimlab.runs_folder import (
    COMMANDS_NAME,
    RECIPE_NAME,
    RESULT_NAME,
    fresh_path,
    named_folder,
    resume_command,
    resumed_by,
)

if TYPE_CHECKING:
    from optimlab.recipe import Recipe

if TYPE_CHECKING:  # torch is imported when the verb runs, not at start-up
    from optimlab.integrations.tracking import Tracker

EXAMPLES = """Examples:
  optimlab train --dataset digits --model mlp --epochs 5
  optimlab train recipe.yaml --lr 3e-3 --out runs/try-lr
  optimlab train --dataset mnist1d --model cnn --init he --act relu --norm batch --optimizer adam \\
      --lr 1e-3 --schedule cosine --epochs 10
  optimlab train --dataset digits --act leaky_relu --set model.activation.negative_slope=0.2 \\
      --init he --set model.init.mode=fan_out
  optimlab train --resume runs/try-lr
  optimlab train --dataset digits --epochs 5 --out runs/digits --html --log tensorboard
  optimlab train --resume runs/try-lr --epochs 20
"""

DIVERGED = 3  # exit code of a run that diverged: it ran, so it is no usage error
TRACKER_FAILED = 4  # exit code of a completed run (its folder whole) that a tracker (--log) lacks in part


def train(
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
    schedule: o.ScheduleOpt = None,
    warmup_steps: o.WarmupOpt = None,
    epochs: o.EpochsOpt = None,
    steps: o.StepsOpt = None,
    batch_size: o.BatchOpt = None,
    grad_clip: o.ClipOpt = None,
    accumulate_grad_batches: o.AccumulateOpt = None,
    seed: o.SeedOpt = None,
    device: o.DeviceOpt = None,
    precision: o.PrecisionOpt = None,
    set_fields: o.SetOpt = None,
    threads: o.ThreadsOpt = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            parser=checks.run_folder,
            help="Output folder, new or empty.",
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            parser=checks.resumed_folder,
            metavar="FOLDER",
            help="Continue the run kept in FOLDER (the --out of the stopped run) with its saved recipe, "
            "logging to the trackers it logged to (unless --log names others); only --epochs, --steps and "
            "--checkpoint-every may change (a schedule that spans the run, as cosine, is then drawn anew "
            "over the new length from the resumed step on, and a warning says where the lr jumps).",
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option("--checkpoint-every", parser=o.number(POSITIVE_INT), help="Steps between checkpoints."),
    ] = None,
    progress: o.ProgressOpt = True,
    html: Annotated[
        bool,
        typer.Option("--html", help="Also write the run's page, OUT/report.html (kept current by --resume)."),
    ] = False,
    log: o.LogOpt = None,
    fmt: o.FormatOpt = "human",
) -> None:
    """Train a recipe and keep its results.

    Prints progress and the final metrics; writes metrics.jsonl, model.pt and the checkpoints into --out.
    """
    page_asked_by = "--html" if html else "--log" if "mlflow" in (log or []) else "--resume"  # as typed
    if resume is not None and log is None:  # on with the trackers it logged to (--log names others)
        from optimlab.integrations.tracking import trackers_of

        log = trackers_of(resume)
    if resume is not None and (resume / "report.html").is_file():
        # the folder's page follows its run: resumed without --html (as the interrupted run's message
        # says to), it went on showing 'interrupted' at step 12 beside a result.json of 'completed'
        html = True
    mlflow = "mlflow" in (log or [])
    if (html or mlflow) and (folder := resume or out_dir) is not None:  # a fresh folder holds no page
        _refuse_a_folder_at_the_page(folder / "report.html", page_asked_by)
    if (html or mlflow) and resume is not None:  # the page reads them after the run: refused before it
        from optimlab.report.run_folder import sessions_read

        sessions_read(resume)
    if mlflow:  # first: its writer imports MLflow (~3 s) while this process imports torch and trains
        from optimlab.integrations.mlflow_writer import writer_process

        writer_process()
    if resume is not None:
        if recipe_path is not None or out_dir is not None:
            raise OptimlabError(
                "--resume continues the recipe saved in its folder; drop the recipe file and --out "
                "(--epochs, --steps and --checkpoint-every may change)"
            )
        if not (resume / RECIPE_NAME).is_file():
            raise OptimlabError(f"--resume {str(resume)!r}: that folder holds no run (no {RECIPE_NAME})")
        recipe = o.recipe_from_options(resume / RECIPE_NAME, ctx.params, stored=True)  # changes: refused
    else:
        recipe = o.recipe_from_options(recipe_path, ctx.params)
    if checkpoint_every is not None:
        recipe = recipe.with_updates({"training.checkpoint_every": checkpoint_every})
    out = resume or out_dir or fresh_path(f"train-{recipe.id}")

    o.use_threads(threads)
    from optimlab.data.built_once import data_built_once
    from optimlab.integrations.tracking import TrackerStopped
    from optimlab.report.run_folder import keep_command
    from optimlab.train import ProgressBar
    from optimlab.train import train as run_training
    from optimlab.train.run import RESUMABLE_FIELDS

    # what a resumed run may change, as typed: its refusal named training.epochs, ...
    resumable_flags = {field: o.flag(field.rpartition(".")[2]) for field in RESUMABLE_FIELDS}

    # the run, its page's chance lines and the note of a run no better than chance share one build of
    # the data, kept until the command ends (each built it anew: a user's factory ran 3 times with --html)
    ctx.with_resource(data_built_once())
    output = Output(fmt)
    callbacks = (
        [ProgressBar(f"{recipe.model.name} on {recipe.data.name}")] if progress else []  # on stderr
    )
    trackers = _trackers(log or [], out, recipe)
    again = " ".join([resume_command(out), *(["--html"] if html else [])])
    again += "".join(f" --log {name}" for name in log or [])
    # a signal the run's own handler does not catch (in its final evaluation and writes, the page, the
    # trackers' wait) said only 'interrupted', and stdout stayed empty under --format json
    before = _result_kept(out) if resume is not None else {}  # a finished run resumes nothing
    with resumable(output, lambda: again if (out / RECIPE_NAME).is_file() else None, "the run is kept"):
        with (
            o.noting_data(output),
            o.flags_named(ctx.params),
            o.fields_named(resumable_flags),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", TrackerStopped)  # said once, by the trackers' wait below
            result = run_training(
                recipe, out, resume=resume is not None, callbacks=[*callbacks, *trackers.values()]
            )
        # with the run, for a page built later (`optimlab report RUN`): only `--html`'s page kept it. An
        # optional record: a folder at commands.jsonl or a full disk failed the session after its run
        if (before.get("steps"), before.get("recipe_id")) == (result.steps, result.recipe_id):
            # a finished run resumed on the same recipe: nothing trained, nothing changed
            continues = (
                "a longer --epochs or --steps continues it"
                if result.status == "completed"
                else result.message or result.status  # an early stop ends it so again
            )
            command_note = (
                f"resumed, nothing left to train: the run had taken its {count_of(result.steps, 'step')} "
                f"({continues}); this command is not kept in {COMMANDS_NAME}"
            )
        else:
            try:
                keep_command(out, typed_command(), resumed=resume is not None)
                command_note = None
            except OSError as error:
                command_note = (
                    f"the command line is not kept in {str(out / COMMANDS_NAME)!r}: {error.strerror or error}"
                )
        data = result.to_dict()
        if result.status == "interrupted":  # with the flags it ran with: `again`, as a later signal says
            data["message"] = resumed_by(data["message"], again)
        if html or mlflow:  # MLflow keeps the page with the run
            from optimlab.report.run_folder import read_run
            from optimlab.report.run_page import write_run_report

            data["report"] = str(
                write_run_report([read_run(out)], out / "report.html", command=typed_command())
            )
            for tracker in trackers.values():
                tracker.log_artifact(data["report"])
        failures = {}  # said after the run's result, which a tracker's failure leaves whole
        for name, tracker in trackers.items():  # the command returns with each run whole: records, end, page
            try:
                tracker.wait()  # MLflow's refusal raises
            except OptimlabError as error:
                failures[name] = str(error)
        if trackers:  # where each --log tracker's run went, as doctor's and report's; apart, what failed
            data["trackers"] = {name: _where(tracker) for name, tracker in trackers.items()}
            data["tracker_failures"] = failures
        if mlflow:  # its writer exits on its own; the command does not wait for MLflow's teardown
            from optimlab.integrations.mlflow_writer import end_writer

            end_writer(wait=False)
    output.result(
        f"{result.status} after {count_of(result.steps, 'step')} in {seconds_text(result.seconds)}; results in {out}"
        + (f"; page {data['report']}" if "report" in data else ""),
        data,
    )
    if command_note:
        output.note(command_note)
    if result.metrics:
        output.table("final metrics", ("metric", "value"), sorted(result.metrics.items()))
        if not any(name.startswith("test_") for name in result.metrics):  # said, not left to be missed
            output.note("no test split: no test metrics (the data hold no test rows)")
        from optimlab.report.chance import no_better_than_chance

        if result.status == "completed" and (unlearnt := no_better_than_chance(recipe, result.metrics)):
            doctor = f"optimlab doctor {shlex.quote(str(out / RECIPE_NAME))}"
            output.note(f"{unlearnt}; {doctor} finds why")
    for failure in failures.values():
        output.error(failure)
    if result.status == "diverged":
        output.error(result.message or "diverged")
        sys.exit(DIVERGED)
    if result.status == "interrupted":  # by Ctrl-C or SIGTERM, after a checkpoint: the message says how to
        stopping()
        output.note(data["message"])  # resume, on stderr as every verb's, seen when stdout goes to a file
        sys.exit(INTERRUPTED)
    if result.message:
        output.result(result.message)
    if failures:
        sys.exit(TRACKER_FAILED)


def _result_kept(folder: Path) -> dict[str, Any]:
    """The result.json of the run in ``folder`` (its steps, its recipe's id); empty where it holds none (a
    run killed before its end, a result cut short)."""
    try:
        kept = json.loads((folder / RESULT_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return kept if isinstance(kept, dict) else {}


def _refuse_a_folder_at_the_page(page: Path, flag: str) -> None:
    """Refuse a folder at ``page``, where the run's page goes (asked for by ``flag``), before the run and
    before MLflow's writer starts: it failed after the run, naming a temporary file. A file there, even
    read-only, and a symbolic link are replaced whole by the page's atomic rename: not refused."""
    if page.is_dir() and not page.is_symlink():
        raise typer.BadParameter(
            f"{str(page)!r} is a folder, where the run's page goes: move that folder away",
            param_hint=f"'{flag}'",
        )


def _where(tracker: Tracker) -> str | None:
    """Where ``tracker``'s run went (its event folder, its MLflow run); None where its store never made
    the run (MLflow's writer failed before creating it: the failure says why)."""
    try:
        return tracker.where
    except OptimlabError:
        return None


def _trackers(names: list[str], out: Path, recipe: Recipe) -> dict[str, Tracker]:
    """A tracker callback per name (``--log``), its run named after the output folder, continued when
    the run resumes."""
    if not names:
        return {}
    from optimlab.integrations import check_trackers, open_tracker

    check_trackers(names)
    return {
        name: open_tracker(
            name,
            folder=out,
            run_name=named_folder(out).name,
            params=recipe.to_dict(),
            resumable=True,
        )
        for name in names
    }
