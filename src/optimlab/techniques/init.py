"""Weight initialization by name: tensor schemes, and :func:`apply` to initialize a whole model.

A *tensor scheme* fills one Linear ``(out, in)`` or ConvNd ``(out, in / groups, *kernel)`` weight in
place and returns it (any other weight too, with the fans torch reads from the same axes). A name means
what the papers and ``torch.nn.init`` mean: ``xavier_normal`` is Glorot's gain 1
(``nn.init.xavier_normal_``), ``kaiming_normal`` He's gain sqrt(2) (``kaiming_normal_`` with its
defaults), ``orthogonal`` gain 1, whatever activation follows the layer. The activation-aware gain is
asked for explicitly: ``gain="auto"`` gives each layer the gain of the activation that follows it
(:func:`layer_gains`), e.g. 5/3 before a tanh and sqrt(2 / (1 + a^2)) before a leaky ReLU of slope a.
Two *model schemes* act on the whole model: ``default`` (PyTorch's own ``reset_parameters``) and the
data-dependent ``lsuv``. Biases: under a tensor scheme every layer's bias starts at 0, as Glorot &
Bengio's and He et al.'s do (``apply(..., bias="keep")`` leaves them as they are); ``default`` draws them
as torch does, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for Linear and ConvNd; ``lsuv`` zeroes them.

>>> import torch
>>> from torch import nn
>>> model = apply(nn.Sequential(nn.Linear(256, 256), nn.Tanh()), "xavier_normal")
>>> round(model[0].weight.std().item() / (2 / 512) ** 0.5, 1)
1.0
>>> model = apply(nn.Sequential(nn.Linear(256, 256), nn.Tanh()), "xavier_normal", gain="auto")
>>> round(model[0].weight.std().item() / (5 / 3 * (2 / 512) ** 0.5), 1)
1.0
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import itertools
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy
from torch.nn.utils import parametrize
from torch.overrides import TorchFunctionMode

from optimlab.errors import InvalidValueError, OptimlabWarning
from optimlab.number_text import named_and_more
from optimlab.registry import (
    POSITIVE,
    POSITIVE_INT,
    REAL,
    Capability,
    Entry,
    Interval,
    new_registry,
)
from optimlab.techniques.activations import (
    SLOPE,
    activation_name,
    function_activation,
    is_activation,
    module_gain,
)

__all__ = [
    "AUTO_GAIN",
    "GAIN",
    "LAYERS",
    "TRANSPOSED_LINEARS",
    "KeptWeightsWarning",
    "apply",
    "attention_projections",
    "constant",
    "create",
    "default",
    "fans",
    "identity",
    "is_layer",
    "is_transposed_linear",
    "kaiming",
    "layer_gains",
    "lecun",
    "lsuv",
    "normal",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "validate",
    "xavier",
    "zeros",
]

_REGISTRY = new_registry("init")
# The layers a whole-model apply initializes: those that map inputs to outputs through one weight,
# transposed convolutions (a decoder's, a GAN generator's) and bilinear maps included.
LAYERS = (
    nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
    nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
)  # fmt: skip
# Linear layers of other libraries whose weight is stored transposed, (in, out), by qualified class name
# (recognised without importing them): Hugging Face's Conv1D, every layer of GPT and GPT-2.
TRANSPOSED_LINEARS = frozenset({"transformers.pytorch_utils.Conv1D"})
_BIAS_CHOICES = ("zeros", "keep")
_NO_IDENTITY = (nn.Bilinear, nn.MultiheadAttention)  # maps with no identity for the identity scheme
# What a model given to a tensor scheme or lsuv must hold, or nothing would change.
_LAYERS_WANTED = (
    "a model whose forward runs a layer it initializes (Linear, Bilinear, ConvNd, ConvTransposeNd, "
    "MultiheadAttention, Hugging Face's Conv1D); this one has none, so nothing would change "
    "(embeddings, norms and recurrent layers keep their weights)"
)
_KEPT_NAMED = 5  # the kept weights a warning names; beyond, "and N more"
# Why a tensor scheme keeps a weight, and why 'default' does.
_TENSOR_SCHEMES_DRAW = (
    "it draws the weights of Linear, Bilinear, ConvNd, ConvTransposeNd, MultiheadAttention and Hugging "
    "Face's Conv1D layers, whose fans it knows, and not those of embeddings, recurrent layers or other "
    "modules (torch's fan rule reads dims 2+ as a kernel, wrong for a stack of expert matrices "
    "(experts, out, in))"
)
_DEFAULT_DRAWS = (
    "'default' runs the reset_parameters() of the modules that have one (torch's), and these are held by "
    "modules that have none (a module of one's own, Mixtral's experts)"
)
AUTO_GAIN = "auto"  # the gain of the activation after each layer, read by apply()
# The nonlinearities torch.nn.init.calculate_gain knows, which kaiming_* take as torch's kaiming_normal_.
TORCH_NONLINEARITIES = (
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "sigmoid", "tanh", "relu", "leaky_relu", "selu",
)  # fmt: skip


# What kaiming_* accept for a gain beside torch's nonlinearity or a, which set it: none.
_GAIN_OR_TORCHS = (
    "no gain beside nonlinearity or a, which set the gain as torch's "
    "calculate_gain(nonlinearity, a) does: give a gain or nonlinearity / a, not both"
)


@dataclasses.dataclass(frozen=True)
class _GainRange(Interval):
    """A positive gain, or ``"auto"``: each layer gets the gain of the activation after it."""

    def contains(self, value: Any) -> bool:
        return value == AUTO_GAIN if isinstance(value, str) else super().contains(value)

    def __str__(self) -> str:
        return f"{super().__str__()}, or {AUTO_GAIN!r} (the gain of the activation after each layer)"


GAIN = _GainRange(0, None, open_low=True)


class KeptWeightsWarning(OptimlabWarning):
    """:func:`apply` left weights of 2+ dimensions outside the layers it draws as they were."""


@dataclasses.dataclass(frozen=True)
class _Bound(Interval):
    """One finite number (not a sequence, which a plain range reads item by item), or None."""

    def contains(self, value: Any) -> bool:
        return not isinstance(value, (tuple, list)) and super().contains(value)

    def __str__(self) -> str:
        return f"{super().__str__()}, or None (2 standard deviations from the mean)"


_TRUNCATION_BOUND = _Bound()


def fans(weight: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear ``(out, in)`` or ConvNd ``(out, in / groups, *kernel)`` weight.

    Any weight reads as torch's ``_calculate_fan_in_and_fan_out`` reads it: dim 1 (times the kernel) is
    the fan-in, so a ConvTransposeNd ``(in, out / groups, *kernel)`` has fan-in ``out / groups * kernel``
    and a Bilinear ``(out, in1, in2)`` ``in1 * in2``, the fans torch's own initializers use on them.
    """
    _check_matrix(weight)
    receptive_field = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field


