"""NumPy files: .npz archives of x and y, .npy tables with a target column."""

import io
import re

import numpy as np
import pytest
import torch

from optimlab.data import load_numpy
from optimlab.errors import InvalidValueError, UnknownNameError


def test_npz_round_trips_inputs_of_any_shape_and_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 2, 3))
    np.savez(tmp_path / "d.npz", images=x, labels=np.array([3, 1, 3, 1, 7, 7]))
    data = load_numpy(tmp_path / "d.npz", x_key="images", y_key="labels")
    assert torch.equal(data.examples.x, torch.tensor(x, dtype=torch.float32)) and data.input_shape == (2, 3)
    assert data.examples.y.tolist() == [1, 0, 1, 0, 2, 2] and data.num_classes == 3


def test_an_archives_labels_kept_as_bytes_are_class_names_as_text_ones_are(tmp_path):
    """Labels of dtype S (text saved as bytes: numpy.char.encode, h5py's strings) are accepted, but
    were refused as 'a damaged .npz archive (could not convert string to float)' when the reading
    named them. Truth: numpy.load reads the archive; the classes are numpy.unique's, sorted, as for
    the same labels of dtype U. Bytes that are not UTF-8 (Latin-1's b'caf\\xe9') are names too: numpy
    sorts them as bytes, the note shows the byte escaped."""
    names = np.array(["dog", "cat", "bird", "cat", "dog"])
    x = np.arange(10.0).reshape(5, 2)
    np.savez(tmp_path / "a.npz", x=x, y=np.char.encode(names))
    np.savez(tmp_path / "t.npz", x=x, y=names)
    data, text = load_numpy(tmp_path / "a.npz"), load_numpy(tmp_path / "t.npz")
    _, truth = np.unique(names, return_inverse=True)
    assert data.examples.y.tolist() == text.examples.y.tolist() == truth.tolist()
    assert data.reading == text.reading and "labels bird, cat, dog as classes 0-2" in data.reading
    latin = np.array([b"dog", b"cat", b"caf\xe9", b"cat", b"dog"])
    np.savez(tmp_path / "l.npz", x=x, y=latin)
    data = load_numpy(tmp_path / "l.npz")
    _, truth = np.unique(latin, return_inverse=True)
    assert data.examples.y.tolist() == truth.tolist() and data.num_classes == 3
    assert "labels caf\\xe9, cat, dog as classes 0-2" in data.reading


@pytest.mark.parametrize("missing", ["nan", ""])
@pytest.mark.parametrize("encode", [False, True])
def test_an_archives_class_names_with_a_missing_one_are_refused_not_given_a_class(tmp_path, missing, encode):
    """A label array of names with a NaN in it, as numpy.array(['cat', numpy.nan]) makes it ('nan'), or
    with an empty name, read 'labels , cat, dog as classes 0-2': the missing label a class of its own.
    Truth: numpy writes the NaN as 'nan'; pandas reads 'nan' and '' as missing values (isna), as load_csv
    refuses them in a target column. 'inf' stays a name, as pandas reads it."""
    pd = pytest.importorskip("pandas")
    assert np.array(["cat", np.nan])[1] == "nan"
    names = np.array(["dog", "cat", missing, "cat", "dog"])
    table = "x,label\n" + "".join(f"{i},{name}\n" for i, name in enumerate(names))
    assert pd.read_csv(io.StringIO(table))["label"].isna().tolist() == [False, False, True, False, False]
    np.savez(tmp_path / "a.npz", x=np.zeros((5, 2)), y=np.char.encode(names) if encode else names)
    with pytest.raises(
        InvalidValueError, match=rf"'{missing}' for class label of example 2 in a: accepted a label"
    ):
        load_numpy(tmp_path / "a.npz")
    np.savez(tmp_path / "a.npz", x=np.zeros((5, 2)), y=np.where(names == missing, "inf", names))
    assert load_numpy(tmp_path / "a.npz").num_classes == 3


