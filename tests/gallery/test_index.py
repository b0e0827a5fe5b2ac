"""The gallery's index (optimlab.gallery.page.write_index, index_again) kept true to the pages it links."""

import dataclasses
import html
import json
import os
import re
import shutil
import signal
import threading

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
    cli, tmp_path, monkeypatch, few_tiny_pages, page_reader
):
    """'gallery run NAME --out DIR' into the folder of an earlier 'gallery run all' left the index's verdict
    and size of NAME as the earlier run wrote them. Truth: the new page's own verdict table; the other
    experiments' rows as the earlier index had them."""
    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)
    index = tmp_path / "index.html"
    before = _summary(index, page_reader)
    name = "no_nonlinearity"
    earlier = few_tiny_pages.outcomes[name]
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
    cli, tmp_path, monkeypatch, few_tiny_pages
):
    """A folder's own index.html (a site's) is not the gallery's: a run of one experiment leaves it as it was."""
    name = "no_nonlinearity"
    index = tmp_path / "index.html"
    index.write_text("<html><title>my site</title></html>")
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: few_tiny_pages.outcomes[name])
    code, _, err = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path))
    assert code == 0 and (tmp_path / f"{name}.html").is_file(), err
    assert index.read_text() == "<html><title>my site</title></html>"


def test_an_interrupted_run_of_all_keeps_the_earlier_pages_in_the_index(
    tmp_path, monkeypatch, few_tiny_pages, page_reader
):
    """Ctrl-C in 'gallery run all' over the folder of an earlier whole run indexed only the pages it had
    finished: the earlier pages still in the folder (and still valid) dropped out of index.html. Truth:
    the earlier index's rows, the finished experiment's row as its new page says."""

    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)
    before = _summary(tmp_path / "index.html", page_reader)
    name = "no_nonlinearity"
    rerun = dataclasses.replace(few_tiny_pages.outcomes[name], size="small", seconds=12.3)

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
    cli, tmp_path, monkeypatch, few_tiny_pages, page_reader
):
    """A page whose numbers were cut short, a page edited since, a record whose verdict was edited
    ('contradicted' to another label, the page unchanged) and the page of an experiment no longer
    registered: the first, second and last dropped out of the index without a word, and the third was
    indexed with the edited label, not the one its page shows. Truth: the earlier index's rows for the pages
    left as they were; each of the four named on stderr and linked marked, none in the summary. The folder's
    pages were read and judged twice (once for the index, once for stderr): once now."""
    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)
    before = _summary(tmp_path / "index.html", page_reader)
    read_pages = gallery_page._pages
    (tmp_path / "mnist1d_baselines.json").write_text('{"name": "mnist1d_b')
    with open(tmp_path / "input_scale.html", "a") as page:
        page.write("<!-- mine -->")
    record = json.loads((tmp_path / "batch_norm.json").read_text())
    record["verdict"]["label"] = next(label for label in LABELS if label != record["verdict"]["label"])
    (tmp_path / "batch_norm.json").write_text(json.dumps(record))
    shutil.copy(tmp_path / "small_init.html", tmp_path / "old_exp.html")
    (tmp_path / "old_exp.json").write_text(json.dumps({**record, "name": "old_exp"}))
    name = "no_nonlinearity"
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: few_tiny_pages.outcomes[name])
    readings = []
    monkeypatch.setattr(gallery_page, "_pages", lambda folder: readings.append(folder) or read_pages(folder))
    code, _, err = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path))
    assert code == 0, err
    assert readings == [tmp_path]
    marked = ["mnist1d_baselines", "input_scale", "batch_norm", "old_exp"]
    for page in marked:
        assert f"{tmp_path / page}.html: linked without its verdict in the index: " in err, err
        assert _links(tmp_path / "index.html")[f"{page}.html"].startswith("(verdict not shown: "), page
    assert _summary(tmp_path / "index.html", page_reader) == {
        n: r for n, r in before.items() if n not in marked
    }


def test_an_index_written_from_outcomes_and_a_folder_alone_shows_them(tmp_path, few_tiny_pages, page_reader):
    """write_index(outcomes, folder), public, was refused once it took the pages not shown as a required
    second argument (TypeError): they are optional, after the folder. Truth: the outcomes' own verdicts."""
    outcomes = [(get_experiment(name), outcome) for name, outcome in few_tiny_pages.outcomes.items()]
    index = gallery_page.write_index(outcomes, tmp_path)
    assert {name: row["verdict"] for name, row in _summary(index, page_reader).items()} == {
        experiment.name: outcome.verdict.label for experiment, outcome in outcomes
    }
    assert _links(index) and not any(
        after.startswith("(verdict not shown") for after in _links(index).values()
    )


