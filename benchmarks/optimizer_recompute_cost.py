"""What the per-step recomputations of the optimizer shells cost against the step they sit in.

Three pieces are recomputed every step from lists that rarely change: the lr transform's split of a
group into float32/float64 tensors (added in one rounding) and the others (``scale_by_learning_rate``'s
``apply``: SGD, AdaDelta, RMSprop with momentum), the fused path's division of a group between kernel
calls and chain (``FusedPath._split``: cached per param list, a cache hit still checks each gradient's
layout), and a half-precision ``(K,)`` lr's ``.tolist()`` for its range check (the batched shell).
Each piece is timed alone, exactly as the shell calls it, beside the whole step it belongs to, on
tiny tensors (24 of 16 floats), where a step is mostly such overhead: the worst case for the share.
Rounds alternate piece and step; the table gives medians and the median within-round share with its
95% bootstrap interval (``paired.py``). Caching a piece can save at most its share.

Run: OMP_NUM_THREADS=1 python benchmarks/optimizer_recompute_cost.py [--rounds 7] [--steps 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from paired import paired_ratio, round_count

from optimlab.optim import create
from optimlab.optim.base import refuse_past_range
from optimlab.optim.shells.batched import BatchedOptimizer
from optimlab.optim.transforms.scaling import _ONE_ROUNDING

TENSORS, FLOATS, K = 24, 16, 4


def per_call(function: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``function``, over ``calls`` calls after 20 untimed ones."""
    for _ in range(20):
        function()
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls


def drop_in(name: str) -> tuple[Callable[[], object], list[torch.nn.Parameter], torch.optim.Optimizer]:
    params = [torch.nn.Parameter(torch.randn(FLOATS)) for _ in range(TENSORS)]
    for p in params:
        p.grad = torch.randn(FLOATS)
    optimizer = create(name, params, lr=1e-3)
    return optimizer.step, params, optimizer


def cases() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """Each case's (piece, step)."""
    adadelta_step, adadelta_params, _ = drop_in("adadelta")

    def partition() -> object:  # scale_by_learning_rate's apply, as it splits a group each step
        in_one = [p.dtype in _ONE_ROUNDING for p in adadelta_params]
        return [i for i, one in enumerate(in_one) if not one], [i for i, one in enumerate(in_one) if one]

    sgd_step, sgd_params, sgd = drop_in("sgd")
    grads = [p.grad for p in sgd_params]
    sgd.step()

    def split() -> object:  # the fused path's division on a cache hit
        return sgd.fused_path._split(0, sgd_params, grads)

    stacked = [torch.randn(K, FLOATS, dtype=torch.bfloat16) for _ in range(TENSORS)]
    batched = BatchedOptimizer(stacked, "sgd", members=K, lr=[1e-3 * (k + 1) for k in range(K)])
    batched_grads = [torch.randn_like(p) for p in stacked]
    lr = torch.tensor([1e-3 * (k + 1) for k in range(K)], dtype=torch.float64)

    def lr_check() -> object:  # scale_by_learning_rate's update on half tensors
        shown = lr.tolist()
        refuse_past_range("lr", shown, shown, stacked)
        return shown

    return {
        "adadelta drop-in (eager), float32: lr split by dtype": (partition, adadelta_step),
        "sgd drop-in (torch_fused), float32: fused path's division": (split, sgd_step),
        f"sgd batched K={K}, bfloat16: (K,) lr .tolist() + range check": (
            lr_check,
            lambda: batched.step(batched_grads),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=round_count, default=7)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{TENSORS} tensors of {FLOATS} floats, 1 thread, {args.rounds} rounds of {args.steps} calls\n")
    print("| case | piece us | step us | piece / step [95% CI] |\n|---|---|---|---|")
    with torch.no_grad():
        for label, (piece, step) in cases().items():
            pieces, steps = [], []
            for _ in range(args.rounds):
                pieces.append(per_call(piece, args.steps))
                steps.append(per_call(step, args.steps))
            share, low, high = paired_ratio(pieces, steps)
            print(
                f"| {label} | {1e6 * statistics.median(pieces):.2f} | {1e6 * statistics.median(steps):.1f} "
                f"| {100 * share:.1f}% [{100 * low:.1f}, {100 * high:.1f}] |"
            )


if __name__ == "__main__":
    main()
