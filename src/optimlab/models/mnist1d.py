"""The baseline models of the MNIST-1D paper, by name: logistic regression, an MLP, a CNN and a GRU.

Greydanus & Kobak, Scaling Down Deep Learning with MNIST-1D, 2020, https://arxiv.org/abs/2011.14439
(README table: test accuracy 32% logistic regression, 68% MLP, 94% CNN, 91% GRU). The architectures
follow the description in the authors' repository (github.com/greydanus/mnist1d, ``notebooks/models.py``):

* ``mnist1d_baseline_logistic``: one Linear layer from the 40 inputs to the 10 classes;
* ``mnist1d_baseline_mlp``: 40 -> 100 -> 100 -> 10 with ReLUs, the second hidden layer added to its input
  (h2 = h1 + relu(W2 h1 + b2));
* ``mnist1d_baseline_cnn``: three Conv1d layers of 25 channels with ReLUs, kernel 5 then 3 and 3, stride 2 and
  padding 1 each (40 -> 19 -> 10 -> 5 positions), then a Linear layer over the flattened 25 x 5 features;
* ``mnist1d_baseline_gru``: a bidirectional GRU of 6 units reading one value per step from a zero state,
  then a Linear layer over its outputs at all 40 positions (2 x 6 x 40 features); 5,134 parameters.

PyTorch's default initialization, as the authors used; the paper's protocol (Adam, lr 1e-2, batches of
100 in order, 6,000 steps, on the data set's own split) is recipe fields: see
:mod:`optimlab.gallery.mnist1d_baselines`. Activation, norm and init are accepted like every
architecture's (a norm after each hidden layer or convolution, none in the paper), and so are width,
depth and dropout, whose defaults are the paper's; the GRU takes its width (units) and an init of its
head (the GRU keeps PyTorch's, as :func:`optimlab.techniques.init.apply` leaves recurrent layers).

>>> import torch, optimlab.models
>>> optimlab.models.create("mnist1d_baseline_cnn", (40,), 10)(torch.randn(3, 40)).shape
torch.Size([3, 10])
"""

from __future__ import annotations

from torch import Tensor, nn

from optimlab.errors import InvalidValueError
from optimlab.models.layers import AsChannels, LayerTechniques, check_shapes
from optimlab.models.sizing import DEPTH
from optimlab.registry import POSITIVE_INT, UNIT_OPEN, Capability, new_registry
from optimlab.techniques.choice import Choice

__all__ = [
    "mnist1d_baseline_cnn",
    "mnist1d_baseline_gru",
    "mnist1d_baseline_logistic",
    "mnist1d_baseline_mlp",
]

_REGISTRY = new_registry("model")
PAPER = "Greydanus & Kobak 2020, Scaling Down Deep Learning with MNIST-1D, arXiv:2011.14439"


@_REGISTRY.register(
    "mnist1d_baseline_logistic",
    summary="MNIST-1D paper's logistic regression: one Linear layer (32% test accuracy in the paper).",
    paper=PAPER,
    capabilities=(Capability.SEQUENCES, Capability.FEATURES),
)
def mnist1d_baseline_logistic(
    input_shape: tuple[int, ...], num_outputs: int, *, init: Choice = "default"
) -> nn.Module:
    shape = check_shapes("mnist1d_baseline_logistic", input_shape, num_outputs, ndims=(1,))
    techniques = LayerTechniques.resolve("identity", "none", init, 0.0)
    return techniques.initialize(nn.Sequential(nn.Flatten(), nn.Linear(shape[0], num_outputs)))


class ResidualMLP(nn.Module):
    """h = block_1(x), then h = h + block_i(h) for the later blocks; logits = head(h).

    A block is Linear -> norm -> activation (-> dropout), registered in forward order for init's
    ``gain="auto"``.
    """

    def __init__(
        self, inputs: int, width: int, depth: int, outputs: int, techniques: LayerTechniques
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Linear(inputs if i == 0 else width, width, bias=not techniques.norm_cancels_bias),
                techniques.norm_layer(width, positions=()),
                techniques.activation_layer(),
                *techniques.dropout_layers(),
            )
            for i in range(depth)
        )
        self.head = nn.Linear(width, outputs)

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks[0](x.flatten(1))
        for block in self.blocks[1:]:
            h = h + block(h)
        return self.head(h)


