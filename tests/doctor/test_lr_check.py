"""find_lr: the range test's candidates decided by a short check; checked against closed forms and torch."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import re
import time
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import optimlab.doctor
import optimlab.doctor.lr_find
import optimlab.models
import optimlab.optim
import optimlab.techniques.losses
from optimlab.data.user_batches import Forward, UserBatches
from optimlab.doctor import find_lr, lr_candidates, lr_range_test, score_lrs
from optimlab.doctor.lr_check import (
    CHANCE_ERRORS,
    _below_entropy,
    _below_lowest,
    _binomial_tail,
    _Checked,
    _checked,
    _cross_folds,
    _decided,
    _label_counts,
    _lower_middle,
    _pooled,
    _scored_by_row,
    _spread_about_mean,
    _tied,
    _unit_levels,
    _within_one_se,
    end_level,
    stackable,
)
from optimlab.doctor.lr_find import Candidate, LRRangeResult
from optimlab.doctor.progress import listening
from optimlab.errors import InvalidValueError

from .setups import NamedExamples, ReturnsItsLoss, standardized


def _best(candidates, **tie):
    """The candidate the check chooses: the lower middle of those tied with the best."""
    return _lower_middle(candidates, _tied(candidates, **tie))


def isotropic_regression(n=256, d=8, scale=1.0, seed=0):
    """Noise-free y = x w* with x^T x / n = scale^2 I exactly: the full-batch MSE's Hessian is
    2 scale^2 I, so gradient descent at lr 1 / L = 1 / (2 scale^2) solves it in one step, and every
    other lr contracts the error by |1 - lr L| a step (diverging beyond 2 / L)."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, d, generator=generator, dtype=torch.float64))
    x = (q * math.sqrt(n) * scale).float()
    w = torch.randn(d, 1, generator=generator)
    held_out = torch.randn(64, d, generator=generator)
    return x, x @ w, (held_out, held_out @ w)


@pytest.mark.parametrize("stacked", [True, False])
@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_on_a_quadratic_of_known_curvature_the_suggestion_lands_near_one_over_l(stacked, scale):
    x, y, held_out = isotropic_regression(scale=scale)
    inverse_l = 1 / (2 * scale**2)
    model = nn.Linear(8, 1, bias=False)
    params = model.parameters()
    optimizer = optimlab.optim.create("sgd", params, lr=0.1) if stacked else torch.optim.SGD(params, lr=0.1)
    assert (stackable(model, optimizer) is None) == stacked
    result = find_lr(
        model, nn.MSELoss(), x, y, optimizer, held_out=held_out, check_steps=8, batch_size=len(x),
        start_lr=1e-4 * inverse_l, end_lr=1e3 * inverse_l,
    )  # fmt: skip
    # The nearest candidate to 1/L contracts fastest. (8 steps: by 20, lrs 1.33x either side of it
    # also reach float32's floor, where their losses honestly tie.)
    assert inverse_l / 1.5 < result.suggestion < 1.5 * inverse_l
    chosen = next(c for c in result.candidates if c.lr == result.suggestion)
    assert result.check is not None and chosen.score == min(
        c.score for c in result.candidates if c.score is not None
    )
    # Beyond 2 / L the error grows every step: such candidates diverge or end far behind.
    unstable = [c for c in result.candidates if c.lr > 2.2 * inverse_l]
    assert unstable and all(c.score is None or c.score > 100 * chosen.score for c in unstable)


def test_dropout_at_zero_stacks_and_dropout_that_drops_does_not():
    """Dropout with p = 0 is the identity, so a Transformer built without dropout (its modules are
    there) trains its candidates stacked; with p > 0 each member would draw other masks."""
    for dropout, reason in ((0.0, None), (0.1, "the model has dropout")):
        model = optimlab.models.create("transformer", input_shape=(10, 1), num_outputs=3, dropout=dropout)
        assert any(isinstance(m, nn.Dropout) for m in model.modules())
        optimizer = optimlab.optim.create("adam", model.parameters())
        assert stackable(model, optimizer) == reason


def test_a_model_that_cannot_be_stacked_is_checked_one_at_a_time():
    """Data-dependent control flow runs in a model of its own but not under vmap: the check finds that
    on a few rows before it starts, and trains the candidates one at a time (every other one)."""

    class Branching(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = nn.Linear(64, 32), nn.Linear(32, 10)

        def forward(self, x):
            h = torch.relu(self.hidden(x))
            return self.out(h / 2 if h.mean() > 10 else h)

    x, y = standardized()
    torch.manual_seed(0)
    model = Branching()
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    assert stackable(model, optimizer) is None  # nothing in its modules says so
    found = find_lr(model, nn.CrossEntropyLoss(), x, y, optimizer, check_steps=20, steps=30, batch_size=64)
    plain = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    ladder = find_lr(plain, nn.CrossEntropyLoss(), x, y, optimlab.optim.create("adam", plain.parameters()),
                     check_steps=20, steps=30, batch_size=64)  # fmt: skip
    assert found.suggestion is not None and "cross-fitted" not in found.check
    assert len(found.candidates) == math.ceil(len(ladder.candidates) / 2)


def test_stacked_and_one_at_a_time_checks_agree_with_torch_adam():
    x, y = standardized()
    train, held_out = (x[:800], y[:800]), (x[800:], y[800:])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    lrs = [1e-3, 1e-2, 3e-2]
    ours = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    reference = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert stackable(model, ours) is None and stackable(model, reference) is not None
    before = [p.detach().clone() for p in model.parameters()]
    stacked = score_lrs(model, nn.CrossEntropyLoss(), train, held_out, ours, lrs, steps=40, batch_size=32)
    alone = score_lrs(model, nn.CrossEntropyLoss(), train, held_out, reference, lrs, steps=40, batch_size=32)
    for a, b in zip(stacked, alone, strict=True):
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=1.5 / len(held_out[0]))
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))  # the model is untouched


def test_stacked_and_one_at_a_time_checks_clip_alike():
    """find_lr(..., grad_clip_norm=...) clips every candidate's steps: stacked, each member by its own
    norm; one at a time, through fit as a run clips. Truth: torch's SGD one at a time, and the clip acting
    (a norm of 0.05 is far below these gradients': the scores move)."""
    x, y = standardized()
    train, held_out = (x[:256], y[:256]), (x[800:], y[800:])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    ours = optimlab.optim.create("sgd", model.parameters(), lr=0.1)
    reference = torch.optim.SGD(model.parameters(), lr=0.1)
    score = functools.partial(score_lrs, model, nn.CrossEntropyLoss(), train, held_out, lrs=[0.1, 1.0], steps=8,
                              batch_size=32)  # fmt: skip
    stacked, alone = score(ours, grad_clip_norm=0.05), score(reference, grad_clip_norm=0.05)
    for a, b in zip(stacked, alone, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    unclipped = score(ours)
    assert all(abs(a["val_loss"] - b["val_loss"]) > 1e-3 for a, b in zip(stacked, unclipped, strict=True))


@pytest.mark.parametrize("clip", [-1.0, 0.0, math.nan, "a"])
def test_a_bad_clip_norm_is_refused_in_one_line_stacked_or_one_at_a_time(clip):
    """score_lrs checked grad_clip_norm only where fit ran the candidates (torch's optimizers): stacked (an
    optimlab optimizer), -1 reversed every gradient and 0 froze the steps, unsaid."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    data = (torch.randn(64, 4), torch.randint(0, 3, (64,)))
    for optimizer in (
        optimlab.optim.create("sgd", model.parameters(), lr=0.1),
        torch.optim.SGD(model.parameters(), lr=0.1),
    ):
        with pytest.raises(
            InvalidValueError, match=r"for grad_clip_norm: accepted a number in \(0, inf\), or None"
        ):
            score_lrs(
                model,
                nn.CrossEntropyLoss(),
                data,
                data,
                optimizer,
                [0.1],
                steps=2,
                batch_size=32,
                grad_clip_norm=clip,
            )


def test_per_position_scores_in_torchs_layout_are_checked_stacked_as_one_at_a_time():
    """Class scores (N, C, T) against targets (N, T), some ignored: the stacked members' accuracy reads
    the class dimension as a single model's does."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, 4, generator=generator)
    y = (x[..., 0] > 0).long() + (x[..., 1] > 0).long()
    y[:, -1] = -100
    train, held_out = (x[:200], y[:200]), (x[200:], y[200:])

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

        def forward(self, rows):
            return self.net(rows).transpose(1, 2)

    torch.manual_seed(0)
    model = Tagger()
    ours = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    reference = torch.optim.Adam(model.parameters(), lr=1e-3)
    lrs = [1e-3, 1e-2]
    stacked = score_lrs(model, nn.CrossEntropyLoss(), train, held_out, ours, lrs, steps=30, batch_size=32)
    alone = score_lrs(model, nn.CrossEntropyLoss(), train, held_out, reference, lrs, steps=30, batch_size=32)
    for a, b in zip(stacked, alone, strict=True):
        assert 0.5 < a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=1.5 / 500)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)


def test_find_lr_leaves_model_and_optimizer_as_they_were_and_reports_its_evidence():
    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    result = find_lr(model, nn.CrossEntropyLoss(), x, y, optimizer, check_steps=30, batch_size=64)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert optimizer.param_groups[0]["lr"] == 1e-3 and not optimizer.state_dict()["state"]
    assert result.suggestion in [c.lr for c in result.candidates]
    scores = [c.score for c in result.candidates if c.score is not None]
    assert len(scores) >= 3 and all(0 <= s <= 1 for s in scores)  # held-out accuracies
    chosen = next(c for c in result.candidates if c.lr == result.suggestion)
    assert chosen.score >= max(scores) - 0.1  # among the best (ties go to the middle)
    as_json = result.to_dict()
    assert as_json["check"] and as_json["candidates"][0].keys() >= {"lr", "source", "score"}


def test_candidates_span_the_minimum_and_the_steepest_descent():
    found = lr_candidates(0.1, 0.02)
    lrs = [c.lr for c in found]
    assert lrs == sorted(lrs) and 0.02 in lrs
    assert max(lrs) == pytest.approx(0.1 * 10**0.5) and min(lrs) == pytest.approx(0.1 / 10**1.5)
    assert all(b / a > 1.1 for a, b in itertools.pairwise(lrs))
    # An eighth of a decade apart around the minimum: 17 of them, and the steepest descent.
    ladder = [c.lr for c in found if c.source.startswith("lowest loss")]
    assert len(ladder) == 17 and len(lrs) == 18
    assert all(b / a == pytest.approx(10 ** (1 / 8)) for a, b in itertools.pairwise(ladder))
    # A rung within 10% of the steepest descent (0.1 x 10^(-7/8) = 0.0133) is not checked twice.
    near = [c.lr for c in lr_candidates(0.1, 0.013)]
    assert len(near) == 17 and 0.013 in near
    assert lr_candidates(None, None) == []


