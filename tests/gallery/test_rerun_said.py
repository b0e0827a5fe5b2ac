"""A gallery run over a folder that holds earlier pages says what it does with them, on stderr."""

import shutil

import optimlab.gallery.publish as publish
from optimlab.gallery.page import kept_outcome
from optimlab.gallery.publish import get_experiment


def test_a_run_over_earlier_pages_says_what_it_keeps_and_runs(cli, tmp_path, monkeypatch, tiny_gallery):
    """'gallery run all' over a folder of pages ran every experiment again, or with --resume kept some,
    without a word: the user could not tell a rerun of an hour from a resume. Truth: kept_outcome, what
    a resume keeps."""
    name = "no_nonlinearity"
    for suffix in (".html", ".json"):  # the session's page, as an earlier run left it
        shutil.copy(tiny_gallery.folder / f"{name}{suffix}", tmp_path)
    assert kept_outcome(get_experiment(name), "tiny", tmp_path) is not None
    monkeypatch.setattr(publish, "experiment_names", lambda: [name])
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: tiny_gallery.outcomes[name])  # no run
    code, _, err = cli("gallery", "run", "all", "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert code == 0 and f"{tmp_path}: kept 1 of its 1 page, running 0\n" in err, err
    code, _, err = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path))
    expected = f"{tmp_path}: running 1 experiment again over its 1 page (--resume keeps those still valid)\n"
    assert code == 0 and expected in err, err
