"""Studies end to end: storage readable by plain Optuna, failures recorded, SIGKILL + resume, workers."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import optuna
import pytest

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.recipe import Recipe, RecipeError
from optimlab.study import StudySpec, methods_from, run_study
from optimlab.study.backends import BackendOptions
from optimlab.study.protocols import Dimension, SearchSpace
from optimlab.study.run import counted
from optimlab.study.storage import JOURNAL_NAME, OWNER_ATTR, load_records, open_storage
from optimlab.workloads import get_workload

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tiny(name="t", optimizers=("adam",), epochs=1, **options):
    """The study of ``optimizers`` on digits; with ``seeds=0`` a study of tuning alone, as StudySpec took
    and stored it before a new plan's seeds were bounded below by 1 (it loads as it ran)."""
    spec = StudySpec.for_workload(
        name,
        get_workload("digits_mlp", epochs=epochs),
        methods_from("optimizer.name", list(optimizers)),
        **{**options, "seeds": options.get("seeds") or 1},
    )
    return StudySpec.from_dict({**spec.to_dict(), "seeds": 0}) if options.get("seeds") == 0 else spec


def plain_optuna(folder, name):
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL_NAME))
    )
    return optuna.load_study(study_name=name, storage=storage)


def finished(folder):
    """Finished trials of every study in ``folder`` so far (0 before the driver has created them)."""
    if not (folder / JOURNAL_NAME).exists():
        return 0
    storage = open_storage(folder)
    return sum(r.finished for r in load_records(storage, [s.study_name for s in storage.get_all_studies()]))


def test_trials_are_readable_through_plain_optuna(tmp_path):
    spec = tiny(budget=2, seeds=1)
    result = run_study(spec, tmp_path)
    study = plain_optuna(tmp_path, "t/adam")
    trials = study.get_trials()
    assert len(trials) == 3 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert [t.user_attrs["key"] for t in trials] == ["tune/0", "tune/1", "seeds/0"]
    first = trials[0]
    assert first.params == {"optimizer.lr": 1e-5} and study.user_attrs["optimlab.spec"]["name"] == "t"
    recipe = Recipe.from_dict(first.user_attrs["recipe"])
    assert recipe == spec.recipe.with_updates(
        {"optimizer.name": "adam", "optimizer.lr": 1e-5, "data.split_seed": 0}
    )
    assert first.user_attrs["recipe_id"] == recipe.id
    curve = first.user_attrs["curve"]
    assert curve["step"] == [34] and curve["val_accuracy"] == [first.value]  # one epoch of 34 steps
    assert first.intermediate_values == {34: first.value} and first.user_attrs["seconds"] > 0
    assert first.user_attrs["metrics"]["test_accuracy"] == result.records[0].metrics["test_accuracy"]
    assert (
        trials[2].user_attrs["seed"] == 1 and trials[2].params == trials[1].params
    )  # the best lr, a fresh seed


def test_a_diverging_or_broken_trial_is_recorded_and_the_study_goes_on(tmp_path):
    """A grid over momentum and Nesterov holds one point the optimizer refuses (Nesterov without
    momentum): since optimizers check their values together (479c96d3) the whole study was refused
    before any trial, the three valid points with it. Now that point's trial fails alone, recorded, as
    the diverging one does, and the study goes on."""
    space = SearchSpace(
        (
            Dimension("optimizer.lr", choices=(1e6, 0.05)),
            Dimension("optimizer.options.momentum", choices=(0.0, 0.9)),
            Dimension("optimizer.options.nesterov", choices=(False, True)),
        )
    )
    result = run_study(tiny(optimizers=("sgd",), space=space, budget=8, seeds=1), tmp_path)
    by_config = {tuple(r.params.values()): r for r in result.records if r.phase == "tune"}
    diverged = by_config[(1e6, 0.0, False)]
    assert diverged.state == "fail" and diverged.status == "diverged" and "diverged" in diverged.message
    broken = by_config[(0.05, 0.0, True)]  # Nesterov without momentum: the optimizer refuses it
    assert broken.state == "fail" and broken.status == "error" and "nesterov" in broken.message
    good = by_config[(0.05, 0.0, False)]
    assert good.state == "complete" and good.value > 0.5
    seeds = [r for r in result.records if r.phase == "seeds"]
    best = max((r for r in by_config.values() if r.state == "complete"), key=lambda r: r.value)
    assert len(seeds) == 1 and seeds[0].state == "complete" and seeds[0].params == best.params


def test_a_value_no_point_of_the_space_accepts_is_refused_before_any_trial():
    """Values refused only together leave their trials to fail (above); one refused at every point of
    the space (Nesterov where momentum stays 0) still stops the study before any trial, named."""
    space = SearchSpace((Dimension("optimizer.options.nesterov", choices=(False, True)),))
    with pytest.raises(RecipeError, match="(?s)does not fit sgd: .*nesterov"):
        tiny(optimizers=("sgd",), space=space)


def test_an_existing_study_is_resumed_only_when_asked_and_only_unchanged(tmp_path):
    spec = tiny(budget=1, seeds=0)
    run_study(spec, tmp_path)
    with pytest.raises(OptimlabError, match="already holds study 't'.*--resume"):
        run_study(spec, tmp_path)
    with pytest.raises(OptimlabError, match=re.escape("budget (--budget): stored 1, given 2")):
        run_study(tiny(budget=2, seeds=0), tmp_path, resume=True)
    assert len(run_study(spec, tmp_path, resume=True).records) == 1  # nothing left to run
    with pytest.raises(OptimlabError, match="nothing to resume"):
        run_study(spec, tmp_path / "empty", resume=True)


