"""The torch.optim drop-in: schedulers, schedules, closures, groups, copies and modes, against torch."""

from __future__ import annotations

import copy
import doctest
import json
import os

import pytest
import torch

from optim.problem import initial_parameters, loss, max_difference, train
from optimlab.errors import OptimlabError, UnknownNameError
from optimlab.optim import Optimizer, adam, create, validate
from optimlab.optim.shells import torch_optim
from optimlab.registry import Capability, get_registry

TOLERANCE = 1e-6


def one_cycle(optimizer):
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=100, cycle_momentum=True)


@pytest.mark.parametrize(
    ("name", "torch_class", "hp"),
    [
        ("adam", torch.optim.Adam, dict(eps=1e-3, weight_decay=0.1)),
        ("momentum", torch.optim.SGD, dict(momentum=0.9)),
    ],
)
def test_one_cycle_drives_lr_and_momentum_like_torch(name, torch_class, hp, float64):
    """OneCycleLR writes group["lr"] and group["betas"] / group["momentum"] every step."""
    ours = train(lambda p: create(name, p, **hp), scheduler=one_cycle)
    reference = train(lambda p: torch_class(p, **hp), scheduler=one_cycle)
    assert max_difference(ours, reference) <= TOLERANCE


SCHEDULERS = {
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=10, gamma=0.7),
    "cosine_restarts": lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=15),
    "cyclic": lambda o: torch.optim.lr_scheduler.CyclicLR(o, 0.001, 0.05, step_size_up=20),
    "polynomial": lambda o: torch.optim.lr_scheduler.PolynomialLR(o, total_iters=80, power=2.0),
    "warmup_then_exponential": lambda o: torch.optim.lr_scheduler.SequentialLR(
        o,
        [
            torch.optim.lr_scheduler.LinearLR(o, 0.1, total_iters=10),
            torch.optim.lr_scheduler.ExponentialLR(o, 0.98),
        ],
        milestones=[10],
    ),
}


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
def test_torch_schedulers_drive_the_chain_like_torch(scheduler, float64):
    hp = dict(lr=0.02, eps=1e-3, weight_decay=0.1)
    ours = train(lambda p: create("adamw", p, **hp), scheduler=SCHEDULERS[scheduler])
    reference = train(lambda p: torch.optim.AdamW(p, **hp), scheduler=SCHEDULERS[scheduler])
    assert max_difference(ours, reference) <= TOLERANCE


def test_callable_lr_is_a_schedule_of_the_step(float64):
    schedule = lambda step: 0.05 * 0.97**step  # noqa: E731
    ours = train(lambda p: create("adam", p, lr=schedule, eps=1e-3))
    reference = train(
        lambda p: torch.optim.Adam(p, lr=0.05, eps=1e-3),
        scheduler=lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda step: 0.97**step),
    )
    assert max_difference(ours, train(lambda p: create("adam", p, lr=0.05, eps=1e-3))) > 1e-3
    assert max_difference(ours, reference) <= TOLERANCE


def test_switching_momentum_on_mid_run_starts_the_buffer_like_torch(float64):
    def switch_at_20(optimizer):
        class Switch:
            count = 0

            def step(self):
                self.count += 1
                if self.count == 20:
                    optimizer.param_groups[0]["momentum"] = 0.9

        return Switch()

    ours = train(lambda p: create("sgd", p, lr=0.05, dampening=0.5), scheduler=switch_at_20)
    reference = train(lambda p: torch.optim.SGD(p, lr=0.05, dampening=0.5), scheduler=switch_at_20)
    assert max_difference(ours, reference) <= TOLERANCE


def test_closure_is_evaluated_and_its_loss_returned(float64):
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    optimizer = create("adam", params, lr=0.01)
    calls = []

    def closure():
        optimizer.zero_grad()
        value = loss(params)
        value.backward()
        calls.append(value.item())
        return value

    returned = [optimizer.step(closure).item() for _ in range(10)]
    assert returned == calls and len(calls) == 10
    assert max_difference(params, train(lambda p: create("adam", p, lr=0.01), steps=10)) == 0


def test_gradients_are_left_untouched(float64):
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    optimizer = create("adan", params, weight_decay=0.1, max_grad_norm=0.1)
    loss(params).backward()
    grads = [p.grad.clone() for p in params]
    optimizer.step()
    assert all(torch.equal(p.grad, g) for p, g in zip(params, grads))


def test_a_group_that_gets_gradients_late_starts_its_own_count_like_torch(float64):
    def run(make):
        params = [torch.nn.Parameter(p) for p in initial_parameters()]
        optimizer = make([{"params": params[:2]}, {"params": params[2:], "lr": 0.02}])
        for step in range(30):
            optimizer.zero_grad(set_to_none=True)
            loss(params).backward()
            if step < 10:  # the second layer is frozen for 10 steps: no gradient, no state
                for p in params[2:]:
                    p.grad = None
                assert all(not optimizer.state.get(p) for p in params[2:])
            optimizer.step()
        return params

    ours = run(lambda groups: create("adam", groups, lr=0.01, eps=1e-3))
    assert max_difference(ours, run(lambda groups: torch.optim.Adam(groups, lr=0.01, eps=1e-3))) <= TOLERANCE


