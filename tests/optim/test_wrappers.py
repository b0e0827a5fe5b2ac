"""Lookahead and SAM around optimlab and torch optimizers, against pytorch_optimizer and hand versions.

The hand versions are the published algorithms written out over a torch.optim inner optimizer, so the
comparison also crosses shells (optimlab's inner optimizer on one side, torch's on the other).
"""

from __future__ import annotations

import copy
import doctest
import importlib

import pytest
import torch

from optim.problem import initial_parameters, loss, max_difference, train
from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.optim import create
from optimlab.optim.wrappers import SAM, Lookahead
from optimlab.registry import Capability, get_registry

TOLERANCE = 1e-6
REGISTRY = get_registry("optimizer")
MOMENTUM = dict(lr=0.05, momentum=0.9)
ADAM = dict(lr=0.01, eps=1e-3)
INNER = {"momentum": (torch.optim.SGD, MOMENTUM), "adam": (torch.optim.Adam, ADAM)}


class HandLookahead:
    """Zhang et al. 2019, Algorithm 1: slow weights phi; after every k inner steps
    phi += alpha (p - phi), p = phi."""

    def __init__(self, inner: torch.optim.Optimizer, k: int, alpha: float):
        self.inner, self.k, self.alpha, self.t = inner, k, alpha, 0
        self.params = [p for group in inner.param_groups for p in group["params"]]
        self.slow = [p.detach().clone() for p in self.params]

    def zero_grad(self):
        self.inner.zero_grad()

    @torch.no_grad()
    def step(self, closure=None):
        self.inner.step(closure) if closure else self.inner.step()
        self.t += 1
        if self.t % self.k == 0:
            for p, phi in zip(self.params, self.slow):
                phi += self.alpha * (p - phi)
                p.copy_(phi)


class HandSAM:
    """davda54/sam's ``sam.py``, written out: SAM's defaults (rho, adaptive, the base's keywords) are set
    into the param groups, the base optimizer is built over those groups and shares them, and each step
    perturbs every group by its own ``group["rho"]`` and ``group["adaptive"]``: rho g / ||g|| (ASAM:
    rho w^2 g / |||w| g||, the norm over every group), re-evaluates, restores, steps the base.

    ``ascend``: the base maximizes f, which is SAM minimizing -f: the perturbation is the same with -g,
    towards the lowest nearby point (davda54's code has no maximize).
    """

    def __init__(self, params, base_class, base_hyperparameters, rho, adaptive, ascend=False):
        defaults = dict(rho=rho, adaptive=adaptive, **base_hyperparameters)
        holder = torch.optim.Optimizer(params, defaults)  # davda54's super().__init__(params, defaults)
        self.inner = base_class(holder.param_groups, **base_hyperparameters)
        self.sign = -1.0 if ascend else 1.0
        self.param_groups = self.inner.param_groups
        self.params = [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self):
        self.inner.zero_grad()

    def step(self, closure):
        groups = [(g["rho"], g["adaptive"], g["params"]) for g in self.param_groups]
        with torch.no_grad():
            norm = torch.norm(
                torch.stack([((p.abs() if a else 1.0) * p.grad).norm() for _, a, ps in groups for p in ps])
            )
            old = [p.detach().clone() for p in self.params]
            for rho, adaptive, params in groups:
                for p in params:
                    p.add_((p**2 if adaptive else 1.0) * p.grad * self.sign * rho / (norm + 1e-12))
        self.inner.zero_grad()
        with torch.enable_grad():
            closure()
        with torch.no_grad():
            for p, w in zip(self.params, old):
                p.copy_(w)
        self.inner.step()


def with_closure(make_optimizer, steps: int = 100, objective=loss) -> tuple[list[torch.Tensor], int]:
    """Full-batch training of ``objective`` where each step gets a closure; returns the parameters and
    the closure calls."""
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    optimizer = make_optimizer(params)
    calls = 0

    def closure():
        nonlocal calls
        calls += 1
        optimizer.zero_grad()
        value = objective(params)
        value.backward()
        return value

    for _ in range(steps):
        optimizer.zero_grad()
        objective(params).backward()
        optimizer.step(closure)
    return [p.detach().clone() for p in params], calls


