"""names_apart: each name is a tail of its own path's parts, and the names tell the paths apart."""

from __future__ import annotations

import doctest

import pytest

from optimlab.report import path_names
from optimlab.report.path_names import names_apart


def test_doctests() -> None:
    assert doctest.testmod(path_names).failed == 0


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        # The root '/' is no part of a name: '/run' is the folder 'run', not '//run'.
        (["/run", "/a/run"], ["run", "a/run"]),
        (["/run", "/other"], ["run", "other"]),
        (["/x/run", "/y/run"], ["x/run", "y/run"]),
        (["run", "a/run"], ["run", "a/run"]),
    ],
)
def test_names_are_tails_of_the_paths_parts(paths: list[str], expected: list[str]) -> None:
    names = names_apart(paths)
    assert names == expected
    assert len(set(names)) == len(names)
    for path, name in zip(paths, names, strict=True):
        assert not name.startswith("/")
        assert path == name or path.endswith("/" + name)
