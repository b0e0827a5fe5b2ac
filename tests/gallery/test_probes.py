"""The gallery's probes: log10 of gradient norms and output scales."""

import math

import torch
from torch import nn

from optimlab.gallery.probes import layer_gradients, log10


def test_log10_of_zero_is_minus_infinity_and_of_nan_is_nan():
    """A NaN norm (a network gone NaN) read as -inf, 'the gradient vanished entirely': the opposite."""
    assert log10(100.0) == 2.0 and log10(0.0) == -math.inf and log10(math.inf) == math.inf
    assert math.isnan(log10(math.nan))


def test_a_network_gone_nan_gives_nan_not_a_vanished_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight[0, 0] = math.nan
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    profile = layer_gradients(net, nn.functional.cross_entropy, x, y)
    assert math.isnan(log10(profile.backprop[0])) and math.isnan(log10(profile.output_std[-1]))
