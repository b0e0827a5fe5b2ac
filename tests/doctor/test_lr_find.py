"""The LR range test: it restores what it trains, stops at divergence, and suggests an lr that a closed
form says is sane, without being fooled by an early spike."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

import optimlab.optim
import optimlab.schedules
from optimlab.doctor import diagnose, find_lr, lr_range_test, suggest_lr
from optimlab.errors import InvalidValueError
from optimlab.registry import BATCH_ROWS, SWEEP_STEPS


def linear_regression(n=2048, seed=0):
    """y = x w* + noise with feature scales 1, 1/2, 1/4, 1/8: the MSE's Hessian is 2 diag(scale^2), so
    plain gradient descent diverges above lr = 2 / lambda_max = 1."""
    generator = torch.Generator().manual_seed(seed)
    scales = torch.tensor([1.0, 0.5, 0.25, 0.125])
    x = torch.randn(n, 4, generator=generator) * scales
    y = x @ torch.tensor([[1.0], [-2.0], [3.0], [0.5]]) + 0.01 * torch.randn(n, 1, generator=generator)
    return x, y


def test_the_suggestion_on_a_quadratic_lies_below_the_divergence_bound():
    x, y = linear_regression()
    model = nn.Linear(4, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1e-5, end_lr=100.0, batch_size=256)
    critical = 1.0
    assert result.stopped_at is not None and critical / 3 < result.stopped_at < 30 * critical
    assert critical / 100 < result.suggestion < critical
    assert result.min_loss_lr < 3 * critical
    assert len(result.lrs) == len(result.losses) == len(result.smoothed)
    assert all(b > a for a, b in zip(result.lrs, result.lrs[1:]))  # an exponential sweep


def test_weights_optimizer_state_mode_and_random_state_are_restored():
    x, y = linear_regression()
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.2), nn.ReLU(), nn.BatchNorm1d(16), nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):  # give Adam moments to lose
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x[:64]), y[:64]).backward()
        optimizer.step()
    model.eval()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    moments = {
        k: {n: t.clone() if torch.is_tensor(t) else t for n, t in v.items()}
        for k, v in optimizer.state_dict()["state"].items()
    }
    rng = torch.get_rng_state()
    parameters = list(model.parameters())

    lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=40)

    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    for k, v in optimizer.state_dict()["state"].items():
        assert all(
            torch.equal(t, moments[k][n]) if torch.is_tensor(t) else t == moments[k][n] for n, t in v.items()
        )
    assert optimizer.param_groups[0]["lr"] == 1e-3 and not model.training
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(a is b for a, b in zip(model.parameters(), parameters))  # the optimizer still holds them


def test_gradients_are_restored_as_the_caller_held_them():
    """A caller mid-accumulation holds gradients (and a parameter it froze holds None): the range test,
    the lr check and the doctor train the model, and must hand those back, not their last step's."""
    x, y = linear_regression()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    nn.functional.mse_loss(model(x[:64]), y[:64]).backward()
    model[2].bias.grad = None
    held = [None if p.grad is None else p.grad.clone() for p in model.parameters()]

    lr_range_test(model, nn.MSELoss(), x, y, steps=20)
    find_lr(model, nn.MSELoss(), x, y, check_steps=5)
    diagnose(model, (x, y), nn.MSELoss(), steps=6, lr_find=False)

    for p, grad in zip(model.parameters(), held):
        assert (p.grad is None) if grad is None else torch.equal(p.grad, grad)


@pytest.mark.parametrize("name", ["sam", "schedule_free_sgd", "schedule_free_adamw"])
def test_optimizers_that_step_with_a_closure_or_switch_modes_are_swept_and_restored(name):
    """SAM steps with a closure (a second gradient) and schedule-free optimizers step only in train
    mode: the range test raised 'sam needs optimizer.step(closure)' and '... is in eval mode'."""
    from optimlab.optim import create

    x, y = linear_regression()
    model = nn.Linear(4, 1, bias=False)
    optimizer = create(name, model.parameters(), lr=1e-3)
    weights = model.weight.detach().clone()
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1e-5, end_lr=100.0, batch_size=256)
    assert result.stopped_at is not None and 1e-3 < result.suggestion < 1.0  # below divergence at lr ~ 1
    assert torch.equal(model.weight, weights)  # in eval mode again, at the point it evaluates at
    # Left as found: a training step from here behaves as on an optimizer the test never touched.
    fresh_model = nn.Linear(4, 1, bias=False)
    fresh_model.load_state_dict(model.state_dict())
    fresh = create(name, fresh_model.parameters(), lr=1e-3)
    for net, opt in ((model, optimizer), (fresh_model, fresh)):
        if hasattr(opt, "train"):
            opt.train()

        def closure(net=net, opt=opt):
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(x[:64]), y[:64])
            loss.backward()
            return loss

        closure()
        opt.step(closure)
    torch.testing.assert_close(model.weight, fresh_model.weight, rtol=0, atol=0)


def curve(spike: bool, noise: float = 0.0, seed: int = 0):
    """A range-test curve: flat at 2.3, a descent centred on lr 1e-2 down to 0.3 at lr 1e-1, then blow-up.
    With ``spike``, the loss jumps to 9 for three steps near lr 1e-6 and comes back."""
    lrs = [10 ** (-7 + 8 * i / 99) for i in range(100)]
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for i, lr in enumerate(lrs):
        t = math.log10(lr)
        value = 0.3 + 2.0 / (1 + math.exp(3 * (t + 2))) + (math.exp(4 * (t + 1)) - 1 if t > -1 else 0)
        if spike and 12 <= i <= 14:
            value = 9.0
        losses.append(value * (1 + noise * torch.randn((), generator=generator).item()))
    return lrs, losses


