"""optimlab inside lightning.Trainer (CPU, a few hundred steps, no logger or checkpoints): the doctor's
callback finds the broken setups the other doors find, reports them, the LR range test reads a
LightningModule, and optimlab's optimizers and schedules train in configure_optimizers."""

from __future__ import annotations

import copy
import inspect
import itertools
import json
import math
import warnings
from typing import ClassVar

import lightning
import pytest
import torch
import torchmetrics
from doctor.setups import OPTIMIZERS, cnn, digits, mlp, standardized
from doctor.test_doors import DOOR_CASES
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from optimlab import optim, schedules
from optimlab.doctor import find_lr
from optimlab.doctor import lr_range_test as plain_lr_range_test
from optimlab.errors import InvalidValueError, OptimlabError, OptimlabWarning, UnknownNameError
from optimlab.integrations.lightning import (
    DoctorCallback,
    ScheduleFreeModes,
    configure_optimizers,
    lr_range_test,
)
from optimlab.integrations.trainer_doctor import unwrapped


class Classifier(lightning.LightningModule):
    """``net`` trained with ``loss`` by the optimizer ``make_optimizer(parameters)`` returns."""

    def __init__(self, net, loss, make_optimizer):
        super().__init__()
        self.net, self.loss, self.make_optimizer = net, loss, make_optimizer

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss(self(x), y)
        self.log("train_loss", loss)
        return {"loss": loss}

    def configure_optimizers(self):
        return self.make_optimizer(self.parameters())


class Validated(Classifier):
    """:class:`Classifier` with a validation step."""

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", self.loss(self(x), y))


class ManualClassifier(Classifier):
    """:class:`Classifier` under manual optimization: ``training_step`` steps the optimizer itself (and
    a second one, over a probe of its own, after it, as a GAN steps two), returning nothing."""

    def __init__(self, net, loss, make_optimizer):
        super().__init__(net, loss, make_optimizer)
        self.automatic_optimization = False
        self.probe = nn.Linear(net[0].in_features, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        first, second = self.optimizers()
        for optimizer, loss in ((first, self.loss(self(x), y)), (second, self.probe(x).square().mean())):
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()

    def configure_optimizers(self):
        return [self.make_optimizer(self.net.parameters()), torch.optim.SGD(self.probe.parameters(), lr=0.01)]


def fit(module, data, steps, callbacks=(), batch_size=32, shuffle=True, val=None, **trainer_args):
    trainer = lightning.Trainer(
        **trainer_args,
        max_steps=steps,
        callbacks=list(callbacks),
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    val_loader = DataLoader(TensorDataset(*val), batch_size=batch_size) if val is not None else None
    trainer.fit(module, DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle), val_loader)
    return trainer


@pytest.mark.parametrize("case", DOOR_CASES)
def test_the_callback_finds_the_root_cause_the_other_doors_find(case):
    setup, rule = DOOR_CASES[case]
    module = Classifier(setup.model(), setup.loss, lambda p: OPTIMIZERS[setup.optimizer](p, setup.lr))
    doctor = DoctorCallback(print_findings=False)
    fit(module, setup.data(), setup.steps, [doctor])
    assert [f.rule for f in doctor.diagnosis.findings][:1] == [rule], doctor.diagnosis.findings
    steps = doctor.diagnosis.statistics.steps  # all, or up to the first NaN
    assert steps == list(range(1, len(steps) + 1)) and (len(steps) == setup.steps or rule == "nan_inf")


@pytest.mark.parametrize("case", ["relu mlp, pixels 0..255", "deep sigmoid mlp, tiny init"])
def test_under_manual_optimization_the_callback_watches_the_first_optimizer_and_its_loss(case):
    setup, rule = DOOR_CASES[case]
    torch.manual_seed(0)
    module = ManualClassifier(setup.model(), setup.loss, lambda p: OPTIMIZERS[setup.optimizer](p, setup.lr))
    doctor = DoctorCallback(print_findings=False)
    x, y = setup.data()
    with torch.no_grad():
        first_loss = setup.loss(module.net(x[:32]), y[:32]).item()  # the first batch, in order
    fit(module, (x[:320], y[:320]), 2 * 30, [doctor], shuffle=False)  # 2 optimizers: 30 batches
    assert [f.rule for f in doctor.diagnosis.findings][:1] == [rule], doctor.diagnosis.findings
    seen = doctor.diagnosis.statistics
    assert seen.steps == list(range(1, 31))
    assert len(seen.layers) == sum(isinstance(m, nn.Linear) for m in module.net.modules())  # not the probe
    assert seen.losses[0] == pytest.approx(first_loss, rel=1e-5)  # the net's loss, not the probe's


def test_the_findings_reach_the_terminal_json_and_html(tmp_path, capsys):
    setup, _ = DOOR_CASES["relu mlp, pixels 0..255"]
    module = Classifier(setup.model(), setup.loss, lambda p: torch.optim.Adam(p, lr=1e-3))
    doctor = DoctorCallback(json_path=tmp_path / "doctor.json", html_path=tmp_path / "doctor.html")
    fit(module, setup.data(), 30, [doctor])
    title = doctor.diagnosis.findings[0].title
    assert title in capsys.readouterr().out
    assert json.loads((tmp_path / "doctor.json").read_text())["findings"][0]["title"] == title
    assert title in (tmp_path / "doctor.html").read_text()


def test_a_cnn_with_batch_norm_from_a_dataloader_is_healthy_and_its_layers_are_seen():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    # Adam at 3e-2: at 3e-3 this net's loss fell 2.30 -> 2.27 in 60 steps (2.10 after 300), no progress
    module = Classifier(net, nn.CrossEntropyLoss(), lambda p: torch.optim.Adam(p, lr=3e-2))
    doctor = DoctorCallback(print_findings=False)
    fit(module, standardized(), 60, [doctor])
    stats = doctor.diagnosis.statistics
    assert doctor.diagnosis.healthy, doctor.diagnosis.problems
    assert [layer.kind for layer in stats.layers] == ["Conv2d", "BatchNorm2d", "Linear"]
    assert stats.layers[0].normalized and stats.layers[0].activation == "relu"


def test_the_range_test_of_a_module_is_the_range_test_of_its_net_and_loss():
    net, (x, y) = cnn(), standardized()
    module = Classifier(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    weights = {k: v.clone() for k, v in module.state_dict().items()}
    result = lr_range_test(module, (x, y), steps=40, batch_size=32)
    reference = plain_lr_range_test(
        net, nn.CrossEntropyLoss(), x, y, torch.optim.SGD(net.parameters(), lr=0.1), steps=40, batch_size=32
    )
    assert result.losses == pytest.approx(reference.losses, rel=1e-5) and len(result.losses) > 10
    assert all(torch.equal(v, weights[k]) for k, v in module.state_dict().items())
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    assert len(lr_range_test(module, loader, steps=20).lrs) == 20


class Scheduled(Classifier):
    """:class:`Classifier` stepped by SGD at ``lrs[step]`` (a LambdaLR at interval 'step', base lr 1), each
    training_step's loss kept in ``seen``."""

    def __init__(self, lrs):
        super().__init__(
            nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)), nn.CrossEntropyLoss(), None
        )
        self.lrs, self.seen, self.at = lrs, [], []

    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.seen.append(out["loss"].item())
        self.at.append((batch_idx, self.global_step, self.current_epoch))
        return out

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=1.0)
        lr = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: self.lrs[min(s, len(self.lrs) - 1)])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": lr, "interval": "step"}}


def _quiet_trainer(**flags):
    flags = {"accelerator": "cpu", "devices": 1, **flags}
    return lightning.Trainer(**flags, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                             enable_model_summary=False)  # fmt: skip


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_the_sweep_clips_the_gradients_as_the_trainer_it_is_given_does(algorithm):
    """A Trainer(gradient_clip_val=...) was ignored: the sweep stepped the unclipped gradient, so a user
    whose fit clips got an lr measured without clipping. Truth: a real Trainer fit with that clipping,
    stepped at the sweep's lrs on the same batches: its loss before each step is the sweep's after the
    one before, step for step."""
    steps, start, end = 12, 0.01, 3.0
    lrs = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
    clip = {"gradient_clip_val": 0.05, "gradient_clip_algorithm": algorithm}
    data = standardized()
    torch.manual_seed(0)
    truth = Scheduled(lrs)
    module = copy.deepcopy(truth)
    fit(truth, data, steps + 1, shuffle=False, **clip)
    loader = DataLoader(TensorDataset(*data), batch_size=32)
    result = lr_range_test(
        module, loader, start_lr=start, end_lr=end, steps=steps, trainer=_quiet_trainer(**clip)
    )
    assert result.lrs == pytest.approx(lrs, rel=1e-12)
    assert result.losses == pytest.approx(truth.seen[1:], rel=1e-5, abs=1e-6)
    unclipped = lr_range_test(module, loader, start_lr=start, end_lr=end, steps=steps)
    assert max(abs(a - b) for a, b in zip(unclipped.losses, truth.seen[1:])) > 0.01  # the clipping matters
    # a module fit before (here set back to its first weights) is swept as the Trainer it was fit with clips
    truth.load_state_dict(module.state_dict())
    assert lr_range_test(truth, loader, start_lr=start, end_lr=end, steps=steps).losses == result.losses


def test_the_sweep_accumulates_gradients_as_the_trainer_it_is_given_does():
    """Trainer(accumulate_grad_batches=3) was ignored: the sweep stepped every batch. Truth: a real Trainer
    fit at the sweep's lrs on 7 batches an epoch (groups of 3, 3 and 1: Lightning steps at an epoch's last
    batch, each loss divided by 3): the sweep's loss after each step is the mean of the next step's
    batches' losses there, and training_step sees the batch_idx, global_step and epoch it sees there."""
    steps, start, end = 9, 0.01, 1.0
    lrs = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
    x, y = standardized()
    data = x[:200], y[:200]  # 7 batches of 32, the last of 8
    torch.manual_seed(0)
    truth = Scheduled(lrs)
    module = copy.deepcopy(truth)
    fit(truth, data, steps + 1, shuffle=False, accumulate_grad_batches=3)
    groups = [range(e * 7 + a, e * 7 + b) for e in range(4) for a, b in ((0, 3), (3, 6), (6, 7))]
    expected = [sum(truth.seen[i] for i in g) / len(g) for g in groups[1 : steps + 1]]
    loader = DataLoader(TensorDataset(*data), batch_size=32)
    trainer = _quiet_trainer(accumulate_grad_batches=3)
    result = lr_range_test(module, loader, start_lr=start, end_lr=end, steps=steps, trainer=trainer)
    assert result.lrs == pytest.approx(lrs, rel=1e-12)
    assert result.losses == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert module.at == truth.at[: len(module.at)] and len(module.at) == groups[steps][-1] + 1
    # the factor given by Lightning's callback, which sets the Trainer's as each epoch starts
    scheduled = _quiet_trainer(callbacks=[lightning.pytorch.callbacks.GradientAccumulationScheduler({0: 3})])
    again = lr_range_test(module, loader, start_lr=start, end_lr=end, steps=steps, trainer=scheduled)
    assert again.losses == result.losses


class RecordsHooks(Classifier):
    """:class:`Classifier` keeping the name and arguments of each hook of a step as it is called."""

    def __init__(self):
        super().__init__(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.01))
        self.calls, self.end_epoch_at = [], None

    def _called(self, name, *args):
        self.calls.append((name, *(type(a).__name__ if isinstance(a, (torch.Tensor, torch.optim.Optimizer)) else a
                                   for a in args)))  # fmt: skip

    def on_before_batch_transfer(self, batch, dataloader_idx):
        self._called("on_before_batch_transfer", dataloader_idx)
        return batch

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        self._called("transfer_batch_to_device", str(device), dataloader_idx)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        self._called("on_after_batch_transfer", dataloader_idx)
        return batch

    def on_train_batch_start(self, batch, batch_idx):
        self._called("on_train_batch_start", batch_idx, self.global_step)
        return -1 if batch_idx == self.end_epoch_at else None

    def training_step(self, batch, batch_idx):
        self._called("training_step", batch_idx)
        return super().training_step(batch, batch_idx)

    def on_train_batch_end(self, outputs, batch, batch_idx):
        self._called(
            "on_train_batch_end", sorted(outputs), outputs["loss"].requires_grad, batch_idx, self.global_step
        )

    def on_after_backward(self):
        self._called("on_after_backward")

    def on_before_optimizer_step(self, optimizer):
        self._called("on_before_optimizer_step", optimizer)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self._called(
            "configure_gradient_clipping", optimizer, gradient_clip_val, str(gradient_clip_algorithm)
        )


def test_the_sweep_calls_the_hooks_of_a_step_a_trainer_calls_in_its_order_with_its_arguments():
    """The sweep skipped on_after_backward, on_before_optimizer_step and configure_gradient_clipping (a
    module masking or clipping its gradients there was swept without it), on_train_batch_start (one
    freezing layers by the step) and on_train_batch_end. Truth: the calls a real Trainer makes in two
    steps, of the hooks the range test documents it calls, with their arguments and global_step."""
    data = standardized()
    trained = RecordsHooks()
    fit(trained, data, 2, shuffle=False)
    called = {"on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer",
              "on_train_batch_start", "training_step", "on_after_backward", "on_before_optimizer_step",
              "configure_gradient_clipping", "on_train_batch_end"}  # fmt: skip
    truth = [call for call in trained.calls if call[0] in called]
    swept = RecordsHooks()
    lr_range_test(swept, DataLoader(TensorDataset(*data), batch_size=32), steps=2, trainer=_quiet_trainer())
    assert swept.calls[: len(truth)] == truth and len(truth) == 18
    assert [c[0] for c in swept.calls[len(truth) :]] == [c[0] for c in truth[:5]]  # the last batch: no step
    swept.end_epoch_at = 1  # Lightning ends the epoch there; the sweep would step on the others
    with pytest.raises(
        InvalidValueError, match=r"RecordsHooks, whose on_train_batch_start returned -1 at batch_idx 1"
    ):
        lr_range_test(swept, data, steps=5, batch_size=32)


def test_a_trainers_precision_and_processes_the_sweep_does_not_take_are_said_in_its_reason():
    """A Trainer fitting in bf16 on 2 processes was swept in 32-bit on one, silently. Truth: the Trainer's
    own precision and world_size; the sweep's dtype is the module's own (its output's dtype, float32 or
    bfloat16: the note said "at 32-bit" of a module already in bfloat16)."""
    seen = []
    for dtype in (torch.float32, torch.bfloat16):
        seen.clear()
        net = nn.Linear(64, 10).to(dtype)
        net.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
        module = Classifier(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
        trainer = _quiet_trainer(precision="bf16-mixed", strategy="ddp", devices=2)
        assert (trainer.precision, trainer.world_size) == ("bf16-mixed", 2)
        x, y = standardized()
        reason = lr_range_test(module, (x.to(dtype), y), steps=10, trainer=trainer).reason
        assert set(seen) == {dtype}
        assert reason.endswith(
            " (in the module's own dtype: the Trainer's precision 'bf16-mixed' is not taken) (in one process: "
            "the Trainer's 2 processes each read a batch a step, 2x the rows of the sweep's)"
        )
        assert (
            "precision"
            not in lr_range_test(module, (x.to(dtype), y), steps=10, trainer=_quiet_trainer()).reason
        )


class LogsInItsStepHooks(Classifier):
    """:class:`Classifier` logging in its step hooks, as Lightning's docs show: gradient norms on rank 0,
    and the lr read from ``self.trainer.optimizers`` (absent from the range test's Trainer) or, under
    ``to_logger``, sent to ``self.logger`` unguarded (there is none there)."""

    to_logger = False

    def on_after_backward(self):
        if self.to_logger:
            self.logger.log_metrics({"step": self.global_step})

    def on_before_optimizer_step(self, optimizer):
        if self.trainer.is_global_zero:
            self.log_dict(lightning.pytorch.utilities.grad_norm(self, norm_type=2))
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])


