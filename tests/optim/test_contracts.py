"""Contracts every registered optimizer meets, parametrized from the registry (new entries included).

Each runs with its registered defaults: it decreases a quadratic, keeps float32 parameters and state in
float32, resumes identically from a state dict saved to disk, leaves no trace of a step that
torch.amp.GradScaler skips, and rejects unknown keywords (with close matches) and out-of-range values.
"""

from __future__ import annotations

import copy

import pytest
import torch

import optimlab.optim
from optimlab.errors import InvalidValueError, UnknownNameError
from optimlab.optim import create
from optimlab.registry import Capability, Interval, get_registry

REGISTRY = get_registry("optimizer")
NAMES = REGISTRY.names()


def quadratic(p: torch.Tensor) -> torch.Tensor:
    """``0.5 * sum(a * (p - c)^2)`` with curvatures a in [0.5, 1] (stable for every default lr)."""
    curvature = torch.linspace(0.5, 1.0, p.numel(), dtype=p.dtype).reshape(p.shape)
    target = torch.linspace(-1.0, 1.0, p.numel(), dtype=p.dtype).reshape(p.shape)
    return 0.5 * (curvature * (p - target) ** 2).sum()


def run(optimizer: torch.optim.Optimizer, p: torch.Tensor, steps: int, name: str = "") -> None:
    optimizer.train()  # a no-op except for optimizers with train/eval points (schedule-free)

    def closure() -> torch.Tensor:  # SAM evaluates the gradient a second time, at the perturbed point
        optimizer.zero_grad()
        loss = quadratic(p)
        loss.backward()
        return loss

    needs_closure = name and Capability.NEEDS_CLOSURE in REGISTRY.get(name).capabilities
    for _ in range(steps):
        closure()
        optimizer.step(closure) if needs_closure else optimizer.step()


def matrix_parameter() -> torch.nn.Parameter:
    """A non-square 2-D float32 parameter: every optimizer accepts one (Muon needs 2-D)."""
    return torch.nn.Parameter(torch.zeros(4, 5, dtype=torch.float32))


@pytest.mark.parametrize("name", NAMES)
def test_decreases_a_quadratic(name):
    p = matrix_parameter()
    before = quadratic(p).item()
    optimizer = create(name, [p])
    run(optimizer, p, 30, name)
    optimizer.eval()
    assert quadratic(p).item() < before


@pytest.mark.parametrize("name", NAMES)
def test_keeps_float32(name):
    p = matrix_parameter()
    optimizer = create(name, [p])
    run(optimizer, p, 3, name)
    tensors = [v for v in optimizer.state_dict()["state"][0].values() if isinstance(v, torch.Tensor)]
    assert p.dtype == torch.float32
    assert all(t.dtype == torch.float32 for t in tensors if t.is_floating_point())


@pytest.mark.parametrize("shape", [(0,), (0, 5), (4, 0)])
@pytest.mark.parametrize("name", NAMES)
def test_an_empty_parameter_changes_nothing_and_keeps_its_state_finite(name, shape):
    """A parameter with no elements (a layer of width 0, torch.optim.Adam takes it) has an empty update.
    Muon raised ZeroDivisionError on a 4 x 0 matrix (its lr ratio sqrt(rows / cols), as torch.optim.Muon
    does) and Adafactor kept a NaN column mean of a 0 x 5 one (a mean over no rows). Truth: the other
    parameter's steps are those of a run without it (torch.equal), every state tensor finite."""

    def steps(with_empty: bool) -> tuple[torch.Tensor, torch.optim.Optimizer]:
        p, empty = matrix_parameter(), torch.nn.Parameter(torch.zeros(shape))
        optimizer = create(name, [p, empty] if with_empty else [p])
        optimizer.train()

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = quadratic(p) + (quadratic(empty) if with_empty else 0.0)
            loss.backward()
            return loss

        for _ in range(3):
            closure()
            optimizer.step(closure)
        return p.detach(), optimizer

    p, optimizer = steps(True)
    assert torch.equal(p, steps(False)[0])
    state = [v for s in optimizer.state_dict()["state"].values() for v in s.values()]
    assert all(v.isfinite().all() for v in state if isinstance(v, torch.Tensor) and v.is_floating_point())