def naive_steepest(lrs, losses):
    """The finder that early spikes fool: steepest raw slope anywhere."""
    slopes = [
        (losses[i + 1] - losses[i]) / (math.log10(lrs[i + 1]) - math.log10(lrs[i]))
        for i in range(len(lrs) - 1)
    ]
    return lrs[min(range(len(slopes)), key=slopes.__getitem__)]


@pytest.mark.parametrize("noise", [0.0, 0.03])
def test_an_early_spike_does_not_fool_the_suggestion(noise):
    lrs, losses = curve(spike=True, noise=noise)
    assert naive_steepest(lrs, losses) < 1e-5  # the case is real: the naive finder picks the spike's recovery
    suggestion, details = suggest_lr(lrs, losses)
    clean, _ = suggest_lr(*curve(spike=False, noise=noise))
    assert 1e-3 < suggestion < 1e-1 and suggestion == pytest.approx(clean, rel=0.5)
    assert details["min_loss_lr"] == pytest.approx(0.1, rel=0.6)


def test_a_curve_without_descent_gets_no_suggestion_and_says_why():
    lrs = [10 ** (-6 + 6 * i / 49) for i in range(50)]
    suggestion, details = suggest_lr(lrs, [2.3] * 50)
    assert suggestion is None and "never fell" in details["reason"]
    assert details["stable_edge_lr"] == lrs[-1]  # never turned up either: the sweep's end
    turning = [2.3] * 40 + [2.3 * 1.5**k for k in range(1, 11)]
    assert suggest_lr(lrs, turning)[1]["stable_edge_lr"] == pytest.approx(lrs[39], rel=0.5)
    suggestion, details = suggest_lr(lrs[:5], [2.3, 2.2, 2.1, float("nan"), 1.0])
    assert suggestion is None and "only 3 finite losses" in details["reason"]
    assert "stable_edge_lr" not in details  # too few points for a curve: no candidates either
    suggestion, details = suggest_lr(lrs[:5], [2.3, 2.2, 2.1, 2.0, 1.9])  # a short sweep, all finite
    assert suggestion is None and "at least 8 steps" in details["reason"]
    assert "diverged" not in details["reason"]


def test_a_sweep_ending_below_the_divergence_bound_says_its_loss_still_fell_not_where_its_minimum_is():
    # Plain gradient descent on linear_regression diverges only above lr 1 (its closed form): a sweep
    # to 0.1 ends while the loss still falls, so its last lr is the sweep's end, not a minimum.
    x, y = linear_regression()
    model = nn.Linear(4, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1e-5, end_lr=0.1, batch_size=256)
    assert result.stopped_at is None and result.min_loss_lr == result.lrs[-1]
    assert "minimum" not in result.reason and "lowest loss" not in result.reason
    assert f"still falling at the sweep's last lr {result.lrs[-1]:.3g}" in result.reason
    assert "end_lr" in result.reason
    turned = lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1e-5, end_lr=100.0, batch_size=256)
    # past the bound the loss turns up: a real minimum, near the bound, named as one
    assert turned.stopped_at is not None and turned.min_loss_lr < turned.lrs[-1] < 3
    assert "lowest loss" in turned.reason and "sweep's end" not in turned.reason


def test_a_flat_curve_proposes_candidates_around_where_the_loss_turns_up():
    # Targets independent of x: zero weights are already optimal, so no lr makes the loss fall, and
    # plain gradient descent on this quadratic diverges above lr = 2 / lambda_max = 1 (as above).
    x, _ = linear_regression()
    y = 0.5 * torch.randn(len(x), 1, generator=torch.Generator().manual_seed(1))
    model = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1e-5, end_lr=100.0, batch_size=256)
    assert result.suggestion is None and "never fell" in result.reason
    edge = next(c.lr for c in result.candidates if c.source == "stable edge")
    assert 1 / 3 < edge < 3  # where the loss turns up: the divergence bound, not the flat curve's noise
    assert all(c.source.startswith("stable edge") for c in result.candidates) and len(result.candidates) == 17


@pytest.mark.parametrize("head_lr", [1e-3, 1e-4])
def test_param_groups_of_other_lrs_keep_their_ratio_and_the_reason_says_whose_lr_it_is(head_lr):
    """With two groups (lr 1e-3 and a head at 1e-4) the suggestion is the first group's lr, the head
    swept at a tenth of it: the reason said neither, and a user read it as the lr of both."""
    x, y = linear_regression()
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters()}, {"params": model[1].parameters(), "lr": head_lr}], lr=1e-3
    )
    swept: list[tuple[float, float]] = []
    optimizer.register_step_pre_hook(
        lambda o, *_: swept.append((o.param_groups[0]["lr"], o.param_groups[1]["lr"]))
    )
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=30)
    assert [round(head / first, 9) for first, head in swept] == [head_lr / 1e-3] * len(swept)
    assert [first for first, _ in swept[: len(result.lrs)]] == result.lrs
    note = "(each lr here is param group 0's; group 1 at x0.1 of it, as the optimizer had them)"
    assert (note in result.reason) is (head_lr != 1e-3), result.reason


def test_a_param_group_at_lr_0_stays_frozen_in_the_sweep_and_the_check():
    """A backbone frozen by lr 0 (torch steps it by nothing) before a head at 1e-3: its ratio to group 0
    was taken as 1, so the sweep and every candidate of the check trained the backbone at the head's lr,
    a setup the user's training never runs. The swept group is the first above 0; group 0 stays at 0."""
    x, y = linear_regression(512)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    stepped: list[tuple[float, ...]] = []

    class Recorded(torch.optim.SGD):  # the check's copies of it record too
        def step(self, closure=None):
            stepped.append(tuple(g["lr"] for g in self.param_groups))
            return super().step(closure)

    optimizer = Recorded(
        [{"params": model[0].parameters(), "lr": 0.0}, {"params": model[1].parameters(), "lr": 1e-3}]
    )
    result = find_lr(model, nn.MSELoss(), x, y, optimizer, steps=30, check_steps=20)
    assert result.check is not None and len(stepped) > len(result.lrs) + 20  # the sweep's and the check's
    assert all(frozen == 0.0 for frozen, _ in stepped)
    assert [head for _, head in stepped[: len(result.lrs)]] == result.lrs
    assert (
        "(each lr here is param group 1's; group 0 at x0 of it, as the optimizer had them)" in result.reason
    )


