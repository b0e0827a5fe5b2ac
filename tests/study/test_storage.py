"""Storage semantics, the same on every storage (journal file, PostgreSQL): heartbeats, stale-trial
reclaim, popping only planned trials."""

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.study import storage as storage_module
from optimlab.study.storage import (
    JOURNAL_NAME,
    OWNER_ATTR,
    heartbeat,
    load_records,
    open_storage,
    pop_waiting,
    reclaim_stale,
    store_waiting,
)


@pytest.fixture(params=["journal", "postgres"])
def study(request, tmp_path):
    location = tmp_path if request.param == "journal" else request.getfixturevalue("postgres_url")
    storage = open_storage(location)
    return optuna.create_study(storage=storage, study_name=f"s-{uuid.uuid4().hex}"), storage


def running_trial(study, storage, owner):
    study.enqueue_trial({}, user_attrs={"key": f"tune/{len(study.get_trials(deepcopy=False))}"})
    _, trial_id = pop_waiting(study, storage)
    if owner is not None:
        storage.set_trial_system_attr(trial_id, OWNER_ATTR, owner)
    return trial_id


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_pop_takes_each_waiting_trial_once_and_never_creates_one(study):
    study, storage = study
    for key in ("tune/0", "tune/1"):
        study.enqueue_trial({}, user_attrs={"key": key})
    popped = [pop_waiting(study, storage), pop_waiting(study, storage), pop_waiting(study, storage)]
    assert [p[0].user_attrs["key"] for p in popped[:2]] == ["tune/0", "tune/1"] and popped[2] is None
    assert len(study.get_trials()) == 2


def _as_stored(folder, names):
    """Each study's trials as Optuna's own journal reader replays ``folder``'s journal."""
    reader = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL_NAME))
    )
    return {
        name: [
            (t.number, t.state, t.params, t.distributions, t.system_attrs, t.user_attrs, t.datetime_start)
            for t in optuna.load_study(study_name=name, storage=reader).trials
        ]
        for name in names
    }


def test_a_plan_is_stored_in_few_appends_as_optunas_enqueue_stores_it(tmp_path, monkeypatch):
    """A plan was stored by Optuna's enqueue_trial a trial at a time, an fsync each (53 s for 10^4 planned
    trials). store_waiting writes a journal's plan in appends of many (here 3): two studies' 7 trials,
    interleaved, replay in Optuna's own reader as enqueue_trial stores them, the progress told as each
    append ends, and are taken in their plan's order."""
    monkeypatch.setattr(storage_module, "_PLAN_APPEND", 3)
    planned = [
        (f"s{i % 2}", {"optimizer.lr": 10 ** -(i % 5), "optimizer.betas": [0.9, 0.99]}, {"key": f"tune/{i}"})
        for i in range(7)
    ]
    names = ("s0", "s1")
    optunas = open_storage(tmp_path / "optuna")
    studies = {name: optuna.create_study(storage=optunas, study_name=name) for name in names}
    for name, params, user_attrs in planned:
        studies[name].enqueue_trial(params, user_attrs=user_attrs)
    storage = open_storage(tmp_path / "optimlab")
    studies = {name: optuna.create_study(storage=storage, study_name=name) for name in names}
    fsyncs, told = [], []
    monkeypatch.setattr(os, "fsync", lambda fd, sync=os.fsync: fsyncs.append(sync(fd)))
    store_waiting(
        storage,
        [(studies[name], params, user_attrs) for name, params, user_attrs in planned],
        on_storing=lambda done, total: told.append((done, total)),
    )
    assert len(fsyncs) == 3 and told == [(3, 7), (6, 7), (7, 7)]
    stored = _as_stored(tmp_path / "optimlab", names)
    assert stored == _as_stored(tmp_path / "optuna", names) and len(stored["s1"]) == 3
    popped = [pop_waiting(studies["s1"], storage)[0].user_attrs["key"] for _ in range(3)]
    assert popped == ["tune/1", "tune/3", "tune/5"] and pop_waiting(studies["s1"], storage) is None
    # under another Optuna major, whose private records may differ, the plan goes through enqueue_trial
    monkeypatch.setattr(optuna, "__version__", "6.0.0")
    storage = open_storage(tmp_path / "another")
    studies = {name: optuna.create_study(storage=storage, study_name=name) for name in names}
    told.clear()
    store_waiting(
        storage,
        [(studies[name], params, user_attrs) for name, params, user_attrs in planned],
        on_storing=lambda done, total: told.append((done, total)),
    )
    assert told == [(n, 7) for n in range(1, 8)]  # a trial at a time
    assert _as_stored(tmp_path / "another", names) == _as_stored(tmp_path / "optuna", names)


def _first_by_the_plan(storage, study):
    """The waiting trial to take next by pop_waiting's rule: first in its phase's plan (its key's index,
    else its number), then by number, among the trials waiting now."""

    def position(trial):
        index = trial.user_attrs.get("key", "").rpartition("/")[2]
        return (int(index) if index.isdigit() else trial.number, trial.number)

    study_id = storage.get_study_id_from_name(study.study_name)
    waiting = storage.get_all_trials(study_id, states=(TrialState.WAITING,))
    return min(waiting, key=position).number if waiting else None


def test_waiting_trials_are_taken_by_the_plan_as_others_take_and_add_them(tmp_path):
    """pop_waiting sorted every waiting trial at each take (30-45 ms at 3,000 waiting); it keeps them in
    order across takes now. Each take is still the rule's, among the trials waiting then: with trials
    enqueued between takes (a key run again after an interruption, a key of no index, a trial of no key)
    and others taken meanwhile by another process."""
    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="s")
    study_id = storage.get_study_id_from_name(study.study_name)

    def enqueue(*keys):
        for key in keys:
            study.enqueue_trial({}, user_attrs={} if key is None else {"key": key})

    def take_as_the_rule_says():
        expected = _first_by_the_plan(storage, study)
        popped = pop_waiting(study, storage)
        assert (popped and popped[0].number) == expected
        return popped

    enqueue("tune/5", "tune/2", "seeds/0", "custom", None, "tune/7")
    _, interrupted = take_as_the_rule_says()  # seeds/0
    storage.set_trial_user_attr(interrupted, "status", "interrupted")
    storage.set_trial_state_values(interrupted, TrialState.FAIL)
    enqueue("seeds/0", "tune/1", None)  # run again, and planned before those waiting
    take_as_the_rule_says()
    # another process takes the trial first by the plan, then one further on: its own storage object on
    # the file, whose writes this one reads only from the journal
    elsewhere = open_storage(tmp_path)
    assert elsewhere is not storage
    for number in (_first_by_the_plan(storage, study), 5):
        other = elsewhere.get_trial_id_from_study_id_trial_number(study_id, number)
        assert elsewhere.set_trial_state_values(other, TrialState.RUNNING)
    take_as_the_rule_says()
    enqueue("tune/0")  # one trial alone, numbered next: read by a take that looks for no further one
    take_as_the_rule_says()
    enqueue("tune/3")
    while take_as_the_rule_says() is not None:
        pass
    assert storage.get_n_trials(study_id, state=TrialState.WAITING) == 0
    assert storage.get_n_trials(study_id) == 11


