"""The gallery end to end: registry entries, pages written from a tiny run of every experiment, the CLI."""

import dataclasses
import doctest
import html
import html.parser
import importlib
import json
import math
import re
import shlex

import pytest
import torch
import typer
import yaml
from typer.testing import CliRunner

from optimlab.cli import gallery_cmd
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.gallery import (
    LABELS,
    SIZES,
    experiment_names,
    experiments,
    get_experiment,
    run_experiment,
    run_gallery,
)
from optimlab.gallery.experiment import KINDS
from optimlab.gallery.page import check_replaceable, write_page
from optimlab.gallery.verdict import RULE, decide, paired_check
from optimlab.number_text import seconds_text
from optimlab.recipe import Recipe

LINK = re.compile(r"https?://|doi:")


@pytest.mark.parametrize("name", experiment_names())
def test_every_experiment_says_what_it_tests_and_cites_its_source(name):
    entry = next(e for e in experiments() if e.name == name)
    experiment = entry.obj
    assert entry.summary and entry.paper and experiment.kind in KINDS
    assert experiment.title and experiment.claim.endswith(".")
    assert experiment.sources and all(LINK.search(source) for source in experiment.sources), (
        experiment.sources
    )
    assert entry.hyperparameter_names == ("size",) and entry.defaults == {}
    assert callable(experiment.measure) and callable(experiment.verdict) and callable(experiment.figures)


def test_unknown_names_and_sizes_are_refused_with_the_accepted_ones(tmp_path):
    with pytest.raises(UnknownNameError, match="Did you mean 'he_init'"):
        get_experiment("he-int")
    with pytest.raises(InvalidValueError, match="tiny, small, large"):
        run_experiment("he_init", size="huge", out=tmp_path)


@pytest.mark.parametrize("where", ["a_file", "a_file/pages"])
def test_an_out_no_page_can_be_written_into_is_refused_before_any_run(where, tmp_path, monkeypatch):
    """It was found only by write_page, after the experiment's runs (minutes at size small; run_gallery:
    after the first experiment), as a bare FileExistsError or NotADirectoryError naming no argument."""
    (tmp_path / "a_file").write_text("")
    monkeypatch.setattr("optimlab.gallery.publish._outcome", lambda *a: pytest.fail("an experiment ran"))
    for run in (
        lambda out: run_experiment("he_init", size="tiny", out=out),
        lambda out: run_gallery(out=out),
    ):
        with pytest.raises(InvalidValueError, match=r"for out: accepted a folder the pages can be written"):
            run(tmp_path / where)


@pytest.mark.parametrize(
    ("name", "mine"),
    [("all", "index.html"), ("small_init", "small_init.html"), ("small_init", "small_init.json")],
)
def test_a_file_of_the_user_s_where_a_page_goes_is_refused_not_replaced(
    name, mine, tmp_path, monkeypatch, capsys
):
    """'gallery run all --out docs' replaced a site's own index.html (and a run NAME.html and NAME.json of
    the user's) without a word; refused in one line naming the file, before any run, the file as it was."""
    from optimlab.cli.app import main

    monkeypatch.setattr("optimlab.gallery.publish._outcome", lambda *a: pytest.fail("an experiment ran"))
    (tmp_path / mine).write_text("<html><title>my notes</title></html>")
    with pytest.raises(SystemExit) as exited:
        main(["gallery", "run", name, "--size", "tiny", "--out", str(tmp_path)])
    said = capsys.readouterr().err
    assert exited.value.code == 2 and len(said.splitlines()) == 1, said
    assert f"({str(tmp_path / mine)!r} is not one it wrote)" in said, said
    assert (tmp_path / mine).read_text() == "<html><title>my notes</title></html>"


def test_gallery_run_name_checks_the_folder_once_and_then_says_what_it_runs_again(
    cli, tiny_gallery, tmp_path, monkeypatch
):
    """'gallery run NAME' checked the folder's files twice (the command, then run_experiment); once now, in
    run_experiment, the note of the page it runs again coming after it. Truth: the calls counted."""
    import optimlab.gallery.page as page
    import optimlab.gallery.publish as publish

    checks, check = [], page.check_replaceable

    def counted(*args, **options):
        checks.append(args)
        return check(*args, **options)

    for module in (page, publish):
        monkeypatch.setattr(module, "check_replaceable", counted)
    monkeypatch.setattr(publish, "_outcome", lambda *a: tiny_gallery.outcomes["no_nonlinearity"])  # no run
    for suffix in ("html", "json"):
        (tmp_path / f"no_nonlinearity.{suffix}").write_bytes(
            (tiny_gallery.folder / f"no_nonlinearity.{suffix}").read_bytes()
        )
    result = cli("gallery", "run", "no_nonlinearity", "--size", "tiny", "--out", str(tmp_path))
    said = result.output
    assert result.exit_code == 0 and len(checks) == 1, (checks, said)
    assert said.index("running 1 experiment again over its 1 page") < said.index("[1/1] no_nonlinearity"), (
        said
    )


def test_the_gallery_s_own_files_may_be_replaced(tiny_gallery, tmp_path):
    """Its pages, their numbers and its index; a page whose numbers a kill kept from being written, by its
    title; another experiment's page under its name is refused."""
    check_replaceable(tiny_gallery.folder, experiment_names(), index=True)
    (tmp_path / "he_init.html").write_bytes((tiny_gallery.folder / "he_init.html").read_bytes())
    check_replaceable(tmp_path, ["he_init"], index=False)
    (tmp_path / "small_init.html").write_bytes((tiny_gallery.folder / "he_init.html").read_bytes())
    with pytest.raises(InvalidValueError, match="small_init.html"):
        check_replaceable(tmp_path, ["small_init"], index=False)


def test_numbers_of_the_gallery_s_cut_short_by_a_crash_are_replaced_beside_its_page(tiny_gallery, tmp_path):
    """A crash-cut ``<name>.json`` beside the gallery's page runs again (as --resume promises) where it was
    refused as the user's; cut numbers with no page of the gallery's beside them are still refused."""
    cut = '{"size": "tiny", "verd'
    (tmp_path / "he_init.json").write_text(cut)
    with pytest.raises(InvalidValueError, match="he_init.json"):
        check_replaceable(tmp_path, ["he_init"], index=False)
    (tmp_path / "he_init.html").write_bytes((tiny_gallery.folder / "he_init.html").read_bytes())
    check_replaceable(tmp_path, ["he_init"], index=False)


