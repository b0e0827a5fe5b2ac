"""A picture of one or more schedules over a run, as PNG or SVG (``optimlab plot-schedule``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from optimlab.atomic import atomic_path
from optimlab.errors import InvalidValueError
from optimlab.registry import POSITIVE, POSITIVE_INT, plain_numbers
from optimlab.schedules.join import Schedule, step_count

__all__ = ["plot"]

_FORMATS = (".png", ".svg")
MAX_POINTS = 10_000  # more than a figure's pixels across: a longer run is drawn from this many steps


def plot(
    schedules: Mapping[str, Schedule] | Schedule,
    total_steps: int,
    path: str | os.PathLike[str],
    *,
    base_lr: float = 1.0,
) -> Path:
    """Draw ``base_lr * schedule(t)`` for ``t`` in ``0 .. total_steps - 1`` (every step up to
    :data:`MAX_POINTS`, evenly spaced ones beyond); the format follows the suffix.

    Args:
        schedules: one schedule, or several by the label of each curve.
        total_steps: the steps to draw.
        path: where to write, ending in ``.png`` or ``.svg``.
        base_lr: the learning rate the schedules multiply; 1 draws the multipliers themselves.

    Returns:
        ``path``, as a :class:`~pathlib.Path`, written whole or not at all (:mod:`optimlab.atomic`): a full
        disk keeps the former file, and a symbolic link at ``path`` is replaced, not written through.
    """
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise InvalidValueError("plot path suffix", path.suffix or path.name, " or ".join(_FORMATS))
    total_steps = step_count(total_steps, "total_steps", POSITIVE_INT)
    if not POSITIVE.contains(plain_numbers(base_lr)):
        raise InvalidValueError("base_lr", base_lr, str(POSITIVE))
    base_lr = plain_numbers(base_lr)  # NumPy's number as the one it holds
    curves = dict(schedules) if isinstance(schedules, Mapping) else {"": schedules}
    # matplotlib takes ~0.5 s to import; only plotting pays it. Figure + Agg canvas: no pyplot state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    steps = _drawn_steps(total_steps)
    for label, schedule in curves.items():
        axes.plot(steps, [base_lr * schedule(t) for t in steps], label=label or None)
    axes.set_xlabel("step")
    axes.set_ylabel("learning rate" if base_lr != 1.0 else "learning-rate multiplier")
    axes.set_xlim(0, float(max(total_steps - 1, 1)))  # numpy holds no int past 2**64 - 1
    axes.grid(alpha=0.3)
    if any(curves):
        axes.legend()
    with atomic_path(path) as partial:  # its name ends in .partial: the format is given
        figure.savefig(partial, format=path.suffix[1:].lower())
    return path


def _drawn_steps(total_steps: int) -> list[int]:
    """Every step, or about :data:`MAX_POINTS` evenly spaced ones from 0, the last step included."""
    if total_steps <= MAX_POINTS:
        return list(range(total_steps))
    stride = -(-total_steps // MAX_POINTS)
    return [*range(0, total_steps - 1, stride), total_steps - 1]
