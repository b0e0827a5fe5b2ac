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

from paired import alternating_rounds, round_count
from residual_blocks import TABLE_HEADER, models, seconds, table_row, version_at

from optimlab.doctor import skips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit whose skips.py is compared")
    parser.add_argument("--rounds", type=round_count, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    versions = {"before": version_at(args.before), "now": skips.residual_blocks}
    print(TABLE_HEADER)
    for name, (model, inputs) in models().items():
        found = (len(versions["before"](model, *inputs)), len(versions["now"](model, *inputs)))
        now, before = alternating_rounds(
            *(
                functools.partial(seconds, functools.partial(versions[which], model, *inputs), args.repeats)
                for which in ("now", "before")
            ),
            args.rounds,
        )
        print(table_row(name, found, now, before))


if __name__ == "__main__":
    main()
