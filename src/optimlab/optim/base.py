"""Gradient transformations over lists of tensors: the contract every optimizer in optimlab is built on.

In the spirit of optax (Babuschkin et al., The DeepMind JAX Ecosystem, 2020,
http://github.com/deepmind) but over *lists of tensors* updated with ``torch._foreach_*`` ops, as in
HeavyBall. An optimizer is a :func:`chain` of small transformations; each is a pair of functions:

``init(params) -> state``
    Creates the state for a list of parameters. Called once, never on the hot path.
``update(updates, state, params) -> (updates, state)``
    Maps the incoming updates (the gradients, for the first transform) to new updates and returns the
    next state. The last transform of a named optimizer returns the final *delta*: the shell does
    ``p += delta``, so the sign of the learning rate lives in :func:`scale_by_learning_rate`.
``set_mode(params, state, train) -> state`` (optional, ``None`` for almost all transforms)
    For transforms whose parameters hold a different point in training than in evaluation
    (schedule-free: y while training, x to evaluate): moves ``params`` in place and returns the state.
``apply(updates, state, params) -> state`` (optional, ``None`` for almost all transforms)
    ``update`` and ``p += delta`` in one op, rounding as torch.optim's step does where ``p += delta``
    would round twice (:func:`~optimlab.optim.transforms.scaling.scale_by_learning_rate`). Shells step
    through :func:`apply_updates`, which takes it where the last transform of a chain has one.

Rules a transform keeps, so that transforms compose without copies:

- ``updates`` and ``params`` are read-only: never write into them. Write only into tensors you
  allocated in this call or into your own state. The returned updates may alias your state (plain
  momentum returns its buffer), since nobody downstream writes into its input.
- State tensors may be mutated in place (that is what makes the update one pass over memory).
- The state record is a ``NamedTuple`` declared directly above its factory. A field that is a *list*
  holds one tensor per parameter, in parameter order (a ``list``, never the tuple a foreach op
  returns: tuples are nodes of the state tree); any other field (a step counter, a running
  product) is shared by the whole list and must be a Python scalar or a tensor of hyperparameter shape.
  Optional per-parameter state is ``None`` when unused. Shells rely on this to store state per parameter
  (``torch.optim`` state dicts) and to rebuild list state from it. Counters are the list's, and the
  ``torch.optim`` shell keeps them per parameter, as torch does; a record whose reference counts per
  param group (the authors' Adan and Schedule-Free, pytorch_optimizer's Lamb) sets the class attribute
  ``counts_per_group = True``, and the shell then keeps every counter of the chain per group.
- A list field named in the record's class attribute ``transient`` holds live objects (a wrapped
  ``torch.optim.Optimizer``): shells keep it beside each parameter while running but leave it out of a
  saved state, so that ``torch.load(weights_only=True)`` reads the state back; after a load its entries
  are None, and the transform builds them again from the record's other fields. Such a record has a
  method ``settled()``, the record with those other fields brought up to date from the live objects,
  which shells call as they store the state (to save it), not at every update.
- A list field named in the record's class attribute ``unsaved_when_none`` holds None where it keeps
  nothing (schedule-free's ``y`` out of eval mode): a saved state leaves such an entry out, as the
  releases before the field saved it, and a load without it gets ``init``'s None.
- ``init([])`` must work: shells use it as the layout of the state.
- State has the dtype and device of its parameter (``torch.zeros_like``), so float32 stays float32.

Hyperparameters are read in ONE place: :func:`value_at` turns a hyperparameter (a float, a schedule
``step -> float`` evaluated at the transform's own count of updates already applied, or a tensor with a
leading member dimension ``(K,)``) into a coefficient, and the few in-place ops below (:func:`scale_`,
:func:`add_scaled_`, :func:`lerp_`, :func:`addcmul_`, :func:`addcdiv_`, and the out-of-place
:func:`scaled`, :func:`add_scaled`) apply a coefficient to a list.
A float goes to the fused Scalar overload of the foreach op; a ``(K,)`` tensor is viewed as
``(K, 1, ..., 1)`` per tensor (:func:`per_tensor`), so a batched shell whose parameters carry a leading
member dimension K runs the same transforms with per-member hyperparameters. Scalar arithmetic on
coefficients (``1 - b1 ** t``) is written with operators that work on floats and tensors alike.

Transforms are cheap to build, so a shell rebuilds them when a hyperparameter changes (a torch
lr_scheduler writing ``group["lr"]``, like optax's ``inject_hyperparams``); their state does not
depend on hyperparameter values, only on flags.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError

__all__ = [
    "Coefficient",
    "EmptyState",
    "GradientTransformation",
    "Hyperparameter",
    "Params",
    "Schedule",
    "State",
    "Updates",
    "add_scaled",
    "add_scaled_",
    "addcdiv_",
    "addcmul_",
    "apply_updates",
    "chain",
    "half_on_cpu",
    "identity",
    "lerp_",
    "per_tensor",
    "refuse_past_range",
    "scale_",
    "scaled",
    "scheduled",
    "value_at",
]

Params = Sequence[Tensor]
Updates = Sequence[Tensor]  # foreach ops return tuples; transforms accept any sequence
State = Any  # a NamedTuple (or a tuple of them, for a chain) following the rules above
Schedule = Callable[[int], float]
Coefficient = float | Tensor  # a Python number, or a (K,) tensor of per-member values
Hyperparameter = float | Schedule | Tensor


class GradientTransformation(NamedTuple):
    """A pair ``(init, update)``, plus ``set_mode`` for transforms with a train and an eval point and
    ``apply`` for a last transform that adds its delta to the params itself."""

    init: Callable[[Params], State]
    update: Callable[[Updates, State, Params], tuple[Updates, State]]
    set_mode: Callable[[Params, State, bool], State] | None = None
    apply: Callable[[Updates, State, Params], State] | None = None


class EmptyState(NamedTuple):
    """The state of a stateless transform."""


def identity() -> GradientTransformation:
    """Pass updates through unchanged (a neutral element for :func:`chain`)."""

    def init(params: Params) -> EmptyState:
        return EmptyState()

    def update(updates: Updates, state: EmptyState, params: Params) -> tuple[Updates, EmptyState]:
        return updates, state

    return GradientTransformation(init, update)


def chain(*transforms: GradientTransformation) -> GradientTransformation:
    """Apply ``transforms`` in order; the state is the tuple of their states. The chain applies its
    delta as its last transform does (its ``apply``, where it has one)."""

    def init(params: Params) -> tuple[State, ...]:
        return tuple(t.init(params) for t in transforms)

    def update(updates: Updates, state: tuple[State, ...], params: Params) -> tuple[Updates, tuple]:
        updates, new_state = _through(transforms, updates, state, params)
        return updates, tuple(new_state)

    moded = [i for i, t in enumerate(transforms) if t.set_mode is not None]

    def set_mode(params: Params, state: tuple[State, ...], train: bool) -> tuple[State, ...]:
        new_state = list(state)
        for i in moded:
            new_state[i] = transforms[i].set_mode(params, state[i], train)
        return tuple(new_state)

    chained = GradientTransformation(init, update, set_mode if moded else None)
    last_apply = transforms[-1].apply if transforms else None
    if last_apply is None:
        return chained

    def apply(updates: Updates, state: tuple[State, ...], params: Params) -> tuple[State, ...]:
        updates, new_state = _through(transforms[:-1], updates, state, params)
        return (*new_state, last_apply(updates, state[-1], params))

    return chained._replace(apply=apply)


def _through(
    transforms: Sequence[GradientTransformation], updates: Updates, state: tuple[State, ...], params: Params
) -> tuple[Updates, list[State]]:
    """``updates`` passed through ``transforms`` in order, with each one's next state."""
    new_state = []
    for transform, inner in zip(transforms, state):
        updates, inner = transform.update(updates, inner, params)
        new_state.append(inner)
    return updates, new_state


