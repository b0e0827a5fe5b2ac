"""The transform contract: chain, hyperparameter coefficients, and per-member (K,) hyperparameters."""

from __future__ import annotations

import pytest
import torch

import optimlab.optim
from optimlab.optim import base
from optimlab.optim.base import GradientTransformation, chain, identity, per_tensor
from optimlab.optim.transforms import add_decayed_weights, scale, schedule_free

K = 3


def test_chain_applies_transforms_in_order_and_keeps_their_states():
    p = [torch.tensor([1.0, 2.0])]
    tx = chain(scale(2.0), add_decayed_weights(0.5), scale(lambda step: 10.0**step))
    state = tx.init(p)
    for count, factor in enumerate([1.0, 10.0, 100.0]):
        updates, state = tx.update([torch.tensor([1.0, 1.0])], state, p)
        torch.testing.assert_close(updates[0], factor * (2 * torch.tensor([1.0, 1.0]) + 0.5 * p[0]))
        assert [s.count for s in state] == [count + 1] * 3


def test_chain_forwards_set_mode_only_to_transforms_that_have_one():
    assert chain(identity(), scale(1.0)).set_mode is None
    p = [torch.tensor([1.0])]
    tx = chain(identity(), schedule_free(0.1, 0.5))
    state = tx.init(p)
    state = tx.set_mode(p, (state[0], state[1]._replace(z=[torch.tensor([3.0])])), False)
    torch.testing.assert_close(p[0], torch.tensor([-1.0]))  # x = y + (1 - 1/beta)(z - y) = 1 - 1 * 2


def test_per_tensor_views_a_member_vector_along_the_leading_dimension():
    c = torch.tensor([1.0, 2.0, 3.0])
    views = per_tensor(c, [torch.zeros(K, 4, 5), torch.zeros(K)])
    assert [v.shape for v in views] == [(K, 1, 1), (K,)]
    assert per_tensor(0.5, [torch.zeros(K)]) == 0.5


def test_a_member_vector_changed_in_place_or_freed_is_cast_anew():
    """The per-tensor casts of a ``(K,)`` value are kept per value and version (base._cast): a value
    written in place, or a new one at a freed one's address, is viewed with its own numbers."""
    c = torch.tensor([0.1, 0.2], dtype=torch.float64)
    t = [torch.zeros(2, 3)]
    assert torch.equal(per_tensor(c, t)[0].flatten(), c.float())
    c.mul_(3)
    assert torch.equal(per_tensor(c, t)[0].flatten(), c.float())
    for factor in range(4, 40):  # freed tensors' ids come back: each new value must still be its own
        fresh = torch.tensor([0.1, 0.2], dtype=torch.float64) * factor
        assert torch.equal(per_tensor(fresh, t)[0].flatten(), fresh.float())
        del fresh


def test_a_member_vector_made_under_inference_mode_is_cast_without_a_version():
    """A batched optimizer with a per-member lr built, or stepped with its schedule, under
    torch.inference_mode() raised 'Inference tensors do not track version counter' since its values' casts
    were kept by version (e00d523c). Truth: the same steps taken outside inference mode."""
    from optimlab.optim.shells.batched import BatchedOptimizer

    def stepped(inference: bool, name: str) -> torch.Tensor:
        with torch.inference_mode(inference):
            p = [torch.ones(2, 3)]
            kept = BatchedOptimizer(p, name, members=2, lr=[0.1, 0.3], schedule=lambda step: 0.5)
            for _ in range(2):
                kept.step([torch.full((2, 3), 0.5)])
            return p[0].clone()

    for name in ("momentum", "adam"):
        assert torch.equal(stepped(True, name), stepped(False, name))


@pytest.mark.parametrize(
    ("op", "arity"),
    [(base.scale_, 0), (base.add_scaled_, 1), (base.lerp_, 1), (base.addcmul_, 2), (base.addcdiv_, 2)],
)
def test_a_member_vector_coefficient_equals_one_float_per_member(op, arity):
    generator = torch.Generator().manual_seed(0)
    xs = [torch.rand(K, 4, generator=generator) + 0.5, torch.rand(K, generator=generator) + 0.5]
    others = [[torch.rand_like(x) + 0.5 for x in xs] for _ in range(arity)]
    coefficients = [0.1, 0.5, 0.9]
    batched = [x.clone() for x in xs]
    op(batched, *others, torch.tensor(coefficients))
    for k, c in enumerate(coefficients):
        single = [x[k].clone() for x in xs]
        op(single, *[[o[k] for o in other] for other in others], c)
        for b, s in zip(batched, single):
            assert torch.equal(b[k], s)


