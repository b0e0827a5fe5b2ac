"""``skips.residual_blocks`` (the reading of a model's residual connections: fx's graph, or the autograd
graph of one forward and backward of a copy) on the same models and inputs, at this tree and at another
commit, round after round.

Measured (forty-fifth session, docs/benchmarks.md): what counting projection shortcuts (a shortcut of
up to two parametrized steps, not only a parameter-free one) and following the branch no further than a
value both operands share cost the reading. Each round times both versions (which goes first alternates);
the table gives the medians of ``--repeats`` calls, the blocks each finds, and the median within-round
ratio with its 95% bootstrap interval (``paired.py``). Models: ``residual_blocks.py``'s, with inputs.
``--watch`` times instead what the doctor runs: one forward watched by each version's ``ForwardSkips``
(on the models fx cannot read whole).

    python benchmarks/skip_reading.py --before 4d6e31e7 --rounds 5 --repeats 3
    python benchmarks/skip_reading.py --before 968ba19c --rounds 21 --watch
"""

from __future__ import annotations

import argparse
import functools
import time
from types import ModuleType

from paired import alternating_rounds, round_count
from residual_blocks import TABLE_HEADER, models, seconds, table_row, version_at
from torch import nn

from optimlab.doctor import skips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit whose skips.py is compared")
    parser.add_argument("--rounds", type=round_count, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--watch", action="store_true", help="time one watched forward, not the reading")
    args = parser.parse_args()
    versions = {"now": skips, "before": version_at(args.before)}
    print(TABLE_HEADER)
    for name, (model, inputs) in models().items():
        found = tuple(len(versions[which].residual_blocks(model, *inputs)) for which in ("before", "now"))
        if args.watch:
            watched = skips.read_skips(model).watched
            if not watched:
                continue
            model.train()
            timed = [
                functools.partial(watched_seconds, version, model, inputs, watched)
                for version in versions.values()
            ]
        else:
            timed = [
                functools.partial(
                    seconds, functools.partial(version.residual_blocks, model, *inputs), args.repeats
                )
                for version in versions.values()
            ]
        now, before = alternating_rounds(*timed, args.rounds)
        print(table_row(name, found, now, before))


def watched_seconds(version: ModuleType, model: nn.Module, inputs: tuple, watched: dict) -> float:
    """One forward of ``model`` with ``version``'s ``ForwardSkips`` hooked on the ``watched`` modules, as
    the doctor's first detailed step runs it (once: a later forward's additions are new nodes)."""
    watch = version.ForwardSkips({})
    handles = [
        model.get_submodule(name).register_forward_hook(watch.hook(name), with_kwargs=True)
        for name in watched
    ]
    started = time.perf_counter()
    model(*inputs)
    elapsed = time.perf_counter() - started
    for handle in handles:
        handle.remove()
    return elapsed


if __name__ == "__main__":
    main()
