"""The fused path: per param group and step, a single-pass kernel in place of the composed chain.

Three shells, one math: the drop-in (:mod:`~optimlab.optim.shells.torch_optim`) runs a chain of foreach
transforms, one pass over memory per op; this shell substitutes a kernel that makes one pass in all,
and falls back to the composed chain whenever no kernel applies. Chosen per group at every step:

1. **torch's fused kernels** (:mod:`~optimlab.optim.kernels.torch_fused`) for the chains whose update
   torch computes exactly (Adam, AdamW, AMSGrad, SGD, momentum, Nesterov, AdaGrad), called once per
   device and dtype of the group, as torch's own fused steps call them. No compile cost.
2. **the chain compiled** (:mod:`~optimlab.optim.kernels.compiled`) for the other elementwise
   optimizers, and the layerwise ones (LAMB, LARS: a norm pass, then the update), once compiling pays
   (below): TorchInductor fuses the chain's foreach ops into one loop per tensor, with the scalar
   coefficients computed once per step (:mod:`~optimlab.optim.kernels.scalar_hoisting`).
3. **the composed chain**, eagerly: always correct; used for schedules and per-member tensors as
   hyperparameters, for bfloat16, sparse or non-contiguous tensors and devices without torch's fused
   kernels (a group that mixes them with tensors a kernel takes runs the kernel on those, and the
   chain on the others: ``"torch_fused+eager"``), for multi-device groups of the compiled chain, for
   the other optimizers (Muon, Adafactor), for the first step of a compiled group, until compiling
   pays, whenever compiling fails, and inside the user's own ``torch.compile`` (of a whole training step):
   there the chain is traced into the user's graph and fused by it, where an in-place fused kernel
   on tensors made outside the graph cannot be traced.

All three read and write the same state tensors (the chain's layout), so ``state_dict`` is the same
whichever ran and a run may switch paths at any step; ``tests/optim/test_fused.py`` proves the kernels
equal to the chain (1e-6 in float32, 1e-12 in float64, 25 steps with a changing lr).

**When compiling pays.** Compiling costs seconds and saves a fraction of every later step. Not knowing
how long the run will be, the shell follows the ski-rental rule: it runs eagerly until the time spent
in eager steps of the group equals the expected compile time, then compiles. Whatever the run's
length, the total is then at most twice that of the better choice made in hindsight (the eager time
before compiling equals the compile time, and neither exceeds the best choice's total; Karlin,
Manasse, Rudolph & Sleator, Competitive snoopy caching, Algorithmica 3, 1988). Groups under
``_MIN_COMPILE_PARAMETERS`` never compile by themselves. So a small or short run never waits for a
compiler; ``fused=True`` compiles at the second step instead (benchmarks, runs known to be long).

>>> import torch, optimlab.optim
>>> w = torch.nn.Parameter(torch.ones(3))
>>> opt = optimlab.optim.create("adamw", [w], lr=0.1)
>>> w.sum().backward(); opt.step()
>>> opt.fused_path.last_path(0)
'torch_fused'
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor
from torch.utils._foreach_utils import (
    _get_fused_kernels_supported_devices,
    _group_tensors_by_device_and_dtype,
)

from optimlab.optim.base import GradientTransformation, State
from optimlab.optim.kernels.compiled import CompiledChain
from optimlab.optim.kernels.torch_fused import Kernel, kernel_for, kernel_runs_on

__all__ = ["FusedPath", "Path", "When"]

Path = Literal["torch_fused", "torch_fused+eager", "compiled", "eager"]
When = Literal["when_it_pays", "always", "never"]

# Expected seconds to compile one group's step (Dynamo tracing, TorchInductor's code generation, g++),
# before this process has measured one. Measured with benchmarks/optimizer_step.py (24 tensors, empty
# Inductor cache, 2-core AMD EPYC of docs/benchmarks.md): 2.5 s (schedule-free SGD) to 7.7 s (AdaN),
# ~5 s typical. It grows with the number of tensors (one loop each); once a group has compiled, the
# process's own mean replaces it.
_COMPILE_SECONDS_BASE = 1.0
_COMPILE_SECONDS_PER_TENSOR = 0.2
# Below this many parameters a group never compiles by itself: the saving per step is then a fraction
# of a millisecond, which takes tens of thousands of steps to repay seconds of compiling (and a small
# model's step is mostly its forward and backward). Measured with 24 tensors, 1 thread: AdaN's step at
# 9.6k parameters, eager 0.43 ms / compiled 0.22 ms; at 96k, 0.87 / 0.49 ms; at 960k, 10.1 / 4.0 ms.
_MIN_COMPILE_PARAMETERS = 1 << 20

_compiled_steps: weakref.WeakSet[CompiledChain] = weakref.WeakSet()  # every group's, in this process


def _expected_compile_seconds(tensors: int) -> float:
    """The mean compile time measured in this process, or the estimate above before any compile."""
    measured = [c.compile_seconds for c in _compiled_steps if c.compile_seconds > 0 and not c.failed]
    if measured:
        return sum(measured) / len(measured)
    return _COMPILE_SECONDS_BASE + _COMPILE_SECONDS_PER_TENSOR * tensors


def plain_numbers(hyperparameters: Mapping[str, Any]) -> bool:
    """Python numbers (or tuples of them): schedules and per-member tensors stay on the eager chain."""

    def plain(value: Any) -> bool:
        return all(plain(v) for v in value) if isinstance(value, tuple) else isinstance(value, (int, float))

    return all(plain(v) for v in hyperparameters.values())


def supported(params: Sequence[Tensor], grads: Sequence[Tensor]) -> bool:
    """Dense, contiguous float32/float64 tensors of one dtype on one device of a type torch has fused
    kernels for, each gradient shaped like its parameter: what one call of a fused kernel takes.

    torch's rule for ``fused=True`` (``torch/optim/optimizer.py``, ``_device_dtype_check_for_fused``)
    admits the device types of ``_get_fused_kernels_supported_devices`` (not ``meta``), and its fused
    steps call a kernel once per device and dtype (``_group_tensors_by_device_and_dtype``): a CUDA
    kernel reads a list as of its first tensor's dtype, and a list that mixed a CPU tensor with a meta
    one ran the meta kernel on both (the CPU tensor kept its values). The kernels index parameter,
    gradient and state with one linear offset; float32 and float64 are where their parity with the
    chain is proven (bfloat16 rounds differently between fused and composed ops). Each kernel has its
    own devices besides (:func:`~optimlab.optim.kernels.torch_fused.kernel_runs_on`).
    """
    device, dtype = params[0].device, params[0].dtype
    return (
        device.type in _get_fused_kernels_supported_devices()
        and dtype in (torch.float32, torch.float64)
        and all(
            p.dtype == dtype == g.dtype
            and g.layout == torch.strided
            and p.device == device == g.device
            and p.shape == g.shape
            and p.is_contiguous()
            and g.is_contiguous()
            for p, g in zip(params, grads)
        )
    )


def kernel_calls(params: Sequence[Tensor]) -> list[list[int]]:
    """The positions of ``params`` one kernel call takes each, one list per device and dtype: torch's
    grouping of a fused step (``_group_tensors_by_device_and_dtype``, :func:`supported`)."""
    if not params:  # torch's grouping refuses an empty list
        return []
    groups = _group_tensors_by_device_and_dtype([list(params)], with_indices=True)
    return [indices for _, indices in groups.values()]


def kernel_step(
    kernel: Kernel,
    hyperparameters: Mapping[str, Any],
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: State,
    calls: Sequence[Sequence[int]],
) -> State:
    """``kernel`` called once for each of ``calls`` (:func:`kernel_calls`, which take every position),
    one state again."""
    if len(calls) == 1:
        return kernel(hyperparameters, params, grads, state)
    return _joined(state, _kernel_parts(kernel, hyperparameters, params, grads, state, calls))


def _kernel_parts(
    kernel: Kernel,
    hyperparameters: Mapping[str, Any],
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    state: State,
    calls: Sequence[Sequence[int]],
) -> list[tuple[Sequence[int], State]]:
    """Each of ``calls`` and the state the kernel returns for its tensors (:func:`_at`)."""
    return [
        (
            indices,
            kernel(
                hyperparameters,
                [params[i] for i in indices],
                [grads[i] for i in indices],
                _at(state, indices),
            ),
        )
        for indices in calls
    ]


def _at(state: State, indices: Sequence[int]) -> State:
    """The chain's state of the tensors at ``indices``: each list field at them, counters as they are."""
    if isinstance(state, list):
        return [state[i] for i in indices]
    if not isinstance(state, tuple):
        return state
    children = [_at(child, indices) for child in state]
    return type(state)(*children) if hasattr(state, "_fields") else tuple(children)


