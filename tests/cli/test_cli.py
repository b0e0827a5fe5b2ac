"""The command line: verbs, flags over recipes, and errors that say how to fix the call."""

import json

import pytest

from optimlab.registry import categories, get_registry


def test_list_shows_every_registered_name(cli):
    code, out, _ = cli("list", "--format", "json")
    assert code == 0
    listed = {(category, row["name"]) for category, rows in json.loads(out).items() for row in rows}
    for category in categories():
        for entry in get_registry(category):
            assert (category, entry.name) in listed


def test_list_filters_with_wildcards(cli):
    code, out, _ = cli("list", "init", "--filter", "kaiming*", "--format", "json")
    (listed,) = json.loads(out).values()
    assert code == 0 and {row["name"] for row in listed} == {"kaiming_uniform", "kaiming_normal"}
    # A table per category it matched in; where it matched nothing, one line saying so, not empty tables.
    code, out, _ = cli("list", "--filter", "kaiming*")
    assert code == 0 and out.lstrip().startswith("init (2)") and "optimizer (" not in out
    code, out, _ = cli("list", "optimizer", "--filter", "zzz*")
    assert (code, out.strip()) == (
        0,
        "no optimizer name matches 'zzz*'; optimlab list optimizer shows them all",
    )


def test_train_with_flags_writes_metrics_and_model(cli, tmp_path):
    code, out, err = cli(
        "train",
        "--dataset",
        "iris",
        "--model",
        "mlp",
        "--width",
        "16",
        "--steps",
        "20",
        "--scaling",
        "standardize",
        "--out",
        str(tmp_path / "r"),
        "--no-progress",
        "--format",
        "json",
    )
    assert code == 0, err
    assert (tmp_path / "r" / "metrics.jsonl").exists() and (tmp_path / "r" / "model.pt").exists()
    result = json.loads(out)
    assert result["status"] == "completed" and result["steps"] == 20
    assert {"val_accuracy", "test_accuracy"} <= set(result["metrics"])


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["train", "--act", "rleu", "--steps", "1"], "Did you mean 'relu'"),
        (["train", "--optimizer", "adamm", "--steps", "1"], "Did you mean 'adam'"),
        (["trian"], "Did you mean 'train'"),
        (["train", "--lr", "-3"], "--lr"),
        (["train", "no-such-recipe.yaml"], "does not exist"),
        (["compare", "--optimizers", "sgd", "--threads", "0"], "Invalid value for '--threads'"),
        (["bench", "--workloads", "digits_mlp", "--threads", "-1"], "Invalid value for '--threads'"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_2(cli, argv, expected):
    code, out, err = cli(*argv)
    assert code == 2 and expected in err and "Traceback" not in err + out


def test_plot_schedule_writes_an_image(cli, tmp_path):
    path = tmp_path / "s.png"
    code, _, err = cli(
        "plot-schedule",
        "cosine",
        "constant",
        "--steps",
        "100",
        "--warmup-steps",
        "10",
        "--out",
        str(path),
    )
    assert code == 0, err
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_schedule_reads_an_exponent_without_a_dot_as_a_number(cli, tmp_path):
    """YAML 1.2's floats, as recipes read them: PyYAML alone made final=1e-3 the string '1e-3'."""
    code, _, err = cli("plot-schedule", "cosine", "--option", "final=1e-3", "--out", str(tmp_path / "s.svg"))
    assert code == 0, err
