"""The NaN origin: the input, a weight, the first module whose forward output turns non-finite, the
loss, or the backward pass of a module; found inside training, from the batch that produced it."""

from __future__ import annotations

import collections
import inspect
import math
import re

import pytest
import torch
from torch import nn

from doctor.setups import diagnose_in_recipe_words as diagnose  # the rules' advice in recipe fields
from optimlab.doctor import DoctorCallback
from optimlab.doctor.nan_origin import batch_fault, finite_filled, locate_non_finite
from optimlab.train import fit
from tests.test_nested_tensors import ReadOnlyItems


class Exp(nn.Module):
    """exp(10 x): overflows to inf in float32 once x > 8.9."""

    def forward(self, x):
        return torch.exp(10 * x)


class SqrtOfPositivePart(nn.Module):
    """sqrt(x * [x > 0]): finite forward, but sqrt's derivative at 0 is inf, and inf * 0 = NaN backward."""

    def forward(self, x):
        return torch.sqrt(x * (x > 0))


def problem(n=128, features=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, features, generator=generator), torch.randint(0, 2, (n,), generator=generator)


def first_nan(model, x, y, loss_fn=None, lr=0.1, steps=30):
    torch.manual_seed(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    doctor = DoctorCallback(model, optimizer)
    fit(
        model,
        optimizer,
        x,
        y,
        loss_fn=loss_fn or nn.CrossEntropyLoss(),
        total_steps=steps,
        batch_size=32,
        callbacks=[doctor],
    )
    return doctor.statistics.non_finite


def test_forward_overflow_is_traced_to_the_first_module_whose_output_is_not_finite():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), Exp(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].weight.fill_(3.0)  # relu outputs reach ~10 on typical rows: exp(100) = inf
    x, y = problem()
    origin = first_nan(model, x, y)
    assert (origin.kind, origin.module, origin.step) == ("forward", "2", 1)
    assert "2 (Exp) outputs" in origin.detail and "inf" in origin.detail


def test_a_nan_born_in_the_backward_pass_names_the_layer_just_before_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), SqrtOfPositivePart(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    x, y = problem()
    origin = first_nan(model, x, y)
    assert (origin.kind, origin.module, origin.step) == ("backward", "0", 1)
    assert "finite from 2 on" in origin.detail


def test_a_nan_in_the_inputs_names_the_feature():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x, y = problem()
    x[77, 2] = float("nan")
    origin = first_nan(model, x, y)
    assert origin.kind == "input" and "feature 2" in origin.detail and origin.module is None


def test_a_nan_in_a_sequence_batch_is_placed_by_its_step_and_feature_not_the_row_flattened():
    """A NaN at step 7, feature 2 of a (rows, 10 steps, 4 features) batch was said 'the first in feature
    30', its place in the row flattened, which no index of the batch reaches (x[:, 30] is out of range).
    It is said as the batch's index. Truth: that index of the batch holds the NaN."""
    torch.manual_seed(0)
    x = torch.randn(64, 10, 4)
    x[3, 7, 2] = float("nan")
    said = batch_fault(x)
    assert said == "the batch holds 1 non-finite value in 1 of its 64 rows, the first at [:, 7, 2]", said
    assert torch.isnan(x[:, 7, 2]).any()


class Encoding(collections.UserDict):
    """A Hugging Face BatchEncoding's shape: a mutable mapping with an attribute besides its items."""

    def __init__(self, data, encodings):
        super().__init__(data)
        self.encodings = encodings


def test_a_batch_filled_finite_keeps_its_mapping_type_and_a_read_only_one_is_a_dict():
    """finite_filled gave any mapping back as a dict (a BatchEncoding lost its type), then (a2d4458f) a
    mapping whose __setitem__ refuses writes raised a raw TypeError. Truth: torch.nan_to_num of each
    floating tensor; the BatchEncoding-like mapping keeps its type and attribute, the read-only one is a
    dict of its items filled."""
    x, ids = torch.tensor([1.0, math.nan, -math.inf]), torch.arange(3)
    filled = finite_filled(Encoding({"x": x, "ids": ids}, encodings=["e"]))
    assert type(filled) is Encoding and filled.encodings == ["e"] and filled["ids"] is ids
    assert torch.equal(filled["x"], torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0))
    read_only = finite_filled(ReadOnlyItems(x=x))
    assert type(read_only) is dict and torch.equal(read_only["x"], torch.tensor([1.0, 0.0, 0.0]))


def test_a_non_finite_loss_from_finite_outputs_blames_the_loss():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))

    def log_loss(output, target):  # log of a possibly negative number: NaN with finite outputs
        return torch.log(output.squeeze(1) + 0.1).mean()

    x, y = problem()
    origin = first_nan(model, x, y, loss_fn=log_loss)
    assert origin.kind == "loss" and origin.step == 1 and "every gradient is finite" in origin.detail


def test_weights_that_are_already_non_finite_are_named():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[2].weight[0, 0] = float("inf")
    x, _ = problem()
    origin = locate_non_finite(
        model, (x,), step=5, gradients={"0": False, "2": False}, forward_order=["0", "2"]
    )
    assert (origin.kind, origin.module, origin.step) == ("weights", "2", 5)


def test_the_replay_leaves_batch_norm_statistics_and_the_random_state_alone():
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 8), nn.Dropout(0.5), Exp(), nn.Linear(8, 2))
    with torch.no_grad():
        model[1].weight.fill_(50.0)
    x, _ = problem()
    running = model[0].running_mean.clone()
    state = torch.get_rng_state()
    origin = locate_non_finite(
        model, (x,), step=1, gradients={"0": False, "1": False, "4": False}, forward_order=["0", "1", "4"]
    )
    assert (origin.kind, origin.module, origin.module_type) == ("forward", "3", "Exp")
    assert torch.equal(model[0].running_mean, running) and torch.equal(torch.get_rng_state(), state)


def test_diagnose_reports_the_origin_as_its_first_finding():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), Exp(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].weight.fill_(3.0)
    x, y = problem()
    found = diagnose(
        model,
        (x, y),
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        steps=20,
        lr_find=False,
    )
    first = found.findings[0]
    assert first.rule == "nan_inf" and first.evidence["module"] == "2"
    assert first.title == "NaN/Inf at step 1: first output by 2 (Exp)"


def test_a_nan_in_a_regressions_targets_names_the_targets_not_the_loss():
    """Inputs, weights and outputs finite, MSE against a NaN target is NaN: the batch's targets are the
    origin (counted here against torch.isnan of the batch that held it), not the loss's arithmetic."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    x, _ = problem()
    y = x.sum(1, keepdim=True)
    y[77] = float("nan")
    found = diagnose(
        model, (x, y), nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.01), steps=20, lr_find=False
    )
    origin = found.statistics.non_finite
    assert origin.kind == "target" and origin.module is None
    assert origin.detail == "the batch's targets hold 1 non-finite value in 1 of its 64 rows"
    first = found.findings[0]
    assert first.title == f"NaN/Inf at step {origin.step}: in the batch's targets"
    assert "targets" in first.recommendation


def test_a_nan_in_the_inputs_says_how_many_rows_of_the_batch_hold_one():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x, _ = problem()
    x[[3, 9], 1] = float("nan")
    x[9, 2] = float("inf")
    origin = locate_non_finite(
        model, (x,), step=1, gradients={"0": False, "2": False}, forward_order=["0", "2"]
    )
    assert origin.detail == "the batch holds 3 non-finite values in 2 of its 128 rows, the first in feature 1"


class LastStep(nn.Module):
    """A ReLU RNN read at its last step by a Linear head; the RNN returns a tuple, (outputs, h_n)."""

    def __init__(self, recurrent_scale: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.head = nn.RNN(4, 16, batch_first=True, nonlinearity="relu"), nn.Linear(16, 2)
        with torch.no_grad():
            self.rnn.weight_hh_l0.fill_(recurrent_scale)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def test_a_recurrent_layer_that_overflows_is_named_though_it_returns_a_tuple():
    """16 units summing each other 50 steps over at 1e3 overflow float32: the RNN's outputs turn inf
    first, not its head's, which only reads them (it was named, 'from finite inputs')."""
    model = LastStep(1e3)
    x = torch.randn(8, 50, 4, generator=torch.Generator().manual_seed(0)).abs()
    with torch.no_grad():
        outputs, _ = model.rnn(x)
    assert torch.isfinite(x).all() and not torch.isfinite(outputs).all()
    origin = locate_non_finite(
        model, (x,), step=2, gradients={"rnn": False, "head": False}, forward_order=["rnn", "head"]
    )
    assert (origin.kind, origin.module, origin.module_type) == ("forward", "rnn", "RNN"), origin
    assert origin.detail.startswith("rnn (RNN) outputs ")


class LogBetween(nn.Module):
    """log of a Linear layer's outputs, taken in forward between two modules: NaN where they are negative."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body, self.head = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x):
        return self.head(torch.log(self.body(x)))


def test_a_nan_made_between_modules_names_the_forward_that_made_it_not_the_module_it_reached():
    model = LogBetween()
    x, _ = problem()
    with torch.no_grad():
        assert torch.isfinite(model.body(x)).all() and torch.isnan(torch.log(model.body(x))).any()
    origin = locate_non_finite(
        model, (x,), step=1, gradients={"body": False, "head": False}, forward_order=["body", "head"]
    )
    assert (origin.kind, origin.module, origin.module_type) == ("forward", "(model)", "LogBetween"), origin
    assert (
        origin.detail.startswith("head (Linear) receives ")
        and "forward code of (model) (LogBetween)" in origin.detail
    )


class SqrtOfLinear(nn.Module):
    """sqrt of a Linear layer's outputs in forward code: positive at init (bias 2), negative later."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body, self.head = nn.Linear(4, 8), nn.Linear(8, 2)
        with torch.no_grad():
            self.body.bias.fill_(2.0)
            self.body.weight.mul_(0.1)

    def forward(self, x):
        return self.head(torch.sqrt(self.body(x)))


class SumOfReLUs(nn.Module):
    """ReLU features over their sum per row: 0/0 once every unit of a row is dead."""

    def forward(self, h):
        return h / h.sum(-1, keepdim=True)


class PlainExp(nn.Module):
    def forward(self, x):
        return torch.exp(x)


def separable(n=512):
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))
    return x, (x[:, 0] > 0).long()


def diagnosed_nan(model, lr):
    """The nan_inf finding of 100 steps of SGD at ``lr`` on :func:`separable`."""
    found = diagnose(model, separable(), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=lr),
                     steps=100, lr_find=False)  # fmt: skip
    return next(f for f in found.findings if f.rule == "nan_inf"), found.statistics.losses


def test_a_sqrt_whose_input_turns_negative_mid_run_is_told_to_guard_it_not_that_it_overflowed():
    """It said 'training: grad_clip_norm 1.0 and a lower lr, so that (model) cannot overflow' at step
    12 of a falling loss: sqrt of -0.04 is NaN at any lr (torch's own sqrt, checked here)."""
    model = SqrtOfLinear()
    finding, losses = diagnosed_nan(model, 0.5)
    origin = finding.evidence
    assert origin["step"] > 1 and (origin["op"], origin["cause"]) == ("sqrt", "domain")
    assert max(losses[: origin["step"] - 1]) < 10 * losses[0]  # no blow-up before it
    assert finding.recommendation.startswith("guard the operation in (model) (SqrtOfLinear): the input "
                                             "of sqrt left its domain")  # fmt: skip
    assert "overflow" not in finding.recommendation and finding.recipe_changes == {}
    least = float(re.search(r"the least is (\S+?)\.( |$)", finding.explanation).group(1))
    assert least < 0 and torch.isnan(torch.sqrt(torch.tensor(least)))


