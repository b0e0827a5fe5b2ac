"""Input scaling by name: modules fitted on the training split, applied the same way at evaluation.

Every scaler is the per-feature affine map ``y = (x - shift) / scale`` with ``shift`` and ``scale`` held
as buffers, so they are saved in the model's ``state_dict``, and :meth:`Scaler.inverse` undoes it
exactly. As in scikit-learn's scalers, a feature that is constant on the training data gets a spread of
1 instead of 0 (no NaN, no inf), and NaNs are missing values: left out of the fit, kept by the map;
an infinite training value is refused, as scikit-learn refuses it.

>>> import torch
>>> scaler = create("standardize").fit(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
>>> scaler(torch.tensor([[3.0, 5.0]]))
tensor([[1., 0.]])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from optimlab.errors import InvalidValueError, OptimlabError, with_article
from optimlab.registry import new_registry

__all__ = ["MinMax", "NoScaling", "PerChannel", "Robust", "Scaler", "Standardize", "create"]

_REGISTRY = new_registry("scaling")


class Scaler(nn.Module):
    """``y = (x - shift) / scale`` per feature, the statistics fitted by :meth:`fit` on training data.

    A subclass gives :meth:`statistics`, a ``(center, spread)`` pair; the map sends ``center`` to
    ``offset`` and one ``spread`` to ``span`` units: ``y = offset + span * (x - center) / spread``.
    """

    offset = 0.0
    span = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.empty(0))
        self.register_buffer("scale", torch.empty(0))
        self.register_load_state_dict_pre_hook(_take_saved_shapes)

    def statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(center, spread) of training data ``x``, NaNs left out, with the batch dimensions reduced away."""
        raise NotImplementedError

    def fit(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Scaler:
        """Fit on the training split only, ``x`` of shape ``(N, ...)``; returns ``self``.

        ``shape``: one example's shape where ``x`` holds its examples in another of as many values (digits'
        64 features are (1, 8, 8) images; (H, W) images are (1, H, W)): the statistics are those of the
        examples in ``shape`` (per channel: over all the channel's pixels), laid out as ``x``'s examples.
        """
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 1 or len(x) == 0:
            dtype = str(x.dtype).removeprefix("torch.") if isinstance(x, Tensor) else ""
            shown = f"{with_article(dtype)} tensor of shape {tuple(x.shape)}" if dtype else type(x).__name__
            raise InvalidValueError(
                f"data to fit {type(self).__name__} on",
                shown,
                "a non-empty floating-point tensor (N, ...)"
                + (": integer features as x.float()" if dtype and not x.is_floating_point() else ""),
            )
        _check_dense(x, f"data to fit {type(self).__name__} on")
        if shape is not None and math.prod(shape) != x.shape[1:].numel():
            raise InvalidValueError(
                f"example shape to fit {type(self).__name__} on",
                tuple(shape),
                f"a shape of {x.shape[1:].numel()} values, as the examples of {tuple(x.shape)} hold",
            )
        if x.isinf().any():  # a NaN is a missing value; an infinity would make its feature's statistics NaN
            example, *feature = (int(i) for i in x.isinf().nonzero()[0])
            raise InvalidValueError(
                f"data to fit {type(self).__name__} on",
                f"{x[(example, *feature)].item()} at example {example}, feature {tuple(feature)}",
                "finite values, or NaN for a missing one (as scikit-learn's scalers)",
            )
        if shape is not None and tuple(shape) == tuple(x.shape[1:]):
            shape = None  # the examples already are in that shape: statistics as they broadcast
        examples = x.double() if shape is None else x.double().reshape(len(x), *shape)
        center, spread = self.statistics(examples)
        if shape is not None:
            center, spread = (t.expand(shape).reshape(x.shape[1:]) for t in (center, spread))
        # Constant features: a spread at rounding level of the float64 statistics (or one that underflows
        # in x's dtype) would blow them up; a spread of 1 (scikit-learn's) maps them to offset. Small but
        # real spreads are kept: float32 values 1000 and 1000.001 (16 ulps apart) go to -1 and 1, as
        # scikit-learn's, where a bound of 10 float32 eps of the center took them as constant (+-5e-4).
        negligible = (10 * torch.finfo(center.dtype).eps * center.abs()).clamp(min=torch.finfo(x.dtype).tiny)
        scale = torch.where(spread > negligible, spread, torch.ones_like(spread)) / self.span
        shift = center - self.offset * scale
        # A spread past the dtype's largest value (float16's 65504: values from -60000 to 60000) would be
        # stored as inf and map its feature to 0 and NaN.
        beyond = (scale.abs() > torch.finfo(x.dtype).max) | (shift.abs() > torch.finfo(x.dtype).max)
        if beyond.any():
            feature = tuple(int(i) for i in beyond.nonzero()[0])
            dtype = str(x.dtype).removeprefix("torch.")
            raise InvalidValueError(
                f"data to fit {type(self).__name__} on",
                f"{with_article(dtype)} feature {feature} of spread {spread[feature].item():g}",
                f"statistics that {dtype} holds (up to {torch.finfo(x.dtype).max:g}): fit and apply it "
                "to x.float()",
            )
        self.shift = shift.to(x.dtype)
        self.scale = scale.to(x.dtype)
        return self

    def forward(self, x: Tensor) -> Tensor:
        self._check_fitted(x)
        return self.scaled(x, self.shift, self.scale)

    @staticmethod
    def scaled(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
        """The map with the given statistics (a batch of members' stacked ones, broadcast); bools read as
        0 and 1, as scikit-learn's transform reads them (torch subtracts from no bool)."""
        return ((x.to(shift.dtype) if x.dtype == torch.bool else x) - shift) / scale

    def inverse(self, y: Tensor) -> Tensor:
        """The exact inverse of :meth:`forward`: from scaled values back to the data's own units."""
        self._check_fitted(y)
        return y * self.scale + self.shift

    def pooled(self, dim: int) -> bool:
        """Whether dimension ``dim`` of the statistics was pooled over (one value for any size there)."""
        return False

    def _check_fitted(self, x: Tensor) -> None:
        if self.shift.numel() == 0:
            raise OptimlabError(
                f"{type(self).__name__} is not fitted: call .fit(x_train) on the training split first."
            )
        _check_dense(x, f"data for {type(self).__name__}")
        # Examples of other features than fitted would broadcast against the statistics without a word (one
        # feature's applied to 5; (N, 5, 1) out as (N, 5, 5)): refused, as scikit-learn's n_features_in_.
        fitted = self.shift.shape
        if not fitted:  # statistics of no feature (none's; one fitted on (N,) values) hold for any input
            return
        given = x.shape[x.dim() - len(fitted) :] if x.dim() >= len(fitted) else None
        if given is None or any(
            g != f and not (f == 1 and self.pooled(i)) for i, (g, f) in enumerate(zip(given, fitted))
        ):
            sizes = ", ".join("any" if f == 1 and self.pooled(i) else str(f) for i, f in enumerate(fitted))
            raise InvalidValueError(
                f"data for {type(self).__name__}",
                f"{with_article(str(x.dtype).removeprefix('torch.'))} tensor of shape {tuple(x.shape)}",
                f"examples of shape ({sizes}{',' if len(fitted) == 1 else ''}), as fitted, after any batch "
                "dimensions",
            )


def _check_dense(x: Tensor, field: str) -> None:
    """Refuse a sparse tensor: centring fills its zeros (scikit-learn's centring scalers refuse one too),
    and torch's reductions and broadcasts stop on it in their own words."""
    if x.layout != torch.strided:
        dtype, layout = str(x.dtype).removeprefix("torch."), str(x.layout).removeprefix("torch.")
        raise InvalidValueError(
            field,
            f"{with_article(dtype)} {layout} tensor of shape {tuple(x.shape)}",
            "a dense tensor: x.to_dense() (a scaled feature's zeros are no longer zero)",
        )


def _take_saved_shapes(module: Scaler, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    """Before loading, give unfitted (empty) buffers the shapes of the saved statistics."""
    for name in ("shift", "scale"):
        saved = state_dict.get(prefix + name)
        if isinstance(saved, Tensor):
            setattr(module, name, torch.empty_like(saved, device=getattr(module, name).device))


@_REGISTRY.register("none", summary="No scaling: the identity.", aliases=("identity",))
class NoScaling(Scaler):
    """The identity, usable without fitting (fitting changes nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.shift, self.scale = torch.zeros(()), torch.ones(())

    def statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return torch.zeros((), dtype=x.dtype), torch.ones((), dtype=x.dtype)

    def fit(self, x: Tensor, shape: tuple[int, ...] | None = None) -> Scaler:
        """Nothing to learn: any tensor is accepted, integer token ids included."""
        return self

    def _check_fitted(self, x: Any) -> None:
        """Always fitted, and it takes anything (a sparse tensor, a dict batch) as it is."""

    @staticmethod
    def scaled(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
        """``x`` itself, in its own dtype (integer token ids stay integers for an embedding)."""
        return x


@_REGISTRY.register("minmax", summary="Each feature mapped linearly from its [min, max] to feature_range.")
class MinMax(Scaler):
    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)) -> None:
        low, high = _ordered_pair(feature_range, "minmax", "feature_range")
        super().__init__()
        self.feature_range = (low, high)
        self.offset, self.span = low, high - low

    def statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        missing = x.isnan()
        if missing.any():  # a missing value is neither extreme; a feature with no values has neither
            low = torch.where(missing.all(dim=0), torch.nan, torch.where(missing, torch.inf, x).amin(dim=0))
            high = torch.where(missing, -torch.inf, x).amax(dim=0)
        else:  # no copy of x (see Standardize)
            low, high = x.amin(dim=0), x.amax(dim=0)
        return low, high - low


def _ordered_pair(
    pair: Any, scaler: str, name: str, within: tuple[float, float] = (-math.inf, math.inf)
) -> tuple[float, float]:
    """``pair`` as (low, high), finite numbers with low < high inside ``within``, else refused by name."""
    ok = (
        isinstance(pair, (tuple, list))
        and len(pair) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair)
        and within[0] <= pair[0] < pair[1] <= within[1]
    )
    if not ok:
        bounds = "" if within == (-math.inf, math.inf) else f" in [{within[0]:g}, {within[1]:g}]"
        raise InvalidValueError(
            f"scaling {scaler!r} hyperparameter {name!r}", pair, f"finite (low, high) with low < high{bounds}"
        )
    return float(pair[0]), float(pair[1])


@_REGISTRY.register(
    "standardize",
    summary="Each feature to zero mean and unit variance (the population std).",
    paper="LeCun et al. 1998, Efficient BackProp",
    aliases=("zscore", "standard"),
)
class Standardize(Scaler):
    def statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        dims = self.batch_dims(x)
        # Without NaNs, std_mean needs no copy of x: a fit of 15M float32 values peaks 135 MB above them,
        # the NaN-skipping form below 370 MB (ru_maxrss; CIFAR-10's training split is 1.2 GB in float64).
        if not x.isnan().any():
            std, mean = torch.std_mean(x, dim=dims, correction=0, keepdim=True)  # ddof 0, as scikit-learn's
            return mean[0], std[0]
        mean = x.nanmean(dim=dims, keepdim=True)
        std = (x - mean).square_().nanmean(dim=dims, keepdim=True).sqrt_()
        return mean[0], std[0]

    def batch_dims(self, x: Tensor) -> tuple[int, ...]:
        """The dimensions the statistics are taken over; every other one is a feature."""
        return (0,)


@_REGISTRY.register(
    "per_channel",
    summary="Each channel (dim 1) to zero mean and unit variance over samples and positions.",
    aliases=("channel",),
)
class PerChannel(Standardize):
    def pooled(self, dim: int) -> bool:
        """The positions after the channel: its statistics hold at every one, of an image of any size."""
        return dim >= 1

    def batch_dims(self, x: Tensor) -> tuple[int, ...]:
        if x.dim() < 2:
            raise InvalidValueError(
                "data shape for per-channel scaling", tuple(x.shape), "(N, C), (N, C, L) or (N, C, H, W)"
            )
        return (0, *range(2, x.dim()))


@_REGISTRY.register(
    "robust",
    summary="Each feature minus its median, over the range between two percentiles (by default the "
    "interquartile range, 25 to 75).",
)
class Robust(Scaler):
    """scikit-learn's ``RobustScaler``: ``quantile_range`` holds the two percentiles, in [0, 100]."""

    def __init__(self, quantile_range: tuple[float, float] = (25.0, 75.0)) -> None:
        low, high = _ordered_pair(quantile_range, "robust", "quantile_range", (0.0, 100.0))
        super().__init__()
        self.quantile_range = (low, high)

    def statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        low, high = self.quantile_range
        quantiles = _nanquantiles(x, (low / 100, 0.5, high / 100))
        return quantiles[1], quantiles[2] - quantiles[0]


def _nanquantiles(x: Tensor, levels: tuple[float, ...]) -> list[Tensor]:
    """The ``levels`` quantiles of each feature of ``x`` over dim 0, NaNs left out, by numpy's linear
    interpolation (``np.nanpercentile``, which scikit-learn's RobustScaler reads); NaN where a feature has
    no values. torch.nanquantile refuses more than 2^24 rows ("input tensor is too large")."""
    count = (~x.isnan()).sum(dim=0, keepdim=True)
    positions = [level * (count - 1).clamp(min=0).to(x.dtype) for level in levels]
    below = [position.floor().long() for position in positions]
    ranks = torch.cat([rank for low in below for rank in (low, (low + 1).clamp(max=len(x) - 1))])
    ordered = _order_statistics(x, ranks)  # the values at ranks, as x sorted over dim 0 holds them
    quantiles = []
    for i, (position, low) in enumerate(zip(positions, below, strict=True)):
        lower, upper = ordered[2 * i : 2 * i + 1], ordered[2 * i + 1 : 2 * i + 2]
        # At a whole position the value itself: lerp would read the next one, NaN past the last value.
        between = torch.where(position == low, lower, torch.lerp(lower, upper, position - low))
        quantiles.append(torch.where(count == 0, torch.nan, between)[0])
    return quantiles


def _order_statistics(x: Tensor, ranks: Tensor) -> Tensor:
    """``x.sort(dim=0).values.gather(0, ranks)`` (NaNs last), the same values (where -0.0 and 0.0 tie, either
    sign: the sort promises no order among equals either), without sorting: on the CPU
    numpy's introselect (``np.partition``) places only the ranks asked, once per set of features that ask
    the same ones: 0.28x the sort's time at 2^24 rows x 1 feature, 0.37x at 2^22 x 4 (the sort's 26 s and
    31 s on the shared, loaded 2-core box; ``python benchmarks/robust_scaler_fit.py``, docs/benchmarks.md)."""
    if x.device.type != "cpu":  # a GPU sorts fast enough; numpy reads no device memory
        return x.sort(dim=0).values.gather(0, ranks)
    columns = x.detach().reshape(len(x), -1).numpy()
    asked = ranks.reshape(len(ranks), -1)
    values = torch.empty(asked.shape, dtype=x.dtype)
    kinds, which = asked.T.unique(dim=0, return_inverse=True)  # features asking the same ranks
    for kind, ranked in enumerate(kinds):
        features = (which == kind).nonzero()[:, 0].numpy()
        placed = np.partition(columns[:, features], ranked.unique().numpy(), axis=0)  # NaNs last, as sort
        values[:, features] = torch.from_numpy(placed[ranked.numpy()])
    return values.reshape(ranks.shape)


def create(name: str, **hyperparameters: Any) -> Scaler:
    """An unfitted scaler, e.g. ``create("minmax", feature_range=(-1, 1)).fit(x_train)``."""
    return _REGISTRY.create(name, **hyperparameters)
