"""A finding: what the doctor saw, the numbers that show it, and the change that fixes it.

Findings are ranked so that the root cause comes first: by severity, then by the strength of their
evidence, except that a finding which *explains* another (inputs on the scale 0..255 explain exploding
gradients and NaN) is placed before it and its severity is raised to that of the worst finding it
explains. The explained finding stays in the
list, marked ``consequence_of``, so nothing the instruments saw is hidden.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["SEVERITIES", "Finding", "Severity", "rank"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")  # most severe first


@dataclasses.dataclass(frozen=True)
class Finding:
    """One diagnosed problem.

    Attributes:
        rule: the name of the rule that found it (``optimlab.doctor.rules``).
        severity: ``error`` (training fails or is badly hurt), ``warning`` (likely hurts), ``info``.
        title: one line, e.g. "Vanishing gradients: net.0 gets 3e-09 of the best-fed hidden layer's gradient per parameter".
        explanation: what was seen, naming layers, steps and numbers.
        recommendation: the change, in optimlab's vocabulary ("init: kaiming_normal for relu layers").
        recipe_changes: the same change as dotted recipe fields, ``{"model.init": "kaiming_normal"}``.
        evidence: the numbers behind it, JSON-serialisable.
        score: strength of the evidence, how far past its threshold (log10 units); ranks equal severities.
        explains: rules whose findings this one causes; they are ranked after it.
        consequence_of: filled by :func:`rank`: the findings present that explain this one.
    """

    rule: str
    severity: Severity
    title: str
    explanation: str
    recommendation: str
    recipe_changes: dict[str, Any] = dataclasses.field(default_factory=dict)
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    score: float = 0.0
    explains: tuple[str, ...] = ()
    consequence_of: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def rank(findings: Sequence[Finding]) -> list[Finding]:
    """Causes before the findings they explain, then by severity, then by score (strongest first).

    Explanation is transitive (a too-high lr kills units, dead units starve earlier layers of
    gradient): a finding's depth is the length of the longest chain of present findings explaining it,
    and a cause takes the severity of the worst finding downstream of it. If 0..255 inputs (a warning)
    explain a NaN (an error), the input scale is what to fix first. Two findings that explain each
    other cancel out and are ranked on their own merits.
    """
    present = {f.rule: f for f in findings}
    edges = {
        f.rule: [r for r in f.explains if r in present and r != f.rule and f.rule not in present[r].explains]
        if f.severity != "info"
        else []
        for f in findings
    }  # a mere observation is nobody's root cause
    causes = {f.rule: tuple(c for c in present if f.rule in edges[c]) for f in findings}

    def downstream(rule: str, seen: frozenset[str] = frozenset()) -> set[str]:
        reached = set()
        for effect in edges[rule]:
            if effect not in seen:
                reached |= {effect} | downstream(effect, seen | {rule})
        return reached

    def depth(rule: str, seen: frozenset[str] = frozenset()) -> int:
        return max((1 + depth(c, seen | {rule}) for c in causes[rule] if c not in seen), default=0)

    def severity_of(finding: Finding) -> int:
        return min(SEVERITIES.index(present[r].severity) for r in {finding.rule} | downstream(finding.rule))

    marked = [
        dataclasses.replace(f, severity=SEVERITIES[severity_of(f)], consequence_of=causes[f.rule])
        for f in findings
    ]
    return sorted(marked, key=lambda f: (SEVERITIES.index(f.severity), depth(f.rule), -f.score))
