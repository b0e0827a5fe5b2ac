"""A gallery run over a folder that holds earlier pages says what it does with them, on stderr."""

import shutil

import pytest

import optimlab.gallery.publish as publish
from optimlab.gallery.page import kept_outcome
from optimlab.gallery.publish import get_experiment


def test_a_run_over_earlier_pages_says_what_it_keeps_and_runs(cli, tmp_path, monkeypatch, few_tiny_pages):
    """'gallery run all' over a folder of pages ran every experiment again, or with --resume kept some,
    without a word: the user could not tell a rerun of an hour from a resume. Truth: kept_outcome, what
    a resume keeps."""
    name = "no_nonlinearity"
    for suffix in (".html", ".json"):  # the session's page, as an earlier run left it
        shutil.copy(few_tiny_pages.folder / f"{name}{suffix}", tmp_path)
    assert kept_outcome(get_experiment(name), "tiny", tmp_path) is not None
    monkeypatch.setattr(publish, "experiment_names", lambda: [name])
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: few_tiny_pages.outcomes[name])  # no run
    code, _, err = cli("gallery", "run", "all", "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert code == 0 and f"{tmp_path}: kept 1 of its 1 page, running 0\n" in err, err
    code, _, err = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path))
    expected = f"{tmp_path}: running 1 experiment again over its 1 page (--resume keeps those still valid)\n"
    assert code == 0 and expected in err, err


def test_a_run_by_a_name_as_typed_says_what_it_keeps(cli, tmp_path, monkeypatch, few_tiny_pages):
    """'gallery run No-Nonlinearity --resume' said nothing of the page it kept: the page was looked for
    under the name as typed, not the experiment's own (no_nonlinearity.html). Truth: kept_outcome."""
    name = "no_nonlinearity"
    for suffix in (".html", ".json"):
        shutil.copy(few_tiny_pages.folder / f"{name}{suffix}", tmp_path)
    assert kept_outcome(get_experiment(name), "tiny", tmp_path) is not None
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: few_tiny_pages.outcomes[name])  # no run
    code, out, err = cli(
        "gallery", "run", "No-Nonlinearity", "--size", "tiny", "--out", str(tmp_path), "--resume"
    )
    assert code == 0 and f"{tmp_path}: kept 1 of its 1 page, running 0\n" in err, err
    assert str(tmp_path / f"{name}.html") in out, out


def test_a_run_over_some_pages_says_how_many_run_again_and_checks_none_without_resume(tmp_path, monkeypatch):
    """'running 15 experiments again over its 12 pages' said all 15 ran again where 3 had no page; and
    each page was checked for a resume (kept_outcome) even without --resume, the answer thrown away."""
    from optimlab.cli.gallery_cmd import _over_pages

    names = ["no_nonlinearity", "he_init"]
    (tmp_path / "no_nonlinearity.html").write_text("<html></html>")
    monkeypatch.setattr(publish, "keeps_page", lambda *args: pytest.fail("a page checked without --resume"))
    pages, kept = publish.pages_found("tiny", tmp_path, names)
    assert (pages, kept) == (1, None)
    said = _over_pages(len(names), pages, kept, tmp_path)
    assert said == (
        f"{tmp_path}: running 1 experiment again over its 1 page, and 1 experiment that had none "
        "(--resume keeps those still valid)"
    )


def test_a_run_by_a_name_as_typed_says_the_experiments_own_name(cli, tmp_path, monkeypatch, few_tiny_pages):
    """'gallery run "lr schedule"' ran lr_schedule but said 'gallery: loading lr schedule (tiny)', a name
    the listing does not show. Truth: the registry's name, which names the page."""
    name = "no_nonlinearity"
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: few_tiny_pages.outcomes[name])  # no run
    code, out, err = cli("gallery", "run", "No Nonlinearity", "--size", "tiny", "--out", str(tmp_path))
    assert code == 0 and err.startswith(f"gallery: loading {name} (tiny)\n"), err
    assert out.startswith(f"{name}: ") and (tmp_path / f"{name}.html").is_file(), out