def test_a_study_without_its_spec_is_taken_over_by_a_resume_alone_and_a_foreign_one_never(tmp_path):
    """Creating a study is the claim that refuses a second comparison started at once on its storage
    (test_cli: ..._on_one_storage_run_one_and_refuse_the_other). A study found without its spec was taken
    over after 10 s: a live comparison stalled that long between the two (30 s, on SQLite) then ran into
    the same study as the one that took it, and a plain Optuna study of that name, trials and all, was
    taken too. Now a fresh start refuses a study without settings, naming it; resume=True takes it over
    where it holds nothing (left by a comparison killed as it began); one holding trials is refused
    either way and left as it was. Truth: the Optuna studies read back."""
    from optimlab.study.run import open_studies
    from optimlab.study.storage import SPEC_ATTR

    spec = tiny(optimizers=("sgd", "adam"))
    orphan, foreign = tmp_path / "orphan", tmp_path / "foreign"
    optuna.create_study(storage=open_storage(orphan), study_name="t/adam")  # killed before its spec
    with pytest.raises(OptimlabError, match="holds study 't/adam' with no settings stored: .*resume=True"):
        open_studies(spec, orphan)
    open_studies(spec, orphan, resume=True)
    stored = {s.study_name: s.user_attrs[SPEC_ATTR] for s in open_storage(orphan).get_all_studies()}
    assert stored == {"t/adam": spec.to_dict(), "t/sgd": spec.to_dict()}

    plain = optuna.create_study(storage=open_storage(foreign), study_name="t/adam")
    plain.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    for resume in (False, True):
        with pytest.raises(
            OptimlabError, match="holds a study 't/adam' that optimlab did not make \\(2 trials"
        ):
            open_studies(spec, foreign, resume=resume)
    (kept,) = open_storage(foreign).get_all_studies()
    assert kept.user_attrs == {} and len(plain.trials) == 2


def test_a_fresh_start_on_a_stored_study_gives_the_command_that_resumes_it(tmp_path):
    """The refusal said 'pass resume=True (--resume)': Python's words on the command line. Truth: the CLI's
    --resume FOLDER (a shared storage's, --resume OUT --storage URL --name: test_cli's race)."""
    from optimlab.study.run import open_studies

    open_studies(tiny(), tmp_path)
    command = f"optimlab compare --resume {tmp_path}"
    with pytest.raises(OptimlabError, match=re.escape(f"resume it with `{command}` (resume=True in Python)")):
        open_studies(tiny(), tmp_path)


def test_two_comparisons_of_one_name_in_two_orders_leave_one_whole_study(tmp_path, monkeypatch):
    """The claim was per method study: A (sgd,adam) created t/sgd, B (adam,sgd) then t/adam, and each,
    meeting the other's, was refused (B counting its own t/adam as another's claim): the storage held
    half of each, and neither a fresh start nor a resume ran. Now every comparison creates its studies in
    one order, so the first creation decides: B, started just after A's first creation, is refused and A
    holds both. Truth: the studies read back, each with A's spec."""
    from optimlab.study.run import open_studies
    from optimlab.study.storage import SPEC_ATTR

    a, b = tiny(optimizers=("sgd", "adam")), tiny(optimizers=("adam", "sgd"))
    refused, create = [], optuna.create_study

    def then_b(**options):
        study = create(**options)
        if not refused:
            with pytest.raises(OptimlabError) as error:
                open_studies(b, tmp_path)
            refused.append(str(error.value))
        return study

    monkeypatch.setattr(optuna, "create_study", then_b)
    open_studies(a, tmp_path)
    assert "holds study 't/adam' with no settings stored: a comparison is creating it now" in refused[0]
    stored = {s.study_name: s.user_attrs[SPEC_ATTR] for s in open_storage(tmp_path).get_all_studies()}
    assert stored == {"t/adam": a.to_dict(), "t/sgd": a.to_dict()}


def test_a_study_resumed_with_more_seeds_keeps_its_reruns_and_adds_the_next_fresh_seeds(tmp_path):
    """Resumed with more seeds, a study was refused ('its seeds differ'): three seeds too few to rank two
    methods meant running it all again. Now its tuning and reruns are kept, the new reruns run on the
    next fresh seeds, and it ends with the trials of a study planned with that many seeds; fewer seeds,
    which would drop results, are refused."""
    run_study(tiny(optimizers=("sgd", "adam"), budget=2, seeds=1), tmp_path / "grown")
    storage = open_storage(tmp_path / "grown")
    first = {(r.study, r.key): r.number for r in load_records(storage, ["t/sgd", "t/adam"])}
    grown = run_study(tiny(optimizers=("sgd", "adam"), budget=2, seeds=3), tmp_path / "grown", resume=True)
    planned = run_study(tiny(optimizers=("sgd", "adam"), budget=2, seeds=3), tmp_path / "planned")

    def outcome(records):
        return sorted((r.study, r.key, r.seed, r.params["optimizer.lr"], r.value) for r in records)

    assert outcome(grown.records) == outcome(planned.records)
    assert sorted(r.seed for r in grown.records if r.phase == "seeds" and r.method == "adam") == [1, 2, 3]
    kept = {(r.study, r.key): r.number for r in grown.records if (r.study, r.key) in first}
    assert kept == first  # the trials run before, not run again
    with pytest.raises(OptimlabError, match=r"2 for seeds \(--seeds\): accepted at least the 3 of study 't'"):
        run_study(tiny(optimizers=("sgd", "adam"), budget=2, seeds=2), tmp_path / "grown", resume=True)


def test_a_study_being_extended_is_not_done_until_its_new_seeds_ran(tmp_path):
    """Its studies stayed marked done: a kill while the new seeds ran left a study that progress called
    ended (not resumable) and that waiting workers had stopped polling."""
    from optimlab.study.run import open_studies, progress

    run_study(tiny(budget=1, seeds=1), tmp_path)
    assert progress(tiny(budget=1, seeds=1), open_storage(tmp_path)).ended
    more = tiny(budget=1, seeds=2)
    now = progress(more, open_studies(more, tmp_path, resume=True))
    assert not now.ended and now.interrupted and now.count() == (2, 3)


def test_a_study_killed_mid_way_resumes_to_the_uninterrupted_set_of_trials(tmp_path, forked_parents):
    spec = tiny(optimizers=("sgd", "adam"), epochs=3, budget=3, seeds=2)
    killed, pid, output = tmp_path / "killed", tmp_path / "study.pid", tmp_path / "study-output"
    script = (
        "import json, os, pathlib, sys; from optimlab.study import StudySpec, run_study; "
        "pathlib.Path(sys.argv[3]).write_text(str(os.getpid())); "
        "run_study(StudySpec.from_dict(json.loads(sys.argv[1])), sys.argv[2])"
    )
    output.mkdir()
    with ThreadPoolExecutor(1) as pool:  # the study in a process of its own, forked by the parent
        args = [json.dumps(spec.to_dict()), str(killed), str(pid)]
        process = pool.submit(forked_parents().run, args, tmp_path, ENV, output, 300, script)
        deadline = time.monotonic() + 120
        while finished(killed) < 3:
            assert not process.done(), process.result()[2]
            assert time.monotonic() < deadline, "the study made no progress"
            time.sleep(0.02)
        os.kill(int(pid.read_text()), signal.SIGKILL)
        process.result()

    resumed = run_study(spec, killed, resume=True)
    reference = run_study(spec, tmp_path / "uninterrupted")

    def outcome(records):
        return {(r.study, r.key): (r.params, r.seed, r.value, r.metrics) for r in records}

    assert len(reference.records) == 2 * (3 + 2)
    assert outcome(resumed.records) == outcome(reference.records)
    raw = load_records(open_storage(killed), ["t/sgd", "t/adam"])
    assert len(counted(raw)) == sum(r.finished for r in raw)  # no key finished twice
    assert all(r.status == "interrupted" for r in raw if not r.finished)  # at most the trial the kill hit