# -- Lookahead ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("inner", sorted(INNER))
@pytest.mark.parametrize(("k", "alpha"), [(5, 0.5), (6, 0.8)])
def test_lookahead_matches_a_hand_version(inner, k, alpha, float64):
    torch_class, hp = INNER[inner]
    ours = train(lambda p: Lookahead(p, inner, hp, k=k, alpha=alpha), steps=60)
    reference = train(lambda p: HandLookahead(torch_class(p, **hp), k, alpha), steps=60)
    inner_alone = train(lambda p: torch_class(p, **hp), steps=60)
    assert max_difference(ours, inner_alone) > 1e-2  # the slow steps changed the run
    assert max_difference(ours, reference) <= TOLERANCE


@pytest.mark.parametrize("inner", sorted(INNER))
def test_lookahead_syncs_a_parameter_without_a_gradient_as_the_authors_code(inner, float64):
    """Parameters left without a gradient on some steps (the shared problem's skipping): every k-th step
    moves each one to its slow weights, as Algorithm 1 and michaelrzhang/lookahead do; pytorch_optimizer
    4.1.0 leaves out of a sync those without a gradient at that step (2e-2 off after 100 steps)."""
    torch_class, hp = INNER[inner]
    ours = train(lambda p: Lookahead(p, inner, hp, k=5, alpha=0.5), skipping=True)
    reference = train(lambda p: HandLookahead(torch_class(p, **hp), 5, 0.5), skipping=True)
    assert max_difference(ours, train(lambda p: torch_class(p, **hp), skipping=True)) > 1e-2
    assert max_difference(ours, reference) <= TOLERANCE


@pytest.mark.parametrize("pullback_momentum", ["none", "reset", "pullback"])
@pytest.mark.parametrize(("k", "alpha"), [(5, 0.5), (6, 0.8)])
def test_lookahead_matches_pytorch_optimizer(k, alpha, pullback_momentum, float64):
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    options = dict(k=k, alpha=alpha, pullback_momentum=pullback_momentum)
    reference = train(
        lambda p: pytorch_optimizer.Lookahead(torch.optim.SGD(p, **MOMENTUM), **options), steps=60
    )
    by_name = train(lambda p: Lookahead(p, "momentum", MOMENTUM, **options), steps=60)
    by_instance = train(lambda p: Lookahead(torch.optim.SGD(p, **MOMENTUM), **options), steps=60)
    assert max_difference(by_name, reference) <= TOLERANCE
    assert max_difference(by_instance, reference) == 0


def gain(params) -> torch.Tensor:
    """The objective a maximizing optimizer ascends: the negated loss, so that its steps are known."""
    return -loss(params)


@pytest.mark.parametrize("inner", sorted(INNER))
def test_lookahead_around_a_maximizing_base_ascends_as_the_paper(inner, float64):
    """A base built with maximize=True: Zhang et al.'s loop over torch's maximizing optimizer, and the
    same run as minimizing the negated objective."""
    torch_class, hp = INNER[inner]
    ascend = {**hp, "maximize": True}
    ours = train(lambda p: Lookahead(p, inner, ascend, k=5), steps=60, objective=gain)
    reference = train(lambda p: HandLookahead(torch_class(p, **ascend), 5, 0.5), steps=60, objective=gain)
    descending = train(lambda p: Lookahead(p, inner, hp, k=5), steps=60)
    assert max_difference(ours, initial_parameters()) > 1e-2
    assert max_difference(ours, reference) <= TOLERANCE
    assert max_difference(ours, descending) <= TOLERANCE


def test_lookahead_pullback_needs_a_momentum_buffer():
    opt = Lookahead([torch.nn.Parameter(torch.ones(2))], "adam", k=1, pullback_momentum="reset")
    opt.param_groups[0]["params"][0].sum().backward()
    with pytest.raises(OptimlabError, match="momentum buffer"):
        opt.step()


@pytest.mark.parametrize("other_group", ["frozen", "empty"])
@pytest.mark.parametrize("pullback_momentum", ["none", "reset", "pullback"])
def test_lookahead_passes_over_a_group_not_stepped_yet_or_empty(pullback_momentum, other_group, float64):
    """A param group frozen for the first steps (fine-tuning a head first) has no momentum buffer at a
    sync, and an empty one (``{"params": no_decay}`` on a model without biases), which torch.optim.SGD
    steps, has no parameter: the sync ran torch's foreach ops over no tensors, a bare RuntimeError
    ('Tensor list must have at least one tensor'). Truth: Lookahead acts per group, so the trained group's
    run is the run of a Lookahead over it alone, bit for bit, and the frozen one stays where it was."""

    def run(with_other: bool) -> tuple[list[torch.Tensor], torch.Tensor]:
        params = [torch.nn.Parameter(p) for p in initial_parameters()]
        frozen = torch.nn.Parameter(torch.ones(3))
        other = {"params": [frozen] if other_group == "frozen" else []}
        groups = [{"params": params}, *([other] if with_other else [])]
        optimizer = Lookahead(groups, "momentum", MOMENTUM, k=2, pullback_momentum=pullback_momentum)
        return train(lambda _: optimizer, steps=6, params=params), frozen.detach()

    trained, frozen = run(True)
    assert max_difference(trained, initial_parameters()) > 1e-2
    assert max_difference(trained, run(False)[0]) == 0
    assert torch.equal(frozen, torch.ones(3))


