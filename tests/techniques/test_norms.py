"""Norm layers: each kind normalizes what its definition says, in every layout, and swaps into models."""

import numpy as np
import pytest
import torch
from torch import nn

from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import get_registry
from optimlab.techniques import norms

EPS = 1e-5
NAMES = get_registry("norm").names()
LAYOUTS = [(0, (6, 8)), (0, (6, 5, 8)), (1, (6, 8, 5)), (2, (6, 8, 3, 4))]  # 8 features everywhere


def _standardize(x, dims):
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    return (x - mean) / torch.sqrt(var + EPS)


def _positions(y):
    return tuple(range(2, y.dim()))


# Each kind's definition at weight 1 and bias 0 with batch statistics, on y = (N, C, *positions).
REFERENCE = {
    "batch": lambda y, spatial_dims: _standardize(y, (0, *_positions(y))),
    "layer": lambda y, spatial_dims: _standardize(y, (1,) if spatial_dims == 0 else (1, *_positions(y))),
    "group": lambda y, spatial_dims: _standardize(y.reshape(len(y), 4, -1), (2,)).reshape(y.shape),
    "instance": lambda y, spatial_dims: _standardize(y, _positions(y)),
    "rms": lambda y, spatial_dims: (
        y / torch.sqrt(y.square().mean(dim=1, keepdim=True) + torch.finfo(y.dtype).eps)
    ),
    "none": lambda y, spatial_dims: y,
}
HYPERPARAMETERS = {"group": {"num_groups": 4}}


@pytest.mark.parametrize(
    ("name", "spatial_dims", "shape"),
    [(n, s, shape) for n in NAMES for s, shape in LAYOUTS if not (n == "instance" and len(shape) == 2)],
)
def test_each_kind_normalizes_what_its_definition_says(name, spatial_dims, shape):
    torch.manual_seed(0)
    x = 3.0 * torch.randn(shape, dtype=torch.float64) + 1.0
    norm = norms.create(name, 8, spatial_dims, **HYPERPARAMETERS.get(name, {})).double()
    assert (norm.num_features, norm.spatial_dims, norms.norm_name(norm)) == (8, spatial_dims, name)
    channels_first = x.movedim(-1, 1) if spatial_dims == 0 else x
    expected = REFERENCE[name](channels_first, spatial_dims)
    torch.testing.assert_close(norm(x), expected.movedim(1, -1) if spatial_dims == 0 else expected)


