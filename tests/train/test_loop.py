"""The lean loop: batches, divergence guard, early stop, clipping, exact resume from a checkpoint."""

import json
import math
import random
import re
import types
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, TensorDataset

from optimlab.data.global_rng import global_states
from optimlab.data.user_batches import UserBatches
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.train import Callback, EarlyStopping, MetricsLog, TrainState, fit
from optimlab.train.callbacks import Checkpointing
from optimlab.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from optimlab.train.evaluation import evaluate_batches
from optimlab.train.loop import clip_grad_norm_, epoch_permutation
from tests.train.stops import CheckpointAt


def problem(seed: int = 0, n: int = 96):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=generator)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).long()
    return x, y


def network(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 2))


class Recorder(Callback):
    def __init__(self):
        self.losses, self.rows = [], []

    def on_step_end(self, state):
        self.losses.append(state.train_loss)


def test_each_epoch_visits_every_row_once_in_a_seeded_order():
    first, again, other = (
        epoch_permutation(3, 1, 50),
        epoch_permutation(3, 1, 50),
        epoch_permutation(3, 2, 50),
    )
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert sorted(first.tolist()) == list(range(50))


def test_loss_decreases_and_steps_are_counted():
    x, y = problem()
    model = network()
    recorder = Recorder()
    state = fit(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-2),
        x,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=60,
        batch_size=32,
        callbacks=[recorder],
    )
    assert (
        state.step == 60 and state.epoch == 19 and state.steps_per_epoch == 3 and len(recorder.losses) == 60
    )
    assert sum(recorder.losses[-9:]) / 9 < 0.8 * sum(recorder.losses[:9]) / 9


def test_non_finite_loss_stops_with_a_message():
    x, y = problem()
    x[7, 0] = float("inf")  # tanh(inf) = 1 keeps loss 1 finite, but its gradient is NaN: loss 2 is NaN
    model = network()
    state = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        x,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=100,
        batch_size=96,
        evaluate=lambda: {"val_loss": 0.0},
    )
    assert state.diverged and state.step == 2
    assert "diverged" in state.stop_reason and "step 2" in state.stop_reason
    assert not math.isfinite(state.train_loss)


def test_a_loss_that_is_not_finite_stops_the_run_before_its_update_leaving_the_last_finite_weights():
    """The update of the step whose loss was NaN was applied before the guard read the loss: every weight
    of the user's model came back NaN (and a recipe run's model.pt held them), though the step before
    had finite ones."""
    x, y = problem()
    x[50, 0] = float("nan")  # in the third batch of 20, read in order
    model = network()
    kept = {}

    class Keep(Callback):
        def on_step_end(self, state):
            kept[state.step] = [p.detach().clone() for p in model.parameters()]

    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
                total_steps=10, batch_size=20, shuffle=False, callbacks=[Keep()])  # fmt: skip
    assert state.diverged and state.step == 3 and math.isnan(state.train_loss)
    for got, want in zip(model.parameters(), kept[2]):
        assert torch.equal(got, want)


def test_a_first_loss_that_is_not_finite_is_not_blamed_on_the_learning_rate():
    """A NaN in the first batch stopped the run with 'lower the learning rate', though the first loss is
    taken before any update."""
    x, y = problem()
    x[3, 1] = float("nan")
    model = network()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
                total_steps=10, batch_size=96)  # fmt: skip
    assert state.diverged and state.step == 1 and math.isnan(state.train_loss)
    assert "before any update" in state.stop_reason and "lower the learning rate" not in state.stop_reason


def test_a_loss_made_not_finite_by_the_data_blames_the_data_not_the_learning_rate():
    """An inf among the inputs of step 3's batch stopped the run with 'lower the learning rate, clip
    gradients', which no learning rate mends: the message counts the batch's NaN and infinite values;
    a run diverged by its learning rate alone is still told to lower it."""
    x, y = problem()
    x[50, 0], x[55, 2], x[41, 1] = math.inf, -math.inf, math.nan  # in the third batch of 20, read in order
    model = network()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
                total_steps=10, batch_size=20, shuffle=False)  # fmt: skip
    batch = x[40:60]
    assert (int(batch.isnan().sum()), int(batch.isinf().sum())) == (1, 2)
    assert state.diverged and state.step == 3
    assert state.stop_reason == (
        "training diverged: the loss was nan at step 3, whose batch holds 1 NaN value and 2 infinite values: "
        "clean the data (drop those rows, or torch.nan_to_num)"
    )
    x, y = torch.full((8, 1), 10.0), torch.zeros(8, 1)  # finite data, an lr far too large
    model = nn.Linear(1, 1)
    state = fit(
        model, torch.optim.SGD(model.parameters(), lr=1e38), x, y, loss_fn=nn.MSELoss(), total_steps=3
    )
    assert state.diverged and "lower the learning rate" in state.stop_reason


def test_val_data_making_the_loss_nan_is_refused_before_any_step_where_its_first_batch_is_read():
    """NaN among the val data's inputs (a user's DataLoader, a CSV's empty cell in its val rows) gave
    val_loss NaN without a word: refused in one line naming the val data, the row (in the data's order,
    and in its batch) and the column, before any step where fit evaluates the first val batch then (a loss
    of torch's): tensors (one batch of up to 4,096 rows), a DataLoader's first batch."""
    x, y = problem()
    vx, vy = problem(seed=1, n=40)
    vx[37, 1] = math.nan
    model = network()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(
        InvalidValueError,
        match=r"^invalid value nan for the val data's inputs at row 37 \(batch 1's row 37\), column 1:",
    ):
        fit(model, sgd, x, y, loss_fn=nn.CrossEntropyLoss(), val_data=(vx, vy), total_steps=3)
    before = [p.detach().clone() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, network().parameters(), strict=True))  # no step
    vx[37, 1], vx[5, 2] = 1.0, math.nan  # in the first batch of 16: before any step
    loader = DataLoader(TensorDataset(vx, vy), batch_size=16)
    with pytest.raises(
        InvalidValueError,
        match=r"^invalid value nan for the val data's inputs at row 5 \(batch 1's row 5\), column 2",
    ):
        fit(model, sgd, x, y, loss_fn=nn.CrossEntropyLoss(), val_data=loader, total_steps=3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    vx[5, 2] = 0.0  # clean: the same fit gives a finite val_loss
    state = fit(model, sgd, x, y, loss_fn=nn.CrossEntropyLoss(), val_data=loader, total_steps=3)
    assert math.isfinite(state.last_metrics["val_loss"])


def test_val_data_holding_nan_or_inf_whose_loss_is_finite_is_evaluated_as_a_dataloader_of_it_is():
    """Val tensors were refused whole before any step wherever they held a value not finite in float32,
    though the loss was finite: missing regression targets as NaN that the user's loss masks, a float64
    value of 1e39 (finite in float64) before a Tanh; the same data in a DataLoader was evaluated. Truth:
    the user's masked loss, and torch's MSE in float64, computed by hand on the trained model, each
    batch's weighted by its rows."""

    def masked_mse(outputs, targets):
        kept = ~torch.isnan(targets)
        return ((outputs[kept] - targets[kept]) ** 2).mean()

    x, vx = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)).split(32)
    y, vy = torch.randn(64, 2, generator=torch.Generator().manual_seed(1)).split(32)
    y[::7, 1], vy[::5, 0] = math.nan, math.nan  # targets not measured for these rows
    x64, vx64, y64, vy64 = (t.double() for t in (x, vx, y[:, :1].nan_to_num(), vy[:, :1].nan_to_num()))
    vx64[3, 0] = 1e39
    cases = (
        (nn.Linear(3, 2), masked_mse, (x, y), (vx, vy)),
        (nn.Sequential(nn.Linear(3, 1), nn.Tanh()).double(), nn.MSELoss(), (x64, y64), (vx64, vy64)),
    )
    for model, loss_fn, (tx, ty), val in cases:
        for val_data in (val, DataLoader(TensorDataset(*val), batch_size=8)):
            sgd = torch.optim.SGD(model.parameters(), lr=0.01)
            state = fit(model, sgd, tx, ty, loss_fn=loss_fn, val_data=val_data, total_steps=2)
            with torch.no_grad():  # each batch's loss weighted by its rows; the tensors one batch
                read = [val] if val_data is val else list(val_data)
                want = sum(float(loss_fn(model(bx), by)) * len(bx) for bx, by in read) / len(val[0])
            assert math.isfinite(want)
            assert state.last_metrics["val_loss"] == pytest.approx(want, rel=1e-6)


def test_val_data_making_the_loss_nan_mid_training_is_said_once_and_the_run_goes_on(tmp_path):
    """NaN in the third batch of a val DataLoader (the first batch, read before training, is clean) was
    refused at the first evaluation, before that step's checkpoint: every step since the last one lost.
    It is said in one warning naming the batch, the row and the column, once however many evaluations
    read it, and the run goes on, val_loss NaN at each evaluation. Truth: the same run over clean val
    data: the same checkpoints, train losses and final weights."""
    x, y = problem()
    vx, vy = problem(seed=1, n=40)
    runs = {}
    for planted in (False, True):
        vx[37, 0] = math.nan if planted else 0.0
        model = network()
        sgd = torch.optim.SGD(model.parameters(), lr=0.1)
        saved = []
        log = MetricsLog(tmp_path / f"metrics_{planted}.jsonl")

        def save(state, model=model, sgd=sgd, saved=saved, planted=planted):
            save_checkpoint(
                tmp_path / f"{planted}_{state.step}", model=model, optimizer=sgd, scheduler=None, state=state
            )
            saved.append(state.step)

        checkpointing = Checkpointing(save, before_save=[log])
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            fit(
                model, sgd, x, y, loss_fn=nn.CrossEntropyLoss(), epochs=3, batch_size=32,
                val_data=DataLoader(TensorDataset(vx, vy), batch_size=16), callbacks=[log, checkpointing],
            )  # fmt: skip
        lines = [json.loads(line) for line in log.path.read_text().splitlines()]
        said = [w for w in said if issubclass(w.category, OptimlabWarning)]
        assert all(w.filename.endswith("evaluation.py") for w in said)  # optimlab's line, not torch's
        said = [str(w.message) for w in said]
        runs[planted] = saved, lines, said, [p.detach() for p in model.parameters()]
    saved, lines, said, weights = runs[True]
    clean_saved, clean_lines, clean_said, clean_weights = runs[False]
    assert saved == clean_saved == [3, 6, 9] and clean_said == []
    assert len(said) == 1 and "row 37 (batch 3's row 5), column 0" in said[0]
    assert [line.get("train_loss") for line in lines] == [line.get("train_loss") for line in clean_lines]
    val_losses = [line["val_loss"] for line in lines if "val_loss" in line]
    assert len(val_losses) == 3 and all(math.isnan(float(v)) for v in val_losses)  # logged as "nan"
    assert all(torch.equal(a, b) for a, b in zip(weights, clean_weights, strict=True))


