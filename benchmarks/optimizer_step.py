"""One optimizer step over ~28M float32 parameters in 24 tensors: optimlab against its peers, same run.

Claim (issue 3): on the 2-core CPU of docs/benchmarks.md with 2 threads, every elementwise optimizer
of optimlab reaches at least 80% of its bandwidth roofline and is at least as fast as the fastest peer
implementation of the same algorithm (torch.optim for-loop / foreach / fused, pytorch_optimizer,
heavyball, schedulefree, lion-pytorch; a peer that is not installed is skipped).

The roofline of an algorithm is the time its update needs to read and write the bytes it must touch
(28 per float32 parameter for Adam: p, m, v read and written, g read), at the best bandwidth of a
foreach copy (8 bytes per parameter) and a foreach add (12) over the same tensors. Each implementation
gets its own copy of the parameters and gradients; the implementations of one algorithm, the copy and
the add among them, then step in turn, round after round after a warm-up, so that the load of a shared
machine hits all of them alike and each algorithm's roofline is measured in its own rounds; the table
reports medians.

"vs fastest peer" pairs the rounds: in each round, the fastest peer's time (the peer with the best
median) over optimlab's, then the median of these ratios with a 95% bootstrap interval (resampled
rounds). Pairing cancels the drift of a shared machine that a ratio of two medians keeps. The floor
"at least as fast" is missed when the whole interval lies below 1: where optimlab hands the step to the
very kernel the peer calls (torch's fused SGD, AdaGrad, Adam), the two can only tie, and the interval
then straddles 1. "first step" is the first step's time; optimlab's fused path runs that step eagerly
and compiles at the second, so its compile time is in the path column (measured with an empty
TorchInductor cache, after a one-off probe of the vector ISA).

Run: python benchmarks/optimizer_step.py [--threads 2] [--repeats 15] [--warmup 3] [--only adam,lion]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import importlib.metadata
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import torch
from paired import paired_ratio

from optimlab.optim import create
from optimlab.registry import Capability, get_registry

REGISTRY = get_registry("optimizer")

# Bytes one update must read and write per float32 parameter (param r/w 8, grad read 4, each state
# tensor r/w 8), for the registered defaults: the state tensors each chain keeps (optimlab.optim.transforms).
BYTES_PER_PARAMETER = {
    "sgd": 12, "momentum": 20, "nesterov": 20, "adagrad": 20, "rmsprop": 20, "adadelta": 28,
    "adam": 28, "adamw": 28, "amsgrad": 36, "nadam": 28, "radam": 28, "adamax": 28, "lion": 20,
    "adan": 44, "schedule_free_sgd": 20, "schedule_free_adamw": 28, "lamb": 40, "lars": 28,
}  # fmt: skip
ROOFLINE_FLOOR, PEER_FLOOR = 0.8, 1.0


def transformer_shapes(
    width: int = 768, vocab: int = 8192, context: int = 1024, layers: int = 3
) -> list[tuple[int, ...]]:
    """24 tensors, 28.3M parameters: token and position embeddings, 3 pre-norm blocks, a final norm."""
    block = [
        (width,),  # attention norm gain
        (3 * width, width),  # qkv projection
        (width, width),  # attention output
        (width,),  # mlp norm gain
        (4 * width, width),  # mlp up
        (4 * width,),  # mlp up bias
        (width, 4 * width),  # mlp down
    ]
    return [(vocab, width), (context, width), *block * layers, (width,)]


@dataclasses.dataclass(frozen=True)
class Implementation:
    library: str
    variant: str
    make: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]

    @property
    def label(self) -> str:
        return f"{self.library} {self.variant}".strip()


@dataclasses.dataclass
class Result:
    implementation: Implementation
    first_call: float
    times: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_TORCH_CLASSES = {
    "sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop",
    "adadelta": "Adadelta", "adam": "Adam", "adamw": "AdamW", "amsgrad": "Adam", "nadam": "NAdam",
    "radam": "RAdam", "adamax": "Adamax",
}  # fmt: skip


def peers(name: str, hp: dict[str, Any]) -> list[Implementation]:
    """The same algorithm, with the same hyperparameters, in the libraries a user would otherwise pick."""
    found = []
    if name in _TORCH_CLASSES:
        torch_class = getattr(torch.optim, _TORCH_CLASSES[name])
        for variant, flags in (
            ("for-loop", {"foreach": False}),
            ("foreach", {"foreach": True}),
            ("fused", {"fused": True}),
        ):
            found.append(
                Implementation("torch", variant, lambda ps, c=torch_class, f=flags: c(ps, **hp, **f))
            )
    po, hb, sf = _optional("pytorch_optimizer"), _optional("heavyball"), _optional("schedulefree")
    lion_pytorch = _optional("lion_pytorch")
    lr, wd = hp.get("lr"), hp.get("weight_decay")
    adam = {
        "lr": lr,
        "betas": hp.get("betas"),
        "eps": hp.get("eps"),
        "weight_decay": wd,
    }  # Adam-like keywords
    no_eps = {"lr": lr, "betas": hp.get("betas"), "weight_decay": wd}
    momentum = {"lr": lr, "momentum": hp.get("momentum"), "weight_decay": wd}
    adafactor = {"lr": lr, "beta2_decay": hp.get("beta2_decay"), "eps": (hp.get("eps1"), hp.get("eps2")),
                 "d": hp.get("d"), "weight_decay": wd}  # fmt: skip
    table: dict[str, list[tuple[Any, str, Callable[..., Any]]]] = {
        "lion": [
            (po, "pytorch_optimizer", lambda ps: po.Lion(ps, **no_eps, foreach=True)),
            (lion_pytorch, "lion_pytorch", lambda ps: lion_pytorch.Lion(ps, **no_eps)),
        ],
        "adan": [(po, "pytorch_optimizer", lambda ps: po.Adan(ps, **adam, foreach=True))],
        "adamw": [
            (po, "pytorch_optimizer", lambda ps: po.AdamW(ps, **adam, foreach=True)),
            (hb, "heavyball", lambda ps: hb.AdamW(ps, **adam)),
        ],
        "nadam": [
            (po, "pytorch_optimizer", lambda ps: po.NAdam(ps, **adam, foreach=True)),
            (hb, "heavyball", lambda ps: hb.NAdam(ps, **adam)),
        ],
        "radam": [(po, "pytorch_optimizer", lambda ps: po.RAdam(ps, **no_eps, foreach=True))],
        "adamax": [(po, "pytorch_optimizer", lambda ps: po.AdaMax(ps, **adam, foreach=True))],
        "rmsprop": [
            (po, "pytorch_optimizer", lambda ps: po.RMSprop(ps, lr=lr, alpha=hp["alpha"], eps=hp["eps"],
                                                            weight_decay=wd, foreach=True)),
        ],
        "adadelta": [
            (po, "pytorch_optimizer", lambda ps: po.AdaDelta(ps, lr=lr, rho=hp["rho"], eps=hp["eps"],
                                                             weight_decay=wd, foreach=True)),
        ],
        "momentum": [(hb, "heavyball", lambda ps: hb.SGD(ps, lr=lr, beta=hp["momentum"], weight_decay=wd))],
        "schedule_free_sgd": [
            (sf, "schedulefree", lambda ps: sf.SGDScheduleFree(ps, **momentum, foreach=True)),
            (po, "pytorch_optimizer", lambda ps: po.ScheduleFreeSGD(ps, **momentum, foreach=True)),
        ],
        "schedule_free_adamw": [
            (sf, "schedulefree", lambda ps: sf.AdamWScheduleFree(ps, **adam, foreach=True)),
            (po, "pytorch_optimizer", lambda ps: po.ScheduleFreeAdamW(ps, **no_eps, foreach=True)),
            (hb, "heavyball", lambda ps: hb.SFAdamW(ps, **adam)),
        ],
        "adafactor": [
            (torch, "torch for-loop", lambda ps: torch.optim.Adafactor(ps, **adafactor, foreach=False)),
            (torch, "torch foreach", lambda ps: torch.optim.Adafactor(ps, **adafactor, foreach=True)),
        ],
        "lookahead": [  # around the default base, Adam, at its fastest in torch
            (po, "pytorch_optimizer", lambda ps: po.Lookahead(torch.optim.Adam(ps, fused=True), k=hp["k"],
                                                              alpha=hp["alpha"])),
        ],
        "lamb": [(po, "pytorch_optimizer", lambda ps: po.Lamb(ps, **adam, foreach=True))],
        "lars": [(po, "pytorch_optimizer", lambda ps: po.LARS(ps, **momentum, foreach=True))],
    }  # fmt: skip
    found += [Implementation(label, "", make) for module, label, make in table.get(name, []) if module]
    return found


def ours(name: str) -> list[Implementation]:
    if not REGISTRY.get(name).capabilities & {
        Capability.ELEMENTWISE,
        Capability.LAYERWISE,
    }:  # no fused path to compare
        return [Implementation("optimlab", "", lambda ps: create(name, ps))]
    return [
        Implementation("optimlab", "fused", lambda ps: create(name, ps, fused=True)),
        Implementation("optimlab", "eager", lambda ps: create(name, ps, fused=False)),
    ]


class _Bandwidth:
    """The roofline's yardstick, stepped like an optimizer: one foreach copy or add of the gradients."""

    def __init__(self, params: list[torch.nn.Parameter], op: Callable[..., Any]) -> None:
        self.params, self.op = params, op

    @torch.no_grad()
    def step(self) -> None:
        self.op(self.params, [p.grad for p in self.params])


