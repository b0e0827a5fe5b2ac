"""What a resume of a stored comparison refuses or takes over: a workload its comparison never planned,
claims on a study without settings, settings that differ from the stored ones."""

from __future__ import annotations

import dataclasses
import gzip
import os
import re
import socket
import time
from pathlib import Path

import optuna
import pytest

from optimlab.errors import OptimlabError
from optimlab.recipe import Recipe
from optimlab.study.compare import compare
from optimlab.study.protocols import StudySpec, methods_from
from optimlab.study.run import load_specs, open_studies
from optimlab.study.storage import CLAIM_PREFIX, SPEC_ATTR, open_storage
from optimlab.study.trial import trial_recipe
from optimlab.workloads import get_workload


def one_method(name="t"):
    return StudySpec.for_workload(
        name, get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["adam"])
    )


def claimed(folder, claim):
    """A study 't/adam' without settings at ``folder``, holding ``claim`` (a comparison's, as written)."""
    storage = open_storage(folder)
    optuna.create_study(storage=storage, study_name="t/adam")
    storage.set_study_system_attr(storage.get_study_id_from_name("t/adam"), f"{CLAIM_PREFIX}x", claim)


def stored_specs(folder):
    return [s.user_attrs.get(SPEC_ATTR) for s in open_storage(folder).get_all_studies()]


def test_a_resume_refuses_a_workload_its_stored_comparison_never_planned(tmp_path, monkeypatch):
    """A resume given the values created any workload's study not stored yet, even one the stored
    comparison never planned: its study's COMPARISON_ATTR named the two, the stored one's itself alone.
    Now it is refused naming the workload, nothing created. Truth: the studies read back."""
    from optimlab.study import compare as comparing
    from optimlab.study.storage import open_storage, optimlab_studies

    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(comparing, "check_trains", lambda spec: None)  # not what is tested
    call = {"values": ["sgd"], "budget": 1, "seeds": 1, "epochs": 1, "on_start": stop}
    with pytest.raises(KeyboardInterrupt):
        compare(**call, workloads=["teacher_student"], out=tmp_path)
    with pytest.raises(
        OptimlabError, match="study 'two_spirals_mlp': the comparison stored .* never planned"
    ):
        compare(**call, workloads=["teacher_student", "two_spirals_mlp"], out=tmp_path, resume=True)
    assert [s.study_name for s in optimlab_studies(open_storage(tmp_path))] == ["teacher_student/sgd"]


def test_a_comparison_interrupted_after_its_claim_leaves_its_study_to_this_process(tmp_path, monkeypatch):
    """A comparison interrupted (Ctrl-C in a notebook) after claiming its new study and before storing its
    settings left its claim: every later resume in that process was refused as 'claimed by another
    comparison (pid <its own>)'. Its claim is now withdrawn on any exit before the settings are stored,
    and a claim of this process it no longer holds (its withdrawal's write failed) is not another's.
    Truth: the study read back with the resume's settings."""
    from optimlab.study import run
    from optimlab.study.storage import _process_start

    spec, live_claims = one_method(), run.live_claims

    def interrupted(*args, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "live_claims", interrupted)  # read right after its claim
    with pytest.raises(KeyboardInterrupt):
        run.open_studies(spec, tmp_path / "interrupted")
    monkeypatch.setattr(run, "live_claims", live_claims)
    run.open_studies(spec, tmp_path / "interrupted", resume=True)
    assert stored_specs(tmp_path / "interrupted") == [spec.to_dict()]

    pid = os.getpid()
    mine = {"host": socket.gethostname(), "pid": pid, "started": _process_start(pid), "at": time.time()}
    claimed(tmp_path / "left", mine)
    run.open_studies(spec, tmp_path / "left", resume=True)
    assert stored_specs(tmp_path / "left") == [spec.to_dict()]