# What each kind is in torch, at torch's defaults: (spatial_dims, input shape, the torch module).
TORCH_MODULES = {
    "batch": [
        (0, (6, 8), nn.BatchNorm1d(8)),
        (0, (6, 5, 8), nn.BatchNorm1d(8)),
        (2, (6, 8, 3, 4), nn.BatchNorm2d(8)),
    ],
    "layer": [(0, (6, 5, 8), nn.LayerNorm(8)), (2, (6, 8, 3, 4), nn.GroupNorm(1, 8))],
    "group": [(2, (6, 8, 3, 4), nn.GroupNorm(32 // 4, 8))],  # 32 groups asked, lowered to 8
    "instance": [
        (1, (6, 8, 5), nn.InstanceNorm1d(8)),
        (2, (6, 8, 3, 4), nn.InstanceNorm2d(8)),
        (3, (6, 8, 2, 3, 2), nn.InstanceNorm3d(8)),
    ],
    "rms": [(0, (6, 5, 8), nn.RMSNorm(8)), (0, (6, 8), nn.RMSNorm(8))],
    "none": [(0, (6, 8), nn.Identity())],
}


def _shapes(tensors):
    return sorted(tuple(t.shape) for t in tensors)


def test_every_kind_has_its_torch_module():
    assert sorted(TORCH_MODULES) == sorted(NAMES)


@pytest.mark.parametrize(
    ("name", "spatial_dims", "shape", "reference"),
    [(name, *case) for name, cases in TORCH_MODULES.items() for case in cases],
)
def test_defaults_are_those_of_the_torch_module(name, spatial_dims, shape, reference):
    norm = norms.create(name, 8, spatial_dims)
    assert _shapes(norm.parameters()) == _shapes(reference.parameters())  # affine or not
    assert _shapes(norm.buffers()) == _shapes(reference.buffers())  # running statistics or not
    # Small float32 inputs: a variance of 1e-6 shows any other eps.
    x = 1e-3 * torch.randn(shape, generator=torch.Generator().manual_seed(0)) + 1e-3
    moved = (
        (lambda t: t.movedim(-1, 1)) if spatial_dims == 0 and isinstance(reference, nn.BatchNorm1d) else None
    )
    for _ in range(2):  # training (running statistics updated), then evaluation
        expected = reference(moved(x)).movedim(1, -1) if moved else reference(x)
        torch.testing.assert_close(norm(x), expected)
        norm.eval(), reference.eval()


# Each kind without a learned scale and shift, and torch's module that is.
WITHOUT_AFFINE = {
    "batch": (2, (6, 8, 3, 4), nn.BatchNorm2d(8, affine=False)),
    "layer": (0, (6, 5, 8), nn.LayerNorm(8, elementwise_affine=False)),
    "group": (1, (6, 8, 5), nn.GroupNorm(8, 8, affine=False)),
    "rms": (0, (6, 8), nn.RMSNorm(8, elementwise_affine=False)),
}


@pytest.mark.parametrize("name", sorted(WITHOUT_AFFINE))
def test_affine_false_is_torchs_norm_without_scale_and_shift(name):
    """torch's affine=False (elementwise_affine=False) could not be asked for: batch, layer, group and
    rms always learned a scale and shift (only instance took affine)."""
    spatial_dims, shape, reference = WITHOUT_AFFINE[name]
    norm = norms.create(name, 8, spatial_dims, affine=False)
    assert list(norm.parameters()) == [] and _shapes(norm.buffers()) == _shapes(reference.buffers())
    x = 2.0 * torch.randn(shape, generator=torch.Generator().manual_seed(1)) + 1.0
    moved = spatial_dims == 0 and isinstance(reference, nn.BatchNorm1d)
    torch.testing.assert_close(norm(x), reference(x.movedim(-1, 1)).movedim(1, -1) if moved else reference(x))


@pytest.mark.parametrize(
    ("torch_norm", "kind"),
    [
        (nn.BatchNorm1d(8, affine=False), "batch"),
        (nn.LayerNorm(8, elementwise_affine=False), "layer"),
        (nn.LayerNorm(8, bias=False), "layer"),
        (nn.GroupNorm(4, 8, affine=False), "group"),
        (nn.RMSNorm(8, eps=1e-3), "rms"),
        (nn.BatchNorm1d(8, eps=1e-3, momentum=None), "batch"),
        (nn.BatchNorm1d(8, track_running_stats=False), "batch"),
    ],
    ids=[
        "batch-no-affine",
        "layer-no-affine",
        "layer-no-bias",
        "group-no-affine",
        "rms-eps",
        "batch-eps",
        "batch-no-running-stats",
    ],
)
def test_swap_norm_to_its_own_kind_keeps_what_it_is_not_told_to_change(torch_norm, kind):
    """Swapped to its own kind, a norm took optimlab's defaults for what the swap did not set: a
    BatchNorm1d(affine=False) gained a scale and shift and lost its running statistics (the carried state
    had to match key for key), a LayerNorm(bias=False) lost its learned scale, a GroupNorm(4, 8) became
    8 groups, an eps of 1e-3 became 1e-5, a BatchNorm1d(track_running_stats=False), which normalizes by
    the batch's statistics in eval mode too, began to keep running ones (0 and 1) and normalize by them.
    Each now normalizes as before."""
    model = nn.Sequential(nn.Linear(5, 8), torch_norm)
    with torch.no_grad():
        for _ in range(10):
            model(3.0 * torch.randn(16, 5) + 1.0)
        for p in torch_norm.parameters():
            p.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(7, 5)
    before = model(x)
    parameters = _shapes(model.parameters())
    norms.swap_norm(model, kind)
    torch.testing.assert_close(model(x), before, rtol=0, atol=0)
    bias_free = (
        isinstance(torch_norm, nn.LayerNorm) and torch_norm.bias is None and torch_norm.weight is not None
    )
    assert _shapes(model.parameters()) == sorted([*parameters, (8,)] if bias_free else parameters)


def test_instance_norm_refuses_features_without_positions():
    with pytest.raises(InvalidValueError, match="instance norm"):
        norms.create("instance", 8)(torch.randn(6, 8))


@pytest.mark.parametrize(
    ("spatial_dims", "shape", "reference"),
    [
        (0, (6, 1, 8), None),
        (1, (6, 8, 1), nn.InstanceNorm1d(8)),
        (2, (6, 8, 1, 1), nn.InstanceNorm2d(8)),
        (3, (6, 8, 1, 1, 1), nn.InstanceNorm3d(8, affine=True)),
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_instance_norm_refuses_a_single_position_as_torchs_does(spatial_dims, shape, reference, training):
    """Each channel over one position normalized to 0: the layer put out its bias (0) for any input
    without a word, where torch's InstanceNorm refuses it, training or not."""
    x = torch.randn(shape)
    if reference is not None:
        with pytest.raises(ValueError, match="more than 1 spatial element"):
            reference.train(training)(x)
    affine = reference is not None and reference.affine
    norm = norms.create("instance", 8, spatial_dims, affine=affine).train(training)
    with pytest.raises(InvalidValueError, match="instance norm.*one position") as error:
        norm(x)
    assert len(str(error.value).splitlines()) == 1
    two = torch.randn(shape[:2] + (2,) * (len(shape) - 2)) if spatial_dims else torch.randn(6, 2, 8)
    expected = (reference or nn.InstanceNorm1d(8)).train(training)(two if spatial_dims else two.mT)
    torch.testing.assert_close(norm(two), expected if spatial_dims else expected.mT)  # two positions: taken


@pytest.mark.parametrize(("num_features", "groups"), [(48, 24), (6, 6), (64, 32), (7, 7), (96, 32)])
def test_default_group_count_is_32_lowered_to_a_divisor_of_the_width(num_features, groups):
    assert norms.create("group", num_features, 2).inner.num_groups == groups


def test_a_group_count_that_does_not_divide_the_width_is_refused_as_torch_refuses_it():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(5, 64)
    with pytest.raises(InvalidValueError, match="num_groups") as error:
        norms.create("group", 64, 2, num_groups=5)
    assert error.value.value == 5 and error.value.accepted.endswith("1, 2, 4, 8, 16, 32, 64")
    assert norms.create("group", 64, 2, num_groups=64).inner.num_groups == 64
    with pytest.raises(InvalidValueError, match="at least 2 features"):  # (N, C): groups of one give 0
        norms.create("group", 8, 0, num_groups=8)


def test_group_norm_of_features_keeps_two_per_group_so_it_does_not_output_a_constant():
    norm = norms.create("group", 16).double()  # 32 asked; an (N, C) input has no positions to pool
    assert norm.inner.num_groups == 8
    x = torch.randn(5, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    # A pair (a, b) normalizes to +-h / sqrt(h^2 + eps), h = (a - b) / 2: about +-1, where a group of one
    # feature would give 0 everywhere.
    pairs = x.view(5, 8, 2)
    half_gap = (pairs - pairs.flip(-1)) / 2
    expected = (half_gap / (half_gap**2 + 1e-5).sqrt()).view(5, 16)
    torch.testing.assert_close(norm(x), expected)
    assert (expected.abs() > 0.9).float().mean() > 0.9


def test_torch_norm_layers_are_named():
    named = [nn.BatchNorm2d(3), nn.LayerNorm(3), nn.GroupNorm(1, 3), nn.RMSNorm(3), nn.InstanceNorm1d(3)]
    assert [norms.norm_name(m) for m in named] == ["batch", "layer", "group", "rms", "instance"]
    assert norms.norm_name(nn.Linear(3, 3)) is None


def _norm_kinds(model):
    return [(m.kind, m.num_features, m.spatial_dims) for m in model.modules() if isinstance(m, norms.Norm)]


def test_swap_norm_replaces_torch_norms_of_an_mlp_in_place():
    model = nn.Sequential(
        nn.Linear(10, 16),
        nn.BatchNorm1d(16),
        nn.ReLU(),
        nn.Linear(16, 12),
        nn.LayerNorm(12),
        nn.Linear(12, 3),
    ).double()
    assert norms.swap_norm(model, "rms") is model
    assert _norm_kinds(model) == [("rms", 16, 1), ("rms", 12, 0)]
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.LayerNorm)) for m in model.modules())
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model(torch.randn(4, 10, dtype=torch.float64)).shape == (4, 3)


@pytest.mark.parametrize(("width", "given"), [(1, {}), (4, {"num_groups": 4})])
def test_swap_norm_to_group_refuses_groups_of_one_value_at_the_first_n_c_input_after_a_linear(width, given):
    """A BatchNorm1d after a Linear, fed (N, C), swapped to group of one channel a group (width 1, or
    num_groups equal to the width) outputs its bias alone (truth: torch's GroupNorm(1, 1) of one value is
    0): refused at its first (N, C) input in one line; after a Conv1d, fed (N, C, L), the same width is
    torch's GroupNorm over L."""
    torch.testing.assert_close(
        nn.GroupNorm(1, 1)(torch.randn(8, 1, 1)), torch.zeros(8, 1, 1), atol=1e-3, rtol=0
    )
    model = norms.swap_norm(nn.Sequential(nn.Linear(3, width), nn.BatchNorm1d(width)), "group", **given)
    with pytest.raises(InvalidValueError, match=rf"\(4, {width}\) for input shape of group norm") as refused:
        model(torch.randn(4, 3))
    assert "\n" not in str(refused.value)
    convolved = norms.swap_norm(
        nn.Sequential(nn.Conv1d(2, width, 3), nn.BatchNorm1d(width)), "group", **given
    )
    x = torch.randn(4, 2, 8)
    torch.testing.assert_close(convolved(x), nn.GroupNorm(width, width)(convolved[0](x)))


class _ReshapedAfterLinear(nn.Module):  # a Linear's (N, 16) viewed as (N, 4, 4) before its BatchNorm1d
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 16)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(self.lin(x).view(-1, 4, 4))


def test_swap_norm_to_group_does_not_guess_n_c_from_a_linear_whose_output_is_reshaped():
    """A BatchNorm1d(4) fed a Linear's output viewed as (N, 4, 4), swapped to group with num_groups=4,
    was refused as fed (N, C) by the Linear registered before it: its input is (N, C, L), where it is
    torch's GroupNorm(4, 4) over L (truth)."""
    model = norms.swap_norm(_ReshapedAfterLinear(), "group", num_groups=4)
    x = torch.randn(5, 3)
    torch.testing.assert_close(model(x), nn.GroupNorm(4, 4)(model.lin(x).view(-1, 4, 4)))


@pytest.mark.parametrize(("width", "given"), [(1, {}), (1, {"num_groups": 1}), (2, {"num_groups": 2})])
def test_for_class_refuses_groups_of_one_value_at_the_first_n_c_input_not_over_n_c_l(width, given):
    """A user's class defaulting to nn.BatchNorm1d, given group: at width 1 it was refused as it was built,
    though a 1-channel Conv1d block feeds it (N, 1, L), where it is torch's GroupNorm(1, 1) over L. Which
    comes is known at the first forward: (N, C) in groups of one value (width 1, num_groups equal to the
    width), whose output is the bias alone, is refused there in one line; (N, C, L) is torch's GroupNorm."""
    layer = norms.for_class(nn.BatchNorm1d, "group", **given)(width)
    channels = torch.randn(4, width, 6)
    torch.testing.assert_close(layer(channels), nn.GroupNorm(width, width)(channels))
    with pytest.raises(InvalidValueError, match=rf"\(4, {width}\) for input shape of group norm") as refused:
        layer(torch.randn(4, width))
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("num_groups", [2.0, np.int64(2)])
def test_swap_norm_and_for_class_give_group_its_count_as_the_registry_types_it(num_groups):
    """swap_norm(..., 'group', num_groups=2.0) built _GroupNorm(2.0, 4), whose first forward raised a
    TypeError traceback (group_norm's num_groups must be int): the registry's typed value is given, so the
    output is torch's GroupNorm(2, 4)'s (truth), by swap_norm and by for_class alike."""
    x = torch.randn(5, 4)
    swapped = norms.swap_norm(nn.Sequential(nn.BatchNorm1d(4)), "group", num_groups=num_groups)
    built = norms.for_class(nn.BatchNorm1d, "group", num_groups=num_groups)(4)
    for layer in (swapped, built):
        torch.testing.assert_close(layer(x), nn.GroupNorm(2, 4)(x))


@pytest.mark.parametrize("given", [{"eps": -1.0}, {"affine": "no"}, {"num_groups": True}])
def test_for_class_refuses_a_value_out_of_range_when_called_as_create_does(given):
    """for_class(nn.BatchNorm1d, 'group', eps=-1.0) built a layer (affine='no' one that learns): its values
    were never validated. Refused by for_class itself, in create's words (the truth: create's refusal)."""
    with pytest.raises(InvalidValueError) as by_create:
        norms.create("group", 4, 1, **given)
    for norm_class in (nn.BatchNorm1d, nn.BatchNorm2d):
        with pytest.raises(InvalidValueError) as refused:
            norms.for_class(norm_class, "group", **given)
        assert str(refused.value) == str(by_create.value)


def test_swap_norm_keeps_the_image_layout_of_a_cnn():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.GroupNorm(4, 8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3),
        nn.InstanceNorm2d(8),
        nn.Flatten(),
    )
    norms.swap_norm(model, "batch")
    assert _norm_kinds(model) == [("batch", 8, 2), ("batch", 8, 2)]
    assert all(isinstance(m.inner, nn.BatchNorm2d) for m in model.modules() if isinstance(m, norms.Norm))
    assert model(torch.randn(2, 3, 9, 9)).shape == (2, 8 * 5 * 5)


def test_swap_norm_reads_the_image_layout_after_a_transposed_convolution():
    """A decoder's GroupNorm after a ConvTranspose2d took the layout of the Linear before it: swapped
    to batch it became a BatchNorm1d, which refused the 4-D images at the first forward."""
    model = nn.Sequential(
        nn.Linear(4, 32),
        nn.Unflatten(1, (8, 2, 2)),
        nn.ConvTranspose2d(8, 6, 3),
        nn.GroupNorm(3, 6),
        nn.ReLU(),
    )
    norms.swap_norm(model, "batch")
    assert _norm_kinds(model) == [("batch", 6, 2)]
    x = torch.randn(5, 4)
    expected = nn.functional.batch_norm(model[2](model[1](model[0](x))), None, None, training=True)
    torch.testing.assert_close(model[3](model[2](model[1](model[0](x)))), expected)


class _Block(nn.Module):  # norms nested in a custom module and a ModuleList
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(6, 6), norms.create("none", 6)])
        self.head = nn.Sequential(nn.Linear(6, 6), norms.create("batch", 6))

    def forward(self, x):
        return self.head(self.layers[1](self.layers[0](x)))


