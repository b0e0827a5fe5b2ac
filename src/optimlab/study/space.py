"""Search spaces over recipe fields: categorical choices and numeric ranges, from YAML or flags.

A dimension names a dotted recipe field (``optimizer.lr``, ``model.activation``, ``training.batch_size``,
``optimizer.options.momentum``) and the values it may take. The same space serves every protocol: its
grid (grid search), independent draws (random search, Bergstra & Bengio, Random Search for
Hyper-Parameter Optimization, JMLR 2012) and Optuna's ``suggest_*`` calls (TPE, Bergstra et al.,
Algorithms for Hyper-Parameter Optimization, NeurIPS 2011). Parameter names in the Optuna storage are
the dotted fields themselves, so optuna-dashboard shows ``optimizer.lr`` where a user expects it.

>>> space = SearchSpace.from_flags(["optimizer.lr=1e-4:1e-1:log", "model.activation=relu,gelu"])
>>> space.grid_shape(8), space.grid(space.grid_shape(8))[0]
((4, 2), {'optimizer.lr': 0.0001, 'model.activation': 'relu'})

In YAML, a list is a set of choices and a mapping a range::

    optimizer.lr: {low: 1.0e-4, high: 1.0e-1, log: true}
    training.batch_size: {low: 16, high: 128, log: true, integer: true}
    model.activation: [relu, gelu, silu]
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import random
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml

from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.number_text import UntypedNumber, below_smallest_float, python_only_number, read_whole_number
from optimlab.recipe import (
    Recipe,
    YamlValueError,
    as_recipe_field,
    holds_a_whole_number,
    holds_whole_numbers,
    load_yaml,
)
from optimlab.registry import Interval

__all__ = ["Dimension", "SearchSpace"]

_RANGE_KEYS = ("low", "high", "log", "integer")
# Draws SearchSpace.sample makes at most per configuration it returns: an integer range of 100 values, all
# of them asked, takes about 5 a value (the coupon collector's ln 100 + 0.58); a range of reals that rounds
# to fewer values than asked would otherwise be drawn forever.
_DRAWS_PER_CONFIGURATION = 100


def _nice(value: float, low: float, high: float, *, onto_ends: bool = True) -> float:
    """Four significant digits: grid points that read well in tables and keys (1e-4, 4.642e-4, ...); kept
    within ``[low, high]``, which a bound of more digits rounded leaves (the one-point range
    0.0012345:0.0012345 trained at 0.001234). Not ``onto_ends`` (a random draw), more digits where four
    round it onto an end it is not: a field's check may refuse that end, which a draw meets with
    probability 0 (momentum 0.9999:1 drew 1.0 in half its draws, each trial failing)."""
    for digits in range(4, 18):  # 17 significant digits give any float back
        nice = min(max(float(f"{value:.{digits}g}"), low), high)
        if onto_ends or nice == value or nice not in (low, high):
            break
    return nice


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One recipe field and its values: ``choices``, or the range ``[low, high]`` (log-scaled if ``log``)."""

    field: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if self.choices is not None:
            if not self.choices:
                raise InvalidValueError(
                    f"search dimension {self.field!r}", self.choices, "at least one choice"
                )
            return
        if self.low is None or self.high is None or not self.low <= self.high:
            raise InvalidValueError(
                f"search range of {self.field!r}", (self.low, self.high), "finite bounds, low <= high"
            )
        if not (math.isfinite(self.low) and math.isfinite(self.high)):  # inf:inf passed low <= high
            raise InvalidValueError(f"search range of {self.field!r}", (self.low, self.high), "finite bounds")
        if self.log and self.low <= 0:
            raise InvalidValueError(f"log-scaled range of {self.field!r}", self.low, "a low bound above 0")
        if self.integer and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise InvalidValueError(
                f"integer range of {self.field!r}", (self.low, self.high), "whole-number bounds"
            )

    @property
    def categorical(self) -> bool:
        return self.choices is not None

    @property
    def size(self) -> int | None:
        """How many distinct values it takes: its distinct choices, an integer range's whole numbers, one
        for a range of one point; None for a range of real numbers."""
        if self.choices is not None:
            return sum(c not in self.choices[:i] for i, c in enumerate(self.choices))
        if self.integer:
            return int(self.high) - int(self.low) + 1
        return 1 if self.low == self.high else None

    def values(self) -> Sequence[Any]:
        """Every value it takes, each once, where they are finitely many (:attr:`size` is not None)."""
        if self.choices is not None:
            return list(dict.fromkeys(self.choices))
        if self.integer:
            return range(int(self.low), int(self.high) + 1)  # not listed: a range may be long
        if self.low == self.high:
            return [self.low]
        raise InvalidValueError(f"range of {self.field!r}", (self.low, self.high), "finitely many values")

    def distribution(self) -> optuna.distributions.BaseDistribution:
        """The Optuna distribution of this dimension (what the dashboard plots against)."""
        if self.choices is not None:
            return optuna.distributions.CategoricalDistribution(self.choices)
        if self.integer:
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log)
        return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log)

    def grid(self, points: int) -> list[Any]:
        """Every choice; or ``points`` values evenly spaced from low to high (in log space if ``log``)."""
        if self.choices is not None:
            return list(self.choices)
        lo, hi = (math.log(self.low), math.log(self.high)) if self.log else (self.low, self.high)
        raw = [(lo + hi) / 2] if points == 1 else [lo + (hi - lo) * i / (points - 1) for i in range(points)]
        values = [math.exp(v) for v in raw] if self.log else raw
        rounded = (
            [round(v) for v in values] if self.integer else [_nice(v, self.low, self.high) for v in values]
        )
        return list(dict.fromkeys(rounded))  # an integer axis may round two points together

    def sample(self, rng: random.Random) -> Any:
        """One draw: a uniform choice, or uniform in [low, high] (in log space if ``log``)."""
        if self.choices is not None:
            return self.choices[rng.randrange(len(self.choices))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return round(value) if self.integer else _nice(value, self.low, self.high, onto_ends=False)

    def key(self, value: Any) -> Any:
        """``value`` as a set holds it, equal where the values are: a choice by the first choice equal to it
        (a list or a mapping is no set's key), a range's number as it is."""
        return value if self.choices is None else self.choices.index(value)

    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's value: the one it was enqueued with, else a draw from the study's sampler."""
        if self.choices is not None:
            return trial.suggest_categorical(self.field, self.choices)
        if self.integer:
            return trial.suggest_int(self.field, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.field, self.low, self.high, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "integer": self.integer}

    def flag(self) -> str:
        """This dimension as the ``--space`` flag that reads it (:meth:`SearchSpace.from_flags`)."""
        if self.choices is not None:
            return f"{self.field}={','.join(map(_flag_text, self.choices))}"
        ends = [str(int(end)) if self.integer else repr(float(end)) for end in (self.low, self.high)]
        return f"{self.field}={':'.join(ends)}" + ":log" * self.log + ":int" * self.integer


def _flag_text(choice: Any) -> str:
    """A choice as a ``--space`` flag writes it: YAML's words for None and booleans."""
    return "null" if choice is None else str(choice).lower() if isinstance(choice, bool) else str(choice)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Dimensions searched together; a study's every trial sets each of them."""

    dimensions: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        fields = [as_recipe_field(d.field) for d in self.dimensions]
        repeated = [d.field for d, f in zip(self.dimensions, fields) if fields.count(f) > 1]
        if repeated:  # optimizer.lr beside optimizer.options.lr: the latter set every trial's lr
            raise InvalidValueError(
                "search space (--space, --space-file, space=)", repeated, "each field at most once"
            )

    def distinct(self) -> SearchSpace:
        """This space, when each field's choices hold each value once; else refused naming the first value
        given twice (0.1 and 0.1, 32 and 32.0), which trained one configuration twice at the tuning seed
        (grid) or drew it twice as often (random). Checked where a user's space is read (flags, a file) and
        where a new study is planned (:meth:`StudySpec.for_workload`), not on construction: a study stored
        before the check loads as it ran."""
        for d in self.dimensions:
            repeated = [c for i, c in enumerate(d.choices or ()) if c in d.choices[:i]]
            if repeated:
                raise InvalidValueError(
                    f"choices of {d.field!r}", d.choices, f"distinct values ({repeated[0]!r} is given twice)"
                )
        return self

    def integer_where_whole(self, recipe: Recipe) -> SearchSpace:
        """This space, where each range of a field that holds a whole number in ``recipe``
        (:func:`holds_whole_numbers`) is an integer one; else refused naming the range and the forms that
        search it: a plain range planned its midpoint (4.5 of ``model.width`` 1:8, refused at planning) or
        drew lookahead's ``k`` of 4.667, failing each trial holding it. Checked where a new study is planned
        (:meth:`StudySpec.for_workload`), as :meth:`distinct`: a study stored before the check loads as it
        ran. Its choices are :meth:`whole_choices_as_ints`."""
        for d in self.dimensions:
            if not d.categorical and not d.integer and holds_whole_numbers(d.field, recipe):
                raise InvalidValueError(
                    f"range of {d.field!r} (--space, --space-file, space=)",
                    d.to_dict(),
                    _whole_number_forms(d.field, file=True),
                )
        return self.whole_choices_as_ints(recipe)

    def whole_choices_as_ints(self, recipe: Recipe) -> SearchSpace:
        """This space, each whole float among the choices of a field that holds a whole number in ``recipe``
        the int it is: lookahead's ``k`` of 4.0,5.0 was searched, stored and named as 5.0. A new plan's
        space, whatever made it (:class:`~optimlab.study.protocols.StudySpec`)."""
        return SearchSpace(
            tuple(
                dataclasses.replace(d, choices=tuple(whole_as_int(c) for c in d.choices))
                if d.choices is not None and holds_whole_numbers(d.field, recipe)
                else d
                for d in self.dimensions
            )
        )

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(d.field for d in self.dimensions)

    def grid(self, points: int | Sequence[int]) -> list[dict[str, Any]]:
        """The Cartesian product: every choice of each categorical field, ``points`` values of each range
        (``points[i]`` of the i-th dimension, given one count per dimension, as :meth:`grid_shape`'s)."""
        counts = [points] * len(self.dimensions) if isinstance(points, int) else list(points)
        if len(counts) != len(self.dimensions):
            raise InvalidValueError(
                "grid points", points, f"one count per dimension ({len(self.dimensions)})"
            )
        axes = [d.grid(n) for d, n in zip(self.dimensions, counts)]
        return [dict(zip(self.fields, values)) for values in itertools.product(*axes)]

    @property
    def choice_combinations(self) -> int:
        """The combinations of every categorical field's choices: the fewest points a grid holds."""
        return math.prod(len(d.choices) for d in self.dimensions if d.categorical)

    def grid_shape(self, budget: int) -> tuple[int, ...]:
        """The values of each dimension in the grid that fills ``budget`` best: every choice of each
        categorical field; for the ranges, the counts whose product is largest within what the choices
        leave (at least 1 each), with each range at 2 points or more where the budget allows and the
        counts as even as the budget allows (a budget of 8 over two ranges: 4 x 2, not 2 x 2).

        An axis counts only values it can hold distinct (an integer range 1..3 holds 3), so the grid holds
        exactly ``prod(grid_shape(budget))`` trials."""
        numeric = [i for i, d in enumerate(self.dimensions) if not d.categorical]
        room = max(1, budget // self.choice_combinations)
        holds = [range(1, _most_distinct(self.dimensions[i], room) + 1) for i in numeric]
        best: tuple[tuple[int, int, int], tuple[int, ...]] = ((0, 0, 0), ())

        def search(chosen: tuple[int, ...], product: int) -> None:
            nonlocal best
            if len(chosen) == len(numeric):
                spread = max(chosen, default=1) - min(chosen, default=1)
                key = (sum(n >= 2 for n in chosen), product, -spread)
                best = max(best, (key, chosen), key=lambda b: b[0])
                return
            for n in reversed(holds[len(chosen)]):
                if product * n <= room:
                    search((*chosen, n), product * n)

        search((), 1)
        counts = iter(best[1])
        return tuple(len(d.choices) if d.choices is not None else next(counts) for d in self.dimensions)

    @property
    def size(self) -> int | None:
        """How many distinct configurations it holds (:attr:`Dimension.size`'s product); None where a field
        ranges over real numbers."""
        sizes = [d.size for d in self.dimensions]
        return None if None in sizes else math.prod(sizes)  # type: ignore[arg-type]

    def sample(self, count: int, seed: int, *, distinct: bool = True) -> list[dict[str, Any]]:
        """``count`` distinct configurations drawn at random, reproducible from ``seed``: each draws every
        dimension independently, and a draw that repeats an earlier one is drawn again (it would train the
        same configuration twice at one seed); all of them, in the order drawn, where the space holds no
        more than ``count``. A range of reals narrower than its 4 significant digits may hold fewer values
        than it seems: the draws stop after ``_DRAWS_PER_CONFIGURATION`` per configuration asked. Not
        ``distinct``: ``count`` independent draws, repeats kept (the plan of a study stored before)."""
        rng = random.Random(seed)
        if not distinct:
            return [{d.field: d.sample(rng) for d in self.dimensions} for _ in range(count)]
        wanted = count if self.size is None else min(count, self.size)
        drawn: list[dict[str, Any]] = []
        # each draw's key in a set, where 'config not in drawn' scanned the list: 10^4 draws took 6.4 s, now
        # 0.1 s (benchmarks/study_planning.py --protocol random, docs/benchmarks.md)
        seen: set[tuple[Any, ...]] = set()
        for _ in range(wanted * _DRAWS_PER_CONFIGURATION):
            if len(drawn) == wanted:
                break
            config = {d.field: d.sample(rng) for d in self.dimensions}
            key = tuple(d.key(value) for d, value in zip(self.dimensions, config.values()))
            if key not in seen:
                seen.add(key)
                drawn.append(config)
        return drawn

    def untried(self, tried: Sequence[Mapping[str, Any]], rng: random.Random) -> dict[str, Any] | None:
        """A configuration of this finite space (:attr:`size`) not among ``tried``: a random draw, each
        dimension by its own law (:meth:`Dimension.sample`, log-uniform where ``log``), or after
        ``_DRAWS_PER_CONFIGURATION`` draws that were all tried, the first untried in grid order; None where
        every one was tried."""
        for _ in range(_DRAWS_PER_CONFIGURATION):
            drawn = {d.field: d.sample(rng) for d in self.dimensions}
            if drawn not in tried:
                return drawn
        every = itertools.product(*(d.values() for d in self.dimensions))  # lazy: a large space is not listed
        configs = (dict(zip(self.fields, values)) for values in every)
        return next((config for config in configs if config not in tried), None)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        return {d.field: d.suggest(trial) for d in self.dimensions}

    def to_dict(self) -> dict[str, Any]:
        return {d.field: d.to_dict() for d in self.dimensions}

    def flags(self) -> list[str]:
        """The ``--space`` flags that read this space (:meth:`from_flags`), one per dimension."""
        return [dimension.flag() for dimension in self.dimensions]

    def file_text(self) -> str:
        """This space as a ``--space-file`` holding it (:meth:`load`): YAML on one line."""
        data = {d.field: list(d.choices) if d.categorical else d.to_dict() for d in self.dimensions}
        return yaml.safe_dump(data, default_flow_style=True, sort_keys=False, width=math.inf).strip()

    def given_as(self) -> str:
        """How a user gives this space: its ``--space`` flags, quoted for a shell, where they read back to
        it exactly; else a ``--space-file`` holding :meth:`file_text`. A flag cannot hold a choice that is
        a list or a mapping (``optimizer.betas``), nor a word YAML reads otherwise (the string 'yes')."""
        flags = self.flags()
        with contextlib.suppress(OptimlabError):
            if SearchSpace.from_flags(flags) == self:
                return " ".join(f"--space {shlex.quote(flag)}" for flag in flags)
        return f"a --space-file holding {self.file_text()}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, stored: bool = False) -> SearchSpace:
        """Fields mapped to a list of choices or a ``{low, high, log, integer}`` range; fields written in
        the recipe's nested sections (``optimizer: {lr: ...}``) are read as dotted ones. A whole-number
        field's whole floats are its ints, unless the space is ``stored`` (:meth:`to_dict` of a study's):
        a study stored with batch_size 16.0 resumed planning 16, its trials holding both."""
        if not isinstance(data, Mapping) or not data:
            raise OptimlabError(
                "a search space maps recipe fields to choices or ranges, "
                "e.g. {optimizer.lr: {low: 1e-4, high: 1e-1, log: true}}"
            )
        dimensions = []
        for field, spec in _sections_flattened(data).items():
            if isinstance(spec, Mapping) and "choices" in spec:
                spec = spec["choices"]
            if isinstance(spec, Sequence) and not isinstance(spec, str):
                if not stored and (accepted := _lr_choices_refused(field, spec)):
                    raise InvalidValueError(f"choices of {field!r}", list(spec), accepted)
                whole = not stored and holds_a_whole_number(as_recipe_field(field))  # 1e1,2e1: 10, 20
                dimensions.append(
                    Dimension(field, choices=tuple(whole_as_int(c) if whole else c for c in spec))
                )
            elif isinstance(spec, Mapping):
                unknown = [key for key in spec if key not in _RANGE_KEYS]
                if unknown:
                    raise UnknownNameError(f"key of the range of {field!r}", unknown[0], _RANGE_KEYS)
                integer = _yes_or_no(field, spec, "integer")
                whole = integer or holds_a_whole_number(as_recipe_field(field))  # :int or not, a count
                dimensions.append(
                    Dimension(
                        field,
                        low=_number(field, spec.get("low"), whole=whole),
                        high=_number(field, spec.get("high"), whole=whole),
                        log=_yes_or_no(field, spec, "log"),
                        integer=integer,
                    )
                )
            else:
                raise InvalidValueError(
                    f"search dimension {field!r}",
                    spec,
                    "a list of choices or a mapping {low, high, log, integer}",
                )
        return cls(tuple(dimensions))

    @classmethod
    def from_flags(cls, flags: Sequence[str]) -> SearchSpace:
        """``FIELD=a,b,c`` (choices) or ``FIELD=LOW:HIGH[:log][:int]`` (a range), one flag per field."""
        data: dict[str, Any] = {}
        for flag in flags:
            field, sep, values = flag.partition("=")
            if not sep or not field or not values:
                raise InvalidValueError("--space", flag, "FIELD=a,b,c or FIELD=LOW:HIGH[:log][:int]")
            if line := _file_line(field, values):  # split at its commas, a list choice was read as pieces
                raise InvalidValueError(
                    "--space",
                    flag,
                    f"{FLAG_FORMS}; a choice that is a list or a mapping goes in a --space-file, as the "
                    f"YAML line {line}",
                )
            if field in data:  # the last one silently won
                raise InvalidValueError("--space", flag, f"one --space per field; {field} is given twice")
            if ":" in values:
                low, high, *flags_ = values.split(":")
                unknown = [f for f in flags_ if f not in ("log", "int")]
                if unknown or len(set(flags_)) < len(flags_):  # lr=0.1:1:log:log was read as one :log
                    wrong = repr(unknown[0]) if unknown else f"{max(flags_, key=flags_.count)!r} twice"
                    raise InvalidValueError(
                        "--space", flag, f"LOW:HIGH followed by log and/or int, each once, not {wrong}"
                    )
                if "int" not in flags_ and holds_a_whole_number(as_recipe_field(field)):
                    for bound in (low, high):  # one no float holds is refused as such first
                        _number(field, bound, whole=True)
                    raise InvalidValueError("--space", flag, _whole_number_forms(field, file=False))
                data[field] = {"low": low, "high": high, "log": "log" in flags_, "integer": "int" in flags_}
            else:
                choices = values.split(",")
                if not all(choice.strip() for choice in choices):  # YAML reads '' as null: the default
                    raise InvalidValueError("--space", flag, _NO_EMPTY_CHOICE)
                data[field] = [_choice(flag, choice) for choice in choices]
                if accepted := _lr_choices_refused(field, data[field]):
                    raise InvalidValueError("--space", flag, accepted)
        return cls.from_dict(data).distinct()

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        path = Path(path)
        if not path.is_file():
            raise OptimlabError(f"search space file {str(path)!r} does not exist")
        return cls.from_dict(load_yaml(path.read_text()) or {}).distinct()


def _most_distinct(dimension: Dimension, room: int) -> int:
    """The most points, up to ``room``, that ``dimension``'s grid holds distinct: a finer grid rounds more
    of its points together (an integer range's, four significant digits of a real one's), so the counts
    that do are 1 to this one, found by bisection. Each count was tried in turn: a budget of 1000 took
    3 s to plan, 10**4 five minutes (python -c 'SearchSpace.from_flags(["optimizer.lr=1e-4:1e-1:log"])
    .grid_shape(1000)')."""
    low, high = 1, room if dimension.size is None else min(room, dimension.size)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if len(dimension.grid(middle)) == middle else (low, middle - 1)
    return low


def whole_as_int(value: Any) -> Any:
    """A whole float (YAML reads ``1e1`` as 10.0) as the int it is, for a field that holds whole numbers: it
    named methods and best configurations 10.0; any other value as given, a float past
    :data:`_FLOAT_EXACT_INTEGERS` too (``1e300`` is no int typed: as one it was refused in 301 digits)."""
    whole = isinstance(value, float) and value.is_integer() and _FLOAT_EXACT_INTEGERS.contains(value)
    return int(value) if whole else value


def _whole_number_forms(field: str, *, file: bool) -> str:
    """The forms that search the whole-number field ``field``, as a range's refusal names them: a
    ``--space`` flag's, and with ``file``, a ``--space-file``'s or ``space=``'s too."""
    integer = " (integer: true in a --space-file or space=)" if file else ""
    choices = f" ({field}: [a, b, c] in a --space-file)" if file else ""
    return (
        f"{field}=LOW:HIGH:int or LOW:HIGH:log:int{integer}, as {field} holds a whole number, or the "
        f"whole numbers to try, {field}=a,b,c{choices}"
    )


FLAG_FORMS = "FIELD=a,b,c of numbers or words, or FIELD=LOW:HIGH[:log][:int]"
"""What a ``--space`` flag may be, as its refusals say."""
_NO_EMPTY_CHOICE = "FIELD=a,b,c with no empty choice (null for the field's default)"


def _choice(flag: str, text: str) -> Any:
    """One choice of the ``--space`` flag ``flag`` read as YAML, or refused in one line naming the flag:
    text YAML cannot parse (``[0`` of ``weight_decay=[0, 1e-4]``, split at its comma), reads otherwise
    than written (``1e-400``, ``1_0``), or holds no value (``#x``, a comment alone, which YAML reads as
    null), where a YAML ParserError or YamlValueError came out of the API, or the field's default ran."""
    try:
        value = load_yaml(text)
        if value is None and yaml.compose(text, Loader=yaml.SafeLoader) is None:
            raise InvalidValueError("--space", flag, f"{_NO_EMPTY_CHOICE} ({text.strip()!r} holds none)")
        return value
    except YamlValueError as error:
        raise InvalidValueError("--space", flag, error.accepted) from None
    except yaml.YAMLError:
        raise InvalidValueError("--space", flag, FLAG_FORMS) from None


def _lr_choices_refused(field: str, choices: Sequence[Any]) -> str | None:
    """What the choices of the learning rate are where ``choices`` of ``field`` hold null (the optimizer's
    own default) for ``optimizer.lr``; None for any other. The study's lr sensitivity plots each tuning
    trial's lr as a number: with a null choice every trial ran, then the analysis raised a TypeError."""
    if as_recipe_field(field) != "optimizer.lr" or not any(choice is None for choice in choices):
        return None
    return (
        "learning rates, numbers above 0 (null, the optimizer's own default lr, is no number to plot the "
        "tuned metric against: search it, optimizer.lr=LOW:HIGH:log, or leave optimizer.lr out)"
    )


def _file_line(field: str, values: str) -> str | None:
    """The ``--space-file`` line of the choices ``values`` a flag gave ``field`` where YAML reads one of
    them as a list or a mapping (``[0.9,0.99],[0.8,0.9]``, ``{a: 1}``); None where it reads none so
    (``rows[1].csv,rows[2].csv``: words holding brackets, the flag's own choices). Without a bracket or
    a brace, YAML reads a mapping only at a colon before a space (``relu,name: gelu``); one before a
    comma or the end is a range cut short (``lr=1e-4:``, ``lr=1e-4:,1``), no mapping ``{1e-4: null}``."""
    if not {"[", "{"} & set(values) and not re.search(r":\s", values):
        return None
    line = f"{field}: [{values}]"
    with contextlib.suppress(yaml.YAMLError, OptimlabError):
        read = load_yaml(line)
        choices = read.get(field) if isinstance(read, Mapping) else None
        if isinstance(choices, list) and any(isinstance(c, (list, Mapping)) for c in choices):
            return line
    return None


def _sections_flattened(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A space written in the recipe's nested sections, ``{optimizer: {lr: RANGE}}``, as its fields,
    ``{optimizer.lr: RANGE}``: a mapping with none of a range's keys is a section. A field given twice
    (nested and dotted) is refused."""
    flat: dict[str, Any] = {}
    for key, spec in data.items():
        field = f"{prefix}{key}"
        section = isinstance(spec, Mapping) and spec and not {"choices", *_RANGE_KEYS} & set(spec)
        for name, value in (_sections_flattened(spec, f"{field}.") if section else {field: spec}).items():
            if name in flat:
                raise InvalidValueError("search space field", name, "each field once, nested or dotted")
            flat[name] = value
    return flat


def _number(field: str, value: Any, *, whole: bool = False) -> float:
    """A range's bound, a number or its text (``--space lr=1e-4:1e-2``); text Python reads as a number that
    :func:`~optimlab.number_text.read_number` does not (``1_0``, 10 to float(), other scripts' digits)
    is refused, as is text below the smallest float (``1e-400``, which reads as 0). ``inf`` and ``nan``
    are read, for :class:`Dimension` to refuse naming finite bounds. A ``whole`` range's (``:int``, or of
    a whole-number field) whole bound is refused where a float does not hold every integer up to it
    (:func:`_whole_bound`): a width of 99999999999999999999 was refused only at the first trial, as some
    midpoint of the range, and 9007199254740993 (2**53 + 1) read as ...992."""
    bound = f"bound of the range of {field!r}"
    if isinstance(value, str) and below_smallest_float(value):
        raise InvalidValueError(bound, value, UntypedNumber(value, "").accepted)
    if whole:
        _whole_bound(bound, value)
    try:
        if isinstance(value, str) and python_only_number(value):
            raise ValueError(value)
        return float(value)
    except OverflowError:  # an int of YAML's too large for a float: float(10**400)
        raise InvalidValueError(bound, value, "a finite number") from None
    except (TypeError, ValueError):
        raise InvalidValueError(
            bound, value, "a number in plain digits with a sign, a point or an exponent"
        ) from None


# The integers a range's float bounds hold, each exactly: a float holds every integer up to 2**53 alone.
_FLOAT_EXACT_INTEGERS = Interval(-(2**53), 2**53, integer=True)


def _whole_bound(bound: str, value: Any) -> None:
    """Refuse the whole-number bound ``value`` (an int, a whole float, their text read exactly by
    :func:`~optimlab.number_text.read_whole_number`) that the range's float bounds do not hold exactly,
    naming the integers they do, :data:`_FLOAT_EXACT_INTEGERS` (within int64's, which a count takes)."""
    typed = read_whole_number(value) if isinstance(value, str) else value
    whole = isinstance(typed, int) or (isinstance(typed, float) and typed.is_integer())
    if whole and not isinstance(typed, bool) and not _FLOAT_EXACT_INTEGERS.contains(typed):
        raise InvalidValueError(bound, value, f"{_FLOAT_EXACT_INTEGERS}, which a float holds each exactly")


def _yes_or_no(field: str, spec: Mapping[str, Any], key: str) -> bool:
    """A range's ``log`` or ``integer``: ``log: maybe`` (a string, so true to bool) searched in log space."""
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise InvalidValueError(f"{key} of the range of {field!r}", value, "true or false")
    return value
