"""A finding: what the doctor saw, the numbers that show it, and the change that fixes it.

Findings are ranked so that the root cause comes first: by severity, then by the strength of their
evidence, except that a finding which *explains* another (inputs on the scale 0..255 explain exploding
gradients and NaN) is placed before it and its severity is raised to that of the worst finding it
explains. The explained finding stays in the
list, marked ``consequence_of``, so nothing the instruments saw is hidden.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from optimlab.errors import InvalidValueError
from optimlab.number_text import count_of

if TYPE_CHECKING:
    from optimlab.doctor.diagnose import Diagnosis

__all__ = [
    "DOCTOR_OPTIONS",
    "FIT_ARGUMENTS",
    "INPUTS_ONLY_NOTE",
    "SEVERITIES",
    "TORCH_CALLS",
    "UNVALUED",
    "Finding",
    "Setting",
    "Severity",
    "Summary",
    "advised_as",
    "checked_settings",
    "rank",
    "recipe_words",
    "summary",
]

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
        recommendation: the change, in the words of who runs the training (:func:`advised_as`): a recipe's
            fields ("init: kaiming_normal for relu layers"), torch's calls, a trainer's arguments. Only
            advice that sets a recipe field (or lowers the lr, :data:`UNVALUED`) opens with a recipe's
            section; a change to the user's code or data opens with the change itself ("guard the
            operation in ..."), under no section no field of its sets.
        recipe_changes: the same change as the keys that set it: dotted recipe fields
            (``{"model.init": "kaiming_normal"}``), a trainer's arguments, ``{}`` for a call in user code.
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


def recipe_words(field: str, value: Any) -> list[str]:
    """How the rules write the recipe change ``field`` = ``value`` in a recommendation: ``lr: 30`` for the
    lr, ``schedule: cosine`` for a section's name, the rest as the recipe's YAML, ``training:
    {grad_clip_norm: 1.0}``; the number as Python or to 3 digits says it."""
    section, name = field.split(".", 1)
    shown = [str(value)] + ([f"{value:.3g}"] if isinstance(value, float) else [])
    if field == "optimizer.lr":
        return [f"lr: {number}" for number in shown]
    if name == "name":
        return [f"{section}: {number}" for number in shown]
    return [f"{section}: {{{name}: {number}}}" for number in shown]


@dataclasses.dataclass(frozen=True)
class Setting:
    """How a recipe field is set where no recipe runs the training: ``name``, the setting's dotted key in
    ``recipe_changes`` (a trainer's argument), None for a call in the user's own code, which no key
    records; ``along``, the settings it needs set with it (``{"Trainer.gradient_clip_algorithm": "norm"}``),
    keys too; and ``said``, how the recommendation says it where it is a call the user writes,
    ``{value}`` the advised value (``"self.clip_gradients(optimizer, gradient_clip_val={value})"``)."""

    name: str | None
    along: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    said: str = ""

    def changes(self, value: Any) -> dict[str, Any]:
        """The recipe_changes of the field set to ``value``: one key per setting, none for a call."""
        return {} if self.name is None else {**self.along, self.name: value}

    @property
    def an_argument(self) -> bool:
        """Whether it is an argument the user sets (said by its own name), not a call written in code."""
        return self.name is not None and (not self.said or self.said.startswith(self.name))

    @property
    def named(self) -> str:
        """The setting named without a value, as advice that gives none says it (``lower lr in the
        optimizer``): its words with ``={value}`` left out, else its name."""
        return self.said.replace("={value}", "") if self.said else str(self.name)

    def text(self, value: Any) -> str:
        """The setting as the recommendation says it, a float to 3 significant digits as the rules write
        numbers (``lr=1e+05``, not ``lr=100000.0``)."""
        if self.said:
            return self.said.format(value=_python(value))
        return ", ".join(f"{name}={_python(given)}" for name, given in self.changes(value).items())


def _python(value: Any) -> str:
    """``value`` as Python code writes it, a float to 3 significant digits and still a float (``1.0``)."""
    if not isinstance(value, float):
        return repr(value)
    text = f"{value:.3g}"
    return text + ".0" if text.lstrip("-").isdigit() else text


# Advice that sets no value, in a recipe's words, by the field it is about, and how it is said where a
# setting names the field ({} its Setting.named): lowering the lr where no number can be read (a run
# that blew up).
UNVALUED: dict[str, tuple[str, str]] = {"optimizer.lr": ("lr: lower it", "lower {}")}

# The doctor's own options, no recipe's fields, as a recipe's run is told them and as a setting that
# names them says them: running the lr check (lr_find), and watching more steps (the doctor's --steps, a
# recipe's training.steps). Each door's table (TORCH_CALLS, FIT_ARGUMENTS, a trainer's) says them its way;
# checked_settings takes no user's setting for them.
DOCTOR_OPTIONS: dict[str, tuple[str, str]] = {
    "doctor.lr_find": ("optimlab doctor without --no-lr-find, or lr_find=True", "{}"),
    "doctor.steps": ("watch longer (steps)", "watch longer ({})"),
}

# The note that a recipe's data.scaling scales no target, left out for whoever has no such field (a
# setting names data.scaling in its place).
INPUTS_ONLY_NOTE = "; data.scaling scales the inputs only"

# Each recipe field the rules advise, as a user's own PyTorch code sets it (diagnose on a model, data and
# optimizer of the user's, which no recipe reaches): no recipe_changes, torch's words; and the doctor's
# options (DOCTOR_OPTIONS), as diagnose takes them.
TORCH_CALLS: dict[str, Setting] = {
    "optimizer.lr": Setting(None, said="lr={value} in the optimizer"),
    "doctor.lr_find": Setting(None, said="diagnose(..., lr_find=True)"),
    "doctor.steps": Setting(None, said="diagnose(..., steps=<more>)"),
    "optimizer.eps": Setting(None, said="eps={value} in the optimizer"),
    "optimizer.weight_decay": Setting(None, said="weight_decay={value} in the optimizer"),
    "training.grad_clip_norm": Setting(
        None, said="torch.nn.utils.clip_grad_norm_(model.parameters(), {value}) before each optimizer.step()"
    ),
    "training.shuffle": Setting(None, said="DataLoader(..., shuffle=True)"),
    "data.scaling": Setting(None, said="standardize the inputs"),  # torch has no module for it
    "schedule.name": Setting(  # cosine, the one advised; T_max in steps, as it is stepped
        None,
        said="scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=<steps>), "
        "scheduler.step() after each optimizer.step()",
    ),
}

# The same fields where optimlab's fit runs the user's model, data and optimizer (a DoctorCallback in
# fit's callbacks): fit's keywords where fit sets them (it clips, shuffles and steps the scheduler).
FIT_ARGUMENTS: dict[str, Setting] = {
    **TORCH_CALLS,
    "training.grad_clip_norm": Setting(None, said="fit(..., grad_clip_norm={value})"),
    "doctor.lr_find": Setting(
        None,
        said="found = optimlab.doctor.find_lr(model, loss_fn, x, y, optimizer) before fit, then "
        "doctor.diagnosis(lr_range=found); find_lr leaves the model and optimizer as it found them",
    ),
    # fit takes one of the two: the one the run was given
    "doctor.steps": Setting(
        None,
        said="fit(..., total_steps=<more>) or fit(..., epochs=<more>), as the run was given, with the callback",
    ),
    "training.shuffle": Setting(
        None, said="fit(..., shuffle=True), or DataLoader(..., shuffle=True) where fit is given a DataLoader"
    ),
    "schedule.name": Setting(
        None, said="fit(..., scheduler=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=<steps>))"
    ),
}


def checked_settings(settings: Any, field: str = "settings") -> Mapping[str, str | Setting] | None:
    """``settings`` as :func:`advised_as` takes them, refused in one line where it is no mapping, a key
    names no recipe field the rules advise (the keys of :data:`TORCH_CALLS` but the doctor's options) or
    a value is no str nor :class:`Setting`: before a run, not after it."""
    if settings is None:
        return None
    recipe_fields = [field for field in TORCH_CALLS if field not in DOCTOR_OPTIONS]
    fields = ", ".join(recipe_fields)
    if not isinstance(settings, Mapping):
        raise InvalidValueError(
            field, settings, f"a mapping of recipe field ({fields}) to a str or Setting, {{}} or None"
        )
    for key, value in settings.items():
        if key not in recipe_fields:
            raise InvalidValueError(f"{field}'s key", key, f"a recipe field the advice changes: {fields}")
        if not isinstance(value, (str, Setting)):
            raise InvalidValueError(f"{field}[{key!r}]", value, "a str (a setting's name) or a Setting")
    return settings


def advised_as(finding: Finding, settings: Mapping[str, str | Setting]) -> Finding:
    """``finding`` with the recipe fields it changes named as ``settings`` (what sets each where no recipe
    runs: a trainer's arguments, :data:`TORCH_CALLS`), said as they are set: in place of the recipe's
    words in its recommendation (:func:`recipe_words`), or after it where the recommendation does not say
    them; a field without a setting keeps the recipe's words. Advice that sets no value (:data:`UNVALUED`:
    lower the lr, run the lr check) is said as the settings name its field too."""
    by_field = {k: Setting(v) if isinstance(v, str) else v for k, v in settings.items()}
    recommendation = finding.recommendation
    for field, (words, said) in {**UNVALUED, **DOCTOR_OPTIONS}.items():
        if field in by_field:
            recommendation = recommendation.replace(words, said.format(by_field[field].named))
    if "data.scaling" in by_field:
        recommendation = recommendation.replace(INPUTS_ONLY_NOTE, "")
    named = {k: v for k, v in finding.recipe_changes.items() if k in by_field}
    if not named:
        return dataclasses.replace(finding, recommendation=recommendation)
    unsaid = []
    for field, value in named.items():
        setting = by_field[field]
        words = [w for w in recipe_words(field, value) if w in recommendation]
        if words:
            recommendation = recommendation.replace(words[0], setting.text(value))
        else:
            unsaid.append((setting, value))
    arguments = [setting.text(value) for setting, value in unsaid if setting.an_argument]
    calls = [setting.text(value) for setting, value in unsaid if not setting.an_argument]
    if arguments:  # a trainer's arguments are set; a call is written
        recommendation += "; set " + ", ".join(arguments)
    if calls:
        recommendation += "; " + "; ".join(calls)
    changes: dict[str, Any] = {}
    for field, value in finding.recipe_changes.items():
        changes |= by_field[field].changes(value) if field in by_field else {field: value}
    return dataclasses.replace(finding, recommendation=recommendation, recipe_changes=changes)


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


@dataclasses.dataclass(frozen=True)
class Summary:
    """What the doctor says of a diagnosis, for each place that shows it (``optimlab doctor``'s output, a
    tracker's text) to format alike.

    Attributes:
        heading: the table's title, or the one line that says the run looks healthy (no ``rows``).
        rows: ``(#, severity, finding, fix)`` per finding, root cause first; a finding explained by
            others names them by number (``... (consequence of #1)``).
        evidence: ``(#, explanation)`` per finding: the numbers behind it.
        notes: lines after them: the watched run's cut, the LR range test's suggestion, what it was
            measured with, its candidates' scores.
    """

    heading: str
    rows: tuple[tuple[int, str, str, str], ...]
    evidence: tuple[tuple[int, str], ...]
    notes: tuple[str, ...]


def summary(diagnosis: Diagnosis) -> Summary:
    """The :class:`Summary` of ``diagnosis`` (:func:`optimlab.doctor.diagnose`)."""
    steps_seen = len(diagnosis.statistics.steps)
    number = {f.rule: i + 1 for i, f in enumerate(diagnosis.findings)}

    def titled(f: Finding) -> str:
        causes = ", ".join(f"#{number[c]}" for c in f.consequence_of if c in number)
        return f"{f.title} (consequence of {causes})" if causes else f.title

    if diagnosis.findings:
        heading = f"Findings after {count_of(steps_seen, 'step')}, root cause first"
    else:
        heading = f"No findings after {count_of(steps_seen, 'step')}: the run looks healthy."
    notes = [f"Watched run: {diagnosis.watch_cut}"] if diagnosis.watch_cut else []
    start = next((loss for loss in diagnosis.statistics.losses if math.isfinite(loss)), None)
    if start is not None and start < 0:  # the rules read the loss's progress as a fraction of its start
        notes.append(
            f"Loss: it starts at {start:.3g}, below 0, so its progress is not read as a fraction of "
            "it: no plateau or lr too low is told, and no fit quiets the other findings"
        )
    found = diagnosis.lr_range
    if found is not None:
        suggestion = f"lr {found.suggestion:.3g}" if found.suggestion is not None else "no lr"
        notes.append(f"LR range test: {suggestion} ({found.reason})")
        if diagnosis.lr_measured_with:
            causes = ", ".join(f"#{number[f.rule]}" for f in diagnosis.lr_measured_with)
            notes.append(
                f"  measured with {causes} as it is: the best lr moves once that is fixed, so fix it first "
                "and run the doctor again for the lr"
            )
        if found.check is not None:
            scores = ", ".join(
                f"{c.lr:.3g}: {'diverged' if c.score is None else f'{c.score:.4g}'}"
                + (" (suggested)" if c.lr == found.suggestion else "")
                for c in found.candidates
            )
            notes.append(f"Candidates ({found.check}): {scores}")
    return Summary(
        heading=heading,
        rows=tuple(
            (i + 1, f.severity, titled(f), f.recommendation) for i, f in enumerate(diagnosis.findings)
        ),
        evidence=tuple((i + 1, f.explanation) for i, f in enumerate(diagnosis.findings)),
        notes=tuple(notes),
    )
