"""What fit's check of the val data before training costs a short fit: the val data's first batch
evaluated before any step where the loss is torch's own (3aa0f523, ``loop.try_metrics``), which opens
the val data once more than the fit's evaluations do (a DataLoader's workers started again, its
prefetched batches read).

Each round runs one fit of one step on 64 rows with val data of 4096 rows in batches of 256, with the
check and without it (``of_predictions_alone`` answering False, so nothing asks for the check), in one
process after one untimed fit of each; the table gives the medians and the median within-round
difference, for val data as a DataLoader of ``--workers`` workers and as tensors.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/val_check_cost.py --rounds 7 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import optimlab.train.loop as loop

CHECKED = loop.of_predictions_alone


def _fit_seconds(val_data: Any, checked: bool) -> float:
    loop.of_predictions_alone = CHECKED if checked else (lambda loss_fn: False)
    x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    model = nn.Linear(3, 2)
    start = time.perf_counter()
    loop.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), (x, y), val_data=val_data,
             loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=64)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    x, y = torch.randn(4096, 3), torch.randint(0, 2, (4096,))
    loader = DataLoader(TensorDataset(x, y), batch_size=256, num_workers=args.workers)
    for name, val_data in ((f"DataLoader, {args.workers} workers", loader), ("tensors", (x, y))):
        _fit_seconds(val_data, True), _fit_seconds(val_data, False)  # first use, untimed
        rounds = [(_fit_seconds(val_data, True), _fit_seconds(val_data, False)) for _ in range(args.rounds)]
        checked, unchecked = zip(*rounds, strict=True)
        print(
            f"{name}: fit {statistics.median(checked):.3f} s checked, {statistics.median(unchecked):.3f} s "
            f"not; the check {statistics.median(a - b for a, b in rounds):+.3f} s (median of {args.rounds})"
        )


if __name__ == "__main__":
    main()
