"""Optimizers that wrap another one (any optimlab or torch optimizer) and add to its step."""

from optimlab.optim.wrappers.lookahead import Lookahead
from optimlab.optim.wrappers.sam import SAM
from optimlab.optim.wrappers.wrapper import WrappedOptimizer

__all__ = ["SAM", "Lookahead", "WrappedOptimizer"]
