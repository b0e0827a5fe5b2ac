"""optimlab.user_paths: a typed path's home folder, or one line naming the field."""

import pwd
from pathlib import Path

import numpy as np
import pytest
from sklearn import datasets

from optimlab.cli import _catalog
from optimlab.data import sklearn_sets
from optimlab.errors import InvalidValueError
from optimlab.user_paths import cache_folder, expand_home


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


def _no_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME unset and no password entry for this uid (a container run as an arbitrary user)."""
    for name in ("HOME", "XDG_CACHE_HOME", "OPTIMLAB_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", no_entry)


def test_with_no_home_the_data_and_the_catalog_are_made_without_a_cache(monkeypatch):
    """data.load('digits') and the catalog's listing raised pathlib's 'Could not determine home
    directory.' where the user has no home. Truth: scikit-learn's digits, the registries' rows (stood in
    for by a row of ours: the registries' are the same whatever the folder, test_conventions reads them)."""
    _no_home(monkeypatch)
    monkeypatch.setattr(_catalog, "live_rows", lambda: [{"name": "ours"}])
    assert cache_folder() is None
    x, y = sklearn_sets._read_bundled_file("digits.csv.gz", 1797, 64)
    x_ref, y_ref = datasets.load_digits(return_X_y=True)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)
    assert _catalog.rows() == [{"name": "ours"}]


def test_the_catalog_is_kept_in_the_one_cache_folder(tmp_path, monkeypatch):
    """The catalog kept its own folder, which read XDG_CACHE_HOME but not $OPTIMLAB_CACHE_DIR. Truth:
    the file in the folder named, read back."""
    monkeypatch.setattr(_catalog, "live_rows", lambda: [{"name": "ours"}])
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path
    assert _catalog.rows() == [{"name": "ours"}]
    assert [p.name for p in tmp_path.iterdir()] == [f"catalog-{_catalog.fingerprint()}.json"]
    monkeypatch.setattr(_catalog, "live_rows", list)
    assert _catalog.rows() == [{"name": "ours"}]  # read back
