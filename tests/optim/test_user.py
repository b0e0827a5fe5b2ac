"""A torch optimizer named by its import path, run through the drop-in, against the class itself."""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import re
import sys

import pytest
import torch

from optim.problem import initial_parameters, loss, max_difference, train
from optimlab.errors import OptimlabError
from optimlab.optim import create, validate
from optimlab.optim.user import load_optimizer, torch_optimizer_transform
from optimlab.registry import get_registry


@pytest.mark.parametrize("path", ["torch.optim:Adam", "torch.optim:SGD"])
def test_a_torch_optimizer_by_path_steps_parameters_without_gradients_like_itself(path, float64):
    """A parameter that gets its first gradient late is stepped too (it was left to its first value)."""
    torch_class = getattr(torch.optim, path.split(":")[1])
    name = load_optimizer(path)
    ours = train(lambda p: create(name, p, lr=0.01), steps=30, skipping=True)
    reference = train(lambda p: torch_class(p, lr=0.01), steps=30, skipping=True)
    assert max_difference(ours, reference) <= 1e-12


@pytest.mark.parametrize("path", ["torch.optim:Adam", "torch.optim:SGD"])
@pytest.mark.parametrize("maximize", [True, False])
def test_a_torch_optimizer_by_path_ascends_under_maximize_as_itself(path, maximize, float64):
    """maximize=True descended: the shell negated the gradients and handed maximize on to the torch class,
    which negated them again (torch.optim:SGD at lr 0.1 on a gradient of 1 moved -0.1, torch's +0.1)."""
    torch_class = getattr(torch.optim, path.split(":")[1])
    name = load_optimizer(path)
    ours = train(lambda p: create(name, p, lr=0.01, weight_decay=0.1, maximize=maximize), steps=30)
    reference = train(lambda p: torch_class(p, lr=0.01, weight_decay=0.1, maximize=maximize), steps=30)
    start = train(lambda p: torch_class(p, lr=0.01), steps=0)
    assert max_difference(reference, start) > 1e-2  # the run moved, so a small difference means something
    assert max_difference(ours, reference) <= 1e-12


def test_fused_given_to_a_torch_optimizer_by_path_runs_its_fused_kernel(float64, monkeypatch):
    """``create("torch.optim:Adam", p, fused=True)`` was silently dropped: the shell took fused as its own
    (which compiles no wrapped class) and torch's Adam got its default. fused is the class's own switch:
    torch's fused Adam kernel runs at each step, and the weights end where torch's Adam(fused=True) ends."""
    kernel_calls = []
    adam_module = importlib.import_module("torch.optim.adam")  # torch.optim.adam is the function
    fused_adam = adam_module._fused_adam

    def counted(*args, **kwargs):
        kernel_calls.append(1)
        return fused_adam(*args, **kwargs)

    monkeypatch.setattr(adam_module, "_fused_adam", counted)
    name = load_optimizer("torch.optim:Adam")
    ours = train(lambda p: create(name, p, lr=0.01, fused=True), steps=10)
    assert len(kernel_calls) == 10
    reference = train(lambda p: torch.optim.Adam(p, lr=0.01, fused=True), steps=10)
    assert max_difference(ours, reference) <= 1e-12
    assert max_difference(reference, train(lambda p: torch.optim.Adam(p, lr=0.01), steps=0)) > 1e-2


SGD_CALLS: list[dict] = []


def counted_sgd(params, lr=0.01, momentum=0.0, nesterov=False):
    """torch's SGD from the user's code, each call counted."""
    SGD_CALLS.append({"momentum": momentum, "nesterov": nesterov})
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov)


