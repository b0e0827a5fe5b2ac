"""CSV files: header detection, target by name or index, text labels, clear errors on bad rows."""

import io
import math
import re

import numpy as np
import pytest
import torch

from optimlab.data import load_csv
from optimlab.errors import InvalidValueError, UnknownNameError


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_header_named_target_and_text_labels_round_trip(tmp_path):
    path = write(tmp_path, "height,label,width\n1.5,dog,2\n2.5,cat,3\n3.5,dog,4\n")
    data = load_csv(path, target="label")
    assert torch.equal(data.examples.x, torch.tensor([[1.5, 2.0], [2.5, 3.0], [3.5, 4.0]]))
    assert data.examples.y.tolist() == [1, 0, 1]  # sorted labels: cat = 0, dog = 1
    assert (data.task, data.num_classes, data.input_shape, data.name) == ("classification", 2, (2,), "data")


def test_numeric_file_without_header_defaults_to_the_last_column(tmp_path):
    data = load_csv(write(tmp_path, "1,2,0\n3,4,1\n5,6,2\n"))
    assert data.examples.x.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert data.examples.y.tolist() == [0, 1, 2] and data.num_classes == 3


def test_whole_amounts_most_of_them_distinct_are_regression_targets(tmp_path):
    """Prices in whole dollars written as 123.0: read as 300 classes of one row each, the stratified
    split held out none of them (300/0/0 rows) and the run ended with no metric; ten classes of whole
    floats, or three rows of three, stay class labels."""
    from optimlab.data import load

    rng = np.random.default_rng(0)
    prices = rng.choice(np.arange(100, 500_000), size=300, replace=False)
    rows = "".join(f"{a:.3f},{p}.0\n" for a, p in zip(rng.normal(size=300), prices))
    path = write(tmp_path, "area,price\n" + rows, name="prices.csv")
    splits = load(path, seed=0)
    assert splits.task == "regression" and (len(splits.train), len(splits.val), len(splits.test)) == (
        180,
        60,
        60,
    )
    assert sorted(torch.cat([splits.train.y, splits.val.y, splits.test.y]).flatten().tolist()) == sorted(
        prices
    )
    labels = "".join(f"{i},{i % 10}.0\n" for i in range(30))
    assert load_csv(write(tmp_path, "a,label\n" + labels)).num_classes == 10
    assert load_csv(write(tmp_path, "1,2,0\n3,4,1\n5,6,2\n")).num_classes == 3


def test_fractional_targets_are_regression_and_task_overrides_the_guess(tmp_path):
    path = write(tmp_path, "a;y\n1;0.5\n2;1.5\n", name="reg.csv")
    data = load_csv(path, target=1, delimiter=";")
    assert data.task == "regression" and data.examples.y.tolist() == [[0.5], [1.5]]
    forced = load_csv(write(tmp_path, "1,2\n3,4\n"), task="regression")
    assert forced.task == "regression" and forced.examples.y.tolist() == [[2.0], [4.0]]


def test_explicit_header_flag_wins_over_the_guess(tmp_path):
    path = write(tmp_path, "0,1,2\n3,4,5\n")
    assert len(load_csv(path, header=True).examples) == 1


