"""The page of a training run, or of several runs overlaid: the results, each evaluated metric's best
value along the way (the direction is :func:`~optimlab.workloads.metric_goal`'s; a ring marks it on the
curves), curves by step and by wall time, the recipe (or what differs between the recipes, and a warning
where budgets or seeds differ), and the machine.

``optimlab report RUN [RUN...]`` and ``optimlab train --html`` write it from run folders
(:mod:`.run_folder`). One self-contained :class:`~optimlab.report.Page`: inline SVG, no script; its
curves are :mod:`.line_chart`'s, so writing it costs milliseconds, not matplotlib's seconds.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import yaml

from optimlab.errors import OptimlabError
from optimlab.number_text import count_of
from optimlab.recipe import Recipe
from optimlab.report.chance import chance_levels
from optimlab.report.environment import machine_and_versions
from optimlab.report.html import Page, label_value_rows
from optimlab.report.line_chart import COLOURS, DASHES, LineChart, line_chart, spans_decades
from optimlab.report.metric_labels import axis_label, log_axis
from optimlab.report.path_names import names_apart
from optimlab.report.recipes import DEFAULT, defaults_named, differing_fields, flat_fields, not_taken
from optimlab.report.run_folder import RunFolder
from optimlab.runs_folder import (
    METRICS_NAME,
    MODEL_NAME,
    RECIPE_NAME,
    named_folder,
    resume_command,
    resumed_by,
)
from optimlab.workloads import metric_goal

__all__ = ["run_page", "write_run_report"]

# the metrics a reader looks for first, in reading order: losses, validation metrics, lr, gradient norm
_FIRST = ("train_loss", "val_loss", "val_accuracy", "val_rmse", "lr", "grad_norm")
_STEP, _SECONDS = "step (optimizer steps)", "wall time (s)"


def _order(metrics: Sequence[str]) -> list[str]:
    """The known metrics in reading order (losses, validation metrics, lr, gradient norm), then the rest."""
    known = [m for m in _FIRST if m in metrics]
    return (
        known
        + [m for m in metrics if m not in _FIRST and m.startswith("val_")]
        + [m for m in metrics if m not in _FIRST and not m.startswith("val_")]
    )


def _chance(runs: Sequence[RunFolder]) -> dict[str, float]:
    """The chance levels of the runs' data (:mod:`.chance`) when they all train on the same data; the
    loss's only where they train under the same loss (label smoothing moves it)."""
    data = {yaml.safe_dump(run.recipe.get("data")) for run in runs}
    losses = {
        yaml.safe_dump([(run.recipe.get("training") or {}).get(f) for f in ("loss", "loss_options")])
        for run in runs
    }
    try:
        levels = chance_levels(Recipe.from_dict(runs[0].recipe)) if len(data) == 1 else {}
    except OptimlabError:  # a recipe from another version of optimlab: no reference line
        return {}
    return levels if len(losses) == 1 else {kind: v for kind, v in levels.items() if kind != "loss"}


@dataclasses.dataclass(frozen=True)
class _Best:
    """The best finite value of a run's metric along the way (its index in the series), and its last."""

    goal: Literal["max", "min"]
    index: int
    value: float
    last: float  # NaN where the last evaluation was not finite

    def worse_at_the_end(self) -> bool:
        return self.last != self.value  # a NaN last too


