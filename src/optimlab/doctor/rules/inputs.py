"""Rules on the data as the model sees it: inputs far from unit scale, features on different scales."""

from __future__ import annotations

import torch
from torch import Tensor

from optimlab.doctor.findings import Finding, Severity
from optimlab.doctor.instruments import RunStatistics
from optimlab.doctor.lr_find import LRRangeResult
from optimlab.doctor.rules._readings import _ABOVE_ONE, _g, _register, _score
from optimlab.registry import POSITIVE

__all__ = ["input_scale"]


@_register(
    "input_scale",
    "Inputs far from unit scale, or features on wildly different scales.",
    "LeCun et al. 1998, Efficient BackProp, sec. 4.3 (normalizing the inputs)",
    accepts={
        "info_scale": POSITIVE,
        "warn_scale": POSITIVE,
        "error_scale": POSITIVE,
        "warn_spread": _ABOVE_ONE,
        "tiny_scale": POSITIVE,
    },
)
def input_scale(
    stats: RunStatistics,
    lr_range: LRRangeResult | None = None,
    *,
    info_scale: float = 4.0,
    warn_scale: float = 20.0,
    error_scale: float = 100.0,
    warn_spread: float = 100.0,
    tiny_scale: float = 1e-2,
) -> Finding | None:
    """Per-feature RMS (sqrt(mean^2 + std^2)) of the first layer's inputs against unit scale, and the
    ratio of the widest feature range to the narrowest (``spread``)."""
    features = stats.input_features
    if features is None:
        return None
    rms = (features.mean.square() + features.std.square()).sqrt()
    ranges = features.maximum - features.minimum
    varying = ranges > 1e-6 * max(ranges.max().item(), 1e-30)
    if not varying.any():
        return None
    largest = rms.max().item()
    # Spread compares ranges, not RMS: a sparse feature (a corner pixel, mostly 0) has a tiny RMS but
    # the same range as its neighbours, and is not badly scaled.
    spread = ranges.max().item() / ranges[varying].min().item()
    if largest > error_scale:
        severity: Severity = "error"
    elif largest > warn_scale or spread > warn_spread or largest < tiny_scale:
        severity = "warning"
    elif largest > info_scale:
        severity = "info"
    else:
        return None
    description = _describe_features(features.minimum, features.maximum, rms, varying)
    if largest < tiny_scale:
        problem = f"the inputs are tiny (largest feature RMS {_g(largest)})"
    elif spread > warn_spread and largest <= warn_scale:
        problem = f"features differ in scale by {_g(spread)}x"
    else:
        problem = f"the inputs are far from unit scale (largest feature RMS {_g(largest)})"
    return Finding(
        rule="input_scale",
        severity=severity,
        title=f"Unnormalized inputs: {description}",
        explanation=(
            f"Over {features.count} training rows seen by the first layer, {problem}: {description}. "
            "Large or unequal input scales make the first layer's gradients huge along some "
            "directions and tiny along others, so one learning rate fits none of them."
        ),
        recommendation=f"data: standardize inputs ({description})",
        recipe_changes={"data.scaling": "standardize"},
        evidence={
            "largest_feature_rms": largest,
            "scale_spread": spread,
            "rows": features.count,
            "feature_min": features.minimum.tolist(),
            "feature_max": features.maximum.tolist(),
        },
        score=_score(max(largest / warn_scale, spread / warn_spread, tiny_scale / max(largest, 1e-30))),
        explains=(
            "exploding_gradients",
            "vanishing_gradients",
            "nan_inf",
            "lr_too_high",
            "lr_too_low",
            "saturation",
            "dead_units",
            "init_scale",
            "plateau",
        ),
    )


def _describe_features(low: Tensor, high: Tensor, rms: Tensor, varying: Tensor) -> str:
    """ "feature 3 ranges 0..255, others -1.2..1.3", or a summary when many features are large."""
    typical = rms[varying].median().item()
    outliers = [int(i) for i in torch.argsort(rms, descending=True) if rms[i] > 10 * typical]
    if 0 < len(outliers) <= 3:
        named = ", ".join(f"feature {i} ranges {_g(low[i].item())}..{_g(high[i].item())}" for i in outliers)
        rest = torch.ones_like(varying)
        rest[outliers] = False
        if rest.any():
            named += f", others {_g(low[rest].min().item())}..{_g(high[rest].max().item())}"
        return named
    widest = int(rms.argmax())
    return (
        f"{int(varying.sum())} varying features range {_g(low.min().item())}..{_g(high.max().item())} "
        f"(largest in feature {widest}: {_g(low[widest].item())}..{_g(high[widest].item())})"
    )