def test_a_text_feature_names_its_column_and_row(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,0\n3,oops,1\n")
    with pytest.raises(
        InvalidValueError, match=r"'oops' for feature 'b' in row 3 of data.csv: accepted a number"
    ):
        load_csv(path)


def test_unknown_target_column_suggests_close_matches(tmp_path):
    with pytest.raises(UnknownNameError, match="Did you mean 'label'"):
        load_csv(write(tmp_path, "a,label\n1,0\n"), target="lable")


def test_ragged_rows_and_empty_files_are_errors(tmp_path):
    with pytest.raises(InvalidValueError, match="'2 fields' for row 2 of data.csv: accepted 3 fields"):
        load_csv(write(tmp_path, "1,2,3\n4,5\n"))
    with pytest.raises(InvalidValueError, match="no data rows"):
        load_csv(write(tmp_path, "a,b\n", name="empty.csv"))
    with pytest.raises(InvalidValueError, match=r"target of data.csv \(data.options.target\)"):
        load_csv(write(tmp_path, "1,2\n"), target=5)


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-Infinity", "1e39", "1e400", " -1E400"])
def test_a_missing_or_infinite_value_is_refused_with_file_row_and_column(tmp_path, bad):
    """The refusal quotes the cell as the file writes it: '1e400' was said as 'invalid value inf', a value
    the file does not hold (float('1e400') is inf)."""
    file = tmp_path / "t.csv"
    file.write_text(f"a,b,label\n1,2,0\n3,{bad},1\n5,6,0\n")
    cell = re.escape(repr(bad.strip()))
    with pytest.raises(
        InvalidValueError,
        match=rf"^invalid value {cell} for t\.csv at row 3, column 'b': accepted finite numbers",
    ):
        load_csv(file)
    file.write_text(f"a,b,y\n1,2,0.5\n3,4,{bad}\n")
    with pytest.raises(
        InvalidValueError, match=rf"^invalid value {cell} for t\.csv at row 3, target column 'y'"
    ):
        load_csv(file)


@pytest.mark.parametrize("spelling", ["nan", "NaN", "-nan"])
def test_nan_among_class_names_is_a_missing_target_not_a_class(tmp_path, spelling):
    """'nan' in a column of class names was made a class of its own ('labels cat, dog, nan as classes
    0-2'), where 'NA' in its place is refused as missing. Truth: pandas.read_csv reads it as NaN, a
    missing value (isna), and 'inf' there as the text 'inf', a class name."""
    pd = pytest.importorskip("pandas")
    file = write(tmp_path, f"a,b,label\n1,2,cat\n3,4,dog\n5,6,{spelling}\n7,8,cat\n")
    assert pd.read_csv(file)["label"].isna().tolist() == [False, False, True, False]
    with pytest.raises(
        InvalidValueError,
        match=rf"'{re.escape(spelling)}' for target 'label' in row 4 of data.csv: accepted a target",
    ):
        load_csv(file)
    file = write(tmp_path, "a,b,label\n1,2,cat\n3,4,dog\n5,6,inf\n7,8,cat\n", "inf.csv")
    assert not pd.read_csv(file)["label"].isna().any()
    assert load_csv(file).num_classes == 3


def test_a_decimal_comma_file_read_at_its_commas_names_the_delimiter_not_a_categorical_column(tmp_path):
    """'1,5;2,25;0' on every line (no header) splits alike at ',' and at ';': read at commas, the field
    '5;2' was told 'only the target may be text; a categorical feature: one_hot=[1]', advice for numbers
    that are no categories. Truth: the line split at ';' is numbers with decimal commas, and read so
    (delimiter=';') the refusal is the decimal comma's."""
    lines = ["1,5;2,25;0", "3,5;4,75;1", "2,0;1,5;0", "4,25;3,0;1"]
    assert [float(f.replace(",", ".")) for f in lines[0].split(";")] == [1.5, 2.25, 0.0]
    file = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(
        InvalidValueError, match=r"'5;2' .* the file's delimiter may be ';' \(delimiter=';'"
    ) as refused:
        load_csv(file)
    assert "one_hot" not in str(refused.value)
    with pytest.raises(InvalidValueError, match=r"'1,5' .* not a decimal comma"):
        load_csv(file, delimiter=";")


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_the_delimiter_is_the_one_that_splits_every_line_alike(tmp_path, delimiter):
    """Semicolons (a decimal-comma locale's CSV), tabs, pipes, commas: read alike without being told;
    a comma inside a quoted label is not a delimiter."""
    rows = [["height", "width", "label"], ["1.5", "2", "a, b"], ["2.5", "3", "c"], ["3.5", "4", "a, b"]]
    text = "\n".join(delimiter.join(f'"{f}"' if "," in f else f for f in row) for row in rows) + "\n"
    data = load_csv(write(tmp_path, text))
    assert data.examples.x.tolist() == [[1.5, 2.0], [2.5, 3.0], [3.5, 4.0]]
    assert data.examples.y.tolist() == [0, 1, 0] and data.num_classes == 2


def test_a_file_of_one_column_names_the_delimiter_it_split_at(tmp_path):
    with pytest.raises(InvalidValueError, match=r"'1 column' for CSV file .* split by ','"):
        load_csv(write(tmp_path, "label\n1\n2\n"))
    with pytest.raises(InvalidValueError, match=r"'1 column' .* split by ';'"):
        load_csv(write(tmp_path, "a,b,label\n1,2,0\n3,4,1\n"), delimiter=";")
    for bad in ("", ";;", 5):
        with pytest.raises(InvalidValueError, match="delimiter of data.csv: accepted one character"):
            load_csv(write(tmp_path, "a,b\n1,0\n"), delimiter=bad)


def test_a_tsv_file_is_read_by_name(tmp_path):
    from optimlab.data import load

    write(tmp_path, "a\tb\ty\n" + "".join(f"{i}\t{i % 3}\t{i % 2}\n" for i in range(20)), name="rows.tsv")
    splits = load(tmp_path / "rows.tsv", seed=0)
    assert splits.input_shape == (2,) and splits.num_classes == 2


def numpy_reads(text, skiprows=0):
    """The table as numpy reads the same text: the independent truth."""
    return np.loadtxt(io.StringIO(text), delimiter=",", skiprows=skiprows, ndmin=2)


@pytest.mark.parametrize("head", ["", "a,b,label\n"])
def test_a_byte_order_mark_is_not_part_of_the_first_field(tmp_path, head):
    text = head + "1,2,0\n3,4,1\n5,6,0\n"
    (tmp_path / "bom.csv").write_text(text, encoding="utf-8-sig")
    data = load_csv(tmp_path / "bom.csv", target="label" if head else -1)
    table = numpy_reads(text, skiprows=1 if head else 0)
    assert data.examples.x.tolist() == table[:, :2].tolist() and data.examples.y.tolist() == [0, 1, 0]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_text_with_its_byte_order_mark_is_read_as_its_mark_says(tmp_path, encoding):
    """Excel's 'Unicode Text' is UTF-16 with a byte-order mark: it was refused as 'byte 0xff in line 1'
    with the advice to re-encode it from latin1, which gives text of NUL bytes."""
    text = "größe\tb\tlabel\n1.5\t2\tja\n3\t4\tnein\n"
    (tmp_path / "data.tsv").write_bytes(("\ufeff" + text).encode(encoding))
    data = load_csv(tmp_path / "data.tsv")
    assert data.examples.x.tolist() == [[1.5, 2.0], [3.0, 4.0]] and data.examples.y.tolist() == [0, 1]
    assert data.reading == "target column 'label', labels ja, nein as classes 0-1"


def test_a_file_that_is_not_utf8_names_the_byte_and_line(tmp_path):
    (tmp_path / "data.csv").write_bytes("a,b,label\n1,2,café\n".encode("latin-1"))
    with pytest.raises(
        InvalidValueError, match=r"'byte 0xe9 in line 2' for encoding of data.csv: accepted UTF-8"
    ):
        load_csv(tmp_path / "data.csv")


def test_a_delimiter_ending_every_line_is_not_an_empty_target_column(tmp_path):
    """Spreadsheets write "1,2,0,": the label stays the target, not an empty last column."""
    text = "a,b,label\n1,2,0\n3,4,1\n5,6,2\n"
    data = load_csv(write(tmp_path, text.replace("\n", ",\r\n")))
    table = numpy_reads(text, skiprows=1)
    assert data.examples.x.tolist() == table[:, :2].tolist()
    assert data.examples.y.tolist() == table[:, 2].tolist() and data.num_classes == 3


def test_a_header_of_numbered_columns_is_a_header(tmp_path):
    """pandas writes a frame of unnamed columns as 0,1,...: the header is not read as a row of data."""
    text = "0,1,label\n1.5,2,0\n3,4,1\n5,6,1\n"
    data = load_csv(write(tmp_path, text))
    table = numpy_reads(text, skiprows=1)
    assert data.examples.x.tolist() == table[:, :2].tolist()
    assert data.examples.y.tolist() == [0, 1, 1] and data.num_classes == 2


@pytest.mark.parametrize("missing", ["", "NA", "?", "null"])
def test_a_missing_target_is_refused_not_made_a_class(tmp_path, missing):
    with pytest.raises(
        InvalidValueError,
        match=rf"'{re.escape(missing)}' for target 'label' in row 3 of data.csv: accepted a target",
    ):
        load_csv(write(tmp_path, f"a,b,label\n1,2,cat\n3,4,{missing}\n5,6,dog\n"))


@pytest.mark.parametrize("name", ["NA", "None"])
def test_a_class_named_as_a_missing_value_is_told_how_to_keep_it(tmp_path, name):
    """A class really named 'NA' (North America) or 'None' was told only to fill or drop those rows,
    with no way to keep the class. Truth: pandas.read_csv reads these cells as missing (isna), so the
    file cannot say the name; renaming it in the file can. An empty cell names no class, nor a marker
    among numbers (a price column 3.5, NA, 4.0: pandas reads it as numbers with a NaN)."""
    pd = pytest.importorskip("pandas")
    file = write(tmp_path, f"a,b,label\n1,2,EU\n3,4,{name}\n5,6,EU\n")
    assert pd.read_csv(file)["label"].isna().tolist() == [False, True, False]
    with pytest.raises(InvalidValueError) as refused:
        load_csv(file)
    assert str(refused.value) == (
        f"invalid value '{name}' for target 'label' in row 3 of data.csv: accepted a target in every row: "
        f"missing ones are not guessed; fill or drop those rows, or a class really named {name!r}: "
        "rename it in the file."
    )
    with pytest.raises(InvalidValueError, match=r"fill or drop those rows\.$"):
        load_csv(write(tmp_path, "a,b,label\n1,2,EU\n3,4,\n5,6,EU\n", "empty.csv"))
    numeric = write(tmp_path, f"a,b,price\n1,2,3.5\n3,4,{name}\n5,6,4.0\n", "numeric.csv")
    assert pd.read_csv(numeric)["price"].dtype == "float64"
    with pytest.raises(InvalidValueError, match=r"fill or drop those rows\.$"):
        load_csv(numeric)
    renamed = load_csv(write(tmp_path, f"a,b,label\n1,2,EU\n3,4,{name}_\n5,6,EU\n", "renamed.csv"))
    assert renamed.num_classes == 2


def test_a_missing_feature_says_so_and_rows_are_counted_as_lines(tmp_path):
    """Row numbers are the file's lines, empty lines included, so the editor finds the row."""
    with pytest.raises(
        InvalidValueError, match=r"'NA' for feature 'b' in row 4 of data.csv: .*missing values"
    ):
        load_csv(write(tmp_path, "a,b,label\n1,2,0\n\n3,NA,1\n"))


@pytest.mark.parametrize("name", ["label", "Class", "target", "y"])
def test_a_column_named_as_a_target_is_the_target_wherever_it_stands(tmp_path, name):
    """Not the last column, a feature, while the labels are trained on as a feature."""
    text = f"{name},a,b\n0,1.5,2\n1,3,4\n0,5,6\n2,7,8\n"
    data = load_csv(write(tmp_path, text))
    table = numpy_reads(text, skiprows=1)
    assert data.examples.x.tolist() == table[:, 1:].tolist()
    assert data.examples.y.tolist() == table[:, 0].tolist() and data.num_classes == 3
    both = write(tmp_path, text.replace(",b\n", ",label\n").replace(f"{name},", "y,", 1), "both.csv")
    with pytest.raises(InvalidValueError, match="2 columns have a target's name"):  # one would be a feature
        load_csv(both)


def test_a_decimal_comma_is_named_as_such(tmp_path):
    """A semicolon file from a decimal-comma locale: the comma is named, not a 'text feature'."""
    with pytest.raises(
        InvalidValueError, match=r"'1,5' for feature 'a' in row 2 of data.csv: .*decimal comma"
    ):
        load_csv(write(tmp_path, "a;b;label\n1,5;2;0\n3;4;1\n"))


def test_a_thousands_separator_is_named_as_such(tmp_path):
    """A spreadsheet's grouped number, quoted: "1,000" was read as a decimal comma ('with a decimal point,
    not a decimal comma'), the advice turning it into 1.000."""
    with pytest.raises(InvalidValueError, match=r"'1,000' for feature 'a' in row 2 .*thousands separators"):
        load_csv(write(tmp_path, 'a,b,label\n"1,000",2,0\n3,4,1\n'))
    with pytest.raises(InvalidValueError, match=r"'-12,345.5' for feature 'b' .*thousands separators"):
        load_csv(write(tmp_path, 'a,b,label\n1,"-12,345.5",0\n3,4,1\n'))


def test_a_target_out_of_range_is_told_the_positions_the_file_takes(tmp_path):
    """A frame saved with its index (5 columns, column 0 pandas' row index): --target 40 was told
    'a 0-based position in [-5, 5)', yet 0 and -5 are then refused as the index. Truth: the reader itself,
    every position the message offers loads and the next one out on each side is refused."""
    pd = pytest.importorskip("pandas")
    pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "c": [7.0, 8.0, 9.0], "label": [0, 1, 0]}
    ).to_csv(tmp_path / "f.csv")
    with pytest.raises(InvalidValueError) as refused:
        load_csv(tmp_path / "f.csv", target=40)
    spans = [
        range(int(low), int(high)) for low, high in re.findall(r"\[(-?\d+), (-?\d+)\)", str(refused.value))
    ]
    offered = [position for span in spans for position in span]
    assert offered, refused.value
    for position in offered:
        assert load_csv(tmp_path / "f.csv", target=position).examples.x.shape == (3, 3)
    for position in (min(p for p in offered if p >= 0) - 1, min(offered) - 1):
        with pytest.raises(InvalidValueError):
            load_csv(tmp_path / "f.csv", target=position)


