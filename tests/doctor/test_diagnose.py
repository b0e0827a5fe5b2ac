"""diagnose(): what it accepts, what it leaves behind, and what it returns."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import re
import types
import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import optimlab.doctor
import optimlab.errors
import optimlab.models
import optimlab.optim
import optimlab.schedules
from doctor.setups import NamedExamples, ReturnsItsLoss, mlp, pixels, shuffled_labels, standardized
from optimlab.doctor import DoctorCallback, diagnose, run_rules
from optimlab.errors import InvalidValueError
from optimlab.train import fit


def test_the_model_and_optimizer_are_examined_not_treated():
    """The run, the sweep and the lr check (25 steps a candidate: what they leave, not how far they
    train, is read) all leave the model's weights and the optimizer as they were."""
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    diagnosis = diagnose(model, standardized(), nn.CrossEntropyLoss(), optimizer, steps=30, check_steps=25)
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert optimizer.state_dict()["state"] == {} and optimizer.param_groups[0]["lr"] == 1e-3
    assert len(diagnosis.statistics.steps) == 30 and diagnosis.lr_range is not None


class KeepsItsOwnMean(nn.Module):
    """A running mean of the inputs kept out of the state dict (persistent=False), as a model's caches
    and counters are."""

    def __init__(self):
        super().__init__()
        self.net = mlp()
        self.register_buffer("seen", torch.zeros(()), persistent=False)
        self.register_buffer("mean", torch.zeros(64), persistent=False)

    def forward(self, x):
        if self.training:
            self.seen += 1
            self.mean.mul_(0.9).add_(0.1 * x.mean(0))
        return self.net(x)


def test_buffers_left_out_of_the_state_dict_are_restored_too():
    """diagnose() left 10 forward passes in such a buffer (and the lr check its own), though it
    promises the model back as it was."""
    model = KeepsItsOwnMean()
    model.seen.fill_(3.0)
    before = model.mean.clone()
    buffers = [model.seen, model.mean]
    diagnose(model, standardized(), nn.CrossEntropyLoss(), steps=10, check_steps=10)
    assert model.seen.item() == 3.0 and torch.equal(model.mean, before)
    assert all(a is b for a, b in zip([model.seen, model.mean], buffers))  # the same tensors


def test_splits_are_read_from_their_training_part_and_the_default_optimizer_is_adam():
    x, y = pixels()
    splits = types.SimpleNamespace(train=types.SimpleNamespace(x=x, y=y), val=None)
    diagnosis = diagnose(mlp(), splits, nn.CrossEntropyLoss(), steps=40, lr_find=False)
    assert diagnosis.findings[0].rule == "input_scale" and diagnosis.statistics.input_features.count > 0
    assert diagnosis.statistics.lrs[0] == pytest.approx(1e-3)  # adam's default lr


def test_the_same_seed_gives_the_same_diagnosis():
    """The check's candidates trained 25 steps, not 200: the same suggestion (0.0069) at a fifth of the
    time; their held-out scores compared too (a check drawing its held-out rows unseeded changed the
    suggestion in 2 of 3 pairs, the scores in 3 of 3)."""
    first, second = (
        diagnose(mlp(), standardized(), nn.CrossEntropyLoss(), steps=25, check_steps=25, seed=3)
        for _ in range(2)
    )
    assert first.statistics.losses == second.statistics.losses
    assert first.lr_range.suggestion == second.lr_range.suggestion
    assert first.lr_range.candidates == second.lr_range.candidates


@pytest.mark.parametrize("data", [torch.zeros(8, 4), (torch.zeros(8, 4), torch.zeros(7)), "digits"])
def test_bad_data_is_rejected_with_what_is_accepted(data):
    with pytest.raises(InvalidValueError, match="pair of tensors"):
        diagnose(mlp(inputs=4), data, nn.CrossEntropyLoss(), steps=5)


def test_bad_numbers_are_rejected():
    with pytest.raises(InvalidValueError, match="steps"):
        diagnose(mlp(), standardized(), nn.CrossEntropyLoss(), steps=0)
    for bad in ({"check_steps": 0}, {"check_budget": -1.0}):  # refused even where no check runs
        with pytest.raises(InvalidValueError, match=next(iter(bad))):
            diagnose(mlp(), standardized(), nn.CrossEntropyLoss(), steps=5, lr_find=False, **bad)


class CountsItsSteps(nn.Module):
    """An MLP counting the forward passes it makes in training mode."""

    def __init__(self):
        super().__init__()
        self.net, self.passes = mlp(), 0

    def forward(self, x):
        self.passes += self.training
        return self.net(x)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"rule_options": {"dead_units": 0.5}}, "for rule_options: accepted a mapping of rule names"),
        ({"rule_options": {"dead_unit": {"warn_fraction": 0.5}}}, "Did you mean 'dead_units'"),
        ({"rule_options": {"dead_units": {"warn_fraction": 2.0}}}, "'warn_fraction': accepted a number"),
        ({"rule_options": [("dead_units", {})]}, "for rule_options: accepted a mapping of rule names"),
        ({"schedule": 5}, "invalid value 5 for schedule: accepted an InstrumentSchedule"),
    ],
    ids=["thresholds not a mapping", "unknown rule", "threshold out of range", "a list", "schedule a number"],
)
def test_bad_rule_options_and_schedule_are_refused_in_one_line_before_any_step(bad, message):
    """rule_options={"dead_units": 0.5} raised TypeError 'argument after ** must be a mapping' and
    schedule=5 AttributeError 'int' object has no attribute 'is_detailed', both after the lr check and
    the run had trained; an unknown rule was refused only once the run was over."""
    model = CountsItsSteps()
    with pytest.raises(optimlab.errors.OptimlabError, match=message):
        diagnose(model, standardized(), nn.CrossEntropyLoss(), steps=5, check_steps=5, **bad)
    assert model.passes == 0


@pytest.mark.parametrize("verb", ["diagnose", "DoctorCallback"])
def test_an_lr_that_is_a_schedule_is_recorded_as_its_value_at_each_step_where_no_range_test_runs(verb):
    """optimlab's optimizers take a schedule as their lr; the doctor's record held the function itself
    (the rules then failed), and a later fix refused it before any step, though the run alone sets no
    lr. Truth: the cosine's value at the updates applied before each step (step k at k - 1), by hand."""
    model = CountsItsSteps()
    total = 20
    cosine = optimlab.schedules.create("cosine", total_steps=total)
    optimizer = optimlab.optim.create("adam", model.parameters(), lr=lambda step: 1e-3 * cosine(step))
    if verb == "diagnose":
        result = diagnose(model, standardized(), nn.CrossEntropyLoss(), optimizer, steps=6, lr_find=False)
    else:
        x, y = standardized()
        doctor = DoctorCallback(model, optimizer)
        fit(
            model,
            optimizer,
            x,
            y,
            loss_fn=nn.CrossEntropyLoss(),
            batch_size=32,
            total_steps=6,
            callbacks=[doctor],
        )
        result = doctor.diagnosis()
    by_hand = [1e-3 * 0.5 * (1 + math.cos(math.pi * (k - 1) / total)) for k in range(1, 7)]
    assert result.statistics.steps == [1, 2, 3, 4, 5, 6]
    assert result.statistics.lrs == pytest.approx(by_hand, rel=1e-12)
    assert not [f for f in result.findings if f.severity == "error"]


