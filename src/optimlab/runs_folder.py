"""Where work is kept when no output is named: ``runs/KIND-LABEL-TIME``, a name of its own; and the
files a run folder holds, by name (``optimlab.train.train`` writes them; reports, trackers and the CLI
read them).

Two commands started within the same second (a script's second ``optimlab.compare``, two ``optimlab
train`` of one recipe) got the same name: the second was refused ("the storage already holds study
..."), or, for a report page, written over the first. The later one now takes ``-2``, ``-3``...
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["METRICS_NAME", "MODEL_NAME", "RECIPE_NAME", "RESULT_NAME", "SESSIONS_NAME", "fresh_path"]

RECIPE_NAME = "recipe.yaml"  # the recipe trained, as it resumes
METRICS_NAME = "metrics.jsonl"  # a line per step and per evaluation
MODEL_NAME = "model.pt"  # the final weights (and scaler), written at the end of training
RESULT_NAME = "result.json"  # how the run ended, and its final metrics
SESSIONS_NAME = "sessions.jsonl"  # a resumed run's earlier result.json files, one a line, oldest first


def fresh_path(stem: str, suffix: str = "", *, root: str | Path = "runs") -> Path:
    """``root/STEM-TIME{suffix}`` (the local time to the second), else ``...-TIME-2{suffix}``, ``-3``...
    where that is taken."""
    stem = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = Path(root) / f"{stem}{suffix}", 2
    while path.exists():
        path, n = Path(root) / f"{stem}-{n}{suffix}", n + 1
    return path
