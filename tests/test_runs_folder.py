"""Default output paths (two commands started within the same second each get their own), and the names
of the files a run folder holds."""

from pathlib import Path

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


def test_the_run_folders_file_names_have_one_home():
    """train.run named a run folder's files (RECIPE_NAME, METRICS_NAME...) while report.run_folder,
    report.run_page, the trackers and the CLI each wrote them again as strings: a rename would split
    what train writes from what they read. Truth: the package's source, where each name is written once,
    in runs_folder."""
    import optimlab
    from optimlab import runs_folder

    names = [runs_folder.RECIPE_NAME, runs_folder.METRICS_NAME, runs_folder.MODEL_NAME]
    names += [runs_folder.RESULT_NAME, runs_folder.SESSIONS_NAME]
    source = Path(optimlab.__file__).parent
    written = {
        (str(path.relative_to(source)), name)
        for path in source.rglob("*.py")
        for name in names
        if f'"{name}"' in path.read_text() or f"'{name}'" in path.read_text()
    }
    assert written == {("runs_folder.py", name) for name in names}