def test_pandas_row_index_and_a_position_out_of_range_are_refused_in_one_message(tmp_path):
    """A frame saved with its index: --target 0 (the index) was told '[1, 5)', --target 40 '[1, 5), or
    [-4, 0) from the end', two accounts of one rule, and the index's own header '' a third. Truth: the
    messages alike but for the value, each offering exactly what load_csv takes (both ranges load)."""
    pd = pytest.importorskip("pandas")
    pd.DataFrame(
        {"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0], "c": [7.0, 8.0, 9.0], "label": [0, 1, 0]}
    ).to_csv(tmp_path / "f.csv")
    said = {}
    for target in (0, 40, -5, ""):
        with pytest.raises(InvalidValueError) as refused:
            load_csv(tmp_path / "f.csv", target=target)
        said[target] = str(refused.value).replace(repr(target), "VALUE", 1)
    assert len(set(said.values())) == 1, said
    assert said[0].endswith("in [1, 5), or [-4, 0) from the end (column 0 is pandas' row index)."), said[0]
    for one_hot in (0, ""):
        with pytest.raises(
            InvalidValueError, match=r"one_hot.*in \[1, 5\), or \[-4, 0\) from the end \(column 0"
        ):
            load_csv(tmp_path / "f.csv", one_hot=[one_hot])


def test_pandas_row_index_is_left_out_as_read_csv_index_col_reads_it(tmp_path):
    """``DataFrame.to_csv`` writes the index as a first column with an empty header (``Unnamed: 0`` once
    read back and saved again): row labels, not a feature, as ``read_csv(path, index_col=0)`` says."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": [1.5, 2.0, 3.0, 4.5], "b": [4.0, 5.0, 6.0, 7.0], "label": list("xyxy")})
    frame = frame[frame.a > 1.8]  # a filtered frame: its index is 1, 2, 3, not a range from 0
    frame.to_csv(tmp_path / "once.csv")
    pd.read_csv(tmp_path / "once.csv").to_csv(tmp_path / "twice.csv")
    truth = pd.read_csv(tmp_path / "once.csv", index_col=0)
    for name, index in (("once.csv", "''"), ("twice.csv", "'', 'Unnamed: 0'")):
        data = load_csv(tmp_path / name)
        assert data.examples.x.tolist() == truth[["a", "b"]].to_numpy().tolist()
        assert data.examples.y.tolist() == [1, 0, 1]  # x = 0, y = 1
        assert data.reading == (
            f"target column 'label'; pandas' row index ({index}) left out, not a feature, labels x, y as classes 0-1"
        )
    assert load_csv(tmp_path / "once.csv", target=3).reading.startswith("target column 'label'")  # counted
    with pytest.raises(
        InvalidValueError,
        match=r"in \[2, 5\), or \[-3, 0\) from the end \(columns 0\.\.1 are pandas. row index\)",
    ):
        load_csv(tmp_path / "twice.csv", target=1)


def test_a_target_position_given_as_text_is_a_position_unless_a_header_says_otherwise(tmp_path):
    path = write(tmp_path, "a,b,c,d\n1,2,0,7\n3,4,1,8\n5,6,0,9\n")
    assert load_csv(path, target="2").examples.y.tolist() == [0, 1, 0]
    assert load_csv(path, target="2").reading == "target column 'c'"
    assert load_csv(write(tmp_path, "1,2,0,7\n3,4,1,8\n", "h.csv"), target="-2").reading == "target column 2"
    numbered = load_csv(write(tmp_path, "x,2,0\n1.5,0,1\n2.5,1,0\n3.5,0,1\n", "n.csv"), target="2")
    assert numbered.examples.y.tolist() == [0, 1, 0]  # the column headed '2', not position 2
    with pytest.raises(
        UnknownNameError,
        match=r"unknown column of data.csv \(data.options.target\) 'e'.* Accepted: a, b, c, d",
    ):
        load_csv(path, target="e")
    with pytest.raises(
        InvalidValueError,
        match=r"target of data.csv \(data.options.target\): accepted a column name or a 0-based position in \[-4, 4\)",
    ):
        load_csv(path, target="4")


@pytest.mark.parametrize("index", [False, True])
def test_numbered_columns_over_text_labels_are_a_header_as_pandas_writes_them(tmp_path, index):
    """pd.DataFrame(x) with a text label column: the header ``0,1,2,label`` was read as a first row of
    data, its 'label' a class of one example; a class recurs in its column, a column's name does not."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(9, 3)))
    frame["label"] = ["cat", "dog", "owl"] * 3
    frame.to_csv(tmp_path / "f.csv", index=index)
    truth = pd.read_csv(tmp_path / "f.csv", index_col=0 if index else None)
    data = load_csv(tmp_path / "f.csv")
    assert np.allclose(data.examples.x.numpy(), truth[["0", "1", "2"]].to_numpy(), rtol=1e-6)
    assert data.examples.y.tolist() == [0, 1, 2] * 3 and data.num_classes == 3
    assert data.reading.startswith("target column 'label'")
    headless = load_csv(write(tmp_path, "1.5,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n"))  # the first class recurs
    assert len(headless.examples) == 4 and headless.num_classes == 2


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_frame_of_numbered_columns_only_is_read_without_its_header_as_pandas_reads_it(
    tmp_path, index, task
):
    """pd.DataFrame(array).to_csv(): the header 0,1,2,3 was read as a first row of data (21 rows of 20, its
    '3' a third class of one row); with the index written, its empty first field was refused as a
    missing value in row 1."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(20, 3)).round(3))
    frame[3] = rng.integers(0, 2, 20) if task == "classification" else rng.normal(size=20).round(3)
    frame.to_csv(tmp_path / "f.csv", index=index)
    truth = pd.read_csv(tmp_path / "f.csv", index_col=0 if index else None)
    data = load_csv(tmp_path / "f.csv")
    assert data.task == task and len(data.examples) == len(truth) == 20
    assert np.allclose(data.examples.x.numpy(), truth[["0", "1", "2"]].to_numpy(), rtol=1e-6)
    expected = truth["3"].to_numpy()
    assert np.allclose(data.examples.y.numpy().reshape(-1), expected, rtol=1e-6)
    assert data.reading.startswith("target column '3'")
    if not index:  # header=False reads the first row as data, as asked
        assert len(load_csv(tmp_path / "f.csv", header=False, task=task).examples) == 21


def test_a_target_named_by_a_header_two_columns_share_is_refused(tmp_path):
    """--target a took the first of two columns headed 'a' without a word, the second one a feature."""
    file = tmp_path / "twice.csv"
    file.write_text("a,a,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    with pytest.raises(InvalidValueError, match=r"'a' heads columns \[0, 1\]: give the position of one"):
        load_csv(file, target="a")
    assert load_csv(file, target=1).examples.y.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("loss", ["mse", "torch.nn:MSELoss"])
def test_integer_targets_under_a_regression_loss_are_numbers_to_regress(tmp_path, loss):
    """Read as classes, an output above 0 counted as class 1 and val_accuracy meant nothing."""
    from optimlab.build import build_data
    from optimlab.recipe import Recipe

    path = write(tmp_path, "".join(f"{i},{i % 7}\n" for i in range(40)))
    recipe = Recipe.from_dict({"data": {"name": str(path)}, "training": {"loss": loss}})
    splits = build_data(recipe)
    assert splits.task == "regression" and splits.num_classes is None
    assert splits.train.y.dtype == torch.float32 and set(splits.train.y.flatten().tolist()) <= set(range(7))
    classes = build_data(Recipe.from_dict({"data": {"name": str(path)}}))
    assert classes.task == "classification"  # without a loss the values decide


def test_the_data_line_says_which_held_out_split_lacks_classes_of_too_few_rows(tmp_path):
    """Split per class, rounded, a class of one or two rows gives no validation or test row: said."""
    from optimlab.data import load
    from optimlab.data.sources import noting_files

    labels = [0] * 20 + [1] * 20 + [2, 2, 3]
    path = write(tmp_path, "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
    seen = []
    with noting_files(seen.append):
        load(path, seed=0)
        load(write(tmp_path, "".join(f"{i},{i % 2}\n" for i in range(20)), "even.csv"), seed=0)
    assert seen[0].endswith(
        "(classification, 4 classes); val lacks 2 of the 4 classes; test lacks 2 of the 4 classes"
    )
    assert seen[1].endswith("(classification, 2 classes)")


def test_the_data_line_says_labels_that_are_not_their_class_ids():
    """Labels are mapped to 0..K-1 in sorted order: a -1 (often "unlabelled") became a class of its own,
    and names or 1..K became other ids, without a word. The data's line says the mapping; labels that
    are their ids already say nothing more."""
    from optimlab.data import Examples
    from optimlab.data.sources import describe

    x = np.zeros((8, 2))
    said = {
        labels: describe("rows.csv", Examples.from_arrays(x, np.array(labels), name="rows.csv"))
        for labels in [(-1, 0, 1, 1, 0, -1, 1, 0), ("dog", "cat") * 4, (0, 1, 2, 0, 1, 2, 0, 1)]
    }
    assert list(said.values()) == [
        "rows.csv, 8 rows x 2 features, labels -1, 0, 1 as classes 0-2 (classification, 3 classes)",
        "rows.csv, 8 rows x 2 features, labels cat, dog as classes 0-1 (classification, 2 classes)",
        "rows.csv, 8 rows x 2 features (classification, 3 classes)",
    ]
    taught = Examples.from_arrays(x, np.array([-1, 0, 1, 1, 0, -1, 1, 0]), name="rows.csv")
    assert taught.examples.y.tolist() == [0, 1, 2, 2, 1, 0, 2, 1]  # np.unique's sorted order, as said


def test_class_names_holding_a_comma_are_quoted_in_the_note(tmp_path):
    """A quoted label with a comma, "cat, big", was listed as 'labels cat, big, dog as classes 0-1': three
    names for two classes. Truth: Python's csv module reads two labels, 'cat, big' and 'dog'; the note
    lists each as one. A name with a space at an end (given as an array) is quoted too."""
    import csv

    from optimlab.data import Examples

    text = 'a,label\n1,"cat, big"\n2,dog\n3,"cat, big"\n'
    names = sorted({row["label"] for row in csv.DictReader(io.StringIO(text))})
    assert names == ["cat, big", "dog"]
    data = load_csv(write(tmp_path, text))
    assert data.relabelled == "labels 'cat, big', dog as classes 0-1"
    assert data.examples.y.tolist() == [names.index(n) for n in ("cat, big", "dog", "cat, big")]
    spaced = Examples.from_arrays(np.zeros((3, 1)), np.array(["eel ", "eel", "cat"]), name="rows")
    assert spaced.relabelled == "labels cat, eel, 'eel ' as classes 0-2"


@pytest.mark.parametrize(
    "heading", ["a,label,label", "a,Label,label", "label,a,target", "a,y,label", "a,label,label,b"]
)
def test_a_default_target_where_several_columns_have_a_target_name_is_refused(tmp_path, heading):
    """'a,label,label' took its last 'label' as the target without a word, and 'a,label,label,b',
    'a,Label,label', 'label,a,target', 'a,y,label' took a column silently and read the other
    target-named one as a feature (a label leak). Truth: csv's header names the target-named columns
    (TARGET_NAMES, any case); given by position, that column is the target and the reading names it
    by position where its heading is not unique; a default by place (a,b,b: no target name) stays
    the last column."""
    import csv

    from optimlab.data.tables import TARGET_NAMES

    width = heading.count(",") + 1
    rows = "".join(",".join(str((i + j) % 3) for j in range(width)) + "\n" for i in range(6))
    header = next(csv.reader(io.StringIO(heading)))
    named = [j for j, name in enumerate(header) if name.lower() in TARGET_NAMES]
    path = write(tmp_path, heading + "\n" + rows)
    with pytest.raises(InvalidValueError) as refused:
        load_csv(path)
    headings = ", ".join(f"{header[j]!r} (column {j})" for j in named)
    assert str(refused.value) == (
        f'invalid value "none given, and 2 columns have a target\'s name: {headings}" for target of '
        f"data.csv (data.options.target): accepted the 0-based position of the target's column (on the "
        f"command line --target {named[-1]}); drop the other target columns from the file, or they are "
        "read as features."
    )
    for column in named:
        given = load_csv(path, target=column)
        truth = [(i + column) % 3 for i in range(6)]
        assert given.examples.y.tolist() == [sorted(set(truth)).index(v) for v in truth]
        unique = header.count(header[column]) == 1
        said = f"'{header[column]}'" if unique else f"{column} ('{header[column]}')"
        assert given.reading == f"target column {said}"
    no_target_name = load_csv(write(tmp_path, "a,b,b\n1,2,0\n3,4,1\n", "other.csv"))  # the last, by place
    assert no_target_name.examples.x.tolist() == [[1, 2], [3, 4]]


def test_whole_numbers_read_as_many_classes_say_how_to_regress_them(tmp_path):
    """scikit-learn's diabetes targets unscaled (whole numbers 25..346, 214 distinct in 442 rows) are
    guessed as 214 classes, most of one or two rows, where they are amounts to regress: the data's line
    names training.loss: mse, under which the same file is read as a regression (targets_for). Ten
    classes or fewer, names, or a task the caller gave, say nothing more."""
    from sklearn.datasets import load_diabetes

    from optimlab.data import Examples
    from optimlab.data.examples import targets_for
    from optimlab.data.sources import describe

    x, y = load_diabetes(return_X_y=True, scaled=False)
    guessed = Examples.from_arrays(x, y, name="diabetes.csv")
    assert guessed.task == "classification" and guessed.num_classes == len(np.unique(y)) == 214
    line = describe("diabetes.csv", guessed)
    assert "labels 25, 31, 37, 39, 40, 42, ... as classes 0-213, training.loss: mse would regress" in line
    with targets_for("regression"):  # what training.loss: mse sets
        regressed = Examples.from_arrays(x, y, name="diabetes.csv")
    assert regressed.task == "regression" and regressed.examples.y.flatten().tolist() == list(y)
    told = Examples.from_arrays(x, y, name="diabetes.csv", task="classification")
    few = Examples.from_arrays(x[:20], np.arange(20) % 10 + 1, name="ten.csv")
    assert "training.loss" not in describe("diabetes.csv", told) + describe("ten.csv", few)


def test_a_feature_that_float32_holds_as_one_value_is_refused_and_wide_whole_numbers_kept(tmp_path):
    """Timestamps 1700000001..1700000004 are distinct, but one float32 (numpy says so): the tensor the model
    trained on held the column as a constant, without a word. Refused naming the feature and its values;
    populations past float32's exact integers that float32 still tells apart are read as they round."""
    stamps = [1700000001, 1700000002, 1700000003, 1700000004]
    assert len({np.float32(t) for t in stamps}) == 1
    rows = "".join(f"{t},{i % 2 + 0.5},{i % 2}\n" for i, t in enumerate(stamps))
    with pytest.raises(InvalidValueError) as refused:
        load_csv(write(tmp_path, "ts,a,label\n" + rows))
    assert str(refused.value).startswith(
        "invalid value 'values 1700000001 to 1700000004' for feature 0 of the inputs of data: accepted values "
        "that float32, what the model trains on, tells apart"
    )
    people = [30_000_001, 45_000_003, 61_000_005, 80_000_007]
    rows = "".join(f"{p},{i % 2}\n" for i, p in enumerate(people))
    data = load_csv(write(tmp_path, "people,label\n" + rows, "people.csv"))
    assert data.examples.x[:, 0].tolist() == [float(np.float32(p)) for p in people]


CATEGORIES = "size,color,weight,label\n1,red,2.5,a\n2,blue,3.5,b\n3,green,1.0,a\n4,red,0.5,b\n"


def test_a_categorical_column_named_in_one_hot_is_encoded_in_its_place_as_scikit_learn_encodes_it(tmp_path):
    """A text feature was refused, with no way to keep the column. Named in one_hot, it is one 0/1
    feature per distinct value, sorted (blue, green, red), where the column stood: a hand encoding, and
    scikit-learn's OneHotEncoder of the column; its name or position, alone or in a list, alike."""
    from sklearn.preprocessing import OneHotEncoder

    path = write(tmp_path, CATEGORIES)
    hand = [[1, 0, 0, 1, 2.5], [2, 1, 0, 0, 3.5], [3, 0, 1, 0, 1.0], [4, 0, 0, 1, 0.5]]
    colors = np.array([["red"], ["blue"], ["green"], ["red"]])
    encoder = OneHotEncoder(sparse_output=False).fit_transform(colors)
    for one_hot in (["color"], "color", [1], ["1"], np.int64(1)):  # NumPy's int alone was refused
        data = load_csv(path, one_hot=one_hot)
        assert data.examples.x.tolist() == hand
        assert np.array_equal(data.examples.x[:, 1:4].numpy(), encoder.astype(np.float32))
        assert data.examples.y.tolist() == [0, 1, 0, 1] and data.input_shape == (5,)
    assert "; column 'color' one-hot as 3 features (blue, green, red)," in data.reading
    import optimlab.data

    splits = optimlab.data.load(path, one_hot=["color"], val_fraction=0.0, test_fraction=0.0, seed=0)
    assert sorted(splits.train.x.tolist()) == hand


def test_a_text_feature_names_the_option_that_encodes_it_and_bad_one_hot_columns_are_refused(tmp_path):
    path = write(tmp_path, CATEGORIES)
    with pytest.raises(InvalidValueError) as refused:
        load_csv(path)
    assert str(refused.value) == (
        "invalid value 'red' for feature 'color' in row 2 of data.csv: accepted a number: only the target "
        "('label') may be text; a categorical feature: one_hot=['color'] encodes each of its values as a 0/1 "
        "feature (data.options.one_hot in a recipe); another target column: --target NAME or INDEX "
        "(data.options.target in a recipe)."
    )
    with pytest.raises(UnknownNameError, match="Did you mean 'color'"):
        load_csv(path, one_hot=["colour"])
    with pytest.raises(InvalidValueError, match="'label' for one_hot of data.csv.*'label' is the target"):
        load_csv(path, one_hot=["color", "label"])
    with pytest.raises(InvalidValueError, match=r"9 for one_hot of data.csv.*position in \[-4, 4\)"):
        load_csv(path, one_hot=[9])
    with pytest.raises(InvalidValueError, match="for one_hot of data.csv.*a list of feature columns"):
        load_csv(path, one_hot={"color": 1})
    missing = write(tmp_path, CATEGORIES.replace("green", ""), "missing.csv")
    with pytest.raises(InvalidValueError, match="'' for feature 'color' in row 4 of missing.csv.*not filled"):
        load_csv(missing, one_hot=["color"])


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("a,b\n1,2,0\n3,4,1\n", "2 fields"),  # R's write.table: no name over the row names
        ("# rows of a and b\na,b,label\n1,2,0\n3,4,1\n", "1 field"),  # a comment line read as the header
        ("a,b,c,label\n1,2,0\n3,4,1\n", "4 fields"),  # a column dropped from the rows, kept in the header
    ],
)
def test_a_header_of_another_width_than_the_rows_is_refused_in_one_line(tmp_path, text, fields):
    for target in (None, "label", "b"):
        with pytest.raises(InvalidValueError) as refused:
            load_csv(write(tmp_path, text), target=target)
        assert str(refused.value) == (
            f"invalid value '{fields}' for the header (row 1) of data.csv: accepted 3 fields, as in the rows "
            "below it (or header=False: data.options.header in a recipe, where the first row is data)."
        )


