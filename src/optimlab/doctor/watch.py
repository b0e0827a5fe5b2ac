"""The doctor's short run: train on the user's batches with the instruments attached.

It steps as :func:`optimlab.train.fit` does (train mode, schedule-free optimizers in their training
mode, a closure for optimizers that need one, a stop at the first non-finite loss), but over a
:class:`~optimlab.data.user_batches.UserBatches` stream, so that any data a user has reaches the
instruments. The instruments are hooks on the model and the optimizer: this loop only tells them the
step, its loss and its lr. Layers its user froze in eval mode inside a training model stay so
(:func:`~optimlab.train.loop.train_mode`).
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from optimlab.data.user_batches import UserBatches, first_loss
from optimlab.doctor.instruments import Instruments
from optimlab.doctor.progress import report
from optimlab.optim.learning_rate import optimizer_lr
from optimlab.train.evaluation import batch_weight
from optimlab.train.loop import (
    at_training_point,
    clip_stepped_gradients,
    may_score_nothing,
    one_row_refused,
    raise_refusal,
    step_with,
    train_mode,
)

__all__ = ["watch"]


def watch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: UserBatches,
    instruments: Instruments,
    *,
    steps: int,
    deadline: float | None = None,
    min_steps: int = 1,
    grad_clip_norm: float | None = None,
) -> int:
    """Train ``model`` for up to ``steps`` optimizer steps on ``batches``; returns the steps taken
    (fewer when the loss stops being finite, or where one more step, at the mean time of those taken,
    would end past ``deadline``, a :func:`time.perf_counter` time, once ``min_steps`` are taken).
    ``grad_clip_norm``: the gradients are clipped to it before each step, as fit clips them, once the
    instruments have read them (a clipped norm hides an explosion)."""
    started = time.perf_counter()
    device = next(model.parameters()).device
    train_mode(model)
    stream = batches.stream(device)
    with at_training_point(optimizer):  # schedule-free: gradients are taken at the training point
        instruments.start(0)
        try:
            first = True  # the first batch with a loss: its errors named (first_loss)
            updates = 0  # the optimizer's updates so far: a schedule-as-lr's step
            ignores = may_score_nothing(batches)
            for step in range(1, steps + 1):
                batch = next(stream)
                # every target ignored: no loss (0/0), no step, as fit
                if ignores and not batch_weight(batches, batch):
                    report("watching the run", step, steps)
                    continue

                def closure() -> torch.Tensor:
                    made = batches.forward(model, batch)  # noqa: B023  (called within this step only)
                    instruments.record_targets(step, made.target)  # noqa: B023
                    if first and batches.loss_fn is not None:  # noqa: B023  (a model's own loss pairs its own)
                        instruments.record_loss_inputs(made.prediction, made.target, batches.loss_fn)
                    loss = made.loss
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if grad_clip_norm is not None:
                        instruments.gradients_ready()
                        clip_stepped_gradients(optimizer, grad_clip_norm)
                    return loss

                try:
                    loss = first_loss(closure, batch) if first else closure()
                except ValueError as error:  # a batch of one row under batch norm, named as fit names it
                    raise_refusal(error, one_row_refused(error, model, [batch], step))
                first = False
                lr = optimizer_lr(optimizer, updates)  # the lr the range test sweeps
                updates += 1
                step_with(optimizer, closure)
                value = loss.item()
                instruments.record_step(step, value, lr)
                report("watching the run", step, steps)
                if not math.isfinite(value):
                    return step
                now = time.perf_counter()
                if deadline is not None and step >= min_steps and now + (now - started) / step > deadline:
                    return step
        finally:
            instruments.stop()
    return steps
