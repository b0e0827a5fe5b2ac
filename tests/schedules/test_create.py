"""create: names, ranges, the run's length and the warmup every family can take."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler

from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.registry import Capability, Interval, get_registry
from optimlab.schedules import ReduceOnPlateau, create, join, linear_warmup
from optimlab.schedules.create import check_warmup
from optimlab.schedules.families import linear

REGISTRY = get_registry("schedule")
STEP_DRIVEN = [e.name for e in REGISTRY if Capability.METRIC_DRIVEN not in e.capabilities]


@pytest.mark.parametrize("name", STEP_DRIVEN)
@pytest.mark.parametrize("start", [0.0, 0.1])
def test_warmup_ramps_linearly_into_the_schedule(name: str, start: float) -> None:
    total, warmup = 120, 20
    warmed = create(name, total_steps=total, warmup_steps=warmup, warmup_start=start)
    if "warmup_aware" in REGISTRY.get(name).capabilities:
        after = create(name, total_steps=total - warmup, timescale=warmup)
    else:
        after = create(name, total_steps=total - warmup)
    peak = after(0)
    ramp = [start + (peak - start) * t / warmup for t in range(warmup + 1)]
    assert [warmed(t) for t in range(warmup + 1)] == pytest.approx(ramp, rel=1e-12, abs=1e-15)
    assert [warmed(t) for t in range(warmup, total + 10)] == [after(s) for s in range(total + 10 - warmup)]


# Families that start at 1, by torch's scheduler over the steps after a warmup of 6 in a run of 40.
AFTER_WARMUP = {
    # eta_min 0: torch's is one lr for every group, where final multiplies each group's own
    "cosine": ({}, lambda o: lr_scheduler.CosineAnnealingLR(o, 34)),
    "polynomial": ({"power": 2.0}, lambda o: lr_scheduler.PolynomialLR(o, 34, power=2.0)),
    "linear": ({"end_factor": 0.2}, lambda o: lr_scheduler.LinearLR(o, 1.0, 0.2, total_iters=34)),
    "step": ({"step_size": 5, "gamma": 0.5}, lambda o: lr_scheduler.StepLR(o, 5, 0.5)),
    "multistep": ({"milestones": [3, 20]}, lambda o: lr_scheduler.MultiStepLR(o, [3, 20])),
    "exponential": ({"gamma": 0.9}, lambda o: lr_scheduler.ExponentialLR(o, 0.9)),
    "sgdr": ({"period": 4, "period_mult": 2}, lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, 4, 2)),
}


@pytest.mark.parametrize("name", sorted(AFTER_WARMUP))
def test_warmup_then_schedule_is_torchs_linear_lr_then_its_scheduler(name: str) -> None:
    """torch's SequentialLR([LinearLR(start, 1, warmup), scheduler], [warmup]) over two groups of lrs 1
    and 0.01: warmup_start times the peak at step 0, the peak at step warmup, each group scaled alike."""
    total, warmup, start = 40, 6, 0.1
    options, make = AFTER_WARMUP[name]
    optimizer = torch.optim.SGD(
        [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in (1.0, 0.01)]
    )
    scheduler = lr_scheduler.SequentialLR(
        optimizer,
        [lr_scheduler.LinearLR(optimizer, start, 1.0, total_iters=warmup), make(optimizer)],
        [warmup],
    )
    theirs = []
    for _ in range(total + 1):
        theirs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    schedule = create(name, total_steps=total, warmup_steps=warmup, warmup_start=start, **options)
    ours = [[lr * schedule(t) for lr in (1.0, 0.01)] for t in range(total + 1)]
    # the first lr and the peak to the bit (later steps of LinearLR's chained form gather rounding)
    assert ours[0] == theirs[0] == [start, 0.01 * start] and ours[warmup] == theirs[warmup] == [1.0, 0.01]
    torch.testing.assert_close(
        torch.tensor(ours, dtype=torch.float64),
        torch.tensor(theirs, dtype=torch.float64),
        rtol=1e-12,
        atol=1e-15,
    )


@pytest.mark.parametrize(
    ("start", "end", "steps"), [(0.1, 1.0, 6), (0.05, 1.0, 7), (1.0, 0.2, 34), (0.3, 0.7, 9)]
)
def test_linear_is_torchs_linear_lr_closed_form_to_the_bit(start: float, end: float, steps: int) -> None:
    """Every lr of LinearLR(start, end, steps) by torch's closed form (scheduler.step(epoch)), over two
    groups, equals lr * linear(...) exactly; so does the first lr of LinearLR stepped as usual. The
    warmup's first lr was start one ulp low (1 + (0.1 - 1) * 1 = 0.09999999999999998)."""
    lrs = (1.0, 0.01, 3e-4)
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs])
    scheduler = lr_scheduler.LinearLR(optimizer, start, end, total_iters=steps)
    first = [group["lr"] for group in optimizer.param_groups]
    ours = linear(start_factor=start, end_factor=end, total_iters=steps)
    warmup = create("cosine", total_steps=100, warmup_steps=steps, warmup_start=start)
    assert first == [lr * ours(0) for lr in lrs] and (end != 1.0 or first == [lr * warmup(0) for lr in lrs])
    for t in range(steps + 3):
        with pytest.warns(UserWarning, match="epoch parameter"):
            scheduler.step(t)  # the closed form: torch's own formula of LinearLR at step t
        theirs = [group["lr"] for group in optimizer.param_groups]
        if t < steps:
            assert theirs == [lr * ours(t) for lr in lrs], t
            assert end != 1.0 or ours(t) == warmup(t)
        else:  # end_factor itself, where torch's start + (end - start) * 1 may be ulps off it
            assert ours(t) == end
            torch.testing.assert_close(theirs, [lr * end for lr in lrs], rtol=1e-15, atol=0)