def test_a_deep_copy_continues_identically(float64):
    params = [torch.nn.Parameter(p) for p in initial_parameters()]
    optimizer = create("nadam", params, lr=0.01)
    for _ in range(5):
        optimizer.zero_grad()
        loss(params).backward()
        optimizer.step()
    twin = copy.deepcopy(optimizer)  # copies the parameters too: the twin owns its own
    twin_params = twin.param_groups[0]["params"]
    assert all(a is not b and torch.equal(a, b) for a, b in zip(params, twin_params))
    for opt, ps in ((optimizer, params), (twin, twin_params)):
        for _ in range(5):
            opt.zero_grad()
            loss(ps).backward()
            opt.step()
    assert max_difference(params, twin_params) == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", [entry.name for entry in get_registry("optimizer")])
def test_torch_compile_of_step_matches_the_eager_step_and_stops_recompiling(name, float64):
    """torch.compile(optimizer.step), as torch's tutorial does it: the same parameters as the eager step,
    and no new graph after the first steps. NAdam's and schedule-free's float state compiled anew at
    every step, until torch's recompile limit left their step uncompiled. (aot_eager traces as
    Inductor does, floats included, without its C++ compile.) The closure goes into the step only where
    the optimizer needs one (SAM): traced there, the loss and its backward were most of each case's
    cost (adafactor 8.0 s -> 2.9 s of CPU, muon 11.9 s -> 4.3 s), and the tutorial's step takes none."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.reset()  # the limit counts per code object: one optimizer's graphs are not another's
    counters.clear()
    needs_closure = Capability.NEEDS_CLOSURE in get_registry("optimizer").get(name).capabilities
    runs = []
    for compiled in (False, True):
        params = [torch.nn.Parameter(p) for p in initial_parameters()]
        optimizer = create(name, params, lr=0.01)
        if hasattr(optimizer, "train"):
            optimizer.train()
        step = torch.compile(optimizer.step, backend="aot_eager") if compiled else optimizer.step

        def closure(optimizer=optimizer, params=params):
            optimizer.zero_grad()
            value = loss(params)
            value.backward()
            return value

        for index in range(16):
            if index == 8:
                graphs = counters["stats"]["unique_graphs"]
            closure()
            step(closure) if needs_closure else step()
        runs.append(params)
    assert 0 < graphs == counters["stats"]["unique_graphs"] < torch._dynamo.config.recompile_limit
    assert max_difference(*runs) <= TOLERANCE


def test_unknown_keywords_raise_with_close_matches():
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(UnknownNameError, match=r"'weight_decy'.*Did you mean 'weight_decay'"):
        Optimizer([w], adam, weight_decy=0.1)
    with pytest.raises(UnknownNameError, match=r"'bettas'.*Did you mean 'betas'"):
        create("adam", [{"params": [w], "bettas": (0.9, 0.99)}])
    optimizer = create("adam", [{"params": [w], "name": "embedding"}])  # a user's tag is no typo
    assert optimizer.param_groups[0]["name"] == "embedding"


@pytest.mark.parametrize("switch", ["foreach", "fused", "capturable", "differentiable"])
def test_a_group_with_a_torch_optim_switch_is_refused_not_ignored(switch):
    """A switch of torch.optim's in a group (its implementation's: foreach, fused...) is refused as an
    unknown keyword of create is, never taken and ignored; maximize is honoured (test_optimizers)."""
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(UnknownNameError, match=f"optimizer 'adam' hyperparameter '{switch}'"):
        create("adam", [{"params": [w], switch: True}])
    optimizer = create("adam", [w])
    with pytest.raises(UnknownNameError, match=f"'{switch}'"):
        optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], switch: False})
    assert len(optimizer.param_groups) == 1


def test_a_typo_of_the_shells_own_keywords_is_offered_them_not_taken_as_a_tag():
    """A group's 'maximise': True passed as a user's tag and the group descended; create(maximise=True)
    and create(fuse=True) were refused with a list that named neither maximize nor fused. Truth: torch's
    Adam honours a group's maximize (it ascends), so a key close to it is a typo, not a tag."""
    start = torch.zeros(2)

    def stepped(make, group):
        w = torch.nn.Parameter(start.clone())
        optimizer = make([{"params": [w], **group}])
        w.grad = torch.ones(2)
        optimizer.step()
        return w.detach()

    ascended = stepped(lambda groups: torch.optim.Adam(groups, lr=0.1), {"maximize": True})
    assert bool((ascended > 0.099).all())  # Adam's first step is about lr, here upward
    assert torch.equal(stepped(lambda groups: create("adam", groups, lr=0.1), {"maximize": True}), ascended)
    with pytest.raises(UnknownNameError, match=r"'maximise'\. Did you mean 'maximize'\?"):
        stepped(lambda groups: create("adam", groups, lr=0.1), {"maximise": True})
    w = torch.nn.Parameter(start.clone())
    for typo, meant in [("maximise", "maximize"), ("fuse", "fused")]:
        with pytest.raises(
            UnknownNameError, match=rf"'{typo}'\. Did you mean '{meant}'\?.*\bfused, lr, maximize"
        ):
            create("adam", [w], **{typo: True})
        # validate(), which recipes call, lists them as create() does, a factory by path too
        for name in ["adam", "lookahead", "optimlab.optim:adam"]:
            with pytest.raises(UnknownNameError, match=rf"'{typo}'\. Did you mean '{meant}'\?.*\bmaximize"):
                validate(name, {typo: True})


