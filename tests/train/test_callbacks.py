"""The loop's callbacks on data and arguments their first users did not try: data of unknown length,
a metric the evaluation lacks, intervals of zero."""

import functools
import json
import math
import os
import signal

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import IterableDataset

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.train import Checkpointing, EarlyStopping, MetricsLog, TrainState, fit
from optimlab.train.loop import Callback


class Rows(IterableDataset):
    """20 labelled rows read in order, with no length: a stream."""

    def __init__(self) -> None:
        generator = torch.Generator().manual_seed(0)
        self.x, self.y = (
            torch.randn(20, 3, generator=generator),
            torch.randint(0, 2, (20,), generator=generator),
        )

    def __iter__(self):
        return zip(self.x, self.y, strict=True)


def test_checkpointing_once_an_epoch_saves_at_each_epoch_end_of_data_of_unknown_length():
    """The epoch's length is 0 (unknown) until the first epoch of an IterableDataset has been read:
    Checkpointing took ``step % 0`` and raised ZeroDivisionError at the first step."""
    model = nn.Linear(3, 2)
    saved = []
    state = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        Rows(),
        loss_fn=nn.CrossEntropyLoss(),
        batch_size=8,  # 3 batches an epoch: 8, 8, 4
        total_steps=7,
        callbacks=[Checkpointing(lambda state: saved.append(state.step), max_seconds=float("inf"))],
    )
    assert state.steps_per_epoch == 3
    assert saved == [3, 6, 7]  # each epoch's end, then the last step


def test_a_checkpointing_subclass_s_on_train_end_runs_once():
    """fit called each Checkpointing's on_train_end for the last save at the training point, then again
    with every callback's: a user's subclass uploading its checkpoint there did it twice. The hook runs
    once, after the last save, which is made once."""
    model = nn.Linear(3, 2)
    saved, ended = [], []

    class Uploading(Checkpointing):
        def on_train_end(self, state: TrainState) -> None:
            super().on_train_end(state)
            ended.append(state.step)

    fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        torch.randn(20, 3),
        torch.randint(0, 2, (20,)),
        loss_fn=nn.CrossEntropyLoss(),
        batch_size=8,
        total_steps=4,
        callbacks=[Uploading(lambda state: saved.append(state.step), every=3, max_seconds=math.inf)],
    )
    assert (saved, ended) == ([3, 4], [4])


def test_a_resumed_log_takes_no_lead_from_its_last_line_s_rounding(tmp_path):
    """A log's seconds are rounded to 4 places: the last kept line of a checkpoint at 1.00006 s says
    1.0001, which the resumed log took for a lead of 4e-5 s, and every later line read 1e-4 s past its
    step's clock (the one-clock test below failed so, at random)."""
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "epoch": 0, "train_loss": 1.0, "lr": 0.1, "seconds": 1.0001}\n')
    log = MetricsLog(path)
    log.on_train_start(TrainState(step=1, seconds=1.00006))
    log.on_step_end(TrainState(step=2, train_loss=0.5, lr=0.1, seconds=2.00002))
    log.on_train_end(TrainState(step=2))
    assert [json.loads(line)["seconds"] for line in path.read_text().splitlines()] == [1.0001, 2.0]


def test_a_resumed_log_with_a_byte_that_is_no_text_is_refused_naming_it(tmp_path):
    """train --resume of a run whose metrics.jsonl had one flipped byte said 'a file expected to be text is
    binary or not UTF-8 (invalid start byte at byte 2720)', naming no file. Truth: the byte flipped."""
    path = tmp_path / "metrics.jsonl"
    lines = "".join(
        f'{{"step": {s}, "epoch": 0, "train_loss": 1.0, "lr": 0.1, "seconds": {s}.0}}\n' for s in (1, 2, 3)
    )
    damaged = bytearray(lines.encode())
    damaged[100] = 0xFF
    path.write_bytes(damaged)
    with pytest.raises(OptimlabError) as refused:
        MetricsLog(path).on_train_start(TrainState(step=3, seconds=3.0))
    assert str(refused.value) == (
        f"cannot resume: the metrics log {str(path)!r} is damaged: byte 100 is not UTF-8 text; restore the "
        "file, or cut it before that line to resume with the lines before it"
    )
    assert path.read_bytes() == damaged  # left as it was


