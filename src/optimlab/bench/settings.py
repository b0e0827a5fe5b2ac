"""A bench's settings file (:data:`~optimlab.bench.SETTINGS_FILE` in its folder): the flags ``optimlab
bench`` ran with, read back as what the bench plans, by ``--resume`` and by the study history page.
Reading the file loads nothing heavy: the CLI refuses a folder without one before torch loads."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimlab.bench import SETTINGS_FILE

if TYPE_CHECKING:
    from optimlab.workloads import Workload

__all__ = ["is_bench", "planned_workloads", "read_settings", "resume_command"]


def is_bench(folder: str | Path) -> bool:
    """Whether ``folder`` is a bench's: it holds the bench's settings."""
    return (Path(folder) / SETTINGS_FILE).is_file()


def read_settings(folder: str | Path) -> dict[str, Any] | None:
    """The settings saved in ``folder``; None where it holds none (it is not a bench's folder)."""
    return json.loads((Path(folder) / SETTINGS_FILE).read_text()) if is_bench(folder) else None


def resume_command(folder: str | Path) -> str:
    """The command that continues the work kept in ``folder``: bench's for a bench's folder (it also runs
    the workloads not begun and writes the bench's report), compare's for any other study folder."""
    return shlex.join(["optimlab", "bench" if is_bench(folder) else "compare", "--resume", str(folder)])


def planned_workloads(settings: Mapping[str, Any]) -> list[Workload]:
    """The workloads ``settings`` plan, each named as its study is: the suite's, or those named (the user's
    files folder passed on as ``path``), on the user's ``model`` and ``dataset`` (and its ``target``
    column) when given, then tuned on a metric that data measures."""
    from optimlab.bench.suites import suite
    from optimlab.study.compare import measured_on_its_data, on_user_code
    from optimlab.workloads import workloads_from

    if settings["suite"]:
        chosen = suite(settings["suite"])
    else:
        chosen = workloads_from(settings["workloads"], path=settings["data_dir"])
    dataset = settings.get("dataset")
    planned = on_user_code(
        chosen, model=settings.get("model"), dataset=dataset, target=settings.get("target")
    )
    return [measured_on_its_data(w) for w in planned] if dataset else planned