def test_another_hosts_claim_is_taken_as_dead_once_older_than_the_grace_without_settings(tmp_path):
    """A claim from another host never went stale: a resume was refused for good, told to take it over
    'once that process is gone', which could not succeed. Now another host's claim older than
    GRACE_SECONDS on a study still without settings is a comparison killed as it began: taken over;
    a newer one is refused saying when it can be; one that recorded no time (cannot be told dead) is
    refused with the command that deletes the study. Truth: the study read back."""
    from optimlab.study.run import open_studies
    from optimlab.study.storage import GRACE_SECONDS

    spec = one_method()
    elsewhere = {"host": "another-host.invalid", "pid": 4242, "started": "7"}
    claimed(tmp_path / "old", {**elsewhere, "at": time.time() - GRACE_SECONDS - 1})
    open_studies(spec, tmp_path / "old", resume=True)
    assert stored_specs(tmp_path / "old") == [spec.to_dict()]

    claimed(tmp_path / "new", {**elsewhere, "at": time.time()})
    with pytest.raises(
        OptimlabError, match=f"another host's or container's: {GRACE_SECONDS:.0f} s after its last beat"
    ):
        open_studies(spec, tmp_path / "new", resume=True)
    claimed(tmp_path / "untimed", elsewhere)
    journal = tmp_path / "untimed" / "study.journal"
    with pytest.raises(OptimlabError, match=f"optuna delete-study --storage {journal} --study-name t/adam"):
        open_studies(spec, tmp_path / "untimed", resume=True)
    assert stored_specs(tmp_path / "new") == stored_specs(tmp_path / "untimed") == [None]


def test_a_resume_refused_for_other_methods_or_space_names_them_as_given(tmp_path):
    """Refused for methods of the same names but other updates (model.width 8, 16 stored; model.depth 8,
    16 given) the resume named nothing ('differ from the stored study's ()'); for a space given where the
    default one was stored, a raw dict. Now the methods are named with their updates, the space as the
    --space flags that give it. Truth: SearchSpace.from_flags reads the flags said back to the space."""
    from optimlab.study.run import open_studies
    from optimlab.study.space import SearchSpace

    workload = get_workload("digits_mlp", epochs=1)
    open_studies(StudySpec.for_workload("t", workload, methods_from("model.width", [8, 16])), tmp_path)
    said = "stored 8 (model.width=8), 16 (model.width=16), given 8 (model.depth=8), 16 (model.depth=16)"
    with pytest.raises(OptimlabError, match=re.escape(said)):
        depths = methods_from("model.depth", [8, 16])
        open_studies(StudySpec.for_workload("t", workload, depths), tmp_path, resume=True)
    flags = ["optimizer.lr=1e-4:0.1:log", "model.depth=1:3:int", "optimizer.options.amsgrad=true,false"]
    space = SearchSpace.from_flags(flags)
    widths = methods_from("model.width", [8, 16])
    with pytest.raises(OptimlabError, match=r"stored the default \(no --space\), given --space ") as refused:
        open_studies(StudySpec.for_workload("t", workload, widths, space=space), tmp_path, resume=True)
    given = re.search(r"given (--space .*)\); resume", str(refused.value)).group(1)
    assert SearchSpace.from_flags(given.removeprefix("--space ").split(" --space ")) == space


def test_a_study_stored_before_the_range_end_check_resumes_by_the_call_that_started_it(tmp_path, monkeypatch):
    """A grid over momentum 0.5:1 stored before the plan-time range-end check (its end 1.0 a failed
    trial): the call that started it, resumed, was refused by that check as it planned the study again,
    though the plain resume loaded it. A spec that resumes a stored study's settings now skips the checks
    of a new plan (the grid's budget, the range ends). Truth: the same call on a fresh folder is
    refused, and the studies opened by the resume hold the stored settings."""
    from optimlab.study import compare as comparing
    from optimlab.study.run import open_studies
    from optimlab.study.space import SearchSpace

    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(comparing, "check_trains", lambda spec: None)  # not what is tested
    call = {"values": ["sgd"], "budget": 3, "seeds": 1, "epochs": 1, "on_start": stop}
    call["space"] = SearchSpace.from_flags(["optimizer.options.momentum=0.5:1"])
    with pytest.raises(OptimlabError, match="an end of its range 0.5:1.0, is a point of the grid"):
        compare(**call, out=tmp_path / "fresh")
    with monkeypatch.context() as before_the_check:
        before_the_check.setattr(StudySpec, "_check_ends_tried", lambda spec, method: None)
        (old,) = comparing.plan_comparison(**{k: v for k, v in call.items() if k != "on_start"})
    open_studies(old, tmp_path / "old")
    with pytest.raises(KeyboardInterrupt):
        compare(**call, out=tmp_path / "old", resume=True)
    assert stored_specs(tmp_path / "old") == [old.to_dict()]


