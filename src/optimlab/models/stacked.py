"""K members of one architecture as one model: the forward over parameters stacked member-first.

:func:`stacked_forward` turns a template module into ``forward(params, buffers, x) -> (K, B, ...)``,
for the parameters and buffers that ``torch.func.stack_module_state`` stacks, ``(K, *shape)``, and an
input ``x`` shared by every member, ``(B, ...)``, or one per member, ``(K, B, ...)``. Gradients are
those of any forward: ``torch.autograd.grad`` of the sum of the K members' losses gives each member the
gradient of its own loss, since no member's output reads another's parameters.

Two ways, one result (within float rounding; ``tests/models/test_stacked.py``):

- **batched matrix products**, where every module of the template is one this module knows: nested
  ``nn.Sequential``, ``nn.Linear``, ``nn.Flatten``, the input scalers, parameterless elementwise
  activations, and identities (``nn.Identity``, the ``none`` norm, dropout with p = 0). A linear layer
  is one ``baddbmm`` for all members, computed as ``W x^T`` so that the weight's gradient comes out
  contiguous, as the optimizers' fused kernels need it. On 64 MLPs 64-128-128-10 with a batch of 32 (2
  threads, this repo's machine) a forward and backward takes 2.5 ms, against 3.0 ms for ``vmap``.
- otherwise ``torch.func.vmap`` of ``functional_call`` over the template: any module torch can
  vectorize (convolutions, attention, embeddings, norms with weights). The template runs in its own
  mode (``train()``/``eval()``, the caller's to set), and buffers that its forward updates in place
  (batch norm's running statistics and ``num_batches_tracked``) are updated member by member in the
  stacked ``buffers``, as each member's own forward updates its own. A random operation (dropout)
  raises rather than draw masks that a one-at-a-time run would draw differently. Inside it torch's
  scaled dot-product attention (``F.scaled_dot_product_attention``, where ``nn.MultiheadAttention``,
  the encoder and decoder layers and optimlab's Transformer end) runs as matrix products that ``vmap``
  batches, where torch's CPU kernel would run member by member (:class:`_AttentionByProducts`).

Both users, find_lr's stacked check (:mod:`optimlab.doctor.lr_check`) and the K-member training of
:mod:`optimlab.train.members` (compare's and a study's batches), run every member this way.

Whether a module built by anyone (the user's own) stacks at all is :func:`unstackable`'s to judge,
from its modules and by trying it.
"""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from optimlab.registry import get_registry
from optimlab.techniques.norms import Norm
from optimlab.techniques.scaling import Scaler

__all__ = [
    "StackedForward",
    "by_matrix_products",
    "random_dropout",
    "stacked_forward",
    "stacked_loss",
    "unstackable",
]

Tensors = Mapping[str, Tensor]
# forward(params, buffers, x) -> outputs (K, B, ...); x is (B, ...) if shared, else (K, B, ...)
StackedForward = Callable[[Tensors, Tensors, Tensor], Tensor]
# One module's part: (params, buffers, x, shared) -> (y, shared); a shared x has no member dimension.
_Layer = Callable[[Tensors, Tensors, Tensor, bool], tuple[Tensor, bool]]


def stacked_forward(template: nn.Module, members: int, *, shared_input: bool) -> StackedForward:
    """The forward of ``members`` stacked copies of ``template`` (module docstring).

    Args:
        template: one member's module; its own parameter values are not read.
        members: K.
        shared_input: whether ``x`` is one batch for every member, ``(B, ...)``, or ``(K, B, ...)``.
    """
    layers = _layers(template, "")
    if layers is None:
        return _vmapped(template, shared_input)

    def forward(params: Tensors, buffers: Tensors, x: Tensor) -> Tensor:
        shared = shared_input
        for layer in layers:
            x, shared = layer(params, buffers, x, shared)
        return x.expand(members, *x.shape) if shared else x

    return forward