def test_trials_enqueued_without_a_key_are_each_taken(study):
    """Trials that another tool enqueued on an optimlab study, without a key, are not duplicates of
    each other."""
    study, storage = study
    for _ in range(2):
        study.enqueue_trial({})
    assert pop_waiting(study, storage) is not None and pop_waiting(study, storage) is not None


def test_a_trial_of_a_dead_process_is_reclaimed_at_once(study):
    study, storage = study
    trial_id = running_trial(
        study, storage, {"host": socket.gethostname(), "pid": dead_pid(), "beat": time.time()}
    )
    assert reclaim_stale(storage, study.study_name) == 1
    trial = storage.get_trial(trial_id)
    assert trial.state == TrialState.FAIL and trial.user_attrs["status"] == "interrupted"
    assert "stopped before the trial ended" in trial.user_attrs["message"]
    assert not load_records(storage, [study.study_name])[0].finished  # not counted: its key runs again


def test_a_live_beating_trial_is_kept_and_a_silent_one_on_another_host_reclaimed(study):
    study, storage = study
    beating = running_trial(study, storage, None)
    with heartbeat(storage, [beating], interval=0.05):
        time.sleep(0.2)
        assert reclaim_stale(storage, study.study_name, grace=0.5) == 0
        owner = load_records(storage, [study.study_name])[0]
    assert (
        storage.get_trial(beating).system_attrs[OWNER_ATTR]["beat"] > time.time() - 1
        and owner.state == "running"
    )
    other = running_trial(study, storage, {"host": "elsewhere", "pid": 1, "beat": time.time() - 120})
    assert reclaim_stale(storage, study.study_name, grace=60) == 1
    assert storage.get_trial(other).state == TrialState.FAIL
    assert storage.get_trial(beating).state == TrialState.RUNNING  # this process lives; its beat is recent


def test_a_running_trial_that_no_process_claimed_gets_the_grace_period(study):
    study, storage = study
    study.enqueue_trial({}, user_attrs={"key": "tune/0"})
    trial_id = storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), 0
    )
    storage.set_trial_state_values(trial_id, TrialState.RUNNING)  # taken by a client that does not claim
    assert reclaim_stale(storage, study.study_name, grace=60) == 0
    assert reclaim_stale(storage, study.study_name, grace=0) == 1


def test_pop_claims_the_trial_before_it_runs(study):
    study, storage = study
    trial_id = running_trial(study, storage, None)
    owner = storage.get_trial(trial_id).system_attrs[OWNER_ATTR]
    assert (owner["host"], owner["pid"]) == (socket.gethostname(), os.getpid())


@pytest.mark.parametrize(
    "url, says",
    [
        ("mysql://u@localhost/db", "needs a MySQL driver, and none is installed: pip install 'mysqlclient', or pip install 'PyMySQL'"),
        ("mariadb://u@localhost/db", "needs a MariaDB driver, and none is installed: pip install 'mysqlclient', or pip install 'PyMySQL', or pip install 'mariadb'"),
        ("mysql+pymysql://u@localhost/db", "needs the MySQL driver 'pymysql', which is not installed: pip install 'PyMySQL'"),
        ("postgresql+psycopg://u@localhost/db", "needs the PostgreSQL driver 'psycopg', which is not installed: pip install 'psycopg'"),
    ],
)  # fmt: skip
def test_a_missing_driver_is_named_for_its_own_database(monkeypatch, url, says):
    """mysql:// without a driver answered 'for PostgreSQL: pip install optimlab[postgres]'."""
    for module in ("MySQLdb", "pymysql", "mariadb", "psycopg"):  # None in sys.modules: not installed
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(OptimlabError) as error:
        open_storage(url)
    assert str(error.value) == f"storage {url!r} {says}"  # not "(--storage)": worker and report take LOCATION


