"""An elementwise chain compiled by ``torch.compile`` into one pass over memory per tensor.

The kernel is the composed chain itself: the compiled function builds the transform from its
hyperparameters and runs ``update`` and ``p += delta``, and TorchInductor fuses every foreach op of every
transform into one loop per tensor that reads each parameter, gradient and state tensor once and
writes each once (Adam: 28 bytes per float32 parameter instead of ~150 for the eager chain of foreach
ops). There is no second copy of the math to keep in step with the transforms.

What changes from step to step must be an *input* of the compiled graph, not a constant baked into it,
or every step would recompile:

- hyperparameters that may vary (those the optimizer's signature types as ``Hyperparameter``: lr,
  betas, eps, weight decay, ...) enter as 0-d float64 tensors when they are non-zero; a zero stays a
  Python constant, since it switches a transform off and so changes the chain's structure;
- the step counters (Python ints) are symbolic (``dynamic=True``), so one graph serves every step
  after the first, which runs eagerly;
- Python floats in the state (NAdam's momentum product, schedule-free's weight sum) enter as 0-d
  tensors and come back as floats, so the state keeps its layout.

A chain whose Python code branches on a hyperparameter's value cannot take it as a tensor input without
breaking the graph (RAdam switches on ``rho_t(beta2)``), so the compiled step tries, in order: every
varying hyperparameter as an input; only ``lr`` as an input (the rest as constants, recompiled if they
change); every varying hyperparameter as an input with graph breaks allowed (several graphs, slower).
The first that compiles is kept. Schedule-free chains, whose transform branches on its own float
state, compile a step that writes that branch in tensor ops instead
(:mod:`~optimlab.optim.kernels.schedule_free`).
"""

from __future__ import annotations

import dataclasses
import time
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optimlab.optim.base import GradientTransformation, Hyperparameter, State, apply_updates
from optimlab.optim.kernels.scalar_hoisting import inductor_with_scalars_hoisted
from optimlab.optim.kernels.schedule_free import STEPS

__all__ = ["CompiledChain", "lift_floats"]

Factory = Callable[..., GradientTransformation]


@dataclasses.dataclass(frozen=True)
class _Rung:
    """How the compiled step takes hyperparameters: which as inputs, and whether the graph may break."""

    inputs: str  # "varying": every hyperparameter that may vary; "lr": only the learning rate
    fullgraph: bool


_LADDER = (_Rung("varying", True), _Rung("lr", True), _Rung("varying", False))
# Distinct sets of constant hyperparameters compiled per group before it falls back to eager: a run whose
# constants change every step (OneCycleLR cycling betas under the "lr" rung) would otherwise recompile
# every step.
_MAX_CONSTANT_SETS = 4


def _step(
    factory: Factory,
    constants: Mapping[str, Any],
    inputs: Mapping[str, Any],
    params: list[Tensor],
    grads: list[Tensor],
    state: State,
) -> State:
    """The drop-in's step for one group, as one function for Dynamo to trace: build, update, apply."""
    return apply_updates(factory(**constants, **inputs), grads, state, params)


def _own_copy(function: types.FunctionType) -> types.FunctionType:
    """``function`` with its own code object: Dynamo keeps its cache, its recompile limit and its
    dynamic-shape decisions per code object, so each group compiles apart from every other."""
    return types.FunctionType(
        function.__code__.replace(), function.__globals__, function.__name__, function.__defaults__
    )


