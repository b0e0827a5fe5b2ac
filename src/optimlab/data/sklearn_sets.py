"""scikit-learn's bundled data sets: small, classic, and on disk with scikit-learn (no download).

Features are raw (digits are pixel intensities 0..16): scaling is a technique of its own, fitted on the
training split. The seed of :func:`optimlab.data.load` only decides the split; the data are fixed.

The files are read here, from scikit-learn's ``datasets/data`` folder, found without importing
scikit-learn: ``sklearn.datasets`` pulls in SciPy and most of scikit-learn, 2-3 s of CPU on every
``optimlab train --dataset digits`` (``benchmarks/cli_startup.py``), to parse a file of a
quarter megabyte. The arrays are the ones scikit-learn's ``load_*`` return (``tests/data/
test_sklearn_sets.py``); a file that is missing or laid out otherwise (another scikit-learn) falls
back to scikit-learn's own loader.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
from pathlib import Path

import numpy as np

from optimlab.data.cache import cached_arrays
from optimlab.data.examples import Examples
from optimlab.registry import Capability, new_registry

__all__: list[str] = []  # reached by name: optimlab.data.load("digits")

_REGISTRY = new_registry("dataset")


def _data_folder() -> Path | None:
    """scikit-learn's folder of bundled files, located without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


# Bumped where _parsed reads a file otherwise: arrays kept by an older one are then parsed again.
_PARSER_VERSION = 1


def _read_bundled_file(file_name: str, n: int, features: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Inputs (float64) and class labels (int) of a bundled file of ``n`` rows of ``features`` numbers
    and a label; None where the file is missing or not laid out so.

    Parsed once per machine: the arrays are kept in the cache folder (:func:`cached_arrays`) by the
    file's SHA-256 and :data:`_PARSER_VERSION`, as the file changes with scikit-learn. A study worker
    built a trial's data anew each trial, and parsing digits took ~50 ms of it; reading the kept arrays
    takes ~3 ms, hashing the file 0.06 ms (breast cancer's 120 kB: 0.3 ms; measured on CPU). Its size
    and modification time missed a file rewritten with other numbers of the same size and its time
    restored (``cp -p``, ``rsync -t``, ``tar``), and its change time ticks too coarsely to tell two
    writes apart.
    """
    folder = _data_folder()
    if folder is None:
        return None
    path = folder / file_name
    try:
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        kept = cached_arrays(
            f"sklearn-{file_name.split('.')[0]}",
            {"sha256": content, "parser": _PARSER_VERSION, "rows": n, "features": features},
            lambda: _parsed(path, n, features),
            {"x": (n, features), "y": (n,)},
        )
    except (OSError, ValueError, EOFError):  # missing, unreadable, not numbers or laid out otherwise
        return None
    return kept["x"], kept["y"]


def _parsed(path: Path, n: int, features: int) -> dict[str, np.ndarray]:
    """The arrays of :func:`_read_bundled_file`, parsed from the file at ``path``; ValueError where it is
    not laid out so.

    Two layouts: a gzipped CSV of rows alone (digits), and a CSV whose first row reads ``n, features,
    class names...`` (iris, wine, breast cancer).
    """
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as file:
            table = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
    else:
        with path.open(encoding="utf-8") as file:
            header = file.readline().split(",")
            if header[:2] != [str(n), str(features)]:
                raise ValueError(f"{path} starts with {header[:2]}, not {n}, {features}")
            table = np.loadtxt(file, delimiter=",", dtype=np.float64, ndmin=2)
    labels = table[:, -1]
    if table.shape != (n, features + 1) or not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"{path} holds a table of shape {table.shape}, not {(n, features + 1)} of labels")
    return {"x": np.ascontiguousarray(table[:, :-1]), "y": labels.astype(int)}


def _bundled(
    loader_name: str,
    file_name: str,
    shape: tuple[int, int],
    name: str,
    image_shape: tuple[int, ...] | None,
    seed: int,
) -> Examples:
    del seed  # fixed data: the seed only decides the split
    arrays = _read_bundled_file(file_name, *shape)
    if arrays is None:
        from sklearn import datasets  # another scikit-learn's files: its own loader reads them

        arrays = getattr(datasets, loader_name)(return_X_y=True)
    x, y = arrays
    return Examples.from_arrays(x, y, name=name, task="classification", image_shape=image_shape)


# name: (scikit-learn loader, its file, (examples, features), image shape, aliases, summary, source)
_BUNDLED = {
    "digits": (
        "load_digits",
        "digits.csv.gz",
        (1797, 64),
        (1, 8, 8),
        (),
        "1,797 handwritten digits, 8x8 pixels as 64 features (image shape (1, 8, 8)), 10 classes.",
        "Alpaydin & Kaynak 1998, Optical Recognition of Handwritten Digits, UCI ML Repository",
    ),
    "iris": (
        "load_iris",
        "iris.csv",
        (150, 4),
        None,
        (),
        "150 iris flowers, 4 measurements, 3 species.",
        "Fisher 1936, The use of multiple measurements in taxonomic problems, Annals of Eugenics 7(2)",
    ),
    "wine": (
        "load_wine",
        "wine_data.csv",
        (178, 13),
        None,
        (),
        "178 wines, 13 chemical measurements, 3 cultivars.",
        "Aeberhard & Forina 1991, Wine, UCI ML Repository",
    ),
    "breast_cancer": (
        "load_breast_cancer",
        "breast_cancer.csv",
        (569, 30),
        None,
        ("cancer",),
        "569 breast masses, 30 features of cell nuclei, malignant or benign.",
        "Street et al. 1993, Nuclear feature extraction for breast tumor diagnosis, SPIE 1905",
    ),
}

for _name, (_loader, _file, _shape, _image_shape, _aliases, _summary, _source) in _BUNDLED.items():
    _REGISTRY.register(
        _name,
        summary=_summary,
        paper=_source,
        aliases=_aliases,
        capabilities=(Capability.CLASSIFICATION, Capability.IMAGES)
        if _image_shape
        else (Capability.CLASSIFICATION,),
        obj=functools.partial(_bundled, _loader, _file, _shape, _name, _image_shape),
    )