ROOFLINE = [
    Implementation("roofline", "foreach copy", lambda ps: _Bandwidth(ps, torch._foreach_copy_)),
    Implementation("roofline", "foreach add", lambda ps: _Bandwidth(ps, torch._foreach_add_)),
]
ROOFLINE_BYTES = {"foreach copy": 8, "foreach add": 12}


def measure(
    implementations: list[Implementation],
    start: list[torch.Tensor],
    grads: list[torch.Tensor],
    repeats: int,
    warmup: int,
) -> list[Result]:
    """Build each, time its first step and warm it up; then time one step of each in turn, ``repeats`` rounds.

    Gradients are handed back before every step, outside the timed region: some peers set ``p.grad``
    to None after stepping (heavyball), and a step without gradients does nothing.
    """
    built, results = [], []

    def step(
        optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], own_grads: list[torch.Tensor]
    ) -> float:
        for p, g in zip(params, own_grads):
            p.grad = g
        started = time.perf_counter()
        optimizer.step()
        return time.perf_counter() - started

    for implementation in implementations:
        params = [torch.nn.Parameter(p.clone()) for p in start]
        own_grads = [g.clone() for g in grads]
        try:
            optimizer = implementation.make(params)
            if callable(getattr(optimizer, "train", None)):
                optimizer.train()  # schedule-free: step at y
            first = step(optimizer, params, own_grads)
            for _ in range(warmup):
                step(optimizer, params, own_grads)
        except Exception as error:  # a peer without this variant (torch's fused NAdam), a peer's bug
            print(
                f"  skipped {implementation.label}: {type(error).__name__}: {str(error).splitlines()[0][:80]}"
            )
            continue
        built.append((optimizer, params, own_grads))
        results.append(Result(implementation, first, [], _path_note(optimizer)))
    for round_ in range(repeats):
        for offset in range(len(built)):
            i = (round_ + offset) % len(built)  # rotate who goes first
            results[i].times.append(step(*built[i]))
    return results


