"""optim's source and tests keep the project's line length (pyproject's ``line-length``, 110).

``ruff format`` wraps code but leaves long docstrings, comments and strings, and ruff's E501 is not in
the project's selected rules (336 lines elsewhere are longer): a docstring line of 180 characters in
SAM passed CI. ruff's own E501, run on this area alone, is the check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]  # the checkout: its pyproject sets the line length
AREA = [ROOT / "src" / "optimlab" / "optim", ROOT / "tests" / "optim"]


def test_no_line_of_optim_is_longer_than_the_line_length():
    found = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "E501", "--output-format", "concise", *AREA],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout
