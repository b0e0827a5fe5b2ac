"""The batched shell: K stacked members step exactly as K drop-in optimizers with each member's values."""

import pytest
import torch

import optimlab.optim
from optim.problem import initial_parameters, max_difference, train
from optim.problem import loss as problem_loss
from optim.test_optimizers import TORCH_CASES, lr_drop
from optimlab.errors import InvalidValueError, OptimlabError, UnknownNameError
from optimlab.optim.shells import batched as batched_shell
from optimlab.optim.shells.batched import BATCHABLE, BatchedOptimizer
from optimlab.registry import Capability, get_registry
from optimlab.schedules import as_lr_scheduler, create

K = 3
BATCHABLE_ENTRIES = [
    pytest.param(e, id=e.name) for e in get_registry("optimizer") if BATCHABLE in e.capabilities
]


def member_values(entry):
    """Per-member lr (around the default) and, where there are betas, a per-member first beta."""
    defaults = {h.name: h.default for h in entry.hyperparameters}
    values = {"lr": [defaults["lr"] * f for f in (0.5, 1.0, 2.0)]}
    if isinstance(defaults.get("betas"), tuple):
        values["betas"] = [(b1, *defaults["betas"][1:]) for b1 in (0.8, 0.85, defaults["betas"][0])]
    if "weight_decay" in defaults:
        values["weight_decay"] = [0.0, 0.01, 0.1]
    return values


def gradient(p, t):
    """A gradient that depends on the parameters, so that a wrong step shows in the next ones."""
    generator = torch.Generator().manual_seed(t)
    return 0.5 * p + torch.randn(p.shape, generator=generator) + 0.1 * p.pow(2)


@pytest.mark.parametrize("entry", BATCHABLE_ENTRIES)
def test_each_member_steps_as_the_drop_in_shell_with_its_values(entry):
    torch.manual_seed(0)
    shapes = [(4, 3), (3,)]
    start = [torch.randn(K, *s) for s in shapes]
    values = member_values(entry)
    stacked = [p.clone() for p in start]
    batched = BatchedOptimizer(stacked, entry.name, members=K, **values)
    batched.train()
    singles = []
    for k in range(K):
        params = [torch.nn.Parameter(p[k].clone()) for p in start]
        opt = optimlab.optim.create(entry.name, params, **{name: v[k] for name, v in values.items()})
        getattr(opt, "train", lambda: None)()
        singles.append((params, opt))
    for t in range(6):
        batched.step([torch.stack([gradient(p[k], 10 * t + k) for k in range(K)]) for p in stacked])
        for k, (params, opt) in enumerate(singles):
            for p in params:
                p.grad = gradient(p.detach(), 10 * t + k)
            opt.step()
    batched.eval()
    for k, (params, opt) in enumerate(singles):
        getattr(opt, "eval", lambda: None)()
        for p_batched, p_single in zip(stacked, params):
            torch.testing.assert_close(p_batched[k], p_single.detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "entry", [e for e in BATCHABLE_ENTRIES if Capability.TRAIN_EVAL_MODES in e.values[0].capabilities]
)
def test_evaluating_stacked_members_after_every_step_leaves_their_training_bit_for_bit(entry):
    """Schedule-free's eval()/train() (Defazio et al. 2024) made y again from x, y up to rounding: members
    evaluated after every step ended in other last bits than members never evaluated."""
    torch.manual_seed(0)
    start = [torch.randn(K, 4, 3), torch.randn(K, 3)]
    runs = []
    for evaluated in (False, True):
        stacked = [p.clone() for p in start]
        batched = BatchedOptimizer(stacked, entry.name, members=K, **member_values(entry))
        batched.train()
        for t in range(20):
            batched.step([torch.stack([gradient(p[k], 10 * t + k) for k in range(K)]) for p in stacked])
            if evaluated:
                batched.eval()
                batched.train()
        batched.eval()
        runs.append(stacked)
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_a_schedule_multiplies_every_members_lr_as_lambda_lr_does():
    schedule = create("cosine", total_steps=5, warmup_steps=2)
    start = torch.randn(K, 4)
    stacked = [start.clone()]
    batched = BatchedOptimizer(stacked, "momentum", members=K, schedule=schedule, lr=[0.1, 0.2, 0.3])
    for k, lr in enumerate([0.1, 0.2, 0.3]):
        p = torch.nn.Parameter(start[k].clone())
        opt = optimlab.optim.create("momentum", [p], lr=lr)
        scheduler = as_lr_scheduler(opt, schedule)
        for t in range(5):
            p.grad = gradient(p.detach(), t)
            opt.step()
            scheduler.step()
        if k == 0:
            for t in range(5):
                batched.step([torch.stack([gradient(stacked[0][j], t) for j in range(K)])])
        torch.testing.assert_close(stacked[0][k], p.detach(), rtol=1e-5, atol=1e-6)