def test_end_level_reads_the_line_through_the_evaluations_at_the_last_step():
    steps = [10, 20, 30, 40]
    jitter = [1, -1, -1, 1]  # orthogonal to a constant and to the steps: the line ignores it
    values = [2 + 0.05 * t + 0.1 * j for t, j in zip(steps, jitter)]
    assert end_level(steps, values) == pytest.approx(4.0)  # the last value is 4.1, their mean 3.25
    # A loss decaying exponentially with relative jitter: fitted to its logarithm.
    losses = [math.exp(-0.02 * t + 0.1 * j) for t, j in zip(steps, jitter)]
    assert end_level(steps, losses, log=True) == pytest.approx(math.exp(-0.8))
    assert end_level([7], [0.3]) == pytest.approx(0.3)


def test_a_held_out_loss_that_reached_0_ends_at_0_not_below_it():
    # Lion on wine's MLP at lr 0.25: the held-out cross-entropy hit exactly 0 (below float precision),
    # so its level was the raw line through the evaluations, read at the last step below 0 (-0.99),
    # shown as the candidate's held-out loss and lowest in the loss's tie. The line here reads -0.114.
    steps = [75, 80, 85, 90, 95, 100]
    records = [(t, {"val_loss": v}, None) for t, v in zip(steps, [0.9, 0.0, 0.6, 0.0, 0.0, 0.0])]
    assert end_level(steps, [0.9, 0.0, 0.6, 0.0, 0.0, 0.0]) < 0
    assert _checked(records).levels["val_loss"] == 0.0
    # A loss that can be negative (a custom one) keeps the line's reading.
    signed = [(t, {"val_loss": v}, None) for t, v in zip(steps, [0.9, 0.0, 0.6, 0.0, 0.0, -0.1])]
    assert _checked(signed).levels["val_loss"] == pytest.approx(end_level(steps, [0.9, 0, 0.6, 0, 0, -0.1]))


def test_accuracies_within_one_standard_error_tie_and_the_lower_middle_wins():
    # 400 held-out labels: at p = 0.9 one standard error is sqrt(0.9 * 0.1 / 400) = 0.015.
    accuracies = {1e-4: 0.80, 2e-4: 0.886, 4e-4: 0.89, 8e-4: 0.90, 1.6e-3: 0.895, 3.2e-3: 0.88}
    candidates = [Candidate(lr, "test", score=a) for lr, a in accuracies.items()]
    # Tied: 2e-4 .. 1.6e-3 (3.2e-3 is 0.02 below the best); their lower middle is 4e-4.
    assert _best(candidates, accuracy_of=400).lr == 4e-4
    assert _best(candidates, accuracy_of=40_000).lr == 8e-4  # SE 0.0015: the best alone
    losses = [Candidate(lr, "test", score=1 - a) for lr, a in accuracies.items()]
    assert _best(losses, accuracy_of=None).lr == 8e-4  # a loss: the lowest


def test_among_candidates_tied_by_accuracy_the_held_out_loss_decides():
    # 100 held-out labels, every accuracy within one standard error (0.017) of the best: accuracy alone
    # cannot tell them apart. Their per-row losses can: 4e-4 and 8e-4 are 0.05 above the lowest on
    # every row, 1e-4 and 2e-4 tie with it (paired differences within one standard error).
    rows = torch.linspace(-1, 1, 100)
    base = 0.2 + 0.1 * rows.abs()
    units = [base + 0.01 * rows + 1e-4, base, base + 0.05, base + 0.05]
    candidates = [
        Candidate(lr, "test", score=a, held_out_loss=u.mean().item())
        for lr, a, u in zip((1e-4, 2e-4, 4e-4, 8e-4), (0.96, 0.96, 0.97, 0.96), units)
    ]
    assert _best(candidates, accuracy_of=100).lr == 2e-4  # units unknown: the accuracy tie's lower middle
    assert _best(candidates, accuracy_of=100, units=units).lr == 1e-4  # the tie by loss: 1e-4, 2e-4
    # A candidate outside the accuracy tie does not enter the loss tie, however low its loss.
    worse = [*candidates, Candidate(1.6e-3, "test", score=0.80, held_out_loss=0.01)]
    assert _best(worse, accuracy_of=100, units=[*units, base - 0.1]).lr == 1e-4


def test_unit_levels_are_alike_for_every_candidate_a_zero_loss_counting_as_the_smallest_one():
    # Three evaluations of 3 rows: the line through them read at the last step, per row. Rows steady
    # at 0.3 with one exactly 0 at the middle evaluation (a loss below float precision) are taken
    # through the logarithms like the others, that 0 counting as the smallest positive loss (0.01).
    def evaluations(*rows):
        return _checked([(step, {"val_loss": 0.3}, torch.tensor(r)) for step, r in enumerate(rows, 1)])

    jittery = evaluations([0.01] * 3, [1.0] * 3, [0.01] * 3)
    steady = evaluations([0.3] * 3, [0.3, 0.3, 0.0], [0.3] * 3)
    a, b = _unit_levels([jittery, steady])
    assert a.tolist() == pytest.approx([0.01 ** (2 / 3)] * 3)  # a flat line: the mean of the logarithms
    assert b.tolist() == pytest.approx([0.3, 0.3, (0.3 * 0.01 * 0.3) ** (1 / 3)])
    # A negative loss (a custom one) has no logarithm: every candidate on the raw losses.
    signed = evaluations([-0.1] * 3, [0.1] * 3, [-0.1] * 3)
    a, b, c = _unit_levels([jittery, steady, signed])
    assert a.tolist() == pytest.approx([0.34] * 3) and b.tolist() == pytest.approx([0.3, 0.3, 0.2])
    assert c.tolist() == pytest.approx([-1 / 30] * 3)
    assert _unit_levels([jittery, _Checked({"val_loss": 0.3})]) == [None, None]  # not known for all


def test_the_reason_says_how_many_candidates_tied_and_when_the_check_told_none_apart():
    curve = LRRangeResult([], [], [], 1e-3, 1e-2, 1e-3, None, "the curve's reading")
    candidates = [Candidate(lr, "test") for lr in (1e-4, 1e-3, 1e-2)]
    checks = [_Checked({"val_accuracy": a, "val_loss": 1.0}) for a in (0.80, 0.89, 0.90)]

    def reason(rows: int) -> str:
        held_out = UserBatches((torch.zeros(rows, 2), torch.arange(rows) % 10), nn.CrossEntropyLoss())
        return _decided(curve, candidates, checks, 100, [held_out]).reason

    # 10 labels: one standard error sqrt(0.9 * 0.1 / 10) = 0.095, every candidate within it.
    assert reason(10).startswith("the lower middle of all 3 candidates, tied (the check told none apart),")
    # 400 labels: 0.015; 0.89 ties with 0.90, 0.80 does not.
    assert reason(400).startswith("the lower middle of 2 of 3 candidates tied with the best")
    assert "lr 0.001 " in reason(400) and "the curve alone: the curve's reading" in reason(400)
    # With each row's loss known, the loss narrows the accuracy tie: 1e-2 is 0.1 above on every row.
    rows = torch.linspace(0, 1, 10)
    checks = [_Checked(k.levels, (rows + extra)[None], (100,)) for k, extra in zip(checks, (0.0, 0.0, 0.1))]
    assert reason(10).startswith(
        "the lower middle of the 2 tied with the lowest held-out loss among the 3 of 3 candidates tied "
        "with the best by accuracy"
    )
    checks[1] = _Checked(checks[1].levels, (rows + 0.1)[None], (100,))
    assert reason(10).startswith("the lowest held-out loss among the 3 of 3 candidates tied with the best")
    assert reason(40_000).startswith("the best of 3 candidates (none tied with it)")


def test_candidates_tied_below_diverged_ones_are_told_apart_from_them():
    """17 candidates, the 3 highest diverged, the other 14 within 0.1% of each other: the check said
    'the lower middle of all 14 candidates, tied (the check told none apart)' and told_apart False, so
    no rule read an lr too high from it, where the diverged lrs are the clearest thing it measured.
    Truth: the 3 highest lrs have no held-out loss (they diverged), the other 14 have one."""
    from optimlab.doctor.rules._readings import _advised_lr

    base = torch.rand(200, generator=torch.Generator().manual_seed(0)) + 0.5
    lrs = [0.01 * 10 ** (k / 8) for k in range(-12, 5)]
    checks = [
        _Checked({}) if i >= 14 else _Checked({"val_loss": (u := base * (1 + 1e-5 * i)).mean().item()},
                                              u[None].repeat(6, 1), tuple(range(6)))
        for i in range(17)
    ]  # fmt: skip
    curve = LRRangeResult([], [], [], None, None, None, None, "the curve's reading")
    held_out = UserBatches((torch.zeros(200, 2), torch.zeros(200)), nn.L1Loss())
    result = _decided(curve, [Candidate(lr, "test") for lr in lrs], checks, 100, [held_out])
    diverged = [c.lr for c in result.candidates if c.score is None]
    assert diverged == lrs[14:] and all(c.score is not None for c in result.candidates[:14])
    assert result.told_apart and result.suggestion in lrs[:14]
    assert result.reason.startswith(
        "the lower middle of the 14 of 17 candidates that did not diverge, tied (lr 0.0178, 0.0237, "
        "0.0316 diverged),"
    ), result.reason
    assert _advised_lr(result) == result.suggestion  # what the lr rules read (lr_too_high)


def test_the_reason_says_where_the_choice_is_the_lowest_or_highest_lr_checked():
    # Nothing below the lowest candidate or above the highest was trained: a choice there may not be
    # the best lr, and the evidence says so; one between two measured neighbours is bounded on both sides.
    curve = LRRangeResult([], [], [], 1e-3, 1e-2, 1e-3, None, "the curve's reading")
    candidates = [Candidate(lr, "test") for lr in (1e-4, 1e-3, 1e-2)]
    held_out = UserBatches((torch.zeros(40_000, 2), torch.arange(40_000) % 10), nn.CrossEntropyLoss())

    def reason(*accuracies: float | None) -> str:
        checks = [_Checked({} if a is None else {"val_accuracy": a, "val_loss": 1.0}) for a in accuracies]
        return _decided(curve, candidates, checks, 100, [held_out]).reason

    assert "lr 0.0001 (test; the lowest lr checked: a lower one may do better)" in reason(0.9, 0.8, 0.7)
    assert "lr 0.01 (test; the highest lr checked: a higher one may do better)" in reason(0.7, 0.8, 0.9)
    assert "lr 0.001 (test)," in reason(0.7, 0.9, 0.8)  # between two it beat
    assert "lr 0.001 (test)," in reason(0.7, 0.9, None)  # the one above it diverged: bounded


def test_below_the_lowest_chosen_more_candidates_at_the_ladders_spacing_and_nowhere_else():
    candidates = [Candidate(lr, "ladder") for lr in (1e-3, 2e-3, 4e-3)]
    below = _below_lowest(1e-3, candidates, stride=1)
    assert [c.lr for c in below] == pytest.approx([1e-3 * 10 ** (-k / 8) for k in (4, 3, 2, 1)])
    assert below[-1].source == "ladder x 0.75"
    quarters = _below_lowest(1e-3, candidates, stride=2)  # one at a time: every other rung
    assert [c.lr for c in quarters] == pytest.approx([1e-3 * 10 ** (-k / 4) for k in (4, 3, 2, 1)])
    # the middle, the top (the ladder's cap is a guard), nothing chosen: nothing more
    assert not any(_below_lowest(lr, candidates, stride=1) for lr in (2e-3, 4e-3, None))


