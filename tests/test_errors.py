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


@pytest.mark.parametrize(
    "typed, names, offered",
    [
        (
            "warm",
            ["warmup_cosine", "warmup_stable_decay", "cosine", "warm_restarts"],
            ["warmup_cosine", "warmup_stable_decay", "warm_restarts"],
        ),
        ("he", ["he_init", "small_init", "xavier_uniform"], ["he_init"]),
        ("linearity", ["no_nonlinearity", "relu"], ["no_nonlinearity"]),
        ("batchnorm", ["batch_norm", "layer_norm"], ["batch_norm"]),  # difflib's, one letter off
        ("a", ["adam", "adamw", "sgd"], []),  # one letter starts too many names to be a hint
        ("step", ["check_steps", "steps", "lr"], ["steps", "check_steps"]),
    ],
)
def test_every_registry_offers_the_names_a_word_typed_starts(typed, names, offered):
    """Only the gallery offered he_init for 'he' (its own rule, experiments_near); every other registry
    went by difflib alone, whose ratio of 'warm' to warmup_cosine (0.47) or 'he' to he_init (0.57) is under
    its cutoff, so 'warm' offered no warmup schedule. Truth: the names by hand, each with a word the typed
    one starts, or containing it from 4 letters; the nearest first (a keyword 'step': steps)."""
    assert sorted(close_matches(typed, names)) == sorted(offered)
    assert close_matches(typed, names)[:1] == offered[:1]
    said = re.search(r"Did you mean (.*?)\? Accepted", str(UnknownNameError("schedule", typed, names)))
    assert sorted(said[1].split(" or ") if said else []) == sorted(map(repr, offered))