@pytest.mark.parametrize("encode", [False, True])
def test_an_archives_class_names_that_read_csv_would_take_for_missing_are_names(tmp_path, encode):
    """'NA' (North America), 'None' and '?' are real class names in an array: pandas reads them as
    missing only when read_csv parses text; on arrays pandas.Series(['NA', 'None', '?']).isna() is all
    False, and numpy writes a missing value only as 'nan'. They were refused as missing labels."""
    pd = pytest.importorskip("pandas")
    names = np.array(["NA", "None", "?", "EU", "NA", "?"])
    assert not pd.Series(names).isna().any()
    np.savez(tmp_path / "a.npz", x=np.zeros((6, 2)), y=np.char.encode(names) if encode else names)
    data = load_numpy(tmp_path / "a.npz")
    _, truth = np.unique(names, return_inverse=True)
    assert data.examples.y.tolist() == truth.tolist() and data.num_classes == 4
    assert "labels ?, EU, NA, None as classes 0-3" in data.reading


def test_an_archives_one_hot_labels_are_refused_as_one_label_each_not_as_several(tmp_path):
    """keras' one-hot labels (np.eye(K)[ids]) in an .npz were refused as 'several per example
    (multi-label 0/1 columns)'. Truth: argmax(1) of the rows gives the ids back; two 1s in a row are
    several labels, still refused so."""
    ids = np.array([0, 2, 1, 2, 0, 1])
    assert np.array_equal(np.eye(3)[ids].argmax(1), ids)
    np.savez(tmp_path / "a.npz", x=np.zeros((6, 2)), y=np.eye(3)[ids])
    with pytest.raises(InvalidValueError, match=r"these are one-hot rows, one label each .* y\.argmax\(1\)"):
        load_numpy(tmp_path / "a.npz")
    tags = np.eye(3)[ids]
    tags[0, 1] = 1
    np.savez(tmp_path / "a.npz", x=np.zeros((6, 2)), y=tags)
    with pytest.raises(InvalidValueError, match=r"several per example \(multi-label"):
        load_numpy(tmp_path / "a.npz")


def test_npy_table_takes_the_target_column(tmp_path):
    table = np.array([[0.5, 1.0, 2.0], [1.5, 3.0, 4.0]])
    np.save(tmp_path / "t.npy", table)
    data = load_numpy(tmp_path / "t.npy", target=0)
    assert data.task == "regression" and data.examples.x.tolist() == [[1, 2], [3, 4]]
    assert data.examples.y.tolist() == [[0.5], [1.5]] and data.reading == "target column 0"
    # by default the last: 2 and 4, classes 0 and 1
    assert load_numpy(tmp_path / "t.npy").reading == "target column 2, labels 2, 4 as classes 0-1"


def test_an_npy_tables_target_given_as_text_is_a_position_as_a_csv_files_is(tmp_path):
    """target='0' (a recipe's quoted '0') was refused for an .npy table, 'accepted a column index', where a
    CSV file reads it as position 0: one lookup for both tables now (tables.column_position)."""
    np.save(tmp_path / "t.npy", np.array([[0.5, 1.0, 2.0], [1.5, 3.0, 4.0]]))
    assert load_numpy(tmp_path / "t.npy", target="0").examples.y.tolist() == [[0.5], [1.5]]
    with pytest.raises(InvalidValueError) as refused:
        load_numpy(tmp_path / "t.npy", target="label")
    assert str(refused.value) == (
        "invalid value 'label' for target of t.npy (data.options.target): accepted a 0-based column position "
        "in [-3, 3): the file has no header row."
    )
    with pytest.raises(
        InvalidValueError, match=r"3 for target of t.npy .*: accepted a 0-based column position"
    ):
        load_numpy(tmp_path / "t.npy", target=3)