@pytest.mark.parametrize("name", NAMES)
def test_resumes_identically_from_a_state_dict_on_disk(name, tmp_path):
    p = matrix_parameter()
    optimizer = create(name, [p])
    run(optimizer, p, 5, name)
    torch.save({"optimizer": optimizer.state_dict(), "p": p.detach().clone()}, tmp_path / "checkpoint.pt")
    run(optimizer, p, 5, name)

    checkpoint = torch.load(tmp_path / "checkpoint.pt")
    resumed = torch.nn.Parameter(checkpoint["p"].clone())
    fresh = create(name, [resumed])
    fresh.load_state_dict(checkpoint["optimizer"])
    run(fresh, resumed, 5, name)
    assert not torch.equal(resumed, checkpoint["p"])
    assert torch.equal(resumed, p)


def same(a: object, b: object) -> bool:
    """Equal state dicts: the same keys and numbers, tensors equal element for element."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same, a, b))
    return a == b


@pytest.mark.parametrize(
    "name", [n for n in NAMES if Capability.NEEDS_CLOSURE not in REGISTRY.get(n).capabilities]
)
def test_a_step_grad_scaler_skips_for_an_infinite_gradient_leaves_no_trace(name):
    """torch.amp.GradScaler on CPU under bfloat16 autocast: the step of an infinite gradient is skipped,
    parameters and state untouched, and the run goes on exactly as one without that step (the scale's
    powers of two unscale exactly). torch's scaler takes no closure, so SAM is left out."""

    def scaled_run(skipped: bool) -> torch.Tensor:
        p = matrix_parameter()
        optimizer, scaler = create(name, [p]), torch.amp.GradScaler("cpu", init_scale=2.0**10)
        optimizer.train()
        for step in range(7):
            if step == 3 and not skipped:
                continue
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = quadratic(p @ torch.eye(5))
            scaler.scale(loss).backward()
            if step == 3:
                p.grad[0, 0] = torch.inf
                before = (p.detach().clone(), copy.deepcopy(optimizer.state_dict()))
            scaler.step(optimizer)
            scaler.update()
            if step == 3:
                assert torch.equal(p, before[0]) and same(optimizer.state_dict(), before[1])
                assert scaler.get_scale() == 2.0**9
        return p.detach()

    with_skip, without = scaled_run(skipped=True), scaled_run(skipped=False)
    assert not torch.equal(with_skip, matrix_parameter())
    assert torch.equal(with_skip, without)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_an_unknown_keyword_with_close_matches(name):
    # Every optimizer takes an lr (a wrapper passes it to its base optimizer).
    with pytest.raises(UnknownNameError, match=r"'lrr'.*Did you mean 'lr'"):
        create(name, [matrix_parameter()], lrr=0.1)


def out_of_range_cases():
    for entry in REGISTRY:
        for h in entry.hyperparameters:
            if isinstance(h.accepts, Interval):
                if h.accepts.low is not None:
                    bad = h.accepts.low - 1
                elif h.accepts.high is not None:
                    bad = h.accepts.high + 1
                else:
                    continue
                bad = (bad, *h.default[1:]) if isinstance(h.default, tuple) else bad
            elif isinstance(h.accepts, tuple):
                bad = "not-a-choice"
            else:
                continue
            yield pytest.param(entry.name, h.name, bad, id=f"{entry.name}-{h.name}")


@pytest.mark.parametrize(("name", "hyperparameter", "bad"), list(out_of_range_cases()))
def test_rejects_out_of_range_values(name, hyperparameter, bad):
    with pytest.raises(InvalidValueError, match=hyperparameter):
        create(name, [matrix_parameter()], **{hyperparameter: bad})


def eps_cases():
    for entry in REGISTRY:
        for h in entry.hyperparameters:
            if h.name.startswith("eps") or h.name.endswith("_eps"):
                yield pytest.param(entry.name, h.name, id=f"{entry.name}-{h.name}")


@pytest.mark.parametrize(("name", "hyperparameter"), list(eps_cases()))
def test_an_eps_of_zero_is_refused_in_one_line(name, hyperparameter):
    """torch takes eps=0, and its Adam then turns a param whose gradient is 0 to NaN in one step
    (0 / (sqrt(0) + 0)); its Adadelta never moves at all. Refused, naming the value and the range."""
    with pytest.raises(InvalidValueError) as refused:
        create(name, [matrix_parameter()], **{hyperparameter: 0.0})
    message = str(refused.value)
    assert f"invalid value 0.0 for optimizer '{name}' hyperparameter '{hyperparameter}'" in message
    assert "(0, inf)" in message and "\n" not in message


