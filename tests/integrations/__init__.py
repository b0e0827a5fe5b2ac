"""Tests of optimlab.integrations; :func:`train_with_tracker` runs `optimlab train --log` on a tiny run,
:func:`train_three_sessions` trains one in three sessions, a tracker added at the third;
:func:`logged_metrics` is what a tracker of a run folder holds; :func:`store_copy` a copy of the
MLflow store conftest's made_store made once; :func:`forked` a process of its own that starts with what
this one imported."""

import contextlib
import json
import os
import signal
import sqlite3
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from optimlab.cli.app import main
from optimlab.report.run_folder import AXES


def train_with_tracker(out: Path, tracker: str) -> None:
    """`optimlab train` of a small MLP on iris for 12 steps into ``out``, logging to ``tracker``."""
    with pytest.raises(SystemExit) as done:
        main(
            ["train", "--dataset", "iris", "--width", "8", "--steps", "12", "--batch-size", "32",
             "--out", str(out), "--no-progress", "--log", tracker]
        )  # fmt: skip
    assert done.value.code == 0


def train_three_sessions(out: Path, tracker: str) -> list[dict]:
    """`optimlab train` on iris trained to step 12, resumed to 20, both without a tracker, then resumed to
    28 logging to ``tracker``; each session's result.json as it ended."""
    ended = []
    for steps, log in (("12", []), ("20", []), ("28", ["--log", tracker])):
        again = ["--resume", str(out)] if ended else []
        first = ["--dataset", "iris", "--width", "8", "--batch-size", "32", "--out", str(out)]
        with pytest.raises(SystemExit) as done:
            main(["train", *(again or first), "--steps", steps, "--no-progress", *log])
        assert done.value.code == 0
        ended.append(json.loads((out / "result.json").read_text()))
    return ended


def logged_metrics(out: Path, *earlier: dict) -> dict[str, list[tuple[int, float]]]:
    """``metric -> [(step, value)]`` a tracker holds of run folder ``out``: every metrics.jsonl line's
    metric at its step, then the final scores of its result.json that its last evaluation did not hold
    (test_*) at the run's last step, after those of the ``earlier`` result.json of its sessions that
    ended before a resume took it further."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for line in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()):
        for key, value in line.items():
            if key not in AXES:
                expected.setdefault(key, []).append((line["step"], value))
    results = [
        *earlier,
        *([json.loads((out / "result.json").read_text())] if (out / "result.json").is_file() else []),
    ]
    for result in results:
        for key, value in result["metrics"].items():
            if (result["steps"], value) not in expected.get(key, []):
                expected.setdefault(key, []).append((result["steps"], value))
    return {key: sorted(points, key=lambda point: point[0]) for key, points in expected.items()}


def store_copy(made_store: Path, folder: Path) -> str:
    """The URI of a copy of ``made_store`` in ``folder``, its experiments' and run's artifacts there, as
    its client would have made it there (it writes them as absolute paths under its working folder)."""
    copy = folder / "mlflow.db"
    copy.write_bytes(made_store.read_bytes())
    made, here = str(made_store.parent / "mlruns"), str(folder / "mlruns")
    with contextlib.closing(sqlite3.connect(copy)) as db, db:
        db.execute(
            "UPDATE experiments SET artifact_location = replace(artifact_location, ?, ?)", (made, here)
        )
        db.execute("UPDATE runs SET artifact_uri = replace(artifact_uri, ?, ?)", (made, here))
    return f"sqlite:///{copy}"


def forked(work: Callable[[], None], folder: Path) -> int:
    """The pid of a forked child of this process that runs ``work`` in ``folder`` and exits 0 (1 with its
    traceback on stderr), unless ``work`` exits itself (``os._exit``); it never returns into pytest. A
    process of its own, as a ``python -c`` one, that starts with the modules this one imported: MLflow's
    and optimlab's import (torch's) are most of such a process's CPU (3 s each)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(folder)
            work()
            code = 0
        except BaseException:
            os.write(2, traceback.format_exc().encode())
        finally:
            os._exit(code)
    return pid


def exit_code(pid: int, seconds: float = 300.0) -> int:
    """The exit code of child ``pid`` once it has exited (minus the signal that killed it); a child still
    running after ``seconds`` is killed, and fails the test."""
    deadline = time.monotonic() + seconds
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child {pid} still ran after {seconds:g} s")
        time.sleep(0.05)
    return os.waitstatus_to_exitcode(done[1])
