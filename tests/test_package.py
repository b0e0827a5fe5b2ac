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