def test_a_divisor_that_reaches_0_mid_run_is_named_and_told_an_eps():
    """The sum of a row's ReLU outputs reaches 0 once all its units die: 0/0. The replayed batch's own
    sums, computed here from the weights the run left, are 0 in as many rows as the finding counts."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), SumOfReLUs(), nn.Linear(8, 2))
    x, y = separable()
    optimizer = torch.optim.SGD(model.parameters(), lr=2.0)
    doctor = DoctorCallback(model, optimizer)
    fit(
        model,
        optimizer,
        x,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=30,
        batch_size=32,
        callbacks=[doctor],
    )
    origin = doctor.statistics.non_finite
    assert origin.step > 1 and (origin.kind, origin.module, origin.op, origin.cause) == (
        "forward",
        "2",
        "div",
        "division",
    )
    from optimlab.doctor.rules.training import nan_inf

    finding = nan_inf(doctor.statistics)
    assert finding.recommendation.startswith(
        "guard the operation in 2 (SumOfReLUs): a divisor of div reached 0"
    )
    assert "eps" in finding.recommendation and finding.recipe_changes == {}


def test_an_overflow_after_the_loss_blew_up_is_still_the_lrs():
    """exp of a Linear layer under SGD at lr 3: the loss goes 0.72, 5.0, 13.3, then exp(166) = inf in
    float32 (over log(3.4e38) = 88.7): the lr, with clipping, is the advice."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), PlainExp(), nn.Linear(8, 2))
    finding, losses = diagnosed_nan(model, 3.0)
    assert (finding.evidence["op"], finding.evidence["cause"]) == ("exp", "overflow")
    assert (
        torch.isinf(torch.exp(torch.tensor(89.0))) and losses[finding.evidence["step"] - 2] > 10 * losses[0]
    )
    assert finding.recommendation.startswith("lr: lower it") and finding.recipe_changes == {
        "training.grad_clip_norm": 1.0
    }


class MaskedLog(nn.Module):
    """Fills a mask with -inf on purpose, as a causal attention does, then takes log of its input in place."""

    def forward(self, x):
        scores = x.masked_fill(x > 1.5, float("-inf")).softmax(-1)
        return scores + (x - 0.5).log_()


def test_an_infinity_put_there_on_purpose_is_not_the_operation_and_an_in_place_log_is():
    x, _ = problem()
    origin = locate_non_finite(MaskedLog(), (x,), step=3, gradients={}, forward_order=[])
    assert (origin.kind, origin.op, origin.cause) == ("forward", "log", "domain"), origin


class BagOfTokens(nn.Module):
    """The mean of a sentence's token embeddings, classified by a Linear layer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embedding, self.head = nn.Embedding(50, 16), nn.Linear(16, 2)

    def forward(self, ids):
        return self.head(self.embedding(ids).mean(1))


def rare_token_batches():
    """12 batches of tokens 0..29; the last also holds token 40, whose embedding no earlier step used."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 30, (12, 32, 8), generator=generator)
    ids[-1, 0, 0] = 40
    return [(x, (x < 15).sum(1).gt(4).long()) for x in ids]


