"""Shared layer pieces: technique names resolved once, shapes checked, flat rows viewed as channels, and
MaxPool1d against torch's (the same outputs and gradients, alone and vmapped)."""

import re

import pytest
import torch
from torch import nn
from torch.func import vmap

from optimlab import models
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.models.layers import AsChannels, LayerTechniques, MaxPool1d, channels_first, check_shapes


def test_aliases_resolve_to_canonical_names():
    techniques = LayerTechniques.resolve("Swish", "BN", "he-normal", 0.1)
    assert (techniques.activation, techniques.norm, techniques.init) == ("silu", "batch", "kaiming_normal")
    assert [type(m).__name__ for m in techniques.dropout_layers()] == ["Dropout"]
    assert LayerTechniques.resolve("relu", "none", "default", 0.0).dropout_layers() == []


def test_unknown_activation_lists_close_matches():
    with pytest.raises(UnknownNameError, match="unknown activation 'tahn'.*Did you mean 'tanh'"):
        LayerTechniques.resolve("tahn", "none", "default", 0.0)


@pytest.mark.parametrize("architecture", ["mlp", "cnn", "resnet", "mnist1d_baseline_cnn"])
def test_prelu_with_a_slope_per_channel_is_refused_when_built_not_at_the_first_batch(architecture):
    """torch's PReLU(num_parameters=C) needs C channels on dim 1, and the layers of a built-in differ in
    width: num_parameters 7 built, then failed on the first batch as a bad batch."""
    prelu = {"name": "prelu", "num_parameters": 7}
    with pytest.raises(InvalidValueError, match="invalid value 7 for activation prelu's num_parameters"):
        models.create(
            architecture, (1, 8, 8) if architecture != "mnist1d_baseline_cnn" else (40,), 3, activation=prelu
        )
    shared = models.create(
        architecture,
        (1, 8, 8) if architecture != "mnist1d_baseline_cnn" else (40,),
        3,
        activation={"name": "prelu", "num_parameters": 1, "init": 0.1},
    )
    slopes = [m.weight for m in shared.modules() if isinstance(m, nn.PReLU)]
    assert slopes and all(w.shape == (1,) and float(w) == pytest.approx(0.1) for w in slopes)


@pytest.mark.parametrize(
    ("architecture", "shape", "options", "refused", "taken"),
    [
        # digits' 8x8 map pooled three times: the fourth block runs on 1x1 (depth 3 ends on 2x2 before it)
        ("cnn", (1, 8, 8), {"depth": 4}, "(N, 256, 1, 1)", {"depth": 3}),
        ("cnn", (1,), {}, "(N, 32, 1)", None),  # a sequence of one value
        # stages on 4x4, 2x2, 1x1 (on 8x8: 8x8, 4x4, 2x2)
        ("resnet", (1, 4, 4), {"width": 4}, "(N, 16, 1, 1)", {"width": 4, "input_shape": (1, 8, 8)}),
        ("resnet", (2, 2), {"width": 4}, "(N, 8, 1, 1)", None),
        # MNIST-1D's 40 values after strided convolutions: 19, 10, 5, 3, 2, then 1
        ("mnist1d_baseline_cnn", (40,), {"depth": 6}, "(N, 25, 1)", {"depth": 5}),
        (
            "transformer",
            (1,),
            {"width": 8, "heads": 2},
            "(N, 1, 8)",
            {"width": 8, "heads": 2, "input_shape": (2,)},
        ),
    ],
)
def test_instance_norm_over_one_position_is_refused_when_built_with_its_shape(
    architecture, shape, options, refused, taken
):
    """A built-in model whose input shape puts an instance norm on one position per channel was built,
    then refused at its first batch (each channel alone normalizes to 0, as torch's InstanceNorm refuses
    it: 'Expected more than 1 spatial element'). The build knows the shape: refused there, in one line
    naming the norm and the shape. One position more is built and runs."""
    with pytest.raises(ValueError, match="more than 1 spatial element"):  # torch's own, on a 1x1 map
        nn.InstanceNorm2d(4)(torch.randn(2, 4, 1, 1))
    with pytest.raises(InvalidValueError, match=r"'instance' for norm over " + re.escape(refused)) as error:
        models.create(architecture, shape, 3, norm="instance", **options)
    assert len(str(error.value).splitlines()) == 1
    if taken is not None:
        net = models.create(architecture, taken.pop("input_shape", shape), 3, norm="instance", **taken)
        assert net(torch.randn(2, *net_input(architecture, net))).shape == (2, 3)


