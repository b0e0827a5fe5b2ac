"""The fused path against the composed chain it stands in for: same parameters, same state, same layout.

Every elementwise and layerwise optimizer of the registry runs 25 steps twice from the same start, once
through the fused path (torch's fused kernel, or the chain compiled) and once through the composed
eager chain, with an lr that changes every step; parameters must agree to 1e-6 in float32 (relative to
their size) and 1e-12 in float64, and the state dicts must hold the same keys, shapes and values. The
batched shell joins them in a three-shell test.
"""

from __future__ import annotations

import copy
import doctest

import pytest
import torch

from optimlab.optim import create
from optimlab.optim.kernels import compiled as compiled_module
from optimlab.optim.kernels.torch_fused import decoupled_decay, kernel_for
from optimlab.optim.shells import fused
from optimlab.optim.shells.batched import BatchedOptimizer
from optimlab.registry import Capability, get_registry

REGISTRY = get_registry("optimizer")
ELEMENTWISE = [e for e in REGISTRY if Capability.ELEMENTWISE in e.capabilities]
LAYERWISE = [e for e in REGISTRY if Capability.LAYERWISE in e.capabilities]  # compiled: norms, then update
STEPS = 25
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}
# Values off the defaults where they change what a kernel must get right (coupled decay, dampening's
# first step, AdaGrad's lr decay, eps placement, centering). Optimizers with a torch kernel
# run with their defaults too; compiled ones only with these, since each compile costs seconds.
VARIANTS = {
    "sgd": dict(weight_decay=0.1),
    "momentum": dict(dampening=0.1, weight_decay=0.1),
    "nesterov": dict(momentum=0.8, weight_decay=0.1),
    "adagrad": dict(lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-3, weight_decay=0.1),
    "adam": dict(eps=1e-3, weight_decay=0.1),
    "adamw": dict(eps=1e-3, weight_decay=0.1, amsgrad=True),
    "amsgrad": dict(eps=1e-3, weight_decay=0.1, decoupled_weight_decay=True),
    "rmsprop": dict(lr=1e-3, centered=True, momentum=0.5, eps=1e-3, weight_decay=0.1),
    "adan": dict(weight_decay=0.1),  # the proximal decay
    "lamb": dict(weight_decay=0.1),
    "lars": dict(weight_decay=0.1),
}


TORCH_KERNEL_CASES = [
    (e.name, hp)
    for e in ELEMENTWISE
    if kernel_for(e.obj)
    for hp in ({}, VARIANTS.get(e.name))
    if hp is not None
]
COMPILED_CASES = [
    (e.name, VARIANTS.get(e.name, {})) for e in ELEMENTWISE + LAYERWISE if not kernel_for(e.obj)
]


def parameters() -> list[torch.nn.Parameter]:
    """A tanh layer (weight, bias) twice in one group, in float32 and in float64: one compile serves
    both dtypes, and two tensors per dtype keep each compile short."""
    generator = torch.Generator().manual_seed(0)
    weight, bias = 0.5 * torch.randn(3, 8, generator=generator), 0.5 * torch.randn(3, generator=generator)
    return [torch.nn.Parameter(p.to(dtype)) for dtype in TOLERANCE for p in (weight, bias)]


def total_loss(params) -> torch.Tensor:
    """Squared error of ``tanh(x w^T + b)`` on fixed data plus a quartic penalty, per dtype, summed:
    gradients change direction and size along the run (as in ``optim.problem``)."""
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 8, generator=generator), torch.randn(32, 3, generator=generator)
    total = 0
    for weight, bias in (params[:2], params[2:]):
        out = torch.tanh(x.to(weight.dtype) @ weight.T + bias)
        total = (
            total + ((out - y.to(weight.dtype)) ** 2).mean() + 0.01 * ((weight**4).sum() + (bias**4).sum())
        )
    return total


def run(name, hyperparameters, *, fused_path, steps=STEPS):
    """``steps`` full-batch steps with lr multiplied by 0.95 each step (a torch scheduler)."""
    params = parameters()
    optimizer = create(name, params, fused=fused_path, **hyperparameters)
    optimizer.train()  # schedule-free: gradients at y; a no-op for the others
    take_steps(optimizer, params, steps)
    return params, optimizer


def take_steps(optimizer, params, steps):
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.95)
    for _ in range(steps):
        optimizer.zero_grad()
        total_loss(params).backward()
        optimizer.step()
        scheduler.step()


def assert_close(actual, expected, dtype):
    """Within the dtype's tolerance, relative to the tensor's size where it exceeds 1."""
    bound = TOLERANCE[dtype] * max(1.0, expected.abs().max().item())
    assert (actual - expected).abs().max().item() <= bound