def test_step_hooks_that_read_a_part_of_the_trainer_absent_in_the_sweep_are_left_out_and_said():
    """Hooks the sweep now calls may read what its Trainer has not: one reading self.trainer.optimizers
    is left out, said in the result, the sweep that of the module without it (truth); one failing
    otherwise is named in one line, not a traceback from inside the optimizer step."""
    data = standardized()
    torch.manual_seed(0)
    plain = Classifier(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    logging = LogsInItsStepHooks(copy.deepcopy(plain.net), plain.loss, plain.make_optimizer)
    result = lr_range_test(logging, data, steps=20, batch_size=32)
    assert result.losses == lr_range_test(plain, data, steps=20, batch_size=32).losses
    assert result.reason.endswith(
        "(on_before_optimizer_step left out: it read a part of the Trainer absent here)"
    )
    logging.to_logger = True
    with pytest.raises(OptimlabError) as refused:
        lr_range_test(logging, data, steps=20, batch_size=32)
    message = str(refused.value)
    assert message.startswith(
        "LogsInItsStepHooks.on_after_backward() raised AttributeError: 'NoneType' object"
    )
    assert "\n" not in message


def test_what_the_sweep_cannot_do_as_the_trainer_is_refused_in_one_line():
    """Accumulation or clipping in the check (optimlab.train.fit steps every batch and runs no module
    hook), or beside SAM or torch's LBFGS (no needs_closure attribute; its step's closure has no default):
    Lightning clips each of their gradients, evaluates a group's last batch again: each named, before any
    step."""
    data = standardized()
    module = Classifier(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    before = copy.deepcopy(module.state_dict())
    for trainer, kwargs, field in (
        (_quiet_trainer(accumulate_grad_batches=4), {"check_steps": 5},
         "'5 beside Trainer(accumulate_grad_batches=4)' for check_steps"),
        (_quiet_trainer(accumulate_grad_batches=4), {"optimizer": optim.create("sam", module.parameters(), lr=0.1)},
         "SAM, which evaluates the loss again, beside Trainer(accumulate_grad_batches=4)"),
        (_quiet_trainer(gradient_clip_val=1.0, gradient_clip_algorithm="value"), {"check_steps": 5},
         "\"5 beside Trainer(gradient_clip_val=1.0, gradient_clip_algorithm='value')\" for check_steps"),
        (_quiet_trainer(gradient_clip_val=1.0), {"optimizer": optim.create("sam", module.parameters(), lr=0.1)},
         "SAM, which evaluates the loss again, beside Trainer(gradient_clip_val=1.0"),
        (_quiet_trainer(gradient_clip_val=1.0), {"optimizer": torch.optim.LBFGS(module.parameters(), lr=0.1)},
         "LBFGS, which evaluates the loss again, beside Trainer(gradient_clip_val=1.0"),
        (_quiet_trainer(accumulate_grad_batches=4), {"optimizer": torch.optim.LBFGS(module.parameters(), lr=0.1)},
         "LBFGS, which evaluates the loss again, beside Trainer(accumulate_grad_batches=4)"),
        ("not a trainer", {}, "'str' for trainer"),
    ):  # fmt: skip
        with pytest.raises(InvalidValueError) as refused:
            lr_range_test(module, data, steps=5, trainer=trainer, **kwargs)
        assert field in str(refused.value) and "\n" not in str(refused.value), str(refused.value)
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())


def test_the_check_of_a_module_scores_its_candidates_as_find_lr_scores_its_net():
    net, (x, y) = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), standardized()
    train, held_out = (x[:300], y[:300]), (x[300:400], y[300:400])
    module = Classifier(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    quick = {"check_steps": 8, "steps": 30, "batch_size": 32, "start_lr": 1e-3, "end_lr": 10.0}
    result = lr_range_test(module, train, held_out, **quick)
    reference = find_lr(
        net,
        nn.CrossEntropyLoss(),
        *train,
        torch.optim.SGD(net.parameters(), lr=0.1),
        held_out=held_out,
        **quick,
    )
    # training_step gives the loss alone: the candidates are scored by their held-out loss
    assert result.check is not None and "loss" in result.check and len(result.candidates) > 3
    assert [c.score for c in result.candidates] == pytest.approx(
        [c.held_out_loss for c in reference.candidates], rel=1e-4
    )


class Digits(lightning.LightningDataModule):
    """The standardized digits as a data module: split in setup, as Lightning's docs show."""

    def setup(self, stage):
        x, y = standardized()
        self.train, self.held_out = TensorDataset(x[:300], y[:300]), TensorDataset(x[300:400], y[300:400])

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=32)

    def val_dataloader(self):
        return DataLoader(self.held_out, batch_size=32)


def test_the_range_test_and_check_of_a_module_take_a_data_module_as_trainer_fit_does():
    """A LightningDataModule, which Trainer.fit takes in place of its loaders, was refused as data."""
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
    quick = {"check_steps": 8, "steps": 30, "start_lr": 1e-3, "end_lr": 10.0}
    result = lr_range_test(module, Digits(), **quick)
    data = Digits()
    data.setup("fit")
    reference = lr_range_test(module, data.train_dataloader(), data.val_dataloader(), **quick)
    assert result.losses == pytest.approx(reference.losses, rel=1e-6) and len(result.losses) > 10
    assert len(result.candidates) > 3
    assert [c.score for c in result.candidates] == pytest.approx([c.score for c in reference.candidates])


class TwoValidationSets(Digits):
    """:class:`Digits` validated on two loaders, as Lightning takes a list of them."""

    def val_dataloader(self):
        return [DataLoader(self.held_out, batch_size=32), DataLoader(self.train, batch_size=32)]


def test_several_loaders_where_the_range_test_reads_one_are_refused_in_one_line():
    """A data module validating on two loaders (Trainer.fit validates on each) had its list read as
    held-out batches, and the check refused 'a DataLoader' as 'the first batch of the held-out data'.
    Refused now in one line naming the loaders, before any step; a list of one is that one."""
    module = Validated(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                       lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
    assert fit(module, standardized(), 3, val=standardized()).global_step == 3
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(InvalidValueError) as refused:
        lr_range_test(module, TwoValidationSets(), check_steps=4, steps=20)
    assert str(refused.value) == (
        'invalid value "2 DataLoaders (the data module\'s val_dataloader())" for val_dataloaders: accepted '
        "one: the range test and its check read one stream of batches; give the one to read as "
        "lr_range_test(..., val_dataloaders=...)."
    )
    for now, then in zip(module.parameters(), before, strict=True):
        assert torch.equal(now, then)
    data = Digits()
    data.setup("fit")
    quick = {"steps": 20, "start_lr": 1e-3, "end_lr": 10.0}
    one = lr_range_test(module, [data.train_dataloader()], **quick)
    assert one.losses == lr_range_test(module, data.train_dataloader(), **quick).losses


@pytest.mark.parametrize(
    "field", ["train_dataloaders", "val_dataloaders", "val_dataloaders beside a data module"]
)
def test_several_loaders_given_are_refused_naming_the_argument_not_a_data_modules_method(field):
    """Two DataLoaders given as val_dataloaders were refused as "2 DataLoaders (val_dataloader())", and
    beside a data module as its val_dataloader()'s, where the user's own argument held them."""
    module = Validated(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    x, y = standardized()
    loader = DataLoader(TensorDataset(x[:96], y[:96]), batch_size=32)
    train, val = {
        "train_dataloaders": ([loader, loader], None),
        "val_dataloaders": (loader, [loader, loader]),
        "val_dataloaders beside a data module": (Digits(), [loader, loader]),
    }[field]
    with pytest.raises(InvalidValueError) as refused:
        lr_range_test(module, train, val, check_steps=4, steps=20)
    name = field.split()[0]
    assert str(refused.value) == (
        f"invalid value '2 DataLoaders' for {name}: accepted one: the range test and its check read one "
        f"stream of batches; give the one to read as lr_range_test(..., {name}=...)."
    )


class ScaledDigits(Digits):
    """:class:`Digits` whose loaders give the inputs times 4, undone by its own on_after_batch_transfer,
    which Lightning runs in place of the module's."""

    def setup(self, stage):
        super().setup(stage)
        self.train = TensorDataset(self.train.tensors[0] * 4, self.train.tensors[1])

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        return x / 4, y


def test_the_range_test_runs_a_data_modules_batch_hooks_as_trainer_fit_does():
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
    quick = {"steps": 20, "start_lr": 1e-3, "end_lr": 10.0}
    result = lr_range_test(module, ScaledDigits(), **quick)
    data = Digits()
    data.setup("fit")
    reference = lr_range_test(module, data.train_dataloader(), **quick)
    assert len(result.losses) > 10 and result.losses == pytest.approx(reference.losses, rel=1e-6)


def test_configure_optimizers_forms_are_read_and_others_refused():
    net = nn.Linear(64, 10)
    module = Classifier(net, nn.CrossEntropyLoss(), lambda p: ([torch.optim.SGD(p, lr=0.1)], []))
    assert len(lr_range_test(module, standardized(), steps=10).lrs) == 10
    module = Classifier(net, nn.CrossEntropyLoss(), lambda p: "sgd")
    with pytest.raises(InvalidValueError, match="configure_optimizers"):
        lr_range_test(module, standardized(), steps=10)


def test_two_optimizers_under_automatic_optimization_are_refused_as_lightning_refuses_them():
    """The sweep stepped the first optimizer alone, the second's layer left as it was, for a module
    Trainer.fit refuses ('Training with multiple optimizers is only supported with manual
    optimization'); one clear line, and the one to sweep may still be given."""
    x, y = standardized()
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def two(p):
        sgd = torch.optim.SGD(net[0].parameters(), lr=0.1)
        return [{"optimizer": sgd, "lr_scheduler": torch.optim.lr_scheduler.StepLR(sgd, 5)},
                {"optimizer": torch.optim.SGD(net[2].parameters(), lr=0.1)}]  # fmt: skip

    module = Classifier(net, nn.CrossEntropyLoss(), two)
    with pytest.raises(RuntimeError, match="multiple optimizers is only supported with manual optimization"):
        fit(module, (x, y), 2)
    module = Classifier(net, nn.CrossEntropyLoss(), two)
    with pytest.raises(InvalidValueError) as refused:
        lr_range_test(module, (x, y), steps=10)
    assert str(refused.value).startswith(
        "invalid value '2 optimizers under automatic optimization' for configure_optimizers(): accepted one"
    )
    assert len(lr_range_test(module, (x, y), steps=10, optimizer=torch.optim.SGD(net.parameters())).lrs) == 10


def test_an_optimlab_optimizer_and_schedule_drive_the_lr_every_step():
    schedule = schedules.create("cosine", total_steps=40, warmup_steps=10)
    module = Classifier(
        nn.Linear(64, 10),
        nn.CrossEntropyLoss(),
        lambda p: configure_optimizers(optim.create("lion", p, lr=1e-3), schedule),
    )
    trainer = fit(module, standardized(), 25)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * schedule(25))


class EpochMetric(Classifier):
    """:class:`Classifier` logging ``val_loss`` from a fixed list, one value per validation epoch."""

    def __init__(self, metrics, make_optimizer):
        super().__init__(nn.Linear(64, 10), nn.CrossEntropyLoss(), make_optimizer)
        self.metrics = metrics

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.metrics[self.current_epoch])


class EpochLRs(lightning.Callback):
    """The first optimizer's lr as each training epoch starts."""

    def __init__(self):
        self.lrs = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_a_plateau_schedule_is_fed_the_monitored_metric_as_torchs_reduce_lr_on_plateau_is():
    """Lightning stepped the plateau schedule without its metric: with val_loss flat, the lr stayed."""
    metrics = [3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0]

    def lrs(make_optimizer):
        x, y = standardized()
        seen = EpochLRs()
        fit(EpochMetric(metrics, make_optimizer), (x[:64], y[:64]), 7 * 2, [seen], val=(x[:32], y[:32]))
        return seen.lrs

    def torchs(parameters):
        optimizer = torch.optim.SGD(parameters, lr=0.1)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=1, eps=0)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}

    plateau = schedules.create("reduce_on_plateau", factor=0.5, patience=1)
    ours = lrs(lambda p: configure_optimizers(optim.create("sgd", p, lr=0.1), plateau, monitor="val_loss"))
    assert ours == pytest.approx(lrs(torchs)) and ours[-1] == pytest.approx(0.05)
    with pytest.raises(InvalidValueError, match="None for monitor: accepted the name of a metric"):
        configure_optimizers(optim.create("sgd", [nn.Parameter(torch.ones(1))]), plateau)
    with pytest.raises(
        InvalidValueError, match="'val_loss' for monitor: accepted None: only a reduce_on_plateau schedule"
    ):
        configure_optimizers(
            optim.create("sgd", [nn.Parameter(torch.ones(1))]),
            schedules.create("cosine", total_steps=9),
            monitor="val_loss",
        )


def test_schedule_free_ends_at_its_evaluation_point_as_in_a_plain_loop():
    x, y = standardized()
    x, y = x[:256], y[:256]

    def make(p):
        return optim.create("schedule_free_adamw", p, lr=1e-2)

    def run(callbacks, **validation):
        torch.manual_seed(0)
        module = Validated(nn.Linear(64, 10), nn.CrossEntropyLoss(), make)
        fit(module, (x, y), 16, callbacks, shuffle=False, **validation)
        return module.net.weight.detach().clone()

    torch.manual_seed(0)
    net = nn.Linear(64, 10)
    optimizer = make(net.parameters())
    optimizer.train()
    for step in range(16):  # 8 batches an epoch, in order
        rows = slice(step % 8 * 32, step % 8 * 32 + 32)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x[rows]), y[rows]).backward()
        optimizer.step()
    optimizer.eval()
    assert torch.allclose(run([ScheduleFreeModes()]), net.weight, atol=1e-6)
    # validated within each epoch (every 3 batches) and at its end: the same weights
    validated = run([ScheduleFreeModes()], val=(x[:64], y[:64]), val_check_interval=3, num_sanity_val_steps=1)
    assert torch.allclose(validated, net.weight, atol=1e-6)
    with pytest.raises(OptimlabError, match="eval mode"):  # without it, nobody calls train()
        run([])


@pytest.mark.parametrize("name", ["sgd", "sam"])
def test_the_gradients_read_are_those_of_each_step_as_in_a_hand_written_loop(name):
    """Lightning runs backward inside optimizer.step (a closure): the callback must read each step's
    own gradients, not the previous step's; and SAM's at the weights, not at the perturbed weights
    where it evaluates the closure again."""
    from optimlab.doctor import Instruments

    x, y = standardized()
    x, y = x[:320], y[:320]

    def make(p):
        return optim.create(name, p, lr=0.05)

    torch.manual_seed(0)
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: configure_optimizers(make(p)))  # fmt: skip
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = make(net.parameters())
    instruments = Instruments(net, optimizer)
    instruments.start()
    for step in range(1, 21):  # 10 batches an epoch, in order
        rows = slice((step - 1) % 10 * 32, (step - 1) % 10 * 32 + 32)

        def closure(rows=rows):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(x[rows]), y[rows])
            loss.backward()
            return loss

        loss = closure()
        optimizer.step(closure) if name == "sam" else optimizer.step()
        instruments.record_step(step, loss.item(), 0.05)
    instruments.stop()
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x, y), 20, [doctor], shuffle=False)
    seen = doctor.diagnosis.statistics
    assert torch.allclose(seen.global_grad_norms(), instruments.statistics.global_grad_norms(), rtol=1e-5)
    assert seen.losses == pytest.approx(instruments.statistics.losses, rel=1e-5)
    _, ratios = seen.update_to_weight_ratios()
    assert torch.allclose(ratios, instruments.statistics.update_to_weight_ratios()[1], rtol=1e-4)


class ManualClosure(Classifier):
    """:class:`Classifier` under manual optimization, stepping as a hand-written loop steps SAM: the
    closure run once, then ``step(closure)``."""

    def __init__(self, net, loss, make_optimizer):
        super().__init__(net, loss, make_optimizer)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        x, y = batch
        optimizer = self.optimizers()

        def closure():
            optimizer.zero_grad()
            loss = self.loss(self(x), y)
            self.manual_backward(loss)
            return loss

        closure()
        optimizer.step(closure=closure)


