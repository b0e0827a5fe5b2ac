"""``optimlab bench``: methods x workloads with the study engine, scored by time to target and profiles."""

from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from optimlab.bench import REPORT_FILE, SETTINGS_FILE, read_settings, resume_command, write_settings
from optimlab.bench.settings import SETTINGS
from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._output import Output
from optimlab.cli._progress import StudyProgress, exit_if_all_failed, resumable
from optimlab.errors import InvalidValueError, OptimlabError
from optimlab.number_text import count_of, seconds_text
from optimlab.runs_folder import fresh_path, hold_folder
from optimlab.user_code import is_import_path, refuse_file_path

EXAMPLES = """Examples:
  optimlab bench --suite small
  optimlab bench --suite small --optimizers sgd,momentum,adam --seeds 3 --out runs/bench-small
  optimlab bench --suite small --optimizers adam --optimizer-path mypkg.optim:MyOpt
  optimlab bench --workloads digits_mlp --optimizers sgd,adam --model mynets:build --backend workers
  optimlab bench --workloads digits_mlp,noisy_quadratic --optimizers adam,lion --budget 5
  optimlab bench --workloads mnist_cnn --data-dir ~/data/mnist --device auto --backend local
  optimlab bench --suite small --figure-format png --out runs/paper
  optimlab bench --resume runs/bench-small
  optimlab bench --suite small --format json
"""

FIGURE_FORMATS = ("html", "png", "svg")
# optimlab.bench.scoring.COSTS, named here so a typo is refused before torch loads
COSTS = ("steps", "seconds")
SUITE_NAMES = ("small", "full")  # optimlab.bench.SUITES, named here so a typo is refused before torch loads
DEFAULTS = {**o.STUDY_DEFAULTS, "optimizers": "sgd,momentum,adam", "backend": "batched", "cost": "steps"}


def _workloads(settings: dict[str, Any]) -> tuple[str, list[Any]]:
    """(label, workloads) of ``--suite`` or ``--workloads`` (:func:`optimlab.bench.planned_workloads`), on
    the user's dict batches as ``compare`` runs them (the model's own loss, no scaling)."""
    from optimlab.bench import planned_workloads
    from optimlab.study.compare import on_dict_batches

    label = settings["suite"] or "-".join(o.split_names(settings["workloads"]))
    return label, [on_dict_batches(workload) for workload in planned_workloads(settings)]


def _settings(ctx: typer.Context, resume: Path | None) -> dict[str, Any]:
    """The benchmark's settings: the flags given (defaults filled), or those saved in the resumed folder."""
    if resume is None:
        given = {k: ctx.params[k] for k in SETTINGS}
        if (given["suite"] is None) == (given["workloads"] is None):  # --workloads '' refused below
            raise OptimlabError("say what to run: --suite small|full or --workloads a,b,c (one of them)")
        given["data_dir"] = str(given["data_dir"]) if given["data_dir"] else None
        o.check_names(given["workloads"], "--workloads", "workload")
        o.check_names(given["optimizers"], "--optimizers", "optimizer")
        o.check_target(given["target"], given["dataset"])
        for path in given["optimizer_path"] or []:
            refuse_file_path(path, "--optimizer-path")  # ./myoptim.py:Opt: the import path to write
            if not is_import_path(path):
                raise InvalidValueError("--optimizer-path", path, "package.module:ClassOrFactory")
        return {k: DEFAULTS[k] if v is None and k in DEFAULTS else v for k, v in given.items()}
    o.refuse_with_resume(ctx, SETTINGS)
    saved = read_settings(resume)
    if saved is None:
        from optimlab.study.storage import JOURNAL_NAME  # loads optuna: only to explain the refusal

        if (resume / JOURNAL_NAME).is_file():  # studies without a bench's settings: compare's
            raise OptimlabError(
                f"--resume {str(resume)!r} is a comparison's folder (no {SETTINGS_FILE}): "
                f"resume it with `{resume_command(resume)}`"
            )
        raise OptimlabError(f"--resume {str(resume)!r}: that folder holds no benchmark (no {SETTINGS_FILE})")
    return saved