@pytest.mark.parametrize("header", ["no", "false", 0, 1])
def test_a_header_flag_that_is_not_true_or_false_is_refused(tmp_path, header):
    """header='no' was truthy: the first row was read as the header, the opposite of what was asked."""
    path = write(tmp_path, "1,2,0\n3,4,1\n5,6,0\n")
    with pytest.raises(InvalidValueError) as refused:
        load_csv(path, header=header)
    assert str(refused.value) == (
        f"invalid value {header!r} for header of data.csv (data.options.header): accepted True or False."
    )


def test_a_quote_left_open_is_refused_not_read_as_the_rest_of_the_file_in_one_field(tmp_path):
    """'1,2,"x' opened a quote never closed: csv's lenient reading made the rest of the file one label
    ('x\\n3,4,y\\n5,6,x'), 3 rows read as 1 without a word; pandas.read_csv refuses it ('EOF inside
    string'). A longer file ran into csv's field limit instead: _csv.Error, a traceback."""
    path = write(tmp_path, 'a,b,label\n1,2,"x\n\n3,4,y\n5,6,x\n')
    with pytest.raises(InvalidValueError) as refused:
        load_csv(path)
    assert str(refused.value) == (
        "invalid value 'a quoted field still open at the end of the file' for row 2 of data.csv: accepted a "
        "closing quote for each opening one (pandas.read_csv refuses it too: 'EOF inside string')."
    )
    long = write(tmp_path, 'a,b,label\n1,2,0\n3,4,"y\n' + "5,6,1\n" * 30_000, "long.csv")
    with pytest.raises(
        InvalidValueError, match=r"'a field of over 131,072 characters' for row 3 of long.csv"
    ):
        load_csv(long)
    # what pandas reads leniently is read as before: a space after a closing quote, a quote inside a field
    lenient = load_csv(write(tmp_path, 'a,b,label\n"1","2" ,x"y\n3,4,z\n5,6,x"y\n', "lenient.csv"))
    assert lenient.examples.x.tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert lenient.examples.y.tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    "code", ["2024_01", "1_000", "\u0661\u0662", "\uff11\uff12"]
)  # Arabic-Indic, fullwidth 12
def test_text_that_python_reads_as_a_number_but_pandas_and_numpy_do_not_is_text(tmp_path, code):
    """float() reads digit separators and other scripts' digits: '2024_01' (a year and month) was the
    feature 202401, '١٢' the number 12, without a word; pandas.read_csv reads such a column as text and
    numpy.loadtxt refuses it. It is text now: refused as a feature (one_hot encodes it), a class label as
    the target."""
    path = write(tmp_path, f"a,b,label\n{code},2,x\n3,4,y\n5,6,x\n")
    with pytest.raises(
        InvalidValueError, match=rf"'{code}' for feature 'a' in row 2 of data.csv: accepted a number"
    ):
        load_csv(path)
    with pytest.raises(ValueError):
        np.loadtxt(io.StringIO(f"{code},2\n"), delimiter=",")
    labels = load_csv(write(tmp_path, f"a,b,label\n1,2,{code}\n3,4,7\n5,6,{code}\n", "t.csv"))
    assert labels.reading == f"target column 'label', labels {', '.join(sorted([code, '7']))} as classes 0-1"


