"""Muon against torch.optim.Muon (bit for bit in bfloat16) and a float64 hand reference, its AdamW
fallback, the Newton-Schulz iteration in closed form, and the partition of a model's parameters."""

from __future__ import annotations

import copy
import doctest
import importlib
import inspect

import pytest
import torch

from optim.problem import initial_parameters, loss, max_difference, train
from optimlab.errors import InvalidValueError
from optimlab.optim import create
from optimlab.optim.optimizers.muon import muon
from optimlab.optim.transforms.momentum import scale_by_momentum
from optimlab.optim.transforms.orthogonal import (
    adjusted_lr_ratio,
    newton_schulz,
    orthogonalize_by_newton_schulz,
)
from optimlab.optim.transforms.partition import partition
from optimlab.optim.transforms.scaling import scale
from optimlab.registry import get_registry

COEFFICIENTS = (3.4445, -4.7750, 2.0315)
HP = dict(lr=0.02, weight_decay=0.1, momentum=0.9)
ADJUST = ["original", "match_rms_adamw"]


def matrices_only(steps: int, make_optimizer) -> list[torch.Tensor]:
    """A bias-free tanh MLP whose first weight is tall (12 x 8) and second wide (3 x 12)."""
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(32, 8, generator=generator, dtype=torch.float64)
    y = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    params = [
        torch.nn.Parameter(0.5 * torch.randn(s, generator=generator, dtype=torch.float64))
        for s in [(12, 8), (3, 12)]
    ]
    optimizer = make_optimizer(params)
    for _ in range(steps):
        optimizer.zero_grad()
        w1, w2 = params
        (
            ((torch.tanh(x @ w1.T) @ w2.T - y) ** 2).mean() + 0.01 * sum((p**4).sum() for p in params)
        ).backward()
        optimizer.step()
    return [p.detach().clone() for p in params]


