"""optimlab inside Lightning: the doctor as a callback, the LR range test of a ``LightningModule``, and
optimlab's optimizers and schedules in ``configure_optimizers`` (``pip install optimlab[lightning]``).

>>> import lightning, torch  # doctest: +SKIP
>>> from optimlab.integrations.lightning import DoctorCallback
>>> doctor = DoctorCallback(html_path="doctor.html")  # doctest: +SKIP
>>> lightning.Trainer(max_steps=300, callbacks=[doctor]).fit(module, loader)  # doctest: +SKIP
>>> doctor.diagnosis.findings[0].recommendation  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import GradientAccumulationScheduler
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import GradClipAlgorithmType
from lightning.pytorch.utilities.model_helpers import is_overridden
from lightning.pytorch.utilities.signature_utils import is_param_in_hook_signature
from torch import Tensor
from torch.utils.data import DataLoader
from torchmetrics import Metric

from optimlab.data.user_batches import UserBatches, describe
from optimlab.doctor.diagnose import Diagnosis
from optimlab.doctor.lr_check import find_lr, hold_out
from optimlab.doctor.lr_find import LRRangeResult, SkippedBatch, with_notes
from optimlab.doctor.lr_find import lr_range_test as _sweep
from optimlab.errors import InvalidValueError, OptimlabError, forwarded_keywords_checked, keywords_checked
from optimlab.integrations.trainer_doctor import Setting, TrainerDoctor, unwrapped
from optimlab.optim.learning_rate import restore_given_lrs
from optimlab.optim.user import needs_closure
from optimlab.schedules import ReduceOnPlateau, Schedule, as_lr_scheduler
from optimlab.train.loop import refuse_unread, switches_modes

__all__ = ["DoctorCallback", "ScheduleFreeModes", "configure_optimizers", "lr_range_test"]


def _step_loss(output: Any) -> Tensor:
    """The loss a ``training_step`` returned: a tensor, or a mapping's ``"loss"``; None skips the batch,
    as Lightning's automatic optimization skips it (no backward, no update)."""
    if output is None:
        raise SkippedBatch
    loss = output.get("loss") if isinstance(output, Mapping) else output
    if not isinstance(loss, Tensor):
        raise InvalidValueError(
            "the training_step's output", type(output).__name__, "a loss tensor or a dict with 'loss'"
        )
    return loss


