"""``optimlab compare``: a tuned, multi-seed comparison of methods on a workload, with its report."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from optimlab.cli import _options as o
from optimlab.cli._output import Output
from optimlab.errors import OptimlabError

if TYPE_CHECKING:  # the study package (optuna, torch) is imported when the verb runs, not at start-up
    from optimlab.study import StudySpec, TrialRecord

EXAMPLES = """Examples:
  optimlab compare --workload digits_mlp --optimizers sgd,momentum,rmsprop,adagrad,adam
  optimlab compare --workload digits_mlp,two_spirals_mlp --optimizers sgd,adam   # + performance profiles
  optimlab compare --workload mnist_cnn --data-dir ~/data/mnist --optimizers sgd,adam
  optimlab compare --optimizers sgd,adam --seeds 5 --budget 9 --backend workers --workers 2
  optimlab compare --compare model.activation=relu,tanh,gelu --space optimizer.lr=1e-4:1e-1:log \\
      --protocol tpe --budget 12
  optimlab compare --optimizers adam,lion --backend batched --out runs/adam-lion
  optimlab compare --resume --out runs/adam-lion
  optimlab compare --optimizers sgd,adam --storage postgresql://user@host/db --name sweep1 --backend workers
"""

_LEADERBOARD_COLUMNS = (
    "rank",
    "method",
    "test mean",
    "std",
    "95% CI",
    "seeds",
    "failed",
    "best config",
    "steps to target",
)


def _config(params: dict[str, Any]) -> str:
    """``lr=0.004642 activation=gelu``: the last part of each field keeps the table narrow."""
    return " ".join(
        f"{k.rsplit('.', 1)[-1]}={v:.4g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
        for k, v in params.items()
    )


def _leaderboard_table(
    spec: StudySpec, records: Sequence[TrialRecord]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    from optimlab.study import leaderboard

    rows = []
    for i, row in enumerate(leaderboard(spec, records)):
        ci = "" if math.isnan(row.test.low) else f"[{row.test.low:.4g}, {row.test.high:.4g}]"
        rows.append(
            (
                i + 1,
                row.method,
                row.test.mean,
                row.test.std,
                ci,
                row.test.n,
                row.tuning_failed + row.seeds_failed,
                _config(row.params) + (" (edge)" if row.at_edge else ""),
                f"{row.steps_to_target:.0f} ({row.reached}/{row.test.n})" if row.reached else "-",
            )
        )
    return _LEADERBOARD_COLUMNS, rows


def compare(
    workload: Annotated[
        str | None,
        typer.Option(
            "--workload",
            help="Workloads (recipe + metric), comma-separated (optimlab list workload); default digits_mlp.",
        ),
    ] = None,
    optimizers: Annotated[
        str | None, typer.Option("--optimizers", help="Optimizers to compare, comma-separated.")
    ] = None,
    compare_field: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Any recipe field and its values to compare: FIELD=a,b,c (e.g. model.activation=relu,gelu).",
        ),
    ] = None,
    space: Annotated[
        list[str] | None,
        typer.Option(
            "--space",
            help="Searched field: FIELD=LOW:HIGH[:log][:int] or FIELD=a,b (repeat). Default: the lr.",
        ),
    ] = None,
    space_file: Annotated[Path | None, typer.Option("--space-file", help="Search space YAML.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="Tuning: grid, random or tpe.")] = None,
    budget: Annotated[
        int | None, typer.Option("--budget", help="Tuning trials per method (default 7).")
    ] = None,
    seeds: Annotated[
        int | None, typer.Option("--seeds", help="Fresh seeds for each method's best config (default 3).")
    ] = None,
    pruner: Annotated[
        str | None, typer.Option("--pruner", help="Stop hopeless trials: none, median, halving.")
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Override the workload's epochs.")] = None,
    data_dir: o.DataDirOpt = None,
    backend: Annotated[str, typer.Option("--backend", help="local, batched, workers or ray.")] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes or Ray tasks; 0 with --backend workers: wait for `optimlab worker`s.",
        ),
    ] = None,
    members: Annotated[
        int | None, typer.Option("--members", help="Trials trained at once by the batched backend.")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Ray cluster to join (default: local).")
    ] = None,
    storage: Annotated[
        str | None, typer.Option("--storage", help="Optuna RDB URL (default: a journal file in --out).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Study name (default: the workload's).")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Output folder (default runs/compare-NAME-TIME).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the study kept in --out / --storage.")
    ] = False,
    threads: o.ThreadsOpt = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar and the running leaderboard.")] = True,
    fmt: o.FormatOpt = "human",
) -> None:
    """Tune each method with the same budget, rerun its best config on fresh seeds, report with CIs."""
    import torch

    from optimlab.study import (
        SearchSpace,
        StudySpec,
        load_specs,
        methods_from,
        run_study,
        write_report,
    )
    from optimlab.study.backends import BackendOptions
    from optimlab.study.export import write_tables
    from optimlab.study.protocols import SEEDS
    from optimlab.study.run import open_studies
    from optimlab.workloads import workloads_from

    torch.set_num_threads(o.torch_threads(threads, backend))
    settings = {
        "workload": workload,
        "optimizers": optimizers,
        "compare": compare_field,
        "space": space,
        "space_file": space_file,
        "protocol": protocol,
        "budget": budget,
        "seeds": seeds,
        "pruner": pruner,
        "epochs": epochs,
        "data_dir": data_dir,
    }
    if resume:
        given = [f"--{k.replace('_', '-')}" for k, v in settings.items() if v]
        if given:
            raise OptimlabError(
                f"--resume continues the stored study with its own settings; drop {', '.join(given)}"
            )
        if out_dir is None and storage is None:
            raise OptimlabError("--resume needs the study's --out folder (or its --storage URL)")
        specs = load_specs(storage or out_dir, name)
    else:
        if bool(optimizers) == bool(compare_field):
            raise OptimlabError(
                "say what to compare: --optimizers a,b,c or --compare FIELD=a,b,c (one of them)"
            )
        field, values = ("optimizer.name", optimizers) if optimizers else compare_field.partition("=")[::2]
        if not values:
            raise OptimlabError(f"--compare {compare_field!r}: expected FIELD=a,b,c")
        methods = methods_from(field, [v.strip() for v in values.split(",") if v.strip()])
        search = (
            SearchSpace.load(space_file) if space_file else SearchSpace.from_flags(space) if space else None
        )
        options = {
            k: v
            for k, v in (("protocol", protocol), ("budget", budget), ("seeds", seeds), ("pruner", pruner))
            if v is not None
        }
        chosen = workloads_from(workload or "digits_mlp", epochs=epochs, path=data_dir)
        prefix = f"{name}-" if name and len(chosen) > 1 else ""
        specs = [
            StudySpec.for_workload(
                name if name and len(chosen) == 1 else prefix + w.name, w, methods, space=search, **options
            )
            for w in chosen
        ]
    label = "+".join(spec.name for spec in specs)
    out = out_dir or Path("runs") / f"compare-{label}-{time.strftime('%Y%m%d-%H%M%S')}"
    location = storage or out
    for spec in specs:  # every study stored before any runs: a kill during the first leaves all resumable
        open_studies(spec, location, resume=resume)
    output = Output(fmt)
    done: dict[str, int] = {}
    live = None
    if progress and fmt == "human":
        from rich.console import Group
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
        )
        total = sum(len(spec.tune_plan(m)) + spec.seeds for spec in specs for m in spec.methods)
        task = bar.add_task(f"{label}: {len(specs[0].methods)} methods", total=total)
        live = Live(bar, console=output.console, refresh_per_second=4)

        def progress_of(spec: StudySpec) -> Any:
            def on_progress(records: list[Any]) -> None:
                done[spec.name] = sum(r.finished for r in records)
                bar.update(task, completed=sum(done.values()))
                if any(r.phase == SEEDS and r.finished for r in records):
                    columns, rows = _leaderboard_table(spec, [r for r in records if r.finished])
                    table = Table(*columns, title=f"{spec.name}: leaderboard so far", title_justify="left")
                    for row in rows:
                        table.add_row(*(f"{c:.4g}" if isinstance(c, float) else str(c) for c in row))
                    live.update(Group(bar, table))

            return on_progress

        live.start()
    results = []
    try:
        for spec in specs:
            results.append(
                run_study(
                    spec,
                    location,
                    backend=backend,
                    resume=True,
                    options=BackendOptions.given(workers=workers, members=members, ray_address=ray_address),
                    on_progress=progress_of(spec) if live else None,
                )
            )
    finally:
        if live is not None:
            live.stop()
    files = write_tables(results, Path(out))
    report = write_report(results, Path(out) / "report.html")
    for spec, result in zip(specs, results):
        columns, rows = _leaderboard_table(spec, result.records)
        output.table(
            f"{spec.name}: {spec.test_metric} of each method's best configuration over {spec.seeds} seeds",
            columns,
            rows,
        )
    output.result(
        f"report: {report}\ntables: {', '.join(str(f) for f in files)}\nstorage: {location}",
        {"report": str(report), "tables": [str(f) for f in files], "storage": str(location)},
    )