def test_a_key_two_drivers_planned_at_once_trains_once(tmp_path, monkeypatch):
    """Two drivers on one study (two 'compare --resume' of one folder) each enqueued the keys they found
    missing, both before either wrote: every such key trained twice."""
    import optimlab.study.run
    from optimlab.study.protocols import TUNE
    from optimlab.study.run import open_studies

    spec = tiny(budget=2, seeds=1)
    storage = open_studies(spec, tmp_path)
    optimlab.study.run._enqueue_missing(storage, spec, TUNE, Counter())
    with monkeypatch.context() as patched:  # the second driver read the storage before the first wrote
        patched.setattr(optimlab.study.run, "load_records", lambda storage, names: [])
        optimlab.study.run._enqueue_missing(storage, spec, TUNE, Counter())
    result = run_study(spec, tmp_path, resume=True)
    raw = load_records(open_storage(tmp_path), ["t/adam"])
    assert sorted((r.key, r.status) for r in raw) == [
        ("seeds/0", "completed"),
        ("tune/0", "completed"),
        ("tune/0", "duplicate"),
        ("tune/1", "completed"),
        ("tune/1", "duplicate"),
    ]
    assert len(result.records) == 3 == sum(r.finished for r in raw)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda spec: spec.pop("recipe", None), "a study spec needs the key 'recipe'"),
        (lambda spec: spec.update(colour=1), "not a study spec: .*unexpected keyword argument 'colour'"),
        (lambda spec: spec.update(methods=[1]), "not a study spec: 'int' object is not subscriptable"),
        (lambda spec: spec.update(budget="x"), "invalid value 'x' for budget"),
    ],
    ids=["key_deleted", "key_unknown", "methods_not_methods", "budget_not_a_number"],
)
def test_a_stored_spec_edited_by_hand_is_refused_in_one_line(cli, tmp_path, edit, problem):
    """A study whose stored spec lost or gained a key ended 'compare --resume' (and worker, report) in a
    traceback (KeyError: 'recipe', TypeError)."""
    run_study(tiny(budget=1, seeds=0), tmp_path)
    journal = tmp_path / JOURNAL_NAME
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    for record in records:
        edit(record.get("user_attr", {}).get("optimlab.spec", {}))
    journal.write_text("".join(json.dumps(record) + "\n" for record in records))
    code, out, err = cli("compare", "--resume", str(tmp_path))
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert re.match(f"error: the stored study 't' cannot be read: {problem}", err), err


def test_a_study_whose_optimizer_was_renamed_since_is_refused_naming_the_study_in_one_line(cli, tmp_path):
    """The stored study named an optimizer class by a path that no longer imports (renamed in the user's
    code since): the refusal named the Optuna study of another method, 't/adam' (the last one read), not
    the study 't' whose method 'torch.optim:SGDOld' is gone. Truth: the study as stored, two methods, the
    renamed one second-to-last in the journal; its name and the missing class, with torch's own name
    offered, in one line."""
    run_study(tiny(optimizers=("torch.optim:SGD", "adam"), budget=1, seeds=0), tmp_path)
    journal = tmp_path / JOURNAL_NAME
    journal.write_text(journal.read_text().replace("torch.optim:SGD", "torch.optim:SGDOld"))
    code, out, err = cli("compare", "--resume", str(tmp_path))
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith(
        "error: the stored study 't' cannot be read: invalid recipe: optimizer.name: 'torch.optim' has no "
        "'SGDOld' for optimizer 'torch.optim:SGDOld' (did you mean 'SGD'"
    ), err


def test_a_study_whose_default_lr_range_moved_since_resumes_over_its_stored_range(tmp_path):
    """Without a space, each optimizer's lr range is measured on it when the study is planned
    (lr_range: its default lr x 100 either way); an optimizer whose default lr changed in its code since
    (the user's class, or optimlab's) resumed tuning over another range, its new trials beside the old
    ones as one grid, and the stored range (SPACE_ATTR, 'as its study started') was overwritten (6d8e775
    then refused the resume). The study continues over the range it started with. Truth: the 2-point
    log grid of the stored range, 1e-4 and 1 (adam's now: 1e-5 and 0.1), the range kept; more seeds then
    extend it."""
    from optimlab.study.run import open_studies
    from optimlab.study.storage import SPACE_ATTR

    spec = tiny(budget=2, seeds=0)
    open_studies(spec, tmp_path)
    storage = open_storage(tmp_path)
    study_id = storage.get_study_id_from_name("t/adam")
    ran = {"optimizer.lr": {"low": 0.0001, "high": 1.0, "log": True, "integer": False}}
    storage.set_study_user_attr(study_id, SPACE_ATTR, ran)  # as when adam's default lr was 1e-2
    run_study(spec, tmp_path, resume=True)
    records = load_records(open_storage(tmp_path), ["t/adam"])
    assert sorted((r.key, r.params["optimizer.lr"]) for r in records) == [("tune/0", 1e-4), ("tune/1", 1.0)]
    run_study(dataclasses.replace(spec, seeds=1), tmp_path, resume=True)
    records = load_records(open_storage(tmp_path), ["t/adam"])
    assert sorted(r.key for r in records) == ["seeds/0", "tune/0", "tune/1"]
    assert open_storage(tmp_path).get_study_user_attrs(study_id)[SPACE_ATTR] == ran


