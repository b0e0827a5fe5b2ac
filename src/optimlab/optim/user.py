"""A user's own optimizer, named by its import path, without editing optimlab.

``package.module:Name`` names one of

- a ``torch.optim.Optimizer`` subclass: its keyword arguments with defaults (``lr=...``, ...) become
  the hyperparameters a recipe sets and a comparison tunes;
- a factory of a torch optimizer, ``def make(params, lr=1e-3, weight_decay=0.1): return
  torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)``: its first parameter
  takes the parameters, its others (``lr`` among them) have defaults and are the hyperparameters, as a
  subclass's are; what it fixes (``betas`` here) stays fixed. It must build one param group over the
  parameters it is given, and an optimizer that steps without a closure; or
- a factory of optimlab transforms, ``def my_opt(*, lr=1e-3, ...) -> GradientTransformation`` (a
  :func:`~optimlab.optim.chain`), exactly like optimlab's own named optimizers.

Each is registered in the ``optimizer`` registry under its import path on first lookup
(:mod:`optimlab.user_code`), so recipes, studies and the CLI name it like any built-in optimizer. A
torch optimizer, a subclass's or a factory's, runs as a gradient transformation
(:func:`torch_optimizer_transform`): it steps a private copy of the parameters and returns the change
as the update, so it goes through the same shell, schedules and study engine as every other
optimizer, at the cost of one copy of the parameters and two passes over them a step.

A recipe stores the path, so a worker process that validates it imports the same code.

>>> name = load_optimizer("torch.optim:SGD")
>>> name, "lr" in get_registry("optimizer").get(name).hyperparameter_names
('torch.optim:SGD', True)
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError, a_type, shown
from optimlab.optim.base import GradientTransformation, Params, Updates
from optimlab.registry import get_registry
from optimlab.user_code import IMPORT_PATH, call_user, is_import_path

__all__ = ["TorchOptimizerState", "adapt_optimizer", "load_optimizer", "torch_optimizer_transform"]

# The forms an optimizer named by its path may take, as a refusal lists them.
_FORMS = (
    "a torch.optim.Optimizer subclass, a factory `def f(params, lr=..., ...)` returning one, or a factory "
    "`def f(*, lr=..., ...) -> GradientTransformation`"
)


def _keyword_signature(target: Callable[..., Any], skip: int, owner: str) -> inspect.Signature:
    """The keyword hyperparameters of ``target`` after its first ``skip`` parameters, all with defaults."""
    try:
        parameters = list(inspect.signature(target).parameters.values())[skip:]
    except (TypeError, ValueError):  # a builtin (torch:tensor) has none Python can read
        raise OptimlabError(
            f"{owner}: its arguments cannot be read (no Python signature): name {_FORMS}"
        ) from None
    keywords = []
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is inspect.Parameter.empty:
            raise OptimlabError(
                f"{owner}: argument {p.name!r} has no default; optimlab builds the optimizer from "
                "keyword defaults (and tunes lr), so give each argument a default"
            )
        keywords.append(p.replace(kind=p.KEYWORD_ONLY))
    if "lr" not in {p.name for p in keywords}:
        raise OptimlabError(f"{owner} takes no 'lr' keyword: optimlab sets and tunes the learning rate by it")
    return inspect.Signature(keywords)


# The key in the wrapped optimizer's param group of the updates it has taken, so that its state dict
# carries them: each parameter's saved state is labelled with the count, and a load takes the latest.
_UPDATES_TAKEN = "optimlab_updates"


class TorchOptimizerState(NamedTuple):
    """The copies of the parameters a torch optimizer steps, that optimizer's state dict, and the optimizer.

    Per parameter, ``saved`` holds the number of updates the optimizer had taken at the last one that
    stepped the parameter (``version``, kept in the optimizer's param group), a token naming the
    optimizer, the parameter's index in it, and the optimizer's ``state_dict()`` as of the last time a
    shell stored the state (:meth:`settled`): tensors and plain containers, which a checkpoint saves
    and ``torch.load(weights_only=True)`` reads back. ``optimizer`` holds the optimizer itself, live,
    once per parameter (None before the parameter's first update); shells leave it out of a saved
    state (``transient``), and after a load it is built again from ``saved``.
    """

    transient = ("optimizer",)

    shadows: list[Tensor]
    saved: list[dict[str, Any]]
    optimizer: list[torch.optim.Optimizer | None]

    def settled(self) -> TorchOptimizerState:
        """This state with the state dict of each parameter's live optimizer as it is now: taken as a
        shell stores the state (to save it, or as the parameters with a gradient change), not at each
        update, where it cost 13 us beside Adam's 0.9 ms step (24 tensors of 64 x 64, one thread, the
        2-core machine of docs/benchmarks.md; timeit of both). A parameter that missed the last updates
        keeps its older version, so a load takes the latest."""
        dicts = {id(o): o.state_dict() for o in dict.fromkeys(o for o in self.optimizer if o is not None)}
        saved = [
            entry if o is None else {**entry, "state": dicts[id(o)]}
            for entry, o in zip(self.saved, self.optimizer)
        ]
        return self._replace(saved=saved)


def torch_optimizer_transform(
    optimizer_class: Callable[..., torch.optim.Optimizer], **hyperparameters: Any
) -> GradientTransformation:
    """``optimizer_class`` as a gradient transformation: update = its step applied to a copy of the params.

    ``optimizer_class`` is a ``torch.optim.Optimizer`` subclass or a factory ``f(params, **hyperparameters)``
    returning one (one param group over the ``params`` given, a step without a closure). Each update
    copies the parameters into the shadows, gives them the gradients, steps the wrapped optimizer (its
    param group set to ``hyperparameters``, or for a factory to the group the factory builds from them,
    so a schedule's lr reaches it and what the factory fixes stays) and returns ``shadow - param``. Its
    internal state (momentum buffers, step counts) lives in the wrapped optimizer, and is saved through
    its ``state_dict()``.
    """
    named = inspect.isclass(optimizer_class) or inspect.isfunction(optimizer_class)
    path = f"{optimizer_class.__module__}:{optimizer_class.__qualname__}" if named else shown(optimizer_class)
    return _transform(optimizer_class, path, hyperparameters)


def _transform(
    optimizer_class: Callable[..., torch.optim.Optimizer], path: str, hyperparameters: dict[str, Any]
) -> GradientTransformation:
    """:func:`torch_optimizer_transform`, its messages naming the optimizer by ``path`` (its import path)."""

    def build(tensors: list[Tensor]) -> torch.optim.Optimizer:
        optimizer = call_user("optimizer", path, optimizer_class, tensors, **hyperparameters)
        _check_built(path, optimizer, tensors)
        return optimizer

    # The hyperparameters of the wrapped optimizer's group: a class's keywords are its group's; a factory
    # maps its own (scales lr, fixes betas), so its group is read off an optimizer it builds, once a
    # transform (the shell builds one a change of hyperparameters: each step under a schedule, where
    # AdamW's build, 0.21 ms, is 1% of the wrapped step, 18.5 ms; 300 tensors of 64 x 64, one thread,
    # the 2-core machine of docs/benchmarks.md; timeit of both).
    settings: dict[str, Any] | None = hyperparameters if inspect.isclass(optimizer_class) else None

    def group_settings(tensors: list[Tensor]) -> dict[str, Any]:
        nonlocal settings
        if settings is None:
            settings = {k: v for k, v in build(tensors).param_groups[0].items() if k != "params"}
        return settings

    def init(params: Params) -> TorchOptimizerState:
        # No optimizer yet: the first update gives the parameters one, or adds them to the one their
        # neighbours have (a parameter that first gets a gradient late joins it, as in torch).
        entries = [{"token": None, "index": None, "version": 0, "state": None} for _ in params]
        return TorchOptimizerState([p.detach().clone() for p in params], entries, [None] * len(params))

    def live(state: TorchOptimizerState) -> tuple[list[torch.optim.Optimizer], list[dict[str, Any]]]:
        """The optimizer of each parameter and its entry: its live one; else the live one of its token
        here, which it joins in place of the empty tensor standing in for it; else one built from the
        latest state dict its token's parameters here saved, over their shadows (empty tensors for the
        others). A parameter without one yet joins an optimizer here, or a new one."""
        optimizers, entries = list(state.optimizer), [dict(entry) for entry in state.saved]
        running = {entries[i]["token"]: o for i, o in enumerate(optimizers) if o is not None}
        waiting: dict[int | None, list[int]] = {}
        for i, optimizer in enumerate(optimizers):
            if optimizer is None:
                waiting.setdefault(entries[i]["token"], []).append(i)
        newcomers = waiting.pop(None, [])
        for token, members in waiting.items():
            optimizer = running.get(token)
            if optimizer is None:
                latest = max((entries[i] for i in members), key=lambda entry: entry["version"])
                like = state.shadows[members[0]]
                optimizer = build([like.new_empty(0) for _ in latest["state"]["param_groups"][0]["params"]])
                optimizer.load_state_dict(latest["state"])
                # a state saved before the group kept the count: its entries' versions counted updates
                optimizer.param_groups[0].setdefault(_UPDATES_TAKEN, latest["version"])
                running[token] = optimizer
            tensors = optimizer.param_groups[0]["params"]
            for i in members:
                index = entries[i]["index"]
                stand_in, tensors[index] = tensors[index], state.shadows[i]
                optimizer.state[state.shadows[i]] = optimizer.state.pop(stand_in, {})
                optimizers[i] = optimizer
        if newcomers:
            if running:
                token, optimizer = next(iter(running.items()))
                optimizer.param_groups[0]["params"].extend(state.shadows[i] for i in newcomers)
            else:
                # A random integer, so that a token of a loaded state never recurs; not a string, which
                # torch's load_state_dict rebuilds as an iterable of its characters.
                token, optimizer = uuid.uuid4().int >> 64, build([state.shadows[i] for i in newcomers])
            first = len(optimizer.param_groups[0]["params"]) - len(newcomers)
            for offset, i in enumerate(newcomers):
                entries[i].update(token=token, index=first + offset)
                optimizers[i] = optimizer
        return optimizers, entries

    @torch.no_grad()
    def update(
        updates: Updates, state: TorchOptimizerState, params: Params
    ) -> tuple[list[Tensor], TorchOptimizerState]:
        torch._foreach_copy_(state.shadows, list(params))
        optimizers, entries = live(state)
        for shadow, gradient in zip(state.shadows, updates):
            shadow.grad = gradient
        for optimizer in dict.fromkeys(optimizers):
            group = optimizer.param_groups[0]
            group.update(group_settings(group["params"]))
            call_user("optimizer", path, optimizer.step)  # LBFGS wants a closure: one line, not a traceback
            group[_UPDATES_TAKEN] = group.get(_UPDATES_TAKEN, 0) + 1
        for shadow in state.shadows:
            shadow.grad = None
        entries = [
            {**entry, "version": o.param_groups[0][_UPDATES_TAKEN]} for entry, o in zip(entries, optimizers)
        ]
        deltas = list(torch._foreach_sub(state.shadows, list(params)))
        return deltas, TorchOptimizerState(state.shadows, entries, optimizers)

    return GradientTransformation(init, update)


def _torch_factory(
    optimizer_class: Callable[..., torch.optim.Optimizer], path: str
) -> Callable[..., GradientTransformation]:
    """The transform factory of a torch optimizer class or factory: its keywords after the parameters."""

    def factory(**hyperparameters: Any) -> GradientTransformation:
        return _transform(optimizer_class, path, hyperparameters)

    factory.__signature__ = _keyword_signature(optimizer_class, 1, path)  # type: ignore[attr-defined]
    factory.__name__ = path.rpartition(":")[2]
    factory.__doc__ = optimizer_class.__doc__
    return factory


@functools.cache
def step_requires_closure(optimizer_class: type) -> bool:
    """Whether the ``step`` of ``optimizer_class`` has a ``closure`` without default (torch's LBFGS),
    which ``step()`` alone failed with a TypeError."""
    try:
        closure = inspect.signature(optimizer_class.step).parameters.get("closure")
    except (TypeError, ValueError):  # no signature Python can read: take it as optional
        return False
    return closure is not None and closure.default is inspect.Parameter.empty


def _refuse_closure(path: str, optimizer_class: type) -> None:
    """Raise where the step of ``optimizer_class`` evaluates the loss again through a closure."""
    if step_requires_closure(optimizer_class):
        raise InvalidValueError(
            "optimizer",
            path,
            "an optimizer that steps on the gradients already taken: this one's step evaluates the "
            f"loss again through a closure; in Python, optimlab.fit(model, {optimizer_class.__name__}(...), "
            "...) gives it one",
        )


def _check_built(path: str, optimizer: object, tensors: list[Tensor]) -> None:
    """Refuse what a torch optimizer factory built where the wrapper cannot step it as the factory's own
    loop would: not an optimizer; a step that needs a closure; other than one param group holding the
    ``tensors`` given, in order (the wrapper addresses a parameter by its index in ``param_groups[0]``,
    the layout its saved state keeps, so a factory's several groups would be stepped under the first
    group's hyperparameters, or a parameter it left out not at all)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise OptimlabError(
            f"{path} returned {a_type(optimizer)}, not a torch.optim.Optimizer: name {_FORMS}"
        )
    _refuse_closure(path, type(optimizer))
    groups = optimizer.param_groups
    if (
        len(groups) != 1
        or len(groups[0]["params"]) != len(tensors)
        or any(a is not b for a, b in zip(groups[0]["params"], tensors))
    ):
        held = ", ".join(str(len(g["params"])) for g in groups)
        raise OptimlabError(
            f"{path} built {type(optimizer).__name__} with param groups of {held} of the {len(tensors)} "
            "parameters it was given: optimlab steps one param group over all of them, in the order given; "
            "give per-parameter rules as param groups of optimlab.optim.create (Python), or one group here"
        )


def _takes_params_first(target: Callable[..., Any]) -> bool:
    """Whether ``target``'s first parameter is positional without a default, and not ``lr``: the parameters
    a factory of a torch optimizer takes (a factory of transforms takes keywords only; ``def f(lr, b1=0.9)``
    is one whose lr lacks its default)."""
    try:
        first = next(iter(inspect.signature(target).parameters.values()), None)
    except (TypeError, ValueError):  # no signature: _keyword_signature says so
        return False
    return (
        first is not None
        and first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD)
        and first.default is inspect.Parameter.empty
        and first.name != "lr"
    )


def adapt_optimizer(path: str, target: Any) -> Callable[..., GradientTransformation]:
    """The factory to register for the object at ``path``: a torch optimizer class or factory wrapped, or
    a factory of optimlab transforms as it is. Raises with the fix when it is neither, or takes no ``lr``, or its
    step evaluates the loss again (a transform steps on the gradients already taken)."""
    if inspect.isclass(target) and issubclass(target, torch.optim.Optimizer):
        _refuse_closure(path, target)
        return _torch_factory(target, path)
    if callable(target) and _takes_params_first(target):
        return _torch_factory(target, path)
    if callable(target):
        _keyword_signature(target, 0, path)  # every keyword has a default, lr among them
        built = call_user("optimizer", path, target)
        if not isinstance(built, GradientTransformation):
            raise OptimlabError(
                f"{path} returned {type(built).__name__}, not a GradientTransformation: name {_FORMS}"
            )
        return target
    raise OptimlabError(f"{path} is {a_type(target)}: name {_FORMS}")


def load_optimizer(path: str) -> str:
    """Import ``package.module:Name`` and register it as an optimizer; returns its registry name (the
    path). Loading the same path again returns the same name."""
    if not is_import_path(path):
        raise InvalidValueError("optimizer import path", path, IMPORT_PATH)
    return get_registry("optimizer").resolve(path)
