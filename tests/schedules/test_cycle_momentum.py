"""schedule.cycle_momentum: a recipe's one_cycle cycles momentum (or beta1) as torch's OneCycleLR does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from optimlab.build import build_optimizer, build_scheduler
from optimlab.optim.base import value_at
from optimlab.recipe import Recipe, RecipeError

STEPS, MAX_LR = 12, 0.05
CASES: dict[str, tuple[str, Callable[..., torch.optim.Optimizer], str]] = {
    "sgd": ("sgd", lambda p: torch.optim.SGD(p, lr=MAX_LR, momentum=0.9), "momentum"),
    "adam": ("adam", lambda p: torch.optim.Adam(p, lr=MAX_LR), "betas"),
}


def cycling(optimizer: str, **schedule: object) -> Recipe:
    return Recipe.from_dict(
        {
            "optimizer": {"name": optimizer, "lr": MAX_LR},
            "schedule": {"name": "one_cycle", "cycle_momentum": True, **schedule},
        }
    )


def momentum_of(group: dict, field: str, step: int) -> float:
    value = group[field][0] if field == "betas" else group[field]
    return float(value_at(value, step))


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("schedule", [{}, {"three_phase": True, "base_momentum": 0.8}], ids=["two", "three"])
def test_a_recipe_cycles_momentum_as_torchs_one_cycle_lr(case: str, schedule: dict) -> None:
    """Step by step the same lr and momentum (beta1) as torch's OneCycleLR(cycle_momentum=True), and the
    same weights after training a tiny model."""
    name, torch_optimizer, field = CASES[case]
    torch.manual_seed(0)
    model, x, y = nn.Linear(3, 2), torch.randn(16, 3), torch.randn(16, 2)
    theirs = nn.Linear(3, 2)
    theirs.load_state_dict(model.state_dict())
    ours = build_optimizer(cycling(name, **schedule), model, STEPS)
    our_scheduler = build_scheduler(cycling(name, **schedule), ours, STEPS)
    reference = torch_optimizer(theirs.parameters())
    options = {k: v for k, v in schedule.items() if k != "base_momentum"}
    their_scheduler = lr_scheduler.OneCycleLR(
        reference, MAX_LR, total_steps=STEPS, base_momentum=schedule.get("base_momentum", 0.85), **options
    )
    for step in range(STEPS):
        ours_group, their_group = ours.param_groups[0], reference.param_groups[0]
        assert ours_group["lr"] == pytest.approx(their_group["lr"], rel=1e-12)
        assert momentum_of(ours_group, field, step) == pytest.approx(
            their_group[field][0] if field == "betas" else their_group[field], rel=1e-12
        )
        for net, optimizer in ((model, ours), (theirs, reference)):
            optimizer.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            optimizer.step()
        our_scheduler.step()
        their_scheduler.step()
    for mine, expected in zip(model.parameters(), theirs.parameters()):
        torch.testing.assert_close(mine, expected, rtol=0, atol=1e-6)


def test_an_optimizer_without_momentum_is_refused_in_one_line() -> None:
    with pytest.raises(RecipeError) as error:
        cycling("adagrad")
    line = next(line for line in str(error.value).splitlines() if "cycle_momentum" in line)
    assert "'adagrad'" in line and "sgd" in line and "adam" in line


def test_off_by_default_keeps_stored_recipes_as_they_were() -> None:
    plain = Recipe.from_dict({"schedule": {"name": "one_cycle"}})
    assert set(plain.to_dict()["schedule"]) == {"name", "warmup_steps", "options"}
    assert cycling("sgd").id != plain.id


@pytest.mark.parametrize(
    "optimizer, schedule",
    [
        ({"name": "sgd"}, {"name": "cosine", "cycle_momentum": True}),
        ({"name": "sgd"}, {"name": "one_cycle", "base_momentum": 0.8}),
        ({"name": "sgd", "momentum": 0.9}, {"name": "one_cycle", "cycle_momentum": True}),
    ],
    ids=["another_family", "bounds_without_the_cycle", "a_momentum_it_replaces"],
)
def test_a_momentum_cycle_or_a_momentum_that_would_go_unread_is_refused(
    optimizer: dict, schedule: dict
) -> None:
    with pytest.raises(RecipeError, match="cycle_momentum"):
        Recipe.from_dict({"optimizer": optimizer, "schedule": schedule})


def test_a_cycled_momentum_resumes_from_a_checkpoint(tmp_path) -> None:
    """The state dict leaves the schedule out (it is code: torch.save could not pickle it, and a
    weights_only load would refuse it); loaded into the optimizer built again, training goes on as if
    never stopped."""
    recipe, path = cycling("sgd"), tmp_path / "checkpoint.pt"
    torch.manual_seed(0)
    x, y = torch.randn(16, 3), torch.randn(16, 2)

    def train(model: nn.Module, steps: range, state: dict | None = None) -> dict:
        optimizer = build_optimizer(recipe, model, STEPS)
        scheduler = build_scheduler(recipe, optimizer, STEPS)
        if state is not None:
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        for _ in steps:
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
            scheduler.step()
        return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}

    straight, stopped = nn.Linear(3, 2), nn.Linear(3, 2)
    stopped.load_state_dict(straight.state_dict())
    train(straight, range(STEPS))
    torch.save(train(stopped, range(5)), path)
    train(stopped, range(5, STEPS), torch.load(path, weights_only=True))
    for resumed, expected in zip(stopped.parameters(), straight.parameters()):
        torch.testing.assert_close(resumed, expected, rtol=0, atol=1e-7)