class NanGradientAt(nn.Module):
    """A linear model whose training step ``at`` has a finite loss and a NaN gradient (sqrt's at 0, as
    a norm's of a zero vector): its update leaves NaN weights, which only the next step's loss shows."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.lin, self.at, self.steps = nn.Linear(3, 2), at, 0

    def forward(self, x):
        out = self.lin(x)
        if self.training:
            self.steps += 1
            if self.steps == self.at:
                zero = (self.lin.weight - self.lin.weight.detach()).sum()
                out = out + 0.0 * zero.abs().sqrt()
        return out


def test_a_users_checkpointing_takes_no_checkpoint_of_weights_that_are_not_finite():
    """A user's own ``Checkpointing(save=...)`` in fit saved the NaN weights that step 2's update left
    (only train()'s own save checked them), and the run stopped a step later blaming that step's loss.
    Truth: the weights after each update (torch.isfinite): step 1's are finite and saved, step 2's are
    not, so the run stops there as diverged, without a save."""
    model = NanGradientAt(2)
    saved = []

    def save(state):
        saved.append((state.step, all(bool(torch.isfinite(p).all()) for p in model.parameters())))

    class Own(Callback):
        check_weights = "the user's"

    checkpointing, own = Checkpointing(save, every=1, max_seconds=math.inf), Own()
    state = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        Rows().x,
        Rows().y,
        loss_fn=nn.CrossEntropyLoss(),
        batch_size=20,
        total_steps=6,
        callbacks=[checkpointing, own],
    )  # fmt: skip
    assert saved == [(1, True)]
    assert state.diverged and state.step == 2
    assert "the update of step 2 (lr 0.1) left weights that are not finite" in state.stop_reason
    # the check is lent for the fit alone, and to Checkpointing alone (not any callback of that name)
    assert checkpointing.check_weights is None and own.check_weights == "the user's"


def test_early_stopping_on_a_metric_the_evaluation_lacks_names_it_and_those_it_gives():
    """A misspelt or absent metric raised a bare KeyError after the first epoch had trained, then was
    refused in one line after it (an hour of real data); now before any step: the weights unchanged."""
    model = nn.Linear(3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    data = Rows()
    with pytest.raises(InvalidValueError, match=r"'val_f1' for EarlyStopping metric.*val_accuracy, val_loss"):
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            (data.x, data.y),
            loss_fn=nn.CrossEntropyLoss(),
            epochs=2,
            val_data=(data.x, data.y),
            callbacks=[EarlyStopping("val_f1", mode="max")],
        )
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: MetricsLog("metrics.jsonl", every=0), "MetricsLog every"),
        (lambda: Checkpointing(lambda state: None, every=0), "Checkpointing every"),
        (lambda: Checkpointing(lambda state: None, max_seconds="300"), "Checkpointing max_seconds"),
        (lambda: Checkpointing(lambda state: None, max_seconds=-1.0), "Checkpointing max_seconds"),
        (lambda: Checkpointing(lambda state: None, max_seconds=math.nan), "Checkpointing max_seconds"),
        (lambda: EarlyStopping(patience=0), "EarlyStopping patience"),
        (lambda: EarlyStopping(patience=2.5), "EarlyStopping patience"),
        (lambda: EarlyStopping(min_delta=-1.0), "EarlyStopping min_delta"),
        (lambda: EarlyStopping(mode="maximize"), "EarlyStopping mode"),
    ],
)
def test_a_callback_interval_or_threshold_out_of_range_is_refused_in_one_line(make, field):
    """MetricsLog(every=0) raised ZeroDivisionError at the first step; Checkpointing(every=0) saved once
    an epoch as if unset, and max_seconds="300" raised TypeError at the first step, -1 saved every step
    and NaN never by time; EarlyStopping(patience=0) stopped no sooner than patience=1."""
    with pytest.raises(InvalidValueError, match=f"for {field}: accepted"):
        make()


@pytest.mark.parametrize("count", [3.0, np.float64(3)])
def test_a_count_given_as_a_float_is_refused_in_one_line(tmp_path, count):
    """``EarlyStopping(patience=np.float64(3))`` (or 3.0) kept the float 3.0, and its stop said 'for 3.0
    evaluations'; ``every=2.0`` of MetricsLog and Checkpointing kept a float count too. Truth: a count is
    a whole number, refused as a float (even 2.0) as fit's total_steps and epochs are."""
    makers = {
        "EarlyStopping patience": lambda: EarlyStopping(patience=count),
        "MetricsLog every": lambda: MetricsLog(tmp_path / "m.jsonl", every=count),
        "Checkpointing every": lambda: Checkpointing(lambda state: None, every=count),
    }
    for field, make in makers.items():
        with pytest.raises(InvalidValueError, match=f"for {field}: accepted an integer"):
            make()


def test_numpy_numbers_are_taken_as_the_python_numbers_they_hold(tmp_path):
    """``EarlyStopping(patience=np.int64(3))``, ``min_delta=np.float32(0.5)`` and ``every=np.int64(2)``
    (counts computed with NumPy) were refused as out of range. Truth: the Python numbers they hold; a
    NumPy bool is still refused, as True is."""
    stop = EarlyStopping(patience=np.int64(3), min_delta=np.float32(0.5))
    assert (stop.patience, stop.min_delta) == (3, 0.5) and type(stop.patience) is int
    assert type(MetricsLog(tmp_path / "m.jsonl", every=np.int64(2)).every) is int
    assert type(Checkpointing(lambda state: None, every=np.int64(2)).every) is int
    with pytest.raises(InvalidValueError, match="for EarlyStopping patience: accepted"):
        EarlyStopping(patience=np.bool_(True))


def test_a_run_stopped_by_an_exception_closes_its_log_and_progress_bar_and_unhooks_the_doctor(tmp_path):
    """Ctrl-C in fit without StopOnSignal (or a refusal mid-training) left MetricsLog's file open with its
    last lines unwritten, the ProgressBar's live display running (its thread redrawing, sys.stdout and
    sys.stderr still rich's proxies) and the doctor's hooks on the model. Each callback's on_exception
    closes what it holds; the exception goes on; no checkpoint is taken of the torn step."""
    import json
    import sys

    from optimlab.doctor.diagnose import DoctorCallback
    from optimlab.train import Callback, ProgressBar

    class CtrlC(Callback):
        def on_step_end(self, state):
            if state.step == 3:
                raise KeyboardInterrupt

    x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    log, bar, doctor = MetricsLog(tmp_path / "metrics.jsonl"), ProgressBar(), DoctorCallback(model, optimizer)
    saved = []
    streams = sys.stdout, sys.stderr
    with pytest.raises(KeyboardInterrupt):
        fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=10, batch_size=8,
            callbacks=[log, bar, doctor, Checkpointing(saved.append, every=100), CtrlC()])  # fmt: skip
    logged = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3]
    assert log._handle is None and not bar._progress.live.is_started and (sys.stdout, sys.stderr) == streams
    assert not model._forward_hooks and not model._forward_pre_hooks and not saved


