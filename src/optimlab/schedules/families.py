"""The named learning-rate schedules: multipliers of the base learning rate, 1 at their peak.

A recipe says ``lr=1e-3, schedule=cosine``; the learning rate at step ``t`` is ``1e-3 * cosine(t)``.
Every factory here takes the number of steps it runs for as its first argument, ``total_steps``
(:func:`optimlab.schedules.create` passes the run's length minus any warmup), and its
hyperparameters as keywords, whose defaults and ranges the ``schedule`` registry reads. Schedules
with a horizon hold their final value after it; periodic ones (step, exponential, sgdr, cyclic) go on.

>>> from optimlab.schedules.families import cosine
>>> decay = cosine(100, final=0.1)
>>> decay(0), round(decay(50), 6), decay(100), decay(500)
(1.0, 0.55, 0.1, 0.1)
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from optimlab.errors import InvalidValueError
from optimlab.number_text import count_of
from optimlab.registry import (
    POSITIVE,
    POSITIVE_INT,
    UNIT,
    Capability,
    Interval,
    Items,
    get_registry,
    new_registry,
)
from optimlab.schedules.join import Schedule, join

__all__ = [
    "constant",
    "cosine",
    "cyclic",
    "exponential_decay",
    "inverse_sqrt",
    "linear",
    "momentum_field",
    "multistep_decay",
    "one_cycle",
    "one_cycle_momentum",
    "polynomial_decay",
    "sgdr",
    "step_decay",
    "warmup_stable_decay",
]

_REGISTRY = new_registry("schedule")
# total_steps is the run's length, passed by create, not a hyperparameter of the recipe.
_register = functools.partial(_REGISTRY.register, skip=("total_steps",))
# what a length left out is worked out from, in the listing's words (registry's left_out)
_RUN = "the run's steps after any warmup"
_GAMMA = Interval(0, 1, open_low=True)
# Capabilities that tell create what a factory reads besides its hyperparameters.

# Weights that go from 1 at fraction 0 to exactly 0 at fraction 1: value = end + (start - end) * w.
# Writing the cosine as (1 + cos)/2 keeps its relative precision near the end of a decay to 0.
_ANNEAL_WEIGHTS: dict[str, Callable[[float], float]] = {
    "linear": lambda u: 1.0 - u,
    "cosine": lambda u: (1.0 + math.cos(math.pi * u)) / 2.0,
    "1-sqrt": lambda u: 1.0 - math.sqrt(u),
}


def _anneal(start: float, end: float, fraction: float, weight: Callable[[float], float]) -> float:
    """From ``start`` at fraction 0 to ``end`` at fraction 1 along ``weight``."""
    return end + (start - end) * weight(fraction)


def _horizon(total_steps: int | None, schedule: str, reason: str) -> int:
    """``total_steps``, or a clear error saying why ``schedule`` needs it."""
    if total_steps is None or total_steps < 1:
        raise InvalidValueError(
            f"total_steps of schedule {schedule!r} (the run's steps after any warmup)",
            total_steps,
            f"a positive integer: {reason}",
        )
    return total_steps


@_register("constant", summary="The base learning rate throughout.", aliases=("none", "fixed"))
def constant(total_steps: int | None = None) -> Schedule:
    """1 at every step."""
    return lambda step: 1.0


@_register(
    "step",
    summary="Multiply by gamma every step_size steps (torch StepLR).",
    paper="He et al. 2016, arXiv:1512.03385",
    aliases=("step_decay", "step_lr"),
    accepts={"step_size": POSITIVE_INT, "gamma": _GAMMA},
    left_out={"step_size": f"a third of {_RUN}, 1 at least"},
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def step_decay(
    total_steps: int | None = None, *, step_size: int | None = None, gamma: float = 0.1
) -> Schedule:
    """``gamma ** (t // step_size)``.

    Args:
        step_size: steps between decays; None takes a third of ``total_steps`` (ResNet's 30 of 90 epochs).
        gamma: the factor applied at each decay.

    References: He et al., Deep Residual Learning for Image Recognition, 2016,
    https://arxiv.org/abs/1512.03385
    """
    if step_size is None:
        step_size = max(_horizon(total_steps, "step", "step_size defaults to a third of it") // 3, 1)
    return lambda step: gamma ** (step // step_size)


@_register(
    "multistep",
    summary="Multiply by gamma at each milestone step (torch MultiStepLR).",
    paper="Goyal et al. 2017, arXiv:1706.02677",
    aliases=("multistep_decay", "multi_step", "piecewise"),
    accepts={"milestones": Items(0, None, integer=True), "gamma": _GAMMA},
    left_out={"milestones": f"50% and 75% of {_RUN}"},
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def multistep_decay(
    total_steps: int | None = None, *, milestones: Sequence[int] | None = None, gamma: float = 0.1
) -> Schedule:
    """``gamma ** (number of milestones <= t)``.

    Args:
        milestones: steps at which to decay; None takes 50% and 75% of ``total_steps`` (the CIFAR
            ResNet recipe).
        gamma: the factor applied at each milestone.

    References: Goyal et al., Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour, 2017,
    https://arxiv.org/abs/1706.02677
    """
    if milestones is None:
        horizon = _horizon(total_steps, "multistep", "milestones default to 50% and 75% of it")
        milestones = (horizon // 2, 3 * horizon // 4)
    if not isinstance(milestones, (list, tuple)):  # the registry's range checks each item of a list
        raise InvalidValueError(
            "schedule 'multistep' hyperparameter 'milestones'", milestones, "a list of steps, e.g. [30, 60]"
        )
    ordered = sorted(milestones)
    return lambda step: gamma ** bisect.bisect_right(ordered, step)


@_register(
    "exponential",
    summary="Multiply by gamma every step (torch ExponentialLR).",
    paper="Szegedy et al. 2016, arXiv:1512.00567",
    aliases=("exponential_decay", "exp"),
    accepts={"gamma": _GAMMA},
)
def exponential_decay(total_steps: int | None = None, *, gamma: float = 0.999) -> Schedule:
    """``gamma ** t``; the default halves the rate every 693 steps.

    References: Szegedy et al., Rethinking the Inception Architecture for Computer Vision, 2016,
    https://arxiv.org/abs/1512.00567
    """
    return lambda step: gamma**step


@_register(
    "linear",
    summary="Linear from start_factor to end_factor over total_iters steps (torch LinearLR).",
    paper="Devlin et al. 2019, arXiv:1810.04805",
    aliases=("linear_decay",),
    accepts={"start_factor": UNIT, "end_factor": UNIT, "total_iters": POSITIVE_INT},
    left_out={"total_iters": _RUN},
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def linear(
    total_steps: int | None = None,
    *,
    start_factor: float = 1.0,
    end_factor: float = 0.0,
    total_iters: int | None = None,
) -> Schedule:
    """``start + (end - start) * min(t, n) / n``; by default BERT's decay from 1 to 0 over the run.

    Args:
        start_factor, end_factor: the multiplier at step 0 and from step ``total_iters`` on.
        total_iters: the steps the line takes; None takes ``total_steps``.

    References: Devlin et al., BERT: Pre-training of Deep Bidirectional Transformers for Language
    Understanding, 2019, https://arxiv.org/abs/1810.04805
    """
    if total_iters is None:
        total_iters = _horizon(total_steps, "linear", "total_iters defaults to it")

    def schedule(step: int) -> float:
        if step >= total_iters:
            return end_factor  # exactly, where start + (end - start) may miss it by an ulp
        # torch LinearLR's closed form, op for op: start_factor exactly at step 0, as its first lr
        return start_factor + (end_factor - start_factor) * step / total_iters

    return schedule


@_register(
    "polynomial",
    summary="(1 - t/T)^power down to final over the run (torch PolynomialLR, final=0).",
    paper="Chen et al. 2017, arXiv:1606.00915",
    aliases=("poly", "polynomial_decay"),
    accepts={"power": POSITIVE, "final": UNIT},
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def polynomial_decay(total_steps: int | None = None, *, power: float = 1.0, final: float = 0.0) -> Schedule:
    """``final + (1 - final) * (1 - min(t, T) / T) ** power``; DeepLab's "poly" uses power 0.9.

    References: Chen et al., DeepLab: Semantic Image Segmentation with Deep Convolutional Nets,
    Atrous Convolution, and Fully Connected CRFs, 2017, https://arxiv.org/abs/1606.00915
    """
    horizon = _horizon(total_steps, "polynomial", "it decays over the run")

    def weight(fraction: float) -> float:
        return (1.0 - fraction) ** power

    return lambda step: _anneal(1.0, final, min(step, horizon) / horizon, weight)


@_register(
    "cosine",
    summary="Half a cosine from 1 down to final over the run (torch CosineAnnealingLR).",
    paper="Loshchilov & Hutter 2017, arXiv:1608.03983",
    aliases=("cosine_decay", "cosine_annealing"),
    accepts={"final": UNIT},
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def cosine(total_steps: int | None = None, *, final: float = 0.0) -> Schedule:
    """``final + (1 - final) * (1 + cos(pi * min(t, T) / T)) / 2``.

    Args:
        final: the multiplier reached at the end, torch's ``eta_min / lr``. It multiplies each
            parameter group's own lr, where torch's ``eta_min`` is one lr that every group ends at.

    References: Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, 2017,
    https://arxiv.org/abs/1608.03983
    """
    horizon = _horizon(total_steps, "cosine", "it decays over the run")
    weight = _ANNEAL_WEIGHTS["cosine"]
    return lambda step: _anneal(1.0, final, min(step, horizon) / horizon, weight)


@_register(
    "sgdr",
    summary="Cosine decays restarted every period, each period_mult times longer.",
    paper="Loshchilov & Hutter 2017, arXiv:1608.03983",
    aliases=("cosine_restarts", "cosine_annealing_warm_restarts", "warm_restarts"),
    accepts={"period": POSITIVE_INT, "period_mult": Interval(1, None), "final": UNIT},
    left_out={"period": f"a quarter of {_RUN}, 1 at least"},
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def sgdr(
    total_steps: int | None = None,
    *,
    period: int | None = None,
    period_mult: float = 1,
    final: float = 0.0,
) -> Schedule:
    """Cosine from 1 to ``final`` over ``T_i`` steps, then back to 1, with ``T_{i+1} = period_mult * T_i``.

    Matches torch's CosineAnnealingWarmRestarts (``T_0=period``, ``T_mult=period_mult``, which torch
    requires to be an integer). Within a cycle, ``final + (1 - final) * (1 + cos(pi T_cur / T_i)) / 2``.

    Args:
        period: the first cycle's length ``T_0``; None takes a quarter of ``total_steps``.
        period_mult: how much longer each cycle is than the one before.
        final: the multiplier approached at the end of each cycle.

    References: Loshchilov & Hutter, SGDR: Stochastic Gradient Descent with Warm Restarts, 2017,
    https://arxiv.org/abs/1608.03983
    """
    if period is None:
        period = max(_horizon(total_steps, "sgdr", "period defaults to a quarter of it") // 4, 1)
    weight = _ANNEAL_WEIGHTS["cosine"]

    def schedule(step: int) -> float:
        if period_mult == 1:
            position, length = step % period, period
        else:  # at most log(step) cycles to skip; exact in integers, unlike torch's closed-form log
            position, length = step, period
            while position >= length:
                position, length = position - length, length * period_mult
        return _anneal(1.0, final, position / length, weight)

    return schedule


def _one_cycle_phases(
    horizon: int, pct_start: float, anneal_strategy: str, three_phase: bool, values: Sequence[float]
) -> Schedule:
    """OneCycleLR's phases, through ``values`` (one more than the phases): the first ends at step
    ``pct_start * T - 1``, the second (of three) at ``2 * pct_start * T - 2``, the last at ``T - 1``."""
    weight = _ANNEAL_WEIGHTS["cosine" if anneal_strategy == "cos" else "linear"]
    peak_step, last = pct_start * horizon - 1, horizon - 1
    # Phase i runs from bounds[i - 1] to bounds[i], from values[i - 1] to values[i] (torch's phases).
    bounds = [0.0, peak_step, 2 * peak_step, last] if three_phase else [0.0, peak_step, last]

    def schedule(step: int) -> float:
        step = min(step, last)
        i = next((i for i in range(1, len(bounds) - 1) if step <= bounds[i]), len(bounds) - 1)
        span = bounds[i] - bounds[i - 1]
        return _anneal(values[i - 1], values[i], (step - bounds[i - 1]) / span if span > 0 else 1.0, weight)

    return schedule


@_register(
    "one_cycle",
    summary="Smith's 1cycle of the lr only: up from max/div_factor to 1, then down to a tiny final "
    "(torch OneCycleLR cycles momentum too; cycle_momentum: true does).",
    paper="Smith & Topin 2017, arXiv:1708.07120",
    aliases=("onecycle", "1cycle", "one_cycle_lr"),
    accepts={
        "pct_start": UNIT,
        "div_factor": Interval(1, None),
        "final_div_factor": Interval(1, None),
        "anneal_strategy": ("cos", "linear"),
        "three_phase": (False, True),
    },
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def one_cycle(
    total_steps: int | None = None,
    *,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal_strategy: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    """The 1cycle policy as torch's OneCycleLR computes it, relative to the maximum learning rate.

    Starts at ``1 / div_factor``, rises to 1 by step ``pct_start * T - 1``, then anneals to
    ``1 / (div_factor * final_div_factor)`` at step ``T - 1`` and stays there. With
    ``three_phase``, it first falls back to ``1 / div_factor`` by step ``2 * pct_start * T - 2``,
    as in the paper, and only then to the final value.

    The learning rate only. torch's OneCycleLR also cycles momentum by default
    (``cycle_momentum=True``), from 0.95 down to 0.85 while the rate rises and back, as Smith advises;
    a recipe does so only when it asks, ``schedule: {name: one_cycle, cycle_momentum: true}`` (with
    ``base_momentum`` and ``max_momentum``), which gives :func:`one_cycle_momentum` to the optimizer's
    :func:`momentum_field`. Off by default, so that every stored recipe keeps its meaning and its id.

    References: Smith & Topin, Super-Convergence: Very Fast Training of Neural Networks Using Large
    Learning Rates, 2017, https://arxiv.org/abs/1708.07120
    """
    horizon = _horizon(total_steps, "one_cycle", "the cycle spans the run")
    initial = 1.0 / div_factor
    lowest = initial / final_div_factor
    values = [initial, 1.0, initial, lowest] if three_phase else [initial, 1.0, lowest]
    return _one_cycle_phases(horizon, pct_start, anneal_strategy, three_phase, values)


# torch's OneCycleLR defaults, after Smith 2018: the momentum at the peak lr, and at the cycle's ends.
BASE_MOMENTUM, MAX_MOMENTUM = 0.85, 0.95


def one_cycle_momentum(
    total_steps: int,
    *,
    base_momentum: float = BASE_MOMENTUM,
    max_momentum: float = MAX_MOMENTUM,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    three_phase: bool = False,
) -> Schedule:
    """The momentum OneCycleLR cycles beside :func:`one_cycle` (torch's ``cycle_momentum=True``).

    From ``max_momentum`` down to ``base_momentum`` while the rate rises, then back up while it falls
    (with ``three_phase``, back up in the second phase and held in the third). A value, not a
    multiplier: pass it as an optimizer's momentum, e.g.
    ``optim.create("momentum", params, momentum=one_cycle_momentum(1000))``.

    References: Smith, A disciplined approach to neural network hyper-parameters: Part 1, 2018,
    https://arxiv.org/abs/1803.09820
    """
    horizon = _horizon(total_steps, "one_cycle_momentum", "the cycle spans the run")
    if not 0.0 <= base_momentum <= max_momentum <= 1.0:
        raise InvalidValueError(
            "one_cycle_momentum (base_momentum, max_momentum)",
            (base_momentum, max_momentum),
            "0 <= base_momentum <= max_momentum <= 1",
        )
    high, low = max_momentum, base_momentum
    values = [high, low, high, high] if three_phase else [high, low, high]
    return _one_cycle_phases(horizon, pct_start, anneal_strategy, three_phase, values)


def momentum_field(optimizer: str, keywords: Mapping[str, Any] | None = None) -> str:
    """The keyword a cycled momentum replaces, as torch's OneCycleLR picks it: ``betas`` (its first
    value) where the optimizer has betas, else ``momentum``; refused for an optimizer with neither, and
    where ``keywords`` (the recipe's) set the momentum it would replace unread."""
    registry = get_registry("optimizer")
    entry = registry.get(optimizer)
    if Capability.HAS_BETAS in entry.capabilities:
        return "betas"
    if Capability.HAS_MOMENTUM in entry.capabilities:
        if keywords and "momentum" in keywords:
            raise InvalidValueError(
                "optimizer.momentum",
                keywords["momentum"],
                "unset: schedule.cycle_momentum sets it (base_momentum to max_momentum)",
            )
        return "momentum"
    takers = [e.name for e in registry if {Capability.HAS_BETAS, Capability.HAS_MOMENTUM} & e.capabilities]
    raise InvalidValueError(
        "schedule.cycle_momentum",
        True,
        f"false for optimizer {entry.name!r}, which has no momentum or betas; it cycles those of "
        + ", ".join(takers),
    )


@_register(
    "cyclic",
    summary="Smith's cyclical rate, the lr only: triangles between base_factor and 1 "
    "(torch CyclicLR with cycle_momentum=False).",
    paper="Smith 2015, arXiv:1506.01186",
    aliases=("clr", "triangular", "cyclical"),
    accepts={
        "base_factor": UNIT,
        "step_size_up": POSITIVE_INT,
        "step_size_down": POSITIVE_INT,
        "mode": ("triangular", "triangular2", "exp_range"),
        "gamma": _GAMMA,
    },
    left_out={"step_size_up": f"an eighth of {_RUN}, 1 at least", "step_size_down": "step_size_up"},
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def cyclic(
    total_steps: int | None = None,
    *,
    base_factor: float = 0.25,
    step_size_up: int | None = None,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
) -> Schedule:
    """Up from ``base_factor`` to 1 in ``step_size_up`` steps, down in ``step_size_down``, repeated.

    The amplitude ``1 - base_factor`` is scaled by 1 (``triangular``), halved every cycle
    (``triangular2``) or multiplied by ``gamma ** t`` (``exp_range``). The paper advises a base
    rate 3 to 4 times below the maximum, hence ``base_factor=0.25``.

    The learning rate only: torch's CyclicLR also cycles momentum by default (``cycle_momentum=True``,
    0.9 down to 0.8 while the rate rises), so this is CyclicLR with ``cycle_momentum=False``.

    Args:
        step_size_up: steps of the rising half; None takes an eighth of ``total_steps`` (4 cycles).
        step_size_down: steps of the falling half; None takes ``step_size_up``.

    References: Smith, Cyclical Learning Rates for Training Neural Networks, 2015,
    https://arxiv.org/abs/1506.01186
    """
    if step_size_up is None:
        horizon = _horizon(total_steps, "cyclic", "step_size_up defaults to an eighth of it")
        step_size_up = max(horizon // 8, 1)
    cycle_length = step_size_up + (step_size_down or step_size_up)
    rise = step_size_up / cycle_length
    amplitude_scale: Callable[[int, int], float] = {
        "triangular": lambda cycle, step: 1.0,
        "triangular2": lambda cycle, step: 0.5 ** (cycle - 1),
        "exp_range": lambda cycle, step: gamma**step,
    }[mode]

    def schedule(step: int) -> float:
        cycle = math.floor(1 + step / cycle_length)
        x = 1.0 + step / cycle_length - cycle  # position in the cycle, in [0, 1)
        height = x / rise if x <= rise else (x - 1) / (rise - 1)
        return base_factor + (1.0 - base_factor) * height * amplitude_scale(cycle, step)

    return schedule


@_register(
    "inverse_sqrt",
    summary="Decay as 1/sqrt(step) after the warmup (Transformer's 'Noam' schedule).",
    paper="Vaswani et al. 2017, arXiv:1706.03762",
    aliases=("rsqrt", "noam", "inverse_square_root"),
    accepts={"timescale": POSITIVE_INT},
    left_out={"timescale": "the warmup's steps, 1 without warmup"},
    capabilities=(Capability.WARMUP_AWARE,),
    skip=("total_steps", "warmup_steps"),
)
def inverse_sqrt(
    total_steps: int | None = None, warmup_steps: int = 0, *, timescale: int | None = None
) -> Schedule:
    """``sqrt(timescale / (s + timescale))`` at ``s`` steps after the warmup.

    With the default ``timescale`` (the warmup's length) and a linear warmup from 0 this is
    Vaswani et al.'s ``min(t / w, sqrt(w / t))`` at step ``t``, normalised to 1 at its peak;
    without warmup the timescale is 1 step, i.e. ``1 / sqrt(t + 1)``.

    References: Vaswani et al., Attention Is All You Need, 2017, https://arxiv.org/abs/1706.03762
    """
    scale = timescale or max(warmup_steps, 1)
    return lambda step: math.sqrt(scale / (step + scale))


_COOLDOWN = {"decay_fraction": UNIT, "final": UNIT}
_DEFAULT_DECAY_FRACTION = 0.2  # Hägele et al. 2024: a 20% cooldown matched a cosine run of the same length
# default_decay_steps in words
_DECAY_LEFT_OUT = {
    "decay_fraction": f"{_DEFAULT_DECAY_FRACTION} of {_RUN}, at least the 2 a decay needs; none in a 1-step run"
}


@_register(
    "wsd",
    summary="Warmup-stable-decay: hold 1, then decay in the last decay_fraction of the run.",
    paper="Hu et al. 2024, arXiv:2404.06395",
    aliases=("warmup_stable_decay",),
    accepts={**_COOLDOWN, "decay_shape": tuple(_ANNEAL_WEIGHTS)},
    left_out=_DECAY_LEFT_OUT,
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
)
def warmup_stable_decay(
    total_steps: int | None = None,
    *,
    decay_fraction: float | None = None,
    decay_shape: str = "1-sqrt",
    final: float = 0.0,
) -> Schedule:
    """1 until the last ``round(decay_fraction * T)`` steps, then down to ``final`` along ``decay_shape``.

    The decay's first step is at 1 and it reaches ``final`` at step ``T``, after the run (as cosine's),
    so a decay over fewer than 2 steps would leave every step of the run at 1: a positive fraction that
    rounds to fewer (0.01 of 10 steps; any fraction of a 1-step run) is refused, naming the least fraction
    that decays the run's last step. A fraction of 0 asks for no decay. None (the default) is 0.2 of
    the run, or the 2 steps that decay it where 0.2 rounds to fewer (runs of 2 to 7 steps; none in a
    1-step run), so that a short run without the fraction given is decayed, not refused.

    A join of a constant and a decay; the warmup comes from ``create(..., warmup_steps=...)`` (none
    unless asked, as for every family), and the fraction counts the steps after it. Hu et al. leave
    the decay function free and used an exponential one over about 10% of the run; the defaults follow
    Hägele et al. (2024, arXiv:2405.18392): a ``1-sqrt`` cooldown beat a linear one, and a 20% cooldown
    matched a cosine run of the same length.

    References: Hu et al., MiniCPM: Unveiling the Potential of Small Language Models with Scalable
    Training Strategies, 2024, https://arxiv.org/abs/2404.06395
    """
    horizon = _horizon(total_steps, "wsd", "the decay is placed at its end")
    given = decay_fraction is not None
    decay_steps = round(decay_fraction * horizon) if given else default_decay_steps(horizon)
    if given and decay_fraction > 0 and decay_steps < 2:
        raise InvalidValueError("decay_fraction", decay_fraction, _least_decay(horizon))
    weight = _ANNEAL_WEIGHTS[decay_shape]

    def decay(step: int) -> float:
        return _anneal(1.0, final, min(step / decay_steps, 1.0) if decay_steps else 1.0, weight)

    return join([constant(), decay], [horizon - decay_steps])


def _least_decay(horizon: int) -> str:
    """The fractions of ``horizon`` steps whose decay lowers some step's lr (2 decay steps or more), and
    what leaving the fraction out gives (:func:`default_decay_steps`)."""
    why = (
        f"of {count_of(horizon, 'step')} after any warmup, a decay over under 2 steps leaves every step at 1 "
        "(its first step is at the peak)"
    )
    if horizon < 2:
        return f"0 (no decay): {why}; give the run more steps to decay it"
    least = 1.5 / horizon  # round(f * T) >= 2 from f * T = 1.5 on (round half to even: 2)
    while round(least * horizon) < 2:  # 1.5 / T * T may fall an ulp short
        least = math.nextafter(least, 1.0)
    left_out = count_of(default_decay_steps(horizon), "step")
    return (
        f"0 (no decay), or at least {least!r} (1.5 / {horizon:,}): {why}; left out, the decay is the run's "
        f"last {left_out}"
    )


def default_decay_steps(horizon: int) -> int:
    """The decay steps of a run of ``horizon`` steps after its warmup with ``decay_fraction`` left out:
    0.2 of them, at least the 2 a decay needs (none of a 1-step run)."""
    return max(round(_DEFAULT_DECAY_FRACTION * horizon), 2) if horizon >= 2 else 0


_register(
    "trapezoidal",
    summary="Hold 1, then a linear cooldown in the last decay_fraction of the run (wsd's linear shape).",
    paper="Hägele et al. 2024, arXiv:2405.18392",
    accepts=_COOLDOWN,
    left_out=_DECAY_LEFT_OUT,
    capabilities=(Capability.NEEDS_TOTAL_STEPS,),
    defaults={"decay_shape": "linear"},
    obj=warmup_stable_decay,
)