@pytest.mark.parametrize(
    ("architecture", "shape", "options", "refused"),
    [
        # the fourth block's 32 channels on the 1x1 map: 32 groups by default, one channel each
        ("cnn", (1, 8, 8), {"width": 4, "depth": 4}, "(N, 32, 1, 1)"),
        ("resnet", (1, 4, 4), {"width": 8}, "(N, 32, 1, 1)"),  # the third stage's
    ],
)
def test_group_norm_of_one_channel_per_group_on_one_position_is_refused_when_built(
    architecture, shape, options, refused
):
    """cnn of width 4 and depth 4 on digits with norm 'group' was built with 32 groups of one channel on
    its 1x1 map, each normalized to 0: the same output for every input (a constant predictor, trained
    without a word). Refused when built, in one line naming the shape and the groups that work; groups
    of two channels build a model whose output follows its input."""
    with pytest.raises(InvalidValueError, match=r"'group' for norm over " + re.escape(refused)) as error:
        models.create(architecture, shape, 3, norm="group", **options)
    assert len(str(error.value).splitlines()) == 1 and "num_groups at most 16" in str(error.value)
    torch.manual_seed(0)  # 2 groups divide every layer's width
    net = models.create(architecture, shape, 3, norm={"name": "group", "num_groups": 2}, **options)
    out = net.eval()(torch.randn(5, *shape))
    assert out.std(dim=0).min() > 1e-4  # outputs differ between inputs


def net_input(architecture, net):
    """The shape of one example the built model takes (its AsChannels view's, or its positions')."""
    views = [m.shape for m in net.modules() if isinstance(m, AsChannels)]
    return views[0] if views else (len(net.position),)


@pytest.mark.parametrize("shape, expected", [((40,), (1, 40)), ((8, 8), (1, 8, 8)), ((3, 8, 8), (3, 8, 8))])
def test_channels_first_adds_one_channel_to_sequences_and_plain_images(shape, expected):
    assert channels_first(shape) == expected


def test_check_shapes_accepts_lists_and_rejects_wrong_ranks():
    assert check_shapes("net", [3, 4], 2, ndims=(2,)) == (3, 4)
    with pytest.raises(InvalidValueError, match="input_shape of net.*a tuple of 1 or 2 positive ints"):
        check_shapes("net", (1, 2, 3), 2, ndims=(1, 2))
    with pytest.raises(InvalidValueError, match="num_outputs of net"):
        check_shapes("net", (3,), True, ndims=(1,))


def test_as_channels_views_flat_rows_without_copying_values():
    rows = torch.arange(24.0).reshape(2, 12)
    images = AsChannels((3, 2, 2))(rows)
    assert images.shape == (2, 3, 2, 2) and images[1, 2, 1, 0].item() == 12 + 2 * 4 + 2


def ties(shape):
    """Values with many exact ties in a window (ReLU's zeros, repeated values), where which element
    gets the gradient is decided by the rule, not by the values."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(-2, 3, shape, generator=generator).float().relu()


@pytest.mark.parametrize(
    "options", [{"kernel_size": 2}, {"kernel_size": 3}, {"kernel_size": 2, "stride": 1}, {"kernel_size": 3, "padding": 1},
                {"kernel_size": 2, "ceil_mode": True}, {"kernel_size": 2, "dilation": 2}],
)  # fmt: skip
@pytest.mark.parametrize("length", [8, 9, 11])
def test_outputs_and_gradients_equal_torchs(options, length):
    for values in (
        ties((4, 3, length)),
        torch.randn(4, 3, length, generator=torch.Generator().manual_seed(1)),
    ):
        ours_in, torch_in = values.clone().requires_grad_(), values.clone().requires_grad_()
        ours, reference = MaxPool1d(**options)(ours_in), nn.MaxPool1d(**options)(torch_in)
        assert torch.equal(ours, reference)
        upstream = torch.randn(reference.shape, generator=torch.Generator().manual_seed(2))
        ours.backward(upstream)
        reference.backward(upstream)
        assert torch.equal(ours_in.grad, torch_in.grad)


def test_vmapped_over_members_equals_each_member_alone():
    x = ties((5, 4, 3, 10))  # 5 members, batch 4, 3 channels, length 10
    pool = MaxPool1d(2)
    torch.testing.assert_close(
        vmap(pool)(x), torch.stack([nn.MaxPool1d(2)(member) for member in x]), rtol=0, atol=0
    )
    assert MaxPool1d(2)(x[0, 0]).shape == (3, 5)  # unbatched (C, L), as torch's takes it
