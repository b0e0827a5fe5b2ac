"""A run resumed after its model's code changed is refused: where the new model's tensors have the old
names and shapes (ReLU swapped for GELU), its weights loaded and the run went on as another model."""

import copy

import pytest
import torch
from torch import nn

from optimlab.errors import OptimlabError
from optimlab.train.callbacks import EarlyStopping, StopOnSignal
from optimlab.train.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from optimlab.train.loop import TrainState


def net(activation: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(nn.Linear(3, 4), activation(), nn.Linear(4, 2))


def saved(tmp_path, model: nn.Module) -> dict:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(tmp_path, model=model, optimizer=optimizer, scheduler=None, state=TrainState(step=3))
    return read_checkpoint(tmp_path)


def load_into(payload: dict, model: nn.Module) -> TrainState:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    return load_checkpoint(payload, model=model, optimizer=optimizer, scheduler=None)


def test_a_checkpoint_resumes_into_the_same_architecture_with_its_weights(tmp_path):
    trained, fresh = net(nn.ReLU), net(nn.ReLU)
    state = load_into(saved(tmp_path, trained), fresh)
    assert state.step == 3 and torch.equal(fresh[0].weight, trained[0].weight)


def test_a_checkpoint_saved_into_a_folder_not_yet_made_makes_it(tmp_path):
    """save_checkpoint into a folder that did not exist raised FileNotFoundError naming a hidden
    '.checkpoint.pt.<hex>.partial' the user never chose; the folder is made, as train makes its --out.
    Truth: the weights read back into a fresh model equal the saved ones."""
    trained, fresh = net(nn.ReLU), net(nn.ReLU)
    state = load_into(saved(tmp_path / "runs" / "first", trained), fresh)
    assert state.step == 3 and torch.equal(fresh[2].weight, trained[2].weight)


def test_a_checkpoint_of_another_optimizer_is_refused_naming_what_its_state_holds(tmp_path):
    """An SGD-with-momentum checkpoint loaded into an Adam said only "does not fit the recipe's optimizer:
    'step'" (torch's KeyError; and a library fit has no recipe). The refusal names the state's own keys
    and the optimizer given, torch's reason beside them, where the checkpoint names no class; where it
    names one, both classes, before anything is loaded: the fresh model keeps its weights."""
    trained, fresh = net(nn.ReLU), net(nn.ReLU)
    momentum = torch.optim.SGD(trained.parameters(), lr=0.1, momentum=0.9)
    trained(torch.ones(2, 3)).sum().backward()
    momentum.step()
    save_checkpoint(tmp_path, model=trained, optimizer=momentum, scheduler=None, state=TrainState(step=1))
    payload, weights = read_checkpoint(tmp_path), copy.deepcopy(fresh.state_dict())
    with pytest.raises(OptimlabError) as refused:
        load_checkpoint(payload, model=fresh, optimizer=torch.optim.Adam(fresh.parameters()), scheduler=None)
    assert str(refused.value) == (
        "the checkpoint's optimizer state was saved by SGD, which does not fit an Adam; resume with the "
        "optimizer and parameter groups it was saved with"
    )
    assert all(torch.equal(weights[name], tensor) for name, tensor in fresh.state_dict().items())
    del payload["optimizer_class"]  # as written before it was kept
    with pytest.raises(OptimlabError) as refused:
        load_checkpoint(payload, model=fresh, optimizer=torch.optim.Adam(fresh.parameters()), scheduler=None)
    assert str(refused.value) == (
        "the checkpoint's optimizer state (each parameter's momentum_buffer) does not fit an Adam (KeyError: "
        "'step'); resume with the optimizer and parameter groups it was saved with"
    )


@pytest.mark.parametrize("written", ["now", "before the class was kept"])
def test_a_checkpoint_of_another_optimizer_whose_state_loads_is_refused_naming_both(tmp_path, written):
    """An Adam checkpoint loaded into SGD(momentum=0.9) loaded silently (torch's load_state_dict took
    Adam's parameter groups whole: its lr), then the first step raised a bare KeyError 'momentum'; an
    AdamW given Adam's groups would have run as Adam. Refused in one line naming both optimizers (and,
    of a checkpoint that names no class, the hyperparameters its groups lack). Truth: torch's own step of
    the SGD so loaded raises KeyError; the same class still resumes."""
    trained = net(nn.ReLU)
    adam = torch.optim.Adam(trained.parameters())
    trained(torch.ones(2, 3)).sum().backward()
    adam.step()
    save_checkpoint(tmp_path, model=trained, optimizer=adam, scheduler=None, state=TrainState(step=1))
    payload = read_checkpoint(tmp_path)
    if written != "now":
        del payload["optimizer_class"]
    fresh = net(nn.ReLU)
    sgd = torch.optim.SGD(fresh.parameters(), lr=0.1, momentum=0.9)
    weights, groups = copy.deepcopy(fresh.state_dict()), copy.deepcopy(sgd.state_dict()["param_groups"])
    with pytest.raises(OptimlabError) as refused:
        load_checkpoint(payload, model=fresh, optimizer=sgd, scheduler=None)
    # refused before the model was loaded, the optimizer's own groups given back
    assert all(torch.equal(weights[name], tensor) for name, tensor in fresh.state_dict().items())
    assert sgd.state_dict()["param_groups"] == groups
    saved_by = (
        "Adam" if written == "now" else "another optimizer (its parameter groups lack dampening, momentum)"
    )
    assert str(refused.value) == (
        f"the checkpoint's optimizer state was saved by {saved_by}, which does not fit an SGD; resume with "
        "the optimizer and parameter groups it was saved with"
    )
    fresh(torch.ones(2, 3)).sum().backward()
    sgd.load_state_dict(payload["optimizer"])  # as torch loads it
    with pytest.raises(KeyError, match="momentum"):
        sgd.step()  # what the run met at its first step
    if written == "now":
        with pytest.raises(OptimlabError, match="saved by Adam, which does not fit an AdamW"):
            load_checkpoint(
                payload, model=fresh, optimizer=torch.optim.AdamW(fresh.parameters()), scheduler=None
            )
    resumed = torch.optim.Adam(fresh.parameters())
    assert load_checkpoint(payload, model=fresh, optimizer=resumed, scheduler=None).step == 1
    assert torch.equal(resumed.state_dict()["state"][0]["exp_avg"], adam.state_dict()["state"][0]["exp_avg"])


def saved_with_callbacks(tmp_path, callbacks: list) -> tuple[nn.Module, torch.optim.Optimizer]:
    model = net(nn.ReLU)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint(
        tmp_path, model=model, optimizer=optimizer, scheduler=None, state=TrainState(), callbacks=callbacks
    )
    return model, optimizer


def early_stopping_seen(best: float, bad_evaluations: int) -> EarlyStopping:
    early = EarlyStopping("val_loss", patience=3)
    early.best, early.bad_evaluations = best, bad_evaluations
    return early


@pytest.mark.parametrize("written", ["now", "before the types were kept"])
def test_a_checkpoint_resumed_with_other_callbacks_than_it_was_saved_with_is_refused_by_count(
    tmp_path, written
):
    """save_checkpoint(callbacks=[early]) loaded with no callback, or two, raised zip()'s bare "argument 2 is
    longer than argument 1". The refusal counts both; the saved callback's state still loads into one."""
    model, optimizer = saved_with_callbacks(tmp_path, [early_stopping_seen(0.5, 2)])
    payload = read_checkpoint(tmp_path)
    if written != "now":
        del payload["callback_types"]
    for given, words in (
        ([], "0 callbacks"),
        ([EarlyStopping("val_loss"), EarlyStopping("val_loss")], "2 callbacks"),
    ):
        with pytest.raises(OptimlabError, match=rf"states of 1 callback \(?.*, but {words} .*were given"):
            load_checkpoint(payload, model=model, optimizer=optimizer, scheduler=None, callbacks=given)
    again = EarlyStopping("val_loss", patience=3)
    load_checkpoint(payload, model=model, optimizer=optimizer, scheduler=None, callbacks=[again])
    assert (again.best, again.bad_evaluations) == (0.5, 2)


def test_each_callbacks_state_goes_back_to_a_callback_of_its_type(tmp_path):
    """Only the count was checked though the refusal said "in that order": [StopOnSignal(), EarlyStopping]
    saved and given as [EarlyStopping, StopOnSignal()] raised a bare KeyError 'best', and [EarlyStopping]'s
    state given to [StopOnSignal()] was dropped. Each state is kept with its callback's type: given in
    another order, each gets its own (truth: the values set before the save, two EarlyStoppings each
    theirs); another type is refused naming both."""
    model, optimizer = saved_with_callbacks(
        tmp_path, [StopOnSignal(), early_stopping_seen(0.5, 2), early_stopping_seen(0.25, 1)]
    )
    first, second = EarlyStopping("val_loss"), EarlyStopping("val_loss")
    load_checkpoint(
        read_checkpoint(tmp_path), model=model, optimizer=optimizer, scheduler=None,
        callbacks=[first, StopOnSignal(), second],
    )  # fmt: skip
    assert [(c.best, c.bad_evaluations) for c in (first, second)] == [(0.5, 2), (0.25, 1)]
    saved_with_callbacks(tmp_path, [early_stopping_seen(0.5, 2)])
    with pytest.raises(OptimlabError) as refused:
        load_checkpoint(
            read_checkpoint(tmp_path),
            model=model,
            optimizer=optimizer,
            scheduler=None,
            callbacks=[StopOnSignal()],
        )
    assert str(refused.value) == (
        "the checkpoint holds the states of 1 callback (EarlyStopping: save_checkpoint's callbacks), but 1 "
        "callback (StopOnSignal) was given to resume: give the callbacks it was saved with"
    )


def test_a_checkpoint_keeps_no_tracker_failures_a_resumed_fit_would_throw_away(tmp_path):
    """Checkpoints stored the state's tracker_failures, which fit throws away as it starts (a fit's are its
    own trackers', 393eb754): a field written and never read. It is no longer kept, and an older
    checkpoint's is left out of the state it loads. Truth: the checkpoint's own payload, the other fields
    read back as saved."""
    model = net(nn.ReLU)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = TrainState(step=4, train_loss=0.25, tracker_failures=["MLflow stopped sending at step 3"])
    save_checkpoint(tmp_path, model=model, optimizer=optimizer, scheduler=None, state=state)
    payload = read_checkpoint(tmp_path)
    assert "tracker_failures" not in payload["state"]
    payload["state"]["tracker_failures"] = ["an older session's failure"]  # as an older checkpoint kept it
    loaded = load_checkpoint(payload, model=model, optimizer=optimizer, scheduler=None)
    assert (loaded.step, loaded.train_loss, loaded.tracker_failures) == (4, 0.25, [])


def test_a_checkpoint_refuses_a_model_whose_modules_changed_with_the_same_tensors(tmp_path):
    payload = saved(tmp_path, net(nn.ReLU))  # (3 + 1) x 4 + (4 + 1) x 2 parameters
    with pytest.raises(
        OptimlabError, match=r"the same 26 parameters as it was trained with, in other modules"
    ):
        load_into(payload, net(nn.GELU))


def test_a_checkpoint_written_before_structures_were_kept_still_resumes(tmp_path):
    payload = saved(tmp_path, net(nn.ReLU))
    del payload["structure"]
    assert load_into(payload, net(nn.GELU)).step == 3  # nothing to compare with: loaded as before


def _with_scheduler(model: nn.Module, kind: str | None) -> tuple[torch.optim.Optimizer, object]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedulers = {
        None: lambda: None,
        "step": lambda: torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5),
        "lambda": lambda: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step)),
        "cosine": lambda: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10),
        "exponential": lambda: torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9),
    }
    return optimizer, schedulers[kind]()


