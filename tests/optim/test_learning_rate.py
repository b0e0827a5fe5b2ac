"""optim.learning_rate: the lr given a param group, restored under a scheduler made beside it."""

import pytest
import torch
from torch import nn

from optimlab.optim.learning_rate import given_lr, lr_group, optimizer_lr, restore_given_lrs, scheduled_lr
from optimlab.train.callbacks import Callback
from optimlab.train.loop import fit


def test_an_lr_held_as_a_tensor_is_restored_in_place_its_given_lr_kept_apart():
    """torch's optimizers take lr as a one-element tensor, which a scheduler fills in place: restoring it
    set the group's lr to initial_lr's tensor itself, so the scheduler's next step filled initial_lr too
    (0.005 after StepLR(gamma=0.5)) and a later restore, or lr_group, read a given lr never given.
    Truth: the scheduler's own base_lrs, the lr given (0.01), and its step after the restore (0.005)."""
    weight = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.Adam([weight], lr=torch.tensor(0.01))
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    group = optimizer.param_groups[0]
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert float(group["lr"]) == pytest.approx(0.0025, rel=1e-6)  # float32's precision
    restore_given_lrs(optimizer)
    assert float(group["lr"]) == float(scheduler.base_lrs[0]) == pytest.approx(0.01, rel=1e-6)
    optimizer.step()
    scheduler.step()
    assert float(group["lr"]) == pytest.approx(0.005, rel=1e-6)
    assert float(given_lr(group)) == float(scheduler.base_lrs[0]) == pytest.approx(0.01, rel=1e-6)
    restore_given_lrs(optimizer)
    assert float(group["lr"]) == float(scheduler.base_lrs[0])


class ByHand(Callback):
    """A user's callback setting lrs by hand (``group["lr"] = ...``, no scheduler, so no initial_lr): at the
    end of each step in ``changes`` it sets the given groups' lrs. It records each step's lr of group
    ``watched`` as the update takes it (read just before optimizer.step) and the lr fit logged."""

    def __init__(self, optimizer: torch.optim.Optimizer, watched: int, changes: dict[int, dict[int, float]]):
        self.optimizer, self.watched, self.changes = optimizer, watched, changes
        self.taken: list[float] = []
        self.logged: list[float] = []

    def on_before_optimizer_step(self, state) -> None:
        self.taken.append(self.optimizer.param_groups[self.watched]["lr"])

    def on_step_end(self, state) -> None:
        self.logged.append(state.lr)
        for index, lr in self.changes.get(state.step, {}).items():
            self.optimizer.param_groups[index]["lr"] = lr