def test_a_key_whose_process_dies_in_this_run_is_given_up_with_a_warning(tmp_path, monkeypatch):
    """A key given up after its processes died (out of memory?) left the results without it, and the run
    ended as if complete, without a word."""
    import socket

    import optimlab.study.backends.local
    import optimlab.study.run
    from optimlab.errors import OptimlabWarning

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    real = optimlab.study.backends.local.run_trial

    def dies(study, trial, spec, method):  # as a worker killed in the trial: its claim names a dead pid
        if trial.user_attrs["key"] != "tune/0":
            return real(study, trial, spec, method)
        owner = {"host": socket.gethostname(), "pid": gone.pid, "beat": time.time()}
        open_storage(tmp_path).set_trial_system_attr(trial._trial_id, OWNER_ATTR, owner)

    monkeypatch.setattr(optimlab.study.backends.local, "run_trial", dies)
    monkeypatch.setattr(optimlab.study.run, "MAX_INTERRUPTIONS", 1)
    with pytest.warns(OptimlabWarning, match=r"given up, .* died 1 times in this run .*: t/adam tune/0;"):
        result = run_study(tiny(budget=2, seeds=1), tmp_path)
    assert sorted(r.key for r in result.records) == ["seeds/0", "tune/1"]


def test_four_workers_on_one_journal_finish_forty_trials_exactly(tmp_path):
    spec = tiny(
        budget=40, seeds=0, space=SearchSpace((Dimension("optimizer.lr", low=1e-4, high=1e-2, log=True),))
    )
    result = run_study(spec, tmp_path, backend="workers", options=BackendOptions(workers=4))
    trials = plain_optuna(tmp_path, "t/adam").get_trials()
    assert len(trials) == 40 and len(result.records) == 40
    assert sorted(t.user_attrs["key"] for t in trials) == sorted(f"tune/{i}" for i in range(40))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert len({t.params["optimizer.lr"] for t in trials}) == 40


def test_a_hopeless_trial_is_pruned_by_the_median_rule(tmp_path):
    space = SearchSpace((Dimension("optimizer.lr", choices=(0.05, 0.1, 0.2, 1e-6)),))
    result = run_study(
        tiny(optimizers=("sgd",), epochs=2, space=space, budget=4, seeds=0, pruner="median"), tmp_path
    )
    *kept, hopeless = result.records
    assert all(r.state == "complete" and r.steps == 68 for r in kept)
    assert hopeless.state == "pruned" and hopeless.status == "pruned" and hopeless.steps == 34
    assert hopeless.message.startswith("pruned at step 34") and hopeless.curve["step"] == [34]


def test_a_pruner_with_the_batched_backend_is_refused_before_any_trial(tmp_path):
    """The batched backend trains its trials together to the end: --pruner median was silently ignored
    (the hopeless trial that the local backend pruned at step 34 completed), and nothing said so."""
    spec = tiny(optimizers=("sgd",), budget=2, seeds=0, pruner="median")
    with pytest.raises(
        InvalidValueError, match=r"'median' for pruner \(--pruner\): accepted none with the batched"
    ):
        run_study(spec, tmp_path, backend="batched")
    assert not (tmp_path / JOURNAL_NAME).exists()


def test_the_pruner_stops_tuning_trials_but_never_a_seed_rerun(tmp_path, monkeypatch):
    """A seed rerun below the median of the tuning trials at some step was pruned: the best configuration
    of RMSprop, pruned on both of its seeds, had no result and ranked last. The pruner here finds every
    trial after the first hopeless."""
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: self.number > 0)
    space = SearchSpace((Dimension("optimizer.lr", choices=(0.1, 0.05)),))
    result = run_study(tiny(optimizers=("sgd",), space=space, budget=2, seeds=2, pruner="median"), tmp_path)
    states = {r.key: r.state for r in result.records}
    assert states == {"tune/0": "complete", "tune/1": "pruned", "seeds/0": "complete", "seeds/1": "complete"}


@pytest.mark.parametrize("protocol", ["random", "tpe"])
def test_sampled_protocols_run_their_budget_within_the_space(tmp_path, protocol):
    space = SearchSpace(
        (
            Dimension("optimizer.lr", low=1e-3, high=1e-1, log=True),
            Dimension("model.activation", choices=("relu", "tanh")),
        )
    )
    result = run_study(tiny(space=space, protocol=protocol, budget=4, seeds=1), tmp_path)
    tune = [r for r in result.records if r.phase == "tune"]
    assert len(tune) == 4 and len({r.params["optimizer.lr"] for r in tune}) == 4
    assert all(
        1e-3 <= r.params["optimizer.lr"] <= 1e-1
        and r.recipe["model"]["activation"] == r.params["model.activation"]
        for r in tune
    )
    best = max(tune, key=lambda r: r.value)
    (seed,) = [r for r in result.records if r.phase == "seeds"]
    assert seed.params == best.params and seed.seed == 1


def test_a_killed_worker_leaves_no_trial_running_and_its_key_runs_again(tmp_path):
    spec = tiny(epochs=4, budget=4, seeds=0)
    done = {}
    driver = threading.Thread(
        target=lambda: done.update(
            result=run_study(spec, tmp_path, backend="workers", options=BackendOptions(workers=1))
        )
    )
    driver.start()
    storage, deadline, victim = None, time.monotonic() + 120, None
    while victim is None:
        assert time.monotonic() < deadline and driver.is_alive(), "no worker ever ran a trial"
        if (tmp_path / JOURNAL_NAME).exists() and finished(tmp_path) >= 1:
            storage = storage or open_storage(tmp_path)
            running = [
                t
                for t in storage.get_all_trials(storage.get_study_id_from_name("t/adam"))
                if t.state == optuna.trial.TrialState.RUNNING and OWNER_ATTR in t.system_attrs
            ]
            victim = running[0].system_attrs[OWNER_ATTR]["pid"] if running else None
        time.sleep(0.01)
    os.kill(victim, signal.SIGKILL)
    driver.join(timeout=120)
    records = load_records(open_storage(tmp_path), ["t/adam"])
    assert sorted(r.key for r in done["result"].records) == [f"tune/{i}" for i in range(4)]
    assert all(r.state == "complete" for r in done["result"].records)
    # The kill almost always hits a trial (a few ms between trials against 0.3 s in one): at most that
    # one is interrupted, and nothing is left running.
    assert [r.status for r in records if not r.finished] in (["interrupted"], [])
    assert not any(r.state == "running" for r in records)


def test_a_worker_asked_for_a_method_no_study_has_names_the_methods_there(tmp_path):
    """It said "no optimlab study at ... to work on", though the study was there."""
    from optimlab.study import work

    run_study(tiny(optimizers=("sgd", "adam"), budget=1, seeds=0), tmp_path)
    with pytest.raises(
        OptimlabError,
        match="invalid value 'adamm' for methods .--methods.: accepted methods of the studies there: adam, sgd",
    ):
        work(tmp_path, methods=["adam", "adamm"])
    assert work(tmp_path, methods=["adam"]) == 0  # known, and nothing left waiting


