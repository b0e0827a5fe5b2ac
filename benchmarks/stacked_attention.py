"""A stacked step of 17 members that attend: this tree's stacked forward against an older tree's.

Claim: torch's CPU attention kernel has no vmap batching rule, so the stacked forward of
``optimlab.models.stacked`` ran it member by member, and its backward zero-filled every member's gradient
for each; written as matrix products inside the vmap, it is batched over the members. Each round times,
in a fresh interpreter for each tree, a step (forward and backward, the members' summed squared outputs)
of 17 stacked members (find_lr's ladder) on a batch of 64 rows of 16 tokens, CPU time
(``time.process_time``, one thread), the mean of 3 steps after one untimed; the table gives both medians
and the median within-round ratio with its 95% bootstrap interval (``paired.py``). Models: ``tiny``,
find_lr's small Transformer of ``stacked_transformer_check.py`` (nn.TransformerEncoder, width 32);
``transformer``, optimlab's (width 64, 2 blocks, pooled); ``causal``, optimlab's causal, a prediction
per token.

    git worktree add /tmp/before COMMIT~1
    OMP_NUM_THREADS=1 python benchmarks/stacked_attention.py --model transformer --rounds 5 \
        --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
from pathlib import Path

from paired import print_before_now, round_count, source_tree, tree_rounds

MODELS = {
    "tiny": "TinyTransformer()",
    "transformer": 'optimlab.models.create("transformer", (16,), 4, vocab_size=50)',
    "causal": 'optimlab.models.create("transformer", (16,), 50, vocab_size=50, causal=True, per_token=True)',
}

_TIMED = """
import copy, sys, time, warnings, torch
sys.path.insert(0, {benchmarks!r})
warnings.filterwarnings("ignore")
from torch.func import stack_module_state
import optimlab.models
from optimlab.models.stacked import stacked_forward
from stacked_transformer_check import MEMBERS, TinyTransformer
models = []
for seed in range(MEMBERS):
    torch.manual_seed(seed)
    models.append({model})
stacked, buffers = stack_module_state(models)
params = {{name: p.detach().requires_grad_() for name, p in stacked.items()}}
forward = stacked_forward(copy.deepcopy(models[0]), MEMBERS, shared_input=True)
tokens = torch.randint(0, 50, (64, 16), generator=torch.Generator().manual_seed(0))
def step():
    torch.autograd.grad(forward(params, buffers, tokens).pow(2).sum(), list(params.values()))
step()
started = time.process_time()
for _ in range(3):
    step()
print((time.process_time() - started) / 3)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="transformer")
    parser.add_argument("--rounds", type=round_count, default=5)
    parser.add_argument("--before", type=source_tree, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    code = _TIMED.format(benchmarks=str(Path(__file__).resolve().parent), model=MODELS[args.model])
    now, before = tree_rounds(code, args.before, args.rounds)
    print_before_now(f"CPU s of a stacked step, {args.model}", now, before, str(args.before))


if __name__ == "__main__":
    main()