def test_a_shuffled_val_loader_names_the_batch_and_its_row_not_a_row_of_the_data():
    """A shuffled val DataLoader's row was counted in the order drawn and named as the data's (row 39
    for the data's row 37): a loader in an order of its own names the batch and its row alone. Truth:
    the batch and row where the same seeded loader, read by hand, holds the NaN; an unshuffled loader
    names the data's row 37 too."""
    vx, vy = problem(seed=1, n=48)
    vx[37, 0] = math.nan

    def loader(shuffle):
        return DataLoader(
            TensorDataset(vx, vy), batch_size=16, shuffle=shuffle, generator=torch.Generator().manual_seed(3)
        )

    drawn = [batch_x for batch_x, _ in loader(True)]
    number, row = next(
        (i + 1, int(b[:, 0].isnan().nonzero())) for i, b in enumerate(drawn) if b.isnan().any()
    )
    assert (number - 1) * 16 + row != 37  # drawn elsewhere than the data's own row
    for shuffle, place in ((True, f"batch {number}'s row {row}"), (False, "row 37 (batch 3's row 5)")):
        batches = UserBatches(loader(shuffle), nn.CrossEntropyLoss(), shuffle=False)
        with pytest.raises(
            InvalidValueError, match=rf"the val data's inputs at {re.escape(place)}, column 0:"
        ):
            evaluate_batches(network(), batches, prefix="val")


def test_a_val_loader_of_a_batch_sampler_of_its_own_names_the_batch_and_its_row_alone():
    """A bucketing batch sampler over a SequentialSampler (here: its rows batched in reverse) was taken
    for data order, and the refusal named row 5 of the data for its row 37. A batch sampler other than
    torch's BatchSampler names the batch and its row alone. Truth: the batch and row where the loader,
    read by hand, holds the NaN."""

    class Reversed(Sampler):
        def __init__(self, sampler, size):
            self.sampler, self.size = sampler, size

        def __iter__(self):
            rows = list(self.sampler)[::-1]
            return iter([rows[i : i + self.size] for i in range(0, len(rows), self.size)])

        def __len__(self):
            return math.ceil(len(self.sampler) / self.size)

    vx, vy = problem(seed=1, n=48)
    vx[37, 0] = math.nan
    data = TensorDataset(vx, vy)
    loader = DataLoader(data, batch_sampler=Reversed(torch.utils.data.SequentialSampler(data), 16))
    number, row = next(
        (i + 1, int(b[:, 0].isnan().nonzero())) for i, (b, _) in enumerate(loader) if b.isnan().any()
    )
    assert (number, row) == (1, 10)
    batches = UserBatches(loader, nn.CrossEntropyLoss(), shuffle=False)
    with pytest.raises(InvalidValueError, match=r"the val data's inputs at batch 1's row 10, column 0:"):
        evaluate_batches(network(), batches, prefix="val")


def test_a_nan_val_loss_of_finite_val_data_is_no_refusal():
    """A model that makes NaN of finite val data (its weights diverged, a log of 0) is no fault of the
    data: the evaluation gives val_loss NaN as before, blaming nothing."""
    vx, vy = problem(seed=1, n=40)

    class Broken(nn.Module):
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return torch.full((len(inputs), 2), math.nan) + 0 * self.weight

        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(()))

    found = evaluate_batches(
        Broken(), UserBatches((vx, vy), nn.CrossEntropyLoss(), shuffle=False), prefix="val"
    )
    assert math.isnan(found["val_loss"])


def test_float64_val_data_past_float32s_range_is_no_refusal_its_nan_is():
    """A float64 model's val data holding a finite 1e39 (past float32's range, finite in float64) and a
    NaN target: the loss is NaN and the refusal named the 1e39, never the NaN. Truth: numpy's isfinite
    on the float64 arrays, the NaN at the target's row 5."""
    x = torch.randn(16, 3, dtype=torch.float64)
    y = torch.randn(16, 1, dtype=torch.float64)
    x[0, 0], y[5, 0] = 1e39, math.nan
    assert np.isfinite(x.numpy()).all() and np.argwhere(~np.isfinite(y.numpy())).tolist() == [[5, 0]]
    model = nn.Sequential(nn.Linear(3, 1), nn.Tanh()).double()
    with pytest.raises(
        InvalidValueError,
        match=r"^invalid value nan for the val data's targets at row 5 \(batch 1's row 5\), column 0:",
    ):
        evaluate_batches(model, UserBatches((x, y), nn.MSELoss(), shuffle=False), prefix="val")


def test_early_stopping_stops_after_patience_evaluations_without_improvement():
    x, y = problem()
    model = network()
    values = iter([1.0, 0.9, 0.95, 0.92, 0.91, 0.5])
    state = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.0),
        x,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=100,
        batch_size=32,
        evaluate=lambda: {"val_loss": next(values)},
        eval_every=2,
        callbacks=[EarlyStopping("val_loss", patience=3)],
    )
    assert state.step == 10 and state.stop_reason.startswith("early stop")