def test_an_archive_refuses_a_target_column_rather_than_ignoring_it(tmp_path):
    """An .npz names its targets (y_key): a target column given for one was silently ignored."""
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 3)), y=np.array([0, 1]))
    assert load_numpy(tmp_path / "d.npz").reading == "inputs 'x', targets 'y'"
    with pytest.raises(
        InvalidValueError,
        match=r"'2' for target of d.npz \(data.options.target\): accepted none for an .npz.*y_key",
    ):
        load_numpy(tmp_path / "d.npz", target="2")


def test_missing_key_lists_the_archive_keys(tmp_path):
    np.savez(tmp_path / "d.npz", inputs=np.zeros((2, 2)), y=np.zeros(2))
    with pytest.raises(InvalidValueError, match="'inputs, y' for arrays of d.npz: accepted a pair .* x/y"):
        load_numpy(tmp_path / "d.npz")
    with pytest.raises(UnknownNameError, match="unknown array in d.npz 'x'.*Accepted: inputs, y"):
        load_numpy(tmp_path / "d.npz", y_key="y")
    assert load_numpy(tmp_path / "d.npz", x_key="inputs").input_shape == (2,)


@pytest.mark.parametrize(
    "names", [("x", "y"), ("X", "y"), ("features", "labels"), ("data", "target"), None], ids=str
)
def test_an_archive_of_a_usual_pair_of_names_needs_no_keys(tmp_path, names):
    """Names as scikit-learn, Keras and numpy.savez's positional arrays (arr_0, arr_1) leave them."""
    x, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 1, 0])
    arrays = dict(zip(names, (x, y))) if names else {}
    np.savez(tmp_path / "d.npz", *([] if names else [x, y]), other=np.zeros(1), **arrays)
    data = load_numpy(tmp_path / "d.npz")
    assert data.examples.x.tolist() == x.tolist() and data.examples.y.tolist() == y.tolist()


def test_a_one_dimensional_npy_is_not_a_table(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(5))
    with pytest.raises(InvalidValueError, match="2-d table"):
        load_numpy(tmp_path / "v.npy")


def test_pickled_objects_are_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidValueError, match="holds Python objects") as caught:
        load_numpy(tmp_path / "o.npy")
    assert "allow_pickle" not in str(caught.value)  # NumPy's advice to load it unsafely is not passed on


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (bytes(range(7, 250)), "not a NumPy file: it does not start with NumPy's magic bytes"),
        (b"PK garbage", "not a NumPy file"),
        (b"", r"'an empty file \(0 bytes\)'"),  # was "first bytes b''", which said nothing
        (b"\x93NUMPY\x01\x00", "a damaged .npy file"),
    ],
)
def test_a_garbage_file_is_named_and_never_met_with_advice_to_unpickle_it(tmp_path, content, reason):
    for name in ("data.npy", "data.npz"):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InvalidValueError, match=reason) as caught:
            load_numpy(tmp_path / name)
        assert "allow_pickle" not in str(caught.value) and name in str(caught.value)


def test_a_truncated_npy_is_damaged(tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((100, 3)))
    raw = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InvalidValueError, match="damaged .npy file"):
        load_numpy(tmp_path / "t.npy")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])  # 1e39: infinite in float32
def test_values_that_are_not_finite_are_refused_with_their_row_and_column(tmp_path, bad):
    table = np.arange(12, dtype=np.float64).reshape(4, 3)
    table[2, 1] = bad
    np.save(tmp_path / "t.npy", table)
    with pytest.raises(InvalidValueError, match=r"t\.npy at row 2, column 1: accepted finite numbers"):
        load_numpy(tmp_path / "t.npy")
    np.savez(tmp_path / "a.npz", x=table[:, :2], y=np.array([0.5, 1.5, 2.5, 3.5]))
    with pytest.raises(InvalidValueError, match=r"array 'x' of a\.npz at example 2, column 1"):
        load_numpy(tmp_path / "a.npz")


