"""Instruments: their numbers against torch and closed forms, their schedule, and that they leave
training exactly as it would have been."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

from doctor.setups import NextTokenLSTM, markov_tokens, mlp, pixels, rows_as_sequences, standardized
from optimlab.doctor import DoctorCallback, Instruments, InstrumentSchedule, diagnose
from optimlab.doctor.instruments import SATURATION_DERIVATIVE, FeatureStats
from optimlab.errors import InvalidValueError, OptimlabWarning
from optimlab.registry import Capability, get_registry
from optimlab.train import Callback, fit


def manual_steps(model, optimizer, x, y, steps, instruments, before_step=None):
    """A hand-written loop that feeds the instruments: the way a user's own loop would."""
    loss_fn = nn.CrossEntropyLoss()
    instruments.start(0)
    for step in range(1, steps + 1):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        if before_step is not None:
            before_step(step)
        optimizer.step()
        instruments.record_step(step, loss.item(), optimizer.param_groups[0]["lr"])
    instruments.stop()
    return instruments.statistics


def test_gradient_norms_match_torch_per_parameter_layer_and_model():
    x, y = standardized()
    x, y = x[:64], y[:64]
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    expected = []

    def reference(step):
        grads = [p.grad for p in model.parameters()]
        total = nn.utils.clip_grad_norm_(model.parameters(), math.inf)
        expected.append(([g.norm().item() for g in grads], total.item()))

    stats = manual_steps(model, optimizer, x, y, 4, Instruments(model, optimizer), reference)
    for (per_param, total), recorded, layer_row, global_norm in zip(
        expected, stats.grad_norms, stats.layer_grad_norms(), stats.global_grad_norms(), strict=True
    ):
        assert recorded.tolist() == pytest.approx(per_param, rel=1e-6)
        assert global_norm.item() == pytest.approx(total, rel=1e-6)
        # a Linear layer's norm is the norm of its weight and bias together
        assert layer_row[0].item() == pytest.approx(math.hypot(per_param[0], per_param[1]), rel=1e-6)
    assert [layer.name for layer in stats.layers] == ["0", "2", "4"] and stats.steps == [1, 2, 3, 4]


def test_update_to_weight_ratio_of_sgd_is_lr_times_gradient_over_weight():
    x, y = standardized()
    x, y = x[:64], y[:64]
    model = mlp()
    lr = 0.05
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    expected = {}

    def reference(step):
        layers = [m for m in model if isinstance(m, nn.Linear)]
        expected[step] = [
            lr
            * math.hypot(m.weight.grad.norm(), m.bias.grad.norm())
            / math.hypot(m.weight.detach().norm(), m.bias.detach().norm())
            for m in layers
        ]

    schedule = InstrumentSchedule(first=2, every=5)
    stats = manual_steps(model, optimizer, x, y, 10, Instruments(model, optimizer, schedule), reference)
    steps, ratios = stats.update_to_weight_ratios()
    assert steps == [1, 2, 5, 10]
    for step, row in zip(steps, ratios, strict=True):
        assert row.tolist() == pytest.approx(expected[step], rel=1e-5)


def test_schedule_picks_the_first_steps_and_every_nth():
    schedule = InstrumentSchedule(first=3, every=10)
    assert [s for s in range(1, 31) if schedule.is_detailed(s)] == [1, 2, 3, 10, 20, 30]
    with pytest.raises(InvalidValueError, match="every"):
        InstrumentSchedule(every=0)


