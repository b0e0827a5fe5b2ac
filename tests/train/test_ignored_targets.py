"""A step whose batches hold no target the loss scores (every one CrossEntropyLoss's ignore_index):
torch's mean is 0/0, NaN, yet nothing diverged; it is skipped, counted, and makes no update."""

import json
import math

import pytest
import torch
from torch import nn

import optimlab
from optimlab.errors import InvalidValueError


def sparse_labels(n: int = 160, seed: int = 0):
    """float64 rows whose labels are -100 on about 90% of them: many batches of 8 hold only -100."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=generator, dtype=torch.float64)
    y = (x[:, 0] > 0).long()
    y[torch.rand(n, generator=generator) < 0.9] = -100
    return x, y


def network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)).double()


def batches_of(x, y, size):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def adam_steps(optimizer) -> set[float]:
    return {float(s["step"]) for s in optimizer.state.values()}


@pytest.mark.parametrize("accumulate", [1, 2])
def test_a_step_with_every_target_ignored_makes_no_update_as_if_its_batches_were_not_there(accumulate):
    """Truth: the same run on the same batches in the same order, those groups left out: the same
    weights and Adam step count, where before the first such step stopped the run as diverged."""
    x, y = sparse_labels()
    batches = batches_of(x, y, 8)
    groups = [batches[i : i + accumulate] for i in range(0, len(batches), accumulate)]
    scored = [g for g in groups if any(bool((t != -100).any()) for _, t in g)]
    assert 0 < len(scored) < len(groups)  # some steps have nothing to learn from, some have
    model = network()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    common = dict(loss_fn=nn.CrossEntropyLoss(), epochs=2, accumulate_grad_batches=accumulate)
    state = optimlab.fit(model, adam, x, y, batch_size=8, shuffle=False, **common)
    assert not state.diverged and state.stop_reason is None
    assert state.step == 2 * len(groups) and state.skipped_steps == 2 * (len(groups) - len(scored))
    want_model = network()
    want_adam = torch.optim.Adam(want_model.parameters(), lr=1e-2)
    optimlab.fit(want_model, want_adam, [b for g in scored for b in g], **common)
    assert adam_steps(adam) == adam_steps(want_adam) == {2.0 * len(scored)}
    for got, want in zip(model.parameters(), want_model.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_skipped_steps_keep_a_resumed_run_on_the_uninterrupted_runs_batches():
    """Truth: the uninterrupted run; a skipped step keeps its place in the batch stream and the
    schedule (StepLR stepped on it, as on float16's skipped overflow), so resuming after it loses none."""

    def run(stops):
        model = network()
        adam = torch.optim.Adam(model.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.StepLR(adam, step_size=3, gamma=0.5)
        state = None
        for stop in stops:
            state = optimlab.fit(
                model, adam, *sparse_labels(), loss_fn=nn.CrossEntropyLoss(), batch_size=8,
                total_steps=stop, state=state, scheduler=scheduler,
            )  # fmt: skip
        return [p.detach().clone() for p in model.parameters()], state, scheduler.get_last_lr()

    got, state, lr = run([7, 13, 30])
    want, whole, whole_lr = run([30])
    assert state.skipped_steps == whole.skipped_steps > 0 and state.step == whole.step == 30
    assert lr == whole_lr == [1e-2 * 0.5**10]
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_data_with_no_target_the_loss_scores_is_refused_in_one_line_not_trained_forever():
    x, y = sparse_labels()
    y[:] = -100
    model = network()
    with pytest.raises(InvalidValueError) as error:
        optimlab.fit(
            model, torch.optim.Adam(model.parameters()), x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=8,
            total_steps=10**9,
        )  # fmt: skip
    assert "\n" not in str(error.value) and "ignore_index -100" in str(error.value)
    assert error.value.field == "data"


def test_a_nan_in_a_batch_and_a_too_high_lr_still_diverge_among_skipped_steps():
    """The skip reads the targets only: a NaN loss of a batch that has targets to score is divergence."""
    x, y = sparse_labels()
    first = int((y != -100).nonzero()[0])
    x[first, 2] = math.nan
    model = network()
    state = optimlab.fit(
        model, torch.optim.Adam(model.parameters()), x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=8,
        shuffle=False, epochs=1,
    )  # fmt: skip
    assert state.diverged and state.step == first // 8 + 1 and "1 NaN value" in state.stop_reason
    x, y = sparse_labels()
    torch.manual_seed(0)
    model = nn.Linear(5, 2)  # float32, whose weights overflow at this lr within a few steps
    state = optimlab.fit(
        model, torch.optim.SGD(model.parameters(), lr=1e38), x.float(), y, loss_fn=nn.CrossEntropyLoss(),
        batch_size=8, epochs=5,
    )  # fmt: skip
    assert state.diverged and state.skipped_steps > 0 and "lower the learning rate" in state.stop_reason


def test_a_recipe_run_on_mostly_unlabelled_data_completes_and_says_how_many_steps_it_skipped(
    write_modules, tmp_path
):
    """`optimlab train`'s run on a data factory of (x, y) whose labels are 90% -100: it stopped as
    diverged at step 2; now it completes, its result's message (printed by the CLI) counts the skips,
    and its metrics.jsonl logs a loss at each step that had one, no NaN at a skipped one."""
    from optimlab.recipe import Recipe
    from optimlab.train import train

    write_modules(
        optimlab_sparse_labels="""
        import torch

        def load():
            g = torch.Generator().manual_seed(0)
            x = torch.randn(400, 5, generator=g)
            y = (x[:, 0] > 0).long()
            y[torch.rand(400, generator=g) < 0.9] = -100
            return x, y
        """
    )
    recipe = Recipe.from_dict(
        {"data": {"name": "optimlab_sparse_labels:load"}, "model": {"name": "mlp"},
         "training": {"epochs": 2, "batch_size": 8, "loss": "cross_entropy", "checkpoint_every": None}}
    )  # fmt: skip
    result = train(recipe, tmp_path / "run")
    assert result.status == "completed", result.message
    skipped, steps = map(int, result.message.split(" steps skipped")[0].split(" of "))
    assert steps == result.steps and 0 < skipped < steps
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [line["train_loss"] for line in lines if "train_loss" in line]
    assert len(losses) == steps - skipped and all(isinstance(v, float) and math.isfinite(v) for v in losses)
    assert "no target the loss scores" in result.message


class OwnLoss(nn.Module):
    """A model of dict batches that returns its own mean cross-entropy over labels not -100, as Hugging
    Face's do (its mean over no label: NaN)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(5, 2).double()

    def forward(self, x, **target):  # labels, or another of TARGET_KEYS
        ((_, labels),) = target.items()
        logits = self.lin(x)
        return {"logits": logits, "loss": nn.functional.cross_entropy(logits, labels)}


@pytest.mark.parametrize("accumulate, key", [(1, "labels"), (2, "labels"), (1, "label"), (2, "target")])
def test_a_models_own_loss_over_labels_all_minus_100_is_skipped_as_if_not_there(accumulate, key):
    """Truth as above: the same dict batches in the same order, the all -100 steps left out. The target
    is read under any of TARGET_KEYS, as the loss's own target is (under 'label', such a step was a
    divergence: its NaN loss stopped the run)."""
    x, y = sparse_labels()
    batches = [{"x": b, key: t} for b, t in batches_of(x, y, 8)]
    groups = [batches[i : i + accumulate] for i in range(0, len(batches), accumulate)]
    scored = [g for g in groups if any(bool((b[key] != -100).any()) for b in g)]
    assert 0 < len(scored) < len(groups)
    model, want_model = OwnLoss(), OwnLoss()
    adam, want_adam = (
        torch.optim.Adam(model.parameters(), 1e-2),
        torch.optim.Adam(want_model.parameters(), 1e-2),
    )
    state = optimlab.fit(model, adam, batches, epochs=2, accumulate_grad_batches=accumulate)
    optimlab.fit(
        want_model, want_adam, [b for g in scored for b in g], epochs=2, accumulate_grad_batches=accumulate
    )
    assert not state.diverged and state.skipped_steps == 2 * (len(groups) - len(scored))
    assert adam_steps(adam) == adam_steps(want_adam) == {2.0 * len(scored)}
    for got, want in zip(model.parameters(), want_model.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_the_doctors_callback_records_no_loss_for_a_skipped_step():
    """DoctorCallback beside fit took a skipped step's NaN for the loss turning non-finite (its NaN/Inf
    finding); it records the steps that had a loss, and the run has no non-finite origin."""
    from optimlab.doctor import DoctorCallback

    x, y = sparse_labels()
    model = network()
    adam = torch.optim.Adam(model.parameters(), lr=1e-2)
    doctor = DoctorCallback(model, adam)
    state = optimlab.fit(
        model, adam, x, y, loss_fn=nn.CrossEntropyLoss(), batch_size=8, epochs=1, callbacks=[doctor]
    )
    assert state.skipped_steps > 0 and doctor.statistics.non_finite is None
    assert len(doctor.statistics.steps) == state.step - state.skipped_steps
    assert all(math.isfinite(loss) for loss in doctor.statistics.losses)


def test_weights_an_update_left_not_finite_are_divergence_where_the_last_step_is_skipped():
    """The run's last check of its weights sat with the step that updates them: a run whose last step
    was skipped ended 'completed' with the infinite weights its previous update left."""
    torch.manual_seed(0)
    model = nn.Linear(5, 2)  # float32: lr 3e38 times gradients of about 5 overflows to inf in one step
    x = torch.full((8, 5), 10.0)
    batches = [(x, torch.zeros(8, dtype=torch.long)), (x, torch.full((8,), -100))]
    state = optimlab.fit(
        model, torch.optim.SGD(model.parameters(), lr=3e38), batches, loss_fn=nn.CrossEntropyLoss(),
        total_steps=2,
    )  # fmt: skip
    assert not all(bool(torch.isfinite(p).all()) for p in model.parameters())
    assert (
        state.skipped_steps == 1
        and state.diverged
        and "left weights that are not finite" in state.stop_reason
    )


def test_targets_are_read_before_each_step_only_where_some_target_is_left_out(monkeypatch):
    """The read costs ~6% of a small model's step: on a pair of tensors it happens only where some target
    is one the loss leaves out (its ignore_index, or a class of weight 0), counted by hand here."""
    import optimlab.train.loop as loop

    reads = []
    original = loop.batch_weighs

    def counted(batches):
        weighs = original(batches)
        return lambda batch: reads.append(1) or weighs(batch)

    monkeypatch.setattr(loop, "batch_weighs", counted)
    x, y = sparse_labels()
    clean = (x[:, 0] > 0).long()
    cases = [  # (targets, loss, read before each step)
        (clean, nn.CrossEntropyLoss(), False),
        (y, nn.CrossEntropyLoss(), True),
        (clean, nn.CrossEntropyLoss(weight=torch.tensor([1.0, 0.0], dtype=torch.float64)), True),
        (clean, nn.CrossEntropyLoss(reduction="sum"), False),
    ]
    for targets, loss, read in cases:
        reads.clear()
        model = network()
        optimlab.fit(model, torch.optim.SGD(model.parameters(), lr=0.1), x, targets, loss_fn=loss, batch_size=8,
                     total_steps=3)  # fmt: skip
        assert bool(reads) is read, (loss, read)


def test_the_doctor_skips_batches_with_every_target_ignored_as_fit_does():
    """diagnose's watched run and its LR range test stepped such a batch: its NaN loss (0/0) was reported
    as 'NaN/Inf at step 1' and stopped the sweep at its first lr ('only 0 finite losses'). Truth: the
    same model and data, labels all kept, give neither; here the doctor names no NaN and the sweep runs."""
    x, y = sparse_labels(800)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 2)).double()
    found = optimlab.diagnose(model, (x, y), nn.CrossEntropyLoss(), steps=40, batch_size=8)
    assert not [f.title for f in found.findings if "NaN" in f.title]
    assert found.lr_range.stopped_at is None or found.lr_range.stopped_at > 1e-3
    assert len(found.lr_range.losses) > 50 and all(math.isfinite(v) for v in found.lr_range.losses[:50])


class Tagger(nn.Module):
    """A tiny GRU tagger: token ids (N, T) to per-position class scores (N, T, 3), classes last."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.gru, self.head = nn.Embedding(7, 6), nn.GRU(6, 6, batch_first=True), nn.Linear(6, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(self.embed(tokens))[0])