def test_a_file_is_no_study_location(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(OptimlabError, match="is a file"):
        open_storage(tmp_path / "f")


def test_a_journal_lock_held_by_a_killed_process_is_free_at_once(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from optimlab.study.storage import _FlockLock; "
                "_FlockLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)"
            ),
            str(tmp_path / f"{JOURNAL_NAME}.flock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    started = time.monotonic()
    optuna.create_study(storage=open_storage(tmp_path), study_name="after-the-kill")
    assert time.monotonic() - started < 5  # Optuna's symlink lock would wait out a 30 s grace period


def test_deferred_writes_reach_the_journal_at_once_when_the_outermost_block_ends(tmp_path):
    from optimlab.study.storage import deferred_writes

    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="held")
    trial = study.ask()
    journal = tmp_path / "study.journal"
    before = journal.read_text().count("\n")
    with deferred_writes(storage):
        trial.set_user_attr("a", 1)
        with deferred_writes(storage):  # a block inside another one of this thread's: held to its end
            trial.set_user_attr("b", 2)
        trial.set_user_attr("c", 3)
        assert journal.read_text().count("\n") == before  # held, nothing written yet
    assert journal.read_text().count("\n") == before + 3
    again = optuna.load_study(study_name="held", storage=open_storage(tmp_path))
    assert again.trials[0].user_attrs == {"a": 1, "b": 2, "c": 3}


def test_a_beat_the_disk_refuses_inside_a_results_block_loses_no_result(tmp_path, monkeypatch):
    """A heartbeat's beat ran in the same process-wide hold as the batched backend's results: when the beat
    thread left last it appended the results too, and a full disk then read as one failed beat, the
    results gone. Now each thread appends its own held writes. Truth: the result read back from a fresh
    opening of the journal, and the beat thread's own error."""
    import errno
    import threading

    from optimlab.study.storage import _JOURNALS, _claim, deferred_writes

    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    journal = _JOURNALS[storage]
    append = journal._append

    def full_for_the_beat(logs):
        if threading.current_thread() is not threading.main_thread():
            raise OSError(errno.ENOSPC, "No space left on device")
        append(logs)

    monkeypatch.setattr(journal, "_append", full_for_the_beat)
    inside, results_held, beat_error = threading.Event(), threading.Event(), []

    def beat():
        try:
            with deferred_writes(storage):
                inside.set()
                results_held.wait(5)
                _claim(storage, trial._trial_id)
        except OSError as error:
            beat_error.append(error.errno)

    thread = threading.Thread(target=beat)
    thread.start()
    with deferred_writes(storage):  # the batched backend's results
        trial.set_user_attr("result", 0.93)
        inside.wait(5)
    results_held.set()
    thread.join()
    assert beat_error == [errno.ENOSPC]
    again = open_storage(tmp_path)
    assert again.get_trial(trial._trial_id).user_attrs == {"result": 0.93}


# --- a journal after a crash, and locations that hold no study ------------------------------------


def journal_with_trials(folder, count=3):
    storage = open_storage(folder)
    study = optuna.create_study(storage=storage, study_name="s")
    for value in range(count):
        study.add_trial(optuna.trial.create_trial(value=float(value)))
    return folder / JOURNAL_NAME


def values(folder):
    return [t.value for t in optuna.load_study(study_name="s", storage=open_storage(folder)).get_trials()]


@pytest.mark.parametrize("cut", [1, 17, -1])  # bytes of the next record that reached the file
def test_a_record_cut_by_a_crash_is_set_aside_with_a_backup_and_the_study_goes_on(tmp_path, cut):
    journal = journal_with_trials(tmp_path)
    whole = journal.read_bytes()
    record = b'{"op_code":6,"worker_id":"w","study_id":0,"datetime_start":"2026-01-01T00:00:00"}\n'
    journal.write_bytes(whole + record[:cut])
    with pytest.warns(OptimlabWarning, match="cut short.*kept in"):
        assert values(tmp_path) == [0.0, 1.0, 2.0]
    assert journal.read_bytes() == whole
    (backup,) = tmp_path.glob(JOURNAL_NAME + ".bak-*")
    assert backup.read_bytes() == whole + record[:cut]
    optuna.load_study(study_name="s", storage=open_storage(tmp_path)).add_trial(
        optuna.trial.create_trial(value=3.0)
    )
    plain = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    assert [t.value for t in optuna.load_study(study_name="s", storage=plain).get_trials()] == [0, 1, 2, 3]


def test_a_record_cut_by_another_process_after_opening_is_set_aside_before_the_next_append(tmp_path):
    journal = journal_with_trials(tmp_path)
    study = optuna.load_study(study_name="s", storage=open_storage(tmp_path))
    with open(journal, "ab") as handle:  # a worker killed mid-append, while this process runs
        handle.write(b'{"op_code":6,"worker_id":"w","stu')
    with pytest.warns(OptimlabWarning, match="cut short"):
        study.add_trial(optuna.trial.create_trial(value=3.0))
    assert values(tmp_path) == [0.0, 1.0, 2.0, 3.0]


def test_held_results_are_appended_though_the_cut_records_warning_is_an_error(tmp_path):
    """Under -W error the warning of a set-aside cut record raised before the append, and the held
    results were gone. Truth: the result read back from a fresh opening of the journal."""
    from optimlab.study.storage import deferred_writes

    journal = journal_with_trials(tmp_path)
    storage = open_storage(tmp_path)
    trial = optuna.load_study(study_name="s", storage=storage).ask()
    with open(journal, "ab") as handle:  # a worker killed mid-append, while this process runs
        handle.write(b'{"op_code":6,"worker_id":"w","stu')
    with warnings.catch_warnings(), pytest.raises(OptimlabWarning, match="cut short"):
        warnings.simplefilter("error")
        with deferred_writes(storage):
            trial.set_user_attr("result", 0.93)
    assert open_storage(tmp_path).get_trial(trial._trial_id).user_attrs == {"result": 0.93}
    assert journal.read_bytes().count(b'"result"') == 1


def test_held_writes_an_append_refused_are_written_by_the_next_append(tmp_path, monkeypatch):
    """A full disk refused the append that ended a block: it raises there, and the held writes, once
    dropped, now go first in the thread's next append. Truth: the journal read back afresh."""
    import errno

    from optimlab.study.storage import _JOURNALS, deferred_writes

    storage = open_storage(tmp_path)
    trial = optuna.create_study(storage=storage, study_name="s").ask()
    journal, refused = _JOURNALS[storage], []

    def full_once(logs):
        if not refused:
            refused.append(len(logs))
            raise OSError(errno.ENOSPC, "No space left on device")
        return type(journal)._append(journal, logs)

    monkeypatch.setattr(journal, "_append", full_once)
    with pytest.raises(OSError, match="No space left"), deferred_writes(storage):
        trial.set_user_attr("result", 0.93)
    trial.set_user_attr("later", 1)
    assert open_storage(tmp_path).get_trial(trial._trial_id).user_attrs == {"result": 0.93, "later": 1}


def test_a_journal_damaged_before_its_end_is_refused_and_left_untouched(tmp_path):
    journal = journal_with_trials(tmp_path)
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b"\x00garbage"
    journal.write_bytes(b"\n".join(lines))
    damaged = journal.read_bytes()
    with pytest.raises(OptimlabError, match=r"damaged \(record 3 does not parse\); nothing was written"):
        open_storage(tmp_path)
    assert journal.read_bytes() == damaged and not list(tmp_path.glob("*.bak-*"))


@pytest.mark.parametrize(
    "record",
    ['{"op_code": 99, "worker_id": "w"}', '{"op_code": 8, "worker_id": "w"}', '{"op_code": 0}', "[1]"],
    ids=["unknown_operation", "no_trial_id", "no_study_name", "not_an_object"],
)
def test_a_journal_record_edited_into_one_optuna_cannot_replay_is_refused(tmp_path, record):
    """A record that parses but that Optuna's replay trips on (an edit by hand) ended every verb on the
    folder in a traceback (AssertionError: Should not reach., KeyError, TypeError)."""
    journal = journal_with_trials(tmp_path)
    lines = journal.read_bytes().split(b"\n")
    lines[2] = record.encode()
    journal.write_bytes(b"\n".join(lines))
    damaged = journal.read_bytes()
    with pytest.raises(
        OptimlabError, match=r"damaged \(record 3 cannot be replayed: .*\); nothing was written"
    ):
        open_storage(tmp_path)
    assert journal.read_bytes() == damaged


def _first_creation_removed(journal: Path) -> bytes:
    """``journal`` with its first trial-creation record (Optuna's op code 4) removed, as a hand edit
    leaves it; its bytes then."""
    lines = journal.read_bytes().split(b"\n")
    created = [i for i, line in enumerate(lines) if line and json.loads(line)["op_code"] == 4]
    del lines[created[0]]
    journal.write_bytes(b"\n".join(lines))
    return journal.read_bytes()


def test_a_journal_with_a_trials_creation_removed_is_refused_not_shifted(tmp_path):
    """A trial's creation removed by hand (a study folder edited) renumbered every later trial: Optuna's
    replay numbers trials by their creation and skips a record on a trial not created, so trial 'b' took
    trial 'a''s result in silence (a seed rerun reported a tuning trial's metric). Refused naming the first
    record on a trial no record creates. Truth: Optuna's own journal reader over the edited file."""
    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="s")
    for key in ("a", "b"):
        study.enqueue_trial({}, user_attrs={"key": key})
    for value in (0.1, 0.9):  # a ran to 0.1, b to 0.9
        study.tell(study.ask(), value)
    journal = tmp_path / JOURNAL_NAME
    edited = _first_creation_removed(journal)  # a's
    optunas = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    (shifted,) = optuna.load_study(study_name="s", storage=optunas).get_trials()
    assert (shifted.user_attrs["key"], shifted.value) == ("b", 0.1)  # what reading it went on with
    with pytest.raises(
        OptimlabError, match=r"damaged \(record \d+ updates trial 1, which no record before it creates"
    ):
        open_storage(tmp_path)
    assert journal.read_bytes() == edited


