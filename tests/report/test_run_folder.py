"""A run folder read back as an interrupted run leaves it."""

import json

import pytest

from optimlab.errors import OptimlabError
from optimlab.recipe import Recipe
from optimlab.report.run_folder import read_run
from optimlab.train import MetricsLog, TrainState


def test_a_metrics_log_whose_last_line_a_write_cut_short_reads_back_without_it(tmp_path):
    """A write cut short (a full disk, a power cut) leaves the log's last line without its end, which a
    resumed run drops (MetricsLog keeps the lines that parse): `optimlab report` of that folder, and a
    tracker sent from it, refused the whole run ('line 41 is not a metrics line'). A cut line is one
    without its newline, last in the file; a line that does not parse anywhere else is still named."""
    folder = tmp_path / "run"
    folder.mkdir()
    Recipe.from_dict({}).save(folder / "recipe.yaml")
    log = MetricsLog(folder / "metrics.jsonl")
    log.on_train_start(TrainState())
    for step in range(1, 41):
        log.on_step_end(TrainState(step=step, train_loss=1 / step, lr=0.1, seconds=step / 7))
    log.on_train_end(TrainState())
    text = (folder / "metrics.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    (folder / "metrics.jsonl").write_text(text[: text.rindex('"lr"')])  # the last line cut in its middle
    steps, seconds, losses = read_run(folder).series["train_loss"]
    assert steps == list(range(1, 40)) and losses == [line["train_loss"] for line in lines[:-1]]
    assert seconds == [line["seconds"] for line in lines[:-1]]
    (folder / "metrics.jsonl").write_text(text[: text.rindex('"lr"')] + "\n")  # then a line: not cut
    with pytest.raises(OptimlabError, match="line 40 is not a metrics line"):
        read_run(folder)
