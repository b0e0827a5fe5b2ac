"""`optimlab train --log tensorboard` read back with TensorBoard's own reader (EventAccumulator): every metric
of metrics.jsonl, at its step; and a study's trials sent to TensorBoard after the fact."""

import contextlib
import inspect
import itertools
import json
import os
import socket
import warnings
from pathlib import Path

import pytest
import torch

from integrations import logged_metrics, train_three_sessions, train_with_tracker
from optimlab.cli.app import main
from optimlab.errors import InvalidValueError
from optimlab.train.loop import Callback

pytest.importorskip("tensorboard", reason="pip install 'optimlab[trackers]'")
from tensorboard.backend.event_processing.event_accumulator import (
    SCALARS,
    TENSORS,
    EventAccumulator,
)


def accumulated(folder):
    accumulator = EventAccumulator(str(folder), size_guidance={SCALARS: 0, TENSORS: 0})
    accumulator.Reload()
    return accumulator


def served(folder):
    """``tag -> [(step, value)]`` of the scalars in ``folder`` as `tensorboard --logdir` serves them: its
    server reads event files with plugin_event_accumulator, which (unlike the EventAccumulator above)
    ignores a run's first session start and purges at each later one."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import (
        EventAccumulator as ServerAccumulator,
    )
    from tensorboard.util.tensor_util import make_ndarray

    accumulator = ServerAccumulator(str(folder), size_guidance={TENSORS: 0})
    accumulator.Reload()
    scalars = accumulator.PluginTagToContent("scalars")
    return {
        tag: [(e.step, float(make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)]
        for tag in scalars
    }


def same_as_metrics_jsonl(out, *earlier, name=None):
    """TensorBoard's reading of run ``out`` (its TensorBoard run ``name``, by default the folder's), once
    each tag has been checked against what its folder holds (:func:`logged_metrics`; ``earlier``: the
    result.json of sessions before a resume): every metric at its step, each step once (as its server
    shows them too)."""
    expected = logged_metrics(out, *earlier)
    assert {"train_loss", "lr", "val_loss", "val_accuracy"} <= set(expected)
    board = accumulated(out / "tensorboard" / (name or out.name))
    assert set(board.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        events = board.Scalars(tag)
        assert [e.step for e in events] == [step for step, _ in points], tag
        # TensorBoard keeps scalars as float32
        assert [e.value for e in events] == pytest.approx([v for _, v in points], rel=1e-6), tag
    shown = served(out / "tensorboard" / (name or out.name))
    assert set(shown) == set(expected)
    for tag, points in expected.items():
        assert [step for step, _ in shown[tag]] == [step for step, _ in points], tag
        assert [v for _, v in shown[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag
    return board


def _folder_of(length: int, below: Path) -> Path:
    """A folder below ``below`` whose path is ``length`` bytes, of names of at most 200 bytes."""
    folder = below
    while (left := length - len(os.fsencode(folder)) - 1) > 0:
        name = min(200, left) if left - min(200, left) != 1 else 100  # none left of 0 bytes
        folder = folder / ("m" * name)
    assert len(os.fsencode(folder)) == length
    return folder


def test_train_log_tensorboard_holds_every_metric_of_metrics_jsonl(cli, tmp_path, monkeypatch):
    """On a host of a 63-letter name (a cluster node's), its event file was named past the 64 bytes a
    folder given to optimlab keeps for each name written inside it: the host is cut to fit, with a hash
    of the whole, and TensorBoard's reader still reads the run. That room was for one name, where the
    event file is at <out>/tensorboard/<out's name>/: an --out of 4029 bytes was accepted, then
    'TensorBoard stopped logging ... File name too long', exit 4. Truth: the OS writes every file of a
    run whose --out is the longest accepted (runs_folder.room_below), and a byte longer is refused."""
    from optimlab.runs_folder import room_below

    monkeypatch.setattr(socket, "gethostname", lambda: "gpu-node-" + "0123456789" * 5 + "abcd")
    longest = os.pathconf(tmp_path, "PC_PATH_MAX") - 1 - room_below(Path("iris-run"))  # C's closing NUL
    out = _folder_of(longest - len("/iris-run"), tmp_path) / "iris-run"
    past = _folder_of(longest + 1 - len("/iris-run"), tmp_path) / "iris-run"
    code, printed, err = cli(
        "train", "--dataset", "iris", "--steps", "1", "--out", str(past), "--log", "tensorboard"
    )
    assert (code, printed) == (2, "") and f"accepted paths of at most {longest} bytes" in err, err
    train_with_tracker(out, "tensorboard")
    written = [path.relative_to(out) for path in out.rglob("*")]
    assert any(path.name.startswith("events.out.tfevents.1") for path in written)
    assert max(len(os.fsencode(f"/{path}")) for path in written) <= room_below(out)
    seconds = [json.loads(line)["seconds"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert seconds[0] > 0 and seconds == sorted(seconds)  # wall time per line, for the by-time figures
    board = same_as_metrics_jsonl(out)
    events = board.Scalars("val_loss")
    (recipe,) = board.Tensors("recipe")  # the recipe, as a text summary
    assert recipe.tensor_proto.string_val[0].decode().startswith("| field | value |")
    assert "| model.name | mlp |" in recipe.tensor_proto.string_val[0].decode()
    # a null field is the default that trained (Adam's lr, as torch's Adam takes it), not 'None'
    adam_lr = inspect.signature(torch.optim.Adam).parameters["lr"].default
    assert f"| optimizer.lr | {adam_lr} |" in recipe.tensor_proto.string_val[0].decode()
    # the hyperparameters, read as TensorBoard's server and its HPARAMS tab read them: there were none
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator as Server
    from tensorboard.plugins.hparams import metadata

    server = Server(str(out / "tensorboard" / out.name))
    server.Reload()
    (content,) = server.PluginTagToContent(metadata.PLUGIN_NAME).values()
    hparams = metadata.parse_session_start_info_plugin_data(content).hparams
    assert hparams["optimizer.lr"].number_value == adam_lr and hparams["model.width"].number_value == 8
    assert hparams["optimizer.name"].string_value == "adam" and hparams["data.name"].string_value == "iris"
    assert "training.early_stopping_patience" not in hparams  # null: no value
    assert all(later.wall_time >= earlier.wall_time for earlier, later in itertools.pairwise(events))


def test_the_event_checksum_is_crc32c_masked_as_tensorboard_s_own():
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as theirs

    from optimlab.integrations.tensorboard import masked_crc32c

    # CRC-32C of "123456789" is 0xE3069283 (RFC 3720's check value); masked as a TFRecord's checksum.
    assert (
        masked_crc32c(b"123456789") == (((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    )
    for data in (b"", b"\x00", bytes(range(256)), b"optimlab" * 37):
        assert masked_crc32c(data) == theirs(data)


def test_sending_a_folder_without_a_study_creates_nothing_there(tmp_path):
    """log_study opened the storage as a writer does: a folder without a study was given an empty
    journal (and its lock file) before 'no optimlab study' was said."""
    from optimlab.errors import OptimlabError
    from optimlab.integrations import log_study

    (tmp_path / "empty").mkdir()
    for folder in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(OptimlabError, match="it holds no study.journal"):
            log_study(folder, "tensorboard", folder=tmp_path / "sent")
    assert list((tmp_path / "empty").iterdir()) == [] and not (tmp_path / "missing").exists()


def test_a_study_s_trials_go_to_tensorboard_one_run_each(tmp_path):
    from optimlab.integrations import log_study
    from optimlab.study import StudySpec, methods_from, run_study
    from optimlab.workloads import get_workload

    spec = StudySpec.for_workload(
        "s", get_workload("digits-mlp", epochs=1), methods_from("optimizer.name", ["adam"]), budget=1, seeds=1
    )
    result = run_study(spec, tmp_path / "study")
    assert log_study(tmp_path / "study", "tensorboard", folder=tmp_path) == len(result.records) == 2
    # sent again (after `compare --resume`): each trial's run is the one it had, its curve in it once
    assert log_study(tmp_path / "study", "tensorboard", folder=tmp_path) == 2
    assert len(list((tmp_path / "tensorboard").iterdir())) == 2
    for record in result.records:
        board = accumulated(tmp_path / "tensorboard" / f"{record.study}-{record.key}".replace("/", "-"))
        accuracy = board.Scalars("val_accuracy")
        assert [e.step for e in accuracy] == record.curve["step"]
        assert [e.value for e in accuracy] == pytest.approx(record.curve["val_accuracy"], rel=1e-6)
        # the scores the leaderboard ranks by (test_*), at the trial's last step: they were not sent
        tested = {k: v for k, v in record.metrics.items() if k.startswith("test_")}
        assert tested and record.steps == record.curve["step"][-1]
        for name, value in tested.items():
            assert [(e.step, e.value) for e in board.Scalars(name)] == [(record.steps, pytest.approx(value))]


def test_two_runs_of_one_name_in_one_folder_are_two_tensorboard_runs(tmp_path):
    """open_tracker('tensorboard', folder=f, run_name='r') twice (a script run twice, two runs at once):
    TensorBoard read both runs' event files as one run, steps 1, 2, 3, 1, 2, 3. The second is run 'r-2'
    (said in a warning as it starts), each holding its own steps, as TensorBoard's reader shows them."""
    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker

    first = open_tracker("tensorboard", folder=tmp_path, run_name="r", params={"lr": 0.1})
    second = open_tracker("tensorboard", folder=tmp_path, run_name="r", params={"lr": 0.2})
    taken = pytest.warns(OptimlabWarning, match="run 'r' .* holds another run already: this run is 'r-2'")
    for step in (1, 2, 3):
        for tracker, scale in ((first, 1.0), (second, 10.0)):
            tracker.log(step, float(step), {"loss": scale * step})
            with taken if (tracker, step) == (second, 1) else contextlib.nullcontext():
                tracker.flush()
    first.finish()
    second.finish()
    assert sorted(path.name for path in (tmp_path / "tensorboard").iterdir()) == ["r", "r-2"]
    for run, scale in (("r", 1.0), ("r-2", 10.0)):
        board = accumulated(tmp_path / "tensorboard" / run)
        assert [(e.step, e.value) for e in board.Scalars("loss")] == [(s, scale * s) for s in (1, 2, 3)]
    assert hparams_tab(tmp_path / "tensorboard") == {"r": {"lr": 0.1}, "r-2": {"lr": 0.2}}


def _killed_at_step_6_checkpointed_at_3(tmp_path):
    """A user's fit of a small regression logged to TensorBoard run 'r' in ``tmp_path``, killed at step 6,
    its state kept at step 3; returns ``go_on(tracker, total_steps)``: fit(state=...) from that state."""
    import dataclasses

    from optimlab.integrations import open_tracker
    from optimlab.train import fit

    class Checkpoint(Callback):
        def on_step_end(self, state):
            if state.step == 3:
                self.state = dataclasses.replace(state)

    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    common = {"loss_fn": torch.nn.functional.mse_loss, "batch_size": 16}
    checkpoint = Checkpoint()
    first = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    fit(model, optimizer, x, x.sum(1, keepdim=True), total_steps=6, callbacks=[first, checkpoint], **common)

    def go_on(tracker, total_steps):
        return fit(
            model, optimizer, x, x.sum(1, keepdim=True), total_steps=total_steps, state=checkpoint.state,
            callbacks=[tracker], **common,
        )  # fmt: skip

    return go_on


def test_a_users_loop_resumed_from_a_checkpoint_goes_on_in_its_run_each_step_once(tmp_path):
    """A user's fit killed at step 6, its checkpoint at step 3, resumed with fit(state=...) and a tracker
    of the same name in the same folder: it is that run going on, not a second one (r-2), and TensorBoard's
    reader shows steps 1 to 8 once each, steps 4 to 6 as trained again."""
    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker

    go_on = _killed_at_step_6_checkpointed_at_3(tmp_path)
    again = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)  # no run of its own: none said
        state = go_on(again, 8)
    assert state.step == 8 and [p.name for p in (tmp_path / "tensorboard").iterdir()] == ["r"]
    board = accumulated(tmp_path / "tensorboard" / "r")
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 9))
    assert [step for step, _ in served(tmp_path / "tensorboard" / "r")["train_loss"]] == list(range(1, 9))


