"""Adafactor against torch.optim.Adafactor, and its factored second moment in closed form.

Parameters of 2-D (non-square), 3-D (a batch of matrices) and 1-D shapes; weight decay on; lr=0.5
so that the relative step's ``1 / sqrt(t)`` binds from step 5 (with lr < 0.1 the cap lr binds for
the first 100 steps and would hide a constant-lr bug).
"""

from __future__ import annotations

import copy
import doctest
import importlib
import inspect

import pytest
import torch

from optim.problem import max_difference
from optimlab.optim import create
from optimlab.optim.optimizers.adafactor import adafactor
from optimlab.optim.transforms.factored_rms import scale_by_factored_rms
from optimlab.registry import get_registry

TOLERANCE = 1e-6
SHAPES = [(5, 3), (2, 4, 3), (7,)]
HP = dict(lr=0.5, beta2_decay=-0.8, d=1.0, weight_decay=0.1)


def loss(params: list[torch.Tensor]) -> torch.Tensor:
    """Non-quadratic in every tensor: a tanh coupling to fixed targets plus a quartic penalty."""
    generator = torch.Generator().manual_seed(2)
    total = torch.zeros(())
    for p in params:
        target = torch.randn(p.shape, generator=generator, dtype=torch.float64).to(p.dtype)
        total = total + torch.tanh(p * target).sum() + 0.1 * ((p - target) ** 4).sum()
    return total


def run(make_optimizer, steps: int = 100, scheduler=None, params=None) -> list[torch.Tensor]:
    if params is None:
        generator = torch.Generator().manual_seed(3)
        params = [
            torch.nn.Parameter(torch.randn(s, generator=generator, dtype=torch.float64)) for s in SHAPES
        ]
    optimizer = make_optimizer(params)
    schedule = scheduler(optimizer) if scheduler else None
    for _ in range(steps):
        optimizer.zero_grad()
        loss(params).backward()
        optimizer.step()
        if schedule:
            schedule.step()
    return [p.detach().clone() for p in params]


def lr_drop(optimizer):
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[40], gamma=0.1)


@pytest.mark.parametrize("scheduler", [None, lr_drop], ids=["constant", "lr_drop"])
def test_matches_torch_adafactor(scheduler, float64):
    ours = run(lambda p: create("adafactor", p, **HP), scheduler=scheduler)
    reference = run(lambda p: torch.optim.Adafactor(p, **HP), scheduler=scheduler)
    assert max_difference(ours, run(lambda p: create("adafactor", p, **HP), steps=0)) > 1e-1
    assert max_difference(ours, reference) <= TOLERANCE


def test_a_scalar_parameter_matches_torch(float64):
    """Kept to 30 steps: a scalar's normalised step is +-alpha, so it oscillates about its minimum and
    rounding differences grow 10x every 10 steps (1e-13 at step 40, 5e-7 at step 100)."""
    ours = run(lambda p: create("adafactor", p, **HP), 30, params=[torch.nn.Parameter(torch.tensor(0.7))])
    reference = run(
        lambda p: torch.optim.Adafactor(p, **HP), 30, params=[torch.nn.Parameter(torch.tensor(0.7))]
    )
    assert max_difference(ours, reference) <= 1e-12


def test_explicit_eps_match_torch(float64):
    ours = run(lambda p: create("adafactor", p, lr=0.05, eps1=1e-6, eps2=1e-2))
    reference = run(lambda p: torch.optim.Adafactor(p, lr=0.05, eps=(1e-6, 1e-2)))
    assert max_difference(ours, reference) <= TOLERANCE


def test_float32_stays_close_to_torch():
    generator = torch.Generator().manual_seed(3)
    start = [torch.randn(s, generator=generator) for s in SHAPES]
    ours = run(
        lambda p: create("adafactor", p, **HP), 20, params=[torch.nn.Parameter(t.clone()) for t in start]
    )
    reference = run(
        lambda p: torch.optim.Adafactor(p, **HP), 20, params=[torch.nn.Parameter(t.clone()) for t in start]
    )
    assert all(t.dtype == torch.float32 for t in ours)
    assert max_difference(ours, reference) <= 1e-4


