"""Suites: named sets of workloads, each at a training budget, that ``optimlab bench --suite`` runs.

``small`` runs the built-in workloads at their default budget, each trial seconds on one CPU thread, so
sgd, momentum and adam under the default protocol (7 tuning trials and 3 seeds each) finish in minutes
on a 2-core machine. ``full`` adds logistic regression and the Transformer language model and trains
longer, for a GPU or a patient CPU (both need the changes listed in ``docs/workloads.md``; logistic
regression joins ``small`` with them). The workloads on user files (``mnist_cnn``, ``cifar10_resnet``, ...) are in no suite:
name them with ``--workloads`` and give ``--data-dir``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimlab.errors import UnknownNameError
from optimlab.workloads import Workload, get_workload

__all__ = ["SUITES", "suite"]

# suite: workload name -> its options (budgets beyond the defaults)
SUITES: dict[str, dict[str, Mapping[str, Any]]] = {
    "small": {
        "noisy_quadratic": {},
        "digits_logistic": {},
        "digits_mlp": {},
        "digits_deep_mlp": {},
        "digits_resnet": {},
        "mnist1d_mlp": {},
        "mnist1d_cnn": {},
        "two_spirals_mlp": {},
        "teacher_student": {},
    },
    "full": {
        "noisy_quadratic": {"epochs": 200},
        "digits_logistic": {"epochs": 50},
        "digits_mlp": {"epochs": 50},
        "digits_deep_mlp": {"epochs": 50},
        "digits_resnet": {"epochs": 30},
        "mnist1d_mlp": {"epochs": 100, "n": 10000},
        "mnist1d_cnn": {"epochs": 30},
        "two_spirals_mlp": {"epochs": 50},
        "teacher_student": {"epochs": 150},
        "python_lm": {"epochs": 30, "chars": 1_000_000},
    },
}


def suite(name: str) -> list[Workload]:
    """The workloads of the suite ``name``, each built at the suite's budget."""
    if name not in SUITES:
        raise UnknownNameError("suite", name, SUITES)
    return [get_workload(workload, **options) for workload, options in SUITES[name].items()]