def _path_note(optimizer: torch.optim.Optimizer) -> str:
    fused = getattr(optimizer, "fused_path", None)
    if fused is None or fused.last_path(0) is None:
        return ""
    path = fused.last_path(0)
    return f"{path}, compile {fused.compile_seconds(0):.1f} s" if path == "compiled" else path


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _probe_compiler() -> None:
    """Compile something trivial once, so that no optimizer's compile time includes the ISA probe."""
    torch.compile(lambda t: t * 2 + 1)(torch.ones(64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--only", default="", help="comma-separated optimizer names (default: all registered)"
    )
    parser.add_argument("--warm-compile-cache", action="store_true", help="keep TorchInductor's cache")
    args = parser.parse_args()
    if not args.warm_compile_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="optimizer_step_inductor_")
    torch.set_num_threads(args.threads)
    _probe_compiler()

    shapes = transformer_shapes()
    n = sum(math.prod(s) for s in shapes)
    generator = torch.Generator().manual_seed(0)
    start = [0.02 * torch.randn(s, generator=generator) for s in shapes]
    grads = [torch.randn(s, generator=generator) for s in shapes]
    names = args.only.split(",") if args.only else REGISTRY.names()
    versions = ", ".join(
        f"{m} {_version(m)}" for m in ("pytorch_optimizer", "heavyball", "schedulefree", "lion-pytorch")
    )
    load_before = os.getloadavg()
    print(
        f"one step over {n:,} float32 parameters in {len(shapes)} tensors; {args.threads} threads, "
        f"{args.repeats} rounds after {args.warmup} warm-up steps; medians"
    )
    print(f"{_cpu_name()}, {os.cpu_count()} cpus; torch {torch.__version__}; {versions}")
    rows = []
    for name in names:
        entry = REGISTRY.get(name)
        if Capability.NEEDS_CLOSURE in entry.capabilities:
            print(f"- {name}: skipped, its step needs a closure (a second forward and backward)")
            continue
        hp = {h.name: h.default for h in entry.hyperparameters} | dict(entry.defaults)
        print(f"- {name}", flush=True)
        rows.append(
            (name, measure(ROOFLINE + ours(name) + peers(name, hp), start, grads, args.repeats, args.warmup))
        )
        gc.collect()
    load_after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in load_after)}\n"
    )
    shortfalls = report(rows, n)
    print(
        "\nfloors (>= 80% of roofline; not slower than the fastest peer, 95% interval):",
        "; ".join(shortfalls) or "all met",
    )


