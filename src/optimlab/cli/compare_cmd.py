"""``optimlab compare``: a tuned, multi-seed comparison of methods on a workload, with its report."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from optimlab.bench import is_bench, resume_command
from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._output import Output, typed_command
from optimlab.cli._progress import StudyProgress, exit_if_all_failed, resumable
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.number_text import count_of
from optimlab.registry import POSITIVE_INT

if TYPE_CHECKING:  # the study package (optuna, torch) is imported when the verb runs, not at start-up
    from optimlab.study import LeaderboardRow, SearchSpace, StudySpec, TrialRecord
    from optimlab.study.significance import Comparison
    from optimlab.workloads import Workload

EXAMPLES = """Examples:
  optimlab compare --workload digits_mlp --optimizers sgd,momentum,rmsprop,adagrad,adam
  optimlab compare --workload digits_mlp,two_spirals_mlp --optimizers sgd,adam   # + performance profiles
  optimlab compare --workload mnist_cnn --data-dir ~/data/mnist --optimizers sgd,adam
  optimlab compare --optimizers sgd,adam --seeds 5 --budget 9 --backend workers --workers 2
  optimlab compare --optimizers sgd,adam --out runs/s --backend workers --workers 0  # optimlab worker --wait runs/s
  optimlab compare --compare model.activation=relu,tanh,gelu --space optimizer.lr=1e-4:1e-1:log \\
      --protocol tpe --budget 12
  optimlab compare --optimizers adam,lion --backend batched --out runs/adam-lion
  optimlab compare recipe.yaml --optimizers sgd,adam,lion        # your recipe, tuned on val accuracy/loss
  optimlab compare --optimizers sgd,adam --model mynets:build --dataset mydata:load   # your own code
  optimlab compare --optimizers adamw,lion --model mytext:bert --dataset mytext:load --metric val_loss
  optimlab compare --optimizers sgd,adam --metric mymetrics:f1                        # tuned on val_f1
  optimlab compare --resume runs/adam-lion
  optimlab compare --optimizers sgd,adam --storage postgresql://user@host/db --name sweep1 --backend workers