def test_a_trials_creation_removed_before_waiting_trials_is_refused_not_shifted(tmp_path):
    """The usual layout of a killed comparison: trials a, b, c planned, a taken and run, b and c waiting.
    With a's creation removed, each record on a's number landed on b, which no check saw (every record
    updates a trial created): b read complete at a's 0.1. The claim taking a trial names its key, held
    against the trial of that number. Truth: Optuna's own journal reader over the edited file."""
    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="s")
    for key in ("a", "b", "c"):
        study.enqueue_trial({}, user_attrs={"key": key})
    _, trial_id = pop_waiting(study, storage)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.1])
    journal = tmp_path / JOURNAL_NAME
    edited = _first_creation_removed(journal)  # a's
    optunas = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    shifted = optuna.load_study(study_name="s", storage=optunas).get_trials()[0]
    assert (shifted.user_attrs["key"], shifted.state, shifted.value) == ("b", TrialState.COMPLETE, 0.1)
    refused = r"damaged \(record \d+ takes trial 0 as key 'a', but the trial of that number holds key 'b'"
    with pytest.raises(OptimlabError, match=refused):
        open_storage(tmp_path)
    assert journal.read_bytes() == edited


def test_records_read_again_follow_each_trial_through_its_states(tmp_path):
    """load_records keeps the records of waiting and finished trials (a finished one never changes, a waiting
    one until taken): read again, each trial's record must be its state and attributes now. Truth: Optuna's
    own trials, read each time."""
    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="s/sgd")
    study.enqueue_trial({}, user_attrs={"key": "tune/0"})

    def read() -> tuple:
        (record,) = load_records(storage, ["s/sgd"])
        (trial,) = study.get_trials()
        assert record.state == trial.state.name.lower()
        return record.state, record.metrics, record.value

    assert read()[0] == "waiting"
    _, trial_id = pop_waiting(study, storage)
    for accuracy in (0.5, 0.7):  # a running trial's attributes as they are written
        storage.set_trial_user_attr(trial_id, "metrics", {"test_accuracy": accuracy})
        assert read()[:2] == ("running", {"test_accuracy": accuracy})
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.7])
    assert read() == read() == ("complete", {"test_accuracy": 0.7}, 0.7)


@pytest.mark.parametrize(
    ("attribute", "edited", "shape"),
    [
        ("metrics", "garbage", "a mapping of metric names to numbers"),
        ("metrics", [["test_accuracy", 1.0]], "a mapping of metric names to numbers"),
        ("curve", None, "a mapping of columns to lists"),
        ("steps", None, "a whole number"),
        ("seconds", "fast", "a number"),
        ("seed", [1], "a whole number"),
        ("seed", 1.7, "a whole number"),
        ("seed", True, "a whole number"),
        ("seed", "3", "a whole number"),
        ("steps", 34.9, "a whole number"),
        ("metrics", {"test_accuracy": "garbage"}, "a mapping of metric names to numbers"),
    ],
)
def test_a_trial_record_edited_into_another_shape_is_refused_naming_it(tmp_path, attribute, edited, shape):
    """A trial's record edited by hand (metrics 'garbage', steps null) ended report, resume and export in a
    traceback (ValueError: dictionary update sequence element #0 has length 1); a list of pairs was read as
    metrics. Refused naming the trial, the study, the attribute and the value. Truth: the record as written
    (steps 12, its metrics) reads back."""
    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="s/sgd")
    written = {
        "metrics": {"test_accuracy": 0.9},
        "curve": {"step": [1]},
        "steps": 12,
        "seconds": 0.5,
        "seed": 1,
    }
    study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs=written))
    (record,) = load_records(storage, ["s/sgd"])
    assert (record.metrics, record.curve, record.steps, record.seconds, record.seed) == tuple(
        written.values()
    )
    study.add_trial(optuna.trial.create_trial(value=0.9, user_attrs={**written, attribute: edited}))
    refusal = (
        f"trial 1 of study 's/sgd' holds {attribute} = {edited!r}, not {shape}: its record was edited by hand"
    )
    with pytest.raises(OptimlabError, match=re.escape(refusal)):
        load_records(storage, ["s/sgd"])