@_REGISTRY.register(
    "mnist1d_baseline_mlp",
    summary="MNIST-1D paper's MLP: 40-100-100-10, ReLU, the second hidden layer residual (68% in the paper).",
    paper=PAPER,
    accepts={"width": POSITIVE_INT, "depth": DEPTH, "dropout": UNIT_OPEN},
    capabilities=(Capability.SEQUENCES, Capability.FEATURES),
)
def mnist1d_baseline_mlp(
    input_shape: tuple[int, ...],
    num_outputs: int,
    *,
    width: int = 100,
    depth: int = 2,
    activation: Choice = "relu",
    norm: Choice = "none",
    init: Choice = "default",
    dropout: float = 0.0,
) -> nn.Module:
    """``depth`` hidden layers of ``width`` (the paper: 2 of 100), every one after the first residual."""
    shape = check_shapes("mnist1d_baseline_mlp", input_shape, num_outputs, ndims=(1,))
    techniques = LayerTechniques.resolve(activation, norm, init, dropout)
    return techniques.initialize(ResidualMLP(shape[0], width, depth, num_outputs, techniques))


def _strided_length(length: int, kernel: int) -> int:
    """Positions after a Conv1d of ``kernel`` with stride 2 and padding 1."""
    return (length + 2 - kernel) // 2 + 1


@_REGISTRY.register(
    "mnist1d_baseline_cnn",
    summary="MNIST-1D paper's CNN: 3 strided Conv1d of 25 channels (kernels 5, 3, 3), ReLU, a Linear head "
    "(94% in the paper).",
    paper=PAPER,
    accepts={"width": POSITIVE_INT, "depth": DEPTH, "dropout": UNIT_OPEN},
    capabilities=(Capability.SEQUENCES,),
)
def mnist1d_baseline_cnn(
    input_shape: tuple[int, ...],
    num_outputs: int,
    *,
    width: int = 25,
    depth: int = 3,
    activation: Choice = "relu",
    norm: Choice = "none",
    init: Choice = "default",
    dropout: float = 0.0,
) -> nn.Module:
    """``depth`` convolutions of ``width`` channels (the paper: 3 of 25), kernel 5 then 3, stride 2 and
    padding 1; the head sees width x (positions left) features, after dropout when it is on."""
    (length,) = check_shapes("mnist1d_baseline_cnn", input_shape, num_outputs, ndims=(1,))
    if length < 3:  # the first convolution (kernel 5, padding 1) needs 3 positions
        raise InvalidValueError(
            "input_shape of mnist1d_baseline_cnn", input_shape, "a sequence of at least 3 values"
        )
    techniques = LayerTechniques.resolve(activation, norm, init, dropout)
    layers: list[nn.Module] = [AsChannels((1, length))]
    channels = 1
    for kernel in (5, *(3,) * (depth - 1)):
        length = _strided_length(length, kernel)
        layers += [
            nn.Conv1d(channels, width, kernel, stride=2, padding=1, bias=not techniques.norm_cancels_bias),
            techniques.norm_layer(width, spatial_dims=1, positions=(length,)),
            techniques.activation_layer(),
        ]
        channels = width
    layers += [nn.Flatten(), *techniques.dropout_layers(), nn.Linear(width * length, num_outputs)]
    return techniques.initialize(nn.Sequential(*layers))


class BidirectionalGRU(nn.Module):
    """One value of the sequence per step into a GRU read both ways from a zero state; logits =
    head(its outputs at every position, flattened)."""

    def __init__(self, length: int, width: int, outputs: int) -> None:
        super().__init__()
        self.gru = nn.GRU(1, width, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * width * length, outputs)

    def forward(self, x: Tensor) -> Tensor:
        states, _ = self.gru(x.reshape(x.shape[0], -1, 1))  # (N, T, 2 * width)
        return self.head(states.flatten(1))


@_REGISTRY.register(
    "mnist1d_baseline_gru",
    summary="MNIST-1D paper's GRU: bidirectional, 6 units, a Linear head over all 40 positions' outputs "
    "(91% in the paper).",
    paper=PAPER,
    accepts={"width": POSITIVE_INT},
    capabilities=(Capability.SEQUENCES,),
)
def mnist1d_baseline_gru(
    input_shape: tuple[int, ...], num_outputs: int, *, width: int = 6, init: Choice = "default"
) -> nn.Module:
    """A bidirectional GRU of ``width`` units (the paper: 6) over the ``L`` values of a sequence, its
    2 x width x L outputs read by a Linear head."""
    (length,) = check_shapes("mnist1d_baseline_gru", input_shape, num_outputs, ndims=(1,))
    techniques = LayerTechniques.resolve("identity", "none", init, 0.0)
    return techniques.initialize(BidirectionalGRU(length, width, num_outputs))