@pytest.mark.parametrize("stacked", [True, False])
def test_a_choice_at_the_ladders_floor_is_checked_below_it_and_lands_near_one_over_l(monkeypatch, stacked):
    """Lion on the digits MLP chose the ladder's floor on 3 of 3 seeds where the best of a grid lay
    3.2x below it. Here the ladder is set wholly above the quadratic's 1/L (1.78/L, the others beyond
    2/L diverging), so the check's first choice is its floor; the candidates below it reach 1/L, the
    closed-form best, and it is chosen. A ladder wholly below 1/L keeps its top: nothing above it."""
    x, y, held_out = isotropic_regression(scale=2.0)
    inverse_l = 1 / 8

    def checked(ladder):
        rungs = [Candidate(inverse_l * 10 ** (k / 8), "rung") for k in ladder]
        monkeypatch.setattr(optimlab.doctor.lr_find, "lr_candidates", lambda *args, **kwargs: rungs)
        model = nn.Linear(8, 1, bias=False)
        params = model.parameters()
        optimizer = (
            optimlab.optim.create("sgd", params, lr=0.1) if stacked else torch.optim.SGD(params, lr=0.1)
        )
        return find_lr(
            model, nn.MSELoss(), x, y, optimizer, held_out=held_out, check_steps=8, batch_size=len(x),
            start_lr=1e-4 * inverse_l, end_lr=1e3 * inverse_l,
        ), len(rungs[:: 1 if stacked else 2])  # fmt: skip

    result, rungs = checked(range(2, 7))
    assert inverse_l / 1.5 < result.suggestion < 1.5 * inverse_l
    assert "the lowest lr chosen, 4 more below it checked and chosen among all" in result.check
    assert len(result.candidates) == rungs + 4
    result, rungs = checked(range(-6, -1))
    assert result.suggestion == max(c.lr for c in result.candidates) and len(result.candidates) == rungs
    assert "the highest lr checked: a higher one may do better" in result.reason


def test_no_suggestion_where_no_candidate_beats_answering_the_most_frequent_class():
    curve = LRRangeResult([], [], [], 1e-3, 1e-2, 1e-3, None, "the curve's reading")
    candidates = [Candidate(lr, "test") for lr in (1e-4, 1e-3, 1e-2)]
    # 500 labels, 60% of them class 0: chance is 0.6, three standard errors 3 sqrt(0.24 / 500) = 0.066.
    held_out = UserBatches((torch.zeros(500, 2), (torch.arange(500) % 5 > 2).long()), nn.CrossEntropyLoss())

    def decided(*accuracies):
        checks = [_Checked({"val_accuracy": a, "val_loss": 1.0}) for a in accuracies]
        return _decided(curve, candidates, checks, 100, [held_out])

    at_chance = decided(0.58, 0.61, 0.66)
    assert at_chance.suggestion is None
    assert at_chance.reason.startswith(
        "no candidate's held-out accuracy beat answering the most frequent class after 100 steps "
        "(at best 0.66; that class alone: 0.6, 3 standard errors on 500 held-out labels reaching 0.6657)"
    )  # 0.6 + 3 sqrt(0.6 * 0.4 / 500): the bar the best must pass, said, as 1.0 against 0.81 on 16 labels
    assert [c.score for c in at_chance.candidates] == [0.58, 0.61, 0.66]  # the evidence is kept
    assert at_chance.trains is False and at_chance.chance == pytest.approx(0.6)
    learned = decided(0.58, 0.61, 0.67)
    assert learned.suggestion == 1e-2 and learned.trains is True and learned.chance is None


def test_labels_drawn_apart_from_the_inputs_get_no_suggestion():
    """No lr can predict held-out labels that are independent of the inputs: the check says so."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(600, 8, generator=generator)
    y = torch.randint(0, 3, (600,), generator=generator)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))
    optimizer = optimlab.optim.create("adam", model.parameters())
    found = find_lr(model, nn.CrossEntropyLoss(), x, y, optimizer, check_steps=100, steps=40, batch_size=32)
    assert found.suggestion is None and all(c.score is not None for c in found.candidates)
    assert found.reason.startswith("no candidate's held-out accuracy beat answering the most frequent class")
    assert found.trains is False
    learnable = find_lr(
        model,
        nn.CrossEntropyLoss(),
        x,
        x[:, :3].argmax(1),
        optimizer,
        check_steps=100,
        steps=40,
        batch_size=32,
    )
    assert learnable.suggestion is not None and learnable.trains is True


def test_regression_targets_drawn_apart_from_the_inputs_get_no_suggestion():
    """No lr predicts held-out targets independent of the inputs better than their mean: the check
    says so; with targets that depend on the inputs it suggests an lr. Checked 100 steps a candidate:
    the best held-out loss on noise 1.115 against the mean's 1.074 as at 200, the learnable 0.31."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(600, 8, generator=generator)
    noise = torch.randn(600, 1, generator=generator)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = optimlab.optim.create("adam", model.parameters())
    for loss in (nn.MSELoss(), optimlab.techniques.losses.create("mse")):
        found = find_lr(model, loss, x, noise, optimizer, check_steps=100, steps=60, batch_size=32)
        assert found.suggestion is None and all(c.score is not None for c in found.candidates)
        assert found.reason.startswith("no candidate's held-out loss beat predicting the targets' mean")
        assert found.trains is False and found.chance > 0.5  # unit-variance noise about its mean
    signal = x[:, :2].sum(1, keepdim=True) + 0.5 * noise
    learnable = find_lr(model, nn.MSELoss(), x, signal, optimizer, check_steps=100, steps=60, batch_size=32)
    assert learnable.suggestion is not None and learnable.trains is True


def test_the_mean_as_a_prediction_loses_each_rows_squared_deviation():
    targets = torch.tensor([[1.0, 0.0], [3.0, 4.0], [2.0, 2.0]])  # column means 2 and 2
    folds = [UserBatches((torch.zeros(3, 1), targets), nn.MSELoss())]
    expected = torch.tensor([(1 + 4) / 2, (1 + 4) / 2, 0.0], dtype=torch.float64)
    assert torch.equal(_spread_about_mean(folds), expected)
    assert _spread_about_mean([UserBatches((torch.zeros(3, 1), targets), nn.L1Loss())]) is None


def test_check_steps_are_checked():
    x, y, _ = isotropic_regression()
    model = nn.Linear(8, 1, bias=False)
    with pytest.raises(InvalidValueError, match="check_steps"):
        find_lr(model, nn.MSELoss(), x, y, torch.optim.SGD(model.parameters(), lr=0.1), check_steps=0)


@pytest.mark.parametrize("cross_fit", ["no", 0, 1])
def test_cross_fit_other_than_none_true_or_false_is_refused_not_read_as_its_truth(cross_fit):
    """cross_fit='no' is truthy: find_lr cross-fitted the held-out rows given apart, the opposite of what
    it said, with no word of it."""
    x, y, _ = isotropic_regression()
    model = nn.Linear(8, 1, bias=False)
    with pytest.raises(
        InvalidValueError, match="^invalid value .* for cross_fit: accepted None, True or False"
    ):
        find_lr(model, nn.MSELoss(), x, y, held_out=(x[:64], y[:64]), cross_fit=cross_fit, **QUICK)


@pytest.mark.parametrize(
    ("optimizer", "says"),
    [
        (torch.optim.SGD, "the class SGD"),
        ("sgd", "'sgd'"),
        (torch.optim.SGD(nn.Linear(8, 1).parameters(), lr=0.1), "none of the model's trainable parameters"),
    ],
)
def test_an_optimizer_that_cannot_step_the_model_is_refused_in_one_line(optimizer, says):
    x, y, _ = isotropic_regression()
    with pytest.raises(InvalidValueError, match=re.escape(says)) as refused:
        find_lr(nn.Linear(8, 1), nn.MSELoss(), x, y, optimizer)
    assert "torch.optim.Optimizer" in str(refused.value) or "model's parameters" in refused.value.accepted
    with pytest.raises(InvalidValueError, match="a ReLU without parameters"):
        find_lr(nn.ReLU(), nn.MSELoss(), x, y)


def test_outputs_the_loss_broadcasts_against_the_targets_get_no_suggestion():
    """Outputs (N, 1) against targets (N,): MSE compares every output with every target of a batch,
    and no lr trains that; said before any candidate trains."""
    x, y, _ = isotropic_regression()
    torch.manual_seed(0)
    found = find_lr(nn.Linear(8, 1), nn.MSELoss(), x, y[:, 0], **QUICK)
    assert found.suggestion is None and not any(c.score is not None for c in found.candidates)
    assert found.trains is False
    assert found.reason.startswith(
        "the loss compares outputs (32, 1) with targets (32,), broadcast to (32, 32)"
    )
    assert find_lr(nn.Linear(8, 1), nn.MSELoss(), x, y, **QUICK).suggestion is not None  # paired: checked


def test_held_out_data_the_model_cannot_take_is_named_before_the_check():
    x, y, _ = isotropic_regression()
    with pytest.raises(InvalidValueError, match="the first batch of the held-out data") as refused:
        find_lr(nn.Linear(8, 1), nn.MSELoss(), x, y, held_out=(torch.zeros(16, 9), torch.zeros(16, 1)))
    assert "shapes cannot be multiplied" in str(refused.value)


def small_digits(rows=400):
    x, y = standardized()
    return x[:rows], y[:rows]


def small_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


QUICK = {"check_steps": 12, "steps": 30, "batch_size": 32}


def test_dict_batches_of_a_model_with_its_own_loss_get_the_check_of_the_same_tensors():
    """A Dataset of dicts is read in the tensors' order: the same runs, hence the same scores."""
    x, y = small_digits()
    net = small_mlp()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)  # not stackable: one at a time either way
    tensors = find_lr(
        net, nn.CrossEntropyLoss(), x[:300], y[:300], optimizer, held_out=(x[300:], y[300:]), **QUICK
    )
    dicts = find_lr(
        ReturnsItsLoss(net, nn.CrossEntropyLoss()), None, NamedExamples(x[:300], y[:300]), optimizer=optimizer,
        held_out=NamedExamples(x[300:], y[300:]), **QUICK,
    )  # fmt: skip
    assert dicts.check is not None and "accuracy" in dicts.check
    scores = [c.score for c in dicts.candidates]
    assert len(scores) == 9 and all(s is not None for s in scores)  # quarter decades, one at a time
    assert scores == pytest.approx([c.score for c in tensors.candidates], abs=1e-6)
    assert [c.held_out_loss for c in dicts.candidates] == pytest.approx(
        [c.held_out_loss for c in tensors.candidates], rel=1e-5
    )
    assert dicts.suggestion == tensors.suggestion