def test_a_scheduler_made_beside_the_optimizer_leaves_the_sweep_the_ratios_of_the_lrs_given():
    """Gradual unfreezing (a backbone given 0.01, held at 0 by a LambdaLR for its first steps, a head
    given 0.1) handed to the sweep as made: lr_group reads the lrs given (group 0), and lr_ratios read the
    lrs as the scheduler left them, group 0's 0, so every group was swept at x1, the head at the
    backbone's lr. Truth: the lrs given, 0.01 and 0.1 (torch's initial_lr), the ratio the doctor's and the
    Lightning sweep keep after restoring them: the head at 10x group 0's swept lr at every step."""
    x, y = linear_regression()
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    optimizer = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.01},
                                 {"params": model[1].parameters(), "lr": 0.1}])  # fmt: skip
    torch.optim.lr_scheduler.LambdaLR(optimizer, [lambda s: 0.0 if s < 3 else 1.0, lambda s: 1.0])
    swept: list[tuple[float, float]] = []
    optimizer.register_step_pre_hook(
        lambda o, *_: swept.append((o.param_groups[0]["lr"], o.param_groups[1]["lr"]))
    )
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=30)
    assert [first for first, _ in swept[: len(result.lrs)]] == result.lrs
    assert [head / first for first, head in swept] == pytest.approx([10.0] * len(swept), rel=1e-12)
    assert (
        "(each lr here is param group 0's; group 1 at x10 of it, as the optimizer had them)" in result.reason
    )


@pytest.mark.parametrize("verb", [lr_range_test, find_lr])
def test_data_and_loss_in_diagnoses_order_are_told_the_order(verb):
    """diagnose takes (model, data, loss_fn), find_lr and lr_range_test (model, loss_fn, data): the
    swap was told "invalid value 'a tuple of 2 (...)' for loss_fn: accepted a callable", no order."""
    x, y = linear_regression(64)
    model = nn.Linear(4, 1)
    weights = model.weight.clone()
    with pytest.raises(
        InvalidValueError, match=r"takes \(model, loss_fn, data\), diagnose \(model, data, loss_fn\)"
    ):
        verb(model, (x, y), nn.MSELoss())
    assert torch.equal(model.weight, weights)
    assert verb(model, nn.MSELoss(), (x, y), steps=20).lrs  # the order it takes


def test_loss_and_data_in_find_lrs_order_are_told_diagnoses_order():
    """diagnose(model, loss_fn, data), find_lr's order, was told "invalid value 'a tuple of 2 (...)' for
    loss_fn: accepted a callable", no order: now both orders, before any step."""
    x, y = linear_regression(64)
    model = nn.Linear(4, 1)
    weights = model.weight.clone()
    with pytest.raises(
        InvalidValueError, match=r"diagnose takes \(model, data, loss_fn\), find_lr \(model, loss_fn, data\)"
    ):
        diagnose(model, nn.MSELoss(), (x, y), steps=5, lr_find=False)
    assert torch.equal(model.weight, weights)


def test_arguments_are_checked():
    x, y = linear_regression(64)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InvalidValueError, match="end_lr"):
        lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1.0, end_lr=0.1)
    with pytest.raises(InvalidValueError, match="steps"):
        lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=0)
    for clip in (0.0, float("nan"), "1"):  # a clip at 0 would zero every gradient
        with pytest.raises(
            InvalidValueError,
            match=r"^invalid value .* for grad_clip_norm: accepted a number in \(0, inf\), or None",
        ):
            lr_range_test(model, nn.MSELoss(), x, y, optimizer, grad_clip_norm=clip)
    with pytest.raises(InvalidValueError, match="margin"):
        suggest_lr([1e-3, 1e-2], [1.0, 0.5], margin=0.5)