def test_gradient_clipping_bounds_the_step_of_sgd():
    x, y = problem()
    model = network()
    before = [p.detach().clone() for p in model.parameters()]
    fit(
        model,
        torch.optim.SGD(model.parameters(), lr=1.0),
        x * 100,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=1,
        batch_size=96,
        grad_clip_norm=0.01,
    )
    moved = torch.sqrt(sum(((p - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert moved.item() == pytest.approx(0.01, rel=1e-4)  # lr 1 x gradient clipped to norm 0.01


def test_numpy_clip_norm_and_interval_train_as_the_python_numbers_they_hold():
    """``grad_clip_norm=np.float32(0.5)`` and ``eval_every=np.int64(2)`` (numbers computed with NumPy)
    were refused as out of range. Truth: the run the Python numbers 0.5 and 2 give, weights bit-equal and
    the same evaluations."""
    x, y = problem()
    runs = []
    for clip, every in ((np.float32(0.5), np.int64(2)), (0.5, 2)):
        model, seen = network(), []
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=1.0),
            x * 100,
            y,
            loss_fn=nn.CrossEntropyLoss(),
            total_steps=4,
            grad_clip_norm=clip,
            eval_every=every,
            evaluate=lambda seen=seen: seen.append(1) or {},
        )
        runs.append(([p.detach() for p in model.parameters()], len(seen)))
    assert all(torch.equal(p, q) for p, q in zip(runs[0][0], runs[1][0])) and runs[0][1] == runs[1][1] == 2


class BatchRows(nn.Module):
    """A loss that records the targets (here: row numbers) of every batch it sees."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def forward(self, output, target):
        self.batches.append(target.tolist())
        return output.sum() * 0.0


@pytest.mark.parametrize("drop_last", [False, True])
def test_sequential_batches_take_the_rows_in_order_and_drop_last_drops_the_short_one(drop_last):
    x, rows = torch.randn(10, 5), torch.arange(10)
    loss = BatchRows()
    model = nn.Linear(5, 1)
    state = fit(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        x,
        rows,
        loss_fn=loss,
        total_steps=5,
        batch_size=4,
        shuffle=False,
        drop_last=drop_last,
    )
    if drop_last:  # DataLoader(shuffle=False, drop_last=True): two batches of 4 per epoch
        assert loss.batches == [[0, 1, 2, 3], [4, 5, 6, 7]] * 2 + [[0, 1, 2, 3]]
        assert (state.steps_per_epoch, state.epoch) == (2, 2)
    else:
        assert loss.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3], [4, 5, 6, 7]]


def test_shuffled_batches_with_drop_last_leave_out_different_rows_each_epoch():
    x, rows = torch.randn(10, 5), torch.arange(10)
    loss = BatchRows()
    model = nn.Linear(5, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, optimizer, x, rows, loss_fn=loss, total_steps=6, batch_size=4, seed=2, drop_last=True)
    epochs = [loss.batches[i] + loss.batches[i + 1] for i in (0, 2, 4)]
    for epoch, batch_rows in enumerate(epochs):
        assert batch_rows == epoch_permutation(2, epoch, 10)[:8].tolist()
    assert len({tuple(sorted(e)) for e in epochs}) > 1


def test_drop_last_with_a_batch_larger_than_the_data_is_refused():
    from optimlab.errors import InvalidValueError

    model = nn.Linear(5, 1)
    with pytest.raises(InvalidValueError, match="batch_size.*drop_last"):
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            torch.randn(3, 5),
            torch.zeros(3),
            loss_fn=nn.MSELoss(),
            total_steps=1,
            batch_size=4,
            drop_last=True,
        )


@pytest.mark.parametrize(
    "order", [{}, {"shuffle": False}, {"drop_last": True}, {"shuffle": False, "drop_last": True}]
)
def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path, order):
    x, y = problem()

    def setup():
        model = network()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
        return model, optimizer, scheduler

    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=40, batch_size=20, seed=5, **order)
    model, optimizer, scheduler = setup()
    fit(model, optimizer, x, y, scheduler=scheduler, **common)
    reference = [p.detach().clone() for p in model.parameters()]

    torch.manual_seed(123)  # the interrupted process leaves the global RNG elsewhere: must not matter
    model, optimizer, scheduler = setup()
    fit(
        model,
        optimizer,
        x,
        y,
        scheduler=scheduler,
        callbacks=[CheckpointAt(17, tmp_path, model, optimizer, scheduler)],
        **common,
    )
    model, optimizer, scheduler = setup()
    torch.manual_seed(999)
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=scheduler)
    assert isinstance(state, TrainState) and state.step == 17
    fit(model, optimizer, x, y, scheduler=scheduler, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


@pytest.mark.parametrize("stop_at", [17, 15])  # within the fourth epoch of 5 batches; at the third's end
@pytest.mark.parametrize("own_generator", [False, True])
def test_a_shuffling_dataloader_resumed_from_a_checkpoint_gives_the_uninterrupted_runs_weights(
    tmp_path, stop_at, own_generator
):
    """A user's DataLoader(shuffle=True) draws its epoch's order as the epoch starts; a run resumed
    within an epoch drew a new order from the restored RNG, so the rest of that epoch repeated some rows
    and skipped others (and dropout drew differently from there): the final weights differed. A loader
    with its own generator restarted it from its seed, drawing the first epoch's order again."""
    x, y = problem()

    def setup():
        model = network()  # with dropout: the global RNG must go on as in the uninterrupted run
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        generator = torch.Generator().manual_seed(3) if own_generator else None
        loader = DataLoader(TensorDataset(x, y), batch_size=20, shuffle=True, generator=generator)
        return model, optimizer, loader

    model, optimizer, loader = setup()
    fit(model, optimizer, loader, loss_fn=nn.CrossEntropyLoss(), total_steps=30)
    reference = [p.detach().clone() for p in model.parameters()]

    model, optimizer, loader = setup()
    fit(
        model,
        optimizer,
        loader,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=30,
        callbacks=[CheckpointAt(stop_at, tmp_path, model, optimizer)],
    )
    torch.manual_seed(999)  # a new process
    model, optimizer, loader = setup()
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    fit(model, optimizer, loader, loss_fn=nn.CrossEntropyLoss(), total_steps=30, state=state)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a GPU's own generator needs a GPU")
def test_a_run_with_dropout_on_a_gpu_resumed_from_a_checkpoint_gives_the_uninterrupted_runs_weights(tmp_path):
    """Dropout on a GPU draws from the GPU's generator, which checkpoints did not keep (only the CPU's):
    a resumed run dropped other units from its first step on and ended elsewhere."""
    x, y = (t.cuda() for t in problem())

    def setup():
        model = network().cuda()
        return model, torch.optim.Adam(model.parameters(), lr=1e-2)

    torch.cuda.manual_seed_all(0)
    model, optimizer = setup()
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=20, batch_size=20)
    reference = [p.detach().clone() for p in model.parameters()]

    torch.cuda.manual_seed_all(0)
    model, optimizer = setup()
    fit(
        model,
        optimizer,
        x,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=20,
        batch_size=20,
        callbacks=[CheckpointAt(7, tmp_path, model, optimizer)],
    )
    model, optimizer = setup()
    torch.cuda.manual_seed_all(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=20, batch_size=20, state=state)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


class Stream(IterableDataset):
    """The rows of ``problem()`` as a stream, with no length."""

    def __iter__(self):
        return zip(*problem(), strict=True)


@pytest.mark.parametrize("in_loader", [False, True])
def test_a_stream_of_unknown_length_resumed_from_a_checkpoint_gives_the_uninterrupted_runs_weights(
    tmp_path, in_loader
):
    """Resumed, data of unknown length were read again from their first batch to the step, and the
    loader drew its workers' seed from torch's RNG at each epoch it went through, after the checkpoint
    had restored it: dropout drew other units from there, and the weights ended elsewhere."""
    data = DataLoader(Stream(), batch_size=20) if in_loader else Stream()
    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=14, **({} if in_loader else {"batch_size": 20}))

    def setup():
        model = network()  # with dropout
        return model, torch.optim.Adam(model.parameters(), lr=1e-2)

    model, optimizer = setup()
    fit(model, optimizer, data, **common)
    reference = [p.detach().clone() for p in model.parameters()]

    model, optimizer = setup()
    fit(model, optimizer, data, callbacks=[CheckpointAt(8, tmp_path, model, optimizer)], **common)
    model, optimizer = setup()
    torch.manual_seed(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    assert state.steps_per_epoch == 5
    fit(model, optimizer, data, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


class CountedStream(IterableDataset):
    """The rows of ``problem(n=20)`` as a stream, with no length, refusing a fifth pass (a run that does
    not end)."""

    def __init__(self):
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        if self.passes > 4:
            raise RuntimeError("read a fifth time: the run did not end")
        return zip(*problem(n=20), strict=True)


def test_a_stream_resumed_past_its_last_epoch_ends_at_once_as_a_dataloader_does(tmp_path):
    """A run over a stream of unknown length, stopped in its third pass and resumed with epochs=2, never
    ended, then trained to the end of that pass; a DataLoader of the same rows, whose steps are counted,
    ends at once. Truth: the DataLoader's run, checkpointed and resumed alike: its step and weights, and
    no pass of the stream read."""
    ended = {}
    streams = {
        "stream": CountedStream,
        "loader": lambda: DataLoader(TensorDataset(*problem(n=20)), batch_size=4),
    }
    for kind, data in streams.items():
        batching = {"batch_size": 4} if kind == "stream" else {}
        model = network()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        stop = CheckpointAt(12, tmp_path / kind, model, optimizer)  # 2 batches into the third pass of 5
        fit(model, optimizer, data(), loss_fn=nn.CrossEntropyLoss(), epochs=3, callbacks=[stop], **batching)
        model = network(seed=1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        state = load_checkpoint(
            read_checkpoint(tmp_path / kind), model=model, optimizer=optimizer, scheduler=None
        )
        resumed = data()
        state = fit(
            model, optimizer, resumed, loss_fn=nn.CrossEntropyLoss(), epochs=2, state=state, **batching
        )
        ended[kind] = state.step, [p.detach() for p in model.parameters()], getattr(resumed, "passes", 0)
    (step, weights, passes), (loader_step, loader_weights, _) = ended["stream"], ended["loader"]
    assert step == loader_step == 12 and passes == 0
    assert all(torch.equal(a, b) for a, b in zip(weights, loader_weights, strict=True))


class Augmented(Dataset):
    """The rows of ``problem()`` with noise from torch's RNG added as each is read, as a random crop or
    flip of torchvision's draws."""

    def __init__(self):
        self.x, self.y = problem()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + 0.1 * torch.randn(self.x.shape[1:]), self.y[i]


class AugmentedStream(IterableDataset):
    def __iter__(self):
        return iter(Augmented()[i] for i in range(len(problem()[0])))


@pytest.mark.parametrize("stop_at", [7, 3])  # within the second epoch of 5 batches; within the first
@pytest.mark.parametrize("data", ["loader", "stream", "dataset"])
def test_data_drawing_from_torchs_rng_as_it_is_read_resumed_mid_epoch_gives_the_uninterrupted_runs_weights(
    tmp_path, data, stop_at
):
    """A Dataset that augments as it reads (torch's RNG), in a DataLoader without workers, as a stream,
    or given to fit to batch: the batch after a mid-epoch checkpoint had been read ahead, before the step
    the checkpoint ends, and the resumed run read it again after the steps, from another state of the RNG:
    other noise, and the weights ended elsewhere. A stream stopped in its first epoch (its length not yet
    known) read its batches again from the first, with the RNG of the step's set before that one. Truth:
    the uninterrupted run."""
    batching = {"batch_size": 20} if data == "dataset" else {}

    def setup():
        model = network()  # with dropout: the reads and the steps draw from the one RNG in turn
        read = {
            "loader": lambda: DataLoader(Augmented(), batch_size=20, shuffle=True),
            "stream": lambda: DataLoader(AugmentedStream(), batch_size=20),
            "dataset": Augmented,
        }[data]()
        return model, torch.optim.Adam(model.parameters(), lr=1e-2), read

    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=12, **batching)
    torch.manual_seed(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, **common)
    reference = [p.detach().clone() for p in model.parameters()]

    torch.manual_seed(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, callbacks=[CheckpointAt(stop_at, tmp_path, model, optimizer)], **common)
    model, optimizer, read = setup()
    torch.manual_seed(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    fit(model, optimizer, read, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


class AugmentedByNumpyOrPython(Augmented):
    """The rows of ``problem()`` with noise drawn from NumPy's or Python's global generator as each is read,
    as augmentations written with ``np.random`` or ``random`` draw."""

    def __init__(self, drawn_from: str):
        super().__init__()
        self.drawn_from = drawn_from

    def __getitem__(self, i):
        if self.drawn_from == "numpy":
            noise = torch.from_numpy(np.random.normal(0.0, 0.1, self.x.shape[1:]).astype(np.float32))
        else:
            noise = torch.tensor([random.gauss(0.0, 0.1) for _ in range(self.x.shape[1])])
        return self.x[i] + noise, self.y[i]


class ShuffledByNumpyOrPython(Sampler):
    """Each epoch's order drawn from NumPy's or Python's global generator as the epoch starts, as a user's
    own sampler (a bucketing one) draws it."""

    def __init__(self, n: int, drawn_from: str):
        self.n, self.drawn_from = n, drawn_from

    def __len__(self):
        return self.n

    def __iter__(self):
        if self.drawn_from == "numpy":
            return iter(np.random.permutation(self.n).tolist())
        return iter(random.sample(range(self.n), self.n))


@pytest.mark.parametrize("stop_at", [7, 5])  # within the second epoch of 5 batches; at the first's end
@pytest.mark.parametrize("data", ["loader", "dataset", "sampler"])
@pytest.mark.parametrize("drawn_from", ["numpy", "python"])
def test_data_drawing_from_numpys_or_pythons_rng_resumed_gives_the_uninterrupted_runs_weights(
    tmp_path, drawn_from, data, stop_at
):
    """A Dataset that augments with NumPy's or Python's global generator, in a DataLoader without workers
    or batched by fit, or a DataLoader whose sampler draws its order from them: a checkpoint kept torch's
    RNG alone, so the resumed run read its batches (and drew the stopped epoch's order again) with the
    states of the process it ran in (here seeded otherwise, as a new process's are) and ended with other
    weights. Truth: the uninterrupted run (torch.equal)."""
    batching = {"batch_size": 20} if data == "dataset" else {}

    def setup():
        model = network()
        dataset = AugmentedByNumpyOrPython(drawn_from)
        read = {
            "loader": lambda: DataLoader(dataset, batch_size=20, shuffle=True),
            "dataset": lambda: dataset,
            "sampler": lambda: DataLoader(
                TensorDataset(*problem()), batch_size=20, sampler=ShuffledByNumpyOrPython(96, drawn_from)
            ),
        }[data]()
        return model, torch.optim.Adam(model.parameters(), lr=1e-2), read

    def seed_all(seed):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)

    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=12, **batching)
    seed_all(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, **common)
    reference = [p.detach().clone() for p in model.parameters()]

    seed_all(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, callbacks=[CheckpointAt(stop_at, tmp_path, model, optimizer)], **common)
    model, optimizer, read = setup()
    seed_all(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    fit(model, optimizer, read, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


@pytest.mark.parametrize("data", ["loader", "dataset"])
def test_a_fit_that_writes_no_checkpoint_reads_numpys_and_pythons_states_at_no_batch(
    tmp_path, monkeypatch, data
):
    """NumPy's and Python's global states, kept before each read of a DataLoader or a Dataset batched by
    fit for a checkpoint (c2a4840), cost 46 us a batch (np.random.get_state 33), over a hand loop's
    nothing, in a fit whose callbacks write none (a metrics log alone, or no callback): read there at
    every batch. Truth: the calls counted; torch's state alone kept, as before c2a4840, and
    a run continued from the state (in its process) takes the uninterrupted run's batches of torch."""
    import optimlab.data.user_batches as user_batches
    from optimlab.train.callbacks import MetricsLog

    calls = []

    def counted():
        calls.append(1)
        return global_states()

    monkeypatch.setattr(user_batches, "global_states", counted)
    batching = {"batch_size": 20} if data == "dataset" else {}

    def setup():
        model = network()
        read = DataLoader(Augmented(), batch_size=20, shuffle=True) if data == "loader" else Augmented()
        return model, torch.optim.Adam(model.parameters(), lr=1e-2), read

    common = dict(loss_fn=nn.CrossEntropyLoss(), **batching)
    torch.manual_seed(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, total_steps=12, **common)
    reference = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(0)
    model, optimizer, read = setup()
    state = fit(model, optimizer, read, total_steps=7, callbacks=[MetricsLog(tmp_path / "m.jsonl")], **common)
    assert calls == []
    assert set(state.data_drawn["batch_rng"]) == {"torch"}
    fit(model, optimizer, read, total_steps=12, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)
    assert len(calls) == 1  # once, as the run continues (the states it goes on from), not a batch


def _optimlabs_callbacks_that_write_no_checkpoint(model, optimizer):
    from optimlab.doctor.diagnose import DoctorCallback
    from optimlab.doctor.lr_check import _Probe, _Progress, _Recorder
    from optimlab.integrations.tracking import Tracker
    from optimlab.study.trial import CurveRecorder
    from optimlab.train.callbacks import StopOnSignal

    class Listed(Tracker):  # a tracker's writer: the records kept in a list
        run_name, written = "listed", []

        def write(self, records):
            self.written.extend(records)

        def close(self, *, failed=False, interrupted=False): ...

    return {
        "CurveRecorder": CurveRecorder(None, "val_loss"),
        "StopOnSignal": StopOnSignal(),
        "Tracker": Listed(),
        "DoctorCallback": DoctorCallback(model, optimizer),
        "lr_check._Recorder": _Recorder(20, []),
        "lr_check._Progress": _Progress("check", 20),
        "lr_check._Probe": _Probe(math.inf, 20),
    }


@pytest.mark.parametrize(
    "name",
    [
        "CurveRecorder",
        "StopOnSignal",
        "Tracker",
        "DoctorCallback",
        "lr_check._Recorder",
        "lr_check._Progress",
        "lr_check._Probe",
    ],
)
def test_optimlabs_own_callbacks_that_save_nothing_keep_no_numpy_or_python_state_a_batch(monkeypatch, name):
    """Callback.writes_checkpoints defaults True (a user's callback may save), and optimlab's own callbacks
    that save nothing inherited it: a fit of 20 steps on a Dataset with [CurveRecorder] (every study
    trial's) or [StopOnSignal] called global_states 23 times (46 us a batch), with no callback 0. Truth:
    the calls counted, 0 as with no callback; each callback saves no state (it calls no save)."""
    import optimlab.data.user_batches as user_batches

    calls = []

    def counted():
        calls.append(1)
        return global_states()

    monkeypatch.setattr(user_batches, "global_states", counted)
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    callback = _optimlabs_callbacks_that_write_no_checkpoint(model, optimizer)[name]
    fit(
        model,
        optimizer,
        Augmented(),
        loss_fn=nn.CrossEntropyLoss(),
        batch_size=20,
        total_steps=20,
        callbacks=[callback],
    )
    assert calls == []


@pytest.mark.parametrize("data", ["loader", "dataset"])
def test_a_run_checkpointed_by_checkpointing_beside_a_metrics_log_resumes_numpys_draws_exactly(
    tmp_path, data
):
    """Where a Checkpointing writes the checkpoint (the other callbacks writing none), the reads'
    NumPy states are kept, and the resumed run reads its batches as the uninterrupted one. Truth: the
    uninterrupted run, torch.equal."""
    from optimlab.train.callbacks import Checkpointing, MetricsLog

    batching = {"batch_size": 20} if data == "dataset" else {}

    def setup():
        model = network()
        dataset = AugmentedByNumpyOrPython("numpy")
        read = DataLoader(dataset, batch_size=20, shuffle=True) if data == "loader" else dataset
        return model, torch.optim.Adam(model.parameters(), lr=1e-2), read

    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=12, **batching)
    torch.manual_seed(0), np.random.seed(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, **common)
    reference = [p.detach().clone() for p in model.parameters()]

    class StopAt(Callback):
        writes_checkpoints = False

        def on_step_end(self, state):
            if state.step == 7:
                state.stop_reason = "interrupted"

    def save(state):
        save_checkpoint(tmp_path, model=model, optimizer=optimizer, scheduler=None, state=state)

    torch.manual_seed(0), np.random.seed(0)
    model, optimizer, read = setup()
    log = MetricsLog(tmp_path / "m.jsonl")
    fit(model, optimizer, read, callbacks=[StopAt(), log, Checkpointing(save, every=1)], **common)
    model, optimizer, read = setup()
    torch.manual_seed(999), np.random.seed(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    fit(model, optimizer, read, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


@pytest.mark.slow
def test_a_dataloaders_workers_augmenting_with_numpy_resumed_mid_epoch_give_the_uninterrupted_runs_weights(
    tmp_path,
):
    """fit's docstring says a DataLoader's workers (not persistent) draw as an uninterrupted run's: torch
    seeds NumPy in each worker from the base seed it draws as the epoch starts, which the resumed run draws
    again from the states kept then, and the workers read again the batches before the step. Truth: the
    uninterrupted run (torch.equal), stopped within the second epoch."""

    def setup():
        loader = DataLoader(AugmentedByNumpyOrPython("numpy"), batch_size=20, shuffle=True, num_workers=1)
        model = network()
        return model, torch.optim.Adam(model.parameters(), lr=1e-2), loader

    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=12)
    torch.manual_seed(0)
    model, optimizer, loader = setup()
    fit(model, optimizer, loader, **common)
    reference = [p.detach().clone() for p in model.parameters()]

    torch.manual_seed(0)
    model, optimizer, loader = setup()
    fit(model, optimizer, loader, callbacks=[CheckpointAt(7, tmp_path, model, optimizer)], **common)
    model, optimizer, loader = setup()
    torch.manual_seed(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    fit(model, optimizer, loader, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


@pytest.mark.parametrize("data", ["loader", "dataset"])
def test_a_checkpoint_kept_before_numpys_and_pythons_states_were_resumes_exactly(tmp_path, data):
    """Checkpoints written before NumPy's and Python's global states were kept (torch's alone, at the
    epoch's start and before the data's last read) still load, and a run whose data and model draw from
    torch's alone resumes as exactly as before. Truth: the uninterrupted run (torch.equal)."""
    batching = {"batch_size": 20} if data == "dataset" else {}

    def setup():
        model = network()  # with dropout
        read = DataLoader(Augmented(), batch_size=20, shuffle=True) if data == "loader" else Augmented()
        return model, torch.optim.Adam(model.parameters(), lr=1e-2), read

    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=12, **batching)
    torch.manual_seed(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, **common)
    reference = [p.detach().clone() for p in model.parameters()]

    torch.manual_seed(0)
    model, optimizer, read = setup()
    fit(model, optimizer, read, callbacks=[CheckpointAt(7, tmp_path, model, optimizer)], **common)
    payload = read_checkpoint(tmp_path)
    old = {k: v for k, v in payload.items() if k not in ("numpy_rng", "python_rng")}
    drawn = old["state"]["data_drawn"]
    torch_alone = {k: drawn[k]["torch"] for k in ("rng", "batch_rng") if drawn.get(k) is not None}
    old["state"] = {**old["state"], "data_drawn": {**drawn, **torch_alone}}
    torch.save(old, tmp_path / "checkpoint.pt")
    model, optimizer, read = setup()
    torch.manual_seed(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    fit(model, optimizer, read, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


def test_a_run_on_a_dataset_resumed_on_a_dataloader_of_its_rows_trains_on(tmp_path):
    """The state of a run on a Dataset batched by fit keeps its reads' RNG but no loader's generators;
    resumed with a DataLoader instead, the read raised KeyError 'generators', blamed on the data. Truth:
    the loader draws its own order (as for a checkpoint kept before 5eb383f) and the run ends."""
    x, y = problem()
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=6)
    fit(
        model,
        optimizer,
        TensorDataset(x, y),
        batch_size=20,
        callbacks=[CheckpointAt(2, tmp_path, model, optimizer)],
        **common,
    )
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    loader = DataLoader(TensorDataset(x, y), batch_size=20, shuffle=True)
    assert fit(model, optimizer, loader, state=state, **common).step == 6


def test_clipping_is_torchs_for_one_model_and_each_members_own_for_a_stack():
    generator = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 4, 5, generator=generator), torch.randn(3, 7, generator=generator) * 10]
    for g in grads:
        g[1] /= 1000  # member 1's norm is under the bound: left as it is
    reference = []
    for k in range(3):
        member = [torch.nn.Parameter(torch.zeros_like(g[k])) for g in grads]
        for p, g in zip(member, grads):
            p.grad = g[k].clone()
        torch.nn.utils.clip_grad_norm_(member, 5.0)
        reference.append([p.grad for p in member])
    plain = [g[0].clone() for g in grads]
    clip_grad_norm_(plain, 5.0)
    assert all(torch.equal(a, b) for a, b in zip(plain, reference[0]))  # bitwise: torch's own steps
    stacked = [g.clone() for g in grads]
    clip_grad_norm_(stacked, 5.0, stacked=True)
    for k in range(3):
        for g, expected in zip(stacked, reference[k]):
            torch.testing.assert_close(g[k], expected, rtol=1e-6, atol=0)
    assert all(torch.equal(s[1], g[1]) for s, g in zip(stacked, grads))


def test_torchs_reduce_on_plateau_steps_on_each_evaluations_metric_as_in_a_hand_written_loop():
    x, y = problem()
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    seen = [0.9, 0.8, 0.85, 0.86]  # improves once, then stalls twice
    metrics = iter(seen)

    class Lrs(Callback):
        def __init__(self):
            self.lrs = []

        def on_step_end(self, state):
            self.lrs.append(optimizer.param_groups[0]["lr"])

    lrs = Lrs()
    evaluate = lambda: {"val_loss": next(metrics)}  # noqa: E731
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=8, eval_every=2,
        evaluate=evaluate, scheduler=scheduler, callbacks=[lrs])  # fmt: skip
    twin = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    truth = torch.optim.lr_scheduler.ReduceLROnPlateau(twin, factor=0.5, patience=0)
    expected = []
    for metric in seen:  # torch's own scheduler, stepped by hand at every other step's end
        expected.append(twin.param_groups[0]["lr"])
        truth.step(metric)
        expected.append(twin.param_groups[0]["lr"])
    assert lrs.lrs == pytest.approx(expected) and expected[-1] == pytest.approx(0.025)


def test_a_plateau_scheduler_without_evaluations_or_its_metric_is_refused_by_name():
    x, y = problem()
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    common = {"loss_fn": nn.CrossEntropyLoss(), "total_steps": 4, "scheduler": scheduler}
    with pytest.raises(InvalidValueError, match="ReduceLROnPlateau.*for scheduler.*val_data"):
        fit(model, optimizer, x, y, **common)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(InvalidValueError, match="val_acc.*for plateau_metric.*val_accuracy, val_loss"):
        fit(model, optimizer, x, y, **common, val_data=(x, y), plateau_metric="val_acc")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # said before any step


@pytest.mark.parametrize("task", ["classes", "regression"])
def test_a_bfloat16_models_validation_loss_is_its_outputs_loss_in_float32_not_rounded_to_bfloat16(task):
    """A model cast to bfloat16 reported the val_loss torch's loss makes in bfloat16, rounded to its 8
    bits (20.5 where the same outputs' loss is 20.4767: each improvement under 0.4% unseen). Truth: the
    loss of the model's own bfloat16 outputs computed in float64."""
    x, labels = problem(n=300)
    y = labels if task == "classes" else x.sum(1, keepdim=True).mul(3).to(torch.bfloat16)
    loss_fn = nn.functional.cross_entropy if task == "classes" else nn.functional.mse_loss
    model = (network() if task == "classes" else nn.Linear(5, 1)).to(torch.bfloat16)
    x = x.to(torch.bfloat16)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.01), x, y, loss_fn=loss_fn, batch_size=100,
                total_steps=1, val_data=(x, y))  # fmt: skip
    model.eval()
    with torch.no_grad():
        truth = loss_fn(model(x).double(), y.double() if task == "regression" else y).item()
    assert state.last_metrics["val_loss"] == pytest.approx(truth, rel=1e-6)


class _Scored(nn.Module):
    """A Hugging Face-like model: its outputs hold the logits under ``.logits``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(5, 2)

    def forward(self, x):
        return types.SimpleNamespace(logits=self.linear(x))


def test_a_users_own_loss_of_a_bfloat16_model_is_called_once_a_batch_on_the_outputs_fit_gives_it():
    """The bfloat16 evaluation called the user's loss again on the bare logits (AttributeError from a
    loss reading out.logits, at the first evaluation of a model that trained) and twice more a batch (a
    counting or random loss advanced). Truth: the calls counted by hand (one a training step, one a
    validation batch) and the val_loss the user's loss makes of the model's bfloat16 outputs."""
    x, y = problem()
    calls = []

    def loss_fn(out, target):
        calls.append(len(target))
        return nn.functional.cross_entropy(out.logits, target)

    model = _Scored().to(torch.bfloat16)
    x = x.to(torch.bfloat16)
    val = DataLoader(TensorDataset(x, y), batch_size=32)  # 3 batches
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.01), x, y, loss_fn=loss_fn, batch_size=96,
                total_steps=1, val_data=val)  # fmt: skip
    assert calls == [96, 32, 32, 32]
    model.eval()
    with torch.no_grad():
        truth = sum(loss_fn(model(xb), yb).item() * len(yb) for xb, yb in val) / len(y)
    assert state.last_metrics["val_loss"] == truth


def test_a_float32_models_validation_loss_is_its_batches_losses_as_torch_makes_them():
    """The float32 val_loss, bit for bit: the mean over rows of torch's loss of each batch."""
    x, y = problem()
    model = network()
    val = DataLoader(TensorDataset(x, y), batch_size=32)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
                batch_size=32, total_steps=3, val_data=val)  # fmt: skip
    model.eval()
    with torch.no_grad():
        truth = sum(nn.functional.cross_entropy(model(xb), yb).item() * len(yb) for xb, yb in val) / len(y)
    assert state.last_metrics["val_loss"] == truth


