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
from typing import Any

from optimlab.errors import InvalidValueError
from optimlab.registry import NON_NEGATIVE_INT, Interval, held_as, plain_numbers

__all__ = ["Schedule", "join", "step_count"]

Schedule = Callable[[int], float]
"""The optimizer-step count in, a value (here: a multiplier of the base learning rate) out."""


def step_count(value: Any, field: str, accepted: Interval, *, also: str = "") -> int:
    """``value`` as the whole number of steps it holds, read as the registry reads an integer
    hyperparameter (:meth:`~optimlab.registry.Entry.checked`: NumPy's numbers, a whole float such as 3.0
    from YAML); else refused in one line (``also`` added to the accepted values) naming the value as given
    (``np.True_``, not the ``True`` it holds)."""
    plain = plain_numbers(value)
    if not accepted.contains(plain):
        raise InvalidValueError(field, value, f"{accepted.accepted_for(plain)}{also}")
    return held_as(plain, accepted)


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Follow ``schedules[i]`` from ``boundaries[i - 1]`` on, each counting steps from its boundary.

    Args:
        schedules: the pieces, in order; ``len(boundaries) + 1`` of them.
        boundaries: non-decreasing steps at which the next piece takes over (that step included);
            whole numbers as :func:`step_count` reads them (3.0, a NumPy array).

    References:
        DeepMind et al., The DeepMind JAX Ecosystem (optax ``join_schedules``), 2020,
        https://github.com/google-deepmind/optax
    """
    schedules, given = list(schedules), list(boundaries)
    if len(schedules) != len(given) + 1:
        raise InvalidValueError(
            "join boundaries", given, f"one boundary fewer than the {len(schedules)} schedules"
        )
    accepted = "non-decreasing non-negative integers"
    plain = plain_numbers(given)  # NumPy's numbers (an array's items) as the Python ones they hold
    if not NON_NEGATIVE_INT.contains(plain):
        raise InvalidValueError("join boundaries", given, accepted)
    boundaries = [held_as(b, NON_NEGATIVE_INT) for b in plain]  # 3.0 as 3, as step_count reads it
    starts = [0, *boundaries]
    if any(b < a for a, b in zip(starts, boundaries)):
        raise InvalidValueError("join boundaries", given, accepted)

    def joined(step: int) -> float:
        piece = bisect.bisect_right(boundaries, step)  # a boundary step belongs to the piece it starts
        return schedules[piece](step - starts[piece])

    return joined