@pytest.mark.parametrize("tag", ["max_size", "maximum", "optimize", "minimize", "maximize_lr"])
def test_a_users_tag_near_maximize_in_a_group_is_kept_as_torch_keeps_it(tag):
    """f5a4e5f5 refused any group key within difflib's 0.6 of maximize (max_size, minimize: 'Did you mean
    'maximize'?'). Truth: torch.optim.Adam keeps such a key in its group and steps as without it."""
    steps = []
    for make in (
        lambda groups: torch.optim.Adam(groups, lr=0.1),
        lambda groups: create("adam", groups, lr=0.1),
    ):
        w = torch.nn.Parameter(torch.zeros(2))
        optimizer = make([{"params": [w], tag: 1}])
        w.grad = torch.ones(2)
        optimizer.step()
        assert optimizer.param_groups[0][tag] == 1
        steps.append(w.detach())
    torch.testing.assert_close(steps[1], steps[0], rtol=0, atol=0)


@pytest.mark.parametrize("typo", ["maximise", "maximze", "Maximize"])
def test_a_near_spelling_of_maximize_in_a_group_is_refused_as_its_typo(typo):
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(UnknownNameError, match=rf"'{typo}'\. Did you mean 'maximize'\?"):
        create("adam", [{"params": [w], typo: True}])


def test_group_values_are_validated_against_the_registry():
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(OptimlabError, match="eps"):
        create("adam", [{"params": [w], "eps": -1.0}])


def test_docstring_example_runs():
    result = doctest.testmod(torch_optim, extraglobs={"torch": torch})
    assert result.failed == 0 and result.attempted > 0


class TestScheduleFreeModes:
    def make(self):
        w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
        return w, create("schedule_free_sgd", [w], lr=0.1)

    def step(self, w, optimizer):
        optimizer.zero_grad()
        (w**2).sum().backward()
        optimizer.step()

    def trained(self):
        """:meth:`make`'s parameter and optimizer after three steps in train mode."""
        w, optimizer = self.make()
        optimizer.train()
        for _ in range(3):
            self.step(w, optimizer)
        return w, optimizer

    def test_step_in_eval_mode_raises_and_says_what_to_do(self):
        w, optimizer = self.make()
        with pytest.raises(OptimlabError, match=r"call optimizer.train\(\)"):
            self.step(w, optimizer)

    def test_modes_move_between_y_and_x_and_are_idempotent(self):
        w, optimizer = self.trained()
        y = w.detach().clone()
        optimizer.eval()
        x = w.detach().clone()
        optimizer.eval()
        assert torch.equal(w, x) and not torch.allclose(x, y)
        z = optimizer.state_dict()["state"][0]["1.z"]
        torch.testing.assert_close(y, 0.1 * z + 0.9 * x)  # y = (1 - beta) z + beta x
        optimizer.train()
        optimizer.train()
        torch.testing.assert_close(w.detach(), y)

    def test_eval_keeps_y_until_train_puts_it_back_bit_for_bit(self):
        """The memory the exact round trip costs: a copy of y in the state while in eval mode only."""
        w, optimizer = self.trained()
        y = w.detach().clone()
        optimizer.eval()
        assert torch.equal(optimizer.state_dict()["state"][0]["1.y"], y)
        optimizer.train()
        assert torch.equal(w, y) and "1.y" not in optimizer.state_dict()["state"][0]

    def test_a_train_mode_state_dict_holds_what_the_release_before_y_saved_and_loads_both_ways(self):
        """A train-mode state dict held '1.y': None (13df1c66), which the release before it refused
        ('saved by another optimizer (it holds 1.y)'). Truth: that release's keys ('1.z' alone: the
        counters are the group's), and the run loaded from each mode's dict goes on as the run straight."""
        w, optimizer = self.trained()
        saved_in_train = copy.deepcopy(optimizer.state_dict())
        y = w.detach().clone()
        optimizer.eval()
        saved_in_eval, x = copy.deepcopy(optimizer.state_dict()), w.detach().clone()
        assert set(saved_in_train["state"][0]) == {"1.z"}  # the counters are the group's
        assert set(saved_in_eval["state"][0]) == {"1.z", "1.y"}
        optimizer.train()
        self.step(w, optimizer)
        for saved, mode, held in ((saved_in_train, "train", y), (saved_in_eval, "eval", x)):
            resumed = torch.nn.Parameter(held.clone())
            again = create("schedule_free_sgd", [resumed], lr=0.1)
            getattr(again, mode)()
            again.load_state_dict(saved)
            again.train()
            self.step(resumed, again)
            assert torch.equal(resumed, w), mode

    def test_weights_written_in_eval_mode_are_where_training_goes_on(self):
        """train() puts back the y that eval() kept only while the parameters hold the x eval() left:
        weights loaded into the model in eval mode give y = (1 - beta) z + beta x (Defazio et al. 2024),
        as the authors' code makes y from every x, not the y kept from before the load."""
        w, optimizer = self.trained()
        y = w.detach().clone()
        optimizer.eval()
        loaded = torch.tensor([0.5, 2.0])
        with torch.no_grad():
            w.copy_(loaded)
        z = optimizer.state_dict()["state"][0]["1.z"]
        optimizer.train()
        torch.testing.assert_close(w.detach(), 0.1 * z + 0.9 * loaded)
        assert not torch.allclose(w, y)