def quintic_newton_schulz(u: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """The iteration as Jordan's post writes it, in float64, on the wide orientation."""
    a, b, c = COEFFICIENTS
    x = u / max(u.norm().item(), 1e-7)
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


class HandMuon(torch.optim.Optimizer):
    """torch.optim.Muon's update, written out, with a float64 Newton-Schulz; matrices only."""

    def __init__(self, params, lr, weight_decay, momentum, nesterov=True, adjust_lr_fn="original"):
        super().__init__(params, {"lr": lr})  # an lr scheduler writes it, as torch's
        self.hp = (weight_decay, momentum, nesterov, adjust_lr_fn)

    @torch.no_grad()
    def step(self, closure=None):
        wd, mu, nesterov, adjust = self.hp
        lr = self.param_groups[0]["lr"]
        for p in self.param_groups[0]["params"]:
            g = p.grad
            buffer = self.state[p]["buffer"] = (
                mu * self.state[p].get("buffer", torch.zeros_like(p)) + (1 - mu) * g
            )
            u = (1 - mu) * g + mu * buffer if nesterov else buffer
            rows, cols = p.shape
            s = max(1, rows / cols) ** 0.5 if adjust == "original" else 0.2 * max(rows, cols) ** 0.5
            p.mul_(1 - lr * wd).sub_(lr * s * quintic_newton_schulz(u))


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust_lr_fn", ADJUST)
def test_matches_torch_muon_bit_for_bit_in_bfloat16(adjust_lr_fn, nesterov, float64):
    """Same bfloat16 op order as torch: the iterations agree bit for bit; only the float64 rounding of
    the decay and lr multiplies differs (1e-15 after 100 steps, where any bf16 difference gives 1e-3)."""
    hp = dict(HP, nesterov=nesterov, adjust_lr_fn=adjust_lr_fn)
    ours = matrices_only(100, lambda p: create("muon", p, **hp))
    reference = matrices_only(100, lambda p: torch.optim.Muon(p, **hp))
    assert max_difference(ours, matrices_only(0, lambda p: create("muon", p))) > 1e-1
    assert max_difference(ours, reference) <= 1e-12


@pytest.mark.parametrize("adjust_lr_fn", ADJUST)
def test_float64_newton_schulz_matches_a_hand_reference(adjust_lr_fn, float64):
    hp = dict(HP, adjust_lr_fn=adjust_lr_fn)
    ours = matrices_only(100, lambda p: create("muon", p, ns_dtype=torch.float64, **hp))
    reference = matrices_only(100, lambda p: HandMuon(p, **hp))
    assert max_difference(ours, reference) <= 1e-6
    bf16 = matrices_only(100, lambda p: create("muon", p, **hp))
    assert 1e-5 < max_difference(ours, bf16) < 0.2  # the bfloat16 iteration is close, not equal


class MuonAndAdamW(torch.optim.Optimizer):
    """The reference for the fallback: HandMuon on matrices, torch.optim.AdamW on the rest."""

    def __init__(self, params, adamw_lr, adamw_weight_decay, **hp):
        super().__init__(params, {})
        params = self.param_groups[0]["params"]
        self.parts = [
            HandMuon([p for p in params if p.ndim == 2], **hp),
            torch.optim.AdamW(
                [p for p in params if p.ndim != 2], lr=adamw_lr, weight_decay=adamw_weight_decay, eps=1e-3
            ),
        ]

    def step(self, closure=None):
        for part in self.parts:
            part.step()


def test_other_parameters_take_adamw_steps(float64):
    """The shared problem has biases: Muon on its two weights, AdamW on its two biases."""
    fallback = dict(adamw_lr=0.01, adamw_weight_decay=0.3)
    ours = train(lambda p: create("muon", p, ns_dtype=torch.float64, adamw_eps=1e-3, **HP, **fallback))
    reference = train(lambda p: MuonAndAdamW(p, **HP, **fallback))
    assert max_difference(ours[1::2], train(lambda p: create("muon", p), steps=0)[1::2]) > 1e-2
    assert max_difference(ours, reference) <= 1e-6


class MuonWithAuxAdamW(torch.optim.Optimizer):
    """Jordan's MuonWithAuxAdam: HandMuon on the matrices, torch.optim.AdamW on the rest, each part with
    its own lr in a group of its own; ``param_groups`` are those an lr scheduler drives (the aux one only
    if ``scheduled_aux``)."""

    def __init__(self, params, adamw_lr, adamw_weight_decay, scheduled_aux, **hp):
        super().__init__(params, {})
        params = self.param_groups[0]["params"]
        muon_part = HandMuon([p for p in params if p.ndim == 2], **hp)
        aux = [p for p in params if p.ndim != 2]
        aux_part = torch.optim.AdamW(aux, lr=adamw_lr, weight_decay=adamw_weight_decay, eps=1e-3)
        self.parts = [muon_part, aux_part]
        self.param_groups = muon_part.param_groups + (aux_part.param_groups if scheduled_aux else [])

    def zero_grad(self, set_to_none=True):
        for part in self.parts:
            part.zero_grad(set_to_none)

    def step(self, closure=None):
        for part in self.parts:
            part.step()


def test_an_lr_scheduler_scales_an_adamw_group_as_muon_with_aux_adam(float64):
    """The aux parameters in a group of their own (use_muon=False, its own lr): LambdaLR scales both
    lrs, as in Jordan's MuonWithAuxAdam. A number given as adamw_lr is AdamW's lr throughout, as
    documented: the scheduler writes only group["lr"]."""
    hp, aux = dict(HP, ns_dtype=torch.float64, adamw_eps=1e-3), dict(adamw_lr=0.01, adamw_weight_decay=0.3)

    def decay(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 0.9**t)

    def grouped(p):
        adamw_group = {"params": p[1::2], "use_muon": False, "lr": 0.01, "weight_decay": 0.3}
        return create("muon", [{"params": p[0::2]}, adamw_group], **hp)

    reference = train(lambda p: MuonWithAuxAdamW(p, **HP, **aux, scheduled_aux=True), 30, scheduler=decay)
    assert max_difference(train(grouped, 30, scheduler=decay), reference) <= 1e-6
    number = train(lambda p: create("muon", p, **hp, **aux), 30, scheduler=decay)
    constant = train(lambda p: MuonWithAuxAdamW(p, **HP, **aux, scheduled_aux=False), 30, scheduler=decay)
    assert max_difference(number, constant) <= 1e-6
    assert max_difference(number[1::2], reference[1::2]) > 1e-3


def test_a_group_with_use_muon_false_is_adamw(float64):
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    ours = train(
        lambda p: create("muon", [{"params": p, "use_muon": False}], lr=0.01, adamw_eps=1e-3), params=params
    )
    reference = train(lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, eps=1e-3))
    assert max_difference(ours, reference) <= 1e-12