def test_each_members_reported_lr_is_the_drop_in_shells_lr():
    """What a batched run logs as member k's lr (``lrs``, read by train/members.py) is the lr its
    drop-in run logs, step by step under a schedule: lr=0.1 is 0.1, not float32's 0.10000000149011612."""
    schedule = create("cosine", total_steps=5, warmup_steps=2)
    lrs = [0.1, 0.2, 0.3]
    batched = BatchedOptimizer([torch.zeros(K, 4)], "momentum", members=K, schedule=schedule, lr=lrs)
    for k, lr in enumerate(lrs):
        p = torch.nn.Parameter(torch.zeros(4))
        opt = optimlab.optim.create("momentum", [p], lr=lr)
        scheduler = as_lr_scheduler(opt, schedule)
        for t in range(5):
            assert batched.lrs(t)[k] == opt.param_groups[0]["lr"]
            p.grad = torch.ones(4)
            opt.step()
            scheduler.step()


def test_members_on_a_device_without_float64_hold_their_values_in_float32(monkeypatch):
    """MPS has no float64, so per-member values made in float64 failed every batched run with one there.
    With CPU taken for such a device, they are float32: each member steps as the drop-in with its values
    rounded to float32 (to float32 rounding), and reports that lr (the documented gap)."""
    monkeypatch.setattr(batched_shell, "NO_FLOAT64", frozenset({"cpu"}))
    lrs, momenta, start = [0.1, 0.2, 0.3], [0.8, 0.85, 0.9], torch.randn(K, 4)
    stacked = [start.clone()]
    batched = BatchedOptimizer(stacked, "momentum", members=K, lr=lrs, momentum=momenta)
    for t in range(5):
        batched.step([torch.stack([gradient(stacked[0][k], t) for k in range(K)])])
    in_float32 = [torch.tensor(v, dtype=torch.float32).item() for v in lrs + momenta]
    assert batched.lrs(0) == in_float32[:K] != lrs
    for k in range(K):
        p = torch.nn.Parameter(start[k].clone())
        opt = optimlab.optim.create("momentum", [p], lr=in_float32[k], momentum=in_float32[K + k])
        for t in range(5):
            p.grad = gradient(p.detach(), t)
            opt.step()
        torch.testing.assert_close(stacked[0][k], p.detach(), rtol=1e-6, atol=1e-7)


def test_members_stepped_in_chunks_keep_their_own_values(monkeypatch):
    """Chunks of members (for cache locality) slice per-member values and the schedule's lr with them."""
    import optimlab.optim.shells.batched as shell

    schedule = create("cosine", total_steps=4)
    lrs, start = [0.1, 0.2, 0.3, 0.4, 0.5], torch.randn(5, 4)
    results = []
    for chunk_floats in (4, 8, 1 << 19):  # one member a chunk, two, all five
        monkeypatch.setattr(shell, "CHUNK_FLOATS", chunk_floats)
        stacked = [start.clone()]
        opt = BatchedOptimizer(
            stacked,
            "adam",
            members=5,
            schedule=schedule,
            lr=lrs,
            betas=[(b, 0.999) for b in (0.8, 0.9, 0.9, 0.7, 0.9)],
        )
        assert len(opt._chunks) == {4: 5, 8: 3, 1 << 19: 1}[chunk_floats]
        for t in range(4):
            opt.step([torch.stack([gradient(stacked[0][k], t) for k in range(5)])])
        results.append(stacked[0])
    torch.testing.assert_close(results[0], results[2], rtol=0, atol=0)
    torch.testing.assert_close(results[1], results[2], rtol=0, atol=0)


