"""The evidence gallery: tutorial claims and classic results, each tested by runs and judged by its numbers.

Every experiment (``optimlab gallery`` lists them) trains its runs on built-in data over several seeds,
computes a verdict (supported, partly supported, contradicted, inconclusive) from the measured numbers only, and writes
a page with its figures, the verdict's numbers, the recipe of every run and the sources it tests.

>>> from optimlab.gallery import experiment_names, get_experiment
>>> "small_init" in experiment_names(), get_experiment("he_init").sources[0].startswith("He et al.")
(True, True)
"""

from optimlab.gallery import claims  # noqa: F401  (every experiment registers)
from optimlab.gallery.experiment import (
    SIZES,
    Evidence,
    Experiment,
    Outcome,
    experiment_names,
    experiments,
    get_experiment,
)
from optimlab.gallery.publish import run_experiment, run_gallery
from optimlab.gallery.verdict import LABELS, Check, Verdict

__all__ = [
    "LABELS",
    "SIZES",
    "Check",
    "Evidence",
    "Experiment",
    "Outcome",
    "Verdict",
    "experiment_names",
    "experiments",
    "get_experiment",
    "run_experiment",
    "run_gallery",
]
