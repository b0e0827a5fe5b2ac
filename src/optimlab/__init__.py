"""optimlab: the optimization of deep-learning training, every technique by name."""

from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.registry import categories, get_registry

__version__ = "0.1.0"

__all__ = ["get_registry", "categories", "OptimlabError", "UnknownNameError", "InvalidValueError"]
