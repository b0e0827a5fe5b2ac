"""Every registered workload builds, names a metric its run reports, and trains; suites and user files."""

import pickle

import numpy as np
import pytest

import optimlab.bench.workloads  # noqa: F401  (registers the bench's workloads)
from optimlab.bench import SUITES, suite
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import get_registry
from optimlab.study.workloads import get_workload
from optimlab.train.run import train

REGISTRY = get_registry("workload")
BUILT_IN = [e.name for e in REGISTRY if "user_files" not in e.capabilities]
USER_FILES = [e.name for e in REGISTRY if "user_files" in e.capabilities]


# Workloads that need a change outside optimlab.bench, requested from the lead (docs/workloads.md):
@pytest.mark.parametrize("name", BUILT_IN)
def test_each_workload_trains_and_reports_its_tuned_and_test_metrics(name):
    workload = get_workload(name)
    assert workload.goal in ("max", "min") and workload.metric.startswith("val_")
    assert workload.test_metric == "test_" + workload.metric.removeprefix("val_")
    assert workload.target is None or isinstance(workload.target, float)
    result = train(workload.recipe.with_updates({"training.steps": 3, "training.eval_every": 3}))
    assert result.status == "completed" and result.steps == 3
    assert workload.metric in result.metrics and workload.test_metric in result.metrics


def test_each_suite_lists_registered_workloads_with_valid_options():
    for name, entries in SUITES.items():
        for workload, options in entries.items():
            assert workload in REGISTRY, f"suite {name} names unknown workload {workload}"
            REGISTRY.get(workload).validate(options)
    assert "small" in SUITES and set(SUITES["small"]) <= set(SUITES["full"])
    with pytest.raises(UnknownNameError, match="Did you mean 'small'"):
        suite("smal")


def _write_idx(path, array):
    import struct

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


@pytest.mark.parametrize("name", USER_FILES)
def test_user_file_workloads_read_the_folder_given_and_train(name, mnist_folder, cifar_folder):
    folder = cifar_folder if name.startswith("cifar10") else mnist_folder
    workload = get_workload(name, path=str(folder), epochs=1)
    splits_shape = (3, 32, 32) if name.startswith("cifar10") else (28, 28)
    result = train(workload.recipe.with_updates({"training.steps": 2, "training.batch_size": 8}))
    assert result.status == "completed" and "test_accuracy" in result.metrics
    from optimlab.build import build_data

    assert tuple(build_data(workload.recipe).train.x.shape[1:]) == splits_shape
    with pytest.raises(InvalidValueError, match="option 'path'"):
        get_workload(name)
    with pytest.raises(InvalidValueError, match="option 'path'"):
        get_workload(name, path=str(folder / "missing"))
