"""as_lr_scheduler: a schedule drives a torch optimizer's learning rate, LambdaLR style."""

from __future__ import annotations

import io

import pytest
import torch

from optimlab.errors import InvalidValueError
from optimlab.schedules import PlateauLR, ReduceOnPlateau, as_lr_scheduler, create


def two_group_sgd() -> tuple[torch.optim.SGD, torch.Tensor]:
    weight = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([{"params": [weight], "lr": 0.1}, {"params": [bias], "lr": 0.01}])
    return optimizer, weight


def test_each_group_lr_is_its_initial_lr_times_the_schedule() -> None:
    optimizer, weight = two_group_sgd()
    schedule = create("cosine", total_steps=20, warmup_steps=5, final=0.1)
    scheduler = as_lr_scheduler(optimizer, schedule)
    for step in range(25):
        assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
            [0.1 * schedule(step), 0.01 * schedule(step)], rel=1e-15, abs=0.0
        )
        before = weight.detach().clone()
        weight.grad = torch.ones(3, dtype=torch.float64)
        optimizer.step()
        # Plain SGD moves by lr * grad: the scheduled lr is the one the optimizer used.
        moved = (before - weight.detach()).tolist()
        assert moved == pytest.approx([0.1 * schedule(step)] * 3, rel=1e-9, abs=1e-15)
        scheduler.step()
    assert scheduler.last_epoch == 25


def test_plateau_scheduler_reduces_on_metric_and_holds_without_one() -> None:
    optimizer, _ = two_group_sgd()
    scheduler = as_lr_scheduler(optimizer, ReduceOnPlateau(patience=1, factor=0.5))
    assert isinstance(scheduler, PlateauLR)
    for loss in (1.0, 1.0, 1.0):
        optimizer.step()
        scheduler.step(loss)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.05, 0.005])
    for _ in range(5):  # a loop stepping after every optimizer step, metric or not
        optimizer.step()
        scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.05, 0.005])


def test_plateau_state_survives_a_checkpoint() -> None:
    optimizer, _ = two_group_sgd()
    scheduler = as_lr_scheduler(optimizer, ReduceOnPlateau(patience=1, factor=0.5, cooldown=2))
    for loss in (1.0, 0.5, 0.6, 0.6):
        optimizer.step()
        scheduler.step(loss)
    buffer = io.BytesIO()
    torch.save(scheduler.state_dict(), buffer)  # plain data: loads under weights_only
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    fresh_optimizer, _ = two_group_sgd()
    resumed = as_lr_scheduler(fresh_optimizer, ReduceOnPlateau(patience=1, factor=0.5, cooldown=2))
    resumed.load_state_dict(state)
    for loss in (0.6, 0.6, 0.6, 0.6, 0.6):
        for opt, sched in ((optimizer, scheduler), (fresh_optimizer, resumed)):
            opt.step()
            sched.step(loss)
        assert resumed.plateau.value == scheduler.plateau.value
        assert resumed.get_last_lr() == scheduler.get_last_lr()
    assert scheduler.plateau.value == 0.25  # one reduction before the checkpoint, one after the cooldown


def test_bad_arguments_are_rejected() -> None:
    optimizer, _ = two_group_sgd()
    with pytest.raises(InvalidValueError, match="optimizer"):
        as_lr_scheduler("sgd", create("constant"))
    with pytest.raises(InvalidValueError, match="schedule"):
        as_lr_scheduler(optimizer, "cosine")
