"""--resume names a folder of stopped work: train, compare and bench parse it alike (one parser)."""

import shlex

import pytest

from optimlab.cli._options import recipe_from_options

VERBS = ["train", "compare", "bench"]


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize(
    "where",
    [
        "runs/bench-smal",  # a typo: train said "that folder holds no run (no recipe.yaml)"
        "nd/x/../..",  # nd missing: read as mkdir -p would, it resumed the folder above nd
        "nd/../x",  # nd missing: named 'x', which the user never typed
        "/proc/nope/x",  # "cannot create '/proc/nope/x'": a resume creates nothing
    ],
)
def test_a_resume_of_a_folder_that_is_not_there_is_refused_as_such(cli, tmp_path, verb, where):
    """--resume was parsed as an output folder (one that could be created passed): each verb then said
    something of its own, of a folder that does not exist, or resumed another folder."""
    text = where if where.startswith("/") else str(tmp_path / where)
    code, out, err = cli(verb, "--resume", text, "--no-progress")
    assert (code, out) == (2, "") and err.count("\n") == 1, err
    assert err.startswith("error: Invalid value for '--resume': ") and f"{text!r} is not a folder" in err, err


@pytest.mark.parametrize("verb", VERBS)
def test_a_resume_of_a_file_says_it_is_one(cli, tmp_path, verb):
    (tmp_path / "recipe.yaml").write_text("model: {name: mlp}\n")
    code, _, err = cli(verb, "--resume", str(tmp_path / "recipe.yaml"), "--no-progress")
    said = f"{str(tmp_path / 'recipe.yaml')!r} is not a folder: it is a file. (see 'optimlab {verb} -h')\n"
    assert code == 2 and err.endswith(said), err


def test_a_compare_resume_on_a_sqlite_file_not_there_creates_nothing(cli, tmp_path):
    """``compare --resume OUT --storage sqlite:///typo.db`` said 'no optimlab study' after creating typo.db,
    an empty Optuna database left behind by a refused command. Now refused before it is opened, naming
    --storage, as worker and report refuse it. Truth: the folder's files."""
    (tmp_path / "out").mkdir()
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    code, out, err = cli("compare", "--resume", str(tmp_path / "out"), "--storage", url, "--no-progress")
    assert (code, out) == (2, "") and err.startswith("error: Invalid value for '--storage': "), err
    assert "no SQLite file there, so no study" in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_stored_recipe_a_newer_range_refuses_is_said_to_come_from_the_run_resumed(cli, tmp_path):
    """--resume of a run folder whose recipe.yaml holds batch_size 1e18 (taken before 4a7a0ee7 bounded it)
    got the range's refusal as if of a recipe file the user gave. Truth: the same file given as a recipe
    gets the recipe file's refusal alone; resumed, that refusal follows the folder typed and what it is."""
    from optimlab.recipe import Recipe

    run = tmp_path / "old run"
    run.mkdir()
    (run / "recipe.yaml").write_text(Recipe().to_yaml().replace("batch_size: 32", "batch_size: 1e18"))
    code, out, given = cli("train", str(run / "recipe.yaml"), "--out", str(tmp_path / "new"))
    assert (code, out) == (2, "") and given.startswith(f"error: recipe file {str(run / 'recipe.yaml')!r}: ")
    assert "training.batch_size: 1e+18 is refused: accepted an integer in [1, 2147483647]" in given
    code, out, err = cli("train", "--resume", str(run), "--no-progress")
    again = shlex.join(
        ["optimlab", "train", str(run / "recipe.yaml"), "--set", "FIELD=VALUE", "--out", "NEW"]
    )
    assert (code, out) == (2, "") and err == (
        f"error: --resume {str(run)!r}: the run's stored recipe is refused, so it cannot go on; train anew "
        f"from it with the value replaced: {again} (or a flag of the field, such as --batch-size N): "
        f"{given.removeprefix('error: ')}"
    )
    # the way out said runs: the stored recipe with the value replaced, by --set as by its flag
    for params in ({"set_fields": ("training.batch_size=90",)}, {"batch_size": 90}):
        taken = recipe_from_options(run / "recipe.yaml", params)
        assert taken == Recipe().with_updates({"training.batch_size": 90})
