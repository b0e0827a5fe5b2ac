"""The backends' table: every row names a module with ``execute``; the options check their values."""

import importlib
import inspect

import pytest

from optimlab.errors import InvalidValueError
from optimlab.study import run_study
from optimlab.study.backends import BACKENDS, BackendOptions


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_row_names_a_module_whose_execute_takes_the_shared_arguments(name):
    execute = importlib.import_module(BACKENDS[name].module).execute
    assert list(inspect.signature(execute).parameters) == [
        "storage",
        "location",
        "targets",
        "options",
        "poll",
    ]


def test_options_hold_the_defaults_and_reject_bad_values():
    assert BackendOptions.given(workers=None, members=8) == BackendOptions(workers=2, members=8)
    with pytest.raises(InvalidValueError, match="members"):
        BackendOptions(members=0)
    with pytest.raises(InvalidValueError, match="workers"):
        BackendOptions(workers=-1)


def test_an_unknown_backend_names_the_table(tmp_path):
    with pytest.raises(InvalidValueError, match="local, batched, workers, ray"):
        run_study(None, tmp_path, backend="slurm")