def test_lookahead_state_dict_round_trip_mid_run_continues_identically(float64):
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    opt = Lookahead(params, "momentum", MOMENTUM, k=5, pullback_momentum="pullback")
    train(lambda _: opt, steps=7, params=params)  # two steps past a sync: slow != fast
    saved, snapshot = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    assert saved["state"][0]["lookahead.slow_param"].shape == params[0].shape
    expected = train(lambda _: opt, steps=5, params=params)
    resumed = [torch.nn.Parameter(p) for p in snapshot]
    fresh = Lookahead(resumed, "momentum", MOMENTUM, k=5, pullback_momentum="pullback")
    fresh.load_state_dict(saved)
    assert max_difference(train(lambda _: fresh, steps=5, params=resumed), expected) == 0


def test_lookahead_state_loaded_into_groups_in_another_order_is_refused_as_it_loads():
    """Around sgd, which keeps no shaped state, swapped groups loaded each parameter another's slow
    weights, and the next sync raised torch's RuntimeError (size 8 against 5) mid-step. Refused in one
    line as it loads, nothing loaded; in order it loads."""
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    first, second = list(model.parameters())[:2], list(model.parameters())[2:]
    saved = create("lookahead", [{"params": first}, {"params": second}], base="sgd", lr=0.1, k=2)
    model(torch.randn(4, 5)).sum().backward()
    saved.step()
    swapped = create("lookahead", [{"params": second}, {"params": first}], base="sgd", lr=0.1, k=2)
    with pytest.raises(
        OptimlabError,
        match=r"lookahead cannot load this state_dict: parameter 0 \(shape \(3, 8\)\) has a saved "
        r"lookahead.slow_param of shape \(8, 5\)",
    ):
        swapped.load_state_dict(saved.state_dict())
    assert not swapped.state and not swapped.base_optimizer.state
    create("lookahead", [{"params": first}, {"params": second}], base="sgd").load_state_dict(
        saved.state_dict()
    )


