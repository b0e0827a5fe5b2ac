"""K stacked members in one forward: each member's output and gradient equal its own model's."""

import copy

import pytest
import torch
from torch import nn
from torch.func import stack_module_state
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

import optimlab.models
from optimlab.models.stacked import PROBE_ROWS, by_matrix_products, stacked_forward, unstackable
from optimlab.techniques.scaling import create as create_scaler

K = 3


def members(build, seeds=range(K)):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build().double())
    return models


def mlp(**options):
    return lambda: optimlab.models.create("mlp", (6,), 4, width=5, **options)


def scaled_mlp(fit_seed=None, name="standardize"):
    """An MLP behind a scaler ``name`` fitted on data of ``fit_seed`` (the member's seed if None)."""

    def build():
        seed = torch.initial_seed() if fit_seed is None else fit_seed
        data = torch.randn(20, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3 + 1
        scaler = create_scaler(name).fit(data)
        return nn.Sequential(scaler, optimlab.models.create("mlp", (6,), 4, width=5).double())

    return build


class ConvBN(nn.Module):
    """A user's CNN with batch norm, written as users write one: its own forward, rows viewed as images."""

    def __init__(self, channels=2):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.head = nn.Sequential(nn.BatchNorm1d(channels * 4), nn.Linear(channels * 4, 4))

    def forward(self, x):
        return self.head(self.features(x.view(-1, 1, 4, 4)).flatten(1))


class TinyEncoder(nn.Module):
    """Token ids -> embedding + learned positions -> a transformer encoder block -> mean -> logits."""

    def __init__(self, vocab=11, width=8, length=5):
        super().__init__()
        self.embed, self.positions = nn.Embedding(vocab, width), nn.Parameter(torch.randn(length, width))
        self.block = nn.TransformerEncoderLayer(width, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(width, 4)

    def forward(self, tokens):
        return self.head(self.block(self.embed(tokens) + self.positions).mean(1))


class SelfAttention(nn.Module):
    def __init__(self, attention, need_weights=False):
        super().__init__()
        self.attention, self.need_weights = attention, need_weights

    def forward(self, x):
        out, weights = self.attention(x, x, x, need_weights=self.need_weights)
        return out if weights is None else out * weights.sum()


class MaskedEncoder(nn.Module):
    """A TransformerEncoderLayer given an attention mask (each position sees itself and the ones before)
    or a key padding mask (the last position of every row is padding)."""

    def __init__(self, padding, width=6):
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(width, 2, dim_feedforward=8, dropout=0.0, batch_first=True)
        self.padding = padding

    def forward(self, x):
        positions = x.shape[1]
        if self.padding:
            padded = torch.arange(positions) == positions - 1
            return self.layer(x, src_key_padding_mask=padded.expand(x.shape[0], positions))
        return self.layer(
            x, src_mask=nn.Transformer.generate_square_subsequent_mask(positions, dtype=x.dtype)
        )


class Decoder(nn.Module):
    """A TransformerDecoderLayer: causal self-attention, then cross-attention to a shorter memory."""

    def __init__(self, width=6):
        super().__init__()
        self.layer = nn.TransformerDecoderLayer(width, 2, dim_feedforward=8, dropout=0.0, batch_first=True)
        self.memory = nn.Linear(width, width)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=x.dtype)
        return self.layer(x, self.memory(x[:, :2]), tgt_mask=mask, tgt_is_causal=True)


class AttendsToMemory(nn.Module):
    """Attention of each position to a learned memory of 3 keys and values, given to torch's attention
    as its static_k and static_v in place of keys and values of the input."""

    def __init__(self, width=6, heads=2):
        super().__init__()
        self.attention = nn.MultiheadAttention(width, heads)
        self.memory = nn.Parameter(torch.randn(3, width // heads))

    def forward(self, x):
        h, a = x.transpose(0, 1), self.attention  # torch's layout (L, N, E)
        memory = self.memory.expand(x.shape[0] * a.num_heads, *self.memory.shape)
        weights, bias = (a.in_proj_weight, a.in_proj_bias), (a.bias_k, a.bias_v, a.add_zero_attn, a.dropout)
        out, _ = F.multi_head_attention_forward(
            h, h, h, a.embed_dim, a.num_heads, *weights, *bias, a.out_proj.weight, a.out_proj.bias,
            need_weights=False, static_k=memory, static_v=memory,
        )  # fmt: skip
        return out.transpose(0, 1)


class DotProductAttention(nn.Module):
    """F.scaled_dot_product_attention called directly, 2 heads: queries of all 3 positions over keys of
    the first 2, causal at scale 0.3, or under a boolean mask whose first row attends to nothing."""

    def __init__(self, causal, width=6):
        super().__init__()
        self.query, self.key, self.causal = nn.Linear(width, width), nn.Linear(width, width), causal

    def forward(self, x):
        q = self.query(x).unflatten(-1, (2, -1)).transpose(-3, -2)  # (B, 2, 3, 3)
        k = self.key(x[:, :2]).unflatten(-1, (2, -1)).transpose(-3, -2)  # (B, 2, 2, 3)
        if self.causal:
            y = F.scaled_dot_product_attention(q, k, k, is_causal=True, scale=0.3)
        else:
            mask = torch.tensor([[False, False], [True, False], [True, True]])
            y = F.scaled_dot_product_attention(q, k, k, attn_mask=mask)
        return y.transpose(-3, -2).flatten(-2)


TOKENS = ("tokens", 11, 5)  # an input shape meaning token ids below 11, 5 a row


def inputs(shape, leading):
    if shape == TOKENS:
        return torch.randint(0, TOKENS[1], (*leading, TOKENS[2]))
    return torch.randn(*leading, *shape, dtype=torch.float64)


CASES = {
    "mlp relu": (mlp(), (6,), True),
    "mlp gelu depth 3": (mlp(activation="gelu", depth=3), (6,), True),
    "linear model": (mlp(depth=0), (6,), True),
    "mlp on images": (
        lambda: optimlab.models.create("mlp", (2, 3), 4, width=5, activation="tanh"),
        (2, 3),
        True,
    ),
    "no bias, sequence of tokens": (
        lambda: nn.Sequential(nn.Linear(6, 5, bias=False), nn.SiLU()),
        (7, 6),
        True,
    ),
    "shared scaler": (scaled_mlp(fit_seed=0), (6,), True),
    "a scaler each": (scaled_mlp(), (6,), True),
    "no scaling (0-dim statistics)": (scaled_mlp(name="none"), (6,), True),
    "min-max scaling each": (scaled_mlp(name="minmax"), (6,), True),
    "layer norm (vmap)": (mlp(norm="layer"), (6,), False),
    "prelu (vmap)": (mlp(activation="prelu"), (6,), False),
    "cnn (vmap)": (lambda: optimlab.models.create("cnn", (1, 8, 8), 4, width=2, depth=1), (1, 8, 8), False),
    "cnn with batch norm (vmap)": (
        lambda: optimlab.models.create("cnn", (1, 8, 8), 4, width=2, depth=1, norm="batch"),
        (1, 8, 8),
        False,
    ),
    "user cnn, batch norm 2d and 1d (vmap)": (ConvBN, (16,), False),
    "batch norm on the input (vmap)": (
        lambda: nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 4)),
        (6,),
        False,
    ),
    "embedding, attention, layer norm (vmap)": (TinyEncoder, TOKENS, False),
    "multi-head attention (vmap)": (
        lambda: nn.Sequential(SelfAttention(nn.MultiheadAttention(6, 2, batch_first=True)), nn.Linear(6, 4)),
        (3, 6),
        False,
    ),
    "attention to a learned memory, static keys and values (vmap)": (AttendsToMemory, (3, 6), False),
    "encoder layer, attention mask (vmap)": (lambda: MaskedEncoder(padding=False), (3, 6), False),
    "encoder layer, key padding mask (vmap)": (lambda: MaskedEncoder(padding=True), (3, 6), False),
    "decoder layer, causal and cross-attention (vmap)": (Decoder, (3, 6), False),
    "attention with a key and value bias (vmap)": (
        lambda: SelfAttention(nn.MultiheadAttention(6, 2, add_bias_kv=True, batch_first=True)),
        (3, 6),
        False,
    ),
    "attention with a zero key (vmap)": (
        lambda: SelfAttention(nn.MultiheadAttention(6, 2, add_zero_attn=True, batch_first=True)),
        (3, 6),
        False,
    ),
    "attention returning its weights (vmap)": (
        lambda: SelfAttention(nn.MultiheadAttention(6, 2, batch_first=True), need_weights=True),
        (3, 6),
        False,
    ),
    "dot-product attention, causal, fewer keys (vmap)": (
        lambda: DotProductAttention(causal=True),
        (3, 6),
        False,
    ),
    "dot-product attention, a row masked whole (vmap)": (
        lambda: DotProductAttention(causal=False),
        (3, 6),
        False,
    ),
    "causal transformer, a prediction per token (vmap)": (
        lambda: optimlab.models.create(
            "transformer", (5,), 4, vocab_size=11, width=8, heads=2, depth=1, causal=True, per_token=True
        ),
        TOKENS,
        False,
    ),
}


@pytest.mark.parametrize("shared", [True, False], ids=["shared batch", "a batch each"])
@pytest.mark.parametrize("case", CASES)
def test_each_member_gets_its_own_models_output_gradient_and_buffers(case, shared):
    """In train mode each member's output and gradient are its model's, and the buffers its forward
    updates (batch norm's running statistics, num_batches_tracked) are updated as its model's are; in
    eval mode each member's output reads its own running statistics."""
    build, shape, matmul = CASES[case]
    models = members(build)
    template = copy.deepcopy(models[0])
    assert by_matrix_products(template) is matmul
    params, buffers = stack_module_state(models)  # copies: the models keep their own tensors
    params = {n: p.detach().requires_grad_() for n, p in params.items()}
    x = inputs(shape, (4,) if shared else (K, 4))
    forward = stacked_forward(template, K, shared_input=shared)
    out = forward(params, buffers, x)
    grads = torch.autograd.grad(out.pow(2).sum(), list(params.values()))
    template.eval()
    with torch.inference_mode():  # as evaluations run: attention may take another path there
        evaluated = forward(params, buffers, x)
    for k, model in enumerate(models):
        xk = x if shared else x[k]
        expected = model(xk)
        torch.testing.assert_close(out[k], expected, rtol=1e-12, atol=1e-12)
        member_grads = torch.autograd.grad(expected.pow(2).sum(), list(model.parameters()))
        for got, want in zip(grads, member_grads):
            torch.testing.assert_close(got[k], want, rtol=1e-12, atol=1e-12)
        for name, buffer in model.named_buffers():
            torch.testing.assert_close(buffers[name][k], buffer, rtol=1e-12, atol=1e-12)
        with torch.inference_mode():
            torch.testing.assert_close(evaluated[k], model.eval()(xk), rtol=1e-12, atol=1e-12)
    if matmul:  # the optimizers' fused kernels index a gradient like its parameter: contiguous
        assert all(g.is_contiguous() for g in grads)


def test_a_model_without_parameters_still_gives_one_output_per_member():
    forward = stacked_forward(nn.Sequential(nn.Flatten(), nn.ReLU()), K, shared_input=True)
    x = torch.randn(4, 2, 3)
    assert torch.equal(forward({}, {}, x), x.flatten(1).relu().expand(K, 4, 6))


@pytest.mark.parametrize("shared", [True, False], ids=["shared targets", "targets each"])
@pytest.mark.parametrize(
    "loss",
    [nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=2), nn.MSELoss()],
    ids=["cross entropy", "smoothed, a class ignored", "mse (vmap)"],
)
def test_each_members_loss_is_its_own(loss, shared):
    from optimlab.models.stacked import stacked_loss

    outputs = torch.randn(K, 6, 4, dtype=torch.float64)
    if isinstance(loss, nn.MSELoss):
        targets = (
            torch.randn(6, 4, dtype=torch.float64) if shared else torch.randn(K, 6, 4, dtype=torch.float64)
        )
    else:
        targets = torch.randint(0, 4, (6,) if shared else (K, 6))
    got = stacked_loss(loss, shared_targets=shared)(outputs, targets)
    want = torch.stack([loss(outputs[k], targets if shared else targets[k]) for k in range(K)])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


