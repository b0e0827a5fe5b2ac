"""Where a NaN or Inf first appears: the input, the targets, a weight, a module's forward output, the
loss, or a module's backward pass.

Called once, at the first step whose gradient is not finite, from the optimizer's step pre-hook: the
weights are still those that produced the bad gradient. The batch's forward pass is replayed with a
hook on every module; forward hooks fire when a module *finishes*, so the first module to report a
non-finite output is the innermost, earliest one, the origin. Buffers (BatchNorm running statistics)
and the random state are restored afterwards, so the replay leaves no trace on training.

Inside the module found, the replay also watches every torch function (a ``TorchFunctionMode``): the
first whose output is non-finite though no input is (a tensor or a number: ``masked_fill(mask, -inf)``
makes its -inf on purpose) is the operation, and its inputs say why (:func:`_cause`).

If every output is finite, the NaN was born in the backward pass: gradients flow from the loss towards
the input, so the origin lies just after the *last* layer (in forward order) whose gradient is
non-finite; when that is the output layer itself, the loss (or its gradient) is to blame.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from optimlab.nested_tensors import map_tensors, tensors_in
from optimlab.number_text import count_of

__all__ = ["NonFiniteOrigin", "batch_fault", "finite_filled", "locate_non_finite"]

OriginKind = Literal["input", "target", "weights", "forward", "loss", "backward"]
# Why an operation's finite inputs gave NaN/Inf: outside its domain, a divisor of 0, or too large a result.
Cause = Literal["domain", "division", "overflow"]

# Functions defined on part of the real line only (as torch names them, in-place and dunder forms
# reduced to these): a NaN or an infinity from finite inputs there means an input left the domain.
_PARTIAL = frozenset(
    {"log", "log2", "log10", "log1p", "sqrt", "rsqrt", "pow", "rpow", "acos", "asin", "arccos", "arcsin",
     "acosh", "arccosh", "atanh", "arctanh", "lgamma", "digamma", "erfinv", "logit", "xlogy"}
)  # fmt: skip
# Divisions, by the position of their divisor among the arguments.
_DIVISIONS = {
    "div": 1, "truediv": 1, "true_divide": 1, "divide": 1, "floor_divide": 1, "floordiv": 1,
    "itruediv": 1, "idiv": 1, "fmod": 1, "remainder": 1, "mod": 1,
    "rdiv": 0, "rtruediv": 0, "rfloordiv": 0, "reciprocal": 0,
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class NonFiniteOrigin:
    """The first NaN/Inf: at which step, of which kind, in which module, and what was seen."""

    step: int
    kind: OriginKind
    module: str | None
    detail: str
    largest_output: float | None = None  # max |model output| in the replay, when it was finite
    module_type: str | None = None  # class name of ``module``
    op: str | None = None  # the torch function that made the first non-finite forward output
    # why that function's finite inputs gave it; for a weight, "overflow" where it holds an Inf
    cause: Cause | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _count_bad(x: Tensor) -> int:
    return int((~torch.isfinite(x)).sum()) if x.is_floating_point() else 0


def _where_bad(x: Tensor) -> str:
    """``3 non-finite values in 2 of its 64 rows, the first in feature 5`` (of a batch ``x``); where a row
    has more dimensions than one (a sequence's steps and features, an image's), the first's position in a
    row as an index of the batch (``the first at [:, 7, 2]``), not its place in the row flattened."""
    bad_values = _count_bad(x)
    said = count_of(bad_values, "non-finite value")
    if x.ndim == 0:
        return said
    bad = (~torch.isfinite(x)).reshape(x.shape[0], -1)
    said += f" in {int(bad.any(1).sum())} of its {count_of(x.shape[0], 'row')}"
    if bad.shape[1] == 1:
        return said
    first = int(bad.any(0).nonzero()[0])
    if x.ndim == 2:
        return said + f", the first in feature {first}"
    at = ", ".join(str(int(i)) for i in torch.unravel_index(torch.tensor(first), x.shape[1:]))
    return said + f", the first at [:, {at}]"


def batch_fault(batch: Any, holder: str = "the batch holds") -> str | None:
    """Where a batch (a tensor, or a tuple, list or dict of them) holds non-finite values, in words
    (``the batch holds 1 non-finite value in 1 of its 64 rows, the first in feature 3``, ``holder``
    naming it); else None."""
    bad = next((x for x in tensors_in(batch) if _count_bad(x)), None)
    return None if bad is None else f"{holder} {_where_bad(bad)}"


def finite_filled(batch: Any) -> Any:
    """``batch`` (a tensor, or a tuple, list or mapping of them, however nested) with each non-finite
    value of its floating tensors set to 0: what its loss is without them tells whether they made it."""
    return map_tensors(batch, _finite_filled_tensor)


def _finite_filled_tensor(tensor: Tensor) -> Tensor:
    return torch.nan_to_num(tensor, nan=0.0, posinf=0.0, neginf=0.0) if tensor.is_floating_point() else tensor


def locate_non_finite(
    model: nn.Module,
    inputs: Sequence[Any],
    named_inputs: Mapping[str, Any] | None = None,
    *,
    target: Any = None,
    step: int,
    gradients: Mapping[str, bool],
    forward_order: Sequence[str],
) -> NonFiniteOrigin:
    """Find the origin of a non-finite gradient.

    Args:
        model: the model, with the weights that produced the bad gradient.
        inputs: the positional arguments of the forward pass that produced it (the batch).
        named_inputs: its keyword arguments (a model called as ``model(**batch)``).
        target: the batch's targets, where the loss was given apart from the model.
        step: the 1-based step, for the record.
        gradients: for each layer (module owning parameters), whether all of its gradients are finite.
        forward_order: layer names in the order they run.
    """
    named_inputs = dict(named_inputs or {})
    tensors = [x for x in (*inputs, *named_inputs.values()) if isinstance(x, Tensor)]
    for x in tensors:
        bad = _count_bad(x)
        if bad:
            return NonFiniteOrigin(step, "input", None, f"the batch holds {_where_bad(x)}")
    if isinstance(target, Tensor) and _count_bad(target):
        return NonFiniteOrigin(step, "target", None, f"the batch's targets hold {_where_bad(target)}")

    for name, module in model.named_modules():
        bad = [(p_name, p.detach()) for p_name, p in module.named_parameters(recurse=False) if _count_bad(p)]
        if bad:
            # An update that overflowed leaves an Inf; a NaN with none came of an invalid operation on
            # finite numbers (0/0: Adam's zero moments over an eps of 0), which no lower lr prevents.
            infinite = int(bad[0][1].isinf().sum())
            return NonFiniteOrigin(
                step,
                "weights",
                name or "(model)",
                f"parameter {bad[0][0]!r} of {name or 'the model'} is already non-finite: it holds "
                f"{_where_bad(bad[0][1])}, {infinite} of them Inf",
                module_type=type(module).__name__,
                cause="overflow" if infinite else None,
            )

    largest = None
    if tensors:
        module_name, detail, largest, made = _replay_forward(model, inputs, named_inputs)
        if module_name is not None:
            module_type = type(model.get_submodule(module_name if module_name != "(model)" else "")).__name__
            op, cause, why = made if made is not None else (None, None, "")
            return NonFiniteOrigin(
                step, "forward", module_name, detail + why, module_type=module_type, op=op, cause=cause
            )

    ordered = [name for name in forward_order if name in gradients]
    bad_layers = [name for name in ordered if not gradients[name]]
    if not bad_layers or bad_layers[-1] == ordered[-1]:
        size = f" (the largest |output| is {largest:.3g})" if largest is not None else ""
        return NonFiniteOrigin(
            step,
            "loss",
            None,
            f"every layer's output is finite{size} but the loss or its gradient is not",
            largest_output=largest,
        )
    last_bad = bad_layers[-1]
    next_good = ordered[ordered.index(last_bad) + 1]
    return NonFiniteOrigin(
        step,
        "backward",
        last_bad,  # module_type: the instruments know the layers
        f"the forward pass is finite; gradients are finite from {next_good} on and "
        f"non-finite from {last_bad} back: the backward pass of what runs between them "
        "produced it (a sqrt, division or log at 0?)",
        largest_output=largest,
    )


def _bad_values(tensors: list[Tensor]) -> str:
    """``12 inf values`` (NaN where any is NaN) in ``tensors``."""
    kinds = "NaN" if any(bool(torch.isnan(t).any()) for t in tensors if t.is_floating_point()) else "inf"
    return f"{sum(_count_bad(t) for t in tensors)} {kinds} values"


def _numbers(value: Any) -> list[float]:
    """The plain numbers in a function's arguments (a fill value, an exponent), however nested."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [n for item in value for n in _numbers(item)]
    return []


