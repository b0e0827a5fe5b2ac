"""``optimlab.compare``: a fair comparison on the user's own model and data, from Python.

A thin layer over :func:`optimlab.study.compare.compare`, the function ``optimlab compare`` calls: the
user's objects become names a recipe can hold, the data becomes a workload (tuned on validation
accuracy for classes, validation loss otherwise), and the same protocol runs (each method tuned with
the same budget, its best configuration rerun on fresh seeds, a leaderboard with confidence intervals
and a report).

* ``model``: a function or ``nn.Module`` class that builds the model (each trial builds its own, from
  its seed; it gets ``input_shape`` and ``num_outputs`` when its signature names them), an import path
  ``"mypkg.nets:build"``, or a registered architecture's name.
* ``data``: ``(x, y)`` tensors or arrays; ``(train, val)`` or ``(train, val, test)``, each a pair, a
  ``Dataset`` or a ``DataLoader`` of ``(input, target)`` items; a ``Dataset`` or ``DataLoader`` to split;
  an import path ``"mypkg.data:load"`` of a factory returning any of these; or a registered data set's
  name. Read into memory once (:mod:`optimlab.data.user_factory`); a ``DataLoader``'s batch size, order
  and ``drop_last`` (the training one's) become the recipe's, unless ``recipe`` sets them. Or dict batches (Hugging Face
  style): a ``Dataset`` of dict items to split, or ``(train, val[, test])`` each a ``Dataset`` of dict
  items, a ``DataLoader`` or a list of dict batches, kept as they are; the model gets ``model(**batch)``
  and its own loss is trained on (``loss="model"``, recorded in the recipe) unless a ``loss`` (given the
  logits and the batch's ``labels``) or ``compute_loss`` is given. Without a test split, the
  leaderboard reports the validation metric of the fresh-seed reruns.

Objects live in this process: the ``local`` and ``batched`` backends train them; ``workers`` and
``ray`` run trials in other processes, which import the code by path. A function or class defined in
an importable module (not ``__main__``) is named by its import path, so it travels too.

>>> import optimlab
>>> done = optimlab.compare(model=build, data=(train_loader, val_loader),
...                         optimizers=["sgd", "adam", "lion"], budget=7, seeds=3)  # doctest: +SKIP
>>> [(row.method, row.test.mean, row.test.low, row.test.high) for row in done.leaderboard]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from optimlab.data.examples import targets_for
from optimlab.data.user_batches import describe, loader_batch_size, loader_shuffles
from optimlab.data.user_factory import as_data
from optimlab.errors import (
    InvalidValueError,
    OptimlabError,
    OptimlabWarning,
    UnknownNameError,
    did_you_mean,
    keywords_checked,
)
from optimlab.recipe import MODEL_LOSS, Recipe, RecipeError, as_recipe_field, field_set_twice, fields_reached
from optimlab.registry import POSITIVE_INT, STUDY_TRIALS, boolean, get_registry, normalize_name, whole_number
from optimlab.report.metric_labels import metric_bounds
from optimlab.study.backends import BACKENDS, BackendOptions
from optimlab.study.compare import (
    DEFAULT_WORKLOAD,
    Comparison,
    on_user_code,
    recipe_workload,
    stored_settings,
    with_metric,
)
from optimlab.study.compare import compare as run_comparison
from optimlab.study.protocols import StudySpec, with_absent_fields
from optimlab.study.run import all_failed, as_stored_where_not_given
from optimlab.study.space import SearchSpace
from optimlab.study.storage import TrialRecord
from optimlab.user_code import import_object, is_import_path
from optimlab.workloads import Workload, get_workload, workload_names

__all__ = ["STUDY_NAME", "compare", "named_object"]

STUDY_NAME = "your_code"  # the study's name on the user's data, unless named

# The user's objects named so far in this process: (category, id, reading) -> (the object, kept alive so
# that its id is not reused, and its name). The same object read the same way gets the same name, so a
# study resumes in-process; data are read as the loss reads targets (mse: numbers; cross-entropy:
# classes 0..K-1), so the same tensors under another loss are another data set, of another name.
_NAMED: dict[tuple[str, int, Hashable], tuple[Any, str]] = {}


def named_object(category: str, name: str) -> Any | None:
    """The object this process named ``name`` in ``category`` (a script's ``<net>``), else None."""
    return next(
        (obj for (kind, _, _), (obj, known) in _NAMED.items() if (kind, known) == (category, name)), None
    )


def _import_path_of(obj: Any) -> str | None:
    """``module:qualname`` of a function or class that another process can import, else None."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    path = f"{module}:{qualname}"
    if module in (None, "__main__") or not is_import_path(path):
        return None
    try:
        return path if import_object(path, "object") is obj else None
    except OptimlabError:
        return None


def _name(
    category: str, obj: Any, factory: Callable[[], Any], base: str, reading: Hashable = None
) -> tuple[str, bool]:
    """``obj``'s name in the ``category`` registry, and whether only this process knows it.

    ``factory`` is what the registry adapts (:meth:`~optimlab.registry.Registry.adopt`): what an import
    path of ``obj`` would name; ``base`` names it otherwise: ``<base>``, ``<base_2>``...; ``reading``:
    how ``factory`` reads ``obj`` (the same object read otherwise is named anew)."""
    key = (category, id(obj), reading)
    known = _NAMED.get(key)
    if known is not None:
        return known[1], not is_import_path(known[1])
    registry = get_registry(category)
    path = _import_path_of(obj)
    if path is not None:
        name, local = registry.resolve(path), False
    else:
        base = base.strip("<>").lower()
        name, count = f"<{base}>", 1
        while name.lower() in registry:
            count += 1
            name = f"<{base}_{count}>"
        name, local = registry.adopt(name, factory()), True
    _NAMED[key] = (obj, name)
    return name, local


def _known(category: str, name: str, argument: str, others: str) -> str:
    """``name`` resolved in the ``category`` registry (an import path imported); an unknown one is
    refused in one line naming ``argument``, with close matches, the registered names and ``others``
    (what else the argument takes)."""
    try:
        return get_registry(category).resolve(name)
    except UnknownNameError as error:
        accepted = (
            f"a registered name{did_you_mean(error.suggestions)}: {', '.join(error.accepted)}; or {others}"
        )
        raise InvalidValueError(argument, name, accepted) from None
    except OptimlabError as error:  # an import path that does not import
        raise InvalidValueError(argument, name, f"{others} ({error})") from None


def _model_name(model: Any) -> tuple[str, bool]:
    if isinstance(model, str):
        return _known("model", model, "model", "an import path 'mypkg.nets:build'"), False
    if isinstance(model, nn.Module) or not callable(model):
        raise InvalidValueError(
            "model",
            describe(model),
            "a function or nn.Module class that builds it (each trial builds its own, from its seed), "
            "an import path 'mypkg.nets:build', or a registered architecture",
        )
    return _name("model", model, lambda: model, getattr(model, "__name__", "model"))


# What optimizers takes besides registered names.
_OPTIMIZER_OBJECTS = (
    "import paths ('torch.optim:AdamW'), torch.optim.Optimizer subclasses (torch.optim.AdamW: each trial "
    "builds its own, at the lr it tunes) or factories of optimlab transforms"
)


def _optimizer_name(optimizer: Any) -> tuple[str, bool]:
    """A name or import path as given, once the registry knows it (the study keeps the user's spelling);
    a ``torch.optim.Optimizer`` subclass or a factory of optimlab transforms named as its import path
    would name it (:mod:`optimlab.optim.user`)."""
    if isinstance(optimizer, str):
        _known("optimizer", optimizer, "optimizers", _OPTIMIZER_OBJECTS)
        return optimizer, False
    if isinstance(optimizer, torch.optim.Optimizer) or not callable(optimizer):
        raise InvalidValueError("optimizers", describe(optimizer), f"names ('adam'), {_OPTIMIZER_OBJECTS}")
    return _name("optimizer", optimizer, lambda: optimizer, getattr(optimizer, "__name__", "optimizer"))


def _data_name(data: Any, reading: Hashable) -> tuple[str, bool]:
    """``data``'s name, read into memory under ``reading``, the loss's :func:`targets_for` arguments."""
    if isinstance(data, str):
        return data, False

    def factory() -> Callable[[], Any]:
        held = as_data(data, "data")  # read into memory once, here: every trial splits the same tensors
        if getattr(held, "relabelled", None):  # said, as the command line's data line says it
            warnings.warn(
                f"data: {held.relabelled}, the class ids a cross-entropy takes (0/1 for a binary one); "
                "a loss of your own (loss=) gets the labels as given",
                OptimlabWarning,
                stacklevel=5,
            )
        return lambda: held

    return _name("dataset", data, factory, "data", reading)


def _loader_batching(data: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The training fields of the user's ``DataLoader`` of ``(input, target)`` batches (``data``, or the
    training one of their splits) that the ``given`` recipe fields leave open: its rows are read into
    memory and trained in the recipe's batches, so its batch size, order and ``drop_last`` become the
    recipe's. A loader of dict batches is read as it is and keeps its own; other data sets nothing."""
    train = data[0] if isinstance(data, (tuple, list)) and data else data
    if not isinstance(train, DataLoader) or isinstance(next(iter(train), None), Mapping):
        return {}
    found = {
        "training.batch_size": loader_batch_size(train),
        "training.shuffle": loader_shuffles(train),
        "training.drop_last": train.drop_last,
    }
    found = {field: value for field, value in found.items() if field not in given}
    if found.get("training.batch_size", 1) is None:
        raise InvalidValueError(
            "data",
            "a DataLoader whose batches have no size (batch_size=None, or a batch_sampler without one)",
            "a DataLoader of batch_size rows, or the size in recipe={'training.batch_size': N}",
        )
    return found


def _loss_name(loss: Any) -> tuple[str, bool]:
    if isinstance(loss, str):
        if normalize_name(loss) == MODEL_LOSS:
            return MODEL_LOSS, False
        others = f"'{MODEL_LOSS}' (the model's own), an import path, an nn.Module or a function"
        return _known("loss", loss, "loss", others), False
    if isinstance(loss, nn.Module):  # an instance, shared by the trials: a loss holds no state they change
        return _name("loss", loss, lambda: lambda: loss, type(loss).__name__)
    if callable(loss) and (not isinstance(loss, type) or issubclass(loss, nn.Module)):
        # its class, or a function loss(outputs, targets) (techniques.losses.adapt_loss)
        return _name("loss", loss, lambda: loss, getattr(loss, "__name__", "loss"))
    raise InvalidValueError(
        "loss",
        describe(loss),
        "an nn.Module called as loss(outputs, targets), its class, a function loss(outputs, targets), or a "
        "name or path",
    )


def _loss_read_for(
    named: Mapping[str, tuple[str, bool]], recipe: Mapping[str, Any]
) -> tuple[str | None, Mapping[str, Any]]:
    """The loss the data's targets are read for, and its options: ``loss=``, else the ``recipe``'s
    ``training.loss`` (``recipe={'training.loss': 'mse'}`` read the targets as classes, then refused
    mse as no classification loss), as a recipe's data are read for its loss (:mod:`optimlab.build`)."""
    if "loss" in named:
        return named["loss"][0], {}
    section = recipe.get("training")
    training = section if isinstance(section, Mapping) else {}  # {'training': {'loss': 'mse'}} too
    loss = recipe.get("training.loss", training.get("loss"))
    if not isinstance(loss, str) or normalize_name(loss) == MODEL_LOSS:
        return None, {}
    options = recipe.get("training.loss_options", training.get("loss_options")) or {}
    others = f"'{MODEL_LOSS}' (the model's own) or an import path, in training.loss"
    return _known("loss", loss, "recipe", others), options


def _path_of(field: str, value: Any, example: str) -> tuple[str, bool]:
    """The import path a recipe stores for the user's function ``value`` (``compute_loss``, a
    ``metric``), given as it or as its path, and whether only this process reaches it: a function of the
    user's script (``__main__:f1``), which the trials of an in-process backend import as they import any."""
    path = value if isinstance(value, str) else _import_path_of(value)
    if path is None and _in_main(value):
        return f"__main__:{value.__qualname__}", True
    if path is None or not is_import_path(path):
        raise InvalidValueError(
            field,
            describe(value),
            f"an import path {example!r}, or a function defined at the top level of your script (for "
            "backend='local' or 'batched') or of an importable module: the recipe stores its path",
        )
    return path, False


def _in_main(value: Any) -> bool:
    """Whether ``value`` is a top-level function or class of the running script or notebook
    (``__main__``), which its path ``__main__:name`` imports."""
    name = getattr(value, "__qualname__", None)
    if (
        getattr(value, "__module__", None) != "__main__"
        or not isinstance(name, str)
        or not name.isidentifier()
    ):
        return False
    return getattr(sys.modules["__main__"], name, None) is value


def _with_fields(
    base: Recipe, updates: Mapping[str, Any], given: Mapping[str, Any] | None, *, sections_replaced: bool
) -> Recipe:
    """``base`` with ``updates``, the arguments' fields and the ``given`` ``recipe=`` fields, a section
    given as a mapping replacing the section whole where ``sections_replaced`` (a resumed study stored
    before :attr:`~optimlab.study.protocols.StudySpec.sections_by_field`, as its recipe was built): every
    other argument was checked already, so a field that does not validate is refused as the ``recipe``
    argument's, in one line (the recipe's own message lists each bad field on a line)."""
    try:
        return base.with_sections_replaced(updates) if sections_replaced else base.with_updates(updates)
    except RecipeError as error:
        if not given:
            raise
        raise InvalidValueError("recipe", dict(given), f"fields a recipe takes ({_reasons(error)})") from None


def _reasons(error: RecipeError) -> str:
    """The bad fields a recipe error lists one a line, on one line."""
    return "; ".join(line.strip() for line in str(error).splitlines()[1:]) or str(error)


def _stored_specs(location: str | Path | None, name: str | None) -> list[dict[str, Any]]:
    """The settings of the studies stored at ``location`` (only study ``name``'s, if given), each with the
    fields it was stored without (:func:`~optimlab.study.protocols.with_absent_fields`); none where
    there is no ``location``."""
    if location is None:
        return []
    return [
        with_absent_fields(settings)
        for settings in stored_settings(location)
        if name is None or settings.get("name") == name
    ]


def _check_held_not_set(
    recipe: Mapping[str, Any] | None, set_by: Mapping[str, str], *, default_space: bool
) -> None:
    """Refuse a ``recipe=`` field that another argument sets (``set_by``: each field, a technique or a
    named section by its name alone, and the argument that sets it): the other's value trained, and the
    recipe's was lost without a word (``compare={'model.width': [8, 16]}`` beside ``recipe={'model.width':
    32}``; ``epochs=2`` beside the recipe's ``training.epochs``, which won)."""
    for key, value in (recipe or {}).items():
        for reached, field in sorted(fields_reached(key, value).items()):
            argument = set_by.get(reached)
            if argument is not None:
                default = " (the search space's default: each optimizer's lr)" if default_space else ""
                why = f"{argument} sets {field}{default if argument == 'space' else ''}"
                raise InvalidValueError("recipe", {key: value}, f"fields no other argument sets: {why}")


def _check_compared(
    recipe: Recipe, field: str, values: Sequence[Any], space: SearchSpace | None, given: Mapping[str, Any]
) -> None:
    """Each compared value of ``field``, alone then with the first point of ``space``, validated on
    ``recipe`` before any trial: a field that does not validate is refused in one line as the argument's
    that gave it (``given``: the arguments by name, as the caller wrote them; the values' own is the
    first), where the study would stop on the recipe's lines, naming a field the call never wrote."""
    point = space.grid(1)[0] if space is not None else {}
    # every choice of the space, and both ends of a range, as the study checks them (StudySpec)
    searched = [{d.field: v} for d in (space.dimensions if space is not None else ()) for v in d.grid(2)]
    compared = next(iter(given))
    for value in values:
        checks = [(compared, {field: value})]
        checks += [("space", {field: value, **point, **one}) for one in searched or [{}]]
        for argument, updates in checks:
            try:
                recipe.with_updates(updates)
            except RecipeError as error:
                raise InvalidValueError(
                    argument, given[argument], f"fields a recipe takes ({_reasons(error)})"
                ) from None


# Where a stored recipe names each object optimlab.compare takes.
_STORED_AS = {"model": ("model", "name"), "data": ("data", "name"), "loss": ("training", "loss")}


def _check_named_as_stored(
    named: dict[str, tuple[str, bool]], location: str | Path | None, study: str | None
) -> None:
    """Refuse objects given to a resumed comparison under other names than its stored recipes hold: names
    are given in the order objects are first seen in a session, and another comparison run first in
    this one had taken '<data>' (a resumed study then trained its new seeds on that other data set).
    An object of the same tensors as the stored name's (``data=(x, y)`` written again) takes that name in
    ``named``: the plan given again is then the stored one."""
    from optimlab.study.storage import SPEC_ATTR, open_storage, optimlab_studies

    if location is None or not named:
        return
    for stored in optimlab_studies(open_storage(location, create=False), study):
        recipe = stored.user_attrs[SPEC_ATTR]["recipe"]
        for what, (ours, _) in named.items():
            section, field = _STORED_AS[what]
            theirs = recipe.get(section, {}).get(field)
            if theirs is not None and theirs != ours and not _same_object(ours, theirs):
                raise InvalidValueError(
                    what,
                    ours,
                    f"the {what} study {stored.user_attrs[SPEC_ATTR]['name']!r} was run on, {theirs!r}: this "
                    f"session named another object so first; resume it in a fresh session",
                )
            if theirs is not None and theirs != ours:
                named[what] = (theirs, named[what][1])


def _same_object(ours: str, theirs: str) -> bool:
    """Whether the objects this session named ``ours`` and ``theirs`` hold the same tensors or arrays
    (``data=(x, y)`` written again in a notebook is a new tuple of the same tensors); objects of other
    kinds are the same only as one object."""
    held = {name: obj for obj, name in _NAMED.values()}
    return ours in held and theirs in held and _equal(held[ours], held[theirs])


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return a is b


@keywords_checked
def compare(
    optimizers: Sequence[Any] | None = None,
    *,
    model: Any = None,
    data: Any = None,
    loss: Any = None,
    compute_loss: Any = None,
    compare: Mapping[str, Sequence[Any]] | None = None,
    space: SearchSpace | Mapping[str, Any] | None = None,
    budget: int | None = None,
    seeds: int | None = None,
    protocol: str | None = None,
    pruner: str | None = None,
    epochs: int | None = None,
    recipe: Mapping[str, Any] | None = None,
    metric: str | Callable[..., Any] | None = None,
    goal: str | None = None,
    target: float | None = None,
    workload: str | None = None,
    backend: str = "local",
    workers: int | None = None,
    members: int | None = None,
    ray_address: str | None = None,
    out: str | Path | None = None,
    storage: str | None = None,
    name: str | None = None,
    resume: bool = False,
    on_progress: Callable[[StudySpec, list[TrialRecord]], None] | None = None,
) -> Comparison:
    """Compare ``optimizers`` (or any recipe field's values: ``compare={"model.width": [64, 128]}``)
    on the user's ``model`` and ``data``, each tuned with the same ``budget`` then rerun on ``seeds`` fresh
    seeds; returns the :class:`~optimlab.study.compare.Comparison` (``.leaderboard``, ``.report``).

    Args:
        optimizers: names (``"adam"``), import paths, or the classes themselves: a
            ``torch.optim.Optimizer`` subclass (``torch.optim.AdamW``) or a factory of optimlab
            transforms, tuned over its ``lr``.
        model, data: see the module docstring; either may be left out (then the ``workload``'s, by default
            digits_mlp's MLP and digits).
        workload: a registered workload's name, or the Workload ``get_workload`` returns (its options,
            ``epochs=3``, kept), whose recipe the call runs where ``data`` is left out
            (``model`` replaces its model); refused beside ``data``, which it would not be run on.
        loss: a name, an import path, an ``nn.Module`` (or its class) called as ``loss(outputs,
            targets)``, such a function itself, or ``"model"``: the model's own, ``model(**batch).loss``;
            default cross-entropy for classes, mean squared error otherwise, the model's own for dict
            batches.
        compute_loss: ``compute_loss(model, batch) -> loss`` for dict batches, by import path (or a
            function of an importable module), instead of ``loss``.
        space: the searched fields (a :class:`~optimlab.study.SearchSpace`, or ``{field: [choices]}``,
            ``{field: {low, high, log}}``); default each optimizer's learning rate on a log grid.
        budget, seeds, protocol, pruner: as ``optimlab compare``'s flags (defaults 7, 3, grid, none).
        epochs: passes over the training split each trial trains (default: the recipe's, 10).
        recipe: other recipe fields held constant, dotted: ``{"training.batch_size": 64}``; a section's
            mapping (``{"data": {"val_fraction": 0.3}}``) sets the fields it holds, as a compared section
            does (``compare={"data": [{"name": "iris"}, {"name": "wine"}]}``). A field another argument
            sets (compared, searched, ``epochs``) is refused.
        metric, goal, target: the validation metric tuned on (``val_accuracy``, ``val_loss``), or the
            user's by import path (``"mypkg.metrics:f1"``, or that function of an importable module:
            ``f1(outputs, targets) -> float`` over a whole split, tuned as ``val_f1``, reported as
            ``test_f1``; on dict batches it gets the logits and the ``labels`` of the whole split); ``"max"`` or ``"min"`` (default: max for accuracy and the
            user's, min for a loss); a target of it for time to target
            (:func:`~optimlab.study.compare.with_metric`).
        backend, workers, members, ray_address: where trials run (``local``, ``batched``, ``workers``,
            ``ray``); objects held in this process need ``local`` or ``batched``.
        out, storage, name, resume: where the study is kept and the report written, as the CLI's. A
            resumed comparison takes the ``model``, ``data`` and ``loss`` objects it was given again
            (the stored recipes name them) and more ``seeds`` (each best configuration reruns on more
            fresh seeds, those it ran kept); any other setting is stored: left out, or given as stored
            (the call that started it, run again), and refused where it differs.
        on_progress: called with the study and its trial records after each trial or poll.
    """
    boolean(resume, "resume")  # resume='yes' failed deep in the storage with a TypeError
    if not resume and (optimizers is None) == (compare is None):
        raise OptimlabError(
            "say what to compare: optimizers=[...] or compare={field: [values]} (one of them)"
        )
    if compare is not None and (not isinstance(compare, Mapping) or len(compare) != 1):
        raise InvalidValueError(
            "compare", compare, "one recipe field and its values: {'model.activation': ['relu', 'gelu']}"
        )
    if compare is not None:  # 16 was a bare TypeError, 'relu' compared letter by letter ('r', 'e'...)
        ((field, values),) = compare.items()
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidValueError(
                f"compare[{field!r}]", values, f"a list of values, even of one: {{{field!r}: [{values!r}]}}"
            )
        compare = {field: list(values)}  # a generator is read once
    if backend not in BACKENDS:
        raise InvalidValueError("backend", backend, "one of " + ", ".join(BACKENDS))
    for option, value in (("workers", workers), ("members", members), ("ray_address", ray_address)):
        if value is not None and option not in BACKENDS[backend].options:  # else silently unused
            readers = " or ".join(repr(b) for b, entry in BACKENDS.items() if option in entry.options)
            raise InvalidValueError(option, value, f"only with backend={readers}, not {backend!r}")
    if isinstance(optimizers, (str, bytes)) or not isinstance(optimizers, Iterable | None):
        got = f"the class {optimizers.__name__}" if isinstance(optimizers, type) else describe(optimizers)
        raise InvalidValueError(
            "optimizers", got, "a list of them, even of one: ['adam'], [torch.optim.AdamW]"
        )
    counts = {}  # numpy's integers as the ints they hold (np.int64(3) was 'not an integer')
    for field, value, meaning in (
        ("seeds", seeds, "the fresh seeds each method's best configuration reruns on"),  # as --seeds
        ("epochs", epochs, "the passes over the training split each trial trains"),
        ("budget", budget, "the tuning trials each method gets"),
    ):
        accepted = POSITIVE_INT if field == "epochs" else STUDY_TRIALS
        counts[field] = None if value is None else whole_number(value, field, accepted, also=f": {meaning}")
    seeds, epochs, budget = counts["seeds"], counts["epochs"], counts["budget"]
    if recipe is not None and not isinstance(recipe, Mapping):
        raise InvalidValueError(
            "recipe", describe(recipe), "dotted fields held constant: {'training.batch_size': 64}"
        )
    if recipe is not None and (keys := [k for k in recipe if not isinstance(k, str)]):
        raise InvalidValueError(  # an AttributeError ('split') where the fields were read
            "recipe",
            {keys[0]: recipe[keys[0]]},
            "dotted field names or sections as keys: {'training.batch_size': 64}",
        )
    if recipe is not None and (twice := field_set_twice(recipe)) is not None:  # the later won unsaid
        field, first, second = twice
        raise InvalidValueError(
            "recipe",
            {first: recipe[first], second: recipe[second]},
            f"fields each set once, but both keys set {field}",
        )
    # get_workload's object, as study.compare takes it (get_workload("x", epochs=3): its options kept)
    if workload is not None and not isinstance(workload, (str, Workload)):
        raise InvalidValueError(
            "workload",
            describe(workload),
            f"a registered workload's name or get_workload's object: {', '.join(workload_names())}",
        )
    if workload is not None and data is not None:  # ran on the data with the default MLP, the workload unread
        raise InvalidValueError(
            "workload",
            getattr(workload, "name", workload),
            "None beside data=: a workload brings its own data (and model); give data= alone (model= for "
            "the model), or the workload without data= (optimlab compare --workload W --dataset D replaces "
            "its data)",
        )
    finite = isinstance(target, (int, float)) and not isinstance(target, bool) and math.isfinite(target)
    if target is not None and not finite:  # a string failed in a comparison, NaN as a changed setting
        raise InvalidValueError(
            "target", target, "a finite number: the level of the metric to reach, for time to target"
        )
    named = {
        what: make(value)
        for what, value, make in (("model", model, _model_name), ("loss", loss, _loss_name))
        if value is not None
    }
    if data is not None:  # read here, its targets of the task the loss decides (mse: numbers, no classes)
        from optimlab.build import ignored_by_loss, targets_as_given, task_of_loss

        loss_name, options = _loss_read_for(named, recipe or {})
        reading = (task_of_loss(loss_name), targets_as_given(loss_name), ignored_by_loss(loss_name, options))
        with targets_for(reading[0], as_given=reading[1], ignored=reading[2]):
            named["data"] = _data_name(data, reading)
    chosen_optimizers = None if optimizers is None else [_optimizer_name(o) for o in optimizers]
    functions = {  # the user's functions as the recipe stores them, by path
        what: _path_of(what, value, example)
        for what, value, example in (
            ("compute_loss", compute_loss, "mypkg.losses:step"),
            ("metric", None if isinstance(metric, str) else metric, "mypkg.metrics:f1"),
        )
        if value is not None
    }
    local = [what for what, (_, in_process) in {**named, **functions}.items() if in_process]
    if any(in_process for _, in_process in chosen_optimizers or ()):
        local.append("optimizers")
    if local and not BACKENDS[backend].in_process:
        raise OptimlabError(
            f"the {' and '.join(local)} given as objects live in this process, which the {backend} backend's "
            f"processes cannot reach: pass {local[0]}='mypkg.module:name' (an import path), or use "
            "backend='local' or 'batched'"
        )
    run = {
        "out": out, "storage": storage, "name": name, "backend": backend,
        "options": BackendOptions.given(workers=workers, members=members, ray_address=ray_address),
        "on_progress": on_progress,
    }  # fmt: skip
    # as the caller gave it: a resume fills it from its study, whose recipe= may be what set training.epochs
    epochs_given = epochs
    # the studies this call resumes: their recipes were built, and checked, by the rules of their day
    resumed = _stored_specs(storage or out, name) if resume else []
    if resume:  # the objects are named again, as the stored recipes name them; the plan is stored
        given = [
            argument
            for argument, value in (
                ("optimizers", optimizers), ("compute_loss", compute_loss), ("compare", compare),
                ("space", space), ("budget", budget), ("protocol", protocol), ("pruner", pruner),
                ("epochs", epochs), ("recipe", recipe), ("metric", metric), ("goal", goal),
                ("target", target), ("workload", workload),
            )
            if value is not None
        ]  # fmt: skip
        if given and optimizers is None and compare is None:  # not the whole call again: refused
            raise OptimlabError(
                f"a resumed comparison keeps its stored settings (it takes more seeds only, and the "
                f"model, data and loss objects it was given): drop {', '.join(given)}, or give the "
                "call that started it again"
            )
        # on the user's data unnamed, the study is STUDY_NAME's: another comparison beside it is not read
        _check_named_as_stored(
            named, storage or out, STUDY_NAME if name is None and workload is None else name
        )
        if not given:
            return _failures_said(run_comparison(resume=True, seeds=seeds, **run))
        if storage or out:  # the settings left out are the stored ones: only those given are compared
            left_out = {
                "budget": budget,
                "protocol": protocol,
                "pruner": pruner,
                "space": space,
                "epochs": epochs,
            }
            stored = as_stored_where_not_given(left_out, storage or out, name)
            budget, protocol, pruner, space, epochs = (stored[key] for key in left_out)
    # the model's name first, the recipe's fields then refine it: dotted, as a section {'model': {...}} given
    # in recipe= was the key updated, which dropped the user's model (and data) for the default's
    updates: dict[str, Any] = {}
    if "model" in named:
        updates["model.name"] = named["model"][0]
    if "loss" in named:
        updates["training.loss"] = named["loss"][0]
    if compute_loss is not None:
        updates["training.compute_loss"] = functions["compute_loss"][0]
    if epochs is not None:
        updates["training.epochs"] = epochs
    if "data" in named:
        updates.update(_loader_batching(data, recipe or {}))
    updates.update(recipe or {})
    replaced = any(not settings["sections_by_field"] for settings in resumed)
    if "data" in named:
        base = _with_fields(
            Recipe(), {"data.name": named["data"][0], **updates}, recipe, sections_replaced=replaced
        )
        chosen = recipe_workload(base, name or STUDY_NAME)
    else:
        # "" is no name: it ran DEFAULT_WORKLOAD (`workload or ...`) where "  " was refused
        chosen = (
            workload
            if isinstance(workload, Workload)
            else get_workload(DEFAULT_WORKLOAD if workload is None else workload)
        )
        if "model" in named:  # named for what it trains, as the CLI's --model does
            (chosen,) = on_user_code([chosen], model=named["model"][0])
        built = _with_fields(chosen.recipe, updates, recipe, sections_replaced=replaced)
        chosen = dataclasses.replace(chosen, recipe=built)
    if "metric" in functions:  # a function: an AttributeError ('strip')
        metric = functions["metric"][0]
    chosen = with_metric(chosen, metric, goal)
    if target is not None:
        low, high = metric_bounds(chosen.metric)
        if not low <= target <= high:  # no run could reach it: every method 'not reached'
            raise InvalidValueError(
                "target", target, f"a value {chosen.metric} can take, in [{low:g}, {high:g}]"
            )
        chosen = dataclasses.replace(chosen, target=target)
    field, values = (
        ("optimizer.name", [name for name, _ in chosen_optimizers])
        if chosen_optimizers is not None
        else next(iter(compare.items()))
    )
    given = {"compare": compare} if compare is not None else {"optimizers": list(values)}
    given["space"] = space
    if isinstance(space, Mapping):
        space = SearchSpace.from_dict(space)
    elif space is not None and not isinstance(space, SearchSpace):
        raise InvalidValueError(
            "space",
            describe(space),
            "a SearchSpace, or {field: [choices]} and {field: {low, high, log}}: {'optimizer.lr': [0.01, 0.1]}",
        )
    set_by = {
        f: argument
        for f, argument, value in (
            ("training.epochs", "epochs", epochs_given),
            ("training.loss", "loss", loss),
            ("training.compute_loss", "compute_loss", compute_loss),
        )
        if value is not None
    }
    set_by |= {what: what for what in ("model", "data") if what in named}  # model.name, data.name
    if not resumed:  # a study stored before 969f3b6d may hold a recipe= field its space or compared values
        # set, which its call, given again to resume it, cannot leave out: _check_as_stored guards the resume
        set_by |= {
            as_recipe_field(f): "space" for f in (space.fields if space is not None else ["optimizer.lr"])
        }
        compared = "compare" if compare is not None else "optimizers"
        set_by |= {reached: compared for value in values for reached in fields_reached(field, value)}
    _check_held_not_set(recipe, set_by, default_space=space is None)
    _check_compared(chosen.recipe, field, list(values), space, given)
    plan = {"field": field, "workloads": [chosen], "space": space, "budget": budget, "seeds": seeds,
            "protocol": protocol, "pruner": pruner}  # fmt: skip
    if resume:  # the call that started it, run again (a script rerun after a kill): its settings stored
        if _check_as_stored(list(values), plan, storage or out, name):
            return _failures_said(run_comparison(resume=True, seeds=seeds, **run))
        # none stored: killed as it began, before its settings; its studies (if any) are taken over
        return _failures_said(run_comparison(list(values), resume=True, **plan, **run))
    return _failures_said(run_comparison(list(values), **plan, **run))


def _failures_said(done: Comparison) -> Comparison:
    """``done``, each study of it whose every trial (or every seed rerun) failed said in one
    OptimlabWarning at the caller's line, as the command line says it (and exits 1)."""
    for result in done.results:
        if said := all_failed(result):
            warnings.warn(said, OptimlabWarning, stacklevel=4)
    return done


def _check_as_stored(
    values: list[Any], plan: Mapping[str, Any], location: str | Path | None, name: str | None
) -> bool:
    """Refuse a resumed comparison given settings other than those of its stored studies, naming them; the
    same settings again (a script rerun after a kill, ``resume=True`` added) resume it, more seeds extend it.
    Whether any study is stored there (none: a comparison killed before it stored its settings, or none
    began; no ``location``: the comparison says what it needs)."""
    from optimlab.study.compare import plan_comparison, stored_settings
    from optimlab.study.run import load_specs
    from optimlab.study.storage import open_storage, optimlab_studies

    if location is None:
        return False
    plan = {k: v for k, v in plan.items() if k != "seeds"}
    planned = plan_comparison(values, name=name, stored=stored_settings(location), **plan)
    storage = open_storage(location, create=False)
    if not any(optimlab_studies(storage, spec.name) for spec in planned):  # another comparison's: not this
        return False
    stored = {spec.name: spec.to_dict() for spec in load_specs(location, name)}
    for spec in planned:
        if spec.name not in stored:
            raise OptimlabError(f"nothing to resume: no study {spec.name!r} at {str(location)!r}")
        if changed := spec.changed_from(stored[spec.name]):
            raise OptimlabError(
                f"cannot resume study {spec.name!r}: its {', '.join(changed)} would change from the stored "
                "study's; give the settings it was run with (or leave them out), with more seeds= to extend it"
            )
    return True
