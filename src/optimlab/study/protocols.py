"""Tuning protocols: which trials a study runs, planned so that every method gets the same budget.

The comparison protocol of the optimizer benchmark literature (Schneider et al., DeepOBS, 2019,
https://arxiv.org/abs/1903.05499; Choi et al., On Empirical Comparisons of Optimizers for Deep
Learning, 2019, https://arxiv.org/abs/1910.05446; Schmidt et al., Descending through a Crowded Valley,
2021, https://arxiv.org/abs/2007.01547) in two phases, for each method (an optimizer, or any value of a
compared recipe field):

1. **tune**: ``budget`` trials over the search space at the tuning seed: a grid, independent random
   draws, or TPE suggestions; one trial per distinct configuration, so a space of fewer configurations
   than ``budget`` runs each once. Without a space, the space is the learning rate on a log grid spanning 4
   decades around the optimizer's scale (:func:`lr_range`), as DeepOBS tunes.
2. **seeds**: the configuration with the best validation metric reruns with ``seeds`` fresh seeds
   (1..N, none of them the tuning seed, so the selection's optimism over the seed's draws, its
   initial weights and batch order, does not reach the reported numbers); the leaderboard reports the
   test metric over these.

Every trial, tuning and reruns, splits the data at the tuning seed (``data.split_seed``, where the
recipe fixes none: :attr:`StudySpec.fixed_split`), so no rerun's test row was ever a training or
validation row at tuning, where the configuration was chosen. Studies stored before 2026-12-07 split
each rerun anew by its seed, so about ``val_fraction`` of a rerun's test rows were validation rows at
the tuning seed (digits: 64, 62, 77 of 359 at seeds 1-3); they resume and report as they ran, and
:func:`optimlab.study.report.split_note` says which on the page.

Every planned trial has a *key* (``tune/3``, ``seeds/2``) unique in its method's study: a resumed study
runs exactly the keys that have no finished trial, so none is lost or repeated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pydantic
import torch

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.recipe import Recipe, RecipeError, as_recipe_field, fields_set, holds_whole_numbers
from optimlab.registry import (
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    SEED,
    STUDY_TRIALS,
    TRIALS_PLANNED,
    TRIALS_PLANNED_WHY,
    Capability,
    get_registry,
    whole_number,
)
from optimlab.study.space import Dimension, SearchSpace, whole_as_int
from optimlab.workloads import Workload, check_goal_target

__all__ = [
    "MIN_EVALUATIONS",
    "PROTOCOLS",
    "PRUNERS",
    "TRIALS_PLANNED",
    "Method",
    "PlannedTrial",
    "StudySpec",
    "check_planned_together",
    "check_trials_planned",
    "evaluated_often",
    "lr_range",
    "methods_from",
    "with_absent_fields",
]

PROTOCOLS = ("grid", "random", "tpe")
_SEED = "training.seed"  # every trial's is the protocol's
_SPLIT_SEED = "data.split_seed"  # one for every trial of a study: the recipe's, else the tuning seed
PRUNERS = ("none", "median", "halving")
TUNE, SEEDS = "tune", "seeds"


@dataclasses.dataclass(frozen=True)
class Method:
    """One contestant: a name and the recipe fields it fixes (``{"optimizer.name": "adam"}``)."""

    name: str
    updates: Mapping[str, Any]


def methods_from(field: str, values: Sequence[Any]) -> tuple[Method, ...]:
    """One method per value of a compared field: ``methods_from("optimizer.name", ["sgd", "adam"])``.

    The values are distinct, optimizers by what they name: ``"Adam"`` is ``"adam"``, ``"heavy_ball"``
    an alias of ``"momentum"``, and either pair would train one optimizer twice under two names (an
    unknown one is left to the recipe, which refuses it)."""
    if not values:
        raise InvalidValueError(f"values compared for {field!r}", values, "at least one value")
    meant = [_meant(field, v) for v in values]
    first: dict[str, Any] = {}
    for value, key in zip(values, meant):
        if key in first:
            same = (
                f": {first[key]!r} and {value!r} are both {key!r}" if repr(first[key]) != repr(value) else ""
            )
            raise InvalidValueError(f"values compared for {field!r}", values, f"distinct values{same}")
        first[key] = value
    return tuple(Method(str(v), {field: v}) for v in values)


def _meant(field: str, value: Any) -> str:
    """The optimizer ``value`` names (its registry entry's name), for ``optimizer.name``; the number it
    writes, for a number (``0`` and ``0.0`` set one weight decay); else the value."""
    if field == "optimizer.name" and isinstance(value, str):
        with contextlib.suppress(OptimlabError):
            return get_registry("optimizer").resolve(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # 10 and 1e1 as the methods are named: 10
            return str(whole_as_int(float(value)))
    return str(value)


def check_trials_planned(workloads: int, methods: int, budget: int, seeds: int) -> None:
    """Refuse ``workloads`` studies of ``methods`` in one journal planning more trials, workloads x methods x
    (budget + seeds), than :data:`TRIALS_PLANNED`, naming the counts as the API's keywords (a CLI names
    its flags with ``cli._options.fields_named``)."""
    planned = workloads * methods * (budget + seeds)
    if planned > TRIALS_PLANNED:
        raise InvalidValueError(
            "the trials planned in one journal, workloads x methods x (budget + seeds)",
            f"{workloads} x {methods} x ({budget} + {seeds}) = {planned}",
            f"at most {TRIALS_PLANNED}, as {TRIALS_PLANNED_WHY}: a smaller budget=, fewer seeds=, methods or "
            "workloads",
        )


def check_planned_together(specs: Sequence[StudySpec]) -> None:
    """Refuse the studies of one journal (a comparison's, a bench's: one per workload, each of the same
    methods and counts) planning more than :data:`TRIALS_PLANNED` trials together; each study checks its
    own as it is made. Studies resumed as stored load as they ran (:attr:`StudySpec.stored`)."""
    if specs and not all(spec.stored for spec in specs):
        first = specs[0]
        check_trials_planned(len(specs), len(first.methods), first.budget, first.seeds)


def _whole_where_held(method: Method, recipe: Recipe) -> Method:
    """``method`` with each whole float it sets on a field holding whole numbers in ``recipe`` with its
    updates (:func:`~optimlab.study.space.holds_whole_numbers`: lookahead's ``k`` where the method sets
    lookahead) as the int the recipe holds, and named by it where its name was the value:
    ``--compare training.batch_size=1e1,2e1`` (YAML's 10.0 and 20.0) labelled its methods 10.0 and 20.0."""
    with contextlib.suppress(RecipeError):  # a method the recipe refuses is named by StudySpec's check
        recipe = recipe.with_updates(dict(method.updates))
    updates = {
        field: whole_as_int(value) if holds_whole_numbers(field, recipe) else value
        for field, value in method.updates.items()
    }
    renamed = [str(updates[field]) for field, value in method.updates.items() if method.name == str(value)]
    return Method(renamed[0] if len(updates) == 1 and renamed else method.name, updates)


@dataclasses.dataclass(frozen=True)
class PlannedTrial:
    """A trial the protocol calls for: its key, its fixed parameters (``None``: the sampler's) and seed."""

    key: str
    phase: str
    params: Mapping[str, Any] | None
    seed: int


def lr_range(optimizer: str, base: str | None = None) -> tuple[float, float]:
    """The learning-rate range tuned by default: 4 decades, ``center / 100`` to ``center * 100``.

    The center is the optimizer's default lr, except for optimizers whose step grows with the gradient
    (the SGD family), whose torch default (1e-3) is a placeholder rather than a tuned value: their
    center is 1e-2, so their range is 1e-4..1. Which kind an optimizer is,
    is measured, not listed: one step from fresh state on gradients 1 and 100. A wrapper (lookahead,
    sam) steps with its ``base`` optimizer's lr: the range is the base's.
    """
    entry = get_registry("optimizer").get(optimizer)
    if Capability.WRAPPER in entry.capabilities:
        return lr_range(base or entry.obj.default_base)
    center = next(h.default for h in entry.hyperparameters if h.name == "lr")
    steps = []
    for gradient in (1.0, 100.0):
        transform = entry.create()
        params = [torch.zeros(4)]
        delta, _ = transform.update([torch.full((4,), gradient)], transform.init(params), params)
        steps.append(delta[0].abs().max().item())
    if steps[1] > 10 * steps[0]:
        center = 1e-2
    return center / 100, center * 100


MIN_EVALUATIONS = 10  # a trial's curve has at least this many points, even over a budget of 1 epoch


def evaluated_often(recipe: Recipe) -> Recipe:
    """``recipe``, evaluating every ``total steps / MIN_EVALUATIONS`` steps where it would evaluate once an
    epoch over fewer than :data:`MIN_EVALUATIONS` epochs (``compare --epochs 1``: a curve of 10 points
    rather than one); unchanged otherwise."""
    spec = recipe.training
    if spec.eval_every is not None or spec.steps is not None or spec.epochs >= MIN_EVALUATIONS:
        return recipe
    from optimlab.build import build_data, training_steps

    steps = training_steps(recipe, build_data(recipe))
    return recipe.with_updates({"training.eval_every": max(1, steps // MIN_EVALUATIONS)})


def with_absent_fields(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored spec's dict with the fields it was stored without, as that study planned before they
    existed: ``distinct`` False (repeats kept; every study created before 2026-12-06), ``fixed_split``
    False (each trial split by its own seed; before 2026-12-07), ``sections_by_field`` False (a compared
    section replaced whole; before 2026-12-08)."""
    return {"distinct": False, "fixed_split": False, "sections_by_field": False, **stored}


def _refused_alone(error: RecipeError, field: str) -> bool:
    """Whether ``error`` holds pydantic's own constraint on ``field`` (a bound, a type, a literal): a
    refusal no other field's value changes. A validator's ``value_error`` may read the other fields."""
    cause = error.__cause__ or error.__context__
    return isinstance(cause, pydantic.ValidationError) and any(
        ".".join(map(str, detail["loc"])) == field and detail["type"] != "value_error"
        for detail in cause.errors()
    )


def _check_space_fits(
    recipe: Recipe, space: SearchSpace, method: str, *, tried_ends: Mapping[str, tuple[str, str]]
) -> None:
    """Refuse a value of ``space`` (every choice; a range, where an end breaks the field's own bound or
    its middle fits nowhere) that no point of its small grid makes a valid recipe with: a bad field or value
    fails here, before any trial starts.
    Values refused only together (nesterov with momentum 0, in a grid over both) leave that point's trial
    to fail alone (once optimizers checked their values together, the whole study was refused). So does a
    range's end refused beside the rest (``momentum=0:0.9`` with nesterov): the values within it fit, and
    a draw meets that end with probability 0; but not where the study's trials hold the end (the ranges
    in ``tried_ends``, each with where they hold it and what else to search: a grid's point, an integer
    range's draw), each such trial failing on it: it is refused too.

    The grid is not built: each value is tried beside the grid's first point (a value refused by its own
    bound fails there), then with one other field changed, then over every combination of the fields whose
    change altered the refusal (the registry names the value a refusal depends on: 'here momentum 0.0');
    a point that fits vouches for all its values. Building every point took 8.4 s for 7 fields x 4 values
    (/tmp/rv_study/sp.py); this takes about one build per value of a valid space."""
    fields = space.fields
    # a range by its ends and its middle: an end fitting alone (dampening 0 with nesterov) is no range
    axes = dict(zip(fields, (dimension.grid(3) for dimension in space.dimensions)))
    fitting: set[tuple[str, str]] = set()

    def refusal(point: dict[str, Any]) -> RecipeError | None:
        try:
            recipe.with_updates(point)
        except RecipeError as error:  # it named the field and value, not where they came from
            return error
        fitting.update((f, repr(v)) for f, v in point.items())
        return None

    def fits_somewhere(first: dict[str, Any], error: RecipeError, field: str) -> bool:
        altering = []
        for other, values in axes.items():
            if other != field:
                refusals = [refusal(first | {other: value}) for value in values[1:]]
                if None in refusals:
                    return True
                if any(str(r) != str(error) for r in refusals):
                    altering.append(other)
        combos = itertools.product(*(axes[other] for other in altering))
        return len(altering) > 1 and not all(refusal(first | dict(zip(altering, c))) for c in combos)

    prefix = f"the search space (--space, --space-file, space=) does not fit {method}:"
    first_errors: dict[tuple[str, str], tuple[dict[str, Any], RecipeError]] = {}
    for field, values in axes.items():
        for value in values:
            first = {f: axis[0] for f, axis in axes.items()} | {field: value}
            if (field, repr(value)) not in fitting and (error := refusal(first)) is not None:
                if _refused_alone(error, field):
                    raise RecipeError(f"{prefix} {field} = {value!r} fits no point of the space: {error}")
                first_errors[field, repr(value)] = first, error
    ranges = {dimension.field for dimension in space.dimensions if not dimension.categorical}
    for field, values in axes.items():
        unfit = [
            (value, first_errors[field, repr(value)][1])
            for value in values
            if (field, repr(value)) not in fitting
            and not fits_somewhere(*first_errors[field, repr(value)], field)
        ]
        if len(unfit) == len(values):  # every point holds one of them
            raise RecipeError(f"{prefix} no point of the space fits; the first: {unfit[0][1]}")
        ends = (values[0], values[-1])
        if field in ranges and field not in tried_ends:  # a draw meets an end with probability 0
            unfit = [(value, error) for value, error in unfit if value not in ends]
        if unfit and field in tried_ends and unfit[0][0] in ends:
            value, error = unfit[0]
            where, instead = tried_ends[field]
            raise RecipeError(
                f"{prefix} {field} = {value!r}, an end of its range {values[0]!r}:{values[-1]!r}, is {where}, "
                f"where it fails: {' '.join(str(error).split())} Narrow the range to the values accepted{instead}"
            )
        if unfit:
            value, error = unfit[0]
            raise RecipeError(
                f"{prefix} {field} = {value!r} fits no point of the space; beside its first: {error}"
            )


@dataclasses.dataclass(frozen=True)
class StudySpec:
    """Everything that decides a study's trials; stored with the study so any worker can run them."""

    name: str
    recipe: Recipe  # the workload's base recipe: what every trial holds constant
    methods: tuple[Method, ...]
    space: SearchSpace | None = None  # None: the learning rate, on lr_range of each method's optimizer
    protocol: Literal["grid", "random", "tpe"] = "grid"
    budget: int = 7  # tuning trials per method: the same for every method
    seeds: int = 3  # reruns of each method's best configuration
    pruner: Literal["none", "median", "halving"] = "none"  # stops hopeless tuning trials; seed reruns finish
    metric: str = "val_accuracy"
    goal: Literal["max", "min"] = "max"
    test_metric: str = "test_accuracy"
    target: float | None = None
    sampler_seed: int = 0
    # One trial per distinct configuration (random draws drawn again where they repeat, a small space tried
    # whole, TPE's repeat replaced by an untried configuration: trial.DistinctTPESampler): True for studies
    # created since 2026-12-06; a study stored without it resumes with its plan.
    distinct: bool = True
    # Every trial splits the data at the tuning seed (data.split_seed, where the recipe sets none), so that
    # no seed rerun is scored on rows the tuning trained or selected on: True for studies created since
    # 2026-12-07; a study stored without it resumes splitting each trial by its own seed, as it ran.
    fixed_split: bool = True
    # A compared section ({"data": {"name": "digits", "val_fraction": 0.3}}) sets the fields it holds, the
    # recipe's others kept (Recipe.with_updates): True for studies created since 2026-12-08; a study stored
    # without it resumes replacing the section whole (Recipe.with_sections_replaced), as its trials trained.
    sections_by_field: bool = True
    # Method name -> its default search space as its stored study holds it (run.SPACE_ATTR), for a report
    # of a study whose optimizer is the user's object of another session; not part of the spec's identity.
    stored_spaces: Mapping[str, SearchSpace] = dataclasses.field(default_factory=dict, compare=False)
    # A spec a study stored (from_dict), or one resuming it: its counts load as it ran (seeds 0, more trials
    # than STUDY_TRIALS bounds, both taken before 2026-12-07), the bounds holding new plans only.
    stored: bool = dataclasses.field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise InvalidValueError("protocol", self.protocol, "one of " + ", ".join(PROTOCOLS))
        if self.pruner not in PRUNERS:
            raise InvalidValueError("pruner", self.pruner, "one of " + ", ".join(PRUNERS))
        object.__setattr__(self, "target", check_goal_target(self.goal, self.target))
        for field, ran in (("budget", POSITIVE_INT), ("seeds", NON_NEGATIVE_INT)):  # numpy's too
            # seeds 0 left a leaderboard of no test metric: refused for a new plan
            accepted = ran if self.stored else STUDY_TRIALS
            object.__setattr__(self, field, whole_number(getattr(self, field), field, accepted))
        if not self.methods:
            raise InvalidValueError("methods", self.methods, "at least one method to compare")
        if not self.stored:
            check_trials_planned(1, len(self.methods), self.budget, self.seeds)
        trained: dict[str, str] = {}  # recipe id -> the first method training it
        for method in self.methods:  # a bad field or value fails here, before any trial starts
            try:
                recipe = self.method_recipe(method)
            except RecipeError as error:  # named by its field, unless the recipe names a section alone
                if all(field in str(error) for field in method.updates):
                    raise
                described = ", ".join(f"{field}={value}" for field, value in method.updates.items())
                raise RecipeError(f"the compared {described}: {error}") from None
            # relu and own_default of the MLP: one recipe, ranked as two contestants
            if (twin := trained.setdefault(recipe.id, method.name)) != method.name:
                raise InvalidValueError(
                    "methods compared",
                    [m.name for m in self.methods],
                    f"methods training distinct recipes: {twin!r} and {method.name!r} resolve to one recipe",
                )
            if self.space is not None and not self.stored:  # a stored space is read as it ran (6a4019a1)
                object.__setattr__(self, "space", self.space.whole_choices_as_ints(recipe))
            # ends a trial would hold are checked where a new study is planned: a stored one loads as ran
            try:
                _check_space_fits(recipe, self.space_for(method), method.name, tried_ends={})
            except RecipeError:  # a plain range of model.width planned 4.5, a point no one typed: said so
                self.space_for(method).integer_where_whole(recipe)
                raise
        # After the recipes, which tell a model's or data factory's file (./nets.py:build) the import
        # path to write, rather than that its name holds a '/'.
        names = [m.name for m in self.methods]
        if len(set(names)) != len(names) or any("/" in n for n in names):
            raise InvalidValueError("method names", names, "distinct names without '/'")

    def _check_ends_tried(self, method: Method) -> None:
        """Refuse, when a study is planned, a range end that fits no point of ``method``'s space where its
        trials would hold it (:meth:`_ends_tried`): each would fail on it. A study stored before this
        check resumes and reports as it ran."""
        space = self.space_for(method)
        if tried := self._ends_tried(space):
            _check_space_fits(self.method_recipe(method), space, method.name, tried_ends=tried)

    def _ends_tried(self, space: SearchSpace) -> dict[str, tuple[str, str]]:
        """The ranges of ``space`` whose ends this study's trials may hold, each with where they hold them
        and what else searches the range without them: under the grid, each range of 2 points or more;
        under random or TPE, each integer range (its ends drawn about half as often as its other values)."""
        if self.protocol != "grid":
            drawn = f"a value its trials draw (an integer range, --protocol {self.protocol})"
            return {d.field: (drawn, "") for d in space.dimensions if d.integer}
        real = ", or search it with --protocol random or tpe, whose draws meet an end with probability 0"
        return {
            d.field: ("a point of the grid (--protocol grid)", "" if d.integer else real)
            for d, n in zip(space.dimensions, space.grid_shape(self.budget))
            if not d.categorical and n >= 2
        }

    def _check_choices_train_distinct(self, method: Method) -> None:
        """Refuse, when a study is planned, two choices of a searched field that resolve to one recipe
        (``model.activation=relu,RELU``; none and None): a grid trained that configuration twice, a random
        draw met it twice as often, as the compared values are refused for (:meth:`__post_init__`). A
        choice the recipe refuses is left to :func:`_check_space_fits`."""
        recipe = self.method_recipe(method)
        for dimension in self.space_for(method).dimensions:
            trained: dict[str, Any] = {}  # recipe id -> the first choice training it
            for choice in dimension.choices or ():
                try:
                    resolved = recipe.with_updates({dimension.field: choice}).id
                except RecipeError:
                    continue
                if (twin := trained.setdefault(resolved, choice)) != choice:
                    raise InvalidValueError(
                        f"choices of {dimension.field!r} (--space, --space-file, space=)",
                        list(dimension.choices),
                        f"choices training distinct recipes: {twin!r} and {choice!r} resolve to one recipe",
                    )

    def _check_grid_fits(self, space: SearchSpace) -> None:
        """A grid keeps every categorical choice, so it needs a budget of at least their combinations: a
        smaller one is refused when a study is planned (dropping choices would compare less than asked;
        exceeding the budget would cost more than promised). A stored study, planned before this check,
        resumes with the grid it has."""
        least = space.choice_combinations
        if self.protocol != "grid" or self.budget >= least:
            return
        fields = " x ".join(d.field for d in space.dimensions if d.categorical)
        raise InvalidValueError(
            "budget (--budget)",
            self.budget,
            f"a budget >= {least}, the points of the grid over {fields}; or protocol random or tpe "
            f"(--protocol), which try {self.budget} of them",
        )

    @classmethod
    def for_workload(
        cls,
        name: str,
        workload: Workload,
        methods: Sequence[Method],
        *,
        stored: Sequence[Mapping[str, Any]] = (),
        **options: Any,
    ) -> StudySpec:
        """The study of ``methods`` on ``workload``, checked as a new study is planned; one that resumes a
        ``stored`` study's settings (:meth:`resumes`) skips the checks of its grid's budget and its range
        ends, added since such a study may have been stored: it resumes as it ran, its methods as stored."""
        as_stored = [{"name": m.name, "updates": dict(m.updates)} for m in methods]
        if not any(settings.get("methods") == as_stored for settings in stored):
            methods = [_whole_where_held(method, workload.recipe) for method in methods]
        spec = cls(
            name=name,
            recipe=workload.recipe,
            methods=tuple(methods),
            metric=workload.metric,
            goal=workload.goal,
            test_metric=workload.test_metric,
            target=workload.target,
            stored=bool(stored),
            **options,
        )
        resumed = [with_absent_fields(settings) for settings in stored if spec.resumes(settings)]
        new = not resumed
        if new or spec.seeds > max(settings["seeds"] for settings in resumed):  # trials not yet planned
            spec = dataclasses.replace(spec, stored=False)
        for method in spec.methods:
            # before the grid's budget, whose refusal named the searched field as the compared one
            spec._check_compared_not_searched(method)
            if new:  # a stored one loads as it ran
                recipe = spec.method_recipe(method)
                space = spec.space_for(method).distinct().integer_where_whole(recipe)
                spec._check_grid_fits(space)
                spec._check_ends_tried(method)
                spec._check_choices_train_distinct(method)
                spec._check_split_not_varied(method)
            spec._check_seed_not_varied(method)
        return spec

    def resumes(self, stored: Mapping[str, Any]) -> bool:
        """Whether this spec resumes the stored study ``stored`` (its :meth:`to_dict`): its settings but
        for more seeds and the plan (:attr:`distinct`, :attr:`fixed_split`, :attr:`sections_by_field`) of a
        study stored before them."""
        return not self.changed_from(stored)

    def changed_from(self, stored: Mapping[str, Any]) -> list[str]:
        """The settings (keys of :meth:`to_dict`) in which this spec differs from the stored study
        ``stored``, sorted: none where it resumes it (:meth:`resumes`)."""
        stored = with_absent_fields(stored)
        # more seeds extend it; a stored plan resumes as it ran
        kept = ("seeds", "distinct", "fixed_split", "sections_by_field")
        return sorted(k for k, v in self.to_dict().items() if k not in kept and stored.get(k) != v)

    def _check_seed_not_varied(self, method: Method) -> None:
        """Refuse, when a study is planned, ``training.seed`` compared or searched: the protocol sets each
        trial's seed (:meth:`tune_plan`, :meth:`seed_plan`) over any the method or the space gives, so
        ``--compare training.seed=0,5`` trained one setup twice under two names (the seed 5 never ran)."""
        compared = any(_SEED in fields_set(field, value) for field, value in method.updates.items())
        why = (
            "another field: the protocol sets each trial's seed (the recipe's own to tune, then fresh "
            "seeds), whatever the {} gives"
        )
        if compared:
            raise InvalidValueError("compare", _SEED, why.format("comparison"))
        if _SEED in {as_recipe_field(field) for field in self.space_for(method).fields}:
            raise InvalidValueError(
                "search space (--space, --space-file, space=)", _SEED, why.format("search space")
            )

    def _check_split_not_varied(self, method: Method) -> None:
        """Refuse, when a study is planned, ``data.split_seed`` compared or searched: every trial splits the
        data at one seed (:attr:`fixed_split`) so that the methods are ranked on the same test rows, none of
        which the tuning trained or chose on. Searched, tuning picked the split whose validation rows
        scored best, and the reruns were scored on rows the other tuning trials trained on; compared, each
        method was scored on rows of its own, which no paired test compares; the page said neither. A
        study stored before this check resumes as it ran."""
        why = (
            "another field: every trial splits the data at one seed, so that all methods are scored on the "
            "same test rows, none of which tuning trained or chose on; to split every trial at another "
            "seed, set split_seed in the recipe's data section"
        )
        if any(_SPLIT_SEED in fields_set(field, value) for field, value in method.updates.items()):
            raise InvalidValueError("compare", _SPLIT_SEED, why)
        if _SPLIT_SEED in {as_recipe_field(field) for field in self.space_for(method).fields}:
            raise InvalidValueError("search space (--space, --space-file, space=)", _SPLIT_SEED, why)

    def _check_compared_not_searched(self, method: Method) -> None:
        """Refuse, when a study is planned, a compared field the search space searches too: each tuning
        trial sets it, so the methods differ in their names only (``--compare optimizer.lr=0.1,0.001``
        over the default lr search: the method 0.001 reran at the lr 0.1 tuning found). The field is
        named as the compared one ('compared for ...', which the CLI names by its flag) and the space by
        its flags: the refusal said 'invalid value ... for compare', naming neither --optimizers nor
        --space."""
        searched = {as_recipe_field(s) for s in self.space_for(method).fields}
        for field, value in method.updates.items():
            # a section compared keeps its other fields apart: {optimizer: {name: sgd, momentum: 0.9}}
            # beside adam, lr tuned; one holding the lr (or options.lr, the recipe's optimizer.lr) does not
            both = sorted(
                s for f in fields_set(field, value) for s in searched if f == s or f.startswith(f"{s}.")
            )
            if both:
                spelled = "" if both == [field] else f" as {', '.join(both)}"
                raise OptimlabError(
                    f"the field compared for {field!r} is searched too{spelled}, by the search space "
                    "(--space, --space-file, space=; by default the lr): tuning sets it in every trial, so "
                    f"method {method.name} would rerun at the tuned value, not at {value!r}; search other "
                    "fields, or compare this one alone"
                )

    def study_name(self, method: Method) -> str:
        """The Optuna study holding ``method``'s trials: ``<study>/<method>``."""
        return f"{self.name}/{method.name}"

    def method_recipe(self, method: Method) -> Recipe:
        """``method``'s recipe at the tuning seed, its data split as its trials split it."""
        return self._updated({**self._split_fixed(), **method.updates})

    def trial_recipe(self, method: Method, params: Mapping[str, Any], seed: int) -> Recipe:
        """The recipe a trial of ``method`` trains: its fields, the trial's ``params`` and ``seed``, its data
        split at the tuning seed where the study fixes the split (:attr:`fixed_split`)."""
        return self._updated({**self._split_fixed(), **method.updates, **params, _SEED: seed})

    def _updated(self, updates: Mapping[str, Any]) -> Recipe:
        """:attr:`recipe` with ``updates``, a compared section's as :attr:`sections_by_field` says."""
        if self.sections_by_field:
            return self.recipe.with_updates(updates)
        return self.recipe.with_sections_replaced(updates)

    def _split_fixed(self) -> dict[str, int]:
        """``data.split_seed`` at the tuning seed where :attr:`fixed_split` and the recipe sets none; {}
        otherwise: the split follows each trial's seed (a new study's methods and space set none:
        :meth:`_check_split_not_varied`)."""
        if not self.fixed_split or self.recipe.data.split_seed is not None:
            return {}
        return {_SPLIT_SEED: self.recipe.training.seed}

    def space_for(self, method: Method) -> SearchSpace:
        """The space ``method``'s study searches: the one it stored, each value as it ran (a resume's
        --space training.batch_size=16.0 reads 16, where the study stored 16.0); else :attr:`space`; else
        the lr over :func:`lr_range` of its optimizer."""
        if method.name in self.stored_spaces:
            return self.stored_spaces[method.name]
        if self.space is not None:
            return self.space
        optimizer = self.method_recipe(method).optimizer
        low, high = lr_range(optimizer.name, optimizer.options.get("base"))
        return SearchSpace((Dimension("optimizer.lr", low=low, high=high, log=True),))

    def untuned_lr(self) -> str | None:
        """What a reader must know where optimizers are compared at their own default learning rates: the
        space searches no ``optimizer.lr`` and the recipe sets none (SGD's default, torch's 1e-3, is a
        placeholder: such a study ranks the defaults, not the optimizers). None otherwise."""
        optimizers = [self.method_recipe(m).optimizer for m in self.methods]
        tuned = self.space is None or "optimizer.lr" in {as_recipe_field(f) for f in self.space.fields}
        if tuned or len({o.name for o in optimizers}) < 2 or any(o.lr is not None for o in optimizers):
            return None
        registry = get_registry("optimizer")
        defaults = [
            next(
                (f"{h.default:g}" for h in registry.get(o.name).hyperparameters if h.name == "lr"), "its own"
            )
            for o in optimizers
        ]
        each = ", ".join(f"{m.name} {lr}" for m, lr in zip(self.methods, defaults))
        return (
            f"optimizer.lr is neither searched nor set: each optimizer trains at its default ({each}), not a "
            "tuned one; search optimizer.lr too (--space), or set it, to compare tuned optimizers"
        )

    def tune_plan(self, method: Method) -> list[PlannedTrial]:
        """The ``budget`` tuning trials: grid points, distinct random draws, or TPE slots filled when they
        start. One trial per distinct configuration: a space holding no more than ``budget`` of them (one
        choice, or few) is tried whole, each once, whatever the protocol; TPE, with nothing to choose,
        as the random draws order them."""
        space, seed = self.space_for(method), self.recipe.training.seed
        if self.protocol == "grid":
            configs: list[Mapping[str, Any] | None] = list(space.grid(space.grid_shape(self.budget)))
        elif self.protocol == "random" or (
            self.distinct and space.size is not None and space.size <= self.budget
        ):
            configs = list(space.sample(self.budget, seed=self.sampler_seed, distinct=self.distinct))
        else:
            configs = [None] * self.budget
        return [PlannedTrial(f"{TUNE}/{i}", TUNE, config, seed) for i, config in enumerate(configs)]

    def seed_plan(self, best: Mapping[str, Any]) -> list[PlannedTrial]:
        """Reruns of the best configuration with fresh seeds, counted from the tuning seed + 1 (past the
        largest seed, from 0 again)."""
        first, seeds = self.recipe.training.seed + 1, int(SEED.high) + 1  # type: ignore[arg-type]
        return [
            PlannedTrial(f"{SEEDS}/{i}", SEEDS, dict(best), (first + i) % seeds) for i in range(self.seeds)
        ]

    def better(self, a: float, b: float) -> bool:
        """Whether metric value ``a`` beats ``b`` (NaN never does)."""
        if math.isnan(a):
            return False
        return math.isnan(b) or (a > b if self.goal == "max" else a < b)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "recipe": self.recipe.to_dict(),
            "methods": [{"name": m.name, "updates": dict(m.updates)} for m in self.methods],
            "space": None if self.space is None else self.space.to_dict(),
            "protocol": self.protocol,
            "budget": self.budget,
            "seeds": self.seeds,
            "pruner": self.pruner,
            "metric": self.metric,
            "goal": self.goal,
            "test_metric": self.test_metric,
            "target": self.target,
            "sampler_seed": self.sampler_seed,
            "distinct": self.distinct,
            "fixed_split": self.fixed_split,
            "sections_by_field": self.sections_by_field,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, stored_spaces: Mapping[str, SearchSpace] | None = None
    ) -> StudySpec:
        """The spec :meth:`to_dict` wrote (with ``stored_spaces``, :attr:`stored_spaces`); anything else
        (a key missing or unknown, a value of another shape: a stored spec edited by hand) is refused
        naming what is wrong."""
        try:
            fields = {**with_absent_fields(data), "stored_spaces": dict(stored_spaces or {}), "stored": True}
            fields["recipe"] = Recipe.from_dict(fields["recipe"])
            fields["methods"] = tuple(Method(m["name"], m["updates"]) for m in fields["methods"])
            space = fields["space"]
            fields["space"] = None if space is None else SearchSpace.from_dict(space, stored=True)
            return cls(**fields)
        except KeyError as error:
            raise OptimlabError(f"a study spec needs the key {error}") from None
        except (TypeError, AttributeError) as error:
            raise OptimlabError(f"not a study spec: {error}") from None
