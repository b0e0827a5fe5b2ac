"""``optimlab train`` on a built-in set, in a fresh interpreter: it imports torch and nothing it does not use.

Dynamo and Inductor (about 3 s of CPU together), scikit-learn with SciPy (about 2 s), pandas and
matplotlib stay out of a run that neither compiles nor plots (benchmarks/cli_startup.py times it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from optimlab import __version__
from optimlab.cli import _catalog

_RUN = """
import json, sys
from optimlab.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
unused = {"torch._dynamo", "torch._inductor", "sklearn", "scipy", "pandas", "matplotlib", "sympy"}
print(json.dumps({"code": code, "imported": sorted(unused & set(sys.modules))}))
"""


def test_a_small_training_run_imports_no_compiler_scikit_learn_or_plotting(tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.getbasetemp() / "catalog-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    _catalog.rows()  # the catalog of names, built here: a cold one imports every module once
    out = tmp_path_factory.mktemp("startup") / "run"
    args = [
        "train",
        "--dataset",
        "digits",
        "--model",
        "mlp",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", _RUN, *args], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome == {"code": 0, "imported": []}
    assert json.loads((out / "result.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("value", ["abc", "0", "-1", "", "2,0", "99999999999999999999"])
def test_a_thread_count_openmp_cannot_read_is_said_in_one_line_and_not_passed_on(cli, monkeypatch, value):
    """OMP_NUM_THREADS=abc (0, -1) was left to libgomp, which printed 'Invalid value for environment
    variable OMP_NUM_THREADS' as torch loaded, naming no value nor an accepted one, and used every core.
    One warning line names the value, the variable, the accepted values and what is used instead; the
    variable is unset before torch would load (libgomp reads none, so says nothing). The verb runs on.
    The accepted range has libgomp's upper end (a C long's largest, tests/cli/test_openmp_threads.py):
    'a whole number of at least 1' was said of 99999999999999999999, one."""
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    code, out, err = cli("--version")
    assert (code, out) == (0, f"optimlab {__version__}\n")
    assert err == (
        f"warning: OMP_NUM_THREADS={value!r} is not a thread count: accepted a whole number from 1 to "
        f"{2**63 - 1} (or one per nesting level, 4,2); optimlab goes on with torch's own count (a verb's "
        "--threads N sets one)\n"
    )
    assert "OMP_NUM_THREADS" not in os.environ


@pytest.mark.parametrize("value", ["1", "4,2", " 3 "])
def test_a_thread_count_openmp_reads_is_kept_without_a_word(cli, monkeypatch, value):
    """Truth: libgomp's own reading (torch imported with each of these says nothing; with abc, 0, -1 or
    an empty value it prints 'Invalid value')."""
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert cli("--version")[2] == ""
    assert os.environ["OMP_NUM_THREADS"] == value
