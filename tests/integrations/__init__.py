"""Tests of optimlab.integrations; :func:`train_with_tracker` runs `optimlab train --log` on a tiny run."""

from pathlib import Path

import pytest

from optimlab.cli.app import main


def train_with_tracker(out: Path, tracker: str) -> None:
    """`optimlab train` of a small MLP on iris for 12 steps into ``out``, logging to ``tracker``."""
    with pytest.raises(SystemExit) as done:
        main(
            ["train", "--dataset", "iris", "--width", "8", "--steps", "12", "--batch-size", "32",
             "--out", str(out), "--no-progress", "--log", tracker]
        )  # fmt: skip
    assert done.value.code == 0