def padded_tags(n: int = 24, length: int = 6, seed: int = 0):
    """Sequences of 1..length scored positions each, the rest -100; rows 8..15 with none scored."""
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 7, (n, length), generator=generator)
    tags = torch.randint(0, 3, (n, length), generator=generator)
    scored = torch.randint(1, length + 1, (n,), generator=generator)
    tags[torch.arange(length) >= scored[:, None]] = -100
    tags[8:16] = -100
    return tokens, tags


def test_a_per_position_cross_entropy_weighs_batches_by_their_scored_positions():
    """ClassesLast(CrossEntropyLoss()) over (N, T, C) scores averages over the positions not -100.
    cross_entropy_reading did not see through ClassesLast: fit's groups and evaluate_batches weighed each
    batch's mean by its rows (val_loss 1.0981 for 1.0994 here), and a batch of -100 only was read as a
    divergence ('the loss was nan at step 1'). Truth: torch's CrossEntropyLoss(reduction='sum') over
    the scored positions / their count, and a hand-written SGD loop that steps on that mean of each
    group of two batches, a group of -100 only skipped."""
    from torch.utils.data import DataLoader, TensorDataset

    from optimlab.techniques.losses import ClassesLast

    tokens, tags = padded_tags()
    model = Tagger().double()
    common = dict(loss_fn=ClassesLast(nn.CrossEntropyLoss()), batch_size=4, shuffle=False)
    val = DataLoader(TensorDataset(tokens, tags), batch_size=5)  # unequal scored counts; rows 10..14 none
    sgd = torch.optim.SGD(model.parameters(), lr=0.5)
    state = optimlab.fit(
        model, sgd, tokens, tags, epochs=2, accumulate_grad_batches=2, val_data=val, **common
    )
    assert not state.diverged and state.skipped_steps == 2  # rows 8..15, a group, in each epoch

    want = Tagger().double()
    want_sgd = torch.optim.SGD(want.parameters(), lr=0.5)
    summed = nn.CrossEntropyLoss(reduction="sum")
    for _ in range(2):
        for start in range(0, len(tokens), 8):
            x, y = tokens[start : start + 8], tags[start : start + 8]
            count = int((y != -100).sum())
            if not count:
                continue
            want_sgd.zero_grad()
            (summed(want(x).flatten(0, 1), y.flatten()) / count).backward()
            want_sgd.step()
    for got, expected in zip(model.parameters(), want.parameters()):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        scores, scored = want.eval()(tokens), tags != -100
        loss = summed(scores.flatten(0, 1), tags.flatten()) / scored.sum()
        accuracy = int(((scores.argmax(-1) == tags) & scored).sum()) / int(scored.sum())
    assert state.last_metrics["val_loss"] == pytest.approx(float(loss), rel=1e-12)
    assert state.last_metrics["val_accuracy"] == pytest.approx(float(accuracy), rel=1e-12)


