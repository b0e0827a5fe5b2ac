"""Fault injection: a study killed (SIGKILL) at 20 random moments, its journal torn by some of the kills,
resumes each time and ends with the trials of an uninterrupted study.

Each segment runs in a forked child (no interpreter start-up) that dies by a real SIGKILL at a point
drawn from a seeded generator: in the middle of a journal append (the file first cut at a random byte
of the record being written, as a crash mid-write leaves it), or at a random moment of the parent's
timer, after which the parent may also cut the journal's last record at a random byte.
"""

from __future__ import annotations

import os
import random
import signal
import stat
import time
import traceback

import optuna
import pytest
import torch

import optimlab.study.backends.local
from optimlab.study import run_study
from optimlab.study.run import counted
from optimlab.study.storage import JOURNAL_NAME, load_records, open_storage, optimlab_studies
from study.test_run import tiny

KILLS = 20
SPEC = tiny(optimizers=("sgd", "adam"), budget=2, seeds=1)  # 2 x (2 + 1) trials of one epoch


def die_in_fsync(call: int, rng: random.Random) -> None:
    """The ``call``-th fsync of a file in this (child) process cuts it at a random byte of its last 300
    (the record being appended) and dies."""
    real, calls = os.fsync, [0]

    def dying(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            calls[0] += 1
            if calls[0] == call:
                size = os.fstat(fd).st_size
                os.ftruncate(fd, rng.randrange(max(0, size - 300), size + 1))
                os.kill(os.getpid(), signal.SIGKILL)
        return real(fd)

    os.fsync = dying


def segment(folder, fault: str, rng: random.Random) -> int:
    """Run (or resume) the study in a forked child that meets ``fault``; its wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            if fault == "append":
                die_in_fsync(rng.randint(1, 40), rng)
            # any study: one killed between its creation and its spec is taken over by a resume alone
            run_study(SPEC, folder, resume=bool(open_storage(folder).get_all_studies()))
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    if fault == "timer":
        time.sleep(rng.uniform(0.0, 1.5))
        os.kill(pid, signal.SIGKILL)  # a child that already ended is a zombie: no error
    _, status = os.waitpid(pid, 0)
    if fault == "timer" and rng.random() < 0.5 and (folder / JOURNAL_NAME).exists():
        journal = folder / JOURNAL_NAME  # as if the kill had torn the last append
        size = journal.stat().st_size
        os.truncate(journal, rng.randrange(max(0, size - 300), size + 1))
    return status


def outcome(records):
    return {(r.study, r.key): (r.params, r.seed, r.value, r.metrics) for r in records}


def test_a_study_killed_at_20_random_moments_resumes_each_time_to_the_same_trials(tmp_path):
    reference = run_study(SPEC, tmp_path / "reference")  # first: the children fork with imports done
    rng = random.Random(7)
    killed = tmp_path / "killed"
    deaths = 0
    for _ in range(KILLS):
        fault = rng.choice(["append", "append", "timer"])
        status = segment(killed, fault, rng)
        assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, f"the segment failed ({fault})"
        deaths += os.WIFSIGNALED(status)
        if not os.WIFSIGNALED(status):  # it finished before its fault: start again from scratch
            for child in killed.iterdir():
                child.unlink()
    assert deaths >= KILLS - 4  # nearly every fault hit a live study
    assert segment(killed, "none", rng) == 0

    resumed = run_study(SPEC, killed, resume=True)
    assert len(reference.records) == 6 and outcome(resumed.records) == outcome(reference.records)
    raw = load_records(open_storage(killed), [SPEC.study_name(m) for m in SPEC.methods])
    assert len(counted(raw)) == sum(r.finished for r in raw)  # no key finished twice
    plain = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(killed / JOURNAL_NAME))
    )
    assert len(plain.get_all_studies()) == 2  # Optuna itself reads the repaired journal


def killed_in(spec, folder, key: str) -> None:
    """Run (or resume) ``spec`` at ``folder`` in a forked child killed (SIGKILL) in the trial of ``key``,
    after it was taken and claimed."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        real = optimlab.study.backends.local.run_trial

        def dying(study, trial, spec, method):
            if trial.user_attrs["key"] == key:
                os.kill(os.getpid(), signal.SIGKILL)
            real(study, trial, spec, method)

        optimlab.study.backends.local.run_trial = dying
        try:
            run_study(spec, folder, resume=bool(optimlab_studies(open_storage(folder), spec.name)))
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)


def test_a_tpe_study_killed_in_a_trial_resumes_to_the_values_an_uninterrupted_one_draws(tmp_path):
    """TPE's seed counted the interrupted trial as finished, and the key run again ran after the keys
    planned behind it: a TPE study killed in its third trial resumed with other learning rates."""
    spec = tiny(optimizers=("sgd",), protocol="tpe", budget=4, seeds=1)
    killed_in(spec, tmp_path / "killed", "tune/2")
    resumed = run_study(spec, tmp_path / "killed", resume=True)
    reference = run_study(spec, tmp_path / "reference")
    assert len(reference.records) == 5 and outcome(resumed.records) == outcome(reference.records)


def test_a_key_killed_in_three_runs_runs_again_when_resumed(tmp_path):
    """A key interrupted three times over all runs was given up for good: a bench killed three times (by the
    user) in the same batch of trials resumed, ended with exit 0 and reported the method without them."""
    spec = tiny(budget=2, seeds=1)
    for _ in range(3):
        killed_in(spec, tmp_path / "killed", "tune/0")
    resumed = run_study(spec, tmp_path / "killed", resume=True)
    reference = run_study(spec, tmp_path / "reference")
    assert len(reference.records) == 3 and outcome(resumed.records) == outcome(reference.records)


@pytest.fixture(autouse=True)
def _one_thread():
    """Forked children inherit the parent's torch threads; one keeps each trial deterministic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
