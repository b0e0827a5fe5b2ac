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


def test_no_study_module_lists_a_function_or_class_of_another_as_its_own():
    """study.analysis listed metric_bounds (report.metric_labels') in its __all__, a second home for one
    function, which callers imported from either. Truth: each function and class a study module lists is
    defined in that module (its __module__); every module below study, study.backends' too."""
    import inspect
    import pkgutil

    modules = [info.name for info in pkgutil.walk_packages(study.__path__, prefix="optimlab.study.")]
    assert "optimlab.study.backends.local" in modules  # below a subpackage, which iter_modules missed
    for module in map(importlib.import_module, modules):
        for name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            if inspect.isfunction(value) or inspect.isclass(value):  # not a type alias (backends' Targets)
                assert value.__module__ == module.__name__, (module.__name__, name, value.__module__)