def _check_matrix(weight: Tensor) -> None:
    """Refuse a weight of fewer than 2 dimensions (a bias, a norm's scale), which has no fans and no
    rows to make orthogonal; torch's initializers raise a ValueError that names neither it nor its shape."""
    if weight.dim() < 2:
        raise InvalidValueError(
            "weight shape", tuple(weight.shape), "at least 2 dimensions: (out, in) or (out, in, *kernel)"
        )


def is_transposed_linear(module: nn.Module) -> bool:
    """Whether ``module`` is a Linear layer of :data:`TRANSPOSED_LINEARS`, its weight ``(in, out)``."""
    return any(f"{c.__module__}.{c.__qualname__}" in TRANSPOSED_LINEARS for c in type(module).__mro__)


def is_layer(module: nn.Module) -> bool:
    """Whether a whole-model :func:`apply` initializes ``module``: :data:`LAYERS`, or a transposed Linear."""
    return isinstance(module, LAYERS) or is_transposed_linear(module)


def _root(fan: int) -> float:
    """sqrt(fan); a fan of 0 is a weight of no values, which the draw leaves as it is (torch's
    ``kaiming_normal_``: "Initializing zero-element tensors is a no-op"), so any std does."""
    return math.sqrt(fan) if fan else 1.0


def _fill(weight: Tensor, std: float, distribution: str) -> Tensor:
    """Zero-mean samples of standard deviation ``std``: normal, or uniform on +-sqrt(3) std."""
    if distribution == "normal":
        return weight.normal_(0.0, std)
    bound = math.sqrt(3.0) * std
    return weight.uniform_(-bound, bound)


def _check_bounds(a: float, b: float, scheme: str) -> None:
    if not a < b:
        raise InvalidValueError(f"init {scheme!r} bounds (a, b)", (a, b), "a < b")


# --- constant and fixed-distribution schemes --------------------------------------------------------


@_REGISTRY.register("zeros", summary="All zeros (for biases; zero weights never break symmetry).")
@torch.no_grad()
def zeros(weight: Tensor) -> Tensor:
    return weight.zero_()


@_REGISTRY.register("constant", summary="Every entry equal to value.", accepts={"value": REAL})
@torch.no_grad()
def constant(weight: Tensor, *, value: float = 0.0) -> Tensor:
    return weight.fill_(value)


_REGISTRY.register("ones", obj=constant, defaults={"value": 1.0}, summary="All ones (torch's ones_).")


@_REGISTRY.register(
    "uniform", summary="Uniform on [a, b], whatever the layer's size.", accepts={"a": REAL, "b": REAL}
)
@torch.no_grad()
def uniform(weight: Tensor, *, a: float = -0.05, b: float = 0.05) -> Tensor:
    """U(a, b); the default +-0.05 is Keras's ``RandomUniform``."""
    _check_bounds(a, b, "uniform")
    return weight.uniform_(a, b)


@_REGISTRY.register(
    "normal",
    summary="Normal N(mean, std^2), whatever the layer's size.",
    paper="Krizhevsky et al. 2012, NeurIPS (AlexNet: std 0.01)",
    accepts={"mean": REAL, "std": POSITIVE},
)
@torch.no_grad()
def normal(weight: Tensor, *, mean: float = 0.0, std: float = 0.01) -> Tensor:
    return weight.normal_(mean, std)


@_REGISTRY.register(
    "truncated_normal",
    summary="Normal N(mean, std^2) redrawn outside [a, b] (torch's trunc_normal_); by default mean +-2 std.",
    paper="Devlin et al. 2018, arXiv:1810.04805 (BERT: std 0.02, +-2 std)",
    accepts={"mean": REAL, "std": POSITIVE, "a": _TRUNCATION_BOUND, "b": _TRUNCATION_BOUND},
    left_out={"a": "mean - 2 std", "b": "mean + 2 std"},
    aliases=("trunc_normal",),
)
@torch.no_grad()
def truncated_normal(
    weight: Tensor, *, mean: float = 0.0, std: float = 0.02, a: float | None = None, b: float | None = None
) -> Tensor:
    """``nn.init.trunc_normal_``: ``a`` and ``b`` are the bounds themselves, in the weight's units, as
    torch's; None puts each 2 standard deviations from ``mean`` (BERT's and TensorFlow's truncation).

    ``std`` is the untruncated normal's, as in torch's ``trunc_normal_`` and JAX's
    ``truncated_normal(stddev)``: cut at +-2 std the draws' own standard deviation is 0.87962566 std.
    (JAX's ``variance_scaling``, hence its ``lecun_normal``, divides by that factor to hit its target
    variance; here ``lecun_normal`` is a plain normal of variance 1 / fan_in, torch's ``kaiming_normal_``
    with ``nonlinearity="linear"``.)"""
    low = mean - 2.0 * std if a is None else a
    high = mean + 2.0 * std if b is None else b
    _check_bounds(low, high, "truncated_normal")
    return nn.init.trunc_normal_(weight, mean, std, low, high)


# --- variance-scaling schemes -----------------------------------------------------------------------


@torch.no_grad()
def xavier(weight: Tensor, *, gain: float = 1.0, distribution: str = "normal") -> Tensor:
    """Glorot & Bengio: Var(w) = gain^2 * 2 / (fan_in + fan_out), keeping forward and backward scale.

    Glorot & Bengio 2010, Understanding the difficulty of training deep feedforward neural networks,
    AISTATS, https://proceedings.mlr.press/v9/glorot10a.html
    """
    fan_in, fan_out = fans(weight)
    # torch's own expression, sqrt(2 / fans): sqrt(2) / sqrt(fans) differs in the last bit at about half
    # of all fan sums, float64 draws then not torch's; a fan sum of 0 is a weight of no values (_root)
    return _fill(weight, gain * math.sqrt(2.0 / (fan_in + fan_out or 1)), distribution)