def test_a_resume_goes_on_in_the_last_run_of_its_name_not_a_finished_one(tmp_path):
    """A script run to its end (run 'r', steps 1 to 10), run again (so 'r-2'), killed at step 6 with a
    checkpoint at 3, resumed with fit(state=...): the resume went into 'r', which TensorBoard's reader then
    showed as the first run's steps 1 to 3 and the second's 4 to 8, 'r-2' stopping at 6. It goes on in the
    last run of the name, 'r-2' (steps 1 to 8), 'r' kept whole, said in a warning naming it, at the user's
    call (this file), as the second run's warning is."""
    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker

    finished = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    for step in range(1, 11):
        finished.log(step, float(step), {"train_loss": 1.0})
    finished.finish()
    with pytest.warns(OptimlabWarning, match="this run is 'r-2'") as second:
        go_on = _killed_at_step_6_checkpointed_at_3(tmp_path)
    with pytest.warns(
        OptimlabWarning, match=r"has 2 runs \('r', 'r-2'\): .* goes on in the last, 'r-2'"
    ) as said:
        again = open_tracker("tensorboard", folder=tmp_path, run_name="r")
        again.load_state_dict({})  # a checkpoint written before the tracker's run was kept: as without one
        go_on(again, 8)
    assert again.log_dir.name == "r-2"
    assert [Path(w.filename).name for w in (*second, *said)] == [Path(__file__).name] * 2
    runs = {run: accumulated(tmp_path / "tensorboard" / run) for run in ("r", "r-2")}
    assert [e.step for e in runs["r"].Scalars("train_loss")] == list(range(1, 11))
    assert [e.step for e in runs["r-2"].Scalars("train_loss")] == list(range(1, 9))