class DoctorCallback(pl.Callback):
    """The doctor's instruments inside ``lightning.Trainer.fit``; the findings are reported when
    training ends and kept in :attr:`diagnosis`.

    The instruments hook the module and one of its optimizers (``optimizer``: its index in
    ``trainer.optimizers``, the first by default; a GAN's generator and discriminator are watched by two
    callbacks, ``optimizer=0`` and ``optimizer=1``, whose reports name theirs) as
    :class:`optimlab.doctor.Instruments` does in any loop; the loss of a step is what ``training_step``
    returned, averaged over the step's batches under gradient accumulation (``accumulate_grad_batches``).
    The loss and the gradients of a batch are its first ones: those at the weights, where SAM evaluates
    the closure again at perturbed ones. Under manual optimization
    (``automatic_optimization = False``: ``training_step`` steps its optimizers itself and returns
    nothing) the loss of a step is the sum of those given to ``manual_backward`` whose gradients reached
    the watched optimizer's parameters since they were last set to None (``zero_grad()``): the loss whose
    gradient it takes (a critic's loss stepped by a second optimizer is not it; under accumulation,
    ``manual_backward(loss / n)`` on each of n batches, it is their mean loss); a step ends with a batch
    in which the watched optimizer stepped, and its gradients are read before ``self.clip_gradients`` clips
    them in that batch (as before the Trainer's own clipping; under float16, divided by the GradScaler's
    scale, as ``unscale_`` leaves them), not in a batch in which it does not step; the norm it clips them
    at there is the clip in force, which no advice repeats. A step float16's
    GradScaler skips (its gradients overflowed) is recorded without gradient norms, as intended, not as a
    divergence; a fused optimizer's gradients, which it unscales in its step, are read divided by the scale.
    Options as
    :class:`~optimlab.integrations.trainer_doctor.TrainerDoctor` (``print_findings`` on the terminal,
    ``json_path``, ``html_path``, ``schedule``, ``rule_options``; ``strict=True``: a failure of the doctor
    ends the fit, as ``EarlyStopping(strict=True)`` ends it, where by default it is one warning).
    Clipping is advised as the Trainer's flags (``Trainer.gradient_clip_val=``, :func:`_flags_set`), or
    as the module's own ``self.clip_gradients`` call (manual optimization, or its own
    ``configure_gradient_clipping``), not as optimlab's recipe field.
    """

    @functools.partial(keywords_checked, forwards_to=TrainerDoctor.__init__)
    def __init__(self, *, optimizer: int = 0, **options: Any) -> None:
        if isinstance(optimizer, bool) or not isinstance(optimizer, int) or optimizer < 0:
            raise InvalidValueError(
                "optimizer", optimizer, "the index of the watched one in trainer.optimizers (0, 1, ...)"
            )
        self.doctor = TrainerDoctor(**options)  # checks the values; the names are checked above
        self._index = optimizer
        self._losses: list[Tensor] = []  # of the batches since the watched optimizer last stepped
        self._batch_loss: Tensor | None = None  # the first loss backpropagated in this batch
        # Under manual optimization: the watched optimizer's parameters, and the loss being backpropagated
        # with their gradients before it (each with its version: accumulation adds in place).
        self._params: list[Tensor] = []
        self._backward: tuple[Tensor, list[_Held]] | None = None
        self._stepped = False  # whether the watched optimizer stepped in this batch
        # Steps of the watched optimizer under manual optimization, those of a resumed run included: kept
        # in Lightning's checkpoints (state_dict), for its global_step counts every optimizer's steps.
        self._manual_steps = 0
        self._restored_steps: int | None = None  # from the checkpoint a run resumes from
        # The plugin whose clip_gradients reads first, and this callback's reading there.
        self._clipping_read: tuple[Precision, Callable[[Any], None]] | None = None
        self._fields: dict[str, str] = {}  # the Trainer's flag advised for each recipe field it sets

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The findings of the last run, once it ended."""
        return self.doctor.diagnosis

    @property
    def state_key(self) -> str:
        # Two callbacks of a GAN keep their own states; the first optimizer's keeps the key it always had.
        return super().state_key if self._index == 0 else self._generate_state_key(optimizer=self._index)

    def state_dict(self) -> dict[str, Any]:
        return {"manual_steps": self._manual_steps}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restored_steps = int(state_dict["manual_steps"])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.automatic_optimization:
            step = trainer.global_step
        elif self._restored_steps is not None:
            step = self._restored_steps
        else:  # a checkpoint written without this callback: as if every optimizer stepped every batch
            step = trainer.global_step // len(trainer.optimizers)
        self._manual_steps, self._restored_steps, self._losses = step, None, []
        count = len(trainer.optimizers)
        if self._index >= count:
            raise InvalidValueError(
                "optimizer",
                self._index,
                f"the index of one of {type(pl_module).__name__}'s {count} optimizers "
                + ("(0)" if count == 1 else f"(0 to {count - 1})"),
            )
        watched = trainer.optimizers[self._index]
        self._params = [p for group in watched.param_groups for p in group["params"]]
        own = {id(p) for p in pl_module.parameters()}
        if not any(id(p) in own for p in self._params):
            # configure_optimizers returned None: Lightning's stand-in steps a tensor of its own, and the
            # instruments said the module had no trainable parameters.
            raise InvalidValueError(
                f"{type(pl_module).__name__}.configure_optimizers()",
                "no optimizer over the module's parameters (it returned None?)",
                "an optimizer over the module's parameters, whose steps the doctor watches",
            )
        # Lightning runs the backward pass in a closure inside optimizer.step, and calls
        # on_before_optimizer_step between it and the update: the gradients are read there.
        about = (
            f" (optimizer {self._index} of {count}, {type(unwrapped(watched)).__name__})" if count > 1 else ""
        )
        self.doctor.start(pl_module, watched, step, gradients_at_step=False, about=about)
        self._fields = _flags_set(trainer, pl_module)
        self._read_clipping(trainer, manual=not pl_module.automatic_optimization)

    def _read_clipping(self, trainer: pl.Trainer, *, manual: bool) -> None:
        """Read each clip of the watched optimizer's gradients (the precision plugin's ``clip_gradients``,
        which ``self.clip_gradients`` calls, in the module's ``configure_gradient_clipping`` as in
        Lightning's own, which clips by the Trainer's flags): the norm it clips at is the clip in force.
        Under ``manual`` optimization the module clips before it steps: the gradients are read there, as
        they are read before the Trainer's own clipping, or every step's norm would be the clip's. Under
        float16 they are still scaled there (Lightning unscales them in the optimizer's step): read
        divided by the scale."""
        plugin, watched = trainer.precision_plugin, trainer.optimizers[self._index]
        scaler = getattr(plugin, "scaler", None)

        def read(
            optimizer: Any,
            clip_val: float = 0.0,
            gradient_clip_algorithm: GradClipAlgorithmType = GradClipAlgorithmType.NORM,
        ) -> None:
            if unwrapped(optimizer) is not watched:
                return
            if manual:
                self._read_gradients(watched, scaler, scaled=True)
            instruments = self.doctor.instruments
            if (
                instruments is not None
                and gradient_clip_algorithm == GradClipAlgorithmType.NORM
                and clip_val > 0
            ):
                instruments.statistics.grad_clip_norm = float(clip_val)  # as the Trainer's flag sets it

        guarded = self.doctor.guarded(read)
        # One wrapper reads for the callbacks watching this fit's clipping (a GAN's two), holding their
        # readings; the last to end takes it off, putting back what it replaced: a clip_gradients the
        # user set on the plugin, or none (the plugin's own method).
        clip_gradients = vars(plugin).get("clip_gradients")
        if not hasattr(clip_gradients, "readers"):  # the first callback watching
            users, clip = clip_gradients, plugin.clip_gradients

            @functools.wraps(clip)
            def clip_gradients(optimizer: Any, *args: Any, **kwargs: Any) -> None:
                for reader in clip_gradients.readers:
                    reader(optimizer, *args, **kwargs)
                clip(optimizer, *args, **kwargs)

            clip_gradients.readers, clip_gradients.replaced = [], users  # type: ignore[attr-defined]
            plugin.clip_gradients = clip_gradients
        clip_gradients.readers.append(guarded)
        self._clipping_read = plugin, guarded

    def _read_gradients(
        self, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None, *, scaled: bool
    ) -> None:
        """Read the watched optimizer's lr and gradients before it steps; under float16 divided by the
        GradScaler's scale where they are still ``scaled``. A step the scaler skips (they overflowed, as
        intended) is recorded without norms: no divergence."""
        self.doctor.before_optimizer_step(optimizer)
        scale = scaler.get_scale() if scaled and scaler is not None else 1.0
        self.doctor.gradients_ready(scale, scaler_skips=scaler is not None)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._stepped, self._batch_loss = False, None

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: Tensor) -> None:
        loss = loss.detach()
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if scaler is not None:  # float16 mixed precision hands this hook the loss times the scale
            loss = loss / scaler.get_scale()
        if pl_module.automatic_optimization:
            if self._batch_loss is None:
                self._batch_loss = loss
            return
        self._backward = loss, _held([p.grad for p in self._params])

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._backward is None:
            return
        loss, before = self._backward
        self._backward = None
        if _changed(before, [p.grad for p in self._params]):
            # Its gradient reached the watched optimizer's parameters; where it found them zeroed, those of
            # the losses kept are gone.
            if all(held.tensor is None for held in before):
                self._losses = []
            self._losses.append(loss)

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        # The watched optimizer is the one instrumented (a GAN's other is not), read once a batch.
        if optimizer is trainer.optimizers[self._index] and not self._stepped:
            scaler = getattr(trainer.precision_plugin, "scaler", None)
            if (
                pl_module.automatic_optimization
                and self._batch_loss is None
                and (scaler is not None or not self._losses)
            ):
                # training_step returned None on this batch. Under float16's GradScaler Lightning neither
                # unscales nor steps (MixedPrecision.optimizer_step's skip_unscaling): no step, and the
                # gradients of the batches before are zeroed before the next one's. Otherwise it steps
                # on them, unless none was given since the last step (the zeros the instruments gave
                # the next step, its gradient norm 0.0).
                self._losses = []
                return
            self._stepped = True
            # A fused optimizer unscales its gradients in its step (torch's flag, which Lightning reads
            # to leave them scaled until then).
            self._read_gradients(
                optimizer, scaler, scaled=getattr(optimizer, "_step_supports_amp_scaling", False)
            )

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        manual = not pl_module.automatic_optimization  # its losses were kept as they were backpropagated
        if manual and not self._stepped:  # clipped, not stepped: the step's gradients are not whole yet
            self.doctor.gradients_unread()
        if not manual and self._batch_loss is not None:  # None: training_step skipped the batch
            # The loss backpropagated is divided by accumulate_grad_batches.
            self._losses.append(self._batch_loss * trainer.accumulate_grad_batches)
        if self._stepped and self._losses:
            if manual:
                self._manual_steps += 1
                step = self._manual_steps
            else:
                step = trainer.global_step
            losses = torch.stack(self._losses).float()
            self.doctor.batch_seen(step, batch)
            self.doctor.step_ended(step, (losses.sum() if manual else losses.mean()).item())
            self._losses = []

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._clipping_read_off()
        self.doctor.finish(
            report=trainer.is_global_zero,
            fields=self._fields,
            unstepped=f": trainer.optimizers[{self._index}].step() in place of Lightning's self.optimizers()",
        )

    def _clipping_read_off(self) -> None:
        if self._clipping_read is not None:
            plugin, reader = self._clipping_read
            wrapper = vars(plugin)["clip_gradients"]
            wrapper.readers.remove(reader)
            if not wrapper.readers:
                del plugin.clip_gradients  # the plugin's own method again
                if wrapper.replaced is not None:
                    plugin.clip_gradients = wrapper.replaced  # the user's own
            self._clipping_read = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Training stopped without on_train_end: the hooks come off the model, and the steps seen are
        diagnosed, reported where the user stopped it (Ctrl-C, which Lightning catches)."""
        self._clipping_read_off()
        self.doctor.finish(
            report=trainer.is_global_zero and isinstance(exception, KeyboardInterrupt), fields=self._fields
        )


def _flags_set(trainer: pl.Trainer, module: pl.LightningModule) -> dict[str, Setting]:
    """The setting that sets each recipe field the doctor may advise in this run, named in its place as
    the Hugging Face callback names ``TrainingArguments``' (``TrainerDoctor.finish``'s ``fields``): the
    gradient norm clipped at is ``gradient_clip_val`` under automatic optimization, where the module's own
    ``configure_gradient_clipping`` (Lightning's, not overridden) clips by the Trainer's flags; by the norm
    with ``gradient_clip_algorithm`` 'norm' too where the flags clip by value (the flag there is each
    element's bound). Elsewhere it is the module's own ``self.clip_gradients`` call: in its training step
    before ``optimizer.step()`` under manual optimization (Lightning refuses the flag there), in the
    ``configure_gradient_clipping`` it overrides under automatic. The schedule is the scheduler
    ``configure_optimizers`` returns (Lightning steps it, not the user's code); the optimizer's lr and
    weight decay are its optimizer's, set by no flag (torch's words, :data:`TORCH_CALLS`); the lr check is
    this module's :func:`lr_range_test` with its check."""
    overridden = is_overridden("configure_gradient_clipping", module)
    if module.automatic_optimization and not overridden:
        along = {}
        if (getattr(trainer.gradient_clip_algorithm, "value", None) or "norm") != "norm":
            along = {"Trainer.gradient_clip_algorithm": "norm"}
        return {
            "training.grad_clip_norm": Setting("Trainer.gradient_clip_val", along),
            **_SCHEDULED,
            **_LR_CHECK,
        }
    where = (
        "in training_step, before optimizer.step()"
        if not module.automatic_optimization
        else f"in {type(module).__name__}.configure_gradient_clipping"
    )
    call = "LightningModule.clip_gradients"
    return {
        "training.grad_clip_norm": Setting(
            f"{call}.gradient_clip_val",
            {f"{call}.gradient_clip_algorithm": "norm"},
            "self.clip_gradients(optimizer, gradient_clip_algorithm='norm', gradient_clip_val={value}) "
            + where,
        ),
        **_SCHEDULED,
        **_LR_CHECK,
    }


