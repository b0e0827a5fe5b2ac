"""Optimizers as chains of gradient transformations, with a ``torch.optim`` drop-in shell.

>>> import torch, optimlab.optim
>>> model = torch.nn.Linear(3, 1)
>>> opt = optimlab.optim.create("adamw", model.parameters(), lr=1e-3, weight_decay=0.1)
>>> isinstance(opt, torch.optim.Optimizer)
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from optimlab.errors import UnknownNameError
from optimlab.optim import optimizers  # noqa: F401  (every family registers, exported or not)
from optimlab.optim.base import GradientTransformation, chain, identity
from optimlab.optim.optimizers.adafactor import adafactor
from optimlab.optim.optimizers.adam import adam, adamax, adamw, amsgrad, nadam, radam
from optimlab.optim.optimizers.adan import adan
from optimlab.optim.optimizers.adaptive import adadelta, adagrad, rmsprop
from optimlab.optim.optimizers.layerwise import lamb, lars
from optimlab.optim.optimizers.muon import muon
from optimlab.optim.optimizers.schedule_free import schedule_free_adamw, schedule_free_sgd
from optimlab.optim.optimizers.sgd import momentum, nesterov, sgd
from optimlab.optim.optimizers.sign import lion
from optimlab.optim.shells.torch_optim import SHELL_KEYWORDS, Optimizer, check_shell_keywords, current
from optimlab.optim.transforms import (
    add_decayed_weights,
    clip_by_global_norm,
    clip_by_value,
    orthogonalize_by_newton_schulz,
    partition,
    scale,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_adan,
    scale_by_factored_rms,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_momentum,
    scale_by_nadam,
    scale_by_radam,
    scale_by_rms,
    scale_by_trust_ratio,
    schedule_free,
)
from optimlab.optim.user import check_torch_class, step_requires_closure
from optimlab.optim.wrappers import SAM, Lookahead
from optimlab.optim.wrappers.wrapper import base_entry as wrapped_base
from optimlab.optim.wrappers.wrapper import closure_base_refused
from optimlab.registry import Capability, new_registry

_REGISTRY = new_registry("optimizer")

# The API, every named optimizer and every transform (tests/optim/test_public_api.py keeps it complete).
__all__ = [
    "SAM",
    "GradientTransformation",
    "Lookahead",
    "Optimizer",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "adan",
    "add_decayed_weights",
    "amsgrad",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "create",
    "identity",
    "lamb",
    "lars",
    "lion",
    "momentum",
    "muon",
    "nadam",
    "nesterov",
    "orthogonalize_by_newton_schulz",
    "partition",
    "radam",
    "rmsprop",
    "scale",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_adan",
    "scale_by_factored_rms",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_momentum",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_trust_ratio",
    "schedule_free",
    "schedule_free_adamw",
    "schedule_free_sgd",
    "sgd",
]


def _split_wrapper_keywords(entry: Any, hyperparameters: dict[str, Any]) -> tuple[Any, dict, dict]:
    """A wrapper's ``base`` name, its own keywords, and the keywords of its base optimizer."""
    rest = dict(hyperparameters)
    base = rest.pop("base", None)
    own = {k: rest.pop(k) for k in entry.hyperparameter_names if k in rest}
    return base, own, rest


