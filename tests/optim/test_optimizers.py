"""Every named optimizer against its reference, step for step (100 steps, float64, max |dp| <= 1e-6).

torch.optim where torch has the optimizer (hyperparameters chosen to expose eps placement, decay
coupling, dampening, RAdam's switch and AdaDelta's lr; the lr changes mid-run through a torch
scheduler), the authors' packages otherwise, and hand-written transcriptions of the papers.
"""

from __future__ import annotations

import doctest
import importlib
import inspect

import numpy
import pytest
import torch

from optim.problem import max_difference, train
from optimlab.errors import OptimlabError
from optimlab.optim import create, optimizers
from optimlab.registry import Capability, get_registry

TOLERANCE = 1e-6
REGISTRY = get_registry("optimizer")

# name -> (torch class, hyperparameters shared by both sides, torch-only keywords our entry binds)
TORCH_CASES = {
    "sgd": (torch.optim.SGD, dict(lr=0.05, weight_decay=0.1), {}),
    "momentum": (torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.1), {}),
    "nesterov": (torch.optim.SGD, dict(lr=0.05, momentum=0.8, weight_decay=0.1), dict(nesterov=True)),
    "adagrad": (
        torch.optim.Adagrad,
        dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-3, weight_decay=0.1),
        {},
    ),
    "rmsprop": (torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-3, weight_decay=0.1), {}),
    "adadelta": (torch.optim.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-3, weight_decay=0.1), {}),
    "adam": (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1), {}),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1), {}),
    "amsgrad": (torch.optim.Adam, dict(lr=0.01, eps=1e-3, weight_decay=0.1), dict(amsgrad=True)),
    "nadam": (torch.optim.NAdam, dict(lr=0.01, eps=1e-3, weight_decay=0.1, momentum_decay=0.01), {}),
    "radam": (torch.optim.RAdam, dict(lr=0.01, eps=1e-3, weight_decay=0.1), {}),
    "adamax": (torch.optim.Adamax, dict(lr=0.01, eps=1e-3, weight_decay=0.1), {}),
}
# Variants exercising the flags the cases above leave at their defaults.
TORCH_VARIANTS = [
    ("rmsprop", dict(centered=True, momentum=0.5)),
    ("rmsprop", dict(momentum=0.5)),
    ("adam", dict(decoupled_weight_decay=True)),
    ("adam", dict(amsgrad=True, decoupled_weight_decay=True)),
    ("nadam", dict(decoupled_weight_decay=True)),
    ("radam", dict(decoupled_weight_decay=True, betas=(0.9, 0.99))),
]
# Our defaults differ from torch's only where the name asks for it (torch's SGD has momentum 0).
INTENDED_DEFAULT_CHANGES = {"momentum": {"momentum"}, "nesterov": {"momentum"}}
TORCH_NAMES = [e.name for e in REGISTRY if Capability.TORCH_REFERENCE in e.capabilities]


def lr_drop(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60], gamma=0.3)


def compare_with_torch(name: str, extra: dict, *, groups: bool = False, skipping: bool = False) -> None:
    torch_class, shared, bound = TORCH_CASES[name]
    shared = {**shared, **extra}
    ours = train(lambda p: create(name, p, **shared), scheduler=lr_drop, groups=groups, skipping=skipping)
    reference = train(
        lambda p: torch_class(p, **shared, **bound), scheduler=lr_drop, groups=groups, skipping=skipping
    )
    start = train(lambda p: create(name, p, **shared), steps=0)
    assert max_difference(ours, start) > 1e-2  # the run moved, so a small difference means something
    assert max_difference(ours, reference) <= TOLERANCE


def test_every_optimizer_torch_has_gets_a_parity_case():
    missing = sorted(set(TORCH_NAMES) - set(TORCH_CASES))
    assert not missing, f"add a torch parity case to TORCH_CASES for {missing}"


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_matches_torch_step_for_step(name, float64):
    compare_with_torch(name, {})


@pytest.mark.parametrize(
    ("name", "extra"), TORCH_VARIANTS, ids=[f"{n}-{sorted(e)}" for n, e in TORCH_VARIANTS]
)
def test_flag_variants_match_torch(name, extra, float64):
    compare_with_torch(name, extra)


