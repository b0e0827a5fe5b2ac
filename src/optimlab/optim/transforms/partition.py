"""Two transforms over one list of parameters, each on the tensors a predicate gives it.

Muon orthogonalizes matrices and leaves biases, gains and embeddings to AdamW; this is how one chain
does both (optax calls it ``multi_transform``). The predicate is read from each tensor at every step,
so any subset of a group (the tensors that have gradients) is routed the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from torch import Tensor

from optimlab.optim.base import GradientTransformation, Params, State, Updates

__all__ = ["PartitionState", "partition"]


class PartitionState(NamedTuple):
    selected: State  # the state of ``on_selected``, its per-parameter lists spread over all parameters
    others: State  # the state of ``on_others``, likewise; None where a parameter belongs to the other side


def _map_lists(state: State, fn: Callable[[list[Any]], list[Any]]) -> State:
    """``state`` with ``fn`` applied to each per-parameter list (lists are the leaves that hold tensors)."""
    if isinstance(state, list):
        return fn(state)
    if isinstance(state, tuple):
        values = [_map_lists(value, fn) for value in state]
        return type(state)(*values) if hasattr(state, "_fields") else tuple(values)
    return state


def _gather(state: State, index: Sequence[int]) -> State:
    """The per-parameter lists of ``state`` restricted to the parameters at ``index``."""
    return _map_lists(state, lambda values: [values[i] for i in index])


def _scatter(full: State, part: State, index: Sequence[int]) -> State:
    """``full`` with its list entries at ``index`` replaced by ``part``'s, and ``part``'s shared counters."""
    if isinstance(full, list):
        merged = list(full)
        for i, value in zip(index, part):
            merged[i] = value
        return merged
    if isinstance(full, tuple):
        values = [_scatter(f, p, index) for f, p in zip(full, part)]
        return type(full)(*values) if hasattr(full, "_fields") else tuple(values)
    return part


def partition(
    select: Callable[[Tensor], bool], on_selected: GradientTransformation, on_others: GradientTransformation
) -> GradientTransformation:
    """``on_selected`` for the tensors where ``select(p)`` is true, ``on_others`` for the rest.

    Each side's per-parameter state is kept in lists over all parameters (None on the other side's
    tensors), so a shell stores it per parameter like any state; each side's shared counters advance
    only on the steps that side receives tensors, as two separate optimizers would.
    """

    def split(params: Params) -> tuple[list[int], list[int]]:
        chosen = [select(p) for p in params]
        return [i for i, c in enumerate(chosen) if c], [i for i, c in enumerate(chosen) if not c]

    def init(params: Params) -> PartitionState:
        size = len(params)
        sides = []
        for index, transform in zip(split(params), (on_selected, on_others)):
            part = transform.init([params[i] for i in index])
            sides.append(_scatter(_map_lists(part, lambda _: [None] * size), part, index))
        return PartitionState(*sides)

    def update(updates: Updates, state: PartitionState, params: Params) -> tuple[Updates, PartitionState]:
        out: list[Tensor] = list(updates)
        sides = []
        for index, transform, side in zip(split(params), (on_selected, on_others), state):
            if index:
                part, side_state = transform.update(
                    [updates[i] for i in index], _gather(side, index), [params[i] for i in index]
                )
                for i, u in zip(index, part):
                    out[i] = u
                side = _scatter(side, side_state, index)
            sides.append(side)
        return out, PartitionState(*sides)

    return GradientTransformation(init, update)
