"""A comparison end to end: methods x workloads as studies, run or resumed, written as tables and a report.

``optimlab compare`` is this function behind flags:

>>> from optimlab.study.compare import compare
>>> done = compare(["sgd", "adam"], workloads=["digits-mlp"], out="runs/sgd-adam")  # doctest: +SKIP
>>> done.report  # doctest: +SKIP
PosixPath('runs/sgd-adam/report.html')
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimlab.atomic import write_refusal_said
from optimlab.data.built_once import data_built_once
from optimlab.data.examples import TensorPair
from optimlab.data.global_rng import global_generators_given_back
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning, unprintable
from optimlab.number_text import count_of, named_and_more
from optimlab.recipe import MODEL_LOSS, ModelSpec, Recipe, RecipeError, architecture_techniques
from optimlab.registry import POSITIVE_INT, Capability, get_registry, whole_number
from optimlab.runs_folder import fresh_path, hold_folder
from optimlab.study.analysis import LeaderboardRow, leaderboard
from optimlab.study.backends import BackendOptions
from optimlab.study.protocols import Method, StudySpec, check_planned_together, evaluated_often, methods_from
from optimlab.study.run import StudyResult, check_backend, load_specs, open_studies, run_study, with_stored
from optimlab.study.space import SearchSpace
from optimlab.study.storage import (
    COMPARISON_ATTR,
    JOURNAL_NAME,
    SPEC_ATTR,
    TrialRecord,
    claims_held,
    open_storage,
    optimlab_studies,
    without_passwords,
)
from optimlab.study.trial import raised_by_user
from optimlab.user_code import is_import_path
from optimlab.workloads import GOALS, Workload, check_workloads, metric_goal, refuse_data_dir, workloads_from

if TYPE_CHECKING:
    import optuna

__all__ = [
    "COMMAND_ATTR",
    "DEFAULT_WORKLOAD",
    "Comparison",
    "check_trains",
    "compare",
    "measured_on_its_data",
    "on_dict_batches",
    "on_user_code",
    "plan_comparison",
    "recipe_workload",
    "stored_command",
    "stored_settings",
    "with_metric",
]

DEFAULT_WORKLOAD = "digits_mlp"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A finished comparison: one study per workload, where they are kept, and the files written."""

    results: list[StudyResult]
    location: str
    report: Path
    tables: list[Path]

    @property
    def leaderboard(self) -> list[LeaderboardRow]:
        """The one study's leaderboard, best first: each method's best configuration over fresh seeds, with
        its mean, standard deviation and 95% confidence interval (:func:`~optimlab.study.leaderboard`)."""
        if len(self.results) != 1:
            raise OptimlabError(
                f"this comparison holds {len(self.results)} studies: read each one's with "
                "optimlab.study.leaderboard(result.spec, result.records) for result in .results"
            )
        (result,) = self.results
        return leaderboard(result.spec, result.records)


def on_user_code(
    workloads: Sequence[Workload],
    *,
    model: str | None = None,
    dataset: str | None = None,
    target: str | int | None = None,
) -> list[Workload]:
    """``workloads`` on ``model`` (a name, or the user's factory ``pkg.mod:build``), as ``--model`` puts
    any verb's recipe on it: a workload of the user's recipe (compare's RECIPE file; not
    :attr:`~optimlab.workloads.Workload.registered`) keeps the model fields that chose something where
    ``model`` takes them, as ``train RECIPE --model`` keeps them (``Recipe.with_updates`` on
    ``model.name``); a registered workload's model section is the workload's, replaced by ``model`` at
    its own defaults, given by name or as the object ``get_workload`` returns. ``dataset`` is its data
    set's name, at its own defaults (the workload's data options were its own data set's), ``target``
    its target column (a file's): the
    verbs' ``--model``, ``--dataset`` and ``--target``. Each is then named for what it trains
    (``mlp-on-rows`` for an MLP on ``rows.csv``; after its workload's name where there are several); on
    other data it has no target (the workload's was a level of its own data). Token ids stay unscaled, and so does what the user's
    code returns (``mydata:load``: as it gives it, as ``optimlab.compare(data=...)`` and a hand loop
    take it; token ids that its model embeds could not be scaled); files of numbers get the workload's
    scaling."""
    updates: dict[str, Any] = {"data.name": dataset} if dataset else {}
    if dataset:
        updates["data.options"] = {} if target is None else {"target": target}
    elif target is not None:
        updates["data.options.target"] = target
    if not (updates or model):
        return list(workloads)
    registry = get_registry("dataset")
    known = bool(dataset) and not is_import_path(dataset) and dataset in registry
    tokens = known and Capability.TOKENS in registry.get(dataset).capabilities
    if tokens or (dataset and is_import_path(dataset)):
        updates["data.scaling"] = "none"
    replaced = []
    for w in workloads:
        # the user's recipe keeps its model's choices; a registered workload's model section is replaced
        # whole (a section given to with_updates sets only the fields it holds)
        on_model = {"model.name": model} if model and not w.registered else {}
        try:
            base = w.recipe
            if model and w.registered:
                base = w.recipe.with_sections_replaced({"model": {"name": model}})
            recipe = base.with_updates({**updates, **on_model})
        except RecipeError as error:
            if model and not w.registered:
                raise _kept_but_not_taken(w.recipe, model, error) from None
            raise
        name = f"{_label(recipe.model.name)}-on-{_label(recipe.data.name)}"
        name = f"{w.name}-{name}" if len(workloads) > 1 else name
        target = None if dataset else w.target
        replaced.append(dataclasses.replace(w, name=name, recipe=recipe, target=target))
    return replaced