CELLS = ["1.5", " 1.5 ", "+.5", "1e3", "-0", "inf", "-Infinity", "iNf", "nan", "NaN", "-nan", "-NaN"]
CELLS += ["NAN", "nAn", "+nan", "+NaN", " nan", "nan ", " inf", "-inf ", "1_0", "\u0661", "0x10", "NA"]


@pytest.mark.parametrize("cell", CELLS)
def test_a_cell_is_a_number_where_pandas_reads_one(cell):
    """float() read 'NAN', 'nAn' and '+nan' as NaN and ' inf' as infinity, where pandas.read_csv reads
    such a column as text (NaN is its missing values alone, 'nan', 'NaN', '-nan', '-NaN'; infinity has no
    spaces around it): a cell read as no number pandas reads. Truth: pandas.read_csv of the same column,
    a number (the same one) or text."""
    pd = pytest.importorskip("pandas")
    from optimlab.data.examples import text_number

    column = pd.read_csv(io.StringIO(f"a,b\n{cell},1\n2,1\n"))["a"]
    # 'NA' is missing to pandas; to the CSV reader a missing value (examples.MISSING), not a number
    if pd.api.types.is_string_dtype(column) or column.dtype == object or cell == "NA":
        with pytest.raises(ValueError):
            text_number(cell)
    else:
        number, truth = text_number(cell), float(column[0])
        assert number == truth or (math.isnan(number) and math.isnan(truth))


