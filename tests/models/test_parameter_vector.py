"""The parameter-vector model: theta for every input, whatever the input."""

import pytest
import torch

import optimlab.models
from optimlab.errors import InvalidValueError


def test_output_is_theta_for_every_example_and_ignores_the_input():
    model = optimlab.models.create("parameter_vector", (100,), 100)
    assert torch.equal(model.theta.detach(), torch.ones(100))  # DeepOBS starts at ones
    a, b = model(torch.randn(3, 100)), model(torch.zeros(3, 100))
    assert torch.equal(a, b) and a.shape == (3, 100)


def test_gradient_sums_the_upstream_gradient_over_the_batch():
    model = optimlab.models.create("parameter_vector", (4,), 4, init_value=0.5)
    upstream = torch.randn(6, 4)
    (model(torch.zeros(6, 4)) * upstream).sum().backward()
    torch.testing.assert_close(model.theta.grad, upstream.sum(dim=0))


@pytest.mark.parametrize("value", ["0.5", "x", [1.0], float("nan")])
def test_init_value_must_be_a_finite_number(value):
    # "0.5" was turned into 0.5 by float() and "x" raised ValueError from inside the model.
    with pytest.raises(InvalidValueError, match="'init_value'.*accepted a number"):
        optimlab.models.create("parameter_vector", (4,), 4, init_value=value)