def test_values_a_torch_optim_class_by_path_refuses_together_are_refused_before_the_run(cli, tmp_path):
    """``--optimizer torch.optim:SGD`` with nesterov and momentum 0 passed the recipe check, and the run
    failed after it had started; it is refused before, exit 2, one line naming the values and torch's
    reason, nothing written. Truth: torch's SGD refuses them. The user's own code (a factory here) is
    still first called when the run builds it, never at validation."""
    from optimlab.optim import validate

    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum") as by_torch:
        torch.optim.SGD([torch.zeros(1)], lr=0.1, momentum=0.0, nesterov=True)
    out = tmp_path / "run"
    code, _, err = cli("train", "--dataset", "digits", "--optimizer", "torch.optim:SGD",
                       "--set", "optimizer.options.nesterov=true", "--set", "optimizer.options.momentum=0",
                       "--out", str(out), "--no-progress")  # fmt: skip
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "optimizer 'torch.optim:SGD' with nesterov=True, momentum=0" in err
    assert str(by_torch.value) in err
    assert not out.exists()
    validate(load_optimizer("torch.optim:SGD"), {"momentum": 0.9, "nesterov": True})  # together: taken
    SGD_CALLS.clear()
    validate(load_optimizer(f"{__name__}:counted_sgd"), {"nesterov": True})
    assert SGD_CALLS == []


def test_a_torch_optim_class_by_path_is_checked_without_torch_s_compiler(monkeypatch):
    """Validating ``torch.optim:Adam``'s keywords built the class, whose add_param_group (torch's
    ``_disable_dynamo``) imported torch's compiler, seconds of a cold process, before a run that may still
    be refused. With torch._dynamo unimportable (and torch's cache of it cleared) the check still takes
    what torch's Adam takes and refuses what it refuses, in torch's words."""
    plain = inspect.unwrap(torch.optim.Optimizer.add_param_group)
    monkeypatch.delattr(plain, "__dynamo_disable", raising=False)
    monkeypatch.setitem(sys.modules, "torch._dynamo", None)  # an import of it raises ImportError
    with pytest.raises(ImportError):
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the cost that is avoided
    name = load_optimizer("torch.optim:Adam")
    validate(name, {"lr": 0.1, "betas": (0.8, 0.9)})
    with pytest.raises(ValueError) as by_torch:
        torch.optim.Adam([torch.zeros(1)], betas=(1.5, 0.9))
    with pytest.raises(OptimlabError, match=re.escape(str(by_torch.value))):
        validate(name, {"betas": (1.5, 0.9)})


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("torch.optim:Adam", {"lr": -1.0}),
        ("torch.optim:Adam", {"betas": (1.5, 0.9)}),
        ("torch.optim:SGD", {"nesterov": True}),
    ],
)
def test_create_refuses_what_the_torch_class_by_path_refuses_as_torch_does_at_construction(path, values):
    """optimlab.optim.create('torch.optim:Adam', params, lr=-1) returned an optimizer and was refused only
    at its first step, where torch's Adam(lr=-1) and optim.validate refuse it at once: refused in create,
    one line naming the values and torch's own reason (the truth: torch's constructor's ValueError)."""
    torch_class = getattr(torch.optim, path.split(":")[1])
    with pytest.raises(ValueError) as by_torch:
        torch_class([torch.zeros(1, requires_grad=True)], **values)
    with pytest.raises(OptimlabError) as ours:
        create(load_optimizer(path), [torch.zeros(2, requires_grad=True)], **values)
    assert str(by_torch.value) in str(ours.value) and "\n" not in str(ours.value)


@pytest.mark.parametrize("path", ["torch.optim:Adamax", "torch.optim:RAdam", "torch.optim:NAdam"])
def test_the_shells_fused_given_to_a_torch_class_by_path_without_one_is_the_shells(path, float64):
    """create('torch.optim:Adamax', params, fused=False) was refused ('Adamax.__init__() got an unexpected
    keyword argument fused'): the construction check handed the shell's own keyword to a class that has
    none, and validate refused it as an unknown hyperparameter. Both take it, and the run is the class's."""
    torch_class = getattr(torch.optim, path.split(":")[1])
    name = load_optimizer(path)
    validate(name, {"lr": 0.01, "fused": False})
    validate("sam", {"base": name, "lr": 0.01, "fused": False})
    ours = train(lambda p: create(name, p, lr=0.01, fused=False), steps=5)
    reference = train(lambda p: torch_class(p, lr=0.01), steps=5)
    assert max_difference(ours, reference) <= 1e-12
    with pytest.raises(OptimlabError, match="'no' for fused: accepted None, True or False"):
        validate(name, {"fused": "no"})