KERNEL_CASES = {  # members that differ only in lr (and decoupled weight decay): torch's kernel steps them
    "adam": {},
    "amsgrad": {},
    "adamw": {"weight_decay": [0.0, 0.01, 0.1]},
    "sgd": {},
    "momentum": {"dampening": 0.1},
    "nesterov": {},
    "adagrad": {"lr_decay": 0.01, "initial_accumulator_value": 0.1},
}


@pytest.mark.parametrize("name", KERNEL_CASES)
@pytest.mark.parametrize("scheduled", [False, True], ids=["constant", "warmup_cosine"])
def test_the_kernel_fast_path_steps_each_member_as_the_drop_in_shell(name, scheduled):
    torch.manual_seed(1)
    start = [torch.randn(K, 4, 3, dtype=torch.float64), torch.randn(K, 3, dtype=torch.float64)]
    lrs = [0.05, 0.1, 0.2]
    schedule = create("cosine", total_steps=8, warmup_steps=2) if scheduled else None
    values = {"lr": lrs, **KERNEL_CASES[name]}
    stacked = [p.clone() for p in start]
    batched = BatchedOptimizer(stacked, name, members=K, schedule=schedule, **values)
    for t in range(8):
        batched.step([torch.stack([gradient(p[k], 10 * t + k) for k in range(K)]) for p in stacked])
        assert batched.last_path == "torch_fused"
    for k in range(K):
        params = [torch.nn.Parameter(p[k].clone()) for p in start]
        member = {n: v[k] if isinstance(v, list) else v for n, v in values.items()}
        opt = optimlab.optim.create(name, params, fused=False, **member)
        scheduler = as_lr_scheduler(opt, schedule) if scheduled else None
        for t in range(8):
            for p in params:
                p.grad = gradient(p.detach(), 10 * t + k)
            opt.step()
            if scheduler is not None:
                scheduler.step()
        for p_batched, p_single in zip(stacked, params):
            torch.testing.assert_close(p_batched[k], p_single.detach(), rtol=1e-12, atol=1e-13)


def test_members_that_differ_in_more_than_lr_take_the_chain():
    for name, values in {
        "adam": {"betas": [(0.8, 0.999), (0.9, 0.999), (0.9, 0.99)]},
        "adam ": {"weight_decay": 0.1},  # coupled decay would read the scratch, not the parameters
        "momentum": {"momentum": [0.8, 0.9, 0.95]},
        "lion": {},  # torch has no kernel
    }.items():
        batched = BatchedOptimizer([torch.zeros(K, 2)], name.strip(), members=K, lr=[0.1, 0.2, 0.3], **values)
        batched.step([torch.ones(K, 2)])
        assert batched.last_path == "eager", name


def test_bad_calls_are_refused_with_the_reason():
    params = [torch.zeros(K, 2)]
    with pytest.raises(OptimlabError, match="not elementwise.*matrix"):
        BatchedOptimizer(params, "muon", members=K)
    with pytest.raises(InvalidValueError, match="2 values.*3, one a member"):
        BatchedOptimizer(params, "adam", members=K, lr=[0.1, 0.2])
    with pytest.raises(InvalidValueError, match="lr"):
        BatchedOptimizer(params, "adam", members=K, lr=[0.1, -0.2, 0.3])
    with pytest.raises(UnknownNameError, match="did you mean 'lr'|Did you mean 'lr'"):
        BatchedOptimizer(params, "adam", members=K, lrr=0.1)
    with pytest.raises(InvalidValueError, match="leading dim 3"):
        BatchedOptimizer([torch.zeros(2, 2)], "adam", members=K)