def stacked_loss(loss_fn: nn.Module, *, shared_targets: bool) -> Callable[[Tensor, Tensor], Tensor]:
    """Each member's loss, ``(K,)``, of outputs ``(K, B, ...)`` against targets ``(B, ...)`` shared by
    every member or ``(K, B, ...)``.

    Cross-entropy against class indices (classification's default loss) is one call over the K B rows,
    averaged per member as torch averages (over the targets not ignored); any other loss is vmapped.
    On 64 MLPs with a batch of 32 the forward and backward of the loss take 0.2 ms, 0.3 ms by vmap.
    """
    vmapped = vmap(loss_fn, in_dims=(0, None if shared_targets else 0))
    if type(loss_fn) is not nn.CrossEntropyLoss or loss_fn.weight is not None or loss_fn.reduction != "mean":
        return vmapped

    def cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
        if outputs.dim() != 3 or targets.is_floating_point():  # per-position labels, or probabilities
            return vmapped(outputs, targets)
        members, rows = outputs.shape[:2]
        labels = targets.expand(members, rows) if shared_targets else targets
        losses = F.cross_entropy(
            outputs.reshape(members * rows, -1), labels.reshape(-1), reduction="none",
            ignore_index=loss_fn.ignore_index, label_smoothing=loss_fn.label_smoothing,
        )  # fmt: skip
        return losses.view(members, rows).sum(1) / (labels != loss_fn.ignore_index).sum(1)

    return cross_entropy


def by_matrix_products(template: nn.Module) -> bool:
    """Whether :func:`stacked_forward` runs ``template`` as batched matrix products (else by ``vmap``)."""
    return _layers(template, "") is not None


def random_dropout(template: nn.Module) -> str | None:
    """The first module of ``template`` that drops at random (dropout p > 0), named; None if none does
    (dropout at p = 0 is the identity)."""
    for name, module in template.named_modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            p = module.p
        else:
            p = module.dropout if isinstance(module, nn.MultiheadAttention) else 0.0
        if p > 0:
            return f"dropout in {name!r} ({type(module).__name__}, p={p:g})"
    return None


PROBE_ROWS = 8  # training rows :func:`unstackable` tries: 4 a member, as batch norm needs 2 or more


def unstackable(
    template: nn.Module, loss_fn: nn.Module, x: Tensor, y: Tensor, *, shared_input: bool
) -> str | None:
    """Why K members of ``template`` cannot train as one stacked model and follow their one-at-a-time
    runs, or None if they can.

    First from its modules: dropout (a one-at-a-time run draws each member's masks from the global
    generator in turn), frozen parameters (the stacked optimizer steps every parameter), sparse
    embedding gradients. Then by trying: two members, on copies (``template`` is left as it is), through
    the stacked forward, loss and gradient in train mode and the forward in eval mode, on ``x, y`` (a
    few training rows, :data:`PROBE_ROWS`; halves of them, one a member, unless ``shared_input``),
    against the module's own. An operation ``vmap`` cannot run, a parameter without a gradient, a
    buffer that changes other than in place, or any difference beyond rounding is a reason.
    """
    dropout = random_dropout(template)
    if dropout:
        return f"{dropout}: its masks would differ from a one-at-a-time run's"
    for name, module in template.named_modules():
        if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and module.sparse:
            return f"sparse gradients of {repr(name) if name else 'the model'} ({type(module).__name__}, sparse=True)"
    frozen = [name for name, p in template.named_parameters() if not p.requires_grad]
    if frozen:
        return f"frozen parameters ({', '.join(frozen[:3])}): the stacked optimizer would step them"
    try:
        return _probe(template, loss_fn, x, y, shared_input)
    except Exception as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return f"its stacked forward raised {type(error).__name__}: {message[:200]}"


