"""A bench's settings file (:data:`~optimlab.bench.SETTINGS_FILE` in its folder): the flags ``optimlab
bench`` ran with, read back as what the bench plans, by ``--resume`` and by the study history page.
Reading the file loads nothing heavy: the CLI refuses a folder without one before torch loads."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimlab.bench import SETTINGS_FILE

if TYPE_CHECKING:
    from optimlab.workloads import Workload

__all__ = ["planned_workloads", "read_settings"]


def read_settings(folder: str | Path) -> dict[str, Any] | None:
    """The settings saved in ``folder``; None where it holds none (it is not a bench's folder)."""
    saved = Path(folder) / SETTINGS_FILE
    return json.loads(saved.read_text()) if saved.is_file() else None


def planned_workloads(settings: Mapping[str, Any]) -> list[Workload]:
    """The workloads ``settings`` plan, each named as its study is: the suite's, or those named (the user's
    files folder passed on as ``path``), on the user's ``model`` and ``dataset`` when given."""
    from optimlab.bench.suites import suite
    from optimlab.study.compare import on_user_code
    from optimlab.workloads import workloads_from

    if settings["suite"]:
        chosen = suite(settings["suite"])
    else:
        chosen = workloads_from(settings["workloads"], path=settings["data_dir"])
    return on_user_code(chosen, model=settings.get("model"), dataset=settings.get("dataset"))
