"""The classes of every verb's command and group: an option that takes one value, given twice with
different values, is refused while the command line is parsed.

click keeps the last value of a repeated option without a word: ``compare --seeds 2 --seeds 1`` ran one
seed, ``train --lr 0.1 --lr 0.2`` trained at 0.2, ``--progress --no-progress`` hid the progress. Options
meant to repeat (``--set``, ``--log``: ``multiple``) keep every value; a repeat of the same value
(``--lr 0.1 --lr 1e-1``: the same once read) changes nothing and passes.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import click
import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

__all__ = ["Verb", "VerbGroup", "refuse_repeated_options"]


def _typed(option: TyperOption, value: Any) -> str:
    """A value as typed: a switch's own spelling (``--no-progress``), a value option's text."""
    if option.is_flag:
        return option.secondary_opts[0] if value is False and option.secondary_opts else option.opts[0]
    return " ".join(value) if isinstance(value, tuple) else str(value)


def _read(option: TyperOption, ctx: typer.Context, value: Any) -> str:
    """What a given value means once the option reads it (``1e-1`` is ``0.1``); its text where the option
    refuses it (the parse proper says so)."""
    try:
        return repr(option.process_value(ctx, value))
    except typer.TyperException:
        return repr(value)


def _times(count: int) -> str:
    return "twice" if count == 2 else f"{count} times"


def refuse_repeated_options(command: TyperCommand | TyperGroup, ctx: typer.Context, args: list[str]) -> None:
    """Refuse, naming it and its values, an option of ``command`` that takes one value and is given more
    than once in ``args`` with different values. ``args`` are read by a copy of the command whose
    single-valued options keep every value, so they are split exactly as the command splits them; a help
    or version request (an eager option) is left to answer."""
    if ctx.resilient_parsing:  # shell completion reads a line still being typed
        return
    reading = copy.copy(command)
    reading.params = [copy.copy(param) for param in command.params]
    single, original = {}, {param.name: param for param in command.params}
    for param in reading.params:
        if isinstance(param, TyperOption) and not (param.multiple or param.count or param.is_eager):
            param.multiple = True
            single[param.name] = param
    values, _, order = reading.make_parser(ctx).parse_args(args=list(args))
    if any(getattr(param, "is_eager", False) for param in order):
        return
    for name, option in single.items():
        given = values.get(name, [])
        if len({_read(original[name], ctx, value) for value in given}) > 1:
            typed = [_typed(option, value) for value in given]
            ctx.fail(
                f"{option.opts[0]} given {_times(len(typed))} ({', '.join(typed[:-1])} and {typed[-1]}): give it once"
            )


def _typed_with(option: str, args: list[str], options: set[str]) -> list[str]:
    """The values typed with ``option`` in ``args`` (``--steps 5``, ``--steps=5``, ``--steps -5``: a value
    may start with a dash where it is no option of the command, ``options``)."""
    values = []
    for given, after in zip(args, [*args[1:], None]):
        if given.startswith(f"{option}="):
            values.append(given.partition("=")[2])
        elif given == option and after is not None and not after.startswith("--") and after not in options:
            values.append(after)
    return values


def _where_the_field_goes(
    command: TyperCommand, path: str, field: str, value: str, args: list[str], options: set[str]
) -> str | None:
    """Where ``command`` (``path``, as typed; ``options``, its option names) takes the recipe's ``field``,
    which a flag it has not would set to ``value``: its ``--set`` (or the ``--set`` of that field already
    given), a recipe file or ``--space`` (compare), a workload's own recipe (bench); None for a verb that
    takes no recipe."""
    if "--set" in options:
        sets = _typed_with("--set", args, options)
        given = next((text for text in sets if text.partition("=")[0].strip() == field), None)
        if given is not None:  # a second --set of it would be refused as setting it twice
            return f"{path} sets the recipe's {field} with --set, and the --set {given} given sets it already"
        return f"{path} sets the recipe's {field} with --set {field}={value}"
    takes_recipe = any(param.name == "recipe_path" for param in command.params)
    if takes_recipe and "--space" in options:
        return (
            f"{path} takes the recipe's {field} from a recipe file that sets it ({path} RECIPE), or "
            f"--space {field}={value} for every trial"
        )
    if "--workloads" in options:
        return (
            f"{path} runs each workload's own recipe, which sets {field}; to set it, run optimlab compare "
            f"on a recipe file that sets it, or with --space {field}={value}"
        )
    return None


def _recipe_flag_not_taken(
    command: TyperCommand, ctx: typer.Context, args: list[str], error: typer.TyperException
) -> None:
    """Refuse an option unknown to ``command`` that another verb takes for a recipe field (``lr-find
    --steps 5``), saying where the verb takes that field (:func:`_where_the_field_goes`, with the value
    typed): click's own words suggested an option of like spelling (``--epochs``: 'Possible options:
    --depth', ``compare --lr``: 'Possible options: --goal')."""
    from optimlab.cli._options import field_of_flag

    options = {opt for param in command.params for opt in getattr(param, "opts", ())}
    option = getattr(error, "option_name", None)  # click's NoSuchOption; its own (--lr with no value) kept
    field = field_of_flag(option) if isinstance(option, str) and option not in options else None
    if field is None:
        return
    value = next(iter(_typed_with(option, args, options)), "VALUE")
    where = _where_the_field_goes(command, ctx.command_path, field, value, args, options)
    if where is not None:
        ctx.fail(f"No such option: {option}; {where}")


class Verb(TyperCommand):
    """Every verb's command (``app.command(cls=Verb)``): :func:`refuse_repeated_options` first."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        try:
            refuse_repeated_options(self, ctx, args)
            return super().parse_args(ctx, args)
        except typer.TyperException as error:
            _recipe_flag_not_taken(self, ctx, args, error)
            raise

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        """The usage line's pieces, a required argument by its name as POSIX and click write it (``NAME``,
        ``PATH...``), not in the braces typer puts around it (``{NAME}``)."""
        return [
            piece[1:].replace("}", "", 1) if piece.startswith("{") else piece
            for piece in super().collect_usage_pieces(ctx)
        ]

    def format_options(self, ctx: typer.Context, formatter: click.HelpFormatter) -> None:
        """The Arguments and Options sections as typer writes them, but an argument that repeats shown as
        click writes it in the usage line, ``PATH...``, with the type of each value (``PATH... <str>``, as
        ``RECIPE <Path>``), not typer's Python ``PATH <list[str]>``."""
        sections: dict[str, list[tuple[str, str]]] = {"Arguments": [], "Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument" and param.nargs == -1:
                name, words = record
                record = (_LIST_TYPE.sub(lambda found: f"... <{found[1]}>", name, count=1), words)
            sections["Arguments" if param.param_type_name == "argument" else "Options"].append(record)
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)


_LIST_TYPE = re.compile(r" <list\[(.+)\]>")  # typer's type of a repeated argument: its values' in brackets


class VerbGroup(TyperGroup):
    """A group of verbs (``optimlab``, ``optimlab gallery``): its own options checked as :class:`Verb`'s."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)
