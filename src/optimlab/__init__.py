"""optimlab: the optimization of deep-learning training, every technique by name."""

from typing import Any

from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.registry import categories, get_registry

__version__ = "0.1.0"

__all__ = [
    "InvalidValueError",
    "OptimlabError",
    "UnknownNameError",
    "categories",
    "compare",
    "diagnose",
    "get_registry",
]


def __getattr__(name: str) -> Any:
    """``optimlab.diagnose`` and ``optimlab.compare`` load the doctor and the study engine on first use."""
    if name == "diagnose":
        from optimlab.doctor import diagnose

        return diagnose
    if name == "compare":
        from optimlab.study.user_compare import compare

        return compare
    raise AttributeError(f"module 'optimlab' has no attribute {name!r}")
