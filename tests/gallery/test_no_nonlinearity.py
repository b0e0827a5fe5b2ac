"""no_nonlinearity: a network without activations multiplies out to the one linear map it computes."""

import pytest
import torch
from torch import nn

from optimlab.gallery.claims.no_nonlinearity import collapsed


def test_the_layers_multiply_out_to_the_networks_function():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Identity(), nn.Linear(5, 4, bias=False), nn.Linear(4, 2))
    weight, bias = collapsed(net)
    x = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(x @ weight.T + bias, net.double()(x))


@pytest.mark.parametrize("device", ["meta", *(["cuda"] if torch.cuda.is_available() else [])])
def test_the_product_is_taken_on_the_networks_device(device):
    """At size large the network trains on a GPU: the product started from a CPU identity matrix and raised
    "Expected all tensors to be on the same device" (the meta device shows it without a GPU)."""
    net = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)).to(device)
    weight, bias = collapsed(net)
    assert (weight.shape, bias.shape) == ((2, 3), (2,))
    assert weight.device.type == bias.device.type == device
