"""Shared layer pieces: technique names resolved once, shapes checked, flat rows viewed as channels."""

import pytest
import torch

from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.models.layers import AsChannels, LayerTechniques, channels_first, check_shapes


def test_aliases_resolve_to_canonical_names():
    techniques = LayerTechniques.resolve("Swish", "BN", "he-normal", 0.1)
    assert (techniques.activation, techniques.norm, techniques.init) == ("silu", "batch", "kaiming_normal")
    assert [type(m).__name__ for m in techniques.dropout_layers()] == ["Dropout"]
    assert LayerTechniques.resolve("relu", "none", "default", 0.0).dropout_layers() == []


def test_unknown_activation_lists_close_matches():
    with pytest.raises(UnknownNameError, match="unknown activation 'tahn'.*Did you mean 'tanh'"):
        LayerTechniques.resolve("tahn", "none", "default", 0.0)


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
