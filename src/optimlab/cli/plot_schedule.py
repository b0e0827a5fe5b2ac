"""``optimlab plot-schedule``: draw one or more learning-rate schedules to an image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optimlab.cli import _checks as checks
from optimlab.cli import _options as o
from optimlab.cli._errors import FileAsked
from optimlab.cli._output import Output
from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.registry import NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, get_registry, normalize_name

EXAMPLES = """Examples:
  optimlab plot-schedule cosine --steps 1000 --warmup-steps 100
  optimlab plot-schedule cosine wsd one_cycle --steps 500 --lr 3e-3 --out schedules.svg
  optimlab plot-schedule step --set step_size=100 --set gamma=0.5
"""
# --set, as every other verb names a NAME=VALUE; --option, the name this verb gave it before,
# still works (scripts written with it keep drawing what they drew), hidden from -h and said deprecated
DEPRECATED_OPTION = "warning: --option is deprecated: write --set NAME=VALUE (the same values)"


def _parse_option(flag: str, text: str) -> tuple[str, object]:
    """One ``NAME=VALUE`` of ``flag`` (--set, or the deprecated --option): the keyword and its value."""
    import yaml

    key, equals, value = text.partition("=")
    if not equals or not key.strip():
        raise OptimlabError(f"invalid {flag} {text!r}: write NAME=VALUE, e.g. gamma=0.5")
    try:
        return normalize_name(key), o.yaml_value(value, flag, text)
    except yaml.YAMLError as error:  # what YAML found, a key given twice among them
        raise OptimlabError(
            f"invalid {flag} {text!r}: the value is not a number, word or list{o.yaml_found(error)}"
        ) from None


def _refuse_a_schedule_named_twice(names: list[str]) -> None:
    """``cosine cosine`` (or ``cosine COSINE``, a name and its alias) drew one curve, where bench refuses
    ``--optimizers sgd,sgd``: each schedule is named once."""
    given: dict[str, list[str]] = {}
    for name in names:
        given.setdefault(get_registry("schedule").resolve(name), []).append(repr(name))
    twice = [
        f"{' and '.join(typed)} name one schedule, {name}"
        if len(set(typed)) > 1
        else f"{typed[0]} named {len(typed)} times"
        for name, typed in given.items()
        if len(typed) > 1
    ]
    if twice:
        raise InvalidValueError("SCHEDULE", " ".join(names), f"each schedule once ({'; '.join(twice)})")


def plot_schedule(
    names: Annotated[
        list[str],
        typer.Argument(metavar="SCHEDULE", help="Schedule names (see 'optimlab list schedule')."),
    ],
    steps: Annotated[
        int, typer.Option("--steps", parser=o.number(POSITIVE_INT), help="Total training steps.")
    ] = 1000,
    warmup_steps: Annotated[
        int, typer.Option("--warmup-steps", parser=o.number(NON_NEGATIVE_INT), help="Linear warmup steps.")
    ] = 0,
    lr: Annotated[
        float, typer.Option("--lr", parser=o.number(POSITIVE), help="Base (peak) learning rate.")
    ] = 1.0,
    set_values: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="NAME=VALUE", help="A schedule's keyword, its value read as YAML (repeat)."
        ),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", metavar="NAME=VALUE", hidden=True, help="Deprecated: --set."),
    ] = None,
    out_path: Annotated[
        Path,
        typer.Option("--out", parser=checks.writable_file(".png", ".svg"), help="Image file (.png or .svg)."),
    ] = Path("schedule.png"),
    fmt: o.FormatOpt = "human",
) -> None:
    """Plot learning rate against step for each schedule named."""
    from optimlab.cli._catalog import check_name
    from optimlab.schedules import create, plot
    from optimlab.schedules.create import check_warmup

    for name in names:
        check_name("schedule", name, "SCHEDULE")
        check_warmup(name, steps, warmup_steps, "--warmup-steps")
    _refuse_a_schedule_named_twice(names)
    options: dict[str, object] = {}
    flag_of: dict[str, str] = {}  # each keyword's flag, as typed
    for flag, text in [*(("--set", t) for t in set_values or []), *(("--option", t) for t in option or [])]:
        key, value = _parse_option(flag, text)
        if key in options:  # click keeps both, and the dict the last, without a word
            raise InvalidValueError(
                flag, text, f"a keyword set once, but another {flag_of[key]} sets {key} too"
            )
        options[key], flag_of[key] = value, flag
    takes = {name: get_registry("schedule").get(name).hyperparameter_names for name in names}
    for key in options:
        if not any(key in keys for keys in takes.values()):
            accepted = {k for keys in takes.values() for k in keys}
            raise UnknownNameError(
                f"hyperparameter (for {flag_of[key]}) of {', '.join(names)}", key, accepted
            )
    try:  # each keyword goes to the schedules that take it: cosine wsd --set decay_fraction=0.5
        schedules = {
            name: create(
                name,
                total_steps=steps,
                warmup_steps=warmup_steps,
                **{k: v for k, v in options.items() if k in takes[name]},
            )
            for name in names
        }
    except OptimlabError as error:
        typed = " / ".join(f"'{flag}'" for flag in dict.fromkeys(flag_of.values())) or "'--set'"
        raise typer.BadParameter(str(error), param_hint=typed) from None
    output = Output(fmt)
    # the picture is the verb's one result: refused (a full disk), it is said naming --out, exit 5
    drawn = FileAsked(
        "--out", out_path, kept="a former file there is kept; once it can be written, run again"
    )
    drawn.write(lambda path: plot(schedules, steps, path, base_lr=lr))
    if drawn.written is not None:
        output.result(f"wrote {drawn.written}", {"path": str(drawn.written)})
        if option:  # after the work: a refusal stays its one line, which names the flag typed
            output.note(DEPRECATED_OPTION)
    drawn.end(output)
