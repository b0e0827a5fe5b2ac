"""Every technique by name: registries of entries with summary, paper, hyperparameters and ranges.

One :class:`Registry` per category (``init``, ``activation``, ``norm``, ``optimizer``, ...). An entry's
hyperparameters and their defaults are read from the signature of the object it registers, so the
defaults live in one place; the entry adds the valid range of each. Names are normalised once
(``Kaiming-Normal`` -> ``kaiming_normal``) and an unknown name raises with close matches.

>>> from optimlab.registry import get_registry
>>> get_registry("activation").get("relu").summary
'Rectified linear unit max(0, x).'
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import importlib
import inspect
import math
import operator
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, Generic, TypeVar

from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.number_text import infinity_word
from optimlab.user_code import import_object, is_import_path, named_by_import, refuse_file_path

__all__ = [
    "BATCH_ROWS",
    "CAPABILITIES",
    "DEVICE",
    "DEVICES",
    "NON_NEGATIVE",
    "NON_NEGATIVE_INT",
    "POSITIVE",
    "POSITIVE_INT",
    "REAL",
    "STUDY_TRIALS",
    "SWEEP_STEPS",
    "TRIALS_PLANNED",
    "TRIALS_PLANNED_WHY",
    "UNIT",
    "UNIT_OPEN",
    "Capability",
    "Each",
    "Entry",
    "HyperparameterSpec",
    "Interval",
    "Items",
    "RefusedTogetherError",
    "Registry",
    "boolean",
    "categories",
    "get_registry",
    "held_as",
    "import_submodules",
    "normalize_name",
    "plain_numbers",
    "real_number",
    "whole_number",
]

T = TypeVar("T", bound=Callable[..., Any])


def plain_numbers(value: Any) -> Any:
    """``value`` with NumPy scalars (``np.float32(1e-3)``, as array code hands them out) turned into the
    Python numbers they hold, which torch's own optimizers take alike; in a tuple or list too. Tensors
    are kept (an optimizer takes a tensor lr, ``Adam(lr=torch.tensor(1e-3))``); a run's logged parameters
    turn them into numbers too, in :func:`optimlab.integrations.tracking.plain_values`."""
    if isinstance(value, (tuple, list)):
        return type(value)(plain_numbers(v) for v in value)
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def normalize_name(name: str) -> str:
    """The one place where names are normalised: case, dashes and spaces do not matter, except in an
    import path (``mypkg.nets:Build``), which Python reads case-sensitively: it is only stripped, as is
    any name with a colon, which no registered name has (``my nets:build`` is no import path, and made
    one, ``my_nets:build``, imported a module the user never named)."""
    if not isinstance(name, str):
        raise InvalidValueError("name", name, "a string")
    if ":" in name:
        return name.strip()
    return name.strip().lower().replace("-", "_").replace(" ", "_")


# torch's int64, which holds its step counts, sizes and seeds
_INT64_LOW, _INT64_HIGH = -(2**63), 2**63 - 1


@dataclasses.dataclass(frozen=True)
class Interval:
    """A numeric range; ``None`` leaves a side unbounded. Applies elementwise to tuples (betas)."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    integer: bool = False
    # said of a refused infinity: 'accepted a finite number in (0, inf)', every subclass's words kept
    finite_said: bool = dataclasses.field(default=False, compare=False, repr=False)
    # why the range ends where it does, said where a value past its high end is refused (STUDY_TRIALS)
    why: str = dataclasses.field(default="", compare=False, repr=False)

    def contains(self, value: Any) -> bool:
        """Whether ``value`` (each number of a sequence) lies in the range; an integer range holds only
        whole numbers int64 holds (:meth:`accepted_for`)."""
        if isinstance(value, (tuple, list)):
            return all(self.contains(v) for v in value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and (not _INT64_LOW <= value <= _INT64_HIGH or not float(value).is_integer()):
            return False
        if isinstance(value, float) and not math.isfinite(value):  # nan, and inf: outside every (a, inf)
            return False
        if not self.integer and abs(value) > sys.float_info.max:  # 10**400: an int no float holds
            return False
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.open_high and value == self.high)))

    def __str__(self) -> str:
        return self._range(
            "an integer" if self.integer else "a finite number" if self.finite_said else "a number"
        )

    def _range(self, kind: str) -> str:
        left = "(" if self.open_low or self.low is None else "["
        right = ")" if self.open_high or self.high is None else "]"
        low = "-inf" if self.low is None else self._bound(self.low)
        high = "inf" if self.high is None else self._bound(self.high)
        return f"{kind} in {left}{low}, {high}{right}"

    def accepted_for(self, value: Any) -> str:
        """The accepted values as a refusal of ``value`` (or of a sequence's numbers) names them: the range,
        or for a whole number past 64 bits on an unbounded side (``step_size=2**70``, ``milestones: [10,
        2**70]``) the part of it int64 holds, where torch reads an integer (a size that large overflows at
        first use), so the range named never holds the value refused; for a value past its high end, with
        why it ends there, where told."""
        accepted = self._accepted_range(value)
        past_high = self.high is not None and any(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > self.high
            for v in (value if isinstance(value, (tuple, list)) else (value,))
        )
        return f"{accepted} ({self.why})" if self.why and past_high else accepted

    def _accepted_range(self, value: Any) -> str:
        values = [  # YAML's text 'inf' as the infinity it names, as '.inf' is
            float(v) if isinstance(v, str) and infinity_word(v) else v
            for v in (value if isinstance(value, (tuple, list)) else (value,))  # milestones: [10, 2**70]
        ]
        past = any(  # infinity too: '--steps 1e999', 'steps: .inf'
            (isinstance(v, int) or (isinstance(v, float) and (v.is_integer() or math.isinf(v))))
            and ((self.high is None and v > _INT64_HIGH) or (self.low is None and v < _INT64_LOW))
            for v in values
        )
        open_ended = any(  # 'inf is refused: accepted a number in (0, inf)' read as if the range held it
            isinstance(v, float)
            and ((v == math.inf and self.high is None) or (v == -math.inf and self.low is None))
            for v in values
        )
        if open_ended and not self.integer:
            return str(dataclasses.replace(self, finite_said=True))
        if not (self.integer and past):
            return str(self)  # its own bound refuses it, or no integer is accepted
        low = _INT64_LOW if self.low is None else self.low
        high = _INT64_HIGH if self.high is None else self.high
        return f"{Interval(low, high, self.open_low, self.open_high, integer=True)} (int64's bound)"

    def _bound(self, value: float) -> str:
        """Whole, as typed, for integers (4294967295, not 4.29497e+09); else short (1e-08)."""
        return str(int(value)) if self.integer else f"{value:g}"


