"""Run something on a model and leave it exactly as it was: weights, buffers, gradients, optimizer,
random state.

The LR range test and :func:`optimlab.diagnose` train the model they examine; this is what lets them
promise that the model and optimizer come back untouched.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["preserved", "random_state_kept"]


@contextlib.contextmanager
def preserved(model: nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Restore the state dicts of ``model`` and ``optimizer``, the buffers left out of the state dict
    (``persistent=False``: a counter, a running mean the model keeps for itself), the parameters'
    ``.grad`` (None or the values a caller accumulating gradients holds), the train/eval mode and the
    torch random state (CPU, and the GPUs the model lives on) on exit, even when the body raises.

    Weights and buffers are copied back *into* the same tensors, so the optimizer keeps pointing at them.
    """
    model_state = copy.deepcopy(model.state_dict())
    unsaved = {
        name: buffer.detach().clone() for name, buffer in model.named_buffers() if name not in model_state
    }
    optimizer_state = copy.deepcopy(optimizer.state_dict())
    grads = [(p, None if p.grad is None else p.grad.detach().clone()) for p in model.parameters()]
    modes = {name: module.training for name, module in model.named_modules()}
    with random_state_kept(model):
        try:
            yield
        finally:
            model.load_state_dict(model_state)
            with torch.no_grad():
                for name, value in unsaved.items():
                    model.get_buffer(name).copy_(value)
            optimizer.load_state_dict(optimizer_state)
            for parameter, grad in grads:
                parameter.grad = grad
            for name, module in model.named_modules():
                module.training = modes[name]


@contextlib.contextmanager
def random_state_kept(model: nn.Module) -> Iterator[None]:
    """Restore torch's random state (CPU, and the GPUs ``model`` lives on) on exit, even when the body
    raises: what is drawn inside leaves the caller's stream as it was."""
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        yield