def test_outputs_or_losses_that_cannot_be_scored_row_by_row_are_scored_by_batch_alike():
    """A model returning a tuple, and cross-entropy with class weights and label smoothing (which torch
    cannot vmap row by row), are scored on the held-out batches: the same levels as the plain rows'."""

    class WithExtra(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x), x.sum()

    x, y = small_digits()
    net = small_mlp()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)  # not stackable: one at a time throughout
    data = {"data": x[:300], "y": y[:300], "held_out": (x[300:], y[300:])} | QUICK
    smoothed = {"label_smoothing": 0.1}
    plain = find_lr(net, nn.CrossEntropyLoss(**smoothed), optimizer=optimizer, **data)
    found = [
        find_lr(
            WithExtra(net),
            lambda out, t: nn.functional.cross_entropy(out[0], t, **smoothed),
            optimizer=optimizer,
            **data,
        ),
        find_lr(net, nn.CrossEntropyLoss(weight=torch.ones(10), **smoothed), optimizer=optimizer, **data),
    ]
    for other in found:
        assert other.suggestion is not None
        assert [c.held_out_loss for c in other.candidates] == pytest.approx(
            [c.held_out_loss for c in plain.candidates], rel=1e-5
        )
    stacking = optimlab.optim.create("adam", net.parameters(), lr=1e-3)  # the weights refuse to stack
    weighted = find_lr(
        net, nn.CrossEntropyLoss(weight=torch.ones(10), **smoothed), optimizer=stacking, **data
    )
    assert len(weighted.candidates) == len(plain.candidates) and weighted.suggestion is not None


@pytest.mark.parametrize(
    ("loss", "by_row"),
    [
        (nn.CrossEntropyLoss(), True),
        (nn.CrossEntropyLoss(reduction="sum"), True),
        (nn.CrossEntropyLoss(label_smoothing=0.1), True),
        (nn.CrossEntropyLoss(weight=torch.arange(1.0, 11.0)), False),  # a weighted mean of the rows
        (lambda out, t: nn.functional.cross_entropy(out, t) + out.std(0).mean(), False),  # a term across rows
        (lambda out, t: nn.functional.cross_entropy(out, t) * float(out.detach().abs().max() > 0), False),
    ],
)
def test_rows_are_scored_apart_only_where_their_losses_make_the_loss_of_the_batch(loss, by_row):
    x, y = small_digits()
    with torch.no_grad():
        outputs = small_mlp()(x)
    assert _scored_by_row(Forward(loss(outputs, y), outputs, y), loss) is by_row


def test_a_dataloader_is_checked_on_rows_held_out_of_its_dataset_as_tensors_are():
    """Tensors taken in order, as a loader without shuffling takes them, and the same rows held out:
    the same check."""
    x, y = small_digits()
    net = small_mlp()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    batched = {k: v for k, v in QUICK.items() if k != "batch_size"}  # the batches and loader hold theirs
    in_order = UserBatches((x, y), nn.CrossEntropyLoss(), batch_size=32, shuffle=False)
    tensors = find_lr(net, None, in_order, optimizer=optimizer, **batched)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    from_loader = find_lr(net, nn.CrossEntropyLoss(), loader, optimizer=optimizer, **batched)
    assert from_loader.check is not None and all(c.score is not None for c in from_loader.candidates)
    assert [c.score for c in from_loader.candidates] == pytest.approx(
        [c.score for c in tensors.candidates], abs=1e-6
    )
    assert from_loader.suggestion == tensors.suggestion


def test_losses_tie_by_a_paired_standard_error_and_the_lower_middle_wins():
    rows = torch.linspace(-1, 1, 100)
    # Per-row loss levels: the best (lr 4e-4), one whose every row is 0.01 above it (a clear loss),
    # two whose differences to it scatter around a mean below one standard error (ties).
    best = 1 + rows.abs()
    units = {
        1e-4: best + 0.01,
        2e-4: best + 0.01 * rows + 3e-4,
        4e-4: best,
        8e-4: best - 0.02 * rows + 0.001,
    }
    candidates = [Candidate(lr, "test", score=u.mean().item()) for lr, u in units.items()]
    differences = units[2e-4] - best
    assert 0 < differences.mean() < differences.std() / 10  # within one SE: sqrt(100) = 10
    # Tied: 2e-4, 4e-4, 8e-4 (1e-4 is 0.01 above on every row: its SE is 0); lower middle 4e-4.
    assert _best(candidates, accuracy_of=None, units=list(units.values())).lr == 4e-4
    assert _best(candidates[:3], accuracy_of=None, units=list(units.values())[:3]).lr == 2e-4
    assert _best(candidates, accuracy_of=None).lr == 4e-4  # units unknown: the lowest


def test_a_loss_tie_is_the_run_of_tied_candidates_next_to_the_best():
    # A far lr whose rows scatter widely ties by its noise alone; it is not next to the best.
    rows = torch.linspace(-1, 1, 100)
    best = 1 + rows.abs()
    units = [best + 0.01 * rows + 3e-4, best, best + 0.05, best + rows + 0.01]  # lrs 1e-4 .. 8e-4
    assert _within_one_se(units[3] - best) and _within_one_se(units[0] - best)
    losses = [Candidate(10**-4 * 2**k, "test", score=u.mean().item()) for k, u in enumerate(units)]
    assert _best(losses, accuracy_of=None, units=units).lr == 1e-4  # the run 1e-4, 2e-4: lower middle


def test_pooled_checks_weigh_levels_by_rows_and_keep_every_folds_units():
    def check(level, units):  # one evaluation, at step 10
        return _Checked({"val_loss": level}, torch.tensor([units], dtype=torch.float64), (10,))

    a = [check(1.0, [1.0] * 3), check(2.0, [0.0] * 3)]
    b = [check(4.0, [1.0]), _Checked({})]  # the second diverged here
    c = [check(0.5, [0.0] * 2), check(1.0, [1.0] * 2)]
    folds = [UserBatches((torch.zeros(n, 2), torch.zeros(n)), nn.MSELoss()) for n in (3, 1, 2)]
    pooled = _pooled([a, b, c], folds)
    assert pooled[0].levels == {"val_loss": (3 * 1.0 + 1 * 4.0 + 2 * 0.5) / 6}
    assert pooled[0].unit_losses.tolist() == [[1.0] * 4 + [0.0] * 2] and pooled[0].steps == (10,)
    assert pooled[1].levels == {}
    assert _pooled([a], folds[:1]) == a


def test_cross_fitting_holds_out_disjoint_folds_of_training_rows_and_pools_every_check():
    x, y = small_digits()
    net = small_mlp()
    optimizer = optimlab.optim.create("adam", net.parameters(), lr=1e-3)  # stackable: cross-fitted
    train, held_out = (x[:300], y[:300]), (x[300:], y[300:])
    given = find_lr(net, nn.CrossEntropyLoss(), *train, optimizer, held_out=held_out, **QUICK)
    assert "cross-fitted" not in given.check  # rows given apart stay held out, by default
    crossed = find_lr(
        net, nn.CrossEntropyLoss(), *train, optimizer, held_out=held_out, cross_fit=True, **QUICK
    )
    # 100 held-out rows: 3 folds of 100 training rows (all there are) bring them to 400 of 1,000.
    assert "4 cross-fitted checks" in crossed.check
    batching = {"batch_size": QUICK["batch_size"]}
    folds = _cross_folds(
        UserBatches(train, nn.CrossEntropyLoss(), **batching), UserBatches(held_out, nn.CrossEntropyLoss()), 0
    )
    as_rows = lambda t: {tuple(r.tolist()) for r in t}  # noqa: E731
    assert len(folds) == 3
    out = [as_rows(fold.tensors[0]) for _, fold in folds]
    assert all(len(o) == 100 for o in out) and set.union(*out) == as_rows(x[:300])  # disjoint, all
    for (fold_train, _), fold_rows in zip(folds, out):  # the rest and the held-out rows train: 300
        assert len(fold_train.tensors[0]) == 300
        assert as_rows(fold_train.tensors[0]) == as_rows(x) - fold_rows
    # Each candidate's score: the four checks' accuracies weighted by rows (100 each).
    lrs = [c.lr for c in crossed.candidates]
    runs = [score_lrs(net, nn.CrossEntropyLoss(), train, held_out, optimizer, lrs, steps=12, **batching)]
    runs += [
        score_lrs(net, nn.CrossEntropyLoss(), t.tensors, f.tensors, optimizer, lrs, steps=12, **batching)
        for t, f in folds
    ]
    expected = [sum(r.get("val_accuracy", math.nan) for r in per_lr) / 4 for per_lr in zip(*runs)]
    scores = [c.score if c.score is not None else math.nan for c in crossed.candidates]
    assert scores == pytest.approx(expected, abs=1e-6, nan_ok=True)
    assert [c.score for c in given.candidates] == pytest.approx(
        [p.get("val_accuracy") for p in runs[0]], abs=1e-6
    )


def test_a_recipes_dict_batches_are_swept_in_an_optimizer_steps_rows_as_its_tensors_are(user_package):
    """The doctor reads a recipe's training in an optimizer step's rows, its batch size times the batches
    it accumulates (diagnose._step_rows), as tensors are swept; the user's dict batches were swept in the
    recipe's batch size alone (8 rows, not 16), the step's rows dropped without a word. Truth: the range
    test by hand on the same Dataset in 16-row batches drawn with the recipe's seed."""
    pytest.importorskip("transformers")
    from optimlab_userpkg.text import bert, sentences

    from optimlab.doctor.diagnose import lr_range_test_recipe
    from optimlab.recipe import Recipe

    recipe = Recipe.from_dict({
        "data": {"name": "optimlab_userpkg.text:sentences"}, "model": {"name": "optimlab_userpkg.text:bert"},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "training": {"epochs": 1, "batch_size": 8, "accumulate_grad_batches": 2, "seed": 3},
    })  # fmt: skip
    swept = lr_range_test_recipe(recipe, steps=10)
    torch.manual_seed(3)
    model = bert()
    by_hand = lr_range_test(
        model, None, sentences()[0], optimizer=optimlab.optim.create("adam", model.parameters(), lr=1e-3),
        steps=10, batch_size=16, seed=3,
    )  # fmt: skip
    assert swept.losses == pytest.approx(by_hand.losses)


