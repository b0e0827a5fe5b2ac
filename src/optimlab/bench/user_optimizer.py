"""A user's own optimizer, benchmarked by its import path, without editing optimlab.

``package.module:Name`` names either

- a ``torch.optim.Optimizer`` subclass: its keyword arguments with defaults (``lr=...``, ...) become
  the hyperparameters the benchmark sets and tunes; or
- a factory of optimlab transforms, ``def my_opt(*, lr=1e-3, ...) -> GradientTransformation`` (a
  :func:`~optimlab.optim.chain`), exactly like optimlab's own named optimizers.

Either is registered in the ``optimizer`` registry under its import path (normalised: lower case), so
recipes and studies name it like any built-in optimizer. A torch optimizer runs as a gradient
transformation (:func:`torch_optimizer_transform`): it steps a private copy of the parameters and
returns the change as the update, so it goes through the same shell, schedules and study engine as
every other optimizer, at the cost of one copy of the parameters and two passes over them a step.

The registration lives in this process: backends that train here (``local``, ``batched``) see it;
worker processes (``workers``, ``ray``) would have to import it too, so the runner refuses them.

>>> name = load_optimizer("torch.optim:SGD")
>>> name, "lr" in get_registry("optimizer").get(name).hyperparameter_names
('torch.optim:sgd', True)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.optim.base import GradientTransformation, Params, Updates
from optimlab.registry import Capability, get_registry, normalize_name

__all__ = ["TorchOptimizerState", "is_import_path", "load_optimizer", "torch_optimizer_transform"]


def is_import_path(text: str) -> bool:
    """Whether ``text`` reads as ``package.module:Name`` rather than a registered name."""
    module, sep, attribute = text.partition(":")
    return bool(sep and module and attribute)


def _import(path: str) -> Any:
    if not is_import_path(path):
        raise InvalidValueError("optimizer import path", path, "package.module:ClassOrFactory")
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise OptimlabError(
            f"cannot import {module_name!r} for optimizer {path!r}: {error} "
            "(is its folder on PYTHONPATH, or the package installed?)"
        ) from None
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            public = [n for n in dir(module) if not n.startswith("_")]
            raise OptimlabError(f"{module_name!r} has no {attribute!r} (it has: {', '.join(public[:20])})")
        target = getattr(target, part)
    return target


def _keyword_signature(target: Callable[..., Any], skip: int, owner: str) -> inspect.Signature:
    """The keyword hyperparameters of ``target`` after its first ``skip`` parameters, all with defaults."""
    parameters = list(inspect.signature(target).parameters.values())[skip:]
    keywords = []
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            raise OptimlabError(
                f"{owner}: argument {p.name!r} has no default; the benchmark builds the optimizer "
                "from keyword defaults (and tunes lr), so give each argument a default"
            )
        keywords.append(p.replace(kind=p.KEYWORD_ONLY))
    if "lr" not in {p.name for p in keywords}:
        raise OptimlabError(f"{owner} takes no 'lr' keyword: the benchmark tunes the learning rate")
    return inspect.Signature(keywords)


class TorchOptimizerState(NamedTuple):
    """The copies of the parameters a torch optimizer steps, and that optimizer.

    ``optimizer`` holds the one wrapped optimizer once per parameter: a per-parameter field is what a
    shell stores beside each parameter and gives back when it rebuilds the state.
    """

    shadows: list[Tensor]
    optimizer: list[torch.optim.Optimizer]


def torch_optimizer_transform(
    optimizer_class: type[torch.optim.Optimizer], **hyperparameters: Any
) -> GradientTransformation:
    """``optimizer_class`` as a gradient transformation: update = its step applied to a copy of the params.

    Each update copies the parameters into the shadows, gives them the gradients, steps the wrapped
    optimizer (its param group set to ``hyperparameters``, so a schedule's lr reaches it) and returns
    ``shadow - param``. Its internal state (momentum buffers, step counts) lives in the wrapped optimizer.
    """

    def init(params: Params) -> TorchOptimizerState:
        if not params:  # the layout a shell asks for: no optimizer over no parameters
            return TorchOptimizerState([], [])
        shadows = [p.detach().clone() for p in params]
        return TorchOptimizerState(shadows, [optimizer_class(shadows, **hyperparameters)] * len(params))

    @torch.no_grad()
    def update(
        updates: Updates, state: TorchOptimizerState, params: Params
    ) -> tuple[list[Tensor], TorchOptimizerState]:
        torch._foreach_copy_(state.shadows, list(params))
        for shadow, gradient in zip(state.shadows, updates):
            shadow.grad = gradient
        optimizer = state.optimizer[0]
        optimizer.param_groups[0].update(hyperparameters)
        optimizer.step()
        for shadow in state.shadows:
            shadow.grad = None
        return list(torch._foreach_sub(state.shadows, list(params))), state

    return GradientTransformation(init, update)


def _torch_factory(
    optimizer_class: type[torch.optim.Optimizer], path: str
) -> Callable[..., GradientTransformation]:
    def factory(**hyperparameters: Any) -> GradientTransformation:
        return torch_optimizer_transform(optimizer_class, **hyperparameters)

    factory.__signature__ = _keyword_signature(optimizer_class, 1, path)  # type: ignore[attr-defined]
    factory.__name__ = optimizer_class.__name__
    factory.__doc__ = optimizer_class.__doc__
    return factory


def load_optimizer(path: str) -> str:
    """Import ``package.module:Name`` and register it as an optimizer; returns its registry name.

    Loading the same path again returns the same name. Raises with the fix when the path does not
    import, or names neither a ``torch.optim.Optimizer`` subclass nor a transform factory with an ``lr``.
    """
    registry = get_registry("optimizer")
    name = normalize_name(path)
    if name in registry:
        return registry.resolve(name)
    target = _import(path)
    summary = ((target.__doc__ or "").strip().splitlines() or [""])[0]
    if inspect.isclass(target) and issubclass(target, torch.optim.Optimizer):
        factory = _torch_factory(target, path)
    elif callable(target):
        _keyword_signature(target, 0, path)  # every keyword has a default, lr among them
        built = target()
        if not isinstance(built, GradientTransformation):
            raise OptimlabError(
                f"{path} returned {type(built).__name__}, not a GradientTransformation: name a "
                "torch.optim.Optimizer subclass or a factory of optimlab transforms"
            )
        factory = target
    else:
        raise OptimlabError(
            f"{path} is a {type(target).__name__}: name a torch.optim.Optimizer subclass or a "
            "factory `def f(*, lr=..., ...) -> GradientTransformation`"
        )
    registry.register(
        name,
        summary=summary or f"User optimizer {path}.",
        paper=f"user code: {path}",
        capabilities=(Capability.USER,),
        obj=factory,
    )
    return name
