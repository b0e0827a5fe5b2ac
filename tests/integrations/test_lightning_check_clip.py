"""The Lightning range test's check under a Trainer that clips the gradients' norm by its flags."""

from __future__ import annotations

import pytest
import torch
from doctor.setups import standardized
from lightning.pytorch.utilities import grad_norm
from torch import nn

from integrations.test_lightning import Classifier, _quiet_trainer
from optimlab.doctor import find_lr
from optimlab.errors import InvalidValueError
from optimlab.integrations.lightning import lr_range_test


def test_the_check_clips_the_norm_as_the_trainers_flags_do_and_value_clipping_is_refused():
    """The check was refused beside Trainer(gradient_clip_val=...) though its training (find_lr's fit)
    clips by the norm. Truth: the sweep clipped by Lightning's own configure_gradient_clipping (the range
    test without a check) gives the check's sweep step for step, and find_lr of the same net clipped at
    that norm scores the candidates alike; clipping by value is refused in one line."""
    torch.manual_seed(0)
    net, (x, y) = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)), standardized()
    train, held_out = (x[:128], y[:128]), (x[128:192], y[128:192])
    module = Classifier(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1))
    quick = {"steps": 12, "batch_size": 32, "start_lr": 1e-2, "end_lr": 10.0}
    clipping = _quiet_trainer(gradient_clip_val=0.05)  # 'norm': Lightning's default algorithm
    checked = lr_range_test(module, train, held_out, check_steps=3, trainer=clipping, **quick)
    swept = lr_range_test(module, train, trainer=clipping, **quick)
    assert checked.losses == swept.losses
    unclipped = lr_range_test(module, train, **quick)
    assert max(abs(a - b) for a, b in zip(unclipped.losses, swept.losses)) > 0.01  # the clip matters
    reference = find_lr(
        net, nn.CrossEntropyLoss(), *train, torch.optim.SGD(net.parameters(), lr=0.1),
        held_out=held_out, check_steps=3, grad_clip_norm=0.05, **quick,
    )  # fmt: skip
    assert [c.score for c in checked.candidates] == pytest.approx(
        [c.held_out_loss for c in reference.candidates], rel=1e-5
    )
    by_value = _quiet_trainer(gradient_clip_val=0.05, gradient_clip_algorithm="value")
    with pytest.raises(
        InvalidValueError, match="gradient_clip_algorithm='value'.*clips by the gradients' norm"
    ):
        lr_range_test(module, train, held_out, check_steps=3, trainer=by_value, **quick)


class Scaled(Classifier):
    """Gradients changed in on_after_backward, before Lightning clips them (a rescale, a penalty)."""

    def on_after_backward(self):
        for parameter in self.parameters():
            if parameter.grad is not None:
                parameter.grad.mul_(10.0)


class ScaledThroughData(Classifier):
    """The same rescale through ``grad.data``, which moves no in-place count, in on_before_optimizer_step."""

    def on_before_optimizer_step(self, optimizer):
        for parameter in self.parameters():
            if parameter.grad is not None:
                parameter.grad.data.mul_(10.0)


class LogsGradNorms(Classifier):
    """Lightning's own recipe for logging the gradients' norms, which reads them only."""

    def __init__(self, *args):
        super().__init__(*args)
        self.norms = []

    def on_before_optimizer_step(self, optimizer):
        norms = grad_norm(self, norm_type=2)
        self.norms.append(norms["grad_2.0_norm_total"])
        self.log_dict(norms)


class SwapsTwoGradients(Classifier):
    """Two entries of a gradient swapped through ``grad.data``: its sum and sum of squares kept."""

    def on_before_optimizer_step(self, optimizer):
        bias = self.net[2].bias.grad.data
        bias[[0, 1]] = bias[[1, 0]]


class ClipsWeights(Classifier):
    """WGAN's weight clipping, through ``.data``: the gradients untouched."""

    def on_before_optimizer_step(self, optimizer):
        for parameter in self.parameters():
            parameter.data.clamp_(-0.01, 0.01)


class CutsTheLr(Classifier):
    """A tenth of the lr for this step, set in the hook."""

    def on_before_optimizer_step(self, optimizer):
        for group in optimizer.param_groups:
            group["lr"] *= 0.1


class ZeroGate(nn.Module):
    """A gate at 0 behind a square root: a finite loss, a NaN gradient (0 * inf)."""

    def __init__(self):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + 0 * self.gate.sqrt()


