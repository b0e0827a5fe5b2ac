"""Noisy quadratic (DeepOBS quadratic_deep): the Hessian's spectrum, the loss and its minimizer."""

import pytest
import torch

import optimlab.data
import optimlab.models
from optimlab.data.noisy_quadratic import deep_learning_hessian
from optimlab.errors import InvalidValueError


def test_hessian_has_90_small_and_10_large_eigenvalues_in_a_rotated_basis():
    hessian = deep_learning_hessian().double()
    assert hessian.shape == (100, 100) and torch.equal(hessian, hessian.T)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert ((eigenvalues[:90] > 0) & (eigenvalues[:90] < 1)).all()
    assert ((eigenvalues[90:] > 30) & (eigenvalues[90:] < 60)).all()
    off_diagonal = hessian - torch.diag(torch.diagonal(hessian))
    assert off_diagonal.norm() > 0.5 * hessian.norm()  # not axis-aligned


def test_the_hessian_is_part_of_the_problem_and_the_seed_draws_the_samples():
    a, b = optimlab.data.load("noisy_quadratic", seed=0), optimlab.data.load("noisy_quadratic", seed=1)
    assert torch.equal(a.loss.hessian, b.loss.hessian)
    assert not torch.equal(a.train.x, b.train.x)
    assert torch.equal(a.train.x, a.train.y)


def test_samples_are_centred_with_the_requested_spread():
    x = optimlab.data.load("noisy_quadratic", n=2000, noise=0.6, val_fraction=0, test_fraction=0).train.x
    assert x.mean().abs().item() < 0.01 and x.std().item() == pytest.approx(0.6, rel=0.02)


def test_loss_and_gradient_are_the_quadratic_form():
    s = optimlab.data.load("noisy_quadratic", n=20)
    theta = torch.randn(100, dtype=torch.float32, requires_grad=True)
    x = s.train.x
    loss = s.loss(theta.expand(len(x), -1), x)
    hessian = s.loss.hessian
    q = theta.detach() - x
    expected = 0.5 * torch.einsum("ni,ij,nj->n", q, hessian, q).mean()
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-4, atol=1e-4)
    loss.backward()
    torch.testing.assert_close(theta.grad, hessian @ (theta.detach() - x.mean(0)), rtol=1e-4, atol=1e-4)


def test_gradient_descent_on_the_parameter_vector_follows_the_closed_form_trajectory():
    s = optimlab.data.load("noisy_quadratic", n=200, val_fraction=0, test_fraction=0)
    model = optimlab.models.create("parameter_vector", s.input_shape, s.num_outputs)
    hessian, mean = s.loss.hessian.double(), s.train.x.double().mean(0)
    step, steps, start = 0.02, 50, torch.ones(100, dtype=torch.float64)  # DeepOBS starts theta at ones
    optimizer = torch.optim.SGD(model.parameters(), lr=step)
    for _ in range(steps):
        optimizer.zero_grad()
        s.loss(model(s.train.x), s.train.y).backward()
        optimizer.step()
    # Full-batch gradient H (theta - mean) gives theta_k - mean = (I - step H)^k (theta_0 - mean).
    contraction = torch.eye(100, dtype=torch.float64) - step * hessian
    expected = mean + torch.linalg.matrix_power(contraction, steps) @ (start - mean)
    torch.testing.assert_close(model.theta.detach().double(), expected, rtol=1e-4, atol=1e-4)
    assert excess(expected, mean, hessian) < 0.1 * excess(start, mean, hessian)  # large curvatures are solved


def excess(theta, minimizer, hessian):
    return 0.5 * (theta - minimizer) @ hessian @ (theta - minimizer)


def test_quadratic_deep_is_deepobs_instance_with_its_published_starting_loss():
    """DeepOBS (Schneider et al. 2019): 0.5 1'H1 = 267.5 and initial test loss 353.9 (theta = ones)."""
    s = optimlab.data.load("quadratic_deep", seed=3)
    hessian = s.loss.hessian.double()
    assert (0.5 * hessian.sum()).item() == pytest.approx(267.53, abs=0.01)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert ((eigenvalues[:90] > 0) & (eigenvalues[:90] < 1)).all()
    assert ((eigenvalues[90:] > 30) & (eigenvalues[90:] < 60)).all()
    assert len(s.train) == len(s.test) == 1000 and torch.equal(s.val.x, s.train.x)
    start = s.loss(torch.ones(1000, 100), s.test.x).item()
    assert start == pytest.approx(353.9, abs=1.0)
    # The noise floor 0.5 E[x'Hx] = 0.5 * 0.6^2 tr(H), DeepOBS's 86.0.
    assert (0.18 * torch.trace(hessian)).item() == pytest.approx(86.0, abs=0.05)


def test_quadratic_deep_data_are_fixed_and_its_splits_cannot_be_resized():
    a, b = optimlab.data.load("quadratic_deep", seed=0), optimlab.data.load("quadratic_deep", seed=1)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.x, b.test.x)
    assert not torch.equal(a.train.x, a.test.x)
    with pytest.raises(InvalidValueError, match="fixed splits"):
        optimlab.data.load("quadratic_deep", val_fraction=0.1)


def test_a_fraction_given_for_fixed_splits_is_refused_naming_that_field_alone(cli):
    """The refusal named all three fractions as one tuple, '(0.2, 0.5, 1.0) for val_fraction, test_fraction,
    data_fraction', where only data.test_fraction was given."""
    code, _, err = cli(
        "train",
        "--dataset",
        "quadratic_deep",
        "--model",
        "parameter_vector",
        "--steps",
        "1",
        "--set",
        "data.test_fraction=0.5",
    )
    assert code == 2
    assert err.strip() == (
        "error: invalid value 0.5 for test_fraction (data.test_fraction in a recipe): accepted its default "
        "0.2: quadratic_deep has fixed splits of its own."
    )
