"""Schedules as ``step -> value`` functions, and the join that composes them.

A schedule is any callable from the optimizer-step count (0, 1, 2, ...) to a float. Composites are
joins: ``join([a, b], [100])`` follows ``a`` for steps 0..99 and then ``b``, which sees the step
counted from its boundary (``b(0)`` at step 100), as optax's ``join_schedules`` does.

>>> from optimlab.schedules import join
>>> halve_at_3 = join([lambda t: 1.0, lambda t: 0.5], [3])
>>> [halve_at_3(t) for t in range(5)]
[1.0, 1.0, 1.0, 0.5, 0.5]
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

from optimlab.errors import InvalidValueError
from optimlab.registry import plain_numbers

__all__ = ["Schedule", "join"]

Schedule = Callable[[int], float]
"""The optimizer-step count in, a value (here: a multiplier of the base learning rate) out."""


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Follow ``schedules[i]`` from ``boundaries[i - 1]`` on, each counting steps from its boundary.

    Args:
        schedules: the pieces, in order; ``len(boundaries) + 1`` of them.
        boundaries: non-decreasing steps at which the next piece takes over (that step included).

    References:
        DeepMind et al., The DeepMind JAX Ecosystem (optax ``join_schedules``), 2020,
        https://github.com/google-deepmind/optax
    """
    schedules, boundaries = list(schedules), plain_numbers(list(boundaries))  # np.int64 steps as ints
    if len(schedules) != len(boundaries) + 1:
        raise InvalidValueError(
            "join boundaries", boundaries, f"one boundary fewer than the {len(schedules)} schedules"
        )
    starts = [0, *boundaries]
    if any(not isinstance(b, int) or isinstance(b, bool) or b < a for a, b in zip(starts, boundaries)):
        raise InvalidValueError("join boundaries", boundaries, "non-decreasing non-negative integers")

    def joined(step: int) -> float:
        piece = bisect.bisect_right(boundaries, step)  # a boundary step belongs to the piece it starts
        return schedules[piece](step - starts[piece])

    return joined
