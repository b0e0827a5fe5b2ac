"""optimlab inside the Hugging Face ``Trainer``: the doctor as a ``TrainerCallback``, the LR range test of
a trainer's model and data, and optimlab's optimizers and schedules for ``Trainer(optimizers=...)``
(``pip install optimlab[transformers]``).

>>> from optimlab.integrations.huggingface import DoctorCallback  # doctest: +SKIP
>>> doctor = DoctorCallback(json_path="doctor.json")  # doctest: +SKIP
>>> Trainer(model, args, train_dataset=train, callbacks=[doctor]).train()  # doctest: +SKIP
>>> doctor.diagnosis.findings[0].recommendation  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from accelerate.state import GradientState
from torch import Tensor, nn
from torch.autograd import Variable
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import unwrap_peft_model
from transformers.utils import find_labels

from optimlab.data.user_batches import batch_target, describe
from optimlab.doctor.diagnose import Diagnosis
from optimlab.doctor.lr_check import find_lr
from optimlab.doctor.lr_find import LRRangeResult, with_notes
from optimlab.doctor.lr_find import lr_range_test as _sweep
from optimlab.errors import InvalidValueError, forwarded_keywords_checked, keywords_checked
from optimlab.integrations.trainer_doctor import Setting, TrainerDoctor, unwrapped
from optimlab.optim.learning_rate import given_lr
from optimlab.optim.user import needs_closure
from optimlab.schedules import ReduceOnPlateau, Schedule, as_lr_scheduler
from optimlab.schedules import create as create_schedule
from optimlab.train.loop import clip_grad_norm_

__all__ = ["DoctorCallback", "ScheduleFreeModes", "lr_range_test", "trainer_optimizers"]


class DoctorCallback(TrainerCallback):
    """The doctor's instruments inside ``Trainer.train()``; the findings are reported when training
    ends and kept in :attr:`diagnosis`.

    The instruments hook the model and the trainer's optimizer as :class:`optimlab.doctor.Instruments`
    does in any loop. The loss of a step is the one the model returns (``outputs["loss"]``, or a
    tuple's first element: what the Trainer's default ``compute_loss`` trains on) over the step's
    micro-batches, as the Trainer logs it: their mean, or their sum where the Trainer gave the model
    the step's count of labels (``num_items_in_batch``: a model that divides by it returns its part of
    the step's mean). It is read by a forward hook, so nothing runs twice, as are the labels of the
    step's last micro-batch (how the batches mix the data; beside its attention_mask): under the Trainer's ``label_names`` (its
    model's own label keys unless set), else ``labels`` or another key the doctor reads in its own runs (``targets``,
    :data:`~optimlab.data.user_batches.TARGET_KEYS`). Options as
    :class:`~optimlab.integrations.trainer_doctor.TrainerDoctor` (``print_findings`` on the terminal,
    ``json_path``, ``html_path``, ``schedule``, ``rule_options``, ``strict``). A change the Trainer's
    arguments make is advised as the ``TrainingArguments`` field (``learning_rate=``, ``max_grad_norm=``:
    :func:`_arguments_set`), not as optimlab's recipe field; the optimizer's (``learning_rate=``,
    ``weight_decay=``) only where the Trainer makes the optimizer, as its init tells a callback given to
    it (that Trainer's alone); one added by ``trainer.add_callback`` after is not told, and takes the
    optimizer for the Trainer's where no scheduler was given with it (under a subclass's own
    ``create_scheduler``, whatever was given) and its parameter groups are the two
    ``Trainer.create_optimizer`` builds, saying that advice is your own optimizer's where you gave one
    grouped so (:func:`_made_by`; a Trainer given ``optimizer_cls_and_kwargs`` always makes its optimizer).

    A ``train()`` that raises calls no callback on its way out (transformers has no failure event, and
    ``on_train_end`` is not in a ``finally``), so the hooks stay on the model until the next ``train()``
    takes them off, or :meth:`detach` does: call it in an ``except`` or ``finally`` around ``train()``.
    """

    @functools.partial(keywords_checked, forwards_to=TrainerDoctor.__init__)
    def __init__(self, **options: Any) -> None:
        self.doctor = TrainerDoctor(**options)  # checks the values; the names are checked above
        self._losses: list[Tensor] = []
        self._summed = False  # whether the Trainer sums the step's losses (num_items_in_batch given)
        self._labels: Any = None  # the labels of the step's last micro-batch
        self._label_names: list[str] = []  # the Trainer's label_names: the keys they are under
        self._hook: Any = None
        self._at_backward = False  # whether the gradients are read as the backward pass ends
        self._read = False  # whether they were, for this step
        # the TrainingArguments advised for each recipe field they set
        self._fields: dict[str, str | Setting] = {}
        # by the Trainers whose init told this callback: whether each makes its optimizer (given none)
        self._trainer_made: weakref.WeakKeyDictionary[Trainer, bool] = weakref.WeakKeyDictionary()

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The findings of the last run, once it ended."""
        return self.doctor.diagnosis

    def _keep_loss(self, module: nn.Module, args: Any, kwargs: dict[str, Any], output: Any) -> None:
        # as the Trainer's compute_loss reads it: a mapping's (a ModelOutput's) "loss", else the first item
        if isinstance(output, Mapping):
            loss = output.get("loss")
        elif isinstance(output, (tuple, list)) and output:
            loss = output[0]
        else:
            loss = getattr(output, "loss", None)
        if module.training and isinstance(loss, Tensor):
            # The labels of the step's last micro-batch, for how the batches mix: those whose inputs (an
            # attention_mask) the instruments' forward pre-hook holds when the step ends.
            named = [kwargs[name] for name in self._label_names if name in kwargs]
            self._labels = named[0] if named else batch_target(kwargs)
            self._summed = kwargs.get("num_items_in_batch") is not None
            self._losses.append(loss.detach())
            if self._at_backward and loss.requires_grad and GradientState().sync_gradients:
                loss.register_hook(self.doctor.guarded(self._backward_started))  # the step's last micro-batch

    def _backward_started(self, grad: Tensor) -> None:
        # run once the backward pass has ended: the gradients are whole, and not yet clipped
        Variable._execution_engine.queue_callback(self.doctor.guarded(self._backward_ended))

    def _backward_ended(self) -> None:
        self._read = True
        self.doctor.gradients_ready()

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # The Trainer's own init passes the optimizer it was given (Trainer(optimizers=(opt, ...)), None
        # where it makes one from its arguments at train()): its CallbackHandler's, transformers 4 and 5.
        # Kept for that Trainer alone: the callback given to another by add_callback is not told.
        trainer = _trainer_calling(self, kwargs.get("optimizer"))
        if trainer is not None:
            self._trainer_made[trainer] = kwargs.get("optimizer") is None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # A train() that raised ended without on_train_end (the Trainer has no hook for it): its hooks
        # come off here, or each forward pass would count its loss twice.
        self.detach()
        model = kwargs["model"]
        self._label_names = _label_names(args, model)
        # The callback's own hooks run inside the user's training, guarded as the instruments' are: a
        # failure takes the doctor off with one warning (raised under strict=True).
        self._hook = model.register_forward_hook(self.doctor.guarded(self._keep_loss), with_kwargs=True)
        # The Trainer clips the gradients before the step (max_grad_norm, 1.0 by default): they are read
        # as the backward pass ends, as the Trainer measures the grad_norm it logs. Under float16 mixed
        # precision they are scaled until its step unscales them, and are read there, clipped.
        self._at_backward = getattr(kwargs["optimizer"], "scaler", None) is None
        self.doctor.start(
            model, kwargs["optimizer"], state.global_step, gradients_at_step=not self._at_backward
        )
        optimizer = kwargs["optimizer"]
        trainer = _trainer_calling(self, optimizer)
        chosen = getattr(trainer, "optimizer_cls_and_kwargs", None)
        made = self._trainer_made.get(trainer) if trainer is not None else None
        if made is None:  # added after the Trainer's init, which told it nothing
            made = _made_by(trainer, model, optimizer) if trainer is not None else False
        self._fields = _arguments_set(args, model, optimizer, trainer_made=made, chosen=chosen)
        if self.doctor.instruments is not None:  # the clip in force, which no advice repeats
            self.doctor.instruments.statistics.grad_clip_norm = _clip_in_force(args)

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.doctor.before_optimizer_step(kwargs["optimizer"])
        if self._at_backward and not self._read:  # a loss the Trainer did not backpropagate
            self.doctor.gradients_ready()
        self._read = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.doctor.instruments is None:  # taken off by a failure: its hook kept no loss
            self._losses = []
            return
        if not self._losses:
            raise InvalidValueError(
                "the model's output",
                "no loss",
                "a loss the model returns itself (outputs.loss: the labels in the batch); the doctor "
                "cannot see a loss computed outside the model (label smoothing, a custom compute_loss)",
            )
        losses = torch.stack(self._losses).float()
        loss = (losses.sum() if self._summed else losses.mean()).item()
        self._losses = []
        self.doctor.batch_seen(state.global_step, {"labels": self._labels})
        self.doctor.step_ended(state.global_step, loss)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._remove_hook()
        self.doctor.finish(report=state.is_world_process_zero, fields=self._fields)

    def detach(self) -> None:
        """Take the loss hook and the instruments off the model, without a report (after a ``train()``
        that raised: the Trainer tells no callback)."""
        self._remove_hook()
        self.doctor.finish(report=False, fields=self._fields)
        self._losses = []

    def _remove_hook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None