def _may_vary(factory: Factory) -> frozenset[str]:
    """Keywords the optimizer's signature types as ``Hyperparameter`` (or a tuple of them): values that
    schedulers and per-group settings change. Flags and structural numbers (``amsgrad``, ``lr_decay``,
    ``warmup_steps``) are typed ``bool``/``float``/``int`` and stay constants."""
    base = getattr(factory, "func", factory)
    try:
        hints = typing.get_type_hints(base)
    except (NameError, TypeError):  # a user's factory with unresolvable hints: everything a constant
        return frozenset()

    def varying(hint: Any) -> bool:
        if typing.get_origin(hint) is tuple:
            return all(varying(h) for h in typing.get_args(hint) if h is not Ellipsis)
        return hint == Hyperparameter

    return frozenset(name for name, hint in hints.items() if varying(hint))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _split(
    hyperparameters: Mapping[str, Any], as_inputs: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(constants, inputs)``: non-zero numbers named in ``as_inputs`` become 0-d float64 tensors."""

    def lift(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(lift(v) for v in value)
        return torch.tensor(float(value), dtype=torch.float64) if _is_number(value) and value != 0 else value

    constants, inputs = {}, {}
    for name, value in hyperparameters.items():
        if name in as_inputs:
            inputs[name] = lift(value)
        else:
            constants[name] = value
    return constants, inputs


def lift_floats(state: State) -> State:
    """Python floats of the state as 0-d float64 tensors (graph inputs instead of baked constants)."""
    if isinstance(state, tuple):
        children = [lift_floats(child) for child in state]
        return type(state)(*children) if hasattr(state, "_fields") else tuple(children)
    return torch.tensor(state, dtype=torch.float64) if isinstance(state, float) else state


def _lower_floats(state: State, template: State) -> State:
    """Back to Python floats where ``template`` (the state before lifting) had them."""
    if isinstance(template, tuple):
        children = [_lower_floats(s, t) for s, t in zip(state, template)]
        return type(template)(*children) if hasattr(template, "_fields") else tuple(children)
    return float(state) if isinstance(template, float) else state


def _first_step(state: State) -> bool:
    """Some transform has not stepped yet: its first step often differs (momentum copies the gradient)."""
    if not isinstance(state, tuple):
        return False
    if "count" in getattr(state, "_fields", ()) and state.count == 0:
        return True
    return any(_first_step(child) for child in state)


def _graphs_compiled() -> int:
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


class CompiledChain:
    """The compiled step of one param group; ``None`` from :meth:`__call__` means "run the eager chain".

    Args:
        factory: the optimizer's factory (``optimlab.optim.adan``); it must accept plain-number
            hyperparameters and 0-d tensors alike, as every factory of ``optimlab.optim`` does.

    Attributes:
        compile_seconds: wall time spent in calls that compiled (tracing and code generation).
        failed: compilation failed on every rung (no C++ compiler, an untraceable chain); the group
            stays eager.
    """

    def __init__(self, factory: Factory) -> None:
        self._factory = factory
        self._varying = _may_vary(factory)
        step = STEPS.get(getattr(factory, "func", factory), _step)
        # dynamic=True: the step counters are symbolic from the first compile (parameters keep static
        # shapes, torch.compile's default for them), so a run compiles once instead of twice.
        self._compiled = {
            fullgraph: torch.compile(
                _own_copy(step), fullgraph=fullgraph, dynamic=True, backend=inductor_with_scalars_hoisted
            )
            for fullgraph in (True, False)
        }
        self._rung = 0
        self._constant_sets: set[tuple[tuple[str, Any], ...]] = set()
        self.compile_seconds = 0.0
        self.failed = False

    def __call__(
        self,
        hyperparameters: Mapping[str, Any],
        params: Sequence[Tensor],
        grads: Sequence[Tensor],
        state: State,
    ) -> State | None:
        """Apply one update in place and return the next state, or None if this step must run eagerly.

        A first step runs eagerly: compiled, it would be a graph of its own (``count == 0`` branches),
        compiled for a single use.
        """
        if _first_step(state):
            return None
        while not self.failed:
            rung = _LADDER[self._rung]
            as_inputs = self._varying if rung.inputs == "varying" else self._varying & {"lr"}
            constants, inputs = _split(hyperparameters, as_inputs)
            key = tuple(sorted(constants.items()))
            if key not in self._constant_sets and len(self._constant_sets) >= _MAX_CONSTANT_SETS:
                return None
            graphs, started = _graphs_compiled(), time.perf_counter()
            try:
                lifted = self._compiled[rung.fullgraph](
                    self._factory, constants, inputs, list(params), list(grads), lift_floats(state)
                )
            except torch._dynamo.exc.Unsupported:  # a graph break under fullgraph: try the next rung
                self.compile_seconds += time.perf_counter() - started
                self._rung += 1
                self.failed = self._rung == len(_LADDER)
                continue
            except Exception:  # no compiler, or a chain Dynamo cannot trace: the eager chain is always right
                self.compile_seconds += time.perf_counter() - started
                self.failed = True
                return None
            if _graphs_compiled() != graphs:
                self.compile_seconds += time.perf_counter() - started
            self._constant_sets.add(key)
            return _lower_floats(lifted, state)
        return None
