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


def _setup(kind):
    torch.manual_seed(0)
    net, (x, y) = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)), standardized()
    train, held_out = (x[:128], y[:128]), (x[128:192], y[128:192])
    return kind(net, nn.CrossEntropyLoss(), lambda p: torch.optim.SGD(p, lr=0.1)), train, held_out


@pytest.mark.parametrize("clip", [0.05, None])
@pytest.mark.parametrize(
    ("kind", "hook"), [(Scaled, "on_after_backward"), (ScaledThroughData, "on_before_optimizer_step")]
)
def test_the_check_is_refused_beside_a_hook_that_changes_the_gradients(kind, hook, clip):
    """The check's training (find_lr's fit) calls no on_after_backward nor on_before_optimizer_step, and
    under the clip its sweep clipped before them, Lightning after: a module that scales its gradients
    there gave other losses with check_steps than without. Without the clip it was not refused (the
    candidates trained unscaled). Refused in one line naming the hook and the way out, for a change
    through grad.data too; the sweep alone still runs."""
    module, train, held_out = _setup(kind)
    quick = {"steps": 6, "batch_size": 32, "start_lr": 1e-2, "end_lr": 10.0}
    trainer = _quiet_trainer(gradient_clip_val=clip)
    with pytest.raises(
        InvalidValueError, match=rf"{kind.__name__}\.{hook}\(\), which changes.*accepted None: the"
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
