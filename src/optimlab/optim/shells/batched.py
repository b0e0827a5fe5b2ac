"""Many models at once: K members whose parameters carry a leading member dimension, one chain for all.

The second shell over the same transforms as the ``torch.optim`` drop-in. Parameters are stacked,
``(K, *shape)``, as ``torch.func.stack_module_state`` returns them; each hyperparameter is shared (a
number) or per member (a list of K values, or a ``(K,)`` tensor), which the core's ``per_tensor`` views
as ``(K, 1, ..., 1)``. So K learning-rate trials cost one foreach pass per op instead of K, and
member k follows the steps of the drop-in shell with member k's values (tested): bit for bit on the chain,
float16/bfloat16 included: the ``(K,)`` values are held in float64, as the drop-in's Python numbers are,
and each op takes them as torch's CPU op takes a number (in float32 to multiply, lerp and addcmul; in the
dtype as an add's alpha: :mod:`~optimlab.optim.base`). Known gaps: a member whose weight decay is 0 adds
``0 * p`` where the drop-in adds nothing, NaN once p is inf; on MPS, which has no float64, the values
are held in float32 (:func:`_shared_or_tensor`). To float32 rounding on the fast
path below, which scales the kernel's direction by lr after it (tested to rtol 1e-5).

Only optimizers whose math is elementwise (registry capability ``elementwise``) can be batched: a
transform that reduces over a whole tensor (Muon's orthogonalization, LAMB's trust ratio, Adafactor's
factored moments) would mix the members stacked in it.

**Fast path.** Where torch has a fused kernel for the chain (Adam, AdamW, AMSGrad, SGD, momentum,
Nesterov, AdaGrad: :mod:`~optimlab.optim.kernels.torch_fused`) and the members differ only in lr (and,
for decoupled decay, in weight decay), a step is the kernel run once over all members with lr 1 into a
zeroed scratch, which leaves ``-direction`` there and the moments updated, then
``p <- p (1 - lr_k wd_k) + lr_k * scratch`` with each member's lr: three passes over memory instead of
the chain's seven to nine (Adam on 64 stacked MLPs 64-128-128-10: 1.8 -> 0.45 ms a step, 2 threads).
The kernel and the chain share the state layout, so a step may take either (tested equal).

>>> import torch
>>> params = [torch.ones(3, 2)]  # 3 members of a 2-vector
>>> opt = BatchedOptimizer(params, "sgd", members=3, lr=[0.1, 0.2, 0.3])
>>> opt.step([torch.ones(3, 2)]); params[0][:, 0]
tensor([0.9000, 0.8000, 0.7000])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.optim.base import (
    GradientTransformation,
    State,
    add_scaled_,
    apply_updates,
    refuse_past_range,
    scale_,
    scheduled,
    value_at,
)
from optimlab.optim.kernels.torch_fused import Kernel, decoupled_decay, kernel_for, kernel_runs_on
from optimlab.optim.shells.fused import Path, kernel_calls, kernel_step, plain_numbers, supported
from optimlab.registry import Capability, Entry, get_registry

__all__ = ["BATCHABLE", "BatchedOptimizer"]

BATCHABLE = Capability.ELEMENTWISE  # the registry capability that makes an optimizer batchable
CHUNK_FLOATS = 1 << 19  # parameters per chunk of members (2 MiB of float32 per state tensor list)
NO_FLOAT64 = frozenset({"mps"})  # device types without float64 tensors: per-member values in float32


class _Chunk(NamedTuple):
    """A run of members stepped by one chain: the chain, which members, views of their tensors, state,
    the chunk's hyperparameters, and the fast path's scratch and kernel calls, one per device and dtype
    (None without a kernel for every device of the chunk)."""

    transform: GradientTransformation
    members: slice
    params: list[Tensor]
    state: State
    values: dict[str, Any]
    scratch: list[Tensor] | None
    calls: list[list[int]] | None


def _direction_kernel(entry: Entry[Any], values: dict[str, Any], decoupled: bool) -> Kernel | None:
    """torch's fused kernel for ``entry``'s chain, if it can compute every member's direction at lr 1:
    only lr (and a decoupled weight decay) may differ between members, and a coupled one must be 0."""
    per_member = {"lr", "weight_decay"} if decoupled else {"lr"}
    if not plain_numbers({k: v for k, v in values.items() if k not in per_member}):
        return None
    return kernel_for(entry.obj) if decoupled or values.get("weight_decay", 0.0) == 0.0 else None


def _per_member(name: str, value: Any, members: int, params: Sequence[Tensor]) -> Any:
    """A list of K values as a ``(K,)`` tensor (K tuples: a tuple of tensors), a ``(K,)`` tensor as its
    list is (checked alike); anything else as it is."""
    if isinstance(value, Tensor):
        if value.shape != (members,):
            raise InvalidValueError(
                f"per-member hyperparameter {name!r}", tuple(value.shape), f"shape ({members},)"
            )
        value = value.tolist()
    if not isinstance(value, list):
        return value
    if len(value) != members:
        raise InvalidValueError(
            f"per-member hyperparameter {name!r}", f"{len(value)} values", f"{members}, one a member"
        )
    if isinstance(value[0], (tuple, list)):  # betas: K pairs -> a pair of per-member values
        return tuple(_shared_or_tensor(name, list(column), params) for column in zip(*value))
    return _shared_or_tensor(name, value, params)


def _member_slice(value: Any, part: slice) -> Any:
    """A chunk's share of a per-member value (tensors and tuples of them); shared values as they are."""
    if isinstance(value, Tensor):
        return value[part]
    if isinstance(value, tuple):
        return tuple(_member_slice(v, part) for v in value)
    return value


