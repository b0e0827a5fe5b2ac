"""What per-member values cost the batched shell's step: ``BatchedOptimizer.step`` with every value per
member, K=16 stacked MLPs 64-128-128-10, in bfloat16 and float32, this tree against an older one.

The ops of :mod:`optimlab.optim.base` take a ``(K,)`` value per tensor; 086cf32e made them take it as
torch's op takes a number (float32 for bfloat16), which first cost float32 a cast per tensor per op. Each
round runs both trees in fresh interpreters, alternating which goes first; a tree's time for a case is the
fastest ``time.thread_time`` of 100 steps after 5 untimed ones (one thread); the table gives the medians
over rounds and the median within-round ratio with its 95% bootstrap interval (``paired.py``).

    git worktree add --detach /tmp/old 086cf32e~1
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/batched_member_values.py /tmp/old/src --rounds 7
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from paired import THIS_TREE, in_tree, paired_ratio, source_tree

PROGRAM = """
import json, time, torch
torch.set_num_threads(1)
from optimlab.optim.shells.batched import BatchedOptimizer
K = 16
shapes = [(64, 128), (128,), (128, 128), (128,), (128, 10), (10,)]  # an MLP 64-128-128-10
cases = {
    "adam, per-member lr and betas": ("adam", dict(
        lr=[1e-3 * (1 + i / K) for i in range(K)], betas=[(0.9, 0.999 - i * 1e-4) for i in range(K)])),
    "momentum, per-member lr and momentum": ("momentum", dict(
        lr=[0.01 * (1 + i / K) for i in range(K)], momentum=[0.9 - i * 0.01 for i in range(K)])),
}
times = {}
for dtype in (torch.bfloat16, torch.float32):
    for label, (name, values) in cases.items():
        g = torch.Generator().manual_seed(0)
        params = [torch.randn(K, *s, generator=g).to(dtype) for s in shapes]
        grads = [torch.randn(K, *s, generator=g).to(dtype) * 1e-2 for s in shapes]
        opt = BatchedOptimizer(params, name, members=K, **values)
        for _ in range(5):
            opt.step(grads)
        steps = []
        for _ in range(100):
            start = time.thread_time()
            opt.step(grads)
            steps.append(time.thread_time() - start)
        times[f"{str(dtype).removeprefix('torch.')} {label}"] = min(steps)
print(json.dumps(times))
"""


def _times(src: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", in_tree(src, PROGRAM)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"a timed program exited {done.returncode}:\n{done.stderr}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=source_tree, help="the older checkout's src folder")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    now, before = [], []
    for i in range(args.rounds):  # alternate which tree goes first: a drift of the machine hits both
        if i % 2:
            before.append(_times(args.before))
            now.append(_times(THIS_TREE))
        else:
            now.append(_times(THIS_TREE))
            before.append(_times(args.before))
    print("| case (K=16, 1 thread) | before ms | now ms | now / before [95% CI] |")
    print("|---|---|---|---|")
    for case in now[0]:
        a, b = [r[case] for r in now], [r[case] for r in before]
        ratio, low, high = paired_ratio(a, b)
        print(
            f"| {case} | {statistics.median(b) * 1e3:.2f} | {statistics.median(a) * 1e3:.2f} | "
            f"{ratio:.2f}x [{low:.2f}, {high:.2f}] |"
        )


if __name__ == "__main__":
    main()