class ScheduleFreeModes(TrainerCallback):
    """Leave optimizers that keep two points (schedule-free: train at ``y``, evaluate at ``x``) at
    their evaluation point whenever the Trainer saves and when training ends.

    The Trainer itself calls ``optimizer.train()`` before each training step and ``optimizer.eval()``
    before evaluating; without this callback, checkpoints and the final model hold the training point.
    Defazio et al., The Road Less Scheduled, NeurIPS 2024, https://arxiv.org/abs/2405.15682
    """

    @staticmethod
    def _evaluation_point(optimizer: Any) -> None:
        if hasattr(optimizer, "eval") and callable(optimizer.eval):
            optimizer.eval()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if control.should_save:  # the next training step switches back
            self._evaluation_point(kwargs["optimizer"])

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._evaluation_point(kwargs["optimizer"])


def _trainer_calling(callback: TrainerCallback, optimizer: Any) -> Trainer | None:
    """The Trainer whose ``train()`` calls ``callback`` with ``optimizer``: transformers gives its callbacks
    no Trainer, so it is the ``self`` of the nearest calling frame that is a Trainer holding ``callback``
    or stepping ``optimizer`` (a Trainer calling another's callbacks, or training another inside its own,
    is passed over); None where no frame is."""
    frame = inspect.currentframe()
    while frame is not None:
        caller = frame.f_locals.get("self")
        if isinstance(caller, Trainer) and (
            callback in caller.callback_handler.callbacks or caller.optimizer is optimizer
        ):
            return caller
        frame = frame.f_back
    return None