@torch.no_grad()
def kaiming(
    weight: Tensor,
    *,
    gain: float | None = None,
    mode: str = "fan_in",
    nonlinearity: str | None = None,
    a: float | None = None,
    distribution: str = "normal",
) -> Tensor:
    """He et al.: Var(w) = gain^2 / fan; the default gain sqrt(2) is the ReLU's (He initialization).

    ``mode="fan_in"`` preserves the forward signal's scale, ``"fan_out"`` the backward gradient's. As
    torch's ``kaiming_normal_`` takes it, the gain may instead come from ``nonlinearity`` and ``a``, the
    negative slope of a leaky ReLU: ``calculate_gain(nonlinearity, a)``, with torch's defaults
    ``"leaky_relu"`` and 0 for the one left out; a gain given beside either is refused, sqrt(2) too
    (its default is None, so that a gain written out is told from one left out; all left out: sqrt(2)).

    He et al. 2015, Delving Deep into Rectifiers, https://arxiv.org/abs/1502.01852
    """
    if nonlinearity is not None or a is not None:
        if gain is not None:
            raise InvalidValueError(
                f"init 'kaiming_{distribution}' hyperparameter 'gain'", gain, _GAIN_OR_TORCHS
            )
        gain = nn.init.calculate_gain(nonlinearity or "leaky_relu", 0.0 if a is None else a)
    elif gain is None:
        gain = math.sqrt(2.0)  # He's, for ReLU
    fan_in, fan_out = fans(weight)
    return _fill(weight, gain / _root(fan_in if mode == "fan_in" else fan_out), distribution)


def _kaiming_left_out(given: Mapping[str, Any]) -> dict[str, float]:
    """What kaiming's gain gives when left out, beside the others ``given``: sqrt(2) alone, so that a gain
    of sqrt(2) written alone is plain kaiming (stored and hashed as before its default was None); beside
    nonlinearity or a nothing, a gain there being refused."""
    return {} if {"nonlinearity", "a"} & given.keys() else {"gain": math.sqrt(2.0)}


@torch.no_grad()
def lecun(weight: Tensor, *, distribution: str = "normal") -> Tensor:
    """LeCun: Var(w) = 1 / fan_in, whatever the activation (the init SELU's self-normalization assumes).

    LeCun et al. 1998, Efficient BackProp; Klambauer et al. 2017, Self-Normalizing Neural Networks,
    https://arxiv.org/abs/1706.02515
    """
    return _fill(weight, 1.0 / _root(fans(weight)[0]), distribution)


for _distribution in ("uniform", "normal"):
    # The bare family names ("he", "xavier", "lecun") mean the normal variant: He et al. draw from a
    # Gaussian, and Klambauer et al.'s SELU networks from LeCun's; Glorot & Bengio's own "normalized
    # initialization" is uniform (their eq. 16), which is xavier_uniform. Stored recipes hold the
    # resolved name, so this reading of "xavier" is fixed for the recipes written with it.
    _short = _distribution == "normal"
    _REGISTRY.register(
        f"xavier_{_distribution}",
        obj=xavier,
        defaults={"distribution": _distribution},
        summary=f"Glorot {_distribution}: Var(w) = gain^2 * 2 / (fan_in + fan_out), gain 1 (or auto).",
        paper="Glorot & Bengio 2010, AISTATS",
        accepts={"gain": GAIN},
        aliases=(f"glorot_{_distribution}", *(("xavier", "glorot") if _short else ())),
        capabilities=(Capability.ACTIVATION_GAIN,),
    )
    _REGISTRY.register(
        f"kaiming_{_distribution}",
        obj=kaiming,
        defaults={"distribution": _distribution},
        summary=f"He {_distribution}: Var(w) = gain^2 / fan (fan_in or fan_out), gain sqrt(2) (or auto).",
        paper="He et al. 2015, arXiv:1502.01852",
        accepts={
            "gain": GAIN,
            "mode": ("fan_in", "fan_out"),
            "nonlinearity": TORCH_NONLINEARITIES,
            "a": SLOPE,
        },
        left_out={
            "gain": "sqrt(2), He's for ReLU, or calculate_gain(nonlinearity, a) where either is given",
            "nonlinearity": "leaky_relu where a is given (torch's default), else gain alone sets the scale",
            "a": "0 where nonlinearity is given (torch's default), else gain alone sets the scale",
        },
        left_out_gives=_kaiming_left_out,
        aliases=(f"he_{_distribution}", *(("kaiming", "he") if _short else ())),
        capabilities=(Capability.ACTIVATION_GAIN,),
    )
    _REGISTRY.register(
        f"lecun_{_distribution}",
        obj=lecun,
        defaults={"distribution": _distribution},
        summary=f"LeCun {_distribution}: Var(w) = 1 / fan_in (for SELU networks).",
        paper="LeCun et al. 1998, Efficient BackProp; Klambauer et al. 2017, arXiv:1706.02515",
        aliases=("lecun",) if _short else (),
    )


@_REGISTRY.register(
    "orthogonal",
    summary="A (semi-)orthogonal matrix times gain, 1 by default (a conv weight flattened to 2-D).",
    paper="Saxe et al. 2013, arXiv:1312.6120",
    accepts={"gain": GAIN},
    capabilities=(Capability.ACTIVATION_GAIN,),
)
@torch.no_grad()
def orthogonal(weight: Tensor, *, gain: float = 1.0) -> Tensor:
    """``nn.init.orthogonal_``; a float16 or bfloat16 weight, whose QR torch does not implement, gets the
    float32 matrix rounded to its dtype."""
    _check_matrix(weight)
    if weight.dtype in (torch.float16, torch.bfloat16):
        return weight.copy_(nn.init.orthogonal_(torch.empty_like(weight, dtype=torch.float32), gain=gain))
    return nn.init.orthogonal_(weight, gain=gain)


@_REGISTRY.register(
    "identity",
    summary="The identity map: eye for Linear, a Dirac delta kernel for ConvNd and ConvTransposeNd.",
    paper="Le et al. 2015, arXiv:1504.00941; Zagoruyko & Komodakis 2017, arXiv:1706.00388",
    aliases=("dirac", "eye"),
    skip=("groups",),
)
@torch.no_grad()
def identity(weight: Tensor, *, groups: int = 1) -> Tensor:
    """Output channel i copies input channel i (extra output channels are zero), within each of a
    ConvNd's ``groups`` as torch's ``dirac_``: :func:`apply` passes each layer's own, so a depthwise
    convolution is the identity too."""
    if weight.dim() not in (2, 3, 4, 5):
        raise InvalidValueError(
            "weight shape", tuple(weight.shape), "2 dimensions (Linear) or 3 to 5 (Conv1d/2d/3d)"
        )
    return nn.init.eye_(weight) if weight.dim() == 2 else nn.init.dirac_(weight, groups)


# --- whole-model schemes ----------------------------------------------------------------------------


