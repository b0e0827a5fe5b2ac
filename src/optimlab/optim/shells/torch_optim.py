"""The ``torch.optim.Optimizer`` drop-in: param groups, lr schedulers, closures and state dicts over a chain.

Each param group gets the transform its hyperparameters describe, built by the optimizer's factory
(``adam(lr=..., betas=...)``) and rebuilt whenever a group value changes, so ``group["lr"]`` written by
any ``torch.optim.lr_scheduler`` is the lr the next step uses; the state survives a rebuild. A
hyperparameter may also be a schedule ``step -> float``, evaluated by the transform at its own count, or
a one-element tensor, as torch's lr may be, read at each step (:func:`current`).

The chain keeps its state as lists (one foreach pass per op over the group). ``self.state[p]`` holds
the same tensors under path keys (``"1.mu"``: field ``mu`` of the chain's second transform), plus the
counters a list shares (``"1.count"``); those counters are written there when the state is saved, or
when the set of parameters with gradients changes. So ``state_dict()`` / ``load_state_dict()``
round-trip with torch's own format, and a changed flag that alters the chain's layout (momentum
switched on) starts the new buffers fresh, while a transform it moves (Adam's moments, which
``decoupled_weight_decay`` puts before or after the decay) keeps its state, as torch's does.

Counters are per parameter, as torch's ``state[p]["step"]``: a parameter without a gradient on some
steps (frozen for a while, unused by a batch) skips them, its count included, and a parameter that
first gets a gradient late starts at step 1. The shell runs the chain once per *cohort*, the
parameters of a group whose counters agree: one list in the common case where every parameter gets
a gradient every step; a layer frozen for the first N steps stays N behind, in a cohort of its own.

Except where the reference counts per group: the authors' Schedule-Free (``group['k']`` and its weight
sums), Adan and pytorch_optimizer's Lamb (``group['step']``) count the steps of a param group, every
``step()`` whether or not a parameter has a gradient, and a parameter without a gradient only skips its
own update. A chain whose state record says so (``counts_per_group``, :mod:`optimlab.optim.base`) gets
that: its counters live in the group (``group["counters"]``, written there when the state is saved or
the parameters with gradients change) and its parameters step as one cohort; a step where no
parameter of the group has a gradient moves only the counters.

Complex parameters are stepped as their real and imaginary parts, as ``torch.optim`` does
(``torch.view_as_real``): an elementwise optimizer treats the two as separate coordinates, and Adam's
``g^2`` is then ``re^2`` and ``im^2``, not the complex square. Optimizers that read a tensor's shape
(Adafactor's factored statistics, Muon's matrices, LARS's rule for 1-D ones) refuse them, as torch's
do. Sparse gradients (``nn.Embedding(sparse=True)``) are taken where torch's optimizer of the name
takes them (``SPARSE_GRADIENTS``: SGD, its momentum forms and Adagrad, without weight decay), made
dense, which is the update torch computes from the sparse gradient; every other optimizer refuses
them, as torch's Adam and the others do, naming the parameter.

Each step goes through the fused path (:mod:`~optimlab.optim.shells.fused`): a single-pass kernel
where one computes the chain's update exactly, the composed chain otherwise; both keep the same state.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError, close_matches
from optimlab.optim.base import GradientTransformation, State, apply_updates, scheduled
from optimlab.optim.kernels.compiled import lift_floats
from optimlab.optim.shells.fused import FusedPath
from optimlab.registry import Capability, Entry, get_registry, plain_numbers

__all__ = [
    "SHELL_KEYWORDS",
    "Optimizer",
    "check_names",
    "check_shell_keywords",
    "current",
    "steppable",
    "torch_method",
]

Factory = Callable[..., GradientTransformation]
_TORCH_GROUP_KEYS = frozenset({"params", "param_names"})
_COUNTERS = "counters"  # the group key of a chain's counters, where it counts steps per group
# torch.optim's switches a group may carry (torch.optim.Adam([{"params": ..., "foreach": True}])): a
# group that holds one of them is refused like an unknown keyword, never stepped as if it did not.
# ``maximize`` is honoured, as every torch optimizer means it (:meth:`Optimizer.step`).
_TORCH_SWITCHES = frozenset({"foreach", "fused", "capturable", "differentiable"})
_MAXIMIZE = "maximize"
# How close a group's key must be spelled to maximize to be its typo, not a user's tag (difflib's ratio):
# maximise 0.875, maximze 0.93 are typos; max_size and minimize 0.75, maximum 0.67, optimize 0.63 are tags,
# which close_matches' 0.6 had refused (f5a4e5f5) though torch.optim takes any key in a group.
_MISSPELLING_CUTOFF = 0.85
_FUSED = "fused"
SHELL_KEYWORDS = (_FUSED, _MAXIMIZE)  # the shell's keywords beside an optimizer's hyperparameters
# Optimizers whose compiled step is a pass or two over memory; matrix products (Muon) and factored
# statistics (Adafactor) are not worth a compile, and do not trace in one graph.
_COMPILED_KINDS = frozenset({Capability.ELEMENTWISE, Capability.LAYERWISE})
# Optimizers that read a tensor's shape, which a complex tensor's real view (a last dimension of 2) changes.
_READS_SHAPES = frozenset({Capability.MATRIX, Capability.FACTORED, Capability.SKIPS_1D})


def torch_method(name: str) -> Callable[..., Any]:
    """``torch.optim.Optimizer``'s method ``name`` as written while Dynamo is not loaded, torch's own after.

    torch wraps ``add_param_group``, ``zero_grad`` and the state-dict methods to keep Dynamo from compiling
    them, and the wrapper imports Dynamo on its first call: about 3 s of CPU (torch 2.13) that every
    ``optimlab train`` paid at its first ``add_param_group`` (``benchmarks/cli_startup.py``).
    While Dynamo is not imported nothing is being compiled, so there is nothing to keep out.
    """
    method = getattr(torch.optim.Optimizer, name)
    return method if sys.modules.get("torch._dynamo") else getattr(method, "__wrapped__", method)


def _leaves(state: State, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(path, leaf)`` for each leaf of a state tree (tuples and NamedTuples; lists are leaves)."""
    if isinstance(state, tuple):
        names = getattr(state, "_fields", range(len(state)))
        for name, value in zip(names, state):
            yield from _leaves(value, f"{prefix}{name}.")
    else:
        yield prefix[:-1], state