def test_a_state_dict_of_another_optimizer_is_refused_not_silently_ignored():
    model = torch.nn.Linear(3, 2)
    model(torch.randn(4, 3)).sum().backward()
    theirs = torch.optim.Adam(model.parameters())
    theirs.step()
    ours = create("adam", model.parameters())
    with pytest.raises(
        OptimlabError, match="cannot load this state_dict: it holds exp_avg, exp_avg_sq, step"
    ):
        ours.load_state_dict(theirs.state_dict())
    ours.step()
    create("adam", model.parameters()).load_state_dict(ours.state_dict())  # its own: loads


# In a fresh interpreter, since Dynamo stays imported once any test compiles: three steps of the drop-in,
# a state dict round trip (a wrapper's too), and which compiler modules got imported (torch.optim.Adam,
# the reference, would import Dynamo itself, so it runs in the test's process).
_WITHOUT_COMPILING = """
import json, sys
import torch
from optimlab.optim import create
w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
optimizer = create("adam", [w], lr=0.1)
for _ in range(3):
    optimizer.zero_grad()
    (w**3).sum().backward()
    optimizer.step()
copy = create("adam", [torch.nn.Parameter(w.detach().clone())], lr=0.1)
copy.load_state_dict(optimizer.state_dict())
wrapped = create("lookahead", [torch.nn.Parameter(w.detach().clone())], base="adam")
wrapped.load_state_dict(wrapped.state_dict())
print(json.dumps({
    "parameters": w.tolist(),
    "same state": str(copy.state_dict()["state"]) == str(optimizer.state_dict()["state"]),
    "imported": sorted({"torch._dynamo", "torch._inductor"} & set(sys.modules)),
}))
"""


def test_the_drop_in_imports_no_compiler_while_nothing_compiles(tmp_path, forked_parents):
    """torch's optimizer methods import Dynamo on first call (about 3 s); the drop-in skips that import
    while nothing compiles, and still steps like torch and round-trips its state. Checked in a process
    forked by forked_parents() (tests/conftest.py), whose parent imported neither Dynamo nor Inductor."""
    code, out, err = forked_parents().run(
        [], tmp_path, dict(os.environ), tmp_path, 600, source=_WITHOUT_COMPILING
    )
    assert code == 0, err
    outcome = json.loads(out)
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    reference = torch.optim.Adam([w], lr=0.1)
    for _ in range(3):
        reference.zero_grad()
        (w**3).sum().backward()
        reference.step()
    assert max(abs(a - b) for a, b in zip(outcome["parameters"], w.tolist())) <= TOLERANCE
    assert outcome["same state"] and outcome["imported"] == []


@pytest.mark.parametrize("name", ["adam", "momentum", "lion"])
def test_a_parameter_given_twice_in_a_group_is_refused_in_one_line(name):
    """torch.optim warns (pytorch/pytorch#40967: to become an error) and steps such a parameter twice a
    step, its state twice too; ours stepped it once more with both moments updates but one count (Adam
    0.12 off torch after 60 steps). Refused, naming the parameter, in create and add_param_group."""
    w, b = torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(2))
    message = (
        rf"optimizer '{name}' got a parameter twice in one param group: positions 0 and 2 \(shape \(3, 2\)\)"
    )
    with pytest.raises(OptimlabError, match=message) as refused:
        create(name, [w, b, w])
    assert "\n" not in str(refused.value)
    optimizer = create(name, [b])
    with pytest.raises(OptimlabError, match=message):
        optimizer.add_param_group({"params": (p for p in [w, b, w])})
    assert len(optimizer.param_groups) == 1
    create(name, [{"params": [w]}, {"params": [b]}])  # each once: fine