def _made_by(trainer: Trainer, model: nn.Module, optimizer: Any) -> bool | None:
    """Whether ``trainer`` made ``optimizer``, to a callback its init did not tell (transformers keeps no
    record of an optimizer given to its init once ``train()`` began); None where that cannot be told.
    One given with its scheduler (``Trainer(optimizers=(opt, sched))``, as :func:`trainer_optimizers`
    gives it) was not: transformers' ``create_scheduler`` makes one exactly where it was given none (its
    ``_created_lr_scheduler``), and the Trainer never makes an optimizer for a scheduler given. The flag
    says so only where the Trainer's class keeps transformers' ``create_scheduler``: a subclass's own may
    schedule on its own in one branch (the flag unset, the Trainer's optimizer) and call it in another,
    so under an override an unset flag tells nothing. Then, or where the flag is set, an optimizer grouped as
    ``Trainer.create_optimizer`` builds (:func:`_grouped_as_made`) may be the Trainer's or the user's
    grouped so (transformers' own recipe): None; the callback given at the init tells them apart."""
    if (
        type(trainer).create_scheduler is Trainer.create_scheduler
        and not getattr(trainer, "_created_lr_scheduler", True)
        and not getattr(trainer, "is_deepspeed_enabled", False)
    ):
        return False  # DeepSpeed makes the scheduler it makes the optimizer with (deepspeed_init)
    return None if _grouped_as_made(trainer, model, optimizer) else False


def _grouped_as_made(trainer: Trainer, model: nn.Module, optimizer: Any) -> bool:
    """Whether ``optimizer``'s parameter groups are the two ``trainer.create_optimizer`` builds: the
    parameters ``get_decay_parameter_names`` names at ``args.weight_decay``, then the others at 0, each in
    the model's order; a user's ``AdamW(model.parameters(), ...)`` is one group."""
    decay = set(trainer.get_decay_parameter_names(model))
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    built = [
        ([p for name, p in trainable if name in decay], trainer.args.weight_decay),
        ([p for name, p in trainable if name not in decay], 0.0),
    ]
    groups = unwrapped(optimizer).param_groups
    return len(groups) == len(built) and all(
        list(map(id, group["params"])) == list(map(id, params)) and group.get("weight_decay") == weight_decay
        for group, (params, weight_decay) in zip(groups, built, strict=True)
    )


