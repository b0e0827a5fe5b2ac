"""Mini-batches of in-memory tensors by index permutation, without a DataLoader.

For data that already sits in memory as two tensors, a DataLoader collates every batch from single
examples in Python; one gather per epoch and then slicing views costs two tensor ops per epoch plus one
slice per batch instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from optimlab.data.examples import TensorPair
from optimlab.errors import InvalidValueError
from optimlab.registry import BATCH_ROWS, whole_number

__all__ = ["RECIPE_BATCHING", "batches", "epoch_order", "epoch_permutation", "steps_per_epoch"]


def epoch_permutation(seed: int, epoch: int, n: int, device: torch.device | str = "cpu") -> Tensor:
    """The order of the ``n`` training rows in ``epoch``: a function of (seed, epoch) alone."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def epoch_order(
    seed: int, epoch: int, n: int, device: torch.device | str = "cpu", *, shuffle: bool = True
) -> Tensor:
    """The rows of ``epoch`` in batch order: :func:`epoch_permutation`, or 0..n-1 unless ``shuffle``."""
    return epoch_permutation(seed, epoch, n, device) if shuffle else torch.arange(n, device=device)


# how a recipe's batch size and drop_last are named: by their fields, the batch size by its flag too
RECIPE_BATCHING = ("training.batch_size (--batch-size)", "training.drop_last")


def steps_per_epoch(
    n: int, batch_size: int, drop_last: bool = False, *, names: tuple[str, str] = ("batch_size", "drop_last")
) -> int:
    """Batches in an epoch of ``n`` rows; ``drop_last`` drops the last one when it is smaller. A refusal
    names the two as ``names`` says: the arguments of ``optimlab.fit``'s, a recipe's fields
    (:data:`RECIPE_BATCHING`)."""
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if steps == 0:
        raise InvalidValueError(
            names[0], batch_size, f"at most the {n} training rows when {names[1]} drops smaller batches"
        )
    return steps


def batches(
    pair: TensorPair,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """One epoch of ``(x, y)`` batches of ``batch_size`` rows (the last one smaller unless ``drop_last``).

    With ``shuffle``, the rows are permuted by ``generator``, which is required so that every random
    choice comes from a seed: the same generator state gives the same batches.

    >>> import torch
    >>> pair = TensorPair(torch.arange(5.0).unsqueeze(1), torch.arange(5))
    >>> [y.tolist() for _, y in batches(pair, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    batch_size = whole_number(batch_size, "batch_size", BATCH_ROWS)  # numpy's integers too
    x, y = pair.x, pair.y
    if shuffle:
        if generator is None:
            raise InvalidValueError("generator", None, "a seeded torch.Generator when shuffle=True")
        order = torch.randperm(len(pair), generator=generator, device=generator.device).to(x.device)
        x, y = x[order], y[order]
    stop = len(pair) - len(pair) % batch_size if drop_last else len(pair)
    for start in range(0, stop, batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]
