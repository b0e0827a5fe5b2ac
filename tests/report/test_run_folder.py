"""A run folder read back as an interrupted run leaves it."""

import json

import pytest

from optimlab.errors import OptimlabError
from optimlab.recipe import Recipe, RecipeError
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


def test_each_ended_session_of_a_resumed_run_is_read_back_oldest_first(tmp_path):
    """A resumed session deletes result.json as it starts, so the test scores of a run's first session
    were lost by its third: `train` keeps each ended session's result.json as a line of sessions.jsonl
    (once, though a kill repeats the keeping), read back in order beside the last session's result.json.
    A folder of earlier versions has none; a line that is not a result is named."""
    from optimlab.train import train

    out = tmp_path / "run"
    train(Recipe.from_dict({"data": {"name": "iris"}, "training": {"steps": 4}}), out_dir=out)
    assert read_run(out).sessions == []
    ended = []
    for steps in (8, 12):
        ended.append(json.loads((out / "result.json").read_text()))
        if steps == 8:  # killed once it kept the result, before it deleted result.json
            (out / "sessions.jsonl").write_text(json.dumps(ended[0]) + "\n")
        train(
            Recipe.from_dict({"data": {"name": "iris"}, "training": {"steps": steps}}),
            out_dir=out,
            resume=True,
        )
    run = read_run(out)
    assert run.sessions == ended and [s["steps"] for s in run.sessions] == [4, 8]
    assert (
        run.result["steps"] == 12 and run.result["metrics"]["test_loss"] != ended[0]["metrics"]["test_loss"]
    )
    (out / "sessions.jsonl").write_text((out / "sessions.jsonl").read_text() + "[1]\n")
    with pytest.raises(
        OptimlabError, match="sessions.jsonl' is not a sessions log: line 3 holds a list, not a mapping"
    ):
        read_run(out)


def test_a_resume_keeps_its_session_past_a_sessions_log_damaged_by_hand(tmp_path):
    """train kept each ended session by reading sessions.jsonl as text and adding its line: a log whose
    last line lacked its newline got the session glued to it ('Extra data' on every read after), and a
    byte that is not UTF-8 ended the resume in a UnicodeDecodeError once it had trained. It now adds
    through runs_folder.add_json_line, as commands.jsonl is. Truth: the lines written by hand and the
    ended session's result.json, read back; the run resumed to its steps."""
    from optimlab.train import train

    def recipe(steps):
        return Recipe.from_dict({"data": {"name": "iris"}, "training": {"steps": steps}})

    out = tmp_path / "run"
    train(recipe(4), out_dir=out)
    ended = json.loads((out / "result.json").read_text())
    (out / "sessions.jsonl").write_bytes(b'{"steps": 0}')  # by hand, no newline at its end
    train(recipe(8), out_dir=out, resume=True)
    assert read_run(out).sessions == [{"steps": 0}, ended]
    (out / "sessions.jsonl").write_bytes(b'{"x": "\xff"}\n')
    assert train(recipe(12), out_dir=out, resume=True).steps == 12
    damaged, kept = (out / "sessions.jsonl").read_bytes().splitlines()
    assert damaged == b'{"x": "\xff"}' and json.loads(kept)["steps"] == 8


