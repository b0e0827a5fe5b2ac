"""A user's own optimizer, named by its import path, without editing optimlab.

``package.module:Name`` names either

- a ``torch.optim.Optimizer`` subclass: its keyword arguments with defaults (``lr=...``, ...) become
  the hyperparameters the benchmark sets and tunes; or
- a factory of optimlab transforms, ``def my_opt(*, lr=1e-3, ...) -> GradientTransformation`` (a
  :func:`~optimlab.optim.chain`), exactly like optimlab's own named optimizers.

Either is registered in the ``optimizer`` registry under its import path on first lookup
(:mod:`optimlab.user_code`), so recipes, studies and the CLI name it like any built-in optimizer. A torch optimizer runs as a gradient
transformation (:func:`torch_optimizer_transform`): it steps a private copy of the parameters and
returns the change as the update, so it goes through the same shell, schedules and study engine as
every other optimizer, at the cost of one copy of the parameters and two passes over them a step.

A recipe stores the path, so a worker process that validates it imports the same code.

>>> name = load_optimizer("torch.optim:SGD")
>>> name, "lr" in get_registry("optimizer").get(name).hyperparameter_names
('torch.optim:SGD', True)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.optim.base import GradientTransformation, Params, Updates
from optimlab.registry import get_registry
from optimlab.user_code import IMPORT_PATH, call_user, is_import_path

__all__ = ["TorchOptimizerState", "adapt_optimizer", "load_optimizer", "torch_optimizer_transform"]


def _keyword_signature(target: Callable[..., Any], skip: int, owner: str) -> inspect.Signature:
    """The keyword hyperparameters of ``target`` after its first ``skip`` parameters, all with defaults."""
    try:
        parameters = list(inspect.signature(target).parameters.values())[skip:]
    except (TypeError, ValueError):  # a builtin (torch:tensor) has none Python can read
        raise OptimlabError(
            f"{owner}: its arguments cannot be read (no Python signature): name a torch.optim.Optimizer "
            "subclass or a factory `def f(*, lr=..., ...) -> GradientTransformation`"
        ) from None
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

    path = f"{optimizer_class.__module__}:{optimizer_class.__qualname__}"

    def init(params: Params) -> TorchOptimizerState:
        if not params:  # the layout a shell asks for: no optimizer over no parameters
            return TorchOptimizerState([], [])
        shadows = [p.detach().clone() for p in params]
        built = call_user("optimizer", path, optimizer_class, shadows, **hyperparameters)
        return TorchOptimizerState(shadows, [built] * len(params))

    @torch.no_grad()
    def update(
        updates: Updates, state: TorchOptimizerState, params: Params
    ) -> tuple[list[Tensor], TorchOptimizerState]:
        torch._foreach_copy_(state.shadows, list(params))
        for shadow, gradient in zip(state.shadows, updates):
            shadow.grad = gradient
        # A parameter that first got a gradient late has its own optimizer (init builds one per call).
        for optimizer in dict.fromkeys(state.optimizer):
            optimizer.param_groups[0].update(hyperparameters)
            call_user("optimizer", path, optimizer.step)  # LBFGS wants a closure: one line, not a traceback
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


def adapt_optimizer(path: str, target: Any) -> Callable[..., GradientTransformation]:
    """The factory to register for the object at ``path``: a torch optimizer class wrapped, or a factory
    of optimlab transforms as it is. Raises with the fix when it is neither, or takes no ``lr``."""
    if inspect.isclass(target) and issubclass(target, torch.optim.Optimizer):
        return _torch_factory(target, path)
    if callable(target):
        _keyword_signature(target, 0, path)  # every keyword has a default, lr among them
        built = call_user("optimizer", path, target)
        if not isinstance(built, GradientTransformation):
            raise OptimlabError(
                f"{path} returned {type(built).__name__}, not a GradientTransformation: name a "
                "torch.optim.Optimizer subclass or a factory of optimlab transforms"
            )
        return target
    raise OptimlabError(
        f"{path} is a {type(target).__name__}: name a torch.optim.Optimizer subclass or a "
        "factory `def f(*, lr=..., ...) -> GradientTransformation`"
    )


def load_optimizer(path: str) -> str:
    """Import ``package.module:Name`` and register it as an optimizer; returns its registry name (the
    path). Loading the same path again returns the same name."""
    if not is_import_path(path):
        raise InvalidValueError("optimizer import path", path, IMPORT_PATH)
    return get_registry("optimizer").resolve(path)
