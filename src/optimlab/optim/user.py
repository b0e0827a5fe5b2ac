"""A user's own optimizer, named by its import path, without editing optimlab.

``package.module:Name`` names one of

- a ``torch.optim.Optimizer`` subclass: its keyword arguments with defaults (``lr=...``, ...) become
  the hyperparameters a recipe sets and a comparison tunes;
- a factory of a torch optimizer, ``def make(params, lr=1e-3, weight_decay=0.1): return
  torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)``: its first parameter
  takes the parameters, its others (``lr`` among them) have defaults and are the hyperparameters, as a
  subclass's are; what it fixes (``betas`` here) stays fixed. It may split the parameters it is given
  into param groups (no weight decay on biases and norms: ``p.ndim < 2``), each keeping its own
  settings as the factory builds them at the lr optimlab sets (at each step's lr under a schedule, so a
  group whose lr it fixes keeps it); its optimizer must step without a closure; or
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
import itertools
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError, a_type, shown
from optimlab.optim.base import GradientTransformation, Params, Updates
from optimlab.optim.shells.torch_optim import torch_method
from optimlab.registry import Entry, get_registry
from optimlab.user_code import IMPORT_PATH, call_user, is_import_path

__all__ = [
    "TorchOptimizerState",
    "adapt_optimizer",
    "check_torch_class",
    "load_optimizer",
    "needs_closure",
    "torch_optimizer_transform",
]

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


# The key in the wrapped optimizer's first param group of the updates it has taken, so that its state
# dict carries them: each parameter's saved state is labelled with the count, and a load takes the latest.
_UPDATES_TAKEN = "optimlab_updates"


class TorchOptimizerState(NamedTuple):
    """The copies of the parameters a torch optimizer steps, that optimizer's state dict, and the optimizer.

    Per parameter, ``saved`` holds the number of updates the optimizer had taken at the last one that
    stepped the parameter (``version``; the optimizer keeps its count in its first param group), a token
    naming the optimizer, the parameter's place in it (``index``: its group and its index there), and the
    optimizer's ``state_dict()`` as of the last time a shell stored the state (:meth:`settled`): tensors
    and plain containers, which a checkpoint saves and ``torch.load(weights_only=True)`` reads back.
    ``optimizer`` holds the optimizer itself, live, once per parameter (None before the parameter's first
    update); shells leave it out of a saved state (``transient``), and after a load it is built again
    from ``saved``.
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
    returning one (param groups holding each of the ``params`` given once, a step without a closure).
    Each update copies the parameters into the shadows, gives them the gradients, steps the wrapped
    optimizer (each group set to the settings ``optimizer_class`` builds from ``hyperparameters``: a
    schedule's lr reaches each group whose lr the factory takes from its argument, and what it fixes
    stays) and returns ``shadow - param``.
    Its internal state (momentum buffers, step counts) lives in the wrapped optimizer, and is saved
    through its ``state_dict()``.
    """
    named = inspect.isclass(optimizer_class) or inspect.isfunction(optimizer_class)
    path = f"{optimizer_class.__module__}:{optimizer_class.__qualname__}" if named else shown(optimizer_class)
    return _transform(optimizer_class, path, hyperparameters)


def _transform(
    make: Callable[..., torch.optim.Optimizer], path: str, hyperparameters: dict[str, Any]
) -> GradientTransformation:
    """:func:`torch_optimizer_transform`, its messages naming the optimizer by ``path`` (its import path)."""

    def build(tensors: list[Tensor], **overrides: Any) -> torch.optim.Optimizer:
        optimizer = call_user("optimizer", path, make, tensors, **{**hyperparameters, **overrides})
        _check_built(path, optimizer, tensors)
        return optimizer

    # The groups' settings are read off an optimizer the class or factory builds at the hyperparameters
    # set, once a transform and set of parameters (the shell builds a transform a change of
    # hyperparameters: each step under a schedule, where AdamW's build, 0.21 ms, is 1% of the wrapped
    # step, 18.5 ms; 300 tensors of 64 x 64, one thread, the 2-core machine of docs/benchmarks.md;
    # timeit of both). A factory decides its groups' settings at each lr it is given, so what it fixes
    # (a group's own lr, a weight decay it derives from lr) is what it builds at that lr.
    def groups_of(tensors: list[Tensor]) -> list[tuple[list[Tensor], dict[str, Any]]]:
        """The groups ``make`` builds of ``tensors`` and the settings of each (less its params)."""
        return [(group["params"], _settings(group)) for group in build(tensors).param_groups]

    cache: dict[tuple[int, ...], list[dict[str, Any] | None]] = {}

    def settings_of(optimizer: torch.optim.Optimizer, here: set[int]) -> list[dict[str, Any] | None]:
        """The settings of each of ``optimizer``'s groups, from the factory's group of its first tensor
        here (``here``: their ids); None for a group with none here (stand-ins, which it does not step)."""
        real = _held(optimizer, here)
        key = tuple(id(t) for t in real)
        if key not in cache:
            by_tensor = {id(t): settings for tensors, settings in groups_of(real) for t in tensors}
            cache[key] = [
                next((by_tensor[id(t)] for t in group["params"] if id(t) in here), None)
                for group in optimizer.param_groups
            ]
        return cache[key]

    def place(optimizer: torch.optim.Optimizer, fresh: list[Tensor], here: set[int]) -> list[tuple[int, int]]:
        """Add ``fresh`` tensors to ``optimizer``, each to the group of the tensors here the factory groups
        it with (a group of its own where it groups it with none, as torch's add_param_group): their
        places (group, index)."""
        positions = _positions(optimizer)
        for tensors, settings in groups_of(_held(optimizer, here) + fresh):
            joining = [t for t in tensors if id(t) not in positions]
            if not joining:
                continue
            known = next((positions[id(t)][0] for t in tensors if id(t) in positions), None)
            if known is None:
                optimizer.add_param_group({**settings, "params": joining})
                g, start = len(optimizer.param_groups) - 1, 0
            else:
                g, start = known, len(optimizer.param_groups[known]["params"])
                optimizer.param_groups[known]["params"].extend(joining)
            positions.update({id(t): (g, start + i) for i, t in enumerate(joining)})
        return [positions[id(t)] for t in fresh]

    def rebuilt(saved: dict[str, Any], like: Tensor) -> torch.optim.Optimizer:
        """An optimizer over empty stand-ins, grouped as ``saved`` was (the factory cannot group tensors
        without shapes as it grouped the parameters), with ``saved`` loaded."""
        sizes = [len(group["params"]) for group in saved["param_groups"]]
        stand_ins = [like.new_empty(0) for _ in range(sum(sizes))]
        optimizer = build(stand_ins)
        optimizer.param_groups.clear()
        for start, size in zip(itertools.accumulate([0, *sizes]), sizes):
            optimizer.add_param_group({"params": stand_ins[start : start + size]})
        optimizer.load_state_dict(saved)
        return optimizer

    def init(params: Params) -> TorchOptimizerState:
        # No optimizer yet: the first update gives the parameters one, or adds them to the one their
        # neighbours have (a parameter that first gets a gradient late joins it, as in torch).
        entries = [{"token": None, "index": None, "version": 0, "state": None} for _ in params]
        return TorchOptimizerState([p.detach().clone() for p in params], entries, [None] * len(params))

    def live(
        state: TorchOptimizerState, here: set[int]
    ) -> tuple[list[torch.optim.Optimizer], list[dict[str, Any]]]:
        """The optimizer of each parameter and its entry: its live one; else the live one of its token
        here, which it joins in place of the empty tensor standing in for it; else one built from the
        latest state dict its token's parameters here saved, over their shadows (empty tensors for the
        others). A parameter without one yet joins an optimizer here, or a new one. ``here``: the ids of
        the shadows."""
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
                optimizer = rebuilt(latest["state"], state.shadows[members[0]])
                # a state saved before the group kept the count: its entries' versions counted updates
                optimizer.param_groups[0].setdefault(_UPDATES_TAKEN, latest["version"])
                running[token] = optimizer
            for i in members:
                g, index = _position(entries[i])
                tensors = optimizer.param_groups[g]["params"]
                stand_in, tensors[index] = tensors[index], state.shadows[i]
                optimizer.state[state.shadows[i]] = optimizer.state.pop(stand_in, {})
                optimizers[i] = optimizer
        if newcomers:
            fresh = [state.shadows[i] for i in newcomers]
            if running:
                token, optimizer = next(iter(running.items()))
                places = place(optimizer, fresh, here)
            else:
                # A random integer, so that a token of a loaded state never recurs; not a string, which
                # torch's load_state_dict rebuilds as an iterable of its characters.
                token, optimizer = uuid.uuid4().int >> 64, build(fresh)
                positions = _positions(optimizer)
                places = [positions[id(t)] for t in fresh]
            for i, position in zip(newcomers, places):
                entries[i].update(token=token, index=position)
                optimizers[i] = optimizer
        return optimizers, entries

    @torch.no_grad()
    def update(
        updates: Updates, state: TorchOptimizerState, params: Params
    ) -> tuple[list[Tensor], TorchOptimizerState]:
        torch._foreach_copy_(state.shadows, list(params))
        here = {id(t) for t in state.shadows}
        optimizers, entries = live(state, here)
        for shadow, gradient in zip(state.shadows, updates):
            shadow.grad = gradient
        for optimizer in dict.fromkeys(optimizers):
            for group, settings in zip(optimizer.param_groups, settings_of(optimizer, here)):
                if settings is not None:
                    group.update(settings)
            call_user("optimizer", path, optimizer.step)  # LBFGS wants a closure: one line, not a traceback
            first = optimizer.param_groups[0]
            first[_UPDATES_TAKEN] = first.get(_UPDATES_TAKEN, 0) + 1
        for shadow in state.shadows:
            shadow.grad = None
        entries = [
            {**entry, "version": o.param_groups[0][_UPDATES_TAKEN]} for entry, o in zip(entries, optimizers)
        ]
        deltas = list(torch._foreach_sub(state.shadows, list(params)))
        return deltas, TorchOptimizerState(state.shadows, entries, optimizers)

    return GradientTransformation(init, update)


def _settings(group: dict[str, Any]) -> dict[str, Any]:
    """A param group's hyperparameters: all but its params."""
    return {k: v for k, v in group.items() if k != "params"}