def test_swap_norm_reaches_nested_norms_and_can_swap_again():
    model = _Block()
    norms.swap_norm(model, "layer")
    assert _norm_kinds(model) == [("layer", 6, 0), ("layer", 6, 0)]
    norms.swap_norm(model, "group", num_groups=2)
    assert _norm_kinds(model) == [("group", 6, 0), ("group", 6, 0)]  # replaced, not nested
    assert model.head[1].inner.num_groups == 2
    x = torch.randn(5, 6)
    assert model(x).shape == (5, 6)


def test_swap_norm_checks_before_touching_the_model():
    model = _Block()
    with pytest.raises(UnknownNameError, match="Did you mean 'layer'"):
        norms.swap_norm(model, "layr")
    with pytest.raises(InvalidValueError, match="num_groups"):
        norms.swap_norm(model, "group", num_groups=0)
    assert _norm_kinds(model) == [("none", 6, 0), ("batch", 6, 0)]
    model.head[1] = norms.create("batch", 4)  # 3 groups fit the first width, not this one
    with pytest.raises(InvalidValueError, match="width of 4"):
        norms.swap_norm(model, "group", num_groups=3)
    assert _norm_kinds(model) == [("none", 6, 0), ("batch", 4, 0)]


def test_swap_norm_refuses_to_drop_a_layer_norms_scale_per_position():
    """A LayerNorm over (C, H, W) swapped to its own kind (to set eps) became GroupNorm(1, C), its learned
    scale per position silently replaced by ones: the output changed. Such a layer is now refused, and
    left as it was; one that learned nothing yet (ones, zeros) swaps, normalizing as torch's does."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LayerNorm([4, 5, 5]))
    x = torch.randn(2, 3, 5, 5)
    expected = model(x)
    norms.swap_norm(model, "layer", eps=1e-5)
    torch.testing.assert_close(model(x), expected)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LayerNorm([4, 5, 5]))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)
    with pytest.raises(InvalidValueError, match=r"'1'.*weight.*\(4,\).*\(4, 5, 5\)"):
        norms.swap_norm(model, "layer", eps=1e-3)
    assert isinstance(model[1], nn.LayerNorm) and model[1].eps == 1e-5


def test_swap_norm_refuses_to_drop_the_running_statistics_of_an_instance_norm():
    """InstanceNorm2d(track_running_stats=True) normalizes by its running statistics in eval mode; swapped
    to instance (GroupNorm(C, C), none kept) it normalized each image by its own, silently."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4, track_running_stats=True))
    with torch.no_grad():
        model(3.0 * torch.randn(8, 3, 6, 6) + 1.0)
    with pytest.raises(InvalidValueError, match=r"'1'.*without running statistics"):
        norms.swap_norm(model.eval(), "instance")
    assert isinstance(model[1], nn.InstanceNorm2d)
    untracked = nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4)).eval()
    x = torch.randn(2, 3, 6, 6)
    expected = untracked(x)
    norms.swap_norm(untracked, "instance")
    torch.testing.assert_close(untracked(x), expected)


