"""Small CIFAR-style residual network of BasicBlocks, three stages of ``depth`` blocks each.

He et al., Deep Residual Learning for Image Recognition, 2015, https://arxiv.org/abs/1512.03385
(Section 4.2: a 3x3 stem, stages of width w, 2w, 4w on feature maps halved at each stage start, global
average pooling, a Linear head; 6 * depth + 2 weight layers, so depth=3 is ResNet-20). Shortcuts are
identities; where a stage halves the map and doubles the channels they subsample and zero-pad the new
channels (the paper's parameter-free option A), so every shortcut stays an identity on the kept channels.
A convolution followed by batch norm (the default) or instance norm has no bias, as in He et al.'s
networks: the norm subtracts each channel's mean, which cancels a bias exactly (ResNet-20: 269,722
parameters, 688 fewer; those biases got gradients of at most 2e-7 against 0.12 for the weights).

A (L,) input is a one-channel sequence and gets 1-d convolutions; flat rows are viewed as images.

>>> import torch, optimlab.models
>>> net = optimlab.models.create("resnet", (1, 8, 8), 10, width=8, depth=1)
>>> net(torch.randn(5, 64)).shape
torch.Size([5, 10])
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from optimlab.models.layers import (
    CONV,
    GLOBAL_AVERAGE_POOL,
    AsChannels,
    LayerTechniques,
    channels_first,
    check_shapes,
)
from optimlab.models.sizing import DEPTH
from optimlab.registry import POSITIVE_INT, UNIT_OPEN, Capability, new_registry
from optimlab.techniques.choice import Choice

__all__ = ["BasicBlock", "resnet"]

_REGISTRY = new_registry("model")


class SubsampleShortcut(nn.Module):
    """Option A shortcut: keep every second position and zero-pad ``extra_channels`` new channels."""

    def __init__(self, spatial_dims: int, extra_channels: int) -> None:
        super().__init__()
        self.spatial_dims, self.extra_channels = spatial_dims, extra_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[(..., *(slice(None, None, 2),) * self.spatial_dims)]
        return F.pad(x, (0, 0) * self.spatial_dims + (0, self.extra_channels))


class BasicBlock(nn.Module):
    """activation(branch(x) + shortcut(x)), branch = Conv3 -> norm -> activation -> Conv3 -> norm.

    Submodules are registered in forward order (branch, shortcut, activation) so that initializers
    give each convolution the gain of the activation that follows it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        spatial_dims: int,
        techniques: LayerTechniques,
        positions: tuple[int, ...] | None = None,
    ) -> None:
        """``positions``: the map its output has, where known (an instance norm refuses one position)."""
        super().__init__()
        conv = CONV[spatial_dims]
        bias = not techniques.norm_cancels_bias
        self.branch = nn.Sequential(
            conv(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=bias),
            techniques.norm_layer(out_channels, spatial_dims, positions=positions),
            techniques.activation_layer(),
            conv(out_channels, out_channels, kernel_size=3, padding=1, bias=bias),
            techniques.norm_layer(out_channels, spatial_dims, positions=positions),
        )
        downsamples = stride != 1 or in_channels != out_channels
        self.shortcut = (
            SubsampleShortcut(spatial_dims, out_channels - in_channels) if downsamples else nn.Identity()
        )
        self.activation = techniques.activation_layer()

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.branch(x) + self.shortcut(x))


@_REGISTRY.register(
    "resnet",
    summary="CIFAR-style ResNet: 3x3 stem, 3 stages of depth BasicBlocks (width, 2x, 4x), identity skips.",
    paper="He et al. 2015, Deep Residual Learning for Image Recognition, arXiv:1512.03385",
    accepts={"width": POSITIVE_INT, "depth": DEPTH, "dropout": UNIT_OPEN},
    capabilities=(Capability.IMAGES, Capability.SEQUENCES),
)
def resnet(
    input_shape: tuple[int, ...],
    num_outputs: int,
    *,
    width: int = 16,
    depth: int = 1,
    activation: Choice = "relu",
    norm: Choice = "batch",
    init: Choice = "default",
    dropout: float = 0.0,
) -> nn.Sequential:
    """A ResNet of 6 * depth + 2 weight layers (depth=3: ResNet-20, depth=9: ResNet-56).

    Args:
        input_shape: (C, H, W) or (H, W) images, or (L,) one-channel sequences; batch dimension excluded.
        num_outputs: classes (logits) or regression targets.
        width: channels of the stem and the first stage; the next stages have 2x and 4x.
        depth: BasicBlocks per stage.
        activation, norm, init: names in the ``activation``, ``norm`` and ``init`` registries,
            or mappings of a name and its hyperparameters (:mod:`optimlab.techniques.choice`);
            batch norm by default, as in the paper.
        dropout: probability of zeroing a pooled feature before the head (after SELU: alpha dropout).
    """
    shape = channels_first(check_shapes("resnet", input_shape, num_outputs, ndims=(1, 2, 3)))
    techniques = LayerTechniques.resolve(activation, norm, init, dropout)
    spatial_dims = len(shape) - 1
    layers: list[nn.Module] = [
        AsChannels(shape),
        CONV[spatial_dims](shape[0], width, kernel_size=3, padding=1, bias=not techniques.norm_cancels_bias),
        techniques.norm_layer(width, spatial_dims, positions=shape[1:]),
        techniques.activation_layer(),
    ]
    channels, sizes = width, shape[1:]
    for stage in range(3):
        for block in range(depth):
            out = width * 2**stage
            stride = 2 if stage > 0 and block == 0 else 1
            sizes = tuple((size - 1) // stride + 1 for size in sizes)  # kernel 3, padding 1
            layers.append(BasicBlock(channels, out, stride, spatial_dims, techniques, positions=sizes))
            channels = out
    layers += [
        GLOBAL_AVERAGE_POOL[spatial_dims](1),
        nn.Flatten(),
        *techniques.dropout_layers(),
        nn.Linear(channels, num_outputs),
    ]
    return techniques.initialize(nn.Sequential(*layers))