def test_early_stopping_reads_the_way_a_metric_improves_from_its_name():
    """``EarlyStopping("val_accuracy", patience=1)`` took mode "min" for every metric: an accuracy that
    rose at each evaluation (0.5, 0.6, 0.7) stopped the run at its second evaluation."""
    state = TrainState()
    stop = EarlyStopping("val_accuracy", patience=1)
    for accuracy in (0.5, 0.6, 0.7):
        stop.on_evaluate(state, {"val_accuracy": accuracy})
    assert state.stop_reason is None and stop.best == 0.7
    loss = EarlyStopping("val_loss", patience=1)
    for value in (0.7, 0.6, 0.65):
        loss.on_evaluate(state, {"val_loss": value})
    assert state.stop_reason is not None and loss.best == 0.6
    with pytest.raises(
        InvalidValueError, match=r"None for EarlyStopping mode: accepted 'min' or 'max' for 'val_f1'"
    ):
        EarlyStopping("val_f1")


@pytest.mark.parametrize(
    "mode, values", [("min", (math.nan, 0.5, 0.4, 0.3)), ("max", (math.nan, 0.5, 0.6, 0.7))]
)
def test_early_stopping_takes_no_nan_as_its_best(mode, values):
    """A first evaluation of NaN (a val split whose first pass had nothing scored, a float16 overflow)
    became the best, and no later value compares better than NaN: a run improving at every evaluation
    stopped after ``patience`` of them, 'has not improved on nan'. Truth: Keras's EarlyStopping rule,
    the best starting at the worst value (+inf for min) and a NaN no improvement: one bad evaluation,
    then each value the new best."""
    state = TrainState()
    stop = EarlyStopping("val_loss", patience=2, mode=mode)
    for value in values:
        stop.on_evaluate(state, {"val_loss": value})
    assert state.stop_reason is None and stop.best == values[-1] and stop.bad_evaluations == 0
    stop.on_evaluate(state, {"val_loss": math.nan})
    stop.on_evaluate(state, {"val_loss": math.nan})
    assert state.stop_reason is not None and stop.best == values[-1]
    never = TrainState()
    unmeasured = EarlyStopping("val_loss", patience=2, mode=mode)
    for _ in range(2):
        unmeasured.on_evaluate(never, {"val_loss": math.nan})
    assert never.stop_reason == "early stop: val_loss was NaN at each of its first 2 evaluations"


