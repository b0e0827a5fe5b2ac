"""The user's own code, named by import path: ``package.module:attribute``.

One home for reading such a path: a registry lookup of a name that is an import path
(:meth:`optimlab.registry.Registry.resolve`) imports it here and registers it as an entry of its
category, so recipes, studies and every CLI flag that takes a name take the user's model, data set,
loss or optimizer the same way. The path is the entry's name as written (Python names are case
sensitive), so a recipe stores it and a resumed study, or a worker process, imports the same code.

The current directory is searched after ``sys.path`` (``python -m`` searches it first), so that
``optimlab train --model mynets:build`` finds ``./mynets.py`` from the ``optimlab`` command too,
and a file there never hides an installed module; one hidden (``./code.py``) is said where its
attribute is missing.
This module imports no torch: the CLI checks names with it before torch loads.

>>> is_import_path("mypkg.nets:build"), is_import_path("mlp"), is_import_path("C:/data.csv")
(True, False, False)
>>> import_object("collections:OrderedDict", "model").__name__
'OrderedDict'
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from optimlab.errors import InvalidValueError, OptimlabError, close_matches, did_you_mean

__all__ = [
    "IMPORT_PATH",
    "call_user",
    "check_required",
    "code_folders",
    "defined_at",
    "extend_sys_path",
    "factory_signature",
    "import_object",
    "is_import_path",
    "named_by_import",
    "positional_only",
    "raised_in_user_code",
    "refuse_file_path",
]

T = TypeVar("T")

IMPORT_PATH = "package.module:attribute"
_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_PATTERN = re.compile(rf"{_DOTTED}:{_DOTTED}")
_FILE_PATH = re.compile(rf"(?P<file>.+?)(?P<suffix>\.py)?:(?P<attribute>{_DOTTED})")


def is_import_path(text: object) -> bool:
    """Whether ``text`` reads as ``package.module:attribute`` rather than a registered name or a file."""
    return isinstance(text, str) and _PATTERN.fullmatch(text.strip()) is not None


def named_by_import(text: str) -> tuple[list[str], str]:
    """What an unknown name of a category that takes import paths is told beside its names: the import
    path ``text`` meant where it holds a dot where the colon goes (``torch.optim.Adam``: its module
    imports and holds the attribute), and the form of one (:data:`IMPORT_PATH`)."""
    module_name, _, attribute = text.strip().rpartition(".")
    meant = []
    if module_name and ":" not in text and re.fullmatch(_DOTTED, text.strip()):
        try:
            if hasattr(importlib.import_module(module_name), attribute):
                meant = [f"{module_name}:{attribute}"]
        except Exception:  # no such module, or one that raises: no suggestion
            pass
    return meant, f"an import path {IMPORT_PATH}"


def refuse_file_path(text: str, what: str) -> None:
    """Refuse ``text`` where it names a Python file, ``nets/mine.py:build`` (or its path without the
    ``.py``, ``nets/mine:build``), for ``what``: the one line says the import path to write, and the folder
    to run from, rather than 'unknown model'."""
    found = _FILE_PATH.fullmatch(text.strip())
    in_folder = found is not None and any(sep in found["file"] for sep in "/\\")
    if found is None or not (found["suffix"] or in_folder) or os.path.exists(text.strip()):
        return
    folder, stem = os.path.split(found["file"])
    here = os.path.realpath(folder or os.curdir) == os.path.realpath(os.getcwd())
    run_from = "" if here else f", run from the folder {folder!r} or with it on PYTHONPATH"
    file = found["file"] + (found["suffix"] or "")
    raise OptimlabError(
        f"cannot import {file!r} for {what} {text!r}: an import path names a module, not its file: "
        f"{stem}:{found['attribute']}{run_from}"
    )


def _import_module(module_name: str, path: str, what: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        cwd = os.getcwd()
        if error.name == module_name.split(".")[0] and cwd not in sys.path:
            sys.path.append(cwd)
            return _import_module(module_name, path, what)
        if module_name.endswith(".py"):  # 'mynets.py:build': a file's name where a module's goes
            refuse_file_path(path, what)
        # not the module or a package above it (tflite_nets importing tflite): one the user's module imports
        if error.name is not None and not (module_name + ".").startswith(error.name + "."):
            reason = f"{type(error).__name__}: {error}{_where(error)}"
        else:
            reason = (
                f"{type(error).__name__}: {error} (is its folder on PYTHONPATH, or the package installed?)"
            )
    except SystemExit as error:  # it ended the command with its own exit code, and not a word
        reason = f"it called sys.exit({error.code!r}){_where(error)}"
    except Exception as error:  # the user's module raised while importing: say which, why and where
        reason = f"{type(error).__name__}: {_reason(str(error))}{_where(error)}"
    raise OptimlabError(f"cannot import {module_name!r} for {what} {path!r}: {reason}") from None


def _folders(*folders: str) -> tuple[str, ...]:
    """``folders`` as prefixes of the files in them, each as given and as its real path."""
    return tuple(os.path.join(path, "") for folder in folders for path in {folder, os.path.realpath(folder)})


# Where no user's code lives: optimlab's own package, Python's standard library (importlib, which
# raises a module's SyntaxError; json, a module's json.loads), and frozen modules ('<frozen ...>').
_OPTIMLAB = _folders(os.path.dirname(__file__))
_NOT_USERS = (*_OPTIMLAB, *_folders(sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")), "<")


def _where(error: BaseException, *, or_last: bool = False) -> str:
    """`` (mynets.py, line 3)``: the last line of the user's code in ``error``'s traceback (not
    optimlab's, not an installed package's, not Python's import machinery); where there is none, the
    traceback's last line outside optimlab with ``or_last`` (an installed package's: a config class
    that checks its fields), else ''; not optimlab's own line, which a call that Python refused (a
    missing argument) ends on. A SyntaxError's own message names its file and line."""
    if isinstance(error, SyntaxError):
        return ""
    frames = traceback.extract_tb(error.__traceback__)
    own = [f for f in frames if _users(f.filename)]
    others = [f for f in frames if not f.filename.startswith(_OPTIMLAB)] if or_last else []
    where = (own or others or [None])[-1]
    return _at(where.filename, where.lineno) if where is not None else ""


