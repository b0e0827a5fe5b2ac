"""The recipe: the complete, validated description of how to train.

A recipe names every choice by its registry name (architecture, init, normalization, activation,
data scaling, optimizer, schedule, loss) with the numbers that go with it; the model's activation, norm
and init take their own hyperparameters as a mapping, ``init: {name: xavier_normal, gain: 1.0}``. It loads from YAML or a
dict, is validated on creation (an error names the field, the bad value and the accepted values),
serialises back losslessly, and has a stable id: the same recipe gives the same id on any machine.

>>> from optimlab.recipe import Recipe
>>> r = Recipe.from_dict({"data": {"name": "digits"}, "optimizer": {"name": "adam", "lr": 3e-3}})
>>> r.optimizer.lr, Recipe.from_yaml(r.to_yaml()) == r
(0.003, True)
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import re
import typing
from collections.abc import Hashable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import annotated_types
import pydantic
import pydantic_core
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from optimlab.atomic import write_atomically
from optimlab.errors import (
    InvalidValueError,
    OptimlabError,
    UnknownNameError,
    close_matches,
    did_you_mean,
    shown,
    with_article,
)
from optimlab.models.layers import TECHNIQUE_FIELDS
from optimlab.number_text import (
    UntypedNumber,
    below_smallest_float,
    infinity_word,
    plain_scalars,
    python_only_number,
    read_number,
    read_whole_number,
    untyped_number,
)
from optimlab.registry import (
    BATCH_ROWS,
    DEVICE,
    DEVICES,
    SEED,
    Capability,
    Each,
    HyperparameterSpec,
    Interval,
    get_registry,
    held_as,
    normalize_name,
    plain_numbers,
)
from optimlab.schedules.families import BASE_MOMENTUM, MAX_MOMENTUM
from optimlab.user_code import import_object, is_import_path, refuse_file_path

__all__ = [
    "MODEL_LOSS",
    "OWN_DEFAULT",
    "DataSpec",
    "ModelSpec",
    "OptimizerSpec",
    "Recipe",
    "RecipeError",
    "ScheduleSpec",
    "TrainingSpec",
    "YamlValueError",
    "dump_yaml",
    "field_set_twice",
    "fields_reached",
    "fields_set",
    "holds_a_whole_number",
    "load_yaml",
    "yaml_problem",
]

# ``training.loss`` that names no function: the model returns its own loss from the whole batch,
# ``model(**batch).loss`` (Hugging Face, the batch holding its ``labels``). The default for dict batches.
MODEL_LOSS = "model"


class RecipeError(OptimlabError):
    """A recipe that does not validate; the message lists every bad field."""


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: YAML 1.1 wants a dot, so ``eps: 1e-8`` was the string
    ``'1e-8'`` (refused as not a number by every hyperparameter, while a typed field parsed it). A key given
    twice is refused: PyYAML keeps the last, so a second ``training:`` section silently replaced the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *base``: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # ``? [a]``: PyYAML's own refusal names it
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"found the key {key!r} twice (the second would replace the first)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _YamlDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting the strings :func:`load_yaml` reads as YAML 1.2 floats: a CSV column
    ``'1e5'`` was written bare, ``1e5``, and read back as the number 100000.0; and a string Python reads as
    a number (``'1e1_0'``), which :func:`load_yaml` refuses bare."""

    def represent_str(self, data: str) -> yaml.ScalarNode:
        node = super().represent_str(data)
        if python_only_number(data):
            node.style = "'"
        return node


_YamlDumper.add_representer(str, _YamlDumper.represent_str)


class _StoredYamlLoader(_YamlLoader):
    """:class:`_YamlLoader` as optimlab read YAML before 2026-12-06, for the files it wrote then (a run
    folder's ``recipe.yaml``): their dumper wrote ``+.5`` and ``08_30`` bare as text, which the loader now
    reads as a number or refuses."""


for _yaml_class in (_YamlLoader, _StoredYamlLoader, _YamlDumper):
    _yaml_class.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
# YAML 1.1 reads ``09`` (a leading zero, no octal number) as text, YAML 1.2 as 9: read as written, like
# ``--steps 09`` and a typed field (``010``, YAML 1.1's octal 8, is still refused by untyped_number)
_LEADING_ZERO_DECIMAL = re.compile(r"^[-+]?0[0-9]*[89][0-9]*$")


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """YAML's int, a leading-zero integer that is no octal number (``09``) read in base 10."""
    if _LEADING_ZERO_DECIMAL.match(node.value):
        return int(node.value)
    return yaml.SafeLoader.construct_yaml_int(loader, node)


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
# YAML 1.2's booleans: true and false alone. YAML 1.1 (PyYAML) also reads yes, no, on and off as them, so
# ``drop_last: on`` trained as true while a README, a --set and YAML 1.2 readers take it for the text it is;
# bare, load_yaml refuses it (_yaml_1_1_yes_no); quoted, it is text, which a yes/no field refuses
_YAML_1_2_BOOLEAN = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
for _yaml_class in (_YamlLoader, _StoredYamlLoader):
    _yaml_class.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in _yaml_class.yaml_implicit_resolvers.items()
    }
    _yaml_class.add_implicit_resolver("tag:yaml.org,2002:bool", _YAML_1_2_BOOLEAN, list("tTfF"))
for _yaml_class in (_YamlLoader, _YamlDumper):
    # YAML 1.1 reads ``.5`` as a float but ``+.5``, ``-.5`` and ``.5e3`` as strings (its exponent wants a sign)
    _yaml_class.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(r"^[-+]?\.[0-9]+([eE][-+]?[0-9]+)?$"), list("-+.")
    )
    _yaml_class.add_implicit_resolver("tag:yaml.org,2002:int", _LEADING_ZERO_DECIMAL, list("-+0"))


class YamlValueError(yaml.YAMLError):
    """YAML that parses but holds a value read otherwise than written (``010``, YAML 1.1's 8) or a value
    that holds itself (``&a [0.9, *a]``): ``value`` names it, ``accepted`` says what is taken instead."""

    def __init__(self, value: str, accepted: str) -> None:
        self.value, self.accepted = value, accepted
        super().__init__(f"{value!r} is refused: accepted {accepted}")


class NumberAsTyped(str):
    """A number below the smallest float (``1e-400``) kept as typed, for a field of whole numbers to refuse
    in its own words; a message shows it as typed, unquoted (``[3, 1E-400]``), as no text was typed."""

    def __repr__(self) -> str:
        return str(self)


_NUMBER_AS_TYPED = "tag:optimlab,2026:number_as_typed"
for _yaml_class in (_YamlLoader, _StoredYamlLoader):
    _yaml_class.add_constructor(_NUMBER_AS_TYPED, lambda loader, node: NumberAsTyped(node.value))


def load_yaml(text: str, *, stored: bool = False, tiny_as_text: bool = False) -> Any:
    """YAML as recipes, search spaces, options and run folders read it: safely, with YAML 1.2's floats
    (``1e-8``, ``+.5``) and every number read as written. A number read otherwise (``1_0`` 10, ``010``
    YAML 1.1's 8, ``1:30`` 90, ``1_0e-4`` 0.001) and a value holding itself (``&a [0.9, *a]``, on which the
    recipe's checks recursed to a RecursionError) are refused by a :class:`YamlValueError` naming them.
    ``stored``: a file optimlab wrote (a run folder's recipe), read as it was written, any version's.
    ``tiny_as_text``: a number below the smallest float (``[3, 1e-400]``) read as typed
    (:class:`NumberAsTyped`), for a field of whole numbers to refuse in its own words (its range), not a
    float's."""
    loader = (_StoredYamlLoader if stored else _YamlLoader)(text)  # a SafeLoader: no arbitrary objects
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if tiny_as_text:
            _tiny_numbers_as_text(node, set())
        untyped = None if stored else untyped_number(node, loader.construct_object)
        if untyped is not None:
            raise YamlValueError(untyped.text, untyped.accepted)
        if not stored and (yes_no := _yaml_1_1_yes_no(node)) is not None:
            raise YamlValueError(*yes_no)
        if (held := _holding_itself(node, set(), set())) is not None:
            start, end = held.start_mark.index, held.end_mark.index
            shown = text[start:end] if end - start <= 60 else text[start : start + 57] + "..."
            raise YamlValueError(shown, "a value that does not hold itself (no alias of its own node)")
        return loader.construct_document(node)
    finally:
        loader.dispose()


# YAML 1.1's yes/no words besides true and false (PyYAML reads them as True and False): text in YAML 1.2
_YAML_1_1_BOOLEAN = re.compile(r"^(?:yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF)$")


def _yaml_1_1_yes_no(node: yaml.Node) -> tuple[str, str] | None:
    """The first plain YAML 1.1 yes/no word under ``node`` (``bias: no``) and what is accepted in its
    place; None where there is none. Read as YAML 1.2's text, ``no`` reached a user's factory as the
    string 'no' (``bias='no'``, a truthy value: a Linear with a bias), which no field of theirs checks."""
    for scalar, where in plain_scalars(node):
        if _YAML_1_1_BOOLEAN.match(scalar.value):
            at = f"at {where}, " if where else ""
            word = scalar.value
            yes = word.lower() in ("yes", "on")
            return word, (
                f"true or false, or the word quoted for text ({word!r}); {at}{word} is YAML 1.1's "
                f"{'true' if yes else 'false'}, which optimlab reads as neither (YAML 1.2)"
            )
    return None


def _tiny_numbers_as_text(node: yaml.Node, seen: set[int]) -> None:
    """Tag each plain scalar under ``node`` that writes a number below the smallest float as one typed."""
    if id(node) in seen:  # an alias read once (``&a [*a]`` holds itself)
        return
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and below_smallest_float(node.value):
            node.tag, node.style = _NUMBER_AS_TYPED, "'"  # quoted: no number for untyped_number to read
        return
    for part in (
        [p for pair in node.value for p in pair] if isinstance(node, yaml.MappingNode) else node.value
    ):
        _tiny_numbers_as_text(part, seen)


