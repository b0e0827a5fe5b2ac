"""Recipe runs end to end: accuracy on digits, output files, checkpoints, signals and resume (kills: test_faults)."""

import json
import os
import random
import shutil
import signal

import numpy as np
import pytest
import torch
from torch import nn

from optimlab.build import build
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.recipe import Recipe
from optimlab.schedules import create
from optimlab.train import Callback, train
from optimlab.train.checkpoint import CHECKPOINT_NAME, PREVIOUS_NAME, load_checkpoint, read_checkpoint

from .stops import SignalAt
from .user_modules import DICT_NET

SMALL = {
    "data": {"name": "digits", "scaling": "standardize"},
    "model": {"name": "mlp", "width": 64},
    "optimizer": {"name": "adam", "lr": 3e-3},
    "training": {"epochs": 3, "batch_size": 32},
}


def test_digits_mlp_learns_and_writes_its_outputs(tmp_path):
    result = train(Recipe.from_dict(SMALL), tmp_path / "run")
    assert result.status == "completed" and result.steps == 3 * 34  # 1,078 training rows / 32
    assert result.metrics["val_accuracy"] > 0.9 and result.metrics["test_accuracy"] > 0.9
    out = tmp_path / "run"
    assert Recipe.load(out / "recipe.yaml") == Recipe.from_dict(SMALL)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "train_loss" in line] == list(range(1, 103))
    assert [line["step"] for line in lines if "val_loss" in line] == [34, 68, 102]
    saved = torch.load(out / "model.pt", weights_only=False)
    assert "scaling.mean" in saved["model"] or any(k.startswith("scaling.") for k in saved["model"])
    assert json.loads((out / "result.json").read_text())["status"] == "completed"


def test_a_diverging_run_is_recorded_not_lost(tmp_path):
    recipe = Recipe.from_dict({**SMALL, "optimizer": {"name": "sgd", "lr": 1e6}})
    result = train(recipe, tmp_path / "run")
    assert result.status == "diverged" and "diverged" in result.message
    assert json.loads((tmp_path / "run" / "result.json").read_text())["status"] == "diverged"


# A model whose second training step has a finite loss and a NaN gradient (sqrt's at 0, as a norm's of
# a zero vector): its update leaves NaN weights, which only the next step's loss shows.
NAN_GRADIENT = """
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(64, 10)
        self.steps = 0

    def forward(self, x):
        out = self.lin(x)
        if self.training and x.shape[0] == 32:
            self.steps += 1
            if self.steps == 2:
                zero = (self.lin.weight - self.lin.weight.detach()).sum()
                out = out + 0.0 * zero.abs().sqrt()
        return out


def build(*args, **kwargs):
    return Net()
"""


def test_a_step_leaving_weights_not_finite_is_no_checkpoint_and_stops_the_run_there(write_modules, tmp_path):
    """A finite loss with a NaN gradient: its update left NaN weights, the step's checkpoint saved them
    (a resume could only diverge again), and the run stopped one step later blaming that step's loss.
    Truth: the update of step 2 is the first whose weights are not finite (torch.isfinite); the
    checkpoint is step 1's, its weights finite."""
    write_modules(optimlab_nan_gradient=NAN_GRADIENT)
    recipe = {
        **SMALL,
        "model": {"name": "optimlab_nan_gradient:build"},
        "optimizer": {"name": "sgd", "lr": 0.1},
    }
    recipe["training"] = {"steps": 6, "batch_size": 32, "checkpoint_every": 1}
    result = train(Recipe.from_dict(recipe), tmp_path / "run")
    assert result.status == "diverged" and result.steps == 2
    assert "the update of step 2 (lr 0.1) left weights that are not finite" in result.message
    checkpoint = read_checkpoint(tmp_path / "run")
    assert checkpoint["state"]["step"] == 1
    assert all(torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point())


def test_a_runs_weights_are_checked_once_a_checkpoint(monkeypatch, tmp_path):
    """The last step's weights were checked twice, by fit and again by the run's save, each parameter
    read back to the host apart. Truth: one check for each of the 3 checkpoints of a 3-step run
    (checkpoint_every 1), the last step's included."""
    from optimlab.train.loop import TrainState

    checked = []
    real = TrainState.stop_if_weights_diverged
    monkeypatch.setattr(
        TrainState,
        "stop_if_weights_diverged",
        lambda state, opt: checked.append(state.step) or real(state, opt),
    )
    recipe = {**SMALL, "training": {"steps": 3, "batch_size": 32, "checkpoint_every": 1}}
    assert train(Recipe.from_dict(recipe), tmp_path / "run").steps == 3
    assert checked == [1, 2, 3]


def test_a_run_with_nothing_held_out_says_so_instead_of_reporting_no_metrics():
    recipe = Recipe.from_dict({**SMALL, "data": {"name": "digits", "val_fraction": 0, "test_fraction": 0}})
    result = train(recipe.with_updates({"training.steps": 3}))
    assert result.status == "completed" and result.metrics == {}
    assert result.message.startswith("nothing held out to score: the validation and test splits hold no rows")


