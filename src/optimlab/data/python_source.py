"""A character-level text corpus that every Python installation has: the standard library's own source.

For next-character language modelling offline (Karpathy's char-level nanoGPT on Shakespeare, with code
instead of verse; Vaswani et al., Attention Is All You Need, 2017, https://arxiv.org/abs/1706.03762).
The corpus is the top-level ``.py`` files beside ``os.py`` in name order, concatenated, and its first
``chars`` characters; it is the same on every machine with the same Python version (the standard
library changes between versions, and so do the numbers).

Characters map to a fixed vocabulary of 97 ids: printable ASCII (space to ``~``) as 0..94, newline as
95, anything else (tabs, non-ASCII) as 96. The text is cut into windows of ``context`` characters, with
stride ``context``; example i is the window ``x`` (token ids stored as float32, as every input in
:mod:`optimlab.data`) and its next characters ``y`` (int64, one per position). The data set brings its
loss: cross-entropy of per-position logits (N, T, 97) against ``y`` (N, T), averaged over positions.

>>> data = python_source(0, chars=2_000, context=16)
>>> data.examples.x.shape, data.examples.y.shape, data.num_classes
(torch.Size([124, 16]), torch.Size([124, 16]), 97)
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optimlab.data.examples import Examples, TensorPair
from optimlab.errors import InvalidValueError
from optimlab.registry import Capability, Interval, new_registry

__all__ = ["VOCABULARY_SIZE", "NextTokenCrossEntropy", "encode", "python_source", "standard_library_text"]

_REGISTRY = new_registry("dataset")

_FIRST, _LAST = 32, 126  # printable ASCII: space .. ~
NEWLINE_ID, UNKNOWN_ID = _LAST - _FIRST + 1, _LAST - _FIRST + 2
VOCABULARY_SIZE = UNKNOWN_ID + 1


class NextTokenCrossEntropy(nn.Module):
    """Mean cross-entropy of logits (N, T, V) against next-token ids (N, T), over all N * T positions."""

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(logits.flatten(0, -2), targets.flatten())


def standard_library_text(chars: int) -> str:
    """The first ``chars`` characters of the standard library's top-level modules, in name order."""
    folder = Path(os.__file__).parent
    pieces, length = [], 0
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        pieces.append(text)
        length += len(text)
        if length >= chars:
            break
    return "".join(pieces)[:chars]


def encode(text: str) -> Tensor:
    """Character ids in the fixed 97-symbol vocabulary (int64)."""
    codes = torch.tensor([ord(c) for c in text], dtype=torch.int64)
    ids = torch.full_like(codes, UNKNOWN_ID)
    printable = (codes >= _FIRST) & (codes <= _LAST)
    ids[printable] = codes[printable] - _FIRST
    ids[codes == ord("\n")] = NEWLINE_ID
    return ids


@_REGISTRY.register(
    "python_source",
    summary="Next-character prediction on the Python standard library's source (97 symbols, windows of "
    "context characters); per-position targets: --model transformer gets embedded ids, per-position "
    "causal outputs.",
    paper="Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762 (char-level LM as in nanoGPT)",
    accepts={"chars": Interval(2, None, integer=True), "context": Interval(1, None, integer=True)},
    aliases=("stdlib_text",),
    capabilities=(Capability.CLASSIFICATION, Capability.SEQUENCES, Capability.TOKENS, Capability.CUSTOM_LOSS),
)
def python_source(seed: int, *, chars: int = 200_000, context: int = 64) -> Examples:
    """``(chars - 1) // context`` windows of ``context`` characters; the seed only decides the split."""
    del seed  # fixed text: the seed only decides the split
    text = standard_library_text(chars)
    if len(text) < chars:  # cut short, fewer windows than asked for, without a word
        raise InvalidValueError(
            "dataset 'python_source' hyperparameter 'chars'",
            chars,
            f"at most {len(text):,} characters, all that the top-level modules of this Python's standard "
            "library hold",
        )
    ids = encode(text)
    windows = (len(ids) - 1) // context
    if windows < 1:
        raise InvalidValueError(
            "dataset 'python_source' hyperparameter 'chars'",
            chars,
            f"at least context + 1 = {context + 1} characters (one window and its next one)",
        )
    x = ids[: windows * context].view(windows, context)
    y = ids[1 : windows * context + 1].view(windows, context)
    return Examples(
        name="python_source",
        task="classification",
        input_shape=(context,),
        num_classes=VOCABULARY_SIZE,
        examples=TensorPair(x.float(), y),
        loss=NextTokenCrossEntropy(),
        vocab_size=VOCABULARY_SIZE,
        next_token=True,
    )