def batch_norm_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))


@pytest.mark.parametrize("lr_find", [False, True])
@pytest.mark.parametrize("given", ["DataLoader", "list of batches"])
def test_a_batch_of_one_row_under_batch_norm_is_refused_as_fit_refuses_it(lr_find, given):
    """65 rows in batches of 16 end each epoch in a batch of one row, which torch's batch norm cannot
    normalize in training: diagnose ended in its raw ValueError ('Expected more than 1 value per channel
    when training') after training, where fit refuses the same data in one line (before any step where
    it sees the short batch coming, at its step where it cannot: a list of batches). Truth: torch's own
    error on that batch (the cause) and fit's line on the same model, data and optimizer."""
    x, y = (t[:65] for t in standardized())
    data = (
        DataLoader(TensorDataset(x, y), batch_size=16)
        if given == "DataLoader"
        else [(x[i : i + 16], y[i : i + 16]) for i in range(0, 65, 16)]
    )
    refusals = []
    for run in ("fit", "diagnose"):
        model = batch_norm_mlp()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        with pytest.raises(InvalidValueError) as refused:
            if run == "fit":
                fit(model, optimizer, data, loss_fn=nn.CrossEntropyLoss(), total_steps=10)
            else:
                diagnose(model, data, nn.CrossEntropyLoss(), optimizer, steps=10, lr_find=lr_find)
        refusals.append(refused.value)
    assert str(refusals[1]) == str(refusals[0]) and "\n" not in str(refusals[1])
    assert "BatchNorm1d" in str(refusals[1])
    if given == "list of batches":  # met at its step, after torch's own error on it
        assert "Expected more than 1 value per channel when training" in str(refusals[1].__cause__)
        assert "the batch of step 5" in str(refusals[1])  # the range test's fifth batch, or the run's


def test_labels_counted_from_1_are_refused_in_one_line_naming_the_label_and_the_class_scores():
    """Digits' labels shifted to 1..10 for a 10-class head: cross-entropy indexes class 10 of 10 scores
    (torch: 'Target 10 is out of bounds'). The doctor refuses at the first batch, before any step, in
    one line naming the label and the scores it needs."""
    model = CountsItsSteps()
    x, y = standardized()
    with pytest.raises(
        InvalidValueError, match=r"a label of 10 is class 10, which needs 11 or more class scores"
    ):
        diagnose(model, (x, y + 1), nn.CrossEntropyLoss(), steps=5, lr_find=False)
    assert model.passes <= 1  # the first batch's forward pass, no step


@pytest.mark.parametrize("optimizer_name", ["sgd", "sam"])
def test_the_callback_reads_the_gradient_fit_has_not_yet_clipped(optimizer_name):
    """With grad_clip_norm, the callback read the clipped gradients (norm 1.0 at every step: an
    explosion hidden); it reads them whole, as torch's clip_grad_norm_ measures them before clipping,
    and under SAM at the weights, not at the perturbed point of SAM's second evaluation."""
    x, y = standardized()
    x, y = x[:64], y[:64]
    torch.manual_seed(0)
    model = mlp()
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=1.0)  # gradients of norm in the hundreds
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(model(x), y).backward()
    whole = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0).item()  # the norm before clipping
    model.zero_grad(set_to_none=True)
    optimizer = optimlab.optim.create(optimizer_name, model.parameters(), lr=1e-3)
    doctor = DoctorCallback(model, optimizer)
    fit(
        model,
        optimizer,
        x,
        y,
        loss_fn=loss_fn,
        total_steps=3,
        batch_size=64,
        grad_clip_norm=1.0,
        callbacks=[doctor],
    )
    norms = doctor.statistics.global_grad_norms()
    assert whole > 10 and norms[0].item() == pytest.approx(whole, rel=1e-5)
    assert (norms > 1.5).all()


def _thousands_regression() -> tuple[torch.Tensor, torch.Tensor, nn.Module]:
    """256 standardized digits, a target in the hundreds (100x the sum of 4 features), a small ReLU net."""
    x, _ = standardized()
    torch.manual_seed(0)
    return (
        x[:256],
        100 * x[:256, :4].sum(1, keepdim=True),
        nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)),
    )


@pytest.mark.parametrize("clip", [None, 1.0])
def test_the_watched_run_clips_as_the_run_it_diagnoses_does(clip):
    """diagnose watched every run unclipped, so a recipe clipping at 1.0 was told of the NaN its own run
    never reaches. Truth: the same full-batch SGD (lr 0.05) stepped by hand with torch's
    clip_grad_norm_: unclipped it ends in Inf by step 5 (nan_inf reported), clipped at 1.0 it trains
    all 40 steps, the watched losses matching the hand loop's."""
    x, y, model = _thousands_regression()
    hand = copy.deepcopy(model)
    found = diagnose(model, (x, y), nn.MSELoss(), torch.optim.SGD(model.parameters(), 0.05), steps=40,
                     batch_size=256, lr_find=False, grad_clip_norm=clip)  # fmt: skip
    optimizer, losses = torch.optim.SGD(hand.parameters(), 0.05), []
    while len(losses) < 40 and all(map(math.isfinite, losses)):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(hand(x), y)
        loss.backward()
        losses.append(loss.item())
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(hand.parameters(), clip)
        optimizer.step()
    assert found.statistics.losses == pytest.approx(losses, rel=1e-4)
    assert ("nan_inf" in [f.rule for f in found.findings]) is (clip is None) and len(losses) == (
        40 if clip else 5
    )
    assert found.statistics.grad_clip_norm == clip
    if clip is not None:  # the rules read the gradients before the clip: norms in the thousands
        assert found.statistics.global_grad_norms().min().item() > 100


def test_the_lr_sweep_clips_as_the_watched_run_does():
    """diagnose(..., grad_clip_norm=1.0) swept its lrs unclipped and said nothing, its suggestion read as
    one for the clipped run (diagnose_recipe at least said 'unclipped'). Truth: the sweep's lrs stepped
    by hand on the same batches with torch's clip_grad_norm_ (gradients in the thousands: the clip acts
    at every step); the loss after each step is the sweep's."""
    x, y, model = _thousands_regression()
    hand, loader = copy.deepcopy(model), DataLoader(TensorDataset(x, y), batch_size=64)
    found = diagnose(model, loader, nn.MSELoss(), torch.optim.SGD(model.parameters(), 0.05), steps=2,
                     check_steps=2, grad_clip_norm=1.0)  # fmt: skip
    optimizer, batches, seen = torch.optim.SGD(hand.parameters(), 0.05), itertools.cycle(loader), []
    xb, yb = next(batches)
    loss = nn.functional.mse_loss(hand(xb), yb)
    for lr in found.lr_range.lrs:
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hand.parameters(), 1.0)
        optimizer.param_groups[0]["lr"] = lr
        optimizer.step()
        xb, yb = next(batches)
        loss = nn.functional.mse_loss(hand(xb), yb)
        seen.append(loss.item())
    assert len(seen) > 50 and found.lr_range.losses == pytest.approx(seen, rel=1e-4)


