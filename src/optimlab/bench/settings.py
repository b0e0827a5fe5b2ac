"""A bench's settings file (:data:`~optimlab.bench.SETTINGS_FILE` in its folder): the flags ``optimlab
bench`` ran with, read back as what the bench plans, by ``--resume`` and by the study history page.
Reading the file loads nothing heavy: the CLI refuses a folder without one before torch loads."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimlab.atomic import write_atomically
from optimlab.bench import SETTINGS_FILE
from optimlab.errors import OptimlabError

if TYPE_CHECKING:
    from optimlab.workloads import Workload

__all__ = ["SETTINGS", "is_bench", "planned_workloads", "read_settings", "resume_command", "write_settings"]

# What every bench has saved since the first (model, dataset and target came later: read with .get).
SAVED = (
    "suite",
    "workloads",
    "optimizers",
    "optimizer_path",
    "seeds",
    "budget",
    "protocol",
    "backend",
    "cost",
    "data_dir",
    "device",
)
# The flags that decide a bench's trials: saved with it, refused beside --resume.
SETTINGS = (*SAVED, "model", "dataset", "target")


def is_bench(folder: str | Path) -> bool:
    """Whether ``folder`` is a bench's: it holds the bench's settings."""
    return (Path(folder) / SETTINGS_FILE).is_file()


def write_settings(folder: str | Path, settings: Mapping[str, Any]) -> Path:
    """Save ``settings`` in ``folder``, whole or not at all (a kill mid-write keeps no cut file)."""
    return write_atomically(Path(folder) / SETTINGS_FILE, json.dumps(settings, indent=1))


def read_settings(folder: str | Path) -> dict[str, Any] | None:
    """The settings saved in ``folder``; None where it holds none (it is not a bench's folder). A file that
    does not parse, or lacks a setting every bench saved, is refused naming what is wrong."""
    if not is_bench(folder):
        return None
    path = Path(folder) / SETTINGS_FILE
    try:
        settings = json.loads(path.read_text())
    except ValueError as error:  # not JSON, or not UTF-8
        problem = f"it does not parse: {error}"
    else:
        missing = [key for key in SAVED if not isinstance(settings, dict) or key not in settings]
        if not missing:
            return settings
        problem = f"it lacks {', '.join(missing)}"
    raise OptimlabError(
        f"the bench's settings {str(path)!r} are damaged ({problem}); restore the file, or run the bench "
        "again in another folder"
    )


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
    from optimlab.workloads import refuse_data_dir, workloads_from

    if settings["suite"]:
        if settings["data_dir"] is not None:  # no suite holds a workload of the user's files
            refuse_data_dir(settings["data_dir"], f"the workloads of suite {settings['suite']}")
        chosen = suite(settings["suite"])
    else:
        chosen = workloads_from(settings["workloads"], path=settings["data_dir"])
    dataset = settings.get("dataset")
    planned = on_user_code(
        chosen, model=settings.get("model"), dataset=dataset, target=settings.get("target")
    )
    return [measured_on_its_data(w) for w in planned] if dataset else planned
