"""The Workload type and its lookup, with the three workloads the study engine was first built on.

A workload fixes everything a comparison holds constant; a study varies the rest. Each names the
validation metric that tuning maximises or minimises, the test metric the leaderboard reports (measured
on rows that no tuning decision saw), and a target of the validation metric for time-to-target, in the
spirit of AlgoPerf's validation targets (Dahl et al., Benchmarking Neural Network Training Algorithms,
2023, https://arxiv.org/abs/2306.07179).

>>> from optimlab.workloads import get_workload
>>> w = get_workload("digits_mlp")
>>> w.recipe.model.width, w.metric, w.target
(128, 'val_accuracy', 0.96)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from optimlab.errors import InvalidValueError
from optimlab.recipe import Recipe
from optimlab.registry import POSITIVE_INT, REAL, new_registry, real_number

__all__ = [
    "GOALS",
    "Workload",
    "check_goal_target",
    "check_workloads",
    "digits_mlp",
    "get_workload",
    "metric_goal",
    "mnist1d_cnn",
    "path_option",
    "refuse_data_dir",
    "two_spirals_mlp",
    "workload_names",
    "workloads_from",
]

_REGISTRY = new_registry("workload")
GOALS = ("max", "min")  # the way a metric is better; read deep inside as "max, or else min"


@dataclasses.dataclass(frozen=True)
class Workload:
    """A base recipe and how its runs are scored."""

    name: str
    recipe: Recipe
    metric: str = "val_accuracy"  # tuned on: a final metric of the validation split
    goal: Literal["max", "min"] = "max"
    test_metric: str = "test_accuracy"  # reported: the same metric on the held-out test split
    target: float | None = None  # of ``metric``, for time-to-target
    # the recipe this registry made (get_workload, workloads_from), None for a workload of the user's:
    # kept out of == and repr, read through :attr:`registered`
    registry_recipe: Recipe | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "target", check_goal_target(self.goal, self.target, f" of workload {self.name!r}")
        )

    @property
    def registered(self) -> bool:
        """Whether the recipe is still the one this registry made: optimlab's, so a ``--model`` replaces
        its model section whole. A copy whose recipe changed (``dataclasses.replace(w, recipe=...)``) is
        the user's, whose model choices are kept."""
        return self.registry_recipe is not None and self.recipe == self.registry_recipe


def check_goal_target(goal: Any, target: Any, where: str = "") -> float | None:
    """``target`` as a float (None: no target), once ``goal`` is one of :data:`GOALS`, else one
    :class:`InvalidValueError` naming ``goal{where}`` or ``target{where}``. The goal is read deep inside as
    "max, or else min": a goal 'maximize' would tune for the worst accuracy; a NaN target is never met, a
    string one fails at the first comparison."""
    if goal not in GOALS:
        raise InvalidValueError(f"goal{where}", goal, " or ".join(GOALS))
    return None if target is None else real_number(target, f"target{where}", REAL, also=", or None")


# The way a metric is better by its kind, the last word of its name (``val_loss``, ``test_rmse``): the
# kinds every evaluation gives (:func:`optimlab.train.run.evaluate_members`), and a user metric named so.
_GOAL_OF_KIND: dict[str, Literal["max", "min"]] = {"loss": "min", "rmse": "min", "accuracy": "max"}


def metric_goal(metric: str, workload: Workload | None = None) -> Literal["max", "min"] | None:
    """Which way ``metric`` is better: ``workload``'s goal for the metric it tunes on or reports, else
    by the kind its name ends in; None where the name does not say (``lr``, ``grad_norm``, a user's
    ``val_f1``): no direction is guessed.

    >>> metric_goal("val_loss"), metric_goal("test_accuracy"), metric_goal("val_f1")
    ('min', 'max', None)
    """
    if workload is not None and metric in (workload.metric, workload.test_metric):
        return workload.goal
    return _GOAL_OF_KIND.get(metric.rpartition("_")[2])


@_REGISTRY.register(
    "digits_mlp",
    summary="8x8 digits (1,079 training rows) with an MLP 64-128-128-10; tuned on validation accuracy.",
    paper="Alpaydin & Kaynak 1998, UCI optical digits; scikit-learn load_digits",
    accepts={"epochs": POSITIVE_INT, "batch_size": POSITIVE_INT},
    aliases=("digits",),
)
def digits_mlp(*, epochs: int = 20, batch_size: int = 32) -> Workload:
    """Digits with a two-hidden-layer MLP of width 128: about 0.4 s per trial on one CPU thread.

    20 epochs of 34 steps reach the plateau of validation accuracy of tuned optimizers (0.96-0.975), so
    the five-optimizer comparison (5 x 7 tuning trials + 5 x 3 seeds = 50 trials) takes well under a
    minute in one process. The target 0.96 is what every tuned optimizer reaches on every seed (final
    validation accuracy 0.961-0.975 over sgd, momentum, rmsprop, adagrad and adam), a poorly tuned one not.
    """
    recipe = Recipe.from_dict(
        {
            "data": {"name": "digits", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 128, "depth": 2},
            "training": {"epochs": epochs, "batch_size": batch_size},
        }
    )
    return Workload(name="digits_mlp", recipe=recipe, target=0.96)


