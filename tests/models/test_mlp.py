"""MLP: depth counts hidden layers, layers come in forward order, the init reaches every layer."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import optimlab.models


def test_the_thirty_layer_mlp_is_one_line_with_thirty_hidden_layers():
    net = optimlab.models.create("mlp", (64,), 10, depth=30, activation="tanh", init="xavier_normal")
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 31  # 30 hidden + the output layer
    assert [(m.in_features, m.out_features) for m in linears[:2]] == [(64, 128), (128, 128)]
    assert (linears[-1].in_features, linears[-1].out_features) == (128, 10)
    assert sum(isinstance(m, nn.Tanh) for m in net.modules()) == 30
    assert net(torch.randn(5, 64)).shape == (5, 10)


def test_forward_is_linear_activation_linear_as_written_by_hand():
    torch.manual_seed(0)
    net = optimlab.models.create("mlp", (2, 3), 4, width=5, depth=2, activation="relu")
    first, second, head = (m for m in net.modules() if isinstance(m, nn.Linear))
    x = torch.randn(6, 2, 3)
    hidden = F.relu(
        F.linear(F.relu(F.linear(x.reshape(6, 6), first.weight, first.bias)), second.weight, second.bias)
    )
    torch.testing.assert_close(net(x), F.linear(hidden, head.weight, head.bias))


@pytest.mark.parametrize("activation, gain", [("tanh", 5 / 3), ("relu", math.sqrt(2)), ("identity", 1.0)])
def test_xavier_normal_uses_the_gain_of_the_following_activation(activation, gain):
    torch.manual_seed(0)
    net = optimlab.models.create(
        "mlp", (512,), 10, width=512, depth=1, activation=activation, init="xavier_normal"
    )
    hidden = next(m for m in net.modules() if isinstance(m, nn.Linear))
    expected = gain * math.sqrt(2 / (512 + 512))  # Glorot & Bengio 2010, times the activation's gain
    assert hidden.weight.std().item() == pytest.approx(expected, rel=0.02)
    assert torch.count_nonzero(hidden.bias) == 0


def test_dropout_follows_each_activation():
    net = optimlab.models.create("mlp", (8,), 2, depth=3, dropout=0.25)
    kinds = [type(m).__name__ for m in net if not isinstance(m, nn.Flatten)]
    assert kinds.count("Dropout") == 3
    assert all(kinds[i - 1] == "ReLU" for i, kind in enumerate(kinds) if kind == "Dropout")
    assert {m.p for m in net.modules() if isinstance(m, nn.Dropout)} == {0.25}
