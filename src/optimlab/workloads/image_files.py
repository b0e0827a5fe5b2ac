"""The same models on image files a user already has: MNIST, Fashion-MNIST (IDX) and CIFAR-10 (python).

Nothing is downloaded: ``path`` is the folder where the files are. MNIST and Fashion-MNIST (LeCun et
al. 1998; Xiao et al., Fashion-MNIST, 2017, https://arxiv.org/abs/1708.07747) are read from their
training files ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]`` (60,000 images,
split 60/20/20 by optimlab); CIFAR-10 (Krizhevsky 2009) from the python-version batches
(:mod:`optimlab.data.cifar10`: Krizhevsky's split, validation drawn from the 50,000 training images,
``test_batch``'s 10,000 the test set). These workloads have no target yet: none of these
files is available offline where the targets were measured; ``benchmarks/workload_targets.py
--data-dir`` measures one where they are.

>>> get_workload("mnist_cnn", path="~/data/mnist").recipe.data.name  # doctest: +SKIP
'/home/me/data/mnist/train-images-idx3-ubyte.gz'
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from optimlab.data.cifar10 import is_cifar10_folder, not_a_cifar10_folder
from optimlab.data.idx_file import labels_file_of
from optimlab.errors import InvalidValueError
from optimlab.recipe import Recipe
from optimlab.registry import POSITIVE_INT, Capability, new_registry
from optimlab.user_paths import expand_home
from optimlab.workloads.workload import Workload, path_option

__all__: list[str] = []  # reached by name: get_workload("mnist_cnn", path=...)

_REGISTRY = new_registry("workload")
_IDX_IMAGES = ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "train-images.idx3-ubyte")


def _idx_data(folder: Path, field: str) -> dict[str, Any]:
    for name in _IDX_IMAGES:
        if (folder / name).is_file():
            labels = labels_file_of(folder / name)
            if not labels.is_file():  # else refused as the recipe's labels_path, at the first trial
                raise InvalidValueError(
                    field, str(folder), f"a folder holding {name} and its labels file {labels.name}"
                )
            return {"name": str(folder / name), "scaling": "standardize"}
    raise InvalidValueError(
        field, str(folder), f"a folder holding {' or '.join(_IDX_IMAGES)} and its labels file"
    )


def _cifar10_data(folder: Path, field: str) -> dict[str, Any]:
    if not is_cifar10_folder(folder):  # else refused as the recipe's data.options.path, at the first trial
        raise not_a_cifar10_folder(field, folder)
    return {"name": "cifar10", "scaling": "per_channel", "options": {"path": str(folder)}}


# family: (file reader, source)
_FILES = {
    "mnist": (
        _idx_data,
        "LeCun et al. 1998, Gradient-based learning applied to document recognition (MNIST)",
    ),
    "fashion_mnist": (_idx_data, "Xiao et al. 2017, Fashion-MNIST, arXiv:1708.07747"),
    "cifar10": (_cifar10_data, "Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images"),
}
# model: (recipe model section, epochs, batch size, description)
_MODELS = {
    "mlp": ({"name": "mlp", "width": 256, "depth": 2}, 5, 128, "MLP of two hidden layers of 256"),
    "cnn": ({"name": "cnn", "width": 32, "depth": 3}, 5, 128, "CNN of 3 conv blocks (32, 64, 128 channels)"),
    "resnet": (
        {"name": "resnet", "width": 16, "depth": 3, "norm": "batch"},
        20,
        128,
        "ResNet-20 with batch norm",
    ),
}
_PAIRS = (
    ("mnist", "mlp"),
    ("mnist", "cnn"),
    ("fashion_mnist", "mlp"),
    ("fashion_mnist", "cnn"),
    ("cifar10", "cnn"),
    ("cifar10", "resnet"),
)


def _files_workload(
    family: str,
    model: str,
    *,
    path: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
) -> Workload:
    """``model`` on the files of ``family`` in the folder ``path`` (``~`` expanded)."""
    name = f"{family}_{model}"
    field = path_option(name)
    if path is None:
        raise InvalidValueError(field, None, f"the folder of your {family} files")
    folder = expand_home(path, field)
    if not folder.is_dir():
        raise InvalidValueError(field, str(path), "an existing folder")
    section, default_epochs, default_batch, _ = _MODELS[model]
    recipe = Recipe.from_dict(
        {
            "data": _FILES[family][0](folder, field),
            "model": section,
            "training": {"epochs": epochs or default_epochs, "batch_size": batch_size or default_batch},
        }
    )
    return Workload(name=name, recipe=recipe, target=None)


for _family, _model in _PAIRS:
    _REGISTRY.register(
        f"{_family}_{_model}",
        summary=f"{_family} from your files (path=FOLDER), {_MODELS[_model][3]}, {_MODELS[_model][1]} epochs.",
        paper=_FILES[_family][1],
        accepts={"epochs": POSITIVE_INT, "batch_size": POSITIVE_INT},
        left_out={
            "path": "refused: the folder of your files is needed",
            "epochs": str(_MODELS[_model][1]),
            "batch_size": str(_MODELS[_model][2]),
        },
        capabilities=(Capability.USER_FILES,),
        obj=functools.partial(_files_workload, _family, _model),
    )