def _op_name(func: Any) -> str:
    """torch's name of ``func`` without its dunder or in-place underscores: ``__rdiv__`` is ``rdiv``."""
    return getattr(func, "__name__", str(func)).strip("_")


def _lowest(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[float, float] | None:
    """The least value and the least |value| over the floating-point tensors among the arguments."""
    tensors = [t for t in tensors_in([args, dict(kwargs)]) if t.is_floating_point() and t.numel()]
    if not tensors:
        return None
    return min(t.min().item() for t in tensors), min(t.abs().min().item() for t in tensors)


def _cause(
    name: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    bad: list[Tensor],
    lowest: tuple[float, float] | None,
) -> tuple[Cause, str]:
    """Why ``name`` gave the non-finite outputs ``bad`` from finite arguments, and the values that show
    it; ``lowest``: :func:`_lowest` of the arguments, read before the call."""
    if name in _DIVISIONS:
        position = _DIVISIONS[name]
        divisor = args[position] if len(args) > position else kwargs.get("other")
        values = torch.as_tensor(divisor).detach() if divisor is not None else None
        if values is not None and bool((values == 0).any()):
            zeros = int((values == 0).sum())
            return "division", f"{zeros} of its divisors {'is' if zeros == 1 else 'are'} 0"
        if values is not None:
            return "division", f"its smallest |divisor| is {values.abs().min().item():.3g}"
    if name in _PARTIAL and lowest is not None:
        low, nearest_zero = lowest
        # a NaN is a value outside the domain (sqrt(-1)); an infinity from an input of 0 is its pole (log 0)
        if any(bool(torch.isnan(t).any()) for t in bad) or nearest_zero == 0:
            return "domain", f"an input outside its domain: the least is {low:.3g}"
    largest = max(
        (
            t.abs().max().item()
            for t in tensors_in([args, dict(kwargs)])
            if t.is_floating_point() and t.numel()
        ),
        default=math.nan,
    )
    return "overflow", f"a result too large for {bad[0].dtype}: its largest |input| is {largest:.3g}"


class _FirstNonFiniteOp(TorchFunctionMode):
    """Watches every torch function for the first, per module running (``running``, the innermost last),
    whose output is non-finite while every input, tensor or number, is finite."""

    def __init__(self, running: list[str]) -> None:
        super().__init__()
        self.running, self.found = running, dict[str, tuple[str, Cause, str]]()

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        module = self.running[-1] if self.running else "(model)"
        # read before the call: an in-place function (log_) overwrites its input with its output
        finite = module not in self.found and (
            not any(_count_bad(t) for t in tensors_in([args, kwargs]))
            and all(math.isfinite(n) for n in _numbers([args, kwargs]))
        )
        low = _lowest(args, kwargs) if finite else None
        out = func(*args, **kwargs)
        bad = [t for t in tensors_in(out) if _count_bad(t)] if finite else []
        if bad:
            name = _op_name(func)
            cause, why = _cause(name, args, kwargs, bad, low)
            self.found[module] = (name, cause, f": {name} gave them, {why}")
        return out


def _replay_forward(
    model: nn.Module, inputs: Sequence[Any], named_inputs: Mapping[str, Any]
) -> tuple[str | None, str, float | None, tuple[str, Cause, str] | None]:
    """Run the forward pass again: the first module to finish with a non-finite output from finite
    inputs, or the module whose own forward code (a torch function between its submodules) handed one
    of them non-finite inputs, and why; or (None, "", the largest |output| of the model, None) when every
    output is finite. Last, the operation in that module that made them: (its name, the cause, the
    words that show it), or None where no torch function did (:class:`_FirstNonFiniteOp`)."""
    found: list[tuple[str, str]] = []
    running: list[str] = []  # the modules whose forward is under way, outermost first

    def enter(name: str) -> Any:
        def hook(module: nn.Module, args: Any, kwargs: Any) -> None:
            bad = [t for t in tensors_in([args, kwargs]) if _count_bad(t)]
            if bad and not found:
                caller = running[-1] if running else name
                kind = type(model.get_submodule("" if caller == "(model)" else caller)).__name__
                found.append(
                    (
                        caller,
                        f"{name} ({type(module).__name__}) receives {_bad_values(bad)} made by the forward "
                        f"code of {caller} ({kind}) itself, outside its submodules, whose outputs were finite",
                    )
                )
            running.append(name)

        return hook

    def leave(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            running.pop()
            bad = [t for t in tensors_in(output) if _count_bad(t)]
            if found or not bad:
                return
            largest = max(
                (
                    a.detach().abs().max().item()
                    for a in tensors_in(args)
                    if a.is_floating_point() and a.numel()
                ),
                default=float("nan"),
            )
            found.append(
                (
                    name,
                    (
                        f"{name} ({type(module).__name__}) outputs {_bad_values(bad)} from finite inputs "
                        f"(largest |input| {largest:.3g})"
                    ),
                )
            )

        return hook

    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    handles = [
        handle
        for name, module in model.named_modules()
        for handle in (
            module.register_forward_pre_hook(enter(name or "(model)"), with_kwargs=True),
            module.register_forward_hook(leave(name or "(model)")),
        )
    ]
    tensors = [x for x in (*inputs, *named_inputs.values()) if isinstance(x, Tensor)]
    devices = sorted({x.device.index for x in tensors if x.device.type == "cuda"})
    watch = _FirstNonFiniteOp(running)
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices), watch:
            output = model(*inputs, **named_inputs)
    finally:
        for handle in handles:
            handle.remove()
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
    if found:
        return found[0][0], found[0][1], None, watch.found.get(found[0][0])
    largest = output.abs().max().item() if isinstance(output, Tensor) and output.numel() else None
    return None, "", largest, None
