"""Text as a number, read as a person types one: ASCII digits, a sign, a decimal point, an exponent.

Python's ``int()`` and ``float()`` read more: digit separators (``'1_0'`` is 10) and every script's
digits (Arabic-Indic one, zero is 10); YAML 1.1 reads ``010`` as 8, ``0x10`` as 16, ``0b11`` as 3 and ``1:30`` as 90.
No one typing ``--steps 1_0`` or ``training: {steps: 1:30}`` means those, so the command line and
:func:`optimlab.recipe.load_yaml` read numbers here and refuse the rest, naming them. Light: the CLI checks its flags before torch loads.
And a count written for a person: ``1 step``, ``0 steps``, ``1,000 steps``; a duration: ``0.015 s``.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import yaml

__all__ = [
    "UntypedNumber",
    "below_smallest_float",
    "count_of",
    "infinity_word",
    "named_and_more",
    "plain_scalars",
    "plural",
    "python_only_number",
    "read_number",
    "read_whole_number",
    "seconds_text",
    "untyped_number",
]

_INTEGER = re.compile(r"[-+]?[0-9]+")
_REAL = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# YAML's own spellings of infinity and NaN: left to the field that reads them to accept or refuse
_YAML_NON_FINITE = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


def read_number(text: str, *, integer: bool = False) -> int | float | None:
    """The number ``text`` is as typed, spaces around it ignored (``' -3'``, ``'1e-3'``, ``'.5'``): an int
    where ``integer`` (whole numbers in digits alone), else a float; None for any other text."""
    text = text.strip()
    if integer:
        return int(text) if _INTEGER.fullmatch(text) else None
    return float(text) if _REAL.fullmatch(text) else None


# Digits past which a whole number is read as a float: far past int64's 19, and int() of 1e999999999's
# billion digits would take minutes. Any such number is past every range a count takes.
_EXACT_DIGITS = 40


def read_whole_number(text: str) -> int | float | None:
    """The number ``text`` is as typed (:func:`read_number`), a whole one as the exact int it writes:
    ``'1e3'`` is 1000 and ``'9007199254740993.0'`` its own digits, where a float rounds to ...992. Any
    other number is a float, which a caller refuses as no whole number (``'2.5'``; ``'9007199254740993.5'``
    too, whatever a float rounds it to) or as past its range (more than 40 digits); None for other text
    (``'0x10'``, ``'1_000'``)."""
    whole = read_number(text, integer=True)
    if whole is not None or (number := read_number(text)) is None:
        return whole
    exact = decimal.Decimal(text.strip())
    if exact.adjusted() < _EXACT_DIGITS and exact == exact.to_integral_value():
        return int(exact)
    return number


def below_smallest_float(text: str) -> bool:
    """Whether ``text`` is a number other than 0 that reads as 0.0, below the smallest float (about
    5e-324): ``1e-400``. Python and YAML read it as 0 without a word, so a weight decay of 1e-400 was none."""
    value = read_number(text)
    return value == 0 and any(digit in "123456789" for digit in text.lower().partition("e")[0])


def infinity_word(text: str) -> bool:
    """Whether ``text`` is Python's spelling of an infinity (``'inf'``, ``'-Infinity'``), which
    :func:`read_number` reads as no number and YAML as text: refused as no finite number, where 'is not a
    number in (0, inf)' read as if the range held it."""
    return text.strip().lower().lstrip("+-") in ("inf", "infinity")


def plural(noun: str) -> str:
    """``noun``'s plural as English writes a regular one: ``rows``, ``classes``, ``losses``, ``batches``."""
    return noun + ("es" if noun.endswith(("s", "x", "z", "ch", "sh")) else "s")


def count_of(count: int, noun: str) -> str:
    """``count`` and ``noun`` in agreement: ``1 trial``, ``0 trials``, ``1,200 trials``, ``2 classes``."""
    return f"{count:,} {noun if count == 1 else plural(noun)}"