def test_warmup_cosine_is_optax_warmup_cosine_decay() -> None:
    """optax.warmup_cosine_decay_schedule(0, 1, 10, 110, end_value=0.1), written out."""
    schedule = create("cosine", total_steps=110, warmup_steps=10, final=0.1)
    for t in range(0, 130, 7):
        expected = t / 10 if t < 10 else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t - 10, 100) / 100))
        assert schedule(t) == pytest.approx(expected, rel=1e-12)


def test_warmup_to_a_schedule_that_starts_below_one_stays_continuous() -> None:
    schedule = create("one_cycle", total_steps=110, warmup_steps=10)
    assert schedule(10) == pytest.approx(1 / 25) and schedule(5) == pytest.approx(0.5 / 25)


def test_linear_warmup_of_zero_steps_is_the_schedule_itself() -> None:
    cosine = create("cosine", total_steps=10)
    assert linear_warmup(cosine, 0) is cosine


def test_names_are_normalised_and_aliases_resolve() -> None:
    assert create("Warmup-Stable-Decay", total_steps=100)(99) == create("wsd", total_steps=100)(99)
    assert create("SGDR", total_steps=40)(5) == create("cosine_restarts", total_steps=40)(5)


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'cosine'"):
        create("cosin", total_steps=10)


def test_unknown_hyperparameter_suggests_close_matches() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'final'"):
        create("cosine", total_steps=10, finall=0.1)


def _invalid_values(accepts: Interval | tuple) -> list:
    if isinstance(accepts, tuple):
        return ["not_a_choice"]
    bad = ["text"]
    if accepts.low is not None:
        bad.append(accepts.low - 1)
    if accepts.high is not None:
        bad.append(accepts.high + 1)
    if accepts.integer:
        bad.append(1.5)
    return bad


OUT_OF_RANGE = [
    pytest.param(entry.name, hp.name, value, id=f"{entry.name}-{hp.name}-{value}")
    for entry in REGISTRY
    for hp in entry.hyperparameters
    if hp.accepts is not None
    for value in _invalid_values(hp.accepts)
]


@pytest.mark.parametrize(("name", "hyperparameter", "value"), OUT_OF_RANGE)
def test_out_of_range_values_are_rejected_naming_the_field(name: str, hyperparameter: str, value) -> None:
    with pytest.raises(InvalidValueError, match=hyperparameter) as error:
        create(name, total_steps=100, **{hyperparameter: value})
    assert error.value.value == value and error.value.accepted


def test_every_hyperparameter_has_a_range() -> None:
    assert [(e.name, h.name) for e in REGISTRY for h in e.hyperparameters if h.accepts is None] == []


@pytest.mark.parametrize(
    ("keywords", "field"),
    [
        ({"total_steps": 0}, "total_steps"),
        ({"total_steps": 2.5}, "total_steps"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"total_steps": 10, "warmup_steps": 11}, "warmup_steps"),
        ({"total_steps": 10, "warmup_steps": 2, "warmup_start": 1.5}, "warmup start"),
    ],
)
def test_bad_run_lengths_are_rejected(keywords: dict, field: str) -> None:
    with pytest.raises(InvalidValueError, match=field):
        create("cosine", **keywords)