def test_a_named_parameter_given_twice_is_refused_and_a_group_that_is_no_dict_gets_torchs_message():
    """``model.named_parameters()`` style pairs: a name's tensor given twice is refused as a bare tensor
    is. ``add_param_group([w])`` raised 'list indices must be integers' (and before that, 'list' object
    has no attribute 'update'); torch says what is wrong: 'param_group must be a dict'."""
    w, b = torch.nn.Parameter(torch.zeros(3, 2)), torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(OptimlabError, match=r"got a parameter twice in one param group: positions 0 and 2"):
        create("adam", [("w", w), ("b", b), ("w_again", w)])
    optimizer = create("adam", [("b", b)])
    assert optimizer.param_groups[0]["param_names"] == ["b"]
    with pytest.raises(TypeError, match="param_group must be a dict"):
        optimizer.add_param_group([w])


@pytest.mark.parametrize("bad", ["False", "yes", 1, 0.0])
def test_a_fused_that_is_no_bool_or_none_is_refused_in_one_line(bad):
    """fused="False" (a config's string) was taken as true: the chain compiled at the second step, where
    False asks for the composed chain always. Refused as maximize is, naming the value and the choices."""
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(OptimlabError, match=f"invalid value {bad!r} for fused: accepted None, True or False"):
        create("adam", [w], fused=bad)
    assert create("adam", [w], fused=False).fused_path is None


@pytest.mark.parametrize("name", ["adam", "momentum", "adafactor", "muon"])
def test_a_state_dict_loaded_into_groups_in_another_order_is_refused_not_stepped(name):
    """Groups of the same sizes given in another order pass torch's size check, and each parameter got
    the state of another shape: the foreach step read past the tensors' ends (a segfault, or a silent
    update; torch.optim.Adam raises a size mismatch at its step). Refused as it loads, the state kept."""
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    first, second = list(model.parameters())[:2], list(model.parameters())[2:]
    saved = create(name, [{"params": first}, {"params": second}])
    model(torch.randn(4, 5)).sum().backward()
    saved.step()
    swapped = create(name, [{"params": second}, {"params": first}])
    with pytest.raises(
        OptimlabError,
        match=r"parameter 0 of param group 0 has shape \(3, 8\), and its saved .* has shape \(8, ",
    ):
        swapped.load_state_dict(saved.state_dict())
    assert not swapped.state
    create(name, [{"params": first}, {"params": second}]).load_state_dict(saved.state_dict())  # in order


def test_adafactors_state_loaded_onto_a_parameter_of_other_rank_is_refused_not_stepped():
    """Adafactor keeps factored row and column statistics for a matrix and a full EMA for a vector, the
    other fields None. A weight and a bias given in another order passed the shape check, which read
    only the fields kept for the parameter here; the next step raised a bare IndexError ('Dimension
    out of range', torch.optim.Adafactor's too). A field kept here and saved as None is refused too."""
    model = torch.nn.Linear(5, 4)
    weight, bias = model.weight, model.bias
    saved = create("adafactor", [weight, bias])
    model(torch.randn(3, 5)).sum().backward()
    saved.step()
    swapped = create("adafactor", [bias, weight])
    with pytest.raises(
        OptimlabError,
        match=r"parameter 0 of param group 0 has shape \(4,\), and its saved 0.nu has shape none "
        r"\(expected \(4,\)\)",
    ):
        swapped.load_state_dict(saved.state_dict())
    assert not swapped.state
    create("adafactor", [weight, bias]).load_state_dict(saved.state_dict())  # in order