def test_a_scheduler_setting_without_the_scheduler_it_sets_is_refused_by_name():
    """scheduler_interval='epoch' without a scheduler or beside a ReduceLROnPlateau (stepped at each
    evaluation whatever the interval), and a plateau_metric beside no reduce-on-plateau scheduler (none,
    or a StepLR), trained as if they were not given: a typo'd setup went unnoticed. Each is refused by
    name before any step; plateau_metric='val_loss', the default, given explicitly is taken (31cda684
    refused it); a plateau scheduler still reads the metric named."""
    x, y = problem()
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    common = {"loss_fn": nn.CrossEntropyLoss(), "total_steps": 2, "val_data": (x, y)}
    before = [p.detach().clone() for p in model.parameters()]
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max")
    for scheduler, beside in ((None, "without a scheduler"), (plateau, "beside a ReduceLROnPlateau")):
        with pytest.raises(
            InvalidValueError,
            match=f"^invalid value 'epoch' for scheduler_interval: accepted 'step' .*{beside}",
        ):
            fit(model, optimizer, x, y, **common, scheduler=scheduler, scheduler_interval="epoch")
    step_lr = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    for scheduler, words in ((None, "no scheduler"), (step_lr, "a StepLR")):
        with pytest.raises(
            InvalidValueError,
            match=f"^invalid value 'val_accuracy' for plateau_metric: accepted 'val_loss' .* with {words}",
        ):
            fit(model, optimizer, x, y, **common, scheduler=scheduler, plateau_metric="val_accuracy")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert step_lr.last_epoch == 0 and plateau.last_epoch == 0
    assert fit(model, optimizer, x, y, **common, plateau_metric="val_loss").step == 2
    fit(model, optimizer, x, y, **common, scheduler=plateau, plateau_metric="val_accuracy", eval_every=1)
    assert plateau.last_epoch == 2  # stepped at both evaluations, on the metric named