def test_a_user_s_page_in_place_of_the_gallery_s_is_refused_though_its_numbers_lie_beside_it(
    tiny_gallery, tmp_path
):
    """The gallery's numbers name the page they were written with (its SHA-256): a user's own page put in
    its place, another title, was replaced without a word. A gallery page edited by hand, its title kept,
    is the gallery's (said in check_replaceable's docstring)."""
    for suffix in ("html", "json"):
        (tmp_path / f"no_nonlinearity.{suffix}").write_bytes(
            (tiny_gallery.folder / f"no_nonlinearity.{suffix}").read_bytes()
        )
    check_replaceable(tmp_path, ["no_nonlinearity"], index=False)
    page = tmp_path / "no_nonlinearity.html"
    page.write_text(page.read_text(encoding="utf-8") + "<p>my note</p>", encoding="utf-8")
    check_replaceable(tmp_path, ["no_nonlinearity"], index=False)
    page.write_text("<html><title>my notes</title></html>")
    with pytest.raises(InvalidValueError, match="no_nonlinearity.html"):
        check_replaceable(tmp_path, ["no_nonlinearity"], index=False)


def test_every_experiment_ran_and_wrote_its_page(tiny_gallery):
    assert sorted(tiny_gallery.outcomes) == sorted(experiment_names())
    for name, outcome in tiny_gallery.outcomes.items():
        experiment = get_experiment(name)
        page = tiny_gallery.pages[name].read_text(encoding="utf-8")
        assert outcome.verdict.label in LABELS and outcome.evidence.runs
        # The verdict on the page is the verdict function's, applied to the numbers next to it.
        assert experiment.verdict(outcome.evidence.numbers) == outcome.verdict
        for text in (outcome.verdict.label, experiment.sources[0], "Size tiny"):
            assert text.replace("&", "&amp;").replace("'", "&#x27;") in page, (name, text)
        assert page.count("<figure>") == len(experiment.figures(outcome.evidence)) > 0


def test_the_numbers_and_every_recipe_are_kept_beside_the_page(tiny_gallery):
    for name, outcome in tiny_gallery.outcomes.items():
        saved = json.loads((tiny_gallery.folder / f"{name}.json").read_text())
        assert saved["verdict"]["label"] == outcome.verdict.label and len(saved["runs"]) == len(
            outcome.evidence.runs
        )
        for run in saved["runs"]:
            spec = run["spec"]
            assert Recipe.from_dict(spec).to_dict() == spec  # every run's recipe loads back as it was


@pytest.mark.parametrize("name", ["he_init", "small_init", "large_init"])
def test_recipes_on_the_page_are_yaml_of_the_runs(tiny_gallery, name):
    """Run 0's recipe in full, then each other run's fields that differ from it; an init that is a name
    in one run and a mapping in another ({name: xavier_normal, gain: auto} beside normal) is shown whole,
    where it read 'model.init: null' beside 'model.init.name'."""
    page = tiny_gallery.pages[name].read_text(encoding="utf-8")
    blocks = [
        yaml.safe_load(b.replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&"))
        for b in re.findall(r"<pre>(.*?)</pre>", page, re.DOTALL)
    ]
    runs = tiny_gallery.outcomes[name].evidence.runs
    assert any(block == runs[0].spec for block in blocks)
    differences = next(block for block in blocks if isinstance(block, dict) and "run 1" in block)
    for i, run in enumerate(runs[1:], start=1):  # a mapping compared whole is written in YAML's flow style
        shown = differences[f"run {i}"].get("model.init", runs[0].spec["model"]["init"])
        assert (yaml.safe_load(shown) if isinstance(shown, str) else shown) == run.spec["model"]["init"]


def test_the_index_links_every_page(tiny_gallery):
    index = tiny_gallery.index.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)">', index)
    assert sorted(links) == sorted(f"{name}.html" for name in experiment_names())
    assert all((tiny_gallery.folder / link).is_file() for link in links)
    for heading in KINDS.values():
        assert f"<h2>{heading}</h2>" in index


def test_large_init_runs_diverge_as_numbers_not_errors(tiny_gallery):
    numbers = tiny_gallery.outcomes["large_init"].evidence.numbers
    for optimizer, accuracy in numbers["test_accuracy"].items():
        for arm, values in accuracy.items():  # a diverged run counts, with a NaN accuracy
            assert sum(math.isnan(v) for v in values) == numbers["diverged"][optimizer][arm]


def _xavier_over_he_log10(depth, width, inputs=64, classes=10):
    """log10 of the product over a ReLU MLP's layers of Xavier's std over He's, sqrt(fan_in / (fan_in +
    fan_out)): the digits' 64 features in, 10 classes out."""
    fans = [(inputs, width), *[(width, width)] * (depth - 1), (width, classes)]
    return sum(0.5 * math.log10(fan_in / (fan_in + fan_out)) for fan_in, fan_out in fans)


@pytest.mark.parametrize(
    "name, small, large, expected",
    [
        ("he_init", "Xavier (gain 1)", "He", _xavier_over_he_log10(depth=30, width=8)),
        ("large_init", "4x He std", "1x He std", 6 * math.log10(4)),  # tiny: 5 hidden layers + output
    ],
)
def test_an_output_scale_fixed_by_algebra_is_stated_as_a_premise(tiny_gallery, name, small, large, expected):
    """One seed draws the same normals for both inits, biases are zero and ReLU(c x) = c ReLU(x) for c > 0:
    the ratio of the outputs' scales is the product of the layers' weight ratios on every seed, whatever
    the seed. A check on it held whatever training did, and kept he_init and large_init from ever reading
    "contradicted"; it is stated as a premise."""
    outcome = tiny_gallery.outcomes[name]
    numbers = outcome.evidence.numbers["output_std_log10"]
    assert [a - b for a, b in zip(numbers[small], numbers[large])] == pytest.approx(
        [expected] * len(numbers[small]), abs=1e-4
    )
    (premise,) = [c for c in outcome.verdict.checks if c.premise]
    assert "output's scale" in premise.statement