@pytest.mark.parametrize(
    ("torch_norm", "kind", "accepted"),
    [
        (nn.LayerNorm([5, 5]), "layer", "3 dimensions"),
        (nn.LayerNorm([5, 5]), "batch", "3 dimensions"),
        (nn.RMSNorm([5, 5, 5]), "rms", "another kind"),
    ],
    ids=["layer-over-positions", "to-batch", "rms-over-channels-and-positions"],
)
def test_swap_norm_refuses_a_multi_dimensional_norm_it_would_misread(torch_norm, kind, accepted):
    """LayerNorm([H, W]) after a Conv2d was read as H channels (C = H = 5: GroupNorm(1, 5) over (C, H, W),
    another normalization, silently); RMSNorm([C, H, W]) swapped to rms took the root mean square over C at
    each position instead of over (C, H, W). Both changed the output. Over (C, H, W) a LayerNorm swaps."""
    model = nn.Sequential(nn.Conv2d(3, 5, 1), torch_norm)
    with pytest.raises(InvalidValueError, match=accepted):
        norms.swap_norm(model, kind)
    assert model[1] is torch_norm
    over_channels = nn.Sequential(nn.Conv2d(3, 5, 1), nn.LayerNorm([5, 5, 5]))
    x = torch.randn(2, 3, 5, 5)
    expected = over_channels(x)
    norms.swap_norm(over_channels, "layer")
    torch.testing.assert_close(over_channels(x), expected)


