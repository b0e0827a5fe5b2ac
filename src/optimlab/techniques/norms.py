"""Normalization layers by name, each knowing its width and layout, so a model's norms can be swapped.

Every factory is ``fn(num_features, spatial_dims=0, **hyperparameters)``. The layout ``spatial_dims``
says where the features are: 0 = last, for ``(N, C)`` features or ``(N, T, C)`` tokens; 1, 2, 3 = at dim
1, for ``(N, C, L)``, ``(N, C, H, W)``, ``(N, C, D, H, W)``. What each kind normalizes over:

==========  ====================================  ===========================================
kind        spatial_dims = 0                      spatial_dims >= 1
==========  ====================================  ===========================================
batch       each feature over N (and T)           each channel over N and positions
layer       the C features of each sample/token   (C, *positions) of each sample: GroupNorm(1)
group       groups of >= 2 features (and T)       groups of channels and positions
instance    each feature over T (needs 3-D input) each channel over its positions: GroupNorm(C)
rms         root mean square over C               root mean square over C at each position
none        nothing                               nothing
==========  ====================================  ===========================================

Defaults are those of the torch module each kind is (``nn.BatchNorm*d``, ``nn.LayerNorm``,
``nn.GroupNorm``, ``nn.InstanceNorm*d``, ``nn.RMSNorm``): eps 1e-5 (RMSNorm's: the dtype's epsilon),
learned scale and shift except for instance norm (``affine`` switches them, torch's ``affine`` or
``elementwise_affine``), running statistics for batch norm alone (its ``track_running_stats``). Layer norm
over positions is Wu & He's (GroupNorm with one group: a scale and shift per channel).

All come as a :class:`Norm` holding the torch module that does the work, which :func:`swap_norm` reads
to put another kind in its place, as it does for plain torch norm layers in any model.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import re
from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin

from optimlab.errors import InvalidValueError
from optimlab.registry import POSITIVE, POSITIVE_INT, Entry, Interval, new_registry, whole_number

__all__ = ["Norm", "create", "for_class", "is_norm_layer", "norm_name", "swap_norm"]

_REGISTRY = new_registry("norm")
_FLAG = (False, True)


@dataclasses.dataclass(frozen=True)
class _Momentum(Interval):
    """Batch norm's momentum in [0, 1], or None: torch's cumulative average of every batch's statistics."""

    def contains(self, value: Any) -> bool:
        return value is None or super().contains(value)

    def __str__(self) -> str:
        return f"{super().__str__()}, or None (a cumulative average, as torch's)"


class Norm(nn.Module):
    """The normalization layer ``inner``, of a known kind, width and layout (what :func:`swap_norm` reads).

    ``inner`` expects the features at dim ``inner_features_at`` (1 for BatchNorm/GroupNorm, -1 for
    LayerNorm/RMSNorm, None for wherever they are); when the input holds them at the other end they are
    moved there and back.
    """

    def __init__(
        self,
        kind: str,
        num_features: int,
        spatial_dims: int,
        inner: nn.Module,
        *,
        inner_features_at: int | None = None,
    ) -> None:
        super().__init__()
        self.kind, self.num_features, self.spatial_dims = kind, num_features, spatial_dims
        self.inner = inner
        self.features_at = -1 if spatial_dims == 0 else 1
        self.inner_features_at = self.features_at if inner_features_at is None else inner_features_at

    def forward(self, x: Tensor) -> Tensor:
        if self.features_at == self.inner_features_at:
            return self.inner(x)
        moved = x.movedim(self.features_at, self.inner_features_at)
        if self.spatial_dims == 0 and moved.dim() > 3:
            # Features last with several position dimensions ((N, H, W, C): a channels-last image, attention
            # heads' (N, T, H, D)): each kind pools the positions as a set, and BatchNorm1d takes one.
            out = self.inner(moved.flatten(2)).unflatten(2, moved.shape[2:])
        else:
            out = self.inner(moved)
        out = out.movedim(self.inner_features_at, self.features_at)
        # Laid out as the input, as torch's norms return it: code after a norm may .view() its output
        # (Hugging Face's GPT-2 Conv1D does), which a moved-back (N, T, C) of strides (T*C, 1, T) refuses.
        return out.contiguous() if x.is_contiguous() else out

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, num_features={self.num_features}, spatial_dims={self.spatial_dims}"


