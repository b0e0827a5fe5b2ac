"""``optimlab doctor``: run a recipe briefly with the instruments on; print ranked findings and fixes."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._errors import FileAsked
from optimlab.cli._output import Output
from optimlab.errors import InvalidValueError
from optimlab.registry import POSITIVE_INT

if TYPE_CHECKING:
    from optimlab.doctor.diagnose import Diagnosis
    from optimlab.integrations.tracking import Tracker
    from optimlab.recipe import Recipe

EXAMPLES = """Examples:
  optimlab doctor --dataset digits
  optimlab doctor recipe.yaml --html doctor.html
  optimlab doctor --dataset digits --act sigmoid --depth 8 --init normal --steps 200
  optimlab doctor --dataset digits --optimizer sgd --lr 10 --no-lr-find
  optimlab doctor recipe.yaml --format json > findings.json
  optimlab doctor recipe.yaml --fail-on warning   # in CI: exit 1 when a warning or an error is found
  optimlab doctor recipe.yaml --log mlflow          # the findings as run doctor-<recipe id>'s doctor.md
"""

FAIL_ON = ("error", "warning")  # the severities, most severe first, that --fail-on can name
FINDINGS_FOUND = 1  # exit code of --fail-on when findings of that severity exist
# Seconds from the process's start that the doctor takes at most, imports included, where --check-budget
# is not given: the check and the watched run share what the imports and the range test leave.
WHOLE_RUN_SECONDS = 55.0
# A process older than this at the command's call ran other work first (a test session, a notebook):
# the time is counted from the call (a busy machine's imports before it took 9 s).
STARTUP_SECONDS = 20.0


def doctor(
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
    batch_size: o.BatchOpt = None,
    grad_clip: o.ClipOpt = None,
    seed: o.SeedOpt = None,
    device: o.DeviceOpt = None,
    precision: o.PrecisionOpt = None,
    set_fields: o.SetOpt = None,
    threads: o.ThreadsOpt = None,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps",
            parser=o.number(POSITIVE_INT),
            help="Training steps to watch.",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", parser=checks.writable_file(".html"), help="Write a report with per-layer plots here."
        ),
    ] = None,
    lr_find: Annotated[
        bool, typer.Option("--lr-find/--no-lr-find", help="Run the LR range test first.")
    ] = True,
    check_budget: o.CheckBudgetOpt = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            parser=o.choice(*FAIL_ON),
            metavar="error|warning",
            help="Exit 1 when a finding this severe (or worse) exists: for CI.",
        ),
    ] = None,
    progress: o.ProgressOpt = True,
    log: o.DoctorLogOpt = None,
    fmt: o.FormatOpt = "human",
) -> None:
    """Diagnose a training setup: ranked findings and fixes.

    Vanishing/exploding gradients, NaN origin, saturation, dead units, input scale, init scale, learning
    rate, plateau, ...; each finding with its evidence and fix.
    """
    called = _seconds_since_start()
    if check_budget is not None and not lr_find:  # it was silently ignored
        raise InvalidValueError("--check-budget", check_budget, "only with the lr check: drop --no-lr-find")
    # --steps here is how long the doctor watches, not the recipe's training.steps
    flags = {k: v for k, v in ctx.params.items() if k != "steps"}
    recipe = o.recipe_from_options(recipe_path, flags)
    o.use_threads(threads)
    from optimlab.doctor import diagnose_recipe
    from optimlab.doctor.progress import listening

    # one stack from the first tracker opened to the findings sent: a failure anywhere between (a store
    # MLflow refuses after TensorBoard's run opened, write_html, _send) ends every run opened, failed
    with contextlib.ExitStack() as runs:
        trackers = _trackers(log or [], recipe, runs)
        output = Output(fmt)
        doing = f"examining {recipe.model.name} on {recipe.data.name}"
        with (
            o.noting_data(output),
            o.flags_named(flags),
            output.working(doing, lazy=True, shown=progress) as update,
            listening(lambda phase, *steps: update(f"{doing}: {phase}", *steps)),
        ):
            diagnosis = diagnose_recipe(
                recipe,
                steps=steps,
                lr_find=lr_find,
                check_budget=o.check_budget(check_budget),
                time_budget=_time_left(called) if check_budget is None else None,
            )
        page = FileAsked("--html", html)
        if html is not None:
            from optimlab.doctor.report import write_html

            subtitle = (
                f"recipe {recipe.id}: {recipe.model.name} on {recipe.data.name}, "
                f"{recipe.optimizer.name} lr {recipe.optimizer.lr or 'default'}"
            )
            page.write(lambda path: write_html(diagnosis, path, subtitle=subtitle, recipe=recipe))
        sent = _send(diagnosis, trackers)
    written = page.written
    if not output.human:
        output.result(
            "",
            {
                **diagnosis.to_dict(),
                "recipe_id": recipe.id,
                "html": str(written) if written else None,
                "trackers": sent,
            },
        )
    else:
        _print_findings(output, diagnosis)
        if written is not None:
            output.result(f"wrote {written}")
        for tracker, where in sent.items():
            output.result(f"{tracker}: {where}")
    failing = FAIL_ON[: FAIL_ON.index(fail_on) + 1] if fail_on is not None else ()
    found = any(f.severity in failing for f in diagnosis.findings)
    page.end(output, FINDINGS_FOUND if found else None)  # the verdict --fail-on asked for, over the page's


def _trackers(names: list[str], recipe: Recipe, runs: contextlib.ExitStack) -> dict[str, Tracker]:
    """A tracker per name (``--log``), opened before the diagnosis (a store MLflow refuses is said
    before any work): its run ``doctor-<recipe id>``, the recipe as its parameters, TensorBoard's in
    ./tensorboard. Each run ends failed as ``runs`` closes, unless :func:`_send` ended it (finish's later
    calls do nothing)."""
    from optimlab.integrations import open_tracker

    trackers = {}
    for name in names:
        trackers[name] = open_tracker(
            name, folder=".", run_name=f"doctor-{recipe.id}", params=recipe.to_dict(), background=False
        )
        runs.callback(trackers[name].finish, failed=True)
    return trackers


def _send(diagnosis: Diagnosis, trackers: dict[str, Tracker]) -> dict[str, str]:
    """The findings to each tracker's run, which ends; where each went."""
    from optimlab.integrations import log_findings

    sent = {}
    for name, tracker in trackers.items():
        log_findings(diagnosis, tracker)
        tracker.finish()
        sent[name] = tracker.where
    return sent