def _shared_or_tensor(name: str, values: list[Any], params: Sequence[Tensor]) -> Any:
    """Values equal across members stay one number: the foreach ops' fused Scalar overload (the
    transforms that branch on a value, RAdam's threshold on b2, take a (K,) tensor too). Else a ``(K,)``
    tensor whose values every parameter's dtype must hold, as its ops round them to it: lr=[1e5, 0.1] in
    float16 would be [inf, 0.1].

    The tensor is float64, which each op of :mod:`~optimlab.optim.base` casts to the dtype its tensor
    takes a number in, as the drop-in's Python number is a double whose products (``1 - rho``,
    ``lr * wd``, ``1 - b1 ** t``) are rounded once. Held in the parameters' dtype, a value had lost its
    bits before: in float16/bfloat16 RAdam's lr product, schedule-free's coefficients, a member's betas
    or momentum; in float32 a member's ``1 - rho`` (AdaDelta, 3-7 of 240 entries off the drop-in over 8
    steps) or ``1 - alpha`` (RMSprop, 86-92); a float64 parameter beside a float32 one, 32 of 32 entries
    off over 8 momentum steps.

    One gap: a device without float64 (MPS, :data:`NO_FLOAT64`) holds them in float32, where they round
    as they did before, and each member's lr is reported as its float32 value."""
    if all(v == values[0] for v in values):
        return values[0]
    numbers = [v for v in values if isinstance(v, (int, float))]
    refuse_past_range(f"per-member hyperparameter {name!r}", values, numbers, params)
    device = params[0].device
    dtype = torch.float32 if device.type in NO_FLOAT64 else torch.float64
    return torch.tensor(values, dtype=dtype, device=device)


