"""K stacked members in one forward: each member's output and gradient equal its own model's."""

import pytest
import torch
from torch import nn
from torch.func import stack_module_state

import optimlab.models
from optimlab.models.stacked import by_matrix_products, stacked_forward
from optimlab.techniques.scaling import create as create_scaler

K = 3


def members(build, seeds=range(K)):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build().double())
    return models


def mlp(**options):
    return lambda: optimlab.models.create("mlp", (6,), 4, width=5, **options)


def scaled_mlp(fit_seed=None, name="standardize"):
    """An MLP behind a scaler ``name`` fitted on data of ``fit_seed`` (the member's seed if None)."""

    def build():
        seed = torch.initial_seed() if fit_seed is None else fit_seed
        data = torch.randn(20, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 3 + 1
        scaler = create_scaler(name).fit(data)
        return nn.Sequential(scaler, optimlab.models.create("mlp", (6,), 4, width=5).double())

    return build


CASES = {
    "mlp relu": (mlp(), (6,), True),
    "mlp gelu depth 3": (mlp(activation="gelu", depth=3), (6,), True),
    "linear model": (mlp(depth=0), (6,), True),
    "mlp on images": (
        lambda: optimlab.models.create("mlp", (2, 3), 4, width=5, activation="tanh"),
        (2, 3),
        True,
    ),
    "no bias, sequence of tokens": (
        lambda: nn.Sequential(nn.Linear(6, 5, bias=False), nn.SiLU()),
        (7, 6),
        True,
    ),
    "shared scaler": (scaled_mlp(fit_seed=0), (6,), True),
    "a scaler each": (scaled_mlp(), (6,), True),
    "no scaling (0-dim statistics)": (scaled_mlp(name="none"), (6,), True),
    "min-max scaling each": (scaled_mlp(name="minmax"), (6,), True),
    "layer norm (vmap)": (mlp(norm="layer"), (6,), False),
    "prelu (vmap)": (mlp(activation="prelu"), (6,), False),
    "cnn (vmap)": (lambda: optimlab.models.create("cnn", (1, 8, 8), 4, width=2, depth=1), (1, 8, 8), False),
}


@pytest.mark.parametrize("shared", [True, False], ids=["shared batch", "a batch each"])
@pytest.mark.parametrize("case", CASES)
def test_each_member_gets_its_own_models_output_and_gradient(case, shared):
    build, shape, matmul = CASES[case]
    models = members(build)
    template = models[0]
    assert by_matrix_products(template) is matmul
    params, buffers = stack_module_state(models)
    params = {n: p.detach().requires_grad_() for n, p in params.items()}
    x = (
        torch.randn(4, *shape, dtype=torch.float64)
        if shared
        else torch.randn(K, 4, *shape, dtype=torch.float64)
    )
    out = stacked_forward(template, K, shared_input=shared)(params, buffers, x)
    grads = torch.autograd.grad(out.pow(2).sum(), list(params.values()))
    for k, model in enumerate(models):
        xk = x if shared else x[k]
        expected = model(xk)
        torch.testing.assert_close(out[k], expected, rtol=1e-12, atol=1e-12)
        member_grads = torch.autograd.grad(expected.pow(2).sum(), list(model.parameters()))
        for got, want in zip(grads, member_grads):
            torch.testing.assert_close(got[k], want, rtol=1e-12, atol=1e-12)
    if matmul:  # the optimizers' fused kernels index a gradient like its parameter: contiguous
        assert all(g.is_contiguous() for g in grads)


def test_a_model_without_parameters_still_gives_one_output_per_member():
    forward = stacked_forward(nn.Sequential(nn.Flatten(), nn.ReLU()), K, shared_input=True)
    x = torch.randn(4, 2, 3)
    assert torch.equal(forward({}, {}, x), x.flatten(1).relu().expand(K, 4, 6))


@pytest.mark.parametrize("shared", [True, False], ids=["shared targets", "targets each"])
@pytest.mark.parametrize(
    "loss",
    [nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=2), nn.MSELoss()],
    ids=["cross entropy", "smoothed, a class ignored", "mse (vmap)"],
)
def test_each_members_loss_is_its_own(loss, shared):
    from optimlab.models.stacked import stacked_loss

    outputs = torch.randn(K, 6, 4, dtype=torch.float64)
    if isinstance(loss, nn.MSELoss):
        targets = (
            torch.randn(6, 4, dtype=torch.float64) if shared else torch.randn(K, 6, 4, dtype=torch.float64)
        )
    else:
        targets = torch.randint(0, 4, (6,) if shared else (K, 6))
    got = stacked_loss(loss, shared_targets=shared)(outputs, targets)
    want = torch.stack([loss(outputs[k], targets if shared else targets[k]) for k in range(K)])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