def _fit_found(lr: float, steps: int, loss_fn: nn.Module) -> dict[float | None, dict[str, Any]]:
    """The findings by rule of a DoctorCallback on fit (SGD at ``lr``, ``steps`` steps of ``loss_fn``, the
    thousands regression's targets divided by 20, RMS 12: the callback reads fit's targets, and targets
    in the hundreds are a finding of their own), unclipped and clipped at 1.0 by fit."""
    x, y, model = _thousands_regression()
    y = y / 20
    found = {}
    for clip in (None, 1.0):
        trained = copy.deepcopy(model)
        optimizer = torch.optim.SGD(trained.parameters(), lr)
        doctor = DoctorCallback(trained, optimizer)
        fit(trained, optimizer, x, y, loss_fn=loss_fn, total_steps=steps, batch_size=256,
            grad_clip_norm=clip, callbacks=[doctor])  # fmt: skip
        found[clip] = {f.rule: f for f in doctor.diagnosis().findings}
    return found


def test_a_fit_that_clips_is_not_told_to_clip_by_its_callback():
    """fit(..., grad_clip_norm=1.0, callbacks=[DoctorCallback(...)]) was told 'training: grad_clip_norm
    1.0' for the gradients it clips: the callback could not see fit's clip. It reads it from the
    TrainState; unclipped, the advice to clip stands, in fit's keyword (it was told torch's
    clip_grad_norm_ call before an optimizer.step() that fit, not the user, runs). The loss summed over
    the batch's 256 rows makes the gradients large, not the targets (RMS 12, which target_scale passes)."""
    found = _fit_found(1e-3, 40, nn.MSELoss(reduction="sum"))
    assert "target_scale" not in found[None] and "target_scale" not in found[1.0], found
    advice = {clip: f["exploding_gradients"].recommendation for clip, f in found.items()}
    assert advice[None] == "fit(..., grad_clip_norm=1.0), and lower the lr", advice  # fit's keyword: it clips
    assert advice[1.0].startswith("lower lr in the optimizer (the run already clips the gradients' norm at 1")


def test_a_clipped_fit_whose_loss_overflows_is_told_the_lr_not_the_clip_it_has():
    """fit(..., grad_clip_norm=1.0) under SGD at lr 1e12 with a DoctorCallback: each clipped step still
    moves the weights by up to 1e12, the outputs blow up and the loss overflows at step 2. nan_inf's
    advice to clip at 1.0 would change nothing (the run clips there): it names the lr and the clip in
    force. Unclipped, the same run is advised the clip and the lr. Truth: fit's own grad_clip_norm."""
    found = _fit_found(1e12, 4, nn.MSELoss())
    advice = {clip: (f["nan_inf"].recommendation, f["nan_inf"].recipe_changes) for clip, f in found.items()}
    assert advice[None] == (
        "lower lr in the optimizer, and fit(..., grad_clip_norm=1.0) (the loss or the outputs blew up first)",
        {},  # fit's keyword, which fit's run takes: no recipe runs fit
    )
    in_force = "the run already clips the gradients' norm at 1: the lr sets the steps' length"
    assert advice[1.0] == (
        f"lower lr in the optimizer (the loss or the outputs blew up first; {in_force})",
        {},
    )


@pytest.mark.parametrize("shuffle", [False, True])
def test_fits_batches_sorted_by_label_are_found_unshuffled_by_its_callback(shuffle):
    """fit over a DataLoader of rows sorted by label (shuffle=False) with a DoctorCallback: the callback saw
    no batch's targets, so the unshuffled-data finding that diagnose() gives the same loader never fired
    under fit. It reads them from fit's on_train_batch. Truth: the loader's own batches, each of one label
    until the last of a class; shuffled, the same rows give no such finding."""
    torch.manual_seed(0)
    x = torch.randn(384, 8)
    y = torch.arange(3).repeat_interleave(128)  # sorted: 128 rows of each label
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=shuffle)
    assert shuffle or all(len(set(labels.tolist())) == 1 for _, labels in loader)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    doctor = DoctorCallback(model, optimizer)
    fit(model, optimizer, loader, loss_fn=nn.CrossEntropyLoss(), total_steps=12, callbacks=[doctor])
    assert len(doctor.statistics.batch_targets) == 12
    told = {f.rule: f.recommendation for f in doctor.diagnosis().findings}
    assert ("unshuffled_data" in told) is not shuffle, told
    if not shuffle:
        assert told["unshuffled_data"].startswith("fit(..., shuffle=True), or DataLoader(..., shuffle=True)")


@pytest.mark.parametrize("columns", [1, 5])
def test_fits_shuffled_batches_of_rare_float_labels_are_not_called_unshuffled(columns):
    """BCE's float 0/1 targets, 2% positive (and 5 such labels a row, 3%), through DataLoader(shuffle=True):
    most batches hold no positive, and fit's callback told the run "Unshuffled batches: ... spread over
    0%" (37% multi-label). Truth: the loader shuffles, so no such finding."""
    torch.manual_seed(1)
    x = torch.randn(4000, 8)
    y = (torch.rand(4000, columns) < (0.02 if columns == 1 else 0.03)).float()
    torch.manual_seed(0)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, columns))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    doctor = DoctorCallback(model, optimizer)
    fit(model, optimizer, loader, loss_fn=nn.BCEWithLogitsLoss(), total_steps=12, callbacks=[doctor])
    assert len(doctor.statistics.batch_targets) == 12
    assert "unshuffled_data" not in [f.rule for f in doctor.diagnosis().findings]


def test_the_callback_diagnoses_a_run_of_fit_and_the_result_is_json():
    x, y = pixels()
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    doctor = DoctorCallback(model, optimizer)
    fit(
        model,
        optimizer,
        x,
        y,
        loss_fn=nn.CrossEntropyLoss(),
        total_steps=40,
        batch_size=32,
        callbacks=[doctor],
    )
    diagnosis = doctor.diagnosis()
    assert diagnosis.findings[0].rule == "input_scale" and not diagnosis.healthy
    data = json.loads(json.dumps(diagnosis.to_dict(), allow_nan=False))
    assert data["findings"][0]["rule"] == "input_scale" and [layer["name"] for layer in data["layers"]] == [
        "0",
        "2",
        "4",
    ]
    assert data["lr_range"] is None and {i["name"] for i in data["instruments"]} >= {
        "gradient_norm",
        "nan_origin",
    }


def test_the_public_api_is_explicit():
    assert set(optimlab.doctor.__all__) >= {
        "diagnose",
        "Diagnosis",
        "DoctorCallback",
        "lr_range_test",
        "Finding",
    }
    assert all(hasattr(optimlab.doctor, name) for name in optimlab.doctor.__all__)


def test_a_diverged_run_still_gives_strict_json():
    """Its lr check's candidates run 50 steps each, where lr 2.1's still diverges (no score), as at 200."""
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=30.0)
    diagnosis = diagnose(model, standardized(), nn.CrossEntropyLoss(), optimizer, steps=50, check_steps=50)
    assert diagnosis.statistics.non_finite is not None
    assert any(c.score is None for c in diagnosis.lr_range.candidates)  # a diverged candidate too
    text = json.dumps(diagnosis.to_dict(), allow_nan=False)
    assert json.loads(text)["non_finite"]["step"] == diagnosis.statistics.non_finite.step


