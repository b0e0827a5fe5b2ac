"""Which modules add their input back to what they computed from it: residual connections (He et al.,
Deep Residual Learning for Image Recognition, CVPR 2016, https://arxiv.org/abs/1512.03385).

Read off the traced graph (:class:`torch.fx.Tracer`): an addition ``x + f(x)`` whose ``f`` holds
parameters, whatever the module is called (a ``ConvBlock`` of Conv, BatchNorm and ReLU alone has none).
What fx cannot trace (control flow on values, as in Hugging Face's layers) and torch's own modules, which
it does not enter, are read off the autograd graph of one forward as it runs (:class:`ForwardSkips`):
the same addition, where the module's input reaches one operand without parameters and the other
through them. Neither reading goes by the class name: Swin's ``SwinLayer`` is found as GPT-2's ``Block``.
"""

from __future__ import annotations

import copy
import dataclasses
import operator
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import fx, nn

from optimlab.compiled import uncompiled

__all__ = ["ForwardSkips", "SkipReading", "read_skips", "residual_blocks"]

_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")
_SHAPE_METHODS = ("size", "dim", "numel")
_SHAPE_ATTRIBUTES = ("shape", "ndim", "dtype", "device")


@dataclasses.dataclass
class SkipReading:
    """What the traces read of a model's residual connections, and what is left to a watched forward."""

    found: dict[str, str]  # module name -> class name, read off fx's graph
    # Where fx could not read the model whole (untraceable, or holding torch's own modules with parts):
    # the modules a forward is watched in (:class:`ForwardSkips`), all but torch's own leaves (a Linear
    # adds no skip).
    watched: dict[str, nn.Module]


def read_skips(model: nn.Module) -> SkipReading:
    """``model``'s residual connections as fx reads them; where it cannot read the whole model, every
    module to watch in a forward instead. Its parts are not traced one by one (~10 ms a trace, 1.1 s of
    a 12-layer GPT-2's reading and 2.9 s of a BERT's) where the watch reads them all, adding 0.1 s to
    one forward of either (benchmarks/residual_blocks.py)."""
    model, graph = uncompiled(model), None
    try:
        twin = _structure_of(model)
    except Exception:  # a module that cannot be copied: left to the forward
        twin = None
    if twin is not None and _traceable(twin):
        graph = _traced(twin)
    unread = graph is None or any(
        node.op == "call_module" and _has_parts(twin.get_submodule(node.target)) for node in graph.nodes
    )
    if unread:  # torch's own modules with parts (TransformerEncoderLayer), which fx does not enter
        watched = {
            name: module
            for name, module in model.named_modules()
            if _has_parts(module) or not _LEAVES.is_leaf_module(module, "")
        }
        return SkipReading({}, watched)
    return SkipReading(dict(_owner(node, twin) for node in graph.nodes if graph.is_skip(node)), {})


def residual_blocks(model: nn.Module, *inputs: Any, **named_inputs: Any) -> dict[str, str]:
    """``{module name: class name}`` of the modules whose forward adds ``x`` to ``f(x)``, ``f`` holding
    parameters (``""`` names ``model`` itself; under torch.compile's wrapper, the module it compiled).
    What fx cannot read is read off a forward of a copy of ``model`` on ``inputs`` (in training mode,
    gradients on); given none, it is left unread."""
    model = uncompiled(model)
    reading = read_skips(model)
    if not reading.watched or not (inputs or named_inputs):
        return reading.found
    twin = copy.deepcopy(model).train()
    watch = ForwardSkips(reading.found)
    handles = [
        twin.get_submodule(name).register_forward_hook(watch.hook(name), with_kwargs=True)
        for name in reading.watched
    ]
    try:
        with torch.enable_grad():
            twin(*inputs, **named_inputs)
    finally:
        for handle in handles:
            handle.remove()
    return watch.found