def _kept_but_not_taken(recipe: Recipe, model: str, error: RecipeError) -> RecipeError:
    """``error``, the refusal of the user's ``recipe`` on ``model``, naming the model fields the recipe
    file chose (kept where ``model`` takes them) and the fix: compare has no ``--set`` to undo one, so it
    is to be removed from the file."""
    chosen = [field for field in ModelSpec.TECHNIQUES if recipe.model.chooses(field)]
    taken = architecture_techniques(model)
    refused = [field for field in chosen if field not in taken] or chosen
    if not refused:
        return error
    fields = ", ".join(f"model.{field} ({getattr(recipe.model, field)})" for field in refused)
    refusal = " ".join(str(error).removeprefix("invalid recipe:").split()).rstrip(".")
    return RecipeError(
        f"--model {model}: the recipe file's {fields}, chosen for {recipe.model.name}, is kept where "
        f"{model} takes it, and {refusal}: remove {', '.join(f'model.{field}' for field in refused)} from "
        "the recipe file (compare has no --set)"
    )


def _label(name: str) -> str:
    """A model's or a data set's name as a study name's part: a file's stem, an import path's dots."""
    if not is_import_path(name) and any(c in name for c in "/\\."):
        name = Path(name).stem
    return re.sub(r"[^A-Za-z0-9_.]+", ".", name).strip(".") or "data"


# Metrics every evaluation gives, by task.
BUILT_IN_METRICS = ("val_loss", "val_rmse", "val_accuracy")
# The task whose evaluation gives each built-in metric (train.run.evaluate_members): never the other's.
_MEASURED_FOR = {"val_accuracy": "classification", "val_rmse": "regression"}


def with_metric(workload: Workload, metric: str | None, goal: str | None = None) -> Workload:
    """``workload`` tuned on ``metric`` (a validation metric: ``val_loss``; ``val_accuracy`` for classes,
    ``val_rmse`` for regression; ``val_NAME`` of a metric in the recipe's ``training.metrics``; or the
    user's metric by import path, ``mypkg.metrics:f1``, added to them and tuned as ``val_f1``) towards
    ``goal`` (default: :func:`~optimlab.workloads.metric_goal`, the workload's own for its metric, min
    for a loss or an RMSE, max for any other), reported as the same metric of the test
    split. A new metric drops the workload's target (it was of the old one)."""
    from optimlab.train.run import metric_name

    if metric is None and goal is None:
        return workload
    recipe, target = workload.recipe, workload.target
    if metric is not None:
        metric = metric.strip()
        if is_import_path(metric):  # the user's: computed at each evaluation
            if metric not in recipe.training.metrics:
                recipe = recipe.with_updates({"training.metrics": [*recipe.training.metrics, metric]})
            metric = f"val_{metric_name(metric)}"
        accepted = [*BUILT_IN_METRICS, *(f"val_{metric_name(p)}" for p in recipe.training.metrics)]
        if metric not in accepted:
            task = _task_of_data(recipe)  # the built-in metrics its data give: not an RMSE of classes
            compute_loss = recipe.training.compute_loss
            given = [m for m in accepted if _measures(task, m, compute_loss=compute_loss) is not False]
            hint = (
                ""
                if task in _MEASURED_FOR.values()
                else " (val_accuracy for classes, val_rmse for regression)"
            )
            raise InvalidValueError(
                "metric (--metric)",
                metric,
                f"one of {', '.join(given)}{hint}, or a metric of yours by import path, mypkg.metrics:f1",
            )
        if metric != workload.metric:
            target = None
    tuned = metric or workload.metric
    if goal is None and metric_goal(tuned, workload) is None:  # a user's metric the name says nothing of
        warnings.warn(
            f"{tuned} is tuned and ranked towards its largest value (goal max): pass goal='min' "
            "(--goal min) if lower is better (an error, a distance), or the best trials and methods rank last",
            OptimlabWarning,
            stacklevel=2,
        )
    goal = goal or metric_goal(tuned, workload) or "max"
    if goal not in GOALS:
        raise InvalidValueError("goal (--goal)", goal, " or ".join(GOALS))
    known = metric_goal(tuned) if tuned in BUILT_IN_METRICS else None
    if known is not None and goal != known:  # --goal max on val_loss ranked the worst configuration first
        warnings.warn(
            f"{tuned} is tuned and ranked towards its {'largest' if goal == 'max' else 'smallest'} value "
            f"(goal {goal}), while {'lower' if known == 'min' else 'higher'} is better: the worst configuration "
            f"and method rank first; leave the goal out (or pass goal='{known}', --goal {known})",
            OptimlabWarning,
            stacklevel=2,
        )
    if metric is None:
        reported = workload.test_metric
    elif workload.test_metric.startswith("val_"):  # no test split: the tuned metric of the fresh seeds
        reported = tuned
    else:
        reported = tuned.replace("val_", "test_", 1)
    return dataclasses.replace(
        workload, recipe=recipe, metric=tuned, goal=goal, test_metric=reported, target=target
    )


def _task_of_data(recipe: Recipe) -> str | None:
    """The task of ``recipe``'s data, built (classification, regression); None where they are neither
    or cannot be built here (data of another machine: the study's run says why)."""
    from optimlab.build import build_data

    try:
        return getattr(build_data(recipe), "task", None)
    except OptimlabError:
        return None