@pytest.mark.parametrize(
    ("field", "values"),
    [("lr", [0.1, -0.2, 0.3]), ("eps", [1e-8, 0.0, 1e-8]), ("weight_decay", [0.0, float("nan"), 0.1])],
)
def test_a_per_member_tensor_is_validated_member_by_member_as_a_list_is(field, values):
    """A (K,) tensor skipped the range check a list of the same values gets: lr -0.2 ascended."""
    with pytest.raises(InvalidValueError, match=rf"invalid value {values[1]} .*'{field}'"):
        BatchedOptimizer(
            [torch.zeros(K, 2)], "adam", members=K, **{field: torch.tensor(values, dtype=torch.float64)}
        )


@pytest.mark.parametrize("decay", ["as_in_the_case", "none"])
@pytest.mark.parametrize("name", sorted(TORCH_CASES))
def test_each_member_matches_torch_for_100_steps_in_float64(name, decay, float64):
    """The acceptance of the shells, for this one: 3 members at half, once and twice the case's lr, the
    lr dropped mid-run as MultiStepLR drops it; each member against torch.optim with its own lr. Without
    coupled decay, members that differ only in lr take the fused kernel (adam, sgd, adagrad, ...)."""
    torch_class, shared, bound = TORCH_CASES[name]
    shared = {**shared, **({"weight_decay": 0.0} if decay == "none" else {})}
    lrs = [shared["lr"] * f for f in (0.5, 1.0, 2.0)]
    start = initial_parameters()
    stacked = [torch.stack([p] * K).requires_grad_() for p in start]
    batched = BatchedOptimizer(
        stacked, name, members=K, schedule=lambda t: 0.3 ** sum(t >= m for m in (30, 60)),
        **{**{k: v for k, v in shared.items() if k != "lr"}, "lr": lrs},
    )  # fmt: skip
    for _ in range(100):
        total = sum(problem_loss([p[k] for p in stacked]) for k in range(K))
        batched.step(torch.autograd.grad(total, stacked))
    if decay == "none" and name in KERNEL_CASES:
        assert batched.last_path == "torch_fused"
    for k, lr in enumerate(lrs):
        reference = train(lambda p, lr=lr: torch_class(p, **{**shared, "lr": lr}, **bound), scheduler=lr_drop)
        assert max_difference([p[k].detach() for p in stacked], reference) <= 1e-6


@pytest.mark.parametrize(
    ("name", "per_member"),
    [
        # b2 = 0.5 never rectifies (rho_inf = 3), 0.999 and 0.99 do from step 6: one chain, three switches
        ("radam", {"betas": [(0.9, 0.999), (0.9, 0.5), (0.8, 0.99)]}),
        ("adagrad", {"lr_decay": [0.0, 0.01, 0.1]}),
    ],
)
def test_members_with_their_own_radam_b2_or_adagrad_lr_decay_match_torch(name, per_member, float64):
    """Per-member values that steer a branch or a step size (RAdam's switch step, AdaGrad's lr decay)
    raised 'Boolean value of Tensor with more than one value is ambiguous'."""
    torch_class, shared, bound = TORCH_CASES[name]
    (field, values), steps = next(iter(per_member.items())), 30
    start = initial_parameters()
    stacked = [torch.stack([p] * K).requires_grad_() for p in start]
    batched = BatchedOptimizer(stacked, name, members=K, **{**shared, field: values})
    for _ in range(steps):
        total = sum(problem_loss([p[k] for p in stacked]) for k in range(K))
        batched.step(torch.autograd.grad(total, stacked))
    for k, value in enumerate(values):
        reference = train(lambda p, v=value: torch_class(p, **{**shared, field: v}, **bound), steps=steps)
        assert max_difference([p[k].detach() for p in stacked], reference) <= 1e-6


