"""``optimlab gallery``: list the evidence gallery's experiments; ``optimlab gallery run NAME|all`` runs them
and writes their pages (figures, verdict from the numbers, every run's recipe) and, for ``all``, an index."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._errors import FileAsked, Interrupted, stopping
from optimlab.cli._output import Output
from optimlab.cli._verb import Verb, VerbGroup
from optimlab.number_text import count_of, seconds_text

if TYPE_CHECKING:
    from optimlab.gallery import Outcome
    from optimlab.gallery.publish import PageNotWritten

ALL = "all"
SIZES = ("small", "large", "tiny")
EXAMPLES = """Examples:
  optimlab gallery
  optimlab gallery list --format json
  optimlab gallery run small_init
  optimlab gallery run all --out gallery
  optimlab gallery run all --out gallery --resume
  optimlab gallery run adam_best --size large --out gallery-gpu
"""


class _GalleryGroup(VerbGroup):
    """An experiment named where the command goes (``optimlab gallery he_init``, as the listing suggests) is
    told the command that runs it, by its registered name ('lr schedule' typed: lr_schedule, one shell
    word); click said only "No such command 'he_init'"."""

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if args and self.get_command(ctx, args[0]) is None:
            from optimlab.errors import close_matches, did_you_mean
            from optimlab.gallery import experiment_names
            from optimlab.registry import normalize_name

            runnable = [*experiment_names(), ALL]  # what 'run' takes, and offers as it does
            if (registered := normalize_name(args[0])) in runnable:
                raise typer.BadParameter(
                    f"{args[0]!r} is what the command 'run' takes: '{ctx.command_path} run {registered}'",
                    ctx,
                    param_hint="COMMAND",
                )
            # a word of an experiment's name ('gallery he'), not a command mistyped ('gallery rnu')
            if (near := close_matches(registered, runnable)) and not close_matches(
                args[0], self.list_commands(ctx)
            ):
                raise typer.BadParameter(
                    f"{args[0]!r} is neither a command ({', '.join(self.list_commands(ctx))}) nor an "
                    f"experiment{did_you_mean(near)}: '{ctx.command_path} run {near[0]}' runs one",
                    ctx,
                    param_hint="COMMAND",
                )
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="gallery",
    cls=_GalleryGroup,
    rich_markup_mode=None,
    context_settings=o.CONTEXT,
    epilog=o.epilog(EXAMPLES),
    help="Tutorial claims and classic results, tested by runs.\n\nEach judged by its numbers: the "
    "verdict is computed, never written by hand. Without a command, lists the experiments as 'list' does.",
)


@app.callback(invoke_without_command=True, epilog=o.epilog(EXAMPLES))
def gallery(ctx: typer.Context, fmt: o.FormatOpt = "human") -> None:
    """List the experiments: name, what it tests, and its source. Run one with 'optimlab gallery run NAME'."""
    if ctx.invoked_subcommand is None:
        _list_experiments(fmt)


@app.command("list", cls=Verb, epilog=o.epilog(EXAMPLES))
def list_experiments(ctx: typer.Context, fmt: o.FormatOpt = "human") -> None:
    """List the experiments, as plain 'optimlab gallery' does.

    Name, what it tests, and its source.
    """
    _list_experiments(_format_given(ctx, fmt))


def _format_given(ctx: typer.Context, fmt: str) -> str:
    """The verb's own --format, else the group's: 'optimlab gallery --format json run ...' is JSON too."""
    return ctx.parent.params["fmt"] if ctx.get_parameter_source("fmt").name == "DEFAULT" else fmt


def _list_experiments(fmt: str) -> None:
    from optimlab.gallery import experiments

    columns = ("name", "kind", "summary", "source")
    rows = [(e.name, e.obj.kind.replace("_", " "), e.summary, e.paper) for e in experiments()]
    output = Output(fmt)
    if not output.human:
        output.result("", {"experiments": [dict(zip(columns, row, strict=True)) for row in rows]})
        return
    output.table("Experiments (optimlab gallery run NAME, or all)", columns, rows, unbroken=("name",))


@app.command("run", cls=Verb, epilog=o.epilog(EXAMPLES))
def run(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="An experiment (see 'optimlab gallery'), or 'all'.")
    ],
    size: Annotated[
        str,
        typer.Option(
            "--size",
            parser=o.choice(*SIZES),
            metavar="|".join(SIZES),
            help="small (CPU, minutes), large (a GPU), or tiny (a smoke test).",
        ),
    ] = "small",
    out: Annotated[
        Path,
        typer.Option("--out", parser=checks.writable_folder, help="Folder for the pages and their numbers."),
    ] = Path("gallery"),
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Keep the pages an earlier (interrupted) run left in --out, at this size and with the verdict "
            "their numbers still give, and run the rest.",
        ),
    ] = False,
    progress: o.ProgressOpt = True,
    fmt: o.FormatOpt = "human",
) -> None:
    """Run an experiment (or all) and write its page.

    Figures, the verdict computed from the numbers, every run's recipe, and the source it tests.
    """
    from optimlab.cli._catalog import check_name
    from optimlab.errors import UnknownNameError
    from optimlab.registry import normalize_name

    fmt = _format_given(ctx, fmt)
    if normalize_name(name) == ALL:
        name = ALL
    else:
        try:
            check_name("experiment", name, "NAME")
        except UnknownNameError as error:  # 'all' is accepted too, and an "ALL" is all
            raise UnknownNameError(error.kind, error.name, [*error.accepted, ALL]) from None
    output = Output(fmt)
    from optimlab.gallery import get_experiment, run_experiment, run_gallery
    from optimlab.gallery.publish import PageNotWritten, experiment_names, pages_found

    # the canonical name, which names its page: 'No-Nonlinearity' is no_nonlinearity.html
    names = experiment_names() if name == ALL else [get_experiment(name).name]
    pages, kept = pages_found(size, out, names, resume=resume)  # each kept page's decision, taken below
    over_pages_said = not pages

    def say_over_pages() -> None:
        """A run over earlier pages says what it keeps or runs again: once, at the library's first report,
        after its check of the folder (check_replaceable), so that a refused folder stays one line."""
        nonlocal over_pages_said
        if not over_pages_said:
            over_pages_said = True
            output.note(_over_pages(len(names), pages, None if kept is None else len(kept), out))

    # lazy: off a terminal, nothing before the folder is checked
    loading = f"gallery: loading {name if name == ALL else names[0]} ({size})"  # 'lr schedule': lr_schedule
    with output.working(loading, lazy=True, shown=progress) as show:

        def started(experiment: str, i: int, count: int) -> None:
            say_over_pages()
            show(f"[{i + 1}/{count}] {experiment} ({size}) running ...")

        def done(outcome: Outcome, page: Path | None) -> None:
            """``page`` None: the OS refused it, as the line after the results says."""
            say_over_pages()
            output.result(
                f"{outcome.name}: {outcome.verdict.label} in {seconds_text(outcome.seconds)}: "
                f"{page or 'its page not written'}",
                {
                    "name": outcome.name,
                    "verdict": outcome.verdict.label,
                    "seconds": round(outcome.seconds, 1),
                    "page": str(page) if page else None,
                },
                under="experiments" if name == ALL else None,  # all: a list, and the index
            )

        from optimlab.gallery.publish import kept_page

        unshown: list[tuple[Path, str]] = []  # the pages the index links without their verdict, and why

        def not_indexed(page: Path, why: str) -> None:
            unshown.append((page, why))

        if name != ALL:
            try:
                page_kept = (
                    kept_page(get_experiment(name), size, out, kept[names[0]])
                    if kept and names[0] in kept
                    else None
                )
                if page_kept is not None:  # its own page, in this optimlab's words: no other file replaced
                    done(*page_kept)
                    return
                done(*run_experiment(name, size=size, out=out, on_start=started, on_unshown=not_indexed))
            except PageNotWritten as refused:  # its page, or the index written again after it
                done(refused.outcome, refused.page)
                _page_refused(output, refused)
            _say_not_indexed(output, unshown)  # where the index was written again
            return
        finished: list[str] = []

        def count(outcome: Outcome, page: Path) -> None:
            finished.append(outcome.name)
            done(outcome, page)

        try:
            index = run_gallery(
                size=size,
                out=out,
                resume=resume,
                kept=kept,
                on_start=started,
                on_done=count,
                on_unshown=not_indexed,
            )
        except PageNotWritten as refused:  # the pages done, then the refused one's outcome, then why
            if refused.outcome is not None:  # else the index refused, every page written
                done(refused.outcome, None)
            _say_not_indexed(output, unshown)
            indexed = refused.indexed  # of the pages done, where the disk took it
            stopped: dict[str, str] = {}
            if (left := len(names) - len(finished) - 1) > 0:  # after the refused one: neither run nor printed
                again = _resume_command(size, out)
                stopped = {"status": "stopped", "resume": again}
                kept_said = _kept(len(finished), out, indexed is not None, again)
                output.note(f"stopped, {count_of(left, 'experiment')} not run: {kept_said}")
            output.result(
                f"index: {indexed}" if indexed else "no index written",
                {"index": indexed and str(indexed), **stopped},
            )
            _page_refused(output, refused)
        except KeyboardInterrupt:
            stopping()
            if not finished:
                raise
            _say_not_indexed(output, unshown)
            again = _resume_command(size, out)
            if not output.human:  # the finished ones too, and how to go on; people read the line below
                output.result("", {"status": "interrupted", "resume": again})
            raise Interrupted(_kept(len(finished), out, True, again)) from None
    _say_not_indexed(output, unshown)
    output.result(f"index: {index}", {"index": str(index)})


def _resume_command(size: str, out: Path) -> str:
    """The command that runs the experiments of ``all`` left to run, keeping the pages written."""
    return shlex.join(["optimlab", "gallery", "run", "all", "--size", size, "--out", str(out), "--resume"])


def _kept(finished: int, out: Path, indexed: bool, again: str) -> str:
    """What a stopped ``all`` keeps of its ``finished`` experiments, and how to go on (``again``)."""
    said = "indexed" if indexed else "not indexed"
    return f"the pages of {count_of(finished, 'finished experiment')} are kept in {out} ({said}); continue with `{again}`"


def _page_refused(output: Output, refused: PageNotWritten) -> None:
    """After the results: the file of a page (or the index) the OS refused, and why, exit code 5 (as doctor
    --html's)."""
    page = FileAsked("the index" if refused.index_refused else "the page", None)
    page.refuse(refused, refused.path)
    page.end(output)


def _say_not_indexed(output: Output, unshown: list[tuple[Path, str]]) -> None:
    """Name on stderr each page whose verdict the index just written cannot show, and why (``unshown``, as
    the index's writing told them)."""
    for page, why in unshown:
        output.note(f"{page}: linked without its verdict in the index: {why}")


def _over_pages(count: int, pages: int, kept: int | None, out: Path) -> str:
    """What a run of ``count`` experiments does over the ``pages`` an earlier one left in ``out``: keeps
    ``kept`` of them (--resume) and runs the rest, or (``kept`` None) runs those with a page again and the
    others for the first time."""
    if kept is None:
        again = f"{out}: running {count_of(pages, 'experiment')} again over its {count_of(pages, 'page')}"
        new = f", and {count_of(count - pages, 'experiment')} that had none" if count > pages else ""
        return f"{again}{new} (--resume keeps those still valid)"
    return f"{out}: kept {kept} of its {count_of(pages, 'page')}, running {count - kept}"
