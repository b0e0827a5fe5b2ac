"""optimlab is layered bottom-up (docs/architecture.md, the table at its top): every import of an optimlab
module, at module level or inside a function (a lazy import is a dependency all the same), goes to a
module of its own layer or of one below it."""

from __future__ import annotations

import ast
from pathlib import Path

import optimlab

SOURCE = Path(optimlab.__file__).parent

# The table's rows, bottom-up, as module names: a module belongs to the layer of its longest prefix.
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "optimlab",  # the package's __init__: lazy verbs through importlib, no import statement upward
        "optimlab.errors",
        "optimlab.registry",
        "optimlab.user_code",
        "optimlab.user_modules",
        "optimlab.user_paths",
        "optimlab.atomic",
        "optimlab.runs_folder",
        "optimlab.number_text",
        "optimlab.nested_tensors",
        "optimlab.compiled",
        "optimlab.terminal",
    ),
    ("optimlab.techniques",),
    ("optimlab.optim", "optimlab.schedules"),
    ("optimlab.models", "optimlab.data"),
    ("optimlab.recipe", "optimlab.build"),
    ("optimlab.workloads",),
    ("optimlab.train",),
    ("optimlab.report",),  # its lower part: every module of report/ but the pages below
    ("optimlab.doctor",),
    ("optimlab.study",),
    ("optimlab.bench",),
    ("optimlab.gallery",),
    ("optimlab.report.run_page", "optimlab.report.study_history"),  # the pages of runs and of studies
    ("optimlab.integrations",),
    ("optimlab.cli", "optimlab.__main__"),
)


def _layer(module: str) -> int:
    """The index in :data:`LAYERS` of ``module``'s longest prefix; a new top-level module has none."""
    best, length = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            within = module.startswith(prefix + ".") and prefix != "optimlab"  # the package: itself only
            if (module == prefix or within) and len(prefix) > length:
                best, length = index, len(prefix)
    assert best is not None, f"{module} is in no layer of LAYERS: add it where docs/architecture.md says"
    return best


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every optimlab module ``path`` imports, wherever the statement is; relative ones resolved."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # `from optimlab.report import figures` imports a module: judge it, not the package
            found.update(_submodule(target, alias.name) for alias in node.names)
    return {module for module in found if module == "optimlab" or module.startswith("optimlab.")}


def _submodule(package: str, name: str) -> str:
    """``package.name`` where that is a module of optimlab's, else ``package`` (a name it defines)."""
    folder = SOURCE.parent.joinpath(*package.split("."))
    return f"{package}.{name}" if (folder / f"{name}.py").exists() or (folder / name).is_dir() else package


def _edges() -> list[tuple[str, str]]:
    return sorted(
        (_module_name(path), imported) for path in SOURCE.rglob("*.py") for imported in _imports(path)
    )


def test_the_scan_sees_lazy_and_module_level_imports() -> None:
    edges = set(_edges())
    assert ("optimlab.build", "optimlab.techniques.losses") in edges  # module level
    assert ("optimlab.report.chance", "optimlab.build") in edges  # inside a function
    assert ("optimlab.gallery.plots", "optimlab.report.figures") in edges  # `from package import module`


def test_imports_go_to_the_same_or_a_lower_layer() -> None:
    upward = [
        f"{importer} (row {LAYERS[_layer(importer)][0]}) imports {imported} (row {LAYERS[_layer(imported)][0]})"
        for importer, imported in _edges()
        if _layer(imported) > _layer(importer)
    ]
    assert not upward, "imports against docs/architecture.md's layers:\n" + "\n".join(upward)