def _sam_by_hand(make, x, y, batches: list[int]) -> nn.Module:
    """The 64-32-10 net drawn at seed 0, trained by SAM (``make(params)``) in a hand-written loop over
    the given batches of 32 rows of ``(x, y)``, each a step: the closure's gradient, then step(closure)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = make(net.parameters())
    for batch in batches:

        def closure(rows=slice(batch * 32, batch * 32 + 32)):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(x[rows]), y[rows])
            loss.backward()
            return loss

        closure()
        optimizer.step(closure)
    return net


@pytest.mark.parametrize(
    "returned", ["through configure_optimizers", "directly", "under manual optimization"]
)
def test_sam_in_configure_optimizers_steps_as_in_a_hand_written_loop(returned):
    """Lightning's closure zeroes the gradients inside step(): SAM found the last step's (at its
    perturbed weights), took them for the gradient at the weights, and evaluated the loss once a step;
    so too returned directly from a module's configure_optimizers, without optimlab's helper (weights
    0.0055 off the hand-written loop's after 20 steps): SAM itself tells the gradients its last step left.
    Under manual optimization, through the helper, the gradients its closure made before step() are
    no accumulation's (refused once, before its refusal read the trainer's accumulate_grad_batches)."""
    x, y = standardized()
    x, y = x[:320], y[:320]

    def make(p):
        return optim.create("sam", p, lr=0.05)

    torch.manual_seed(0)
    configured = (lambda p: configure_optimizers(make(p))) if returned != "directly" else make
    kind = ManualClosure if returned == "under manual optimization" else Classifier
    module = kind(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                  configured)  # fmt: skip
    net = _sam_by_hand(make, x, y, [step % 10 for step in range(20)])  # 10 batches an epoch, in order
    fit(module, (x, y), 20, shuffle=False)
    for trained, reference in zip(module.net.parameters(), net.parameters(), strict=True):
        assert torch.allclose(trained, reference, atol=1e-6)


class SkipsSecondOfThree(Classifier):
    """:class:`Classifier` whose ``training_step`` returns None (Lightning skips the batch) on batches
    1, 4, 7, ... of each epoch."""

    def training_step(self, batch, batch_idx):
        return None if batch_idx % 3 == 1 else super().training_step(batch, batch_idx)


def test_sam_in_a_trainer_that_skips_batches_steps_on_the_others_as_a_hand_written_loop():
    """A skipped batch leaves SAM's closure without a gradient: SAM raised IndexError (the perturbation
    of no parameter) where SGD makes no update. The truth: a hand-written SAM loop over the batches
    not skipped."""
    x, y = standardized()
    x, y = x[:320], y[:320]

    def make(p):
        return optim.create("sam", p, lr=0.05)

    torch.manual_seed(0)
    module = SkipsSecondOfThree(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
                                nn.CrossEntropyLoss(), lambda p: configure_optimizers(make(p)))  # fmt: skip
    net = _sam_by_hand(make, x, y, [0, 2, 3, 5, 6, 8])  # of batches 0..8, the 9 steps Lightning counts
    fit(module, (x, y), 9, shuffle=False)
    for trained, reference in zip(module.net.parameters(), net.parameters(), strict=True):
        assert torch.allclose(trained, reference, atol=1e-6)


def test_sam_under_lightnings_gradient_accumulation_is_refused_before_any_update():
    """Trainer(accumulate_grad_batches=2) runs a group's first batch outside step() and its last alone in
    the closure: SAM perturbed along the first batch's gradient and stepped with the last's (weights 0.024
    off exact SAM over both batches, a hand-written loop's, after 10 steps). Refused in one line at the
    first step, naming accumulate_grad_batches, the weights untouched."""
    x, y = standardized()
    torch.manual_seed(0)
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: configure_optimizers(optim.create("sam", p, lr=0.05)))  # fmt: skip
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(InvalidValueError) as refused:
        fit(module, (x[:320], y[:320]), 10, shuffle=False, accumulate_grad_batches=2)
    assert str(refused.value).startswith(
        "invalid value '2 beside SAM, whose step evaluates the loss again' for accumulate_grad_batches: "
        "accepted 1, with a batch_size 2x as large"
    )
    assert "\n" not in str(refused.value)
    for now, then in zip(module.parameters(), before, strict=True):
        assert torch.equal(now, then)


def test_sam_under_float16_mixed_precision_is_refused_naming_precision_before_any_update():
    """precision='16-mixed' (on CUDA: a GradScaler; here the same plugin with torch's CPU GradScaler)
    runs the closure itself, then steps through the scaler with no closure: SAM raised its generic
    'sam needs optimizer.step(closure)', naming no Trainer flag. Refused in one line naming precision
    and what is accepted, at the first step, the weights untouched."""
    from lightning.pytorch.plugins import MixedPrecision

    x, y = standardized()
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: configure_optimizers(optim.create("sam", p, lr=0.05)))  # fmt: skip
    before = [p.detach().clone() for p in module.parameters()]
    scaled = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
    with pytest.raises(InvalidValueError) as refused:
        fit(module, (x[:320], y[:320]), 3, plugins=[scaled])
    assert str(refused.value) == (
        "invalid value \"'16-mixed' (a GradScaler) beside SAM, whose step evaluates the loss again\" for "
        "precision: accepted 'bf16-mixed' or '32-true': Lightning's GradScaler steps the optimizer without "
        "a closure."
    )
    for now, then in zip(module.parameters(), before, strict=True):
        assert torch.equal(now, then)


def test_the_range_test_of_a_module_under_manual_optimization_is_refused_in_one_line():
    setup, _ = DOOR_CASES["relu mlp, pixels 0..255"]
    module = ManualClassifier(setup.model(), setup.loss, lambda p: OPTIMIZERS[setup.optimizer](p, setup.lr))
    with pytest.raises(InvalidValueError, match="under manual optimization") as refused:
        lr_range_test(module, DataLoader(TensorDataset(*setup.data()), batch_size=32), steps=20)
    assert "\n" not in str(refused.value)


def test_the_callback_sees_how_the_loader_mixes_the_data():
    """Digits ordered by label in a loader that does not shuffle: the callback finds what the doctor's
    own run finds from the same batches."""
    x, y = standardized()
    order = torch.argsort(y, stable=True)
    torch.manual_seed(0)
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: torch.optim.Adam(p, 1e-3))  # fmt: skip
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x[order], y[order]), 60, [doctor], shuffle=False)
    assert "unshuffled_data" in [f.rule for f in doctor.diagnosis.findings], doctor.diagnosis.findings
    assert len(doctor.diagnosis.statistics.batch_targets) == 50


class Recorded(Classifier):
    """:class:`Classifier` keeping the loss of each batch its ``training_step`` computed."""

    def __init__(self, net, loss, make_optimizer):
        super().__init__(net, loss, make_optimizer)
        self.losses = []

    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.losses.append(out["loss"].item())
        return out


def test_under_gradient_accumulation_a_steps_loss_is_the_mean_of_its_batches():
    x, y = standardized()
    torch.manual_seed(0)
    module = Recorded(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                      lambda p: torch.optim.SGD(p, lr=0.05))  # fmt: skip
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x[:256], y[:256]), 6, [doctor], shuffle=False, accumulate_grad_batches=4)
    seen = doctor.diagnosis.statistics
    assert seen.steps == list(range(1, 7)) and len(module.losses) == 24
    means = [sum(module.losses[i : i + 4]) / 4 for i in range(0, 24, 4)]
    assert seen.losses == pytest.approx(means, rel=1e-5)


def test_an_epochs_last_shorter_group_is_one_step_whose_loss_is_its_batches_mean():
    """7 batches an epoch under accumulate_grad_batches=3: Lightning steps after batches 3, 6 and 7
    (the last group of one, its loss still divided by 3). Truth: the Trainer's global_step and the
    losses training_step computed."""
    x, y = standardized()
    torch.manual_seed(0)
    module = Recorded(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                      lambda p: torch.optim.SGD(p, lr=0.05))  # fmt: skip
    doctor = DoctorCallback(print_findings=False)
    trainer = fit(
        module, (x[:200], y[:200]), -1, [doctor], shuffle=False, max_epochs=2, accumulate_grad_batches=3
    )
    groups = [range(e * 7 + a, e * 7 + b) for e in range(2) for a, b in ((0, 3), (3, 6), (6, 7))]
    assert doctor.diagnosis.statistics.steps == list(range(1, trainer.global_step + 1)) == list(range(1, 7))
    means = [sum(module.losses[i] for i in g) / len(g) for g in groups]
    assert doctor.diagnosis.statistics.losses == pytest.approx(means, rel=1e-5)


class NeedsTrainer(Classifier):
    """Sizes its OneCycleLR by the Trainer's count of steps, as Lightning's docs show."""

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        steps = self.trainer.estimated_stepping_batches
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def test_the_range_test_of_a_module_whose_optimizers_need_a_trainer_says_so_and_takes_one_given():
    module = NeedsTrainer(nn.Linear(64, 10), nn.CrossEntropyLoss(), None)
    with pytest.raises(InvalidValueError, match="reads self.trainer.*optimizer=") as refused:
        lr_range_test(module, standardized(), steps=10)
    assert "\n" not in str(refused.value)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    assert len(lr_range_test(module, standardized(), steps=10, optimizer=optimizer).lrs) == 10
    with pytest.raises(
        InvalidValueError, match="'Linear' for module: accepted a LightningModule, with training_step"
    ):
        lr_range_test(nn.Linear(64, 10), standardized(), steps=10)


class SkipsBatches(Classifier):
    """:class:`Classifier` whose ``training_step`` returns None (Lightning skips the batch) on every
    third batch, keeping the gradient norm of each step the optimizer takes with gradients."""

    def __init__(self):
        super().__init__(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), nn.CrossEntropyLoss(),
                         lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
        self.norms = {}

    def training_step(self, batch, batch_idx):
        return None if batch_idx % 3 == 1 else super().training_step(batch, batch_idx)

    def on_before_optimizer_step(self, optimizer):
        grads = [p.grad.flatten() for p in self.parameters() if p.grad is not None]
        if grads:
            self.norms[self.trainer.global_step + 1] = torch.cat(grads).norm().item()


def test_a_skipped_batch_gives_its_zero_gradients_to_no_step():
    """The instruments read the skipped batch's missing gradients and gave the next step a gradient
    norm of 0.0 (steps 3, 6, 9, ...: vanishing gradients where there were none)."""
    module, doctor = SkipsBatches(), DoctorCallback(print_findings=False)
    fit(module, standardized(), 15, [doctor], shuffle=False)
    seen = doctor.diagnosis.statistics
    assert seen.steps == [1, 3, 4, 6, 7, 9, 10, 12, 13, 15]  # Lightning counts the skipped steps
    assert seen.global_grad_norms().tolist() == pytest.approx([module.norms[s] for s in seen.steps], rel=1e-5)


class SkipsFlagged(Classifier):
    """:class:`Classifier` over batches ``(x, y, skip)`` whose ``training_step`` returns None (Lightning
    skips the batch) where ``skip`` is set, keeping each batch's loss (None where skipped)."""

    def __init__(self, make_optimizer):
        torch.manual_seed(0)
        super().__init__(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), nn.CrossEntropyLoss(),
                         make_optimizer)  # fmt: skip
        self.seen = []

    def training_step(self, batch, batch_idx):
        x, y, skip = batch
        loss = None if skip.any() else self.loss(self(x), y)
        self.seen.append(None if loss is None else loss.item())
        return loss


def test_the_range_test_skips_a_batch_whose_training_step_returns_none_as_lightning_does():
    """A training_step returning None stopped the range test at once ('NoneType for the
    training_step's output'). Lightning skips the batch (no update) and still counts it a step: its
    schedule, and its Tuner's sweep, go on. The truth is a real Trainer stepping the sweep's lrs as an
    every-step schedule over the same batches: each point is the lr of a step taken and the loss the
    next batch not skipped measured after it."""
    x, y = standardized()
    x, y = x[:640], y[:640]
    skip = torch.arange(640) // 32 % 3 == 2  # every third batch of 32
    loader = DataLoader(TensorDataset(x, y, skip), batch_size=32)
    steps, start_lr, end_lr = 20, 1e-3, 1.0

    def sweep(i):
        return start_lr * (end_lr / start_lr) ** (i / (steps - 1))

    module = SkipsFlagged(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))
    result = lr_range_test(module, loader, steps=steps, start_lr=start_lr, end_lr=end_lr)
    assert result.stopped_at is None and "6 batches skipped" in result.reason

    def every_step(p):
        sgd = torch.optim.SGD(p, lr=1.0, momentum=0.9)
        schedule = torch.optim.lr_scheduler.LambdaLR(sgd, lambda i: sweep(min(i, steps - 1)))
        return {"optimizer": sgd, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    module.seen, module.make_optimizer = [], every_step
    fit(module, (x, y, skip), steps + 1, shuffle=False)  # batch 20 measures the step at batch 19
    lrs, losses, taken = [], [], None
    for i, loss in enumerate(module.seen):
        if loss is None:  # no step at sweep(i)
            continue
        if taken is not None:
            lrs.append(taken)
            losses.append(loss)
        taken = sweep(i)
    assert result.lrs == pytest.approx(lrs, rel=1e-9) and len(lrs) == 14
    assert result.losses == pytest.approx(losses, rel=1e-5)


def test_a_module_skipping_every_batch_or_one_in_the_check_is_refused_in_one_line():
    """A training_step that returns nothing (a forgotten 'return loss') skips every batch: told, not a
    curve of no point; the check's runs (optimlab.train.fit) cannot skip a batch: refused, naming
    check_steps, the module untouched."""
    x, y = standardized()
    module = SkipsFlagged(lambda p: torch.optim.SGD(p, lr=0.1))
    before = [p.detach().clone() for p in module.parameters()]
    always = DataLoader(TensorDataset(x, y, torch.ones(len(y), dtype=torch.bool)), batch_size=32)
    with pytest.raises(InvalidValueError) as refused:
        lr_range_test(module, always, steps=10)
    assert str(refused.value) == (
        "invalid value 'SkipsFlagged, whose training_step returned None for every batch' for module: "
        "accepted a training_step that returns its loss (a tensor or a dict with 'loss')."
    )
    sometimes = DataLoader(TensorDataset(x, y, torch.arange(len(y)) % 100 == 0), batch_size=32, shuffle=True)
    with pytest.raises(InvalidValueError, match="^invalid value '3 for SkipsFlagged, whose training_step ret"
                       "urned None .skipped a batch. in the check' for check_steps: accepted None") as refused:  # fmt: skip
        lr_range_test(module, sometimes, steps=30, start_lr=1e-3, end_lr=1.0, check_steps=3)
    assert "\n" not in str(refused.value)
    for now, then in zip(module.parameters(), before, strict=True):
        assert torch.equal(now, then)


class SkipsPerturbed(Classifier):
    """:class:`Classifier` under SAM whose ``training_step`` returns None on every second call: SAM's
    at its perturbed weights, as one that skips a non-finite loss may there."""

    def __init__(self):
        torch.manual_seed(0)
        super().__init__(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), nn.CrossEntropyLoss(),
                         lambda p: configure_optimizers(optim.create("sam", p, lr=0.1)))  # fmt: skip
        self.calls = 0

    def training_step(self, batch, batch_idx):
        self.calls += 1
        return None if self.calls % 2 == 0 else super().training_step(batch, batch_idx)


def test_a_batch_skipped_at_sams_perturbed_weights_updates_nothing_as_under_lightning():
    """Lightning's SAM step whose closure returns None at the perturbed weights has no gradient there
    and updates nothing; the range test let the skip escape SAM's step (its weights left perturbed). Each
    point is then the loss of the untrained net on the next batch."""
    x, y = standardized()
    x, y = x[:320], y[:320]
    module = SkipsPerturbed()
    with torch.no_grad():
        untrained = [
            nn.functional.cross_entropy(module(x[i : i + 32]), y[i : i + 32]).item()
            for i in range(32, 320, 32)
        ]
    result = lr_range_test(module, DataLoader(TensorDataset(x, y), batch_size=32), steps=9)
    assert result.losses == pytest.approx(untrained, rel=1e-6)
    before = [p.detach().clone() for p in module.parameters()]
    module.calls = 0
    fit(module, (x, y), 9, shuffle=False)
    for now, then in zip(module.parameters(), before, strict=True):
        assert torch.equal(now, then)


class ConvertsBatches(Classifier):
    """:class:`Classifier` of dict batches of 8x8 uint8 images, which its ``on_after_batch_transfer``
    flattens and scales in place, as Lightning's docs convert (or augment) batches on the device."""

    def on_after_batch_transfer(self, batch, dataloader_idx):
        batch["x"] = batch["x"].flatten(1).float() / 16
        return batch

    def training_step(self, batch, batch_idx):
        return super().training_step((batch["x"], batch["y"]), batch_idx)


@pytest.mark.parametrize("name", ["sgd", "sam"])
def test_the_range_test_reads_batches_as_the_trainer_hands_them_over(name):
    """training_step was given the loader's batches without the module's batch hooks: a module
    converting its images there (Trainer.fit trains it) was refused ('mat1 and mat2 must have the same
    dtype'). The hooks run once a batch: SAM's second evaluation reads the same batch, not one scaled
    twice. The truth is the range test of the same net on the converted images."""
    x, y = standardized()
    images = (x.reshape(-1, 8, 8) * 4 + 8).clamp(0, 16).round().to(torch.uint8)[:320]
    rows = [{"x": image, "y": label} for image, label in zip(images, y[:320], strict=True)]

    def make(p):
        return optim.create(name, p, lr=0.1)

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    module = ConvertsBatches(net, nn.CrossEntropyLoss(), make)
    quick = {"steps": 9, "start_lr": 1e-3, "end_lr": 1.0}
    result = lr_range_test(module, DataLoader(rows, batch_size=32), **quick)
    converted = DataLoader(TensorDataset(images.flatten(1).float() / 16, y[:320]), batch_size=32)
    reference = lr_range_test(Classifier(net, nn.CrossEntropyLoss(), make), converted, **quick)
    assert len(result.losses) == 9 and result.losses == pytest.approx(reference.losses, rel=1e-6)


class ReadsItsTrainer(lightning.LightningDataModule):
    """uint8 digit images whose data module reads ``self.trainer`` as Lightning attaches it: the batch
    size per process (``world_size``) and the dtype the inputs take (``precision``); ``mean`` (by
    default none) read through ``self.trainer.datamodule``, which only Trainer.fit sets."""

    def __init__(self, through_datamodule=False):
        super().__init__()
        self.through_datamodule = through_datamodule

    def setup(self, stage):
        x, y = standardized()
        images = (x.reshape(-1, 8, 8) * 4 + 8).clamp(0, 16).round().to(torch.uint8)[:320]
        self.train, self.mean = TensorDataset(images, y[:320]), 0.0

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=32 // self.trainer.world_size)

    def on_before_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        dtype = torch.bfloat16 if self.trainer.precision.startswith("bf16") else torch.float32
        mean = self.trainer.datamodule.mean if self.through_datamodule else 0.0
        return x.flatten(1).to(dtype) / 16 - mean, y


def test_a_data_modules_hooks_that_read_the_trainer_see_one_as_in_trainer_fit():
    """train_dataloader() reading self.trainer.world_size raised AttributeError ('NoneType' object has no
    attribute 'world_size'), and on_before_batch_transfer reading self.trainer.precision was told as a
    refused batch: the data module had no Trainer. It now has one as Trainer.fit attaches it (one
    process, 32-bit, training), and its batches are those Trainer.fit trains on (the truth: the range test
    on the converted images); a hook that fails even so is named in one line, not as the batch."""
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def make(p):
        return torch.optim.SGD(p, lr=0.1)

    trained = lightning.Trainer(max_steps=3, accelerator="cpu", devices=1, logger=False,
                                enable_checkpointing=False, enable_progress_bar=False)  # fmt: skip
    trained.fit(Classifier(copy.deepcopy(net), nn.CrossEntropyLoss(), make), ReadsItsTrainer())
    assert trained.global_step == 3  # Trainer.fit trains on it
    data = ReadsItsTrainer()
    quick = {"steps": 9, "start_lr": 1e-3, "end_lr": 1.0}
    result = lr_range_test(Classifier(net, nn.CrossEntropyLoss(), make), data, **quick)
    assert data.trainer is None  # given back as it was
    data.setup("fit")
    x, y = data.train.tensors
    converted = DataLoader(TensorDataset(x.flatten(1).float() / 16, y), batch_size=32)
    reference = lr_range_test(Classifier(net, nn.CrossEntropyLoss(), make), converted, **quick)
    assert len(result.losses) == 9 and result.losses == pytest.approx(reference.losses, rel=1e-6)
    assert result.reason == reference.reason
    with pytest.raises(OptimlabError) as refused:
        lr_range_test(Classifier(net, nn.CrossEntropyLoss(), make), ReadsItsTrainer(through_datamodule=True))
    assert str(refused.value).startswith(
        "ReadsItsTrainer.on_before_batch_transfer() raised AttributeError: 'NoneType' object has no "
        "attribute 'mean' in the LR range test"
    )
    assert "\n" not in str(refused.value)


