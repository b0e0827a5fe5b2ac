"""User data from a CSV file: numeric feature columns and one target column.

The file is UTF-8 text (a byte-order mark is skipped), or UTF-16 with its byte-order mark, gzipped or
not (``rows.csv.gz``, as pandas reads it). The delimiter is the one of ``, ; tab |`` that splits the
first lines alike (``csv.Sniffer``; a comma where none does, as in a one-column file; override with
``delimiter``). The first row is a header when none of its fields is a number, or when
one of its text fields heads a column of numbers, or a column of class labels that each recur while
it never does (``0,1,2,label`` as pandas writes a frame of numbered columns), or when it numbers the
columns ``0,1,...`` as pandas writes them (after an empty field where it wrote the index); override with
``header``. Empty lines, and the empty last field of a delimiter ending every line (spreadsheet
exports), are not data. Leading columns with an empty header, or pandas' name for one (``Unnamed: 0``),
are the row index that ``DataFrame.to_csv`` writes (what ``pandas.read_csv(path, index_col=0)`` reads
back as the index): row labels, not features, so they are left out. The target is the column
``target`` names, by its header or its 0-based position among the file's columns (the index columns
counted); by default the one column whose header is a usual target's name (:data:`~optimlab.data.tables.TARGET_NAMES`, any
case), else the last; where several columns have such a name, none is taken (the others would be features
holding the target) and ``target`` must name one. Targets that are not numbers, or whole numbers, are class labels (mapped to 0..K-1
in sorted order), others regression targets, and so are whole numbers of over ten distinct values, most
rows' values distinct (prices in whole dollars); ``task`` overrides the guess. A missing value (an empty field, ``NA``, ``?``, ...) is refused
with its row and column, never filled. Features are numbers; a categorical column (text, or codes such as
zip codes) is one-hot encoded where ``one_hot`` names it: one 0/1 feature per distinct value, in sorted
order, in the column's place (as scikit-learn's ``OneHotEncoder`` sorts its categories); a text field in
a column it does not name is refused, naming the column and the option.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from numbers import Integral
from pathlib import Path

import numpy as np

from optimlab.data.compressed import file_bytes
from optimlab.data.examples import Examples, Task, missing_cell, reject_non_finite, text_number
from optimlab.data.tables import column_position, target_field, target_named
from optimlab.errors import InvalidValueError
from optimlab.number_text import count_of
from optimlab.registry import boolean

__all__ = ["DELIMITERS", "index_columns", "load_csv"]

DELIMITERS = ",;\t|"  # what a delimiter is guessed among
SNIFFED_LINES = 20  # the first lines the guesses of delimiter and header read


def _is_number(field: str) -> bool:
    try:
        text_number(field)
    except ValueError:
        return False
    return True


def _text(path: Path) -> str:
    """The file's text (gunzipped where it is gzipped), decoded as UTF-8 without a byte-order mark, or as
    UTF-16 where its byte-order mark says so (Excel's 'Unicode Text')."""
    raw = file_bytes(path)
    try:
        return raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise InvalidValueError(
            f"encoding of {path.name}",
            f"byte {error.object[error.start]:#04x} in line {line}",
            "UTF-8 text (save it as 'CSV UTF-8', or re-encode it: iconv -f latin1 -t utf-8)",
        ) from None


def _rows(text: str, delimiter: str, path: Path) -> tuple[list[list[str]], list[int]]:
    """The fields of each row of ``text`` that holds any, and the line each ends on. Read strictly first:
    a quote left open runs to the end of the file, which lenient reading made one field without a word
    (pandas refuses it: 'EOF inside string'); what else only strict reading refuses (a space after a
    closing quote) is read leniently, as pandas reads it."""
    return _read_rows(text, delimiter, path, strict=True) or _read_rows(text, delimiter, path, strict=False)


def _read_rows(
    text: str, delimiter: str, path: Path, *, strict: bool
) -> tuple[list[list[str]], list[int]] | None:
    """:func:`_rows` read by ``csv.reader`` in ``strict`` mode, or None where only that mode refuses it."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict)
    rows, lines, last = [], [], 0  # last: the line the last row read ends on
    try:
        for row in reader:
            if any(field.strip() for field in row):
                rows.append(row)
                lines.append(reader.line_num)
            last = reader.line_num
    except csv.Error as error:
        where = f"row {last + 1} of {path.name}"  # the row being read starts on the line after
        if "field limit" in str(error):  # a quote left open in a long file, or a field that long
            raise InvalidValueError(
                where,
                f"a field of over {csv.field_size_limit():,} characters",
                "fields of numbers or labels (a quote left open makes one field of the lines after it)",
            ) from None
        if "unexpected end of data" in str(error):
            raise InvalidValueError(
                where,
                "a quoted field still open at the end of the file",
                "a closing quote for each opening one (pandas.read_csv refuses it too: 'EOF inside string')",
            ) from None
        if strict:
            return None
        raise InvalidValueError(where, str(error), "CSV text as pandas.read_csv reads it") from None
    return rows, lines


def _delimiter(text: str) -> str:
    """The delimiter of :data:`DELIMITERS` that splits the first lines of ``text`` alike; else a comma."""
    sample = "".join(text.splitlines(keepends=True)[:SNIFFED_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:  # one column, or no delimiter splits every line alike
        return ","


# 1,000 or 12,345,678.5: digits grouped by threes (spreadsheets' number format), quoted in a CSV
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


def _not_a_number(field: str, target_name: str | int, column: str | int) -> str:
    """Why the field of feature ``column`` is not read, and how to fix it."""
    if missing_cell(field):
        return "missing values are not filled; fill or drop them"
    if _THOUSANDS.fullmatch(field.strip()):
        return (
            "without thousands separators (or a decimal comma): export the numbers plain, 1000 or 1.5, "
            "with a decimal point"
        )
    if _is_number(field.replace(",", ".", 1)):
        return "with a decimal point, not a decimal comma; replace the commas, or export with points"
    # '5;2' of '1,5;2,25;0' read at commas: a decimal-comma file split by ';' (its lines split alike by both)
    split = next((d for d in DELIMITERS if d != "," and d in field), None)
    if split and all(_is_number(part.replace(",", ".", 1)) for part in field.split(split)):
        return (
            f"the numbers {field!r} holds split by {split!r}: the file's delimiter may be {split!r} "
            f"(delimiter={split!r}; data.options.delimiter in a recipe), with decimal commas to replace"
        )
    return (
        f"only the target ({target_name!r}) may be text; a categorical feature: one_hot=[{column!r}] encodes "
        "each of its values as a 0/1 feature (data.options.one_hot in a recipe); another target column: "
        "--target NAME or INDEX (data.options.target in a recipe)"
    )


def _is_header(rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: no field of it is a number, or it is pandas' numbering of
    them (:func:`_numbered_columns`); or a text field of it (not a
    missing-value marker) heads a column of numbers in the next lines; or it heads a column of class
    labels that each recur while it never does (``0,1,label`` over ``x``, ``y``, ``x``..., as pandas
    writes a frame of numbered columns and a label column: a class would recur, a name does not)."""
    first, below = rows[0], rows[1 : SNIFFED_LINES + 1]
    if not any(_is_number(field) for field in first) or _numbered_columns(first):
        return True
    for j, name in enumerate(first):
        if _is_number(name) or missing_cell(name):
            continue
        if below and all(len(row) > j and _is_number(row[j]) for row in below):
            return True
        labels = Counter(row[j].strip() for row in rows[1:] if len(row) > j)
        if labels and name.strip() not in labels and min(labels.values()) > 1:
            return True
    return False


def _numbered_columns(first: list[str]) -> bool:
    """Whether ``first`` is the header pandas writes for a frame of numbered columns
    (``pd.DataFrame(array).to_csv()``): ``0,1,...,k-1``, after an empty field where it wrote the index.
    As data, it read as a row of its own, its last number a class of one row."""
    names = [field.strip() for field in first]
    if names and names[0] == "":
        names = names[1:]
    return len(names) > 1 and names == [str(j) for j in range(len(names))]


# pandas' header for a column whose header is empty: "Unnamed: 0", de-duplicated as "Unnamed: 0.1"
_PANDAS_UNNAMED = re.compile(r"Unnamed: \d+(\.\d+)?")


def index_columns(header: list[str] | None) -> int:
    """How many leading columns of ``header`` are a pandas row index: an empty header, as
    ``DataFrame.to_csv`` writes an unnamed index (one per level), or ``Unnamed: N``, as a frame read
    back without ``index_col`` writes it again; only before a named column (a header of nothing but
    empty names is no frame's)."""
    for count, name in enumerate(header or []):
        if name and not _PANDAS_UNNAMED.fullmatch(name):
            return count
    return 0


def _target_column(
    target: str | int | None, header: list[str] | None, width: int, index: int, path: Path
) -> int:
    """The target's position among the ``width`` columns, the first ``index`` of them pandas' index."""
    if target is None:
        named = target_named(header or [])
        if len(named) > 1:  # one would be the target, the other a feature holding it (a label leak)
            headings = ", ".join(f"{header[j]!r} (column {j})" for j in named)
            raise InvalidValueError(
                target_field(path),
                f"none given, and {len(named)} columns have a target's name: {headings}",
                f"the 0-based position of the target's column (on the command line --target {named[-1]}); "
                "drop the other target columns from the file, or they are read as features",
            )
        return named[0] if named else width - 1
    return column_position(target, header, width, path, index=index)


def _one_hot_columns(
    one_hot: Sequence[str | int] | str | int | None,
    header: list[str] | None,
    width: int,
    index: int,
    target: int,
    path: Path,
) -> set[int]:
    """The positions of the feature columns ``one_hot`` names (by header or 0-based position, a name or
    position alone as a list of one), among ``width`` columns, the first ``index`` pandas' index."""
    field = target_field(path, "one_hot")
    given = [one_hot] if isinstance(one_hot, (str, Integral)) else one_hot  # np.int64 too
    if given is None:
        return set()
    if isinstance(given, (bytes, Mapping)) or not isinstance(given, Sequence):
        raise InvalidValueError(field, one_hot, "a list of feature columns, by name or 0-based position")
    positions = set()
    for name in given:
        position = column_position(name, header, width, path, index=index, option="one_hot")
        if position == target:
            raise InvalidValueError(
                field,
                name,
                f"a feature column: {name!r} is the target (class labels may be text as they are)",
            )
        positions.add(position)
    return positions


def _encoded(
    x: np.ndarray, texts: dict[int, list[str]], feature_columns: list[int], names: list[str] | None
) -> tuple[np.ndarray, list[str]]:
    """``x`` with the column of each feature in ``texts`` (its fields, by file position) replaced, in its
    place, by one 0/1 column per distinct field, sorted; with the reading's words for each."""
    parts, said = [], []
    for j, position in enumerate(feature_columns):
        if position not in texts:
            parts.append(x[:, j : j + 1])
            continue
        fields = np.array(texts[position])
        categories = np.unique(fields)  # sorted, as OneHotEncoder's categories="auto"
        parts.append((fields[:, None] == categories[None, :]).astype(np.float64))
        shown = ", ".join(categories[:_SHOWN_CATEGORIES]) + (
            ", ..." if len(categories) > _SHOWN_CATEGORIES else ""
        )
        name = names[position] if names else position
        said.append(f"column {name!r} one-hot as {len(categories)} features ({shown})")
    return np.concatenate(parts, axis=1), said


_SHOWN_CATEGORIES = 6  # of a one-hot column, in the data's note


def load_csv(
    path: str | os.PathLike[str],
    target: str | int | None = None,
    *,
    task: Task | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
    one_hot: Sequence[str | int] | None = None,
) -> Examples:
    """Examples from the CSV at ``path``; ``target`` is the target column's name or index (by default
    the one column named ``label``, ``target``, ``class`` or ``y``, refused where several are, else the
    last); ``one_hot`` the
    categorical feature columns, by name or index, each encoded as one 0/1 feature per distinct value.

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
    if header is not None:  # "no" was truthy
        header = boolean(header, f"header of {path.name} (data.options.header)")
    text = _text(path)
    delimiter = _delimiter(text) if delimiter is None else delimiter
    rows, row_lines = _rows(text, delimiter, path)
    if rows and all(len(row) > 1 and not row[-1].strip() for row in rows):  # "1,2,0," on every line
        rows = [row[:-1] for row in rows]
    if header is None:
        header = bool(rows) and _is_header(rows)
    names = [name.strip() for name in rows[0]] if header and rows else None
    body, body_lines = (rows[1:], row_lines[1:]) if header else (rows, row_lines)
    if not body:
        raise InvalidValueError(
            f"CSV file {str(path)!r}", "no data rows", "a file with at least one row of values"
        )
    # the rows' width is most rows' (the header's among them; the first's among equals): a stray first
    # row (a '# comment' line under the header) is refused as itself, not taken for the width that the
    # header and rows miss
    width = Counter(len(row) for row in ([names, *body] if names is not None else body)).most_common(1)[0][0]
    if names is not None and len(names) != width:  # names[column] would miss, or name another column
        raise InvalidValueError(
            f"the header (row {row_lines[0]}) of {path.name}",
            count_of(len(names), "field"),
            f"{width} fields, as in the rows below it (or header=False: data.options.header in a recipe, "
            "where the first row is data)",
        )
    index = index_columns(names)
    if width - index < 2:
        raise InvalidValueError(
            f"CSV file {str(path)!r}",
            f"{width - index} column" + (f" besides pandas' row index ({index})" if index else ""),
            f"feature columns and a target column, split by {delimiter!r} (another delimiter: delimiter=...)",
        )
    column = _target_column(target, names, width, index, path)
    target_name = names[column] if names else column
    encoded = _one_hot_columns(one_hot, names, width, index, column, path)
    texts: dict[int, list[str]] = {position: [] for position in encoded}  # the fields of one-hot columns
    features, labels = [], []
    for line, row in zip(body_lines, body):
        if len(row) != width:
            raise InvalidValueError(
                f"row {line} of {path.name}",
                count_of(len(row), "field"),
                f"{width} fields, as most rows have",
            )
        values = []
        for position, field in enumerate(row[index:], start=index):
            if position == column:
                continue
            feature = names[position] if names else position
            if position in encoded:
                if missing_cell(field):
                    raise InvalidValueError(
                        f"feature {feature!r} in row {line} of {path.name}",
                        field,
                        "a category: missing values are not filled; fill or drop them",
                    )
                texts[position].append(field.strip())
                values.append(0.0)  # replaced by its 0/1 features
                continue
            try:
                values.append(text_number(field))
            except ValueError:
                raise InvalidValueError(
                    f"feature {feature!r} in row {line} of {path.name}",
                    field,
                    f"a number: {_not_a_number(field, target_name, feature)}",
                ) from None
        features.append(values)
        labels.append(row[column].strip())
    numbers = all(_is_number(v) for v in labels)
    # a missing target is refused here; 'nan' among numbers is NaN, which reject_non_finite names below,
    # but among class names it is pandas' missing value (read_csv gives NaN), no class 'nan'
    missing = next(
        (i for i, v in enumerate(labels) if missing_cell(v) and not (numbers and _is_number(v))), None
    )
    if missing is not None:
        # a marker may be a class's name ('NA', North America) only where the column holds class names;
        # among numbers (3.5, NA, 4.0) it is a missing number, and an empty cell names nothing
        named = labels[missing] and not all(_is_number(v) or missing_cell(v) for v in labels)
        raise InvalidValueError(
            f"target {target_name!r} in row {body_lines[missing]} of {path.name}",
            labels[missing],
            "a target in every row: missing ones are not guessed; fill or drop those rows"
            + (f", or a class really named {labels[missing]!r}: rename it in the file" if named else ""),
        )
    y = np.array([text_number(v) for v in labels]) if numbers else np.array(labels)
    x = np.array(features, dtype=np.float64)
    feature_columns = [i for i in range(index, width) if i != column]
    reject_non_finite(
        x,
        path.name,
        row_name=lambda i: f"row {body_lines[i]}",
        column_name=lambda j: f"column {names[feature_columns[j]] if names else feature_columns[j]!r}",
        written=lambda at: body[at[0]][feature_columns[at[1]]].strip(),
    )
    reject_non_finite(
        y,
        path.name,
        row_name=lambda i: f"row {body_lines[i]}, target column {target_name!r}",
        written=lambda at: labels[at[0]],
    )
    if names and names.count(target_name) == 1:
        reading = f"target column {target_name!r}"
    else:  # no header, or a heading of several columns: its position says which
        reading = f"target column {column}" + (f" ({target_name!r})" if names else "")
    if index:
        left_out = ", ".join(repr(name) for name in names[:index])
        reading += f"; pandas' row index ({left_out}) left out, not a feature"
    if texts:
        x, said = _encoded(x, texts, feature_columns, names)
        reading += "; " + "; ".join(said)
    return Examples.from_arrays(x, y, name=path.stem, task=task, reading=reading)