def test_instruments_leave_training_bit_for_bit_unchanged_and_remove_their_hooks():
    x, y = standardized()

    def run(callbacks):
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(64, 32), nn.Tanh(), nn.Dropout(0.1), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses = []

        class Record(Callback):
            def on_step_end(self, state):
                losses.append(state.train_loss)

        doctor = callbacks(model, optimizer)
        torch.manual_seed(1)
        fit(
            model,
            optimizer,
            x,
            y,
            loss_fn=nn.CrossEntropyLoss(),
            total_steps=45,
            batch_size=32,
            callbacks=[*doctor, Record()],
            evaluate=lambda: {"val_loss": 0.0},
            eval_every=7,
        )
        return model, optimizer, losses, doctor

    plain_model, _, plain_losses, _ = run(lambda m, o: [])
    model, optimizer, losses, (doctor,) = run(lambda m, o: [DoctorCallback(m, o)])
    assert losses == plain_losses
    for a, b in zip(model.parameters(), plain_model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not optimizer._optimizer_step_pre_hooks
    stats = doctor.statistics
    assert stats.detailed_steps == [1, 2, 3, 20, 40] and len(stats.steps) == 45
    # evaluation passes (eval mode) are not counted as training statistics
    assert sorted(stats.outputs["1"]) == stats.detailed_steps


@pytest.mark.parametrize(
    "name", [e.name for e in get_registry("activation") if Capability.SATURATING in e.capabilities]
)
def test_saturated_fraction_matches_the_normal_distribution(name):
    """Pre-activations N(0, s^2): the saturated fraction is P(f'(z) < 5% of its peak), integrated here
    from the activation's own autograd derivative, not from the instrument's formula."""
    assert name in SATURATION_DERIVATIVE, f"give {name!r} a derivative in SATURATION_DERIVATIVE"
    scale, n = 3.0, 20_000
    layer = nn.Linear(1, 50, bias=False)
    nn.init.constant_(layer.weight, scale)
    model = nn.Sequential(layer, get_registry("activation").create(name), nn.Linear(50, 2))
    x = torch.randn(n, 1, generator=torch.Generator().manual_seed(0))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    stats = manual_steps(
        model, optimizer, x, torch.zeros(n, dtype=torch.long), 1, Instruments(model, optimizer)
    )

    z = torch.linspace(-12, 12, 200_001, dtype=torch.float64, requires_grad=True)
    f = get_registry("activation").create(name)
    (derivative,) = torch.autograd.grad(f(z).sum(), z)
    peak = derivative.max()
    density = torch.exp(-0.5 * (z / scale) ** 2) / (scale * math.sqrt(2 * math.pi))
    expected = torch.trapezoid(density * (derivative < 0.05 * peak), z).item()
    assert stats.outputs["1"][1].saturated_fraction == pytest.approx(expected, abs=0.01)


def test_dead_units_are_counted_per_feature_and_per_channel():
    linear = nn.Linear(64, 100)
    with torch.no_grad():
        linear.bias[:30] = -1e4  # these 30 units can never fire
    conv = nn.Conv2d(1, 8, 3, padding=1)
    with torch.no_grad():
        conv.bias[:3] = -1e4
    x, y = standardized()
    for model, alive in (
        (nn.Sequential(linear, nn.ReLU(), nn.Linear(100, 10)), 70),
        (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), conv, nn.ReLU(), nn.Flatten(), nn.Linear(512, 10)), 5),
    ):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        stats = manual_steps(model, optimizer, x[:256], y[:256], 1, Instruments(model, optimizer))
        (module,) = stats.activation_modules()
        assert int(stats.outputs[module][1].active_units.sum()) == alive


def test_input_features_are_the_first_layers_inputs_seen_on_detailed_steps():
    x, y = standardized()
    x = x[:100] * 3 + 1
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    stats = manual_steps(model, optimizer, x, y[:100], 2, Instruments(model, optimizer))
    features = stats.input_features
    twice = torch.cat([x, x]).double()
    assert features.count == 200
    assert torch.allclose(features.mean, twice.mean(0), atol=1e-9)
    assert torch.allclose(features.std, twice.std(0, unbiased=False), atol=1e-6)
    assert torch.equal(features.minimum, x.amin(0)) and torch.equal(features.maximum, x.amax(0))
    assert isinstance(FeatureStats.of(x), FeatureStats)


class NormedRows(nn.Module):
    """Each digit's 8 rows embedded, through a LayerNorm, mean-pooled: (batch, rows, width), or with
    ``batch_first`` False (rows, batch, width), torch's default layout of a sequence."""

    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.norm, self.head = nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 10)
        self.examples = 0 if batch_first else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.embed(x).movedim(0, self.examples)
        return self.head(self.norm(rows).mean(1 - self.examples))