# The schedule the doctor advises (cosine), as a LightningModule sets it: Lightning steps the scheduler
# configure_optimizers returns, each optimizer step under interval 'step' (T_max counts those steps).
_SCHEDULED = {
    "schedule.name": Setting(
        None,
        said="configure_optimizers returning {{'optimizer': optimizer, 'lr_scheduler': {{'scheduler': "
        "torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=<steps>), 'interval': 'step'}}}}",
    )
}

# The lr check as a LightningModule's user runs it: this module's range test with its check, before fit;
# and a longer watch, a longer fit (Lightning stops at max_steps or max_epochs, whichever comes first).
_LR_CHECK = {
    "doctor.lr_find": Setting(
        None,
        said="optimlab.integrations.lightning.lr_range_test(module, train_dataloaders, check_steps=<steps>) "
        "before Trainer.fit",
    ),
    "doctor.steps": Setting(None, said="Trainer(max_steps=<more>, max_epochs=<more>)"),
}


class ScheduleFreeModes(pl.Callback):
    """Switch optimizers that keep two points (schedule-free: train at ``y``, evaluate at ``x``) as
    Lightning switches the module: ``train()`` before each training batch, ``eval()`` for validation
    (at an epoch's end or within it, ``val_check_interval``), testing, prediction and after training.
    Optimizers without modes are left alone.

    Also ``eval()`` as a training epoch ends, before ``ModelCheckpoint`` saves there (a module without
    validation): a checkpoint holds the evaluation point, as the model after training does (one saved
    within an epoch, ``every_n_train_steps``, holds the training point).

    Defazio et al., The Road Less Scheduled, NeurIPS 2024, https://arxiv.org/abs/2405.15682
    """

    @staticmethod
    def _switch(trainer: pl.Trainer, mode: str) -> None:
        for optimizer in trainer.optimizers:
            if switches_modes(optimizer):
                getattr(optimizer, mode)()

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._switch(trainer, "train")  # a no-op but after an evaluation

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._switch(trainer, "eval")  # Lightning runs ModelCheckpoint's epoch-end hook after the others

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._switch(trainer, "eval")

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._switch(trainer, "eval")

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._switch(trainer, "eval")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._switch(trainer, "eval")