def half_precision_values(entry):
    """Each member's own lr, betas, momentum and weight decay, all decays nonzero (a member at 0 adds 0 * p
    where the drop-in adds nothing, NaN where float16's eps of 0 made p inf)."""
    values = member_values(entry)
    if "weight_decay" in values:
        values["weight_decay"] = [0.01, 0.02, 0.005]
    momentum = {h.name: h.default for h in entry.hyperparameters}.get("momentum")
    if isinstance(momentum, float) and momentum > 0:
        values["momentum"] = [momentum * f for f in (0.9, 1.0, 0.95)]
    return values


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("entry", BATCHABLE_ENTRIES)
def test_half_precision_members_step_as_the_drop_in_shell_bit_for_bit(entry, dtype):
    """float16/bfloat16 on CPU: the drop-in shell's last step is ``p += lr * u`` in float32, the lr rounded
    to the dtype, rounding once as torch.optim does; the batched shell's ``(K,)`` lr missed that path and
    rounded ``lr * u`` to the dtype first (22-33 of 64 entries apart after 10 SGD steps). Its ``(K,)``
    values were held in the dtype, where the drop-in's Python numbers are doubles that torch's ops take in
    float32: RAdam's lr product, schedule-free's coefficients, a member's betas or momentum were 1-150 of
    320 entries apart. NaN where the drop-in has NaN (float16 Adam's eps 1e-8 is 0 there) is equal."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(K, *shape, generator=generator).to(dtype) for shape in [(16, 16), (64,)]]
    gradients = [[torch.randn(p.shape, generator=generator).to(dtype) for p in start] for _ in range(8)]
    values = half_precision_values(entry)
    stacked = [p.clone() for p in start]
    batched = BatchedOptimizer(stacked, entry.name, members=K, **values)
    batched.train()
    for step_gradients in gradients:
        batched.step([g.clone() for g in step_gradients])
    batched.eval()
    for k in range(K):
        params = [torch.nn.Parameter(p[k].clone()) for p in start]
        single = optimlab.optim.create(entry.name, params, **{name: v[k] for name, v in values.items()})
        getattr(single, "train", lambda: None)()
        for step_gradients in gradients:
            for p, g in zip(params, step_gradients):
                p.grad = g[k].clone()
            single.step()
        getattr(single, "eval", lambda: None)()
        for mine, theirs in zip(stacked, params):
            torch.testing.assert_close(mine[k], theirs.detach(), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("sgd", dict(lr=[0.05, 0.1, 0.2], momentum=[0.8, 0.9, 0.85])),
        ("adadelta", dict(lr=[0.5, 0.3, 0.2])),
        ("rmsprop", dict(lr=[0.01, 0.02, 0.005], momentum=[0.5, 0.6, 0.7])),
        ("adadelta", dict(lr=[0.5, 0.3, 0.2], rho=[0.9, 0.8, 0.95], weight_decay=[0.01, 0.02, 0.1])),
        ("rmsprop", dict(lr=[0.01, 0.02, 0.005], alpha=[0.9, 0.99, 0.8])),
    ],
    ids=["momentum", "adadelta", "rmsprop_momentum", "adadelta_rho", "rmsprop_alpha"],
)
def test_members_with_their_own_lr_add_it_in_one_rounding_as_the_drop_in_does(name, values, dtype):
    """Where torch's step is ``p.add_(u, alpha=-lr)`` the drop-in adds so, one rounding; the batched
    shell's ``(K,)`` lr went through ``-lr * u`` then ``p +=``, two (313 of 960 float32 entries apart
    after 10 SGD steps, 6 for AdaDelta). A member's own rho or alpha went into ``addcmul`` as
    ``x + (y * z) * c``, where torch's computes ``x + (c * y) * z`` in one FMA, and was held in float32,
    where the drop-in's ``1 - rho`` is a double rounded once (3-7 of 240 float32 AdaDelta entries apart
    over 8 steps, 86-92 for RMSprop, 2-20 in float64). Truth: each member's drop-in on the chain,
    ``torch.equal``."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(K, *shape, generator=generator, dtype=dtype) for shape in [(8, 8), (16,)]]
    gradients = [[torch.randn(p.shape, generator=generator, dtype=dtype) for p in start] for _ in range(8)]
    stacked = [p.clone() for p in start]
    batched = BatchedOptimizer(stacked, name, members=K, **values)
    for step_gradients in gradients:
        batched.step([g.clone() for g in step_gradients])
    assert batched.last_path == "eager"
    for k in range(K):
        params = [torch.nn.Parameter(p[k].clone()) for p in start]
        single = optimlab.optim.create(name, params, fused=False, **{n: v[k] for n, v in values.items()})
        for step_gradients in gradients:
            for p, g in zip(params, step_gradients):
                p.grad = g[k].clone()
            single.step()
        for mine, theirs, first in zip(stacked, params, start):
            assert not torch.equal(mine[k], first[k]) and torch.equal(mine[k], theirs.detach())