def test_a_worker_asked_for_a_study_not_there_names_the_studies_there(tmp_path):
    """`optimlab worker FOLDER --name zzz` said "no optimlab study 'zzz' at FOLDER to work on", naming
    neither the flag nor the studies it holds (a typo of the study's name looked like an empty folder)."""
    from optimlab.study import work

    run_study(tiny(optimizers=("sgd",), budget=1, seeds=0), tmp_path)
    with pytest.raises(InvalidValueError, match=r"'zzz' for name \(--name\): accepted a study there: 't'"):
        work(tmp_path, name="zzz")
    assert work(tmp_path, name="t") == 0


@pytest.mark.parametrize(
    "metrics, said",
    [
        ({"val_accuracy": float("nan"), "val_loss": 0.5}, "no finite 'val_accuracy' at the end (it was nan)"),
        ({"val_loss": 0.5}, "no finite 'val_accuracy' at the end (measured: val_loss)"),
    ],
)
def test_a_trial_without_a_finite_tuned_metric_says_which_it_lacked(metrics, said):
    """A metric of the user's that gave NaN read 'no finite 'val_f1' at the end (got [..., 'val_f1'])':
    the list named the very metric it said was missing."""
    from optimlab.study.trial import record_outcome

    spec = StudySpec.for_workload("t", get_workload("digits_mlp"), methods_from("optimizer.name", ["sgd"]))
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    record_outcome(
        study, trial, spec, recipe=None, status="completed", message=None, metrics=metrics, steps=1,
        seconds=0.1, curve={},
    )  # fmt: skip
    (frozen,) = study.get_trials()
    assert frozen.user_attrs["status"] == "error" and frozen.user_attrs["message"] == said


def test_a_study_name_not_in_the_storage_is_refused_naming_those_it_holds(tmp_path):
    """`compare --resume runs/x --name nope` said "no optimlab study 'nope' at 'runs/x'", not the flag nor
    the names the storage holds."""
    from optimlab.study.run import load_specs, open_studies

    workload, methods = get_workload("digits_mlp", epochs=1), methods_from("optimizer.name", ["sgd"])
    for name in ("week-1", "week-2"):  # stored, not run
        open_studies(StudySpec.for_workload(name, workload, methods, budget=1, seeds=1), tmp_path)
    with pytest.raises(
        OptimlabError,
        match=r"^no optimlab study 'week' at '.*' \(--name, name=\): it holds 'week-1', 'week-2'$",
    ):
        load_specs(tmp_path, "week")
    assert [spec.name for spec in load_specs(tmp_path, "week-2")] == ["week-2"]


def test_workers_past_the_waiting_trials_are_not_started(tmp_path, monkeypatch):
    """--workers 10**8 started a process (and a log file) per worker, however few trials waited, and
    ended in 'Too many open files'; one per waiting trial is all that can work."""
    import optimlab.study.backends.workers as workers

    started, popen = [], subprocess.Popen

    def counted(*args, **kwargs):
        started.append(args)
        return popen(*args, **kwargs)

    monkeypatch.setattr(workers.subprocess, "Popen", counted)
    spec = tiny(
        budget=2, seeds=0, space=SearchSpace((Dimension("optimizer.lr", low=1e-4, high=1e-2, log=True),))
    )
    result = run_study(spec, tmp_path, backend="workers", options=BackendOptions(workers=10**8))
    assert len(started) == 2 and sorted(r.key for r in result.records) == ["tune/0", "tune/1"]


def test_a_study_stored_with_a_choice_given_twice_still_loads_resumes_and_reports(cli, tmp_path):
    """660e419 refused a choice given twice in Dimension itself, so a study run before it with --space
    optimizer.lr=0.1,0.1,0.01 could no longer be read: compare --resume and report ended in 'the stored
    study ... cannot be read: invalid value (0.1, 0.1, 0.01) for choices'. The check is where a user's space
    is read (flags, file, compare's space=); a stored spec loads as it ran. Truth: the study as stored."""
    space = SearchSpace((Dimension("optimizer.lr", choices=(0.1, 0.1, 0.01)),))  # as stored before 660e419
    with pytest.raises(InvalidValueError, match=r"distinct values \(0.1 is given twice\)"):
        tiny(budget=3, seeds=0, space=space)  # a new study of it: refused where it is planned
    spec = dataclasses.replace(tiny(budget=3, seeds=0), space=space)  # the spec planned before the check
    run_study(spec, tmp_path)
    loaded = json.loads(json.dumps(spec.to_dict()))
    assert StudySpec.from_dict(loaded).space.dimensions[0].choices == (0.1, 0.1, 0.01)
    code, _, err = cli("compare", "--resume", str(tmp_path))
    assert code == 0 and "cannot be read" not in err, err
    code, _, err = cli("report", str(tmp_path), "--out", str(tmp_path / "r.html"))
    assert code == 0 and (tmp_path / "r.html").exists(), err
    with pytest.raises(InvalidValueError, match=r"distinct values \(0.1 is given twice\)"):
        SearchSpace.from_flags(["optimizer.lr=0.1,0.1,0.01"])


def test_a_random_study_stored_before_distinct_draws_resumes_with_its_own_draws(tmp_path):
    """d23a05d draws again a random draw that repeats an earlier one, which changed the plan of every
    study: one stored before it, resumed, re-planned its keys not yet run over new draws (tune/3..7 here),
    beside trials of the old ones. A study stored without ``distinct`` plans as it did. Truth: the 8
    independent draws the planner before d23a05d made of this space at sampler seed 0, listed."""
    from optimlab.study.run import open_studies
    from optimlab.study.storage import SPEC_ATTR

    space = SearchSpace(
        (
            Dimension("optimizer.weight_decay", choices=(0.0, 1e-4, 1e-3)),
            Dimension("training.batch_size", choices=(32, 64, 128)),
        )
    )
    spec = tiny(optimizers=("sgd",), protocol="random", budget=8, seeds=0, space=space)
    open_studies(spec, tmp_path)
    study = plain_optuna(tmp_path, "t/sgd")
    study.set_user_attr(SPEC_ATTR, {k: v for k, v in study.user_attrs[SPEC_ATTR].items() if k != "distinct"})
    run_study(spec, tmp_path, resume=True)
    old = [(1e-4, 64), (0.0, 64), (1e-3, 64), (1e-4, 64), (1e-4, 64), (1e-3, 32), (1e-3, 32), (1e-4, 32)]
    trials = sorted(plain_optuna(tmp_path, "t/sgd").get_trials(), key=lambda t: int(t.user_attrs["key"][5:]))
    assert [t.user_attrs["key"] for t in trials] == [f"tune/{i}" for i in range(8)]
    assert [(t.params["optimizer.weight_decay"], t.params["training.batch_size"]) for t in trials] == old
    assert not plain_optuna(tmp_path, "t/sgd").user_attrs[SPEC_ATTR].get("distinct", False)  # kept old


