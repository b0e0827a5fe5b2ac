"""The study's flat tables: written whole or not at all."""

from test_atomic import in_a_full_disk

from optimlab.study.export import write_tables
from optimlab.study.run import StudyResult
from study.test_report import RECORDS, SPEC


def test_tables_cut_short_by_a_full_disk_keep_the_former_ones(tmp_path):
    """trials.csv and leaderboard.csv were written in place: a kill or a full disk at the end of a resumed
    comparison left them cut short, missing trials that the storage holds."""
    files = write_tables([StudyResult(SPEC, str(tmp_path), RECORDS)], tmp_path)
    former = {path: path.read_bytes() for path in files}
    many = [StudyResult(SPEC, str(tmp_path), RECORDS * 20)]
    assert in_a_full_disk(lambda: write_tables(many, tmp_path)) == 3
    assert {path: path.read_bytes() for path in files} == former
    assert sorted(tmp_path.iterdir()) == sorted(files)