@dataclasses.dataclass(frozen=True)
class Items(Interval):
    """The range of each number of a list hyperparameter of any length whose default is no sequence
    (multistep's ``milestones``, None for steps of its own choosing). A plain :class:`Interval` takes a
    list only where the default is a sequence (betas), of its length; else one number."""


REAL = Interval()  # any finite number
POSITIVE = Interval(0, None, open_low=True)
NON_NEGATIVE = Interval(0, None)
UNIT = Interval(0, 1)
UNIT_OPEN = Interval(0, 1, open_high=True)
POSITIVE_INT = Interval(1, None, integer=True)
NON_NEGATIVE_INT = Interval(0, None, integer=True)
# NumPy's legacy RandomState takes seeds below 2^32; torch's generators overflow (a traceback) past 2^64,
# and the batch order is drawn from seed * 1_000_003 + epoch (optimlab.data.batches).
SEED = Interval(0, 2**32 - 1, integer=True)
# A count past any anyone means: 2^31 - 1, int32's largest, refuses a typo's or a runaway value (1e12,
# 1e18) before any work, and takes every count a run is given on purpose. It bounds no time (10,000 steps
# of a ResNet take hours): a run's time is bounded by its own budget (diagnose's time_budget).
_COUNT_HIGH = 2**31 - 1
# Rows of one minibatch (a recipe's training.batch_size, --batch-size, fit's and diagnose's batch_size):
# --batch-size 1e18 was taken, its recipe recording 1e18. One larger than the training split takes the
# whole split each step.
BATCH_ROWS = Interval(1, _COUNT_HIGH, integer=True)
# An LR range test's sweep (find_lr, lr_range_test, lr-find's --sweep-steps): its curve needs two lrs.
# A few epochs of a large data set (Smith 2017) take more than 10,000 steps; --sweep-steps 1e12, a sweep
# never to end, was taken before any bound.
SWEEP_STEPS = Interval(2, _COUNT_HIGH, integer=True)
# The trials one journal (a compare or bench folder's, every workload's study in it) plans, workloads x
# methods x (budget + seeds): each trial's bookkeeping (counting its study's trials, reclaiming stale ones,
# reading the records back) reads every trial of its study. Measured with
#   cd benchmarks && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python study_journal.py --trials 1000 3000 10000 --steps 15
# on 2 shared cores at load 11, 2026-12-07 (docs/benchmarks.md): at 10^3 / 3x10^3 / 10^4 planned trials a
# trial's bookkeeping took 29 / 36 / 64 ms, some 11 minutes over a study of 10^4 beside its training, and
# growing with the square beyond (2x10^5, the bound before, days). Storing the plan takes 0.8 s at 10^4
# in a journal (storage.store_waiting; 45-53 s an fsync a trial before), and taking the next trial 1.6 ms
# of CPU. A database storage (SQLite, PostgreSQL) still stores the plan a trial at a time, through Optuna's
# enqueue_trial, before the first trial runs: on SQLite 31.8 ms a trial (the review's 1,000) and 52.6 ms
# (300 trials, load 7, 2026-12-07, storage.store_waiting on sqlite:///), 5 to 9 minutes at 10^4.
TRIALS_PLANNED = 10_000
# Why, in the words of every refusal past it: the total's (study.protocols.check_trials_planned) and each
# count's (STUDY_TRIALS)
TRIALS_PLANNED_WHY = (
    "each trial's bookkeeping reads every trial of its study: 64 ms a trial at 10^4, 11 minutes over them "
    "beside their training, growing with the square beyond; and a database storage (SQLite, PostgreSQL) "
    "stores the plan a trial at a time before the first one runs, 5 to 9 minutes at 10^4 on SQLite"
)
# A study's trial counts, budget and seeds, each: half the trials one journal plans in all, so one method
# plans both at their most. --seeds 1e12 built plan lists until memory ran out.
STUDY_TRIALS = Interval(
    1,
    TRIALS_PLANNED // 2,
    integer=True,
    why=f"half the {TRIALS_PLANNED} trials one journal may plan, as {TRIALS_PLANNED_WHY}",
)


