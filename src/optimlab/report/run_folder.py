"""A training run as its output folder holds it: ``recipe.yaml``, ``metrics.jsonl``, ``result.json``,
once resumed ``sessions.jsonl`` (the result.json of each earlier session, one a line), and, trained by
``optimlab train``, ``commands.jsonl`` (each session's command line).

``optimlab train`` writes these (:func:`optimlab.train.train`); this module reads them back for reports
and trackers. ``metrics.jsonl`` has a line per logged step (``train_loss``, ``lr``) and one per
evaluation (``val_*``), each with its ``step``, ``epoch`` and ``seconds`` (wall time since the start).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from optimlab.errors import OptimlabError, a_type
from optimlab.recipe import load_yaml
from optimlab.registry import Interval
from optimlab.runs_folder import (
    COMMANDS_NAME,
    METRICS_NAME,
    RECIPE_NAME,
    RESULT_NAME,
    SESSIONS_NAME,
    add_json_line,
    is_run_folder,
    json_lines,
    named_folder,
)

__all__ = ["AXES", "RunFolder", "SessionCommand", "keep_command", "read_run", "sessions_read"]

AXES = ("step", "epoch", "seconds")  # what locates a line of metrics.jsonl; every other field is a metric
CHANGE_FIELDS = ("step", "field", "from", "to")  # a recipe change as train records it on a resume
_INT64 = Interval(integer=True)  # what holds a run's step count (torch's int64)


@dataclasses.dataclass(frozen=True)
class SessionCommand:
    """The command line of one session of ``optimlab train`` (a line of commands.jsonl), as typed, and
    whether it resumed the run (``--resume``) or started it."""

    command: str
    resumed: bool


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """What one run left behind. ``series[name]`` is ``(steps, seconds, values)`` of one metric."""

    name: str
    path: Path
    recipe: dict[str, Any]
    result: dict[str, Any]  # result.json; {} while the run has not finished
    series: dict[str, tuple[list[int], list[float], list[float]]]
    epochs: dict[int, int]  # the epoch of each step logged with one, counted from 0 as metrics.jsonl does
    sessions: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # earlier sessions' results
    commands: list[SessionCommand] = dataclasses.field(default_factory=list)  # each session's, oldest first
    # why commands.jsonl was not read ('commands.jsonl line 2 is not UTF-8 text'), an optional record the
    # page names instead of refusing the run; None where it was read or is absent
    commands_unread: str | None = None

    @property
    def metrics(self) -> list[str]:
        return list(self.series)


def read_run(path: str | Path, name: str | None = None) -> RunFolder:
    """Read the run in folder ``path``; a value not finite in metrics.jsonl, written as the string "nan",
    "inf" or "-inf" (null by logs of earlier versions, read as NaN), comes back as that float."""
    path = Path(path)
    if not is_run_folder(path):
        raise OptimlabError(
            f"{str(path)!r} is not a run folder: expected {RECIPE_NAME} and {METRICS_NAME} "
            "(written by `optimlab train --out FOLDER`)"
        )
    log = path / METRICS_NAME
    try:
        text = log.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise OptimlabError(f"{str(log)!r} is not a metrics log: it is binary or not UTF-8") from None
    lines = text.splitlines()
    if lines and not text.endswith("\n") and not _parses(lines[-1]):
        lines.pop()  # a write cut short (a full disk, a power cut): dropped, as a resumed run drops it
    try:  # one parse of the whole file: twice as fast as a json.loads per line (10,000 lines)
        series, epochs = _series(json.loads("[" + ",".join(line for line in lines if line.strip()) + "]"))
    except (ValueError, KeyError, TypeError, OverflowError):
        for number, line in enumerate(lines, 1):  # find the line to name
            try:
                _series([json.loads(line)] if line.strip() else [])
            except (ValueError, KeyError, TypeError, OverflowError) as error:
                raise OptimlabError(f"{str(log)!r} line {number} is not a metrics line: {error}") from None
        raise
    result_file = path / RESULT_NAME
    result = _parsed(result_file, _result, "a result") if result_file.is_file() else {}
    recipe = _parsed(path / RECIPE_NAME, _yaml_mapping, "a recipe")
    sessions = sessions_read(path)
    commands, commands_unread = _commands_read(path / COMMANDS_NAME)
    name = name or named_folder(path).name
    return RunFolder(name, path, recipe, result, series, epochs, sessions, commands, commands_unread)


def sessions_read(path: Path) -> list[dict[str, Any]]:
    """The results of the earlier sessions of the run in folder ``path`` (its sessions.jsonl), none where
    it has none; a log that is not one is refused, naming the file and its line: ``train --resume RUN
    --html`` asks before training, so that the page it writes after does not fail with the run done."""
    file = path / SESSIONS_NAME
    return _parsed(file, _sessions, "a sessions log") if file.is_file() else []


def keep_command(path: str | Path, command: str, *, resumed: bool) -> None:
    """Add the ``command`` line of a session of ``optimlab train`` to the run in folder ``path``
    (commands.jsonl), for a page built later (``optimlab report RUN``) to show: only a page written by
    ``train --html`` kept it before (:func:`~optimlab.runs_folder.add_json_line`): a line
    that is not UTF-8 is for the reader to name, not a refusal of the session that just ran."""
    add_json_line(Path(path) / COMMANDS_NAME, {"command": command, "resumed": resumed})


def _mapping(data: Any, where: str = "it") -> dict[str, Any]:
    """``data`` if it is a mapping; else a ValueError saying what ``where`` holds instead."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} holds {a_type(data)}, not a mapping")
    return data


