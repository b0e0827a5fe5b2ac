"""The check of an init scheme's values (``init.validate``/``create``: values wrong together), first use in a
process, each round in fresh interpreters.

Claim (066a2f98): the check drew on a meta-device weight, whose ``normal_`` goes through torch's reference
version and imports ``torch._dynamo`` (seconds, once a process) for every normal-distribution scheme; it now
draws on a real 1x1 weight under ``torch.random.fork_rng``. Each round times, in two fresh interpreters after
``import optimlab.techniques.init``, (a) ``init.validate`` of the five normal-distribution schemes and
(b) the former check, the same draws on the meta device; the table gives both medians and the median
within-round ratio with its 95% bootstrap interval (``paired.py``).

    python benchmarks/init_check.py --rounds 5
"""

from __future__ import annotations

import argparse
import statistics

from paired import fresh_interpreter_rounds, paired_ratio

SCHEMES = ("xavier_normal", "kaiming_normal", "lecun_normal", "orthogonal", "trunc_normal")

_TIMED = """
import time, torch
from optimlab.techniques import init
from optimlab.registry import get_registry
started = time.perf_counter()
for name in {schemes!r}:
    {check}
print(time.perf_counter() - started)
"""
NOW = "init.validate(name, {})"
META = 'get_registry("init").get(name).obj(torch.empty(1, 1, device="meta"))'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    now, meta = fresh_interpreter_rounds(
        _TIMED.format(schemes=SCHEMES, check=NOW), _TIMED.format(schemes=SCHEMES, check=META), args.rounds
    )
    ratio, low, high = paired_ratio(meta, now)
    print("| check | median s (first use, 5 schemes) |")
    print("| --- | ---: |")
    print(f"| real 1x1 draw, fork_rng (now) | {statistics.median(now):.4f} |")
    print(f"| meta-device draw (before) | {statistics.median(meta):.3f} |")
    print(f"\nbefore / now: {ratio:.0f}x [{low:.0f}, {high:.0f}]")


if __name__ == "__main__":
    main()