def test_lookahead_state_loaded_into_named_groups_in_another_order_is_refused_where_shapes_agree():
    """Around torch.optim.SGD, which checks no names and keeps no state, two Linear(4, 4) layers in
    swapped named groups loaded silently, each parameter taking the other's slow weights: the name check
    stopped at optimlab's shell. Refused in one line as it loads, nothing loaded; in order, and renamed
    (a Flatten put first: names 1.*, 2.*), it loads by position and continues as the run not reloaded."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    named = list(model.named_parameters())

    def lookahead(params):
        return Lookahead(torch.optim.SGD([{"params": params[:2]}, {"params": params[2:]}], lr=0.1), k=2)

    saved = lookahead(named)
    model(torch.randn(3, 4)).sum().backward()
    saved.step()
    swapped = Lookahead(torch.optim.SGD([{"params": named[2:]}, {"params": named[:2]}], lr=0.1), k=2)
    with pytest.raises(
        OptimlabError,
        match=r"lookahead cannot load this state_dict: its parameter '0.weight' was saved at position 0 of "
        r"param group 0, and is at position 0 of param group 1 here",
    ):
        swapped.load_state_dict(saved.state_dict())
    assert not swapped.state and not swapped.base_optimizer.state
    lookahead(named).load_state_dict(saved.state_dict())
    moved = torch.nn.Sequential(torch.nn.Flatten(), *copy.deepcopy(model))
    loaded = lookahead(list(moved.named_parameters()))
    loaded.load_state_dict(copy.deepcopy(saved.state_dict()))  # as from a file: torch shares tensors
    x = torch.randn(3, 4)
    for net, optimizer in ((model, saved), (moved, loaded)):
        optimizer.zero_grad()
        net(x).sum().backward()
        optimizer.step()  # the second step syncs to the slow weights
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), moved.parameters()))


def test_an_lr_scheduler_on_the_wrapper_drives_the_base():
    opt = Lookahead([torch.nn.Parameter(torch.ones(2))], "sgd", {"lr": 0.1})
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.param_groups[0]["params"][0].sum().backward()
    opt.step()
    scheduler.step()
    assert opt.base_optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))]})
    assert len(opt.base_optimizer.param_groups) == 2 and opt.param_groups is opt.base_optimizer.param_groups


def test_train_and_eval_reach_a_schedule_free_base():
    w = torch.nn.Parameter(torch.ones(2))
    opt = Lookahead([w], "schedule_free_sgd", {"lr": 0.1})
    opt.train()
    for _ in range(3):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    y = w.detach().clone()
    opt.eval()
    assert not torch.equal(w, y)  # the parameters moved to the averaged point x


# -- SAM ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rho", "adaptive"), [(0.05, False), (0.5, True)], ids=["sam", "asam"])
def test_sam_matches_the_reference_algorithm(rho, adaptive, float64):
    # 25 steps: ours 0.029 (ASAM 0.22) off plain SGD-momentum, within 2.2e-16 of the hand version; 100 took
    # 1.4 s with the first call's start-up, 0.33 s without, 25 0.08 s (tests/optim/test_wrappers.py alone)
    ours, calls = with_closure(lambda p: SAM(p, "momentum", MOMENTUM, rho=rho, adaptive=adaptive), steps=25)
    reference, _ = with_closure(lambda p: HandSAM(p, torch.optim.SGD, MOMENTUM, rho, adaptive), steps=25)
    plain = train(lambda p: torch.optim.SGD(p, **MOMENTUM), steps=25)
    assert calls == 25  # the closure runs once per step
    assert max_difference(ours, plain) > 1e-3
    assert max_difference(ours, reference) <= TOLERANCE


@pytest.mark.parametrize(("rho", "adaptive"), [(0.05, False), (0.5, True)], ids=["sam", "asam"])
@pytest.mark.parametrize("inner", sorted(INNER))
def test_sam_around_a_maximizing_base_perturbs_towards_the_lowest_point(inner, rho, adaptive, float64):
    """maximize=True ascends f, SAM minimizing -f: the perturbation goes down f, not up as it went
    (w + e was then the best nearby point: 0.060 off after 25 steps of SGD-momentum, 0.56 with ASAM;
    25 steps, not 100: 0.16 s a case, not 0.55)."""
    torch_class, hp = INNER[inner]
    ascend = {**hp, "maximize": True}
    steps = 25
    ours, _ = with_closure(
        lambda p: SAM(p, inner, ascend, rho=rho, adaptive=adaptive), steps=steps, objective=gain
    )
    reference, _ = with_closure(
        lambda p: HandSAM(p, torch_class, ascend, rho, adaptive, ascend=True), steps=steps, objective=gain
    )
    upward, _ = with_closure(
        lambda p: HandSAM(p, torch_class, ascend, rho, adaptive), steps=steps, objective=gain
    )
    descending, _ = with_closure(lambda p: SAM(p, inner, hp, rho=rho, adaptive=adaptive), steps=steps)
    assert max_difference(ours, upward) > 1e-3
    assert max_difference(ours, reference) <= TOLERANCE
    assert max_difference(ours, descending) <= TOLERANCE


def test_sam_takes_each_param_groups_own_rho_and_adaptive_as_davda54s_does(float64):
    """A param group's own rho (0: plain steps for a frozen-sharpness backbone) and adaptive were kept in
    the group and ignored: every parameter moved by SAM's rho. Each group now moves by its own, the norm
    over every group, as davda54's SAM reads group["rho"] and group["adaptive"] (the hand version); a
    group's own rho out of range is refused in one line."""

    def grouped(params):
        return [{"params": params[:2], "rho": 0.0}, {"params": params[2:], "rho": 0.5, "adaptive": True}]

    ours, _ = with_closure(lambda p: SAM(grouped(p), "momentum", MOMENTUM, rho=0.05), steps=30)
    reference, _ = with_closure(
        lambda p: HandSAM(grouped(p), torch.optim.SGD, MOMENTUM, 0.05, False), steps=30
    )
    shared, _ = with_closure(lambda p: HandSAM(p, torch.optim.SGD, MOMENTUM, 0.05, False), steps=30)
    assert max_difference(ours, shared) > 1e-3
    assert max_difference(ours, reference) <= TOLERANCE
    with pytest.raises(
        InvalidValueError, match="invalid value -1.0 for optimizer 'sam' hyperparameter 'rho'"
    ):
        create("sam", [{"params": [torch.nn.Parameter(torch.ones(2))], "rho": -1.0}], lr=0.1)