def test_a_run_folder_written_before_numbers_were_checked_reads_as_it_was_written(tmp_path):
    """A recipe.yaml that optimlab's dumper wrote before 0878aa9 holds text bare where Python or YAML 1.2
    reads a number: a CSV target column '08_30' (refused: 'would read otherwise') and '+.5' (read as 0.5,
    a changed recipe id). Read back as stored, each is the text it was written as, and the recipe's id is
    that of the recipe of those texts; the same file typed by a user is still refused."""
    written = "data:\n  name: runs.csv\n  options:\n    target: 08_30\n    sep: +.5\n"  # the old dumper's
    (tmp_path / "recipe.yaml").write_text(written, encoding="utf-8")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "train_loss": 0.5}\n', encoding="utf-8")
    run = read_run(tmp_path)
    assert run.recipe["data"]["options"] == {"target": "08_30", "sep": "+.5"}
    stored = Recipe.load(tmp_path / "recipe.yaml", stored=True)
    typed = Recipe.from_dict({"data": {"name": "runs.csv", "options": {"target": "08_30", "sep": "+.5"}}})
    assert stored.data.options == {"target": "08_30", "sep": "+.5"} and stored.id == typed.id
    with pytest.raises(RecipeError, match="'08_30'"):
        Recipe.load(tmp_path / "recipe.yaml")


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ('{"step": 1e400, "train_loss": 1}', "step Infinity is not a whole number"),  # was an OverflowError
        ('{"step": 2.5, "train_loss": 1}', "step 2.5 is not a whole number"),  # was read as step 2
        ('{"step": true, "train_loss": 1}', "step true is not a whole number"),  # was read as step 1
        ('{"step": 2, "epoch": 0.5, "train_loss": 1}', "epoch 0.5 is not a whole number"),  # was epoch 0
        (
            '{"step": 1' + "0" * 400 + ', "train_loss": 1}',
            r"step 1000000000\.\.\. \(401 digits\) is not an integer in "
            r"\[-9223372036854775808, 9223372036854775807\] \(int64's bound\)",
        ),  # Python's 'int too large to convert to float', naming no step
        (
            f'{{"step": {2**63}, "train_loss": 1}}',
            r"step 9223372036854775808 is not an integer in \[-9223372036854775808, 9223372036854775807\] \(int64's bound\)",
        ),
        (
            '{"step": 2, "train_loss": 1' + "0" * 400 + "}",
            "int too large to convert to float",
        ),  # OverflowError
    ],
)
def test_a_metrics_line_whose_step_is_no_whole_number_or_whose_value_overflows_is_named(tmp_path, line, said):
    """`optimlab report` of a metrics.jsonl line with step 1e400 (or a value of 400 digits) ended in an
    OverflowError's traceback; a step of 2.5 or true was read as 2 or 1, a curve drawn at steps no run took.
    Each is refused naming its line; a step written 2.0 is still step 2 (a whole number)."""
    (tmp_path / "recipe.yaml").write_text("{}\n", encoding="utf-8")
    (tmp_path / "metrics.jsonl").write_text(f'{{"step": 1, "train_loss": 2}}\n{line}\n', encoding="utf-8")
    with pytest.raises(OptimlabError, match=f"metrics.jsonl' line 2 is not a metrics line: {said}$"):
        read_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text(
        f'{{"step": 2.0, "train_loss": 1}}\n{{"step": {2**63 - 1}, "train_loss": 0}}\n', encoding="utf-8"
    )
    steps, _, losses = read_run(tmp_path).series["train_loss"]
    assert (steps, losses) == ([2, 2**63 - 1], [1.0, 0.0]) and type(steps[0]) is int


@pytest.mark.parametrize(
    ("result", "said"),
    [
        ('{"metrics": [0.5]}', "its metrics holds a list, not a mapping"),  # was an AttributeError
        ('{"metrics": null}', "its metrics holds None, not a mapping"),  # said 'a NoneType'
        ('{"recipe_changes": 5}', "its recipe_changes holds an int, not a list"),  # a TypeError
        ('{"recipe_changes": [5]}', "its recipe change 1 holds an int, not a mapping"),  # a TypeError
        (
            '{"recipe_changes": [{"step": "x", "field": "a", "from": 1, "to": 2}]}',
            'its recipe change 1\'s step "x" is not a whole number',
        ),
        ('{"model": {"parameters": "x"}}', 'its model\'s parameters "x" is not a whole number'),  # ValueError
        (  # the page reads a change's field, from and to: a KeyError 'from'
            '{"recipe_changes": [{"step": 1, "field": "training.lr", "old": 1, "new": 2}]}',
            "its recipe change 1 lacks from, to (it holds step, field, old, new)",
        ),
        (  # a KeyError 'field'
            '{"recipe_changes": [{"step": 1, "field": "training.lr", "from": 1, "to": 2}, '
            '{"step": 2.0, "changes": {}}]}',
            "its recipe change 2 lacks field, from, to (it holds step, changes)",
        ),
    ],
)
def test_a_result_json_of_another_shape_is_named_not_a_traceback(cli, tmp_path, result, said):
    """`optimlab report RUN` of a result.json whose fields train never writes so (edited by hand, written by
    another tool) ended in a traceback from the page ('list' object has no attribute 'get'). Each is
    refused in one line naming the file and the field; a model of null (no model built) still reads."""
    (tmp_path / "recipe.yaml").write_text("{}\n", encoding="utf-8")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "train_loss": 2}\n', encoding="utf-8")
    (tmp_path / "result.json").write_text(result, encoding="utf-8")
    code, out, err = cli("report", str(tmp_path))
    assert (code, out, err) == (2, "", f"error: {str(tmp_path / 'result.json')!r} is not a result: {said}\n")
    (tmp_path / "result.json").write_text('{"status": "completed", "model": null, "recipe_changes": []}')
    assert read_run(tmp_path).result["model"] is None
    change = {"step": 1.0, "field": "training.lr", "from": None, "to": 0.5}  # as train records a resume
    (tmp_path / "result.json").write_text(json.dumps({"recipe_changes": [change]}))
    assert read_run(tmp_path).result["recipe_changes"] == [change]  # its page: test_run_page's resume test