def assert_same_run(fast, eager):
    (fast_params, fast_opt), (eager_params, eager_opt) = fast, eager
    for a, b in zip(fast_params, eager_params):
        assert_close(a.detach(), b.detach(), b.dtype)
    fast_state, eager_state = fast_opt.state_dict(), eager_opt.state_dict()
    assert fast_state["param_groups"] == eager_state["param_groups"]
    for index, eager_entries in eager_state["state"].items():
        fast_entries = fast_state["state"][index]
        assert fast_entries.keys() == eager_entries.keys()
        for key, value in eager_entries.items():
            if isinstance(value, torch.Tensor):
                assert fast_entries[key].dtype == value.dtype and fast_entries[key].shape == value.shape
                assert_close(fast_entries[key], value, eager_params[index].dtype)
            else:
                assert type(fast_entries[key]) is type(value)
                assert fast_entries[key] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(("name", "hyperparameters"), TORCH_KERNEL_CASES, ids=str)
def test_torch_kernels_equal_the_chain(name, hyperparameters):
    fast = run(name, hyperparameters, fused_path=None)
    assert fast[1].fused_path.last_path(0) == "torch_fused"
    assert_same_run(fast, run(name, hyperparameters, fused_path=False))


@pytest.mark.parametrize(("name", "hyperparameters"), COMPILED_CASES, ids=str)
def test_compiled_chains_equal_the_chain_and_compile_once(name, hyperparameters):
    """The chain compiled from the second step (``fused=True``) against the same chain run eagerly.

    The lr changes every step and is a graph input, not a constant: after step 10 (RAdam's switch to
    the rectified update is at step 6) nothing compiles again. Within TOLERANCE, not bit for bit: eager
    CPU ``sqrt`` (its vectorized kernel) is not correctly rounded on some entries where Inductor's is, and
    ``addcmul``, ``add(alpha=)`` and ``lerp`` round ``x + c * y`` once (an FMA) where Inductor multiplies
    and adds apart (``-ffp-contract=off``); torch.optim's own compiled step parts from its eager step as much
    (benchmarks/compiled_rounding.py, 25 steps over 2,080 entries a dtype: AdaDelta float32 873 entries
    apart, at most 2.0 eps, where torch.optim.Adadelta compiled is 928 apart, 2.0 eps; RMSprop 238
    against 262, 1.0 eps each; docs/benchmarks.md, forty-fifth session).
    """
    params, optimizer = run(name, hyperparameters, fused_path=True, steps=10)
    seconds = optimizer.fused_path.compile_seconds(0)
    take_steps(optimizer, params, STEPS - 10)
    assert optimizer.fused_path.last_path(0) == "compiled"
    assert seconds > 0 and optimizer.fused_path.compile_seconds(0) == seconds
    assert_same_run((params, optimizer), run(name, hyperparameters, fused_path=False))


@pytest.mark.parametrize("name", ["adamw", "lion"])
def test_three_shells_one_math(name):
    """Two members stepped at once by the batched shell, each also by the fused path and by the chain."""
    lrs, start = [0.01, 0.02], [p.detach() for p in parameters()[2:]]  # the float64 layer

    def gradient(p, step, member):  # depends on p, so a wrong step shows in the next ones
        noise = torch.randn(
            p.shape, generator=torch.Generator().manual_seed(10 * step + member), dtype=p.dtype
        )
        return 0.5 * p + noise + 0.1 * p**2

    stacked = [torch.stack([p, p]) for p in start]
    batched = BatchedOptimizer(stacked, name, members=2, lr=lrs)
    singles = {}
    for member, lr in enumerate(lrs):
        for path in (True, False):
            params = [torch.nn.Parameter(p.clone()) for p in start]
            singles[member, path] = params, create(name, params, lr=lr, fused=path)
    for step in range(12):
        batched.step([torch.stack([gradient(p[k], step, k) for k in range(2)]) for p in stacked])
        for (member, _), (params, optimizer) in singles.items():
            for p in params:
                p.grad = gradient(p.detach(), step, member)
            optimizer.step()
    assert singles[0, True][1].fused_path.last_path(0) in ("torch_fused", "compiled")
    for (member, _), (params, _) in singles.items():
        for p, b in zip(params, stacked):
            assert_close(p.detach(), b[member], torch.float64)


