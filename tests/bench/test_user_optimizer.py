"""A user's optimizer by import path: a torch.optim class or a transform factory, run like a built-in."""

import textwrap

import pytest
import torch

from optimlab.errors import OptimlabError
from optimlab.optim import create
from optimlab.optim.user import load_optimizer
from optimlab.registry import get_registry
from optimlab.study.protocols import lr_range
from optimlab.user_code import is_import_path

USER_MODULE = '''
import torch
from optimlab.optim import GradientTransformation, chain, scale_by_learning_rate
from optimlab.optim.base import EmptyState


class SignSGD(torch.optim.Optimizer):
    """Steps by the sign of the gradient."""

    def __init__(self, params, lr=0.01):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad.sign(), alpha=-group["lr"])


def scale_by_sign():
    return GradientTransformation(lambda params: EmptyState(), lambda updates, state, params: ([u.sign() for u in updates], state))


def sign_chain(*, lr=0.01):
    """Sign descent as optimlab transforms."""
    return chain(scale_by_sign(), scale_by_learning_rate(lr))


class NeedsLr(torch.optim.Optimizer):
    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})


class NoLr(torch.optim.Optimizer):
    def __init__(self, params, beta=0.9):
        super().__init__(params, {"beta": beta})


NOT_AN_OPTIMIZER = 3


def returns_a_tensor(*, lr=0.1):
    return torch.zeros(1)
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_opts.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_opts"


def _train(optimizer_factory, steps=8):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    optimizer = optimizer_factory(model.parameters())
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 3, gamma=0.5)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        scheduler.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_a_torch_optimizer_by_path_steps_exactly_as_itself_under_a_schedule():
    name = load_optimizer("torch.optim:SGD")
    assert (
        name == "torch.optim:SGD" and load_optimizer("torch.optim:SGD") == name
    )  # loading again: the same entry
    ours = _train(lambda params: create(name, params, lr=0.1, momentum=0.9, nesterov=True))
    theirs = _train(lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    entry = get_registry("optimizer").get(name)
    assert {"lr", "momentum", "nesterov", "weight_decay"} <= set(entry.hyperparameter_names)
    assert lr_range(name) == (1e-4, 1.0)  # measured like the built-in SGD family


def test_a_user_class_and_a_transform_factory_agree_with_a_hand_written_sign_step(user_module):
    by_class, by_chain = load_optimizer(f"{user_module}:SignSGD"), load_optimizer(f"{user_module}:sign_chain")
    start = _train(lambda params: torch.optim.SGD(params, lr=0.0), steps=0)
    for name in (by_class, by_chain):
        after_one = _train(lambda params, name=name: create(name, params, lr=0.01), steps=1)
        assert torch.allclose(
            (start - after_one).abs(), torch.full_like(start, 0.01)
        )  # |step| = lr everywhere
    torch.testing.assert_close(
        _train(lambda p: create(by_class, p, lr=0.05)), _train(lambda p: create(by_chain, p, lr=0.05))
    )
    assert get_registry("optimizer").get(by_class).summary == "Steps by the sign of the gradient."


@pytest.mark.parametrize(
    "attribute, message",
    [
        ("NeedsLr", "argument 'lr' has no default"),
        ("NoLr", "takes no 'lr' keyword: optimlab sets and tunes the learning rate"),
        ("NOT_AN_OPTIMIZER", "is an int"),  # was "a int"
        ("returns_a_tensor", "returned Tensor, not a GradientTransformation"),
        ("Missing", "has no 'Missing'"),
    ],
)
def test_what_cannot_be_benchmarked_is_refused_with_the_fix(user_module, attribute, message):
    with pytest.raises(OptimlabError, match=message):
        load_optimizer(f"{user_module}:{attribute}")


def test_paths_that_do_not_import_say_so():
    assert is_import_path("a.b:C") and not is_import_path("adam") and not is_import_path(":C")
    with pytest.raises(OptimlabError, match="cannot import 'no_such_package_xyz.mod'"):
        load_optimizer("no_such_package_xyz.mod:Opt")
    with pytest.raises(OptimlabError, match="package.module:attribute"):
        load_optimizer("not_a_path")
