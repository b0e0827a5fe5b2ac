"""The training loop: as lean as a hand-written one, extended through callbacks.

Batches are drawn from in-memory tensors by a permutation that depends only on (seed, epoch), or in the
rows' own order (``shuffle=False``, the sequential batches of DeepOBS's and MNIST-1D's protocols), so a
run resumed at any step sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from optimlab.data.batches import epoch_permutation
from optimlab.errors import InvalidValueError
from optimlab.schedules.torch_adapter import PlateauLR

__all__ = [
    "Callback",
    "TrainState",
    "clip_grad_norm_",
    "epoch_order",
    "epoch_permutation",
    "evaluates_after",
    "fit",
    "steps_per_epoch",
]


@dataclasses.dataclass
class TrainState:
    """What the loop knows about the run so far; callbacks read it and may set ``stop_reason``."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    train_loss: float = math.nan  # loss of the last batch
    lr: float = math.nan  # learning rate of the first param group used by the last step
    seconds: float = 0.0  # wall time spent in fit, summed over resumed segments
    stop_reason: str | None = None  # set to stop the loop after the current step
    diverged: bool = False  # a non-finite loss stopped the run
    last_metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # of the last evaluation

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def stop_if_diverged(self) -> None:
        """Stop the run, saying why and what to try, if the last loss is not finite."""
        if not math.isfinite(self.train_loss):
            self.diverged = True
            self.stop_reason = (
                f"training diverged: the loss became {self.train_loss} at step {self.step} "
                f"(lr {self.lr:.3g}); lower the learning rate, clip gradients, or check the data scale"
            )


class Callback:
    """Hooks into :func:`fit`. Every hook is optional; a callback with state to resume keeps it in
    ``state_dict``/``load_state_dict``."""

    def on_train_start(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState) -> None: ...
    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def epoch_order(
    seed: int, epoch: int, n: int, device: torch.device | str = "cpu", *, shuffle: bool = True
) -> torch.Tensor:
    """The rows of ``epoch`` in batch order: :func:`epoch_permutation`, or 0..n-1 unless ``shuffle``."""
    return epoch_permutation(seed, epoch, n, device) if shuffle else torch.arange(n, device=device)


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches in an epoch of ``n`` rows; ``drop_last`` drops the last one when it is smaller."""
    steps = n // batch_size if drop_last else math.ceil(n / batch_size)
    if steps == 0:
        raise InvalidValueError(
            "batch_size", batch_size, f"at most the {n} training rows when drop_last drops smaller batches"
        )
    return steps


def evaluates_after(step: int, *, eval_every: int | None, steps_per_epoch: int, total_steps: int) -> bool:
    """Whether a loop evaluates after its ``step``-th step: every ``eval_every`` steps (default: once an
    epoch) and after the last."""
    return step % (eval_every or steps_per_epoch) == 0 or step >= total_steps


def clip_grad_norm_(grads: Sequence[torch.Tensor], max_norm: float, *, stacked: bool = False) -> None:
    """Scale ``grads`` in place by ``min(1, max_norm / (norm + 1e-6))``, ``norm`` their global 2-norm, as
    :func:`torch.nn.utils.clip_grad_norm_` does (Pascanu et al. 2013, https://arxiv.org/abs/1211.5063).

    ``stacked``: the gradients of K members, ``(K, ...)`` each, every member clipped by its own norm.
    """
    if stacked:
        norms = [torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]  # (K,) each
    else:
        norms = list(torch._foreach_norm(list(grads)))
    coefficient = (max_norm / (torch.linalg.vector_norm(torch.stack(norms), dim=0) + 1e-6)).clamp(max=1.0)
    if stacked:
        torch._foreach_mul_(list(grads), [coefficient.view(-1, *(1,) * (g.ndim - 1)) for g in grads])
    else:
        torch._foreach_mul_(list(grads), coefficient)


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    total_steps: int,
    batch_size: int,
    seed: int = 0,
    scheduler: Any | None = None,
    grad_clip_norm: float | None = None,
    evaluate: Callable[[], dict[str, float]] | None = None,
    eval_every: int | None = None,
    callbacks: Sequence[Callback] = (),
    state: TrainState | None = None,
    autocast_dtype: torch.dtype | None = None,
    plateau_metric: str = "val_loss",
    drop_last: bool = False,
    shuffle: bool = True,
) -> TrainState:
    """Train ``model`` on ``(x, y)`` for ``total_steps`` minibatch steps (continuing ``state``).

    ``scheduler`` is stepped once per optimizer step (any torch LRScheduler); a reduce-on-plateau
    scheduler also sees ``plateau_metric`` of each evaluation. ``evaluate`` runs every
    ``eval_every`` steps (default: once an epoch) and at the end; its metrics reach callbacks. A
    non-finite loss stops the run with ``state.diverged`` and a message in ``state.stop_reason``.
    ``shuffle`` and ``drop_last`` mean what they mean to a DataLoader: each epoch's rows permuted from
    (seed, epoch) or taken in order, and the last, smaller batch of an epoch kept or dropped.
    """
    n = x.shape[0]
    per_epoch = steps_per_epoch(n, batch_size, drop_last)
    state = state or TrainState()
    state.steps_per_epoch, state.total_steps, state.stop_reason = per_epoch, total_steps, None
    amp = (
        torch.autocast(x.device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    for callback in callbacks:
        callback.on_train_start(state)

    started = time.perf_counter()
    model.train()
    # Schedule-free optimizers hold a training point in the weights and evaluate at another.
    switches_modes = hasattr(optimizer, "train") and hasattr(optimizer, "eval")
    if switches_modes:
        optimizer.train()
    needs_closure = getattr(optimizer, "needs_closure", False)  # SAM: a second gradient a step
    order, order_epoch = None, -1
    while state.step < total_steps and state.stop_reason is None:
        state.epoch, offset = divmod(state.step, per_epoch)
        if state.epoch != order_epoch:
            order, order_epoch = epoch_order(seed, state.epoch, n, x.device, shuffle=shuffle), state.epoch
        rows = order[offset * batch_size : (offset + 1) * batch_size]
        xb, yb = x[rows], y[rows]

        def closure() -> torch.Tensor:
            with amp:
                loss = loss_fn(model(xb), yb)  # noqa: B023  (called within this iteration only)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip_norm is not None:
                clip_grad_norm_([p.grad for p in model.parameters() if p.grad is not None], grad_clip_norm)
            return loss

        loss = closure()
        state.lr = optimizer.param_groups[0]["lr"]
        optimizer.step(closure) if needs_closure else optimizer.step()
        if scheduler is not None:
            scheduler.step()
        state.step += 1
        state.train_loss = loss.item()

        state.stop_if_diverged()
        due = evaluates_after(
            state.step, eval_every=eval_every, steps_per_epoch=per_epoch, total_steps=total_steps
        )
        if evaluate is not None and not state.diverged and (due or state.stop_reason is not None):
            if switches_modes:
                optimizer.eval()
            state.last_metrics = evaluate()
            if switches_modes:
                optimizer.train()
            if isinstance(scheduler, PlateauLR):  # reduce-on-plateau decides from evaluations
                scheduler.plateau.step(state.last_metrics[plateau_metric])
            model.train()
            for callback in callbacks:
                callback.on_evaluate(state, state.last_metrics)
        # After the evaluation, so that a checkpoint taken here holds everything about this step.
        for callback in callbacks:
            callback.on_step_end(state)

    state.seconds += time.perf_counter() - started
    if switches_modes:  # leave the weights at the point the optimizer evaluates at
        optimizer.eval()
    for callback in callbacks:
        callback.on_train_end(state)
    return state