def whole_number(value: Any, field: str, accepted: Interval, *, also: str = "") -> int:
    """``value`` as an int, numpy's integers included, when ``accepted`` holds it; else refused in one
    line (``also`` added to the accepted values: ``", or None"``): a float, even 2.0, which torch's
    generator and DataLoader refuse with a traceback, and a count kept as 2.0 shows as one."""
    try:
        whole = operator.index(value)
    except TypeError:
        whole = None
    if whole is None or isinstance(value, bool) or not accepted.contains(whole):
        # an infinity names int64's bound, as a whole number past it does: no '[2, inf)' for inf
        raise InvalidValueError(
            field, value, f"{accepted.accepted_for(value if whole is None else whole)}{also}"
        )
    return whole


def real_number(value: Any, field: str, accepted: Interval, *, also: str = "") -> float:
    """``value`` as the Python number it holds, NumPy's real scalars included (``np.float32(0.2)``, a
    fraction computed with NumPy), when ``accepted`` holds it; else refused in one line (``also`` added to
    the accepted values: ``", or None"``): a bool (NumPy's too), NaN, a string, a sequence."""
    plain = plain_numbers(value)
    if isinstance(plain, (tuple, list)) or not accepted.contains(plain):
        raise InvalidValueError(field, value, f"{accepted}{also}")
    return plain


def boolean(value: Any, field: str) -> bool:
    """``value`` when it is True or False; else refused in one line: a truthy string (``shuffle="no"``)
    read as True did the opposite of what it said."""
    if not isinstance(value, bool):
        raise InvalidValueError(field, value, "True or False")
    return value