@_REGISTRY.register(
    "default",
    summary="PyTorch's own initialization: every module's reset_parameters(), biases included.",
    capabilities=(Capability.WHOLE_MODEL,),
)
def default(model: nn.Module) -> nn.Module:
    """Each module initialized as torch initializes it when built: its ``reset_parameters()``, or the
    private ``_reset_parameters()`` of ``nn.MultiheadAttention`` and ``nn.Transformer``, children before
    their parent, as construction runs them (the attention's in-projection drawn by xavier_uniform_ and
    its out-projection's bias zeroed after its Linear's own reset). A layer parametrized by
    ``torch.nn.utils.parametrizations`` gets its original weight drawn as torch draws the plain layer's; a
    Linear stored transposed (:data:`TRANSPOSED_LINEARS`, which have no reset), what torch draws building
    the ``nn.Linear`` it is, transposed."""
    modules = _children_first(model)
    _check_writable([m for m in modules if is_layer(m)])
    drawn: list[Tensor] = []
    for module in modules:
        reset = getattr(module, "reset_parameters", None)
        if reset is None and type(module).__module__.startswith(
            "torch.nn."
        ):  # a user's private one is theirs
            reset = getattr(module, "_reset_parameters", None)
        if callable(reset) and parametrize.is_parametrized(module):
            _reset_parametrized(module, reset)
        elif callable(reset):
            reset()
        elif is_transposed_linear(module):
            _reset_transposed_linear(module)
        else:
            continue
        drawn += module.parameters(recurse=False)
        if parametrize.is_parametrized(module):
            drawn += module.parametrizations.parameters()
    _warn_of_kept_weights(model, "default", drawn, _DEFAULT_DRAWS, stacklevel=4)
    return model


def _reset_transposed_linear(module: nn.Module) -> None:
    """``module``'s ``(in, out)`` weight and bias drawn as torch's ``nn.Linear(in, out)`` draws its own."""
    fan_in, fan_out = module.weight.shape
    twin = nn.Linear(
        fan_in, fan_out, bias=module.bias is not None, device=module.weight.device, dtype=module.weight.dtype
    )
    _initialize(module, "weight", lambda weight: weight.copy_(twin.weight.T))
    if module.bias is not None:
        _initialize(module, "bias", lambda bias: bias.copy_(twin.bias))


def _reset_parametrized(module: nn.Module, reset: Callable[[], Any]) -> None:
    """``reset`` of a parametrized module, whose draws into its tensors computed anew at each access
    would be lost: under ``parametrize.cached()`` each is computed once and drawn into, then assigned."""
    with parametrize.cached():
        reset()
        drawn = {name: getattr(module, name).detach().clone() for name in module.parametrizations}
    for name, tensor in drawn.items():
        _initialize(module, name, lambda target, tensor=tensor: target.copy_(tensor))


def _children_first(module: nn.Module) -> list[nn.Module]:
    """``module`` and every module inside it once, each after the modules inside it (post-order)."""
    order: dict[nn.Module, None] = {}

    def visit(node: nn.Module) -> None:
        for child in node.children():
            if child not in order:
                visit(child)
        order.setdefault(node)

    visit(module)
    return list(order)


@_REGISTRY.register(
    "lsuv",
    summary="Orthogonal, then each layer rescaled in forward order to unit output variance on data.",
    paper="Mishkin & Matas 2015, arXiv:1511.06422",
    accepts={"tol": POSITIVE, "max_iterations": POSITIVE_INT},
    capabilities=(Capability.WHOLE_MODEL, Capability.DATA_DEPENDENT),
)
@torch.no_grad()
def lsuv(model: nn.Module, *, data: Tensor, tol: float = 0.1, max_iterations: int = 10) -> nn.Module:
    """Layer-sequential unit-variance initialization.

    Every layer's weight (:func:`is_layer`) starts orthogonal with a zero bias; then, layer by layer in the
    order the forward pass reaches them, ``w <- w / sqrt(Var(output))`` until ``|Var(output) - 1| <= tol`` or
    ``max_iterations`` passes over ``data`` (a batch of model inputs). The model runs in eval mode meanwhile,
    so dropout is off and batch-norm statistics are left untouched.

    Mishkin & Matas 2015, All you need is a good init, https://arxiv.org/abs/1511.06422
    """
    if not isinstance(data, Tensor):
        raise InvalidValueError(
            "data", data, "a tensor batch of model inputs (LSUV measures each layer's output on it)"
        )
    if data.is_meta or any(p.is_meta for p in model.parameters()):
        raise InvalidValueError(
            "lsuv's model and data",
            "tensors on the meta device",
            "values to measure each layer's output on: model.to_empty(device=...) first",
        )
    with _in_eval_mode(model):
        order = _forward_order(model, data)  # before any weight changes: data the model cannot take
        if not order:
            raise InvalidValueError("init 'lsuv''s model", type(model).__name__, _LAYERS_WANTED)
        _check_rescalable(order)
        # the weights it keeps said of lsuv, at the caller of apply (under apply and no_grad)
        _draw_layers(
            model,
            _REGISTRY.get("orthogonal"),
            {"gain": 1.0},
            data=None,
            bias="zeros",
            named="lsuv",
            stacklevel=6,
        )
        tied = _tied_to_earlier(order)
        for layer in (layer for layer in order if layer not in tied):
            for _ in range(max_iterations):
                variance = _output_variance(model, layer, data)
                if abs(variance - 1.0) <= tol or not 0.0 < variance < math.inf:
                    break
                scaled = layer.weight / math.sqrt(variance)
                _initialize(layer, "weight", lambda weight, scaled=scaled: weight.copy_(scaled))
    return model


