"""Tiny fake user files in the formats the ``*_files`` workloads read: IDX (MNIST) and CIFAR-10 batches.

Both fixtures write into the test's ``tmp_path``, so a test asking for both gets one folder holding both.
"""

import pickle
import struct

import numpy as np
import pytest


def _write_idx(path, array):
    codes = {np.uint8: 0x08}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(">u1").tobytes())


@pytest.fixture
def mnist_folder(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (50, 28, 28), dtype=np.uint8))
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(50, dtype=np.uint8) % 10)
    return tmp_path


@pytest.fixture
def cifar_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("data_batch_1", "test_batch"):
        batch = {
            b"data": rng.integers(0, 256, (30, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(30)],
        }
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
    return tmp_path