def _a_linear_model_to_refuse_for():
    """256 rows of :func:`linear_regression`, a Linear model, its weights as they were (a refusal must
    leave them so), and an SGD over it."""
    x, y = linear_regression(256)
    model = nn.Linear(4, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    return x, y, model, before, torch.optim.SGD(model.parameters(), lr=0.1)


@pytest.mark.parametrize("verb", [lr_range_test, find_lr])
def test_a_batch_size_beside_a_dataloader_is_refused_not_ignored(verb):
    """A DataLoader batches itself: lr_range_test and find_lr took batch_size=8 beside one of 16 and swept
    16-row batches without a word. Refused in fit's line (train.loop.refuse_unread), before any step;
    beside tensors it is read, and not given beside the loader, the sweep runs."""
    x, y, model, before, optimizer = _a_linear_model_to_refuse_for()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    with pytest.raises(
        InvalidValueError,
        match=r"^invalid value 8 for batch_size: accepted left unset beside a DataLoader, which batches the "
        r"data itself: DataLoader\(\.\.\., batch_size=\.\.\.\)\.$",
    ):
        verb(model, nn.MSELoss(), loader, optimizer=optimizer, steps=10, batch_size=8)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    options = {"check_steps": 2} if verb is find_lr else {}
    assert len(verb(model, nn.MSELoss(), loader, optimizer=optimizer, steps=10, **options).lrs) == 10
    assert len(verb(model, nn.MSELoss(), x, y, optimizer, steps=10, batch_size=8, **options).lrs) == 10


@pytest.mark.parametrize("verb", [lr_range_test, find_lr])
def test_a_batch_size_beside_batches_already_made_is_refused_not_ignored(verb):
    """Batches already made (a UserBatches, as diagnose hands find_lr) hold their own size: both verbs
    took batch_size=8 beside 16-row ones and swept 16 rows a step without a word, where fit refuses it.
    Refused in fit's line before any step; the batches alone are swept, 16 rows a step (the truth:
    the rows the model's forward passes read)."""
    from optimlab.data.user_batches import UserBatches

    x, y, model, before, optimizer = _a_linear_model_to_refuse_for()
    batches = UserBatches((x, y), nn.MSELoss(), batch_size=16)
    with pytest.raises(
        InvalidValueError,
        match=r"^invalid value 8 for batch_size: accepted left unset beside a pair of tensors \(256 rows\), "
        r"which batches the data itself\.$",
    ):
        verb(model, None, batches, optimizer=optimizer, steps=10, batch_size=8)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    rows = []
    handle = model.register_forward_hook(lambda _m, inputs, _o: rows.append(len(inputs[0])))
    lr_range_test(model, None, batches, optimizer=optimizer, steps=10)
    handle.remove()
    assert set(rows) == {16}


@pytest.mark.parametrize("verb", [lr_range_test, find_lr])
def test_a_loss_or_targets_beside_batches_already_made_are_refused_not_ignored(verb):
    """Batches already made (a UserBatches) hold their targets and loss: both verbs took loss_fn=L1Loss,
    y or a compute_loss beside MSE batches and swept the batches' MSE without a word. Refused in one line
    naming the argument, before any step (the weights as they were), in fit's words (the batches made by
    fit's train.loop.training_batches); y beside a DataLoader too, which named 'batch'."""
    from optimlab.data.user_batches import UserBatches

    x, y, model, before, optimizer = _a_linear_model_to_refuse_for()
    batches = UserBatches((x, y), nn.MSELoss(), batch_size=16)
    for args, options, name in (
        ((nn.L1Loss(), batches), {}, "loss_fn"),
        ((None, batches, y), {}, "y"),
        (
            (None, batches),
            {"compute_loss": lambda m, batch: (m(batch[0]) - batch[1]).abs().mean()},
            "compute_loss",
        ),
    ):
        with pytest.raises(
            InvalidValueError,
            match=rf"^invalid value .* for {name}: accepted None beside batches already made \(a pair of "
            r"tensors \(256 rows\)\), which hold their own targets and loss \(UserBatches' loss_fn or "
            r"compute_loss\)\.$",
        ):
            verb(model, *args, optimizer=optimizer, steps=10, **options)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    with pytest.raises(  # was 'invalid value 'a DataLoader' for batch', naming no argument given
        InvalidValueError,
        match=r"for y: accepted targets beside input tensors or arrays x \(got data a DataLoader\)",
    ):
        verb(model, nn.MSELoss(), loader, y, optimizer=optimizer, steps=10)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_seed_beside_a_dataloader_draws_its_order_and_the_same_seed_sweeps_alike():
    """lr_range_test(model, loss, loader, seed=3) was refused beside a DataLoader (fit's line: fit seeds
    nothing), though the sweep's own draws came from torch's global state: a shuffling loader's order
    (and dropout), so seed=0 swept another curve after each torch.manual_seed of the caller's. The
    sweep now seeds torch with its seed, as the check and diagnose's watched run do: seed 3 beside a
    shuffling loader sweeps another order than seed 0, the same seed the same curve whatever the
    state before, which is given back. find_lr and diagnose read it too."""
    x, y, model, before, optimizer = _a_linear_model_to_refuse_for()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)

    def swept(seed: int, state: int) -> list[float]:
        torch.manual_seed(state)
        after = torch.rand(3)
        torch.manual_seed(state)
        losses = lr_range_test(model, nn.MSELoss(), loader, optimizer=optimizer, steps=10, seed=seed).losses
        assert torch.equal(torch.rand(3), after)  # the caller's stream as it was
        return losses

    assert swept(0, 0) == swept(0, 1) == swept(0, 2)
    assert swept(3, 0) == swept(3, 1) != swept(0, 0)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    sweeps = [lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=10, seed=s).losses for s in (0, 3)]
    assert sweeps[0] != sweeps[1]
    assert (
        len(find_lr(model, nn.MSELoss(), loader, optimizer=optimizer, steps=10, check_steps=2, seed=3).lrs)
        == 10
    )
    assert (
        len(
            diagnose(model, loader, nn.MSELoss(), optimizer, steps=5, lr_find=False, seed=3).statistics.losses
        )
        == 5
    )


def test_a_bad_margin_or_count_is_refused_before_the_sweep_and_numpys_integers_are_counts():
    """margin was checked by suggest_lr after the whole sweep (100 steps of the user's model, then the
    refusal); steps=3.0 passed the check and ended in range()'s TypeError, a traceback; numpy's
    integers (np.int64(10) from an array's length) were refused as no integer. Refused before any
    forward pass now, in one line each; numpy's integers sweep as Python's do."""
    x, y = linear_regression(256)
    model = nn.Linear(4, 1)
    forwards = []
    model.register_forward_hook(lambda *_: forwards.append(1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for bad, accepted in (
        ({"margin": 0.5}, r"^invalid value 0.5 for margin: accepted a number in \(1, inf\)\.$"),
        ({"steps": 3.0}, rf"^invalid value 3.0 for steps: accepted {re.escape(str(SWEEP_STEPS))}\.$"),
        # one range for every count refused: steps 0 was told [1, inf) and steps 1 'an integer >= 2'
        ({"steps": 0}, rf"^invalid value 0 for steps: accepted {re.escape(str(SWEEP_STEPS))}\.$"),
        ({"steps": 1}, rf"^invalid value 1 for steps: accepted {re.escape(str(SWEEP_STEPS))}\.$"),
        (
            {"batch_size": 8.0},
            rf"^invalid value 8.0 for batch_size: accepted {re.escape(str(BATCH_ROWS))}\.$",
        ),
    ):
        with pytest.raises(InvalidValueError, match=accepted):
            lr_range_test(model, nn.MSELoss(), x, y, optimizer, **bad)
    assert not forwards
    counted = lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=np.int64(10), batch_size=np.int64(8))
    assert (
        counted.losses == lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=10, batch_size=8).losses
    )