def test_a_weight_adam_made_nan_by_dividing_zero_moments_by_eps_0_is_told_eps_not_a_lower_lr():
    """A weight that turned non-finite mid-run was always put down to overflow ('lr: lower it, and
    grad_clip_norm 1.0'). Adam with eps 0 turns the embedding rows no batch used yet (gradient 0, both
    moments 0) to 0/0 = NaN at its first step, at any lr; the NaN shows at step 12, when a batch reads
    token 40. The weight holds NaN and no Inf (an overflow makes Inf): the finding names eps. Truth, by
    real runs: the advice (eps 1e-8) trains all 12 steps finite; the old advice (lr / 10 and clipping)
    still ends in NaN at the same step."""
    from optimlab.doctor.rules import run_rules

    def run(lr, eps, clip=None):
        model = BagOfTokens()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=eps)
        doctor = DoctorCallback(model, optimizer)
        loss_fn = nn.CrossEntropyLoss()
        fit(model, optimizer, rare_token_batches(), loss_fn=loss_fn, total_steps=12, callbacks=[doctor],
            grad_clip_norm=clip)  # fmt: skip
        return doctor.statistics

    stats = run(1e-2, 0.0)
    origin = stats.non_finite
    assert (origin.kind, origin.module, origin.step, origin.cause) == ("weights", "embedding", 12, None)
    assert "in 20 of its 50 rows" in origin.detail and "0 of them Inf" in origin.detail, origin.detail
    findings = {f.rule: f for f in run_rules(stats, None)}
    assert findings["nan_inf"].recipe_changes == {"optimizer.eps": 1e-8}, findings["nan_inf"]
    assert "eps" in findings["nan_inf"].recommendation and "lr_too_high" not in findings
    assert run(1e-2, 1e-8).non_finite is None  # the advice, applied
    assert run(1e-3, 0.0, clip=1.0).non_finite.step == 12  # the old advice, applied: no help


def test_float16_weights_under_adams_default_eps_are_told_an_eps_float16_holds_not_a_lower_lr():
    """A model already in float16 under Adam (lr 1e-3, eps 1e-8): 1e-8 rounds to 0 in float16, so where
    v underflows m / (sqrt(v) + eps) overflows, and a weight was Inf after step 1. The advice was 'lr:
    lower it, and training: grad_clip_norm 1.0'. Truth: torch's float16 rounds 1e-8 to 0, and the same
    run at eps 1e-4 (the advice) stays finite while its loss falls."""
    assert torch.tensor(1e-8, dtype=torch.float16).item() == 0.0
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
    y = (x @ torch.randn(8, 3, generator=torch.Generator().manual_seed(1))).argmax(1)
    found = {}
    for eps in (1e-8, 1e-4):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)).half()
        optimizer = torch.optim.Adam(model.parameters(), 1e-3, eps=eps)
        found[eps] = diagnose(model, (x.half(), y), nn.CrossEntropyLoss(), optimizer, steps=60, lr_find=False)
    nan = found[1e-8].findings[0]
    assert nan.rule == "nan_inf" and "already non-finite" in nan.title
    assert nan.recommendation.startswith("optimizer: {eps: 0.0001}, which float16 holds"), nan.recommendation
    assert nan.recipe_changes == {"optimizer.eps": 1e-4} and "lr: lower" not in nan.recommendation
    losses = found[1e-4].statistics.losses
    assert not found[1e-4].findings and all(map(torch.isfinite, torch.tensor(losses)))
    assert sum(losses[-5:]) < sum(losses[:5])