def measured_on_its_data(workload: Workload) -> Workload:
    """``workload`` tuned on ``val_loss`` where its data may not give its built-in metric
    (:func:`_measures`): other data given to it (``--dataset prices.csv``, a regression, on the default
    workload, which counts correct classes; the user's dict batches of a class per position), as
    :func:`recipe_workload` chooses for the user's recipe. Data without a test split (an image folder of
    train/ and val/) are reported on the validation split of the fresh seeds, as tuned: the test metric
    was missing from every seed, and nothing ranked. Any other is returned as it is."""
    from optimlab.build import build_data

    return _measured_on(workload, build_data(workload.recipe))


def _measured_on(workload: Workload, splits: Any) -> Workload:
    """:func:`measured_on_its_data` of ``splits``, the workload's data built."""
    if workload.metric in _MEASURED_FOR:
        tuned = _tuned_on(workload.metric, splits, workload.recipe)
        workload = workload if tuned == workload.metric else with_metric(workload, tuned)
    if not _has_test(splits):
        workload = dataclasses.replace(workload, test_metric=workload.metric)
    return workload


def _has_test(splits: Any) -> bool:
    return splits.test is not None and len(splits.test) > 0


def _measures(task: str | None, metric: str, *, compute_loss: str | None = None) -> bool | None:
    """Whether evaluating data of ``task`` gives the built-in ``metric``: True where it surely does (the
    task it is measured for), False where it never does (an accuracy of a regression, an RMSE of
    classes, either under a ``compute_loss``, which returns the loss alone), None where only an
    evaluation tells (the user's dict batches that are not one class each: a class per position gets
    an accuracy, multi-label columns none). Metrics of every task (``val_loss``) or of the user's: True.

    The two answers short of True are used apart: a workload's default falls back to ``val_loss`` unless
    its metric is surely given (:func:`_tuned_on`), while a metric the user names is refused before any
    trial only where it is never given (:func:`_check_measured`; a maybe is settled by
    :func:`check_trains`'s evaluation)."""
    needed = _MEASURED_FOR.get(metric)
    if needed is None:
        return True
    if compute_loss is not None:
        return False
    if task == needed:
        return True
    return False if task in _MEASURED_FOR.values() else None


def _tuned_on(metric: str, splits: Any, recipe: Recipe) -> str:
    """A workload's default ``metric`` where ``splits`` surely give it (:func:`_measures`; the user's dict
    batches under the model's own loss: where its evaluation does, :func:`_own_loss_gives`), else
    ``val_loss``."""
    from optimlab.data.user_factory import BatchSplits

    task = getattr(splits, "task", None)
    surely = _measures(task, metric, compute_loss=recipe.training.compute_loss) is True
    if surely and isinstance(splits, BatchSplits) and recipe.training.loss in (None, MODEL_LOSS):
        surely = _own_loss_gives(metric, recipe, splits)
    return metric if surely else "val_loss"


def _own_loss_gives(metric: str, recipe: Recipe, splits: Any) -> bool:
    """Whether the evaluation of the user's dict batches ``splits`` under the model's own loss gives
    ``metric``, read on its first validation batch: that loss, not the labels, makes the task (Hugging
    Face's sequence classification with ``num_labels=1`` is a regression of integer labels, scored by a
    loss alone: :func:`~optimlab.data.user_batches.own_pairs`). Only the model is built (no data again,
    no optimizer). A model that does not build keeps the labels' answer: :func:`check_trains` names its
    error before any trial."""
    from optimlab.build import build_model, resolve_device, user_batches
    from optimlab.train.evaluation import evaluate_batches

    try:
        model = build_model(recipe, splits).to(resolve_device(recipe.training.device))
        batches = user_batches(recipe, splits.val, None, None, train=False)  # the model's own loss
        measured = evaluate_batches(model, batches, prefix="val", most=1)
    except OptimlabError:
        return True
    return metric in measured


def _names_user_data(recipe: Recipe) -> bool:
    registry = get_registry("dataset")
    name = recipe.data.name
    return is_import_path(name) or (name in registry and Capability.USER in registry.get(name).capabilities)


def recipe_workload(recipe: Recipe, name: str, *, data_replaced: bool = False) -> Workload:
    """A recipe of the user's as a workload: tuned on validation accuracy where its data are surely scored
    so (one class per example, no ``compute_loss``: :func:`_measures`), else validation loss; reported
    on the test split, or on the validation split of the fresh seeds without one. ``data_replaced``:
    other data take the place of its own (``--dataset``), which are not read (they may be on another
    machine): the metric is chosen on those (:func:`measured_on_its_data`)."""
    from optimlab.build import build_data

    if data_replaced:
        return Workload(name, recipe, metric="val_accuracy", goal="max", test_metric="test_accuracy")
    splits = build_data(recipe)
    tuned = _tuned_on("val_accuracy", splits, recipe)
    reported = tuned.replace("val_", "test_", 1) if _has_test(splits) else tuned
    workload = Workload(name, recipe, metric=tuned, goal=metric_goal(tuned) or "min", test_metric=reported)
    return _fitted_to(workload, splits) if _names_user_data(recipe) else workload