def _probe(template: nn.Module, loss_fn: nn.Module, x: Tensor, y: Tensor, shared_input: bool) -> str | None:
    """:func:`unstackable`'s trial run: the first difference between a stacked member and its model."""
    half = x.shape[0] // 2
    if shared_input:
        xs, ys, own_inputs = x, y, [(x, y), (x, y)]
    else:
        xs, ys = torch.stack([x[:half], x[half : 2 * half]]), torch.stack([y[:half], y[half : 2 * half]])
        own_inputs = list(zip(xs, ys))
    own = [copy.deepcopy(template) for _ in range(2)]
    stacked_params, stacked_buffers = stack_module_state(own)  # copies: ``own`` keep theirs
    params = {n: p.detach().requires_grad_() for n, p in stacked_params.items()}
    buffers = {n: b.detach() for n, b in stacked_buffers.items()}
    stacked = copy.deepcopy(template)
    forward = stacked_forward(stacked, 2, shared_input=shared_input)
    stacked.train()
    losses = stacked_loss(loss_fn, shared_targets=shared_input)(forward(params, buffers, xs), ys)
    grads = torch.autograd.grad(losses.sum(), list(params.values()), allow_unused=True)
    stacked.eval()
    with torch.inference_mode():
        evaluated = forward(params, buffers, xs)
    for k, (model, (xk, yk)) in enumerate(zip(own, own_inputs)):
        model.train()
        loss = loss_fn(model(xk), yk)
        named = dict(model.named_parameters())
        wanted = torch.autograd.grad(loss, [named[n] for n in params], allow_unused=True)
        unused = [n for n, g in zip(params, wanted) if g is None]
        if unused:
            return f"parameters without a gradient ({', '.join(unused[:3])}): the stacked optimizer would step them"
        model.eval()
        with torch.inference_mode():
            output = model(xk)
        compared = [
            ("the training loss", losses[k], loss),
            *(
                (f"the gradient of {n}", None if g is None else g[k], w)
                for n, g, w in zip(params, grads, wanted)
            ),
            *((f"buffer {n} after a training step", buffers[n][k], b) for n, b in model.named_buffers()),
            ("the output in eval mode", evaluated[k], output),
        ]
        for what, got, want in compared:
            if (
                got is None
                or got.shape != want.shape
                or not torch.allclose(got.detach().double(), want.detach().double(), rtol=1e-3, atol=1e-5)
            ):
                return f"{what} of a stacked member differs from the model's own"
    return None


# torch's notice that an operation (CPU flash attention with dropout, for one) runs member by member
# under vmap: the result is the same, the user can do nothing about it, and it would land in the
# doctor's output.
_NO_BATCHING_RULE = "There is a performance drop because we have not yet implemented the batching rule"


def _vmapped(template: nn.Module, shared_input: bool) -> StackedForward:
    # Whether the forward calls torch's attention, known after its first call: the mode that rewrites
    # attention sees every torch call, which cost a CNN of 17 members 8% of a stacked step (2 threads,
    # 17.9 -> 19.4 ms, docs/benchmarks.md's forty-fourth session), so a forward that never attended
    # runs without it.
    attends = [True]

    def member(params: Tensors, buffers: Tensors, x: Tensor) -> Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NO_BATCHING_RULE)
            if not attends[0]:
                return functional_call(template, (params, buffers), (x,))
            with _AttentionByProducts() as mode:
                output = functional_call(template, (params, buffers), (x,))
            attends[0] = mode.attended
            return output

    return vmap(member, in_dims=(0, 0, None if shared_input else 0), randomness="error")


class _AttentionByProducts(TorchFunctionMode):
    """torch's scaled dot-product attention written as matrix products, softmax(Q K^T s + M) V (the mask
    M, given or causal, -inf where a position is not attended; a row attending to none gives zeros, as
    torch's does), which ``vmap`` batches over the members: torch's CPU attention kernel has no batching
    rule, so ``vmap`` ran it member by member, and its backward zero-filled every member's gradient for
    each. ``nn.MultiheadAttention`` (returning no weights) and the encoder and decoder layers end in it,
    as optimlab's Transformer does; plain self-attention in ``nn.MultiheadAttention`` is taken whole
    (:func:`_self_attention`). A stacked step of 17 members, batch 64 of 16 tokens (CPU time,
    benchmarks/stacked_attention.py, docs/benchmarks.md's forty-fourth session): optimlab's Transformer
    0.76 of its time when only plain self-attention ran as products, causal 0.75; find_lr's small
    Transformer took 0.68 of its time with torch's kernel. Attention with dropout or grouped heads is
    torch's own."""

    def __init__(self) -> None:
        super().__init__()
        self.attended = False

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            self.attended = True
            return _attention(*args, **kwargs)
        if func is F.multi_head_attention_forward:
            given = _MULTI_HEAD_ARGUMENTS.bind(*args, **kwargs)
            given.apply_defaults()
            if _plain_self_attention(given.arguments):
                self.attended = True
                return _self_attention(given.arguments), None
            if _REDISPATCH is not None:
                with self:  # a mode does not see the calls inside the one it handles: sdpa, here
                    return _REDISPATCH(func, types, args, kwargs)
        return func(*args, **kwargs)