def _gradients_to_none(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    optimizer.zero_grad(set_to_none=True)


def _lightnings_step_checked(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Refuse a step of an optimizer that evaluates the loss again (SAM) that Lightning takes in a way
    it cannot be exact in, before any update:

    - without a closure: float16 mixed precision (``precision="16-mixed"``, on CUDA) runs the closure
      itself, then steps through its GradScaler with none (SAM raised its generic 'needs
      optimizer.step(closure)', naming no Trainer flag);
    - under automatic optimization with ``Trainer(accumulate_grad_batches=k)``, ``k > 1``: Lightning runs
      a group's first batches outside ``step()`` and hands it a closure of the last batch alone, so SAM
      would perturb the weights along the other batches' gradient and step with that batch's alone
      (weights 0.024 off exact SAM over the accumulated batches after 10 steps of 2 batches). The module
      is the one Lightning's precision plugin binds into the closure it passes (``partial(_wrap_closure,
      model, ...)``); a step taken otherwise (manual optimization, a loop of one's own) is left alone."""
    closure = kwargs.get("closure", args[1] if len(args) > 1 else None)  # args: (optimizer, closure)
    if closure is None:
        raise InvalidValueError(
            "precision",
            f"'16-mixed' (a GradScaler) beside {type(optimizer).__name__}, whose step evaluates the loss again",
            "'bf16-mixed' or '32-true': Lightning's GradScaler steps the optimizer without a closure",
        )
    module = next((a for a in getattr(closure, "args", ()) if isinstance(a, pl.LightningModule)), None)
    if module is None or not module.automatic_optimization:
        return
    accumulated = module.trainer.accumulate_grad_batches
    if accumulated > 1:
        raise InvalidValueError(
            "accumulate_grad_batches",
            f"{accumulated} beside {type(optimizer).__name__}, whose step evaluates the loss again",
            f"1, with a batch_size {accumulated}x as large: Lightning's closure evaluates only the "
            "group's last batch at the perturbed weights (optimlab.train.fit's accumulate_grad_batches "
            "evaluates every batch of the group at both points)",
        )


def configure_optimizers(
    optimizer: torch.optim.Optimizer, schedule: Schedule | None = None, *, monitor: str | None = None
) -> dict[str, Any]:
    """What ``LightningModule.configure_optimizers`` returns for ``optimizer`` (any, e.g.
    ``optimlab.optim.create("lion", self.parameters(), lr=1e-4)``) and an optimlab schedule.

    The schedule is stepped after every optimizer step (``interval: "step"``): optimlab's schedules
    count steps, and Lightning's default interval would step it once an epoch. Under manual optimization
    (``automatic_optimization = False``) Lightning steps no scheduler: call
    ``self.lr_schedulers().step()`` after each ``optimizer.step()``, else the lr stays. An optimizer that
    evaluates the loss again in its step (SAM) has its gradients set to None after each step, so that
    its step evaluates Lightning's closure at the weights, then at the perturbed ones, as in any loop;
    beside Lightning's gradient accumulation (``accumulate_grad_batches`` above 1), whose closure holds
    only a group's last batch, and float16 mixed precision (``precision="16-mixed"``), whose GradScaler
    steps without a closure, its first step is refused, before any update.

    A :class:`~optimlab.schedules.ReduceOnPlateau` is fed the logged metric ``monitor`` (e.g.
    ``"val_loss"``) at the end of each training epoch, as Lightning feeds torch's ``ReduceLROnPlateau``;
    ``monitor`` is required for it and refused for the others (Lightning would read no metric).
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise InvalidValueError(
            "optimizer",
            type(optimizer).__name__,
            "a torch.optim.Optimizer, e.g. optimlab.optim.create('lion', self.parameters(), lr=1e-4)",
        )
    if getattr(optimizer, "needs_closure", False):
        # Lightning's closure zeroes the gradients as it starts, inside step(): SAM's step found those of
        # the last step's perturbed weights, took them for the gradient at the weights, and evaluated
        # the closure once.
        optimizer.register_step_pre_hook(_lightnings_step_checked)
        optimizer.register_step_post_hook(_gradients_to_none)
    plateau = isinstance(schedule, ReduceOnPlateau)
    if plateau and not (isinstance(monitor, str) and monitor):
        # None: Lightning steps a scheduler it does not know for a plateau without a metric, the lr never
        # fell; another value it looks up among the logged metrics after the first epoch's training.
        raise InvalidValueError(
            "monitor", monitor, "the name of a metric the module logs (e.g. 'val_loss') for reduce_on_plateau"
        )
    if monitor is not None and not plateau:
        raise InvalidValueError("monitor", monitor, "None: only a reduce_on_plateau schedule reads a metric")
    if schedule is None:
        return {"optimizer": optimizer}
    scheduler = as_lr_scheduler(optimizer, schedule)
    if plateau:
        config = {"scheduler": scheduler, "interval": "epoch", "reduce_on_plateau": True, "monitor": monitor}
        return {"optimizer": optimizer, "lr_scheduler": config}
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class _Accumulated(UserBatches):
    """The batches of an optimizer step under ``Trainer(accumulate_grad_batches=k)``, as the sweep's
    batches: each :class:`Group` of ``k`` batches of an epoch in order, the epoch's last one shorter
    where ``k`` does not divide it, as Lightning's loop steps at an epoch's last batch; single batches
    for ``k`` 1."""

    class Group(list):
        """The batches of one optimizer step."""

    accumulated = 1
    passes_accepted = (
        "data of as many batches at every pass (the range test counts the batch_idx, global_step and "
        "current_epoch a module reads by the first pass's count), or a stream without end, as a "
        "Trainer(max_steps=...) reads it"
    )

    # each pass of the first's count (pass_miscounted): the batch_idx, global_step and current_epoch a
    # module reads are counted by it (_TrainingLoss)
    stream_passes_may_differ = False

    def stream(self, device: torch.device | str) -> Iterator[Any]:
        if self.accumulated == 1:
            yield from super().stream(device)
            return
        group, current, place = _Accumulated.Group(), None, 0
        for epoch, batch in self.from_step(0, device):
            place = place + 1 if epoch == current else 1
            current = epoch
            group.append(batch)
            # steps_per_epoch is known by an epoch's last batch, even where the data's length is not
            if len(group) == self.accumulated or place == self.steps_per_epoch:
                yield group
                group = _Accumulated.Group()


class _TrainingLoss:
    """The loss ``training_step`` makes of a batch as the Trainer hands it over: after
    ``on_before_batch_transfer``, ``transfer_batch_to_device`` (to the module's device: a batch type of
    one's own) and ``on_after_batch_transfer`` (where a module converts or augments its batches), the
    data module's where it overrides them, else the module's, as Lightning picks them;
    run once a batch, as Lightning runs them: an optimizer evaluating the loss again (SAM) reads the same
    batch, not one converted twice or augmented anew. Hooks that read ``self.trainer`` (``if
    self.trainer.training: augment``) cannot run outside one: the batch is then read as the loader gives
    it, and :attr:`unhooked` says so.

    ``batch_idx`` is the batch's place in its epoch of the data the model trains on, as Lightning's
    loop counts it (from 0 again at each epoch): :attr:`batches` for the swept module, :attr:`checked`
    for a check's candidate (a model it has not seen, trained from a copy, from 0 again), and the held-out batches it is scored on (in eval mode) are counted apart, from
    0 at each evaluation, as Lightning counts each validation run's. The module's ``self.global_step``
    and ``self.current_epoch`` read what a Trainer's would at that training batch, or in a validation
    run after the steps taken (:class:`_LoopCounts`)."""

    def __init__(self, datamodule: pl.LightningDataModule | None, swept: pl.LightningModule) -> None:
        self._datamodule, self._swept = datamodule, swept
        self.batches: UserBatches | None = None  # the data swept, whose epoch length wraps batch_idx
        # What a check's candidates train on: the batches less the part the check holds out, if it does
        self.checked: UserBatches | None = None
        # The batch given last, as the hooks made it, and its batch_idx; the model it was given with, its
        # mode then, and the batches that model has read in each mode (training: True).
        self._last: tuple[Any, Any, int] = (None, None, 0)
        self._model: pl.LightningModule | None = None
        self._training = True
        self._read = {True: 0, False: 0}
        self._with_index = True  # whether the model's training_step takes batch_idx
        self.unhooked = False
        self.accumulated = 1  # the Trainer's accumulate_grad_batches: batches an optimizer step reads
        self.left_out: set[str] = set()  # the module's hooks not run (:func:`_run_hook`)
        # The batch trained on last, whose on_train_batch_end runs once its step is taken, as the next
        # batch comes: (model, batch as hooked, batch_idx, epoch, training_step's outputs as Lightning
        # gives them).
        self._ending: tuple[pl.LightningModule, Any, int, int, dict[str, Any]] | None = None

    def _accumulated(self, model: pl.LightningModule, group: list[Any]) -> Tensor:
        """The loss of an optimizer step over ``group``'s batches, as Lightning's accumulation makes its
        gradient: each batch's loss divided by ``accumulate_grad_batches`` (in an epoch's last, shorter
        group too), those ``training_step`` skips left out; its value is their mean, for the sweep's
        curve."""
        losses = []
        for batch in group:
            with contextlib.suppress(SkippedBatch):
                losses.append(self(model, batch))
        if not losses:
            raise SkippedBatch
        stacked = torch.stack(losses)
        gradient = stacked.sum() / self.accumulated
        return gradient + (stacked.mean() - gradient).detach()

    def _hook(self, model: pl.LightningModule, name: str) -> Any:
        overridden = self._datamodule is not None and is_overridden(name, self._datamodule)
        return getattr(self._datamodule if overridden else model, name)

    def __call__(self, model: pl.LightningModule, batch: Any) -> Tensor:
        if isinstance(batch, _Accumulated.Group):
            return self._accumulated(model, batch)
        if batch is not self._last[0] or model is not self._model:
            training = model.training
            if model is not self._model:
                self._model, self._read = model, {True: 0, False: 0}
                # Lightning passes batch_idx only to a training_step that takes it (training_step(self,
                # batch)); read once a model, not at each step (inspect.signature)
                self._with_index = is_param_in_hook_signature(model.training_step, "batch_idx", min_args=2)
            elif self._training and not training:  # an evaluation begins
                self._read[False] = 0
            self._training, index = training, self._read[training]
            self._read[training] += 1
            read = self.batches if model is self._swept or self.checked is None else self.checked
            epoch = read.steps_per_epoch if read is not None and training else None
            if not isinstance(model._trainer, _LoopCounts):  # a check's candidate: deepcopy detached it
                model.trainer = _LoopCounts()  # type: ignore[assignment]
            counts = model._trainer
            if training:  # optimizer steps taken: an epoch's last group of batches may be shorter
                k = self.accumulated
                counts.global_step = (
                    (index // epoch) * -(-epoch // k) + index % epoch // k if epoch else index // k
                )
                counts.current_epoch = index // epoch if epoch else 0
            else:  # after the steps taken, in the epoch of the last one, as a validation run reads them
                counts.global_step = self._read[True]
            index = index % epoch if epoch else index
            if training:
                self._batch_ended(model)
            self._last = (batch, self._hooked(model, batch), index)
            if training and _run_hook(model.on_train_batch_start, self.left_out, self._last[1], index) == -1:
                raise InvalidValueError(
                    "module",
                    f"{type(model).__name__}, whose on_train_batch_start returned -1 at batch_idx {index}",
                    "a module whose epochs run whole: Lightning ends the epoch there, the range test steps "
                    "on every batch of its data (give it the batches the fit trains on)",
                )
        try:
            output = model.training_step(*self._last[1:][: 1 + self._with_index])
        except RuntimeError as error:  # the module's, not the batch's: never told as a batch refused
            if "not attached to a `Trainer`" not in str(error):
                raise
            raise InvalidValueError(
                "module",
                f"{type(model).__name__}, whose training_step reads its Trainer (self.trainer, "
                "self.optimizers(), self.lr_schedulers())",
                "a training_step that runs outside a Trainer, as the range test runs it (self.log() "
                "does); or its network swept by optimlab.doctor.lr_range_test",
            ) from error
        loss = _step_loss(output) if output is not None else None
        if model.training:  # what Lightning's on_train_batch_end is given: the last evaluation's
            extra = {k: v for k, v in output.items() if k != "loss"} if isinstance(output, Mapping) else {}
            ended = {} if loss is None else {"loss": loss.detach() / self.accumulated, **extra}
            self._ending = (model, self._last[1], self._last[2], model.trainer.current_epoch, ended)
        if loss is None:
            raise SkippedBatch
        return loss

    def _batch_ended(self, model: pl.LightningModule) -> None:
        """The last batch's ``on_train_batch_end``, after its step (as a Trainer's loop runs it, with the
        epoch it was in)."""
        ending, self._ending = self._ending, None
        if ending is None or ending[0] is not model:
            return
        _, batch, index, epoch, outputs = ending
        counts = model.trainer
        now, counts.current_epoch = counts.current_epoch, epoch
        try:
            _run_hook(model.on_train_batch_end, self.left_out, outputs, batch, index)
        finally:
            counts.current_epoch = now

    def _hooked(self, model: pl.LightningModule, batch: Any) -> Any:
        """``batch`` as the Trainer hands it over, through the transfer hooks (:class:`_TrainingLoss`)."""
        hooked = batch
        for name in ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer"):
            hook = self._hook(model, name)
            try:
                hooked = (
                    hook(hooked, model.device, 0) if name == "transfer_batch_to_device" else hook(hooked, 0)
                )
            except torch.OutOfMemoryError:  # a RuntimeError: caught before the clause below
                raise
            except RuntimeError as error:
                if "not attached to a `Trainer`" not in str(error):
                    raise _hook_failed(hook, error) from error
                hooked, self.unhooked = batch, True
                break
            except Exception as error:  # the hook's, not the batch's: never told as a batch refused
                raise _hook_failed(hook, error) from error
        return hooked


def _hook_failed(
    hook: Any, error: Exception, remedy: str = "give the range test loaders whose batches need no hook"
) -> OptimlabError:
    """``hook`` (a bound hook of the module or data module) raised ``error`` as the range test ran it,
    outside ``Trainer.fit``; ``remedy``: what else the user may do."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return OptimlabError(
        f"{type(hook.__self__).__name__}.{hook.__name__}() raised {type(error).__name__}"
        f"{': ' + reason if reason else ''} in the LR range test, which runs it outside Trainer.fit (beside "
        "a Trainer of one process, 32-bit, training, with no logger); make the hook run there, or " + remedy
    )