class Images:
    """A batch type of one's own, without a ``to`` method: uint8 images and their labels."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels


class MovesItsBatchType(Classifier):
    """:class:`Classifier` over :class:`Images`, which its ``transfer_batch_to_device`` moves to the
    device and converts, as Lightning's docs show for a custom batch type."""

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        if isinstance(batch, Images):
            return batch.images.to(device).flatten(1).float() / 16, batch.labels.to(device)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)


def test_the_range_test_moves_batches_by_the_modules_transfer_batch_to_device():
    """A module moving its own batch type in transfer_batch_to_device, which Trainer.fit trains, had
    its batches refused (the hook was never run: 'cannot unpack non-iterable Images object'). The
    truth is the range test of the same net on the converted images."""
    x, y = standardized()
    images = (x.reshape(-1, 8, 8) * 4 + 8).clamp(0, 16).round().to(torch.uint8)[:320]
    loader = DataLoader(list(zip(images, y[:320], strict=True)), batch_size=32,
                        collate_fn=lambda rows: Images(*map(torch.stack, zip(*rows, strict=True))))  # fmt: skip
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def make(p):
        return torch.optim.SGD(p, lr=0.1)

    trainer = lightning.Trainer(max_steps=3, accelerator="cpu", devices=1, logger=False,
                                enable_checkpointing=False, enable_progress_bar=False)  # fmt: skip
    trainer.fit(MovesItsBatchType(copy.deepcopy(net), nn.CrossEntropyLoss(), make), loader)
    assert trainer.global_step == 3  # Trainer.fit trains on it
    quick = {"steps": 9, "start_lr": 1e-3, "end_lr": 1.0}
    result = lr_range_test(MovesItsBatchType(net, nn.CrossEntropyLoss(), make), loader, **quick)
    converted = DataLoader(TensorDataset(images.flatten(1).float() / 16, y[:320]), batch_size=32)
    reference = lr_range_test(Classifier(net, nn.CrossEntropyLoss(), make), converted, **quick)
    assert len(result.losses) == 9 and result.losses == pytest.approx(reference.losses, rel=1e-6)


class AugmentsInTraining(Classifier):
    """Adds noise to its inputs while ``self.trainer.training``, as Lightning's docs augment batches."""

    def on_after_batch_transfer(self, batch, dataloader_idx):
        x, y = batch
        return (x + torch.randn_like(x), y) if self.trainer.training else batch


def test_batch_hooks_that_read_the_trainer_leave_the_batches_as_given_and_say_so():
    """Such hooks cannot run outside a Trainer: the batches are read as the loader gives them (the
    range test of the same net on the same data), the reason saying so."""
    x, y = standardized()
    loader = DataLoader(TensorDataset(x[:320], y[:320]), batch_size=32)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    module = AugmentsInTraining(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    result = lr_range_test(module, loader, steps=9)
    reference = lr_range_test(Classifier(net, nn.CrossEntropyLoss(), module.make_optimizer), loader, steps=9)
    assert result.losses == pytest.approx(reference.losses, rel=1e-6)
    assert result.reason == reference.reason + (
        " (batches as the loader gives them: the module's batch hooks read self.trainer, absent here)"
    )


class LogsItsLr(Classifier):
    """:class:`Classifier` logging its optimizer's lr through ``self.optimizers()``, which reads its
    Trainer."""

    def training_step(self, batch, batch_idx):
        self.log("lr", self.optimizers().param_groups[0]["lr"])
        return super().training_step(batch, batch_idx)


def test_a_training_step_that_reads_its_trainer_is_named_in_one_line_not_as_the_batch():
    """A training_step reading self.optimizers() (to log the lr), which Trainer.fit trains, was refused
    as 'the first batch' ('LogsItsLr is not attached to a `Trainer`'): the batch was fine. Named now in
    one line for module, the module untouched."""
    x, y = standardized()

    def make(p):
        return torch.optim.SGD(p, lr=0.1)

    trained = LogsItsLr(nn.Sequential(nn.Linear(64, 10)), nn.CrossEntropyLoss(), make)
    assert fit(trained, (x, y), 3).global_step == 3
    module = LogsItsLr(nn.Sequential(nn.Linear(64, 10)), nn.CrossEntropyLoss(), make)
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(InvalidValueError) as refused:
        lr_range_test(module, (x, y), steps=10)
    assert str(refused.value).startswith(
        "invalid value 'LogsItsLr, whose training_step reads its Trainer (self.trainer, self.optimizers(), "
        "self.lr_schedulers())' for module: accepted a training_step that runs outside a Trainer"
    )
    assert "\n" not in str(refused.value)
    for now, then in zip(module.parameters(), before, strict=True):
        assert torch.equal(now, then)


def test_the_optimizer_a_fit_module_gives_is_swept_as_the_one_it_wraps():
    """module.optimizers() of a module fit before is Lightning's wrapper, whose step goes through the
    Trainer: given as optimizer=, the range test raised RuntimeError ('... is not attached to a
    `Trainer`'). The truth is the range test of the optimizer it wraps, the trainer's."""
    x, y = standardized()
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9))  # fmt: skip
    trainer = fit(module, (x, y), 3)
    wrapped = module.optimizers()
    assert wrapped is not trainer.optimizers[0]
    result = lr_range_test(module, (x, y), steps=20, batch_size=32, optimizer=wrapped)
    reference = lr_range_test(module, (x, y), steps=20, batch_size=32, optimizer=trainer.optimizers[0])
    assert len(result.losses) > 10 and result.losses == reference.losses
    assert module.trainer is trainer


class WithoutBatchIndex(Classifier):
    """A ``training_step(self, batch)``: Lightning passes ``batch_idx`` only to one that takes it."""

    def training_step(self, batch):
        return super().training_step(batch, 0)


def test_a_training_step_without_batch_idx_is_read_as_lightning_calls_it():
    """It was called with batch_idx and the first batch refused ('takes 2 positional arguments but 3
    were given'); the truth is the range test of the same net and loss."""
    net, (x, y) = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), standardized()
    module = WithoutBatchIndex(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    result = lr_range_test(module, (x, y), steps=20, batch_size=32)
    reference = plain_lr_range_test(
        net, nn.CrossEntropyLoss(), x, y, torch.optim.SGD(net.parameters(), lr=0.1), steps=20, batch_size=32
    )
    assert len(result.losses) > 10 and result.losses == pytest.approx(reference.losses, rel=1e-5)


class RecordsBatchIndex(Classifier):
    """:class:`Classifier` keeping the ``batch_idx`` of each training_step call, and the
    ``(self.global_step, self.current_epoch)`` it read; skipping every ``skip``-th batch (returns None)."""

    def __init__(self, skip=0):
        super().__init__(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), nn.CrossEntropyLoss(),
                         lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
        self.indices, self.counts, self.skip = [], [], skip

    def training_step(self, batch, batch_idx):
        self.indices.append(batch_idx)
        self.counts.append((self.global_step, self.current_epoch))
        if self.skip and batch_idx % self.skip == 1:
            return None
        return super().training_step(batch, batch_idx)


class Unsized(torch.utils.data.IterableDataset):
    """The rows of ``(x, y)`` in order, as a stream that does not know its length."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __iter__(self):
        return zip(self.x, self.y, strict=True)


@pytest.mark.parametrize("sized", [True, False])
def test_the_range_test_gives_training_step_the_batch_index_lightning_gives(sized):
    """training_step was always given batch_idx 0: one that alternates its losses, or skips, by it saw
    the first batch's index at every batch. The truth is a real Trainer's: the batch's place in its epoch,
    from 0 again at each (10 batches an epoch; 25 batches read, 24 steps)."""
    x, y = standardized()
    x, y = x[:320], y[:320]
    data = TensorDataset(x, y) if sized else Unsized(x, y)
    module = RecordsBatchIndex()
    lr_range_test(module, DataLoader(data, batch_size=32), steps=24, start_lr=1e-3, end_lr=0.1)
    swept, trained = module.indices, RecordsBatchIndex()
    fit(trained, (x, y), 25, shuffle=False)
    assert swept == trained.indices == [i % 10 for i in range(25)]


class Passes(torch.utils.data.IterableDataset):
    """A stream of no __len__ whose k-th pass yields the first ``lengths[k]`` rows of ``(x, y)``."""

    def __init__(self, x, y, lengths):
        self.x, self.y, self.lengths, self.passes = x, y, lengths, 0

    def __iter__(self):
        n = self.lengths[self.passes]
        self.passes += 1
        return zip(self.x[:n], self.y[:n], strict=True)


@pytest.mark.parametrize("accumulated", [1, 2])
def test_a_stream_whose_passes_differ_is_refused_by_the_range_test_in_lightnings_terms(accumulated):
    """The sweep counts the batch_idx, global_step and current_epoch a module reads by the first pass
    (optimlab's plain sweep reads such passes as they come, 5b28f0aa): a stream whose second pass is
    shorter is refused in Lightning's terms, max_steps, not told of total_steps, which Lightning has not."""
    x, y = standardized()
    data = DataLoader(Passes(x, y, [96, 64, 96]), batch_size=32)
    trainer = _quiet_trainer(accumulate_grad_batches=accumulated)
    with pytest.raises(InvalidValueError) as refused:
        lr_range_test(RecordsBatchIndex(), data, steps=6, start_lr=1e-3, end_lr=0.1, trainer=trainer)
    assert str(refused.value).endswith(
        "whose pass 2 yielded only 2 batches, where its first yielded 3' for train_dataloaders: accepted data "
        "of as many batches at every pass (the range test counts the batch_idx, global_step and "
        "current_epoch a module reads by the first pass's count), or a stream without end, as a "
        "Trainer(max_steps=...) reads it."
    )


@pytest.mark.parametrize("skip", [0, 3])
def test_the_range_test_gives_training_step_the_global_step_and_epoch_lightning_gives(skip):
    """self.global_step and self.current_epoch read 0 at every batch of the sweep: a training_step
    warming up by global_step, or logging every N steps, ran as at the first step throughout. The truth
    is a real Trainer's over the same 25 batches (10 an epoch), where a skipped batch (None) counts a
    step too."""
    x, y = standardized()
    loader = DataLoader(TensorDataset(x[:320], y[:320]), batch_size=32)
    module, trained = RecordsBatchIndex(skip), RecordsBatchIndex(skip)
    lr_range_test(module, loader, steps=24, start_lr=1e-3, end_lr=0.1)
    fit(trained, (x[:320], y[:320]), 25, shuffle=False)
    assert module.counts == trained.counts == [(i, i // 10) for i in range(25)]
    assert module.global_step == 0 and module.current_epoch == 0  # detached again, as it was


class TwoGroups(Classifier):
    """:class:`Classifier` whose optimizer steps its head at 10x its body's lr, under a linear warmup from
    0 (``warmup``) as ``configure_optimizers`` returns one, keeping the lrs each training_step ran at."""

    def __init__(self, warmup):
        torch.manual_seed(0)
        super().__init__(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), nn.CrossEntropyLoss(),
                         None)  # fmt: skip
        self.warmup, self.lrs = warmup, []

    def training_step(self, batch, batch_idx):
        self.lrs.append([group["lr"] for group in self.swept.param_groups])
        return super().training_step(batch, batch_idx)

    def configure_optimizers(self):
        body, head = self.net[0].parameters(), self.net[2].parameters()
        self.swept = torch.optim.SGD([{"params": body, "lr": 0.01}, {"params": head, "lr": 0.1}])
        if not self.warmup:
            return self.swept
        warmup = torch.optim.lr_scheduler.LambdaLR(self.swept, lambda step: min(1.0, step / 100))
        return {"optimizer": self.swept, "lr_scheduler": {"scheduler": warmup, "interval": "step"}}


def test_a_warmup_scheduler_beside_the_optimizer_keeps_the_groups_lr_ratios_in_the_sweep():
    """A scheduler made in configure_optimizers sets each group's lr to its first value, a warmup's 0:
    the sweep read the groups' ratios from those zeros, and swept the head at its body's lr, not 10x it,
    without a word. The truth is the sweep of the same optimizer without the scheduler."""
    x, y = standardized()
    loader = DataLoader(TensorDataset(x[:320], y[:320]), batch_size=32)
    warmed, plain = TwoGroups(warmup=True), TwoGroups(warmup=False)
    result = lr_range_test(warmed, loader, steps=12, start_lr=1e-3, end_lr=1.0)
    reference = lr_range_test(plain, loader, steps=12, start_lr=1e-3, end_lr=1.0)
    assert warmed.lrs == plain.lrs and warmed.lrs[1][1] == pytest.approx(10 * warmed.lrs[1][0])
    assert result.losses == pytest.approx(reference.losses, rel=1e-6) and result.reason == reference.reason


class CallsOfEachCopy(RecordsBatchIndex):
    """:class:`RecordsBatchIndex` keeping, in one list shared by its copies (the check's candidates),
    ``(the copy, training, batch_idx)`` of each training_step call (the copy kept: ids are not reused)."""

    calls: ClassVar[list] = []

    def training_step(self, batch, batch_idx):
        self.calls.append((self, self.training, batch_idx))
        return super().training_step(batch, batch_idx)


def test_a_checks_candidate_counts_its_training_batches_from_0_without_its_evaluations():
    """In the check each candidate trains from a copy, one batch a step, as a fit of its own: its
    training batches are 0, 1, 2, ... (fewer than an epoch of its data here), the held-out batches it is
    scored on between them (in eval mode) taking no place among them (they took 5 to 8, the next training
    batch 9); those are counted from 0 at each evaluation, as Lightning counts each validation run's."""
    x, y = standardized()
    CallsOfEachCopy.calls = []
    module = CallsOfEachCopy()
    lr_range_test(module, (x[:512], y[:512]), steps=20, batch_size=32, check_steps=6)
    copies = {id(copy): copy for copy, _, _ in CallsOfEachCopy.calls if copy is not module}
    assert len(copies) > 2
    for each in copies.values():
        calls = [(training, i) for copy, training, i in CallsOfEachCopy.calls if copy is each]
        assert [i for training, i in calls if training] == list(range(6)), calls
        # the copy's counts follow the swept module's, copied with it
        trained = [
            counts
            for (training, _), counts in zip(calls, each.counts[-len(calls) :], strict=True)
            if training
        ]
        assert trained == [(i, 0) for i in range(6)]  # as a fit of its own: global_step 0, 1, ...
        # scored after k steps, global_step reads k, as a real Trainer's validation_step does (below)
        steps = [sum(t for t, _ in calls[:at]) for at, (t, _) in enumerate(calls) if not t]
        scored = [
            c for (training, _), c in zip(calls, each.counts[-len(calls) :], strict=True) if not training
        ]
        assert [step for step, _ in scored] == steps and steps[-1] == 6
        indexed = [(before, now) for before, now in itertools.pairwise(calls) if not now[0]]
        assert indexed and all(now[1] == (0 if before[0] else before[1] + 1) for before, now in indexed), (
            calls
        )
    validated = ValidationSteps()
    fit(validated, (x, y), 6, val=(x[:64], y[:64]), val_check_interval=2, num_sanity_val_steps=0)
    assert validated.steps == [2, 4, 6]


class ValidationSteps(RecordsBatchIndex):
    """:class:`RecordsBatchIndex` keeping the ``self.global_step`` each validation run reads."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def validation_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.steps.append(self.global_step)


def test_a_checks_candidate_wraps_batch_idx_at_the_epoch_of_the_data_it_trains_on():
    """A candidate trains on the data less the fifth the check holds out (128 of 160 rows: 4 batches an
    epoch), but its batch_idx wrapped at the whole data's epoch (5 batches: 0, 1, 2, 3, 4, 0) and its
    current_epoch with it. The truth is a real Trainer's fit of 6 steps on 128 rows."""
    x, y = standardized()
    CallsOfEachCopy.calls = []
    module = CallsOfEachCopy()
    lr_range_test(module, (x[:160], y[:160]), steps=20, batch_size=32, check_steps=6)
    trained = CallsOfEachCopy()
    fit(trained, (x[:128], y[:128]), 6, shuffle=False)
    copies = {id(copy): copy for copy, _, _ in CallsOfEachCopy.calls if copy not in (module, trained)}
    assert len(copies) > 2
    for each in copies.values():
        calls = [(training, i) for copy, training, i in CallsOfEachCopy.calls if copy is each]
        counts = [c for (training, _), c in zip(calls, each.counts[-len(calls) :], strict=True) if training]
        assert [i for training, i in calls if training] == trained.indices == [0, 1, 2, 3, 0, 1]
        assert counts == trained.counts == [(i, i // 4) for i in range(6)]


class Metered(Classifier):
    """:class:`Classifier` with dropout, updating a torchmetrics accuracy in training_step and logging it
    with ``self.log`` and ``self.log_dict``."""

    def __init__(self):
        super().__init__(nn.Sequential(nn.Linear(64, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, 10)),
                         nn.CrossEntropyLoss(), lambda p: torch.optim.Adam(p, lr=1e-3))  # fmt: skip
        self.accuracy = torchmetrics.Accuracy(task="multiclass", num_classes=10)

    def training_step(self, batch, batch_idx):
        out = super().training_step(batch, batch_idx)
        self.accuracy.update(self(batch[0]), batch[1])
        self.log_dict({"accuracy": self.accuracy, "loss": out["loss"]})
        return out


def test_the_range_test_leaves_a_fit_module_its_optimizer_metrics_logs_and_random_state(tmp_path):
    """A torchmetrics metric updated in training_step kept the sweep's batches (tp, fp, ... and its
    update count: a metric's states are in no state dict), so the accuracy the module computed next
    counted them. The truth is the module as Trainer.fit left it: weights, the optimizer's state (Adam's
    moments), the metric's states, the logger's file and torch's random stream, all as before."""
    x, y = standardized()
    module = Metered()
    logger = lightning.pytorch.loggers.CSVLogger(tmp_path)
    trainer = lightning.Trainer(max_steps=5, logger=logger, log_every_n_steps=1, accelerator="cpu",
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False)  # fmt: skip
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=32))
    logger.save()
    module.accuracy.update(module(x[:64]), y[:64])  # Lightning reset it as the fit ended
    optimizer = trainer.optimizers[0]
    before = copy.deepcopy(
        (module.state_dict(), optimizer.state_dict()["state"], module.accuracy.metric_state)
    )
    counted, logged, draws = module.accuracy._update_count, (tmp_path / logger.log_dir / "metrics.csv").read_text(), torch.get_rng_state()  # fmt: skip
    lr_range_test(module, (x, y), steps=20, batch_size=32, optimizer=optimizer)
    after = (module.state_dict(), optimizer.state_dict()["state"], module.accuracy.metric_state)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert module.accuracy._update_count == counted == 1
    assert (tmp_path / logger.log_dir / "metrics.csv").read_text() == logged
    assert torch.equal(torch.get_rng_state(), draws) and module.trainer is trainer


def test_the_range_test_of_a_module_fit_before_is_its_nets_and_leaves_it_attached():
    """A module fit before (attached to its Trainer) raised at its training_step's self.log() ('the loop's
    result collection is not registered yet'): the range test runs it apart from that Trainer, as one
    never fit; the truth is the plain range test of its net as trained."""
    x, y = standardized()
    module = Classifier(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), nn.CrossEntropyLoss(),
                        lambda p: torch.optim.SGD(p, lr=0.1))  # fmt: skip
    trainer = fit(module, (x, y), 3)
    result = lr_range_test(module, (x, y), steps=20, batch_size=32)
    net = module.net
    reference = plain_lr_range_test(
        net, nn.CrossEntropyLoss(), x, y, torch.optim.SGD(net.parameters(), lr=0.1), steps=20, batch_size=32
    )
    assert len(result.losses) > 10 and result.losses == pytest.approx(reference.losses, rel=1e-5)
    assert module.trainer is trainer


def test_the_range_tests_bad_data_is_named_by_the_argument_given():
    """Wrong data was named by find_lr's own arguments: 'invalid value 5 for held_out', 'for data'."""
    module = Classifier(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    with pytest.raises(InvalidValueError, match="^invalid value 5 for val_dataloaders: accepted a pair"):
        lr_range_test(module, standardized(), 5, check_steps=3, steps=10)
    with pytest.raises(InvalidValueError, match="^invalid value None for train_dataloaders: accepted a pair"):
        lr_range_test(module, None, steps=10)


def test_what_the_module_gives_the_range_test_is_refused_as_an_option_and_unknown_ones_named():
    """lr_range_test(module, loader, model=...) (or loss_fn, compute_loss, data, held_out) raised Python's
    TypeError 'got multiple values for argument', y= and a DataLoader's batch_size=4 or seed=3 (without
    the check, which draws by it) were silently ignored, and an unknown keyword was told to use model, data or loss_fn. Each is one line now."""
    x, y = standardized()
    module = Classifier(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    before = copy.deepcopy(module.state_dict())
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    given = {"model": module, "loss_fn": nn.MSELoss(), "compute_loss": lambda m, b: 0.0, "data": x, "y": y}
    for name, value in given.items():
        with pytest.raises(
            InvalidValueError, match=f"for {name} of lr_range_test\\(module\\): accepted none: "
        ):
            lr_range_test(module, loader, steps=5, **{name: value})
    with pytest.raises(
        InvalidValueError, match="for held_out of lr_range_test.module.: accepted none: val_data"
    ):
        lr_range_test(module, loader, steps=5, check_steps=2, held_out=loader)
    # the sweep clips by the Trainer's flags: a clip of its own would clip again
    with pytest.raises(
        InvalidValueError, match="for grad_clip_norm of lr_range_test.module.: .*gradient_clip_val"
    ):
        lr_range_test(module, loader, steps=5, grad_clip_norm=1.0)
    unset = "accepted left unset beside a DataLoader, which batches the data itself: DataLoader"
    with pytest.raises(
        InvalidValueError, match=rf"^invalid value 4 for batch_size: {unset}\(\.\.\., batch_size="
    ):
        lr_range_test(module, loader, steps=5, batch_size=4)
    with pytest.raises(InvalidValueError, match=rf"^invalid value 3 for seed: {unset}\(\.\.\., generator="):
        lr_range_test(module, loader, steps=5, seed=3)
    assert (
        len(lr_range_test(module, loader, steps=5, seed=3, check_steps=2).lrs) == 5
    )  # the check draws by it
    with pytest.raises(UnknownNameError) as unknown:
        lr_range_test(module, loader, steps=5, end_rl=1.0)
    assert str(unknown.value) == (
        "unknown lr_range_test(module) argument 'end_rl'. Did you mean 'end_lr'? Accepted: batch_size, "
        "check_steps, diverge_factor, end_lr, margin, optimizer, seed, start_lr, steps, trainer, val_dataloaders."
    )
    assert all(torch.equal(v, before[k]) for k, v in module.state_dict().items())
    assert len(lr_range_test(module, (x, y), steps=5, batch_size=16).lrs) == 5  # tensors: batched by it


def test_a_wrong_optimizer_or_a_misspelt_rule_is_refused_before_training():
    with pytest.raises(InvalidValueError, match="'str' for optimizer: accepted a torch.optim.Optimizer"):
        configure_optimizers("sgd")
    with pytest.raises(UnknownNameError, match="'dead_unit'. Did you mean 'dead_units'"):
        DoctorCallback(rule_options={"dead_unit": {"warn_fraction": 0.5}})
    with pytest.raises(
        InvalidValueError, match="2 for doctor_rule 'dead_units' hyperparameter 'warn_fraction'"
    ):
        DoctorCallback(rule_options={"dead_units": {"warn_fraction": 2}})


def test_report_paths_and_a_module_without_an_optimizer_are_refused_before_training(tmp_path):
    """A json_path in a missing folder raised FileNotFoundError after the whole run, an html_path of 3
    a TypeError; configure_optimizers returning None: 'a module with trainable parameters' (Lightning's
    stand-in optimizer steps a tensor of its own)."""
    missing = tmp_path / "missing" / "doctor.json"
    with pytest.raises(
        InvalidValueError, match="for json_path: accepted a file .not a folder. in an existing"
    ):
        DoctorCallback(json_path=missing)
    with pytest.raises(
        InvalidValueError, match="for html_path: accepted a file .not a folder. in an existing"
    ):
        DoctorCallback(html_path=tmp_path)
    with pytest.raises(InvalidValueError, match="3 for html_path: accepted a file path"):
        DoctorCallback(html_path=3)
    module = Classifier(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: None)
    with pytest.raises(InvalidValueError, match=r"returned None\?\)\" for Classifier.configure_optimizers"):
        fit(module, standardized(), 3, [DoctorCallback(print_findings=False)])


class SparseEmbeddings(lightning.LightningModule):
    """Token ids -> a sparse-gradient embedding (``sparse=True``, stepped by SGD) -> mean -> a linear head:
    torch has no norm of a sparse gradient, which the instruments take."""

    def __init__(self):
        super().__init__()
        self.embed, self.head = nn.Embedding(50, 8, sparse=True), nn.Linear(8, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.embed(x).mean(1)), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_a_failure_of_the_instruments_is_one_warning_and_the_fit_trains_as_without_them():
    """Sparse gradients made the gradient norm raise NotImplementedError inside on_before_optimizer_step,
    which ended the user's fit at its first step. Truth: the same fit without the callback."""
    data = torch.randint(0, 50, (128, 6)), torch.randint(0, 2, (128,))
    trained = []
    for callbacks in ([], [DoctorCallback(print_findings=False)]):
        torch.manual_seed(0)
        module = SparseEmbeddings()
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            fit(module, data, 8, callbacks)
        trained.append(module)
    doctor, module = trained[1].trainer.callbacks[0], trained[1]
    ours = [str(w.message) for w in said if issubclass(w.category, OptimlabWarning)]
    assert len(ours) == 1 and "stopped watching at step 1 (NotImplementedError" in ours[0], ours
    assert "\n" not in ours[0] and doctor.diagnosis is None
    assert all(torch.equal(a, b) for a, b in zip(trained[0].parameters(), module.parameters()))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())  # taken off


class SparseInputs(Classifier):
    """:class:`Classifier` reading its features as a sparse tensor (bag-of-words counts, mostly zeros):
    ``nn.Linear`` takes it, the instruments' hook reading the first layer's inputs cannot (no reshape of a
    sparse tensor)."""

    def training_step(self, batch, batch_idx):
        x, y = batch
        return self.loss(self.net(x.relu().to_sparse()), y)


@pytest.mark.parametrize("strict", [False, True])
def test_a_hook_of_the_instruments_that_fails_is_one_warning_or_with_strict_ends_the_fit(strict):
    """The instruments' forward pre-hook raised RuntimeError inside the user's forward pass, which ended
    the fit whatever the callback's options. Truth: the same fit without the callback (a real Trainer),
    and with ``strict=True`` the hook's own error out of ``Trainer.fit``, as EarlyStopping(strict=True)
    raises out of it."""

    def make():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
        return SparseInputs(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05))

    data = standardized()
    plain = make()
    fit(plain, data, 6, shuffle=False)
    watched, doctor = make(), DoctorCallback(print_findings=False, strict=strict)
    if strict:
        with pytest.raises(RuntimeError, match="reshape is not implemented for sparse tensors"):
            fit(watched, data, 6, [doctor], shuffle=False)
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in watched.modules())  # taken off
        return
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        fit(watched, data, 6, [doctor], shuffle=False)
    ours = [str(w.message) for w in said if issubclass(w.category, OptimlabWarning)]
    assert len(ours) == 1 and "stopped watching at step 1 (RuntimeError: reshape" in ours[0], ours
    assert doctor.diagnosis is None
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), watched.parameters()))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in watched.modules())  # taken off


