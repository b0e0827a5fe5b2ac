"""What fit's check of NaN or inf in the val data costs (forty-fifth session): each val batch's loss
tested for a finite number as it is evaluated (tensors as one batch of up to 4,096 rows), its inputs
searched for NaN or inf only where it is not (no longer val tensors searched whole before any step,
since 89f22c2b); such a batch refused before any step where fit evaluates the first val batch then
(try_metrics: a loss of torch's, as here, or metrics), else said in one warning, training going on.

Each round times, in fresh interpreters, this tree and an older checkout's ``src`` (``--before``,
``git archive <commit> src | tar -x -C DIR``) side by side: after one untimed fit, ``--fits`` fits of
one epoch on scikit-learn's digits (1437 training rows in batches of 64, an MLP 64-64-10) with its 360
val rows as tensors, or as a DataLoader of batches of 32 (12 batches an evaluation), evaluated once an
epoch. The table gives the median seconds of each and the median within-round ratio.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/val_nan_check.py --before /tmp/base/src --rounds 5
"""

from __future__ import annotations

import argparse
import statistics

from paired import paired_ratio, round_count, source_tree, tree_rounds

PROGRAM = """
import time, torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from optimlab.train import fit
digits = load_digits()
x, y = torch.tensor(digits.data, dtype=torch.float32) / 16, torch.tensor(digits.target)
(tx, vx), (ty, vy) = x.split([1437, 360]), y.split([1437, 360])
val = {val}

def one_fit():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    fit(model, torch.optim.SGD(model.parameters(), lr=0.1), tx, ty, loss_fn=nn.CrossEntropyLoss(),
        val_data=val, epochs=1, batch_size=64)

one_fit()
start = time.perf_counter()
for _ in range({fits}):
    one_fit()
print(time.perf_counter() - start)
"""

VAL_DATA = {"tensors": "(vx, vy)", "DataLoader": "DataLoader(TensorDataset(vx, vy), batch_size=32)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=source_tree, required=True)
    parser.add_argument("--rounds", type=round_count, default=5)
    parser.add_argument("--fits", type=int, default=5)
    args = parser.parse_args()
    for name, val in VAL_DATA.items():
        code = PROGRAM.format(val=val, fits=args.fits)
        now, before = tree_rounds(code, args.before, args.rounds)
        ratio, low, high = paired_ratio(now, before)
        print(
            f"val data as {name}: {args.fits} fits {statistics.median(now):.3f} s checked, "
            f"{statistics.median(before):.3f} s before; ratio {ratio:.3f} [{low:.3f}, {high:.3f}] "
            f"(median of {args.rounds} paired rounds)"
        )


if __name__ == "__main__":
    main()