def test_sam_leaves_a_bases_own_rho_to_the_base_where_davda54s_shares_it(float64):
    """The stated departure from davda54's code (SAM's docstring): there SAM's rho is set into the groups
    the base shares, so torch's Adadelta decays its averages with SAM's radius. Here adadelta keeps its own
    rho: at radius 0 SAM around it steps as torch's Adadelta (rho 0.9) itself (the truth), where
    davda54's decays with 0."""
    ours, _ = with_closure(lambda p: SAM(p, "adadelta", {"lr": 0.5}, rho=0.0), steps=10)
    by_torch, _ = with_closure(lambda p: torch.optim.Adadelta(p, lr=0.5), steps=10)
    davda54s, _ = with_closure(lambda p: HandSAM(p, torch.optim.Adadelta, {"lr": 0.5}, 0.0, False), steps=10)
    assert max_difference(ours, by_torch) <= TOLERANCE
    assert max_difference(ours, davda54s) > 1e-3


def test_sam_refuses_groups_that_mix_maximize():
    w, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(1))
    opt = SAM([{"params": [w]}, {"params": [b], "maximize": True}], torch.optim.SGD, {"lr": 0.1})
    (w.sum() + b.sum()).backward()
    with pytest.raises(OptimlabError, match="one maximize for every param group"):
        opt.step(lambda: (w.sum() + b.sum()).backward())
    assert w.detach().tolist() == [1.0, 1.0]  # refused before any update


def test_sam_runs_the_closure_at_w_when_no_gradient_is_there_yet(float64):
    w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    opt = SAM([w], torch.optim.SGD, {"lr": 0.1}, rho=0.5)

    def closure():
        opt.zero_grad()
        value = (w**2).sum() / 2
        value.backward()
        return value

    returned = opt.step(closure)
    torch.testing.assert_close(returned, torch.tensor(((3.3**2) + (4.4**2)) / 2))  # the loss at w + e = 1.1 w
    torch.testing.assert_close(w.detach(), torch.tensor([2.67, 3.56]))


def test_sam_needs_a_closure():
    opt = SAM([torch.nn.Parameter(torch.ones(2))])
    with pytest.raises(OptimlabError, match="closure"):
        opt.step()


@pytest.mark.parametrize(
    "base",
    [
        "sam",
        "sam instance",
        "lookahead around sam",
        "torch lbfgs",
        "lookahead around lbfgs",
        "validate sam around sam",
        "validate sam around torch's lbfgs class",
        "recipe of sam around sam",
    ],
)
def test_sam_refuses_a_base_that_needs_a_closure(base):
    """SAM steps its base without a closure (with the gradients at w + e, davda54's second_step), so a
    base that needs one (SAM itself, Lookahead around it, torch's LBFGS, whose step(closure) has no default
    and which has no needs_closure attribute) failed at the first step, saying step needs a closure to a
    user who gave one, or with a bare TypeError. It is refused where it is given, naming the base, and
    where a recipe is checked (optimlab.optim.validate), not at each trial's build."""
    from optimlab.optim import validate
    from optimlab.recipe import Recipe, RecipeError

    w = torch.nn.Parameter(torch.ones(2))
    given = {
        "sam": lambda: SAM([w], "sam"),
        "sam instance": lambda: SAM(SAM([w])),
        "lookahead around sam": lambda: SAM(Lookahead(SAM([w]))),
        "torch lbfgs": lambda: SAM([w], torch.optim.LBFGS),
        "lookahead around lbfgs": lambda: SAM(Lookahead(torch.optim.LBFGS([w]))),
        "validate sam around sam": lambda: validate("sam", {"base": "sam"}),
        "validate sam around torch's lbfgs class": lambda: validate("sam", {"base": torch.optim.LBFGS}),
        "recipe of sam around sam": lambda: Recipe.from_dict({"optimizer": {"name": "sam", "base": "sam"}}),
    }[base]
    with pytest.raises(
        (InvalidValueError, RecipeError),
        match="for sam base: accepted an optimizer that steps without a closure",
    ) as refused:
        given()
    if isinstance(refused.value, RecipeError):  # the recipe's form: a heading, then a line per field
        assert "\n  optimizer: invalid value 'sam' for sam base" in str(refused.value)
    else:
        assert "\n" not in str(refused.value)