def test_a_recipe_on_the_users_dict_batches_is_checked_as_find_lr_by_hand(user_package):
    """``lr-find`` on a recipe naming a Hugging Face model and its dict batches by import path: the
    candidates checked (one at a time, the model's own loss) on the factory's validation set, as
    :func:`find_lr` called by hand on the same Datasets. The recipe's optimizer carries its lr
    scheduler's wrapper of ``step``: a candidate's copy must step itself, not the original."""
    pytest.importorskip("transformers")
    from optimlab_userpkg.text import bert, sentences

    from optimlab.doctor.diagnose import find_lr_recipe
    from optimlab.recipe import Recipe

    recipe = Recipe.from_dict({
        "data": {"name": "optimlab_userpkg.text:sentences"}, "model": {"name": "optimlab_userpkg.text:bert"},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "training": {"epochs": 1, "batch_size": 16, "seed": 3},
    })  # fmt: skip
    found = find_lr_recipe(recipe, steps=60, check_steps=6)
    assert found.check and all(c.score is not None for c in found.candidates)

    torch.manual_seed(3)
    model = bert()
    train_set, val_set = sentences()
    by_hand = find_lr(
        model, None, train_set, optimizer=optimlab.optim.create("adam", model.parameters(), lr=1e-3),
        held_out=val_set, cross_fit=False, steps=60, check_steps=6, batch_size=16, seed=3,
    )  # fmt: skip
    assert [c.lr for c in found.candidates] == pytest.approx([c.lr for c in by_hand.candidates])
    assert [c.score for c in found.candidates] == pytest.approx([c.score for c in by_hand.candidates])
    assert found.suggestion == pytest.approx(by_hand.suggestion)


@pytest.mark.parametrize("stacked", [True, False])
def test_every_phase_reports_its_steps_to_a_listener(stacked):
    """The range test, each check (stacked: all candidates at once, in each cross-fitted check; else
    each candidate in turn) and nothing else report, each step once, in order, up to their length."""
    x, y = small_digits()
    net = small_mlp()
    params = net.parameters()
    optimizer = (
        optimlab.optim.create("adam", params, lr=1e-3) if stacked else torch.optim.Adam(params, lr=1e-3)
    )
    train, held_out = (x[:300], y[:300]), (x[300:], y[300:])
    heard = []
    with listening(lambda *step: heard.append(step)):
        result = find_lr(
            net, nn.CrossEntropyLoss(), *train, optimizer, held_out=held_out, cross_fit=True, **QUICK
        )
    by_phase = {phase: [(done, total) for p, done, total in heard if p == phase] for phase, _, _ in heard}
    sweep = by_phase.pop("LR range test")  # up to its end, or to where the loss diverged
    assert sweep == [(i, QUICK["steps"]) for i in range(len(sweep))] and len(sweep) > QUICK["steps"] // 2
    if stacked:
        checks = [
            f"lr check: {len(result.candidates)} candidates at once, check {k} of 4" for k in range(1, 5)
        ]
    else:
        checks = [
            f"lr check: candidate {i} of {len(result.candidates)} (lr {c.lr:.3g})"
            for i, c in enumerate(result.candidates, 1)
        ]
    assert list(by_phase) == checks
    steps = QUICK["check_steps"]
    for phase in checks:
        assert by_phase[phase] == [(i, steps) for i in range(1, steps + 1)], phase
    find_lr(net, nn.CrossEntropyLoss(), *train, optimizer, held_out=held_out, **QUICK)  # nobody listens


def test_on_imbalanced_classes_a_loss_below_the_labels_entropy_shows_learning_that_accuracy_hides():
    """94% of one class: the best accuracy stays within 3 standard errors of always answering it, yet
    the held-out cross-entropy is below that of answering the class frequencies, row by row: the model
    learned, and gets a suggestion. With the same imbalance drawn apart from the inputs, none."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 8, generator=generator)
    w = torch.randn(8, generator=generator)
    signal = (x @ w / w.norm() > 2.0).long()
    flipped = torch.rand(3000, generator=generator) < 0.04
    y = torch.where(flipped, 1 - signal, signal)
    unrelated = (torch.rand(3000, generator=generator) < y.float().mean()).long()
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    optimizer = optimlab.optim.create("adam", model.parameters())
    runs = {"check_steps": 300, "batch_size": 64}
    for labels, learns in ((y, True), (unrelated, False)):
        found = find_lr(model, nn.CrossEntropyLoss(), x[:2000], labels[:2000], optimizer,
                        held_out=(x[2000:], labels[2000:]), **runs)  # fmt: skip
        majority = 1 - labels[2000:].float().mean().item()
        best = max(c.score for c in found.candidates if c.score is not None)
        assert best <= majority + CHANCE_ERRORS * math.sqrt(majority * (1 - majority) / 1000)
        assert (found.suggestion is not None) == learns, found.reason


def test_a_check_over_its_budget_says_what_it_left_out(monkeypatch):
    """A stacked check whose first steps overrun its budget is planned again (the real plan_check, a
    member's step costed at 1 s, the probe made to say it overruns), the next fold over the budget:
    100.9 s checks every fourth candidate over 20 of the run's 40 steps (5 x 20 = 100, the time the
    check took being less than 0.9 s), in one check, and says so; no budget checks every candidate over
    the whole run in every cross-fitted check; 49.5 s, under a quarter of the run (5 x 10), leaves the
    curve's own reading, saying why."""
    import optimlab.doctor.lr_check as lr_check

    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    held_out = (x[:300], y[:300])  # 300 rows: cross-fitted up to 1,000
    common = {"held_out": held_out, "cross_fit": True, "check_steps": 40, "batch_size": 64}
    whole = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, **common)
    planned, plans = lr_check.plan_check, []

    def plan_at_a_second(*a, **k):
        plans.append(planned(*a, **{**k, "seconds_per_step": 1.0, "seconds_per_evaluation": 0.0}))
        return plans[-1]

    def overrun(*a, **k):  # a member's step measured cheaper than the model's own: stacking shares
        raise lr_check._OverBudget(0.0, 0.0)

    monkeypatch.setattr(lr_check, "plan_check", plan_at_a_second)
    monkeypatch.setattr(lr_check._Probe, "overruns", overrun)
    monkeypatch.setattr(lr_check, "another_fold_fits", lambda *a: False)
    cut = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, check_budget=100.9, **common)
    # The whole check's probe overran, then the smaller check's own: planned twice (REPLANS), the last
    # plan run without a probe.
    assert len(plans) == lr_check.REPLANS and plans[0] == plans[-1]
    assert [c.lr for c in cut.candidates] == [c.lr for c in whole.candidates][::4]
    folds = re.search(r"\((\d+) cross-fitted checks, pooled\)$", whole.check)
    assert whole.check.startswith("40 steps each") and folds and int(folds[1]) > 1
    n = len(whole.candidates)
    assert cut.check == (
        f"20 steps each, scored by held-out accuracy at the end of the run; to keep within the "
        f"100.9 s budget: 1 of {folds[1]} cross-fitted checks; 5 of the curve's {n} candidates "
        f"(every fourth); 20 of the run's 40 steps; the whole check estimated at {n * 40:.3g} s"
    )
    none = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, check_budget=49.5, **common)
    assert none.check is None and none.lrs == whole.lrs and none.suggestion is not None  # the curve's
    assert all(c.score is None for c in none.candidates)
    assert none.reason.startswith(
        "not checked within the 49.5 s budget (the smallest, 5 candidates over 10 of the run's "
        "40 steps, estimated at 50 s, over the 49."
    )
    with pytest.raises(InvalidValueError, match="check_budget"):
        find_lr(model, nn.CrossEntropyLoss(), x, y, optimizer, check_budget=0)


def test_a_budget_set_from_the_range_tests_step_time_governs_the_check():
    """``budget_for`` (the doctor's whole-run deadline) gets the seconds a range-test step took, and the
    check keeps to what it returns."""
    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    asked = []

    def budget_for(seconds_per_step: float) -> float:
        asked.append(seconds_per_step)
        return 1e-6

    found = find_lr(model, nn.CrossEntropyLoss(), x, y, optimizer, check_steps=40, budget_for=budget_for)
    assert len(asked) == 1 and 0 < asked[0] < 1  # a step of a 64-32-10 MLP
    assert found.check is None and found.reason.startswith(
        "not checked within the 1e-06 s budget (even one model over 10 of the run's 40 steps, estimated at "
    )  # and none timed: the range test's steps say no check fits
    with pytest.raises(InvalidValueError, match="check_budget"):
        find_lr(model, nn.CrossEntropyLoss(), x, y, optimizer, check_steps=40, budget_for=lambda _: 0.0)


def test_a_stacked_step_dearer_than_a_models_own_trains_the_candidates_one_at_a_time(monkeypatch):
    """Where a stacked member's step costs more than a range-test step (torch runs the operation member
    by member), a check over its budget trains every other candidate one at a time, as an unstackable
    model's, on the given split alone (no cross-fitting)."""
    import optimlab.doctor.lr_check as lr_check

    def over(*args, **clip):
        if args[-1] is not None:  # a budget: probed
            raise lr_check._OverBudget(seconds_per_step=1e9, seconds_per_evaluation=0.0)
        return stacked(*args, **clip)

    stacked = lr_check._check_stacked
    monkeypatch.setattr(lr_check, "_check_stacked", over)
    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    common = {"held_out": (x[:300], y[:300]), "cross_fit": True, "check_steps": 9, "batch_size": 64}
    whole = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, **common)
    alone = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, check_budget=1e6, **common)
    assert "cross-fitted" in whole.check
    assert alone.check == "9 steps each, scored by held-out accuracy at the end of the run"
    assert [c.lr for c in alone.candidates] == [c.lr for c in whole.candidates][::2]


def test_one_at_a_time_the_range_tests_step_plans_the_check(monkeypatch):
    """A model with dropout trains its candidates one at a time, every other one; a step taken as 1 s,
    the plan (real plan_check) of a 45.5 s budget checks every fourth over all 9 steps (5 x 9 = 45, the
    time the check took before it planned being less than half a second)."""
    import optimlab.doctor.lr_check as lr_check

    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    common = {"held_out": (x[:300], y[:300]), "check_steps": 9, "steps": 30, "batch_size": 64}
    whole = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, **common)
    planned = lr_check.plan_check
    costed = {"seconds_per_step": 1.0, "seconds_per_evaluation": 0.0}
    monkeypatch.setattr(lr_check, "plan_check", lambda *a, **k: planned(*a, **{**k, **costed}))
    cut = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, check_budget=45.5, **common)
    assert [c.lr for c in whole.candidates] == [c.lr for c in whole.candidates[::1]]
    assert (
        len(cut.candidates) == 5 and [c.lr for c in cut.candidates] == [c.lr for c in whole.candidates][::2]
    )
    assert cut.check.startswith("9 steps each") and "5 of the curve's" in cut.check


def test_a_probe_overruns_where_its_runs_would_end_after_the_time_given():
    """2 runs of 100 steps of 50 ms and 6 evaluations of 1 s: 2 x (5 + 6) = 22 s; stacked members share
    the times they took."""
    import optimlab.doctor.lr_check as lr_check

    now = time.perf_counter()
    alone, stacked = lr_check._Probe(now + 60, 100, runs=2), lr_check._Probe(now + 10, 100, members=4)
    alone.step = stacked.step = 0.05
    alone.overruns(1.0)
    alone.ends = now + 20
    with pytest.raises(lr_check._OverBudget) as over:
        alone.overruns(1.0)
    assert (over.value.seconds_per_step, over.value.seconds_per_evaluation) == (0.05, 1.0)
    with pytest.raises(lr_check._OverBudget) as shared:
        stacked.overruns(1.0)
    assert (shared.value.seconds_per_step, shared.value.seconds_per_evaluation) == (0.0125, 0.25)


