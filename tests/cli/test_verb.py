"""A single-valued option given twice with different values is refused on every verb, in one line naming
it and its values; options meant to repeat, and a repeat that changes nothing, pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer

from optimlab.cli._verb import Verb, VerbGroup
from optimlab.cli.app import app


@pytest.mark.parametrize(
    "args, said",
    [
        (["compare", "--seeds", "2", "--seeds", "1"], "--seeds given twice (2 and 1)"),
        (
            ["compare", "--optimizers", "sgd", "--optimizers", "adam"],
            "--optimizers given twice (sgd and adam)",
        ),
        (["train", "--lr", "0.1", "--lr", "0.2"], "--lr given twice (0.1 and 0.2)"),
        (["train", "--opt", "sgd", "--optimizer", "adam"], "--optimizer given twice (sgd and adam)"),
        (["train", "--progress", "--no-progress"], "--progress given twice (--progress and --no-progress)"),
        (["bench", "--budget", "1", "--budget", "2", "--budget", "1"], "--budget given 3 times (1, 2 and 1)"),
        (["doctor", "--steps=5", "--steps", "6"], "--steps given twice (5 and 6)"),
        (["list", "--filter", "adam", "--filter", "sgd"], "--filter given twice (adam and sgd)"),
        (["gallery", "--format", "json", "--format", "human"], "--format given twice (json and human)"),
        (
            ["gallery", "run", "no_such", "--size", "tiny", "--size", "large"],
            "--size given twice (tiny and large)",
        ),
    ],
)
def test_a_single_valued_option_given_twice_is_refused_naming_both_values(cli, args, said):
    """click kept the last value without a word: compare ran 1 seed of --seeds 2 --seeds 1. (Where the verb
    would work, a bad --threads stops it had the repeat passed.)"""
    if args[0] in ("compare", "train", "bench", "doctor"):
        args = [*args, "--threads", "0"]
    verb = " ".join(args[:2] if args[:2] == ["gallery", "run"] else args[:1])
    assert cli(*args) == (2, "", f"error: {said}: give it once (see 'optimlab {verb} -h')\n")


def test_options_meant_to_repeat_and_a_repeat_of_the_same_value_pass(cli):
    code, out, _ = cli("train", "--lr", "0.1", "--lr", "0.2", "-h")  # help answers still
    assert code == 0 and out.startswith("Usage: optimlab train")
    repeats = [
        "--set",
        "optimizer.lr=0.1",
        "--set",
        "model.width=3",
        "--log",
        "tensorboard",
        "--log",
        "mlflow",
    ]
    code, _, err = cli("train", *repeats, "--lr", "0", "--lr", "0")  # the refusal is the bad --lr's own
    assert (code, err) == (
        2,
        "error: Invalid value for '--lr': '0' is not accepted: a number in (0, inf) (see 'optimlab train -h')\n",
    )
    # the same value spelled two ways is one value: the refusal is --threads' own, not a repeat's
    code, _, err = cli("train", "--lr", "0.1", "--lr", "1e-1", "--threads", "0")
    assert code == 2 and "--threads" in err and "given twice" not in err, err


def _commands(command: Any, ctx: typer.Context | None = None) -> Iterator[tuple[Any, typer.Context]]:
    """Every command and group under ``command``, each with a context whose parent is its group's."""
    context = typer.Context(command, parent=ctx, info_name=command.name)
    yield command, context
    for sub in getattr(command, "commands", {}).values():
        yield from _commands(sub, context)


def test_every_verb_refuses_each_of_its_single_valued_options_given_twice():
    """Every command is a Verb (or a VerbGroup), so a new verb or option is checked too."""
    for command, ctx in _commands(typer.main.get_command(app)):
        assert isinstance(command, (Verb, VerbGroup)), ctx.command_path
        for option in command.params:
            if option.param_type_name != "option" or option.multiple or option.count or option.is_eager:
                continue
            if option.is_flag:
                if not option.secondary_opts:  # a switch alone: its repeat changes nothing
                    continue
                args, said = (
                    [option.opts[0], option.secondary_opts[0]],
                    f"{option.opts[0]} and {option.secondary_opts[0]}",
                )
            else:
                args, said = [option.opts[0], "1", option.opts[-1], "2"], "1 and 2"
            with pytest.raises(typer.TyperException) as refused:
                command.parse_args(ctx, args)
            assert refused.value.format_message() == f"{option.opts[0]} given twice ({said}): give it once"