def on_dict_batches(workload: Workload) -> Workload:
    """``workload`` fitted to the user's dict batches, where its data are those: a recipe that names no
    loss trains on the model's own, written out (``training.loss: model``) so that the stored recipes
    say so; the batches reach the model as they are (``data.scaling: none``, whatever the workload
    scaled); a study reports the validation metric of the fresh seeds where there is no test split. Its
    metric is left as it is: a default was chosen for the data (:func:`recipe_workload`,
    :func:`measured_on_its_data`), and one the user names is theirs. Any other workload is returned as
    it is."""
    return _fitted_to_data(workload, measured=False)


def _fitted_to(workload: Workload, splits: Any) -> Workload:
    """:func:`on_dict_batches` of ``splits``, the workload's user data built."""
    from optimlab.data.user_factory import BatchSplits

    if not isinstance(splits, BatchSplits):
        return workload
    spec = workload.recipe.training
    updates: dict[str, Any] = {"data.scaling": "none"}
    if spec.loss is None and spec.compute_loss is None:
        updates["training.loss"] = MODEL_LOSS
    fitted = dataclasses.replace(workload, recipe=workload.recipe.with_updates(updates))
    if splits.test is None:  # reported on the validation split of the fresh seeds, as tuned
        fitted = dataclasses.replace(fitted, test_metric=fitted.metric)
    return fitted


def _fitted_to_data(workload: Workload, *, measured: bool) -> Workload:
    """``workload`` :func:`measured_on_its_data` (where ``measured``) and :func:`on_dict_batches`, its
    data built once."""
    from optimlab.build import build_data

    if not (measured or _names_user_data(workload.recipe)):
        return workload
    splits = build_data(workload.recipe)
    workload = _measured_on(workload, splits) if measured else workload
    return _fitted_to(workload, splits) if _names_user_data(workload.recipe) else workload


def _with_epochs(workload: Workload, epochs: int | None) -> Workload:
    """``workload`` training ``epochs`` passes where given, as :func:`workloads_from` gives a named one;
    refused where its recipe counts steps (``training.steps`` set: epochs would go unread)."""
    if epochs is None:
        return workload
    epochs = whole_number(epochs, "epochs", POSITIVE_INT)
    if (steps := workload.recipe.training.steps) is not None:
        raise InvalidValueError(
            "epochs",
            epochs,
            f"unset: workload {workload.name!r} trains {steps} steps (training.steps), not epochs",
        )
    recipe = workload.recipe.with_updates({"training.epochs": epochs})
    # the registry's workload over other epochs stays the registry's, as get_workload(name, epochs=) is
    registry_recipe = recipe if workload.registered else None
    return dataclasses.replace(workload, recipe=recipe, registry_recipe=registry_recipe)


def plan_comparison(
    values: Sequence[Any],
    *,
    field: str = "optimizer.name",
    workloads: Sequence[str | Workload] = (DEFAULT_WORKLOAD,),
    space: SearchSpace | None = None,
    epochs: int | None = None,
    data_dir: str | Path | None = None,
    name: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
    target: str | int | None = None,
    metric: str | None = None,
    goal: str | None = None,
    stored: Sequence[Mapping[str, Any]] = (),
    **options: Any,
) -> list[StudySpec]:
    """One study per workload comparing ``field`` = each of ``values``; ``options`` go to
    :class:`StudySpec` (``protocol``, ``budget``, ``seeds``, ``pruner``). ``workloads`` are registered
    names or :class:`~optimlab.workloads.Workload` objects (the user's code, from :func:`optimlab.compare`).
    A ``name`` names the single study, or prefixes the workload's name when there are several; ``data_dir`` is the folder of the
    user's files for the workloads that read them. ``model`` is each workload's model (a name, or the
    user's factory ``pkg.mod:build``): a registered workload's (by name or object) at its own defaults,
    the user's recipe keeping its model's choices where ``model`` takes them; ``dataset`` its data set's name
    and ``target`` the target column of that file (:func:`on_user_code`);
    ``metric`` and ``goal`` what each study tunes on (:func:`with_metric`); ``stored``, the settings of
    the stored studies a resume plans again (:meth:`~optimlab.study.protocols.StudySpec.for_workload`)."""
    given = [v.strip() if isinstance(v, str) else v for v in values]
    methods = methods_from(field, [v for v in given if v != ""])
    if not workloads:
        raise InvalidValueError("workloads", list(workloads), "at least one workload")
    names = [w for w in workloads if not isinstance(w, Workload)]
    if data_dir is not None and not names:  # the user's recipe names its data itself
        refuse_data_dir(data_dir, ", ".join(w.name for w in workloads))
    # named ones read together, so that --data-dir goes unread only where none of them reads files
    named = iter(workloads_from(",".join(names), epochs=epochs, path=data_dir) if names else ())
    chosen = [
        found
        for workload in workloads
        for found in (
            [_with_epochs(workload, epochs)]
            if isinstance(workload, Workload)
            else [next(named) for part in workload.split(",") if part.strip()]
        )
    ]
    # one study per workload: the second of a name was refused as already stored, the first kept
    check_workloads(chosen)
    chosen = on_user_code(chosen, model=model, dataset=dataset, target=target)
    # the workload's metric was of its own data where --dataset replaced them
    chosen = [
        with_metric(_fitted_to_data(w, measured=bool(dataset) and metric is None), metric, goal)
        for w in chosen
    ]
    # A curve of each trial, even over a budget of 1 epoch (--epochs 1), has MIN_EVALUATIONS points.
    chosen = [dataclasses.replace(w, recipe=evaluated_often(w.recipe)) for w in chosen]
    prefix = f"{name}-" if name and len(chosen) > 1 else ""
    specs = [
        StudySpec.for_workload(
            name if name and len(chosen) == 1 else prefix + w.name,
            w,
            methods,
            space=space,
            stored=stored,
            **{k: v for k, v in options.items() if v is not None},
        )
        for w in chosen
    ]
    check_planned_together(specs)  # one journal holds them all
    for spec in specs:
        if untuned := spec.untuned_lr():
            warnings.warn(f"study {spec.name!r}: {untuned}", OptimlabWarning, stacklevel=2)
    return specs


