"""Errors that optimlab raises at its edges, each naming the bad value and what is accepted."""

from __future__ import annotations

import contextlib
import difflib
import functools
import inspect
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "InvalidValueError",
    "OptimlabError",
    "OptimlabWarning",
    "UnknownNameError",
    "a_type",
    "close_matches",
    "did_you_mean",
    "forwarded_keywords_checked",
    "keywords_checked",
    "unprintable",
    "user_stacklevel",
    "with_article",
]


class OptimlabError(ValueError):
    """Base class: a user-facing error whose message says how to fix the call."""


class OptimlabWarning(UserWarning):
    """Something repaired or set aside on the way (a damaged checkpoint or journal record): the work
    goes on, and the user should know."""


# Frames a warning walks past to the user's line: optimlab's own, and contextlib's, which a context manager
# used as a decorator (global_generators_given_back on compare) puts between optimlab's frames.
_NOT_USERS = (os.path.dirname(os.path.abspath(__file__)) + os.sep, contextlib.__file__)


def user_stacklevel() -> int:
    """The ``stacklevel`` at which a warning given by this function's caller names the first call from
    outside optimlab (the user's ``fit(...)``, ``compare(...)``, a script's ``flush()``), however deep in
    optimlab it is."""
    frame, level = sys._getframe(2), 2  # the warning's caller (level 1) is in optimlab
    while frame is not None and frame.f_code.co_filename.startswith(_NOT_USERS):
        frame, level = frame.f_back, level + 1
    return level


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates that look like ``name``: first those with a word that ``name`` starts ('he'
    and he_init, 'warm' and warmup_cosine; words split at '_', '-', '.' and spaces, case ignored) or, from
    4 letters, that contain it ('linear' and no_nonlinearity), the nearest first (difflib's ratio: 'step'
    offers steps before check_steps), then difflib's close ones (ratio >= 0.6:
    'batchnorm' and batch_norm), which put a two-letter word below the cutoff against any name of two
    words. One letter offers by difflib alone. The one did-you-mean rule of every registry and name."""
    candidates = list(candidates)
    word = name.strip().lower().replace("-", "_")
    containing = (
        [
            candidate
            for candidate in candidates
            if any(part.startswith(word) for part in re.split(r"[_\-. ]", candidate.lower()))
            or (len(word) >= 4 and word in candidate.lower())
        ]
        if len(word) >= 2  # one letter starts too many names to be a hint
        else []
    )
    # the nearest first ('step': steps before check_steps)
    containing.sort(key=lambda candidate: -difflib.SequenceMatcher(None, word, candidate.lower()).ratio())
    near = [*containing, *difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)]
    return list(dict.fromkeys(near))[:n]


def did_you_mean(near: Sequence[str], *, sentence: bool = False) -> str:
    """The hint offering the close names ``near`` (:func:`close_matches`), empty where there is none:
    `` (did you mean 'adam' or 'adamw'?)`` after a phrase, `` Did you mean 'adam'?`` as a sentence of its
    own (``sentence``). The one wording of every refused name's hint."""
    if not near:
        return ""
    question = f"you mean {' or '.join(map(repr, near))}?"
    return f" Did {question}" if sentence else f" (did {question})"


class UnknownNameError(OptimlabError, KeyError):
    """A name that no registry entry (or field) carries; the message lists close matches."""

    def __init__(
        self,
        kind: str,
        name: object,
        accepted: Iterable[str],
        *,
        none: str | None = None,
        also: str | None = None,
        meant: Sequence[str] = (),
    ) -> None:
        accepted = sorted(set(accepted))
        # ``meant``: what the name surely meant (torch.optim.Adam's torch.optim:Adam), said alone
        suggestions = list(meant) or close_matches(str(name), accepted)
        hint = did_you_mean(suggestions, sentence=True)
        # with nothing to accept, not "Accepted: none.", which reads as the name 'none' (a norm's); ``none``
        # says it in the kind's own words ("It takes no hyperparameters."); ``also``: a form of name beside
        # the list ("an import path package.module:attribute")
        listed = (
            f"Accepted: {', '.join(accepted)}{f', or {also}' if also else ''}."
            if accepted
            else none or f"There is no {kind}."
        )
        message = f"unknown {kind} {name!r}.{hint} {listed}"
        super().__init__(message)
        self.kind, self.name, self.accepted, self.suggestions = kind, name, accepted, suggestions

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return self.args[0]