@contextlib.contextmanager
def _attached_to_a_trainer(datamodule: pl.LightningDataModule, device: torch.device) -> Iterator[None]:
    """``datamodule`` attached, as ``Trainer.fit`` attaches it, to a Trainer that is what the range test
    is: one process on ``device``, 32-bit, training; its hooks may read ``self.trainer`` (``world_size``
    in ``train_dataloader``, ``precision`` in ``on_before_batch_transfer``, ``training``). Then the
    Trainer it had."""
    on = (
        {"accelerator": "cuda", "devices": [device.index or 0]}
        if device.type == "cuda"
        else {"accelerator": "cpu"}
    )
    lightning_log = logging.getLogger("lightning.pytorch")
    level = lightning_log.level
    lightning_log.setLevel(logging.WARNING)  # a Trainer logs the devices it found as it is made
    try:
        trainer = pl.Trainer(
            **{"devices": 1, **on},
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
    finally:
        lightning_log.setLevel(level)
    trainer.state.fn = TrainerFn.FITTING
    trainer.training = True
    had, datamodule.trainer = datamodule.trainer, trainer
    try:
        yield
    finally:
        datamodule.trainer = had


class _LoopCounts:
    """What the range test gives a module as its Trainer: the counts a Trainer's fit loop keeps at the
    batch being run (``self.global_step``: the optimizer steps taken before it, a skipped batch's step
    counted as Lightning counts it; ``self.current_epoch``), rank 0 of one process with no logger, and
    ``self.log()`` warning and logging nothing, as under ``Trainer(barebones=True)`` (nothing reaches
    the user's logger); the gradient clipping of ``trainer`` (the one the module will be fit with), which
    ``self.clip_gradients()`` reads, through a 32-bit precision plugin's, as the sweep is 32-bit. Anything
    else a Trainer has raises as a module not attached to one does."""

    barebones = True
    global_rank = local_rank = 0
    is_global_zero = True
    world_size = num_devices = num_nodes = 1
    logger = None

    def __init__(self, trainer: pl.Trainer | None = None, accumulated: int = 1) -> None:
        self.global_step = self.current_epoch = 0
        self.loggers: list[Any] = []
        self.gradient_clip_val = None if trainer is None else trainer.gradient_clip_val
        self.gradient_clip_algorithm = None if trainer is None else trainer.gradient_clip_algorithm
        self.accumulate_grad_batches = accumulated  # trainer's, read once by _accumulated_by
        self.precision_plugin = Precision()

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            f"self.trainer.{name}: the module is not attached to a `Trainer` in the range test"
        )


def _attached_trainer(module: pl.LightningModule) -> pl.Trainer | None:
    """The Trainer ``module`` is attached to (one it was fit with), or None."""
    try:
        return module.trainer
    except RuntimeError:  # not attached to a Trainer
        return None


@contextlib.contextmanager
def _detached(module: pl.LightningModule, fit_by: pl.Trainer | None, accumulated: int) -> Iterator[None]:
    """``module`` apart from the Trainer it was fit with, if any (its training_step's ``self.log()``
    raised outside that Trainer's loop), :class:`_LoopCounts` of ``fit_by`` (accumulating ``accumulated``
    batches a step) in its place; then attached again."""
    trainer = _attached_trainer(module)
    module.trainer = _LoopCounts(fit_by, accumulated)  # type: ignore[assignment]
    try:
        yield
    finally:
        module.trainer = trainer


@contextlib.contextmanager
def _metric_states_kept(module: pl.LightningModule) -> Iterator[None]:
    """The torchmetrics metrics in ``module`` left as they were: a training_step updating one
    (``self.accuracy(logits, y)``) fed it the range test's batches, which no state dict restores (a
    metric's states are not saved in it)."""
    metrics = [m for m in module.modules() if isinstance(m, Metric)]
    kept = [
        (m, copy.deepcopy(m.metric_state), m._update_count, m._computed, m._forward_cache) for m in metrics
    ]
    try:
        yield
    finally:
        for metric, states, count, computed, cached in kept:
            for name, value in states.items():
                setattr(metric, name, value)
            metric._update_count, metric._computed, metric._forward_cache = count, computed, cached


def _optimizers_in(configured: Any) -> list[torch.optim.Optimizer]:
    """The optimizers among the forms ``configure_optimizers()`` may return (an optimizer, a list of
    them, a dict with ``"optimizer"``, ``([optimizers], [schedulers])``, a list of dicts); schedulers
    hold none."""
    if isinstance(configured, torch.optim.Optimizer):
        return [configured]
    if isinstance(configured, Mapping):
        return _optimizers_in(configured.get("optimizer"))
    if isinstance(configured, (list, tuple)):
        return [optimizer for item in configured for optimizer in _optimizers_in(item)]
    return []


def _one_loader(field: str, loaders: Any, source: str | None) -> Any:
    """``loaders`` as the data to read, where Lightning also takes several DataLoaders in a list, a tuple
    or a dict (combined batch by batch in training, each validated apart): one of them is that one; more
    are refused, for the range test reads one stream of batches (else each loader was read as a batch).
    ``source``: the data module's method that gave them, None where they were given as ``field``."""
    values = list(loaders.values()) if isinstance(loaders, Mapping) else loaders
    if (
        not isinstance(values, (list, tuple))
        or not values
        or not all(isinstance(v, DataLoader) for v in values)
    ):
        return loaders
    if len(values) == 1:
        return values[0]
    raise InvalidValueError(
        field,
        f"{len(values)} DataLoaders" + (f" (the data module's {source})" if source else ""),
        "one: the range test and its check read one stream of batches; give the one to read as "
        f"lr_range_test(..., {field}=...)",
    )