@pytest.mark.parametrize("name", ["adam", "sgd", "lamb"])
def test_named_groups_loaded_in_another_order_are_refused_where_their_shapes_agree(name):
    """Two layers of one shape in swapped groups pass the shape check: each parameter took the other
    layer's moments and lr, and its group the other's names, silently (torch.optim.Adam loads it too).
    The names saved with the state (model.named_parameters()) tell it; a renamed model still loads, by
    position as torch's, also where its new names are old ones (a Flatten put first: '1.weight' was the
    second layer's), which was refused: it continues as the run that was not reloaded, bit for bit."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    named = list(model.named_parameters())
    saved = create(name, [{"params": named[:2], "lr": 0.1}, {"params": named[2:], "lr": 0.01}])
    model(torch.randn(3, 4)).sum().backward()
    saved.step()
    swapped = create(name, [{"params": named[2:], "lr": 0.01}, {"params": named[:2], "lr": 0.1}])
    with pytest.raises(
        OptimlabError,
        match=r"its parameter '0.weight' was saved at position 0 of param group 0, and is at position 0 "
        r"of param group 1 here",
    ):
        swapped.load_state_dict(saved.state_dict())
    assert not swapped.state and swapped.param_groups[0]["lr"] == 0.01
    renamed = [(f"_orig_mod.{n}", p) for n, p in named]
    create(name, [{"params": renamed[:2]}, {"params": renamed[2:]}]).load_state_dict(saved.state_dict())
    create(name, [{"params": named[:2]}, {"params": named[2:]}]).load_state_dict(saved.state_dict())
    moved = torch.nn.Sequential(torch.nn.Flatten(), *copy.deepcopy(model))  # names 1.*, 2.*
    shifted = list(moved.named_parameters())
    loaded = create(name, [{"params": shifted[:2], "lr": 0.1}, {"params": shifted[2:], "lr": 0.01}])
    loaded.load_state_dict(copy.deepcopy(saved.state_dict()))  # as from a file: torch shares tensors
    x = torch.randn(3, 4)
    for net, optimizer in ((model, saved), (moved, loaded)):
        optimizer.zero_grad()
        net(x).sum().backward()
        optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), moved.parameters()))


def test_a_state_dict_of_another_optimizer_with_its_hyperparameters_is_refused():
    """sgd's groups loaded into adam passed the state check (sgd keeps counts only) and the first step
    raised KeyError 'betas'; the groups tell it as they load, by the hyperparameters adam does not take.
    So do torch.optim.Adam's groups before its first step (no state yet): their switches."""
    model = torch.nn.Linear(3, 2)
    model(torch.randn(4, 3)).sum().backward()
    sgd = create("sgd", model.parameters())
    sgd.step()
    adam = create("adam", model.parameters())
    with pytest.raises(
        OptimlabError,
        match="its param group 0 holds momentum, dampening, nesterov, which optimizer 'adam' does not take",
    ):
        adam.load_state_dict(sgd.state_dict())
    with pytest.raises(OptimlabError, match="its param group 0 holds .*foreach.*which optimizer 'adam'"):
        adam.load_state_dict(torch.optim.Adam(model.parameters()).state_dict())
    adam.step()  # still the optimizer it was
    assert "momentum" not in adam.param_groups[0]
    # a user's tag that happens to be another optimizer's hyperparameter, in both optimizers' groups: loads
    tagged = create("adam", [{"params": model.parameters(), "momentum": "mine"}])
    tagged.step()
    create("adam", [{"params": model.parameters(), "momentum": "mine"}]).load_state_dict(tagged.state_dict())


def test_another_optimizers_hyperparameters_in_a_later_group_are_refused():
    """The check of a group's keys read a set the state check of the group before had overwritten:
    sgd's momentum, dampening and nesterov in group 1 loaded into adam without a word where group 0
    held none of them (a state_dict edited, or merged from two optimizers)."""
    first, second = torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)
    second(first(torch.randn(4, 3))).sum().backward()
    sgd = create("sgd", [{"params": first.parameters()}, {"params": second.parameters()}])
    sgd.step()
    saved = sgd.state_dict()
    adam = create("adam", [{"params": first.parameters()}, {"params": second.parameters()}])
    adam.step()
    saved["param_groups"][0] = {
        **adam.state_dict()["param_groups"][0],
        "params": saved["param_groups"][0]["params"],
    }
    with pytest.raises(OptimlabError, match="its param group 1 holds momentum, dampening, nesterov"):
        adam.load_state_dict(saved)


@pytest.mark.parametrize("saved_groups", [2, 0])
def test_a_state_dict_of_another_number_of_groups_is_refused_as_torch_refuses_it(saved_groups):
    """Two saved groups loaded into an optimizer of one: the groups were zipped with the optimizer's,
    so the second was dropped without a word (its lr lost, its parameter's state left under a stray
    key), where torch.optim.Adam refuses it ('a different number of parameter groups'). Refused in one
    line, nothing loaded; a saved state of no groups too."""
    w, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    saved = create("adam", [{"params": [w]}, {"params": [b], "lr": 0.5}])
    (w.sum() + b.sum()).backward()
    saved.step()
    state = saved.state_dict()
    state["param_groups"] = state["param_groups"][:saved_groups]
    with pytest.raises(ValueError, match="different number of parameter groups"):
        torch.optim.Adam([w]).load_state_dict(state)
    optimizer = create("adam", [w])
    with pytest.raises(
        OptimlabError, match=f"it holds {saved_groups} param groups, and the optimizer has 1"
    ) as refused:
        optimizer.load_state_dict(state)
    assert "\n" not in str(refused.value) and not optimizer.state


