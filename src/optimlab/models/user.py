"""The user's own architecture or loss by import path: ``model: {name: "mypkg.nets:build", options: {...}}``,
``training: {loss: "mypkg.losses:Focal", loss_options: {...}}``.

A model factory gets the recipe's model options as keywords (its keywords with defaults are the entry's
hyperparameters, checked like a built-in's), and the data's ``input_shape`` and ``num_outputs`` too
when its signature names them; it returns an ``nn.Module``. A loss factory gets ``loss_options`` and
returns an ``nn.Module`` called as ``loss(outputs, targets)``; a loss function ``fn(outputs, targets,
**loss_options)`` is taken as it is. An ``nn.Module`` class is its own factory. Both are registered on first lookup (:mod:`optimlab.user_code`).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from optimlab.data.user_batches import describe
from optimlab.errors import InvalidValueError, a_type
from optimlab.user_code import call_user

__all__ = [
    "DATA_KEYWORDS",
    "InputsAs",
    "LossFunction",
    "adapt_loss",
    "adapt_model",
    "check_model",
    "embeds_ids",
    "parameter_dtype",
]

DATA_KEYWORDS = ("input_shape", "num_outputs")  # what a model factory may ask of the data, by name


def _module_factory(
    path: str, target: Any, what: str, data_keywords: tuple[str, ...]
) -> Callable[..., nn.Module]:
    """``target`` as ``fn(*data, **options) -> nn.Module``: ``data`` (values of ``data_keywords``) go to
    it by name when its signature names them; what it returns is checked."""
    if not callable(target):
        raise InvalidValueError(
            f"{what} {path!r}", type(target).__name__, "a function or class returning an nn.Module"
        )
    signature = inspect.signature(target)
    wanted = [name for name in data_keywords if name in signature.parameters]
    _check_required(path, what, signature, set(wanted), data_keywords)
    # The trainable parameters of the models it returned that are still alive: a model returned again,
    # or a layer built outside the function, would carry the weights an earlier run trained into the
    # next (a frozen layer may be shared: nothing trains it; so may a loss instance).
    returned: weakref.WeakValueDictionary[int, nn.Parameter] = weakref.WeakValueDictionary()  # by id

    def factory(*data: Any, **options: Any) -> nn.Module:
        given = dict(zip(data_keywords, data))
        built = call_user(what, path, target, **{name: given[name] for name in wanted}, **options)
        if not isinstance(built, nn.Module):
            raise InvalidValueError(f"what {what} {path!r} returned", a_type(built), "an nn.Module")
        if what == "model":
            _check_trainable(path, built)
            trained = [p for p in built.parameters() if p.requires_grad]
            shared = [n for n, p in built.named_parameters() if p.requires_grad and returned.get(id(p)) is p]
            if shared:
                raise InvalidValueError(
                    f"what {what} {path!r} returned",
                    f"a model sharing trainable weights ({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''})"
                    " with one it returned before",
                    "a new model each call, its layers built inside the function: each run trains its own "
                    "from its seed, where shared weights start where the run before left them",
                )
            returned.update((id(p), p) for p in trained)
        return built

    factory.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name not in data_keywords]
    )
    factory.__doc__ = target.__doc__
    factory.data_keywords = tuple(wanted)  # type: ignore[attr-defined]  # what it asks of the data
    return factory


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
            f"{a_type(model)} with {len(on_meta)} parameters on the meta device ({on_meta[0]}, ...)",
            "a model with values: materialize it first (model.to_empty(device='cpu'), then initialize it, "
            "or load its weights with load_state_dict(..., assign=True))",
        )


def _check_required(
    path: str, what: str, signature: inspect.Signature, given: set[str], data_keywords: tuple[str, ...]
) -> None:
    """A parameter without a default that nothing fills is named when the factory is looked up, with
    what fills one, rather than as the TypeError of a call with it missing."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in variadic and p.default is p.empty and p.name not in given
    ]
    if missing:
        options = "model.options" if what == "model" else "training.loss_options"
        by_data = f", or named {' / '.join(data_keywords)}, which the data gives" if data_keywords else ""
        raise InvalidValueError(
            f"the parameters of {what} {path!r}",
            ", ".join(missing),
            f"parameters with a default, which {options} may set{by_data}",
        )


def adapt_model(path: str, target: Any) -> Callable[..., nn.Module]:
    """``target`` as a model factory ``fn(input_shape, num_outputs, **options) -> nn.Module``."""
    return _module_factory(path, target, "model", DATA_KEYWORDS)


def adapt_loss(path: str, target: Any) -> Callable[..., nn.Module]:
    """``target`` as a loss factory ``fn(**loss_options) -> nn.Module``: a class or factory of the module,
    or a loss function ``fn(outputs, targets, **loss_options)`` itself (its first two parameters have no
    default: ``torch.nn.functional:cross_entropy``), made a module by :class:`LossFunction`."""
    if not _is_loss_function(target):
        return _module_factory(path, target, "loss", ())
    signature = inspect.signature(target)
    options = list(signature.parameters.values())[2:]

    def factory(**given: Any) -> nn.Module:
        return LossFunction(target, **given)

    factory.__signature__ = signature.replace(parameters=options)  # type: ignore[attr-defined]
    factory.__doc__ = target.__doc__
    return factory


def _is_loss_function(target: Any) -> bool:
    """Whether ``target`` is called as ``target(outputs, targets, ...)``: a function (not a class) whose
    first two parameters are positional without a default (a factory's have defaults: loss_options)."""
    if isinstance(target, type) or not callable(target):
        return False
    try:
        parameters = list(inspect.signature(target).parameters.values())[:2]
    except (TypeError, ValueError):  # a builtin without a signature: left to the factory's checks
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return len(parameters) == 2 and all(p.kind in positional and p.default is p.empty for p in parameters)


class LossFunction(nn.Module):
    """A loss function ``fn(outputs, targets, **options)`` as the module a recipe's loss is."""

    def __init__(self, fn: Callable[..., Tensor], **options: Any) -> None:
        super().__init__()
        self.fn, self.options = fn, options

    def forward(self, outputs: Any, targets: Any) -> Tensor:
        return self.fn(outputs, targets, **self.options)

    def extra_repr(self) -> str:
        given = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"{getattr(self.fn, '__qualname__', self.fn)}{given}"


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