class ForwardSkips:
    """Forward hooks that read a module's residual connections off the autograd graph of its output,
    walked back to the module's inputs: an addition one of whose operands is computed from a value
    without parameters, the other from the same value through parameters. Hooks run innermost first,
    and an addition counts for the innermost module it is in (BERT's ``BertAttention`` for its
    ``x + attention(x)``, its ``BertLayer`` for the feed-forward's, which the layer's forward adds).

    An input that carries no graph (the data, or what frozen layers computed from it) is not followed:
    a skip around the model's first layer there is not seen."""

    def __init__(self, found: dict[str, str]) -> None:
        self.found = found  # name -> class name, added to
        self._counted: set[Any] = set()  # additions counted for an inner module

    def hook(self, name: str) -> Callable[[nn.Module, tuple, dict, Any], None]:
        def read(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            sources = {t.grad_fn for t in _tensors((args, kwargs)) if t.grad_fn is not None}
            roots = [t.grad_fn for t in _tensors(output) if t.grad_fn is not None]
            if sources and roots and self._count_skips(roots, sources):
                self.found[name] = type(module).__name__

        return read

    def _count_skips(self, roots: list[Any], sources: set[Any]) -> bool:
        """Some addition not yet counted, upstream of ``roots`` (not past the module's inputs,
        ``sources``), adds a value to what it computed from it through parameters."""
        skips = [
            node
            for node in _upstream(roots, sources, past_parameters=True)
            if node not in self._counted
            and node not in sources  # an input that is a sum was summed before the module ran
            and type(node).__name__ == "AddBackward0"
            and _adds_back(node, sources)
        ]
        self._counted.update(skips)
        return bool(skips)


def _adds_back(addition: Any, sources: set[Any]) -> bool:
    """One operand of ``addition`` is computed from a value ``x`` without parameters (``x`` itself, a
    reshape or a dropout of it), the other from ``x`` through parameters."""
    operands = [node for node, _ in addition.next_functions if node is not None]
    if len(operands) != 2:
        return False
    for shortcut, branch in (operands, operands[::-1]):
        values = set(_upstream([shortcut], sources, past_parameters=False))
        stack, seen = [(branch, False)], set()
        while stack:  # the branch's upstream, noting whether parameters were read on the way
            node, parametrized = stack.pop()
            if (node, parametrized) in seen:
                continue
            seen.add((node, parametrized))
            if parametrized and node in values:
                return True
            if node not in sources:
                parametrized = parametrized or _reads_parameters(node)
                stack.extend((n, parametrized) for n, _ in node.next_functions if n is not None)
    return False


def _upstream(roots: list[Any], sources: set[Any], *, past_parameters: bool) -> list[Any]:
    """The autograd nodes ``roots`` are computed from, not past ``sources``, nor past a node that reads
    parameters unless ``past_parameters``."""
    found, stack = {}, list(roots)
    while stack:
        node = stack.pop()
        if node in found:
            continue
        found[node] = None
        if node not in sources and (past_parameters or not _reads_parameters(node)):
            stack.extend(n for n, _ in node.next_functions if n is not None)
    return list(found)


def _reads_parameters(node: Any) -> bool:
    return any(isinstance(getattr(n, "variable", None), nn.Parameter) for n, _ in node.next_functions if n)


def _tensors(value: Any) -> Iterable[torch.Tensor]:
    """The tensors in ``value``, a tensor or nested tuples, lists and mappings of them."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _tensors(item)


def _structure_of(module: nn.Module) -> nn.Module:
    """A copy of ``module`` to trace: its weights and buffers shapes alone (on the meta device), its
    hooks left out, its other attributes shared (a Lightning module's trainer is not copied); a compiled
    part, the module it compiled. Tracing runs forward, which may count calls or update a running mean in
    place: the copy takes them. Written into the copy's own ``__dict__``: a wrapper's ``__setattr__``
    (torch.compile's) passes what is set on it on to the module it wraps, the user's."""
    twin = copy.copy(module)
    state = vars(twin)
    for name, value in vars(module).items():
        if name.endswith("hooks") and isinstance(value, dict):
            state[name] = type(value)()
    state["_parameters"] = {
        name: None if p is None else nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
        for name, p in module._parameters.items()
    }
    state["_buffers"] = {
        name: None if b is None else torch.empty_like(b, device="meta") for name, b in module._buffers.items()
    }
    state["_modules"] = {
        name: None if child is None else _structure_of(uncompiled(child))
        for name, child in module._modules.items()
    }
    return twin


def _traced(module: nn.Module) -> _Graph | None:
    """``module``'s graph as fx traces it; None where fx cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _Graph(fx.Tracer().trace(module), module)
    except Exception:  # fx's errors have no common class
        return None


def _traceable(module: nn.Module) -> bool:
    """``module`` is not one of torch's own, which fx does not enter (``nn.TransformerEncoderLayer``,
    whose trace fails on its fast-path checks), and has a forward of its own (``nn.ModuleList`` has none)."""
    return not _LEAVES.is_leaf_module(module, "") and type(module).forward is not nn.Module.forward


def _has_parts(module: nn.Module) -> bool:
    return any(True for _ in module.children())


_LEAVES = fx.Tracer()  # fx's own rule of which modules it does not enter


class _Graph:
    """A traced module's graph, read for additions of ``x`` and ``f(x)``."""

    def __init__(self, graph: fx.Graph, root: nn.Module) -> None:
        self.nodes, self.root = graph.nodes, root  # no GraphModule: its code, never run, is not compiled
        # Sizes and what is computed from sizes alone (``x.size()[:-1] + (256,)``): they shape a value
        # (``x.view(y.size())`` is computed from ``x`` alone), no value flows through them.
        self.shapes: set[fx.Node] = set()
        for node in graph.nodes:  # in order: a node's inputs come before it
            inputs = node.all_input_nodes
            if (
                (node.op == "call_method" and node.target in _SHAPE_METHODS)
                or (
                    node.op == "call_function"
                    and node.target is getattr
                    and node.args[1] in _SHAPE_ATTRIBUTES
                )
                or (node.op == "call_function" and inputs and all(arg in self.shapes for arg in inputs))
            ):
                self.shapes.add(node)

    def is_skip(self, node: fx.Node) -> bool:
        """``node`` adds ``f(x)`` to ``x``: one operand is computed from a value through parameters, the
        other from the same value without (``x`` itself, or ``nn.Identity``, a dropout, a reshape of it)."""
        adds = (node.op == "call_function" and node.target in _ADD_FUNCTIONS) or (
            node.op == "call_method" and node.target in _ADD_METHODS
        )
        operands = [arg for arg in node.args[:2] if isinstance(arg, fx.Node)]
        if not adds or len(operands) != 2:
            return False
        for branch, shortcut in (operands, operands[::-1]):
            ancestors = self._upstream(branch)
            free = self._upstream(shortcut, past_parameters=False)
            if any(self._through_parameters(x, ancestors) for x in free & ancestors):
                return True
        return False

    def _parametrized(self, node: fx.Node) -> bool:
        """``node`` reads parameters: a module that holds them, or a function given one
        (``F.linear(x, self.weight)``)."""
        if node.op == "call_module":
            return any(True for _ in self.root.get_submodule(node.target).parameters())
        return any(self._is_parameter(arg) for arg in (node, *node.all_input_nodes))

    def _is_parameter(self, node: fx.Node) -> bool:
        """``node`` reads a parameter (not a buffer, nor a constant the trace stored)."""
        if node.op != "get_attr":
            return False
        try:
            self.root.get_parameter(node.target)
        except AttributeError:
            return False
        return True

    def _upstream(self, node: fx.Node, *, past_parameters: bool = True) -> set[fx.Node]:
        """``node`` and the nodes whose values flow into it; not past those that read parameters unless
        ``past_parameters``: then the values it is computed from without them."""
        found, stack = set(), [node]
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                if past_parameters or not self._parametrized(current):
                    stack.extend(arg for arg in current.all_input_nodes if arg not in self.shapes)
        return found

    def _through_parameters(self, source: fx.Node, ancestors: set[fx.Node]) -> bool:
        """A path from ``source`` to the node whose ``ancestors`` these are reads parameters after it."""
        seen, stack = set(), list(source.users)
        while stack:  # forward from source, within the ancestors: the nodes on a path between the two
            node = stack.pop()
            if node in seen or node not in ancestors:
                continue
            seen.add(node)
            if self._parametrized(node):
                return True
            stack.extend(node.users)
        return False


def _owner(node: fx.Node, module: nn.Module) -> tuple[str, str]:
    """The innermost module whose forward ``node`` is in: its name under ``module``, and its class name."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", type(module).__name__
    path, kind = list(stack.values())[-1]
    return path, kind.__name__ if isinstance(kind, type) else str(kind).rsplit(".", 1)[-1]
