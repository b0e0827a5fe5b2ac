"""scikit-learn's bundled data sets: small, classic, and on disk with scikit-learn (no download).

Features are raw (digits are pixel intensities 0..16): scaling is a technique of its own, fitted on the
training split. The seed of :func:`optimlab.data.load` only decides the split; the data are fixed.
"""

from __future__ import annotations

import functools

from optimlab.data.examples import Examples
from optimlab.registry import Capability, new_registry

__all__: list[str] = []  # reached by name: optimlab.data.load("digits")

_REGISTRY = new_registry("dataset")


def _bundled(loader_name: str, name: str, image_shape: tuple[int, ...] | None, seed: int) -> Examples:
    del seed  # fixed data: the seed only decides the split
    from sklearn import datasets  # imported on use: scikit-learn takes a second to import

    x, y = getattr(datasets, loader_name)(return_X_y=True)
    return Examples.from_arrays(x, y, name=name, task="classification", image_shape=image_shape)


# name: (scikit-learn loader, image shape, aliases, summary, source)
_BUNDLED = {
    "digits": (
        "load_digits",
        (1, 8, 8),
        (),
        "1,797 handwritten digits, 8x8 pixels as 64 features (image shape (1, 8, 8)), 10 classes.",
        "Alpaydin & Kaynak 1998, Optical Recognition of Handwritten Digits, UCI ML Repository",
    ),
    "iris": (
        "load_iris",
        None,
        (),
        "150 iris flowers, 4 measurements, 3 species.",
        "Fisher 1936, The use of multiple measurements in taxonomic problems, Annals of Eugenics 7(2)",
    ),
    "wine": (
        "load_wine",
        None,
        (),
        "178 wines, 13 chemical measurements, 3 cultivars.",
        "Aeberhard & Forina 1991, Wine, UCI ML Repository",
    ),
    "breast_cancer": (
        "load_breast_cancer",
        None,
        ("cancer",),
        "569 breast masses, 30 features of cell nuclei, malignant or benign.",
        "Street et al. 1993, Nuclear feature extraction for breast tumor diagnosis, SPIE 1905",
    ),
}

for _name, (_loader, _image_shape, _aliases, _summary, _source) in _BUNDLED.items():
    _REGISTRY.register(
        _name,
        summary=_summary,
        paper=_source,
        aliases=_aliases,
        capabilities=(Capability.CLASSIFICATION, Capability.IMAGES)
        if _image_shape
        else (Capability.CLASSIFICATION,),
        obj=functools.partial(_bundled, _loader, _name, _image_shape),
    )