def test_a_run_trained_on_by_a_second_fit_with_its_tracker_holds_every_step(tmp_path):
    """fit(..., total_steps=4, callbacks=[tracker]) then fit(..., total_steps=8, state=state, callbacks=
    [tracker]) (training on in the same process): the first fit's end closed the tracker's event file,
    and the second stopped at its first evaluation with 'ValueError: write to closed file'. It trains to
    the end, and TensorBoard's reader shows steps 1 to 8 in its run, as MLflow's tracker holds them."""
    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker
    from optimlab.train import fit

    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    common = {"loss_fn": torch.nn.functional.mse_loss, "batch_size": 16}
    open_tracker("tensorboard", folder=tmp_path, run_name="r").finish()  # an earlier run of the name
    tracker = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    with pytest.warns(OptimlabWarning, match="this run is 'r-2'"):
        state = fit(model, optimizer, x, x.sum(1, keepdim=True), total_steps=4, callbacks=[tracker], **common)
    state = fit(
        model, optimizer, x, x.sum(1, keepdim=True), total_steps=8, state=state, callbacks=[tracker], **common
    )
    assert state.step == 8 and tracker.closed
    board = accumulated(tmp_path / "tensorboard" / "r-2")  # its own run still: no resume of 'r'
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 9))
    assert accumulated(tmp_path / "tensorboard" / "r").Tags()["scalars"] == []


def test_a_text_logged_before_a_resumed_fit_goes_on_in_the_resumed_run(tmp_path):
    """A tracker of run 'r' given log_text before fit(state=...) from a checkpoint of 'r': the text chose
    its run, a run of its own (r-2) holding the text and steps 4 to 8, 'r' steps 1 to 6. The text waits for
    the run to start: it is 'r' going on, steps 1 to 8 once each and the text, as TensorBoard's reader
    (and its server's) shows them."""
    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker

    go_on = _killed_at_step_6_checkpointed_at_3(tmp_path)
    again = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    again.log_text("notes", "lr halved")
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)  # no run of its own: none said
        go_on(again, 8)
    assert [p.name for p in (tmp_path / "tensorboard").iterdir()] == ["r"] and again.log_dir.name == "r"
    board = accumulated(again.log_dir)
    (event,) = board.Tensors("notes")
    assert event.tensor_proto.string_val == [b"lr halved"]
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 9))
    assert [step for step, _ in served(again.log_dir)["train_loss"]] == list(range(1, 9))


def test_a_text_to_a_tracker_whose_run_is_known_is_read_back_at_once(tmp_path):
    """A text logged to a tracker of a given folder (its run known: nothing to wait for) is in its event
    file before the run starts or ends, as TensorBoard's reader shows it (a script's notes, read by a
    TensorBoard already serving the folder); 2cf5730 held it until then."""
    from optimlab.integrations.tensorboard import TensorBoardTracker

    tracker = TensorBoardTracker(tmp_path / "tensorboard" / "r", params={"lr": 0.1})
    tracker.log_text("notes", "lr halved")
    (event,) = accumulated(tmp_path / "tensorboard" / "r").Tensors("notes")
    assert event.tensor_proto.string_val == [b"lr halved"]


def test_a_text_to_a_tracker_apart_is_written_at_once_where_its_run_is_sure_else_said_if_lost(tmp_path):
    """open_tracker('tensorboard', folder=f, run_name='notes') and log_text, with no fit and no finish: the
    text was held for a run never started, and no file was left. Where no run of the name is there, the
    run is 'notes' whether it starts at step 0 or goes on from a checkpoint: the text is written at once,
    as TensorBoard's reader shows it. Where one is (its run undecided till it starts), a tracker dropped
    holding the text says that it was never written."""
    import gc

    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker

    tracker = open_tracker("tensorboard", folder=tmp_path, run_name="notes")
    tracker.log_text("notes", "lr halved")
    (event,) = accumulated(tmp_path / "tensorboard" / "notes").Tensors("notes")
    assert event.tensor_proto.string_val == [b"lr halved"]
    tracker.finish()
    undecided = open_tracker("tensorboard", folder=tmp_path, run_name="notes")
    undecided.log_text("later", "never started")
    with pytest.warns(OptimlabWarning, match="texts 'later' for run 'notes' .* were never written"):
        del undecided
        gc.collect()
    assert [p.name for p in (tmp_path / "tensorboard").iterdir()] == ["notes"]


