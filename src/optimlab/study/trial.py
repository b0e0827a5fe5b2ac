"""One trial: its recipe from the plan (or the sampler), its training, and its record in the storage.

A trial never stops its study: a divergence (NaN loss) is recorded as failed with the loop's message,
an exception as failed with its text, a pruned trial as pruned; all with the curve so far.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import math
import os
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.recipe import Recipe
from optimlab.study.protocols import TUNE, Method, StudySpec
from optimlab.study.space import SearchSpace
from optimlab.study.storage import DIVERGED, UNCOUNTED
from optimlab.train.loop import Callback, TrainState
from optimlab.user_code import import_object, is_import_path, raised_in_user_code

__all__ = [
    "MAX_CURVE_POINTS",
    "CurveRecorder",
    "DistinctTPESampler",
    "counted_trials",
    "load_method_study",
    "model_source",
    "raised_by_user",
    "record_outcome",
    "run_trial",
    "syntax_text",
    "trial_recipe",
]

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
_TOLD_PRUNED = ("pruned", DIVERGED)  # worse than any completed trial, to TPE (:data:`DIVERGED`)
MAX_CURVE_POINTS = 200  # evaluations kept per trial: curves stay small in any storage's attribute column


def counted_trials(storage: optuna.storages.BaseStorage, study_id: int) -> int:
    """How many trials of the study finished and count: not those interrupted, whose keys run again, nor
    duplicates, never trained."""
    finished = storage.get_all_trials(study_id, deepcopy=False, states=_FINISHED)
    return sum(trial.user_attrs.get("status") not in UNCOUNTED for trial in finished)


class DistinctTPESampler(optuna.samplers.BaseSampler):
    """TPE (Bergstra et al., Algorithms for Hyper-Parameter Optimization, NeurIPS 2011) over a finite
    ``space`` that never suggests a configuration tried already while untried ones remain: on a space
    larger than the budget TPE often drew a tried configuration again (the same training twice at one
    seed, a slot of the budget lost). The configuration is TPE's own: its joint (multivariate) draw over
    the fields it has seen, the rest drawn as it draws them, so a study without a repeat draws what plain
    TPE draws. A repeat is replaced by a random untried one (:meth:`SearchSpace.untried`, from ``seed``),
    not TPE's choice."""

    def __init__(self, tpe: optuna.samplers.TPESampler, space: SearchSpace, seed: int) -> None:
        self.tpe, self.space, self.rng = tpe, space, random.Random(seed)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, optuna.distributions.BaseDistribution]:
        return {d.field: d.distribution() for d in self.space.dimensions}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]
    ) -> dict[str, Any]:
        if trial.system_attrs.get("fixed_params"):  # a planned configuration: a seed rerun
            return {}
        relative = self.tpe.sample_relative(study, trial, self.tpe.infer_relative_search_space(study, trial))
        config = {
            name: relative[name] if name in relative else self.tpe.sample_independent(study, trial, name, d)
            for name, d in search_space.items()
        }
        ended = study.get_trials(deepcopy=False, states=(*_FINISHED, TrialState.RUNNING))
        tried = [t.params for t in ended if t.user_attrs.get("status") not in UNCOUNTED]
        if config in tried:
            return self.space.untried(tried, self.rng) or config
        return config

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, name: str, distribution: Any
    ) -> Any:
        return self.tpe.sample_independent(study, trial, name, distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.tpe.before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.tpe.reseed_rng()


def load_method_study(
    storage: optuna.storages.BaseStorage, spec: StudySpec, method: Method, *, finished: int = 0
) -> optuna.Study:
    """``method``'s Optuna study with the spec's sampler and pruner.

    TPE's seed counts the trials already ``finished`` (:func:`counted_trials`), so a sequential study
    draws the same values when it is run again, or resumed after a kill; random and grid trials are
    planned up front and never consult the sampler.
    """
    seed = spec.sampler_seed + finished
    if spec.protocol == "tpe":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=min(10, max(2, spec.budget // 3))
        )
        space = spec.space_for(method)
        if spec.distinct and space.size is not None:
            sampler = DistinctTPESampler(sampler, space, seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    pruners = {
        "none": optuna.pruners.NopPruner,
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
        "halving": optuna.pruners.SuccessiveHalvingPruner,
    }
    return optuna.load_study(
        study_name=spec.study_name(method), storage=storage, sampler=sampler, pruner=pruners[spec.pruner]()
    )


def trial_recipe(trial: optuna.Trial, spec: StudySpec, method: Method) -> Recipe:
    """The base recipe with the method's fields, the trial's parameters and its seed, its data split as the
    study splits every trial's (:meth:`StudySpec.trial_recipe`)."""
    params = spec.space_for(method).suggest(trial)
    seed = int(trial.user_attrs.get("seed", spec.recipe.training.seed))
    return spec.trial_recipe(method, params, seed)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class CurveRecorder(Callback):
    """Keeps the metrics of each evaluation with its step and seconds; reports the tuned one to Optuna.

    With ``prune``, asks the study's pruner after each report and stops a hopeless trial.
    """

    writes_checkpoints = False

    def __init__(self, trial: optuna.Trial | None, metric: str, *, prune: bool = False) -> None:
        self.trial, self.metric, self.prune = trial, metric, prune
        self.curve: dict[str, list[float | None]] = {"step": [], "seconds": [], "train_loss": []}
        self.pruned = False
        self._started = time.perf_counter()

    def on_train_start(self, state: TrainState) -> None:
        self._started = time.perf_counter()

    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None:
        self.add(state.step, time.perf_counter() - self._started, state.train_loss, metrics)
        if self.trial is None or self.metric not in metrics or not math.isfinite(metrics[self.metric]):
            return
        self.trial.report(metrics[self.metric], state.step)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            state.stop_reason = f"pruned at step {state.step}: {self.metric} {metrics[self.metric]:.4g}"

    def report_to(self, trial: optuna.Trial) -> None:
        """Report the tuned metric of every evaluation, as :meth:`on_evaluate` does as they come (for
        trials recorded after training, the batched ones)."""
        for step, value in zip(self.curve["step"], self.curve.get(self.metric, [])):
            if value is not None:
                trial.report(value, int(step))

    def add(self, step: int, seconds: float, train_loss: float, metrics: Mapping[str, float]) -> None:
        self.curve["step"].append(step)
        self.curve["seconds"].append(round(seconds, 4))
        self.curve["train_loss"].append(_finite_or_none(train_loss))
        for name, value in metrics.items():
            self.curve.setdefault(name, [None] * (len(self.curve["step"]) - 1)).append(_finite_or_none(value))

    def compact(self) -> dict[str, list[float | None]]:
        """At most :data:`MAX_CURVE_POINTS` evaluations, evenly thinned, the last one always kept."""
        n = len(self.curve["step"])
        if n <= MAX_CURVE_POINTS:
            return self.curve
        keep = sorted({round(i * (n - 1) / (MAX_CURVE_POINTS - 1)) for i in range(MAX_CURVE_POINTS)})
        return {name: [values[i] for i in keep] for name, values in self.curve.items()}


def model_source(recipe: Recipe) -> tuple[str, str] | None:
    """The file defining the user's model that ``recipe`` names (``mynets:build``'s mynets.py, a script's
    ``<net>`` too) and the sha256 of its syntax tree (:func:`syntax_text`: a comment, a docstring, a blank
    line or a reformat keep it, ``x + 1`` to ``x - 1`` does not); None for a registered model or one with no
    file (a notebook's). A change inside ``forward`` leaves the model's structure as it was."""
    from optimlab.study.user_compare import named_object  # user_compare imports this module

    name = recipe.model.name
    try:
        found = named_object("model", name)
        if found is None and is_import_path(name):
            found = import_object(name, "model")
        path = inspect.getsourcefile(found) if found is not None else None
        if path is None:
            return None
        stat = os.stat(path)
        return path, _file_digest(path, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
    except (OptimlabError, TypeError, OSError, SyntaxError):  # not importable, a built-in, no source
        return None


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, inode: int, mtime_ns: int, ctime_ns: int, size: int) -> str:
    """The sha256 of :func:`syntax_text` of the file at ``path``, read once while its inode, times and size
    stay (every trial records it, each member of a batched trial too); an edited or replaced file is read
    again (an edit of the same size within one tick of a coarse clock aside)."""
    return hashlib.sha256(syntax_text(ast.parse(Path(path).read_bytes())).encode()).hexdigest()


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)  # ast.get_docstring's


def syntax_text(node: Any) -> str:
    """``node``'s syntax tree written out as ``ast.dump`` writes it, less the fields left None or empty and
    less docstrings (words, not code: a typo fixed in one changes no model): Python 3.12 gave every function
    and class a ``type_params`` field, empty where none is written, and 3.13's ``ast.dump`` leaves such
    fields out, so a tree read the same on every version names only the fields the code fills."""
    if isinstance(node, ast.AST):
        fields = dict(ast.iter_fields(node))
        if isinstance(node, _DOCUMENTED) and ast.get_docstring(node, clean=False) is not None:
            fields["body"] = fields["body"][1:]
        written = (
            f"{name}={syntax_text(value)}" for name, value in fields.items() if value not in (None, [])
        )
        return f"{type(node).__name__}({', '.join(written)})"
    if isinstance(node, list):
        return f"[{', '.join(map(syntax_text, node))}]"
    return repr(node)


def record_outcome(
    study: optuna.Study,
    trial: optuna.Trial,
    spec: StudySpec,
    *,
    recipe: Recipe | None,
    status: str,
    message: str | None,
    metrics: Mapping[str, float],
    steps: int,
    seconds: float,
    curve: Mapping[str, list[Any]],
    model: Mapping[str, Any] | None = None,
) -> None:
    """Write the trial's outcome to its user attributes, then finish it with the matching state; with
    the trained ``model``'s structure (:func:`optimlab.models.structure.structure`), which a resumed study
    checks its model against (:func:`optimlab.study.run.check_same_models`)."""
    value = metrics.get(spec.metric, math.nan)
    if status in ("completed", "stopped") and not math.isfinite(value):
        got = f"it was {value}" if spec.metric in metrics else f"measured: {', '.join(sorted(metrics))}"
        status, message = "error", f"no finite {spec.metric!r} at the end ({got})"
    attrs = {
        "status": status,
        "message": message,
        "steps": steps,
        "seconds": round(seconds, 4),
        "metrics": {k: _finite_or_none(v) for k, v in metrics.items()},
        "curve": dict(curve),
    }
    if recipe is not None:
        attrs.update(recipe=recipe.to_dict(), recipe_id=recipe.id)
    if model is not None:
        source = model_source(recipe) if recipe is not None else None
        attrs["model"] = dict(model) if source is None else {**model, "source_sha256": source[1]}
    try:
        for name, attr in attrs.items():
            trial.set_user_attr(name, attr)
        if status in ("completed", "stopped"):
            study.tell(trial, value)
        else:
            study.tell(trial, state=TrialState.PRUNED if status in _TOLD_PRUNED else TrialState.FAIL)
    except UpdateFinishedTrialError:
        pass  # declared interrupted meanwhile (a long pause): its key runs again, this result is dropped


def raised_by_user(error: BaseException) -> str | None:
    """``error`` with the line of the user's code it went through (:func:`~optimlab.user_code.
    raised_in_user_code`), also where optimlab's refusal of a batch wraps it (its ``__cause__``): the
    refusal's words (the batch's shapes) kept, the line added, for a wrong batch and a bug of the user's
    forward raise alike. None where no line of the user's code is in it."""
    cause = error.__cause__ if isinstance(error, InvalidValueError) else None
    told = f"{type(error).__name__}: {str(error).removesuffix('.')}"
    return (cause is not None and raised_in_user_code(cause, told=told)) or raised_in_user_code(error)


def run_trial(study: optuna.Study, trial: optuna.Trial, spec: StudySpec, method: Method) -> None:
    """Train ``trial``'s recipe in this process and record the outcome."""
    from optimlab.train.run import train

    started = time.perf_counter()
    # Only tuning is pruned: a seed rerun measures the chosen configuration, and one stopped early (below
    # the median of the tuning trials at some step) was a failed seed run, the method's result lost.
    prune = spec.pruner != "none" and trial.user_attrs.get("phase") == TUNE
    recorder = CurveRecorder(trial, spec.metric, prune=prune)
    recipe = None
    try:
        recipe = trial_recipe(trial, spec, method)
        result = train(recipe, callbacks=[recorder])
    except Exception as error:
        record_outcome(
            study,
            trial,
            spec,
            recipe=recipe,
            status="error",
            message=raised_by_user(error) or f"{type(error).__name__}: {error}",
            metrics={},
            steps=0,
            seconds=time.perf_counter() - started,
            curve=recorder.compact(),
        )
        return
    status = "pruned" if recorder.pruned else result.status
    record_outcome(
        study,
        trial,
        spec,
        recipe=recipe,
        status=status,
        message=result.message,
        metrics=result.metrics,
        steps=result.steps,
        seconds=time.perf_counter() - started,
        curve=recorder.compact(),
        model=result.model,
    )