def test_one_at_a_time_the_first_candidates_own_steps_plan_the_check_again(monkeypatch):
    """One at a time (dropout), the first candidate's first steps and one evaluation are timed: a
    candidate costs more than a range-test step (a copy, the loop), so the check is planned again
    from them, on the time left (the probe's own time spent), and probed again (a machine may slow
    later), up to :data:`REPLANS` probes, the plan after them run as planned. A probe splits the
    first candidate's run, changing nothing: every score is the check's without a budget."""
    import optimlab.doctor.lr_check as lr_check

    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    common = {"held_out": (x[:300], y[:300]), "check_steps": 40, "steps": 30, "batch_size": 64}
    whole = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, **common)
    probed, plans = [], []
    planned, overruns = lr_check.plan_check, lr_check._Probe.overruns

    def timed(self, evaluation):
        probed.append((self.steps, self.step, evaluation, self.runs))
        overruns(self, evaluation)
        raise lr_check._OverBudget(2.0, 3.0)  # costed anew: 9 x (40 x 2 + 6 x 3) = 882 s

    def plan(*a, **k):
        plans.append(k)
        return planned(*a, **k)

    monkeypatch.setattr(lr_check._Probe, "overruns", timed)
    monkeypatch.setattr(lr_check, "plan_check", plan)
    again = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, check_budget=1e4, **common)
    assert len(probed) == lr_check.REPLANS
    steps, step, evaluation, runs = probed[0]
    assert steps == 40 and step > 0 and evaluation > 0 and runs == 9
    assert [(k["seconds_per_step"], k["seconds_per_evaluation"]) for k in plans][1] == (2.0, 3.0)
    assert plans[1]["budget"] < plans[0]["budget"] < 1e4
    assert again.check == whole.check
    assert [(c.lr, c.score) for c in again.candidates] == [(c.lr, c.score) for c in whole.candidates]
    monkeypatch.setattr(lr_check._Probe, "overruns", overruns)
    roomy = find_lr(model, nn.CrossEntropyLoss(), x[300:], y[300:], optimizer, check_budget=1e4, **common)
    assert [(c.lr, c.score) for c in roomy.candidates] == [(c.lr, c.score) for c in whole.candidates]


@pytest.mark.parametrize("stackable", [True, False])
def test_the_check_leaves_torchs_random_state_as_it_was(stackable):
    """The range test kept the caller's random stream, the check did not: it seeded torch for each
    candidate's dropout and returned with the stream at that seed, so what the user drew after
    find_lr or diagnose (a weight init, a shuffle) differed from what they would have drawn."""
    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))
    loss = (
        nn.CrossEntropyLoss() if stackable else (lambda out, target: nn.functional.cross_entropy(out, target))
    )
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    find_lr(model, loss, x, y, torch.optim.Adam(model.parameters()), check_steps=20)
    assert torch.equal(torch.rand(4), expected)


class _Clock:
    """The clock the check reads (``lr_check``'s ``time.perf_counter``), moved only by
    :class:`_SlowsDown`'s forwards: what the check plans and spends is then the same on a busy machine
    as on an idle one, and the budget's truth is this clock, read after the check."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class _SlowsDown(nn.Module):
    """A small MLP whose forward costs ``cost`` seconds of :class:`_Clock`, and ``pause`` more from its
    ``after``-th call on: a machine that slows (another process on the core) once the check has timed
    its first steps. The count is the class's, shared by the copies each candidate trains; a stacked
    step of all the candidates is one forward."""

    clock = _Clock()
    calls = 0
    after = math.inf
    cost = 0.0005
    pause = 0.004

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls = type(self)
        cls.calls += 1
        cls.clock.now += cls.cost + (cls.pause if cls.calls >= cls.after else 0.0)
        return self.net(x)


def _timed_find_lr(
    monkeypatch: pytest.MonkeyPatch, data: object, y: torch.Tensor | None = None
) -> tuple[LRRangeResult, float]:
    """find_lr of a fresh :class:`_SlowsDown` under a 3 s check budget, and the seconds it took on the
    clock the check reads; stacked where ``data`` are tensors (optimlab's adam), one candidate at a
    time where not."""
    import optimlab.doctor.lr_check as lr_check

    clock = _Clock()
    monkeypatch.setattr(_SlowsDown, "clock", clock)
    monkeypatch.setattr(lr_check, "time", clock)
    model = _SlowsDown()
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=1e-3)
    found = find_lr(model, nn.CrossEntropyLoss(), data, y, optimizer, check_steps=200, check_budget=3.0)
    return found, clock.now


def _slowed_from_the_check_on(monkeypatch: pytest.MonkeyPatch, steady: LRRangeResult) -> None:
    """Slow :class:`_SlowsDown` from 100 forwards into the check on: past the range test (a forward a
    step) and the probe's steps."""
    monkeypatch.setattr(_SlowsDown, "calls", 0)
    monkeypatch.setattr(_SlowsDown, "after", len(steady.lrs) + 100)


def test_a_check_one_candidate_at_a_time_keeps_to_its_budget_when_the_machine_slows_after_the_probe(
    monkeypatch,
):
    """Its probe times the first candidate's first steps; a machine that slowed after them (another
    process on the core) made a user CNN's check planned at 20 s run 37 s. Timed again between
    candidates, it is planned again with the time left."""
    x, y = standardized()

    def loader() -> DataLoader:  # one candidate at a time: a DataLoader is not stacked
        return DataLoader(
            TensorDataset(x, y), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)
        )

    monkeypatch.setattr(_SlowsDown, "calls", 0)
    steady, steady_seconds = _timed_find_lr(monkeypatch, loader())
    assert steady.check is not None and "candidates" not in steady.check and steady_seconds <= 3.0
    _slowed_from_the_check_on(monkeypatch, steady)
    slowed, seconds = _timed_find_lr(monkeypatch, loader())
    assert seconds <= 3.0 + 1.0  # at most the candidate running as the machine slowed: 0.5 s here
    cut = "to keep within the 3 s budget" in (slowed.check or "") or slowed.reason.startswith(
        "not checked within"
    )
    assert cut, (slowed.check, slowed.reason)


def test_a_stacked_check_that_overran_its_budget_after_its_steps_were_timed_says_so(monkeypatch):
    """A stacked check is one run, timed by its first steps: a machine that slows after them makes it
    overrun, which it said nothing of. On a steady machine it keeps to its budget and says nothing."""
    x, y = standardized()
    monkeypatch.setattr(_SlowsDown, "calls", 0)
    steady, steady_seconds = _timed_find_lr(monkeypatch, x, y)
    assert steady.check is not None and steady_seconds <= 3.0 and "it ran" not in steady.check
    _slowed_from_the_check_on(monkeypatch, steady)
    monkeypatch.setattr(_SlowsDown, "pause", 0.06)  # a step of all the candidates at once
    slowed, seconds = _timed_find_lr(monkeypatch, x, y)
    assert seconds > 3.0 + 2.0  # it overran: the premise
    said = re.search(r"it ran ([\d.]+) s where ([\d.]+) s of the 3 s budget were left", slowed.check or "")
    assert said, slowed.check
    assert float(said[1]) == pytest.approx(seconds, abs=0.1) and float(said[2]) <= 3.0


