"""scikit-learn's bundled sets read without scikit-learn: the very arrays its loaders return."""

import gzip
import os

import numpy as np
import pytest
from sklearn import datasets

from optimlab.data import sklearn_sets

SETS = {name: row[:3] for name, row in sklearn_sets._BUNDLED.items()}  # loader, file, (n, features)


@pytest.mark.parametrize("name", sorted(SETS))
def test_bundled_file_equals_scikit_learns_loader(name):
    loader, file_name, shape = SETS[name]
    x, y = sklearn_sets._read_bundled_file(file_name, *shape)
    x_ref, y_ref = getattr(datasets, loader)(return_X_y=True)
    assert x.dtype == x_ref.dtype == np.float64 and y.dtype == y_ref.dtype
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)


def test_every_bundled_set_reads_without_the_fallback():
    assert {"digits", "iris", "wine", "breast_cancer"} == set(SETS)
    for name, (_, file_name, shape) in SETS.items():
        assert sklearn_sets._read_bundled_file(file_name, *shape) is not None, name


def _write_other_layouts(folder):
    (folder / "iris.csv").write_text("150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n")  # rows missing
    (folder / "wine_data.csv").write_text("178;13;class_0\n14.23;1.71\n")  # another delimiter
    with gzip.open(folder / "digits.csv.gz", "wt") as file:
        file.write("0,1,2\n3,4,5\n")  # another width
    # breast_cancer.csv missing


@pytest.mark.parametrize("name", sorted(SETS))
def test_a_file_missing_or_laid_out_otherwise_falls_back_to_scikit_learn(name, tmp_path, monkeypatch):
    _write_other_layouts(tmp_path)
    monkeypatch.setattr(sklearn_sets, "_data_folder", lambda: tmp_path)
    loader, file_name, shape = SETS[name]
    assert sklearn_sets._read_bundled_file(file_name, *shape) is None
    loaded = sklearn_sets._REGISTRY.get(name).obj(seed=0)
    x_ref, y_ref = getattr(datasets, loader)(return_X_y=True)
    assert np.array_equal(loaded.examples.x.numpy(), x_ref.astype(np.float32))
    assert np.array_equal(loaded.examples.y.numpy(), np.unique(y_ref, return_inverse=True)[1])


def test_a_bundled_file_is_parsed_once_per_machine(tmp_path, monkeypatch):
    """A study worker built each trial's data anew, parsing digits' file each time (~50 ms of np.loadtxt
    a trial). Truth: the second read parses nothing and gives scikit-learn's arrays."""
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path))
    sklearn_sets._read_bundled_file("digits.csv.gz", 1797, 64)

    def parse(*args, **kwargs):
        raise AssertionError("the file was parsed again")

    monkeypatch.setattr(np, "loadtxt", parse)
    x, y = sklearn_sets._read_bundled_file("digits.csv.gz", 1797, 64)
    monkeypatch.undo()
    x_ref, y_ref = datasets.load_digits(return_X_y=True)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)


def test_a_bundled_file_that_changed_is_parsed_again(tmp_path, monkeypatch):
    """Another scikit-learn's file (its size or time changed) is not read from what was kept of the last."""
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sklearn_sets, "_data_folder", lambda: tmp_path)
    rows = "\n".join(f"{i}.5,1,2,3,{i % 3}" for i in range(150))
    (tmp_path / "iris.csv").write_text(f"150,4,a,b,c\n{rows}\n")
    assert sklearn_sets._read_bundled_file("iris.csv", 150, 4)[0][1, 0] == 1.5
    (tmp_path / "iris.csv").write_text(f"150,4,a,b,c\n{rows.replace('1.5,', '10.25,')}\n")
    x, y = sklearn_sets._read_bundled_file("iris.csv", 150, 4)
    assert x[1, 0] == 10.25 and list(y[:4]) == [0, 1, 2, 0]


def test_a_bundled_file_rewritten_with_its_size_and_time_kept_is_parsed_again(tmp_path, monkeypatch):
    """Other numbers of the same size, the file's time put back (cp -p, rsync -t, tar keep it): the arrays
    kept for the old numbers came back, keyed by size and time. Truth: the numbers written."""
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(sklearn_sets, "_data_folder", lambda: tmp_path)
    rows = "\n".join(f"{i}.5,1,2,3,{i % 3}" for i in range(150))
    file = tmp_path / "iris.csv"
    file.write_text(f"150,4,a,b,c\n{rows}\n")
    assert sklearn_sets._read_bundled_file("iris.csv", 150, 4)[0][1, 0] == 1.5
    kept = file.stat()
    file.write_text(f"150,4,a,b,c\n{rows.replace('1.5,', '7.5,')}\n")
    os.utime(file, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert file.stat().st_size == kept.st_size and file.stat().st_mtime_ns == kept.st_mtime_ns
    assert sklearn_sets._read_bundled_file("iris.csv", 150, 4)[0][1, 0] == 7.5


@pytest.mark.parametrize(
    "arrays",
    [{"z": np.zeros(3)}, {"x": np.zeros(3)}, {"x": np.zeros((3, 64)), "y": np.zeros(3)}],
    ids=["no x", "no y", "other shape"],
)
def test_a_kept_file_lacking_the_arrays_is_parsed_again(tmp_path, monkeypatch, arrays):
    """A kept file without x or y (another writer's, an older format) raised KeyError from load('digits');
    one of another shape was handed out as digits. Truth: scikit-learn's arrays."""
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path))
    sklearn_sets._read_bundled_file("digits.csv.gz", 1797, 64)
    [kept] = tmp_path.glob("sklearn-digits-*.npz")
    np.savez(kept, **arrays)
    x, y = sklearn_sets._read_bundled_file("digits.csv.gz", 1797, 64)
    x_ref, y_ref = datasets.load_digits(return_X_y=True)
    assert np.array_equal(x, x_ref) and np.array_equal(y, y_ref)
    with np.load(kept) as rewritten:
        assert np.array_equal(rewritten["x"], x_ref)
