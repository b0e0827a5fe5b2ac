"""The machine and library versions behind a report's numbers, as rows for a table.

A number without the hardware and software that produced it cannot be compared or reproduced; every
benchmark report states both (as airbench's header does, Jordan 2024, https://arxiv.org/abs/2404.00498).

>>> rows = dict(machine_and_versions())
>>> sorted(k for k in rows if k in ("python", "torch", "optimlab"))
['optimlab', 'python', 'torch']
"""

from __future__ import annotations

import importlib.metadata
import os
import platform

__all__ = ["machine_and_versions"]

_LIBRARIES = ("optimlab", "torch", "numpy", "optuna", "matplotlib", "scikit-learn")


def _processor() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_and_versions() -> list[tuple[str, str]]:
    """``(item, value)`` rows: OS, CPU, cores, torch threads, GPU, Python and library versions."""
    import torch  # here, not at the top: the report package's import (a refused report) need not load it

    rows = [
        ("operating system", platform.platform()),
        ("processor", _processor()),
        ("cores", str(os.cpu_count())),
        ("torch threads", str(torch.get_num_threads())),
        ("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"),
        ("python", platform.python_version()),
    ]
    return rows + [(package, _version(package)) for package in _LIBRARIES]
