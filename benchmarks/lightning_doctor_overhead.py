"""What the doctor's callback costs inside Lightning: a step with it against a Lightning step without it.

Claim (issue 12): with ``optimlab.integrations.lightning.DoctorCallback`` (default instrument schedule:
the every-step instruments, and the detailed ones on steps 1-3 and every 20th), a ``lightning.Trainer``
training step costs at most 1.10x the same Trainer's step without it. Lightning itself costs 1.3-1.5x a
hand-written loop here, so the comparison is against Lightning, not against a bare loop.

Each round trains two fresh copies of the same model from the same weights on the same batches, one
with the callback and one without, in alternating order (so that a load spike on this shared machine
does not always hit the same one); the time per step is measured from step ``--warmup`` to the end by a
timing callback that both runs carry. The ratio within each round is then summarized over rounds by its
median and a bootstrap interval (benchmarks/paired.py).

Model: MLP 64-128-128-10 on digits (torch.optim.Adam, lr 1e-3, batch 32, DataLoader with shuffling),
or ``--model cnn``: two 3x3 conv blocks with batch norm on the 8x8 digits. 1 torch thread, CPU, no
logger, checkpoint, progress bar or model summary.

Run: python benchmarks/lightning_doctor_overhead.py [--rounds 10] [--steps 300] [--warmup 30] [--model mlp]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import lightning
import torch
from paired import alternating_rounds, paired_ratio, round_count
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from optimlab.integrations.lightning import DoctorCallback


def data() -> TensorDataset:
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float32)[:1078] / 16
    return TensorDataset((x - x.mean(0)) / x.std(0).clamp_min(1e-3), torch.tensor(y)[:1078])


def net(kind: str) -> nn.Module:
    torch.manual_seed(0)
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10)
        )
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


class Classifier(lightning.LightningModule):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.net = net(kind)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class StepTimer(lightning.Callback):
    """Seconds per step from step ``warmup`` to the end of training (carried by both runs alike)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.started, self.per_step = warmup, 0.0, float("nan")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self.per_step = (time.perf_counter() - self.started) / (trainer.global_step - self.warmup)


def seconds_per_step(kind: str, dataset: TensorDataset, steps: int, warmup: int, doctor: bool) -> float:
    timer = StepTimer(warmup)
    callbacks: list[lightning.Callback] = [timer]
    if doctor:
        callbacks.append(DoctorCallback(print_findings=False))
    trainer = lightning.Trainer(
        max_steps=steps,
        callbacks=callbacks,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    trainer.fit(Classifier(kind), loader)
    return timer.per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=round_count, default=10)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("lightning.pytorch", "lightning.fabric"):  # the Trainer's banner, once per fit
        logging.getLogger(name).setLevel(logging.ERROR)
    dataset = data()
    doctored, plain = alternating_rounds(
        lambda: seconds_per_step(args.model, dataset, args.steps, args.warmup, True),
        lambda: seconds_per_step(args.model, dataset, args.steps, args.warmup, False),
        args.rounds,
    )
    for round_, (without, with_doctor) in enumerate(zip(plain, doctored, strict=True)):
        print(f"round {round_}: plain {without * 1e6:.0f} us/step, with the doctor {with_doctor * 1e6:.0f}")
    ratio, low, high = paired_ratio(doctored, plain)
    median = sorted(plain)[len(plain) // 2]
    print(
        f"{args.model}: Lightning step {median * 1e6:.0f} us (median); with DoctorCallback "
        f"{ratio:.3f}x [{low:.3f}, {high:.3f}] (median of paired ratios, 95% bootstrap), "
        f"{args.rounds} rounds of {args.steps} steps (timed from step {args.warmup})"
    )


if __name__ == "__main__":
    main()