# The devices a recipe or --device may name (torch takes more, e.g. "cuda:x" fails only when used)
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICES = "auto, cpu, cuda, cuda:N or mps"


class Capability(str, enum.Enum):
    """The declared vocabulary of capability flags: what an entry can do or needs, read by the code that
    treats it differently. Registering a flag outside it raises, so a misspelt flag fails where it is
    written instead of being silently never read. Members are strings (``"elementwise"``)."""

    __str__ = str.__str__  # a plain string in messages and f-strings
    __format__ = str.__format__

    # optimizer
    ELEMENTWISE = "elementwise"  # the math is per element: members can be stacked, the chain compiled
    LAYERWISE = "layerwise"  # a norm per tensor, then elementwise (LAMB, LARS): compiled too
    MATRIX = "matrix"  # treats 2-D parameters as matrices (Muon's orthogonalization)
    SKIPS_1D = "skips_1d"  # leaves 1-D parameters (biases, norm gains) out of its per-layer rule (LARS)
    FACTORED = "factored"  # factored second moments (Adafactor)
    RELATIVE_STEP = "relative_step"  # step size relative to the parameter's scale (Adafactor)
    TORCH_REFERENCE = "torch_reference"  # torch.optim has it: tests compare the two step for step
    SPARSE_GRADIENTS = "sparse_gradients"  # takes nn.Embedding(sparse=True)'s, as torch's SGD, Adagrad
    HAS_BETAS = "has_betas"
    HAS_MOMENTUM = "has_momentum"
    TRAIN_EVAL_MODES = "train_eval_modes"  # parameters differ between train() and eval() (schedule-free)
    WRAPPER = "wrapper"  # wraps a base optimizer given by name (Lookahead, SAM)
    NEEDS_CLOSURE = "needs_closure"  # step(closure) re-evaluates the loss (SAM)
    USER = "user"  # the user's code, loaded by import path (any category)
    # schedule
    NEEDS_TOTAL_STEPS = "needs_total_steps"  # its default hyperparameters derive from the horizon
    WARMUP_AWARE = "warmup_aware"  # it takes the warmup's length as its second argument
    METRIC_DRIVEN = "metric_driven"  # stepped by a metric, so it has no horizon
    # init
    ACTIVATION_GAIN = "activation_gain"  # its gain derives from the activation that follows
    WHOLE_MODEL = "whole_model"  # applied to the whole model, not tensor by tensor
    DATA_DEPENDENT = "data_dependent"  # needs a batch of data (LSUV)
    # activation
    SATURATING = "saturating"  # flat in both tails (sigmoid, tanh)
    RELU_FAMILY = "relu_family"  # identity above 0, a slope in [0, 1) below
    # the data a model takes or a data set, loss or workload holds
    FEATURES = "features"
    IMAGES = "images"
    SEQUENCES = "sequences"
    TOKENS = "tokens"
    CLASSIFICATION = "classification"
    BINARY = "binary"  # a loss of one logit per 0/1 target (bce): 2 classes get a single output
    REGRESSION = "regression"
    CUSTOM_LOSS = "custom_loss"  # brings its own loss
    USER_FILES = "user_files"  # reads the user's files
    FIXED_SPLITS = "fixed_splits"  # comes with its own train/test split (a published benchmark's)
    # gallery experiment
    TUTORIAL_CLAIM = "tutorial_claim"
    PAPER_RESULT = "paper_result"


CAPABILITIES = frozenset(c.value for c in Capability)


def _capabilities(owner: str, flags: Sequence[str]) -> frozenset[str]:
    """``flags`` checked against the vocabulary (an unknown one raises with close matches), as strings."""
    for flag in flags:
        if flag not in CAPABILITIES:
            raise UnknownNameError(f"capability of {owner}", flag, sorted(CAPABILITIES))
    return frozenset(str(f) for f in flags)