@pytest.mark.parametrize(
    ("array", "found"),
    [
        (np.array([[1 + 2j, 0], [3, 1]]), "dtype complex128"),  # the imaginary part was dropped
        (np.array([["1", "2", "a"], ["3", "4", "b"]]), "dtype <U1"),  # a traceback from torch
        (np.zeros(3, dtype=[("a", "f8"), ("label", "i8")]), "a structured array of fields a, label"),
    ],
    ids=["complex", "text", "structured"],
)
def test_arrays_that_are_not_real_numbers_are_refused_naming_the_file(tmp_path, array, found):
    np.save(tmp_path / "t.npy", array)
    with pytest.raises(InvalidValueError, match=rf"'{found}' for array in t\.npy: accepted an array of bool"):
        load_numpy(tmp_path / "t.npy")
    np.savez(tmp_path / "a.npz", x=array, y=np.arange(len(array)))
    with pytest.raises(InvalidValueError, match=rf"'{found}' for array 'x' of a\.npz"):
        load_numpy(tmp_path / "a.npz")


@pytest.mark.parametrize("shape", [(20, 0), (20, 3, 0)])
def test_inputs_without_a_value_per_example_are_refused_as_the_datas(tmp_path, shape):
    """x of shape (20, 0) loaded, and the run was refused as 'invalid value (0,) for input_shape of mlp', a
    field the user never wrote; the data are refused, naming the file and the shape."""
    np.savez(tmp_path / "a.npz", x=np.zeros(shape), y=np.arange(20) % 2)
    accepted = "accepted at least one value (feature) per example"
    with pytest.raises(InvalidValueError, match=re.escape(f"'shape {shape}' for inputs of a: {accepted}")):
        load_numpy(tmp_path / "a.npz")


def test_inputs_of_no_rows_are_refused_naming_the_array(tmp_path):
    """x saved as a single number raised TypeError 'len() of unsized object'."""
    np.savez(tmp_path / "a.npz", x=np.array(1.0), y=np.array([1]))
    with pytest.raises(
        InvalidValueError,
        match=r"'shape \(\)' for array 'x' of a\.npz: accepted an array of one row per example",
    ):
        load_numpy(tmp_path / "a.npz")


def test_targets_of_another_length_than_the_inputs_name_the_file_and_both_shapes(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(
        InvalidValueError,
        match=r"'shape \(4,\)' for array 'y' of a\.npz: accepted one target per row of 'x', whose shape is \(5, 2\)",
    ):
        load_numpy(tmp_path / "a.npz")


def test_images_kept_channels_last_are_read_as_torchs_layers_take_them(tmp_path):
    """An .npz of Keras-style images (N, H, W, C), as keras.datasets.cifar10 gives them, was read with
    input shape (H, W, C): a CNN took each image's 8 rows for its channels and convolved over its width
    and colours. They are read (N, C, H, W), as torch's Conv2d takes them, and the reading says so; images
    already (N, C, H, W) stay as they are."""
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 6, 3), dtype=np.uint8)
    labels = np.arange(10) % 2
    np.savez(tmp_path / "keras.npz", x=images, y=labels)
    data = load_numpy(tmp_path / "keras.npz")
    assert data.input_shape == data.image_shape == (3, 8, 6)
    np.testing.assert_array_equal(data.examples.x.numpy(), images.transpose(0, 3, 1, 2))
    assert data.reading.startswith(
        "inputs 'x', targets 'y', images stored channels last (8x6x3), inputs uint8"
    )
    np.savez(tmp_path / "torch.npz", x=images.transpose(0, 3, 1, 2), y=labels)
    same = load_numpy(tmp_path / "torch.npz")
    assert same.image_shape == (3, 8, 6) and torch.equal(same.examples.x, data.examples.x)
    assert same.reading.startswith("inputs 'x', targets 'y', inputs uint8")


