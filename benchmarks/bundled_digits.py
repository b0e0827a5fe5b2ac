"""``optimlab.data.load('digits')`` again in a process, as a study worker builds each trial's data, each
round in fresh interpreters: this tree against an older one.

Claim (d497d622, keyed by the file's SHA-256 since 9d9605ef): scikit-learn's bundled digits file was parsed
with np.loadtxt at every load (about 50 ms of load('digits')'s 59 ms); its arrays are now parsed once per
machine and kept in the data cache, and load('digits') takes 16 ms. Each round, in a fresh interpreter for
each tree, a cache folder of the run's own (``$OPTIMLAB_CACHE_DIR``, kept across rounds), loads digits once
untimed (first-use imports; the cache filled) and prints the median of ``--loads`` loads after it; the table
gives both medians and the median within-round ratio with its 95% bootstrap interval (``paired.py``).

    git worktree add /tmp/before d497d622~1
    python benchmarks/bundled_digits.py --rounds 7 --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
import tempfile

from paired import print_before_now, source_tree, tree_rounds

_TIMED = """
import os, statistics, time
os.environ["OPTIMLAB_CACHE_DIR"] = {cache!r}
from optimlab.data import load
load("digits")
seconds = []
for _ in range({loads}):
    started = time.perf_counter()
    load("digits")
    seconds.append(time.perf_counter() - started)
print(statistics.median(seconds))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loads", type=int, default=5, help="loads timed in each process, after one untimed")
    parser.add_argument("--before", type=source_tree, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        now, before = tree_rounds(_TIMED.format(cache=cache, loads=args.loads), args.before, args.rounds)
    print_before_now(f"load('digits'), median of {args.loads} in a process", now, before, str(args.before))


if __name__ == "__main__":
    main()