def test_early_stopping_without_a_validation_split_is_refused_before_any_work(tmp_path):
    """With data.val_fraction 0 there is no val_loss to watch: the run trained its first epoch, then
    stopped with a bare KeyError 'val_loss' (and left its folder behind)."""
    recipe = Recipe.from_dict(
        {
            **SMALL,
            "data": {"name": "digits", "val_fraction": 0},
            "training": {"epochs": 3, "early_stopping_patience": 2},
        }
    )
    with pytest.raises(
        InvalidValueError, match="invalid value 2 for training.early_stopping_patience: accepted None"
    ):
        train(recipe, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        # named loss: its 123.0 replaced the run's val_loss and test_loss, without a word
        (
            "metricmod:loss",
            "'metricmod:loss' for training.metrics: accepted a metric under a name of its own",
        ),
        ("other:f1", "'other:f1' for training.metrics: .*val_f1, another's"),  # one f1 replaced the other
        # a traceback from the user's code after the first epoch had trained
        (
            "metricmod:raises",
            r"metric 'metricmod:raises' raised ValueError: no positives \(metricmod.py, line",
        ),
        (
            "metricmod:nothing",
            "invalid value None for what metric 'metricmod:nothing' returned: accepted a number",
        ),
        ("metricmod:per_row", "'a float32 tensor of shape \\(30,\\)' for what metric 'metricmod:per_row'"),
    ],
)
def test_a_users_metric_that_would_replace_another_raises_or_gives_no_number_is_said_in_one_line(
    write_modules, metric, message
):
    write_modules(
        metricmod="""
        def f1(outputs, targets):
            return 0.5

        def loss(outputs, targets):
            return 123.0

        def raises(outputs, targets):
            raise ValueError("no positives")

        def nothing(outputs, targets):
            return None

        def per_row(outputs, targets):
            return outputs[:, 0]
        """,
        other="from metricmod import f1\n",
    )
    metrics = ["metricmod:f1", metric] if metric == "other:f1" else [metric]
    recipe = Recipe.from_dict({"data": {"name": "iris"}, "training": {"epochs": 1, "metrics": metrics}})
    with pytest.raises(OptimlabError, match=message) as error:
        train(recipe)
    assert "\n" not in str(error.value)


def test_a_recipes_metric_that_raises_is_said_before_the_first_step(write_modules, tmp_path):
    """A recipe's training.metrics entry that raised was found at the first evaluation, after a whole
    epoch (digits: 34 steps). Truth: no step reaches the callbacks, and the run folder keeps no run."""
    write_modules(earlymetric="def f1(outputs, targets):\n    raise ValueError('no positives')\n")
    recipe = Recipe.from_dict(
        {"data": {"name": "digits"}, "training": {"epochs": 3, "metrics": ["earlymetric:f1"]}}
    )
    steps = []
    counting = type("Counting", (Callback,), {"on_step_end": lambda self, state: steps.append(state.step)})()
    with pytest.raises(OptimlabError, match="metric 'earlymetric:f1' raised ValueError: no positives"):
        train(recipe, tmp_path / "run", callbacks=[counting])
    assert steps == [] and not (tmp_path / "run" / "metrics.jsonl").exists()


def test_an_existing_run_is_not_overwritten(tmp_path):
    recipe = Recipe.from_dict({**SMALL, "training": {"steps": 3}})
    train(recipe, tmp_path / "run")
    with pytest.raises(OptimlabError, match="already holds a run") as refused:
        train(recipe, tmp_path / "run")
    assert f"optimlab train --resume {tmp_path / 'run'}" in str(refused.value)  # a command to paste


def test_a_folder_of_other_files_is_refused_in_python_as_on_the_command_line(tmp_path):
    """train(recipe, folder) wrote its run into a folder of the user's files (their model.pt written
    over) or a comparison's (whose report.html `optimlab report` then wrote over, reading a run), where
    `optimlab train --out` refuses both. Hidden files (.gitkeep) are no one's work."""
    recipe = Recipe.from_dict({**TINY, "training": {"steps": 1}})
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "model.pt").write_bytes(b"the user's weights")
    (folder / "study.journal").write_text("{}\n")
    (folder / "train-abc").mkdir()  # a folder, said as one
    with pytest.raises(OptimlabError) as refused:
        train(recipe, folder)
    assert str(refused.value) == (
        f"out_dir {str(folder)!r} holds other files (model.pt, study.journal, train-abc/): give a new or "
        "empty folder (--out on the command line), or a run's folder to continue it with resume=True in "
        "Python (optimlab train --resume FOLDER)"
    )
    assert sorted(p.name for p in folder.iterdir()) == ["model.pt", "study.journal", "train-abc"]
    assert (folder / "model.pt").read_bytes() == b"the user's weights"
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / ".gitkeep").write_text("")
    assert train(recipe, tmp_path / "kept").status == "completed"


def test_bf16_autocast_runs_the_forward_pass_in_bfloat16(monkeypatch):
    import optimlab.train.run as run

    recipe = Recipe.from_dict({**SMALL, "training": {"steps": 30, "precision": "bf16"}})
    dtypes = []
    real_build = run.build

    def spying_build(recipe):
        built = real_build(recipe)
        linear = next(m for m in built.model.modules() if isinstance(m, torch.nn.Linear))
        linear.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        return built

    monkeypatch.setattr(run, "build", spying_build)
    result = train(recipe)
    assert result.status == "completed" and result.metrics["val_accuracy"] > 0.5
    assert dtypes[0] == torch.bfloat16  # training steps under autocast
    assert dtypes[-1] == torch.float32  # evaluation is not autocast


# Defaults meant for large models are slow here; these are the usual settings for a small MLP.
TUNED = {"sam": {"lr": 0.1, "options": {"base": "momentum", "rho": 0.05}}, "lion": {"lr": 3e-4}}


@pytest.mark.parametrize("optimizer", ["sam", "lookahead", "schedule_free_adamw", "muon", "lion"])
def test_every_kind_of_optimizer_trains_through_the_loop(optimizer):
    """SAM needs a closure, schedule-free evaluates at another point than it trains at."""
    recipe = Recipe.from_dict(
        {**SMALL, "optimizer": {"name": optimizer, **TUNED.get(optimizer, {})}, "training": {"epochs": 3}}
    )
    result = train(recipe)
    assert result.status == "completed" and result.metrics["val_accuracy"] > 0.6, result.metrics