def _command(settings: dict[str, Any]) -> str:
    """The command that reruns this benchmark, for the report, quoted for a shell (a --dataset path or a
    --target header with a space)."""
    words = ["optimlab", "bench"]
    for key, value in settings.items():
        if value is not None and key != "optimizer_path":
            words += [o.flag(key), str(value)]
    for path in settings["optimizer_path"] or []:
        words += ["--optimizer-path", path]
    return shlex.join(words)


def bench(
    ctx: typer.Context,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite", parser=o.choice(*SUITE_NAMES), metavar="|".join(SUITE_NAMES), help="Workload suite."
        ),
    ] = None,
    workloads: Annotated[
        str | None,
        typer.Option(
            "--workloads",
            "--workload",  # compare's spelling: the same flag in both verbs
            help="Workloads instead of a suite, comma-separated (optimlab list workload).",
        ),
    ] = None,
    optimizers: o.OptimizersOpt = None,
    optimizer_path: Annotated[
        list[str] | None,
        typer.Option(
            "--optimizer-path",
            metavar="MODULE:NAME",
            help="Your optimizer, package.module:ClassOrFactory (a torch.optim.Optimizer subclass "
            "or a factory of optimlab transforms); repeat for several.",
        ),
    ] = None,
    seeds: o.SeedsOpt = None,
    budget: o.BudgetOpt = None,
    protocol: o.ProtocolOpt = None,
    backend: o.BackendOpt = None,
    workers: o.WorkersOpt = None,
    members: o.MembersOpt = None,
    cost: Annotated[
        str | None,
        typer.Option(
            "--cost",
            parser=o.choice(*COSTS),
            metavar="|".join(COSTS),
            help="Time to target in steps or seconds.",
        ),
    ] = None,
    data_dir: o.DataDirOpt = None,
    device: o.DeviceOpt = None,
    model: o.BenchModelOpt = None,
    dataset: o.DatasetOpt = None,
    target: o.TargetOpt = None,
    out_dir: o.StudyOutOpt = None,
    resume: o.ResumeOpt = None,
    threads: o.StudyThreadsOpt = None,
    figure_format: Annotated[
        str,
        typer.Option(
            "--figure-format",
            parser=o.choice(*FIGURE_FORMATS),
            metavar="|".join(FIGURE_FORMATS),
            help="html (figures inside the report), or png / svg: also every figure as a file, for papers.",
        ),
    ] = "html",
    progress: o.ProgressOpt = True,
    fmt: o.FormatOpt = "human",
) -> None:
    """Benchmark optimizers on a suite of workloads.

    Equal tuning budget, fresh seeds, time to target, performance profiles and area scores; writes a
    self-contained HTML report.
    """
    settings = _settings(ctx, resume)
    o.check_backend_options(settings["backend"], workers=workers, members=members)
    methods = o.split_names(settings["optimizers"]) + list(settings["optimizer_path"] or [])
    from optimlab.bench import check_bench, run_bench, write_bench_report
    from optimlab.study.backends import BackendOptions

    o.use_threads(threads, settings["backend"])
    output = Output(fmt)
    with o.flags_named(ctx.params):  # --model, --dataset: named as typed, as train names them
        label, chosen = _workloads(settings)
    if resume is None:  # before the data: a folder left would look resumable
        from optimlab.study.protocols import check_trials_planned

        with o.fields_named(o.COUNT_FLAGS):  # one journal holds every workload's study
            check_trials_planned(len(chosen), len(methods), settings["budget"], settings["seeds"])
    out = resume or out_dir or fresh_path(f"bench-{label}")
    if resume is None:  # refused before anything is written: a folder left would look resumable
        given = "--optimizers" + (" and --optimizer-path" if settings["optimizer_path"] else "")
        with o.noting_data(output):  # its first step on each workload loads the data
            check_bench(chosen, methods, device=settings["device"], fields=("--workloads", given))
        checks.writable_folder(str(out))
    with hold_folder(Path(out), "optimlab bench"):  # made, and held to its report: a second bench is refused
        if resume is None:
            write_settings(out, settings)
        shows = shlex.join(["optimlab", "report", str(out)])
        with resumable(
            output, lambda: resume_command(out), report_command=lambda: shows
        ):  # trials, their report
            with StudyProgress(progress) as shown:
                per_workload = (settings["budget"] + settings["seeds"]) * len(methods)
                shown.start(
                    f"{count_of(len(chosen), 'workload')} x {count_of(len(methods), 'method')}",
                    per_workload * len(chosen),
                )
                result = run_bench(
                    chosen,
                    methods,
                    out,
                    protocol=settings["protocol"],
                    budget=settings["budget"],
                    seeds=settings["seeds"],
                    backend=settings["backend"],
                    options=BackendOptions.given(workers=workers, members=members),
                    resume=resume is not None,
                    device=settings["device"],
                    cost=settings["cost"],
                    checked=True,  # above, or resumed
                    on_progress=lambda workload, records: shown.update(
                        workload, sum(r.finished for r in records)
                    ),
                    on_storing=shown.storing,
                )
            report, files = write_bench_report(
                result,
                out / REPORT_FILE,
                figure_format=None if figure_format == "html" else figure_format,
                command=_command(settings),
            )
            _print_scores(output, result)  # its scores, read from the study: a stop here kept the whole bench
    compared = {k: result.settings[k] for k in ("methods", "workloads", "protocol", "budget", "seeds")}
    output.result(
        f"compared: {', '.join(compared['methods'])} on {', '.join(compared['workloads'])}; each tuned with "
        f"the same budget ({compared['protocol']}, {count_of(compared['budget'], 'trial')} over its "
        f"learning rate), then its best on the same {count_of(compared['seeds'], 'fresh seed')}\n"
        f"report: {report}"
        + (f"\nfigures: {report.parent / 'figures'} ({count_of(len(files), 'file')})" if files else "")
        + f"\nstorage: {out}\nwall time: {seconds_text(result.seconds)}",
        {
            "compared": compared,
            "report": str(report),
            "figures": [str(f) for f in files],
            "storage": str(out),
            "seconds": round(result.seconds, 1),
        },
    )
    exit_if_all_failed(output, result.results)