def _check_measured(spec: StudySpec, splits: Any) -> None:
    """Refuse a metric the data set's task never measures: every trial would train, then fail on it."""
    task, compute_loss = getattr(splits, "task", None), spec.recipe.training.compute_loss
    if _measures(task, spec.metric, compute_loss=compute_loss) is not False:
        return
    if compute_loss is not None:
        accepted = f"val_loss: compute_loss ({compute_loss}) returns the loss alone, no predictions to score"
    else:
        other = next(m for m, t in _MEASURED_FOR.items() if t == task)
        accepted = f"val_loss or {other}: {spec.recipe.data.name} is a {task} data set"
    raise InvalidValueError("metric (--metric)", spec.metric, accepted)


# The fewest rows a split a study tunes on (validation) or ranks on (test) should hold: an accuracy of n
# rows moves in steps of 1/n, over 10 points below 10 rows, coarser than the differences a comparison of
# methods looks for; seeds then tie, and the leaderboard's interval of no width ([1.00, 1.00] of one test
# row) reads as certainty.
FEWEST_SCORED_ROWS = 10


def _say_few_scored_rows(spec: StudySpec, splits: Any) -> None:
    """Warn where ``spec``'s data split into a validation or test split of 1 to :data:`FEWEST_SCORED_ROWS`
    - 1 rows, naming the split sizes (a split of none is said by the split itself:
    :func:`~optimlab.data.splits.say_empty`); the user's batches, of sizes unknown here, are not said."""
    parts = {
        word: getattr(splits, part, None)
        for word, part in (("training", "train"), ("validation", "val"), ("test", "test"))
    }
    if not all(isinstance(rows, TensorPair) for rows in parts.values()):
        return
    sizes = {word: len(rows) for word, rows in parts.items()}
    few = [word for word in ("validation", "test") if 0 < sizes[word] < FEWEST_SCORED_ROWS]
    if not few:
        return
    said = (
        f"{sizes['training']} training, {sizes['validation']} validation and "
        f"{count_of(sizes['test'], 'test row')}"
    )
    warnings.warn(
        f"study {spec.name!r}: its data split into {said}: {' and '.join(few)} scores of under "
        f"{FEWEST_SCORED_ROWS} rows are too coarse to rank methods by (an accuracy of n rows moves in steps "
        "of 1/n: seeds tie, and an interval of no width says nothing); give more rows, or larger "
        "data.val_fraction and data.test_fraction",
        OptimlabWarning,
        stacklevel=2,
    )


def check_trains(spec: StudySpec) -> None:
    """Before any trial of a study: each method's recipe builds and trains one step (0.15 to 0.35 s a
    method on digits_mlp). The user's factory returning the wrong thing, a batch the model or the loss
    cannot take, a model that does not fit the data set (an MLP on next-token targets) then stops the
    comparison with one error naming it, instead of failing every trial the same way. An error of a
    method after the first, which trained, is its own: it is named (``--compare model.name=a,b`` with a
    ``b`` that does not build ran every trial of ``b`` into the same error, and ranked it last). An
    exception that went through the user's code is named with its line there (:func:`raised_by_user`),
    a refused batch's shapes kept beside it."""
    for i, method in enumerate(spec.methods):
        try:
            splits = _check_method_trains(spec, method)
            if i == 0:  # every method's split alike
                _say_few_scored_rows(spec, splits)
        except Exception as error:
            raised = raised_by_user(error)
            if raised is not None:
                raise OptimlabError(
                    f"{method.name}'s first training step raised {raised}, a line of the user's code (its "
                    "model, loss, data or optimizer); every trial would fail alike: mend that line or the "
                    "batches it is given, and run again"
                ) from error
            if i == 0 or not isinstance(error, OptimlabError):
                raise
            described = ", ".join(f"{field}={value}" for field, value in method.updates.items())
            raise OptimlabError(f"the compared {described} does not train: {error}") from None


