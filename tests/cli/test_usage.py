"""The usage line of every verb's help writes its arguments as POSIX utility syntax and click do: a required
operand by its name, an optional one in brackets, one that repeats followed by '...'."""

from __future__ import annotations

import pytest
import typer

from optimlab.cli.app import app


def _commands(command, path: tuple[str, ...] = ()):
    """Every command under ``command`` with the words that call it."""
    yield command, path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


@pytest.mark.parametrize(
    "words, usage",
    [
        (("gallery", "run"), "Usage: optimlab gallery run [OPTIONS] NAME"),
        (("report",), "Usage: optimlab report [OPTIONS] PATH..."),
        (("list",), "Usage: optimlab list [OPTIONS] [CATEGORY]"),
    ],
)
def test_a_required_argument_is_written_by_its_name_on_the_usage_line(cli, words, usage):
    """typer wrote a required argument '{NAME}' ('gallery run [OPTIONS] {NAME}'), a notation neither POSIX
    nor click's own usage lines use."""
    code, out, err = cli(*words, "--help")
    assert code == 0, err
    assert out.splitlines()[0] == usage


def test_every_argument_of_every_verb_is_written_by_the_convention():
    """The convention over every verb's arguments, so a new verb is checked too."""
    for command, words in _commands(typer.main.get_command(app)):
        context = typer.Context(command, info_name=" ".join(("optimlab", *words)))
        pieces = command.collect_usage_pieces(context)
        for argument in (p for p in command.params if p.param_type_name == "argument"):
            name = argument.metavar or argument.name.upper()
            expected = (name if argument.required else f"[{name}]") + ("..." if argument.nargs != 1 else "")
            assert expected in pieces, (words, pieces)