def test_validate_takes_the_shells_keywords_as_create_does():
    """validate('adam', {'fused': False}) was refused as an unknown hyperparameter, which create takes."""
    params = [torch.zeros(2, requires_grad=True)]
    for values in ({"fused": False}, {"maximize": True}):
        create("adam", params, **values)
        validate("adam", values)
    for values in ({"fused": "no"}, {"maximize": "no"}):
        refusal = f"'no' for {next(iter(values))}: accepted"
        with pytest.raises(OptimlabError, match=refusal):
            create("adam", params, **values)
        with pytest.raises(OptimlabError, match=refusal):
            validate("adam", values)


def resumed_run(make_optimizer, stop: int, steps: int = 30) -> list[torch.Tensor]:
    """``train``'s skipping run, its optimizer saved at ``stop`` to a buffer, read back with
    ``torch.load(weights_only=True)`` (as a checkpoint is) into a new one over new parameters, which ends
    it."""
    first = [torch.nn.Parameter(p) for p in train(make_optimizer, steps=0)]
    holder = {}

    def keep(spec):
        holder["optimizer"] = make_optimizer(spec)
        return holder["optimizer"]

    train(keep, steps=stop, params=first, skipping=True)
    buffer = io.BytesIO()
    torch.save({"optimizer": holder["optimizer"].state_dict(), "params": [p.detach() for p in first]}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    params = [torch.nn.Parameter(p.clone()) for p in saved["params"]]

    def resume(spec):
        optimizer = make_optimizer(spec)
        optimizer.load_state_dict(saved["optimizer"])
        return optimizer

    # The rest of the skipping run: steps stop..steps-1 (train counts from 0, so shift by stop).
    optimizer = resume(params)
    for step in range(stop, steps):
        optimizer.zero_grad()
        loss(params).backward()
        if step % 3 == 1:
            params[0].grad = None
        if step < 10:
            params[-1].grad = None
        optimizer.step()
    return [p.detach() for p in params]


class GroupCountedMomentum(torch.optim.Optimizer):
    """Bias-corrected momentum counting its steps per param group, as user code (and the authors' Adan)
    may: ``b <- mu b + g``, ``p <- p - lr b (1 - mu) / (1 - mu^t)``, ``t`` in ``group["step"]``, a value a
    state dict copies (a per-parameter state it shares)."""

    def __init__(self, params, lr=0.01, momentum=0.9):
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            group["step"] = t = group.get("step", 0) + 1
            mu = group["momentum"]
            for p in (p for p in group["params"] if p.grad is not None):
                state = self.state[p]
                state["buffer"] = mu * state.get("buffer", torch.zeros_like(p)) + p.grad
                p.sub_(group["lr"] * (1 - mu) / (1 - mu**t) * state["buffer"])


# path -> (the class itself, run without optimlab; its hyperparameters)
RESUMED = {
    "torch.optim:Adam": (torch.optim.Adam, {"lr": 0.01}),
    "torch.optim:SGD": (torch.optim.SGD, {"lr": 0.01, "momentum": 0.9}),
    f"{__name__}:GroupCountedMomentum": (GroupCountedMomentum, {"lr": 0.01, "momentum": 0.9}),
}


@pytest.mark.parametrize("path", sorted(RESUMED))
@pytest.mark.parametrize(
    "stop",
    [7, 11, 13],
    ids=["a-late-parameter-not-started", "saved-after-a-step-without-w1", "w1-without-gradient"],
)
def test_a_torch_optimizer_by_path_resumes_from_a_weights_only_checkpoint(path, stop, float64):
    """Its state held the wrapped torch optimizer object, which torch.load(weights_only=True) refuses: a
    run of optimizer: torch.optim:Adam could not resume, its checkpoint reported as damaged. The state now
    holds the wrapped optimizer's state dict, and the run ends where an uninterrupted one does, and where
    the class itself ends (a late parameter joins the wrapped optimizer, which counts a group's steps)."""
    itself, hyperparameters = RESUMED[path]
    name = load_optimizer(path)
    resumed = resumed_run(lambda p: create(name, p, **hyperparameters), stop)
    uninterrupted = train(lambda p: create(name, p, **hyperparameters), steps=30, skipping=True)
    assert max_difference(resumed, uninterrupted) <= 1e-12
    reference = train(lambda p: itself(p, **hyperparameters), steps=30, skipping=True)
    assert max_difference(uninterrupted, reference) <= 1e-12


class CountedAdam(torch.optim.Adam):
    """torch's Adam counting the state dicts taken of it."""

    taken = 0

    def state_dict(self):
        CountedAdam.taken += 1
        return super().state_dict()


def test_a_torch_optimizer_by_path_takes_its_state_dict_when_saved_not_at_each_update(float64):
    """Its state dict was taken at every update (13 us beside Adam's 0.9 ms step), in case a shell saved;
    now once each time the state is saved, and the saved state is the one of that moment."""
    name = load_optimizer(f"{__name__}:CountedAdam")
    holder = {}

    def keep(params):
        holder["optimizer"] = create(name, params, lr=0.01)
        return holder["optimizer"]

    CountedAdam.taken = 0
    train(keep, steps=20)
    assert CountedAdam.taken == 0
    saved = holder["optimizer"].state_dict()
    assert CountedAdam.taken == 1
    (wrapped,) = {entry["saved"]["state"]["state"][0]["step"].item() for entry in saved["state"].values()}
    assert wrapped == 20


# which parameters get a gradient at each step: all; w1 and b1 twice; w2 alone; all
LAGGING = [(0, 1, 2, 3), (0, 1), (0, 1), (2,), (0, 1, 2, 3), (0, 1, 2, 3)]


def lagging_run(make_optimizer, stop: int | None = None) -> list[torch.Tensor]:
    """The steps of :data:`LAGGING`, the optimizer saved before step ``stop`` and read back into a new
    one over new parameters (weights only), which goes on."""
    params = [torch.nn.Parameter(p) for p in train(make_optimizer, steps=0)]
    optimizer = make_optimizer(params)
    for step, having in enumerate(LAGGING):
        if step == stop:
            buffer = io.BytesIO()
            torch.save(optimizer.state_dict(), buffer)
            buffer.seek(0)
            params = [torch.nn.Parameter(p.detach().clone()) for p in params]
            optimizer = make_optimizer(params)
            optimizer.load_state_dict(torch.load(buffer, weights_only=True))
        optimizer.zero_grad()
        loss(params).backward()
        for i, p in enumerate(params):
            if i not in having:
                p.grad = None
        optimizer.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize("path", sorted(RESUMED))
def test_a_torch_optimizer_by_path_resumes_after_a_step_of_parameters_that_had_missed_the_last(path, float64):
    """Each parameter's saved state was labelled with one more than its own last label: w2, stepped
    alone after missing two steps, got a lower label than w1's older state, which a load took, so a
    group's step count (GroupCountedMomentum) went back two steps and the resumed run ended elsewhere."""
    itself, hyperparameters = RESUMED[path]
    name = load_optimizer(path)
    resumed = lagging_run(lambda p: create(name, p, **hyperparameters), stop=4)
    uninterrupted = lagging_run(lambda p: create(name, p, **hyperparameters))
    assert max_difference(resumed, uninterrupted) == 0
    assert max_difference(uninterrupted, lagging_run(lambda p: itself(p, **hyperparameters))) <= 1e-12


def test_a_torch_optimizer_whose_step_needs_a_closure_is_refused_by_path_and_trained_by_fit(cli, tmp_path):
    """torch.optim:LBFGS by path was wrapped as a transform that steps on gradients already taken, and
    failed at its first step with TypeError 'step() missing ... closure'. It is refused in one line
    naming the way that works, and that way (fit, which gives it a closure) lowers the loss as torch's
    own loop with a closure does."""
    from optimlab.errors import InvalidValueError
    from optimlab.train import fit

    with pytest.raises(InvalidValueError, match="closure; in Python, optimlab.fit"):
        load_optimizer("torch.optim:LBFGS")
    code, _, err = cli("train", "--dataset", "iris", "--optimizer", "torch.optim:LBFGS", "--steps", "2",
                       "--out", str(tmp_path / "r"), "--no-progress")  # fmt: skip
    assert code == 2 and len(err.splitlines()) == 1 and "optimlab.fit" in err
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    losses, weights = [], []
    for by_fit in (True, False):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 1)
        optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5)
        if by_fit:
            fit(model, optimizer, x, y, loss_fn=torch.nn.MSELoss(), total_steps=3, batch_size=64)
        else:
            _lbfgs_by_hand(model, optimizer, x, y, steps=3)
        losses.append(torch.nn.functional.mse_loss(model(x), y).item())
        weights.append(model.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], atol=1e-5, rtol=0)
    assert max(losses) < 1e-6  # from about 5 at the initial weights