def test_an_rmsprop_alpha_of_one_is_refused_in_one_line():
    """alpha is RMSprop's b2: at 1, v stays 0 and torch's RMSprop steps lr g / eps (lr 0.01, eps 1e-8:
    [1, -2] went to [-8e18, 1.6e19] in 3 steps). Refused as Adam's b2 = 1 is."""
    with pytest.raises(
        InvalidValueError, match=r"invalid value 1.0 .*'alpha': accepted a number in \[0, 1\)"
    ):
        create("rmsprop", [matrix_parameter()], alpha=1.0)
    create("rmsprop", [matrix_parameter()], alpha=0.0)  # v = g^2: a sign-like step, as torch allows


def sequence_cases():
    for entry in REGISTRY:
        for h in entry.hyperparameters:
            if isinstance(h.default, tuple):
                for bad in (h.default[0], h.default[:-1], (*h.default, h.default[-1])):
                    yield pytest.param(
                        entry.name, h.name, bad, len(h.default), id=f"{entry.name}-{h.name}-{bad}"
                    )


@pytest.mark.parametrize(("name", "hyperparameter", "bad", "length"), list(sequence_cases()))
def test_rejects_a_number_or_a_sequence_of_another_length(name, hyperparameter, bad, length):
    """betas=0.9 or a pair for Adan's three: refused naming the keyword, not a bare unpacking error."""
    with pytest.raises(InvalidValueError, match=rf"'{hyperparameter}'.*a sequence of {length}"):
        create(name, [matrix_parameter()], **{hyperparameter: bad})


def _references_of_betas() -> dict[tuple[str, str], object]:
    """The optimizer whose own check of a betas-like pair is the truth: torch's where torch has it (each
    beta in [0, 1)), else the authors' or a second implementation's."""
    optim = torch.optim
    po = pytest.importorskip("pytorch_optimizer")
    return {
        ("adam", "betas"): optim.Adam,
        ("adamw", "betas"): optim.AdamW,
        ("amsgrad", "betas"): lambda params, betas: optim.Adam(params, betas=betas, amsgrad=True),
        ("nadam", "betas"): optim.NAdam,
        ("radam", "betas"): optim.RAdam,
        ("adamax", "betas"): optim.Adamax,
        ("muon", "adamw_betas"): optim.AdamW,  # the AdamW of Muon's other parameters
        # the authors' code (google/automl lion_pytorch.py) checks [0, 1) as pytorch_optimizer does;
        # lion_pytorch 0.2.5 also takes 1
        ("lion", "betas"): po.Lion,
        ("lamb", "betas"): po.Lamb,  # no authors' PyTorch code; the variant optimlab's lamb is
        ("adan", "betas"): po.Adan,  # the authors' adan.py checks all three in [0, 1): see below
        ("schedule_free_adamw", "betas"): po.ScheduleFreeAdamW,
    }


def beta_range_cases():
    for entry in REGISTRY:
        for h in entry.hyperparameters:
            if isinstance(h.default, tuple) and h.name.endswith("betas"):
                for position in range(len(h.default)):
                    for value in (-0.1, 0.0, 0.5, 1.0, 1.1):
                        yield pytest.param(
                            entry.name,
                            h.name,
                            position,
                            value,
                            id=f"{entry.name}-{h.name}[{position}]={value}",
                        )


@pytest.mark.parametrize(("name", "hyperparameter", "position", "value"), list(beta_range_cases()))
def test_validate_takes_each_beta_where_its_reference_does(name, hyperparameter, position, value):
    """``optim.validate`` (which recipes, compare and the Python API call before running, building
    nothing) refuses a beta out of range exactly where the reference optimizer's constructor does, in
    one line naming the value, the keyword and each entry's range. Schedule-free AdamW's b1 = 0 passed
    validate (the pair was checked as [0, 1) each) and was refused only by its factory."""
    reference = _references_of_betas()[(name, hyperparameter)]  # a new entry's pair needs its truth
    betas = list(next(h.default for h in REGISTRY.get(name).hyperparameters if h.name == hyperparameter))
    betas[position] = value
    betas = tuple(betas)
    try:
        reference([torch.nn.Parameter(torch.zeros(2, 2))], betas=betas)
        refused = False
    except ValueError:
        refused = True
    if name == "adan" and position == 2 and value == 1.0:
        refused = True  # see test_adan_b3_of_one_is_refused: pytorch_optimizer's '[]' steps to NaN
    if not refused:
        optimlab.optim.validate(name, {hyperparameter: betas})
        return
    with pytest.raises(InvalidValueError) as caught:
        optimlab.optim.validate(name, {hyperparameter: betas})
    message = str(caught.value)
    assert f"invalid value {betas!r} for optimizer '{name}' hyperparameter '{hyperparameter}'" in message
    assert "\n" not in message