def test_the_metrics_log_and_result_json_tell_time_by_one_clock_across_a_resume(tmp_path):
    """metrics.jsonl started its clock at its own on_train_start, result.json (TrainState.seconds) after
    every callback's: a tracker's start-up (a callback that takes 50 ms to start, here) put each line
    ahead of the run's seconds, once per session (7.84 s against 7.38 s after a resume). Each line is now
    the run's clock at its step, and result.json's seconds end where the last line is, or later."""
    import json
    import time

    from optimlab.recipe import Recipe
    from optimlab.train import train
    from optimlab.train.loop import Callback

    class SlowStart(Callback):
        def __init__(self):
            self.seconds = {}  # the run's clock at each step's end, as the loop keeps it

        def on_train_start(self, state):
            time.sleep(0.05)

        def on_step_end(self, state):
            self.seconds[state.step] = state.seconds

    recipe = Recipe.from_dict(
        {"data": {"name": "iris"}, "model": {"width": 8},
         "training": {"steps": 12, "batch_size": 32, "checkpoint_every": 5}}
    )  # fmt: skip
    out = tmp_path / "run"
    for steps, resume in ((12, False), (20, True)):
        seen = SlowStart()
        result = train(recipe.with_updates({"training.steps": steps}), out, resume=resume, callbacks=[seen])
        lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert [line["seconds"] for line in lines if line["step"] in seen.seconds] == [
            round(seen.seconds[line["step"]], 4) for line in lines if line["step"] in seen.seconds
        ]
        seconds = [line["seconds"] for line in lines]
        assert seconds == sorted(seconds) and seconds[-1] <= round(result.seconds, 4)


class _SignalAt(Callback):
    """Sends this process ``number`` as step ``step`` ends, as a Ctrl-C or a scheduler's kill would."""

    def __init__(self, step, number):
        self.step, self.number = step, number

    def on_step_end(self, state):
        if state.step == self.step:
            os.kill(os.getpid(), self.number)


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_stop_on_signal_given_to_fit_alone_stops_the_run_and_gives_the_handlers_back(number):
    """StopOnSignal in callbacks= without a with block installed nothing (documented only): a Ctrl-C raised
    KeyboardInterrupt mid-run, a SIGTERM killed the process. fit installs its handlers as training starts
    and restores them as it ends. Truth: signal.getsignal before and after, and the step it stopped at."""
    from optimlab.train.callbacks import StopOnSignal

    before = signal.getsignal(number)
    model = nn.Linear(3, 1)
    x, y = torch.randn(40, 3), torch.randn(40, 1)
    stop = StopOnSignal()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.MSELoss(), batch_size=4,
                total_steps=8, callbacks=[_SignalAt(3, number), stop])  # fmt: skip
    assert (state.step, state.interrupted, stop.received) == (3, True, signal.Signals(number).name)
    assert signal.getsignal(number) is before
    with stop:  # a with block keeps holding them across the fit
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.MSELoss(), batch_size=4,
            total_steps=2, callbacks=[stop])  # fmt: skip
        assert signal.getsignal(number) is not before
    assert signal.getsignal(number) is before


class _Targets(Callback):
    def __init__(self):
        self.seen = []  # (steps taken before, targets) of each batch

    def on_train_batch(self, state, batch, targets):
        self.seen.append((state.step, targets))


class _OwnLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, features, labels):
        return {"loss": nn.functional.mse_loss(self.linear(features), labels)}