_MULTI_HEAD_ARGUMENTS = inspect.signature(F.multi_head_attention_forward)


def _plain_self_attention(a: dict[str, Any]) -> bool:
    """Whether torch's multi-head attention is self-attention of one input with packed projections and
    nothing else (no mask, dropout, added, static or zero key or value, or weights returned)."""
    query = a["query"]
    return (
        query is a["key"] is a["value"]
        and query.dim() == 3
        and a["embed_dim_to_check"] == query.shape[-1]
        and not a["use_separate_proj_weight"]
        and a["bias_k"] is None
        and a["bias_v"] is None
        and a["static_k"] is None
        and a["static_v"] is None
        and not a["add_zero_attn"]
        and (a["dropout_p"] == 0 or not a["training"])
        and a["key_padding_mask"] is None
        and a["attn_mask"] is None
        and not a["is_causal"]
        and not a["need_weights"]
    )


def _self_attention(a: dict[str, Any]) -> Tensor:
    """Plain self-attention, (L, N, E) in torch's layout, with one packed projection and no copy of it:
    torch's own path to its attention copies the projection and the heads' output, which made a stacked
    step of find_lr's small Transformer 1.12x slower (an in-process loop, docs/benchmarks.md's forty-fourth
    session)."""
    length, batch, width = a["query"].shape
    heads = a["num_heads"]

    def by_head(t: Tensor) -> Tensor:  # (L, N, E) -> (N heads, L, E / heads)
        return t.reshape(length, batch * heads, width // heads).transpose(0, 1)

    q, k, v = (by_head(t) for t in F.linear(a["query"], a["in_proj_weight"], a["in_proj_bias"]).chunk(3, -1))
    mixed = _attention(q, k, v).transpose(0, 1).reshape(length * batch, width)
    return F.linear(mixed, a["out_proj_weight"], a["out_proj_bias"]).view(length, batch, width)


# Runs a function that dispatches to a mode past that dispatch (torch 2.13's public name); without it,
# nn.MultiheadAttention's attention is torch's own, run member by member.
_REDISPATCH = getattr(torch.overrides, "redispatch_function", None)


def _attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``F.scaled_dot_product_attention`` by matrix products, where it has neither dropout nor grouped
    heads (nor both a mask and ``is_causal``, which torch refuses); else torch's own."""
    if dropout_p or enable_gqa or (is_causal and attn_mask is not None):
        return F.scaled_dot_product_attention(
            query, key, value, attn_mask, dropout_p, is_causal, scale=scale, enable_gqa=enable_gqa
        )
    scores = (query * (query.shape[-1] ** -0.5 if scale is None else scale)) @ key.mT  # (..., L, S)
    if is_causal:  # torch's: position i attends to keys 0..i, aligned top left; none attends to none
        later = torch.ones(scores.shape[-2:], dtype=torch.bool, device=scores.device).triu(1)
        return torch.softmax(scores.masked_fill(later, float("-inf")), -1) @ value
    if attn_mask is None:
        return torch.softmax(scores, -1) @ value
    if attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    else:
        scores = scores + attn_mask
    unattended = (scores == float("-inf")).all(-1, keepdim=True)  # rows softmax would make NaN
    weights = torch.softmax(scores.masked_fill(unattended, 0.0), -1).masked_fill(unattended, 0.0)
    return weights @ value


def _layers(module: nn.Module, prefix: str) -> list[_Layer] | None:
    """The batched parts of ``module`` in order, or None if one of its modules has no batched form."""
    if type(module) is nn.Sequential:  # a subclass may have its own forward
        layers: list[_Layer] = []
        for name, child in module.named_children():
            inner = _layers(child, f"{prefix}{name}.")
            if inner is None:
                return None
            layers += inner
        return layers
    if type(module) is nn.Linear:
        return [_linear(prefix, module.bias is not None)]
    if type(module) is nn.Flatten:
        return [_flatten(module.start_dim, module.end_dim)]
    if isinstance(module, Scaler) and type(module).forward is Scaler.forward:
        return [_scaler(module, prefix)]
    if _is_identity(module):
        return []
    if type(module) in _elementwise_activations() and not any(True for _ in module.parameters()):
        return [lambda params, buffers, x, shared: (module(x), shared)]
    return None


def _is_identity(module: nn.Module) -> bool:
    return (
        type(module) is nn.Identity
        or (type(module) is nn.Dropout and module.p == 0)
        or (isinstance(module, Norm) and type(module.inner) is nn.Identity)
    )


def _elementwise_activations() -> set[type]:
    """The module classes of the activation registry: each maps every element on its own."""
    return {entry.obj for entry in get_registry("activation")}


def _linear(prefix: str, bias: bool) -> _Layer:
    def linear(params: Tensors, buffers: Tensors, x: Tensor, shared: bool) -> tuple[Tensor, bool]:
        weight = params[f"{prefix}weight"]  # (K, out, in)
        members, rows = weight.shape[0], x.shape[(0 if shared else 1) : -1]  # (B, ...)
        flat = x.reshape(-1, x.shape[-1]) if shared else x.reshape(members, -1, x.shape[-1])
        columns = flat.mT.expand(members, *flat.mT.shape) if shared else flat.mT  # (K, in, N)
        if bias:
            y = torch.baddbmm(params[f"{prefix}bias"].unsqueeze(-1), weight, columns)
        else:
            y = torch.bmm(weight, columns)
        # (K, N, out) as a view of W x^T: the gradient w.r.t. W comes out contiguous
        return y.mT.reshape(members, *rows, weight.shape[1]), False

    return linear


def _flatten(start_dim: int, end_dim: int) -> _Layer:
    def flatten(params: Tensors, buffers: Tensors, x: Tensor, shared: bool) -> tuple[Tensor, bool]:
        offset = 0 if shared or start_dim < 0 else 1  # past the member dimension
        return x.flatten(start_dim + offset, end_dim + (offset if end_dim >= 0 else 0)), shared

    return flatten


def _scaler(module: Scaler, prefix: str) -> _Layer:
    """The member's fitted scaler: one map on a shared input if every member fitted the same one."""
    seen: list[Any] = [None, None, False]  # the last buffers, and whether every member's were the same

    def scale(params: Tensors, buffers: Tensors, x: Tensor, shared: bool) -> tuple[Tensor, bool]:
        shift, spread = buffers[f"{prefix}shift"], buffers[f"{prefix}scale"]
        if seen[0] is not shift or seen[1] is not spread:  # fitted once, never trained: compare once
            seen[:] = shift, spread, bool((shift == shift[:1]).all() and (spread == spread[:1]).all())
        if shared and seen[2]:
            return module.scaled(x, shift[0], spread[0]), True
        if shared:
            x = x.expand(shift.shape[0], *x.shape)
        return module.scaled(x, _per_member(shift, x.dim()), _per_member(spread, x.dim())), False

    return scale


def _per_member(buffer: Tensor, ndim: int) -> Tensor:
    """A stacked buffer ``(K, *f)`` viewed to broadcast against ``(K, B, ...)`` inputs of ``ndim`` dims."""
    return buffer.view(buffer.shape[0], *(1,) * (ndim - buffer.dim()), *buffer.shape[1:])
