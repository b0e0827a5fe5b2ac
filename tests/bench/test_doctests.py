"""The examples in the docstrings of the bench's modules (and of other modules that have some) run."""

import doctest
import importlib

import pytest

MODULES = [
    "optimlab.bench.scoring",
    "optimlab.bench.baselines",
    "optimlab.optim.user",
    "optimlab.data.python_source",
    "optimlab.report.environment",
    "optimlab.doctor.progress",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0
