"""Plain CNN: flat rows viewed as images, channels doubling at each pooling, 1-d convolutions on sequences."""

import pytest
import torch
from torch import nn

import optimlab.models


def test_flat_digit_rows_and_images_give_the_same_outputs():
    torch.manual_seed(0)
    net = optimlab.models.create("cnn", (1, 8, 8), 10, width=4).eval()
    images = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(net(images.reshape(3, 64)), net(images))
    torch.testing.assert_close(net(images.reshape(3, 8, 8)), net(images))


def test_channels_double_at_each_pool_until_the_map_is_one_pixel():
    net = optimlab.models.create("cnn", (1, 8, 8), 10, width=4, depth=5)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [
        4,
        8,
        16,
        32,
        32,
    ]  # maps 8 -> 4 -> 2 -> 1, then no more pooling
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 3
    shapes = []
    for conv in convs:
        conv.register_forward_hook(lambda _, __, out: shapes.append(tuple(out.shape[1:])))
    net(torch.randn(2, 64))
    assert shapes == [(4, 8, 8), (8, 4, 4), (16, 2, 2), (32, 1, 1), (32, 1, 1)]


def test_sequences_get_one_dimensional_convolutions():
    net = optimlab.models.create("cnn", (40,), 10, width=4, depth=2)
    assert any(isinstance(m, nn.Conv1d) for m in net.modules())
    assert not any(isinstance(m, nn.Conv2d) for m in net.modules())
    assert net(torch.randn(3, 40)).shape == (3, 10)


def test_global_average_pooling_makes_the_output_translation_invariant_on_a_one_pixel_map():
    torch.manual_seed(0)
    net = optimlab.models.create("cnn", (1, 1, 5), 3, width=4, depth=1).eval()  # 1x5 map: no pooling
    x = torch.zeros(1, 1, 1, 5)
    x[..., 2] = 1.0  # a lone spike far from the borders moves without changing what the kernel sees
    shifted = torch.roll(x, 1, dims=-1)
    torch.testing.assert_close(net(x), net(shifted))


@pytest.mark.parametrize(
    "name, shape, conv",
    [("cnn", (1, 8, 8), nn.Conv2d), ("cnn", (40,), nn.Conv1d), ("mnist1d_baseline_cnn", (40,), nn.Conv1d)],
)
@pytest.mark.parametrize(
    "norm, bias", [("batch", False), ("instance", False), ("none", True), ("group", True)]
)
def test_convolutions_before_a_norm_that_subtracts_each_channels_mean_have_no_bias(
    name, shape, conv, norm, bias
):
    # Batch and instance norm subtract each channel's mean, cancelling a bias before them exactly
    # (Ioffe & Szegedy 2015, Sec. 3.2); its gradient was rounding noise, 2e-7 against 0.12 for the weights.
    net = optimlab.models.create(name, shape, 10, norm=norm)
    assert {m.bias is not None for m in net.modules() if isinstance(m, conv)} == {bias}
    x = torch.randn(4, *shape)
    net(x).sum().backward()  # without the bias the model still trains