def apply_updates(transform: GradientTransformation, grads: Updates, state: State, params: Params) -> State:
    """``p <- p + delta`` in place for each param, ``delta`` the transform's update of ``grads``: the step
    every shell takes. Returns the next state."""
    if transform.apply is not None:
        return transform.apply(grads, state, params)
    updates, state = transform.update(grads, state, params)
    torch._foreach_add_(params, updates)
    return state


def value_at(hyperparameter: Hyperparameter, step: int) -> Coefficient:
    """The value of a hyperparameter at ``step`` (updates already applied): schedules are called."""
    return hyperparameter(step) if callable(hyperparameter) else hyperparameter


def scheduled(hyperparameter: Any) -> bool:
    """Whether a hyperparameter is, or holds (betas), a schedule: no range can check its values."""
    if isinstance(hyperparameter, (tuple, list)):
        return any(scheduled(h) for h in hyperparameter)
    return callable(hyperparameter)


def per_tensor(coefficient: Coefficient, tensors: Sequence[Tensor]) -> Coefficient | list[Tensor]:
    """A float as is; a ``(K,)`` tensor as one ``(K, 1, ..., 1)`` view per tensor, for foreach ops, in the
    tensor's dtype (the batched shell holds the values of a group of mixed dtypes in float64)."""
    if not isinstance(coefficient, Tensor) or coefficient.ndim == 0:
        return coefficient
    return _member_views(coefficient, tensors, opmath=False)


