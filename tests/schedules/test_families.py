"""Each family against its closed form at chosen steps, and against torch's scheduler where torch has it."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable

import pytest
import torch
from torch.optim import lr_scheduler

from optimlab import optim
from optimlab.errors import InvalidValueError
from optimlab.registry import Capability, get_registry
from optimlab.schedules import as_lr_scheduler, create, one_cycle_momentum
from optimlab.schedules.families import (
    constant,
    cosine,
    cyclic,
    exponential_decay,
    inverse_sqrt,
    linear,
    multistep_decay,
    one_cycle,
    polynomial_decay,
    sgdr,
    step_decay,
    warmup_stable_decay,
)

REGISTRY = get_registry("schedule")
BASE_LR = 0.1


def torch_lrs(make: Callable[[torch.optim.Optimizer], lr_scheduler.LRScheduler], steps: int) -> list[float]:
    """The lr torch's scheduler sets at steps 0..steps-1, on a dummy SGD with lr BASE_LR."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR, momentum=0.9)
    scheduler = make(optimizer)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def assert_matches_torch(schedule: Callable[[int], float], expected: list[float]) -> None:
    ours = [BASE_LR * schedule(t) for t in range(len(expected))]
    # 1e-12 relative allows torch's recursive updates (lr_t from lr_{t-1}); the absolute 1e-15 of the
    # peak allows OneCycleLR's linear form (end - start) * pct + start, which ends a few ulps of the
    # peak away from end (0.1 * (4e-6 - 1) + 0.1 = 3.99999999998e-7 in floats).
    assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15 * BASE_LR)


