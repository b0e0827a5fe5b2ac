"""The evidence gallery: tutorial claims and classic results, each tested by runs and judged by its numbers.

>>> from optimlab.gallery import experiment_names
>>> "small_init" in experiment_names()
True
"""

from optimlab.gallery import (  # noqa: F401  (fill the registry)
    adam_logistic,
    batch_norm,
    first_order,
    glorot_bengio,
    he_init,
    init_scale,
    input_scale,
    lr_schedule,
    no_nonlinearity,
    optimizer_ranking,
    tuning_protocol,
    weight_decay,
)
from optimlab.gallery.experiment import _REGISTRY, SIZES, Evidence, Experiment, Outcome
from optimlab.gallery.verdict import Check, Verdict

__all__ = ["SIZES", "Check", "Evidence", "Experiment", "Outcome", "Verdict", "experiment_names", "get_experiment"]


def experiment_names() -> list[str]:
    return _REGISTRY.names()


def get_experiment(name: str) -> Experiment:
    """The experiment registered as ``name``; an unknown name raises with close matches."""
    return _REGISTRY.get(name).obj
