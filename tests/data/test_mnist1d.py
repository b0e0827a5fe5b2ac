"""MNIST-1D: the stratified split from the seed, or the paper's data set with its own split."""

import numpy as np
import pytest
import torch

import optimlab.data
from optimlab.errors import InvalidValueError, OptimlabWarning


def test_original_split_is_the_packages_own_train_and_test_sets_in_order(package_dataset):
    splits = optimlab.data.load("mnist1d", seed=5, split="original", val_fraction=0.0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4000, 0, 1000)
    np.testing.assert_allclose(splits.train.x.numpy(), package_dataset["x"], atol=1e-6)
    np.testing.assert_array_equal(splits.train.y.numpy(), package_dataset["y"])
    np.testing.assert_allclose(splits.test.x.numpy(), package_dataset["x_test"], atol=1e-6)
    np.testing.assert_array_equal(splits.test.y.numpy(), package_dataset["y_test"])


def test_original_split_carves_validation_out_of_training_only(package_dataset):
    splits = optimlab.data.load("mnist1d", seed=5, split="original", val_fraction=0.2)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (3200, 800, 1000)
    np.testing.assert_array_equal(splits.test.y.numpy(), package_dataset["y_test"])
    train_and_val = torch.cat([splits.train.x, splits.val.x])
    assert sorted(map(tuple, train_and_val.numpy().round(5))) == sorted(
        map(tuple, package_dataset["x"].astype(np.float32).round(5))
    )


def test_stratified_split_draws_the_data_from_the_seed():
    a, b = (optimlab.data.load("mnist1d", seed=s, n=200) for s in (0, 1))
    assert (len(a.train), len(a.val), len(a.test)) == (120, 40, 40)
    assert not torch.equal(a.test.x, b.test.x)


def test_unknown_split_is_refused():
    with pytest.raises(InvalidValueError, match="'original'"):
        optimlab.data.load("mnist1d", split="paper")


@pytest.mark.parametrize("n", [10**11, 1_000_001])
def test_a_size_the_generator_cannot_make_in_minutes_is_refused_in_the_recipe(n):
    """n: 10**11 was taken, the recipe made, and the package generated until memory ran out (a train
    that never ended); the data set's and the workload's n are refused past a million, naming n."""
    from optimlab.errors import OptimlabError
    from optimlab.recipe import Recipe
    from optimlab.workloads import get_workload

    with pytest.raises(OptimlabError, match=r"'n'.*an integer in \[10, 1000000\]"):
        Recipe.from_dict({"data": {"name": "mnist1d", "options": {"n": n}}})
    with pytest.raises(OptimlabError, match=r"'n'.*an integer in \[10, 1000000\]"):
        get_workload("mnist1d_mlp", n=n)


def test_generated_once_then_read_from_the_cache_folder_as_the_package_makes_it(tmp_path, monkeypatch):
    from mnist1d.data import get_dataset_args, make_dataset

    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path))
    args = get_dataset_args()
    args.num_samples, args.seed = 200, 3
    made = make_dataset(args)
    first = optimlab.data.load("mnist1d", seed=3, n=200)
    (kept,) = tmp_path.iterdir()
    monkeypatch.setattr("mnist1d.data.make_dataset", lambda args: pytest.fail("generated again"))
    second = optimlab.data.load("mnist1d", seed=3, n=200)
    for a, b in ((first.train, second.train), (first.val, second.val), (first.test, second.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    everything = torch.cat([first.train.x, first.val.x, first.test.x]).numpy()
    expected = np.concatenate([made["x"], made["x_test"]]).astype(np.float32)
    assert sorted(map(tuple, everything.round(5))) == sorted(map(tuple, expected.round(5)))
    kept.write_bytes(kept.read_bytes()[:100])  # cut short (a full disk): made again, and the same
    monkeypatch.undo()
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(tmp_path))
    again = optimlab.data.load("mnist1d", seed=3, n=200)
    assert torch.equal(again.test.x, first.test.x) and kept.stat().st_size > 100


def test_a_cache_folder_that_cannot_be_written_only_costs_the_time(tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the folder should be
    monkeypatch.setenv("OPTIMLAB_CACHE_DIR", str(blocked / "cache"))
    assert len(optimlab.data.load("mnist1d", seed=0, n=100).train) == 60


@pytest.mark.parametrize("test_fraction", [0.3, 0.0])
def test_a_test_fraction_given_for_the_papers_own_test_set_is_said_not_to_apply(
    package_dataset, test_fraction
):
    with pytest.warns(OptimlabWarning) as said:
        splits = optimlab.data.load(
            "mnist1d", split="original", val_fraction=0.0, test_fraction=test_fraction
        )
    assert [str(w.message) for w in said] == [
        f"data.test_fraction {test_fraction:g} does not apply: mnist1d brings its own test set of 1,000 rows, "
        "kept whole; leave data.test_fraction at its default 0.2"
    ]
    np.testing.assert_array_equal(splits.test.y.numpy(), package_dataset["y_test"])  # the paper's, whole