def _joined(layout: State, parts: Sequence[tuple[Sequence[int], State]]) -> State:
    """One state of ``layout``'s tensors from the states of disjoint ``parts`` of them (:func:`_at`);
    counters from the first part: every part advanced them alike."""
    if isinstance(layout, list):
        joined = list(layout)
        for indices, part in parts:
            for i, value in zip(indices, part):
                joined[i] = value
        return joined
    if not isinstance(layout, tuple):
        return parts[0][1]
    children = [
        _joined(child, [(indices, part[n]) for indices, part in parts]) for n, child in enumerate(layout)
    ]
    return type(layout)(*children) if hasattr(layout, "_fields") else tuple(children)


def _divided(params: Sequence[Tensor], taken: Sequence[bool]) -> tuple[list[list[int]], list[int]]:
    """The kernel calls over the positions ``taken`` (:func:`kernel_calls`), and the other positions."""
    fast = [i for i, ok in enumerate(taken) if ok]
    calls = [[fast[j] for j in call] for call in kernel_calls([params[i] for i in fast])]
    return calls, [i for i, ok in enumerate(taken) if not ok]


class _Split(NamedTuple):
    """A group's division between kernel and chain, as its parameters allow (:meth:`FusedPath._split`)."""

    ids: tuple[int, ...]  # the parameters' ids: the list it was made for
    taken: tuple[bool, ...]  # per parameter: a kernel takes it (if its gradient is contiguous)
    calls: list[list[int]]
    rest: list[int]


