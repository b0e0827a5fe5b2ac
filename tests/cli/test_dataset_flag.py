"""--dataset given as a path: refused before any work in data.sources.check_data_path's one wording."""

import os

import pytest

from optimlab.data.sources import check_data_path
from optimlab.errors import InvalidValueError


@pytest.mark.parametrize("held", [[], ["batches.meta", "readme.html"]])
def test_a_folder_of_no_data_is_refused_before_a_run_folder_is_made(cli, tmp_path, monkeypatch, held):
    """An empty folder, or CIFAR-10's without its batch files, passed the early check and was refused
    once the run had begun, in the image folder reader's words ('no sub-folder' for 'image folder').
    Truth: check_data_path's refusal, one line, exit 2, and nothing written where runs go (./runs)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cifar").mkdir()
    for name in held:
        (tmp_path / "cifar" / name).write_text("x")
    with pytest.raises(InvalidValueError) as early:
        check_data_path("./cifar", "--dataset")
    code, out, err = cli("train", "--dataset", "./cifar", "--steps", "1")
    assert (code, out, err) == (2, "", f"error: {early.value}\n")
    assert "CIFAR-10 python-version batches" in err
    assert sorted(os.listdir(tmp_path)) == ["cifar"]