def _arguments_set(
    args: TrainingArguments,
    model: nn.Module,
    optimizer: Any,
    *,
    trainer_made: bool | None,
    chosen: tuple[type, dict[str, Any]] | None = None,
) -> dict[str, str | Setting]:
    """The setting that sets each recipe field the doctor may advise in this run: the Trainer clips by
    ``max_grad_norm`` whatever its optimizer; the lr, weight decay and Adam's eps are ``learning_rate``,
    ``weight_decay`` and ``adam_epsilon`` where the Trainer made its optimizer from them (``trainer_made``:
    given none at its init; of the class ``args.optim`` names, each group given ``learning_rate``), not
    where the user gave one (``Trainer(optimizers=...)``), whose own arguments set them even where its
    class and lr are the ones the Trainer would make (``AdamW(..., lr=args.learning_rate)``). Where the
    Trainer made it of the user's class and keywords (``chosen``: its ``optimizer_cls_and_kwargs``), the
    lr and eps are those keywords' (``learning_rate`` and ``adam_epsilon`` are not read), the weight decay
    still ``weight_decay``, which the Trainer gives each of its parameter groups. ``trainer_made`` None
    (not told, and the optimizer is as the Trainer would make it): each is advised as the argument, saying
    it is the given optimizer's own where one was given."""
    fields: dict[str, str | Setting] = {"training.grad_clip_norm": "max_grad_norm", **_SCHEDULED, **_LR_CHECK}
    if chosen is not None:  # transformers refuses it beside Trainer(optimizers=...): the Trainer made it
        own = "Trainer.optimizer_cls_and_kwargs[1]"
        taken = unwrapped(optimizer).defaults
        kwargs_set = {"optimizer.lr": f"{own}['lr']"}
        if "weight_decay" in taken:
            fields["optimizer.weight_decay"] = "weight_decay"
        if "eps" in taken:
            kwargs_set["optimizer.eps"] = f"{own}['eps']"
        return _arguments(fields) | kwargs_set
    try:
        kind, made_with = Trainer.get_optimizer_cls_and_kwargs(args, model)
    except (ImportError, ValueError):  # one the Trainer could not make: the user's
        kind, made_with = None, {}
    groups = unwrapped(optimizer).param_groups
    made = type(unwrapped(optimizer)) is kind and all(given_lr(g) == made_with.get("lr") for g in groups)
    if trainer_made is not False and made:
        own = {
            "optimizer.lr": ("learning_rate", "lr"),
            "optimizer.weight_decay": ("weight_decay", "weight_decay"),
        }
        if "eps" in made_with:
            own["optimizer.eps"] = ("adam_epsilon", "eps")
        for recipe, (field, keyword) in own.items():
            fields[recipe] = field if trainer_made else _unless_given(field, keyword)
    return _arguments(fields)


# The schedule the doctor advises (cosine), as a Trainer's user sets it: the Trainer steps its scheduler,
# the one it makes from lr_scheduler_type, or one given beside the optimizer (T_max in optimizer steps).
_SCHEDULED = {
    "schedule.name": Setting(
        None,
        said="TrainingArguments.lr_scheduler_type='cosine' (or, where you give the Trainer its scheduler, "
        "Trainer(optimizers=(optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=<steps>))))",
    )
}


# The lr check as a Trainer's user runs it: this module's range test with its check, before train(); and
# a longer watch, a longer run.
_LR_CHECK = {
    "doctor.lr_find": Setting(
        None,
        said="optimlab.integrations.huggingface.lr_range_test(trainer, check_steps=<steps>) before train()",
    ),
    "doctor.steps": Setting(None, said="TrainingArguments.max_steps=<more>"),
}


def _unless_given(field: str, keyword: str) -> Setting:
    """The ``TrainingArguments`` ``field`` advised where the optimizer may be the Trainer's or one given to
    it built as the Trainer builds its own (a callback added after the init, which alone is told): said
    with the other's knob, the given optimizer's ``keyword``."""
    return Setting(
        f"TrainingArguments.{field}",
        said=f"TrainingArguments.{field}={{value}} ({keyword}={{value}} in your optimizer instead, if you gave "
        "the Trainer one grouped as its own: a DoctorCallback added after the init cannot tell them apart)",
    )