def test_a_dataloader_and_dict_batches_get_a_suggestion_decided_by_the_check():
    x, y = standardized()
    x, y = x[:300], y[:300]
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    model = mlp(width=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    from_loader = diagnose(model, loader, nn.CrossEntropyLoss(), optimizer, steps=5, check_steps=8)
    own_loss = ReturnsItsLoss(model, nn.CrossEntropyLoss())
    from_dicts = diagnose(
        own_loss,
        NamedExamples(x, y),
        None,
        optimizer,
        steps=5,
        check_steps=8,
        val_data=NamedExamples(x[:60], y[:60]),
    )

    def compute_loss(model, batch):
        return nn.functional.cross_entropy(model(batch[0]), batch[1])

    by_hand = diagnose(
        model,
        loader,
        None,
        optimizer,
        compute_loss=compute_loss,
        steps=5,
        check_steps=8,
        val_data=(x[:60], y[:60]),
    )
    for found in (from_loader.lr_range, from_dicts.lr_range, by_hand.lr_range):
        assert found.check is not None and found.suggestion in [c.lr for c in found.candidates]
        assert all(c.score is not None for c in found.candidates)


def test_an_optimizer_the_doctor_cannot_watch_is_refused_in_one_line():
    model = nn.Linear(4, 2)
    other = torch.optim.SGD(nn.Linear(4, 2).parameters(), lr=0.1)
    for optimizer, says in [
        (torch.optim.SGD, "the class SGD"),
        (other, "none of the model's trainable parameters"),
    ]:
        with pytest.raises(InvalidValueError, match=says):
            DoctorCallback(model, optimizer)
        with pytest.raises(InvalidValueError, match=says):
            diagnose(
                model, (torch.randn(32, 4), torch.randint(0, 2, (32,))), nn.CrossEntropyLoss(), optimizer
            )
    with pytest.raises(InvalidValueError, match="invalid value None for optimizer"):
        DoctorCallback(model, None)


class _Branches(nn.Module):
    """A classifier with a layer it never calls and a branch whose output it detaches."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.unused = nn.Linear(8, 8)
        self.detached = nn.Linear(4, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)) + self.detached(x).detach())


def test_parameters_the_loss_does_not_depend_on_are_found_unless_frozen():
    """A layer never called, or detached before the loss, keeps grad None: the optimizer steps nothing
    there. Frozen on purpose (requires_grad False), it is not the doctor's concern."""
    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    data = (x, (x[:, 0] > 0).long())
    model = _Branches()
    diagnosis = diagnose(model, data, nn.CrossEntropyLoss(), steps=20, lr_find=False)
    (found,) = [f for f in diagnosis.findings if f.rule == "unused_parameters"]
    assert found.severity == "warning" and found.evidence == {
        "modules": {"unused": 2, "detached": 2},
        "tensors": 4,
        "values": (8 * 8 + 8) + (4 * 8 + 8),  # unused, then detached: weights and biases
        "steps": 20,
    }
    for module in (model.unused, model.detached):
        module.requires_grad_(False)
    frozen = diagnose(model, data, nn.CrossEntropyLoss(), steps=20, lr_find=False)
    assert not [f for f in frozen.findings if f.rule == "unused_parameters"]


def test_a_head_replaced_after_the_optimizer_was_built_is_found_and_the_rest_of_the_run_is_not():
    """Fine-tuning code that builds the optimizer, then swaps the head: the new head gets gradients
    that nothing applies. Frozen on purpose (requires_grad False), it is not reported."""
    x, y = standardized()
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    model[4] = nn.Linear(128, 10)
    before = model[4].weight.detach().clone()
    diagnosis = diagnose(model, (x[:512], y[:512]), nn.CrossEntropyLoss(), optimizer, steps=20, lr_find=False)
    (found,) = [f for f in diagnosis.findings if f.rule == "unstepped_parameters"]
    assert found.evidence == {"modules": {"4": 128 * 10 + 10}, "values": 1290, "steps": 20}
    assert found.severity == "warning" and "requires_grad_(False)" in found.recommendation
    assert torch.equal(model[4].weight, before)
    model[4].requires_grad_(False)
    frozen = diagnose(model, (x[:512], y[:512]), nn.CrossEntropyLoss(), optimizer, steps=20, lr_find=False)
    assert "unstepped_parameters" not in [f.rule for f in frozen.findings]


class _TokenTagger(nn.Module):
    """Eight token ids -> their vectors, side by side -> tanh -> two classes."""

    def __init__(self, std: float) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(50, 32)
        nn.init.normal_(self.embed.weight, std=std)
        self.hidden, self.act, self.head = nn.Linear(256, 64), nn.Tanh(), nn.Linear(64, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.act(self.hidden(self.embed(ids).flatten(1))))


def test_tanh_saturated_by_an_embedding_drawn_too_large_points_at_the_embedding():
    """The layer the vectors feed is at torch's default init: its inputs, ten times torch's N(0, 1),
    are what push the tanh onto its tails, so the fix is the embedding's scale, not a norm layer."""
    ids = torch.randint(0, 50, (1024, 8), generator=torch.Generator().manual_seed(0))
    labels = (ids < 25).sum(1).gt(4).long()
    for std in (1.0, 10.0):
        model = _TokenTagger(std)
        diagnosis = diagnose(model, (ids, labels), nn.CrossEntropyLoss(), steps=100, lr_find=False)
        if std == 1.0:
            assert diagnosis.healthy, diagnosis.findings
            continue
        (found,) = diagnosis.findings
        assert found.rule == "saturation" and found.recommendation.startswith(
            "nn.init.normal_(weight, std=0.02) on embed (Embedding)'s vectors"
        )
        first_batch = model.embed.weight.detach()[
            ids[:64]
        ]  # the weights as they were: the doctor restores them
        assert found.evidence["embedding_std"] == pytest.approx(first_batch.std().item(), rel=0.05)


def test_labels_shuffled_apart_from_their_inputs_are_a_finding_not_a_healthy_run():
    """No lr predicts held-out labels drawn apart from the inputs, so the lr is not what to change;
    the training loss that still falls shows the rows memorized (Zhang et al. 2017). The candidates
    are checked 50 steps each: the true labels' best held-out accuracy 0.95 (0.95 at 100 steps), the
    shuffled ones' 0.10 (0.10), under a bar of chance (0.11) plus three standard errors."""
    x, y = standardized()
    for labels, trains in ((y, True), (shuffled_labels()[1], False)):
        torch.manual_seed(0)
        found = diagnose(mlp(), (x[:400], labels[:400]), nn.CrossEntropyLoss(), steps=60, check_steps=50)
        assert found.lr_range.trains is trains and found.healthy is trains
        if not trains:
            (finding,) = found.findings
            assert finding.rule == "no_learning" and finding.recommendation.startswith(
                "check that each label"
            )
            assert finding.evidence["loss_end"] < 0.9 * finding.evidence["loss_start"]
            assert len(finding.evidence["candidates"]) == len(found.lr_range.candidates)
            json.dumps(found.to_dict(), allow_nan=False)
    # A loss that never fell: nothing was memorized, so the labels are one suspect among others.
    stats = found.statistics
    flat = dataclasses.replace(stats, losses=[stats.losses[0]] * len(stats.losses))
    (finding,) = [f for f in run_rules(flat, found.lr_range) if f.rule == "no_learning"]
    assert finding.recommendation.startswith("make sure the model can see")


@pytest.mark.parametrize("budget", [None, 100.9])
def test_no_learning_asks_for_a_longer_check_only_where_the_check_was_cut(monkeypatch, budget):
    """Where the check trained each lr all the steps it was given, the advice says so and points at
    the model or the data; it said "give the check the run's length (check_steps)" there too, a knob the
    command line lacks, for a check that had run all 340 steps of the recipe. Where the budget cut the
    check's steps (a step costed at 1 s and the probe made to overrun, as in test_lr_check: every fourth
    candidate over part of the 40 steps), it names the steps run and the knob that buys more,
    --check-budget. Truth: the check's own description of the steps it ran."""
    import optimlab.doctor.lr_check as lr_check

    if budget is not None:
        planned = lr_check.plan_check

        def plan_at_a_second(*a, **k):
            return planned(*a, **{**k, "seconds_per_step": 1.0, "seconds_per_evaluation": 0.0})

        def overrun(*a, **k):
            raise lr_check._OverBudget(0.0, 0.0)

        monkeypatch.setattr(lr_check, "plan_check", plan_at_a_second)
        monkeypatch.setattr(lr_check._Probe, "overruns", overrun)
        monkeypatch.setattr(lr_check, "another_fold_fits", lambda *a: False)
    x, y = shuffled_labels()
    torch.manual_seed(0)
    found = diagnose(
        mlp(), (x[:400], y[:400]), nn.CrossEntropyLoss(), steps=60, check_steps=40, check_budget=budget
    )
    checked = found.lr_range
    assert checked.trains is False, checked.reason
    ran = int(re.match(r"(\d+) steps each", checked.check)[1])  # the check as it ran, in its own words
    assert (checked.check_steps, checked.run_steps) == (ran, 40)
    # A loss that never fell: the branch that points at the model or the data.
    losses = found.statistics.losses
    flat = dataclasses.replace(found.statistics, losses=[losses[0]] * len(losses))
    (finding,) = [f for f in run_rules(flat, checked) if f.rule == "no_learning"]
    advice = finding.recommendation
    assert advice.startswith("make sure the model can see")
    if budget is None:
        assert ran == 40 and "within the check's 40 steps; more steps (check_steps, 40 here)" in advice
        assert "whole run" not in advice  # 40 is check_steps, not the run's 60 steps
        assert "run's length" not in advice and "--check-budget" not in advice
    else:
        assert ran < 40 and f"{ran} of the run's 40 steps" in checked.check  # the cut, said by the check
        assert f"each lr {ran} of the run's 40 steps, cut to its time budget" in advice
        assert "--check-budget" in advice and "whole run" not in advice
        assert "time_budget=" in advice  # diagnose's other budget: check_budget= alone bounds it further
    assert (finding.evidence["check_steps"], finding.evidence["run_steps"]) == (ran, 40)
    json.dumps(found.to_dict(), allow_nan=False)


@pytest.mark.parametrize("frozen", [False, True])
def test_a_batch_norm_frozen_in_a_training_model_is_examined_frozen(frozen):
    """model.train() on the whole model put a batch norm its user froze (eval mode inside a model in
    training mode) back on batch statistics: the doctor and the range test examined another model.
    A model handed over wholly in eval mode (as from_pretrained returns it) still trains in train mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    if frozen:
        model[1].eval().requires_grad_(False)
    modes: list[tuple[bool, bool]] = []
    model[1].register_forward_pre_hook(lambda module, args: modes.append((model.training, module.training)))
    x, y = standardized()
    optimlab.doctor.lr_range_test(model, nn.CrossEntropyLoss(), x, y, optimizer, steps=10)
    diagnosis = diagnose(model, (x, y), nn.CrossEntropyLoss(), optimizer, steps=20, lr_find=False)
    assert set(modes) == {(True, not frozen)}
    assert bool(diagnosis.statistics.batch_norm_rows) is not frozen  # batch statistics, or running ones
    assert model[1].training is not frozen and model.training
    modes.clear()
    diagnose(model.eval(), (x, y), nn.CrossEntropyLoss(), optimizer, steps=5, lr_find=False)
    assert set(modes) == {(True, True)} and not model.training


def test_validation_data_it_cannot_read_are_named_val_data():
    """diagnose(..., val_data=(x[:0], y[:0])) was refused as 'data', the training argument, which was fine."""
    from optimlab.errors import InvalidValueError

    x, y = torch.randn(40, 3), torch.arange(40) % 2
    with pytest.raises(InvalidValueError, match="no rows' for val_data"):
        optimlab.doctor.diagnose(
            nn.Linear(3, 2), (x, y), nn.CrossEntropyLoss(), val_data=(x[:0], y[:0]), steps=5
        )


@pytest.mark.parametrize("door", ["diagnose", "find_lr", "DoctorCallback"])
def test_a_lazy_layer_not_yet_run_is_named_in_one_line(door):
    """A LazyLinear has no shape before its first batch: the doctor failed deep in its instruments
    with torch's ValueError about an uninitialized parameter; it now names the layer and the fix.
    Once the model has run a batch it is examined as any other."""
    x, y = standardized()
    model = nn.Sequential(nn.LazyLinear(32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = torch.optim.Adam(model.parameters())
    call = {
        "diagnose": lambda: diagnose(model, (x, y), nn.CrossEntropyLoss(), optimizer, steps=5, lr_find=False),
        "find_lr": lambda: optimlab.doctor.find_lr(
            model, nn.CrossEntropyLoss(), x, y, optimizer, check_steps=5
        ),
        "DoctorCallback": lambda: DoctorCallback(model, optimizer),
    }[door]
    with pytest.raises(InvalidValueError, match=r"lazy parameter 0\.weight .*call model\(batch\) once"):
        call()
    model(x[:2])
    assert door != "diagnose" or call().statistics.layers[0].fan_in == 64


def test_a_recipe_accumulating_batches_is_read_by_the_rows_of_its_optimizer_steps():
    """The range test of a recipe stepping on 4 accumulated batches of 8 rows took steps of 8 rows, a
    gradient 4x noisier than the run's own, as a recipe of batches of 32 rows takes them."""
    from optimlab.doctor.diagnose import lr_range_test_recipe
    from optimlab.recipe import Recipe

    base = {"model": {"name": "mlp", "norm": "none", "width": 16}, "training": {"batch_size": 32}}
    whole = lr_range_test_recipe(Recipe.from_dict(base), steps=30)
    grouped = Recipe.from_dict(base).with_updates(
        {"training.batch_size": 8, "training.accumulate_grad_batches": 4}
    )
    accumulated = lr_range_test_recipe(grouped, steps=30)
    small = lr_range_test_recipe(Recipe.from_dict(base).with_updates({"training.batch_size": 8}), steps=30)
    assert accumulated.losses == pytest.approx(whole.losses, rel=1e-5)
    assert small.losses != pytest.approx(whole.losses, rel=1e-2)


def test_a_time_budget_cuts_the_watched_run_and_says_so():
    """Past its deadline the watched run stops at MIN_WATCHED_STEPS, and says what it left out."""
    from optimlab.doctor.diagnose import MIN_WATCHED_STEPS

    data = standardized()
    cut = diagnose(mlp(), data, nn.CrossEntropyLoss(), steps=200, lr_find=False, time_budget=1e-3)
    assert len(cut.statistics.steps) == MIN_WATCHED_STEPS == 60
    assert cut.watch_cut == "watched 60 of the 200 steps asked, to end within the 0.001 s budget"
    assert cut.to_dict()["watch_cut"] == cut.watch_cut
    whole = diagnose(mlp(), data, nn.CrossEntropyLoss(), steps=200, lr_find=False, time_budget=1e6)
    assert len(whole.statistics.steps) == 200 and whole.watch_cut is None
    with pytest.raises(InvalidValueError, match="time_budget"):
        diagnose(mlp(), data, nn.CrossEntropyLoss(), steps=5, lr_find=False, time_budget=0)


def test_a_plateau_is_no_root_cause_the_lr_was_measured_with():
    """The quadratic_deep Transformer at its noise floor: 'Plateau' (fix: a schedule), and the suggestion
    read 'measured with #1 as it is: the best lr moves once that is fixed': a plateau is the lr's course,
    which a schedule of the suggested peak answers, not a setup that moves the peak."""
    from optimlab.doctor.diagnose import Diagnosis
    from optimlab.doctor.findings import Finding
    from optimlab.doctor.lr_find import LRRangeResult

    def finding(rule: str) -> Finding:
        return Finding(rule, "warning", rule, "seen", "fix")

    curve = LRRangeResult([1e-3], [1.0], [1.0], 1e-3, 1e-2, 1e-3, None, "steepest descent")
    both = Diagnosis([finding("input_scale"), finding("plateau")], statistics=None, lr_range=curve)
    assert [f.rule for f in both.lr_measured_with] == ["input_scale"]
    assert Diagnosis([finding("plateau")], statistics=None, lr_range=curve).lr_measured_with == []


def test_lr_find_that_is_no_bool_is_refused():
    """``lr_find="no"`` was truthy: the range test and its check ran, what the caller had said not to do."""
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    with pytest.raises(InvalidValueError, match="invalid value 'no' for lr_find: accepted True or False"):
        diagnose(nn.Linear(3, 2), (x, y), nn.CrossEntropyLoss(), steps=5, lr_find="no")


def test_numpy_integer_steps_are_steps():
    """``steps=np.int64(5)`` was refused as 'not an integer in [1, inf)'."""
    np = pytest.importorskip("numpy")
    x, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    found = diagnose(nn.Linear(3, 2), (x, y), nn.CrossEntropyLoss(), steps=np.int64(5), lr_find=False)
    assert found.to_dict()["steps"] == 5


def test_a_compiled_model_is_diagnosed_as_the_module_it_compiled():
    """``diagnose(torch.compile(model), ...)`` failed at its first batch ('Cannot copy out of meta
    tensor', blamed on the batch): dynamo traced through the doctor's hooks and structural copy. The
    diagnosis of the wrapper is now that of the module it wraps, the same parameters, step by step."""
    x, y = torch.randn(128, 3), torch.randint(0, 2, (128,))

    def diagnosis(compiled: bool) -> dict:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        given = torch.compile(model, backend="eager") if compiled else model
        found = diagnose(given, (x, y), nn.CrossEntropyLoss(), steps=5, lr_find=False).to_dict()
        return {key: found[key] for key in ("findings", "steps", "layers")}

    assert diagnosis(compiled=True) == diagnosis(compiled=False)
    # the recipe fields of optimlab's model under the wrapper: the model's own (the doctor's advice reads them)
    created = optimlab.models.create("mlp", (3,), 2, width=4, depth=1)
    assert "model.init" in optimlab.models.recipe_fields(created)
    assert optimlab.models.recipe_fields(torch.compile(created)) == optimlab.models.recipe_fields(created)


def test_a_batch_size_beside_a_dataloader_is_refused_before_any_step():
    """``diagnose(model, loader, batch_size=8)`` read the loader's own 16-row batches without a word:
    the batch size asked for was not the one diagnosed. Refused now, as fit and find_lr refuse it."""
    x, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    model = nn.Linear(3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    with pytest.raises(InvalidValueError, match="invalid value 8 for batch_size: accepted left unset beside"):
        diagnose(model, loader, nn.CrossEntropyLoss(), steps=5, batch_size=8)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert diagnose(model, loader, nn.CrossEntropyLoss(), steps=5, lr_find=False).to_dict()["steps"] == 5
    tensors = diagnose(model, (x, y), nn.CrossEntropyLoss(), steps=5, batch_size=8, lr_find=False)
    assert tensors.to_dict()["steps"] == 5


class FreezesTheFirstLayer(optimlab.train.Callback):
    """Freezes the model's first layer (``requires_grad_(False)``) after step 19: its gradient is None
    from step 20 on, as a backbone's frozen for fine-tuning."""

    def __init__(self, model: nn.Module):
        self.model = model

    def on_step_end(self, state):
        if state.step == 19:
            self.model[0].requires_grad_(False)


def test_a_layer_frozen_mid_fit_ends_the_record_before_its_step_in_one_warning():
    """A fit whose callback froze layer 0 at step 20 was told 'Vanishing gradients: 0 (Linear) gets 0 of
    ...': its missing gradient read as a norm of 0. The record ends before step 20, with one warning
    naming the step and the parameters; its 19 steps and findings are those of the same run without
    the freeze (the truth)."""

    def run(steps, freezes):
        torch.manual_seed(0)
        model = mlp()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        doctor = DoctorCallback(model, optimizer)
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            fit(
                model,
                optimizer,
                *standardized(),
                loss_fn=nn.CrossEntropyLoss(),
                total_steps=steps,
                batch_size=32,
                callbacks=[FreezesTheFirstLayer(model), doctor] if freezes else [doctor],
            )
        told = [str(w.message) for w in warned if issubclass(w.category, optimlab.errors.OptimlabWarning)]
        return doctor, told

    changed, told = run(40, freezes=True)
    unchanged, _ = run(19, freezes=False)
    assert told == [
        "optimlab doctor: the parameters the optimizer trains changed at step 20 (frozen: 0.weight, "
        "0.bias); the diagnosis reads the 19 steps before, those of the parameters watched"
    ]
    assert changed.statistics.steps == unchanged.statistics.steps == list(range(1, 20))
    assert changed.statistics.losses == unchanged.statistics.losses
    assert torch.equal(changed.statistics.layer_grad_norms(), unchanged.statistics.layer_grad_norms())
    found = [(f.rule, f.title) for f in changed.diagnosis().findings]
    assert found == [(f.rule, f.title) for f in unchanged.diagnosis().findings]
    assert "vanishing_gradients" not in [rule for rule, _ in found]


@pytest.mark.parametrize(("head_lr", "rule"), [(3.0, "lr_too_high"), (1e-8, "lr_too_low")])
def test_a_backbone_frozen_by_lr_0_leaves_the_lr_rules_reading_the_head_the_range_test_swept(head_lr, rule):
    """A backbone at lr 0 before a head (torch's way to freeze by the optimizer): the run recorded group
    0's lr, 0, while the range test swept group 1's. At a head lr of 3 lr_too_high's target, a tenth of
    0, raised ZeroDivisionError, and at 1e-8 lr_too_low's ratio to 0 did. Truth: the head's lr, which
    torch's SGD steps it by, and the check's suggestion."""
    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.randn(4, 1, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "lr": 0.0}, {"params": model[1].parameters(), "lr": head_lr}]
    )
    diagnosis = diagnose(model, (x, y), nn.MSELoss(), optimizer, steps=60, batch_size=256)
    assert set(diagnosis.statistics.lrs) == {head_lr}
    suggestion = diagnosis.lr_range.suggestion
    assert suggestion is not None and 0.1 < suggestion < 1.0  # where the range test trained the head
    (found,) = [f for f in diagnosis.findings if f.rule in ("lr_too_high", "lr_too_low")]
    assert (
        found.rule == rule
        and found.recommendation == f"lr={suggestion:.3g} in the optimizer, from the range test"
    )


