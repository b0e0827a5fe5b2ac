"""The common ground of wrapper optimizers: a base optimizer, shared param groups, one state dict.

A wrapper (Lookahead, SAM) steps a *base* optimizer and does something around that step. It shares
the base's param groups (the same list of the same dicts), so an lr scheduler attached to the wrapper
drives the base, and ``add_param_group`` reaches both. Its state dict is the base's, in torch's
format, with the wrapper's own per-parameter tensors added under prefixed keys
(``"lookahead.slow_param"``), so checkpoints hold one dict and any code that reads ``state`` works;
the state-dict hooks registered on the wrapper (``register_state_dict_pre_hook`` and the like) run as
torch's own ``state_dict`` and ``load_state_dict`` run them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor

from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.optim.shells.torch_optim import Optimizer, check_names, torch_method
from optimlab.optim.user import needs_closure
from optimlab.registry import Capability, Entry, get_registry

__all__ = ["BaseSpec", "WrappedOptimizer", "base_entry", "base_optimizer", "closure_base_refused"]

BaseSpec = str | type[torch.optim.Optimizer] | None  # a registered name or a torch.optim class


def base_entry(base: str, owner: str) -> Entry:
    """The registry entry of the base optimizer ``base`` of wrapper ``owner``; a name no entry has raises
    naming the wrapper's ``base`` with close matches (not as if the wrapper's own name were unknown)."""
    registry = get_registry("optimizer")
    try:
        return registry.get(base)
    except UnknownNameError as error:
        raise UnknownNameError(f"base optimizer of {owner!r}", base, error.accepted) from None


def closure_base_refused(owner: str, base: object) -> InvalidValueError:
    """The refusal of a base whose step needs a closure by wrapper ``owner``, which steps its base without
    one (SAM: at the gradients of w + e, davda54/sam's second_step)."""
    return InvalidValueError(
        f"{owner} base",
        base,
        "an optimizer that steps without a closure (not sam, nor one around it, nor torch's LBFGS)",
    )


def base_optimizer(
    params: Iterable[Any] | torch.optim.Optimizer,
    base: BaseSpec,
    base_hyperparameters: Mapping[str, Any] | None,
    *,
    default: str,
    owner: str,
) -> torch.optim.Optimizer:
    """The optimizer to wrap: ``params`` itself if it is one, else ``base`` built over ``params``.

    ``base`` is an optimlab registry name (validated, with close matches on a typo) or a
    ``torch.optim.Optimizer`` subclass; None means ``default``. ``base_hyperparameters`` go to it.
    """
    if isinstance(params, torch.optim.Optimizer):
        if base is not None or base_hyperparameters:
            raise InvalidValueError(
                f"{owner} base", base, "nothing when wrapping an optimizer instance (it is the base)"
            )
        return params
    base = default if base is None else base
    hyperparameters = dict(base_hyperparameters or {})
    if isinstance(base, str):
        entry = base_entry(base, owner)
        if Capability.WRAPPER in entry.capabilities:  # a wrapper of a wrapper, its own base at its default
            return entry.create(params, **hyperparameters)
        return Optimizer(params, entry, **hyperparameters)
    if isinstance(base, type) and issubclass(base, torch.optim.Optimizer):
        return base(params, **hyperparameters)
    raise InvalidValueError(
        f"{owner} base", base, "an optimlab optimizer name, a torch.optim.Optimizer subclass or instance"
    )


class WrappedOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` that steps ``base_optimizer``; subclasses define ``step``.

    ``self.state[p]`` holds the wrapper's own per-parameter tensors (stored in state dicts as
    ``f"{state_prefix}.{key}"``); the base keeps its own state.
    """

    state_prefix = "wrapper"

    def __init__(self, base: torch.optim.Optimizer) -> None:
        # torch's constructor registers the base's groups into a new list; the list is then replaced by
        # the base's own, so that both always see the same groups (see add_param_group).
        super().__init__(base.param_groups, base.defaults)
        self.base_optimizer = base
        self.param_groups = base.param_groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        base = self.__dict__.get("base_optimizer")
        if base is None:  # torch.optim.Optimizer.__init__ registering the base's existing groups
            torch_method("add_param_group")(self, param_group)  # no Dynamo import (see torch_method)
        else:
            base.add_param_group(param_group)

    def _parameters(self) -> list[Tensor]:
        """All parameters in torch's state-dict order (group by group)."""
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        for (
            pre_hook
        ) in self._optimizer_state_dict_pre_hooks.values():  # torch's hooks, run as torch runs them
            pre_hook(self)
        packed = self.base_optimizer.state_dict()
        state = dict(packed["state"])  # the base's per-parameter dicts are its live ones: copy, not update
        for index, p in enumerate(self._parameters()):
            own = self.state.get(p)
            if own:
                state[index] = {
                    **state.get(index, {}),
                    **{f"{self.state_prefix}.{k}": v for k, v in own.items()},
                }
        state_dict = {**packed, "state": state, **self._own_hyperparameters()}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            returned = post_hook(self, state_dict)
            state_dict = state_dict if returned is None else returned
        return state_dict

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            returned = pre_hook(self, state_dict)
            state_dict = state_dict if returned is None else returned
        prefix = f"{self.state_prefix}."
        check_names(self.state_prefix, self.param_groups, state_dict.get("param_groups", []))
        self._check_shapes(state_dict, prefix)
        base_state = {
            index: {k: v for k, v in entry.items() if not k.startswith(prefix)}
            for index, entry in state_dict["state"].items()
        }
        saved_groups = state_dict.get("param_groups", [])
        own = [
            self._group_settings(group, f"param group {i} of the state_dict")
            for i, group in enumerate(saved_groups)
        ]
        self._load_own_hyperparameters(state_dict)
        # the wrapper's keys (SAM's per-group rho) are none of the base's, which would refuse them as foreign
        groups = [{k: v for k, v in group.items() if k not in mine} for group, mine in zip(saved_groups, own)]
        self.base_optimizer.load_state_dict({**state_dict, "state": base_state, "param_groups": groups})
        self.param_groups = self.base_optimizer.param_groups  # torch's load builds a new group list
        for group, mine in zip(self.param_groups, own):
            group.update(mine)
        self.state = defaultdict(dict)
        for index, p in enumerate(self._parameters()):
            for key, value in state_dict["state"].get(index, {}).items():
                if key.startswith(prefix):
                    self.state[p][key[len(prefix) :]] = value.to(device=p.device, dtype=p.dtype, copy=True)
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def _group_settings(self, group: Mapping[str, Any], where: str) -> dict[str, Any]:
        """The wrapper's own keys ``group`` sets (SAM's per-group ``rho``), validated: none here."""
        return {}

    def _own_hyperparameters(self) -> dict[str, Any]:
        """The wrapper's own hyperparameters a state dict keeps under its prefix (SAM's rho): none here."""
        return {}

    def _load_own_hyperparameters(self, state_dict: Mapping[str, Any]) -> None:
        """Take the wrapper's own hyperparameters from ``state_dict`` (see :meth:`_own_hyperparameters`)."""

    def _check_shapes(self, state_dict: Mapping[str, Any], prefix: str) -> None:
        """Refuse, before anything loads, a saved tensor of the wrapper's own (each shaped as its parameter:
        Lookahead's slow weights) whose shape is not its parameter's here: param groups given in another
        order, which a base keeping no shaped state (SGD) loads, and the next sync failed on."""
        saved = state_dict.get("state", {})
        for index, p in enumerate(self._parameters()):
            for key, value in saved.get(index, {}).items():
                if key.startswith(prefix) and isinstance(value, Tensor) and value.shape != p.shape:
                    raise OptimlabError(
                        f"{self.state_prefix} cannot load this state_dict: parameter {index} (shape "
                        f"{tuple(p.shape)}) has a saved {key} of shape {tuple(value.shape)}. The state was "
                        "saved for other parameters: give the param groups and their parameters in the "
                        "order they were saved"
                    )

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # torch keeps only defaults, state and groups: the base would be lost

    @property
    def needs_closure(self) -> bool:
        """Whether ``step`` must be given a closure: where the base needs one (Lookahead around SAM or
        around LBFGS)."""
        return needs_closure(self.base_optimizer)

    def train(self) -> None:
        """Forward to the base (schedule-free bases have train and eval points); else nothing to do."""
        if hasattr(self.base_optimizer, "train"):
            self.base_optimizer.train()

    def eval(self) -> None:
        if hasattr(self.base_optimizer, "eval"):
            self.base_optimizer.eval()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none=set_to_none)