@pytest.mark.parametrize("name", ["adamw", "lion"])
def test_a_run_switches_paths_through_its_state_dict(name):
    """Ten fused steps, then ten eager ones from the saved state, equal twenty eager steps."""
    params, fast = run(name, {}, fused_path=True, steps=10)
    resumed = create(name, params, fused=False)
    resumed.load_state_dict(fast.state_dict())
    assert resumed.param_groups[0]["lr"] == fast.param_groups[0]["lr"]  # the lr after 10 decays
    take_steps(resumed, params, 10)  # a fresh scheduler: its first step is the 11th decay
    eager, _ = run(name, {}, fused_path=False, steps=20)
    for a, b in zip(params, eager):
        assert_close(a.detach(), b.detach(), b.dtype)


@pytest.mark.parametrize(
    ("why", "make"),
    [
        ("a schedule", lambda ps: create("adam", ps, lr=lambda step: 0.01 * 0.9**step)),
        ("bfloat16", lambda ps: create("adam", [p.detach().bfloat16().requires_grad_() for p in ps])),
        ("a transposed parameter", lambda ps: create("adam", [torch.nn.Parameter(ps[0].detach().T)])),
        ("fused=False", lambda ps: create("adam", ps, fused=False)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_what_no_kernel_takes_runs_the_chain(why, make):
    params = parameters()
    optimizer = make(params)
    tensors = [p for group in optimizer.param_groups for p in group["params"]]
    for p in tensors:
        p.grad = torch.ones_like(p)
    optimizer.step()
    path = optimizer.fused_path.last_path(0) if optimizer.fused_path is not None else "eager"
    assert path == "eager", why


def test_a_small_run_never_compiles(monkeypatch):
    """Under the size floor a group stays eager, however long it has run (the estimate says 1 ns)."""
    monkeypatch.setattr(fused, "_expected_compile_seconds", lambda tensors: 1e-9)
    _, optimizer = run("lion", {}, fused_path=None, steps=30)
    assert optimizer.fused_path.last_path(0) == "eager"
    assert optimizer.fused_path.compile_seconds(0) == 0


@pytest.mark.parametrize(("estimate", "path"), [(1e-9, "compiled"), (1e9, "eager")])
def test_compiling_starts_once_eager_steps_have_cost_the_compile_time(monkeypatch, estimate, path):
    """Ski rental, with no size floor: the first step is eager, later ones compile once the eager
    steps have cost the estimated compile time (a nanosecond: at once; 30 years: never)."""
    monkeypatch.setattr(fused, "_MIN_COMPILE_PARAMETERS", 0)
    monkeypatch.setattr(fused, "_expected_compile_seconds", lambda tensors: estimate)
    params, optimizer = run("adamax", {}, fused_path=None, steps=1)
    assert optimizer.fused_path.last_path(0) == "eager"
    take_steps(optimizer, params, 3)
    assert optimizer.fused_path.last_path(0) == path


def test_a_failing_compiler_falls_back_to_the_chain_silently(monkeypatch):
    def broken_compile(function, **options):
        def compiled(*args, **kwargs):
            raise RuntimeError("no C++ compiler")

        return compiled

    monkeypatch.setattr(compiled_module.torch, "compile", broken_compile)
    fast = run("lion", dict(weight_decay=0.1), fused_path=True)
    assert fast[1].fused_path.last_path(0) == "eager"
    assert_same_run(fast, run("lion", dict(weight_decay=0.1), fused_path=False))


@pytest.mark.parametrize("name", ["adamw", "momentum"])
def test_a_whole_step_compiled_by_the_user_equals_torch_eager(name):
    """Inside the user's ``torch.compile`` of a training step the shell steps the composed chain, which
    the user's graph traces (torch's in-place fused kernel on state made outside the graph cannot be
    traced: functionalization refused it). AOT autograd's eager backend traces exactly what inductor
    would, without its code generation."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    reference, start = copy.deepcopy(model), copy.deepcopy(model)
    hyperparameters = dict(lr=0.01, weight_decay=0.1) if name == "adamw" else dict(lr=0.01, momentum=0.9)
    optimizer = create(name, model.parameters(), **hyperparameters)
    torch_class = torch.optim.AdamW if name == "adamw" else torch.optim.SGD
    torch_optimizer = torch_class(reference.parameters(), **hyperparameters)
    x, y = torch.randn(16, 8), torch.randint(0, 2, (16,))

    def step(net: torch.nn.Module, opt: torch.optim.Optimizer) -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = torch.compile(step, backend="aot_eager")
    for _ in range(4):
        compiled(model, optimizer)
        step(reference, torch_optimizer)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-6)
    assert optimizer.fused_path.last_path(0) == "eager"
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), start.parameters(), strict=True))


def test_docstring_example_runs():
    result = doctest.testmod(fused, extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted > 0


DECAY_CASES = [
    (e.name, flag)
    for e in ELEMENTWISE
    if kernel_for(e.obj) and e.name != "sgd"  # plain SGD: coupled and decoupled decay are the same steps
    for flag in (
        [{"decoupled_weight_decay": False}, {"decoupled_weight_decay": True}]
        if "decoupled_weight_decay" in e.hyperparameter_names
        else [{}]
    )
]


@pytest.mark.parametrize(("name", "flag"), DECAY_CASES)
def test_decoupled_decay_is_what_the_chain_does(name, flag):
    """The decision both shells read, against the chain: at zero gradient a decoupled decay shrinks the
    weights by exactly (1 - lr wd) a step, while a coupled one goes through the preconditioner (Adam,
    AdaGrad: about lr a step) or the momentum buffer (SGD: the decay accumulates)."""
    entry = REGISTRY.get(name)
    values = {**entry.defaults, **flag, "lr": 0.1, "weight_decay": 0.5}
    if "momentum" in entry.hyperparameter_names:
        values.setdefault("momentum", 0.9)
    chain = entry.obj(**values)
    params = [torch.ones(3, dtype=torch.float64)]
    state = chain.init(params)
    for _ in range(2):
        updates, state = chain.update([torch.zeros(3, dtype=torch.float64)], state, params)
        params = [p + u for p, u in zip(params, updates)]
    decoupled = torch.allclose(params[0], torch.full((3,), (1 - 0.1 * 0.5) ** 2, dtype=torch.float64))
    every_value = {h.name: h.default for h in entry.hyperparameters} | values
    assert decoupled_decay(entry.obj, every_value) == decoupled


@pytest.mark.parametrize("name", ["adam", "adamw", "adagrad"])
def test_each_tensor_of_a_group_mixing_dtypes_steps_as_in_a_group_of_its_own(name):
    """A float32/float64 tensor beside a bfloat16 one took the composed chain (the kernel took a group
    whole or not at all), an ulp or so off its own steps; the kernel now takes it, the chain the bfloat16
    one, and the state's counters stay one. Truth: each tensor alone in its group, bit for bit."""
    generator = torch.Generator().manual_seed(0)
    start = [
        torch.randn(64, generator=generator).to(dtype)
        for dtype in (torch.float32, torch.bfloat16, torch.float64)
    ]
    gradients = [[torch.randn(64, generator=generator).to(p.dtype) for p in start] for _ in range(6)]

    def run(indices):
        params = [torch.nn.Parameter(start[i].clone()) for i in indices]
        optimizer = create(name, params, lr=0.01, weight_decay=0.1)
        for step_gradients in gradients:
            for p, i in zip(params, indices):
                p.grad = step_gradients[i].clone()
            optimizer.step()
        return [p.detach() for p in params], optimizer

    mixed, optimizer = run([0, 1, 2])
    assert optimizer.fused_path.last_path(0) == "torch_fused+eager"
    for i, tensor in enumerate(mixed):
        assert torch.equal(tensor, run([i])[0][0])
    assert {state["0.count"] for state in optimizer.state_dict()["state"].values()} == {len(gradients)}


def steps_alone_and_in_one_group(name, start, devices, gradients):
    """Each tensor of ``start`` (on its device of ``devices``) stepped in one group, and alone in a
    group of its own: both runs' tensors, and the one group's optimizer."""

    def run(indices):
        params = [torch.nn.Parameter(start[i].to(devices[i], copy=True)) for i in indices]
        optimizer = create(name, params, lr=0.01, weight_decay=0.1)
        for step_gradients in gradients:
            for p, i in zip(params, indices):
                p.grad = step_gradients[i].to(devices[i])
            optimizer.step()
        return [p.detach() for p in params], optimizer

    together, optimizer = run(range(len(start)))
    return together, [run([i])[0][0] for i in range(len(start))], optimizer


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_a_cpu_tensor_beside_a_meta_one_steps_as_in_a_group_of_its_own(name):
    """Each tensor passed the kernel's checks alone, so a group of a CPU and a meta tensor went to the
    kernel as one list, which torch dispatched to the meta kernel: the CPU tensor kept its values. torch
    has no fused kernel for meta (``_get_fused_kernels_supported_devices``): the chain steps it now, the
    kernel the CPU tensors, once per dtype. Truth: each CPU tensor alone in its group, bit for bit."""
    generator = torch.Generator().manual_seed(0)
    dtypes, devices = (torch.float32, torch.float32, torch.float64), ("cpu", "meta", "cpu")
    start = [torch.randn(16, generator=generator, dtype=dtype) for dtype in dtypes]
    gradients = [[torch.randn(16, generator=generator, dtype=p.dtype) for p in start] for _ in range(3)]
    together, alone, optimizer = steps_alone_and_in_one_group(name, start, devices, gradients)
    for tensor, reference, first, device in zip(together, alone, start, devices):
        assert tensor.device.type == device
        if device == "cpu":
            assert torch.equal(tensor, reference) and not torch.equal(tensor, first)
    assert optimizer.fused_path.last_path(0) == "torch_fused+eager"


@pytest.mark.parametrize("name", ["sgd", "adagrad"])
def test_a_device_a_kernel_has_no_implementation_for_takes_the_chain(monkeypatch, name):
    """Each fused kernel has its own devices: torch registers ``_fused_adagrad_`` for CPU and CUDA, not
    MPS, though MPS is among ``_get_fused_kernels_supported_devices``, so AdaGrad on MPS raised
    NotImplementedError. The same here with meta counted among the fused devices, where torch registers a
    meta ``_fused_adam_`` but no meta ``_fused_sgd_`` or ``_fused_adagrad_``: the meta tensor now takes
    the chain, the CPU one the kernel, bit for bit as alone in its group; a batched run takes the chain."""
    monkeypatch.setattr(fused, "_get_fused_kernels_supported_devices", lambda: ["cpu", "meta"])
    assert not torch._C._dispatch_has_kernel_for_dispatch_key(f"aten::_fused_{name}_", "Meta")
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(16, generator=generator) for _ in range(2)]
    gradients = [[torch.randn(16, generator=generator) for _ in start] for _ in range(3)]
    together, alone, optimizer = steps_alone_and_in_one_group(name, start, ("cpu", "meta"), gradients)
    assert torch.equal(together[0], alone[0]) and not torch.equal(together[0], start[0])
    assert together[1].device.type == "meta"
    assert optimizer.fused_path.last_path(0) == "torch_fused+eager"
    batched = BatchedOptimizer([torch.zeros(3, 4, device="meta")], name, members=3, lr=[0.1, 0.2, 0.3])
    batched.step([torch.ones(3, 4, device="meta")])
    assert batched.last_path == "eager"


@pytest.mark.parametrize("name", ["adam", "momentum"])
def test_a_batched_stack_of_float32_and_float64_takes_the_kernel_once_per_dtype(name):
    """A batched run over a float32 and a float64 stacked parameter took the chain (the kernel takes one
    dtype a call), 4 of 192 and 2 of 48 entries off the kernel's numbers over 10 Adam steps. Now the kernel
    runs once per dtype, as torch's fused step does: each tensor bit for bit as stacked alone."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 8, 8, generator=generator), torch.randn(3, 16, generator=generator).double()]
    gradients = [[torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in start] for _ in range(10)]

    def run(indices):
        params = [start[i].clone() for i in indices]
        optimizer = BatchedOptimizer(params, name, members=3, lr=[1e-3, 2e-3, 3e-3])
        for step_gradients in gradients:
            optimizer.step([step_gradients[i] for i in indices])
        assert optimizer.last_path == "torch_fused"
        return params

    together = run([0, 1])
    for i in range(2):
        assert torch.equal(together[i], run([i])[0])


def test_the_kernel_is_called_once_per_device_and_dtype_as_torch_groups_them(monkeypatch):
    """With meta counted among the fused devices, a group of CPU and meta tensors in two dtypes calls
    the kernel once per device and dtype, each call on the tensors of one device and dtype (as torch's
    fused Adam splits a step); before, one call took all five."""
    monkeypatch.setattr(fused, "_get_fused_kernels_supported_devices", lambda: ["cpu", "meta"])
    dtypes = (torch.float32, torch.float32, torch.float64, torch.float32, torch.float64)
    devices = ("cpu", "meta", "cpu", "cpu", "meta")
    params = [torch.nn.Parameter(torch.ones(4, dtype=t, device=d)) for t, d in zip(dtypes, devices)]
    optimizer = create("adam", params, lr=0.1)
    calls = []
    kernel = optimizer.fused_path._kernel

    def recorded(hyperparameters, tensors, grads, state):
        calls.append([next(i for i, p in enumerate(params) if p is t) for t in tensors])
        return kernel(hyperparameters, tensors, grads, state)

    monkeypatch.setattr(optimizer.fused_path, "_kernel", recorded)
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    # by hand: cpu float32 (0, 3), cpu float64 (2), meta float32 (1), meta float64 (4)
    assert sorted(calls) == [[0, 3], [1], [2], [4]]
    assert optimizer.fused_path.last_path(0) == "torch_fused"
    assert torch.equal(params[0], params[3]) and not torch.equal(params[0], torch.ones(4))
