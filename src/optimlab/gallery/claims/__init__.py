"""The gallery's experiments, one module each (two for a pair of claims sharing their runs).

Importing this package imports every module in it, so a new experiment registers by existing: write its
module here with ``register(Experiment(...))`` (:mod:`optimlab.gallery.experiment`), and its made-up
numbers for each verdict in ``tests/gallery/test_experiment_verdicts.py``.
"""

from optimlab.registry import import_submodules

__all__ = ["MODULES"]

MODULES = import_submodules(__name__)  # the experiments' modules, by name; importing them registered them
