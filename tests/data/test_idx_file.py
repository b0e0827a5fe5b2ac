"""IDX files (MNIST's format), gzipped or raw, written here byte by byte from the format's definition."""

import gzip
import re
import struct

import numpy as np
import pytest
import torch

import optimlab.data
from optimlab.data import load_idx, read_idx
from optimlab.errors import InvalidValueError


def idx_bytes(array: np.ndarray, type_code: int, big_endian_dtype: str) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(big_endian_dtype).tobytes()


IMAGES = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)
LABELS = np.array([7, 2, 7, 0, 2], dtype=np.uint8)


@pytest.mark.parametrize("gzipped", [False, True])
def test_images_and_labels_round_trip(tmp_path, gzipped):
    suffix, pack = (".gz", gzip.compress) if gzipped else ("", bytes)
    images, labels = (
        tmp_path / f"train-images-idx3-ubyte{suffix}",
        tmp_path / f"train-labels-idx1-ubyte{suffix}",
    )
    images.write_bytes(pack(idx_bytes(IMAGES, 0x08, ">u1")))
    labels.write_bytes(pack(idx_bytes(LABELS, 0x08, ">u1")))
    data = load_idx(images, labels)
    assert torch.equal(data.examples.x, torch.tensor(IMAGES, dtype=torch.float32)) and data.input_shape == (
        3,
        4,
    )
    assert data.examples.y.tolist() == [2, 1, 2, 0, 1] and data.num_classes == 3
    seen = []
    with optimlab.data.sources.noting_files(seen.append):  # labels file found by name, and said so
        splits = optimlab.data.load(images, val_fraction=0.0, test_fraction=0.0)
    assert len(splits.train) == 5 and splits.train.x.shape == (5, 3, 4)
    assert seen == [
        f"{images}, 5 rows of 3x4 values, labels from {labels.name}, labels 0, 2, 7 as classes 0-2 "
        "(classification, 3 classes)"
    ]


@pytest.mark.parametrize(
    "type_code, dtype", [(0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")]
)
def test_every_idx_type_is_read_in_native_byte_order(tmp_path, type_code, dtype):
    values = np.array([[-3, 1], [2, 5], [100, -100]]).astype(dtype)
    (tmp_path / "v.idx").write_bytes(idx_bytes(values, type_code, dtype))
    read = read_idx(tmp_path / "v.idx")
    assert read.dtype.isnative and np.array_equal(read, values)


def test_bad_magic_and_truncated_files_are_errors(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x08\x03\x00\x00rest")
    with pytest.raises(InvalidValueError, match="IDX magic number of bad.idx"):
        read_idx(tmp_path / "bad.idx")
    (tmp_path / "short.idx").write_bytes(idx_bytes(IMAGES, 0x08, ">u1")[:-5])
    with pytest.raises(InvalidValueError, match="size of short.idx.*truncated"):
        read_idx(tmp_path / "short.idx")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda raw: raw[:7], r"'7 bytes' for size of v.idx: accepted a header of 16 bytes for 3 dimensions"),
        (lambda raw: gzip.compress(raw)[:-20], r"'damaged \(Compressed file ended.*' for gzip file v.idx"),
        (lambda raw: b"\x1f\x8b" + raw, r"'damaged \(.*\)' for gzip file v.idx: accepted a whole gzip file"),
    ],
    ids=["header cut short", "gzip cut short", "gzip magic only"],
)
def test_a_file_cut_short_anywhere_is_named_not_a_traceback(tmp_path, damage, reason):
    (tmp_path / "v.idx").write_bytes(damage(idx_bytes(IMAGES, 0x08, ">u1")))
    with pytest.raises(InvalidValueError, match=reason):
        read_idx(tmp_path / "v.idx")


def test_labels_must_match_the_inputs(tmp_path):
    (tmp_path / "i.idx").write_bytes(idx_bytes(IMAGES, 0x08, ">u1"))
    (tmp_path / "l.idx").write_bytes(idx_bytes(LABELS[:3], 0x08, ">u1"))
    with pytest.raises(
        InvalidValueError, match=r"'shape \(3,\)' for labels in l.idx: .* input of i.idx: shape \(5,\)"
    ):
        load_idx(tmp_path / "i.idx", tmp_path / "l.idx")


def test_inputs_of_no_dimension_are_refused_naming_the_file(tmp_path):
    """An IDX file of 0 dimensions (one number) as the inputs raised TypeError 'len() of unsized object'."""
    (tmp_path / "i.idx").write_bytes(idx_bytes(np.array(5, dtype=np.uint8), 0x08, ">u1"))
    (tmp_path / "l.idx").write_bytes(idx_bytes(LABELS[:1], 0x08, ">u1"))
    with pytest.raises(
        InvalidValueError, match=r"'shape \(\)' for inputs in i.idx: accepted an array of one row per example"
    ):
        load_idx(tmp_path / "i.idx", tmp_path / "l.idx")


def test_a_labels_path_from_the_home_folder_is_read_as_the_data_path_is(tmp_path, monkeypatch):
    """labels_path '~/l.idx' was refused as 'an existing file' while the data's own '~/...' path is read."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "i.idx").write_bytes(idx_bytes(IMAGES, 0x08, ">u1"))
    (tmp_path / "l.idx").write_bytes(idx_bytes(LABELS, 0x08, ">u1"))
    splits = optimlab.data.load("~/i.idx", labels_path="~/l.idx", val_fraction=0.0, test_fraction=0.0)
    assert sorted(splits.train.y.tolist()) == [0, 1, 1, 2, 2]  # 0, 2, 7 as classes 0-2


def test_a_missing_labels_file_asks_for_labels_path(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(IMAGES, 0x08, ">u1"))
    with pytest.raises(InvalidValueError, match="labels_path"):
        optimlab.data.load(tmp_path / "t10k-images-idx3-ubyte")
    (tmp_path / "my-labels.idx").write_bytes(idx_bytes(LABELS, 0x08, ">u1"))
    splits = optimlab.data.load(tmp_path / "t10k-images-idx3-ubyte", labels_path=tmp_path / "my-labels.idx")
    assert splits.num_classes == 3


def test_the_labels_file_given_as_the_data_names_the_images_file_to_give(tmp_path):
    """--dataset train-labels-idx1-ubyte.gz was answered 'invalid value None for labels_path: accepted the
    IDX labels file that goes with train-labels-idx1-ubyte.gz': the file it asked for was the one given."""
    for name, images in (
        ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz"),
        ("t10k-labels.idx1-ubyte", "t10k-images.idx3-ubyte"),
    ):
        (tmp_path / name).write_bytes(idx_bytes(LABELS, 0x08, ">u1"))
        with pytest.raises(
            InvalidValueError,
            match=rf"'{re.escape(name)}' for data file: accepted the IDX images file \({re.escape(images)}\), "
            rf"whose labels are read from {re.escape(name)} beside it",
        ):
            optimlab.data.load(tmp_path / name)
