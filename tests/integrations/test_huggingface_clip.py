"""The Hugging Face range test clips as the Trainer does: over all of the model's parameters."""

from __future__ import annotations

import itertools

import pytest
import torch
from doctor.setups import NamedExamples, ReturnsItsLoss, standardized
from torch import nn
from torch.utils.data import DataLoader

from integrations.test_huggingface import trainer
from optimlab.integrations.huggingface import lr_range_test, trainer_optimizers


def test_the_sweep_clips_over_the_models_parameters_a_trainable_one_left_out_of_the_optimizer_too():
    """The Trainer clips max_grad_norm over model.parameters() (its _clip_grad_norm), each step's gradients
    alone (model.zero_grad()); the sweep clipped over its optimizer's parameters only, a trainable first
    layer the optimizer leaves out not counted (its gradient, never cleared, piled up). Truth: the sweep's
    lrs stepped by hand on the Trainer's batches in order, torch's clip_grad_norm_ over
    model.parameters() after model.zero_grad(); the first layer comes back with its own gradient."""
    torch.manual_seed(0)
    x, y = standardized()
    data = NamedExamples(x[:96], y[:96])

    def model() -> ReturnsItsLoss:
        torch.manual_seed(1)
        return ReturnsItsLoss(
            nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)), nn.CrossEntropyLoss()
        )

    swept = model()
    swept.net[0].weight.grad = torch.ones_like(swept.net[0].weight)  # the model's own, kept
    head = trainer_optimizers(torch.optim.SGD(swept.net[2].parameters(), lr=0.1))
    run = trainer(swept, data, 2, head, train_sampling_strategy="sequential", max_grad_norm=1e-3)
    result = lr_range_test(run, steps=6, end_lr=100.0)
    assert torch.equal(swept.net[0].weight.grad, torch.ones_like(swept.net[0].weight))

    by_hand, seen = model(), []
    optimizer = torch.optim.SGD(by_hand.net[2].parameters(), lr=0.1)
    batches = itertools.cycle(DataLoader(data, 32))
    loss = by_hand(**next(batches))["loss"]
    for lr in result.lrs:
        by_hand.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(by_hand.parameters(), 1e-3)
        optimizer.param_groups[0]["lr"] = lr
        optimizer.step()
        loss = by_hand(**next(batches))["loss"]
        seen.append(loss.item())
    assert len(seen) == 6 and result.losses == pytest.approx(seen, rel=1e-5)