def report(rows: list[tuple[str, list[Result]]], n: int) -> list[str]:
    """Print the table; return the floors optimlab's fused path misses (elementwise optimizers have them)."""
    print(
        "| algorithm | implementation | Gparam/s | GB/s | roofline | vs fastest peer | first step s | path |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    shortfalls = []
    for name, results in rows:
        yardsticks = [r for r in results if r.implementation.library == "roofline"]
        bandwidth = max(ROOFLINE_BYTES[r.implementation.variant] * n / r.median for r in yardsticks)
        peers_ = [r for r in results if r.implementation.library not in ("optimlab", "roofline")]
        fastest_peer = min(peers_, key=lambda r: r.median, default=None)
        for r in results:
            yardstick = r.implementation.library == "roofline"
            bytes_ = ROOFLINE_BYTES[r.implementation.variant] if yardstick else BYTES_PER_PARAMETER.get(name)
            rate = n / r.median
            fraction = bytes_ * rate / bandwidth if bytes_ else None
            paired = None if fastest_peer is None or yardstick else paired_ratio(fastest_peer.times, r.times)
            cells = [
                name,
                r.implementation.label,
                "-" if yardstick else f"{rate / 1e9:.3f}",
                "-" if fraction is None else f"{bytes_ * rate / 1e9:.1f}",
                "-" if fraction is None else f"{fraction:.0%}",
                "-" if paired is None else f"{paired[0]:.2f} [{paired[1]:.2f}, {paired[2]:.2f}]",
                f"{r.first_call:.2f}",
                r.note,
            ]
            print("| " + " | ".join(cells) + " |")
            if (
                r.implementation.label == "optimlab fused"
                and Capability.ELEMENTWISE in REGISTRY.get(name).capabilities
            ):
                if fraction is not None and fraction < ROOFLINE_FLOOR:
                    shortfalls.append(f"{name}: {fraction:.0%} of roofline")
                if paired is not None and paired[2] < PEER_FLOOR:
                    shortfalls.append(
                        f"{name}: {paired[0]:.2f}x the fastest peer [{paired[1]:.2f}, {paired[2]:.2f}]"
                    )
    return shortfalls


if __name__ == "__main__":
    main()
