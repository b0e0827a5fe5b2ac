"""The first ``load_state_dict`` of an optimlab optimizer in a process: what ``optimlab train --resume`` pays
before its first step, each round in fresh interpreters.

Claim: the load's shape check (``Optimizer._check_shapes``) builds each parameter's state on the meta device,
whose ``zeros_like`` with torch's default ``preserve_format`` runs a Python meta rule that imports sympy on
first use (484 modules); under ``_MetaLikesContiguous`` the same calls lay the meta state out contiguously
and import nothing. Each round times, in two fresh interpreters after ``import optimlab.optim`` and one
Adam step of a 2-layer MLP, (a) ``load_state_dict`` of that state into a fresh optimizer and (b) the same
with the mode replaced by a no-op (the check as it was); the table gives both medians and the median
within-round ratio with its 95% bootstrap interval (``paired.py``).

    python benchmarks/resume_load.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics

from paired import fresh_interpreter_rounds, paired_ratio

_TIMED = """
import contextlib, time, torch
from torch import nn
import optimlab.optim
from optimlab.optim.shells import torch_optim
{before}
model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
model(torch.randn(32, 64)).square().mean().backward()
optimizer.step()
saved = optimizer.state_dict()
fresh = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
started = time.perf_counter()
fresh.load_state_dict(saved)
print(time.perf_counter() - started)
"""
NOW = ""
BEFORE = "torch_optim._MetaLikesContiguous = contextlib.nullcontext"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    now, before = fresh_interpreter_rounds(
        _TIMED.format(before=NOW), _TIMED.format(before=BEFORE), args.rounds
    )
    ratio, low, high = paired_ratio(before, now)
    print("| shape check | median s (first load_state_dict of a process) |")
    print("| --- | ---: |")
    print(f"| meta state laid out contiguously (now) | {statistics.median(now):.4f} |")
    print(f"| meta state, preserve_format (before) | {statistics.median(before):.3f} |")
    print(f"\nbefore / now: {ratio:.0f}x [{low:.0f}, {high:.0f}]")


if __name__ == "__main__":
    main()