def named_and_more(names: Sequence[str], shown: int = 4, *, serial: bool = False) -> str:
    """``a, b, c, d and 3 more``: the first ``shown`` of ``names``, and how many are left out; ``serial``:
    a comma before the ``and`` too (``'w' (10, 4), and 2 more``), where the names hold commas themselves."""
    more = f"{',' if serial else ''} and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def seconds_text(seconds: float) -> str:
    """``seconds`` for a person: ``0.015 s``, ``2.5 s``, ``625 s``, ``123,457 s`` (two digits at least;
    one decimal said ``0.0 s`` of a 15 ms run, whole ones ``0 s``; thousands grouped as :func:`count_of`)."""
    return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:,.0f} s"


def python_only_number(text: str) -> bool:
    """Whether Python's ``float()`` reads ``text`` as a number where :func:`read_number` reads none
    (``'1_0'``, ``'1e1_0'``, other scripts' digits), its ``'inf'`` and ``'nan'`` aside."""
    if read_number(text) is not None or text.strip("+- ").isalpha():
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


class UntypedNumber(NamedTuple):
    """A YAML number read otherwise than typed: its ``text`` and ``where`` it is (the keys to it,
    ``optimizer.weight_decay``, a list's item ``betas[1]``; empty for the document itself)."""

    text: str
    where: str

    @property
    def accepted(self) -> str:
        """What is accepted in its place, as a refusal says it."""
        at = f"at {self.where}, " if self.where else ""
        if below_smallest_float(self.text):
            return (
                f"0 or a number at least about 5e-324 in size; {at}{self.text!r} is below the smallest "
                "float and would read as 0"
            )
        return (
            "numbers in plain digits with a sign, a decimal point or an exponent, read as written; "
            f"{at}{self.text!r} would read otherwise (quote it for text)"
        )


def untyped_number(node: yaml.Node | None, construct: Callable[[yaml.Node], Any]) -> UntypedNumber | None:
    """The first plain value in the YAML ``node`` (a loader's composed document, ``construct`` its
    ``construct_object``) that YAML or Python reads as a number other than the one :func:`read_number`
    reads, or reads at all where it reads none: ``1_0``, ``010`` (YAML 1.1's 8), ``0x10``, ``1:30``, other
    scripts' digits, ``1e-400`` (0.0, :func:`below_smallest_float`); None where there is none. Python's
    ``inf`` and ``nan`` and YAML's ``.inf`` are left to the field that reads them."""
    for scalar, where in plain_scalars(node):
        if scalar.tag in _NUMBER_TAGS and not _YAML_NON_FINITE.fullmatch(scalar.value):
            # an int as an int: 99999999999999999999 is no float's 1e20
            typed = read_number(scalar.value, integer=scalar.tag == _NUMBER_TAGS[0])
            if typed is None or typed != construct(scalar) or below_smallest_float(scalar.value):
                return UntypedNumber(scalar.value, where)
        elif python_only_number(scalar.value) or below_smallest_float(scalar.value):  # YAML 1.1: 1e-400 text
            return UntypedNumber(scalar.value, where)
    return None


def plain_scalars(node: yaml.Node | None) -> Iterator[tuple[yaml.ScalarNode, str]]:
    """Each plain (unquoted) value in the YAML ``node``, keys too, in the order written, with ``where`` it
    is (the keys to it, ``optimizer.weight_decay``, a list's item ``betas[1]``; empty for the document)."""
    import yaml

    stack, seen = [(node, "")], set()
    while stack:
        node, where = stack.pop()
        if id(node) in seen:  # an alias: read once (``&a [*a]`` holds itself)
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                inner = f"{where}.{key.value}" if where else str(key.value)
                stack += [(value, inner if isinstance(key, yaml.ScalarNode) else where), (key, where)]
        elif isinstance(node, yaml.SequenceNode):
            stack += reversed([(item, f"{where}[{i}]") for i, item in enumerate(node.value)])
        elif isinstance(node, yaml.ScalarNode) and node.style is None:
            yield node, where