def test_lookahead_around_lbfgs_needs_a_closure():
    """Lookahead passes step's closure on to its base, so it needs one where its base does: torch's LBFGS,
    whose step(closure) has no default (torch.optim.LBFGS.step's signature), though it has no
    needs_closure attribute; fit's step_with then steps it with one (step() alone: LBFGS's TypeError), as
    torch's LBFGS steps alone (Lookahead's first of k=5 steps moves no slow weights)."""
    from optimlab.optim.user import needs_closure
    from optimlab.train.loop import step_with

    w = torch.nn.Parameter(torch.ones(2))
    assert needs_closure(torch.optim.LBFGS([w])) and Lookahead(torch.optim.LBFGS([w])).needs_closure
    assert not needs_closure(torch.optim.SGD([w])) and not Lookahead(torch.optim.SGD([w])).needs_closure

    def stepped(wrap) -> torch.Tensor:
        v = torch.nn.Parameter(torch.tensor([3.0, -4.0]))
        opt = wrap(torch.optim.LBFGS([v]))

        def closure() -> torch.Tensor:
            opt.zero_grad()
            value = ((v - 1) ** 2).sum()
            value.backward()
            return value

        step_with(opt, closure)
        return v.detach()

    torch.testing.assert_close(stepped(Lookahead), stepped(lambda lbfgs: lbfgs))


def test_lookahead_around_sam_composes(float64):
    ours, calls = with_closure(lambda p: Lookahead(SAM(p, "momentum", MOMENTUM, rho=0.05), k=5), steps=30)
    reference, _ = with_closure(
        lambda p: HandLookahead(HandSAM(p, torch.optim.SGD, MOMENTUM, 0.05, False), 5, 0.5), steps=30
    )
    assert calls == 30 and max_difference(ours, reference) <= TOLERANCE


def sam_steps(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter], steps: int) -> None:
    def closure():
        optimizer.zero_grad()
        value = loss(params)
        value.backward()
        return value

    for _ in range(steps):
        closure()
        optimizer.step(closure)


def test_sam_state_dict_round_trip_mid_run_continues_identically(float64):
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    opt = SAM(params, "momentum", MOMENTUM)
    sam_steps(opt, params, 7)
    saved, snapshot = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    resumed = [torch.nn.Parameter(p.clone()) for p in snapshot]
    fresh = SAM(resumed, "momentum", MOMENTUM)
    fresh.load_state_dict(saved)
    sam_steps(opt, params, 5)
    sam_steps(fresh, resumed, 5)
    assert max_difference(params, snapshot) > 1e-3 and max_difference(params, resumed) == 0


def test_sam_resumes_its_own_rho_and_its_groups_rho_from_a_state_dict(float64):
    """SAM's own rho was not in its state_dict (a rho=0.1 SAM loading a rho=0.5 one's state kept 0.1), and
    a state whose group set its own rho was refused by a SAM whose groups do not ('It was saved by another
    optimizer', though the same optimizer saved it). Both load, as torch loads a group's lr: the run goes
    on as the saved one (the truth: that run continued, bit for bit)."""
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    opt = SAM([{"params": params[:2], "rho": 0.0}, {"params": params[2:]}], "momentum", MOMENTUM, rho=0.5)
    sam_steps(opt, params, 3)
    saved, snapshot = copy.deepcopy(opt.state_dict()), [p.detach().clone() for p in params]
    resumed = [torch.nn.Parameter(p.clone()) for p in snapshot]
    fresh = SAM([{"params": resumed[:2]}, {"params": resumed[2:]}], "momentum", MOMENTUM, rho=0.1)
    fresh.load_state_dict(saved)
    sam_steps(opt, params, 3)
    sam_steps(fresh, resumed, 3)
    assert max_difference(params, snapshot) > 1e-3 and max_difference(params, resumed) == 0


