"""Splits: deterministic from the seed, disjoint, stratified; data_fraction subsamples training only."""

import re
import warnings

import numpy as np
import pytest
import torch

from optimlab.data import Examples, TensorPair, split
from optimlab.data.splits import untrained_classes
from optimlab.errors import InvalidValueError, OptimlabWarning

# Three imbalanced classes; x holds each row's id, so splits can be compared as sets of rows.
LABELS = torch.tensor([0] * 100 + [1] * 50 + [2] * 10)
DATA = Examples.from_arrays(torch.arange(160.0).unsqueeze(1), LABELS, name="toy")


def ids(pair) -> set[int]:
    return set(pair.x[:, 0].long().tolist())


def test_the_same_seed_gives_the_same_splits_and_another_seed_others():
    a, b, c = split(DATA, seed=3), split(DATA, seed=3), split(DATA, seed=4)
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(a, name).x, getattr(b, name).x)
        assert torch.equal(getattr(a, name).y, getattr(b, name).y)
    assert ids(a.test) != ids(c.test)


def test_splits_are_disjoint_and_cover_every_example():
    s = split(DATA, seed=0)
    train, val, test = ids(s.train), ids(s.val), ids(s.test)
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(160))
    for pair in (s.train, s.val, s.test):  # targets stay with their inputs
        assert torch.equal(pair.y, LABELS[pair.x[:, 0].long()])


def test_every_class_is_split_in_the_requested_proportions():
    s = split(DATA, seed=0, val_fraction=0.2, test_fraction=0.1)
    assert torch.bincount(s.test.y, minlength=3).tolist() == [10, 5, 1]
    assert torch.bincount(s.val.y, minlength=3).tolist() == [20, 10, 2]
    assert torch.bincount(s.train.y, minlength=3).tolist() == [70, 35, 7]


def test_splits_are_shuffled_not_in_class_blocks():
    s = split(DATA, seed=0)
    assert not torch.equal(s.train.y, s.train.y.sort().values)


def test_data_fraction_subsamples_training_only_and_smaller_subsamples_nest():
    full, half, tenth = (split(DATA, seed=0, data_fraction=f) for f in (1.0, 0.5, 0.1))
    assert ids(half.val) == ids(full.val) and ids(half.test) == ids(full.test)
    assert ids(tenth.train) < ids(half.train) < ids(full.train)
    assert torch.bincount(half.train.y, minlength=3).tolist() == [30, 15, 3]
    assert torch.bincount(tenth.train.y, minlength=3).tolist() == [6, 3, 1]  # every class keeps one


def test_regression_is_split_without_strata():
    data = Examples.from_arrays(
        torch.arange(50.0).unsqueeze(1), torch.randn(50), name="reg", task="regression"
    )
    s = split(data, seed=0, data_fraction=0.5)
    assert (len(s.train), len(s.val), len(s.test)) == (15, 10, 10)
    assert s.train.y.shape == (15, 1) and s.num_outputs == 1 and s.num_classes is None


def test_metadata_travels_with_the_splits():
    s = split(
        Examples.from_arrays(torch.zeros(10, 64), torch.arange(10) % 2, name="img", image_shape=(1, 8, 8))
    )
    assert (s.name, s.task, s.input_shape, s.image_shape, s.num_classes, s.num_outputs) == (
        "img",
        "classification",
        (64,),
        (1, 8, 8),
        2,
        2,
    )


@pytest.mark.parametrize(
    "fractions, field",
    [
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"test_fraction": "0.2"}, "test_fraction"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction + test"),
        ({"data_fraction": 0.0}, "data_fraction"),
        ({"data_fraction": 1.5}, "data_fraction"),
    ],
)
def test_bad_fractions_name_the_field_and_the_range(fractions, field):
    with pytest.raises(InvalidValueError, match=f"for {re.escape(field)}.*accepted"):
        split(DATA, **fractions)