def _without_shell_keywords(entry: Any, hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """``hyperparameters`` less the shell's own keywords (fused, maximize) that ``entry`` does not take,
    each checked as the shell checks it; a factory that takes one (torch.optim:Adam's fused) keeps it."""
    check_shell_keywords(**{k: v for k, v in hyperparameters.items() if k in SHELL_KEYWORDS})
    return {
        k: v for k, v in hyperparameters.items() if k not in SHELL_KEYWORDS or k in entry.hyperparameter_names
    }


def validate(name: str, hyperparameters: dict[str, Any]) -> None:
    """Check ``name`` and its keywords as :func:`create` would, without building anything.

    For a wrapper, keywords other than its own (and ``base``) belong to its base optimizer.
    """
    entry = _REGISTRY.get(name)
    if Capability.WRAPPER not in entry.capabilities:
        # a tensor lr by its value
        values = {k: current(v) for k, v in _without_shell_keywords(entry, hyperparameters).items()}
        # an unknown name is listed with the shell's keywords, as the optimizer lists it (maximise)
        unknown = [k for k in values if k not in entry.hyperparameter_names]
        if unknown and not entry.takes_any_keyword:
            accepted = (*entry.hyperparameter_names, *SHELL_KEYWORDS)
            raise UnknownNameError(f"{entry.label} hyperparameter", unknown[0], accepted)
        if Capability.USER in entry.capabilities:  # the user's code is called when it builds, not here
            entry.validate(values)
            check_torch_class(entry, values)  # torch's own classes by path are built, as below
        else:
            # the values wrong together (sgd's nesterov without momentum), which the factory refuses; a
            # chain of transforms holds no tensors until its init, so building it costs microseconds
            entry.create(**values)
        return
    base, own, rest = _split_wrapper_keywords(entry, hyperparameters)
    entry.validate(own)
    if base is None or isinstance(base, str):  # a torch.optim class validates its own keywords
        base_entry = wrapped_base(base or entry.obj.default_base, entry.name)
        if (
            Capability.NEEDS_CLOSURE in entry.capabilities
            and Capability.NEEDS_CLOSURE in base_entry.capabilities
        ):
            raise closure_base_refused(entry.name, base_entry.name)  # as building it would
        # the shell's own keywords (fused, maximize) go to the base as create() gives them to any optimizer
        shell = {k: rest.pop(k) for k in SHELL_KEYWORDS if k in rest}
        accepted = {"base", *entry.hyperparameter_names, *base_entry.hyperparameter_names, *SHELL_KEYWORDS}
        for key in rest:
            if key not in base_entry.hyperparameter_names:
                raise UnknownNameError(
                    f"{entry.label} around {base_entry.name!r} hyperparameter", key, accepted
                )
        validate(base_entry.name, {**rest, **shell})
    elif Capability.NEEDS_CLOSURE in entry.capabilities and _class_needs_closure(base):
        raise closure_base_refused(entry.name, base)  # torch's LBFGS given as a class, as building it would


def _class_needs_closure(base: Any) -> bool:
    """Whether an optimizer class given as a wrapper's base steps only with a closure: it says so (a class
    attribute ``needs_closure = True``) or its step's closure has no default (torch's LBFGS)."""
    return isinstance(base, type) and (
        getattr(base, "needs_closure", False) is True or step_requires_closure(base)
    )


def create(name: str, params: Iterable[Any], **hyperparameters: Any) -> torch.optim.Optimizer:
    """The registered optimizer ``name`` as a ``torch.optim.Optimizer`` over ``params``.

    Names and values are validated against the registry entry: an unknown name or keyword raises with
    close matches, an out-of-range value names the accepted range. Wrappers (lookahead, sam) take a
    ``base`` optimizer name (their defaults: adam, sgd); their other keywords go to that base:
    ``create("sam", params, base="momentum", lr=0.1, rho=0.05)``.
    """
    entry = _REGISTRY.get(name)
    if Capability.WRAPPER in entry.capabilities:
        validate(name, hyperparameters)
        base, own, rest = _split_wrapper_keywords(entry, hyperparameters)
        return entry.create(params, base, rest, **own)
    optimizer = Optimizer(params, entry, **hyperparameters)  # its own checks first: names, ranges
    if Capability.USER in entry.capabilities:
        # torch's class by path (torch.optim:Adam) refuses lr=-1 here, as its constructor and validate do,
        # where the shell builds it only at the first step
        own = _without_shell_keywords(entry, hyperparameters)
        check_torch_class(entry, {k: current(v) for k, v in own.items()})
    return optimizer


from optimlab.optim.user import adapt_optimizer  # noqa: E402  (after the registry is filled: it imports it)

_REGISTRY.adapt_import = adapt_optimizer