def test_a_predicate_keeps_chosen_matrices_on_adamw():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 6), torch.nn.Linear(6, 10))
    embedding, head = model[0].weight, model[2].weight
    opt = create("muon", model.parameters(), use_muon=lambda p: p is not embedding and p is not head)
    model(torch.tensor([1, 2, 3])).sum().backward()
    opt.step()
    on_muon = {
        name
        for name, p in model.named_parameters()
        if any(k.endswith(".trace") and v is not None for k, v in opt.state[p].items())
    }
    assert on_muon == {"1.weight"}


def test_any_model_works_with_every_parameter_kind():
    """Conv kernels (4-D), norms, biases and embeddings go to AdamW; 2-D weights to Muon."""
    model = torch.nn.ModuleDict(
        {
            "conv": torch.nn.Conv2d(1, 2, 3),
            "norm": torch.nn.LayerNorm(8),
            "linear": torch.nn.Linear(8, 5),
            "embedding": torch.nn.Embedding(4, 8),
        }
    )
    opt = create("muon", model.parameters())
    image = model["conv"](torch.randn(1, 1, 4, 6)).flatten()[:8]
    out = model["linear"](model["norm"](image + model["embedding"](torch.tensor(1))))
    out.sum().backward()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    opt.step()
    assert all(not torch.equal(before[name], p) for name, p in model.named_parameters())
    keys = {
        name: {k.rsplit(".", 1)[-1] for k, v in opt.state[p].items() if v is not None}
        for name, p in model.named_parameters()
    }
    assert all(("trace" in keys[name]) == (name in {"linear.weight", "embedding.weight"}) for name in keys)
    assert all(("mu" in keys[name]) != (name in {"linear.weight", "embedding.weight"}) for name in keys)