@pytest.mark.parametrize("per_position", [False, True])
def test_a_recipe_runs_evaluation_averages_over_the_scored_targets_across_its_batches(
    monkeypatch, per_position
):
    """optimlab.train.evaluate (a recipe run's val and test splits, in batches of EVAL_BATCH rows) weighed
    each batch's cross-entropy by its rows, not by its targets not ignored, and a batch of -100 only
    made the split's loss NaN. Truth: torch's CrossEntropyLoss over the whole split in one call (its
    mean over the targets not ignored); its accuracy over the same targets."""
    import optimlab.train.run as run
    from optimlab.techniques.losses import ClassesLast

    monkeypatch.setattr(run, "EVAL_BATCH", 8)  # batches of 8 rows: rows 8..15 hold only -100
    if per_position:
        x, y = padded_tags()
        model, loss_fn = Tagger().double(), ClassesLast(nn.CrossEntropyLoss())
    else:
        x, y = sparse_labels(n=24)
        y[8:16] = -100
        model, loss_fn = network(), nn.CrossEntropyLoss()
    found = run.evaluate(model, loss_fn, x, y, task="classification", prefix="val")
    with torch.no_grad():
        scores, scored = model(x), y != -100
        truth = loss_fn(scores, y)
    correct = int(((scores.argmax(-1) == y) & scored).sum())
    assert found["val_loss"] == pytest.approx(float(truth), rel=1e-12)
    assert found["val_accuracy"] == pytest.approx(correct / int(scored.sum()), rel=1e-12)


