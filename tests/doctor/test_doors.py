"""The doctor finds the same broken setups whatever shape the data comes in: two tensors, a
DataLoader, or dict batches of a Dataset fed to a model that returns its own loss (Hugging Face style).
The Lightning and Hugging Face trainers' doors are in tests/integrations/."""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from doctor.setups import OPTIMIZERS, NamedExamples, ReturnsItsLoss, Setup, mlp
from doctor.test_rules import BROKEN, advised_calls
from optimlab.doctor import DoctorCallback, diagnose, lr_range_test
from optimlab.doctor.findings import TORCH_CALLS, Finding, advised_as
from optimlab.errors import InvalidValueError
from optimlab.train import fit

# One broken setup of each kind the issue names (too-small init, too-large lr, unnormalized inputs,
# dead units) and a NaN in the data; the root cause each must give first.
DOOR_CASES = {
    case[0]: (case[1], case[2])
    for case in BROKEN
    if case[0]
    in (
        "deep sigmoid mlp, tiny init",
        "Adam lr 100x too high, no range test",
        "relu mlp, pixels 0..255",
        "relu mlp, biases -5",
        "NaN in one input row",
    )
}


def through_tensors(setup: Setup, model, optimizer, **options):
    return diagnose(model, setup.data(), setup.loss, optimizer, batch_size=32, **options)


def through_a_dataloader(setup: Setup, model, optimizer, **options):
    loader = DataLoader(TensorDataset(*setup.data()), batch_size=32, shuffle=True)
    return diagnose(model, loader, setup.loss, optimizer, **options)


def through_dict_batches(setup: Setup, model, optimizer, **options):
    return diagnose(
        ReturnsItsLoss(model, setup.loss),
        NamedExamples(*setup.data()),
        None,
        optimizer,
        batch_size=32,
        **options,
    )


DOORS = {"tensors": through_tensors, "DataLoader": through_a_dataloader, "dict batches": through_dict_batches}


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("case", DOOR_CASES)
def test_each_door_gets_the_same_root_cause(case, door):
    setup, rule = DOOR_CASES[case]
    model = setup.model()
    optimizer = OPTIMIZERS[setup.optimizer](model.parameters(), setup.lr)
    diagnosis = DOORS[door](setup, model, optimizer, steps=setup.steps, lr_find=False)
    assert [f.rule for f in diagnosis.findings][:1] == [rule], [(f.rule, f.title) for f in diagnosis.findings]


def test_tensors_are_watched_as_fit_trains_them():
    """The doctor's own run steps exactly as optimlab.train.fit with the DoctorCallback does."""
    from optimlab.doctor import DoctorCallback
    from optimlab.train import fit

    setup = DOOR_CASES["relu mlp, pixels 0..255"][0]
    model = setup.model()
    optimizer = OPTIMIZERS[setup.optimizer](model.parameters(), setup.lr)
    watched = through_tensors(setup, model, optimizer, steps=30, lr_find=False)
    doctor = DoctorCallback(model, optimizer)
    x, y = setup.data()
    fit(model, optimizer, x, y, loss_fn=setup.loss, total_steps=30, batch_size=32, callbacks=[doctor])
    assert watched.statistics.losses == doctor.statistics.losses


def test_the_range_test_reads_any_door_and_agrees_with_tensors_on_the_same_batches():
    setup = DOOR_CASES["relu mlp, biases -5"][0]
    model = setup.model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = setup.data()
    from_tensors = lr_range_test(model, setup.loss, x, y, optimizer, steps=30, batch_size=32)
    # A Dataset of dicts is read in the same order as the tensors, so the curves agree.
    from_dicts = lr_range_test(
        ReturnsItsLoss(model, setup.loss),
        None,
        NamedExamples(x, y),
        optimizer=optimizer,
        steps=30,
        batch_size=32,
    )
    assert from_dicts.losses == pytest.approx(from_tensors.losses, rel=1e-5)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    from_loader = lr_range_test(model, setup.loss, loader, optimizer=optimizer, steps=30)
    assert len(from_loader.losses) == 30 and from_loader.losses[0] == pytest.approx(
        from_tensors.losses[0], rel=0.3
    )


