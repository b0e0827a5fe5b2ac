"""The check that decides among the LR range test's candidates: train each, score it held out.

A range-test curve says where the loss falls fastest and where it turns up, not which lr trains best,
and where the best lr lies relative to its minimum varies with the model and the optimizer (the best
of a 10-point grid: 3x the minimum for momentum on a teacher-student regression, a twentieth of it
for Adam on two spirals; ``benchmarks/lr_suggestion.py``). So :func:`find_lr` lets evidence decide.
The sweep proposes lrs a factor 1.33 apart over the plausible region
(:func:`~optimlab.doctor.lr_find.lr_candidates`); :func:`score_lrs` trains each from the model's
current weights, best over the real run's length (a short check favours large lrs, whose head start
fades), with the optimizer's other hyperparameters, and scores it on held-out rows (accuracy for
classification, the loss otherwise).

How a candidate is scored and chosen, and why:

1. **The level its run ends at, not its last evaluation** (:func:`end_level`). A run at a constant lr
   ends jittering: each minibatch step moves the weights, and the held-out metric with them, so one
   evaluation is one draw of that jitter, and with many candidates the best draw wins rather than the
   best lr. The held-out split is evaluated every twentieth of the run; the score is the
   least-squares line through the evaluations of the last quarter, read at the last step (a mean of
   them would lag a metric still moving).
2. **The lowest loss; for accuracy, the lower middle of a tie** (:func:`_best`). Accuracies within
   one standard error of the best cannot be told apart on the held-out rows; among those tied, the
   larger lrs are the riskier (their end-of-run jitter, their divergence on another draw), the
   smallest may be too slow: the lower middle by lr is chosen.

Measured by ``benchmarks/lr_suggestion.py`` (docs/benchmarks.md, "LR suggestion against a 10-point
grid"): scoring the last evaluation alone missed the grid's best by more than a point on 5 of 27
classification seeds, the level with quarter-decade candidates on 2, with eighth-decade ones on none.

The candidates train at once where they can (:func:`stackable`): K copies of the model stacked into
one (:func:`~optimlab.models.stacked.stacked_forward`) and stepped by the batched optimizer shell
(:class:`~optimlab.optim.shells.batched.BatchedOptimizer`), members differing only in lr; any other
model or optimizer trains them one at a time, each from a copy, through :func:`optimlab.train.fit`.
Both follow the same steps, batch order and evaluations (``tests/doctor/test_lr_check.py``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import stack_module_state

from optimlab.doctor.lr_find import Candidate, LRRangeResult, lr_range_test
from optimlab.doctor.snapshot import preserved
from optimlab.errors import InvalidValueError
from optimlab.models.stacked import stacked_forward, stacked_loss
from optimlab.optim.shells.batched import BATCHABLE, BatchedOptimizer
from optimlab.optim.shells.torch_optim import Optimizer as OptimlabOptimizer
from optimlab.registry import POSITIVE_INT
from optimlab.train.loop import Callback, TrainState, epoch_permutation, fit
from optimlab.train.run import evaluate, evaluate_members

__all__ = ["HELD_OUT_FRACTION", "end_level", "find_lr", "score_lrs", "stackable"]

HELD_OUT_FRACTION = 0.2  # of the training rows, held out for the check when no validation split is given
EVALUATIONS = 20  # held-out evaluations over a check's run: 6 in its last quarter (module docstring)
LEVEL_FRACTION = 0.25  # the end of the run whose evaluations give a candidate's level


def find_lr(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    optimizer: torch.optim.Optimizer,
    *,
    held_out: tuple[Tensor, Tensor] | None = None,
    check_steps: int = 200,
    batch_size: int = 64,
    seed: int = 0,
    **sweep: Any,
) -> LRRangeResult:
    """The LR range test of ``model``, then a ``check_steps`` run of each candidate scored on ``held_out``.

    Returns the range test's result with its candidates scored (the held-out metric's level at the
    end of the run) and ``suggestion`` the best of them (module docstring; the curve's own reading
    when the sweep proposes none). ``held_out`` defaults to a
    :data:`HELD_OUT_FRACTION` of ``(x, y)`` drawn with ``seed``, which the check then does not train on.
    ``sweep`` goes to :func:`~optimlab.doctor.lr_find.lr_range_test` (``start_lr``, ``end_lr``, ``steps``).
    Model and optimizer are left as they were.
    """
    if not POSITIVE_INT.contains(check_steps):
        raise InvalidValueError("check_steps", check_steps, str(POSITIVE_INT))
    result = lr_range_test(model, loss_fn, x, y, optimizer, batch_size=batch_size, seed=seed, **sweep)
    if not result.candidates:
        return result
    if held_out is None:
        if x.shape[0] < 10:
            raise InvalidValueError(
                "rows of x", x.shape[0], "at least 10 (a fifth is held out for the check)"
            )
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed)).to(x.device)
        cut = round(x.shape[0] * (1 - HELD_OUT_FRACTION))
        (x, y), held_out = (x[order[:cut]], y[order[:cut]]), (x[order[cut:]], y[order[cut:]])
    lrs = [c.lr for c in result.candidates]
    scores = score_lrs(
        model, loss_fn, (x, y), held_out, optimizer, lrs, steps=check_steps, batch_size=batch_size, seed=seed
    )
    metric = "val_accuracy" if "val_accuracy" in next(iter(s for s in scores if s), {}) else "val_loss"
    scored = [
        dataclasses.replace(c, score=s.get(metric), held_out_loss=s.get("val_loss"))
        for c, s in zip(result.candidates, scores, strict=True)
    ]
    alive = [c for c in scored if c.score is not None and math.isfinite(c.score)]
    check = f"{check_steps} steps each, scored by held-out {metric[4:]} at the end of the run"
    if not alive:
        return dataclasses.replace(
            result,
            candidates=scored,
            suggestion=None,
            check=check,
            reason=f"every candidate diverged within {check_steps} steps; {result.reason}",
        )
    labels = held_out[1].numel() if metric == "val_accuracy" else None
    best = _best(alive, accuracy_of=labels)
    return dataclasses.replace(
        result,
        candidates=scored,
        suggestion=best.lr,
        check=check,
        reason=(
            f"the best of {len(scored)} candidates after {check_steps} steps each: lr {best.lr:.3g} "
            f"({best.source}), held-out {metric[4:]} {best.score:.4g}; the curve alone: {result.reason}"
        ),
    )


def _best(candidates: Sequence[Candidate], *, accuracy_of: int | None) -> Candidate:
    """The lowest held-out loss; for accuracy, the lower middle (by lr) of the candidates whose accuracy
    is within one standard error sqrt(p (1 - p) / n) of the best p on ``accuracy_of`` = n labels.

    Accuracy is coarse (a few held-out rows apart), so a plateau of candidates ties; among them the
    largest lrs carry the most risk and the smallest may be too slow (module docstring, point 2). A
    held-out loss compares candidates finely on the same rows.
    """
    if accuracy_of is None:
        return min(candidates, key=lambda c: c.score)  # type: ignore[arg-type, return-value]
    top = max(c.score for c in candidates)  # type: ignore[type-var]
    tolerance = math.sqrt(max(top * (1 - top), 1 / accuracy_of) / accuracy_of)
    tied = sorted((c for c in candidates if c.score >= top - tolerance), key=lambda c: c.lr)  # type: ignore[operator]
    return tied[(len(tied) - 1) // 2]


def stackable(model: nn.Module, optimizer: torch.optim.Optimizer) -> str | None:
    """Why K lr copies of ``model`` and ``optimizer`` cannot train as one stacked model, or None if they can."""
    entry = getattr(optimizer, "_entry", None) if isinstance(optimizer, OptimlabOptimizer) else None
    group = optimizer.param_groups[0]
    reasons = {
        "the optimizer is not one of optimlab's registered optimizers": entry is None,
        "the optimizer's math is not elementwise": entry is not None and BATCHABLE not in entry.capabilities,
        "the optimizer has several param groups": len(optimizer.param_groups) > 1,
        "the optimizer has state already": bool(optimizer.state_dict()["state"]),
        "a hyperparameter is a schedule": any(callable(v) for k, v in group.items() if k != "params"),
        "the model has batch norm or dropout": any(
            isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.Dropout)) for m in model.modules()
        ),
        "the model's parameters are not all in the optimizer": sum(
            len(g["params"]) for g in optimizer.param_groups
        )
        != len(list(model.parameters())),
    }
    return next((reason for reason, applies in reasons.items() if applies), None)


def score_lrs(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    train: tuple[Tensor, Tensor],
    held_out: tuple[Tensor, Tensor],
    optimizer: torch.optim.Optimizer,
    lrs: Sequence[float],
    *,
    steps: int,
    batch_size: int,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Train a copy of ``model`` at each lr for ``steps`` steps, as :func:`optimlab.train.fit` would;
    return each one's held-out metrics (``val_loss``, ``val_accuracy`` for classification, ``val_rmse``
    for regression) at the end of its run (:func:`end_level` of its late evaluations), or ``{}`` where
    it diverged. The lr is the first param group's; other groups keep their ratio to it."""
    task = "regression" if held_out[1].is_floating_point() else "classification"
    run = _Run(train, held_out, steps, batch_size, seed, task)
    if stackable(model, optimizer) is None and isinstance(loss_fn, nn.Module):
        return _score_stacked(model, loss_fn, optimizer, lrs, run)
    return [_score_one(model, loss_fn, optimizer, lr, run) for lr in lrs]