def test_stacked_members_each_average_over_their_own_scored_targets(monkeypatch):
    """The batched backend's evaluation (evaluate_members over K stacked models, each its own split)
    weighed each batch's cross-entropy by its rows, and a batch of -100 only made a member's loss NaN.
    Truth: torch's CrossEntropyLoss of each member over its whole split in one call."""
    import optimlab.train.run as run
    from optimlab.models.stacked import stacked_loss

    monkeypatch.setattr(run, "EVAL_BATCH", 8)
    x, y = sparse_labels(n=24)
    labels = torch.stack([y, y.clone()])
    labels[0, 8:16] = -100  # member 0: its second batch scores nothing; member 1: every row scored
    labels[1, ::5] = -100
    models = [
        network(),
        network().apply(lambda m: nn.init.normal_(m.weight) if isinstance(m, nn.Linear) else None),
    ]
    loss_fn = nn.CrossEntropyLoss()
    found = run.evaluate_members(
        lambda xb: torch.stack([m(xb[k]) for k, m in enumerate(models)]),
        stacked_loss(loss_fn, shared_targets=False),
        torch.stack([x, x]),
        labels,
        members=2,
        task="classification",
        prefix="val",
        shared=False,
        loss_fn=loss_fn,
    )
    with torch.no_grad():
        truth = [float(loss_fn(m(x), labels[k])) for k, m in enumerate(models)]
    assert [f["val_loss"] for f in found] == pytest.approx(truth, rel=1e-12)