def test_a_tracker_never_started_leaves_no_run_and_the_next_keeps_the_name(tmp_path):
    """open_tracker('tensorboard', ...) in a script that ends (or is killed, or fails) before its run starts
    left an empty event file, which TensorBoard lists as run 'r': the next run of the name was 'r-2'. It
    leaves none (TensorBoard's EventMultiplexer lists no run), and the next run is 'r', said in no warning."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker

    def runs():
        multiplexer = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "tensorboard"))
        multiplexer.Reload()
        return sorted(multiplexer.Runs())

    unused = open_tracker("tensorboard", folder=tmp_path, run_name="r", params={"lr": 0.1})
    del unused  # the script ended before its fit
    assert runs() == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)
        tracker = open_tracker("tensorboard", folder=tmp_path, run_name="r", params={"lr": 0.2})
        tracker.log(1, 1.0, {"loss": 0.5})
        tracker.finish()
    assert runs() == ["r"] and tracker.log_dir.name == "r"
    assert [(e.step, e.value) for e in accumulated(tracker.log_dir).Scalars("loss")] == [(1, 0.5)]


def test_a_run_killed_past_its_checkpoint_and_resumed_reads_back_as_its_metrics_jsonl(tmp_path):
    """Killed at step 8 with the evaluation of step 6 sent and its checkpoint at step 5, then resumed:
    steps 6 to 8 are trained and sent again, and TensorBoard shows each step once, as metrics.jsonl."""
    from optimlab.integrations import open_tracker
    from optimlab.recipe import Recipe
    from optimlab.train import train
    from optimlab.train.loop import Callback

    class Killed(Callback):
        def on_step_end(self, state):
            if state.step == 8:
                raise SystemExit("killed")

    recipe = Recipe.from_dict(
        {"data": {"name": "iris"}, "model": {"width": 8},
         "training": {"steps": 12, "batch_size": 32, "checkpoint_every": 5}}
    )  # fmt: skip
    out = tmp_path / "run"
    for callbacks in ([Killed()], []):
        tracker = open_tracker("tensorboard", folder=out, run_name="run", params=recipe.to_dict())
        with contextlib.suppress(SystemExit):
            train(recipe, out, resume=not callbacks, callbacks=[tracker, *callbacks])
    assert len(list((out / "tensorboard" / "run").iterdir())) == 2
    assert [e.step for e in same_as_metrics_jsonl(out).Scalars("val_loss")] == [3, 6, 9, 12]


def test_a_run_sent_again_by_report_shows_each_step_once(tmp_path):
    out = tmp_path / "iris-run"
    train_with_tracker(out, "tensorboard")
    with pytest.raises(SystemExit) as done:
        main(["report", str(out), "--log", "tensorboard"])
    assert done.value.code == 0 and len(list((out / "tensorboard" / out.name).iterdir())) == 2
    same_as_metrics_jsonl(out)


class KilledAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step:
            raise SystemExit("killed")


# Each session of a 12-step run: (whether it logs to TensorBoard, the step it is killed at, or None).
RESUMED_SESSIONS = {
    "killed with steps unwritten": [(True, 11), (True, None)],
    "a session without the tracker": [(True, 7), (False, 11), (True, None)],
    "killed before its first checkpoint": [(True, 4), (True, None)],  # steps 1 to 3 showed twice
}


@pytest.mark.parametrize("how", RESUMED_SESSIONS)
def test_a_resumed_run_adds_the_steps_its_event_files_lack(tmp_path, how):
    """Killed at step 11 with its checkpoint at step 10 and steps 9 and 10 not yet written (they wait
    for the next evaluation), then resumed at 10: TensorBoard lacked steps 9 and 10 for good, and the
    steps of a session resumed without the tracker (train --resume without --log) once a later one logs
    again. Now the event files hold metrics.jsonl step for step, and the recipe once."""
    from optimlab.integrations import open_tracker
    from optimlab.recipe import Recipe
    from optimlab.train import train

    recipe = Recipe.from_dict(
        {"data": {"name": "iris"}, "model": {"width": 8},
         "training": {"steps": 12, "batch_size": 32, "checkpoint_every": 5}}
    )  # fmt: skip
    out = tmp_path / "run"
    for number, (logs, killed_at) in enumerate(RESUMED_SESSIONS[how]):
        callbacks = [KilledAt(killed_at)]
        if logs:
            params = recipe.to_dict()
            callbacks.append(
                open_tracker("tensorboard", folder=out, run_name="run", params=params, resumable=True)
            )
        with contextlib.suppress(SystemExit):
            train(recipe, out, resume=number > 0, callbacks=callbacks)
    board = same_as_metrics_jsonl(out)
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 13))
    assert [e.step for e in board.Tensors("recipe")] == [0]
    walls = [e.wall_time for e in board.Scalars("train_loss")]
    assert walls == sorted(walls)


def test_a_recipe_changed_on_resume_is_shown_from_the_step_it_took_effect(tmp_path):
    """A recipe changed on resume (--epochs) was a second text at step 0, as if the run had trained by it
    from the start; now it is written at the first step the resumed session trains."""
    from types import SimpleNamespace

    from optimlab.integrations.tensorboard import TensorBoardTracker

    folder = tmp_path / "tensorboard"
    for params, steps in (({"training.epochs": 2}, range(1, 6)), ({"training.epochs": 3}, range(6, 9))):
        tracker = TensorBoardTracker(folder, params=params)
        tracker.on_train_start(SimpleNamespace(step=steps[0] - 1))
        for step in steps:
            tracker.log(step, 1.7e9 + step, {"train_loss": 1.0 / step})
        tracker.finish()
    board = accumulated(folder)
    recipes = [(e.step, e.tensor_proto.string_val[0].decode()) for e in board.Tensors("recipe")]
    assert [
        (step, "training.epochs | 2" in text, "training.epochs | 3" in text) for step, text in recipes
    ] == [
        (0, True, False),
        (6, False, True),
    ]
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 9))


def test_a_study_of_the_users_objects_goes_to_tensorboard_from_another_session(tmp_path, forked_parents):
    """optimlab.compare(data=(x, y)) names its data '<data>', an object of the session that ran it:
    log_study in another process refused the study ('unknown dataset <data>'), though it only sends the
    stored trials (`optimlab report --log` got by only because its page had read the study first). The
    other process is forked by a parent that imported optimlab and ran nothing."""
    import os

    import torch

    import optimlab

    x = torch.randn(90, 3, generator=torch.Generator().manual_seed(0))
    done = optimlab.compare(
        ["sgd"], data=(x, (x[:, 0] > 0).long()), budget=1, seeds=1, epochs=1, out=tmp_path
    )
    send = f"from optimlab.integrations import log_study; print(log_study({str(tmp_path)!r}, 'tensorboard', folder={str(tmp_path)!r}))"
    (tmp_path / "send-output").mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    code, out, err = forked_parents().run([], tmp_path, env, tmp_path / "send-output", 300, source=send)
    (result,) = done.results
    assert code == 0 and out.split() == [str(len(result.records))], err
    for record in result.records:
        board = accumulated(tmp_path / "tensorboard" / f"{record.study}-{record.key}".replace("/", "-"))
        assert [e.step for e in board.Scalars("val_accuracy")] == record.curve["step"]


def test_the_recipe_table_shows_each_value_as_it_is_in_tensorboards_text_plugin(tmp_path):
    """A value's pipe ended its cell (what followed it was lost), a line break its row, and markdown
    read a path's __init__ as a bold 'init'."""
    from html.parser import HTMLParser

    from tensorboard.plugin_util import markdown_to_safe_html

    from optimlab.integrations import open_tracker

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = ""
            elif tag == "br":
                self.cell += "\n"

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.rows[-1].append(self.cell)
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    params = {
        "data.path": "/data/__init__/a|b.csv",
        "model.factory": "nets:build_*wide*",
        "note": "first line\nsecond `line` [x](y) back\\slash",
        "optimizer.lr": 0.001,
    }
    tracker = open_tracker("tensorboard", folder=tmp_path, run_name="ü run", params=params)
    tracker.finish()
    (recipe,) = accumulated(tracker.log_dir).Tensors("recipe")
    cells = Cells()
    cells.feed(markdown_to_safe_html(recipe.tensor_proto.string_val[0]))  # as its text plugin renders it
    assert cells.rows == [["field", "value"], *([k, str(v)] for k, v in params.items())]


def test_train_resumed_without_log_goes_on_logging_to_the_runs_tracker(tmp_path):
    """`train --resume` without --log sent nothing: TensorBoard showed the run ended at its first
    session's last step while metrics.jsonl went on; a resumed run logs to the trackers it logged to."""
    out = tmp_path / "iris-run"
    train_with_tracker(out, "tensorboard")
    first = json.loads((out / "result.json").read_text())
    with pytest.raises(SystemExit) as done:
        main(["train", "--resume", str(out), "--steps", "20", "--no-progress"])
    assert done.value.code == 0
    board = same_as_metrics_jsonl(out, first)
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 21))


