"""Architectures by name, each built from an activation, a norm and an init named in their registries.

>>> import optimlab.models
>>> net = optimlab.models.create("mlp", (64,), 10, depth=30, activation="tanh", init="xavier_normal")
>>> sorted(optimlab.models.names())
['cnn', 'mlp', 'mnist1d_baseline_cnn', 'mnist1d_baseline_gru', 'mnist1d_baseline_logistic', 'mnist1d_baseline_mlp', 'parameter_vector', 'resnet', 'transformer']

Every factory is ``fn(input_shape, num_outputs, *, width, depth, activation, norm, init, dropout, ...)``
with ``input_shape`` excluding the batch dimension; activation, norm and init are names, or mappings of a
name and its hyperparameters such as ``init={"name": "kaiming_normal", "mode": "fan_out"}``
(:mod:`optimlab.techniques.choice`); ``parameter_vector`` (for quadratic problems) takes
none of the layer techniques. For data stored flat but made of images (digits: input shape (64,), image
shape (1, 8, 8)), pass ``splits.image_shape`` to an architecture that takes images (the ``images``
capability: CNNs then see 8x8 images, MLPs flatten either way) and ``splits.input_shape`` to a sequence
model, which reads the flat row as a sequence (:func:`optimlab.build.build_model` chooses so).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from optimlab.compiled import uncompiled
from optimlab.models import (  # noqa: F401  (fill the registry)
    cnn,
    mlp,
    mnist1d,
    parameter_vector,
    resnet,
    transformer,
)
from optimlab.models.layers import TECHNIQUE_FIELDS
from optimlab.models.sizing import check_fits
from optimlab.registry import Capability, new_registry

__all__ = ["create", "names", "recipe_fields"]

_REGISTRY = new_registry("model")

# The attribute holding the recipe's model fields that change a model optimlab built: the doctor's advice
# names those fields where they reach the model, and torch's modules where they do not. An attribute of
# the model itself, so that copy.deepcopy, pickling and torch.save carry it with the model.
_RECIPE_FIELDS = "_optimlab_recipe_fields"
# The mark on each module the recipe built: a layer the user puts in one's place (or adds) has none, and
# the recipe's fields, which would rebuild it, then name none of the model. A mark on each module itself,
# holding no reference to it, so that copies keep it as they keep the record.
_BUILT = "_optimlab_built_by_recipe"


def create(name: str, input_shape: tuple[int, ...], num_outputs: int, **hyperparameters: Any) -> nn.Module:
    """The architecture ``name`` for examples of ``input_shape`` and ``num_outputs`` outputs.

    Unknown names and keywords raise with close matches; out-of-range values name the accepted range; a
    model whose weights exceed the default device's memory is refused before it is built (sizing builds
    it on the meta device, where it is not checked again).
    """
    entry, device = _REGISTRY.get(name), torch.get_default_device()
    if device.type != "meta" and Capability.USER not in entry.capabilities:
        check_fits(name, input_shape, num_outputs, device, **hyperparameters)
    model = _REGISTRY.create(name, input_shape, num_outputs, **hyperparameters)
    takes_recipe_fields(model, name, [h.name for h in entry.hyperparameters if h.name in TECHNIQUE_FIELDS])
    return model


def takes_recipe_fields(model: nn.Module, name: str, techniques: Iterable[str]) -> None:
    """Record that the recipe's ``model.name`` (where ``name`` is one of optimlab's architectures) and its
    fields of ``techniques`` (``norm``, ``init``...) change ``model``, as built."""
    ours = name in _REGISTRY and Capability.USER not in _REGISTRY.get(name).capabilities
    fields = frozenset({*(f"model.{field}" for field in techniques), *(["model.name"] if ours else [])})
    setattr(model, _RECIPE_FIELDS, fields)
    for module in model.modules():
        setattr(module, _BUILT, True)


def recipe_fields(model: nn.Module) -> frozenset[str]:
    """The recipe fields that change ``model``, one optimlab built (:func:`create`, a recipe's build; under
    torch.compile's wrapper too); none for any other: a user's own model that holds one of optimlab's among
    its layers, or one optimlab built whose layers the user replaced or added to since."""
    model = uncompiled(model)
    fields = vars(model).get(_RECIPE_FIELDS, frozenset())
    return fields if all(vars(module).get(_BUILT, False) for module in model.modules()) else frozenset()


def names(pattern: str | None = None) -> list[str]:
    """Registered architectures, optionally filtered by a shell wildcard."""
    return _REGISTRY.names(pattern)


from optimlab.models.user import adapt_model  # noqa: E402

_REGISTRY.adapt_import = adapt_model
