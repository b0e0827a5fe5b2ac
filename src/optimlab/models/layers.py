"""What every architecture builds its layers from: the chosen techniques and the input's shape.

An architecture takes its activation, normalization and initialization by name, or as a mapping of the
name and its hyperparameters (``{"name": "batch", "momentum": 0.01}``, see
:mod:`optimlab.techniques.choice`), and a dropout probability; they are resolved once, against their own
registries, before any layer is built, so a typo fails with "did you mean" instead of deep inside a
constructor. Layers are registered in forward order (layer, norm, activation), which is what
:func:`optimlab.techniques.init.apply` reads when asked for ``gain="auto"``: each layer gets the gain of
the activation that follows it.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from torch import Tensor, nn

from optimlab.errors import InvalidValueError
from optimlab.registry import Capability, get_registry
from optimlab.techniques import activations, norms
from optimlab.techniques.choice import Choice, resolve
from optimlab.techniques.init import KeptWeightsWarning
from optimlab.techniques.init import apply as apply_init

__all__ = [
    "CONV",
    "GLOBAL_AVERAGE_POOL",
    "MAX_POOL",
    "AsChannels",
    "LayerTechniques",
    "MaxPool1d",
    "channels_first",
    "check_shapes",
]


class MaxPool1d(nn.MaxPool1d):
    """torch's ``MaxPool1d``, the same outputs and gradients (the first maximum of each window gets it),
    faster where the windows tile the sequence (stride = kernel, no padding, dilation 1, ceil_mode and
    return_indices off): a max over the last dimension reshaped into windows. Forward and backward on
    CPU it takes 0.6x torch's time on the lr check's 17 stacked MNIST-1D CNNs, 0.85x on one
    (``benchmarks/max_pool.py``)."""

    def forward(self, x: Tensor) -> Tensor:
        (kernel,), (stride,) = _single(self.kernel_size), _single(self.stride)
        tiled = (stride, _single(self.padding)[0], _single(self.dilation)[0]) == (kernel, 0, 1)
        if not tiled or self.ceil_mode or self.return_indices:
            return super().forward(x)
        windows = x.shape[-1] // kernel
        return x[..., : windows * kernel].unflatten(-1, (windows, kernel)).max(-1).values


def _single(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


# Layer classes by number of spatial dimensions: 1 for sequences (C, L), 2 for images (C, H, W).
CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d}
MAX_POOL: dict[int, type[nn.Module]] = {1: MaxPool1d, 2: nn.MaxPool2d}
GLOBAL_AVERAGE_POOL: dict[int, type[nn.Module]] = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d}


# The technique fields a layered model takes, as its factory's hyperparameters and the recipe's
# model fields (recipe.ModelSpec.TECHNIQUES).
TECHNIQUE_FIELDS: tuple[str, ...] = ("activation", "norm", "init", "dropout")


@dataclasses.dataclass(frozen=True)
class LayerTechniques:
    """Activation, normalization and initialization by canonical name with their hyperparameters, and
    the dropout probability."""

    activation: str
    norm: str
    init: str
    dropout: float
    activation_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    norm_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    init_options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def resolve(cls, activation: Choice, norm: Choice, init: Choice, dropout: float) -> LayerTechniques:
        """Check each choice against its registry (close matches on a typo) and keep the canonical name."""
        init_name, init_options = resolve("init", init)
        if Capability.DATA_DEPENDENT in get_registry("init").get(init_name).capabilities:
            raise InvalidValueError(
                "init",
                init,
                "a scheme that needs no data while the model is built; build "
                f"with init='default', then optimlab.techniques.init.apply(model, {init_name!r}, "
                "data=a_batch_of_inputs)",
            )
        activation_name, activation_options = resolve("activation", activation)
        if activation_options.get("num_parameters", 1) != 1:  # prelu: torch's slopes per channel of dim 1
            raise InvalidValueError(
                f"activation {activation_name}'s num_parameters",
                activation_options["num_parameters"],
                "1, one slope per layer: the layers of a built-in architecture differ in width",
            )
        norm_name, norm_options = resolve("norm", norm)
        return cls(
            activation=activation_name,
            norm=norm_name,
            init=init_name,
            dropout=float(dropout),
            activation_options=activation_options,
            norm_options=norm_options,
            init_options=init_options,
        )

    def activation_layer(self) -> nn.Module:
        return activations.create(self.activation, **self.activation_options)

    def norm_layer(
        self, num_features: int, spatial_dims: int = 0, *, positions: tuple[int, ...] | None = None
    ) -> nn.Module:
        """A norm over ``num_features`` channels; ``spatial_dims`` 0 = (N, C) or (N, T, C), 1 = (N, C, L),
        2 = (N, C, H, W). ``positions``: the positions of each channel where the build knows them (the map's
        (H, W), a sequence's longest (T,), () for an MLP's (N, C) features). Over one position or none an
        instance norm would normalize each channel to 0 (torch's InstanceNorm refuses it at the first
        batch), and so would a group norm of one channel per group: refused as it is built, naming the
        shape."""
        made = norms.create(self.norm, num_features, spatial_dims=spatial_dims, **self.norm_options)
        check_shape = getattr(made.inner, "check_shape", None)  # instance and group norms' (norms.py)
        if positions is not None and check_shape is not None:
            try:
                check_shape((0, num_features, *positions))
            except InvalidValueError as refused:
                dims = ("N", num_features, *positions) if spatial_dims else ("N", *positions, num_features)
                raise InvalidValueError(
                    f"norm over ({', '.join(map(str, dims))})", self.norm, refused.accepted
                ) from None
        return made

    @property
    def norm_cancels_bias(self) -> bool:
        """Whether the norm after a layer subtracts each channel's mean (batch and instance norm), which
        cancels the layer's bias exactly, so the layer has none: Ioffe & Szegedy 2015 (Sec. 3.2) replace
        g(Wu + b) by g(BN(Wu)), and He et al.'s convolutions have none. Such a bias got gradients of at
        most 2e-7 against 0.12 for the weights (ResNet-20, one batch), noise that Adam scales to lr-sized
        steps (docs/architecture.md); other norms keep the bias, which they do not cancel."""
        return self.norm in ("batch", "instance")

    def dropout_layers(self) -> list[nn.Module]:
        """A dropout layer when dropout is on, none otherwise (keeps the printed model short).

        After SELU it is alpha dropout, as Klambauer et al. 2017 (arXiv:1706.02515, Sec. 3) prescribe for
        self-normalizing networks: dropped units are set to SELU's saturation value and the result is
        rescaled so that mean 0 and variance 1 are kept. Plain dropout scales the kept units by 1 / (1 - p),
        which breaks the fixed point: 16 SELU layers of 512 units under lecun_normal, dropout 0.1, end at
        variance 1.63 (1.00 with alpha dropout; tests/models/test_mlp.py).
        """
        if self.dropout == 0:
            return []
        return [nn.AlphaDropout(self.dropout) if self.activation == "selu" else nn.Dropout(self.dropout)]

    def initialize(self, model: nn.Module) -> nn.Module:
        """``model`` under the init; the weights a built-in model keeps on purpose (the Transformer's
        embedding and position table, the MNIST-1D GRU's) are its documented choice, not a skip to warn of."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KeptWeightsWarning)
            return apply_init(model, self.init, **self.init_options)


def check_shapes(
    architecture: str, input_shape: tuple[int, ...], num_outputs: int, ndims: tuple[int, ...]
) -> tuple[int, ...]:
    """``input_shape`` (batch dimension excluded) as a tuple of positive ints with an accepted rank."""
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else (input_shape,)
    well_formed = all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    if not well_formed or len(shape) not in ndims:
        ranks = " or ".join(str(n) for n in ndims)
        raise InvalidValueError(
            f"input_shape of {architecture}",
            input_shape,
            f"a tuple of {ranks} positive ints, without the batch dimension",
        )
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
        raise InvalidValueError(f"num_outputs of {architecture}", num_outputs, "a positive int")
    return shape


def channels_first(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The (C, *spatial) view of an input: (L,) is a one-channel sequence, (H, W) a one-channel image,
    (C, H, W) stays as it is."""
    return (1, *input_shape) if len(input_shape) < 3 else tuple(input_shape)


class AsChannels(nn.Module):
    """Views each example as (C, *spatial): flat rows (N, C*H*W) and (N, H, W) become (N, C, H, W).

    Built-in images such as digits come as flat feature rows with a registered image shape; this lets
    the same tensors feed an MLP and a CNN.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
