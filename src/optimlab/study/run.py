"""Run a study end to end: create or resume its Optuna studies, plan each phase, execute, read back.

The driver is the only process that adds trials (it enqueues each planned key that has no trial yet);
executors only take enqueued trials. So any number of workers, started anywhere, never run a trial
twice, and a study killed at any point resumes by planning again: finished keys are kept, keys whose
process died (see :func:`~optimlab.study.storage.reclaim_stale`) run again.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import socket
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import optuna
import torch
from optuna.storages import BaseStorage

from optimlab.data.built_once import digest_of
from optimlab.data.global_rng import global_generators_given_back
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning, user_stacklevel
from optimlab.models.structure import describe_change, structure
from optimlab.study.analysis import best_tuning_trial
from optimlab.study.backends import BACKENDS, POLL_SECONDS, BackendOptions, execute
from optimlab.study.protocols import SEEDS, TUNE, Method, PlannedTrial, StudySpec, with_absent_fields
from optimlab.study.space import SearchSpace
from optimlab.study.storage import (
    COMPARISON_ATTR,
    DATA_ATTR,
    DONE_ATTR,
    GRACE_SECONDS,
    IMPORT_FROM_ATTR,
    INTERRUPTED,
    JOURNAL_NAME,
    METHOD_ATTR,
    OBJECT_DATA_ATTR,
    SPACE_ATTR,
    SPEC_ATTR,
    TrialRecord,
    claim_study,
    claims_held,
    held_claim,
    is_url,
    live_claims,
    live_trials,
    load_records,
    open_storage,
    optimlab_studies,
    reclaim_stale,
    store_waiting,
    withdraw_claim,
    without_passwords,
)
from optimlab.study.trial import counted_trials, model_source, trial_recipe
from optimlab.user_code import code_folders, extend_sys_path

if TYPE_CHECKING:
    from optimlab.recipe import Recipe

__all__ = [
    "Progress",
    "StudyResult",
    "all_failed",
    "as_stored_where_not_given",
    "check_backend",
    "check_same_data",
    "check_same_models",
    "check_same_recipes",
    "counted",
    "load_specs",
    "open_studies",
    "progress",
    "run_study",
    "stored_spaces",
    "stored_spec",
    "stored_study_names",
    "with_stored",
]

MAX_INTERRUPTIONS = 3  # a key whose process dies this often in one run (out of memory?) is given up


@dataclasses.dataclass
class StudyResult:
    """A finished study: its spec, where it lives (None: in memory, gone), and its counted trials (one per
    planned key)."""

    spec: StudySpec
    location: str | None
    records: list[TrialRecord]


def all_failed(result: StudyResult) -> str | None:
    """Why ``result`` has no result, where every trial of it failed, or every seed rerun (no method has
    one: its leaderboard is empty), naming the first's error; None where one finished well."""
    reruns = [r for r in result.records if r.phase == SEEDS]
    for what, records in (("trial", result.records), ("seed rerun", reruns)):
        if records and all(r.state == "fail" for r in records):
            reason = next((r.message for r in records if r.message), "no message recorded")
            return f"every {what} of study {result.spec.name!r} failed; the first: {reason}"
    return None


def with_stored(results: Sequence[StudyResult], location: str) -> list[StudyResult]:
    """``results`` among every study stored at ``location`` (oldest first, the others read as stored): a
    folder whose journal holds studies of several names (``--name``) keeps each one's rows in the tables
    and the report a comparison writes whole there, where the last comparison's alone replaced them.
    A study that no longer reads (its optimizer's class renamed since) is left out with a warning
    naming it, the others kept."""
    ran = {result.spec.name: result for result in results}
    storage = open_storage(location, create=False)
    stored = []
    for name, studies in _studies_by_name(storage).items():  # the journal replayed once, not per study
        if name in ran:
            stored.append(ran.pop(name))
            continue
        try:
            spec = _spec_of(studies, reading=True)
        except OptimlabError as error:
            said = f"study {name!r} is left out of the tables and the page: {error}"
            warnings.warn(said, OptimlabWarning, stacklevel=user_stacklevel())  # where compare was called
            continue
        records = load_records(storage, stored_study_names(storage, spec))
        stored.append(StudyResult(spec, location, counted(records)))
    return stored + list(ran.values())