class SignBranch(nn.Module):
    """Python control flow on a value each member computes: vmap cannot run it."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 4)

    def forward(self, x):
        h = self.linear(x)
        return h if h.sum() > 0 else -h


class CountsCalls(nn.Module):
    """A buffer replaced by assignment in the forward, not updated in place."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(6, 4)
        self.register_buffer("calls", torch.zeros((), dtype=torch.float64))

    def forward(self, x):
        self.calls = self.calls + 1
        return self.linear(x) * self.calls


def frozen_first_layer():
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))
    model[0].requires_grad_(False)
    return model


class UnusedHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear, self.spare = nn.Linear(6, 4), nn.Linear(6, 4)

    def forward(self, x):
        return self.linear(x)


UNSTACKABLE = {
    "dropout": (
        lambda: nn.Sequential(nn.Linear(6, 4), nn.Dropout(0.2)),
        (6,),
        "dropout in '1' (Dropout, p=0.2)",
    ),
    "attention dropout": (
        lambda: SelfAttention(nn.MultiheadAttention(6, 2, dropout=0.1, batch_first=True)),
        (3, 6),
        "dropout in 'attention' (MultiheadAttention, p=0.1)",
    ),
    "sparse embedding": (
        lambda: nn.Embedding(11, 4, sparse=True),
        TOKENS,
        "sparse gradients of the model (Embedding",
    ),
    "frozen parameters": (frozen_first_layer, (6,), "frozen parameters (0.weight, 0.bias)"),
    "an unused parameter": (UnusedHead, (6,), "parameters without a gradient (spare.weight, spare.bias)"),
    "batch norm's cumulative average": (
        lambda: nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4, momentum=None)),
        (6,),
        "its stacked forward raised RuntimeError",
    ),
    "data-dependent control flow": (SignBranch, (6,), "its stacked forward raised RuntimeError"),
    "a buffer assigned": (CountsCalls, (6,), "buffer calls after a training step"),
}


