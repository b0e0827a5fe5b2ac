"""MNIST-1D: ten 1-d digit templates, padded, sheared, shifted and noised into 40-value sequences.

Greydanus & Kobak, Scaling Down Deep Learning with MNIST-1D, 2020, https://arxiv.org/abs/2011.14439.
Small enough for a CPU, yet a CNN beats an MLP on it, as on MNIST. Generated procedurally by the
``mnist1d`` package (never downloaded). Two ways to split it:

* ``split="stratified"`` (the default): generated from the seed of :func:`optimlab.data.load`, the
  generator's own 80/20 split ignored in favour of optimlab's stratified split from the same seed;
* ``split="original"``: the paper's data set, i.e. the package's default arguments (its own seed 42,
  ``get_dataset_args``) with its own split, the first 80% (``x``, ``y``: 4,000 of the default 5,000)
  to train on and the rest (``x_test``, ``y_test``: 1,000) as the test set; with another ``n``, the
  package's generator and split at its seed 42 (not the paper's data set). The load's seed then
  decides only the validation rows (``val_fraction``, 0 in the paper's protocol, which keeps the
  training rows in the package's order).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from typing import Any

import numpy as np
import torch

from optimlab.data.cache import cached_arrays
from optimlab.data.examples import Examples
from optimlab.data.global_rng import global_generators_given_back
from optimlab.registry import Capability, Interval, new_registry

__all__ = ["SIZES", "mnist1d"]

_REGISTRY = new_registry("dataset")
SPLITS = ("stratified", "original")
# At least one sequence per class; at most a million, which the package generates in about 9 minutes
# (0.5 ms a sequence: 20,000 in 10.5 s on the shared 2-core CPU box, 2026-12-05). n: 10**11 was taken
# and generated until memory ran out, with no word.
SIZES = Interval(10, 1_000_000, integer=True)


@_REGISTRY.register(
    "mnist1d",
    summary="MNIST-1D: 40-value sequences of 10 digit classes (5,000 by default); split: original is "
    "the paper's data set with its own 4,000/1,000 train/test split.",
    paper="Greydanus & Kobak 2020, Scaling Down Deep Learning with MNIST-1D, arXiv:2011.14439",
    accepts={"n": SIZES, "split": SPLITS},
    aliases=("mnist_1d",),
    capabilities=(Capability.CLASSIFICATION, Capability.SEQUENCES),
)
def mnist1d(seed: int, *, n: int = 5000, split: str = "stratified") -> Examples:
    """``n`` sequences (rounded down to a multiple of 10: the classes are balanced), input shape (40,)."""
    from mnist1d.data import get_dataset_args  # imported on use: it pulls in matplotlib

    args = get_dataset_args()
    args.num_samples = n
    if split == "stratified":
        args.seed = seed
    key = {"mnist1d": importlib.metadata.version("mnist1d"), **vars(args)}
    shapes = {"x": (None, None), "y": (None,), "x_test": (None, None), "y_test": (None,)}
    made = cached_arrays("mnist1d", key, lambda: _generated(args), shapes)
    x = np.concatenate([made["x"], made["x_test"]])
    y = np.concatenate([made["y"], made["y_test"]])
    examples = Examples.from_arrays(x, y, name="mnist1d", task="classification")
    if split == "stratified":
        return examples
    train = len(made["y"])
    rows = examples.examples
    return dataclasses.replace(
        examples,
        examples=rows.subset(torch.arange(train)),
        test=rows.subset(torch.arange(train, len(rows))),
    )


def _generated(args: Any) -> dict[str, np.ndarray]:
    """The package's ``make_dataset(args)`` arrays, the global random state left as it was."""
    from mnist1d.data import make_dataset

    with global_generators_given_back():  # make_dataset seeds NumPy's and Python's global generators
        made = make_dataset(args)
    return {k: made[k] for k in ("x", "y", "x_test", "y_test")}
