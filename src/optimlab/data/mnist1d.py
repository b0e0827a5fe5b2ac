"""MNIST-1D: ten 1-d digit templates, padded, sheared, shifted and noised into 40-value sequences.

Greydanus & Kobak, Scaling Down Deep Learning with MNIST-1D, 2020, https://arxiv.org/abs/2011.14439.
Small enough for a CPU, yet a CNN beats an MLP on it, as on MNIST. Generated procedurally by the
``mnist1d`` package (never downloaded) from the seed of :func:`optimlab.data.load`; the generator's own
80/20 split is ignored in favour of optimlab's stratified split from the same seed.
"""

from __future__ import annotations

import random

import numpy as np

from optimlab.data.examples import Examples
from optimlab.registry import Capability, Interval, new_registry

__all__ = ["mnist1d"]

_REGISTRY = new_registry("dataset")


@_REGISTRY.register(
    "mnist1d",
    summary="MNIST-1D: 40-value sequences of 10 digit classes, generated from the seed (5,000 by default).",
    paper="Greydanus & Kobak 2020, Scaling Down Deep Learning with MNIST-1D, arXiv:2011.14439",
    accepts={"n": Interval(10, None, integer=True)},  # at least one example per class
    aliases=("mnist_1d",),
    capabilities=(Capability.CLASSIFICATION, Capability.SEQUENCES),
)
def mnist1d(seed: int, *, n: int = 5000) -> Examples:
    """``n`` sequences (rounded down to a multiple of 10: the classes are balanced), input shape (40,)."""
    from mnist1d.data import get_dataset_args, make_dataset  # imported on use: it pulls in matplotlib

    args = get_dataset_args()
    args.num_samples, args.seed = n, seed
    # make_dataset seeds NumPy's and Python's global generators; give the caller's state back.
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    x = np.concatenate([made["x"], made["x_test"]])
    y = np.concatenate([made["y"], made["y_test"]])
    return Examples.from_arrays(x, y, name="mnist1d", task="classification")
