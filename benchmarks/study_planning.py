"""Planning a study before its first trial, as ``optimlab compare --budget N`` does: a grid's shape
(``SearchSpace.grid_shape``) or a random search's distinct draws (``SearchSpace.sample``), each round in
fresh interpreters: this tree against an older one.

Claims: grid_shape built each range's grid at every count up to the budget to find those it holds distinct,
O(budget^2) (26b29ada: 10**4 about five minutes; now bisection, 0.47 s); sample kept a draw where ``config
not in drawn``, a scan of the list, O(budget^2) (50f6343f: 10**4 draws 6.4 s; now a set of keys, 0.37 s).
Each round times, in a fresh interpreter for each tree, ``SearchSpace.from_flags(--space ...)`` planned at
``--budget``; the table gives both medians and the median within-round ratio with its 95% bootstrap
interval (``paired.py``).

    git worktree add /tmp/before 26b29ada~1
    python benchmarks/study_planning.py --protocol grid --rounds 5 --budget 1000 --before /tmp/before/src
    git worktree remove /tmp/before
    git worktree add /tmp/before 50f6343f~1
    python benchmarks/study_planning.py --protocol random --rounds 3 --budget 10000 --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse

from paired import print_before_now, source_tree, tree_rounds

_PLANS = {"grid": "space.grid_shape({budget})", "random": "space.sample({budget}, seed=0)"}

_TIMED = """
import time
from optimlab.study.space import SearchSpace
space = SearchSpace.from_flags({flags!r})
started = time.perf_counter()
{plan}
print(time.perf_counter() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=sorted(_PLANS), required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument(
        "--space", action="append", help="a --space flag (default optimizer.lr=1e-4:1e-1:log)"
    )
    parser.add_argument("--before", type=source_tree, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    flags = args.space or ["optimizer.lr=1e-4:1e-1:log"]
    plan = _PLANS[args.protocol].format(budget=args.budget)
    now, before = tree_rounds(_TIMED.format(flags=flags, plan=plan), args.before, args.rounds)
    print_before_now(f"{plan} of {' '.join(flags)}", now, before, str(args.before))


if __name__ == "__main__":
    main()