def test_an_append_the_disk_refuses_names_the_journal(tmp_path):
    """A full disk mid-study was reported as 'error: File too large', naming no file."""
    from test_atomic import in_a_full_disk

    journal = str(tmp_path / JOURNAL_NAME)

    def append():
        try:
            optuna.create_study(storage=open_storage(tmp_path), study_name="x" * 5000)
        except OSError as error:
            os._exit(3 if error.filename == journal else 4)

    assert in_a_full_disk(append) == 3


def test_a_missing_study_is_said_in_the_words_of_the_cli_and_the_api(tmp_path):
    """open_storage said 'give the folder of an optimlab compare run (its --out)' to a Python caller
    too (optimlab.compare(resume=True, out=...)): it names the flag and the argument of each place."""
    for location in (tmp_path, f"sqlite:///{tmp_path / 'x.db'}", None):
        with pytest.raises(OptimlabError) as refused:
            open_storage(location, create=False)
        assert str(refused.value).endswith(
            "give the folder of a comparison (--out, out=), or its database URL (--storage, storage=)"
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["study.journal", "study.journal.flock"])
def test_a_journal_that_is_a_folder_is_named_as_one(tmp_path, name):
    """A folder named study.journal was read as 'it holds no study.journal' (a read) and as 'cannot write
    the study journal ...: Is a directory' (a write), the folder left in place either way; a folder named
    as its lock file, study.journal.flock, was said 'Is a directory' still."""
    (tmp_path / name).mkdir()
    for create in (False, True):
        with pytest.raises(OptimlabError, match=f"its {re.escape(name)} is not a file"):
            open_storage(tmp_path, create=create)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_worker_pointed_at_a_folder_without_a_study_refuses_and_creates_nothing(tmp_path):
    from optimlab.study import work

    with pytest.raises(OptimlabError, match="no study at .*holds no study.journal"):
        work(tmp_path / "nonexistent")
    assert not (tmp_path / "nonexistent").exists()
    open_storage(tmp_path)  # a journal without any optimlab study
    with pytest.raises(OptimlabError, match="no optimlab study at"):
        work(tmp_path)


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("sqlite:////nonexistent-dir/sub/studies.db", "cannot open storage.*unable to open database file"),
        ("nosuchdialect://host/db", "cannot open storage.*nosuchdialect"),
        ("notaurl:::", "invalid value 'notaurl:::' for study storage: accepted a folder, or a database URL"),
        ("postgresql:/host/db", "invalid value"),
    ],
)
def test_a_storage_that_cannot_be_opened_is_one_clear_error(location, error):
    with pytest.raises(OptimlabError, match=error):
        open_storage(location)
    assert not os.path.exists(location)


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"budget": 1}, "lacks the field 'name' (the study's name, a string)"),
        ({"name": 5}, "has the field 'name' 5, not the study's name (a string)"),
        (5, "is 5, not a study spec (a mapping of its fields)"),
    ],
)
def test_a_database_study_spec_edited_without_its_name_names_the_url_and_the_value(tmp_path, spec, problem):
    """A spec edited by hand in a database storage is refused naming the URL the storage was opened with
    (Optuna's cache over it named only '<..._CachedStorage object at 0x...>') and the value found."""
    from optimlab.study.storage import SPEC_ATTR, optimlab_studies

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    optuna.create_study(storage=url, study_name="t/sgd").set_user_attr(SPEC_ATTR, spec)
    with pytest.raises(OptimlabError) as refused:
        optimlab_studies(open_storage(url))
    assert str(refused.value) == (
        f"the study spec stored in {url!r} for Optuna study 't/sgd' {problem}: it was edited by hand; "
        "restore the field"
    )


def test_a_storage_whose_tables_another_process_creates_meanwhile_opens(tmp_path):
    """Two processes opening a new SQLite storage at once both created Optuna's tables; SQLite commits
    each CREATE on its own, so the second to create one was refused ('cannot open storage ...: table
    studies already exists'), about one start in eight of two workers started together. The collision in
    one process: after this opening has found no table, a second connection (the other process) creates
    them all. Truth: the storage opens, and Optuna's own storage reads the study back."""
    import sqlalchemy
    from optuna.storages._rdb import models

    url = f"sqlite:///{tmp_path / 'studies.db'}"
    created_beside = []

    def the_other_process_creates_them(metadata, connection, **kwargs):
        if not created_beside:  # once: the other's own creating passes here too
            created_beside.append(sqlalchemy.create_engine(url))
            metadata.create_all(created_beside[0])

    sqlalchemy.event.listen(models.BaseModel.metadata, "before_create", the_other_process_creates_them)
    try:
        optuna.create_study(storage=open_storage(url), study_name="this")
    finally:
        sqlalchemy.event.remove(models.BaseModel.metadata, "before_create", the_other_process_creates_them)
        created_beside[0].dispose()
    assert created_beside
    names = {study.study_name for study in optuna.storages.RDBStorage(url).get_all_studies()}
    assert names == {"this"}


def test_a_sqlite_file_holding_another_applications_index_of_optunas_name_is_refused(tmp_path):
    """A SQLite file whose own table 'foo' holds an index named as Optuna's on studies.study_name was
    opened after one retry of 'index ix_studies_study_name already exists', without Optuna's unique index
    on the study name (a second study of one name then broke the storage). Truth: sqlite3 made the file;
    it is refused in one line naming the index, and the file keeps no table of Optuna's."""
    import sqlite3

    path = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(path)) as theirs:
        theirs.executescript("CREATE TABLE foo(a); CREATE INDEX ix_studies_study_name ON foo(a);")
    url = f"sqlite:///{path}"
    with pytest.raises(OptimlabError) as refused:
        open_storage(url)
    assert str(refused.value) == (
        f"cannot open storage {url!r}: index ix_studies_study_name already exists: its index "
        "'ix_studies_study_name' is another application's; use a database that holds only Optuna's studies"
    )


