"""How far a compiled optimizer step lands from its eager step: optimlab's against torch.optim's own.

The claim (tests/optim/test_fused.py's tolerance): optimlab's step compiled by TorchInductor
(``fused=True``) differs from the same chain run eagerly about as much as torch.optim's step compiled
(``torch.compile(optimizer.step)``) differs from torch.optim's eager step (fewer entries apart in every row
measured; AdaDelta's float64 worst entry 1.97 eps against torch's 1.75). Eager CPU ``sqrt`` on whole
vectors is not correctly rounded on some entries where Inductor's is, and eager ``addcmul``,
``add(alpha=)`` and ``lerp`` compute ``x + c * y`` with one fused multiply-add where Inductor multiplies and
adds apart (``-ffp-contract=off``, torch 2.13's default), so both compiled steps round otherwise than
their eager steps, on some entries, by about an ulp.

Each run: a float32 and a float64 copy of a (64, 32) weight and a (32,) bias, the same fixed gradients
every run (so only rounding parts two runs, not a gradient that followed it), ``--steps`` steps under an lr
multiplied by 0.95 each step (a tensor lr for torch, so its compiled step does not recompile each step).
Printed per optimizer and dtype: entries that differ from the eager step, of how many, and the largest
difference in eps of the dtype at ``max(|p|, 1)``.

Run: OMP_NUM_THREADS=1 python benchmarks/compiled_rounding.py [--steps 25] [--only adadelta,rmsprop]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from optimlab.optim import create

# name -> (torch.optim class, hyperparameters both take, torch-only keywords optimlab's entry binds)
CASES: dict[str, tuple[type[torch.optim.Optimizer], dict, dict]] = {
    "adadelta": (torch.optim.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-3, weight_decay=0.1), {}),
    "rmsprop": (torch.optim.RMSprop, dict(lr=1e-3, centered=True, momentum=0.5, eps=1e-3), {}),
    "adamax": (torch.optim.Adamax, dict(lr=0.01, eps=1e-3, weight_decay=0.1), {}),
    "nadam": (torch.optim.NAdam, dict(lr=0.01, eps=1e-3, weight_decay=0.1), {}),
    "radam": (torch.optim.RAdam, dict(lr=0.01, eps=1e-3, weight_decay=0.1), {}),
}
DTYPES = (torch.float32, torch.float64)


def starts_and_gradients(steps: int) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    generator = torch.Generator().manual_seed(0)
    shapes = [(64, 32), (32,)]
    start = [torch.randn(shape, generator=generator) for shape in shapes]
    gradients = [[torch.randn(shape, generator=generator) for shape in shapes] for _ in range(steps)]
    return start, gradients


def run(
    make: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer], steps: int, *, compiled: bool
) -> tuple[list[torch.Tensor], torch.optim.Optimizer]:
    """The parameters after ``steps`` steps of the optimizer ``make`` builds (its step compiled or not),
    and the optimizer."""
    start, gradients = starts_and_gradients(steps)
    params = [torch.nn.Parameter(p.to(dtype)) for dtype in DTYPES for p in start]
    optimizer = make(params)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
    step = torch.compile(optimizer.step) if compiled else optimizer.step
    for step_gradients in gradients:
        for p, g in zip(params, step_gradients * len(DTYPES)):
            p.grad = g.to(p.dtype)
        step()
        scheduler.step()
    return [p.detach() for p in params], optimizer


def apart(fast: list[torch.Tensor], eager: list[torch.Tensor], dtype: torch.dtype) -> str:
    """Entries of ``dtype`` that differ, of how many, and the largest difference in eps at max(|p|, 1)."""
    pairs = [(a, b) for a, b in zip(fast, eager) if a.dtype == dtype]
    differ = sum(int((a != b).sum()) for a, b in pairs)
    total = sum(a.numel() for a, _ in pairs)
    eps = torch.finfo(dtype).eps
    largest = max(((a - b).abs() / b.abs().clamp_min(1)).max().item() / eps for a, b in pairs)
    return f"{differ:4d} of {total}, {largest:.2f} eps"


def rows(name: str, steps: int) -> list[list[str]]:
    """One table row per dtype for the optimizer ``name``: four runs, two of them compiled."""
    torch_class, shared, bound = CASES[name]

    def torchs(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        # a tensor lr of its own each run: the scheduler writes into it in place
        return torch_class(params, **{**shared, "lr": torch.tensor(shared["lr"])}, **bound, foreach=True)

    our_fast, optimizer = run(lambda p: create(name, p, fused=True, **shared), steps, compiled=False)
    if optimizer.fused_path.last_path(0) != "compiled":  # fused=True compiles at the second step
        raise SystemExit(f"{name}: optimlab's fused=True step did not compile (no C++ compiler?)")
    our_eager, _ = run(lambda p: create(name, p, fused=False, **shared), steps, compiled=False)
    torch_fast, _ = run(torchs, steps, compiled=True)
    torch_eager, _ = run(torchs, steps, compiled=False)
    return [
        [
            name,
            str(dtype).removeprefix("torch."),
            apart(our_fast, our_eager, dtype),
            apart(torch_fast, torch_eager, dtype),
        ]
        for dtype in DTYPES
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error(
            f"--steps: {args.steps} is too few; accepted: 2 or more (the compiled step starts at the second)"
        )
    names = args.only.split(",")
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"--only: unknown optimizer {unknown[0]!r}; accepted: {', '.join(CASES)}")
    print(f"torch {torch.__version__}, {args.steps} steps")
    print("| optimizer | dtype | optimlab compiled vs eager | torch.optim compiled vs eager (foreach) |")
    print("|---|---|---|---|")
    for name in names:
        for row in rows(name, args.steps):
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
