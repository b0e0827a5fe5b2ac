"""Run experiments of the gallery and publish their pages: one by name, or all of them with an index.

>>> from optimlab.gallery import run_gallery
>>> outcome, page = run_experiment("he_init", size="small", out="gallery")  # doctest: +SKIP
>>> index = run_gallery(size="small", out="gallery")  # doctest: +SKIP
>>> index = run_gallery(size="small", out="gallery", resume=True)  # after Ctrl-C: the rest  # doctest: +SKIP

Runs at the ``tiny`` and ``small`` sizes use one torch thread (the sizes' timings assume it, and several
experiments may share a machine's cores); ``large`` keeps torch's own setting and takes a GPU when there
is one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import torch

from optimlab.atomic import signals_deferred
from optimlab.data.built_once import data_built_once
from optimlab.errors import InvalidValueError
from optimlab.gallery.experiment import SIZES, Experiment, Outcome, experiment_names, get_experiment
from optimlab.gallery.page import (
    INDEX_NAME,
    KeptPage,
    check_replaceable,
    current_decision,
    index_again,
    index_pages,
    keeps_page,
    output_folder,
    page_path,
    write_kept_page,
    write_page,
)

__all__ = ["PageNotWritten", "kept_page", "pages_found", "run_experiment", "run_gallery"]


class PageNotWritten(OSError):
    """The OS refused a file the gallery writes once an experiment finished (at ``path``: a full disk): its
    page or its numbers (``outcome`` the finished experiment's, whole, for the caller to report, where the
    run's minutes were thrown away with the bare OSError), or the index (:attr:`index_refused`: after
    ``outcome``'s ``page`` was written, or with ``outcome`` None after every page of :func:`run_gallery`
    was). ``indexed``: the index :func:`run_gallery` wrote over the pages done before it stopped, None where
    it wrote none. Its cause is the OS's error, which it repeats (errno, reason, file)."""

    def __init__(
        self, outcome: Outcome | None, error: OSError, path: Path, *, page: Path | None = None
    ) -> None:
        super().__init__(error.errno, error.strerror or str(error), os.fspath(path))
        self.outcome = outcome
        self.path = path
        self.page = page
        self.indexed: Path | None = None

    @property
    def index_refused(self) -> bool:
        """The file refused is the index, every page of the run written."""
        return self.outcome is None or self.page is not None


def _refused(error: OSError, outcome: Outcome | None, path: Path, page: Path | None = None) -> PageNotWritten:
    """``error``, the OS's refusal of ``path`` (or of the file it names: the page's numbers beside it), as
    :class:`PageNotWritten`."""
    refused = Path(os.fsdecode(error.filename)) if error.filename else path
    return PageNotWritten(outcome, error, refused, page=page)


def _written(experiment: Experiment, outcome: Outcome, out: str | os.PathLike[str]) -> Path:
    """:func:`~optimlab.gallery.page.write_page`, the OS's refusal raised as :class:`PageNotWritten`; the page
    is written whole or not at all (``optimlab.atomic``)."""
    try:
        return write_page(experiment, outcome, out)
    except OSError as error:
        raise _refused(error, outcome, page_path(out, experiment.name)) from error


@contextlib.contextmanager
def _threads_for(size: str) -> Iterator[None]:
    if size == "large":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_size(size: str) -> None:
    if size not in SIZES:
        raise InvalidValueError("gallery size", size, "one of " + ", ".join(SIZES))


def pages_found(
    size: str, out: str | os.PathLike[str], names: Sequence[str] | None = None, *, resume: bool = False
) -> tuple[int, dict[str, KeptPage] | None]:
    """How many of the experiments ``names`` (by default all) have a page in ``out``, and with ``resume``
    the pages a resume at ``size`` keeps, by experiment, each with its decision
    (:func:`~optimlab.gallery.page.keeps_page`; None without, as no page is kept then): what a run over the
    folder says it does before it starts, and what :func:`run_gallery` and :func:`kept_page` then take."""
    names = experiment_names() if names is None else names
    pages = [name for name in names if page_path(out, name).is_file()]
    if not resume:
        return len(pages), None
    decided = {name: keeps_page(get_experiment(name), size, out) for name in pages}
    return len(pages), {name: kept for name, kept in decided.items() if kept is not None}


def kept_page(
    experiment: Experiment, size: str, out: str | os.PathLike[str], decided: KeptPage | None = None
) -> tuple[Outcome, Path] | None:
    """The outcome ``--resume`` keeps of ``experiment`` in ``out`` (:func:`~optimlab.gallery.page.kept_outcome`)
    and its page, written again from its numbers where this optimlab words it otherwise (a rule's, a
    check's), without running it (:func:`~optimlab.gallery.page.write_kept_page`; ``decided`` its decision
    from :func:`pages_found`, taken again where its files changed since); None where there is none to
    keep, or its series cannot be drawn. A Ctrl-C while the page is written waits for it; a page the OS
    refuses raises :class:`PageNotWritten`."""
    decided = current_decision(experiment, size, out, decided)
    if decided is None:
        return None
    with signals_deferred():
        try:
            page = write_kept_page(experiment, decided, out)
        except OSError as error:
            raise _refused(error, decided.outcome, page_path(out, experiment.name)) from error
    return decided.outcome, page