@pytest.mark.parametrize("column", [False, True])
def test_a_one_logit_bce_classifier_on_float_labels_gets_its_accuracy(column):
    """BCEWithLogitsLoss takes float 0/1 targets: fit evaluated its loss but no accuracy, which it gives
    integer labels. The accuracy is the share of rows whose logit's sign is the label, by hand here."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=generator)
    y = (x[:, 0] - x[:, 1] > 0).float()
    y = y[:, None] if column else y  # the logit's shape, as BCEWithLogitsLoss wants it
    model = nn.Linear(3, 1) if column else nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.5), x[:200], y[:200],
                loss_fn=nn.BCEWithLogitsLoss(), total_steps=30, val_data=(x[200:], y[200:]))  # fmt: skip
    with torch.no_grad():
        by_hand = ((model(x[200:]).reshape(-1) > 0).float() == y[200:].reshape(-1)).float().mean().item()
    assert state.last_metrics["val_accuracy"] == pytest.approx(by_hand) and by_hand > 0.9


def test_a_step_line_of_the_metrics_log_is_what_json_writes_of_its_record(tmp_path):
    """The step's line is formatted directly (the loop's hot path): it must read as json.dumps writes the
    record, NaN and inf as the strings "nan", "inf" and "-inf" (null read as a loss missing), so that
    every JSON reader parses it alike and float() reads them back."""
    import json

    from optimlab.train.callbacks import MetricsLog

    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.on_train_start(TrainState())
    values = [0.123456789, 1e-300, -0.0, 2.5e20, math.nan, math.inf, -math.inf, 3]
    for step, loss in enumerate(values, start=1):
        log.on_step_end(TrainState(step=step, epoch=step // 3, train_loss=loss, lr=0.1 / step))
    log.on_train_end(TrainState())
    for line, loss in zip((tmp_path / "metrics.jsonl").read_text().splitlines(), values, strict=True):
        record = json.loads(line)
        finite = {k: v for k, v in record.items() if k != "seconds"}
        expected = {"step": record["step"], "epoch": record["step"] // 3, "lr": 0.1 / record["step"]}
        assert finite == {**expected, "train_loss": float(loss) if math.isfinite(loss) else repr(float(loss))}
        assert float(finite["train_loss"]) == loss or (
            math.isnan(loss) and math.isnan(float(finite["train_loss"]))
        )
        ordered = {"step": record["step"], "epoch": record["epoch"], "train_loss": finite["train_loss"]}
        assert line == json.dumps({**ordered, "lr": record["lr"], "seconds": record["seconds"]})


def test_a_batch_norm_frozen_in_a_training_model_stays_frozen_through_fit_and_its_evaluations():
    """Fine-tuning with a frozen batch norm (bn.eval(), its parameters off): fit called model.train()
    at its start and after every evaluation, so the norm took each batch's statistics again and its
    running ones moved. A model handed over in eval mode still trains in train mode."""
    torch.manual_seed(0)
    x, y = torch.randn(256, 8) * 3 + 1, torch.randint(0, 2, (256,))
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2))
    frozen = model[1]
    frozen.eval()
    frozen.requires_grad_(False)
    before = frozen.running_mean.clone(), frozen.running_var.clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    fit(
        model, optimizer, (x, y), loss_fn=nn.CrossEntropyLoss(), total_steps=16, val_data=(x, y), eval_every=4
    )
    assert torch.equal(frozen.running_mean, before[0]) and torch.equal(frozen.running_var, before[1])
    assert model.training and model[3].training and not frozen.training
    handed_over = nn.Sequential(nn.Linear(8, 2), nn.Dropout(0.5)).eval()
    seen = []
    handed_over[1].register_forward_hook(lambda module, args, out: seen.append(module.training))
    fit(handed_over, torch.optim.SGD(handed_over.parameters(), lr=0.1), (x, y), loss_fn=nn.CrossEntropyLoss(),
        total_steps=2)  # fmt: skip
    assert seen == [True, True] and handed_over.training


def test_a_resumed_metrics_log_keeps_its_time_going_forward(tmp_path):
    """The checkpoint's clock stops before the last step's evaluation, whose line is timed after it: a
    resumed log went back in time (0.092 s at the evaluation of step 27, 0.0887 s at step 28)."""
    from optimlab.train.callbacks import MetricsLog

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1, "seconds": 0.5}\n{"step": 1, "val_loss": 1.0, "seconds": 0.9}\n')
    log = MetricsLog(path)
    state = TrainState(step=1, seconds=0.6)
    log.on_train_start(state)
    state.step = 2
    log.on_step_end(state)
    log.on_train_end(state)
    seconds = [json.loads(line)["seconds"] for line in path.read_text().splitlines()]
    assert seconds == sorted(seconds) and seconds[-1] >= 0.9


def test_torchs_lbfgs_steps_with_fits_closure_as_in_a_hand_written_loop():
    """LBFGS.step requires a closure (its line search evaluates the loss again); fit called step() and
    raised torch's TypeError ('missing 1 required positional argument: closure') at the first step."""
    x, y = problem()

    def setup():
        torch.manual_seed(0)  # no dropout: the line search's evaluations must agree
        model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))
        return model, torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4, history_size=3)

    model, optimizer = setup()
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=6, batch_size=32, shuffle=False)
    got = [p.detach().clone() for p in model.parameters()]
    model, optimizer = setup()
    for step in range(6):
        rows = slice(step % 3 * 32, (step % 3 + 1) * 32)

        def closure(rows=rows):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[rows]), y[rows])
            loss.backward()
            return loss

        optimizer.step(closure)
    for a, b in zip(got, model.parameters()):
        assert torch.equal(a, b)
    torch.manual_seed(0)
    assert not torch.equal(got[0], nn.Linear(5, 16).weight)