def test_too_few_rows_to_hold_out_keep_the_range_tests_reading():
    """8 rows of tensors (lr-find on a CSV of 6): find_lr ran the whole range test, then refused the
    data, 'invalid value 8 for rows of x', and the curve's reading was lost. It stands, and the
    reason says the check had no held-out data, as for data that cannot be split."""
    x, y, _ = isotropic_regression(n=8, d=2)
    model = nn.Linear(2, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = find_lr(model, nn.MSELoss(), x, y, optimizer, steps=20, check_steps=5)
    curve = lr_range_test(model, nn.MSELoss(), x, y, optimizer, steps=20)
    assert curve.candidates  # the check had candidates to try: it reaches the held-out rows
    assert result.check is None and result.candidates == curve.candidates and result.lrs == curve.lrs
    assert result.suggestion == curve.suggestion
    assert result.reason == f"no held-out data for the check (give a validation set); {curve.reason}"


class _Rows(torch.utils.data.Dataset):
    """A map-style Dataset of (x, y) rows that is not a TensorDataset."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


@pytest.mark.parametrize("loader", [False, True])
@pytest.mark.parametrize("rows", [2, 9])
def test_too_few_rows_of_a_dataset_to_hold_out_keep_the_range_tests_reading(loader, rows):
    """2 rows of a Dataset (in a DataLoader or not) held out none: a bare StopIteration after the
    whole range test. Under 10 rows a Dataset is read as tensors are: the curve's reading stands."""
    x, y, _ = isotropic_regression(n=rows, d=2)
    data = DataLoader(_Rows(x, y), batch_size=1) if loader else _Rows(x, y)
    sized = {} if loader else {"batch_size": 1}
    model = nn.Linear(2, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = find_lr(model, nn.MSELoss(), data, optimizer=optimizer, steps=20, check_steps=5, **sized)
    curve = lr_range_test(model, nn.MSELoss(), data, optimizer=optimizer, steps=20, **sized)
    assert result.check is None and result.lrs == curve.lrs and result.suggestion == curve.suggestion
    assert result.reason == f"no held-out data for the check (give a validation set); {curve.reason}"


def test_held_out_data_without_rows_is_refused_before_the_sweep():
    """An empty validation set was refused only once the whole range test had run (100 steps spent)."""
    x, y, _ = isotropic_regression(n=64, d=2)
    steps = []

    def compute_loss(model, batch):
        steps.append(1)
        return nn.functional.mse_loss(model(batch[0]), batch[1])

    with pytest.raises(InvalidValueError, match="held_out: accepted tensors of at least one row"):
        find_lr(nn.Linear(2, 1), None, (x, y), compute_loss=compute_loss, held_out=(x[:0], y[:0]))
    assert steps == []


def test_held_out_data_of_another_feature_count_is_refused_before_the_sweep():
    """Held-out rows of 3 features for a model of 2 were refused only after the range test (102 calls of
    the loss); the model is now tried on them first, and no training batch is read."""
    x, y, _ = isotropic_regression(n=64, d=2)
    read = []

    def compute_loss(model, batch):
        read.append(batch[0].shape[1])
        return nn.functional.mse_loss(model(batch[0]), batch[1])

    held_out = (torch.randn(16, 3), torch.randn(16, 1))
    with pytest.raises(
        InvalidValueError, match="the first batch of the held-out data: accepted a batch the "
    ):
        find_lr(nn.Linear(2, 1), None, (x, y), compute_loss=compute_loss, held_out=held_out)
    assert read == [3]  # the held-out batch alone


def test_a_sweep_too_coarse_to_place_its_candidates_is_not_checked():
    """lr-find --start-lr 1e-320 --end-lr 1e300 on iris, 6.2 decades a step, concluded 'no lr trains this
    setup' where 1e-3 trains: a sweep coarser than half a decade a step leaves its curve's reading
    unchecked, and says why. The same ends at 0.5 decade a step are checked."""
    x, y, _ = isotropic_regression(n=128, d=2)
    model = nn.Linear(2, 1, bias=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    coarse = find_lr(
        model, nn.MSELoss(), x, y, optimizer, start_lr=1e-9, end_lr=10.0, steps=11, check_steps=5
    )
    curve = lr_range_test(model, nn.MSELoss(), x, y, optimizer, start_lr=1e-9, end_lr=10.0, steps=11)
    assert coarse.check is None and coarse.trains is None and coarse.suggestion == curve.suggestion
    assert coarse.reason == (
        "not checked: the sweep's lrs lie 1 decades apart, too coarse to place its candidates (at most 0.5: "
        f"more steps, lr-find's --sweep-steps, or nearer ends); {curve.reason}"
    )
    fine = find_lr(model, nn.MSELoss(), x, y, optimizer, start_lr=1e-9, end_lr=10.0, steps=21, check_steps=5)
    assert fine.check is not None


def test_a_check_takes_numpys_integers_for_its_steps():
    """check_steps=np.int64(50) was refused as 'not an integer', where fit's counts take numpy's."""
    import numpy as np

    from optimlab.doctor.lr_check import validate_check
    from optimlab.errors import InvalidValueError

    validate_check(np.int64(50), None)
    with pytest.raises(InvalidValueError, match="check_steps"):
        validate_check(np.float64(50.0), None)


def test_labels_minus_one_and_one_under_a_margin_loss_count_both_classes_for_chance():
    """A model of one score under torch's SoftMarginLoss, labels -1/+1 (a separable problem): the held-out
    labels were counted without their -1s, as if ignored, so answering +1 alone looked like an accuracy
    of 1 and no candidate (at best 0.996) could beat it: 'no lr trains this setup'. Both classes count,
    as the accuracy counts them, and the check suggests an lr."""

    class Margin(nn.SoftMarginLoss):
        def forward(self, outputs, targets):
            return super().forward(outputs.squeeze(-1), targets.float())

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1200, 8, generator=generator)
    y = torch.where(x @ torch.randn(8, generator=generator) > 0, 1, -1)
    model = nn.Linear(8, 1)
    optimizer = optimlab.optim.create("sgd", model.parameters())
    found = find_lr(model, Margin(), x[:800], y[:800], optimizer, held_out=(x[800:], y[800:]),
                    check_steps=100, batch_size=32)  # fmt: skip
    assert found.suggestion is not None, found.reason


def test_chance_on_few_imbalanced_held_out_labels_is_judged_by_the_exact_binomial_test():
    """A tiny BERT on 192 rows, 13% positives: every candidate scored held-out accuracy 1.0, and the
    check said 'no lr trains this setup', its bar 3 standard errors above the majority's share being
    1.044, above any accuracy. The truth is the one-sided binomial exact test (scipy's binomtest) at
    the level of 3 standard errors: on 56 labels, 49 of one class, all right beats chance (the normal
    bar 1.0076); on 40, 35 of one class, even all right cannot (p 0.875^40 above the level): the check
    says the labels are too few, and how many are needed, never that no lr trains."""
    from scipy.stats import binomtest, norm

    level = norm.sf(CHANCE_ERRORS)
    curve = LRRangeResult([], [], [], 1e-3, 1e-2, 1e-3, None, "the curve's reading")
    candidates = [Candidate(lr, "test") for lr in (1e-4, 1e-3, 1e-2)]

    def decided(rows, majority, *accuracies):
        held_out = UserBatches(
            (torch.zeros(rows, 2), (torch.arange(rows) >= majority).long()), nn.CrossEntropyLoss()
        )
        checks = [_Checked({"val_accuracy": a, "val_loss": 1.0}) for a in accuracies]
        return _decided(curve, candidates, checks, 100, [held_out])

    def p(right, rows, majority):
        return binomtest(right, rows, majority / rows, alternative="greater").pvalue

    # 56 labels, 49 of class 0: all right, p 0.00057 < 0.00135, where the normal bar passes 1.
    assert 49 / 56 + CHANCE_ERRORS * math.sqrt(49 / 56 * 7 / 56 / 56) > 1 and p(56, 56, 49) < level
    perfect = decided(56, 49, 1.0, 1.0, 1.0)
    assert perfect.trains is True and perfect.suggestion is not None, perfect.reason
    # At the majority's share, and one below all right (p 0.0053), no candidate beat chance.
    assert p(55, 56, 49) > level
    for best in (49 / 56, 55 / 56):
        at_chance = decided(56, 49, 0.8, 0.85, best)
        assert at_chance.trains is False and at_chance.suggestion is None
        assert f"p {p(round(best * 56), 56, 49):.3g}, not below {level:.3g}" in at_chance.reason
    # 40 labels, 35 of class 0: even all right has p 0.0048 > 0.00135: too few to tell, not 'no lr trains'.
    assert p(40, 40, 35) > level and p(50, 50, 43.75) < level < p(49, 49, 49 * 0.875)
    for accuracies in ((1.0, 1.0, 1.0), (0.8, 0.85, 0.875)):
        few = decided(40, 35, *accuracies)
        assert few.trains is None and "no lr trains" not in few.reason
        assert few.reason.startswith(
            f"too few held-out labels to tell whether any lr beats answering the most frequent class: 40 "
            f"held-out labels, 0.875 of them of that class, so even all of them right has p "
            f"{p(40, 40, 35):.3g} (one-sided binomial exact test), not below {level:.3g}; at that share "
            f"50 held-out labels would be needed; "
        ), few.reason
    assert "no count of them would tell" in decided(40, 40, 1.0, 1.0, 1.0).reason


def test_the_binomial_tail_is_the_exact_tests_p_value():
    from scipy.stats import binomtest

    for k, n, share in ((0, 10, 0.3), (3, 10, 0.3), (10, 10, 0.3), (330, 500, 0.6), (290, 500, 0.6),
                        (35, 40, 0.875), (40, 40, 0.875), (9_700, 10_000, 0.96), (1, 1, 0.5)):  # fmt: skip
        expected = binomtest(k, n, share, alternative="greater").pvalue
        assert _binomial_tail(k, n, share) == pytest.approx(expected, rel=1e-9, abs=1e-15), (k, n, share)


def test_few_imbalanced_held_out_rows_leave_a_separable_problem_undecided_and_unrelated_labels_untrained():
    """A linear rule with 13% positives, 40 held-out rows (a perfect classifier exists): the check must
    not say no lr trains, but that it cannot tell (0.925 of 40 labels of one class: 85 would be needed to tell); with such labels
    drawn apart from the inputs on 600 rows it still does."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(240, 8, generator=generator)
    y = (x[:, 0] > 1.13).long()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = optimlab.optim.create("adam", model.parameters())
    found = find_lr(model, nn.CrossEntropyLoss(), x[:200], y[:200], optimizer, held_out=(x[200:], y[200:]),
                    check_steps=100, steps=40, batch_size=16)  # fmt: skip
    assert found.trains is None and found.reason.startswith("too few held-out labels to tell"), found.reason
    assert found.suggestion is not None  # the held-out loss still chooses among the candidates
    x = torch.randn(600, 8, generator=generator)
    unrelated = (torch.rand(600, generator=generator) < 0.13).long()
    found = find_lr(
        model, nn.CrossEntropyLoss(), x, unrelated, optimizer, check_steps=100, steps=40, batch_size=16
    )
    assert found.trains is False and found.suggestion is None, found.reason
    assert "no candidate learned within the check's 100 steps" in found.reason, found.reason


def test_label_counts_decide_once_over_the_held_out_data_whether_labels_are_minus_one_and_one():
    """CrossEntropyLoss(ignore_index=-1) over classes 0..2: a held-out batch holding only labels -1 and 1
    was read as a margin loss's -1/+1 and its -1s counted as a class, where the next batch's were
    ignored. Whether the labels are -1/+1 is decided over the whole held-out data (and across folds):
    the truth is the count by hand of the labels 0..2."""
    x = torch.randn(8, 3)
    y = torch.tensor([1, -1, 1, -1, 0, 2, 1, -1])
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    held_out = UserBatches(loader, nn.CrossEntropyLoss(ignore_index=-1))
    assert _label_counts([held_out]) == {0: 1, 1: 3, 2: 1}
    folds = [UserBatches((x[:4], y[:4]), nn.CrossEntropyLoss(ignore_index=-1)),
             UserBatches((x[4:], y[4:]), nn.CrossEntropyLoss(ignore_index=-1))]  # fmt: skip
    assert _label_counts(folds) == {0: 1, 1: 3, 2: 1}
    margin = UserBatches(
        DataLoader(TensorDataset(x, torch.tensor([1, 1, 1, 1, -1, 1, -1, 1])), batch_size=4), None
    )
    assert _label_counts([margin]) == {1: 6, -1: 2}  # -1/+1 labels: both classes, the all-+1 batch too


def test_label_counts_leave_out_the_label_the_loss_ignores_whatever_its_value():
    """The chance test's labels counted the loss's ignored label where it is not negative (padding 0 under
    CrossEntropyLoss(ignore_index=0), the user's loss's own ignore_index), and -1 under ignore_index=-1
    where the other labels are +1 (read as a margin loss's -1/+1): its n and the majority's share held
    rows the accuracy never scores (train.evaluation.hits leaves them out). The truth is the count by hand
    of the labels the loss scores."""
    x = torch.randn(8, 3)
    padded = UserBatches((x, torch.tensor([0, 0, 0, 0, 1, 2, 1, 0])), nn.CrossEntropyLoss(ignore_index=0))
    assert _label_counts([padded]) == {1: 2, 2: 1}
    minus_one = torch.tensor([1, -1, 1, 1, -1, 1, 1, 1])
    assert _label_counts([UserBatches((x, minus_one), nn.CrossEntropyLoss(ignore_index=-1))]) == {1: 6}
    assert _label_counts([UserBatches((x, minus_one), nn.SoftMarginLoss())]) == {1: 6, -1: 2}


@pytest.mark.parametrize("pad", [99, 0])
def test_the_entropy_bar_leaves_out_the_padding_the_loss_ignores(pad):
    """Per-position labels padded with the loss's ignore_index (a pad id, 99 here, or 0): the prior each
    held-out row was compared with indexed the classes' frequencies by the padding (IndexError past the
    classes, 99) or averaged it in as a position of surprise 0 (pad 0), where cross-entropy's row mean
    leaves it out. The truth: torch's CrossEntropyLoss(ignore_index=pad) of each row, answering the
    labels' frequencies, is exactly the bar: a candidate at it does not beat it, one 0.1 below does."""
    labels = torch.tensor([[1, 2, pad, pad], [2, 2, 3, pad], [1, 3, 2, 2]])
    loss = nn.CrossEntropyLoss(ignore_index=pad)
    fold = UserBatches((torch.randn(3, 4, 2), labels), loss)
    counts = _label_counts([fold])
    assert counts == {1: 2, 2: 5, 3: 2}
    frequencies = torch.zeros(100 if pad else 4, dtype=torch.float64)
    frequencies[[1, 2, 3]] = torch.tensor([2 / 9, 5 / 9, 2 / 9], dtype=torch.float64)
    answer = frequencies.clamp_min(1e-300).log().expand(3, 4, -1).transpose(1, 2)  # (N, C, T)
    bar = torch.stack([loss(answer[i : i + 1], labels[i : i + 1]) for i in range(3)])
    at_bar = (Candidate(1e-3, "test"), _Checked({"val_loss": 1.0}, bar[None]))
    below = (Candidate(1e-3, "test"), _Checked({"val_loss": 1.0}, (bar - 0.1)[None]))
    assert _below_entropy([at_bar], counts, [fold]) is False
    assert _below_entropy([below], counts, [fold]) is True


def test_a_multi_label_check_is_scored_by_its_loss_not_its_subset_accuracy():
    """Batches of 6 labels a row under BCEWithLogitsLoss now have an accuracy (the exact match of a row,
    scikit-learn's subset accuracy), which no most frequent class gives a chance level for: the check
    took it, counted 1 held-out label, and tied all 9 candidates by it. It scores them by the held-out
    loss, as before they had an accuracy."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 10, generator=g)
    y = (x[:, :6] + 0.8 * torch.randn(400, 6, generator=g) > 0).float()
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 320, 32)]
    held = [(x[i : i + 40], y[i : i + 40]) for i in range(320, 400, 40)]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 6))
    result = find_lr(model, nn.BCEWithLogitsLoss(), batches, held_out=held, check_steps=60, steps=60)
    assert result.metric == "loss" and result.suggestion is not None
    assert all(c.score == c.held_out_loss for c in result.candidates)


@pytest.mark.parametrize("off_by", [1e-5, 1.0])
def test_a_model_that_already_fits_its_targets_is_said_to_fit(off_by):
    """A linear model at the noise-free solution but for off_by (its loss ~1e-10 of the targets' spread):
    the check suggested an lr, 'held-out loss 0', and said nothing of the model fitting already. Truth:
    the model's MSE against predicting the targets' mean, computed here; at off_by 1 it is far from fit."""
    x, y, _ = isotropic_regression()
    solution = torch.linalg.lstsq(x.double(), y.double()).solution.float()
    model = nn.Linear(8, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(
            solution.T + off_by * torch.randn(1, 8, generator=torch.Generator().manual_seed(0))
        )
        share = (nn.functional.mse_loss(model(x), y) / y.var(unbiased=False)).item()
    found = find_lr(model, nn.MSELoss(), x, y, torch.optim.SGD(model.parameters(), lr=0.01), **QUICK)
    assert found.suggestion is not None and found.trains is True
    # the sweep's first loss is measured after its first step, at start_lr: not at the start
    said = (
        f"the model already fits: its training loss after the sweep's first step, {found.losses[0]:.3g}, is"
        in found.reason
    )
    assert said is (share < 1e-6), (share, found.reason)
    assert said is (off_by < 1)


def _signs_xor(rows: int = 300) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows whose class is whether their first two features share a sign: no linear rule, learnt by a
    small MLP in some dozens of steps."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 8, generator=generator)
    return x, (x[:, 0] * x[:, 1] > 0).long()


def test_a_check_too_short_to_learn_says_what_it_saw_and_the_steps_to_give():
    """lr-find --check-steps 30 on a GRU said 'no lr trains this setup' where 100 steps train it. An
    XOR of signs learns nothing in a 2-step check: the reason says so with the check's length and
    find_lr's own keyword. Truth that more steps train it: a hand loop of torch's Adam, 100 steps."""
    x, y = _signs_xor()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 2))
    short = find_lr(model, nn.CrossEntropyLoss(), x, y, check_steps=2, steps=30, batch_size=16)
    assert short.trains is False and short.suggestion is None, short.reason
    assert "no lr trains" not in short.reason, short.reason
    assert "after 2 steps" in short.verdict and "within the check's 2 steps" in short.reason, short.reason
    assert "more steps (check_steps, 2 here) may train it" in short.reason, short.reason
    assert "--check-steps" not in short.reason, short.reason
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for step in range(100):
        rows = slice(16 * step % 240, 16 * step % 240 + 16)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model(x[240:]).argmax(1) == y[240:]).float().mean().item()
    assert accuracy > 0.75, accuracy  # the most frequent class: 0.5 of these 60 rows


def test_a_check_too_short_to_learn_names_its_steps_in_each_commands_words(cli, tmp_path):
    """lr-find and the doctor said 'more steps (check_steps, lr-find's --check-steps, 2 here)', a Python
    keyword to a command's user and a flag the doctor has not; the doctor's finding said in the same
    output 'No learning rate trains this setup ... the check trained each lr all 2 steps it was given
    ..., so the lr is not what holds it back'. Each now names what sets the check's steps for it: lr-find
    its --check-steps, the doctor the recipe's run (its --epochs), and no finding says no lr trains."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(100, 8, generator=generator), torch.randint(0, 2, (100,), generator=generator)
    data = tmp_path / "labels.csv"  # labels apart from the inputs: no lr learns them in 2 steps
    rows = [",".join([*(f"f{i}" for i in range(8)), "label"])]
    rows += [
        ",".join([*(f"{v:.5f}" for v in features.tolist()), str(int(label))]) for features, label in zip(x, y)
    ]
    data.write_text("\n".join(rows) + "\n")
    common = ("--dataset", str(data), "--batch-size", "40", "--format", "json")
    code, out, _ = cli("lr-find", *common, "--check-steps", "2", "--sweep-steps", "20")
    found, _ = json.JSONDecoder().raw_decode(out)
    assert code == 0 and found["trains"] is False, found["reason"]
    assert "more steps (--check-steps, 2 here) may train it" in found["reason"], found["reason"]
    assert "check_steps," not in found["reason"], found["reason"]
    code, out, _ = cli("doctor", *common, "--epochs", "1", "--steps", "2")
    diagnosis, _ = json.JSONDecoder().raw_decode(out)
    told = "more steps (the recipe's run, --epochs or training.steps, at most 1000, 2 here) may train it"
    assert code == 0 and told in diagnosis["lr_range"]["reason"], diagnosis["lr_range"]["reason"]
    (finding,) = [f for f in diagnosis["findings"] if f["rule"] == "no_learning"]
    assert finding["title"] == "No learning rate trained this setup within the check's 2 steps", finding
    assert told in finding["recommendation"] and "not what holds it back" not in finding["recommendation"]
    assert "(check_steps" not in finding["recommendation"] + diagnosis["lr_range"]["reason"]


def test_a_check_of_one_step_evaluates_after_it():
    """A check of 1 step evaluates after step 1, so no steps come before its evaluations: a candidate
    checked alone (a loss that is a function, not stacked) began with a fit of total_steps=0, which fit
    refuses (a run of no steps said nothing). Truth: the check ran."""
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    found = find_lr(model, nn.functional.cross_entropy, x, y, check_steps=1, steps=30, batch_size=16)
    assert found.check is not None and found.check.startswith("1 step"), found.reason


def test_the_same_call_with_the_same_seed_suggests_the_same_lr_whatever_torchs_state_before():
    """find_lr(..., seed=0) of a Linear model over a shuffling DataLoader suggested 0.75, 0.75, 0.49,
    0.76 after torch.manual_seed(0), (1), (2), (3): the candidates' checks were seeded, the range test
    (whose loader drew its order from torch's global generator) was not. The same call now gives the
    same curve, candidates and suggestion, and gives the caller's stream back."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    loader = DataLoader(TensorDataset(x, (x.sum(1) > 0).long()), batch_size=8, shuffle=True)
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    found = []
    for state in (0, 2):
        torch.manual_seed(state)
        after = torch.rand(3)
        torch.manual_seed(state)
        result = find_lr(model, nn.CrossEntropyLoss(), loader, check_steps=5, seed=0)
        assert torch.equal(torch.rand(3), after)
        found.append((result.losses, result.suggestion, [(c.lr, c.score) for c in result.candidates]))
    assert found[0] == found[1]


def test_candidates_that_all_score_alike_are_told_apart_by_nothing_and_make_no_lr_verdict():
    """A ladder of lrs 3e-7 to 1e-5 (the sweep capped there) over a classifier already at its held-out
    accuracy: every candidate kept it, their held-out losses 0.8028 to 0.8024, yet the paired tie (each
    row moving alike at lrs so small) told each from the best: 'the lowest held-out loss among the 7 of
    7', lr 1e-5, which the doctor read as 'lr 0.5 is 5e4x the suggestion: too high'. Losses within
    TIE_FRACTION tie: the check told none apart, and no rule reads an lr too high or too low from it.
    The truth: the candidates' own scores, all within 0.1% of each other."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(512, 8, generator=g)
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    with torch.no_grad():
        y = (model(x) + 0.3 * torch.randn(512, 3, generator=g)).argmax(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = nn.CrossEntropyLoss()
    result = find_lr(model, loss, x, y, optimizer, start_lr=1e-8, end_lr=1e-5, steps=40, check_steps=40)
    losses = [c.held_out_loss for c in result.candidates]
    assert len(losses) > 2 and max(losses) - min(losses) < 1e-3 * min(losses)
    assert len({c.score for c in result.candidates}) == 1
    assert not result.told_apart and "told none apart" in result.reason
    stats = optimlab.diagnose(model, (x, y), loss, optimizer, steps=30, lr_find=False).statistics
    rules = {f.rule for f in optimlab.doctor.run_rules(stats, result)}
    assert not rules & {"lr_too_high", "lr_too_low"}
    # told apart, the same suggestion was the verdict: lr 0.5 is 1e5x it
    told = dataclasses.replace(result, told_apart=True)
    assert "lr_too_high" in {f.rule for f in optimlab.doctor.run_rules(stats, told)}


def test_integer_targets_a_regression_loss_broadcasts_get_the_verdict_the_floats_get():
    """The check told outputs (N, 1) against float targets (N,) under nn.MSELoss 'the loss compares ...
    broadcast to (N, N)', no lr suggested; integer targets, which MSELoss reads as the same numbers,
    were not read (floats only) and its first candidate's fit refused them after the sweep. Truth:
    torch broadcasts both dtypes to one (N, N) loss of the same value; the same call gives one verdict."""
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = (3 * x.sum(1)).round()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own warning of the broadcast
        assert nn.MSELoss()(x[:, :1], y.long()).item() == nn.MSELoss()(x[:, :1], y).item()
        verdicts = []
        for targets in (y, y.long()):
            torch.manual_seed(0)
            result = find_lr(nn.Linear(4, 1), nn.MSELoss(), x, targets, steps=20, check_steps=10)
            verdicts.append((result.suggestion, result.trains, result.verdict))
    assert verdicts[0] == verdicts[1] and verdicts[0][2].endswith("broadcast to (51, 51)")
