"""Acceptance: ``optimlab compare`` runs on every registered workload, from a fresh process.

A fresh interpreter imports nothing before the verb does, so this catches a workload registered in a
module that the verb's lookup never loads (``compare`` once offered 4 of 16).
"""

import csv
import math
import os
import subprocess
import sys

from optimlab.registry import get_registry


def test_compare_runs_every_registered_workload_and_ranks_its_methods(mnist_folder, cifar_folder):
    names = get_registry("workload").names()
    folder = mnist_folder  # the same tmp_path as cifar_folder: one folder holds both kinds of files
    command = [
        sys.executable,
        "-m",
        "optimlab.cli.app",
        "compare",
        "--workload",
        ",".join(names),
        "--data-dir",
        str(folder),
        # One method, 3 steps: the verb runs end to end; training longer would only test training.
        "--compare",
        "training.steps=3",
        "--budget",
        "1",
        "--seeds",
        "1",
        "--no-progress",
        "--format",
        "json",
        "--out",
        str(folder / "out"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=900
    )  # a guard against a hang only: a shared CI machine is slow
    assert done.returncode == 0, done.stderr[-3000:]
    with open(folder / "out" / "leaderboard.csv") as handle:
        board = list(csv.DictReader(handle))
    assert sorted(row["study"] for row in board) == sorted(names)
    assert all(row["rank"] == "1" and math.isfinite(float(row["test_mean"])) for row in board)