def _holding_itself(node: yaml.Node, within: set[int], done: set[int]) -> yaml.Node | None:
    """The first node under ``node`` holding itself through an alias; ``within`` are the ids of the
    nodes above it, ``done`` of those already read whole (an alias used twice is read once)."""
    if id(node) in within:
        return node
    if id(node) in done or isinstance(node, yaml.ScalarNode):
        return None
    within.add(id(node))
    parts = [p for pair in node.value for p in pair] if isinstance(node, yaml.MappingNode) else node.value
    held = next(filter(None, (_holding_itself(part, within, done) for part in parts)), None)
    within.discard(id(node))
    done.add(id(node))
    return held


def dump_yaml(value: Any, **options: Any) -> str:
    """``value`` as YAML that :func:`load_yaml` reads back as it was; ``options`` are ``yaml.dump``'s."""
    return yaml.dump(value, Dumper=_YamlDumper, **options)


def yaml_problem(error: yaml.YAMLError) -> str:
    """``line 2, column 1: found character '\\t' ...``: where and what, without PyYAML's snippet and caret."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    if context and problem.startswith("but "):  # 'but found another document' says nothing alone
        problem = f"{context} {problem}"
    if "'\\t'" in problem:  # PyYAML says what it found, not why
        problem += (
            " (YAML indents with spaces; a tab is no indent)"
            if _in_indent(mark)
            else " (replace the tab with a space)"
        )
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def _in_indent(mark: yaml.Mark | None) -> bool:
    """Whether the place ``mark`` is in its line's leading whitespace (a tab there is taken for an indent,
    ``\tepochs: 1``), or unknown; a tab after a value's start (``epochs:\t1``, ``{epochs: 1}\t``) is not."""
    if mark is None or mark.buffer is None:
        return True
    line_start = mark.buffer.rfind("\n", 0, mark.pointer) + 1
    return not mark.buffer[line_start : mark.pointer].strip(" \t")


def _as_lists(value: Any) -> Any:
    """``value`` with every tuple inside it (in mappings and lists too) a list, every NumPy scalar the
    Python number it holds (``num_groups: np.int64(2)`` from ``np.arange``), which JSON and YAML write:
    pydantic's serialiser refused them, so the recipe's id and YAML raised; and every -0.0 the 0.0 it
    equals, as the id reads it (:func:`_unsigned_zeros`), so the saved recipe and its displays show 0.0."""
    if isinstance(value, Mapping):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_as_lists(v) for v in value]
    number = plain_numbers(value)
    return 0.0 if isinstance(number, float) and number == 0 else number


