"""Transformer: attention as torch's reference computes it, no leak from the future when causal."""

import pytest
import torch
from torch import nn

import optimlab.models
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.models.transformer import SelfAttention
from optimlab.registry import get_registry


@pytest.mark.parametrize("causal", [False, True])
def test_self_attention_matches_torch_multihead_attention(causal):
    torch.manual_seed(0)
    ours = SelfAttention(width=16, heads=4, dropout=0.0, causal=causal)
    reference = nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(ours.qkv.weight)
        reference.in_proj_bias.copy_(ours.qkv.bias)
        reference.out_proj.weight.copy_(ours.proj.weight)
        reference.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(3, 7, 16)
    mask = nn.Transformer.generate_square_subsequent_mask(7) if causal else None
    expected, _ = reference(x, x, x, attn_mask=mask, need_weights=False)
    torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)


def language_model(causal: bool) -> nn.Module:
    torch.manual_seed(0)
    return optimlab.models.create(
        "transformer", (12,), 30, width=16, heads=2, vocab_size=30, causal=causal, per_token=True
    ).eval()


def test_causal_outputs_before_a_changed_token_do_not_change():
    model = language_model(causal=True)
    tokens = torch.randint(0, 30, (2, 12), generator=torch.Generator().manual_seed(1))
    changed = tokens.clone()
    changed[:, 8] = (changed[:, 8] + 1) % 30
    before, after = model(tokens), model(changed)
    assert before.shape == (2, 12, 30)
    torch.testing.assert_close(before[:, :8], after[:, :8])
    assert not torch.allclose(before[:, 8:], after[:, 8:])


@pytest.mark.parametrize("norm", get_registry("norm").names())
def test_a_causal_model_in_training_never_reads_later_tokens_through_its_norm(norm):
    """Group and instance norm pool over a sequence's positions, batch norm over the batch's in
    training: built causal, the logits before position 8 moved by up to 0.36-0.66 with tokens 8-11."""
    torch.manual_seed(0)
    try:
        model = optimlab.models.create(
            "transformer", (12,), 30, width=16, heads=2, vocab_size=30, causal=True, per_token=True, norm=norm
        ).train()
    except InvalidValueError as error:
        assert "pools over positions" in str(error)
        return
    tokens = torch.randint(0, 30, (4, 12), generator=torch.Generator().manual_seed(1))
    changed = tokens.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 30
    torch.testing.assert_close(model(tokens)[:, :8], model(changed)[:, :8])


def test_without_causal_every_position_sees_the_changed_token():
    model = language_model(causal=False)
    tokens = torch.randint(0, 30, (2, 12), generator=torch.Generator().manual_seed(1))
    changed = tokens.clone()
    changed[:, 8] = (changed[:, 8] + 1) % 30
    assert not torch.allclose(model(tokens)[:, :8], model(changed)[:, :8])


def test_mean_pooling_without_positions_is_invariant_to_the_order_of_the_sequence():
    torch.manual_seed(0)
    model = optimlab.models.create("transformer", (10, 3), 5, width=16, heads=4).eval()
    x = torch.randn(2, 10, 3)
    shuffled = x[:, torch.randperm(10)]
    assert not torch.allclose(model(x), model(shuffled))  # positions make order matter
    with torch.no_grad():
        model.position.zero_()
    torch.testing.assert_close(model(x), model(shuffled), atol=1e-5, rtol=1e-5)


def test_float_sequences_of_values_and_of_features_are_embedded_by_a_linear():
    values = optimlab.models.create("transformer", (40,), 10)
    features = optimlab.models.create("transformer", (40, 3), 10)
    assert values.embed.in_features == 1 and features.embed.in_features == 3
    assert values(torch.randn(2, 40)).shape == features(torch.randn(2, 40, 3)).shape == (2, 10)
    assert values(torch.randn(2, 25)).shape == (2, 10)  # shorter sequences use the first positions


def test_heads_must_divide_the_width():
    with pytest.raises(InvalidValueError, match="'heads'.*divisor of width 64"):
        optimlab.models.create("transformer", (16,), 2, width=64, heads=5)


def test_token_ids_need_a_one_dimensional_input_shape():
    with pytest.raises(InvalidValueError, match="input_shape of transformer"):
        optimlab.models.create("transformer", (16, 3), 2, vocab_size=10)


def test_no_alias_calls_it_gpt():
    """'gpt' named this encoder, which attends both ways and pools unless asked (causal, per_token): a
    GPT is a causal language model (Radford et al. 2018)."""
    with pytest.raises(UnknownNameError):
        optimlab.models.create("gpt", (12,), 30)


def test_a_sequence_longer_than_the_position_embedding_is_named():
    """13 tokens into a model of 12 positions raised torch's 'The size of tensor a (13) must match the size
    of tensor b (12)', naming neither the sequence length nor the limit."""
    model = language_model(causal=True)
    with pytest.raises(InvalidValueError, match=r"13 for sequence length.*at most 12"):
        model(torch.randint(0, 30, (2, 13)))
    assert model(torch.randint(0, 30, (2, 5))).shape == (2, 5, 30)


def test_parameter_count_is_the_hand_count():
    """Token embedding, learned positions, per block two layer norms, qkv and output projections and a
    4x MLP, the final norm and the head: every weight and bias counted by hand."""
    width, vocab, length, depth, outputs = 32, 50, 16, 2, 7
    model = optimlab.models.create(
        "transformer", (length,), outputs, width=width, depth=depth, heads=4, vocab_size=vocab
    )
    norms = 2 * (2 * width)
    attention = (width * 3 * width + 3 * width) + (width * width + width)
    mlp = (width * 4 * width + 4 * width) + (4 * width * width + width)
    hand = (
        vocab * width
        + length * width
        + depth * (norms + attention + mlp)
        + 2 * width
        + width * outputs
        + outputs
    )
    assert sum(p.numel() for p in model.parameters()) == hand