def test_claims_held_beat_while_the_block_runs_and_are_withdrawn_as_it_ends(study):
    """A comparison's claim on its study stayed for good: another host read it as live forever once the
    study had settings (its beat-less time could not tell a killed comparison from a running one). Now
    claims_held renews each claim's beat while its block runs and withdraws the claims as it ends; an
    inner block leaves its claims to the outer. Truth: the study's system attributes read back."""
    from optimlab.study.storage import claim_study, claims_held, held_claim

    study, storage = study
    study_id = storage.get_study_id_from_name(study.study_name)
    with claims_held(interval=0.01):
        with claims_held(interval=0.01):
            key = claim_study(storage, study_id)
        made = storage.get_study_system_attrs(study_id)[key]["at"]
        deadline = time.monotonic() + 5
        while "beat" not in storage.get_study_system_attrs(study_id)[key] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert storage.get_study_system_attrs(study_id)[key]["beat"] > made
        assert held_claim(storage, study_id) == key
    assert storage.get_study_system_attrs(study_id)[key] is None
    assert held_claim(storage, study_id) is None


class _Refusing(optuna.storages.InMemoryStorage):
    """A storage whose study attribute writes ``refuse`` decides to refuse, as a restarting database does."""

    def __init__(self):
        super().__init__()
        self.refuse = lambda study_id, value: False

    def set_study_system_attr(self, study_id, key, value):
        if self.refuse(study_id, value):
            raise ConnectionError("server closed the connection unexpectedly")
        super().set_study_system_attr(study_id, key, value)


def _new_studies(storage, count):
    studies = [optuna.create_study(storage=storage) for _ in range(count)]
    return [storage.get_study_id_from_name(study.study_name) for study in studies]


def _until(condition):
    deadline = time.monotonic() + 5
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


class _CallersOwn(Exception):
    pass


def test_claims_beat_on_past_a_storage_outage_and_a_refused_withdrawal_keeps_the_callers_exception():
    """A storage error in a beat ended claims_held's beat thread for good (a traceback, the claim read dead
    a grace later), and one in a withdrawal at the block's end replaced the caller's own exception
    (Ctrl-C surfaced as ConnectionError) and left the other claims unwithdrawn. Now a refused beat is
    tried again at the next interval and a refused withdrawal said in one warning each. Truth: the
    claims read back from the storage."""
    from optimlab.study.storage import claim_study, claims_held

    storage = _Refusing()
    first, second = _new_studies(storage, 2)
    with pytest.warns(OptimlabWarning) as said, pytest.raises(_CallersOwn), claims_held(interval=0.005):
        keys = [claim_study(storage, first), claim_study(storage, second)]
        storage.refuse = lambda study_id, value: True  # the database restarts
        time.sleep(0.05)
        storage.refuse = lambda study_id, value: False
        assert _until(lambda: "beat" in storage.get_study_system_attrs(first)[keys[0]])  # beats again
        storage.refuse = lambda study_id, value: study_id == first  # gone again for the first study
        raise _CallersOwn
    assert storage.get_study_system_attrs(second)[keys[1]] is None  # withdrawn though the first was not
    messages = [str(w.message) for w in said]
    assert sum("could not write the beat" in m for m in messages) == 1
    assert sum("1 of this comparison's claims could not be withdrawn" in m for m in messages) == 1


def test_claims_held_in_two_threads_each_hold_their_own_and_a_second_interrupt_closes_the_block(monkeypatch):
    """One process-wide claims_held depth let a thread's block end withdraw another thread's claims (and
    end at depth -1, so later blocks never beat nor withdrew); a Ctrl-C in the block's final join left
    it open for good (later comparisons' claims never withdrawn). Now each outermost block of a thread
    holds its own claims. Truth: the claims read back from the storage."""
    import threading

    from optimlab.study.storage import claim_study, claims_held

    storage = optuna.storages.InMemoryStorage()
    first, second, later = _new_studies(storage, 3)
    claimed, first_ended = threading.Event(), threading.Event()
    keys = {}

    def hold_second():
        with claims_held(interval=0.005):
            keys["second"] = claim_study(storage, second)
            claimed.set()
            first_ended.wait(5)
            keys["second held"] = storage.get_study_system_attrs(second)[keys["second"]]

    other = threading.Thread(target=hold_second)
    other.start()
    with claims_held(interval=0.005):
        claimed.wait(5)
        key = claim_study(storage, first)
    first_ended.set()
    other.join()
    assert storage.get_study_system_attrs(first)[key] is None
    assert keys["second held"] is not None  # the first thread's block did not withdraw it
    assert storage.get_study_system_attrs(second)[keys["second"]] is None  # its own block did

    def interrupted(thread, timeout=None):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), claims_held(interval=0.005):
        key = claim_study(storage, first)
        monkeypatch.setattr(threading.Thread, "join", interrupted)  # a second Ctrl-C as the block ends
    monkeypatch.undo()
    assert storage.get_study_system_attrs(first)[key] is None
    with claims_held(interval=0.005):
        key = claim_study(storage, later)
        assert _until(lambda: "beat" in storage.get_study_system_attrs(later)[key])
    assert storage.get_study_system_attrs(later)[key] is None


def test_a_beating_claim_or_trial_of_another_pid_namespace_under_this_host_name_lives(tmp_path):
    """A claim or a running trial of this host name was told by its pid alone, so a process of another
    container sharing the host name (its pids not seen here) read as gone at once: its study taken over,
    its trial failed as interrupted while it ran. Now one of another pid space lives while it beats, as
    another host's; one of this pid space is still gone at once. Truth: the pid is no process here."""
    from optimlab.study.storage import (
        CLAIM_PREFIX,
        GRACE_SECONDS,
        claim_study,
        live_claims,
        live_trials,
        withdraw_claim,
    )

    storage = open_storage(tmp_path)
    study = optuna.create_study(storage=storage, study_name="s")
    study_id, pid, here = storage.get_study_id_from_name(study.study_name), dead_pid(), socket.gethostname()
    own = claim_study(storage, study_id)
    this_space = storage.get_study_system_attrs(study_id)[own].get("pids")  # as this process writes it
    withdraw_claim(storage, study_id, own)
    for pids, beat, lives in (
        ("another-boot pid:[1]", time.time(), True),
        ("another-boot pid:[1]", time.time() - GRACE_SECONDS - 1, False),
        (this_space, time.time(), False),
    ):
        record = {"host": here, "pid": pid, "pids": pids, "beat": beat}
        storage.set_study_system_attr(study_id, f"{CLAIM_PREFIX}other", {**record, "started": "7"})
        assert len(live_claims(storage, study_id)) == lives
        before = live_trials(storage, study.study_name)
        running_trial(study, storage, record)
        assert live_trials(storage, study.study_name) - before == lives