def test_schedule_free_is_evaluated_at_its_averaged_point(monkeypatch):
    import optimlab.train.loop as loop

    recipe = Recipe.from_dict({**SMALL, "optimizer": {"name": "schedule_free_sgd", "lr": 0.5}})
    modes = []
    real_fit = loop.fit

    def watching_fit(model, optimizer, *args, evaluate, **kwargs):
        def watched():
            modes.append(optimizer.param_groups[0]["train_mode"])
            return evaluate()

        state = real_fit(model, optimizer, *args, evaluate=watched, **kwargs)
        modes.append(optimizer.param_groups[0]["train_mode"])
        return state

    import optimlab.train.run as run

    monkeypatch.setattr(run, "fit", watching_fit)
    assert train(recipe).status == "completed"
    assert modes and not any(modes)  # every evaluation and the final weights at the eval point


# --- checkpoints, interruption and resume ---------------------------------------------------------

TINY = {**SMALL, "model": {"name": "mlp", "width": 16}, "training": {"epochs": 3, "batch_size": 128}}


def weights(folder):
    return torch.load(folder / "model.pt", weights_only=True)["model"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_checkpoints_every_epoch_and_keeps_the_previous_checkpoint(tmp_path):
    train(Recipe.from_dict(TINY), tmp_path)
    latest = read_checkpoint(tmp_path)
    previous = torch.load(tmp_path / PREVIOUS_NAME, weights_only=True)
    assert latest["state"]["step"] == 27 and previous["state"]["step"] == 18  # 9 steps an epoch
    assert latest["recipe"] == Recipe.from_dict(TINY).to_dict()


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_cleanly_saves_and_the_resumed_run_ends_as_an_uninterrupted_one(tmp_path, number):
    recipe = Recipe.from_dict(TINY)
    handler = signal.getsignal(number)
    stopped = train(recipe, tmp_path / "run", callbacks=[SignalAt(13, number)])
    assert stopped.status == "interrupted" and stopped.steps == 13  # the step finished, no more
    assert f"optimlab train --resume {tmp_path / 'run'}" in stopped.message
    assert read_checkpoint(tmp_path / "run")["state"]["step"] == 13
    assert signal.getsignal(number) is handler and not (tmp_path / "run" / "model.pt").exists()
    resumed = train(recipe, tmp_path / "run", resume=True)
    assert resumed.status == "completed" and resumed.steps == 27
    train(recipe, tmp_path / "reference")
    assert same_weights(weights(tmp_path / "run"), weights(tmp_path / "reference"))


def test_a_run_started_with_sigint_ignored_leaves_it_ignored_and_trains_on(tmp_path):
    """A shell's background job (`optimlab train ... &`) starts with SIGINT ignored, so that a Ctrl-C meant
    for the foreground job leaves it running; StopOnSignal installed its handler over that and stopped
    the run, 'interrupted by SIGINT'. Truth: the signal ignored as the process found it, the run completed
    with the weights of an uninterrupted one."""
    recipe = Recipe.from_dict(TINY)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = train(recipe, tmp_path / "run", callbacks=[SignalAt(13, signal.SIGINT)])
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.status == "completed" and result.steps == 27
    train(recipe, tmp_path / "reference")
    assert same_weights(weights(tmp_path / "run"), weights(tmp_path / "reference"))


# `optimlab train` in a process started with SIGTERM ignored (`trap '' TERM; optimlab train ... &`), which
# sends itself SIGTERM after each step
_TRAIN_WITH_SIGTERM_IGNORED = """
import os, signal
import optimlab.train
from optimlab.cli.app import main

class TerminatedEachStep(optimlab.train.Callback):
    def __init__(self, *args, **kwargs):
        pass

    def on_step_end(self, state):
        os.kill(os.getpid(), signal.SIGTERM)

signal.signal(signal.SIGTERM, signal.SIG_IGN)
optimlab.train.ProgressBar = TerminatedEachStep
main()
"""


def test_optimlab_train_started_with_sigterm_ignored_leaves_it_ignored_and_trains_on(
    tmp_path, forked_parents
):
    """`bash -c "trap '' TERM; optimlab train ... & kill -TERM $!"` ended the run 'interrupted', exit 130:
    the command installed its SIGTERM handler over the ignored signal (StopOnSignal, since 7c25d681,
    left it ignored). Truth: the run's own result.json, every step trained, as of a run never signalled."""
    args = ["train", "--dataset", "iris", "--steps", "5", "--out", str(tmp_path / "run"), "--format", "json"]
    code, _, err = forked_parents().run(
        args, tmp_path, dict(os.environ), tmp_path, 120, source=_TRAIN_WITH_SIGTERM_IGNORED
    )
    assert code == 0, err
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert (result["status"], result["steps"]) == ("completed", 5)


def test_a_signal_at_the_last_step_ends_the_run_completed_with_its_weights_and_metrics(tmp_path):
    """Ctrl-C during the last step reported 'interrupted by SIGINT at step 27 of 27', wrote no model.pt
    and no metrics, and asked to resume a run with nothing left to train."""
    recipe = Recipe.from_dict(TINY)
    result = train(recipe, tmp_path / "run", callbacks=[SignalAt(27, signal.SIGINT)])
    reference = train(recipe, tmp_path / "reference")
    assert result.status == "completed" and result.steps == 27 and result.message is None
    assert result.metrics == reference.metrics and same_weights(
        weights(tmp_path / "run"), weights(tmp_path / "reference")
    )


def test_an_early_stopped_run_resumed_stays_stopped_with_its_weights(tmp_path):
    """Resumed, a run early stopping had ended trained one more epoch (18 steps became 24) and stopped
    again: --resume of a finished run changed its weights and its result."""
    recipe = Recipe.from_dict(
        {**TINY, "optimizer": {"name": "sgd", "lr": 1e-9}, "training": {"epochs": 30, "batch_size": 128,
         "early_stopping_patience": 2}}
    )  # fmt: skip
    stopped = train(recipe, tmp_path / "run")
    before = weights(tmp_path / "run")
    resumed = train(recipe, tmp_path / "run", resume=True)
    assert stopped.status == resumed.status == "stopped" and resumed.steps == stopped.steps < 30 * 9
    assert resumed.message == stopped.message and same_weights(weights(tmp_path / "run"), before)


def contents(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_resume_that_is_not_a_boolean_is_refused_before_any_work(tmp_path):
    """``train(recipe, out, resume="no")`` read the truthy string as True and tried to resume (a run
    there would have been continued). Truth: True or False only, as fit's shuffle; no folder made."""
    with pytest.raises(InvalidValueError, match="invalid value 'no' for resume: accepted True or False"):
        train(Recipe.from_dict(SMALL), tmp_path / "run", resume="no")
    assert not (tmp_path / "run").exists()


def test_resume_refuses_a_changed_recipe_and_names_the_fields_touching_nothing(tmp_path):
    recipe = Recipe.from_dict(TINY)
    train(recipe, tmp_path)
    before = contents(tmp_path)
    changed = recipe.with_updates({"optimizer.lr": 0.1, "model.width": 32})
    with pytest.raises(
        OptimlabError, match=r"model\.width: 16 in the checkpoint, 32 now; optimizer\.lr: 0\.003"
    ):
        train(changed, tmp_path, resume=True)
    unset = recipe.with_updates({"optimizer.lr": None})  # the optimizer's default: said so, not 'None'
    with pytest.raises(
        OptimlabError, match=r"optimizer\.lr: 0\.003 in the checkpoint, unset \(its default\) now"
    ):
        train(unset, tmp_path, resume=True)
    with pytest.raises(OptimlabError, match="taken 27 steps, more than the 10 the recipe now asks for"):
        train(recipe.with_updates({"training.steps": 10}), tmp_path, resume=True)
    assert contents(tmp_path) == before
    with pytest.raises(OptimlabError, match="no folder"):
        train(recipe, tmp_path / "nonexistent", resume=True)
    assert not (tmp_path / "nonexistent").exists()


def test_resume_with_more_epochs_continues_exactly_and_records_the_change(tmp_path):
    train(Recipe.from_dict(TINY), tmp_path / "run")
    longer = Recipe.from_dict({**TINY, "training": {**TINY["training"], "epochs": 5}})
    result = train(longer, tmp_path / "run", resume=True)
    assert result.steps == 45
    assert result.recipe_changes == [{"field": "training.epochs", "from": 3, "to": 5, "step": 27}]
    assert (
        json.loads((tmp_path / "run" / "result.json").read_text())["recipe_changes"] == result.recipe_changes
    )
    assert Recipe.load(tmp_path / "run" / "recipe.yaml") == longer
    train(longer, tmp_path / "reference")  # constant learning rate: five epochs are three, then two
    assert same_weights(weights(tmp_path / "run"), weights(tmp_path / "reference"))


def test_a_resume_that_changes_the_length_under_a_cosine_follows_it_from_the_resumed_step_and_says_so(
    tmp_path,
):
    """A finished 10-epoch cosine run resumed for 12 drew the cosine anew over 12 epochs with no word: lr 0
    at step 941, 2.4e-4 at 942 (and step 941 kept the stored lr, the trained schedule's); a warning names
    the jump. Truth: the cosine drawn over the new length (schedules.create), at each step from the resumed
    one, times the lr of step 1."""
    cosine = {**TINY, "schedule": {"name": "cosine"}, "training": {**TINY["training"], "epochs": 1}}
    train(Recipe.from_dict(cosine), tmp_path / "run")
    longer = Recipe.from_dict({**cosine, "training": {**cosine["training"], "epochs": 2}})
    with pytest.warns(OptimlabWarning, match=r"resumed after step 9 for 18 steps in place of 9: the cosine"):
        train(longer, tmp_path / "run", resume=True)

    def rates(folder):
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        return {row["step"]: row["lr"] for row in map(json.loads, lines) if "lr" in row}

    resumed, cosine_of_18 = rates(tmp_path / "run"), create("cosine", total_steps=18)
    drawn_anew = [resumed[1] * cosine_of_18(step - 1) for step in range(10, 19)]  # step s takes index s - 1
    assert [resumed[step] for step in range(10, 19)] == pytest.approx(drawn_anew)
    assert resumed[10] > 10 * resumed[9]  # the jump


def test_a_resumed_run_counts_the_wall_time_of_every_segment(tmp_path):
    """The last step's checkpoint held the wall time of the segments before this one only: a finished
    run resumed with more epochs reported its second segment's seconds alone (0.395 s of 0.81), and
    its metrics.jsonl went back from 0.4093 s at step 1500 to 0.0024 s at step 1501."""
    first = train(Recipe.from_dict(TINY), tmp_path / "run")
    saved = read_checkpoint(tmp_path / "run")["state"]["seconds"]
    assert 0 < saved <= first.seconds
    longer = Recipe.from_dict({**TINY, "training": {**TINY["training"], "epochs": 5}})
    result = train(longer, tmp_path / "run", resume=True)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    seconds = [json.loads(line)["seconds"] for line in lines]
    assert seconds == sorted(seconds) and seconds[-1] > round(saved, 4)
    assert result.seconds > first.seconds


def test_a_damaged_latest_checkpoint_gives_way_to_the_previous_one_with_a_warning(tmp_path):
    recipe = Recipe.from_dict(TINY)
    train(recipe, tmp_path / "run")
    latest = tmp_path / "run" / CHECKPOINT_NAME
    raw = bytearray(latest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the tensors: torch.load alone would not notice
    latest.write_bytes(bytes(raw))
    with pytest.warns(OptimlabWarning, match="damaged.*previous checkpoint"):
        result = train(recipe, tmp_path / "run", resume=True)
    assert result.steps == 27 and result.status == "completed"
    train(recipe, tmp_path / "reference")
    assert same_weights(weights(tmp_path / "run"), weights(tmp_path / "reference"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[: len(raw) // 3],  # truncated
        lambda raw: b"\x00" * len(raw),  # zeroed
        lambda raw: b"not a checkpoint at all\n" * 10,  # garbage
        lambda raw: b"",  # empty
    ],
)
def test_a_damaged_checkpoint_without_a_good_previous_one_is_one_clear_error(tmp_path, damage):
    recipe = Recipe.from_dict({**TINY, "training": {**TINY["training"], "epochs": 1}})
    train(recipe, tmp_path)
    latest = tmp_path / CHECKPOINT_NAME
    latest.write_bytes(damage(latest.read_bytes()))
    with pytest.raises(OptimlabError, match=f"checkpoint '{latest}' is damaged"):
        train(recipe, tmp_path, resume=True)


def test_a_whole_checkpoint_holding_an_object_is_named_as_such_not_as_damaged(tmp_path):
    """A checkpoint holding a Python object (an older version kept a user's torch optimizer in it) was
    called 'damaged (truncated or corrupted)': the file is whole, and the weights-only load refuses the
    object it holds, which the error now names."""
    recipe = Recipe.from_dict({**TINY, "training": {**TINY["training"], "epochs": 1}})
    train(recipe, tmp_path)
    latest = tmp_path / CHECKPOINT_NAME
    payload = torch.load(latest, weights_only=True)
    payload["callbacks"] = [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)]
    torch.save(payload, latest)
    with pytest.raises(
        OptimlabError, match="holds a torch.optim.sgd.SGD object, which a weights-only"
    ) as error:
        train(recipe, tmp_path, resume=True)
    assert "damaged" not in str(error.value)


def test_weights_of_another_shape_are_refused_naming_the_layer(tmp_path):
    recipe = Recipe.from_dict(TINY)
    train(recipe, tmp_path, callbacks=[SignalAt(2)])
    wider = build(recipe.with_updates({"model.width": 32}))
    with pytest.raises(OptimlabError, match="do not fit the recipe's model.*size mismatch"):
        load_checkpoint(
            read_checkpoint(tmp_path), model=wider.model, optimizer=wider.optimizer, scheduler=None
        )


def test_a_run_stopped_before_its_first_checkpoint_can_be_resumed_or_started_again(tmp_path):
    recipe = Recipe.from_dict(TINY)
    for resume in (True, False):
        folder = tmp_path / str(resume)
        folder.mkdir()
        recipe.save(folder / "recipe.yaml")  # what a kill at step 3 of the first epoch leaves
        (folder / "metrics.jsonl").write_text('{"step": 1, "train_loss": 2.3}\n{"step": 2, "tra')
        result = train(recipe, folder, resume=resume)
        assert result.status == "completed" and result.steps == 27
        steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
        assert steps[:2] == [1, 2] and steps.count(1) == 1


def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, monkeypatch):
    import optimlab.train.run as run

    monkeypatch.setattr(run, "build", lambda recipe: pytest.fail("built before checking the folder"))
    (tmp_path / "file").write_text("")
    with pytest.raises(OptimlabError, match="cannot write to the output folder"):
        train(Recipe.from_dict(TINY), tmp_path / "file" / "run")


def test_a_folder_in_use_by_another_run_is_refused(tmp_path):
    import fcntl

    held = os.open(tmp_path, os.O_RDONLY)  # what a live run holds
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(OptimlabError, match="another optimlab process holds it"):
            train(Recipe.from_dict(TINY), tmp_path)
    finally:
        os.close(held)
    assert train(Recipe.from_dict(TINY), tmp_path).status == "completed"  # free once its holder is gone


def test_evaluate_gives_each_module_its_mode_back_and_refuses_an_unknown_task():
    """optimlab.train.evaluate left the user's model in eval mode, so a hand loop going on after it
    trained its batch norm on running statistics it no longer updated; task='classifcation' failed with
    "shape '[1, 40]' is invalid". The loss is torch's on the model in eval mode."""
    from torch import nn

    from optimlab.errors import InvalidValueError
    from optimlab.train import evaluate

    torch.manual_seed(0)
    x, y = torch.randn(40, 3), torch.arange(40) % 2
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model[1].eval()  # frozen by its user, in a model that trains
    found = evaluate(model, nn.CrossEntropyLoss(), x, y, task="classification", prefix="val")
    assert model.training and not model[1].training and model[0].training
    with torch.no_grad():
        model.eval()
        expected = nn.functional.cross_entropy(model(x), y).item()
    assert found["val_loss"] == pytest.approx(expected)
    with pytest.raises(
        InvalidValueError, match="'classifcation' for task: accepted classification or regression"
    ):
        evaluate(model, nn.CrossEntropyLoss(), x, y, task="classifcation", prefix="val")


def test_a_run_refused_at_its_first_batch_leaves_its_folder_as_it_was(tmp_path):
    """Batch norm cannot train on one row: the folder created for the run goes, an existing one stays
    empty, and a resumed run's files stay."""
    one_row = Recipe.from_dict({**SMALL, "model": {"name": "mlp", "width": 8, "norm": "batch"}}).with_updates(
        {"training.batch_size": 1}
    )
    with pytest.raises(OptimlabError, match="first batch"):
        train(one_row, tmp_path / "new" / "run")
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptimlabError, match="first batch"):
        train(one_row, tmp_path / "empty")
    assert list((tmp_path / "empty").iterdir()) == []

    stopped = tmp_path / "stopped"  # a run stopped before its first checkpoint restarts on resume
    stopped.mkdir()
    one_row.save(stopped / "recipe.yaml")
    (stopped / "metrics.jsonl").write_text("")
    with pytest.raises(OptimlabError, match="first batch"):
        train(one_row, stopped, resume=True)
    assert sorted(path.name for path in stopped.iterdir()) == ["metrics.jsonl", "recipe.yaml"]


def test_a_model_save_that_fails_midway_leaves_no_cut_model_file(tmp_path, monkeypatch):
    """model.pt was written in place: a full disk (or a kill) mid-save left a cut file beside the run,
    which torch.load then failed on. It is written whole or not at all."""
    real_save = torch.save

    def full_disk(payload, file):  # given a path, or an open file (checkpoint.torch_save_file)
        path = getattr(file, "name", file)
        if "model.pt" in os.path.basename(path):  # model.pt itself, or its temporary file
            real_save(payload, file)
            if hasattr(file, "flush"):
                file.flush()
            with open(path, "r+b") as handle:
                handle.truncate(100)  # the disk filled up here
            raise OSError(28, "No space left on device")
        return real_save(payload, file)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OptimlabError, match="model.pt': No space left on device; once there is room"):
        train(Recipe.from_dict({**TINY, "training": {**TINY["training"], "epochs": 1}}), tmp_path)
    assert not (tmp_path / "model.pt").exists()