@pytest.mark.parametrize("spelling", ["NAN", "+nan", "nAn"])
def test_nan_as_another_tool_spells_it_is_a_missing_value_where_pandas_reads_text(tmp_path, spelling):
    """Read as pandas reads it, 'NAN' is text, not a number: as a feature or a target among numbers it
    is still said to be a missing value (float() reads it as NaN), to fill or drop, not taken as a
    category or a class. Truth: pandas reads the column as text; the refusal names the cell's row."""
    pd = pytest.importorskip("pandas")
    features = write(tmp_path, f"a,b,label\n{spelling},2,1.5\n3,4,2.5\n5,6,3.5\n")
    assert pd.api.types.is_string_dtype(pd.read_csv(features)["a"])
    with pytest.raises(
        InvalidValueError, match=rf"'{re.escape(spelling)}' for feature 'a' in row 2 .*missing"
    ):
        load_csv(features)
    target = write(tmp_path, f"a,b,label\n1,2,1.5\n3,4,{spelling}\n5,6,3.5\n", "t.csv")
    with pytest.raises(
        InvalidValueError, match=r"for target 'label' in row 3 of t.csv: accepted a target in"
    ):
        load_csv(target)


@pytest.mark.parametrize(
    ("text", "line", "fields"),
    [
        ("a,b,label\n# a comment\n1,2,0\n3,4,1\n", 2, "1 field"),  # a comment line under the header
        ("1,2\n3,4,1\n5,6,0\n7,8,1\n", 1, "2 fields"),  # a short first row, no header
        ("a,b,label\n1,2\n3,4,1\n", 2, "2 fields"),  # the header and row 3 agree against row 2
    ],
)
def test_a_stray_first_row_is_refused_as_itself_not_taken_for_the_width(tmp_path, text, line, fields):
    """The first data row decided the width: a '# comment' line under the header made the header (3
    fields) the odd one out ('accepted 1 fields, as in the rows below it'), and a short first row made
    every other row wrong; a header agreeing with one of two rows was refused, outvoted by the first.
    Truth: the rows' width is the one most rows have, the header's counted (csv.reader's fields)."""
    with pytest.raises(InvalidValueError) as refused:
        load_csv(write(tmp_path, text))
    assert str(refused.value) == (
        f"invalid value '{fields}' for row {line} of data.csv: accepted 3 fields, as most rows have."
    )