def test_newton_schulz_maps_each_singular_value_through_the_quintic():
    """NS(G) = U f^5(S / ||G||_F) V^T for G = U S V^T, f(x) = a x + b x^3 + c x^5: a closed form."""
    g = torch.randn(16, 40, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    u, s, vh = torch.linalg.svd(g, full_matrices=False)
    x = s / g.norm()
    for _ in range(5):
        x = COEFFICIENTS[0] * x + COEFFICIENTS[1] * x**3 + COEFFICIENTS[2] * x**5
    for matrix in (g, g.T):  # wide and tall
        out = newton_schulz(matrix, dtype=torch.float64)
        core = u.T @ out @ vh.T if matrix is g else u.T @ out.T @ vh.T
        torch.testing.assert_close(core, torch.diag(x), atol=1e-10, rtol=0)
    assert x.min() > 0.6 and x.max() < 1.25  # "roughly orthogonal", the point of the quintic


def test_newton_schulz_in_bfloat16_is_close_to_float64():
    g = torch.randn(24, 10, generator=torch.Generator().manual_seed(6))
    bf16, f64 = newton_schulz(g), newton_schulz(g.double(), dtype=torch.float64)
    assert bf16.dtype == torch.bfloat16
    assert (bf16.double() - f64).abs().max() < 0.05


def test_adjusted_lr_ratio():
    assert adjusted_lr_ratio(torch.Size([6, 4]), "original") == pytest.approx(1.5**0.5)
    assert adjusted_lr_ratio(torch.Size([4, 6]), "original") == 1.0
    assert adjusted_lr_ratio(torch.Size([4, 6]), "match_rms_adamw") == pytest.approx(0.2 * 6**0.5)


def test_orthogonalize_keeps_dtype_never_writes_inputs_and_rejects_non_matrices():
    tx = orthogonalize_by_newton_schulz()
    params, updates = [torch.randn(3, 5)], [torch.randn(3, 5)]
    before = [params[0].clone(), updates[0].clone()]
    out, _ = tx.update(updates, tx.init(params), params)
    assert (
        out[0].dtype == torch.float32
        and torch.equal(params[0], before[0])
        and torch.equal(updates[0], before[1])
    )
    with pytest.raises(InvalidValueError, match="2-D"):
        tx.init([torch.randn(4)])
    with pytest.raises(InvalidValueError, match="adjust_lr_fn"):
        orthogonalize_by_newton_schulz(adjust_lr_fn="rms")


def test_partition_routes_tensors_and_spreads_state_over_all_of_them():
    tx = partition(lambda p: p.ndim == 2, scale_by_momentum(0.5), scale(-1.0))
    params = [torch.zeros(2, 2), torch.zeros(3), torch.zeros(1, 4)]
    state = tx.init(params)
    assert [t is None for t in state.selected.trace] == [False, True, False]
    for _ in range(2):
        out, state = tx.update([torch.ones(2, 2), torch.ones(3), torch.ones(1, 4)], state, params)
    torch.testing.assert_close(out[0], torch.full((2, 2), 1.5))  # b = 1, then 0.5 * 1 + 1
    torch.testing.assert_close(out[1], -torch.ones(3))
    assert state.selected.count == 2 and state.others.count == 2
    out, state = tx.update([torch.ones(3)], tx.init([params[1]]), [params[1]])  # a subset: one side only
    assert state.selected.count == 0 and state.others.count == 1


def test_defaults_equal_torch():
    torch_defaults = {
        p.name: p.default
        for p in inspect.signature(torch.optim.Muon.__init__).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    ours = {h.name: h.default for h in get_registry("optimizer").get("muon").hyperparameters}
    assert (
        torch_defaults.pop("adjust_lr_fn") is None and ours["adjust_lr_fn"] == "original"
    )  # torch: None = original
    assert all(ours[name] == value for name, value in torch_defaults.items())


@pytest.mark.parametrize("name", ["bfloat16", "float32", "float64"])
def test_ns_dtype_by_name_is_the_dtype_and_a_recipe_can_say_it(name, float64):
    """ns_dtype took torch.dtype objects only: a recipe's ns_dtype: float64 (any string) was refused,
    and the message offered torch.float64, which YAML cannot write."""
    from optimlab.build import build_optimizer
    from optimlab.recipe import Recipe

    recipe = Recipe.from_yaml(f"optimizer: {{name: muon, lr: 0.02, ns_dtype: {name}}}")
    assert Recipe.from_yaml(recipe.to_yaml()) == recipe
    by_name = train(lambda p: build_optimizer(recipe, torch.nn.ParameterList(p), 20))
    by_dtype = train(lambda p: create("muon", p, lr=0.02, ns_dtype=getattr(torch, name)))
    assert max_difference(by_name, by_dtype) == 0
    with pytest.raises(InvalidValueError, match=r"'ns_dtype'.*'bfloat16', 'float32', 'float64'"):
        create("muon", [torch.nn.Parameter(torch.ones(2, 2))], ns_dtype="float16")


def test_state_dict_round_trip_mid_run_continues_identically(float64):
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    opt = create("muon", params, **HP)
    train(lambda _: opt, steps=7, params=params)
    saved, snapshot = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    expected = train(lambda _: opt, steps=5, params=params)
    resumed = [torch.nn.Parameter(p) for p in snapshot]
    fresh = create("muon", resumed, **HP)
    fresh.load_state_dict(saved)
    assert max_difference(train(lambda _: fresh, steps=5, params=resumed), expected) == 0
    assert loss(resumed) < loss(initial_parameters())


def test_functional_use():
    p = [torch.eye(2), torch.ones(2)]
    tx = muon(lr=0.1, weight_decay=0.0, momentum=0.0, ns_dtype=torch.float64)
    out, _ = tx.update([torch.diag(torch.tensor([3.0, 4.0])), torch.ones(2)], tx.init(p), p)
    x = torch.tensor([0.6, 0.8])  # singular values over the Frobenius norm 5
    for _ in range(5):
        x = COEFFICIENTS[0] * x + COEFFICIENTS[1] * x**3 + COEFFICIENTS[2] * x**5
    torch.testing.assert_close(out[0], -0.1 * torch.diag(x))
    torch.testing.assert_close(
        out[1], -0.1 * torch.ones(2), atol=1e-6, rtol=0
    )  # AdamW's first step: -lr sign(g)


@pytest.mark.parametrize("module", ["optimlab.optim.optimizers.muon", "optimlab.optim.transforms.orthogonal"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted > 0