def test_a_random_draw_is_not_rounded_onto_an_end_of_its_range():
    """Random draws rounded to four significant digits reached a range's end a field's check refuses:
    momentum 0.9999:1 (sgd accepts [0, 1)) drew 1.0 in about half its draws, each such trial failing.
    A draw now keeps more digits where four would round it onto an end. Truth: every draw and every
    planned trial's momentum lies in [0.9999, 1)."""
    from optimlab.study.space import SearchSpace

    space = SearchSpace.from_flags(["optimizer.options.momentum=0.9999:1"])
    drawn = [config["optimizer.options.momentum"] for config in space.sample(50, seed=0)]
    assert all(0.9999 <= momentum < 1 for momentum in drawn), drawn
    spec = StudySpec.for_workload(
        "t",
        get_workload("digits_mlp", epochs=1),
        methods_from("optimizer.name", ["sgd"]),
        space=space,
        protocol="random",
        budget=8,
    )
    planned = [trial.params["optimizer.options.momentum"] for trial in spec.tune_plan(spec.methods[0])]
    assert len(planned) == 8 and all(0.9999 <= momentum < 1 for momentum in planned), planned


def test_a_resume_refused_for_its_budget_does_not_name_more_seeds_which_resume(tmp_path):
    """A resume given another budget and more seeds was refused naming both ('budget: stored 7, given 2;
    seeds: stored 3, given 5'), though more seeds alone resume (a study extended): the user was told to
    change what needs no change. Now more seeds are left out of the differences; fewer, which no resume
    takes, are still named. Truth: the same spec with the stored budget resumes with the more seeds."""
    import dataclasses

    from optimlab.study.run import open_studies

    spec = one_method()
    open_studies(spec, tmp_path)
    more = dataclasses.replace(spec, seeds=spec.seeds + 2)
    with pytest.raises(OptimlabError, match=r"\(budget \(--budget\): stored 7, given 2\); resume") as refused:
        open_studies(dataclasses.replace(more, budget=2), tmp_path, resume=True)
    assert "seeds" not in str(refused.value)
    with pytest.raises(
        OptimlabError, match=r"budget \(--budget\): stored 7, given 2; seeds \(--seeds\): stored 3"
    ):
        open_studies(dataclasses.replace(spec, budget=2, seeds=1), tmp_path, resume=True)
    open_studies(more, tmp_path, resume=True)
    assert stored_specs(tmp_path) == [more.to_dict()]


def test_a_resume_refusal_says_a_stored_space_of_list_choices_as_the_space_file_that_gives_it(tmp_path):
    """A study stored from a --space-file of list choices (optimizer.betas pairs), resumed without it,
    was refused saying 'stored --space optimizer.betas=[0.9, 0.99],[0.8, 0.9]': flags that --space
    refuses. Now it is said as the --space-file holding it. Truth: that YAML, loaded, is the space."""
    import warnings

    from optimlab.study.run import open_studies
    from optimlab.study.space import SearchSpace

    workload = get_workload("digits_mlp", epochs=1)
    space = SearchSpace.from_dict({"optimizer.betas": [[0.9, 0.99], [0.8, 0.9]]})
    adam = methods_from("optimizer.name", ["adam"])
    with warnings.catch_warnings():  # Optuna's warning that list choices do not persist: not what is tested
        warnings.simplefilter("ignore", UserWarning)
        open_studies(StudySpec.for_workload("t", workload, adam, space=space, budget=2), tmp_path)
    with pytest.raises(
        OptimlabError, match=r"space \(--space, --space-file\): stored a --space-file holding "
    ) as refused:
        open_studies(StudySpec.for_workload("t", workload, adam, budget=2), tmp_path, resume=True)
    held = re.search(r"holding (\{.*\}), given the default", str(refused.value)).group(1)
    (tmp_path / "space.yaml").write_text(held)
    assert SearchSpace.load(tmp_path / "space.yaml") == space


