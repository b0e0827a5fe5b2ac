"""The gallery's pages: one per experiment (verdict, checks, figures, setup, sources, every run's recipe)
and an index linking them, each a self-contained :class:`optimlab.report.Page`.

Next to each page, ``<name>.json`` keeps the numbers the verdict read, the series its figures draw, its
setup and every run's spec, so a reader can recompute the verdict or rerun any run (``optimlab train`` on
its recipe), and ``--resume`` writes a kept page again in this optimlab's words without running it. Each
file is written whole or not at all (:mod:`optimlab.atomic`), the page first, then its numbers with the
page's SHA-256.
"""

from __future__ import annotations

import ast
import dataclasses
import errno
import hashlib
import html
import inspect
import json
import math
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import torch
import yaml

import optimlab
from optimlab.atomic import write_atomically
from optimlab.errors import InvalidValueError
from optimlab.gallery.experiment import (
    KINDS,
    Evidence,
    Experiment,
    Outcome,
    RunRecord,
    experiment_names,
    get_experiment,
)
from optimlab.gallery.verdict import CONTRADICTED, RULE, SUPPORTED, Verdict
from optimlab.number_text import count_of, seconds_text
from optimlab.report import Page
from optimlab.report.html import without_drawings
from optimlab.report.recipes import differing_fields
from optimlab.study.trial import syntax_text

__all__ = [
    "INDEX_NAME",
    "KeptPage",
    "check_replaceable",
    "current_decision",
    "gallery_index",
    "index_again",
    "index_pages",
    "keeps_page",
    "kept_outcome",
    "output_folder",
    "page_path",
    "write_index",
    "write_kept_page",
    "write_page",
]

INDEX_NAME = "index.html"
INDEX_TITLE = "optimlab evidence gallery"
# Page's coloured row edges: blue for supported, red for contradicted, orange for partly and inconclusive.
_ROW_CLASS = {SUPPORTED: "info", CONTRADICTED: "error"}