def _lbfgs_by_hand(model, optimizer, x, y, steps: int) -> None:
    """torch's documented loop for LBFGS: a closure that evaluates the loss and its gradient."""

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    for _ in range(steps):
        optimizer.step(closure)


def fixed_betas(params, lr=0.01, weight_decay=0.1):
    """AdamW with the betas fixed, as a user's factory builds it (GPT training's 0.95)."""
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)


def halved(params, lr=0.01, decay=0.1):
    """A factory mapping its keywords: the optimizer's lr is half its own, its weight decay named apart."""
    return torch.optim.AdamW(params, lr=lr / 2, betas=(0.8, 0.9), weight_decay=decay)


def by_ndim(params, lr=0.01, weight_decay=0.1):
    """The usual AdamW recipe: weight decay on matrices only, the biases and norms at a tenth of the lr."""
    params = list(params)
    return torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": 0.001},
        ],
        lr=lr,
        weight_decay=weight_decay,
    )


class NoDecayOnBiases(torch.optim.AdamW):
    """A subclass splitting its parameters: weight decay on matrices only."""

    def __init__(self, params, lr=0.01, weight_decay=0.1):
        params = list(params)
        groups = [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
        super().__init__(groups, lr=lr, weight_decay=weight_decay)


def missing_biases(params, lr=0.01):
    """Leaves the biases out."""
    return torch.optim.AdamW([p for p in params if p.ndim > 1], lr=lr)


def lbfgs(params, lr=1.0):
    return torch.optim.LBFGS(params, lr=lr)


partial_lbfgs = functools.partial(torch.optim.LBFGS, history_size=5)


def not_an_optimizer(params, lr=0.01):
    return {"params": params, "lr": lr}


# a partial's keyword is a default of its signature, so a hyperparameter like the others
partial_adamw = functools.partial(torch.optim.AdamW, betas=(0.9, 0.95))

FACTORIES = {f"{__name__}:{name}": globals()[name] for name in ("fixed_betas", "halved", "partial_adamw")}


@pytest.mark.parametrize("path", sorted(FACTORIES))
def test_a_factory_of_a_torch_optimizer_steps_as_the_optimizer_it_builds(path, float64):
    """A factory ``def make(params, lr=..., weight_decay=...)`` returning a torch optimizer was refused
    ("argument 'params' has no default ... give each argument a default", which cannot work). It is
    wrapped as a subclass is: its keywords are the hyperparameters, what it fixes (betas) stays, and what
    it maps (half the lr) is mapped at each value a schedule gives; the weights end where the hand loop
    with the factory's own optimizer ends, with a parameter skipped, under a schedule."""
    make = FACTORIES[path]
    name = load_optimizer(path)
    entry = get_registry("optimizer").get(name)
    assert set(entry.hyperparameter_names) == set(list(inspect.signature(make).parameters)[1:])
    halving = lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 5, gamma=0.5)  # noqa: E731
    ours = train(lambda p: create(name, p, lr=0.02), steps=30, skipping=True, scheduler=halving)
    reference = train(lambda p: make(p, lr=0.02), steps=30, skipping=True, scheduler=halving)
    assert max_difference(ours, reference) <= 1e-12
    assert max_difference(ours, train(lambda p: make(p, lr=0.02), steps=30, skipping=True)) > 1e-3