def run_experiment(
    name: str,
    *,
    size: str = "small",
    out: str | os.PathLike[str] = "gallery",
    on_start: Callable[[str, int, int], None] | None = None,
    on_unshown: Callable[[Path, str], None] | None = None,
) -> tuple[Outcome, Path]:
    """Run experiment ``name`` at ``size`` and write its page (and numbers) into ``out``, and the index of
    an earlier :func:`run_gallery` there again (:func:`~optimlab.gallery.page.index_again`), its verdict
    of ``name`` now this run's. ``on_start(name, 0, 1)``, called once ``out`` is checked and before the
    run, reports progress as :func:`run_gallery`'s does; ``on_unshown(page, why)`` is told each page the
    index links without its verdict. A page, or the index after it, the OS refuses raises
    :class:`PageNotWritten`."""
    _check_size(size)
    experiment = get_experiment(name)
    output_folder(out)
    check_replaceable(out, [experiment.name], index=False)
    if on_start is not None:
        on_start(experiment.name, 0, 1)
    outcome = _outcome(experiment, size)
    with signals_deferred():  # a Ctrl-C as the page is written leaves the index showing it
        page = _written(experiment, outcome, out)
        try:
            index_again(out, on_unshown)
        except OSError as error:
            raise _refused(error, outcome, Path(out) / INDEX_NAME, page) from error
    return outcome, page


def _outcome(experiment: Experiment, size: str) -> Outcome:
    # data_built_once: its runs of one data set and seed share one load of it, handed again while unwritten
    # (adam_best at tiny loaded MNIST-1D 64 times, a fifth of its time in a profile). In seconds the gain is
    # not resolved on a loaded 2-core box: loading per run took 1.20x [0.81, 1.29] of three experiments' time
    # at tiny (benchmarks/gallery_speed.py; docs/benchmarks.md, "The gallery's studies in memory, ...")
    with _threads_for(size), data_built_once():
        return experiment(size)


def run_gallery(
    *,
    size: str = "small",
    out: str | os.PathLike[str] = "gallery",
    resume: bool = False,
    kept: Mapping[str, KeptPage] | None = None,
    on_start: Callable[[str, int, int], None] | None = None,
    on_done: Callable[[Outcome, Path], None] | None = None,
    on_unshown: Callable[[Path, str], None] | None = None,
) -> Path:
    """Run every experiment, one after the other, write their pages and an index linking them; returns the
    index's path. ``resume`` keeps the pages an earlier run left in ``out`` (see
    :func:`~optimlab.gallery.page.kept_outcome`) and runs the rest; ``kept``: the pages it keeps, as
    :func:`pages_found` decided them (by default decided here). ``on_start(name, i, count)`` (not
    called for a kept page) and ``on_done(outcome, page)`` report progress; ``on_unshown(page, why)`` is
    told each page the index links without its verdict. Interrupted (Ctrl-C), it
    indexes the pages finished so far, and those of an earlier run still in ``out``, before it stops; so it
    does where the OS refuses a page (:class:`PageNotWritten` raised, its ``indexed`` the index written,
    None where the OS refused it too). The index refused raises :class:`PageNotWritten` too (no
    ``outcome``: every page written)."""
    _check_size(size)
    output_folder(out)
    names = experiment_names()
    check_replaceable(out, names, index=True)
    if resume and kept is None:
        kept = pages_found(size, out, names, resume=True)[1]
    done: list[tuple[Experiment, Outcome]] = []
    try:
        for i, name in enumerate(names):
            experiment = get_experiment(name)
            page_kept = kept_page(experiment, size, out, kept[name]) if resume and name in kept else None
            if page_kept is None:
                if on_start is not None:
                    on_start(name, i, len(names))
                outcome = _outcome(experiment, size)
            # a Ctrl-C while the page is written waits for it: a page on disk is a page indexed and reported
            with signals_deferred():
                outcome, page = page_kept or (outcome, _written(experiment, outcome, out))
                done.append((experiment, outcome))
                if on_done is not None:
                    on_done(outcome, page)
    except KeyboardInterrupt:
        if done:  # the pages left to run may lie there from an earlier run: indexed with the finished ones
            index_pages(out, on_unshown)
        raise
    except PageNotWritten as refused:  # the run stops: the disk that refused one page would refuse the next
        if done:
            with contextlib.suppress(OSError):  # and perhaps the index: the refused page is what is said
                refused.indexed = index_pages(out, on_unshown)
        raise
    try:  # the pages run, and any other of the gallery's there (of an experiment gone)
        return index_pages(out, on_unshown)
    except OSError as error:
        raise _refused(error, None, Path(out) / INDEX_NAME) from error