def test_integer_inputs_reach_the_model_as_stored_and_the_reading_says_their_range(tmp_path):
    """uint8 images of a Keras-style .npz reached the model as 0..255 while an image folder's pixels come
    in [0, 1], and the data line said neither. The values stay as stored (not scaled without a word) and
    the reading says their dtype and range over every split, and the scaling that makes them small.
    Truth: the stored arrays, their min and max by numpy; float inputs get no such note."""
    rng = np.random.default_rng(0)
    train, test = (
        rng.integers(3, 200, (12, 8, 8, 1), dtype=np.uint8),
        rng.integers(9, 251, (4, 8, 8, 1), dtype=np.uint8),
    )
    np.savez(
        tmp_path / "mnist.npz", x_train=train, y_train=np.arange(12) % 2, x_test=test, y_test=np.arange(4) % 2
    )
    data = load_numpy(tmp_path / "mnist.npz")
    low, high = min(train.min(), test.min()), max(train.max(), test.max())
    assert (
        f", inputs uint8 {low} to {high} given to the model as stored, unscaled (an image folder's pixels "
        "are read / 255, in [0, 1]: divide the arrays by 255 before saving, or data.scaling / --scaling "
        "minmax, which scales each feature by its own training range)" in data.reading
    )
    np.testing.assert_array_equal(data.examples.x.numpy(), train.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data.test.x.numpy(), test.transpose(0, 3, 1, 2))
    np.savez(tmp_path / "floats.npz", x=train.astype(np.float32) / 255, y=np.arange(12) % 2)
    assert "as stored, unscaled" not in load_numpy(tmp_path / "floats.npz").reading
    # token ids (an Embedding's input) and flags are meant as stored: no advice to scale them
    np.savez(tmp_path / "tokens.npz", x=rng.integers(0, 500, (12, 5)), y=np.arange(12) % 2)
    np.savez(tmp_path / "flags.npz", x=rng.integers(0, 2, (12, 5)).astype(bool), y=np.arange(12) % 2)
    for name in ("tokens.npz", "flags.npz"):
        assert "as stored, unscaled" not in load_numpy(tmp_path / name).reading


def _rows(tensor):
    return sorted(map(tuple, tensor.tolist()))


def test_an_archive_saved_split_keeps_its_test_rows_and_draws_validation_from_its_training_rows(tmp_path):
    """keras.datasets' files (mnist.npz) hold x_train, y_train, x_test, y_test: refused (no pair of the
    usual names), so its authors' test set could only be pooled and split again by hand."""
    from optimlab.data import load

    rng = np.random.default_rng(0)
    x_train, x_test = rng.normal(size=(40, 5, 5, 1)), rng.normal(size=(12, 5, 5, 1))  # channels last
    y_train, y_test = np.array([7, 9] * 20), np.array([9, 7, 8] * 4)  # a class the training rows lack
    np.savez(tmp_path / "k.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    splits = load(tmp_path / "k.npz", seed=0)
    as_torch = torch.tensor(x_test.transpose(0, 3, 1, 2), dtype=torch.float32)
    assert torch.equal(splits.test.x, as_torch) and splits.image_shape == (1, 5, 5)
    assert splits.test.y.tolist() == [2, 0, 1] * 4 and splits.num_classes == 3  # 7, 8, 9 in every split
    drawn = torch.cat([splits.train.x, splits.val.x])
    assert _rows(drawn.flatten(1)) == _rows(torch.tensor(x_train, dtype=torch.float32).flatten(1))
    assert len(splits.val) == 8 and "validation drawn from the training rows" in splits.reading


def test_an_archive_saved_in_three_splits_is_trained_validated_and_tested_as_stored(tmp_path):
    from optimlab.data import load

    rng = np.random.default_rng(1)
    sizes = {"train": 20, "val": 6, "test": 4}
    arrays = {f"X_{part}": rng.normal(size=(n, 3)) for part, n in sizes.items()}  # scikit-learn's capital X
    arrays |= {f"y_{part}": np.arange(n) % 2 for part, n in sizes.items()}
    np.savez(tmp_path / "s.npz", **arrays)
    splits = load(tmp_path / "s.npz")
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(splits, part).x, torch.tensor(arrays[f"X_{part}"], dtype=torch.float32))
        assert getattr(splits, part).y.tolist() == arrays[f"y_{part}"].tolist()
    with pytest.raises(InvalidValueError, match="fixed splits"):
        load(tmp_path / "s.npz", val_fraction=0.3)
    assert load_numpy(tmp_path / "s.npz", x_key="X_val", y_key="y_val").examples.x.shape == (6, 3)  # as named


