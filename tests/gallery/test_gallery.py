"""The gallery end to end: registry entries, pages written from a tiny run of every experiment, the CLI."""

import doctest
import importlib
import json
import math
import re

import pytest
import typer
import yaml
from typer.testing import CliRunner

from optimlab.cli import gallery_cmd
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.gallery import LABELS, SIZES, experiment_names, experiments, get_experiment, run_experiment
from optimlab.gallery.experiment import KINDS
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


def test_recipes_on_the_page_are_yaml_of_the_runs(tiny_gallery):
    page = tiny_gallery.pages["he_init"].read_text(encoding="utf-8")
    blocks = [
        yaml.safe_load(b.replace("&#x27;", "'").replace("&quot;", '"').replace("&amp;", "&"))
        for b in re.findall(r"<pre>(.*?)</pre>", page, re.DOTALL)
    ]
    runs = tiny_gallery.outcomes["he_init"].evidence.runs  # run 0 in full, then the other runs' differences
    assert any(block == runs[0].spec for block in blocks)
    differences = next(block for block in blocks if isinstance(block, dict) and "run 1" in block)
    assert differences["run 1"]["model.init"] == runs[1].spec["model"]["init"]


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


def test_cli_runs_one_experiment_and_writes_its_page(cli, tmp_path):
    result = cli(
        "gallery", "run", "no_nonlinearity", "--size", "tiny", "--out", str(tmp_path), "--format", "json"
    )
    assert result.exit_code == 0, result.output
    reported = json.loads(result.stdout)
    assert reported["verdict"] in LABELS and (tmp_path / "no_nonlinearity.html").is_file()
    assert not (tmp_path / "index.html").exists()  # the index is written by 'all' only


def test_cli_refuses_a_bad_name_with_close_matches(cli, tmp_path):
    result = cli("gallery", "run", "no_nonlinarity", "--out", str(tmp_path))
    assert isinstance(result.exception, UnknownNameError) and "no_nonlinearity" in str(result.exception)


def test_sizes_are_the_documented_ones():
    assert SIZES == ("tiny", "small", "large")


@pytest.mark.parametrize(
    "module", ["optimlab.gallery", "optimlab.gallery.verdict", "optimlab.gallery.publish"]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
