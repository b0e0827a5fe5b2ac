"""Why find_lr's check of a small Transformer is slow on CPU: a stacked member's step against the
model's own step (and, with --find-lr, find_lr itself end to end).

find_lr on a TransformerEncoder (d_model 32, 2 layers, 4 heads, 400 rows of 16 tokens) checks 17
candidates stacked, on 5 cross-fitted folds (80 held-out rows, lr_check point 3), 200 steps each: 17,000
member-steps. Each round times a step (forward, backward) of the model alone and one of the 17 stacked
members (optimlab.models.stacked, as the check runs them), in alternating order, and reports a member's
share of the stacked step against the model's own step. torch has no vmap batching rule for CPU flash
attention: vmap runs it member by member.

    OMP_NUM_THREADS=1 python benchmarks/stacked_transformer_check.py --rounds 5
    OMP_NUM_THREADS=1 python benchmarks/stacked_transformer_check.py --rounds 0 --find-lr  # end to end
    OMP_NUM_THREADS=1 python benchmarks/stacked_transformer_check.py --rounds 0 --find-lr --check-steps 10 \
        --profile /tmp/find_lr.prof  # where its CPU goes, in a run short enough for a loaded machine
    OMP_NUM_THREADS=1 python benchmarks/stacked_transformer_check.py --rounds 3 --check-steps 10 \
        --before /tmp/before/src  # find_lr's CPU seconds, this tree against an older one (a worktree)

With ``--before``, each round runs find_lr (``--check-steps``) in a fresh interpreter for each tree and
reads its CPU time (``time.process_time``: one thread, so less moved by other processes than wall time);
the table gives both medians and the median within-round ratio with its 95% bootstrap interval.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import statistics
import time
import warnings
from pathlib import Path

import torch
from paired import paired_ratio, print_before_now, source_tree, tree_rounds
from torch import nn
from torch.func import stack_module_state

from optimlab.models.stacked import stacked_forward

MEMBERS = 17  # find_lr's ladder: 3.2x the lowest-loss lr down to 1/32 of it, eighth decades apart
REPEATS = 3  # steps timed a round, after one untimed


class TinyTransformer(nn.Module):
    def __init__(self, vocabulary: int = 50, width: int = 32, classes: int = 4) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width)
        layer = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(width, classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, 16) -> (B, 4)
        return self.head(self.encoder(self.embedding(tokens)).mean(1))


_FIND_LR_CPU = """
import sys, time, warnings, torch
sys.path.insert(0, {benchmarks!r})
warnings.filterwarnings("ignore")
from stacked_transformer_check import TinyTransformer
from optimlab.doctor import find_lr
torch.manual_seed(0)
rows = torch.randint(0, 50, (400, 16))
started = time.process_time()
find_lr(TinyTransformer(), torch.nn.CrossEntropyLoss(), rows, rows[:, 0] % 4, check_steps={steps})
print(time.process_time() - started)
"""


def find_lr_seconds(check_steps: int | None, profile: str | None) -> None:
    """find_lr of the model on 400 rows of 16 tokens (its defaults: 200 check steps, 5 folds; ``check_steps``
    fewer), timed once; with ``profile`` a file, under cProfile counting CPU time (``time.process_time``)."""
    from optimlab.doctor import find_lr

    torch.manual_seed(0)
    rows = torch.randint(0, 50, (400, 16))
    steps = {} if check_steps is None else {"check_steps": check_steps}
    profiler = cProfile.Profile(time.process_time)
    started = time.perf_counter()
    with profiler if profile else contextlib.nullcontext():
        result = find_lr(TinyTransformer(), nn.CrossEntropyLoss(), rows, rows[:, 0] % 4, **steps)
    if profile:
        profiler.dump_stats(profile)
    print(f"find_lr: {time.perf_counter() - started:.1f} s, suggestion {result.suggestion}; {result.check}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--find-lr", action="store_true", help="also time find_lr end to end, once")
    parser.add_argument(
        "--check-steps", type=int, default=None, help="find_lr's check_steps (its default: 200)"
    )
    parser.add_argument("--profile", default=None, help="with --find-lr: write its cProfile (CPU time) here")
    parser.add_argument(
        "--before", type=source_tree, default=None, help="an older tree's src: find_lr's CPU time, both trees"
    )
    args = parser.parse_args()
    if args.rounds < (1 if args.before else 0):
        parser.error(f"--rounds {args.rounds}: 1 or more with --before, else 0 (none) or more")
    if args.before and (args.find_lr or args.profile):
        parser.error("--find-lr and --profile time this tree alone: not with --before, which times find_lr")
    if args.profile and not args.find_lr:
        parser.error(f"--profile {args.profile}: profiles find_lr, so it takes --find-lr")
    if args.before:
        steps = 200 if args.check_steps is None else args.check_steps
        code = _FIND_LR_CPU.format(benchmarks=str(Path(__file__).resolve().parent), steps=steps)
        now, before = tree_rounds(code, args.before, args.rounds)
        print_before_now(f"find_lr CPU s, check_steps {steps}", now, before, str(args.before))
        return
    warnings.filterwarnings("ignore", message="There is a performance drop")
    torch.manual_seed(0)
    model = TinyTransformer()
    tokens = torch.randint(0, 50, (64, 16))  # one batch, find_lr's default 64 rows
    labels = tokens[:, 0] % 4
    stacked, buffers = stack_module_state([model] * MEMBERS)
    params = {name: p.detach().clone().requires_grad_() for name, p in stacked.items()}
    forward = stacked_forward(copy.deepcopy(model), MEMBERS, shared_input=True)

    def alone() -> None:
        loss = nn.functional.cross_entropy(model(tokens), labels)
        torch.autograd.grad(loss, list(model.parameters()))

    def members() -> None:
        outputs = forward(params, buffers, tokens)
        losses = nn.functional.cross_entropy(outputs.flatten(0, 1), labels.repeat(MEMBERS), reduction="none")
        torch.autograd.grad(losses.view(MEMBERS, -1).mean(1).sum(), list(params.values()))

    def seconds(step) -> float:
        step()
        started = time.perf_counter()
        for _ in range(REPEATS):
            step()
        return (time.perf_counter() - started) / REPEATS

    if args.find_lr:
        find_lr_seconds(args.check_steps, args.profile)
    if not args.rounds:
        return
    shares, own = [], []
    for round_ in range(args.rounds):
        order = (alone, members) if round_ % 2 == 0 else (members, alone)
        timed = {step.__name__: seconds(step) for step in order}
        shares.append(timed["members"] / MEMBERS)
        own.append(timed["alone"])
        print(f"round {round_ + 1}: alone {own[-1] * 1e3:.1f} ms, a stacked member {shares[-1] * 1e3:.1f} ms")
    ratio, low, high = paired_ratio(shares, own)
    print(
        f"median: alone {statistics.median(own) * 1e3:.1f} ms, a stacked member "
        f"{statistics.median(shares) * 1e3:.1f} ms; member / alone {ratio:.2f} (95% {low:.2f}-{high:.2f})"
    )


if __name__ == "__main__":
    main()
