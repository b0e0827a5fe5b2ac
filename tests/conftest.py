"""Shared test setup: one torch thread per test process (the suite runs under xdist on 2 cores)."""

import importlib
import os
import random
import textwrap

# Two processes with 2 torch threads each made a training loop 100x slower on this 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def seeded_random():
    """Every test starts from the same global random state, whichever worker runs it and in what order:
    a test drawing ``torch.randn`` unseeded sees the same draws in CI as here."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def write_modules(tmp_path_factory):
    """``write_modules(name=source, ...)`` writes the user's modules into a folder on ``sys.path`` (for
    tests that name code by import path, ``mod:attr``) and returns that folder."""
    folder = tmp_path_factory.mktemp("importable")

    def write(**sources: str):
        for name, source in sources.items():
            (folder / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return folder

    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        yield write


USER_PACKAGE_FOLDER = os.path.join(os.path.dirname(__file__), "fixtures")


@pytest.fixture
def user_package(monkeypatch):
    """``tests/fixtures`` on ``sys.path`` and ``PYTHONPATH``: the package ``optimlab_userpkg`` (a stable
    MLP, data factories) imports by path here and in every process started from here (workers, Ray)."""
    monkeypatch.syspath_prepend(USER_PACKAGE_FOLDER)
    paths = [USER_PACKAGE_FOLDER, *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    return USER_PACKAGE_FOLDER


@pytest.fixture
def cli(capsys):
    """The command line run in this process: ``cli("train", "--lr", "inf")`` -> (exit code, stdout, stderr)."""
    from optimlab.cli.app import main

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(list(argv))
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
