"""Optimizers that a test imports by path are registered for that test only, not for later tests."""

import pytest

from optimlab.registry import get_registry


@pytest.fixture(autouse=True)
def restore_optimizer_registry():
    registry = get_registry("optimizer")
    entries, aliases, imported = dict(registry._entries), dict(registry._aliases), set(registry._imported)
    yield
    registry._entries.clear()
    registry._entries.update(entries)
    registry._aliases.clear()
    registry._aliases.update(aliases)
    # the names imported by path too: left behind, each took one off len(registry) (22 optimizers read 18)
    registry._imported.clear()
    registry._imported.update(imported)
