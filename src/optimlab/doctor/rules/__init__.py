"""Rules: small functions that turn the instruments' statistics into findings.

Each rule is registered in the ``doctor_rule`` registry with its paper; its thresholds are keyword
defaults of its signature, so ``optimlab.doctor.run_rules(stats, options={"dead_units":
{"warn_fraction": 0.5}})`` can change them and an out-of-range value is rejected by name. A rule
returns one :class:`~optimlab.doctor.findings.Finding` (or None): the worst layer it saw, the others in
its evidence. Its recommendation is written in optimlab's vocabulary (``init: kaiming_normal for relu
layers``) and repeated as dotted recipe fields (``{"model.init": "kaiming_normal"}``).

A rule states which other findings it *explains* (``explains``), when its evidence shows it is their
cause; :func:`~optimlab.doctor.findings.rank` uses this to put the root cause first.

One module per family of rules (inputs, init scale, gradients, activations, learning rate, training);
importing this package imports each, so a new module's rules register without an import to remember.
What several rules read from the statistics lives in ``_readings``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from optimlab.data.user_batches import describe
from optimlab.doctor.findings import Finding, rank
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import recommended_init
from optimlab.errors import InvalidValueError
from optimlab.registry import import_submodules, new_registry

__all__ = ["MODULES", "checked_options", "recommended_init", "rule_names", "run_rules"]

_REGISTRY = new_registry("doctor_rule")
MODULES = import_submodules(__name__)  # one module per family of rules; importing them registered them


def rule_names() -> list[str]:
    return _REGISTRY.names()


def checked_options(options: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    """``options`` by canonical rule name, each rule's thresholds checked against its accepted ranges.

    Raises :class:`~optimlab.errors.InvalidValueError` for what is not a mapping of rule names to
    mappings, and :class:`~optimlab.errors.UnknownNameError` for an unknown rule or threshold.
    """
    accepted = 'a mapping of rule names to thresholds, {"dead_units": {"warn_fraction": 0.5}}'
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InvalidValueError("rule_options", describe(options), accepted)
    checked = {}
    for name, keywords in options.items():
        if not isinstance(name, str) or not isinstance(keywords, Mapping):
            raise InvalidValueError("rule_options", describe({name: keywords}), accepted)
        entry = _REGISTRY.get(name)
        entry.validate(keywords)
        checked[entry.name] = keywords
    return checked


def run_rules(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Finding]:
    """Every registered rule over ``stats``, the findings ranked root cause first.

    ``options`` maps a rule's name to threshold keywords, checked against the rule's accepted ranges.
    """
    options = checked_options(options)
    found: dict[str, Finding | None] = {}

    def consult(name: str) -> Finding | None:
        """Rule ``name``'s finding at its thresholds in ``options``, computed once; a rule that reads
        another's verdict (lr_too_high) gets it from here, so it sees the thresholds the user gave."""
        if name not in found:
            entry = _REGISTRY.get(name)
            consults = (consult,) if "consult" in inspect.signature(entry.obj).parameters else ()
            found[name] = entry.create(stats, lr_range, *consults, **options.get(entry.name, {}))
        return found[name]

    return rank([finding for entry in _REGISTRY if (finding := consult(entry.name)) is not None])