class _GroupNorm(nn.GroupNorm):
    """``nn.GroupNorm`` over (N, C, *positions), refusing a group of one value (one channel over one
    position: a 1x1 map), which it would normalize to 0 for any input. With G = C group norm is instance
    norm (Wu & He 2018), which torch refuses there ("Expected more than 1 spatial element")."""

    def forward(self, x: Tensor) -> Tensor:
        self.check_shape(tuple(x.shape))
        return super().forward(x)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Refuse an input of ``shape`` (N, C, *positions) whose groups would hold one value each."""
        channels = shape[1]
        if channels // self.num_groups * math.prod(shape[2:]) == 1:
            paired = f"num_groups at most {channels // 2} (2 channels a group) or " if channels > 1 else ""
            raise InvalidValueError(
                "input shape of group norm (channels at dim 1)",
                shape,
                f"more than one value per group: over one position each of its {self.num_groups} groups of "
                f"one channel would normalize to 0; there take {paired}another norm (batch, layer)",
            )


class _InstanceNorm(_GroupNorm):
    """GroupNorm(C, C) over (N, C, *positions); refuses one position (or none: (N, C) features), where each
    channel alone would normalize to 0, as torch's InstanceNorm refuses it ("Expected more than 1 spatial
    element"), training or not."""

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) < 3:
            raise InvalidValueError(
                "input shape of instance norm",
                shape,
                "(N, T, C) tokens, or for (N, C) features another norm (batch, layer, group, rms or none): "
                "instance norm normalizes each feature over positions, and these have none",
            )
        if math.prod(shape[2:]) == 1:
            raise InvalidValueError(
                "input shape of instance norm (channels at dim 1)",
                shape,
                "more than one position per channel: over one position (a map of one pixel, a sequence of "
                "one token) each channel would normalize to 0, as torch's InstanceNorm refuses it; there "
                "take another norm (batch, layer, group)",
            )


def _check_layout(num_features: int, spatial_dims: int) -> int:
    """``num_features`` as an int (numpy's integers too: torch builds, and keeps, a norm of np.int64
    features) when the layout is one a norm takes; else refused in one line."""
    num_features = whole_number(num_features, "norm num_features", POSITIVE_INT)
    if spatial_dims not in (0, 1, 2, 3):
        raise InvalidValueError(
            "norm spatial_dims",
            spatial_dims,
            "0 (features last: (N, C) or (N, T, C)) or 1, 2, 3 (channels at dim 1)",
        )
    return num_features


