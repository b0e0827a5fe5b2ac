"""docs/your-own-model.md runs as written: each section's Python blocks in order, in a fresh namespace,
in a scratch directory; and what each section claims to show is what its code finds."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "your-own-model.md"


def sections() -> dict[str, list[str]]:
    found = {}
    for part in re.split(r"^## ", GUIDE.read_text(), flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        blocks = re.findall(r"```python\n(.*?)```", body, flags=re.S)
        if blocks:
            found[title.strip()] = blocks
    return found


def compared(namespace, folder, methods):
    """The section's comparison: every method tuned and rerun on its 2 seeds, the report written."""
    rows = namespace["done"].leaderboard
    assert {row.method for row in rows} == methods and (folder / "report.html").is_file()
    assert all(row.test.n == 2 and row.test.low <= row.test.mean <= row.test.high for row in rows)


def plain(namespace, tmp_path, printed):
    assert "Unnormalized inputs" in printed.splitlines()[0]  # the raw pixels, named first
    assert namespace["diagnosis"].statistics.steps == list(range(1, 21))  # the compute_loss run
    assert namespace["sweep"].lrs and len(namespace["batches"]) == 16
    compared(namespace, tmp_path / "runs" / "cnn", {"sgd", "adam", "lion"})


def lightning(namespace, tmp_path, printed):
    assert namespace["doctor"].diagnosis.findings[0].rule == "lr_too_high"
    assert (tmp_path / "doctor.json").exists() and (tmp_path / "doctor.html").exists()
    assert namespace["sweep"].suggestion is not None and namespace["sweep"].suggestion < 1.0
    optimizer = namespace["trainer"].optimizers[0]
    assert all(not group["train_mode"] for group in optimizer.param_groups)  # left at the evaluation point
    compared(namespace, tmp_path / "runs" / "lit", {"sgd", "adam"})


def text(namespace, tmp_path, printed):
    assert len(namespace["diagnosis"].statistics.steps) == 20
    assert namespace["doctor"].diagnosis.statistics.steps == list(range(1, 31))
    assert (tmp_path / "bert-doctor.html").exists() and namespace["sweep"].lrs
    compared(namespace, tmp_path / "runs" / "bert", {"adamw", "lion"})
    (result,) = namespace["done"].results  # BERT compared on its dict batches, its own loss recorded
    assert result.spec.recipe.training.loss == "model" and result.spec.metric == "val_accuracy"
    assert "FromIds" not in namespace  # no wrapper: the model as the user has it


def vision(namespace, tmp_path, printed):
    assert namespace["diagnosis"].findings[0].rule == "input_scale"
    compared(namespace, tmp_path / "runs" / "vit", {"constant", "cosine"})
    (result,) = namespace["done"].results
    assert result.spec.recipe.training.loss == "model"  # the ViT's own loss, on its dict batches


CHECKS = {
    "A plain PyTorch script": plain,
    "A Lightning module": lightning,
    "A Hugging Face text model": text,
    "A Hugging Face vision model": vision,
}


def test_every_section_with_code_is_checked():
    assert set(sections()) == set(CHECKS)


@pytest.mark.parametrize("title", CHECKS)
def test_the_section_runs_and_shows_what_it_says(title, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "guide"}
    for block in sections()[title]:
        exec(compile(block, f"{GUIDE.name}: {title}", "exec"), namespace)
    CHECKS[title](namespace, tmp_path, capsys.readouterr().out)


# The command-line section's budgets, cut to seconds, and compare's worker processes to one (each
# imports torch and the user's files: 14.3 s of the workers' CPU with the default two, 8.3 s with one);
# its five commands run as written otherwise.
SHORTER = {
    "compare": ["--budget", "1", "--seeds", "1", "--workers", "1"],
    "bench": ["--budget", "1", "--seeds", "1"],
}


def test_the_command_line_section_runs_its_files_as_written(tmp_path, monkeypatch, cli):
    """The files of 'From the command line, by import path', written as shown, serve every command it
    shows: they import what they use, and mynets:build fits digits_mlp's data, whose input_shape is its
    images' (1, 8, 8) while its rows come flat (64 features)."""
    part = GUIDE.read_text().split("## From the command line, by import path")[1]
    files = re.search(r"```text\n(.*?)```", part, flags=re.S).group(1)
    written = re.findall(r"^# (\w+)\.py\n(.*?)(?=^# \w+\.py\n|\Z)", files, flags=re.S | re.M)
    assert [name for name, _ in written] == ["mynets", "mydata", "myoptim"]
    for name, source in written:
        (tmp_path / f"{name}.py").write_text(source)
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    commands = re.search(r"```bash\n(.*?)```", part, flags=re.S).group(1).splitlines()
    assert [shlex.split(line)[1] for line in commands] == ["train", "doctor", "lr-find", "compare", "bench"]
    try:
        for line in commands:
            verb, *argv = shlex.split(line)[1:]
            code, out, err = cli(verb, *argv, *SHORTER.get(verb, []), "--no-progress")
            assert code == 0, f"{line}: {err}"
        metrics = json.loads((tmp_path / "runs" / "mine" / "result.json").read_text())["metrics"]
        assert metrics["test_accuracy"] > 0.9  # the label is the sign of the first feature: linear
        assert "myoptim:MyOpt" in out  # bench ranked the user's optimizer beside adam
    finally:
        for name, _ in written:
            sys.modules.pop(name, None)
