"""What the user's tables share: their target is one of their columns, chosen by
``data.options.target`` (``--target``): a CSV file's (:mod:`optimlab.data.csv_file`, by name or position)
and a 2-d ``.npy`` array's (:mod:`optimlab.data.numpy_file`, by position); else the one column whose name
is a target's (:func:`target_named`), a CSV file's header or a dict of columns' key (Hugging Face's). A CSV file's one-hot columns
(``data.options.one_hot``) are named by the same lookup (:func:`column_position`).

>>> from pathlib import Path
>>> column_position(-1, None, 5, Path("rows.npy"))
4
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral
from pathlib import Path

from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.number_text import read_number

__all__ = ["TARGET_NAMES", "column_position", "target_field", "target_named"]

# names that mark the target's column wherever it stands, in any case (Hugging Face's "labels", Kaggle's
# "label", scikit-learn's "target"), the first a dict batch holds taken where it holds several
TARGET_NAMES = ("labels", "label", "targets", "target", "y", "class")


def target_named(names: Iterable[object]) -> list[int]:
    """The positions among ``names`` (a table's headings, a dict's keys) of those named as a target
    (:data:`TARGET_NAMES`, in any case): one is the target; several, one a feature holding it, a label leak
    a reader refuses."""
    return [j for j, name in enumerate(names) if isinstance(name, str) and name.lower() in TARGET_NAMES]


def target_field(path: Path, option: str = "target") -> str:
    """The target (or another option naming columns, ``one_hot``) as a refusal names it: its recipe field,
    which the command line reads as --target."""
    return f"{option} of {path.name} (data.options.{option})"


def _indexed(target: object, width: int) -> int | None:
    """The column in ``0..width-1`` that the integer ``target`` indexes as Python does (None: none)."""
    if isinstance(target, bool) or not isinstance(target, Integral) or not -width <= target < width:
        return None
    return int(target) % width  # numpy's integers too (np.where's, np.argmax's), as Python indexes by them


def column_position(
    name: object, header: list[str] | None, width: int, path: Path, *, index: int = 0, option: str = "target"
) -> int:
    """The column that ``name`` names among a table's ``width`` columns: the one ``header`` (None: a table
    of no names, an .npy's) names so, else its 0-based position (a negative one from the end, as Python
    indexes), given as a number or as text (``--target 3``). The first ``index`` columns (pandas' row
    index) are no data: a name or position of one is refused as a position out of range is, in one
    message."""
    field = target_field(path, option)
    if isinstance(name, str) and header is not None and name in header:
        if header.count(name) > 1:  # index() would take the first without a word
            places = [j for j, heading in enumerate(header) if heading == name]
            raise InvalidValueError(
                field,
                name,
                f"a name that heads one column; {name!r} heads columns {places}: give the position of one",
            )
        position: int | None = header.index(name)
    else:
        if isinstance(name, str):
            number = read_number(name, integer=True)
            if number is None:
                if header is None:
                    raise InvalidValueError(
                        field,
                        name,
                        f"a 0-based column position in [{-width}, {width}): the file has no header row",
                    )
                raise UnknownNameError(f"column of {path.name} (data.options.{option})", name, header[index:])
            name = number  # refused as the number it reads as, as one given as a number is
        position = _indexed(name, width)
    if position is None or position < index:
        accepted = (
            "a column name or a 0-based position" if header is not None else "a 0-based column position"
        )
        span = f"[{-width}, {width})"
        if index:
            before = "column 0 is" if index == 1 else f"columns 0..{index - 1} are"
            span = f"[{index}, {width}), or [{index - width}, 0) from the end ({before} pandas' row index)"
        raise InvalidValueError(field, name, f"{accepted} in {span}")
    return position