@pytest.mark.parametrize("with_dense", [True, False])
def test_clipping_takes_a_sparse_gradient_by_the_norm_of_its_dense_equal(with_dense):
    """torch's clip_grad_norm_ raises NotImplementedError ('aten::linalg_vector_norm' on SparseCPU) on
    the gradient of an nn.Embedding(sparse=True), which fit with grad_clip_norm blamed on the first batch."""
    torch.manual_seed(0)
    embedding, linear = nn.Embedding(10, 4, sparse=True), nn.Linear(4, 2)
    (linear(embedding(torch.tensor([1, 2, 2, 7]))) ** 2).sum().backward()
    params = [embedding.weight, *(linear.parameters() if with_dense else ())]
    copies = [nn.Parameter(p.detach().clone()) for p in params]
    for copy, p in zip(copies, params):
        copy.grad = p.grad.to_dense().clone()  # to_dense of a dense tensor is the tensor itself
    torch.nn.utils.clip_grad_norm_(copies, 0.5)  # the truth, on the dense equals
    clip_grad_norm_([p.grad for p in params], 0.5)
    assert params[0].grad.is_sparse
    for p, copy in zip(params, copies):
        torch.testing.assert_close(p.grad.to_dense(), copy.grad)
    assert torch.linalg.vector_norm(torch.stack([c.grad.norm() for c in copies])) == pytest.approx(
        0.5, rel=1e-5
    )


def small_gradients_network() -> nn.Module:
    """A network whose first layer's gradients are ~1e-9: float16 flushes them to zero unscaled."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2, bias=False), Scaled(1e-4))


class Scaled(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def test_float16_autocast_scales_the_loss_as_torchs_amp_recipe_does():
    """fit ran float16 autocast without loss scaling: the first layer's gradients underflowed to zero
    and it never moved, without a word. The truth: torch's AMP loop (autocast, GradScaler, unscale_
    before clipping)."""
    x, y = problem()
    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=6, batch_size=32, shuffle=False)
    model = small_gradients_network()
    start = model[0].weight.detach().clone()
    fit(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-2),
        x,
        y,
        autocast_dtype=torch.float16,
        grad_clip_norm=1.0,
        **common,
    )
    got = [p.detach().clone() for p in model.parameters()]
    assert not torch.equal(got[0], start)

    model = small_gradients_network()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu")
    for step in range(6):
        rows = slice(step % 3 * 32, (step % 3 + 1) * 32)
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = nn.functional.cross_entropy(model(x[rows]), y[rows])
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
    for a, b in zip(got, model.parameters()):
        assert torch.equal(a, b)


def test_a_float16_run_resumed_from_a_checkpoint_keeps_its_loss_scale(tmp_path):
    """Its first steps overflow (a summed loss of large inputs), and the scale backs off to 4096; a
    resumed run starting again from 65536 would skip steps the uninterrupted one took."""
    x, y = problem()
    common = dict(
        loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        total_steps=8,
        batch_size=32,
        autocast_dtype=torch.float16,
    )

    def setup():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 64), nn.Tanh(), nn.Linear(64, 2))
        return model, torch.optim.Adam(model.parameters(), lr=1e-2)

    model, optimizer = setup()
    state = fit(model, optimizer, x * 30, y, **common)
    assert state.grad_scaler["scale"] < 65536.0
    reference = [p.detach().clone() for p in model.parameters()]

    model, optimizer = setup()
    fit(model, optimizer, x * 30, y, callbacks=[CheckpointAt(5, tmp_path, model, optimizer)], **common)
    model, optimizer = setup()
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None)
    assert state.grad_scaler["scale"] < 65536.0
    fit(model, optimizer, x * 30, y, state=state, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)


def test_float16_autocast_beside_an_optimizer_that_evaluates_the_loss_again_is_refused_in_one_line():
    x, y = problem()
    model = small_gradients_network()
    with pytest.raises(InvalidValueError, match="torch.float16 beside a LBFGS") as error:
        fit(
            model,
            torch.optim.LBFGS(model.parameters()),
            x,
            y,
            loss_fn=nn.CrossEntropyLoss(),
            total_steps=2,
            autocast_dtype=torch.float16,
        )
    assert "\n" not in str(error.value)


def test_float16_autocast_of_a_float16_model_is_refused_as_the_autocast_not_the_batch():
    """torch's GradScaler unscales float32 gradients only (AMP keeps float32 weights), so a model already
    in float16 under autocast_dtype=float16 raised torch's 'Attempting to unscale FP16 gradients' at the
    first step, said as a batch the model cannot use. Truth: torch's own GradScaler refuses such a
    gradient; the refusal names autocast_dtype and the parameter, before any step."""
    x, y = problem()
    model = small_gradients_network().half()
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.functional.cross_entropy(model(x[:4].half()), y[:4])
    (scaler := torch.amp.GradScaler("cpu")).scale(loss).backward()
    with pytest.raises(ValueError, match="FP16 gradients"):
        scaler.unscale_(sgd)  # the truth: torch's scaler cannot take them
    sgd.zero_grad()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(InvalidValueError, match="autocast_dtype") as error:
        fit(
            model,
            sgd,
            x.half(),
            y,
            loss_fn=nn.CrossEntropyLoss(),
            total_steps=2,
            autocast_dtype=torch.float16,
        )
    assert (
        "\n" not in str(error.value)
        and "float16" in error.value.value
        and "model.float()" in str(error.value)
    )
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))


def test_a_schedule_free_run_stopped_by_a_refusal_leaves_the_weights_at_its_evaluation_point():
    """fit switched a schedule-free optimizer (Defazio et al. 2024) to its training point y and back to
    x only when the run ended: a batch refused mid-training left the model at y, which neither training
    nor evaluation reads as the model. Truth: the point a completed run leaves (train_mode False), as
    optimizer.eval() of the same state gives it."""
    import optimlab.optim

    x, y = problem()
    batches = [(x[:16], y[:16]), (x[16:32], y[16:32]), (x[32:48, :3], y[32:48])]  # the third: 3 features
    model = nn.Linear(5, 2)
    optimizer = optimlab.optim.create("schedule_free_sgd", model.parameters(), lr=0.1)
    with pytest.raises(InvalidValueError, match="the batch of step 3"):
        fit(model, optimizer, batches, loss_fn=nn.CrossEntropyLoss(), total_steps=3)
    assert optimizer.param_groups[0]["train_mode"] is False


def test_a_last_update_that_leaves_weights_not_finite_is_a_divergence():
    """The loss is read before each update, so the run's last update was checked by no later loss: an
    lr of 1e38 on a gradient of 10 puts weights at 1e39, past float32's 3.4e38 (inf), and the run ended
    'completed' with a NaN validation loss. The same update before the end is caught by the next loss."""
    x, y = torch.full((8, 1), 10.0), torch.zeros(8, 1)
    for steps, says in ((1, "the update of step 1"), (2, "the loss became")):
        model = nn.Linear(1, 1)
        nn.init.constant_(model.weight, 1.0)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e38)
        evaluations = []
        state = fit(
            model, optimizer, x, y, loss_fn=nn.MSELoss(), total_steps=steps, batch_size=8,
            evaluate=lambda kept=evaluations: kept.append(1) or {"val_loss": 0.0},
        )  # fmt: skip
        assert not torch.isfinite(model.weight).all() or steps == 2
        # evaluated after each step but a diverged one: a NaN weight's scores are no result
        assert state.diverged and says in state.stop_reason and len(evaluations) == steps - 1
    calm = nn.Linear(1, 1)
    state = fit(calm, torch.optim.SGD(calm.parameters(), lr=1e-3), x, y, loss_fn=nn.MSELoss(), total_steps=1)
    assert not state.diverged


def test_the_progress_bar_written_to_a_log_is_whole(capsys, monkeypatch):
    """Written to a file or a pipe (a CI log), the bar is one frame, its last, which was cut to 80
    columns ('a linear model on sixty-four random r… loss 0.9408 val_loss 1.234 val_accuracy …'): it
    holds the steps done and the last scores whole."""
    from optimlab.train import ProgressBar

    monkeypatch.setenv("COLUMNS", "80")  # a log's width, as rich reads it where no terminal says
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    model = nn.Linear(4, 1)
    state = fit(
        model, torch.optim.SGD(model.parameters(), lr=0.01), x, y, loss_fn=nn.MSELoss(), total_steps=60,
        batch_size=16, callbacks=[ProgressBar("a linear model on sixty-four random rows")],
        evaluate=lambda: {"val_loss": 1.2345, "val_accuracy": 0.5}, eval_every=10,
    )  # fmt: skip
    err = capsys.readouterr().err
    assert "60/60" in err and f"loss {state.train_loss:.4g}" in err and "val_accuracy 0.5" in err


def test_a_run_refused_at_its_first_batch_leaves_its_error_alone_not_a_bar_of_no_step(capsys):
    """A model the batches do not fit (optimlab train --model FILE:build of 7 inputs on iris's 4) left the
    bar's frame 'badnets:build on iris 0/3 -:--:--' on stderr above the refusal's one line."""
    from optimlab.train import ProgressBar

    x, y = torch.randn(64, 4), torch.randn(64, 1)
    model = nn.Linear(7, 1)
    with pytest.raises(InvalidValueError, match="first batch"):
        fit(
            model, torch.optim.SGD(model.parameters(), lr=0.01), x, y, loss_fn=nn.MSELoss(), total_steps=4,
            batch_size=16, callbacks=[ProgressBar("a model of the wrong width")],
        )  # fmt: skip
    assert capsys.readouterr().err == ""
    fitting = nn.Linear(4, 1)  # a run that steps keeps its bar: the steps it took
    fit(
        fitting, torch.optim.SGD(fitting.parameters(), lr=0.01), x, y, loss_fn=nn.MSELoss(), total_steps=4,
        batch_size=16, callbacks=[ProgressBar("a model of the right width")],
    )  # fmt: skip
    assert "4/4" in capsys.readouterr().err


def test_a_diverged_loss_reads_back_from_the_metrics_log_as_it_was_not_as_missing(tmp_path):
    """metrics.jsonl wrote a loss gone to inf as null, which its reader (report.run_folder.read_run, what
    reports and trackers read) took for NaN: a diverged run read as a loss missing. Each value, inf,
    -inf, NaN and finite, reads back as fit saw it, on the step and evaluation lines alike."""
    from optimlab.report.run_folder import read_run
    from optimlab.train.callbacks import MetricsLog

    x, y = problem()
    model = network()
    losses = iter([None, None] + [math.inf] * 9)  # the third batch's loss is inf: the run stops there

    def loss_fn(outputs, targets):
        loss = nn.functional.cross_entropy(outputs, targets)
        return loss if next(losses) is None else loss * math.inf

    (tmp_path / "recipe.yaml").write_text("{}\n")
    log = MetricsLog(tmp_path / "metrics.jsonl")
    seen = Recorder()
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), loss_fn=loss_fn, total_steps=5,
                callbacks=[seen, log])  # fmt: skip
    assert state.diverged and seen.losses[-1] == math.inf
    log.on_train_start(state)  # a resume's start: the lines kept parse, nan and inf included
    log.on_evaluate(state, {"val_loss": -math.inf, "val_nan": math.nan, "val_accuracy": 0.5})
    log.on_train_end(state)
    run = read_run(tmp_path)
    assert run.series["train_loss"][2] == seen.losses
    assert run.series["val_loss"][2] == [-math.inf] and run.series["val_accuracy"][2] == [0.5]
    assert math.isnan(run.series["val_nan"][2][0])


def test_a_callback_reads_from_the_first_step_whether_the_loss_is_scaled():
    """Callbacks told float16's loss scaling by state.grad_scaler not being None (state standing in for
    a flag): state.scales_loss says it from on_train_start on, True under float16 alone; the gradients
    they read are unscaled, those torch takes of the loss alone under the same autocast."""
    x, y = problem()
    x, y = x[:32], y[:32]

    def net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 2))

    class Reads(Callback):
        def on_train_start(self, state):
            self.at_start = state.scales_loss

        def on_before_optimizer_step(self, state):
            self.grad = model[0].weight.grad.clone()

    for dtype, scaled in ((torch.float16, True), (torch.bfloat16, False), (None, False)):
        model, reference = net(), net()
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=1, batch_size=32, shuffle=False, autocast_dtype=dtype, callbacks=[reads := Reads()])  # fmt: skip
        assert reads.at_start is scaled
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            nn.functional.cross_entropy(reference(x), y).backward()
        torch.testing.assert_close(reads.grad, reference[0].weight.grad, rtol=1e-2, atol=1e-5)


@pytest.mark.parametrize(("name", "value"), [("shuffle", "no"), ("drop_last", 2)])
def test_a_batching_flag_that_is_no_bool_is_refused(name, value):
    """``shuffle="no"`` was read as True: the rows were drawn in a shuffled order, the opposite of what
    it said (the order of shuffle=False is torch's rows in order, that of True a permutation)."""
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    with pytest.raises(
        InvalidValueError, match=f"invalid value {value!r} for {name}: accepted True or False"
    ):
        fit(model, torch.optim.SGD(model.parameters(), lr=1.0), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, batch_size=4, **{name: value})  # fmt: skip
    assert torch.equal(model.weight, before)


@pytest.mark.parametrize("length", ["total_steps", "epochs"])
def test_a_run_of_no_steps_is_refused_naming_its_length(length):
    """fit(epochs=0) and fit(total_steps=0) returned a TrainState of 0 steps without a word, where
    compare(epochs=0) and the recipe refuse it: refused in one line, the weights untouched."""
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    with pytest.raises(
        InvalidValueError, match=rf"^invalid value 0 for {length}: accepted an integer in \[1, inf\)"
    ):
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=1.0),
            x,
            y,
            loss_fn=nn.CrossEntropyLoss(),
            **{length: 0},
        )
    assert torch.equal(model.weight, before)