class BatchedOptimizer:
    """Steps K stacked members with the registered optimizer ``name``.

    Args:
        params: tensors of shape ``(K, *shape)``, updated in place.
        name: a registered optimizer with the ``elementwise`` capability.
        members: K.
        schedule: an lr multiplier ``step -> float`` applied to every member's lr (the recipe's
            schedule), counted in this optimizer's steps as a torch ``LambdaLR`` counts them.
        **hyperparameters: the optimizer's keywords, shared or per member (a list of K values).
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        name: str,
        *,
        members: int,
        schedule: Callable[[int], float] | None = None,
        **hyperparameters: Any,
    ) -> None:
        entry = get_registry("optimizer").get(name)
        if BATCHABLE not in entry.capabilities:
            raise OptimlabError(
                f"optimizer {entry.name!r} cannot step stacked members: its math is not "
                f"elementwise (capabilities: {', '.join(sorted(entry.capabilities)) or 'none'})"
            )
        self.params = list(params)
        if any(p.shape[:1] != (members,) for p in self.params):
            raise InvalidValueError(
                "stacked parameters", [tuple(p.shape) for p in self.params], f"a leading dim {members}"
            )
        for key, value in hyperparameters.items():  # names and ranges, member by member
            if isinstance(value, Tensor):  # a (K,) tensor's values too (a negative lr ran, ascending)
                value = value.tolist()
            for member_value in value if isinstance(value, list) else [value]:
                if not isinstance(member_value, Tensor) and not scheduled(member_value):
                    entry.validate(
                        {key: tuple(member_value) if isinstance(member_value, list) else member_value}
                    )
        values = {k: _per_member(k, v, members, self.params) for k, v in hyperparameters.items()}
        every_value = {**{h.name: h.default for h in entry.hyperparameters}, **entry.defaults, **values}
        self._decoupled = decoupled_decay(entry.obj, every_value)
        self._kernel = _direction_kernel(entry, every_value, self._decoupled)

        def chunk_values(part: slice) -> dict[str, Any]:
            chunk = {k: _member_slice(v, part) for k, v in every_value.items()}
            if schedule is not None:
                lr = chunk["lr"]
                chunk["lr"] = lambda step: lr * schedule(step)
            return chunk

        # One chain per chunk of members, over views of the stacked tensors: a chunk's parameters and
        # state stay in cache across the chain's passes. Adam on 64 MLPs 64-128-128-10 (1.7M floats):
        # 4.4 ms a step in one chunk, 2.6 ms in chunks of 16 (1 thread, AMD EPYC, this repo's machine).
        # The kernel makes one pass, so there its calls are what count: one chunk, 0.45 ms a step
        # (2 threads), 0.67 ms in chunks of 20.
        per_member = sum(p[0].numel() for p in self.params)
        size = members if self._kernel is not None else max(1, min(members, CHUNK_FLOATS // per_member))
        self._chunks = []
        for start in range(0, members, size):
            part = slice(start, start + size)
            chunk = chunk_values(part)
            transform = entry.obj(**chunk)  # the values were checked above (ranges do not read tensors)
            views = [p[part] for p in self.params]
            calls = kernel_calls(views) if self._kernel is not None else None
            if calls is not None and not all(kernel_runs_on(entry.obj, views[c[0]].device) for c in calls):
                calls = None
            scratch = [torch.zeros_like(v) for v in views] if calls is not None else None
            self._chunks.append(_Chunk(transform, part, views, transform.init(views), chunk, scratch, calls))
        # What the kernel reads: the shared values, at lr 1 and without decay (both applied per member).
        self._unit_lr = {**every_value, "lr": 1.0, "weight_decay": 0.0}
        self.modal = self._chunks[0].transform.set_mode is not None
        self.training = not self.modal  # modal optimizers start at their eval point, as the drop-in does
        self._count = 0  # steps taken: the chain's transforms count the same
        self.last_path: Path | None = None  # "torch_fused" (the fast path) or "eager" (the chain)

    @torch.no_grad()
    def step(self, grads: Sequence[Tensor]) -> None:
        """``p <- p + update(grads)`` for every stacked parameter; ``grads`` have the params' shapes."""
        for i, chunk in enumerate(self._chunks):
            member_grads = [g[chunk.members] for g in grads]
            if chunk.calls is not None and all(
                supported([chunk.params[j] for j in call], [member_grads[j] for j in call])
                for call in chunk.calls
            ):
                state, self.last_path = self._kernel_step(chunk, member_grads), "torch_fused"
            else:
                state = apply_updates(chunk.transform, member_grads, chunk.state, chunk.params)
                self.last_path = "eager"
            self._chunks[i] = chunk._replace(state=state)
        self._count += 1

    def _kernel_step(self, chunk: _Chunk, grads: list[Tensor]) -> State:
        """The fast path (module docstring): the kernel's direction at lr 1, once per device and dtype,
        scaled by each member's lr."""
        assert chunk.scratch is not None and chunk.calls is not None and self._kernel is not None
        torch._foreach_zero_(chunk.scratch)
        state = kernel_step(self._kernel, self._unit_lr, chunk.scratch, grads, chunk.state, chunk.calls)
        lr = value_at(chunk.values["lr"], self._count)
        decay = value_at(chunk.values.get("weight_decay", 0.0), self._count) if self._decoupled else 0.0
        if isinstance(decay, Tensor) or decay != 0.0:
            scale_(chunk.params, 1 - lr * decay)
        add_scaled_(chunk.params, chunk.scratch, lr)
        return state

    def lrs(self, step: int) -> list[float]:
        """Each member's learning rate at ``step`` (0 is the first): its peak times the schedule."""
        lrs = []
        for chunk in self._chunks:
            lr = value_at(chunk.values["lr"], step)
            lrs += lr.tolist() if isinstance(lr, Tensor) else [float(lr)] * len(chunk.params[0])
        return lrs

    @torch.no_grad()
    def train(self) -> None:
        """Move the parameters to the point gradients are taken at (schedule-free ``y``)."""
        self._set_mode(True)

    @torch.no_grad()
    def eval(self) -> None:
        """Move the parameters to the point to evaluate (schedule-free ``x``)."""
        self._set_mode(False)

    def _set_mode(self, train: bool) -> None:
        if self.modal and self.training != train:
            self._chunks = [
                c._replace(state=c.transform.set_mode(c.params, c.state, train)) for c in self._chunks
            ]
        self.training = train