def _configured_optimizer(module: pl.LightningModule) -> torch.optim.Optimizer:
    """The one optimizer ``module.configure_optimizers()`` returns (Lightning's automatic optimization
    trains no more)."""
    try:
        configured = module.configure_optimizers()
    except RuntimeError as error:  # it reads self.trainer (estimated_stepping_batches, a OneCycleLR's)
        if "not attached to a `Trainer`" not in str(error):
            raise
        raise InvalidValueError(
            "module",
            f"{type(module).__name__}, whose configure_optimizers() reads self.trainer",
            "a module whose configure_optimizers() runs outside a Trainer, or the optimizer to sweep "
            "given as lr_range_test(..., optimizer=...)",
        ) from error
    found = _optimizers_in(configured)
    if not found:
        raise InvalidValueError(
            "configure_optimizers()",
            type(configured).__name__,
            "an optimizer, a list of them, a dict with 'optimizer', or ([optimizers], [schedulers])",
        )
    if len(found) > 1:  # the sweep stepped the first alone, the others' parameters left as they were
        raise InvalidValueError(
            "configure_optimizers()",
            f"{len(found)} optimizers under automatic optimization",
            "one: Lightning trains several under manual optimization only; or the one to sweep given as "
            "lr_range_test(..., optimizer=...)",
        )
    # A scheduler made beside it set each group's lr to its first value (a warmup's 0): the lrs given
    # (torch's initial_lr) again, which the module's training_step sees in the sweep's first batch, before
    # any step sets them, as without the scheduler (the sweep's ratios are read from the lrs given alike).
    restore_given_lrs(found[0])
    return found[0]


# What the module and the loaders give the sweep and the check; given again, Python's TypeError "got
# multiple values".
_MODULES_OWN = {
    "model": "none: the module is the model",
    "loss_fn": "none: the module's training_step gives the loss",
    "compute_loss": "none: the module's training_step gives the loss",
    "data": "none: train_dataloaders gives the data",
    "y": "none: train_dataloaders gives the data (a pair of tensors as (x, y))",
    "held_out": "none: val_dataloaders gives the held-out data",
    "grad_clip_norm": "none: the sweep clips as the Trainer does (gradient_clip_val, given as trainer=)",
}


def lr_range_test(
    module: pl.LightningModule,
    train_dataloaders: Any,
    val_dataloaders: Any = None,
    *,
    check_steps: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    trainer: pl.Trainer | None = None,
    **options: Any,
) -> LRRangeResult:
    """The LR range test of ``module`` on ``train_dataloaders`` (a DataLoader, a ``LightningDataModule``
    as ``Trainer.fit`` takes one, or any data :class:`~optimlab.data.user_batches.UserBatches`
    accepts), with ``optimizer`` (default: the first of its ``configure_optimizers``) and the loss of
    its ``training_step``, of each batch as the Trainer hands it over; the module comes back untouched
    (its torchmetrics metrics included).

    ``trainer``: the ``lightning.Trainer`` the module will be fit with (default: the one it was fit
    with, if any): the sweep clips the gradients as it does (``gradient_clip_val``,
    ``gradient_clip_algorithm``, through the module's ``configure_gradient_clipping``) and accumulates
    them as it does (``accumulate_grad_batches``, or a ``GradientAccumulationScheduler``'s factor of the
    first epoch: a step over that many batches of an epoch, each loss divided by it, a step at an
    epoch's last batch; the curve's loss is their mean); its precision is not taken (the sweep runs
    in the module's own dtype, without autocast), nor its devices (one process: a batch is one
    device's), each said in the result's ``reason``, nor its callbacks (only the module's own hooks
    run, below: a callback that changes the training, such as ``BackboneFinetuning``, does not act in
    the sweep).

    The module's hooks a Trainer calls in a step that the sweep calls too, in Lightning's order and with
    its arguments: ``on_before_batch_transfer``, ``transfer_batch_to_device`` and
    ``on_after_batch_transfer`` (the data module's where it overrides them), ``on_train_batch_start``
    (whose -1, ending the epoch early, is refused: the sweep steps on every batch), ``training_step``,
    then between the backward pass and the update ``on_after_backward``, ``on_before_optimizer_step`` and
    ``configure_gradient_clipping``, and after it ``on_train_batch_end``. Under accumulation the sweep
    takes one backward pass over the step's batches, so ``on_after_backward`` runs once a step where
    Lightning runs it after each batch. A hook reading a part of a Trainer the range test's has not is
    left out and said in ``reason`` (the clipping is refused instead). Not called:
    ``on_before_backward``, ``on_before_zero_grad``, ``optimizer_zero_grad``, ``backward`` and
    ``optimizer_step`` (the sweep takes the step and sets its lr: an override that sets the lr, a
    warmup's, would undo the sweep's), and the epoch hooks. An optimizer that evaluates the loss again
    (SAM) has the step's hooks called once, where Lightning calls them after each evaluation; clipping
    beside it is refused.

    ``check_steps``: also decide among the sweep's candidates by a check
    (:func:`optimlab.doctor.find_lr`): each trains ``check_steps`` steps, one at a time, scored by
    ``training_step``'s loss on ``val_dataloaders`` (default: the data module's validation data, else
    a fifth of the training data held out). Its training (:func:`optimlab.train.fit`) runs the batch
    hooks, ``on_train_batch_start``, ``training_step`` and ``on_train_batch_end`` only, stepping every
    batch, and clips by the norm as the Trainer's flags do (``gradient_clip_val`` under
    ``gradient_clip_algorithm='norm'``; the sweep then clips so too, before ``on_after_backward`` where
    Lightning clips after ``on_before_optimizer_step``): a Trainer that accumulates or clips by value, or
    a module that clips itself (``configure_gradient_clipping``), is refused it; so is one whose
    ``on_after_backward`` or ``on_before_optimizer_step`` changes the training, as soon as the sweep sees
    it do so (the check's training calls neither): any bit of the watched optimizer's gradients or
    parameters (through ``.data`` too: a rescale, a permutation, WGAN's weight clip), or a setting of its
    parameter groups (the lr); one that only reads them (Lightning's grad-norm logging) is checked.
    ``options`` go to :func:`optimlab.doctor.lr_range_test` (``start_lr``, ``end_lr``, ``steps``, ...).
    A batch whose ``training_step`` returns None is skipped as Lightning's loop skips it: no update,
    and the sweep's lr goes on, as it does in Lightning's own ``lr_find`` (the schedule counts the
    batch a step); the check cannot skip one and refuses such a module.
    Set the suggestion as the lr of ``configure_optimizers`` before ``Trainer.fit``.
    """
    forwarded_keywords_checked(
        options,
        "lr_range_test(module)",
        (_sweep, find_lr) if check_steps is not None else (_sweep,),
        _MODULES_OWN,
        also=("check_steps", "optimizer", "trainer", "val_dataloaders"),
        shown=describe,
    )
    if not all(hasattr(module, name) for name in ("training_step", "configure_optimizers")):
        # by its methods: pytorch_lightning's LightningModule is another class than lightning's
        raise InvalidValueError(
            "module",
            type(module).__name__,
            "a LightningModule, with training_step and configure_optimizers (a plain nn.Module: "
            "optimlab.doctor.lr_range_test)",
        )
    if not module.automatic_optimization:  # training_step steps its optimizers itself, inside a Trainer
        raise InvalidValueError(
            "module",
            f"{type(module).__name__} under manual optimization (automatic_optimization = False)",
            "a module whose training_step returns its loss, for the range test steps the optimizer itself",
        )
    if trainer is None:
        trainer = _attached_trainer(module)
    elif not isinstance(trainer, pl.Trainer):
        raise InvalidValueError(
            "trainer", type(trainer).__name__, "the lightning.Trainer the module will be fit with, or None"
        )
    if optimizer is None:
        optimizer = _configured_optimizer(module)
    elif isinstance(optimizer, LightningOptimizer):  # module.optimizers(): its step goes through the Trainer
        optimizer = optimizer.optimizer
    accumulated = _accumulated_by(trainer)
    _check_fit_by(trainer, module, optimizer, check_steps, accumulated)
    datamodule = train_dataloaders if isinstance(train_dataloaders, pl.LightningDataModule) else None
    device = next(module.parameters(), torch.empty(0)).device
    with _attached_to_a_trainer(datamodule, device) if datamodule is not None else contextlib.nullcontext():
        return _range_test(
            module,
            train_dataloaders,
            val_dataloaders,
            datamodule,
            check_steps,
            optimizer,
            trainer,
            accumulated,
            options,
        )