def test_a_users_own_training_is_told_torch_calls_not_recipe_fields():
    """diagnose() on a user's own model, data and optimizer told 'data: standardize inputs' with
    recipe_changes {'data.scaling': 'standardize'} (and 'training: grad_clip_norm 1.0', 'lr: 0.3'): recipe
    fields no recipe of theirs reads. Now the words of their code, no recipe_changes; a recipe's run
    (settings={}, as diagnose_recipe passes) keeps its fields. Truth: torch runs the clip call as said."""
    torch.manual_seed(0)
    x, y = torch.rand(256, 8) * 255, torch.randint(0, 3, (256,))
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    for settings, changes, words in (
        (None, {}, "standardize the inputs (each feature to mean 0 and std 1)"),
        (
            {},
            {"data.scaling": "standardize"},
            "data: {scaling: standardize} (each feature to mean 0 and std 1)",
        ),
    ):
        found = diagnose(
            model, (x, y), torch.nn.CrossEntropyLoss(), steps=20, lr_find=False, settings=settings
        )
        scale = next(f for f in found.findings if f.rule == "input_scale")
        assert (scale.recommendation, scale.recipe_changes) == (words, changes), scale
    clip = Finding("exploding_gradients", "error", "", "", "training: {grad_clip_norm: 1.0}, and lower the lr",
                   {"training.grad_clip_norm": 1.0})  # fmt: skip
    told = advised_as(clip, TORCH_CALLS)
    assert told.recipe_changes == {} and told.recommendation.endswith(", and lower the lr"), told
    call = told.recommendation.split(" before each optimizer.step()")[0]
    model(x).sum().backward()
    eval(call, {"torch": torch, "model": model})  # the advice, run as said
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert abs(norm.item() - 1.0) < 1e-4
    with pytest.raises(InvalidValueError, match=r"settings: accepted a mapping of recipe field"):
        diagnose(model, (x, y), torch.nn.CrossEntropyLoss(), steps=2, lr_find=False, settings=["lr"])


_BROKEN = {case[0]: case[1] for case in BROKEN}
_COSINE = "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=<steps>)"


def _advice(diagnosis, rule: str) -> tuple[str, dict]:
    found = next(f for f in diagnosis.findings if f.rule == rule)
    return found.recommendation, found.recipe_changes


