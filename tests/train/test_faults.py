"""Fault injection: a run killed (SIGKILL) at 20 random moments, resumed each time, ends bitwise equal to
an uninterrupted run, with a metrics log that has every step once.

Each segment runs in a forked child (no interpreter start-up: 20 segments in seconds) that dies by a
real SIGKILL at a point drawn from a seeded generator: after some steps, inside a checkpoint's write
(the temporary file torn at a random byte), between the renames that replace the latest checkpoint,
or at a random moment chosen by the parent's timer.
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
import traceback

import pytest
import torch

from optimlab.recipe import Recipe
from optimlab.train import Callback, train
from optimlab.train.checkpoint import has_checkpoint, read_checkpoint

RECIPE = Recipe.from_dict(
    {
        "data": {"name": "digits", "scaling": "standardize"},
        "model": {"name": "mlp", "width": 16},
        "optimizer": {"name": "adam", "lr": 3e-3},
        "schedule": {"name": "cosine"},  # the scheduler's state must resume too
        "training": {"epochs": 4, "batch_size": 128, "checkpoint_every": 4},  # 9 steps an epoch
    }
)
KILLS = 20


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class DieAfter(Callback):
    def __init__(self, steps: int) -> None:
        self.left = steps

    def on_step_end(self, state) -> None:
        self.left -= 1
        if self.left == 0:
            die()


def die_in_call(name: str, call: int, rng: random.Random) -> None:
    """Make the ``call``-th ``os.<name>`` of this (child) process its last: a rename is done or not,
    an fsync'd file is first cut at a random byte of its last 200 (a write the kill tore)."""
    real, calls = getattr(os, name), [0]

    def dying(*args):
        calls[0] += 1
        if calls[0] == call:
            if name == "fsync" and stat.S_ISREG(os.fstat(args[0]).st_mode):
                size = os.fstat(args[0]).st_size  # what was written since the last fsync is at risk
                # by its path: optimlab.atomic fsyncs through a descriptor opened read-only
                os.truncate(f"/proc/self/fd/{args[0]}", rng.randrange(max(0, size - 200), size + 1))
            elif rng.random() < 0.5:
                real(*args)
            die()
        return real(*args)

    setattr(os, name, dying)


def segment(folder, fault: str, rng: random.Random) -> int:
    """Run (or resume) the training in a forked child that meets ``fault``; its wait status."""
    resume = has_checkpoint(folder) or (folder / "recipe.yaml").exists()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            callbacks = []
            if fault == "steps":
                callbacks = [DieAfter(rng.randint(1, 12))]
            elif fault in ("replace", "fsync"):
                die_in_call(fault, rng.randint(1, 6), rng)
            train(RECIPE, folder, resume=resume, callbacks=callbacks)
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    if fault == "timer":
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(pid, signal.SIGKILL)  # a child that already ended is a zombie: no error
    _, status = os.waitpid(pid, 0)
    return status


def test_a_run_killed_at_20_random_moments_ends_bitwise_equal_to_an_uninterrupted_one(tmp_path):
    # First, in this process: the children fork from it with every lazy import done (seconds each).
    reference = train(RECIPE, tmp_path / "reference")
    rng = random.Random(13)
    killed = tmp_path / "killed"
    faults = [rng.choice(["steps", "steps", "replace", "fsync", "timer"]) for _ in range(KILLS)]
    deaths = []
    for fault in faults:
        status = segment(killed, fault, rng)
        assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, f"the segment failed ({fault})"
        deaths.append(os.WIFSIGNALED(status))
        if not os.WIFSIGNALED(status):  # it finished before its fault: start again from scratch
            for child in killed.iterdir():
                child.unlink()
    assert sum(deaths) >= KILLS - 3  # nearly every fault hit a live run
    assert segment(killed, "none", rng) == 0

    got = torch.load(killed / "model.pt", weights_only=True)["model"]
    want = torch.load(tmp_path / "reference" / "model.pt", weights_only=True)["model"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert json.loads((killed / "result.json").read_text())["metrics"] == reference.metrics
    lines = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "train_loss" in line] == list(range(1, 37))
    assert [line["step"] for line in lines if "val_loss" in line] == [9, 18, 27, 36]