@pytest.mark.parametrize("option", ["strict", "print_findings"])
def test_a_switch_is_refused_unless_a_bool(option):
    """print_findings="no" was taken as true: the findings printed where the user said not to."""
    with pytest.raises(InvalidValueError, match=f"'no' for {option}: accepted True"):
        DoctorCallback(**{option: "no"})


def test_a_report_that_cannot_be_written_is_one_warning_and_the_others_are_written(tmp_path):
    """The json_path's folder removed during training made FileNotFoundError end Trainer.fit after the
    whole run; the diagnosis and the HTML page are still those of the run. A file put where the folder was
    (a folder removed alone is made again, as every written file's folders are)."""
    folder = tmp_path / "gone"
    folder.mkdir()

    class RemovesTheFolder(lightning.Callback):
        def on_train_batch_end(self, *args):
            if folder.is_dir():
                folder.rmdir()
                folder.write_text("a file where the report's folder was")

    doctor = DoctorCallback(json_path=folder / "doctor.json", html_path=tmp_path / "doctor.html",
                            print_findings=False)  # fmt: skip
    torch.manual_seed(0)
    module = Classifier(nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05))
    with pytest.warns(OptimlabWarning, match=r"its JSON report was not written to .*gone.doctor\.json"):
        fit(module, standardized(), 5, [RemovesTheFolder(), doctor])
    assert doctor.diagnosis.statistics.steps == [1, 2, 3, 4, 5]
    assert "<html" in (tmp_path / "doctor.html").read_text().lower()


class CriticFirst(ManualClassifier):
    """:class:`ManualClassifier` whose second optimizer steps twice a batch (a WGAN's critic), the
    first once: Lightning's global_step counts three steps a batch."""

    def training_step(self, batch, batch_idx):
        x, _ = batch
        second = self.optimizers()[1]
        second.zero_grad()
        self.manual_backward(self.probe(x).square().mean())
        second.step()
        super().training_step(batch, batch_idx)


class CriticFirstAccumulating(ManualClassifier):
    """Under manual optimization, the second optimizer steps twice a batch before the first (a WGAN's
    critic), which accumulates ``loss / accumulate`` over ``accumulate`` batches as Lightning's docs
    show; the net's loss of each batch is kept."""

    def __init__(self, net, loss, make_optimizer, accumulate):
        super().__init__(net, loss, make_optimizer)
        self.accumulate, self.losses = accumulate, []

    def training_step(self, batch, batch_idx):
        x, y = batch
        first, second = self.optimizers()
        for _ in range(2):
            second.zero_grad()
            self.manual_backward(self.probe(x).square().mean())
            second.step()
        loss = self.loss(self(x), y)
        self.losses.append(loss.item())
        self.manual_backward(loss / self.accumulate)
        if (batch_idx + 1) % self.accumulate == 0:
            first.step()
            first.zero_grad()


@pytest.mark.parametrize("accumulate", [1, 4])
def test_under_manual_optimization_a_steps_loss_is_the_one_whose_gradient_it_takes(accumulate):
    """The loss of a step was the batch's first one given to manual_backward: the critic's, stepping
    first, and under accumulation a fraction of one batch's loss."""
    x, y = standardized()
    torch.manual_seed(0)
    module = CriticFirstAccumulating(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
                                     nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05),
                                     accumulate)  # fmt: skip
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x[:256], y[:256]), -1, [doctor], shuffle=False, max_epochs=1)  # 8 batches
    seen = doctor.diagnosis.statistics
    steps = 8 // accumulate
    assert seen.steps == list(range(1, steps + 1)) and len(module.losses) == 8
    means = [sum(module.losses[i : i + accumulate]) / accumulate for i in range(0, 8, accumulate)]
    assert seen.losses == pytest.approx(means, rel=1e-5)


@pytest.mark.parametrize("manual", [False, True])
def test_under_float16_mixed_precision_a_steps_loss_is_the_one_training_step_computed(manual):
    """Lightning's float16 precision hands on_before_backward the loss times its GradScaler's scale:
    the callback took 65536 times the loss for it."""
    from lightning.pytorch.plugins import MixedPrecision

    x, y = standardized()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    args = (net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05))
    module = CriticFirstAccumulating(*args, accumulate=1) if manual else Recorded(*args)
    doctor = DoctorCallback(print_findings=False)
    precision = MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))
    fit(module, (x[:128], y[:128]), -1, [doctor], shuffle=False, max_epochs=1, plugins=[precision])
    assert len(module.losses) == 4
    assert doctor.diagnosis.statistics.losses == pytest.approx(module.losses, rel=1e-6)


@pytest.mark.parametrize("module_class", [ManualClassifier, CriticFirst])
def test_a_run_under_manual_optimization_resumed_from_its_checkpoint_goes_on_at_its_next_step(
    module_class, tmp_path
):
    """Resumed, the callback started at Lightning's global_step (every optimizer's steps) and counted
    the first optimizer's from global_step / optimizers: every step was taken for one already seen,
    and the resumed run was diagnosed on none ('no findings after 0 steps')."""
    x, y = standardized()
    data = DataLoader(TensorDataset(x[:256], y[:256]), batch_size=32)  # 8 batches an epoch
    steps = []
    for epochs, resume in ((1, None), (2, tmp_path / "last.ckpt")):
        torch.manual_seed(0)
        module = module_class(nn.Sequential(nn.Linear(64, 10)), nn.CrossEntropyLoss(),
                              lambda p: torch.optim.SGD(p, lr=0.05))  # fmt: skip
        doctor = DoctorCallback(print_findings=False)
        trainer = lightning.Trainer(max_epochs=epochs, callbacks=[doctor], accelerator="cpu", logger=False,
                                    enable_checkpointing=False, enable_progress_bar=False,
                                    enable_model_summary=False)  # fmt: skip
        trainer.fit(module, data, ckpt_path=resume)
        trainer.save_checkpoint(tmp_path / "last.ckpt")
        steps.append(doctor.diagnosis.statistics.steps)
    assert steps == [list(range(1, 9)), list(range(9, 17))]


def test_a_schedule_free_checkpoint_holds_the_evaluation_point_and_resumes_to_the_same_weights(tmp_path):
    """A module without validation: Lightning's ModelCheckpoint saved at each epoch's end with the
    optimizer at its training point, so load_from_checkpoint gave other weights than the trained model
    (which ScheduleFreeModes leaves at its evaluation point)."""
    x, y = standardized()
    data = DataLoader(TensorDataset(x[:256], y[:256]), batch_size=32)  # 8 batches an epoch

    def run(epochs, resume=None):
        torch.manual_seed(0)
        module = Classifier(nn.Linear(64, 10), nn.CrossEntropyLoss(),
                            lambda p: optim.create("schedule_free_adamw", p, lr=1e-2))  # fmt: skip
        trainer = lightning.Trainer(max_epochs=epochs, callbacks=[ScheduleFreeModes()], accelerator="cpu",
                                    logger=False, default_root_dir=tmp_path, enable_progress_bar=False,
                                    enable_model_summary=False)  # fmt: skip
        trainer.fit(module, data, ckpt_path=resume)
        return module.net.weight.detach().clone(), trainer.checkpoint_callback.best_model_path

    weights, saved = run(2)
    assert torch.equal(torch.load(saved, weights_only=False)["state_dict"]["net.weight"], weights)
    assert torch.allclose(run(3, resume=saved)[0], run(3)[0], atol=1e-6)


class StoppedAtStep3(Classifier):
    """:class:`Classifier` whose third step raises ``stop`` (a bug in the user's code, or Ctrl-C)."""

    stop: BaseException

    def training_step(self, batch, batch_idx):
        if self.global_step == 2:
            raise self.stop
        return super().training_step(batch, batch_idx)


@pytest.mark.parametrize("stop", [ValueError("a bug"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_a_run_stopped_by_an_exception_leaves_no_hook_on_the_model_and_is_diagnosed(stop, capsys):
    """Lightning calls on_exception, not on_train_end, when training raises (and when Ctrl-C stops it,
    which it catches, then exits): the instruments' hooks stayed on the user's model (each later forward pass paid
    for them, and kept its inputs), and a run stopped by Ctrl-C was never diagnosed."""
    x, y = standardized()
    module = StoppedAtStep3(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)),
                            nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05))  # fmt: skip
    module.stop = stop
    doctor = DoctorCallback()
    with pytest.raises(
        ValueError if isinstance(stop, ValueError) else SystemExit
    ):  # Lightning exits on Ctrl-C
        fit(module, (x[:256], y[:256]), 8, [doctor])
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())
    assert doctor.diagnosis.statistics.steps == [1, 2]
    assert ("optimlab doctor:" in capsys.readouterr().out) == isinstance(stop, KeyboardInterrupt)


