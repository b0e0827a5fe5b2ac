"""Activation functions by name, each with the initialization gain that suits it.

Every entry registers the ``torch.nn`` module class itself, so ``create("leaky_relu",
negative_slope=0.2)`` returns a fresh ``nn.LeakyReLU(0.2)`` and the hyperparameters are the module's own
keywords (stored under the same attribute names, which is how :func:`module_gain` reads them back).

The gain of an activation f is the factor by which a variance-scaling initializer multiplies its
standard deviation so that a layer followed by f keeps its signal's scale:

* where PyTorch tabulates one (``torch.nn.init.calculate_gain``) we use that value: identity and
  sigmoid 1, tanh 5/3, relu sqrt(2), leaky_relu and prelu sqrt(2 / (1 + a^2)), selu 3/4. SELU's 3/4 is
  torch's choice, not the paper's: Klambauer et al. draw weights of variance 1 / fan_in (gain 1 with
  ``kaiming_*``, i.e. ``lecun_normal``), which makes mean 0, variance 1 a stable fixed point (and
  E[selu(z)^2] = 1, so the rule below would also give 1); torch's documentation says to use "linear"
  for self-normalizing networks and that 3/4 trades that fixed point for steadier gradients. Use
  ``lecun_normal`` for the paper's SELU network;
* every other activation gets the *second-moment gain* 1 / sqrt(E[f(z)^2]) with z ~ N(0, 1), the
  variance-preserving argument of He et al. 2015 (arXiv:1502.01852, which gives sqrt(2) for relu)
  applied to f, as Klambauer et al. 2017 (arXiv:1706.02515) do for their fixed-point analysis. The
  expectation is integrated numerically once per hyperparameter setting (trapezoid rule on a fine grid).

:func:`module_gain` reads these gains from modules, and beyond the registered ones from every elementwise
activation module of torch and Hugging Face (``nn.ReLU6``, ``nn.Hardtanh``, ``nn.CELU``, transformers'
``QuickGELUActivation``...): the second-moment gain of the module itself. The softmax family
(``nn.Softmax``, ``nn.LogSoftmax``, ``nn.Softmin``, ``nn.Softmax2d``) reads logits, a linear output: gain 1.
``nn.GLU``, which halves its input, has no gain: :func:`is_activation` says it is an activation, and
:func:`module_gain` gives None.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from optimlab.registry import POSITIVE, POSITIVE_INT, Capability, Entry, Interval, new_registry

__all__ = [
    "SLOPE",
    "activation_name",
    "create",
    "function_activation",
    "gain",
    "is_activation",
    "module_gain",
]

_REGISTRY = new_registry("activation")
_NOT_HYPERPARAMETERS = ("inplace", "device", "dtype")


def _register(name: str, module: type[nn.Module], summary: str, paper: str = "", **options: Any) -> None:
    _REGISTRY.register(name, obj=module, summary=summary, paper=paper, skip=_NOT_HYPERPARAMETERS, **options)


@dataclasses.dataclass(frozen=True)
class _Slope(Interval):
    """A leaky unit's negative slope (kaiming's ``a``), saying why it is bounded."""

    def __str__(self) -> str:
        return (
            f"{super().__str__()} (a slope whose square float32 holds: the gain sqrt(2 / (1 + a^2)) reads it)"
        )


# Any slope of torch's, up to where its square, which the gain and torch's calculate_gain read, overflows:
# 1e200 raised OverflowError there (float32's largest finite value is 3.4e38 = (1.8e19)^2).
SLOPE = _Slope(-1e19, 1e19)


_register("identity", nn.Identity, "The identity f(x) = x (a linear layer).", aliases=("linear", "none"))
_register("sigmoid", nn.Sigmoid, "Logistic sigmoid 1 / (1 + exp(-x)).", capabilities=(Capability.SATURATING,))
_register(
    "tanh",
    nn.Tanh,
    "Hyperbolic tangent.",
    "LeCun et al. 1998, Efficient BackProp",
    capabilities=(Capability.SATURATING,),
)
_register(
    "relu",
    nn.ReLU,
    "Rectified linear unit max(0, x).",
    "Nair & Hinton 2010, ICML",
    capabilities=(Capability.RELU_FAMILY,),
)
_register(
    "leaky_relu",
    nn.LeakyReLU,
    "max(0, x) + negative_slope * min(0, x).",
    "Maas et al. 2013, ICML WDLASL",
    accepts={"negative_slope": SLOPE},  # torch's range: a slope > 1 or < 0 (a concave unit) is legitimate
    capabilities=(Capability.RELU_FAMILY,),
)
_register(
    "prelu",
    nn.PReLU,
    "Leaky ReLU whose negative slope is learned, starting at init.",
    "He et al. 2015, arXiv:1502.01852",
    accepts={"num_parameters": POSITIVE_INT, "init": SLOPE},  # any start, as torch's
    capabilities=(Capability.RELU_FAMILY,),
)
_register(
    "elu",
    nn.ELU,
    "x for x > 0, alpha * (exp(x) - 1) otherwise.",
    "Clevert et al. 2015, arXiv:1511.07289",
    accepts={"alpha": POSITIVE},
)
_register(
    "selu", nn.SELU, "Scaled ELU with self-normalizing constants.", "Klambauer et al. 2017, arXiv:1706.02515"
)
_register(
    "gelu",
    nn.GELU,
    "x * Phi(x), Phi the standard normal CDF (or a tanh approximation).",
    "Hendrycks & Gimpel 2016, arXiv:1606.08415",
    accepts={"approximate": ("none", "tanh")},
)
_register(
    "silu",
    nn.SiLU,
    "x * sigmoid(x) (swish with beta = 1).",
    "Ramachandran et al. 2017, arXiv:1710.05941",
    aliases=("swish",),
)
_register("mish", nn.Mish, "x * tanh(softplus(x)).", "Misra 2019, arXiv:1908.08681")
_register(
    "softplus",
    nn.Softplus,
    "log(1 + exp(beta * x)) / beta, linear above threshold.",
    "Dugas et al. 2001, NeurIPS",
    accepts={"beta": POSITIVE, "threshold": POSITIVE},
)
_register(
    "hardswish",
    nn.Hardswish,
    "x * relu6(x + 3) / 6, a piecewise approximation of swish.",
    "Howard et al. 2019, arXiv:1905.02244",
)


def _leaky_gain(slope: float) -> float:
    """torch's calculate_gain('leaky_relu', slope), sqrt(2 / (1 + slope^2)), to the bit; past SLOPE, where
    the square overflows (a user's own nn.LeakyReLU(1e200)), as sqrt(2) / hypot(1, slope)."""
    if abs(slope) <= SLOPE.high:
        return math.sqrt(2.0 / (1.0 + slope**2))
    return math.sqrt(2.0) / math.hypot(1.0, slope)


# The values of torch.nn.init.calculate_gain, keyed by entry, called with the entry's hyperparameters.
_TABULATED_GAINS: dict[str, Callable[..., float]] = {
    "identity": lambda: 1.0,
    "sigmoid": lambda: 1.0,
    "tanh": lambda: 5.0 / 3.0,
    "relu": lambda: math.sqrt(2.0),
    "leaky_relu": lambda negative_slope: _leaky_gain(negative_slope),
    "prelu": lambda num_parameters, init: _leaky_gain(init),
    "selu": lambda: 0.75,
}


def create(name: str, **hyperparameters: Any) -> nn.Module:
    """A fresh activation module, e.g. ``create("leaky_relu", negative_slope=0.2)``."""
    return _REGISTRY.create(name, **hyperparameters)


def gain(name: str, **hyperparameters: Any) -> float:
    """The recommended initialization gain for activation ``name`` (see the module docstring)."""
    entry = _REGISTRY.get(name)
    entry.validate(hyperparameters)
    return _gain(entry, hyperparameters)


# Activation modules of other libraries that compute a registered function, by qualified class name (so
# that recognising them imports nothing): the entry and the hyperparameters they fix. Hugging Face's
# ``transformers.activations`` (``ACT2CLS``): exact GELU, and its tanh approximations.
_FOREIGN: dict[str, tuple[str, dict[str, Any]]] = {
    "transformers.activations.GELUActivation": ("gelu", {"approximate": "none"}),
    "transformers.activations.NewGELUActivation": ("gelu", {"approximate": "tanh"}),
    "transformers.activations.FastGELUActivation": ("gelu", {"approximate": "tanh"}),
    "transformers.activations.GELUTanh": ("gelu", {"approximate": "tanh"}),
    "transformers.activations.PytorchGELUTanh": ("gelu", {"approximate": "tanh"}),
    "transformers.activations.AccurateGELUActivation": ("gelu", {"approximate": "tanh"}),
    "transformers.activations.SiLUActivation": ("silu", {}),
    "transformers.activations.MishActivation": ("mish", {}),
    "transformers.activations.LinearActivation": ("identity", {}),
}


def _recognise(module: nn.Module) -> tuple[str, dict[str, Any]] | None:
    """The entry an activation module computes and its hyperparameters, or None if it is no activation."""
    by_class = {entry.obj: entry for entry in _REGISTRY}
    for cls in type(module).__mro__:
        if cls in by_class:
            entry = by_class[cls]
            return entry.name, {h.name: getattr(module, h.name) for h in entry.hyperparameters}
        foreign = _FOREIGN.get(f"{cls.__module__}.{cls.__qualname__}")
        if foreign is not None:
            return foreign
    return None


def activation_name(module: nn.Module) -> str | None:
    """The registry name of an activation module (``nn.Tanh()`` -> ``"tanh"``), or None if it is none.

    Hugging Face's activation modules count as the function they compute (``GELUActivation`` is gelu).
    """
    found = _recognise(module)
    return found[0] if found else None


# The modules of these libraries' activation modules are activations, registered here or not.
_ACTIVATION_MODULES = ("torch.nn.modules.activation", "transformers.activations")
# Modules there that are no activation, and maps over a dimension that read logits (a linear output).
_NO_ACTIVATIONS = (nn.MultiheadAttention,)
_OF_LOGITS = (nn.Softmax, nn.Softmin, nn.Softmax2d, nn.LogSoftmax)
_NO_GAIN = (nn.GLU,)  # not elementwise: a * sigmoid(b) of its input's two halves


def is_activation(module: nn.Module) -> bool:
    """Whether ``module`` is an activation: a registered one, or any of torch's and Hugging Face's
    activation modules (``nn.ReLU6``, ``nn.GLU``, ``nn.Softmax``...), whether it has a gain or not."""
    if _recognise(module) is not None:
        return True
    return type(module).__module__ in _ACTIVATION_MODULES and not isinstance(module, _NO_ACTIVATIONS)


def module_gain(module: nn.Module) -> float | None:
    """The gain of an activation module, read with its own hyperparameters (see the module docstring);
    None for other modules and for an activation with no gain (``nn.GLU``, or one that cannot be
    evaluated: on the meta device)."""
    found = _recognise(module)
    if found is not None:
        name, hyperparameters = found
        return _gain(_REGISTRY.get(name), hyperparameters)
    if not is_activation(module) or isinstance(module, _NO_GAIN):
        return None
    if isinstance(module, _OF_LOGITS):
        return 1.0
    return _evaluated_gain(module)


# Activations called as functions in a forward (``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``), by the
# function's name (an in-place one's without its trailing "_"): the module that computes the same.
_FUNCTIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU,
    "silu": nn.SiLU, "mish": nn.Mish, "elu": nn.ELU, "selu": nn.SELU, "celu": nn.CELU,
    "softplus": nn.Softplus, "hardswish": nn.Hardswish, "relu6": nn.ReLU6, "hardtanh": nn.Hardtanh,
    "hardsigmoid": nn.Hardsigmoid, "softsign": nn.Softsign, "log_sigmoid": nn.LogSigmoid,
    "tanhshrink": nn.Tanhshrink, "hardshrink": nn.Hardshrink, "softshrink": nn.Softshrink,
    "rrelu": nn.RReLU, "threshold": nn.Threshold, "softmax": nn.Softmax,
    "log_softmax": nn.LogSoftmax, "softmin": nn.Softmin, "glu": nn.GLU,
}  # fmt: skip


