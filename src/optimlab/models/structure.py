"""A model's structure, recorded with what it trained: a study resumed after its model's code changed
(a layer added, a bias dropped, ReLU swapped for GELU) would otherwise put the results of two models in
one comparison.

The structure is each module's path and class name, and each parameter's and buffer's name, shape and dtype:
what a model's code decides, not its values (which each seed draws) nor torch's printed form of it
(which changes between torch versions). A change inside ``forward`` alone is not seen.

>>> from torch import nn
>>> with_bias = structure(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
>>> with_bias == structure(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
True
>>> with_bias == structure(nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU()))
False
>>> with_bias["parameters"]
15
"""

from __future__ import annotations

import hashlib

from torch import nn

__all__ = ["describe_change", "structure"]


def structure(model: nn.Module) -> dict[str, int | str]:
    """``{"parameters": count, "digest": sha256 of the structure}`` of ``model``, a JSON value."""
    # the class by its name, not its module: a class moved from a notebook's __main__ into a module is
    # the same model
    lines = [f"module {path} {type(module).__qualname__}" for path, module in model.named_modules()]
    tensors = [*model.named_parameters(), *model.named_buffers()]
    lines += [f"tensor {name} {tuple(t.shape)} {t.dtype}" for name, t in tensors]
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return {"parameters": sum(p.numel() for p in model.parameters()), "digest": digest}


def describe_change(now: dict[str, int | str], stored: dict[str, int | str]) -> str:
    """How the structure ``now`` differs from the ``stored`` one, in words (they differ)."""
    if now["parameters"] != stored["parameters"]:
        return f"{now['parameters']:,} parameters, not the {stored['parameters']:,} it was trained with"
    return f"the same {now['parameters']:,} parameters as it was trained with, in other modules or shapes"
