"""as_lr_scheduler: a schedule drives a torch optimizer's learning rate, LambdaLR style."""

from __future__ import annotations

import io

import pytest
import torch

from optimlab.errors import InvalidValueError
from optimlab.registry import Capability, get_registry
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


STEP_DRIVEN = [e.name for e in get_registry("schedule") if Capability.METRIC_DRIVEN not in e.capabilities]


@pytest.mark.parametrize("name", STEP_DRIVEN)
def test_a_scheduler_resumed_from_disk_goes_on_as_the_uninterrupted_one(name: str) -> None:
    """Every step-driven schedule, with a warmup, over two param groups: the optimizer's and the
    scheduler's state saved with torch.save at step 53 of 130 (past the warmup, the run's end and its
    horizon) and loaded into fresh ones built the same way gives every later lr to the bit."""

    def run(resume_at: int | None) -> list[list[float]]:
        optimizer, _ = two_group_sgd()
        scheduler = as_lr_scheduler(optimizer, create(name, total_steps=100, warmup_steps=7))
        lrs = []
        for step in range(130):
            if step == resume_at:
                saved = io.BytesIO()
                torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, saved)
                saved.seek(0)
                state = torch.load(saved)
                optimizer, _ = two_group_sgd()
                scheduler = as_lr_scheduler(optimizer, create(name, total_steps=100, warmup_steps=7))
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
            lrs.append([group["lr"] for group in optimizer.param_groups])
            optimizer.step()
            scheduler.step()
        return lrs

    straight = run(None)
    assert len({tuple(lrs) for lrs in straight}) > 2  # the schedule moves
    assert run(53) == straight


def test_an_optimizer_whose_lr_is_a_schedule_already_is_refused_in_one_line() -> None:
    """optimlab's optimizers take a schedule as lr; LambdaLR then multiplied it by the multiplier and
    raised TypeError ('unsupported operand type(s) for *: 'function' and 'float'')."""
    from optimlab.optim import create as optimizer

    w = torch.nn.Parameter(torch.ones(2))
    scheduled = optimizer("adam", [{"params": [w]}], lr=create("cosine", total_steps=10))
    with pytest.raises(InvalidValueError, match="lr of param group 0.*accepted a number where a scheduler"):
        as_lr_scheduler(scheduled, create("cosine", total_steps=10))
    plain = optimizer("adam", [w], lr=0.1)
    as_lr_scheduler(plain, create("cosine", total_steps=10)).step()
    assert plain.param_groups[0]["lr"] == pytest.approx(0.1 * create("cosine", total_steps=10)(1))


def test_a_value_that_is_not_a_schedule_is_named_by_its_type_not_its_address():
    """as_lr_scheduler(optimizer, StepLR(...)) said 'invalid value <torch.optim.lr_scheduler.StepLR object
    at 0x7f...> for schedule': a memory address names nothing a user can act on. Every InvalidValueError
    now names such a value by its type (Python's default repr is '<... at 0x...>'); a value with a repr of
    its own keeps it."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    step_lr = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2)
    with pytest.raises(InvalidValueError) as refused:
        as_lr_scheduler(optimizer, step_lr)
    assert str(refused.value).startswith("invalid value a StepLR for schedule: accepted a callable")
    assert str(InvalidValueError("x", torch.ones(1), "numbers")).startswith(
        "invalid value tensor([1.]) for x"
    )

    def my_schedule(step):
        return 1.0

    said = str(InvalidValueError("schedule", my_schedule, "a schedule's name"))  # its name, not its address
    assert said.startswith("invalid value a function test_a_value_that_is_not_a_schedule_is_named_by")
    assert said.split(" for schedule")[0].endswith(".my_schedule") and " at 0x" not in said