def test_a_stored_study_run_by_a_live_comparison_is_refused_to_a_resume_from_another_folder(tmp_path):
    """Two resumes of one stored study from two --out folders on one shared storage both ran it (each
    trial planned by both: 8 and 7 trials by two pids); only a folder's lock guarded. Now a resume claims
    the stored studies and is refused, nothing written and its claim withdrawn, while another live
    comparison claims one (here: this process's parent, a process of this host; another host's while its
    beat is younger than GRACE_SECONDS), naming it; a comparison's claims end with it. Truth: the
    claims' processes, and the studies read back."""
    import dataclasses

    from optimlab.study.run import open_studies
    from optimlab.study.storage import GRACE_SECONDS, _process_start, claims_held, live_claims

    spec = one_method()
    with claims_held():
        open_studies(spec, tmp_path)
    storage = open_storage(tmp_path)
    study_id = storage.get_study_id_from_name("t/adam")
    assert live_claims(storage, study_id) == []  # the comparison's claim withdrawn as it ended
    more = dataclasses.replace(spec, seeds=spec.seeds + 1)
    ppid = os.getppid()
    parent = {"host": socket.gethostname(), "pid": ppid, "started": _process_start(ppid), "at": time.time()}
    elsewhere = {"host": "another-host.invalid", "pid": 4242, "started": "7", "at": time.time() - 600}
    for claim, who in (
        (parent, f"pid {ppid} on host {socket.gethostname()}"),
        (elsewhere, "pid 4242 on host"),
    ):
        beats = {"beat": time.time()} if claim is elsewhere else {}
        storage.set_study_system_attr(study_id, f"{CLAIM_PREFIX}other", {**claim, **beats})
        with pytest.raises(
            OptimlabError, match=f"study 't/adam' is being run by another comparison \\({who}"
        ) as refused:
            open_studies(more, tmp_path, resume=True)
        # with --wait: a worker without it stops between the tuning and the seed reruns the other plans
        assert str(refused.value).endswith(f"beside it with `optimlab worker --wait {tmp_path}`")
        assert stored_specs(tmp_path) == [spec.to_dict()]
        assert len(live_claims(storage, study_id)) == 1  # the other's alone: the refused one withdrew
    storage.set_study_system_attr(
        study_id, f"{CLAIM_PREFIX}other", {**elsewhere, "beat": time.time() - GRACE_SECONDS - 1}
    )
    open_studies(more, tmp_path, resume=True)  # silent past the grace: killed
    assert stored_specs(tmp_path) == [more.to_dict()]


def test_a_resume_of_a_comparison_killed_between_two_creations_claims_the_stored_study_alone(tmp_path):
    """A comparison killed after storing t/adam and before creating t/sgd: its resume's checks (the same
    recipes, data and models) asked for t/sgd's study, not there: a KeyError traceback. Now they check the
    stored studies, and the resume creates the other. Truth: the studies read back."""
    from optimlab.study.run import open_studies

    spec = StudySpec.for_workload(
        "t", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"])
    )
    open_studies(spec, tmp_path)
    optuna.delete_study(study_name="t/sgd", storage=open_storage(tmp_path))
    open_studies(spec, tmp_path, resume=True)
    assert stored_specs(tmp_path) == [spec.to_dict()] * 2


def test_a_report_and_the_tables_of_a_comparison_killed_between_two_creations_read_what_is_stored(tmp_path):
    """A comparison killed after storing t/adam and before creating t/sgd: `optimlab report OUT`
    (study_history.load_results), the tables of a later comparison in that folder (with_stored) and its
    progress asked for t/sgd's study, not there: a KeyError traceback, exit 1. Now they read the stored
    studies: an interrupted study, sgd at 0 of its 10 trials. Truth: the studies as stored."""
    from optimlab.report.study_history import load_results
    from optimlab.study.run import open_studies, with_stored

    spec = StudySpec.for_workload(
        "t", get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd", "adam"])
    )
    open_studies(spec, tmp_path)
    optuna.delete_study(study_name="t/sgd", storage=open_storage(tmp_path))
    [(result, progress)] = load_results(tmp_path)
    assert result.records == [] and progress.interrupted and progress.count("sgd") == (0, 10)
    [stored] = with_stored([], str(tmp_path))
    assert stored.spec == result.spec and stored.records == []