def test_a_tracker_added_on_resume_gets_the_test_scores_of_the_session_before(tmp_path):
    """A run trained without a tracker, then resumed with `--log tensorboard`: the new tracker was sent
    metrics.jsonl up to the checkpoint, but not the test scores the first session ended with (its
    result.json's, at step 12), which a tracker there from the start holds. Now it holds the whole run."""
    out = tmp_path / "iris-run"
    with pytest.raises(SystemExit) as done:
        main(["train", "--dataset", "iris", "--width", "8", "--steps", "12", "--batch-size", "32",
              "--out", str(out), "--no-progress"])  # fmt: skip
    assert done.value.code == 0
    first = json.loads((out / "result.json").read_text())
    with pytest.raises(SystemExit) as done:
        main(["train", "--resume", str(out), "--steps", "20", "--no-progress", "--log", "tensorboard"])
    assert done.value.code == 0
    board = same_as_metrics_jsonl(out, first)
    assert [e.step for e in board.Scalars("test_loss")] == [12, 20]


def test_a_tracker_added_on_a_third_session_gets_the_test_scores_of_every_session_before(tmp_path):
    """Trained to 12, resumed to 20, both without a tracker, then resumed to 28 with `--log tensorboard`:
    the second session's start deleted the first's result.json, so the tracker lacked its test scores
    at step 12. Each ended session's result is kept (sessions.jsonl); the tracker holds the whole run,
    each session's test scores at its last step, each point once, as TensorBoard's reader reads it."""
    out = tmp_path / "iris-run"
    ended = train_three_sessions(out, "tensorboard")
    board = same_as_metrics_jsonl(out, *ended[:-1])
    for tag in ("test_loss", "test_accuracy"):
        assert [e.step for e in board.Scalars(tag)] == [12, 20, 28]
        assert [e.value for e in board.Scalars(tag)] == pytest.approx([e["metrics"][tag] for e in ended])
    assert [step for step, _ in served(out / "tensorboard" / out.name)["test_loss"]] == [12, 20, 28]


def test_a_run_folder_moved_and_resumed_goes_on_in_its_tensorboard_run(tmp_path):
    """A run folder renamed (or moved) and resumed: its TensorBoard run was named after the folder, so
    the resumed session began another beside it, `tensorboard --logdir moved/tensorboard` showing two
    runs, the first session's steps in both and the second's test scores in one only."""
    first = tmp_path / "iris-run"
    train_with_tracker(first, "tensorboard")
    done = json.loads((first / "result.json").read_text())
    out = first.rename(tmp_path / "moved")
    with pytest.raises(SystemExit) as resumed:
        main(["train", "--resume", str(out), "--steps", "20", "--no-progress"])
    assert resumed.value.code == 0
    assert [p.name for p in (out / "tensorboard").iterdir()] == [first.name]
    board = same_as_metrics_jsonl(out, done, name=first.name)
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 21))


