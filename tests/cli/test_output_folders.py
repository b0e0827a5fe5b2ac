"""An output folder that already holds work: refused before anything in it is written over."""

import json

TINY = ["--epochs", "1", "--budget", "1", "--seeds", "1", "--no-progress", "--format", "json"]


def test_a_comparison_into_a_folder_that_holds_another_is_refused_with_its_files_kept(cli, tmp_path):
    """A second compare --out on the folder of a first (another workload, so another study) wrote its
    report and tables over the first's, while --resume on the folder continued both studies."""
    out = tmp_path / "my comparison"
    first = ["compare", "--workload", "two_spirals_mlp", "--optimizers", "sgd", "--out", str(out), *TINY]
    code, doc, err = cli(*first)
    assert code == 0, err
    assert [s["study"] for s in json.loads(doc)["studies"]] == ["two_spirals_mlp"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, doc, err = cli(
        "compare", "--workload", "digits_logistic", "--optimizers", "adam", "--out", str(out), *TINY
    )
    assert (code, doc) == (2, "") and len(err.strip().splitlines()) == 1, err
    assert "'--out'" in err and f"continue it with `optimlab compare --resume '{out}'`" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