@_REGISTRY.register(
    "two_spirals_mlp",
    summary="Two interleaved spirals (2 features) with an MLP 2-128-128-2; tuned on validation accuracy.",
    paper="Lang & Witbrock 1988, Learning to tell two spirals apart, Connectionist Models Summer School",
    accepts={"epochs": POSITIVE_INT, "batch_size": POSITIVE_INT},
)
def two_spirals_mlp(*, epochs: int = 20, batch_size: int = 32) -> Workload:
    """A non-linear boundary that a poorly tuned step size does not find: about 0.2 s per trial.

    Adam at lr 3e-3 reaches 0.98 validation accuracy in 20 epochs (380 steps), SGD at 0.1 only 0.885:
    the target 0.95 separates them.
    """
    recipe = Recipe.from_dict(
        {
            "data": {"name": "two_spirals", "scaling": "standardize"},
            "model": {"name": "mlp", "width": 128, "depth": 2},
            "training": {"epochs": epochs, "batch_size": batch_size},
        }
    )
    return Workload(name="two_spirals_mlp", recipe=recipe, target=0.95)


@_REGISTRY.register(
    "mnist1d_cnn",
    summary="MNIST-1D (3,000 training sequences of 40 points) with the default CNN; tuned on validation accuracy.",
    paper="Greydanus & Kobak 2020, Scaling Down Deep Learning with MNIST-1D, arXiv:2011.14439",
    accepts={"epochs": POSITIVE_INT, "batch_size": POSITIVE_INT},
)
def mnist1d_cnn(*, epochs: int = 10, batch_size: int = 32) -> Workload:
    """The small benchmark where MLPs and CNNs differ clearly: about 3 s per trial on one CPU thread.

    10 epochs (940 steps) take Adam at lr 3e-3 and momentum at 0.03 to 0.80-0.82 validation accuracy,
    SGD at 0.1 and Adam at 1e-3 to about 0.61: the target 0.8 separates the well-tuned runs.
    """
    recipe = Recipe.from_dict(
        {
            "data": {"name": "mnist1d", "scaling": "standardize"},
            "model": {"name": "cnn"},
            "training": {"epochs": epochs, "batch_size": batch_size},
        }
    )
    return Workload(name="mnist1d_cnn", recipe=recipe, target=0.8)


def get_workload(name: str, **options: Any) -> Workload:
    """The workload registered as ``name`` in any module of this package; unknown names raise with close
    matches. Importing this module imports the package, so every workload is registered by then."""
    return _registered(_REGISTRY.create(name, **options))


def _registered(workload: Workload) -> Workload:
    """``workload``, made by its registered factory, marked so (:attr:`Workload.registered`)."""
    return dataclasses.replace(workload, registry_recipe=workload.recipe)


def workload_names() -> list[str]:
    return _REGISTRY.names()


def workloads_from(
    names: str, *, epochs: int | None = None, path: str | Path | None = None
) -> list[Workload]:
    """The workloads named in ``names`` (comma-separated), as a verb's ``--workload`` gives them.

    ``epochs`` replaces each one's own when given; ``path``, the folder of the user's files, goes to the
    workloads that read files (the ``*_files`` family) and to no other.
    """
    chosen, read = [], False
    for name in filter(None, (part.strip() for part in names.split(","))):
        entry = _REGISTRY.get(name)
        options: dict[str, Any] = {} if epochs is None else {"epochs": epochs}  # 0 refused, not dropped
        if "path" in entry.hyperparameter_names:
            if path is None:  # named as the verbs take it: get_workload's own refusal says "option 'path'"
                raise InvalidValueError(
                    "data_dir (--data-dir)", None, f"the folder of your files for workload {entry.name!r}"
                )
            options["path"], read = str(path), True
        try:
            chosen.append(_registered(entry.create(**options)))
        except InvalidValueError as error:  # the folder, named as the verbs take it
            if error.field != path_option(entry.name):
                raise
            raise InvalidValueError("data_dir (--data-dir)", error.value, error.accepted) from None
    if not chosen:
        raise InvalidValueError("workloads", names, f"comma-separated names of {', '.join(workload_names())}")
    if path is not None and not read:  # the folder went unread: the study ran on the workloads' own data
        refuse_data_dir(path, ", ".join(w.name for w in chosen))
    return chosen


def path_option(name: str) -> str:
    """The words that name the folder of the user's files given to workload ``name``, as
    ``get_workload(name, path=...)`` takes it (:func:`workloads_from` says the verbs' words instead)."""
    return f"workload {name!r} option 'path'"


def check_workloads(workloads: Sequence[Workload], *, field: str = "workloads") -> None:
    """At least one workload, each once (one study per workload name); ``field`` names them in an error."""
    names = [w.name for w in workloads]
    if not workloads:
        raise InvalidValueError(field, names, "at least one workload")
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InvalidValueError(field, ",".join(names), f"each workload once ({', '.join(twice)} twice)")


def refuse_data_dir(path: str | Path, unread_by: str) -> None:
    """Refuse ``--data-dir`` beside workloads that read no files (``unread_by`` says which): their runs
    would be taken for runs on the user's files."""
    readers = [n for n in workload_names() if "path" in _REGISTRY.get(n).hyperparameter_names]
    raise InvalidValueError(
        "data_dir (--data-dir)",
        str(path),
        f"only beside a workload that reads your files ({', '.join(readers)}), not {unread_by}",
    )
