"""LARS and LAMB against pytorch_optimizer 4.1.0 and against hand-written updates, and the trust ratio.

The hand versions below are written from the formulas (one tensor at a time, no foreach), so CI
without pytorch_optimizer still checks the math. A zero-initialised tensor exercises the zero-norm
rule (trust ratio 1) on the first step.
"""

from __future__ import annotations

import copy
import doctest
import importlib
import inspect

import pytest
import torch

from optim.problem import initial_parameters, max_difference, train
from optimlab.errors import InvalidValueError
from optimlab.optim import create
from optimlab.optim.optimizers.layerwise import lamb, lars
from optimlab.optim.transforms.trust_ratio import scale_by_trust_ratio
from optimlab.registry import get_registry

TOLERANCE = 1e-6
REGISTRY = get_registry("optimizer")


def start(zeroed: int) -> list[torch.nn.Parameter]:
    """The shared problem's start with parameter ``zeroed`` set to 0 (trust ratio 1 on step 1)."""
    params = initial_parameters()
    params[zeroed] = torch.zeros_like(params[zeroed])
    return [torch.nn.Parameter(p) for p in params]


class HandLamb(torch.optim.Optimizer):
    """pytorch_optimizer's Lamb variant, one tensor at a time from its formulas; its ``t`` counts every
    step (pytorch_optimizer's ``group['step']``), whether or not a parameter has a gradient."""

    def __init__(self, params, lr, betas, eps, weight_decay, decoupled_weight_decay=True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.decoupled, self.t = decoupled_weight_decay, 0

    @torch.no_grad()
    def step(self, closure=None):
        self.t += 1
        for group in self.param_groups:
            (b1, b2), lr, eps, wd = group["betas"], group["lr"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                m = state["m"] = b1 * state.get("m", torch.zeros_like(p)) + (1 - b1) * p.grad
                v = state["v"] = b2 * state.get("v", torch.zeros_like(p)) + (1 - b2) * p.grad**2
                r = m / (v.sqrt() + eps)
                if self.decoupled:
                    p.mul_(1 - lr * wd)
                else:
                    r = r + wd * p
                w = min(p.norm().item(), 10.0)
                n = r.norm().item()
                trust = 1.0 if w == 0 or n == 0 else w / (n + eps)
                p.sub_(lr / (1 - b1**self.t) * trust * r)


class HandLars(torch.optim.Optimizer):
    """pytorch_optimizer's LARS, one tensor at a time: matrices scaled and decayed, vectors left alone."""

    def __init__(self, params, lr, weight_decay, momentum, dampening, trust_coefficient, nesterov=False):
        super().__init__(params, {})
        self.hp = (lr, weight_decay, momentum, dampening, trust_coefficient, nesterov)

    @torch.no_grad()
    def step(self, closure=None):
        lr, wd, mu, tau, eta, nesterov = self.hp
        for p in self.param_groups[0]["params"]:
            g = p.grad.clone()
            if p.ndim > 1:
                p_norm, g_norm = p.norm().item(), g.norm().item()
                denominator = g_norm + wd * p_norm
                trust = eta * p_norm / denominator if p_norm > 0 and denominator > 0 else 1.0
                g = (g + wd * p) * trust
            b = self.state[p]["b"] = mu * self.state[p].get("b", torch.zeros_like(p)) + (1 - tau) * g
            p.sub_(lr * (g + mu * b if nesterov else b))


LAMB = dict(lr=0.01, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)
LARS = dict(lr=0.5, weight_decay=0.01, momentum=0.9, dampening=0.1, trust_coefficient=0.02)
LARS_NESTEROV = dict(LARS, dampening=0.0, nesterov=True)


def ours(name: str, hp: dict, zeroed: int) -> list[torch.Tensor]:
    return train(lambda p: create(name, p, **hp), params=start(zeroed))


@pytest.mark.parametrize("decoupled", [True, False])
def test_lamb_matches_a_hand_version(decoupled, float64):
    hp = dict(LAMB, decoupled_weight_decay=decoupled)
    result = ours("lamb", hp, zeroed=3)
    assert max_difference(result, start(3)) > 1e-2
    assert max_difference(result, train(lambda p: HandLamb(p, **hp), params=start(3))) <= TOLERANCE


@pytest.mark.parametrize("decoupled", [True, False])
def test_lamb_matches_pytorch_optimizer(decoupled, float64):
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    hp = dict(LAMB, decoupled_weight_decay=decoupled)
    reference = train(lambda p: pytorch_optimizer.Lamb(p, **LAMB, weight_decouple=decoupled), params=start(3))
    assert max_difference(ours("lamb", hp, zeroed=3), reference) <= TOLERANCE


@pytest.mark.parametrize("decoupled", [True, False])
def test_lamb_counts_steps_per_group_like_pytorch_optimizer(decoupled, float64):
    """pytorch_optimizer's Lamb (the reference) counts ``group['step']`` at every step: a parameter
    without a gradient on some steps (the shared problem's skipping) takes its debiasing 1 / (1 - b1^t)
    at the group's t, not at its own count of updates, which was 0.14 off after 100 steps."""
    hp = dict(LAMB, decoupled_weight_decay=decoupled)
    result = train(lambda p: create("lamb", p, **hp), params=start(3), skipping=True)
    hand = train(lambda p: HandLamb(p, **hp), params=start(3), skipping=True)
    assert max_difference(result, hand) <= TOLERANCE
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    reference = train(
        lambda p: pytorch_optimizer.Lamb(p, **LAMB, weight_decouple=decoupled), params=start(3), skipping=True
    )
    assert max_difference(result, reference) <= TOLERANCE


@pytest.mark.parametrize("hp", [LARS, LARS_NESTEROV], ids=["dampening", "nesterov"])
def test_lars_matches_a_hand_version(hp, float64):
    result = ours("lars", hp, zeroed=2)  # a zero 2-D weight: trust 1, and the layer below gets g = 0
    assert max_difference(result, start(2)) > 1e-2
    assert max_difference(result, train(lambda p: HandLars(p, **hp), params=start(2))) <= TOLERANCE


@pytest.mark.parametrize("hp", [LARS, LARS_NESTEROV], ids=["dampening", "nesterov"])
def test_lars_matches_pytorch_optimizer(hp, float64):
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    reference = train(lambda p: pytorch_optimizer.LARS(p, **hp), params=start(2))
    assert max_difference(ours("lars", hp, zeroed=2), reference) <= TOLERANCE


def test_lamb_and_lars_defaults_are_pytorch_optimizers():
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

    for name, cls in [("lamb", pytorch_optimizer.Lamb), ("lars", pytorch_optimizer.LARS)]:
        theirs = inspect.signature(cls.__init__).parameters
        for h in REGISTRY.get(name).hyperparameters:
            if h.name in theirs:
                assert h.default == theirs[h.name].default, (name, h.name)


def test_trust_ratio_in_closed_form():
    """LARS's local lr on a 3-4-5 triangle, and the zero-norm rule on a zero tensor and a zero update."""
    tx = scale_by_trust_ratio(0.1, weight_decay=0.5, min_ndim=2)
    p = [torch.tensor([[3.0, 4.0]]), torch.zeros(1, 2), torch.ones(2, 2), torch.tensor([7.0])]
    u = [torch.tensor([[0.0, 10.0]]), torch.tensor([[1.0, 2.0]]), torch.zeros(2, 2), torch.tensor([3.0])]
    out, _ = tx.update(u, tx.init(p), p)
    ratio = 0.1 * 5.0 / (10.0 + 0.5 * 5.0)  # eta ||p|| / (||g|| + wd ||p||)
    torch.testing.assert_close(out[0], (u[0] + 0.5 * p[0]) * ratio)
    torch.testing.assert_close(out[1], u[1])  # ||p|| = 0: ratio 1, and wd * p = 0
    torch.testing.assert_close(out[2], 0.5 * p[2] * (0.1 * 2.0 / (0.0 + 0.5 * 2.0)))  # only the decay
    torch.testing.assert_close(out[3], u[3])  # a vector: excluded, not decayed


def test_lamb_ratio_clamps_the_weight_norm_and_takes_it_after_the_decay():
    p = [torch.full((2, 2), 20.0)]  # ||p|| = 40, clamped to 10
    tx = scale_by_trust_ratio(eps=0.0, max_weight_norm=10.0)
    torch.testing.assert_close(tx.update([torch.ones(2, 2)], tx.init(p), p)[0][0], torch.full((2, 2), 5.0))
    p = [torch.full((2, 2), 2.0)]  # ||p|| = 4, decayed by half first: 2
    tx = scale_by_trust_ratio(decayed_first=0.5)
    torch.testing.assert_close(tx.update([torch.ones(2, 2)], tx.init(p), p)[0][0], torch.ones(2, 2))


def test_trust_ratio_never_writes_into_its_inputs():
    tx = scale_by_trust_ratio(1e-3, 0.1, 1e-6, max_weight_norm=10.0, decayed_first=0.01, min_ndim=2)
    params, updates = [torch.randn(3, 2), torch.randn(4)], [torch.randn(3, 2), torch.randn(4)]
    before = [t.clone() for t in params + updates]
    out, _ = tx.update(updates, tx.init(params), params)
    assert all(torch.equal(a, b) for a, b in zip(params + updates, before))
    assert out[1] is updates[1]  # an excluded tensor passes through unchanged


def test_lars_rejects_nesterov_with_dampening():
    with pytest.raises(InvalidValueError, match="nesterov"):
        lars(nesterov=True, dampening=0.1)


@pytest.mark.parametrize("name", ["lamb", "lars"])
def test_state_dict_round_trip_mid_run_continues_identically(name, float64):
    hp = LAMB if name == "lamb" else LARS
    params = start(3)
    opt = create(name, params, **hp)
    train(lambda _: opt, steps=7, params=params)
    saved, snapshot = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    expected = train(lambda _: opt, steps=5, params=params)
    resumed = [torch.nn.Parameter(p) for p in snapshot]
    fresh = create(name, resumed, **hp)
    fresh.load_state_dict(saved)
    assert max_difference(train(lambda _: fresh, steps=5, params=resumed), expected) == 0


def test_functional_use_matches_the_docstring():
    p = [torch.ones(2, 2)]
    tx = lamb(lr=0.1)
    torch.testing.assert_close(
        tx.update([torch.ones(2, 2)], tx.init(p), p)[0][0], torch.full((2, 2), -1.0), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("module", ["optimlab.optim.optimizers.layerwise"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted > 0
