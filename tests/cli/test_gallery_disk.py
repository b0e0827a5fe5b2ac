"""gallery run on a full disk past a page: the index (after every page of 'all', or written again after
one experiment's page), a kept page written again by --resume, a page of 'all' before others. Each is
said after the verdicts, which are printed whole, in one line naming the file, exit 5."""

from __future__ import annotations

import errno
import functools
import json
import os
from typing import Any

import pytest

import optimlab.gallery.page
import optimlab.gallery.publish
import optimlab.report.html

THREE = ["no_nonlinearity", "input_scale", "small_init"]
FULL = "No space left on device"


@functools.cache
def _tiny_outcome(name: str) -> Any:
    """``name``'s outcome at size tiny, run once (by the gallery's own runner) for the tests here."""
    return _RUN(optimlab.gallery.get_experiment(name), "tiny")


_RUN = optimlab.gallery.publish._outcome
_WRITE = optimlab.report.html.write_atomically


@pytest.fixture(autouse=True)
def _three_tiny_experiments(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gallery of three experiments, each outcome run once for every test of this module."""
    monkeypatch.setattr(optimlab.gallery.publish, "experiment_names", lambda: THREE)
    monkeypatch.setattr(optimlab.gallery.page, "experiment_names", lambda: THREE)
    monkeypatch.setattr(
        optimlab.gallery.publish, "_outcome", lambda experiment, _: _tiny_outcome(experiment.name)
    )


def _refusing(monkeypatch: pytest.MonkeyPatch, refused_name: str) -> None:
    """The file named ``refused_name`` refused as a full disk refuses it (optimlab.atomic's error)."""

    def write(path: Any, data: Any) -> Any:
        if os.path.basename(str(path)) == refused_name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return _WRITE(path, data)

    monkeypatch.setattr(optimlab.report.html, "write_atomically", write)


def _run(cli: Any, out: Any, *more: str) -> tuple[int, Any, str]:
    code, doc, err = cli(
        "gallery", "run", *more, "--size", "tiny", "--no-progress", "--format", "json", "--out", str(out)
    )
    return code, json.loads(doc) if doc else None, err


def _refused_line(what: str, path: Any) -> str:
    return f"error: cannot write {what} '{path}': {FULL}; the results printed are whole"


def test_an_earlier_runs_index_is_not_named_as_this_runs(cli, tmp_path, monkeypatch):
    """An earlier 'all' left its index in --out; this run's first page refused, no page was done and no
    index written: the document named the earlier run's index as this run's (index: PATH, read off the
    folder). Truth: the index file is the earlier run's, unchanged to the byte."""
    out = tmp_path / "g"
    assert _run(cli, out, "all")[0] == 0
    before = (out / "index.html").read_bytes()
    _refusing(monkeypatch, "no_nonlinearity.html")
    code, doc, err = _run(cli, out, "all")
    assert code == 5
    assert doc["index"] is None
    assert (out / "index.html").read_bytes() == before
    assert err.splitlines()[-1] == _refused_line("the page", out / "no_nonlinearity.html")


def test_the_final_index_refused_keeps_every_verdict(cli, tmp_path, monkeypatch):
    """Every page written, the index refused: exit 2 and an empty stdout, every verdict lost. Now each
    experiment's verdict and page as a run that writes the index gives them, no index, one line naming
    index.html; nothing said stopped (every experiment ran)."""
    code, taken, _ = _run(cli, tmp_path / "taken", "all")
    assert code == 0
    out = tmp_path / "g"
    _refusing(monkeypatch, "index.html")
    code, doc, err = _run(cli, out, "all")
    assert (code, err) == (5, _refused_line("the index", out / "index.html") + "\n")
    said = [(e["name"], e["verdict"], os.path.basename(e["page"])) for e in doc["experiments"]]
    assert said == [(e["name"], e["verdict"], os.path.basename(e["page"])) for e in taken["experiments"]]
    assert all((out / f"{name}.html").is_file() for name in THREE)
    assert doc["index"] is None and "status" not in doc and not (out / "index.html").exists()


def test_one_experiment_into_an_earlier_all_with_its_index_refused_keeps_its_verdict(
    cli, tmp_path, monkeypatch
):
    """One experiment run into the folder of an earlier 'all': its page written, the index's rewrite
    refused: exit 2, no document. Now its verdict and its page (on disk), one line naming index.html."""
    out = tmp_path / "g"
    code, earlier, _ = _run(cli, out, "all")
    assert code == 0
    _refusing(monkeypatch, "index.html")
    code, doc, err = _run(cli, out, "input_scale")
    assert code == 5
    assert err.splitlines()[-1] == _refused_line("the index", out / "index.html")
    assert (doc["name"], doc["verdict"], doc["page"]) == (
        "input_scale",
        earlier["experiments"][1]["verdict"],
        str(out / "input_scale.html"),
    )


def test_a_page_refused_before_other_experiments_says_the_run_stopped_and_how_to_go_on(
    cli, tmp_path, monkeypatch
):
    """The second of three pages refused: the run stops there, the third experiment neither run nor
    printed, where exit 5 said 'the results printed are whole'. The document says status stopped and the
    command that continues (as an interrupted run's does), stderr says so before the refusal, and that
    command, run on a disk with room, runs what is left: the refused experiment and the third."""
    out = tmp_path / "g"
    _refusing(monkeypatch, "input_scale.html")
    code, doc, err = _run(cli, out, "all")
    assert code == 5
    assert [e["name"] for e in doc["experiments"]] == THREE[:2]
    assert doc["experiments"][1]["page"] is None
    again = f"optimlab gallery run all --size tiny --out {out} --resume"
    assert (doc["status"], doc["resume"], doc["index"]) == ("stopped", again, str(out / "index.html"))
    assert err.splitlines() == [
        f"stopped, 1 experiment not run: the pages of 1 finished experiment are kept in {out} (indexed); "
        f"continue with `{again}`",
        _refused_line("the page", out / "input_scale.html"),
    ]
    monkeypatch.setattr(optimlab.report.html, "write_atomically", _WRITE)  # a disk with room
    code, resumed, _ = _run(cli, out, "all", "--resume")
    assert code == 0
    assert [e["name"] for e in resumed["experiments"]] == THREE
    assert all(e["page"] for e in resumed["experiments"])


def test_resume_rewriting_a_kept_page_refused_keeps_the_verdicts(cli, tmp_path, monkeypatch):
    """--resume keeps a page whose words this optimlab changed, so writes it again (write_kept_page): on a
    full disk its bare OSError ended on exit 2, every verdict lost in JSON. Now it is refused as a page
    run is: the verdicts before it and its own printed, one line naming it, exit 5."""
    out = tmp_path / "g"
    code, earlier, _ = _run(cli, out, "all")
    assert code == 0
    monkeypatch.setattr(optimlab.gallery.page, "without_drawings", lambda text: "reworded")
    _refusing(monkeypatch, "input_scale.html")
    code, doc, err = _run(cli, out, "all", "--resume")
    assert code == 5
    assert [(e["name"], e["verdict"]) for e in doc["experiments"]] == [
        (e["name"], e["verdict"]) for e in earlier["experiments"][:2]
    ]
    assert err.splitlines()[-1] == _refused_line("the page", out / "input_scale.html")