@pytest.mark.parametrize("path", sorted(FACTORIES))
@pytest.mark.parametrize("stop", [7, 13], ids=["a-late-parameter-not-started", "w1-without-gradient"])
def test_a_factory_of_a_torch_optimizer_resumes_from_a_weights_only_checkpoint(path, stop, float64):
    """Saved mid-run and read back with ``torch.load(weights_only=True)`` into a new optimizer over new
    parameters, the run ends where the factory's own optimizer, never interrupted, ends."""
    make = FACTORIES[path]
    name = load_optimizer(path)
    resumed = resumed_run(lambda p: create(name, p, lr=0.02), stop)
    reference = train(lambda p: make(p, lr=0.02), steps=30, skipping=True)
    assert max_difference(resumed, reference) <= 1e-12


@pytest.mark.parametrize(
    "attribute, message",
    [
        ("not_an_optimizer", r"test_user:not_an_optimizer returned a dict, not a torch.optim.Optimizer: "
         r"name a torch.optim.Optimizer subclass, a factory `def f\(params, lr=..., ...\)` "
         r"returning one, or"),
        ("missing_biases", r"test_user:missing_biases built AdamW with param groups of 2 of the 4 parameters "
         r"it was given: optimlab steps the optimizer over exactly the parameters it gives"),
        ("lbfgs", r"closure; in Python, optimlab.fit\(model, LBFGS\(...\), ...\) gives it one"),
        ("partial_lbfgs", r"invalid value '[\w.]*test_user:partial_lbfgs' for optimizer: "
         r"accepted an optimizer that steps on"),
    ],
)  # fmt: skip
def test_what_a_factory_of_a_torch_optimizer_builds_is_checked_at_its_first_build(
    attribute, message, float64
):
    """What the factory returns is known only once it is given the parameters: an object that is no
    optimizer (stepped, an AttributeError), one that steps by a closure (a TypeError), or several param
    groups (each stepped under the first's hyperparameters, weight decay put on the biases) is refused
    in one line at the first step, naming the path and the forms accepted."""
    name = load_optimizer(f"{__name__}:{attribute}")
    with pytest.raises(OptimlabError, match=message) as refused:
        train(lambda p: create(name, p), steps=1)
    assert "\n" not in str(refused.value)