def _json_ready(value: Any) -> Any:
    """Tuples to lists, non-finite floats to None: strict JSON."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _versions() -> dict[str, str]:
    """What made the numbers besides the experiment's code: optimlab's and torch's versions (a run's numbers
    move with either), recorded beside them so that --resume keeps none made by others."""
    return {"optimlab": optimlab.__version__, "torch": torch.__version__}


def _code_digest(experiment: Experiment) -> str | None:
    """The SHA-256 of the syntax tree (:func:`~optimlab.study.trial.syntax_text`) of the module whose
    ``measure`` makes ``experiment``'s numbers: its runs' recipes, sizes and probes are written there, so an
    edit of them (batch_norm's tiny size evaluated more often) is a new digest, where a comment or a
    docstring keeps it; recorded beside the numbers, so that --resume keeps none of the code before. None
    for a module without source (one typed in a notebook): nothing shows its code unchanged."""
    try:
        source = inspect.getsource(inspect.getmodule(experiment.measure))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None
    return hashlib.sha256(syntax_text(ast.parse(source)).encode()).hexdigest()


def output_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder``, made (with its parents) and writable, or refused naming it: called before the first run,
    so that a place no page can go is refused before the experiments' minutes of training, not after."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        if not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as error:
        raise InvalidValueError(
            "out", str(folder), f"a folder the pages can be written into (here: {error.strerror or error})"
        ) from None
    return path


def check_replaceable(folder: str | os.PathLike[str], names: Sequence[str], *, index: bool) -> None:
    """Refuse ``folder`` where a file a run of the experiments ``names`` (and with ``index``, the index) would
    replace is not one the gallery wrote: ``--out docs`` replaced a site's own ``index.html`` without a
    word. A page is the gallery's where its numbers name it and hold its SHA-256 (written with it), or else
    where its title is its experiment's (a kill between the two writes): so a page of the gallery's edited
    by hand that keeps its title is replaced. Numbers are the gallery's where they name their experiment,
    or, not JSON (cut short by a crash), where they lie beside the gallery's page; the index by its title."""
    for name in names:
        page = page_path(folder, name)
        numbers = page.with_suffix(".json")
        record = _json_of(numbers)
        named = _numbers_of(record, name)
        content = _file_bytes(page)
        pages_own = content is not None and (
            (named and record.get("page_sha256") == _digest(content))
            or _titled(page, get_experiment(name).title)
        )
        if page.exists() and not pages_own:
            _refuse_replacing(folder, page)
        if numbers.exists() and not (named or (record is None and pages_own)):
            _refuse_replacing(folder, numbers)
    index_page = Path(folder) / INDEX_NAME
    if index and index_page.exists() and not _titled(index_page, INDEX_TITLE):
        _refuse_replacing(folder, index_page)


def _file_bytes(path: Path, limit: int = -1) -> bytes | None:
    """The bytes (the first ``limit``, where given) of ``path``, the one way the gallery reads a file in its
    folder; None where it is missing, cannot be read, or is not a regular file: a named pipe is opened
    without waiting and never read (a reader of one waits for a writer forever), nor is a device or a
    folder. Checked before opening, so that no pipe's writer is let go, and after, without waiting, where
    one took the file's place since."""
    try:
        if not path.is_file():
            return None
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            return None
        with os.fdopen(os.dup(handle), "rb") as file:
            return file.read(limit)
    except OSError:
        return None
    finally:
        os.close(handle)


def _json_of(path: Path) -> Any:
    """What the JSON file ``path`` holds; None where it cannot be read (:func:`_file_bytes`) or is not JSON
    (a file cut short), or nests deeper than Python's recursion limit lets the parser go (a corrupt record
    of 100,000 '[')."""
    content = _file_bytes(path)
    try:
        return None if content is None else json.loads(content)
    except (ValueError, RecursionError):
        return None


def _numbers_of(record: Any, name: str) -> bool:
    """Whether ``record`` (a JSON file's) is the gallery's numbers of experiment ``name``: a mapping naming
    it, with its numbers (a site's own ``report.json`` naming itself is not)."""
    return isinstance(record, dict) and record.get("name") == name and "numbers" in record


def _titled(path: Path, title: str) -> bool:
    """Whether the HTML file ``path`` is a :class:`~optimlab.report.Page` titled ``title``."""
    head = _file_bytes(path, 4096)
    return head is not None and f"<title>{html.escape(title)}</title>" in head.decode(
        "utf-8", errors="replace"
    )


def _refuse_replacing(folder: str | os.PathLike[str], path: Path) -> NoReturn:
    """Refuse ``folder`` (the field ``out``), naming the file ``path`` in it that a run would replace."""
    raise InvalidValueError(
        "out",
        str(folder),
        f"a folder whose files the gallery may replace ({str(path)!r} is not one it wrote): move that file, "
        "or give another folder",
    )


def page_path(folder: str | os.PathLike[str], name: str) -> Path:
    """Where experiment ``name``'s page lies in ``folder``; its numbers beside it, ``.json``."""
    return Path(folder) / f"{name}.html"


def write_page(experiment: Experiment, outcome: Outcome, folder: str | os.PathLike[str]) -> Path:
    """Write ``<name>.html`` and ``<name>.json`` into ``folder``; returns the page's path."""
    return _write(
        experiment, outcome, _page(experiment, outcome, experiment.figures(outcome.evidence)), folder
    )


# What an experiment's figures raise from a record's series edited by hand, and its verdict from numbers
# edited so (:func:`_shown_outcome`), each met by an edit (tests/gallery/test_gallery.py,
# test_a_kept_record_whose_series_cannot_be_drawn_is_not_kept): LookupError, a curve gone ("series": {},
# KeyError) or a std shorter than its steps (IndexError); AttributeError, a string for a mapping; TypeError,
# a string for a number or a curve; ArithmeticError, a number past a float (10**400, OverflowError);
# StopIteration, batch_norm's first arm of an emptied mapping; ValueError, a negative std (matplotlib's
# 'yerr'), a negative lr (math domain error), a step or a lambda as text, a ragged grid. Each missing
# ended --resume with a traceback.
_EDITED = (LookupError, AttributeError, TypeError, ArithmeticError, StopIteration, ValueError)


Stamp = tuple[tuple[int, ...] | None, ...]


class KeptPage(NamedTuple):
    """A resume's decision over a kept outcome's page (:func:`keeps_page`), for :func:`write_kept_page` to
    take: the kept ``outcome`` (:func:`kept_outcome`), the page's ``path``, the ``page`` to write again
    where the one in the folder words it otherwise (None: it holds these words), and the ``stamp`` of the
    files it was decided from. The count a resume says first (``gallery.publish.pages_found``) built every
    kept page, and drew the figures of those whose words changed, which the resume then did again (one
    finished tiny gallery, 15 pages: 10.5 -> 13.1-20.7 s with their words kept, 12-39 -> 43-59 s reworded);
    the resume takes the decision instead (benchmarks/gallery_resume.py), and its outcome, read once."""

    outcome: Outcome
    path: Path
    page: Page | None
    stamp: Stamp


def write_kept_page(experiment: Experiment, decided: KeptPage, folder: str | os.PathLike[str]) -> Path:
    """Write the page of an outcome --resume keeps, ``decided`` (:func:`current_decision`), again in this
    optimlab's words, and its numbers, where its words differ from those of the page in ``folder``; a page
    in these words keeps its files as they were. Returns the page's path."""
    if decided.page is None:
        return decided.path
    return _write(experiment, decided.outcome, decided.page, folder)


def keeps_page(experiment: Experiment, size: str, folder: str | os.PathLike[str]) -> KeptPage | None:
    """Whether --resume at ``size`` keeps the page of ``experiment`` in ``folder``: its decision, where its
    outcome is kept (:func:`kept_outcome`) and its series can be drawn, for :func:`write_kept_page` to
    take; None where it is not kept. Nothing is written."""
    stamp = _files_stamp(experiment, folder)  # before reading: a file changed meanwhile is decided again
    outcome = kept_outcome(experiment, size, folder)
    return None if outcome is None else _kept_page(experiment, outcome, folder, stamp)


def current_decision(
    experiment: Experiment, size: str, folder: str | os.PathLike[str], decided: KeptPage | None = None
) -> KeptPage | None:
    """``decided`` (:func:`keeps_page`'s, taken earlier at ``size``) while the page's files in ``folder`` are
    still those it was taken from; else the decision taken again from the files as they are now."""
    if (
        decided is not None
        and decided.outcome.size == size
        and decided.stamp == _files_stamp(experiment, folder)
    ):
        return decided
    return keeps_page(experiment, size, folder)


def _files_stamp(experiment: Experiment, folder: str | os.PathLike[str]) -> Stamp:
    """The page's and its record's inode, size and modification time: another file, another decision."""
    path = page_path(folder, experiment.name)
    stamps = []
    for file in (path, path.with_suffix(".json")):
        try:
            info = file.stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


def _kept_page(
    experiment: Experiment, outcome: Outcome, folder: str | os.PathLike[str], stamp: Stamp
) -> KeptPage | None:
    """The decision over a kept ``outcome``'s page: the page to write again where the one in ``folder`` words
    it otherwise (compared without drawing its figures, which took 16.5 of the 26 s of resuming 15 pages
    with nothing to do), with the ``stamp`` of the files taken before ``outcome`` was read from them; None
    where the record's series cannot be drawn."""
    decided = _kept_page_decided(experiment, outcome, folder)
    return None if decided is None else KeptPage(outcome, *decided, stamp)


def _kept_page_decided(
    experiment: Experiment, outcome: Outcome, folder: str | os.PathLike[str]
) -> tuple[Path, Page | None] | None:
    """:func:`_kept_page`, decided from the files."""
    try:
        page = _page(experiment, outcome, experiment.figures(outcome.evidence))
        path = page_path(folder, experiment.name)
        shown = _file_bytes(path)
        if shown is not None and without_drawings(shown.decode("utf-8", errors="replace")) == page.render(
            drawn=False
        ):
            return path, None
        page.render()  # its figures drawn here, where a series edited by hand raises
    except _EDITED:
        return None
    return path, page


def _page(experiment: Experiment, outcome: Outcome, figures: Sequence[tuple[Any, str]]) -> Page:
    """The page of ``outcome``, its ``figures`` each with its caption."""
    evidence, verdict = outcome.evidence, outcome.verdict
    page = Page(experiment.title, f"Claim: \u201c{experiment.claim}\u201d")
    page.section("Verdict")
    if outcome.size == "tiny":
        page.paragraph(
            "Size tiny: a smoke test of the experiment's code, with too few and too short runs for this "
            "verdict to mean anything. Run it at size small or large.",
            note=True,
        )
    page.table(["verdict"], [[verdict.label]], row_classes=[_ROW_CLASS.get(verdict.label, "warning")])
    page.paragraph(verdict.paragraph)
    # The paragraph's word for each check: a "no" read as refuted where the runs could not tell.
    page.table(
        ["prediction of the claim", "outcome", "numbers"],
        [
            [
                f"{'premise (not counted): ' if c.premise else ''}{c.statement}",
                c.outcome.removeprefix("is "),
                c.evidence,
            ]
            for c in verdict.checks
        ],
        row_classes=["info" if c.holds else "error" if c.refuted else "warning" for c in verdict.checks],
        caption=RULE,
    )
    page.paragraph(
        "The verdict is computed by code from the numbers below, with the rules in "
        f"optimlab.gallery ({experiment.verdict.__module__}); nothing in it was written in advance.",
        note=True,
    )
    page.section("Figures")
    for figure, caption in figures:
        page.figure(figure, caption)
    page.section("Setup", evidence.setup)
    page.paragraph(
        f"Size {outcome.size}: {count_of(len(evidence.runs), 'run')} in {seconds_text(outcome.seconds)}.",
        note=True,
    )
    page.section("Sources")
    for source in experiment.sources:
        page.paragraph(source)
    page.section("Numbers the verdict read")
    page.code(json.dumps(_json_ready(evidence.numbers), indent=1, sort_keys=True), summary="numbers (JSON)")
    page.section("Runs")
    page.table(
        ["run", "arm", "seed", "status", "result"],
        [
            [i, r.arm, r.spec.get("training", {}).get("seed", ""), r.status, r.result]
            for i, r in enumerate(evidence.runs)
        ],
    )
    if evidence.runs:
        base = evidence.runs[0].spec
        page.code(
            yaml.safe_dump(_json_ready(base), sort_keys=False),
            summary="Recipe of run 0, in full (YAML: optimlab train reads it)",
        )
        others = {
            f"run {i}": {field: values[1] for field, values in differing_fields([base, r.spec]).items()}
            for i, r in enumerate(evidence.runs)
            if i > 0
        }
        if others:
            page.code(
                yaml.safe_dump(others, sort_keys=False, width=120),
                summary="Every other run: the fields of its recipe that differ from run 0's (YAML)",
            )
    return page


def _write(experiment: Experiment, outcome: Outcome, page: Page, folder: str | os.PathLike[str]) -> Path:
    """Write ``page`` and then its numbers, with the page's SHA-256."""
    evidence, verdict = outcome.evidence, outcome.verdict
    path = page.write(page_path(folder, experiment.name))
    record = {
        "name": experiment.name,
        "page_sha256": _digest(path.read_bytes()),
        "size": outcome.size,
        "versions": _versions(),
        "code": _code_digest(experiment),
        "seconds": outcome.seconds,
        "verdict": {
            "label": verdict.label,
            "paragraph": verdict.paragraph,
            "outcomes": [c.outcome for c in verdict.checks],
        },
        "numbers": evidence.numbers,
        "series": evidence.series,
        "setup": evidence.setup,
        "runs": [
            {"arm": r.arm, "status": r.status, "result": r.result, "spec": r.spec} for r in evidence.runs
        ],
    }
    write_atomically(path.with_suffix(".json"), json.dumps(_json_ready(record), indent=1) + "\n")
    return path


def _nan_for_none(value: Any) -> Any:
    """The inverse of :func:`_json_ready` for the numbers: None (a NaN or infinity, as JSON keeps them) back
    to NaN, which every verdict reads as a failed run."""
    if isinstance(value, dict):
        return {k: _nan_for_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_for_none(v) for v in value]
    return math.nan if value is None else value


def _digest(content: bytes) -> str:
    """The SHA-256 of a page's ``content`` as written: its numbers name the page they were written with, so
    a page written again (a kill before its numbers were) or cut or edited since is not kept with them."""
    return hashlib.sha256(content).hexdigest()


def _recorded_outcome(experiment: Experiment, record: dict[str, Any]) -> Outcome | None:
    """The outcome a page's ``record`` (``<name>.json``) keeps: its size, seconds, numbers, figures' series,
    setup, runs and verdict (label and paragraph; the checks not kept); no series and no setup in a record
    an earlier optimlab wrote without them (:func:`_stale`). None where it is not whole (edited by hand)."""
    try:
        numbers, series = _nan_for_none(record["numbers"]), _nan_for_none(record.get("series", {}))
        setup = str(record.get("setup", ""))
        runs = [RunRecord(r["arm"], r["spec"], r["status"], r["result"]) for r in record["runs"]]
        verdict = Verdict(str(record["verdict"]["label"]), str(record["verdict"]["paragraph"]), ())
        size, seconds = str(record["size"]), float(record["seconds"])
    except (ValueError, KeyError, TypeError, IndexError, OverflowError):  # edited by hand (10**400 s)
        return None
    evidence = Evidence(numbers=numbers, series=series, runs=runs, setup=setup)
    return Outcome(experiment.name, size, evidence, verdict, seconds)


def kept_outcome(experiment: Experiment, size: str, folder: str | os.PathLike[str]) -> Outcome | None:
    """The outcome an earlier run left in ``folder``, as its page shows it (:func:`_shown_outcome`), when it
    ran at ``size`` with this optimlab and torch (their versions) and this code of the experiment
    (:func:`_code_digest`; a page written before the digest was recorded runs again, once); None
    otherwise, the experiment then to run again. Its verdict is the one this optimlab reads in its numbers,
    in this optimlab's words, from which :func:`write_page` writes the page again."""
    shown = _shown_outcome(experiment, folder)
    if isinstance(shown, str) or shown[0].size != size or _stale(experiment, shown[1]) is not None:
        return None
    return shown[0]


def _stale(experiment: Experiment, record: Mapping[str, Any]) -> str | None:
    """Why the numbers a page's ``record`` keeps are not what this optimlab would measure, which --resume
    runs again: an optimlab that recorded no digest of the page made them (before 0a26456d), another
    optimlab or torch (or none recorded), or other code of the experiment (:func:`_code_digest`; or none
    recorded), or code without a source file, which no digest shows unchanged; None where they are this
    one's."""
    if "page_sha256" not in record:
        return "written by an earlier optimlab that recorded no digest of its page"
    if "series" not in record or "setup" not in record:  # its page cannot be written again from them
        return "written by an earlier optimlab that recorded no series of its figures"
    versions = record.get("versions")
    if versions != _versions():
        made = (
            ", ".join(f"{package} {version}" for package, version in versions.items())
            if isinstance(versions, dict)
            else "an unrecorded optimlab and torch"
        )
        now = ", ".join(f"{package} {version}" for package, version in _versions().items())
        return f"made by {made}, not {now}"
    code = _code_digest(experiment)
    if code is None:  # no claim about which code made them, but none shows they are this code's
        return "the experiment's code has no source file (typed in a notebook) to show they are its own"
    if record.get("code") != code:
        return "made by other code of the experiment (or an unrecorded one)"
    return None


def _same_outcome(verdict: Verdict, recorded: dict[str, Any]) -> bool:
    """Whether ``verdict`` gives the ``recorded`` one's label and each check's outcome (holds, is refuted, is
    not decided), whatever their words: a change of wording alone runs no experiment again. A record
    written before the outcomes were kept has them in its paragraph, each check's statement before it."""
    if verdict.label != recorded.get("label"):
        return False
    outcomes = [c.outcome for c in verdict.checks]
    if "outcomes" in recorded:
        return recorded["outcomes"] == outcomes
    paragraph = str(recorded.get("paragraph"))
    return all(f"{c.statement}: {c.outcome} (" in paragraph for c in verdict.checks)


def gallery_index(folder: str | os.PathLike[str]) -> Path | None:
    """The gallery's index in ``folder``; None where there is none, or one the gallery did not write."""
    index = Path(folder) / INDEX_NAME
    return index if _titled(index, INDEX_TITLE) else None


def index_again(
    folder: str | os.PathLike[str], on_unshown: Callable[[Path, str], None] | None = None
) -> Path | None:
    """Write the gallery's index in ``folder`` again (:func:`index_pages`, ``on_unshown`` told its pages
    not shown) where there is one (a run of one experiment into the folder of an earlier ``all``); an
    ``index.html`` the gallery did not write is left alone. Returns the index's path, or None where there
    was none."""
    return None if gallery_index(folder) is None else index_pages(folder, on_unshown)


def _shown_outcome(
    experiment: Experiment, folder: str | os.PathLike[str]
) -> tuple[Outcome, dict[str, Any]] | str:
    """The outcome ``experiment``'s page in ``folder`` shows, its verdict computed again from its numbers,
    and its record (``<name>.json``); or why there is none: no page, its numbers missing or cut short, the
    page written again or edited since (the SHA-256 its numbers keep), or a record that disagrees with its
    page: its numbers not those the page shows, or giving another label or outcome of a check than it
    records (edited by hand, or the verdict's code changed since)."""
    page = page_path(folder, experiment.name)
    record = _json_of(page.with_suffix(".json"))
    content = _file_bytes(page)
    if content is None:
        return "there is no page"
    if not isinstance(record, dict):
        return f"its numbers ({page.with_suffix('.json').name}) are missing or cut short"
    if "page_sha256" in record and record["page_sha256"] != _digest(content):  # none: stale (:func:`_stale`)
        return "the page was edited since its numbers were written"
    shown = _recorded_outcome(experiment, record)
    numbers = json.dumps(_json_ready(record.get("numbers")), indent=1, sort_keys=True)
    if shown is None or html.escape(numbers) not in content.decode("utf-8", errors="replace"):
        return "its numbers are not those the page shows"
    try:
        verdict = experiment.verdict(shown.evidence.numbers)
    except _EDITED:  # numbers edited by hand: an arm's list a string, a value 10**400
        verdict = None
    if verdict is None or not _same_outcome(verdict, record["verdict"]):
        return "its numbers do not give the verdict it shows (edited, or the verdict's code changed since)"
    return dataclasses.replace(shown, verdict=verdict), record


def _pages(
    folder: str | os.PathLike[str],
) -> tuple[list[tuple[Experiment, Outcome]], list[tuple[Path, str]], dict[str, str]]:
    """The gallery's pages in ``folder``, each read once: those whose verdict the index shows, with the
    outcome it shows (:func:`_shown_outcome`), in the registry's order; the others, each with why: a
    page of a registered experiment with no outcome to show, a page whose numbers name an experiment no
    longer registered; and of the shown ones, by name, why those --resume runs again are stale
    (:func:`_stale`)."""
    registered = experiment_names()
    shown, unshown, stale = [], [], {}
    for name in registered:
        found = _shown_outcome(get_experiment(name), folder)
        if not isinstance(found, str):
            shown.append((get_experiment(name), found[0]))
            if (why := _stale(get_experiment(name), found[1])) is not None:
                stale[name] = why
        elif page_path(folder, name).is_file():
            unshown.append((page_path(folder, name), found))
    for numbers in sorted(Path(folder).glob("*.json")):
        name = numbers.stem  # the folder's own JSON files (a data set's) read only beside a page of the name
        if (
            name not in registered
            and numbers.with_suffix(".html").is_file()
            and _numbers_of(_json_of(numbers), name)
        ):
            unshown.append((numbers.with_suffix(".html"), "no experiment of that name is registered"))
    return shown, unshown, stale


def index_pages(
    folder: str | os.PathLike[str], on_unshown: Callable[[Path, str], None] | None = None
) -> Path:
    """Write ``index.html`` over every page ``folder`` holds, in the registry's order, each with the verdict
    and size its page shows, and links marked for the pages whose verdict cannot be shown (:func:`_pages`,
    each page read once), each then told to ``on_unshown(page, why)``, and the pages --resume runs again
    marked stale; returns its path."""
    shown, unshown, stale = _pages(folder)
    index = write_index(shown, folder, unshown, stale=stale)
    if on_unshown is not None:
        for page, why in unshown:
            on_unshown(page, why)
    return index


def write_index(
    outcomes: Sequence[tuple[Experiment, Outcome]],
    folder: str | os.PathLike[str],
    unshown: Sequence[tuple[Path, str]] = (),
    *,
    stale: Mapping[str, str] | None = None,
) -> Path:
    """Write ``index.html``: every experiment with its claim and verdict, linked to its page (its size
    beside the verdict where the pages' sizes differ, and why where its numbers are ``stale``, by name),
    then the ``unshown`` pages with why."""
    stale = stale or {}
    page = Page(
        INDEX_TITLE,
        "Claims from tutorials and classic papers, each tested by runs on built-in data; every "
        "verdict is computed from the measured numbers.",
    )
    sizes = sorted({o.size for _, o in outcomes})
    if len(sizes) > 1:  # a run of another size into the folder of an earlier one: each verdict of its own
        page.paragraph(
            f"These pages were run at different sizes ({', '.join(sizes)}): each verdict is of its page's size; "
            "a verdict at size tiny, a smoke test, means nothing.",
            note=True,
        )

    if stale:  # each for its own reason, given beside its link: no one reason is true of all (an old record)
        one = len(stale) == 1
        page.paragraph(
            f"{count_of(len(stale), 'page')} marked stale: a run with --resume runs {'it' if one else 'them'} "
            f"again, for the reason given beside {'it' if one else 'each'}.",
            note=True,
        )

    def said(outcome: Outcome) -> str:
        label = f"{outcome.verdict.label}, size {outcome.size}" if len(sizes) > 1 else outcome.verdict.label
        return f"{label}; stale: {stale[outcome.name]}" if outcome.name in stale else label

    for kind, heading in KINDS.items():
        mine = [(e, o) for e, o in outcomes if e.kind == kind]
        if mine:
            page.section(heading)
            page.links([(f"{e.name}.html", e.title, f"({said(o)}): \u201c{e.claim}\u201d") for e, o in mine])
    if unshown:
        page.section("Pages whose verdict is not shown")
        page.links([(path.name, path.stem, f"(verdict not shown: {why})") for path, why in unshown])
    page.section("Summary")
    page.table(
        ["experiment", "verdict", "size", "runs", "seconds"],
        [[e.name, o.verdict.label, o.size, len(o.evidence.runs), round(o.seconds, 1)] for e, o in outcomes],
        row_classes=[_ROW_CLASS.get(o.verdict.label, "warning") for _, o in outcomes],
    )
    return page.write(Path(folder) / INDEX_NAME)