def end_level(steps: Sequence[int], values: Sequence[float], *, log: bool = False) -> float:
    """The level a run's metric ends at: the least-squares line through ``(steps, values)`` read at the
    last step; ``log``: fitted to the logarithms (a loss, whose noise is relative). One evaluation is
    one draw of the run's end-of-run jitter; a mean of several lags a metric still moving."""
    t = torch.tensor(steps, dtype=torch.float64)
    v = torch.tensor(values, dtype=torch.float64)
    v = v.log() if log else v
    dt = t - t.mean()
    slope = (dt * (v - v.mean())).sum() / dt.square().sum().clamp_min(1e-12)
    level = v.mean() + slope * dt[-1]
    return level.exp().item() if log else level.item()


def _evaluated_after(step: int, steps: int) -> bool:
    """Whether a check of ``steps`` steps records a held-out evaluation after ``step``: every
    ``steps // EVALUATIONS`` steps and at the end, within the last :data:`LEVEL_FRACTION` of the run."""
    every = max(1, steps // EVALUATIONS)
    return (step % every == 0 or step == steps) and step >= (1 - LEVEL_FRACTION) * steps


def _levels(records: Sequence[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Each metric's :func:`end_level` over ``(step, metrics)`` records; ``{}`` if any is not finite."""
    if not records or not all(math.isfinite(v) for _, m in records for v in m.values()):
        return {}
    steps = [step for step, _ in records]
    levels = {}
    for name in records[-1][1]:
        values = [m[name] for _, m in records]
        if name.endswith("accuracy"):
            levels[name] = min(1.0, max(0.0, end_level(steps, values)))
        else:
            levels[name] = end_level(steps, values, log=all(v > 0 for v in values))
    return levels


@dataclasses.dataclass(frozen=True)
class _Run:
    """What every candidate's check run shares: the data, its length, batch size, seed, and the task."""

    train: tuple[Tensor, Tensor]
    held_out: tuple[Tensor, Tensor]
    steps: int
    batch_size: int
    seed: int
    task: str


class _Recorder(Callback):
    """Keeps the evaluations of :func:`fit` that :func:`_evaluated_after` selects, with their steps."""

    def __init__(self, steps: int) -> None:
        self.steps, self.records = steps, []

    def on_evaluate(self, state: TrainState, metrics: dict[str, float]) -> None:
        if _evaluated_after(state.step, self.steps):
            self.records.append((state.step, metrics))


def _score_one(
    model: nn.Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    lr: float,
    run: _Run,
) -> dict[str, float]:
    with preserved(model, optimizer):  # the random state: dropout draws
        # One deepcopy of both keeps the optimizer's references to the copied parameters.
        member, member_optimizer = copy.deepcopy((model, optimizer))
    base = optimizer.param_groups[0]["lr"]
    for group in member_optimizer.param_groups:
        group["lr"] = lr * (group["lr"] / base if base else 1.0)
    torch.manual_seed(run.seed)
    recorder = _Recorder(run.steps)
    common = {"loss_fn": loss_fn, "batch_size": run.batch_size, "seed": run.seed}
    # Up to the last quarter without evaluations (the loop's batch order follows the step), then with.
    first = next(step for step in range(1, run.steps + 1) if _evaluated_after(step, run.steps))
    state = fit(member, member_optimizer, *run.train, total_steps=first - 1, **common)
    if not state.diverged:
        state = fit(
            member,
            member_optimizer,
            *run.train,
            total_steps=run.steps,
            state=state,
            evaluate=lambda: evaluate(member, loss_fn, *run.held_out, task=run.task, prefix="val"),  # type: ignore[arg-type]
            eval_every=max(1, run.steps // EVALUATIONS),
            callbacks=[recorder],
            **common,
        )
    return {} if state.diverged else _levels(recorder.records)


def _score_stacked(
    model: nn.Module, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, lrs: Sequence[float], run: _Run
) -> list[dict[str, float]]:
    """:func:`score_lrs` with the K lrs as members of one stacked model (module docstring)."""
    members = len(lrs)
    entry = optimizer._entry  # type: ignore[attr-defined]
    group = optimizer.param_groups[0]
    shared = {k: group[k] for k in entry.hyperparameter_names if k in group and k != "lr"}
    stacked_params, stacked_buffers = stack_module_state([model] * members)
    params = [p.detach().clone().requires_grad_() for p in stacked_params.values()]
    named = dict(zip(stacked_params, params))
    buffers = {n: b.detach().clone() for n, b in stacked_buffers.items()}
    forward = stacked_forward(copy.deepcopy(model), members, shared_input=True)
    member_losses = stacked_loss(loss_fn, shared_targets=True)
    stepper = BatchedOptimizer(params, entry.name, members=members, lr=list(lrs), **shared)
    stepper.train()
    (x, y), batch_size = run.train, run.batch_size
    n = x.shape[0]
    per_epoch = math.ceil(n / batch_size)
    alive = torch.ones(members, dtype=torch.bool)
    records: list[tuple[int, list[dict[str, float]]]] = []
    for step in range(run.steps):
        epoch, offset = divmod(step, per_epoch)
        if offset == 0:
            order = epoch_permutation(run.seed, epoch, n, x.device)
        rows = order[offset * batch_size : (offset + 1) * batch_size]
        losses = member_losses(forward(named, buffers, x[rows]), y[rows])
        alive &= torch.isfinite(losses.detach()).cpu()
        if not alive.any():
            break
        grads = torch.autograd.grad(losses.sum(), params)
        stepper.step(list(grads))
        if _evaluated_after(step + 1, run.steps):
            stepper.eval()  # schedule-free optimizers evaluate at another point than they train at
            metrics = evaluate_members(
                lambda xb: forward(named, buffers, xb),
                member_losses,
                *run.held_out,
                members=members,
                task=run.task,
                prefix="val",
            )
            records.append((step + 1, metrics))
            stepper.train()
    return [
        _levels([(step, metrics[k]) for step, metrics in records]) if ok else {}
        for k, ok in enumerate(alive.tolist())
    ]
