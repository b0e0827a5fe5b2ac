"""Techniques by name: activations (with init gains), initializers, norm layers, input scaling, losses.

Each module fills one registry category and has its own ``create(name, ...)``; this package re-exports
the functions that act on whole models and modules.
"""

from optimlab.techniques.activations import activation_name, gain, module_gain
from optimlab.techniques.init import KeptWeightsWarning, apply, layer_gains, lsuv
from optimlab.techniques.norms import Norm, norm_name, swap_norm
from optimlab.techniques.scaling import Scaler

__all__ = [
    "KeptWeightsWarning",
    "Norm",
    "Scaler",
    "activation_name",
    "apply",
    "gain",
    "layer_gains",
    "lsuv",
    "module_gain",
    "norm_name",
    "swap_norm",
]
