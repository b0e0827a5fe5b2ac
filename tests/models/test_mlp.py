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
def test_xavier_normal_with_gain_auto_uses_the_gain_of_the_following_activation(activation, gain):
    torch.manual_seed(0)
    init = {"name": "xavier_normal", "gain": "auto"}
    net = optimlab.models.create("mlp", (512,), 10, width=512, depth=1, activation=activation, init=init)
    hidden, head = (m for m in net.modules() if isinstance(m, nn.Linear))
    expected = gain * math.sqrt(2 / (512 + 512))  # Glorot & Bengio 2010, times the activation's gain
    assert hidden.weight.std().item() == pytest.approx(expected, rel=0.02)
    assert head.weight.std().item() == pytest.approx(math.sqrt(2 / (512 + 10)), rel=0.05)  # linear output
    assert torch.count_nonzero(hidden.bias) == 0


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_init_by_name_ignores_the_activation_as_torch_does(activation):
    torch.manual_seed(0)
    net = optimlab.models.create("mlp", (512,), 10, width=512, depth=1, activation=activation, init="he")
    hidden = next(m for m in net.modules() if isinstance(m, nn.Linear))
    assert hidden.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.02)  # He: sqrt(2) always


def test_techniques_take_their_hyperparameters_as_mappings():
    net = optimlab.models.create(
        "mlp",
        (8,),
        2,
        width=16,
        depth=1,
        init={"name": "kaiming_uniform", "mode": "fan_out", "gain": 3.0},
        norm={"name": "batch", "momentum": 0.3, "eps": 1e-3},
        activation={"name": "leaky_relu", "negative_slope": 0.2},
    )
    hidden = net[1]
    bound = 3.0 * math.sqrt(3 / 16)  # uniform on +-sqrt(3) std, std = gain / sqrt(fan_out)
    assert hidden.weight.abs().max().item() <= bound and hidden.weight.abs().max().item() > 0.9 * bound
    batch_norm = next(m for m in net.modules() if isinstance(m, nn.BatchNorm1d))
    assert (batch_norm.momentum, batch_norm.eps) == (0.3, 1e-3)
    assert next(m for m in net.modules() if isinstance(m, nn.LeakyReLU)).negative_slope == 0.2


@pytest.mark.parametrize(
    "technique, match",
    [
        ({"init": {"name": "xavier_normal", "gian": 1.0}}, "Did you mean 'gain'"),
        ({"norm": {"name": "batch", "momentun": 0.1}}, "Did you mean 'momentum'"),
        ({"activation": {"negative_slope": 0.1}}, "a mapping of its name"),
        ({"init": {"name": "xavier_normal", "gain": -1.0}}, "'auto'"),
        # A list where one number goes: it passed the range check elementwise, then the init raised
        # TypeError (can't multiply sequence by float) and LeakyReLU failed only at the first batch.
        ({"init": {"name": "xavier_normal", "gain": [1.0, 2.0]}}, r"\[1.0, 2.0\].*'gain'"),
        ({"activation": {"name": "leaky_relu", "negative_slope": [0.1]}}, r"\[0.1\].*'negative_slope'"),
        # (0, inf) is open: an infinite gain filled every weight with inf, an infinite eps zeroed the norm.
        ({"init": {"name": "kaiming_normal", "gain": math.inf}}, r"inf.*'gain'"),
        ({"norm": {"name": "batch", "eps": math.inf}}, r"inf.*'eps'"),
        ({"activation": {"name": "elu", "alpha": math.inf}}, r"inf.*'alpha'"),
    ],
)
def test_bad_technique_hyperparameters_are_explained(technique, match):
    from optimlab.errors import OptimlabError

    with pytest.raises(OptimlabError, match=match):
        optimlab.models.create("mlp", (8,), 2, **technique)


def test_dropout_follows_each_activation():
    net = optimlab.models.create("mlp", (8,), 2, depth=3, dropout=0.25)
    kinds = [type(m).__name__ for m in net if not isinstance(m, nn.Flatten)]
    assert kinds.count("Dropout") == 3
    assert all(kinds[i - 1] == "ReLU" for i, kind in enumerate(kinds) if kind == "Dropout")
    assert {m.p for m in net.modules() if isinstance(m, nn.Dropout)} == {0.25}


