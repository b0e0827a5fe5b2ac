"""A torch optimizer named by its import path, run through the drop-in, against the class itself."""

from __future__ import annotations

import io

import pytest
import torch

from optim.problem import loss, max_difference, train
from optimlab.optim import create
from optimlab.optim.user import load_optimizer


@pytest.mark.parametrize("path", ["torch.optim:Adam", "torch.optim:SGD"])
def test_a_torch_optimizer_by_path_steps_parameters_without_gradients_like_itself(path, float64):
    """A parameter that gets its first gradient late is stepped too (it was left to its first value)."""
    torch_class = getattr(torch.optim, path.split(":")[1])
    name = load_optimizer(path)
    ours = train(lambda p: create(name, p, lr=0.01), steps=30, skipping=True)
    reference = train(lambda p: torch_class(p, lr=0.01), steps=30, skipping=True)
    assert max_difference(ours, reference) <= 1e-12


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
