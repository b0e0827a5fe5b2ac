"""Ratios of two implementations timed side by side, round after round, on a shared, noisy machine.

A ratio of two medians keeps the drift of the machine between the rounds (another tenant's job can slow
every run of one round by a third); the ratio within each round cancels it. Shared by the scripts here.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

BOOTSTRAP_SAMPLES = 2000


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> tuple[float, float, float]:
    """Median over rounds of ``numerator[i] / denominator[i]`` and its 95% bootstrap interval
    (rounds resampled with replacement; a fixed seed, so a table is reproducible from its times)."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    draw = random.Random(0)
    medians = sorted(statistics.median(draw.choices(ratios, k=len(ratios))) for _ in range(BOOTSTRAP_SAMPLES))
    low, high = medians[int(0.025 * BOOTSTRAP_SAMPLES)], medians[int(0.975 * BOOTSTRAP_SAMPLES) - 1]
    return statistics.median(ratios), low, high


def alternating_rounds(
    now: Callable[[], float], before: Callable[[], float], rounds: int
) -> tuple[list[float], list[float]]:
    """The seconds ``now()`` and ``before()`` each return, ``rounds`` times in one process, the one that
    goes first alternating from round to round (a fixed order would favour one)."""
    timed = []
    for round_index in range(rounds):
        if round_index % 2 == 0:
            first = now()
            timed.append((first, before()))
        else:
            first = before()
            timed.append((now(), first))
    return [t for t, _ in timed], [t for _, t in timed]


def fresh_interpreter_rounds(now: str, before: str, rounds: int) -> tuple[list[float], list[float]]:
    """The seconds each of two ``python -c`` programs prints, each round both in fresh interpreters (what a
    first use in a process pays), ``now`` then ``before``; a failed program stops the benchmark."""

    def seconds(code: str) -> float:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"a timed program exited {done.returncode}:\n{done.stderr}")
        return float(done.stdout)

    timed = [(seconds(now), seconds(before)) for _ in range(rounds)]
    return [t for t, _ in timed], [t for _, t in timed]


THIS_TREE = Path(__file__).resolve().parents[1] / "src"


def in_tree(src: Path, code: str) -> str:
    """``code`` importing the optimlab of the source tree ``src`` (a checkout's ``src`` folder, such as a
    ``git worktree`` of an older commit's), put first on ``sys.path`` ahead of the installed one."""
    return f"import sys\nsys.path.insert(0, {str(Path(src).resolve())!r})\n{code}"


def source_tree(text: str) -> Path:
    """An ``argparse`` type: the ``src`` folder of a checkout (one without ``optimlab`` in it would time
    the installed optimlab in its place, silently)."""
    src = Path(text)
    if not (src / "optimlab" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a checkout's src folder (no optimlab/__init__.py in it)"
        )
    return src


def at_least_one(what: str) -> Callable[[str], int]:
    """An ``argparse`` type for a count of ``what`` (rounds, repeats, trials): 1 or more (0 ended in 'no
    median for empty data' or a division by zero, a traceback)."""

    def count(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is no whole number: 1 or more {what}") from None
        if number < 1:
            raise argparse.ArgumentTypeError(f"{number}: a comparison takes 1 or more {what}")
        return number

    return count


round_count = at_least_one("rounds")


def tree_rounds(code: str, before: Path, rounds: int) -> tuple[list[float], list[float]]:
    """:func:`fresh_interpreter_rounds` of the same ``code`` on this tree and on the tree ``before``."""
    return fresh_interpreter_rounds(in_tree(THIS_TREE, code), in_tree(before, code), rounds)


def print_before_now(timed: str, now: Sequence[float], before: Sequence[float], before_name: str) -> None:
    """The table of a claim's two trees: the median seconds of each and before / now, the median of the
    within-round ratios with its 95% bootstrap interval."""
    ratio, low, high = paired_ratio(before, now)
    print(f"| tree | median s ({timed}, {len(now)} rounds) |")
    print("| --- | ---: |")
    print(f"| this tree | {statistics.median(now):.4f} |")
    print(f"| {before_name} | {statistics.median(before):.4f} |")
    print(f"\nbefore / now: {ratio:.2f}x [{low:.2f}, {high:.2f}]")
