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

Adding a workload: one function registered in a module of this package (a new module is also listed
in the imports below).
"""

from __future__ import annotations

from optimlab.workloads import (  # noqa: F401  (fill the registry)
    digits,
    image_files,
    mnist1d,
    python_lm,
    quadratic,
    teacher_student,
)
from optimlab.workloads.workload import Workload, get_workload, workload_names, workloads_from

__all__ = ["Workload", "get_workload", "workload_names", "workloads_from"]
