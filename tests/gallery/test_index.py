"""The gallery's index (optimlab.gallery.page.write_index, index_again) kept true to the pages it links."""

import dataclasses
import shutil

import pytest

import optimlab.gallery.publish as publish
from optimlab.gallery import LABELS, run_gallery


def _summary(index, page_reader) -> dict[str, dict[str, str]]:
    (table,) = page_reader(index.read_text(encoding="utf-8")).tables
    return {row["experiment"]: row for row in table.records()}


def test_a_run_of_one_experiment_into_a_folder_of_all_shows_its_new_verdict_in_the_index(
    cli, tmp_path, monkeypatch, tiny_gallery, page_reader
):
    """'gallery run NAME --out DIR' into the folder of an earlier 'gallery run all' left the index's verdict
    and size of NAME as the earlier run wrote them. Truth: the new page's own verdict table; the other
    experiments' rows as the earlier index had them."""
    shutil.copytree(tiny_gallery.folder, tmp_path, dirs_exist_ok=True)
    index = tmp_path / "index.html"
    before = _summary(index, page_reader)
    name = "no_nonlinearity"
    earlier = tiny_gallery.outcomes[name]
    label = next(label for label in LABELS if label != earlier.verdict.label)
    rerun = dataclasses.replace(
        earlier, size="small", seconds=12.3, verdict=dataclasses.replace(earlier.verdict, label=label)
    )
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: rerun)  # no run
    code, _, err = cli("gallery", "run", name, "--size", "small", "--out", str(tmp_path))
    assert code == 0, err
    shown = page_reader((tmp_path / f"{name}.html").read_text(encoding="utf-8")).tables[0].rows
    assert shown == [[label]]
    row = {**before[name], "verdict": label, "size": "small", "seconds": "12.3"}
    assert _summary(index, page_reader) == {**before, name: row}
    assert f"({label}): " in index.read_text(encoding="utf-8")


def test_a_run_of_one_experiment_leaves_an_index_the_gallery_did_not_write(
    cli, tmp_path, monkeypatch, tiny_gallery
):
    """A folder's own index.html (a site's) is not the gallery's: a run of one experiment leaves it as it was."""
    name = "no_nonlinearity"
    index = tmp_path / "index.html"
    index.write_text("<html><title>my site</title></html>")
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: tiny_gallery.outcomes[name])
    code, _, err = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path))
    assert code == 0 and (tmp_path / f"{name}.html").is_file(), err
    assert index.read_text() == "<html><title>my site</title></html>"


def test_an_interrupted_run_of_all_keeps_the_earlier_pages_in_the_index(
    tmp_path, monkeypatch, tiny_gallery, page_reader
):
    """Ctrl-C in 'gallery run all' over the folder of an earlier whole run indexed only the pages it had
    finished: the 13 earlier pages still in the folder (and still valid) dropped out of index.html. Truth:
    the earlier index's rows, the finished experiment's row as its new page says."""

    shutil.copytree(tiny_gallery.folder, tmp_path, dirs_exist_ok=True)
    before = _summary(tmp_path / "index.html", page_reader)
    name = "no_nonlinearity"
    rerun = dataclasses.replace(tiny_gallery.outcomes[name], size="small", seconds=12.3)

    def outcome(experiment, size):
        if experiment.name != name:
            raise KeyboardInterrupt  # Ctrl-C in the second experiment
        return rerun

    monkeypatch.setattr(publish, "experiment_names", lambda: [name, "he_init"])
    monkeypatch.setattr(publish, "_outcome", outcome)
    with pytest.raises(KeyboardInterrupt):
        run_gallery(size="small", out=tmp_path)
    row = {**before[name], "size": "small", "seconds": "12.3"}
    assert _summary(tmp_path / "index.html", page_reader) == {**before, name: row}