def test_glorot_bengio_s_standard_init_is_the_paper_s_biases_zero(tiny_gallery):
    """Glorot & Bengio's standard init is W ~ U[-1/sqrt(n), 1/sqrt(n)] with the biases 0 (at its eq. 1: "We
    initialized the biases to be 0"); the runs took PyTorch's default, whose biases are drawn from that
    interval too, so its arms differed from the normalized one's in more than the weights' scale."""
    from optimlab.build import build
    from optimlab.gallery.claims.glorot_bengio import NORMALIZED, SIGMOID, STANDARD

    runs = tiny_gallery.outcomes["glorot_bengio"].evidence.runs
    standard = [r for r in runs if r.arm != NORMALIZED]
    assert {r.arm for r in standard} == {STANDARD, SIGMOID}
    for run in standard:
        layers = [
            m for m in build(Recipe.from_dict(run.spec)).model.modules() if isinstance(m, torch.nn.Linear)
        ]
        for layer in layers:
            bound = 1 / math.sqrt(layer.in_features)
            assert torch.all(layer.bias == 0), run.arm
            assert layer.weight.abs().max() <= bound
        first = layers[0].weight  # 64 x width draws: their std is the uniform's, bound / sqrt(3)
        assert first.std().item() == pytest.approx(1 / math.sqrt(3 * first.shape[1]), rel=0.1)


def test_a_loss_of_exactly_zero_is_the_floor_not_a_failed_run(monkeypatch):
    """sgd_stuck read a test loss of exactly 0 (a quadratic's, once float32 underflows) as NaN, a failed run,
    which its checks leave out (and then do not hold on): the best an optimizer can reach counted against it.
    It is probes.log10's floor, below every float32."""
    from optimlab.gallery.claims import first_order
    from optimlab.gallery.probes import FLOAT32_FLOOR_LOG10

    # one learning rate of 20 steps a study: what is read is how a loss of 0 is stored, not the tuning
    monkeypatch.setitem(first_order._SIZES, "tiny", first_order._Scale(seeds=2, budget=1, steps=20))
    real = first_order.seed_values
    monkeypatch.setattr(
        first_order, "seed_values", lambda r, m: [0.0] * len(real(r, m)) if m == "momentum" else real(r, m)
    )
    losses = first_order.measure("tiny").numbers["test_loss_log10"]
    assert all(v["momentum"] == [FLOAT32_FLOOR_LOG10] * 2 for v in losses.values())


@pytest.fixture
def cli():
    app = typer.Typer()
    app.add_typer(gallery_cmd.app, name="gallery")
    return lambda *argv: CliRunner().invoke(app, list(argv))


