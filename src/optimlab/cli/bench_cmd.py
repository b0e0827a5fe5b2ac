"""``optimlab bench``: methods x workloads with the study engine, scored by time to target and profiles."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from optimlab.cli import _options as o
from optimlab.cli._output import Output
from optimlab.errors import InvalidValueError, OptimlabError

EXAMPLES = """Examples:
  optimlab bench --suite small
  optimlab bench --suite small --optimizers sgd,momentum,adam --seeds 3 --out runs/bench-small
  optimlab bench --suite small --optimizers adam --optimizer-path mypkg.optim:MyOpt
  optimlab bench --workloads digits_mlp,noisy_quadratic --optimizers adam,lion --budget 5
  optimlab bench --workloads mnist_cnn --data-dir ~/data/mnist --device auto --backend local
  optimlab bench --suite small --format png --out runs/paper
  optimlab bench --suite small --resume --out runs/bench-small
"""

REPORT_FORMATS = ("html", "png", "svg")


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _workloads(suite: str | None, workloads: str | None, data_dir: Path | None) -> tuple[str, list[Any]]:
    """(label, workloads) from ``--suite`` or ``--workloads``, the user's files folder passed on as ``path``."""
    from optimlab.bench import suite as suite_workloads
    from optimlab.workloads import workloads_from

    if bool(suite) == bool(workloads):
        raise OptimlabError("say what to run: --suite small|full or --workloads a,b,c (one of them)")
    if suite:
        return suite, suite_workloads(suite)
    chosen = workloads_from(workloads, path=data_dir)
    return "-".join(w.name for w in chosen), chosen


def bench(
    suite: Annotated[str | None, typer.Option("--suite", help="Workload suite: small or full.")] = None,
    workloads: Annotated[
        str | None,
        typer.Option(
            "--workloads", help="Workloads instead of a suite, comma-separated (optimlab list workload)."
        ),
    ] = None,
    optimizers: Annotated[
        str, typer.Option("--optimizers", help="Optimizers to compare, comma-separated.")
    ] = "sgd,momentum,adam",
    optimizer_path: Annotated[
        list[str] | None,
        typer.Option(
            "--optimizer-path",
            help="Your optimizer, package.module:ClassOrFactory (a torch.optim.Optimizer subclass "
            "or a factory of optimlab transforms); repeat for several.",
        ),
    ] = None,
    seeds: Annotated[
        int, typer.Option("--seeds", help="Fresh seeds for each method's best configuration.")
    ] = 3,
    budget: Annotated[int, typer.Option("--budget", help="Tuning trials per method and workload.")] = 7,
    protocol: Annotated[str, typer.Option("--protocol", help="Tuning: grid, random or tpe.")] = "grid",
    backend: Annotated[str, typer.Option("--backend", help="batched, local, workers or ray.")] = "batched",
    workers: Annotated[
        int | None, typer.Option("--workers", help="Worker processes (--backend workers).")
    ] = None,
    members: Annotated[
        int | None, typer.Option("--members", help="Trials trained at once (--backend batched).")
    ] = None,
    cost: Annotated[str, typer.Option("--cost", help="Time to target in steps or seconds.")] = "steps",
    data_dir: o.DataDirOpt = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, cuda or auto for every workload.")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default runs/bench-NAME-TIME).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the benchmark kept in --out (same flags).")
    ] = False,
    threads: o.ThreadsOpt = None,
    report_format: Annotated[
        str,
        typer.Option(
            "--format", help="html (the report), or png / svg: also every figure as a file, for papers."
        ),
    ] = "html",
    json_output: Annotated[bool, typer.Option("--json", help="Print results as JSON lines.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Benchmark optimizers on a suite of workloads: equal tuning budget, fresh seeds, time to target,
    performance profiles and area scores; writes a self-contained HTML report."""
    import torch

    from optimlab.bench import run_bench, write_bench_report
    from optimlab.study.backends import BackendOptions

    if report_format not in REPORT_FORMATS:
        raise InvalidValueError("--format", report_format, "one of " + ", ".join(REPORT_FORMATS))
    if resume and out_dir is None:
        raise OptimlabError("--resume needs the benchmark's --out folder")
    torch.set_num_threads(o.torch_threads(threads, backend))
    label, chosen = _workloads(suite, workloads, data_dir)
    methods = _names(optimizers) + list(optimizer_path or [])
    out = out_dir or Path("runs") / f"bench-{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    output = Output("json" if json_output else "human")

    bar, on_progress = None, None
    if progress and not json_output:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        per_workload = (budget + seeds) * len(methods)
        bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=output.console,
        )
        task = bar.add_task(
            f"{len(chosen)} workloads x {len(methods)} methods", total=per_workload * len(chosen)
        )
        finished: dict[str, int] = {}

        def on_progress(workload: str, records: list[Any]) -> None:
            finished[workload] = sum(r.finished for r in records)
            bar.update(task, completed=sum(finished.values()), description=workload)

        bar.start()
    try:
        result = run_bench(
            chosen,
            methods,
            out,
            protocol=protocol,
            budget=budget,
            seeds=seeds,
            backend=backend,
            options=BackendOptions.given(workers=workers, members=members),
            resume=resume,
            device=device,
            cost=cost,
            on_progress=on_progress,
        )
    finally:
        if bar is not None:
            bar.stop()
    chosen_flags = {
        "--suite": suite,
        "--workloads": workloads,
        "--optimizers": optimizers,
        "--seeds": seeds,
        "--budget": budget,
        "--protocol": protocol,
        "--backend": backend,
        "--cost": cost,
        "--device": device,
    }
    command = "optimlab bench " + " ".join(
        [f"{flag} {value}" for flag, value in chosen_flags.items() if value is not None]
        + [f"--optimizer-path {path}" for path in optimizer_path or []]
    )
    report, files = write_bench_report(
        result,
        out / "report.html",
        figure_format=None if report_format == "html" else report_format,
        command=command,
    )
    scores = result.scores
    output.table(
        f"area score (time to target in {scores.cost}; 1: fastest on every workload)",
        ("rank", "method", "area score"),
        [(i + 1, m, a) for i, (m, a) in enumerate(scores.ranking())],
    )
    rows = []
    for workload, per in scores.workloads.items():
        for row in per:
            reached = f"{sum(map(math.isfinite, row.costs))}/{len(row.costs)}" if row.costs else "-"
            rows.append(
                (
                    workload,
                    row.method,
                    row.board.test.mean,
                    row.board.test.n,
                    row.cost if row.costs else math.nan,
                    reached,
                )
            )
    output.table(
        "per workload: final test metric (mean over seeds) and time to target (median)",
        ("workload", "method", "test mean", "seeds", f"time to target ({scores.cost})", "reached"),
        rows,
    )
    output.result(
        f"report: {report}"
        + (f"\nfigures: {report.parent / 'figures'} ({len(files)} files)" if files else "")
        + f"\nstorage: {out}\nwall time: {result.seconds:.0f} s",
        {
            "report": str(report),
            "figures": [str(f) for f in files],
            "storage": str(out),
            "seconds": round(result.seconds, 1),
        },
    )