def _result(file: Path) -> dict[str, Any]:
    """result.json: a session's result (:func:`_session_result`)."""
    return _session_result(json.loads(file.read_text(encoding="utf-8")))


def _session_result(data: Any, where: str = "it") -> dict[str, Any]:
    """``data`` if it is a result as train writes it (:class:`~optimlab.train.TrainResult`): a mapping whose
    ``metrics`` is a mapping, ``model`` one or null with whole ``parameters``, ``recipe_changes`` a list of
    mappings, each with the fields of :data:`CHANGE_FIELDS` and a whole ``step``; else a ValueError naming
    the field of ``where`` (the page and the trackers read each, a traceback)."""
    result = _mapping(data, where)
    its = "its" if where == "it" else f"{where}'s"
    _mapping(result.get("metrics", {}), f"{its} metrics")
    model = result.get("model") or {}
    if "parameters" in _mapping(model, f"{its} model"):
        _whole(model["parameters"], f"{its} model's parameters")
    changes = result.get("recipe_changes") or []
    if not isinstance(changes, list):
        raise ValueError(f"{its} recipe_changes holds {a_type(changes)}, not a list")
    for number, change in enumerate(changes, 1):
        named = f"{its} recipe change {number}"
        lacked = [field for field in CHANGE_FIELDS if field not in _mapping(change, named)]
        if lacked:
            raise ValueError(f"{named} lacks {', '.join(lacked)} (it holds {', '.join(change) or 'nothing'})")
        _whole(change["step"], f"{named}'s step")
    return result


def _yaml_mapping(file: Path) -> dict[str, Any]:
    return _mapping(load_yaml(file.read_text(encoding="utf-8"), stored=True))


def _sessions(file: Path) -> list[dict[str, Any]]:
    """sessions.jsonl's results, one a line, each of result.json's shape (:func:`_session_result`)."""
    return [_session_result(value, f"line {number}") for number, value in json_lines(file)]


def _commands(file: Path) -> list[SessionCommand]:
    """commands.jsonl's sessions, one a line: ``{"command": "optimlab train ...", "resumed": false}``."""
    commands = []
    for number, value in json_lines(file):
        entry = _mapping(value, f"line {number}")
        command, resumed = entry.get("command"), entry.get("resumed")
        if not isinstance(command, str) or not isinstance(resumed, bool):
            raise ValueError(
                f"line {number} holds command {json.dumps(command)} and resumed {json.dumps(resumed)}: "
                "expected a string and true or false"
            )
        commands.append(SessionCommand(command, resumed))
    return commands


def _commands_read(file: Path) -> tuple[list[SessionCommand], str | None]:
    """commands.jsonl's sessions (none where it is absent), and None; or, where it cannot be read (a line
    not UTF-8, not JSON, not a session's command), none and why, naming the file and the line: an optional
    record refused the run it sits in, to `optimlab report`, the trackers and the resume that had trained."""
    try:
        return (_commands(file) if file.is_file() else []), None
    except OSError as error:
        return [], f"{file.name}: {error.strerror or error}"
    except ValueError as error:  # its line named: 'line 2 is not UTF-8 text'
        return [], f"{file.name} {error}"


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _parsed(file: Path, parse: Callable[[Path], Any], what: str) -> Any:
    """What ``parse`` makes of ``file``; a file cut short or overwritten is named in one line."""
    try:
        return parse(file)
    except (ValueError, yaml.YAMLError) as error:
        mark = getattr(error, "problem_mark", None)  # YAML's: what it found, and where
        reason = (
            f"{error.problem} at line {mark.line + 1}"  # type: ignore[union-attr]
            if mark is not None
            else str(error).strip().splitlines()[0]
        )
    raise OptimlabError(f"{str(file)!r} is not {what}: {reason}")


def _whole(value: Any, field: str) -> int:
    """A line's step or epoch: a whole number as train writes it, or a float of one (2.0, as a JSON writer
    may put it; registry.whole_number refuses that, a recipe's count, where a float is a typo); ``1.5``
    (truncated to 1 by ``int``), ``true``, ``1e400`` (infinity) and a whole number int64 does not hold
    (``float`` of 10**400 raised Python's OverflowError) raise a ValueError naming it."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field} {json.dumps(value)} is not a whole number")
    if not _INT64.contains(value):
        digits = str(value)
        shown = f"{digits[:10]}... ({len(digits)} digits)" if len(digits) > 20 else digits
        raise ValueError(f"{field} {shown} is not {_INT64.accepted_for(value)}")
    return value


def _series(
    records: list[dict[str, Any]],
) -> tuple[dict[str, tuple[list[int], list[float], list[float]]], dict[int, int]]:
    """``{metric: (steps, seconds, values)}`` of metrics.jsonl's records, and ``{step: epoch}``."""
    series: dict[str, tuple[list[int], list[float], list[float]]] = {}
    epochs: dict[int, int] = {}
    for record in records:
        step, seconds = _whole(record["step"], "step"), float(record.get("seconds", math.nan))
        if record.get("epoch") is not None:
            epochs[step] = _whole(record["epoch"], "epoch")
        for key, value in record.items():
            if key in AXES:
                continue
            steps, times, values = series.setdefault(key, ([], [], []))
            steps.append(step)
            times.append(seconds)
            values.append(math.nan if value is None else float(value))
    return series, epochs
