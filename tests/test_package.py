"""The package's own namespace: the Python API's verbs by their short names, loaded on first use."""

import subprocess
import sys

import pytest

import optimlab


def test_the_verbs_are_their_homes_functions():
    """optimlab.fit did not exist (only optimlab.train.fit) beside optimlab.diagnose and optimlab.compare."""
    from optimlab.doctor import diagnose, find_lr
    from optimlab.study.user_compare import compare
    from optimlab.train import fit

    assert (optimlab.fit, optimlab.find_lr, optimlab.diagnose, optimlab.compare) == (
        fit,
        find_lr,
        diagnose,
        compare,
    )
    assert {"fit", "find_lr", "diagnose", "compare"} <= set(optimlab.__all__)
    with pytest.raises(AttributeError, match="module 'optimlab' has no attribute 'fitt'"):
        optimlab.fitt  # noqa: B018


def test_importing_the_package_loads_no_torch_until_a_verb_is_used():
    code = "import sys, optimlab; print('torch' in sys.modules); optimlab.fit; print('torch' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False", "True"]


def test_python_dash_m_optimlab_is_the_command():
    """``python -m optimlab`` failed ('No module named optimlab.__main__'), where a virtual environment's
    scripts are not on PATH."""
    done = subprocess.run(
        [sys.executable, "-m", "optimlab", "train", "--lr", "-1"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "--lr" in done.stderr and "Traceback" not in done.stderr
    version = subprocess.run([sys.executable, "-m", "optimlab", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"optimlab {optimlab.__version__}"
