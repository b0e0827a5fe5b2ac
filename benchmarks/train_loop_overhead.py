"""Wall time of optimlab's training loop against a hand-written PyTorch loop, side by side.

Claim (issue 2): the loop adds no more than 10% wall time over a hand-written loop on the same model
and data. Both train an MLP 64-128-128-10 with Adam on scikit-learn's digits (1,078 training rows,
batch 32, 340 steps = 10 epochs); the loops alternate, after a warm-up, and the script prints the
median time of each and their ratio. optimlab's loop runs with its metrics log (a JSON line a step)
and, in a second row, also with an evaluation on the validation split every epoch (work the hand loop
does not do; shown for scale).

Run: python benchmarks/train_loop_overhead.py [--repeats 15] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn

from optimlab.train import MetricsLog, evaluate, fit
from optimlab.train.loop import epoch_permutation

BATCH, EPOCHS = 32, 10


def data() -> tuple[torch.Tensor, ...]:
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x, dtype=torch.float32) / 16, torch.tensor(y)
    return x[:1078], y[:1078], x[1078:1437], y[1078:1437]


def model_and_optimizer(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def hand_loop(x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    """What a practitioner writes: shuffle each epoch, forward, backward, step, read the loss."""
    model, optimizer = model_and_optimizer(0)
    loss_fn = nn.CrossEntropyLoss()
    per_epoch = -(-x.shape[0] // BATCH)
    started = time.perf_counter()
    losses = []
    for step in range(steps):
        epoch, offset = divmod(step, per_epoch)
        if offset == 0:
            order = epoch_permutation(0, epoch, x.shape[0])
        rows = order[offset * BATCH : (offset + 1) * BATCH]
        loss = loss_fn(model(x[rows]), y[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return time.perf_counter() - started


def optimlab_loop(
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    folder: Path,
    validation: tuple[torch.Tensor, torch.Tensor] | None,
) -> float:
    model, optimizer = model_and_optimizer(0)
    loss_fn = nn.CrossEntropyLoss()
    log = folder / "metrics.jsonl"
    log.unlink(missing_ok=True)
    check = None
    if validation is not None:

        def check() -> dict[str, float]:
            return evaluate(model, loss_fn, *validation, task="classification", prefix="val")

    started = time.perf_counter()
    fit(
        model,
        optimizer,
        x,
        y,
        loss_fn=loss_fn,
        total_steps=steps,
        batch_size=BATCH,
        evaluate=check,
        callbacks=[MetricsLog(log)],
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, y, vx, vy = data()
    steps = EPOCHS * -(-x.shape[0] // BATCH)
    times: dict[str, list[float]] = {"hand-written": [], "optimlab fit": [], "optimlab fit + eval": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(2):  # warm-up: allocator, kernels, file cache
            hand_loop(x, y, steps), optimlab_loop(x, y, steps, folder, (vx, vy))
        for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits all alike
            times["hand-written"].append(hand_loop(x, y, steps))
            times["optimlab fit"].append(optimlab_loop(x, y, steps, folder, None))
            times["optimlab fit + eval"].append(optimlab_loop(x, y, steps, folder, (vx, vy)))
    base = statistics.median(times["hand-written"])
    print(
        f"MLP 64-128-128-10, Adam, digits, batch {BATCH}, {steps} steps, {args.threads} thread(s), "
        f"{args.repeats} repeats; torch {torch.__version__}"
    )
    print(f"{'loop':<22} {'median s':>9} {'ratio':>7}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<22} {median:>9.4f} {median / base:>7.3f}")


if __name__ == "__main__":
    main()
