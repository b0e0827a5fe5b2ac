"""The model size check (``models.sizing.check_fits``) of a model trained with Adam, first check in a
process, each round in fresh interpreters: this tree against an older one.

Claim (7b4ab3b5): sizing the optimizer's state on the meta device (0f7e7c83) imported torch.fx's symbolic
shapes and sympy (``torch.zeros_like``'s ``preserve_format`` on meta), about 1.07 s of the first check of a
process; with the ``*_like`` calls made contiguous while sized it imports nothing (0.016 s). Each round
times, in a fresh interpreter for each tree after ``import optimlab.models`` and the optimizer registry,
``check_fits`` of an MLP of ``--width`` on iris's shape (4 features, 3 classes) trained with Adam, as
``optimlab train --dataset iris --width 2048`` checks it (a width past 1024 is sized); the table gives both
medians and the median within-round ratio with its 95% bootstrap interval (``paired.py``).

    git worktree add /tmp/before 7b4ab3b5~1
    python benchmarks/size_check.py --rounds 7 --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse

from paired import print_before_now, source_tree, tree_rounds

_TIMED = """
import time, torch
import optimlab.models
from optimlab.models import sizing
from optimlab.registry import get_registry
get_registry("optimizer").get("adam")
started = time.perf_counter()
sizing.check_fits("mlp", (4,), 3, torch.device("cpu"), "adam", {{}}, width={width})
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--before", type=source_tree, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    now, before = tree_rounds(_TIMED.format(width=args.width), args.before, args.rounds)
    print_before_now(
        f"first check_fits of a process, mlp width {args.width}, adam", now, before, str(args.before)
    )


if __name__ == "__main__":
    main()