def test_a_per_member_value_past_the_parameters_dtype_is_refused_as_the_user_gave_it():
    """lr=[1e5, 0.1] on float16 members was refused as 'invalid value [inf, 0.0999755859375] for lr': the
    (K,) tensor of the dtype had already made 1e5 inf. Truth: float16 holds 65504 at most."""
    assert torch.tensor(1e5, dtype=torch.float16).isinf()
    params = [torch.zeros(2, 3, dtype=torch.float16)]
    with pytest.raises(
        InvalidValueError,
        match=r"invalid value \[100000\.0, 0\.1\] for per-member hyperparameter 'lr': accepted at "
        r"most 65504\.0 in magnitude, the largest finite float16",
    ):
        BatchedOptimizer(params, "sgd", members=2, lr=[1e5, 0.1])
    BatchedOptimizer(params, "sgd", members=2, lr=[65504.0, 0.1])


@pytest.mark.parametrize("as_given", [list, torch.tensor], ids=["list", "tensor"])
def test_a_per_member_value_is_checked_against_the_narrowest_dtype_of_the_parameters(as_given):
    """lr=[1e5, 0.1] on a float32 parameter beside a float16 one was checked against float32's range
    (the first parameter's) and the float16 member stepped to -inf; given as a (K,) tensor it skipped the
    check. Truth: torch.optim.SGD refuses lr=1e5 on a float16 parameter
    (test_an_lr_past_the_parameters_dtype_is_refused_as_torch_refuses_it)."""
    params = [torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.float16)]
    with pytest.raises(
        InvalidValueError,
        match=r"invalid value \[100000\.0, 0\.1\d*\] for per-member hyperparameter 'lr': accepted "
        r"at most 65504\.0 in magnitude, the largest finite float16",
    ):
        BatchedOptimizer(params, "sgd", members=2, lr=as_given([1e5, 0.1]))
    batched = BatchedOptimizer(params, "sgd", members=2, lr=as_given([65504.0, 0.1]))
    batched.step([torch.ones_like(p) for p in params])  # the float16 gradient takes the float16 path
    assert params[1][:, 0].tolist() == [-65504.0, -0.0999755859375]  # 0.1 rounded to float16 times 1


@pytest.mark.parametrize(
    "name, values",
    [
        ("momentum", {"lr": [0.1, 0.3], "momentum": [0.9, 0.7]}),
        ("adam", {"lr": [0.01, 0.03], "betas": [(0.9, 0.999), (0.8, 0.99)], "weight_decay": [0.01, 0.02]}),
    ],
)
def test_a_float64_parameter_beside_a_float32_one_keeps_its_values_whole(name, values):
    """The per-member values of [float64, float32] parameters were held in float32 (the narrowest dtype,
    a8ade427): the float64 parameter was 32 of 32 entries off its own steps. Truth: the float64 parameter
    stacked alone, bit for bit, and the drop-in shell's float64 steps to 1e-12."""
    generator = torch.Generator().manual_seed(0)
    start = [
        torch.randn(2, 32, generator=generator, dtype=torch.float64),
        torch.randn(2, 32, generator=generator),
    ]
    gradients = [[torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in start] for _ in range(8)]
    mixed, alone = [p.clone() for p in start], [start[0].clone()]
    beside = BatchedOptimizer(mixed, name, members=2, **values)
    by_itself = BatchedOptimizer(alone, name, members=2, **values)
    for step_gradients in gradients:
        beside.step([g.clone() for g in step_gradients])
        by_itself.step([step_gradients[0].clone()])
    torch.testing.assert_close(mixed[0], alone[0], rtol=0, atol=0)
    for k in range(2):
        param = torch.nn.Parameter(start[0][k].clone())
        single = optimlab.optim.create(name, [param], **{field: v[k] for field, v in values.items()})
        for step_gradients in gradients:
            param.grad = step_gradients[0][k].clone()
            single.step()
        torch.testing.assert_close(mixed[0][k], param.detach(), rtol=1e-12, atol=0)