def test_cli_lists_every_experiment(cli):
    result = cli("gallery", "--format", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["experiments"]
    assert [row["name"] for row in listed] == experiment_names()


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_gallery_list_lists_as_the_plain_gallery_does(cli, fmt):
    """`optimlab gallery list` (as `optimlab list`) was "No such command 'list'": it now prints what plain
    `optimlab gallery` prints, in either format, given to it or to the group. Truth: the registry's names."""
    plain = cli("gallery", "--format", fmt)
    for argv in (["list", "--format", fmt], ["--format", fmt, "list"]):
        listed = cli("gallery", *argv)
        assert listed.exit_code == 0 and listed.stdout == plain.stdout, listed.output
    for name in experiment_names():
        assert name in plain.stdout
    if fmt == "json":
        assert [row["name"] for row in json.loads(plain.stdout)["experiments"]] == experiment_names()


def test_cli_runs_one_experiment_and_writes_its_page(cli, tmp_path):
    result = cli(
        "gallery", "run", "no_nonlinearity", "--size", "tiny", "--out", str(tmp_path), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    reported = json.loads(result.stdout)
    assert reported["verdict"] in LABELS and (tmp_path / "no_nonlinearity.html").is_file()
    assert not (tmp_path / "index.html").exists()  # the index is written by 'all' only


def test_a_run_under_half_a_second_says_its_seconds_on_the_line_and_the_page(cli, tmp_path, monkeypatch):
    """Whole seconds said '0 s' of a run under half a second, on the CLI's line and the page's."""
    import optimlab.gallery

    def quick(name, **options):
        outcome = dataclasses.replace(ran(name, **options)[0], seconds=0.3)
        return outcome, write_page(get_experiment(name), outcome, options["out"])

    ran = optimlab.gallery.run_experiment
    monkeypatch.setattr(optimlab.gallery, "run_experiment", quick)
    result = cli("gallery", "run", "no_nonlinearity", "--size", "tiny", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert " in 0.3 s: " in result.stdout, result.stdout
    assert "in 0.3 s." in (tmp_path / "no_nonlinearity.html").read_text(encoding="utf-8")


def test_the_gallery_s_format_reaches_run(cli, tmp_path):
    """`optimlab gallery --format json run NAME` printed human lines: the group's --format was read by the
    listing only. run's own --format still wins."""
    result = cli(
        "gallery", "--format", "json", "run", "no_nonlinearity", "--size", "tiny", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "no_nonlinearity"
    human = cli(
        "gallery",
        "--format",
        "json",
        "run",
        "no_nonlinearity",
        "--size",
        "tiny",
        "--out",
        str(tmp_path),
        "--format",
        "human",
    )
    assert human.stdout.startswith("no_nonlinearity: ")


def test_cli_refuses_a_bad_name_with_close_matches(cli, tmp_path):
    result = cli("gallery", "run", "no_nonlinarity", "--out", str(tmp_path))
    assert isinstance(result.exception, UnknownNameError) and "no_nonlinearity" in str(result.exception)


@pytest.mark.parametrize(
    "typed, offered",
    [
        ("he", ["he_init"]),
        ("init", ["he_init", "small_init", "large_init"]),
        ("adam", ["adam_best", "adam_logistic"]),
        ("linearity", ["no_nonlinearity"]),
        ("batchnorm", ["batch_norm"]),
        ("al", ["all"]),
    ],
)
def test_a_word_of_an_experiment_s_name_is_offered_the_experiments_it_names(cli, tmp_path, typed, offered):
    """'gallery run he' offered nothing (difflib's ratio of 'he' to he_init, 0.57, is under its 0.6 cutoff),
    nor did get_experiment('he'); 'init' offered he_init alone of the three inits. Truth: the registered
    names by hand, each holding the word typed (or one letter off)."""
    result = cli("gallery", "run", typed, "--out", str(tmp_path))
    said = str(result.exception)
    assert isinstance(result.exception, UnknownNameError), result.output
    assert sorted(re.search(r"Did you mean (.*)\?", said)[1].split(" or ")) == sorted(map(repr, offered))
    if typed != "al":  # 'all' is the command line's, not an experiment
        with pytest.raises(UnknownNameError) as error:
            get_experiment(typed)
        assert sorted(error.value.suggestions) == sorted(offered)


@pytest.mark.parametrize("typed", ["he_init", "He-Init", "all", "lr schedule"])
def test_an_experiment_typed_as_a_command_is_told_to_run_it(typed):
    """`optimlab gallery he_init` (the listing's names, 'run' left out) said "No such command 'he_init'",
    naming neither the command nor the call that works; `optimlab gallery 'lr schedule'` was told
    'gallery run lr schedule', two arguments, which run refuses. Truth: the command told, split as a shell
    splits it, runs one registered experiment (or all)."""
    from optimlab.cli._errors import expected_message

    app = typer.Typer()
    app.add_typer(gallery_cmd.app, name="gallery")
    result = CliRunner().invoke(app, ["gallery", typed], standalone_mode=False)
    message = expected_message(result.exception)
    assert f"'{typed}' is what the command 'run' takes: '" in message and "\n" not in message
    told = shlex.split(re.search(r" takes: '(.*?)' \(see ", message)[1])
    assert told[-3:-1] == ["gallery", "run"] and told[-1] in [*experiment_names(), "all"], told


def test_sizes_are_the_documented_ones():
    assert SIZES == ("tiny", "small", "large")


@pytest.mark.parametrize(
    "module", ["optimlab.gallery", "optimlab.gallery.verdict", "optimlab.gallery.publish"]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_a_kept_page_is_one_at_this_size_whose_numbers_still_give_its_verdict(tiny_gallery, tmp_path):
    """--resume keeps a page only when its numbers, read back (NaN from JSON's null), give the verdict it
    shows under the current code; another size, a changed verdict or a damaged file runs it again."""
    import shutil

    from optimlab.gallery.page import kept_outcome

    for name, outcome in tiny_gallery.outcomes.items():
        kept = kept_outcome(get_experiment(name), "tiny", tiny_gallery.folder)
        assert kept is not None, name
        assert (kept.verdict, len(kept.evidence.runs)) == (outcome.verdict, len(outcome.evidence.runs))
        assert kept_outcome(get_experiment(name), "small", tiny_gallery.folder) is None
    for suffix in ("html", "json"):
        shutil.copy(tiny_gallery.folder / f"he_init.{suffix}", tmp_path)
    record = json.loads((tmp_path / "he_init.json").read_text())
    record["verdict"]["outcomes"][0] = (
        "is refuted" if record["verdict"]["outcomes"][0] == "holds" else "holds"
    )
    (tmp_path / "he_init.json").write_text(json.dumps(record))
    assert kept_outcome(get_experiment("he_init"), "tiny", tmp_path) is None
    (tmp_path / "he_init.json").write_text('{"size": "tiny", "verd')  # cut short by a crash
    assert kept_outcome(get_experiment("he_init"), "tiny", tmp_path) is None


@pytest.mark.parametrize("name", ["he_init", "tuning_protocol"])
def test_a_page_written_in_older_words_is_kept_where_its_numbers_give_its_outcomes(
    tiny_gallery, tmp_path, name
):
    """A change of the verdict's words alone ('1 of the claim's 2 predictions hold' became 'holds', a new
    sentence in a check's numbers) made --resume run again every page written before it, the tuned studies
    among them. Truth: the record as the older code wrote it (the paragraph alone, in its words), kept while
    its numbers give its label and each check's outcome, run again where one outcome differs."""
    import shutil

    from optimlab.gallery.page import kept_outcome

    experiment = get_experiment(name)
    for suffix in ("html", "json"):
        shutil.copy(tiny_gallery.folder / f"{name}.{suffix}", tmp_path)
    record = json.loads((tmp_path / f"{name}.json").read_text())
    verdict = tiny_gallery.outcomes[name].verdict
    older = [f"{c.statement}: {c.outcome} (numbers in the older words)." for c in verdict.checks]
    record["verdict"] = {"label": verdict.label, "paragraph": " ".join(["In older words.", *older])}
    (tmp_path / f"{name}.json").write_text(json.dumps(record))
    assert kept_outcome(experiment, "tiny", tmp_path) is not None
    check = verdict.checks[-1]
    other = "is not decided" if check.outcome != "is not decided" else "holds"
    record["verdict"]["paragraph"] = record["verdict"]["paragraph"].replace(
        f"{check.statement}: {check.outcome} (", f"{check.statement}: {other} ("
    )
    (tmp_path / f"{name}.json").write_text(json.dumps(record))
    assert kept_outcome(experiment, "tiny", tmp_path) is None


def test_resume_writes_a_kept_page_again_in_this_optimlabs_words_without_running_it(
    cli, few_tiny_pages, tmp_path, monkeypatch
):
    """--resume kept a page in the words it was written in: after 0d8ee10d reworded the rule under every
    check's table, pages kept by a resume still read the old rule, though their numbers were stored. A kept
    page is now written again from its record (numbers, figures' series, setup, runs), not run. Truth: the
    page the run itself wrote, the rule's words replaced, the rest as it was, byte for byte."""
    import shutil

    import optimlab.gallery.page as gallery_page
    import optimlab.gallery.publish as publish

    name = "no_nonlinearity"
    for suffix in ("html", "json"):
        shutil.copy(few_tiny_pages.folder / f"{name}.{suffix}", tmp_path)
    written = (tmp_path / f"{name}.html").read_text()
    monkeypatch.setattr(publish, "_outcome", lambda *_: pytest.fail("a kept page's experiment ran again"))
    monkeypatch.setattr(gallery_page, "RULE", "The rule, in newer words.")
    result = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert result.exit_code == 0, result.output
    page = (tmp_path / f"{name}.html").read_text()
    assert html.escape(RULE) in written and page == written.replace(html.escape(RULE), gallery_page.RULE)
    assert gallery_page.kept_outcome(get_experiment(name), "tiny", tmp_path) is not None


def test_resume_draws_no_figure_of_a_kept_page_in_this_optimlabs_words(
    cli, few_tiny_pages, tmp_path, monkeypatch
):
    """Every --resume drew each kept page's figures to compare its bytes: 'gallery run all --size tiny
    --resume' with nothing to do took 22.0 s, from 9.8 s. The words are compared first, without drawing.
    Truth: matplotlib's SVG drawing is never called, and the page and its numbers are left as they were."""
    import shutil

    import optimlab.gallery.publish as publish
    import optimlab.report.figures

    name = "no_nonlinearity"
    for suffix in ("html", "json"):
        shutil.copy(few_tiny_pages.folder / f"{name}.{suffix}", tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    monkeypatch.setattr(publish, "_outcome", lambda *_: pytest.fail("a kept page's experiment ran again"))
    monkeypatch.setattr(optimlab.report.figures, "to_svg", lambda _: pytest.fail("a kept page was drawn"))
    result = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert result.exit_code == 0, result.output
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir() if p.name in before} == before


def _same(read: object, drawn: object) -> bool:
    """``read`` equals ``drawn`` in value and in kind of each container and key (a tuple is not a list, a
    key 1 not '1'), NaN equal to NaN."""
    if isinstance(drawn, float) and math.isnan(drawn):
        return isinstance(read, float) and math.isnan(read)
    if isinstance(drawn, dict):
        return (
            type(read) is dict and list(read) == list(drawn) and all(_same(read[k], drawn[k]) for k in drawn)
        )
    if isinstance(drawn, (list, tuple)):
        return type(read) is type(drawn) and len(read) == len(drawn) and all(map(_same, read, drawn))
    return type(read) is type(drawn) and read == drawn


def test_every_experiments_series_read_back_from_its_record_are_those_its_run_drew(tiny_gallery):
    """--resume draws a kept page's figures from the series its record keeps, byte for byte as the run drew
    them only where JSON gives them back as they were: a tuple, a number as a key or a numpy scalar would
    come back as another kind. Truth: every experiment's series in memory as its run drew them, against
    the record read back (JSON's null as NaN) as --resume reads it."""
    from optimlab.gallery.page import _nan_for_none

    for name, outcome in tiny_gallery.outcomes.items():
        record = json.loads((tiny_gallery.folder / f"{name}.json").read_text())
        assert _same(_nan_for_none(record["series"]), outcome.evidence.series), name


@pytest.mark.parametrize("series", [{}, {"val_accuracy": "oops"}])
def test_resume_runs_again_a_page_whose_recorded_series_cannot_be_drawn(
    cli, few_tiny_pages, tmp_path, monkeypatch, series
):
    """A record whose series were edited by hand ("series": {}, a curve a string) crashed --resume with a
    traceback (KeyError, AttributeError) as its page was written again: the page's SHA-256 still matched.
    Such a record is not whole: the experiment runs again. Truth: the run's own record, its series back;
    and what the run says before it starts, which said 'kept 1 of its 1 page, running 0' of it."""
    import shutil

    import optimlab.gallery.publish as publish

    name = "no_nonlinearity"
    for suffix in ("html", "json"):
        shutil.copy(few_tiny_pages.folder / f"{name}.{suffix}", tmp_path)
    written = json.loads((tmp_path / f"{name}.json").read_text())
    (tmp_path / f"{name}.json").write_text(json.dumps({**written, "series": series}))
    ran = []
    outcome = few_tiny_pages.outcomes[name]
    monkeypatch.setattr(publish, "_outcome", lambda experiment, size: ran.append(experiment.name) or outcome)
    result = cli("gallery", "run", name, "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert result.exit_code == 0 and ran == [name], result.output
    assert f"{tmp_path}: kept 0 of its 1 page, running 1\n" in result.stderr, result.stderr
    assert json.loads((tmp_path / f"{name}.json").read_text())["series"] == written["series"]


@pytest.mark.parametrize("versions", [None, {"optimlab": "0.0.1", "torch": torch.__version__}])
def test_resume_keeps_no_page_whose_numbers_another_optimlab_or_torch_made(tiny_gallery, tmp_path, versions):
    """--resume kept a page whose numbers still gave its verdict, whichever optimlab or torch had made them
    (an upgrade between Ctrl-C and --resume): the index then mixed numbers of two versions without a word.
    The versions are kept beside the numbers; others (or none recorded) run the experiment again."""
    import shutil

    from optimlab.gallery.page import kept_outcome

    for suffix in ("html", "json"):
        shutil.copy(tiny_gallery.folder / f"he_init.{suffix}", tmp_path)
    assert kept_outcome(get_experiment("he_init"), "tiny", tmp_path) is not None
    record = json.loads((tmp_path / "he_init.json").read_text())
    record["versions"] = versions
    (tmp_path / "he_init.json").write_text(json.dumps(record))
    assert kept_outcome(get_experiment("he_init"), "tiny", tmp_path) is None


def test_resume_runs_again_a_page_whose_experiment_s_code_changed(tmp_path, monkeypatch):
    """--resume kept a tiny batch_norm page measured before its tiny size was evaluated more often: size,
    versions (0.1.0 both), page and verdict all matched, so its old drift (at the floor) and setup stayed.
    The digest of the measuring module's syntax tree lies beside the numbers: a comment or a docstring
    keeps the page, a changed line of code runs it again, and so does a page written before the digest."""
    import sys

    from optimlab.gallery.page import kept_outcome

    module = tmp_path / "claim_under_edit.py"
    code = "from optimlab.gallery.claims.no_nonlinearity import measure as _measure\n\n\n"
    code += "def measure(size):\n    return _measure(size)\n"
    module.write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "claim_under_edit", raising=False)
    experiment = dataclasses.replace(
        get_experiment("no_nonlinearity"), measure=importlib.import_module("claim_under_edit").measure
    )
    write_page(experiment, experiment("tiny"), tmp_path)  # 0.4 s
    assert kept_outcome(experiment, "tiny", tmp_path) is not None
    module.write_text(code.replace("    return", '    """Words only."""\n    # a comment\n    return'))
    assert kept_outcome(experiment, "tiny", tmp_path) is not None
    module.write_text(code.replace("_measure(size)", "_measure(size.lower())"))
    assert kept_outcome(experiment, "tiny", tmp_path) is None
    module.write_text(code)
    assert kept_outcome(experiment, "tiny", tmp_path) is not None
    numbers = tmp_path / "no_nonlinearity.json"
    record = json.loads(numbers.read_text())
    del record["code"]  # written by an optimlab before the digest
    numbers.write_text(json.dumps(record))
    assert kept_outcome(experiment, "tiny", tmp_path) is None


def test_resume_keeps_a_page_only_beside_the_numbers_written_with_it(tmp_path, monkeypatch):
    """--resume kept a page whenever numbers of this size lay beside it: a page cut short (a kill or a full
    disk mid-write, an edit) or written again by a run killed before its numbers were was kept as finished."""
    import dataclasses

    import optimlab.gallery.page
    from optimlab.gallery.page import kept_outcome, write_page

    experiment = get_experiment("no_nonlinearity")
    outcome, page = run_experiment("no_nonlinearity", size="tiny", out=tmp_path)  # 0.4 s (he_init: 2 s)
    assert kept_outcome(experiment, "tiny", tmp_path) is not None
    whole = page.read_bytes()
    page.write_bytes(whole[: len(whole) // 2])
    assert kept_outcome(experiment, "tiny", tmp_path) is None
    page.write_bytes(whole)
    assert kept_outcome(experiment, "tiny", tmp_path) is not None

    def killed(path, data):
        raise KeyboardInterrupt  # after the page, before its numbers

    monkeypatch.setattr(optimlab.gallery.page, "write_atomically", killed)
    with pytest.raises(KeyboardInterrupt):
        write_page(experiment, dataclasses.replace(outcome, seconds=outcome.seconds + 60), tmp_path)
    assert page.read_bytes() != whole and kept_outcome(experiment, "tiny", tmp_path) is None


def test_a_ctrl_c_as_a_page_is_written_leaves_it_indexed_and_reported(tmp_path, monkeypatch):
    """A SIGTERM that came while the folder was fsynced after the page's numbers were renamed into place
    ended 'gallery run all --format json' with no document and no index: the page lay whole on disk, and
    the interrupt left the run before it was counted as finished (one run of the suite in two)."""
    import os
    import signal

    import optimlab.gallery.publish
    from optimlab.gallery.page import write_page

    def interrupted_at_the_end(*args):
        page = write_page(*args)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as the last write ends
        return page

    names = ["no_nonlinearity", "small_init"]  # 0.4 s for the first, at tiny (he_init: 2 s)
    monkeypatch.setattr(optimlab.gallery.publish, "experiment_names", lambda: names)
    monkeypatch.setattr(optimlab.gallery.publish, "write_page", interrupted_at_the_end)
    reported = []
    with pytest.raises(KeyboardInterrupt):
        run_gallery(size="tiny", out=tmp_path, on_done=lambda outcome, page: reported.append(page.name))
    assert reported == ["no_nonlinearity.html"]
    assert re.findall(r'<a href="([^"]+)">', (tmp_path / "index.html").read_text()) == [
        "no_nonlinearity.html"
    ]
    assert not (tmp_path / "small_init.json").exists()  # the interrupt still stopped the run


def test_an_experiment_loads_its_data_once_for_the_runs_that_share_it(monkeypatch):
    """Each run loaded its data set anew (adam_best at tiny: MNIST-1D 64 times, a fifth of its time): now a
    data set and seed load once for the runs in a row that use them, the runs' recipes telling which."""
    import optimlab.build
    import optimlab.gallery.publish
    from optimlab.build import data_key

    loads, load = [], optimlab.build._loaded
    monkeypatch.setattr(
        optimlab.build, "_loaded", lambda recipe: loads.append(data_key(recipe)) or load(recipe)
    )
    outcome = optimlab.gallery.publish._outcome(get_experiment("no_nonlinearity"), "tiny")  # 0.4 s
    keys = [data_key(Recipe.from_dict(r.spec)) for r in outcome.evidence.runs]
    assert len(keys) == 6 and loads == [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]


@pytest.mark.parametrize(
    ("field", "value"),
    [("verdict", {}), ("seconds", "abc")],
    ids=["verdict_without_paragraph", "seconds_not_a_number"],
)
def test_numbers_edited_by_hand_run_the_experiment_again(cli, tmp_path, field, value):
    """A page's numbers edited into another shape ended 'gallery run --resume' in a traceback (KeyError:
    'paragraph', ValueError) instead of running the experiment again."""
    run_experiment("no_nonlinearity", size="tiny", out=tmp_path)  # 0.4 s at tiny (he_init: 2 s)
    numbers = tmp_path / "no_nonlinearity.json"
    numbers.write_text(json.dumps(json.loads(numbers.read_text()) | {field: value}))
    result = cli("gallery", "run", "no_nonlinearity", "--size", "tiny", "--out", str(tmp_path), "--resume")
    assert result.exit_code == 0 and "[1/1] no_nonlinearity (tiny) running" in result.output, result.output
    assert json.loads(numbers.read_text())[field] != value


# Three quick experiments stand for all fifteen (0.4 s, 2 s and 0.8 s at size tiny, where the fifteen take
# 25 s and the resume ran fourteen of them again): a first page, and two left to run when the signal comes.
INTERRUPTED = ["no_nonlinearity", "he_init", "small_init"]
_INTERRUPTED_MAIN = (
    "import optimlab.gallery.publish as publish; from optimlab.cli.app import main; "
    f"publish.experiment_names = lambda: {INTERRUPTED!r}; main()"
)


def _gallery_process(out, signal_number, *flags):
    """``optimlab gallery run all --size tiny`` over :data:`INTERRUPTED` in a fresh process, stopped by
    ``signal_number`` once its first page is written; returns the process, finished, and its stderr."""
    import os
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-c", _INTERRUPTED_MAIN, "gallery", "run", "all"]
    process = subprocess.Popen(
        [*command, "--size", "tiny", "--out", str(out), "--format", "json", *flags],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C finds it
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal_number)
    out_text, err = process.communicate(timeout=120)
    return process, out_text, err


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_an_interrupted_gallery_keeps_its_pages_and_resume_runs_only_the_rest(
    cli, tmp_path, name, monkeypatch
):
    """Ctrl-C or SIGTERM in 'gallery run all' ended with exit 130 and the bare word 'interrupted': the
    finished pages lay in the folder with no index, and the only way on was to run all fifteen again."""
    import signal

    import optimlab.gallery.publish

    monkeypatch.setattr(optimlab.gallery.publish, "experiment_names", lambda: INTERRUPTED)

    out = tmp_path / "g"
    process, stdout, err = _gallery_process(out, getattr(signal, name))
    lines = err.strip().splitlines()
    assert process.returncode == 130, err
    document = json.loads(stdout)  # --format json: the one document, saying what is kept and how to go on
    assert document["status"] == "interrupted" and document["resume"].endswith(f"--out {out} --resume")
    assert lines[-1].startswith("interrupted: the pages of ") and lines[-1].endswith(
        f"continue with `optimlab gallery run all --size tiny --out {out} --resume`"
    ), lines[-1]
    finished = sorted(p.stem for p in out.glob("*.json"))
    links = re.findall(r'<a href="([^"]+)">', (out / "index.html").read_text(encoding="utf-8"))
    assert finished and sorted(links) == [f"{n}.html" for n in finished]
    if name == "SIGTERM":
        return
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.stem in finished}
    result = cli("gallery", "run", "all", "--size", "tiny", "--out", str(out), "--resume", "--format", "json")
    assert result.exit_code == 0, result.output
    assert [row["name"] for row in json.loads(result.stdout)["experiments"]] == INTERRUPTED
    assert {p: (out / p).stat().st_mtime_ns for p in before} == before  # kept, not written again
    links = re.findall(r'<a href="([^"]+)">', (out / "index.html").read_text(encoding="utf-8"))
    assert sorted(links) == sorted(f"{n}.html" for n in INTERRUPTED)


def test_an_interrupted_gallery_prints_no_empty_line_for_people(tmp_path, monkeypatch, capsys, tiny_gallery):
    """Ctrl-C in 'gallery run all' printed an empty line on stdout after the finished experiments' lines:
    the JSON document's message, '' for people. Truth: stdout holds the finished experiment's line alone."""
    import optimlab.gallery
    from optimlab.cli.app import main

    outcome = tiny_gallery.outcomes["no_nonlinearity"]

    def interrupted(*, on_done, **options):
        on_done(outcome, tmp_path / "no_nonlinearity.html")
        raise KeyboardInterrupt

    monkeypatch.setattr(optimlab.gallery, "run_gallery", interrupted)
    monkeypatch.setattr(gallery_cmd, "stopping", lambda: None)  # this process's signals stay as they were
    with pytest.raises(SystemExit) as ended:
        main(["gallery", "run", "all", "--size", "tiny", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert ended.value.code == 130 and "continue with `optimlab gallery run all" in err, err
    assert out == f"no_nonlinearity: {outcome.verdict.label} in {seconds_text(outcome.seconds)}: " + (
        f"{tmp_path / 'no_nonlinearity.html'}\n"
    )


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
        ),
    ],
)
def test_batch_norm_reads_the_last_sigmoids_inputs_on_a_training_batch(device):
    """The paper's Figure 1(b, c) draws the {15, 50, 85}th percentiles of a last-layer sigmoid's inputs; the
    experiment read the mean of its outputs (0.47 vs 0.50 of range with and without batch norm, squeezed
    into [0, 1]). The percentiles are those of the pre-activations of the last training batch (numpy's,
    by hand), not of an evaluation pass that ran after it. On a GPU (size large) they are taken there: the
    percentiles asked for on the CPU raised "quantile() q tensor must be on the same device"."""
    import types

    import numpy as np
    from torch import nn

    from optimlab.gallery.claims.batch_norm import PERCENTILES, SigmoidInputs
    from optimlab.train.loop import TrainState

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Sigmoid(), nn.Linear(8, 5), nn.Sigmoid(), nn.Linear(5, 2))
    model.to(device)
    watched = SigmoidInputs(types.SimpleNamespace(model=model))
    x = torch.randn(16, 3, device=device)
    model.train()
    model(x)
    model.eval()
    model(torch.randn(4, 3, device=device) * 100)  # the evaluation's pass: not a training batch
    watched.on_evaluate(TrainState(step=7), {})
    pre = model[2](torch.sigmoid(model[0](x))).detach().cpu().numpy()
    assert watched.steps == [7]
    np.testing.assert_allclose(
        watched.percentiles[0], np.percentile(pre, [100 * q for q in PERCENTILES]), rtol=1e-5
    )


def test_batch_norm_reads_the_sigmoid_inputs_drift_over_several_evaluations(tiny_gallery):
    """At size tiny (one epoch, evaluated once) the drift, the range of a percentile over the evaluations,
    was a range over one value: 0 for every run, log10 at the float32 floor, and the prediction "shifts at
    least 2x less with batch normalization" read as refuted, its difference exactly 0."""
    from optimlab.gallery.probes import FLOAT32_FLOOR_LOG10

    outcome = tiny_gallery.outcomes["batch_norm"]
    for arm, drifts in outcome.evidence.numbers["sigmoid_input_drift_log10"].items():
        assert len(outcome.evidence.series["last_hidden"][arm]["step"]) >= 2
        assert all(FLOAT32_FLOOR_LOG10 < drift < 3 for drift in drifts), (arm, drifts)
    assert "seeds 1..2, recording every 6 steps the 15th, 50th and 85th percentiles" in outcome.evidence.setup


def test_batch_norm_measures_no_drift_of_a_run_with_one_finite_evaluation():
    """A run with a single finite evaluation had a drift of 0 (the range of one value), log10 at the floor:
    read as perfectly stable. Fewer than two finite evaluations measure no drift: NaN, as a diverged run."""
    import types

    from optimlab.gallery.claims.batch_norm import input_drift
    from optimlab.gallery.runs import Run, RunResult

    def drift(percentiles, status="completed"):
        watched = types.SimpleNamespace(percentiles=percentiles)
        return input_drift(RunResult(Run("plain", Recipe()), status, 40, 0.3, {}, {}, watched=watched))

    assert math.isnan(drift([[-1.0, 0.0, 1.0]]))
    assert math.isnan(drift([[-1.0, 0.0, 1.0], [math.nan, 0.5, 1.0]]))
    assert math.isnan(drift([]))
    assert math.isnan(drift([[-1.0, 0.0, 1.0], [-1.5, 0.25, 1.0]], status="diverged"))
    assert drift([[-1.0, 0.0, 1.0], [math.nan, 0.5, 1.0], [-1.5, 0.25, 1.0]]) == 0.5  # the 15th: -1 to -1.5


def test_batch_norm_counts_a_run_that_diverged_before_the_target_as_failed():
    """A diverged run's length is the step it stopped at: it read as a run that reached the target then."""
    from optimlab.gallery.claims.batch_norm import steps_to_target
    from optimlab.gallery.runs import Run, RunResult

    curve = {"step": [18, 36], "seconds": [0.1, 0.2], "val_accuracy": [0.5, 0.95]}

    def result(status, accuracy):
        run = Run("plain", Recipe())
        return RunResult(run, status, 40, 0.3, {}, {**curve, "val_accuracy": accuracy})

    assert steps_to_target(result("completed", [0.5, 0.95])) == 36
    assert steps_to_target(result("completed", [0.5, 0.6])) == 41
    assert steps_to_target(result("diverged", [0.92, None])) == 18
    assert math.isnan(steps_to_target(result("diverged", [0.5, None])))


def test_batch_norm_tuning_caption_counts_the_learning_rates_that_train_each_arm():
    """The caption said "batch normalization trains over a wider range of learning rates" whatever the runs
    gave; it counts them now, here where the plain network is the robust one."""
    from optimlab.gallery.claims.batch_norm import figures_
    from optimlab.gallery.experiment import Evidence

    arms = ("no normalization", "batch normalization")
    curve = {"step": [18, 36], "mean": [0.5, 0.9], "std": [0.0, 0.0]}
    series = {
        "val_accuracy": {arm: curve for arm in arms},
        "last_hidden": {arm: {"step": [18, 36], "15%": [-1.0, -1.0]} for arm in arms},
        "sensitivity": {
            arms[0]: {"x": [0.01, 0.1, 1.0], "y": [0.9, 0.95, 0.97]},
            arms[1]: {"x": [0.01, 0.1, 1.0], "y": [0.1, math.nan, 0.98]},
        },
    }
    captions = [caption for _, caption in figures_(Evidence({}, series, [], ""))]
    assert "wider range" not in captions[-1]
    assert "no normalization 2 of 3, batch normalization 1 of 3" in captions[-1]


def test_the_weight_decay_grids_share_one_colour_scale():
    """Each map scaled its colours to its own cells: one spanned 0.90-0.95 and the other 0.1-0.95, so the
    same yellow meant 0.95 in both and green 0.93 in one, 0.5 in the other."""
    from optimlab.gallery.claims.weight_decay import figures_
    from optimlab.gallery.experiment import Evidence

    grids = {
        "adamw": {"lr": [1e-3, 1e-2], "lambda": [0.0, 0.1], "val_accuracy": [[0.9, 0.95], [0.92, 0.93]]},
        "adam_l2": {"lr": [1e-3, 1e-2], "lambda": [0.0, 0.1], "val_accuracy": [[0.1, 0.95], [math.nan, 0.5]]},
    }
    shown = [
        figure.axes[0].images[0].get_clim() for figure, _ in figures_(Evidence({}, {"grids": grids}, [], ""))
    ]
    assert shown == [(0.1, 0.95), (0.1, 0.95)]


class _Cells(html.parser.HTMLParser):
    """The text of each table row of a page, a list of cells a row."""

    def __init__(self):
        super().__init__()
        self.rows, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_the_page_s_table_says_of_each_prediction_what_the_paragraph_says(tiny_gallery, tmp_path):
    """A prediction whose interval straddles its threshold is not decided: the table said "no", as of
    one the numbers refute, beside a paragraph saying "is not decided"."""
    differences = {"holds": [-5.1, -4.9, -5.0], "refuted": [5.1, 4.9, 5.0], "not decided": [-3.0, 2.0, 0.5]}
    checks = [
        paired_check(word, values, [0.0] * 3, names=("a", "b"), measure="m", below=-1)
        for word, values in differences.items()
    ]
    assert [c.outcome for c in checks] == ["holds", "is refuted", "is not decided"]  # t intervals, n=3
    outcome = dataclasses.replace(tiny_gallery.outcomes["small_init"], verdict=decide(checks))
    cells = _Cells()
    cells.feed(write_page(get_experiment("small_init"), outcome, tmp_path).read_text(encoding="utf-8"))
    header = next(row for row in cells.rows if row and row[0] == "prediction of the claim")
    rows = {row[0]: row[header.index("outcome")] for row in cells.rows if row and row[0] in differences}
    assert rows == {word: word for word in differences}
    assert all(f"{word}: {c.outcome} (" in outcome.verdict.paragraph for word, c in zip(differences, checks))


@pytest.mark.parametrize(
    "typed, offered",
    [("he", ["he_init"]), ("decay", ["weight_decay"]), ("al", ["all"]), ("alll", ["all"])],
)
def test_a_word_of_an_experiment_typed_as_a_command_is_offered_the_experiment(typed, offered):
    """`optimlab gallery he` said only "No such command 'he'", where `gallery run he` offers he_init; and
    `gallery al` no hint, where `gallery run al` offers 'all'. Truth: the names by hand; the call told
    runs the first of them."""
    from optimlab.cli._errors import expected_message

    app = typer.Typer()
    app.add_typer(gallery_cmd.app, name="gallery")
    message = expected_message(CliRunner().invoke(app, ["gallery", typed], standalone_mode=False).exception)
    assert f"'{typed}' is neither a command (list, run) nor an experiment (did you mean " in message, message
    assert sorted(re.search(r"did you mean (.*?)\?\)", message)[1].split(" or ")) == sorted(
        map(repr, offered)
    )
    assert f" gallery run {offered[0]}' runs one" in message, message
    assert "Did you mean 'run'" in expected_message(
        CliRunner().invoke(app, ["gallery", "rnu"], standalone_mode=False).exception
    )


_CURVE = {"step": [1, 2], "mean": [0.5, 0.6], "std": [0.1, 0.1]}


@pytest.mark.parametrize(
    ("name", "series"),
    [
        ("no_nonlinearity", {}),  # KeyError
        ("no_nonlinearity", {"val_accuracy": {"relu": {**_CURVE, "std": [0.1]}}}),  # IndexError
        ("no_nonlinearity", {"val_accuracy": "oops"}),  # AttributeError
        ("no_nonlinearity", {"val_accuracy": {"relu": "oops"}}),  # TypeError
        ("no_nonlinearity", {"val_accuracy": {"relu": {**_CURVE, "mean": [10**400, 1]}}}),  # OverflowError
        ("batch_norm", {"sensitivity": {}, "last_hidden": {}, "val_accuracy": {}}),  # StopIteration
        ("no_nonlinearity", {"val_accuracy": {"relu": {**_CURVE, "std": [-0.1, -0.1]}}}),  # ValueError
    ],
)
def test_a_kept_record_whose_series_cannot_be_drawn_is_not_kept(tmp_path, name, series):
    """A record's series edited by hand make the experiment run again, where a kept page would be drawn
    from them: batch_norm's figures take the first arm of 'last_hidden' (next(iter(...))), and an emptied
    one raised StopIteration, which the errors caught did not hold: --resume ended with a traceback.
    Truth: the decision over the page is None (not kept), each edit raising another of the errors caught."""
    from types import SimpleNamespace

    from optimlab.gallery import Evidence, Outcome
    from optimlab.gallery.page import _kept_page_decided

    evidence = Evidence(numbers={"test_accuracy": {"relu": [0.9, 0.8]}}, series=series, runs=[], setup="")
    verdict = SimpleNamespace(label="supported", paragraph="", checks=[])
    outcome = Outcome(name=name, size="tiny", evidence=evidence, verdict=verdict, seconds=1.0)
    assert _kept_page_decided(get_experiment(name), outcome, tmp_path) is None
