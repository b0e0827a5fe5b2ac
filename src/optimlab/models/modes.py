"""A model's modes, each module's own: ``model.train(mode)`` sets every submodule alike, so a batch norm
the user froze (``bn.eval()`` in a fine-tune's factory) came back training after any block that switched
the model to evaluate or to measure it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

__all__ = ["modes_kept"]


@contextlib.contextmanager
def modes_kept(model: nn.Module) -> Iterator[None]:
    """Whatever modes the block switches ``model``'s modules to, each gets its own back after it: a
    batch norm the user froze in a training model stays frozen past an evaluation."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield
    finally:
        for module, training in modes:  # parents first: each module's call leaves its children to theirs
            module.train(training)