@pytest.mark.parametrize("shared", [True, False], ids=["shared batch", "a batch each"])
@pytest.mark.parametrize("case", UNSTACKABLE)
def test_what_cannot_stack_says_why(case, shared):
    build, shape, reason = UNSTACKABLE[case]
    [model] = members(build, seeds=[0])
    x, y = inputs(shape, (PROBE_ROWS,)), torch.randint(0, 4, (PROBE_ROWS,))
    before = copy.deepcopy(model.state_dict())
    found = unstackable(model, nn.CrossEntropyLoss(), x, y, shared_input=shared)
    assert found is not None and found.startswith(reason), found
    assert all(torch.equal(before[n], t) for n, t in model.state_dict().items())  # tried on copies


@pytest.mark.parametrize("shared", [True, False], ids=["shared batch", "a batch each"])
@pytest.mark.parametrize("case", CASES)
def test_what_stacks_is_found_stackable(case, shared):
    build, shape, _ = CASES[case]
    [model] = members(build, seeds=[0])
    x = inputs(shape, (PROBE_ROWS,))
    y = torch.zeros_like(copy.deepcopy(model)(x))  # any output shape: a mean-square loss
    assert unstackable(model, nn.MSELoss(), x, y, shared_input=shared) is None


class TorchAttentionCalls(TorchFunctionMode):
    """Counts the calls that reach torch's own scaled dot-product attention, those inside
    F.multi_head_attention_forward too."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls += func is F.scaled_dot_product_attention
        if func is F.multi_head_attention_forward:
            with self:
                return torch.overrides.redispatch_function(func, types, args, kwargs)
        return func(*args, **(kwargs or {}))


class GroupedQueryAttention(nn.Module):
    """4 query heads sharing 2 key and value heads (torch's enable_gqa)."""

    def __init__(self, width=8):
        super().__init__()
        self.query, self.key_value = nn.Linear(width, width), nn.Linear(width, width)

    def forward(self, x):
        q = self.query(x).unflatten(-1, (4, 2)).transpose(-3, -2)  # (B, 4, T, 2)
        k, v = self.key_value(x).unflatten(-1, (2, 4)).transpose(-3, -2).chunk(2, -1)  # (B, 2, T, 2) each
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True).transpose(-3, -2).flatten(-2)


