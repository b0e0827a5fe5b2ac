"""The user's own architecture by import path: ``model: {name: "mypkg.nets:build", options: {...}}``.

A model factory gets the recipe's model options as keywords (its keywords with defaults are the entry's
hyperparameters, checked like a built-in's), and the data's ``input_shape`` and ``num_outputs`` too
when its signature names them; it returns an ``nn.Module`` (:mod:`optimlab.user_modules`; the user's
loss is adapted the same way in :mod:`optimlab.techniques.losses`). An ``nn.Module`` class is its own
factory. It is registered on first lookup (:mod:`optimlab.user_code`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.data.user_batches import describe
from optimlab.errors import InvalidValueError, a_type
from optimlab.number_text import count_of, named_and_more
from optimlab.user_modules import module_factory

__all__ = [
    "DATA_KEYWORDS",
    "InputsAs",
    "adapt_model",
    "check_model",
    "embeds_ids",
    "parameter_dtype",
]

DATA_KEYWORDS = ("input_shape", "num_outputs")  # what a model factory may ask of the data, by name


def _fresh_trainable(path: str) -> Callable[[nn.Module], None]:
    """The check of each model the factory at ``path`` returns: it has parameters to train, none of them
    in a model it returned before and still alive (a model returned again, or a layer built outside the
    function, would carry the weights an earlier run trained into the next; a frozen layer may be
    shared: nothing trains it)."""
    returned: weakref.WeakValueDictionary[int, nn.Parameter] = weakref.WeakValueDictionary()  # by id

    def check(built: nn.Module) -> None:
        _check_trainable(path, built)
        trained = [p for p in built.parameters() if p.requires_grad]
        shared = [n for n, p in built.named_parameters() if p.requires_grad and returned.get(id(p)) is p]
        if shared:
            raise InvalidValueError(
                f"what model {path!r} returned",
                f"a model sharing trainable weights ({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''})"
                " with one it returned before",
                "a new model each call, its layers built inside the function: each run trains its own "
                "from its seed, where shared weights start where the run before left them",
            )
        returned.update((id(p), p) for p in trained)

    return check


def _check_trainable(path: str, model: nn.Module) -> None:
    """The model the factory returned has parameters to train (:func:`check_model`), said of the user's
    model, not of the scaler's Sequential that a recipe's run puts it in."""
    try:
        check_model(model)
    except InvalidValueError as refused:
        raise InvalidValueError(f"what model {path!r} returned", refused.value, refused.accepted) from None


def check_model(model: Any) -> None:
    """Refuse in one line anything but an ``nn.Module`` with a parameter to train: a model wholly frozen
    (or without parameters) would fail at its first backward, blamed on the batch, and could not change;
    one built on the meta device (shapes without values) has nothing to train."""
    if not isinstance(model, nn.Module):
        raise InvalidValueError("model", describe(model), "an nn.Module")
    parameters = list(model.parameters())
    if not any(p.requires_grad for p in parameters):
        if parameters:
            given, fix = "with no parameter that requires grad", "unfreeze some: module.requires_grad_(True)"
        else:
            given, fix = "without parameters", "layers such as nn.Linear"
        raise InvalidValueError(
            "model", f"{a_type(model)} {given}", f"a model with parameters to train ({fix})"
        )
    on_meta = [name for name, p in model.named_parameters() if p.is_meta]
    if on_meta:  # no values to train: it failed after its first step, at loss.item()
        raise InvalidValueError(
            "model",
            f"{a_type(model)} with {count_of(len(on_meta), 'parameter')} on the meta device "
            f"({named_and_more(on_meta)})",
            "a model with values: materialize it first (model.to_empty(device='cpu'), then initialize it, "
            "or load its weights with load_state_dict(..., assign=True))",
        )


def adapt_model(path: str, target: Any) -> Callable[..., nn.Module]:
    """``target`` as a model factory ``fn(input_shape, num_outputs, **options) -> nn.Module``."""
    return module_factory(path, target, "model", DATA_KEYWORDS, check=_fresh_trainable(path))


def parameter_dtype(model: nn.Module) -> torch.dtype | None:
    """The floating dtype of a model's parameters (the first one's), None for a model without one."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), None)


def embeds_ids(model: nn.Module, x: Tensor) -> bool:
    """Whether ``x`` holds token ids for ``model``: whole numbers >= 0 (stored as float32, as every input
    in :mod:`optimlab.data`), and the model embeds something (an ``nn.Embedding``), which takes int64."""
    embeds = any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in model.modules())
    return embeds and x.is_floating_point() and bool(((x >= 0) & (x == x.round())).all())


class InputsAs(nn.Module):
    """Floating inputs cast to ``dtype``: the data (float32) fed to the user's model built in another
    precision (``.double()``), or as the int64 token ids its embedding takes, as ``model(x.to(dtype))``
    would in a hand loop."""

    def __init__(self, dtype: torch.dtype) -> None:
        super().__init__()
        self.dtype = dtype

    def forward(self, x: Tensor) -> Tensor:
        return x.to(self.dtype) if x.is_floating_point() else x

    def extra_repr(self) -> str:
        return str(self.dtype)
