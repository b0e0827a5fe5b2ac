"""``optimlab report``: the page of runs (one, or several overlaid) or of studies over time; optionally
the same runs and trials sent to a tracker (TensorBoard, MLflow)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._output import Output, typed_command
from optimlab.errors import OptimlabError
from optimlab.number_text import named_and_more
from optimlab.runs_folder import fresh_path, is_run_folder

EXAMPLES = """Examples:
  optimlab report runs/try-lr                        # runs/try-lr/report.html
  optimlab report runs/adam runs/lion runs/sgd --out adam-lion-sgd.html
  optimlab report runs/compare-week1 runs/compare-week2   # leaderboards side by side, significance
  optimlab report runs/try-lr --log tensorboard      # runs/try-lr/tensorboard/
  optimlab report runs/compare-week2 --log mlflow    # every trial as an MLflow run
"""


def report(
    paths: Annotated[
        list[str],
        typer.Argument(
            metavar="PATH", help="Run folders (from `optimlab train`), or study folders / storage URLs."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            parser=checks.writable_file(".html"),
            help="The page.",
        ),
    ] = None,
    log: o.ReportLogOpt = None,
    fmt: o.FormatOpt = "human",
) -> None:
    """Write the HTML page of runs or of studies.

    With --log, send their metrics to a tracker too.
    """
    seen: set[Path] = set()
    for path in paths:
        o.checked(checks.existing_location, path, "PATH")
        if Path(path).resolve() in seen:  # overlaid on itself, a run was compared with itself
            raise typer.BadParameter(f"{path!r} is given twice", param_hint="'PATH'")
        seen.add(Path(path).resolve())
    runs = [p for p in paths if is_run_folder(p)]
    if runs and len(runs) != len(paths):
        from optimlab.study.storage import JOURNAL_NAME

        others = [p for p in paths if p not in runs]
        raise OptimlabError(
            f"give run folders or studies, not both: {', '.join(others)} is not a run folder"
            + _instead(paths, others[0], JOURNAL_NAME)
        )
    if log:
        from optimlab.integrations import check_trackers

        check_trackers(log)  # before any work
    command = typed_command()
    own = _own_page(paths)
    if out is not None:
        _refuse_anothers_page(out, own)
    page = out or own or fresh_path("report", ".html")
    if out is None:  # a run folder on a read-only disk failed after the work, naming a temporary file
        try:
            checks.writable_file(".html")(str(page))
        except typer.BadParameter as error:
            raise typer.BadParameter(
                f"{error.message} (the default page; give --out)", param_hint="'--out'"
            ) from None
    if runs:  # loaded here, not first: a refused report need not import torch (through the recipe)
        from optimlab.report.run_folder import read_run
        from optimlab.report.run_page import write_run_report

        folders = []
        for path in paths:
            with o.file_named("run folder", path):
                folders.append(read_run(path))  # runs of one name: the page names them apart
        page = write_run_report(folders, page, command=command)
    else:
        from optimlab.bench import is_bench, resume_command
        from optimlab.study.storage import JOURNAL_NAME, is_url

        for path in paths:  # opening a missing folder or SQLite file as a storage would create it, empty
            if is_url(path):
                o.checked(checks.study_location, path, "PATH")
            elif not (Path(path) / JOURNAL_NAME).is_file():
                if (Path(path) / JOURNAL_NAME).exists():  # a folder of that name: named as one
                    o.checked(checks.study_location, path, "PATH")
                if is_bench(path):
                    raise OptimlabError(
                        f"{path!r} is a bench stopped before its first study was stored: nothing to report "
                        f"yet; run it with `{resume_command(path)}`"
                    )
                raise OptimlabError(
                    f"{path!r} is neither a run folder (recipe.yaml, metrics.jsonl) nor a study "
                    f"(a folder with {JOURNAL_NAME}, or a storage URL){_instead(paths, path, JOURNAL_NAME)}"
                )

        # loaded after the checks, which need not wait its 2.7 s
        from optimlab.report.study_history import load_results, write_history_report

        if len(paths) == 1 and not is_bench(paths[0]):  # one study: its own page, as compare writes it
            from optimlab.study.compare import stored_command
            from optimlab.study.report import write_report

            # the study's own page, whatever --out names, else the command its studies keep
            ran = _ran_by(Path(paths[0]) / _PAGE) or stored_command(paths[0])
            not_stored = f"{command} (rebuilt from the stored study; the command that ran it is not stored)"
            rebuilt = f"{ran}{_REBUILT}{command})" if ran else not_stored
            page = write_report([result for result, _ in load_results(paths[0])], page, command=rebuilt)
        else:
            page = write_history_report(paths, page, command=command)
    sent = _send(paths, runs=bool(runs), trackers=log or [], page=page)
    Output(fmt).result(
        f"report: {page}" + "".join(f"\n{tracker}: {where}" for tracker, where in sent.items()),
        {"report": str(page), "trackers": sent},
    )


_PAGE = "report.html"  # the page a run, a study and a bench keep in their folder


def _page_of(folder: Path) -> str | None:
    """What ``folder`` is whose page is ``folder / report.html``: a run folder (`train --html`), a study
    (`compare`), a bench; None for any other folder."""
    return "run folder" if is_run_folder(folder) else checks.studies_held(folder)


_REBUILT = " (page rebuilt by "


def _ran_by(page: Path) -> str | None:
    """The `optimlab compare` command that ran a study, as the page about to be rewritten at ``page`` keeps
    it in its "command" row (compare wrote it there; a page rebuilt before keeps it before its rebuilt
    note); None where that page keeps none (rebuilding put `optimlab report STUDY` in its place)."""
    from optimlab.report.html import label_value_rows

    ran = [value.split(_REBUILT)[0] for label, value in label_value_rows(page) if label == "command"]
    return next((value for value in ran if value.split()[1:2] == ["compare"]), None)


def _own_page(paths: list[str]) -> Path | None:
    """The page ``optimlab report`` rewrites for ``paths`` by default: that of one run folder or one study
    folder, in it (a bench's is written by bench; several runs or studies get a page of their own)."""
    folder = Path(paths[0])
    return folder / _PAGE if len(paths) == 1 and _page_of(folder) in ("run folder", "study") else None


def _refuse_anothers_page(out: Path, own: Path | None) -> None:
    """Refuse ``--out`` where it is the page of a run, study or bench folder other than the one reported:
    `report RUN --out STUDY/report.html` replaced a comparison's page with a run's, exit 0."""
    folder = out.parent
    if out.name != _PAGE or (own is not None and out.resolve() == own.resolve()):
        return
    kind = _page_of(folder)
    if kind is not None:
        raise typer.BadParameter(
            f"{str(out)!r} is the page of the {kind} {str(folder)!r}, which this report would replace: give "
            f"a file outside that folder{f' (or leave --out out: {str(own)!r})' if own else ''}",
            param_hint="'--out'",
        )


_COMMAND_HOLDS = 8  # folders: a suggested command of more would fill the screen; names stand in for it


def _instead(paths: list[str], refused: str, journal_name: str) -> str:
    """What to give instead of ``refused``, one of ``paths`` and no run folder: the folder of a file of one
    (its metrics.jsonl, a study's journal), or the run folders (else the studies) a folder holds, said with
    the command of every path so given ('' where a path has none near, or runs and studies would mix; no
    command where a path holds a character the one-line message would not keep)."""
    try:  # a hint: a folder it may not read (another user's) has none to give, not a traceback
        near = {path: _near(Path(path), journal_name) for path in paths}
    except OSError:
        return ""
    found = [kind_and_folders for kind_and_folders in near.values() if kind_and_folders is not None]
    if len(found) < len(paths) or len({kind for kind, _ in found}) > 1:
        return ""
    folders = list({folder.resolve(): folder for _, held in found for folder in held}.values())
    named = [str(folder) for folder in folders]
    command = shlex.join(
        ["optimlab", "report", *(["--"] if any(name.startswith("-") for name in named) else []), *named]
    )
    usable = len(folders) <= _COMMAND_HOLDS and all(name.isprintable() for name in named)
    kind, held = found[paths.index(refused)]
    reports = f": `{command}` reports {'them' if len(folders) > 1 else 'it'}" if usable else ""
    if Path(refused).is_file():
        return f"; give its folder{reports}"
    kinds = "run folders" if kind == "run folder" else "studies"
    if len(held) > _COMMAND_HOLDS:
        names = named_and_more([folder.name for folder in held], 3)
        return f"; it holds {len(held)} {kinds} ({names}): give each as a PATH"
    holds = f"a {kind}" if len(held) == 1 else f"{len(held)} {kinds}"
    return f"; it holds {holds}{reports or ': give each as a PATH'}"


def _near(path: Path, journal_name: str) -> tuple[str, list[Path]] | None:
    """What ``path`` stands for as ``optimlab report`` reads it, ``(kind, folders)``: itself, a run folder
    or a study; the folder of a file of one; the run folders (else the studies) a folder holds; None where
    none is near (a storage URL, neither a file nor a folder here, among them)."""

    def kind(folder: Path) -> str | None:
        return (
            "run folder" if is_run_folder(folder) else "study" if (folder / journal_name).is_file() else None
        )

    own = kind(path)
    if own is not None:
        return own, [path]
    if path.is_file():
        parents = kind(path.parent)
        return None if parents is None else (parents, [path.parent])
    children = sorted(child for child in path.iterdir() if child.is_dir()) if path.is_dir() else []
    runs = [child for child in children if kind(child) == "run folder"]
    held = runs or [child for child in children if kind(child)]  # runs and studies are not mixed
    return ("run folder" if runs else "study", held) if held else None


def _send(paths: list[str], *, runs: bool, trackers: list[str], page: Path) -> dict[str, str]:
    """Send every run (or every study's trials) to each tracker; where each went."""
    if not trackers:
        return {}
    from optimlab.integrations import log_run, log_study, open_tracker
    from optimlab.report.run_folder import read_run

    sent = {}
    for name in trackers:
        for path in paths:
            if runs:
                run = read_run(path)
                tracker = open_tracker(  # resumable: into the MLflow run the folder keeps, where it has one
                    name, folder=path, run_name=run.name, params=run.recipe, background=False, resumable=True
                )
                log_run(run, tracker, artifacts=[page])
            else:
                log_study(path, name, folder=path)
        sent[name] = (
            "the tensorboard/ folder of each" if name == "tensorboard" else "MLflow experiment optimlab"
        )
    return sent
