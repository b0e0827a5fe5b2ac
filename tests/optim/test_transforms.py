"""Each primitive against a closed form, and the rules every transform keeps (inputs untouched, init([]))."""

from __future__ import annotations

import math

import pytest
import torch

from optimlab.optim import transforms
from optimlab.optim.transforms import (
    add_decayed_weights,
    clip_by_global_norm,
    clip_by_value,
    scale,
    scale_by_learning_rate,
    scale_by_momentum,
    scale_by_radam,
)

# Arguments for every exported transform (a new transform must be added here to be tested).
EXAMPLES = {
    "add_decayed_weights": dict(weight_decay=0.1),
    "orthogonalize_by_newton_schulz": dict(ns_dtype=torch.float64),
    "clip_by_global_norm": dict(max_norm=0.5),
    "clip_by_value": dict(max_delta=0.3),
    "partition": dict(
        select=lambda p: p.ndim >= 2, on_selected=scale_by_momentum(), on_others=scale(factor=0.5)
    ),
    "scale": dict(factor=0.5),
    "scale_by_adadelta": {},
    "scale_by_adagrad": dict(initial_accumulator_value=0.1),
    "scale_by_adam": dict(amsgrad=True),
    "scale_by_adamax": {},
    "scale_by_adan": {},
    "scale_by_factored_rms": {},
    "scale_by_learning_rate": dict(learning_rate=0.1),
    "scale_by_lion": {},
    "scale_by_momentum": dict(dampening=0.1, nesterov=True),
    "scale_by_nadam": {},
    "scale_by_radam": {},
    "scale_by_rms": dict(centered=True, bias_correction=True),
    "scale_by_trust_ratio": dict(weight_decay=0.01),
    "schedule_free": dict(learning_rate=0.1),
}


# Transforms of matrices alone (Muon's orthogonalization) are given matrices.
MATRICES_ONLY = {"orthogonalize_by_newton_schulz"}


def test_every_exported_transform_has_an_example():
    assert sorted(EXAMPLES) == sorted(transforms.__all__)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_never_writes_into_updates_or_params(name):
    tx = getattr(transforms, name)(**EXAMPLES[name])
    params = [torch.randn(3, 2), torch.randn(4, 5) if name in MATRICES_ONLY else torch.randn(4)]
    state = tx.init(params)
    assert tx.init([]) is not None  # shells read the state's layout from init([])
    for _ in range(3):
        grads = [torch.randn_like(p) for p in params]
        before = [g.clone() for g in grads], [p.clone() for p in params]
        updates, state = tx.update(grads, state, params)
        assert all(torch.equal(a, b) for a, b in zip(grads, before[0]))
        assert all(torch.equal(a, b) for a, b in zip(params, before[1]))
        assert [u.shape for u in updates] == [p.shape for p in params]


def apply(tx, updates, params=None, steps=1):
    params = params if params is not None else [torch.zeros_like(u) for u in updates]
    state = tx.init(params)
    for _ in range(steps):
        out, state = tx.update(updates, state, params)
    return out


def test_clip_by_global_norm_rescales_only_above_the_limit():
    u = [torch.tensor([3.0]), torch.tensor([4.0])]  # global norm 5
    torch.testing.assert_close(torch.cat(apply(clip_by_global_norm(1.0), u)), torch.tensor([0.6, 0.8]))
    torch.testing.assert_close(torch.cat(apply(clip_by_global_norm(10.0), u)), torch.tensor([3.0, 4.0]))


def test_clip_by_value_clamps_elementwise():
    out = apply(clip_by_value(0.5), [torch.tensor([-2.0, 0.2, 0.7])])
    torch.testing.assert_close(out[0], torch.tensor([-0.5, 0.2, 0.5]))


def test_scheduled_factor_is_evaluated_at_the_count_of_applied_updates():
    tx, p = scale(lambda step: step + 1.0), [torch.zeros(1)]
    state = tx.init(p)
    seen = []
    for _ in range(3):
        out, state = tx.update([torch.ones(1)], state, p)
        seen.append(out[0].item())
    assert seen == [1.0, 2.0, 3.0]


def test_learning_rate_descends():
    assert apply(scale_by_learning_rate(0.1), [torch.tensor([2.0])])[0].item() == pytest.approx(-0.2)
    assert apply(scale_by_learning_rate(lambda step: 0.1), [torch.tensor([2.0])])[0].item() == pytest.approx(
        -0.2
    )


def test_decayed_weights_add_lambda_p_and_zero_is_free():
    u, p = [torch.tensor([1.0])], [torch.tensor([4.0])]
    assert apply(add_decayed_weights(0.25), u, p)[0].item() == 2.0
    assert apply(add_decayed_weights(0.0), u, p)[0] is u[0]


def test_momentum_copies_the_first_update_then_dampens():
    tx, p = scale_by_momentum(0.9, 0.5), [torch.zeros(1)]
    state = tx.init(p)
    first, state = tx.update([torch.tensor([1.0])], state, p)
    assert first[0].item() == 1.0  # no dampening on step 1, as torch
    second, state = tx.update([torch.tensor([1.0])], state, p)
    assert second[0].item() == pytest.approx(0.9 + 0.5)


def test_radam_is_momentum_sgd_for_five_steps_then_rectified():
    """For b2 = 0.999, rho_5 = 4.996 and rho_6 = 5.994 with r_6 = 0.0258 (Liu et al. 2019, eq. 7)."""
    tx, p, g = scale_by_radam(0.9, 0.999, eps=0.0), [torch.zeros(1)], [torch.tensor([2.0])]
    state = tx.init(p)
    for _ in range(5):
        out, state = tx.update(g, state, p)
        assert out[0].item() == pytest.approx(2.0)  # m_hat of a constant gradient
    out, state = tx.update(g, state, p)
    rho_inf = 2 / 0.001 - 1
    rho_6 = rho_inf - 2 * 6 * 0.999**6 / (1 - 0.999**6)
    r_6 = math.sqrt((rho_6 - 4) * (rho_6 - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_6))
    assert r_6 == pytest.approx(0.0258, abs=1e-4)
    assert out[0].item() == pytest.approx(r_6 * 1.0)  # m_hat / sqrt(v_hat) = sign(g) for a constant g