@pytest.mark.parametrize("state", [{}, {"step": 3}, "checkpoint.pt"])
def test_a_state_that_is_no_train_state_is_refused(state):
    """``state=checkpoint["state"]`` (a dict) failed with AttributeError at ``state.step``, and ``{}``
    silently trained from step 0 as if no state had been given."""
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    with pytest.raises(InvalidValueError, match="for state: accepted a TrainState"):
        fit(model, torch.optim.SGD(model.parameters(), lr=1.0), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, state=state)  # fmt: skip


@pytest.mark.parametrize(
    ("hyperparameters", "refused"),
    [
        ({"lr": math.nan}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"lr": 0.1, "weight_decay": math.nan}, "weight_decay"),
    ],
)
def test_an_optimizer_with_a_nan_or_infinite_lr_is_refused_before_training(hyperparameters, refused):
    """torch's SGD takes lr=nan (its check is ``lr < 0``): fit trained the weights to NaN and blamed the
    learning rate for being too high ('lower the learning rate')."""
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), **hyperparameters)  # torch builds it without a word
    with pytest.raises(InvalidValueError, match=rf"for the optimizer's {refused} \(param group 0\)"):
        fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=2)
    assert torch.equal(model.weight, before)


def test_an_evaluation_interval_given_as_a_float_is_refused_in_one_line():
    """``eval_every=2.0`` kept a float count. Truth: a count is a whole number, refused as a float as
    total_steps is; the weights unchanged."""
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    before = model.weight.detach().clone()
    with pytest.raises(
        InvalidValueError, match="for eval_every: accepted an integer in \\[1, inf\\), or None"
    ):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, eval_every=2.0, evaluate=dict)  # fmt: skip
    assert torch.equal(model.weight, before)


def test_numpy_integers_count_steps_and_epochs():
    """``total_steps=np.int64(4)`` (a count computed with numpy) was refused as 'not an integer in [0, inf)'."""
    np = pytest.importorskip("numpy")
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=np.int64(4), batch_size=8)
    assert state.step == 4 and isinstance(state.total_steps, int)
    state = fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), epochs=np.int32(2), batch_size=8)
    assert state.step == 4  # 2 epochs of 16 rows in batches of 8


@pytest.mark.parametrize(
    ("metric", "said"),
    [
        (lambda outputs, targets: (outputs.argmax(1) == targets).float(), r"for what metric 'hits' returned"),
        (lambda outputs, targets: 1 / 0, r"metric 'hits' raised ZeroDivisionError: division by zero"),
    ],
)
def test_a_metric_that_fails_or_gives_no_number_is_said_in_one_line(metric, said):
    """fit's ``metrics={"hits": ...}`` returning a value per row raised torch's bare ValueError ('only
    one element tensors can be converted'), and one that raised came out as its own traceback: a recipe's
    metric by import path was already said in one line, naming it."""
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    with pytest.raises(OptimlabError, match=said):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, val_data=(x, y), metrics={"hits": metric})  # fmt: skip


class CountingSteps(Callback):
    def __init__(self) -> None:
        self.steps = 0

    def on_step_end(self, state: TrainState) -> None:
        self.steps += 1


def no_positives(outputs, targets):
    raise ValueError("no positives")


def test_a_metric_that_raises_is_said_before_the_first_step_not_after_an_epoch():
    """A metric that raised was found at the first evaluation, after a whole epoch of training (here 40
    steps; an hour on real data). Truth: no step is taken and the weights are the initial ones."""
    x, y = torch.randn(320, 3), torch.randint(0, 2, (320,))
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    initial = [p.detach().clone() for p in model.parameters()]
    counted = CountingSteps()
    with pytest.raises(OptimlabError, match="metric 'f1' raised ValueError: no positives") as refused:
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
            epochs=3, batch_size=8, val_data=(x, y), callbacks=[counted],
            metrics={"f1": no_positives})  # fmt: skip
    assert counted.steps == 0 and "\n" not in str(refused.value)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), initial))


def test_a_metric_the_first_val_batch_alone_cannot_give_is_tried_on_the_whole_split_and_trains():
    """The check before training tries the first val batch, then the pass each evaluation reads: a
    metric of both classes (ROC AUC, raising on one) whose first val batch holds one class is no refusal, and the check leaves torch's RNG as it was (a val DataLoader draws from it).
    Truth: the same run without the metric, weights equal to the bit; the metric is sklearn's on the
    whole split."""
    from sklearn.metrics import roc_auc_score

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=generator)
    y = torch.cat([torch.zeros(32), torch.ones(32)]).long()  # the first val batch: class 0 alone

    def auc(outputs, targets):
        if len(targets.unique()) < 2:
            raise ValueError("Only one class present in y_true")  # sklearn's words; its version warns
        return roc_auc_score(targets.numpy(), outputs[:, 1].numpy())

    def run(metrics):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        train = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)  # its order from torch's RNG
        val = DataLoader(TensorDataset(x, y), batch_size=16)
        state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), train, loss_fn=nn.CrossEntropyLoss(),
                    epochs=2, val_data=val, metrics=metrics)  # fmt: skip
        return model, state

    model, state = run({"auc": auc})
    want, _ = run(None)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), want.parameters()))
    with torch.no_grad():
        truth = roc_auc_score(y.numpy(), model.eval()(x)[:, 1].numpy())
    assert state.last_metrics["val_auc"] == pytest.approx(truth, rel=1e-12)


class FailingToStart(Callback):
    def on_train_start(self, state: TrainState) -> None:
        raise OSError("the tracker's folder cannot be written")


def test_a_callback_that_fails_to_start_stops_those_started_before_it():
    """A callback whose on_train_start raised (a tracker, a log that cannot open its file) left the
    ProgressBar started before it drawing: its thread redrew the bar beside the error line, the cursor
    hidden. Truth: Callback's contract, on_exception for what was started; rich's live display stopped,
    its refresh thread told to end."""
    from optimlab.train import ProgressBar

    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    model = nn.Linear(3, 2)
    bar = ProgressBar()
    told = []
    recorder = type(
        "Recorder", (Callback,), {"on_exception": lambda self, state, error: told.append(error)}
    )()
    with pytest.raises(OSError, match="cannot be written"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, loss_fn=nn.CrossEntropyLoss(),
            total_steps=2, callbacks=[recorder, bar, FailingToStart()])  # fmt: skip
    assert len(told) == 1 and isinstance(told[0], OSError)
    assert not bar._progress.live.is_started and bar._progress.live._refresh_thread is None


def test_every_callback_of_optimlabs_but_checkpointing_says_it_writes_no_checkpoint():
    """The callbacks that save nothing were listed by hand (793330e), and the gallery's SigmoidInputs was
    missed: a new one would be too. Truth: every subclass of Callback optimlab defines, found by importing
    each of its modules, says writes_checkpoints False, but Checkpointing, which saves."""
    import contextlib
    import importlib
    import pkgutil

    import optimlab
    from optimlab.train.callbacks import Checkpointing

    for module in pkgutil.walk_packages(optimlab.__path__, "optimlab."):
        with contextlib.suppress(ImportError):  # an optional integration not installed here
            importlib.import_module(module.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = {c for c in subclasses(Callback) if c.__module__.startswith("optimlab.")}
    assert len(ours) > 10, ours  # the walk found them
    saying_yes = {c.__qualname__ for c in ours if c.writes_checkpoints and not issubclass(c, Checkpointing)}
    assert saying_yes == set()


class LrAtStep(Callback):
    """Each step's lr of param group ``index``, read from the optimizer before it steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, index: int) -> None:
        self.optimizer, self.index, self.lrs = optimizer, index, {}

    def on_before_optimizer_step(self, state):
        self.lrs[state.step + 1] = float(self.optimizer.param_groups[self.index]["lr"])  # a tensor's too


def logged_lrs(path) -> dict[int, float]:
    return {r["step"]: r["lr"] for r in map(json.loads, path.read_text().splitlines()) if "lr" in r}


def test_a_frozen_backbone_at_lr_0_in_group_0_logs_and_blames_the_heads_lr(tmp_path):
    """fit's lr read param group 0: with a backbone frozen at lr 0 there and the head in group 1, the
    metrics log's lr column read 0 and a divergence said "(lr 0); lower the learning rate". Truth: torch
    steps a group at lr 0 by nothing, so the run's lr is the head's, read from its group before each
    step (a per-step scheduler moves it); the head's lr of 10 sends the loss to inf."""
    torch.manual_seed(0)
    backbone, head = nn.Linear(4, 8), nn.Linear(8, 1)
    model = nn.Sequential(backbone, nn.Tanh(), head)
    optimizer = torch.optim.SGD([{"params": backbone.parameters(), "lr": 0.0}, {"params": head.parameters()}],
                                lr=10.0)  # fmt: skip
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
    x, y = torch.randn(64, 4), 100 * torch.randn(64, 1)
    truth = LrAtStep(optimizer, 1)
    state = fit(model, optimizer, x, y, loss_fn=nn.MSELoss(), batch_size=16, total_steps=50, scheduler=scheduler,
                callbacks=[truth, MetricsLog(tmp_path / "m.jsonl")])  # fmt: skip
    assert state.diverged and 2 < state.step < 50
    assert logged_lrs(tmp_path / "m.jsonl") == truth.lrs and 0.0 not in truth.lrs.values()
    assert f"(lr {truth.lrs[state.step]:.3g}); lower the learning rate" in state.stop_reason


def test_a_one_group_run_logs_group_0s_lr_at_each_step(tmp_path):
    """The lr column of a run whose group 0 trains is its lr, as before: each step's, read from group 0
    before it steps, under a per-step scheduler."""
    x, y = problem()
    model = network()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    truth = LrAtStep(optimizer, 0)
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=32, total_steps=12,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.8),
        callbacks=[truth, MetricsLog(tmp_path / "m.jsonl")])  # fmt: skip
    assert logged_lrs(tmp_path / "m.jsonl") == truth.lrs and len(set(truth.lrs.values())) == 12