def _rebuild(template: State, leaf: Callable[[str, Any], Any], prefix: str = "") -> State:
    """A state tree shaped like ``template`` whose leaves are ``leaf(path, template_leaf)``."""
    if not isinstance(template, tuple):
        return leaf(prefix[:-1], template)
    names = getattr(template, "_fields", None)
    values = [_rebuild(v, leaf, f"{prefix}{n}.") for n, v in zip(names or range(len(template)), template)]
    return type(template)(*values) if names is not None else tuple(values)


@dataclasses.dataclass(slots=True)
class _Cohort:
    """Parameters of a group whose counters agree, their list state, and the tensors the chain steps.

    Mutable: each step writes its ``state`` instead of rebuilding the group's records, which cost 3 us
    of SGD's 38 us step (24 tensors of 64 x 64, one thread, the 2-core machine of docs/benchmarks.md)."""

    params: tuple[Tensor, ...]
    state: State
    tensors: tuple[Tensor, ...]  # what the chain steps: the parameters, complex ones as real views
    convert: bool  # some gradient is complex or sparse: each step passes it through steppable


def steppable(tensors: Iterable[Tensor]) -> list[Tensor]:
    """Sparse tensors made dense, complex ones viewed as real with a last dimension (real, imaginary): the
    tensors as ``torch.optim`` steps them. A complex view shares its tensor's memory, so writing it moves the
    tensor."""
    dense = (t if t.layout == torch.strided else t.to_dense() for t in tensors)
    return [torch.view_as_real(t) if t.is_complex() else t for t in dense]


class _Bound(NamedTuple):
    """A group's live transform and list states, and what they were built for."""

    values: tuple[Any, ...]  # the group's hyperparameters the transform was built from
    transform: GradientTransformation
    layout: tuple[tuple[str, type], ...]  # the state's leaf paths and kinds; it changes only with flags
    template: State  # transform.init([]): the shape of the state
    params: tuple[Tensor, ...]  # the group's parameters with a gradient, in group order
    cohorts: tuple[_Cohort, ...]  # the same parameters by counters (one cohort unless some skipped steps)


def _transient(state: State, prefix: str = "", attribute: str = "transient") -> set[str]:
    """The paths of the fields the chain's records keep live but leave out of a saved state (``transient``,
    :mod:`optimlab.optim.base`), or those named in another such class ``attribute``."""
    if not isinstance(state, tuple):
        return set()
    names = getattr(state, "_fields", range(len(state)))
    paths = {f"{prefix}{name}" for name in getattr(type(state), attribute, ())}
    for name, value in zip(names, state):
        paths |= _transient(value, f"{prefix}{name}.", attribute)
    return paths


def _settled(state: State) -> State:
    """``state`` with each record that keeps live objects (``transient``) brought up to date in the fields
    a saved state keeps: its ``settled()`` (:mod:`optimlab.optim.base`)."""
    if not isinstance(state, tuple):
        return state
    if getattr(type(state), "transient", ()):
        return state.settled()
    names = getattr(state, "_fields", None)
    values = [_settled(value) for value in state]
    return type(state)(*values) if names is not None else tuple(values)


def current(value: Any) -> Any:
    """A hyperparameter with each one-element real tensor in it as the number it holds now.

    torch's optimizers take lr (Adam's betas too) as a tensor, which an lr scheduler then fills in place
    (``fill_``); the group keeps the tensor, and each step builds the chain from its current value. On an
    accelerator, reading it costs a synchronisation a step. Other tensors stay tensors (and are refused).
    """
    if isinstance(value, (tuple, list)):
        return type(value)(current(v) for v in value)
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        return value.item()
    return value


def _check_maximize(value: Any) -> None:
    """Refuse in one line a ``maximize`` that is not a bool (a string "False" would ascend)."""
    if not isinstance(value, bool):
        raise InvalidValueError("maximize", value, "True or False")


def check_shell_keywords(fused: Any = None, maximize: Any = False) -> tuple[bool | None, bool]:
    """The shell's ``fused`` and ``maximize`` as plain bools (np.True_ as the bool it holds), refused in
    one line where they are not (a string "False" would compile at the second step, or ascend)."""
    fused, maximize = plain_numbers(fused), plain_numbers(maximize)
    _check_maximize(maximize)
    if fused is not None and not isinstance(fused, bool):
        raise InvalidValueError("fused", fused, "None, True or False")
    return fused, maximize