def _unsigned_zeros(value: Any) -> Any:
    """``value`` (JSON's mappings and lists) with every -0.0 in it 0.0, which it equals: JSON writes
    ``-0.0``, so ``--weight-decay -0`` gave another id than the recipe it equals."""
    if isinstance(value, Mapping):
        return {key: _unsigned_zeros(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unsigned_zeros(item) for item in value]
    return 0.0 if isinstance(value, float) and value == 0 else value


def _canonical(category: str, name: str) -> str:
    return get_registry(category).resolve(name)


def _number_field(annotation: Any, kind: type[int] | type[float]) -> bool:
    """Whether a field of ``annotation`` holds one number of ``kind`` (``int``, ``float | None``)."""
    kinds = set(typing.get_args(annotation)) or {annotation}
    return kind in kinds and kinds <= {kind, type(None)}


def _whole_number_field(annotation: Any) -> bool:
    """Whether a field of ``annotation`` holds one integer (``int``, ``int | None``)."""
    return _number_field(annotation, int)


def _exact_int(value: Any) -> int | None:
    """The int a number equals exactly (``3.0``, ``Decimal(3)``, ``Fraction(3)``, ``np.int64(3)``); None
    for any other value (``2.5``, ``nan``, ``inf``, a list, None)."""
    try:
        whole = int(value)
    except (TypeError, ValueError, ArithmeticError):
        return None
    return whole if whole == value else None


def _quoted_number_read(value: Any, accepts: Interval | Each) -> Any:
    """``value``, a number in text (or a sequence's, ``betas: ['0.9', '0.99']``) read as the number it
    writes where ``accepts`` takes numbers: an int where the range is of integers (:func:`read_whole_number`),
    else a float; any other value, and text below the smallest float (``'1e-400'``, 0.0 read), as given,
    for the entry's check to refuse as typed."""
    if isinstance(value, (tuple, list)):
        ranges = accepts.ranges if isinstance(accepts, Each) else (accepts,) * len(value)
        if len(ranges) != len(value):  # refused by the entry's check, as given
            return value
        return type(value)(_quoted_number_read(item, within) for item, within in zip(value, ranges))
    if not isinstance(value, str) or isinstance(accepts, Each) or below_smallest_float(value):
        return value
    number = read_whole_number(value) if accepts.integer else read_number(value)
    return value if number is None else number


def _read_as_held(value: Any, spec: HyperparameterSpec) -> Any:
    """``value`` read as the number ``spec`` holds (a quoted number as its number, each number as its range
    holds it: :func:`optimlab.registry.held_as`) where ``spec`` accepts that reading; else as given, so
    that its refusal names it as typed (``[0, 1]``, not ``[0.0, 1]``)."""
    read = held_as(_quoted_number_read(value, spec.accepts), spec.accepts)
    try:
        spec.validate(read, "")
    except OptimlabError:
        return value
    return read


# The type of a refusal by a field's own bounds, as pydantic's own (``less_than``) are typed: a study's
# space check reads it as refused whatever the other fields hold (a ``value_error`` may read them).
_OUT_OF_RANGE = "out_of_range"


def _finite_number(value: Any) -> bool:
    """Whether ``value`` is a finite real number (NumPy's, Decimal, Fraction too; 10**400 is none)."""
    try:
        return math.isfinite(value)
    except (TypeError, OverflowError):
        return False


def _in_yaml_words(value: Any) -> str:
    """``value`` as a recipe's YAML writes it where a message names it: ``null``, ``true`` and ``false``
    (Python's None, True and False), any other value as :func:`optimlab.errors.shown` names it."""
    words = {None: "null", True: "true", False: "false"}
    if isinstance(value, (list, tuple)):  # betas: [0.9, null]
        return f"[{', '.join(_in_yaml_words(item) for item in value)}]"
    return words[value] if value is None or isinstance(value, bool) else shown(value)


# Python's None, True and False as a registry's accepted values name them ("one of True, False",
# "or None"), said in a recipe's refusal as its YAML writes them
_PYTHON_WORDS = re.compile(r"\b(None|True|False)\b")


def _in_yaml_terms(error: InvalidValueError) -> str:
    """A registered entry's refusal (which names values in Python's words, for the Python API) in a
    recipe's: its value and the accepted ones as YAML writes them (null, true, false)."""
    words = {"None": "null", "True": "true", "False": "false"}
    accepted = _PYTHON_WORDS.sub(lambda word: words[word[0]], error.accepted)
    return f"invalid value {_in_yaml_words(error.value)} for {error.field}: accepted {accepted}."


def _refused(value: Any) -> str:
    """The refusal of a number field's ``value``: a list or a mapping named as one (``[1e+30]: a list is
    refused``, where the size was blamed as past int64), any other value in YAML's words."""
    if isinstance(value, (list, tuple)):
        return f"{shown(list(value))}: a list is refused"
    if isinstance(value, Mapping):
        return f"{shown(dict(value))}: a mapping is refused"
    return f"{_in_yaml_words(value)} is refused"


def _field_range(field: pydantic.fields.FieldInfo, *, integer: bool) -> Interval:
    """The numbers a number field takes, by its own bounds: a whole-number field's (``seed``'s [0,
    4294967295], ``steps``' >= 1, within int64's where it has none: :meth:`optimlab.registry.Interval.accepted_for`)
    or a real one's (``lr``'s (0, inf), ``val_fraction``'s [0, 1))."""
    bounds = {type(bound): bound for bound in field.metadata}
    low, high = bounds.get(annotated_types.Ge), bounds.get(annotated_types.Le)
    above, below = bounds.get(annotated_types.Gt), bounds.get(annotated_types.Lt)
    return Interval(
        above.gt if above else low.ge if low else None,
        below.lt if below else high.le if high else None,
        open_low=above is not None,
        open_high=below is not None,
        integer=integer,
    )


class _Spec(BaseModel):
    # Unknown fields are typos more often than intent: reject them. Frozen, so ids stay valid. No inf or
    # NaN: JSON stores them as null, which would give lr: .inf the id (and, reloaded, the lr) of no lr.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    NAMED_FIELDS: ClassVar[dict[str, str]] = {}  # field -> the registry category whose names it holds
    OPTIONS_OF: ClassVar[str | None] = None  # the registry category of what ``options`` are keywords of
    # Fields that hold a technique of the registry category of their name, as a name or a mapping of its
    # name and hyperparameters, with an example of the mapping.
    TECHNIQUE_EXAMPLES: ClassVar[dict[str, str]] = {}
    # Technique fields that may hold OWN_DEFAULT, the component's own default no registered name holds
    OWN_DEFAULT_FIELDS: ClassVar[tuple[str, ...]] = ()
    # Fields added after studies were stored: left out of the serialised form while at their default, so
    # that the canonical JSON, hence the id, of a recipe that does not use them is what it always was.
    OMITTED_AT_DEFAULT: ClassVar[tuple[str, ...]] = ()

    @pydantic.model_serializer(mode="wrap")
    def _omit_defaults_of_later_fields(self, handler: pydantic.SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        for field in self.OMITTED_AT_DEFAULT:
            if getattr(self, field) == type(self).model_fields[field].default:
                data.pop(field, None)
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_for_a_number(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """YAML reads ``true``, ``yes`` and ``on`` as True, which pydantic took for 1 (``epochs: yes``); and a
        yes/no field takes only those: pydantic took the string "yes", 1 and 1.0 for True, where ``fit``
        refuses ``drop_last="yes"``. A number quoted below the smallest float (``"1e-400"``) is refused as
        YAML's bare one is: pydantic read it as 0.0."""
        if isinstance(value, str) and below_smallest_float(value):
            raise ValueError(f"{value!r} is below the smallest float and would read as 0")
        annotation = cls.model_fields[info.field_name].annotation
        kinds = set(typing.get_args(annotation)) or {annotation}
        if isinstance(value, bool) and bool not in kinds and kinds & {int, float}:
            raise ValueError(f"{_in_yaml_words(value)} is a yes/no value: give a number")  # as YAML writes it
        if kinds == {bool} and not isinstance(value, bool):  # pydantic read "yes", 1 and 1.0 as True
            yaml_1_1 = isinstance(value, str) and value.lower() in ("yes", "no", "on", "off")
            read = (
                " (YAML 1.1 reads it as a yes/no; optimlab reads YAML 1.2's true and false)"
                if yaml_1_1
                else ""
            )
            raise ValueError(f"{value!r} is not true or false{read}: give true or false, unquoted")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _whole_number_in_range(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """A whole-number field's value out of its range (:func:`_field_range`) refused in one line
        naming that range: pydantic said "a number with a fractional part" of ``seed: 1.5`` and "Unable to
        parse input string" of ``width: 1e30``, naming no range, and took ``steps: 99999999999999999999``,
        a run of 2^66 steps never to end (torch's int64 overflowed at the first use of a size that large).
        A number in text (``'3'``, ``'1e3'``) is read exactly as typed (:func:`read_whole_number`), other
        numbers where they equal an int (``3.0``, ``Decimal(3)``, ``Fraction(3)``); other text, a list, a
        mapping and null where the field takes none are refused alike (pydantic: "Input should be a valid
        integer (got None)")."""
        field = cls.model_fields[info.field_name]
        nullable = type(None) in typing.get_args(field.annotation)
        if (
            not _whole_number_field(field.annotation)
            or isinstance(value, bool)
            or (value is None and nullable)
        ):
            return value  # a yes/no value: refused by _no_yes_for_a_number
        accepted, also = _field_range(field, integer=True), ", or null" if nullable else ""
        whole = read_whole_number(value) if isinstance(value, str) else _exact_int(value)
        if isinstance(value, str) and whole is None and not infinity_word(value):  # 'inf': past int64
            raise ValueError(f"{value!r} is no whole number in decimal digits: accepted {accepted}{also}")
        if not isinstance(whole, int) or not accepted.contains(whole):
            past = value if whole is None else whole  # .inf: no int, past int64 all the same
            bound = accepted if isinstance(value, (list, tuple, Mapping)) else accepted.accepted_for(past)
            raise ValueError(f"{_refused(value)}: accepted {bound}{also}")
        return whole

    @field_validator("*", mode="before")
    @classmethod
    def _real_number_given(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """A real-number field given no number in its range refused in one line naming that range
        (:func:`_field_range`): pydantic said "Input should be a valid number (got None)" of ``lr:`` left
        empty where the field takes no null (``val_fraction``), of text and of a list, "a finite number"
        of ``.inf``, and "Input should be less than 1 (got 1)" of ``val_fraction: 1``. Text is read as
        :func:`read_number` reads it (``'1e-3'``; ``'1_0'`` no number)."""
        field = cls.model_fields[info.field_name]
        nullable = type(None) in typing.get_args(field.annotation)
        if (
            not _number_field(field.annotation, float)
            or isinstance(value, bool)
            or (value is None and nullable)
        ):
            return value  # a yes/no value: refused by _no_yes_for_a_number
        number = read_number(value) if isinstance(value, str) else value
        accepted = _field_range(field, integer=False)
        held = _finite_number(number) and accepted.contains(float(number))
        if held:
            return value
        # an infinity ('.inf', or 'inf', YAML's text) is told the finite numbers of the range
        infinite = float(value) if isinstance(value, str) and infinity_word(value) else number
        bound = accepted.accepted_for(infinite if isinstance(infinite, (int, float)) else None)
        refusal = f"{_refused(value)}: accepted {bound}{', or null' if nullable else ''}"
        if _finite_number(number):
            # out of the field's own bounds: whatever the other fields hold (a search space reads the type)
            raise pydantic_core.PydanticCustomError(_OUT_OF_RANGE, refusal)
        raise ValueError(refusal)

    @field_validator("*", mode="before")
    @classmethod
    def _quoted_numbers_of_options(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """A registered entry's numeric hyperparameter quoted (``ns_steps: '5'``, ``momentum: '0.9'``,
        YAML's quotes often put by accident) read as the number it writes, as a recipe field's is
        (``steps: '5'``): it was refused. A whole number exactly (:func:`read_whole_number`); other text
        is left to the entry's check, which names it; a user's class's options pass through as given. Each
        number is then the kind its range holds (:func:`optimlab.registry.held_as`): ``betas: [0, 0.99]``
        equalled ``[0.0, 0.99]`` with another id."""
        if info.field_name not in ("options", "loss_options") or not isinstance(value, Mapping):
            return value
        category, name = (
            ("loss", info.data.get("loss"))
            if info.field_name == "loss_options"
            else (cls.OPTIONS_OF, info.data.get("name"))
        )
        try:
            hyperparameters = get_registry(category).get(name).hyperparameters if category else ()
        except (
            OptimlabError,
            TypeError,
        ):  # a user's class or factory by import path, or a name refused apart
            return value
        numeric = {h.name: h for h in hyperparameters if isinstance(h.accepts, (Interval, Each))}
        return {
            key: _read_as_held(item, numeric[key]) if key in numeric else item for key, item in value.items()
        }

    @pydantic.model_validator(mode="before")
    @classmethod
    def _sequences_as_lists(cls, data: Any) -> Any:
        """Tuples as the lists YAML and JSON give back (``betas: (0.9, 0.99)`` from Python), so that a
        recipe equals itself read back from its YAML, as its id already did; NumPy scalars as numbers."""
        return _as_lists(data) if isinstance(data, Mapping) else data

    @pydantic.model_validator(mode="before")
    @classmethod
    def _fields_and_options_apart(cls, data: Any) -> Any:
        """Each key where validation keeps it. A key that is no field is refused, except in a section with
        ``options`` where it is a keyword of what the section names (``optimizer: {name: sgd, momentum:
        0.9}``) or close to no field: it goes to options, whose check names it (a typo of a keyword
        still gets "did you mean"). A field's keyword in options goes to the field, so the recipe, its
        id and a leaderboard show what is built (``keywords()`` would let options win unseen). Either
        way, a key set twice to different values is refused."""
        if not isinstance(data, Mapping):
            return data
        unknown = {k: v for k, v in data.items() if k not in cls.model_fields}
        options = data.get("options", {})
        if "options" not in cls.model_fields or not isinstance(options, Mapping):
            for key in unknown:
                raise UnknownNameError("field", key, cls.model_fields)
            return data
        for key in unknown:
            if key not in cls._keywords_of(data) and close_matches(str(key), cls.model_fields):
                raise UnknownNameError("field", key, cls.model_fields)
        fields = {k: v for k, v in options.items() if k in cls.model_fields and k != "options"}
        for key in {*unknown, *fields}:
            if key in data and key in options and data[key] != options[key]:
                raise ValueError(
                    f"{key!r} is set twice, as {key}: {data[key]!r} and in options: {options[key]!r}: keep one"
                )
        if not unknown and not fields:
            return data
        kept = {k: v for k, v in options.items() if k not in fields}
        known = {k: v for k, v in data.items() if k not in unknown}
        return {**known, **fields, "options": {**kept, **unknown}}

    @classmethod
    def _keywords_of(cls, data: Mapping[str, Any]) -> tuple[str, ...]:
        """The hyperparameters of the entry the section names, where its ``name`` is a registered one."""
        if cls.OPTIONS_OF is None:
            return ()
        try:
            return (
                get_registry(cls.OPTIONS_OF)
                .get(data.get("name", cls.model_fields["name"].default))
                .hyperparameter_names
            )
        except (OptimlabError, TypeError):
            return ()

    @field_validator("*", mode="before")
    @classmethod
    def _name_or_mapping(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """A technique's field (``TECHNIQUE_EXAMPLES``): one line for a value of neither kind, or a mapping
        with a key that is no text, where pydantic reported each kind of the union apart under its type's
        name (``model.init.str``, ``model.init.dict[str,any]``)."""
        example = cls.TECHNIQUE_EXAMPLES.get(info.field_name)
        if example is not None and not isinstance(value, (str, Mapping)):
            raise ValueError(
                f"{_in_yaml_words(value)} is neither a name nor a mapping of a name and hyperparameters, "
                f"e.g. {info.field_name}: {example}"
            )
        if example is not None and isinstance(value, Mapping):  # {name: batch, null: 1}: two lines too
            for key in value:
                if not isinstance(key, str):
                    raise ValueError(
                        f"the key {_in_yaml_words(key)} is refused: accepted the name and hyperparameters "
                        f"as text, e.g. {info.field_name}: {example}"
                    )
        return value

    @field_validator("*")
    @classmethod
    def _known_technique(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """A technique's name and hyperparameters checked against its registry (the category the field is
        named after), stored canonically; built once, so a value its ranges cannot check (minmax's
        feature_range out of order) is refused here, not when the run starts."""
        model_own = value == OWN_DEFAULT and info.field_name in cls.OWN_DEFAULT_FIELDS
        if info.field_name not in cls.TECHNIQUE_EXAMPLES or model_own:
            return value
        from optimlab.techniques.choice import canonical, resolve

        try:
            stored = canonical(info.field_name, value)
        except InvalidValueError as error:
            raise ValueError(_in_yaml_terms(error)) from None
        except UnknownNameError as error:  # a model's technique may also be its own: say so beside the names
            if info.field_name not in cls.OWN_DEFAULT_FIELDS or error.kind != info.field_name:
                raise  # not the field's own, or a hyperparameter the technique named does not take
            if normalize_name(str(error.name)) == OWN_DEFAULT:  # {name: own_default, eps: ...}
                raise ValueError(
                    f"{OWN_DEFAULT} (the model's own {info.field_name}) takes no hyperparameters: name the "
                    f"{info.field_name} to set them, e.g. {info.field_name}: {cls.TECHNIQUE_EXAMPLES[info.field_name]}"
                ) from None
            raise UnknownNameError(info.field_name, error.name, [*error.accepted, OWN_DEFAULT]) from None
        if info.field_name == "scaling":  # a module of two empty buffers: cheap to build
            name, hyperparameters = resolve("scaling", stored)
            get_registry("scaling").create(name, **hyperparameters)
        if info.field_name == "init":  # values wrong together (kaiming's gain and a), refused as apply()'s
            from optimlab.techniques.init import validate

            validate(*resolve("init", stored))
        return stored

    @field_validator("*")
    @classmethod
    def _known_name(cls, value: Any, info: pydantic.ValidationInfo) -> Any:
        """Fields that hold a registered name are checked and canonicalised (aliases resolved)."""
        category = cls.NAMED_FIELDS.get(info.field_name)
        return value if category is None or value is None else _canonical(category, value)


class DataSpec(_Spec):
    """Which data, how it is split and scaled."""

    OPTIONS_OF = "dataset"
    TECHNIQUE_EXAMPLES: ClassVar[dict[str, str]] = {"scaling": "{name: minmax, feature_range: [-1, 1]}"}

    name: str = "digits"  # a registered data set, a path to a CSV/NumPy/IDX file, or mypkg.data:load
    # A name or {name: minmax, feature_range: [-1, 1]}; fitted on the training split only, stored with
    # the model
    scaling: str | dict[str, Any] = "none"
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    data_fraction: float = Field(1.0, gt=0.0, le=1.0)  # subsample the training split, to study data size
    options: dict[str, Any] = {}  # data set keywords (e.g. noise of two_spirals)
    # The seed of the data: a synthetic set's draw, the split and the training subsample (data_fraction,
    # drawn with the split, so runs that share the split share the subsample too); None: training.seed.
    # Fixed, runs of other seeds (a study's reruns) train and are scored on the same rows.
    split_seed: int | None = Field(None, ge=SEED.low, le=SEED.high)

    # split_seed came after studies were stored: their recipes keep their ids
    OMITTED_AT_DEFAULT = ("split_seed",)

    @field_validator("name", mode="before")
    @classmethod
    def _dataset_as_text(cls, name: Any) -> Any:
        """A data set given as no text (``name:`` left empty) refused naming what it takes, not 'text'."""
        if not isinstance(name, str):
            raise ValueError(
                f"{_in_yaml_words(name)} is refused: accepted a data set's name (optimlab list dataset), "
                "a CSV, NumPy or IDX file, an image folder, or an import path, pkg.mod:load"
            )
        return name

    @field_validator("name")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        looks_like_path = any(c in name for c in "/\\.") and not is_import_path(name)
        if looks_like_path:
            refuse_file_path(name, "dataset")  # ./mydata.py:load: the import path to write
            return name
        return _canonical("dataset", name)


# A technique field of the model's own default where no recipe value can hold it (the user's class
# taking ``norm=nn.LayerNorm``, ``dropout=None``): its keyword is not passed, so the factory keeps it.
OWN_DEFAULT = "own_default"


def architecture_techniques(name: Any) -> dict[str, Any]:
    """The technique fields (activation, norm, init, dropout) that architecture ``name`` takes, each at the
    factory's own default as the recipe holds it (:func:`_held`); {} for a name that is not one (the
    name's own check reports it). The one home of what a field the recipe leaves out builds."""
    try:
        entry = get_registry("model").get(name)
    except (OptimlabError, TypeError):
        return {}
    return {h.name: _held(h.name, h.default) for h in entry.hyperparameters if h.name in ModelSpec.TECHNIQUES}


def _untaken_by_users_factory(name: Any) -> dict[str, str]:
    """:data:`OWN_DEFAULT` for each technique field (activation, norm, dropout) the user's model factory
    ``name`` takes no keyword for (a GRU's): its model has whatever it builds, which no recipe value
    names, and the recipe says so rather than the MLP's placeholder (relu); init is drawn by the build
    (:meth:`ModelSpec.init_drawn_by_build`). {} for a registered architecture (``parameter_vector``'s
    activation keeps its placeholder) or a name that is not one."""
    try:
        entry = get_registry("model").get(name)
    except (OptimlabError, TypeError):
        return {}
    if Capability.USER not in entry.capabilities:
        return {}
    return {
        f: OWN_DEFAULT for f in ModelSpec.TECHNIQUES if f != "init" and f not in entry.hyperparameter_names
    }


def techniques_left_out(name: Any) -> dict[str, Any]:
    """What each technique field a recipe leaves out holds for model ``name``: the architecture's own
    (:func:`architecture_techniques`), and :data:`OWN_DEFAULT` for those the user's factory takes not."""
    return {**_untaken_by_users_factory(name), **architecture_techniques(name)}


def _held(field: str, default: Any) -> Any:
    """A factory's ``default`` for the technique ``field`` as the recipe's field holds it: a registered
    name (``"he"`` as ``kaiming_normal``, the class ``nn.Tanh`` as ``tanh`` where the registry holds
    exactly that class), a dropout rate in [0, 1); else :data:`OWN_DEFAULT`."""
    from optimlab.techniques.choice import canonical

    if field == "dropout":
        rate = isinstance(default, (int, float)) and not isinstance(default, bool) and 0 <= default < 1
        return float(default) if rate else OWN_DEFAULT
    if isinstance(default, (str, Mapping)):
        try:
            return canonical(field, default)
        except OptimlabError:
            return OWN_DEFAULT
    named = {entry.name for entry in get_registry(field) if entry.obj is default and not entry.defaults}
    return named.pop() if len(named) == 1 else OWN_DEFAULT


def _in_form_of(field: str, value: Any, default: Any) -> Any:
    """The technique ``value`` (a name, or a mapping of it and hyperparameters) in the form a factory whose
    ``default`` for ``field`` is callable takes, its hyperparameters bound: for a class, the registered
    class or factory (``activation=nn.Tanh`` takes ``nn.ReLU`` for relu, ``norm=nn.LayerNorm`` the norm
    registry's ``layer(num_features)``; the name failed: 'str' object is not callable); for a function or
    a module (``torch.relu``, ``nn.Tanh()``), a module of the registered class. A value no such form
    holds (a norm for ``norm=nn.LayerNorm(6)``: the registry's norms need the feature count) is refused;
    for a default of another kind (a name) it is passed as held."""
    if not callable(default):
        return value
    from optimlab.techniques.choice import resolve

    name, hyperparameters = resolve(field, value)
    registered = get_registry(field).get(name).obj
    if isinstance(default, type):
        if field == "norm":
            return _norm_for_class(value, default, name, hyperparameters)
        return partial(registered, **hyperparameters) if hyperparameters else registered
    if isinstance(registered, type):
        return registered(**hyperparameters)
    raise InvalidValueError(
        field,
        value,
        f"{OWN_DEFAULT}: the model's own {shown(default)} is no class, and the registry's {field} {name!r} is "
        "a factory of the feature count, which the recipe does not know",
    )


def _norm_for_class(value: Any, default: type, name: str, hyperparameters: dict[str, Any]) -> Any:
    """The registered norm ``value`` in the form the model calls its own norm class ``default``
    (:func:`optimlab.techniques.norms.for_class`: ``nn.BatchNorm2d``'s channels of images; the registry's
    features-last layout failed at the first forward); a torch norm of no one layout is refused."""
    from optimlab.techniques.norms import for_class

    try:
        return for_class(default, name, **hyperparameters)
    except ValueError as reason:
        raise InvalidValueError(
            "norm",
            value,
            f"{OWN_DEFAULT}: the model's own {default.__name__} {reason}",
        ) from None


class ModelSpec(_Spec):
    """Architecture and the techniques built into it.

    ``activation``, ``norm`` and ``init`` hold a name, or a mapping of the name and the technique's
    hyperparameters (``{name: batch, momentum: 0.01}``); they are stored as the plain name when every
    hyperparameter is at its default, so recipes that set none keep their ids. Left out, each (and
    ``dropout``) that the architecture takes is its own default (:func:`architecture_techniques`), or
    :data:`OWN_DEFAULT` where no recipe value holds it; one it does not take is :data:`OWN_DEFAULT` for
    the user's factory (:func:`_untaken_by_users_factory`), and keeps the field's placeholder (relu, none,
    default, 0.0), which nothing builds, for a registered one (``parameter_vector``'s, the logistic
    baseline's activation).
    """

    NAMED_FIELDS = {"name": "model"}
    OPTIONS_OF = "model"
    TECHNIQUES: ClassVar[tuple[str, ...]] = TECHNIQUE_FIELDS  # of layered models
    OWN_DEFAULT_FIELDS = TECHNIQUES
    TECHNIQUE_EXAMPLES: ClassVar[dict[str, str]] = {
        "activation": "{name: leaky_relu, negative_slope: 0.1}",
        "norm": "{name: batch, momentum: 0.01}",
        "init": "{name: xavier_normal, gain: 1.0}",
    }

    name: str = "mlp"
    width: int | None = Field(None, ge=1)  # None: the architecture's default
    depth: int | None = Field(None, ge=0)  # mlp depth 0: a linear model
    activation: str | dict[str, Any] = "relu"
    norm: str | dict[str, Any] = "none"
    init: str | dict[str, Any] = "default"  # "default" keeps PyTorch's own initialization
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] | Literal["own_default"] = 0.0  # or OWN_DEFAULT
    options: dict[str, Any] = {}  # other keywords of the architecture

    @pydantic.model_validator(mode="before")
    @classmethod
    def _architecture_techniques(cls, data: Any) -> Any:
        """A technique the recipe leaves out is the architecture's own, as ``models.create`` and ``optimlab
        list`` have it (a ResNet's batch norm, a Transformer's GELU and layer norm, the user's class's
        ``dropout=0.5`` or ``activation=nn.Tanh``), not the MLP's; one set is kept as set. Stored recipes
        spell every field out, so their meaning and ids stay. :data:`OWN_DEFAULT` given where the own
        default has a recipe value is that value: one model, one stored form."""
        if not isinstance(data, Mapping):
            return data
        options = data.get("options")
        given = {*data, *(options if isinstance(options, Mapping) else ())}
        own = techniques_left_out(data.get("name", "mlp"))
        restated = {
            k: own.get(k, cls.model_fields[k].default)
            for k in cls.TECHNIQUES
            if isinstance(data.get(k), str) and normalize_name(data[k]) == OWN_DEFAULT
        }
        return {**{k: v for k, v in own.items() if k not in given}, **data, **restated}

    @field_validator("dropout", mode="wrap")
    @classmethod
    def _rate_or_own_default(cls, value: Any, handler: pydantic.ValidatorFunctionWrapHandler) -> Any:
        """One refusal at ``model.dropout``, not one per member of the union: a rate out of [0, 1) in the
        recipe's words, typed as a bound (refused whatever the other fields hold), a value of no number
        'no dropout rate'."""
        if isinstance(value, str) and normalize_name(value) == OWN_DEFAULT:
            return OWN_DEFAULT
        try:
            return handler(value)
        except pydantic.ValidationError as error:
            bound = next(
                (d for d in error.errors() if d["type"] in ("less_than", "greater_than_equal")), None
            )
            if bound is None:
                raise ValueError(
                    f"{value!r} is no dropout rate: give a number in [0, 1), or {OWN_DEFAULT} (the model's own)"
                ) from None
            raise pydantic_core.PydanticCustomError(  # typed as a bound: refused whatever the rest holds
                _OUT_OF_RANGE, f"{_refused(value)}: accepted a number in [0, 1), or {OWN_DEFAULT}"
            ) from None

    @pydantic.model_validator(mode="after")
    def _techniques_taken(self) -> ModelSpec:
        """A technique away from its default for an architecture that takes none (parameter_vector's
        init, the logistic baseline's activation) is refused: :meth:`keywords` would drop it. The user's
        factory takes any init: the build draws its model (:meth:`init_drawn_by_build`)."""
        entry = get_registry("model").get(self.name)
        drawn_by_build = ("init",) if self.init_drawn_by_build() else ()
        untaken = _untaken_by_users_factory(self.name)
        for field in self.TECHNIQUES:
            value, default = getattr(self, field), type(self).model_fields[field].default
            left_out = untaken.get(field, default)
            if field not in (*entry.hyperparameter_names, *drawn_by_build) and value not in (
                default,
                left_out,
            ):
                raise InvalidValueError(field, value, f"{left_out!r} ({self.name} takes no {field})")
        self.keywords()  # a value no form the factory takes holds is refused here, not at the build
        return self

    def init_drawn_by_build(self) -> bool:
        """Whether the build draws ``init`` on the model the factory returns (``optimlab.build.build_model``):
        the user's factory that takes no init builds its own weights, which the recipe's init then draws."""
        entry = get_registry("model").get(self.name)
        return Capability.USER in entry.capabilities and "init" not in entry.hyperparameter_names

    def chooses(self, field: str) -> bool:
        """Whether the technique ``field`` is a choice about this model: taken by it (or drawn by the build)
        and away from its own default. Told from the stored form alone, which spells every field out,
        so that a recipe and its stored copy (a study's, read back on resume) follow ``model.name``
        updates alike; a field set to the own default is no choice of another model either."""
        own = architecture_techniques(self.name)
        if field == "init" and self.init_drawn_by_build():
            return self.init != type(self).model_fields["init"].default
        return field in own and getattr(self, field) != own[field]

    def keywords(self) -> dict[str, Any]:
        """Keywords for the architecture's factory; unset sizes fall back to its defaults, and layer
        techniques go only to architectures that have layers (not ``parameter_vector``). A technique at the
        factory's own default held in another form (:data:`OWN_DEFAULT`, ``nn.Tanh`` as ``tanh``) is not
        passed: the factory keeps its default, which is what the field says; another is passed in the
        form of the default (:func:`_in_form_of`)."""
        entry = get_registry("model").get(self.name)
        own = architecture_techniques(self.name)
        defaults = {h.name: h.default for h in entry.hyperparameters}
        techniques = {
            k: _in_form_of(k, getattr(self, k), defaults[k])
            for k in self.TECHNIQUES
            if k in own and not (getattr(self, k) == own[k] and own[k] != defaults[k])
        }
        sizes = {k: v for k, v in (("width", self.width), ("depth", self.depth)) if v is not None}
        return {**techniques, **sizes, **self.options}


class OptimizerSpec(_Spec):
    """Optimizer by name; None leaves a hyperparameter at the optimizer's default."""

    NAMED_FIELDS = {"name": "optimizer"}
    OPTIONS_OF = "optimizer"

    name: str = "adam"
    lr: float | None = Field(None, gt=0.0)
    weight_decay: float | None = Field(None, ge=0.0)
    options: dict[str, Any] = {}  # betas, momentum, eps, ...

    def keywords(self) -> dict[str, Any]:
        set_ = {k: v for k, v in (("lr", self.lr), ("weight_decay", self.weight_decay)) if v is not None}
        return {**set_, **self.options}


class ScheduleSpec(_Spec):
    """Learning-rate schedule: a multiplier of the optimizer's lr, 1 at its peak."""

    NAMED_FIELDS = {"name": "schedule"}
    OPTIONS_OF = "schedule"
    OMITTED_AT_DEFAULT = ("warmup_start", "cycle_momentum", "base_momentum", "max_momentum")
    CYCLES_MOMENTUM: ClassVar[str] = "one_cycle"  # the family whose momentum cycle Smith 2018 gives

    name: str = "constant"
    warmup_steps: int = Field(0, ge=0)
    # The multiplier the linear warmup starts from: 0, Goyal et al.'s ramp (torch's LinearLR starts at 1/3).
    warmup_start: float = Field(0.0, ge=0.0, le=1.0)
    options: dict[str, Any] = {}
    # torch's OneCycleLR cycles momentum (or beta1) by default; a recipe asks for it, so that recipes
    # stored before it existed keep their meaning and id (optimlab.schedules.families.one_cycle).
    cycle_momentum: bool = False
    base_momentum: float = Field(BASE_MOMENTUM, ge=0.0, le=1.0)  # the momentum at the peak lr
    max_momentum: float = Field(MAX_MOMENTUM, ge=0.0, le=1.0)  # at the start and the end of the cycle

    @pydantic.model_validator(mode="after")
    def _read_together(self) -> ScheduleSpec:
        """A warmup's start only with a warmup, a momentum cycle only for one_cycle and its bounds only
        with it: else they would go unread."""
        fields = type(self).model_fields
        if self.warmup_start != fields["warmup_start"].default and self.warmup_steps == 0:
            raise InvalidValueError(
                "schedule.warmup_start", self.warmup_start, "unset: it is read only with warmup_steps > 0"
            )
        if self.cycle_momentum and self.name != self.CYCLES_MOMENTUM:
            raise InvalidValueError(
                "schedule.cycle_momentum",
                True,
                f"false for schedule {self.name!r} (only {self.CYCLES_MOMENTUM} cycles it)",
            )
        for field in ("base_momentum", "max_momentum"):
            if not self.cycle_momentum and getattr(self, field) != fields[field].default:
                raise InvalidValueError(
                    f"schedule.{field}",
                    getattr(self, field),
                    "unset: it is read only with cycle_momentum: true",
                )
        if self.base_momentum > self.max_momentum:
            raise InvalidValueError(
                "schedule (base_momentum, max_momentum)",
                (self.base_momentum, self.max_momentum),
                "base_momentum <= max_momentum",
            )
        return self


class TrainingSpec(_Spec):
    """How long, in what batches, with which loss and safeguards."""

    OMITTED_AT_DEFAULT = ("shuffle", "drop_last", "metrics", "compute_loss", "accumulate_grad_batches")

    epochs: int | None = Field(10, ge=1)  # ignored when steps is set
    steps: int | None = Field(None, ge=1)
    batch_size: int = Field(
        32, ge=BATCH_ROWS.low, le=BATCH_ROWS.high
    )  # digits: 1079 training rows -> 34 steps an epoch
    shuffle: bool = True  # False: every epoch in the rows' own order (MNIST-1D's protocol; DeepOBS shuffles)
    drop_last: bool = False  # True: an epoch's last batch is dropped when smaller than batch_size
    # None: cross_entropy for classification, mse for regression, the model's own for dict batches;
    # a registered loss or one by import path, called as loss(outputs, targets); or "model" (MODEL_LOSS)
    loss: str | None = None
    loss_options: dict[str, Any] = {}
    # The user's compute_loss(model, batch) -> scalar by import path (`mypkg.losses:step`), for dict
    # batches a loss of (outputs, targets) does not fit; instead of loss.
    compute_loss: str | None = None
    grad_clip_norm: float | None = Field(None, gt=0.0)
    # Batches whose gradients one optimizer step takes, weighted by their rows: a step of
    # batch_size x accumulate_grad_batches rows (optimlab.fit's, Lightning's name); steps count steps.
    accumulate_grad_batches: int = Field(1, ge=1)
    eval_every: int | None = Field(None, ge=1)  # steps; None: once an epoch
    early_stopping_patience: int | None = Field(None, ge=1)  # evaluations without improvement
    checkpoint_every: int | None = Field(None, ge=1)  # steps; None: once an epoch (and every 5 min)
    seed: int = Field(0, ge=SEED.low, le=SEED.high)
    device: str = "cpu"  # "auto" takes a GPU when there is one
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast of forward and loss
    # The user's metrics by import path, `mypkg.metrics:f1`: f1(outputs, targets) -> float over a whole
    # split, evaluated as val_f1 and test_f1 beside the loss (optimlab.train.run.user_metrics).
    metrics: list[str] = []

    @pydantic.model_validator(mode="after")
    def _run_has_a_length(self) -> TrainingSpec:
        """epochs null beside steps null (``--set training.epochs=null`` over a recipe of no steps) give
        the run no length: the loop's count of its steps raised a TypeError traceback."""
        if self.epochs is None and self.steps is None:
            raise ValueError(  # the fields and the flags that set them: the CLI's refusal named neither
                "epochs: null and steps: null give the run no length: set one, an integer >= 1 "
                "(training.epochs or training.steps; on the command line --epochs N or --steps N)"
            )
        return self

    @field_validator("metrics")
    @classmethod
    def _importable_metrics(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not callable(import_object(path, "metric")):
                raise InvalidValueError(
                    f"metric {path!r}", "not callable", "a function f(outputs, targets) -> float"
                )
        return paths

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, name: str | None) -> str | None:
        if name is None or normalize_name(name) == MODEL_LOSS:
            return None if name is None else MODEL_LOSS
        return _canonical("loss", name)

    @field_validator("compute_loss")
    @classmethod
    def _importable_compute_loss(cls, path: str | None) -> str | None:
        if path is not None and not callable(import_object(path, "compute_loss")):
            raise InvalidValueError(
                f"compute_loss {path!r}", "not callable", "a function compute_loss(model, batch) -> loss"
            )
        return path

    @field_validator("device", mode="before")
    @classmethod
    def _known_device(cls, device: Any) -> str:
        """A device's name, any case (``device: 3`` or null: refused naming the devices, not 'text')."""
        if not isinstance(device, str) or not DEVICE.match(device.strip().lower()):
            raise ValueError(f"{_in_yaml_words(device)} is refused: accepted {DEVICES}")
        return device.strip().lower()

    @field_validator("precision", mode="before")
    @classmethod
    def _known_precision(cls, precision: Any) -> str:
        """fp32 or bf16 in any case, as ``device`` and ``--precision`` take theirs (``FP32`` was refused)."""
        accepted = typing.get_args(cls.model_fields["precision"].annotation)
        if not isinstance(precision, str) or precision.strip().lower() not in accepted:
            raise ValueError(f"{_in_yaml_words(precision)} is refused: accepted {' or '.join(accepted)}")
        return precision.strip().lower()


class Recipe(_Spec):
    """Everything that decides a training run's numbers."""

    data: DataSpec = DataSpec()
    model: ModelSpec = ModelSpec()
    optimizer: OptimizerSpec = OptimizerSpec()
    schedule: ScheduleSpec = ScheduleSpec()
    training: TrainingSpec = TrainingSpec()

    @pydantic.model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """A section left empty (``training:`` with its fields commented out, which YAML reads as null)
        holds every field at its default, as a recipe left empty does."""
        if not isinstance(data, Mapping):
            return data
        return {
            key: {} if key in cls.model_fields and value is None else value for key, value in data.items()
        }

    @pydantic.model_validator(mode="after")
    def _hyperparameters_known(self) -> Recipe:
        """Check the free-form keyword sections against the registries, naming the field."""
        from optimlab.optim import validate as validate_optimizer

        checks = [
            ("model", get_registry("model").get(self.model.name).validate, self.model.keywords()),
            ("optimizer", partial(validate_optimizer, self.optimizer.name), self.optimizer.keywords()),
            ("schedule", get_registry("schedule").get(self.schedule.name).validate, self.schedule.options),
        ]
        datasets = get_registry("dataset")
        if self.schedule.cycle_momentum:
            from optimlab.schedules.families import momentum_field

            checks.append(
                ("schedule", partial(momentum_field, self.optimizer.name), self.optimizer.keywords())
            )
        if self.data.name in datasets:  # a file's options are its reader's keywords, checked on reading
            checks.append(("data", datasets.get(self.data.name).validate, self.data.options))
        for field, check, keywords in checks:
            try:
                check(keywords)
            except InvalidValueError as error:
                raise ValueError(f"{field}: {_in_yaml_terms(error)}") from None
            except OptimlabError as error:
                raise ValueError(f"{field}: {error}") from None
        spec = self.training
        if spec.compute_loss is not None and spec.loss is not None:
            raise ValueError(
                f"training: loss {spec.loss!r} and compute_loss {spec.compute_loss!r}: give one of them"
            )
        if spec.loss == MODEL_LOSS and spec.loss_options:
            raise ValueError("training.loss_options: the model's own loss (loss: model) takes none")
        if spec.loss not in (None, MODEL_LOSS):
            get_registry("loss").get(spec.loss).validate(spec.loss_options)
        return self

    # --- construction and serialisation -------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """Validate a nested mapping; every problem is reported with its dotted field path."""
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as error:
            raise RecipeError(_describe(error)) from None

    @classmethod
    def load(cls, path: str | Path, *, stored: bool = False) -> Recipe:
        """Read a recipe from a YAML file; ``stored``: one optimlab wrote (:func:`load_yaml`)."""
        path = Path(path)
        if path.is_dir():
            raise RecipeError(f"recipe file {str(path)!r} is a folder: give the recipe's YAML file in it")
        if not path.is_file():
            raise RecipeError(f"recipe file {str(path)!r} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:  # unreadable, or no text (a checkpoint, an image)
            reason = "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else error.strerror
            raise RecipeError(f"recipe file {str(path)!r} cannot be read: {reason}") from None
        try:
            return cls.from_yaml(text, stored=stored)
        except RecipeError as error:  # which file: train --resume reads one the user never named
            raise RecipeError(f"recipe file {str(path)!r}: {error}") from None

    @classmethod
    def from_yaml(cls, text: str, *, stored: bool = False) -> Recipe:
        try:
            data = load_yaml(text, stored=stored)
        except YamlValueError as error:
            refused = RecipeError(f"invalid value {error.value!r} in the recipe: accepted {error.accepted}")
            raise _in_whole_number_words(text, stored) or refused from None
        except yaml.YAMLError as error:
            raise RecipeError(f"recipe is not valid YAML: {yaml_problem(error)}") from None
        if data is None:  # an empty file, or comments alone: every field at its default
            data = {}
        if not isinstance(data, dict):
            raise RecipeError(
                f"a recipe is a mapping of sections ({', '.join(cls.model_fields)}), "
                f"got {type(data).__name__} {data!r}"
            )
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        try:
            return self.model_dump(mode="json")
        except pydantic_core.PydanticSerializationError as error:
            # pydantic-core reports what a serializer function raised as this error: a Ctrl-C (or a
            # SIGTERM, raised as one) landing in _omit_defaults_of_later_fields ended a gallery run with
            # exit 1 and a traceback, its pages unindexed. An interruption stays one.
            if "KeyboardInterrupt" in str(error):
                raise KeyboardInterrupt from None
            raise

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> Path:
        return write_atomically(path, self.to_yaml())

    @property
    def id(self) -> str:
        """Stable 12-hex-digit id: a hash of the canonical JSON of every field, defaults included; equal
        recipes have one id (a weight decay of -0.0 is 0.0's, which it equals)."""
        canonical = json.dumps(_unsigned_zeros(self.to_dict()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def with_updates(self, updates: Mapping[str, Any], *, held: Mapping[str, Any] | None = None) -> Recipe:
        """A new recipe with dotted fields replaced: ``{"optimizer.lr": 1e-2, "model.depth": 30}``; a
        technique's hyperparameter too, ``{"model.norm.momentum": 0.01}`` (a search space's dimension).
        A section given as a mapping, ``{"data": {"name": "iris"}}``, sets the fields it holds, as they
        dotted do; of a field given twice the later value is kept (:func:`_in_order_written`).
        A technique set by the name it already holds keeps its hyperparameters. ``held``: dotted values
        this recipe holds beneath the updates, unvalidated (a refused file's, :func:`take_values_reached`):
        the updates replace or drop them by these same rules, and a value left is validated."""
        data = self.to_dict()
        for dotted, value in (held or {}).items():
            *sections, leaf = _home_of(data, dotted).split(".")
            node = data
            for section in sections:
                if isinstance(node.get(section), str):  # a technique by name takes its hyperparameter
                    node[section] = {"name": node[section]}
                node = node.setdefault(section, {})
            node[leaf] = value
        updates = _in_order_written(data, updates)
        if "model.name" in updates:  # techniques that chose nothing for the old model follow the new one
            own = techniques_left_out(updates["model.name"])
            for field in ModelSpec.TECHNIQUES:
                if f"model.{field}" not in updates and not self.model.chooses(field):
                    # the new one's own, which a hyperparameter set beside it (model.norm.momentum) is of
                    data["model"][field] = own.get(field, ModelSpec.model_fields[field].default)
            _drop_sizes_not_taken(data["model"], updates)
        # Shorter paths first: a technique set by name, then its hyperparameters (model.init, model.init.gain).
        for dotted, value in sorted(updates.items(), key=lambda update: update[0].count(".")):
            *sections, leaf = dotted.split(".")
            node = data
            for depth, section in enumerate(sections):
                if (
                    depth == 1
                    and isinstance(node.get(section), str)
                    and section in _techniques_of(sections[0])
                ):
                    node[section] = {"name": node[section]}  # a technique by name takes a hyperparameter
                if not isinstance(node.get(section), dict):
                    raise RecipeError(_no_section(data, sections[: depth + 1], dotted))
                node = node[section]
            if len(sections) == 1 and leaf in _techniques_of(sections[0]):
                value = _restated(leaf, node.get(leaf), value)
            node[normalize_name(leaf) if leaf not in node else leaf] = value
        for section in ("data", "optimizer", "schedule"):
            if f"{section}.name" in updates:
                _drop_options_not_taken(section, data[section], updates)
        _drop_schedule_fields_unread(data["schedule"], updates)
        return Recipe.from_dict(data)

    def with_sections_replaced(self, updates: Mapping[str, Any]) -> Recipe:
        """A new recipe in which each section given as a mapping (``{"model": {"name": "mlp"}}``) replaces
        that section whole, its other fields at their defaults, and the dotted fields then set as
        :meth:`with_updates` sets them: how optimlab read a section until 2026-12-07, which a study stored
        before then resumes by (:attr:`~optimlab.study.protocols.StudySpec.sections_by_field`), and how
        ``compare --model`` replaces a registered workload's model."""
        sections = {k: v for k, v in updates.items() if k in Recipe.model_fields and isinstance(v, Mapping)}
        recipe = Recipe.from_dict({**self.to_dict(), **copy.deepcopy(sections)}) if sections else self
        return recipe.with_updates({k: v for k, v in updates.items() if k not in sections})


def _in_order_written(data: Mapping[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    """``updates`` of the recipe ``data`` by the dotted field each sets, where validation keeps it
    (:func:`_home_of`): a section's mapping (``{"data": {"name": "iris"}}``) as an update of each field it
    holds, and of a field given twice the value given later. A section's mapping replaced the section
    whole, so ``{"data.split_seed": 0, "data": {"name": "iris"}}`` reset the split's fractions, and the
    dotted key won whatever the order (and was written into the caller's mapping). A mapping set whole
    beneath a section (``model.init``) overrides an earlier update of a key it holds (``model.init.gain``)."""
    ordered: dict[str, Any] = {}
    for dotted, value in updates.items():
        section_given = dotted in Recipe.model_fields and isinstance(value, Mapping)
        fields = _fields_of_section(dotted, value) if section_given else [(dotted, value)]
        homes: dict[str, Any] = {}  # of this update's fields: a keyword beside the fields and in options
        for field, held in fields:
            if not all(field.split(".")):
                raise RecipeError(
                    f"{field!r} is no recipe field: a part of it is empty (fields read optimizer.lr)"
                )
            field = _home_of(data, field)
            if field in homes:  # as the same section in a recipe file is refused
                raise RecipeError(
                    f"{dotted}: {field.rpartition('.')[2]!r} is set twice, as {homes[field]!r} and "
                    f"{held!r}: keep one"
                )
            homes[field] = held
            if isinstance(held, Mapping):
                beneath = [f for f in ordered if f.startswith(f"{field}.")]
                for earlier in beneath:
                    if earlier.removeprefix(f"{field}.").split(".")[0] in held:
                        del ordered[earlier]
            ordered[field] = copy.deepcopy(held)  # the recipe's to fill in, not the caller's mapping
    return ordered


def _fields_of_section(section: str, value: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The dotted fields a ``section`` given as the mapping ``value`` sets, its ``options`` one keyword at a
    time (``{"name": "sgd", "options": {"momentum": 0.9}}``: ``optimizer.name``,
    ``optimizer.options.momentum``), as a recipe file's keywords beside the fields are read."""
    fields = []
    for key, held in value.items():
        if key == "options" and isinstance(held, Mapping):
            fields += [(f"{section}.options.{keyword}", inner) for keyword, inner in held.items()]
        else:
            fields.append((f"{section}.{key}", held))
    return fields


def take_values_reached(data: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The values of a recipe file's ``data`` (as read, refused) that updates of the dotted ``fields`` set or
    may drop, taken out of ``data``, by dotted field: a field's own, and with a new name (``optimizer.name``)
    the old one's keywords, sizes and momentum cycle; with ``schedule.warmup_steps`` the warmup's start.
    The file without them may be valid: :meth:`Recipe.with_updates` with them ``held`` then keeps or
    drops each by its rules (``--optimizer sgd`` over adam's ``betas``, ``--init`` over the same init's
    ``gain``)."""
    taken: dict[str, Any] = {}

    def take(*path: str) -> None:
        node: Any = data
        for section in path[:-1]:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            taken[".".join(path)] = node.pop(path[-1])

    for dotted in fields:
        section, *rest = dotted.split(".")
        held = data.get(section)
        if not rest or not isinstance(held, dict) or section not in Recipe.model_fields:
            continue
        take(section, *rest)
        if len(rest) == 1:  # a keyword beside the fields is one in options
            take(section, "options", rest[0])
        if rest == ["name"]:
            spec_fields = Recipe.model_fields[section].annotation.model_fields
            reached = [k for k in held if k not in spec_fields or k == "options"]
            if section == "model":
                reached += ["width", "depth"]
            if section == "schedule":
                reached += ["cycle_momentum", "base_momentum", "max_momentum"]
            for key in reached:
                take(section, key)
        if dotted == "schedule.warmup_steps":
            take(section, "warmup_start")
    for dotted in [d for d in taken if d.endswith(".options")]:  # held one keyword at a time
        options = taken.pop(dotted)
        if not isinstance(options, dict):
            data.setdefault(dotted.split(".")[0], {})["options"] = options  # its refusal stays the file's
            continue
        taken.update({f"{dotted}.{key}": value for key, value in options.items()})
    return taken


def _drop_sizes_not_taken(model: dict[str, Any], updates: Mapping[str, Any]) -> None:
    """Sizes and keywords of the old architecture that the new one (``updates["model.name"]``) does not
    take, where the updates do not set them: they described the old one (a workload's MLP width, which
    ``--compare model.name=mlp,mynets:build`` gave the user's factory, refused as its 'width')."""
    try:
        takes = get_registry("model").get(updates["model.name"]).hyperparameter_names
    except (OptimlabError, TypeError):
        return  # a name that is no model: validation names it
    for field in ("width", "depth"):
        if field not in takes and f"model.{field}" not in updates:
            model[field] = None
    options = model.get("options") or {}
    model["options"] = {k: v for k, v in options.items() if k in takes or f"model.options.{k}" in updates}


def _drop_options_not_taken(section: str, spec: dict[str, Any], updates: Mapping[str, Any]) -> None:
    """Keywords of the old data set, optimizer or schedule that the new one (``spec``, updated) does not
    take, where the updates do not set them: they described the old one (``--optimizer adam`` over a
    recipe's ``sgd`` with ``momentum: 0.9`` was refused as adam's 'momentum', ``--dataset iris`` over its
    CSV file's ``target``, a file over a built-in set's ``n``). A wrapper's keywords for its base
    (lookahead's ``momentum`` around sgd) are taken."""
    from optimlab.data.sources import file_options
    from optimlab.optim import validate as validate_optimizer

    options = dict(spec.get("options") or {})
    try:
        entry = get_registry(Recipe.model_fields[section].annotation.OPTIONS_OF).get(spec["name"])
    except (OptimlabError, TypeError):
        taken = file_options(spec["name"]) if section == "data" and isinstance(spec["name"], str) else None
        if taken is not None:  # a file's, or a folder's
            spec["options"] = {
                k: v for k, v in options.items() if k in taken or f"data.options.{k}" in updates
            }
        return  # none of the registry's (or the user's, by import path): validation names it
    validate = partial(validate_optimizer, entry.name) if section == "optimizer" else entry.validate
    while True:
        try:
            validate(options)
            break
        except UnknownNameError as error:  # one keyword at a time: the first the new one refuses
            if error.name not in options or f"{section}.options.{error.name}" in updates:
                return  # a wrapper's unknown base, or a keyword the update sets: validation names it
            del options[error.name]
        except OptimlabError:
            break  # a value out of the new one's range: validation names it
    spec["options"] = options


def _drop_schedule_fields_unread(schedule: dict[str, Any], updates: Mapping[str, Any]) -> None:
    """The schedule's fields that the updates leave unread, where they do not set them: a warmup's start
    once ``warmup_steps`` is 0 (``--warmup-steps 0``), the momentum cycle once the schedule is not
    one_cycle (``--schedule cosine``). Validation refused them, naming fields of the file the flag was
    typed over."""
    unread = ["warmup_start"] if updates.get("schedule.warmup_steps") == 0 else []
    if "schedule.name" in updates:
        try:
            name = get_registry("schedule").get(schedule["name"]).name
        except (OptimlabError, TypeError):
            name = None  # validation names it
        if name not in (None, ScheduleSpec.CYCLES_MOMENTUM):
            unread += ["cycle_momentum", "base_momentum", "max_momentum"]
    for field in unread:
        if f"schedule.{field}" not in updates:
            schedule.pop(field, None)


def _restated(category: str, held: Any, value: Any) -> Any:
    """A technique ``value`` set by name over ``held``, a mapping of the same technique and its
    hyperparameters, is ``held`` (``--act leaky_relu`` over ``{name: leaky_relu, negative_slope: 0.2}``
    keeps the slope, as ``--optimizer sgd`` over sgd keeps its momentum); by another name, or as a
    mapping, it is ``value``: another technique starts from its own defaults."""
    if not (isinstance(value, str) and isinstance(held, Mapping)):
        return value
    try:
        same = get_registry(category).resolve(value) == held.get("name")
    except (OptimlabError, TypeError):
        return value  # a name that is none of the category's: validation names it
    return dict(held) if same else value


def _no_section(data: Mapping[str, Any], path: list[str], dotted: str) -> str:
    """Why the update ``dotted`` of the recipe ``data`` finds no section at ``path`` (its last part missing,
    or a value there: a field's, or a hyperparameter of the entry its section or technique names,
    ``optimizer.betas``, ``optimizer.options.betas`` and ``model.norm.momentum`` at the default alike), naming the sections there: a technique held
    by name is one (``model.norm.momentum``)."""
    where, section = ".".join(path), path[-1]
    node = data
    for key in path[:-1]:
        node = node[key]
    spec = Recipe.model_fields.get(path[0])
    keywords_of = getattr(spec.annotation, "_keywords_of", None) if spec is not None else None
    at_keywords = len(path) > 1 and path[1:-1] in ([], ["options"])  # optimizer.betas, .options.betas
    keywords = keywords_of(data[path[0]]) if keywords_of is not None and at_keywords else ()
    technique = None  # the registered technique at path[:2], whose hyperparameters are its only fields
    if len(path) == 3 and path[1] in _techniques_of(path[0]):  # model.norm.momentum, norm held by name
        try:
            technique = get_registry(path[1]).get(node.get("name"))
            keywords = technique.hyperparameter_names
        except (OptimlabError, TypeError):
            keywords = ()  # a user's class: its keywords are its own
    if technique is not None and section not in keywords:
        # 'model.init.gain.x' at init's default was an unknown section of a 'model.init' holding none
        takes = f"its hyperparameters: {', '.join(keywords)}" if keywords else "it takes no hyperparameters"
        return (
            f"{'.'.join(path[:2])!r} in {dotted!r} holds the {path[1]} {technique.name}, which takes no "
            f"{section!r}{did_you_mean(close_matches(section, keywords))}: {takes}"
        )
    if (
        section in node or section in keywords
    ):  # 'training.epochs.x', 'model.init.gain.x', 'model.width.x' (null): a value, no fields
        return f"{where!r} in {dotted!r} holds a value, not fields: set it whole, {where}=VALUE"
    techniques = _techniques_of(path[0]) if len(path) == 2 else {}
    here = [key for key, held in node.items() if isinstance(held, dict) or key in techniques]
    # optimizer.momentun.x: a hyperparameter of the optimizer or schedule named is meant, not a section
    hint = did_you_mean(close_matches(section, [*here, *keywords]), sentence=True)
    there = f"Sections there: {', '.join(here)}." if here else f"{'.'.join(path[:-1])!r} holds none."
    if keywords:
        there += f" Hyperparameters there: {', '.join(keywords)}."
    return f"unknown recipe section {where!r} in {dotted!r}.{hint} {there}"


def _techniques_of(section: str) -> dict[str, str]:
    """The fields of a recipe section that hold a technique (``model.init``, ``data.scaling``)."""
    spec = Recipe.model_fields.get(section)
    return getattr(spec.annotation, "TECHNIQUE_EXAMPLES", {}) if spec is not None else {}


def _home_of(data: Mapping[str, Any], dotted: str) -> str:
    """Where validation keeps an update: ``model.options.activation`` is ``model.activation`` (a field's
    keyword in options is the field) and ``optimizer.momentum`` is ``optimizer.options.momentum`` (a
    keyword beside the fields goes to options, unless close to a field), so an update never contradicts
    what is stored."""
    parts = dotted.split(".")
    section = data.get(parts[0])
    if not isinstance(section, Mapping) or "options" not in section:
        return dotted
    if len(parts) == 3 and parts[1] == "options" and parts[2] in section:
        return f"{parts[0]}.{parts[2]}"
    if len(parts) == 2 and parts[1] not in section and normalize_name(parts[1]) not in section:
        fields = Recipe.model_fields[parts[0]].annotation.model_fields
        if parts[1] in section["options"] or not close_matches(parts[1], fields):
            return f"{parts[0]}.options.{parts[1]}"
        # close to a field (schedule.warmup_step): beside the fields, validation says which it may mean
    return dotted


# A value of the wrong kind, which pydantic said in its words ("Input should be a valid string (got
# None)"), said as every other refusal is: the value as typed, then what the field accepts.
_KINDS_ACCEPTED = {
    "string_type": "text",
    "dict_type": "a mapping, {key: value}",
    "list_type": "a list, [a, b]",
}


def _describe(error: pydantic.ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "model_type":  # pydantic's words name our classes: "instance of OptimizerSpec"
            message = "Input should be a mapping of the section's fields" + _named_section(
                field, problem["input"]
            )
        if (accepted := _accepted_kind(problem)) is not None:
            given = _in_yaml_words(problem["input"])
            if (
                problem["loc"][-1] == "[key]"
            ):  # pydantic's place of a key: ('optimizer', 'options', 3, '[key]')
                field, given = ".".join(str(part) for part in problem["loc"][:-2]), f"the key {given}"
            message = f"{given} is refused: accepted {accepted}"
        elif "input" in problem and problem["type"] not in ("value_error", _OUT_OF_RANGE):
            message = f"{message} (got {problem['input']!r})"
        lines.append(f"  {field}: {message}" if field else f"  {message}")
    return "invalid recipe:\n" + "\n".join(lines)


def _accepted_kind(problem: Mapping[str, Any]) -> str | None:
    """What a field given a value of the wrong kind accepts: a registered name's field its category's
    names (``optimizer.name: null``), a choice its values (``training.precision``), else the kind; None
    for any other problem."""
    if problem["type"] == "literal_error":
        return f"one of {problem['ctx']['expected']}"
    kind = _KINDS_ACCEPTED.get(problem["type"])
    section = Recipe.model_fields.get(str(problem["loc"][0])) if len(problem["loc"]) == 2 else None
    category = getattr(section.annotation, "NAMED_FIELDS", {}).get(problem["loc"][1]) if section else None
    if kind is None or category is None:
        return kind
    return f"{with_article(category)}'s name (optimlab list {category}) or an import path, pkg.mod:Name"


def _named_section(field: str, value: Any) -> str:
    """``, e.g. optimizer: {name: adam}`` for a section given as the name of what it holds."""
    section = Recipe.model_fields.get(field)
    named = section is not None and "name" in section.annotation.model_fields
    return f", e.g. {field}: {{name: {value}}}" if named and isinstance(value, str) else ""


def holds_a_whole_number(field: str) -> bool:
    """Whether the dotted recipe field ``field`` holds one whole number (``training.steps``,
    ``model.width``); False for any other, a registered entry's options among them."""
    section, _, name = field.partition(".")
    spec = Recipe.model_fields.get(section)
    inner = getattr(spec.annotation, "model_fields", {}) if spec is not None else {}
    return name in inner and _whole_number_field(inner[name].annotation)


def as_recipe_field(field: str) -> str:
    """``field`` as the recipe stores it: a keyword under a section's ``options`` is the section's own field
    where it has one (``optimizer.options.lr`` sets ``optimizer.lr``); dropping the segment names both
    spellings alike."""
    return ".".join(part for part in field.split(".") if part != "options")


def fields_set(field: str, value: Any) -> set[str]:
    """The recipe fields an update ``field`` = ``value`` sets, as the recipe reads them
    (:func:`as_recipe_field`): each key of a mapping, ``{"name": "sgd", "lr": 0.1}`` of ``optimizer``
    setting ``optimizer.name`` and ``optimizer.lr``, ``{"name": "he", "gain": 3}`` of ``model.init``
    ``model.init.name`` and ``model.init.gain``."""
    if isinstance(value, Mapping) and value:
        return {f for key, inner in value.items() for f in fields_set(f"{field}.{key}", inner)}
    return {as_recipe_field(field)}


def fields_reached(field: str, value: Any) -> dict[str, str]:
    """:func:`fields_set` by what each field reaches, to the field: a technique or a section set by its
    name (``model.init.name``, ``{"name": "he"}`` of ``model.init``) reaches the technique (``model.init``)
    as setting it by name does (``model.init`` = ``"he"``); a hyperparameter (``model.init.gain``), itself.
    A mapping on a field that is neither a section nor its options (``{"gain": 3}`` of ``model.init``)
    reaches that field too, which :meth:`Recipe.with_updates` sets whole (:func:`_in_order_written`), the
    name beside it lost; a section's mapping, each field it holds so."""
    reached = {one.removesuffix(".name"): one for one in fields_set(field, value)}
    if not isinstance(value, Mapping) or not value:
        return reached
    whole = as_recipe_field(field)
    if whole not in Recipe.model_fields:
        reached.setdefault(whole, whole)
    elif field == whole:  # a section, read field by field (options merge into the section's keywords)
        for inner, held in _fields_of_section(field, value):
            for target, one in fields_reached(inner, held).items():
                reached.setdefault(target, one)
    return reached


def field_set_twice(updates: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """The first recipe field two keys of ``updates`` reach (:func:`fields_reached`), and those keys:
    ``{"optimizer.lr": 0.1, "optimizer.options.lr": 0.2}`` sets optimizer.lr twice, of which
    :meth:`Recipe.with_updates` keeps the later without a word, where a recipe file and ``--set`` refuse it.
    None where each field is set once."""
    reached_by: dict[str, str] = {}
    for key, value in updates.items():
        for reached in fields_reached(key, value):
            if (earlier := reached_by.setdefault(reached, key)) != key:
                return reached, earlier, key
    return None


def holds_whole_numbers(field: str, recipe: Recipe) -> bool:
    """Whether ``field`` holds a whole number in ``recipe``: a recipe field's (``model.width``,
    :func:`~optimlab.recipe.holds_a_whole_number`) or a hyperparameter the registered entry its section
    names takes as an integer (lookahead's ``optimizer.options.k``, step's ``schedule.options.step_size``)."""
    field = as_recipe_field(field)
    if holds_a_whole_number(field):
        return True
    section_name, _, name = field.partition(".")
    section = getattr(recipe, section_name, None)
    category = getattr(type(section), "OPTIONS_OF", None)
    try:
        hyperparameters = get_registry(category).get(section.name).hyperparameters if category else ()
    except (OptimlabError, TypeError, AttributeError):  # a user's class by import path: its own check
        return False
    accepts = next((h.accepts for h in hyperparameters if h.name == name), None)
    return isinstance(accepts, Interval) and accepts.integer


def holds_number_as_typed(value: Any) -> bool:
    """Whether ``value`` is a :class:`NumberAsTyped` or a list or mapping holding one, at any depth."""
    if isinstance(value, dict):
        return any(holds_number_as_typed(part) for part in value.values())
    if isinstance(value, list):
        return any(holds_number_as_typed(part) for part in value)
    return isinstance(value, NumberAsTyped)


def _in_whole_number_words(text: str, stored: bool) -> RecipeError | None:
    """The refusal of a recipe with numbers below the smallest float in fields of whole numbers
    (``milestones: [3, 1e-400]``): each such field's own words (its range), as a ``--set`` of it gets, not
    a float's smallest size, which each other field holding one is refused in (``model: {width: 1e-400}``
    beside ``optimizer: {lr: 1e-400}`` named the width alone, in the float's words). None for any other
    recipe (refused for another value too, or no mapping)."""
    try:
        data = load_yaml(text, stored=stored, tiny_as_text=True)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict) or not holds_number_as_typed(data):
        return None
    typed: dict[str, str] = {}  # the fields holding such a number -> the first such number's text

    def one_in_place(value: Any, field: str) -> Any:  # 1 for each, to learn what each field holds
        if isinstance(value, NumberAsTyped):
            typed.setdefault(field, str(value))
            return 1
        if isinstance(value, dict):
            return {k: one_in_place(v, f"{field}.{k}" if field else str(k)) for k, v in value.items()}
        return [one_in_place(v, field) for v in value] if isinstance(value, list) else value

    def left_out(value: Any, field: str, kept: Iterable[str]) -> Any:  # each other field holding one dropped
        if not isinstance(value, dict):
            return value
        inner = {k: f"{field}.{k}" if field else str(k) for k in value}
        return {
            k: left_out(v, inner[k], kept)
            for k, v in value.items()
            if isinstance(v, dict) or not holds_number_as_typed(v) or inner[k] in kept
        }

    recipe = None
    for learning in (one_in_place(data, ""), left_out(data, "", ())):  # 1 may be out of a field's range
        with contextlib.suppress(RecipeError, TypeError):  # (betas: [0.9, 1e-400]); left out, its default
            recipe = Recipe.from_dict(learning)
            break
    if recipe is None:
        return None
    whole = [field for field in typed if holds_whole_numbers(field, recipe)]
    if not whole:
        return None
    try:
        Recipe.from_dict(left_out(data, "", whole))
    except RecipeError as error:
        floats = [
            f"  {field}: invalid value {number!r}: accepted {UntypedNumber(number, '').accepted}"
            for field, number in typed.items()
            if field not in whole
        ]
        return RecipeError("\n".join([str(error), *floats]))
    return None
