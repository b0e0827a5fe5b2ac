"""Which setting the Hugging Face doctor advises for the lr: the Trainer's ``learning_rate`` where the
Trainer made its optimizer, the optimizer's own lr where the user gave it, told apart for a callback the
Trainer's init did not tell."""

from __future__ import annotations

import inspect
import re

import pytest
import torch
from transformers import Trainer
from transformers.optimization import get_constant_schedule

import integrations.test_huggingface
from integrations.test_huggingface import Sentences, tiny_bert, trainer
from optimlab.integrations.huggingface import DoctorCallback


def grouped_as_transformers_does(run, model):
    """The two parameter groups of transformers' own recipe (and ``Trainer.create_optimizer``)."""
    decay = set(run.get_decay_parameter_names(model))
    named = list(model.named_parameters())
    return [
        {"params": [p for n, p in named if n in decay], "weight_decay": run.args.weight_decay},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]


def advised_lr_setting(run, doctor):
    run.train()
    (changes,) = [f.recipe_changes for f in doctor.diagnosis.findings if f.rule == "lr_too_high"]
    return list(changes)


def test_a_users_optimizer_grouped_as_the_trainers_is_not_advised_as_its_learning_rate():
    """A user's AdamW grouped exactly as Trainer.create_optimizer groups (decay / no decay, at
    args.learning_rate), given with its scheduler to a Trainer whose DoctorCallback came by add_callback,
    was taken for the Trainer's own and advised 'TrainingArguments.learning_rate', which does not reach
    it; so was one given to a second Trainer the callback had been told about by the first's init (the
    Trainer made the first's optimizer). Truth: transformers makes a scheduler only where it was given
    none (and never an optimizer for a given scheduler): the optimizer's own lr is the knob."""
    data = Sentences(n=32)
    settings = {"learning_rate": 1.0, "lr_scheduler_type": "constant", "max_grad_norm": 0.0}
    model, doctor = tiny_bert(layers=1), DoctorCallback(print_findings=False)
    first = trainer(model, data, 3, (None, None), [doctor], **settings)  # told: the Trainer makes it
    own = torch.optim.AdamW(grouped_as_transformers_does(first, model), lr=1.0)
    second = trainer(model, data, 4, (own, get_constant_schedule(own)), **settings)
    second.add_callback(doctor)
    assert advised_lr_setting(second, doctor) == []  # the optimizer's own lr, said as torch code: no key
    assert advised_lr_setting(first, doctor) == ["TrainingArguments.learning_rate"]