def test_a_library_resume_of_a_sqlite_file_or_a_folder_not_there_creates_nothing(tmp_path, monkeypatch):
    """compare(resume=True, storage='sqlite:///.../typo.db') created an empty typo.db before saying 'no
    optimlab study' (6f92ba5b checked the CLI's --storage alone), and given the values it ran a fresh
    comparison into it, as into a folder without a journal. Now both are refused before any opening.
    Truth: the files left in the folder."""
    from optimlab.study import compare as comparing

    def opened(*args):
        raise AssertionError("a resume of nothing stored went on")

    monkeypatch.setattr(comparing, "check_trains", lambda spec: None)  # not what is tested
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    call = {"budget": 1, "seeds": 1, "epochs": 1, "on_start": opened}
    for given in ({}, {"values": ["sgd"], **call}):
        with pytest.raises(
            OptimlabError, match=f"no study at '{url}': no SQLite file '{tmp_path}/typo.db' there"
        ):
            compare(out=tmp_path / "out", storage=url, resume=True, **given)
    with pytest.raises(OptimlabError) as refused:  # the library's words, not the command line's --out
        compare(["sgd"], out=tmp_path / "out", resume=True, **call)
    assert str(refused.value) == (
        f"nothing stored at '{tmp_path / 'out'}' yet (no study.journal): run it without resume=True"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_study_stored_with_a_plain_range_of_a_whole_number_field_resumes_and_reports(tmp_path):
    """A study stored before 6036e9c5 with ``--space training.batch_size=32:64`` (no :int: its space
    stored as ``{low: 32.0, high: 64.0, log: false, integer: false}``) could no longer be resumed, worked
    or reported: the read-back refused its own stored space. A stored space loads as stored; the check
    is of a space being given. Truth: the journal written as that code wrote it, read back."""
    from optimlab.study.run import load_specs, open_studies
    from optimlab.study.space import SearchSpace
    from optimlab.study.storage import SPACE_ATTR

    given = SearchSpace.from_dict({"training.batch_size": {"low": 32, "high": 64, "integer": True}})
    spec = StudySpec.for_workload(
        "t", get_workload("teacher_student", epochs=1), methods_from("optimizer.name", ["sgd"]),
        space=given, budget=2, seeds=1,
    )  # fmt: skip
    storage = open_studies(spec, tmp_path)
    old = {"training.batch_size": {"low": 32.0, "high": 64.0, "log": False, "integer": False}}
    (study,) = storage.get_all_studies()
    study_id = storage.get_study_id_from_name(study.study_name)
    storage.set_study_user_attr(study_id, SPACE_ATTR, old)
    storage.set_study_user_attr(study_id, SPEC_ATTR, {**study.user_attrs[SPEC_ATTR], "space": old})

    def started(*args):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # past the stored settings' read, at its first trial
        compare(resume=True, out=tmp_path, on_start=started)
    (read,) = load_specs(tmp_path, reading=True)  # as optimlab report and worker read it
    assert read.space.to_dict() == old


def test_a_cli_resume_given_its_methods_again_names_only_what_was_typed(tmp_path, cli):
    """`optimlab compare --resume DIR --optimizers adam` over a comparison run with `--epochs 1 --budget 1`
    was refused naming settings nobody typed, the CLI's defaults ('budget: stored 1, given 7;
    training.epochs: stored 1, given 20; eval_every: stored 3, given None'), beside the methods that
    differ. A setting not typed is now taken as stored (study.run.as_stored_where_not_given, as the Python
    API does): the refusal names the methods alone, and the stored study is left as it was."""
    flags = ["--workload", "digits_mlp", "--epochs", "1", "--budget", "1", "--seeds", "1", "--no-progress"]
    assert cli("compare", *flags, "--optimizers", "sgd", "--out", str(tmp_path / "c"))[0] == 0
    before = stored_specs(tmp_path / "c")
    code, out, err = cli("compare", "--resume", str(tmp_path / "c"), "--optimizers", "adam", "--no-progress")
    assert (code, out) == (2, ""), err
    said = " ".join(err.split())  # as one line, whatever the terminal's width
    differences = re.search(r"differ from the stored study's \((.*)\); resume", said).group(1)
    assert differences == "methods (--optimizers, --compare): stored sgd, given adam"
    assert stored_specs(tmp_path / "c") == before


def test_a_cli_resume_takes_as_stored_only_what_neither_a_flag_nor_a_recipe_file_gives(tmp_path, cli):
    """Taking untyped settings as stored (8cb4ce72) gave a steps-based workload's stored epochs back to it
    (quadratic_deep's recipe keeps epochs: 10 beside steps: 700), refused as 'unknown workload
    'quadratic_deep' hyperparameter 'epochs''; and it overrode an edited recipe file's epochs with the
    stored ones, where the change was refused before. Truth: the resume of the steps workload runs its
    new seed; the edited file is refused naming its epochs, stored 1 and given 4."""
    flags = ["--workload", "quadratic_deep", "--optimizers", "sgd", "--budget", "1", "--no-progress"]
    assert cli("compare", *flags, "--seeds", "1", "--out", str(tmp_path / "q"))[0] == 0
    code, _, err = cli("compare", "--resume", str(tmp_path / "q"), *flags, "--seeds", "2")
    assert code == 0, err
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data:\n  name: iris\ntraining:\n  epochs: 1\n")
    flags = ["--optimizers", "sgd", "--budget", "1", "--seeds", "1", "--no-progress"]
    assert cli("compare", str(recipe), *flags, "--out", str(tmp_path / "r"))[0] == 0
    recipe.write_text("data:\n  name: iris\ntraining:\n  epochs: 4\n")
    code, _, err = cli("compare", str(recipe), "--resume", str(tmp_path / "r"), *flags)
    assert code == 2 and "training.epochs: stored 1, given 4" in " ".join(err.split()), err


@pytest.mark.parametrize("section", ["model", "data", "optimizer"])
def test_a_study_stored_when_a_compared_section_replaced_the_section_resumes_as_its_trials_trained(
    tmp_path, section
):
    """Journals an optimlab before ebf4d1ed wrote (``compare(workload="digits_mlp", budget=1, seeds=1,
    epochs=1)`` comparing a whole section: model {mlp, width 16} and {mlp, tanh}; data digits and digits at
    val_fraction 0.3, recipe data.split_seed 0; optimizer {sgd, momentum 0.9} and adam, recipe
    optimizer.weight_decay 0.01), when a compared section replaced the recipe's whole. Truth: the recipes
    their trials recorded; the resume was refused (model.depth None -> 2), and a study stored before any
    trial finished would have resumed training the section set field by field."""
    journal = (
        Path(__file__).parent.parent / "fixtures" / "studies" / f"sections_replaced_{section}.journal.gz"
    )
    (tmp_path / "study.journal").write_bytes(gzip.decompress(journal.read_bytes()))
    (spec,) = load_specs(tmp_path)
    assert not spec.sections_by_field  # stored without it: the section replaced whole
    # a resume's call plans a new study's way; the stored plan holds (check_same_recipes refused it)
    storage = open_studies(dataclasses.replace(spec, sections_by_field=True), tmp_path, resume=True)
    for method in spec.methods:
        study_id = storage.get_study_id_from_name(spec.study_name(method))
        trials = [t for t in storage.get_all_trials(study_id) if "recipe" in t.user_attrs]
        assert len(trials) == 2  # the tuning trial and the seed rerun
        for trial in trials:
            recorded = Recipe.from_dict(trial.user_attrs["recipe"])
            assert trial_recipe(trial, spec, method).to_dict() == recorded.to_dict()
            assert trial_recipe(trial, spec, method).id == recorded.id


@pytest.mark.parametrize(
    ("journal", "call"),
    [
        ("recipe_section_replaced_data", {"recipe": {"data": {"val_fraction": 0.3}}, "epochs": 1}),
        ("recipe_sets_searched_lr", {"recipe": {"optimizer.lr": 0.05, "training.epochs": 1}}),
    ],
)
def test_a_user_comparison_stored_before_sections_by_field_resumes_given_its_call_again(
    tmp_path, journal, call
):
    """Journals an optimlab at bec13768 wrote (``optimlab.compare(["sgd"], **call, budget=1, seeds=1,
    out=...)``): a whole section in ``recipe=``, which replaced the section (data.scaling 'none', where a
    section now updates field by field: 'standardize'), and a ``recipe=`` lr that the default search space
    sets, refused since for a new comparison. The same call with ``resume=True`` and seeds=2 was refused
    ('its recipe would change', 'space sets optimizer.lr'), whatever it was given. Truth: the recipes the
    stored trials recorded; the new seed's trial trains the same recipe, its seed aside."""
    import optimlab

    path = Path(__file__).parent.parent / "fixtures" / "studies" / f"{journal}.journal.gz"
    (tmp_path / "study.journal").write_bytes(gzip.decompress(path.read_bytes()))
    (stored,) = load_specs(tmp_path)
    assert not stored.sections_by_field
    done = optimlab.compare(["sgd"], **call, budget=1, seeds=2, out=tmp_path, resume=True)
    records = done.results[0].records
    assert [r.seed for r in records] == [0, 1, 2]  # the stored tuning and seed trials, and the new seed
    without_seed = [{**r.recipe, "training": {**r.recipe["training"], "seed": None}} for r in records]
    assert without_seed[2] == without_seed[1] == without_seed[0]
    if journal == "recipe_section_replaced_data":
        assert records[2].recipe["data"]["scaling"] == "none"  # the section as it was replaced