@pytest.mark.parametrize("batch_first", [True, False])
def test_a_norms_example_spread_is_the_std_across_the_examples_at_each_place(batch_first):
    """Truth: torch's std (biased) across the examples of the norm's output, averaged over positions and
    units, read off a hook of its own; sequence-first, the examples are its dim 1."""
    x, y = rows_as_sequences()
    x, y = x[:32] * 3 + 1, y[:32]
    model = NormedRows(batch_first)
    seen = []
    model.norm.register_forward_hook(lambda _, __, out: seen.append(out.detach()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    stats = manual_steps(model, optimizer, x, y, 1, Instruments(model, optimizer))
    expected = seen[0].std(model.examples, correction=0).mean().item()
    assert stats.outputs["norm"][1].example_spread == pytest.approx(expected, rel=1e-5)


def test_layers_are_put_in_forward_order_and_paired_with_their_activation():
    class Backwards(nn.Module):
        """Registers its layers in the reverse of the order it runs them."""

        def __init__(self):
            super().__init__()
            self.head = nn.Linear(16, 3)
            self.act = nn.Tanh()
            self.hidden = nn.Linear(8, 16)

        def forward(self, x):
            return self.head(self.act(self.hidden(x)))

    model = Backwards()
    initial_std = model.hidden.weight.std().item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stats = manual_steps(
        model, optimizer, torch.randn(32, 8), torch.randint(0, 3, (32,)), 1, Instruments(model, optimizer)
    )
    assert [layer.name for layer in stats.layers] == ["hidden", "head"]
    assert (stats.layers[0].activation, stats.layers[0].activation_module) == ("tanh", "act")
    assert stats.layers[1].activation is None and stats.feeding_layer("act").name == "hidden"
    assert stats.layers[0].fan_in == 8 and stats.layers[0].weight_std == pytest.approx(initial_std)
    # per-layer norms follow the reordering: the first row entry is the hidden layer's
    grads = stats.layer_grad_norms()[0]
    assert grads[0].item() == pytest.approx(
        math.hypot(stats.grad_norms[0][2], stats.grad_norms[0][3]), rel=1e-6
    )


def test_layers_reading_one_computed_tensor_are_paired_and_branches_from_the_data_are_not():
    class Attention(nn.Module):
        """Two branches from the data; the query, key and value read one hidden tensor."""

        def __init__(self):
            super().__init__()
            self.wide, self.embed = nn.Linear(8, 4), nn.Linear(8, 16)
            self.query, self.key, self.value = nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 16)
            self.head = nn.Linear(16, 4)

        def forward(self, x):
            h = self.embed(x)
            scores = (self.query(h) @ self.key(h).T).softmax(-1)
            return self.head(scores @ self.value(h)) + self.wide(x)

    model = Attention()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stats = manual_steps(
        model, optimizer, torch.randn(32, 8), torch.randint(0, 4, (32,)), 2, Instruments(model, optimizer)
    )
    shared = {layer.name: layer.shares_input_with for layer in stats.layers}
    assert shared == {
        "embed": None,
        "query": None,
        "key": "query",
        "value": "query",
        "head": None,
        "wide": None,
    }
    assert {layer.name for layer in stats.layers if layer.reads_data} == {"embed", "wide"}


def test_parameters_outside_the_optimizer_are_unstepped_unless_another_optimizer_steps_them():
    """A GAN's other half has gradients and is stepped by its own optimizer: not this one's concern."""
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    for other_steps in (False, True):
        model = mlp()
        optimizer = torch.optim.SGD(model[:4].parameters(), lr=0.1)
        other = torch.optim.SGD(model[4].parameters(), lr=0.1)
        step_other = (lambda _, other=other: other.step()) if other_steps else None
        stats = manual_steps(model, optimizer, x, y, 3, Instruments(model, optimizer), step_other)
        assert stats.unstepped == ({} if other_steps else {"4": 128 * 10 + 10})


def test_a_model_without_trainable_parameters_is_rejected():
    model = nn.Sequential(nn.ReLU())
    with pytest.raises(InvalidValueError, match="trainable parameters"):
        Instruments(model, torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1))