def _position(entry: dict[str, Any]) -> tuple[int, int]:
    """A parameter's place in its optimizer, (group, index); a state saved with one group kept the index."""
    index = entry["index"]
    return (0, index) if isinstance(index, int) else (index[0], index[1])


def _held(optimizer: torch.optim.Optimizer, here: set[int]) -> list[Tensor]:
    """The tensors of ``optimizer``'s param groups among ``here`` (their ids), in its order: the shadows it
    steps, without the empty stand-ins of a loaded state's other parameters."""
    return [t for group in optimizer.param_groups for t in group["params"] if id(t) in here]


def _positions(optimizer: torch.optim.Optimizer) -> dict[int, tuple[int, int]]:
    """Where each tensor is in ``optimizer``'s param groups, (group, index), by its id."""
    return {
        id(t): (g, i) for g, group in enumerate(optimizer.param_groups) for i, t in enumerate(group["params"])
    }


def _torch_factory(
    optimizer_class: Callable[..., torch.optim.Optimizer], path: str
) -> Callable[..., GradientTransformation]:
    """The transform factory of a torch optimizer class or factory: its keywords after the parameters."""

    def factory(**hyperparameters: Any) -> GradientTransformation:
        return _transform(optimizer_class, path, hyperparameters)

    factory.__signature__ = _keyword_signature(optimizer_class, 1, path)  # type: ignore[attr-defined]
    factory.optimizer_class = optimizer_class  # type: ignore[attr-defined]  (torch's own: check_torch_class)
    factory.__name__ = path.rpartition(":")[2]
    factory.__doc__ = optimizer_class.__doc__
    return factory