@pytest.mark.parametrize("name", ["momentum", "adam", "adamw", "radam"])
def test_per_group_hyperparameters_match_torch(name, float64):
    compare_with_torch(name, {}, groups=True)


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_numpy_scalar_hyperparameters_are_taken_as_torch_takes_them(name, float64):
    """np.float32(0.01) from array code was refused as not a number; torch's classes take it (betas
    aside), as the number it holds."""
    torch_class, shared, bound = TORCH_CASES[name]
    as_numpy = {k: numpy_scalars(v) for k, v in shared.items()}
    held = {k: tuple(map(float, v)) if isinstance(v, tuple) else v.item() for k, v in as_numpy.items()}
    ours = train(lambda p: create(name, p, **as_numpy), scheduler=lr_drop)
    reference = train(lambda p: torch_class(p, **held, **bound), scheduler=lr_drop)
    assert max_difference(ours, reference) <= TOLERANCE
    defaults = create(name, [torch.zeros(1, requires_grad=True)], **as_numpy).defaults.values()
    stored = [v for value in defaults for v in (value if isinstance(value, tuple) else (value,))]
    assert not any(type(v).__module__ == "numpy" for v in stored)  # Python's numbers, as a recipe's


def numpy_scalars(value):
    """``value``'s numbers as NumPy's float32 scalars (tuples element by element)."""
    if isinstance(value, tuple):
        return tuple(numpy_scalars(v) for v in value)
    if isinstance(value, bool):
        return value
    return numpy.float32(value) if isinstance(value, float) else numpy.int64(value)


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_a_parameter_without_gradient_skips_its_step_and_count_like_torch(name, float64):
    """torch counts steps per parameter (``state[p]["step"]``): bias corrections and lr decays of a
    parameter left without a gradient on some steps go by its own count, not by its neighbours'."""
    compare_with_torch(name, {}, skipping=True)


def complex_run(make_optimizer, steps: int = 30) -> torch.Tensor:
    """A complex weight fitted to complex targets (the loss and gradient of torch's Wirtinger calculus)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, dtype=torch.complex128, generator=generator)
    y = torch.randn(16, 3, dtype=torch.complex128, generator=generator)
    w = torch.nn.Parameter(0.5 * torch.randn(4, 3, dtype=torch.complex128, generator=generator))
    optimizer = make_optimizer([w])
    for _ in range(steps):
        optimizer.zero_grad()
        (x @ w - y).abs().square().mean().backward()
        optimizer.step()
    return w.detach()


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_complex_parameters_step_as_their_real_and_imaginary_parts_like_torch(name):
    """torch steps a complex tensor through torch.view_as_real: Adam's g^2 is re^2 and im^2, not g*g."""
    torch_class, shared, bound = TORCH_CASES[name]
    ours = complex_run(lambda p: create(name, p, **shared))
    reference = complex_run(lambda p: torch_class(p, **shared, **bound))
    assert (ours - complex_run(lambda p: create(name, p, **shared), steps=0)).abs().max() > 1e-2
    assert (ours - reference).abs().max() <= TOLERANCE


@pytest.mark.parametrize(
    "name", [e.name for e in REGISTRY if e.capabilities & {Capability.MATRIX, Capability.FACTORED}]
)
def test_optimizers_that_read_shapes_refuse_complex_parameters(name):
    w = torch.nn.Parameter(torch.zeros(4, 3, dtype=torch.complex64))
    with pytest.raises(OptimlabError, match="complex"):
        create(name, [torch.nn.Parameter(torch.zeros(2)), w])


def embedding_run(make_optimizer, *, sparse: bool, steps: int = 20) -> torch.Tensor:
    """An embedding table of which each step reads three rows, with sparse or dense gradients."""
    table = torch.nn.Embedding(12, 3, sparse=sparse)
    with torch.no_grad():
        table.weight.copy_(torch.randn(12, 3, generator=torch.Generator().manual_seed(0)))
    optimizer = make_optimizer(table.parameters())
    if hasattr(optimizer, "train"):
        optimizer.train()
    for step in range(steps):
        optimizer.zero_grad()
        rows = table(torch.tensor([step % 12, 3 * step % 12, 1]))
        (rows**2 + rows).sum().backward()
        optimizer.step()
    return table.weight.detach()