@pytest.mark.parametrize("resumed_with", [{}, {"amsgrad": True, "maximize": True}])
def test_a_saved_group_without_a_hyperparameter_takes_the_default_as_torch_does(resumed_with, float64):
    """A state saved before a hyperparameter existed (torch.optim.AdamW's groups before amsgrad and
    maximize; optimlab's before amsgrad was a flag) was refused ('its param group 0 has no amsgrad'):
    torch's load_state_dict takes such a group and fills the flags it lacks with the optimizer's own
    defaults (Adam.__setstate__: False), whatever the resuming optimizer was built with. The resumed
    run equals torch.optim.AdamW's to 1e-12."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 5), torch.randn(16, 3)

    def run(make):
        torch.manual_seed(1)
        model = torch.nn.Linear(5, 3)
        optimizer = make(model.parameters())
        for step in range(12):
            if step == 6:
                saved = copy.deepcopy(optimizer.state_dict())
                for group in saved["param_groups"]:
                    del group["amsgrad"], group["maximize"]
                optimizer = make(model.parameters(), **resumed_with)
                optimizer.load_state_dict(saved)
            optimizer.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    hp = dict(lr=0.05, weight_decay=0.1, eps=1e-3)
    ours = run(lambda p, **kw: create("adamw", p, **hp, **kw))
    reference = run(lambda p, **kw: torch.optim.AdamW(p, **hp, **kw))
    assert (ours - reference).abs().max() <= 1e-12


_DECOUPLED = (
    {"weight_decay": 0.1},
    {10: {"decoupled_weight_decay": True}, 25: {"decoupled_weight_decay": False}},
)


def _trained_with_switches(make, switches, steps, *, reloaded=False):
    """The parameters of a two-group model after ``steps`` steps, each of ``switches`` (step: flags) set
    in the first group at its step; ``reloaded``: the optimizer built again from its state_dict first."""
    torch.manual_seed(0)
    x, y = torch.randn(32, 5), torch.randn(32, 3)
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))

    def groups():
        first, second = list(model.parameters())[:2], list(model.parameters())[2:]
        return [{"params": first, "lr": 0.05}, {"params": second, "lr": 0.02}]

    optimizer = make(groups())
    for step in range(steps):
        if step in switches:
            if reloaded:
                saved = copy.deepcopy(optimizer.state_dict())
                optimizer = make(groups())
                optimizer.load_state_dict(saved)
            optimizer.param_groups[0].update(switches[step])
        optimizer.zero_grad()
        ((model(x) - y) ** 2).mean().backward()
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize(
    ("name", "torch_class", "hp", "switches"),
    [
        ("adam", torch.optim.Adam, *_DECOUPLED),
        ("nadam", torch.optim.NAdam, *_DECOUPLED),
        ("radam", torch.optim.RAdam, *_DECOUPLED),
        ("rmsprop", torch.optim.RMSprop, {"momentum": 0.5}, {10: {"momentum": 0.0}}),
        ("rmsprop", torch.optim.RMSprop, {"momentum": 0.5, "centered": True}, {10: {"momentum": 0.0}}),
    ],
)
def test_a_flag_switched_mid_run_keeps_the_state_it_moves_as_torch_does(
    name, torch_class, hp, switches, float64
):
    """A flag that moves a transform in the chain (decoupled_weight_decay puts Adam's moments before the
    decay, ``0.mu``, or after it, ``1.mu``; RMSprop's average sits beside the momentum, ``1.0.nu``, or
    alone, ``1.nu``) started its state and step count afresh when a group switched it mid-run: Adam 0.28
    and RMSprop 1.6 off torch's optimizers, which read the flag at each step and keep their state, after
    40 steps."""
    ours = _trained_with_switches(lambda groups: create(name, groups, **hp), switches, 40)
    reference = _trained_with_switches(lambda groups: torch_class(groups, **hp), switches, 40)
    assert (ours - reference).abs().max() <= 1e-12


@pytest.mark.parametrize(
    ("name", "torch_class", "hp", "switches"),
    [
        ("adam", torch.optim.Adam, *_DECOUPLED),
        ("nadam", torch.optim.NAdam, *_DECOUPLED),
        ("radam", torch.optim.RAdam, *_DECOUPLED),
        ("rmsprop", torch.optim.RMSprop, {"momentum": 0.5}, {10: {"momentum": 0.0}}),
    ],
)
def test_a_flag_switched_right_after_a_load_keeps_the_state_it_moves_as_torch_does(
    name, torch_class, hp, switches, float64
):
    """The same switches right after load_state_dict, before any step: the loaded chain was unknown,
    so the state the flag moves (Adam's moments at 1.mu, RMSprop's average at 1.0.nu) started afresh,
    where a switch after a step kept it: Adam 0.8 and RMSprop 0.2 off torch's optimizers, which keep
    their state either way, after 25 steps."""
    ours = _trained_with_switches(lambda groups: create(name, groups, **hp), switches, 25, reloaded=True)
    reference = _trained_with_switches(lambda groups: torch_class(groups, **hp), switches, 25, reloaded=True)
    assert (ours - reference).abs().max() <= 1e-12


@pytest.mark.parametrize(
    ("name", "ours", "theirs"),
    [("adan", "no_prox", "weight_decouple"), ("lamb", "decoupled_weight_decay", "weight_decouple")],
)
@pytest.mark.parametrize("load", [False, True])
def test_a_flag_switched_at_a_step_without_gradients_keeps_the_group_counters(
    name, ours, theirs, load, float64
):
    """A chain counting steps per group (Adan, Lamb) moves only its counters at a step where no
    parameter has a gradient; with a flag that moves a transform switched at that step (Adan's
    no_prox), the counters were read from the new places, not found, and restarted: 0.067 off
    pytorch_optimizer.Adan doing the same after 25 steps. The flag's moves are carried first, as at a
    step with gradients. Also right after a load."""
    import pytorch_optimizer

    def run(make, flag):
        generator = torch.Generator().manual_seed(0)
        w = torch.nn.Parameter(torch.randn(6, 4, generator=generator))
        b = torch.nn.Parameter(torch.randn(6, generator=generator))
        x = torch.randn(8, 4, generator=generator)
        optimizer = make([w, b])
        for step in range(25):
            optimizer.zero_grad()
            ((torch.tanh(x @ w.T + b)).square().mean() + 0.01 * (w**4).sum()).backward()
            if step == 10:
                if load:
                    saved = copy.deepcopy(optimizer.state_dict())
                    optimizer = make([w, b])
                    optimizer.load_state_dict(saved)
                optimizer.param_groups[0][flag] = not optimizer.param_groups[0][flag]
                w.grad = b.grad = None  # the switch comes at a step without gradients
            optimizer.step()
        return torch.cat([w.detach().flatten(), b.detach().flatten()])

    hp = dict(lr=0.01, weight_decay=0.05)
    reference_class = {"adan": pytorch_optimizer.Adan, "lamb": pytorch_optimizer.Lamb}[name]
    reference = run(lambda p: reference_class(p, **hp, **{theirs: False}), theirs)
    assert (run(lambda p: create(name, p, **hp, **{ours: False}), ours) - reference).abs().max() <= 1e-12


def test_the_sparse_check_runs_once_when_a_rebind_changes_decay_and_parameters(monkeypatch):
    """A group whose weight_decay changed and whose parameters with gradients changed at one step ran
    the sparse check twice, once for each reason."""
    calls = []
    check = torch_optim.Optimizer._check_sparse
    monkeypatch.setattr(
        torch_optim.Optimizer, "_check_sparse", lambda self, *a: calls.append(a) or check(self, *a)
    )
    w, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    optimizer = create("sgd", [w, b], lr=0.1, weight_decay=0.1)
    w.grad = torch.ones(3)
    optimizer.step()
    assert len(calls) == 1
    b.grad = torch.ones(2)
    optimizer.param_groups[0]["weight_decay"] = 0.0
    optimizer.step()
    assert len(calls) == 2


def test_state_dict_builds_each_group_chain_once():
    """state_dict built a chain from the defaults beside each group's: one per group."""
    built = []

    def counted(lr: float = 1e-3) -> object:
        built.append(lr)
        return adam(lr=lr)

    w, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))
    optimizer = Optimizer([{"params": [w]}, {"params": [b], "lr": 0.5}], counted, lr=0.1)
    (w.sum() + b.sum()).backward()
    optimizer.step()
    built.clear()
    optimizer.state_dict()
    assert sorted(built) == [0.1, 0.5]


