"""The doctor finds the same broken setups whatever shape the data comes in: two tensors, a
DataLoader, or dict batches of a Dataset fed to a model that returns its own loss (Hugging Face style).
The Lightning and Hugging Face trainers' doors are in tests/integrations/."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from doctor.setups import OPTIMIZERS, NamedExamples, ReturnsItsLoss, Setup
from doctor.test_rules import BROKEN
from optimlab.doctor import diagnose, lr_range_test
from optimlab.doctor.findings import TORCH_CALLS, Finding, advised_as
from optimlab.errors import InvalidValueError

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
        ({}, {"data.scaling": "standardize"}, "data: scaling standardize (each feature to mean 0 and std 1)"),
    ):
        found = diagnose(
            model, (x, y), torch.nn.CrossEntropyLoss(), steps=20, lr_find=False, settings=settings
        )
        scale = next(f for f in found.findings if f.rule == "input_scale")
        assert (scale.recommendation, scale.recipe_changes) == (words, changes), scale
    clip = Finding("exploding_gradients", "error", "", "", "training: grad_clip_norm 1.0, and lower the lr",
                   {"training.grad_clip_norm": 1.0})  # fmt: skip
    told = advised_as(clip, TORCH_CALLS)
    assert told.recipe_changes == {} and told.recommendation.endswith(", and lower the lr"), told
    call = told.recommendation.split(" before each optimizer.step()")[0]
    model(x).sum().backward()
    eval(call, {"torch": torch, "model": model})  # the advice, run as said
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert abs(norm.item() - 1.0) < 1e-4
    with pytest.raises(InvalidValueError, match=r"settings.*a mapping of recipe field to setting"):
        diagnose(model, (x, y), torch.nn.CrossEntropyLoss(), steps=2, lr_find=False, settings=["lr"])
