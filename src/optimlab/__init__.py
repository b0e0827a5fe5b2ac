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
    "find_lr",
    "fit",
    "get_registry",
]


# The verbs of the Python API, each loaded from its home on first use (import optimlab stays light).
_VERBS = {
    "compare": "optimlab.study.user_compare",
    "diagnose": "optimlab.doctor",
    "find_lr": "optimlab.doctor",
    "fit": "optimlab.train",
}


def __getattr__(name: str) -> Any:
    """``optimlab.fit``, ``optimlab.diagnose``, ``optimlab.find_lr`` and ``optimlab.compare`` load the
    training loop, the doctor and the study engine on first use; ``optimlab.optim``, ``optimlab.doctor``
    (any public submodule) are imported on first use, as ``torch.optim`` is reached from ``import torch``."""
    import importlib

    if name in _VERBS:
        return getattr(importlib.import_module(_VERBS[name]), name)
    if name.isidentifier() and not name.startswith("_"):  # not __main__: it runs the command line
        import importlib.util

        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'optimlab' has no attribute {name!r}")