def test_an_endless_sweep_is_refused_naming_its_bound_in_the_library_and_on_the_cli(cli):
    """steps=float('inf') and --sweep-steps inf were told 'an integer in [2, inf)', a range that seems to
    hold the infinity refused, and --sweep-steps 1e12 was taken, a sweep never to end; then 20,000 steps
    (a few epochs of a large set, as Smith 2017 sweeps) were refused by a cap of 10,000. The library and
    the CLI name one range, SWEEP_STEPS' (steps 1 is refused in the same words by both), int32's bound:
    2^31 - 1 taken, 2^31 refused. Refused before any model is run or optimizer made (fast: no torch.optim,
    whose first construction imports torch._dynamo, 7 s)."""
    x, y = linear_regression(64)
    model = nn.Linear(4, 1)
    forwards = []
    model.register_forward_hook(lambda *_: forwards.append(1))
    assert (SWEEP_STEPS.low, SWEEP_STEPS.high) == (2, 2**31 - 1)
    assert (
        SWEEP_STEPS.contains(20_000) and SWEEP_STEPS.contains(2**31 - 1) and not SWEEP_STEPS.contains(2**31)
    )
    bound = re.escape(str(SWEEP_STEPS))  # a bound of its own, below int64's
    for sweep in (lr_range_test, find_lr):
        for steps in (float("inf"), 10**12, 2**31):
            with pytest.raises(
                InvalidValueError, match=rf"^invalid value {steps} for steps: accepted {bound}\.$"
            ):
                sweep(model, nn.MSELoss(), x, y, steps=steps)
    for typed in ("inf", "1e12"):
        code, out, err = cli("lr-find", "--dataset", "iris", "--sweep-steps", typed)
        assert code == 2 and not out and re.search(rf"'{typed}' is not (accepted: )?{bound} ", err), err
    with pytest.raises(InvalidValueError, match=rf"accepted ({bound})\.$") as library:
        lr_range_test(model, nn.MSELoss(), x, y, steps=1)
    assert not forwards
    code, _, err = cli("lr-find", "--dataset", "iris", "--sweep-steps", "1")
    assert code == 2 and f"accepted: {library.value.accepted} " in err, err


def test_a_loss_of_zero_throughout_says_there_is_nothing_to_learn():
    """A model that already fits its targets exactly (zero weights, targets 0): the MSE is 0 at every lr
    and its gradient too. suggest_lr's descent test compared a drop of 0 with 5% of a start of 0, let it
    through and took the steepest of no candidates: find_lr and lr_range_test raised min()'s ValueError."""
    x, _ = linear_regression()
    model = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(model.weight)
    for result in (
        lr_range_test(model, nn.MSELoss(), x, torch.zeros(len(x), 1)),
        find_lr(model, nn.MSELoss(), x, torch.zeros(len(x), 1)),
    ):
        assert result.losses == [0.0] * len(result.lrs) and result.suggestion is None
        assert (
            "the loss is 0 throughout the sweep" in result.reason and "nothing left to learn" in result.reason
        )
        assert result.candidates == [] and result.check is None  # no check of lrs that cannot differ


@pytest.mark.parametrize("verb", [lr_range_test, find_lr])
def test_a_nan_in_the_data_is_named_not_called_a_divergence(verb):
    """Inputs with a NaN in feature 2 of every row: the loss is NaN before any step, which no lr makes;
    the sweep said 'only 0 finite losses: the sweep diverged almost at once (a smaller start_lr ...)'.
    It now names the batch's non-finite values (counted by torch.isfinite here) and suggests nothing."""
    x, y = linear_regression(128)
    x[:, 2] = float("nan")
    result = verb(nn.Linear(4, 1), nn.MSELoss(), x, y, batch_size=64)
    bad = int((~torch.isfinite(x[:64])).sum())
    assert result.reason.startswith(
        f"the loss was nan at the sweep's batch 1: the batch holds {bad} non-finite values in 64 of its 64 "
        "rows, the first in feature 2, which no lr makes"
    ), result.reason
    assert "diverged" not in result.reason and result.suggestion is None and result.candidates == []


class _FirstThreeFeatures(nn.Module):
    """A regression on x[:, :3] alone: column 3 never reaches its loss."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x[:, :3])


def test_non_finite_values_the_model_never_reads_are_not_blamed_for_its_divergence():
    """A float16 model reading x[:, :3] of a batch whose column 3 is -inf overflows by its lr at batch 76,
    and was told 'the batch holds 64 non-finite values ..., which no lr makes'. Truth: the same sweep
    over the batch with column 3 at 0 (the model's outputs are the same), which diverges there too."""
    x, y = linear_regression(640)
    results = []
    for column in (float("-inf"), 0.0):
        x[:, 3] = column
        torch.manual_seed(0)
        model = _FirstThreeFeatures().half()
        optimizer = torch.optim.SGD(model.parameters(), 1e-3)
        results.append(lr_range_test(model, nn.MSELoss(), x.half(), 3 * y.half(), optimizer, batch_size=64,
                                     steps=100, end_lr=1e3, diverge_factor=1e9))  # fmt: skip
    ignored, clean = results
    assert not math.isfinite(clean.losses[-1]) and clean.stopped_at is not None
    assert "no lr makes" not in ignored.reason
    assert (ignored.reason, ignored.stopped_at) == (clean.reason, clean.stopped_at)
    assert ignored.losses[:-1] == clean.losses[:-1]


class _LogOfLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self.linear(x))


