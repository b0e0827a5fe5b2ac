"""What the user's files that are tables share: their target is one of their columns, chosen by
``data.options.target`` (``--target``): a CSV file's (:mod:`optimlab.data.csv_file`, by name or position)
and a 2-d ``.npy`` array's (:mod:`optimlab.data.numpy_file`, by position).

>>> from pathlib import Path
>>> target_position(-1, 5, Path("rows.csv"))
4
"""

from __future__ import annotations

from pathlib import Path

from optimlab.errors import InvalidValueError

__all__ = ["target_field", "target_position"]


def target_field(path: Path) -> str:
    """The target as a refusal names it: its recipe field, which the command line reads as --target."""
    return f"target of {path.name} (data.options.target)"


def target_position(target: object, width: int, path: Path, accepted: str = "a column index") -> int:
    """The column in ``0..width-1`` that ``target`` names among a table's ``width`` columns, a negative one
    counted from the end as Python indexes; anything else is refused, ``accepted`` saying what it takes."""
    if isinstance(target, bool) or not isinstance(target, int) or not -width <= target < width:
        raise InvalidValueError(target_field(path), target, f"{accepted} in [{-width}, {width})")
    return target % width
