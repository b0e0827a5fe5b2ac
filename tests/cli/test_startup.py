"""``optimlab train`` on a built-in set, in a fresh interpreter: it imports torch and nothing it does not use.

Dynamo and Inductor (about 3 s of CPU together), scikit-learn with SciPy (about 2 s), pandas and
matplotlib stay out of a run that neither compiles nor plots (benchmarks/cli_startup.py times it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

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