@contextlib.contextmanager
def _in_eval_mode(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode (dropout off, batch norms on their running statistics, left untouched), each
    module given back its own mode after: a training model's frozen batch norms stay in eval mode."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training


def _forward_order(model: nn.Module, data: Tensor) -> list[nn.Module]:
    """The layers :func:`is_layer` in the order one forward pass first calls them; refuses ``data`` the
    model's forward raises on, naming it."""
    order: dict[nn.Module, None] = {}
    hooks = [
        m.register_forward_hook(lambda module, _, __: order.setdefault(module))
        for m in model.modules()
        if is_layer(m)
    ]
    _run(model, data, "lsuv's data", hooks)
    return list(order)


def _run(model: nn.Module, data: Tensor, field: str, hooks: list[Any]) -> None:
    """One forward pass of ``model`` on ``data`` without gradients, its ``hooks`` removed after; refuses
    ``data`` the forward raises on, naming it (``field``)."""
    try:
        with torch.no_grad():
            model(data)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise InvalidValueError(
            f"the shape of {field}",
            tuple(data.shape),
            f"a batch of the model's inputs (its forward raised {type(error).__name__}: "
            f"{str(error).strip().splitlines()[0] if str(error).strip() else ''})",
        ) from None
    finally:
        for hook in hooks:
            hook.remove()


def _check_rescalable(layers: list[nn.Module]) -> None:
    """Refuse a layer whose weight's scale its parametrization takes away (``spectral_norm`` divides it by
    its largest singular value): LSUV's rescaling would not reach its output. A weight computed by a hook
    is refused by the orthogonal :func:`apply` that starts LSUV, before any draw."""
    for layer in layers:
        if parametrize.is_parametrized(layer, "weight"):
            probe = copy.deepcopy(layer)
            doubled = 2.0 * probe.weight
            _initialize(probe, "weight", lambda weight, doubled=doubled: weight.copy_(doubled))
            if not torch.allclose(probe.weight, doubled):
                raise InvalidValueError(
                    f"lsuv of a {type(layer).__name__} parametrized by "
                    f"{type(layer.parametrizations.weight[0]).__name__}",
                    "a weight whose scale the parametrization sets",
                    "layers whose weight lsuv can rescale (a plain or weight-normalized one)",
                )


def _output_variance(model: nn.Module, layer: nn.Module, data: Tensor) -> float:
    outputs: list[Tensor] = []
    hook = layer.register_forward_hook(lambda _, __, output: outputs.append(output))
    try:
        model(data)
    finally:
        hook.remove()
    return outputs[0].double().var().item()


# --- by name ----------------------------------------------------------------------------------------


def layer_gains(model: nn.Module) -> list[tuple[nn.Module, float]]:
    """Each layer of ``model`` (:func:`is_layer`) with the gain of the activation that follows it.

    "Follows" means the first activation module (:func:`~optimlab.techniques.activations.is_activation`)
    after the layer in ``model.modules()`` order and before the next such layer, so models register
    submodules in forward order (layer, norm, activation). ``nn.Identity`` does not end the search, as
    models use it as a placeholder for a disabled norm, dropout or shortcut; a layer with no activation
    after it gets gain 1 (a linear output), and so does one before an activation that has no gain
    (``nn.GLU``), with an :class:`~optimlab.errors.OptimlabWarning` naming both. torch's own Transformer
    layers are read from their forward (:func:`_transformer_gains`). An activation applied as a function
    in ``forward`` (``F.relu``), or a class of the user's own, is not seen, nor an order of registration
    that is not the forward's (Hugging Face's GPT-2 MLP registers ``c_fc``, ``c_proj``, then its
    activation): :func:`apply` given ``data`` reads the forward pass instead (:func:`_forward_gains`).
    Where two layers of one module come one after the other before its activation, which of them it
    follows is not known from the registration: an :class:`~optimlab.errors.OptimlabWarning` says so.
    """
    followed = _followed_by(list(model.modules()))
    known = _transformer_gains(model)
    if len(followed) > 1 and not any(followed.values()) and not known:
        warnings.warn(
            f"gain 'auto': no activation module follows any of the model's {len(followed)} layers, so "
            "each is drawn with gain 1; activations its forward calls as functions (F.relu) are read "
            "only from a forward pass: pass data=<a batch of inputs>",
            OptimlabWarning,
            stacklevel=3,
        )
    _warn_of_registration_order(model, followed, known)
    return _known_first(model, followed, known)


def _known_first(
    model: nn.Module, followed: dict[nn.Module, nn.Module | None], known: dict[nn.Module, float]
) -> list[tuple[nn.Module, float]]:
    """Each layer's gain: ``known`` where it holds one (torch's Transformer layers), else its activation's."""
    return [(layer, known.get(layer, gain)) for layer, gain in _gains(model, followed).items()]


def _warn_of_registration_order(
    model: nn.Module, followed: dict[nn.Module, nn.Module | None], known: dict[nn.Module, float]
) -> None:
    """Warn where a module registers two layers one after the other, then the activation the second is
    read as followed by: its forward may run the activation after the first (GPT-2's MLP runs
    ``c_proj(act(c_fc(x)))``, Llama's ``down_proj(act(gate_proj(x)) * up_proj(x))``)."""
    names = {module: name for name, module in model.named_modules()}
    layers = list(followed)
    for before, layer in itertools.pairwise(layers):
        activation = followed[layer]
        parents = {names[m].rpartition(".")[0] for m in (before, layer, activation) if m is not None}
        if followed[before] is None and activation is not None and len(parents) == 1 and layer not in known:
            warnings.warn(
                f"gain 'auto': {names[layer]!r} gets the gain of {type(activation).__name__} "
                f"{names[activation]!r}, registered after it, and {names[before]!r}, registered before it "
                "in the same module, gets none; if the forward runs the activation after another layer "
                "(GPT-2's MLP: c_proj(act(c_fc(x)))), pass data=<a batch of inputs> to read the forward's "
                "order",
                OptimlabWarning,
                stacklevel=4,
            )
            return


def _forward_gains(model: nn.Module, data: Tensor) -> list[tuple[nn.Module, float]]:
    """Each layer (:func:`is_layer`) with the gain of the first activation that one forward pass on
    ``data`` runs after it, before it runs another layer: an activation module, or an activation function
    (``F.relu(x)``, ``torch.tanh(x)``, ``x.sigmoid()``:
    :func:`~optimlab.techniques.activations.function_activation`) called outside activation modules (a class
    of the user's own counts by the functions it calls). A layer run twice counts at its first run; one the
    pass never runs gets its :func:`layer_gains` gain. The model runs in eval mode, without gradients (torch's
    fused Transformer path, which would run no hook, is off under the function mode)."""
    ran: list[nn.Module] = []
    inside = [0]  # how deep the pass is inside activation modules, whose own function calls are theirs

    def enter(*_: Any) -> None:
        inside[0] += 1

    def leave(module: nn.Module, *_: Any) -> None:
        inside[0] -= 1
        ran.append(module)

    class _ActivationFunctions(TorchFunctionMode):
        def __torch_function__(
            self, function: Callable[..., Any], types: Any, args: tuple = (), kwargs: dict | None = None
        ) -> Any:
            kwargs = kwargs or {}
            called = None if inside[0] else function_activation(function, args, kwargs)
            if called is not None:
                ran.append(called)
            return function(*args, **kwargs)

    hooks: list[Any] = []
    for module in model.modules():
        if is_layer(module):
            # as it starts: an activation its own forward runs (a Linear subclass with its ReLU) is its own
            hooks.append(module.register_forward_pre_hook(lambda module, _: ran.append(module)))
        elif is_activation(module):
            hooks += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    with _in_eval_mode(model), _ActivationFunctions():
        _run(model, data, "the data of gain 'auto'", hooks)
    forward = _followed_by(ran)
    registered = _followed_by(list(model.modules()))
    followed = {layer: forward.get(layer, activation) for layer, activation in registered.items()}
    return _known_first(model, followed, _transformer_gains(model))


def _followed_by(sequence: list[nn.Module]) -> dict[nn.Module, nn.Module | None]:
    """Each layer in ``sequence`` (at its first place) and the first activation after it and before the
    next layer, skipping identities; None where none comes."""
    followed: dict[nn.Module, nn.Module | None] = {}
    searching: nn.Module | None = None
    for module in sequence:
        if is_layer(module):
            searching = None if module in followed else module
            followed.setdefault(module, None)
        elif searching is not None and is_activation(module) and activation_name(module) != "identity":
            followed[searching], searching = module, None
    return followed


def _gains(model: nn.Module, followed: dict[nn.Module, nn.Module | None]) -> dict[nn.Module, float]:
    """The gain of each layer's activation (1 for none), warning where that activation has none."""
    names = {module: name for name, module in model.named_modules()}
    gains: dict[nn.Module, float] = {}
    for layer, activation in followed.items():
        found = None if activation is None else module_gain(activation)
        if activation is not None and found is None:
            where = (
                f"{type(activation).__name__} {names[activation]!r}"
                if activation in names
                else f"{activation} (called as a function)"
            )
            warnings.warn(
                f"gain 'auto': layer {names.get(layer) or '(model)'!r} is followed by {where}, which has "
                "no gain; it is drawn with gain 1 (give a number for gain to choose another)",
                OptimlabWarning,
                stacklevel=4,
            )
        gains[layer] = 1.0 if found is None else found
    return gains


def _transformer_gains(model: nn.Module) -> dict[nn.Module, float]:
    """The gains of the feed-forward layers of torch's ``nn.TransformerEncoderLayer`` and
    ``nn.TransformerDecoderLayer``, whose forward runs ``linear2(activation(linear1(x)))``: the activation,
    a function when named by a string and registered after ``linear2`` when a module, is linear1's."""
    known: dict[nn.Module, float] = {}
    for module in model.modules():
        if isinstance(module, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
            activation = module.activation  # a module, or a function (activation="relu": F.relu)
            if not isinstance(activation, nn.Module):
                activation = function_activation(activation, (), {})
            linear1_gain = None if activation is None else module_gain(activation)
            if linear1_gain is not None:
                known[module.linear1], known[module.linear2] = linear1_gain, 1.0
    return known


def _draw_transposed(weight: Tensor, draw: Callable[[Tensor], Any]) -> None:
    """Fill ``weight`` ``(in, out)`` with what ``draw`` draws on an ``(out, in)`` weight, transposed."""
    drawn = torch.empty(weight.shape[::-1], dtype=weight.dtype, device=weight.device)
    draw(drawn)
    with torch.no_grad():
        weight.copy_(drawn.T)


def _draw_blocks(weight: Tensor, draw: Callable[[Tensor], Any], blocks: int) -> None:
    """Fill ``weight``, ``blocks`` matrices stacked along dim 0, with what ``draw`` draws on each."""
    for block in weight.chunk(blocks):
        draw(block)


def _check_writable(modules: list[nn.Module]) -> None:
    """Refuse, before any is drawn, a layer whose weight is computed from other parameters by a forward
    hook (the deprecated ``torch.nn.utils.weight_norm``'s ``weight_g`` and ``weight_v``): a draw into it
    would be recomputed away at the next forward."""
    for module in modules:
        if not (isinstance(module.weight, nn.Parameter) or parametrize.is_parametrized(module, "weight")):
            raise InvalidValueError(
                f"init of a {type(module).__name__}'s weight",
                "a tensor computed from other parameters by a hook (torch.nn.utils.weight_norm)",
                "a weight that is a parameter, or parametrized by torch.nn.utils.parametrizations "
                "(weight_norm, spectral_norm: the original weight is drawn)",
            )


def _check_parametrized_draws(
    model: nn.Module, draws: Mapping[nn.Module, Callable[[Tensor], Any]], scheme: str
) -> None:
    """Refuse, before any is drawn, a draw that a layer's parametrization divides by zero: weight norm's
    w = g v / ||v|| on a zero row v (Salimans & Kingma 2016, arXiv:1602.07868), spectral norm's w / sigma(w)
    on a zero matrix (Miyato et al. 2018, arXiv:1802.05957), as zeros, constant 0 or identity of more
    outputs than inputs draw: NaN weights. Drawn on a copy on the CPU, torch's CPU random state restored,
    so that the real draws are those of the seed."""
    for layer, draw in draws.items():
        if not parametrize.is_parametrized(layer, "weight"):
            continue
        probe = copy.deepcopy(layer).cpu()
        with torch.random.fork_rng(devices=[]):
            _initialize(probe, "weight", draw)
        if not probe.weight.isfinite().all():
            name = next(n for n, m in model.named_modules() if m is layer) or "(model)"
            kind = type(layer.parametrizations.weight[0]).__name__
            raise InvalidValueError(
                f"init of layer {name!r}, parametrized by torch's {kind}",
                scheme,
                "a scheme that draws no zero row for weight_norm (w = g v / ||v||), no zero matrix for "
                "spectral_norm (w / sigma(w)): these divide by zero, NaN weights; e.g. normal, orthogonal",
            )


def _check_materialized(model: nn.Module, modules: tuple[nn.Module, ...]) -> None:
    """Refuse, before any is drawn, a lazy layer (``nn.LazyLinear``) not yet run: its weight has no shape
    to draw on (torch would stop at it, after the layers before it were drawn)."""
    lazy = next((m for m in modules if any(is_lazy(p) for p in m.parameters(recurse=False))), None)
    if lazy is not None:
        name = next(n for n, m in model.named_modules() if m is lazy) or "(model)"
        raise InvalidValueError(
            f"init of layer {name!r}",
            f"a {type(lazy).__name__} not yet materialized (its weight has no shape yet)",
            "a model run once on a batch first (model(batch)), so that its lazy layers take their shapes; "
            "or data=batch with gain='auto', which runs it",
        )


@torch.no_grad()
def _initialize(module: nn.Module, name: str, draw: Callable[[Tensor], Any]) -> None:
    """Fill ``module``'s tensor ``name`` with what ``draw`` draws in place on one of its shape.

    A parametrized tensor (``torch.nn.utils.parametrizations.weight_norm``, ``spectral_norm``) is
    computed anew at each access, so a draw into it is lost: the drawn tensor is assigned instead, which
    sets the originals through the parametrization's ``right_inverse`` (weight norm's g = ||v||, v = the
    draw; spectral norm's original weight = the draw), as if the layer were drawn, then parametrized.
    """
    if not parametrize.is_parametrized(module, name):
        draw(getattr(module, name))
        return
    drawn = torch.empty_like(getattr(module, name))
    draw(drawn)
    setattr(module, name, drawn)


def validate(name: str, hyperparameters: Mapping[str, Any]) -> Entry[Any]:
    """Check scheme ``name`` and its hyperparameters as :func:`apply` does before it draws, without a model;
    returns its entry. Beside each value's range, the values wrong together: a gain beside kaiming's
    ``nonlinearity`` or ``a`` (which set it), bounds not in order (uniform's, truncated_normal's), found
    by a draw on a 1x1 weight, the global RNG left as it was."""
    return _checked(name, hyperparameters)[0]


def _checked(name: str, hyperparameters: Mapping[str, Any]) -> tuple[Entry[Any], dict[str, Any]]:
    """Scheme ``name``'s entry and its hyperparameters as :meth:`Entry.checked` makes them (lsuv's
    ``max_iterations: 3.0`` from YAML as range's 3), also checked together (:func:`validate`)."""
    entry = _REGISTRY.get(name)
    hyperparameters = entry.checked(hyperparameters)
    if Capability.WHOLE_MODEL in entry.capabilities:
        return entry, hyperparameters
    chosen = dict(hyperparameters)
    if chosen.get("gain") == AUTO_GAIN:
        if {"nonlinearity", "a"} & chosen.keys():
            raise InvalidValueError(f"init {entry.name!r} hyperparameter 'gain'", AUTO_GAIN, _GAIN_OR_TORCHS)
        chosen["gain"] = 1.0  # each layer's own, read by apply()
    # On a real 1x1 weight, the global RNG put back: a draw on the meta device would do, but its normal_
    # imports torch._dynamo (seconds, once a process) for every normal-distribution scheme
    with torch.random.fork_rng(devices=[]):
        entry.obj(torch.empty(1, 1), **entry.defaults, **chosen)
    return entry, hyperparameters


def create(name: str, **hyperparameters: Any) -> Callable[..., Any]:
    """Scheme ``name`` with its hyperparameters bound: call it on a weight (whole-model ones: on a model)."""
    entry, hyperparameters = _checked(name, hyperparameters)
    if hyperparameters.get("gain") == AUTO_GAIN:
        raise InvalidValueError(
            f"init {entry.name!r} gain",
            AUTO_GAIN,
            "a number here: 'auto' reads the activation after each layer, so it needs "
            "apply(model, ...) or a model built with this init",
        )
    return functools.partial(entry.obj, **entry.defaults, **hyperparameters)


def apply(
    model: nn.Module, scheme: str, *, data: Tensor | None = None, bias: str = "zeros", **hyperparameters: Any
) -> nn.Module:
    """Initialize every layer of ``model`` (:func:`is_layer`) with ``scheme``, in place; returns ``model``.

    Linear, Bilinear, ConvNd and ConvTransposeNd layers, and the input projections of an
    ``nn.MultiheadAttention`` (its out-projection is a Linear): each weight gets what torch's function of
    the same name draws on it (``nn.init.kaiming_normal_(layer.weight)``), each of the query, key and
    value projections stacked in an attention's ``in_proj_weight`` as the ``(embed, embed)`` map it is. A
    Linear stored transposed (:data:`TRANSPOSED_LINEARS`: GPT-2's) gets what its ``(out, in)`` weight would,
    transposed. An output layer tied to the input embedding (a language model's) is drawn as the layer it is,
    and the embedding with it, as Hugging Face's own init leaves a tied pair; a weight two layers share is
    drawn once, as the first layer's (at its gain). A layer parametrized by
    ``torch.nn.utils.parametrizations`` (weight_norm, spectral_norm) has its original weight drawn, as if
    drawn before it was parametrized; one whose weight a hook computes (the deprecated
    ``torch.nn.utils.weight_norm``) is refused.

    Args:
        scheme: a name of the "init" registry (``optimlab list init``).
        data: a batch of model inputs, for data-dependent schemes (lsuv), and for ``gain="auto"``: each
            layer then gets the gain of the activation one forward pass runs after it
            (:func:`_forward_gains`), modules or functions, rather than of the one registered after it;
            ignored otherwise.
        bias: ``"zeros"`` or ``"keep"``, for those layers' biases under tensor schemes; whole-model
            schemes set biases themselves (``default`` as PyTorch does, ``lsuv`` to zero).
        hyperparameters: the scheme's own, e.g. ``std=0.02`` or ``gain=1.0``; ``gain="auto"`` gives each
            layer the gain of the activation that follows it (:func:`layer_gains`).

    Norm layers, embeddings, recurrent layers (nn.RNN/LSTM/GRU) and other modules keep their weights
    (norms start at weight 1, bias 0: no name has one standard meaning for a recurrent layer, see
    docs/architecture.md); a tensor scheme called on one of their weights draws what torch's function of
    the same name draws, with the fans torch reads from the same axes. One
    :class:`KeptWeightsWarning` names the weights of 2+ dimensions left so (embedding tables, recurrent
    weights, a raw ``nn.Parameter`` of a module of one's own, Mixtral's stacked experts). A frozen layer
    (``requires_grad=False``) is drawn as any other and stays frozen, as torch's ``nn.init`` functions and
    ``reset_parameters()`` draw it: to keep pretrained weights, initialize before loading them.
    """
    entry, hyperparameters = _checked(scheme, hyperparameters)
    if bias not in _BIAS_CHOICES:
        raise InvalidValueError("bias", bias, "one of " + ", ".join(map(repr, _BIAS_CHOICES)))
    if Capability.WHOLE_MODEL in entry.capabilities:
        if bias != "zeros":  # the argument's default, left unset: the scheme's own biases
            raise InvalidValueError(
                f"bias of init {entry.name!r}",
                bias,
                "unset: it sets every bias itself ('default' as torch's reset_parameters draws it, 'lsuv' "
                "to zero); bias='keep' is for tensor schemes",
            )
        needs_data = {"data": data} if Capability.DATA_DEPENDENT in entry.capabilities else {}
        return entry.obj(model, **needs_data, **entry.defaults, **hyperparameters)
    return _draw_layers(model, entry, hyperparameters, data=data, bias=bias, named=entry.name, stacklevel=4)


def _draw_layers(
    model: nn.Module,
    entry: Entry[Any],
    hyperparameters: Mapping[str, Any],
    *,
    data: Tensor | None,
    bias: str,
    named: str,
    stacklevel: int,
) -> nn.Module:
    """The tensor scheme ``entry`` drawn on every layer of ``model`` as :func:`apply` draws it; the weights
    it keeps are said in one :class:`KeptWeightsWarning` of init ``named`` (lsuv's, whose draw this starts),
    ``stacklevel`` frames up."""
    derive_gain = hyperparameters.get("gain") == AUTO_GAIN
    if derive_gain and data is not None:
        if not isinstance(data, Tensor):
            raise InvalidValueError(
                "data", data, "a tensor batch of model inputs (gain 'auto' reads the order its forward runs)"
            )
        layers = _forward_gains(model, data)
    elif derive_gain:
        layers = layer_gains(model)
    else:  # each layer's gain unread (and unwarned of): the scheme's own
        layers = [(module, 1.0) for module in model.modules() if is_layer(module)]
    attentions = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    modules = (*(layer for layer, _ in layers), *attentions)
    if not modules:
        raise InvalidValueError(f"init {entry.name!r}'s model", type(model).__name__, _LAYERS_WANTED)
    _check_writable([layer for layer, _ in layers])
    _check_materialized(model, modules)
    no_identity = [type(m).__name__ for m in modules if isinstance(m, _NO_IDENTITY)]
    if entry.obj is identity and no_identity:
        raise InvalidValueError(
            "init 'identity'",
            f"a model with an nn.{no_identity[0]} layer",
            "a model of Linear, ConvNd and ConvTransposeNd layers: a bilinear map of two inputs, or an "
            "attention's query, key and value projections, have no identity",
        )
    _warn_of_kept_weights(model, named, _drawn_by_tensor_schemes(modules), _TENSOR_SCHEMES_DRAW, stacklevel)
    tied = _tied_to_earlier([layer for layer, _ in layers])
    draws = {
        layer: _layer_draw(entry, hyperparameters, layer, gain if derive_gain else None)
        for layer, gain in layers
        if layer not in tied
    }
    _check_parametrized_draws(model, draws, named)
    for layer, _ in layers:
        if layer in draws:
            _initialize(layer, "weight", draws[layer])
        if layer.bias is not None and bias == "zeros":
            _initialize(layer, "bias", zeros)
    # An attention's input projections, each its own (embed, kdim) map: q/k/v_proj_weight apart where
    # kdim or vdim differ, or the three stacked in in_proj_weight (3 * embed, embed), drawn block by block
    # (Glorot's fans and Saxe's orthogonality are the map's; torch's own reset draws the stack as one).
    # No activation follows them, so gain "auto" is 1. Its out_proj is a Linear, done above.
    chosen = {**hyperparameters, "gain": 1.0} if derive_gain else hyperparameters
    draw = functools.partial(entry.obj, **entry.defaults, **chosen)
    for attention in attentions:
        for projection in attention_projections(attention):
            blocks = 3 if projection == "in_proj_weight" else 1
            _initialize(attention, projection, functools.partial(_draw_blocks, draw=draw, blocks=blocks))
        if attention.in_proj_bias is not None and bias == "zeros":
            _initialize(attention, "in_proj_bias", zeros)
    return model


def _layer_draw(
    entry: Entry[Any], hyperparameters: Mapping[str, Any], layer: nn.Module, gain: float | None
) -> Callable[[Tensor], Any]:
    """Scheme ``entry``'s draw on ``layer``'s weight: at ``gain`` where derived (None: the scheme's own),
    within each group of a grouped conv for identity, transposed for a Linear stored (in, out)."""
    chosen = dict(hyperparameters) if gain is None else {**hyperparameters, "gain": gain}
    if entry.obj is identity and layer.weight.dim() > 2:
        chosen["groups"] = layer.groups  # dirac_ within each group of a grouped conv
    draw = functools.partial(entry.obj, **entry.defaults, **chosen)
    return functools.partial(_draw_transposed, draw=draw) if is_transposed_linear(layer) else draw


def _tied_to_earlier(layers: list[nn.Module]) -> set[nn.Module]:
    """The layers whose weight an earlier one of ``layers`` holds too (tied): a tied weight is drawn, and
    rescaled by lsuv, once, as the map of the first layer that uses it; a second draw would overwrite the
    first (at another gain), and lsuv's rescaling for the second would undo the first's unit variance."""
    seen: set[int] = set()
    tied: set[nn.Module] = set()
    for layer in layers:
        held = {id(p) for p in _parameters_of(layer, "weight")}
        if held & seen:
            tied.add(layer)
        seen |= held
    return tied


def _drawn_by_tensor_schemes(modules: tuple[nn.Module, ...]) -> list[Tensor]:
    """The parameters a tensor scheme draws of ``modules`` (layers and attentions): their weights, an
    attention's input projections, originals where parametrized."""
    return [
        p
        for module in modules
        for name in (
            attention_projections(module) if isinstance(module, nn.MultiheadAttention) else ("weight",)
        )
        for p in _parameters_of(module, name)
    ]


def attention_projections(attention: nn.MultiheadAttention) -> tuple[str, ...]:
    """An attention's input-projection weights: stacked, or apart where kdim or vdim differ from embed."""
    if attention.in_proj_weight is not None:
        return ("in_proj_weight",)
    return ("q_proj_weight", "k_proj_weight", "v_proj_weight")


def _parameters_of(module: nn.Module, name: str) -> Iterator[Tensor]:
    """The parameters that hold ``module``'s tensor ``name``: itself, or its originals where parametrized."""
    if parametrize.is_parametrized(module, name):
        yield from module.parametrizations[name].parameters()
    else:
        yield getattr(module, name)


def _warn_of_kept_weights(
    model: nn.Module, scheme: str, drawn: list[Tensor], why: str, stacklevel: int
) -> None:
    """One warning naming the parameters of 2+ dimensions of ``model`` that are not among ``drawn``
    (embeddings, recurrent layers, a raw ``nn.Parameter`` of a module of the user's own, stacked expert
    weights), and ``why``: they keep their values. A weight tied to a drawn one (a language model's
    embedding and output layer) is drawn with it."""
    drawn_ids = {id(p) for p in drawn}
    kept = [
        f"{name!r} {tuple(p.shape)}"
        for name, p in model.named_parameters()
        if id(p) not in drawn_ids and not is_lazy(p) and p.dim() >= 2
    ]
    if not kept:
        return
    warnings.warn(
        f"init {scheme!r} left {len(kept)} weight(s) of 2+ dimensions as they were: "
        f"{named_and_more(kept, _KEPT_NAMED, serial=True)}; {why}: draw those yourself, each matrix as the map it is",
        KeptWeightsWarning,
        stacklevel=stacklevel,
    )