def hparams_tab(logdir):
    """``run -> {name: value}`` of TensorBoard's HPARAMS tab over ``logdir``: its hparams backend's
    session groups (list_session_groups, what the tab requests), read from the server's multiplexer."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    board = base_plugin.TBContext(logdir=str(logdir), multiplexer=multiplexer, data_provider=provider)
    request = api_pb2.ListSessionGroupsRequest(
        allowed_statuses=[api_pb2.STATUS_UNKNOWN, api_pb2.STATUS_SUCCESS, api_pb2.STATUS_RUNNING],
        slice_size=100,
    )
    handler = list_session_groups.Handler(
        context.RequestContext(), backend_context.Context(board), "", request
    )
    return {
        group.name: {name: getattr(v, v.WhichOneof("kind")) for name, v in group.hparams.items()}
        for group in handler.run().session_groups
    }


def _tensorboard_tracker(folder, params, opened):
    """A TensorBoard tracker of run ``run`` in ``folder``, ``opened`` through open_tracker (``params``,
    flat, nested by their first dot as a recipe's to_dict()) or built directly by a user's own loop."""
    from optimlab.integrations import open_tracker
    from optimlab.integrations.tensorboard import TensorBoardTracker

    if opened == "constructor":
        return TensorBoardTracker(folder / "tensorboard" / "run", params=params)
    nested = {}
    for field, value in params.items():
        section, _, key = field.partition(".")
        nested.setdefault(section, {})[key] = value
    return open_tracker("tensorboard", folder=folder, run_name="run", params=nested)


@pytest.mark.parametrize("opened", ["open_tracker", "constructor"])
def test_numpy_and_torch_values_of_the_params_are_the_numbers_they_hold(tmp_path, opened):
    """A user's params of NumPy and torch values (betas [np.float64(0.9), 0.99], lr torch.tensor(0.1))
    raised yaml's RepresenterError as the tracker opened, and np.int64 / a tensor reached the HPARAMS tab
    as text ('tensor(0.1000)'), not a number to sort runs by; each is now the Python value it holds
    (tracking.plain_values), through open_tracker and in a tracker built directly alike."""
    import numpy as np

    params = {
        "optimizer.betas": [np.float64(0.9), torch.tensor(0.99)],
        "optimizer.lr": torch.tensor(0.1),
        "training.steps": np.int64(12),
        "training.shuffle": np.bool_(True),
    }
    _tensorboard_tracker(tmp_path, params, opened).finish()
    shown = hparams_tab(tmp_path / "tensorboard")["run"]
    assert shown["optimizer.lr"] == pytest.approx(0.1) and shown["training.steps"] == 12
    assert shown["training.shuffle"] is True
    assert shown["optimizer.betas"] == f"[0.9, {torch.tensor(0.99).item()}]"


def test_params_yaml_cannot_write_are_shown_as_their_text(tmp_path):
    """A user's data files [Path('a.csv'), ...] raised yaml's RepresenterError as the tracker opened, a
    named tuple a TypeError; each value is its text in the HPARAMS tab, a list of them as the recipe's
    YAML writes their texts."""
    import collections

    from optimlab.integrations import open_tracker

    shape = collections.namedtuple("Shape", "width depth")(8, 2)
    path = Path("/data/train.csv")
    params = {"data": {"path": path, "files": [path, Path("/data/val.csv")]}, "shape": shape}
    open_tracker("tensorboard", folder=tmp_path, run_name="run", params=params).finish()
    assert hparams_tab(tmp_path / "tensorboard")["run"] == {
        "data.path": str(path),
        "data.files": "[/data/train.csv, /data/val.csv]",
        "shape": str(shape),
    }


def test_the_hparams_tab_shows_the_recipe_a_resumed_run_finished_with(tmp_path):
    """`train --resume --steps 20` of a 12-step run: the HPARAMS tab showed training.steps 12, the
    first session's, for TensorBoard keeps a tag's first summary metadata (plugin_event_accumulator,
    'We only store the first instance of the metadata'), and the tab reads the hyperparameters there.
    The first session's recipe is still the text at step 0."""
    out = tmp_path / "iris-run"
    train_with_tracker(out, "tensorboard")
    assert hparams_tab(out / "tensorboard")[out.name]["training.steps"] == 12
    for steps in (20, 24):
        with pytest.raises(SystemExit) as done:
            main(["train", "--resume", str(out), "--steps", str(steps), "--no-progress"])
        assert done.value.code == 0
        (shown,) = hparams_tab(out / "tensorboard").values()
        assert shown["training.steps"] == steps and shown["optimizer.name"] == "adam"
    board = accumulated(out / "tensorboard" / out.name)
    recipes = [(e.step, e.tensor_proto.string_val[0].decode()) for e in board.Tensors("recipe")]
    assert [(step, "| training.steps | 12 |" in text) for step, text in recipes] == [
        (0, True),
        (13, False),
        (21, False),
    ]
    assert "| training.steps | 24 |" in recipes[-1][1]
    assert [e.step for e in board.Scalars("train_loss")] == list(range(1, 25))


@pytest.mark.parametrize("blocking", ["tensorboard", "tensorboard/run", "link"])
def test_a_file_where_the_event_folder_goes_is_named_in_one_line_before_training(tmp_path, cli, blocking):
    """A file at run/tensorboard (or at its run's folder in it): train --log tensorboard ended with the
    bare OSError, "'run/tensorboard/run': Not a directory", naming neither the file nor a fix. The tracker
    names the file and the fix (open_tracker, as a user's script or doctor --log opens it); train refuses
    such an --out in one line before any training (since f77b2d0, for the files it holds)."""
    from optimlab.errors import OptimlabError
    from optimlab.integrations import open_tracker

    out = tmp_path / "run"
    what = "a file, not a folder"
    if (
        blocking == "link"
    ):  # a symbolic link to nothing where the folder goes: no file, as atomic.Blocked says
        out.mkdir()
        (out / "tensorboard").symlink_to(tmp_path / "gone")
        blocking, what = "tensorboard", f"a symbolic link to {str(tmp_path / 'gone')!r}, which does not exist"
    else:
        (out / blocking).parent.mkdir(parents=True, exist_ok=True)
        (out / blocking).write_text("")
    with pytest.raises(OSError):  # what the file system says, making that folder
        (out / "tensorboard" / "run").mkdir(parents=True, exist_ok=True)
    said = (
        f"TensorBoard's event folder '{out / 'tensorboard' / 'run'}' cannot be made: "
        f"'{out / blocking}' is {what}; move it, or log to another folder"
    )
    with pytest.raises(OptimlabError) as raised:
        open_tracker("tensorboard", folder=out, run_name="run")
    assert str(raised.value) == said
    code, _, err = cli(
        "train", "--dataset", "iris", "--steps", "3", "--out", str(out), "--no-progress", "--log", "tensorboard"
    )  # fmt: skip
    (line,) = err.splitlines()
    assert code == 2 and not (out / "model.pt").exists()
    shown = "tensorboard/" if (out / "tensorboard").is_dir() else "tensorboard"  # a folder with its slash
    assert line.startswith("error: ") and f"'{out}' holds other files ({shown}): give a new or empty" in line


@pytest.mark.parametrize("raises", ["at_build", "in_forward"])
def test_a_start_that_fails_before_training_leaves_no_event_folder_a_rerun_trips_on(
    tmp_path, cli, monkeypatch, raises
):
    """train --log tensorboard whose model raised as it was built left OUT/tensorboard/OUT (the tracker made
    its folder as it was opened), and the corrected command into the same --out was refused: "'OUT' holds
    other files (tensorboard)"; so did one whose forward raised at the first batch (refused by the loop's
    check of it), leaving an event file of no step, where the run's own files were removed. A run that
    failed before its first step leaves nothing there: the tracker makes its folder at its first event, and
    removes the file and folders it made where it wrote no record."""
    module = f"nets_{raises}"
    (tmp_path / f"{module}.py").write_text(
        "import torch\n"
        "class Broken(torch.nn.Linear):\n"
        "    def forward(self, x):\n        raise RuntimeError('no such layer')\n"
        "def broken(**kwargs):\n"
        + (
            "    raise RuntimeError('no such layer')\n"
            if raises == "at_build"
            else "    return Broken(4, 3)\n"
        )
        + "def fixed(**kwargs):\n    return torch.nn.Linear(4, 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run"
    command = ["train", "--dataset", "iris", "--steps", "3", "--out", str(out), "--no-progress", "--log", "tensorboard"]  # fmt: skip
    code, _, err = cli(*command, "--model", f"{module}:broken")
    assert code == 2 and "no such layer" in err
    assert not out.exists() or not any(out.iterdir())
    code, _, err = cli(*command, "--model", f"{module}:fixed")
    assert code == 0, err
    assert [e.step for e in accumulated(out / "tensorboard" / "run").Scalars("train_loss")] == [1, 2, 3]


def test_a_resume_goes_on_in_the_run_its_checkpoint_was_logged_to_where_two_scripts_interleave(tmp_path):
    """Script A logs run 'r' and is stopped at step 6, its checkpoint (save_checkpoint with its tracker)
    at 3; script B, started meanwhile, logs 'r-2' to its end. A resumed from its checkpoint went on in the
    last run of the name, 'r-2' (B's steps 4 to 10 replaced by A's), and 'r' stopped at 6. The checkpoint
    keeps the run its tracker logged to: TensorBoard's reader shows A's steps 1 to 8 in 'r', continuous,
    and B's 1 to 10 in 'r-2' as B wrote them."""
    from optimlab.errors import OptimlabWarning
    from optimlab.integrations import open_tracker
    from optimlab.train import fit
    from optimlab.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    common = {"loss_fn": torch.nn.functional.mse_loss, "batch_size": 16}

    class CheckpointAt3StopAt6(Callback):
        def __init__(self, model, optimizer, trackers):
            self.model, self.optimizer, self.trackers = model, optimizer, trackers

        def on_step_end(self, state):
            if state.step == 3:
                save_checkpoint(
                    tmp_path / "a", model=self.model, optimizer=self.optimizer, scheduler=None, state=state,
                    callbacks=self.trackers,
                )  # fmt: skip
            if state.step == 6:
                state.stop_reason = "interrupted"

    (tmp_path / "a").mkdir()
    model_a = torch.nn.Linear(3, 1)
    optimizer_a = torch.optim.SGD(model_a.parameters(), lr=0.1)
    tracker_a = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    stop = CheckpointAt3StopAt6(model_a, optimizer_a, [tracker_a])
    fit(model_a, optimizer_a, x, x.sum(1, keepdim=True), total_steps=8, callbacks=[tracker_a, stop], **common)
    model_b = torch.nn.Linear(3, 1)
    tracker_b = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    with pytest.warns(OptimlabWarning, match="this run is 'r-2'"):
        fit(model_b, torch.optim.SGD(model_b.parameters(), lr=0.1), x, x.sum(1, keepdim=True), total_steps=10, callbacks=[tracker_b], **common)  # fmt: skip

    again = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    state = load_checkpoint(
        read_checkpoint(tmp_path / "a"),
        model=model_a,
        optimizer=optimizer_a,
        scheduler=None,
        callbacks=[again],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)  # its own run, no guess said
        fit(model_a, optimizer_a, x, x.sum(1, keepdim=True), total_steps=8, state=state, callbacks=[again], **common)  # fmt: skip
    assert again.log_dir == tmp_path / "tensorboard" / "r"
    runs = {run: accumulated(tmp_path / "tensorboard" / run) for run in ("r", "r-2")}
    assert [e.step for e in runs["r"].Scalars("train_loss")] == list(range(1, 9))
    assert [e.step for e in runs["r-2"].Scalars("train_loss")] == list(range(1, 11))
    assert [step for step, _ in served(tmp_path / "tensorboard" / "r")["train_loss"]] == list(range(1, 9))


def test_an_event_folder_that_cannot_be_written_is_refused_as_the_tracker_opens(tmp_path):
    """A tracking folder the user cannot write (read-only): the tracker, which makes its event folder at
    its first event, opened without a word and failed at training's start; it is refused as it opens,
    before any training, naming the folder and the OS's reason (its strerror making a folder there, which
    the line lacked). Root writes a folder of mode 555 anyway: there, /proc/sys, which the kernel keeps
    unwritable to root too, is the folder."""
    from optimlab.errors import OptimlabError
    from optimlab.integrations import open_tracker

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # the OS lets this user (root) write there
            locked = Path("/proc/sys")
        if os.access(locked, os.W_OK) or not locked.is_dir():
            pytest.skip("no folder this user cannot write")
        with pytest.raises(OSError) as refused:  # what the file system says, making the folder
            (locked / "run").mkdir()
        with pytest.raises(OptimlabError) as raised:
            open_tracker("tensorboard", folder=locked / "run", run_name="run")
        assert str(raised.value) == (
            f"TensorBoard's event folder '{locked / 'run' / 'tensorboard' / 'run'}' cannot be made: "
            f"'{locked}' cannot be written ({refused.value.strerror}); log to another folder"
        )
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_a_fine_tune_from_another_runs_checkpoint_logs_a_run_of_its_own_name(tmp_path):
    """A fine-tune ``open_tracker(run_name="ft")`` loading a checkpoint saved from run 'r' went on in 'r'
    (the checkpoint's run, whatever the name given), its restart hiding r's own steps past the checkpoint.
    A checkpoint's run is taken only where it is of the tracker's name (NAME or NAME-k); otherwise the run
    is 'ft', holding the fine-tune's steps 4 to 6, and 'r' keeps its steps 1 to 6 as it wrote them."""
    from optimlab.integrations import open_tracker
    from optimlab.train import fit
    from optimlab.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint

    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    common = {"loss_fn": torch.nn.functional.mse_loss, "batch_size": 16}

    class CheckpointAt3(Callback):
        def __init__(self, model, optimizer, trackers):
            self.model, self.optimizer, self.trackers = model, optimizer, trackers

        def on_step_end(self, state):
            if state.step == 3:
                save_checkpoint(
                    tmp_path / "ck", model=self.model, optimizer=self.optimizer, scheduler=None, state=state,
                    callbacks=self.trackers,
                )  # fmt: skip

    (tmp_path / "ck").mkdir()
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    save = CheckpointAt3(model, optimizer, [tracker])
    fit(model, optimizer, x, x.sum(1, keepdim=True), total_steps=6, callbacks=[tracker, save], **common)
    r_losses = [e.value for e in accumulated(tmp_path / "tensorboard" / "r").Scalars("train_loss")]

    fine_tune = open_tracker("tensorboard", folder=tmp_path, run_name="ft")
    state = load_checkpoint(
        read_checkpoint(tmp_path / "ck"),
        model=model,
        optimizer=optimizer,
        scheduler=None,
        callbacks=[fine_tune],
    )
    fit(
        model,
        optimizer,
        x,
        x.sum(1, keepdim=True),
        total_steps=6,
        state=state,
        callbacks=[fine_tune],
        **common,
    )
    assert fine_tune.log_dir == tmp_path / "tensorboard" / "ft"
    r = accumulated(tmp_path / "tensorboard" / "r").Scalars("train_loss")
    assert [(e.step, e.value) for e in r] == list(zip(range(1, 7), r_losses, strict=True))
    assert [step for step, _ in served(tmp_path / "tensorboard" / "r")["train_loss"]] == list(range(1, 7))
    assert [e.step for e in accumulated(tmp_path / "tensorboard" / "ft").Scalars("train_loss")] == [4, 5, 6]


def test_a_tracker_whose_writes_fail_while_training_stops_and_training_goes_on(tmp_path):
    """A full disk under the event folder: the tracker's write at an evaluation raised OSError out of
    fit, the run lost past its last checkpoint. Files are limited to 1,200 bytes (RLIMIT_FSIZE: a write
    past it fails with EFBIG, as one on a full disk with ENOSPC), in a forked child that writes no other
    file. Training goes on: its weights are those of the same fit without the tracker; the tracker said
    why in a warning, wait() raises it, the state fit returns keeps it (a warning filtered out said it
    nowhere else), and it names the first record TensorBoard's reader lacks (it named the step of the
    failed hand-over, records before it lost too; a batch the OS refused midway was partly in the file);
    no run folder, so no `optimlab report` to send them again."""
    import resource
    import signal

    from integrations import exit_code, forked
    from optimlab.integrations.tensorboard import TensorBoardTracker
    from optimlab.train import fit

    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = x.sum(1, keepdim=True)

    def trained(callbacks):
        model = torch.nn.Linear(3, 1)
        torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
        state = fit(
            model, torch.optim.SGD(model.parameters(), lr=0.05), x, y, loss_fn=torch.nn.functional.mse_loss,
            batch_size=16, total_steps=40, val_data=(x, y), eval_every=5, callbacks=callbacks,
        )  # fmt: skip
        return state.step, [*model.weight.tolist(), model.bias.tolist()], state.tracker_failures

    def with_tracker():
        tracker = TensorBoardTracker(tmp_path / "tb")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails, rather than the signal killing
        limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_200, limits[1]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            steps, weight, failures = trained([tracker])
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        try:
            tracker.wait()
            raised = None
        except Exception as error:
            raised = str(error)
        said = [str(w.message) for w in caught]
        (tmp_path / "done.json").write_text(json.dumps([steps, weight, failures, said, raised]))

    *uninterrupted, no_failures = trained([])  # first: the child starts with what its fit imported
    assert exit_code(forked(with_tracker, tmp_path)) == 0
    steps, weight, failures, said, raised = json.loads((tmp_path / "done.json").read_text())
    assert [steps, weight] == uninterrupted and no_failures == []
    written = [e.step for e in accumulated(tmp_path / "tb").Scalars("train_loss")]
    assert 0 < len(written) < 40 and written == list(range(1, len(written) + 1))
    assert raised == (
        f"TensorBoard stopped logging run 'tb': {tmp_path / 'tb'} cannot be written (File too large); "
        f"records from the one of step {written[-1] + 1} (train_loss, lr) on not written, and training went "
        "on without it"
    )
    assert said == [raised] and failures == [raised]


def test_train_whose_tracker_stops_keeps_its_run_and_says_why_once(tmp_path, cli, monkeypatch):
    """`optimlab train --log tensorboard` whose event file cannot be written from step 7 on (the OS's
    ENOSPC, as on a full disk): the run trains its 12 steps, result.json and metrics.jsonl whole; the
    command prints its result (--format json: the document, which was missing, now with "trackers"), then
    says why in one line (not also as a warning), naming the first record lost and the command that
    sends the run again, and exits 4 (it exited 2, a bad call or input in `optimlab -h`); TensorBoard's
    reader reads the steps written before."""
    import errno

    from optimlab.cli.train_cmd import TRACKER_FAILED
    from optimlab.integrations.tensorboard import TensorBoardTracker

    written = TensorBoardTracker.write

    def full_from_step_7(self, records):
        if any(step >= 7 for step, _, _ in records):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written(self, records)

    monkeypatch.setattr(TensorBoardTracker, "write", full_from_step_7)
    out = tmp_path / "run"
    code, printed, err = cli(
        "train", "--dataset", "iris", "--width", "8", "--steps", "12", "--batch-size", "32",
        "--out", str(out), "--no-progress", "--log", "tensorboard", "--format", "json",
    )  # fmt: skip
    assert code == TRACKER_FAILED == 4
    said = [line for line in err.splitlines() if "TensorBoard stopped logging run 'run'" in line]
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "completed" and result["steps"] == 12
    document = json.loads(printed)
    assert {k: v for k, v in document.items() if k in result} == result
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert sorted({line["step"] for line in lines if "train_loss" in line}) == list(range(1, 13))
    shown = [e.step for e in accumulated(out / "tensorboard" / "run").Scalars("train_loss")]
    assert 3 <= len(shown) < 7 and shown == list(range(1, len(shown) + 1))  # handed over at evaluations
    assert said == [
        f"error: TensorBoard stopped logging run 'run': {out / 'tensorboard' / 'run'} cannot be written (No "
        f"space left on device); records from the one of step {shown[-1] + 1} (train_loss, lr) on "
        f"not written, and training went on without it; optimlab report {out} --log tensorboard sends the "
        "run's metrics.jsonl again"
    ], err
    assert document["tracker_failures"] == {"tensorboard": said[0].removeprefix("error: ")}
    assert document["trackers"] == {"tensorboard": str(out / "tensorboard" / "run")}  # as doctor's


def test_a_run_into_out_dot_is_named_after_its_folder_and_no_run_name_leaves_the_tensorboard_folder(
    tmp_path, cli, monkeypatch
):
    """`train --out . --log tensorboard` named its run '' (the name of '.'), writing the events into
    tensorboard/ itself; `report . --log tensorboard` raised ValueError ('.' has an empty name) writing
    its page; open_tracker took run_name '/abs' or '../x' for a folder outside it. The run is named after
    the folder ('.' made absolute), as any other --out, and `report .` sends it into that one run; a
    run_name that is no name inside tensorboard/ is refused. Truth: TensorBoard's reader."""
    from optimlab.integrations import open_tracker

    folder = tmp_path / "my run"
    folder.mkdir()
    monkeypatch.chdir(folder)
    code, _, err = cli(
        "train", "--dataset", "iris", "--steps", "2", "--out", ".", "--no-progress", "--log", "tensorboard"
    )
    assert code == 0, err
    assert [path.name for path in (folder / "tensorboard").iterdir()] == ["my run"]
    assert [e.step for e in accumulated(folder / "tensorboard" / "my run").Scalars("train_loss")] == [1, 2]
    code, _, err = cli("report", ".", "--log", "tensorboard")  # a ValueError traceback: '.' has no name
    assert code == 0, err
    assert [path.name for path in (folder / "tensorboard").iterdir()] == ["my run"]
    for wrong in ["", ".", "/abs", "../x", "a/../.."]:
        with pytest.raises(InvalidValueError, match=f"^invalid value {wrong!r} for run_name: accepted"):
            open_tracker("tensorboard", folder=tmp_path / "other", run_name=wrong)
    assert not (tmp_path / "other").exists() and not (tmp_path / "x").exists()


def test_a_tensorboard_run_name_of_doubled_or_trailing_slashes_is_its_tidy_folder(tmp_path, cli):
    """169ee9d6 refused 'a//b' and 'exp/' (an empty part) for TensorBoard and MLflow alike, names that
    worked before. A TensorBoard run of 'exp/' or 'a//b' is the folder exp or a/b (truth: TensorBoard's
    reader of that folder). --out '/', whose run would be named '', is refused naming --out."""
    from optimlab.integrations import open_tracker

    for given, folder in (("exp/", "exp"), ("a//b", "a/b"), ("c/./d//", "c/d")):
        tracker = open_tracker("tensorboard", folder=tmp_path, run_name=given)
        tracker.log(1, 1.0, {"train_loss": 0.5})
        tracker.finish()
        assert [e.step for e in accumulated(tmp_path / "tensorboard" / folder).Scalars("train_loss")] == [1]
    assert sorted(p.name for p in (tmp_path / "tensorboard").iterdir()) == ["a", "c", "exp"]
    code, _, err = cli("train", "--dataset", "iris", "--steps", "2", "--out", "/", "--log", "tensorboard")
    assert code == 2 and err.startswith("error: Invalid value for '--out': '/' holds other files"), err


def test_a_session_start_the_event_folder_refuses_stops_the_tracker_not_fit(tmp_path):
    """A file put where the event folder goes, after the tracker opened: its session's start raised
    AttributeError ('int' object has no attribute 'tracker_failures') out of fit, the failure handed the
    step where the state was due. The tracker stops, fit trains every step, and the state says why and
    from which step the run lacks records. Truth: the weights of the same fit without a tracker."""
    from optimlab.integrations import TrackerStopped, open_tracker
    from optimlab.train import fit

    x = torch.randn(32, 3, generator=torch.Generator().manual_seed(0))

    def trained(callbacks):
        model = torch.nn.Linear(3, 1)
        torch.nn.init.zeros_(model.weight), torch.nn.init.zeros_(model.bias)
        state = fit(model, torch.optim.SGD(model.parameters(), lr=0.05), x, x.sum(1, keepdim=True),
                    loss_fn=torch.nn.functional.mse_loss, batch_size=8, total_steps=4, callbacks=callbacks)  # fmt: skip
        return state, model.weight.tolist()

    tracker = open_tracker("tensorboard", folder=tmp_path, run_name="r")
    (tmp_path / "tensorboard").write_text("in the way")
    with pytest.warns(TrackerStopped):
        state, weight = trained([tracker])
    assert state.step == 4 and weight == trained([])[1]
    (failure,) = state.tracker_failures
    assert failure.startswith("TensorBoard stopped logging run 'r'") and "is a file" in failure
    assert failure.endswith("every record from step 1 on not written, and training went on without it")
