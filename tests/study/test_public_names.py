"""optimlab.study's public names load lazily: each must resolve to the object its module defines."""

import importlib
import subprocess
import sys

import optimlab.study as study


def test_every_public_name_resolves_to_its_home():
    assert sorted(study.__all__) == sorted(study._HOMES)
    for name, home in study._HOMES.items():
        assert getattr(study, name) is getattr(importlib.import_module(f"optimlab.study.{home}"), name)


def test_the_backends_table_loads_without_optuna_or_torch():
    code = "import sys; from optimlab.study.backends import BACKENDS; print(sorted({'torch', 'optuna'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