def test_an_optimizer_with_every_group_at_lr_0_gets_no_lr_advice_and_no_crash():
    """Every group at lr 0: the optimizer trains nothing, and no lr scales 0. lr_too_low advised 'lr: 0,
    its peak, over the whole run'; lr_too_high, where a batch's noise reads as a rise, divided by its
    target, a tenth of 0."""
    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.randn(4, 1, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    diagnosis = diagnose(model, (x, y), nn.MSELoss(), optimizer, steps=60, lr_find=False)
    assert set(diagnosis.statistics.lrs) == {0.0}
    assert not [f for f in diagnosis.findings if f.rule in ("lr_too_high", "lr_too_low")]


def test_the_callback_records_the_lr_of_the_group_fit_trains_not_a_frozen_group_0():
    """DoctorCallback recorded fit's state.lr, param group 0's: a backbone frozen at lr 0 before a head
    at lr 3 read as an lr of 0, so the head's divergence got no lr advice (and lr_too_high divided by a
    tenth of 0). Truth: the head's lr, which torch's SGD steps it by, and the same run with both groups
    at lr 3, whose advice it is."""
    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.randn(4, 1, generator=torch.Generator().manual_seed(1))

    def advice(backbone_lr: float) -> tuple[set[float], list[tuple[str, str]]]:
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))
        optimizer = torch.optim.SGD(
            [
                {"params": model[0].parameters(), "lr": backbone_lr},
                {"params": model[1].parameters(), "lr": 3.0},
            ]
        )
        doctor = DoctorCallback(model, optimizer)
        fit(model, optimizer, x, y, loss_fn=nn.MSELoss(), total_steps=60, batch_size=256, callbacks=[doctor])
        lr = [(f.rule, f.recommendation) for f in doctor.diagnosis().findings if f.rule.startswith("lr_")]
        return set(doctor.statistics.lrs), lr

    frozen, both = advice(0.0), advice(3.0)
    assert frozen[0] == both[0] == {3.0}
    assert (
        frozen[1]
        == both[1]
        == [
            (
                "lr_too_high",
                "lr=0.3 in the optimizer, a tenth of now (the lr check gives a better estimate: found = "
                "optimlab.doctor.find_lr(model, loss_fn, x, y, optimizer) before fit, then "
                "doctor.diagnosis(lr_range=found); find_lr leaves the model and optimizer as it found them)",
            )
        ]
    )
    # read plainly: the code's calls aside, one aside in parentheses, none inside another (it had three)
    prose = frozen[1][0][1]
    while (plainer := re.sub(r"[\w.]+\([^()]*\)", "CALL", prose)) != prose:
        prose = plainer
    assert re.fullmatch(r"[^()]*(\([^()]*\))?[^()]*", prose), prose