def _member_views(c: Tensor, tensors: Sequence[Tensor], *, opmath: bool) -> list[Tensor]:
    """A ``(K,)`` tensor viewed as ``(K, 1, ..., 1)`` along each tensor's leading dimension, in its dtype,
    or with ``opmath`` in the dtype torch's CPU op takes a number in (float32 for float16/bfloat16: ``mul``,
    ``lerp``, ``addcmul``'s value). Cast once per value and dtype (:func:`_cast`), viewed once per dtype
    and rank, not per tensor: a cast per tensor per op made the batched shell's float32 momentum
    0.29 -> 0.33 ms a step (086cf32e; benchmarks/batched_member_values.py, docs/benchmarks.md)."""
    views: dict[tuple[torch.dtype, int], Tensor] = {}
    out = []
    for t in tensors:
        key = (t.dtype, t.ndim)
        view = views.get(key)
        if view is None:
            dtype = torch.float32 if opmath and half_on_cpu(t) else t.dtype
            view = views[key] = _cast(c, dtype).view(-1, *(1,) * (t.ndim - 1))
        out.append(view)
    return out


# id of a (K,) value -> (a weak reference to it, its version when cast, its casts by dtype)
_casts: dict[int, tuple[weakref.ref[Tensor], int, dict[torch.dtype, Tensor]]] = {}


def _cast(c: Tensor, dtype: torch.dtype) -> Tensor:
    """``c`` in ``dtype``, cast once per value tensor, version and dtype: the batched shell's float64
    values, cast to float32 by every op of every step, made float32 momentum 1.16x slower (5f89406c;
    benchmarks/batched_member_values.py, docs/benchmarks.md). A value changed in place is cast again."""
    if c.dtype == dtype:
        return c
    if c.is_inference():  # no version counter to know it unchanged by: cast each time, as before 5f89406c
        return c.to(dtype)
    known = _casts.get(id(c))
    if known is None or known[0]() is not c or known[1] != c._version:
        forget = id(c)
        known = _casts[forget] = (weakref.ref(c, lambda _: _casts.pop(forget, None)), c._version, {})
    cast = known[2].get(dtype)
    if cast is None:
        cast = known[2][dtype] = c.to(dtype)
    return cast