@pytest.mark.parametrize(
    ("saved_with", "given", "said"),
    [
        (
            None,
            "lambda",
            "saved with no scheduler, but a LambdaLR was given to resume it: resume with scheduler=None",
        ),
        (
            "step",
            None,
            "saved with a StepLR scheduler, but none was given to resume it: resume with the StepLR",
        ),
        (
            "step",
            "lambda",
            "saved with a StepLR scheduler, but a LambdaLR was given to resume it: resume with the StepLR",
        ),
        (
            "step",
            "cosine",
            "saved with a StepLR scheduler, but a CosineAnnealingLR was given to resume it: resume with the "
            "StepLR",
        ),
        (
            "step",
            "exponential",
            "saved with a StepLR scheduler, but an ExponentialLR was given to resume it: resume with the "
            "StepLR",
        ),
        (
            "lambda",
            "step",
            "saved with a LambdaLR scheduler, but a StepLR was given to resume it: resume with the LambdaLR",
        ),
    ],
)
def test_a_checkpoint_resumed_with_another_scheduler_is_refused_by_name(tmp_path, saved_with, given, said):
    """load_checkpoint loaded a StepLR's state into a CosineAnnealingLR or an ExponentialLR, and a
    LambdaLR's into a StepLR, in silence (torch takes another class's state whole; a StepLR's into a
    LambdaLR alone raised torch's KeyError 'lr_lambdas'), and ignored a scheduler given where none was
    saved or none given where one was: the rate restarted or the schedule was lost in silence. Each is
    refused as another optimizer class is, before the model and the optimizer are loaded (they were left
    overwritten); a checkpoint written before the class was kept (its StepLR, no scheduler_class) still
    loads, its step count torch's own. Truth: the model's weights and the optimizer's state as given."""
    trained = net(nn.ReLU)
    optimizer, scheduler = _with_scheduler(trained, saved_with)
    for _ in range(3):
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    save_checkpoint(
        tmp_path, model=trained, optimizer=optimizer, scheduler=scheduler, state=TrainState(step=3)
    )
    payload = read_checkpoint(tmp_path)
    fresh = net(nn.ReLU)
    resumed_optimizer, resumed_scheduler = _with_scheduler(fresh, given)
    weights, groups = copy.deepcopy(fresh.state_dict()), copy.deepcopy(resumed_optimizer.param_groups)
    with pytest.raises(OptimlabError) as refused:
        load_checkpoint(payload, model=fresh, optimizer=resumed_optimizer, scheduler=resumed_scheduler)
    assert said in str(refused.value)
    assert all(torch.equal(weights[name], tensor) for name, tensor in fresh.state_dict().items())
    assert [
        {k: v for k, v in group.items() if k != "params"} for group in resumed_optimizer.param_groups
    ] == [{k: v for k, v in group.items() if k != "params"} for group in groups]
    assert not resumed_optimizer.state
    if saved_with == "step":
        payload.pop("scheduler_class")  # as written before it was kept
        resumed_optimizer, resumed_scheduler = _with_scheduler(fresh, "step")
        load_checkpoint(payload, model=fresh, optimizer=resumed_optimizer, scheduler=resumed_scheduler)
        assert resumed_scheduler.last_epoch == scheduler.last_epoch == 3
        assert resumed_scheduler.get_last_lr() == scheduler.get_last_lr() == [0.05]
