"""Advice on a user's own model (plain torch, Hugging Face) names its layers and the torch modules to
put there; the recipe's model fields (model.norm, model.activation), which change nothing in a model the
user wrote, are said only of optimlab's own architectures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import optimlab.models
from optimlab.doctor import diagnose

_RECIPE_MODEL_FIELDS = ("model.norm", "model.activation")


def _sigmoid_stack(built_by_optimlab: bool) -> nn.Module:
    """Eight Linear(16, 16) + sigmoid layers and a head: optimlab's mlp, or the same layers in plain torch."""
    torch.manual_seed(0)
    if built_by_optimlab:
        return optimlab.models.create("mlp", (16,), 2, width=16, depth=8, activation="sigmoid")
    layers: list[nn.Module] = []
    for _ in range(8):
        layers += [nn.Linear(16, 16), nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(16, 2))


@pytest.mark.parametrize("built_by_optimlab", [True, False], ids=["optimlab-mlp", "user-sequential"])
def test_a_vanishing_gradient_through_sigmoids_is_advised_in_the_words_of_who_built_the_model(
    built_by_optimlab,
):
    """The same eight sigmoid layers: optimlab's mlp is told its recipe fields (activation: relu, which
    its recipe changes); a user's nn.Sequential was told them too, fields it has not: it is told
    nn.ReLU and nn.init.kaiming_normal_ in place of its sigmoids, or nn.BatchNorm1d/nn.LayerNorm."""
    model = _sigmoid_stack(built_by_optimlab)
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    vanishing = next(f for f in found.findings if f.rule == "vanishing_gradients")
    if built_by_optimlab:
        assert vanishing.recommendation.startswith(
            "activation: relu with init: kaiming_normal instead of sigmoid"
        )
        assert vanishing.recipe_changes == {"model.activation": "relu", "model.init": "kaiming_normal"}
    else:
        assert vanishing.recommendation.startswith(
            "nn.ReLU with nn.init.kaiming_normal_ on the weights in place of each sigmoid"
        ), vanishing.recommendation
        assert "nn.BatchNorm1d/2d, or nn.LayerNorm" in vanishing.recommendation
        assert "activation:" not in vanishing.recommendation and "norm:" not in vanishing.recommendation
        assert vanishing.recipe_changes == {}


class _Pooler(nn.Module):
    """BERT's pooler as transformers writes it: ``dense`` then the tanh module ``activation``."""

    def __init__(self) -> None:
        super().__init__()
        self.dense, self.activation = nn.Linear(16, 16), nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(x))


def test_a_saturated_pooler_tanh_is_told_a_layer_norm_before_it_at_its_path_not_recipe_fields():
    """A Hugging Face BERT (a small BertConfig, SGD lr 3) saturated its pooler's tanh and was told
    'norm: batch before the tanh, or activation: relu with init: kaiming_normal', recipe_changes
    {'model.norm': 'batch'}: optimlab recipe fields a BERT has not. Here a user's model with the
    pooler's layers and names (transformers not loaded: 16 s), its tanh saturated by inputs of std 30
    at torch's init. Truth: the module paths the model was built with."""
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("pooler", _Pooler())
    model.add_module("classifier", nn.Linear(16, 2))
    x = 30 * torch.randn(64, 16)
    found = diagnose(model, (x, (x[:, 0] > 0).long()), nn.CrossEntropyLoss(), steps=12, lr_find=False)
    saturation = next(f for f in found.findings if f.rule == "saturation")
    assert saturation.recommendation == (
        "a norm layer on pooler.dense's outputs, before the tanh at pooler.activation (nn.LayerNorm, or "
        "nn.BatchNorm1d over features), or nn.ReLU in place of that tanh with nn.init.kaiming_normal_ on "
        "the weight that feeds it"
    )
    assert not set(_RECIPE_MODEL_FIELDS) & set(saturation.recipe_changes), saturation.recipe_changes
