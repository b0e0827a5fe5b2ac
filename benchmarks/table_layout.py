"""What a human table's fit-or-fold decision costs over printing it (compare's and bench's leaderboards).

``Output.table`` decides the width a piped table gets (:func:`optimlab.cli._output._whole_width`: wide
enough that rich cuts no column) or, on a terminal, whether its columns fold; the decision lays out a
stand-in of at most two rows (f44a0633; f447c679 laid out the whole table up to 7 times). Timed here, side
by side round after round: rich printing the table alone into a file at the width decided, against the
decision plus that same print. Rows are a leaderboard's, of ``--rows`` methods.

    python benchmarks/table_layout.py --rounds 7
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from paired import paired_ratio
from rich.console import Console

from optimlab.cli._output import _whole_width, rich_table

COLUMNS = ["rank", "method", "test_accuracy mean [95% CI]", "std", "seeds", "failed trials", "best config"]


def _rows(n: int) -> list[list[object]]:
    return [
        [
            i + 1,
            f"mypkg.optimizers:Method{i}",
            "0.973 [0.945, 1.000]",
            0.01126,
            3,
            0,
            f"lr=0.00{i} momentum=0.9",
        ]
        for i in range(n)
    ]


def _printed(rows: list[list[object]], width: int) -> float:
    start = time.perf_counter()
    Console(file=io.StringIO(), width=width).print(rich_table("leaderboard", COLUMNS, rows))
    return time.perf_counter() - start


def _decided(rows: list[list[object]]) -> tuple[float, int]:
    start = time.perf_counter()
    width = _whole_width("leaderboard", COLUMNS, rows, width=80)
    Console(file=io.StringIO(), width=width).print(rich_table("leaderboard", COLUMNS, rows))
    return time.perf_counter() - start, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--rows", type=int, nargs="+", default=[30, 300, 2000])
    args = parser.parse_args()
    print("| rows | width decided | print alone (s) | decision + print (s) | ratio [95% CI] |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for n in args.rows:
        rows, alone, decided = _rows(n), [], []
        for _ in range(args.rounds):
            seconds, width = _decided(rows)
            decided.append(seconds)
            alone.append(_printed(rows, width))
        ratio, low, high = paired_ratio(decided, alone)
        print(
            f"| {n} | {width} | {statistics.median(alone):.3f} | {statistics.median(decided):.3f} "
            f"| {ratio:.2f} [{low:.2f}, {high:.2f}] |"
        )


if __name__ == "__main__":
    main()
