"""Multilayer perceptron: ``depth`` hidden layers of ``width`` units, each Linear -> norm -> activation.

Before batch norm the Linear layers have no bias, which the norm would cancel (Ioffe & Szegedy 2015).

Rumelhart, Hinton & Williams, Learning representations by back-propagating errors, Nature 323, 1986.

>>> import torch, optimlab.models
>>> net = optimlab.models.create("mlp", (64,), 10, depth=30, activation="tanh", init="xavier_normal")
>>> net(torch.randn(5, 64)).shape
torch.Size([5, 10])
"""

from __future__ import annotations

import math

from torch import nn

from optimlab.models.layers import LayerTechniques, check_shapes
from optimlab.models.sizing import HIDDEN_DEPTH
from optimlab.registry import POSITIVE_INT, UNIT_OPEN, Capability, new_registry
from optimlab.techniques.choice import Choice

__all__ = ["mlp"]

_REGISTRY = new_registry("model")


@_REGISTRY.register(
    "mlp",
    summary="Multilayer perceptron: depth hidden layers Linear -> norm -> activation (-> dropout).",
    paper="Rumelhart et al. 1986, Learning representations by back-propagating errors, Nature 323",
    accepts={"width": POSITIVE_INT, "depth": HIDDEN_DEPTH, "dropout": UNIT_OPEN},
    aliases=("fully_connected",),
    capabilities=(Capability.FEATURES, Capability.IMAGES, Capability.SEQUENCES),
)
def mlp(
    input_shape: tuple[int, ...],
    num_outputs: int,
    *,
    width: int = 128,
    depth: int = 2,
    activation: Choice = "relu",
    norm: Choice = "none",
    init: Choice = "default",
    dropout: float = 0.0,
) -> nn.Sequential:
    """An MLP on inputs of any shape (flattened first); ``depth`` counts the hidden layers.

    Args:
        input_shape: one example's shape, batch dimension excluded: (F,), (H, W), (C, H, W)...
        num_outputs: classes (logits) or regression targets.
        width: units of every hidden layer.
        depth: number of hidden layers; the output Linear comes on top (depth 0: a linear model,
            i.e. logistic regression under cross entropy).
        activation, norm, init: names in the ``activation``, ``norm`` and ``init`` registries,
            or mappings of a name and its hyperparameters (:mod:`optimlab.techniques.choice`).
        dropout: probability of zeroing a hidden unit, after each activation (after SELU: alpha
            dropout, which sets it to SELU's saturation value and keeps mean 0, variance 1).
    """
    shape = check_shapes("mlp", input_shape, num_outputs, ndims=(1, 2, 3))
    techniques = LayerTechniques.resolve(activation, norm, init, dropout)
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(shape)
    for _ in range(depth):
        layers += [
            nn.Linear(fan_in, width, bias=not techniques.norm_cancels_bias),
            techniques.norm_layer(width, positions=()),
            techniques.activation_layer(),
            *techniques.dropout_layers(),
        ]
        fan_in = width
    layers.append(nn.Linear(fan_in, num_outputs))
    return techniques.initialize(nn.Sequential(*layers))