def _is_counter(leaf: Any) -> bool:
    """A state leaf shared by a list (a step count, a running product), not a per-parameter list."""
    return leaf is not None and not isinstance(leaf, list)


def _counts_per_group(state: State) -> bool:
    """Whether a state record of the chain counts steps per param group (``counts_per_group``)."""
    if not isinstance(state, tuple):
        return False
    return getattr(type(state), "counts_per_group", False) or any(_counts_per_group(s) for s in state)


def _records(state: State, prefix: str = "") -> list[tuple[str, type]]:
    """``(path, type)`` of each record of a state tree that holds leaves only (a transform's state), in
    chain order."""
    if not isinstance(state, tuple):
        return []
    names = getattr(state, "_fields", None)
    if names is not None and not any(isinstance(value, tuple) for value in state):
        return [(prefix[:-1], type(state))]
    return [
        record
        for name, value in zip(names or range(len(state)), state)
        for record in _records(value, f"{prefix}{name}.")
    ]


def _kept_paths(template: State) -> set[str]:
    """The state paths a chain whose state is shaped like ``template`` (``init([])``) keeps for each
    parameter."""
    return {path for path, leaf in _leaves(template) if leaf is not None}


def _layout(template: State) -> tuple[tuple[str, type], ...]:
    """A chain's state layout: its leaf paths and kinds, which change only with flags."""
    return tuple((path, type(leaf)) for path, leaf in _leaves(template))


def _counter_value(value: Any) -> Any:
    """A shared counter (a step count, NAdam's running product) as a hashable value."""
    return tuple(value.reshape(-1).tolist()) if isinstance(value, Tensor) else value


def check_names(
    owner: str, groups_here: Sequence[Mapping[str, Any]], saved_groups: Sequence[Mapping[str, Any]]
) -> None:
    """Refuse a state saved with parameter names (``model.named_parameters()``) whose names sit at other
    places here: groups or parameters given in another order, which a shape check misses where the
    shapes agree (two Linear(64, 64) layers), and each parameter would take another's state and lr.
    Places are compared only where the saved names are the names here; other names (a model renamed,
    compiled: ``_orig_mod.``, or a layer put before the others: ``0.`` now ``1.``) load by position, as
    torch's. ``owner`` names the optimizer in the message."""
    names_here = [name for group in groups_here for name in group.get("param_names", ())]
    names_saved = [name for group in saved_groups for name in group.get("param_names", ())]
    if set(names_here) != set(names_saved):
        return
    places: dict[str, tuple[int, int] | None] = {}
    for index, group in enumerate(groups_here):
        for position, name in enumerate(group.get("param_names", ())):
            places[name] = None if name in places else (index, position)  # a name given twice: unread
    for index, group in enumerate(saved_groups):
        for position, name in enumerate(group.get("param_names", ())):
            here = places.get(name)
            if here is not None and here != (index, position):
                raise OptimlabError(
                    f"{owner} cannot load this state_dict: its parameter {name!r} was saved at position "
                    f"{position} of param group {index}, and is at position {here[1]} of param group "
                    f"{here[0]} here. Give the param groups and their parameters in the order they were saved"
                )


class Optimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` that runs a gradient transformation per param group.

    Args:
        params: parameters or param groups, as for any torch optimizer; a group may override any
            hyperparameter (``{"params": ..., "lr": 0.1}``).
        transform: a factory of keyword hyperparameters returning a
            :class:`~optimlab.optim.base.GradientTransformation` (e.g. ``optimlab.optim.adam``), or a
            registry :class:`~optimlab.registry.Entry`, whose ranges then validate every value.
        fused: ``None`` (default): torch's fused kernels where they compute the chain's update
            exactly, and for other elementwise optimizers the chain compiled once compiling pays
            (never for a small or short run); ``True``: the same, compiling at the second step;
            ``False``: always the composed chain. ``optimizer.fused_path`` tells which path each
            group took (``None`` with ``False``). A factory that takes ``fused`` itself (a torch class
            by path, ``torch.optim:Adam``: torch's fused kernel) gets it in place of the shell.
        maximize: ascend the objective, as torch's optimizers take it: each step negates the
            gradient before anything else (weight decay included); a group may set its own.
        **hyperparameters: the factory's keywords; unknown names raise with close matches.

    Transforms with a train and an eval point (schedule-free) start in eval mode, like the authors'
    optimizers: call ``train()`` before stepping and ``eval()`` before evaluating or saving.

    >>> from optimlab.optim import adam
    >>> w = torch.nn.Parameter(torch.ones(2))
    >>> opt = Optimizer([w], adam, lr=0.1)
    >>> w.sum().backward(); opt.step(); w.detach()
    tensor([0.9000, 0.9000])
    """

    def __init__(
        self,
        params: Iterable[Any],
        transform: Factory | Entry,
        /,
        *,
        fused: bool | None = None,
        maximize: bool = False,
        **hyperparameters: Any,
    ) -> None:
        fused, maximize = check_shell_keywords(fused, maximize)
        entry = transform if isinstance(transform, Entry) else None
        self._entry = entry
        self._factory: Factory = entry.obj if entry else transform
        # builds a chain; an entry's names itself as the user called it where values conflict (heavy_ball)
        self._build: Factory = entry.call if entry else transform
        self._owner = (
            f"optimizer {entry.name!r}" if entry else getattr(self._factory, "__name__", "optimizer")
        )
        signature = inspect.signature(self._factory).parameters.values()
        factory_defaults = {p.name: p.default for p in signature if p.default is not inspect.Parameter.empty}
        if _FUSED in factory_defaults and fused is not None:
            # the factory's own switch (torch.optim:Adam's fused kernel), which the user means: the shell
            # has no chain of its own to fuse or compile in a wrapped class, and dropped it silently
            hyperparameters[_FUSED], fused = fused, None
        # maximize is the shell's, which negates the gradients: a factory that takes one too (a wrapped
        # torch.optim class) keeps its default, False, or it would negate them again and descend
        self._names = tuple(name for name in factory_defaults if name != _MAXIMIZE)
        self._decay_at = self._names.index("weight_decay") if "weight_decay" in self._names else None
        self._accepted = entry.hyperparameter_names if entry else self._names
        hyperparameters = {k: plain_numbers(v) for k, v in hyperparameters.items()}
        self._check(hyperparameters)
        hyperparameters = self._typed(hyperparameters)
        registered = {**factory_defaults, **(entry.defaults if entry else {})}
        defaults = {**registered, **hyperparameters}
        transform = self._build(**{k: current(v) for k, v in defaults.items()})
        self._modes = transform.set_mode is not None
        self._per_group = _counts_per_group(transform.init([]))
        if self._modes:
            defaults["train_mode"] = registered["train_mode"] = False
        defaults[_MAXIMIZE] = maximize
        # what load_state_dict fills a saved group's missing keys with: the optimizer's own defaults, not
        # this call's, as torch's __setstate__ fills a flag a group lacks (Adam's amsgrad: False)
        self._registered = {**registered, _MAXIMIZE: False}
        self._bound: dict[int, _Bound] = {}
        # each group's chain template of the state held in self.state (a bound chain's, a loaded state's)
        self._layouts: dict[int, State] = {}
        self._fused = fused
        self.fused_path = self._new_fused_path()
        super().__init__(params, defaults)

    def _new_fused_path(self) -> FusedPath | None:
        """The fused path; it compiles elementwise and layerwise optimizers (a custom factory if asked)."""
        if self._fused is False:
            return None
        if self._entry is None:
            return FusedPath(self._factory, compile="always" if self._fused else "never")
        if not self._entry.capabilities & _COMPILED_KINDS:
            return FusedPath(self._factory, compile="never")
        return FusedPath(self._factory, compile="always" if self._fused else "when_it_pays")

    def _check(self, hyperparameters: Mapping[str, Any], shell: Sequence[str] = SHELL_KEYWORDS) -> None:
        """Unknown names raise with close matches among the hyperparameters and the ``shell`` keywords
        taken there (``maximise=True`` is offered maximize); values are checked against the entry's ranges.

        A schedule is checked by name only: its values are its own business.
        """
        for name in hyperparameters:
            if name not in self._accepted:
                raise UnknownNameError(f"{self._owner} hyperparameter", name, (*self._accepted, *shell))
        if self._entry is not None:
            self._entry.validate({k: current(v) for k, v in hyperparameters.items() if not scheduled(v)})

    def _typed(self, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
        """Checked values, a whole float where the entry takes an integer as the int (``ns_steps: 5.0``)."""
        return self._entry.typed(hyperparameters) if self._entry is not None else dict(hyperparameters)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if not isinstance(param_group, dict):
            torch_method("add_param_group")(self, param_group)  # raises torch's TypeError, naming the type
        params = param_group["params"]
        if not isinstance(params, (Tensor, set)):  # a lone tensor and a set: torch's (a set it refuses)
            param_group["params"] = params = list(params)  # as torch lists it: a generator is read once
            self._check_unique([p[1] if isinstance(p, tuple) and len(p) == 2 else p for p in params])
        # Keys close to a hyperparameter or spelled nearly as maximize are typos (a group's 'maximise' had
        # descended), torch.optim's switches are not honoured here; other keys (a user's tags) pass, as in
        # torch.
        param_group.update({k: plain_numbers(v) for k, v in param_group.items() if k in self._accepted})
        if _MAXIMIZE in param_group:
            param_group[_MAXIMIZE] = plain_numbers(param_group[_MAXIMIZE])
            _check_maximize(param_group[_MAXIMIZE])
        self._check(
            {
                k: v
                for k, v in param_group.items()
                if k not in (*_TORCH_GROUP_KEYS, _MAXIMIZE)
                and (
                    k in self._accepted
                    or k in _TORCH_SWITCHES
                    or close_matches(k, self._accepted)
                    or difflib.get_close_matches(k.lower(), [_MAXIMIZE], cutoff=_MISSPELLING_CUTOFF)
                )
            },
            shell=(_MAXIMIZE,),
        )
        param_group.update(self._typed({k: v for k, v in param_group.items() if k in self._accepted}))
        if self._modes and self.param_groups:
            param_group.setdefault("train_mode", self.param_groups[0]["train_mode"])
        torch_method("add_param_group")(self, param_group)
        # A factory given without an entry is stepped as given; an entry says what its optimizer reads.
        kinds = self._entry.capabilities if self._entry is not None else _COMPILED_KINDS
        shaped = kinds & _READS_SHAPES or not kinds & _COMPILED_KINDS
        if shaped and any(p.is_complex() for p in self.param_groups[-1]["params"]):
            self.param_groups.pop()
            raise OptimlabError(
                f"{self._owner} does not take complex parameters: it reads a tensor's shape (factored "
                "statistics, matrices, 1-D ones left out), which a complex tensor's real and imaginary "
                "parts would change. Give them to an elementwise optimizer (adam, sgd, ...) in an optimizer "
                "of their own."
            )

    def _check_unique(self, params: Sequence[Any]) -> None:
        """Refuse a parameter given twice in a group: torch.optim steps it twice a step, its state twice,
        and warns that this will be an error (pytorch/pytorch#40967); the chain's lists would hold its
        state twice under one count, which is neither."""
        first: dict[int, int] = {}
        for position, p in enumerate(params):  # tensors, those of (name, tensor) pairs taken out
            if not isinstance(p, Tensor):  # torch refuses it as no tensor
                continue
            earlier = first.setdefault(id(p), position)
            if earlier != position:
                raise OptimlabError(
                    f"{self._owner} got a parameter twice in one param group: positions {earlier} and "
                    f"{position} (shape {tuple(p.shape)}); give each parameter once"
                )

    def zero_grad(self, set_to_none: bool = True) -> None:
        torch_method("zero_grad")(self, set_to_none)

    # -- state: lists in the chain, per-parameter dicts in self.state --------------------------------

    def _bind(self, index: int, group: dict[str, Any], params: list[Tensor]) -> _Bound:
        """The group's transform and list states for ``params``, rebuilt only where something changed."""
        bound = self._bound.get(index)
        values = tuple(current(group[name]) for name in self._names)
        if bound is not None and bound.values == values:
            transform, template, layout = bound.transform, bound.template, bound.layout
        else:
            transform = self._build(**dict(zip(self._names, values)))
            template = transform.init([])
            layout = _layout(template)
        if (
            bound is not None
            and bound.layout == layout
            and len(bound.params) == len(params)
            and all(a is b for a, b in zip(bound.params, params))
        ):
            if transform is bound.transform:
                return bound
            if self._decay_at is not None and values[self._decay_at] != bound.values[self._decay_at]:
                # the only value the check reads; an lr a scheduler writes each step rebinds without it
                self._check_sparse(index, group, dict(zip(self._names, values)))
            return bound._replace(values=values, transform=transform, template=template)
        if bound is not None:
            self._release(index, bound)
        self._take_layout(index, group, template)
        self._check_sparse(index, group, dict(zip(self._names, values)))  # parameters with new gradients
        if self._per_group:
            counters = self._group_counters(group, template)
            cohorts = (self._cohort(transform, template, params, counters),)
        else:
            cohorts = tuple(
                self._cohort(transform, template, members) for members in self._by_counters(template, params)
            )
        return _Bound(values, transform, layout, template, tuple(params), cohorts)

    def _take_layout(self, index: int, group: dict[str, Any], template: State) -> None:
        """Make ``template`` the layout of group ``index``'s state, carrying what a changed flag moved
        from the layout its state is in: the bound chain's, or the one a loaded state was saved in."""
        previous = self._layouts.get(index)
        if previous is not None and _layout(previous) != _layout(template):
            self._carry_moved(group, previous, template)
        self._layouts[index] = template

    def _carry_moved(self, group: dict[str, Any], old: State, new: State) -> None:
        """Move the state of each transform a changed flag moved in the chain to its new place, as
        torch's optimizers keep their state when a flag changes mid-run: with ``decoupled_weight_decay``
        Adam's moments come before the decay (``0.mu``), without it after (``1.mu``); RMSprop's average
        sits in a chain with the momentum (``1.0.nu``) or alone (``1.nu``). A transform is matched by
        its state record's type, in chain order; a record with no place now stays, unread (torch keeps
        a momentum buffer switched off, and takes it up again when switched back on)."""
        before, after = _records(old), _records(new)
        moved: dict[str, str] = {}
        for path, kind in before:
            was = [p for p, k in before if k is kind]
            now = [p for p, k in after if k is kind]
            if len(was) == len(now) and now[was.index(path)] != path:
                moved[path] = now[was.index(path)]
        if not moved:
            return

        def carried(state: dict[str, Any]) -> dict[str, Any]:
            kept = {k: v for k, v in state.items() if k.rpartition(".")[0] not in moved}
            for key, value in state.items():
                record, _, field = key.rpartition(".")
                if record in moved:
                    kept[f"{moved[record]}.{field}"] = value
            return kept

        for p in group["params"]:
            if self.state.get(p):
                self.state[p] = carried(self.state[p])
        if _COUNTERS in group:
            group[_COUNTERS] = carried(group[_COUNTERS])

    def _check_sparse(self, index: int, group: dict[str, Any], values: Mapping[str, Any]) -> None:
        """Refuse a sparse gradient (``nn.Embedding(sparse=True)``) where torch's optimizer of the name
        refuses it: every optimizer but those flagged ``SPARSE_GRADIENTS`` (torch has no sparse update of
        the others), and those under weight decay (torch's SGD and Adagrad fail on it)."""
        params = enumerate(group["params"])
        i, p = next(
            ((i, p) for i, p in params if p.grad is not None and p.grad.layout != torch.strided), (0, None)
        )
        if p is None:
            return
        where = f"parameter {i} of param group {index} (shape {tuple(p.shape)}) has a sparse gradient"
        # a registered optimizer's factory given as it is (Optimizer(params, sgd)) is that optimizer
        entries = (
            [self._entry] if self._entry else [e for e in get_registry("optimizer") if e.obj is self._factory]
        )
        takes = any(Capability.SPARSE_GRADIENTS in e.capabilities for e in entries)
        if not takes:
            raise OptimlabError(
                f"{self._owner} does not take sparse gradients, as torch's Adam and the others do not: "
                f"{where} (nn.Embedding(sparse=True)). Use sparse=False, or give that parameter to sgd or "
                "adagrad, which take them, in an optimizer of its own"
            )
        decay = values.get("weight_decay", 0.0)
        if scheduled(decay) or current(decay) != 0:
            raise OptimlabError(
                f"{self._owner} takes sparse gradients only without weight decay, as torch's does: {where} "
                f"and its group's weight_decay is {decay}. Set weight_decay=0 in that parameter's group, or "
                "use nn.Embedding(sparse=False)"
            )

    def _cohort(
        self,
        transform: GradientTransformation,
        template: State,
        members: list[Tensor],
        counters: Mapping[str, Any] | None = None,
    ) -> _Cohort:
        convert = any(
            p.is_complex() or (p.grad is not None and p.grad.layout != torch.strided) for p in members
        )
        tensors = tuple(steppable(members))
        state = self._load(transform, template, members, tensors, counters)
        return _Cohort(tuple(members), state, tensors, convert)

    def _group_counters(self, group: dict[str, Any], template: State) -> dict[str, Any]:
        """A group's counters (of a chain counting per group), the chain's initial ones where unknown.

        A state saved before counters moved to the group holds them per parameter: taken from there."""
        saved = group.get(_COUNTERS, {})
        held = next((self.state[p] for p in group["params"] if self.state.get(p)), {})
        return {
            path: saved.get(path, held.get(path, leaf))
            for path, leaf in _leaves(template)
            if _is_counter(leaf)
        }

    def _count_a_step_without_gradients(self, index: int, group: dict[str, Any]) -> None:
        """Advance the counters of a group none of whose parameters has a gradient, as the authors'
        code does: the chain steps one empty tensor, which moves nothing but its counters."""
        bound = self._bound.pop(index, None)
        if bound is not None:
            self._release(index, bound)
        transform = self._build(**{name: current(group[name]) for name in self._names})
        template = transform.init([])
        self._take_layout(index, group, template)  # a flag switched at this step moved the counters
        counters = self._group_counters(group, template)
        like = group["params"][0] if group["params"] else torch.empty(0)
        empty = [torch.empty(0, dtype=like.real.dtype, device=like.device)]
        state = _rebuild(transform.init(empty), lambda path, leaf: counters.get(path, leaf))
        _, state = transform.update(empty, state, empty)
        group[_COUNTERS] = {path: leaf for path, leaf in _leaves(state) if _is_counter(leaf)}

    def _release(self, index: int, bound: _Bound) -> None:
        """Write a group's list state into ``self.state``, and counters kept per group into the group."""
        for cohort in bound.cohorts:
            self._store(cohort.params, cohort.state)
        if self._per_group:
            state = bound.cohorts[0].state
            self.param_groups[index][_COUNTERS] = {p: v for p, v in _leaves(state) if _is_counter(v)}

    def _by_counters(self, template: State, params: list[Tensor]) -> list[list[Tensor]]:
        """``params`` split by the values of their stored counters (missing ones count as ``None``)."""
        paths = [path for path, leaf in _leaves(template) if leaf is not None and not isinstance(leaf, list)]
        cohorts: dict[tuple[Any, ...], list[Tensor]] = {}
        for p in params:
            state = self.state.get(p, {})
            key = tuple(_counter_value(state[path]) if path in state else None for path in paths)
            cohorts.setdefault(key, []).append(p)
        return list(cohorts.values())

    def _store(self, params: Iterable[Tensor], state: State, *, keep_existing: bool = False) -> None:
        """Write list state into the per-parameter dicts of ``self.state`` (counters too, unless they are
        the group's), settled (:func:`_settled`)."""
        params = list(params)
        for path, leaf in _leaves(_settled(state)):
            if leaf is None or (self._per_group and _is_counter(leaf)):
                continue
            per_param = leaf if isinstance(leaf, list) else [leaf] * len(params)
            for p, value in zip(params, per_param):
                if keep_existing:
                    self.state[p].setdefault(path, value)
                else:
                    self.state[p][path] = value

    def _load(
        self,
        transform: GradientTransformation,
        template: State,
        params: list[Tensor],
        tensors: Sequence[Tensor],
        counters: Mapping[str, Any] | None = None,
    ) -> State:
        """List state for a cohort's ``params`` (stepped as ``tensors``) from ``self.state``, initialising
        what is missing; the counters from ``counters`` where given (the group's)."""
        transient = _transient(template)
        paths = [
            path
            for path, leaf in _leaves(template)
            if leaf is not None and (counters is None or isinstance(leaf, list)) and path not in transient
        ]
        missing = [i for i, p in enumerate(params) if not all(path in self.state[p] for path in paths)]
        if missing:
            fresh = transform.init([tensors[i] for i in missing])
            self._store([params[i] for i in missing], fresh, keep_existing=True)

        def leaf(path: str, kind: Any) -> Any:
            if kind is None:
                return None
            if path in transient:  # live objects, None where a loaded state left them out
                return [self.state[p].get(path) for p in params]
            if isinstance(kind, list):
                return [self.state[p][path] for p in params]
            if counters is not None:
                return counters[path]
            return self.state[params[0]][path]  # a counter: the cohort's members agree on it

        return _rebuild(template, leaf)

    def _flush(self) -> None:
        for index, bound in self._bound.items():
            self._release(index, bound)

    def state_dict(self) -> dict[str, Any]:
        """torch's, less the scheduled hyperparameters: a schedule is code, not state (torch's LambdaLR
        leaves its functions out too), and the optimizer built again from its recipe has it; less the
        live objects of ``transient`` fields, which the chain builds again from the rest; and less the
        state of a flag switched off (momentum set to 0, amsgrad to False), which the group's chain no
        longer keeps and :meth:`load_state_dict` would refuse as another optimizer's; less the None of an
        ``unsaved_when_none`` field (:mod:`optimlab.optim.base`), which a load makes again by ``init``."""
        self._flush()
        state = torch_method("state_dict")(self)
        groups = [{k: v for k, v in g.items() if not scheduled(v)} for g in state["param_groups"]]
        kept: dict[int, dict[str, Any]] = {}
        for group, saved in zip(self.param_groups, state["param_groups"]):
            template = self._build(**{name: current(group[name]) for name in self._names}).init([])
            paths = _kept_paths(template) - _transient(template)
            unsaved_when_none = _transient(template, attribute="unsaved_when_none")
            for i in saved["params"]:
                if i in state["state"]:
                    kept[i] = {
                        k: v
                        for k, v in state["state"][i].items()
                        if k in paths and not (v is None and k in unsaved_when_none)
                    }
        return {**state, "state": kept, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's; each group keeps the schedules it has, which :meth:`state_dict` leaves out, and a
        hyperparameter a saved group lacks (saved before the optimizer took it) is the optimizer's own
        default, whatever this optimizer was built with, as torch's ``__setstate__`` fills the flags.
        The chain of each loaded group is the layout its state was saved in: a flag switched before
        the next step moves that state as a switch after a step does (:meth:`_carry_moved`)."""
        saved_groups = state_dict.get("param_groups", [])
        if len(saved_groups) != len(self.param_groups):  # zipped below, the extra groups would be lost
            raise OptimlabError(
                f"{self._owner} cannot load this state_dict: it holds {len(saved_groups)} param groups, and "
                f"the optimizer has {len(self.param_groups)}; give the param groups it was saved with"
            )
        kept = [{k: v for k, v in g.items() if scheduled(v)} for g in self.param_groups]
        groups = [{**self._registered, **mine, **saved} for mine, saved in zip(kept, saved_groups)]
        state_dict = {**state_dict, "param_groups": groups}
        templates = self._check_layout(state_dict)
        torch_method("load_state_dict")(self, state_dict)
        self._bound.clear()
        self._layouts = dict(enumerate(templates))

    def _check_layout(self, state_dict: dict[str, Any]) -> list[State]:
        """Refuse per-parameter state this optimizer does not keep (torch.optim.Adam's ``exp_avg``
        loaded into optimlab's adam): torch would load it, and every step would ignore it. Refuse too
        param groups that hold another optimizer's hyperparameters or torch.optim's switches (an sgd's
        loaded into adam: its momentum would be ignored), and state whose shape is not its parameter's
        (groups given in another order): the foreach ops of a step read past such a tensor's end (a
        segfault or a silent update). Returns each group's chain template (``init([])``)."""
        check_names(self._owner, self.param_groups, state_dict.get("param_groups", []))
        others = {  # optimlab's own optimizers' (a user's torch optimizer registered by path takes anything)
            name
            for entry in get_registry("optimizer")
            if Capability.USER not in entry.capabilities
            for name in entry.hyperparameter_names
        }
        # an entry binds some of its factory's keywords (nesterov's): its groups hold them too
        foreign = (others | _TORCH_SWITCHES) - {*self._accepted, *self._names}
        templates = []
        for index, group in enumerate(state_dict.get("param_groups", [])):
            own = self.param_groups[index]  # load_state_dict refused other group counts first
            # a key this optimizer's own group holds too is the user's tag (add_param_group passes those)
            foreign_keys = [k for k in group if k in foreign and k not in own]
            transform = self._build(**{name: current(group[name]) for name in self._names})
            template = transform.init([])
            templates.append(template)
            kept = _kept_paths(template)
            for position, param_id in enumerate(group.get("params", [])):
                saved = state_dict.get("state", {}).get(param_id, {})
                unkept = set(saved) - kept
                if unkept:
                    raise OptimlabError(
                        f"{self._owner} cannot load this state_dict: it holds {', '.join(sorted(unkept))}, "
                        f"which {self._owner} does not keep "
                        f"(it keeps {', '.join(sorted(kept)) or 'nothing'}). "
                        "It was saved by another optimizer (torch.optim.Adam keeps step, exp_avg, "
                        "exp_avg_sq); load a state_dict saved by the same optimlab optimizer"
                    )
                if len(own["params"]) == len(group["params"]):  # torch refuses groups of other sizes itself
                    self._check_shapes(transform, saved, own["params"][position], index, position)
            if foreign_keys:
                raise OptimlabError(
                    f"{self._owner} cannot load this state_dict: its param group {index} holds "
                    f"{', '.join(foreign_keys)}, which {self._owner} does not take. It was saved by another "
                    "optimizer; load a state_dict saved by the same optimlab optimizer"
                )
        return templates

    def _check_shapes(
        self,
        transform: GradientTransformation,
        saved: Mapping[str, Any],
        param: Tensor,
        index: int,
        position: int,
    ) -> None:
        """Refuse a parameter's saved state whose tensors are not shaped as this optimizer keeps them for
        ``param`` (its state built on the meta device: shapes, no memory)."""
        with _MetaLikesContiguous():
            template = transform.init(steppable([param.detach().to("meta")]))
        # a list leaf is empty where this parameter keeps no such state (Muon's AdamW part for a matrix),
        # holds None where the state comes at the first step (Adan's previous gradient): not checked
        shapes = {
            path: leaf[0].shape if leaf else None
            for path, leaf in _leaves(template)
            if isinstance(leaf, list) and (not leaf or isinstance(leaf[0], Tensor))
        }
        for path, value in saved.items():
            if path not in shapes or not (value is None or isinstance(value, Tensor)):
                continue
            # None where a tensor is kept here (or the reverse): a field of a parameter of another rank
            # (Adafactor's row/col for a matrix, nu for a vector)
            shape = None if value is None else value.shape
            if shape != shapes[path]:
                found, expected = ("none" if s is None else tuple(s) for s in (shape, shapes[path]))
                raise OptimlabError(
                    f"{self._owner} cannot load this state_dict: parameter {position} of param group {index} "
                    f"has shape {tuple(param.shape)}, and its saved {path} has shape {found} "
                    f"(expected {expected}). The state was saved for other parameters: give the param "
                    "groups and their parameters in the order they were saved"
                )

    def __getstate__(self) -> dict[str, Any]:
        self._flush()
        state = dict(self.__dict__)
        state["_bound"] = {}
        state["fused_path"] = self._new_fused_path()  # compiled code is not copied: a copy compiles anew
        return state

    # -- stepping and modes -------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; ``closure`` re-evaluates the loss first."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            if self._modes and not group["train_mode"]:
                raise OptimlabError(
                    f"{self._owner} is in eval mode: call optimizer.train() before optimizer.step() "
                    "(and optimizer.eval() before evaluating)."
                )
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                if self._per_group:
                    self._count_a_step_without_gradients(index, group)
                continue
            bound = self._bind(index, group, params)
            fused = self.fused_path  # its hyperparameters built once a group, not once a cohort
            hyperparameters = dict(zip(self._names, bound.values)) if fused is not None else {}
            for number, cohort in enumerate(bound.cohorts):
                tensors, grads = cohort.tensors, [p.grad for p in cohort.params]
                if cohort.convert:
                    grads = steppable(grads)
                if group.get(_MAXIMIZE, False):  # a state saved before maximize was kept has none
                    grads = [-g for g in grads]
                state = cohort.state
                if torch.compiler.is_compiling():
                    # Traced by the user's torch.compile(optimizer.step), a float of the state (NAdam's
                    # momentum product, schedule-free's weight sum) is a constant of the graph, which
                    # recompiled at each new value: every step, until torch's limit of 8 left the step
                    # uncompiled. As a 0-d tensor, kept in the state from then on, it is an input.
                    state = lift_floats(state)

                def eager(
                    transform: GradientTransformation = bound.transform,
                    tensors: Sequence[Tensor] = tensors,
                    grads: list[Tensor] = grads,
                    state: State = state,
                ) -> State:
                    return apply_updates(transform, grads, state, tensors)

                if fused is None:
                    state = eager()
                else:
                    key = (index, number) if number else index
                    state = fused.step(key, hyperparameters, tensors, grads, state, eager)
                cohort.state = state
            self._bound[index] = bound  # new where _bind rebuilt it; its cohorts' states written in place
        return loss

    def train(self) -> None:
        """Put the parameters at the point where gradients are taken (schedule-free ``y``)."""
        self._set_mode(True)

    def eval(self) -> None:
        """Put the parameters at the point to evaluate (schedule-free ``x``)."""
        self._set_mode(False)

    @torch.no_grad()
    def _set_mode(self, train: bool) -> None:
        if not self._modes:
            return
        for index, group in enumerate(self.param_groups):
            if group["train_mode"] == train:
                continue
            params = [p for p in group["params"] if self.state.get(p)]
            if params:  # parameters without state are still at their start, where every point agrees
                bound = self._bind(index, group, params)
                for c in bound.cohorts:
                    c.state = bound.transform.set_mode(c.tensors, c.state, train)
                self._release(index, bound)
                # The next step binds the parameters with a gradient, and sees what their gradients are.
                self._bound.pop(index, None)
            group["train_mode"] = train


class _MetaLikesContiguous(torch.overrides.TorchFunctionMode):
    """``zeros_like`` and its kin (and ``clone``) of a meta tensor laid out contiguously: their default
    ``preserve_format`` runs torch's Python meta rule for strides, which imports sympy on first use
    (484 modules: seconds at the first ``load_state_dict`` of a process, ``optimlab train --resume``'s;
    ``benchmarks/resume_load.py``). A state's shape, all :meth:`_check_shapes` reads, is the same."""

    _LIKES = frozenset(
        {torch.zeros_like, torch.empty_like, torch.ones_like, torch.full_like, torch.clone, Tensor.clone}
    )

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = dict(kwargs or {})
        if func in self._LIKES and args and isinstance(args[0], Tensor) and args[0].is_meta:
            kwargs.setdefault("memory_format", torch.contiguous_format)
        return func(*args, **kwargs)