@_REGISTRY.register(
    "batch",
    summary="Batch normalization: each feature over the batch (and positions).",
    paper="Ioffe & Szegedy 2015, arXiv:1502.03167",
    accepts={"eps": POSITIVE, "momentum": _Momentum(0, 1), "affine": _FLAG, "track_running_stats": _FLAG},
    aliases=("batchnorm", "bn"),
    skip=("spatial_dims",),
)
def batch(
    num_features: int,
    spatial_dims: int = 0,
    *,
    eps: float = 1e-5,
    momentum: float | None = 0.1,
    affine: bool = True,
    track_running_stats: bool = True,
) -> Norm:
    """``nn.BatchNorm{1,2,3}d``: running statistics by an average of weight ``momentum`` on each batch's,
    or with None the cumulative average of all batches so far (torch's ``momentum=None``), used in eval
    mode; with ``track_running_stats`` False none are kept and eval mode normalizes by the batch's own."""
    num_features = _check_layout(num_features, spatial_dims)
    batch_norm = (nn.BatchNorm1d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[spatial_dims]
    inner = batch_norm(
        num_features, eps=eps, momentum=momentum, affine=affine, track_running_stats=track_running_stats
    )
    return Norm("batch", num_features, spatial_dims, inner, inner_features_at=1)


@_REGISTRY.register(
    "layer",
    summary="Layer normalization: all features of each sample (each token).",
    paper="Ba et al. 2016, arXiv:1607.06450",
    accepts={"eps": POSITIVE, "affine": _FLAG},
    aliases=("layernorm", "ln"),
    skip=("spatial_dims",),
)
def layer(num_features: int, spatial_dims: int = 0, *, eps: float = 1e-5, affine: bool = True) -> Norm:
    num_features = _check_layout(num_features, spatial_dims)
    if spatial_dims == 0:
        inner: nn.Module = nn.LayerNorm(num_features, eps=eps, elementwise_affine=affine)
        return Norm("layer", num_features, spatial_dims, inner, inner_features_at=-1)
    inner = nn.GroupNorm(1, num_features, eps=eps, affine=affine)
    return Norm("layer", num_features, spatial_dims, inner, inner_features_at=1)


@_REGISTRY.register(
    "group",
    summary="Group normalization: groups of channels (by default 32, lowered to divide the width).",
    paper="Wu & He 2018, arXiv:1803.08494",
    accepts={"num_groups": POSITIVE_INT, "eps": POSITIVE, "affine": _FLAG},
    left_out={"num_groups": "32, lowered to the largest count that divides the width"},
    aliases=("groupnorm", "gn"),
    skip=("spatial_dims",),
)
def group(
    num_features: int,
    spatial_dims: int = 0,
    *,
    num_groups: int | None = None,
    eps: float = 1e-5,
    affine: bool = True,
) -> Norm:
    """``nn.GroupNorm(num_groups, num_features)``, whose groups must divide the width.

    None takes Wu & He's 32 groups, lowered to the largest count that divides the width, so that one
    choice fits every layer of a model. In place of an ``nn.BatchNorm1d`` (:func:`swap_norm`, and a
    user's class defaulting to it, :func:`for_class`), fed ``(N, C)`` or ``(N, C, L)`` as its class does
    not say, the default is kept to 2 channels a group: 16 at width 32, on a Conv1d's channels too.
    """
    num_features = _check_layout(num_features, spatial_dims)
    # Features last, an (N, C) input has no positions: a group of one feature would normalize to 0.
    divisors = _group_counts(num_features, paired=spatial_dims == 0)
    if num_groups is None:
        num_groups = max(g for g in divisors if g <= 32)
    elif num_groups not in divisors:
        pairs = " (each group of at least 2 features)" if spatial_dims == 0 else ""
        raise InvalidValueError(
            f"norm 'group' hyperparameter 'num_groups' for a width of {num_features}",
            num_groups,
            f"a divisor of the width{pairs}: {', '.join(map(str, divisors))}",
        )
    inner = _GroupNorm(num_groups, num_features, eps=eps, affine=affine)
    return Norm("group", num_features, spatial_dims, inner, inner_features_at=1)


def _group_counts(num_features: int, *, paired: bool) -> list[int]:
    """The group counts that divide ``num_features``; ``paired``: those of at least 2 features a group."""
    most = max(num_features // 2, 1) if paired else num_features
    return [g for g in range(1, most + 1) if num_features % g == 0]


def _group_for_batch_1d(num_features: int, **hyperparameters: Any) -> Norm:
    """A channels-at-dim-1 group norm in place of an ``nn.BatchNorm1d`` of ``num_features``, fed ``(N, C)``
    or ``(N, C, L)`` as its class does not say: the default count kept to 2 channels a group (over (N, C)
    one channel a group is 0), ``hyperparameters`` validated and typed as the registry's ``group`` takes
    them. Groups of one value each on (N, C) (one feature, or ``num_groups`` equal to the width) are
    refused at the first forward, where the input's shape tells (N, C) from (N, C, L)."""
    if "num_groups" not in hyperparameters:
        width = whole_number(num_features, "norm num_features", POSITIVE_INT)
        paired = _group_counts(width, paired=True)
        hyperparameters = {**hyperparameters, "num_groups": max(g for g in paired if g <= 32)}
    return create("group", num_features, 1, **hyperparameters)


@_REGISTRY.register(
    "instance",
    summary="Instance normalization: each channel of each sample over its positions.",
    paper="Ulyanov et al. 2016, arXiv:1607.08022",
    accepts={"eps": POSITIVE, "affine": _FLAG},
    aliases=("instancenorm",),
    skip=("spatial_dims",),
)
def instance(num_features: int, spatial_dims: int = 0, *, eps: float = 1e-5, affine: bool = False) -> Norm:
    """As ``torch.nn.InstanceNorm{1,2,3}d``: no learned scale and shift unless ``affine``, no running
    statistics (the same at training and evaluation)."""
    num_features = _check_layout(num_features, spatial_dims)
    inner = _InstanceNorm(num_features, num_features, eps=eps, affine=affine)
    return Norm("instance", num_features, spatial_dims, inner, inner_features_at=1)


@_REGISTRY.register(
    "rms",
    summary="RMS normalization: features divided by their root mean square (no centering).",
    paper="Zhang & Sennrich 2019, arXiv:1910.07467",
    accepts={"eps": POSITIVE, "affine": _FLAG},
    left_out={"eps": "the machine epsilon of the input's dtype (torch's RMSNorm)"},
    aliases=("rmsnorm",),
    skip=("spatial_dims",),
)
def rms(num_features: int, spatial_dims: int = 0, *, eps: float | None = None, affine: bool = True) -> Norm:
    """As ``torch.nn.RMSNorm``: ``eps`` None is the machine epsilon of the input's dtype."""
    num_features = _check_layout(num_features, spatial_dims)
    inner = nn.RMSNorm(num_features, eps=eps, elementwise_affine=affine)
    return Norm("rms", num_features, spatial_dims, inner, inner_features_at=-1)


@_REGISTRY.register(
    "none",
    summary="No normalization (an identity that remembers its width, so it can be swapped).",
    aliases=("identity",),
    skip=("spatial_dims",),
)
def none(num_features: int, spatial_dims: int = 0) -> Norm:
    num_features = _check_layout(num_features, spatial_dims)
    return Norm("none", num_features, spatial_dims, nn.Identity())


def create(name: str, num_features: int, spatial_dims: int = 0, **hyperparameters: Any) -> Norm:
    """A ``name`` norm for ``num_features`` features in layout ``spatial_dims`` (see the module docstring)."""
    return _REGISTRY.create(name, num_features, spatial_dims, **hyperparameters)


# Plain torch norm layers: their kind, and their layout where the class fixes it.
_TORCH_NORMS: dict[type[nn.Module], tuple[str, int | None]] = {
    nn.BatchNorm1d: ("batch", 1),  # (N, C) too: for_class keeps a group norm's groups of 2 there
    nn.BatchNorm2d: ("batch", 2),
    nn.BatchNorm3d: ("batch", 3),
    nn.SyncBatchNorm: ("batch", None),  # DDP's (convert_sync_batchnorm), of any rank
    nn.InstanceNorm1d: ("instance", 1),
    nn.InstanceNorm2d: ("instance", 2),
    nn.InstanceNorm3d: ("instance", 3),
    nn.GroupNorm: ("group", None),
    nn.LayerNorm: ("layer", None),
    nn.RMSNorm: ("rms", None),
}
# The layout a plain GroupNorm reads from the layer before it (a decoder's transposed convolutions too).
_CONV_DIMS = {
    nn.Linear: 1, nn.Bilinear: 1, nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3,
    nn.ConvTranspose1d: 1, nn.ConvTranspose2d: 2, nn.ConvTranspose3d: 3,
}  # fmt: skip


def _torch_class(norm_class: type) -> type[nn.Module] | None:
    """The torch norm class ``norm_class`` is (or subclasses), None for another class."""
    return next((c for c in norm_class.__mro__ if c in _TORCH_NORMS), None)


def for_class(norm_class: type, name: str, **hyperparameters: Any) -> Callable[..., nn.Module]:
    """The registered norm ``name``, its ``hyperparameters`` bound, in the form a model calls its own norm
    class ``norm_class`` (``norm_class(num_features)``): in the layout a torch norm class fixes
    (BatchNorm/InstanceNorm{1,2,3}d and their subclasses: channels at dim 1; LayerNorm, RMSNorm or a class
    that is no torch norm: the registry's features last). ``nn.BatchNorm1d`` takes (N, C) as well as
    (N, C, L): a group norm's default count there keeps 2 channels a group, and groups of one value each
    on (N, C) (a width of 1, or ``num_groups`` equal to it) are refused at the first forward, whose shape
    says (N, C) from (N, C, L) (over (N, 1, L) a width of 1 is a valid group norm). ``none`` needs no
    layout; ``hyperparameters`` are validated here, as :func:`create` does.
    A torch norm of no one layout raises ValueError saying why: GroupNorm, called
    ``(num_groups, num_channels)``, and SyncBatchNorm, of any rank (but for batch: a BatchNorm1d, as
    DDP's SyncBatchNorm of (N, C) or (N, C, L) inputs is; other ranks fail at its first forward)."""
    entry = _REGISTRY.get(name)
    registered, hyperparameters = entry.obj, entry.checked(hyperparameters)
    torch_class = _torch_class(norm_class)
    if name == "none" and torch_class is nn.GroupNorm:
        return nn.Identity  # takes (num_groups, num_channels) as any arguments
    if torch_class is nn.GroupNorm:
        raise ValueError("is called (num_groups, num_channels), as no registered norm is")
    layout = None if torch_class is None else _TORCH_NORMS[torch_class][1]
    if torch_class is nn.SyncBatchNorm and name not in ("batch", "none"):
        raise ValueError("takes inputs of any rank, so which layout the model feeds it is unknown")
    if torch_class is nn.SyncBatchNorm:
        layout = 1  # batch as a BatchNorm1d: channels at dim 1 of (N, C) or (N, C, L)
    if torch_class is nn.BatchNorm1d and name == "group":
        return partial(_group_for_batch_1d, **hyperparameters)
    if layout:
        hyperparameters = {**hyperparameters, "spatial_dims": layout}
    return partial(registered, **hyperparameters) if hyperparameters else registered


def _looks_like_a_norm(module: nn.Module) -> bool:
    """A norm layer of another library, by its looks: a class named ``*Norm`` (or ``*Norm2d``...) with no
    submodule, holding a 1-D weight (Hugging Face's ``LlamaRMSNorm``, ``T5LayerNorm``,
    ``GemmaRMSNorm``...)."""
    weight = getattr(module, "weight", None)
    return (
        re.search(r"Norm(\dd)?$", type(module).__name__) is not None
        and not isinstance(module, Norm)
        and _torch_class(type(module)) is None
        and next(module.children(), None) is None
        and isinstance(weight, nn.Parameter)
        and weight.dim() == 1
    )


def _foreign_norm(module: nn.Module) -> nn.Module | None:
    """The torch norm that computes what a norm layer of another library computes, holding its very weight
    (and bias) and eps: ``nn.RMSNorm`` or ``nn.LayerNorm`` over the last dimension, whichever gives its
    outputs on a probe (random weight, inputs of mean square 1 and eps); None if neither does (Gemma's
    RMSNorm scales by 1 + weight) or it is no such layer."""
    if not _looks_like_a_norm(module):
        return None
    eps = getattr(module, "variance_epsilon", getattr(module, "eps", None))
    bias = getattr(module, "bias", None)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
        return None
    if bias is not None and not (isinstance(bias, nn.Parameter) and bias.shape == module.weight.shape):
        return None
    width = module.weight.numel()
    candidates = (
        [nn.LayerNorm(width, eps=eps, device="meta")]
        if bias is not None
        else [
            nn.RMSNorm(width, eps=eps, device="meta"),
            nn.LayerNorm(width, eps=eps, bias=False, device="meta"),
        ]
    )
    for torch_norm in candidates:
        if _computes_as(module, torch_norm, (2, 3, width)):
            torch_norm.weight = module.weight
            if bias is not None:
                torch_norm.bias = bias
            return torch_norm
    return None


def _computes_as(module: nn.Module, reference: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether float32 copies of ``module`` and ``reference`` (a torch norm, on the meta device or not),
    given the same random weight and bias, map random inputs of ``shape`` alike (at scale 1, and at
    sqrt(eps), where eps weighs as much as the mean square)."""
    generator = torch.Generator().manual_seed(0)
    try:
        probe = copy.deepcopy(module)
        reference = copy.deepcopy(reference)
        on_meta = any(t.is_meta for t in itertools.chain(reference.parameters(), reference.buffers()))
        reference = reference.to_empty(device="cpu") if on_meta else reference
        reference = reference.to(device="cpu", dtype=torch.float32)
        for name, parameter in reference.named_parameters():
            drawn = torch.randn(parameter.shape, generator=generator)
            setattr(probe, name, nn.Parameter(drawn.clone()))
            parameter.data = drawn
        probe = probe.to(device="cpu", dtype=torch.float32)
        for scale in (1.0, (reference.eps or torch.finfo(torch.float32).eps) ** 0.5):
            x = scale * torch.randn(shape, generator=generator)
            with torch.no_grad():
                if not torch.allclose(probe(x), reference(x), rtol=1e-4, atol=1e-5):
                    return False
    except (RuntimeError, TypeError, ValueError, IndexError, NotImplementedError, AttributeError):
        return False
    return True


def _check_own_forward(qualified: str, module: nn.Module, layout: tuple[int, int], kind: str) -> None:
    """Refuse a subclass of a torch norm with a forward of its own that does not compute its torch class's
    in the layout read from it (torchvision's and timm's LayerNorm2d normalize channels first, timm's
    BatchNormAct2d adds an activation): a swap would misread or drop what it does."""
    torch_class = _torch_class(type(module))
    if torch_class is None or type(module).forward is torch_class.forward:
        return
    if any(t.is_meta for t in itertools.chain(module.parameters(), module.buffers())):
        return  # no values to probe it on: read as its class
    shape = (
        (2, 3, *module.normalized_shape)
        if isinstance(module, (nn.LayerNorm, nn.RMSNorm))
        else (4, layout[0], *(3,) * layout[1])
    )
    reference = copy.deepcopy(module)
    reference.__class__ = torch_class  # the same state, torch's forward
    if not _computes_as(module, reference, shape):
        raise InvalidValueError(
            f"swap_norm to {kind!r} of layer {qualified!r}",
            module,
            f"a norm that computes as its torch class: this {type(module).__name__}'s own forward computes "
            f"otherwise than nn.{torch_class.__name__}'s on inputs of shape {shape}; replace it yourself, or "
            "leave the model as it is",
        )


def _as_torch(module: nn.Module) -> nn.Module | None:
    """The torch norm module that does a norm layer's work (a :class:`Norm`'s inner one, a plain torch
    norm itself, another library's read as :func:`_foreign_norm`), None for other modules."""
    if isinstance(module, Norm):
        return module.inner
    return module if _torch_class(type(module)) is not None else _foreign_norm(module)


def norm_name(module: nn.Module) -> str | None:
    """The kind of a norm layer (``nn.BatchNorm2d`` -> ``"batch"``, transformers' ``LlamaRMSNorm`` ->
    ``"rms"``), or None for other modules."""
    if isinstance(module, Norm):
        return module.kind
    torch_norm = _as_torch(module)
    return None if torch_norm is None else _TORCH_NORMS[_torch_class(type(torch_norm))][0]


def is_norm_layer(module: nn.Module) -> bool:
    """Whether ``module`` normalizes activations, by what it is, not by its class's name: a torch norm (a
    subclass too), or another library's that computes as one or looks like one (a ``*Norm`` of one 1-D
    weight and no submodule: Gemma's RMSNorm scales by 1 + weight). Not optimlab's :class:`Norm`, whose
    inner module is the norm (kind none: an identity); not a class named ``NormalizedLinear``, nor a
    weight_norm parametrization. Nor ``nn.LocalResponseNorm`` (Krizhevsky et al. 2012): it divides
    each activation by (k + alpha/n sum of its neighbours' squares)^beta, at torch's k 1 and alpha 1e-4
    about 1 for activations of unit scale, so it keeps no scale as the norms above do."""
    return not isinstance(module, Norm) and (
        norm_name(module) is not None or _looks_like_a_norm(module) or _normalizes_by_name_and_deed(module)
    )


def _normalizes_by_name_and_deed(module: nn.Module) -> bool:
    """A user's norm layer whose scale is not a 1-D ``weight`` (an RMSNorm holding ``scale``, ``g`` or
    ``gamma``; a LayerNorm without affine): a class named ``*Norm`` with no submodule whose outputs on a
    probe are finite, differ between inputs, and stay the same where its inputs are scaled by 3, as a
    norm's do (its width: its one 1-D parameter's, else 8)."""
    if re.search(r"Norm(\dd)?$", type(module).__name__) is None or next(module.children(), None) is not None:
        return False
    vectors = [p for p in module.parameters() if p.dim() == 1]
    width = vectors[0].numel() if len(vectors) == 1 else 8
    generator = torch.Generator().manual_seed(0)
    x, other = torch.randn(2, 2, 3, width, generator=generator)
    try:
        probe = copy.deepcopy(module).to(device="cpu", dtype=torch.float32)
        with torch.no_grad():
            y, scaled, elsewhere = probe(x), probe(3 * x), probe(other)
    except (RuntimeError, TypeError, ValueError, IndexError, NotImplementedError, AttributeError):
        return False
    return (
        isinstance(y, Tensor)
        and bool(y.isfinite().all())
        and y.shape == scaled.shape == elsewhere.shape
        and torch.allclose(y, scaled, rtol=1e-3, atol=1e-4)
        and not torch.allclose(y, elsewhere, rtol=1e-3, atol=1e-4)
    )


def _layout(module: nn.Module, preceding_dims: int) -> tuple[int, int] | None:
    """(num_features, spatial_dims) of a norm layer, None for other modules.

    LayerNorm/RMSNorm over ``(C, *positions)`` read as channels at dim 1; a plain GroupNorm or SyncBatchNorm,
    which take any rank, get the layout of the Linear, ConvNd or ConvTransposeNd layer before it.
    """
    if isinstance(module, Norm):
        return module.num_features, module.spatial_dims
    module = _as_torch(module) or module
    torch_norm = _torch_class(type(module))
    if torch_norm is None:
        return None
    if isinstance(module, (nn.LayerNorm, nn.RMSNorm)):
        return module.normalized_shape[0], len(module.normalized_shape) - 1
    if isinstance(module, nn.GroupNorm):
        return module.num_channels, preceding_dims
    rank = _TORCH_NORMS[torch_norm][1]  # None: a class of any rank (SyncBatchNorm), read as GroupNorm
    return module.num_features, preceding_dims if rank is None else rank


def _check_readable(qualified: str, module: nn.Module, preceding_dims: int, kind: str) -> None:
    """Refuse a torch LayerNorm/RMSNorm over several dimensions that a ``kind`` norm of its layout would
    not normalize as it does: over other than (C, *positions) of the layer before it (LayerNorm([H, W])
    after a Conv2d: read as H channels), or an RMSNorm over (C, *positions) swapped to rms (which takes
    the root mean square over C at each position)."""
    dims = len(getattr(module, "normalized_shape", ()))
    if not isinstance(module, (nn.LayerNorm, nn.RMSNorm)) or dims < 2:
        return
    if dims != preceding_dims + 1:
        accepted = f"a norm over the {preceding_dims + 1} dimensions (C, *positions) of the layer before it"
    elif isinstance(module, nn.RMSNorm) and kind == "rms":
        accepted = (
            "another kind: an rms norm over channels takes the root mean square over C at each position"
        )
    else:
        return
    raise InvalidValueError(
        f"swap_norm to {kind!r} of layer {qualified!r}", module, f"{accepted}; or leave it"
    )


def _settings(module: nn.Module, entry: Entry) -> dict[str, Any]:
    """The hyperparameters of ``entry`` that the norm layer ``module``, of its kind, was built with: its
    eps, momentum and group count, whether it learns a scale and shift (torch's affine) and whether it
    keeps running statistics (a batch norm's)."""
    inner = _as_torch(module)
    found = {
        "eps": getattr(inner, "eps", None),
        "momentum": getattr(inner, "momentum", None),
        "num_groups": getattr(inner, "num_groups", None),
        "affine": getattr(inner, "weight", None) is not None,
        "track_running_stats": getattr(inner, "track_running_stats", None),
    }
    return {k: v for k, v in found.items() if k in entry.hyperparameter_names}


def _carry_state(old: nn.Module, new: Norm) -> None:
    """Give ``new`` each learned scale or shift and running statistic of ``old``, a norm of its kind, that
    both hold with the same shape (BatchNorm's stats under another momentum or eps; a LayerNorm without
    a bias keeps its scale, the new bias starting at 0)."""
    source = _as_torch(old)
    kept, wanted = source.state_dict(), new.inner.state_dict()
    shared = {k: kept[k] for k, v in wanted.items() if k in kept and kept[k].shape == v.shape}
    new.inner.load_state_dict(shared, strict=False)
    for key, parameter in new.inner.named_parameters():  # a frozen scale stays frozen
        if key in shared:
            parameter.requires_grad_(source.get_parameter(key).requires_grad)


def _check_carried(qualified: str, old: nn.Module, new: Norm) -> None:
    """Refuse a swap to ``old``'s own kind that would drop a learned tensor ``new`` holds in another shape
    (a LayerNorm over ``(C, H, W)`` learns a scale per position, a ``layer`` norm over channels one per
    channel), unless it still holds what ``new`` starts with (1 or 0 everywhere), or running statistics
    ``new`` keeps none of (an InstanceNorm's with track_running_stats, by which torch's normalizes in eval
    mode; a batch norm drops its own only when told ``track_running_stats=False``)."""
    source = _as_torch(old)  # read once: another library's norm is probed at each reading
    kept = source.state_dict()
    fresh_state = new.inner.state_dict()
    tracks = getattr(source, "running_mean", None) is not None
    if tracks and "running_mean" not in fresh_state and new.kind != "batch":  # batch: told to drop them
        raise InvalidValueError(
            f"swap_norm to {new.kind!r} of layer {qualified!r}",
            source,
            f"a norm without running statistics: {new.kind} norms keep none, and this one normalizes by "
            "them in eval mode; swap it to another kind, or leave it",
        )
    for key, fresh in fresh_state.items():
        held = kept.get(key)
        if held is None or held.shape == fresh.shape:
            continue
        start = fresh.flatten()[0]
        if not (torch.all(fresh == start) and torch.all(held == start)):
            raise InvalidValueError(
                f"swap_norm to {new.kind!r} of layer {qualified!r}",
                source,
                f"a norm whose learned {key} fits a {new.kind!r} norm's of shape {tuple(fresh.shape)}; "
                f"this one's, of shape {tuple(held.shape)}, would be lost: swap it to another kind, or "
                "leave it",
            )


def swap_norm(model: nn.Module, name: str, **hyperparameters: Any) -> nn.Module:
    """Replace every norm layer inside ``model`` by a ``name`` norm of the same width and layout, in place.

    Finds the :class:`Norm` layers made here, plain torch ones (BatchNorm, SyncBatchNorm to another kind,
    InstanceNorm, LayerNorm, GroupNorm, RMSNorm), and other libraries' that compute torch's RMSNorm or
    LayerNorm over the last dimension (Hugging Face's ``LlamaRMSNorm``, ``T5LayerNorm``..., read with their
    weight and ``variance_epsilon``; one named ``*Norm`` that computes otherwise, such as ``GemmaRMSNorm``, is
    refused, as is a torch norm's subclass whose own forward computes otherwise than its class, such as a
    channels-first ``LayerNorm2d``); the new layers take the device, dtype and train/eval mode of the ones
    they replace, and are frozen where those were (every parameter without requires_grad). A layer of the same
    kind keeps its settings except those given (eps, momentum, group count, and ``affine``: whether it learns
    a scale and shift), its learned scale and shift and its running statistics (a batch norm given another
    momentum normalizes as before); one of another kind starts as torch's does (scale 1, shift 0), as the old
    statistics measure something else. Nothing is replaced unless every layer can be (an explicit
    ``num_groups`` must divide each width, and a layer of the same kind must fit its learned scale and shift,
    not a LayerNorm over ``(C, H, W)`` that learned one per position, and its running statistics, not an
    InstanceNorm that tracks them). An ``nn.BatchNorm1d`` becomes a group norm of channels at dim 1 whose
    default count is the largest divisor of the width up to 32 that keeps 2 channels a group (16 at width 32),
    fed ``(N, C)`` features or ``(N, C, L)`` channels alike: its class does not say which come, and one
    channel over one position normalizes to 0 (the rule of :func:`for_class`); give ``num_groups`` for more
    groups over ``(N, C, L)``. Groups of one value each (a width of 1, or ``num_groups`` equal to it) are
    refused at the first ``(N, C)`` input (the layer registered before the norm does not say which comes:
    a Linear's output may be reshaped to ``(N, C, L)``). The layers before the norms keep their bias, or their
    lack of one: optimlab's models build none before a batch or instance norm, which would cancel it, so a
    model built with ``norm="batch"`` and swapped to ``"none"`` has none there. A norm layer registered at
    several places (shared) is replaced by one new layer, still shared; a model holding no norm layer is
    refused, as nothing would change.
    """
    entry = _REGISTRY.get(name)
    hyperparameters = entry.checked(hyperparameters)
    replaced: dict[str, Norm] = {}
    made: dict[int, Norm] = {}  # by id of the layer replaced: one shared at two places stays shared
    preceding_dims = 1
    for qualified, module in list(model.named_modules(remove_duplicate=False)):
        if any(qualified.startswith(prefix + ".") for prefix in replaced):
            continue  # inside a norm already replaced
        if isinstance(module, tuple(_CONV_DIMS)):
            preceding_dims = _CONV_DIMS[next(c for c in _CONV_DIMS if isinstance(module, c))]
        if isinstance(module, LazyModuleMixin) and module.has_uninitialized_params():
            if "Norm" in type(module).__name__:  # torch's LazyBatchNorm*, LazyInstanceNorm*
                raise InvalidValueError(
                    f"swap_norm to {entry.name!r} of layer {qualified!r}",
                    f"a {type(module).__name__} not yet materialized (its width is unknown)",
                    "a model run once on a batch first (model(batch)), so that its lazy layers take their "
                    "shapes",
                )
            continue
        layout = _layout(module, preceding_dims)
        if layout is None and _looks_like_a_norm(module):
            raise InvalidValueError(
                f"swap_norm to {entry.name!r} of layer {qualified!r}",
                module,
                "a norm layer optimlab can read: this one computes neither torch's RMSNorm nor its "
                "LayerNorm over the last dimension with its weight and eps (Gemma's scales by 1 + weight); "
                "replace it yourself, or leave the model as it is",
            )
        if layout is None or module is model:
            continue
        if id(module) in made:
            replaced[qualified] = made[id(module)]
            continue
        _check_readable(qualified, module, preceding_dims, entry.name)
        _check_own_forward(qualified, module, layout, entry.name)
        if isinstance(module, nn.SyncBatchNorm) and entry.name == "batch":
            raise InvalidValueError(
                f"swap_norm to 'batch' of layer {qualified!r}",
                module,
                "another kind: a batch norm here is a plain BatchNorm, which would drop this one's "
                "synchronization across processes; leave it, or convert after the swap with "
                "nn.SyncBatchNorm.convert_sync_batchnorm",
            )
        own_kind = norm_name(module) == entry.name
        options = {**_settings(module, entry), **hyperparameters} if own_kind else hyperparameters
        # a BatchNorm1d of (N, C) features: as for_class, group's default count keeps 2 channels a group
        if entry.name == "group" and _torch_class(type(module)) is nn.BatchNorm1d:
            # its input's layout is known only at the first forward, which refuses (N, C) in groups
            # of one value: the layer registered before it may feed it reshaped, (N, C, L)
            new = _group_for_batch_1d(layout[0], **options)
        else:
            new = create(name, *layout, **options)
        tensors = itertools.chain(module.parameters(), module.buffers(), model.parameters())
        reference = next((t for t in tensors if t.is_floating_point()), None)
        if reference is not None:
            new = new.to(device=reference.device, dtype=reference.dtype)
        old_parameters = list(module.parameters())
        if old_parameters and not any(p.requires_grad for p in old_parameters):
            new.requires_grad_(False)  # a frozen norm (a frozen backbone's) stays frozen
        if own_kind:
            _check_carried(qualified, module, new)
            _carry_state(module, new)
        replaced[qualified] = made[id(module)] = new.train(module.training)
    if not replaced:
        raise InvalidValueError(
            "swap_norm's model",
            type(model).__name__,
            "a model holding a norm layer (torch's BatchNorm, InstanceNorm, LayerNorm, GroupNorm, RMSNorm, "
            "optimlab's Norm, or another library's RMSNorm or LayerNorm); this one holds none, so nothing "
            "would change (a norm class of the user's own is not recognised"
            + (
                ", and a norm layer itself is not replaced in place: create one instead)"
                if norm_name(model)
                else ")"
            ),
        )
    for qualified, new in replaced.items():  # once every layer could be made (num_groups fits each width)
        parent, _, child = qualified.rpartition(".")
        setattr(model.get_submodule(parent), child, new)
    _leave_torchs_fused_encoder(model)
    return model


def _leave_torchs_fused_encoder(model: nn.Module) -> None:
    """Keep torch's ``nn.TransformerEncoderLayer`` holding a :class:`Norm` on its modules' path.

    In eval mode it takes a fused kernel that runs layer norm itself on norm1's and norm2's ``eps``,
    ``weight`` and ``bias`` (``nn.TransformerEncoder``'s nested-tensor path reads them too): with a Norm
    there it failed ('Norm' object has no attribute 'eps'), and would compute a layer norm whatever the
    kind. ``activation_relu_or_gelu`` only selects that kernel; ``use_nested_tensor`` is torch's switch.
    """
    for module in model.modules():
        if isinstance(module, nn.TransformerEncoderLayer) and any(
            isinstance(norm, Norm) for norm in (module.norm1, module.norm2)
        ):
            module.activation_relu_or_gelu = 0
        if isinstance(module, nn.TransformerEncoder) and any(
            isinstance(norm, Norm) for layer in module.layers for norm in (layer.norm1, layer.norm2)
        ):
            module.use_nested_tensor = False