def test_list_choices_are_kept_as_written_without_optunas_warning_that_they_do_not_persist(tmp_path):
    """A --space-file of list choices (optimizer.betas pairs) printed Optuna's UserWarning that they do not
    persist, once per choice as each trial asked and each journal replayed (ten lines for two trials),
    though the journal keeps them as written. Truth: the trials' params read back from a fresh opening
    of the journal, and the warnings recorded."""
    import warnings

    from optimlab.study.space import Dimension

    betas = Dimension("optimizer.betas", choices=([0.9, 0.99], {"a": 1}))
    with warnings.catch_warnings(record=True) as caught:
        study = optuna.create_study(storage=open_storage(tmp_path), study_name="s")
        for choice in betas.choices:
            study.enqueue_trial({betas.field: choice})
            trial = study.ask()
            study.tell(trial, 0.0 if betas.suggest(trial) == choice else 1.0)
        again = open_storage(tmp_path)
        trials = again.get_all_trials(again.get_study_id_from_name("s"))
    assert [t.params[betas.field] for t in trials] == list(betas.choices)
    assert [t.value for t in trials] == [0.0, 0.0]
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []


def test_opening_a_storage_leaves_the_users_warning_filters_first_and_their_records_kept(tmp_path):
    """Each open_storage put its filter of Optuna's list-choice warning first: a user's -W error was
    overridden for it, and each call reset the once-per-location records of every warning (a 'default'
    warning shown again after each opening). Now it goes after them (before the first catch-all but
    'error'), where missing. Truth: Python's
    warnings machinery, and Optuna's own warning raised under the user's error filter."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # each warning once per location
        for _ in range(2):
            open_storage(tmp_path)
            warnings.warn("the user's own warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["the user's own warning"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # as python -W error::UserWarning
        open_storage(tmp_path)
        with pytest.raises(UserWarning, match="Choices for a categorical distribution"):
            optuna.distributions.CategoricalDistribution(([0.9, 0.99], [0.8, 0.9]))


def test_claims_beat_on_past_an_outage_when_warnings_are_errors():
    """Under -W error (a strict CI run) the warning of a refused beat raised in the beat thread and ended
    it: the claim beat no more after the outage, and read as dead a grace later. Truth: the claim's beat
    read back from the storage, renewed after the outage."""
    import warnings

    from optimlab.study.storage import claim_study, claims_held

    storage = _Refusing()
    (study_id,) = _new_studies(storage, 1)
    with warnings.catch_warnings(), claims_held(interval=0.005):
        warnings.simplefilter("error")
        key = claim_study(storage, study_id)
        storage.refuse = lambda study_id, value: True  # the database restarts
        time.sleep(0.05)
        storage.refuse = lambda study_id, value: False
        after_outage = storage.get_study_system_attrs(study_id)[key].get("beat")
        assert _until(lambda: storage.get_study_system_attrs(study_id)[key].get("beat") != after_outage)


def test_a_refused_beat_is_said_once_the_filters_let_it_be_said():
    """The beat loop marked a refused beat as said before its warning, which a filter turning warnings into
    errors swallows: the outage was never said. Truth: Python's warnings machinery recording the warning."""
    from optimlab.study.storage import claim_study, claims_held

    storage = _Refusing()
    (study_id,) = _new_studies(storage, 1)
    refusals = []
    with warnings.catch_warnings(record=True) as said, claims_held(interval=0.005):
        warnings.simplefilter("error")
        claim_study(storage, study_id)
        storage.refuse = lambda study_id, value: refusals.append(value) is None  # the database is down
        assert _until(lambda: len(refusals) >= 2)
        warnings.simplefilter("always")
        assert _until(lambda: any("could not write the beat" in str(w.message) for w in said))


def test_a_refused_withdrawal_keeps_the_blocks_own_error_when_warnings_are_errors():
    """Under -W error the warning of a claim the storage would not withdraw replaced the block's own
    exception. Truth: the exception that comes out of the block."""
    from optimlab.study.storage import claim_study, claims_held

    storage = _Refusing()
    (study_id,) = _new_studies(storage, 1)
    storage.refuse = lambda study_id, value: value is None  # the database is gone by the withdrawal
    with warnings.catch_warnings(), pytest.raises(_CallersOwn):
        warnings.simplefilter("error")
        with claims_held(interval=60):
            claim_study(storage, study_id)
            raise _CallersOwn


def test_a_block_never_takes_up_the_live_claim_of_another_threads_block():
    """held_claim took up any claim of this process still held, so a second comparison (another thread's
    claims_held block) resuming the same study took the first's live claim as its own, read no other
    claim live, and withdrew the first's claim as its block ended while the first still ran. Now a claim
    belongs to the block that made it. Truth: the claims read back from the storage."""
    import threading

    from optimlab.study.storage import claim_study, claims_held, held_claim, live_claims

    storage = optuna.storages.InMemoryStorage()
    (study_id,) = _new_studies(storage, 1)
    claimed, second_ended = threading.Event(), threading.Event()
    keys = {}

    def first():
        with claims_held(interval=0.005):
            keys["first"] = claim_study(storage, study_id)
            assert held_claim(storage, study_id) == keys["first"]
            claimed.set()
            second_ended.wait(5)
            keys["first after the second"] = storage.get_study_system_attrs(study_id)[keys["first"]]

    thread = threading.Thread(target=first)
    thread.start()
    claimed.wait(5)
    try:
        with claims_held(interval=0.005):
            assert held_claim(storage, study_id) is None
            assert len(live_claims(storage, study_id)) == 1  # the first block's, live
    finally:
        second_ended.set()
        thread.join()
    assert keys["first after the second"] is not None


def test_optunas_list_choice_warning_stays_quiet_under_a_default_filter_and_a_users_own_filter_wins(tmp_path):
    """The filter of Optuna's list-choice warning was appended after every other, so a catch-all one
    (python -W default, pytest -W default) matched first: ten warnings for a two-trial --space-file
    comparison. Now it goes just before the first catch-all that is not 'error'; a user's filter aimed
    at the warning still comes first. Truth: Python's warnings machinery recording Optuna's warning."""
    import warnings

    from optimlab.study.storage import _LIST_CHOICES_WARNING

    def warned_after_opening():
        open_storage(tmp_path)
        optuna.distributions.CategoricalDistribution(([0.9, 0.99], [0.8, 0.9]))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # as python -W default
        warned_after_opening()
    assert [str(w.message) for w in caught] == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.filterwarnings("always", _LIST_CHOICES_WARNING, UserWarning)  # the user's own, first
        warned_after_opening()
    assert [str(w.message)[:40] for w in caught] == [
        "Choices for a categorical distribution s"
    ] * 2  # a choice each


