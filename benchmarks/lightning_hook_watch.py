"""The watch ``optimlab.integrations.lightning.lr_range_test(..., check_steps=...)`` keeps around a module's
overridden ``on_after_backward`` / ``on_before_optimizer_step``, per hook per step, against its version at
another commit and against a training step, on a 50M-parameter model (12 x ``Linear(2048, 2048)``).

Claim: 2988e0e3's watch took a float64 sum and sum of squares of every gradient before and after the hook
(two float64 copies of each, and blind to a permutation); the watch now copies the gradients and the
parameters once and compares their bits after (exact), a few times cheaper though it copies the
parameters too. Rounds time both, then rounds the watch now and a fwd+bwd+SGD step (batch 32), the
one that goes first alternating (``paired.alternating_rounds``); ``--repeats`` calls each, the median;
each ratio is the median within-round one with its 95% bootstrap interval (``paired.py``).

    cd benchmarks && OMP_NUM_THREADS=1 python lightning_hook_watch.py --before 285a4030~1 --rounds 5
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from paired import alternating_rounds, paired_ratio, round_count
from torch import nn

from optimlab.integrations.lightning import _changed, _held, _settings


def watch_before(commit: str) -> Callable[[torch.optim.Optimizer], bool]:
    """The watch as ``lightning.py`` was at ``commit``: its gradients' fingerprint taken twice, compared."""
    source = subprocess.run(
        ["git", "show", f"{commit}:src/optimlab/integrations/lightning.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "lightning_before.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("lightning_before", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # read whole: the folder may go once it has run
    seen = module._gradients_seen
    return lambda optimizer: seen(optimizer) != seen(optimizer)


def watch_now(optimizer: torch.optim.Optimizer) -> bool:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    grads, weights, settings = (
        _held([p.grad for p in params], values=True),
        _held(params, values=True),
        _settings(optimizer),
    )
    return (
        _changed(grads, [p.grad for p in params])
        or _changed(weights, params)
        or _settings(optimizer) != settings
    )


def seconds(work: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit whose watch is compared")
    parser.add_argument("--rounds", type=round_count, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = nn.Sequential(*[nn.Linear(2048, 2048) for _ in range(12)])
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.randn(32, 2048)

    def step() -> None:
        optimizer.zero_grad(set_to_none=False)
        net(x).sum().backward()
        optimizer.step()

    step()
    before = watch_before(args.before)

    def now_s() -> float:
        return seconds(lambda: watch_now(optimizer), args.repeats)

    now, then = alternating_rounds(
        now_s, lambda: seconds(lambda: before(optimizer), args.repeats), args.rounds
    )
    now_beside_step, steps = alternating_rounds(now_s, lambda: seconds(step, args.repeats), args.rounds)
    ratio, low, high = paired_ratio(now, then)
    step_ratio, step_low, step_high = paired_ratio(now_beside_step, steps)
    parameters = sum(p.numel() for p in net.parameters()) / 1e6
    print(
        f"{parameters:.1f}M parameters; medians (s): step {statistics.median(steps):.3f}, "
        f"watch before {statistics.median(then):.3f}, now {statistics.median(now):.3f}"
    )
    print(
        f"now / before {ratio:.2f} [{low:.2f}, {high:.2f}]; now / step {step_ratio:.2f} [{step_low:.2f}, {step_high:.2f}]"
    )


if __name__ == "__main__":
    main()