def test_a_factory_of_a_torch_optimizer_without_a_default_is_told_which(tmp_path, monkeypatch):
    """``def make(params, lr)``: its ``lr`` is named, not ``params``, which takes the parameters."""
    (tmp_path / "needs_lr.py").write_text(
        "import torch\ndef make(params, lr):\n    return torch.optim.SGD(params, lr)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(OptimlabError, match="argument 'lr' has no default"):
        load_optimizer("needs_lr:make")


def test_a_factory_of_transforms_whose_lr_has_no_default_is_told_so(tmp_path, monkeypatch):
    """``def my_opt(lr, b1=0.9)`` returning transforms: its first parameter, positional without a default,
    was taken for a torch optimizer's params (035a538), so it was told it 'takes no 'lr' keyword', which
    it does. Truth: its signature, whose lr is there without a default; the refusal says so, in one line."""
    (tmp_path / "transforms_lr.py").write_text(
        "from optimlab.optim import transforms\n"
        "def my_opt(lr, b1=0.9):\n    return transforms.scale_by_learning_rate(lr)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        OptimlabError, match="argument 'lr' has no default.*give each argument a default"
    ) as refused:
        load_optimizer("transforms_lr:my_opt")
    assert "\n" not in str(refused.value)


FACTORY_MODULE = """
import torch


def make(params, lr=1e-3, weight_decay=0.1):
    return torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)


class Made(torch.optim.AdamW):
    def __init__(self, params, lr=1e-3, weight_decay=0.1):
        super().__init__(params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)
"""


def test_train_runs_a_factory_of_a_torch_optimizer_from_the_folder_of_its_module(cli, tmp_path, monkeypatch):
    """``optimlab train --optimizer factories:make`` from the folder of factories.py trains, and its model
    is the one the same AdamW as a subclass (the path tested against torch above) trains."""
    (tmp_path / "factories.py").write_text(FACTORY_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    models = []
    for attribute in ("make", "Made"):
        out = tmp_path / attribute
        code, _, err = cli("train", "--dataset", "iris", "--optimizer", f"factories:{attribute}",
                           "--lr", "0.01", "--steps", "20", "--seed", "0", "--out", str(out),
                           "--no-progress")  # fmt: skip
        assert code == 0, err
        saved = torch.load(out / "model.pt", weights_only=True)
        assert saved["recipe"]["optimizer"]["name"] == f"factories:{attribute}"
        models.append(saved["model"])
    by_factory, by_class = models
    assert by_factory.keys() == by_class.keys()
    assert all(torch.equal(by_factory[k], by_class[k]) for k in by_factory)


def halving(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    """A schedule halving the lr every 5 steps of the groups whose lr :func:`by_ndim` takes from its
    argument (its first), keeping the lr it fixes (its biases' 0.001), as the factory builds them at each
    lr."""
    by_argument = [lambda step: 0.5 ** (step // 5)]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, by_argument + [lambda step: 1.0] * (len(optimizer.param_groups) - 1)
    )


def decay_over_lr(params, lr=1e-3):
    """A weight decay set from the lr (lr * weight_decay = 1e-4, decay independent of the lr) and the
    biases at an lr of their own."""
    params = list(params)
    return torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim > 1]},
            {"params": [p for p in params if p.ndim < 2], "lr": 1e-4},
        ],
        lr=lr,
        weight_decay=1e-4 / lr,
    )