@pytest.mark.parametrize(
    "case",
    [
        "embedding, attention, layer norm (vmap)",
        "encoder layer, attention mask (vmap)",
        "encoder layer, key padding mask (vmap)",
        "decoder layer, causal and cross-attention (vmap)",
        "causal transformer, a prediction per token (vmap)",
        "dot-product attention, a row masked whole (vmap)",
    ],
)
@pytest.mark.skipif(
    not hasattr(torch.overrides, "redispatch_function"), reason="nn.MultiheadAttention's is torch's own"
)
def test_attention_of_the_members_runs_batched_not_member_by_member(case):
    """torch's CPU attention kernel has no vmap batching rule: vmap ran it once a member, and its backward
    zero-filled every member's gradient for each (find_lr's small Transformer: a third of a stacked step).
    Attention, masked, causal or across two inputs, now runs as matrix products batched over the members:
    the stacked forward and backward call torch's attention nowhere, where each model alone does (the
    CASES test holds the outputs and gradients to each model's own)."""
    build, shape, _ = CASES[case]
    models = members(build)
    params, buffers = stack_module_state(models)
    params = {n: p.detach().requires_grad_() for n, p in params.items()}
    x = inputs(shape, (4,))
    forward = stacked_forward(copy.deepcopy(models[0]), K, shared_input=True)
    with TorchAttentionCalls() as alone:
        models[0](x)
    with TorchAttentionCalls() as stacked:
        torch.autograd.grad(forward(params, buffers, x).sum(), list(params.values()))
    assert alone.calls >= 1 and stacked.calls == 0


def test_attention_of_grouped_heads_is_torchs_own():
    models = members(GroupedQueryAttention)
    params, buffers = stack_module_state(models)
    x = inputs((3, 8), (4,))
    with TorchAttentionCalls() as stacked:
        out = stacked_forward(copy.deepcopy(models[0]), K, shared_input=True)(params, buffers, x)
    assert stacked.calls == 1
    for k, model in enumerate(models):
        torch.testing.assert_close(out[k], model(x), rtol=1e-12, atol=1e-12)