def _check_method_trains(spec: StudySpec, method: Method) -> Any:
    """``method``'s recipe at the first point of its space builds and trains one step (:func:`check_trains`);
    returns the splits it built."""
    recipe = spec.trial_recipe(method, spec.space_for(method).grid(1)[0], spec.recipe.training.seed)
    from optimlab.build import build, build_model
    from optimlab.data.user_factory import BatchSplits
    from optimlab.train.loop import fit
    from optimlab.train.run import split_evaluator, user_metrics

    built = build(recipe)
    _check_measured(spec, built.splits)
    if Capability.USER in get_registry("model").get(recipe.model.name).capabilities:
        build_model(recipe, built.splits)  # a factory that hands every trial one shared model is refused
    if isinstance(built.splits, BatchSplits):  # the user's dict batches, with the loss they train on
        state = fit(
            built.model, built.optimizer, built.batches(built.splits.train, train=True), total_steps=1
        )
    else:
        x, y = built.splits.train.x.to(built.device), built.splits.train.y.to(built.device)
        state = fit(
            built.model,
            built.optimizer,
            x,
            y,
            loss_fn=built.loss_fn,
            total_steps=1,
            batch_size=recipe.training.batch_size,
        )
    if not state.skipped:  # a first batch of only ignored targets has no loss to judge
        _check_first_loss(spec, state.train_loss)
    _check_paired(built)
    measured = split_evaluator(built, built.splits.val, prefix="val", metrics=user_metrics(recipe))()
    if not measured:  # every trial would be scored NaN, and the leaderboard rank them so
        raise InvalidValueError(
            f"the validation split of {recipe.data.name}",
            "no rows",
            f"rows to tune {spec.metric} on: more data, a larger data.val_fraction (now "
            f"{recipe.data.val_fraction}), or a validation split of your own, (train, val)",
        )
    if spec.metric not in measured:
        raise InvalidValueError(
            "metric (--metric)",
            spec.metric,
            f"a metric {recipe.data.name} measures with this model and loss: {', '.join(sorted(measured))}",
        )
    return built.splits


def _check_paired(built: Any) -> None:
    """Refuse, before any trial, outputs that the loss compares with targets of another shape by
    broadcasting (:func:`~optimlab.train.evaluation.check_paired`), read on the first training batch:
    every trial would train and score them, torch's warning aside."""
    import torch

    from optimlab.data.user_batches import UserBatches
    from optimlab.data.user_factory import BatchSplits
    from optimlab.techniques.losses import REGRESSION_LOSSES
    from optimlab.train.evaluation import check_paired

    if not isinstance(built.loss_fn, REGRESSION_LOSSES):
        return  # a model's own loss or the user's function may pair them itself: no batch to read
    train = built.splits.train
    if isinstance(built.splits, BatchSplits):
        batches = built.batches(train, train=True)
    else:
        batches = UserBatches((train.x, train.y), built.loss_fn, batch_size=built.recipe.training.batch_size)
    with torch.no_grad():
        out = batches.forward(built.model, next(batches.stream(built.device)))
    check_paired(built.loss_fn, out.prediction, out.target)


def _check_first_loss(spec: StudySpec, loss: float) -> None:
    """Refuse a first loss that is not finite where the study varies nothing but the optimizer and its
    schedule: taken before any step, it owes nothing to them, so every trial would diverge at its first
    step (a forward that makes NaN, the log of 0) and the leaderboard would rank failures."""
    varied = {
        field
        for m in spec.methods
        for field in (*m.updates, *(d.field for d in spec.space_for(m).dimensions))
    }
    if math.isfinite(loss) or any(field.split(".")[0] not in ("optimizer", "schedule") for field in varied):
        return
    named = spec.recipe.training.loss
    raise InvalidValueError(
        "the loss of the first batch",
        loss,
        "a finite loss before any step, which no optimizer or learning rate changes: check the model's "
        f"forward ({spec.recipe.model.name}), the data and the loss{f' ({named})' if named else ''}",
    )


# The command line that started a comparison, in each of its studies: a page rebuilt later by `optimlab
# report` shows it where no page kept it (compare's refused by a full disk). None in older studies.
COMMAND_ATTR = "optimlab.command"


def _keep_command(specs: Sequence[StudySpec], location: str, command: str, existing: set[str]) -> None:
    """Store ``command``, its URLs' passwords hidden (:func:`~optimlab.study.storage.without_passwords`), as
    :data:`COMMAND_ATTR` in each Optuna study of ``specs`` that this call created (not among the
    ``existing`` study names before it): a study's stored command is always the one that created it. A
    resume stores nothing, so a study made before commands were stored, or whose command a stop after
    its creation cut off, holds none."""
    storage = open_storage(location)
    names = {spec.study_name(method) for spec in specs for method in spec.methods} - existing
    for study in optimlab_studies(storage):
        if study.study_name in names:
            study_id = storage.get_study_id_from_name(study.study_name)
            storage.set_study_user_attr(study_id, COMMAND_ATTR, without_passwords(command))


def stored_command(location: str | Path) -> str | None:
    """The commands that started the comparisons stored at ``location`` (:data:`COMMAND_ATTR`), each once,
    in the order stored; None where none is stored (studies from before it was, or run from Python)."""
    studies = optimlab_studies(open_storage(location, create=False))
    commands = dict.fromkeys(s.user_attrs[COMMAND_ATTR] for s in studies if COMMAND_ATTR in s.user_attrs)
    return "; ".join(commands) or None


def stored_settings(location: str | Path) -> list[dict[str, Any]]:
    """The settings (:meth:`~optimlab.study.protocols.StudySpec.to_dict`) of each optimlab study stored at
    ``location``; none where it holds no storage (a resume then says so)."""
    try:
        storage = open_storage(location, create=False)
    except OptimlabError:
        return []
    return [study.user_attrs[SPEC_ATTR] for study in optimlab_studies(storage)]


def _planned(specs: Sequence[StudySpec], studies: Sequence[optuna.study.FrozenStudy]) -> set[str]:
    """The study names that the comparisons which stored ``specs`` among ``studies`` planned
    (:data:`COMPARISON_ATTR`)."""
    return {
        planned
        for study in studies
        if study.user_attrs[SPEC_ATTR]["name"] in {spec.name for spec in specs}
        for planned in study.user_attrs.get(COMPARISON_ATTR, ())
    }