def _print_scores(output: Output, result: Any) -> None:
    from optimlab.bench.scoring import area_ranking_note
    from optimlab.study.report import few_tried_note
    from optimlab.study.significance import board_ranking_note

    scores = result.scores
    if scores.profiles:
        output.table(
            f"area score (time to target in {scores.cost}; 1: fastest on every workload)",
            ("rank", "method", "area score"),
            scores.ranks(),
            key="scores",
        )
        output.result(area_ranking_note(result.results[0].spec.seeds))  # as the report says it
    else:  # other data (--dataset): a workload's target was a level of its own
        output.result("area score: none, no workload has a target here, so no time to target")
        if not output.human:  # the JSON document keeps its key
            output.table("area score", ("rank", "method", "area score"), [], key="scores")
    rows = []
    for workload, per in scores.workloads.items():
        for row in per:
            # the report's words, not "inf" steps; JSON: null for both
            cost = row.time_cell if output.human else row.cost if row.costs else math.nan
            rows.append(
                (
                    workload,
                    row.method,
                    row.board.test.mean,
                    row.board.test.n,
                    row.board.seeds_failed,
                    cost,
                    row.reached_cell,
                )
            )
    output.table(
        "per workload: test metric (mean over the completed seeds), time to target (median)",
        ("workload", "method", "test mean", "seeds", "failed", f"time to target ({scores.cost})", "reached"),
        rows,
        key="workloads",
    )
    for study, per in zip(result.results, scores.workloads.values()):  # as each workload's section says
        board = [row.board for row in per]
        if note := board_ranking_note(study.spec, study.records, board):
            output.result(f"{study.spec.name}: {note}")
        tuning = few_tried_note(board)  # JSON: each workload's, "" where every field was tried at 3 or more
        if tuning or not output.human:
            said = {"workload": study.spec.name, "tuning_note": tuning}
            output.result(f"{study.spec.name}: {tuning}", said, under="tuning_notes")
