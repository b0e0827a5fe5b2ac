"""Planning a random study: ``SearchSpace.sample`` of a budget's distinct draws, as ``optimlab compare
--protocol random --budget N`` plans its tuning trials before the first one, each round in fresh
interpreters: this tree against an older one.

Claim: sample kept a draw where ``config not in drawn`` (a scan of the list), O(budget^2): 10**4 draws of
the lr took 6.4 s at a load of about 9; it now keeps each draw's key in a set (``Dimension.key``): 0.37 s.
The draws are the same both ways (tests/study/test_space.py). Each round times, in a fresh interpreter
for each tree, ``SearchSpace.from_flags(--space ...).sample(--budget, seed=0)``; the table gives both
medians and the median within-round ratio with its 95% bootstrap interval (``paired.py``).

    git worktree add /tmp/before HEAD~1
    python benchmarks/random_planning.py --rounds 3 --budget 10000 --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paired import print_before_now, tree_rounds

_TIMED = """
import time
from optimlab.study.space import SearchSpace
space = SearchSpace.from_flags({flags!r})
started = time.perf_counter()
space.sample({budget}, seed=0)
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=10000)
    parser.add_argument(
        "--space", action="append", help="a --space flag (default optimizer.lr=1e-4:1e-1:log)"
    )
    parser.add_argument("--before", type=Path, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    flags = args.space or ["optimizer.lr=1e-4:1e-1:log"]
    now, before = tree_rounds(_TIMED.format(flags=flags, budget=args.budget), args.before, args.rounds)
    print_before_now(f"sample({args.budget}) of {' '.join(flags)}", now, before, str(args.before))


if __name__ == "__main__":
    main()