@pytest.mark.parametrize(
    ("name", "on", "off"),
    [
        ("sgd", {"momentum": 0.9}, {"momentum": 0.0}),
        ("adam", {"amsgrad": True}, {"amsgrad": False}),
        ("rmsprop", {"centered": True, "momentum": 0.5}, {"centered": False, "momentum": 0.0}),
    ],
)
def test_a_state_dict_saved_after_a_flag_is_switched_off_loads(name, on, off, float64):
    """A group that switched momentum (amsgrad, centering) off mid-run still held the buffer, as
    torch's SGD keeps its momentum_buffer, and its state_dict was refused by the same optimizer as
    another optimizer's ('it holds 1.count, 1.trace, which optimizer 'sgd' does not keep'). The state
    saved is what the group's chain keeps: it loads, and the run resumes identically."""
    torch.manual_seed(0)
    x = torch.randn(6, 4, 5)

    def model():
        torch.manual_seed(1)
        return torch.nn.Linear(5, 3)

    def step(module, optimizer, batch):
        optimizer.zero_grad()
        (module(batch) ** 2).mean().backward()
        optimizer.step()

    straight = model()
    optimizer = create(name, straight.parameters(), lr=0.01, **on)
    for t in range(6):
        if t == 3:
            optimizer.param_groups[0].update(off)
        step(straight, optimizer, x[t])
    resumed = model()
    first = create(name, resumed.parameters(), lr=0.01, **on)
    for t in range(4):
        if t == 3:
            first.param_groups[0].update(off)
        step(resumed, first, x[t])
    second = create(name, resumed.parameters(), lr=0.01, **off)
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    for t in range(4, 6):
        step(resumed, second, x[t])
    assert torch.equal(straight.weight, resumed.weight) and torch.equal(straight.bias, resumed.bias)
