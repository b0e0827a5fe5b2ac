"""Every verb on the user's own model and data, named by import path on the command line or in a recipe."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optimlab.cli import _catalog
from optimlab.registry import categories, get_registry

NETS = """
import torch
from torch import nn

def build(input_shape, num_outputs, width=8):
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], width), nn.ReLU(), nn.Linear(width, num_outputs))

def text():
    return "a model"


def broken(input_shape, num_outputs):
    raise ValueError("no layers yet")


def too_narrow(input_shape, num_outputs):
    return nn.Linear(input_shape[0] + 1, num_outputs)  # one input feature more than the data has


class Unfinished(torch.optim.Optimizer):
    def __init__(self, params, lr=0.1):
        raise NotImplementedError("step rule to come")
"""

DATA = """
import torch

def load(n=60):
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
    return x, (x[:, 0] > 0).long()


def needs(path):
    return path


def missing_file():
    return open("/no/such/optimlab/file.csv")
"""


def line_of(source: str, text: str) -> int:
    """The line of the module written from ``source`` that holds ``text``."""
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


@pytest.fixture(scope="module")
def user_folder(write_modules):
    return write_modules(optimlab_cli_nets=NETS, optimlab_cli_data=DATA)


@pytest.mark.parametrize("found_on", ["PYTHONPATH", "current folder"])
def test_train_runs_the_users_code_in_a_fresh_process(user_folder, tmp_path, found_on):
    source = str(Path(__file__).resolve().parents[2] / "src")
    on_path = found_on == "PYTHONPATH"
    # -P: Python itself does not put the current folder on sys.path (as the `optimlab` script does not)
    python = [sys.executable] if on_path else [sys.executable, "-P"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(user_folder), source] if on_path else [source]),
        "OMP_NUM_THREADS": "1",
    }
    argv = ["train", "--model", "optimlab_cli_nets:build", "--dataset", "optimlab_cli_data:load"]
    command = [*python, "-c", "from optimlab.cli.app import main; main()", *argv]
    done = subprocess.run(
        [*command, "--epochs", "1", "--out", str(tmp_path / "run"), "--format", "json"],
        env=env,
        cwd=tmp_path if on_path else user_folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    recipe = (tmp_path / "run" / "recipe.yaml").read_text()
    assert "optimlab_cli_nets:build" in recipe and "optimlab_cli_data:load" in recipe


def test_a_recipe_names_the_users_code_for_doctor(cli, user_folder, tmp_path):
    recipe = tmp_path / "mine.yaml"
    recipe.write_text(
        "data: {name: optimlab_cli_data:load, options: {n: 80}}\n"
        "model: {name: optimlab_cli_nets:build, options: {width: 6}}\n"
        "training: {epochs: 1}\n"
    )
    code, out, err = cli("doctor", str(recipe), "--steps", "5", "--no-lr-find", "--format", "json")
    assert code == 0, err
    from optimlab.recipe import Recipe

    report = json.loads(out)
    assert report["recipe_id"] == Recipe.load(recipe).id
    assert [layer["name"] for layer in report["layers"]][:2] == ["net.1", "net.3"]  # the factory's layers


def test_compare_runs_on_the_users_code_and_stores_the_path(cli, user_folder, tmp_path):
    out_dir = tmp_path / "cmp"
    code, out, err = cli(
        "compare", "--optimizers", "sgd,adam", "--model", "optimlab_cli_nets:build",
        "--dataset", "optimlab_cli_data:load", "--budget", "1", "--seeds", "1", "--epochs", "1",
        "--no-progress", "--out", str(out_dir), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    from optimlab.study import load_specs

    (spec,) = load_specs(str(out_dir))
    assert (spec.recipe.model.name, spec.recipe.data.name) == (
        "optimlab_cli_nets:build",
        "optimlab_cli_data:load",
    )
    (study,) = json.loads(out)["studies"]
    assert {row["method"] for row in study["leaderboard"]} == {"sgd", "adam"}


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--model", "optimlab_no_such_module:build"], "cannot import 'optimlab_no_such_module'"),
        (["--model", "optimlab_cli_nets:missing"], "has no 'missing'"),
        (
            ["--model", "optimlab_cli_nets:text"],
            "invalid value 'a str' for what model 'optimlab_cli_nets:text'",
        ),
        (["--dataset", "optimlab_cli_nets:text"], "invalid value 'a model' for what dataset"),
        (["--dataset", "optimlab_cli_data:needs"], "'path' for the parameters of dataset"),
    ],
)
def test_bad_paths_give_one_line_and_exit_2(cli, user_folder, tmp_path, flags, message):
    code, _, err = cli("train", *flags, "--epochs", "1", "--out", str(tmp_path / "bad"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("./uc_data.py:load", "names a module, not its file: uc_data:load"),
        (
            "my data/uc_data.py:load",
            "names a module, not its file: uc_data:load, run from the folder 'my data' or with it on PYTHONPATH",
        ),
    ],
    ids=["relative", "a folder with a space"],
)
@pytest.mark.parametrize(
    "verb", [["train"], ["compare", "--optimizers", "sgd,adam"]], ids=["train", "compare"]
)
def test_a_data_factorys_file_path_is_told_the_import_path(tmp_path, monkeypatch, cli, verb, given, said):
    """--dataset ./mydata.py:load was 'accepted a built-in data set or an existing CSV/NumPy/IDX file or
    image folder' (compare: 'a file of a known kind'), where --model ./nets.py:build is told the import
    path to write."""
    (tmp_path / "my data").mkdir()
    (tmp_path / "my data" / "uc_data.py").write_text("def load(): ...\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*verb, "--dataset", given, "--epochs", "1", "--no-progress")
    assert (code, out, len(err.strip().splitlines())) == (2, "", 1), err
    assert "'--dataset'" in err and said in err and "built-in data set" not in err


@pytest.mark.parametrize(
    "flags",
    [
        ["compare", "--optimizers", "sgd,./uc_opt.py:Opt", "--budget", "1"],
        ["bench", "--workloads", "digits_mlp", "--optimizers", "adam,./uc_opt.py:Opt"],
        ["bench", "--workloads", "digits_mlp", "--optimizers", "adam", "--optimizer-path", "./uc_opt.py:Opt"],
    ],
    ids=["compare", "bench --optimizers", "bench --optimizer-path"],
)
def test_an_optimizers_file_path_is_told_the_import_path(tmp_path, monkeypatch, cli, flags):
    """compare --optimizers sgd,./myoptim.py:Opt was 'accepted distinct names without '/'' and bench
    --optimizer-path ./myoptim.py:Opt 'accepted package.module:ClassOrFactory', where train --optimizer
    ./myoptim.py:Opt is told the import path to write."""
    (tmp_path / "uc_opt.py").write_text("class Opt: ...\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(*flags, "--no-progress")
    assert (code, out, len(err.strip().splitlines())) == (2, "", 1), err
    assert err.strip().endswith("an import path names a module, not its file: uc_opt:Opt"), err


@pytest.mark.parametrize("category", categories())
def test_the_names_checked_before_torch_know_which_categories_take_import_paths(category):
    """The cached catalog says what the registries do: a category whose catalog sets adapt_import takes
    the user's code, so only its flags tell a file's path the import path to write."""
    assert _catalog.takes_import_paths(category) == (get_registry(category).adapt_import is not None)


def test_a_workloads_file_path_is_not_told_an_import_path(tmp_path, monkeypatch, cli):
    """--workload takes no import paths: 'uc_w:W' would be refused in turn."""
    (tmp_path / "uc_w.py").write_text("W = None\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("compare", "--optimizers", "sgd", "--workload", "./uc_w.py:W", "--no-progress")
    assert (code, out) == (2, "") and len(err.strip().splitlines()) == 1, err
    said, _, accepted = err.strip().partition(". Accepted: ")
    assert said == "error: unknown workload './uc_w.py:W'" and "import path" not in err, err
    import optimlab.workloads  # noqa: F401  registers them

    assert set(get_registry("workload").names()) <= set(accepted.removesuffix(".").split(", ")), err


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--model", "optimlab_cli_nets:broken"],
            f"model 'optimlab_cli_nets:broken' raised ValueError: no layers yet (optimlab_cli_nets.py, line {line_of(NETS, 'no layers')})",
        ),
        (
            ["--dataset", "optimlab_cli_data:missing_file"],
            "dataset 'optimlab_cli_data:missing_file' raised FileNotFoundError: [Errno 2] No such file or "
            f"directory: '/no/such/optimlab/file.csv' (optimlab_cli_data.py, line {line_of(DATA, 'open(')})",
        ),
        (["--model", "optimlab_cli_nets:too_narrow"], "accepted a batch the model and"),
        (
            ["--optimizer", "optimlab_cli_nets:Unfinished"],
            "optimizer 'optimlab_cli_nets:Unfinished' raised NotImplementedError: step rule to come "
            f"(optimlab_cli_nets.py, line {line_of(NETS, 'step rule')})",
        ),
    ],
)
@pytest.mark.parametrize("verb", ["train", "doctor", "lr-find"])
def test_users_code_that_fails_gives_one_line_and_exit_2_in_every_verb(
    cli, user_folder, verb, flags, message
):
    extra = (
        ["--dataset", "optimlab_cli_data:load"]
        if "--dataset" not in flags
        else ["--model", "optimlab_cli_nets:build"]
    )
    code, _, err = cli(verb, *flags, *extra, *(["--epochs", "1"] if verb == "train" else []))
    # what the factory gave ('data: ...'); doctor and lr-find say what they examine, a line a phase
    *progress, last = err.strip().splitlines()
    assert code == 2 and last.startswith("error: ") and message in last, err
    assert len(progress) <= 3 and "error" not in "".join(progress) and "Traceback" not in err