def test_a_factory_decides_its_groups_settings_at_the_lr_set(float64):
    """At lr 0.1 a factory deriving its weight decay from its lr (1e-4 / lr) and fixing its biases' lr
    at 1e-4 stepped with weight decay 0.1 and biases at 0.01 (its groups read at its default lr, 1e-3,
    and scaled): the weights end where its own optimizer built at 0.1 and stepped by hand ends."""
    name = load_optimizer(f"{__name__}:decay_over_lr")
    ours = train(lambda p: create(name, p, lr=0.1), steps=30, skipping=True)
    assert max_difference(ours, train(lambda p: decay_over_lr(p, lr=0.1), steps=30, skipping=True)) <= 1e-12


def test_a_lambda_building_a_torch_optimizer_at_its_own_lr_steps_as_it(float64):
    """``torch_optimizer_transform(lambda p: SGD(p, lr=0.1))`` (no lr argument: the lambda fixes it)
    failed with a bare KeyError 'lr'; it steps as SGD at 0.1 stepped by hand."""
    transform = torch_optimizer_transform(lambda p: torch.optim.SGD(p, lr=0.1))
    ours = [p.detach().clone() for p in initial_parameters()]
    state = transform.init(ours)
    for _ in range(10):
        gradients = torch.autograd.grad(loss([p.requires_grad_() for p in ours]), ours)
        deltas, state = transform.update(list(gradients), state, [p.detach() for p in ours])
        ours = [(p + d).detach() for p, d in zip(ours, deltas)]
    assert max_difference(ours, train(lambda p: torch.optim.SGD(p, lr=0.1), steps=10)) <= 1e-12


def test_a_factory_of_several_param_groups_steps_each_under_its_own_settings(float64):
    """A factory splitting the parameters into groups (no weight decay on biases, at a tenth of the lr)
    was refused, the wrapper addressing group 0 alone. Each group keeps the settings the factory builds
    at the lr set (0.02, then halved by a schedule; its biases at the 0.001 it fixes): the weights end
    where the factory's own optimizer at 0.02, its first group's lr halved by hand, ends, with w1
    skipped and b2 joining its group late; not where one group over all ends."""
    name = load_optimizer(f"{__name__}:by_ndim")
    ours = train(lambda p: create(name, p, lr=0.02), steps=30, skipping=True, scheduler=halving)
    reference = train(lambda p: by_ndim(p, lr=0.02), steps=30, skipping=True, scheduler=halving)
    assert max_difference(ours, reference) <= 1e-12
    one_group = train(lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.1), steps=30, skipping=True)
    assert max_difference(ours, train(lambda p: by_ndim(p, lr=0.02), steps=30, skipping=True)) > 1e-3
    by_step_lr = train(
        lambda p: by_ndim(p, lr=0.02),
        steps=30,
        skipping=True,
        scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, 5, 0.5),
    )
    assert max_difference(ours, by_step_lr) > 1e-3
    assert max_difference(ours, one_group) > 1e-3