def test_a_page_another_optimlab_torch_or_code_made_is_marked_stale_in_the_index(tmp_path, few_tiny_pages):
    """Pages whose numbers another optimlab and torch made, or no recorded versions, or other code of the
    experiment, which --resume runs again, were indexed as this optimlab's own without a mark. Truth:
    kept_outcome (what --resume keeps) for each page; the marked link names the versions that made it."""
    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)
    edits = {
        "mnist1d_baselines": {"versions": {"optimlab": "0.0.1", "torch": "1.0"}},
        "small_init": {"versions": None},
        "batch_norm": {"code": "0" * 64},
    }
    for name, edit in edits.items():
        record = json.loads((tmp_path / f"{name}.json").read_text())
        (tmp_path / f"{name}.json").write_text(json.dumps({**record, **edit}))
    index = gallery_page.index_pages(tmp_path)
    links = _links(index)
    assert set(links) == {f"{name}.html" for name in few_tiny_pages.outcomes}
    for page, after in links.items():
        kept = gallery_page.kept_outcome(get_experiment(page.removesuffix(".html")), "tiny", tmp_path)
        assert ("; stale: made by " in after) == (kept is None), (page, after)
    assert sorted(page for page, after in links.items() if "stale" in after) == sorted(
        f"{n}.html" for n in edits
    )
    assert "stale: made by optimlab 0.0.1, torch 1.0, not optimlab " in links["mnist1d_baselines.html"]
    assert "3 pages marked stale: a run with --resume runs them again, for the reason given beside each" in (
        index.read_text()
    )


def test_a_record_without_series_is_marked_stale_for_that_reason_alone(tmp_path, few_tiny_pages):
    """A record an earlier optimlab wrote without its figures' series (this version's, before 8b3cd3db) was
    marked stale under 'not shown made by this optimlab, torch and code of the experiment', false for it.
    Truth: _stale's reason for it, the only one the index gives."""
    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)
    record = json.loads((tmp_path / "small_init.json").read_text())
    del record["series"]
    (tmp_path / "small_init.json").write_text(json.dumps(record))
    index = gallery_page.index_pages(tmp_path)
    why = gallery_page._stale(get_experiment("small_init"), record)
    assert why == "written by an earlier optimlab that recorded no series of its figures"
    assert _links(index)["small_init.html"].endswith(
        f"; stale: {why}): \u201c{get_experiment('small_init').claim}\u201d"
    )
    assert "1 page marked stale: a run with --resume runs it again" in index.read_text()
    assert "made by this optimlab" not in index.read_text()


def test_records_an_earlier_optimlab_wrote_without_a_digest_are_shown_and_marked_stale(
    tmp_path, few_tiny_pages
):
    """Records written before the page's SHA-256 was (no page_sha256, versions, code nor outcomes) were
    linked as "the page was edited since", unmarked, though --resume runs them again. Truth: each page's
    own verdict label, kept_outcome (what --resume keeps) None for each."""
    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)
    for name in few_tiny_pages.outcomes:
        record = json.loads((tmp_path / f"{name}.json").read_text())
        del record["page_sha256"], record["versions"], record["code"], record["verdict"]["outcomes"]
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    links = _links(gallery_page.index_pages(tmp_path))
    for name, outcome in few_tiny_pages.outcomes.items():
        expected = f"({outcome.verdict.label}; stale: written by an earlier optimlab that recorded no digest"
        assert links[f"{name}.html"].startswith(expected), links
        assert gallery_page.kept_outcome(get_experiment(name), "tiny", tmp_path) is None


def test_an_experiment_without_a_source_file_is_not_said_made_by_other_code(
    tmp_path, few_tiny_pages, monkeypatch
):
    """An experiment typed in a notebook (no source file, so no code digest) had every index say its page
    was "made by other code of the experiment", the page this very code made. Truth: the index's words; the
    page still stale as --resume, with nothing to show the code unchanged, runs it again (kept_outcome)."""
    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)

    def no_source(module):
        raise OSError("could not get source code")

    monkeypatch.setattr(gallery_page.inspect, "getsource", no_source)
    links = _links(gallery_page.index_pages(tmp_path))
    for name in few_tiny_pages.outcomes:
        assert "other code" not in links[f"{name}.html"], links
        assert "stale: the experiment's code has no source file" in links[f"{name}.html"], links
        assert gallery_page.kept_outcome(get_experiment(name), "tiny", tmp_path) is None


def _first_number_made(numbers, value):
    """``numbers`` (a record's) with its first number, depth first, replaced by ``value``."""
    if isinstance(numbers, dict):
        for key, inner in numbers.items():
            made = _first_number_made(inner, value)
            if made is not inner:
                return {**numbers, key: made}
    elif isinstance(numbers, list):
        for i, inner in enumerate(numbers):
            made = _first_number_made(inner, value)
            if made is not inner:
                return [*numbers[:i], made, *numbers[i + 1 :]]
    elif isinstance(numbers, (int, float)) and not isinstance(numbers, bool):
        return value
    return numbers