@pytest.mark.parametrize("seed", [1.5, "1", True, -1, 2**32, 2**70])
def test_a_seed_that_is_not_a_recipes_is_refused_naming_the_range(seed):
    """torch's generator raised RuntimeError 'manual_seed expected a long, but got float' (str, bool), or
    'Overflow when unpacking long long'; a recipe's seed is a whole number in [0, 2^32 - 1]."""
    with pytest.raises(InvalidValueError) as refused:
        split(DATA, seed=seed)
    assert str(refused.value) == f"invalid value {seed!r} for seed: accepted an integer in [0, 4294967295]."


def test_a_seed_of_numpys_integers_splits_as_the_same_int():
    import numpy as np

    assert ids(split(DATA, seed=np.int64(3)).test) == ids(split(DATA, seed=3).test)


def test_too_few_examples_to_train_on_is_an_error():
    data = Examples.from_arrays(torch.zeros(2, 1), torch.zeros(2), name="pair", task="regression")
    with pytest.raises(InvalidValueError, match="at least one training example"):
        split(data, val_fraction=0.4, test_fraction=0.5)


def test_a_validation_or_test_split_asked_for_and_given_no_row_is_said():
    """Two examples at the default 0.2 and 0.2 gave validation and test no row without a word: the run
    ended 'completed' with no metric (get_workload('noisy_quadratic', n=1)). 0 asks for none, quietly."""
    data = Examples.from_arrays(torch.zeros(2, 1), torch.zeros(2), name="pair", task="regression")
    with pytest.warns(
        OptimlabWarning, match=r"gives validation and test no row \(data.val_fraction 0.2 and "
    ):
        split(data)
    with pytest.warns(OptimlabWarning, match=r"gives test no row \(data.test_fraction 0.2 of them"):
        split(data, val_fraction=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alone = split(data, val_fraction=0.0, test_fraction=0.0)
    assert (len(alone.train), len(alone.val), len(alone.test)) == (2, 0, 0)


def test_a_stratified_split_that_gives_validation_and_test_no_row_says_so_as_an_unstratified_one_does():
    """Two classes of two rows at 0.2 and 0.2: each class's 0.4 of a row rounds to 0, so validation and test
    got no row, within a row of the 1 asked for, and nothing was said (two regression rows were)."""
    data = Examples.from_arrays(torch.zeros(4, 1), torch.tensor([0, 0, 1, 1]), name="four")
    with pytest.warns(OptimlabWarning, match=r"the split of four's 4 rows gives validation and test no row"):
        parts = split(data)
    assert (len(parts.train), len(parts.val), len(parts.test)) == (4, 0, 0)


def test_a_split_of_many_small_classes_far_from_its_fractions_is_said():
    """1000 classes of 3 rows, split 60/20/20 class by class, each class's 0.6 of a row rounded up, gave
    1000 rows each to training, validation and test (a third each) without a word. The split stays the
    same (the built-in sets' splits with it), and a warning names the fractions and the sizes they gave."""
    from optimlab.errors import OptimlabWarning

    x, y = torch.randn(3000, 2), torch.arange(3000) % 1000
    with pytest.warns(OptimlabWarning) as said:
        parts = split(Examples.from_arrays(x, y, name="many"), seed=0)
    assert [len(parts.train), len(parts.val), len(parts.test)] == [1000, 1000, 1000]  # 3 x round(0.6) of 3
    (line,) = [str(w.message) for w in said]
    assert line == (
        "the stratified split of many gives 1000 of its 3000 rows to validation and 1000 to test, not the 600 "
        "and 600 that data.val_fraction 0.2 and data.test_fraction 0.2 ask for: each of its 1000 classes "
        "(the smallest of 3 rows) is split on its own, its share rounded; give fewer classes, more rows of "
        "each, or splits of your own"
    )


def test_a_class_whose_rows_all_go_to_validation_and_test_is_said():
    """Class 2 of 2 rows at val and test 0.25: round(0.5) rows to each (half up), none left to train on,
    without a word; the model was scored on a class it never saw. The split stays as drawn, and said."""
    from optimlab.errors import OptimlabWarning

    y = torch.tensor([0] * 20 + [1] * 20 + [2] * 2)
    with pytest.warns(OptimlabWarning) as said:
        parts = split(
            Examples.from_arrays(torch.randn(42, 2), y, name="rare"), val_fraction=0.25, test_fraction=0.25
        )
    counts = [part.y.bincount(minlength=3).tolist() for part in (parts.train, parts.val, parts.test)]
    assert counts == [[10, 10, 0], [5, 5, 1], [5, 5, 1]]
    (line,) = [str(w.message) for w in said]
    assert line == (
        "the stratified split of rare gives class 2 (2 rows) no training row: data.val_fraction 0.25 and "
        "data.test_fraction 0.25 round every one of them into validation or test, so the model is scored on "
        "classes it never trains on; give more rows of each class, smaller fractions, or splits of your own"
    )


def test_a_split_within_a_row_a_class_of_its_fractions_is_not_warned_about():
    import warnings

    x, y = torch.randn(569, 2), torch.cat([torch.zeros(212), torch.ones(357)]).long()  # breast_cancer's
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts = split(Examples.from_arrays(x, y, name="two"), seed=0)
    assert (len(parts.val), len(parts.test)) == (113, 113)  # round(42.4) + round(71.4), not round(113.8)


def test_the_label_the_loss_ignores_is_no_class_left_untrained():
    """Two rows of -100 (the loss's ignore_index) at 0.25 and 0.25 went one to validation, one to test,
    and were warned of as 'class -100 (2 rows) no training row': they hold nothing to train on anyway."""
    import dataclasses

    y = torch.tensor([0] * 20 + [1] * 20 + [-100] * 2)
    data = dataclasses.replace(
        Examples.from_arrays(torch.randn(42, 2), y.clamp(min=0), name="padded"),
        examples=TensorPair(torch.randn(42, 2), y),
        ignored_label=-100,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts = split(data, val_fraction=0.25, test_fraction=0.25)
    assert [int((part.y == -100).sum()) for part in (parts.train, parts.val, parts.test)] == [0, 1, 1]


@pytest.mark.parametrize("number", [np.float32, np.float64])
def test_numpy_fractions_split_as_the_python_numbers_they_hold(number):
    """``val_fraction=np.float32(0.25)`` (a fraction computed with NumPy) was refused as 'not a number in
    [0, 1)'. Truth: the split the Python float of the same value gives (0.25, 0.125 and 0.5 are exact in
    float32); NumPy's bools, NaN and text are still refused."""
    given = split(
        DATA, seed=1, val_fraction=number(0.25), test_fraction=number(0.125), data_fraction=number(0.5)
    )
    plain = split(DATA, seed=1, val_fraction=0.25, test_fraction=0.125, data_fraction=0.5)
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(given, name).x, getattr(plain, name).x)
    for field, value in (
        ("val_fraction", np.bool_(False)),
        ("test_fraction", number("nan")),
        ("data_fraction", np.str_("0.5")),
    ):
        with pytest.raises(InvalidValueError, match=f"for {field}: accepted a number in"):
            split(DATA, **{field: value})


def test_classes_a_held_out_split_holds_and_training_lacks_are_said_in_one_style():
    """Truth: numpy's set difference of the labels written here, one class or several."""
    said = untrained_classes(np.array([0, 1, 1]), "'y_train'", {"'y_val'": [1, 4], "'y_test'": [0, 3, 2, 3]})
    assert said == (
        "'y_val' holds class 4, which 'y_train' lacks: never learnt, still scored; 'y_test' holds classes 2, "
        "3, which 'y_train' lacks: never learnt, still scored"
    )
