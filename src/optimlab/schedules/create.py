"""A named schedule from a recipe's fields: the family, the run's length, and a linear warmup.

Warmup is the same for every family: a join of a linear ramp and the schedule, the schedule counting
its steps from the end of the warmup, over the run's remaining ``total_steps - warmup_steps``.

>>> from optimlab.schedules import create
>>> warm_cosine = create("cosine", total_steps=110, warmup_steps=10)
>>> warm_cosine(0), warm_cosine(5), warm_cosine(10), round(warm_cosine(60), 6), warm_cosine(110)
(0.0, 0.5, 1.0, 0.5, 0.0)
"""

from __future__ import annotations

from typing import Any

from optimlab.errors import InvalidValueError
from optimlab.number_text import count_of
from optimlab.registry import NON_NEGATIVE_INT, POSITIVE_INT, UNIT, Capability, new_registry, plain_numbers
from optimlab.schedules.families import linear
from optimlab.schedules.join import Schedule, join, step_count

__all__ = ["check_warmup", "create", "linear_warmup"]

_REGISTRY = new_registry("schedule")


def linear_warmup(schedule: Schedule, warmup_steps: int, *, start: float = 0.0) -> Schedule:
    """Ramp linearly from ``start`` at step 0 to ``schedule(0)`` at ``warmup_steps``, then follow it.

    The ramp ends where the schedule begins, so the join is continuous. ``schedule`` sees the step
    counted from the end of the warmup.

    References: Goyal et al., Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour, 2017,
    https://arxiv.org/abs/1706.02677
    """
    warmup_steps = step_count(warmup_steps, "warmup_steps", NON_NEGATIVE_INT)  # 10.0 from YAML as 10
    if not UNIT.contains(plain_numbers(start)):
        raise InvalidValueError("warmup start", start, str(UNIT))
    start = plain_numbers(start)  # NumPy's number as the one it holds
    if warmup_steps == 0:
        return schedule
    ramp = linear(start_factor=start, end_factor=schedule(0), total_iters=warmup_steps)
    return join([ramp, schedule], [warmup_steps])


def check_warmup(name: str, total_steps: int | None, warmup_steps: int, field: str = "warmup_steps") -> None:
    """Refuse, as ``field`` (the recipe's or a flag's name for it), more warmup steps than schedule
    ``name`` takes in a run of ``total_steps`` (None: a run of any length): the whole run, or one step
    fewer where the family spans the steps after the warmup (cosine's decay, wsd's); and any warmup
    before a metric-driven schedule."""
    entry = _REGISTRY.get(name)
    if Capability.METRIC_DRIVEN in entry.capabilities and warmup_steps:
        raise InvalidValueError(
            field,
            warmup_steps,
            f"0: {entry.name} is driven by a metric and keeps its state in one object, which a join "
            "would hide",
        )
    if total_steps is None:
        return
    if Capability.NEEDS_TOTAL_STEPS in entry.capabilities:
        most, why = (
            total_steps - 1,
            f"the run's {count_of(total_steps, 'step')} less one, for {entry.name} after the warmup",
        )
    else:
        most, why = total_steps, f"the run's {count_of(total_steps, 'step')}"
    if warmup_steps > most:
        raise InvalidValueError(field, warmup_steps, f"at most {most}: {why}")


def create(
    name: str,
    *,
    total_steps: int | None = None,
    warmup_steps: int = 0,
    warmup_start: float = 0.0,
    **hyperparameters: Any,
) -> Schedule:
    """The schedule registered as ``name``, as a multiplier of the base learning rate.

    Args:
        name: a name or alias from ``get_registry("schedule")`` (``cosine``, ``wsd``, ``one_cycle``...).
        total_steps: the run's optimizer steps; required by the families that span the run.
        warmup_steps: steps of linear warmup before the schedule, counted within ``total_steps``.
        warmup_start: the multiplier the warmup starts from.
        **hyperparameters: the family's keywords, checked against their ranges.

    Raises:
        UnknownNameError: for an unknown name or keyword, with close matches.
        InvalidValueError: for a value out of range, or a missing ``total_steps`` that is needed.
    """
    entry = _REGISTRY.get(name)
    # a count or fraction computed with NumPy (np.int64 steps) as the Python number it holds, as every
    # hyperparameter is taken (Entry.checked)
    if total_steps is not None:
        total_steps = step_count(total_steps, "total_steps", POSITIVE_INT, also=", or None")
    warmup_steps = step_count(warmup_steps, "warmup_steps", NON_NEGATIVE_INT)
    check_warmup(name, total_steps, warmup_steps)
    if Capability.METRIC_DRIVEN in entry.capabilities:
        return entry.create(**hyperparameters)
    horizon = None if total_steps is None else total_steps - warmup_steps
    context = (horizon, warmup_steps) if Capability.WARMUP_AWARE in entry.capabilities else (horizon,)
    return linear_warmup(entry.create(*context, **hyperparameters), warmup_steps, start=warmup_start)