def _at(filename: str, line: int) -> str:
    """`` (nets.py, line 12)``: a line of code as a refusal names it."""
    return f" ({os.path.basename(filename)}, line {line})"


def _users(filename: str) -> bool:
    """Whether ``filename`` holds the user's code: not optimlab's, an installed package's or Python's."""
    return not filename.startswith(_NOT_USERS) and "site-packages" not in filename


def raised_in_user_code(error: BaseException, *, told: str | None = None) -> str | None:
    """``error`` in one line (``told``: the words of optimlab's refusal that wraps it, kept) with the
    innermost line of the user's code in its traceback (``RuntimeError: boom (mynets.py, line 12)``);
    None where it holds none. Which side is at fault is not guessed from where it stopped: a typo in the
    user's forward (``self.lienar``) raises in torch's ``Module.__getattr__``, a batch of the wrong shape
    in the user's ``x @ self.w``."""
    where = _where(error)
    if not where:
        return None
    return f"{told or f'{type(error).__name__}: {_reason(str(error))}'}{where}"


def extend_sys_path(folders: Sequence[str]) -> None:
    """Search ``folders`` too, after ``sys.path``: a worker process given its driver's ``sys.path`` imports
    the user's code as the driver did (from a script's own folder, or a folder added at run time)."""
    sys.path.extend(folder for folder in folders if folder not in sys.path)


def code_folders() -> list[str]:
    """The folders this process finds the user's code in, for another process to search too: the current
    directory and ``sys.path``, without the interpreter's own (its standard library and site-packages)."""
    own = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    folders = []
    for folder in (os.getcwd(), *sys.path):
        real = os.path.realpath(folder or os.getcwd())
        ours = any(real == p or real.startswith(p + os.sep) for p in own) or "site-packages" in real
        if os.path.isdir(real) and not ours and real not in folders:
            folders.append(real)
    return folders


def _offered(owner: Any, missing: str) -> str:
    """What ``owner`` (a module, a class) holds in place of ``missing``: the close names, else its own
    public names (a module's, not those it imported: torch, nn), ten at most."""
    public = [n for n in dir(owner) if not n.startswith("_")]
    close = close_matches(missing, public)
    if close:
        return did_you_mean(close)
    if inspect.ismodule(owner):
        held = {n: getattr(owner, n, None) for n in public}
        home = owner.__name__
        public = [
            n for n, v in held.items() if not inspect.ismodule(v) and getattr(v, "__module__", home) == home
        ]
    return f" (it has: {', '.join(public[:10])}{', ...' if len(public) > 10 else ''})" if public else ""


def import_object(path: str, what: str) -> Any:
    """The object at ``path`` (``package.module:attribute``, the attribute may be dotted); ``what``
    (``model``, ``dataset``...) names it in the errors, which say what is missing."""
    if not is_import_path(path):
        raise InvalidValueError(f"{what} import path", path, IMPORT_PATH)
    module_name, _, attribute = path.strip().partition(":")
    module = _import_module(module_name, path, what)
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise OptimlabError(
                f"{module_name!r} has no {attribute!r} for {what} {path!r}"
                f"{_hidden(module_name) or _offered(target, part)}"
            )
        target = getattr(target, part)
    return target


