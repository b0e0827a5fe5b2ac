"""The gallery's index (optimlab.gallery.page.write_index, index_again) kept true to the pages it links."""

import dataclasses
import html
import json
import re
import shutil

import pytest

import optimlab.gallery.page as gallery_page
import optimlab.gallery.publish as publish
from optimlab.gallery import LABELS, get_experiment, run_gallery


def _summary(index, page_reader) -> dict[str, dict[str, str]]:
    (table,) = page_reader(index.read_text(encoding="utf-8")).tables
    return {row["experiment"]: row for row in table.records()}


def _links(index) -> dict[str, str]:
    """Each linked page of the index, with the words after its link."""
    found = re.findall(r'<li><a href="([^"]+)">[^<]*</a> ([^<]*)</li>', index.read_text(encoding="utf-8"))
    return {html.unescape(href): html.unescape(after) for href, after in found}


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
    # numbers of a rerun in which the claim holds: a deep linear net no better than logistic regression
    deep_linear, logistic, relu = earlier.evidence.numbers["arms"]
    test_accuracy = {deep_linear: [0.65, 0.66, 0.64], logistic: [0.65, 0.65, 0.65], relu: [0.98, 0.99, 1.0]}
    numbers = {**earlier.evidence.numbers, "collapse_error_log10": [-7.0] * 3, "test_accuracy": test_accuracy}
    verdict = get_experiment(name).verdict(numbers)
    label = verdict.label
    assert label != earlier.verdict.label
    evidence = dataclasses.replace(earlier.evidence, numbers=numbers)
    rerun = dataclasses.replace(earlier, size="small", seconds=12.3, evidence=evidence, verdict=verdict)
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: rerun)  # no run
    code, _, err = cli("gallery", "run", name, "--size", "small", "--out", str(tmp_path))
    assert code == 0, err
    shown = page_reader((tmp_path / f"{name}.html").read_text(encoding="utf-8")).tables[0].rows
    assert shown == [[label]]
    row = {**before[name], "verdict": label, "size": "small", "seconds": "12.3"}
    assert _summary(index, page_reader) == {**before, name: row}
    # the sizes differ: each link says its page's (the tiny verdicts, a smoke test's, read as results)
    for page, after in _links(index).items():
        record = json.loads((tmp_path / page).with_suffix(".json").read_text())
        assert after.startswith(f"({record['verdict']['label']}, size {record['size']}): "), (page, after)
    assert f"({label}, size small): " in _links(index)[f"{name}.html"]


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


def test_a_page_the_index_cannot_show_is_linked_marked_and_named(
    cli, tmp_path, monkeypatch, tiny_gallery, page_reader
):
    """A page whose numbers were cut short, a page edited since, a record whose verdict was edited
    ('contradicted' to another label, the page unchanged) and the page of an experiment no longer
    registered: the first, second and last dropped out of the index without a word, and the third was
    indexed with the edited label, not the one its page shows. Truth: the earlier index's rows for the pages
    left as they were; each of the four named on stderr and linked marked, none in the summary. The folder's
    pages were read and judged twice (once for the index, once for stderr): once now."""
    shutil.copytree(tiny_gallery.folder, tmp_path, dirs_exist_ok=True)
    before = _summary(tmp_path / "index.html", page_reader)
    read_pages = gallery_page._pages
    (tmp_path / "he_init.json").write_text('{"name": "he_i')
    with open(tmp_path / "large_init.html", "a") as page:
        page.write("<!-- mine -->")
    record = json.loads((tmp_path / "weight_decay.json").read_text())
    record["verdict"]["label"] = next(label for label in LABELS if label != record["verdict"]["label"])
    (tmp_path / "weight_decay.json").write_text(json.dumps(record))
    shutil.copy(tmp_path / "small_init.html", tmp_path / "old_exp.html")
    (tmp_path / "old_exp.json").write_text(json.dumps({**record, "name": "old_exp"}))
    name = "no_nonlinearity"
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: tiny_gallery.outcomes[name])
    readings = []
    monkeypatch.setattr(gallery_page, "_pages", lambda folder: readings.append(folder) or read_pages(folder))
    code, _, err = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path))
    assert code == 0, err
    assert readings == [tmp_path]
    marked = ["he_init", "large_init", "weight_decay", "old_exp"]
    for page in marked:
        assert f"{tmp_path / page}.html: linked without its verdict in the index: " in err, err
        assert _links(tmp_path / "index.html")[f"{page}.html"].startswith("(verdict not shown: "), page
    assert _summary(tmp_path / "index.html", page_reader) == {
        n: r for n, r in before.items() if n not in marked
    }


def test_an_index_written_from_outcomes_and_a_folder_alone_shows_them(tmp_path, tiny_gallery, page_reader):
    """write_index(outcomes, folder), public, was refused once it took the pages not shown as a required
    second argument (TypeError): they are optional, after the folder. Truth: the outcomes' own verdicts."""
    outcomes = [(get_experiment(name), outcome) for name, outcome in tiny_gallery.outcomes.items()]
    index = gallery_page.write_index(outcomes, tmp_path)
    assert {name: row["verdict"] for name, row in _summary(index, page_reader).items()} == {
        experiment.name: outcome.verdict.label for experiment, outcome in outcomes
    }
    assert _links(index) and not any(
        after.startswith("(verdict not shown") for after in _links(index).values()
    )