def check_torch_class(entry: Entry, values: Mapping[str, Any]) -> None:
    """Refuse in one line the values of a ``torch.optim`` class by path (``torch.optim:SGD``) that its
    constructor refuses together (``nesterov=True`` with momentum 0), by building it over one stand-in
    tensor, as a recipe is validated: else the run failed after it started. Only torch's own classes are
    built here (microseconds, no side effects); the user's code is first called when the run builds it."""
    optimizer_class = getattr(entry.obj, "optimizer_class", None)
    if not (inspect.isclass(optimizer_class) and optimizer_class.__module__.startswith("torch.optim.")):
        return
    try:
        checked = _without_compiler(optimizer_class)
        checked([torch.zeros(1, requires_grad=True)], **{**entry.defaults, **entry.typed(values)})
    except Exception as error:  # torch's refusal, a ValueError mostly, said as its first line
        given = ", ".join(f"{k}={v!r}" for k, v in values.items())
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise OptimlabError(
            f"{entry.label} with {given}: torch.optim.{optimizer_class.__name__} refuses them ({reason}); "
            "give values it takes together"
        ) from None


def _without_compiler(optimizer_class: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """``optimizer_class`` whose ``add_param_group`` is :func:`torch_method`'s, without the wrapper that
    imports torch's compiler at its first call, which a check of keywords does not need. The run that
    trains builds the class itself. Made at each check (microseconds), not cached: whether the compiler
    is loaded is read then, as torch_method reads it."""
    return type(
        optimizer_class.__name__, (optimizer_class,), {"add_param_group": torch_method("add_param_group")}
    )


@functools.cache
def step_requires_closure(optimizer_class: type) -> bool:
    """Whether the ``step`` of ``optimizer_class`` has a ``closure`` without default (torch's LBFGS),
    which ``step()`` alone failed with a TypeError."""
    try:
        closure = inspect.signature(optimizer_class.step).parameters.get("closure")
    except (TypeError, ValueError):  # no signature Python can read: take it as optional
        return False
    return closure is not None and closure.default is inspect.Parameter.empty


def needs_closure(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step`` must be given a closure to evaluate the loss again: one that says so
    (SAM, Foret et al. 2021, https://arxiv.org/abs/2010.01412, or a wrapper around it) or one whose step
    has a ``closure`` without default (torch's LBFGS, which has no such attribute)."""
    return bool(getattr(optimizer, "needs_closure", False)) or step_requires_closure(type(optimizer))


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
    loop would: not an optimizer; a step that needs a closure; param groups that do not hold each of the
    ``tensors`` given once (one left out would not be stepped at all)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise OptimlabError(
            f"{path} returned {a_type(optimizer)}, not a torch.optim.Optimizer: name {_FORMS}"
        )
    _refuse_closure(path, type(optimizer))
    held = [t for group in optimizer.param_groups for t in group["params"]]
    if len(held) != len(tensors) or {id(t) for t in held} != {id(t) for t in tensors}:
        sizes = ", ".join(str(len(g["params"])) for g in optimizer.param_groups)
        raise OptimlabError(
            f"{path} built {type(optimizer).__name__} with param groups of {sizes} of the {len(tensors)} "
            "parameters it was given: optimlab steps the optimizer over exactly the parameters it gives, "
            "so put each of them in one param group"
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
    a factory of optimlab transforms as it is. Raises with the fix when it is neither, or takes no ``lr``, or
    its step evaluates the loss again (a transform steps on the gradients already taken)."""
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
