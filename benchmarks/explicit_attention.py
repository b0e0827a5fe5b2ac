"""Attention written out, softmax(QK^T / sqrt(d)) V, against torch's scaled_dot_product_attention, in a
training step of optimlab's Transformer on CPU.

Question (docs/benchmarks.md, doctor section): would the lr check of a Transformer, which trains its
candidates one at a time, be markedly faster with attention written as matrix products instead of
SDPA's CPU kernel? Each round times ``--steps`` Adam steps of the same model with each attention in
turn (the function the model calls swapped in place), so load from other processes hits both alike;
printed: the median ms a step of each and the median of the per-round ratios (explicit / SDPA) with
its 95% bootstrap interval (``paired.py``). Setups: the built-in examples' Transformers, on MNIST-1D
(40 float values, batch 32, pooled logits) and on python_source (64 token ids, batch 32, causal,
logits at every position).

Run: python benchmarks/explicit_attention.py [--rounds 7] [--steps 100] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from paired import paired_ratio
from torch import Tensor

from optimlab.models import create


def explicit_attention(
    q: Tensor, k: Tensor, v: Tensor, dropout_p: float = 0.0, is_causal: bool = False
) -> Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if is_causal:
        t = q.shape[-2]
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    weights = F.dropout(scores.softmax(-1), dropout_p) if dropout_p else scores.softmax(-1)
    return weights @ v


def setup(name: str) -> tuple[torch.nn.Module, Tensor, Tensor]:
    torch.manual_seed(0)
    if name == "mnist1d":
        return create("transformer", (40,), 10), torch.randn(32, 40), torch.randint(0, 10, (32,))
    model = create("transformer", (64,), 100, vocab_size=100, causal=True, per_token=True)
    return model, torch.randint(0, 100, (32, 64)), torch.randint(0, 100, (32, 64))


def step_ms(name: str, attention: Callable[..., Tensor], steps: int) -> float:
    model, x, y = setup(name)
    optimizer = torch.optim.Adam(model.parameters())
    sdpa = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = attention  # the model calls it through torch.nn.functional
    try:
        for i in range(steps + 10):  # 10 to warm up
            if i == 10:
                start = time.perf_counter()
            out = model(x)
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        F.scaled_dot_product_attention = sdpa
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| setup | SDPA ms | explicit ms | explicit / SDPA (95% CI) |\n| --- | ---: | ---: | ---: |")
    for name in ("mnist1d", "python_source"):
        sdpa, explicit = [], []
        for _ in range(args.rounds):
            sdpa.append(step_ms(name, F.scaled_dot_product_attention, args.steps))
            explicit.append(step_ms(name, explicit_attention, args.steps))
        ratio, low, high = paired_ratio(explicit, sdpa)
        print(
            f"| {name} | {statistics.median(sdpa):.2f} | {statistics.median(explicit):.2f} | "
            f"{ratio:.2f} ({low:.2f}-{high:.2f}) |"
        )


if __name__ == "__main__":
    main()