def test_gradient_clipping_reads_the_gradients_the_optimizer_steps_not_a_backbone_it_leaves_out():
    """An optimizer over the head alone, the backbone still requiring gradients (fine-tuning's common
    setup): fit clipped over every parameter of the model, whose backbone gradients the optimizer's
    zero_grad never clears, so they piled up step after step and shrank the head's clipped step more
    each time. Truth: a hand loop clipping the gradients the optimizer steps (torch's clip_grad_norm_ over
    its parameters, as Lightning's gradient_clip_val does), equal weights."""
    x, y = problem()
    reference, trained = network(), network()
    for model in (reference, trained):
        model[2] = nn.Identity()  # no dropout: the two runs draw nothing
    head = lambda model: model[3].parameters()  # noqa: E731
    optimizer = torch.optim.SGD(head(reference), lr=0.5)
    for start in range(0, 96, 32):
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(reference(x[start : start + 32]), y[start : start + 32]).backward()
        torch.nn.utils.clip_grad_norm_(head(reference), 0.05)
        optimizer.step()
    fit(trained, torch.optim.SGD(head(trained), lr=0.5), x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=32,
        total_steps=3, shuffle=False, grad_clip_norm=0.05)  # fmt: skip
    for got, want in zip(trained.parameters(), reference.parameters()):
        assert torch.equal(got, want)


def test_an_lr_held_as_a_tensor_logs_the_lr_each_step_took(tmp_path):
    """torch's optimizers take lr as a one-element tensor, which a scheduler fills in place: state.lr
    kept the tensor itself, so the metrics log's lr column read each step the lr of the step after
    (0.005 at step 1, taken at 0.01). Truth: the lr read from the group before each step, and the
    column of the same run with lr a float (to float32's precision)."""
    columns = []
    for i, lr in enumerate((0.01, torch.tensor(0.01))):
        x, y = problem()
        model = network()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        truth = LrAtStep(optimizer, 0)
        fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=32, total_steps=5,
            scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5),
            callbacks=[truth, MetricsLog(tmp_path / f"{i}.jsonl")])  # fmt: skip
        columns.append(logged_lrs(tmp_path / f"{i}.jsonl"))
        assert columns[-1] == truth.lrs
    assert columns[1] == pytest.approx(columns[0], rel=1e-6)  # the float32 tensor's 0.01


class StepTaken(Callback):
    """Each step's lr as its update took it: SGD without momentum moves a weight by -lr * gradient."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight, self.lrs = weight, {}

    def on_before_optimizer_step(self, state):
        self.before, self.grad = self.weight.detach().clone(), self.weight.grad.detach().clone()

    def on_step_end(self, state):
        moved = (self.before - self.weight.detach()).flatten()
        self.lrs[state.step] = (
            moved @ self.grad.flatten() / (self.grad.flatten() @ self.grad.flatten())
        ).item()


def test_an_lr_that_is_a_schedule_logs_its_value_at_each_step(tmp_path):
    """optimlab's optimizers take a schedule as their lr: fit kept the function as state.lr and the
    metrics log failed at step 1 (float() of a function). Truth: the cosine computed by hand at the
    updates applied before each step (0.05 (1 + cos(pi (k - 1) / 10)) at step k), and the lr each SGD
    update took, read off the weights it moved."""
    import optimlab.optim

    x, y = problem()
    model = network()
    model[2] = nn.Identity()
    optimizer = optimlab.optim.create(
        "sgd", model.parameters(), lr=lambda step: 0.05 * (1 + math.cos(math.pi * step / 10))
    )
    taken = StepTaken(model[3].weight)
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=32, total_steps=8,
        callbacks=[taken, MetricsLog(tmp_path / "m.jsonl")])  # fmt: skip
    by_hand = {k: 0.05 * (1 + math.cos(math.pi * (k - 1) / 10)) for k in range(1, 9)}
    assert logged_lrs(tmp_path / "m.jsonl") == pytest.approx(by_hand, rel=1e-12)
    assert taken.lrs == pytest.approx(by_hand, rel=1e-4)


def overflowing_setup():
    """optimlab's SGD under the lr schedule 1e-5 (k + 1) at update k, on data whose first steps' float16
    gradients overflow (an MSE over targets ~100; the loss scale backs off from 65536)."""
    import optimlab.optim

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    optimizer = optimlab.optim.create("sgd", model.parameters(), lr=lambda step: 1e-5 * (step + 1))
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 4, generator=generator), 100 * torch.randn(64, 1, generator=generator)
    return model, optimizer, x, y


OVERFLOWING = dict(loss_fn=nn.MSELoss(), batch_size=16, total_steps=12, autocast_dtype=torch.float16)


def test_a_float16_step_whose_gradients_overflowed_does_not_advance_the_lr_schedule(tmp_path):
    """GradScaler skips the update of a step whose float16 gradients overflowed, so the optimizer's count
    of its updates stays, but fit read a schedule's lr at the steps less those without targets: after 6
    overflowed steps it logged 7e-05 for step 7, whose update took 1e-05. Truth: the lr each SGD update
    took, read off the weight it moved, and at each step the schedule at the updates that moved the
    weight before it."""
    model, optimizer, x, y = overflowing_setup()
    taken = StepTaken(model[2].weight)
    state = fit(model, optimizer, x, y, callbacks=[taken, MetricsLog(tmp_path / "m.jsonl")], **OVERFLOWING)
    moved = [k for k in sorted(taken.lrs) if taken.lrs[k] > 0]  # an overflowed step's: 0 or NaN
    by_hand = {k: 1e-5 * (1 + sum(j < k for j in moved)) for k in taken.lrs}
    assert 0 < state.overflowed_steps == 12 - len(moved) < 12 and state.skipped_steps == 0
    assert logged_lrs(tmp_path / "m.jsonl") == pytest.approx(by_hand, rel=1e-12)
    assert {k: taken.lrs[k] for k in moved} == pytest.approx({k: by_hand[k] for k in moved}, rel=1e-3)


def test_a_resumed_float16_run_keeps_its_count_of_overflowed_steps(tmp_path):
    """The checkpoint keeps the count of steps whose gradients overflowed: a run resumed past them logs
    the uninterrupted run's lrs (checked against the updates taken above). A checkpoint written before
    the count was kept loads with none."""
    model, optimizer, x, y = overflowing_setup()
    fit(model, optimizer, x, y, callbacks=[MetricsLog(tmp_path / "whole.jsonl")], **OVERFLOWING)
    whole = logged_lrs(tmp_path / "whole.jsonl")
    model, optimizer, x, y = overflowing_setup()
    fit(model, optimizer, x, y, callbacks=[CheckpointAt(9, tmp_path, model, optimizer)], **OVERFLOWING)
    model, optimizer, x, y = overflowing_setup()
    payload = read_checkpoint(tmp_path)
    state = load_checkpoint(payload, model=model, optimizer=optimizer, scheduler=None)
    assert state.overflowed_steps > 0
    fit(
        model, optimizer, x, y, state=state, callbacks=[MetricsLog(tmp_path / "resumed.jsonl")], **OVERFLOWING
    )
    assert logged_lrs(tmp_path / "resumed.jsonl") == {k: whole[k] for k in range(10, 13)}
    del payload["state"]["overflowed_steps"]
    assert load_checkpoint(payload, model=model, optimizer=optimizer, scheduler=None).overflowed_steps == 0


class ScheduledLr(Callback):
    """Each step's lr of param group 0 as its scheduler set it: get_last_lr()[0], read before the step."""

    def __init__(self, scheduler: torch.optim.lr_scheduler.LRScheduler) -> None:
        self.scheduler, self.lrs = scheduler, {}

    def on_before_optimizer_step(self, state):
        self.lrs[state.step + 1] = self.scheduler.get_last_lr()[0]


def test_gradual_unfreezing_logs_the_backbones_group_at_every_step(tmp_path):
    """A backbone (group 0, lr 0.01) held at lr 0 for 3 steps, then unfrozen, beside a head (group 1, lr
    0.1): lr_group picked the first group whose lr was not 0 at each read, so the column logged the head's
    0.1 for steps 1-3, then the backbone's 0.01, switching groups mid-run, while the doctor's sweep (every
    group reset to the lr given) swept group 0. Truth: the scheduler's own get_last_lr()[0] at each step
    (0.0 x3, then 0.01), and the group the sweep's reset leaves is the same."""
    from optimlab.optim.learning_rate import lr_group, restore_given_lrs

    x, y = problem()
    model = network()
    backbone, head = model[0], model[3]
    optimizer = torch.optim.SGD([{"params": backbone.parameters(), "lr": 0.01},
                                 {"params": head.parameters(), "lr": 0.1}])  # fmt: skip
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [lambda s: 0.0 if s < 3 else 1.0, lambda s: 1.0])
    truth = ScheduledLr(scheduler)
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=32, total_steps=6, scheduler=scheduler,
        callbacks=[truth, MetricsLog(tmp_path / "m.jsonl")])  # fmt: skip
    assert truth.lrs == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.01, 5: 0.01, 6: 0.01}
    assert logged_lrs(tmp_path / "m.jsonl") == truth.lrs
    restore_given_lrs(optimizer)
    assert lr_group(optimizer) == 0 and optimizer.param_groups[0]["lr"] == 0.01
