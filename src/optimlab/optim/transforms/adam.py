"""Adam and its relatives: first and second moments of the updates, with bias correction.

Kingma & Ba, Adam: A Method for Stochastic Optimization, 2014, https://arxiv.org/abs/1412.6980.
All transforms here return the step *direction*; the learning rate, the sign and weight decay come
from the transforms chained after them. Bias corrections are applied to the small coefficients, not
to the moment tensors, so each update is one pass over the moments plus one for the output.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from optimlab.optim.base import (
    Coefficient,
    GradientTransformation,
    Hyperparameter,
    Params,
    Updates,
    add_scaled_,
    addcmul_,
    lerp_,
    per_tensor,
    scale_,
    scaled,
    value_at,
)

__all__ = [
    "ScaleByAdamState",
    "ScaleByAdamaxState",
    "ScaleByNadamState",
    "ScaleByRadamState",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_nadam",
    "scale_by_radam",
]


def _update_moments(
    mu: list[Tensor], nu: list[Tensor], updates: Updates, b1: Coefficient, b2: Coefficient
) -> None:
    """``m <- b1 m + (1 - b1) u`` and ``v <- b2 v + (1 - b2) u^2``, in place."""
    lerp_(mu, updates, 1 - b1)
    scale_(nu, b2)
    addcmul_(nu, updates, updates, 1 - b2)


class ScaleByAdamState(NamedTuple):
    count: int
    mu: list[Tensor]  # m, EMA of u
    nu: list[Tensor]  # v, EMA of u^2
    nu_max: list[Tensor] | None  # running max of v, only for AMSGrad


def scale_by_adam(
    b1: Hyperparameter = 0.9,
    b2: Hyperparameter = 0.999,
    eps: Hyperparameter = 1e-8,
    *,
    amsgrad: bool = False,
) -> GradientTransformation:
    """``u <- m_hat / (sqrt(v_hat) + eps)``, ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)``.

    eps is added after bias correction, as in ``torch.optim.Adam`` (pytorch/pytorch#22628).
    ``amsgrad`` divides by the running maximum of the raw ``v`` instead (Reddi, Kale & Kumar, On the
    Convergence of Adam and Beyond, 2018, https://arxiv.org/abs/1904.09237), keeping both bias
    corrections as torch does.
    """

    def init(params: Params) -> ScaleByAdamState:
        return ScaleByAdamState(
            count=0,
            mu=[torch.zeros_like(p) for p in params],
            nu=[torch.zeros_like(p) for p in params],
            nu_max=[torch.zeros_like(p) for p in params] if amsgrad else None,
        )

    def update(updates: Updates, state: ScaleByAdamState, params: Params) -> tuple[Updates, ScaleByAdamState]:
        t = state.count + 1
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        _update_moments(state.mu, state.nu, updates, beta1, beta2)
        if amsgrad:
            torch._foreach_maximum_(state.nu_max, state.nu)
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        den = torch._foreach_sqrt(state.nu_max if amsgrad else state.nu)
        scale_(den, bc1 / bc2**0.5)  # (1 - b1^t) * sqrt(v_hat)
        torch._foreach_add_(den, per_tensor(value_at(eps, state.count) * bc1, den))
        return torch._foreach_div(state.mu, den), ScaleByAdamState(t, state.mu, state.nu, state.nu_max)

    return GradientTransformation(init, update)


class ScaleByNadamState(NamedTuple):
    count: int
    mu_product: Coefficient  # mu_1 * ... * mu_t, the product of the momentum schedule
    mu: list[Tensor]
    nu: list[Tensor]


def scale_by_nadam(
    b1: Hyperparameter = 0.9,
    b2: Hyperparameter = 0.999,
    eps: Hyperparameter = 1e-8,
    momentum_decay: float = 4e-3,
) -> GradientTransformation:
    """Adam with Nesterov momentum and Dozat's momentum schedule, as ``torch.optim.NAdam``.

    ``mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))``, ``P_t = mu_1 ... mu_t``;
    ``u <- [(1 - mu_t) / (1 - P_t) * u + mu_{t+1} / (1 - P_t mu_{t+1}) * m] / (sqrt(v_hat) + eps)``.
    Dozat, Incorporating Nesterov Momentum into Adam, ICLR workshop 2016,
    https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ.
    """

    def init(params: Params) -> ScaleByNadamState:
        return ScaleByNadamState(
            count=0,
            mu_product=1.0,
            mu=[torch.zeros_like(p) for p in params],
            nu=[torch.zeros_like(p) for p in params],
        )

    def update(
        updates: Updates, state: ScaleByNadamState, params: Params
    ) -> tuple[Updates, ScaleByNadamState]:
        t = state.count + 1
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        mu_product = state.mu_product * mu_t
        _update_moments(state.mu, state.nu, updates, beta1, beta2)
        den = torch._foreach_sqrt(state.nu)
        scale_(den, (1 - beta2**t) ** -0.5)
        torch._foreach_add_(den, per_tensor(value_at(eps, state.count), den))
        direction = scaled(updates, (1 - mu_t) / (1 - mu_product))
        add_scaled_(direction, state.mu, mu_next / (1 - mu_product * mu_next))
        torch._foreach_div_(direction, den)
        return direction, ScaleByNadamState(t, mu_product, state.mu, state.nu)

    return GradientTransformation(init, update)


class ScaleByRadamState(NamedTuple):
    count: int
    mu: list[Tensor]
    nu: list[Tensor]


def scale_by_radam(
    b1: Hyperparameter = 0.9, b2: Hyperparameter = 0.999, eps: Hyperparameter = 1e-8
) -> GradientTransformation:
    """Rectified Adam, as ``torch.optim.RAdam``: SGD with momentum until the variance is tractable.

    ``rho_inf = 2 / (1 - b2) - 1``, ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``. If ``rho_t > 5``:
    ``u <- r_t * m_hat * sqrt(1 - b2^t) / (sqrt(v) + eps)`` with
    ``r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))`` (eps on the
    *uncorrected* root, unlike Adam); else ``u <- m_hat``. For b2 = 0.999 steps 1-5 are SGD.
    Liu et al., On the Variance of the Adaptive Learning Rate and Beyond, 2019,
    https://arxiv.org/abs/1908.03265.
    """

    def init(params: Params) -> ScaleByRadamState:
        return ScaleByRadamState(
            0, [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
        )

    def update(
        updates: Updates, state: ScaleByRadamState, params: Params
    ) -> tuple[Updates, ScaleByRadamState]:
        t = state.count + 1
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        _update_moments(state.mu, state.nu, updates, beta1, beta2)
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / bc2
        next_state = ScaleByRadamState(t, state.mu, state.nu)
        per_member = isinstance(rho_t, torch.Tensor) and rho_t.ndim > 0  # K b2s: K switch steps
        if not per_member and rho_t <= 5:
            return scaled(state.mu, 1 / bc1), next_state
        rectified = rho_t > 5
        ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        rect = torch.where(rectified, ratio.clamp(min=0), 0) ** 0.5 if per_member else ratio**0.5
        den = torch._foreach_sqrt(state.nu)
        torch._foreach_add_(den, per_tensor(value_at(eps, state.count), den))
        direction = torch._foreach_div(state.mu, den)
        scale_(direction, rect * bc2**0.5 / bc1)
        if per_member:  # the members not yet rectified step with m_hat (their rect is 0 above)
            add_scaled_(direction, state.mu, torch.where(rectified, 0, 1 / bc1))
        return direction, next_state

    return GradientTransformation(init, update)


class ScaleByAdamaxState(NamedTuple):
    count: int
    mu: list[Tensor]
    nu_inf: list[Tensor]  # the exponentially weighted infinity norm u_t


def scale_by_adamax(
    b1: Hyperparameter = 0.9, b2: Hyperparameter = 0.999, eps: Hyperparameter = 1e-8
) -> GradientTransformation:
    """``w <- max(b2 w, |u| + eps)``; ``u <- m / ((1 - b1^t) w)``: Adam under the infinity norm.

    Kingma & Ba 2014, section 7.1. eps sits inside the max (the paper has none), as in torch.
    """

    def init(params: Params) -> ScaleByAdamaxState:
        return ScaleByAdamaxState(
            0, [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
        )

    def update(
        updates: Updates, state: ScaleByAdamaxState, params: Params
    ) -> tuple[Updates, ScaleByAdamaxState]:
        t = state.count + 1
        beta1, beta2 = value_at(b1, state.count), value_at(b2, state.count)
        lerp_(state.mu, updates, 1 - beta1)
        scale_(state.nu_inf, beta2)
        magnitude = torch._foreach_abs(updates)
        torch._foreach_add_(magnitude, per_tensor(value_at(eps, state.count), magnitude))
        torch._foreach_maximum_(state.nu_inf, magnitude)
        direction = torch._foreach_div(state.mu, state.nu_inf)
        scale_(direction, 1 / (1 - beta1**t))
        return direction, ScaleByAdamaxState(t, state.mu, state.nu_inf)

    return GradientTransformation(init, update)
