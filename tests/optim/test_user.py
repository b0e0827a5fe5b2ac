"""A torch optimizer named by its import path, run through the drop-in, against the class itself."""

from __future__ import annotations

import pytest
import torch

from optim.problem import max_difference, train
from optimlab.optim import create
from optimlab.optim.user import load_optimizer


@pytest.mark.parametrize("path", ["torch.optim:Adam", "torch.optim:SGD"])
def test_a_torch_optimizer_by_path_steps_parameters_without_gradients_like_itself(path, float64):
    """A parameter that gets its first gradient late is stepped too (it was left to its first value)."""
    torch_class = getattr(torch.optim, path.split(":")[1])
    name = load_optimizer(path)
    ours = train(lambda p: create(name, p, lr=0.01), steps=30, skipping=True)
    reference = train(lambda p: torch_class(p, lr=0.01), steps=30, skipping=True)
    assert max_difference(ours, reference) <= 1e-12