def _libpq_password(url):
    return pytest.importorskip("psycopg2.extensions").parse_dsn(url)["password"]


def _mysqldb_password(url):
    import sqlalchemy
    from sqlalchemy.dialects.mysql.mysqldb import MySQLDialect_mysqldb

    return MySQLDialect_mysqldb().create_connect_args(sqlalchemy.engine.make_url(url))[1]["passwd"]


@pytest.mark.parametrize(
    ("url", "shown", "drivers_password"),
    [
        (
            "postgresql://u@host/db?sslmode=require&password=secret",
            "postgresql://u@host/db?sslmode=require&password=***",
            _libpq_password,
        ),
        ("mysql://host/db?passwd=secret&user=u", "mysql://host/db?passwd=***&user=u", _mysqldb_password),
    ],
    ids=["libpq", "mysqldb"],
)
def test_a_password_in_a_urls_query_string_is_hidden(url, shown, drivers_password):
    """A password given in the query string (libpq's password=, MySQL's passwd=) was shown in full on
    pages and in errors. Truth: the password the driver's own URL reader finds there."""
    from optimlab.study.storage import without_passwords

    assert drivers_password(url) == "secret"
    assert (
        without_passwords(f"optimlab compare sgd --storage {url}")
        == f"optimlab compare sgd --storage {shown}"
    )


@pytest.mark.parametrize(
    "storage_args",
    [
        ["--storage=postgresql://u:p!ss@h/db"],
        ["--storage", "postgresql://u:p!ss@h/db"],
        ["--storage", "postgresql://u:p ss@h/db"],
        ["--storage", "postgresql://u:it's@h/db"],
    ],
    ids=["flag=url", "quoted", "space", "quote"],
)
def test_a_password_in_a_quoted_or_flag_joined_url_is_hidden_in_a_typed_command(storage_args):
    """A page keeps the command as shlex.join wrote it, which quotes a password with '!', a space or a
    quote: the password of a quoted URL, or one joined to its flag (--storage=URL), was shown in full.
    Truth: the URL shlex reads back from the shown command, parsed by SQLAlchemy."""
    import shlex

    import sqlalchemy

    from optimlab.study.storage import without_passwords

    typed = shlex.join(["optimlab", "compare", "sgd", *storage_args])
    url = sqlalchemy.engine.make_url(storage_args[-1].removeprefix("--storage="))
    words = shlex.split(without_passwords(typed))
    shown = sqlalchemy.engine.make_url(words[-1].removeprefix("--storage="))
    assert words[:3] == ["optimlab", "compare", "sgd"] and len(words) == 3 + len(storage_args)
    assert (
        (shown.password, shown.host, shown.database) == ("***", url.host, url.database) == ("***", "h", "db")
    )


def test_a_storage_url_with_a_space_in_its_password_is_shown_without_it():
    """A location was split at spaces, so a URL whose password has one kept the part after it on pages.
    Truth: SQLAlchemy's parse of the URL and of the location shown."""
    import sqlalchemy

    from optimlab.study.storage import location_shown

    url = "postgresql://u:p ss@h/db"
    assert sqlalchemy.engine.make_url(url).password == "p ss"
    assert location_shown(url) == "postgresql://u:***@h/db"


def test_a_sqlite_uri_url_is_checked_for_the_file_it_names_and_shown_as_typed(tmp_path):
    """sqlite:///file:PATH?uri=true (SQLAlchemy's documented URI form) was refused for resuming as 'no
    SQLite file 'file:PATH'' though PATH was there, its URL shown as 'file%3A'. Now the file the URI names
    is checked, and the URL shown as typed. Truth: the study Optuna created in that file."""
    optuna.create_study(storage=f"sqlite:///{tmp_path / 'x.db'}", study_name="s")
    for flag in ("true", "True", "1"):  # SQLAlchemy reads each as true
        url = f"sqlite:///file:{tmp_path / 'x.db'}?uri={flag}"
        assert [s.study_name for s in open_storage(url, create=False).get_all_studies()] == ["s"]
    missing = f"sqlite:///file:{tmp_path / 'y.db'}?uri=true"  # opened, SQLite would create it
    with pytest.raises(OptimlabError) as refused:
        open_storage(missing, create=False)
    assert str(refused.value).startswith(
        f"no study at {missing!r}: no SQLite file '{tmp_path / 'y.db'}' there;"
    )
    assert not (tmp_path / "y.db").exists()


@pytest.mark.parametrize("form", ["sqlite:///~/s.db", "sqlite:///file:~/s.db?uri=true"])
def test_a_sqlite_file_under_home_opens_where_the_check_looked(tmp_path, monkeypatch, form):
    """`--storage 'sqlite:///~/s.db'`: the checks read ~ as the home, but SQLAlchemy opened a file under a
    folder named '~' in the current one (or refused it there). Now the file opened is the one checked.
    Truth: Optuna's own study, made in $HOME/s.db through a plain path."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    optuna.create_study(storage=f"sqlite:///{tmp_path / 'home' / 's.db'}", study_name="s")
    assert [s.study_name for s in open_storage(form, create=False).get_all_studies()] == ["s"]
    assert [s.study_name for s in open_storage(form).get_all_studies()] == ["s"]
    assert not (tmp_path / "~").exists()


@pytest.mark.parametrize("create", [True, False])
def test_a_sqlite_file_in_the_home_of_no_user_is_refused_naming_the_storage(create):
    """open_storage('sqlite:///~nosuchuser/x.db') (optimlab.compare's storage=) ended in pathlib's
    RuntimeError 'Could not determine home directory.'. Truth: the password database knows no such user."""
    import pwd

    user = "optimlab-no-such-user"
    with pytest.raises(KeyError):
        pwd.getpwnam(user)
    with pytest.raises(InvalidValueError) as refused:
        open_storage(f"sqlite:///~{user}/x.db", create=create)
    assert refused.value.field == "storage" and f"~{user} names no user of this machine" in str(refused.value)