def test_the_count_before_a_resume_and_the_resume_build_each_kept_page_once(
    cli, tmp_path, monkeypatch, few_tiny_pages
):
    """The count a resume says first (keeps_page, 5d609dda) built each kept page and drew the figures of one
    whose words changed, and the resume then built and drew it all again: 15 tiny pages reworded took
    43-59 s, 25-34 s of it the count. Truth: the page reworded is built, and each of its figures drawn,
    once (matplotlib's SVG writer called once for each matplotlib drawing in the page written), its
    count said, and the page written in the new words."""
    import optimlab.gallery.page as gallery_page
    import optimlab.report.figures as report_figures

    name = "no_nonlinearity"
    for suffix in (".html", ".json"):
        shutil.copy(few_tiny_pages.folder / f"{name}{suffix}", tmp_path)
    monkeypatch.setattr(publish, "experiment_names", lambda: [name])
    monkeypatch.setattr(publish, "_outcome", lambda *_: pytest.fail("a kept page's experiment ran again"))
    monkeypatch.setattr(gallery_page, "RULE", "The rule, in newer words.")
    built, drawn = [], []
    build = gallery_page._page
    monkeypatch.setattr(gallery_page, "_page", lambda *args: built.append(args[0].name) or build(*args))
    drawing = '<svg class="drawn"></svg>'  # matplotlib's SVG writer's time spared
    monkeypatch.setattr(report_figures, "to_svg", lambda figure: drawn.append(figure) or drawing)
    code, _, err = cli("gallery", "run", "all", "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert code == 0 and f"{tmp_path}: kept 1 of its 1 page, running 0\n" in err, err
    page = (tmp_path / f"{name}.html").read_text()
    assert "The rule, in newer words." in page and built == [name]
    assert drawn and len(drawn) == len(set(map(id, drawn))) == page.count(drawing)


@pytest.mark.parametrize("typed", ["all", "no_nonlinearity"])
def test_a_resume_reads_each_kept_pages_numbers_once(cli, tmp_path, monkeypatch, few_tiny_pages, typed):
    """publish.kept_page read a kept page's record again (kept_outcome) where the count said first
    (pages_found, keeps_page) had read it already and handed over its decision. Truth: kept_outcome is
    called once for the one kept page, by 'run all' and 'run NAME' (wherever it is called from), and the
    page is kept, not run."""
    import optimlab.gallery.page as gallery_page

    name = "no_nonlinearity"
    for suffix in (".html", ".json"):
        shutil.copy(few_tiny_pages.folder / f"{name}{suffix}", tmp_path)
    monkeypatch.setattr(publish, "experiment_names", lambda: [name])
    monkeypatch.setattr(publish, "_outcome", lambda *_: pytest.fail("a kept page's experiment ran again"))
    read = []

    def counted(*args):
        read.append(args[0].name)
        return kept_outcome(*args)

    monkeypatch.setattr(gallery_page, "kept_outcome", counted)
    monkeypatch.setattr(publish, "kept_outcome", counted, raising=False)  # where publish imported it by name
    code, out, err = cli("gallery", "run", typed, "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert code == 0 and f"{tmp_path}: kept 1 of its 1 page, running 0\n" in err, err
    assert read == [name] and out.startswith(f"{name}: "), out


def test_the_count_before_a_resume_leaves_no_page_held_once_its_caller_drops_it(
    tmp_path, monkeypatch, few_tiny_pages
):
    """The count a resume says first kept its decisions, each kept page built (its figures drawn where
    reworded), in a process-wide cache (gallery.page._KEPT_PAGES) until a resume of that folder took
    them: a count with no resume after it (a notebook's, a script's) held those pages for the process's
    life. The decisions are now handed to the caller (pages_found's second value, which run_gallery and
    kept_page take): once it drops them, no page is held. Truth: a weak reference to each page built."""
    import gc
    import weakref

    import optimlab.gallery.page as gallery_page

    name = "no_nonlinearity"
    for suffix in (".html", ".json"):
        shutil.copy(few_tiny_pages.folder / f"{name}{suffix}", tmp_path)
    monkeypatch.setattr(gallery_page, "RULE", "The rule, in newer words.")  # reworded: built to be written
    built = []
    build = gallery_page._page
    monkeypatch.setattr(
        gallery_page, "_page", lambda *args: built.append(weakref.ref(page := build(*args))) or page
    )
    pages, kept = publish.pages_found("tiny", tmp_path, [name], resume=True)
    assert pages == 1 and built
    del kept
    gc.collect()
    assert [ref() for ref in built] == [None] * len(built)


def test_a_record_changed_while_its_outcome_is_read_is_decided_again(tmp_path, monkeypatch, few_tiny_pages):
    """keeps_page stamped the page's files after kept_outcome had read the record: a record rewritten in
    between (another gallery run writing the folder) got a stamp of the new files beside the outcome of
    the old, and current_decision kept that outcome. The stamp is now taken before the read. Truth: the
    record's bytes as rewritten during the read, which a decision taken again reads."""
    import optimlab.gallery.page as gallery_page

    name = "no_nonlinearity"
    for suffix in (".html", ".json"):
        shutil.copy(few_tiny_pages.folder / f"{name}{suffix}", tmp_path)
    record = tmp_path / f"{name}.json"

    def rewritten_meanwhile(*args):
        outcome = kept_outcome(*args)
        record.write_text(record.read_text() + "\n")  # the same numbers, another file: decided again
        return outcome

    experiment = get_experiment(name)
    monkeypatch.setattr(gallery_page, "kept_outcome", rewritten_meanwhile)
    decided = gallery_page.keeps_page(experiment, "tiny", tmp_path)
    monkeypatch.setattr(gallery_page, "kept_outcome", kept_outcome)
    assert decided is not None
    again = gallery_page.current_decision(experiment, "tiny", tmp_path, decided)
    assert again is not decided and again is not None
    assert again.stamp == gallery_page._files_stamp(experiment, tmp_path)