def test_a_study_stored_before_fixed_splits_resumes_splitting_each_rerun_by_its_seed(tmp_path):
    """A study stored before every trial split at the tuning seed (its spec without ``fixed_split``, its
    recipes without data.split_seed) resumes as it ran: the same keys and numbers, a new seed rerun split
    by its own seed, and its page says its reruns' test rows may hold tuning validation rows. Truth: that
    rerun's test accuracy is the one its recipe as stored before trains to at seed 2, run by hand."""
    from optimlab.recipe import Recipe
    from optimlab.study.report import split_note
    from optimlab.study.storage import SPEC_ATTR
    from optimlab.train.run import train

    before = run_study(tiny(budget=1, seeds=1, fixed_split=False), tmp_path)
    study = plain_optuna(tmp_path, "t/adam")
    study.set_user_attr(
        SPEC_ATTR, {k: v for k, v in study.user_attrs[SPEC_ATTR].items() if k != "fixed_split"}
    )
    assert all("split_seed" not in t.user_attrs["recipe"]["data"] for t in study.get_trials())  # as stored
    resumed = run_study(tiny(budget=1, seeds=2), tmp_path, resume=True)
    assert not resumed.spec.fixed_split
    kept = {r.key: (r.number, r.seed, r.value, r.metrics) for r in before.records}
    now = {r.key: (r.number, r.seed, r.value, r.metrics) for r in resumed.records}
    assert sorted(now) == ["seeds/0", "seeds/1", "tune/0"] and {k: now[k] for k in kept} == kept
    rerun = next(r for r in resumed.records if r.key == "seeds/1")
    assert rerun.seed == 2 and "split_seed" not in rerun.recipe["data"]
    by_hand = Recipe.from_dict(before.records[0].recipe).with_updates({"training.seed": 2})
    assert rerun.metrics["test_accuracy"] == train(by_hand).metrics["test_accuracy"]
    assert "were validation rows at the tuning seed" in split_note(resumed.spec)
    assert "Every trial splits the data at the tuning seed (0)" in split_note(tiny())


def test_tpe_on_a_finite_space_larger_than_its_budget_never_tries_a_configuration_twice(
    tmp_path, monkeypatch
):
    """TPE may draw a tried configuration again: over 4 lrs x 3 activations (12 configurations) with a
    budget of 10, plain TPE (``distinct`` False) tried some configuration twice on every one of 10 sampler
    seeds (6 to 8 distinct of 10). With ``distinct`` (the default) no two tuning trials share one while
    untried ones remain. Training is replaced by a smooth function of the configuration (its best at lr
    1e-2, tanh), which TPE concentrates its draws on."""
    import math

    import optimlab.train.run
    from optimlab.train.run import TrainResult

    def scored(recipe, callbacks=()):
        value = -abs(math.log10(recipe.optimizer.lr) + 2) + 0.1 * (recipe.model.activation == "tanh")
        metrics = {"val_accuracy": value, "test_accuracy": value}
        return TrainResult(recipe.id, "completed", None, 1, 0.0, metrics, None)

    monkeypatch.setattr(optimlab.train.run, "train", scored)
    space = SearchSpace(
        (
            Dimension("optimizer.lr", choices=(1e-4, 1e-3, 1e-2, 1e-1)),
            Dimension("model.activation", choices=("relu", "tanh", "gelu")),
        )
    )
    for seed in range(10):
        spec = tiny(optimizers=("sgd",), space=space, protocol="tpe", budget=10, seeds=0, sampler_seed=seed)
        result = run_study(spec, tmp_path / str(seed))
        tried = [tuple(r.params.values()) for r in result.records]
        assert len(tried) == 10 and len(set(tried)) == 10, (seed, tried)
        assert all(r.recipe["model"]["activation"] == r.params["model.activation"] for r in result.records)


def test_distinct_tpe_draws_what_plain_tpe_draws_where_plain_tpe_repeats_nothing(tmp_path, monkeypatch):
    """Optuna's TPESampler draws one-objective configurations jointly (multivariate TPE, Falkner et al.
    2018, on by default since Optuna 5). The distinct wrapper keeps those draws: where plain TPE
    (``distinct`` False) tried no configuration twice, the distinct study holds exactly its parameters,
    so a TPE study stored before resumes with the draws it had."""
    import math

    import optimlab.train.run
    from optimlab.train.run import TrainResult

    def scored(recipe, callbacks=()):
        value = -abs(math.log10(recipe.optimizer.lr) + 2) + 0.1 * (recipe.model.activation == "tanh")
        value += recipe.training.batch_size / 1000
        metrics = {"val_accuracy": value, "test_accuracy": value}
        return TrainResult(recipe.id, "completed", None, 1, 0.0, metrics, None)

    monkeypatch.setattr(optimlab.train.run, "train", scored)
    space = SearchSpace(
        (
            Dimension("optimizer.lr", choices=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)),
            Dimension("model.activation", choices=("relu", "tanh", "gelu")),
            Dimension("training.batch_size", low=16, high=128, integer=True),
        )
    )
    for seed in range(3):
        params = {}
        for distinct in (False, True):
            spec = tiny(
                optimizers=("sgd",), space=space, protocol="tpe", budget=9, seeds=0, sampler_seed=seed,
                distinct=distinct,
            )  # fmt: skip
            records = run_study(spec, tmp_path / f"{seed}-{distinct}").records
            params[distinct] = [r.params for r in records]
        assert len({tuple(p.values()) for p in params[False]}) == 9, (seed, params[False])  # no repeat
        assert params[True] == params[False], seed