"""

PRUNERS = ("none", "median", "halving")
GOALS = ("max", "min")
# the flags a plain --resume refuses (the stored study keeps its own), given without what to compare
PLAN_FLAGS = (
    "recipe_path",
    "workload",
    "optimizers",
    "compare_field",
    "space",
    "space_file",
    "protocol",
    "budget",
    "pruner",
    "epochs",
    "data_dir",
    "model",
    "dataset",
    "target",
    "metric",
    "goal",
)


def leaderboard_table(spec: StudySpec, board: Sequence[LeaderboardRow]) -> tuple[tuple[str, ...], list[Any]]:
    """The columns and rows of ``spec``'s leaderboard ``board`` as the report has them
    (:func:`optimlab.study.report.leaderboard_table`: no rank without a seed result, no std of one seed,
    the seeds that failed counted, the steps to target over the seed runs where the study has a target)."""
    from optimlab.study.report import leaderboard_table as table
    from optimlab.study.report import steps_to_target_cells

    cells = steps_to_target_cells(spec, board)
    return table(spec, board, None if cells is None else ("steps to target", cells))


def _compared(optimizers: str | None, compare_field: str | None) -> tuple[str, list[Any]]:
    """(recipe field, values) from ``--optimizers a,b`` or ``--compare FIELD=a,b``."""
    if (optimizers is None) == (compare_field is None):  # given empty ('') is refused below, not unread
        raise OptimlabError("say what to compare: --optimizers a,b,c or --compare FIELD=a,b,c (one of them)")
    if optimizers is not None:
        o.check_names(optimizers, "--optimizers", "optimizer")
        return "optimizer.name", o.split_names(optimizers)
    field, values = compare_field.partition("=")[::2]
    names = o.split_names(values)
    if not field or not names:
        raise InvalidValueError("--compare", compare_field, "FIELD=a,b,c, e.g. model.activation=relu,gelu")
    if "." not in field:  # a section: optimizer=sgd,adam means its name
        raise InvalidValueError(
            "--compare", compare_field, f"a field of a section, e.g. {field}.name={values}"
        )
    return field, [_value(name, compare_field) for name in names]


def _value(text: str, compare_field: str) -> Any:
    """One value of ``--compare``, typed as YAML types it (0.9 a number), as ``--space`` does."""
    import yaml

    try:
        return o.yaml_value(text, "--compare", compare_field)
    except yaml.YAMLError:
        raise InvalidValueError(
            "--compare", compare_field, f"values that are numbers or words, not {text!r}"
        ) from None


def _space(flags: list[str]) -> SearchSpace:
    """``--space`` flags as a search space; a value that YAML cannot read, a number not read as written
    (``1_0``, ``0x10``), or a range its checks refuse (``1:0.1``, ``0:1:log``), is named with its flag,
    where the message said 'a file is not valid YAML' or named the field alone."""
    import yaml

    from optimlab.recipe import YamlValueError
    from optimlab.study import SearchSpace
    from optimlab.study.space import FLAG_FORMS

    for flag in flags:
        try:
            SearchSpace.from_flags([flag])
        except YamlValueError as error:
            raise InvalidValueError("--space", flag, error.accepted) from None
        except yaml.YAMLError:
            raise InvalidValueError("--space", flag, FLAG_FORMS) from None
        except InvalidValueError as error:
            if error.field == "--space":
                raise
            raise InvalidValueError(
                "--space", flag, f"{error.accepted} ({error.field}: {error.value!r})"
            ) from None
    return SearchSpace.from_flags(flags)


def compare(
    ctx: typer.Context,
    recipe_path: o.RecipeArg = None,
    workload: Annotated[
        str | None,
        typer.Option(
            "--workload",
            "--workloads",  # bench's spelling: the same flag in both verbs
            help="Workloads (recipe + metric), comma-separated (optimlab list workload).",
        ),
    ] = None,
    optimizers: o.OptimizersOpt = None,
    compare_field: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Any recipe field and its values to compare: FIELD=a,b,c (e.g. model.activation=relu,gelu).",
        ),
    ] = None,
    space: Annotated[
        list[str] | None,
        typer.Option(
            "--space",
            metavar="FIELD=RANGE",
            help="Searched field: FIELD=LOW:HIGH[:log][:int] or FIELD=a,b (repeat).",
        ),
    ] = None,
    space_file: Annotated[
        Path | None, typer.Option("--space-file", parser=checks.readable_file, help="Search space YAML.")
    ] = None,
    protocol: o.ProtocolOpt = None,
    budget: o.BudgetOpt = None,
    seeds: o.SeedsOpt = None,
    pruner: Annotated[
        str | None,
        typer.Option(
            "--pruner",
            parser=o.choice(*PRUNERS),
            metavar="|".join(PRUNERS),
            help="Stop hopeless tuning trials (seed reruns run whole; not with --backend batched): "
            "none, median, halving.",
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", parser=o.number(POSITIVE_INT), help="Override the workload's epochs."),
    ] = None,
    data_dir: o.DataDirOpt = None,
    model: o.CompareModelOpt = None,
    dataset: o.DatasetOpt = None,
    target: o.TargetOpt = None,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Validation metric each study tunes on: val_loss, val_accuracy, val_rmse, val_NAME of the "
            "recipe's training.metrics, or yours by import path (mymetrics:f1 -> val_f1).",
        ),
    ] = None,
    goal: Annotated[
        str | None,
        typer.Option(
            "--goal",
            parser=o.choice(*GOALS),
            metavar="|".join(GOALS),
            help="Direction of --metric: max or min.",
        ),
    ] = None,
    backend: o.BackendOpt = None,
    workers: o.WorkersOpt = None,
    members: o.MembersOpt = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            parser=lambda text: checks.given(text, "an address: auto or ray://HOST:PORT"),
            help="Ray cluster to join.",
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option("--storage", parser=checks.storage_url, help="Optuna RDB URL."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", parser=checks.name, help="Study name.")] = None,
    out_dir: o.StudyOutOpt = None,
    resume: o.StudyResumeOpt = None,
    threads: o.StudyThreadsOpt = None,
    progress: o.ProgressOpt = True,
    fmt: o.FormatOpt = "human",
) -> None:
    """Compare methods, each tuned alike, over fresh seeds.

    Tunes each method with the same budget, reruns its best config on fresh seeds, reports with CIs.

    With --format json, one JSON object on stdout: each study's leaderboard (the columns of
    leaderboard.csv), the report, the tables and the storage; progress and errors go to stderr.
    """
    backend = backend or o.STUDY_BACKEND
    o.check_backend_options(backend, workers=workers, members=members, ray_address=ray_address)
    # --resume with what to compare: the command that started it, --resume in place of --out, whose flags
    # plan it again; it takes over the studies a comparison killed as it began left without settings
    again_planned = optimizers is not None or compare_field is not None
    if resume is not None:
        # with --storage, where the studies are, the folder is for the report: the first run's or a new one
        new = storage is not None and not o.checked(checks.existing, str(resume), "--resume")
        resume = o.checked(checks.writable_folder if new else checks.resumed_folder, str(resume), "--resume")
        _refuse_a_bench(resume)
        if again_planned and out_dir is not None:
            raise OptimlabError("--resume names the comparison's folder, its --out: drop --out")
        if not again_planned:
            o.refuse_with_resume(ctx, PLAN_FLAGS)
        if storage is None:
            o.checked(checks.study_location, str(resume), "--resume")
        else:  # a SQLite file not there was created, empty, before 'no optimlab study' was said
            o.checked(checks.study_location, storage, "--storage")
    if resume is not None and not again_planned:
        plan: dict[str, Any] = {"seeds": seeds}  # more seeds: each method's best reruns on the next ones
        values = None
    else:
        field, values = _compared(optimizers, compare_field)
        if space and space_file:  # --space was silently dropped
            raise OptimlabError("--space and --space-file both give the search space: give one of them")
        o.check_names(workload, "--workload", "workload")
        workloads: list[Any] | None = o.split_names(workload) or None
        if recipe_path is not None:
            workloads = _recipe_workloads(recipe_path, epochs, workload, target, dataset)
        o.check_target(target, dataset or (workloads[0].recipe.data.name if recipe_path else None))
        plan = {
            "field": field,
            "workloads": workloads,
            "epochs": epochs,
            "data_dir": data_dir,
            "model": model,
            "dataset": dataset,
            "target": target,
            "protocol": protocol,
            "budget": budget,
            "seeds": seeds,
            "pruner": pruner,
            "metric": metric,
            "goal": goal,
        }
    from optimlab.study import SearchSpace, leaderboard
    from optimlab.study.backends import BackendOptions
    from optimlab.study.compare import compare as run_comparison
    from optimlab.study.report import fresh_seeds, nothing_tuned, tuning_trials
    from optimlab.study.run import as_stored_where_not_given, worker_command
    from optimlab.study.storage import without_passwords

    o.use_threads(threads, backend)
    if space_file is not None:  # both refused with a plain --resume
        with o.file_named("--space-file", space_file):
            plan["space"] = SearchSpace.load(space_file)
    elif space:
        plan["space"] = _space(space)
    if resume is not None:  # what was not typed is as stored, not a change ('budget: stored 1, given 7')
        # a recipe file holds its own epochs: an edited one is a change, said as such
        kept = {"epochs": plan.get("epochs")} if recipe_path is not None else {}
        plan = {**as_stored_where_not_given(plan, storage or str(resume), name), **kept}
    plan = {k: v for k, v in plan.items() if v is not None}
    output = Output(fmt)
    again: str | None = None  # the command that continues the comparison, once its studies are stored
    shows: str | None = None  # the command that reports its finished trials (a folder's study only)
    held: tuple[str, Path] | None = None  # its storage and folder, before a study is stored there

    def commands(folder: Path) -> tuple[str, str | None]:
        """The commands that continue the comparison kept in ``folder`` and report it (None: it is in
        --storage)."""
        words = ["optimlab", "compare", "--resume", str(folder)]
        words += ["--storage", storage] if storage else []
        continued = shlex.join(words + (["--name", name] if name else []))
        return continued, None if storage else shlex.join(["optimlab", "report", str(folder)])

    def stored_commands() -> tuple[str | None, str | None]:
        """``(again, shows)``; before the studies are all stored (a stop as they are), those of the held
        folder where one is already there (--resume continues it), else nothing to continue. The storage
        is read once a stop: both commands are asked for."""
        nonlocal again, shows
        if again is None and held is not None and _holds_a_study(held[0]):
            again, shows = commands(held[1])
        return again, shows

    # the words of a refusal that name what was typed, as the flag typed
    compared: dict[str, str] = dict(o.COUNT_FLAGS)
    if values is not None:
        field = plan["field"]
        # --optimizers names only the compared values: its field is --space's too ("the grid over
        # optimizer.name" is the search space's), where --compare's field is the user's own
        if compare_field:
            compared[field] = f"{field} (--compare)"
        else:
            compared[f"compared for {field!r}"] = f"compared for '{field} (--optimizers)'"
        compared["for workloads:"] = "for workloads (--workload):"  # at least one, each once
    with (
        resumable(output, lambda: stored_commands()[0], report_command=lambda: stored_commands()[1]),
        StudyProgress(progress) as shown,
        o.noting_data(output),
        o.fields_named(compared),
        o.flags_named(
            _held_flags(ctx.params, plan)
        ),  # --model, --dataset: named as typed, as train names them
    ):

        def on_start(specs: list[StudySpec], location: str, folder: Path) -> None:
            nonlocal again, shows
            again, shows = commands(folder)
            total = sum(len(spec.tune_plan(m)) + spec.seeds for spec in specs for m in spec.methods)
            for spec in specs if progress else ():  # the plan, before an hour of trials: its grid, seeds
                output.note(
                    f"{spec.name}: {tuning_trials(spec)} a method{nothing_tuned(spec)}, then its best on "
                    f"{fresh_seeds(spec)}"
                )
            shown.start(count_of(len(specs[0].methods), "method"), total)
            if backend == "workers" and workers == 0:
                output.note(f"waiting for `{worker_command(location)}` processes to run the trials")

        def held_at(location: str, folder: Path) -> None:
            nonlocal held
            held = (location, folder)

        def on_progress(spec: StudySpec, records: list[TrialRecord]) -> None:
            from optimlab.study.protocols import SEEDS

            table = None
            if any(r.phase == SEEDS and r.finished for r in records):
                columns, rows = leaderboard_table(spec, leaderboard(spec, [r for r in records if r.finished]))
                table = (f"{spec.name}: leaderboard so far", columns, rows)
            shown.update(spec.name, sum(r.finished for r in records), table)

        out = resume or out_dir
        done = run_comparison(
            values,
            out=out,
            storage=storage,
            resume=resume is not None,
            name=name,
            backend=backend,
            options=BackendOptions.given(workers=workers, members=members, ray_address=ray_address),
            on_start=on_start,
            on_progress=on_progress,
            on_storing=lambda spec, stored, total: shown.storing(spec.name, stored, total),
            on_folder=held_at,
            command=typed_command(),
            **plan,
        )
        # the leaderboards, read from the stored studies: a stop here has kept the whole comparison
        shown.stop()  # the tables print under the bar, not into it
        studies = [_said(output, result.spec, result.records) for result in done.results]
    storage_shown = without_passwords(done.location)
    output.result(
        f"report: {done.report}\ntables: {', '.join(str(f) for f in done.tables)}\nstorage: {storage_shown}",
        {
            "studies": studies,
            "report": str(done.report),
            "tables": [str(f) for f in done.tables],
            "storage": storage_shown,
        },
    )
    exit_if_all_failed(output, done.results)


def _held_flags(params: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """The flags of ``params`` that set a recipe field the comparison holds: not one it compares or
    searches, whose refused value (training.epochs 1.5 of --compare) was named as --epochs."""
    from optimlab.recipe import as_recipe_field

    space = plan.get("space")
    varied = {plan.get("field"), *(as_recipe_field(d.field) for d in (space.dimensions if space else ()))}
    return {name: value for name, value in params.items() if o.RECIPE_FLAGS.get(name) not in varied}


def _holds_a_study(location: str) -> bool:
    """Whether the storage at ``location`` (a folder, a database URL) holds a study of optimlab's
    (:func:`~optimlab.study.compare.stored_settings`); one it cannot read, as one holding none: asked
    as a stop is said, where an error would replace the line."""
    from optimlab.study.compare import stored_settings

    try:
        return bool(stored_settings(location))
    except OSError:
        return False


def _refuse_a_bench(folder: Path) -> None:
    """A bench's folder is continued by bench: compare would resume only the workloads begun and write its
    report over the bench's, so the folder would look finished."""
    if is_bench(folder):
        raise OptimlabError(
            f"--resume {str(folder)!r} is a bench's folder: resume it with `{resume_command(folder)}`"
        )


