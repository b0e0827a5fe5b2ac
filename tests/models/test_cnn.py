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


def test_he_init_keeps_the_signal_through_blocks_on_a_one_pixel_map():
    """Past the last pooling (digits: 8 -> 4 -> 2 -> 1) a block's 3x3 kernel would read only padding
    but at its centre, and torch's fan-in of 9 C taps made kaiming_normal draw 1/9 of He's variance
    for the C taps that count: the second moment after each ReLU fell 0.108x a block (theory 1/9), and 30
    blocks stalled at chance. There the kernel is 1 wide, the same map; He et al. 2015 (eq. 10) keep
    E[relu(y)^2] from block to block, Glorot's gain 1 halves it (theory: Var(w) = 1 / C, ReLU halves)."""
    torch.manual_seed(0)
    x = torch.randn(512, 64)
    ratios = {}
    for scheme in ("kaiming_normal", "xavier_normal"):
        net = optimlab.models.create("cnn", (1, 8, 8), 10, width=8, depth=12, init=scheme)
        activations = [module for module in net if isinstance(module, nn.ReLU)]
        moments = [out.pow(2).mean().item() for out in _outputs(net, activations, x)]
        past_pooling = moments[3:]  # 64 channels on a 1x1 map
        ratios[scheme] = (past_pooling[-1] / past_pooling[0]) ** (1 / (len(past_pooling) - 1))
    assert ratios["kaiming_normal"] == pytest.approx(1.0, abs=0.15)  # measured 1.04; 0.108 before
    assert ratios["xavier_normal"] == pytest.approx(0.5, abs=0.1)  # measured 0.47


def test_a_kernel_one_wide_along_a_dimension_of_size_one_is_the_three_wide_kernels_map():
    """The 1-wide kernel computes what the 3-wide one with the same centre tap computes on that map."""
    torch.manual_seed(0)
    net = optimlab.models.create("cnn", (1, 1, 5), 3, width=4, depth=1)  # 1 x 5: kernel (1, 3)
    conv = net[1]
    assert conv.kernel_size == (1, 3) and conv.padding == (0, 1)
    wide = nn.Conv2d(1, 4, 3, padding=1)
    with torch.no_grad():
        wide.weight.normal_()
        wide.weight[:, :, 1:2, :] = conv.weight
        wide.bias.copy_(conv.bias)
    x = torch.randn(6, 1, 1, 5)
    torch.testing.assert_close(conv(x), wide(x))


def _outputs(net: nn.Module, modules: list[nn.Module], x: torch.Tensor) -> list[torch.Tensor]:
    """What each of ``modules`` outputs in one forward pass of ``net`` on ``x``, in forward order."""
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _, __, out: outputs.append(out)) for m in modules]
    net(x)
    for hook in hooks:
        hook.remove()
    return outputs