def _best(run: RunFolder, metric: str) -> _Best | None:
    """The best of ``metric`` where it has a direction (:func:`~optimlab.workloads.metric_goal`) and a
    finite value; never of the training loss, a single batch's (its minimum is a lucky batch)."""
    goal = metric_goal(metric)
    if goal is None or metric == "train_loss" or metric not in run.series:
        return None
    values = run.series[metric][2]
    if len(values) < 2:  # one evaluation: nothing along the way, its best is its last
        return None
    finite = [i for i, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        return None
    index = (min if goal == "min" else max)(finite, key=values.__getitem__)  # of ties, the first
    return _Best(goal, index, values[index], values[-1])


def _span(runs: Sequence[RunFolder], by_time: bool) -> tuple[float, float]:
    """The first and last step (or second) any metric of ``runs`` was logged at: every chart of the page
    covers it, so that they line up (a validation metric's chart started at its first evaluation, under
    a loss chart starting at step 1)."""
    xs = [
        x
        for run in runs
        for steps, seconds, _ in run.series.values()
        for x in (seconds if by_time else steps)
    ]
    finite = [x for x in xs if math.isfinite(x)]
    return (min(finite), max(finite)) if finite else (math.nan, math.nan)


def _stop(values: Sequence[float]) -> int | None:
    """The index from which ``values`` are no longer finite (a diverged loss's last lines), None where
    the last is finite or none is."""
    finite = [i for i, v in enumerate(values) if math.isfinite(v)]
    return finite[-1] + 1 if finite and finite[-1] < len(values) - 1 else None


def _figure(
    runs: Sequence[RunFolder], metrics: Sequence[str], by_time: bool, chance: Mapping[str, float]
) -> LineChart:
    """``metrics`` of every run over step (or seconds): one line per (run, metric), its best ringed."""
    xs, ys, colours, dashes, marks, stops = {}, {}, {}, {}, {}, {}
    for number, run in enumerate(runs):
        for metric in metrics:
            if metric in run.series:
                steps, seconds, values = run.series[metric]
                label = run.name if len(metrics) == 1 else axis_label(metric)
                if len(runs) > 1 and len(metrics) > 1:
                    label = f"{run.name}: {label}"
                if not any(math.isfinite(v) for v in values):  # its line is missing: the legend says why
                    label += " (no finite value)"
                xs[label], ys[label] = (seconds if by_time else steps), values
                if len(runs) > 1:  # a run keeps its colour in every figure, also where another has no line
                    colours[label] = COLOURS[number % len(COLOURS)]
                    dashes[label] = DASHES[number // len(COLOURS) % len(DASHES)]
                best = _best(run, metric)
                if best is not None:
                    marks[label] = (xs[label][best.index], best.value)
                if (stop := _stop(values)) is not None:
                    stops[label] = xs[label][stop]
    values = [v for series in ys.values() for v in series]
    if metrics == ["lr"]:  # a schedule read on a linear axis; a log one where the runs' peaks differ
        values = [max((v for v in series if math.isfinite(v)), default=math.nan) for series in ys.values()]
    ylabel = axis_label(metrics[0]) if len(metrics) == 1 else "loss"
    what = ylabel if len(metrics) == 1 else "training and validation loss"
    kinds = {metric.rpartition("_")[2] for metric in metrics}
    kind = kinds.pop() if len(kinds) == 1 else ""
    levels = {f"chance {chance[kind]:.3g}": chance[kind]} if kind in chance else None
    return line_chart(
        xs,
        ys,
        title=f"{what[0].upper()}{what[1:]} by {'wall time' if by_time else 'step'}",
        xlabel=_SECONDS if by_time else _STEP,
        ylabel=ylabel,
        log_y=spans_decades(values) if metrics == ["lr"] else log_axis(kind, values),
        whole_x=not by_time,
        levels=levels,
        colours=colours,
        dashes=dashes,
        marks=marks,
        stops=stops,
        x_range=_span(runs, by_time),
    )


def _groups(runs: Sequence[RunFolder]) -> list[list[str]]:
    """The figures to draw, each a list of metrics: training and validation loss share one for one run."""
    metrics = _order(list(dict.fromkeys(m for run in runs for m in run.metrics)))
    if len(runs) == 1 and "train_loss" in metrics and "val_loss" in metrics:
        return [["train_loss", "val_loss"]] + [[m] for m in metrics if m not in ("train_loss", "val_loss")]
    return [[m] for m in metrics]


def _constant(runs: Sequence[RunFolder], metric: str) -> str | None:
    """``0.001`` (one run) or ``a 0.001, b 0.003`` where ``metric`` kept one value in every run that
    logged it, said in words rather than drawn as flat lines; None where it varied."""
    values = {run.name: set(run.series[metric][2]) for run in runs if metric in run.series}
    if not values or any(len(v) != 1 for v in values.values()):
        return None
    shown = {name: f"{next(iter(v)):g}" for name, v in values.items()}
    return next(iter(shown.values())) if len(runs) == 1 else ", ".join(f"{n} {v}" for n, v in shown.items())


def _not_finite(runs: Sequence[RunFolder], metrics: Sequence[str]) -> str | None:
    """``Validation accuracy: no finite value (NaN or infinite at all 5 evaluations).`` where no run has a
    finite value of ``metrics``, said in words rather than drawn as empty axes; None where one has."""
    values = [v for run in runs for m in metrics if m in run.series for v in run.series[m][2]]
    if any(math.isfinite(v) for v in values):
        return None
    what = axis_label(metrics[0]) if len(metrics) == 1 else "training and validation loss"
    at = f"{'the' if len(values) == 1 else 'all'} {count_of(len(values), 'point')}"
    return f"{what[0].upper()}{what[1:]}: no finite value (NaN or infinite at {at} logged)."


def _single(runs: Sequence[RunFolder], metrics: Sequence[str]) -> str | None:
    """``Validation accuracy (fraction correct): one evaluation, 0.8942 at step 34.`` where ``metrics`` is
    one metric each run logged at most once (a one-epoch run), said in words rather than drawn as a dot
    on empty axes; None otherwise."""
    logged = {run.name: run.series[metrics[0]] for run in runs if metrics[0] in run.series}
    if len(metrics) != 1 or not logged or any(len(steps) > 1 for steps, _, _ in logged.values()):
        return None
    what = axis_label(metrics[0])
    each = [f"{values[0]:.4g} at step {steps[0]}" for steps, _, values in logged.values()]
    if len(runs) > 1:
        each = [f"{name} {text}" for name, text in zip(logged, each)]
    # an evaluated metric (val_*) is evaluated once; a training loss or an lr, logged a step, is logged once
    once = "one evaluation" if metrics[0].startswith("val_") else "logged once"
    return f"{what[0].upper()}{what[1:]}: {once}, {'; '.join(each)}."


def _has_times(runs: Sequence[RunFolder]) -> bool:
    return all(math.isfinite(t) for run in runs for _, seconds, _ in run.series.values() for t in seconds[:1])


# The fields that set how much a run trains, its seed, and the data it trains and is scored on: runs
# overlaid that differ in them are no fair comparison, and the results table says so where a reader
# compares (a digits run's loss of 0.12 beside a regression's 3243 was said to differ in epochs only).
_BUDGET = (
    "data.name",
    "data.options",
    "data.val_fraction",
    "data.test_fraction",
    "data.data_fraction",
    "training.epochs",
    "training.steps",
    "training.batch_size",
    "training.seed",
)
_FINISHED = ("completed", "stopped")  # result.json's statuses of a run that ran to its end (or early stop)


def _status(run: RunFolder) -> str:
    """The run's status in result.json; a run without one is still running, or was killed."""
    return str(run.result.get("status", "not finished"))


def _unfinished(runs: Sequence[RunFolder]) -> str:
    """`` (diverged)`` for one run, `` (1 diverged, 1 interrupted)`` for several; '' when all finished."""
    counts = Counter(_status(run) for run in runs if _status(run) not in _FINISHED)
    if not counts:
        return ""
    if len(runs) == 1:
        return f" ({_status(runs[0])})"
    return " (" + ", ".join(f"{count} {status}" for status, count in counts.items()) + ")"


def _last_logged(run: RunFolder) -> tuple[int | str, float | str]:
    """The last step metrics.jsonl logged and its seconds: where a killed run, which left no result.json,
    stopped ('' for a log without a line)."""
    logged = [
        (step, seconds) for steps, times, _ in run.series.values() for step, seconds in zip(steps, times)
    ]
    return max(logged) if logged else ("", "")


def _parameters(run: RunFolder) -> str:
    """The parameters of the model the run trained (result.json's ``model``), '' where not recorded."""
    model = run.result.get("model")
    return f"{model['parameters']:,}" if isinstance(model, dict) and "parameters" in model else ""


def _results_table(page: Page, runs: Sequence[RunFolder]) -> None:
    names = list(dict.fromkeys(k for run in runs for k in run.result.get("metrics", {})))
    sized = any(_parameters(run) for run in runs)
    rows = [
        (
            run.name,
            _status(run),
            run.result.get("steps", _last_logged(run)[0]),
            run.result.get("seconds", _last_logged(run)[1]),
            *((_parameters(run),) if sized else ()),
            *(run.result.get("metrics", {}).get(k, "") for k in names),
        )
        for run in runs
    ]
    caption = "Results where training stopped" if _unfinished(runs) else "Results at the end of training"
    columns = ("run", "status", "steps", "seconds", *(("parameters",) if sized else ()), *names)
    page.table(columns, rows, caption=caption)
    for run in runs:
        if run.result.get("message"):
            page.paragraph(f"{run.name}: {_message(run)}", note=True)
        if not run.result and _checkpointed(run):
            page.paragraph(
                f"{run.name}: no result.json: the run is still going, or was stopped without one (killed). "
                f"`{resume_command(run.path)}` continues it from its last checkpoint."
            )
        elif not run.result and run.series:  # in its first epoch, or killed there: no checkpoint yet
            page.paragraph(
                f"{run.name}: no result.json: the run is still going, or was stopped without one (killed); "
                f"this page shows its {METRICS_NAME} up to its last whole line, step {_last_logged(run)[0]}, "
                "and no checkpoint to resume it from."
            )
        for step, changes in _changes(run).items():
            page.paragraph(
                f"{run.name}: resumed at step {step} with "
                + ", ".join(
                    f"{c['field']} changed from {_set(c['from'])} to {_set(c['to'])}" for c in changes
                )
                + f". Its recipe (below) is the one it ended with; up to step {step} it trained with the "
                "earlier values (a schedule over the run's length followed them), which that recipe run from "
                "the start would not repeat."
            )


def _set(value: object) -> object:
    """A recipe field's value as the page's recipe shows it: a null one is its default, not 'None'."""
    return DEFAULT if value is None else value


def _message(run: RunFolder) -> str:
    """result.json's message, an interrupted run's command to resume it naming the folder read: the one
    it trained in was named, though the run was copied or moved since."""
    return resumed_by(str(run.result["message"]), resume_command(run.path))


def _checkpointed(run: RunFolder) -> bool:
    """Whether the run's folder keeps a checkpoint to resume from (the training loop, 0.2 s of imports,
    only asked for a run that did not finish)."""
    from optimlab.train.checkpoint import CHECKPOINT_NAME

    return (run.path / CHECKPOINT_NAME).is_file()


def _changes(run: RunFolder) -> dict[int, list[dict[str, object]]]:
    """The recipe's changes made on resuming the run (result.json's ``recipe_changes``), by step."""
    by_step: dict[int, list[dict[str, object]]] = {}
    for change in run.result.get("recipe_changes") or ():
        by_step.setdefault(int(change["step"]), []).append(change)
    return by_step


def _best_table(page: Page, runs: Sequence[RunFolder]) -> None:
    """Each evaluated metric with a direction: its best value along the way, where, and its last; a row
    that ended worse than its best (over-fitting, a divergence) is marked."""
    rows, classes = [], []
    best_at_end = True  # every best at its run's last step: the weights train saved are the best's
    for run in runs:
        for metric in _order(run.metrics):
            best = _best(run, metric)
            if best is None:
                continue
            steps = run.series[metric][0]
            step, last_step = steps[best.index], steps[-1]
            best_at_end &= step == run.result.get("steps", _last_logged(run)[0])
            epoch = run.epochs.get(step)
            if _status(run) not in _FINISHED:
                stop = run.result.get("steps", _last_logged(run)[0])
                note = f"stopped at step {stop} ({_status(run)}): the best of the values before"
            elif not math.isfinite(best.last):
                note = "its last evaluation is not finite (NaN or infinite)"
            elif best.worse_at_the_end():
                note = f"ended worse than its best by {abs(best.last - best.value):.3g}"
            else:
                note = ""
            rows.append(
                (
                    *((run.name,) if len(runs) > 1 else ()),
                    metric,
                    "lower" if best.goal == "min" else "higher",
                    best.value,
                    step,
                    "" if epoch is None else epoch + 1,
                    best.last,
                    last_step,
                    note,
                )
            )
            classes.append("warning" if note else "")
    if not rows:
        return
    page.table(
        (
            *(("run",) if len(runs) > 1 else ()),
            "metric",
            "better",
            "best",
            "at step",
            "in epoch",
            "last",
            "at step",
            "note",
        ),
        rows,
        row_classes=classes,
        # train saves model.pt at the end; a killed run has none (its checkpoint is where it resumes)
        caption="Best value along the way (ringed on the curves), and the last evaluation's; epochs counted "
        "from 1."
        + (" model.pt holds the last step's weights" if _saved(runs) else "")
        + (", not the best's" if _saved(runs) and not best_at_end else ""),
    )


def _saved(runs: Sequence[RunFolder]) -> bool:
    """Whether a run of ``runs`` holds the model its training saved at its end (model.pt)."""
    return any((run.path / MODEL_NAME).is_file() for run in runs)


def _named_apart(runs: Sequence[RunFolder]) -> list[RunFolder]:
    """``runs``, those of one name renamed by the last parts of their folders' paths, as few as tell them
    apart (:func:`~.path_names.names_apart`: ``a/x/run``, ``b/x/run``): a chart keys its lines by name, and
    a second run of the first's name replaced its lines."""
    names = Counter(run.name for run in runs)
    apart = names_apart([os.path.abspath(run.path) for run in runs])
    return [dataclasses.replace(r, name=n) if names[r.name] > 1 else r for r, n in zip(runs, apart)]


def run_page(runs: Sequence[RunFolder], *, command: str | None = None) -> Page:
    """The page of one run, or of several overlaid (one colour per run; runs of one name named apart)."""
    runs = _named_apart(runs)
    if len(runs) == 1:
        run = runs[0]
        page = Page(f"optimlab run: {run.name}{_unfinished(runs)}", f"Training run in {run.path}.")
    else:
        page = Page(
            f"optimlab runs: {len(runs)} runs overlaid{_unfinished(runs)}",
            "Runs: " + ", ".join(run.name for run in runs) + ".",
        )
    differing = differing_fields([run.recipe for run in runs], null=DEFAULT)
    page.section("Results")
    _results_table(page, runs)
    unlike = {
        f: values for f, values in differing.items() if any(f == b or f.startswith(f"{b}.") for b in _BUDGET)
    }
    if unlike:
        page.paragraph(
            "Not like for like: the runs differ in "
            + "; ".join(f"{field} ({', '.join(map(str, values))})" for field, values in unlike.items())
            + ". A difference in their results may come from these."
        )
    _best_table(page, runs)
    groups, chance = _groups(runs), _chance(runs)
    page.section("By step")
    for run in runs:
        if not run.series:  # just started, or its first line cut mid-write: in no figure, said here
            page.paragraph(f"{run.name}: no metrics logged yet ({METRICS_NAME} holds no complete line).")
    # the curves drawn by step, to draw against wall time too (a schedule by step only)
    timed: list[list[str]] = []
    for metrics in groups:
        constant = _constant(runs, metrics[0]) if metrics == ["lr"] else None
        if constant:
            page.paragraph(f"Learning rate: constant, {constant}.")
        elif said := _not_finite(runs, metrics) or _single(runs, metrics):
            page.paragraph(said)
        else:
            page.figure(_figure(runs, metrics, False, chance), name=f"{'-'.join(metrics)}-by-step")
            if metrics[0] != "lr":
                timed.append(metrics)
    # no wall-time section where there is no curve to draw against it
    if _has_times(runs) and timed:
        page.section("By wall time", "The same curves against the seconds spent in the training loop.")
        for metrics in timed:
            page.figure(_figure(runs, metrics, True, chance), name=f"{'-'.join(metrics)}-by-time")
    if len(runs) == 1:
        page.section("Recipe")
        notes = _notes(runs[0])
        page.table(
            ("field", "value"),
            [(field, notes.get(field, value)) for field, value in flat_fields(runs[0].recipe, null=DEFAULT)],
        )
    else:
        page.section(
            "What differs between the recipes",
            f"{count_of(len(differing), 'field')} {'differs' if len(differing) == 1 else 'differ'}; "
            "every other field of the recipes is the same.",
        )
        page.table(
            ("field", *(run.name for run in runs)),
            [(k, *v) for k, v in differing.items()],
        )
        for run in runs:
            page.code(yaml.safe_dump(run.recipe, sort_keys=False), summary=f"Recipe of {run.name}")
    page.section("How this was run")
    page.table(
        ("setting", "value"),
        [
            *(((_WROTE, command),) if command else ()),
            *(
                (f"{_TRAINED_BY}{run.name}", trained)
                for run in runs
                if (trained := _trained_by(run)) is not None and trained != command
            ),
            *(
                (f"command that resumed {run.name}", resumed)
                for run in runs
                for resumed in _resumed_by(run)
                if resumed != command
            ),
            *(
                (f"commands of {run.name} not read", run.commands_unread)
                for run in runs
                if run.commands_unread
            ),
            *(("run folder", str(run.path)) for run in runs),
            *((f"command that repeats {run.name}", _repeat(run)) for run in runs),
        ],
    )
    page.table(("machine and libraries (of this report)", "value"), machine_and_versions())
    return page


def _notes(run: RunFolder) -> dict[str, str]:
    """What ``run``'s recipe table says instead of a field's value: the defaults its nulls stand for
    (:func:`~optimlab.report.recipes.defaults_named`), and the fields its model does not take
    (:func:`~optimlab.report.recipes.not_taken`: ``model.activation: relu`` is no activation of the
    user's model of tanh units). None where the recipe does not load here (another version of
    optimlab, a model whose code is not on the path)."""
    try:
        recipe = Recipe.from_dict(run.recipe)
        return {**defaults_named(recipe), **not_taken(recipe)}
    except OptimlabError:
        return {}


_TRAINED_BY = "command that trained "  # a row of the page, before the run's name
_WROTE = "command that wrote this page"


def _trained_by(run: RunFolder) -> str | None:
    """The command that trained ``run``, as its folder keeps it (commands.jsonl: the session that started
    it), else as the page in its folder keeps it (a run trained before commands.jsonl): `train --html`
    wrote it as the command that wrote the page, a page rebuilt by `optimlab report` in its own row (a
    rebuild put `optimlab report RUN` in its place, the flags typed lost). None where neither keeps one
    (trained from Python, or by an earlier optimlab without --html)."""
    if run.commands and not (first := run.commands[_started(run)]).resumed:
        return first.command
    rows = label_value_rows(run.path / "report.html")
    kept = [value for label, value in rows if label.startswith(_TRAINED_BY)]
    kept += [value for label, value in rows if label == _WROTE and value.split()[1:2] == ["train"]]
    return kept[0] if kept else None


def _started(run: RunFolder) -> int:
    """The index in ``run.commands`` of the session that started the run as its folder holds it: the last
    without --resume (``train --out`` of a run stopped before its first checkpoint starts it anew), else
    0 (a run started before commands.jsonl was kept)."""
    started = [i for i, session in enumerate(run.commands) if not session.resumed]
    return started[-1] if started else 0


def _resumed_by(run: RunFolder) -> list[str]:
    """The commands that resumed ``run`` since it started (commands.jsonl), oldest first."""
    return [session.command for session in run.commands[_started(run) :] if session.resumed]


def _repeat(run: RunFolder) -> str:
    """The command that trains ``run``'s recipe again, into a folder beside it (the same numbers on the
    same machine: every random choice takes its seed from the recipe)."""
    folder = named_folder(run.path)  # '.' and '..' have no name to put beside: their folder's, absolute
    again = folder.with_name(f"{folder.name}-again")
    return shlex.join(["optimlab", "train", str(run.path / RECIPE_NAME), "--out", str(again)])


def write_run_report(runs: Sequence[RunFolder], path: str | Path, *, command: str | None = None) -> Path:
    """Write the page of ``runs`` (one or several) to ``path``."""
    return run_page(runs, command=command).write(path)