# Per-member hyperparameters for the named optimizers whose math uses only coefficient arithmetic.
# RAdam (a branch on rho_t) and schedule-free (a running max of lr) take floats only for now; a member
# with momentum exactly 0 still runs the momentum transform (torch would skip it, and its dampening).
MEMBERS = {
    "sgd": dict(
        lr=[0.1, 0.05, 0.02],
        momentum=[0.9, 0.5, 0.1],
        dampening=[0.1, 0.0, 0.3],
        weight_decay=[0.1, 0.0, 0.2],
    ),
    "rmsprop": dict(
        lr=[0.01, 0.02, 0.03], alpha=[0.9, 0.99, 0.8], eps=[1e-3, 1e-2, 1e-4], momentum=[0.5, 0.1, 0.9]
    ),
    "adagrad": dict(lr=[0.1, 0.2, 0.3], eps=[1e-3, 1e-2, 1e-4], weight_decay=[0.1, 0.0, 0.2]),
    "adadelta": dict(lr=[0.5, 1.0, 0.2], rho=[0.9, 0.8, 0.95], eps=[1e-3, 1e-2, 1e-4]),
    "adam": dict(lr=[0.01, 0.02, 0.03], betas=([0.9, 0.8, 0.5], [0.999, 0.99, 0.9]), eps=[1e-3, 1e-2, 1e-4]),
    "adamw": dict(lr=[0.01, 0.02, 0.03], weight_decay=[0.1, 0.0, 0.3]),
    "amsgrad": dict(lr=[0.01, 0.02, 0.03], betas=([0.9, 0.8, 0.5], [0.999, 0.99, 0.9])),
    "nadam": dict(
        lr=[0.01, 0.02, 0.03], betas=([0.9, 0.8, 0.5], [0.999, 0.99, 0.9]), weight_decay=[0.1, 0.0, 0.3]
    ),
    "adamax": dict(
        lr=[0.01, 0.02, 0.03], betas=([0.9, 0.8, 0.5], [0.999, 0.99, 0.9]), eps=[1e-3, 1e-2, 1e-4]
    ),
    "lion": dict(
        lr=[1e-3, 1e-2, 3e-3], betas=([0.9, 0.8, 0.5], [0.99, 0.9, 0.95]), weight_decay=[0.1, 0.0, 0.3]
    ),
    "adan": dict(
        lr=[0.01, 0.02, 0.03],
        betas=([0.98, 0.9, 0.8], [0.92, 0.9, 0.5], [0.99, 0.9, 0.95]),
        weight_decay=[0.1, 0.0, 0.3],
    ),
}


def member(hp: dict, k: int | None) -> dict:
    """Member k's floats, or (k=None) the (K,) tensors of all members."""
    pick = (lambda v: torch.tensor(v, dtype=torch.float64)) if k is None else (lambda v: v[k])
    return {
        name: tuple(pick(v) for v in value) if isinstance(value, tuple) else pick(value)
        for name, value in hp.items()
    }


def run_functional(
    tx: GradientTransformation, params: list[torch.Tensor], steps: int = 12
) -> list[torch.Tensor]:
    """Descend ``sum(p^4 / 4 - c p)`` (gradient ``p^3 - c``, c along the last dim) with ``tx`` alone."""
    state = tx.init(params)
    for _ in range(steps):
        grads = [p**3 - torch.linspace(-1, 1, p.shape[-1], dtype=p.dtype) for p in params]
        updates, state = tx.update(grads, state, params)
        torch._foreach_add_(params, updates)
    return params


# Where a member's own beta is raised to the step (bias corrections 1 - b^t, their square root), its
# (K,) tensor's power is torch's vectorized pow, which rounds 1 of 232 (beta, t) pairs of this table an
# ulp apart from Python's (libm's) pow that the drop-in's float takes: those chains agree to 1e-10.
POWERS_OF_A_MEMBER_BETA = {"adam", "adan", "amsgrad", "nadam"}


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_per_member_hyperparameters_equal_separate_runs(name):
    """The batched shell's premise: K models stacked on a leading dim, hyperparameters as (K,) tensors,
    bit for bit but for POWERS_OF_A_MEMBER_BETA (a member's rho or alpha went into addcmul as
    ``(y * z) * c``, where a float goes in as torch's one FMA of ``(c * y) * z``: AdaDelta and RMSprop
    were 1e-16 apart)."""
    factory = getattr(optimlab.optim, name)
    generator = torch.Generator().manual_seed(0)
    start = [
        torch.randn(K, 4, 3, generator=generator, dtype=torch.float64),
        torch.randn(K, 3, generator=generator, dtype=torch.float64),
    ]
    batched = run_functional(factory(**member(MEMBERS[name], None)), [p.clone() for p in start])
    for k in range(K):
        single = run_functional(factory(**member(MEMBERS[name], k)), [p[k].clone() for p in start])
        assert not torch.allclose(single[0], start[0][k])
        for b, s in zip(batched, single):
            if name in POWERS_OF_A_MEMBER_BETA:
                torch.testing.assert_close(b[k], s, rtol=1e-10, atol=1e-12)
            else:
                assert torch.equal(b[k], s)


@pytest.mark.parametrize(
    "dtypes",
    [(torch.float32, torch.bfloat16), (torch.bfloat16, torch.float32), (torch.bfloat16, torch.float64)],
    ids=["float32-bfloat16", "bfloat16-float32", "bfloat16-float64"],
)
def test_a_group_of_mixed_dtypes_multiplies_each_tensor_as_torch_does(dtypes):
    """A number multiplied a group's tensors as its first tensor's dtype asked: momentum 0.9 went to
    foreach rounded to bfloat16 after a float32 tensor (0.8984375), and as a float32 tensor to a float64
    one after a bfloat16 tensor. Each tensor is now multiplied by the number as its own dtype computes
    it. The float32/float64 tensor then took the composed chain beside the bfloat16 one (18-34 of 64
    entries off torch: the chain rounds lr * buf before adding it, torch within the add); it now takes
    torch's fused kernel as in a group of its own. Truth: torch.optim.SGD's single-tensor step on the
    same group (``buf.mul_(momentum)``), bit for bit."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(64, generator=generator).to(dtype) for dtype in dtypes]
    gradients = [[torch.randn(64, generator=generator).to(p.dtype) for p in start] for _ in range(6)]

    def run(make):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        optimizer = make(params)
        for step_gradients in gradients:
            for p, g in zip(params, step_gradients):
                p.grad = g.clone()
            optimizer.step()
        return [p.detach() for p in params]

    ours = run(lambda params: optimlab.optim.create("momentum", params, lr=0.1, momentum=0.9))
    torchs = run(lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, foreach=False))
    for mine, theirs in zip(ours, torchs):
        assert mine.dtype == theirs.dtype
        assert torch.equal(mine, theirs)