def _hidden(module_name: str) -> str:
    """Where the module imported is not the current folder's file or package of that name, which it
    hides (the current folder is searched last): say so, ``code.py`` beside the standard library's."""
    top = module_name.split(".")[0]
    found = getattr(sys.modules.get(top), "__file__", None)
    for mine in (f"{top}.py", os.path.join(top, "__init__.py")):
        if os.path.isfile(mine) and (found is None or not os.path.samefile(found, mine)):
            return (
                f": {top!r} imported {found or 'a module built into Python'}, which hides {mine} in the "
                f"current folder (searched after the installed modules): rename yours"
            )
    return ""


def factory_signature(path: str, what: str, target: Callable[..., Any]) -> inspect.Signature:
    """The signature of the user's factory ``target``, which says what it is called with; one Python
    cannot read (a C type such as ``int``, or a ``functools.partial`` of one) is refused in one line."""
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"{what} {path!r}",
            f"{type(target).__name__} {getattr(target, '__name__', '')}".strip() + " (no Python signature)",
            "a Python function or class whose arguments Python can read (wrap it in a def)",
        ) from None


def defined_at(target: Any) -> str:
    """`` (nets.py, line 3)``: where the user's factory ``target`` (a function or class, or a partial of
    one) is defined, as :func:`_where` names a line: a package may re-export it from a file its import
    path does not name. '' where Python cannot say (a C type, a callable object, a wrapper loop) or it is
    no user's code (``torch.nn:Linear``: torch's file is not the one to mend)."""
    while isinstance(target, functools.partial):
        target = target.func
    try:
        target = inspect.unwrap(target)
        file, (_, line) = inspect.getsourcefile(target), inspect.getsourcelines(target)
    except (TypeError, OSError, ValueError):  # ValueError: inspect.unwrap's wrapper loop
        return ""
    return _at(file, line) if file and _users(file) else ""


def positional_only(signature: inspect.Signature, keywords: dict[str, Any]) -> list[Any]:
    """The values of ``signature``'s positional-only parameters (``def build(input_shape, num_outputs, /)``),
    taken out of ``keywords``, in order up to the last one given, a default standing for one not given:
    Python takes those by position alone."""
    leading = [p for p in signature.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    last = max((i for i, p in enumerate(leading) if p.name in keywords), default=-1)
    return [keywords.pop(p.name) if p.name in keywords else p.default for p in leading[: last + 1]]


# Where a recipe sets the keywords of the user's factory of each kind.
_OPTIONS = {"model": "model.options", "dataset": "data.options", "loss": "training.loss_options"}


def check_required(
    path: str,
    what: str,
    target: Callable[..., Any],
    signature: inspect.Signature,
    given: set[str],
    data_keywords: tuple[str, ...] = (),
) -> None:
    """A parameter without a default that nothing fills (not in ``given``) of ``target``, the factory at
    ``path``, is named when the factory is looked up, with where it is defined and what fills one, rather
    than as the TypeError of a call with it missing."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    missing = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in variadic and p.default is p.empty and p.name not in given
    ]
    if missing:
        by_data = f", or named {' / '.join(data_keywords)}, which the data gives" if data_keywords else ""
        raise InvalidValueError(
            f"the parameters of {what} {path!r}{defined_at(target)}",
            ", ".join(missing),
            f"parameters with a default, which {_OPTIONS[what]} may set{by_data}",
        )


def call_user(what: str, path: str, target: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``target(*args, **kwargs)``, the user's ``what`` at ``path``; an exception raised in it is said in
    one line, with the line of the user's code it came from, rather than as a traceback (an optimlab
    error, already one line, passes as it is)."""
    try:
        return target(*args, **kwargs)
    except OptimlabError:
        raise
    except SystemExit as error:  # it ended the command with its own exit code, and not a word
        raise OptimlabError(
            f"{what} {path!r} called sys.exit({error.code!r}){_where(error, or_last=True)}"
        ) from None
    except Exception as error:
        reason, at = _reason(str(error)), _where(error, or_last=True)
        raise OptimlabError(f"{what} {path!r} raised {type(error).__name__}: {reason}{at}") from error


def _reason(message: str) -> str:
    """The first line of an exception's ``message``, with the next one where it ends in a colon: the
    reason of a heading such as transformers' "Validation error for field 'n_layer':"."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()] or [""]
    return " ".join(lines[:2]) if lines[0].endswith(":") else lines[0]