def test_the_decays_pull_is_its_step_against_the_rest_of_the_update():
    """AdamW takes lr wd w off the weights beside Adam's step: the pull on each detailed step is
    |lr wd w| / |(w_before - w_after) - lr wd w_before| per layer, as computed from the weights by hand."""
    x, y = standardized()
    model = mlp()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=2.0)
    instruments = Instruments(model, optimizer)
    before: dict[int, list[torch.Tensor]] = {}
    stats = manual_steps(model, optimizer, x[:64], y[:64], 3, instruments,
                         lambda step: before.__setitem__(step, [p.detach().clone() for p in model.parameters()]))  # fmt: skip
    steps, pulls = stats.decay_pulls()
    assert steps == [1, 2, 3] and stats.weight_decays == [2.0] * 6
    for row, step in zip(pulls, steps, strict=True):
        after = [p.detach() for p in model.parameters()] if step == 3 else before[step + 1]
        for layer, (w, b) in enumerate(zip(before[step][::2], before[step][1::2], strict=True)):
            wa, ba = after[2 * layer], after[2 * layer + 1]
            decay = 1e-2 * 2.0 * torch.cat([w.flatten(), b.flatten()])
            update = torch.cat([(w - wa).flatten(), (b - ba).flatten()])
            assert row[layer].item() == pytest.approx(
                (decay.norm() / (update - decay).norm()).item(), rel=1e-4
            )


def test_token_targets_that_are_the_inputs_where_labelled_are_read_as_inputs_past_their_padding():
    """Targets padded with -100 (cross-entropy's ignored label, as Hugging Face's collators pad) where
    the inputs hold a pad id: the copy was not seen (the tensors differ at the padding), and a model
    learning to copy each token (loss 3.4 to under 0.5) had no unshifted_targets finding. Truth: the
    targets equal the inputs at every labelled position, by hand."""
    x, _ = markov_tokens()
    lengths = torch.randint(8, 17, (len(x), 1), generator=torch.Generator().manual_seed(0))
    padded = torch.arange(x.shape[1]) >= lengths
    inputs, targets = x.masked_fill(padded, 0), x.masked_fill(padded, -100)
    assert torch.equal(inputs[~padded], targets[~padded]) and not torch.equal(inputs, targets)
    model = NextTokenLSTM()
    diagnosis = diagnose(model, (inputs, targets), nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), 3e-3),
                         steps=100, lr_find=False)  # fmt: skip
    assert diagnosis.statistics.loss_inputs.targets_are_inputs
    found = [f for f in diagnosis.findings if f.rule == "unshifted_targets"]
    assert found and found[0].evidence["loss_end"] < 0.5, diagnosis.findings


@pytest.mark.parametrize("change", ["frozen", "unfrozen"])
@pytest.mark.parametrize("gradients_at_step", [True, False])
def test_parameters_frozen_or_unfrozen_mid_run_end_the_record_before_that_step(change, gradients_at_step):
    """Layer 0 frozen before step 5 has no gradient, once read as a norm of 0 (a vanishing gradient);
    unfrozen (a group added, as Lightning's BackboneFinetuning adds one) it trained unwatched. The record
    ends before step 5 in one warning naming it, whether the gradients are read at the step (a step
    pre-hook, another one after it) or before it (``gradients_ready``, Hugging Face's order): its 4
    steps are those of the same run without the change (the truth), step 5's gradients unread."""
    x, y = standardized()
    x, y = x[:64], y[:64]

    def run(steps, changes):
        torch.manual_seed(0)
        model = mlp()
        model[0].requires_grad_(change == "frozen")
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        instruments = Instruments(model, optimizer)
        instruments.start(0, gradients_at_step=gradients_at_step)
        optimizer.register_step_pre_hook(lambda *_: None)  # torch iterates the hooks as they run
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            for step in range(1, steps + 1):
                if changes and step == 5:
                    model[0].requires_grad_(change == "unfrozen")
                    if change == "unfrozen":
                        optimizer.add_param_group({"params": list(model[0].parameters())})
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                if not gradients_at_step:
                    instruments.gradients_ready()
                optimizer.step()
                instruments.record_step(step, loss.item(), 0.1)
        instruments.stop()
        return instruments, [str(w.message) for w in warned if issubclass(w.category, OptimlabWarning)]

    changed, told = run(8, changes=True)
    unchanged, _ = run(4, changes=False)
    assert told == [
        f"optimlab doctor: the parameters the optimizer trains changed at step 5 ({change}: 0.weight, "
        "0.bias); the diagnosis reads the 4 steps before, those of the parameters watched"
    ]
    assert changed.parameters_changed.step == 5
    assert changed.statistics.steps == unchanged.statistics.steps == [1, 2, 3, 4]
    assert changed.statistics.losses == unchanged.statistics.losses
    assert torch.equal(
        torch.stack(changed.statistics.grad_norms), torch.stack(unchanged.statistics.grad_norms)
    )
    assert changed._pending_norms is None  # step 5's gradients were not read