class _ScheduleEndsEarly(lightning.LightningModule):
    """SGD at 1e-4 on a cosine of 20 steps, trained for 64: the lr is 0 over most of the run."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))

    def training_step(self, batch, index):
        return nn.functional.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self):
        sgd = optim.create("sgd", self.parameters(), lr=1e-4)
        return configure_optimizers(sgd, schedules.create("cosine", total_steps=20))


def test_a_schedule_that_ends_before_the_run_is_told_its_peak_not_a_division_by_zero():
    """The median lr of the run was 0, and lr_too_low divided by it: Trainer.fit raised ZeroDivisionError
    after training. It is told the lr is 0 over most of the run, and its peak as the fix."""
    torch.manual_seed(0)
    x, y = torch.randn(512, 8), torch.randint(0, 3, (512,))
    doctor = DoctorCallback(print_findings=False)
    trainer = lightning.Trainer(
        max_steps=64,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[doctor],
    )
    trainer.fit(_ScheduleEndsEarly(), DataLoader(TensorDataset(x, y), batch_size=8))
    (finding,) = [f for f in doctor.diagnosis.findings if f.rule == "lr_too_low"]
    assert "the lr is 0 over most of the run" in finding.explanation
    # a Lightning user has no recipe: the peak in the words of the optimizer they build (d3ad3943)
    assert finding.evidence["suggestion"] == pytest.approx(1e-4) and finding.recipe_changes == {}
    assert finding.recommendation.startswith("lr=0.0001 in the optimizer, its peak")


def test_a_misspelt_doctor_callback_option_is_named_with_close_matches():
    """DoctorCallback(print_finding=False) was Python's TypeError of TrainerDoctor.__init__, a class the
    user never called; it is the callback's own refusal, with the options it takes (Lightning's and the
    Hugging Face Trainer's callback alike)."""
    from optimlab.integrations.huggingface import DoctorCallback as TrainerCallback

    for callback, own in ((DoctorCallback, "optimizer, "), (TrainerCallback, "")):
        with pytest.raises(UnknownNameError) as refused:
            callback(print_finding=False)
        assert str(refused.value).startswith(
            "unknown DoctorCallback() argument 'print_finding'. Did you mean 'print_findings'? Accepted: "
            f"html_path, json_path, {own}print_findings, rule_options, schedule, strict."
        )


class Autoencoder(Classifier):
    """:class:`Classifier` whose step calls its net itself, not the module: the module's own inputs
    are then never seen, only the batch's."""

    def training_step(self, batch, batch_idx):
        x, target = batch
        return self.loss(self.net(x), target)


@pytest.mark.parametrize("module", [Classifier, Autoencoder])
def test_an_autoencoders_pixels_under_the_trainer_are_not_told_to_be_standardized_as_targets(module):
    """An autoencoder's targets are its inputs (digits / 16: some pixels range 0..0.0625 where the
    middle's 0..1), under a Trainer as in the doctor's own run: target_scale leaves them to
    input_scale. A regression's two values a hundredth apart under the same Trainer still get it."""
    pixels = digits()[0] / 16
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 64))
    doctor = DoctorCallback(print_findings=False)
    fit(module(net, nn.MSELoss(), lambda p: torch.optim.Adam(p, 1e-3)), (pixels, pixels), 40, [doctor])
    assert "target_scale" not in [f.rule for f in doctor.diagnosis.findings], doctor.diagnosis.findings
    x = pixels[:, 20:28] * 4
    y = torch.stack([x[:, 0] + x[:, 1], 0.01 * x[:, 2] * x[:, 3]], 1)
    doctor = DoctorCallback(print_findings=False)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))
    fit(module(net, nn.MSELoss(), lambda p: torch.optim.Adam(p, 1e-3)), (x, y), 40, [doctor])
    assert "target_scale" in [f.rule for f in doctor.diagnosis.findings], doctor.diagnosis.findings


class Backboned(Classifier):
    """:class:`Classifier` whose first layer is its ``backbone`` (as Lightning's BackboneFinetuning
    reads it), trained by SGD over the parameters that require a gradient when it is configured."""

    def __init__(self):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        super().__init__(
            net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD([q for q in p if q.requires_grad], 0.1)
        )

    @property
    def backbone(self):
        return self.net[0]


class FreezesItsBackbone(lightning.Callback):
    """Lightning's ``BaseFinetuning.freeze`` of the backbone as epoch 1 starts."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            lightning.pytorch.callbacks.BaseFinetuning.freeze(pl_module.backbone)


@pytest.mark.parametrize("change", ["frozen", "unfrozen"])
def test_parameters_frozen_or_unfrozen_mid_run_end_the_record_there_in_one_warning(change):
    """The instruments watch the parameters trained when training starts. A backbone frozen as epoch 1
    started (BaseFinetuning.freeze) had no gradient from then on, read as 0: 'Vanishing gradients:
    net.0 (Linear) gets 0 of the output layer's gradient'. One BackboneFinetuning unfroze at epoch 1 (a
    group added to the optimizer, as Lightning's own param_groups show) trained 16 steps unwatched, the
    findings saying nothing of it. The record ends at the first step of other parameters, with one
    warning naming them; the 8 steps before are diagnosed as those of the same run without the change."""
    x, y = standardized()
    data = (x[:256], y[:256])  # 8 batches an epoch
    changes = {
        "frozen": FreezesItsBackbone(),
        "unfrozen": lightning.pytorch.callbacks.BackboneFinetuning(unfreeze_backbone_at_epoch=1),
    }
    doctor = DoctorCallback(print_findings=False)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        trainer = fit(Backboned(), data, -1, [changes[change], doctor], shuffle=False, max_epochs=3)
    told = [str(w.message) for w in warned if issubclass(w.category, OptimlabWarning)]
    assert told == [
        f"optimlab doctor: the parameters the optimizer trains changed at step 9 ({change}: net.0.weight, "
        "net.0.bias); the diagnosis reads the 8 steps before, those of the parameters watched"
    ]
    assert len(trainer.optimizers[0].param_groups) == (2 if change == "unfrozen" else 1)
    unchanged = DoctorCallback(print_findings=False)
    module = Backboned()
    if change == "unfrozen":
        module.backbone.requires_grad_(False)
    fit(module, data, 8, [unchanged], shuffle=False)
    assert doctor.diagnosis.statistics.steps == list(range(1, 9))
    assert doctor.diagnosis.statistics.losses == pytest.approx(unchanged.diagnosis.statistics.losses)
    assert [f.rule for f in doctor.diagnosis.findings] == [f.rule for f in unchanged.diagnosis.findings]


@pytest.mark.parametrize("monitor", [["val_loss"], 3, ""], ids=["list", "int", "empty"])
def test_a_plateau_monitor_that_names_no_metric_is_refused_when_configured(monitor):
    """Lightning reads ``monitor`` as a key of its logged metrics after the first epoch's training:
    ['val_loss'] raised TypeError "unhashable type: 'list'" from deep inside its loop, 3 and '' its
    MisconfigurationException, each after an epoch trained. Refused by configure_optimizers itself."""
    plateau = schedules.create("reduce_on_plateau", factor=0.5, patience=1)
    with pytest.raises(InvalidValueError) as refused:
        configure_optimizers(optim.create("sgd", [nn.Parameter(torch.ones(1))]), plateau, monitor=monitor)
    assert str(refused.value) == (
        f"invalid value {monitor!r} for monitor: accepted the name of a metric the module logs "
        "(e.g. 'val_loss') for reduce_on_plateau."
    )


class ClipsItsGradients(Classifier):
    """Under manual optimization, clipping the gradient's norm as Lightning's docs show it:
    ``self.clip_gradients(optimizer, gradient_clip_val=..., gradient_clip_algorithm="norm")`` between
    ``manual_backward`` and ``step``."""

    def __init__(self, net, loss, make_optimizer, clip):
        super().__init__(net, loss, make_optimizer)
        self.automatic_optimization, self.clip = False, clip

    def training_step(self, batch, batch_idx):
        x, y = batch
        optimizer = self.optimizers()
        optimizer.zero_grad()
        self.manual_backward(self.loss(self(x), y))
        self.clip_gradients(optimizer, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")
        optimizer.step()


def test_under_manual_optimization_the_gradients_read_are_those_before_the_module_clips_them():
    """The doctor read the gradients at the optimizer's step, after the module's clip_gradients: every
    step's norm was the clip's (0.05), an exploding gradient hidden. Truth: the norms a hand-written loop
    clips, as torch.nn.utils.clip_grad_norm_ returns them, stepping the same weights."""
    x, y = standardized()
    x, y = x[:320] * 10, y[:320]  # gradients far above the clip
    hand = _clipping_net()
    optimizer = torch.optim.SGD(hand.parameters(), lr=0.05)
    norms = []
    for step in range(12):  # 10 batches an epoch, in order
        rows = slice(step % 10 * 32, step % 10 * 32 + 32)
        optimizer.zero_grad()
        nn.functional.cross_entropy(hand(x[rows]), y[rows]).backward()
        norms.append(torch.nn.utils.clip_grad_norm_(hand.parameters(), 0.05).item())
        optimizer.step()
    module = ClipsItsGradients(
        _clipping_net(), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05), 0.05
    )
    doctor = DoctorCallback(print_findings=False)
    trainer = fit(module, (x, y), 12, [doctor], shuffle=False)
    assert "clip_gradients" not in vars(trainer.precision_plugin)  # Lightning's own method again
    assert min(norms) > 1  # every step clipped, 20x and more
    assert doctor.diagnosis.statistics.global_grad_norms().tolist() == pytest.approx(norms, rel=1e-5)
    assert all(torch.equal(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


class ClipsItsOwnWay(ClipsItsGradients):
    """:class:`ClipsItsGradients` whose module overrides ``clip_gradients`` (each value to its ``clip``
    whatever the flags) and ``configure_gradient_clipping``."""

    def clip_gradients(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        super().clip_gradients(optimizer, gradient_clip_val=self.clip, gradient_clip_algorithm="value")

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.clip_gradients(optimizer)


def _clip_each_value_to_a_thousandth(optimizer, clip_val=None, gradient_clip_algorithm=None):
    for group in optimizer.param_groups:
        torch.nn.utils.clip_grad_value_(group["params"], 1e-3)


def test_a_users_own_clip_gradients_on_the_precision_plugin_is_put_back_after_the_doctors_fit():
    """The doctor's reading wrapped a clip_gradients the user had set on the precision plugin and, at
    the end of the fit, deleted the plugin's attribute: the user's clipping was lost for every later fit
    with that plugin (Lightning's own method clipped in its place). Truth: a real Trainer; after the fit
    the plugin's and the module's attributes are the very objects they were, and a second fit without
    the doctor gives, torch.equal, the weights of a run with the user's clipping that never had it."""
    x, y = standardized()
    x, y = x[:320] * 10, y[:320]  # gradients far above both clips

    def trained(plugin, callbacks=()):
        module = ClipsItsOwnWay(
            _clipping_net(), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05), 0.01
        )
        trainer = _quiet_trainer(max_steps=6, plugins=[plugin], callbacks=list(callbacks))
        trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=32))
        return module

    plugin = lightning.pytorch.plugins.precision.Precision()
    plugin.clip_gradients = _clip_each_value_to_a_thousandth
    module = trained(plugin, [DoctorCallback(print_findings=False)])
    assert vars(plugin)["clip_gradients"] is _clip_each_value_to_a_thousandth
    assert "clip_gradients" not in vars(module) and "configure_gradient_clipping" not in vars(module)
    assert module.clip_gradients.__func__ is ClipsItsOwnWay.clip_gradients
    assert module.configure_gradient_clipping.__func__ is ClipsItsOwnWay.configure_gradient_clipping
    after = trained(plugin)
    never = lightning.pytorch.plugins.precision.Precision()
    never.clip_gradients = _clip_each_value_to_a_thousandth
    truth, lightnings = trained(never), trained(lightning.pytorch.plugins.precision.Precision())
    assert all(torch.equal(a, b) for a, b in zip(after.parameters(), truth.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(after.parameters(), lightnings.parameters()))


def test_the_lr_recorded_is_the_trained_groups_not_a_frozen_backbones_zero():
    """A backbone frozen at lr 0 in the first param group, the head at 0.05: the doctor recorded group 0's
    lr, 0, at every step, so the lr rules read an lr the run never trained at (the range test sweeps the
    head's). Truth: the head group's lr as the optimizer holds it, each step."""
    x, y = standardized()
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    groups = [{"params": net[0].parameters(), "lr": 0.0}, {"params": net[2].parameters(), "lr": 0.05}]
    module = Classifier(net, nn.CrossEntropyLoss(), lambda _: torch.optim.SGD(groups))
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x[:160], y[:160]), 5, [doctor])
    assert doctor.diagnosis.statistics.lrs == [0.05] * 5


class ClipsThenRaises(ClipsItsGradients):
    """Clips as Lightning's docs show, then raises at its ``fails_at``-th batch: a bug of the user's."""

    def __init__(self, net, loss, make_optimizer, clip, fails_at):
        super().__init__(net, loss, make_optimizer, clip)
        self.fails_at = fails_at

    def training_step(self, batch, batch_idx):
        if batch_idx == self.fails_at:
            raise ValueError("a bug in training_step")
        super().training_step(batch, batch_idx)


@pytest.mark.parametrize("fails_at", [0, 3])
def test_a_training_step_that_raises_gets_its_own_error_alone_and_lightnings_clipping_back(fails_at):
    """A training_step raising at its first batch got, beside the user's error, a warning that the
    optimizer 'stepped outside the trainer's wrapper': false, pointing away from the bug. Truth: the
    ValueError raised, nothing else said; the precision plugin's own clip_gradients back however the
    fit ends (the doctor's reading of it taken off in on_exception as in on_train_end)."""
    x, y = standardized()
    module = ClipsThenRaises(
        nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05), 0.05, fails_at
    )
    doctor = DoctorCallback(print_findings=False)
    trainer = None
    with (
        warnings.catch_warnings(record=True) as said,
        pytest.raises(ValueError, match="a bug in training_step"),
    ):
        warnings.simplefilter("always")
        trainer = lightning.Trainer(
            max_epochs=1,
            callbacks=[doctor],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, DataLoader(TensorDataset(x[:320], y[:320]), batch_size=32))
    assert [w for w in said if issubclass(w.category, OptimlabWarning)] == []
    assert "clip_gradients" not in vars(trainer.precision_plugin)
    assert (doctor.diagnosis is None) == (fails_at == 0)  # the steps seen before are diagnosed, unsaid


def test_only_lightnings_own_wrapper_classes_are_unwrapped_not_whatever_inherits_a_wrappers_name():
    """Unwrapping any class with a wrapper's name anywhere in its MRO took accelerate's
    DeepSpeedOptimizerWrapper (a subclass of AcceleratedOptimizer) apart, to DeepSpeed's own optimizer,
    which is no torch optimizer: refused at on_train_begin. Truth: the real classes; Lightning's
    LightningSGD (type('Lightning' + name, (LightningOptimizer, SGD))) and accelerate's
    AcceleratedOptimizer are unwrapped, a subclass of AcceleratedOptimizer is kept as it is."""
    from accelerate.optimizer import AcceleratedOptimizer
    from lightning.pytorch.core.optimizer import LightningOptimizer

    sgd = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=0.1)
    assert unwrapped(LightningOptimizer._to_lightning_optimizer(sgd, lightning.LightningModule())) is sgd
    # built bare: accelerate's constructor wants an Accelerator set up, which unwrapping does not read
    accelerated = object.__new__(AcceleratedOptimizer)
    accelerated.optimizer = sgd
    assert unwrapped(accelerated) is sgd

    class DeepSpeedLike(AcceleratedOptimizer):  # accelerate's DeepSpeedOptimizerWrapper's place
        pass

    inner = object.__new__(DeepSpeedLike)
    inner.optimizer = object()  # DeepSpeed's ZeRO optimizer: no torch one
    assert unwrapped(inner) is inner


class TogglingGAN(lightning.LightningModule):
    """A GAN as Lightning's docs write one: two optimizers, each network's step between
    ``toggle_optimizer`` and ``untoggle_optimizer`` (the other's requires_grad off); the discriminator
    steps every batch, the generator every ``every`` batches (a WGAN's n_critic), keeping the norm of
    its whole gradient before each of its steps. ``first``: the network of the first optimizer."""

    def __init__(self, first, every):
        super().__init__()
        self.automatic_optimization, self.first, self.every = False, first, every
        torch.manual_seed(0)
        self.generator = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
        self.discriminator = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
        self.norms = {"generator": [], "discriminator": []}

    def _step(self, name, loss):
        optimizer = self.optimizers()[0 if name == self.first else 1]
        self.toggle_optimizer(optimizer)
        optimizer.zero_grad()
        self.manual_backward(loss())
        grads = [p.grad for p in getattr(self, name).parameters()]
        self.norms[name].append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())
        optimizer.step()
        self.untoggle_optimizer(optimizer)

    def training_step(self, batch, batch_idx):
        (real,) = batch
        noise = torch.randn(len(real), 4, generator=torch.Generator().manual_seed(batch_idx))
        ones, zeros = torch.ones(len(real), 1), torch.zeros(len(real), 1)
        bce = nn.functional.binary_cross_entropy_with_logits
        self._step("discriminator", lambda: bce(self.discriminator(real), ones)
                   + bce(self.discriminator(self.generator(noise).detach()), zeros))  # fmt: skip
        if batch_idx % self.every == 0:
            self._step("generator", lambda: bce(self.discriminator(self.generator(noise)), ones))

    def configure_optimizers(self):
        optimizers = {name: torch.optim.Adam(getattr(self, name).parameters(), lr=1e-3)
                      for name in ("generator", "discriminator")}  # fmt: skip
        return [optimizers.pop(self.first), *optimizers.values()]