@dataclasses.dataclass(frozen=True)
class Each:
    """The ranges of a sequence hyperparameter's entries, one per position: schedule-free AdamW's
    ``betas`` take b1 in (0, 1) and b2 in [0, 1). (One :class:`Interval` for a sequence applies to every
    entry alike.)"""

    ranges: tuple[Interval, ...]

    def __init__(self, *ranges: Interval) -> None:
        object.__setattr__(self, "ranges", ranges)


def held_as(value: Any, accepts: Interval | Each | tuple[Any, ...] | None) -> Any:
    """``value`` as the kind of number ``accepts`` holds (each number of a sequence by its position's
    range): a whole float an int in an integer range, an int a float in a real one; any other value, and
    a number its range refuses, as given."""
    if isinstance(value, (tuple, list)) and isinstance(accepts, (Interval, Each)):
        ranges = accepts.ranges if isinstance(accepts, Each) else (accepts,) * len(value)
        if len(ranges) != len(value):
            return value
        return type(value)(held_as(item, within) for item, within in zip(value, ranges))
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)  # a range may take 'auto' too
    if not isinstance(accepts, Interval) or not numeric or not accepts.contains(value):
        return value
    return int(value) if accepts.integer else float(value)


@dataclasses.dataclass(frozen=True)
class HyperparameterSpec:
    """What one keyword of an entry accepts, and its default (from the signature); the value itself, in an
    optimizer, is an :data:`optimlab.optim.base.Hyperparameter` (a number, a schedule or a tensor)."""

    name: str
    default: Any
    # an Interval, the Intervals of a sequence's entries (Each), a tuple of choices, or anything
    accepts: Interval | Each | tuple[Any, ...] | None = None
    # what leaving it out gives, where its default None stands for a value the entry works out ('0.2 of
    # the run'): the listing said 'decay_fraction=None', which reads as no decay
    left_out: str = ""

    def validate(self, value: Any, owner: str) -> None:
        value = plain_numbers(value)
        if self.accepts is None or (value is None and self.default is None):
            return
        if isinstance(self.accepts, Each):
            ranges = self.accepts.ranges
            ok = (
                isinstance(value, (tuple, list))
                and len(value) == len(ranges)
                and all(r.contains(v) for r, v in zip(ranges, value))
            )
            given = list(value) if isinstance(value, (tuple, list)) else []
            each = ", ".join(
                f"{self.name}[{i}] {r.accepted_for(given[i] if i < len(given) else None)}"
                for i, r in enumerate(ranges)
            )
            accepted = f"a sequence of {len(ranges)}: {each}"
        elif isinstance(self.accepts, Interval):
            # A range applies to each number of a sequence (betas) only where the default is one, and of
            # the default's length, or where it is declared a list's (Items): a list for a number (gain:
            # [1, 2], step_size: [3] of default None) or betas: 0.9 would pass, then fail inside the
            # technique with a traceback naming nothing.
            sequence = isinstance(value, (tuple, list))
            if isinstance(self.default, tuple):
                ok = sequence and len(value) == len(self.default) and self.accepts.contains(value)
                accepted = f"a sequence of {len(self.default)}, each {self.accepts.accepted_for(value)}"
            elif isinstance(self.accepts, Items):
                ok = sequence and self.accepts.contains(value)
                accepted = f"a list, each {self.accepts.accepted_for(value)}"
            else:
                ok = self.accepts.contains(value) and not sequence
                accepted = self.accepts.accepted_for(value) + (" (a list is refused)" if sequence else "")
        else:
            # 1 == True in Python: a flag's choices take booleans only, and a number's no boolean.
            ok = any(value == c and isinstance(value, bool) == isinstance(c, bool) for c in self.accepts)
            accepted = "one of " + ", ".join(repr(c) for c in self.accepts)
        if not ok:
            raise InvalidValueError(f"{owner} hyperparameter {self.name!r}", value, accepted)