def test_a_loss_the_model_makes_non_finite_before_any_step_is_the_models_and_bad_targets_are_named():
    """torch.log of a Linear's outputs, some below 0: the loss is NaN at the first batch before any step,
    and the sweep said 'diverged almost at once (a smaller start_lr ...)', which no lr changes. An Inf
    in the targets alone was said to be in 'the batch'. Truth: torch's own NaN at the initial weights;
    the targets' Inf put there."""
    x, y = linear_regression(128)
    torch.manual_seed(0)
    model = _LogOfLinear()
    with torch.no_grad():
        assert torch.isnan(nn.functional.mse_loss(model(x[:64]), y[:64]))
    made = lr_range_test(model, nn.MSELoss(), x, y, batch_size=64)
    assert made.reason.startswith("the loss was nan at the sweep's first batch, before any step: the model's")
    assert "smaller start_lr" not in made.reason and made.suggestion is None
    y[5, 0] = float("inf")
    named = lr_range_test(nn.Linear(4, 1), nn.MSELoss(), x, y, batch_size=64)
    assert "its targets hold 1 non-finite value in 1 of its 64 rows, which no lr makes" in named.reason, (
        named.reason
    )


def test_float16_weights_under_adams_default_eps_are_not_told_a_smaller_start_lr():
    """A model in float16 under Adam's eps 1e-8 (0 in float16): its first step overflows at lr 1e-7
    already, and the sweep said 'diverged almost at once (a smaller start_lr ...)'. Truth: torch rounds
    1e-8 to 0 in float16, and at eps 1e-4 the same sweep has finite losses and a suggestion."""
    assert torch.tensor(1e-8, dtype=torch.float16).item() == 0.0
    x, y = linear_regression(256)
    results = {}
    for eps in (1e-8, 1e-4):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1)).half()
        optimizer = torch.optim.Adam(model.parameters(), eps=eps)
        results[eps] = lr_range_test(model, nn.MSELoss(), x.half(), y.half(), optimizer, steps=30)
    lost = results[1e-8]
    assert lost.suggestion is None and "a smaller start_lr" not in lost.reason
    assert "the optimizer's eps 1e-08 rounds to 0 in the weights' dtype" in lost.reason, lost.reason
    assert "at lr 1e-07: " in lost.reason and "(eps 0.0001, which float16 holds" in lost.reason
    assert all(map(math.isfinite, results[1e-4].losses[:10]))


def test_a_loss_of_zero_whatever_the_outputs_is_not_said_to_be_a_fitted_model():
    """A binary label given one logit under CrossEntropyLoss: the log-softmax of one score is 0, so the
    loss is 0 at every lr (torch's own cross-entropy of one score, below), and the reason said 'the model
    already fits', of a model that learned nothing; it now names that loss beside a fitted model."""
    x, _ = linear_regression(64)
    labels = (x[:, :1] > 0).float()
    assert nn.functional.cross_entropy(torch.randn(64, 1) * 10, labels).item() == 0.0
    torch.manual_seed(0)
    result = lr_range_test(nn.Linear(4, 1), nn.CrossEntropyLoss(), x, labels, steps=10)
    assert set(result.losses) == {0.0} and result.suggestion is None
    assert "the model already fits" not in result.reason
    assert "CrossEntropyLoss over one class score a row" in result.reason


@pytest.mark.parametrize("verb", [lr_range_test, find_lr])
def test_an_lr_that_is_a_schedule_is_refused_in_one_line(verb):
    """optimlab's optimizers take a schedule as their lr (optim.create("sgd", ..., lr=cosine)); the
    range test divided it by itself for the groups' ratios, and find_lr ended in a TypeError traceback
    ('unsupported operand type(s) for /: function and function')."""
    x, y = linear_regression(64)
    model = nn.Linear(4, 1)
    optimizer = optimlab.optim.create(
        "sgd", model.parameters(), lr=optimlab.schedules.create("cosine", total_steps=100)
    )
    with pytest.raises(
        InvalidValueError, match=r"^invalid value a function .* for lr of param group 0: accepted a number"
    ):
        verb(model, nn.MSELoss(), x, y, optimizer)


def test_a_loss_that_starts_at_zero_is_no_divergence_baseline_and_is_not_said_to_stay_there():
    """A model scored against its own outputs (a loss of exactly 0) under SGD's weight decay, which pulls
    the fitted weights off: a loss of 3.7e-15 after 8 steps counted as divergence against a best of 0
    (4 x 0), ending the sweep at step 8 of 100, and the reason said the loss was 0 throughout."""
    x, _ = linear_regression()
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    with torch.no_grad():
        y = model(x)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, weight_decay=0.1)
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer)
    assert result.losses[0] == 0.0 and max(result.losses[:20]) < 1e-12  # rounding, then decay's pull
    assert len(result.lrs) == 100 and result.stopped_at is None and result.suggestion is None
    assert result.reason.startswith("the loss starts at 0: nothing left to learn at any lr")


