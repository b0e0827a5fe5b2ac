"""Fixtures of the optim tests."""

import pytest
import torch


@pytest.fixture
def float64():
    """torch's own scalar state (``step``, NAdam's ``mu_product``) follows the default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
