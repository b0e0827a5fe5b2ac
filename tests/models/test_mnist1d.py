"""The MNIST-1D paper's baselines: the architectures the authors' repository describes, by name."""

import torch
import torch.nn.functional as F
from torch import nn

import optimlab.models


def _layers(net, kind):
    return [m for m in net.modules() if isinstance(m, kind)]


def test_the_paper_models_have_the_papers_parameter_counts():
    # Linear 40->10; MLP 40-100-100-10; CNN 1->25 (k5), 25->25 (k3) twice, Linear 125->10; GRU: two
    # directions of 3 gates x (6 x 1 + 6 x 6 + 6 + 6), then Linear 2 x 6 x 40 -> 10.
    counts = {
        "mnist1d_baseline_logistic": 410,
        "mnist1d_baseline_mlp": 15210,
        "mnist1d_baseline_cnn": 5210,
        "mnist1d_baseline_gru": 2 * 3 * (6 + 36 + 6 + 6) + 480 * 10 + 10,
    }
    for name, count in counts.items():
        net = optimlab.models.create(name, (40,), 10)
        assert sum(p.numel() for p in net.parameters()) == count


def test_mlp_forward_is_the_residual_mlp_written_by_hand():
    net = optimlab.models.create("mnist1d_baseline_mlp", (40,), 10)
    first, second, head = _layers(net, nn.Linear)
    x = torch.randn(6, 40)
    h1 = F.relu(F.linear(x, first.weight, first.bias))
    h2 = h1 + F.relu(F.linear(h1, second.weight, second.bias))
    torch.testing.assert_close(net(x), F.linear(h2, head.weight, head.bias))


def test_cnn_forward_is_three_strided_convolutions_and_a_linear_head_written_by_hand():
    net = optimlab.models.create("mnist1d_baseline_cnn", (40,), 10)
    convs, (head,) = _layers(net, nn.Conv1d), _layers(net, nn.Linear)
    assert [(c.kernel_size, c.stride, c.padding) for c in convs] == [((5,), (2,), (1,))] + [
        ((3,), (2,), (1,))
    ] * 2
    x = torch.randn(6, 40)
    h = x.view(6, 1, 40)
    for conv in convs:
        h = F.relu(F.conv1d(h, conv.weight, conv.bias, stride=2, padding=1))
    assert h.shape == (6, 25, 5)
    torch.testing.assert_close(net(x), F.linear(h.flatten(1), head.weight, head.bias))


def test_logistic_regression_is_one_linear_layer_and_takes_an_init():
    net = optimlab.models.create("mnist1d_baseline_logistic", (40,), 10, init="zeros")
    (linear,) = _layers(net, nn.Linear)
    assert torch.count_nonzero(linear.weight) == 0
    torch.testing.assert_close(net(torch.randn(3, 40)), linear.bias.expand(3, 10))


def test_gru_forward_is_the_authors_bidirectional_gru_and_linear_head():
    """GRUBase of the authors' notebooks/models.py: values as (N, 40, 1) steps, a zero state, the
    outputs of both directions at all 40 positions flattened into the head."""
    net = optimlab.models.create("mnist1d_baseline_gru", (40,), 10)
    (head,) = _layers(net, nn.Linear)
    reference = nn.GRU(1, 6, batch_first=True, bidirectional=True)
    reference.load_state_dict(_layers(net, nn.GRU)[0].state_dict())
    x = torch.randn(5, 40)
    states, _ = reference(x.view(5, 40, 1), torch.zeros(2, 5, 6))
    torch.testing.assert_close(net(x), F.linear(states.reshape(5, -1), head.weight, head.bias))
