"""``optimlab.optim`` and ``optimlab.optim.transforms`` export exactly what the registry and the modules hold.

The re-export lists are written by hand (so editors and type checkers see them); these tests keep them
complete both ways: a registered optimizer or a transform that is not exported fails, and so does an
export that is neither one nor part of the small core API.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import optimlab.optim
from optimlab.optim import transforms
from optimlab.registry import get_registry

CORE = {"GradientTransformation", "Optimizer", "chain", "create", "identity"}


def _transform_factories() -> dict[str, object]:
    """Every function a transforms module exports that returns a GradientTransformation."""
    found = {}
    for info in pkgutil.iter_modules(transforms.__path__):
        module = importlib.import_module(f"{transforms.__name__}.{info.name}")
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isfunction(value) and inspect.signature(value).return_annotation in (
                "GradientTransformation",
                optimlab.optim.GradientTransformation,
            ):
                found[name] = value
    return found


def _exported_name(entry) -> str:
    """Factories are exported under their registered name, wrapper classes under their class name."""
    return entry.obj.__name__ if inspect.isclass(entry.obj) else entry.name


def test_every_registered_optimizer_is_exported_as_itself():
    missing = [e.name for e in get_registry("optimizer") if _exported_name(e) not in optimlab.optim.__all__]
    assert not missing, f"add to optimlab/optim/__init__.py: {missing}"
    for entry in get_registry("optimizer"):
        assert getattr(optimlab.optim, _exported_name(entry)) is entry.obj


def test_every_transform_is_exported_from_transforms_and_optim():
    factories = _transform_factories()
    assert set(transforms.__all__) == set(factories)
    assert set(factories) <= set(optimlab.optim.__all__)
    for name, factory in factories.items():
        assert getattr(transforms, name) is factory and getattr(optimlab.optim, name) is factory


def test_every_export_is_an_optimizer_a_transform_or_the_core_api():
    optimizers = {_exported_name(e) for e in get_registry("optimizer")}
    unexplained = set(optimlab.optim.__all__) - optimizers - set(_transform_factories()) - CORE
    assert not unexplained