@pytest.mark.parametrize(
    "stop", [7, 11, 13], ids=["b2-not-started", "saved-after-a-step-without-w1", "w1-without-gradient"]
)
def test_a_factory_of_several_param_groups_resumes_from_a_weights_only_checkpoint(stop, float64):
    """Saved mid-run and read back into a new optimizer over new parameters (weights only), a factory's
    groups are rebuilt as saved and the late bias joins the biases' group: the run ends where the
    factory's own optimizer, never interrupted, ends."""
    name = load_optimizer(f"{__name__}:by_ndim")
    resumed = resumed_run(lambda p: create(name, p, lr=0.02), stop)
    reference = train(lambda p: by_ndim(p, lr=0.02), steps=30, skipping=True)
    assert max_difference(resumed, reference) <= 1e-12
    lagging = lagging_run(lambda p: create(name, p, lr=0.02), stop=4)
    assert max_difference(lagging, lagging_run(lambda p: by_ndim(p, lr=0.02))) <= 1e-12


def test_a_subclass_of_several_param_groups_keeps_each_groups_weight_decay(float64):
    """A subclass splitting its parameters into groups keeps each group's settings (its biases are not
    decayed), as itself stepped by hand."""
    name = load_optimizer(f"{__name__}:NoDecayOnBiases")
    ours = train(lambda p: create(name, p, lr=0.02), steps=30, skipping=True)
    reference = train(lambda p: NoDecayOnBiases(p, lr=0.02), steps=30, skipping=True)
    assert max_difference(ours, reference) <= 1e-12


GROUPS_MODULE = """
import torch


def groups(params, lr=1e-2, weight_decay=0.1):
    params = list(params)
    return torch.optim.AdamW(
        [{"params": [p for p in params if p.ndim > 1]},
         {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": 1e-3}],
        lr=lr, weight_decay=weight_decay,
    )


class ByHand(torch.optim.AdamW):
    def __init__(self, params, lr=0.03, weight_decay=0.1):
        params = list(params)
        super().__init__(
            [{"params": [p for p in params if p.ndim > 1]},
             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr": 1e-3}],
            lr=lr, weight_decay=weight_decay,
        )
"""


def test_train_and_its_resume_run_a_factory_of_several_param_groups(cli, tmp_path, monkeypatch):
    """``optimlab train --optimizer groups:groups --lr 0.03`` (the factory's 1e-2 and its biases' 1e-3,
    no decay on them) was refused at its first step. It trains as the subclass that builds the same
    groups at 0.03 and 1e-3 by hand, and a run stopped at step 10 and resumed ends where it does."""
    (tmp_path / "groups.py").write_text(GROUPS_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    common = ("--dataset", "iris", "--lr", "0.03", "--seed", "0", "--no-progress")
    models = []
    for name, steps in (("groups", "20"), ("ByHand", "20"), ("groups", "10")):
        out = tmp_path / f"{name}-{steps}"
        code, _, err = cli(
            "train", *common, "--optimizer", f"groups:{name}", "--steps", steps, "--out", str(out)
        )
        assert code == 0, err
        models.append(out)
    code, _, err = cli("train", "--resume", str(models[2]), "--steps", "20", "--no-progress")
    assert code == 0, err
    by_factory, by_hand, resumed = (torch.load(m / "model.pt", weights_only=True)["model"] for m in models)
    assert all(torch.equal(by_factory[k], resumed[k]) for k in by_factory)
    assert max((by_factory[k] - by_hand[k]).abs().max().item() for k in by_factory) <= 1e-6