ENDLESS_SPLITS = """
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset


class Items(Dataset):
    def __len__(self):
        return 40

    def __getitem__(self, i):
        return {"x": torch.full((4,), float(i % 7)), "labels": i % 2}


class Endless(IterableDataset):
    def __iter__(self):
        for i in range(100_000):  # a stream of generated examples, without end (a reader this far fails)
            yield {"x": torch.full((4,), float(i % 7)), "labels": i % 2}
        raise AssertionError("read an endless stream to its end")


class Lying(Endless):
    def __len__(self):
        return 16  # 4 batches of 4, of a stream without end


def endless_val():
    return DataLoader(Items(), batch_size=4), DataLoader(Endless(), batch_size=4)


def lying_val():
    return DataLoader(Items(), batch_size=4), DataLoader(Lying(), batch_size=4)


def endless_test():
    return DataLoader(Items(), batch_size=4), DataLoader(Items(), batch_size=4), DataLoader(Endless(), batch_size=4)
"""


def test_an_endless_val_or_test_split_of_dict_batches_is_refused_before_training(
    write_modules, cli, tmp_path
):
    """`optimlab train` on the user's dict batches whose validation split is a DataLoader over an endless
    IterableDataset trained, then hung at its first evaluation (a test split: after training); refused
    in one line before the first step (exit 2), no run folder left."""
    write_modules(optimlab_dict_net=DICT_NET, optimlab_endless=ENDLESS_SPLITS)
    for factory, split in (("endless_val", "val"), ("endless_test", "test")):
        out = tmp_path / factory
        code, _, err = cli("train", "--model", "optimlab_dict_net:build", "--dataset", f"optimlab_endless:{factory}",
                           "--steps", "6", "--out", str(out))  # fmt: skip
        assert code == 2 and "Traceback" not in err, err
        assert (
            f"invalid value 'a DataLoader, whose length is not known' for the {split} split: accepted a split an "
            "evaluation can read to its end"
        ) in " ".join(err.split())
        assert not out.exists()