def counted(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The finished trial of each (study, key): the first, should a race ever have run a key twice."""
    seen: dict[tuple[str, str], TrialRecord] = {}
    for record in records:
        if record.finished and (record.study, record.key) not in seen:
            seen[(record.study, record.key)] = record
    return list(seen.values())


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far a stored study got: each method's finished trials of those its protocol plans, by phase."""

    finished: Mapping[tuple[str, str], int]  # (method, phase) -> trials finished and counted
    planned: Mapping[tuple[str, str], int]  # (method, phase) -> trials planned (seeds: once tuned)
    ended: bool  # its run reached the end; otherwise it stopped part way or is still going
    running: int  # trials whose process is alive now

    @property
    def interrupted(self) -> bool:
        """Stopped part way (Ctrl-C, a kill, a crash) with nothing running: resumable."""
        return not self.ended and self.running == 0

    def count(self, method: str | None = None) -> tuple[int, int]:
        """(finished, planned) trials of ``method``, or of every method, over both phases."""
        keys = [k for k in self.planned if method is None or k[0] == method]
        return sum(self.finished.get(k, 0) for k in keys), sum(self.planned[k] for k in keys)


def progress(spec: StudySpec, storage: BaseStorage) -> Progress:
    """How far ``spec``'s study in ``storage`` got (see :class:`Progress`)."""
    names = stored_study_names(storage, spec)
    finished = Counter((r.method, r.phase) for r in counted(load_records(storage, names)))
    planned = {}
    for method in spec.methods:
        planned[(method.name, TUNE)] = len(spec.tune_plan(method))
        planned[(method.name, SEEDS)] = spec.seeds
    studies = optimlab_studies(storage, spec.name)
    ended = bool(studies) and all(s.user_attrs.get(DONE_ATTR, False) for s in studies)
    return Progress(dict(finished), planned, ended, sum(live_trials(storage, n) for n in names))


# The settings of a comparison's plan that a resume given its plan again takes as stored where left out
# (None): by the plan's key, the stored spec's key (to_dict) and, for the recipe, the field.
_AS_STORED = {"budget": ("budget",), "protocol": ("protocol",), "pruner": ("pruner",), "space": ("space",),
              "epochs": ("recipe", "training", "epochs")}  # fmt: skip


def as_stored_where_not_given(
    plan: Mapping[str, Any], location: str | Path, name: str | None = None
) -> dict[str, Any]:
    """``plan`` (a comparison's, :func:`~optimlab.study.compare.plan_comparison`'s keywords) with each
    setting left out (None) as the studies stored at ``location`` (only study ``name``'s, if given) hold
    it, where they all hold it alike: a resume compares only the settings given against the stored ones
    (a default, not given, read as a change: 'budget: stored 1, given 7')."""
    from optimlab.study.compare import stored_settings

    stored = [s for s in stored_settings(location) if name is None or s.get("name") == name]
    filled = dict(plan)
    for key, where in _AS_STORED.items():
        if key not in plan or plan[key] is not None or not stored:
            continue
        if key == "epochs" and any(
            _stored_at(s, ("recipe", "training", "steps")) is not None for s in stored
        ):
            continue  # a run of steps keeps its epochs unused: given them, its workload refuses them
        values = [_stored_at(settings, where) for settings in stored]
        if all(v == values[0] for v in values) and values[0] is not None:
            filled[key] = SearchSpace.from_dict(values[0], stored=True) if key == "space" else values[0]
    return filled


def _stored_at(settings: Any, where: Sequence[str]) -> Any:
    """The value stored ``settings`` hold at the keys ``where`` (None where any is missing)."""
    for part in where:
        settings = settings.get(part) if isinstance(settings, Mapping) else None
    return settings


def load_specs(location: str | Path, name: str | None = None, *, reading: bool = False) -> list[StudySpec]:
    """The specs of the studies kept at ``location`` (only study ``name``'s, if given), oldest first;
    ``reading`` them only (a report), the objects of another session they name stand in
    (:func:`stored_spec`)."""
    # create=False: a folder without a journal is refused as it is, not given an empty one (resume=True
    # of a mistyped folder left it behind, holding study.journal)
    storage = open_storage(location, create=False)
    by_name = _studies_by_name(storage, name)
    if not by_name:
        shown = without_passwords(str(location))
        there = sorted({s.user_attrs[SPEC_ATTR]["name"] for s in optimlab_studies(storage)})
        held = (
            f" (--name, name=): it holds {', '.join(map(repr, there))}" if name is not None and there else ""
        )
        begun = [
            s.study_name
            for s in storage.get_all_studies()
            if (name is None or s.study_name.startswith(f"{name}/")) and _is_orphan(storage, s.study_name)
        ]
        if begun and not there:
            held = (
                f": it holds study {begun[0]!r} with no settings stored, of a comparison killed as it began "
                f"(or one creating it now); if none is creating it now, take it over: "
                f"{_take_over(location, begun[0])}"
            )
        raise OptimlabError(f"no optimlab study{'' if name is None else f' {name!r}'} at {shown!r}{held}")
    return [_spec_of(studies, reading=reading) for studies in by_name.values()]


def _studies_by_name(
    storage: BaseStorage, name: str | None = None
) -> dict[str, list[optuna.study.FrozenStudy]]:
    """The method studies of each optimlab study in ``storage`` (only ``name``'s, if given), oldest first."""
    by_name: dict[str, list[optuna.study.FrozenStudy]] = {}
    for study in optimlab_studies(storage, name):
        by_name.setdefault(study.user_attrs[SPEC_ATTR]["name"], []).append(study)
    return by_name


def stored_spaces(studies: Sequence[optuna.study.FrozenStudy]) -> dict[str, Any]:
    """Method name -> the search space (:data:`SPACE_ATTR`, as stored) its study of ``studies`` started
    with, for those that stored one."""
    return {
        s.user_attrs[METHOD_ATTR]: s.user_attrs[SPACE_ATTR] for s in studies if SPACE_ATTR in s.user_attrs
    }


def _spec_of(studies: Sequence[optuna.study.FrozenStudy], *, reading: bool) -> StudySpec:
    """The spec of one optimlab study, from its method ``studies`` (:func:`stored_spec`)."""
    return stored_spec(studies[-1], reading=reading, spaces=stored_spaces(studies))


# Recipe fields that may name the user's objects, which optimlab.compare names '<data>', '<build_2>'...,
# and the registry each is named in.
_OBJECT_FIELDS = {
    "model.name": "model",
    "data.name": "dataset",
    "training.loss": "loss",
    "optimizer.name": "optimizer",
}


def _objects_of_another_session(spec: Mapping[str, object]) -> dict[str, str]:
    """``{name: registry}`` of the user's objects ``spec`` (a stored spec's dict) names that this
    process does not hold: objects of the Python session that ran the study."""
    from optimlab.registry import get_registry

    try:
        recipe = spec["recipe"]
        named = [(f, recipe.get(f.split(".")[0], {}).get(f.split(".")[1])) for f in _OBJECT_FIELDS]
        named += [(f, v) for m in spec["methods"] for f, v in m["updates"].items() if f in _OBJECT_FIELDS]
    except (KeyError, TypeError, AttributeError):  # not a spec: StudySpec.from_dict says what is wrong
        return {}
    absent = {
        value: _OBJECT_FIELDS[field]
        for field, value in named
        if isinstance(value, str)
        and value.startswith("<")
        and value.endswith(">")
        and value.lower() not in get_registry(_OBJECT_FIELDS[field])
    }
    # the functions of the script that ran it, stored as __main__:name (optimlab.compare(metric=f1))
    training = recipe.get("training") if isinstance(recipe.get("training"), Mapping) else {}
    functions = [(p, "metric") for p in training.get("metrics") or ()]
    functions.append((training.get("compute_loss"), "compute_loss"))
    for path, category in functions:
        if (
            isinstance(path, str)
            and path.startswith(_SCRIPT)
            and not hasattr(sys.modules["__main__"], path[len(_SCRIPT) :])
        ):
            absent[path] = category
    return absent


_SCRIPT = "__main__:"  # the import path prefix of a function of the script that ran a study


def stored_spec(
    study: optuna.study.FrozenStudy, *, reading: bool = False, spaces: Mapping[str, Any] | None = None
) -> StudySpec:
    """A stored study's spec, the user's code it names searched in the folders its driver found it in
    too (after ``sys.path``): a worker, a report or a resume started from another folder imports it.

    Each method searches the space its study stored (``spaces``: method name -> :data:`SPACE_ATTR`), as
    it started: the default one is measured on the optimizer, whose default lr may have moved since.
    The user's objects (``optimlab.compare(data=loader)``) live in the session that ran the study: where
    the spec names some this process lacks, a study only ``reading`` it (a report of its trials) gets
    stand-ins that refuse to be built; any other use is refused, naming them."""
    extend_sys_path([f for f in study.user_attrs.get(IMPORT_FROM_ATTR, ()) if Path(f).is_dir()])
    stored = study.user_attrs[SPEC_ATTR]
    absent = _objects_of_another_session(stored)
    said = ", ".join(f"{category} {name}" for name, category in absent.items())
    why = (
        f"study {stored['name']!r} was run on objects of the Python session that ran it "
        f"({said}): continue it from Python with the same objects, optimlab.compare(model=..., data=..., "
        "out=..., resume=True)"
    )
    spaces = dict(spaces or {})
    measured = "optimizer" in absent.values() and stored.get("space") is None
    if absent and (not reading or (measured and len(spaces) < len(stored.get("methods", ())))):
        raise OptimlabError(why)  # a study older than SPACE_ATTR: its optimizers' lr ranges are unknown
    for name, category in absent.items():
        _stand_in(category, name, why)
    try:
        return StudySpec.from_dict(
            stored, stored_spaces={m: SearchSpace.from_dict(s, stored=True) for m, s in spaces.items()}
        )
    except OptimlabError as error:  # edited by hand, or naming what this version no longer has
        # named as optimlab names it: the Optuna study read is one method's ('t/adam'), perhaps not the one
        # whose optimizer is gone
        raise OptimlabError(f"the stored study {stored['name']!r} cannot be read: {error}") from None


def _stand_in(category: str, name: str, why: str) -> None:
    """Register ``name`` in the ``category`` registry as an object that refuses to be built, saying ``why``."""
    from optimlab.registry import get_registry

    def absent(*args: object, **kwargs: object) -> None:
        raise OptimlabError(why)

    absent.__doc__ = "The user's object of another Python session."
    if name.startswith(_SCRIPT):  # a function of another session's script: its path imports the stand-in
        setattr(sys.modules["__main__"], name[len(_SCRIPT) :], absent)
    elif category == "optimizer":  # registered as the user's optimizer class is: one with an lr keyword

        class Absent(torch.optim.Optimizer):
            __doc__ = absent.__doc__

            def __init__(self, params: object, lr: float | None = None) -> None:
                absent()

        get_registry(category).adopt(name, Absent)
    else:
        get_registry(category).adopt(name, absent)


def _as_planned(spec: StudySpec, studies: Sequence[optuna.study.FrozenStudy]) -> StudySpec:
    """``spec`` planning its trials as its stored ``studies`` did: each method over the search space its
    study started with (:data:`SPACE_ATTR`; without a space, the lr range measured on its optimizer then,
    whose default lr may have moved in its code since), and a study stored before
    :attr:`~optimlab.study.protocols.StudySpec.distinct` over its own draws, repeats kept, and one stored
    before :attr:`~optimlab.study.protocols.StudySpec.fixed_split` splitting each trial by its own seed (and
    one stored before :attr:`~optimlab.study.protocols.StudySpec.sections_by_field` replacing a compared
    section whole)."""
    spaces = {m: SearchSpace.from_dict(space, stored=True) for m, space in stored_spaces(studies).items()}
    stored = with_absent_fields(studies[0].user_attrs[SPEC_ATTR])
    return dataclasses.replace(
        spec,
        distinct=bool(stored["distinct"]),
        fixed_split=bool(stored["fixed_split"]),
        sections_by_field=bool(stored["sections_by_field"]),
        stored_spaces={**spec.stored_spaces, **spaces},
    )


def open_studies(
    spec: StudySpec, location: str | Path | None, *, resume: bool = False, comparison: Sequence[str] = ()
) -> BaseStorage:
    """Create ``spec``'s Optuna studies at ``location`` (None: a new storage in memory, see
    :func:`~optimlab.study.storage.open_storage`; or, with ``resume``, check the stored ones), recording in
    a new one the names of every study of its ``comparison`` (:data:`COMPARISON_ATTR`).

    An existing study needs ``resume`` and the same spec, but for more ``seeds`` (a study extended: its
    reruns so far are kept, the new ones run on the next fresh seeds); ``resume`` needs an existing
    study. A study found without settings (no trials, no attributes) is taken over by ``resume`` only
    where no live comparison claims it; each study created or taken over is claimed, and a comparison
    that then reads another live claim on it is refused, deleting the studies it created (the
    module-level Claims of :mod:`~optimlab.study.storage`). Returns the opened storage.
    """
    storage = open_storage(location)
    existing = optimlab_studies(storage, spec.name)
    if existing and not resume:
        _refuse_stored(spec, location)
    # one order for every comparison of this name: the first creation decides which one holds it
    names = sorted(spec.study_name(method) for method in spec.methods)
    held = {s.study_name for s in storage.get_all_studies() if s.study_name in names}
    orphans = set()  # created by a comparison killed before it stored its spec: resume=True takes them
    for study_name in sorted(held) if not existing else ():
        if not (resume and _is_orphan(storage, study_name)):
            _refuse_taken(storage, study_name, spec, location)
        orphans.add(study_name)
    if resume and not existing and not orphans:
        raise OptimlabError(f"nothing to resume: no study {spec.name!r} in this storage")
    extended = False
    if existing:
        stored = with_absent_fields(existing[0].user_attrs[SPEC_ATTR])
        spec = _as_planned(spec, existing)
        changed = sorted(k for k, v in spec.to_dict().items() if stored.get(k) != v)
        if changed == ["seeds"] and spec.seeds < stored["seeds"]:
            raise InvalidValueError(
                "seeds (--seeds)",
                spec.seeds,
                f"at least the {stored['seeds']} of study {spec.name!r}: resuming adds seed reruns, it never "
                "drops those it has",
            )
        extended = changed == ["seeds"]
        if changed and not extended:
            # more seeds alone resume: not named as a difference to drop
            differ = [k for k in changed if k != "seeds" or spec.seeds < stored["seeds"]]
            raise OptimlabError(
                f"cannot resume study {spec.name!r}: its settings differ from the stored study's "
                f"({_changes(stored, spec.to_dict(), differ)}); resume it on its stored settings with "
                f"`{_resume_command(spec, location)}` alone (in Python: resume=True, no values)"
            )
    claimed = _claim_stored(storage, [study.study_name for study in existing], location)
    try:  # a resume refused by a check withdraws its claims: a notebook's would hold the study
        if existing:
            check_same_recipes(storage, spec)
        data: dict[str, Any] = {}  # each data a check builds, built once for them all (_data_of)
        started = check_same_data(storage, spec, data) if existing else []
        # the data of methods no trial finished yet, recorded again: their trials train on these
        digests = _data_digests(
            spec, [m for m in spec.methods if m.name not in started], resuming=bool(existing), data=data
        )
        if existing:
            check_same_models(storage, spec, data)
    except BaseException:
        _withdraw(storage, claimed)
        raise
    data.clear()  # not held through the trials
    folders = code_folders()
    direction = "maximize" if spec.goal == "max" else "minimize"
    created: list[str] = []
    for method in sorted(spec.methods, key=spec.study_name):
        study_name = spec.study_name(method)
        loaded = bool(existing) or study_name in orphans
        try:  # a new study's creation is its claim: Optuna creates a name once, in any storage
            study = optuna.create_study(
                storage=storage, study_name=study_name, load_if_exists=loaded, direction=direction
            )
        except optuna.exceptions.DuplicatedStudyError:  # another comparison created it since the check
            _delete_created(storage, created)
            _refuse_taken(storage, study_name, spec, location)
        study_id = storage.get_study_id_from_name(study_name)
        # created or taken over: of two comparisons at it at once, one goes on
        mine = None if existing else claim_study(storage, study_id)
        try:
            if mine is not None and (others := live_claims(storage, study_id, mine=mine)):
                _delete_created(storage, created)
                raise OptimlabError(
                    f"the storage {without_passwords(str(location))!r}: study {study_name!r} was claimed by "
                    f"another comparison at the same time ({_claimants(others)}), which goes on with it; "
                    "resume it once that one has stored its settings, or choose another study name (--name)"
                )
            if not loaded:
                created.append(study_name)
            # the spec last: readers (a worker polling the storage) take a study as optimlab's once its spec
            # is there, so they never read one whose method, space or code folders are not written yet
            study.set_user_attr(METHOD_ATTR, method.name)
            study.set_user_attr(SPACE_ATTR, spec.space_for(method).to_dict())
            if extended:  # not done until the new seeds have run: progress and waiting workers read it
                study.set_user_attr(DONE_ATTR, False)
            if not existing:
                study.set_user_attr(IMPORT_FROM_ATTR, folders)
                if comparison:
                    study.set_user_attr(COMPARISON_ATTR, list(comparison))
            if digests.get(method.name) is not None:
                study.set_user_attr(DATA_ATTR, digests[method.name])
            study.set_user_attr(SPEC_ATTR, spec.to_dict())
        except BaseException:  # refused, interrupted, a storage error: this process may try again
            if mine is not None:
                withdraw_claim(storage, study_id, mine)
            raise
    return storage


# The attributes a comparison writes before a study's spec (open_studies): a study holding only some of
# them, no spec and no trial was left by a comparison killed as it began, or is being written now.
_BEFORE_SPEC = frozenset({METHOD_ATTR, SPACE_ATTR, DONE_ATTR, IMPORT_FROM_ATTR, COMPARISON_ATTR, DATA_ATTR})


# the settings of a spec a flag of optimlab compare gives as it is, by the spec's key (to_dict)
_FLAGS = {"methods": "--optimizers, --compare", "space": "--space, --space-file"}
_FLAGS.update({key: f"--{key}" for key in ("protocol", "budget", "seeds", "pruner", "metric", "goal")})


def _changes(stored: Mapping[str, Any], given: Mapping[str, Any], keys: Sequence[str]) -> str:
    """Each of the spec settings ``keys`` as ``stored`` and ``given`` hold it: the flag that gives it, or
    each differing field of a recipe or a search space; the methods by name."""
    from optimlab.report.recipes import flat_fields

    said = []
    for key in keys:
        if key == "methods":  # by name, or where the names read alike, by their updates
            alike = [m["name"] for m in stored[key]] == [m["name"] for m in given[key]]
            before, after = ({"": _methods_text(spec[key], alike)} for spec in (stored, given))
        elif key == "space" and None in (stored.get(key), given[key]):  # the default one on either side
            before, after = ({"": _space_text(spec.get(key))} for spec in (stored, given))
        elif isinstance(stored.get(key), Mapping) and isinstance(given[key], Mapping):
            before, after = dict(flat_fields(stored[key])), dict(flat_fields(given[key]))
        else:
            before, after = {"": stored.get(key)}, {"": given[key]}
        named = f"{key} ({_FLAGS[key]})" if key in _FLAGS else key
        said += [
            f"{named}{' ' + field if field else ''}: stored {before.get(field)}, given {after.get(field)}"
            for field in {**before, **after}
            if before.get(field) != after.get(field)
        ]
    return "; ".join(said)


def _methods_text(methods: Sequence[Mapping[str, Any]], updates: bool) -> str:
    """Stored ``methods`` (a spec dict's) by name, with their ``updates`` if asked."""
    if not updates:
        return ", ".join(m["name"] for m in methods)
    return ", ".join(
        f"{m['name']} ({', '.join(f'{field}={value}' for field, value in m['updates'].items())})"
        for m in methods
    )


def _space_text(space: Mapping[str, Any] | None) -> str:
    """A search space as a user gives it (:meth:`SearchSpace.given_as`); None: the default one."""
    if space is None:
        return "the default (no --space)"
    return SearchSpace.from_dict(space, stored=True).given_as()


def _resume_command(spec: StudySpec, location: str | Path) -> str:
    """The command that resumes ``spec``'s stored study at ``location`` on its stored settings."""
    shown = without_passwords(str(location))
    command = ["optimlab", "compare", "--resume", shown]
    if is_url(location):  # --resume names the folder for the report; --storage, where the study is
        command[-1:] = ["OUT", "--storage", shown, "--name", spec.name]
    return shlex.join(command)


def _refuse_stored(spec: StudySpec, location: str | Path) -> NoReturn:
    """Refuse a fresh start where ``spec``'s study is stored, with the command that resumes it."""
    raise OptimlabError(
        f"the storage {without_passwords(str(location))!r} already holds study {spec.name!r}: resume it with "
        f"`{_resume_command(spec, location)}` (resume=True in Python), or choose another output folder or "
        "study name"
    )


def _claim_stored(storage: BaseStorage, stored: Sequence[str], location: str | Path) -> list[tuple[int, str]]:
    """Claim the ``stored`` studies (of a spec, its settings stored: a kill between two creations leaves
    the others to create) for this process's run of them (a claim it holds already taken up): refused,
    the claims made withdrawn, where another live comparison claims one (two resumes from two folders on
    one shared storage both ran it, each trial planned twice). Returns the (study id, key) of each claim
    made."""
    made: list[tuple[int, str]] = []
    try:
        for study_name in sorted(stored):
            study_id = storage.get_study_id_from_name(study_name)
            mine = held_claim(storage, study_id)
            if mine is None:
                mine = claim_study(storage, study_id)
                made.append((study_id, mine))
            if others := live_claims(storage, study_id, mine=mine):
                shown = without_passwords(str(location))
                raise OptimlabError(
                    f"the storage {shown!r}: study {study_name!r} is being run by another comparison "
                    f"({_claimants(others)}); resume it once that one has ended (another host's: "
                    f"{GRACE_SECONDS:.0f} s after its last beat), or train its waiting trials beside it with "
                    f"`{worker_command(location)}`"
                )
    except BaseException:
        _withdraw(storage, made)
        raise
    return made


def _withdraw(storage: BaseStorage, claims: Sequence[tuple[int, str]]) -> None:
    """Withdraw this process's ``claims`` (study id, key) made by a refused or interrupted resume."""
    for study_id, key in claims:
        withdraw_claim(storage, study_id, key)


def _delete_created(storage: BaseStorage, created: Sequence[str]) -> None:
    """Delete the studies a comparison refused part way ``created``: the storage is not left split
    between it and the comparison that goes on."""
    for own in created:
        optuna.delete_study(study_name=own, storage=storage)


def _claimants(claims: Sequence[Mapping[str, Any]]) -> str:
    """Who made ``claims`` (:func:`~optimlab.study.storage.live_claims`): pid and host of each."""
    return ", ".join(f"pid {claim['pid']} on host {claim['host']}" for claim in claims)


def _is_orphan(storage: BaseStorage, study_name: str) -> bool:
    """Whether ``study_name`` holds no trials, no attribute but those written before the spec
    (:data:`_BEFORE_SPEC`) and no live comparison's claim (:func:`~optimlab.study.storage.live_claims`):
    created by a comparison killed before it stored its spec, or by one storing it now that has not claimed it yet (the claims read after taking it over
    settle that race)."""
    trials, attrs = _contents(storage, study_name)
    if trials or not attrs.keys() <= _BEFORE_SPEC:
        return False
    return not live_claims(storage, storage.get_study_id_from_name(study_name))


def _contents(storage: BaseStorage, study_name: str) -> tuple[int, dict[str, Any]]:
    """``study_name``'s trial count and user attributes, read in that order: a comparison stores its
    attributes (the spec last) before any trial, so a racer's study never reads as trials without a spec."""
    study_id = storage.get_study_id_from_name(study_name)
    return len(storage.get_all_trials(study_id, deepcopy=False)), storage.get_study_user_attrs(study_id)


def _refuse_taken(storage: BaseStorage, study_name: str, spec: StudySpec, location: str | Path) -> NoReturn:
    """Refuse ``spec``'s study ``study_name``, found in ``storage``: another comparison's (its spec
    stored), one being created now (a claim of this host never taken over on a timeout: a live
    comparison may stall for longer between the two; another host's, :func:`~optimlab.study.storage.
    live_claims`), or a study optimlab did not make."""
    trials, attrs = _contents(storage, study_name)
    if SPEC_ATTR in attrs:
        _refuse_stored(spec, location)
    shown = without_passwords(str(location))
    if trials or not attrs.keys() <= _BEFORE_SPEC:
        raise OptimlabError(
            f"the storage {shown!r} holds a study {study_name!r} that optimlab did not make ({trials} "
            "trials): choose another study name (--name), or another storage"
        )
    claims = live_claims(storage, storage.get_study_id_from_name(study_name))
    if claims:
        delete = f"delete it ({_delete_command(location, study_name)}) and start again"
        if any(claim["host"] != socket.gethostname() and "at" not in claim for claim in claims):
            then = f"another host's claim made without its time cannot be told dead from here: if it is, {delete}"
        else:
            then = (
                f"once that process is gone (another host's or container's: {GRACE_SECONDS:.0f} s after its last beat), "
                f"take it over: {_take_over(location, study_name)}, or {delete}"
            )
        raise OptimlabError(
            f"the storage {shown!r} holds study {study_name!r} with no settings stored, claimed by another "
            f"comparison ({_claimants(claims)}), creating it now or killed as it began; {then}"
        )
    raise OptimlabError(
        f"the storage {shown!r} holds study {study_name!r} with no settings stored: a comparison is "
        f"creating it now, or one was killed as it began; once none is, take it over: "
        f"{_take_over(location, study_name)}, or delete it ({_delete_command(location, study_name)}) and "
        "start again"
    )


def _delete_command(location: str | Path, study_name: str) -> str:
    """Optuna's command that deletes ``study_name`` from the storage at ``location``: a folder's journal
    file, or a database ``URL`` (its password, not shown, to be given)."""
    where = "URL" if is_url(location) else str(Path(location) / JOURNAL_NAME)
    return shlex.join(["optuna", "delete-study", "--storage", where, "--study-name", study_name])


def _take_over(location: str | Path, study_name: str) -> str:
    """How to take over ``study_name``, created at ``location`` by a comparison killed before it stored
    its settings: that comparison's command again, resuming (its settings, from the flags)."""
    shown = without_passwords(str(location))
    if is_url(location):  # --resume names the folder for the report; --storage, where the study is
        resuming = (
            f"--resume OUT --storage {shlex.quote(shown)} --name {shlex.quote(study_name.rpartition('/')[0])}"
        )
    else:
        resuming = f"--resume {shlex.quote(shown)}"
    return (
        f"run the command that started it with `{resuming}` in place of --out (its flags give the settings; "
        "in Python, the call that started it with resume=True)"
    )


def _data_of(recipe: Recipe, data: dict[str, Any]) -> Any:
    """The splits ``recipe`` builds, kept in ``data`` by :func:`~optimlab.build.data_key`: a resume's
    checks of data and models build each once (a data factory's call, a CSV file's read)."""
    from optimlab.build import build_data, data_key

    key = data_key(recipe)
    if key not in data:
        data[key] = build_data(recipe)
    return data[key]


def _data_digests(
    spec: StudySpec,
    methods: Sequence[Method] | None = None,
    *,
    resuming: bool = False,
    data: dict[str, Any] | None = None,
) -> dict[str, str | None]:
    """Method name -> the digest of the data its recipe builds at the tuning seed (:func:`data_digest`;
    None: dict batches, or, for a new study, data that do not build, which its trials say as they run;
    ``resuming`` one, those are refused, :func:`_digest_of`). Built once for methods that build the same
    data (an optimizer comparison's: one); a factory drawing from the global generators without its seed
    is read alike each time, as every build seeds them (data.user_factory). ``data``: the splits built
    so far (:func:`_data_of`)."""
    from optimlab.build import data_key

    data = {} if data is None else data
    digests: dict[str, str | None] = {}
    built: dict[str, str | None] = {}
    for method in spec.methods if methods is None else methods:
        recipe = spec.method_recipe(method)
        key = data_key(recipe)
        if key not in built:
            built[key] = _digest_of(
                lambda recipe=recipe: _data_of(recipe, data),
                _cannot_resume(spec, method) if resuming else None,
            )
        digests[method.name] = built[key]
    return digests


def stored_study_names(storage: BaseStorage, spec: StudySpec) -> list[str]:
    """The Optuna study names of ``spec``'s methods stored in ``storage``, in its order: a comparison
    killed between two creations left the others uncreated, which a report or a progress read met as a
    KeyError."""
    return [spec.study_name(method) for method, _ in _stored_methods(storage, spec)]


def _stored_methods(storage: BaseStorage, spec: StudySpec) -> list[tuple[Method, int]]:
    """Each of ``spec``'s methods whose study is stored, with its study id: a comparison killed between
    two creations left the others to create, which the checks of a resume met as a KeyError."""
    stored = {study.study_name for study in storage.get_all_studies()}
    return [
        (method, storage.get_study_id_from_name(spec.study_name(method)))
        for method in spec.methods
        if spec.study_name(method) in stored
    ]


def check_same_data(storage: BaseStorage, spec: StudySpec, data: dict[str, Any] | None = None) -> list[str]:
    """Refuse to resume ``spec`` where a method's data now differ from those its finished trials trained
    on (another sha256 of their tensors, :mod:`optimlab.data.digest`): a CSV file edited, a data
    factory's code changed, other tensors given to ``optimlab.compare`` in a fresh session, and the new
    trials would train on other data beside the results of the old; or data that no longer build (a file
    moved away), on which each trial would fail. Returns the methods that have a finished trial, whose
    recorded digest stays. A study that recorded only the digest of the user's
    object as held (:data:`OBJECT_DATA_ATTR`) is checked by it; one that recorded none (an optimlab of
    2026-12-05 or before) is resumed with a warning saying so; dict batches have no digest. ``data``: the
    splits built here (:func:`_data_of`), for :func:`check_same_models` to reuse."""
    data = {} if data is None else data
    kept: dict[str, str | None] = {}  # method -> the digest its study recorded, None if none
    held = set()  # methods whose study recorded only the digest of the user's object as held
    for method, study_id in _stored_methods(storage, spec):
        if not counted_trials(storage, study_id):
            continue
        attrs = storage.get_study_user_attrs(study_id)
        objects = attrs.get(OBJECT_DATA_ATTR) or {}
        name = spec.method_recipe(method).data.name
        kept[method.name] = attrs.get(DATA_ATTR) or objects.get(name)
        if attrs.get(DATA_ATTR) is None and name in objects:
            held.add(method.name)
    now = _data_digests(
        spec, [m for m in spec.methods if m.name in kept and m.name not in held], resuming=True, data=data
    )
    for method in (m for m in spec.methods if m.name in held):
        now[method.name] = _digest_of(lambda m=method: _held(spec, m), _cannot_resume(spec, method))
    for method in spec.methods:
        if now.get(method.name) is None:  # not started, or dict batches
            continue
        if kept[method.name] is None:
            warnings.warn(
                f"study {spec.name!r}: method {method.name!r}'s data are not checked against those its "
                "trials trained on: the study was stored without their sha256 (by an optimlab of "
                "2026-12-05 or before)",
                OptimlabWarning,
                stacklevel=1,  # said once: a comparison opens its studies, then runs each (open_studies)
            )
        elif now[method.name] != kept[method.name]:
            raise OptimlabError(
                f"cannot resume study {spec.name!r}: method {method.name!r} reads its data "
                f"{spec.method_recipe(method).data.name!r} as other values than its trials trained on "
                "(another sha256 of their tensors): the file, the code or the objects that make them "
                "changed since (or draw them at random without their seed), and the study would compare "
                "results on two data sets as one; give the data it started on, or run it as a new study "
                "(another output folder or study name)"
            )
    return list(kept)


def _held(spec: StudySpec, method: Method) -> Any:
    """The user's data object of ``method`` as this session holds it, unsplit (:data:`OBJECT_DATA_ATTR`)."""
    from optimlab.registry import get_registry

    return get_registry("dataset").create(spec.method_recipe(method).data.name, 0)


def _digest_of(build: Callable[[], Any], refusal: str | None = None) -> str | None:
    """:func:`~optimlab.data.digest.data_digest` of what ``build`` returns (inside a comparison, the one
    its build took: :func:`~optimlab.data.built_once.digest_of`). Data that do not build are, for a new study, None
    (its trials say why, as they run); given the ``refusal`` of a resumed study, they stop it, saying why:
    its trials would each fail on them, their keys done with (a CSV file moved away while it resumed
    failed its new seed reruns for good)."""
    try:
        return digest_of(build())
    except Exception as error:
        if refusal is None:
            return None
        raise OptimlabError(f"{refusal} ({str(error).rstrip('.')}); {_EACH_TRIAL}") from error


# what a resume refused for data or a model that do not build says next
_EACH_TRIAL = "each of its trials would fail on it, its seed used up: restore it and resume"


def _cannot_resume(spec: StudySpec, method: Method) -> str:
    """The refusal of a resumed study whose ``method``'s data do not build, up to why."""
    data = spec.method_recipe(method).data.name
    return f"cannot resume study {spec.name!r}: method {method.name!r} cannot read its data {data!r} now"


def check_same_recipes(storage: BaseStorage, spec: StudySpec) -> None:
    """Refuse to resume ``spec`` where a method's trial recipe as resolved now (:func:`trial_recipe`, of a
    trained trial's parameters and seed) is not the one its trials recorded: an optimlab that resolves
    the method's fields otherwise made the study (a user's class given by ``model.name`` once took the
    recipe's dropout 0.0 and relu, now its own 0.5 and tanh), and its new trials would train another
    recipe than its old, ranked as one. Trials of an optimlab that recorded no recipe, or one this
    version cannot read, are not checked so (the stored settings are, above)."""
    from optimlab.recipe import Recipe
    from optimlab.report.recipes import flat_fields

    for method, study_id in _stored_methods(storage, spec):
        trials = storage.get_all_trials(study_id, deepcopy=False)
        trained = next((t for t in trials if "recipe" in t.user_attrs and "seed" in t.user_attrs), None)
        if trained is None:
            continue
        try:
            recorded = dict(flat_fields(Recipe.from_dict(trained.user_attrs["recipe"]).to_dict()))
        except OptimlabError:
            continue
        now = dict(flat_fields(trial_recipe(trained, spec, method).to_dict()))
        changed = [
            f"{k} {recorded.get(k)!r} -> {now.get(k)!r}"
            for k in {**recorded, **now}
            if recorded.get(k) != now.get(k)
        ]
        if changed:
            raise OptimlabError(
                f"cannot resume study {spec.name!r}: method {method.name!r} now resolves to another recipe than "
                f"its trials trained ({'; '.join(changed)}): the study was made by another optimlab version or "
                "definition of the method, and its new trials would be compared with its old as one; run it as "
                "a new study (another output folder or study name), or resume it with the optimlab that made it"
            )


def check_same_models(storage: BaseStorage, spec: StudySpec, data: dict[str, Any] | None = None) -> None:
    """Refuse to resume ``spec`` where a method's model now builds with another structure than the one its
    trials trained (:mod:`optimlab.models.structure`): the model's code changed in between, and the
    study would compare the results of two models as one; or where the file defining the user's model
    now parses to another syntax tree than its trials recorded (:func:`~optimlab.study.trial.
    model_source`: a change inside ``forward`` leaves the structure as it was). Rebuilt from a trained
    trial's recipe, once for methods that differ only in their optimizer or schedule (their data and
    model are one); trials of an optimlab that did not record their model (before 2026-12-05), or its
    file's tree (before 2026-12-06), are not checked so. ``data``: the splits built so far
    (:func:`_data_of`), the data check's."""
    from optimlab.build import build_model
    from optimlab.recipe import Recipe

    data = {} if data is None else data

    checked: set[str] = set()  # what was rebuilt: a recipe but for its optimizer and schedule, its digest
    for method, study_id in _stored_methods(storage, spec):
        trials = storage.get_all_trials(study_id, deepcopy=False)
        recorded = [t.user_attrs for t in trials if "model" in t.user_attrs and "recipe" in t.user_attrs]
        # one that recorded its file's tree first: a study of before 2026-12-06 resumed records it since
        trained = min(recorded, key=lambda attrs: "source_sha256" not in attrs["model"], default=None)
        if trained is None:
            continue
        built = {k: v for k, v in trained["recipe"].items() if k not in ("optimizer", "schedule")}
        key = json.dumps([built, trained["model"]["digest"]], sort_keys=True, default=str)
        if key in checked:
            continue
        checked.add(key)
        try:
            recipe = Recipe.from_dict(trained["recipe"])
        except OptimlabError:  # a recipe this version reads otherwise: the spec's own is checked above
            continue
        try:
            now = structure(build_model(recipe, _data_of(recipe, data)))
        except Exception as error:
            raise OptimlabError(
                f"cannot resume study {spec.name!r}: method {method.name!r} cannot build its model "
                f"{recipe.model.name!r} now ({str(error).rstrip('.')}); {_EACH_TRIAL}"
            ) from error
        if now["digest"] != trained["model"]["digest"]:
            raise OptimlabError(
                f"cannot resume study {spec.name!r}: method {method.name!r} builds its model "
                f"{recipe.model.name!r} with {describe_change(now, trained['model'])}: its code changed "
                "since the study's trials trained, and the study would compare two models as one; run "
                "it as a new study (another output folder or study name), or restore the model's code"
            )
        stored, source = trained["model"].get("source_sha256"), model_source(recipe)
        if stored is not None and source is not None and source[1] != stored:  # not recorded before 12-06
            raise OptimlabError(
                f"cannot resume study {spec.name!r}: the model of method {method.name!r}, {recipe.model.name!r}, "
                f"is defined in {source[0]!r}, whose code changed since the study's trials trained (comments, "
                "docstrings and formatting aside), and the study would compare two models as one; restore the file, "
                "or run it as a new study (another output folder or study name)"
            )


def _plan(spec: StudySpec, method: Method, phase: str, records: Sequence[TrialRecord]) -> list[PlannedTrial]:
    if phase == TUNE:
        return spec.tune_plan(method)
    best = best_tuning_trial(spec, records)
    return [] if best is None else spec.seed_plan(best.params)


def _interruptions(records: Sequence[TrialRecord]) -> Counter[tuple[str, str]]:
    """How many times each (study, key) was interrupted."""
    return Counter((r.study, r.key) for r in records if r.status == INTERRUPTED)


def _enqueue_missing(
    storage: BaseStorage,
    spec: StudySpec,
    phase: str,
    earlier: Counter[tuple[str, str]],
    on_storing: Callable[[int, int], None] | None = None,
) -> set[tuple[str, str]]:
    """Enqueue each planned key of ``phase`` that has no waiting, running or finished trial, unless its
    process died :data:`MAX_INTERRUPTIONS` times in this run (beyond the ``earlier`` runs' interruptions:
    those were the user's kills and Ctrl-Cs as often as a trial's fault, and a resume retries them),
    calling ``on_storing`` with the trials stored and their number after each.
    Returns the (study, key) given up so."""
    given_up = set()
    missing: list[tuple[optuna.Study, Method, PlannedTrial]] = []
    for method in spec.methods:
        name = spec.study_name(method)
        records = load_records(storage, [name])
        present = {r.key for r in records if r.finished or r.state in ("waiting", "running")}
        interruptions = _interruptions(records) - earlier
        study = optuna.load_study(study_name=name, storage=storage)
        for planned in _plan(spec, method, phase, records):
            if planned.key in present:
                continue
            if interruptions[(name, planned.key)] >= MAX_INTERRUPTIONS:
                given_up.add((name, planned.key))
                continue
            missing.append((study, method, planned))
    store_waiting(
        storage,
        [
            (
                study,
                planned.params or {},
                {"method": method.name, "phase": planned.phase, "key": planned.key, "seed": planned.seed},
            )
            for study, method, planned in missing
        ],
        on_storing=on_storing,
    )
    return given_up


def worker_command(location: str | None) -> str:
    """The command that runs a study's trials at ``location`` in a process started by hand: with ``--wait``,
    as a driver plans each method's seed reruns once its tuning ends, and a worker without it stops at the
    first moment none waits (between the two: the seed reruns then waited, the driver with them)."""
    return f"optimlab worker --wait {shlex.quote(without_passwords(str(location)))}"


def _no_worker_running(spec: StudySpec, location: str | None) -> str:
    """What a driver of workers started elsewhere (``--workers 0``) says where its trials wait and none has
    run for :data:`GRACE_SECONDS`: its workers died or never started; it waits on, without a deadline."""
    return (
        f"study {spec.name!r}: waiting for workers: none has run a trial for {GRACE_SECONDS:.0f} s (each died, "
        f"or none started, or stopped without --wait once none waited); start one with `{worker_command(location)}`; "
        "this run waits for them (Ctrl-C stops it; --resume goes on)"
    )


def _pending(
    storage: BaseStorage, names: Sequence[str], states: Sequence[str] = ("waiting", "running")
) -> bool:
    """Whether a trial of these studies waits or runs (in any process)."""
    return any(r.state in states for r in load_records(storage, names))


def check_backend(spec: StudySpec, backend: str) -> None:
    """Refuse a ``backend`` unknown, or one that cannot run ``spec`` as it asks: the batched backend trains
    its trials together to the end, so a pruner would stop none of them (it was silently ignored: a study
    run locally pruned trials the same study run batched completed)."""
    if backend not in BACKENDS:
        raise InvalidValueError("backend", backend, "one of " + ", ".join(BACKENDS))
    if backend == "batched" and spec.pruner != "none":
        raise InvalidValueError(
            "pruner (--pruner)",
            spec.pruner,
            "none with the batched backend, which trains its trials together to the end; or the local, "
            "workers or ray backend, which stop a hopeless trial",
        )


def _check_in_memory(backend: str, resume: bool) -> None:
    """Refuse what a study in a new storage in memory (location None) cannot do: be resumed (it starts
    empty), or run on a backend whose processes cannot reach this one's memory."""
    if resume:
        raise InvalidValueError(
            "resume", resume, "False for a study in memory (location None): it starts empty"
        )
    if not BACKENDS[backend].in_process:
        in_process = " or ".join(b.name for b in BACKENDS.values() if b.in_process)
        raise InvalidValueError(
            "backend",
            backend,
            f"{in_process} for a study in memory (location None): other processes cannot reach it",
        )


@global_generators_given_back()  # building seeds them for the run; the caller's draws go on after
@claims_held()  # its claims on the studies, held to its end: another comparison is refused meanwhile
def run_study(
    spec: StudySpec,
    location: str | Path | None,
    *,
    backend: str = "local",
    options: BackendOptions | None = None,
    resume: bool = False,
    on_progress: Callable[[list[TrialRecord]], None] | None = None,
    on_storing: Callable[[int, int], None] | None = None,
) -> StudyResult:
    """Run (or resume) ``spec`` in the storage at ``location`` (a folder or an RDB URL; None: a new storage in
    this process's memory, gone when it returns, for a study kept only as the result: no resume, no backend
    in other processes).

    Args:
        backend: a row of :data:`~optimlab.study.backends.BACKENDS`: ``local`` (this process),
            ``batched`` (``options.members`` trials of one architecture trained at once as one
            vectorized model), ``workers`` (``options.workers`` processes on this machine; 0: none, the
            driver plans and waits for ``optimlab worker`` processes started anywhere) or ``ray``
            (``options.workers`` Ray tasks; ``options.ray_address`` of a cluster, else a local Ray).
        options: how the backend runs (:class:`~optimlab.study.backends.BackendOptions`, its defaults
            when None).
        resume: continue the study already in the storage (same spec): finished trials are kept,
            interrupted ones run again.
        on_progress: called with every trial record after each trial (local backends) or poll.
        on_storing: called with the trials of a phase's plan stored so far and their number, after each
            is stored before the first runs (an fsync each: 10^4 took 53 s, benchmarks/study_journal.py).
    """
    check_backend(spec, backend)
    if location is None:
        _check_in_memory(backend, resume)
    options = options or BackendOptions()
    storage = open_studies(spec, location, resume=resume)
    location = None if location is None else str(location)
    names = [spec.study_name(m) for m in spec.methods]
    spec = _as_planned(spec, optimlab_studies(storage, spec.name))
    targets = [(spec, m) for m in spec.methods]

    def poll() -> None:
        for name in names:
            reclaim_stale(storage, name)
        if on_progress is not None:
            on_progress(load_records(storage, names))

    poll()  # reclaims what a killed run left running, before planning
    earlier = _interruptions(load_records(storage, names))
    given_up: set[tuple[str, str]] = set()
    for phase in (TUNE, SEEDS):
        for _ in range(MAX_INTERRUPTIONS + 1):
            poll()
            given_up |= _enqueue_missing(storage, spec, phase, earlier, on_storing)
            if not _pending(storage, names):
                break
            elsewhere = execute(backend, storage, location, targets, options, poll)
            awaited = ("waiting", "running") if elsewhere else ("running",)
            ran, said = time.monotonic(), False  # when a trial last ran; whether the wait was said
            while _pending(storage, names, states=awaited):  # trials that other processes take or run
                time.sleep(POLL_SECONDS)
                poll()
                if not elsewhere:  # this run's own workers ended: what runs is theirs, ending
                    continue
                if _pending(storage, names, states=("running",)):
                    ran, said = time.monotonic(), False
                elif not said and time.monotonic() - ran >= GRACE_SECONDS:
                    said = True  # its only worker dead, --workers 0 waited on without a word
                    warnings.warn(_no_worker_running(spec, location), OptimlabWarning, stacklevel=2)
    for name in names:
        optuna.load_study(study_name=name, storage=storage).set_user_attr(DONE_ATTR, True)
    poll()
    if given_up:
        warnings.warn(
            f"given up, their processes having died {MAX_INTERRUPTIONS} times in this run (out of memory?): "
            f"{', '.join(f'{name} {key}' for name, key in sorted(given_up))}; the results lack them, and "
            "resuming the study tries them again",
            OptimlabWarning,
            stacklevel=2,
        )
    return StudyResult(spec=spec, location=location, records=counted(load_records(storage, names)))