@pytest.mark.parametrize(
    ("arrays", "said"),
    [
        (
            {"x_test": np.zeros((3, 4)), "y_test": np.zeros(3)},
            "x_train of shape (4, 3), x_test of shape (3, 4)",
        ),
        ({"x_test": np.zeros((3, 3))}, "accepted x_test with y_test"),
        (  # its 3 rows were dropped without a word, the run trained and validated on x_train alone
            {"x_tst": np.zeros((3, 3)), "y_tst": np.zeros(3)},
            "'x_tst with y_tst' for arrays of b.npz: accepted splits named train, val or valid or validation, test",
        ),
        (  # was 'a damaged .npz archive (all the input arrays must have same number of dimensions...)'
            {"x_test": np.zeros((3, 3)), "y_test": np.zeros((3, 1))},
            "'y_train of shape (4,), y_test of shape (3, 1)' for arrays of b.npz: accepted targets of one shape "
            "in every split",
        ),
    ],
    ids=["shapes", "half a pair", "a split of an unknown name", "targets' shapes"],
)
def test_an_archive_saved_split_with_splits_that_do_not_match_is_refused(tmp_path, arrays, said):
    np.savez(tmp_path / "b.npz", x_train=np.zeros((4, 3)), y_train=np.array([0, 1, 0, 1]), **arrays)
    with pytest.raises(InvalidValueError, match=said.replace("(", r"\(").replace(")", r"\)")):
        load_numpy(tmp_path / "b.npz")


@pytest.mark.parametrize("layout", ["table.npy", "pair.npz"])
def test_a_big_endian_file_reads_the_numbers_numpy_reads(tmp_path, layout):
    """An array saved big-endian (dtype '>f8': numpy.save on such a machine, MATLAB's and Java's exports)
    raised torch's 'byte order different from the native byte order' as a traceback. Truth: numpy.load."""
    x = np.random.default_rng(0).normal(size=(6, 2)).astype(">f8")
    y = np.array([2, 0, 1, 2, 0, 1], dtype=">i4")
    if layout == "table.npy":
        np.save(tmp_path / layout, np.column_stack([x, y]).astype(">f8"))
    else:
        np.savez(tmp_path / layout, x=x, y=y)
    data = load_numpy(tmp_path / layout)
    assert torch.equal(data.examples.x, torch.tensor(x.astype(np.float32)))
    assert data.examples.y.tolist() == y.tolist()


@pytest.mark.parametrize("held_out", ["test", "val"])
def test_a_stored_split_with_a_class_the_training_split_lacks_is_kept_and_said(tmp_path, held_out):
    """x_test/y_test holding a class y_train lacks was scored without a word on a class the model could
    never predict. The authors' split is kept; the reading names the class. Truth: numpy's set
    difference of the labels."""
    x = np.random.default_rng(0).normal(size=(10, 2))
    y_train, y_held = np.array([0, 1] * 3), np.array([0, 1, 2, 2])
    arrays = {f"x_{held_out}": x[6:], f"y_{held_out}": y_held}
    np.savez(tmp_path / "d.npz", x_train=x[:6], y_train=y_train, **arrays)
    data = load_numpy(tmp_path / "d.npz")
    unseen = np.setdiff1d(y_held, y_train).tolist()
    assert data.reading.endswith(
        f"; 'y_{held_out}' holds class {unseen[0]}, which 'y_train' lacks: never learnt, still scored"
    )
    assert data.num_classes == 3
