"""Planning a grid study: ``SearchSpace.grid_shape`` for a budget, as ``optimlab compare --budget N`` plans its
grid before the first trial, each round in fresh interpreters: this tree against an older one.

Claim (26b29ada): grid_shape built each range's grid at every count up to the budget to find those it holds
distinct, O(budget^2): a budget of 1000 took 3.05 s, two ranges 5.35 s, 10**4 about five minutes; it now
bisects for the most points a range holds distinct: 0.04 s, 0.2 s and 0.47 s. Each round times, in a fresh
interpreter for each tree, ``SearchSpace.from_flags(--space ...).grid_shape(--budget)``; the table gives
both medians and the median within-round ratio with its 95% bootstrap interval (``paired.py``).

    git worktree add /tmp/before 26b29ada~1
    python benchmarks/grid_planning.py --rounds 5 --budget 1000 --before /tmp/before/src
    python benchmarks/grid_planning.py --rounds 5 --budget 1000 --space optimizer.lr=1e-4:1e-1:log \\
        --space optimizer.weight_decay=1e-6:1e-2:log --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse

from paired import print_before_now, source_tree, tree_rounds

_TIMED = """
import time
from optimlab.study.space import SearchSpace
space = SearchSpace.from_flags({flags!r})
started = time.perf_counter()
space.grid_shape({budget})
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument(
        "--space", action="append", help="a --space flag (default optimizer.lr=1e-4:1e-1:log)"
    )
    parser.add_argument("--before", type=source_tree, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    flags = args.space or ["optimizer.lr=1e-4:1e-1:log"]
    now, before = tree_rounds(_TIMED.format(flags=flags, budget=args.budget), args.before, args.rounds)
    print_before_now(f"grid_shape({args.budget}) of {' '.join(flags)}", now, before, str(args.before))


if __name__ == "__main__":
    main()