@pytest.mark.filterwarnings("ignore:Length of IterableDataset")  # torch's own, for each row past __len__
def test_a_val_split_yielding_more_than_its_len_is_refused_in_one_line_not_read_on(
    write_modules, cli, tmp_path
):
    """`optimlab train` whose val split is a DataLoader over an endless IterableDataset with a __len__ of
    4 batches hung at its first evaluation; refused there in one line (exit 2), naming both counts."""
    write_modules(optimlab_dict_net=DICT_NET, optimlab_endless=ENDLESS_SPLITS)
    code, _, err = cli("train", "--model", "optimlab_dict_net:build", "--dataset", "optimlab_endless:lying_val",
                       "--steps", "6", "--out", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and "Traceback" not in err, err
    assert (
        "invalid value 'a DataLoader whose __len__ says 4 batches, but which yielded at least 5' for the val "
        "data: accepted a __len__ that counts the batches it yields"
    ) in " ".join(err.split())


def test_a_run_resumed_without_html_keeps_its_page_current(cli, tmp_path, page_reader):
    """The page of a run written with --html (its interrupted run's message says to resume with
    `optimlab train --resume OUT`, without it) went on showing the stopped run beside a result.json of
    the finished one; a resumed run's folder holding a page rewrites it."""
    out = tmp_path / "run"

    def shown() -> tuple[str, str]:
        [table] = [t for t in page_reader((out / "report.html").read_text()).tables if "steps" in t.header]
        [row] = table.rows
        return row[table.header.index("status")], row[table.header.index("steps")]

    code, _, err = cli(
        "train", "--dataset", "iris", "--steps", "3", "--out", str(out), "--html", "--no-progress"
    )
    assert code == 0 and shown() == ("completed", "3"), err
    code, _, err = cli("train", "--resume", str(out), "--steps", "6", "--no-progress")
    assert code == 0, err
    assert json.loads((out / "result.json").read_text())["steps"] == 6
    assert shown() == ("completed", "6")


@pytest.mark.parametrize(
    ("module", "splits", "named"),
    [
        ("optimlab_named", "{'train': Items(), 'validation': Items()}", "(d['train'], d['validation'])"),
        (
            "optimlab_named_test",
            "{'test': Items(), 'train': Items()}",
            "(d['train'], a val split, d['test'])",
        ),
    ],
)
def test_a_dict_of_named_splits_is_refused_saying_which_goes_where(
    write_modules, cli, tmp_path, module, splits, named
):
    """A factory returning its splits by name, as Hugging Face's DatasetDict holds them, was refused as
    any unknown value, the list of every accepted shape; now told the order that places them (a dict's
    own order, test first, is no guide)."""
    factory = f"{ENDLESS_SPLITS}\n\ndef named():\n    return {splits}\n"
    write_modules(optimlab_dict_net=DICT_NET, **{module: factory})
    code, _, err = cli("train", "--model", "optimlab_dict_net:build", "--dataset", f"{module}:named",
                       "--steps", "2", "--out", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and "Traceback" not in err, err
    assert (
        f"for what dataset '{module}:named' returned ({module}.py, line {ENDLESS_SPLITS.count(chr(10)) + 3}): "
        "accepted the splits in order, (train, val) or "
        f"(train, val, test), told apart by their place, not their names: return {named}."
    ) in " ".join(err.split())
    assert not (tmp_path / "run").exists()


def test_a_run_resumed_after_its_data_file_changed_is_refused(tmp_path):
    """`optimlab train --resume` after the run's CSV file had its labels flipped went on training the
    checkpoint's weights on the other data (val_accuracy 0.06), without a word. The checkpoint keeps the
    sha256 of the data (optimlab.data.digest), as a study does; the file restored, the run resumes."""
    rows = torch.randn(90, 3, generator=torch.Generator().manual_seed(0))
    table = tmp_path / "rows.csv"

    def write(flip: bool) -> None:
        labels = (rows[:, 0] > 0).long() ^ int(flip)
        table.write_text(
            "a,b,c,label\n"
            + "".join(f"{a},{b},{c},{y}\n" for (a, b, c), y in zip(rows.tolist(), labels.tolist()))
        )

    write(False)
    first = Recipe.from_dict({"data": {"name": str(table)}, "training": {"epochs": 1, "batch_size": 16}})
    train(first, tmp_path / "run")
    longer = first.with_updates({"training.epochs": 2})
    write(True)
    with pytest.raises(OptimlabError, match="^cannot resume: the recipe's data .*rows.csv.* as other values"):
        train(longer, tmp_path / "run", resume=True)
    assert read_checkpoint(tmp_path / "run")["state"]["step"] == 4  # 54 training rows / 16: untouched
    write(False)
    assert train(longer, tmp_path / "run", resume=True).steps == 8


def test_a_batch_larger_than_the_training_rows_under_drop_last_names_the_recipes_fields():
    """It was refused as 'invalid value 100 for batch_size', fit's argument, where the recipe's field and
    the flag that set it are training.batch_size and --batch-size."""
    recipe = Recipe.from_dict({"data": {"name": "iris"}, "training": {"batch_size": 100, "drop_last": True}})
    with pytest.raises(InvalidValueError) as refused:
        train(recipe)
    assert str(refused.value) == (
        "invalid value 100 for training.batch_size (--batch-size): accepted at most the 90 training rows when "
        "training.drop_last drops smaller batches."
    )


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("class_weights", [False, True])
def test_evaluate_members_reads_the_device_once_and_equals_each_members_loss_by_hand(
    monkeypatch, shared, class_weights
):
    """The K members' totals are summed on the device and read once at the end, not per batch per
    member (averaged_over's float() of each member's count: a host sync each, on a GPU a stall). Truth:
    each member's split by hand in float64, sum over its batches of (batch mean x what it divides by)
    over the split's total, torch's CrossEntropyLoss of the whole split in one call, accuracy counted."""
    import optimlab.train.run as run
    from optimlab.models.stacked import stacked_loss

    monkeypatch.setattr(run, "EVAL_BATCH", 8)
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 27, 5, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, 3, (2, 27), generator=generator)
    labels[0, 8:16] = -100  # member 0: its second batch scores nothing
    labels[1, ::4] = -100
    weight = torch.tensor([0.3, 1.7, 1.1], dtype=torch.float64) if class_weights else None
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    weights = torch.randn(2, 5, 3, generator=generator, dtype=torch.float64)
    if shared:
        x, labels = x[0], labels[0]
    reads = []
    for name in ("__float__", "__int__", "__bool__", "item", "tolist"):
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(
            torch.Tensor, name, lambda t, *a, _real=real, _n=name: reads.append(_n) or _real(t, *a)
        )
    found = run.evaluate_members(
        lambda xb: (
            torch.einsum("...nd,kdc->knc", xb, weights)
            if shared
            else torch.einsum("knd,kdc->knc", xb, weights)
        ),
        stacked_loss(loss_fn, shared_targets=shared),
        x,
        labels,
        members=2,
        task="classification",
        prefix="val",
        shared=shared,
        loss_fn=loss_fn,
    )
    assert reads == ["tolist"]
    monkeypatch.undo()
    for k in range(2):
        xs, ys = (x, labels) if shared else (x[k], labels[k])
        scores = xs @ weights[k]
        scored = ys != -100
        truth = loss_fn(scores, ys).item()
        assert found[k]["val_loss"] == pytest.approx(truth, rel=1e-12, abs=0)
        correct = ((scores.argmax(1) == ys) & scored).sum().item()
        assert found[k]["val_accuracy"] == pytest.approx(correct / scored.sum().item(), rel=1e-12, abs=0)


AUGMENTED_ITEMS = """
import random

import numpy as np
import torch
from torch.utils.data import Dataset


class Noisy(Dataset):
    '''Dict items whose features get noise from NumPy's and Python's global generators as each is read.'''

    def __init__(self, n):
        self.x = torch.randn(n, 4, generator=torch.Generator().manual_seed(n))
        self.y = (self.x[:, 0] > 0).long()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        noise = np.random.normal(0.0, 0.5, 4).astype(np.float32) + random.gauss(0.0, 0.5)
        return {"x": self.x[i] + torch.from_numpy(noise), "labels": self.y[i]}


def splits():
    return Noisy(32), Noisy(16)
"""


def test_a_run_on_items_augmented_by_numpy_and_python_gives_the_same_weights_each_time(
    write_modules, tmp_path
):
    """The user's Dataset augmenting with np.random and random as it is read (read batch by batch while
    training): build seeded torch's global generator from training.seed, not NumPy's and Python's, so two
    runs of one recipe in new processes (here: with other global states) trained on other noise and
    ended with other weights. Truth: the same recipe and seed give the same numbers (torch.equal)."""
    write_modules(optimlab_dict_net=DICT_NET, optimlab_noisy_items=AUGMENTED_ITEMS)
    recipe = Recipe.from_dict(
        {
            "model": {"name": "optimlab_dict_net:build"},
            "data": {"name": "optimlab_noisy_items:splits"},
            "training": {"steps": 6, "batch_size": 8},
        }
    )
    weights = []
    for process_seed in (1, 2):
        np.random.seed(process_seed)
        random.seed(process_seed)
        result = train(recipe, tmp_path / f"run{process_seed}")
        assert result.steps == 6
        weights.append(torch.load(tmp_path / f"run{process_seed}" / CHECKPOINT_NAME)["model"])
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_loop_of_trials_drawing_lrs_from_numpy_and_python_draws_on_after_each_train(write_modules):
    """The user's loop ``np.random.seed(1); for _ in range(3): lr = 10**np.random.uniform(-4, -1);
    train(...)``: train seeded NumPy's and Python's global generators (for a Dataset's np.random
    augmentations) and left them so, so every trial after the first drew the same lr (0.001783, 0.00443,
    0.00443). Truth: the draws of the same loop without train in between; a run's numbers are unchanged
    by the caller's global states (the augmented run's loss equals a run started from other states)."""
    write_modules(optimlab_dict_net=DICT_NET, optimlab_noisy_items=AUGMENTED_ITEMS)

    def draws(run) -> list[tuple[float, float]]:
        np.random.seed(1), random.seed(1)
        drawn = []
        for _ in range(3):
            drawn.append((10 ** np.random.uniform(-4, -1), random.random()))
            run(drawn[-1][0])
        return drawn

    digits = {"data": {"name": "digits"}, "training": {"steps": 2, "batch_size": 32}}
    without = draws(lambda lr: None)
    assert len(set(without)) == 3
    assert (
        draws(lambda lr: train(Recipe.from_dict({**digits, "optimizer": {"name": "sgd", "lr": lr}})))
        == without
    )

    augmented = Recipe.from_dict(
        {
            "model": {"name": "optimlab_dict_net:build"},
            "data": {"name": "optimlab_noisy_items:splits"},
            "training": {"steps": 4, "batch_size": 8},
        }
    )
    losses = []
    for process_seed in (3, 4):
        np.random.seed(process_seed), random.seed(process_seed)
        losses.append(train(augmented).metrics)
    assert losses[0] == losses[1] and "val_loss" in losses[0]


def test_a_schedule_free_run_trains_the_same_however_often_evaluated_and_when_extended_by_resume(tmp_path):
    """Each evaluation moved schedule-free's weights from y to x and back (Defazio et al. 2024), exact only
    up to rounding: a run evaluated after each of its 8 steps ended in other last bits than a 4-step run
    extended to 8 by resume (evaluated at steps 4 and 8), and each was off the run evaluated at 8 alone."""
    optimizer = {"name": "schedule_free_adamw", "lr": 1e-2}
    recipe = Recipe.from_dict({**TINY, "optimizer": optimizer, "training": {"steps": 8, "batch_size": 128}})
    train(recipe.with_updates({"training.eval_every": 1}), tmp_path / "every")
    train(recipe.with_updates({"training.steps": 4}), tmp_path / "extended")
    train(recipe, tmp_path / "extended", resume=True)
    assert same_weights(weights(tmp_path / "every"), weights(tmp_path / "extended"))


def test_a_schedule_free_run_stopped_by_a_signal_resumes_bitwise_as_an_uninterrupted_one(tmp_path):
    """Schedule-free keeps two points (Defazio et al. 2024, arXiv:2405.15682): it steps at y and is
    evaluated at x. The checkpoint a signal's stop wrote was taken once the loop had left y for x, and y
    made again from x is not y bitwise: the resumed run's weights and val_loss differed in their last
    bits from an uninterrupted run's."""
    recipe = Recipe.from_dict(
        {
            **TINY,
            "optimizer": {"name": "schedule_free_adamw", "lr": 1e-2},
            "training": {"steps": 8, "batch_size": 128},
        }
    )
    stopped = train(recipe, tmp_path / "run", callbacks=[SignalAt(5, signal.SIGINT)])
    assert stopped.status == "interrupted" and stopped.steps == 5
    resumed = train(recipe, tmp_path / "run", resume=True)
    reference = train(recipe, tmp_path / "reference")
    assert same_weights(weights(tmp_path / "run"), weights(tmp_path / "reference"))
    assert resumed.metrics == reference.metrics

    def logged(folder):  # every line but its wall time
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]

    assert logged(tmp_path / "run") == logged(tmp_path / "reference")


