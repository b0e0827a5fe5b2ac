"""The user's own model: what check_model refuses, in one line."""

import pytest
import torch
from torch import nn

from optimlab.errors import InvalidValueError
from optimlab.models.user import check_model


@pytest.mark.parametrize("bias", [False, True])
def test_a_model_on_the_meta_device_is_told_its_parameters_counted_and_named(bias):
    """nn.Linear(2, 2, bias=False) on meta was 'a Linear with 1 parameters on the meta device (weight,
    ...)': a plural of one, and a '...' after the only name. Truth: the module's named_parameters."""
    model = nn.Linear(2, 2, bias=bias, device="meta")
    names = [name for name, _ in model.named_parameters()]
    with pytest.raises(InvalidValueError) as refused:
        check_model(model)
    said = {1: "1 parameter on the meta device (weight)", 2: "2 parameters on the meta device (weight, bias)"}
    assert f"a Linear with {said[len(names)]}'" in str(refused.value)
    check_model(model.to_empty(device="cpu"))  # materialized: taken
    assert isinstance(model.weight, torch.Tensor) and not model.weight.is_meta
