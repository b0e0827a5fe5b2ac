"""Data in memory: built-in sets (no download), user files, deterministic splits, fast mini-batches.

>>> import optimlab.data
>>> splits = optimlab.data.load("digits", seed=0)
>>> splits.train.x.shape[1:], splits.image_shape, splits.num_classes
(torch.Size([64]), (1, 8, 8), 10)

Built-in sets (``optimlab list dataset``): digits, iris, wine, breast_cancer (scikit-learn), mnist1d,
two_spirals, teacher_student, noisy_quadratic, quadratic_deep (DeepOBS's own splits), python_source
(next characters of the standard library's source); cifar10 from the user's batch files. Files: .csv
(.tsv; gzipped or not), .npy, .npz, IDX; folders of images, one sub-folder per class. Any torch Dataset:
``split(from_torch_dataset(ds), seed=0)``.
"""

from __future__ import annotations

from optimlab.data import (  # noqa: F401  (fill the registry)
    cifar10,
    mnist1d,
    noisy_quadratic,
    python_source,
    quadratic_deep,
    sklearn_sets,
    synthetic,
)
from optimlab.data.batches import batches
from optimlab.data.csv_file import load_csv
from optimlab.data.examples import DatasetInfo, Examples, TensorPair
from optimlab.data.idx_file import load_idx, read_idx
from optimlab.data.image_folder import load_image_folder
from optimlab.data.noisy_quadratic import QuadraticLoss
from optimlab.data.numpy_file import load_numpy
from optimlab.data.sources import load
from optimlab.data.splits import Splits, split
from optimlab.data.torch_dataset import from_torch_dataset
from optimlab.data.user_factory import adapt_dataset
from optimlab.registry import get_registry

get_registry("dataset").adapt_import = adapt_dataset

__all__ = [
    "DatasetInfo",
    "Examples",
    "QuadraticLoss",
    "Splits",
    "TensorPair",
    "batches",
    "from_torch_dataset",
    "load",
    "load_csv",
    "load_idx",
    "load_image_folder",
    "load_numpy",
    "read_idx",
    "split",
]