def test_distinct_tpe_takes_an_interrupted_trials_configuration_as_untried():
    """An interrupted trial does not count (:data:`UNCOUNTED`): its configuration is still untried, so the
    next trial asked of the same sampler (a batched round asks several) is TPE's own draw, as plain TPE
    draws it, even where that draw is the interrupted one's configuration."""
    from optuna.trial import TrialState

    from optimlab.study.storage import INTERRUPTED
    from optimlab.study.trial import DistinctTPESampler

    space = SearchSpace((Dimension("optimizer.lr", choices=(1e-3, 1e-2)),))

    def draws(distinct, seed):
        tpe = optuna.samplers.TPESampler(seed=seed, n_startup_trials=10)
        study = optuna.create_study(sampler=DistinctTPESampler(tpe, space, seed) if distinct else tpe)
        first = study.ask()
        space.suggest(first)
        first.set_user_attr("status", INTERRUPTED)
        study.tell(first, state=TrialState.FAIL)
        second = study.ask()
        return [first.params, space.suggest(second)]

    plain = {seed: draws(False, seed) for seed in range(8)}
    assert any(p[0]["optimizer.lr"] == p[1]["optimizer.lr"] for p in plain.values())  # a repeat drawn
    assert {seed: draws(True, seed) for seed in range(8)} == plain


@pytest.mark.parametrize("taker_comes", ["after_the_creation", "after_the_claim"])
def test_a_take_over_racing_a_live_comparison_leaves_one_of_them_holding_every_study(
    tmp_path, monkeypatch, taker_comes
):
    """A resume meeting a study without settings took it over, though a live comparison had just created
    it: the creator went on into its next study, found the taker's and deleted the one the taker held
    (the storage kept t/sgd alone). Now every comparison records its claim on a study it creates or takes
    over, and goes on only where no other live one claims it. Truth: the studies read back, each whole
    with the settings of the one comparison not refused."""
    from optimlab.study import run
    from optimlab.study.storage import SPEC_ATTR, live_claims

    creator, taker = tiny(optimizers=("sgd", "adam")), tiny(optimizers=("sgd", "adam"), seeds=1)
    refused, began, create, claim = [], [], optuna.create_study, run.claim_study

    def take_over():
        if not began:  # once, on the creator's first study (t/adam)
            began.append(taker)
            try:
                run.open_studies(taker, tmp_path, resume=True)
            except OptimlabError as error:
                refused.append(str(error))

    def created_then_taken(**options):
        study = create(**options)
        if taker_comes == "after_the_creation":
            take_over()
        return study

    def claimed_then_taken(*args):
        claimed = claim(*args)
        if taker_comes == "after_the_claim":
            take_over()
        return claimed

    monkeypatch.setattr(optuna, "create_study", created_then_taken)
    monkeypatch.setattr(run, "claim_study", claimed_then_taken)
    try:
        run.open_studies(creator, tmp_path)
        winner = creator
    except OptimlabError as error:
        refused.append(str(error))
        winner = taker
    stored = {s.study_name: s.user_attrs.get(SPEC_ATTR) for s in open_storage(tmp_path).get_all_studies()}
    assert stored == {"t/adam": winner.to_dict(), "t/sgd": winner.to_dict()}
    assert len(refused) == 1 and "claimed by another comparison" in refused[0], refused
    storage = open_storage(tmp_path)  # the refused one's claim withdrawn: it may try again, in this process
    assert len(live_claims(storage, storage.get_study_id_from_name("t/adam"))) == 1