def test_a_trainers_doctor_records_an_lr_that_is_a_schedule_as_its_value_at_each_step():
    """TrainerDoctor (Lightning's and Hugging Face's) recorded the schedule itself as each step's lr.
    Truth: a hand loop calling its hooks as a trainer does, the cosine by hand at k - 1 for step k, and
    the lr each SGD update took, read off the weights it moved."""
    from optimlab.integrations.trainer_doctor import TrainerDoctor

    x, y = standardized()
    torch.manual_seed(0)
    model = nn.Linear(64, 10)
    optimizer = optimlab.optim.create(
        "sgd", model.parameters(), lr=lambda t: 0.05 * (1 + math.cos(math.pi * t / 10))
    )
    doctor = TrainerDoctor(print_findings=False)
    doctor.start(model, optimizer, 0)
    taken = []
    for step in range(1, 7):
        loss = nn.functional.cross_entropy(model(x[:64]), y[:64])
        optimizer.zero_grad()
        loss.backward()
        before, grad = model.weight.detach().clone(), model.weight.grad.detach().clone()
        doctor.before_optimizer_step(optimizer)
        optimizer.step()
        doctor.step_ended(step, loss.item())
        taken.append(((before - model.weight.detach()) * grad).sum().item() / (grad * grad).sum().item())
    by_hand = [0.05 * (1 + math.cos(math.pi * (k - 1) / 10)) for k in range(1, 7)]
    assert doctor.instruments.statistics.lrs == pytest.approx(by_hand, rel=1e-12)
    assert taken == pytest.approx(by_hand, rel=1e-4)


