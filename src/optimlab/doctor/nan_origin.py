"""Where a NaN or Inf first appears: the input, the targets, a weight, a module's forward output, the
loss, or a module's backward pass.

Called once, at the first step whose gradient is not finite, from the optimizer's step pre-hook: the
weights are still those that produced the bad gradient. The batch's forward pass is replayed with a
hook on every module; forward hooks fire when a module *finishes*, so the first module to report a
non-finite output is the innermost, earliest one, the origin. Buffers (BatchNorm running statistics)
and the random state are restored afterwards, so the replay leaves no trace on training.

If every output is finite, the NaN was born in the backward pass: gradients flow from the loss towards
the input, so the origin lies just after the *last* layer (in forward order) whose gradient is
non-finite; when that is the output layer itself, the loss (or its gradient) is to blame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = ["NonFiniteOrigin", "locate_non_finite"]

OriginKind = Literal["input", "target", "weights", "forward", "loss", "backward"]


@dataclasses.dataclass(frozen=True)
class NonFiniteOrigin:
    """The first NaN/Inf: at which step, of which kind, in which module, and what was seen."""

    step: int
    kind: OriginKind
    module: str | None
    detail: str
    largest_output: float | None = None  # max |model output| in the replay, when it was finite
    module_type: str | None = None  # class name of ``module``

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _count_bad(x: Tensor) -> int:
    return int((~torch.isfinite(x)).sum()) if x.is_floating_point() else 0


def _where_bad(x: Tensor) -> str:
    """``3 non-finite values in 2 of its 64 rows, the first in feature 5`` (of a batch ``x``)."""
    bad_values = _count_bad(x)
    said = f"{bad_values} non-finite value{'s' if bad_values > 1 else ''}"
    if x.ndim == 0:
        return said
    bad = (~torch.isfinite(x)).reshape(x.shape[0], -1)
    said += f" in {int(bad.any(1).sum())} of its {x.shape[0]} rows"
    return said + (f", the first in feature {int(bad.any(0).nonzero()[0])}" if bad.shape[1] > 1 else "")


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
        bad = [p_name for p_name, p in module.named_parameters(recurse=False) if _count_bad(p.detach())]
        if bad:
            return NonFiniteOrigin(
                step,
                "weights",
                name or "(model)",
                f"parameter {bad[0]!r} of {name or 'the model'} is already non-finite",
                module_type=type(module).__name__,
            )

    largest = None
    if tensors:
        module_name, detail, largest = _replay_forward(model, inputs, named_inputs)
        if module_name is not None:
            module_type = type(model.get_submodule(module_name if module_name != "(model)" else "")).__name__
            return NonFiniteOrigin(step, "forward", module_name, detail, module_type=module_type)

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


def _tensors(value: Any) -> list[Tensor]:
    """The tensors in a module's arguments or output: one, or those in a tuple, list or dict (an LSTM's
    ``(output, (h, c))``, a Hugging Face ModelOutput), however nested."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    return []


def _bad_values(tensors: list[Tensor]) -> str:
    """``12 inf values`` (NaN where any is NaN) in ``tensors``."""
    kinds = "NaN" if any(bool(torch.isnan(t).any()) for t in tensors if t.is_floating_point()) else "inf"
    return f"{sum(_count_bad(t) for t in tensors)} {kinds} values"


def _replay_forward(
    model: nn.Module, inputs: Sequence[Any], named_inputs: Mapping[str, Any]
) -> tuple[str | None, str, float | None]:
    """Run the forward pass again: the first module to finish with a non-finite output from finite
    inputs, or the module whose own forward code (a torch function between its submodules) handed one
    of them non-finite inputs, and why; or (None, "", the largest |output| of the model) when every
    output is finite."""
    found: list[tuple[str, str]] = []
    running: list[str] = []  # the modules whose forward is under way, outermost first

    def enter(name: str) -> Any:
        def hook(module: nn.Module, args: Any, kwargs: Any) -> None:
            bad = [t for t in _tensors([args, kwargs]) if _count_bad(t)]
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
            bad = [t for t in _tensors(output) if _count_bad(t)]
            if found or not bad:
                return
            largest = max(
                (
                    a.detach().abs().max().item()
                    for a in _tensors(args)
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
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            output = model(*inputs, **named_inputs)
    finally:
        for handle in handles:
            handle.remove()
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
    if found:
        return found[0][0], found[0][1], None
    largest = output.abs().max().item() if isinstance(output, Tensor) and output.numel() else None
    return None, "", largest