def test_no_steps_left_after_warmup_is_a_clear_error() -> None:
    """A family that spans the steps after the warmup needs one at least; a constant lr does not.
    (trapezoidal's error named the function behind it, wsd.)"""
    for name in ("cosine", "trapezoidal"):
        with pytest.raises(
            InvalidValueError, match=f"at most 9: the run's 10 steps less one, for {name} after"
        ):
            create(name, total_steps=10, warmup_steps=10)
    assert create("constant", total_steps=10, warmup_steps=10)(10) == 1.0
    with pytest.raises(InvalidValueError, match="invalid value 11 for warmup_steps: accepted at most 10"):
        create("constant", total_steps=10, warmup_steps=11)


def test_reduce_on_plateau_is_created_without_horizon_and_refuses_warmup() -> None:
    plateau = create("plateau", total_steps=100, patience=3)
    assert isinstance(plateau, ReduceOnPlateau) and plateau.patience == 3
    with pytest.raises(InvalidValueError, match="invalid value 5 for warmup_steps: accepted 0: reduce_on_"):
        create("reduce_on_plateau", total_steps=100, warmup_steps=5)


def test_a_warmup_before_a_metric_driven_schedule_is_refused_under_the_callers_name_for_it() -> None:
    """check_warmup takes the name a recipe or a flag gives the warmup (schedule.warmup_steps,
    --warmup-steps), but let a warmup before reduce_on_plateau through to create, whose refusal named
    'warmup_steps of schedule ...': plot-schedule's line blamed '--option'."""
    with pytest.raises(InvalidValueError, match="invalid value 5 for schedule.warmup_steps: accepted 0"):
        check_warmup("plateau", 100, 5, "schedule.warmup_steps")
    with pytest.raises(InvalidValueError, match="invalid value 5 for --warmup-steps: accepted 0"):
        check_warmup("reduce_on_plateau", None, 5, "--warmup-steps")
    check_warmup("reduce_on_plateau", 100, 0, "--warmup-steps")


def test_every_entry_documents_itself() -> None:
    for entry in REGISTRY:
        assert entry.summary.endswith(".") and entry.obj.__doc__, entry.name


def test_a_whole_float_warmup_is_the_integer() -> None:
    """warmup_steps=10.0 (YAML, a search space) passed create's integer check and was then refused as
    'invalid value [10.0] for join boundaries', a name the caller never wrote; it is 10, as the
    registry takes a whole float for an integer hyperparameter."""
    floated = create("cosine", total_steps=100, warmup_steps=10.0, warmup_start=0.1)
    whole = create("cosine", total_steps=100, warmup_steps=10, warmup_start=0.1)
    assert [floated(t) for t in range(110)] == [whole(t) for t in range(110)]
    ramp = linear_warmup(create("constant"), 4.0)
    assert [ramp(t) for t in range(6)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_numpys_numbers_are_taken_as_the_python_numbers_they_hold() -> None:
    """total_steps=np.int64(40) (a run's length computed with NumPy), warmup_steps=np.int64(6) and
    warmup_start=np.float32(0.5) were refused ('invalid value np.int64(40) for total_steps: accepted ... an
    integer'), as were join's and linear_warmup's np.int64 steps, where every hyperparameter takes them and
    torch's schedulers do: the schedule is the one of the Python numbers they hold, torch's SequentialLR of
    LinearLR(0.5) and CosineAnnealingLR(T_max=np.int64(34)) over the same steps."""
    total, warmup, start = np.int64(40), np.int64(6), np.float32(0.5)
    numpys = create("cosine", total_steps=total, warmup_steps=warmup, warmup_start=start)
    plain = create("cosine", total_steps=40, warmup_steps=6, warmup_start=0.5)
    assert [numpys(t) for t in range(42)] == [plain(t) for t in range(42)]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    warm = lr_scheduler.LinearLR(optimizer, float(start), 1.0, total_iters=int(warmup))
    decay = lr_scheduler.CosineAnnealingLR(optimizer, total - warmup)
    scheduler = lr_scheduler.SequentialLR(optimizer, [warm, decay], [int(warmup)])
    theirs = []
    for _ in range(41):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert [numpys(t) for t in range(41)] == pytest.approx(theirs, rel=1e-12, abs=1e-15)
    ramp = linear_warmup(create("constant"), np.int64(4), start=np.float32(0.5))
    assert [ramp(t) for t in range(6)] == [0.5, 0.625, 0.75, 0.875, 1.0, 1.0]
    halved = join([create("constant"), lambda t: 0.5], np.array([3]))
    assert [halved(t) for t in range(5)] == [1.0, 1.0, 1.0, 0.5, 0.5]