@pytest.mark.parametrize("first", ["generator", "discriminator"])
def test_a_gan_toggling_its_networks_is_watched_on_every_step_of_its_first_optimizer(first):
    """toggle_optimizer turns the other network's requires_grad off around each step: the parameters the
    first optimizer trains are the same at each of its steps, so the record goes on over the whole run
    (not ended as parameters frozen), reading that network's gradients. Truth: the norms the module
    takes of its gradients before each step of it, under a real Trainer."""
    module = TogglingGAN(first, every=2)
    doctor = DoctorCallback(print_findings=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)
        fit(module, (torch.randn(256, 8),), -1, [doctor], max_epochs=2)  # 8 batches an epoch
    seen = doctor.diagnosis.statistics
    steps = {"generator": 8, "discriminator": 16}[first]
    assert seen.steps == list(range(1, steps + 1))
    assert [layer.name for layer in seen.layers] == [f"{first}.0", f"{first}.2"]
    assert seen.global_grad_norms().tolist() == pytest.approx(module.norms[first], rel=1e-5)
    assert not {"unused_parameters", "unstepped_parameters"} & {f.rule for f in doctor.diagnosis.findings}


class StepsTheRawOptimizer(Classifier):
    """Under manual optimization, steps ``trainer.optimizers[0]`` itself, not Lightning's wrapper of it
    (``self.optimizers()``): Lightning sees no step (its global_step stays 0), nor its hooks."""

    def __init__(self, net, loss, make_optimizer):
        super().__init__(net, loss, make_optimizer)
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        x, y = batch
        optimizer = self.trainer.optimizers[0]
        optimizer.zero_grad()
        self.manual_backward(self.loss(self(x), y))
        optimizer.step()


def test_a_run_whose_steps_the_doctor_never_saw_is_said_in_one_warning_not_told_it_looks_healthy(capsys):
    """7 batches trained outside Lightning's wrapper were diagnosed on 0 steps and printed 'No findings
    after 0 steps: the run looks healthy.' Truth: the Trainer's own count, global_step 0."""
    x, y = standardized()
    module = StepsTheRawOptimizer(
        nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1)
    )
    before = module.net.weight.detach().clone()
    doctor = DoctorCallback()
    with pytest.warns(OptimlabWarning) as said:
        trainer = fit(module, (x[:224], y[:224]), -1, [doctor], max_epochs=1)  # 7 batches
    assert trainer.global_step == 0 and not torch.equal(module.net.weight, before)  # trained all the same
    assert [str(w.message) for w in said if w.category is OptimlabWarning] == [
        "optimlab doctor: no optimizer step was seen in the trainer's run (every batch skipped, or the "
        "optimizer stepped outside the trainer's wrapper: trainer.optimizers[0].step() in place of "
        "Lightning's self.optimizers()); no diagnosis"
    ]
    assert doctor.diagnosis is None and "looks healthy" not in capsys.readouterr().out


class ClipsEachBatchStepsEvery(ClipsItsGradients):
    """:class:`ClipsItsGradients` accumulating its own gradients: ``manual_backward(loss / n)`` and
    ``self.clip_gradients`` on every batch, the optimizer stepping (then zeroed) on every n-th."""

    def __init__(self, net, loss, make_optimizer, clip, every):
        super().__init__(net, loss, make_optimizer, clip)
        self.every = every

    def training_step(self, batch, batch_idx):
        x, y = batch
        optimizer = self.optimizers()
        self.manual_backward(self.loss(self(x), y) / self.every)
        self.clip_gradients(optimizer, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")
        if (batch_idx + 1) % self.every == 0:
            optimizer.step()
            optimizer.zero_grad()


def _clipped_by_hand(net, x, y, clip, every, steps, scaler=None):
    """The hand-written loop of :class:`ClipsEachBatchStepsEvery` (batches of 32 in order), and the norm
    of each step's gradient before it is clipped on the batch that steps (after ``scaler.unscale_``
    under float16; Lightning's module clips the scaled gradient there, to ``clip`` over the scale once
    unscaled)."""
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    norms = []
    for batch in range(steps * every):
        rows = slice(batch * 32, batch * 32 + 32)
        with torch.autocast("cpu", dtype=torch.float16, enabled=scaler is not None):
            loss = nn.functional.cross_entropy(net(x[rows]), y[rows]) / every
        if scaler is None:
            loss.backward()
            if (batch + 1) % every:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
                continue
            norms.append(torch.nn.utils.clip_grad_norm_(net.parameters(), clip).item())
            optimizer.step()
        else:
            scale = scaler.get_scale()
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            norms.append(torch.nn.utils.clip_grad_norm_(net.parameters(), clip / scale).item())
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad()
    return norms


def _clipping_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def test_a_module_clipping_the_batches_it_does_not_step_on_is_read_before_the_clip_of_the_one_it_does():
    """The doctor read a step's gradients as the module first clipped them, on the first of its two
    batches: the norm of the half-accumulated gradient. Truth: a hand-written loop of the same
    accumulation, the norm clip_grad_norm_ returns on the batch that steps, stepping the same weights."""
    x, y = standardized()
    x, y = x[:320] * 10, y[:320]
    hand = _clipping_net()
    norms = _clipped_by_hand(hand, x, y, 0.5, every=2, steps=5)
    module = ClipsEachBatchStepsEvery(
        _clipping_net(), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05), 0.5, every=2
    )
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x, y), -1, [doctor], shuffle=False, max_epochs=1)  # 10 batches, 5 steps
    assert min(norms) > 1  # each step clipped
    assert doctor.diagnosis.statistics.global_grad_norms().tolist() == pytest.approx(norms, rel=1e-5)
    assert all(torch.allclose(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


def test_under_float16_a_module_clipping_its_gradients_is_read_unscaled_before_its_clip():
    """Under float16 mixed precision the doctor read a step's gradients at the optimizer's step, after
    the module clipped them: the clip's norm, unscaled. Truth: a hand-written loop with torch's
    GradScaler, the norm clip_grad_norm_ returns after scaler.unscale_, stepping the same weights.
    (Trainer(precision='16-mixed') on CPU is bf16-mixed, which has no scaler: the plugin is given.)"""
    from lightning.pytorch.plugins import MixedPrecision

    x, y = standardized()
    x, y = x[:192], y[:192]
    hand = _clipping_net()
    norms = _clipped_by_hand(hand, x, y, 0.05, every=1, steps=6, scaler=torch.amp.GradScaler("cpu"))
    module = ClipsItsGradients(
        _clipping_net(), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05), 0.05
    )
    doctor = DoctorCallback(print_findings=False)
    precision = MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))
    trainer = fit(module, (x, y), -1, [doctor], shuffle=False, max_epochs=1, plugins=[precision])
    assert "clip_gradients" not in vars(trainer.precision_plugin)
    assert min(norms) > 0.5  # far above the clip's 0.05 / 65536 once unscaled
    assert doctor.diagnosis.statistics.global_grad_norms().tolist() == pytest.approx(norms, rel=1e-4)
    assert all(torch.allclose(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


def test_each_optimizer_of_a_gan_is_watched_by_its_own_callback_which_names_it(capsys):
    """A GAN's second optimizer was watched by no callback: only the first's network had a diagnosis.
    DoctorCallback(optimizer=1) watches the second's, beside one watching the first, each report naming
    its optimizer. Truth: the norms the module takes of each network's gradients before each of its
    steps, under one real Trainer."""
    module = TogglingGAN("generator", every=2)
    doctors = [DoctorCallback(), DoctorCallback(optimizer=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimlabWarning)
        trainer = fit(module, (torch.randn(256, 8),), -1, doctors, max_epochs=2)  # 8 batches an epoch
    assert "clip_gradients" not in vars(trainer.precision_plugin)  # both readings off, Lightning's own
    for doctor, name, steps in zip(doctors, ("generator", "discriminator"), (8, 16), strict=True):
        seen = doctor.diagnosis.statistics
        assert seen.steps == list(range(1, steps + 1))
        assert [layer.name for layer in seen.layers] == [f"{name}.0", f"{name}.2"]
        assert seen.global_grad_norms().tolist() == pytest.approx(module.norms[name], rel=1e-5)
    headings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("optimlab doctor")]
    assert [line.split(":")[0] for line in headings] == [
        "optimlab doctor (optimizer 0 of 2, Adam)",
        "optimlab doctor (optimizer 1 of 2, Adam)",
    ]


def test_an_optimizer_index_the_module_does_not_have_is_refused_in_one_line():
    with pytest.raises(InvalidValueError, match="optimizer"):
        DoctorCallback(optimizer=True)
    with pytest.raises(InvalidValueError, match="optimizer"):
        DoctorCallback(optimizer=-1)
    module = TogglingGAN("generator", every=2)
    before = [p.detach().clone() for p in module.parameters()]
    with pytest.raises(InvalidValueError) as refused:
        fit(module, (torch.randn(64, 8),), -1, [DoctorCallback(optimizer=2)], max_epochs=1)
    assert str(refused.value) == (
        "invalid value 2 for optimizer: accepted the index of one of TogglingGAN's 2 optimizers (0 to 1)."
    )
    assert all(torch.equal(a, b) for a, b in zip(before, module.parameters()))  # before any step


def _float16_by_hand(net: nn.Module, optimizer: torch.optim.Optimizer, x, y, steps: int = 10) -> list[float]:
    """``steps`` batches of 32 of ``x``, ``y`` trained by hand under float16 with torch's GradScaler; each
    step's unscaled gradient norm, NaN where the scaler skips the step (not finite)."""
    scaler, norms = torch.amp.GradScaler("cpu"), []
    for step in range(steps):
        rows = slice(step * 32, step * 32 + 32)
        with torch.autocast("cpu", dtype=torch.float16):
            loss = nn.functional.cross_entropy(net(x[rows]), y[rows])
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        norm = torch.nn.utils.get_total_norm([p.grad for p in net.parameters()]).item()
        norms.append(norm if math.isfinite(norm) else math.nan)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
    return norms


def test_under_float16_a_step_the_scaler_skips_for_an_overflow_is_no_divergence():
    """Lightning's float16 GradScaler skips a step whose scaled gradient overflowed (and halves its
    scale), as intended; the doctor read those gradients as they were and said 'NaN/Inf at step 1' of a
    run whose losses are all finite. Truth: a hand-written loop with torch's GradScaler on the same
    batches: the steps it skips (inf after unscale_) have no norm (NaN, as the doctor's own fit records
    a skipped step), the others its norms after unscale_, stepping the same weights."""
    from lightning.pytorch.plugins import MixedPrecision

    x, y = standardized()
    x, y = x[:320] * 100, y[:320]  # gradients that overflow float16 at the scaler's first scales
    hand = _clipping_net()
    norms = _float16_by_hand(hand, torch.optim.SGD(hand.parameters(), lr=0.01), x, y)
    module = Recorded(_clipping_net(), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.01))
    doctor = DoctorCallback(print_findings=False)
    precision = MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))
    fit(module, (x, y), 10, [doctor], shuffle=False, plugins=[precision])
    assert 0 < sum(map(math.isnan, norms)) < 10 and all(map(math.isfinite, module.losses))
    seen = doctor.diagnosis.statistics
    assert seen.global_grad_norms().tolist() == pytest.approx(norms, rel=1e-4, nan_ok=True)
    assert seen.non_finite is None and "nan_inf" not in {f.rule for f in doctor.diagnosis.findings}
    assert all(torch.allclose(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


def test_under_float16_a_schedule_as_lr_is_read_at_the_updates_taken_past_overflows():
    """optimlab's SGD with its lr a schedule, under float16's GradScaler on inputs whose gradients overflow
    at its first scales: a skipped step takes no update, so the optimizer's own count stays, but the
    doctor counted every recorded step as an update and read the schedule one step ahead after each skip.
    Truth: a hand-written loop with torch's GradScaler, the schedule at the updates it had applied before
    each step (the steps whose unscaled norm was finite), the same weights."""
    from lightning.pytorch.plugins import MixedPrecision

    def lr(updates):
        return 0.01 / (1 + updates)

    x, y = standardized()
    x, y = x[:320] * 100, y[:320]
    hand = _clipping_net()
    applied = [
        not math.isnan(n) for n in _float16_by_hand(hand, optim.create("sgd", hand.parameters(), lr=lr), x, y)
    ]
    lrs = [lr(sum(applied[:step])) for step in range(10)]  # the updates applied before each step
    assert 0 < sum(applied) < 10
    module = Recorded(_clipping_net(), nn.CrossEntropyLoss(), lambda p: optim.create("sgd", p, lr=lr))
    doctor = DoctorCallback(print_findings=False)
    precision = MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))
    fit(module, (x, y), 10, [doctor], shuffle=False, plugins=[precision])
    assert doctor.diagnosis.statistics.lrs == pytest.approx(lrs, rel=1e-12)
    assert all(torch.allclose(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


def test_under_float16_a_fused_optimizers_gradients_are_read_unscaled():
    """A fused optimizer (Adam(fused=True)) unscales its gradients inside its step, so Lightning's
    float16 plugin does not unscale_ them before on_before_optimizer_step: the doctor read them scaled,
    65536 times their norm (about 5e4 for 0.76). Truth: a hand-written loop with torch's GradScaler and
    the same fused Adam, each step's norm divided by the scale it was taken at, the same weights."""
    from lightning.pytorch.plugins import MixedPrecision

    x, y = standardized()
    x, y = x[:192], y[:192]
    hand, scaler = _clipping_net(), torch.amp.GradScaler("cpu")
    optimizer = torch.optim.Adam(hand.parameters(), lr=1e-3, fused=True)
    norms = []
    for step in range(6):
        rows = slice(step * 32, step * 32 + 32)
        with torch.autocast("cpu", dtype=torch.float16):
            loss = nn.functional.cross_entropy(hand(x[rows]), y[rows])
        scaler.scale(loss).backward()
        grads = [p.grad for p in hand.parameters()]
        norms.append(torch.nn.utils.get_total_norm(grads).item() / scaler.get_scale())
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
    module = Recorded(
        _clipping_net(), nn.CrossEntropyLoss(), lambda p: torch.optim.Adam(p, lr=1e-3, fused=True)
    )
    doctor = DoctorCallback(print_findings=False)
    precision = MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))
    fit(module, (x, y), 6, [doctor], shuffle=False, plugins=[precision])
    assert max(norms) < 2
    assert doctor.diagnosis.statistics.global_grad_norms().tolist() == pytest.approx(norms, rel=1e-4)
    assert all(torch.allclose(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


class SkipsStepping(Recorded):
    """:class:`Recorded` whose ``training_step`` returns None on the batches ``skipped``."""

    def __init__(self, net, loss, make_optimizer, skipped):
        super().__init__(net, loss, make_optimizer)
        self.skipped = skipped

    def training_step(self, batch, batch_idx):
        return None if batch_idx in self.skipped else super().training_step(batch, batch_idx)


def test_under_float16_a_stepping_batch_skipped_under_accumulation_is_no_step():
    """Under float16's GradScaler, accumulate_grad_batches=2 and training_step returning None on a
    stepping batch, Lightning neither unscales nor steps (its skip_unscaling); the doctor recorded the
    step with the gradients still scaled (about 65536 times their norm) and the batch before's loss in
    the next step's. Truth: a hand-written loop with torch's GradScaler, stepping where Lightning does
    (after batches 3 and 7 of 8): its norms after unscale_, the mean loss of each step's two batches,
    the same weights."""

    x, y = standardized()
    x, y = x[:256], y[:256]
    hand, scaler = _clipping_net(), torch.amp.GradScaler("cpu")
    optimizer = torch.optim.SGD(hand.parameters(), lr=0.05)
    norms, losses = [], []
    for first in (2, 6):  # batches 0 and 4 are each zeroed before the next pair's first
        optimizer.zero_grad()
        pair = []
        for batch in (first, first + 1):
            rows = slice(batch * 32, batch * 32 + 32)
            with torch.autocast("cpu", dtype=torch.float16):
                loss = nn.functional.cross_entropy(hand(x[rows]), y[rows])
            pair.append(loss.item())
            scaler.scale(loss / 2).backward()
        scaler.unscale_(optimizer)
        norms.append(torch.nn.utils.get_total_norm([p.grad for p in hand.parameters()]).item())
        losses.append(sum(pair) / 2)
        scaler.step(optimizer)
        scaler.update()
    module, seen = _fit_skipping_under_float16(x, y, lambda p: torch.optim.SGD(p, lr=0.05))
    assert seen.steps == [2, 4] and max(norms) < 5  # Lightning counts the skipped steps
    assert seen.global_grad_norms().tolist() == pytest.approx(norms, rel=1e-4)
    assert seen.losses == pytest.approx(losses, rel=1e-4)
    assert all(torch.allclose(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


def _fit_skipping_under_float16(x, y, make_optimizer):
    """The module stepping make_optimizer with training_step returning None on batches 1 and 5, fit under
    float16's GradScaler with accumulate_grad_batches=2, and what its DoctorCallback recorded."""
    from lightning.pytorch.plugins import MixedPrecision

    module = SkipsStepping(_clipping_net(), nn.CrossEntropyLoss(), make_optimizer, skipped={1, 5})
    doctor = DoctorCallback(print_findings=False)
    precision = MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))
    fit(
        module,
        (x, y),
        -1,
        [doctor],
        shuffle=False,
        max_epochs=1,
        accumulate_grad_batches=2,
        plugins=[precision],
    )
    return module, doctor.diagnosis.statistics


def test_under_float16_a_schedule_as_lr_is_read_at_the_updates_taken_not_the_step_number():
    """optimlab's SGD with its lr a schedule, under float16's GradScaler, accumulate_grad_batches=2 and
    training_step returning None on the stepping batches 1 and 5: Lightning's steps are 2 and 4 after
    updates 0 and 1, and the doctor read the schedule at the step number recorded before (step 4's lr
    at 2). Truth: the schedule by hand at 0 and 1, and a hand-written loop with torch's GradScaler
    stepping the same optimizer where Lightning does, its weights the same."""

    def lr(updates):
        return 0.05 * (1 + math.cos(math.pi * updates / 4))

    x, y = standardized()
    x, y = x[:256], y[:256]
    hand, scaler = _clipping_net(), torch.amp.GradScaler("cpu")
    optimizer = optim.create("sgd", hand.parameters(), lr=lr)
    for first in (2, 6):  # batches 0 and 4 are each zeroed before the next pair's first
        optimizer.zero_grad()
        for batch in (first, first + 1):
            rows = slice(batch * 32, batch * 32 + 32)
            with torch.autocast("cpu", dtype=torch.float16):
                loss = nn.functional.cross_entropy(hand(x[rows]), y[rows])
            scaler.scale(loss / 2).backward()
        scaler.step(optimizer)
        scaler.update()
    module, seen = _fit_skipping_under_float16(x, y, lambda p: optim.create("sgd", p, lr=lr))
    assert seen.steps == [2, 4]
    assert seen.lrs == pytest.approx([lr(0), lr(1)], rel=1e-12)
    assert all(torch.allclose(a, b) for a, b in zip(module.net.parameters(), hand.parameters()))


def test_under_float16_a_step_skipped_after_a_clipped_micro_batch_has_no_update_measured():
    """A module accumulating two batches and clipping each under float16: the doctor's read of the first
    (not stepped on) kept a copy of the weights, which the step's own read, left out as the GradScaler
    skipped the step (its second batch overflowed), did not replace: step 1 was recorded with an
    update of 0 (the weights before against the same weights). Truth: the weights did not move at step 1
    (no update to measure) and step 2's update is the weights at the end minus those at the start."""
    from lightning.pytorch.plugins import MixedPrecision

    x, y = standardized()
    x, y = x[:128].clone(), y[:128]
    x[32:64] *= 100  # batch 1 overflows float16 at the scaler's first scale; batch 0 does not
    module = ClipsEachBatchStepsEvery(
        _clipping_net(), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.05), 1e9, every=2
    )
    start = [p.detach().clone() for p in module.net.parameters()]
    doctor = DoctorCallback(print_findings=False)
    precision = MixedPrecision("16-mixed", "cpu", torch.amp.GradScaler("cpu"))
    fit(module, (x, y), -1, [doctor], shuffle=False, max_epochs=1, plugins=[precision])
    seen = doctor.diagnosis.statistics
    assert seen.steps == [1, 2] and math.isnan(seen.global_grad_norms()[0])  # step 1 skipped
    assert list(seen.update_norms) == [2]
    moved = [(a - b).norm().item() for a, b in zip(start, module.net.parameters())]
    assert min(moved) > 0 and seen.update_norms[2].tolist() == pytest.approx(moved, rel=1e-4)


class StepsTheRawSecondOptimizer(StepsTheRawOptimizer):
    """:class:`StepsTheRawOptimizer` whose net is trained by a second optimizer, stepped as
    ``trainer.optimizers[1]``, the first (over a probe of its own) never stepped."""

    def __init__(self, net, loss, make_optimizer):
        super().__init__(net, loss, make_optimizer)
        self.probe = nn.Linear(2, 2)

    def training_step(self, batch, batch_idx):
        x, y = batch
        optimizer = self.trainer.optimizers[1]
        optimizer.zero_grad()
        self.manual_backward(self.loss(self(x), y))
        optimizer.step()

    def configure_optimizers(self):
        return [torch.optim.SGD(self.probe.parameters(), lr=0.1), self.make_optimizer(self.net.parameters())]


def test_a_run_whose_watched_second_optimizer_stepped_unseen_is_said_naming_that_optimizer():
    """The warning of a run whose steps the doctor never saw named trainer.optimizers[0].step() where
    the watched optimizer, stepped outside Lightning's wrapper, was DoctorCallback(optimizer=1)'s.
    Truth: the module steps trainer.optimizers[1], and the Trainer counts no step (global_step 0)."""
    x, y = standardized()
    module = StepsTheRawSecondOptimizer(
        nn.Linear(64, 10), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1)
    )
    with pytest.warns(OptimlabWarning) as said:
        trainer = fit(module, (x[:224], y[:224]), -1, [DoctorCallback(optimizer=1)], max_epochs=1)
    assert trainer.global_step == 0
    assert [str(w.message) for w in said if w.category is OptimlabWarning] == [
        "optimlab doctor: no optimizer step was seen in the trainer's run (every batch skipped, or the "
        "optimizer stepped outside the trainer's wrapper: trainer.optimizers[1].step() in place of "
        "Lightning's self.optimizers()); no diagnosis"
    ]


