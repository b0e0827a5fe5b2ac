"""The edge errors' shared wording: the hint offering close names, written in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

import optimlab
from optimlab.cli._options import choice
from optimlab.errors import UnknownNameError, close_matches, did_you_mean

SOURCE = Path(optimlab.__file__).parent


def test_the_hint_names_each_close_name_or_says_nothing():
    assert did_you_mean([]) == "" and did_you_mean([], sentence=True) == ""
    assert did_you_mean(["adam"]) == " (did you mean 'adam'?)"
    assert did_you_mean(["adam", "adamw"], sentence=True) == " Did you mean 'adam' or 'adamw'?"


def test_a_refused_name_offers_the_close_names_difflib_finds():
    """Truth: difflib's own close matches of 'adamm' among the names; the registry's sentence and the
    CLI's choice both say them as :func:`did_you_mean` does."""
    names = ["adam", "adamw", "sgd", "lion"]
    near = close_matches("adamm", names)
    assert near and set(near) <= {"adam", "adamw"}
    assert did_you_mean(near, sentence=True) in str(UnknownNameError("optimizer", "adamm", names))
    with pytest.raises(typer.BadParameter) as refused:
        choice(*names)("adamm")
    assert refused.value.message.endswith(did_you_mean(near, sentence=True))  # a sentence before '(see'


def test_no_module_writes_the_hint_by_hand():
    """Five modules each built their own "did you mean" sentence (list, the CLI's choices, user code, the
    user's comparison, the registry), in four wordings."""
    built = [
        f"{path.relative_to(SOURCE)}:{number}"
        for path in SOURCE.rglob("*.py")
        if path.name != "errors.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"you mean \{", line, flags=re.IGNORECASE)
    ]
    assert built == []
