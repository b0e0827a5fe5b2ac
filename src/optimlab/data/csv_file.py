"""User data from a CSV file: numeric feature columns and one target column.

The delimiter is the one of ``, ; tab |`` that splits the first lines alike (``csv.Sniffer``; a
comma where none does, as in a one-column file; override with ``delimiter``). The first row is a
header when none of its fields is a number (override with ``header``). Targets that are not numbers,
or whole numbers, are class labels (mapped to 0..K-1 in sorted order), others regression targets;
``task`` overrides the guess.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from optimlab.data.examples import Examples, Task, reject_non_finite
from optimlab.errors import InvalidValueError, UnknownNameError

__all__ = ["DELIMITERS", "load_csv"]

DELIMITERS = ",;\t|"  # what a delimiter is guessed among
SNIFFED_LINES = 20  # the first lines the guess reads


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _delimiter(path: Path) -> str:
    """The delimiter of :data:`DELIMITERS` that splits the first lines of ``path`` alike; else a comma."""
    with path.open(newline="") as handle:
        sample = "".join(line for _, line in zip(range(SNIFFED_LINES), handle))
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or no delimiter splits every line alike
        return ","


def _target_column(target: str | int, header: list[str] | None, width: int, path: Path) -> int:
    if isinstance(target, str):
        if header is None:
            raise InvalidValueError(
                f"target of {path.name}", target, "a column index: the file has no header row"
            )
        if target not in header:
            raise UnknownNameError(f"column of {path.name}", target, header)
        return header.index(target)
    if isinstance(target, bool) or not isinstance(target, int) or not -width <= target < width:
        raise InvalidValueError(
            f"target of {path.name}", target, f"a column name or an index in [{-width}, {width})"
        )
    return target % width


def load_csv(
    path: str | os.PathLike[str],
    target: str | int = -1,
    *,
    task: Task | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
) -> Examples:
    """Examples from the CSV at ``path``; ``target`` is the target column's name or index (last by default).

    >>> import tempfile, pathlib
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
    >>> _ = file.write_text("a,b,label\\n1,2,cat\\n3,4,dog\\n5,6,cat\\n")
    >>> data = load_csv(file, target="label")
    >>> data.task, data.num_classes, data.examples.y.tolist()
    ('classification', 2, [0, 1, 0])
    """
    path = Path(path)
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise InvalidValueError(f"delimiter of {path.name}", delimiter, "one character, e.g. ';'")
    delimiter = _delimiter(path) if delimiter is None else delimiter
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle, delimiter=delimiter) if row]
    if header is None:
        header = bool(rows) and not any(_is_number(field) for field in rows[0])
    names = [name.strip() for name in rows[0]] if header and rows else None
    body = rows[1:] if header else rows
    if not body:
        raise InvalidValueError(
            f"CSV file {str(path)!r}", "no data rows", "a file with at least one row of values"
        )
    width = len(body[0])
    if width < 2:
        raise InvalidValueError(
            f"CSV file {str(path)!r}",
            "1 column",
            f"feature columns and a target column, split by {delimiter!r} (another delimiter: delimiter=...)",
        )
    column = _target_column(target, names, width, path)
    features, labels, lines = [], [], []
    for line, row in enumerate(body, start=2 if header else 1):
        if len(row) != width:
            raise InvalidValueError(
                f"row {line} of {path.name}", f"{len(row)} fields", f"{width} fields, as in the first row"
            )
        values = []
        for index, field in enumerate(row):
            if index == column:
                continue
            try:
                values.append(float(field))
            except ValueError:
                column_name = names[index] if names else index
                raise InvalidValueError(
                    f"feature {column_name!r} in row {line} of {path.name}",
                    field,
                    "a number (features must be numeric; only the target may be text)",
                ) from None
        features.append(values)
        labels.append(row[column].strip())
        lines.append(line)
    y = np.array([float(v) for v in labels]) if all(_is_number(v) for v in labels) else np.array(labels)
    x = np.array(features, dtype=np.float64)
    feature_columns = [i for i in range(width) if i != column]
    reject_non_finite(
        x,
        path.name,
        row_name=lambda i: f"row {lines[i]}",
        column_name=lambda j: f"column {names[feature_columns[j]] if names else feature_columns[j]!r}",
    )
    target_name = names[column] if names else column
    reject_non_finite(y, path.name, row_name=lambda i: f"row {lines[i]}, target column {target_name!r}")
    return Examples.from_arrays(x, y, name=path.stem, task=task)