class InvalidValueError(OptimlabError):
    """A known field holding a value outside what it accepts."""

    def __init__(self, field: str, value: object, accepted: str) -> None:
        super().__init__(f"invalid value {shown(value)} for {field}: accepted {accepted}.")
        self.field, self.value, self.accepted = field, value, accepted


def shown(value: object) -> str:
    """``value`` as a message names it: its repr, or where the repr is Python's default, a memory address
    (``<torch.optim.lr_scheduler.StepLR object at 0x7f...>``) a user can do nothing with, its type and,
    for a function or class, its name (``a function my_schedule``)."""
    text = repr(value)
    if not (text.startswith("<") and " at 0x" in text):
        return text
    name = getattr(value, "__qualname__", None)
    return f"{a_type(value)} {name}" if isinstance(name, str) else a_type(value)


def unprintable(text: str | os.PathLike[str], what: str, *, shown: str | None = None) -> str | None:
    """Why ``text``, a path or a name (``what``), is refused, where it holds a control character; None
    where it holds none: a name or path ``a\nb`` broke every line naming it in two (the results' 'results
    in run', the command that resumes it, which a shell's paste ran as two commands); such a name is a
    paste's slip, not one to keep. ``shown``: ``text`` as the refusal quotes it (a URL, its password
    hidden)."""
    controls = sorted({repr(c)[1:-1] for c in os.fspath(text) if unicodedata.category(c) == "Cc"})
    if not controls:
        return None
    said = os.fspath(text) if shown is None else shown
    return (
        f"{said!r} holds a control character ({', '.join(controls)}): accepted {what} of printable "
        "characters, which every line naming it keeps on one line"
    )


F = TypeVar("F", bound=Callable[..., Any])


def a_type(value: object) -> str:
    """``value``'s type with its article, ``"an int"``, ``"a str"``, ``"an Adam"``: what an edge message
    says was given; ``None`` as itself (a factory that ends without ``return``), not "a NoneType"."""
    return "None" if value is None else with_article(type(value).__name__)


def with_article(name: str) -> str:
    """``name`` after its article: "an int64", "a float32", "an LSTM" (an acronym is read letter by
    letter: "an SGD", "a GRU")."""
    acronym = name[:2].isupper()
    return f"{'an' if name[:1].lower() in ('aefhilmnorsx' if acronym else 'aeio') else 'a'} {name}"


def keywords_checked(function: F, *, forwards_to: Callable[..., Any] | None = None) -> F:
    """``function`` refusing an unknown keyword argument with :class:`UnknownNameError` (close matches
    and the accepted names, ``fit(total_stpes=...)``: did you mean 'total_steps'?) instead of Python's
    bare ``TypeError``; the public verbs of the Python API wear it. A function whose ``**kwargs`` go on
    to another takes that one's keywords too (``forwards_to``, ``functools.partial(keywords_checked,
    forwards_to=...)`` as its decorator)."""
    accepted = list(
        dict.fromkeys(
            name
            for f in (function, *([forwards_to] if forwards_to is not None else []))
            for name, parameter in inspect.signature(f).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) and name != "self"
        )
    )
    called = function.__qualname__.removesuffix(".__init__")  # a class's __init__: as it is called

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name in kwargs:
            if name not in accepted:
                raise UnknownNameError(f"{called}() argument", name, accepted)
        return function(*args, **kwargs)

    return checked  # type: ignore[return-value]


def forwarded_keywords_checked(
    options: Mapping[str, Any],
    called: str,
    forwarded_to: Iterable[Callable[..., Any]],
    given: Mapping[str, str],
    *,
    also: Iterable[str] = (),
    shown: Callable[[Any], Any] = a_type,
) -> None:
    """Refuse the ``options`` that ``called`` (``"lr_range_test(trainer)"``) passes on to
    ``forwarded_to`` where it gives the argument itself (``given``: its name -> the refusal's accepted
    value, what gives it): passed on beside it, Python's TypeError "got multiple values", or ignored; and
    one that none of them takes, with close matches among their keyword-only arguments and ``also`` (its
    own). ``shown``: how a refused value is said."""
    keywords = (
        name
        for function in forwarded_to
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is parameter.KEYWORD_ONLY
    )
    accepted = sorted({*also, *keywords} - set(given))
    for name, value in options.items():
        if name in given:
            raise InvalidValueError(f"{name} of {called}", shown(value), given[name])
        if name not in accepted:
            raise UnknownNameError(f"{called} argument", name, accepted)