def _never_stored(specs: Sequence[StudySpec], location: str | Path) -> list[str]:
    """The studies of the comparisons that stored ``specs`` (:data:`COMPARISON_ATTR`) that ``location``
    does not hold: a kill between the creations of a comparison's studies (several workloads) left
    them out."""
    studies = optimlab_studies(open_storage(location, create=False))
    stored = {study.user_attrs[SPEC_ATTR]["name"] for study in studies}
    return sorted(_planned(specs, studies) - stored)


def _check_planned(specs: Sequence[StudySpec], begun: Sequence[StudySpec], location: str) -> None:
    """Refuse a resume that would create a study of ``specs`` that none of the ``begun`` ones' comparison
    planned (:data:`COMPARISON_ATTR`): a workload added to the call that started it is another
    comparison, whose studies the stored ones would not name."""
    stored = optimlab_studies(open_storage(location))
    if not {study.user_attrs[SPEC_ATTR]["name"] for study in stored} & {spec.name for spec in begun}:
        return  # taken over where a kill as it began left them without settings: its plan unstored
    planned = _planned(begun, stored)
    if added := [spec.name for spec in specs if spec not in begun and spec.name not in planned]:
        raise OptimlabError(
            f"cannot resume with study {added[0]!r}: the comparison stored at "
            f"{without_passwords(location)!r} ({', '.join(repr(spec.name) for spec in begun)}) never "
            "planned it; resume with the workloads it started with, and compare the others in another "
            "folder (--out, out=) or storage"
        )


def _begun(specs: Sequence[StudySpec], location: str) -> list[StudySpec]:
    """Those of ``specs`` of which ``location`` holds a study (of any of its methods, settings stored or
    not): a comparison of several workloads killed between creating their studies holds the first ones
    only."""
    stored = {study.study_name for study in open_storage(location).get_all_studies()}
    return [spec for spec in specs if any(spec.study_name(m) in stored for m in spec.methods)]


def _refuse_others_stored(specs: Sequence[StudySpec], location: str) -> None:
    """Refuse a resume of ``specs`` where ``location`` holds optimlab studies, none of them named as one of
    ``specs`` is: ``compare --resume FOLDER --optimizers adam`` without the --workload it started with
    looked for the default workload's study and said 'nothing to resume: no study 'digits_mlp''. A stored
    study of one of their names (other methods) is left to :func:`~optimlab.study.run.open_studies`,
    which names the settings that differ."""
    names = {settings["name"] for settings in stored_settings(location)}
    if names and not names & {spec.name for spec in specs}:
        stored = sorted(map(repr, names))
        raise OptimlabError(
            f"nothing to resume of {', '.join(repr(spec.name) for spec in specs)} at "
            f"{without_passwords(location)!r}, which holds {named_and_more(stored)}: give the workloads it "
            "started with (--workload, workloads=; its RECIPE) and its --name (name=) if it had one, or "
            "resume it as stored with --resume alone (resume=True and no values)"
        )


