"""A data set's digest, recorded with what it trained: a study resumed after its data changed (a CSV file
edited, a data factory's labels fixed) would otherwise average seeds trained on two data sets.

The digest is the sha256 of the dtype, shape and values of every tensor the data set holds (inputs and
targets of each split), in the order its dataclass fields list them. Dict batches, read batch by batch
and never held whole, have none.

>>> import torch
>>> from optimlab.data.examples import TensorPair
>>> x = torch.arange(6.0).reshape(3, 2)
>>> data_digest(TensorPair(x, torch.tensor([0, 1, 0]))) == data_digest(TensorPair(x, torch.tensor([0, 1, 1])))
False
>>> data_digest("not data") is None
True
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import torch

__all__ = ["data_digest", "held_tensors"]


def data_digest(held: Any) -> str | None:
    """sha256 of every tensor of ``held`` (a tensor, or a dataclass of them, nested: a data set's splits);
    None where it holds none."""
    tensors = held_tensors(held)
    if not tensors:
        return None
    digest = hashlib.sha256()
    for tensor in tensors:
        flat = tensor.detach().cpu().contiguous().flatten()
        digest.update(f"{flat.dtype}{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy())  # its buffer, not a copy (CIFAR-10's: 600 MB)
    return digest.hexdigest()


def held_tensors(held: Any) -> list[torch.Tensor]:
    """Every tensor of ``held``, in the order :func:`data_digest` hashes them."""
    if isinstance(held, torch.Tensor):
        return [held]
    if not dataclasses.is_dataclass(held) or isinstance(held, type):
        return []
    return [t for field in dataclasses.fields(held) for t in held_tensors(getattr(held, field.name))]
