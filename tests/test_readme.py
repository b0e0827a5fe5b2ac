"""The README's Python example runs as written, and what README.md and docs/ name in optimlab exists."""

import importlib
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = [README, *sorted((README.parent / "docs").glob("*.md"))]


def test_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has a Python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["result"].status == "completed"
    assert namespace["result"].metrics["test_accuracy"] > 0.8


def test_recipe_example_is_a_valid_recipe():
    from optimlab.recipe import Recipe

    block = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)[0]
    recipe = Recipe.from_yaml(block)
    assert recipe.optimizer.name == "adamw" and recipe.model.norm == "batch"


def _resolves(name: str) -> bool:
    """Whether ``name`` (``optimlab.a.b``) is a module, or an attribute of the longest module it begins with."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attribute in parts[i:]:
                found = getattr(found, attribute)
        except AttributeError:
            return False
        return True
    return False


def test_every_optimlab_name_the_docs_give_exists():
    """docs/architecture.md named `optimlab.data_digest`, a function that lives in optimlab.data.digest."""
    named = {
        (doc.name, name) for doc in DOCS for name in re.findall(r"`(optimlab(?:\.\w+)+)", doc.read_text())
    }
    assert len(named) > 10
    assert [(doc, name) for doc, name in sorted(named) if not _resolves(name)] == []


def test_the_set_up_commands_are_those_ci_runs():
    """The README's first block, install and test suite, is what .ci/run runs on a clean clone."""
    setup = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)[0].splitlines()
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert len(setup) == 2 and all(command in ci for command in setup), setup
