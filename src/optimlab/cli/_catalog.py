"""The registries' listing as plain rows, cached on disk so that ``list`` and name checks need no torch.

Filling the registries imports every catalog module, and with them torch (about 2.5 s of CPU here,
8 s of wall time on a busy machine). The rows depend only on optimlab's source, so they are kept in
the user's cache folder under a fingerprint of that source (every module's path, size and mtime):
an edited or upgraded optimlab gets a fresh listing, built once by importing the registries.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optimlab
from optimlab.errors import UnknownNameError
from optimlab.number_text import plural
from optimlab.registry import normalize_name
from optimlab.user_code import is_import_path, named_by_import
from optimlab.user_paths import cache_folder

COLUMNS = ("category", "name", "aliases", "summary", "hyperparameters", "left_out", "paper")
PACKAGE = Path(optimlab.__file__).parent


def fingerprint() -> str:
    """A hash of every source file's path, size and mtime: stat calls only, about 2 ms."""
    digest = hashlib.sha256(optimlab.__version__.encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(PACKAGE)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def live_rows() -> list[dict[str, Any]]:
    """Every entry of every registry, read from the registries themselves (imports torch)."""
    from optimlab.registry import categories, get_registry

    rows = []
    for category in categories():
        registry = get_registry(category)
        # the user's code imported in this process is not optimlab's catalog: never cached
        for entry in (e for e in registry if "user" not in e.capabilities):
            rows.append(
                {
                    "category": category,
                    "imports": registry.adapt_import is not None,  # takes the user's code by import path
                    "name": entry.name,
                    "aliases": list(entry.aliases),
                    "summary": entry.summary,
                    # a mapping, as --format json gives it: one string left a reader to parse Python's repr
                    "hyperparameters": {h.name: _as_json(h.default) for h in entry.hyperparameters},
                    # what a default None gives, worked out from the run: 'decay_fraction=None' read as none
                    "left_out": {h.name: h.left_out for h in entry.hyperparameters if h.left_out},
                    # as Python writes them, for the text listing: JSON's lists read back as tuples turned
                    # every list into a tuple, and a default JSON cannot hold stopped the listing
                    "defaults": ", ".join(
                        f"{h.name}={h.default!r}" for h in entry.hyperparameters if not h.left_out
                    ),
                    "paper": entry.paper,
                }
            )
    return rows


def _as_json(value: Any) -> Any:
    """``value`` as the JSON the cache stores and reads back alike: a tuple (betas) as its list, at any
    depth; a value JSON has no type for (a dtype, a function) as its repr, where json.dumps raised."""
    if isinstance(value, (tuple, list)):
        return [_as_json(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _as_json(item) for key, item in value.items()}
    return value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)


def rows() -> list[dict[str, Any]]:
    """The cached listing of this source tree, built and stored on first use."""
    folder = cache_folder()
    if folder is None:  # no home to keep it in: read from the registries each time
        return live_rows()
    path = folder / f"catalog-{fingerprint()}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    found = live_rows()
    try:  # a cache that cannot be written costs speed, never the listing
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob("catalog-*.json"):
            old.unlink(missing_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(found))
        os.replace(partial, path)
    except OSError:
        pass
    return found


def listing(category: str | None = None, pattern: str | None = None) -> list[dict[str, Any]]:
    """Rows of one category (or all; named by its name or its plural), filtered by a shell wildcard on
    their names and aliases, read as a name is everywhere (``ADAM*``, ``one-cycle``): it matched the names alone, case and dashes included,
    so ``glorot*`` found nothing though ``--init glorot`` is xavier_normal."""
    found = rows()
    if category is not None:
        known = list(dict.fromkeys(row["category"] for row in found))
        # a category by its plural too (`optimlab list workloads`, `losses`): it was refused
        named = normalize_name(category)
        named = {plural(name): name for name in known}.get(named, named)
        if named not in known:
            raise UnknownNameError("category", category, known)
        found = [row for row in found if row["category"] == named]
    if pattern is None:
        return found
    wanted = normalize_name(pattern)
    return [
        row for row in found if any(fnmatch.fnmatchcase(n, wanted) for n in (row["name"], *row["aliases"]))
    ]


def takes_import_paths(category: str) -> bool:
    """Whether ``category`` takes the user's code by import path (its registry's ``adapt_import``)."""
    return any(row["imports"] for row in listing(category))


def check_name(category: str, value: str, flag: str) -> None:
    """Raise, naming ``flag``, when ``value`` is neither a name nor an alias of ``category``. An import
    path (``mypkg.nets:build``) passes: it is imported, and checked, where it is used."""
    if is_import_path(value):
        return
    accepted = [name for row in listing(category) for name in (row["name"], *row["aliases"])]
    if normalize_name(value) not in accepted:
        meant, form = named_by_import(value) if takes_import_paths(category) else ([], None)
        raise UnknownNameError(f"{category} (for {flag})", value, accepted, also=form, meant=meant)