def test_ctrl_c_on_the_command_line_saves_prints_the_resume_command_and_resume_continues(tmp_path):
    """A real process and the CLI: SIGINT stops after the step, exit 130, the command that resumes."""
    out = tmp_path / "run"
    long = RECIPE.with_updates({"training.steps": 10**6, "training.checkpoint_every": None})
    long.save(tmp_path / "recipe.yaml")
    command = [sys.executable, "-c", "from optimlab.cli.app import main; main()"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [*command, "train", str(tmp_path / "recipe.yaml"), "--out", str(out), "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not has_checkpoint(out):  # the first epoch's checkpoint: training is under way
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    printed = " ".join((stdout + stderr).split())  # the terminal may wrap the line
    assert f"optimlab train --resume {out}" in printed and "Traceback" not in stderr
    taken = read_checkpoint(out)["state"]["step"]
    assert json.loads((out / "result.json").read_text())["steps"] == taken

    # Resumed here (a second process start costs seconds): a longer or shorter run may continue it.
    saved = Recipe.load(out / "recipe.yaml")
    resumed = train(saved.with_updates({"training.steps": taken + 5}), out, resume=True)
    result = json.loads((out / "result.json").read_text())
    assert resumed.status == result["status"] == "completed" and result["steps"] == taken + 5
    assert result["recipe_changes"] == [
        {"field": "training.steps", "from": 10**6, "to": taken + 5, "step": taken}
    ]


@pytest.fixture(autouse=True)
def _one_thread():
    """Forked children inherit the parent's torch threads; one keeps each segment deterministic."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


_TWO_CTRL_C = """
import os, signal, sys, torch
from optimlab.recipe import Recipe
from optimlab.train import Callback, train

real_save = torch.save

def save_during_second_ctrl_c(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, in the middle of the first save
    real_save(*args, **kwargs)

class FirstCtrlC(Callback):
    def on_step_end(self, state):
        if state.step == 3:
            torch.save = save_during_second_ctrl_c
            os.kill(os.getpid(), signal.SIGINT)

recipe = Recipe.from_dict({
    "data": {"name": "digits", "scaling": "standardize"},
    "model": {"name": "mlp", "width": 8},
    "training": {"steps": 1000, "batch_size": 128},
})
train(recipe, sys.argv[1], callbacks=[FirstCtrlC()])
"""


def test_a_second_ctrl_c_during_the_first_save_keeps_the_checkpoint(tmp_path):
    """Ctrl-C twice: the save the first one started completes, and the run resumes from its step."""
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _TWO_CTRL_C, str(out)], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr  # the second Ctrl-C still stops
    assert read_checkpoint(out)["state"]["step"] == 3
    assert not list(out.glob(".*.partial"))


def said_under_a_file_size_limit(limit: int, cli, *argv: str) -> tuple[int, str, str]:
    """``cli(*argv)`` in a forked child whose files cannot grow past ``limit`` bytes (RLIMIT_FSIZE: a write
    past it fails with EFBIG, as one on a full disk with ENOSPC): (exit code, stdout, stderr), a traceback
    as exit code 1 and the error's line."""
    import resource

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            try:
                said = cli(*argv)
            except BaseException as error:  # a traceback, as the command line prints one
                said = (1, "", f"{type(error).__name__}: {error}")
            os.write(write, json.dumps(said).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        said = answer.read()
    os.waitpid(pid, 0)
    return tuple(json.loads(said))


def test_a_checkpoint_the_disk_refuses_ends_train_in_one_line_and_resume_continues(tmp_path, cli):
    """A full disk while train wrote a checkpoint: torch's zip writer raised RuntimeError ('unexpected pos
    42560 vs 42448') with a 70-line traceback and exit code 1, naming neither the file nor the reason. In a
    forked child whose files cannot grow past 12 kB (RLIMIT_FSIZE: EFBIG, as ENOSPC on a full disk) the
    recipe and the log are written, the checkpoint is not: one line names it, the OS's reason and the
    command that continues; once the limit is gone the run resumes and ends bitwise equal to a run never cut."""
    small = Recipe.from_dict(
        {"data": {"name": "iris"}, "model": {"name": "mlp", "width": 16}, "optimizer": {"name": "adam"},
         "training": {"epochs": 2, "batch_size": 32, "checkpoint_every": 2}}  # 6 steps, a 25 kB checkpoint
    )  # fmt: skip
    reference = train(small, tmp_path / "reference")
    recipe, out = tmp_path / "recipe.yaml", tmp_path / "run"
    recipe.write_text(small.to_yaml())
    code, stdout, stderr = said_under_a_file_size_limit(
        12_000, cli, "train", str(recipe), "--out", str(out), "--no-progress"
    )
    assert (code, stdout) == (5, "")  # a file not written (optimlab -h)
    assert stderr == (
        f"error: cannot write '{out / 'checkpoint.pt'}': File too large; once there is room for "
        f"it, optimlab train --resume {out} (resume=True in Python) continues the run from its last "
        "checkpoint\n"
    )
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", "recipe.yaml"]  # no partial file

    assert train(small, out, resume=True).metrics == reference.metrics
    got = torch.load(out / "model.pt", weights_only=True)["model"]
    want = torch.load(tmp_path / "reference" / "model.pt", weights_only=True)["model"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)


def test_a_torch_file_the_disk_refuses_raises_the_os_error_naming_the_file(tmp_path):
    """model.pt, as a checkpoint, on a full disk: torch.save given a path raised RuntimeError ('unexpected
    pos'), the reason and the file unnamed. Under RLIMIT_FSIZE in a forked child: EFBIG, naming model.pt."""
    import errno
    import resource

    from optimlab.atomic import atomic_path
    from optimlab.train.checkpoint import torch_save_file

    path = tmp_path / "model.pt"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (4_096, resource.RLIM_INFINITY))
            with atomic_path(path) as partial:
                torch_save_file({"model": {"weight": torch.zeros(4_096)}}, partial)
        except OSError as error:
            code = 3 if (error.errno, error.filename) == (errno.EFBIG, str(path)) else 4
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3
    assert list(tmp_path.iterdir()) == []


def test_a_metrics_log_the_disk_refuses_is_named(tmp_path, cli):
    """The metrics log's buffered lines refused by a full disk: 'error: No space left on device', naming no
    file (and its close in on_exception raised again over it). Under a 2 kB file-size limit the log
    passes it at an epoch's flush; the line names the log."""
    recipe, out = tmp_path / "recipe.yaml", tmp_path / "run"
    recipe.write_text(
        Recipe.from_dict(
            {"data": {"name": "iris"}, "training": {"epochs": 10, "checkpoint_every": 1000}}
        ).to_yaml()
    )
    code, stdout, stderr = said_under_a_file_size_limit(
        2_000, cli, "train", str(recipe), "--out", str(out), "--no-progress"
    )
    assert (code, stdout) == (5, "")  # a file not written (optimlab -h)
    assert stderr == (
        f"error: cannot write '{out / 'metrics.jsonl'}': File too large; once there is room for it, optimlab "
        f"train --resume {out} (resume=True in Python) continues the run from its last checkpoint\n"
    )


def test_weights_the_disk_refuses_at_the_end_are_written_by_the_resume_it_names(tmp_path, monkeypatch):
    """The final model.pt on a full disk (torch's writer refusing as the OS does: ENOSPC, no file named)
    said 'model.pt: No space left on device' and no way on; the run's last checkpoint holds it all. The
    line names the file and the resume, which (the disk freed) ends as the run never cut: the same result."""
    import errno

    import optimlab.train.run
    from optimlab.errors import OptimlabError

    small = Recipe.from_dict({"data": {"name": "iris"}, "training": {"epochs": 2}})
    reference = train(small, tmp_path / "reference")
    out = tmp_path / "run"

    def full_disk(payload, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(optimlab.train.run, "torch_save_file", full_disk)
        with pytest.raises(OptimlabError) as refused:
            train(small, out)
    assert str(refused.value) == (
        f"cannot write '{out / 'model.pt'}': No space left on device; once there is room for it, optimlab "
        f"train --resume {out} (resume=True in Python) continues the run from its last checkpoint"
    )
    assert train(small, out, resume=True).metrics == reference.metrics and (out / "model.pt").is_file()
