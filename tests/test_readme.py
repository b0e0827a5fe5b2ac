"""The README's Python example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


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
