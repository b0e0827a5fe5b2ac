"""CIFAR ResNet: the paper's layer and parameter counts, and shortcuts that carry the input through."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import optimlab.models
from optimlab.models.layers import LayerTechniques
from optimlab.models.resnet import BasicBlock


@pytest.mark.parametrize("depth, layers, params", [(3, 20, 0.27e6), (5, 32, 0.46e6), (9, 56, 0.85e6)])
def test_layer_and_parameter_counts_match_the_paper(depth, layers, params):
    net = optimlab.models.create("resnet", (3, 32, 32), 10, depth=depth)  # He et al. 2015, Table 6
    weighted = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(weighted) == layers == 6 * depth + 2
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(params, rel=0.02)


def _paper_parameter_count(channels: int, width: int, depth: int, outputs: int) -> int:
    """He et al.'s CIFAR ResNet counted by hand: 3x3 convolutions without bias, batch norm's scale and
    shift per channel, option-A shortcuts (no parameters), a Linear head."""
    count = channels * width * 9 + 2 * width  # stem
    in_channels = width
    for stage in range(3):
        out = width * 2**stage
        for _ in range(depth):
            count += (in_channels * out + out * out) * 9 + 4 * out
            in_channels = out
    return count + in_channels * outputs + outputs


def test_resnet20_has_the_papers_exact_parameter_count_without_conv_biases():
    # A bias before batch norm is cancelled by its mean subtraction; He et al.'s convolutions have none.
    # With them ResNet-20 had 270,410 parameters, 688 dead (gradients <= 2e-7 against 0.12 for weights).
    net = optimlab.models.create("resnet", (3, 32, 32), 10, depth=3)
    assert sum(p.numel() for p in net.parameters()) == _paper_parameter_count(3, 16, 3, 10) == 269_722
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("norm, bias", [("batch", False), ("instance", False), ("none", True), ("layer", True),
                                        ("group", True), ("rms", True)])  # fmt: skip
def test_conv_bias_only_where_the_norm_after_it_does_not_cancel_it(norm, bias):
    net = optimlab.models.create("resnet", (3, 8, 8), 10, width=8, norm=norm)
    assert {m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d)} == {bias}


def test_stages_halve_the_map_and_double_the_channels():
    net = optimlab.models.create("resnet", (3, 32, 32), 10, depth=2)
    shapes = []
    for block in (m for m in net.modules() if isinstance(m, BasicBlock)):
        block.register_forward_hook(lambda _, __, out: shapes.append(tuple(out.shape[1:])))
    net(torch.randn(2, 3, 32, 32))
    assert shapes == [(16, 32, 32)] * 2 + [(32, 16, 16)] * 2 + [(64, 8, 8)] * 2


def zero_branch(block: BasicBlock) -> None:
    last_conv = [m for m in block.branch if isinstance(m, nn.Conv2d)][-1]
    nn.init.zeros_(last_conv.weight)
    nn.init.zeros_(last_conv.bias)


def test_a_block_with_a_zero_branch_is_the_activation_of_its_input():
    net = optimlab.models.create("resnet", (3, 16, 16), 10, width=8, depth=2, norm="none")
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    for block in blocks:
        zero_branch(block)
    x = torch.randn(2, 8, 16, 16)
    torch.testing.assert_close(blocks[0](x), F.relu(x))  # identity shortcut
    y = torch.randn(2, 8, 16, 16)
    down = blocks[2](y)  # first block of stage 2: subsample, then zero-pad 8 new channels (option A)
    assert down.shape == (2, 16, 8, 8)
    torch.testing.assert_close(down[:, :8], F.relu(y[:, :, ::2, ::2]))
    assert torch.count_nonzero(down[:, 8:]) == 0


def test_the_shortcut_adds_the_input_to_the_branch():
    torch.manual_seed(0)
    block = BasicBlock(4, 4, 1, 2, LayerTechniques.resolve("relu", "none", "default", 0.0))
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(block(x), F.relu(block.branch(x) + x))


def test_sequences_get_a_one_dimensional_resnet():
    net = optimlab.models.create("resnet", (40,), 10, width=4)
    assert any(isinstance(m, nn.Conv1d) for m in net.modules()) and not any(
        isinstance(m, nn.Conv2d) for m in net.modules()
    )
    assert net(torch.randn(3, 40)).shape == (3, 10)