class OwnSchedule(Trainer):
    """A common customisation: the Trainer's optimizer, one's own schedule (transformers' flag unset)."""

    def create_scheduler(self, num_training_steps, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = get_constant_schedule(self.optimizer if optimizer is None else optimizer)
        return self.lr_scheduler


class CallsTransformersSchedule(Trainer):
    """A subclass whose create_scheduler does something around transformers' own (which sets the flag)."""

    def create_scheduler(self, num_training_steps, optimizer=None):
        return super().create_scheduler(num_training_steps, optimizer)


class SchedulesOnItsOwnWhenConstant(Trainer):
    """Its own constant schedule in one branch, transformers' (super()) in the other."""

    def create_scheduler(self, num_training_steps, optimizer=None):
        if self.args.lr_scheduler_type == "constant":
            self.lr_scheduler = get_constant_schedule(self.optimizer if optimizer is None else optimizer)
            return self.lr_scheduler
        return super().create_scheduler(num_training_steps, optimizer)


def test_a_trainer_subclass_calling_transformers_scheduler_given_an_optimizer_is_told_its_lr(monkeypatch):
    """A Trainer subclass overriding create_scheduler but calling transformers' own (super()), given the
    user's AdamW grouped as the Trainer's with its scheduler, its DoctorCallback by add_callback: advised
    'TrainingArguments.learning_rate' alone (5d1497de read the flag only under transformers' own method),
    which does not reach the optimizer given. Truth: the optimizer was the user's, so the advice must name
    its lr; an override may not run transformers' method (the next test), so it names both."""
    monkeypatch.setattr(integrations.test_huggingface, "Trainer", CallsTransformersSchedule)
    data, model, doctor = Sentences(n=32), tiny_bert(layers=1), DoctorCallback(print_findings=False)
    settings = {"learning_rate": 1.0, "lr_scheduler_type": "constant", "max_grad_norm": 0.0}
    own = torch.optim.AdamW(
        grouped_as_transformers_does(trainer(model, data, 3, (None, None)), model), lr=1.0
    )
    run = trainer(model, data, 3, (own, get_constant_schedule(own)), **settings)
    run.add_callback(doctor)
    assert advised_lr_setting(run, doctor) == ["TrainingArguments.learning_rate"]
    (advice,) = [f.recommendation for f in doctor.diagnosis.findings if f.rule == "lr_too_high"]
    assert advice.startswith("TrainingArguments.learning_rate=0.1 (lr=0.1 in your optimizer instead, if")


@pytest.mark.parametrize(
    "subclass", [OwnSchedule, SchedulesOnItsOwnWhenConstant], ids=["own schedule", "own in one branch"]
)
def test_a_trainer_subclass_scheduling_on_its_own_is_told_the_learning_rate(monkeypatch, subclass):
    """A Trainer subclass whose create_scheduler makes its own schedule (always, or when lr_scheduler_type
    is 'constant' and by super() otherwise), given no optimizer (the Trainer makes it from learning_rate),
    its DoctorCallback by add_callback: the Trainer made the optimizer, so the advice names learning_rate
    (a4c1eb97 advised 'optimizer.lr' alone in the one-branch case, trusting the unset flag beside an
    override calling create_scheduler). The one case a callback added after the init cannot tell from it,
    an optimizer given to such a subclass grouped as the Trainer's, is said in the advice itself."""
    monkeypatch.setattr(integrations.test_huggingface, "Trainer", subclass)
    model, doctor = tiny_bert(layers=1), DoctorCallback(print_findings=False)
    settings = {"learning_rate": 1.0, "lr_scheduler_type": "constant", "max_grad_norm": 0.0}
    run = trainer(model, Sentences(n=32), 3, (None, None), **settings)
    run.add_callback(doctor)
    assert advised_lr_setting(run, doctor) == ["TrainingArguments.learning_rate"]
    (advice,) = [f.recommendation for f in doctor.diagnosis.findings if f.rule == "lr_too_high"]
    assert advice.startswith("TrainingArguments.learning_rate=0.1 (lr=0.1 in your optimizer instead, if")


def test_the_schedule_is_advised_as_the_scheduler_the_trainer_steps():
    """A Trainer's user was told torch's loop words for the cosine schedule ('scheduler.step() after each
    optimizer.step()'), a step the Trainer takes: it is told TrainingArguments.lr_scheduler_type='cosine'
    (or the scheduler given beside the optimizer), no recipe_changes. Truth: a real Trainer so set makes
    a scheduler that ends its 4 steps at lr 0."""
    from optimlab.doctor.findings import TORCH_CALLS, Finding, advised_as
    from optimlab.integrations.huggingface import _arguments_set

    model = tiny_bert(layers=1)
    made = trainer(model, Sentences(n=32), 4, (None, None), learning_rate=0.1, lr_scheduler_type="cosine")
    made.create_optimizer_and_scheduler(num_training_steps=4)
    fields = _arguments_set(made.args, model, made.optimizer, trainer_made=True)
    plateau = Finding(
        "plateau", "warning", "", "", "schedule: cosine (decay the lr)", {"schedule.name": "cosine"}
    )
    told = advised_as(plateau, {**TORCH_CALLS, **fields})
    assert told.recommendation.startswith("TrainingArguments.lr_scheduler_type='cosine' (or, where you give")
    assert told.recipe_changes == {} and "scheduler.step()" not in told.recommendation
    for _ in range(4):
        made.optimizer.step()
        made.lr_scheduler.step()
    assert made.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_advice_that_sets_no_value_names_the_learning_rate_and_the_range_test_of_the_trainer():
    """A Trainer's run whose loss blew up was told 'lr: lower it' and, for an lr read without a range
    test, 'a tenth of now (optimlab lr-find gives a better estimate)': a recipe's field and a CLI verb.
    It is told the TrainingArguments field that sets the lr where the Trainer makes the optimizer, and
    this package's range test with its check. Truth: the Trainer's arguments hold learning_rate, and
    lr_range_test takes the trainer and check_steps as said: both parsed out of the printed advice."""
    from optimlab.doctor.findings import TORCH_CALLS, Finding, advised_as
    from optimlab.integrations.huggingface import _arguments_set, lr_range_test

    model = tiny_bert(layers=1)
    made = trainer(model, Sentences(n=32), 4, (None, None), learning_rate=0.1)
    made.create_optimizer_and_scheduler(num_training_steps=4)
    said = {**TORCH_CALLS, **_arguments_set(made.args, model, made.optimizer, trainer_made=True)}
    blown = Finding("nan_inf", "error", "", "", "lr: lower it (the loss blew up first)")
    check = Finding(
        "plateau",
        "warning",
        "",
        "",
        "run the lr check (optimlab doctor without --no-lr-find, or lr_find=True)",
    )
    assert (
        advised_as(blown, said).recommendation
        == "lower TrainingArguments.learning_rate (the loss blew up first)"
    )
    assert advised_as(check, said).recommendation == (
        "run the lr check (optimlab.integrations.huggingface.lr_range_test(trainer, check_steps=<steps>) "
        "before train())"
    )
    field = re.search(r"lower TrainingArguments\.(\w+)", advised_as(blown, said).recommendation)[1]
    assert getattr(made.args, field) == made.optimizer.param_groups[0]["lr"] == 0.1
    call = re.search(r"lr_range_test\(trainer, (\w+)=<steps>\)", advised_as(check, said).recommendation)
    inspect.signature(lr_range_test).bind(made, **{call[1]: 4})
