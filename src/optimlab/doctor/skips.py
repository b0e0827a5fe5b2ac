"""Which modules add their input back to what they computed from it: residual connections (He et al.,
Deep Residual Learning for Image Recognition, CVPR 2016, https://arxiv.org/abs/1512.03385).

Read off the traced graph (:class:`torch.fx.Tracer`): an addition ``x + f(x)`` whose ``f`` holds
parameters, whatever the module is called (a ``ConvBlock`` of Conv, BatchNorm and ReLU alone has none).
Inside what fx cannot trace (control flow on values, as in Hugging Face's layers) and in torch's own
modules, which it does not enter, the class name decides (:data:`RESIDUAL_NAMES`).
"""

from __future__ import annotations

import copy
import operator
import re
import warnings

import torch
from torch import fx, nn

__all__ = ["RESIDUAL_NAMES", "residual_blocks"]

# Class names of blocks that add their input to their output, by convention: torchvision's and timm's
# BasicBlock and Bottleneck, GPT-2's and ViT's Block, Hugging Face's BertLayer, LlamaDecoderLayer and the
# transformer layers of its encoders named after their model (ViT, DeiT, BEiT, ELECTRA, ALBERT,
# DeBERTa-v2, GPT-NeoX: each checked on a small config), T5's sublayers inside its T5Block (each adds its
# input back), torch's TransformerEncoderLayer, a ResidualBlock or ResBlock (not a Reshape, nor a plain
# ConvLayer: not every *Layer, as wav2vec2's convolutions are).
RESIDUAL_NAMES = re.compile(
    r"Resid|ResBlock|ResNet|Bottleneck|Block|Skip"
    r"|(Bert|Roberta|ViT|DeiT|Beit|Electra|Albert|DebertaV2|GPTNeoX|Encoder|Decoder)Layer$"
    r"|T5Layer(FF|SelfAttention|CrossAttention)$"
)
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_ADD_METHODS = ("add", "add_")
_SHAPE_METHODS = ("size", "dim", "numel")
_SHAPE_ATTRIBUTES = ("shape", "ndim", "dtype", "device")


def residual_blocks(model: nn.Module) -> dict[str, str]:
    """``{module name: class name}`` of the modules whose forward adds ``x`` to ``f(x)``, ``f`` holding
    parameters (``""`` names ``model`` itself)."""
    found: dict[str, str] = {}
    try:
        twin = _structure_of(model)
    except Exception:  # a module that cannot be copied: by the names alone
        return {
            name: type(m).__name__
            for name, m in model.named_modules()
            if RESIDUAL_NAMES.search(type(m).__name__)
        }
    _search(twin, "", found)
    return found


def _structure_of(module: nn.Module) -> nn.Module:
    """A copy of ``module`` to trace: its weights and buffers shapes alone (on the meta device), its
    hooks left out, its other attributes shared (a Lightning module's trainer is not copied). Tracing
    runs forward, which may count calls or update a running mean in place: the copy takes them."""
    twin = copy.copy(module)
    for name, value in vars(module).items():
        if name.endswith("hooks") and isinstance(value, dict):
            setattr(twin, name, type(value)())
    twin._parameters = {
        name: None if p is None else nn.Parameter(torch.empty_like(p, device="meta"), p.requires_grad)
        for name, p in module._parameters.items()
    }
    twin._buffers = {
        name: None if b is None else torch.empty_like(b, device="meta") for name, b in module._buffers.items()
    }
    twin._modules = {
        name: None if child is None else _structure_of(child) for name, child in module._modules.items()
    }
    return twin


def _search(module: nn.Module, name: str, found: dict[str, str]) -> None:
    graph = None if _read_by_name(module) else _traced(module)
    if graph is None:  # read by its name and its parts'
        if RESIDUAL_NAMES.search(type(module).__name__):
            found[name] = type(module).__name__
        for child, submodule in module.named_children():
            _search(submodule, _joined(name, child), found)
        return
    for node in graph.nodes:
        if node.op == "call_module":  # torch's own modules, not entered: by their names
            for inner, submodule in module.get_submodule(node.target).named_modules():
                if RESIDUAL_NAMES.search(type(submodule).__name__):
                    found[_joined(name, _joined(node.target, inner))] = type(submodule).__name__
        elif graph.is_skip(node):
            owner, kind = _owner(node, module)
            found[_joined(name, owner)] = kind


def _traced(module: nn.Module) -> _Graph | None:
    """``module``'s graph as fx traces it; None where fx cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _Graph(fx.Tracer().trace(module), module)
    except Exception:  # fx's errors have no common class
        return None


def _read_by_name(module: nn.Module) -> bool:
    """``module`` is one of torch's own, which fx does not enter inside a parent (``nn.Linear``,
    ``nn.TransformerEncoderLayer``: their forward adds no skip but in the layers :data:`RESIDUAL_NAMES`
    names, whose traces fail on their fast-path checks), or has no forward (``nn.ModuleList``): read by
    its name and its parts', untraced. Each trace spared is ~10 ms: 48 of the 125 traces of a 12-layer
    BERT, whose search took 1.06 s, 0.45 s now (benchmarks/residual_blocks.py, docs/benchmarks.md)."""
    return _LEAVES.is_leaf_module(module, "") or type(module).forward is nn.Module.forward


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


def _joined(name: str, child: str) -> str:
    return f"{name}.{child}" if name and child else name or child
