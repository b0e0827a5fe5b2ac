"""The standard library's source as a character corpus: fixed vocabulary, next-character targets, loss."""

import os
from pathlib import Path

import pytest
import torch

from optimlab.data.python_source import (
    NEWLINE_ID,
    UNKNOWN_ID,
    VOCABULARY_SIZE,
    NextTokenCrossEntropy,
    encode,
    python_source,
    standard_library_text,
)
from optimlab.errors import InvalidValueError


def test_the_corpus_is_the_first_modules_of_the_standard_library_in_name_order():
    first = min(Path(os.__file__).parent.glob("*.py")).read_text(encoding="utf-8")
    assert standard_library_text(300) == first[:300]
    assert len(standard_library_text(len(first) + 10)) == len(first) + 10  # continues into the next module


def test_encoding_maps_printable_ascii_newline_and_the_rest():
    assert encode(" ~\n\té").tolist() == [0, 94, NEWLINE_ID, UNKNOWN_ID, UNKNOWN_ID]
    assert VOCABULARY_SIZE == 97


def test_targets_are_the_inputs_shifted_by_one_character():
    data = python_source(0, chars=1000, context=10)
    x, y = data.examples.x, data.examples.y
    assert x.shape == y.shape == (99, 10) and x.dtype == torch.float32 and y.dtype == torch.int64
    ids = encode(standard_library_text(1000))
    assert torch.equal(x.long().flatten(), ids[:990]) and torch.equal(y.flatten(), ids[1:991])
    with pytest.raises(InvalidValueError, match="at least context"):
        python_source(0, chars=5, context=10)


def test_more_characters_than_the_standard_library_holds_are_refused_not_cut_short():
    """chars 10**8 gave the corpus's 4.7 million characters (Python 3.11) without a word, fewer windows
    than the (chars - 1) // context its docstring promises."""
    whole = sum(
        len(p.read_text(encoding="utf-8", errors="replace")) for p in Path(os.__file__).parent.glob("*.py")
    )
    assert python_source(0, chars=whole, context=1000).examples.x.shape == ((whole - 1) // 1000, 1000)
    with pytest.raises(InvalidValueError) as refused:
        python_source(0, chars=whole + 1)
    assert str(refused.value) == (
        f"invalid value {whole + 1} for dataset 'python_source' hyperparameter 'chars': accepted at most "
        f"{whole:,} characters, all that the top-level modules of this Python's standard library hold."
    )


def test_the_loss_is_cross_entropy_over_every_position():
    logits, targets = torch.randn(3, 5, VOCABULARY_SIZE), torch.randint(0, VOCABULARY_SIZE, (3, 5))
    expected = torch.stack(
        [
            torch.nn.functional.cross_entropy(logits[i, t : t + 1], targets[i, t : t + 1])
            for i in range(3)
            for t in range(5)
        ]
    ).mean()
    torch.testing.assert_close(NextTokenCrossEntropy()(logits, targets), expected)
