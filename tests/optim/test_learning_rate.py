"""optim.learning_rate: the lr given a param group, restored under a scheduler made beside it."""

import pytest
import torch

from optimlab.optim.learning_rate import given_lr, restore_given_lrs


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
