"""Which modules add their input back to what they computed from it: residual connections (He et al.,
Deep Residual Learning for Image Recognition, CVPR 2016, https://arxiv.org/abs/1512.03385).

Read off the traced graph (:class:`torch.fx.Tracer`): an addition ``x + f(x)`` (or a subtraction,
``x - f(x)``) whose ``f`` holds parameters, whatever the module is called (a ``ConvBlock`` of Conv,
BatchNorm and ReLU alone has none); an addition ``g(x) + f(x)`` of a projection ``g`` (a ResNet's
downsampling shortcut) only in a model that has blocks of the first kind too, as a ResNet's stages do
past their first block (alone, ``g(x) + f(x)`` is any sum of two branches: Wide & Deep, Inception's).
What fx cannot trace (control flow on values, as in Hugging Face's layers) and torch's own modules, which
it does not enter, are read off the autograd graph of one forward as it runs (:class:`ForwardSkips`):
the same additions, where the module's input reaches one operand without parameters, or through a
projection where the model has a shortcut without parameters too, and the other through more of them.
Both readings put one test (:func:`_shortcut_depth`) to their graph's nodes; neither goes by
the class name: Swin's ``SwinLayer`` is found as GPT-2's ``Block``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import operator
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import fx, nn

from optimlab.compiled import uncompiled
from optimlab.errors import InvalidValueError
from optimlab.nested_tensors import map_tensors, tensors_in

__all__ = ["ForwardSkips", "SkipReading", "read_skips", "residual_blocks"]

Node = TypeVar("Node")  # a node of fx's graph or of autograd's

# Sums of two tensors, a difference among them: a residual written as a subtraction, ``x - f(x)`` (or
# ``f(x) - x``), adds ``x`` to ``-f(x)``, a skip too.
_SUM_FUNCTIONS = (
    operator.add,
    operator.iadd,
    torch.add,
    operator.sub,
    operator.isub,
    torch.sub,
    torch.subtract,
)
_SUM_METHODS = ("add", "add_", "sub", "sub_", "subtract", "subtract_")
_SUM_NODES = ("AddBackward0", "SubBackward0")  # autograd's, of a sum or difference of two tensors
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
    model, graph = _module(model, "read_skips"), None
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
    depths = {node: depth for node in graph.nodes if (depth := graph.shortcut_depth(node)) is not None}
    identities = 0 in depths.values()
    return SkipReading(
        dict(_owner(node, twin) for node, depth in depths.items() if identities or depth == 0), {}
    )


def residual_blocks(model: nn.Module, *inputs: Any, **named_inputs: Any) -> dict[str, str]:
    """``{module name: class name}`` of the modules whose forward adds ``x`` to ``f(x)``, ``f`` holding
    parameters (``""`` names ``model`` itself; under torch.compile's wrapper, the module it compiled).
    What fx cannot read whole is read off a forward and backward of a copy of ``model`` on ``inputs``
    (in training mode, gradients on, its frozen parameters and floating-point inputs too, so that a skip
    around its first layer is followed). Given no inputs, such a model is left unread: ``{}``, with a
    warning (its traceable parts are not read one by one: :func:`read_skips`)."""
    model = _module(model, "residual_blocks")
    reading = read_skips(model)
    if not reading.watched:
        return reading.found
    if not (inputs or named_inputs):
        warnings.warn(
            f"residual_blocks: fx cannot read {type(model).__name__} whole; its residual blocks are read "
            "off a forward: pass its inputs, residual_blocks(model, *inputs, **named_inputs)",
            stacklevel=2,
        )
        return reading.found
    twin = copy.deepcopy(model).train()
    for parameter in twin.parameters():
        parameter.requires_grad_(parameter.is_floating_point() or parameter.is_complex())
    watch = ForwardSkips(reading.found)
    handles = [
        twin.get_submodule(name).register_forward_hook(watch.hook(name), with_kwargs=True)
        for name in reading.watched
    ]
    try:
        with torch.enable_grad():
            outputs = [
                t for t in tensors_in(twin(*_followed(inputs), **_followed(named_inputs))) if t.requires_grad
            ]
            # a backward: the blocks under reentrant checkpointing, run without graph, are run again there
            torch.autograd.backward(outputs, [torch.ones_like(t) for t in outputs])
    finally:
        for handle in handles:
            handle.remove()
    return watch.found


def _module(model: Any, function: str) -> nn.Module:
    """``model``, or the module torch.compile wrapped in it; anything else refused in one line."""
    if not isinstance(model, nn.Module):
        raise InvalidValueError(
            f"{function}'s model", model, "an nn.Module (or torch.compile's wrapper of one)"
        )
    return uncompiled(model)


def _followed(value: Any) -> Any:
    """``value`` with each floating-point tensor in it (in its tuples, named tuples, lists and mappings: a
    Hugging Face BatchEncoding or ModelOutput too, each of its own type) a copy that requires grad,
    computed from a leaf (the model may write into its input in place)."""
    return map_tensors(value, _followed_tensor)


def _followed_tensor(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().requires_grad_().clone() if tensor.is_floating_point() else tensor


class ForwardSkips:
    """Forward hooks that read a module's residual connections off the autograd graph of its output,
    walked back to the module's inputs: an addition one of whose operands is computed from a value
    without parameters, the other from the same value through parameters. Hooks run innermost first,
    and an addition counts for the innermost module it is in (BERT's ``BertAttention`` for its
    ``x + attention(x)``, its ``BertLayer`` for the feed-forward's, which the layer's forward adds).

    An input is followed from what computed it, or, a leaf that requires grad (a block's input under
    ``torch.utils.checkpoint(..., use_reentrant=True)``), from itself. One that carries no graph (the
    data, or what frozen layers computed from it) cannot be: where a module reads only such inputs, an
    addition of a value without graph to one computed through parameters, as a skip around the model's
    first layer is, is noted ``unread``."""

    def __init__(self, found: dict[str, str], unread: dict[str, str] | None = None) -> None:
        self.found = found  # name -> class name, added to
        self.unread = {} if unread is None else unread  # name -> class name, added to
        self._counted: set[Any] = set()  # additions counted for an inner module
        # blocks with a projection shortcut, counted once a block with an identity one is found
        self._projected: dict[str, str] = {}
        self._identities = bool(found)

    def hook(self, name: str) -> Callable[[nn.Module, tuple, dict, Any], None]:
        def read(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            sources = {node for t in tensors_in([args, kwargs]) if (node := _node_of(t)) is not None}
            roots = [t.grad_fn for t in tensors_in(output) if t.grad_fn is not None]
            # with no source (inputs that carry no graph), all the output's graph was computed here
            depth, unread = self._count_additions(roots, sources)
            if depth == 0:
                self._identities = True
                self.found.update(self._projected)
                self._projected.clear()
            if depth is not None:
                (self.found if self._identities else self._projected)[name] = type(module).__name__
            elif unread:
                self.unread[name] = type(module).__name__

        return read

    def _count_additions(self, roots: list[Any], sources: set[Any]) -> tuple[int | None, bool]:
        """Of the additions not yet counted, upstream of ``roots`` (not past the module's inputs,
        ``sources``), that add a value to what it computed from it through parameters, the fewest
        parametrized steps a shortcut takes (:func:`_shortcut_depth`; None where none is); and, where no input
        carries a graph, whether one adds a value that carries none to one computed through parameters."""
        additions = [
            node
            for node in _upstream(roots, sources)
            if node not in self._counted
            and node not in sources  # an input that is a sum was summed before the module ran
            and type(node).__name__ in _SUM_NODES
        ]

        # The walks of each addition meet the same nodes again: each read once a call, and kept no longer
        # (a node keeps the tensors its backward saved alive). A Swin's watched forward 0.79x, a GPT-2's
        # 0.92x, a BERT's unchanged (paired rounds: benchmarks/skip_reading.py --watch).
        @functools.cache
        def inputs(node: Any) -> list[Any]:  # not past the module's inputs
            return [] if node in sources else _inputs_of(node)

        @functools.cache
        def reads_parameters(node: Any) -> bool:
            return node not in sources and _reads_parameters(node)

        depths = {
            node: depth
            for node in additions
            if (depth := _shortcut_depth(_inputs_of(node), inputs, reads_parameters, _partial)) is not None
        }
        # where the module's inputs carry no graph: the value added may be one of them
        unread = [] if sources else [node for node in additions if _adds_to_no_graph(node, sources)]
        self._counted.update([*depths, *unread])
        return min(depths.values(), default=None), bool(unread)


def _node_of(tensor: torch.Tensor) -> Any:
    """The autograd node ``tensor``'s gradient flows into: what computed it, or, a leaf that requires
    grad, its own; None where it carries no graph."""
    if tensor.grad_fn is not None:
        return tensor.grad_fn
    return torch.autograd.graph.get_gradient_edge(tensor).node if tensor.requires_grad else None


def _adds_to_no_graph(addition: Any, sources: set[Any]) -> bool:
    """One operand of ``addition`` carries no graph (a value ``x`` the watch cannot follow), the other
    is computed through parameters: ``x + f(x)`` on the data looks so."""
    operands = [node for node, _ in addition.next_functions]
    if len(operands) != 2 or sum(node is None for node in operands) != 1:
        return False
    other = next(node for node in operands if node is not None)
    return any(_reads_parameters(node) for node in _upstream([other], sources))


# The parametrized steps a projection shortcut takes: a 1x1 conv and its norm (He et al.'s option B,
# torchvision's and Hugging Face's downsample), fewer than its block's branch takes.
_PROJECTION_STEPS = 2


def _shortcut_depth(
    operands: list[Node],
    inputs: Callable[[Node], list[Node]],
    reads_parameters: Callable[[Node], bool],
    partial: Callable[[Node], bool],
) -> int | None:
    """The parametrized steps of an addition's shortcut, the fewest; None where it adds no shortcut.
    Of its two ``operands``, one (the shortcut) is computed from a value ``x`` through fewer
    parametrized steps than the other (the branch) is: none (``x`` itself, a reshape or a dropout of it:
    ``x + f(x)``), or up to ``_PROJECTION_STEPS`` reading ``x`` whole (a projection, ``g(x) + f(x)``; a
    recurrence's ``W x_t + U h_(t-1)`` selects a step of its input). The one test of either graph, fx's
    or autograd's: ``inputs(node)`` are the nodes ``node`` is computed from, ``reads_parameters(node)``
    whether it reads parameters, ``partial(node)`` whether it is no value a projection reads whole: a part
    of its input (an index, a slice), or a parameter (a recurrence reuses its weights)."""
    if len(operands) != 2:
        return None
    depths = []
    for shortcut, branch in (operands, operands[::-1]):
        steps = _shortcut_steps(shortcut, inputs, reads_parameters, partial)
        deepest: dict[Node, int] = {}
        stack = [(branch, 0)]
        while stack:  # the branch's upstream, with the most parametrized steps taken to each node
            node, taken = stack.pop()
            if deepest.get(node, -1) >= taken:
                continue
            deepest[node] = taken
            if node in steps:  # a value both are computed from: what lies past it, both share
                if taken > steps[node]:
                    depths.append(steps[node])
                continue
            taken = min(taken + reads_parameters(node), _PROJECTION_STEPS + 1)
            stack.extend((n, taken) for n in inputs(node))
    return min(depths, default=None)


def _shortcut_steps(
    root: Node,
    inputs: Callable[[Node], list[Node]],
    reads_parameters: Callable[[Node], bool],
    partial: Callable[[Node], bool],
) -> dict[Node, int]:
    """The nodes ``root`` is computed from within ``_PROJECTION_STEPS`` parametrized steps, each with the
    fewest it takes (a node that reads parameters is reached before its step); past a parametrized step,
    not through a ``partial`` node."""
    fewest: dict[Node, int] = {}
    stack = [(root, 0)]
    while stack:
        node, taken = stack.pop()
        if fewest.get(node, _PROJECTION_STEPS + 1) <= taken or (taken and partial(node)):
            continue
        fewest[node] = taken
        taken += reads_parameters(node)
        if taken <= _PROJECTION_STEPS:
            stack.extend((n, taken) for n in inputs(node))
    return fewest


def _upstream(roots: list[Any], sources: set[Any]) -> list[Any]:
    """The autograd nodes ``roots`` are computed from, not past ``sources``."""
    found, stack = {}, list(roots)
    while stack:
        node = stack.pop()
        if node in found:
            continue
        found[node] = None
        if node not in sources:
            stack.extend(_inputs_of(node))
    return list(found)


def _inputs_of(node: Any) -> list[Any]:
    """The autograd nodes ``node``'s gradient flows into: those of the values it was computed from."""
    return [n for n, _ in node.next_functions if n is not None]


def _partial(node: Any) -> bool:
    """The autograd node takes part of its input (an index, a slice, one of a split's pieces), or is a
    parameter's."""
    return type(node).__name__.startswith(_SELECTIONS) or isinstance(
        getattr(node, "variable", None), nn.Parameter
    )


_SELECTIONS = ("Select", "Slice", "Index", "Unbind", "Split", "Narrow", "Gather", "Chunk", "Take")
_FX_SELECTIONS = (
    "select",
    "narrow",
    "unbind",
    "split",
    "chunk",
    "index_select",
    "gather",
    "take",
    "tensor_split",
)


def _reads_parameters(node: Any) -> bool:
    """The autograd node reads a parameter, or a value computed from one alone: a bias-free Linear's
    product reads its weight through the weight's transpose (``TBackward0``)."""
    return any(_parameter_alone(n) for n, _ in node.next_functions if n is not None)


def _parameter_alone(node: Any) -> bool:
    """The autograd node is a parameter's, or computed from one parameter alone (a transpose, a view)."""
    while not hasattr(node, "variable"):
        inputs = _inputs_of(node)
        if len(inputs) != 1:
            return False
        node = inputs[0]
    return isinstance(node.variable, nn.Parameter)


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

    def shortcut_depth(self, node: fx.Node) -> int | None:
        """``node`` adds ``f(x)`` to ``x``: one operand is computed from a value through parameters, the
        other from the same value without (``x`` itself, or ``nn.Identity``, a dropout, a reshape of it:
        0), or through fewer (a projection: its parametrized steps); None where it adds no shortcut."""
        adds = (node.op == "call_function" and node.target in _SUM_FUNCTIONS) or (
            node.op == "call_method" and node.target in _SUM_METHODS
        )
        operands = [arg for arg in node.args[:2] if isinstance(arg, fx.Node)]
        if not adds:
            return None
        return _shortcut_depth(operands, self._inputs, self._parametrized, self._partial)

    def _partial(self, node: fx.Node) -> bool:
        """``node`` takes part of its input (``x[:, t]``, ``x.unbind(1)``), or is a parameter."""
        if node.op == "call_function":
            return node.target is operator.getitem or getattr(node.target, "__name__", "") in _FX_SELECTIONS
        return (node.op == "call_method" and node.target in _FX_SELECTIONS) or self._is_parameter(node)

    def _inputs(self, node: fx.Node) -> list[fx.Node]:
        """The nodes whose values flow into ``node``: not the sizes that shape it."""
        return [arg for arg in node.all_input_nodes if arg not in self.shapes]

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


def _owner(node: fx.Node, module: nn.Module) -> tuple[str, str]:
    """The innermost module whose forward ``node`` is in: its name under ``module``, and its class name."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", type(module).__name__
    path, kind = list(stack.values())[-1]
    return path, kind.__name__ if isinstance(kind, type) else str(kind).rsplit(".", 1)[-1]