def test_bad_layouts_are_explained():
    with pytest.raises(InvalidValueError, match="num_features"):
        norms.create("batch", 0)
    with pytest.raises(InvalidValueError, match="num_features"):
        norms.create("layer", 2.5)
    with pytest.raises(InvalidValueError, match="spatial_dims"):
        norms.create("rms", 8, 4)
    with pytest.raises(InvalidValueError, match="'eps'"):
        norms.create("batch", 8, eps=-1.0)


def test_instance_norm_learns_a_scale_and_shift_when_asked_as_torchs_does():
    norm, reference = norms.create("instance", 8, 2, affine=True), nn.InstanceNorm2d(8, affine=True)
    assert _shapes(norm.parameters()) == _shapes(reference.parameters())


def _trained_batch_norm_model() -> nn.Sequential:
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        for _ in range(20):
            model(3.0 * torch.randn(16, 5) + 1.0)  # running statistics far from (0, 1)
        model[1].weight.uniform_(0.5, 2.0)
        model[1].bias.uniform_(-1.0, 1.0)
    model[1].bias.requires_grad_(False)
    return model.eval()


def test_swap_norm_to_its_own_kind_keeps_the_statistics_scale_shift_and_mode():
    """A batch norm given another momentum normalizes as before: it lost its running statistics and its
    scale and shift, and came back in training mode inside a model in eval mode."""
    model = _trained_batch_norm_model()
    x = torch.randn(7, 5)
    with torch.no_grad():
        before = model(x)
        norms.swap_norm(model, "batch", momentum=0.01)
        after = model(x)
    inner = model[1].inner
    assert not model[1].training and not inner.training and inner.momentum == 0.01
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert [p.requires_grad for p in inner.parameters()] == [True, False]


def test_swap_norm_to_another_kind_starts_fresh_in_the_models_mode():
    model = _trained_batch_norm_model()
    norms.swap_norm(model, "layer")
    inner = model[1].inner
    assert not model[1].training and not inner.training
    assert torch.all(inner.weight == 1) and torch.all(inner.bias == 0)


def test_batch_norm_without_running_statistics_is_torchs():
    """track_running_stats=False, as torch's: no running statistics, the batch's own in eval mode too."""
    norm = norms.create("batch", 3, spatial_dims=2, track_running_stats=False).eval()
    reference = nn.BatchNorm2d(3, track_running_stats=False).eval()
    x = torch.randn(4, 3, 5, 5) * 2 + 1
    torch.testing.assert_close(norm(x), reference(x), rtol=0, atol=0)
    assert norm.inner.running_mean is None
    assert list(norm.inner.state_dict()) == list(reference.state_dict())


def test_batch_norm_takes_torchs_cumulative_average():
    """momentum=None is torch's cumulative average of the batches' statistics (it was refused)."""
    norm, reference = norms.create("batch", 3, momentum=None), nn.BatchNorm1d(3, momentum=None)
    torch.manual_seed(0)
    for _ in range(4):
        x = torch.randn(8, 3) * 2 + 1
        norm(x), reference(x)
    torch.testing.assert_close(norm.inner.running_mean, reference.running_mean, rtol=0, atol=0)
    torch.testing.assert_close(norm.inner.running_var, reference.running_var, rtol=0, atol=0)


# Each kind with hyperparameters other than torch's defaults, and torch's module built with the same ones.
SET_HYPERPARAMETERS = [
    ("batch", {"eps": 0.5, "momentum": 0.3}, 2, (6, 8, 3, 4), nn.BatchNorm2d(8, eps=0.5, momentum=0.3)),
    ("batch", {"eps": 0.5, "momentum": 0.3}, 1, (6, 8, 5), nn.BatchNorm1d(8, eps=0.5, momentum=0.3)),
    ("batch", {"momentum": 0.0, "affine": False}, 0, (6, 8), nn.BatchNorm1d(8, momentum=0.0, affine=False)),
    (
        "layer",
        {"eps": 0.5, "affine": False},
        0,
        (6, 5, 8),
        nn.LayerNorm(8, eps=0.5, elementwise_affine=False),
    ),
    ("group", {"num_groups": 2, "eps": 0.5}, 2, (6, 8, 3, 4), nn.GroupNorm(2, 8, eps=0.5)),
    ("instance", {"eps": 0.5, "affine": True}, 2, (6, 8, 3, 4), nn.InstanceNorm2d(8, eps=0.5, affine=True)),
    ("rms", {"eps": 0.5}, 0, (6, 5, 8), nn.RMSNorm(8, eps=0.5)),
]


@pytest.mark.parametrize(
    ("name", "hyperparameters", "spatial_dims", "shape", "reference"), SET_HYPERPARAMETERS
)
def test_set_hyperparameters_reach_torchs_module_over_several_batches_then_in_eval(
    name, hyperparameters, spatial_dims, shape, reference
):
    """An eps of 0.5 (against inputs of variance about 1e-2) and a momentum of 0.3 change every output and
    running statistic: three training batches, then one in eval mode, give torch's module's outputs and
    state. Truth: torch's module of the same settings, the same scale and shift (drawn, not 1 and 0)."""
    norm = norms.create(name, 8, spatial_dims, **hyperparameters)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    norm.inner.load_state_dict(reference.state_dict())
    for training in (True, True, True, False):
        norm.train(training), reference.train(training)
        x = 0.1 * torch.randn(shape, generator=generator) + 0.3
        torch.testing.assert_close(norm(x), reference(x))
    for key, value in reference.state_dict().items():  # running statistics and their batch count
        torch.testing.assert_close(norm.inner.state_dict()[key], value)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("spatial_dims", "shape"), [(0, (6, 5, 8)), (2, (6, 8, 3, 4))])
