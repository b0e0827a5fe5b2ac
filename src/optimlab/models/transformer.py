"""Small pre-norm Transformer encoder over sequences, optionally causal (decoder-only).

Vaswani et al., Attention Is All You Need, 2017, https://arxiv.org/abs/1706.03762; the norm before each
sub-layer (pre-norm) follows Xiong et al., On Layer Normalization in the Transformer Architecture, 2020,
https://arxiv.org/abs/2002.04745, which trains without the warmup post-norm needs.

Inputs: float sequences (N, T) with input_shape (T,) or (N, T, F) with input_shape (T, F), embedded by
a Linear; or token ids (N, T) of dtype long when ``vocab_size`` is set, embedded by nn.Embedding. A
learned position embedding covers up to T positions. Output: class logits from the mean over
positions, or with ``per_token`` one row of logits per position (N, T, num_outputs), e.g. next-token
prediction with ``causal``.

>>> import torch, optimlab.models
>>> lm = optimlab.models.create("transformer", (16,), 50, vocab_size=50, causal=True, per_token=True)
>>> lm(torch.randint(0, 50, (2, 16))).shape
torch.Size([2, 16, 50])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optimlab.errors import InvalidValueError
from optimlab.models.layers import LayerTechniques, check_shapes
from optimlab.models.sizing import DEPTH
from optimlab.registry import POSITIVE_INT, UNIT_OPEN, Capability, new_registry
from optimlab.techniques.choice import Choice

__all__ = ["TOKEN_NORMS", "SelfAttention", "Transformer", "TransformerBlock", "transformer"]

_REGISTRY = new_registry("model")

# Norms of each token alone. Batch, group and instance norm pool statistics over positions (group and
# instance over the T positions of each sequence, batch over the batch's in training), so with them a
# causal model's output at t changes with the tokens after t: the next-token targets leak.
TOKEN_NORMS = ("layer", "rms", "none")


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention; ``causal`` masks every later position."""

    def __init__(self, width: int, heads: int, dropout: float, causal: bool) -> None:
        super().__init__()
        self.heads, self.dropout, self.causal = heads, dropout, causal
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        n, t, c = x.shape
        q, k, v = (
            self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        )  # 3x (N, H, T, D)
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal
        )
        return self.proj(y.transpose(1, 2).reshape(n, t, c))


