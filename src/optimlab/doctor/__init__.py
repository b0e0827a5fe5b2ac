"""The doctor: detect what goes wrong in training, show the evidence, and name the fix.

Instruments gather cheap per-layer statistics inside the training step (:mod:`.instruments`); rules
turn them into findings ranked root cause first (:mod:`.rules`, :mod:`.findings`); the LR range test
proposes learning rates off a short sweep (:mod:`.lr_find`) and a check run of each picks one
(:mod:`.lr_check`). Use :func:`diagnose` from Python,
:class:`DoctorCallback` inside :func:`optimlab.train.fit`, or ``optimlab doctor`` from the shell.
"""

from optimlab.doctor.diagnose import (
    Diagnosis,
    DoctorCallback,
    diagnose,
    diagnose_recipe,
    find_lr_recipe,
    lr_range_test_recipe,
)
from optimlab.doctor.findings import Finding, rank
from optimlab.doctor.instruments import INSTRUMENTS, Instruments, InstrumentSchedule, RunStatistics
from optimlab.doctor.lr_check import find_lr, score_lrs
from optimlab.doctor.lr_find import Candidate, LRRangeResult, lr_candidates, lr_range_test, suggest_lr
from optimlab.doctor.nan_origin import NonFiniteOrigin
from optimlab.doctor.rules import rule_names, run_rules

__all__ = [
    "INSTRUMENTS",
    "Candidate",
    "Diagnosis",
    "DoctorCallback",
    "Finding",
    "InstrumentSchedule",
    "Instruments",
    "LRRangeResult",
    "NonFiniteOrigin",
    "RunStatistics",
    "diagnose",
    "diagnose_recipe",
    "find_lr",
    "find_lr_recipe",
    "lr_candidates",
    "lr_range_test",
    "lr_range_test_recipe",
    "rank",
    "rule_names",
    "run_rules",
    "score_lrs",
    "suggest_lr",
]
