"""Optimizers as chains of gradient transformations, with a ``torch.optim`` drop-in shell."""

from optimlab.optim.base import GradientTransformation, chain, identity

__all__ = ["GradientTransformation", "chain", "identity"]
