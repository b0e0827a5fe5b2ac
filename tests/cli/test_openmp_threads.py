"""OMP_NUM_THREADS as libgomp itself reads it: the CLI warns of and unsets exactly the values libgomp refuses
(it prints 'Invalid value for environment variable OMP_NUM_THREADS' and goes on with every core)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimlab.cli.app import openmp_reads

LIBGOMP = Path(importlib.util.find_spec("torch").origin).parent / "lib" / "libgomp.so.1"


def _libgomp_reads(values: list[str]) -> list[bool]:
    """libgomp's own verdict on each value: loaded alone (its constructor reads the variable), it says
    nothing; each in a process of its own, started together."""
    code = f"import ctypes; ctypes.CDLL({str(LIBGOMP)!r})"
    started = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env={**os.environ, "OMP_NUM_THREADS": value},
            stderr=subprocess.PIPE,
            text=True,
        )
        for value in values
    ]
    return ["Invalid value" not in process.communicate()[1] for process in started]


@pytest.mark.skipif(not LIBGOMP.is_file(), reason="torch's libgomp (Linux) is not here")
def test_the_thread_counts_read_are_libgomps():
    """A non-ASCII digit ('1' and an Arabic-Indic one, which \\d took), a count past a C long (libgomp
    reads strtoul's value as a long: 2**63 and 99999999999999999999 refused, 2**63 - 1 taken), a Unicode
    space before a count, and a sign libgomp takes. Truth: libgomp loaded with each value, and its
    'Invalid value' line."""
    values = ["99999999999999999999", str(2**63), str(2**63 - 1), "1\u0661", "\u20033", "+3"]
    assert [openmp_reads(value) for value in values] == _libgomp_reads(values)
