"""Examples.from_arrays, under every reader of user data: values that no tensor of examples holds as
given are refused in one line naming what they are."""

import numpy as np
import pytest
import torch

from optimlab.data import Examples
from optimlab.data.examples import targets_for
from optimlab.errors import InvalidValueError


def test_complex_inputs_or_targets_are_refused_not_cast_to_their_real_parts():
    """Complex inputs were cast to float32 with only a warning: the imaginary parts were dropped and the
    model trained on half the data."""
    x = torch.randn(6, 2, dtype=torch.complex64)
    with pytest.raises(InvalidValueError) as refused:
        Examples.from_arrays(x, torch.arange(6) % 2, name="signal")
    assert str(refused.value).startswith(
        "invalid value 'complex numbers (complex64)' for inputs of signal: accepted real numbers: give the "
        "real and imaginary parts as features of their own (torch.view_as_real(x)"
    )
    with pytest.raises(InvalidValueError, match="'complex numbers \\(complex128\\)' for targets of waves"):
        Examples.from_arrays(np.ones((6, 2)), np.ones(6, dtype=complex), name="waves")
    real = Examples.from_arrays(torch.view_as_real(x), torch.arange(6) % 2, name="signal").examples.x
    assert torch.equal(real, torch.view_as_real(x))


def test_labels_of_mixed_types_are_refused_naming_the_types():
    """Labels mixing names and numbers (an object column with a missing value, NaN) raised numpy's "'<'
    not supported between instances of 'str' and 'int'" from sorting them."""
    for labels, kinds in (
        (np.array(["cat", 1, "dog", 2], dtype=object), "int, str"),
        (np.array(["cat", np.nan, "dog", "cat"], dtype=object), "float, str"),
    ):
        with pytest.raises(InvalidValueError) as refused:
            Examples.from_arrays(np.zeros((4, 2)), labels, name="pets")
        assert str(refused.value) == (
            f"invalid value 'labels of mixed types ({kinds})' for targets of pets: accepted labels of one "
            "type: every one a number, or every one a name (str); fill or drop missing ones."
        )
    named = Examples.from_arrays(
        np.zeros((4, 2)), np.array(["dog", "cat", "emu", "cat"], dtype=object), name="p"
    )
    assert named.examples.y.tolist() == [1, 0, 2, 0]  # sorted names: cat, dog, emu


def test_tensors_that_require_grad_or_are_sparse_are_read_as_their_values():
    """A factory's (x, y) computed with autograd on (embeddings of a model) raised numpy's "Can't call
    numpy() on Tensor that requires grad", and a sparse x "can't convert Sparse layout tensor to numpy",
    where a Dataset of them was read; both are read as their values."""
    x, y = torch.randn(6, 3), torch.arange(6) % 2
    for given in (x.clone().requires_grad_(), x.to_sparse()):
        data = Examples.from_arrays(given, y, name="grad")
        assert torch.equal(data.examples.x, x) and not data.examples.x.requires_grad
    assert torch.equal(Examples.from_arrays(x, y.to_sparse(), name="grad").examples.y, y)


def test_text_targets_under_task_regression_are_numbers_or_refused_naming_the_first_that_is_none(tmp_path):
    """A CSV of class names read with task='regression' raised ValueError "could not convert string to float:
    np.str_('cat')"; text that is a number ('nan' too) was regressed without the non-finite check."""
    x = np.zeros((3, 2))
    data = Examples.from_arrays(x, np.array(["1.5", "-2", "1e3"]), name="t", task="regression")
    assert data.examples.y.tolist() == [[1.5], [-2.0], [1000.0]]  # as float() reads them
    with pytest.raises(InvalidValueError) as refused:
        Examples.from_arrays(x, np.array(["1.5", "cat", "dog"]), name="t", task="regression")
    assert str(refused.value) == (
        "invalid value 'cat' for targets of t: accepted numbers to regress (task 'regression'); targets "
        "of text are class labels: task 'classification' (data.options.task in a recipe)."
    )
    with pytest.raises(InvalidValueError, match="'2024_01' for targets of t: accepted numbers to regress"):
        Examples.from_arrays(x, np.array(["1.5", "2024_01", "2"]), name="t", task="regression")  # not 202401
    for missing in ("nan", "NAN", "+nan", "NA", ""):  # after b647e8e 'NAN' was told to be a class label
        with pytest.raises(InvalidValueError, match="invalid value nan for targets of t at example 1"):
            Examples.from_arrays(x, np.array(["1.5", missing, "2"]), name="t", task="regression")
    from optimlab.data import load_csv

    (tmp_path / "pets.csv").write_text("a,b,label\n1,2,cat\n3,4,dog\n")
    with pytest.raises(InvalidValueError, match="'cat' for targets of pets: accepted numbers to regress"):
        load_csv(tmp_path / "pets.csv", task="regression")


def test_whole_number_labels_are_said_in_full_in_the_data_note():
    """The note said labels 1000001 and 1000002 both as '1e+06' (and two uint64 ids alike as
    9.22337e+18), classes told apart but shown as one. Truth: the labels as written."""
    for y, said in (
        (np.array([1000001, 1000002] * 3), "labels 1000001, 1000002 as classes 0-1"),
        (
            np.array([2**63 + 5, 2**63 + 6] * 3, dtype=np.uint64),
            "labels 9223372036854775813, 9223372036854775814",
        ),
        (np.array([-1.0, 3.0] * 3), "labels -1, 3 as classes 0-1"),
    ):
        assert said in Examples.from_arrays(np.zeros((6, 2)), y, name="ids").reading


def test_uint64_labels_reach_the_users_loss_exactly_or_are_refused_naming_the_label():
    """uint64 class labels read for the user's own loss were cast to int64 (the dtype torch's losses
    take), so a label past int64's largest wrapped to a negative one, silently. Truth: Python's int of
    each label; 2**63 + 1 has no int64 and is refused, naming it and the data set."""
    x = np.zeros((3, 2), dtype=np.float32)
    fits = np.array([0, 2**63 - 1, 2**62 + 3], dtype=np.uint64)
    with targets_for("classification", as_given=True):
        targets = Examples.from_arrays(x, fits, name="mine").examples.y
        assert targets.dtype == torch.int64 and targets.tolist() == [int(v) for v in fits]
        with pytest.raises(InvalidValueError, match=r"9223372036854775809 for class labels of mine: .*int64"):
            Examples.from_arrays(x, np.array([0, 2**63 + 1, 2], dtype=np.uint64), name="mine")


@pytest.mark.parametrize("shape, where", [((50, 6), "feature 4"), ((50, 10, 4), "position (7, 2)")])
def test_values_float32_holds_as_one_are_refused_naming_the_index_that_reaches_them(shape, where):
    """Timestamps at x[:, 7, 2] of (50, 10, 4) inputs were refused as 'feature 30', an index no x[:, j]
    reaches (the flattened row's). Truth: the index itself, and the values it reaches are the ones named."""
    x = np.random.default_rng(0).normal(size=shape)
    at = (slice(None), *(int(i) for i in where.split(" ", 1)[1].strip("()").split(", ")))
    x[at] = 1.7e9 + np.arange(50)
    with pytest.raises(InvalidValueError) as refused:
        Examples.from_arrays(x, np.arange(50) % 2, name="seq")
    assert str(refused.value).startswith(
        f"invalid value 'values {x[at].min():.17g} to {x[at].max():.17g}' for {where} of the inputs of seq:"
    ), refused.value
