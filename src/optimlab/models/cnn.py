"""Plain convolutional network: ``depth`` blocks Conv3 -> norm -> activation -> max-pool, VGG style.

LeCun et al., Gradient-based learning applied to document recognition, Proc. IEEE 86(11), 1998;
the 3x3-convolution blocks that double their channels at each pooling follow Simonyan & Zisserman,
Very Deep Convolutional Networks for Large-Scale Image Recognition, 2014, https://arxiv.org/abs/1409.1556.

Images are (C, H, W) or (H, W); a (L,) input is a one-channel sequence and gets 1-d convolutions (the
MNIST-1D baseline). Flat rows (N, C*H*W) are viewed as images, so digits' 64 features with image
shape (1, 8, 8) feed it directly. Before batch or instance norm the convolutions have no bias, which
the norm would cancel. Blocks past the last pooling, on a map of one pixel (digits: after three), have
1x1 kernels: a 3x3 one computes the same there, its outer taps reading padding, but the fan-in that
torch and every variance-scaling init read from it would be 9x the real one (He's init: 1/9 of the
variance a block, a 30-block ReLU net stalled at chance).

>>> import torch, optimlab.models
>>> net = optimlab.models.create("cnn", (1, 8, 8), 10, width=16)
>>> net(torch.randn(5, 64)).shape
torch.Size([5, 10])
"""

from __future__ import annotations

from torch import nn

from optimlab.models.layers import (
    CONV,
    GLOBAL_AVERAGE_POOL,
    MAX_POOL,
    AsChannels,
    LayerTechniques,
    channels_first,
    check_shapes,
)
from optimlab.models.sizing import DEPTH
from optimlab.registry import POSITIVE_INT, UNIT_OPEN, Capability, new_registry
from optimlab.techniques.choice import Choice

__all__ = ["cnn"]

_REGISTRY = new_registry("model")


@_REGISTRY.register(
    "cnn",
    summary="Plain CNN: depth blocks Conv3 -> norm -> activation -> max-pool, channels doubling per pool.",
    paper="LeCun et al. 1998, Gradient-based learning applied to document recognition; "
    "Simonyan & Zisserman 2014, arXiv:1409.1556",
    accepts={"width": POSITIVE_INT, "depth": DEPTH, "dropout": UNIT_OPEN},
    aliases=("convnet",),
    capabilities=(Capability.IMAGES, Capability.SEQUENCES),
)
def cnn(
    input_shape: tuple[int, ...],
    num_outputs: int,
    *,
    width: int = 32,
    depth: int = 2,
    activation: Choice = "relu",
    norm: Choice = "none",
    init: Choice = "default",
    dropout: float = 0.0,
) -> nn.Sequential:
    """A CNN with global average pooling and a Linear head.

    Args:
        input_shape: (C, H, W) or (H, W) images, or (L,) one-channel sequences; batch dimension excluded.
        num_outputs: classes (logits) or regression targets.
        width: channels of the first block; they double after each max-pool (2x2, or 2 on sequences),
            which happens while every spatial size is at least 2; kernels are 3 wide, 1 along a
            dimension of size 1.
        depth: number of convolution blocks.
        activation, norm, init: names in the ``activation``, ``norm`` and ``init`` registries,
            or mappings of a name and its hyperparameters (:mod:`optimlab.techniques.choice`).
        dropout: probability of zeroing a pooled feature before the head (after SELU: alpha dropout).
    """
    shape = channels_first(check_shapes("cnn", input_shape, num_outputs, ndims=(1, 2, 3)))
    techniques = LayerTechniques.resolve(activation, norm, init, dropout)
    spatial_dims = len(shape) - 1
    channels, sizes, pools = shape[0], shape[1:], 0
    layers: list[nn.Module] = [AsChannels(shape)]
    for _ in range(depth):
        out = width * 2**pools
        # 1 wide along a dimension of size 1, where a 3-wide kernel's outer taps read only padding
        kernel = tuple(3 if size > 1 else 1 for size in sizes)
        layers += [
            CONV[spatial_dims](
                channels,
                out,
                kernel_size=kernel,
                padding=tuple(k // 2 for k in kernel),
                bias=not techniques.norm_cancels_bias,
            ),
            techniques.norm_layer(out, spatial_dims, positions=sizes),
            techniques.activation_layer(),
        ]
        channels = out
        if min(sizes) >= 2:
            layers.append(MAX_POOL[spatial_dims](2))
            sizes, pools = tuple(s // 2 for s in sizes), pools + 1
    layers += [
        GLOBAL_AVERAGE_POOL[spatial_dims](1),
        nn.Flatten(),
        *techniques.dropout_layers(),
        nn.Linear(channels, num_outputs),
    ]
    return techniques.initialize(nn.Sequential(*layers))