def _factors(c: Tensor, tensors: Sequence[Tensor]) -> list[Tensor]:
    """A tensor coefficient as one factor per tensor (a ``(K, 1, ..., 1)`` view, or the 0-dim ``c``)."""
    return _member_views(c, tensors, opmath=False) if c.ndim else [c] * len(tensors)


def half_on_cpu(x: Tensor) -> bool:
    """Whether ``x`` is a float16/bfloat16 tensor on CPU, where torch's ops round a Python number
    differently from op to op (:func:`scaled`, and the learning rate's
    :func:`~optimlab.optim.transforms.scaling.scale_by_learning_rate`)."""
    return x.dtype in (torch.float16, torch.bfloat16) and x.device.type == "cpu"


def _multiplier(c: Coefficient, xs: Sequence[Tensor]) -> Coefficient | list[Tensor]:
    """``c`` as foreach multiplies ``xs`` by it as ``Tensor.mul_`` does, tensor by tensor. On CPU
    ``torch._foreach_mul_`` rounds a Python number to float16/bfloat16 tensors' dtype first (0.9 -> 0.8984375
    in bfloat16), where ``Tensor.mul_``, which torch.optim's CPU steps call (``buf.mul_(momentum)``),
    multiplies by it in float32: there the number goes as a float32 0-dim tensor, which foreach takes
    unrounded (torch 2.13). A group that mixes dtypes (float32 beside bfloat16) gets one 0-dim tensor a
    tensor, each of the dtype its tensor computes a number in, so a float64 tensor keeps the number whole.
    A ``(K,)`` tensor goes the same way, each member's value in the dtype its number would go in."""
    if isinstance(c, Tensor) and c.ndim:
        return _member_views(c, xs, opmath=True)
    if not isinstance(c, (int, float)) or not any(half_on_cpu(x) for x in xs):
        return c
    if all(half_on_cpu(x) for x in xs):
        return torch.tensor(c, dtype=torch.float32)
    return [torch.tensor(c, dtype=torch.float32 if half_on_cpu(x) else x.dtype) for x in xs]


def refuse_past_range(field: str, value: Any, numbers: Sequence[float], tensors: Sequence[Tensor]) -> None:
    """Refuse ``value`` (its ``numbers``) where the narrowest dtype of ``tensors`` cannot hold one of them:
    the ops round a value to their tensor's dtype (float16's 65504: lr=1e5 is inf there), whichever tensor
    comes first. The one range check of the lr (the drop-in) and of per-member values (the batched shell)."""
    dtype = min((t.dtype for t in tensors), key=lambda d: torch.finfo(d).max)
    largest = torch.finfo(dtype).max
    if any(abs(n) > largest for n in numbers):
        raise InvalidValueError(
            field,
            value,
            f"at most {largest!r} in magnitude, the largest finite {str(dtype).removeprefix('torch.')} "
            "(the narrowest dtype of the parameters, to which the step rounds it)",
        )


def _half_members(c: Coefficient, xs: Sequence[Tensor]) -> bool:
    """Whether ``c`` is a ``(K,)`` tensor and some x is float16/bfloat16 on CPU, where torch's op with a
    number computes in float32 and rounds once, while foreach takes a tensor weight only in x's dtype
    (``lerp``) and rounds each op of a composed one (``addcmul`` as two muls and an add)."""
    return isinstance(c, Tensor) and c.ndim > 0 and any(half_on_cpu(x) for x in xs)