def _frozen_first(norm: bool) -> nn.Sequential:
    """A frozen Linear(64, 128), then (``norm``) a batch norm in training, a ReLU and a trained head."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, 128), *([nn.BatchNorm1d(128)] if norm else []), nn.ReLU(), nn.Linear(128, 10)
    )
    model[0].requires_grad_(False)
    return model


def test_a_batch_norm_after_a_frozen_first_layer_normalizes_the_data_it_reads():
    """Training only the batch norms and a head (Frankle et al. 2021, "Training BatchNorm and only
    BatchNorm") on 0..255 pixels: the batch norm takes the frozen layer's outputs to its batch's
    statistics, so the data's scale is no fault; without it the frozen layer passes the scale on."""
    x, y = pixels()
    found = {}
    for norm in (True, False):
        model = _frozen_first(norm)
        trained = [p for p in model.parameters() if p.requires_grad]
        diagnosis = diagnose(
            model,
            (x, y),
            nn.functional.cross_entropy,
            torch.optim.Adam(trained, 1e-2),
            steps=200,
            lr_find=False,
        )
        found[norm] = diagnosis
        assert diagnosis.statistics.input_reader == "0"
    statistics = found[True].statistics
    assert statistics.forward_order[:2] == ["0", "1"]
    assert sum(statistics.losses[-20:]) / 20 < 0.1  # it learns the pixels as they are (2.3 at chance)
    assert "input_scale" not in {f.rule for f in found[True].findings}
    assert "input_scale" in {f.rule for f in found[False].findings}


class _Scaled(nn.Module):
    """Scales 0..255 pixels to 0..1 in its forward, by a frozen parameter or a buffer of its own."""

    def __init__(self, frozen_parameter: bool):
        super().__init__()
        torch.manual_seed(0)
        scale = torch.tensor(1 / 255)
        if frozen_parameter:
            self.scale = nn.Parameter(scale, requires_grad=False)
        else:
            self.register_buffer("scale", scale)
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.scale)


@pytest.mark.parametrize("frozen_parameter", [True, False])
def test_a_model_holding_a_frozen_constant_is_read_after_its_forward_uses_it(frozen_parameter):
    """The data is what the first layer reads: the pixels over 255, whichever way the model keeps its
    constant; not the raw input the model itself is called with."""
    x, y = pixels()
    model = _Scaled(frozen_parameter)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    stats = manual_steps(model, optimizer, x, y, 2, Instruments(model, optimizer))
    assert stats.input_reader == "net.0"
    assert torch.allclose(stats.input_features.maximum, (x * (1 / 255)).amax(0), atol=1e-6)


def test_the_lr_a_scheduler_leads_to_is_read_when_the_record_stops():
    """scheduled_lr, the run's one number, is read at stop(): it is still the scheduler's, where the
    scheduler was made after start: LinearLR keeps the lr given, 0.02, as initial_lr (its base_lrs),
    though the groups' lr went on from 0.002."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02)
    instruments = Instruments(model, optimizer)
    instruments.start(0)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=10)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    for step in range(1, 6):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        instruments.record_step(step, loss.item(), lr)
    instruments.stop()
    assert instruments.statistics.scheduled_lr == scheduler.base_lrs[0] == 0.02
