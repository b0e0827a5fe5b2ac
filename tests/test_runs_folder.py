"""Default output paths (two commands started within the same second each get their own), and the names
of the files a run folder holds."""

from pathlib import Path

import pytest

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


def test_a_folder_the_file_system_cannot_lock_is_trained_and_compared_into_unheld(tmp_path, monkeypatch):
    """On NFS, flock is emulated with byte-range locks, which need a file opened for writing: the folder,
    opened read-only to be held, raised EBADF, and compare (which ran there before 98c2cf3) and train
    failed with 'error: Bad file descriptor'. Truth: that file system's rule, simulated (a flock on a
    descriptor not opened for writing raises EBADF; the journal's lock file, opened to append, locks)."""
    import errno
    import fcntl
    import os

    from optimlab.recipe import Recipe
    from optimlab.study.compare import compare
    from optimlab.train import train

    real = fcntl.flock

    def nfs_flock(fd, operation):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", nfs_flock)
    recipe = Recipe.from_dict({"data": {"name": "iris"}, "training": {"epochs": 1}})
    assert train(recipe, tmp_path / "run").status == "completed"
    done = compare(["sgd"], out=tmp_path / "cmp", dataset="iris", budget=1, seeds=1, epochs=1)
    assert done.report.is_file() and {r.state for r in done.results[0].records} == {"complete"}


def test_a_held_folder_is_refused_naming_the_refused_work_not_the_holders(tmp_path):
    """A train refused while a compare held its folder said 'another optimlab run is training there':
    the refused process's own work, not the holder's, which it cannot know. Both ways round the line now
    names the refused work and says another optimlab process holds the folder."""
    from optimlab.errors import OptimlabError
    from optimlab.recipe import Recipe
    from optimlab.runs_folder import hold_folder
    from optimlab.study.compare import compare
    from optimlab.train import train

    recipe = Recipe.from_dict({"data": {"name": "iris"}, "training": {"epochs": 1}})
    with hold_folder(tmp_path, "optimlab compare"), pytest.raises(OptimlabError) as refused:
        train(recipe, tmp_path)  # the folder held as a live compare holds it
    assert str(refused.value) == (
        f"optimlab train cannot use {str(tmp_path)!r}: another optimlab process holds it (a train, a "
        "compare or a bench writing there); wait for it to end, or choose another folder"
    )
    refusal = "^optimlab compare cannot use .* another optimlab process holds it"
    with hold_folder(tmp_path, "optimlab train"), pytest.raises(OptimlabError, match=refusal):
        compare(["sgd"], out=tmp_path, dataset="iris", budget=1, seeds=1, epochs=1)


def test_a_folder_made_then_not_opened_is_removed(tmp_path, monkeypatch):
    """``os.open`` failing after ``mkdir`` (EMFILE: no descriptor left) left the folders it made, though
    work that fails before writing a file removes them. Truth: the folder tree as it was before."""
    import errno
    import os

    from optimlab.errors import OptimlabError
    from optimlab.runs_folder import hold_folder

    out, real_open = tmp_path / "a" / "b", os.open

    def no_descriptor(path, *args):  # the folder's own descriptor only: blocker's probe opens as ever
        if Path(path) == out:
            raise OSError(errno.EMFILE, "Too many open files")
        return real_open(path, *args)

    monkeypatch.setattr(optimlab.runs_folder.os, "open", no_descriptor)
    with (
        pytest.raises(OptimlabError, match="Too many open files"),
        hold_folder(out, "optimlab train"),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_refused_process_leaves_the_folder_its_holder_made(tmp_path, monkeypatch):
    """Two processes started together into a new folder both listed it as theirs to make; the one refused
    the lock removed it, empty, under its holder, whose first write then failed. Truth: the holder's
    folder still there after the other's refusal (the refused one seeing the folder new, as a racer does)."""
    from optimlab.errors import OptimlabError
    from optimlab.runs_folder import hold_folder

    out, real_exists = tmp_path / "new", Path.exists
    with hold_folder(out, "optimlab bench"):  # the holder made it and has written nothing yet
        monkeypatch.setattr(Path, "exists", lambda path: False if path == out else real_exists(path))
        with pytest.raises(OptimlabError, match="another optimlab process holds it"), hold_folder(out, "x"):
            pass
        monkeypatch.undo()
        assert out.is_dir()