def test_adan_b3_of_one_is_refused():
    """b3 = 1 keeps Adan's n at 0 and divides by its bias correction 1 - b3^t = 0: pytorch_optimizer's
    Adan, which takes b3 in [0, 1], steps a parameter to NaN at once; the authors' adan.py refuses it
    (0 <= b3 < 1), as optimlab does."""
    po = pytest.importorskip("pytorch_optimizer")
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    reference = po.Adan([w], betas=(0.98, 0.92, 1.0))
    (w**2).sum().backward()
    reference.step()
    assert torch.isnan(w).all()
    with pytest.raises(
        InvalidValueError, match=r"'betas': accepted a sequence of 3, each a number in \[0, 1\)"
    ):
        optimlab.optim.validate("adan", {"betas": (0.98, 0.92, 1.0)})


def test_schedule_free_adamw_names_the_range_of_each_beta():
    """b1 is schedule-free's interpolation beta, which eval() divides by: (0, 1); b2 Adam's: [0, 1)."""
    with pytest.raises(InvalidValueError) as caught:
        optimlab.optim.validate("schedule_free_adamw", {"betas": (0.0, 0.999)})
    assert str(caught.value) == (
        "invalid value (0.0, 0.999) for optimizer 'schedule_free_adamw' hyperparameter 'betas': accepted a "
        "sequence of 2: betas[0] a number in (0, 1), betas[1] a number in [0, 1)."
    )


@pytest.mark.parametrize("name", NAMES)
def test_entry_documents_itself(name):
    entry = REGISTRY.get(name)
    assert entry.summary and entry.paper and entry.obj.__doc__
    assert all(h.accepts is not None for h in entry.hyperparameters), "give every hyperparameter a range"


def test_unknown_optimizer_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'adam'"):
        create("adamm", [matrix_parameter()])


def integer_cases():
    for entry in REGISTRY:
        for h in entry.hyperparameters:
            if isinstance(h.accepts, Interval) and h.accepts.integer:
                yield pytest.param(entry.name, h.name, max(h.default or 0, 2), id=f"{entry.name}-{h.name}")


@pytest.mark.parametrize(("name", "hyperparameter", "value"), list(integer_cases()))
def test_a_whole_float_for_an_integer_steps_as_the_integer(name, hyperparameter, value):
    """``ns_steps: 5.0`` (YAML, a search space, ``--set optimizer.ns_steps=5.0``) is accepted as an integer
    in range; Muon then failed at its first step with a TypeError traceback (a float in range()). As
    ``Entry.create`` does for any registry, the whole float is the integer."""
    runs = []
    for given in (float(value), int(value)):
        p = matrix_parameter()
        optimizer = create(name, [p], **{hyperparameter: given})
        run(optimizer, p, 3, name)
        runs.append(p.detach())
        stored = [g.get(hyperparameter) for g in optimizer.param_groups]
        assert all(v is None or type(v) is int for v in stored)
    assert not torch.equal(runs[0], matrix_parameter()) and torch.equal(*runs)


@pytest.mark.parametrize("name", NAMES)
def test_maximize_ascends_as_descending_the_negated_objective(name):
    """``maximize=True``, as torch's optimizers take it, negates the gradient before anything else: up f
    is down -f, bit for bit, for every optimizer (the torch-reference ones are checked against torch's
    own maximize in test_optimizers; SAM's worst point is then the lowest, its docstring says)."""
    runs = []
    for maximize, sign in ((True, -1.0), (False, 1.0)):
        p = matrix_parameter()
        optimizer = create(name, [p], maximize=maximize)
        optimizer.train()

        def closure(optimizer=optimizer, p=p, sign=sign) -> torch.Tensor:
            optimizer.zero_grad()
            loss = sign * quadratic(p)
            loss.backward()
            return loss

        for _ in range(10):
            closure()
            optimizer.step(closure) if Capability.NEEDS_CLOSURE in REGISTRY.get(
                name
            ).capabilities else optimizer.step()
        runs.append(p.detach())
    assert not torch.equal(runs[0], matrix_parameter()) and torch.equal(*runs)