def test_a_study_claimed_by_a_live_comparison_is_not_taken_over_and_one_claimed_by_a_dead_one_is(tmp_path):
    """A study without settings whose claimant lives (here: this process's parent, another process of
    this host) is refused to a resume, naming the claimant; one whose claimant's process is gone (a
    comparison killed as it began) is taken over. Truth: the claims' processes, and the studies read back."""
    import socket

    from optimlab.study.run import open_studies
    from optimlab.study.storage import CLAIM_PREFIX, SPEC_ATTR, _process_start

    spec = tiny()
    live, dead = open_storage(tmp_path / "live"), open_storage(tmp_path / "dead")
    optuna.create_study(storage=live, study_name="t/adam")
    parent = {"host": socket.gethostname(), "pid": os.getppid(), "started": _process_start(os.getppid())}
    live.set_study_system_attr(live.get_study_id_from_name("t/adam"), CLAIM_PREFIX, parent)
    with pytest.raises(OptimlabError, match=f"claimed by another comparison \\(pid {os.getppid()} on host "):
        open_studies(spec, tmp_path / "live", resume=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    claim = {"host": socket.gethostname(), "pid": gone.pid, "started": None}
    optuna.create_study(storage=dead, study_name="t/adam")
    dead.set_study_system_attr(dead.get_study_id_from_name("t/adam"), CLAIM_PREFIX, claim)
    open_studies(spec, tmp_path / "dead", resume=True)
    stored = [s.user_attrs[SPEC_ATTR] for s in open_storage(tmp_path / "dead").get_all_studies()]
    assert stored == [spec.to_dict()]


def test_studies_in_memory_are_kept_nowhere_and_each_says_why_its_trials_run_one_at_a_time(
    tmp_path, monkeypatch
):
    """A study in memory's location was "this process's memory", a folder name open_storage made (with a
    journal); open_storage(None, create=False) gave an empty storage for a refusal; and the batched
    backend's fallback warning, said once per location, was lost for a second study in memory."""
    from optimlab.errors import OptimlabWarning

    monkeypatch.chdir(tmp_path)
    spec = tiny(budget=1, seeds=1)
    spec = dataclasses.replace(spec, recipe=spec.recipe.with_updates({"training.early_stopping_patience": 2}))
    for _ in range(2):
        with pytest.warns(OptimlabWarning, match="one at a time, not batched: early stopping"):
            result = run_study(spec, None, backend="batched")
    assert result.location is None and [r.state for r in result.records] == ["complete", "complete"]
    with pytest.raises(OptimlabError, match=r"^no study in memory \(location None\)"):
        open_storage(None, create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_study_in_memory_refuses_a_resume_and_other_processes(tmp_path, monkeypatch):
    """location None: a new storage in this process's memory. Nothing there to resume, and worker processes
    cannot reach it: both refused naming the flag, where they made a folder named 'None' in the working one."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidValueError, match=r"True for resume: accepted False for a study in memory"):
        run_study(tiny(budget=1, seeds=1), None, resume=True)
    with pytest.raises(
        InvalidValueError, match=r"'workers' for backend: accepted local or batched for a study"
    ):
        run_study(tiny(budget=1, seeds=1), None, backend="workers")
    assert list(tmp_path.iterdir()) == []


def test_a_driver_of_workers_started_elsewhere_says_when_none_runs_a_trial(tmp_path, monkeypatch):
    """--backend workers --workers 0 waited forever, without a word, after its only worker died (the
    study's trials waiting, none running). It now says so once none has run a trial for GRACE_SECONDS
    (0 here), naming the command that starts one, and waits on."""
    import warnings

    from optimlab.study import run as running

    monkeypatch.setattr(running, "GRACE_SECONDS", 0.0)
    monkeypatch.setattr(running, "POLL_SECONDS", 0.0)
    polls = []

    def stop_soon(records):
        polls.append(records)
        if len(polls) == 8:
            raise KeyboardInterrupt  # Ctrl-C: the run would wait on

    with warnings.catch_warnings(record=True) as said, pytest.raises(KeyboardInterrupt):
        warnings.simplefilter("always")
        run_study(
            tiny(budget=1, seeds=0), tmp_path, backend="workers", options=BackendOptions(workers=0),
            on_progress=stop_soon,
        )  # fmt: skip
    waiting = [str(w.message) for w in said if "waiting for workers" in str(w.message)]
    assert len(waiting) == 1, [str(w.message) for w in said]
    # with --wait: a worker without it stopped between the tuning and the seed reruns, which then waited
    assert f"start one with `optimlab worker --wait {tmp_path}`" in waiting[0]
    assert all(r.state == "waiting" for r in polls[-1]) and polls[-1]  # none ran, one waits


def test_a_resumed_study_plans_the_values_it_stored_as_it_stored_them(tmp_path):
    """A study stored with training.batch_size 16.0 and 32.0 (a space of the API, or one stored before --space
    read whole floats as ints) resumed planning 16 and 32: read back, a stored space was read as a user's, its
    whole floats made ints, and a --space given on the resume was searched over the stored one. The keys run
    on the resume then held 16 beside the 16.0 of those run before. Truth: the space the study stored."""
    from optimlab.study.compare import stored_settings
    from optimlab.study.run import load_specs, open_studies
    from optimlab.workloads import get_workload

    workload = get_workload("teacher_student", epochs=1)
    floats = SearchSpace((Dimension("training.batch_size", choices=(16.0, 32.0)),))
    sgd = methods_from("optimizer.name", ["sgd"])
    spec = StudySpec.for_workload("t", workload, sgd, space=floats, budget=2, seeds=1)
    # as a study stored before whole floats were planned as ints: a new plan now holds ints
    spec = dataclasses.replace(spec, space=floats, stored=True)
    open_studies(spec, tmp_path)  # stored, then stopped before its first trial
    (stored,) = load_specs(tmp_path)
    given = SearchSpace.from_flags(["training.batch_size=16.0,32.0"])  # read as 16, 32
    again = StudySpec.for_workload(
        "t", workload, spec.methods, space=given, budget=2, seeds=1, stored=stored_settings(tmp_path)
    )
    as_stored = [(16.0, "float"), (32.0, "float")]
    planned = [p.params["training.batch_size"] for p in stored.tune_plan(stored.methods[0])]
    assert [(v, type(v).__name__) for v in planned] == as_stored
    told = []  # storing a plan (an fsync a trial: 10^4 took 53 s) left the progress bar at 0, no word
    records = run_study(again, tmp_path, resume=True, on_storing=lambda *stored: told.append(stored)).records
    held = {(v, type(v).__name__) for v in (r.params["training.batch_size"] for r in records)}
    assert len(records) == 3 and held <= set(as_stored), held
    assert told == [(2, 2), (1, 1)]  # each phase's plan, as each append of it was stored


def test_a_reader_polling_the_storage_sees_a_new_study_whole_or_not_at_all(tmp_path, monkeypatch):
    """A worker started with --wait polls the storage while the driver writes each study's attributes,
    one journal line each: it read a study whose spec was written but not its method, and ended in a
    KeyError (CI, stop 54). The spec is now written last. Truth: a second storage reading the journal
    after every attribute written, as a worker would; and a comparison killed part way through writing
    them leaves a study a resume takes over, as one killed before any."""
    from optimlab.study.run import open_studies
    from optimlab.study.storage import IMPORT_FROM_ATTR, METHOD_ATTR, SPACE_ATTR, SPEC_ATTR
    from optimlab.study.worker import method_targets

    write = optuna.storages.JournalStorage.set_study_user_attr
    seen = []

    def read_after(storage, study_id, key, value):
        write(storage, study_id, key, value)
        reader = open_storage(tmp_path / "one", create=False)
        studies = [s for s in reader.get_all_studies() if SPEC_ATTR in s.user_attrs]
        assert all({METHOD_ATTR, SPACE_ATTR, IMPORT_FROM_ATTR} <= s.user_attrs.keys() for s in studies)
        seen.append(sorted(method.name for _, method, _ in method_targets(reader)))

    monkeypatch.setattr(optuna.storages.JournalStorage, "set_study_user_attr", read_after)
    open_studies(tiny(optimizers=("sgd", "adam")), tmp_path / "one")
    assert seen[0] == [] and ["adam"] in seen and seen[-1] == ["adam", "sgd"]

    def killed_at_space(storage, study_id, key, value):
        if key == SPACE_ATTR:
            raise KeyboardInterrupt
        write(storage, study_id, key, value)

    monkeypatch.setattr(optuna.storages.JournalStorage, "set_study_user_attr", killed_at_space)
    with pytest.raises(KeyboardInterrupt):
        open_studies(tiny(optimizers=("sgd", "adam")), tmp_path / "two")
    monkeypatch.setattr(optuna.storages.JournalStorage, "set_study_user_attr", write)
    left = open_storage(tmp_path / "two").get_all_studies()
    assert [(s.study_name, sorted(s.user_attrs)) for s in left] == [("t/adam", [METHOD_ATTR])]
    with pytest.raises(OptimlabError, match="holds study 't/adam' with no settings stored: .*resume=True"):
        open_studies(tiny(optimizers=("sgd", "adam")), tmp_path / "two")
    open_studies(tiny(optimizers=("sgd", "adam")), tmp_path / "two", resume=True)
    assert sorted(m.name for _, m, _ in method_targets(open_storage(tmp_path / "two"))) == ["adam", "sgd"]
