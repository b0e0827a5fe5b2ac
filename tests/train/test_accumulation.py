"""Gradient accumulation in fit: a step over a group of batches is the step over one batch of their rows."""

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from optimlab.errors import InvalidValueError
from optimlab.train import Callback, fit
from optimlab.train.checkpoint import load_checkpoint, read_checkpoint
from tests.train.stops import CheckpointAt


def problem(n: int, seed: int = 0, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=generator, dtype=dtype)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).long()
    return x, y


def network(dropout: float = 0.0, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 2)).to(dtype)


OPTIMIZERS = {
    "sgd": lambda params: torch.optim.SGD(params, lr=0.3, momentum=0.9, weight_decay=1e-2),
    "adam": lambda params: torch.optim.Adam(params, lr=3e-2, weight_decay=1e-2),
}


def train(n, *, batch_size, accumulate=1, optimizer="adam", **options):
    """The weights and the state after training on ``n`` rows in float64 (a StepLR beside)."""
    x, y = problem(n, dtype=torch.float64)
    model = network(dtype=torch.float64)
    opt = OPTIMIZERS[optimizer](model.parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    losses = []

    class Losses(Callback):
        def on_step_end(self, state):
            losses.append(state.train_loss)

    options.setdefault("loss_fn", nn.CrossEntropyLoss())
    state = fit(
        model,
        opt,
        x,
        y,
        batch_size=batch_size,
        accumulate_grad_batches=accumulate,
        scheduler=scheduler,
        callbacks=[Losses()],
        **options,
    )
    return [p.detach().clone() for p in model.parameters()], state, losses


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize(
    ("n", "batch_size", "accumulate"),
    [
        (96, 8, 4),  # 12 batches, 3 groups an epoch
        (100, 8, 4),  # 13 batches: the epoch's last group holds its 4-row batch alone
        (30, 8, 2),  # batches of 8, 8, 8, 6: the last group weighs its 6 rows as 6 of 14
        (20, 4, 3),  # 5 batches: a group of 3, then one of 2
    ],
)
@pytest.mark.parametrize("shuffle", [True, False])
def test_a_step_over_a_group_of_batches_is_the_step_over_one_batch_of_their_rows(
    optimizer, n, batch_size, accumulate, shuffle
):
    """The truth: the same epochs in batches of ``batch_size x accumulate`` rows, the same scheduler
    steps and clipping; the reported loss is the big batch's."""
    options = dict(epochs=3, shuffle=shuffle, grad_clip_norm=0.5, optimizer=optimizer)
    got, state, losses = train(n, batch_size=batch_size, accumulate=accumulate, **options)
    want, big_state, big_losses = train(n, batch_size=batch_size * accumulate, **options)
    steps_per_epoch = math.ceil(math.ceil(n / batch_size) / accumulate)
    assert state.steps_per_epoch == big_state.steps_per_epoch == steps_per_epoch
    assert state.step == big_state.step == 3 * steps_per_epoch
    assert losses == pytest.approx(big_losses, rel=1e-12)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "loss_fn",
    [
        nn.CrossEntropyLoss(ignore_index=1),
        nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0], dtype=torch.float64)),
    ],
    ids=["ignore_index", "class weights"],
)
def test_a_cross_entropys_batches_weigh_what_their_means_average_over(loss_fn):
    """Weighted by rows, batches with more ignored or lighter targets weighed as much as the others, and
    the step was not the big batch's."""
    options = dict(epochs=2, shuffle=True, loss_fn=loss_fn)
    got, _, losses = train(96, batch_size=8, accumulate=4, **options)
    want, _, big_losses = train(96, batch_size=32, **options)
    assert losses == pytest.approx(big_losses, rel=1e-12)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_a_batch_whose_targets_are_all_ignored_weighs_nothing_and_data_of_them_only_is_refused():
    """Its mean is 0/0 (NaN in torch), which weighted by 0 still made every gradient NaN; a group of
    them only has nothing to learn from (test_ignored_targets.py), and data of them only is refused."""
    x, y = problem(32, dtype=torch.float64)
    y[:8] = -100  # the first batch of 8 rows in order: every target ignored
    model = network(dtype=torch.float64)
    common = dict(loss_fn=nn.CrossEntropyLoss(), batch_size=8, shuffle=False, total_steps=1)
    state = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, accumulate_grad_batches=4, **common)
    got = [p.detach().clone() for p in model.parameters()]
    model = network(dtype=torch.float64)
    big = fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, **{**common, "batch_size": 32})
    assert state.train_loss == pytest.approx(big.train_loss, rel=1e-12) and math.isfinite(state.train_loss)
    for a, b in zip(got, model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    y[:] = -100
    model = network(dtype=torch.float64)
    with pytest.raises(InvalidValueError, match="hold no target the loss scores"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, accumulate_grad_batches=4, **common)


def test_clipping_applies_to_the_groups_gradient_not_each_batchs():
    """Clipped one batch at a time, the group's gradient differs from the big batch's: the check that
    the truth above can tell the two apart."""
    want, _, _ = train(96, batch_size=32, epochs=1, shuffle=False, grad_clip_norm=0.05)
    got, _, _ = train(96, batch_size=8, accumulate=4, epochs=1, shuffle=False, grad_clip_norm=0.05)
    unclipped, _, _ = train(96, batch_size=8, accumulate=4, epochs=1, shuffle=False)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert any(not torch.allclose(a, b) for a, b in zip(unclipped, want))


@pytest.mark.parametrize("bad", [0, -1, 1.5, 2.0, True, "2", None])
def test_a_number_of_batches_to_accumulate_that_is_no_positive_integer_is_refused_in_one_line(bad):
    x, y = problem(16)
    model = network()
    with pytest.raises(InvalidValueError) as error:
        fit(
            model,
            torch.optim.SGD(model.parameters(), lr=0.1),
            x,
            y,
            loss_fn=nn.CrossEntropyLoss(),
            total_steps=2,
            accumulate_grad_batches=bad,
        )
    message = str(error.value)
    assert "accumulate_grad_batches" in message and repr(bad) in message and "[1, inf)" in message
    assert "\n" not in message


class Stream(IterableDataset):
    """The 100 rows of ``problem(100)`` as a stream, with no length."""

    def __iter__(self):
        return zip(*problem(100), strict=True)


DATA = {
    "tensors": lambda: (problem(100), {"batch_size": 8}),
    "shuffling loader": lambda: (
        (DataLoader(TensorDataset(*problem(100)), batch_size=8, shuffle=True),),
        {},
    ),
    "stream": lambda: ((Stream(),), {"batch_size": 8}),
}


@pytest.mark.parametrize("data", sorted(DATA))
# within the first and second epochs of 4 steps, and at an epoch's end; a stream stopped at 2 does not
# know its length yet (it resumed with dropout drawn elsewhere: its loader's seed was not drawn again)
@pytest.mark.parametrize("stop_at", [2, 5, 8, 11])
def test_a_run_accumulating_resumed_from_a_checkpoint_gives_the_uninterrupted_runs_weights(
    tmp_path, data, stop_at
):
    """With dropout (torch's RNG goes on as in the uninterrupted run) and epochs of 13 batches, in
    groups of 4, 4, 4 and 1."""
    common = dict(loss_fn=nn.CrossEntropyLoss(), total_steps=14, accumulate_grad_batches=4)

    def setup():
        model = network(dropout=0.2)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)

    args, options = DATA[data]()
    model, optimizer, scheduler = setup()
    state = fit(model, optimizer, *args, scheduler=scheduler, **options, **common)
    assert state.steps_per_epoch == 4 and state.batches_per_epoch == 13
    reference = [p.detach().clone() for p in model.parameters()]

    args, options = DATA[data]()
    model, optimizer, scheduler = setup()
    fit(
        model,
        optimizer,
        *args,
        scheduler=scheduler,
        callbacks=[CheckpointAt(stop_at, tmp_path, model, optimizer, scheduler)],
        **options,
        **common,
    )
    args, options = DATA[data]()
    model, optimizer, scheduler = setup()
    torch.manual_seed(999)  # a new process
    state = load_checkpoint(read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=scheduler)
    assert state.step == stop_at
    fit(model, optimizer, *args, scheduler=scheduler, state=state, **options, **common)
    for got, want in zip(model.parameters(), reference):
        assert torch.equal(got, want)