def _fit_by_hand(groups: list[float], watched: int, changes: dict[int, dict[int, float]]) -> ByHand:
    """Eight SGD steps of a two-layer model, layer i in param group i at lr groups[i] (one group: both)."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    layers = [model[0], model[2]]
    params = [{"params": layers[i].parameters(), "lr": lr} for i, lr in enumerate(groups)]
    if len(groups) == 1:
        params = [{"params": model.parameters(), "lr": groups[0]}]
    optimizer = torch.optim.SGD(params)
    hand = ByHand(optimizer, watched, changes)
    fit(model, optimizer, x, y, loss_fn=nn.MSELoss(), batch_size=8, total_steps=8, callbacks=[hand])
    return hand


@pytest.mark.parametrize(
    ("groups", "watched", "changes"),
    [
        ([0.0, 0.1], 1, {3: {1: 0.05, 0: 0.001}}),  # head halved and backbone unfrozen at step 3, by hand
        ([0.0, 0.1], 1, {3: {1: 0.05}, 5: {1: 0.025}}),  # head halved twice, backbone frozen
        ([0.0, 0.0], 1, {1: {1: 0.05}, 2: {1: 0.1}, 4: {0: 0.01}}),  # head warmed up from 0 by hand
        ([0.0], 0, {1: {0: 0.05}, 2: {0: 0.1}, 6: {0: 0.0}}),  # one group: warmed up, then stopped by hand
    ],
)
def test_an_lr_set_by_hand_mid_run_logs_the_trained_groups_lr_at_every_step(groups, watched, changes):
    """A frozen backbone (group 0, lr 0) beside a head (group 1) whose lr the user sets by hand in a callback:
    with no scheduler there is no initial_lr, and lr_group chose the first group whose lr was not 0 at each
    read, so a backbone unfrozen by hand at step 3 logged its 0.001 from step 4 on, where the head trained
    at 0.05. Truth: the head's lr as each update takes it (param_groups[1]["lr"] read just before
    optimizer.step); a one-group run logs its own lr at every step."""
    hand = _fit_by_hand(groups, watched, changes)
    assert len(hand.taken) == 8
    assert hand.logged == hand.taken


def test_a_group_frozen_by_hand_mid_run_hands_the_logged_lr_to_the_one_still_training():
    """Backbone (group 0) at 0.01 beside a head (group 1) at 0.1, the backbone frozen by hand (lr 0) after
    step 3: the run logged the backbone's 0.01 for steps 1-3, then its 0.0 while the head trained at 0.1
    (the choice was kept for the optimizer's life). Truth: the lr each update takes, read from the
    groups just before optimizer.step: group 0's 0.01 while it trains, then group 1's 0.1."""
    hand = _fit_by_hand([0.01, 0.1], 1, {3: {0: 0.0}})
    assert hand.taken == [0.1] * 8  # the head trains at 0.1 throughout
    assert hand.logged == [0.01] * 3 + hand.taken[3:]


def test_the_group_a_sweep_sets_is_read_from_the_groups_now_not_an_earlier_read():
    """lr_group and lr_ratios read the groups as they are: a backbone at 1e-3 beside a head at 1e-2, its
    lr read once, then frozen (group 0 set to 0), gave (0, [1.0, 1.0]), so a sweep trained the frozen
    backbone at the head's lr. Truth: the same optimizer made afresh with group 0 at 0 gives
    (1, [0.0, 1.0])."""
    from optimlab.doctor.lr_find import lr_ratios

    def made(backbone_lr: float) -> torch.optim.Optimizer:
        layers = [nn.Linear(2, 2), nn.Linear(2, 1)]
        return torch.optim.SGD(
            [
                {"params": layers[0].parameters(), "lr": backbone_lr},
                {"params": layers[1].parameters(), "lr": 1e-2},
            ]
        )

    optimizer = made(1e-3)
    assert lr_group(optimizer) == 0 and optimizer_lr(optimizer, 0) == 1e-3
    optimizer.param_groups[0]["lr"] = 0.0
    assert lr_ratios(optimizer) == lr_ratios(made(0.0)) == (1, [0.0, 1.0])
    assert lr_group(optimizer) == 1 and optimizer_lr(optimizer, 0) == 1e-2


def test_one_cycle_lr_given_is_its_max_lr_what_a_sweep_restores_and_the_scheduled_lr():
    """OneCycleLR(max_lr=1e-3) sets the group's lr to initial_lr = max_lr / div_factor (4e-05): given_lr
    read that initial_lr while scheduled_lr read max_lr, so diagnose watched every step at 4e-05 and its
    rules named 1e-3 the lr set. Truth: torch's OneCycleLR's own fields: the cycle's peak is the group's
    max_lr, its first lr the group's initial_lr = max_lr / div_factor, and its schedule reaches max_lr at
    the end of its warmup (pct_start of total_steps)."""
    layer = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=100, pct_start=0.1)
    group = optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(1e-3 / 25) and group["initial_lr"] == pytest.approx(1e-3 / 25)
    peak = 0.0
    for _ in range(20):
        optimizer.step()
        scheduler.step()
        peak = max(peak, group["lr"])
    assert peak == pytest.approx(group["max_lr"])
    assert given_lr(group) == scheduled_lr(optimizer) == group["max_lr"] == 1e-3
    restore_given_lrs(optimizer)
    assert group["lr"] == 1e-3 == scheduled_lr(optimizer)


def test_scheduled_lr_is_the_given_lr_under_a_scheduler_and_unknown_without_one():
    """A warmup's LambdaLR keeps the lr given as initial_lr (its base_lrs); an lr with no scheduler has no
    lr it is led to."""
    layer = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.01)
    assert scheduled_lr(optimizer) is None and given_lr(optimizer.param_groups[0]) == 0.01
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: step / 1000)
    assert optimizer.param_groups[0]["lr"] == 0.0
    assert scheduled_lr(optimizer) == given_lr(optimizer.param_groups[0]) == scheduler.base_lrs[0] == 0.01
