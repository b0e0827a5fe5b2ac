"""The catalogs keep "adding an X touches at most two files" true (docs/architecture.md, "Adding an X").

Named optimizers, doctor rules and gallery experiments live in packages that import every module they
contain (``registry.import_submodules``): a new module registers by existing, with no list to edit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import optimlab.doctor.rules
import optimlab.gallery.claims
import optimlab.optim.optimizers
from optimlab.registry import get_registry

CATALOGS = {
    "optimizer": optimlab.optim.optimizers,
    "doctor_rule": optimlab.doctor.rules,
    "experiment": optimlab.gallery.claims,
}


@pytest.mark.parametrize("category", CATALOGS)
def test_every_module_of_a_catalog_package_is_imported_and_registers(category):
    package = CATALOGS[category]
    folder = Path(package.__file__).parent
    assert list(package.MODULES) == sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
    assert not [
        p.name for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"
    ]  # the walk skips these
    registered = {id(entry.obj) for entry in get_registry(category)}
    for module in package.MODULES.values():
        assert any(id(value) in registered for value in vars(module).values()), (
            f"{module.__name__} registers no {category}: a catalog package holds entries only"
        )


# In a fresh interpreter: the entries each category's catalog loads, then those that appear once every
# module of optimlab is imported. A difference is an entry in a module its catalog never imports.
_UNREACHED = """
import importlib, json, pkgutil
import optimlab
from optimlab.registry import categories, get_registry
loaded = {c: set(get_registry(c).names()) for c in categories()}
for module in pkgutil.walk_packages(optimlab.__path__, "optimlab."):
    importlib.import_module(module.name)
print(json.dumps({c: sorted(set(get_registry(c).names()) - loaded[c]) for c in categories()}))
"""


def test_no_entry_lives_in_a_module_its_catalog_does_not_import():
    result = subprocess.run([sys.executable, "-c", _UNREACHED], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    unreached = {category: names for category, names in json.loads(result.stdout).items() if names}
    assert not unreached