@pytest.mark.parametrize(("start_lr", "end_lr"), [(1e-300, 1e10), (1e-200, 1e200)])
def test_ends_whose_ratio_overflows_are_swept_between_them(start_lr, end_lr):
    """Ends over 308 decades apart: their ratio is inf in floats, and every lr of the sweep after its
    first was inf (the CLI said 'diverged at inf'); each lr is the geometric point between the ends."""
    x, y = linear_regression(256)
    model = nn.Linear(4, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    steps = 12
    result = lr_range_test(
        model, nn.MSELoss(), x, y, optimizer, start_lr=start_lr, end_lr=end_lr, steps=steps
    )
    decades = math.log10(end_lr) - math.log10(start_lr)
    expected = [math.log10(start_lr) + decades * i / (steps - 1) for i in range(len(result.lrs))]
    assert result.lrs and all(math.isfinite(lr) for lr in result.lrs)
    assert [math.log10(lr) for lr in result.lrs] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("start_lr", "end_lr"), [(1e-3, 0.05), (0.03, 0.5)])
def test_the_candidates_stay_within_the_range_swept(start_lr, end_lr):
    """SGD on the quadratic diverges above lr 1: a sweep ending below it still falls at its end, and
    the ladder around that lowest-loss lr (3.2x above it, 1/32 below) reached past the sweep's ends:
    lr-find --end-lr 1e-3 suggested 0.00133 for Adam on digits. The check is given none outside them."""
    x, y = linear_regression(512)
    model = nn.Linear(4, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(
        model, nn.MSELoss(), x, y, optimizer, start_lr=start_lr, end_lr=end_lr, steps=30, batch_size=128
    )
    assert result.min_loss_lr == result.lrs[-1] == end_lr  # still falling at the sweep's end
    assert result.candidates and all(c.lr <= end_lr for c in result.candidates)
    assert max(c.lr for c in result.candidates) == end_lr


def test_a_sweep_started_near_the_stable_edge_is_checked_below_its_start():
    """SGD on the regression diverges above lr 1 (the Hessian's largest eigenvalue is 2): a user's
    --start-lr 1 sweeps nothing safe, and a floor at start_lr left the check one candidate, 1.05 (held-out
    loss 0.0084). start_lr bounds what is swept; the check looks below it, never above end_lr."""
    x, y = linear_regression(512)
    model = nn.Linear(4, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = find_lr(
        model, nn.MSELoss(), x, y, optimizer, start_lr=1.0, end_lr=100.0, batch_size=128, check_steps=100
    )
    assert result.trains and result.suggestion < 1.0
    assert min(c.lr for c in result.candidates) < 1.0 and all(c.lr <= 100.0 for c in result.candidates)
    assert result.metric == "loss"  # held-out MSE: the chosen one's below any checked at start_lr or above
    chosen = next(c.score for c in result.candidates if c.lr == result.suggestion)
    assert all(chosen < c.score for c in result.candidates if c.lr >= 1.0 and c.score is not None)


def test_lr_find_says_which_of_the_recipes_training_its_runs_do_not_take(cli, monkeypatch):
    """The range test and its check train at a constant lr, in float32 (as the doctor watches the peak
    lr); a recipe's cosine schedule with warmup and its bf16 went unsaid, and the suggestion read as one
    for that training (the Hugging Face range test says its Trainer's clip). The CLI alone said so:
    find_lr_recipe and diagnose_recipe's lr_range in Python say it too, and a one_cycle schedule's
    momentum cycle. The recipe's clip at 0.5 is not said: the sweep and its check clip at it."""
    import importlib
    import json

    from optimlab.recipe import Recipe

    given = []

    def find_lr(*args, **options):
        given.append(options)
        return optimlab.doctor.lr_find.LRRangeResult(
            [], [], [], 1e-3, 1e-2, 1e-3, None, "the curve's reading"
        )

    # the module (optimlab.doctor.diagnose is the function it exports)
    monkeypatch.setattr(importlib.import_module("optimlab.doctor.diagnose"), "find_lr", find_lr)
    otherwise = ("--set", "schedule.name=cosine", "--set", "schedule.warmup_steps=10", "--set",
                 "training.grad_clip_norm=0.5", "--precision", "bf16")  # fmt: skip
    code, out, err = cli("lr-find", "--dataset", "iris", "--format", "json", "--no-progress", *otherwise)
    assert code == 0, err
    assert json.loads(out)["reason"] == (
        "the curve's reading (at a constant lr: the recipe's schedule 'cosine' with 10 warmup steps is not "
        "taken, the lr here is its peak) (in float32: the recipe's training.precision 'bf16' is not taken)"
    )
    assert given[-1]["grad_clip_norm"] == 0.5
    code, out, err = cli("lr-find", "--dataset", "iris", "--format", "json", "--no-progress")
    assert code == 0 and json.loads(out)["reason"] == "the curve's reading", err
    cycled = Recipe.model_validate(
        {"data": {"name": "iris"}, "schedule": {"name": "one_cycle", "cycle_momentum": True},
         "optimizer": {"name": "sgd_momentum"}, "training": {"steps": 3}}
    )  # fmt: skip
    said = (
        "the curve's reading (at a constant lr: the recipe's schedule 'one_cycle' is not taken, the lr here "
        "is its peak) (at a fixed momentum: the recipe's schedule.cycle_momentum is not taken)"
    )
    assert optimlab.doctor.find_lr_recipe(cycled).reason == said
    assert optimlab.doctor.diagnose_recipe(cycled, steps=3).lr_range.reason == said


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [("seed", 1, "training.seed"), ("grad_clip_norm", 1.0, "training.grad_clip_norm"),
     ("held_out", None, "validation split"), ("batch_size", 8, "training.batch_size")],
)  # fmt: skip
def test_what_the_recipe_sets_given_again_to_its_lr_find_is_refused_in_one_line(name, value, field):
    """find_lr_recipe(recipe, seed=1) raised Python's TypeError 'got multiple values for keyword argument
    seed' (batch_size, grad_clip_norm too), and held_out=... was silently replaced by the recipe's
    validation split. Each is one line naming the recipe's field, refused before anything is built."""
    from optimlab.doctor import find_lr_recipe, lr_range_test_recipe
    from optimlab.recipe import Recipe

    recipe = Recipe.model_validate({"data": {"name": "iris"}, "training": {"steps": 3}})
    for verb in (find_lr_recipe, lr_range_test_recipe):
        if verb is lr_range_test_recipe and name == "held_out":
            continue  # the sweep alone takes no held-out data: an unknown name there
        with pytest.raises(
            InvalidValueError, match=rf"^invalid value .* for {name} of {verb.__name__}: .*{field}"
        ):
            verb(recipe, **{name: value})


def test_a_sweep_that_diverges_from_its_first_lr_says_so_not_that_it_was_too_short():
    """Gradient descent on linear_regression diverges above lr 1: from 1.5 the loss grows about 4x a
    step and the sweep stopped after 6 finite losses, said to be 'a curve needs a sweep of at least 8
    steps' of a 100-step sweep. It diverged, and a smaller start shows where the loss falls."""
    x, y = linear_regression(512)
    model = nn.Linear(4, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1.5, end_lr=100.0, batch_size=512)
    assert len(result.lrs) < 8 and all(math.isfinite(v) for v in result.losses)
    assert all(b > 2 * a for a, b in zip(result.losses, result.losses[1:]))  # diverging from the start
    assert result.stopped_at == result.lrs[-1] and result.suggestion is None
    assert result.reason == (
        f"only {len(result.lrs)} finite losses: the sweep diverged almost at once (a smaller start_lr, "
        "lr-find's --start-lr, shows where the loss falls)"
    )


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (("--start-lr", "20"), "invalid value 20.0 for --start-lr: accepted a learning rate in (0, 10): below "
         "--end-lr (its default 10)."),
        (("--end-lr", "1e-8"), "invalid value 1e-08 for --end-lr: accepted a learning rate above --start-lr "
         "1e-07 (its default)."),
        (("--start-lr", "1", "--end-lr", "1"), "invalid value 1.0 for --end-lr: accepted a learning rate above "
         "--start-lr 1."),
    ],
)  # fmt: skip
def test_sweep_ends_out_of_order_are_refused_in_one_line_that_says_which_end_is_a_default(cli, flags, line):
    """'--start-lr 20' alone was told 'invalid value 10.0 for --end-lr (the default is 10)', a flag the
    user never typed, and not the value typed: it names --start-lr 20 and the lrs it accepts."""
    code, out, err = cli("lr-find", "--dataset", "iris", *flags)
    assert (code, out, err.strip()) == (2, "", f"error: {line}")