TORCH_CASES = {
    "step": (step_decay(step_size=7, gamma=0.5), lambda o: lr_scheduler.StepLR(o, 7, gamma=0.5), 40),
    "multistep": (
        multistep_decay(milestones=[30, 5, 12, 12], gamma=0.3),
        lambda o: lr_scheduler.MultiStepLR(o, [5, 12, 12, 30], gamma=0.3),
        40,
    ),
    "exponential": (exponential_decay(gamma=0.9), lambda o: lr_scheduler.ExponentialLR(o, 0.9), 60),
    "linear_up": (
        linear(start_factor=0.25, end_factor=1.0, total_iters=20),
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=20),
        30,
    ),
    "linear_down": (
        linear(30, end_factor=0.1),
        lambda o: lr_scheduler.LinearLR(o, 1.0, 0.1, total_iters=30),
        40,
    ),
    "polynomial": (
        polynomial_decay(30, power=2.0),
        lambda o: lr_scheduler.PolynomialLR(o, total_iters=30, power=2.0),
        40,
    ),
    # CosineAnnealingLR rises again after T_max, ours holds: compare steps 0..T_max.
    "cosine": (
        cosine(50, final=0.1),
        lambda o: lr_scheduler.CosineAnnealingLR(o, 50, eta_min=0.1 * BASE_LR),
        51,
    ),
    "cosine_to_zero": (cosine(200), lambda o: lr_scheduler.CosineAnnealingLR(o, 200), 201),
    "sgdr": (
        sgdr(period=10, final=0.05),
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 10, eta_min=0.05 * BASE_LR),
        45,
    ),
    "sgdr_mult": (
        sgdr(period=5, period_mult=2),
        lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 5, T_mult=2),
        80,
    ),
}
for _mode, _gamma in (("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.97)):
    TORCH_CASES[f"cyclic_{_mode}"] = (
        cyclic(base_factor=0.2, step_size_up=5, step_size_down=3, mode=_mode, gamma=_gamma),
        lambda o, m=_mode, g=_gamma: lr_scheduler.CyclicLR(
            o, 0.2 * BASE_LR, BASE_LR, step_size_up=5, step_size_down=3, mode=m, gamma=g, cycle_momentum=False
        ),
        60,
    )
for _name, _options in {
    "one_cycle": {},
    "one_cycle_linear": {"anneal_strategy": "linear", "pct_start": 0.25},
    "one_cycle_three_phase": {"three_phase": True, "div_factor": 10.0, "final_div_factor": 100.0},
}.items():
    TORCH_CASES[_name] = (
        one_cycle(100, **_options),
        lambda o, kw=_options: lr_scheduler.OneCycleLR(o, BASE_LR, total_steps=100, **kw),
        100,
    )

# Short runs and peaks between steps (pct_start * T not whole: OneCycleLR's phases end mid-step).
for _steps in (1, 2, 3, 7, 37):
    TORCH_CASES[f"cosine_{_steps}_steps"] = (
        create("cosine", total_steps=_steps, final=0.1),
        lambda o, n=_steps: lr_scheduler.CosineAnnealingLR(o, n, eta_min=0.1 * BASE_LR),
        _steps + 1,
    )
    TORCH_CASES[f"polynomial_{_steps}_steps"] = (
        create("polynomial", total_steps=_steps, power=0.9),
        lambda o, n=_steps: lr_scheduler.PolynomialLR(o, n, power=0.9),
        _steps + 1,
    )
    TORCH_CASES[f"linear_{_steps}_steps"] = (
        create("linear", total_steps=_steps),
        lambda o, n=_steps: lr_scheduler.LinearLR(o, 1.0, 0.0, total_iters=n),
        _steps + 3,
    )
for _steps, _options in itertools.product(
    (2, 3, 7, 37), ({}, {"three_phase": True, "anneal_strategy": "linear"})
):
    if _steps < 3 and _options:  # OneCycleLR divides by zero: two phases end at step 0
        continue
    TORCH_CASES[f"one_cycle_{_steps}_steps{'_three_phase' if _options else ''}"] = (
        create("one_cycle", total_steps=_steps, **_options),
        lambda o, n=_steps, kw=_options: lr_scheduler.OneCycleLR(o, BASE_LR, total_steps=n, **kw),
        _steps,
    )


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch_scheduler(case: str) -> None:
    schedule, make, steps = TORCH_CASES[case]
    assert_matches_torch(schedule, torch_lrs(make, steps))


# (schedule, {step: closed-form value}) at boundaries, middles and ends.
CLOSED_FORMS = {
    "constant": (constant(), {0: 1.0, 10**6: 1.0}),
    "step_default": (step_decay(90), {0: 1.0, 29: 1.0, 30: 0.1, 59: 0.1, 60: 0.01, 90: 0.001}),
    "multistep_default": (multistep_decay(100), {0: 1.0, 49: 1.0, 50: 0.1, 74: 0.1, 75: 0.01, 500: 0.01}),
    "exponential": (exponential_decay(gamma=0.5), {0: 1.0, 3: 0.125}),
    "linear_default": (linear(10), {0: 1.0, 5: 0.5, 10: 0.0, 20: 0.0}),
    "polynomial": (polynomial_decay(10, power=2.0, final=0.1), {0: 1.0, 5: 0.325, 10: 0.1, 11: 0.1}),
    "cosine": (cosine(100, final=0.2), {0: 1.0, 50: 0.6, 100: 0.2, 200: 0.2}),
    "sgdr": (sgdr(period=10, period_mult=2), {0: 1.0, 5: 0.5, 10: 1.0, 20: 0.5, 30: 1.0, 50: 0.5, 70: 1.0}),
    "sgdr_default_period": (sgdr(40, final=0.5), {0: 1.0, 5: 0.75, 10: 1.0}),
    "one_cycle": (one_cycle(100), {0: 1 / 25, 29: 1.0, 99: 1 / 25e4, 150: 1 / 25e4}),
    "one_cycle_three_phase": (one_cycle(100, three_phase=True), {0: 0.04, 29: 1.0, 58: 0.04, 99: 4e-6}),
    "triangular": (
        cyclic(base_factor=0.2, step_size_up=4),
        {0: 0.2, 2: 0.6, 4: 1.0, 6: 0.6, 8: 0.2, 12: 1.0},
    ),
    "triangular2": (cyclic(base_factor=0.2, step_size_up=4, mode="triangular2"), {4: 1.0, 12: 0.6, 20: 0.4}),
    "exp_range": (cyclic(base_factor=0.0, step_size_up=4, mode="exp_range", gamma=0.5), {4: 1 / 16, 8: 0.0}),
    "cyclic_default": (cyclic(80), {0: 0.25, 10: 1.0, 20: 0.25}),
    "inverse_sqrt": (inverse_sqrt(), {0: 1.0, 3: 0.5, 99: 0.1}),
    "inverse_sqrt_timescale": (inverse_sqrt(timescale=4), {0: 1.0, 12: 0.5}),
    "wsd_linear": (
        warmup_stable_decay(100, decay_shape="linear", final=0.1),
        {0: 1.0, 80: 1.0, 90: 0.55, 100: 0.1},
    ),
    "wsd_cosine": (warmup_stable_decay(100, decay_shape="cosine", final=0.1), {79: 1.0, 90: 0.55, 150: 0.1}),
    "wsd_1_sqrt": (warmup_stable_decay(100, decay_fraction=0.1, final=0.1), {89: 1.0, 90: 1.0, 92.5: 0.55}),
    "wsd_no_decay": (warmup_stable_decay(100, decay_fraction=0.0, final=0.3), {99: 1.0, 100: 0.3}),
}


@pytest.mark.parametrize("case", sorted(CLOSED_FORMS))
def test_closed_form(case: str) -> None:
    schedule, expected = CLOSED_FORMS[case]
    assert {t: schedule(t) for t in expected} == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_inverse_sqrt_with_warmup_is_vaswanis_schedule() -> None:
    """min(t / w, sqrt(w / t)), Vaswani et al. 2017 eq. (3) without the d_model^-0.5 scale."""
    warmup = 8
    schedule = create("inverse_sqrt", warmup_steps=warmup)
    expected = [min(t / warmup, math.sqrt(warmup / t)) for t in range(1, 200)]
    assert [schedule(t) for t in range(1, 200)] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
def test_wsd_decay_is_monotone_and_continuous(shape: str) -> None:
    schedule = warmup_stable_decay(200, decay_fraction=0.25, decay_shape=shape, final=0.0)
    values = [schedule(t) for t in range(201)]
    assert values[:151] == [1.0] * 151
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert values[-1] == 0.0
    largest_drop = max(a - b for a, b in itertools.pairwise(values))
    assert largest_drop < (0.2 if shape == "1-sqrt" else 0.05)  # no cliff; 1-sqrt falls fastest at first


@pytest.mark.parametrize("name", ["wsd", "trapezoidal"])
@pytest.mark.parametrize(
    ("total", "warmup", "fraction"),
    [(10, 0, 0.01), (10, 0, 0.1), (23, 3, 0.02), (1000, 0, 0.001), (7, 0, 0.2), (2, 0, 0.3)],
)
def test_a_decay_fraction_under_two_steps_is_refused_naming_the_least_that_decays(
    name, total, warmup, fraction
):
    """0.01 of a 10-step run rounded to 0 decay steps (0.1 of it to 1, whose one step is at the peak): every
    step at 1. b691f938 stretched such a decay to 2 steps, so 0.01, 0.1 and 0.2 of 10 steps gave one
    schedule and a stored recipe changed under its id; Hu et al. define the decay as a fraction of T.
    Refused, naming the least fraction whose decay lowers a step's lr: the truth is the schedule itself,
    which at that fraction lowers the run's last step and at the float just under it is refused."""
    with pytest.raises(
        InvalidValueError, match=r"for decay_fraction: accepted 0 \(no decay\), or at least"
    ) as caught:
        create(name, total_steps=total, warmup_steps=warmup, decay_fraction=fraction)
    assert f"of {total - warmup:,} steps after any warmup" in str(caught.value)
    # what leaving the fraction out gives, counted by hand: 0.2 of the steps, at least 2
    left_out = {10: 2, 20: 4, 1000: 200, 7: 2, 2: 2}[total - warmup]
    assert str(caught.value).endswith(f"; left out, the decay is the run's last {left_out} steps.")
    least = float(re.search(r"at least ([0-9.e-]+) ", str(caught.value)).group(1))
    schedule = create(name, total_steps=total, warmup_steps=warmup, decay_fraction=least)
    assert [schedule(t) for t in range(warmup, total - 1)] == [1.0] * (total - 1 - warmup)
    assert schedule(total - 1) < 1.0
    with pytest.raises(InvalidValueError, match="decay_fraction"):
        create(name, total_steps=total, warmup_steps=warmup, decay_fraction=math.nextafter(least, 0.0))


@pytest.mark.parametrize("name", ["wsd", "trapezoidal"])
@pytest.mark.parametrize(("total", "warmup"), [(1, 0), (5, 4)])
def test_a_run_of_one_step_after_warmup_takes_no_decay(name, total, warmup):
    """The decay's first step is at the peak, so no fraction of a 1-step run decays it: only 0 is taken."""
    with pytest.raises(
        InvalidValueError, match=r"accepted 0 \(no decay\): of 1 step after any warmup.*more steps"
    ):
        create(name, total_steps=total, warmup_steps=warmup, decay_fraction=1.0)
    assert create(name, total_steps=total, warmup_steps=warmup, decay_fraction=0.0)(total - 1) == 1.0


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_entry_peaks_at_one_within_unit_range(name: str) -> None:
    schedule = create(name, total_steps=100)
    values = [schedule(t) for t in range(130)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert max(values[:100]) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("name", REGISTRY.names())
def test_total_steps_required_exactly_where_declared(name: str) -> None:
    if Capability.NEEDS_TOTAL_STEPS in REGISTRY.get(name).capabilities:
        with pytest.raises(InvalidValueError, match="total_steps"):
            create(name)
    else:
        assert create(name)(0) == 1.0


def test_explicit_period_lifts_the_need_for_total_steps() -> None:
    explicit = {
        "step": {"step_size": 5},
        "multistep": {"milestones": [3]},
        "linear": {"total_iters": 4},
        "sgdr": {"period": 3},
        "cyclic": {"step_size_up": 2},
    }
    for name, options in explicit.items():
        assert create(name, **options)(7) < 1.0, name


def test_trapezoidal_is_a_linear_warmup_a_plateau_and_a_linear_cooldown() -> None:
    """The trapezoid through (0, 0), (w, 1), (T - d, 1), (T, 0), d = 20% of the steps after warmup."""
    total, warmup = 110, 10
    schedule = create("trapezoidal", total_steps=total, warmup_steps=warmup)
    corners = torch.tensor([0.0, warmup, total - 20, total], dtype=torch.float64)
    steps = torch.arange(total + 5, dtype=torch.float64)
    expected = torch.ones_like(steps)
    expected[steps < warmup] = steps[steps < warmup] / warmup
    cooldown = steps > corners[2]
    expected[cooldown] = ((corners[3] - steps[cooldown]) / 20).clamp(min=0.0)
    assert [schedule(t) for t in range(total + 5)] == pytest.approx(expected.tolist(), rel=1e-12, abs=1e-15)


def test_multistep_milestones_must_be_a_list() -> None:
    with pytest.raises(InvalidValueError, match="milestones") as error:
        create("multistep", total_steps=100, milestones=30)
    assert error.value.value == 30 and "list" in error.value.accepted


@pytest.mark.parametrize(
    "options",
    [{}, {"three_phase": True, "anneal_strategy": "linear", "pct_start": 0.25}],
    ids=["two", "three"],
)
def test_one_cycle_with_its_momentum_trains_as_torchs_one_cycle_lr(options: dict) -> None:
    """OneCycleLR's default cycle_momentum=True: an optimlab SGD with one_cycle's rate and
    one_cycle_momentum ends where torch's SGD under OneCycleLR does (at a fixed momentum, 0.1 away)."""
    steps, target = 40, torch.linspace(-1.0, 2.0, 5, dtype=torch.float64)

    def train(optimizer_of, scheduler_of) -> torch.Tensor:
        x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
        optimizer = optimizer_of([x])
        scheduler = scheduler_of(optimizer)
        for _ in range(steps):
            optimizer.zero_grad()
            ((x - target) ** 2).sum().backward()
            optimizer.step()
            scheduler.step()
        return x.detach()

    expected = train(
        lambda p: torch.optim.SGD(p, lr=BASE_LR, momentum=0.9),
        lambda o: lr_scheduler.OneCycleLR(o, BASE_LR, total_steps=steps, **options),
    )
    ours = train(
        lambda p: optim.create("momentum", p, lr=BASE_LR, momentum=one_cycle_momentum(steps, **options)),
        lambda o: as_lr_scheduler(o, create("one_cycle", total_steps=steps, **options)),
    )
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-12)
    fixed = train(
        lambda p: optim.create("momentum", p, lr=BASE_LR, momentum=0.9),
        lambda o: as_lr_scheduler(o, create("one_cycle", total_steps=steps, **options)),
    )
    assert (fixed - expected).abs().max() > 1e-3


def test_one_cycle_momentum_refuses_a_base_above_the_maximum() -> None:
    with pytest.raises(InvalidValueError, match="base_momentum"):
        one_cycle_momentum(100, base_momentum=0.99)


HALF_SQRT = 1 - math.sqrt(0.5)  # wsd's 1-sqrt cooldown halfway (Hägele et al. 2024): 1 - sqrt(p)


@pytest.mark.parametrize(
    ("name", "total", "warmup", "decay"),
    [  # the run's last steps by hand: 0.2 of the steps after the warmup, at least 2; after the run, 0
        ("trapezoidal", 3, 0, [1.0, 0.5, 0.0]),  # 0.2 of 3 rounds to 1: 2 steps
        ("wsd", 3, 0, [1.0, HALF_SQRT, 0.0]),
        ("trapezoidal", 12, 2, [1.0, 0.5, 0.0]),  # 0.2 of the 10 after the warmup: 2 steps
        ("trapezoidal", 20, 0, [1.0, 0.75, 0.5, 0.25, 0.0]),  # 0.2 of 20: 4 steps
        ("wsd", 20, 0, [1.0, 1 - math.sqrt(0.25), HALF_SQRT, 1 - math.sqrt(0.75), 0.0]),
        ("wsd", 1, 0, [1.0, 0.0]),  # a 1-step run: no decay within it
    ],
)
def test_a_short_run_at_the_default_fraction_is_decayed_over_the_two_steps_a_decay_needs(
    name, total, warmup, decay
):
    """wsd --epochs 1 on iris (3 steps) was refused for the default decay_fraction 0.2, which the user never
    gave: 0.2 of 3 steps rounds to 1. The default is 0.2 of the run, or the 2 steps whose decay lowers the
    run's last step where 0.2 rounds to fewer (no decay of a 1-step run). Truth: each step's value by hand,
    1 up to the decay (the warmup's ramp from 0 before it), then the cooldown's shape."""
    schedule = create(name, total_steps=total, warmup_steps=warmup)
    ramp = [step / warmup for step in range(warmup)]
    held = [1.0] * (total + 1 - warmup - len(decay))
    assert [schedule(step) for step in range(total + 1)] == pytest.approx(ramp + held + decay, abs=1e-12)