class TransformerBlock(nn.Module):
    """x + attention(norm(x)), then x + mlp(norm(x)); the mlp is Linear -> activation -> Linear."""

    def __init__(
        self, width: int, heads: int, mlp_ratio: int, causal: bool, techniques: LayerTechniques
    ) -> None:
        super().__init__()
        self.attention_norm = techniques.norm_layer(width)
        self.attention = SelfAttention(width, heads, techniques.dropout, causal)
        self.mlp_norm = techniques.norm_layer(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, mlp_ratio * width),
            techniques.activation_layer(),
            nn.Linear(mlp_ratio * width, width),
        )
        self.dropout = nn.Dropout(techniques.dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.dropout(self.attention(self.attention_norm(x)))
        return x + self.dropout(self.mlp(self.mlp_norm(x)))


class Transformer(nn.Module):
    """Embedding + positions -> blocks -> final norm -> head (pooled or per position)."""

    def __init__(
        self,
        embed: nn.Module,
        max_len: int,
        width: int,
        depth: int,
        heads: int,
        mlp_ratio: int,
        causal: bool,
        per_token: bool,
        num_outputs: int,
        techniques: LayerTechniques,
    ) -> None:
        super().__init__()
        self.embed = embed
        # GPT-2's scale for learned positions: small next to the content embedding at the start.
        self.position = nn.Parameter(0.02 * torch.randn(max_len, width))
        self.embed_dropout = nn.Dropout(techniques.dropout)
        self.blocks = nn.Sequential(
            *(TransformerBlock(width, heads, mlp_ratio, causal, techniques) for _ in range(depth))
        )
        self.norm = techniques.norm_layer(width, positions=(max_len,))  # refuses those of blocks too
        self.head = nn.Linear(width, num_outputs)
        self.per_token = per_token

    def forward(self, x: Tensor) -> Tensor:
        if isinstance(self.embed, nn.Embedding):
            x = x.long()  # token ids may arrive as floats: data sets keep x in float32
        elif x.ndim == 2:
            x = x.unsqueeze(-1)  # (N, T) float values -> (N, T, 1) features
        if x.shape[1] > len(self.position):
            raise InvalidValueError(
                "sequence length of the transformer's input",
                x.shape[1],
                f"at most {len(self.position)}, the positions its learned position embedding covers "
                "(input_shape's T)",
            )
        h = self.embed(x)  # (N, T, width)
        h = self.norm(self.blocks(self.embed_dropout(h + self.position[: h.shape[1]])))
        return self.head(h if self.per_token else h.mean(dim=1))


@_REGISTRY.register(
    "transformer",
    summary="Pre-norm Transformer encoder on float or token sequences; causal and per-token options.",
    paper="Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762; pre-norm: Xiong et al. 2020, "
    "arXiv:2002.04745",
    accepts={
        "width": POSITIVE_INT,
        "depth": DEPTH,
        "dropout": UNIT_OPEN,
        "heads": POSITIVE_INT,
        "mlp_ratio": POSITIVE_INT,
        "vocab_size": POSITIVE_INT,
        "causal": (False, True),
        "per_token": (False, True),
    },
    left_out={"vocab_size": "float sequences embedded by a Linear, no token ids"},
    capabilities=(Capability.SEQUENCES, Capability.TOKENS),
)
def transformer(
    input_shape: tuple[int, ...],
    num_outputs: int,
    *,
    width: int = 64,
    depth: int = 2,
    activation: Choice = "gelu",
    norm: Choice = "layer",
    init: Choice = "default",
    dropout: float = 0.0,
    heads: int = 4,
    mlp_ratio: int = 4,
    vocab_size: int | None = None,
    causal: bool = False,
    per_token: bool = False,
) -> Transformer:
    """A Transformer over sequences of length up to T.

    Args:
        input_shape: (T,) for float values or token ids, (T, F) for F features per position.
        num_outputs: classes, targets, or the vocabulary size for next-token logits.
        width: model dimension (a multiple of ``heads``).
        depth: number of Transformer blocks.
        activation, norm, init: names in the ``activation``, ``norm`` and ``init`` registries,
            or mappings of a name and its hyperparameters (:mod:`optimlab.techniques.choice`); norm is
            applied over the last (width) dimension; a causal model takes a norm of each token
            alone (:data:`TOKEN_NORMS`).
        dropout: on the embedding, the attention weights and each residual branch.
        heads: attention heads; each has width // heads dimensions.
        mlp_ratio: hidden units of each block's MLP, in multiples of width.
        vocab_size: when set, inputs are token ids in [0, vocab_size) of shape (N, T).
        causal: position t attends only to positions <= t.
        per_token: logits at every position (N, T, num_outputs), not after mean pooling (N, num_outputs).
    """
    shape = check_shapes("transformer", input_shape, num_outputs, ndims=(1,) if vocab_size else (1, 2))
    techniques = LayerTechniques.resolve(activation, norm, init, dropout)
    if width % heads:
        raise InvalidValueError("transformer hyperparameter 'heads'", heads, f"a divisor of width {width}")
    if causal and techniques.norm not in TOKEN_NORMS:
        raise InvalidValueError(
            "norm of a causal transformer",
            techniques.norm,
            "a norm of each token alone, "
            + ", ".join(TOKEN_NORMS)
            + f": {techniques.norm} norm pools over positions, so position t would see the tokens after t",
        )
    embed = (
        nn.Embedding(vocab_size, width)
        if vocab_size
        else nn.Linear(shape[1] if len(shape) == 2 else 1, width)
    )
    model = Transformer(
        embed, shape[0], width, depth, heads, mlp_ratio, causal, per_token, num_outputs, techniques
    )
    return techniques.initialize(model)
