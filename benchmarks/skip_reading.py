"""``skips.residual_blocks`` (the reading of a model's residual connections: fx's graph, or the autograd
graph of one forward and backward of a copy) on the same models and inputs, at this tree and at another
commit, round after round.

Measured (forty-fifth session, docs/benchmarks.md): what counting projection shortcuts (a shortcut of
up to two parametrized steps, not only a parameter-free one) and following the branch no further than a
value both operands share cost the reading. Each round times both versions (which goes first alternates);
the table gives the medians of ``--repeats`` calls, the blocks each finds, and the median within-round
ratio with its 95% bootstrap interval (``paired.py``). Models: ``residual_blocks.py``'s, with inputs.

    python benchmarks/skip_reading.py --before 4d6e31e7 --rounds 5 --repeats 3
"""

from __future__ import annotations

import argparse
import functools
import statistics

from paired import paired_ratio, round_count
from residual_blocks import models, seconds, version_at

from optimlab.doctor import skips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit whose skips.py is compared")
    parser.add_argument("--rounds", type=round_count, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    versions = {"before": version_at(args.before), "now": skips.residual_blocks}
    print(
        "| model | blocks before / now | before (s) | now (s) | now/before [95% CI] |\n|---|---|---|---|---|"
    )
    for name, (model, inputs) in models().items():
        found = {which: len(read(model, *inputs)) for which, read in versions.items()}
        rounds = []
        for round_index in range(args.rounds):  # a fixed order would favour one version: alternate it
            timed = {}
            for which in ("now", "before") if round_index % 2 == 0 else ("before", "now"):
                timed[which] = seconds(functools.partial(versions[which], model, *inputs), args.repeats)
            rounds.append((timed["now"], timed["before"]))
        now, before = [n for n, _ in rounds], [b for _, b in rounds]
        ratio, low, high = paired_ratio(now, before)
        print(
            f"| {name} | {found['before']} / {found['now']} | {statistics.median(before):.3f} "
            f"| {statistics.median(now):.3f} | {ratio:.2f} [{low:.2f}, {high:.2f}] |"
        )


if __name__ == "__main__":
    main()