def test_lr_finds_candidates_table_shows_the_held_out_loss_that_decides_among_accuracies(cli, monkeypatch):
    """Candidates tied by accuracy are decided by their held-out loss (lr_check, point 2): the table
    showed accuracy alone, so a chosen candidate of lower accuracy stood on evidence not shown (a CSV of
    20 wine rows: 1.33 at 0.9375 chosen beside others at 1)."""
    import optimlab.doctor
    from optimlab.doctor.lr_find import Candidate, LRRangeResult

    checked = [Candidate(1.23e-5, "lowest loss x 0.031 x 0.42", 0.8, 0.75),
               Candidate(1e-3, "lowest loss", 0.9, 0.5), Candidate(2e-3, "steepest descent", 0.85, 0.25),
               Candidate(4e-3, "lowest loss x 2", None, None)]  # fmt: skip
    result = LRRangeResult(
        [], [], [], 2e-3, 1e-3, 2e-3, None, "the check's choice", checked, "100 steps each", metric="accuracy"
    )
    monkeypatch.setattr(optimlab.doctor, "find_lr_recipe", lambda recipe, **options: result)
    monkeypatch.setenv("COLUMNS", "80")  # the held-out loss column wrapped every row's source at 80
    code, out, err = cli("lr-find", "--dataset", "iris", "--no-progress")
    assert code == 0, err
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if "from the curve" in line)
    rows = [
        line.split() for line in lines if line.strip().startswith(("1.23e-05", "0.001", "0.002", "0.004"))
    ]
    assert rows == [  # one line each, whole
        ["1.23e-05", "lowest", "loss", "x", "0.031", "x", "0.42", "0.8", "0.75"],
        ["0.001", "lowest", "loss", "0.9", "0.5"],
        ["0.002", "steepest", "descent", "0.85", "0.25", "<-", "suggested"],
        ["0.004", "lowest", "loss", "x", "2", "diverged", "-"],
    ]
    assert all(len(line.rstrip()) <= 80 for line in lines[header - 1 : header + 6])
    assert lines[header - 1].split() == ["held-out", "held-out"]
    assert lines[header].split() == ["lr", "from", "the", "curve", "accuracy", "loss"]


def test_the_default_sweeps_lrs_are_start_times_the_ratio_to_the_power_bit_for_bit():
    """Each end raised apart (for ends whose ratio overflows) moved 64 of the default sweep's 100 lrs in
    their last bits, and JSON's lrs, min_loss_lr and steepest_lr in their last digit: where the ratio
    is finite the lrs are start_lr * (end_lr / start_lr) ** t exactly, as before."""
    x, _ = linear_regression(256)
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    with torch.no_grad():
        y = model(x)  # a loss of 0 throughout: no divergence, all 100 steps swept
    result = lr_range_test(model, nn.MSELoss(), x, y, torch.optim.SGD(model.parameters(), lr=1e-3))
    assert len(result.lrs) == 100
    assert result.lrs == [1e-7 * (10.0 / 1e-7) ** (i / 99) for i in range(100)]