@global_generators_given_back()  # building seeds them for the run; the caller's draws go on after
@data_built_once()  # planning, checks and in-process trials load each workload's data once
def compare(
    values: Sequence[str] | None = None,
    *,
    out: str | Path | None = None,
    storage: str | None = None,
    resume: bool = False,
    name: str | None = None,
    backend: str = "local",
    options: BackendOptions | None = None,
    on_start: Callable[[list[StudySpec], str, Path], None] | None = None,
    on_progress: Callable[[StudySpec, list[TrialRecord]], None] | None = None,
    on_storing: Callable[[StudySpec, int, int], None] | None = None,
    on_folder: Callable[[str, Path], None] | None = None,
    command: str | None = None,
    **plan: Any,
) -> Comparison:
    """Run (or with ``resume``, continue) the studies of :func:`plan_comparison` (``values`` and ``plan``)
    in ``storage`` (default: a journal in ``out``), then write ``trials``/``leaderboard`` tables and
    ``report.html`` into ``out`` (default ``runs/compare-NAME-TIME``): of every study the folder's journal
    holds, another ``name``'s too (:func:`~optimlab.study.run.with_stored`).

    A resumed comparison reads its studies (only study ``name``'s, if given) from the storage and takes
    no plan but more ``seeds``: each method's best configuration then reruns on that many fresh seeds,
    those it ran kept (a study extended). Given its ``values`` and plan again (the call that started
    it), it resumes the studies planned so where they are stored as planned, and takes over those a
    comparison killed as it began left without settings (:func:`~optimlab.study.run.open_studies`).
    Every study is stored before the first trial runs, so a kill at any point leaves all of them
    resumable. ``on_start`` sees the studies, their storage and ``out``
    before they run; ``on_progress`` each study's records after every trial or poll; ``on_storing`` each
    study's plan stored so far and its size, as it is stored before its first trial; ``on_folder`` the
    storage and ``out`` once they are held, before any study is stored there (a stop from then on may
    leave some stored, before ``on_start``); ``command``, the
    command line that ran it, is shown on the report, and stored in the studies this call creates
    (:data:`COMMAND_ATTR`, passwords hidden) for a page rebuilt later.
    """
    for argument, value, accepted in (
        ("out", out, "a folder (default runs/compare-NAME-TIME)"),
        ("storage", storage, "a folder or a database URL (default: a journal in out)"),
        ("name", name, "a study name (default: the workload's)"),
    ):
        if isinstance(value, str) and not value.strip():  # '' was the current folder, or the default
            raise InvalidValueError(argument, value, accepted)
        what = accepted.partition(" (")[0]  # a study name
        if (
            isinstance(value, (str, os.PathLike))
            and (refusal := unprintable(value, what, shown=without_passwords(os.fspath(value)))) is not None
        ):
            raise OptimlabError(f"invalid value for {argument}: {refusal}")  # as compare --name says it
    if resume and out is None and storage is None:
        raise OptimlabError("resuming needs the comparison's folder out= (or its storage URL storage=)")
    if resume and not values:
        seeds = plan.pop("seeds", None)
        given = sorted(k for k, v in plan.items() if v is not None)
        if given:
            raise OptimlabError(
                f"a resumed comparison keeps its stored settings (it takes more seeds only); drop "
                f"{', '.join(given)}, or give the values compared too (the call that started it)"
            )
        specs = load_specs(storage or out, name)
        if never := _never_stored(specs, storage or out):
            raise OptimlabError(
                f"cannot resume all of the comparison: its {', '.join(map(repr, never))} was never stored "
                "(it was stopped before creating it): run the command that started it with --resume in "
                "place of --out (its flags give the settings; in Python, the call that started it with "
                "resume=True)"
            )
        if seeds is not None:  # more seeds plan new trials: bounded as a new plan (StudySpec.stored)
            specs = [
                dataclasses.replace(spec, seeds=seeds, stored=spec.stored and seeds <= spec.seeds)
                for spec in specs
            ]
            check_planned_together(specs)
    else:
        if not values:
            raise OptimlabError("nothing to compare: give the methods (optimizer names or field values)")
        if resume:  # refused before an opening below creates what it resumes (an empty typo.db, a journal)
            if storage is None and not (Path(out) / JOURNAL_NAME).is_file():
                raise OptimlabError(
                    f"nothing stored at {str(out)!r} yet (no {JOURNAL_NAME}): run it without resume=True"
                )
            open_storage(storage or out, create=False)
        specs = plan_comparison(
            values, name=name, stored=stored_settings(storage or out) if resume else (), **plan
        )
        for spec in specs:
            check_trains(spec)
    # a name a shell takes unquoted: a recipe file 'my recipe.yaml' names its study 'my recipe'
    label = re.sub(r"[^\w.+-]+", "_", "+".join(spec.name for spec in specs))
    folder = Path(out) if out is not None else fresh_path(f"compare-{label}")
    location = storage or str(folder)
    for spec in specs:  # all checked before any study is stored
        check_backend(spec, backend)
    # held from the check that no study is there to the report: two comparisons started at once into one
    # folder both passed that check, then both ran their trials into its journal
    # its claims on the studies, held to the report: a resume from another folder is refused meanwhile
    with hold_folder(folder, "optimlab compare"), claims_held():
        if on_folder is not None:
            on_folder(location, folder)
        begun = _begun(specs, location) if resume and values else specs
        if begun:
            _check_planned(specs, begun, location)
        else:
            _refuse_others_stored(specs, location)
        comparison = [spec.name for spec in specs]
        existing = (
            {study.study_name for study in open_storage(location).get_all_studies()}
            if command is not None
            else set()
        )
        for spec in specs:
            # a workload whose study a kill before its creation left out starts fresh, the others resume
            open_studies(
                spec, location, resume=resume and (spec in begun or not begun), comparison=comparison
            )
        if command is not None:
            _keep_command(specs, location, command, existing)
        if on_start is not None:
            on_start(specs, location, folder)
        from optimlab.report.chance import chance_levels

        # read while the checks' tuning-seed data are held: after the seed reruns had replaced them
        # (data_built_once keeps one seed's a workload), the report loaded them a third time
        chance = {spec.name: chance_levels(spec.recipe) for spec in specs}
        results = [
            run_study(
                spec,
                location,
                backend=backend,
                resume=True,
                options=options,
                on_progress=(lambda records, spec=spec: on_progress(spec, records)) if on_progress else None,
                on_storing=(lambda done, total, spec=spec: on_storing(spec, done, total))
                if on_storing
                else None,
            )
            for spec in specs
        ]
        from optimlab.study.export import write_tables
        from optimlab.study.report import write_report

        shown = with_stored(results, location) if storage is None else results  # the folder's own journal
        tables = write_tables(shown, folder)
        report = _page_written(
            lambda page: write_report(shown, page, command=command, chance=chance), folder, storage, tables
        )
    return Comparison(results, location, report, tables)


def _page_written(
    write: Callable[[Path], Path], folder: Path, storage: str | None, tables: Sequence[Path]
) -> Path:
    """``write(folder / "report.html")``; the OS's refusal of it (a full disk, a permission, a folder of
    that name) said in one line that names the page, the OS's reason, what is kept (the studies, the
    tables) and the command that writes the page once there is room, or once it can be written
    (:func:`~optimlab.atomic.write_refusal_said`): it was the bare OS line, exit 2 (a bad call's), with no
    word that the finished trials were kept."""
    page = folder / "report.html"
    later = (
        f"`{shlex.join(['optimlab', 'report', str(folder), '--out', str(page)])}` writes the page"
        if storage is None
        else "resuming the comparison (--resume) writes the page"
    )
    kept = f"the studies and {', '.join(table.name for table in tables)} are kept"
    with write_refusal_said(page, kept, later, room_only=False):
        return write(page)