def _clips(trainer: pl.Trainer | None, module: pl.LightningModule) -> str | None:
    """How ``module`` fit by ``trainer`` clips its gradients (Lightning calls the module's
    ``configure_gradient_clipping`` every step, whose default clips by the Trainer's flags); None where
    it does not."""
    if isinstance(module, pl.LightningModule) and is_overridden("configure_gradient_clipping", module):
        return f"{type(module).__name__}.configure_gradient_clipping()"
    clip = getattr(trainer, "gradient_clip_val", None)
    if clip:  # Lightning clips at a value above 0 only
        algorithm = getattr(trainer.gradient_clip_algorithm, "value", None) or "norm"
        return f"Trainer(gradient_clip_val={clip!r}, gradient_clip_algorithm={algorithm!r})"
    return None


def _clip_norm(trainer: pl.Trainer | None, module: pl.LightningModule) -> float | None:
    """The global norm ``trainer`` clips ``module``'s gradients to by its flags alone
    (``gradient_clip_val`` above 0 with ``gradient_clip_algorithm`` 'norm', the module's
    ``configure_gradient_clipping`` Lightning's own): the check's training clips there too, by
    ``grad_clip_norm``; None where it does not clip or clips otherwise."""
    clips = _clips(trainer, module)
    algorithm = getattr(getattr(trainer, "gradient_clip_algorithm", None), "value", None) or "norm"
    if clips is None or clips.endswith("configure_gradient_clipping()") or algorithm != "norm":
        return None
    return float(trainer.gradient_clip_val)  # type: ignore[union-attr]


def _accumulated_by(trainer: pl.Trainer | None) -> int:
    """The batches an optimizer step of ``trainer``'s fit reads, in its first epoch: its
    ``accumulate_grad_batches``, or a ``GradientAccumulationScheduler``'s factor at epoch 0 (the callback
    sets the Trainer's as each epoch starts)."""
    scheduler = next(
        (c for c in getattr(trainer, "callbacks", ()) if isinstance(c, GradientAccumulationScheduler)), None
    )
    if scheduler is not None:
        return scheduler.get_accumulate_grad_batches(0)
    return getattr(trainer, "accumulate_grad_batches", 1)


def _check_fit_by(
    trainer: pl.Trainer | None,
    module: pl.LightningModule,
    optimizer: torch.optim.Optimizer,
    check_steps: int | None,
    accumulated: int,
) -> None:
    """Refuse what the range test cannot do as ``trainer`` will: accumulate gradients (``accumulated``
    batches a step, :func:`_accumulated_by`) or clip them in the check's training
    (:func:`optimlab.train.fit`, which steps every batch and runs no step hook), or beside an optimizer
    that evaluates the loss again (Lightning clips each evaluation's gradient, and evaluates only a
    group's last batch again)."""
    clips = _clips(trainer, module)
    # Whether the Trainer does it, what it does, what the sweep does of it, what the check's fit does
    # instead, and why an optimizer evaluating the loss again cannot be swept beside it
    fit_by = (
        (
            accumulated > 1,
            f"Trainer(accumulate_grad_batches={accumulated})",
            "accumulates as the Trainer does",
            "steps every batch",
            "Lightning evaluates a group's last batch again",
        ),
        (
            clips is not None,
            clips,
            "clips as the Trainer does",
            "clips by the gradients' norm alone (gradient_clip_algorithm='norm' by the Trainer's flags) "
            "and runs no step hook (configure_gradient_clipping)",
            "Lightning clips each evaluation's gradient, the range test the first one only",
        ),
    )
    by_norm = _clip_norm(trainer, module) is not None  # the check's fit clips so too (grad_clip_norm)
    for applies, does, swept, instead, why in fit_by:
        if not applies:
            continue
        if check_steps is not None and not (does == clips and by_norm):
            raise InvalidValueError(
                "check_steps",
                f"{check_steps} beside {does}",
                f"None: the sweep {swept}; the check trains with optimlab.train.fit, which {instead}",
            )
        if needs_closure(optimizer):  # the attribute (SAM) or a step whose closure has no default (LBFGS)
            raise InvalidValueError(
                "optimizer",
                f"{type(optimizer).__name__}, which evaluates the loss again, beside {does}",
                f"an optimizer that evaluates the loss once: {why}",
            )


def _run_hook(hook: Any, left_out: set[str], *args: Any, **kwargs: Any) -> Any:
    """Run ``hook``, a module's hook of Lightning's training loop, as a Trainer would; one reading a part
    of a Trainer the range test's has not (``self.trainer.optimizers``) is left out from then on, its
    name added to ``left_out``, as batch hooks reading it leave the batches as given. The clipping is
    never left out, nor is a hook's other failure (a logger read where there is none): each is refused in
    one line."""
    if hook.__name__ in left_out:
        return None
    try:
        return hook(*args, **kwargs)
    except Exception as error:
        absent = isinstance(error, RuntimeError) and "not attached to a `Trainer`" in str(error)
        if absent and hook.__name__ != "configure_gradient_clipping":
            left_out.add(hook.__name__)
            return None
        raise _hook_failed(hook, error, "sweep its network with optimlab.doctor.lr_range_test") from error