class FusedPath:
    """Chooses, per group and step, between a fused kernel and the composed chain, and runs it.

    Args:
        factory: the optimizer's factory (``optimlab.optim.adam``): the chain a kernel stands in for.
        compile: ``"when_it_pays"`` (ski rental, see the module docstring), ``"always"`` (from the
            second step) or ``"never"``. The drop-in passes ``"never"`` for optimizers that are neither
            elementwise nor layerwise: their compiled step would not be a pass or two over memory.

    The shell keeps no optimizer state of its own: only, per group, the time spent eagerly and the
    group's compiled step.
    """

    def __init__(
        self, factory: Callable[..., GradientTransformation], *, compile: When = "when_it_pays"
    ) -> None:
        self._factory = factory
        self._kernel = kernel_for(factory)
        self._compile = compile
        self._eager_seconds: dict[Any, float] = {}
        self._compiled: dict[Any, CompiledChain] = {}
        self._last: dict[Any, Path] = {}
        self._splits: dict[Any, _Split] = {}

    def step(
        self,
        key: Any,
        hyperparameters: Mapping[str, Any],
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: State,
        eager: Callable[..., State],
    ) -> State:
        """Update ``params`` in place and return the next state; ``eager()`` runs the composed chain,
        ``eager(tensors=, grads=, state=)`` runs it on some of them.

        ``key`` names the group (its index); ``hyperparameters`` are all the factory's keywords;
        ``grads`` are the parameters' ``.grad`` (torch gives them their parameter's dtype, device and
        shape when they are set).
        """
        if torch.compiler.is_compiling():  # the user's compile traces the chain (module docstring, 3.)
            self._last[key] = "eager"
            return eager()
        calls, rest = self._split(key, params, grads)
        if calls and plain_numbers(hyperparameters):
            if self._kernel is not None:
                if not rest:
                    self._last[key] = "torch_fused"
                    return kernel_step(self._kernel, hyperparameters, params, grads, state, calls)
                self._last[key] = "torch_fused+eager"
                return self._kernels_beside_chain(hyperparameters, params, grads, state, eager, calls, rest)
            one_device = len({params[c[0]].device for c in calls}) == 1
            compiled = self._compiled_for(key, params) if one_device and not rest else None
            if compiled is not None:
                next_state = compiled(hyperparameters, params, grads, state)
                if next_state is not None:
                    self._last[key] = "compiled"
                    return next_state
        started = time.perf_counter()
        next_state = eager()
        self._eager_seconds[key] = self._eager_seconds.get(key, 0.0) + time.perf_counter() - started
        self._last[key] = "eager"
        return next_state

    def _split(
        self, key: Any, params: Sequence[Tensor], grads: Sequence[Tensor]
    ) -> tuple[list[list[int]], list[int]]:
        """The group's kernel calls (positions, one list per device and dtype: :func:`kernel_calls`) and
        the positions left to the chain. The parameters are checked once per group (again if its list
        changes): a ``.grad`` matches its parameter but for its layout, the one thing left to check each
        step. Checking all 24 tensors of a model each step took 14 us, more than torch's whole fused
        SGD step."""
        ids = tuple(map(id, params))
        known = self._splits.get(key)
        if known is None or known.ids != ids:
            taken = tuple(
                supported([p], [p]) and (self._kernel is None or kernel_runs_on(self._factory, p.device))
                for p in params
            )
            known = self._splits[key] = _Split(ids, taken, *_divided(params, taken))
        if all(g.is_contiguous() for ok, g in zip(known.taken, grads) if ok):
            return known.calls, known.rest
        return _divided(params, [ok and g.is_contiguous() for ok, g in zip(known.taken, grads)])

    def _kernels_beside_chain(
        self,
        hyperparameters: Mapping[str, Any],
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: State,
        eager: Callable[..., State],
        calls: Sequence[Sequence[int]],
        rest: Sequence[int],
    ) -> State:
        """The kernel once per device and dtype, the chain on the tensors no kernel takes (a float32
        tensor beside a bfloat16 one had taken the chain, 18-34 of 64 entries off torch's step), one state
        again: the chains with a kernel are elementwise, so a tensor's update reads no other tensor."""
        assert self._kernel is not None
        parts = _kernel_parts(self._kernel, hyperparameters, params, grads, state, calls)
        if rest:
            parts.append(
                (
                    rest,
                    eager(
                        tensors=[params[i] for i in rest],
                        grads=[grads[i] for i in rest],
                        state=_at(state, rest),
                    ),
                )
            )
        return _joined(state, parts)

    def _compiled_for(self, key: Any, params: Sequence[Tensor]) -> CompiledChain | None:
        """The group's compiled step: made once compiling pays, kept unless it failed."""
        compiled = self._compiled.get(key)
        if compiled is None:
            pays = sum(p.numel() for p in params) >= _MIN_COMPILE_PARAMETERS and self._eager_seconds.get(
                key, 0.0
            ) >= _expected_compile_seconds(len(params))
            if self._compile == "always" or (self._compile == "when_it_pays" and pays):
                compiled = self._compiled[key] = CompiledChain(self._factory)
                _compiled_steps.add(compiled)
        return None if compiled is None or compiled.failed else compiled

    def last_path(self, key: Any) -> Path | None:
        """Which path the group's last step took: ``"torch_fused"``, ``"compiled"``, ``"eager"``, or
        ``"torch_fused+eager"`` (the kernel on some of its tensors, the chain on the others)."""
        return self._last.get(key)

    def compile_seconds(self, key: Any) -> float:
        """Seconds the group has spent compiling (0 if it never compiled)."""
        compiled = self._compiled.get(key)
        return compiled.compile_seconds if compiled is not None else 0.0
