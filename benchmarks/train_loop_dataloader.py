"""Wall time of optimlab's fit on a user's DataLoader against a hand-written loop over the same loader.

Claim (issue 2): the loop adds no more than 10% wall time over a hand-written loop, here with the data as
a DataLoader (a TensorDataset of digits' 1,078 training rows, batch 32, shuffled), where fit reads the
batches through ``UserBatches``. The timed fit has no callback, so none may write a checkpoint: it keeps
torch's RNG state alone before each read, not NumPy's and Python's (kept, about 46 us a batch, only where a
callback may save: ``Callback.writes_checkpoints``). The MLP
64-128-128-10 and Adam of ``train_loop_overhead.py``; 340 steps (10 epochs). The two loops are timed in
turn each round after a warm-up; the script prints the median of the per-round ratios and its 95%
bootstrap interval (``paired.py``), and each loop's median.

Run: python benchmarks/train_loop_dataloader.py [--rounds 21] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from paired import paired_ratio
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from train_loop_overhead import BATCH, EPOCHS, data, model_and_optimizer

from optimlab.train import fit


def hand_loop(loader: DataLoader, steps: int) -> float:
    """What a practitioner writes over a DataLoader: forward, backward, step, read the loss."""
    model, optimizer = model_and_optimizer(0)
    loss_fn = nn.CrossEntropyLoss()
    started = time.perf_counter()
    losses, step = [], 0
    while step < steps:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            step += 1
            if step == steps:
                break
    return time.perf_counter() - started


def optimlab_loop(loader: DataLoader, steps: int) -> float:
    """fit on the same loader, no callback: no checkpoint can be written."""
    model, optimizer = model_and_optimizer(0)
    started = time.perf_counter()
    fit(model, optimizer, loader, loss_fn=nn.CrossEntropyLoss(), total_steps=steps)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y, _, _ = data()
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    steps = EPOCHS * len(loader)
    for _ in range(2):  # warm-up: allocator, kernels
        hand_loop(loader, steps), optimlab_loop(loader, steps)
    hand, ours = [], []
    for _ in range(args.rounds):  # in turn, so drift on a shared machine hits both alike
        hand.append(hand_loop(loader, steps))
        ours.append(optimlab_loop(loader, steps))
    ratio, low, high = paired_ratio(ours, hand)
    print(
        f"DataLoader(TensorDataset, batch {BATCH}, shuffle), MLP 64-128-128-10, Adam, {steps} steps, "
        f"{args.threads} thread(s), {args.rounds} rounds; torch {torch.__version__}"
    )
    print(f"hand-written {statistics.median(hand):.4f} s, optimlab fit {statistics.median(ours):.4f} s")
    print(f"fit / hand-written, paired: {ratio:.3f} [{low:.3f}, {high:.3f}]")


if __name__ == "__main__":
    main()