def _arguments(fields: Mapping[str, str | Setting]) -> dict[str, str | Setting]:
    """``fields`` (recipe field: a ``TrainingArguments`` field) with each argument named as set."""
    return {
        recipe: f"TrainingArguments.{field}" if isinstance(field, str) else field
        for recipe, field in fields.items()
    }


def trainer_optimizers(
    optimizer: torch.optim.Optimizer, schedule: Schedule | None = None
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """``Trainer(optimizers=...)`` for ``optimizer`` (any, e.g. ``optimlab.optim.create("lion",
    model.parameters(), lr=1e-4)``) and an optimlab schedule, stepped after every optimizer step.

    Without a schedule the lr stays constant: given no scheduler, the Trainer would impose its own
    (``lr_scheduler_type``, linear decay by default). An optimizer that evaluates the loss again in its
    step through a closure (SAM, torch's LBFGS) is refused: the Trainer calls ``optimizer.step()``
    without a closure; so is a :class:`~optimlab.schedules.ReduceOnPlateau`, which the Trainer would step
    without its metric, and a torch scheduler, which goes to the Trainer as it is:
    ``Trainer(optimizers=(optimizer, scheduler))``.
    """
    if needs_closure(optimizer):  # it raised at the first step, after the model loaded
        raise InvalidValueError(
            "optimizer",
            type(optimizer).__name__,
            "one that steps without a closure: the Trainer's optimizer.step() passes none (train it "
            "with optimlab.train.fit, or in Lightning through its configure_optimizers)",
        )
    if isinstance(schedule, ReduceOnPlateau):  # the Trainer stepped it without a metric: the lr never fell
        raise InvalidValueError(
            "schedule",
            "reduce_on_plateau",
            "a step schedule: the Trainer feeds its evaluation metric only to torch's ReduceLROnPlateau "
            "(Trainer(optimizers=(optimizer, None)) with TrainingArguments(lr_scheduler_type="
            "'reduce_lr_on_plateau', eval_strategy='steps'))",
        )
    if isinstance(
        schedule, (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    ):
        raise InvalidValueError(
            "schedule",
            schedule,
            "an optimlab schedule, e.g. optimlab.schedules.create('cosine'); a torch scheduler goes to the "
            "Trainer as it is: Trainer(optimizers=(optimizer, scheduler))",
        )
    return optimizer, as_lr_scheduler(
        optimizer, schedule if schedule is not None else create_schedule("constant")
    )


def lr_range_test(trainer: Trainer, *, check_steps: int | None = None, **options: Any) -> LRRangeResult:
    """The LR range test of ``trainer``'s model on its training data, through its own
    ``compute_loss``, with its optimizer (created as ``train()`` would, if it has none yet, and not
    kept: ``train()`` creates its own at the learning rate set by then); the model and optimizer come
    back untouched.

    ``check_steps``: also decide among the sweep's candidates by a check
    (:func:`optimlab.doctor.find_lr`): each trains ``check_steps`` steps, one at a time, scored by
    ``compute_loss`` on the trainer's ``eval_dataset``, one data set (default: a fifth of the training
    data held out). ``options`` go to :func:`optimlab.doctor.lr_range_test` (``start_lr``, ``end_lr``,
    ``steps``, ...). The sweep and the check clip each step's gradients to the Trainer's norm
    (``max_grad_norm``, 1.0 by default: :func:`_clip_in_force`): without ``check_steps`` the sweep over all
    of the model's parameters as the Trainer does (:func:`_clipped_as_trained`); with it the sweep and the
    check's training (:func:`~optimlab.doctor.find_lr`'s) over those its optimizer steps, which differs
    from the Trainer where the optimizer leaves a trainable parameter out (a head trained alone: the
    Trainer's norm counts the body's gradients too). They step on every batch: where the
    Trainer's arguments set otherwise (``gradient_accumulation_steps``), the result's ``reason`` says
    so. Under ``TrainingArguments(gradient_checkpointing=True)`` they run with activation checkpointing
    on, as ``train()`` turns it on (the memory and graph of training), and off again after. Set the
    suggestion where the Trainer's optimizer takes its lr: ``TrainingArguments(learning_rate=...)``
    where the Trainer makes it from its arguments; the ``'lr'`` of the keywords of
    ``Trainer(optimizer_cls_and_kwargs=(cls, kwargs))``, which the Trainer makes it with as they are
    (reading no ``learning_rate``); or the lr of the optimizer given as ``Trainer(optimizers=...)``.
    """
    if not isinstance(trainer, Trainer):
        raise InvalidValueError(
            "trainer",
            type(trainer).__name__,
            "a transformers.Trainer (a model alone: optimlab.doctor.lr_range_test)",
        )
    if check_steps is None:
        _check_options(options, (_sweep,), {**_TRAINERS_OWN, **_TRAINERS_ORDER})
    else:
        _check_options(options, (_sweep, find_lr), _TRAINERS_OWN)
        if isinstance(trainer.eval_dataset, Mapping):  # the Trainer scores each apart: no one held-out score
            raise InvalidValueError(
                "trainer.eval_dataset",
                f"a dict of {len(trainer.eval_dataset)} data sets ({', '.join(map(str, trainer.eval_dataset))})",
                "one data set to score the check on (set trainer.eval_dataset to one of them for the range "
                "test), or None: a fifth of the training data held out",
            )
    # An optimizer created here is the test's alone: kept on the trainer, train() reused it at the lr of
    # its creation, and the suggestion set as TrainingArguments(learning_rate=...) was silently ignored.
    created = trainer.optimizer is None
    optimizer = trainer.create_optimizer() if created else trainer.optimizer
    data = (trainer.model, None, trainer.get_train_dataloader())
    clip = _clip_in_force(trainer.args)
    loss = {
        "optimizer": optimizer,
        "compute_loss": lambda model, batch: trainer.compute_loss(model, batch),
        # the check's training clips the parameters its optimizer steps (optimlab.train.fit)
        "grad_clip_norm": clip if check_steps is not None else None,
    }
    clipped = _clipped_as_trained(trainer.model, optimizer, clip) if check_steps is None else None
    try:
        with _checkpointing_as_trained(trainer.model, trainer.args), clipped or contextlib.nullcontext():
            if check_steps is not None:
                held_out = trainer.get_eval_dataloader() if trainer.eval_dataset is not None else None
                result = find_lr(*data, held_out=held_out, check_steps=check_steps, **loss, **options)
            else:
                result = _sweep(*data, **loss, **options)
    finally:
        if created:
            trainer.optimizer = None
    return with_notes(result, _trained_otherwise(trainer.args))


@contextlib.contextmanager
def _clipped_as_trained(model: nn.Module, optimizer: Any, clip: float | None) -> Iterator[None]:
    """Each step of ``optimizer`` (the sweep's) on ``model``'s gradients clipped as ``Trainer`` clips them:
    to global norm ``clip`` over all of the model's parameters (its ``_clip_grad_norm``), a trainable one
    the optimizer leaves out counted too, each step's alone (the Trainer's ``model.zero_grad()`` every
    step; the sweep's ``optimizer.zero_grad`` clears the optimizer's alone)."""
    if clip is None:
        yield
        return

    def clipped(stepped: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        clip_grad_norm_([p.grad for p in model.parameters() if p.grad is not None], clip)
        for parameter in kept_out:  # cleared for the next step's backward pass, as model.zero_grad() does
            parameter.grad = None

    stepped = {id(p) for group in unwrapped(optimizer).param_groups for p in group["params"]}
    kept_out = [p for p in model.parameters() if p.requires_grad and id(p) not in stepped]
    held = [p.grad for p in kept_out]  # the model's own, given back: the first step's are its own too
    for parameter in kept_out:
        parameter.grad = None
    handle = unwrapped(optimizer).register_step_pre_hook(clipped)
    try:
        yield
    finally:
        handle.remove()
        for parameter, grad in zip(kept_out, held, strict=True):
            parameter.grad = grad


@contextlib.contextmanager
def _checkpointing_as_trained(model: nn.Module, args: Any) -> Iterator[None]:
    """Activation checkpointing on ``model`` as ``Trainer.train()`` turns it on under ``args``
    (``activation_checkpointing``, ``gradient_checkpointing`` before transformers 5, with their
    ``_kwargs``), and off again after where it was off: ``train()`` turns it on itself. Chen et al.,
    Training Deep Nets with Sublinear Memory Cost, 2016, https://arxiv.org/abs/1604.06174"""
    wanted = getattr(args, "activation_checkpointing", None) or args.gradient_checkpointing
    # on where a module's flag is: transformers' own is_activation_checkpointing (is_gradient_checkpointing)
    if not wanted or any(getattr(m, "gradient_checkpointing", False) for m in model.modules()):
        yield
        return
    keywords = getattr(args, "activation_checkpointing_kwargs", None) or args.gradient_checkpointing_kwargs
    keywords = dict(keywords or {})
    # transformers 5 takes these two out of the keywords for torch's checkpoint (Trainer.train)
    layers = {name: keywords.pop(name) for name in ("every_n_layers", "offload") if name in keywords}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=keywords or None, **layers)
        disable = model.activation_checkpointing_disable
    elif hasattr(model, "gradient_checkpointing_enable"):
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=keywords or None, **layers)
        disable = model.gradient_checkpointing_disable
    else:  # train() raised AttributeError
        raise InvalidValueError(
            "TrainingArguments(gradient_checkpointing=...)",
            True,
            f"False for a {type(model).__name__}, which has no gradient_checkpointing_enable (a "
            "transformers PreTrainedModel has it)",
        )
    try:
        yield
    finally:
        disable()
        if hasattr(model, "_require_grads_hook"):  # the embeddings' hook enabling added (input_ids models)
            model.disable_input_require_grads()


def _label_names(args: Any, model: nn.Module) -> list[str]:
    """The keys the Trainer reads a batch's labels under, by its own rule (``Trainer.label_names``):
    ``args.label_names`` where set, else those its model's class takes (``find_labels``: ``labels``, or a
    question-answering model's ``start_positions`` and ``end_positions``)."""
    names = args.label_names
    return list(find_labels(type(unwrap_peft_model(model))) if names is None else names)


def _clip_in_force(args: Any) -> float | None:
    """The global norm the Trainer clips each step's gradients to: ``args.max_grad_norm``, where above 0
    (its ``_clip_grad_norm``; 1.0 by default), else None (unclipped)."""
    clip = args.max_grad_norm
    return clip if clip is not None and clip > 0 else None


def _trained_otherwise(args: Any) -> list[str]:
    """What of the training ``args`` (the Trainer's ``TrainingArguments``) set the range test does
    otherwise, said beside its suggestion, as the Lightning range test says a Trainer's precision: the
    sweep and the check step on every batch, without autocast (in the model's own dtype)."""
    notes = []
    for precision in ("bf16", "fp16"):  # autocast, which train() puts on the model's forward (accelerate)
        if getattr(args, precision, False):
            notes.append(f"without autocast: the Trainer's {precision}=True mixed precision is not taken")
    accumulated = args.gradient_accumulation_steps
    if accumulated > 1:
        notes.append(
            f"a step a batch: the Trainer's gradient_accumulation_steps={accumulated} steps once every "
            f"{accumulated} batches, on {accumulated}x the rows"
        )
    return notes


# What the trainer gives the sweep and the check: its model, loss, optimizer and loaders (whose batch size
# is its per_device_train_batch_size); given again, Python's TypeError "got multiple values", or ignored.
_TRAINERS_OWN = dict.fromkeys(
    ("model", "loss_fn", "data", "y", "optimizer", "compute_loss", "held_out", "batch_size"),
    "none: the trainer gives it (its model, compute_loss, optimizer, and train and eval dataloaders, "
    "batched by TrainingArguments(per_device_train_batch_size=...))",
) | {"grad_clip_norm": "none: the sweep clips as the Trainer does, at TrainingArguments(max_grad_norm=...)"}
# Without a check, a seed has nothing to draw: the trainer's loader orders the sweep's batches.
_TRAINERS_ORDER = {
    "seed": "none: the trainer's loader orders the batches, by TrainingArguments(data_seed=...)"
}


def _check_options(
    options: Mapping[str, Any], forwarded_to: Sequence[Callable[..., Any]], given: Mapping[str, str]
) -> None:
    """Refuse an option the trainer gives itself (``given``: :data:`_TRAINERS_OWN`, and a seed where only
    the sweep runs), or one that no function of ``forwarded_to`` takes, naming those they do."""
    forwarded_keywords_checked(
        options, "lr_range_test(trainer)", forwarded_to, given, also=("check_steps",), shown=describe
    )
