"""Workloads: data + model + loss + the metric tuned on + its target + a default training budget.

The one home of :class:`Workload` and of every registered workload; ``study`` and ``bench`` both sit on
top of it. Built-in data need no download; the ``*_files`` family runs the same models on MNIST,
Fashion-MNIST or CIFAR-10 files a user already has. The target of each is set from tuned baseline runs,
documented in its docstring and in ``docs/workloads.md``, and reproduced by
``benchmarks/workload_targets.py``. Names are underscored; dashes and case do not matter
(``digits-mlp`` is ``digits_mlp``).

>>> from optimlab.workloads import get_workload
>>> get_workload("noisy_quadratic").goal
'min'
>>> get_workload("digits-logistic").name
'digits_logistic'

Adding a workload: one function registered in a module of this package (every module here is imported
with the package, so a new one registers without being listed), its tuned baseline in
``optimlab.bench.baselines`` and its row in ``docs/workloads.md``.
"""

from __future__ import annotations

import importlib
import pkgutil

from optimlab.workloads.workload import (
    GOALS,
    Workload,
    check_goal_target,
    check_workloads,
    get_workload,
    metric_goal,
    refuse_data_dir,
    workload_names,
    workloads_from,
)

__all__ = [
    "GOALS",
    "Workload",
    "check_goal_target",
    "check_workloads",
    "get_workload",
    "metric_goal",
    "refuse_data_dir",
    "workload_names",
    "workloads_from",
]

for _module in pkgutil.iter_modules(__path__):  # fill the registry
    importlib.import_module(f"{__name__}.{_module.name}")