def test_corrupt_records_and_a_folder_s_own_files_neither_stop_nor_join_the_index(
    cli, tmp_path, monkeypatch, few_tiny_pages
):
    """A record nested 100,000 lists deep stopped 'gallery run' with a RecursionError traceback, a number
    10**400 in a record's numbers or seconds with an OverflowError one; a site's own notes.json naming
    itself beside its notes.html was linked as a gallery page of an experiment no longer registered; a
    named pipe pipe.json (or he_init.json, with no page) was opened and read, waiting for a writer forever.
    Truth: the corrupt pages named on stderr and linked without a verdict, the others as they were; the
    site's files untouched and unlinked."""
    shutil.copytree(few_tiny_pages.folder, tmp_path, dirs_exist_ok=True)
    (tmp_path / "small_init.json").write_text("[" * 100_000 + "]" * 100_000)
    record = json.loads((tmp_path / "mnist1d_baselines.json").read_text())
    (tmp_path / "mnist1d_baselines.json").write_text(json.dumps({**record, "seconds": 10**400}))
    record = json.loads((tmp_path / "input_scale.json").read_text())
    numbers = _first_number_made(record["numbers"], 10**400)
    (tmp_path / "input_scale.json").write_text(json.dumps({**record, "numbers": numbers}))
    (tmp_path / "notes.json").write_text(json.dumps({"name": "notes", "pages": 3}))
    (tmp_path / "notes.html").write_text("<html><title>notes</title></html>")
    (tmp_path / "folder.json").mkdir()
    pipes = [tmp_path / "pipe.json", tmp_path / "he_init.json"]  # a reader of either waits for a writer
    (tmp_path / "pipe.html").write_text("<html><title>pipe</title></html>")
    writers = [threading.Thread(target=_write_once_read, args=(pipe,), daemon=True) for pipe in pipes]
    for pipe, writer in zip(pipes, writers, strict=True):
        os.mkfifo(pipe)
        writer.start()
    try:
        name = "no_nonlinearity"
        monkeypatch.setattr(publish, "_outcome", lambda experiment, size: few_tiny_pages.outcomes[name])
        code, _, err = _within(
            30, lambda: cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path))
        )
        assert code == 0, err
        corrupt = ["small_init", "mnist1d_baselines", "input_scale"]
        said = re.findall(r"^(\S+)\.html: linked without its verdict in the index: ", err, re.MULTILINE)
        assert sorted(said) == sorted(str(tmp_path / page) for page in corrupt), err
        links = _links(tmp_path / "index.html")
        assert set(links) == {f"{page}.html" for page in few_tiny_pages.outcomes}
        assert all(links[f"{page}.html"].startswith("(verdict not shown: ") for page in corrupt)
        assert (tmp_path / "notes.html").read_text() == "<html><title>notes</title></html>"
        assert all(writer.is_alive() for writer in writers), "a named pipe was opened"
    finally:
        for pipe, writer in zip(pipes, writers, strict=True):
            reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer go, open until it has
            writer.join()
            os.close(reader)


def _write_once_read(pipe) -> None:
    """Write to the named pipe ``pipe`` once a reader opens it (never, where none does)."""
    try:
        with open(pipe, "w") as handle:
            handle.write("[]")
    except BrokenPipeError:
        pass


def _within(seconds: int, call):
    """What ``call()`` returns, failing the test where it has not returned within ``seconds`` (SIGALRM,
    which interrupts a wait in open()): a read of a named pipe waits for a writer forever, and a test that
    waited with it would hang instead of failing."""

    def late(*_) -> None:
        pytest.fail(f"still waiting after {seconds} s: a named pipe was read")

    earlier = signal.signal(signal.SIGALRM, late)
    signal.alarm(seconds)
    try:
        return call()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, earlier)


@pytest.mark.parametrize("pipe", ["he_init.html", "index.html"])
def test_a_named_pipe_in_the_folder_is_refused_or_ignored_unread(tmp_path, cli, monkeypatch, pipe):
    """A named pipe where a page or the index would lie (``mkfifo out/he_init.html``) is not a file the
    gallery wrote: a run there is refused in one line, before any training, and an index written again
    leaves that index alone. Truth: the exit code and message, the pipe never opened by its writer."""
    monkeypatch.setattr(publish, "_outcome", lambda *_: pytest.fail("an experiment ran"))
    os.mkfifo(tmp_path / pipe)
    writer = threading.Thread(target=_write_once_read, args=(tmp_path / pipe,), daemon=True)
    writer.start()
    try:
        names = ["he_init"] if pipe == "he_init.html" else ["all"]
        code, _, err = _within(
            30, lambda: cli("gallery", "run", *names, "--size", "tiny", "--out", str(tmp_path))
        )
        assert code == 2 and f"{str(tmp_path / pipe)!r} is not one it wrote" in err, err
        assert err.count("\n") == 1, err
        if pipe == "index.html":
            assert _within(30, lambda: gallery_page.index_again(tmp_path)) is None
        assert writer.is_alive(), "the named pipe was opened"
    finally:
        reader = os.open(tmp_path / pipe, os.O_RDONLY | os.O_NONBLOCK)
        writer.join()
        os.close(reader)
