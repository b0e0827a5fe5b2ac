"""CIFAR-10 python batches: read from a folder of (fake) batch files; anything but arrays is refused."""

import os
import pickle

import numpy as np
import pytest

from optimlab.data import load
from optimlab.data.cifar10 import cifar10, read_batch
from optimlab.errors import InvalidValueError


def write_batch(path, images, labels, protocol=2):
    batch = {
        b"batch_label": b"fake",
        b"data": images.reshape(len(images), -1),
        b"labels": list(labels),
        b"filenames": [b"x.png"] * len(labels),
    }
    path.write_bytes(pickle.dumps(batch, protocol=protocol))


def test_batches_keep_the_channel_planes_and_every_batch_is_read(tmp_path):
    images = np.zeros((10, 3, 32, 32), dtype=np.uint8)
    images[:, 0, 0, 1] = 7  # red plane, row 0, column 1: the second byte of each stored row
    images[:, 2, 31, 31] = 200  # blue plane, last pixel: the last byte
    write_batch(tmp_path / "data_batch_1", images, range(10))
    write_batch(tmp_path / "test_batch", images[:4], [3, 3, 5, 5], protocol=4)
    raw = pickle.loads((tmp_path / "data_batch_1").read_bytes(), encoding="bytes")[b"data"]
    assert raw[0, 1] == 7 and raw[0, 3071] == 200
    x, y = read_batch(tmp_path / "data_batch_1")
    assert (
        x.shape == (10, 3, 32, 32)
        and x[0, 0, 0, 1] == 7
        and x[0, 2, 31, 31] == 200
        and list(y) == list(range(10))
    )
    data = cifar10(0, path=str(tmp_path))
    assert len(data.examples) + len(data.test) == 14 and data.image_shape == (3, 32, 32)
    assert data.num_classes == 10
    splits = load("cifar10", seed=0, path=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    assert splits.train.x.shape[1:] == (3, 32, 32)


def test_test_batch_is_the_test_split_and_validation_comes_from_the_data_batches(tmp_path):
    """Krizhevsky's split: the data batches train, test_batch tests. Each image is marked by its row's
    value at pixel (0, 0, 0) and its file's at (0, 0, 1); before, the 60,000 were pooled, so 20% of the
    data batches' images were tested on and test_batch's were trained on."""
    for file, count in (("data_batch_1", 50), ("data_batch_2", 50), ("test_batch", 50)):
        images = np.zeros((count, 3, 32, 32), dtype=np.uint8)
        images[:, 0, 0, 0] = np.arange(count)
        images[:, 0, 0, 1] = 9 if file == "test_batch" else 1
        write_batch(tmp_path / file, images, np.arange(count) % 10)
    splits = load("cifar10", seed=0, path=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (80, 20, 50)
    assert (splits.test.x[:, 0, 0, 1] == 9).all() and splits.test.x[:, 0, 0, 0].tolist() == list(range(50))
    assert splits.test.y.tolist() == [i % 10 for i in range(50)]
    for part in (splits.train, splits.val):
        assert (part.x[:, 0, 0, 1] == 1).all()
    (tmp_path / "data_batch_1").unlink()
    (tmp_path / "data_batch_2").unlink()
    alone = load("cifar10", seed=0, path=str(tmp_path), val_fraction=0.2, test_fraction=0.2)
    assert (len(alone.train), len(alone.val), len(alone.test)) == (30, 10, 10)


class Payload:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


def test_pickles_holding_anything_but_arrays_are_refused(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}))
    with pytest.raises(InvalidValueError, match="only arrays and lists, not posix.system"):
        read_batch(tmp_path / "data_batch_1")
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"labels": [1]}))
    with pytest.raises(InvalidValueError, match="a dict with b'data' and b'labels'"):
        read_batch(tmp_path / "data_batch_1")


@pytest.mark.parametrize(
    ("labels", "where", "said"),
    [
        (["cat", "dog", "cat", "dog"], "label 0", "'cat'"),  # ValueError: invalid literal for int()
        (None, "labels", "None"),  # TypeError: int() argument must be ... not 'NoneType'
        ([0, 1.0, 1.7, 2], "label 2", "1.7"),  # cast to 1 without a word
    ],
)
def test_labels_that_are_not_class_ids_are_refused_not_cast(tmp_path, labels, where, said):
    images = np.zeros((4, 3072), dtype=np.uint8)
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": images, b"labels": labels}, protocol=2))
    with pytest.raises(InvalidValueError) as refused:
        read_batch(tmp_path / "data_batch_1")
    assert str(refused.value) == (
        f"invalid value {said} for {where} of CIFAR-10 batch data_batch_1: accepted whole-number class ids, "
        "one per image."
    )
    write_batch(tmp_path / "data_batch_1", images, [0, 1.0, np.int64(2), 3])  # whole numbers of any type
    assert read_batch(tmp_path / "data_batch_1")[1].tolist() == [0, 1, 2, 3]


def test_a_missing_path_or_an_empty_folder_names_the_files_expected(tmp_path):
    with pytest.raises(InvalidValueError, match="python-version batches"):
        cifar10(0)
    with pytest.raises(InvalidValueError, match="data_batch_1, data_batch_2"):
        cifar10(0, path=str(tmp_path))


def test_the_batches_folder_given_as_the_data_is_read_as_cifar10(tmp_path, cli):
    """`--dataset ~/cifar-10-batches-py` was read as a folder of class folders and refused, and `--dataset
    cifar10` said "invalid value None for dataset 'cifar10' option 'path'" with no way to give it on the
    command line. The folder is CIFAR-10 itself now, split as cifar10 splits it."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for file in ("data_batch_1", "test_batch"):
        images = np.random.default_rng(len(file)).integers(0, 256, (40, 3, 32, 32), dtype=np.uint8)
        write_batch(folder / file, images, np.arange(40) % 10)
    by_folder = load(folder, seed=3)
    by_name = load("cifar10", seed=3, path=str(folder))
    for part in ("train", "val", "test"):
        ours, theirs = getattr(by_folder, part), getattr(by_name, part)
        assert ours.x.equal(theirs.x) and ours.y.equal(theirs.y)
    assert len(by_folder.test) == 40  # test_batch, whole
    code, out, err = cli(
        "train", "--dataset", str(folder), "--model", "cnn", "--steps", "2", "--out", str(tmp_path / "run")
    )
    assert code == 0 and "cifar-10-batches-py, 80 images of 3x32x32" in out + err, err
    code, _, err = cli("train", "--dataset", "cifar10", "--model", "cnn", "--steps", "1")
    [line] = err.strip().splitlines()
    assert code == 2 and line.endswith("or the folder itself as the data set (--dataset FOLDER)."), line
