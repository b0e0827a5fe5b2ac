"""The check of a torch.optim class's keywords (``optim.validate`` of ``torch.optim:Adam``), first in a
process, each round in fresh interpreters: this tree against an older one.

Claim: the check built the class over a stand-in tensor, and torch's ``add_param_group`` (wrapped by
``torch._disable_dynamo``) imported torch's compiler at its first call, seconds of a cold
``optimlab train --optimizer torch.optim:Adam`` spent before a run that may still be refused (a recipe
field out of its range is checked after it). Each round times, in a fresh interpreter for each tree after
``import optimlab.optim``, the validation of ``torch.optim:Adam`` with ``lr=0.1``, as a recipe is
validated, and prints whether ``torch._dynamo`` was imported; the table gives both medians and the median
within-round ratio with its 95% bootstrap interval (``paired.py``).

    git worktree add /tmp/before COMMIT~1
    python benchmarks/torch_class_check.py --rounds 7 --before /tmp/before/src
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from paired import THIS_TREE, in_tree, print_before_now, round_count, source_tree, tree_rounds

_TIMED = """
import sys, time
from optimlab.optim import validate
from optimlab.optim.user import load_optimizer
name = load_optimizer("torch.optim:Adam")
started = time.perf_counter()
validate(name, {"lr": 0.1})
print(time.perf_counter() - started)
"""
_COMPILER = "\nprint('torch._dynamo' in sys.modules)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=round_count, default=7)
    parser.add_argument("--before", type=source_tree, required=True, help="the older tree's src folder")
    args = parser.parse_args()
    for tree, src in (("this tree", THIS_TREE), ("before", args.before)):
        code = in_tree(src, _TIMED.replace("print(time.perf_counter() - started)", _COMPILER.strip()))
        imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
        print(f"{tree}: torch._dynamo imported by the check: {imported}")
    now, before = tree_rounds(_TIMED, args.before, args.rounds)
    print_before_now("first validate of torch.optim:Adam in a process", now, before, str(args.before))


if __name__ == "__main__":
    main()