@contextlib.contextmanager
def _hooks_before_each_step(
    module: pl.LightningModule,
    optimizer: torch.optim.Optimizer,
    left_out: set[str],
    check_steps: int | None = None,
) -> Iterator[None]:
    """``module``'s hooks that Lightning calls between the backward pass and the update, called there
    by a step pre-hook of ``optimizer`` (the sweep's backward pass runs before ``optimizer.step``), with
    Lightning's arguments: the clipping's are those of the module's Trainer (:class:`_LoopCounts`);
    run by :func:`_run_hook`. Under a check (``check_steps``) a hook that changes the gradients, the
    parameters (compared bit for bit with a copy taken before it: twice the watched parameters' memory
    while it runs) or the parameter groups' settings is refused: the check's training
    (:func:`optimlab.train.fit`) calls none (and its sweep clips before them, where Lightning clips
    after); one that only reads them (Lightning's grad-norm logging) runs."""

    def before_step(stepped: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        counts = module.trainer
        for hook, hook_args in (("on_after_backward", ()), ("on_before_optimizer_step", (stepped,))):
            if check_steps is None or not is_overridden(hook, module):  # Lightning's own: no-ops
                _run_hook(getattr(module, hook), left_out, *hook_args)
                continue
            params = [p for group in stepped.param_groups for p in group["params"]]
            grads, weights = _held([p.grad for p in params], values=True), _held(params, values=True)
            settings = _settings(stepped)
            _run_hook(getattr(module, hook), left_out, *hook_args)
            changes = (
                ("the gradients", _changed(grads, [p.grad for p in params])),
                ("the weights", _changed(weights, params)),
                ("the optimizer's param_groups settings", _settings(stepped) != settings),
            )
            changed = [what for what, moved in changes if moved]
            if changed:
                raise InvalidValueError(
                    "check_steps",
                    f"{check_steps} beside {type(module).__name__}.{hook}(), which changes "
                    + " and ".join(changed),
                    f"None: the check's training (optimlab.train.fit) calls no {hook}; the range test "
                    "without a check calls it as Lightning does",
                )
        _run_hook(
            module.configure_gradient_clipping,
            left_out,
            stepped,
            gradient_clip_val=counts.gradient_clip_val,
            gradient_clip_algorithm=counts.gradient_clip_algorithm,
        )

    handle = optimizer.register_step_pre_hook(before_step)
    try:
        yield
    finally:
        handle.remove()


class _Held(NamedTuple):
    """A tensor as it was: itself (kept, so that no other tensor takes its id), its in-place count
    (``_version``: ``mul_`` moves it, a write through ``.data`` does not) and, where asked, a copy of its
    values."""

    tensor: Tensor | None
    version: int
    values: Tensor | None


def _held(tensors: list[Tensor | None], *, values: bool = False) -> list[_Held]:
    """``tensors`` as they are now (:class:`_Held`), with a copy of each dense one's values where
    ``values``: the one exact witness of a write through ``.data``, at the memory of the tensors."""
    return [
        _Held(
            t,
            0 if t is None else t._version,
            t.detach().clone() if values and t is not None and not t.is_sparse else None,
        )
        for t in tensors
    ]


def _changed(held: list[_Held], tensors: list[Tensor | None]) -> bool:
    """Whether ``tensors`` differ from ``held`` (:func:`_held`): where their values were copied, any of
    them holds other bits (exact: a permutation is a change, a NaN kept is none, another tensor of the
    same values is none); elsewhere one is another tensor or moved in place."""
    copied = []
    for now, was in zip(tensors, held, strict=True):
        if was.values is None or now is None:
            if now is not was.tensor or (now is not None and now._version != was.version):
                return True
        elif now.shape != was.values.shape or now.dtype != was.values.dtype or now.is_sparse:
            return True
        else:
            copied.append((now, was.values))
    # one read back to the host for all of them: their bits compared on the device
    return bool(copied) and bool(torch.stack([(_bits(a) != _bits(b)).any() for a, b in copied]).any())


def _bits(tensor: Tensor) -> Tensor:
    """``tensor``'s bit patterns, as integers of its element's size: compared exactly, NaN included."""
    return tensor.detach().view(
        {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[tensor.element_size()]
    )


def _settings(optimizer: torch.optim.Optimizer) -> list[dict[str, Any]]:
    """``optimizer``'s settings of each parameter group (lr, momentum, ...), tensors read as numbers."""
    return [
        {k: v.tolist() if isinstance(v, Tensor) else v for k, v in group.items() if k != "params"}
        for group in optimizer.param_groups
    ]


def _range_test(
    module: pl.LightningModule,
    train_dataloaders: Any,
    val_dataloaders: Any,
    datamodule: pl.LightningDataModule | None,
    check_steps: int | None,
    optimizer: torch.optim.Optimizer,
    trainer: pl.Trainer | None,
    accumulated: int,
    options: dict[str, Any],
) -> LRRangeResult:
    """:func:`lr_range_test` of a module whose optimizer is known, a data module attached if any, to be
    fit by ``trainer``, which accumulates ``accumulated`` batches a step."""
    val_source = None
    if datamodule is not None:  # set up as Trainer.fit sets it up
        datamodule.prepare_data()
        datamodule.setup("fit")
        train_dataloaders = datamodule.train_dataloader()
        if (
            check_steps is not None
            and val_dataloaders is None
            and is_overridden("val_dataloader", datamodule)
        ):
            val_dataloaders, val_source = datamodule.val_dataloader(), "val_dataloader()"
    train_source = "train_dataloader()" if datamodule is not None else None
    train_dataloaders = _one_loader("train_dataloaders", train_dataloaders, train_source)
    val_dataloaders = _one_loader("val_dataloaders", val_dataloaders, val_source)
    training_loss = _TrainingLoss(datamodule, module)
    training_loss.accumulated = accumulated
    batching = {key: options.pop(key) for key in ("batch_size", "seed") if key in options}
    training_loss.batches = _Accumulated(
        train_dataloaders, None, compute_loss=training_loss, field="train_dataloaders", **batching
    )
    training_loss.batches.accumulated = training_loss.accumulated
    refuse_unread(  # the check holds its part out by the seed
        batching,
        training_loss.batches.settings,
        train_dataloaders,
        training_loss.batches.source,
        also_reads=("seed",) if check_steps is not None else (),
    )
    if check_steps is not None and val_dataloaders is None:  # the part find_lr trains its candidates on
        split = hold_out(training_loss.batches, training_loss.batches.seed)
        training_loss.checked = split[0] if split is not None else None
    # the batches are made: of batching, the check alone reads the seed (its dropout draws)
    seeded = {"seed": batching["seed"]} if "seed" in batching else {}
    with (
        warnings.catch_warnings(),
        _detached(module, trainer, accumulated),
        _metric_states_kept(module),
        # on the sweep's optimizer: not on the check's candidates' copies
        _hooks_before_each_step(module, optimizer, training_loss.left_out, check_steps),
    ):
        clip = _clip_norm(trainer, module) if check_steps is not None else None
        if clip is not None:  # find_lr clips the sweep and the check's training: not the hook again
            module.trainer.gradient_clip_val = None
            options["grad_clip_norm"] = clip
        # training_step's self.log() calls warn outside a Trainer; the sweep needs only the loss
        warnings.filterwarnings("ignore", message=r"You are trying to `self.log\(\)`")
        try:
            if check_steps is not None:
                try:
                    result = find_lr(
                        module,
                        None,
                        training_loss.batches,
                        optimizer=optimizer,
                        held_out=val_dataloaders,
                        check_steps=check_steps,
                        **seeded,
                        **options,
                    )
                except SkippedBatch:  # raised through optimlab.train.fit, which trains each candidate
                    raise InvalidValueError(
                        "check_steps",
                        f"{check_steps} for {type(module).__name__}, whose training_step returned None "
                        "(skipped a batch) in the check",
                        "None: the sweep alone skips such batches as Lightning does; the check's training "
                        "(optimlab.train.fit) cannot skip one",
                    ) from None
            else:
                result = _sweep(module, None, training_loss.batches, optimizer=optimizer, **options)
        except InvalidValueError as error:
            if error.field == "compute_loss":  # the sweep's: training_step skipped every batch
                raise InvalidValueError(
                    "module",
                    f"{type(module).__name__}, whose training_step returned None for every batch",
                    "a training_step that returns its loss (a tensor or a dict with 'loss')",
                ) from None
            # find_lr names the data by its own arguments (data, held_out): named as the caller gave them
            given = {
                "data": ("train_dataloaders", train_dataloaders),
                "held_out": ("val_dataloaders", val_dataloaders),
            }
            name, value = given.get(error.field, ("", None))
            if not name or error.value is not value:
                raise
            raise InvalidValueError(name, value, error.accepted) from None
    notes = _fit_by_notes(trainer)
    if training_loss.unhooked:
        notes.append(
            "batches as the loader gives them: the module's batch hooks read self.trainer, absent here"
        )
    if training_loss.left_out:
        names = " and ".join(sorted(training_loss.left_out))
        notes.append(f"{names} left out: it read a part of the Trainer absent here")
    return with_notes(result, notes)


def _fit_by_notes(trainer: pl.Trainer | None) -> list[str]:
    """What of ``trainer``'s fit the range test does otherwise, said beside its suggestion: its
    precision (the sweep runs in the module's own dtype) and its processes (the sweep's step reads one
    batch, not one each)."""
    notes = []
    precision = str(getattr(trainer, "precision", "32-true"))
    if precision not in ("32-true", "32"):
        notes.append(f"in the module's own dtype: the Trainer's precision {precision!r} is not taken")
    processes = getattr(trainer, "world_size", 1)
    if processes > 1:
        notes.append(
            f"in one process: the Trainer's {processes} processes each read a batch a step, "
            f"{processes}x the rows of the sweep's"
        )
    return notes