@pytest.mark.parametrize("make", [torch.optim.RMSprop, torch.optim.Adagrad], ids=["RMSprop", "Adagrad"])
def test_float16_weights_under_any_eps_float16_rounds_to_0_are_told_an_eps_it_holds(make):
    """RMSprop's default eps 1e-8 and Adagrad's 1e-10 round to 0 in float16 as Adam's does, and their
    step divides by sqrt(v) + eps too; only optimizers with betas were told so, these 'lr: lower it'.
    Truth: torch's float16 rounds each to 0, and the same run at eps 1e-4 stays finite."""
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
    y = (x @ torch.randn(8, 3, generator=torch.Generator().manual_seed(1))).argmax(1)
    default = inspect.signature(make).parameters["eps"].default
    assert torch.tensor(default, dtype=torch.float16).item() == 0.0
    found = {}
    for eps in (default, 1e-4):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)).half()
        optimizer = make(model.parameters(), 1e-2, eps=eps)
        found[eps] = diagnose(model, (x.half(), y), nn.CrossEntropyLoss(), optimizer, steps=8, lr_find=False)
    nan = found[default].findings[0]
    assert nan.rule == "nan_inf", [(f.rule, f.recommendation) for f in found[default].findings]
    assert nan.recommendation.startswith(
        f"optimizer: {{eps: 0.0001}}, which float16 holds (its eps {default:.3g}"
    )
    assert nan.recipe_changes == {"optimizer.eps": 1e-4}
    assert all(map(math.isfinite, found[1e-4].statistics.losses))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_weight_non_finite_before_any_update_is_told_it_came_so_not_an_update_that_made_it(value):
    """A model handed over with a NaN weight (a bad checkpoint) was told 'a 0/0 did (an optimizer's eps of
    0, a norm of 0 ...)', and one with an Inf weight 'lr: lower it, and training: {grad_clip_norm: 1.0} (a
    step already overflowed a weight)': at step 1, before any update, which no optimizer setting made.
    Truth: the weight set by hand before the run; the same run with it finite takes every step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    x, y = problem()
    with torch.no_grad():
        model[2].weight[0, 0] = value
    found = diagnose(model, (x, y), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1), steps=5,
                     lr_find=False)  # fmt: skip
    told = next(f for f in found.findings if f.rule == "nan_inf")
    assert (told.evidence["kind"], told.evidence["step"]) == ("weights", 1)
    assert told.recommendation.startswith(
        "the weights of 2 (Linear) were non-finite before any update, as built or loaded"
    ), told.recommendation
    assert told.recipe_changes == {}
    # a torch user's door says it the same way: no recipe section ('model:') they have not
    optimizer = torch.optim.SGD(model.parameters(), 0.1)
    doctor = DoctorCallback(model, optimizer)
    fit(model, optimizer, x, y, loss_fn=nn.CrossEntropyLoss(), total_steps=2, callbacks=[doctor])
    fitted = next(f for f in doctor.diagnosis().findings if f.rule == "nan_inf")
    assert fitted.recommendation == told.recommendation, fitted.recommendation
    with torch.no_grad():
        model[2].weight[0, 0] = 0.0
    finite = diagnose(model, (x, y), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), 0.1), steps=5,
                      lr_find=False)  # fmt: skip
    assert len(finite.statistics.steps) == 5 and finite.statistics.non_finite is None


def test_a_resumed_fit_whose_earlier_updates_overflowed_the_weights_keeps_the_lr_advice():
    """fit at SGD lr 1e38 overflows the weights; fit(..., state=state) with a DoctorCallback then continues
    and was told they were non-finite 'before any update, as built or loaded ... no lr, clip or eps made
    them': its first watched step is not the run's first. Truth: the weights were finite before the first
    fit and Inf after its updates."""
    torch.manual_seed(0)
    x, y = torch.randn(64, 8), torch.randn(64, 1) * 10
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), 1e38)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    state = fit(model, optimizer, x, y, loss_fn=nn.MSELoss(), total_steps=5, batch_size=16)
    assert state.step >= 1 and not all(torch.isfinite(p).all() for p in model.parameters())
    doctor = DoctorCallback(model, optimizer)
    fit(
        model,
        optimizer,
        x,
        y,
        loss_fn=nn.MSELoss(),
        total_steps=10,
        batch_size=16,
        callbacks=[doctor],
        state=state,
    )
    told = next(f for f in doctor.diagnosis().findings if f.rule == "nan_inf")
    first = doctor.statistics.steps[0]
    assert (told.evidence["kind"], told.evidence["step"]) == ("weights", first) and first > 1
    assert told.recommendation.startswith("lower lr in the optimizer"), told.recommendation
    assert "as built or loaded" not in told.recommendation
    assert f"the {first - 1} updates before it may have made them" in told.explanation