@pytest.mark.parametrize("architecture", ["mlp", "mnist1d_baseline_mlp"])
def test_instance_norm_is_refused_when_the_mlp_is_built(architecture):
    """An MLP's features (N, C) have no positions to normalize each feature over: the instance norm was
    built, and the first batch raised inside the training loop."""
    from optimlab.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match=r"'instance' for norm.*batch, layer, group, rms or none"):
        optimlab.models.create(architecture, (40,), 10, norm="instance")


def test_selu_dropout_is_alpha_dropout_and_keeps_the_self_normalizing_fixed_point():
    # Klambauer et al. 2017 (arXiv:1706.02515, Sec. 3): SELU networks under lecun_normal keep mean 0,
    # variance 1 layer after layer; dropout must be alpha dropout to keep them. Plain dropout's
    # 1 / (1 - p) rescaling drove 16 such layers to variance 1.63 (p = 0.1; 2.79 at p = 0.2).
    torch.manual_seed(0)
    net = optimlab.models.create(
        "mlp", (512,), 10, width=512, depth=16, activation="selu", init="lecun_normal", dropout=0.1
    ).train()
    dropouts = [m for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    assert len(dropouts) == 16 and all(type(m) is nn.AlphaDropout and m.p == 0.1 for m in dropouts)
    hidden = net[:-1](torch.randn(1024, 512))
    assert abs(hidden.mean().item()) < 0.05 and hidden.var().item() == pytest.approx(1.0, abs=0.05)


def test_other_activations_keep_plain_dropout():
    net = optimlab.models.create("mlp", (8,), 2, activation="relu", dropout=0.1)
    dropouts = [type(m) for m in net.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    assert dropouts == [nn.Dropout] * 2


@pytest.mark.parametrize("name", ["mlp", "mnist1d_baseline_mlp"])
@pytest.mark.parametrize("norm, bias", [("batch", False), ("none", True), ("layer", True), ("rms", True)])
def test_hidden_layers_before_batch_norm_have_no_bias(name, norm, bias):
    # Ioffe & Szegedy 2015, Sec. 3.2: BN's mean subtraction cancels the bias b, "so z = g(Wu + b) is
    # replaced with z = g(BN(Wu))". A bias there got gradients at rounding level, which Adam scales to
    # lr-sized steps. Norms that do not subtract each feature's batch mean keep it.
    net = optimlab.models.create(name, (40,), 3, width=8, depth=2, norm=norm)
    *hidden, head = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [m.bias is not None for m in hidden] == [bias, bias]
    assert head.bias is not None  # the output layer has no norm after it


@pytest.mark.parametrize("init", ["lecun_normal", "lecun_uniform"])
def test_thirty_selu_layers_under_lecun_keep_mean_0_and_variance_1_at_every_layer(init):
    """Klambauer et al. 2017 (arXiv:1706.02515, Theorem 1): SELU after weights of variance 1 / fan_in
    (LeCun's) has the fixed point mean 0, variance 1, which inputs of N(0, 1) keep through 30 layers (worst
    layer over seeds 0-5: |mean| 0.017, |variance - 1| 0.07). torch's SELU gain 3/4, which gain "auto"
    takes, is not that fixed point: variance 0.56 / fan_in decays to about 0.05 by layer 30."""
    outputs = {}
    for scheme in (init, {"name": "kaiming_normal", "gain": "auto"}):
        torch.manual_seed(0)
        net = optimlab.models.create("mlp", (256,), 10, width=256, depth=30, activation="selu", init=scheme)
        h, outputs[str(scheme)] = torch.randn(1024, 256), []
        with torch.no_grad():
            for module in net[1:-1]:
                h = module(h)
                if isinstance(module, nn.SELU):
                    outputs[str(scheme)].append(h)
    assert len(outputs[init]) == 30
    for h in outputs[init]:
        assert abs(h.mean().item()) < 0.05 and h.var().item() == pytest.approx(1.0, abs=0.15)
    assert outputs[str({"name": "kaiming_normal", "gain": "auto"})][-1].var().item() < 0.2