def _half_members_in_opmath(
    xs: Sequence[Tensor],
    others: Sequence[Sequence[Tensor]],
    c: Coefficient,
    op: Callable[..., Tensor],
) -> tuple[Sequence[Tensor], list[Sequence[Tensor]]]:
    """``x <- op(x, *others, c)`` for each float16/bfloat16 x (:func:`_half_members`), computed in float32
    and rounded once, as torch's op with a number computes it; returns the other xs (and their others),
    left to the caller's foreach op."""
    if not _half_members(c, xs):
        return xs, list(others)
    assert isinstance(c, Tensor)
    weights = _member_views(c, xs, opmath=True)
    rest = []
    for i, x in enumerate(xs):
        if half_on_cpu(x):
            upcast: dict[int, Tensor] = {}  # addcmul's g * g: one float32 copy of g
            for o in others:
                if id(o[i]) not in upcast:
                    upcast[id(o[i])] = o[i].float()
            x.copy_(op(x.float(), *(upcast[id(o[i])] for o in others), weights[i]))
        else:
            rest.append(i)
    return [xs[i] for i in rest], [[o[i] for i in rest] for o in others]


def scaled(xs: Sequence[Tensor], c: Coefficient) -> list[Tensor]:
    """``c * x`` for each x, in new tensors (a float16/bfloat16 x times a ``(K,)`` tensor computed in
    float32 and rounded back once, as torch's op with a number rounds it)."""
    results = torch._foreach_mul(xs, _multiplier(c, xs))
    if not _half_members(c, xs):
        return list(results)
    return [r if r.dtype == x.dtype else r.to(x.dtype) for r, x in zip(results, xs)]


def scale_(xs: Sequence[Tensor], c: Coefficient) -> None:
    """``x <- c * x`` for each x."""
    torch._foreach_mul_(xs, _multiplier(c, xs))


def add_scaled_(xs: Sequence[Tensor], ys: Sequence[Tensor], c: Coefficient) -> None:
    """``x <- x + c * y``."""
    if isinstance(c, Tensor):  # one pass: addcmul rounds x + c * y once, as add_(y, alpha=c) does
        torch._foreach_addcmul_(xs, ys, _factors(c, ys))
    else:
        torch._foreach_add_(xs, ys, alpha=c)


def add_scaled(xs: Sequence[Tensor], ys: Sequence[Tensor], c: Coefficient) -> list[Tensor]:
    """``x + c * y`` in new tensors."""
    if isinstance(c, Tensor):
        return torch._foreach_addcmul(xs, ys, _factors(c, ys))
    return torch._foreach_add(xs, ys, alpha=c)


def lerp_(xs: Sequence[Tensor], ys: Sequence[Tensor], c: Coefficient) -> None:
    """``x <- x + c * (y - x)``: an exponential moving average with weight ``c`` on the new value."""
    xs, (ys,) = _half_members_in_opmath(xs, [ys], c, torch.lerp)
    if xs:
        torch._foreach_lerp_(xs, ys, per_tensor(c, xs))


def addcmul_(xs: Sequence[Tensor], ys: Sequence[Tensor], zs: Sequence[Tensor], c: Coefficient) -> None:
    """``x <- x + c * y * z``."""
    xs, (ys, zs) = _half_members_in_opmath(xs, [ys, zs], c, lambda x, y, z, v: (v * y).mul_(z).add_(x))
    if not xs:
        return
    if isinstance(c, Tensor):  # addcmul with c * y: torch's computes x + (value * t1) * t2 in one FMA
        torch._foreach_addcmul_(xs, torch._foreach_mul(ys, per_tensor(c, ys)), zs)
    else:
        torch._foreach_addcmul_(xs, ys, zs, value=c)


def addcdiv_(xs: Sequence[Tensor], ys: Sequence[Tensor], zs: Sequence[Tensor], c: Coefficient) -> None:
    """``x <- x + c * y / z``."""
    xs, (ys, zs) = _half_members_in_opmath(xs, [ys, zs], c, lambda x, y, z, v: (y / z).mul_(v).add_(x))
    if not xs:
        return
    if isinstance(c, Tensor):  # addcdiv with c * y: torch's computes x + (value * t1) / t2
        torch._foreach_addcdiv_(xs, torch._foreach_mul(ys, per_tensor(c, ys)), zs)
    else:
        torch._foreach_addcdiv_(xs, ys, zs, value=c)