@pytest.mark.parametrize(
    "loss",
    [
        nn.CrossEntropyLoss(),
        nn.CrossEntropyLoss(ignore_index=3),
        nn.CrossEntropyLoss(weight=torch.tensor([0.0, 1.0, 1.0, 1.0])),
        nn.CrossEntropyLoss(reduction="sum"),
        nn.NLLLoss(),
        None,  # the model's own loss: a dict batch's labels, -100 ignored
    ],
    ids=["ce", "ce-ignore-3", "ce-weighted", "ce-sum", "nll", "own"],
)
def test_the_read_of_whether_a_batch_weighs_anything_is_the_weights_and_the_losses_own(loss):
    """fit asks each single batch only whether it weighs anything (batch_weighs, the fast read of a
    DataLoader's step). Truth: bool(batch_weight), and torch's own loss of class ids (the model's own:
    cross_entropy, -100 ignored) NaN exactly where the batch weighs nothing: a mean's 0/0, a sum's 0.0
    where all are ignored weighing; for targets all scored, some, none (-100 or the ignore_index), of a
    weight-0 class only, class probabilities, and no rows."""
    from optimlab.data.user_batches import UserBatches
    from optimlab.train.evaluation import batch_weighs, batch_weight

    ignored = -100 if loss is None else loss.ignore_index
    targets = [
        torch.tensor([0, 1, 2, 3]),
        torch.tensor([ignored, 1, ignored, ignored]),
        torch.full((4,), ignored),
        torch.tensor([0, 0, ignored, 0]),
        torch.empty(0, dtype=torch.long),
        *([torch.softmax(torch.randn(4, 4), 1)] if loss is not None else []),
    ]
    batches = UserBatches([(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))], loss_fn=loss)
    weighs = batch_weighs(batches)
    for target in targets:
        scores = torch.randn(len(target), 4)
        batch = {"x": scores, "labels": target} if loss is None else (scores, target)
        truth = bool(batch_weight(batches, batch))
        assert weighs(batch) is truth, target
        if len(target) and not target.is_floating_point():
            inputs = scores.log_softmax(1) if isinstance(loss, nn.NLLLoss) else scores
            torch_loss = float((loss or nn.functional.cross_entropy)(inputs, target))
            assert math.isnan(torch_loss) is not truth, target