def test_a_resume_failing_before_its_first_step_leaves_a_run_folder(tmp_path, monkeypatch):
    """A run killed before its first checkpoint restarts at step 0 on resume, its logged lines dropped
    (its steps write them again): e884ad36 removed metrics.jsonl as the run began, so a resume that then
    failed before its first step (out of memory) left recipe.yaml alone, no longer a run folder (read_run
    and a fresh train both refused it). The log is emptied instead. Truth: the folder's files."""
    import optimlab.train.run as run
    from optimlab.runs_folder import is_run_folder

    recipe = Recipe.from_dict({**TINY, "training": {**TINY["training"], "epochs": 1}})
    train(recipe, tmp_path)
    for path in tmp_path.iterdir():  # as a kill before the first checkpoint leaves it
        if path.name not in ("recipe.yaml", "metrics.jsonl"):
            path.unlink() if path.is_file() else shutil.rmtree(path)
    assert (tmp_path / "metrics.jsonl").read_text()

    def out_of_memory(*args, **kwargs):
        raise MemoryError("out of memory before the first step")

    monkeypatch.setattr(run, "fit_built", out_of_memory)
    with pytest.raises(MemoryError):
        train(recipe, tmp_path, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl", "recipe.yaml"]
    assert is_run_folder(tmp_path)