def test_each_earlier_sessions_result_is_read_as_result_json_is(cli, tmp_path):
    """sessions.jsonl holds the result.json of each earlier session, but each line was checked only to be a
    mapping: a line {"metrics": [1]} sent with `optimlab report RUN --log tensorboard` ended in an
    AttributeError's traceback from the tracker. Each line is refused as result.json would be, naming it."""
    (tmp_path / "recipe.yaml").write_text("{}\n", encoding="utf-8")
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "train_loss": 2}\n', encoding="utf-8")
    (tmp_path / "sessions.jsonl").write_text('{"steps": 1, "metrics": {"val_loss": 1}}\n{"metrics": [1]}\n')
    code, out, err = cli("report", str(tmp_path), "--log", "tensorboard")
    said = "line 2's metrics holds a list, not a mapping"
    assert (code, out, err) == (
        2,
        "",
        f"error: {str(tmp_path / 'sessions.jsonl')!r} is not a sessions log: {said}\n",
    )
    assert not (tmp_path / "tensorboard").exists()


def test_the_commands_kept_with_a_run_read_back_in_order_and_a_bad_line_is_named(tmp_path):
    """commands.jsonl (each `optimlab train` session's command line) reads back as written, oldest first;
        a folder without it (trained from Python) has none; a line that is not a session's command is named, the
    run still read.
        Truth: the commands written."""
    from optimlab.report.run_folder import SessionCommand, keep_command
    from report.test_run_page import fake_run

    run = fake_run(tmp_path / "r")
    assert read_run(run).commands == []
    typed = ["optimlab train --out 'a b' --lr 0.1", "optimlab train --resume 'a b' --epochs 3"]
    keep_command(run, typed[0], resumed=False)
    keep_command(run, typed[1], resumed=True)
    assert read_run(run).commands == [SessionCommand(typed[0], False), SessionCommand(typed[1], True)]
    (run / "commands.jsonl").write_text((run / "commands.jsonl").read_text() + '{"command": 3}\n')
    unread = read_run(run)  # an optional record: the run is read, the line named
    assert unread.commands == [] and unread.commands_unread == (
        "commands.jsonl line 3 holds command 3 and resumed null: expected a string and true or false"
    )


def test_a_command_added_after_a_last_line_without_its_newline_is_a_line_of_its_own(tmp_path):
    """A commands.jsonl whose last line lacked its newline (written by hand, an editor) got the next
    session's line glued on: 'Extra data' on every read after. Truth: the two commands written, each read
    back; sessions.jsonl, added to by the same helper, alike."""
    from optimlab.report.run_folder import SessionCommand, keep_command
    from optimlab.runs_folder import add_json_line, json_lines
    from report.test_run_page import fake_run

    run = fake_run(tmp_path / "r")
    (run / "commands.jsonl").write_text(json.dumps({"command": "optimlab train --out r", "resumed": False}))
    keep_command(run, "optimlab train --resume r", resumed=True)
    assert read_run(run).commands == [
        SessionCommand("optimlab train --out r", False),
        SessionCommand("optimlab train --resume r", True),
    ]
    (tmp_path / "s.jsonl").write_text("[1]")
    add_json_line(tmp_path / "s.jsonl", [2])
    assert json_lines(tmp_path / "s.jsonl") == [(1, [1]), (2, [2])]


def test_a_line_of_json_lines_that_does_not_parse_is_named_by_its_number_in_the_file(tmp_path):
    """A JSON error on line 3 of a run's sessions.jsonl (commands.jsonl alike) was said as 'line 1 column
    17' (json counts within the line it was given), and bytes not UTF-8 by their offset in the file; the
    line is now named as the metrics.jsonl reader names it. Truth: the line written broken, third of the
    file, its column where json stops (the missing comma)."""
    from report.test_run_page import fake_run

    run = fake_run(tmp_path / "r")
    log = run / "sessions.jsonl"
    log.write_bytes(b'{"steps": 1}\n\n{"steps": 2 "x": 1}\n')
    with pytest.raises(
        OptimlabError, match=r"not a sessions log: line 3 is not JSON: Expecting ',' delimiter at column 13$"
    ):
        read_run(run)
    log.write_bytes(b'{"steps": 1}\n{"x": "\xff"}\n')
    with pytest.raises(OptimlabError, match=r"not a sessions log: line 2 is not UTF-8 text$"):
        read_run(run)