def function_activation(
    function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> nn.Module | None:
    """The activation module that computes what ``function(*args, **kwargs)`` computes, read from the
    call's own hyperparameters (``F.leaky_relu(x, 0.2)`` -> ``nn.LeakyReLU(0.2)``); None if the function
    is no activation, or its arguments are not the module's (a tensor where it takes a number)."""
    module = _FUNCTIONS.get(getattr(function, "__name__", "").rstrip("_"))
    if module is None:
        return None
    taken = inspect.signature(module).parameters
    keywords = {k: v for k, v in kwargs.items() if k in taken and k != "inplace"}
    try:
        return module(*args[1:], **keywords)
    except (TypeError, ValueError):
        return None


# The state every nn.Module holds (hooks, parameter and submodule tables, training flag): not a setting.
_MODULE_STATE = frozenset(vars(nn.Module()))
_SETTINGS = (bool, int, float, str, type(None))
# Second-moment gains of modules that hold nothing but settings, by class and settings: one model has
# many layers of the same activation, each evaluated on the 240,001-point grid otherwise.
_EVALUATED: dict[tuple[type[nn.Module], tuple[tuple[str, Any], ...]], float | None] = {}


def _settings(module: nn.Module) -> tuple[type[nn.Module], tuple[tuple[str, Any], ...]] | None:
    """``module``'s class and its settings (``nn.Hardtanh``'s min_val, max_val...), which alone fix what
    its forward computes; None if something else might (parameters, buffers, submodules, hooks, or an
    attribute that is not a plain number, string or flag)."""
    own = {k: v for k, v in vars(module).items() if k not in _MODULE_STATE}
    if (
        module._parameters
        or module._buffers
        or module._modules
        or module._forward_hooks
        or module._forward_pre_hooks
        or not all(isinstance(v, _SETTINGS) for v in own.values())
    ):
        return None
    return type(module), tuple(sorted(own.items()))


def _evaluated_gain(module: nn.Module) -> float | None:
    """The second-moment gain of an elementwise activation module (:func:`_grid_gain`), once per class
    and settings where those alone fix it (:func:`_settings`)."""
    key = _settings(module)
    if key is None:
        return _grid_gain(module)
    if key not in _EVALUATED:
        _EVALUATED[key] = _grid_gain(module)
    return _EVALUATED[key]


def _grid_gain(module: nn.Module) -> float | None:
    """The second-moment gain of an elementwise activation module, evaluated on the grid in eval mode (an
    ``nn.RReLU`` at its mean slope) in float64 on the module's device; None if it cannot run there."""
    tensors = [*module.parameters(), *module.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    z, density = (t.to(device) for t in _grid())
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            f = module(z.clone()).double()  # a clone: an in-place module (inplace=True) would overwrite z
    except (RuntimeError, NotImplementedError, TypeError, ValueError):
        return None
    finally:
        module.train(was_training)
    if f.shape != z.shape or f.is_meta:
        return None
    return 1.0 / math.sqrt(torch.trapezoid(f**2 * density, z).item())


def _gain(entry: Entry[Any], hyperparameters: dict[str, Any]) -> float:
    bound = {h.name: h.default for h in entry.hyperparameters} | hyperparameters
    if entry.name in _TABULATED_GAINS:
        return _TABULATED_GAINS[entry.name](**bound)
    return _second_moment_gain(entry.name, tuple(sorted(bound.items())))


@functools.cache
def _second_moment_gain(name: str, hyperparameters: tuple[tuple[str, Any], ...]) -> float:
    """1 / sqrt(E[f(z)^2]) for z ~ N(0, 1), by the trapezoid rule on [-12, 12].

    The grid step 1e-4 keeps the error near 1e-9 even at the kinks of piecewise activations; the
    normal density beyond |z| = 12 is below 1e-31.
    """
    z, density = _grid()
    with torch.no_grad():
        f = _REGISTRY.get(name).obj(**dict(hyperparameters))(z)
    return 1.0 / math.sqrt(torch.trapezoid(f**2 * density, z).item())


@functools.cache
def _grid() -> tuple[torch.Tensor, torch.Tensor]:
    """The points z in [-12, 12], step 1e-4, and the standard normal density at each (float64)."""
    z = torch.linspace(-12.0, 12.0, 240_001, dtype=torch.float64)
    return z, torch.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