def _recipe_workloads(
    path: Path, epochs: int | None, workload: str | None, target: str | int | None, dataset: str | None
) -> list[Workload]:
    """The recipe file as the one workload, named after the file (tuned on validation accuracy for
    classes, else validation loss), ``--epochs`` and ``--target`` applied (``--dataset``'s target goes
    with it, in the study)."""
    from optimlab.study.compare import recipe_workload

    if workload:
        raise OptimlabError(f"compare {str(path)!r} or --workload {workload}: give one of them")
    flags = {"epochs": epochs, "target": None if dataset else target}
    recipe = o.recipe_from_options(path, flags, data_replaced=dataset is not None)
    return [recipe_workload(recipe, path.stem, data_replaced=dataset is not None)]


def _said(output: Output, spec: StudySpec, records: Sequence[TrialRecord]) -> dict[str, Any]:
    """Print a finished study's leaderboard and what the report says under it (human output; JSON gets
    them in the one document), and return its JSON document (:func:`_study_document`). The leaderboard and
    its tests against the first are computed once, for both: the Holm-adjusted Welch tests ran three times
    a study (the ranking printed, the document's p-values, its ranking)."""
    from optimlab.study import leaderboard
    from optimlab.study.analysis import interval_words
    from optimlab.study.report import few_tried_note, fresh_seeds
    from optimlab.study.significance import board_seeds, ranking_note, versus_first

    board = leaderboard(spec, records)
    ranked, failed = board_seeds(spec, records, board)
    versus = versus_first(ranked, failed)
    ranking = ranking_note(ranked, failed, versus)  # as the report says it under its table
    if output.human:
        output.table(
            f"{spec.name}: {spec.test_metric} of each method's best configuration over {fresh_seeds(spec)}",
            *leaderboard_table(spec, board),
        )
        output.result(f"95% CI: {interval_words(spec.test_metric)}")  # the page's words of it
        if ranking:
            output.result(ranking)
        if note := few_tried_note(board):
            output.result(note)
    return _study_document(spec, board, versus, ranking)


def _study_document(
    spec: StudySpec, board: Sequence[LeaderboardRow], versus: Mapping[str, Comparison], ranking: str
) -> dict[str, Any]:
    """A study in ``--format json``: its leaderboard ``board`` with the columns of leaderboard.csv (``versus``:
    each method's test against the first), the best configuration as a mapping, the fields at the edge
    of their range as a list and those tuning tried fewer than 3 values of (each with its count), what the
    seeds say of its ``ranking`` and what the human output says of those few values (``tuning_note``)."""
    from optimlab.study.export import leaderboard_rows as table_rows
    from optimlab.study.report import few_tried_note

    rows = [
        {k: v for k, v in row.items() if k != "study"}
        | {"best_config": best.params, "at_edge": list(best.at_edge), "few_tried": dict(best.few_tried)}
        for row, best in zip(table_rows(board, versus=versus), board)
    ]
    return {
        "study": spec.name,
        "test_metric": spec.test_metric,
        "target": spec.target,  # null: none, so no steps to it
        "seeds": spec.seeds,
        "leaderboard": rows,
        "ranking": ranking,  # "": nothing to say (fewer than two methods with a result)
        "tuning_note": few_tried_note(board),  # "": every searched field tried at 3 values or more
    }