class StepNorms(lightning.Callback):
    """The global norm of the gradients each step of the first optimizer applied: read as the next batch
    zeroes them, after Lightning clipped them and the optimizer stepped."""

    def __init__(self):
        self.norms = []

    def on_before_zero_grad(self, trainer, pl_module, optimizer):
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if grads:
            self.norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())


@pytest.mark.parametrize("algorithm", [None, "value"])
def test_the_advice_to_clip_names_the_trainers_gradient_clip_val_where_it_clips_by_the_norm(algorithm):
    """Exploding gradients (a ReLU MLP under SGD at lr 3, unclipped: the norm grows until a NaN) were
    advised as optimlab's recipe field training.grad_clip_norm, which a Lightning user has not: the knob
    is Trainer(gradient_clip_val=...), named as the Hugging Face callback names
    TrainingArguments.max_grad_norm. Truth: a real Trainer given the advised flag steps on gradients of
    that global norm at most (torch's norm of those the optimizer applied), where unclipped they reach
    above 10. Under gradient_clip_algorithm='value' the flag bounds each element, not the norm: the
    recipe field stayed, which the user has not either: the advice names both flags, pinned; the truth is
    the default algorithm's (the norm), the flag value clips each element at."""
    x, y = standardized()

    def run(callbacks, **flags):
        torch.manual_seed(0)
        module = Classifier(mlp(depth=2), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=3.0))
        fit(module, (x, y), 60, callbacks, **flags)

    doctor = DoctorCallback(print_findings=False)
    flags = {} if algorithm is None else {"gradient_clip_val": 1e9, "gradient_clip_algorithm": algorithm}
    run([doctor], **flags)
    (found,) = [f for f in doctor.diagnosis.findings if f.rule == "exploding_gradients"]
    if algorithm == "value":  # one key a setting, as Finding.recipe_changes' dotted names
        both = {"Trainer.gradient_clip_algorithm": "norm", "Trainer.gradient_clip_val": 1.0}
        assert found.recipe_changes == both
        said = "Trainer.gradient_clip_algorithm='norm', Trainer.gradient_clip_val=1.0"
        assert found.recommendation == f"{said}, and lower the lr"
        return
    assert found.recipe_changes == {"Trainer.gradient_clip_val": 1.0}
    assert found.recommendation.startswith("Trainer.gradient_clip_val=1.0")
    assert "grad_clip_norm" not in found.recommendation  # the recipe field the user has not
    unclipped, clipped = StepNorms(), StepNorms()
    run([unclipped])
    run([clipped], gradient_clip_val=1.0)
    assert max(n for n in unclipped.norms if math.isfinite(n)) > 10
    assert max(clipped.norms) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("clip", [None, 1.0])
def test_the_advice_to_clip_is_not_the_gradient_clip_val_the_trainer_already_clips_at(clip):
    """A Trainer given gradient_clip_val=1.0 whose gradients still explode (a ReLU MLP under SGD at lr
    100: their norm, read before Lightning clips, past 10) was advised 'set Trainer.gradient_clip_val=1.0',
    the flag it has. The advice there is the lr, saying the clip is in force; unclipped it stays the flag,
    pinned. Truth: the Trainer's own flag."""
    x, y = standardized()
    torch.manual_seed(0)
    module = Classifier(mlp(depth=2), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=100.0))
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x, y), 60, [doctor], **({} if clip is None else {"gradient_clip_val": clip}))
    (found,) = [f for f in doctor.diagnosis.findings if f.rule == "exploding_gradients"]
    assert found.evidence["peak_norm"] > 10
    if clip is None:
        assert found.recommendation == "Trainer.gradient_clip_val=1.0, and lower the lr"
        assert found.recipe_changes == {"Trainer.gradient_clip_val": 1.0}
        return
    assert found.recommendation == (
        "lower lr in the optimizer (the run already clips the gradients' norm at 1: the lr sets the steps' length)"
    )
    for finding in doctor.diagnosis.findings:
        assert "gradient_clip_val" not in finding.recommendation + str(finding.recipe_changes), finding


class NormsStepped(lightning.Callback):
    """The global norm of the gradients each optimizer step takes, read as it begins: under manual
    optimization after the module's own clip (:class:`StepNorms` reads at zero_grad, which Lightning calls
    under automatic optimization only)."""

    def __init__(self):
        self.norms = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        self.norms.append(torch.nn.utils.get_total_norm(grads).item())


class ConfiguresItsClipping(Classifier):
    """Under automatic optimization, clipping the gradient's norm in its own
    ``configure_gradient_clipping``, as Lightning's docs show it (the Trainer's flags unset)."""

    def __init__(self, net, loss, make_optimizer, clip):
        super().__init__(net, loss, make_optimizer)
        self.clip = clip

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        self.clip_gradients(optimizer, gradient_clip_val=self.clip, gradient_clip_algorithm="norm")


@pytest.mark.parametrize("clip", [0.0, 1.0])
@pytest.mark.parametrize(
    "clips, where",
    [
        (ClipsItsGradients, "in training_step, before optimizer.step()"),
        (ConfiguresItsClipping, "in ConfiguresItsClipping.configure_gradient_clipping"),
    ],
)
def test_where_the_module_clips_itself_the_advice_to_clip_is_not_the_norm_it_already_clips_at(
    clips, where, clip
):
    """A module clipping its own gradients' norm at 1.0 (``self.clip_gradients(optimizer, 1.0, "norm")``,
    as Lightning's docs show it under manual optimization, or in its own configure_gradient_clipping under
    automatic) whose gradients still explode (a ReLU MLP under SGD at lr 100: their norm, read before the
    clip, past 10) was advised 'training: grad_clip_norm 1.0', the clip it has: the Trainer's
    gradient_clip_val was read as the clip in force, not the module's own (configure_gradient_clipping's
    was not read at all). The advice there is the lr, saying the clip is in force; at clip 0 (Lightning's
    plugin clips nothing at 0) it is the clip, named as the module's own self.clip_gradients call where it
    makes it, one recipe_changes key a setting (it was the recipe field training.grad_clip_norm, which the
    user has not, then a sentence as the key), pinned. Truth: the norm the Trainer's optimizer applied,
    as torch measures it, is the clip's."""
    x, y = standardized()
    torch.manual_seed(0)
    make = lambda p: torch.optim.SGD(p, lr=100.0)  # noqa: E731
    module = clips(mlp(depth=2), nn.CrossEntropyLoss(), make, clip)
    applied = StepNorms() if module.automatic_optimization else NormsStepped()
    doctor = DoctorCallback(print_findings=False)
    trainer = fit(module, (x, y), 20, [doctor, applied])
    assert "clip_gradients" not in vars(trainer.precision_plugin)  # Lightning's own method again
    (found,) = [f for f in doctor.diagnosis.findings if f.rule == "exploding_gradients"]
    assert found.evidence["peak_norm"] > 10
    if clip == 0.0:  # the module's own call, not a recipe field
        assert found.recipe_changes == {
            "LightningModule.clip_gradients.gradient_clip_algorithm": "norm",
            "LightningModule.clip_gradients.gradient_clip_val": 1.0,
        }
        call = "self.clip_gradients(optimizer, gradient_clip_algorithm='norm', gradient_clip_val=1.0)"
        assert found.recommendation == f"{call} {where}, and lower the lr"
        return
    finite = [n for n in applied.norms if math.isfinite(n)]
    assert finite and max(finite) == pytest.approx(1.0, rel=1e-4)  # the module's clip is in force
    assert found.recommendation == (
        "lower lr in the optimizer (the run already clips the gradients' norm at 1: the lr sets the steps' length)"
    )
    for finding in doctor.diagnosis.findings:
        assert "grad_clip_norm" not in finding.recommendation + str(finding.recipe_changes), finding


def test_the_fields_no_flag_of_the_trainer_sets_are_advised_as_the_users_own_code_sets_them():
    """Lightning's flags set only the clip: the lr, the data's scaling and the shuffle fell back to recipe
    words no Lightning user has, 'lr: 0.0001' with recipe_changes {'optimizer.lr': 0.0001}, 'data: scaling
    standardize', 'training: shuffle True' (where the DataLoader hint had been). They are said as the
    user's own code sets them (configure_optimizers' optimizer, their DataLoader), no recipe_changes.
    Truth: the inputs at 100x unit scale, the batches sorted by label, the lr of Adam built at 1e-3."""
    x, y = standardized()
    order = torch.argsort(y, stable=True)
    torch.manual_seed(0)
    module = Classifier(mlp(), nn.CrossEntropyLoss(), lambda p: torch.optim.Adam(p, lr=1e-3))
    doctor = DoctorCallback(print_findings=False)
    fit(module, (x[order] * 100, y[order]), 20, [doctor], shuffle=False)
    told = {f.rule: (f.recommendation, f.recipe_changes) for f in doctor.diagnosis.findings}
    assert told["input_scale"] == ("standardize the inputs (each feature to mean 0 and std 1)", {})
    assert told["unshuffled_data"] == (
        "DataLoader(..., shuffle=True) (the batches in a new random order each epoch)",
        {},
    )
    assert (
        told["lr_too_high"][0].startswith("lr=0.0001 in the optimizer, a tenth of now")
        and not told["lr_too_high"][1]
    )
    # the lr check as a Lightning user runs it (it was 'optimlab lr-find', a CLI verb): the call binds
    check = "optimlab.integrations.lightning.lr_range_test(module, train_dataloaders, check_steps=<steps>)"
    assert told["lr_too_high"][0].endswith(
        f"(the lr check gives a better estimate: {check} before Trainer.fit)"
    )
    inspect.signature(lr_range_test).bind(module, DataLoader(TensorDataset(x, y)), check_steps=5)


def test_a_longer_watch_is_advised_as_a_trainer_that_runs_longer_whichever_bound_it_was_given():
    """A Lightning user's 'watch longer' said 'Trainer(max_steps=<more>)', which does not lengthen a run
    bounded by max_epochs (Lightning stops at whichever comes first). Truth: a real Trainer given the
    arguments said, <more> read as 8, runs 8 steps where max_epochs=1 and where max_steps=2 ran 2."""
    from optimlab.doctor.findings import DOCTOR_OPTIONS, TORCH_CALLS, Finding, advised_as
    from optimlab.integrations.lightning import _flags_set

    module = Classifier(mlp(depth=0), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    settings = {**TORCH_CALLS, **_flags_set(lightning.Trainer(logger=False), module)}
    plateau = Finding("plateau", "warning", "", "", DOCTOR_OPTIONS["doctor.steps"][0])
    said = advised_as(plateau, settings).recommendation
    arguments = said.replace("<more>", "8").partition("Trainer(")[2].partition(")")[0]
    given = {k: int(v) for k, v in (part.split("=") for part in arguments.split(", "))}
    x, y = standardized()
    x, y = x[:64], y[:64]  # 2 batches of 32: an epoch is 2 steps
    for call in ({"max_steps": -1, "max_epochs": 1}, {"max_steps": 2}):  # the user's Trainer's bound
        assert fit(module, (x, y), call.pop("max_steps"), **call).global_step == 2
        advised = {**call, **given}
        assert fit(module, (x, y), advised.pop("max_steps"), **advised).global_step == 8, (call, said)


def test_the_schedule_is_advised_as_the_scheduler_configure_optimizers_returns():
    """A Lightning user's plateau was told torch's loop words for the cosine schedule ('scheduler.step()
    after each optimizer.step()'), a step Lightning takes, not the user: it is told the scheduler
    configure_optimizers returns, stepped each optimizer step. Truth: a real Trainer given what is said
    (T_max the run's 5 steps) ends the run at lr 0, and the clip keeps the Trainer's flag."""
    from optimlab.doctor.findings import TORCH_CALLS, Finding, advised_as
    from optimlab.integrations.lightning import _flags_set

    x, y = standardized()
    module = Classifier(mlp(depth=0), nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    settings = {**TORCH_CALLS, **_flags_set(lightning.Trainer(logger=False), module)}
    plateau = Finding(
        "plateau", "warning", "", "", "schedule: cosine (decay the lr)", {"schedule.name": "cosine"}
    )
    told = advised_as(plateau, settings)
    returned = told.recommendation.removeprefix("configure_optimizers returning ").removesuffix(
        " (decay the lr)"
    )
    assert told.recipe_changes == {} and returned.startswith("{'optimizer': optimizer"), told.recommendation
    assert settings["training.grad_clip_norm"].name == "Trainer.gradient_clip_val"

    def configured(parameters):
        optimizer = torch.optim.SGD(parameters, lr=0.1)
        return eval(returned.replace("<steps>", "5"), {"torch": torch, "optimizer": optimizer})

    torch.manual_seed(0)
    stepped = Classifier(mlp(depth=0), nn.CrossEntropyLoss(), configured)
    trainer = fit(stepped, (x, y), 5)
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
