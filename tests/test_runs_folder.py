"""Default output paths: two commands started within the same second each get their own."""

import optimlab.runs_folder
from optimlab.runs_folder import fresh_path


def test_a_taken_name_gets_the_next_free_number(tmp_path, monkeypatch):
    monkeypatch.setattr(optimlab.runs_folder.time, "strftime", lambda fmt, *args: "20260101-120000")
    first = fresh_path("train-abc", root=tmp_path)
    assert first == tmp_path / "train-abc-20260101-120000"
    first.mkdir()
    second = fresh_path("train-abc", root=tmp_path)
    assert second == tmp_path / "train-abc-20260101-120000-2"
    second.mkdir()
    assert fresh_path("train-abc", root=tmp_path).name == "train-abc-20260101-120000-3"
    page = fresh_path("report", ".html", root=tmp_path)
    page.write_text("first")
    assert fresh_path("report", ".html", root=tmp_path).name == "report-20260101-120000-2.html"


def test_two_trains_of_one_recipe_in_the_same_second_keep_both_runs(cli, tmp_path, monkeypatch):
    """The same `optimlab train` command run twice within a second named both runs/train-ID-TIME: the
    second was refused ('... already holds a run')."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(optimlab.runs_folder.time, "strftime", lambda fmt, *args: "20260101-120000")
    for _ in range(2):
        code, _, err = cli("train", "--dataset", "iris", "--epochs", "1", "--no-progress")
        assert code == 0, err
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(folders) == 2 and folders[1] == folders[0] + "-2"
    assert all((tmp_path / "runs" / f / "result.json").is_file() for f in folders)