def test_defaults_equal_torch():
    torch_defaults = {
        p.name: p.default
        for p in inspect.signature(torch.optim.Adafactor.__init__).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    ours = {h.name: h.default for h in get_registry("optimizer").get("adafactor").hyperparameters}
    assert (ours.pop("eps1"), ours.pop("eps2")) == torch_defaults["eps"]
    assert all(value == torch_defaults[name] for name, value in ours.items())


def test_factored_second_moment_in_closed_form():
    """Step 1 of a rank-1 g^2 = a b^T: the factored estimate is exact, so U = sign(g)."""
    a, b = torch.tensor([1.0, 4.0]), torch.tensor([1.0, 9.0, 0.25])
    g = torch.sqrt(torch.outer(a, b)) * torch.tensor([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0]])
    p = [torch.full((2, 3), 2.0)]
    tx = scale_by_factored_rms(learning_rate=0.1, eps=(1e-30, 1e-3))
    state = tx.init(p)
    assert state.row[0].shape == (2, 1) and state.col[0].shape == (1, 3) and state.nu[0] is None
    out, state = tx.update([g], state, p)
    torch.testing.assert_close(state.row[0].squeeze(1), a * b.mean())  # mean over columns of g^2
    torch.testing.assert_close(state.col[0].squeeze(0), b * a.mean())
    torch.testing.assert_close(out[0], 2.0 * 0.1 * torch.sign(g))  # RMS(p) * min(lr, 1) * U, RMS(U) = 1


def test_update_clipping_and_relative_step_in_closed_form():
    """A vector: U = g / |g| on step 1; from step 2 an EMA with weight t^-0.8; clipping when RMS(U) > d."""
    p = [torch.zeros(4)]  # RMS(p) = 0: eps2 sets the scale
    tx = scale_by_factored_rms(learning_rate=1.0, eps=(1e-30, 0.5), d=1.0)
    state = tx.init(p)
    g1 = torch.tensor([1.0, -2.0, 3.0, -4.0])
    out, state = tx.update([g1], state, p)
    torch.testing.assert_close(out[0], 0.5 * torch.sign(g1))  # alpha = max(0.5, 0) * min(1, 1)
    g2 = torch.full((4,), 10.0)
    out, state = tx.update([g2], state, p)
    w = 2.0**-0.8
    u = g2 / ((1 - w) * g1**2 + w * g2**2).sqrt()
    rms = (u.norm() / 2).item()  # 4 elements
    assert rms > 1.2  # the clipping binds
    u = u / rms
    torch.testing.assert_close(out[0], 0.5 * 2**-0.5 * u)  # min(lr, 1 / sqrt(2))


def test_never_writes_into_its_inputs():
    tx = scale_by_factored_rms()
    params = [torch.randn(3, 2), torch.randn(2, 3, 2), torch.randn(4)]
    state = tx.init(params)
    for _ in range(2):
        updates = [torch.randn_like(p) for p in params]
        before = [t.clone() for t in params + updates]
        out, state = tx.update(updates, state, params)
        assert all(torch.equal(x, y) for x, y in zip(params + updates, before))
        assert [u.shape for u in out] == [p.shape for p in params]


def test_state_dict_round_trip_mid_run_continues_identically(float64):
    generator = torch.Generator().manual_seed(3)
    params = [torch.nn.Parameter(torch.randn(s, generator=generator)) for s in SHAPES]
    opt = create("adafactor", params, **HP)
    run(lambda _: opt, 7, params=params)
    saved, snapshot = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    expected = run(lambda _: opt, 5, params=params)
    resumed = [torch.nn.Parameter(t) for t in snapshot]
    fresh = create("adafactor", resumed, **HP)
    fresh.load_state_dict(saved)
    assert max_difference(run(lambda _: fresh, 5, params=resumed), expected) == 0


def test_functional_use_matches_the_docstring():
    p = [torch.full((2, 3), 0.5)]
    tx = adafactor(lr=0.1)
    torch.testing.assert_close(tx.update([torch.ones(2, 3)], tx.init(p), p)[0][0], torch.full((2, 3), -0.05))


@pytest.mark.parametrize("module", ["optimlab.optim.optimizers.adafactor"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted > 0
