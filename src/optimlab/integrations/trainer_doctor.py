"""The doctor inside another library's trainer: what the Lightning and Hugging Face callbacks share.

A trainer owns the loop; the doctor needs only to be told three things, which every trainer's
callbacks can tell: training starts (the model and its optimizer: the instruments attach their hooks),
an optimizer step is about to run (its lr), and a step ended (its loss). At the end it applies the
rules and reports the findings: on the terminal, as JSON (:meth:`Diagnosis.to_dict`), and as the
doctor's HTML page (:func:`optimlab.doctor.report.write_html`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from optimlab.atomic import write_atomically
from optimlab.data.user_batches import batch_parts
from optimlab.doctor import findings
from optimlab.doctor.diagnose import Diagnosis
from optimlab.doctor.findings import TORCH_CALLS, Setting, advised_as
from optimlab.doctor.instruments import Instruments, InstrumentSchedule
from optimlab.doctor.rules import run_rules
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning
from optimlab.optim.learning_rate import LoggedGroup
from optimlab.registry import get_registry

__all__ = ["Setting", "TrainerDoctor", "summary", "unwrapped"]


# Trainers' wrappers around the user's optimizer, each keeping it as ``.optimizer``; the optimizer's
# own step hooks fire inside the wrapper's step. Lightning's is of a class it makes for each optimizer's
# (LightningSGD, a direct subclass of LightningOptimizer and SGD), so it is found among the direct bases;
# not the whole MRO, where accelerate's DeepSpeed and Megatron wrappers (subclasses of
# AcceleratedOptimizer) hold an optimizer that is no torch one.
_WRAPPERS = ("AcceleratedOptimizer", "LightningOptimizer")


def _is_wrapper(optimizer: Any) -> bool:
    kind = type(optimizer)
    return kind.__name__ in _WRAPPERS or any(base.__name__ == "LightningOptimizer" for base in kind.__bases__)


def unwrapped(optimizer: Any) -> torch.optim.Optimizer:
    """The user's optimizer inside a trainer's wrapper (accelerate's, Lightning's): the one whose step
    hooks fire."""
    while _is_wrapper(optimizer):
        optimizer = optimizer.optimizer
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise InvalidValueError(
            "the trainer's optimizer", type(optimizer).__name__, "a torch.optim.Optimizer"
        )
    return optimizer


def summary(diagnosis: Diagnosis, about: str = "") -> str:
    """The doctor's :func:`~optimlab.doctor.findings.summary` of ``diagnosis`` as plain lines: the
    findings, root cause first, each with its fix; then its notes (the LR range test's suggestion, what it
    was measured with, its candidates' scores). ``about``: what was watched, where a run has several
    (``" (optimizer 1 of 2, Adam)"``)."""
    said = findings.summary(diagnosis)
    lines = [f"optimlab doctor{about}: {said.heading}"]
    for number, severity, title, fix in said.rows:
        lines += [f"{number:>3}. [{severity}] {title}", f"     fix: {fix}"]
    return "\n".join(lines + list(said.notes))


def _report_path(field: str, path: Any) -> Path | None:
    """``path`` as a Path in an existing folder: checked before training, not when the report is
    written at its end (a missing folder raised there, after the whole run)."""
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidValueError(field, path, "a file path (str or os.PathLike), or None")
    path = Path(path)
    if path.is_dir() or not path.parent.is_dir():
        raise InvalidValueError(field, str(path), "a file (not a folder) in an existing folder")
    return path


def _one_line(error: BaseException) -> str:
    """``error`` as a short line: its type and the start of its message's first line."""
    text = (str(error).splitlines() or [""])[0]
    return f"{type(error).__name__}: {text[:160]}{'...' if len(text) > 160 else ''}"


class TrainerDoctor:
    """Instruments a run of someone else's trainer and reports what they saw.

    By default the doctor never stops the user's training: a failure of its instruments (a model they
    cannot read, such as sparse gradients or sparse inputs; in a hook on the model as in a callback)
    takes them off the model and is said in one :class:`OptimlabWarning`, leaving no diagnosis; a report
    that cannot be written is said in one, the others still written. The instruments watch the
    parameters the optimizer trains as training starts: where those change (frozen or unfrozen mid-run,
    as Lightning's ``BaseFinetuning`` does, or a group added), the record ends before the step that
    trains others, said in one warning (a frozen layer's missing gradient read as a vanishing one); a run
    in which no step was seen leaves no diagnosis, said in one warning. A refused option or optimizer
    (:class:`OptimlabError`) is raised, before any step.

    Args:
        schedule: when the costlier instruments run (default :class:`InstrumentSchedule`).
        rule_options: thresholds by rule name, e.g. ``{"dead_units": {"warn_fraction": 0.5}}``.
        print_findings: print :func:`summary` when training ends.
        json_path, html_path: also write the diagnosis there, as JSON and as the doctor's HTML page.
        strict: raise any failure of the doctor instead, ending the fit, as Lightning's
            ``EarlyStopping(strict=True)`` ends it on a metric it cannot find.
    """

    def __init__(
        self,
        *,
        schedule: InstrumentSchedule | None = None,
        rule_options: Mapping[str, Mapping[str, Any]] | None = None,
        print_findings: bool = True,
        json_path: str | os.PathLike[str] | None = None,
        html_path: str | os.PathLike[str] | None = None,
        strict: bool = False,
    ) -> None:
        if schedule is not None and not isinstance(schedule, InstrumentSchedule):
            raise InvalidValueError("schedule", schedule, "an optimlab.doctor.InstrumentSchedule, or None")
        # Checked now, not when training ends: a misspelt rule or threshold would lose the run's findings.
        rules = get_registry("doctor_rule")
        for name, keywords in (rule_options or {}).items():
            rules.get(name).validate(keywords)
        self.schedule, self.rule_options = schedule, rule_options
        if not isinstance(strict, bool):
            raise InvalidValueError("strict", strict, "True (a failure of the doctor ends the fit) or False")
        if not isinstance(print_findings, bool):  # "no" read as True printed what it said not to
            raise InvalidValueError(
                "print_findings", print_findings, "True (print them when training ends) or False"
            )
        self.print_findings, self.strict = print_findings, strict
        self.json_path, self.html_path = (
            _report_path("json_path", json_path),
            _report_path("html_path", html_path),
        )
        self.instruments: Instruments | None = None
        self.diagnosis: Diagnosis | None = None
        self._lr, self._last_step, self._diverged, self._about = math.nan, -1, False, ""
        self._updates = 0  # the optimizer's updates so far: a schedule-as-lr's step
        self._logged = LoggedGroup()  # the param group whose lr the run reads, chosen once per run
        self._scaler_skipped = False  # the GradScaler skips the step being taken (its gradients overflowed)

    def start(
        self, model: nn.Module, optimizer: Any, step: int, *, gradients_at_step: bool = True, about: str = ""
    ) -> None:
        """Attach the instruments; ``step``: optimizer steps already taken (a resumed run);
        ``gradients_at_step=False``: the gradients are not those ``optimizer.step`` begins with (Lightning
        runs the backward pass inside it, Hugging Face clips them before it), and the caller calls
        :meth:`gradients_ready` once they are whole; ``about``: which of the run's optimizers this is, in
        the printed report (:func:`summary`)."""
        self._last_step, self._diverged, self.diagnosis, self._about = step, False, None, about
        self._updates, self._logged = step, LoggedGroup()
        optimizer = unwrapped(optimizer)
        with self._watching(refuse=True):
            self.instruments = Instruments(model, optimizer, self.schedule, guard=self.guarded)
            self.instruments.start(step, gradients_at_step=gradients_at_step)

    @contextlib.contextmanager
    def _watching(self, *, refuse: bool = False) -> Iterator[None]:
        """Run a part of the watch; where it fails, the instruments come off and training goes on
        (``refuse``: an :class:`OptimlabError`, a refusal before any step, is raised)."""
        try:
            yield
        except Exception as error:
            if self.strict or (refuse and isinstance(error, OptimlabError)):
                raise
            self._stop_watching(error)

    def guarded(self, hook: Callable[..., Any]) -> Callable[..., Any]:
        """``hook`` as the instruments (or a trainer's callback) put it on the model, a tensor or the
        optimizer, run as :meth:`_watching` runs the callbacks' parts: torch calls it inside the user's
        forward pass, backward pass or optimizer step. It does nothing once the doctor is off."""

        @functools.wraps(hook)
        def guarded(*args: Any, **kwargs: Any) -> None:
            if self.instruments is None:  # taken off by an earlier hook of the same forward pass
                return
            try:  # as _watching, without a context manager's generator at every layer's every pass
                hook(*args, **kwargs)
            except Exception as error:
                if self.strict:
                    raise
                self._stop_watching(error)

        return guarded

    def _stop_watching(self, error: BaseException) -> None:
        instruments, self.instruments, self.diagnosis = self.instruments, None, None
        if instruments is not None:
            with contextlib.suppress(Exception):
                instruments.stop()
        warnings.warn(
            f"optimlab doctor: stopped watching at step {self._last_step + 1} ({_one_line(error)}); "
            "training goes on, with no diagnosis",
            OptimlabWarning,
            stacklevel=2,
        )

    def before_optimizer_step(self, optimizer: Any) -> None:
        """The optimizer is about to step: its lr is the step's (the swept group's, as the range test and
        the lr rules read it: not a frozen backbone's 0 before the head)."""
        # at the updates taken, not the trainer's step number: Lightning counts a step it skips (a
        # training_step's None under float16's GradScaler: its steps 2, 4 after updates 0, 1)
        self._lr = self._logged.read(optimizer, self._updates)

    def gradients_ready(self, scale: float = 1.0, *, scaler_skips: bool = False) -> None:
        """The step's gradients are whole and the weights have not moved yet (after
        ``start(gradients_at_step=False)``); ``scale``: they are that multiple of the step's (float16's
        GradScaler's scale, before ``unscale_``); ``scaler_skips``: a GradScaler skips the step where they
        are not finite (:meth:`Instruments.gradients_ready`)."""
        if self.instruments is not None and not self._diverged:
            with self._watching():
                self._scaler_skipped = self.instruments.gradients_ready(scale, scaler_skips=scaler_skips)

    def gradients_unread(self) -> None:
        """The gradients read since the last step were not stepped on (a micro-batch of accumulation
        clipped before the next one adds to it): the step reads its own."""
        if self.instruments is not None:
            self.instruments.gradients_unread()

    def step_ended(self, step: int, loss: float) -> None:
        """Record optimizer step ``step`` (1-based) and its loss; a repeated step (a micro-batch of
        gradient accumulation) is skipped. The first non-finite loss ends the record, as it ends the
        doctor's own run: what follows a NaN says nothing about its cause, and would pass for a
        learning rate that is too high."""
        if self.instruments is None or self._diverged or step <= self._last_step:
            return
        with self._watching():
            self.instruments.record_step(step, loss, self._lr)
            # a step the GradScaler skipped (an overflow) took no update: the optimizer's count stays
            self._last_step, self._updates = step, self._updates + (not self._scaler_skipped)
            self._scaler_skipped = False
            if not math.isfinite(loss):
                self._diverged = True
                self.instruments.stop()  # no hook costs the rest of the run anything

    def batch_seen(self, step: int, batch: Any) -> None:
        """Keep the targets of step ``step``'s batch, where the batch shows them (a tuple's last element,
        a dict's ``labels`` or another of :data:`~optimlab.data.user_batches.TARGET_KEYS`): how the
        trainer's batches mix the data, and a regression's scale; beside the batch's other parts, whether
        they are its inputs again (an autoencoder's, whose scale is the inputs')."""
        inputs, target = batch_parts(batch)
        if self.instruments is not None and not self._diverged:
            with self._watching():
                self.instruments.record_targets(step, target, inputs)

    def finish(
        self,
        *,
        report: bool = True,
        unstepped: str = "",
        fields: Mapping[str, str | Setting] | None = None,
    ) -> Diagnosis | None:
        """Detach the instruments, apply the rules, and report (``report``: this process reports;
        False on all but the first process of a distributed run, and where training raised). A run
        without a step seen is said in one warning where it reports, ``unstepped`` the trainer's own
        way to step outside its wrapper. ``fields``: the trainer's own setting for each recipe field it
        sets in this run (``{"optimizer.lr": "TrainingArguments.learning_rate"}``, or a :class:`Setting`),
        advised in its place; the fields it leaves out as the user's own code sets them (:data:`TORCH_CALLS`:
        ``lr=0.3 in the optimizer``, ``DataLoader(..., shuffle=True)``)."""
        if self.instruments is None:
            return None
        with self._watching():
            self.instruments.stop()
            stats = self.instruments.statistics
            instruments, self.instruments = self.instruments, None
            if not stats.steps and instruments.parameters_changed is None:  # that one said why itself
                # diagnosed, 0 steps read 'No findings after 0 steps: the run looks healthy.'
                if report:  # not where training raised: the user's error is the news
                    warnings.warn(
                        "optimlab doctor: no optimizer step was seen in the trainer's run (every batch "
                        f"skipped, or the optimizer stepped outside the trainer's wrapper{unstepped}); "
                        "no diagnosis",
                        OptimlabWarning,
                        stacklevel=2,
                    )
                return None
            said = {**TORCH_CALLS, **(fields or {})}  # what the trainer sets not, the user's code does
            findings = [advised_as(f, said) for f in run_rules(stats, None, options=self.rule_options)]
            self.diagnosis = Diagnosis(findings=findings, statistics=stats)
        if report and self.diagnosis is not None:
            self._report(self.diagnosis)
        return self.diagnosis

    def _report(self, diagnosis: Diagnosis) -> None:
        """Write and print the diagnosis where asked; one that cannot be written is said in one line."""
        from optimlab.doctor.report import write_html

        outputs = [
            (
                self.json_path,
                "JSON",
                lambda path: write_atomically(
                    path, json.dumps(diagnosis.to_dict(), indent=1, allow_nan=False)
                ),
            ),
            (self.html_path, "HTML", lambda path: write_html(diagnosis, path)),
        ]
        for path, kind, write in outputs:
            if path is None:
                continue
            try:
                write(path)
            except Exception as error:
                if self.strict:
                    raise
                warnings.warn(
                    f"optimlab doctor: its {kind} report was not written to {path} ({_one_line(error)}); "
                    "the diagnosis is kept in .diagnosis",
                    OptimlabWarning,
                    stacklevel=2,
                )
        if self.print_findings:  # an opt-in callback's report, like a trainer's progress bar
            print(summary(diagnosis, self._about))
