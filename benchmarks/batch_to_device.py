"""Microseconds a batch of the user's takes to reach the model's device when already there (``UserBatches``'
``_to_device``, each batch of a fit), this tree against an older checkout's ``src`` (``--before``,
``git archive <commit> src | tar -x -C DIR``): forty-fifth session, the walk became
``nested_tensors.map_tensors``, shared with the doctor's, where it had been written out in place.

Each round runs both in fresh interpreters, side by side; each program gives the best of 5 timings of
20,000 calls on an ``(x, y)`` tuple and on a nested dict ``{"a": x, "b": [y, 3]}``; the table gives the
medians and the median within-round ratio now / before.

    OMP_NUM_THREADS=1 python benchmarks/batch_to_device.py --before /tmp/base/src --rounds 7
"""

from __future__ import annotations

import argparse
import statistics

from paired import paired_ratio, round_count, source_tree, tree_rounds

PROGRAM = """
import timeit, torch
from optimlab.data.user_batches import _to_device
device, x, y = torch.device("cpu"), torch.ones(4, 3), torch.ones(4)
batch = {batch}
print(min(timeit.repeat(lambda: _to_device(batch, device), number=20_000, repeat=5)) / 20_000 * 1e6)
"""
BATCHES = {"(x, y) tuple": "(x, y)", "nested dict": '{"a": x, "b": [y, 3]}'}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=source_tree, required=True)
    parser.add_argument("--rounds", type=round_count, default=7)
    args = parser.parse_args()
    print(f"| batch | now us | before us | now / before ({args.rounds} paired rounds) |")
    print("| --- | ---: | ---: | ---: |")
    for name, batch in BATCHES.items():
        now, before = tree_rounds(PROGRAM.format(batch=batch), args.before, args.rounds)
        ratio, low, high = paired_ratio(now, before)
        print(
            f"| {name} | {statistics.median(now):.2f} | {statistics.median(before):.2f} "
            f"| {ratio:.2f} [{low:.2f}, {high:.2f}] |"
        )


if __name__ == "__main__":
    main()
