"""The benchmark's workloads, registered by name in the ``workload`` registry beside ``digits_mlp``.

Each workload is data + model + loss + the metric tuned on + its target + a default training budget,
as a :class:`~optimlab.study.workloads.Workload`. Built-in data need no download; the ``*_files``
family runs the same models on MNIST, Fashion-MNIST or CIFAR-10 files a user already has. The target
of each is set from tuned baseline runs, documented in its docstring and in ``docs/workloads.md``, and
reproduced by ``benchmarks/workload_targets.py``.

>>> from optimlab.bench.workloads import get_workload
>>> get_workload("noisy_quadratic").goal
'min'
"""

from __future__ import annotations

from optimlab.bench.workloads import (  # noqa: F401  (fill the registry)
    digits,
    image_files,
    mnist1d,
    python_lm,
    quadratic,
    teacher_student,
)
from optimlab.study.workloads import Workload, get_workload, workload_names

__all__ = ["Workload", "get_workload", "workload_names"]