@pytest.mark.parametrize(
    "case, steps, rule, said",
    [
        ("relu mlp, Adam eps 1 at lr 1e-3", 60, "adaptive_eps", "eps=1e-08 in the optimizer"),
        ("relu mlp, AdamW 1e-3 with wd 10", 60, "weight_decay_too_high", "weight_decay=0.1 in the optimizer"),
        ("relu mlp, digits ordered by label, not shuffled", 30, "unshuffled_data", "DataLoader(..., shuffle=True)"),
        ("linear model, 60% label noise", 300, "plateau",
         f"scheduler = {_COSINE}, scheduler.step() after each optimizer.step()"),
    ],
)  # fmt: skip
def test_a_users_own_training_is_told_each_setting_as_torch_code_that_runs_as_said(case, steps, rule, said):
    """diagnose() on a user's own model, data and optimizer says the eps, weight decay, shuffle and
    schedule as their code sets them, no recipe field in the words nor in recipe_changes (the schedule
    was a bare class name, 'torch.optim.lr_scheduler.CosineAnnealingLR (decay ...)'). Truth: the words
    run as written: torch's optimizer takes the keyword, the DataLoader shuffles, the scheduler decays
    the lr to 0 over its T_max steps."""
    setup = _BROKEN[case]
    recommendation, changes = _advice(setup.diagnose(settings=None, lr_find=False, steps=steps), rule)
    assert recommendation.startswith(said) and changes == {}, recommendation
    model = torch.nn.Linear(2, 2)
    if rule in ("adaptive_eps", "weight_decay_too_high"):
        keyword = said.removesuffix(" in the optimizer")
        optimizer = eval(
            f"torch.optim.AdamW(model.parameters(), {keyword})", {"torch": torch, "model": model}
        )
        name, value = keyword.split("=")
        assert optimizer.defaults[name] == float(value)
    elif rule == "unshuffled_data":
        dataset = TensorDataset(torch.arange(8.0))
        loader = eval(said.replace("...", "dataset"), {"DataLoader": DataLoader, "dataset": dataset})
        assert isinstance(loader.sampler, torch.utils.data.RandomSampler)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        names = {"torch": torch, "optimizer": optimizer}
        exec(said.split(", scheduler.step()")[0].replace("<steps>", "10"), names)
        for _ in range(10):
            optimizer.step()
            names["scheduler"].step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_fit_with_a_doctor_callback_is_told_fits_keywords_not_a_loop_it_does_not_write():
    """fit(..., callbacks=[DoctorCallback(...)]) was told torch's calls for a loop fit runs (clip_grad_norm_
    before each optimizer.step(), a scheduler to step): it is told fit's keywords, here scheduler= (the
    clip: test_diagnose's fit rows), no recipe_changes. Truth: fit takes it as said, and the scheduler so
    given ends the run at lr 0."""
    torch.manual_seed(0)
    model = mlp(depth=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    doctor = DoctorCallback(model, optimizer)
    x, y = _BROKEN["linear model, 60% label noise"].data()
    fit(model, optimizer, x, y, loss_fn=torch.nn.CrossEntropyLoss(), total_steps=300, batch_size=32,
        callbacks=[doctor])  # fmt: skip
    recommendation, changes = _advice(doctor.diagnosis(), "plateau")
    assert recommendation.startswith(f"fit(..., scheduler={_COSINE})") and changes == {}, recommendation
    scheduler = eval(_COSINE.replace("<steps>", "5"), {"torch": torch, "optimizer": optimizer})
    fit(model, optimizer, x, y, loss_fn=torch.nn.CrossEntropyLoss(), total_steps=5, scheduler=scheduler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


class _CountsForwards(torch.nn.Linear):
    calls = 0

    def forward(self, x):
        type(self).calls += 1
        return super().forward(x)


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"data.scaling": 5}, r"invalid value 5 for settings\['data.scaling'\]: accepted a str .* or a Setting"),
        ({"data.scaling": None}, r"invalid value None for settings\['data.scaling'\]"),
        ({"data.scalng": "x"}, r"invalid value 'data.scalng' for settings's key: accepted .*optimizer.lr, .*data.scaling"),
        # the doctor's own options are no recipe field: neither taken nor listed among them
        ({"doctor.steps": "x"}, r"invalid value 'doctor.steps' for settings's key: accepted a recipe field the "
                                r"advice changes: optimizer.lr, (?!.*doctor\.)"),
        ({"doctor.lr_find": "x"}, r"invalid value 'doctor.lr_find' for settings's key: (?!.*doctor\.)"),
        (["lr"], r"invalid value \['lr'\] for settings: accepted a mapping of recipe field \(optimizer.lr, "),
    ],
)  # fmt: skip
def test_settings_that_set_nothing_are_refused_before_the_run_naming_the_key_or_value(settings, named):
    """diagnose(settings={"data.scaling": 5}) (or None) trained the whole run, then raised AttributeError
    ''int' object has no attribute 'text''; a misspelt key was ignored, its field said in recipe words;
    DoctorCallback.diagnosis(settings=["lr"]) was not checked. Each is refused in one line naming the key
    or value, the fields and types accepted, before any forward."""
    _CountsForwards.calls = 0
    model = _CountsForwards(4, 2)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    with pytest.raises(InvalidValueError, match=named):
        diagnose(model, (x, y), torch.nn.CrossEntropyLoss(), steps=5, lr_find=False, settings=settings)
    assert _CountsForwards.calls == 0
    doctor = DoctorCallback(model, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(InvalidValueError, match=named):
        doctor.diagnosis(settings=settings)


def test_advice_that_sets_no_value_is_said_in_the_words_of_who_runs_the_training():
    """A run whose loss blew up (SGD at lr 1e12) was told 'lr: lower it, and <clip call>' and 'a tenth of
    now (optimlab lr-find gives a better estimate)' under the user's own torch code: a recipe's field and
    a CLI verb it has neither of (as 'lr: run the lr check (the doctor without --no-lr-find, ...)' for a
    loss that never fell). Now the lr as their optimizer holds it and the lr check as diagnose runs it;
    a recipe's run (settings={}) keeps its field and flag. The targets' advice no longer tells them that
    'data.scaling scales the inputs only', a recipe field. Truth: the optimizer's param_groups hold the
    key named, and diagnose takes the keyword said: both parsed out of the printed advice."""
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = 100 * x.sum(1, keepdim=True)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    said = {}
    for settings in (None, {}):
        optimizer = torch.optim.SGD(model.parameters(), lr=1e12)
        found = diagnose(
            model, (x, y), torch.nn.MSELoss(), optimizer, steps=4, lr_find=False, settings=settings
        )
        said[settings is None] = {f.rule: f.recommendation for f in found.findings}
    torch_words, recipe = said[True], said[False]
    assert recipe["nan_inf"].startswith("lr: lower it, and training: {grad_clip_norm: 1.0}"), recipe
    assert recipe["lr_too_high"].endswith("(the lr check gives a better estimate: optimlab doctor without "
                                          "--no-lr-find, or lr_find=True)"), recipe  # fmt: skip
    assert torch_words["nan_inf"].startswith("lower lr in the optimizer, and torch.nn.utils.clip_grad_norm_")
    assert torch_words["lr_too_high"] == (
        "lr=1e+11 in the optimizer, a tenth of now (the lr check gives a better estimate: "
        "diagnose(..., lr_find=True))"
    )
    assert recipe["target_scale"].endswith("; data.scaling scales the inputs only"), recipe  # its field
    assert "data.scaling" not in torch_words["target_scale"], torch_words  # a field their code has not
    keyword, value = re.match(r"(\w+)=(\S+) in the optimizer", torch_words["lr_too_high"]).groups()
    assert torch.optim.SGD(model.parameters(), **{keyword: float(value)}).param_groups[0]["lr"] == 1e11
    ((call, keywords),) = advised_calls(torch_words["lr_too_high"])
    assert call == "diagnose" and keywords, torch_words
    inspect.signature(diagnose).bind(model, (x, y), torch.nn.MSELoss(), optimizer, **keywords)
    assert not any(
        re.search(r"\blr: |--no-lr-find|optimlab lr-find", words) for words in torch_words.values()
    )
