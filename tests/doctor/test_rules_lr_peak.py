"""The lr rules under a schedule read the lr the user sets, its peak, not the median of the steps' lrs:
a linear decay from 0.1 to 0 (transformers.Trainer's default) was told "too high: 0.05" and advised
0.005, a twentieth of the peak the user sets, for "a tenth of now"."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import optimlab.optim
import optimlab.schedules
from doctor.setups import diagnose_in_recipe_words as diagnose  # the rules' advice in recipe fields
from doctor.setups import mlp, standardized
from optimlab.doctor import Diagnosis, Finding
from optimlab.doctor.instruments import Instruments, RunStatistics
from optimlab.doctor.rules import run_rules
from optimlab.optim.learning_rate import optimizer_lr

STEPS = 60


def run(optimizer: str, lr: float, *, decaying: bool) -> Diagnosis:
    """A He-initialized ReLU MLP on standardized data, at ``lr`` held, or as the peak of a linear decay to 0."""
    torch.manual_seed(0)
    model = nn.Sequential(*mlp(init="he"))
    decay = optimlab.schedules.create("linear", total_steps=STEPS)
    rate = (lambda step: lr * decay(step)) if decaying else lr
    made = optimlab.optim.create(optimizer, model.parameters(), lr=rate)
    return diagnose(
        model, standardized(), nn.CrossEntropyLoss(), made, steps=STEPS, batch_size=32, lr_find=False
    )


def finding(diagnosis: Diagnosis, rule: str) -> Finding:
    return next(f for f in diagnosis.findings if f.rule == rule)


def test_a_decaying_lr_too_high_is_named_by_its_peak_and_advised_a_tenth_of_it():
    """Adam at a peak of 0.1 decaying linearly to 0 (median 0.05): the loss jumps 9x at step 3. Truth: the
    advice is a tenth of the peak the user sets (the median's tenth, 0.005, was advised), and that peak,
    decaying the same way, trains the net 10x lower than 0.1 does."""
    diagnosis = run("adam", 0.1, decaying=True)
    high = finding(diagnosis, "lr_too_high")
    assert high.title == "Learning rate too high: 0.1 at its peak, decaying to 0.00167 (median 0.05)"
    assert high.recommendation.startswith("lr: 0.01, a tenth of now")
    assert high.recipe_changes == {"optimizer.lr": 0.01}
    assert high.evidence["lr"] == pytest.approx(0.1, rel=1e-12)
    fixed = run("adam", high.recipe_changes["optimizer.lr"], decaying=True)
    assert 10 * fixed.statistics.losses[-1] < diagnosis.statistics.losses[-1]
    assert "lr_too_high" not in [f.rule for f in fixed.findings]


def test_a_decaying_lr_too_low_is_named_by_its_peak_and_advised_ten_times_it():
    """SGD at a peak of 1e-4 decaying to 0 makes no progress: ten times the peak, not the median's 5e-4."""
    low = finding(run("sgd", 1e-4, decaying=True), "lr_too_low")
    assert (
        low.title
        == "Learning rate too low: 0.0001 at its peak, decaying to 1.67e-06 (median 5e-05) makes 0% progress"
    )
    assert low.recommendation == "lr: 0.001, ten times now"
    assert low.recipe_changes == {"optimizer.lr": 0.001}


@pytest.mark.parametrize(
    ("optimizer", "lr", "rule", "title", "recommendation", "target"),
    [  # pinned: the output before the schedule's peak was read
        ("adam", 0.1, "lr_too_high", "Learning rate too high: 0.1",
         "lr: 0.01, a tenth of now (the lr check gives a better estimate: optimlab doctor without --no-lr-find, "
         "or lr_find=True)", 0.01),
        ("sgd", 1e-4, "lr_too_low", "Learning rate too low: 0.0001 makes 0% progress", "lr: 0.001, ten times now", 1e-3),
    ],
)  # fmt: skip
def test_a_constant_lr_is_named_and_advised_as_before(optimizer, lr, rule, title, recommendation, target):
    found = finding(run(optimizer, lr, decaying=False), rule)
    assert (found.title, found.recommendation, found.recipe_changes) == (
        title,
        recommendation,
        {"optimizer.lr": target},
    )
    assert found.evidence["lr"] == lr


def test_a_schedule_that_ended_before_the_run_gets_one_lr_advice_not_both():
    """Adam at 0.1 for 4 steps, then 0 for the 56 others (a schedule shorter than the run): the loss
    jumps 6x and units die at the peak, and the run makes no progress. lr_too_high read the peak (advising
    0.01) while lr_too_low read the median, 0 (advising the peak): two opposite lrs for one run. Truth:
    the run's lrs (median 0, peak 0.1), read alike by both rules: only lr_too_low advises (the median lr 0 takes no step too large)."""
    torch.manual_seed(0)
    model = nn.Sequential(*mlp(init="he"))
    made = optimlab.optim.create("adam", model.parameters(), lr=lambda step: 0.1 if step < 4 else 0.0)
    diagnosis = diagnose(
        model, standardized(), nn.CrossEntropyLoss(), made, steps=STEPS, batch_size=32, lr_find=False
    )
    lrs = diagnosis.statistics.lrs
    assert max(lrs) == 0.1 and sorted(lrs)[len(lrs) // 2] == 0.0
    advised = [f for f in diagnosis.findings if f.rule in ("lr_too_high", "lr_too_low")]
    assert [f.rule for f in advised] == ["lr_too_low"], [(f.rule, f.recommendation) for f in advised]


def warmed(lr: float, make_scheduler: Any, steps: int = 50) -> RunStatistics:
    """A He-initialized ReLU MLP on standardized data, trained by hand with SGD at ``lr`` for ``steps``
    steps under the scheduler ``make_scheduler(optimizer)`` makes, stepped after each update, the
    instruments on."""
    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Sequential(*mlp(init="he"))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scheduler = make_scheduler(optimizer)
    instruments = Instruments(model, optimizer)
    instruments.start(0)
    for step in range(1, steps + 1):
        rows = slice(32 * (step - 1) % 1056, 32 * (step - 1) % 1056 + 32)
        loss = nn.functional.cross_entropy(model(x[rows]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        lr = optimizer_lr(optimizer, step - 1)
        optimizer.step()
        scheduler.step()
        instruments.record_step(step, loss.item(), lr)
    instruments.stop()
    return instruments.statistics


def test_a_run_that_ended_in_its_warmup_is_named_by_the_lr_set_not_the_largest_reached():
    """SGD at 1e-4 under a linear warmup over 1000 steps (LambdaLR, step / 1000), run for 50 steps: the
    doctor's peak was the largest lr the run reached, 4.9e-05, named "at its peak" and advised ten times
    it, below the lr the user set. Truth: the schedule's own formula, lr at step s = 1e-4 * (s - 1) / 1000,
    and the lr set, the scheduler's base_lrs: the finding names 1e-4 and the warmup, and advises ten times 1e-4."""
    stats = warmed(1e-4, lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / 1000))
    assert stats.lrs == pytest.approx([1e-4 * s / 1000 for s in range(50)], rel=1e-12)
    assert stats.scheduled_lr == 1e-4
    low = next(f for f in run_rules(stats) if f.rule == "lr_too_low")
    assert low.title.startswith(
        "Learning rate too low: 0.0001 set, the run ended in its warmup at 4.9e-06 (median 2.4e-06) makes"
    )
    assert (low.recommendation, low.evidence["lr"]) == ("lr: 0.001, ten times now", 1e-4)


def test_one_cycle_is_named_by_its_max_lr_and_an_unknown_schedule_by_the_largest_lr_reached():
    """OneCycleLR's initial_lr is its cycle's start (max_lr / 25): the lr set is max_lr (torch keeps it in
    the group), 1e-3 over 1000 steps with 50 run. An lr rising under a schedule the doctor cannot read (a
    schedule-as-lr: optimlab's optimizers take one) is named for what it is, the largest lr reached."""
    one_cycle = warmed(
        1e-3, lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=1000)
    )
    assert one_cycle.scheduled_lr == 1e-3 and max(one_cycle.lrs) < 2e-4
    title = next(f for f in run_rules(one_cycle) if f.rule == "lr_too_low").title
    assert title.startswith("Learning rate too low: 0.001 set, the run ended in its warmup at 0.000102 ")
    torch.manual_seed(0)
    model = nn.Sequential(*mlp(init="he"))
    made = optimlab.optim.create("sgd", model.parameters(), lr=lambda step: 1e-4 * step / 1000)
    unknown = diagnose(
        model, standardized(), nn.CrossEntropyLoss(), made, steps=50, batch_size=32, lr_find=False
    )
    assert unknown.statistics.scheduled_lr is None
    low = finding(unknown, "lr_too_low")
    assert low.title.startswith(
        "Learning rate too low: 4.9e-06, the largest lr reached, warming up from 0 (median 2.4e-06) makes"
    )


def test_diagnose_under_one_cycle_watches_the_max_lr_it_names_the_lr_set():
    """diagnose of SGD under OneCycleLR(max_lr=1e-3) made beside it watched every step at the cycle's
    start, initial_lr = max_lr / 25 = 4e-05, while the rules named 1e-3 the lr set (and advised from it,
    250 times the lr watched). Truth: torch's OneCycleLR's own fields: the lr set is the group's max_lr,
    every watched step's lr and the scheduled lr; the scheduler's lr comes back after."""
    torch.manual_seed(0)
    model = nn.Sequential(*mlp(init="he"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=1000)
    diagnosis = diagnose(
        model, standardized(), nn.CrossEntropyLoss(), optimizer, steps=6, batch_size=32, lr_find=False
    )
    group = optimizer.param_groups[0]
    assert diagnosis.statistics.lrs == [group["max_lr"]] * 6 == [1e-3] * 6
    assert diagnosis.statistics.scheduled_lr == group["max_lr"]
    assert group["lr"] == scheduler.get_last_lr()[0] == pytest.approx(group["initial_lr"])