@pytest.mark.parametrize("where", ["group", "sam"])
def test_sam_refuses_a_rho_out_of_range_as_its_state_dict_loads_not_at_the_next_step(where):
    """A state_dict whose group held rho=-1 loaded without a word, and was refused only at the next step
    (each step validating every group again). Refused as it loads, in one line naming where, the optimizer
    left as it was."""
    params = [torch.nn.Parameter(torch.ones(2))]
    opt = SAM([{"params": params, "rho": 0.2}], "sgd", {"lr": 0.1}, rho=0.5)
    saved = copy.deepcopy(opt.state_dict())
    if where == "group":
        saved["param_groups"][0]["rho"] = -1.0
    else:
        saved["sam"]["rho"] = -1.0
    named = "param group 0 of the state_dict" if where == "group" else "the state_dict"
    with pytest.raises(
        InvalidValueError, match=f"invalid value -1.0 for .*'rho' in {named}: accepted"
    ) as refused:
        opt.load_state_dict(saved)
    assert "\n" not in str(refused.value)
    assert (opt.rho, opt.param_groups[0]["rho"]) == (0.5, 0.2)


# -- the shared wrapper contract ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lookahead", "sam"])
def test_state_dict_hooks_registered_on_a_wrapper_run_as_torchs_do(name):
    """torch.optim's four state-dict hooks, registered on the wrapper: each runs once, in torch's
    order, and what a hook returns is what is saved or loaded."""

    params = [torch.nn.Parameter(p.float()) for p in initial_parameters()]
    optimizer, calls = create(name, params), []
    optimizer.register_state_dict_pre_hook(lambda o: calls.append("save pre"))
    optimizer.register_state_dict_post_hook(lambda o, sd: calls.append("save post") or {**sd, "tag": 1})
    optimizer.register_load_state_dict_pre_hook(
        lambda o, sd: calls.append(f"load pre {sd.get('tag')}") or {k: v for k, v in sd.items() if k != "tag"}
    )
    optimizer.register_load_state_dict_post_hook(lambda o: calls.append("load post"))
    saved = optimizer.state_dict()
    assert saved["tag"] == 1
    optimizer.load_state_dict(saved)
    reference = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))])  # torch's own order of the four
    torch_calls = []
    reference.register_state_dict_pre_hook(lambda o: torch_calls.append("save pre"))
    reference.register_state_dict_post_hook(lambda o, sd: torch_calls.append("save post") or {**sd, "tag": 1})
    reference.register_load_state_dict_pre_hook(lambda o, sd: torch_calls.append(f"load pre {sd.get('tag')}"))
    reference.register_load_state_dict_post_hook(lambda o: torch_calls.append("load post"))
    reference.load_state_dict(reference.state_dict())
    assert calls == torch_calls == ["save pre", "save post", "load pre 1", "load post"]


def test_wrappers_are_registered_and_created_through_the_registry():
    w = torch.nn.Parameter(torch.ones(2))
    opt = REGISTRY.create("lookahead", [w], "sgd", {"lr": 0.1}, k=3)
    assert isinstance(opt, Lookahead) and opt.k == 3 and isinstance(opt, torch.optim.Optimizer)
    assert {Capability.WRAPPER, Capability.NEEDS_CLOSURE} <= REGISTRY.get("sam").capabilities
    with pytest.raises(InvalidValueError, match="rho"):
        REGISTRY.create("sam", [w], rho=-1.0)


def test_bad_bases_and_values_are_rejected_clearly():
    w = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(UnknownNameError, match="Did you mean .*'adam'"):
        Lookahead([w], "adma")
    with pytest.raises(InvalidValueError, match="instance"):
        Lookahead(torch.optim.SGD([w], lr=0.1), "adam")
    with pytest.raises(InvalidValueError, match="torch.optim.Optimizer"):
        SAM([w], 3.0)
    with pytest.raises(InvalidValueError, match="'k'"):
        Lookahead([w], k=0)
    with pytest.raises(UnknownNameError, match="Did you mean 'lr'"):
        Lookahead([w], "adam", {"lrr": 0.1})