def test_a_norm_lays_out_its_output_as_torchs_norms_do(name, spatial_dims, shape):
    """A contiguous input gives a contiguous output, as torch's own norm layers do, so code that views it
    runs (Hugging Face's GPT-2 Conv1D views (N, T, C) as (N * T, C))."""
    x = torch.randn(shape)
    y = norms.create(name, 8, spatial_dims, **HYPERPARAMETERS.get(name, {}))(x)
    assert y.is_contiguous() == nn.LayerNorm(shape[-1])(x).is_contiguous() is True
    y.view(-1, shape[-1])


@pytest.mark.parametrize("kind", ["batch", "group", "instance"])
def test_swap_norm_of_a_hugging_face_gpt2_runs_and_normalizes_as_torchs_module(kind):
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=8)
    model = transformers.GPT2LMHeadModel(config).eval()
    norms.swap_norm(model, kind)
    ids = torch.randint(0, 50, (3, 8))
    assert model(ids).logits.shape == (3, 8, 50)
    reference = {"batch": nn.BatchNorm1d(16), "group": nn.GroupNorm(8, 16), "instance": nn.InstanceNorm1d(16)}
    reference = reference[kind].eval()
    x = torch.randn(3, 8, 16)
    torch.testing.assert_close(model.transformer.ln_f(x), reference(x.transpose(1, 2)).transpose(1, 2))


class _SharedNorm(nn.Module):
    """One LayerNorm registered twice (applied before and after the Linear), as tied modules are."""

    def __init__(self):
        super().__init__()
        self.norm, self.linear = nn.LayerNorm(8), nn.Linear(8, 8)
        self.again = self.norm

    def forward(self, x):
        return self.again(self.linear(self.norm(x)))


def test_swap_norm_replaces_a_shared_norm_at_every_place_and_keeps_it_shared():
    """named_modules() yields a shared module once: the second place kept the old LayerNorm. Truth: the
    model computes torch's RMSNorm at both places."""
    model = norms.swap_norm(_SharedNorm(), "rms")
    assert model.norm is model.again and model.norm.kind == "rms"
    x = torch.randn(4, 8)
    rms = nn.RMSNorm(8)
    torch.testing.assert_close(model(x), rms(model.linear(rms(x))))


@pytest.mark.parametrize("model", [nn.Sequential(nn.Linear(3, 3), nn.ReLU()), nn.LSTM(4, 4), nn.LayerNorm(4)])
def test_swap_norm_refuses_a_model_without_a_norm_layer_to_replace(model):
    """It returned the model unchanged, without a word (a norm given as the model itself too)."""
    with pytest.raises(InvalidValueError, match="swap_norm's model.*holds none"):
        norms.swap_norm(model, "batch")


@pytest.mark.parametrize("kind", ["group", "layer", "rms", "batch"])
def test_swap_norm_keeps_a_frozen_norm_frozen_and_a_trained_one_trained(kind):
    """A backbone frozen with requires_grad_(False) got trainable norms when swapped to another kind."""
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    model = nn.Sequential(
        backbone.requires_grad_(False), nn.Flatten(), nn.Linear(8 * 4 * 4, 2), nn.BatchNorm1d(2)
    )
    norms.swap_norm(model, kind)
    assert not any(p.requires_grad for p in model[0].parameters())
    assert all(p.requires_grad for p in model[3].parameters())


@pytest.mark.parametrize("kind", NAMES)
@pytest.mark.parametrize("padding", [False, True])
def test_swap_norm_of_torchs_transformer_encoder_runs_it_in_eval_mode_as_in_training(kind, padding):
    """In eval mode nn.TransformerEncoderLayer takes a fused kernel reading norm1.eps, .weight, .bias (the
    encoder's nested-tensor path too, given a padding mask): 'Norm' object has no attribute 'eps'. Truth:
    torch's own module-by-module path, which training mode takes (dropout 0)."""
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True)
    model = norms.swap_norm(nn.TransformerEncoder(layer, 2), kind)
    x, mask = torch.randn(3, 5, 16), torch.zeros(3, 5, dtype=torch.bool)
    mask = mask if padding else None
    with torch.no_grad():
        evaluated = model.eval()(x, src_key_padding_mask=mask)
        trained = model.train()(x, src_key_padding_mask=mask)
    assert (
        model.layers[0].norm1.kind
        == norms.norm_name(model.layers[1].norm2)
        == get_registry("norm").get(kind).name
    )
    if kind != "batch":  # batch norm normalizes by its running statistics in eval mode
        torch.testing.assert_close(evaluated, trained)