class LogitsAndAux(nn.Module):
    """A classifier whose forward returns (logits, aux): an auxiliary penalty beside its scores."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(x)
        return logits, logits.pow(2).mean()


def test_a_model_returning_logits_and_an_aux_value_is_told_its_output_not_its_batch_is_refused():
    """A forward returning (logits, aux) given nn.CrossEntropyLoss: the refusal named the batch, 'for the
    first batch: accepted a batch the model and the loss can use', though the batch is sound. Truth: torch's
    cross_entropy refuses the tuple itself (TypeError), and the same batches train once compute_loss picks
    the logits."""
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    model = LogitsAndAux()
    with pytest.raises(TypeError, match="must be Tensor, not tuple"):
        nn.functional.cross_entropy(model(x), y)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with pytest.raises(InvalidValueError) as refused:
        diagnose(model, (x, y), nn.CrossEntropyLoss(), optimizer, steps=4, batch_size=32, lr_find=False)
    said = str(refused.value)
    assert said.startswith(
        "invalid value 'a tuple of 2 (float32 (32, 3), float32 ())' for the model's output"
    )
    assert "compute_loss=" in said and "batch" not in said.split(":")[0] and "\n" not in said

    def picked(model: nn.Module, batch: Any) -> torch.Tensor:
        return nn.functional.cross_entropy(model(batch[0])[0], batch[1])

    diagnosis = diagnose(
        model, (x, y), compute_loss=picked, optimizer=optimizer, steps=4, batch_size=32, lr_find=False
    )
    assert len(diagnosis.statistics.steps) == 4


def test_an_optimizer_under_a_warmup_scheduler_is_watched_at_the_lr_given_not_the_warmups_first():
    """Adam at 0.01 with a linear warmup (LambdaLR, step / 1000) made beside it, given to diagnose, which
    steps no scheduler: the watched run kept the warmup's first lr, 0, for all its steps, training nothing,
    and no finding said so. Truth: the scheduler's base_lrs (0.01) is each watched step's lr, as the range
    test sweeps and diagnose_recipe watches; the optimizer and the scheduler are left as they were (lr 0,
    then the warmup's next value, 1e-5)."""
    x, y = torch.randn(64, 8), (torch.randn(64) > 0).long()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: step / 1000)
    diagnosis = diagnose(
        model, (x, y), nn.CrossEntropyLoss(), optimizer, steps=6, batch_size=32, lr_find=False
    )
    assert diagnosis.statistics.lrs == [scheduler.base_lrs[0]] * 6 == [0.01] * 6
    assert optimizer.param_groups[0]["lr"] == 0.0
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr() == [pytest.approx(1e-5, rel=1e-12)]


