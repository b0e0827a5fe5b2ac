"""--resume names a folder of stopped work: train, compare and bench parse it alike (one parser)."""

import pytest

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