class RefusedTogetherError(InvalidValueError):
    """A hyperparameter's value, in its range alone, that the registered object refuses with the others
    (sgd's ``nesterov=True`` with momentum 0); its :class:`Entry` names itself in the message as the user
    called it (``optimizer 'heavy_ball' (momentum)``), for one object serves several names. ``accepted``
    names the conflicting value."""

    def __init__(self, name: str, value: object, accepted: str) -> None:
        super().__init__(f"hyperparameter {name!r}", value, accepted)
        self.name = name


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered technique: what it is, where it comes from, and how it may be configured."""

    name: str
    obj: T
    category: str
    summary: str
    paper: str = ""
    hyperparameters: tuple[HyperparameterSpec, ...] = ()
    aliases: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # what each keyword of default None gives when left out, from the others given (``left_out`` in
    # :meth:`Registry.register`): a value written equal to it is the same technique, stored without it
    left_out_gives: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    # the alias it was looked up by (``he`` for kaiming_normal), for messages: the user finds what they typed
    called: str | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        """``init 'kaiming_normal'``, or ``init 'he' (kaiming_normal)`` for an entry looked up by an alias."""
        if self.called is None:
            return f"{self.category} {self.name!r}"
        return f"{self.category} {self.called!r} ({self.name})"

    @property
    def hyperparameter_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)

    @property
    def takes_any_keyword(self) -> bool:
        """Whether it is the user's code taking ``**kwargs``: any keyword goes to it, as Python passes them
        (optimlab's own entries take only the keywords they name)."""
        if Capability.USER not in self.capabilities:
            return False
        try:
            parameters = inspect.signature(self.obj).parameters.values()
        except (TypeError, ValueError):  # no signature Python can read: only the named keywords
            return False
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)

    def validate(self, kwargs: Mapping[str, Any]) -> None:
        """Reject unknown keywords (with close matches; the user's ``**kwargs`` takes them) and values out
        of range."""
        known = {h.name: h for h in self.hyperparameters}
        for key, value in kwargs.items():
            if key in known:
                known[key].validate(value, self.label)
            elif not self.takes_any_keyword:
                raise UnknownNameError(
                    f"{self.label} hyperparameter", key, known, none="It takes no hyperparameters."
                )

    def typed(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``kwargs`` with each number the kind its range holds (:func:`held_as`): a whole float where an
        integer is accepted (``heads: 2.0`` from YAML or a search space) an int, which torch's layer sizes
        (and ``range``) need; an int where a real number is (``betas: [0, 0.99]``, ``noise: 1``) a float,
        so that equal recipes write, and hash, one way."""
        accepts = {h.name: h.accepts for h in self.hyperparameters}
        return {k: held_as(v, accepts.get(k)) for k, v in kwargs.items()}

    def checked(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """``kwargs`` as the registered object takes them: NumPy numbers as the Python ones they hold
        (torch's calculate_gain refuses ``np.float32(0.2)``), validated (:meth:`validate`), integers as
        :meth:`typed` makes them."""
        kwargs = {k: plain_numbers(v) for k, v in kwargs.items()}
        self.validate(kwargs)
        return self.typed(kwargs)

    def create(self, *args: Any, **kwargs: Any) -> Any:
        """Call the registered object with the entry's bound defaults and ``kwargs`` as :meth:`checked`
        makes them."""
        return self.call(*args, **{**self.defaults, **self.checked(kwargs)})

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """Call the registered object with ``kwargs`` as given, its refusal of values together
        (:class:`RefusedTogetherError`) naming this entry by :attr:`label`."""
        try:
            return self.obj(*args, **kwargs)
        except RefusedTogetherError as error:
            field = f"{self.label} hyperparameter {error.name!r}"
            raise InvalidValueError(field, error.value, error.accepted) from None


def _signature_hyperparameters(
    obj: Callable[..., Any], accepts: Mapping[str, Any], skip: Sequence[str], left_out: Mapping[str, str]
) -> tuple[HyperparameterSpec, ...]:
    """Keyword parameters of ``obj`` that have defaults, in signature order."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = inspect.signature(target).parameters.values()
    found = tuple(
        HyperparameterSpec(p.name, p.default, accepts.get(p.name), left_out.get(p.name, ""))
        for p in params
        if p.default is not inspect.Parameter.empty
        and p.name not in skip
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    unknown = set(accepts) - {h.name for h in found}
    if unknown:
        raise TypeError(f"ranges given for parameters {sorted(unknown)} that {obj!r} does not take")
    # a default of its own says itself: words only where None stands for a value worked out
    unworded = set(left_out) - {h.name for h in found if h.default is None}
    if unworded:
        raise TypeError(
            f"left_out words given for {sorted(unworded)}, which {obj!r} takes with no default None"
        )
    for h in found:
        if isinstance(h.accepts, Each) and len(h.accepts.ranges) != len(h.default):
            raise TypeError(
                f"{len(h.accepts.ranges)} ranges given for {h.name!r} of {len(h.default)} entries"
            )
    return found


class Registry(Generic[T]):
    """Entries of one category, looked up by normalised name or alias.

    A category whose catalog sets :attr:`adapt_import` also takes the user's code by import path
    (:mod:`optimlab.user_code`): the first lookup of ``mypkg.nets:build`` imports it, gives it to
    ``adapt_import(path, obj)``, which checks it and returns the callable to register (in the
    category's calling convention), and registers that under the path.
    """

    def __init__(self, category: str) -> None:
        self.category = category
        self._entries: dict[str, Entry[T]] = {}
        self._aliases: dict[str, str] = {}
        # The user's code, imported by path: found by name, never listed (the listing is optimlab's own
        # catalogue, the same whatever a process happened to import).
        self._imported: set[str] = set()
        self.adapt_import: Callable[[str, Any], T] | None = None

    def register(
        self,
        name: str,
        *,
        summary: str,
        paper: str = "",
        accepts: Mapping[str, Interval | Each | tuple[Any, ...]] | None = None,
        aliases: Sequence[str] = (),
        capabilities: Sequence[str] = (),
        defaults: Mapping[str, Any] | None = None,
        skip: Sequence[str] = (),
        left_out: Mapping[str, str] | None = None,
        left_out_gives: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
        obj: T | None = None,
    ) -> Callable[[T], T]:
        """Register ``obj`` (or decorate it) under ``name``.

        ``accepts`` maps keyword names to an :class:`Interval`, an :class:`Each` (a sequence's entries)
        or a tuple of choices; ``defaults``
        binds keywords (one object serving several names, e.g. ``nesterov`` = SGD with
        ``nesterov=True``); ``skip`` hides signature keywords that are not hyperparameters;
        ``left_out`` says in words what a keyword of default None gives when left out (``{"step_size":
        "a third of the run's steps"}``), as the listing shows it; ``left_out_gives`` maps the keywords
        given to the values those left out give (kaiming's gain alone: sqrt(2)), so that a choice writing
        one out is stored, and hashed, as the choice leaving it out (:func:`~optimlab.techniques.choice.
        resolve`).
        """

        def decorate(target: T) -> T:
            key = normalize_name(name)
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.category} {key!r} is registered twice")
            bound = dict(defaults or {})
            hps = _signature_hyperparameters(
                target, accepts or {}, tuple(skip) + tuple(bound), left_out or {}
            )
            entry = Entry(
                name=key,
                obj=target,
                category=self.category,
                summary=summary,
                paper=paper,
                hyperparameters=hps,
                aliases=tuple(normalize_name(a) for a in aliases),
                capabilities=_capabilities(f"{self.category} {key!r}", capabilities),
                defaults=bound,
                left_out_gives=left_out_gives,
            )
            self._entries[key] = entry
            for alias in entry.aliases:
                if alias in self._entries or alias in self._aliases:
                    raise ValueError(f"{self.category} alias {alias!r} is registered twice")
                self._aliases[alias] = key
            return target

        return decorate(obj) if obj is not None else decorate

    def resolve(self, name: str) -> str:
        """The canonical name for ``name`` or one of its aliases; an import path is imported once."""
        key = normalize_name(name)
        key = self._aliases.get(key, key)
        if key not in self._entries and is_import_path(key):
            self._import(key)
        if key not in self._entries:
            if self.adapt_import is None:
                raise UnknownNameError(self.category, name, [*self._entries, *self._aliases])
            refuse_file_path(name, self.category)
            meant, form = named_by_import(name)
            raise UnknownNameError(
                self.category, name, [*self._entries, *self._aliases], also=form, meant=meant
            )
        return key

    def _import(self, path: str) -> None:
        self._register_user(path, lambda: import_object(path, self.category), f"user code: {path}")

    def adopt(self, name: str, target: Any) -> str:
        """Register ``target``, the user's object held in this process, under ``name`` as an import path is
        registered (through :attr:`adapt_import`); returns the entry's name. No other process can import
        it: backends that run trials elsewhere need the import path instead."""
        key = normalize_name(name)
        self._register_user(key, lambda: target, "the user's object, in this process")
        return key

    def _register_user(self, name: str, target: Callable[[], Any], origin: str) -> None:
        if self.adapt_import is None:
            raise InvalidValueError(
                f"{self.category} {name!r}",
                name,
                f"a registered {self.category}: {self.category} takes no import paths (nor the user's objects)",
            )
        found = target()
        summary = ((getattr(found, "__doc__", None) or "").strip().splitlines() or [""])[0]
        self.register(
            name,
            summary=summary or f"User {self.category} {name}.",
            paper=origin,
            capabilities=(Capability.USER,),
            obj=self.adapt_import(name, found),
        )
        self._imported.add(name)

    def get(self, name: str) -> Entry[T]:
        """The entry of ``name`` or of an alias; looked up by an alias, it carries it for its messages."""
        key = self.resolve(name)
        entry = self._entries[key]
        return entry if normalize_name(name) == key else dataclasses.replace(entry, called=name)

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name).create(*args, **kwargs)

    def names(self, pattern: str | None = None) -> list[str]:
        """Canonical names, optionally filtered by a shell wildcard (``adam*``)."""
        return [
            n
            for n in self._entries
            if n not in self._imported and (pattern is None or fnmatch.fnmatch(n, pattern))
        ]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = normalize_name(name)
        return key in self._entries or key in self._aliases

    def __iter__(self) -> Iterator[Entry[T]]:
        return (entry for name, entry in self._entries.items() if name not in self._imported)

    def __len__(self) -> int:
        return len(self._entries) - len(self._imported)


_REGISTRIES: dict[str, Registry[Any]] = {}

# Modules whose import fills the registries, so that listing every category needs no prior import.
_CATALOG_MODULES = {
    "init": "optimlab.techniques.init",
    "activation": "optimlab.techniques.activations",
    "norm": "optimlab.techniques.norms",
    "scaling": "optimlab.techniques.scaling",
    "loss": "optimlab.techniques.losses",
    "model": "optimlab.models",
    "dataset": "optimlab.data",
    "optimizer": "optimlab.optim",
    "schedule": "optimlab.schedules",
    "workload": "optimlab.workloads",
    "doctor_rule": "optimlab.doctor.rules",
    "experiment": "optimlab.gallery",
}


def get_registry(category: str) -> Registry[Any]:
    """The registry of ``category``, its entries loaded."""
    key = normalize_name(category)
    if key not in _CATALOG_MODULES and key not in _REGISTRIES:
        raise UnknownNameError("category", category, _CATALOG_MODULES)
    if key in _CATALOG_MODULES:
        importlib.import_module(_CATALOG_MODULES[key])
    return _REGISTRIES.setdefault(key, Registry(key))


def new_registry(category: str) -> Registry[Any]:
    """Create (or return) the registry of ``category`` without importing its catalog module.

    Catalog modules call this at import time; users call :func:`get_registry`.
    """
    return _REGISTRIES.setdefault(normalize_name(category), Registry(normalize_name(category)))


def import_submodules(package: str) -> dict[str, ModuleType]:
    """Import every module of ``package`` (not those named ``_*``), so that each registers its entries.

    Catalog packages (named optimizers, doctor rules, gallery experiments) call this in their
    ``__init__``: a new module registers by existing, without an import to remember. Modules are
    imported in name order, so registration order (and listings) do not depend on the file system.
    """
    path = importlib.import_module(package).__path__
    names = sorted(m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_"))
    return {name: importlib.import_module(f"{package}.{name}") for name in names}


def categories() -> list[str]:
    """Every category optimlab registers techniques under."""
    return list(_CATALOG_MODULES)