@pytest.mark.parametrize("module", ["optimlab.optim.wrappers.lookahead", "optimlab.optim.wrappers.sam"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted > 0


def test_wrappers_by_name_take_their_base_and_its_keywords():
    from optimlab.optim import create

    p = torch.nn.Parameter(torch.ones(3))
    sam = create("sam", [p], base="momentum", lr=0.1, momentum=0.8, rho=0.1)
    assert sam.rho == 0.1 and sam.param_groups[0]["lr"] == 0.1 and sam.param_groups[0]["momentum"] == 0.8
    lookahead = create("lookahead", [p], k=3, lr=0.02)  # base adam by default
    assert lookahead.param_groups[0]["lr"] == 0.02 and "betas" in lookahead.param_groups[0]
    with pytest.raises(UnknownNameError, match=r"'rhoo'.*Did you mean 'rho'"):
        create("sam", [p], base="momentum", rhoo=0.1)


@pytest.mark.parametrize("name", ["sam", "lookahead"])
def test_a_misspelt_base_is_named_as_the_wrappers_base(name):
    """base: momentm said "unknown optimizer 'momentm'", as if the optimizer the recipe names were
    unknown; it now names the wrapper's base."""
    from optimlab.optim import create
    from optimlab.recipe import Recipe, RecipeError

    p = torch.nn.Parameter(torch.ones(3))
    expected = rf"unknown base optimizer of '{name}' 'momentm'. Did you mean 'momentum'"
    with pytest.raises(UnknownNameError, match=expected):
        create(name, [p], base="momentm")
    with pytest.raises(RecipeError, match=rf"optimizer: {expected}"):
        Recipe.from_dict({"optimizer": {"name": name, "base": "momentm"}})


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_steps_a_sparse_gradient_as_its_dense_equal(adaptive, float64):
    """An nn.Embedding(sparse=True) under SAM: the same steps as the dense embedding (torch raised
    NotImplementedError from the sparse norm)."""

    def run(sparse: bool) -> torch.Tensor:
        torch.manual_seed(0)
        embedding = torch.nn.Embedding(6, 3, sparse=sparse)
        opt = create("sam", embedding.parameters(), base="momentum", lr=0.1, rho=0.5, adaptive=adaptive)
        rows = torch.tensor([1, 4, 4])

        def closure():
            opt.zero_grad()
            loss = (embedding(rows) ** 2).sum() + embedding(rows).sum()
            loss.backward()
            return loss

        for _ in range(5):
            closure()
            opt.step(closure)
        return embedding.weight.detach().clone()

    dense = run(sparse=False)
    assert (dense - run(sparse=False)).abs().max() == 0  # seeded: the comparison below means something
    assert (run(sparse=True) - dense).abs().max() <= 1e-12


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_steps_a_complex_parameter_as_its_real_and_imaginary_parts(adaptive, float64):
    """A complex parameter is two real coordinates, as torch.optim steps it (torch.view_as_real): ASAM's
    |w| g and w^2 g per part. It took the complex square w * w, which turns g (0.41 off the real
    parameters' steps after 3 steps); the reference is the same SAM on the real view, by HandSAM."""
    w0 = torch.tensor([1.0 - 2.0j, 0.5 + 0.3j, -1.2 + 0.7j])

    def run(make, complex_: bool) -> torch.Tensor:
        w = torch.nn.Parameter(w0.clone() if complex_ else torch.view_as_real(w0).clone())
        opt = make([w])
        parts = (lambda: torch.view_as_real(w)) if complex_ else (lambda: w)

        def closure():
            opt.zero_grad()
            value = (parts() ** 2).sum() + parts().prod(-1).sum()
            value.backward()
            return value

        for _ in range(3):
            closure()
            opt.step(closure)
        return parts().detach().clone()

    ours = run(lambda p: SAM(p, "momentum", MOMENTUM, rho=0.5, adaptive=adaptive), complex_=True)
    reference = run(lambda p: HandSAM(p, torch.optim.SGD, MOMENTUM, 0.5, adaptive), complex_=False)
    assert max_difference([ours], [torch.view_as_real(w0)]) > 1e-2
    assert max_difference([ours], [reference]) <= 1e-12


@pytest.mark.parametrize("wrapper", ["lookahead", "sam"])
def test_create_passes_maximize_to_the_base_as_the_wrappers_own_classes_take_it(wrapper, float64):
    """create("sam", ..., maximize=True) was refused as an unknown hyperparameter, where SAM(params,
    "sgd", {"maximize": True}) and create("adam", ..., maximize=True) take it."""
    wrapped = {
        "lookahead": lambda p, base: Lookahead(p, "sgd", base),
        "sam": lambda p, base: SAM(p, "sgd", base),
    }
    by_name = with_closure(lambda p: create(wrapper, p, base="sgd", lr=0.05, maximize=True), 30, gain)[0]
    by_class = with_closure(lambda p: wrapped[wrapper](p, {"lr": 0.05, "maximize": True}), 30, gain)[0]
    assert max_difference(by_name, initial_parameters()) > 1e-2 and max_difference(by_name, by_class) == 0
    with pytest.raises(OptimlabError, match="invalid value 'yes' for maximize: accepted True or False"):
        create(wrapper, initial_parameters(), base="sgd", lr=0.05, maximize="yes")
