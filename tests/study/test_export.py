"""The study's flat tables: written whole or not at all."""

import csv

from test_atomic import in_a_full_disk

from optimlab.study.export import write_tables
from optimlab.study.run import StudyResult
from study.test_report import RECORDS, SPEC, record


def test_tables_cut_short_by_a_full_disk_keep_the_former_ones(tmp_path):
    """trials.csv and leaderboard.csv were written in place: a kill or a full disk at the end of a resumed
    comparison left them cut short, missing trials that the storage holds."""
    files = write_tables([StudyResult(SPEC, str(tmp_path), RECORDS)], tmp_path)
    former = {path: path.read_bytes() for path in files}
    many = [StudyResult(SPEC, str(tmp_path), RECORDS * 20)]
    assert in_a_full_disk(lambda: write_tables(many, tmp_path)) == 3
    assert {path: path.read_bytes() for path in files} == former
    assert sorted(tmp_path.iterdir()) == sorted(files)


def test_the_leaderboard_table_ranks_and_spreads_as_the_page_does(tmp_path):
    """leaderboard.csv ranked a method without any seed result 2nd and gave one seed result a standard
    deviation of 0, where the page shows neither."""
    records = [
        record("sgd", "tune/0", 0.9),
        record("sgd", "seeds/0", 0.9),
        record("adam", "tune/0", state="fail"),
    ]
    write_tables([StudyResult(SPEC, str(tmp_path), records)], tmp_path)
    with open(tmp_path / "leaderboard.csv", newline="") as handle:
        rows = {row["method"]: row for row in csv.DictReader(handle)}
    assert (rows["sgd"]["rank"], rows["sgd"]["seeds"], rows["sgd"]["test_std"]) == ("1", "1", "nan")
    assert (rows["adam"]["rank"], rows["adam"]["seeds"], rows["adam"]["test_mean"]) == ("", "0", "nan")


def test_a_resumed_study_lists_its_trials_in_the_order_of_its_plan(tmp_path):
    """A study killed in its seed rerun 0 and resumed ran it again as trial 5, after rerun 1: trials.csv
    listed seeds/1 before seeds/0, where the uninterrupted run of the same numbers lists them in order."""
    import dataclasses

    numbered = [("sgd", "tune/0", 0), ("sgd", "tune/1", 1), ("sgd", "seeds/1", 4), ("sgd", "seeds/0", 5)]
    numbered += [("adam", "seeds/0", 3), ("adam", "tune/0", 0)]
    records = [dataclasses.replace(record(m, key, 0.9), number=n) for m, key, n in numbered]
    write_tables([StudyResult(SPEC, str(tmp_path), records)], tmp_path)
    with open(tmp_path / "trials.csv", newline="") as handle:
        rows = [(row["method"], row["key"], row["trial"]) for row in csv.DictReader(handle)]
    assert rows == [
        ("sgd", "tune/0", "0"), ("sgd", "tune/1", "1"), ("sgd", "seeds/0", "5"), ("sgd", "seeds/1", "4"),
        ("adam", "tune/0", "0"), ("adam", "seeds/0", "3"),
    ]  # fmt: skip