def test_swap_norm_replaces_ddps_sync_batch_norm_and_refuses_to_make_it_plain_batch_norm():
    """nn.SyncBatchNorm (convert_sync_batchnorm's) was not recognised: left in place beside swapped norms."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3), nn.ReLU())
    model = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(*model, nn.LayerNorm([8, 2, 2])))
    with pytest.raises(InvalidValueError, match="'batch' of layer '1'.*convert_sync_batchnorm"):
        norms.swap_norm(model, "batch")
    assert isinstance(model[1], nn.SyncBatchNorm)
    norms.swap_norm(model, "group", num_groups=4)
    assert model[1].kind == model[4].kind == "group"
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(model[1](x), nn.GroupNorm(4, 8)(x))


def _tiny_decoder(transformers, family, seed=0):
    """A tiny causal LM of a Hugging Face family whose norms are RMSNorm classes, with learned scales."""
    torch.manual_seed(seed)
    config = getattr(transformers, f"{family}Config")(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        rms_norm_eps=1e-5,
    )
    model = getattr(transformers, f"{family}ForCausalLM")(config).eval()
    with torch.no_grad():  # learned scales, so that carrying them is seen
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.copy_(1.0 + 0.5 * torch.randn(parameter.shape))
    return model


@pytest.mark.parametrize("family", ["Llama", "Mistral", "Qwen2"])
def test_swap_norm_reads_hugging_faces_rms_norms_and_an_identity_swap_keeps_the_outputs(family):
    """Hugging Face's LlamaRMSNorm (weight, variance_epsilon) was no norm to swap_norm: a Llama was refused
    as holding none. Truth: swapped to torch's RMSNorm with its eps and weight, the model's logits are the
    original's to float tolerance; swapped to layer, each norm is torch's LayerNorm(32, eps=1e-5)."""
    transformers = pytest.importorskip("transformers")
    ids = torch.randint(0, 100, (2, 7), generator=torch.Generator().manual_seed(1))
    original = _tiny_decoder(transformers, family)
    with torch.no_grad():
        expected = original(ids).logits
    rms_class = f"{family}RMSNorm"
    scales = [m.weight.detach().clone() for m in original.modules() if type(m).__name__ == rms_class]
    swapped = norms.swap_norm(original, "rms")
    new_norms = [m for m in swapped.modules() if isinstance(m, norms.Norm)]
    assert len(new_norms) == len(scales) == 5 and not any(
        type(m).__name__ == rms_class for m in swapped.modules()
    )
    assert all(m.inner.eps == 1e-5 for m in new_norms)
    for norm, scale in zip(new_norms, scales):
        torch.testing.assert_close(norm.inner.weight.detach(), scale)
    with torch.no_grad():
        torch.testing.assert_close(swapped(ids).logits, expected, rtol=1e-5, atol=1e-5)
    layered = norms.swap_norm(_tiny_decoder(transformers, family), "layer")
    x = torch.randn(3, 7, 32)
    torch.testing.assert_close(layered.model.norm(x), nn.LayerNorm(32, eps=1e-5)(x))


def test_swap_norm_reads_t5s_layer_norm_and_refuses_gemmas_as_it_computes_otherwise():
    """T5LayerNorm is an RMSNorm by another name; GemmaRMSNorm scales by 1 + weight (weight 0 at start),
    which torch's RMSNorm given its weight would turn into zeros: refused, the model left as it was."""
    transformers = pytest.importorskip("transformers")
    t5_norm = pytest.importorskip("transformers.models.t5.modeling_t5").T5LayerNorm(16, eps=1e-6)
    with torch.no_grad():
        t5_norm.weight.copy_(torch.linspace(0.5, 2.0, 16))
    model = nn.Sequential(nn.Linear(16, 16), t5_norm)
    x = torch.randn(4, 16)
    with torch.no_grad():
        expected = model(x)
    assert norms.norm_name(t5_norm) == "rms"
    torch.testing.assert_close(norms.swap_norm(model, "rms")(x), expected)
    config = transformers.GemmaConfig(
        vocab_size=100,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        head_dim=16,
    )
    gemma = transformers.GemmaForCausalLM(config)
    before = [type(m) for m in gemma.modules()]
    with pytest.raises(InvalidValueError, match="GemmaRMSNorm.*computes neither"):
        norms.swap_norm(gemma, "rms")
    assert [type(m) for m in gemma.modules()] == before


def test_swap_norm_refuses_a_lazy_norm_not_yet_run_and_swaps_it_once_run():
    """nn.LazyBatchNorm1d (width 0 until run) stopped the swap at torch's 'uninitialized parameter'."""
    model = nn.Sequential(nn.Linear(4, 6), nn.LazyBatchNorm1d())
    with pytest.raises(InvalidValueError, match="LazyBatchNorm1d not yet materialized.*layer '1'"):
        norms.swap_norm(model, "layer")
    assert isinstance(model[1], nn.LazyBatchNorm1d)
    model(torch.randn(3, 4))
    x = torch.randn(3, 6)
    torch.testing.assert_close(norms.swap_norm(model, "layer")[1](x), nn.LayerNorm(6)(x))