# torch.optim's classes that take sparse gradients (Adam and the others refuse them).
TORCH_SPARSE = ["sgd", "momentum", "nesterov", "adagrad"]


@pytest.mark.parametrize("name", TORCH_SPARSE)
def test_sparse_gradients_step_like_torch(name, float64):
    torch_class, shared, bound = TORCH_CASES[name]
    shared = {k: v for k, v in shared.items() if k != "weight_decay"}  # torch refuses decay of sparse ones
    ours = embedding_run(lambda p: create(name, p, **shared), sparse=True)
    reference = embedding_run(lambda p: torch_class(p, **shared, **bound), sparse=True)
    assert max_difference([ours], [reference]) <= TOLERANCE


@pytest.mark.parametrize("name", [e.name for e in REGISTRY if Capability.NEEDS_CLOSURE not in e.capabilities])
def test_sparse_gradients_step_as_their_dense_equals(name, float64):
    """A sparse gradient is made dense: the update of ``nn.Embedding(sparse=False)``."""
    ours = embedding_run(lambda p: create(name, p), sparse=True)
    assert max_difference([ours], [embedding_run(lambda p: create(name, p), sparse=False)]) == 0


@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_defaults_equal_torch(name):
    torch_class, _, bound = TORCH_CASES[name]
    torch_defaults = {
        p.name: p.default
        for p in inspect.signature(torch_class.__init__).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    entry = REGISTRY.get(name)
    for h in entry.hyperparameters:
        if h.name not in INTENDED_DEFAULT_CHANGES.get(name, ()):
            assert h.default == torch_defaults[h.name], h.name
    for key, value in {**entry.defaults}.items():
        assert bound.get(key, torch_defaults[key]) == value, key


def test_one_step_of_adam_in_closed_form(float64):
    """An independent truth for the core: the first Adam step is -lr * g / (|g| + eps) per coordinate."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.0]))
    opt = create("adam", [w], lr=0.1, eps=1e-3)
    (w * torch.tensor([3.0, -0.5, 0.0])).sum().backward()
    opt.step()
    g = torch.tensor([3.0, -0.5, 0.0])
    torch.testing.assert_close(w.detach(), torch.tensor([1.0, -2.0, 0.0]) - 0.1 * g / (g.abs() + 1e-3))


# -- optimizers torch does not have: the papers by hand, and the authors' packages -------------------


def hand_lion(params, lr, betas, weight_decay):
    """Chen et al. 2023, Algorithm 2 (the authors' PyTorch form), one tensor at a time."""
    b1, b2 = betas
    momenta = [torch.zeros_like(p) for p in params]

    def step():
        with torch.no_grad():
            for p, m in zip(params, momenta):
                c = m * b1 + p.grad * (1 - b1)
                p.mul_(1 - lr * weight_decay)
                p.sub_(lr * torch.sign(c))
                m.copy_(m * b2 + p.grad * (1 - b2))

    return step


def hand_adan(params, lr, betas, eps, weight_decay, max_grad_norm, no_prox):
    """Xie et al. 2022, Algorithm 1 with the authors' bias corrections, one tensor at a time."""
    b1, b2, b3 = betas
    m = [torch.zeros_like(p) for p in params]
    d = [torch.zeros_like(p) for p in params]
    n = [torch.zeros_like(p) for p in params]
    previous: list[torch.Tensor] = []
    t = 0

    def step():
        nonlocal t, previous
        t += 1
        with torch.no_grad():
            grads = [p.grad.clone() for p in params]
            if max_grad_norm > 0:
                norm = torch.sqrt(sum((g**2).sum() for g in grads))
                grads = [g * min(1.0, float(max_grad_norm / (norm + eps))) for g in grads]
            if t == 1:
                previous = [g.clone() for g in grads]
            for i, (p, g) in enumerate(zip(params, grads)):
                diff = g - previous[i]
                m[i] = b1 * m[i] + (1 - b1) * g
                d[i] = b2 * d[i] + (1 - b2) * diff
                n[i] = b3 * n[i] + (1 - b3) * (g + b2 * diff) ** 2
                den = torch.sqrt(n[i] / (1 - b3**t)) + eps
                s = m[i] / (1 - b1**t) / den + b2 * d[i] / (1 - b2**t) / den
                if no_prox:
                    p.copy_(p * (1 - lr * weight_decay) - lr * s)
                else:
                    p.copy_((p - lr * s) / (1 + lr * weight_decay))
            previous = grads

    return step


class HandOptimizer(torch.optim.Optimizer):
    """Just enough of torch.optim.Optimizer to run a hand-written step in :func:`train`."""

    def __init__(self, params, make_step, **hyperparameters):
        super().__init__(params, {})
        self._step = make_step(self.param_groups[0]["params"], **hyperparameters)

    def step(self, closure=None):
        self._step()


LION = dict(lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)


def test_lion_matches_the_paper(float64):
    ours = train(lambda p: create("lion", p, **LION))
    assert max_difference(ours, train(lambda p: create("lion", p, **LION), steps=0)) > 1e-2
    assert max_difference(ours, train(lambda p: HandOptimizer(p, hand_lion, **LION))) <= TOLERANCE


def test_lion_matches_lion_pytorch(float64):
    lion_pytorch = pytest.importorskip("lion_pytorch")
    ours = train(lambda p: create("lion", p, **LION))
    assert max_difference(ours, train(lambda p: lion_pytorch.Lion(p, **LION))) <= TOLERANCE


@pytest.mark.parametrize("no_prox", [False, True])
@pytest.mark.parametrize("max_grad_norm", [0.0, 0.5])
def test_adan_matches_the_authors_algorithm(no_prox, max_grad_norm, float64):
    hp = dict(
        lr=0.01,
        betas=(0.9, 0.8, 0.95),
        eps=1e-3,
        weight_decay=0.1,
        max_grad_norm=max_grad_norm,
        no_prox=no_prox,
    )
    ours = train(lambda p: create("adan", p, **hp))
    assert max_difference(ours, train(lambda p: create("adan", p, **hp), steps=0)) > 1e-2
    assert max_difference(ours, train(lambda p: HandOptimizer(p, hand_adan, **hp))) <= TOLERANCE


SCHEDULE_FREE = {
    "schedule_free_sgd": ("SGDScheduleFree", dict(lr=0.1, momentum=0.8)),
    "schedule_free_adamw": ("AdamWScheduleFree", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-3)),
}


@pytest.mark.parametrize("r", [0.0, 1.0])
@pytest.mark.parametrize("name", sorted(SCHEDULE_FREE))
def test_schedule_free_matches_schedulefree_in_both_modes(name, r, float64):
    schedulefree = pytest.importorskip("schedulefree")
    class_name, hp = SCHEDULE_FREE[name]
    hp = {**hp, "weight_decay": 0.01, "warmup_steps": 10, "r": r}
    runs = {}
    for label, make in [
        ("ours", lambda p: create(name, p, **hp)),
        ("reference", lambda p: getattr(schedulefree, class_name)(p, **hp)),
    ]:
        params = [torch.nn.Parameter(t) for t in train(make, steps=0)]
        holder = {}

        def build(spec, make=make, holder=holder):
            holder["opt"] = make(spec)
            holder["opt"].train()
            return holder["opt"]

        y = train(build, params=params)
        holder["opt"].eval()
        runs[label] = (y, [p.detach().clone() for p in params])
    (y_ours, x_ours), (y_ref, x_ref) = runs["ours"], runs["reference"]
    assert max_difference(x_ours, y_ours) > 1e-3  # the two points differ, so comparing both means something
    assert max_difference(y_ours, y_ref) <= TOLERANCE
    assert max_difference(x_ours, x_ref) <= TOLERANCE


@pytest.mark.parametrize("module", ["optimlab.optim", *(m.__name__ for m in optimizers.MODULES.values())])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted > 0
