"""A finding: what the doctor saw, the numbers that show it, and the change that fixes it.

Findings are ranked so that the root cause comes first: by severity, then by the strength of their
evidence, except that a finding which *explains* another (inputs on the scale 0..255 explain exploding
gradients and NaN) is placed before it and takes on its severity. The explained finding stays in the
list, marked ``consequence_of``, so nothing the instruments saw is hidden.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["Finding", "Severity", "SEVERITIES", "rank"]

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")  # most severe first


@dataclasses.dataclass(frozen=True)
class Finding:
    """One diagnosed problem.

    Attributes:
        rule: the name of the rule that found it (``optimlab.doctor.rules``).
        severity: ``error`` (training fails or is badly hurt), ``warning`` (likely hurts), ``info``.
        title: one line, e.g. "Vanishing gradients: net.0 gets 3e-09 of the output layer's gradient".
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

    A cause takes the severity of the worst finding it explains: if 0..255 inputs (a warning) explain a
    NaN (an error), the input scale is what to fix first. Two findings that explain each other cancel
    out and are ranked on their own merits.
    """
    present = {f.rule: f for f in findings}
    causes = {
        f.rule: tuple(c.rule for c in findings if f.rule in c.explains and c.rule != f.rule
                      and c.rule not in f.explains)
        for f in findings
    }

    def severity_of(finding: Finding) -> int:
        own = SEVERITIES.index(finding.severity)
        explained = [SEVERITIES.index(present[r].severity) for r in finding.explains
                     if r in present and finding.rule in causes[r]]
        return min([own, *explained])

    marked = [dataclasses.replace(f, consequence_of=causes[f.rule]) for f in findings]
    return sorted(marked, key=lambda f: (severity_of(f), bool(f.consequence_of), -f.score))
