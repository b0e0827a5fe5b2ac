"""optimlab.user_paths: a typed path's home folder, or one line naming the field."""

import pwd
from pathlib import Path

import pytest

from optimlab.errors import InvalidValueError
from optimlab.user_paths import expand_home


def test_a_home_is_read_as_pathlib_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert expand_home("~/rows.csv", "dataset") == tmp_path / "rows.csv"
    root = pwd.getpwuid(0)
    assert expand_home(f"~{root.pw_name}/x", "dataset").parent.as_posix() == root.pw_dir


def test_a_home_that_cannot_be_found_is_refused_saying_why(monkeypatch):
    """Where HOME is unset and the password database has no entry for this process's user (a container
    run as an arbitrary uid), '~' was said to name no user. Truth: pathlib itself cannot expand it."""
    monkeypatch.delenv("HOME", raising=False)

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    with pytest.raises(RuntimeError):
        Path("~/x").expanduser()
    with pytest.raises(InvalidValueError) as refused:
        expand_home("~/x", "--out")
    assert (refused.value.field, refused.value.value) == ("--out", "~/x")
    assert refused.value.accepted.endswith("HOME is not set here")