LOADERS_OF_DICTS = """
import torch
from torch.utils.data import DataLoader


def loaders():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 4, generator=g), torch.arange(96) % 2
    items = [{"x": x[i], "labels": y[i]} for i in range(96)]
    return DataLoader(items[:64], batch_size=16), DataLoader(items[64:], batch_size=16)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.linear(x)
"""


def test_a_recipe_of_dataloaders_of_dict_batches_is_diagnosed_in_their_own_batches(write_modules):
    """optimlab doctor and lr-find on a data factory returning (train, val) DataLoaders of dict batches
    refused 'invalid value 32 for batch_size: accepted left unset beside a DataLoader' though nobody set
    one: the doctor passed the recipe's batch size, which train leaves to the loaders. Truth: train
    takes the same recipe (its steps, the loaders' 4 batches an epoch), and so does the doctor."""
    from optimlab.doctor import diagnose_recipe, find_lr_recipe
    from optimlab.recipe import Recipe
    from optimlab.train import train

    write_modules(doctor_dict_loaders=LOADERS_OF_DICTS)
    recipe = Recipe.from_dict(
        {
            "data": {"name": "doctor_dict_loaders:loaders"},
            "model": {"name": "doctor_dict_loaders:Net"},
            "training": {"epochs": 1, "loss": "cross_entropy"},
        }
    )
    assert train(recipe).steps == 4
    assert diagnose_recipe(recipe, steps=3, lr_find=False).lr_range is None
    assert len(find_lr_recipe(recipe, steps=5, check_steps=2).lrs) == 5


def test_a_loss_that_batch_noise_alone_moves_is_told_no_progress_not_a_plateau_to_decay():
    """SGD at lr 1e-4 on a linear regression: the watched loss's first batch was 13.4, its last tenth
    11.3, so the 'fell by 10%' gate (first batch against the end) passed on noise, and the doctor told
    'Plateau ... improved by only -2.5%', fix: a cosine decay of an lr already 1000x too small. The
    levels are now the first and last tenths' means, and a fall must pass their scatter: 'No progress',
    run the lr check. Truth: the same 100 steps leave the full-data loss within 10% of its start, and
    at lr 0.1 take it under 1% of it."""
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
    torch.manual_seed(0)
    model = nn.Linear(8, 1)

    def trained(lr: float) -> float:
        copied = copy.deepcopy(model)
        optimizer = torch.optim.SGD(copied.parameters(), lr=lr)
        order = torch.randperm(512, generator=torch.Generator().manual_seed(1))
        for step in range(100):
            rows = order[(step % 8) * 64 : (step % 8 + 1) * 64]
            optimizer.zero_grad()
            nn.functional.mse_loss(copied(x[rows]), y[rows]).backward()
            optimizer.step()
        with torch.no_grad():
            return nn.functional.mse_loss(copied(x), y).item()

    with torch.no_grad():
        before = nn.functional.mse_loss(model(x), y).item()
    assert abs(trained(1e-4) - before) < 0.1 * before and trained(0.1) < 0.01 * before
    found = optimlab.doctor.diagnose(
        model, (x, y), nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=1e-4), steps=100, lr_find=False
    )
    [plateau] = [f for f in found.findings if f.rule == "plateau"]
    assert plateau.title.startswith("No progress") and "lr check" in plateau.recommendation
    assert "schedule.name" not in plateau.recipe_changes and "cosine" not in plateau.recommendation.lower()


def test_integer_targets_under_a_regression_loss_are_read_as_the_same_numbers_in_floats():
    """int64 targets under nn.MSELoss (prices rounded, y ~ 519 +- 179) were read as class labels: the
    doctor told 'Exploding gradients' (clip, lower the lr) where the same targets as floats are told
    'Unscaled targets: RMS 549' (standardize them), and the lr check scored its candidates by 'held-out
    accuracy'. Under torch's regression losses the targets are numbers whatever their dtype (fit's
    evaluation reads them so, techniques.losses.regression_loss). Truth: torch's MSELoss gives the
    int64 targets the float targets' loss, and the same call with floats gives the same advice."""
    torch.manual_seed(0)
    x = torch.randn(200, 3)
    y = (x.sum(1, keepdim=True) * 100 + 500).round()
    outputs = torch.randn(200, 1)
    assert nn.MSELoss()(outputs, y.long()).item() == nn.MSELoss()(outputs, y).item()

    def told(targets: torch.Tensor) -> tuple[list[tuple[str, str]], str | None, list[float | None]]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        found = optimlab.doctor.diagnose(
            model, (x, targets), nn.MSELoss(), optimizer, steps=40, lr_find=False
        )
        checked = optimlab.doctor.find_lr(model, nn.MSELoss(), x, targets, steps=30, check_steps=20)
        rules = [(f.rule, f.recommendation) for f in found.problems]
        return rules, checked.metric, [c.score for c in checked.candidates]

    as_floats, as_integers = told(y), told(y.long())
    assert as_floats[0][0][0] == "target_scale" and as_floats[1] == "loss"
    assert as_integers == as_floats


def test_integer_targets_a_final_relu_cannot_reach_are_told_as_the_same_floats_are():
    """output_range read float targets only: integer targets under nn.MSELoss, half of them negative, of
    a model ending in ReLU were told nothing of the outputs that cannot reach them, where the same
    targets as floats are. Truth: torch's MSELoss reads both alike, and the same call with floats says
    output_range."""
    torch.manual_seed(0)
    x = torch.randn(256, 4)
    y = (3 * x.sum(1, keepdim=True)).round()
    assert nn.MSELoss()(x[:, :1], y.long()).item() == nn.MSELoss()(x[:, :1], y).item()

    def problems(targets: torch.Tensor) -> list[tuple[str, str]]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1), nn.ReLU())
        optimizer = torch.optim.Adam(model.parameters(), 1e-3)
        found = optimlab.doctor.diagnose(
            model, (x, targets), nn.MSELoss(), optimizer, steps=20, lr_find=False
        )
        return [(f.rule, f.recommendation) for f in found.problems]

    as_floats = problems(y)
    assert "output_range" in {rule for rule, _ in as_floats}
    assert problems(y.long()) == as_floats