def test_a_callback_is_given_each_training_batchs_targets_in_the_order_fit_reads_them():
    """fit handed callbacks no batch, so the doctor's unshuffled-data finding (which reads the targets of
    the first batches) could never fire under fit. on_train_batch gives each batch and its targets: those
    the loss_fn takes, a dict's labels where the model makes its own loss. Truth: the rows in order
    (shuffle=False), in groups of two batches a step under accumulation."""
    x, y = torch.randn(12, 3), torch.arange(12.0).unsqueeze(1)
    model, seen = nn.Linear(3, 1), _Targets()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.01), x, y, loss_fn=nn.MSELoss(), batch_size=4,
        shuffle=False, total_steps=2, accumulate_grad_batches=2, callbacks=[seen])  # fmt: skip
    assert [step for step, _ in seen.seen] == [0, 0, 1]  # an epoch of 3 batches: groups of 2 and 1
    assert all(torch.equal(t, y[4 * i : 4 * i + 4]) for i, (_, t) in enumerate(seen.seen))
    batches = [{"features": x[i : i + 6], "labels": y[i : i + 6]} for i in (0, 6)]
    own, seen = _OwnLoss(), _Targets()
    fit(own, torch.optim.SGD(own.parameters(), lr=0.01), batches, total_steps=2, callbacks=[seen])
    assert [(step, torch.equal(t, b["labels"])) for (step, t), b in zip(seen.seen, batches)] == [
        (0, True),
        (1, True),
    ]


class _RaisesAt(Callback):
    """A callback with a bug of its own (KeyError, one of the errors a bad batch raises) in ``hook`` at
    ``step``."""

    def __init__(self, hook: str, step: int):
        self.hook, self.step = hook, step

    def _bug(self, hook, state):
        if hook == self.hook and state.step + 1 == self.step:
            raise KeyError("my callback's own bug")

    def on_train_batch(self, state, batch, targets):
        self._bug("on_train_batch", state)

    def on_before_optimizer_step(self, state):
        self._bug("on_before_optimizer_step", state)


@pytest.mark.parametrize("hook", ["on_train_batch", "on_before_optimizer_step"])
@pytest.mark.parametrize("step", [1, 3])
def test_a_callbacks_own_error_comes_through_unchanged_not_as_a_refusal_of_the_batch(hook, step):
    """A callback raising KeyError inside the step (on_train_batch, on_before_optimizer_step) was told as
    'invalid value ... for the first batch: accepted a batch the model and the loss can use': the batch
    refused for the callback's bug. Truth: the very exception the callback raised, with nothing chained."""
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    model, raising = nn.Linear(3, 1), _RaisesAt(hook, step)
    with pytest.raises(KeyError) as raised:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.MSELoss(), batch_size=4,
            total_steps=4, callbacks=[raising])  # fmt: skip
    assert type(raised.value) is KeyError and raised.value.args == ("my callback's own bug",)
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_a_with_block_of_stop_on_signal_starts_without_the_signal_an_earlier_block_received():
    """`with stop: fit(...)` stopped by a SIGINT at step 3, then `with stop: fit(...)` with no signal sent
    stopped at step 1, as interrupted: entering kept the earlier block's signal. Truth: the steps asked,
    all taken in the new block; within the stopped block a later fit is stopped too (documented)."""
    from optimlab.train.callbacks import StopOnSignal

    model, stop = nn.Linear(3, 1), StopOnSignal()
    x, y = torch.randn(40, 3), torch.randn(40, 1)
    run = functools.partial(fit, model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.MSELoss(),
                            batch_size=4, total_steps=8)  # fmt: skip
    with stop:
        assert run(callbacks=[_SignalAt(3, signal.SIGINT), stop]).step == 3
        assert run(callbacks=[stop]).interrupted
    with stop:
        state = run(callbacks=[stop])
    assert (state.step, state.interrupted, state.stop_reason, stop.received) == (8, False, None, None)


def test_a_log_of_another_run_is_refused_by_a_fresh_fit_and_kept_while_a_continued_fit_appends(tmp_path):
    """A second fit started fresh (step 0) with MetricsLog of the first's file cut it back to step 0:
    the first phase's 4 lines were deleted without a word. It is refused naming the file, which keeps
    them; a fit continued with the first's state appends after them. Truth: the steps each fit took."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "metrics.jsonl"
    common = {"loss_fn": nn.CrossEntropyLoss(), "batch_size": 16}
    first = fit(model, optimizer, x, y, total_steps=4, callbacks=[MetricsLog(path)], **common)
    logged = path.read_text()
    with pytest.raises(InvalidValueError) as refused:
        fit(model, optimizer, x, y, total_steps=2, callbacks=[MetricsLog(path)], **common)
    assert str(path) in str(refused.value) and "MetricsLog path" in str(refused.value)
    assert path.read_text() == logged
    fit(model, optimizer, x, y, total_steps=6, state=first, callbacks=[MetricsLog(path)], **common)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]
