"""scikit-learn's bundled sets read without scikit-learn: the very arrays its loaders return."""

import gzip

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