def _seconds_since_start() -> float:
    """Seconds since this process started (Linux's /proc); 0 where that cannot be read."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started = int(stat.read().rpartition(")")[2].split()[19])  # field 22, starttime, in ticks
            return float(uptime.read().split()[0]) - started / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _time_left(called: float) -> float:
    """Seconds left of :data:`WHOLE_RUN_SECONDS`, counted from the process's start, or from the call
    where the process was ``called`` (its age then) after :data:`STARTUP_SECONDS`; at least 1."""
    spent = _seconds_since_start() - (called if called > STARTUP_SECONDS else 0.0)
    return max(WHOLE_RUN_SECONDS - spent, 1.0)


def _print_findings(output: Output, diagnosis: Diagnosis) -> None:
    """The ranked table (:func:`~optimlab.doctor.findings.summary`), each finding's evidence, then the
    notes; a finding explained by another names it (``consequence of #1``), as JSON does."""
    from optimlab.doctor.findings import summary

    said = summary(diagnosis)
    if said.rows:
        output.table(said.heading, ("#", "severity", "finding", "fix"), said.rows)
        # The numbers behind each finding, one line each, as the JSON's and the HTML report's explanation:
        # a title and a fix alone leave the reader to take the verdict on trust.
        output.result("Evidence:")
        for i, explanation in said.evidence:
            output.result(f"  #{i} {explanation}")
    else:
        output.result(said.heading)
    for note in said.notes:
        output.result(note)