class ReadsNorms(Classifier):
    """A hook that only reads the gradients' norms, NaN among them."""

    def on_after_backward(self):
        self.norms = [float(p.grad.norm()) for p in self.parameters() if p.grad is not None]


def _setup(kind):
    torch.manual_seed(0)
    net, (x, y) = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)), standardized()
    train, held_out = (x[:128], y[:128]), (x[128:192], y[128:192])
    return kind(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1)), train, held_out


@pytest.mark.parametrize(
    ("kind", "hook", "changed", "clip"),
    [
        (Scaled, "on_after_backward", "the gradients", 0.05),
        (Scaled, "on_after_backward", "the gradients", None),
        (ScaledThroughData, "on_before_optimizer_step", "the gradients", 0.05),
        (ScaledThroughData, "on_before_optimizer_step", "the gradients", None),
        (SwapsTwoGradients, "on_before_optimizer_step", "the gradients", None),
        (ClipsWeights, "on_before_optimizer_step", "the weights", None),
        (CutsTheLr, "on_before_optimizer_step", "the optimizer's param_groups settings", None),
    ],
)
def test_the_check_is_refused_beside_a_hook_that_changes_the_training(kind, hook, changed, clip):
    """The check's training (find_lr's fit) calls no on_after_backward nor on_before_optimizer_step, and
    under the clip its sweep clipped before them, Lightning after: a module that scales its gradients
    there gave other losses with check_steps than without. Without the clip it was not refused (the
    candidates trained unscaled). Refused in one line naming the hook, what it changes and the way out,
    for a change through grad.data too. Two gradient entries swapped (2988e0e3's sums kept), the weights
    clipped (WGAN) or the lr cut in the hook were checked though the sweep trained otherwise than the
    check. The sweep alone still runs."""
    module, train, held_out = _setup(kind)
    quick = {"steps": 6, "batch_size": 32, "start_lr": 1e-2, "end_lr": 10.0}
    trainer = _quiet_trainer(gradient_clip_val=clip)
    with pytest.raises(
        InvalidValueError,
        match=rf"""{kind.__name__}\.{hook}\(\), which changes {changed}["'].*accepted None: the""",
    ):
        lr_range_test(module, train, held_out, check_steps=2, trainer=trainer, **quick)
    assert len(lr_range_test(module, train, trainer=trainer, **quick).losses) > 0


def test_the_check_runs_beside_a_hook_that_only_reads_the_gradients():
    """A module logging its gradients' norms by Lightning's own recipe (grad_norm in
    on_before_optimizer_step) was refused the check under a Trainer clipping the norm, as any module
    defining the hook was. Truth: the same module without the hook, checked alike (the hook changes
    nothing of the training), and the hook ran at every step of the sweep."""
    quick = {"steps": 6, "batch_size": 32, "start_lr": 1e-2, "end_lr": 10.0}
    clipping = _quiet_trainer(gradient_clip_val=0.05)
    logging, train, held_out = _setup(LogsGradNorms)
    checked = lr_range_test(logging, train, held_out, check_steps=2, trainer=clipping, **quick)
    assert len(logging.norms) >= quick["steps"]
    plain, *_ = _setup(Classifier)
    reference = lr_range_test(plain, train, held_out, check_steps=2, trainer=clipping, **quick)
    assert checked.losses == reference.losses
    assert [c.score for c in checked.candidates] == [c.score for c in reference.candidates]


def test_the_check_runs_beside_a_hook_reading_a_nan_gradient():
    """A hook that only reads the gradients was refused as 'changes the gradients' once one was NaN
    (2988e0e3 compared their sums, and NaN != NaN). Truth: the same module without the hook, checked
    alike, and the hook read a NaN."""
    quick = {"steps": 6, "batch_size": 32, "start_lr": 1e-2, "end_lr": 10.0}
    reading, train, held_out = _setup(ReadsNorms)
    plain, *_ = _setup(Classifier)
    for module in (reading, plain):
        module.net.insert(0, ZeroGate())
    checked = lr_range_test(reading, train, held_out, check_steps=2, trainer=_quiet_trainer(), **quick)
    assert any(norm != norm for norm in reading.norms)
    reference = lr_range_test(plain, train, held_out, check_steps=2, trainer=_quiet_trainer(), **quick)
    assert checked.reason == reference.reason  # NaN losses: compared as text
    assert str(checked.losses) == str(reference.losses)