class _ChannelsFirstLayerNorm(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: nn.LayerNorm over the channels of an (N, C, H, W) input."""

    def forward(self, x):
        x = nn.functional.layer_norm(
            x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps
        )
        return x.permute(0, 3, 1, 2)


class _BatchNormReLU(nn.BatchNorm2d):
    """timm's BatchNormAct2d: a batch norm and an activation in one module."""

    def forward(self, x):
        return torch.relu(super().forward(x))


class _LoggedLayerNorm(nn.LayerNorm):
    """An own forward that computes nn.LayerNorm's."""

    def forward(self, x):
        return super().forward(x)


@pytest.mark.parametrize("norm", [_ChannelsFirstLayerNorm(8), _BatchNormReLU(8)])
def test_swap_norm_refuses_a_torch_norm_subclass_whose_forward_computes_otherwise(norm):
    """The channels-first LayerNorm was read as nn.LayerNorm(8) over the last dimension: swapped to layer,
    it normalized over W of an (N, 8, 8, 8) map (over the wrong axis, without a word); the batch norm's
    ReLU was dropped. Truth: each computes otherwise than its torch class on the layout read."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3), norm)
    with pytest.raises(InvalidValueError, match=f"{type(norm).__name__}'s own forward computes otherwise"):
        norms.swap_norm(model, "layer")
    assert model[1] is norm
    for affine in (True, False):
        same = nn.Sequential(nn.Linear(4, 8), _LoggedLayerNorm(8, elementwise_affine=affine))
        x = torch.randn(3, 8)
        torch.testing.assert_close(norms.swap_norm(same, "rms")[1](x), nn.RMSNorm(8)(x))


class _ChannelsLastBlock(nn.Module):
    """torchvision's ConvNeXt block: the map permuted to (N, H, W, C) for an nn.LayerNorm over C."""

    def __init__(self):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(3, 8, 3, padding=1), nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(self.conv(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@pytest.mark.parametrize("kind", ["batch", "group", "instance"])
def test_a_features_last_norm_takes_several_position_dimensions(kind):
    """A LayerNorm over the C of (N, H, W, C) swapped to batch failed at the next forward (BatchNorm1d:
    'expected 2D or 3D input (got 4D input)'). Truth: torch's 2-D norm of the kind on the (N, C, H, W) map."""
    model = norms.swap_norm(_ChannelsLastBlock(), kind, **({"num_groups": 4} if kind == "group" else {}))
    x = torch.randn(2, 3, 5, 6)
    reference = {"batch": nn.BatchNorm2d(8), "group": nn.GroupNorm(4, 8), "instance": nn.InstanceNorm2d(8)}
    torch.testing.assert_close(model(x), reference[kind](model.conv(x)))


class _L2Normalize(nn.Module):
    """No norm layer of a kind: x / ||x|| times a learned scale (a class named for normalizing)."""

    def __init__(self, width):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(width)), 1e-6

    def forward(self, x):
        return self.weight * nn.functional.normalize(x, dim=-1, eps=self.eps)


def test_swap_norm_leaves_a_module_whose_class_only_mentions_normalizing():
    """Only classes named *Norm are read as norm layers (and refused when they compute otherwise)."""
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), _L2Normalize(8))
    norms.swap_norm(model, "rms")
    assert isinstance(model[2], _L2Normalize) and model[1].kind == "rms"


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
@pytest.mark.parametrize("num_groups", [None, 8])
def test_group_norm_refuses_groups_of_one_value_as_instance_norm_is_refused(spatial_dims, num_groups):
    """A group norm of one channel per group (its default 32 groups lowered to the width, 8 here) on one
    position normalized each value to 0: the layer put out its bias for any input, without a word. Wu &
    He: with G = C group norm is instance norm, which torch refuses on one position. Two channels a group,
    or two positions, are torch's GroupNorm."""
    x = torch.randn((6, 8) + (1,) * spatial_dims)
    degenerate = nn.GroupNorm(8, 8)(x)
    torch.testing.assert_close(degenerate, torch.zeros_like(degenerate), rtol=0, atol=1e-4)  # input lost
    norm = norms.create(
        "group", 8, spatial_dims, **({} if num_groups is None else {"num_groups": num_groups})
    )
    with pytest.raises(
        InvalidValueError, match=r"\(6, 8(, 1)+\) for input shape of group norm.*num_groups at most 4"
    ) as error:
        norm(x)
    assert len(str(error.value).splitlines()) == 1
    paired = norms.create("group", 8, spatial_dims, num_groups=4)
    torch.testing.assert_close(paired(x), nn.GroupNorm(4, 8)(x))
    two = torch.randn((6, 8) + (2,) * spatial_dims)
    torch.testing.assert_close(norm(two), nn.GroupNorm(8, 8)(two))


@pytest.mark.parametrize(
    ("layer", "name", "reference"),
    [
        (nn.BatchNorm1d(np.int64(4)), "layer", nn.LayerNorm(4)),
        (nn.GroupNorm(2, np.int64(4)), "batch", nn.BatchNorm1d(4)),
    ],
)
def test_a_norm_torch_built_with_a_numpy_width_is_swapped(layer, name, reference):
    """torch builds a norm of np.int64 features (a width from np.prod or an array's shape) and keeps the
    number as given; swap_norm read it back and refused it as 'invalid value np.int64(4) for norm
    num_features: accepted a positive integer', a value the user never passed. A whole number is one as
    operator.index reads it; the swapped norm computes as torch's own of 4 features."""
    model = nn.Sequential(nn.Linear(3, 4), layer)
    norms.swap_norm(model, name)
    swapped = model[1]
    assert type(swapped.num_features) is int and swapped.num_features == 4
    x = torch.randn(6, 4)
    torch.testing.assert_close(swapped(x), reference(x))


@pytest.mark.parametrize("width", [4.0, np.float64(4.0), True, 0, "4"])
def test_a_width_that_is_no_whole_count_is_refused_in_one_line(width):
    with pytest.raises(InvalidValueError) as refused:
        norms.create("batch", width)
    assert (
        str(refused.value)
        == f"invalid value {width!r} for norm num_features: accepted an integer in [1, inf)."
    )
    assert norms.create("batch", np.int64(4)).num_features == 4


def test_swap_norm_to_group_keeps_two_features_a_group_in_an_mlps_batchnorm1d():
    """swap_norm(MLP with BatchNorm1d(32), "group") built 32 groups of one feature, refused at the first
    batch (each would normalize to 0). The truth: torch's GroupNorm(16, 32) on the same features."""
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 32), nn.BatchNorm1d(32), nn.ReLU())
    norms.swap_norm(mlp, "group")
    features = mlp[0](torch.randn(8, 4))
    torch.testing.assert_close(mlp[1](features), nn.GroupNorm(16, 32)(features))


def test_swap_norm_of_a_batchnorm1d_fed_channels_is_for_classs_rule_and_num_groups_gives_more():
    """A BatchNorm1d fed a Conv1d's (N, C, L) channels goes to group's default count of a BatchNorm1d
    (2 channels a group: 16 at width 32, not Wu & He's 32, as its class does not say whether (N, C)
    comes), the count for_class gives a user's class defaulting to BatchNorm1d; num_groups=32 given
    builds 32. The truth: torch's GroupNorm(16, 32) and GroupNorm(32, 32) on the same channels."""
    torch.manual_seed(0)
    channels = torch.randn(8, 32, 5)
    for given, groups in (({}, 16), ({"num_groups": 32}, 32)):
        net = norms.swap_norm(nn.Sequential(nn.Conv1d(4, 32, 3), nn.BatchNorm1d(32)), "group", **given)
        torch.testing.assert_close(net[1](channels), nn.GroupNorm(groups, 32)(channels))
        class_default = norms.for_class(nn.BatchNorm1d, "group", **given)(32)
        torch.testing.assert_close(class_default(channels), nn.GroupNorm(groups, 32)(channels))
